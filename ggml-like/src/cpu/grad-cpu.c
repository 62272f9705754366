// Threaded kernels of the gradient ops (sum_to, view_back, get_rows_back, unary_back and
// the row backs of the norms and softmax), and the transposing copy that mul_mat's
// gradient makes of its inputs. Each splits the work so that every output element is
// computed by one thread with the reference kernel's own arithmetic, in its order: the
// results are the reference's bits, only sooner. Compiled once (the math is in double,
// as the reference does it, so there is nothing for the ISA builds to vectorise).
#include "tl-cpu.h"
#include "cpu-impl.h"

#include <omp.h>

#define TILE 16   // elements per side of the transposing copy's tiles: a cache line of
                  // destination row, and few enough source lines for an L1 set's ways

static bool same_shape_f32_rows(const struct tl_tensor *a, const struct tl_tensor *b) {
    return tl_rows_contiguous_f32(a) && tl_rows_contiguous_f32(b) && tl_are_same_shape(a, b);
}

static bool unary_back(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *x = dst->src[0], *dy = dst->src[1];
    if (!same_shape_f32_rows(x, dy)) return false;
    enum tl_op f = (enum tl_op)dst->params[0];
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t r = 0; r < tl_nrows(dst); r++) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        const float *xr = tl_elem_ptr(x, 0, i1, i2, i3), *gr = tl_elem_ptr(dy, 0, i1, i2, i3);
        float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
        for (int64_t i = 0; i < dst->ne[0]; i++) y[i] = (float)((double)gr[i] * tl_unary_derivative(f, xr[i]));
    }
    return true;
}

static bool rows_back(struct tl_tensor *dst, int nth, tl_back_row_fn fn) {
    const struct tl_tensor *a = dst->src[0], *dy = dst->src[1];
    float param = tl_param_f32(dst, 0);
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t r = 0; r < tl_nrows(dst); r++) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        fn(tl_elem_ptr(a, 0, i1, i2, i3), tl_elem_ptr(dy, 0, i1, i2, i3), tl_elem_ptr(dst, 0, i1, i2, i3),
           dst->ne[0], param);
    }
    return true;
}
static bool rms_norm_back(struct tl_tensor *dst, int nth) { return rows_back(dst, nth, tl_rms_norm_back_row); }
static bool layer_norm_back(struct tl_tensor *dst, int nth) { return rows_back(dst, nth, tl_layer_norm_back_row); }
static bool soft_max_back(struct tl_tensor *dst, int nth) { return rows_back(dst, nth, tl_soft_max_back_row); }

// Threads own ranges of the destination's dim 0 (a bias or a norm weight summed over the
// tokens) and each reads its slice of every input row.
static bool sum_to(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0];
    int64_t d0 = dst->ne[0];
    if (!tl_rows_contiguous_f32(a) || a->ne[0] != d0 || d0 < 2 * nth) return false;
    int64_t n = tl_nelements(dst);
    double *acc = calloc(n, sizeof *acc);
    if (!acc) return false;
    #pragma omp parallel num_threads(nth)
    {
        int t = omp_get_thread_num(), k = omp_get_num_threads();
        int64_t c0 = d0 * t / k, c1 = d0 * (t + 1) / k;
        for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
            for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
                for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                    const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
                    double *out = acc + d0 * (i1 % dst->ne[1] + dst->ne[1] * (i2 % dst->ne[2] + dst->ne[2] * (i3 % dst->ne[3])));
                    for (int64_t c = c0; c < c1; c++) out[c] += x[c];
                }
    }
    float *y = dst->data;
    for (int64_t j = 0; j < n; j++) y[j] = (float)acc[j];
    free(acc);
    return true;
}

