// Fast paths of the elementwise and row ops, in the vector vocabulary of simd.h (built
// once per ISA). Rows are split over threads; ne0 must be contiguous, rows may have any
// strides (views), otherwise the reference kernel runs.
#include "cpu-impl.h"
#include "simd.h"

#define FOR_ROWS(t, nth)                                                                  \
    _Pragma("omp parallel for num_threads(nth) schedule(static)")                          \
    for (int64_t r = 0; r < tl_nrows(t); r++)

static void row_binary(enum tl_op op, float *y, const float *a, const float *b, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf x = vload(a + i), z = vload(b + i), r;
        switch (op) {
        case TL_OP_ADD: r = vadd(x, z); break;
        case TL_OP_SUB: r = vsub(x, z); break;
        case TL_OP_MUL: r = vmul(x, z); break;
        default: r = vdiv(x, z); break;
        }
        vstore(y + i, r);
    }
    for (; i < n; i++) {
        switch (op) {
        case TL_OP_ADD: y[i] = a[i] + b[i]; break;
        case TL_OP_SUB: y[i] = a[i] - b[i]; break;
        case TL_OP_MUL: y[i] = a[i] * b[i]; break;
        default: y[i] = a[i] / b[i]; break;
        }
    }
}

static bool fast_binary(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    if (!tl_rows_contiguous_f32(a) || !tl_rows_contiguous_f32(b) || !tl_rows_contiguous_f32(dst))
        return false;
    int64_t n = dst->ne[0], bn = b->ne[0];
    FOR_ROWS(dst, nth) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
        const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
        const float *z = tl_elem_ptr(b, 0, i1 % b->ne[1], i2 % b->ne[2], i3 % b->ne[3]);
        if (bn == 1) {   // one scalar for the whole row
            float s[VL];
            for (int j = 0; j < VL; j++) s[j] = z[0];
            int64_t i = 0;
            for (; i + VL <= n; i += VL) row_binary(dst->op, y + i, x + i, s, VL);
            row_binary(dst->op, y + i, x + i, s, n - i);
        } else {
            for (int64_t i = 0; i < n; i += bn) row_binary(dst->op, y + i, x + i, z, bn);
        }
    }
    return true;
}

static bool fast_unary(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    if (!tl_rows_contiguous_f32(a) || !tl_rows_contiguous_f32(dst)) return false;
    if (b && !tl_rows_contiguous_f32(b)) return false;
    int64_t n = dst->ne[0];
    enum tl_op op = dst->op;
    float s = op == TL_OP_SCALE ? tl_param_f32(dst, 0) : 0;
    FOR_ROWS(dst, nth) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
        const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
        const float *u = b ? (const float *)tl_elem_ptr(b, 0, i1, i2, i3) : NULL;
        int64_t i = 0;
        for (; i + VL <= n; i += VL) {
            vf v = vload(x + i), o;
            switch (op) {
            case TL_OP_SCALE: o = vmul(v, vset1(s)); break;
            case TL_OP_SILU: o = vsilu(v); break;
            case TL_OP_SWIGLU: o = vmul(vsilu(v), vload(u + i)); break;
            case TL_OP_GELU:
                o = vmul(vmul(vset1(0.5f), v), vadd(vset1(1.0f), verf(vmul(v, vset1(0.70710678118654752f)))));
                break;
            default: {   // gelu_tanh
                vf inner = vmul(vset1(0.7978845608028654f), vfma(vmul(vset1(0.044715f), vmul(v, v)), v, v));
                o = vmul(vmul(vset1(0.5f), v), vadd(vset1(1.0f), vtanh(inner)));
            }
            }
            vstore(y + i, o);
        }
        for (; i < n; i++) {
            switch (op) {
            case TL_OP_SCALE: y[i] = s * x[i]; break;
            case TL_OP_SILU: y[i] = tl_silu_f32(x[i]); break;
            case TL_OP_SWIGLU: y[i] = tl_silu_f32(x[i]) * u[i]; break;
            case TL_OP_GELU: y[i] = tl_gelu_erf_f32(x[i]); break;
            default: y[i] = tl_gelu_tanh_f32(x[i]);
            }
        }
    }
    return true;
}

static float row_sum(const float *x, int64_t n, float shift, bool squares) {
    vf acc0 = vzero(), acc1 = vzero();
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        vf v0 = vsub(vload(x + i), vset1(shift)), v1 = vsub(vload(x + i + VL), vset1(shift));
        acc0 = squares ? vfma(v0, v0, acc0) : vadd(acc0, v0);
        acc1 = squares ? vfma(v1, v1, acc1) : vadd(acc1, v1);
    }
    float s = vhsum(vadd(acc0, acc1));
    for (; i < n; i++) s += squares ? (x[i] - shift) * (x[i] - shift) : x[i] - shift;
    return s;
}

static void row_affine(float *y, const float *x, int64_t n, float shift, float mul) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vstore(y + i, vmul(vsub(vload(x + i), vset1(shift)), vset1(mul)));
    for (; i < n; i++) y[i] = (x[i] - shift) * mul;
}

