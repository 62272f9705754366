// The fused attention's backward, fast path (f32 K/V). Rows are (query, query head of
// the GQA group) pairs as in the forward; S = scale Q K^T is recomputed chunk by chunk,
// so no N x N matrix exists. Two sweeps, each parallel without shared writes:
//   rows:  per block of query rows: lse_r (one pass over the keys), then
//          dS = P (dO V^T - D_r) per chunk and dq_r = sum dS k (D_r = dO_r . O_r)
//   keys:  per chunk of keys: over the row blocks that see it, recompute P and dS from
//          the saved lse and D, then dv = P^T dO and dk = dS^T (scale q)
// That recomputes S three times (a fused single sweep does it once but needs atomic or
// per-thread dq); memory is O(rows x (D + KCH)) per thread plus lse and D per row.
#include "cpu-impl.h"
#include "simd.h"
#include "attn-tiles.h"

struct back_ctx {
    const struct tl_tensor *q, *k, *v, *out, *dout;
    const int32_t *sq, *sk, *ck_min, *ck_max;
    struct tl_attn_params p;
    int64_t D, Nq, Nk, Hkv, G, QB, n_qb;
    float *dq, *dk, *dv;   // the packed result
    float *lse, *drow;     // per row: [B][Hkv][Nq * G]
};

struct back_scratch {
    float *q, *dout, *acc, *s, *dp, *pt, *kt, *vt, *kc;
};

// The rows of one block: q * scale and dO, zero padded to Rpad.
static void pack_rows(const struct back_ctx *c, int64_t b, int64_t g, int64_t q0, int64_t R, int64_t Rpad,
                      struct back_scratch *w) {
    for (int64_t r = 0; r < Rpad; r++) {
        float *qr = w->q + r * c->D, *dr = w->dout + r * c->D;
        if (r >= R) {
            memset(qr, 0, c->D * sizeof(float));
            memset(dr, 0, c->D * sizeof(float));
            continue;
        }
        int64_t i = q0 + r / c->G, h = g * c->G + r % c->G;
        const float *src = tl_elem_ptr(c->q, 0, i, h, b);
        for (int64_t d = 0; d < c->D; d++) qr[d] = src[d] * c->p.scale;
        memcpy(dr, tl_elem_ptr(c->dout, 0, h, i, b), c->D * sizeof(float));
    }
}

// Kt [D][KCH] of one chunk and, with_values, also Vt [D][KCH] and K [KCH][D] (the lse
// pass needs scores only); zero padded.
static void pack_chunk(const struct back_ctx *c, int64_t b, int64_t g, int64_t c0, int64_t cn, bool with_values,
                       struct back_scratch *w) {
    for (int64_t j = 0; j < KCH; j++) {
        const float *kr = j < cn ? tl_elem_ptr(c->k, 0, c0 + j, g, b) : NULL;
        for (int64_t d = 0; d < c->D; d++) w->kt[d * KCH + j] = kr ? kr[d] : 0;
        if (!with_values) continue;
        const float *vr = j < cn ? tl_elem_ptr(c->v, 0, c0 + j, g, b) : NULL;
        for (int64_t d = 0; d < c->D; d++) w->vt[d * KCH + j] = vr ? vr[d] : 0;
        if (kr) memcpy(w->kc + j * c->D, kr, c->D * sizeof(float));
        else memset(w->kc + j * c->D, 0, c->D * sizeof(float));
    }
}

// How a chunk of keys is seen by a block of query rows.
static int block_visibility(const struct back_ctx *c, int64_t q0, int64_t qn, int64_t c0, int64_t cn) {
    int32_t smin = 0, smax = 0;
    if (c->sq) {
        smin = smax = c->sq[q0];
        for (int64_t i = q0; i < q0 + qn; i++) {
            smin = c->sq[i] < smin ? c->sq[i] : smin;
            smax = c->sq[i] > smax ? c->sq[i] : smax;
        }
    }
    int64_t ci = c0 / KCH;
    return chunk_visibility(&c->p, c->p.q_offset + q0, c->p.q_offset + q0 + qn - 1, c0, c0 + cn - 1, c->sq != NULL,
                            smin, smax, c->sq ? c->ck_min[ci] : 0, c->sq ? c->ck_max[ci] : 0);
}

