// Q4_0_X16: Q4_0 weights regrouped for the CPU's one-token kernels (see blocks.h). The
// bytes are a permutation of Q4_0's, so every value here is computed by way of Q4_0's
// own reference functions: converting back and forth is lossless, and the dot is Q4_0's
// reference dot, bit for bit. Functions taking n weights take one row (or rows whose
// length is a multiple of 512): the tail's place depends on the row length.
#include "tl-impl.h"
#include "quants.h"

// Byte k of Q4_0 block i of a group (its 2-byte scale, then 16 code bytes) and that
// byte's place in the Q4_0_X16 group; one walk serves both directions. The tail's
// blocks are the same bytes in both layouts.
static void regroup_row(const uint8_t *src, uint8_t *dst, int64_t n, bool to_x16) {
    const int64_t groups = n / X16_ELEMS;
    for (int64_t g = 0; g < groups; g++, src += X16_GROUP_BYTES, dst += X16_GROUP_BYTES)
        for (int i = 0; i < X16_BLOCKS; i++)
            for (int k = 0; k < (int)sizeof(block_q4_0); k++) {
                int in_block = (int)sizeof(block_q4_0) * i + k;
                int in_group = k < 2 ? 2 * i + k : x16_code_offset(i, k - 2);
                if (to_x16) dst[in_group] = src[in_block];
                else dst[in_block] = src[in_group];
            }
    memcpy(dst, src, (size_t)(n - groups * X16_ELEMS) / QK_LEGACY * sizeof(block_q4_0));
}

static void regroup(const uint8_t *src, uint8_t *dst, int64_t n, int64_t ne0, bool to_x16) {
    TL_ASSERT(ne0 > 0 && ne0 % QK_LEGACY == 0 && n % ne0 == 0);
    const size_t row = (size_t)ne0 / QK_LEGACY * sizeof(block_q4_0);
    for (int64_t r = 0; r < n / ne0; r++) regroup_row(src + r * row, dst + r * row, ne0, to_x16);
}

void q4_0_to_x16(const void *src, void *dst, int64_t n, int64_t ne0) { regroup(src, dst, n, ne0, true); }
void x16_to_q4_0(const void *src, void *dst, int64_t n, int64_t ne0) { regroup(src, dst, n, ne0, false); }

void dequantize_q4_0_x16(const void *x, float *y, int64_t n) {
    block_q4_0 tmp[X16_BLOCKS];
    const int64_t groups = n / X16_ELEMS;
    for (int64_t g = 0; g < groups; g++) {
        regroup_row((const uint8_t *)x + g * X16_GROUP_BYTES, (uint8_t *)tmp, X16_ELEMS, false);
        dequantize_q4_0(tmp, y + g * X16_ELEMS, X16_ELEMS);
    }
    dequantize_q4_0((const uint8_t *)x + groups * X16_GROUP_BYTES, y + groups * X16_ELEMS, n - groups * X16_ELEMS);
}

// Q4_0's reference dot, group by group, adding the block terms in the same order.
float vec_dot_q4_0_x16_q8_0(int64_t n, const void *x, const void *y) {
    block_q4_0 tmp[X16_BLOCKS];
    const block_q8_0 *a = y;
    const int64_t groups = n / X16_ELEMS;
    float s = 0;
    for (int64_t g = 0; g < groups; g++) {
        regroup_row((const uint8_t *)x + g * X16_GROUP_BYTES, (uint8_t *)tmp, X16_ELEMS, false);
        for (int i = 0; i < X16_BLOCKS; i++) s += vec_dot_q4_0_q8_0(QK_LEGACY, &tmp[i], &a[g * X16_BLOCKS + i]);
    }
    const block_q4_0 *tail = (const block_q4_0 *)((const uint8_t *)x + groups * X16_GROUP_BYTES);
    for (int64_t b = 0; b < (n - groups * X16_ELEMS) / QK_LEGACY; b++)
        s += vec_dot_q4_0_q8_0(QK_LEGACY, &tail[b], &a[groups * X16_BLOCKS + b]);
    return s;
}
