// The Q4_K_X8 / Q5_K_X8 row kernel and the Q4_K_R8 / Q5_K_R8 panel kernel (quants/blocks.h)
// of both SIMD builds (included by qmatmul-simd.c only): a group of 8 Q4_K or Q5_K blocks
// per step in 256-bit registers, one block per int32 lane. The file layout's kernels
// widen and scale one block at a time, 8 times a block (one per 32-element sub-block);
// here a sub-block's scaling serves 8 blocks: its 8 code registers are dotted with the
// activations and summed per lane, then multiplied lane by lane by the 8 blocks' scales
// of that sub-block, which unpack for all 8 blocks at once from the transposed scale
// bytes. X8: the 8 blocks are 8 along a row, with the activations permuted to match, and
// a horizontal sum ends the row; R8: block b of 8 rows, with each activation dword
// broadcast to the 8 lanes, which end as the 8 rows' results.
#pragma once

// A group's scales, lane i for block i: sub-block j's 6-bit scale (for vpmaddwd as two
// equal int16 words; for vpmulld as one int32), and the mins of sub-blocks 2p and 2p + 1
// as two int16 words (for vpmaddwd with the activations' sums of those sub-blocks).
struct kx8_scales {
    __m256i sc[8], mins[4];
};

ALWAYS_INLINE void kx8_unpack_scales(const uint8_t *group, struct kx8_scales *s) {
    // 64-bit lane r of register q: scale byte 4q + r of the 8 blocks (k_scale_min's formulas
    // on 8 bytes at once; the 16-bit shifts only move bits the masks then drop)
    const __m256i r0 = _mm256_loadu_si256((const __m256i *)(group + X8_SCALES_AT));
    const __m256i r1 = _mm256_loadu_si256((const __m256i *)(group + X8_SCALES_AT + 32));
    const __m256i r2 = _mm256_loadu_si256((const __m256i *)(group + X8_SCALES_AT + 64));
    const __m256i low6 = _mm256_set1_epi8(63), low4 = _mm256_set1_epi8(0x0F), top2 = _mm256_set1_epi8(0x30);
    uint8_t sc[8][8], m[8][8];   // [sub-block][block]
    _mm256_storeu_si256((__m256i *)sc[0], _mm256_and_si256(r0, low6));
    _mm256_storeu_si256((__m256i *)m[0], _mm256_and_si256(r1, low6));
    _mm256_storeu_si256((__m256i *)sc[4], _mm256_or_si256(_mm256_and_si256(r2, low4), _mm256_and_si256(_mm256_srli_epi16(r0, 2), top2)));
    _mm256_storeu_si256((__m256i *)m[4], _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(r2, 4), low4),
                                                         _mm256_and_si256(_mm256_srli_epi16(r1, 2), top2)));
    for (int j = 0; j < 8; j++) {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sc[j]));
#if defined(__AVX512VNNI__)
        s->sc[j] = v;
#else
        s->sc[j] = _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
#endif
    }
    for (int p = 0; p < 4; p++) {
        __m128i a = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m[2 * p]));
        __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m[2 * p + 1]));
        s->mins[p] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(a, b)), _mm_unpackhi_epi16(a, b), 1);
    }
}

// The activations of register k: 32 bytes at a + 32 k (X8), or the dword at a + 4 k in
// every lane (R8).
ALWAYS_INLINE __m256i kx8_act(const int8_t *a, int k, bool bcast) {
    if (!bcast) return _mm256_loadu_si256((const __m256i *)(a + 32 * k));
    int32_t v;
    memcpy(&v, a + 4 * k, 4);
    return _mm256_set1_epi32(v);
}

