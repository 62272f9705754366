// Rotary base scaling rules; see rope-scaling.h.
#include "rope-scaling.h"

#include <math.h>

double rope_base_static_ntk(double base, double factor, int rotary_dim) {
    return base * pow(factor, (double)rotary_dim / (rotary_dim - 2));
}

double rope_base_dynamic_ntk(double base, double factor, double length, double orig_length, int rotary_dim) {
    if (length <= orig_length) return base;
    return base * pow(factor * length / orig_length - (factor - 1), (double)rotary_dim / (rotary_dim - 2));
}

// The (fractional) pair index whose wavelength turns n_rotations times over orig_ctx.
static double yarn_correction_dim(double n_rotations, int dim, double base, double orig_ctx) {
    return dim * log(orig_ctx / (n_rotations * 2 * 3.14159265358979323846)) / (2 * log(base));
}

void rope_yarn_params(double base, double factor, double orig_ctx, int rotary_dim, struct rope_yarn *y) {
    double low = floor(yarn_correction_dim(32, rotary_dim, base, orig_ctx));
    double high = ceil(yarn_correction_dim(1, rotary_dim, base, orig_ctx));
    y->factor = (float)factor;
    y->ramp_low = (float)(low < 0 ? 0 : low);
    y->ramp_high = (float)(high > rotary_dim - 1 ? rotary_dim - 1 : high);
    y->attn_factor = factor > 1 ? (float)(0.1 * log(factor) + 1) : 1.0f;
}

void rope_scaling_resolve(const struct rope_scaling *s, double model_base, int rotary_dim, double length,
                          double *base, struct rope_yarn *yarn) {
    *yarn = (struct rope_yarn){ 0 };
    *base = s->base > 0 ? s->base : model_base;
    switch (s->type) {
    case ROPE_SCALING_NONE: break;
    case ROPE_SCALING_STATIC: *base = rope_base_static_ntk(*base, s->factor, rotary_dim); break;
    case ROPE_SCALING_DYNAMIC: *base = rope_base_dynamic_ntk(*base, s->factor, length, s->orig_ctx, rotary_dim); break;
    case ROPE_SCALING_YARN: rope_yarn_params(*base, s->factor, s->orig_ctx, rotary_dim, yarn); break;
    }
}
