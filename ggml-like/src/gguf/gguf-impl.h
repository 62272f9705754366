// Private parts of the GGUF module shared by the reader, the writer and the metadata code.
#pragma once

#include "tl-gguf.h"

#include <stdarg.h>
#include <stdio.h>

// Strings and arrays of a tl_gguf live in an arena of chunks freed together.
struct gguf_arena_chunk {
    struct gguf_arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct gguf_kv {
    struct tl_gguf_str   key;
    struct tl_gguf_value value;
};

struct tl_gguf {
    uint32_t version;
    size_t   alignment;
    uint64_t data_offset;   // read files: where the data section starts
    uint64_t file_size;

    struct gguf_kv *kv;
    int64_t n_kv, cap_kv;
    struct tl_gguf_tensor_info *tensors;
    int64_t n_tensors, cap_tensors;
    uint64_t data_size;     // end of the last tensor, from the data section start

    struct gguf_arena_chunk *arena;

    void  *map;             // the mapping made by tl_gguf_open (NULL otherwise)
    size_t map_size;
};

void *gguf_arena_alloc(struct tl_gguf *g, size_t n);   // aborts only when out of memory
char *gguf_arena_strndup(struct tl_gguf *g, const char *s, size_t n);

// Appends a key without the duplicate check (the reader checks duplicates itself).
struct gguf_kv *gguf_append_kv(struct tl_gguf *g);
// Appends a tensor info without checks; the caller fills it.
struct tl_gguf_tensor_info *gguf_append_tensor(struct tl_gguf *g);

static inline uint64_t gguf_pad(uint64_t x, uint64_t align) { return (x + align - 1) / align * align; }

// The alignment a description asks for via general.alignment: 0 with err if it is
// present but not a UINT32 power of two.
size_t gguf_alignment_from_kv(const struct tl_gguf *g, char *err, size_t errlen);