// S = Qs Kt for the packed rows, invisible and padded keys at -inf
static void scores(const struct back_ctx *c, int64_t q0, int64_t R, int64_t Rpad, int64_t c0, int64_t cn, int vis,
                   struct back_scratch *w) {
    for (int64_t r0 = 0; r0 < Rpad; r0 += RB)
        for (int64_t cc = 0; cc < KCH; cc += CT * VL) qk_tile(w->q, w->kt, w->s, c->D, r0, cc);
    for (int64_t r = 0; r < R; r++) {
        float *s = w->s + r * KCH;
        if (vis == CHUNK_PARTIAL)
            for (int64_t j = 0; j < cn; j++)
                if (!tl_attn_visible(&c->p, c->sq, c->sk, q0 + r / c->G, c0 + j)) s[j] = -INFINITY;
        for (int64_t j = cn; j < KCH; j++) s[j] = -INFINITY;
    }
}

// P = exp(S - lse) and dS = P (dO V^T - D) in s and dp (rows past R are zeros)
static void probs_and_ds(const struct back_ctx *c, const float *lse, const float *drow, int64_t R, int64_t Rpad,
                         struct back_scratch *w) {
    for (int64_t r0 = 0; r0 < Rpad; r0 += RB)
        for (int64_t cc = 0; cc < KCH; cc += CT * VL) qk_tile(w->dout, w->vt, w->dp, c->D, r0, cc);
    for (int64_t r = 0; r < Rpad; r++) {
        float *s = w->s + r * KCH, *dp = w->dp + r * KCH;
        if (r >= R || lse[r] == -INFINITY) {
            memset(s, 0, KCH * sizeof(float));
            memset(dp, 0, KCH * sizeof(float));
            continue;
        }
        for (int64_t j = 0; j < KCH; j += VL) {
            vf pj = vexp(vsub(vload(s + j), vset1(lse[r])));
            vstore(s + j, pj);
            vstore(dp + j, vmul(pj, vsub(vload(dp + j), vset1(drow[r]))));
        }
    }
}

// acc[r] += M[r][0..n) X[0..n)[...] over all D columns, for Rpad rows; M rows ldm apart
static void accumulate_rows(const float *m, int64_t ldm, const float *x, float *acc, int64_t D, int64_t n, int64_t Rpad) {
    int64_t DV = D / VL;
    for (int64_t r0 = 0; r0 < Rpad; r0 += RB) {
        int64_t dv = 0;
        for (; dv + CT <= DV; dv += CT) pv_tile(m, ldm, x, acc, D, n, r0, dv * VL, CT);
        for (; dv < DV; dv++) pv_tile(m, ldm, x, acc, D, n, r0, dv * VL, 1);
    }
}

