// The per-row quantized kernels of the AVX2 build (included by qmatmul-simd.c only):
// 256-bit registers, u8 x s8 products with vpmaddubsw + vpmaddwd.
#pragma once

#include "qrow-common.h"

typedef __m256i vi;
static inline vi vi_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline vi vi_nibbles(const uint8_t *p) {   // 16 bytes -> 32 codes: low nibbles, then high
    __m128i x = _mm_loadu_si128((const __m128i *)p);
    vi both = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
static inline vi dp_u8s8(vi acc, vi u, vi s) {   // exact while pairs of u*s fit int16 (u <= 127)
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline vi acc_start(const struct qcol *c, int64_t k) {   // 8 lanes of 4 values from k
    return c->bias ? vi_load(c->bias + k / 4) : _mm256_setzero_si256();
}

// Q8_0: per 32-block, p = sum over lanes of |w| * (a with w's sign), then
// acc += p * (d_w * d_a).
ALWAYS_INLINE void row_q8_0(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 32; b++, w += sizeof(block_q8_0)) {
        prefetch_ahead(TL_Q8_0, w, sizeof(block_q8_0));
        const float dw = _cvtsh_ss(ld16(w));
        const vi s_sign = vi_load(w + 2), u = _mm256_sign_epi8(s_sign, s_sign);
        for (int c = 0; c < nc; c++) {
            vi p = dp_u8s8(_mm256_setzero_si256(), u, _mm256_sign_epi8(vi_load(cols[c].qs + 32 * b), s_sign));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * cols[c].d[b]), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(acc[c]);
}

// Q4_0 / Q4_1, two blocks per step: their 2 x 16 code bytes in one register, low nibbles
// (elements 0-15 of each block) and high (16-31) in two, one block per 128-bit lane (the
// activations arrive permuted to match). The two vpmaddubsw results add up in int16
// (4 x 15 x 128 < 32768), one vpmaddwd widens them, and each lane is scaled by its
// block's d_w * d_a: the two fp16 scales spread by one vpshufb and converted together.
// Q4_1 adds its min: m * d_a * sum(a). A last odd block: the reference dot.
ALWAYS_INLINE void row_q4_legacy(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const size_t bsz = t == TL_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q4_1), qs = t == TL_Q4_0 ? 2 : 4;
    const vi m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const __m128i spread = _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3);   // [d0 x 4, d1 x 4]
    __m256 acc[QNC];
    float accm[QNC] = { 0 };
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const int64_t nb = K / 32;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, w += 2 * bsz) {
        prefetch_ahead(t, w, 2 * bsz);
        vi raw = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(w + qs))),
                                         _mm_loadu_si128((const __m128i *)(w + bsz + qs)), 1);
        vi lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        __m128i d2 = _mm_cvtsi32_si128((int)(ld16(w) | (uint32_t)ld16(w + bsz) << 16));
        __m256 dw = _mm256_cvtph_ps(_mm_shuffle_epi8(d2, spread));
        const float m0 = t == TL_Q4_1 ? _cvtsh_ss(ld16(w + 2)) : 0, m1 = t == TL_Q4_1 ? _cvtsh_ss(ld16(w + bsz + 2)) : 0;
        for (int c = 0; c < nc; c++) {
            const int8_t *a = cols[c].qs + 32 * b;
            vi p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, vi_load(a)), _mm256_maddubs_epi16(hi, vi_load(a + 32)));
            vi p = _mm256_add_epi32(_mm256_madd_epi16(p16, ones), acc_start(&cols[c], 32 * b));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw, _mm256_loadu_ps(cols[c].d4 + 4 * b)), acc[c]);
            if (t == TL_Q4_1) accm[c] += m0 * cols[c].sa[b] + m1 * cols[c].sa[b + 1];
        }
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(acc[c]) + accm[c];
    tail_reference(t, w, b, nb, cols, nc, out);
}

ALWAYS_INLINE void row_legacy(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    if (t == TL_Q8_0) row_q8_0(w, K, cols, nc, out);
    else row_q4_legacy(t, w, K, cols, nc, out);
}

