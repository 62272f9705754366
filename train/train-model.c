// The text model's parameters as f32 masters, and its decoder blocks as a graph.
#include "train-model.h"

#include "tl-gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool train_param_load(struct train_param *p, struct tl_context *pctx, const struct tl_gguf *file,
                      const struct qwen25vl_tensor_spec *spec, char *err, size_t errlen) {
    int64_t i = tl_gguf_find_tensor(file, spec->name);
    if (i < 0) {
        tl_errorf(err, errlen, "tensor %s is missing", spec->name);
        return false;
    }
    const struct tl_gguf_tensor_info *ti = tl_gguf_tensor(file, i);
    enum tl_type type;
    bool same_shape = true;
    for (int d = 0; d < 4; d++) same_shape = same_shape && ti->ne[d] == spec->ne[d];
    if (!same_shape) {
        tl_errorf(err, errlen, "tensor %s has the wrong shape for this model's hyperparameters", spec->name);
        return false;
    }
    if (!tl_type_from_ggml(ti->type, &type) || !tl_type_traits(type)->to_float) {
        tl_errorf(err, errlen, "tensor %s: its type (ggml %u) cannot be trained", spec->name, ti->type);
        return false;
    }
    int64_t n = 1;
    for (int d = 0; d < 4; d++) n *= spec->ne[d];
    float *mem = calloc((size_t)n * 4, sizeof(float));   // master, grad, m, v in one block
    if (!mem) {
        tl_errorf(err, errlen, "out of memory for %s (%lld parameters)", spec->name, (long long)n);
        return false;
    }
    *p = (struct train_param){ .w = tl_new_tensor(pctx, TL_F32, (int)spec->n_dims, spec->ne), .n = n,
                               .decay = spec->n_dims >= 2 };
    tl_set_name(p->w, "%s", spec->name);
    tl_set_param(p->w);
    p->w->data = mem;
    p->grad = mem + n;
    p->m = mem + 2 * n;
    p->v = mem + 3 * n;
    const struct tl_type_traits *tt = tl_type_traits(type);
    size_t row_bytes = tl_row_size(type, ti->ne[0]);
    for (int64_t r = 0; r < n / ti->ne[0]; r++)
        tt->to_float((const char *)ti->data + r * row_bytes, mem + r * ti->ne[0], ti->ne[0]);
    return true;
}

void train_param_free(struct train_param *p) {
    if (p->w) free(p->w->data);
    memset(p, 0, sizeof *p);
}

bool train_params_load(struct tl_context **pctx, struct train_param **params, int *n, const struct tl_gguf *file,
                       const struct qwen25vl_tensor_spec *specs, int n_specs, char *err, size_t errlen) {
    *pctx = tl_init((struct tl_init_params){ .mem_size = (size_t)(n_specs + 8) * 1024, .no_alloc = true });
    *params = calloc(n_specs, sizeof **params);
    if (!*pctx || !*params) abort();
    bool ok = true;
    for (*n = 0; ok && *n < n_specs; (*n)++) ok = train_param_load(&(*params)[*n], *pctx, file, &specs[*n], err, errlen);
    if (!ok) {
        train_params_free(*pctx, *params, *n);
        *pctx = NULL, *params = NULL, *n = 0;
    }
    return ok;
}

void train_params_free(struct tl_context *pctx, struct train_param *params, int n) {
    for (int i = 0; i < n; i++) train_param_free(&params[i]);
    free(params);
    tl_free(pctx);
}

struct train_param *train_param_named(struct train_param *params, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(params[i].w->name, name)) return &params[i];
    return NULL;
}

struct train_param *train_param_of(struct train_param *params, int n, const struct tl_tensor *t) {
    for (int i = 0; i < n; i++)
        if (params[i].w == t) return &params[i];
    return NULL;
}

static struct tl_tensor *param_named(struct train_model *m, const char *fmt, int layer) {
    char name[TL_GGUF_MAX_NAME];
    snprintf(name, sizeof name, fmt, layer);
    struct train_param *p = train_param_named(m->params, m->n_params, name);
    return p ? p->w : NULL;
}

static struct tl_tensor *find_param(void *m, const char *fmt, int layer) { return param_named(m, fmt, layer); }

bool train_model_load(struct train_model *m, const char *path, bool with_extra, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    char why[512] = "";
    int n_specs = 0;
    struct qwen25vl_tensor_spec *specs = NULL;
    m->file = qwen25vl_text_open(path, with_extra, &m->hp, &specs, &n_specs, err, errlen);
    if (!m->file) return false;
    if (!(m->layers = calloc(m->hp.n_layer, sizeof *m->layers))) abort();
    bool ok = train_params_load(&m->pctx, &m->params, &m->n_params, m->file, specs, n_specs, why, sizeof why);
    free(specs);
    if (!ok) {
        tl_errorf(err, errlen, "%s: %s", path, why);
        train_model_free(m);
        return false;
    }
    m->tok_embd = param_named(m, "token_embd.weight", 0);
    m->output_norm = param_named(m, "output_norm.weight", 0);
    m->output = m->hp.tied_embeddings ? m->tok_embd : param_named(m, "output.weight", 0);
    qwen25vl_text_bind_layers(m->layers, m->hp.n_layer, find_param, m);   // every name was loaded above
    return true;
}

