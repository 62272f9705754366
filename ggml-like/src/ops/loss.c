// The language-model loss fused with the output projection, and its backward. Tokens go
// through in chunks, so only [V, chunk] logits exist at a time (see tl.h).
//   loss = sum_n lse_n - z_n,t     z_n = W h_n, lse_n = log sum_v exp z_nv
//   dh_n = dloss sum_v (p_nv - [v = t_n]) w_v       p_n = softmax(z_n)
//   dw_v = dloss sum_n (p_nv - [v = t_n]) h_n
// Tokens whose target is outside [0, V) count no loss and get no gradient.
#include "tl-impl.h"

#include <math.h>

static bool lm_check(struct tl_context *ctx, const char *op, struct tl_tensor *w, struct tl_tensor *h,
                     struct tl_tensor *targets, int chunk) {
    if (!tl_type_traits(w->type)->is_float)
        return tl_op_error(ctx, op, w, h, "the output weights must be f32, f16 or bf16");
    if (h->type != TL_F32 || h->nb[0] != sizeof(float) || tl_n_dims(h) > 2)
        return tl_op_error(ctx, op, w, h, "hidden states must be f32 [H, N] with contiguous rows");
    if (w->ne[0] != h->ne[0] || tl_n_dims(w) > 2 || w->nb[0] != tl_type_traits(w->type)->type_size)
        return tl_op_error(ctx, op, w, h, "weights must be [H, V] with the hidden states' H and contiguous rows");
    if (targets->type != TL_I32 || targets->ne[0] != h->ne[1] || tl_n_dims(targets) != 1 ||
        !tl_is_contiguous(targets))
        return tl_op_error(ctx, op, h, targets, "targets must be contiguous i32 [N]");
    if (chunk < 1) return tl_op_error(ctx, op, w, h, "chunk %d must be >= 1", chunk);
    return true;
}

struct tl_tensor *tl_lm_loss(struct tl_context *ctx, struct tl_tensor *w, struct tl_tensor *h,
                             struct tl_tensor *targets, int chunk) {
    if (!w || !h || !targets) return NULL;
    if (!lm_check(ctx, "lm_loss", w, h, targets, chunk)) return NULL;
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_LM_LOSS, TL_F32, (int64_t[4]){ 1, 1, 1, 1 }, w, h);
    if (!t) return NULL;
    t->src[2] = targets;
    t->params[0] = chunk;
    return t;
}

struct tl_tensor *tl_lm_loss_back(struct tl_context *ctx, struct tl_tensor *w,
                                  struct tl_tensor *h, struct tl_tensor *targets,
                                  struct tl_tensor *dloss, int chunk, bool want_dw) {
    if (!w || !h || !targets || !dloss) return NULL;
    if (!lm_check(ctx, "lm_loss_back", w, h, targets, chunk)) return NULL;
    if (dloss->type != TL_F32 || tl_nelements(dloss) != 1)
        return tl_op_error(ctx, "lm_loss_back", dloss, NULL, "dloss must be one f32");
    int64_t n = tl_nelements(h) + (want_dw ? w->ne[0] * w->ne[1] : 0);
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_LM_LOSS_BACK, TL_F32, (int64_t[4]){ n, 1, 1, 1 }, w, h);
    if (!t) return NULL;
    t->src[2] = targets;
    t->src[3] = dloss;
    t->params[0] = chunk;
    t->params[1] = want_dw;
    return t;
}

// which: 0 dh [H, N], 1 dw [H, V] (when the backward was asked for it)
struct tl_tensor *tl_lm_loss_back_part(struct tl_context *ctx, struct tl_tensor *packed, int which) {
    if (!packed) return NULL;
    if (packed->op != TL_OP_LM_LOSS_BACK || which < 0 || which > packed->params[1])
        return tl_op_error(ctx, "lm_loss_back_part", packed, NULL, "not an lm_loss_back result with part %d", which);
    const struct tl_tensor *w = packed->src[0], *h = packed->src[1];
    int64_t H = h->ne[0], cols = which ? w->ne[1] : h->ne[1];
    size_t offs = which ? (size_t)tl_nelements(h) * sizeof(float) : 0;
    return tl_view_4d(ctx, packed, H, cols, 1, 1, H * sizeof(float), H * cols * sizeof(float),
                      H * cols * sizeof(float), offs);
}