// Q4_0_X16 / Q4_1_X16 (quants/blocks.h; t: the file format), each group in two halves of
// 8 blocks: a half's code registers have a block per int32 lane, so the float scaling is
// lane by lane (Q4_1: its mins times the blocks' d * sum(a), likewise). The vpmaddubsw
// pair sums (|.| <= 2 * 15 * 128) of a half's 8 registers add up exactly in int16
// (8 * 3840 < 32768), so one vpmaddwd per half widens them.
ALWAYS_INLINE void row_x16(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const bool q4_1 = t == TL_Q4_1;
    const int nf = q4_1 ? 2 : 1;
    __m256 acc[QNC], accm[QNC];
    for (int c = 0; c < nc; c++) acc[c] = accm[c] = _mm256_setzero_ps();
    const vi m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t g = 0; g < K / X16_ELEMS; g++, w += x16_group_bytes(nf)) {
        prefetch_ahead(t == TL_Q4_0 ? TL_Q4_0_X16 : TL_Q4_1_X16, w, x16_group_bytes(nf));
        for (int h = 0; h < 2; h++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16 * h)));
            __m256 mw = q4_1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + X16_FIELD_BYTES + 16 * h)))
                             : _mm256_setzero_ps();
            vi code[8];
            for (int ch = 0; ch < 4; ch++) {
                vi raw = vi_load(w + x16_codes_at(nf) + 64 * ch + 32 * h);
                code[2 * ch] = _mm256_and_si256(raw, m4);
                code[2 * ch + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            }
            for (int c = 0; c < nc; c++) {
                const int8_t *a = cols[c].qs + X16_ELEMS * g + 32 * h;
                vi p = _mm256_maddubs_epi16(code[0], vi_load(a));
                for (int r = 1; r < 8; r++) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(code[r], vi_load(a + 64 * r)));
                const int64_t lane0 = X16_BLOCKS * g + 8 * h;
                vi sum = _mm256_madd_epi16(p, ones);
                if (!q4_1) sum = _mm256_add_epi32(sum, vi_load(cols[c].block_bias + lane0));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_loadu_ps(cols[c].d + lane0)), acc[c]);
                if (q4_1) accm[c] = _mm256_fmadd_ps(mw, _mm256_loadu_ps(cols[c].sa + lane0), accm[c]);
            }
        }
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(_mm256_add_ps(acc[c], accm[c]));
    x16_tail(t, w, K, cols, nc, out);
}

// Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scale sc and min m; per super-block
// sum_j sc_j * p_j (integer), then * d_w * d_a, minus dmin * d_a * sum_j m_j * bs_j.
// vpmaddwd applies the sub-block scale while it widens vpmaddubsw's pair sums (each
// |pair| <= 2 * 31 * 128, times sc <= 63, fits int32): no vpmulld in the inner loop. The
// mins' term is a vector too, one vpmulld per block.
// vpshufb controls that spread 16-bit word j of each 128-bit lane over the whole lane.
static const uint8_t word_spread[8][32] = {
#define SPREAD(j) { 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, \
                    2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, \
                    2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1 }
    SPREAD(0), SPREAD(1), SPREAD(2), SPREAD(3), SPREAD(4), SPREAD(5), SPREAD(6), SPREAD(7),
#undef SPREAD
};

// x shifted left by n (< 0: right by -n) in 16-bit lanes; n is a constant in the unrolled loops.
ALWAYS_INLINE vi shift_epi16(vi x, int n) { return n >= 0 ? _mm256_slli_epi16(x, n) : _mm256_srli_epi16(x, -n); }

