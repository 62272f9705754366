// GGUF -> quantized GGUF (`longvl quantize`), for the text model and the mmproj file.
//
// Which type each tensor gets (quantize_tensor_type):
//   - 1-D tensors (norms, biases) and tensors not named *.weight: f32
//   - every other weight: the scheme's base type, except in the K mixes (q4_k_m, q5_k_m)
//     where output.weight, token_embd.weight of a model with tied output, and attn_v /
//     ffn_down of the layers use_more_bits picks get q6_K, as llama.cpp's *_K_M do;
//     q4_0 and q4_1 also give output.weight q6_K
//   - a row length the block size does not divide falls back to q8_0 (when 32 divides
//     it) or f16
// Integer tensors are copied. Quantized inputs are refused: quantize from f32/f16/bf16.
#pragma once

#include "tl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum quant_scheme {
    QUANT_Q4_0, QUANT_Q4_1, QUANT_Q8_0, QUANT_Q4_K_M, QUANT_Q5_K_M, QUANT_Q6_K, QUANT_F16,
    QUANT_SCHEME_COUNT,
};

bool quant_scheme_parse(const char *s, enum quant_scheme *scheme);
const char *quant_scheme_name(enum quant_scheme scheme);
uint32_t quant_scheme_file_type(enum quant_scheme scheme);   // general.file_type (llama_ftype)

// llama.cpp's choice of layers that get more bits in the K mixes: the first and last
// eighth, and every third layer in between.
bool quant_use_more_bits(int i_layer, int n_layers);

// What a tensor becomes. n_attn_v / n_ffn_down: how many such tensors the file has;
// has_output: the file has output.weight (else token_embd is the tied output).
struct quant_model_facts { int n_attn_v, n_ffn_down; bool has_output; };
enum tl_type quantize_tensor_type(enum quant_scheme scheme, const struct quant_model_facts *facts,
                                  const char *name, uint32_t n_dims, const int64_t *ne, enum tl_type in_type);

struct quantize_options {
    const char *in_path, *out_path;
    enum quant_scheme scheme;
    int n_threads;
    bool progress;
};

struct quantize_result {
    int n_tensors, n_quantized;
    int n_by_type[TL_TYPE_COUNT];
    uint64_t bytes_in, bytes_out;
    double seconds;
};

// Writes out_path through a temporary file; on failure nothing is left behind and err
// says why (a bad or quantized input, a non-finite weight, a full disk, ...).
bool quantize_gguf(const struct quantize_options *o, struct quantize_result *r, char *err, size_t errlen);
