// PDF text blocks and outlines through MuPDF's structured text (page-text.h). As in
// page-source.c, every call that can throw is inside fz_try.
#include "page-text.h"
#include "page-source-impl.h"

#include "tl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A growing UTF-8 string.
struct text_buf {
    char *s;
    size_t n, cap;
};

static void put_bytes(struct text_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        if (!(b->s = realloc(b->s, b->cap))) abort();
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void put_rune(struct text_buf *b, int c) {
    char u[8];
    int n = fz_runetochar(u, c);
    put_bytes(b, u, (size_t)n);
}

static bool font_is_bold(fz_context *ctx, fz_font *font) {
    if (!font) return false;
    if (fz_font_is_bold(ctx, font)) return true;
    const char *name = fz_font_name(ctx, font);
    return name && (strstr(name, "Bold") || strstr(name, "bold") || strstr(name, "Black") || strstr(name, "Heavy"));
}

// One text block's numbers and text.
static void read_block(fz_context *ctx, const fz_stext_block *b, struct page_text_block *out) {
    struct text_buf buf = { 0 };
    double size_sum = 0;
    int bold = 0;
    *out = (struct page_text_block){ .x0 = b->bbox.x0, .y0 = b->bbox.y0, .x1 = b->bbox.x1, .y1 = b->bbox.y1 };
    for (const fz_stext_line *l = b->u.t.first_line; l; l = l->next) {
        if (out->n_lines++) put_bytes(&buf, "\n", 1);
        float line_max = 0;
        for (const fz_stext_char *c = l->first_char; c; c = c->next)
            if (c->size > line_max) line_max = c->size;
        for (const fz_stext_char *c = l->first_char; c; c = c->next) {
            put_rune(&buf, c->c);
            out->n_small += c->c != ' ' && c->size < 0.85f * line_max;
            out->n_chars++;
            out->n_digits += c->c >= '0' && c->c <= '9';
            size_sum += c->size;
            if (c->size > out->max_size) out->max_size = c->size;
            bold += font_is_bold(ctx, c->font);
        }
    }
    out->font_size = out->n_chars ? (float)(size_sum / out->n_chars) : 0;
    out->bold = out->n_chars ? (float)bold / out->n_chars : 0;
    out->text = buf.s ? buf.s : calloc(1, 1);
}

bool pdf_document_page_text(struct pdf_document *d, int page, struct page_text *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    fz_context *ctx = d->ctx;
    fz_page *p = pdf_document_load_page(d, page, err, errlen);
    if (!p) return false;
    fz_stext_page *st = NULL;
    bool ok = true;
    fz_var(st);
    fz_var(ok);
    fz_try(ctx) {
        fz_rect box = fz_bound_page(ctx, p);
        out->width = box.x1 - box.x0;
        out->height = box.y1 - box.y0;
        // no FZ_STEXT_DEHYPHENATE: MuPDF 1.19 leaks the font reference of each hyphen it removes
        fz_stext_options opts = { .flags = FZ_STEXT_MEDIABOX_CLIP };
        st = fz_new_stext_page_from_page(ctx, p, &opts);
    }
    fz_catch(ctx) {
        tl_errorf(err, errlen, "%s: cannot read the text of page %d: %s", d->path, page + 1, fz_caught_message(ctx));
        ok = false;
    }
    if (ok) {
        int n = 0;
        for (fz_stext_block *b = st->first_block; b; b = b->next) n += b->type == FZ_STEXT_BLOCK_TEXT;
        out->blocks = calloc(n ? n : 1, sizeof *out->blocks);
        if (!out->blocks) abort();
        for (fz_stext_block *b = st->first_block; b; b = b->next) {
            if (b->type != FZ_STEXT_BLOCK_TEXT) {
                out->n_images++;
                continue;
            }
            read_block(ctx, b, &out->blocks[out->n_blocks]);
            if (out->blocks[out->n_blocks].n_chars) out->n_blocks++;
            else free(out->blocks[out->n_blocks].text);
        }
    }
    fz_drop_stext_page(ctx, st);
    fz_drop_page(ctx, p);
    return ok;
}

void page_text_free(struct page_text *t) {
    for (int i = 0; i < t->n_blocks; i++) free(t->blocks[i].text);
    free(t->blocks);
    memset(t, 0, sizeof *t);
}

struct outline_list {
    struct outline_entry *v;
    int n, cap;
};

static void flatten(fz_context *ctx, fz_document *doc, const fz_outline *o, int level, struct outline_list *l) {
    for (; o; o = o->next) {
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            if (!(l->v = realloc(l->v, l->cap * sizeof *l->v))) abort();
        }
        int page = o->page.page >= 0 ? fz_page_number_from_location(ctx, doc, o->page) : -1;
        l->v[l->n++] = (struct outline_entry){ .title = strdup(o->title ? o->title : ""), .page = page, .level = level };
        if (!l->v[l->n - 1].title) abort();
        flatten(ctx, doc, o->down, level + 1, l);
    }
}

bool pdf_document_outline(struct pdf_document *d, struct outline_entry **out, int *n, char *err, size_t errlen) {
    fz_context *ctx = d->ctx;
    fz_outline *o = NULL;
    struct outline_list l = { 0 };
    bool ok = true;
    fz_var(o);
    fz_var(l);
    fz_var(ok);
    fz_try(ctx) {
        o = fz_load_outline(ctx, d->doc);
        flatten(ctx, d->doc, o, 0, &l);
    }
    fz_catch(ctx) {
        tl_errorf(err, errlen, "%s: cannot read the outline: %s", d->path, fz_caught_message(ctx));
        ok = false;
    }
    fz_drop_outline(ctx, o);
    if (!ok) {
        outline_free(l.v, l.n);
        return false;
    }
    *out = l.v;
    *n = l.n;
    return true;
}

void outline_free(struct outline_entry *e, int n) {
    for (int i = 0; i < n; i++) free(e[i].title);
    free(e);
}
