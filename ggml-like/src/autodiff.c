// Reverse-mode autodiff: tl_build_backward walks a forward graph from its loss back to
// the params and builds each tensor's gradient from its users' gradients with one
// backward rule per op. Every gradient is a contiguous f32 tensor of its tensor's shape.
#include "tl-impl.h"
#include "ptrmap.h"

struct backward {
    struct tl_context *ctx;
    struct tl_ptrmap   needs;   // tensors that depend on a param: 1
};

static bool needs_grad(const struct backward *bw, const struct tl_tensor *t) {
    return t && tl_ptrmap_get(&bw->needs, t) == 1;
}

// Adds g to t's gradient. false (and the context's error) if t cannot take one.
static bool accumulate(struct backward *bw, struct tl_tensor *t, struct tl_tensor *g) {
    if (!needs_grad(bw, t)) return true;
    if (!g) return false;
    if (!tl_type_traits(t->type)->is_float) {
        tl_op_error(bw->ctx, "backward", t, NULL, "a gradient reaches a %s tensor (only float types take one)",
                    tl_type_name(t->type));
        return false;
    }
    TL_ASSERT(tl_are_same_shape(t, g) && g->type == TL_F32);
    t->grad = t->grad ? tl_add(bw->ctx, t->grad, g) : g;
    return t->grad != NULL;
}

// A view: permutes permute back, reshapes reshape back, other views of a contiguous
// tensor scatter into zeros where they lay.
static bool back_view(struct backward *bw, struct tl_tensor *y, struct tl_tensor *dy) {
    struct tl_context *ctx = bw->ctx;
    struct tl_tensor *src = y->src[0];
    if (y->params[TL_VIEW_KIND] == TL_VIEW_PERMUTE) {
        int inv[4];
        for (int i = 0; i < 4; i++) inv[y->params[i]] = i;
        return accumulate(bw, src, tl_cont(ctx, tl_permute(ctx, dy, inv[0], inv[1], inv[2], inv[3])));
    }
    if (!tl_is_contiguous(src)) {
        tl_op_error(ctx, "backward", y, src, "a view of a non-contiguous tensor has no backward rule");
        return false;
    }
    size_t es = tl_type_traits(src->type)->type_size;
    int64_t offset = (int64_t)(y->view_offs - (src->view_src ? src->view_offs : 0)) / (int64_t)es;
    if (tl_is_contiguous(y) && offset == 0 && tl_nelements(y) == tl_nelements(src))
        return accumulate(bw, src, tl_reshape_4d(ctx, dy, src->ne[0], src->ne[1], src->ne[2], src->ne[3]));
    int64_t st[4] = { 1, (int64_t)(y->nb[1] / es), (int64_t)(y->nb[2] / es), (int64_t)(y->nb[3] / es) };
    return accumulate(bw, src, tl_view_back(ctx, dy, src->ne, st, offset));
}

// a [K, M, A2, A3] times b [K, N, B2, B3] = y [M, N, B2, B3]:
//   db = a^T dy (mul_mat of a transposed),  da = dy^T b summed over the batches a was
//   broadcast to (batch b2 of y used a's batch b2 / (B2/A2))
static bool back_mul_mat(struct backward *bw, struct tl_tensor *y, struct tl_tensor *dy) {
    struct tl_context *ctx = bw->ctx;
    struct tl_tensor *a = y->src[0], *b = y->src[1];
    if (needs_grad(bw, b)) {
        if (!tl_type_traits(a->type)->is_float) {
            tl_op_error(ctx, "backward", a, b, "mul_mat: no gradient through block-format weights");
            return false;
        }
        if (!accumulate(bw, b, tl_mul_mat(ctx, tl_cont(ctx, tl_transpose(ctx, a)), dy))) return false;
    }
    if (!needs_grad(bw, a)) return true;
    struct tl_tensor *da = tl_mul_mat(ctx, tl_cont(ctx, tl_transpose(ctx, b)), tl_cont(ctx, tl_transpose(ctx, dy)));
    if (!da) return false;
    int64_t K = a->ne[0], M = a->ne[1], r2 = b->ne[2] / a->ne[2], r3 = b->ne[3] / a->ne[3];
    if (r2 > 1)
        da = tl_sum_to(ctx, tl_reshape_4d(ctx, da, K * M, r2, a->ne[2], b->ne[3]), (int64_t[4]){ K * M, 1, a->ne[2], b->ne[3] });
    if (r3 > 1)
        da = tl_sum_to(ctx, tl_reshape_4d(ctx, da, K * M * a->ne[2], r3, a->ne[3], 1),
                       (int64_t[4]){ K * M * a->ne[2], 1, a->ne[3], 1 });
    return accumulate(bw, a, tl_reshape_4d(ctx, da, K, M, a->ne[2], a->ne[3]));
}