void train_model_free(struct train_model *m) {
    train_params_free(m->pctx, m->params, m->n_params);
    free(m->layers);
    tl_gguf_free(m->file);
    memset(m, 0, sizeof *m);
}

struct train_param *train_model_param(struct train_model *m, const struct tl_tensor *t) {
    return train_param_of(m->params, m->n_params, t);
}

void train_model_zero_grads(struct train_model *m) {
    for (int i = 0; i < m->n_params; i++) memset(m->params[i].grad, 0, (size_t)m->params[i].n * sizeof(float));
}

// ---------------------------------------------------------------------------------------
// The decoder blocks: the inference graph of qwen25vl-text.c without the cache, over a
// packed sequence (segments instead of one causal stream).

static struct tl_tensor *weight(struct tl_context *ctx, struct tl_tensor *w, const struct train_graph_params *gp) {
    return gp->compute_type == TL_F32 ? w : tl_cast(ctx, w, gp->compute_type);
}

static struct tl_tensor *linear(struct tl_context *ctx, struct tl_tensor *w, struct tl_tensor *b, struct tl_tensor *x,
                                const struct train_graph_params *gp) {
    struct tl_tensor *y = tl_mul_mat(ctx, weight(ctx, w, gp), x);
    return b ? tl_add(ctx, y, b) : y;
}

struct tl_tensor *train_blocks(struct tl_context *ctx, const struct train_model *m, int l0, int l1,
                               struct tl_tensor *x, struct tl_tensor *pos, struct tl_tensor *seg,
                               const struct train_graph_params *gp) {
    const struct qwen25vl_text_hparams *hp = &m->hp;
    int64_t D = hp->head_dim, Hq = hp->n_head, Hkv = hp->n_head_kv, n = x->ne[1];
    struct tl_rope_params rp = { .mode = TL_ROPE_MROPE, .n_dims = (int)D, .freq_base = gp->rope_base, .attn_factor = 1 };
    memcpy(rp.sections, hp->rope_sections, sizeof rp.sections);
    struct tl_attn_params ap = { .scale = 1.0f / sqrtf((float)D), .causal = true };
    for (int l = l0; l < l1; l++) {
        const struct qwen25vl_text_layer *L = &m->layers[l];
        struct tl_tensor *h = tl_mul(ctx, tl_rms_norm(ctx, x, hp->rms_eps), L->attn_norm);
        struct tl_tensor *q = tl_reshape_4d(ctx, linear(ctx, L->wq, L->bq, h, gp), D, Hq, n, 1);
        struct tl_tensor *k = tl_reshape_4d(ctx, linear(ctx, L->wk, L->bk, h, gp), D, Hkv, n, 1);
        struct tl_tensor *v = tl_reshape_4d(ctx, linear(ctx, L->wv, L->bv, h, gp), D, Hkv, n, 1);
        q = tl_rope(ctx, q, pos, rp);
        k = tl_rope(ctx, k, pos, rp);
        // [D, heads, tokens] -> [D, tokens, heads], the attention op's layout
        struct tl_tensor *o = tl_flash_attn(ctx, tl_permute(ctx, q, 0, 2, 1, 3), tl_permute(ctx, k, 0, 2, 1, 3),
                                            tl_permute(ctx, v, 0, 2, 1, 3), seg, seg, ap);
        x = tl_add(ctx, x, tl_mul_mat(ctx, weight(ctx, L->wo, gp), tl_reshape_2d(ctx, o, D * Hq, n)));
        h = tl_mul(ctx, tl_rms_norm(ctx, x, hp->rms_eps), L->ffn_norm);
        struct tl_tensor *f = tl_swiglu(ctx, linear(ctx, L->ffn_gate, NULL, h, gp), linear(ctx, L->ffn_up, NULL, h, gp));
        x = tl_add(ctx, x, linear(ctx, L->ffn_down, NULL, f, gp));
    }
    return x;
}

struct tl_tensor *train_head_rows(struct tl_context *ctx, const struct train_model *m, struct tl_tensor *x,
                                  struct tl_tensor *rows) {
    // gather first: the norm is per row, and only answer rows reach the vocabulary
    struct tl_tensor *h = tl_get_rows(ctx, x, rows);
    return tl_mul(ctx, tl_rms_norm(ctx, h, m->hp.rms_eps), m->output_norm);
}
