// The per-row quantized kernels of the AVX-512 build (included by qmatmul-simd.c only).
//
// One-token decoding is bound by how fast a core turns weight bytes into dot products,
// so these kernels fill all 64 bytes of a register with codes and keep the per-block
// float work vectorised: 4 legacy blocks (or a whole 256-element K block) per step, the
// block scales of those blocks converted together and spread to the lanes they scale.
// Activations arrive permuted to match (permute_for_kernel); the lanes of one dot result
// belong to one (sub-)block each, 4 activations per lane.
#pragma once

#include "qrow-common.h"

typedef __m512i zi;

ALWAYS_INLINE zi z_load(const void *p) { return _mm512_loadu_si512(p); }
ALWAYS_INLINE zi z_lo4(zi x) { return _mm512_and_si512(x, _mm512_set1_epi8(0x0F)); }
ALWAYS_INLINE zi z_hi4(zi x) { return _mm512_and_si512(_mm512_srli_epi16(x, 4), _mm512_set1_epi8(0x0F)); }
ALWAYS_INLINE zi z_dot(zi acc, zi u8, zi s8) { return _mm512_dpbusd_epi32(acc, u8, s8); }
ALWAYS_INLINE zi z_start(const struct qcol *c, int64_t k) {   // 16 lanes of 4 activations from k
    return c->bias ? z_load(c->bias + k / 4) : _mm512_setzero_si512();
}
ALWAYS_INLINE float hsum4(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}
// Four fp16 scales `stride` bytes apart, as floats.
ALWAYS_INLINE __m128 fp16x4(const uint8_t *p, size_t stride) {
    return _mm_cvtph_ps(_mm_setr_epi16((short)ld16(p), (short)ld16(p + stride), (short)ld16(p + 2 * stride),
                                       (short)ld16(p + 3 * stride), 0, 0, 0, 0));
}
// Lanes [0, 8) take v[i], lanes [8, 16) take v[j].
ALWAYS_INLINE zi pick_by8(zi v, int i, int j) {
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(i, i, i, i, i, i, i, i, j, j, j, j, j, j, j, j), v);
}
ALWAYS_INLINE __m512 pick_by8_ps(__m128 v, int i, int j) {
    return _mm512_castsi512_ps(pick_by8(_mm512_castsi128_si512(_mm_castps_si128(v)), i, j));
}

// The sub-block scales of a K block applied in int32 without vpmulld: two registers of
// per-lane dot sums (each |sum| <= 4 * 32 * 128, so int16 holds them) are packed to words,
// and vpdpwssd multiplies each word by its sub-block's scale and adds pairs. The packing
// interleaves the two registers per 128-bit lane, so the scale words follow that order
// (see the index tables of the callers); which int32 lane a product lands in does not
// matter, as all lanes are summed in the end.
ALWAYS_INLINE zi scaled_pair_sum(zi acc, zi dots_a, zi dots_b, zi scale_words) {
    return _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(dots_a, dots_b), scale_words);
}

