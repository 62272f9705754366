// The Q8_0_X8 row kernel and the Q8_0_R8 panel kernel (quants/blocks.h) of both SIMD
// builds (included by qmatmul-simd.c only), which share the group: for X8, 8 Q8_0 blocks
// of a row per step in 256-bit registers, one block per int32 lane (R8: block b of 8 rows,
// one row per lane). The 8 code chunks' dot sums build up per block in the lanes, and one float
// multiply-add per group scales all 8 blocks, where the file layout's kernels convert and
// scale each block (AVX2) or each 4 blocks (AVX-512) alone. The activations arrive
// permuted to match (permute_for_q8x8).
//   VNNI: codes as q + 128 (an xor) into vpdpbusd, each lane starting from its block's
//         -128 * (sum of its activations), precomputed per column (block_bias).
//   AVX2: the sign trick, |q| x (a with q's sign); a pair of products |.| <= 2 * 127 * 127
//         fits vpmaddubsw's int16, so each chunk is widened by one vpmaddwd.
#pragma once

// The integer sums of one group's 8 code chunks with nc columns' activations: X8 (bcast
// false) loads chunk r's 32 activations (a dword per block), R8 broadcasts dword r of the
// rows' common block. isum holds each column's starting lanes and returns the sums.
ALWAYS_INLINE __m256i q8x8_activations(bool bcast, const int8_t *a, int r) {
    if (bcast) {
        int32_t dw;
        memcpy(&dw, a + 4 * r, 4);
        return _mm256_set1_epi32(dw);
    }
    return _mm256_loadu_si256((const __m256i *)(a + 32 * r));
}

ALWAYS_INLINE void q8x8_group_sums(bool bcast, const uint8_t *w, const int8_t *const *a, int nc, __m256i *isum) {
    __m256i isum2[QNC];   // a second chain: the odd chunks
    for (int c = 0; c < nc; c++) isum2[c] = _mm256_setzero_si256();
#if defined(__AVX512VNNI__)
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < 8; r += 2) {
        const __m256i u0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(w + Q8X8_CODES_AT + 32 * r)), flip);
        const __m256i u1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(w + Q8X8_CODES_AT + 32 * r + 32)), flip);
        for (int c = 0; c < nc; c++) {
            isum[c] = _mm256_dpbusd_epi32(isum[c], u0, q8x8_activations(bcast, a[c], r));
            isum2[c] = _mm256_dpbusd_epi32(isum2[c], u1, q8x8_activations(bcast, a[c], r + 1));
        }
    }
#else
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < 8; r++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(w + Q8X8_CODES_AT + 32 * r)), u = _mm256_sign_epi8(q, q);
        for (int c = 0; c < nc; c++) {
            __m256i s = _mm256_sign_epi8(q8x8_activations(bcast, a[c], r), q);
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones);
            if (r % 2) isum2[c] = _mm256_add_epi32(isum2[c], p);
            else isum[c] = _mm256_add_epi32(isum[c], p);
        }
    }
#endif
    for (int c = 0; c < nc; c++) isum[c] = _mm256_add_epi32(isum[c], isum2[c]);
}

ALWAYS_INLINE void row_q8_0_x8(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t g = 0; g < K / Q8X8_ELEMS; g++, w += Q8X8_GROUP_BYTES) {
        prefetch_ahead(TL_Q8_0_X8, w, Q8X8_GROUP_BYTES);
        const int8_t *a[QNC];
        __m256i isum[QNC];   // VNNI: each lane starts from its block's -128 * sum(a)
        for (int c = 0; c < nc; c++) {
            a[c] = cols[c].qs + Q8X8_ELEMS * g;
#if defined(__AVX512VNNI__)
            isum[c] = _mm256_loadu_si256((const __m256i *)(cols[c].block_bias + Q8X8_BLOCKS * g));
#else
            isum[c] = _mm256_setzero_si256();
#endif
        }
        q8x8_group_sums(false, w, a, nc, isum);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dw, _mm256_loadu_ps(cols[c].d + Q8X8_BLOCKS * g)),
                                     acc[c]);
    }
    for (int c = 0; c < nc; c++) out[c] = kx8_hsum(acc[c]);
    const int64_t Kg = q8x8_grouped(K);
    if (Kg == K) return;
    struct qcol tail[QNC];   // the tail's blocks by the file format's kernel
    float part[QNC];
    for (int c = 0; c < nc; c++) tail[c] = qcol_from(&cols[c], Kg, false);
    row_q8_0(w, K - Kg, tail, nc, part);
    for (int c = 0; c < nc; c++) out[c] += part[c];
}

// A Q8_0_R8 panel of 8 rows (quants/blocks.h) times nc columns: out[8 c + i] for row i
// and column c. Each group is block b of the 8 rows, a row per lane, so its code chunk r
// meets dword r of the column's block b broadcast to all lanes: the activations come in
// GGUF's order, and each is read once for 8 rows where a row kernel reads it once per row
// (rows of 18,944 outgrow the L1 beside the weight stream).
ALWAYS_INLINE void panel_q8_0_r8(const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    __m256 acc[QNC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / QK_LEGACY; b++, w += Q8X8_GROUP_BYTES) {
        prefetch_ahead(TL_Q8_0_R8, w, Q8X8_GROUP_BYTES);
        const int8_t *a[QNC];
        __m256i isum[QNC];   // VNNI: all lanes start from the block's -128 * sum(a)
        for (int c = 0; c < nc; c++) {
            a[c] = cols[c].qs + QK_LEGACY * b;
#if defined(__AVX512VNNI__)
            isum[c] = _mm256_set1_epi32(cols[c].block_bias[b]);
#else
            isum[c] = _mm256_setzero_si256();
#endif
        }
        q8x8_group_sums(true, w, a, nc, isum);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dw, _mm256_set1_ps(cols[c].d[b])), acc[c]);
    }
    for (int c = 0; c < nc; c++) _mm256_storeu_ps(out + R8_ROWS * c, acc[c]);
}
