// Layout ops: reshape/view/permute/transpose (views, no arithmetic), cont, cpy, cast,
// concat and get_rows, with their reference kernels.
#include "tl-impl.h"

struct tl_tensor *tl_reshape_4d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                                int64_t ne1, int64_t ne2, int64_t ne3) {
    if (!a) return NULL;
    if (!tl_is_contiguous(a))
        return tl_op_error(ctx, "reshape", a, NULL, "input must be contiguous (use tl_cont)");
    if (ne0 * ne1 * ne2 * ne3 != tl_nelements(a))
        return tl_op_error(ctx, "reshape", a, NULL, "to [%lld, %lld, %lld, %lld] changes the element count",
                           (long long)ne0, (long long)ne1, (long long)ne2, (long long)ne3);
    int64_t ne[4] = { ne0, ne1, ne2, ne3 };
    size_t nb[4];
    nb[0] = a->nb[0];
    nb[1] = tl_row_size(a->type, ne0);
    nb[2] = nb[1] * ne1;
    nb[3] = nb[2] * ne2;
    return tl_new_view(ctx, a, ne, nb, 0);
}

struct tl_tensor *tl_reshape_2d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                                int64_t ne1) {
    return tl_reshape_4d(ctx, a, ne0, ne1, 1, 1);
}
struct tl_tensor *tl_reshape_3d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                                int64_t ne1, int64_t ne2) {
    return tl_reshape_4d(ctx, a, ne0, ne1, ne2, 1);
}

struct tl_tensor *tl_view_4d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                             int64_t ne1, int64_t ne2, int64_t ne3, size_t nb1, size_t nb2,
                             size_t nb3, size_t offset) {
    if (!a) return NULL;
    int64_t ne[4] = { ne0, ne1, ne2, ne3 };
    size_t nb[4] = { a->nb[0], nb1, nb2, nb3 };
    if (ne0 < 1 || ne1 < 1 || ne2 < 1 || ne3 < 1)
        return tl_op_error(ctx, "view", a, NULL, "non-positive dimension");
    size_t span = tl_row_size(a->type, ne0);
    for (int i = 1; i < 4; i++) span += (size_t)(ne[i] - 1) * nb[i];
    if (offset + span > tl_nbytes(a))
        return tl_op_error(ctx, "view", a, NULL,
                           "[%lld, %lld, %lld, %lld] at offset %zu reaches byte %zu of %zu",
                           (long long)ne0, (long long)ne1, (long long)ne2, (long long)ne3,
                           offset, offset + span, tl_nbytes(a));
    return tl_new_view(ctx, a, ne, nb, offset);
}

struct tl_tensor *tl_permute(struct tl_context *ctx, struct tl_tensor *a, int ax0, int ax1,
                             int ax2, int ax3) {
    if (!a) return NULL;
    int axes[4] = { ax0, ax1, ax2, ax3 };
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        if (axes[i] < 0 || axes[i] > 3 || (seen & (1 << axes[i])))
            return tl_op_error(ctx, "permute", a, NULL, "axes (%d, %d, %d, %d) are not a permutation",
                               ax0, ax1, ax2, ax3);
        seen |= 1 << axes[i];
    }
    int64_t ne[4];
    size_t nb[4];
    for (int i = 0; i < 4; i++) {
        ne[axes[i]] = a->ne[i];
        nb[axes[i]] = a->nb[i];
    }
    struct tl_tensor *t = tl_new_view(ctx, a, ne, nb, 0);
    if (!t) return NULL;
    memcpy(t->params, axes, sizeof axes);
    t->params[TL_VIEW_KIND] = TL_VIEW_PERMUTE;   // its backward permutes back
    return t;
}

struct tl_tensor *tl_transpose(struct tl_context *ctx, struct tl_tensor *a) {
    return tl_permute(ctx, a, 1, 0, 2, 3);
}

