// Q4_0_X16 and Q4_1_X16: Q4_0 / Q4_1 weights regrouped for the CPU's one-token kernels
// (see blocks.h). The bytes are a permutation of the file format's, so every value here
// is computed by way of that format's own reference functions: converting back and forth
// is lossless, and the dot is the file format's reference dot, bit for bit. Functions
// taking n weights take one row (or rows whose length is a multiple of 512): the tail's
// place depends on the row length.
#include "tl-impl.h"
#include "quants.h"

// Byte k of block i of a group (its nf fp16 fields, then 16 code bytes) and that byte's
// place in the X16 group; one walk serves both directions. The tail's blocks are the
// same bytes in both layouts.
static void regroup_row(int nf, const uint8_t *src, uint8_t *dst, int64_t n, bool to_x16) {
    const int bsz = x16_block_bytes(nf), gsz = x16_group_bytes(nf);
    const int64_t groups = n / X16_ELEMS;
    for (int64_t g = 0; g < groups; g++, src += gsz, dst += gsz)
        for (int i = 0; i < X16_BLOCKS; i++)
            for (int k = 0; k < bsz; k++) {
                int in_block = bsz * i + k;
                int in_group = k < 2 * nf ? x16_field_offset(k / 2, i) + k % 2 : x16_code_offset(nf, i, k - 2 * nf);
                if (to_x16) dst[in_group] = src[in_block];
                else dst[in_block] = src[in_group];
            }
    memcpy(dst, src, (size_t)(n - groups * X16_ELEMS) / QK_LEGACY * bsz);
}

void x16_regroup(int nf, const void *src, void *dst, int64_t n, int64_t ne0, bool to_x16) {
    TL_ASSERT(ne0 > 0 && ne0 % QK_LEGACY == 0 && n % ne0 == 0);
    const size_t row = (size_t)ne0 / QK_LEGACY * x16_block_bytes(nf);
    for (int64_t r = 0; r < n / ne0; r++)
        regroup_row(nf, (const uint8_t *)src + r * row, (uint8_t *)dst + r * row, ne0, to_x16);
}

void x16_group_to_blocks(int nf, const void *group, void *blocks) { regroup_row(nf, group, blocks, X16_ELEMS, false); }

// One row of n weights in the file format, a group at a time, through `f`.
static void dequantize_x16(int nf, const void *x, float *y, int64_t n, tl_to_float_fn f) {
    uint8_t tmp[X16_BLOCKS * sizeof(block_q4_1)];
    const int gsz = x16_group_bytes(nf);
    const int64_t groups = n / X16_ELEMS;
    for (int64_t g = 0; g < groups; g++) {
        x16_group_to_blocks(nf, (const uint8_t *)x + g * gsz, tmp);
        f(tmp, y + g * X16_ELEMS, X16_ELEMS);
    }
    f((const uint8_t *)x + groups * gsz, y + groups * X16_ELEMS, n - groups * X16_ELEMS);
}

// The file format's reference dot `f`, block by block, adding the block terms in the
// same order as it does.
static float vec_dot_x16(int nf, int64_t n, const void *x, const void *y, float (*f)(int64_t, const void *, const void *)) {
    uint8_t tmp[X16_BLOCKS * sizeof(block_q4_1)];
    const block_q8_0 *a = y;
    const int bsz = x16_block_bytes(nf), gsz = x16_group_bytes(nf);
    const int64_t groups = n / X16_ELEMS;
    float s = 0;
    for (int64_t g = 0; g < groups; g++) {
        x16_group_to_blocks(nf, (const uint8_t *)x + g * gsz, tmp);
        for (int i = 0; i < X16_BLOCKS; i++) s += f(QK_LEGACY, tmp + i * bsz, &a[g * X16_BLOCKS + i]);
    }
    const uint8_t *tail = (const uint8_t *)x + groups * gsz;
    for (int64_t b = 0; b < (n - groups * X16_ELEMS) / QK_LEGACY; b++)
        s += f(QK_LEGACY, tail + b * bsz, &a[groups * X16_BLOCKS + b]);
    return s;
}