// Q4_0 / Q4_1, 4 blocks per step: their 64 bytes of nibbles in one register, low nibbles
// (elements 0-15 of each block) and high (16-31) dotted separately. Every field of a
// legacy block sits at an even byte offset, so two word permutes do the gathering: one
// packs the 4 x 16 code bytes from the step's 72 or 80 bytes, the other spreads each
// fp16 scale over its block's 4 lanes (and lines up Q4_1's mins). Two float accumulators
// per column, alternating by step, so the adds' latency does not bound a one-column loop.
ALWAYS_INLINE void q4_legacy_step(enum tl_type t, const uint8_t *w, int64_t b, const struct qcol *cols, int nc,
                                  __m512 *acc, __m128 *accm) {
    // Word indices, per format: the 8 code words of each block in turn; each block's d
    // 4 times, then the 4 blocks' m.
    static const uint16_t codes_q4_0[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,
                                             19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35 };
    static const uint16_t codes_q4_1[32] = { 2,  3,  4,  5,  6,  7,  8,  9,  12, 13, 14, 15, 16, 17, 18, 19,
                                             22, 23, 24, 25, 26, 27, 28, 29, 32, 33, 34, 35, 36, 37, 38, 39 };
    static const uint16_t scales_q4_0[32] = { 0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27 };
    static const uint16_t scales_q4_1[32] = { 0, 0, 0, 0, 10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30,
                                              1, 11, 21, 31 };
    const bool q4_0 = t == TL_Q4_0;
    zi first = z_load(w);
    // the step's last 8 (Q4_0) or 16 bytes, by a load of just those: with a masked 64-byte
    // load here (its masked-off bytes reaching up to 56 bytes past the step, at times into
    // a page not yet touched) Q4_0 ran from DRAM at 26 GB/s where it now runs 41 (2048x11008)
    zi rest = _mm512_zextsi128_si512(q4_0 ? _mm_loadl_epi64((const __m128i *)(w + 64)) : _mm_loadu_si128((const __m128i *)(w + 64)));
    zi q = _mm512_permutex2var_epi16(first, z_load(q4_0 ? codes_q4_0 : codes_q4_1), rest);
    zi lo = z_lo4(q), hi = z_hi4(q);
    zi sw = _mm512_permutexvar_epi16(z_load(q4_0 ? scales_q4_0 : scales_q4_1), first);
    __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(sw));
    __m128 mw = t == TL_Q4_1 ? _mm_cvtph_ps(_mm512_extracti32x4_epi32(sw, 2)) : _mm_setzero_ps();
    for (int c = 0; c < nc; c++) {
        const int8_t *a = cols[c].qs + 32 * b;
        zi p = z_dot(z_dot(z_start(&cols[c], 32 * b), lo, z_load(a)), hi, z_load(a + 64));
        __m512 s = _mm512_mul_ps(dw, _mm512_loadu_ps(cols[c].d4 + 4 * b));
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc[c]);
        if (t == TL_Q4_1) accm[c] = _mm_fmadd_ps(mw, _mm_loadu_ps(cols[c].sa + b), accm[c]);
    }
}

ALWAYS_INLINE void row_q4_legacy(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const size_t bsz = t == TL_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q4_1);
    __m512 acc0[QNC], acc1[QNC];
    __m128 accm[QNC];
    for (int c = 0; c < nc; c++) acc0[c] = acc1[c] = _mm512_setzero_ps(), accm[c] = _mm_setzero_ps();
    const int64_t nb = K / 32;
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8, w += 8 * bsz) {
        prefetch_ahead(t, w, 8 * bsz);
        q4_legacy_step(t, w, b, cols, nc, acc0, accm);
        q4_legacy_step(t, w + 4 * bsz, b + 4, cols, nc, acc1, accm);
    }
    if (b + 4 <= nb) {
        q4_legacy_step(t, w, b, cols, nc, acc0, accm);
        b += 4, w += 4 * bsz;
    }
    for (int c = 0; c < nc; c++) out[c] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[c], acc1[c])) + hsum4(accm[c]);
    tail_reference(t, w, b, nb, cols, nc, out);
}

