// qa-model.h: the model question generator. A Qwen2.5-VL GGUF and its projector, run by
// our own runtime (qwen25vl-ask.h), are shown the segment's pages, rendered, and asked
// for one question of the task, its answer and the pages it comes from, in a fixed form:
//
//     Question: What accuracy does the larger model reach?
//     Answer: 91.2%
//     Pages: 14, 15
//
// The reply is refused (and another document drawn) when a line is missing or empty,
// too long, the question names a page number (the instance numbers its pages
// differently), or the pages are not among those shown, or too few for the task
// (extract-multi needs two). The question is put after the segment's anchor ("In the
// section 'Results', what accuracy ...?"), so the anchor is explicit whatever the model
// wrote. An evidence entry per cited page holds the answer when the page's text has it
// word for word, and is empty otherwise (a computed answer, or text in a picture).
//
// OCR-full and OCR-needle are transcriptions of the pages' text layer: the rules make
// them (qa-rules.h), not the model.
//
// A model whose first 64 replies are all refused does not follow the form (a base
// model, say): the run stops and says so.
//
// Greedy decoding makes the generator a function of the model and the request; one
// reply serves both of synth's window passes (same document, segment, task and draw).
#pragma once

#include "synth.h"

#include <stdbool.h>
#include <stdint.h>

struct tl_vk_backend;

struct qa_model_params {
    const char *model, *mmproj;   // GGUF files
    float dpi;                    // pages are rendered at this for the model
    int max_pages;                // most pages shown: the segment's first ones
    int n_predict;                // most reply tokens
    float temperature;            // 0: greedy; else drawn with a seed from the request
    int n_threads;                // 0: all cores
    struct tl_vk_backend *vk;     // NULL: the CPU
    const char *log_path;         // NULL, or a JSONL file of every prompt and reply
};

struct qa_model;

struct qa_model *qa_model_open(const struct qa_model_params *p, char *err, size_t errlen);
// Prints how many replies were asked for, taken and refused, by reason, and closes.
void qa_model_close(struct qa_model *g, bool quiet);
// The generator ("model") that asks g.
struct qa_generator qa_model_generator(struct qa_model *g);

// A reply's fields; pages are the document's, 1-based, as the prompt numbers them.
enum { QA_REPLY_MAX_PAGES = 16 };
struct qa_reply {
    char *question, *answer;
    int pages[QA_REPLY_MAX_PAGES];
    int n_pages;
};
// Parses and checks a reply for task shown pages [first, last] (1-based). NULL when it
// is usable, else why not (a static string).
const char *qa_reply_parse(const char *text, enum synth_task task, int first, int last, struct qa_reply *r);
void qa_reply_free(struct qa_reply *r);

// The prompt for task over document pages [first, last] (1-based), malloc'd.
char *qa_model_prompt(enum synth_task task, int first, int last);

// "In the section 'X', what ...?" from the anchor and the model's question: a capital
// that only started the sentence goes ("What", "A"; not "IBM", "I"). malloc'd.
char *qa_anchored_question(const char *anchor, const char *question);
