// Rotary position embeddings: NeoX (rotate-half), mRoPE (Qwen2-VL sections over t/h/w
// position streams) and the 2-D vision rope of the Qwen2.5-VL ViT. See tl.h for the
// exact pairing and frequency rules.
#include "tl-impl.h"

#include <math.h>

// params layout: [0] mode, [1] n_dims, [2..5] sections, [6] base, [7] freq_scale,
// [8] attn_factor, [9] streams in pos, [10] yarn_factor, [11] yarn_low, [12] yarn_high,
// [13] inverse
struct tl_tensor *tl_rope(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *pos,
                          struct tl_rope_params p) {
    if (!a || !pos) return NULL;
    if (a->type != TL_F32) return tl_op_error(ctx, "rope", a, pos, "input must be f32");
    if (a->nb[0] != sizeof(float)) return tl_op_error(ctx, "rope", a, pos, "ne0 must be contiguous");
    if (pos->type != TL_I32 || !tl_is_contiguous(pos) || tl_n_dims(pos) != 1)
        return tl_op_error(ctx, "rope", a, pos, "pos must be a contiguous i32 vector");
    int64_t n_tok = a->ne[2];
    if (pos->ne[0] % n_tok != 0)
        return tl_op_error(ctx, "rope", a, pos, "pos length is not a multiple of the token count ne2");
    int streams = (int)(pos->ne[0] / n_tok);
    int rotated = p.mode == TL_ROPE_VISION ? 2 * p.n_dims : p.n_dims;
    if (p.n_dims <= 0 || rotated > a->ne[0] || (p.mode != TL_ROPE_VISION && p.n_dims % 2))
        return tl_op_error(ctx, "rope", a, pos, "n_dims %d does not fit head dim %lld", p.n_dims,
                           (long long)a->ne[0]);
    int need = 1;
    if (p.mode == TL_ROPE_MROPE) {
        need = 3;
        if (p.sections[0] + p.sections[1] + p.sections[2] + p.sections[3] != p.n_dims / 2)
            return tl_op_error(ctx, "rope", a, pos, "mrope sections must add up to n_dims/2 = %d", p.n_dims / 2);
    } else if (p.mode == TL_ROPE_VISION) {
        need = 2;
        if (p.sections[0] + p.sections[1] != p.n_dims)
            return tl_op_error(ctx, "rope", a, pos, "vision sections must add up to n_dims = %d", p.n_dims);
    } else if (p.mode != TL_ROPE_NEOX) {
        return tl_op_error(ctx, "rope", a, pos, "unknown mode %d", (int)p.mode);
    }
    if (streams < need)
        return tl_op_error(ctx, "rope", a, pos, "mode needs %d position streams, pos has %d", need, streams);
    if (!(p.freq_base > 0)) return tl_op_error(ctx, "rope", a, pos, "freq_base must be > 0");
    if (p.yarn_factor && !(p.yarn_factor >= 1 && p.yarn_high >= p.yarn_low))
        return tl_op_error(ctx, "rope", a, pos, "yarn needs factor >= 1 and high >= low (got %g, %g, %g)",
                           p.yarn_factor, p.yarn_low, p.yarn_high);
    struct tl_tensor *t = tl_new_op(ctx, TL_OP_ROPE, TL_F32, a->ne, a, pos);
    if (!t) return NULL;
    t->params[0] = p.mode;
    t->params[1] = p.n_dims;
    for (int i = 0; i < 4; i++) t->params[2 + i] = p.sections[i];
    tl_param_set_f32(t, 6, p.freq_base);
    tl_param_set_f32(t, 7, p.freq_scale ? p.freq_scale : 1.0f);
    tl_param_set_f32(t, 8, p.attn_factor ? p.attn_factor : 1.0f);
    t->params[9] = streams;
    tl_param_set_f32(t, 10, p.yarn_factor);
    tl_param_set_f32(t, 11, p.yarn_low);
    tl_param_set_f32(t, 12, p.yarn_high);
    t->params[13] = p.inverse;
    return t;
}

void tl_rope_params_of(const struct tl_tensor *t, struct tl_rope_params *p) {
    p->mode = (enum tl_rope_mode)t->params[0];
    p->n_dims = t->params[1];
    for (int i = 0; i < 4; i++) p->sections[i] = t->params[2 + i];
    p->freq_base = tl_param_f32(t, 6);
    p->freq_scale = tl_param_f32(t, 7);
    p->attn_factor = tl_param_f32(t, 8);
    p->yarn_factor = tl_param_f32(t, 10);
    p->yarn_low = tl_param_f32(t, 11);
    p->yarn_high = tl_param_f32(t, 12);
    p->inverse = t->params[13];
}

void tl_rope_sincos(const struct tl_rope_params *p, double angle, float *c, float *s) {
    *c = (float)cos(angle) * p->attn_factor;
    *s = (float)sin(angle) * p->attn_factor * (p->inverse ? -1.0f : 1.0f);
}

double tl_rope_theta(const struct tl_rope_params *p, int f) {
    double theta = p->freq_scale * pow(p->freq_base, -2.0 * f / p->n_dims);
    if (p->yarn_factor) {
        double span = p->yarn_high > p->yarn_low ? (double)p->yarn_high - p->yarn_low : 0.001;
        double r = ((double)f - p->yarn_low) / span;
        r = r < 0 ? 0 : r > 1 ? 1 : r;
        theta *= (1 - r) + r / p->yarn_factor;
    }
    return theta;
}

// For pair i: which position stream, which frequency index, and the pair partner offset.
void tl_rope_pair(const struct tl_rope_params *p, int i, int *stream, int *freq_i) {
    if (p->mode == TL_ROPE_VISION) {
        *stream = i < p->sections[0] ? 0 : 1;
        *freq_i = i < p->sections[0] ? i : i - p->sections[0];
    } else if (p->mode == TL_ROPE_MROPE) {
        int s0 = p->sections[0], s1 = s0 + p->sections[1], s2 = s1 + p->sections[2];
        *stream = i < s0 ? 0 : i < s1 ? 1 : i < s2 ? 2 : 3;
        *freq_i = i;
    } else {
        *stream = 0;
        *freq_i = i;
    }
}

// out[i] = x[i] cos a - x[i+h] sin a; out[i+h] = x[i+h] cos a + x[i] sin a, for each pair.
void tl_ref_rope(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0], *pos = dst->src[1];
    struct tl_rope_params p;
    tl_rope_params_of(dst, &p);
    const int32_t *ps = pos->data;
    int64_t n_tok = a->ne[2];
    int n_pairs = p.mode == TL_ROPE_VISION ? p.n_dims : p.n_dims / 2;
    int half = n_pairs;   // partner offset
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < n_tok; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                const float *x = tl_elem_ptr(a, 0, i1, i2, i3);
                float *y = tl_elem_ptr(dst, 0, i1, i2, i3);
                for (int64_t i = 2 * n_pairs; i < a->ne[0]; i++) y[i] = x[i];
                for (int i = 0; i < n_pairs; i++) {
                    int s, f;
                    tl_rope_pair(&p, i, &s, &f);
                    double ang = (double)ps[s * n_tok + i2] * tl_rope_theta(&p, f);
                    float c, sn;
                    tl_rope_sincos(&p, ang, &c, &sn);
                    float x0 = x[i], x1 = x[i + half];
                    y[i] = x0 * c - x1 * sn;
                    y[i + half] = x1 * c + x0 * sn;
                }
            }
}
