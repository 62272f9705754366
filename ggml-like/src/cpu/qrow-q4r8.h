// The Q4_0_R8 / Q4_1_R8 panel kernel (quants/blocks.h) of both SIMD builds (included by
// qmatmul-simd.c only): block b of a panel's 8 rows per step in 256-bit registers, row i
// in int32 lane i, against the activations of block b broadcast to all lanes, a dword at
// a time. Each activation is read once for 8 rows, where a row kernel reads it once per
// row: rows of 18,944 (the 7B FFN-down) outgrow the L1 beside the weight stream that way.
// Chunk c of a group holds code bytes 4c..4c+3 of each row: its low nibbles meet
// activations 4c..4c+3, its high nibbles 16 + 4c..
//   VNNI: the low nibbles masked, the high ones masked in place (16 x the code), each
//         into vpdpbusd with a chain of its own; one exact shift by 4 undoes the 16.
//   AVX2: both nibbles masked down; vpmaddubsw products |.| <= 2 * 15 * 128, so all 8 of
//         a block add up in int16 (<= 30720) and one vpmaddwd widens them.
// Q4_0's codes are q + 8: a block's lanes start from -8 * (sum of its activations), per
// column (block_bias). Q4_1 adds m * d_a * (sum of the activations) per block (sa).
#pragma once

ALWAYS_INLINE void panel_q4_r8(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const bool q4_1 = t == TL_Q4_1;
    const int nf = q4_1 ? 2 : 1;
    __m256 acc[QNC], accm[QNC];
    for (int c = 0; c < nc; c++) acc[c] = accm[c] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < K / QK_LEGACY; b++, w += q4r8_group_bytes(nf)) {
        prefetch_ahead(t == TL_Q4_0 ? TL_Q4_0_R8 : TL_Q4_1_R8, w, q4r8_group_bytes(nf));
        __m256i code[8];   // 2c: chunk c's low nibbles, 2c + 1: its high ones
        for (int ch = 0; ch < 4; ch++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(w + q4r8_codes_at(nf) + 32 * ch));
            code[2 * ch] = _mm256_and_si256(raw, low4);
#if defined(__AVX512VNNI__)
            code[2 * ch + 1] = _mm256_andnot_si256(low4, raw);
#else
            code[2 * ch + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
#endif
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
        const __m256 mw = q4_1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * R8_ROWS))) : _mm256_setzero_ps();
        for (int c = 0; c < nc; c++) {
            const int32_t *a = (const int32_t *)(cols[c].qs + QK_LEGACY * b);
            const __m256i start = q4_1 ? _mm256_setzero_si256() : _mm256_set1_epi32(cols[c].block_bias[b]);
#if defined(__AVX512VNNI__)
            __m256i lo = start, hi16 = _mm256_setzero_si256();
            for (int ch = 0; ch < 4; ch++) {
                lo = _mm256_dpbusd_epi32(lo, code[2 * ch], _mm256_set1_epi32(a[ch]));
                hi16 = _mm256_dpbusd_epi32(hi16, code[2 * ch + 1], _mm256_set1_epi32(a[4 + ch]));
            }
            const __m256i isum = _mm256_add_epi32(lo, _mm256_srai_epi32(hi16, 4));
#else
            __m256i s16 = _mm256_setzero_si256();
            for (int ch = 0; ch < 4; ch++) {
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(code[2 * ch], _mm256_set1_epi32(a[ch])));
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(code[2 * ch + 1], _mm256_set1_epi32(a[4 + ch])));
            }
            const __m256i isum = _mm256_add_epi32(start, _mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
#endif
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(cols[c].d[b])), acc[c]);
            if (q4_1) accm[c] = _mm256_fmadd_ps(mw, _mm256_set1_ps(cols[c].sa[b]), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++) _mm256_storeu_ps(out + R8_ROWS * c, _mm256_add_ps(acc[c], accm[c]));
}