static bool back_binary(struct backward *bw, struct tl_tensor *y, struct tl_tensor *dy) {
    struct tl_context *ctx = bw->ctx;
    struct tl_tensor *a = y->src[0], *b = y->src[1];
    if (needs_grad(bw, a)) {
        struct tl_tensor *da = y->op == TL_OP_MUL ? tl_mul(ctx, dy, b) : y->op == TL_OP_DIV ? tl_div(ctx, dy, b) : dy;
        if (!accumulate(bw, a, da)) return false;
    }
    if (!needs_grad(bw, b)) return true;
    struct tl_tensor *db;   // before the sum over what b was broadcast to
    switch (y->op) {
    case TL_OP_ADD: db = dy; break;
    case TL_OP_SUB: db = tl_scale(ctx, dy, -1.0f); break;
    case TL_OP_MUL: db = tl_mul(ctx, dy, a); break;
    case TL_OP_DIV: db = tl_scale(ctx, tl_div(ctx, tl_mul(ctx, dy, y), b), -1.0f); break;   // d(a/b)/db = -y/b
    default: TL_ASSERT(!"not a binary op"); db = NULL;
    }
    return accumulate(bw, b, tl_are_same_shape(a, b) ? db : tl_sum_to(ctx, db, b->ne));
}

static bool back_concat(struct backward *bw, struct tl_tensor *y, struct tl_tensor *dy) {
    struct tl_tensor *part[2] = { y->src[0], y->src[1] };
    int dim = y->params[0];
    size_t offs = 0;
    for (int i = 0; i < 2; i++) {
        const struct tl_tensor *s = part[i];
        struct tl_tensor *v = tl_view_4d(bw->ctx, dy, s->ne[0], s->ne[1], s->ne[2], s->ne[3], dy->nb[1], dy->nb[2],
                                         dy->nb[3], offs);
        if (!accumulate(bw, part[i], tl_cont(bw->ctx, v))) return false;
        offs += (size_t)s->ne[dim] * dy->nb[dim];
    }
    return true;
}

static bool back_rope(struct backward *bw, struct tl_tensor *y, struct tl_tensor *dy) {
    struct tl_rope_params p;
    tl_rope_params_of(y, &p);
    p.inverse = !p.inverse;   // a rotation's transpose is the rotation back
    return accumulate(bw, y->src[0], tl_rope(bw->ctx, dy, y->src[1], p));
}

static bool back_flash_attn(struct backward *bw, struct tl_tensor *y, struct tl_tensor *dy) {
    struct tl_context *ctx = bw->ctx;
    struct tl_attn_params p;
    tl_attn_params_of(y, &p);
    struct tl_tensor *g = tl_flash_attn_back(ctx, y->src[0], y->src[1], y->src[2], y->src[3], y->src[4], y, dy, p);
    for (int i = 0; i < 3; i++)
        if (needs_grad(bw, y->src[i]) && !accumulate(bw, y->src[i], tl_flash_attn_back_part(ctx, g, i))) return false;
    return true;
}

static bool back_lm_loss(struct backward *bw, struct tl_tensor *y, struct tl_tensor *dy) {
    struct tl_context *ctx = bw->ctx;
    struct tl_tensor *w = y->src[0], *h = y->src[1];
    bool want_dw = needs_grad(bw, w);
    struct tl_tensor *g = tl_lm_loss_back(ctx, w, h, y->src[2], dy, y->params[0], want_dw);
    struct tl_tensor *dh = tl_lm_loss_back_part(ctx, g, 0);
    if (!accumulate(bw, h, dh ? tl_reshape_4d(ctx, dh, h->ne[0], h->ne[1], h->ne[2], h->ne[3]) : NULL)) return false;
    return !want_dw || accumulate(bw, w, tl_lm_loss_back_part(ctx, g, 1));
}

