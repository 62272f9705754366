// picture.h: a picture the model looks at (a PDF page or an image file) and the steps that
// turn it into vision rows: its size after smart_resize, known without rendering, and
// render or decode -> resize -> encode. `longvl run` and `train-longpt` both go this way.
//
// Besides the picture's bytes and the projector, the rows depend only on the settings;
// picture_settings_string spells them for embedding-cache keys (embd-cache.h).
#pragma once

#include "page-source.h"
#include "qwen25vl-vision.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct picture_settings {
    float   dpi;                      // PDF rendering resolution
    int64_t min_pixels, max_pixels;   // smart_resize limits; 0: the defaults
};

void picture_settings_string(const struct picture_settings *s, char *out, size_t n);

// The picture's size before (src) and after (H x W) resizing: page `page` (0-based) of
// pdf, or, with pdf NULL, the image file at path (decoded once to learn it).
bool picture_size(const struct picture_settings *s, struct pdf_document *pdf, int page, const char *path, int *src_w,
                  int *src_h, int *H, int *W, char *err, size_t errlen);

// Renders or decodes the picture and resizes it to H x W (what picture_size gave: a file
// that has changed size since is an error): normalised pixels [H][W][3], malloc'd, or
// NULL with a message.
float *picture_pixels(const struct picture_settings *s, const struct qwen25vl_vision_hparams *hp, struct pdf_document *pdf,
                      int page, const char *path, int H, int W, char *err, size_t errlen);

// Renders or decodes the picture, resizes and encodes it into rows, (H/28)(W/28) rows of
// the projection width. H x W is what picture_size gave: a file that has changed size
// since is an error.
bool picture_encode(const struct picture_settings *s, const struct qwen25vl_vision_model *v, struct pdf_document *pdf,
                    int page, const char *path, int H, int W, int n_threads, float *rows, char *err, size_t errlen);
