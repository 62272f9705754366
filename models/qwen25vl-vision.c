// The Qwen2.5-VL vision tower: patch embedding, 2-D rotary positions, windowed and full
// attention blocks, the 2x2 merger, and the window order undone (spec section 4).
#include "qwen25vl-vision.h"

#include "tl-cpu.h"
#include "tl-gguf.h"
#include "vision-layout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PATCH = 14, MERGE = 2 };

static struct tl_tensor *find_in_file(void *user, const char *fmt, int layer) {
    struct qwen25vl_vision_model *v = user;
    return qwen25vl_bind_tensor(v->file, v->wctx, fmt, layer);
}

bool qwen25vl_vision_bind(struct qwen25vl_vision_model *v, struct tl_tensor *(*find)(void *user, const char *fmt, int layer),
                          void *user) {
    v->patch_w0 = find(user, "v.patch_embd.weight", 0);
    v->patch_w1 = find(user, "v.patch_embd.weight.1", 0);
    v->post_ln = find(user, "v.post_ln.weight", 0);
    v->mm0_w = find(user, "mm.0.weight", 0);
    v->mm0_b = find(user, "mm.0.bias", 0);
    v->mm2_w = find(user, "mm.2.weight", 0);
    v->mm2_b = find(user, "mm.2.bias", 0);
    struct tl_tensor *top[] = { v->patch_w0, v->patch_w1, v->post_ln, v->mm0_w, v->mm0_b, v->mm2_w, v->mm2_b };
    bool ok = true;
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) ok = ok && top[i];
    ok = ok && v->post_ln->type == TL_F32 && v->mm0_b->type == TL_F32 && v->mm2_b->type == TL_F32;
    for (uint32_t l = 0; ok && l < v->hp.n_layer; l++) {
        struct qwen25vl_vision_layer *L = &v->layers[l];
        L->ln1 = find(user, "v.blk.%d.ln1.weight", l);
        L->wq = find(user, "v.blk.%d.attn_q.weight", l);
        L->bq = find(user, "v.blk.%d.attn_q.bias", l);
        L->wk = find(user, "v.blk.%d.attn_k.weight", l);
        L->bk = find(user, "v.blk.%d.attn_k.bias", l);
        L->wv = find(user, "v.blk.%d.attn_v.weight", l);
        L->bv = find(user, "v.blk.%d.attn_v.bias", l);
        L->wo = find(user, "v.blk.%d.attn_out.weight", l);
        L->bo = find(user, "v.blk.%d.attn_out.bias", l);
        L->ln2 = find(user, "v.blk.%d.ln2.weight", l);
        L->gate = find(user, "v.blk.%d.ffn_gate.weight", l);
        L->gate_b = find(user, "v.blk.%d.ffn_gate.bias", l);
        L->up = find(user, "v.blk.%d.ffn_up.weight", l);
        L->up_b = find(user, "v.blk.%d.ffn_up.bias", l);
        L->down = find(user, "v.blk.%d.ffn_down.weight", l);
        L->down_b = find(user, "v.blk.%d.ffn_down.bias", l);
        struct tl_tensor *vecs[] = { L->ln1, L->bq, L->bk, L->bv, L->bo, L->ln2, L->gate_b, L->up_b, L->down_b };
        struct tl_tensor *mats[] = { L->wq, L->wk, L->wv, L->wo, L->gate, L->up, L->down };
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) ok = ok && vecs[i] && vecs[i]->type == TL_F32;
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) ok = ok && mats[i];
    }
    return ok;
}

struct tl_gguf *qwen25vl_vision_open(const char *path, struct qwen25vl_vision_hparams *hp,
                                     struct qwen25vl_tensor_spec **specs, int *n_specs, char *err, size_t errlen) {
    char why[512] = "";
    struct tl_gguf *g = tl_gguf_open(path, why, sizeof why);
    if (!g) {
        tl_errorf(err, errlen, "%s", why);
        return NULL;
    }
    *specs = NULL;
    bool ok = qwen25vl_vision_hparams_from_gguf(g, hp, why, sizeof why) &&
              qwen25vl_vision_hparams_valid(hp, why, sizeof why) &&
              (*specs = qwen25vl_vision_tensor_specs(hp, n_specs)) != NULL &&
              qwen25vl_check_tensors(g, *specs, *n_specs, why, sizeof why);
    if (ok && (hp->patch_size != PATCH || hp->spatial_merge_size != MERGE)) {
        tl_errorf(why, sizeof why, "patch %u and merge %u: longvl supports Qwen2.5-VL's 14 and 2", hp->patch_size,
                  hp->spatial_merge_size);
        ok = false;
    }
    if (!ok) {
        tl_errorf(err, errlen, "%s: %s", path, why);
        free(*specs);
        *specs = NULL;
        tl_gguf_free(g);
        return NULL;
    }
    return g;
}

