// Block kinds and sections from text blocks (layout.h).
#include "layout.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[BLOCK_KIND_COUNT] = { "paragraph", "title", "heading", "table", "caption" };

const char *block_kind_name(enum block_kind k) { return k < BLOCK_KIND_COUNT ? kind_names[k] : "?"; }

enum block_kind block_kind_parse(const char *name) {
    int k = 0;
    while (k < BLOCK_KIND_COUNT && strcmp(kind_names[k], name)) k++;
    return (enum block_kind)k;
}

float layout_body_size(const struct page_text *pages, int n_pages) {
    enum { BINS = 200 };   // half-point bins up to 100 pt
    double chars[BINS] = { 0 };
    for (int p = 0; p < n_pages; p++)
        for (int i = 0; i < pages[p].n_blocks; i++) {
            int bin = (int)lroundf(pages[p].blocks[i].font_size * 2);
            if (bin > 0 && bin < BINS) chars[bin] += pages[p].blocks[i].n_chars;
        }
    int best = 0;
    for (int b = 1; b < BINS; b++)
        if (chars[b] > chars[best]) best = b;
    return best / 2.0f;
}

static bool is_caption(const char *t) {
    const char *words[] = { "Figure ", "Fig. ", "Table ", "FIGURE ", "TABLE " };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i]);
        if (!strncmp(t, words[i], n) && isdigit((unsigned char)t[n])) return true;
    }
    return false;
}

enum block_kind layout_classify(const struct page_text_block *b, int page, float body_size, float page_max_size) {
    if (is_caption(b->text)) return BLOCK_CAPTION;
    if (body_size <= 0) return BLOCK_PARAGRAPH;
    if (page == 0 && b->font_size >= 1.5f * body_size && b->max_size >= page_max_size) return BLOCK_TITLE;
    size_t len = strlen(b->text);
    bool short_block = b->n_lines <= 2 && b->n_chars <= 120;
    bool ends_sentence = len && b->text[len - 1] == '.';
    if (short_block && (b->font_size >= 1.15f * body_size ||
                        (b->bold >= 0.9f && b->font_size >= body_size - 0.25f && !ends_sentence)))
        return BLOCK_HEADING;
    if (b->n_lines >= 3 && b->n_chars < 40 * b->n_lines && b->n_digits * 5 >= b->n_chars) return BLOCK_TABLE;
    return BLOCK_PARAGRAPH;
}

struct section_list {
    struct section *v;
    int n, cap;
};

static void add_section(struct section_list *l, const char *title, int page, int level) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        if (!(l->v = realloc(l->v, l->cap * sizeof *l->v))) abort();
    }
    char *t = strdup(title);
    if (!t) abort();
    for (char *c = t; *c; c++)
        if (*c == '\n') *c = ' ';   // a heading set on two lines
    l->v[l->n++] = (struct section){ .title = t, .first_page = page, .level = level };
}

void layout_sections(const struct page_text *pages, enum block_kind *const *kinds, int n_pages,
                     const struct outline_entry *outline, int n_outline, struct section **out, int *n) {
    struct section_list l = { 0 };
    for (int i = 0; i < n_outline; i++)
        if (outline[i].page >= 0 && outline[i].page < n_pages && (l.n == 0 || outline[i].page >= l.v[l.n - 1].first_page))
            add_section(&l, outline[i].title, outline[i].page, outline[i].level);
    if (l.n == 0)
        for (int p = 0; p < n_pages; p++)
            for (int i = 0; i < pages[p].n_blocks; i++)
                if (kinds[p][i] == BLOCK_HEADING || kinds[p][i] == BLOCK_TITLE)
                    add_section(&l, pages[p].blocks[i].text, p, kinds[p][i] == BLOCK_TITLE ? 0 : 1);
    for (int i = 0; i < l.n; i++) {
        int next = i + 1 < l.n ? l.v[i + 1].first_page : n_pages;
        l.v[i].last_page = next > l.v[i].first_page ? next - 1 : l.v[i].first_page;
    }
    *out = l.v;
    *n = l.n;
}

void sections_free(struct section *s, int n) {
    for (int i = 0; i < n; i++) free(s[i].title);
    free(s);
}
