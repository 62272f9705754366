// The document pool's index (pool.h).
#include "pool-impl.h"

#include "chat-template.h"
#include "layout.h"
#include "page-text.h"
#include "sha256.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS documents(sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, bytes INTEGER NOT NULL,"
    "  n_pages INTEGER, status TEXT NOT NULL, reason TEXT, body_size REAL);"
    "CREATE TABLE IF NOT EXISTS sources(path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pages(sha256 TEXT NOT NULL, page INTEGER NOT NULL, width INTEGER NOT NULL,"
    "  height INTEGER NOT NULL, tokens INTEGER NOT NULL, n_images INTEGER NOT NULL, PRIMARY KEY(sha256, page));"
    "CREATE TABLE IF NOT EXISTS blocks(sha256 TEXT NOT NULL, page INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  kind TEXT NOT NULL, x0 REAL, y0 REAL, x1 REAL, y1 REAL, font_size REAL, bold REAL, small_chars INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  PRIMARY KEY(sha256, page, idx));"
    "CREATE TABLE IF NOT EXISTS sections(sha256 TEXT NOT NULL, idx INTEGER NOT NULL, title TEXT NOT NULL,"
    "  first_page INTEGER NOT NULL, last_page INTEGER NOT NULL, level INTEGER NOT NULL, PRIMARY KEY(sha256, idx));";

bool pool_sql_ok(struct pool *p, int rc, const char *what, char *err, size_t errlen) {
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return true;
    snprintf(err, errlen, "pool index: %s: %s", what, sqlite3_errmsg(p->db));
    return false;
}

bool pool_exec(struct pool *p, const char *sql, char *err, size_t errlen) {
    return pool_sql_ok(p, sqlite3_exec(p->db, sql, NULL, NULL, NULL), sql, err, errlen);
}

static sqlite3_stmt *prepare_v(struct pool *p, const char *sql, char *err, size_t errlen, const char *types, va_list ap) {
    sqlite3_stmt *st = NULL;
    if (!pool_sql_ok(p, sqlite3_prepare_v2(p->db, sql, -1, &st, NULL), sql, err, errlen)) return NULL;
    for (int i = 0; types[i]; i++) {
        if (types[i] == 'i') sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else if (types[i] == 'd') sqlite3_bind_double(st, i + 1, va_arg(ap, double));
        else sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    return st;
}

sqlite3_stmt *pool_prepare(struct pool *p, const char *sql, char *err, size_t errlen, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = prepare_v(p, sql, err, errlen, types, ap);
    va_end(ap);
    return st;
}

// Prepares, binds and steps a statement once: 1 when it gives a row, 0 when it is done
// (an INSERT, or a query that found nothing), -1 with a message on an error.
static int sql_step(struct pool *p, char *err, size_t errlen, const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = prepare_v(p, sql, err, errlen, types, ap);
    va_end(ap);
    if (!st) return -1;
    int rc = sqlite3_step(st), r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (r < 0) pool_sql_ok(p, rc, sql, err, errlen);
    sqlite3_finalize(st);
    return r;
}

// A pool from before a column was added is refused rather than half read.
static bool check_format(struct pool *p, const char *dir, char *err, size_t errlen) {
    sqlite3_stmt *st = NULL;
    bool ok = sqlite3_prepare_v2(p->db, "SELECT small_chars FROM blocks LIMIT 0", -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    if (!ok) snprintf(err, errlen, "%s was made by an older longvl (its blocks lack small_chars): make the pool again", dir);
    return ok;
}

// The settings the pool was made with, stored on first use and checked after.
static bool check_settings(struct pool *p, const char *dir, char *err, size_t errlen) {
    char want[256];
    picture_settings_string(&p->s, want, sizeof want);
    sqlite3_stmt *st = pool_prepare(p, "SELECT value FROM settings WHERE key = 'picture'", err, errlen, "");
    if (!st) return false;
    int rc = sqlite3_step(st);
    bool ok = true;
    if (rc == SQLITE_ROW) {
        const char *have = (const char *)sqlite3_column_text(st, 0);
        if (strcmp(have, want)) {
            snprintf(err, errlen, "%s was made with \"%s\", not \"%s\": its token counts would not match", dir, have, want);
            ok = false;
        }
    } else if (rc == SQLITE_DONE) {
        ok = 0 <= sql_step(p, err, errlen, "INSERT INTO settings VALUES('picture', ?)", "t", want);
    } else {
        ok = pool_sql_ok(p, rc, "reading the settings", err, errlen);
    }
    sqlite3_finalize(st);
    return ok;
}

struct pool *pool_open(const char *dir, const struct picture_settings *s, char *err, size_t errlen) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the pool folder %s: %s", dir, strerror(errno));
        return NULL;
    }
    struct pool *p = calloc(1, sizeof *p);
    if (!p) abort();
    if (s) p->s = *s;
    char path[4096];
    snprintf(path, sizeof path, "%s/pool.sqlite", dir);
    bool ok = (p->dir = realpath(dir, NULL)) != NULL;
    if (!ok) snprintf(err, errlen, "%s: %s", dir, strerror(errno));
    else if (!(ok = sqlite3_open(path, &p->db) == SQLITE_OK))
        snprintf(err, errlen, "cannot open %s: %s", path, p->db ? sqlite3_errmsg(p->db) : "out of memory");
    ok = ok && pool_sql_ok(p, sqlite3_busy_timeout(p->db, 10000), "busy timeout", err, errlen) &&
         pool_exec(p, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", err, errlen) &&
         pool_exec(p, SCHEMA, err, errlen) && check_format(p, dir, err, errlen) &&
         (!s || check_settings(p, dir, err, errlen));
    if (!ok) {
        pool_close(p);
        return NULL;
    }
    return p;
}

struct pool *pool_open_existing(const char *dir, char *err, size_t errlen) {
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/pool.sqlite", dir);
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s is not a pool (no pool.sqlite)", dir);
        return NULL;
    }
    return pool_open(dir, NULL, err, errlen);
}