bool qwen25vl_vision_load(struct qwen25vl_vision_model *v, const char *path, char *err, size_t errlen) {
    memset(v, 0, sizeof *v);
    int n_specs = 0;
    struct qwen25vl_tensor_spec *specs = NULL;
    v->file = qwen25vl_vision_open(path, &v->hp, &specs, &n_specs, err, errlen);
    free(specs);
    if (!v->file) return false;
    const struct qwen25vl_vision_hparams *hp = &v->hp;
    v->wctx = tl_init((struct tl_init_params){ .mem_size = (size_t)(24 * hp->n_layer + 24) * 1024, .no_alloc = true });
    v->layers = calloc(hp->n_layer, sizeof *v->layers);
    if (!v->wctx || !v->layers) abort();
    if (!qwen25vl_vision_bind(v, find_in_file, v)) {
        tl_errorf(err, errlen, "%s: a tensor has a type libtl cannot compute with (norms and biases must be f32)", path);
        qwen25vl_vision_free(v);
        return false;
    }
    return true;
}

void qwen25vl_vision_use_device(struct qwen25vl_vision_model *v, struct tl_vk_backend *vk) {
    tl_vk_mirror_free(v->mirror);
    v->mirror = vk ? tl_vk_mirror_new(vk) : NULL;
}

void qwen25vl_vision_free(struct qwen25vl_vision_model *v) {
    tl_vk_mirror_free(v->mirror);
    free(v->layers);
    tl_free(v->wctx);
    tl_gguf_free(v->file);
    memset(v, 0, sizeof *v);
}

int64_t qwen25vl_vision_n_tokens(int H, int W) { return (int64_t)(H / (PATCH * MERGE)) * (W / (PATCH * MERGE)); }

// w as the matrix products take it: cast to the compute type, if one is set
static struct tl_tensor *matrix(struct tl_context *ctx, const struct qwen25vl_vision_model *v, struct tl_tensor *w) {
    return v->compute_type == TL_F32 || w->type == v->compute_type ? w : tl_cast(ctx, w, v->compute_type);
}

static struct tl_tensor *linear(struct tl_context *ctx, const struct qwen25vl_vision_model *v, struct tl_tensor *w,
                                struct tl_tensor *b, struct tl_tensor *x) {
    return tl_add(ctx, tl_mul_mat(ctx, matrix(ctx, v, w), x), b);
}

static struct tl_tensor *rms_norm(struct tl_context *ctx, struct tl_tensor *x, struct tl_tensor *w, float eps) {
    return tl_mul(ctx, tl_rms_norm(ctx, x, eps), w);
}

struct vision_graph {
    struct tl_graph *g;
    struct tl_tensor *patches, *pos, *window_of, *out;
};

struct tl_tensor *qwen25vl_vision_patch_embed(struct tl_context *ctx, const struct qwen25vl_vision_model *v,
                                              struct tl_tensor *patches) {
    int64_t K = 3 * PATCH * PATCH, E = v->hp.n_embd;
    // a still image is two equal frames: the Conv3d is the sum of its two slices' products
    return tl_add(ctx, tl_mul_mat(ctx, matrix(ctx, v, tl_reshape_2d(ctx, v->patch_w0, K, E)), patches),
                  tl_mul_mat(ctx, matrix(ctx, v, tl_reshape_2d(ctx, v->patch_w1, K, E)), patches));
}

struct tl_tensor *qwen25vl_vision_blocks(struct tl_context *ctx, const struct qwen25vl_vision_model *v, int l0, int l1,
                                         struct tl_tensor *x, struct tl_tensor *pos, struct tl_tensor *window_of) {
    const struct qwen25vl_vision_hparams *hp = &v->hp;
    int64_t E = hp->n_embd, D = hp->head_dim, H = hp->n_head, n = x->ne[1];
    // rotary: half of each head's dims rotate, pairs (i, i + D/2); the first D/4 pairs by
    // the patch row, the rest by the column, frequencies 10000^(-2j/(D/2))
    struct tl_rope_params rp = { .mode = TL_ROPE_VISION, .n_dims = (int)D / 2, .sections = { (int)D / 4, (int)D / 4 },
                                 .freq_base = 10000.0f };
    struct tl_attn_params ap = { .scale = 1.0f / sqrtf((float)D) };
    for (int l = l0; l < l1; l++) {
        const struct qwen25vl_vision_layer *L = &v->layers[l];
        bool full = (uint32_t)(l + 1) % hp->n_wa_pattern == 0;
        struct tl_tensor *h = rms_norm(ctx, x, L->ln1, hp->eps);
        struct tl_tensor *q = tl_rope(ctx, tl_reshape_4d(ctx, linear(ctx, v, L->wq, L->bq, h), D, H, n, 1), pos, rp);
        struct tl_tensor *k = tl_rope(ctx, tl_reshape_4d(ctx, linear(ctx, v, L->wk, L->bk, h), D, H, n, 1), pos, rp);
        struct tl_tensor *vv = tl_reshape_4d(ctx, linear(ctx, v, L->wv, L->bv, h), D, H, n, 1);
        // window blocks attend inside their 8x8-patch window, full blocks over the image
        struct tl_tensor *seg = full ? NULL : window_of;
        struct tl_tensor *o = tl_flash_attn(ctx, tl_permute(ctx, q, 0, 2, 1, 3), tl_permute(ctx, k, 0, 2, 1, 3),
                                            tl_permute(ctx, vv, 0, 2, 1, 3), seg, seg, ap);
        x = tl_add(ctx, x, linear(ctx, v, L->wo, L->bo, tl_reshape_2d(ctx, o, E, n)));
        h = rms_norm(ctx, x, L->ln2, hp->eps);
        struct tl_tensor *f = tl_swiglu(ctx, linear(ctx, v, L->gate, L->gate_b, h), linear(ctx, v, L->up, L->up_b, h));
        x = tl_add(ctx, x, linear(ctx, v, L->down, L->down_b, f));
    }
    return x;
}

