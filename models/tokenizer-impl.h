// Private to the tokenizer: its tables, shared by loading (tokenizer-load.c) and
// encoding/decoding (tokenizer.c).
#pragma once

#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

// Open-addressing hash of byte strings -> int32 (token ids).
struct str_map {
    uint32_t *slots;   // id + 1; 0 = empty
    uint32_t mask;
};

// Open-addressing hash of (left, right) id pairs -> merge rank and merged id.
struct pair_map {
    uint64_t *keys;    // (left << 32 | right) + 1; 0 = empty
    int32_t  *rank, *merged;
    uint32_t  mask;
};

static inline uint64_t pair_key(int32_t left, int32_t right) {   // never 0 (0 = empty slot)
    return ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
}

static inline uint64_t pair_hash(uint64_t k) {   // murmur3's finaliser
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

struct added_token {
    const char *text;
    size_t len;
    int32_t id;
};

struct tokenizer {
    int32_t n_vocab;
    char **text;            // token strings as stored (byte-level for normal tokens)
    uint32_t *text_len;
    uint8_t *kind;          // enum token_kind
    bool *special;          // skipped by skip_special
    uint8_t **bytes;        // what each token decodes to
    uint32_t *bytes_len;
    struct str_map vocab;
    struct pair_map merges;
    int32_t (*merge_list)[2];  // (left, right) ids in rank order, as loaded
    int64_t n_merges;
    int32_t byte_token[256];   // the single-byte tokens
    struct added_token *added; // longest first
    int n_added;
    bool added_first_byte[256];

    pcre2_code *re;
    pcre2_match_data *md;
};

// GPT-2's byte-level alphabet: byte -> code point, and back (-1 for code points not used).
void byte_level_tables(uint32_t byte_to_cp[256], int16_t cp_to_byte[324]);

uint32_t str_hash(const char *s, size_t n);
int32_t str_map_get(const struct str_map *m, char *const *text, const uint32_t *len, const char *s, size_t n);

// Fills t->vocab, t->bytes, t->byte_token, t->added, the merges and the regex from
// t->text/text_len/kind/special (already set) and the merges as (left, right) token
// strings in rank order. false with err on failure.
bool tokenizer_finish_load(struct tokenizer *t, const char *const *left, const char *const *right, int64_t n_merges,
                           char *err, size_t errlen);
