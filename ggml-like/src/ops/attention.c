// The fused attention op. The reference kernel is the textbook two-pass softmax per
// query (scores for one query row at a time: O(Nk) memory, never Nq x Nk).
#include "tl-impl.h"

#include <math.h>

// The shape and type rules of the attention inputs (tl_op_error returns NULL: false).
bool tl_attn_check(struct tl_context *ctx, const char *op, struct tl_tensor *q, struct tl_tensor *k,
                   struct tl_tensor *v, struct tl_tensor *seg_q, struct tl_tensor *seg_k,
                   struct tl_attn_params p) {
    if ((seg_q == NULL) != (seg_k == NULL))
        return tl_op_error(ctx, op, q, k, "seg_q and seg_k come together");
    if (q->type != TL_F32) return tl_op_error(ctx, op, q, k, "q must be f32");
    const struct tl_type_traits *tk = tl_type_traits(k->type);
    if (!(k->type == TL_F32 || k->type == TL_F16 || k->type == TL_Q8_0 || k->type == TL_Q4_0) || v->type != k->type)
        return tl_op_error(ctx, op, k, v, "k and v must have one type of f32, f16, q8_0, q4_0");
    if (k->ne[0] % tk->block_size)
        return tl_op_error(ctx, op, k, v, "head dim %lld is not whole %s blocks of %lld", (long long)k->ne[0],
                           tk->name, (long long)tk->block_size);
    if (k->ne[0] != q->ne[0] || v->ne[0] != q->ne[0])
        return tl_op_error(ctx, op, q, k, "head dims differ");
    if (!tl_are_same_shape(k, v)) return tl_op_error(ctx, op, k, v, "k and v shapes differ");
    if (q->ne[2] % k->ne[2] != 0)
        return tl_op_error(ctx, op, q, k, "query heads %lld not a multiple of kv heads %lld",
                           (long long)q->ne[2], (long long)k->ne[2]);
    if (q->ne[3] != k->ne[3]) return tl_op_error(ctx, op, q, k, "batch sizes differ");
    if (q->nb[0] != 4 || k->nb[0] != tl_type_traits(k->type)->type_size || v->nb[0] != k->nb[0])
        return tl_op_error(ctx, op, q, k, "ne0 (head dim) must be contiguous");
    if (seg_q) {
        if (seg_q->type != TL_I32 || seg_k->type != TL_I32 || seg_q->ne[0] != q->ne[1] ||
            seg_k->ne[0] != k->ne[1] || !tl_is_contiguous(seg_q) || !tl_is_contiguous(seg_k) ||
            tl_n_dims(seg_q) != 1 || tl_n_dims(seg_k) != 1)
            return tl_op_error(ctx, op, seg_q, seg_k, "segments must be contiguous i32 [Nq] and [Nk]");
    }
    if (p.window < 0) return tl_op_error(ctx, op, q, k, "negative window");
    return true;
}

struct tl_tensor *tl_flash_attn(struct tl_context *ctx, struct tl_tensor *q,
                                struct tl_tensor *k, struct tl_tensor *v,
                                struct tl_tensor *seg_q, struct tl_tensor *seg_k,
                                struct tl_attn_params p) {
    if (!q || !k || !v) return NULL;
    if (!tl_attn_check(ctx, "flash_attn", q, k, v, seg_q, seg_k, p)) return NULL;
    int64_t ne[4] = { q->ne[0], q->ne[2], q->ne[1], q->ne[3] };
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_FLASH_ATTN, TL_F32, ne, q, k);
    if (!t) return NULL;
    t->src[2] = v;
    t->src[3] = seg_q;
    t->src[4] = seg_k;
    tl_attn_set_params(t, p);
    return t;
}

// params: [0] scale, [1] causal, [2] q_offset, [3] window
void tl_attn_set_params(struct tl_tensor *t, struct tl_attn_params p) {
    tl_param_set_f32(t, 0, p.scale);
    t->params[1] = p.causal;
    t->params[2] = p.q_offset;
    t->params[3] = p.window;
}

void tl_attn_params_of(const struct tl_tensor *t, struct tl_attn_params *p) {
    p->scale = tl_param_f32(t, 0);
    p->causal = t->params[1];
    p->q_offset = t->params[2];
    p->window = t->params[3];
}

bool tl_attn_visible(const struct tl_attn_params *p, const int32_t *seg_q, const int32_t *seg_k,
                     int64_t iq, int64_t jk) {
    int64_t qpos = p->q_offset + iq;
    if (p->causal && jk > qpos) return false;
    if (p->window > 0 && (qpos - jk >= p->window || jk - qpos >= p->window)) return false;
    if (seg_q && seg_q[iq] != seg_k[jk]) return false;
    return true;
}

// out[:, h, i] = sum_j softmax_j(scale * q_i . k_j | visible) v_j
void tl_ref_flash_attn(struct tl_tensor *dst) {
    const struct tl_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    const int32_t *sq = dst->src[3] ? dst->src[3]->data : NULL;
    const int32_t *sk = dst->src[4] ? dst->src[4]->data : NULL;
    struct tl_attn_params p;
    tl_attn_params_of(dst, &p);
    int64_t D = q->ne[0], Nq = q->ne[1], Hq = q->ne[2], Nk = k->ne[1], Hkv = k->ne[2];
    int64_t group = Hq / Hkv;
    double *s = malloc(Nk * sizeof(double));
    float *row = malloc(D * sizeof(float));   // one key or value row, dequantized
    double *acc = malloc(D * sizeof(double));
    TL_ASSERT(s && row && acc);
    tl_to_float_fn k_to_float = tl_type_traits(k->type)->to_float;
    for (int64_t b = 0; b < q->ne[3]; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Nq; i++) {
                const float *qi = tl_elem_ptr(q, 0, i, h, b);
                float *o = tl_elem_ptr(dst, 0, h, i, b);
                double mx = -INFINITY;
                for (int64_t j = 0; j < Nk; j++) {
                    s[j] = -INFINITY;
                    if (!tl_attn_visible(&p, sq, sk, i, j)) continue;
                    k_to_float(tl_elem_ptr(k, 0, j, h / group, b), row, D);
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++) dot += (double)qi[d] * row[d];
                    s[j] = dot * p.scale;
                    if (s[j] > mx) mx = s[j];
                }
                for (int64_t d = 0; d < D; d++) o[d] = 0;
                if (mx == -INFINITY) continue;
                double sum = 0;
                for (int64_t j = 0; j < Nk; j++) {
                    s[j] = s[j] == -INFINITY ? 0 : exp(s[j] - mx);   // now the weight
                    sum += s[j];
                }
                for (int64_t d = 0; d < D; d++) acc[d] = 0;
                for (int64_t j = 0; j < Nk; j++) {
                    if (s[j] == 0) continue;
                    k_to_float(tl_elem_ptr(v, 0, j, h / group, b), row, D);
                    for (int64_t d = 0; d < D; d++) acc[d] += s[j] * row[d];
                }
                for (int64_t d = 0; d < D; d++) o[d] = (float)(acc[d] / sum);
            }
    free(s);
    free(row);
    free(acc);
}
