// Private to libtl: the reference (scalar) kernels of the block formats, which the
// type-traits table points at and every fast path is tested against.
//
// quantize_*: n floats (a multiple of the block size) to blocks, byte for byte what
//   GGUF's reference quantizers (ggml-quants.c, *_ref) write for the same input.
// dequantize_*: blocks back to n floats.
// vec_dot_*: dot product of n weights in that format with n activations quantized to the
//   format's activation partner (Q8_0 for Q4_0/Q4_1/Q8_0, Q8_K for the K formats).
//   Integer sums are formed per block (exact), then scaled in float.
#pragma once

#include "blocks.h"
#include "tl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void quantize_q4_0(const float *x, void *y, int64_t n);
void quantize_q4_1(const float *x, void *y, int64_t n);
void quantize_q8_0(const float *x, void *y, int64_t n);
void quantize_q4_K(const float *x, void *y, int64_t n);
void quantize_q5_K(const float *x, void *y, int64_t n);
void quantize_q6_K(const float *x, void *y, int64_t n);
void quantize_q8_K(const float *x, void *y, int64_t n);

void dequantize_q4_0(const void *x, float *y, int64_t n);
void dequantize_q4_1(const void *x, float *y, int64_t n);
void dequantize_q8_0(const void *x, float *y, int64_t n);
void dequantize_q4_K(const void *x, float *y, int64_t n);
void dequantize_q5_K(const void *x, float *y, int64_t n);
void dequantize_q6_K(const void *x, float *y, int64_t n);
void dequantize_q8_K(const void *x, float *y, int64_t n);

float vec_dot_q4_0_q8_0(int64_t n, const void *x, const void *y);
float vec_dot_q4_1_q8_0(int64_t n, const void *x, const void *y);
float vec_dot_q8_0_q8_0(int64_t n, const void *x, const void *y);
float vec_dot_q4_K_q8_K(int64_t n, const void *x, const void *y);
float vec_dot_q5_K_q8_K(int64_t n, const void *x, const void *y);
float vec_dot_q6_K_q8_K(int64_t n, const void *x, const void *y);

// The CPU layouts (blocks.h): n weights in rows of ne0 of the file format to its layout
// (to_cpu) or back; lossless both ways. Then their reference functions, by way of the
// file format's.
void cpu_layout_regroup(enum tl_type file, const void *src, void *dst, int64_t n, int64_t ne0, bool to_cpu);
// The R8 layouts (file: Q4_0, Q4_1, Q8_0, Q4_K, Q5_K or Q6_K): a matrix of n weights in
// rows of ne0 (a multiple of 8 rows) to the layout (to_cpu) or back; panel p of a matrix
// of M rows back to the file format's 8 contiguous rows.
void cpu_panels_regroup(enum tl_type file, const void *src, void *dst, int64_t n, int64_t ne0, bool to_cpu);
void cpu_panel_rows(enum tl_type file, const void *matrix, int64_t M, int64_t ne0, int64_t p, void *rows);
// Where panel p's chunk from weight k0 starts in a matrix of M rows of K weights of the
// panel layout t (or its file format: the sizes are the same; blocks.h).
static inline size_t panel_chunk_offset(enum tl_type t, int64_t M, int64_t K, int64_t p, int64_t k0) {
    const struct tl_type_traits *tt = tl_type_traits(t);
    return panel_chunk_at(M, K, p, k0, (int)tt->block_size, tt->type_size);
}
void dequantize_q4_0_x16(const void *x, float *y, int64_t n);
void dequantize_q4_1_x16(const void *x, float *y, int64_t n);
void dequantize_q4_K_x8(const void *x, float *y, int64_t n);
void dequantize_q5_K_x8(const void *x, float *y, int64_t n);
void dequantize_q8_0_x8(const void *x, float *y, int64_t n);
float vec_dot_q4_0_x16_q8_0(int64_t n, const void *x, const void *y);
float vec_dot_q4_1_x16_q8_0(int64_t n, const void *x, const void *y);
float vec_dot_q4_K_x8_q8_K(int64_t n, const void *x, const void *y);
float vec_dot_q5_K_x8_q8_K(int64_t n, const void *x, const void *y);
float vec_dot_q8_0_x8_q8_0(int64_t n, const void *x, const void *y);

// GGUF's rounding of the K quantizers: to nearest, ties to even (valid for |v| < 2^22).
static inline int nearest_int(float v) {
    return (int)__builtin_lrintf(v);
}
