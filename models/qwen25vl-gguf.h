// qwen25vl-gguf.h: Qwen2.5-VL as llama.cpp lays it out in GGUF: the hyperparameters of
// the text model file (architecture "qwen2vl") and of the vision projector file
// ("clip", projector "qwen2.5vl_merger"), and the exact tensor inventory of each.
//
// The converter writes files from these definitions and the loaders check files against
// them, so a file made here and one made by llama.cpp's convert_hf_to_gguf.py are
// judged by the same rules. Names and keys: ../shared/docs/gguf-qwen25vl-naming.md.
#pragma once

#include "tl-gguf.h"
#include "tl.h"

#include <stdbool.h>
#include <stdint.h>

#define QWEN25VL_TEXT_ARCH      "qwen2vl"
#define QWEN25VL_PROJECTOR_TYPE "qwen2.5vl_merger"

struct qwen25vl_text_hparams {
    uint32_t n_vocab;          // embedding rows (config vocab_size; may exceed the tokenizer)
    uint32_t n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim;
    uint32_t n_ctx_train;      // context_length
    float    rms_eps, rope_freq_base;
    int32_t  rope_sections[4]; // M-RoPE sections in rotary pairs: t, h, w, (unused)
    bool     tied_embeddings;  // no output.weight: the embedding is reused
};

struct qwen25vl_vision_hparams {
    uint32_t n_embd, n_ff, n_layer, n_head, head_dim;
    uint32_t projection_dim;   // = text n_embd
    uint32_t patch_size, image_size, spatial_merge_size, window_size;
    uint32_t n_wa_pattern;     // block i uses full attention iff (i+1) % n_wa_pattern == 0
    float    eps;
    float    image_mean[3], image_std[3];
    bool     use_silu;
};

struct qwen25vl_tensor_spec {
    char     name[TL_GGUF_MAX_NAME];
    uint32_t n_dims;
    int64_t  ne[4];            // GGUF order: ne[0] is the fastest (the input features)
};

// Checks of hyperparameters that every later layer relies on (head_dim * n_head ==
// n_embd, sections sum to head_dim / 2, ...). false with a message naming the field.
bool qwen25vl_text_hparams_valid(const struct qwen25vl_text_hparams *hp, char *err, size_t errlen);
bool qwen25vl_vision_hparams_valid(const struct qwen25vl_vision_hparams *hp, char *err, size_t errlen);

// The tensors a file must hold, in the order the converter writes them. The array is
// malloc'd; *n receives its length.
struct qwen25vl_tensor_spec *qwen25vl_text_tensor_specs(const struct qwen25vl_text_hparams *hp, int *n);
struct qwen25vl_tensor_spec *qwen25vl_vision_tensor_specs(const struct qwen25vl_vision_hparams *hp, int *n);

// Reading hyperparameters from a GGUF file, with llama.cpp's strict key typing (a u32 key
// written as i32 is refused) and its tolerances (per-layer arrays that are all equal,
// i32 or u32 rope sections, optional keys with their defaults).
bool qwen25vl_text_hparams_from_gguf(const struct tl_gguf *g, struct qwen25vl_text_hparams *hp, char *err,
                                     size_t errlen);
bool qwen25vl_vision_hparams_from_gguf(const struct tl_gguf *g, struct qwen25vl_vision_hparams *hp, char *err,
                                       size_t errlen);

// Every expected tensor present with its exact shape, of a float or block type, and no
// tensor that is not expected (llama.cpp refuses extra tensors too).
bool qwen25vl_check_tensors(const struct tl_gguf *g, const struct qwen25vl_tensor_spec *specs, int n, char *err,
                            size_t errlen);

// Writes the metadata keys of a text / projector file for these hyperparameters.
void qwen25vl_text_hparams_to_gguf(const struct qwen25vl_text_hparams *hp, struct tl_gguf *g);
void qwen25vl_vision_hparams_to_gguf(const struct qwen25vl_vision_hparams *hp, struct tl_gguf *g);

// A tensor header in wctx (a no_alloc context) for the tensor named fmt % layer of an
// open file, its data pointing into the file's mapping; NULL if the file lacks it or
// holds it in a type libtl cannot compute with.
struct tl_tensor *qwen25vl_bind_tensor(const struct tl_gguf *g, struct tl_context *wctx, const char *fmt, int layer);