// The softmax of one chunk of logits, minus the target's one-hot: z [C][V] in place.
// Returns the chunk's loss. Rows of uncounted tokens become zeros.
static double chunk_softmax_minus_onehot(double *z, const int32_t *tg, int64_t C, int64_t V) {
    double loss = 0;
    for (int64_t c = 0; c < C; c++) {
        double *zc = z + c * V;
        if (tg[c] < 0 || tg[c] >= V) {
            memset(zc, 0, V * sizeof *zc);
            continue;
        }
        double mx = -INFINITY, sum = 0;
        for (int64_t v = 0; v < V; v++) mx = zc[v] > mx ? zc[v] : mx;
        for (int64_t v = 0; v < V; v++) sum += exp(zc[v] - mx);
        loss += mx + log(sum) - zc[tg[c]];
        for (int64_t v = 0; v < V; v++) zc[v] = exp(zc[v] - mx) / sum;
        zc[tg[c]] -= 1;
    }
    return loss;
}

// z [C][V] = logits of tokens n0 .. n0+C-1, one weight row at a time
static void chunk_logits(const struct tl_tensor *w, const struct tl_tensor *h, int64_t n0, int64_t C,
                         float *wrow, double *z) {
    int64_t H = h->ne[0], V = w->ne[1];
    for (int64_t v = 0; v < V; v++) {
        tl_type_traits(w->type)->to_float(tl_elem_ptr(w, 0, v, 0, 0), wrow, H);
        for (int64_t c = 0; c < C; c++) {
            const float *hn = tl_elem_ptr(h, 0, n0 + c, 0, 0);
            double s = 0;
            for (int64_t k = 0; k < H; k++) s += (double)wrow[k] * hn[k];
            z[c * V + v] = s;
        }
    }
}

// Runs the chunks; with grads, also accumulates dh and dw (double, scaled by dloss).
static double lm_chunks(const struct tl_tensor *dst, double dloss, double *dh, double *dw) {
    const struct tl_tensor *w = dst->src[0], *h = dst->src[1];
    const int32_t *tg = dst->src[2]->data;
    int64_t H = h->ne[0], N = h->ne[1], V = w->ne[1], chunk = dst->params[0];
    double *z = malloc(TL_MIN(chunk, N) * V * sizeof *z);
    float *wrow = malloc(H * sizeof *wrow);
    TL_ASSERT(z && wrow);
    double loss = 0;
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        int64_t C = TL_MIN(chunk, N - n0);
        chunk_logits(w, h, n0, C, wrow, z);
        loss += chunk_softmax_minus_onehot(z, tg + n0, C, V);
        if (!dh) continue;
        for (int64_t v = 0; v < V; v++) {
            tl_type_traits(w->type)->to_float(tl_elem_ptr(w, 0, v, 0, 0), wrow, H);
            for (int64_t c = 0; c < C; c++) {
                double g = z[c * V + v] * dloss;
                if (g == 0) continue;
                const float *hn = tl_elem_ptr(h, 0, n0 + c, 0, 0);
                for (int64_t k = 0; k < H; k++) {
                    dh[(n0 + c) * H + k] += g * wrow[k];
                    if (dw) dw[v * H + k] += g * hn[k];
                }
            }
        }
    }
    free(z);
    free(wrow);
    return loss;
}

void tl_ref_lm_loss(struct tl_tensor *dst) { *(float *)dst->data = (float)lm_chunks(dst, 0, NULL, NULL); }

void tl_ref_lm_loss_back(struct tl_tensor *dst) {
    int64_t n = tl_nelements(dst);
    double *g = calloc(n, sizeof *g);
    TL_ASSERT(g);
    double dloss = *(const float *)dst->src[3]->data;
    lm_chunks(dst, dloss, g, dst->params[1] ? g + tl_nelements(dst->src[1]) : NULL);
    float *y = dst->data;
    for (int64_t i = 0; i < n; i++) y[i] = (float)g[i];
    free(g);
}
