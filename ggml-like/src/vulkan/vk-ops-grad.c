// The device side of the ops tl_build_backward makes and of the vocabulary loss: sum_to,
// get_rows_back, unary_back, the row backward ops, flash_attn_back (two passes) and
// lm_loss / lm_loss_back (per chunk of tokens: logits GEMM, softmax minus one-hot, then
// the dh and dw GEMMs on the same mul_mat pipelines inference uses).
#include "vk-impl.h"

#include <stdlib.h>
#include <string.h>

#define VK_ATTN_BACK_MAX_D  128   // attn_back.glsl's 64 DR
#define VK_ATTN_BACK_BLOCK  64    // ... and its BT: queries (pass 1) or keys (pass 2) a workgroup

static bool is_f32(const struct tl_tensor *t) { return t && t->type == TL_F32; }

// The mul_mat pipeline of a float weight type (lm_loss's weights); -1: none on this device.
static int float_weight_index(const struct tl_vk_backend *vk, enum tl_type type) {
    return tl_type_traits(type)->is_quantized ? -1 : vk_weight_index(vk, type);
}

bool vk_grad_supported(const struct tl_vk_backend *vk, const struct tl_tensor *t) {
    const struct tl_tensor *a = t->src[0], *b = t->src[1];
    switch (t->op) {
    case TL_OP_SUM_TO:
        return is_f32(a);
    case TL_OP_GET_ROWS_BACK:   // the host reads the ids to list each table row's uses
        return is_f32(a) && vk_host_leaf(b);
    case TL_OP_UNARY_BACK: case TL_OP_RMS_NORM_BACK: case TL_OP_LAYER_NORM_BACK: case TL_OP_SOFT_MAX_BACK:
        return is_f32(a) && is_f32(b);
    case TL_OP_FLASH_ATTN_BACK: {
        const struct tl_tensor *v = t->src[2], *out = t->src[5], *dout = t->src[6];
        return vk->shared_32k && a->ne[0] <= VK_ATTN_BACK_MAX_D && a->nb[0] == sizeof(float) && b->nb[0] == sizeof(float) &&
               v->nb[0] == sizeof(float) && tl_is_contiguous(out) && tl_is_contiguous(dout);
    }
    case TL_OP_LM_LOSS: case TL_OP_LM_LOSS_BACK: {   // one chunk of logits is a scratch binding
        int64_t rows = TL_MIN((int64_t)t->params[0], b->ne[1]);
        return float_weight_index(vk, a->type) >= 0 && (uint64_t)rows * a->ne[1] * sizeof(float) + vk->align <= vk->max_range;
    }
    default:
        return false;
    }
}

static void prep_sum_to(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan) {
    const struct tl_tensor *a = t->src[0];
    struct vk_dispatch *d = vk_plan_add(plan);
    d->pipe = VK_PIPE_SUM_TO;
    uint32_t oa = vk_bind(m, d, a, false), od = vk_bind(m, d, t, true);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_ne(d, t);
    for (int i = 0; i < 4; i++) vk_push_u32(d, (uint32_t)(a->ne[i] / t->ne[i]));
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 1);
}

// The table row of ids entry (i1, batch b); -1 when outside the table (zeros in the
// forward: no gradient).
static int64_t row_of(const struct tl_tensor *ids, int64_t i1, int64_t b, int64_t B2, int64_t R) {
    int32_t r = *(const int32_t *)tl_elem_ptr(ids, i1, b % B2, b / B2, 0);
    return r >= 0 && r < R ? r : -1;
}