// Adds y's contribution to the gradients of its inputs.
static bool back_node(struct backward *bw, struct tl_tensor *y) {
    struct tl_context *ctx = bw->ctx;
    struct tl_tensor *dy = y->grad, *a = y->src[0], *b = y->src[1];
    switch (y->op) {
    case TL_OP_VIEW: return back_view(bw, y, dy);
    case TL_OP_CONT: return accumulate(bw, a, dy);   // also a cast: the gradient stays f32
    case TL_OP_CPY:    // a's values went into b (whose old values are gone)
        return accumulate(bw, a, tl_reshape_4d(ctx, dy, a->ne[0], a->ne[1], a->ne[2], a->ne[3]));
    case TL_OP_CONCAT: return back_concat(bw, y, dy);
    case TL_OP_GET_ROWS: return accumulate(bw, a, tl_get_rows_back(ctx, dy, b, a->ne[1]));
    case TL_OP_ADD: case TL_OP_SUB: case TL_OP_MUL: case TL_OP_DIV: return back_binary(bw, y, dy);
    case TL_OP_SCALE: return accumulate(bw, a, tl_scale(ctx, dy, tl_param_f32(y, 0)));
    case TL_OP_SILU: case TL_OP_GELU: case TL_OP_GELU_TANH:
        return accumulate(bw, a, tl_unary_back(ctx, y->op, a, dy));
    case TL_OP_SWIGLU:   // silu(g) u
        return accumulate(bw, a, needs_grad(bw, a) ? tl_unary_back(ctx, TL_OP_SILU, a, tl_mul(ctx, dy, b)) : NULL) &&
               accumulate(bw, b, needs_grad(bw, b) ? tl_mul(ctx, dy, tl_silu(ctx, a)) : NULL);
    case TL_OP_RMS_NORM: return accumulate(bw, a, tl_rms_norm_back(ctx, a, dy, tl_param_f32(y, 0)));
    case TL_OP_LAYER_NORM: return accumulate(bw, a, tl_layer_norm_back(ctx, a, dy, tl_param_f32(y, 0)));
    case TL_OP_SOFT_MAX:
        if (needs_grad(bw, b)) {
            tl_op_error(ctx, "backward", y, b, "soft_max: no gradient for the mask");
            return false;
        }
        return accumulate(bw, a, tl_soft_max_back(ctx, y, dy, tl_param_f32(y, 0)));
    case TL_OP_ROPE: return back_rope(bw, y, dy);
    case TL_OP_MUL_MAT: return back_mul_mat(bw, y, dy);
    case TL_OP_FLASH_ATTN: return back_flash_attn(bw, y, dy);
    case TL_OP_LM_LOSS: return back_lm_loss(bw, y, dy);
    default:
        tl_op_error(ctx, "backward", y, NULL, "op %s has no backward rule", tl_op_name(y->op));
        return false;
    }
}

bool tl_build_backward(struct tl_context *ctx, struct tl_graph *gf, struct tl_tensor *loss,
                       struct tl_tensor *seed, struct tl_graph *gb) {
    if (!loss || !seed) {
        tl_set_error(ctx, "backward: loss or seed is NULL");
        return false;
    }
    if (seed->type != TL_F32 || !tl_are_same_shape(seed, loss)) {
        tl_op_error(ctx, "backward", loss, seed, "the seed must be f32 of the loss's shape");
        return false;
    }
    struct backward bw = { .ctx = ctx };
    if (!tl_ptrmap_init(&bw.needs, gf->n_nodes + gf->n_leafs)) abort();
    bool found = false;
    for (int i = 0; i < gf->n_leafs; i++) {
        gf->leafs[i]->grad = NULL;
        if (gf->leafs[i]->flags & TL_FLAG_PARAM) tl_ptrmap_put(&bw.needs, gf->leafs[i], 1);
    }
    for (int i = 0; i < gf->n_nodes; i++) {   // inputs come first: one pass decides
        struct tl_tensor *t = gf->nodes[i];
        t->grad = NULL;
        found |= t == loss;
        if (t->op == TL_OP_ARGMAX || !tl_type_traits(t->type)->is_float) continue;
        for (int s = 0; s < TL_MAX_SRC; s++)
            if (needs_grad(&bw, t->src[s])) {
                tl_ptrmap_put(&bw.needs, t, 1);
                break;
            }
    }
    bool ok = false;
    if (!found) tl_set_error(ctx, "backward: the loss is not a node of the forward graph");
    else if (!needs_grad(&bw, loss)) tl_set_error(ctx, "backward: the loss does not depend on any param");
    else {
        loss->grad = seed;
        ok = true;
        for (int i = gf->n_nodes - 1; i >= 0 && ok; i--) {
            struct tl_tensor *t = gf->nodes[i];
            if (t->grad && needs_grad(&bw, t)) ok = back_node(&bw, t);
        }
        ok = ok && tl_graph_build(gb, loss);
        for (int i = 0; i < gf->n_leafs && ok; i++)
            if ((gf->leafs[i]->flags & TL_FLAG_PARAM) && gf->leafs[i]->grad) ok = tl_graph_build(gb, gf->leafs[i]->grad);
    }
    tl_ptrmap_free(&bw.needs);
    return ok;
}
