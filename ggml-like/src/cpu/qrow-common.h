// What the per-row quantized kernels of both SIMD builds share (qrow-avx2.h,
// qrow-avx512.h): nothing here depends on the vector width.
#pragma once

// An fp16 at any byte address.
ALWAYS_INLINE uint16_t ld16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

// The tail of a row that does not fill a step: the reference dot of those blocks.
ALWAYS_INLINE void tail_reference(enum tl_type t, const uint8_t *w, int64_t b0, int64_t nb, const struct qcol *cols,
                                  int nc, float *out) {
    if (b0 >= nb) return;
    const struct tl_type_traits *tt = tl_type_traits(t);
    size_t qb = tl_type_traits(tt->vec_dot_type)->type_size;
    for (int c = 0; c < nc; c++)
        out[c] += tt->vec_dot((nb - b0) * 32, w, (const uint8_t *)cols[c].blocks + b0 * qb);
}

// Weights stream from DRAM once per token; on some CPUs asking for them ahead of use keeps
// more cache-line reads in flight than the hardware prefetcher alone, on others it slows
// the stream, so the distance is chosen per CPU, ISA and layout (tl_cpu_prefetch_default;
// 0: none). layout is a constant where the kernels are inlined, so this is one load.
ALWAYS_INLINE void prefetch_ahead(enum tl_type layout, const uint8_t *w, size_t step_bytes) {
    const int distance = tl_cpu_prefetch_table[SIMD_ISA][layout];
    if (!distance) return;
    for (size_t o = 0; o < step_bytes; o += 64) _mm_prefetch((const char *)w + distance + o, _MM_HINT_T0);
}

// The 6-bit scales and mins of a Q4_K/Q5_K block as 8 bytes each (byte j: sub-block j),
// k_scale_min for all eight sub-blocks at once.
ALWAYS_INLINE void k_scales_mins(const uint8_t *s12, uint64_t *sc, uint64_t *m) {
    uint32_t w0, w1, w2;
    memcpy(&w0, s12, 4);
    memcpy(&w1, s12 + 4, 4);
    memcpy(&w2, s12 + 8, 4);
    const uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, top2 = 0x03030303;
    uint32_t sc_hi = (w2 & low4) | (((w0 >> 6) & top2) << 4);          // sub-blocks 4-7
    uint32_t m_hi = ((w2 >> 4) & low4) | (((w1 >> 6) & top2) << 4);
    *sc = (w0 & low6) | (uint64_t)sc_hi << 32;
    *m = (w1 & low6) | (uint64_t)m_hi << 32;
}

// Each ISA's Q4_0 / Q4_1 row kernel.
ALWAYS_INLINE void row_q4_legacy(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out);

// The tail of an X16 row (its last K % 512 weights, plain blocks of the file format t
// at w) by that format's kernel, added to out.
ALWAYS_INLINE void x16_tail(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    const int64_t Kg = x16_grouped(K);
    if (Kg == K) return;
    struct qcol tail[QNC];
    float part[QNC];
    for (int c = 0; c < nc; c++) tail[c] = qcol_from(&cols[c], Kg, false);
    row_q4_legacy(t, w, K - Kg, tail, nc, part);
    for (int c = 0; c < nc; c++) out[c] += part[c];
}
