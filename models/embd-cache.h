// embd-cache.h: page embeddings kept on disk, so asking a second question about the
// same document skips the vision tower (a 144-dpi page costs seconds to minutes on a
// laptop; reading its 2,580 rows back costs milliseconds).
//
// A cache is a folder; each document gets a subfolder named by a key the caller derives
// from everything the embeddings depend on (the document's bytes, the rendering and
// resizing settings, the projector file), and each image one file in it:
//     DIR/KEY/img-000012.emb: "LVEMB001", int64 n_rows, int64 n_embd, float32 rows
// Files are written to a temporary name and renamed, so a killed run leaves either a
// whole entry or none. A file of the wrong size or magic is a miss, never an error.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct embd_cache {
    char dir[4096];   // DIR/KEY
};

// Creates DIR (and its parents) and DIR/KEY as needed.
bool embd_cache_open(struct embd_cache *c, const char *dir, const char *key, char *err, size_t errlen);
// true and out filled when entry `index` holds exactly n_rows x n_embd floats.
bool embd_cache_get(const struct embd_cache *c, int index, int64_t n_rows, int64_t n_embd, float *out);
bool embd_cache_put(const struct embd_cache *c, int index, int64_t n_rows, int64_t n_embd, const float *rows,
                    char *err, size_t errlen);

// A key for a PDF's pages or an image file: SHA-256 over the file's bytes, the settings
// string (e.g. "dpi=144 min=3136 max=12845056") and the projector's identity (its size
// and the hash of its first and last 4 MiB, which hold the metadata and the last
// weights: hashing a whole 1.3 GB projector would cost seconds on every run).
// key receives 32 hex digits.
bool embd_cache_key(const char *input_path, const char *settings, const char *mmproj_path, char key[33], char *err,
                    size_t errlen);
