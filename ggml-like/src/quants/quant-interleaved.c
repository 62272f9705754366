// Q4_0_X16: Q4_0 weights regrouped for the CPU's one-token kernels (see blocks.h). The
// bytes are a permutation of Q4_0's, so every value here is computed by way of Q4_0's
// own reference functions: converting back and forth is lossless, and the dot is Q4_0's
// reference dot, bit for bit.
#include "tl-impl.h"
#include "quants.h"

// Q4_0 byte j of a block (j < 16) sits in the group's code chunk j / 4, at lane (block) i,
// byte j % 4 of that lane.
static size_t x16_code_offset(int block, int j) { return X16_SCALE_BYTES + 64 * (size_t)(j / 4) + 4 * block + j % 4; }

void q4_0_to_x16(const void *src, void *dst, int64_t n) {
    TL_ASSERT(n % X16_ELEMS == 0);
    const block_q4_0 *x = src;
    uint8_t *y = dst;
    for (int64_t g = 0; g < n / X16_ELEMS; g++, x += X16_BLOCKS, y += X16_GROUP_BYTES)
        for (int i = 0; i < X16_BLOCKS; i++) {
            memcpy(y + 2 * i, &x[i].d, 2);
            for (int j = 0; j < QK_LEGACY / 2; j++) y[x16_code_offset(i, j)] = x[i].qs[j];
        }
}

void x16_to_q4_0(const void *src, void *dst, int64_t n) {
    TL_ASSERT(n % X16_ELEMS == 0);
    const uint8_t *x = src;
    block_q4_0 *y = dst;
    for (int64_t g = 0; g < n / X16_ELEMS; g++, x += X16_GROUP_BYTES, y += X16_BLOCKS)
        for (int i = 0; i < X16_BLOCKS; i++) {
            memcpy(&y[i].d, x + 2 * i, 2);
            for (int j = 0; j < QK_LEGACY / 2; j++) y[i].qs[j] = x[x16_code_offset(i, j)];
        }
}

void dequantize_q4_0_x16(const void *x, float *y, int64_t n) {
    block_q4_0 tmp[X16_BLOCKS];
    for (int64_t g = 0; g < n / X16_ELEMS; g++) {
        x16_to_q4_0((const uint8_t *)x + g * X16_GROUP_BYTES, tmp, X16_ELEMS);
        dequantize_q4_0(tmp, y + g * X16_ELEMS, X16_ELEMS);
    }
}

// Q4_0's reference dot, group by group, adding the block terms in the same order.
float vec_dot_q4_0_x16_q8_0(int64_t n, const void *x, const void *y) {
    TL_ASSERT(n % X16_ELEMS == 0);
    block_q4_0 tmp[X16_BLOCKS];
    const block_q8_0 *a = y;
    float s = 0;
    for (int64_t g = 0; g < n / X16_ELEMS; g++) {
        x16_to_q4_0((const uint8_t *)x + g * X16_GROUP_BYTES, tmp, X16_ELEMS);
        for (int i = 0; i < X16_BLOCKS; i++) s += vec_dot_q4_0_q8_0(QK_LEGACY, &tmp[i], &a[g * X16_BLOCKS + i]);
    }
    return s;
}
