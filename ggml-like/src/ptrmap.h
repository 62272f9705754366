// A fixed-size open-addressing map from tensor pointers to small integers (an index
// into a side table). Used by the graph builder and the allocator.
#pragma once

#include <stdint.h>
#include <stdlib.h>

struct tl_ptrmap {
    size_t       size;   // power of two
    const void **keys;
    int         *vals;
};

static inline size_t tl_ptrmap_size_for(size_t min_entries) {
    size_t size = 16;
    while (size < 2 * min_entries) size *= 2;
    return size;
}

// Heap-backed map; release with tl_ptrmap_free.
static inline bool tl_ptrmap_init(struct tl_ptrmap *m, size_t min_entries) {
    m->size = tl_ptrmap_size_for(min_entries);
    m->keys = calloc(m->size, sizeof *m->keys);
    m->vals = calloc(m->size, sizeof *m->vals);
    return m->keys && m->vals;
}

static inline void tl_ptrmap_free(struct tl_ptrmap *m) {
    free(m->keys);
    free(m->vals);
}

static inline size_t tl_ptrmap_slot(const struct tl_ptrmap *m, const void *key) {
    size_t h = ((uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ull;
    size_t i = h & (m->size - 1);
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->size - 1);
    return i;
}

// The value stored for key, or -1.
static inline int tl_ptrmap_get(const struct tl_ptrmap *m, const void *key) {
    size_t i = tl_ptrmap_slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

// Caller keeps the map below half full (init with the number of keys it will insert).
static inline void tl_ptrmap_put(struct tl_ptrmap *m, const void *key, int val) {
    size_t i = tl_ptrmap_slot(m, key);
    m->keys[i] = key;
    m->vals[i] = val;
}
