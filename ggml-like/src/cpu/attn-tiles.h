// Register tiles and chunk skipping shared by the fused attention's forward
// (attn-simd.c) and backward (attn-back-simd.c). Include after simd.h.
#pragma once

#define KCH 64         // keys per chunk
#define ROWS_TARGET 64 // query rows per task (queries x group heads)
#define RB 4           // rows per register tile
#if VL == 8
#define CT 2           // column vectors per tile (AVX2 has 16 registers)
#else
#define CT 4
#endif

// C[m][c0 .. c0+CT*VL) = (accumulate ? C : 0) + sum over k < n of A[m][k] B[k][...], for
// rows m0..m0+RB; A's rows are lda apart, B's and C's KCH. The scores are S = Q Kt (A = Q,
// n = D); the backward's key sweep also makes dK^T and dV^T with it, its rows then the
// head dimension and its columns still the chunk's keys.
static inline __attribute__((always_inline)) void chunk_tile(const float *a, int64_t lda,
                                                               const float *b, float *c,
                                                               int64_t n, int64_t m0, int64_t c0,
                                                               bool accumulate) {
    vf acc[RB][CT];
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < CT; t++) acc[r][t] = accumulate ? vload(c + (m0 + r) * KCH + c0 + t * VL) : vzero();
    for (int64_t k = 0; k < n; k++) {
        vf bv[CT];
        for (int t = 0; t < CT; t++) bv[t] = vload(b + k * KCH + c0 + t * VL);
        for (int r = 0; r < RB; r++) {
            vf av = vset1(a[(m0 + r) * lda + k]);
            for (int t = 0; t < CT; t++) acc[r][t] = vfma(av, bv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < CT; t++) vstore(c + (m0 + r) * KCH + c0 + t * VL, acc[r][t]);
}

// S[r][0..KCH) = Q[r] . Kt[:, 0..KCH) for rows r0..r0+RB, columns c0 .. c0+CT*VL
static inline __attribute__((always_inline)) void qk_tile(const float *q, const float *kt,
                                                            float *s, int64_t D, int64_t r0,
                                                            int64_t c0) {
    chunk_tile(q, D, kt, s, D, r0, c0, false);
}

// O[r][d0 .. d0+nt*VL) += P[r][0..cn) V[0..cn)[...] for rows r0..r0+RB; nt is 1..CT;
// P's rows are ldp apart
static inline __attribute__((always_inline)) void pv_tile(const float *p, int64_t ldp, const float *vc,
                                                            float *o, int64_t D, int64_t cn,
                                                            int64_t r0, int64_t d0, int nt) {
    vf acc[RB][CT];
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < nt; t++) acc[r][t] = vload(o + (r0 + r) * D + d0 + t * VL);
    for (int64_t j = 0; j < cn; j++) {
        vf vv[CT];
        for (int t = 0; t < nt; t++) vv[t] = vload(vc + j * D + d0 + t * VL);
        for (int r = 0; r < RB; r++) {
            vf pv = vset1(p[(r0 + r) * ldp + j]);
            for (int t = 0; t < nt; t++) acc[r][t] = vfma(pv, vv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < nt; t++) vstore(o + (r0 + r) * D + d0 + t * VL, acc[r][t]);
}

// One row's chunk of scores s[0..KCH) into the online softmax: folds the chunk's max into
// *m and its exponentials into *l, leaves exp(s - *m) in s (zeros while the row has seen
// nothing), and returns the factor the row's earlier accumulations must be scaled by.
static inline float online_softmax_row(float *s, float *m, float *l) {
    vf mv = vset1(-INFINITY);
    for (int64_t j = 0; j < KCH; j += VL) mv = vmax(mv, vload(s + j));
    float mx = vhmax(mv), mnew = mx > *m ? mx : *m;
    if (mnew == -INFINITY) {
        memset(s, 0, KCH * sizeof(float));
        return 1.0f;
    }
    float alpha = *m == -INFINITY ? 0.0f : expf(*m - mnew);
    vf sum = vzero();
    for (int64_t j = 0; j < KCH; j += VL) {
        vf e = vexp(vsub(vload(s + j), vset1(mnew)));
        vstore(s + j, e);
        sum = vadd(sum, e);
    }
    *l = *l * alpha + vhsum(sum);
    *m = mnew;
    return alpha;
}

// row[0..D) *= alpha, skipped when alpha is 1
static inline void scale_row(float *row, int64_t D, float alpha) {
    if (alpha == 1.0f) return;
    for (int64_t d = 0; d < D; d += VL) vstore(row + d, vmul(vload(row + d), vset1(alpha)));
}

enum { CHUNK_SKIP, CHUNK_FULL, CHUNK_PARTIAL };

static int chunk_visibility(const struct tl_attn_params *p, int64_t qmin, int64_t qmax, int64_t c0,
                            int64_t c1, bool segs, int32_t sqmin, int32_t sqmax, int32_t skmin,
                            int32_t skmax) {
    // qmin/qmax: query positions; [c0, c1]: key indices
    bool full = true;
    if (p->causal) {
        if (c0 > qmax) return CHUNK_SKIP;
        full &= c1 <= qmin;
    }
    if (p->window > 0) {
        if (qmin - c1 >= p->window || c0 - qmax >= p->window) return CHUNK_SKIP;
        full &= qmax - c0 < p->window && c1 - qmin < p->window;
    }
    if (segs) {
        if (skmax < sqmin || skmin > sqmax) return CHUNK_SKIP;
        full &= skmin == skmax && sqmin == sqmax && skmin == sqmin;
    }
    return full ? CHUNK_FULL : CHUNK_PARTIAL;
}

// The segment range of each key chunk, for skipping chunks that no query can see;
// *lo and *hi are one allocation (free *lo).
static inline void chunk_segment_ranges(const int32_t *sk, int64_t Nk, int32_t **lo, int32_t **hi) {
    int64_t n_chunks = (Nk + KCH - 1) / KCH;
    int32_t *mn = malloc(2 * n_chunks * sizeof(int32_t)), *mx = mn + n_chunks;
    TL_ASSERT(mn);
    for (int64_t c = 0; c < n_chunks; c++) {
        mn[c] = mx[c] = sk[c * KCH];
        for (int64_t j = c * KCH; j < TL_MIN(Nk, (c + 1) * KCH); j++) {
            mn[c] = sk[j] < mn[c] ? sk[j] : mn[c];
            mx[c] = sk[j] > mx[c] ? sk[j] : mx[c];
        }
    }
    *lo = mn;
    *hi = mx;
}
