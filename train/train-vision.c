// A trainable vision tower: its parameters and one picture's checkpointed forward and
// backward pass (train-vision.h).
#include "train-vision.h"

#include "train-graph.h"
#include "vision-layout.h"

#include "tl-gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tl_tensor *find_param(void *user, const char *fmt, int layer) {
    struct train_vision *tv = user;
    char name[TL_GGUF_MAX_NAME];
    snprintf(name, sizeof name, fmt, layer);
    struct train_param *p = train_param_named(tv->params, tv->n_params, name);
    return p ? p->w : NULL;
}

bool train_vision_load(struct train_vision *tv, const char *mmproj, const struct tl_gguf *weights, char *err,
                       size_t errlen) {
    memset(tv, 0, sizeof *tv);
    struct qwen25vl_vision_model *v = &tv->v;
    char why[512] = "";
    int n_specs = 0;
    struct qwen25vl_tensor_spec *specs = NULL;
    v->file = qwen25vl_vision_open(mmproj, &v->hp, &specs, &n_specs, err, errlen);
    if (!v->file) return false;
    if (!(v->layers = calloc(v->hp.n_layer, sizeof *v->layers))) abort();
    bool ok = train_params_load(&tv->pctx, &tv->params, &tv->n_params, weights ? weights : v->file, specs, n_specs, why,
                                sizeof why);
    free(specs);
    if (ok && !qwen25vl_vision_bind(v, find_param, tv)) {
        snprintf(why, sizeof why, "a tensor of the tower is missing");   // every spec was loaded: cannot happen
        ok = false;
    }
    if (!ok) {
        tl_errorf(err, errlen, "%s: %s", weights ? "the checkpoint's vision tower" : mmproj, why);
        train_vision_free(tv);
    }
    return ok;
}

void train_vision_free(struct train_vision *tv) {
    train_params_free(tv->pctx, tv->params, tv->n_params);
    free(tv->v.layers);
    tl_gguf_free(tv->v.file);
    memset(tv, 0, sizeof *tv);
}

// A picture as the tower's inputs: patch rows, rotary positions and window ids, in
// window order.
struct picture_inputs {
    struct vision_layout lay;
    float *patches;    // [n][3 * 14 * 14]
    int32_t *pos;      // [2n]
};

static bool inputs_init(struct picture_inputs *in, const struct train_vision *tv, const float *pixels, int H, int W,
                        char *err, size_t errlen) {
    memset(in, 0, sizeof *in);
    if (H < 28 || W < 28 || H % 28 || W % 28) {
        tl_errorf(err, errlen, "picture of %d x %d pixels: sides must be positive multiples of 28", H, W);
        return false;
    }
    if (!vision_layout_init(&in->lay, H / 14, W / 14, (int32_t)(tv->v.hp.window_size / 28), err, errlen)) return false;
    int64_t n = in->lay.n_patches;
    in->patches = malloc((size_t)n * 3 * 14 * 14 * sizeof(float));
    in->pos = malloc((size_t)2 * n * sizeof(int32_t));
    if (!in->patches || !in->pos) abort();
    vision_layout_patchify(&in->lay, pixels, in->patches);
    vision_layout_positions(&in->lay, in->pos);
    return true;
}

static void inputs_free(struct picture_inputs *in) {
    vision_layout_free(&in->lay);
    free(in->patches);
    free(in->pos);
}

// Segment k of S over blocks [l0, l1): from x (NULL for the first: the patches through
// the patch embedding), and through the merger after the last.
static struct tl_tensor *segment(struct tl_context *ctx, const struct train_vision *tv, const struct picture_inputs *in,
                                 int l0, int l1, bool last, struct tl_tensor *x) {
    int64_t n = in->lay.n_patches;
    if (!x) x = qwen25vl_vision_patch_embed(ctx, &tv->v, train_leaf(ctx, TL_F32, 3 * 14 * 14, n, in->patches));
    x = qwen25vl_vision_blocks(ctx, &tv->v, l0, l1, x, train_leaf(ctx, TL_I32, 2 * n, 1, in->pos),
                               train_leaf(ctx, TL_I32, n, 1, in->lay.window_of));
    return last ? qwen25vl_vision_merger(ctx, &tv->v, x) : x;
}

// Runs blocks [l0, l1) forward only (the whole tower with l0 = 0, last): out gets its
// output, [n_embd, n], or [projection_dim, n/4] after the merger.
static bool forward(const struct train_vision *tv, struct train_vision_exec *ex, const struct picture_inputs *in, int l0,
                    int l1, bool last, const float *x_in, float *out, char *err, size_t errlen) {
    struct tl_context *ctx = train_graph_context(l1 - l0);
    struct tl_tensor *x = x_in ? train_leaf(ctx, TL_F32, tv->v.hp.n_embd, in->lay.n_patches, x_in) : NULL;
    struct tl_tensor *y = segment(ctx, tv, in, l0, l1, last, x);
    struct tl_graph *g = tl_graph_new(ctx, 64 * (l1 - l0) + 64);
    bool ok = y && g && tl_graph_build(g, y);
    if (!ok) tl_errorf(err, errlen, "building the vision graph: %s", tl_error(ctx) ? tl_error(ctx) : "out of memory");
    ok = ok && train_graph_run(ex->alloc, ex->mirror, g, ex->n_threads, &ex->peak, err, errlen);
    if (ok) memcpy(out, y->data, (size_t)tl_nelements(y) * sizeof(float));
    tl_free(ctx);
    return ok;
}