// Q4_0_X16 / Q4_1_X16 (t: the file format), a group of 16 blocks per step: each 64-byte
// code chunk is already one register with a block per lane (quants/blocks.h), so the step
// is 4 loads, 8 nibble masks, 8 dots into the blocks' lanes and one float scaling of 16
// lanes by 16 scales (Q4_1: and one multiply-add of its 16 mins by the blocks' d * sum(a)).
// The high nibbles are not shifted down: masked in place they are 16 x the code, their
// own sum is 16 x theirs (|.| < 2^21), and one exact shift per step undoes that.
// (Two rows per pass, sharing the activation loads, ran at ~0.65x the rate from DRAM:
// two interleaved row streams defeat the prefetching.)
ALWAYS_INLINE void row_x16(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const bool q4_1 = t == TL_Q4_1;
    const int nf = q4_1 ? 2 : 1;
    __m512 acc[QNC], accm[QNC];
    for (int c = 0; c < nc; c++) acc[c] = accm[c] = _mm512_setzero_ps();
    const zi low4 = _mm512_set1_epi8(0x0F), high4 = _mm512_set1_epi8((char)0xF0);
    for (int64_t g = 0; g < K / X16_ELEMS; g++, w += x16_group_bytes(nf)) {
        prefetch_ahead(t == TL_Q4_0 ? TL_Q4_0_X16 : TL_Q4_1_X16, w, x16_group_bytes(nf));
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)w));
        __m512 mw = q4_1 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + X16_FIELD_BYTES))) : _mm512_setzero_ps();
        zi code[8];
        for (int ch = 0; ch < 4; ch++) {
            zi q = z_load(w + x16_codes_at(nf) + 64 * ch);
            code[2 * ch] = _mm512_and_si512(q, low4);
            code[2 * ch + 1] = _mm512_and_si512(q, high4);
        }
        for (int c = 0; c < nc; c++) {
            const int8_t *a = cols[c].qs + X16_ELEMS * g;
            zi lo = q4_1 ? _mm512_setzero_si512() : z_load(cols[c].block_bias + X16_BLOCKS * g), hi16 = _mm512_setzero_si512();
            for (int ch = 0; ch < 4; ch++) {
                lo = z_dot(lo, code[2 * ch], z_load(a + 128 * ch));
                hi16 = z_dot(hi16, code[2 * ch + 1], z_load(a + 128 * ch + 64));
            }
            __m512 s = _mm512_mul_ps(dw, _mm512_loadu_ps(cols[c].d + X16_BLOCKS * g));
            zi sum = _mm512_add_epi32(lo, _mm512_srai_epi32(hi16, 4));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[c]);
            if (q4_1) accm[c] = _mm512_fmadd_ps(mw, _mm512_loadu_ps(cols[c].sa + X16_BLOCKS * g), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = _mm512_reduce_add_ps(_mm512_add_ps(acc[c], accm[c]));
    x16_tail(t, w, K, cols, nc, out);
}

// Q8_0, 4 blocks per step in two registers, each with its float accumulator. Codes are
// stored as q + 128 (unsigned).
ALWAYS_INLINE void row_q8_0(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const size_t bsz = sizeof(block_q8_0);
    const zi flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[QNC], acc2[QNC];
    for (int c = 0; c < nc; c++) acc[c] = acc2[c] = _mm512_setzero_ps();
    const int64_t nb = K / 32;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4, w += 4 * bsz) {
        prefetch_ahead(TL_Q8_0, w, 4 * bsz);
        zi q01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(w + 2))),
                                    _mm256_loadu_si256((const __m256i *)(w + bsz + 2)), 1);
        zi q23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(w + 2 * bsz + 2))),
                                    _mm256_loadu_si256((const __m256i *)(w + 3 * bsz + 2)), 1);
        q01 = _mm512_xor_si512(q01, flip);
        q23 = _mm512_xor_si512(q23, flip);
        __m128 dw = fp16x4(w, bsz);
        for (int c = 0; c < nc; c++) {
            const int8_t *a = cols[c].qs + 32 * b;
            zi p01 = z_dot(z_start(&cols[c], 32 * b), q01, z_load(a));
            zi p23 = z_dot(z_start(&cols[c], 32 * b + 64), q23, z_load(a + 64));
            __m128 s = _mm_mul_ps(dw, _mm_loadu_ps(cols[c].d + b));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p01), pick_by8_ps(s, 0, 1), acc[c]);
            acc2[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p23), pick_by8_ps(s, 2, 3), acc2[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = _mm512_reduce_add_ps(_mm512_add_ps(acc[c], acc2[c]));
    tail_reference(TL_Q8_0, w, b, nb, cols, nc, out);
}

