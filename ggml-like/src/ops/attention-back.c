// The fused attention's backward. With P = softmax(scale q k^T | mask) per query row,
// O = P v and the upstream dO:
//   dv_j += P_ij dO_i
//   dS_ij = P_ij (dO_i . v_j - D_i),  D_i = dO_i . O_i
//   dq_i += scale sum_j dS_ij k_j,   dk_j += scale dS_ij q_i
// The reference recomputes each query row's scores (O(Nk) memory, never Nq x Nk) and
// computes D_i from P and v itself, so it checks the forward output it is given too.
#include "tl-impl.h"

#include <math.h>

struct tl_tensor *tl_flash_attn_back(struct tl_context *ctx, struct tl_tensor *q,
                                     struct tl_tensor *k, struct tl_tensor *v,
                                     struct tl_tensor *seg_q, struct tl_tensor *seg_k,
                                     struct tl_tensor *out, struct tl_tensor *dout,
                                     struct tl_attn_params p) {
    if (!q || !k || !v || !out || !dout) return NULL;
    if (!tl_attn_check(ctx, "flash_attn_back", q, k, v, seg_q, seg_k, p)) return NULL;
    if (k->type != TL_F32)
        return tl_op_error(ctx, "flash_attn_back", k, v, "k and v must be f32 (gradients of a cache are not taken)");
    int64_t D = q->ne[0], Nq = q->ne[1], Hq = q->ne[2], B = q->ne[3];
    int64_t want[4] = { D, Hq, Nq, B };
    for (int i = 0; i < 4; i++)
        if (out->ne[i] != want[i] || dout->ne[i] != want[i])
            return tl_op_error(ctx, "flash_attn_back", out, dout, "out and dout must be [D, Hq, Nq, B] of q");
    if (out->type != TL_F32 || dout->type != TL_F32 || out->nb[0] != 4 || dout->nb[0] != 4)
        return tl_op_error(ctx, "flash_attn_back", out, dout, "out and dout must be f32 with contiguous rows");
    int64_t n = D * B * (Nq * Hq + 2 * k->ne[1] * k->ne[2]);
    int64_t ne[4] = { n, 1, 1, 1 };
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_FLASH_ATTN_BACK, TL_F32, ne, q, k);
    if (!t) return NULL;
    t->src[2] = v;
    t->src[3] = seg_q;
    t->src[4] = seg_k;
    t->src[5] = out;
    t->src[6] = dout;
    tl_attn_set_params(t, p);
    return t;
}

// which: 0 dq [D, Nq, Hq, B], 1 dk and 2 dv [D, Nk, Hkv, B]
struct tl_tensor *tl_flash_attn_back_part(struct tl_context *ctx, struct tl_tensor *packed, int which) {
    if (!packed) return NULL;
    if (packed->op != TL_OP_FLASH_ATTN_BACK || which < 0 || which > 2)
        return tl_op_error(ctx, "flash_attn_back_part", packed, NULL, "not a flash_attn_back result or part %d", which);
    const struct tl_tensor *like = packed->src[which];
    size_t q_bytes = (size_t)tl_nelements(packed->src[0]) * sizeof(float);
    size_t kv_bytes = (size_t)tl_nelements(packed->src[1]) * sizeof(float);
    size_t offs = which == 0 ? 0 : q_bytes + (which - 1) * kv_bytes;
    size_t nb1 = like->ne[0] * sizeof(float), nb2 = nb1 * like->ne[1], nb3 = nb2 * like->ne[2];
    return tl_view_4d(ctx, packed, like->ne[0], like->ne[1], like->ne[2], like->ne[3], nb1, nb2, nb3, offs);
}

void tl_ref_flash_attn_back(struct tl_tensor *dst) {
    const struct tl_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    const int32_t *sq = dst->src[3] ? dst->src[3]->data : NULL;
    const int32_t *sk = dst->src[4] ? dst->src[4]->data : NULL;
    const struct tl_tensor *dout = dst->src[6];
    struct tl_attn_params p;
    tl_attn_params_of(dst, &p);
    int64_t D = q->ne[0], Nq = q->ne[1], Hq = q->ne[2], B = q->ne[3], Nk = k->ne[1], Hkv = k->ne[2];
    int64_t group = Hq / Hkv;
    // accumulate in double, write f32 at the end
    int64_t nq = D * Nq * Hq * B, nkv = D * Nk * Hkv * B;
    double *dq = calloc(nq + 2 * nkv, sizeof(double)), *dk = dq + nq, *dv = dk + nkv;
    double *pr = malloc(Nk * sizeof(double)), *dp = malloc(Nk * sizeof(double));
    TL_ASSERT(dq && pr && dp);
#define IDX(d, i, h, b, N, H) ((d) + D * ((i) + (N) * ((h) + (H) * (b))))
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            int64_t hk = h / group;
            for (int64_t i = 0; i < Nq; i++) {
                const float *qi = tl_elem_ptr(q, 0, i, h, b);
                const float *doi = tl_elem_ptr(dout, 0, h, i, b);
                double mx = -INFINITY;
                for (int64_t j = 0; j < Nk; j++) {
                    pr[j] = -INFINITY;
                    if (!tl_attn_visible(&p, sq, sk, i, j)) continue;
                    const float *kj = tl_elem_ptr(k, 0, j, hk, b);
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++) dot += (double)qi[d] * kj[d];
                    pr[j] = dot * p.scale;
                    if (pr[j] > mx) mx = pr[j];
                }
                if (mx == -INFINITY) continue;   // no visible key: the output was zeros
                double sum = 0;
                for (int64_t j = 0; j < Nk; j++) {
                    pr[j] = pr[j] == -INFINITY ? 0 : exp(pr[j] - mx);
                    sum += pr[j];
                }
                double Di = 0;
                for (int64_t j = 0; j < Nk; j++) {
                    pr[j] /= sum;
                    dp[j] = 0;
                    if (pr[j] == 0) continue;
                    const float *vj = tl_elem_ptr(v, 0, j, hk, b);
                    for (int64_t d = 0; d < D; d++) dp[j] += (double)doi[d] * vj[d];
                    Di += pr[j] * dp[j];
                }
                for (int64_t j = 0; j < Nk; j++) {
                    if (pr[j] == 0) continue;
                    double ds = pr[j] * (dp[j] - Di) * p.scale;
                    const float *kj = tl_elem_ptr(k, 0, j, hk, b);
                    for (int64_t d = 0; d < D; d++) {
                        dq[IDX(d, i, h, b, Nq, Hq)] += ds * kj[d];
                        dk[IDX(d, j, hk, b, Nk, Hkv)] += ds * qi[d];
                        dv[IDX(d, j, hk, b, Nk, Hkv)] += pr[j] * doi[d];
                    }
                }
            }
        }
#undef IDX
    float *y = dst->data;
    for (int64_t i = 0; i < nq + 2 * nkv; i++) y[i] = (float)dq[i];
    free(dq);
    free(pr);
    free(dp);
}
