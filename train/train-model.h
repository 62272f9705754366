// train-model.h: a Qwen2.5-VL text model as trainable parameters: f32 master copies of
// every tensor (whatever type the file holds them in, block formats dequantized), each
// with its gradient accumulator and AdamW moments, and the graph of a run of decoder
// blocks built over them.
//
// Memory: 16 bytes per parameter (weight, gradient, two moments), like PyTorch's f32
// AdamW: 7.6B parameters take 122 GB, the tiny preset's 19.7M take 315 MB.
#pragma once

#include "qwen25vl-gguf.h"
#include "qwen25vl-text.h"
#include "tl.h"

#include <stdbool.h>
#include <stdint.h>

struct train_param {
    struct tl_tensor *w;     // header (TL_FLAG_PARAM) whose data is the f32 master
    float  *grad, *m, *v;    // accumulated gradient and AdamW moments, n floats each
    int64_t n;
    bool    decay;           // matrices take weight decay; norms and biases do not
};

// The tensor spec of file as a parameter: an f32 master filled from the file's data (any
// float or block type, row by row through the type's to_float), header in pctx; false
// with a message if the file lacks it or holds another shape.
bool train_param_load(struct train_param *p, struct tl_context *pctx, const struct tl_gguf *file,
                      const struct qwen25vl_tensor_spec *spec, char *err, size_t errlen);
void train_param_free(struct train_param *p);
// Every spec of file as a parameter: *params (n_specs of them) with their headers in a
// new context *pctx; false with a message, and nothing kept, if one cannot be loaded.
bool train_params_load(struct tl_context **pctx, struct train_param **params, int *n, const struct tl_gguf *file,
                       const struct qwen25vl_tensor_spec *specs, int n_specs, char *err, size_t errlen);
void train_params_free(struct tl_context *pctx, struct train_param *params, int n);
// Lookups in an array of parameters (NULL when absent).
struct train_param *train_param_named(struct train_param *params, int n, const char *name);
struct train_param *train_param_of(struct train_param *params, int n, const struct tl_tensor *t);

struct train_model {
    struct qwen25vl_text_hparams hp;
    struct tl_gguf *file;          // what the model was read from (metadata for outputs)
    struct tl_context *pctx;       // parameter headers
    struct train_param *params;    // in the text file's tensor order
    int n_params;
    struct tl_tensor *tok_embd, *output_norm, *output;   // output == tok_embd when tied
    struct qwen25vl_text_layer *layers;
};

// Reads a text GGUF (a model, or a train-longpt checkpoint: with_extra allows the
// optimizer tensors beside the model's). Checks every tensor's name and shape.
bool train_model_load(struct train_model *m, const char *path, bool with_extra, char *err, size_t errlen);
void train_model_free(struct train_model *m);

// The parameter holding a tensor (NULL if t is not one).
struct train_param *train_model_param(struct train_model *m, const struct tl_tensor *t);
void train_model_zero_grads(struct train_model *m);

// How a block graph computes.
struct train_graph_params {
    float   rope_base;
    enum tl_type compute_type;   // TL_F32, or TL_BF16 / TL_F16: weights cast for the products
};

// Decoder blocks [l0, l1) on x F32 [n_embd, N]: pos I32 [3N] (t, h, w streams), seg I32
// [N] (the packed instance of each token: attention stays inside one).
struct tl_tensor *train_blocks(struct tl_context *ctx, const struct train_model *m, int l0, int l1,
                               struct tl_tensor *x, struct tl_tensor *pos, struct tl_tensor *seg,
                               const struct train_graph_params *gp);
// The final norm of the rows of x named by rows (I32 [R]): the hidden states the
// loss or the prediction reads.
struct tl_tensor *train_head_rows(struct tl_context *ctx, const struct train_model *m, struct tl_tensor *x,
                                  struct tl_tensor *rows);
