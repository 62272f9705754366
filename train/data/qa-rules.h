// qa-rules.h: the built-in question generator. Deterministic, no model: questions are
// made from the pool's text blocks of a segment, so their answers are right by
// construction and their evidence (the quoted text and its page) can be checked.
//
// extract-single, one of:
//   cloze    "In the section 'X', a sentence begins "HEAD". How does it continue?"
//   caption  "What does the caption of Figure 3 say, on pages 4-12?"
//   heading  "On pages 4-12, which section heading appears on page 7?"
// extract-multi, one of:
//   headings     the section headings of the segment, in order (2-8 of them)
//   captions     its figure and table captions, in order (2-8)
//   cloze-multi  two or three sentences from different pages to complete
// reasoning, one of:
//   sum, difference, larger   over the one number each of two sentences states
//   order                     which of two headings comes first
// ocr-full: the text of every page the instance shows, page by page;
// ocr-needle: the text of 1-3 chosen pages among all the others.
// A quoted sentence head is unique in the document, so a question has one answer.
#pragma once

#include "pool.h"
#include "segment.h"

#include <stdbool.h>
#include <stdint.h>

enum synth_task { TASK_EXTRACT_SINGLE, TASK_EXTRACT_MULTI, TASK_REASONING, TASK_OCR_FULL, TASK_OCR_NEEDLE, TASK_COUNT };

const char *synth_task_name(enum synth_task t);   // "extract-single", ...
enum synth_task synth_task_parse(const char *name);   // TASK_COUNT for none

struct evidence {
    int   page;    // document page, 0-based
    char *text;    // text found on that page (whitespace as single spaces)
};

struct qa {
    char *question, *answer;
    const char *rule;   // "cloze", "sum", ... (static)
    struct evidence *ev;
    int n_ev, cap_ev;
};
void qa_free(struct qa *q);
void qa_add_evidence(struct qa *q, int page, const char *text);

// What the rules need of a document, prepared once: its sentences by page, and its text
// on one line (to check that a quoted head is unique).
struct doc_facts;
struct doc_facts *doc_facts_make(const struct pool_doc *d);
void doc_facts_free(struct doc_facts *f);

// The text of page p as transcribed: its blocks in reading order, one per line.
char *page_transcript(const struct pool_doc *d, int p);

// A question of `task` on segment s of d (the instance shows pages from window_first,
// numbered from 1 there), using anchor; for ocr-full the pages [s->first, s->last]; for
// ocr-needle the n_needles pages needles[]. false when the segment has nothing the task
// can use (the caller draws another).
bool qa_rules(const struct pool_doc *d, const struct doc_facts *f, enum synth_task task, const struct segment *s,
              int window_first, const char *anchor, const int *needles, int n_needles, uint64_t *rng, struct qa *out);
