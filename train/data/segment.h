// segment.h: where a question's evidence comes from and what the instance shows.
//
// A segment is a coherent run of 8-15 pages (the recipe's): one section whose extent
// (to the next section of its level or above) has that many pages, a run of consecutive
// sections, or, when the sections give none (or one time in three), a run of pages.
// Its anchor names it in the question: "in the section 'Results'", "in the sections from
// 'Methods' to 'Results'", "on pages 20-25".
//
// The window is the part of the document the instance shows, pages in order: the whole
// document when it fits the token budget, else as many pages around the segment as fit,
// placed at random so that the evidence is not always in the middle. Pages in anchors
// and questions are counted in the window, from 1, as the model sees them.
#pragma once

#include "pool.h"

#include <stdint.h>

struct segment {
    int first, last;       // document pages, 0-based, inclusive
    int sec_first, sec_last;   // the sections it is made of; -1: a run of pages
};

// A segment of min_pages..max_pages pages (fewer when the document has fewer).
void segment_pick(const struct pool_doc *d, int min_pages, int max_pages, uint64_t *rng, struct segment *s);

// The window [*first, *last] holding the segment whose pages cost at most budget tokens
// (page_cost[p] each); false when the segment alone costs more.
bool window_pick(const struct pool_doc *d, const int64_t *page_cost, const struct segment *s, int64_t budget,
                 uint64_t *rng, int *first, int *last);

// The segment cut to its first pages that cost at most budget (at least one page, as a
// run of pages).
void segment_fit(const int64_t *page_cost, int64_t budget, struct segment *s);

// The first block of the segment: a section's first page may end the section before, so
// a segment of sections starts at the heading block that spells its first section's
// title (ignoring case and spacing), or at its first page's start when none does.
int segment_first_block(const struct pool_doc *d, const struct segment *s);

// The anchor phrase, e.g. "in the section 'Results'" or "on pages 3-12" (window pages).
void segment_anchor(const struct pool_doc *d, const struct segment *s, int window_first, char *out, size_t n);

// Whether a section title can stand in a question: 3-80 bytes, some letters, no quote
// marks or line breaks.
bool section_title_usable(const char *title);
