// The ops gradients are made of (tl_build_backward uses them; see tl.h): sum_to,
// view_back, get_rows_back, unary_back, rms_norm_back, layer_norm_back, soft_max_back,
// with their reference kernels. Results are contiguous f32.
#include "tl-impl.h"

#include <math.h>

// int64 values that do not fit an int32 param are kept as two halves
static void param_set_i64(struct tl_tensor *t, int i, int64_t v) {
    memcpy(&t->params[i], &v, sizeof v);
}
static int64_t param_i64(const struct tl_tensor *t, int i) {
    int64_t v;
    memcpy(&v, &t->params[i], sizeof v);
    return v;
}

static bool is_f32_rows(const struct tl_tensor *t) {
    return t->type == TL_F32 && t->nb[0] == sizeof(float);
}

struct tl_tensor *tl_sum_to(struct tl_context *ctx, struct tl_tensor *a, const int64_t ne[4]) {
    if (!a) return NULL;
    if (a->type != TL_F32) return tl_op_error(ctx, "sum_to", a, NULL, "input must be f32");
    for (int i = 0; i < 4; i++)
        if (ne[i] < 1 || a->ne[i] % ne[i])
            return tl_op_error(ctx, "sum_to", a, NULL, "[%lld, %lld, %lld, %lld] does not broadcast to the input in dim %d",
                               (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3], i);
    return tl_new_op(ctx, TL_OP_SUM_TO, TL_F32, ne, a, NULL);
}

// dst[i mod ne] += a[i], accumulated in double per destination element
void tl_ref_sum_to(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0];
    int64_t n = tl_nelements(dst);
    double *acc = calloc(n, sizeof *acc);
    TL_ASSERT(acc);
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < a->ne[0]; i0++) {
                    int64_t j = i0 % dst->ne[0] +
                                dst->ne[0] * (i1 % dst->ne[1] + dst->ne[1] * (i2 % dst->ne[2] + dst->ne[2] * (i3 % dst->ne[3])));
                    acc[j] += *(const float *)tl_elem_ptr(a, i0, i1, i2, i3);
                }
    float *y = dst->data;
    for (int64_t j = 0; j < n; j++) y[j] = (float)acc[j];
    free(acc);
}

// params: [0..1] offset, [2..7] element strides st1..st3 (int64 each)
struct tl_tensor *tl_view_back(struct tl_context *ctx, struct tl_tensor *dy, const int64_t ne[4],
                               const int64_t st[4], int64_t offset) {
    if (!dy) return NULL;
    if (dy->type != TL_F32) return tl_op_error(ctx, "view_back", dy, NULL, "gradient must be f32");
    int64_t n = ne[0] * ne[1] * ne[2] * ne[3], last = offset;
    for (int i = 0; i < 4; i++) last += (dy->ne[i] - 1) * (i ? st[i] : 1);
    if (offset < 0 || last >= n)
        return tl_op_error(ctx, "view_back", dy, NULL, "the view reaches element %lld of %lld",
                           (long long)last, (long long)n);
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_VIEW_BACK, TL_F32, ne, dy, NULL);
    if (!t) return NULL;
    param_set_i64(t, 0, offset);
    for (int i = 1; i < 4; i++) param_set_i64(t, 2 * i, st[i]);
    return t;
}

void tl_view_back_layout(const struct tl_tensor *t, int64_t *offset, int64_t st[4]) {
    *offset = param_i64(t, 0);
    st[0] = 1;
    for (int i = 1; i < 4; i++) st[i] = param_i64(t, 2 * i);
}

void tl_ref_view_back(struct tl_tensor *dst) {
    const struct tl_tensor *dy = dst->src[0];
    float *y = dst->data;
    memset(y, 0, tl_nbytes(dst));
    int64_t off = param_i64(dst, 0), s1 = param_i64(dst, 2), s2 = param_i64(dst, 4), s3 = param_i64(dst, 6);
    for (int64_t i3 = 0; i3 < dy->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dy->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dy->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dy->ne[0]; i0++)
                    y[off + i0 + i1 * s1 + i2 * s2 + i3 * s3] += *(const float *)tl_elem_ptr(dy, i0, i1, i2, i3);
}

