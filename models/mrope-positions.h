// mrope-positions.h: the (t, h, w) position ids of Qwen2.5-VL's multimodal RoPE for a
// sequence of text and images (HuggingFace get_rope_index; spec section 6).
//
// Text advances all three streams by one per token. An image of lh x lw merged tokens
// (grid_h/2 x grid_w/2) placed at `base` gives token (y, x) the positions
// (base, base + y, base + x); the text after it continues from base + max(lh, lw).
// So a 2,580-token A4 page advances the counter by only 60.
//
//     struct qwen25vl_image_span img = { .start = 4, .lh = 2, .lw = 3 };
//     int32_t pos[3 * n], next;
//     qwen25vl_mrope_positions(n, 0, &img, 1, pos, &next, err, sizeof err);
//     // pos[0*n + i], pos[1*n + i], pos[2*n + i]: t, h, w of token i; next = max + 1
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Where an image's merged tokens sit in the sequence: lh * lw consecutive tokens (row
// by row) from index `start`.
struct qwen25vl_image_span {
    int64_t start;
    int32_t lh, lw;   // merged rows and columns (grid_h / 2, grid_w / 2)
};

// Positions for tokens [0, n) of a sequence whose first token gets position `first`
// (0 for a new conversation; a previous call's *next to continue one). Spans must be in
// order, not overlap and lie inside [0, n). pos has 3 * n entries (stream-major: all t,
// then all h, then all w), the layout tl_rope expects. *next receives 1 + the largest
// position given out, where the next token continues. false with a message otherwise.
bool qwen25vl_mrope_positions(int64_t n, int32_t first, const struct qwen25vl_image_span *spans, int n_spans,
                              int32_t *pos, int32_t *next, char *err, size_t errlen);