// Q4_K / Q5_K, one 256-element block per step: 128 bytes of nibbles in two registers give
// four 64-code registers, each covering two sub-blocks (8 lanes each), whose integer
// sums are scaled by the sub-block scales in int32 before one float scaling per block.
ALWAYS_INLINE void row_k_asym(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const size_t bsz = t == TL_Q4_K ? sizeof(block_q4_K) : sizeof(block_q5_K);
    __m512 acc[QNC];
    __m256 accm[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps(), accm[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++, w += bsz) {
        prefetch_ahead(t, w, bsz);
        const block_q4_K *x = (const block_q4_K *)w;   // d, dmin, scales: same place in Q5_K
        const uint8_t *qs = t == TL_Q4_K ? x->qs : ((const block_q5_K *)w)->qs;
        uint64_t sc8, m8;
        k_scales_mins(x->scales, &sc8, &m8);
        // code registers 0 | 1 hold sub-blocks 0,2 | 1,3 (lanes 0-7 | 8-15); packed per 128-bit
        // lane j as [4 lanes of register 0, 4 of register 1]: sub-blocks 0,1 for j < 2, else 2,3
        static const uint16_t scale_words[2][32] = {
            { 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 2, 2, 2, 2, 3, 3, 3, 3 },
            { 4, 4, 4, 4, 5, 5, 5, 5, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 6, 6, 6, 6, 7, 7, 7, 7 },
        };
        zi sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        zi s01 = _mm512_permutexvar_epi16(z_load(scale_words[0]), sc), s23 = _mm512_permutexvar_epi16(z_load(scale_words[1]), sc);
        zi q0 = z_load(qs), q1 = z_load(qs + 64);
        zi code[4] = { z_lo4(q0), z_hi4(q0), z_lo4(q1), z_hi4(q1) };   // sub-blocks 0,2 | 1,3 | 4,6 | 5,7
        if (t == TL_Q5_K) {   // fifth bit of element l of 64-chunk c: bit 2c (low nibble) or 2c+1 of qh[l]
            zi qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)((const block_q5_K *)w)->qh));
            static const uint8_t bit[4][2] = { { 0x01, 0x04 }, { 0x02, 0x08 }, { 0x10, 0x40 }, { 0x20, 0x80 } };
            for (int i = 0; i < 4; i++) {
                zi sel = _mm512_inserti64x4(_mm512_set1_epi8((char)bit[i][0]), _mm256_set1_epi8((char)bit[i][1]), 1);
                code[i] = _mm512_mask_add_epi8(code[i], _mm512_test_epi8_mask(qh, sel), code[i], _mm512_set1_epi8(16));
            }
        }
        __m256i mins = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m8));
        const float d = _cvtsh_ss(x->d), dmin = _cvtsh_ss(x->dmin);
        for (int c = 0; c < nc; c++) {
            const int8_t *a = cols[c].qs + 256 * b;
            zi dot[4];
            for (int i = 0; i < 4; i++) dot[i] = z_dot(_mm512_setzero_si512(), code[i], z_load(a + 64 * i));
            zi isum = scaled_pair_sum(scaled_pair_sum(_mm512_setzero_si512(), dot[0], dot[1], s01), dot[2], dot[3], s23);
            float da = cols[c].d[b];
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * da), acc[c]);
            __m256i mb = _mm256_mullo_epi32(mins, _mm256_loadu_si256((const __m256i *)(cols[c].bs + 8 * b)));
            accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mb), _mm256_set1_ps(-dmin * da), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = _mm512_reduce_add_ps(acc[c]) + hsum4(_mm_add_ps(_mm256_castps256_ps128(accm[c]), _mm256_extractf128_ps(accm[c], 1)));
}

