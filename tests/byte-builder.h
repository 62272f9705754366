// Builds file images byte by byte, so tests can state a format independently of the
// writer under test (and corrupt it on purpose).
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bytes {
    uint8_t *p;
    size_t n, cap;
};

static inline void bytes_put(struct bytes *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static inline void bytes_u8(struct bytes *b, uint8_t v) { bytes_put(b, &v, 1); }
static inline void bytes_u32(struct bytes *b, uint32_t v) { bytes_put(b, &v, 4); }
static inline void bytes_u64(struct bytes *b, uint64_t v) { bytes_put(b, &v, 8); }
static inline void bytes_f32(struct bytes *b, float v) { bytes_put(b, &v, 4); }
static inline void bytes_str(struct bytes *b, const char *s) {   // GGUF string: u64 length + bytes
    bytes_u64(b, strlen(s));
    bytes_put(b, s, strlen(s));
}
static inline void bytes_pad(struct bytes *b, size_t align) {
    while (b->n % align) bytes_u8(b, 0);
}
static inline void bytes_free(struct bytes *b) {
    free(b->p);
    *b = (struct bytes){ 0 };
}

static inline int write_whole_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static inline uint8_t *read_whole_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(len > 0 ? (size_t)len : 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return p;
}
