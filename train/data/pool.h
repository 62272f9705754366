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

#include "layout.h"
#include "picture.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool_filter {
    int     min_pages, max_pages;   // accepted page counts (inclusive)
    int64_t max_bytes;              // larger files are refused as huge
    const char *const *exclude;     // hex SHA-256s refused as evaluation data (sorted)
    int     n_exclude;
    bool    render;                 // render every page at the pool's dpi: a page that
                                    // cannot be drawn rejects its document
    bool    copy;                   // keep each accepted PDF as DIR/docs/SHA256.pdf, recorded
                                    // by that relative path: the pool moves with its documents
};

struct pool_stats {
    int64_t added, duplicates, rejected, excluded, known;   // known: recorded by an earlier run
    int64_t pages, blocks, rendered;
};

struct pool;

// Opens the pool in dir (created with its index when missing), with these settings (a
// pool made with others is refused; NULL: reading only, any settings). NULL with a
// message.
struct pool *pool_open(const char *dir, const struct picture_settings *s, char *err, size_t errlen);
// Opens a pool that must exist, for reading or merging (any settings): a folder without
// pool.sqlite is refused, not made into an empty pool.
struct pool *pool_open_existing(const char *dir, char *err, size_t errlen);
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

// ---------------------------------------------------------------------------------------
// Merging (pool-merge.c): the pools that `pool add --shard I/N` made on N machines into one

struct pool_merge_stats {
    int64_t added, accepted;   // documents new to p, and how many of them were accepted
    int64_t known;             // documents p had already (by SHA-256): kept as they were
};
// Copies into p each document of the pool in src_dir that p lacks, with its pages, blocks
// and sections (and its PDF when src keeps it inside), and the files src has seen (so
// that `pool add` skips them). One transaction: a killed merge leaves p's index as it
// was, and merging again adds nothing twice.
// The pools' settings must be the same (an empty p takes src's).
bool pool_merge(struct pool *p, const char *src_dir, struct pool_merge_stats *st, char *err, size_t errlen);

// ---------------------------------------------------------------------------------------
// Reading (pool-read.c), for synthesis

// The settings the pool's token counts were made with (picture_settings_string's form).
bool pool_settings(struct pool *p, char *out, size_t n, char *err, size_t errlen);

struct pool_doc_info {
    char    sha256[65];
    int     n_pages;
    int64_t tokens;   // its pages' tokens
};
// The accepted documents ordered by SHA-256, so that a pool gives the same list on any
// machine; *out is malloc'd.
bool pool_documents(struct pool *p, struct pool_doc_info **out, int *n, char *err, size_t errlen);

struct pool_block {
    int   page;               // 0-based
    enum block_kind kind;
    char *text;               // lines joined by '\n'
    int   small_chars;        // sub- and superscript characters (page-text.h)
};

struct pool_doc {
    char     sha256[65];
    char    *path;            // absolute: as added, or the pool's copy (pool_filter.copy)
    int      n_pages;
    int64_t *page_tokens;     // [n_pages], each with its <|vision_start|> and <|vision_end|>
    int64_t  tokens;
    struct pool_block *blocks;   // by page, each page's in reading order
    int      n_blocks;
    int     *page_blocks;     // [n_pages + 1]: page p's blocks are [page_blocks[p], page_blocks[p + 1])
    struct section *sections;
    int      n_sections;
};
bool pool_document(struct pool *p, const char *sha256, struct pool_doc *d, char *err, size_t errlen);
void pool_doc_free(struct pool_doc *d);
