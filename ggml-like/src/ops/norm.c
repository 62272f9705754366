// Row normalisations over ne0: rms_norm and layer_norm (no affine part; multiply by the
// weight with tl_mul, add the bias with tl_add), and softmax with mask, and argmax.
#include "tl-impl.h"

#include <math.h>

static struct tl_tensor *row_op(struct tl_context *ctx, enum tl_op op, struct tl_tensor *a,
                                float eps) {
    if (!a) return NULL;
    if (a->type != TL_F32) return tl_op_error(ctx, tl_op_name(op), a, NULL, "input must be f32");
    if (a->nb[0] != sizeof(float))
        return tl_op_error(ctx, tl_op_name(op), a, NULL, "rows (ne0) must be contiguous");
    struct tl_tensor *t = tl_new_op(ctx, op, TL_F32, a->ne, a, NULL);
    if (t) tl_param_set_f32(t, 0, eps);
    return t;
}

struct tl_tensor *tl_rms_norm(struct tl_context *ctx, struct tl_tensor *a, float eps) {
    return row_op(ctx, TL_OP_RMS_NORM, a, eps);
}
struct tl_tensor *tl_layer_norm(struct tl_context *ctx, struct tl_tensor *a, float eps) {
    return row_op(ctx, TL_OP_LAYER_NORM, a, eps);
}

// y = x / sqrt(mean(x^2) + eps)     x, y: [ne0] rows
void tl_ref_rms_norm(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    float eps = tl_param_f32(dst, 0);
    int64_t n = a->ne[0];
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
                float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
                double ss = 0;
                for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
                float r = (float)(1.0 / sqrt(ss / n + eps));
                for (int64_t i = 0; i < n; i++) y[i] = x[i] * r;
            }
}

// y = (x - mean) / sqrt(var + eps)
void tl_ref_layer_norm(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    float eps = tl_param_f32(dst, 0);
    int64_t n = a->ne[0];
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
                float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
                double s = 0, ss = 0;
                for (int64_t i = 0; i < n; i++) s += x[i];
                double mean = s / n;
                for (int64_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
                float r = (float)(1.0 / sqrt(ss / n + eps));
                for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - mean) * r);
            }
}

struct tl_tensor *tl_soft_max(struct tl_context *ctx, struct tl_tensor *a,
                              struct tl_tensor *mask, float scale) {
    struct tl_tensor *t = row_op(ctx, TL_OP_SOFT_MAX, a, scale);
    if (!t || !mask) return t;
    if (mask->type != TL_F32 || mask->ne[0] != a->ne[0] || mask->ne[1] < a->ne[1] ||
        mask->nb[0] != sizeof(float))
        return tl_op_error(ctx, "soft_max", a, mask, "mask must be f32 [ne0, >= ne1] with contiguous rows");
    t->src[1] = mask;
    return t;
}

// y = exp(x*scale + m - max) / sum(...); mask row i1 of the 2-D mask, broadcast over 2-3.
// A row that is all -inf gives zeros.
void tl_ref_soft_max(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0], *mask = dst->src[1];
    float scale = tl_param_f32(dst, 0);
    int64_t n = a->ne[0];
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
                const float *m = mask ? tl_elem_ptr(mask, 0, i1, 0, 0) : NULL;
                float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
                float mx = -INFINITY;
                for (int64_t i = 0; i < n; i++) {
                    y[i] = x[i] * scale + (m ? m[i] : 0.0f);
                    if (y[i] > mx) mx = y[i];
                }
                if (mx == -INFINITY) {
                    for (int64_t i = 0; i < n; i++) y[i] = 0;
                    continue;
                }
                double sum = 0;
                for (int64_t i = 0; i < n; i++) {
                    y[i] = expf(y[i] - mx);
                    sum += y[i];
                }
                for (int64_t i = 0; i < n; i++) y[i] = (float)(y[i] / sum);
            }
}

struct tl_tensor *tl_argmax(struct tl_context *ctx, struct tl_tensor *a) {
    if (!a) return NULL;
    if (a->type != TL_F32) return tl_op_error(ctx, "argmax", a, NULL, "input must be f32");
    int64_t ne[4] = { a->ne[1], a->ne[2], a->ne[3], 1 };
    return tl_new_op(ctx, TL_OP_ARGMAX, TL_I32, ne, a, NULL);
}

void tl_ref_argmax(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                int32_t best = 0;
                float bv = *(const float *)tl_elem_ptr(a, 0, i1, i2, i3);
                for (int64_t i = 1; i < a->ne[0]; i++) {
                    float v = *(const float *)tl_elem_ptr(a, i, i1, i2, i3);
                    if (v > bv) {
                        bv = v;
                        best = (int32_t)i;
                    }
                }
                *(int32_t *)tl_elem_ptr(dst, i1, i2, i3, 0) = best;
            }
}
