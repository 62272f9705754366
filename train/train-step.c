// One packed sequence forward and backward, checkpointed per segment of blocks (see
// train-step.h).
#include "train-step.h"
#include "train-graph.h"
#include "train-pictures.h"
#include "train-vision.h"

#include "tl-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_CHUNK 64   // tokens per chunk of the vocabulary loss: 64 x V floats of logits

static struct tl_tensor *wrap_1d(struct tl_context *ctx, enum tl_type type, int64_t n, const void *data) {
    return train_leaf(ctx, type, n, 1, data);
}
static struct tl_tensor *wrap_rows(struct tl_context *ctx, int64_t width, int64_t n, const float *data) {
    return train_leaf(ctx, TL_F32, width, n, data);
}

struct step {
    struct train_model *m;
    const struct train_pack *p;
    const struct train_step_params *sp;
    struct tl_gallocr *ga;
    size_t graph_peak;
};

// Blocks [l0, l1) forward only: x_out = blocks(x_in).
static bool forward_segment(struct step *s, int l0, int l1, const float *x_in, float *x_out, char *err, size_t errlen) {
    int64_t H = s->m->hp.n_embd, N = s->p->n;
    struct tl_context *ctx = train_graph_context(l1 - l0);
    struct tl_tensor *x = wrap_rows(ctx, H, N, x_in);
    struct tl_tensor *y = train_blocks(ctx, s->m, l0, l1, x, wrap_1d(ctx, TL_I32, 3 * N, s->p->pos),
                                       wrap_1d(ctx, TL_I32, N, s->p->seg), &s->sp->graph);
    struct tl_graph *g = tl_graph_new(ctx, 64 * (l1 - l0) + 64);
    bool ok = tl_graph_build(g, y);
    if (!ok) tl_errorf(err, errlen, "building the training graph: %s", tl_error(ctx));
    ok = ok && train_graph_run(s->ga, s->sp->mirror, g, s->sp->n_threads, &s->graph_peak, err, errlen);
    if (ok) memcpy(x_out, y->data, (size_t)H * N * sizeof(float));
    tl_free(ctx);
    return ok;
}

// A picture's rows: from the trainable tower (vision set: run now, with its current
// weights) or the frozen one (its cache).
static bool picture_rows(struct train_pictures *pictures, struct train_vision *vision, struct train_vision_exec *ex,
                         const struct train_picture *pic, float *rows, char *err, size_t errlen) {
    if (!vision) return train_pictures_rows(pictures, pic, rows, err, errlen);
    float *px = train_pictures_pixels(pictures, pic, err, errlen);
    bool ok = px && train_vision_forward(vision, ex, px, pic->lh * 28, pic->lw * 28, rows, err, errlen);
    free(px);
    return ok;
}

// x[N][n_embd] = the blocks' input: the pack's token embeddings (the f32 master's rows),
// and its pictures' vision rows in their place.
static bool embed_rows(const struct train_model *m, const struct train_pack *p, const struct train_step_params *sp,
                       struct train_vision_exec *ex, float *x, char *err, size_t errlen) {
    int64_t H = m->hp.n_embd;
    for (int64_t i = 0; i < p->n; i++)
        memcpy(x + i * H, (const float *)m->tok_embd->data + (size_t)p->ids[i] * H, H * sizeof(float));
    if (p->n_pics && !sp->pictures) {
        tl_errorf(err, errlen, "the pack has pictures, and no vision tower was given");
        return false;
    }
    for (int k = 0; k < p->n_pics; k++)
        if (!picture_rows(sp->pictures, sp->vision, ex, &p->pics[k], x + p->pics[k].start * H, err, errlen)) return false;
    return true;
}

// The trainable tower's gradients from dx, the gradient of the blocks' input rows.
static bool backward_pictures(const struct train_model *m, const struct train_pack *p,
                              const struct train_step_params *sp, struct train_vision_exec *ex, const float *dx,
                              char *err, size_t errlen) {
    bool ok = true;
    for (int k = 0; ok && k < p->n_pics; k++) {
        const struct train_picture *pic = &p->pics[k];
        float *px = train_pictures_pixels(sp->pictures, pic, err, errlen);   // rendered again: pixels are big
        ok = px && train_vision_backward(sp->vision, ex, px, pic->lh * 28, pic->lw * 28, dx + pic->start * m->hp.n_embd,
                                         err, errlen);
        free(px);
    }
    return ok;
}

// dx's rows into the embedding's gradient, at their tokens' rows; the pictures' rows
// (from the tower) are skipped.
static void scatter_embedding_grad(struct train_model *m, const struct train_pack *p, const float *dx) {
    int64_t H = m->hp.n_embd;
    float *g = train_model_param(m, m->tok_embd)->grad;
    int k = 0;   // the first picture not yet passed
    for (int64_t i = 0; i < p->n; i++) {
        while (k < p->n_pics && i >= p->pics[k].start + (int64_t)p->pics[k].lh * p->pics[k].lw) k++;
        if (k < p->n_pics && i >= p->pics[k].start) continue;
        for (int64_t j = 0; j < H; j++) g[(size_t)p->ids[i] * H + j] += dx[i * H + j];
    }
}

