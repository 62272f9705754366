// image-preprocess.h: the Qwen2.5-VL image processor (spec section 3, HF's slow path):
// smart_resize (chat-template.h) gives the target size, the 8-bit RGB image is resized
// with Pillow's BICUBIC filter and normalised to float32 for the vision tower.
//
// The resize reproduces Pillow's integer arithmetic (Image.resize, resample=BICUBIC,
// no reducing_gap) byte for byte: separable passes, horizontal first, each output a
// weighted sum of the inputs under a cubic kernel (a = -0.5) stretched by the scale when
// shrinking (antialiasing), the weights normalised and turned into 22-bit fixed point,
// the intermediate image rounded and clipped to 8 bits. tests/reference checks it
// against Pillow itself.
#pragma once

#include "page-source.h"

#include <stdbool.h>
#include <stddef.h>

// dst->w and dst->h say the size wanted; dst->px is allocated here.
bool image_resize_bicubic(const struct rgb_image *src, struct rgb_image *dst, char *err, size_t errlen);

// out[h][w][3] = (v / 255 - mean[c]) / std[c], in float32 as the processor computes it.
void image_normalize(const struct rgb_image *im, const float mean[3], const float std[3], float *out);

// The whole processor: smart_resize within [min_pixels, max_pixels] (0: the defaults),
// resize, normalise. Returns malloc'd [H][W][3] floats and the size in *H, *W.
float *qwen25vl_preprocess(const struct rgb_image *im, int64_t min_pixels, int64_t max_pixels, const float mean[3],
                           const float std[3], int *H, int *W, char *err, size_t errlen);