// The uses of each table row, listed on the host: for batch b and row r, the i1 whose id
// is r, ascending (get_rows_back.comp).
static bool prep_get_rows_back(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                               size_t errlen) {
    const struct tl_tensor *dy = t->src[0], *ids = t->src[1];
    int64_t n = dy->ne[1], R = t->ne[1], B2 = t->ne[2], nb = t->ne[2] * t->ne[3];
    size_t n_runs = (size_t)(nb * R + 1), words = n_runs + (size_t)(n * nb);
    uint32_t *runs = calloc(words, sizeof *runs), *cursor = malloc(n_runs * sizeof *cursor);
    if (!runs || !cursor) abort();
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i1 = 0; i1 < n; i1++) {
            int64_t r = row_of(ids, i1, b, B2, R);
            if (r >= 0) runs[b * R + r + 1]++;
        }
    for (size_t i = 1; i < n_runs; i++) runs[i] += runs[i - 1];
    memcpy(cursor, runs, n_runs * sizeof *cursor);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i1 = 0; i1 < n; i1++) {
            int64_t r = row_of(ids, i1, b, B2, R);
            if (r >= 0) runs[n_runs + cursor[b * R + r]++] = (uint32_t)i1;
        }
    free(cursor);
    struct vk_piece *lists = vk_plan_upload(m->vk, plan, runs, words * sizeof *runs, err, errlen);
    free(runs);
    if (!lists) return false;
    struct vk_dispatch *d = vk_plan_add(plan);
    d->pipe = VK_PIPE_GET_ROWS_BACK;
    uint32_t ody = vk_bind(m, d, dy, false);
    vk_bind_piece(d, lists, false);
    uint32_t od = vk_bind(m, d, t, true);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_u32(d, (uint32_t)t->ne[0]);
    vk_push_u32(d, (uint32_t)R);
    vk_push_u32(d, (uint32_t)B2);
    vk_push_nb(d, dy);
    vk_push_u32(d, ody);
    vk_push_u32(d, (uint32_t)n_runs);
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
    return true;
}

// unary_back (x, dy) and the row backward ops (x or y, dy): the same bindings.
static void prep_pair(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan) {
    const struct tl_tensor *x = t->src[0], *dy = t->src[1];
    struct vk_dispatch *d = vk_plan_add(plan);
    bool unary = t->op == TL_OP_UNARY_BACK;
    d->pipe = unary ? VK_PIPE_UNARY_BACK : VK_PIPE_NORM_BACK;
    uint32_t ox = vk_bind(m, d, x, false), ody = vk_bind(m, d, dy, false), od = vk_bind(m, d, t, true);
    if (unary) {
        enum tl_op f = (enum tl_op)t->params[0];
        vk_push_u32(d, f == TL_OP_SILU ? 0 : f == TL_OP_GELU ? 1 : 2);
        vk_push_u32(d, (uint32_t)tl_nelements(t));
    } else {
        vk_push_u32(d, t->op == TL_OP_RMS_NORM_BACK ? 0 : t->op == TL_OP_LAYER_NORM_BACK ? 1 : 2);
        vk_push_f32(d, tl_param_f32(t, 0));
    }
    vk_push_ne(d, t);
    vk_push_nb(d, x);
    vk_push_u32(d, ox);
    vk_push_nb(d, dy);
    vk_push_u32(d, ody);
    vk_push_u32(d, od);
    if (unary) vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
    else vk_flat_groups(m->vk, d, (uint64_t)tl_nrows(t), 1);
}

