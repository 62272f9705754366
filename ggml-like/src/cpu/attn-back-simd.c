// The fused attention's backward, fast path (f32 K/V). Rows are (query, query head of
// the GQA group) pairs as in the forward; S = scale Q K^T is recomputed chunk by chunk,
// so no N x N matrix exists. Every chunk of K and V is packed once first (Kt, Vt and K:
// 3 x Nk x Hkv x D floats, 1.5 times K and V themselves; packed per use, as before, they
// cost about as much as the products at head sizes 16-32), then two sweeps, each
// parallel without shared writes:
//   rows:  per block of query rows, one pass over the keys: dS = P (dO V^T - D_r) per
//          chunk with P from the online softmax, and dq_r = sum dS k (D_r = dO_r . O_r);
//          its running max and sum give lse_r
//   keys:  per group of KG chunks: over the row blocks that see it (each packed once for
//          the group), recompute P and dS from the saved lse and D, then dV^T += dO^T P
//          and dK^T += (scale q)^T dS, the chunk's keys along the vectors as in S, so
//          neither P nor dS is transposed
// That recomputes S twice (a fused single sweep does it once but needs atomic or
// per-thread dq); scratch is O(rows x D + KG x KCH x D) per thread plus lse and D per row.
#include "cpu-impl.h"
#include "simd.h"
#include "attn-tiles.h"

#define KG 4   // key chunks per task of the key sweep

struct back_ctx {
    const struct tl_tensor *q, *k, *v, *out, *dout;
    const int32_t *sq, *sk, *ck_min, *ck_max;
    struct tl_attn_params p;
    int64_t D, Nq, Nk, Hkv, G, QB, n_qb, n_kc;
    float *dq, *dk, *dv;   // the packed result
    float *lse, *drow;     // per row: [B][Hkv][Nq * G]
    float *chunks;         // per chunk [B][Hkv][n_kc]: Kt [D][KCH], Vt [D][KCH], K [KCH][D]
};

struct packed_chunk {
    const float *kt, *vt, *kc;
};

struct back_scratch {
    float *q, *dout, *qt, *dot, *acc, *s, *dp;
};

// Where chunk ci of (batch b, kv head g) lies in the pack: its Kt, then Vt, then K.
static float *chunk_base(const struct back_ctx *c, int64_t b, int64_t g, int64_t ci) {
    return c->chunks + ((b * c->Hkv + g) * c->n_kc + ci) * 3 * KCH * c->D;
}

static struct packed_chunk chunk_at(const struct back_ctx *c, int64_t b, int64_t g, int64_t ci) {
    const float *kt = chunk_base(c, b, g, ci);
    return (struct packed_chunk){ kt, kt + KCH * c->D, kt + 2 * KCH * c->D };
}

// The rows of one block: q * scale and dO, zero padded to Rpad; with transposed also
// their transposes [D][Rpad] (the key sweep's left-hand sides).
static void pack_rows(const struct back_ctx *c, int64_t b, int64_t g, int64_t q0, int64_t R, int64_t Rpad,
                      bool transposed, struct back_scratch *w) {
    for (int64_t r = 0; r < Rpad; r++) {
        float *qr = w->q + r * c->D, *dr = w->dout + r * c->D;
        if (r >= R) {
            memset(qr, 0, c->D * sizeof(float));
            memset(dr, 0, c->D * sizeof(float));
        } else {
            int64_t i = q0 + r / c->G, h = g * c->G + r % c->G;
            const float *src = tl_elem_ptr(c->q, 0, i, h, b);
            for (int64_t d = 0; d < c->D; d++) qr[d] = src[d] * c->p.scale;
            memcpy(dr, tl_elem_ptr(c->dout, 0, h, i, b), c->D * sizeof(float));
        }
        if (!transposed) continue;
        for (int64_t d = 0; d < c->D; d++) {
            w->qt[d * Rpad + r] = qr[d];
            w->dot[d * Rpad + r] = dr[d];
        }
    }
}