// Threads own ranges of the table's rows and add the gradient rows whose id falls in
// theirs, in the reference's order (an id repeated in the batch adds up the same way).
static bool get_rows_back(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *dy = dst->src[0], *ids = dst->src[1];
    if (!tl_rows_contiguous_f32(dy)) return false;
    int64_t rows = dst->ne[1];
    #pragma omp parallel num_threads(nth)
    {
        int t = omp_get_thread_num(), k = omp_get_num_threads();
        int64_t r0 = rows * t / k, r1 = rows * (t + 1) / k;
        for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
            for (int64_t i2 = 0; i2 < dst->ne[2]; i2++)
                memset(tl_elem_ptr(dst, 0, r0, i2, i3), 0, (size_t)(r1 - r0) * dst->nb[1]);
        for (int64_t i3 = 0; i3 < dy->ne[3]; i3++)
            for (int64_t i2 = 0; i2 < dy->ne[2]; i2++)
                for (int64_t i1 = 0; i1 < dy->ne[1]; i1++) {
                    int32_t r = *(const int32_t *)tl_elem_ptr(ids, i1, i2, i3, 0);
                    if (r < r0 || r >= r1) continue;
                    float *out = tl_elem_ptr(dst, 0, r, i2, i3);
                    const float *g = tl_elem_ptr(dy, 0, i1, i2, i3);
                    for (int64_t i0 = 0; i0 < dy->ne[0]; i0++) out[i0] += g[i0];
                }
    }
    return true;
}

// When the view's elements are distinct (its strides step past the extent below them),
// each destination element takes at most one gradient element, so rows can go in any
// order; an overlapping view takes the reference path.
static bool view_back(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *dy = dst->src[0];
    int64_t off, st[4];
    tl_view_back_layout(dst, &off, st);
    for (int i = 1; i < 4; i++)
        if (dy->ne[i] > 1 && st[i] < st[i - 1] * dy->ne[i - 1]) return false;
    if (!tl_rows_contiguous_f32(dy)) return false;
    float *y = dst->data;
    int64_t n = tl_nelements(dst);
    #pragma omp parallel num_threads(nth)
    {
        int t = omp_get_thread_num(), k = omp_get_num_threads();
        memset(y + n * t / k, 0, (size_t)(n * (t + 1) / k - n * t / k) * sizeof(float));
        #pragma omp barrier
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < tl_nrows(dy); r++) {
            int64_t i1, i2, i3;
            tl_row_index(dy, r, &i1, &i2, &i3);
            const float *g = tl_elem_ptr(dy, 0, i1, i2, i3);
            float *out = y + off + i1 * st[1] + i2 * st[2] + i3 * st[3];
            for (int64_t i0 = 0; i0 < dy->ne[0]; i0++) out[i0] += g[i0];
        }
    }
    return true;
}

// cont of a same-shape 4-byte source whose dim 0 is strided (a transpose or permute):
// TILE x TILE blocks of (i0, i1), so the source's and the destination's cache lines are
// both used whole. Other copies take the per-ISA path or the reference.
bool tl_cpu_cont_strided(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0];
    if (a->type != dst->type || tl_type_traits(a->type)->type_size != 4 || !tl_are_same_shape(a, dst) ||
        dst->nb[0] != 4)
        return false;
    int64_t n0 = dst->ne[0], n1 = dst->ne[1];
    int64_t t0 = (n0 + TILE - 1) / TILE, t1 = (n1 + TILE - 1) / TILE;
    int64_t tiles = t0 * t1 * dst->ne[2] * dst->ne[3];
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t k = 0; k < tiles; k++) {
        int64_t b0 = k % t0 * TILE, b1 = k / t0 % t1 * TILE, i2 = k / (t0 * t1) % dst->ne[2], i3 = k / (t0 * t1 * dst->ne[2]);
        int64_t e0 = b0 + TILE < n0 ? b0 + TILE : n0, e1 = b1 + TILE < n1 ? b1 + TILE : n1;
        for (int64_t i1 = b1; i1 < e1; i1++) {
            const char *x = tl_elem_ptr(a, b0, i1, i2, i3);
            uint32_t *y = tl_elem_ptr(dst, b0, i1, i2, i3);
            for (int64_t i0 = b0; i0 < e0; i0++, x += a->nb[0]) memcpy(y + (i0 - b0), x, 4);
        }
    }
    return true;
}

void tl_cpu_register_grad(struct tl_cpu_kernels *k) {
    k->op[TL_OP_UNARY_BACK] = unary_back;
    k->op[TL_OP_RMS_NORM_BACK] = rms_norm_back;
    k->op[TL_OP_LAYER_NORM_BACK] = layer_norm_back;
    k->op[TL_OP_SOFT_MAX_BACK] = soft_max_back;
    k->op[TL_OP_SUM_TO] = sum_to;
    k->op[TL_OP_GET_ROWS_BACK] = get_rows_back;
    k->op[TL_OP_VIEW_BACK] = view_back;
}
