// Merging pools (pool.h): SQLite attaches the source's index and copies the rows of the
// documents the destination lacks, table by table, in one transaction; documents kept
// inside the source (pool add --copy) are copied into the destination too.
#define _GNU_SOURCE   // asprintf
#include "pool-impl.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

// The source's settings, read through its own pool_open (which refuses an old format).
static bool source_settings(const char *src_dir, char *out, size_t n, char *err, size_t errlen) {
    struct pool *src = pool_open_existing(src_dir, err, errlen);
    bool ok = src && pool_settings(src, out, n, err, errlen);
    pool_close(src);
    return ok;
}

static bool same_settings(struct pool *p, const char *src_dir, const char *want, char *err, size_t errlen) {
    char have[256], none[256];
    if (!pool_settings(p, have, sizeof have, none, sizeof none)) {   // empty: it takes the source's
        sqlite3_stmt *st = pool_prepare(p, "INSERT INTO settings VALUES('picture', ?)", err, errlen, "t", want);
        bool ok = st && pool_sql_ok(p, sqlite3_step(st), "writing the settings", err, errlen);
        sqlite3_finalize(st);
        return ok;
    }
    if (strcmp(have, want)) {
        snprintf(err, errlen, "%s was made with \"%s\", the pool with \"%s\": their token counts differ", src_dir, want,
                 have);
        return false;
    }
    return true;
}

static bool count(struct pool *p, const char *sql, int64_t *a, int64_t *b, char *err, size_t errlen) {
    sqlite3_stmt *st = pool_prepare(p, sql, err, errlen, "");
    bool ok = st && sqlite3_step(st) == SQLITE_ROW;
    if (ok) *a = sqlite3_column_int64(st, 0), *b = sqlite3_column_int64(st, 1);
    else if (st) pool_sql_ok(p, sqlite3_errcode(p->db), sql, err, errlen);
    sqlite3_finalize(st);
    return ok;
}

// The tables have the same columns in both (one schema; older pools are refused), so
// rows copy with SELECT *.
static const char *COPY =
    "CREATE TEMP TABLE merge_new AS SELECT sha256 FROM src.documents"
    "  WHERE sha256 NOT IN (SELECT sha256 FROM main.documents);"
    "INSERT INTO main.documents SELECT * FROM src.documents WHERE sha256 IN temp.merge_new;"
    "INSERT INTO main.pages SELECT * FROM src.pages WHERE sha256 IN temp.merge_new;"
    "INSERT INTO main.blocks SELECT * FROM src.blocks WHERE sha256 IN temp.merge_new;"
    "INSERT INTO main.sections SELECT * FROM src.sections WHERE sha256 IN temp.merge_new;"
    "INSERT OR IGNORE INTO main.sources SELECT * FROM src.sources;";

// The new documents the source keeps inside itself (relative paths) are copied along.
static bool copy_documents(struct pool *p, const char *src_dir, char *err, size_t errlen) {
    sqlite3_stmt *st = pool_prepare(p, "SELECT path FROM src.documents WHERE sha256 IN temp.merge_new AND path NOT LIKE '/%'",
                                    err, errlen, "");
    int rc = SQLITE_ROW;
    bool ok = st != NULL;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        char *from = NULL, *to = pool_path(p, name);
        if (asprintf(&from, "%s/%s", src_dir, name) < 0) abort();
        ok = pool_copy_file(from, to, err, errlen);
        free(from);
        free(to);
    }
    ok = ok && pool_sql_ok(p, rc, "reading the source's documents", err, errlen);
    sqlite3_finalize(st);
    return ok;
}

bool pool_merge(struct pool *p, const char *src_dir, struct pool_merge_stats *st, char *err, size_t errlen) {
    char want[256], path[4096];
    if (!source_settings(src_dir, want, sizeof want, err, errlen)) return false;
    snprintf(path, sizeof path, "%s/pool.sqlite", src_dir);
    sqlite3_stmt *attach = pool_prepare(p, "ATTACH DATABASE ? AS src", err, errlen, "t", path);
    bool ok = attach && pool_sql_ok(p, sqlite3_step(attach), "attaching the source", err, errlen);
    sqlite3_finalize(attach);
    if (!ok) return false;
    int64_t in_src = 0, unused;
    ok = pool_exec(p, "BEGIN IMMEDIATE", err, errlen);
    if (ok) {
        ok = same_settings(p, src_dir, want, err, errlen) && pool_exec(p, COPY, err, errlen) &&
             copy_documents(p, src_dir, err, errlen) &&
             count(p, "SELECT COUNT(*), COALESCE(SUM(status = 'accepted'), 0) FROM main.documents"
                      "  WHERE sha256 IN temp.merge_new", &st->added, &st->accepted, err, errlen) &&
             count(p, "SELECT COUNT(*), 0 FROM src.documents", &in_src, &unused, err, errlen) &&
             pool_exec(p, "DROP TABLE temp.merge_new; COMMIT", err, errlen);
        if (!ok) {
            char ignored[256];
            pool_exec(p, "ROLLBACK", ignored, sizeof ignored);
        }
    }
    st->known = in_src - st->added;
    char ignored[256];
    pool_exec(p, "DETACH DATABASE src", ignored, sizeof ignored);
    return ok;
}
