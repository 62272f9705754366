// run-inputs.h: the pictures of a prompt (PDF pages and image files, for `longvl run`
// and the synth model generator), in prompt order, with their sizes known before
// anything is encoded (so the prompt's token count, and whether it fits the context, is
// known up front), and the callback that turns picture i into its merged vision rows:
// from the embedding cache, or by rendering, resizing and encoding it (then storing it
// in the cache).
#pragma once

#include "embd-cache.h"
#include "picture.h"

#include <stdbool.h>
#include <stdint.h>

struct run_picture {
    int page;               // 0-based PDF page, or -1 for an image file
    const char *path;       // image file
    int src_w, src_h;       // before resizing
    int H, W;               // after smart_resize
};

struct run_inputs {
    struct pdf_document *pdf;
    struct run_picture *pics;
    int n_pics;
    struct picture_settings settings;
    const struct qwen25vl_vision_model *vision;
    int n_threads;
    bool use_cache;
    struct embd_cache pdf_cache;   // the PDF's pages; image files key their own
    const char *cache_dir, *mmproj_path;
    int cache_hits;
    double encode_seconds;
};

// Parses "1-5,8,10-12" (1-based, inclusive) against n_pages into a 0-based list.
bool parse_page_ranges(const char *spec, int n_pages, int **pages, int *n, char *err, size_t errlen);

// Adds every page in pages[] of the open PDF (sizes measured without rendering).
bool run_inputs_add_pdf_pages(struct run_inputs *in, const int *pages, int n, char *err, size_t errlen);
// Adds an image file (decoded once to learn its size).
bool run_inputs_add_image(struct run_inputs *in, const char *path, char *err, size_t errlen);
// Sets up the cache for the PDF (cache_dir, mmproj_path and the settings must be set).
bool run_inputs_open_cache(struct run_inputs *in, const char *pdf_path, char *err, size_t errlen);
void run_inputs_free(struct run_inputs *in);

// qwen25vl_image_rows_fn: user is the struct run_inputs.
bool run_inputs_rows(void *user, int i, float *rows, char *err, size_t errlen);
