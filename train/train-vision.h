// train-vision.h: a trainable vision tower (train-longpt --train-vision): the projector's
// tensors as f32 master parameters with AdamW moments (train-model.h's train_param), and
// one picture's forward and backward pass through them.
//
// The text step (train-step.h) puts each picture's rows from train_vision_forward in
// place of its <|image_pad|> embeddings. After the text backward pass, the gradient of
// those rows (the first segment's input gradient there) goes to train_vision_backward,
// which recomputes the tower and adds every tensor's gradient to its accumulator.
//
// Like the text model, the backward pass is checkpointed per run of checkpoint_every
// blocks: a picture of n patches keeps S = ceil(n_layer / E) segment inputs of
// n x n_embd floats plus one segment's graph (attention is the fused windowed op, O(n)).
// The patch embedding runs in the first segment and the merger in the last.
#pragma once

#include "qwen25vl-vision.h"
#include "train-model.h"

#include <stdbool.h>
#include <stddef.h>

struct train_vision {
    struct qwen25vl_vision_model v;   // tensors: the masters below; v.file: the projector (metadata)
    struct tl_context *pctx;          // the masters' headers
    struct train_param *params;       // in the projector's tensor order
    int n_params;
};

// Loads the projector at mmproj as parameters; with weights (an open train-longpt
// checkpoint that trained the tower) not NULL, the tensors come from there instead.
bool train_vision_load(struct train_vision *tv, const char *mmproj, const struct tl_gguf *weights, char *err,
                       size_t errlen);
void train_vision_free(struct train_vision *tv);

// How the graphs run: blocks per recomputed segment, threads, the type the matrices are
// cast to for their products (TL_F32: none; the masters and gradients stay f32), the
// graph buffer (kept across calls), a Vulkan mirror to run them on (NULL: the CPU), and
// the largest graph buffer seen (updated).
struct train_vision_exec {
    int checkpoint_every, n_threads;
    enum tl_type compute_type;
    struct tl_gallocr *alloc;
    struct tl_vk_mirror *mirror;
    size_t peak;
};

// One picture (normalised pixels [H][W][3], H and W multiples of 28) forward: rows
// [(H/28)(W/28)][projection_dim] in raster order.
bool train_vision_forward(struct train_vision *tv, struct train_vision_exec *ex, const float *pixels, int H, int W,
                          float *rows, char *err, size_t errlen);

// Adds to every tensor's gradient accumulator d(loss)/d(tensor), given drows, the
// gradient of the loss with respect to the picture's rows (raster order).
bool train_vision_backward(struct train_vision *tv, struct train_vision_exec *ex, const float *pixels, int H, int W,
                           const float *drows, char *err, size_t errlen);

// The tower as a projector GGUF: the source projector's metadata and every tensor as
// its f32 master, written to a temporary name and renamed.
bool train_vision_write(const struct train_vision *tv, const char *path, char *err, size_t errlen);