void dequantize_q4_0_x16(const void *x, float *y, int64_t n) { dequantize_x16(1, x, y, n, dequantize_q4_0); }
void dequantize_q4_1_x16(const void *x, float *y, int64_t n) { dequantize_x16(2, x, y, n, dequantize_q4_1); }
float vec_dot_q4_0_x16_q8_0(int64_t n, const void *x, const void *y) { return vec_dot_x16(1, n, x, y, vec_dot_q4_0_q8_0); }
float vec_dot_q4_1_x16_q8_0(int64_t n, const void *x, const void *y) { return vec_dot_x16(2, n, x, y, vec_dot_q4_1_q8_0); }

// Q4_K <-> Q4_K_X8 and Q5_K <-> Q5_K_X8 (blocks.h): one walk over each group's bytes
// serves both directions; the tail's blocks are the same bytes in both layouts.
static void regroup_k_row(bool q5, const uint8_t *src, uint8_t *dst, int64_t n, bool to_x8) {
    const int bsz = x8_block_bytes(q5), gsz = x8_group_bytes(q5);
    const int64_t groups = n / X8_ELEMS;
    for (int64_t g = 0; g < groups; g++, src += gsz, dst += gsz)
        for (int i = 0; i < X8_BLOCKS; i++)
            for (int k = 0; k < bsz; k++) {
                int in_block = bsz * i + k, in_group = x8_offset(q5, i, k);
                if (to_x8) dst[in_group] = src[in_block];
                else dst[in_block] = src[in_group];
            }
    memcpy(dst, src, (size_t)(n - groups * X8_ELEMS) / QK_K * bsz);
}

void x8_regroup(bool q5, const void *src, void *dst, int64_t n, int64_t ne0, bool to_x8) {
    TL_ASSERT(ne0 > 0 && ne0 % QK_K == 0 && n % ne0 == 0);
    const size_t row = (size_t)ne0 / QK_K * x8_block_bytes(q5);
    for (int64_t r = 0; r < n / ne0; r++)
        regroup_k_row(q5, (const uint8_t *)src + r * row, (uint8_t *)dst + r * row, ne0, to_x8);
}

void x8_group_to_blocks(bool q5, const void *group, void *blocks) { regroup_k_row(q5, group, blocks, X8_ELEMS, false); }

static void dequantize_x8(bool q5, const void *x, float *y, int64_t n, tl_to_float_fn f) {
    uint8_t tmp[X8_BLOCKS * sizeof(block_q5_K)];
    const int gsz = x8_group_bytes(q5);
    const int64_t groups = n / X8_ELEMS;
    for (int64_t g = 0; g < groups; g++) {
        x8_group_to_blocks(q5, (const uint8_t *)x + g * gsz, tmp);
        f(tmp, y + g * X8_ELEMS, X8_ELEMS);
    }
    f((const uint8_t *)x + groups * gsz, y + groups * X8_ELEMS, n - groups * X8_ELEMS);
}

// The file format's reference dot `f`, block by block, adding the block terms in the
// same order as it does.
static float vec_dot_x8(bool q5, int64_t n, const void *x, const void *y, float (*f)(int64_t, const void *, const void *)) {
    uint8_t tmp[X8_BLOCKS * sizeof(block_q5_K)];
    const block_q8_K *a = y;
    const int bsz = x8_block_bytes(q5), gsz = x8_group_bytes(q5);
    const int64_t groups = n / X8_ELEMS;
    float s = 0;
    for (int64_t g = 0; g < groups; g++) {
        x8_group_to_blocks(q5, (const uint8_t *)x + g * gsz, tmp);
        for (int i = 0; i < X8_BLOCKS; i++) s += f(QK_K, tmp + i * bsz, &a[g * X8_BLOCKS + i]);
    }
    const uint8_t *tail = (const uint8_t *)x + groups * gsz;
    for (int64_t b = 0; b < (n - groups * X8_ELEMS) / QK_K; b++) s += f(QK_K, tail + b * bsz, &a[groups * X8_BLOCKS + b]);
    return s;
}

void dequantize_q4_K_x8(const void *x, float *y, int64_t n) { dequantize_x8(false, x, y, n, dequantize_q4_K); }
void dequantize_q5_K_x8(const void *x, float *y, int64_t n) { dequantize_x8(true, x, y, n, dequantize_q5_K); }
float vec_dot_q4_K_x8_q8_K(int64_t n, const void *x, const void *y) { return vec_dot_x8(false, n, x, y, vec_dot_q4_K_q8_K); }
float vec_dot_q5_K_x8_q8_K(int64_t n, const void *x, const void *y) { return vec_dot_x8(true, n, x, y, vec_dot_q5_K_q8_K); }