// Blocks [l0, l1) forward + backward from x_in. The last segment (dy NULL) ends in the
// loss, seeded with loss_scale; the others are seeded with dy, their output's gradient.
// dx gets x_in's gradient.
static bool backward_segment(struct step *s, int l0, int l1, const float *x_in, const float *dy, float loss_scale,
                             float *dx, double *loss_sum, char *err, size_t errlen) {
    struct train_model *m = s->m;
    int64_t H = m->hp.n_embd, N = s->p->n;
    struct tl_context *ctx = train_graph_context(l1 - l0);
    struct tl_tensor *x = wrap_rows(ctx, H, N, x_in);
    tl_set_param(x);
    struct tl_tensor *y = train_blocks(ctx, m, l0, l1, x, wrap_1d(ctx, TL_I32, 3 * N, s->p->pos),
                                       wrap_1d(ctx, TL_I32, N, s->p->seg), &s->sp->graph);
    struct tl_tensor *loss, *seed;
    if (dy) {
        loss = y;
        seed = wrap_rows(ctx, H, N, dy);
    } else {
        struct tl_tensor *rows = wrap_1d(ctx, TL_I32, s->p->n_rows, s->p->rows);
        struct tl_tensor *h = train_head_rows(ctx, m, y, rows);
        struct tl_tensor *w = s->sp->graph.compute_type == TL_F32 ? m->output : tl_cast(ctx, m->output, s->sp->graph.compute_type);
        loss = tl_lm_loss(ctx, w, h, wrap_1d(ctx, TL_I32, s->p->n_rows, s->p->targets), LOSS_CHUNK);
        seed = wrap_1d(ctx, TL_F32, 1, &loss_scale);
    }
    bool ok = train_graph_backward(ctx, loss, seed, l1 - l0 + 1, x, dx, m->params, m->n_params, s->ga, s->sp->mirror,
                                   s->sp->n_threads, &s->graph_peak, err, errlen);
    if (ok && !dy) *loss_sum = *(const float *)loss->data;
    tl_free(ctx);
    return ok;
}

bool train_step_pack(struct train_model *m, const struct train_pack *p, const struct train_step_params *sp,
                     float loss_scale, double *loss_sum, size_t *peak_bytes, char *err, size_t errlen) {
    int L = (int)m->hp.n_layer, E = sp->checkpoint_every < L ? sp->checkpoint_every : L;
    int S = (L + E - 1) / E;
    int64_t H = m->hp.n_embd, N = p->n;
    size_t act = (size_t)H * N;
    // segment inputs x[0..S), then two gradient buffers that alternate
    float *buf = malloc((S + 2) * act * sizeof(float));
    if (!buf) {
        tl_errorf(err, errlen, "out of memory for the checkpointed activations (%lld tokens)", (long long)N);
        return false;
    }
    float *dx[2] = { buf + S * act, buf + (S + 1) * act };
    struct step s = { .m = m, .p = p, .sp = sp, .ga = sp->alloc ? sp->alloc : tl_gallocr_new() };
    struct train_vision_exec ex = { .checkpoint_every = sp->checkpoint_every, .n_threads = sp->n_threads,
                                    .compute_type = sp->graph.compute_type, .alloc = s.ga, .mirror = sp->mirror };
    bool ok = embed_rows(m, p, sp, &ex, buf, err, errlen);
    for (int k = 0; ok && k + 1 < S; k++)
        ok = forward_segment(&s, k * E, (k + 1) * E, buf + k * act, buf + (k + 1) * act, err, errlen);
    for (int k = S - 1; ok && k >= 0; k--) {
        int l1 = (k + 1) * E < L ? (k + 1) * E : L;
        const float *dy = k == S - 1 ? NULL : dx[(k + 1) & 1];
        ok = backward_segment(&s, k * E, l1, buf + k * act, dy, loss_scale, dx[k & 1], loss_sum, err, errlen);
    }
    if (ok && sp->vision) ok = backward_pictures(m, p, sp, &ex, dx[0], err, errlen);
    if (ok) scatter_embedding_grad(m, p, dx[0]);
    size_t graph_peak = s.graph_peak > ex.peak ? s.graph_peak : ex.peak;
    if (peak_bytes) *peak_bytes = (S + 2) * act * sizeof(float) + graph_peak;
    if (s.ga != sp->alloc) tl_gallocr_free(s.ga);
    free(buf);
    return ok;
}

bool train_predict_pack(struct train_model *m, const struct train_pack *p, const struct train_step_params *sp,
                        int32_t *pred, char *err, size_t errlen) {
    int64_t H = m->hp.n_embd, N = p->n;
    float *x0 = malloc((size_t)H * N * sizeof *x0);
    if (!x0) abort();
    struct tl_gallocr *ga = tl_gallocr_new();
    struct train_vision_exec ex = { .checkpoint_every = sp->checkpoint_every, .n_threads = sp->n_threads,
                                    .compute_type = sp->graph.compute_type, .alloc = ga, .mirror = sp->mirror };
    if (!embed_rows(m, p, sp, &ex, x0, err, errlen)) {
        tl_gallocr_free(ga);
        free(x0);
        return false;
    }
    int L = (int)m->hp.n_layer;
    struct tl_context *ctx = train_graph_context(L);
    struct tl_tensor *y = train_blocks(ctx, m, 0, L, wrap_rows(ctx, H, N, x0), wrap_1d(ctx, TL_I32, 3 * N, p->pos),
                                       wrap_1d(ctx, TL_I32, N, p->seg), &sp->graph);
    struct tl_tensor *rows = wrap_1d(ctx, TL_I32, p->n_rows, p->rows);
    struct tl_tensor *best = tl_argmax(ctx, tl_mul_mat(ctx, m->output, train_head_rows(ctx, m, y, rows)));
    struct tl_graph *g = tl_graph_new(ctx, 64 * L + 64);
    bool ok = tl_graph_build(g, best);
    if (!ok) tl_errorf(err, errlen, "building the prediction graph: %s", tl_error(ctx));
    size_t peak = 0;
    ok = ok && train_graph_run(ga, sp->mirror, g, sp->n_threads, &peak, err, errlen);
    if (ok) memcpy(pred, best->data, (size_t)p->n_rows * sizeof *pred);
    tl_gallocr_free(ga);
    tl_free(ctx);
    free(x0);
    return ok;
}
