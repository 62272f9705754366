// The LongPT optimizer: AdamW with decoupled weight decay and bias correction, gradient
// clipping by global norm, and the learning-rate schedule (linear warmup, cosine decay).
// Works on flat f32 arrays (the master weights and their moments), threaded with OpenMP.
//
//     struct adamw_params opt = { .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f };
//     struct lr_schedule sched = { .lr_max = 1e-5f, .lr_min = 1e-6f, .warmup = 100, .total = 2000 };
//     double norm = grad_global_norm(grads, sizes, n_tensors);           // NaN/Inf: stop
//     float scale = clip_scale(norm, 1.0f);                               // <= 1
//     for each tensor i:
//         adamw_step(w[i], g[i], m[i], v[i], sizes[i], &opt, lr_at(&sched, step), step, scale,
//                    decays[i]);                                          // step counts from 1
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct adamw_params {
    float beta1, beta2, eps;
    float weight_decay;   // decoupled: w -= lr * weight_decay * w, before the Adam update
};

struct lr_schedule {
    float   lr_max, lr_min;
    int64_t warmup;   // steps of linear warmup: step s <= warmup gets lr_max * s / warmup
    int64_t total;    // the cosine reaches lr_min at this step and stays there
};

// The learning rate of step (1-based).
float lr_at(const struct lr_schedule *s, int64_t step);

// sqrt(sum of squares) over several arrays, accumulated in double in a fixed order (the
// same bits for any thread count); NaN or Inf if any element is.
double grad_global_norm(float *const *grads, const int64_t *sizes, int count);

// The factor that brings the global norm down to max_norm (1 when it is within it, or
// when max_norm <= 0: no clipping).
float clip_scale(double norm, float max_norm);

// One AdamW step on n elements, PyTorch's torch.optim.AdamW semantics, with the gradient
// multiplied by grad_scale first (clipping, 1/accumulation) and weight decay applied only
// when decay is true (norms and biases are usually exempt):
//   w *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
void adamw_step(float *w, const float *g, float *m, float *v, int64_t n, const struct adamw_params *p,
                float lr, int64_t step, float grad_scale, bool decay);