struct tl_tensor *tl_get_rows_back(struct tl_context *ctx, struct tl_tensor *dy,
                                   struct tl_tensor *ids, int64_t n_rows) {
    if (!dy || !ids) return NULL;
    if (dy->type != TL_F32 || ids->type != TL_I32)
        return tl_op_error(ctx, "get_rows_back", dy, ids, "needs f32 gradient and i32 ids");
    if (ids->ne[0] != dy->ne[1] || ids->ne[1] != dy->ne[2] || ids->ne[2] != dy->ne[3] || n_rows < 1)
        return tl_op_error(ctx, "get_rows_back", dy, ids, "ids [n, B2, B3] must match the gradient's dims 1-3");
    int64_t ne[4] = { dy->ne[0], n_rows, dy->ne[2], dy->ne[3] };
    return tl_new_op(ctx, TL_OP_GET_ROWS_BACK, TL_F32, ne, dy, ids);
}

// Rows with an id outside the table were zeros in the forward and take no gradient.
void tl_ref_get_rows_back(struct tl_tensor *dst) {
    const struct tl_tensor *dy = dst->src[0], *ids = dst->src[1];
    memset(dst->data, 0, tl_nbytes(dst));
    for (int64_t i3 = 0; i3 < dy->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dy->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dy->ne[1]; i1++) {
                int32_t r = *(const int32_t *)tl_elem_ptr(ids, i1, i2, i3, 0);
                if (r < 0 || r >= dst->ne[1]) continue;
                float *out = tl_elem_ptr(dst, 0, r, i2, i3);
                for (int64_t i0 = 0; i0 < dy->ne[0]; i0++) out[i0] += *(const float *)tl_elem_ptr(dy, i0, i1, i2, i3);
            }
}

struct tl_tensor *tl_unary_back(struct tl_context *ctx, enum tl_op f, struct tl_tensor *x,
                                struct tl_tensor *dy) {
    if (!x || !dy) return NULL;
    if (f != TL_OP_SILU && f != TL_OP_GELU && f != TL_OP_GELU_TANH)
        return tl_op_error(ctx, "unary_back", x, dy, "%s is not silu, gelu or gelu_tanh", tl_op_name(f));
    if (x->type != TL_F32 || dy->type != TL_F32 || !tl_are_same_shape(x, dy))
        return tl_op_error(ctx, "unary_back", x, dy, "x and dy must be f32 of one shape");
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_UNARY_BACK, TL_F32, x->ne, x, dy);
    if (t) t->params[0] = f;
    return t;
}

// f'(x) of the forward activations, in double
double tl_unary_derivative(enum tl_op f, double x) {
    switch (f) {
    case TL_OP_SILU: {
        double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 + x * (1.0 - s));
    }
    case TL_OP_GELU:   // x * Phi(x)
        return 0.5 * (1.0 + erf(x * M_SQRT1_2)) + x * exp(-0.5 * x * x) * 0.3989422804014327;
    case TL_OP_GELU_TANH: {
        const double c = 0.7978845608028654, a = 0.044715;
        double t = tanh(c * (x + a * x * x * x));
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * a * x * x);
    }
    default: TL_ASSERT(!"not a unary op"); return 0;
    }
}

void tl_ref_unary_back(struct tl_tensor *dst) {
    const struct tl_tensor *x = dst->src[0], *dy = dst->src[1];
    enum tl_op f = (enum tl_op)dst->params[0];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dst->ne[0]; i0++) {
                    double xv = *(const float *)tl_elem_ptr(x, i0, i1, i2, i3);
                    double g = *(const float *)tl_elem_ptr(dy, i0, i1, i2, i3);
                    *(float *)tl_elem_ptr(dst, i0, i1, i2, i3) = (float)(g * tl_unary_derivative(f, xv));
                }
}

