// tl-gguf.h: GGUF v3 files (llama.cpp's model format), read and written.
//
// A GGUF file is: magic "GGUF", version, tensor count, metadata count, the metadata
// key/value pairs, the tensor infos (name, dims, ggml type, offset), padding to the
// alignment, then the tensor data. Everything is little-endian.
//
// Reading maps the file and never copies tensor data: tl_gguf_tensor(g, i)->data points
// into the mapping. Every count, length, offset and size is checked against the file
// before it is used, so a file that lies is refused with a message naming what is wrong
// and where (byte offset), never read out of bounds.
//
// Writing is streamed: describe the metadata and the tensors (name, type, shape) in a
// tl_gguf, start a writer, then hand it each tensor's bytes in order, in as many pieces
// as you like. The file is written under a temporary name and renamed into place by
// tl_gguf_writer_finish, so a failure or a crash never leaves a half-written file.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TL_GGUF_DEFAULT_ALIGNMENT 32
#define TL_GGUF_MAX_DIMS 4
#define TL_GGUF_MAX_NAME 64          // tensor names are at most 63 bytes (ggml's limit)
#define TL_GGUF_MAX_ARRAY_DEPTH 8    // nested arrays deeper than this are refused

// Metadata value types, numbered as in the file.
enum tl_gguf_type {
    TL_GGUF_UINT8 = 0, TL_GGUF_INT8 = 1, TL_GGUF_UINT16 = 2, TL_GGUF_INT16 = 3,
    TL_GGUF_UINT32 = 4, TL_GGUF_INT32 = 5, TL_GGUF_FLOAT32 = 6, TL_GGUF_BOOL = 7,
    TL_GGUF_STRING = 8, TL_GGUF_ARRAY = 9, TL_GGUF_UINT64 = 10, TL_GGUF_INT64 = 11,
    TL_GGUF_FLOAT64 = 12,
    TL_GGUF_TYPE_COUNT
};

const char *tl_gguf_type_name(enum tl_gguf_type type);
size_t tl_gguf_type_size(enum tl_gguf_type type);   // bytes of a scalar; 0 for STRING/ARRAY

struct tl_gguf_str {
    const char *data;   // NUL-terminated copy (the file's string may itself hold NULs)
    uint64_t    len;
};

struct tl_gguf_value {
    enum tl_gguf_type type;
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        uint64_t u64; int64_t i64; float f32; double f64; bool b;
        struct tl_gguf_str str;
        struct {
            enum tl_gguf_type type;   // element type
            uint64_t n;
            // scalars: a packed native array of n elements; STRING: struct tl_gguf_str[n];
            // ARRAY: struct tl_gguf_value[n], each of type ARRAY.
            const void *data;
        } arr;
    };
};

// ggml tensor types as numbered in GGUF (the block formats included, so files with
// quantized tensors can be read, checked and listed).
struct tl_ggml_type_info {
    const char *name;
    int64_t     block_size;   // elements per block
    size_t      type_size;    // bytes per block
};
// NULL for a number that is not a ggml type.
const struct tl_ggml_type_info *tl_ggml_type_info(uint32_t ggml_type);
enum { TL_GGML_F32 = 0, TL_GGML_F16 = 1, TL_GGML_Q8_0 = 8, TL_GGML_I32 = 26, TL_GGML_BF16 = 30 };

struct tl_gguf_tensor_info {
    char     name[TL_GGUF_MAX_NAME];
    uint32_t n_dims;
    int64_t  ne[TL_GGUF_MAX_DIMS];   // dims past n_dims are 1
    uint32_t type;                   // ggml type number
    uint64_t offset;                 // from the start of the data section
    uint64_t size;                   // bytes
    const void *data;                // read: into the mapping; write: optional source
};

struct tl_gguf;

// An empty description, to be filled and written.
struct tl_gguf *tl_gguf_new(void);
// Map and parse a file. NULL on failure with a message in err.
struct tl_gguf *tl_gguf_open(const char *path, char *err, size_t errlen);
// Parse a file image already in memory; data must outlive the result (no copy).
struct tl_gguf *tl_gguf_open_memory(const void *data, size_t size, char *err, size_t errlen);
void tl_gguf_free(struct tl_gguf *g);

uint32_t tl_gguf_version(const struct tl_gguf *g);
size_t   tl_gguf_alignment(const struct tl_gguf *g);
uint64_t tl_gguf_data_offset(const struct tl_gguf *g);   // file offset of the data section
uint64_t tl_gguf_file_size(const struct tl_gguf *g);     // 0 for a description not read

