// vision-layout.h: how Qwen2.5-VL's vision tower sees an image (spec sections 3.6, 4.2-4.4):
// the order of its 14x14 patches, their (row, column) for the 2-D rotary embedding, and
// the 112x112-pixel attention windows. Host-side integer bookkeeping, no model weights.
//
// Patches are grouped by merge unit (2x2 patches that become one LLM token): row
// r = (by * lw + bx) * 4 + dy * 2 + dx for patch (2 by + dy, 2 bx + dx). The window
// order then permutes whole merge units so that each window's units are consecutive.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vision_layout {
    int32_t gh, gw;          // patches down and across (H / 14, W / 14), both even
    int32_t lh, lw;          // merge units down and across (gh / 2, gw / 2)
    int64_t n_patches;       // gh * gw
    int32_t *window_index;   // [lh * lw]: window-order position k holds merge unit window_index[k]
    int32_t *window_of;      // [n_patches]: window id of each patch row, in window order
    int32_t n_windows;       // non-empty windows
};

// The layout of one still image of gh x gw patches with windows of `window_units` merge
// units square (window_size / merge / patch = 4). false if gh or gw is odd or < 2.
bool vision_layout_init(struct vision_layout *l, int32_t gh, int32_t gw, int32_t window_units, char *err, size_t errlen);
void vision_layout_free(struct vision_layout *l);

// Patch rows of normalised pixels [H][W][3] (H = 14 gh, W = 14 gw), in window order
// (merge-unit grouped, units permuted by window_index): out[n_patches][3 * 14 * 14], each
// row [c][ky][kx], the column order of one frame of the Conv3d patch embedding.
void vision_layout_patchify(const struct vision_layout *l, const float *pixels, float *out);

// Rotary positions in window order, 2 streams: pos[r] = patch row py, pos[n + r] = column px.
void vision_layout_positions(const struct vision_layout *l, int32_t *pos);
