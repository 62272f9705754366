// The Q6_K_R8 panel kernel (quants/blocks.h) of both SIMD builds (included by
// qmatmul-simd.c only): block b of a panel's 8 rows per step in 256-bit registers, row i
// in int32 lane i, against the activations of block b broadcast to all lanes, a dword at
// a time. Each activation is read once for 8 rows, where the Q6_K row kernel reads it
// once per row: rows of 18,944 (the 7B FFN-down, Q6_K in q4_k_m's mix) outgrow the L1
// beside the weight stream that way.
//
// Within each 128-weight half h of a block, triple m (0..7) of chunks gives the codes of 4
// weights in each of 4 sub-blocks of 32: its first chunk (the half's ql dword m) has the
// low nibbles of weights 4m.. (j = 0) and their high nibbles those of 64 + 4m.. (j = 2),
// the second (ql dword m + 8) those of 32 + 4m.. (j = 1) and 96 + 4m.. (j = 3), and the
// third (qh dword m) their top two bits, at bits 2j.
// Each of the 16 scale sub-blocks (16 weights: 4 dwords m) sums its products in int32
// starting from -32 * (the sum of its activations, Q8_K's bsums), which removes the
// codes' offset of 32; then one multiply by the rows' 8 scales adds it to the block's
// sum: |(q - 32) . a| <= 16 * 32 * 127 per sub-block, times |scale| <= 128, 16 times over,
// stays below 2^31.
//   VNNI: codes (< 64) into vpdpbusd; the top bits merged by one ternary logic op.
//   AVX2: vpmaddubsw products |.| <= 2 * 63 * 127 fit int16; vpmaddwd widens each.
#pragma once

// A 6-bit code per byte: the low nibble (masked) and the top two bits already at bits 4-5
// of `top` (other bits of `top` are dropped).
ALWAYS_INLINE __m256i q6_code(__m256i low_masked, __m256i top, __m256i bits45) {
#if defined(__AVX512VL__)
    return _mm256_ternarylogic_epi32(low_masked, top, bits45, 0xF8);   // a | (b & c)
#else
    return _mm256_or_si256(low_masked, _mm256_and_si256(top, bits45));
#endif
}

ALWAYS_INLINE __m256i q6_dot(__m256i acc, __m256i codes, int32_t a4) {
#if defined(__AVX512VNNI__)
    return _mm256_dpbusd_epi32(acc, codes, _mm256_set1_epi32(a4));
#else
    const __m256i pairs = _mm256_maddubs_epi16(codes, _mm256_set1_epi32(a4));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

ALWAYS_INLINE void panel_q6_K_r8(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < K / QK_K; b++, w += Q6R8_GROUP_BYTES) {
        prefetch_ahead(TL_Q6_K_R8, w, Q6R8_GROUP_BYTES);
        __m256i isum[QNC];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++)
            for (int mh = 0; mh < 2; mh++) {   // dwords 4 mh .. 4 mh + 3: scale sub-blocks 8h + 2j + mh
                __m256i t[QNC][4];
                for (int c = 0; c < nc; c++) {
                    const block_q8_K *ab = (const block_q8_K *)cols[c].blocks + b;
                    for (int j = 0; j < 4; j++) t[c][j] = _mm256_set1_epi32(-32 * ab->bsums[8 * h + 2 * j + mh]);
                }
                for (int m = 4 * mh; m < 4 * mh + 4; m++) {
                    const uint8_t *triple = w + Q6R8_TRIPLES_AT + Q6R8_TRIPLE_BYTES * (8 * h + m);
                    const __m256i ql0 = _mm256_loadu_si256((const __m256i *)triple);
                    const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(triple + 32));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(triple + 64));
                    __m256i code[4];
                    code[0] = q6_code(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(qh, 4), bits45);
                    code[1] = q6_code(_mm256_and_si256(ql1, low4), _mm256_slli_epi16(qh, 2), bits45);
                    code[2] = q6_code(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), qh, bits45);
                    code[3] = q6_code(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_srli_epi16(qh, 2), bits45);
                    for (int c = 0; c < nc; c++) {
                        const int32_t *a = (const int32_t *)(cols[c].qs + QK_K * b + 128 * h + 4 * m);
                        for (int j = 0; j < 4; j++) t[c][j] = q6_dot(t[c][j], code[j], a[8 * j]);   // weight 32j + 4m
                    }
                }
                for (int j = 0; j < 4; j++) {
                    const __m256i sc = _mm256_cvtepi8_epi32(
                        _mm_loadl_epi64((const __m128i *)(w + Q6R8_SCALES_AT + R8_ROWS * (8 * h + 2 * j + mh))));
                    for (int c = 0; c < nc; c++) isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(t[c][j], sc));
                }
            }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dw, _mm256_set1_ps(cols[c].d[b])), acc[c]);
    }
    for (int c = 0; c < nc; c++) _mm256_storeu_ps(out + R8_ROWS * c, acc[c]);
}