// Sweep over one block of rows: lse, D and dq.
static void rows_task(struct back_ctx *c, int64_t b, int64_t g, int64_t qb, struct back_scratch *w) {
    int64_t q0 = qb * c->QB, qn = TL_MIN(c->QB, c->Nq - q0), R = qn * c->G, Rpad = (R + RB - 1) / RB * RB, D = c->D;
    float *lse = c->lse + (b * c->Hkv + g) * c->Nq * c->G + q0 * c->G, *drow = c->drow + (lse - c->lse);
    pack_rows(c, b, g, q0, R, Rpad, w);
    for (int64_t r = 0; r < R; r++) {
        const float *o = tl_elem_ptr(c->out, 0, g * c->G + r % c->G, q0 + r / c->G, b);
        double s = 0;
        for (int64_t d = 0; d < D; d++) s += (double)o[d] * w->dout[r * D + d];
        drow[r] = (float)s;
    }
    float m[ROWS_TARGET + RB], l[ROWS_TARGET + RB];
    for (int64_t r = 0; r < R; r++) {
        m[r] = -INFINITY;
        l[r] = 0;
    }
    for (int64_t c0 = 0; c0 < c->Nk; c0 += KCH) {   // lse, online
        int64_t cn = TL_MIN(KCH, c->Nk - c0);
        int vis = block_visibility(c, q0, qn, c0, cn);
        if (vis == CHUNK_SKIP) continue;
        pack_chunk(c, b, g, c0, cn, false, w);
        scores(c, q0, R, Rpad, c0, cn, vis, w);
        for (int64_t r = 0; r < R; r++) {
            const float *s = w->s + r * KCH;
            vf mv = vset1(-INFINITY);
            for (int64_t j = 0; j < KCH; j += VL) mv = vmax(mv, vload(s + j));
            float mnew = TL_MAX(vhmax(mv), m[r]);
            if (mnew == -INFINITY) continue;
            vf sum = vzero();
            for (int64_t j = 0; j < KCH; j += VL) sum = vadd(sum, vexp(vsub(vload(s + j), vset1(mnew))));
            l[r] = l[r] * (m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew)) + vhsum(sum);
            m[r] = mnew;
        }
    }
    for (int64_t r = 0; r < R; r++) lse[r] = l[r] > 0 ? m[r] + logf(l[r]) : -INFINITY;
    memset(w->acc, 0, Rpad * D * sizeof(float));
    for (int64_t c0 = 0; c0 < c->Nk; c0 += KCH) {   // dq
        int64_t cn = TL_MIN(KCH, c->Nk - c0);
        int vis = block_visibility(c, q0, qn, c0, cn);
        if (vis == CHUNK_SKIP) continue;
        pack_chunk(c, b, g, c0, cn, true, w);
        scores(c, q0, R, Rpad, c0, cn, vis, w);
        probs_and_ds(c, lse, drow, R, Rpad, w);
        accumulate_rows(w->dp, KCH, w->kc, w->acc, D, cn, Rpad);
    }
    for (int64_t r = 0; r < R; r++) {
        int64_t i = q0 + r / c->G, h = g * c->G + r % c->G;
        float *dst = c->dq + D * (i + c->Nq * (h + c->Hkv * c->G * b));
        for (int64_t d = 0; d < D; d++) dst[d] = w->acc[r * D + d] * c->p.scale;
    }
}

// Sweep over one chunk of keys: dk and dv from every row block that sees it.
static void keys_task(struct back_ctx *c, int64_t b, int64_t g, int64_t c0, struct back_scratch *w) {
    int64_t cn = TL_MIN(KCH, c->Nk - c0), D = c->D;
    float *dk = w->acc, *dv = w->acc + KCH * D;
    memset(dk, 0, 2 * KCH * D * sizeof(float));
    pack_chunk(c, b, g, c0, cn, true, w);
    for (int64_t qb = 0; qb < c->n_qb; qb++) {
        int64_t q0 = qb * c->QB, qn = TL_MIN(c->QB, c->Nq - q0), R = qn * c->G, Rpad = (R + RB - 1) / RB * RB;
        int vis = block_visibility(c, q0, qn, c0, cn);
        if (vis == CHUNK_SKIP) continue;
        const float *lse = c->lse + (b * c->Hkv + g) * c->Nq * c->G + q0 * c->G, *drow = c->drow + (lse - c->lse);
        pack_rows(c, b, g, q0, R, Rpad, w);
        scores(c, q0, R, Rpad, c0, cn, vis, w);
        probs_and_ds(c, lse, drow, R, Rpad, w);
        // transposed: pt [KCH][Rpad] holds P^T, then dS^T
        for (int64_t r = 0; r < Rpad; r++)
            for (int64_t j = 0; j < KCH; j++) w->pt[j * Rpad + r] = w->s[r * KCH + j];
        accumulate_rows(w->pt, Rpad, w->dout, dv, D, R, KCH);
        for (int64_t r = 0; r < Rpad; r++)
            for (int64_t j = 0; j < KCH; j++) w->pt[j * Rpad + r] = w->dp[r * KCH + j];
        accumulate_rows(w->pt, Rpad, w->q, dk, D, R, KCH);
    }
    for (int64_t j = 0; j < cn; j++) {
        size_t at = D * (c0 + j + c->Nk * (g + c->Hkv * b));
        memcpy(c->dk + at, dk + j * D, D * sizeof(float));
        memcpy(c->dv + at, dv + j * D, D * sizeof(float));
    }
}

