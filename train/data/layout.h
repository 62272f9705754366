// layout.h: the kinds of a document's text blocks, and its sections.
//
// Rules, from the blocks' numbers alone (no model), relative to the document's body
// size (the font size that most characters have):
//   caption: starts with "Figure N", "Fig. N" or "Table N";
//   title:   on the first page, the largest text, at least 1.5x the body size;
//   heading: one or two lines of at most 120 characters, at least 1.15x the body size,
//            or (nearly) all bold at body size or more and not ending in a period;
//   table:   three or more lines, most of them short, and at least 20% digits;
//   paragraph: everything else.
// Sections come from the PDF's outline when it has one with pages, else from the
// headings; each runs from its first page to the page before the next one.
#pragma once

#include "page-text.h"

enum block_kind { BLOCK_PARAGRAPH, BLOCK_TITLE, BLOCK_HEADING, BLOCK_TABLE, BLOCK_CAPTION, BLOCK_KIND_COUNT };

const char *block_kind_name(enum block_kind k);
// The kind a name spells (block_kind_name's inverse); BLOCK_KIND_COUNT for none.
enum block_kind block_kind_parse(const char *name);

// The font size most characters of the pages have (0 when they have none).
float layout_body_size(const struct page_text *pages, int n_pages);

enum block_kind layout_classify(const struct page_text_block *b, int page, float body_size, float page_max_size);

struct section {
    char *title;
    int first_page, last_page;   // 0-based, inclusive
    int level;
};

// The sections of a document of n_pages pages: from the outline (n_outline entries with
// a page) or, without one, from heading and title blocks (kinds[p][i] for pages[p]).
// *out is malloc'd; free with sections_free.
void layout_sections(const struct page_text *pages, enum block_kind *const *kinds, int n_pages,
                     const struct outline_entry *outline, int n_outline, struct section **out, int *n);
void sections_free(struct section *s, int n);