// Pass 1 (dq and each query row's statistics) then pass 2 (dk, dv), attn_back.glsl.
static bool prep_attn_back(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                           size_t errlen) {
    const struct tl_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2], *sq = t->src[3], *sk = t->src[4];
    const struct tl_tensor *out = t->src[5], *dout = t->src[6];
    int64_t rows = q->ne[1] * q->ne[2] * q->ne[3];
    struct vk_piece *stats = vk_plan_scratch(m->vk, plan, (size_t)rows * 2 * sizeof(float), err, errlen);
    if (!stats) return false;
    struct vk_dispatch *d = vk_plan_add(plan);
    d->pipe = VK_PIPE_ATTN_BACK_Q;
    uint32_t oq = vk_bind(m, d, q, false), ok = vk_bind(m, d, k, false), ov = vk_bind(m, d, v, false);
    uint32_t osq = vk_bind(m, d, sq ? sq : q, false), osk = vk_bind(m, d, sk ? sk : q, false);
    uint32_t oo = vk_bind(m, d, out, false), odo = vk_bind(m, d, dout, false), od = vk_bind(m, d, t, true);
    vk_bind_piece(d, stats, true);
    vk_push_attn_shapes(d, q, k, v, oq, ok, ov);
    vk_push_u32(d, oo);
    vk_push_u32(d, odo);
    vk_push_u32(d, od);
    vk_push_attn_mask(d, t, osq, osk);
    uint64_t q_blocks = ((uint64_t)q->ne[1] + VK_ATTN_BACK_BLOCK - 1) / VK_ATTN_BACK_BLOCK;
    uint64_t k_blocks = ((uint64_t)k->ne[1] + VK_ATTN_BACK_BLOCK - 1) / VK_ATTN_BACK_BLOCK;
    vk_flat_groups(m->vk, d, q_blocks * (uint64_t)(q->ne[2] * q->ne[3]), 1);
    struct vk_dispatch *d2 = vk_plan_add(plan);
    *d2 = plan->d[plan->n - 2];   // the same bindings and constants (d may have moved)
    d2->pipe = VK_PIPE_ATTN_BACK_KV;
    d2->b[8].written = false;
    vk_flat_groups(m->vk, d2, k_blocks * (uint64_t)(k->ne[2] * k->ne[3]), 1);
    return true;
}

// One mul_mat.comp dispatch of weight type w over plain 2-D operands (no batch).
static void push_gemm(const struct tl_vk_backend *vk, struct vk_dispatch *d, int w, struct vk_gemm g) {
    g.b2 = g.b3 = g.r2 = g.r3 = 1;
    vk_push_gemm(d, &g);
    vk_gemm_tiles(vk, d, w, g.M, g.N, false);
    d->groups[2] = 1;
}