// One sub-block of the 8 blocks: its 8 code registers (codes 0..15, Q5_K 0..31) dotted
// with 8 activation registers, summed per lane and scaled. AVX2: the vpmaddubsw pair sums
// (|.| <= 2 * 31 * 128) add up exactly in int16 4 registers at a time (4 * 7936 < 32768;
// Q4_K's 8 at a time: 8 * 3840).
ALWAYS_INLINE __m256i kx8_subblock(bool q5, const __m256i *code, const int8_t *a, bool bcast, __m256i scale) {
#if defined(__AVX512VNNI__)
    // four chains of two: with two of four, Q4_K waited on vpdpbusd's latency (one thread
    // from L2 on Zen 4: 41.8 -> 44.4 GB/s at K = 4096, 31.9 -> 32.9 at 3584; Q5_K within 1%)
    (void)q5;
    __m256i p[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
    for (int k = 0; k < 8; k++) p[k % 4] = _mm256_dpbusd_epi32(p[k % 4], code[k], kx8_act(a, k, bcast));
    return _mm256_mullo_epi32(_mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])), scale);
#else
    const int run = q5 ? 4 : 8;
    __m256i sum = _mm256_setzero_si256();
    for (int k0 = 0; k0 < 8; k0 += run) {
        __m256i p = _mm256_maddubs_epi16(code[k0], kx8_act(a, k0, bcast));
        for (int k = k0 + 1; k < k0 + run; k++)
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(code[k], kx8_act(a, k, bcast)));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scale));
    }
    return sum;
#endif
}

ALWAYS_INLINE float kx8_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// Chunk c of a Q4_K group: its two sub-blocks into the columns' integer sums. The
// activations from weight k0 on: X8, permuted per group by permute_for_x8 (for chunk c,
// nibble half h and dword w, 32 bytes holding elements 64c + 32h + 4w .. +3 of each block
// in turn); R8 (bcast), in order.
ALWAYS_INLINE void kx8_chunk(bool bcast, const uint8_t *w, int chunk, const struct kx8_scales *s, int64_t k0,
                             const struct qcol *cols, int nc, __m256i *isum) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {   // low nibbles: sub-block 2 chunk; high: 2 chunk + 1
        __m256i code[8];
        for (int k = 0; k < 8; k++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w + x8_codes_at(false) + 256 * chunk + 32 * k));
            code[k] = _mm256_and_si256(h ? _mm256_srli_epi16(raw, 4) : raw, m4);
        }
        const int64_t at = k0 + (bcast ? 64 * chunk + 32 * h : 512 * chunk + 256 * h);
        for (int c = 0; c < nc; c++)
            isum[c] = _mm256_add_epi32(isum[c], kx8_subblock(false, code, cols[c].qs + at, bcast, s->sc[2 * chunk + h]));
    }
}

// Sub-block j's codes (0..31) of dword k of a Q5_K group, from its recoded code bytes
// (blocks.h, q5_K_recode): byte m of every position of dword k is the register at
// X8_QH_AT + 256 m + 32 k. j < 5: q_j is bits 0-4 of register j; q_5, q_6 and q_7 gather
// their bits from the registers' bits 5-7.
ALWAYS_INLINE __m256i q5_codes(const uint8_t *w, int k, int j) {
    const __m256i *r = (const __m256i *)(w + X8_QH_AT + 32 * k);   // register m at r + 8 m
    const __m256i low5 = _mm256_set1_epi8(0x1F);
    if (j < 5) return _mm256_and_si256(_mm256_loadu_si256(r + 8 * j), low5);
    const __m256i bits012 = _mm256_set1_epi8(0x07), bits34 = _mm256_set1_epi8(0x18), bit3 = _mm256_set1_epi8(0x08),
                  bit4 = _mm256_set1_epi8(0x10);
    // bits 0-2 from bits 5-7 of register 0, 2 or 4 (the 16-bit shifts only move bits the masks drop)
    const __m256i low3 = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256(r + 8 * (2 * j - 10)), 5), bits012);
    if (j < 7)   // bits 3-4 from bits 5-6 of register 1 or 3
        return _mm256_or_si256(low3, _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256(r + 8 * (2 * j - 9)), 2), bits34));
    return _mm256_or_si256(_mm256_or_si256(low3, _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256(r + 8), 4), bit3)),
                           _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256(r + 24), 3), bit4));
}