// Metadata.
int64_t tl_gguf_n_kv(const struct tl_gguf *g);
const char *tl_gguf_kv_key(const struct tl_gguf *g, int64_t i);
const struct tl_gguf_value *tl_gguf_kv_value(const struct tl_gguf *g, int64_t i);
int64_t tl_gguf_find_key(const struct tl_gguf *g, const char *key);       // -1 if absent
const struct tl_gguf_value *tl_gguf_get(const struct tl_gguf *g, const char *key);   // NULL if absent
// A short human-readable rendering of a value (arrays shortened to their first items).
void tl_gguf_value_format(const struct tl_gguf_value *v, char *buf, size_t n);

// Setting a key replaces an existing value of that key. Values are copied.
void tl_gguf_set_u8(struct tl_gguf *g, const char *key, uint8_t v);
void tl_gguf_set_i8(struct tl_gguf *g, const char *key, int8_t v);
void tl_gguf_set_u16(struct tl_gguf *g, const char *key, uint16_t v);
void tl_gguf_set_i16(struct tl_gguf *g, const char *key, int16_t v);
void tl_gguf_set_u32(struct tl_gguf *g, const char *key, uint32_t v);
void tl_gguf_set_i32(struct tl_gguf *g, const char *key, int32_t v);
void tl_gguf_set_u64(struct tl_gguf *g, const char *key, uint64_t v);
void tl_gguf_set_i64(struct tl_gguf *g, const char *key, int64_t v);
void tl_gguf_set_f32(struct tl_gguf *g, const char *key, float v);
void tl_gguf_set_f64(struct tl_gguf *g, const char *key, double v);
void tl_gguf_set_bool(struct tl_gguf *g, const char *key, bool v);
void tl_gguf_set_str(struct tl_gguf *g, const char *key, const char *s);
// An array of n scalars of elem_type, given as a packed native array.
void tl_gguf_set_arr_data(struct tl_gguf *g, const char *key, enum tl_gguf_type elem_type,
                          const void *data, uint64_t n);
void tl_gguf_set_arr_str(struct tl_gguf *g, const char *key, const char *const *strs, uint64_t n);
// Any value, nested arrays included (deep copy).
void tl_gguf_set_value(struct tl_gguf *g, const char *key, const struct tl_gguf_value *v);

// Tensors.
int64_t tl_gguf_n_tensors(const struct tl_gguf *g);
const struct tl_gguf_tensor_info *tl_gguf_tensor(const struct tl_gguf *g, int64_t i);
int64_t tl_gguf_find_tensor(const struct tl_gguf *g, const char *name);   // -1 if absent
// Describe a tensor to be written; offsets follow the order of the calls. Returns its
// index, or -1 with a message in err (bad name, duplicate, bad shape or type).
int64_t tl_gguf_add_tensor(struct tl_gguf *g, const char *name, uint32_t ggml_type,
                           uint32_t n_dims, const int64_t *ne, char *err, size_t errlen);
// Where tl_gguf_write_file takes tensor i's bytes from.
void tl_gguf_set_tensor_data(struct tl_gguf *g, int64_t i, const void *data);
// Bytes of a tensor of this type and shape; 0 with err set if invalid.
uint64_t tl_gguf_tensor_nbytes(uint32_t ggml_type, uint32_t n_dims, const int64_t *ne,
                               char *err, size_t errlen);

// Streaming writer. begin writes header, metadata and tensor infos to PATH.tmp;
// write() appends bytes of the tensors in order (padding is inserted between tensors);
// finish checks that every byte arrived, flushes, syncs and renames PATH.tmp to PATH.
// abort removes the temporary file. All return false with a message in err on failure,
// after which only abort may be called.
struct tl_gguf_writer;
struct tl_gguf_writer *tl_gguf_writer_begin(const struct tl_gguf *g, const char *path,
                                            char *err, size_t errlen);
bool tl_gguf_writer_write(struct tl_gguf_writer *w, const void *data, size_t n, char *err, size_t errlen);
// Index of the tensor the next write() bytes belong to (n_tensors when all are done).
int64_t tl_gguf_writer_current(const struct tl_gguf_writer *w);
// Leave the renaming to the caller (several files that must appear together).
bool tl_gguf_writer_finish_unrenamed(struct tl_gguf_writer *w, char *tmp_path, size_t tmp_len,
                                     char *err, size_t errlen);
bool tl_gguf_writer_finish(struct tl_gguf_writer *w, char *err, size_t errlen);
void tl_gguf_writer_abort(struct tl_gguf_writer *w);

// Whole file at once: each tensor's bytes come from its info's data pointer.
bool tl_gguf_write_file(const struct tl_gguf *g, const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
