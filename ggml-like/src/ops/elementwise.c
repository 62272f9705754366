// Elementwise ops: add/sub/mul/div with broadcasting, scale, silu, gelu (erf and tanh),
// swiglu, with their reference kernels.
#include "tl-impl.h"

#include <math.h>

static struct tl_tensor *binary(struct tl_context *ctx, enum tl_op op, struct tl_tensor *a,
                                struct tl_tensor *b) {
    if (!a || !b) return NULL;
    const char *name = tl_op_name(op);
    if (a->type != TL_F32 || b->type != TL_F32)
        return tl_op_error(ctx, name, a, b, "both inputs must be f32");
    for (int i = 0; i < 4; i++)
        if (a->ne[i] % b->ne[i] != 0)
            return tl_op_error(ctx, name, a, b, "b does not broadcast to a in dim %d", i);
    return tl_new_op(ctx, op, TL_F32, a->ne, a, b);
}

struct tl_tensor *tl_add(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b) {
    return binary(ctx, TL_OP_ADD, a, b);
}
struct tl_tensor *tl_sub(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b) {
    return binary(ctx, TL_OP_SUB, a, b);
}
struct tl_tensor *tl_mul(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b) {
    return binary(ctx, TL_OP_MUL, a, b);
}
struct tl_tensor *tl_div(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b) {
    return binary(ctx, TL_OP_DIV, a, b);
}

// dst[i] = a[i] (op) b[i mod b.ne] in every dim
void tl_ref_binary(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dst->ne[0]; i0++) {
                    float x = *(const float *)tl_elem_ptr(a, i0, i1, i2, i3);
                    float y = *(const float *)tl_elem_ptr(b, i0 % b->ne[0], i1 % b->ne[1],
                                                          i2 % b->ne[2], i3 % b->ne[3]);
                    float r;
                    switch (dst->op) {
                    case TL_OP_ADD: r = x + y; break;
                    case TL_OP_SUB: r = x - y; break;
                    case TL_OP_MUL: r = x * y; break;
                    case TL_OP_DIV: r = x / y; break;
                    default: TL_ASSERT(!"not a binary op"); r = 0;
                    }
                    *(float *)tl_elem_ptr(dst, i0, i1, i2, i3) = r;
                }
}

static struct tl_tensor *unary(struct tl_context *ctx, enum tl_op op, struct tl_tensor *a) {
    if (!a) return NULL;
    if (a->type != TL_F32) return tl_op_error(ctx, tl_op_name(op), a, NULL, "input must be f32");
    return tl_new_op(ctx, op, TL_F32, a->ne, a, NULL);
}

struct tl_tensor *tl_scale(struct tl_context *ctx, struct tl_tensor *a, float s) {
    struct tl_tensor *t = unary(ctx, TL_OP_SCALE, a);
    if (t) tl_param_set_f32(t, 0, s);
    return t;
}
struct tl_tensor *tl_silu(struct tl_context *ctx, struct tl_tensor *a) {
    return unary(ctx, TL_OP_SILU, a);
}
struct tl_tensor *tl_gelu(struct tl_context *ctx, struct tl_tensor *a) {
    return unary(ctx, TL_OP_GELU, a);
}
struct tl_tensor *tl_gelu_tanh(struct tl_context *ctx, struct tl_tensor *a) {
    return unary(ctx, TL_OP_GELU_TANH, a);
}

void tl_ref_scale(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    float s = tl_param_f32(dst, 0);
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dst->ne[0]; i0++)
                    *(float *)tl_elem_ptr(dst, i0, i1, i2, i3) =
                        s * *(const float *)tl_elem_ptr(a, i0, i1, i2, i3);
}

void tl_ref_unary(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dst->ne[0]; i0++) {
                    float x = *(const float *)tl_elem_ptr(a, i0, i1, i2, i3), r;
                    switch (dst->op) {
                    case TL_OP_SILU: r = tl_silu_f32(x); break;
                    case TL_OP_GELU: r = tl_gelu_erf_f32(x); break;
                    case TL_OP_GELU_TANH: r = tl_gelu_tanh_f32(x); break;
                    default: TL_ASSERT(!"not a unary op"); r = 0;
                    }
                    *(float *)tl_elem_ptr(dst, i0, i1, i2, i3) = r;
                }
}

struct tl_tensor *tl_swiglu(struct tl_context *ctx, struct tl_tensor *gate,
                            struct tl_tensor *up) {
    if (!gate || !up) return NULL;
    if (gate->type != TL_F32 || up->type != TL_F32)
        return tl_op_error(ctx, "swiglu", gate, up, "inputs must be f32");
    if (!tl_are_same_shape(gate, up)) return tl_op_error(ctx, "swiglu", gate, up, "shapes differ");
    return tl_new_op(ctx, TL_OP_SWIGLU, TL_F32, gate->ne, gate, up);
}

void tl_ref_swiglu(struct tl_tensor *dst) {
    const struct tl_tensor *g = dst->src[0], *u = dst->src[1];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dst->ne[0]; i0++) {
                    float x = *(const float *)tl_elem_ptr(g, i0, i1, i2, i3);
                    float y = *(const float *)tl_elem_ptr(u, i0, i1, i2, i3);
                    *(float *)tl_elem_ptr(dst, i0, i1, i2, i3) = tl_silu_f32(x) * y;
                }
}