// Q6_K, one 256-element block per step: per 128-element half, 64 bytes of low bits and
// 32 of high bits give two 64-code registers in element order; each covers four
// 16-element sub-blocks (4 lanes each). A code's two high bits sit at bits s, s + 1 of
// its qh byte (s = 0, 2 | 4, 6 for the two 32-element halves of a register): a dword
// rotate by 4 - s (mod 32) brings them to bits 4-5 of the same byte, and one ternary
// logic op merges them under the 4 low bits. The codes' offset of 32 comes off once per
// block, 32 * sum_j s_j * (sum of sub-block j's 16 activations), from Q8_K's own bsums,
// so no per-4-activation offsets (as many bytes as the activations) are read beside the
// activations: a column costs half the L1 it did. A lane's dot of 4 codes times 4
// activations, at most 4 * 63 * 128, still fits the int16 pack of scaled_pair_sum.
ALWAYS_INLINE void row_q6_K(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const zi m_hi = _mm512_set1_epi8(0x30);
    const zi rot_lo = _mm512_inserti64x4(_mm512_set1_epi32(4), _mm256_set1_epi32(2), 1);    // s = 0 | 2
    const zi rot_hi = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(30), 1);  // s = 4 | 6
    __m512 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++, w += sizeof(block_q6_K)) {
        prefetch_ahead(TL_Q6_K, w, sizeof(block_q6_K));
        const block_q6_K *x = (const block_q6_K *)w;
        // register i, lanes [4j, 4j+4): sub-block 4i + j; packed per 128-bit lane j as
        // [4 lanes of register 0 (or 2), 4 of register 1 (or 3)]
        static const uint16_t scale_words[2][32] = {
            { 0, 0, 0, 0, 4, 4, 4, 4, 1, 1, 1, 1, 5, 5, 5, 5, 2, 2, 2, 2, 6, 6, 6, 6, 3, 3, 3, 3, 7, 7, 7, 7 },
            { 8, 8, 8, 8, 12, 12, 12, 12, 9, 9, 9, 9, 13, 13, 13, 13, 10, 10, 10, 10, 14, 14, 14, 14, 11, 11, 11, 11, 15, 15, 15, 15 },
        };
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));   // s_0 .. s_15
        zi sc = _mm512_castsi256_si512(sc16);
        zi s01 = _mm512_permutexvar_epi16(z_load(scale_words[0]), sc), s23 = _mm512_permutexvar_epi16(z_load(scale_words[1]), sc);
        zi code[4];
        for (int half = 0; half < 2; half++) {
            zi ql = z_load(x->ql + 64 * half);
            zi qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * half)));
            // 0xF8: a | (b & c)
            code[2 * half] = _mm512_ternarylogic_epi32(z_lo4(ql), _mm512_rolv_epi32(qh, rot_lo), m_hi, 0xF8);
            code[2 * half + 1] = _mm512_ternarylogic_epi32(z_hi4(ql), _mm512_rolv_epi32(qh, rot_hi), m_hi, 0xF8);
        }
        const float d = _cvtsh_ss(x->d);
        for (int c = 0; c < nc; c++) {
            const int64_t k = 256 * b;
            zi dot[4];   // code . a per lane
            for (int i = 0; i < 4; i++) dot[i] = z_dot(_mm512_setzero_si512(), code[i], z_load(cols[c].qs + k + 64 * i));
            const block_q8_K *ab = (const block_q8_K *)cols[c].blocks + b;
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)ab->bsums)), 5);
            zi isum = scaled_pair_sum(_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(offset)), dot[0], dot[1], s01);
            isum = scaled_pair_sum(isum, dot[2], dot[3], s23);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * cols[c].d[b]), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = _mm512_reduce_add_ps(acc[c]);
}

ALWAYS_INLINE void row_legacy(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    if (t == TL_Q8_0) row_q8_0(w, K, cols, nc, out);
    else row_q4_legacy(t, w, K, cols, nc, out);
}