static bool fast_norm(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0];
    if (!tl_rows_contiguous_f32(a) || !tl_rows_contiguous_f32(dst)) return false;
    int64_t n = a->ne[0];
    float eps = tl_param_f32(dst, 0);
    bool layer = dst->op == TL_OP_LAYER_NORM;
    FOR_ROWS(dst, nth) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
        float mean = layer ? row_sum(x, n, 0, false) / n : 0;
        float var = row_sum(x, n, mean, true) / n;
        row_affine(tl_elem_ptr(dst, 0, i1, i2, i3), x, n, mean, 1.0f / sqrtf(var + eps));
    }
    return true;
}

static bool fast_soft_max(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *mask = dst->src[1];
    if (!tl_rows_contiguous_f32(a) || !tl_rows_contiguous_f32(dst)) return false;
    int64_t n = a->ne[0];
    float scale = tl_param_f32(dst, 0);
    FOR_ROWS(dst, nth) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
        const float *m = mask ? (const float *)tl_elem_ptr(mask, 0, i1, 0, 0) : NULL;
        float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) {   // scaled, masked scores and their max
            y[i] = x[i] * scale + (m ? m[i] : 0.0f);
            mx = y[i] > mx ? y[i] : mx;
        }
        if (mx == -INFINITY) {
            memset(y, 0, n * sizeof(float));
            continue;
        }
        vf acc = vzero();
        int64_t i = 0;
        for (; i + VL <= n; i += VL) {
            vf e = vexp(vsub(vload(y + i), vset1(mx)));
            vstore(y + i, e);
            acc = vadd(acc, e);
        }
        float sum = vhsum(acc);
        for (; i < n; i++) {
            y[i] = expf(y[i] - mx);
            sum += y[i];
        }
        row_affine(y, y, n, 0, 1.0f / sum);
    }
    return true;
}

static bool fast_rope(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *pos = dst->src[1];
    struct tl_rope_params p;
    tl_rope_params_of(dst, &p);
    int n_pairs = p.mode == TL_ROPE_VISION ? p.n_dims : p.n_dims / 2;
    int64_t n_tok = a->ne[2], H = a->ne[1], D = a->ne[0];
    const int32_t *ps = pos->data;
    // each pair's stream and frequency depend on the pair alone: once per op, not per token
    int *stream = malloc(n_pairs * sizeof(int));
    double *theta = malloc(n_pairs * sizeof(double));
    TL_ASSERT(stream && theta);
    for (int i = 0; i < n_pairs; i++) {
        int f;
        tl_rope_pair(&p, i, &stream[i], &f);
        theta[i] = tl_rope_theta(&p, f);
    }
    #pragma omp parallel num_threads(nth)
    {
        // cos/sin of one token, shared by all of its heads
        float *cs = malloc(2 * n_pairs * sizeof(float)), *sn = cs + n_pairs;
        #pragma omp for schedule(static)
        for (int64_t t = 0; t < n_tok * a->ne[3]; t++) {
            int64_t i2 = t % n_tok, i3 = t / n_tok;
            for (int i = 0; i < n_pairs; i++) {
                double ang = (double)ps[stream[i] * n_tok + i2] * theta[i];
                tl_rope_sincos(&p, ang, &cs[i], &sn[i]);
            }
            for (int64_t h = 0; h < H; h++) {
                const float *x = tl_elem_ptr(a, 0, h, i2, i3);
                float *y = tl_elem_ptr(dst, 0, h, i2, i3);
                int i = 0;
                for (; i + VL <= n_pairs; i += VL) {
                    vf x0 = vload(x + i), x1 = vload(x + i + n_pairs), c = vload(cs + i), s = vload(sn + i);
                    vstore(y + i, vsub(vmul(x0, c), vmul(x1, s)));
                    vstore(y + i + n_pairs, vfma(x0, s, vmul(x1, c)));
                }
                for (; i < n_pairs; i++) {
                    float x0 = x[i], x1 = x[i + n_pairs];
                    y[i] = x0 * cs[i] - x1 * sn[i];
                    y[i + n_pairs] = x1 * cs[i] + x0 * sn[i];
                }
                for (int64_t d = 2 * n_pairs; d < D; d++) y[d] = x[d];
            }
        }
        free(cs);
    }
    free(stream);
    free(theta);
    return true;
}