struct tl_tensor *tl_cont(struct tl_context *ctx, struct tl_tensor *a) {
    if (!a) return NULL;
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_CONT, a->type, a->ne, a, NULL);
    return t;
}

struct tl_tensor *tl_cast(struct tl_context *ctx, struct tl_tensor *a, enum tl_type type) {
    if (!a) return NULL;
    if (!tl_type_traits(a->type)->is_float || !tl_type_traits(type)->is_float)
        return tl_op_error(ctx, "cast", a, NULL, "to %s: only float types convert", tl_type_name(type));
    return tl_new_op(ctx, TL_OP_CONT, type, a->ne, a, NULL);
}

struct tl_tensor *tl_cpy(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b) {
    if (!a || !b) return NULL;
    if (tl_nelements(a) != tl_nelements(b))
        return tl_op_error(ctx, "cpy", a, b, "element counts differ");
    bool same_int = a->type == TL_I32 && b->type == TL_I32;
    const struct tl_type_traits *tb = tl_type_traits(b->type);
    if (tb->is_quantized) {   // quantizing rows into a block-format tensor (a KV cache)
        if (!tl_type_traits(a->type)->is_float)
            return tl_op_error(ctx, "cpy", a, b, "only float tensors quantize into %s", tb->name);
        if (b->ne[0] % tb->block_size || b->nb[0] != tb->type_size)
            return tl_op_error(ctx, "cpy", a, b, "%s rows must be whole contiguous blocks of %lld", tb->name,
                               (long long)tb->block_size);
    } else if (!same_int && (!tl_type_traits(a->type)->is_float || !tb->is_float))
        return tl_op_error(ctx, "cpy", a, b, "unsupported type pair");
    // the result is a view of b: writing it writes b (e.g. into a KV cache)
    struct tl_tensor *v = tl_new_view(ctx, b, b->ne, b->nb, 0);
    if (!v) return NULL;
    v->op = TL_OP_CPY;
    v->src[0] = a;
    v->src[1] = b;
    return v;
}

// dst (any float type or I32 with I32 src) <- src0, element i of src0 in ne order going
// to element i of dst in ne order. Used by cont, cast and cpy.
// Block-format dst: src elements in ne order fill dst rows, each quantized whole.
static void ref_cont_quantize(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    int64_t n = tl_nelements(a), ne0 = dst->ne[0];
    float *row = malloc(ne0 * sizeof *row);
    TL_ASSERT(row);
    int64_t x[4] = { 0 }, r = 0;
    for (int64_t i = 0; i < n; i++) {
        row[i % ne0] = tl_load_f32(a->type, tl_elem_ptr(a, x[0], x[1], x[2], x[3]));
        for (int d = 0; d < 4 && ++x[d] == a->ne[d]; d++) x[d] = 0;
        if ((i + 1) % ne0) continue;
        int64_t i1 = r % dst->ne[1], i2 = r / dst->ne[1] % dst->ne[2], i3 = r / (dst->ne[1] * dst->ne[2]);
        r++;
        tl_type_traits(dst->type)->from_float(row, tl_elem_ptr(dst, 0, i1, i2, i3), ne0);
    }
    free(row);
}

void tl_ref_cont(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    if (tl_type_traits(dst->type)->is_quantized) {
        ref_cont_quantize(dst);
        return;
    }
    int64_t n = tl_nelements(a);
    int64_t x[4] = { 0 }, y[4] = { 0 };
    for (int64_t i = 0; i < n; i++) {
        const void *pa = tl_elem_ptr(a, x[0], x[1], x[2], x[3]);
        void *pd = tl_elem_ptr(dst, y[0], y[1], y[2], y[3]);
        if (a->type == TL_I32 && dst->type == TL_I32) *(int32_t *)pd = *(const int32_t *)pa;
        else tl_store_f32(dst->type, pd, tl_load_f32(a->type, pa));
        for (int d = 0; d < 4 && ++x[d] == a->ne[d]; d++) x[d] = 0;
        for (int d = 0; d < 4 && ++y[d] == dst->ne[d]; d++) y[d] = 0;
    }
}

