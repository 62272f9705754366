// sha256.h: SHA-256 (FIPS 180-4), for content keys: the page-embedding cache names a
// document by the hash of its bytes, and the document pool deduplicates by it.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sha256 {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t  block[64];
    size_t   n_block;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, uint8_t digest[32]);
// digest as 64 lowercase hex digits + NUL
void sha256_hex(const uint8_t digest[32], char hex[65]);
// The hash of a whole file; false with a message if it cannot be read.
bool sha256_file(const char *path, uint8_t digest[32], char *err, size_t errlen);