static bool fast_flash_attn_back(struct tl_tensor *dst, int nth) {
    struct back_ctx c = { .q = dst->src[0], .k = dst->src[1], .v = dst->src[2], .out = dst->src[5], .dout = dst->src[6] };
    c.sq = dst->src[3] ? dst->src[3]->data : NULL;
    c.sk = dst->src[4] ? dst->src[4]->data : NULL;
    tl_attn_params_of(dst, &c.p);
    c.D = c.q->ne[0], c.Nq = c.q->ne[1], c.Nk = c.k->ne[1], c.Hkv = c.k->ne[2], c.G = c.q->ne[2] / c.Hkv;
    int64_t B = c.q->ne[3], D = c.D;
    if (D % VL != 0 || c.G > ROWS_TARGET) return false;
    c.QB = TL_MAX(1, ROWS_TARGET / c.G);
    c.n_qb = (c.Nq + c.QB - 1) / c.QB;
    c.dq = dst->data;
    c.dk = c.dq + D * c.Nq * c.q->ne[2] * B;
    c.dv = c.dk + D * c.Nk * c.Hkv * B;
    int64_t rows = B * c.Hkv * c.Nq * c.G;
    c.lse = malloc(2 * rows * sizeof(float));
    TL_ASSERT(c.lse);
    c.drow = c.lse + rows;
    int32_t *ck_min = NULL, *ck_max = NULL;
    if (c.sk) chunk_segment_ranges(c.sk, c.Nk, &ck_min, &ck_max);
    c.ck_min = ck_min;
    c.ck_max = ck_max;
    int64_t Rmax = (c.QB * c.G + RB - 1) / RB * RB, n_kc = (c.Nk + KCH - 1) / KCH;
    #pragma omp parallel num_threads(nth)
    {
        struct back_scratch w;
        int64_t acc_rows = TL_MAX(Rmax, 2 * KCH);
        size_t floats = 2 * Rmax * D + acc_rows * D + 2 * Rmax * KCH + KCH * Rmax + 3 * KCH * D;
        w.q = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        TL_ASSERT(w.q);
        w.dout = w.q + Rmax * D;
        w.acc = w.dout + Rmax * D;
        w.s = w.acc + acc_rows * D;
        w.dp = w.s + Rmax * KCH;
        w.pt = w.dp + Rmax * KCH;
        w.kt = w.pt + KCH * Rmax;
        w.vt = w.kt + KCH * D;
        w.kc = w.vt + KCH * D;
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < B * c.Hkv * c.n_qb; t++)
            rows_task(&c, t / (c.n_qb * c.Hkv), (t / c.n_qb) % c.Hkv, t % c.n_qb, &w);
        // the implicit barrier: every lse and D is saved before the key sweep reads them
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < B * c.Hkv * n_kc; t++)
            keys_task(&c, t / (n_kc * c.Hkv), (t / n_kc) % c.Hkv, (t % n_kc) * KCH, &w);
        free(w.q);
    }
    free(c.lse);
    free(ck_min);
    return true;
}

void ISA_FN(tl_cpu_register_attn_back)(struct tl_cpu_kernels *k) { k->op[TL_OP_FLASH_ATTN_BACK] = fast_flash_attn_back; }