ALWAYS_INLINE void row_k_asym(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC], accm[QNC];
    for (int c = 0; c < nc; c++) acc[c] = accm[c] = _mm256_setzero_ps();
    const size_t bsz = tl_type_traits(t)->type_size;
    const vi m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < K / 256; b++, w += bsz) {
        prefetch_ahead(t, w, bsz);
        const block_q4_K *x4 = (const block_q4_K *)w;   // d, dmin, scales: same place in both
        const uint8_t *qs = t == TL_Q4_K ? x4->qs : ((const block_q5_K *)w)->qs;
        uint64_t sc8, m8;
        k_scales_mins(x4->scales, &sc8, &m8);
        const vi sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));   // 8 words, twice
        const vi qh = t == TL_Q5_K ? vi_load(((const block_q5_K *)w)->qh) : _mm256_setzero_si256();
        vi isum[QNC];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int chunk = 0; chunk < 4; chunk++) {
            vi raw = vi_load(qs + 32 * chunk);
            vi lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if (t == TL_Q5_K) {   // fifth bits: qh bit 2*chunk for lo, 2*chunk+1 for hi, moved to bit 4
                const vi b4 = _mm256_set1_epi8(16);
                lo = _mm256_or_si256(lo, _mm256_and_si256(shift_epi16(qh, 4 - 2 * chunk), b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(shift_epi16(qh, 3 - 2 * chunk), b4));
            }
            const vi s_lo = _mm256_shuffle_epi8(sc, vi_load(word_spread[2 * chunk]));
            const vi s_hi = _mm256_shuffle_epi8(sc, vi_load(word_spread[2 * chunk + 1]));
            const int64_t k = 256 * b + 64 * chunk;
            for (int c = 0; c < nc; c++) {
                vi p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, vi_load(cols[c].qs + k)), s_lo);
                vi p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, vi_load(cols[c].qs + k + 32)), s_hi);
                isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        const vi mins = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m8));
        const float d = _cvtsh_ss(x4->d), dmin = _cvtsh_ss(x4->dmin);
        for (int c = 0; c < nc; c++) {
            const float da = cols[c].d[b];
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * da), acc[c]);
            vi mb = _mm256_mullo_epi32(mins, vi_load(cols[c].bs + 8 * b));
            accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mb), _mm256_set1_ps(-dmin * da), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(_mm256_add_ps(acc[c], accm[c]));
}

// Q6_K: 16 sub-blocks of 16 with int8 scales, codes 0..63 offset by 32. A code register
// holds two sub-blocks, one per 128-bit lane, so vpmaddwd applies both scales while it
// widens (pairs |.| <= 2 * 63 * 128, times |s| <= 128, fit int32). The offset comes off
// once per block: 32 * sum_j s_j * (sum of the 16 activations of sub-block j), from
// Q8_K's own bsums.
ALWAYS_INLINE void row_q6_K(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    // vpshufb controls: lane 0 takes word 2q of its lane, lane 1 word 2q + 1 (quarter q)
    static const uint8_t pair_spread[4][32] = {
#define PAIR(q) { 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q, 4 * q + 1, \
                  4 * q, 4 * q + 1, 4 * q, 4 * q + 1, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3, \
                  4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3, 4 * q + 2, 4 * q + 3 }
        PAIR(0), PAIR(1), PAIR(2), PAIR(3),
#undef PAIR
    };
    __m256 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const vi m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < K / 256; b++, w += sizeof(block_q6_K)) {
        prefetch_ahead(TL_Q6_K, w, sizeof(block_q6_K));
        const block_q6_K *x = (const block_q6_K *)w;
        const vi sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));   // s_0 .. s_15
        vi isum[QNC];
        for (int c = 0; c < nc; c++) {   // starts at -32 * sum_j s_j * bsum_j
            const block_q8_K *ab = (const block_q8_K *)cols[c].blocks + b;
            isum[c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, vi_load(ab->bsums)), 5));
        }
        for (int half = 0; half < 2; half++) {
            vi ql0 = vi_load(x->ql + 64 * half), ql1 = vi_load(x->ql + 64 * half + 32), qh = vi_load(x->qh + 32 * half);
            // elements 0-31, 32-63, 64-95, 96-127 of this half: a code's 2 high bits (bits
            // 2j, 2j + 1 of its qh byte) shifted straight to bits 4-5 and masked there
            vi q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)),
            };
            // the half's 8 scales as words in both lanes
            const vi sc_half = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(x->scales + 8 * half))));
            for (int quarter = 0; quarter < 4; quarter++) {
                const vi s = _mm256_shuffle_epi8(sc_half, vi_load(pair_spread[quarter]));
                const int64_t k = 256 * b + 128 * half + 32 * quarter;
                for (int c = 0; c < nc; c++)
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(q[quarter], vi_load(cols[c].qs + k)), s));
            }
        }
        const float d = _cvtsh_ss(x->d);
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * cols[c].d[b]), acc[c]);
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(acc[c]);
}
