// safetensors.h: HuggingFace safetensors checkpoints, read through mmap.
//
// A safetensors file is an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the data. Every entry is checked against the file before
// it is used: known dtype, non-negative integral shape, offsets inside the data, size ==
// elements x dtype size, no two tensors overlapping. A sharded checkpoint is a folder
// with model.safetensors.index.json whose "weight_map" names the shard of each tensor.
#pragma once

#include "tl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_DIMS 8

struct safetensors_tensor {
    const char *name;
    const char *dtype;                  // as written in the file: "BF16", "F32", "I64", ...
    bool        is_float;               // F32, F16 or BF16 ...
    enum tl_type type;                  // ... and then its libtl type
    int         n_dims;
    int64_t     shape[SAFETENSORS_MAX_DIMS];   // PyTorch order: shape[n_dims-1] is the fastest
    int64_t     n_elements;
    uint64_t    nbytes;
    const void *data;                   // into the mapping of its file
    int         file;                   // index of the shard it lives in
};

struct safetensors;

// One file.
struct safetensors *safetensors_open(const char *path, char *err, size_t errlen);
// A file image already in memory (kept, not copied); name is used in messages.
struct safetensors *safetensors_open_memory(const void *data, size_t size, const char *name, char *err,
                                            size_t errlen);
// A model folder: model.safetensors.index.json and its shards, else model.safetensors.
struct safetensors *safetensors_open_dir(const char *dir, char *err, size_t errlen);
void safetensors_close(struct safetensors *st);

int64_t safetensors_n_tensors(const struct safetensors *st);
const struct safetensors_tensor *safetensors_tensor(const struct safetensors *st, int64_t i);
const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name);
int safetensors_n_files(const struct safetensors *st);
const char *safetensors_file_path(const struct safetensors *st, int file);
uint64_t safetensors_total_bytes(const struct safetensors *st);   // of tensor data

// Tells the kernel the tensor's pages will not be read again, so converting a checkpoint
// one tensor at a time keeps only the tensor at hand resident.
void safetensors_release(const struct safetensors *st, const struct safetensors_tensor *t);
// The same for the whole pages inside [p, p + n) of tensor t (a part already consumed).
void safetensors_release_bytes(const struct safetensors *st, const struct safetensors_tensor *t, const void *p,
                               size_t n);

// "F32" -> TL_F32 etc.; false for dtypes libtl has no type for.
bool safetensors_dtype_to_tl(const char *dtype, enum tl_type *type);
const char *safetensors_dtype_from_tl(enum tl_type type);

// Writing (test checkpoints, benchmarks), streamed like the GGUF writer: describe the
// tensors, then hand over their bytes in order; PATH.tmp is renamed to PATH at the end.
struct safetensors_write_item {
    const char  *name;
    enum tl_type type;
    int          n_dims;
    int64_t      shape[SAFETENSORS_MAX_DIMS];
};
struct safetensors_writer;
struct safetensors_writer *safetensors_write_begin(const char *path, const struct safetensors_write_item *items,
                                                   int n, char *err, size_t errlen);
bool safetensors_write_data(struct safetensors_writer *w, const void *data, size_t n, char *err, size_t errlen);
bool safetensors_write_finish(struct safetensors_writer *w, char *err, size_t errlen);
void safetensors_write_abort(struct safetensors_writer *w);
