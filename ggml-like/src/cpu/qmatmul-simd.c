// mul_mat with block-format weights. Each activation column is quantized once with the
// reference quantizer of the format's partner (Q8_0 or Q8_K), so the integer sums are
// exactly those of the reference dot; only the order of the float scaling differs.
//
// The SIMD builds unpack the quantized activations into a planar layout (all int8 values
// contiguous, scales and sums beside them) and walk a weight row 32 elements at a time:
// the row's 4-, 5-, 6- or 8-bit codes are widened to 32 unsigned bytes once and
// multiplied into up to QNC activation columns with u8 x s8 dot instructions
// (AVX512-VNNI vpdpbusd, or vpmaddubsw + vpmaddwd on AVX2). Codes stored with an offset
// (q - 8, q - 32) are fixed up by starting each accumulator at -offset * (sum of the 4
// activations of that lane), precomputed per column.
//
// Rows are split over the threads; columns go QNC at a time so one decoded weight chunk
// serves several columns (GEMM) while one column (GEMV) streams the weights once.
#include "cpu-impl.h"
#include "simd.h"
#include "quants/quants.h"

#include <omp.h>

#define QNC 4    // columns per pass over a weight row
#define QCB 64   // columns per block: their activations (~2.3 bytes/element) stay in L2

// One activation column, quantized: blocks in the reference layout (the scalar build
// and the reference dot use them) and, for SIMD builds, the planar unpacking.
struct qcol {
    const void *blocks;   // K/32 block_q8_0 or K/256 block_q8_K
    const int8_t *qs;     // K values
    const float *d;       // scale per 32 (Q8_0) or per 256 (Q8_K)
    const float *sa;      // Q8_0: d * (sum of the block's 32 values), for Q4_1's min term
    const int32_t *bs;    // Q8_K: sum of each 32 values, for the K formats' min terms
    const int32_t *bias;  // per 4 values: -offset * their sum (Q4_0: 8, Q6_K: 32), or NULL
};

static int code_offset(enum tl_type t) { return t == TL_Q4_0 ? 8 : t == TL_Q6_K ? 32 : 0; }

// Bytes of planar data per column of K elements.
static size_t planar_bytes(int64_t K) { return (size_t)K + (size_t)K / 32 * 12 + (size_t)K + 64; }

static void unpack_column(enum tl_type wt, const void *blocks, int64_t K, uint8_t *mem, struct qcol *c) {
    int8_t *qs = (int8_t *)mem;
    float *d = (float *)(mem + K);
    float *sa = d + K / 32;
    int32_t *bs = (int32_t *)(sa + K / 32);
    int32_t *bias = bs + K / 32;
    if (tl_type_traits(wt)->vec_dot_type == TL_Q8_0) {
        const block_q8_0 *b = blocks;
        for (int64_t i = 0; i < K / 32; i++) {
            memcpy(qs + 32 * i, b[i].qs, 32);
            d[i] = tl_fp16_to_fp32(b[i].d);
            int s = 0;
            for (int j = 0; j < 32; j++) s += b[i].qs[j];
            sa[i] = d[i] * (float)s;
        }
    } else {
        const block_q8_K *b = blocks;
        for (int64_t i = 0; i < K / 256; i++) {
            memcpy(qs + 256 * i, b[i].qs, 256);
            d[i] = b[i].d;
            for (int j = 0; j < 8; j++) bs[8 * i + j] = b[i].bsums[2 * j] + b[i].bsums[2 * j + 1];
        }
    }
    int off = code_offset(wt);
    if (off)
        for (int64_t i = 0; i < K / 4; i++)
            bias[i] = -off * (qs[4 * i] + qs[4 * i + 1] + qs[4 * i + 2] + qs[4 * i + 3]);
    *c = (struct qcol){ blocks, qs, d, sa, bs, off ? bias : NULL };
}

#if VL > 1
// ---------------------------------------------------------------------------------------
// 256-bit integer vocabulary (both SIMD builds)

