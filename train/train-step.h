// train-step.h: the forward and backward pass of one packed sequence, with gradient
// checkpointing per run of decoder blocks.
//
// With --checkpoint-every E the n_layer blocks form S = ceil(n_layer / E) segments. The
// forward pass runs segments 0 .. S-2 as forward-only graphs and keeps each segment's
// input (N x n_embd floats); nothing inside a segment outlives it. The backward pass
// then goes from the last segment to the first: it rebuilds the segment's forward from
// its stored input (a param leaf), seeds its output with the gradient the segment after
// it produced, and runs forward + backward in one graph. The last segment's graph also
// holds the head (final norm, the loss on answer tokens), so it is never run twice.
// E = n_layer is no checkpointing: one graph holds the whole model.
//
// A pack's pictures enter as their vision rows in place of their <|image_pad|> tokens'
// embeddings: from the frozen tower's cache (train-pictures.h), where their gradient
// stops, or from a trainable tower (train-vision.h) run in the step, whose backward
// pass then takes the gradient of those rows.
//
// Memory: the stored inputs, 4 (S + 2) n_embd bytes per token, plus the graph of one
// segment (linear in tokens: attention is the fused chunked op both ways).
#pragma once

#include "train-data.h"
#include "train-model.h"

struct train_vision;
struct tl_vk_mirror;

struct train_step_params {
    struct train_graph_params graph;
    int checkpoint_every;   // blocks per segment (>= 1)
    int n_threads;
    struct tl_gallocr *alloc;   // the graphs' buffer, kept across steps (NULL: one per call)
    struct train_pictures *pictures;   // the pictures of packs (their frozen tower's rows, their pixels)
    struct train_vision *vision;       // a trainable tower (NULL: the frozen one)
    struct tl_vk_mirror *mirror;       // run the graphs on this Vulkan device (NULL: the CPU);
                                       // the caller refreshes it after changing the weights
};

// Adds the gradient of loss_scale * (sum of the pack's answer-token losses) to every
// parameter's accumulator; *loss_sum gets that sum (nats). Memory peak in *peak_bytes
// (the stored segment inputs plus the largest graph buffer), if not NULL.
bool train_step_pack(struct train_model *m, const struct train_pack *p, const struct train_step_params *sp,
                     float loss_scale, double *loss_sum, size_t *peak_bytes, char *err, size_t errlen);

// Greedy predictions of the pack's answer tokens (the argmax at each loss row) into
// pred[n_rows]; forward only.
bool train_predict_pack(struct train_model *m, const struct train_pack *p, const struct train_step_params *sp,
                        int32_t *pred, char *err, size_t errlen);
