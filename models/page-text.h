// page-text.h: what a PDF page says, as MuPDF's structured text sees it: text blocks
// (MuPDF's grouping of lines into paragraphs) with their box, their characters' size and
// weight, and their text; and the document's outline (bookmarks), when it has one.
// The document pool (train/data/) classifies the blocks and finds sections from them.
#pragma once

#include "page-source.h"

#include <stdbool.h>
#include <stddef.h>

struct page_text_block {
    float x0, y0, x1, y1;   // box in points from the page's top left
    float font_size;        // the mean size of its characters (points)
    float max_size;         // its largest character
    float bold;             // the fraction of its characters set in a bold font
    int   n_lines, n_chars;
    int   n_digits;         // characters that are digits (tables are full of them)
    int   n_small;          // characters under 85% of their line's largest: sub- and
                            // superscripts, footnote marks (text order garbles them)
    char *text;             // UTF-8, lines joined by '\n'
};

struct page_text {
    float width, height;    // the page in points
    struct page_text_block *blocks;
    int   n_blocks;
    int   n_images;         // image blocks (figures, scans)
};

// The text blocks of page `page` (0-based), in MuPDF's reading order; false with a message.
bool pdf_document_page_text(struct pdf_document *d, int page, struct page_text *out, char *err, size_t errlen);
void page_text_free(struct page_text *t);

struct outline_entry {
    char *title;   // UTF-8
    int   page;    // 0-based; -1: no page in this document
    int   level;   // 0 for the top level
};

// The outline flattened in order (*n entries, none when the document has no outline);
// false with a message when MuPDF cannot read it.
bool pdf_document_outline(struct pdf_document *d, struct outline_entry **out, int *n, char *err, size_t errlen);
void outline_free(struct outline_entry *e, int n);
