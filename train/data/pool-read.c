// Reading the document pool (pool.h): its documents, and one document's pages, blocks and
// sections, for synthesis.
#include "pool-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_text(const unsigned char *t) {
    char *s = strdup(t ? (const char *)t : "");
    if (!s) abort();
    return s;
}

// Room for one more element in *v (of n, capacity *cap, each size bytes).
static void *grow(void *v, int n, int *cap, size_t size) {
    if (n < *cap) return v;
    *cap = *cap ? 2 * *cap : 64;
    if (!(v = realloc(v, (size_t)*cap * size))) abort();
    return v;
}

// Steps st to its end, calling row(st, user) on each row; finalizes st.
static bool each_row(struct pool *p, sqlite3_stmt *st, void (*row)(sqlite3_stmt *, void *), void *user, char *err,
                     size_t errlen) {
    if (!st) return false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st, user);
    bool ok = pool_sql_ok(p, rc, sqlite3_sql(st), err, errlen);
    sqlite3_finalize(st);
    return ok;
}

bool pool_settings(struct pool *p, char *out, size_t n, char *err, size_t errlen) {
    sqlite3_stmt *st = pool_prepare(p, "SELECT value FROM settings WHERE key = 'picture'", err, errlen, "");
    if (!st) return false;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (pool_sql_ok(p, rc, "reading the settings", err, errlen)) snprintf(err, errlen, "the pool has no settings: it is empty");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW;
}

struct info_list {
    struct pool_doc_info *v;
    int n, cap;
};

static void info_row(sqlite3_stmt *st, void *user) {
    struct info_list *l = user;
    l->v = grow(l->v, l->n, &l->cap, sizeof *l->v);
    struct pool_doc_info *d = &l->v[l->n++];
    snprintf(d->sha256, sizeof d->sha256, "%s", (const char *)sqlite3_column_text(st, 0));
    d->n_pages = sqlite3_column_int(st, 1);
    d->tokens = sqlite3_column_int64(st, 2);
}

bool pool_documents(struct pool *p, struct pool_doc_info **out, int *n, char *err, size_t errlen) {
    struct info_list l = { 0 };
    bool ok = each_row(p,
                       pool_prepare(p,
                                    "SELECT d.sha256, d.n_pages, SUM(g.tokens) FROM documents d JOIN pages g ON "
                                    "g.sha256 = d.sha256 WHERE d.status = 'accepted' GROUP BY d.sha256 ORDER BY d.sha256",
                                    err, errlen, ""),
                       info_row, &l, err, errlen);
    if (!ok) free(l.v), l.v = NULL, l.n = 0;
    *out = l.v;
    *n = l.n;
    return ok;
}

struct doc_reader {
    struct pool_doc *d;
    int cap;
    bool bad;   // a row that does not fit the document (an index edited by hand)
};

static void page_row(sqlite3_stmt *st, void *user) {
    struct doc_reader *r = user;
    int page = sqlite3_column_int(st, 0);
    if (page < 0 || page >= r->d->n_pages) r->bad = true;
    else r->d->page_tokens[page] = sqlite3_column_int64(st, 1);
}

static void block_row(sqlite3_stmt *st, void *user) {
    struct doc_reader *r = user;
    struct pool_doc *d = r->d;
    d->blocks = grow(d->blocks, d->n_blocks, &r->cap, sizeof *d->blocks);
    struct pool_block *b = &d->blocks[d->n_blocks++];
    b->page = sqlite3_column_int(st, 0);
    b->kind = block_kind_parse((const char *)sqlite3_column_text(st, 1));
    b->text = dup_text(sqlite3_column_text(st, 2));
    b->small_chars = sqlite3_column_int(st, 3);
    if (b->page < 0 || b->page >= d->n_pages || b->kind == BLOCK_KIND_COUNT) r->bad = true;
}

static void section_row(sqlite3_stmt *st, void *user) {
    struct doc_reader *r = user;
    struct pool_doc *d = r->d;
    d->sections = grow(d->sections, d->n_sections, &r->cap, sizeof *d->sections);
    struct section *s = &d->sections[d->n_sections++];
    s->title = dup_text(sqlite3_column_text(st, 0));
    s->first_page = sqlite3_column_int(st, 1);
    s->last_page = sqlite3_column_int(st, 2);
    s->level = sqlite3_column_int(st, 3);
    if (s->first_page < 0 || s->last_page < s->first_page || s->last_page >= d->n_pages) r->bad = true;
}

bool pool_document(struct pool *p, const char *sha256, struct pool_doc *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    sqlite3_stmt *st = pool_prepare(p, "SELECT path, n_pages FROM documents WHERE sha256 = ? AND status = 'accepted'",
                                    err, errlen, "t", sha256);
    if (!st) return false;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        d->path = pool_path(p, (const char *)sqlite3_column_text(st, 0));
        d->n_pages = sqlite3_column_int(st, 1);
    } else if (pool_sql_ok(p, rc, "reading a document", err, errlen)) {
        snprintf(err, errlen, "the pool has no accepted document %s", sha256);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return false;
    snprintf(d->sha256, sizeof d->sha256, "%s", sha256);
    if (d->n_pages < 1 || !(d->page_tokens = calloc(d->n_pages, sizeof *d->page_tokens)) ||
        !(d->page_blocks = calloc(d->n_pages + 1, sizeof *d->page_blocks))) {
        snprintf(err, errlen, "pool index: document %s has %d pages", sha256, d->n_pages);
        pool_doc_free(d);
        return false;
    }
    struct doc_reader r = { .d = d };
    bool ok = each_row(p, pool_prepare(p, "SELECT page, tokens FROM pages WHERE sha256 = ?", err, errlen, "t", sha256),
                       page_row, &r, err, errlen);
    r.cap = 0;
    ok = ok && each_row(p,
                        pool_prepare(p, "SELECT page, kind, text, small_chars FROM blocks WHERE sha256 = ? ORDER BY page, idx",
                                     err, errlen, "t", sha256),
                        block_row, &r, err, errlen);
    r.cap = 0;
    ok = ok && each_row(p,
                        pool_prepare(p,
                                     "SELECT title, first_page, last_page, level FROM sections WHERE sha256 = ? ORDER BY "
                                     "idx",
                                     err, errlen, "t", sha256),
                        section_row, &r, err, errlen);
    for (int i = 0; ok && i < d->n_pages; i++) {
        d->tokens += d->page_tokens[i];
        r.bad = r.bad || d->page_tokens[i] < 3;   // every page was recorded with its size
    }
    if (ok && r.bad) {
        snprintf(err, errlen, "pool index: document %s has pages, blocks or sections that do not fit it", sha256);
        ok = false;
    }
    for (int b = 0; ok && b < d->n_blocks; b++) d->page_blocks[d->blocks[b].page + 1] = b + 1;
    for (int i = 1; ok && i <= d->n_pages; i++)
        if (d->page_blocks[i] < d->page_blocks[i - 1]) d->page_blocks[i] = d->page_blocks[i - 1];
    if (!ok) pool_doc_free(d);
    return ok;
}

void pool_doc_free(struct pool_doc *d) {
    free(d->path);
    free(d->page_tokens);
    for (int b = 0; b < d->n_blocks; b++) free(d->blocks[b].text);
    free(d->blocks);
    free(d->page_blocks);
    sections_free(d->sections, d->n_sections);
    memset(d, 0, sizeof *d);
}