void pool_close(struct pool *p) {
    if (!p) return;
    sqlite3_close(p->db);
    free(p->dir);
    free(p);
}

static int cmp_hex(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static bool is_excluded(const struct pool_filter *f, const char *hex) {
    return f->n_exclude && bsearch(&hex, f->exclude, f->n_exclude, sizeof *f->exclude, cmp_hex);
}

// The pages, blocks and sections of an opened document, inside the open transaction.
static bool render_page(struct pdf_document *doc, int page, float dpi, struct pool_stats *st, char *why, size_t whylen) {
    struct rgb_image im = { 0 };
    bool ok = pdf_document_render(doc, page, dpi, &im, why, whylen);
    rgb_image_free(&im);
    st->rendered += ok;
    return ok;
}

static bool add_layout(struct pool *p, struct pdf_document *doc, const char *hex, int n_pages, const struct pool_filter *f,
                       char *why, size_t whylen, struct pool_stats *st, bool *doc_ok, char *err, size_t errlen) {
    struct page_text *pages = calloc(n_pages, sizeof *pages);
    enum block_kind **kinds = calloc(n_pages, sizeof *kinds);
    if (!pages || !kinds) abort();
    bool ok = true;
    *doc_ok = true;
    for (int i = 0; *doc_ok && i < n_pages; i++) {
        int w, h, H = 0, W = 0;
        *doc_ok = pdf_document_page_size(doc, i, p->s.dpi, &w, &h, why, whylen) &&
                  qwen25vl_smart_resize(h, w, p->s.min_pixels, p->s.max_pixels, &H, &W, why, whylen) &&
                  pdf_document_page_text(doc, i, &pages[i], why, whylen) &&
                  (!f->render || render_page(doc, i, p->s.dpi, st, why, whylen));
        // a picture is its merged rows between <|vision_start|> and <|vision_end|>
        int64_t tokens = (int64_t)(H / 28) * (W / 28) + 2;
        ok = !*doc_ok || 0 <= sql_step(p, err, errlen, "INSERT INTO pages VALUES(?, ?, ?, ?, ?, ?)", "tiiiii", hex, (int64_t)i,
                             (int64_t)W, (int64_t)H, tokens, (int64_t)pages[i].n_images);
        if (!ok) break;
    }
    float body = *doc_ok && ok ? layout_body_size(pages, n_pages) : 0;
    for (int i = 0; ok && *doc_ok && i < n_pages; i++) {
        float page_max = 0;
        for (int b = 0; b < pages[i].n_blocks; b++)
            if (pages[i].blocks[b].max_size > page_max) page_max = pages[i].blocks[b].max_size;
        if (!(kinds[i] = malloc((pages[i].n_blocks + 1) * sizeof **kinds))) abort();
        for (int b = 0; ok && b < pages[i].n_blocks; b++) {
            const struct page_text_block *k = &pages[i].blocks[b];
            kinds[i][b] = layout_classify(k, i, body, page_max);
            ok = 0 <= sql_step(p, err, errlen, "INSERT INTO blocks VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "tiitddddddit",
                     hex, (int64_t)i, (int64_t)b, block_kind_name(kinds[i][b]), (double)k->x0, (double)k->y0,
                     (double)k->x1, (double)k->y1, (double)k->font_size, (double)k->bold, (int64_t)k->n_small, k->text);
            st->blocks += ok;
        }
    }
    struct outline_entry *outline = NULL;
    int n_outline = 0;
    if (ok && *doc_ok && !pdf_document_outline(doc, &outline, &n_outline, why, whylen)) n_outline = 0;   // none usable
    struct section *sec = NULL;
    int n_sec = 0;
    if (ok && *doc_ok) layout_sections(pages, kinds, n_pages, outline, n_outline, &sec, &n_sec);
    for (int i = 0; ok && i < n_sec; i++)
        ok = 0 <= sql_step(p, err, errlen, "INSERT INTO sections VALUES(?, ?, ?, ?, ?, ?)", "titiii", hex, (int64_t)i, sec[i].title,
                 (int64_t)sec[i].first_page, (int64_t)sec[i].last_page, (int64_t)sec[i].level);
    if (ok && *doc_ok)
        ok = 0 <= sql_step(p, err, errlen, "UPDATE documents SET body_size = ? WHERE sha256 = ?", "dt", (double)body, hex);
    sections_free(sec, n_sec);
    outline_free(outline, n_outline);
    for (int i = 0; i < n_pages; i++) {
        page_text_free(&pages[i]);
        free(kinds[i]);
    }
    free(pages);
    free(kinds);
    return ok;
}

// The pool's own copy of an accepted document, recorded by its relative path.
static bool keep_copy(struct pool *p, const char *path, const char *hex, char *err, size_t errlen) {
    char name[128], *to;
    pool_copy_name(hex, name, sizeof name);
    if (!(to = pool_path(p, name))) abort();
    bool ok = pool_copy_file(path, to, err, errlen) &&
              0 <= sql_step(p, err, errlen, "UPDATE documents SET path = ? WHERE sha256 = ?", "tt", name, hex);
    free(to);
    return ok;
}

// Records the document (status accepted, rejected or excluded, with a reason); an
// accepted one gets its pages, blocks and sections, or becomes rejected when a page
// cannot be read. Inside the open transaction.
static bool add_document(struct pool *p, const char *path, const char *hex, int64_t bytes, const struct pool_filter *f,
                         struct pool_stats *st, char *err, size_t errlen) {
    char why[1024] = "";
    struct pdf_document *doc = NULL;
    int n_pages = -1;
    const char *status = "rejected";
    if (is_excluded(f, hex)) {
        status = "excluded";
        snprintf(why, sizeof why, "in the exclude list (evaluation data)");
    } else if (bytes == 0) {
        snprintf(why, sizeof why, "empty file");
    } else if (bytes > f->max_bytes) {
        snprintf(why, sizeof why, "huge: %lld bytes, more than %lld", (long long)bytes, (long long)f->max_bytes);
    } else if ((doc = pdf_document_open(path, NULL, why, sizeof why)) != NULL) {
        n_pages = pdf_document_page_count(doc);
        if (n_pages == 0) snprintf(why, sizeof why, "no pages");
        else if (n_pages < f->min_pages || n_pages > f->max_pages)
            snprintf(why, sizeof why, "%d pages, outside %d-%d", n_pages, f->min_pages, f->max_pages);
        else status = "accepted";
    }
    bool accepted = !strcmp(status, "accepted"), doc_ok = true;
    bool ok = 0 <= sql_step(p, err, errlen, "INSERT INTO documents VALUES(?, ?, ?, ?, ?, ?, NULL)", "ttiitt", hex, path,
                      bytes, (int64_t)n_pages, status, accepted ? NULL : why);
    if (ok && accepted) {
        int64_t blocks0 = st->blocks;
        ok = pool_exec(p, "SAVEPOINT layout", err, errlen) &&
             add_layout(p, doc, hex, n_pages, f, why, sizeof why, st, &doc_ok, err, errlen);
        if (ok && !doc_ok) {   // a page MuPDF cannot read: the document is rejected whole
            st->blocks = blocks0;
            ok = pool_exec(p, "ROLLBACK TO layout", err, errlen) &&
                 0 <= sql_step(p, err, errlen, "UPDATE documents SET status = 'rejected', reason = ? WHERE sha256 = ?", "tt",
                         why, hex);
        }
        ok = ok && pool_exec(p, "RELEASE layout", err, errlen);
        if (ok && doc_ok && f->copy) ok = keep_copy(p, path, hex, err, errlen);
    }
    pdf_document_close(doc);
    if (ok && accepted && doc_ok) st->added++, st->pages += n_pages;
    else if (ok && !strcmp(status, "excluded")) st->excluded++;
    else if (ok) st->rejected++;
    return ok;
}

bool pool_add_pdf(struct pool *p, const char *path, const struct pool_filter *f, struct pool_stats *st, char *err,
                  size_t errlen) {
    char abs[PATH_MAX], why[512];
    struct stat sb;
    if (!realpath(path, abs) || stat(abs, &sb) != 0) {
        fprintf(stderr, "longvl data: skipping %s: %s\n", path, strerror(errno));
        st->rejected++;
        return true;
    }
    int known = sql_step(p, err, errlen, "SELECT 1 FROM sources WHERE path = ? AND bytes = ? AND mtime = ?", "tii", abs,
                        (int64_t)sb.st_size, (int64_t)sb.st_mtime);
    if (known != 0) {
        st->known += known > 0;
        return known > 0;
    }
    uint8_t digest[32];
    char hex[65];
    if (!sha256_file(abs, digest, why, sizeof why)) {
        fprintf(stderr, "longvl data: skipping %s: %s\n", path, why);
        st->rejected++;
        return true;
    }
    sha256_hex(digest, hex);
    if (!pool_exec(p, "BEGIN IMMEDIATE", err, errlen)) return false;
    bool ok = 0 <= sql_step(p, err, errlen, "INSERT OR REPLACE INTO sources VALUES(?, ?, ?, ?)", "ttii", abs, hex,
                      (int64_t)sb.st_size, (int64_t)sb.st_mtime);
    int dup = ok ? sql_step(p, err, errlen, "SELECT 1 FROM documents WHERE sha256 = ?", "t", hex) : -1;
    ok = dup >= 0;
    if (ok && dup) st->duplicates++;
    else if (ok) ok = add_document(p, abs, hex, (int64_t)sb.st_size, f, st, err, errlen);
    if (ok) ok = pool_exec(p, "COMMIT", err, errlen);
    else pool_exec(p, "ROLLBACK", why, sizeof why);
    return ok;
}

bool pool_totals(struct pool *p, struct pool_totals *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    struct { const char *sql; int64_t *v; } q[] = {
        { "SELECT COUNT(*) FROM documents WHERE status = 'accepted'", &t->accepted },
        { "SELECT COUNT(*) FROM documents WHERE status = 'rejected'", &t->rejected },
        { "SELECT COUNT(*) FROM documents WHERE status = 'excluded'", &t->excluded },
        { "SELECT COUNT(*) FROM pages", &t->pages },
        { "SELECT COALESCE(SUM(tokens), 0) FROM pages", &t->tokens },
        { "SELECT COUNT(*) FROM blocks", &t->blocks },
        { "SELECT COUNT(*) FROM sections", &t->sections },
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        sqlite3_stmt *st = pool_prepare(p, q[i].sql, err, errlen, "");
        int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
        bool ok = st && pool_sql_ok(p, rc, q[i].sql, err, errlen);
        if (ok && rc == SQLITE_ROW) *q[i].v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (!ok) return false;
    }
    return true;
}
