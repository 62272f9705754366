// pool-impl.h: the pool's insides, shared by its writing (pool.c), reading
// (pool-read.c) and merging (pool-merge.c) parts.
#pragma once

#include "pool.h"

#include <sqlite3.h>

struct pool {
    sqlite3 *db;
    struct picture_settings s;
    char *dir;   // absolute: documents copied into the pool are recorded relative to it
};

// The pool's copy of a document: "docs/SHA256.pdf", relative to its folder.
void pool_copy_name(const char *sha256, char *out, size_t n);
// Copies a file to `to` through a temporary name (a killed copy leaves no half file at
// `to`); false with a message.
bool pool_copy_file(const char *from, const char *to, char *err, size_t errlen);
// A recorded path as a file name: a relative one is inside the pool. malloc'd.
char *pool_path(const struct pool *p, const char *recorded);

// true for SQLITE_OK, _DONE and _ROW; else false with "pool index: WHAT: sqlite's message".
bool pool_sql_ok(struct pool *p, int rc, const char *what, char *err, size_t errlen);
// Runs SQL statements that return no rows; false with a message.
bool pool_exec(struct pool *p, const char *sql, char *err, size_t errlen);
// A prepared statement with its parameters bound from types: i (int64_t), d (double),
// t (text); NULL with a message.
sqlite3_stmt *pool_prepare(struct pool *p, const char *sql, char *err, size_t errlen, const char *types, ...);
