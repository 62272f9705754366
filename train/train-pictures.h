// train-pictures.h: the pictures of training instances through a frozen vision tower.
//
// An instance may look at PDF pages and image files (train-data.h). Each picture's merged
// vision rows replace its <|image_pad|> tokens' embeddings; the tower is frozen, so the
// rows are a function of the picture, the settings and the projector, computed once and
// kept in the on-disk embedding cache (embd-cache.h, the one `longvl run --cache-dir`
// uses), so every later epoch, and every other question about the same page, reads them
// back instead of running the tower. Nothing flows back into the tower: the rows'
// gradient is dropped.
//
// Sizes come without rendering (picture.h), so an instance's token count is known when
// it is packed. Documents stay open in a small table (a PDF is opened and hashed once,
// not once per question).
#pragma once

#include "picture.h"
#include "train-data.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tl_vk_backend;

struct train_pictures_options {
    const char *mmproj;       // the projector GGUF (the frozen tower)
    const char *cache_dir;    // the embedding cache's folder
    struct picture_settings settings;
    int n_threads;
    struct tl_vk_backend *vk; // encode on this Vulkan device (NULL: the CPU)
};

struct train_pictures_stats {
    int64_t encoded, cached;   // pictures run through the tower, and read from the cache
    int64_t rendered;          // pictures rendered for a trainable tower (train_pictures_pixels)
    double encode_seconds;
    const char *device;        // where the frozen tower encodes: a Vulkan device's name or "the CPU"
};

struct train_pictures;

// Loads the projector, whose projection width must be n_embd; pad is the model's
// <|image_pad|> id (the token an instance's picture stands at). NULL with a message.
struct train_pictures *train_pictures_open(const struct train_pictures_options *o, int64_t n_embd, int32_t pad,
                                           char *err, size_t errlen);
void train_pictures_free(struct train_pictures *tp);

int32_t train_pictures_pad(const struct train_pictures *tp);
struct train_pictures_stats train_pictures_stats(const struct train_pictures *tp);

// The merged grid (lh rows x lw columns of vision rows) of page `page` (0-based) of the
// PDF at path, or of the image file at path when page < 0.
bool train_pictures_grid(struct train_pictures *tp, const char *path, int page, int32_t *lh, int32_t *lw, char *err,
                         size_t errlen);

// The picture's lh * lw rows of n_embd floats: from the cache, or encoded and cached.
bool train_pictures_rows(struct train_pictures *tp, const struct train_picture *pic, float *rows, char *err,
                         size_t errlen);

// The picture's normalised pixels [lh * 28][lw * 28][3] (malloc'd), for a trainable
// tower; NULL with a message.
float *train_pictures_pixels(struct train_pictures *tp, const struct train_picture *pic, char *err, size_t errlen);