// One group (8 blocks), its activations from weight k0 on, into the columns' float
// accumulators: lane i's scales times the activations' (X8: the lane's block's d and
// pair sums of sub-blocks 2p, 2p + 1 at d and pair_bs; R8: block k0 / 256's for all
// lanes). q5: Q5_K, else Q4_K.
ALWAYS_INLINE void kx8_group(bool q5, bool bcast, const uint8_t *w, int64_t k0, const struct qcol *cols, int nc, __m256 *acc,
                             __m256 *accm) {
    const enum tl_type layout = q5 ? (bcast ? TL_Q5_K_R8 : TL_Q5_K_X8) : (bcast ? TL_Q4_K_R8 : TL_Q4_K_X8);
    prefetch_ahead(layout, w, x8_group_bytes(q5));
    struct kx8_scales s;
    kx8_unpack_scales(w, &s);
    __m256i isum[QNC];
    for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
    if (q5) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {   // unrolled: each sub-block unpacks its own way
            __m256i code[8];
            for (int k = 0; k < 8; k++) code[k] = q5_codes(w, k, j);
            const int64_t at = k0 + (bcast ? 32 * j : 256 * j);
            for (int c = 0; c < nc; c++)
                isum[c] = _mm256_add_epi32(isum[c], kx8_subblock(true, code, cols[c].qs + at, bcast, s.sc[j]));
        }
    } else {
        for (int chunk = 0; chunk < 4; chunk++) kx8_chunk(bcast, w, chunk, &s, k0, cols, nc, isum);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16)));
    for (int c = 0; c < nc; c++) {
        // X8: per lane, 8 blocks' d and 16 int16 pair sums a pair; R8: one block's, broadcast
        const float *d = cols[c].d + k0 / QK_K;
        const int16_t *bs = cols[c].pair_bs + k0 / 32;
        const __m256 da = bcast ? _mm256_set1_ps(*d) : _mm256_loadu_ps(d);
        __m256i msum = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            int32_t pair;
            memcpy(&pair, bs + 2 * p, 4);
            const __m256i sums = bcast ? _mm256_set1_epi32(pair) : _mm256_loadu_si256((const __m256i *)(bs + 16 * p));
            msum = _mm256_add_epi32(msum, _mm256_madd_epi16(s.mins[p], sums));
        }
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dw, da), acc[c]);
        accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(mw, da), accm[c]);
    }
}

// A Q4_K_X8 / Q5_K_X8 row (t: the file format, Q4_K or Q5_K): its groups, then its tail's
// blocks by the file format's kernel.
ALWAYS_INLINE void row_k_x8(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const bool q5 = t == TL_Q5_K;
    __m256 acc[QNC], accm[QNC];
    for (int c = 0; c < nc; c++) acc[c] = accm[c] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < x8_grouped(K); k0 += X8_ELEMS, w += x8_group_bytes(q5))
        kx8_group(q5, false, w, k0, cols, nc, acc, accm);
    for (int c = 0; c < nc; c++) out[c] = kx8_hsum(_mm256_sub_ps(acc[c], accm[c]));
    if (x8_grouped(K) == K) return;
    struct qcol tail[QNC];
    float part[QNC];
    for (int c = 0; c < nc; c++) tail[c] = qcol_from(&cols[c], x8_grouped(K), true);
    row_k_asym(t, w, K - x8_grouped(K), tail, nc, part);
    for (int c = 0; c < nc; c++) out[c] += part[c];
}

// A Q4_K_R8 / Q5_K_R8 panel of 8 rows (t: the file format) times nc columns: out[8 c + i]
// for row i and column c.
ALWAYS_INLINE void panel_k_r8(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const bool q5 = t == TL_Q5_K;
    __m256 acc[QNC], accm[QNC];
    for (int c = 0; c < nc; c++) acc[c] = accm[c] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < K; k0 += QK_K, w += x8_group_bytes(q5)) kx8_group(q5, true, w, k0, cols, nc, acc, accm);
    for (int c = 0; c < nc; c++) _mm256_storeu_ps(out + R8_ROWS * c, _mm256_sub_ps(acc[c], accm[c]));
}
