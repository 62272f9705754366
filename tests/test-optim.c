// The optimizer against an independent double-precision AdamW written out here, the
// first step's closed form, the schedule's landmarks and the global-norm clipping.
#include "test-util.h"
#include "optim.h"

// PyTorch's AdamW, in double, one element at a time
static void adamw_double(double *w, const double *g, double *m, double *v, int64_t n, double lr, double b1, double b2,
                         double eps, double wd, int64_t t, double gs, bool decay) {
    for (int64_t i = 0; i < n; i++) {
        if (decay) w[i] -= lr * wd * w[i];
        double gi = g[i] * gs;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] -= lr * (m[i] / (1 - pow(b1, t))) / (sqrt(v[i] / (1 - pow(b2, t))) + eps);
    }
}

static void check_adamw(bool decay) {
    enum { N = 1000, STEPS = 60 };
    struct adamw_params p = { .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f };
    static float w[N], g[N], m[N], v[N];
    static double wd[N], gd[N], md[N], vd[N];
    rng_seed(decay ? 11 : 12);
    for (int i = 0; i < N; i++) {
        wd[i] = w[i] = rng_uniform(-1, 1);
        m[i] = v[i] = 0;
        md[i] = vd[i] = 0;
    }
    double worst = 0;
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++) gd[i] = g[i] = rng_uniform(-2, 2) * (i % 7 == 0 ? 1e-3f : 1.0f);
        float lr = 1e-3f * (1 + t % 3), gs = t % 2 ? 1.0f : 0.5f;
        adamw_step(w, g, m, v, N, &p, lr, t, gs, decay);
        adamw_double(wd, gd, md, vd, N, lr, p.beta1, p.beta2, p.eps, p.weight_decay, t, gs, decay);
    }
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(w[i] - wd[i]));
    // bound: one f32 rounding of |w| ~ 1 per step, 60 x 6e-8
    check(worst < 4e-6, "adamw (decay %s) after %d steps vs double AdamW: max |diff| %.2e (bound 4e-6)", decay ? "on" : "off",
          STEPS, worst);
}

// step 1 from zero moments: mhat = g, vhat = g^2, so w1 = w0 (1 - lr wd) - lr g / (|g| + eps)
static void check_first_step(void) {
    struct adamw_params p = { .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f };
    float w[3] = { 0.5f, -2.0f, 1.0f }, g[3] = { 0.3f, -4.0f, 0.0f }, m[3] = { 0 }, v[3] = { 0 };
    adamw_step(w, g, m, v, 3, &p, 0.1f, 1, 1.0f, true);
    float want[3] = { 0.5f * (1 - 0.001f) - 0.1f, -2.0f * (1 - 0.001f) + 0.1f, 1.0f * (1 - 0.001f) };
    double e = 0;
    for (int i = 0; i < 3; i++) e = fmax(e, fabs(w[i] - want[i]));
    check(e < 1e-6, "adamw first step is w (1 - lr wd) - lr sign(g): max |diff| %.2e", e);
}

static void check_schedule(void) {
    struct lr_schedule s = { .lr_max = 1e-4f, .lr_min = 1e-5f, .warmup = 10, .total = 110 };
    bool monotone = true;
    for (int64_t t = 11; t <= 120; t++) monotone &= lr_at(&s, t) <= lr_at(&s, t - 1);
    check(fabsf(lr_at(&s, 1) - 1e-5f) <= 1e-6f * 1e-5f && lr_at(&s, 10) == 1e-4f, "warmup: lr(1) %.3g, lr(10) %.3g",
          lr_at(&s, 1), lr_at(&s, 10));
    check(fabsf(lr_at(&s, 60) - 5.5e-5f) <= 1e-6f * 5.5e-5f, "cosine midpoint lr(60) %.4g = (max + min) / 2", lr_at(&s, 60));
    check(lr_at(&s, 110) == 1e-5f && lr_at(&s, 500) == 1e-5f && monotone, "decays monotonically to lr_min %.3g and stays",
          lr_at(&s, 500));
}

static void check_clipping(void) {
    float a[2] = { 3, 0 }, b[1] = { 4 };
    float *gs[2] = { a, b };
    int64_t n[2] = { 2, 1 };
    double norm = grad_global_norm(gs, n, 2);
    check(fabs(norm - 5) < 1e-12 && fabsf(clip_scale(norm, 1) - 0.2f) < 1e-7f && clip_scale(norm, 10) == 1 &&
              clip_scale(norm, 0) == 1,
          "global norm of (3, 0 | 4) = %g, clip to 1 scales by %g, to 10 and to 0 (off) by 1", norm, clip_scale(norm, 1));
    b[0] = NAN;
    check(isnan(grad_global_norm(gs, n, 2)), "a NaN gradient gives a NaN norm (the trainer stops on it)");
}

int main(void) {
    check_adamw(true);
    check_adamw(false);
    check_first_step();
    check_schedule();
    check_clipping();
    return test_summary("test-optim");
}