struct tl_tensor *qwen25vl_vision_merger(struct tl_context *ctx, const struct qwen25vl_vision_model *v,
                                         struct tl_tensor *x) {
    int64_t E = v->hp.n_embd, n = x->ne[1];
    // the 4 consecutive rows of a merge unit become one 4E vector
    x = tl_reshape_2d(ctx, rms_norm(ctx, x, v->post_ln, v->hp.eps), 4 * E, n / 4);
    return linear(ctx, v, v->mm2_w, v->mm2_b, tl_gelu(ctx, linear(ctx, v, v->mm0_w, v->mm0_b, x)));
}

// x [E, n] in window order -> merged tokens [P, n / 4] in window order.
static bool build(const struct qwen25vl_vision_model *v, struct tl_context *ctx, int64_t n, struct vision_graph *vg) {
    vg->patches = tl_new_tensor_2d(ctx, TL_F32, 3 * PATCH * PATCH, n);
    vg->pos = tl_new_tensor_1d(ctx, TL_I32, 2 * n);
    vg->window_of = tl_new_tensor_1d(ctx, TL_I32, n);
    tl_set_input(vg->patches);
    tl_set_input(vg->pos);
    tl_set_input(vg->window_of);
    struct tl_tensor *x = qwen25vl_vision_patch_embed(ctx, v, vg->patches);
    x = qwen25vl_vision_blocks(ctx, v, 0, (int)v->hp.n_layer, x, vg->pos, vg->window_of);
    vg->out = qwen25vl_vision_merger(ctx, v, x);
    vg->g = tl_graph_new(ctx, 48 * v->hp.n_layer + 64);
    return vg->out && tl_graph_build(vg->g, vg->out);
}

bool qwen25vl_vision_encode(const struct qwen25vl_vision_model *v, const float *pixels, int H, int W, int n_threads,
                            float *out, char *err, size_t errlen) {
    if (H < PATCH * MERGE || W < PATCH * MERGE || H % (PATCH * MERGE) || W % (PATCH * MERGE)) {
        tl_errorf(err, errlen, "image of %d x %d pixels: height and width must be positive multiples of %d", H, W,
                  PATCH * MERGE);
        return false;
    }
    struct vision_layout lay;
    if (!vision_layout_init(&lay, H / PATCH, W / PATCH, (int32_t)(v->hp.window_size / (PATCH * MERGE)), err, errlen))
        return false;
    int64_t n = lay.n_patches, P = v->hp.projection_dim;
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)(v->hp.n_layer + 4) * 48 * 1024, .no_alloc = true });
    struct tl_gallocr *alloc = tl_gallocr_new();
    struct vision_graph vg;
    bool ok = ctx && alloc && build(v, ctx, n, &vg);
    if (!ok) tl_errorf(err, errlen, "building the vision graph: %s", ctx && tl_error(ctx) ? tl_error(ctx) : "out of memory");
    else if (!(ok = tl_gallocr_alloc_graph(alloc, vg.g)))
        tl_errorf(err, errlen, "out of memory for the vision tower's activations (%lld patches)", (long long)n);
    if (ok) {
        vision_layout_patchify(&lay, pixels, vg.patches->data);
        vision_layout_positions(&lay, vg.pos->data);
        if (vg.window_of->data)   // absent from the graph when every block attends fully
            memcpy(vg.window_of->data, lay.window_of, n * sizeof(int32_t));
        int nth = n_threads > 0 ? n_threads : tl_cpu_default_threads();
        if (v->mirror) ok = tl_vk_compute(v->mirror, vg.g, nth, NULL, err, errlen);
        else tl_cpu_compute(vg.g, nth);
    }
    if (ok) {
        // undo the window order: merger row k is merge unit window_index[k]
        const float *res = vg.out->data;
        for (int64_t k = 0; k < n / 4; k++) memcpy(out + (int64_t)lay.window_index[k] * P, res + k * P, P * sizeof(float));
    }
    tl_gallocr_free(alloc);
    tl_free(ctx);
    vision_layout_free(&lay);
    return ok;
}