typedef __m256i vi;
static inline vi vi_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline vi vi_nibbles(const uint8_t *p) {   // 16 bytes -> 32 codes: low nibbles, then high
    __m128i x = _mm_loadu_si128((const __m128i *)p);
    vi both = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
#if defined(__AVX512VNNI__)
static inline vi dp_u8s8(vi acc, vi u, vi s) { return _mm256_dpbusd_epi32(acc, u, s); }
#else
static inline vi dp_u8s8(vi acc, vi u, vi s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#endif
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline vi acc_start(const struct qcol *c, int64_t k) {   // 8 lanes of 4 values from k
    return c->bias ? vi_load(c->bias + k / 4) : _mm256_setzero_si256();
}
#define ALWAYS_INLINE static inline __attribute__((always_inline))

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

ALWAYS_INLINE void row_dispatch(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    switch (t) {
    case TL_Q4_0: row_legacy(TL_Q4_0, w, K, cols, nc, out); break;
    case TL_Q4_1: row_legacy(TL_Q4_1, w, K, cols, nc, out); break;
    case TL_Q8_0: row_legacy(TL_Q8_0, w, K, cols, nc, out); break;
    case TL_Q4_K: row_k_asym(TL_Q4_K, w, K, cols, nc, out); break;
    case TL_Q5_K: row_k_asym(TL_Q5_K, w, K, cols, nc, out); break;
    case TL_Q6_K: row_q6_K(w, K, cols, nc, out); break;
    default: TL_ASSERT(!"qmatmul: not a block weight type");
    }
}

// One weight row times nc columns (specialised per column count so accumulators stay in
// registers).
static void row_times_columns(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    switch (nc) {
    case 1: row_dispatch(t, w, K, cols, 1, out); break;
    case 2: row_dispatch(t, w, K, cols, 2, out); break;
    case 3: row_dispatch(t, w, K, cols, 3, out); break;
    default: row_dispatch(t, w, K, cols, 4, out); break;
    }
}
#else
// The scalar build: the reference dot, threaded.
static void row_times_columns(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    for (int c = 0; c < nc; c++) out[c] = tl_type_traits(t)->vec_dot(K, w, cols[c].blocks);
}
#endif

// C[n][m] = A[m] . B[n] for M block-format rows (stride lda) and N f32 columns.
static void qgemm(enum tl_type t, int64_t M, int64_t N, int64_t K, const uint8_t *a, size_t lda, const float *b,
                  size_t ldb, float *c, size_t ldc, int nth) {
    enum tl_type vt = tl_type_traits(t)->vec_dot_type;
    const struct tl_type_traits *qt = tl_type_traits(vt);
    size_t qrow = tl_row_size(vt, K);
    size_t prow = (planar_bytes(K) + 63) / 64 * 64;
    uint8_t *blocks = aligned_alloc(64, (qrow * N + 63) / 64 * 64);
    uint8_t *planar = aligned_alloc(64, VL > 1 ? prow * N : 64);
    struct qcol *cols = malloc(N * sizeof *cols);
    TL_ASSERT(blocks && planar && cols);
    #pragma omp parallel num_threads(nth)
    {
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            qt->from_float(b + n * ldb, blocks + n * qrow, K);
            if (VL > 1) unpack_column(t, blocks + n * qrow, K, planar + n * prow, &cols[n]);   // SIMD builds only
            else cols[n] = (struct qcol){ .blocks = blocks + n * qrow };
        }
        // rows in contiguous ranges per thread; columns in blocks of QCB, QNC at a time
        for (int64_t n0 = 0; n0 < N; n0 += QCB) {
            int64_t nb = TL_MIN(QCB, N - n0);
            #pragma omp for schedule(static)
            for (int64_t m = 0; m < M; m++) {
                float out[QNC];
                for (int64_t j = 0; j < nb; j += QNC) {
                    int nc = (int)TL_MIN(QNC, nb - j);
                    row_times_columns(t, a + m * lda, K, cols + n0 + j, nc, out);
                    for (int q = 0; q < nc; q++) c[(n0 + j + q) * ldc + m] = out[q];
                }
            }
        }
    }
    free(cols);
    free(planar);
    free(blocks);
}

bool ISA_FN(tl_cpu_mul_mat_quantized)(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    if (b->nb[0] != sizeof(float) || dst->nb[0] != sizeof(float)) return false;
    if (b->nb[1] % sizeof(float) || dst->nb[1] % sizeof(float)) return false;
    int64_t M = a->ne[1], N = b->ne[1], K = a->ne[0];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++) {
            const uint8_t *pa = tl_elem_ptr(a, 0, 0, i2 / (b->ne[2] / a->ne[2]), i3 / (b->ne[3] / a->ne[3]));
            qgemm(a->type, M, N, K, pa, a->nb[1], tl_elem_ptr(b, 0, 0, i2, i3), b->nb[1] / 4, tl_elem_ptr(dst, 0, 0, i2, i3),
                  dst->nb[1] / 4, nth);
        }
    return true;
}