bool train_vision_forward(struct train_vision *tv, struct train_vision_exec *ex, const float *pixels, int H, int W,
                          float *rows, char *err, size_t errlen) {
    struct picture_inputs in;
    if (!inputs_init(&in, tv, pixels, H, W, err, errlen)) return false;
    tv->v.compute_type = ex->compute_type;
    int64_t units = in.lay.n_patches / 4, P = tv->v.hp.projection_dim;
    float *out = malloc((size_t)units * P * sizeof(float));
    if (!out) abort();
    bool ok = forward(tv, ex, &in, 0, (int)tv->v.hp.n_layer, true, NULL, out, err, errlen);
    // undo the window order: merger row k is merge unit window_index[k]
    for (int64_t k = 0; ok && k < units; k++)
        memcpy(rows + (int64_t)in.lay.window_index[k] * P, out + k * P, P * sizeof(float));
    free(out);
    inputs_free(&in);
    return ok;
}

bool train_vision_backward(struct train_vision *tv, struct train_vision_exec *ex, const float *pixels, int H, int W,
                           const float *drows, char *err, size_t errlen) {
    struct picture_inputs in;
    if (!inputs_init(&in, tv, pixels, H, W, err, errlen)) return false;
    tv->v.compute_type = ex->compute_type;
    int L = (int)tv->v.hp.n_layer, E = ex->checkpoint_every < L ? ex->checkpoint_every : L, S = (L + E - 1) / E;
    int64_t n = in.lay.n_patches, units = n / 4, P = tv->v.hp.projection_dim;
    size_t act = (size_t)tv->v.hp.n_embd * n;
    // the inputs of segments 1 .. S-1 (segment 0 starts from the patches), two
    // alternating gradient buffers, and the rows' gradient in window order
    float *buf = malloc(((S + 1) * act + (size_t)units * P) * sizeof(float));
    if (!buf) {
        tl_errorf(err, errlen, "out of memory for the vision tower's checkpointed activations (%lld patches)", (long long)n);
        inputs_free(&in);
        return false;
    }
#define INPUT(k) (buf + ((k) - 1) * act)   // segment k's stored input, k >= 1
    float *dx[2] = { buf + (S - 1) * act, buf + S * act }, *dy = buf + (S + 1) * act;
    for (int64_t k = 0; k < units; k++)
        memcpy(dy + k * P, drows + (int64_t)in.lay.window_index[k] * P, P * sizeof(float));
    bool ok = true;
    for (int k = 0; ok && k + 1 < S; k++)
        ok = forward(tv, ex, &in, k * E, (k + 1) * E, false, k ? INPUT(k) : NULL, INPUT(k + 1), err, errlen);
    for (int k = S - 1; ok && k >= 0; k--) {
        int l1 = (k + 1) * E < L ? (k + 1) * E : L;
        struct tl_context *ctx = train_graph_context(l1 - k * E);
        struct tl_tensor *x = k ? train_leaf(ctx, TL_F32, tv->v.hp.n_embd, n, INPUT(k)) : NULL;
        if (x) tl_set_param(x);
        struct tl_tensor *y = segment(ctx, tv, &in, k * E, l1, k == S - 1, x);
        struct tl_tensor *seed = k == S - 1 ? train_leaf(ctx, TL_F32, P, units, dy)
                                            : train_leaf(ctx, TL_F32, tv->v.hp.n_embd, n, dx[(k + 1) & 1]);
        ok = train_graph_backward(ctx, y, seed, l1 - k * E + 1, x, dx[k & 1], tv->params, tv->n_params, ex->alloc,
                                  ex->mirror, ex->n_threads, &ex->peak, err, errlen);
        tl_free(ctx);
    }
#undef INPUT
    free(buf);
    inputs_free(&in);
    return ok;
}

bool train_vision_write(const struct train_vision *tv, const char *path, char *err, size_t errlen) {
    const struct tl_gguf *src = tv->v.file;
    struct tl_gguf *g = tl_gguf_new();
    for (int64_t i = 0; i < tl_gguf_n_kv(src); i++) tl_gguf_set_value(g, tl_gguf_kv_key(src, i), tl_gguf_kv_value(src, i));
    if (tl_gguf_find_key(g, "general.file_type") >= 0) tl_gguf_set_u32(g, "general.file_type", 0);   // all f32 now
    bool ok = true;
    for (int i = 0; ok && i < tv->n_params; i++) {
        const struct tl_tensor *w = tv->params[i].w;
        int64_t t = tl_gguf_add_tensor(g, w->name, TL_GGML_F32, tl_n_dims(w), w->ne, err, errlen);
        if ((ok = t >= 0)) tl_gguf_set_tensor_data(g, t, w->data);
    }
    ok = ok && tl_gguf_write_file(g, path, err, errlen);
    tl_gguf_free(g);
    return ok;
}
