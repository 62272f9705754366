// pool.h: the document pool, a folder with an SQLite index (pool.sqlite) of the PDFs
// that LongPT data are made from. Per document: its SHA-256 (dedup, contamination
// filtering), path, size, page count, and whether it was accepted or why not; per page:
// its rendered size and token count at the pool's settings; per text block: its kind
// (layout.h), box, font size, weight and text; per document: its sections.
//
// Each document goes in with one transaction: a killed run loses at most the document
// it was on, and a re-run skips every file already recorded (by path, size and mtime,
// without hashing it again), accepted or not. Broken, encrypted, empty, huge and
// out-of-range PDFs are recorded with the reason and skipped.
//
// The token counts depend on the rendering settings, so a pool keeps the settings it
// was made with and refuses others.
#pragma once

#include "picture.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool_filter {
    int     min_pages, max_pages;   // accepted page counts (inclusive)
    int64_t max_bytes;              // larger files are refused as huge
    const char *const *exclude;     // hex SHA-256s refused as evaluation data (sorted)
    int     n_exclude;
};

struct pool_stats {
    int64_t added, duplicates, rejected, excluded, known;   // known: recorded by an earlier run
    int64_t pages, blocks;
};

struct pool;

// Opens the pool in dir (created with its index when missing), with these settings (a
// pool made with others is refused; NULL: reading only, any settings). NULL with a
// message.
struct pool *pool_open(const char *dir, const struct picture_settings *s, char *err, size_t errlen);
void pool_close(struct pool *p);

// Adds one PDF: false only when the index cannot be written (the run should stop); a
// bad PDF is recorded as rejected and counted.
bool pool_add_pdf(struct pool *p, const char *path, const struct pool_filter *f, struct pool_stats *st, char *err,
                  size_t errlen);

// Counts over the whole pool: documents by status, accepted pages and their tokens.
struct pool_totals {
    int64_t accepted, rejected, excluded, pages, tokens, blocks, sections;
};
bool pool_totals(struct pool *p, struct pool_totals *t, char *err, size_t errlen);
