// AdamW, global-norm clipping and the warmup + cosine schedule (see optim.h).
#include "optim.h"

#include <math.h>
#include <stdlib.h>

float lr_at(const struct lr_schedule *s, int64_t step) {
    if (s->warmup > 0 && step <= s->warmup) return (float)((double)s->lr_max * step / s->warmup);
    if (step >= s->total) return s->lr_min;
    double t = (double)(step - s->warmup) / (double)(s->total - s->warmup);   // warmup < step < total
    return (float)(s->lr_min + 0.5 * (s->lr_max - s->lr_min) * (1.0 + cos(M_PI * t)));
}

// Fixed-size blocks summed in order: the same bits whatever the thread count and
// scheduling (an OpenMP reduction combines threads in arrival order), so a resumed run
// clips exactly as an uninterrupted one.
#define NORM_BLOCK 65536

double grad_global_norm(float *const *grads, const int64_t *sizes, int count) {
    double ss = 0;
    for (int i = 0; i < count; i++) {
        const float *g = grads[i];
        int64_t n = sizes[i], n_blocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
        double *partial = malloc((size_t)(n_blocks ? n_blocks : 1) * sizeof *partial);
        if (!partial) abort();
        #pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < n_blocks; b++) {
            int64_t end = (b + 1) * NORM_BLOCK < n ? (b + 1) * NORM_BLOCK : n;
            double s = 0;
            for (int64_t j = b * NORM_BLOCK; j < end; j++) s += (double)g[j] * g[j];
            partial[b] = s;
        }
        for (int64_t b = 0; b < n_blocks; b++) ss += partial[b];
        free(partial);
    }
    return sqrt(ss);
}

float clip_scale(double norm, float max_norm) {
    if (max_norm <= 0 || !(norm > max_norm)) return 1.0f;
    return (float)(max_norm / norm);
}

void adamw_step(float *w, const float *g, float *m, float *v, int64_t n, const struct adamw_params *p,
                float lr, int64_t step, float grad_scale, bool decay) {
    // bias corrections in double: beta^t for large t
    float c1 = (float)(1.0 - pow(p->beta1, (double)step)), c2 = (float)(1.0 - pow(p->beta2, (double)step));
    float shrink = decay ? 1.0f - lr * p->weight_decay : 1.0f;
    float b1 = p->beta1, b2 = p->beta2, eps = p->eps;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        float mhat = m[i] / c1, vhat = v[i] / c2;
        w[i] = w[i] * shrink - lr * mhat / (sqrtf(vhat) + eps);
    }
}
