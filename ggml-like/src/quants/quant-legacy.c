// Reference kernels of the 32-weight formats Q4_0, Q4_1 and Q8_0.
#include "quants.h"
#include "tl.h"

#include <float.h>
#include <math.h>

void quantize_q4_0(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    for (int64_t b = 0; b < n / QK_LEGACY; b++, x += QK_LEGACY) {
        // the signed value of largest magnitude maps to -8, so the range is used fully
        float amax = 0, max = 0;
        for (int j = 0; j < QK_LEGACY; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = tl_fp32_to_fp16(d);
        for (int j = 0; j < QK_LEGACY / 2; j++) {
            int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + 16] * id + 8.5f);
            y[b].qs[j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

void quantize_q4_1(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    for (int64_t b = 0; b < n / QK_LEGACY; b++, x += QK_LEGACY) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK_LEGACY; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = tl_fp32_to_fp16(d);
        y[b].m = tl_fp32_to_fp16(min);
        for (int j = 0; j < QK_LEGACY / 2; j++) {
            int lo = (int)((x[j] - min) * id + 0.5f), hi = (int)((x[j + 16] - min) * id + 0.5f);
            y[b].qs[j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

void quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK_LEGACY; b++, x += QK_LEGACY) {
        float amax = 0;
        for (int j = 0; j < QK_LEGACY; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = tl_fp32_to_fp16(d);
        for (int j = 0; j < QK_LEGACY; j++) y[b].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void dequantize_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t b = 0; b < n / QK_LEGACY; b++, y += QK_LEGACY) {
        const float d = tl_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QK_LEGACY / 2; j++) {
            y[j] = ((x[b].qs[j] & 0xF) - 8) * d;
            y[j + 16] = ((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t b = 0; b < n / QK_LEGACY; b++, y += QK_LEGACY) {
        const float d = tl_fp16_to_fp32(x[b].d), m = tl_fp16_to_fp32(x[b].m);
        for (int j = 0; j < QK_LEGACY / 2; j++) {
            y[j] = (x[b].qs[j] & 0xF) * d + m;
            y[j + 16] = (x[b].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / QK_LEGACY; b++, y += QK_LEGACY) {
        const float d = tl_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QK_LEGACY; j++) y[j] = x[b].qs[j] * d;
    }
}

float vec_dot_q4_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float s = 0;
    for (int64_t b = 0; b < n / QK_LEGACY; b++) {
        int sumi = 0;
        for (int j = 0; j < QK_LEGACY / 2; j++)
            sumi += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
        s += (float)sumi * (tl_fp16_to_fp32(x[b].d) * tl_fp16_to_fp32(y[b].d));
    }
    return s;
}

// sum (d q + m) a dy = d dy sum(q a) + m dy sum(a)
float vec_dot_q4_1_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_0 *y = vy;
    float s = 0;
    for (int64_t b = 0; b < n / QK_LEGACY; b++) {
        int sumi = 0, suma = 0;
        for (int j = 0; j < QK_LEGACY / 2; j++) {
            sumi += (x[b].qs[j] & 0xF) * y[b].qs[j] + (x[b].qs[j] >> 4) * y[b].qs[j + 16];
            suma += y[b].qs[j] + y[b].qs[j + 16];
        }
        const float dy = tl_fp16_to_fp32(y[b].d);
        s += (float)sumi * (tl_fp16_to_fp32(x[b].d) * dy) + (float)suma * (tl_fp16_to_fp32(x[b].m) * dy);
    }
    return s;
}

float vec_dot_q8_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float s = 0;
    for (int64_t b = 0; b < n / QK_LEGACY; b++) {
        int sumi = 0;
        for (int j = 0; j < QK_LEGACY; j++) sumi += x[b].qs[j] * y[b].qs[j];
        s += (float)sumi * (tl_fp16_to_fp32(x[b].d) * tl_fp16_to_fp32(y[b].d));
    }
    return s;
}
