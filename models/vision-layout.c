// Patch order, rotary positions and attention windows of the vision tower; see vision-layout.h.
#include "vision-layout.h"

#include "tl.h"

#include <stdlib.h>
#include <string.h>

enum { PATCH = 14 };

bool vision_layout_init(struct vision_layout *l, int32_t gh, int32_t gw, int32_t window_units, char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    if (gh < 2 || gw < 2 || gh % 2 || gw % 2 || window_units < 1) {
        tl_errorf(err, errlen, "a grid of %d x %d patches is not made of 2x2 merge units", gh, gw);
        return false;
    }
    l->gh = gh, l->gw = gw, l->lh = gh / 2, l->lw = gw / 2;
    l->n_patches = (int64_t)gh * gw;
    int64_t units = (int64_t)l->lh * l->lw;
    l->window_index = malloc(units * sizeof *l->window_index);
    l->window_of = malloc(l->n_patches * sizeof *l->window_of);
    if (!l->window_index || !l->window_of) abort();
    // HuggingFace pads by a whole window when lh is already a multiple (4 - lh % 4); the
    // extra windows are empty and skipped, so the count of non-empty ones is what matters.
    int32_t nwh = (l->lh + window_units - 1) / window_units, nww = (l->lw + window_units - 1) / window_units;
    int64_t k = 0;
    for (int32_t wy = 0; wy < nwh; wy++)
        for (int32_t wx = 0; wx < nww; wx++) {
            int64_t first = k;
            for (int32_t y = wy * window_units; y < (wy + 1) * window_units && y < l->lh; y++)
                for (int32_t x = wx * window_units; x < (wx + 1) * window_units && x < l->lw; x++)
                    l->window_index[k++] = y * l->lw + x;
            for (int64_t j = first * 4; j < k * 4; j++) l->window_of[j] = l->n_windows;
            if (k > first) l->n_windows++;
        }
    return true;
}

void vision_layout_free(struct vision_layout *l) {
    free(l->window_index);
    free(l->window_of);
    memset(l, 0, sizeof *l);
}

void vision_layout_patchify(const struct vision_layout *l, const float *pixels, float *out) {
    int64_t W = (int64_t)l->gw * PATCH;
    for (int64_t k = 0; k < (int64_t)l->lh * l->lw; k++) {
        int32_t by = l->window_index[k] / l->lw, bx = l->window_index[k] % l->lw;
        for (int d = 0; d < 4; d++) {
            int64_t py = 2 * by + d / 2, px = 2 * bx + d % 2;
            float *row = out + (k * 4 + d) * 3 * PATCH * PATCH;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < PATCH; ky++)
                    for (int kx = 0; kx < PATCH; kx++)
                        row[(c * PATCH + ky) * PATCH + kx] = pixels[((py * PATCH + ky) * W + px * PATCH + kx) * 3 + c];
        }
    }
}

void vision_layout_positions(const struct vision_layout *l, int32_t *pos) {
    for (int64_t k = 0; k < (int64_t)l->lh * l->lw; k++) {
        int32_t by = l->window_index[k] / l->lw, bx = l->window_index[k] % l->lw;
        for (int d = 0; d < 4; d++) {
            pos[k * 4 + d] = 2 * by + d / 2;
            pos[l->n_patches + k * 4 + d] = 2 * bx + d % 2;
        }
    }
}
