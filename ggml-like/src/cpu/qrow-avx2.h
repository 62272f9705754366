// The per-row quantized kernels of the AVX2 build (included by qmatmul-simd.c only):
// 256-bit registers, u8 x s8 products with vpmaddubsw + vpmaddwd.
#pragma once

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

// Legacy formats: per 32-block, p = sum over lanes of (code - offset) * a, then
// acc += p * (d_w * d_a). Q4_1 adds its min: m * d_a * sum(a).
ALWAYS_INLINE void row_legacy(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    float accm[QNC] = { 0 };
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    size_t bsz = tl_type_traits(t)->type_size;
    for (int64_t b = 0; b < K / 32; b++, w += bsz) {
        vi u, s_sign = _mm256_setzero_si256();
        float dw, mw = 0;
        uint16_t h;
        memcpy(&h, w, 2);
        dw = _cvtsh_ss(h);
        if (t == TL_Q4_0) {
            u = vi_nibbles(w + 2);
        } else if (t == TL_Q4_1) {
            memcpy(&h, w + 2, 2);
            mw = _cvtsh_ss(h);
            u = vi_nibbles(w + 4);
        } else {   // Q8_0: signed codes, |w| times a with w's sign
            s_sign = vi_load(w + 2);
            u = _mm256_sign_epi8(s_sign, s_sign);
        }
        for (int c = 0; c < nc; c++) {
            vi a = vi_load(cols[c].qs + 32 * b);
            if (t == TL_Q8_0) a = _mm256_sign_epi8(a, s_sign);
            vi p = dp_u8s8(acc_start(&cols[c], 32 * b), u, a);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * cols[c].d[b]), acc[c]);
            if (t == TL_Q4_1) accm[c] += mw * cols[c].sa[b];
        }
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(acc[c]) + accm[c];
}

// Q4_0_X16 (quants/blocks.h), each group in two halves of 8 blocks: a half's code
// registers have a block per int32 lane, so the float scaling is lane by lane. The
// vpmaddubsw pair sums (|.| <= 2 * 15 * 127) of a half's 8 registers add up exactly in
// int16 (8 * 3810 < 32768), so one vpmaddwd per half widens them.
ALWAYS_INLINE void row_q4_0_x16(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const vi m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t g = 0; g < K / X16_ELEMS; g++, w += X16_GROUP_BYTES)
        for (int h = 0; h < 2; h++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16 * h)));
            vi code[8];
            for (int ch = 0; ch < 4; ch++) {
                vi raw = vi_load(w + X16_SCALE_BYTES + 64 * ch + 32 * h);
                code[2 * ch] = _mm256_and_si256(raw, m4);
                code[2 * ch + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            }
            for (int c = 0; c < nc; c++) {
                const int8_t *a = cols[c].qs + X16_ELEMS * g + 32 * h;
                vi p = _mm256_maddubs_epi16(code[0], vi_load(a));
                for (int r = 1; r < 8; r++) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(code[r], vi_load(a + 64 * r)));
                const int64_t lane0 = X16_BLOCKS * g + 8 * h;
                vi sum = _mm256_add_epi32(_mm256_madd_epi16(p, ones), vi_load(cols[c].block_bias + lane0));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_loadu_ps(cols[c].d + lane0)), acc[c]);
            }
        }
    for (int c = 0; c < nc; c++) out[c] = hsum8(acc[c]);
}

// Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scale sc and min m; per super-block
// sum_j sc_j * p_j (integer), then * d_w * d_a, minus dmin * d_a * sum_j m_j * bs_j.
ALWAYS_INLINE void row_k_asym(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    float accm[QNC] = { 0 };
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    size_t bsz = tl_type_traits(t)->type_size;
    for (int64_t b = 0; b < K / 256; b++, w += bsz) {
        const block_q4_K *x4 = (const block_q4_K *)w;   // d, dmin, scales: same place in both
        const uint8_t *qs = t == TL_Q4_K ? x4->qs : ((const block_q5_K *)w)->qs;
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++) k_scale_min(j, x4->scales, &sc[j], &m[j]);
        vi qh = t == TL_Q5_K ? vi_load(((const block_q5_K *)w)->qh) : _mm256_setzero_si256();
        vi isum[QNC];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int chunk = 0; chunk < 4; chunk++) {
            vi raw = vi_load(qs + 32 * chunk);
            vi lo = _mm256_and_si256(raw, _mm256_set1_epi8(0x0F));
            vi hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), _mm256_set1_epi8(0x0F));
            if (t == TL_Q5_K) {   // fifth bits: qh bit 2*chunk for lo, 2*chunk+1 for hi
                vi bit_lo = _mm256_set1_epi8((char)(1 << (2 * chunk))), bit_hi = _mm256_set1_epi8((char)(2 << (2 * chunk)));
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_lo), bit_lo),
                                                          _mm256_set1_epi8(16)));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_hi), bit_hi),
                                                          _mm256_set1_epi8(16)));
            }
            vi s_lo = _mm256_set1_epi32(sc[2 * chunk]), s_hi = _mm256_set1_epi32(sc[2 * chunk + 1]);
            int64_t k = 256 * b + 64 * chunk;
            for (int c = 0; c < nc; c++) {
                vi p_lo = dp_u8s8(_mm256_setzero_si256(), lo, vi_load(cols[c].qs + k));
                vi p_hi = dp_u8s8(_mm256_setzero_si256(), hi, vi_load(cols[c].qs + k + 32));
                isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_mullo_epi32(p_lo, s_lo),
                                                                      _mm256_mullo_epi32(p_hi, s_hi)));
            }
        }
        const float d = _cvtsh_ss(x4->d), dmin = _cvtsh_ss(x4->dmin);
        for (int c = 0; c < nc; c++) {
            const int32_t *bs = cols[c].bs + 8 * b;
            int summ = 0;
            for (int j = 0; j < 8; j++) summ += m[j] * bs[j];
            float da = cols[c].d[b];
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * da), acc[c]);
            accm[c] -= dmin * da * (float)summ;
        }
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(acc[c]) + accm[c];
}

// Q6_K: 16 sub-blocks of 16 with int8 scales, codes 0..63 offset by 32.
ALWAYS_INLINE void row_q6_K(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const vi m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < K / 256; b++, w += sizeof(block_q6_K)) {
        const block_q6_K *x = (const block_q6_K *)w;
        vi isum[QNC];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            vi ql0 = vi_load(x->ql + 64 * half), ql1 = vi_load(x->ql + 64 * half + 32), qh = vi_load(x->qh + 32 * half);
            vi q[4] = {   // elements 0-31, 32-63, 64-95, 96-127 of this half
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)),
            };
            for (int quarter = 0; quarter < 4; quarter++) {
                const int8_t *sc = x->scales + 8 * half + 2 * quarter;   // two sub-blocks of 16
                vi s = _mm256_setr_epi32(sc[0], sc[0], sc[0], sc[0], sc[1], sc[1], sc[1], sc[1]);
                int64_t k = 256 * b + 128 * half + 32 * quarter;
                for (int c = 0; c < nc; c++) {
                    vi p = dp_u8s8(acc_start(&cols[c], k), q[quarter], vi_load(cols[c].qs + k));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(p, s));
                }
            }
        }
        const float d = _cvtsh_ss(x->d);
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * cols[c].d[b]), acc[c]);
    }
    for (int c = 0; c < nc; c++) out[c] = hsum8(acc[c]);
}