// Kt [D][KCH], Vt [D][KCH] and K [KCH][D] of one chunk, zero padded, into the ctx's pack.
static void pack_chunk(const struct back_ctx *c, int64_t b, int64_t g, int64_t ci) {
    float *kt = chunk_base(c, b, g, ci), *vt = kt + KCH * c->D, *kc = vt + KCH * c->D;
    int64_t c0 = ci * KCH, cn = TL_MIN(KCH, c->Nk - c0);
    for (int64_t j = 0; j < KCH; j++) {
        const float *kr = j < cn ? tl_elem_ptr(c->k, 0, c0 + j, g, b) : NULL;
        const float *vr = j < cn ? tl_elem_ptr(c->v, 0, c0 + j, g, b) : NULL;
        for (int64_t d = 0; d < c->D; d++) {
            kt[d * KCH + j] = kr ? kr[d] : 0;
            vt[d * KCH + j] = vr ? vr[d] : 0;
        }
        if (kr) memcpy(kc + j * c->D, kr, c->D * sizeof(float));
        else memset(kc + j * c->D, 0, c->D * sizeof(float));
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
static void scores(const struct back_ctx *c, const struct packed_chunk *ck, int64_t q0, int64_t R, int64_t Rpad,
                   int64_t c0, int64_t cn, int vis, struct back_scratch *w) {
    for (int64_t r0 = 0; r0 < Rpad; r0 += RB)
        for (int64_t cc = 0; cc < KCH; cc += CT * VL) qk_tile(w->q, ck->kt, w->s, c->D, r0, cc);
    for (int64_t r = 0; r < R; r++) {
        float *s = w->s + r * KCH;
        if (vis == CHUNK_PARTIAL)
            for (int64_t j = 0; j < cn; j++)
                if (!tl_attn_visible(&c->p, c->sq, c->sk, q0 + r / c->G, c0 + j)) s[j] = -INFINITY;
        for (int64_t j = cn; j < KCH; j++) s[j] = -INFINITY;
    }
}

// dP = dO V^T for the packed rows, into dp
static void dp_tiles(const struct back_ctx *c, const struct packed_chunk *ck, int64_t Rpad, struct back_scratch *w) {
    for (int64_t r0 = 0; r0 < Rpad; r0 += RB)
        for (int64_t cc = 0; cc < KCH; cc += CT * VL) qk_tile(w->dout, ck->vt, w->dp, c->D, r0, cc);
}

// dS = P (dP - D) for one row, into dp
static void ds_row(const float *p, float *dp, float d) {
    for (int64_t j = 0; j < KCH; j += VL) vstore(dp + j, vmul(vload(p + j), vsub(vload(dp + j), vset1(d))));
}

// P = exp(S - lse) and dS = P (dO V^T - D) in s and dp (rows past R are zeros)
static void probs_and_ds(const struct back_ctx *c, const struct packed_chunk *ck, const float *lse,
                         const float *drow, int64_t R, int64_t Rpad, struct back_scratch *w) {
    dp_tiles(c, ck, Rpad, w);
    for (int64_t r = 0; r < Rpad; r++) {
        float *s = w->s + r * KCH, *dp = w->dp + r * KCH;
        if (r >= R || lse[r] == -INFINITY) {
            memset(s, 0, KCH * sizeof(float));
            memset(dp, 0, KCH * sizeof(float));
            continue;
        }
        for (int64_t j = 0; j < KCH; j += VL) vstore(s + j, vexp(vsub(vload(s + j), vset1(lse[r]))));
        ds_row(s, dp, drow[r]);
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

// dS = P (dO V^T - D) for one chunk, in one pass with the online softmax (running max m
// and sum l per row, as in the forward): P is exp(S - m) of the running max, so each row's
// dq accumulator is rescaled when m grows, and divided by l at the end.
static void online_ds(const struct back_ctx *c, const struct packed_chunk *ck, const float *drow, float *m, float *l,
                      int64_t R, int64_t Rpad, struct back_scratch *w) {
    dp_tiles(c, ck, Rpad, w);
    for (int64_t r = 0; r < Rpad; r++) {
        float *s = w->s + r * KCH, *dp = w->dp + r * KCH;
        if (r >= R) {
            memset(dp, 0, KCH * sizeof(float));
            continue;
        }
        scale_row(w->acc + r * c->D, c->D, online_softmax_row(s, &m[r], &l[r]));
        ds_row(s, dp, drow[r]);
    }
}

// Sweep over one block of rows: D, lse and dq in one pass over the keys.
static void rows_task(struct back_ctx *c, int64_t b, int64_t g, int64_t qb, struct back_scratch *w) {
    int64_t q0 = qb * c->QB, qn = TL_MIN(c->QB, c->Nq - q0), R = qn * c->G, Rpad = (R + RB - 1) / RB * RB, D = c->D;
    float *lse = c->lse + (b * c->Hkv + g) * c->Nq * c->G + q0 * c->G, *drow = c->drow + (lse - c->lse);
    pack_rows(c, b, g, q0, R, Rpad, false, w);
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
    memset(w->acc, 0, Rpad * D * sizeof(float));
    for (int64_t c0 = 0; c0 < c->Nk; c0 += KCH) {
        int64_t cn = TL_MIN(KCH, c->Nk - c0);
        int vis = block_visibility(c, q0, qn, c0, cn);
        if (vis == CHUNK_SKIP) continue;
        struct packed_chunk ck = chunk_at(c, b, g, c0 / KCH);
        scores(c, &ck, q0, R, Rpad, c0, cn, vis, w);
        online_ds(c, &ck, drow, m, l, R, Rpad, w);
        accumulate_rows(w->dp, KCH, ck.kc, w->acc, D, cn, Rpad);
    }
    for (int64_t r = 0; r < R; r++) {
        lse[r] = l[r] > 0 ? m[r] + logf(l[r]) : -INFINITY;
        float f = l[r] > 0 ? c->p.scale / l[r] : 0.0f;
        int64_t i = q0 + r / c->G, h = g * c->G + r % c->G;
        float *dst = c->dq + D * (i + c->Nq * (h + c->Hkv * c->G * b));
        for (int64_t d = 0; d < D; d++) dst[d] = w->acc[r * D + d] * f;
    }
}

// Sweep over one group of KG key chunks: their dk and dv from every row block that sees them.
static void keys_task(struct back_ctx *c, int64_t b, int64_t g, int64_t kg, struct back_scratch *w) {
    int64_t ci0 = kg * KG, n_ci = TL_MIN(KG, c->n_kc - ci0), D = c->D;
    memset(w->acc, 0, n_ci * 2 * KCH * D * sizeof(float));   // per chunk dK^T [D][KCH], dV^T [D][KCH]
    for (int64_t qb = 0; qb < c->n_qb; qb++) {
        int64_t q0 = qb * c->QB, qn = TL_MIN(c->QB, c->Nq - q0), R = qn * c->G, Rpad = (R + RB - 1) / RB * RB;
        int vis[KG];
        bool any = false;
        for (int64_t i = 0; i < n_ci; i++) {
            int64_t c0 = (ci0 + i) * KCH;
            vis[i] = block_visibility(c, q0, qn, c0, TL_MIN(KCH, c->Nk - c0));
            any |= vis[i] != CHUNK_SKIP;
        }
        if (!any) continue;
        const float *lse = c->lse + (b * c->Hkv + g) * c->Nq * c->G + q0 * c->G, *drow = c->drow + (lse - c->lse);
        pack_rows(c, b, g, q0, R, Rpad, true, w);
        for (int64_t i = 0; i < n_ci; i++) {
            if (vis[i] == CHUNK_SKIP) continue;
            int64_t c0 = (ci0 + i) * KCH;
            struct packed_chunk ck = chunk_at(c, b, g, ci0 + i);
            scores(c, &ck, q0, R, Rpad, c0, TL_MIN(KCH, c->Nk - c0), vis[i], w);
            probs_and_ds(c, &ck, lse, drow, R, Rpad, w);
            float *dkt = w->acc + i * 2 * KCH * D, *dvt = dkt + KCH * D;
            for (int64_t m0 = 0; m0 < D; m0 += RB)
                for (int64_t cc = 0; cc < KCH; cc += CT * VL) {
                    chunk_tile(w->dot, Rpad, w->s, dvt, Rpad, m0, cc, true);
                    chunk_tile(w->qt, Rpad, w->dp, dkt, Rpad, m0, cc, true);
                }
        }
    }
    for (int64_t i = 0; i < n_ci; i++) {
        int64_t c0 = (ci0 + i) * KCH, cn = TL_MIN(KCH, c->Nk - c0);
        const float *dkt = w->acc + i * 2 * KCH * D, *dvt = dkt + KCH * D;
        for (int64_t j = 0; j < cn; j++) {
            size_t at = D * (c0 + j + c->Nk * (g + c->Hkv * b));
            for (int64_t d = 0; d < D; d++) {
                c->dk[at + d] = dkt[d * KCH + j];
                c->dv[at + d] = dvt[d * KCH + j];
            }
        }
    }
}

static bool fast_flash_attn_back(struct tl_tensor *dst, int nth) {
    struct back_ctx c = { .q = dst->src[0], .k = dst->src[1], .v = dst->src[2], .out = dst->src[5], .dout = dst->src[6] };
    c.sq = dst->src[3] ? dst->src[3]->data : NULL;
    c.sk = dst->src[4] ? dst->src[4]->data : NULL;
    tl_attn_params_of(dst, &c.p);
    c.D = c.q->ne[0], c.Nq = c.q->ne[1], c.Nk = c.k->ne[1], c.Hkv = c.k->ne[2], c.G = c.q->ne[2] / c.Hkv;
    int64_t B = c.q->ne[3], D = c.D;
    if (D % VL != 0 || D % RB != 0 || c.G > ROWS_TARGET) return false;   // dK^T, dV^T rows go RB at a time
    c.QB = TL_MAX(1, ROWS_TARGET / c.G);
    c.n_qb = (c.Nq + c.QB - 1) / c.QB;
    c.dq = dst->data;
    c.dk = c.dq + D * c.Nq * c.q->ne[2] * B;
    c.dv = c.dk + D * c.Nk * c.Hkv * B;
    int64_t rows = B * c.Hkv * c.Nq * c.G;
    c.n_kc = (c.Nk + KCH - 1) / KCH;
    c.lse = malloc(2 * rows * sizeof(float));
    c.chunks = aligned_alloc(64, (size_t)(B * c.Hkv * c.n_kc) * 3 * KCH * D * sizeof(float));
    TL_ASSERT(c.lse && c.chunks);
    c.drow = c.lse + rows;
    int32_t *ck_min = NULL, *ck_max = NULL;
    if (c.sk) chunk_segment_ranges(c.sk, c.Nk, &ck_min, &ck_max);
    c.ck_min = ck_min;
    c.ck_max = ck_max;
    int64_t Rmax = (c.QB * c.G + RB - 1) / RB * RB, n_kg = (c.n_kc + KG - 1) / KG;
    #pragma omp parallel num_threads(nth)
    {
        struct back_scratch w;
        int64_t acc_floats = TL_MAX(Rmax * D, 2 * KG * KCH * D);
        size_t floats = 4 * Rmax * D + acc_floats + 2 * Rmax * KCH;
        w.q = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        TL_ASSERT(w.q);
        w.dout = w.q + Rmax * D;
        w.qt = w.dout + Rmax * D;
        w.dot = w.qt + Rmax * D;
        w.acc = w.dot + Rmax * D;
        w.s = w.acc + acc_floats;
        w.dp = w.s + Rmax * KCH;
        #pragma omp for schedule(static)
        for (int64_t t = 0; t < B * c.Hkv * c.n_kc; t++) pack_chunk(&c, t / (c.n_kc * c.Hkv), (t / c.n_kc) % c.Hkv, t % c.n_kc);
        // the implicit barriers: every chunk is packed before the sweeps read it, and every
        // lse and D saved before the key sweep reads them
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < B * c.Hkv * c.n_qb; t++)
            rows_task(&c, t / (c.n_qb * c.Hkv), (t / c.n_qb) % c.Hkv, t % c.n_qb, &w);
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < B * c.Hkv * n_kg; t++) keys_task(&c, t / (n_kg * c.Hkv), (t / n_kg) % c.Hkv, t % n_kg, &w);
        free(w.q);
    }
    free(c.lse);
    free(c.chunks);
    free(ck_min);
    return true;
}

void ISA_FN(tl_cpu_register_attn_back)(struct tl_cpu_kernels *k) { k->op[TL_OP_FLASH_ATTN_BACK] = fast_flash_attn_back; }
