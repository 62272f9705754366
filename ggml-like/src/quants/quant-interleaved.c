// Q4_0_X16: Q4_0 weights regrouped for the CPU's one-token kernels (see blocks.h). The
// bytes are a permutation of Q4_0's, so every value here is computed by way of Q4_0's
// own reference functions: converting back and forth is lossless, and the dot is Q4_0's
// reference dot, bit for bit.
#include "tl-impl.h"
#include "quants.h"

// Byte k of Q4_0 block i of a group (its 2-byte scale, then 16 code bytes) and that
// byte's place in the Q4_0_X16 group; one walk serves both directions.
static void regroup(const uint8_t *src, uint8_t *dst, int64_t n, bool to_x16) {
    TL_ASSERT(n % X16_ELEMS == 0);
    for (int64_t g = 0; g < n / X16_ELEMS; g++, src += X16_GROUP_BYTES, dst += X16_GROUP_BYTES)
        for (int i = 0; i < X16_BLOCKS; i++)
            for (int k = 0; k < (int)sizeof(block_q4_0); k++) {
                int in_block = (int)sizeof(block_q4_0) * i + k;
                int in_group = k < 2 ? 2 * i + k : x16_code_offset(i, k - 2);
                if (to_x16) dst[in_group] = src[in_block];
                else dst[in_block] = src[in_group];
            }
}

void q4_0_to_x16(const void *src, void *dst, int64_t n) { regroup(src, dst, n, true); }
void x16_to_q4_0(const void *src, void *dst, int64_t n) { regroup(src, dst, n, false); }

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
