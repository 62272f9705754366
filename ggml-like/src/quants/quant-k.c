// Reference kernels of the 256-weight "K" formats Q4_K, Q5_K, Q6_K and of Q8_K, their
// activation partner.
//
// The quantizers search for the sub-block scales (and mins) that minimise a weighted
// squared error, then quantize the scales themselves to 6 or 8 bits under one fp16
// super-scale, and finally re-round every weight against the scales as stored. The
// search follows GGUF's reference quantizers step for step, float operation for float
// operation, because the files must come out byte-identical.
#include "quants.h"
#include "tl.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define K_GROUP_EPS 1e-15f   // a sub-block below this magnitude counts as all zeros

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// Asymmetric sub-block fit x ~ scale*L + min (L in 0..nmax, min <= 0) minimising
// sum w (scale L + min - x)^2. Starts from the min/max grid, then tries nstep+1 grids
// stretched by (rmin + rdelta*is) levels and solves the 2x2 least squares on each.
// Returns the scale and stores -min (>= 0) in *neg_min.
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *neg_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += w[i] * (diff * diff);
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

// Symmetric sub-block fit x ~ scale*(L - nmax), L in 0..2nmax-1, weights x^2: the
// largest-magnitude value maps to -nmax, then 18 nearby grids are tried and the one
// with the best weighted correlation kept.
static float fit_scale_symmetric(int n, int nmax, const float *x, uint8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < K_GROUP_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (uint8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (uint8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q4_K and Q5_K share everything but the bit width and the search grid.
static void quantize_k_asym(const float *x, uint8_t *d16, uint8_t *scales_out, uint8_t L[QK_K],
                            int nmax, float rmin, float rdelta, int nstep) {
    uint8_t Laux[32];
    float w[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;   // scales and mins are >= 0 once the min is taken out
    for (int j = 0; j < QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t *s = scales_out;
    memset(s, 0, 12);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            s[j] = ls;
            s[j + 4] = lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    uint16_t d = tl_fp32_to_fp16(max_scale / 63.f), dmin = tl_fp32_to_fp16(max_min / 63.f);
    memcpy(d16, &d, 2);
    memcpy(d16 + 2, &dmin, 2);
    // re-round each weight against the scales as stored (a zero scale keeps the search's L)
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        k_scale_min(j, s, &sc, &m);
        const float dj = tl_fp16_to_fp32(d) * sc;
        if (!dj) continue;
        const float dmj = tl_fp16_to_fp32(dmin) * m;
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clampi(nearest_int((x[32 * j + i] + dmj) / dj), 0, nmax);
    }
}

void quantize_q4_K(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        quantize_k_asym(x, (uint8_t *)&y[b].d, y[b].scales, L, 15, -1.f, 0.1f, 20);
        uint8_t *q = y[b].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void quantize_q5_K(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        quantize_k_asym(x, (uint8_t *)&y[b].d, y[b].scales, L, 31, -0.5f, 0.1f, 15);
        uint8_t *q = y[b].qs;
        memset(y[b].qh, 0, sizeof y[b].qh);
        // chunk c of 64 elements: low nibbles in q[l] (l and l+32), fifth bits at qh bits 2c, 2c+1
        for (int c = 0; c < QK_K / 64; c++, q += 32)
            for (int l = 0; l < 32; l++) {
                int l1 = L[64 * c + l], l2 = L[64 * c + l + 32];
                if (l1 > 15) y[b].qh[l] |= (uint8_t)(1 << (2 * c));
                if (l2 > 15) y[b].qh[l] |= (uint8_t)(2 << (2 * c));
                q[l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
    }
}

void quantize_q6_K(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    uint8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = fit_scale_symmetric(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < K_GROUP_EPS) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[b].d = tl_fp32_to_fp16(1 / iscale);
        for (int j = 0; j < QK_K / 16; j++) {
            int v = nearest_int(iscale * scales[j]);
            y[b].scales[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            float dj = tl_fp16_to_fp32(y[b].d) * y[b].scales[j];
            if (!dj) continue;
            for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)(clampi(nearest_int(x[16 * j + i] / dj), -32, 31) + 32);
        }
        // per 128-element half: ql[l] holds the low nibbles of elements l and l+64,
        // ql[l+32] those of l+32 and l+96, qh[l] the high 2 bits of all four
        uint8_t *ql = y[b].ql, *qh = y[b].qh;
        for (int h = 0; h < QK_K; h += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                const uint8_t *q = L + h + l;
                ql[l] = (uint8_t)((q[0] & 0xF) | ((q[64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q[32] & 0xF) | ((q[96] & 0xF) << 4));
                qh[l] = (uint8_t)((q[0] >> 4) | ((q[32] >> 4) << 2) | ((q[64] >> 4) << 4) | ((q[96] >> 4) << 6));
            }
    }
}

void quantize_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        memset(&y[b], 0, sizeof y[b]);
        if (!amax) continue;
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1 / iscale;
    }
}

// ---------------------------------------------------------------------------------------
// Dequantization: the element q of sub-block j of a super-block.

// The codes of a whole Q4_K / Q5_K super-block, in element order.
static void codes_q4_K(const void *vx, int q[QK_K]) {
    const block_q4_K *x = vx;
    for (int i = 0; i < QK_K; i++) {
        uint8_t byte = x->qs[32 * (i / 64) + i % 32];
        q[i] = (i % 64) < 32 ? byte & 0xF : byte >> 4;
    }
}
static void codes_q5_K(const void *vx, int q[QK_K]) {
    const block_q5_K *x = vx;
    for (int i = 0; i < QK_K; i++) {
        uint8_t byte = x->qs[32 * (i / 64) + i % 32];
        int lo = (i % 64) < 32 ? byte & 0xF : byte >> 4;
        int bit = 2 * (i / 64) + ((i % 64) >= 32);
        q[i] = lo | (((x->qh[i % 32] >> bit) & 1) << 4);
    }
}
typedef void (*k_codes_fn)(const void *block, int q[QK_K]);
static inline int q6k_at(const block_q6_K *x, int i) {   // 0..63, subtract 32 for the value
    int h = i / 128, r = i % 128, l = r % 32, quarter = r / 32;
    uint8_t lowbyte = x->ql[64 * h + l + 32 * (quarter & 1)];
    int lo = quarter < 2 ? lowbyte & 0xF : lowbyte >> 4;
    int hi = (x->qh[32 * h + l] >> (2 * quarter)) & 3;
    return lo | (hi << 4);
}

// Q4_K and Q5_K begin alike (d, dmin, scales), so one walker serves both.
static void dequantize_k_asym(const uint8_t *x, size_t block_bytes, k_codes_fn codes, float *y, int64_t n) {
    int q[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += block_bytes, y += QK_K) {
        const block_q4_K *head = (const block_q4_K *)x;
        const float d = tl_fp16_to_fp32(head->d), dmin = tl_fp16_to_fp32(head->dmin);
        codes(x, q);
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            k_scale_min(j, head->scales, &sc, &m);
            const float dj = d * sc, mj = dmin * m;
            for (int i = 0; i < 32; i++) y[32 * j + i] = dj * q[32 * j + i] - mj;
        }
    }
}

void dequantize_q4_K(const void *x, float *y, int64_t n) { dequantize_k_asym(x, sizeof(block_q4_K), codes_q4_K, y, n); }
void dequantize_q5_K(const void *x, float *y, int64_t n) { dequantize_k_asym(x, sizeof(block_q5_K), codes_q5_K, y, n); }

void dequantize_q6_K(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K) {
        const float d = tl_fp16_to_fp32(x[b].d);
        for (int i = 0; i < QK_K; i++) y[i] = d * x[b].scales[i / 16] * (q6k_at(&x[b], i) - 32);
    }
}

void dequantize_q8_K(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K)
        for (int i = 0; i < QK_K; i++) y[i] = x[b].d * x[b].qs[i];
}

// ---------------------------------------------------------------------------------------
// Dot products against Q8_K: per super-block, integer sums weighted by the integer
// sub-block scales (exact), then d_x * d_y in float.

// Q4_K / Q5_K: sum_j sc_j sum_i q a  and  sum_j m_j sum_i a, per super-block.
static float vec_dot_k_asym(const uint8_t *x, size_t block_bytes, k_codes_fn codes, int64_t n, const block_q8_K *y) {
    float s = 0;
    int q[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += block_bytes) {
        const block_q4_K *head = (const block_q4_K *)x;
        codes(x, q);
        int sumi = 0, summ = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            k_scale_min(j, head->scales, &sc, &m);
            int t = 0;
            for (int i = 0; i < 32; i++) t += q[32 * j + i] * y[b].qs[32 * j + i];
            sumi += sc * t;
            summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        s += y[b].d * (tl_fp16_to_fp32(head->d) * (float)sumi - tl_fp16_to_fp32(head->dmin) * (float)summ);
    }
    return s;
}

float vec_dot_q4_K_q8_K(int64_t n, const void *x, const void *y) {
    return vec_dot_k_asym(x, sizeof(block_q4_K), codes_q4_K, n, y);
}
float vec_dot_q5_K_q8_K(int64_t n, const void *x, const void *y) {
    return vec_dot_k_asym(x, sizeof(block_q5_K), codes_q5_K, n, y);
}

float vec_dot_q6_K_q8_K(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float s = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int sumi = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int t = 0;
            for (int i = 0; i < 16; i++) t += (q6k_at(&x[b], 16 * j + i) - 32) * y[b].qs[16 * j + i];
            sumi += x[b].scales[j] * t;
        }
        s += y[b].d * (tl_fp16_to_fp32(x[b].d) * (float)sumi);
    }
    return s;
}