// cont / cpy / cast between float types, row by row.
static bool fast_cont(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0];
    size_t ea = tl_type_traits(a->type)->type_size, ed = tl_type_traits(dst->type)->type_size;
    if (a->nb[0] != ea && tl_cpu_cont_strided(dst, nth)) return true;   // a transpose
    if (a->nb[0] != ea || dst->nb[0] != ed || a->ne[0] != dst->ne[0] || a->ne[1] != dst->ne[1] ||
        a->ne[2] != dst->ne[2] || a->type == TL_I32)
        return false;   // reshaping copies take the reference path
    int64_t n = a->ne[0];
    if (tl_type_traits(dst->type)->is_quantized) {   // rows into a block-format cache
        if (a->type != TL_F32) return false;
        tl_from_float_fn quantize = tl_type_traits(dst->type)->from_float;
        FOR_ROWS(dst, nth) {
            int64_t i1, i2, i3;
            tl_row_index(dst, r, &i1, &i2, &i3);
            quantize(tl_elem_ptr(a, 0, i1, i2, i3), tl_elem_ptr(dst, 0, i1, i2, i3), n);
        }
        return true;
    }
    enum tl_type ta = a->type, td = dst->type;
    tl_to_float_fn to_float = tl_type_traits(ta)->to_float;
    tl_from_float_fn from_float = tl_type_traits(td)->from_float;
    FOR_ROWS(dst, nth) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        const void *x = tl_elem_ptr(a, 0, i1, i2, i3);
        void *y = tl_elem_ptr(dst, 0, i1, i2, i3);
        if (ta == td) {
            memcpy(y, x, n * ed);
        } else if (td == TL_F32) {
            int64_t i = 0;
            for (; i + VL <= n; i += VL) vstore((float *)y + i, vload_any(ta, (const char *)x + i * ea));
            to_float((const char *)x + i * ea, (float *)y + i, n - i);
        } else if (ta == TL_F32 && td == TL_F16) {
            int64_t i = 0;
            for (; i + VL <= n; i += VL) vstore_f16((uint16_t *)y + i, vload((const float *)x + i));
            from_float((const float *)x + i, (uint16_t *)y + i, n - i);
        } else {   // through a small f32 buffer
            float buf[256];
            for (int64_t i = 0; i < n; i += 256) {
                int64_t m = n - i < 256 ? n - i : 256;
                to_float((const char *)x + i * ea, buf, m);
                from_float(buf, (char *)y + i * ed, m);
            }
        }
    }
    return true;
}

static bool fast_get_rows(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *ids = dst->src[1];
    if (a->nb[0] != tl_type_traits(a->type)->type_size || !tl_rows_contiguous_f32(dst)) return false;
    tl_to_float_fn to_float = tl_type_traits(a->type)->to_float;
    FOR_ROWS(dst, nth) {
        int64_t i1, i2, i3;
        tl_row_index(dst, r, &i1, &i2, &i3);
        int32_t row = *(const int32_t *)tl_elem_ptr(ids, i1, i2, i3, 0);
        float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
        if (row < 0 || row >= a->ne[1]) memset(y, 0, dst->ne[0] * sizeof(float));
        else to_float(tl_elem_ptr(a, 0, row, i2, i3), y, dst->ne[0]);
    }
    return true;
}

static bool fast_argmax(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0];
    if (!tl_rows_contiguous_f32(a)) return false;
    int64_t n = a->ne[0];
    FOR_ROWS(a, nth) {
        int64_t i1, i2, i3;
        tl_row_index(a, r, &i1, &i2, &i3);
        const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
        // vector max first, then the first index holding it
        vf m = vset1(-INFINITY);
        int64_t i = 0;
        for (; i + VL <= n; i += VL) m = vmax(m, vload(x + i));
        float mx = vhmax(m);
        for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        int32_t best = 0;
        while (best < n - 1 && !(x[best] == mx)) best++;
        *(int32_t *)tl_elem_ptr(dst, i1, i2, i3, 0) = best;
    }
    return true;
}

static bool fast_concat(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    int dim = dst->params[0];
    size_t es = tl_type_traits(dst->type)->type_size;
    if (dim == 0 || a->nb[0] != es || b->nb[0] != es || dst->nb[0] != es) return false;
    FOR_ROWS(dst, nth) {
        int64_t x[4] = { 0 };
        tl_row_index(dst, r, &x[1], &x[2], &x[3]);
        const struct tl_tensor *s = a;
        int64_t i1 = x[1], i2 = x[2], i3 = x[3];
        if (x[dim] >= a->ne[dim]) {
            s = b;
            x[dim] -= a->ne[dim];
        }
        memcpy(tl_elem_ptr(dst, 0, i1, i2, i3), tl_elem_ptr(s, 0, x[1], x[2], x[3]), dst->ne[0] * es);
    }
    return true;
}

void ISA_FN(tl_cpu_register_elementwise)(struct tl_cpu_kernels *k) {
    k->op[TL_OP_ADD] = k->op[TL_OP_SUB] = k->op[TL_OP_MUL] = k->op[TL_OP_DIV] = fast_binary;
    k->op[TL_OP_SCALE] = k->op[TL_OP_SILU] = k->op[TL_OP_GELU] = k->op[TL_OP_GELU_TANH] = fast_unary;
    k->op[TL_OP_SWIGLU] = fast_unary;
    k->op[TL_OP_RMS_NORM] = k->op[TL_OP_LAYER_NORM] = fast_norm;
    k->op[TL_OP_SOFT_MAX] = fast_soft_max;
    k->op[TL_OP_ROPE] = fast_rope;
    k->op[TL_OP_CONT] = k->op[TL_OP_CPY] = fast_cont;
    k->op[TL_OP_GET_ROWS] = fast_get_rows;
    k->op[TL_OP_ARGMAX] = fast_argmax;
    k->op[TL_OP_CONCAT] = fast_concat;
}
