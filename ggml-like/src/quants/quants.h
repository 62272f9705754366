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

// Q4_0 <-> Q4_0_X16 and Q4_1 <-> Q4_1_X16 (blocks.h; nf = 1 or 2 fp16 fields a block):
// n weights in rows of ne0, lossless both ways.
void x16_regroup(int nf, const void *src, void *dst, int64_t n, int64_t ne0, bool to_x16);
void x16_group_to_blocks(int nf, const void *group, void *blocks);   // one group's 16 blocks
void dequantize_q4_0_x16(const void *x, float *y, int64_t n);
void dequantize_q4_1_x16(const void *x, float *y, int64_t n);
float vec_dot_q4_0_x16_q8_0(int64_t n, const void *x, const void *y);
float vec_dot_q4_1_x16_q8_0(int64_t n, const void *x, const void *y);
// Q4_K <-> Q4_K_X8 and Q5_K <-> Q5_K_X8 (blocks.h): n weights in rows of ne0, lossless
// both ways.
void x8_regroup(bool q5, const void *src, void *dst, int64_t n, int64_t ne0, bool to_x8);
void x8_group_to_blocks(bool q5, const void *group, void *blocks);   // one group's 8 blocks
void dequantize_q4_K_x8(const void *x, float *y, int64_t n);
void dequantize_q5_K_x8(const void *x, float *y, int64_t n);
float vec_dot_q4_K_x8_q8_K(int64_t n, const void *x, const void *y);
float vec_dot_q5_K_x8_q8_K(int64_t n, const void *x, const void *y);

// GGUF's rounding of the K quantizers: to nearest, ties to even (valid for |v| < 2^22).
static inline int nearest_int(float v) {
    return (int)__builtin_lrintf(v);
}