// Per chunk of C tokens from n0: z [C][V] = logits; the softmax step (losses, and with
// grads z = dloss (softmax - onehot)); then dh[:, n0..] = W^T z and dw += z^T h. The
// forward ends with the sum of the per-token losses.
static bool prep_lm(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                    size_t errlen) {
    const struct tl_tensor *w = t->src[0], *h = t->src[1], *tg = t->src[2], *dloss = t->src[3];
    bool back = t->op == TL_OP_LM_LOSS_BACK, want_dw = back && t->params[1];
    int64_t H = h->ne[0], N = h->ne[1], V = w->ne[1], chunk = TL_MIN((int64_t)t->params[0], N);
    int wi = float_weight_index(m->vk, w->type);
    uint32_t ws = (uint32_t)(w->nb[1] / tl_row_size(w->type, 1)), hs = (uint32_t)(h->nb[1] / sizeof(float));
    struct vk_piece *z = vk_plan_scratch(m->vk, plan, (size_t)(chunk * V) * sizeof(float), err, errlen);
    struct vk_piece *losses = z ? vk_plan_scratch(m->vk, plan, (size_t)N * sizeof(float), err, errlen) : NULL;
    if (!losses) return false;
    // dh's GEMM (H x C outputs over K = V) splits K: one scratch serves every chunk
    struct vk_gemm dh = { .K = (uint32_t)V, .M = (uint32_t)H, .N = (uint32_t)chunk, .sa = { ws, 1 },
                          .sb = { 1, (uint32_t)V } };
    uint32_t splits = back ? vk_gemm_split(&dh, 1) : 1;
    struct vk_piece *part = NULL;
    if (splits > 1 && !(part = vk_plan_scratch(m->vk, plan, (size_t)splits * H * chunk * sizeof(float), err, errlen)))
        return false;
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        uint32_t C = (uint32_t)TL_MIN(chunk, N - n0);
        struct vk_dispatch *d = vk_plan_add(plan);
        uint32_t ow = vk_bind(m, d, w, false), oh = vk_bind(m, d, h, false);
        vk_bind_piece(d, z, true);
        push_gemm(m->vk, d, wi, (struct vk_gemm){ .K = (uint32_t)H, .M = (uint32_t)V, .N = C, .sa = { 1, ws }, .off_a = ow,
                                       .sb = { 1, hs }, .off_b = oh + (uint32_t)n0 * hs });

        d = vk_plan_add(plan);
        d->pipe = VK_PIPE_LM_SOFTMAX;
        vk_bind_piece(d, z, back);
        uint32_t ot = vk_bind(m, d, tg, false), og = vk_bind(m, d, back ? dloss : tg, false);
        vk_bind_piece(d, losses, true);
        vk_push_u32(d, (uint32_t)V);
        vk_push_u32(d, C);
        vk_push_u32(d, (uint32_t)n0);
        vk_push_u32(d, ot);
        vk_push_u32(d, back ? og : 0);
        vk_push_u32(d, back);
        vk_flat_groups(m->vk, d, C, 1);
        if (!back) continue;

        d = vk_plan_add(plan);   // dh[k][n0 + c] = sum_v w[v][k] z[c][v]
        dh.N = C;
        dh.off_a = vk_bind(m, d, w, false);
        vk_bind_piece(d, z, false);
        if (part) vk_bind_piece(d, part, true);
        else dh.off_d = vk_bind(m, d, t, true) + (uint32_t)(n0 * H);
        push_gemm(m->vk, d, wi, dh);
        d->groups[2] = splits;
        if (part) vk_add_splits(m, plan, part, t, (uint32_t)(n0 * H), (uint32_t)H * C, splits);
        if (!want_dw) continue;
        d = vk_plan_add(plan);   // dw[k][v] += sum_c h[n0 + c][k] z[c][v]
        oh = vk_bind(m, d, h, false);
        vk_bind_piece(d, z, false);
        uint32_t od = vk_bind(m, d, t, true);
        push_gemm(m->vk, d, VK_W_F32, (struct vk_gemm){ .K = C, .M = (uint32_t)H, .N = (uint32_t)V, .sa = { hs, 1 },
                                       .off_a = oh + (uint32_t)n0 * hs, .sb = { (uint32_t)V, 1 },
                                       .off_d = od + (uint32_t)(H * N), .accumulate = n0 > 0 });
    }
    if (back) return true;
    struct vk_dispatch *d = vk_plan_add(plan);   // the loss: sum_to [N] -> [1]
    d->pipe = VK_PIPE_SUM_TO;
    vk_bind_piece(d, losses, false);
    uint32_t od = vk_bind(m, d, t, true);
    uint32_t push[] = { 1, 1, 1, 1, 1, (uint32_t)N, 1, 1, 1, 1, 0, 0, 0, 0, od };
    for (size_t i = 0; i < sizeof push / sizeof push[0]; i++) vk_push_u32(d, push[i]);
    vk_flat_groups(m->vk, d, 1, 1);
    return true;
}

bool vk_prepare_grad(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                     size_t errlen) {
    switch (t->op) {
    case TL_OP_SUM_TO: prep_sum_to(m, t, plan); return true;
    case TL_OP_GET_ROWS_BACK: return prep_get_rows_back(m, t, plan, err, errlen);
    case TL_OP_UNARY_BACK: case TL_OP_RMS_NORM_BACK: case TL_OP_LAYER_NORM_BACK: case TL_OP_SOFT_MAX_BACK:
        prep_pair(m, t, plan);
        return true;
    case TL_OP_FLASH_ATTN_BACK: return prep_attn_back(m, t, plan, err, errlen);
    case TL_OP_LM_LOSS: case TL_OP_LM_LOSS_BACK: return prep_lm(m, t, plan, err, errlen);
    default:
        tl_errorf(err, errlen, "vulkan: no shader for %s", tl_op_name(t->op));
        return false;
    }
}
