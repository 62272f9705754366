// train-graph.h: what the text and the vision steps share in running their graphs: host
// arrays as leaves, one graph buffer kept across calls, and a segment's backward pass
// with its gradients gathered into the parameters' accumulators.
#pragma once

#include "train-model.h"

struct tl_vk_mirror;

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

// A metadata context for the graph of `blocks` transformer blocks (and a head or stem).
struct tl_context *train_graph_context(int blocks);

// A leaf over a host array [ne1][ne0] (the allocator leaves tensors with data alone),
// flagged an input.
struct tl_tensor *train_leaf(struct tl_context *ctx, enum tl_type type, int64_t ne0, int64_t ne1, const void *data);

// Points every graph run at a flag (a SIGINT handler's): once it is set, a run stops
// at its next node and fails with "interrupted", so a long step ends within one op.
// The partly computed step must then be dropped. NULL: runs are never stopped.
void train_graph_set_cancel(const volatile sig_atomic_t *flag);
bool train_graph_cancelled(void);   // the flag is set

// Allocates g in ga (the largest buffer so far into *peak) and runs it on the CPU, or
// with a Vulkan mirror on its device (the nodes the device lacks on the CPU); false with
// a message when the buffer cannot be had, the device fails or the run was cancelled.
bool train_graph_run(struct tl_gallocr *ga, struct tl_vk_mirror *mirror, struct tl_graph *g, int n_threads, size_t *peak,
                     char *err, size_t errlen);

// Builds and runs the backward pass of out (the graph of `blocks` blocks) seeded with seed
// (out's gradient; a 1-element seed for a scalar loss), adds the gradient of every
// parameter leaf found in params[n_params] to its accumulator, and copies the gradient of
// the leaf x (a segment's stored input, marked a parameter; NULL: none) into dx.
bool train_graph_backward(struct tl_context *ctx, struct tl_tensor *out, struct tl_tensor *seed, int blocks,
                          struct tl_tensor *x, float *dx, struct train_param *params, int n_params,
                          struct tl_gallocr *ga, struct tl_vk_mirror *mirror, int n_threads, size_t *peak, char *err,
                          size_t errlen);