static struct tl_tensor *row_back(struct tl_context *ctx, enum tl_op op, struct tl_tensor *x,
                                  struct tl_tensor *dy, float param) {
    if (!x || !dy) return NULL;
    if (!is_f32_rows(x) || !is_f32_rows(dy) || !tl_are_same_shape(x, dy))
        return tl_op_error(ctx, tl_op_name(op), x, dy, "needs f32 inputs of one shape with contiguous rows");
    struct tl_tensor *t = tl_new_op(ctx, op, TL_F32, x->ne, x, dy);
    if (t) tl_param_set_f32(t, 0, param);
    return t;
}

struct tl_tensor *tl_rms_norm_back(struct tl_context *ctx, struct tl_tensor *x,
                                   struct tl_tensor *dy, float eps) {
    return row_back(ctx, TL_OP_RMS_NORM_BACK, x, dy, eps);
}
struct tl_tensor *tl_layer_norm_back(struct tl_context *ctx, struct tl_tensor *x,
                                     struct tl_tensor *dy, float eps) {
    return row_back(ctx, TL_OP_LAYER_NORM_BACK, x, dy, eps);
}
struct tl_tensor *tl_soft_max_back(struct tl_context *ctx, struct tl_tensor *y,
                                   struct tl_tensor *dy, float scale) {
    return row_back(ctx, TL_OP_SOFT_MAX_BACK, y, dy, scale);
}

// Calls fn on each row of dst with the matching rows of src0 and src1.
static void for_rows(struct tl_tensor *dst, tl_back_row_fn fn) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    float param = tl_param_f32(dst, 0);
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dst->ne[1]; i1++)
                fn(tl_elem_ptr(a, 0, i1, i2, i3), tl_elem_ptr(b, 0, i1, i2, i3), tl_elem_ptr(dst, 0, i1, i2, i3),
                   dst->ne[0], param);
}

// y = x r, r = (mean(x^2) + eps)^-1/2:  dx = r dy - x r^3 mean(dy x)
void tl_rms_norm_back_row(const float *x, const float *dy, float *dx, int64_t n, float eps) {
    double ss = 0, sd = 0;
    for (int64_t i = 0; i < n; i++) {
        ss += (double)x[i] * x[i];
        sd += (double)dy[i] * x[i];
    }
    double r = 1.0 / sqrt(ss / n + eps);
    double c = r * r * r * sd / n;
    for (int64_t i = 0; i < n; i++) dx[i] = (float)(r * dy[i] - c * x[i]);
}

// y = (x - mean) r:  dx = r (dy - mean(dy) - y mean(dy y))
void tl_layer_norm_back_row(const float *x, const float *dy, float *dx, int64_t n, float eps) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double mean = s / n;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    double r = 1.0 / sqrt(ss / n + eps);
    double sdy = 0, sdyy = 0;
    for (int64_t i = 0; i < n; i++) {
        sdy += dy[i];
        sdyy += dy[i] * (x[i] - mean) * r;
    }
    for (int64_t i = 0; i < n; i++) dx[i] = (float)(r * (dy[i] - sdy / n - (x[i] - mean) * r * sdyy / n));
}

void tl_soft_max_back_row(const float *y, const float *dy, float *dx, int64_t n, float scale) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)dy[i] * y[i];
    for (int64_t i = 0; i < n; i++) dx[i] = (float)(scale * y[i] * (dy[i] - s));
}

void tl_ref_rms_norm_back(struct tl_tensor *dst) { for_rows(dst, tl_rms_norm_back_row); }
void tl_ref_layer_norm_back(struct tl_tensor *dst) { for_rows(dst, tl_layer_norm_back_row); }
void tl_ref_soft_max_back(struct tl_tensor *dst) { for_rows(dst, tl_soft_max_back_row); }