struct tl_tensor *tl_concat(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b,
                            int dim) {
    if (!a || !b) return NULL;
    if (dim < 0 || dim > 3) return tl_op_error(ctx, "concat", a, b, "dim %d out of range", dim);
    if (a->type != b->type) return tl_op_error(ctx, "concat", a, b, "types differ");
    if (!tl_type_traits(a->type)->is_float && a->type != TL_I32)
        return tl_op_error(ctx, "concat", a, b, "unsupported type");
    int64_t ne[4];
    for (int i = 0; i < 4; i++) {
        if (i != dim && a->ne[i] != b->ne[i])
            return tl_op_error(ctx, "concat", a, b, "shapes differ outside dim %d", dim);
        ne[i] = i == dim ? a->ne[i] + b->ne[i] : a->ne[i];
    }
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_CONCAT, a->type, ne, a, b);
    if (t) t->params[0] = dim;
    return t;
}

void tl_ref_concat(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    int dim = dst->params[0];
    size_t es = dst->nb[0];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dst->ne[0]; i0++) {
                    int64_t x[4] = { i0, i1, i2, i3 };
                    const struct tl_tensor *s = a;
                    if (x[dim] >= a->ne[dim]) {
                        s = b;
                        x[dim] -= a->ne[dim];
                    }
                    memcpy(tl_elem_ptr(dst, i0, i1, i2, i3), tl_elem_ptr(s, x[0], x[1], x[2], x[3]), es);
                }
}

struct tl_tensor *tl_get_rows(struct tl_context *ctx, struct tl_tensor *a,
                              struct tl_tensor *ids) {
    if (!a || !ids) return NULL;
    if (ids->type != TL_I32) return tl_op_error(ctx, "get_rows", a, ids, "ids must be i32");
    const struct tl_type_traits *tt = tl_type_traits(a->type);
    if (!tt->is_float && !tt->vec_dot)   // panel layouts (q4_Kr8) have no rows to read
        return tl_op_error(ctx, "get_rows", a, ids, "rows must be a float or block type with contiguous rows");
    if (ids->ne[1] != a->ne[2] || ids->ne[2] != a->ne[3] || ids->ne[3] != 1)
        return tl_op_error(ctx, "get_rows", a, ids, "ids [n, B2, B3] must match a's dims 2-3");
    int64_t ne[4] = { a->ne[0], ids->ne[0], a->ne[2], a->ne[3] };
    return tl_new_op(ctx, TL_OP_GET_ROWS, TL_F32, ne, a, ids);
}

// dst [E, n, B2, B3] = a[:, ids[i], b2, b3]; an id outside [0, R) gives a zero row (the
// fast path checks ids up front and reports them).
// Rows of a block format are dequantized whole (dst rows are contiguous f32).
void tl_ref_get_rows(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0], *ids = dst->src[1];
    const struct tl_type_traits *tt = tl_type_traits(a->type);
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++) {
                int32_t r = *(const int32_t *)tl_elem_ptr(ids, i1, i2, i3, 0);
                if (tt->is_quantized) {
                    float *out = tl_elem_ptr(dst, 0, i1, i2, i3);
                    if (r >= 0 && r < a->ne[1]) tt->to_float(tl_elem_ptr(a, 0, r, i2, i3), out, dst->ne[0]);
                    else memset(out, 0, dst->ne[0] * sizeof(float));
                    continue;
                }
                for (int64_t i0 = 0; i0 < dst->ne[0]; i0++) {
                    float v = (r >= 0 && r < a->ne[1])
                                  ? tl_load_f32(a->type, tl_elem_ptr(a, i0, r, i2, i3)) : 0.0f;
                    *(float *)tl_elem_ptr(dst, i0, i1, i2, i3) = v;
                }
            }
}
