// The Qwen2.5-VL text model: loading, the KV cache and the decoder graph (spec section 5).
#include "qwen25vl-text.h"

#include "tl-cpu.h"
#include "tl-gguf.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// ---------------------------------------------------------------------------------------
// Loading

static struct tl_tensor *bind(struct qwen25vl_text_model *m, const char *fmt, int layer) {
    return qwen25vl_bind_tensor(m->file, m->wctx, fmt, layer);
}

static struct tl_tensor *bind_layer(void *m, const char *fmt, int layer) { return bind(m, fmt, layer); }

bool qwen25vl_text_bind_layers(struct qwen25vl_text_layer *layers, uint32_t n_layer,
                               struct tl_tensor *(*find)(void *user, const char *fmt, int layer), void *user) {
    static const struct { const char *fmt; size_t offset; } names[] = {
        { "blk.%d.attn_norm.weight", offsetof(struct qwen25vl_text_layer, attn_norm) },
        { "blk.%d.attn_q.weight", offsetof(struct qwen25vl_text_layer, wq) },
        { "blk.%d.attn_q.bias", offsetof(struct qwen25vl_text_layer, bq) },
        { "blk.%d.attn_k.weight", offsetof(struct qwen25vl_text_layer, wk) },
        { "blk.%d.attn_k.bias", offsetof(struct qwen25vl_text_layer, bk) },
        { "blk.%d.attn_v.weight", offsetof(struct qwen25vl_text_layer, wv) },
        { "blk.%d.attn_v.bias", offsetof(struct qwen25vl_text_layer, bv) },
        { "blk.%d.attn_output.weight", offsetof(struct qwen25vl_text_layer, wo) },
        { "blk.%d.ffn_norm.weight", offsetof(struct qwen25vl_text_layer, ffn_norm) },
        { "blk.%d.ffn_gate.weight", offsetof(struct qwen25vl_text_layer, ffn_gate) },
        { "blk.%d.ffn_up.weight", offsetof(struct qwen25vl_text_layer, ffn_up) },
        { "blk.%d.ffn_down.weight", offsetof(struct qwen25vl_text_layer, ffn_down) },
    };
    bool ok = true;
    for (uint32_t l = 0; l < n_layer; l++)
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            struct tl_tensor *t = find(user, names[i].fmt, (int)l);
            *(struct tl_tensor **)((char *)&layers[l] + names[i].offset) = t;
            ok = ok && t;
        }
    return ok;
}

struct tl_gguf *qwen25vl_text_open(const char *path, bool with_extra, struct qwen25vl_text_hparams *hp,
                                   struct qwen25vl_tensor_spec **specs, int *n_specs, char *err, size_t errlen) {
    char why[512] = "";
    struct tl_gguf *g = tl_gguf_open(path, why, sizeof why);
    if (!g) {
        tl_errorf(err, errlen, "%s", why);
        return NULL;
    }
    *specs = NULL;
    bool ok = qwen25vl_text_hparams_from_gguf(g, hp, why, sizeof why) && qwen25vl_text_hparams_valid(hp, why, sizeof why) &&
              (*specs = qwen25vl_text_tensor_specs(hp, n_specs)) != NULL &&
              (with_extra || qwen25vl_check_tensors(g, *specs, *n_specs, why, sizeof why));
    if (!ok) {
        tl_errorf(err, errlen, "%s: %s", path, why);
        free(*specs);
        *specs = NULL;
        tl_gguf_free(g);
        return NULL;
    }
    return g;
}

bool qwen25vl_text_load(struct qwen25vl_text_model *m, const char *path, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    int n_specs = 0;
    struct qwen25vl_tensor_spec *specs = NULL;
    m->file = qwen25vl_text_open(path, false, &m->hp, &specs, &n_specs, err, errlen);
    free(specs);
    if (!m->file) return false;
    const struct qwen25vl_text_hparams *hp = &m->hp;
    m->wctx = tl_init((struct tl_init_params){ .mem_size = (size_t)(16 * hp->n_layer + 16) * 1024, .no_alloc = true });
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->wctx || !m->layers) {
        tl_errorf(err, errlen, "out of memory");
        qwen25vl_text_free(m);
        return false;
    }
    m->tok_embd = bind(m, "token_embd.weight", 0);
    m->output_norm = bind(m, "output_norm.weight", 0);
    m->output = hp->tied_embeddings ? m->tok_embd : bind(m, "output.weight", 0);
    bool ok = m->tok_embd && m->output_norm && m->output;
    ok = ok && qwen25vl_text_bind_layers(m->layers, hp->n_layer, bind_layer, m);
    // norms and biases are added to f32 activations elementwise
    ok = ok && m->output_norm->type == TL_F32;
    for (uint32_t l = 0; ok && l < hp->n_layer; l++) {
        const struct qwen25vl_text_layer *L = &m->layers[l];
        ok = L->attn_norm->type == TL_F32 && L->ffn_norm->type == TL_F32 && L->bq->type == TL_F32 &&
             L->bk->type == TL_F32 && L->bv->type == TL_F32;
    }
    if (!ok) {
        tl_errorf(err, errlen, "%s: a tensor has a type libtl cannot compute with (norms and biases must be f32)", path);
        qwen25vl_text_free(m);
        return false;
    }
    return true;
}

// The mapped file's pages under [p, p + n), dropped from this process (they are read
// again from the file if touched): the weight now lives in its CPU copy.
static void release_file_pages(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) / page * page, hi = ((uintptr_t)p + n) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static bool is_cpu_copy(const struct qwen25vl_text_model *m, const struct tl_tensor *t) {
    for (int i = 0; i < m->n_cpu_copies; i++)
        if (m->cpu_copies[i] == t->data) return true;
    return false;
}

// t moved out of the mapped file into a copy of its own in its CPU layout: panels of 8
// rows where it has them, except for the token embedding (the tied output), whose rows
// are also read one by one (qwen25vl_text_embed). A matrix of 2 MiB or more is copied
// even where its layout stays the file's (F16, ...): the copy sits on 2 MiB pages
// (tl_alloc_large), which a one-token GEMV streams faster than the file's 4 KiB ones.
static bool use_cpu_layout(struct qwen25vl_text_model *m, struct tl_tensor *t) {
    enum tl_type to = t == m->tok_embd ? tl_type_interleaved(t->type, t->ne[0]) : tl_type_cpu_layout(t->type, t->ne[0], t->ne[1]);
    size_t n = tl_nbytes(t);
    if (is_cpu_copy(m, t) || (to == t->type && (n < TL_LARGE_BYTES || !tl_get_huge_pages()))) return true;
    void *copy = tl_alloc_large(n);
    void **list = realloc(m->cpu_copies, (m->n_cpu_copies + 1) * sizeof *list);
    if (!copy || !list) {
        free(copy);
        if (list) m->cpu_copies = list;
        return false;
    }
    m->cpu_copies = list;
    if (to == t->type) memcpy(copy, t->data, n);
    else tl_convert_layout(t->type, to, t->data, copy, tl_nelements(t), t->ne[0]);
    release_file_pages(t->data, n);
    m->cpu_copies[m->n_cpu_copies++] = copy;
    t->data = copy;
    t->type = to;
    return true;
}

bool qwen25vl_text_use_cpu_layouts(struct qwen25vl_text_model *m, char *err, size_t errlen) {
    bool ok = use_cpu_layout(m, m->output);
    for (uint32_t l = 0; ok && l < m->hp.n_layer; l++) {
        struct qwen25vl_text_layer *L = &m->layers[l];
        struct tl_tensor *w[] = { L->wq, L->wk, L->wv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down };
        for (size_t i = 0; ok && i < sizeof w / sizeof w[0]; i++) ok = use_cpu_layout(m, w[i]);
    }
    if (!ok) tl_errorf(err, errlen, "out of memory for the CPU layout of the weights");
    return ok;
}

void qwen25vl_text_free(struct qwen25vl_text_model *m) {
    for (int i = 0; i < m->n_cpu_copies; i++) free(m->cpu_copies[i]);
    free(m->cpu_copies);
    free(m->layers);
    tl_free(m->wctx);
    tl_gguf_free(m->file);
    memset(m, 0, sizeof *m);
}

bool qwen25vl_text_embed(const struct qwen25vl_text_model *m, const int32_t *ids, int64_t n, float *out, char *err,
                         size_t errlen) {
    const struct tl_tensor *e = m->tok_embd;
    const struct tl_type_traits *tt = tl_type_traits(e->type);
    int64_t E = e->ne[0];
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= e->ne[1]) {
            tl_errorf(err, errlen, "token %lld: id %d is outside the vocabulary [0, %lld)", (long long)i, ids[i],
                      (long long)e->ne[1]);
            return false;
        }
        tt->to_float((const char *)e->data + (size_t)ids[i] * e->nb[1], out + i * E, E);
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// The context: KV cache and compute buffer

struct qwen25vl_text_context {
    const struct qwen25vl_text_model *m;
    struct qwen25vl_text_params p;
    struct tl_context *kv_ctx;
    struct tl_tensor **k, **v;   // per layer [D, n_ctx, Hkv]: one row per token and head
    int64_t n_past;
    struct tl_gallocr *alloc;
    size_t compute_peak;
    struct tl_vk_mirror *mirror;   // with a Vulkan device: the weights and cache there
    bool device_used;              // the device holds the cache: host writes would be lost
};

size_t qwen25vl_kv_bytes_per_token(const struct qwen25vl_text_hparams *hp, enum tl_type kv_type) {
    return 2 * (size_t)hp->n_layer * hp->n_head_kv * tl_row_size(kv_type, hp->head_dim);
}

int64_t qwen25vl_text_n_past(const struct qwen25vl_text_context *c) { return c->n_past; }
int64_t qwen25vl_text_n_ctx(const struct qwen25vl_text_context *c) { return c->p.n_ctx; }
size_t qwen25vl_text_compute_bytes(const struct qwen25vl_text_context *c) { return c->compute_peak; }

bool qwen25vl_text_fill_synthetic(struct qwen25vl_text_context *c, int64_t n, char *err, size_t errlen) {
    const struct qwen25vl_text_hparams *hp = &c->m->hp;
    if (n < 0 || c->n_past + n > c->p.n_ctx) {
        tl_errorf(err, errlen, "%lld synthetic tokens do not fit a context of %lld", (long long)n, (long long)c->p.n_ctx);
        return false;
    }
    if (c->device_used) {
        tl_errorf(err, errlen, "synthetic cache rows must be written before the first decode on a Vulkan device");
        return false;
    }
    size_t row_bytes = tl_row_size(c->p.kv_type, hp->head_dim);
    float *f = malloc(hp->head_dim * sizeof *f);
    char *row = malloc(row_bytes);
    if (!f || !row) abort();
    for (uint32_t d = 0; d < hp->head_dim; d++) f[d] = 0.01f;
    tl_type_traits(c->p.kv_type)->from_float(f, row, hp->head_dim);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        struct tl_tensor *kv[2] = { c->k[l], c->v[l] };
        for (int i = 0; i < 2; i++)
            for (int64_t h = 0; h < kv[i]->ne[2]; h++)
                for (int64_t j = c->n_past; j < c->n_past + n; j++)
                    memcpy((char *)kv[i]->data + h * kv[i]->nb[2] + j * kv[i]->nb[1], row, row_bytes);
    }
    free(f);
    free(row);
    c->n_past += n;
    return true;
}

void qwen25vl_text_truncate(struct qwen25vl_text_context *c, int64_t n_keep) {
    if (n_keep >= 0 && n_keep < c->n_past) c->n_past = n_keep;
}

struct qwen25vl_text_context *qwen25vl_text_context_new(const struct qwen25vl_text_model *m,
                                                        const struct qwen25vl_text_params *p, char *err,
                                                        size_t errlen) {
    const struct qwen25vl_text_hparams *hp = &m->hp;
    if (p->kv_type != TL_F32 && p->kv_type != TL_F16 && p->kv_type != TL_Q8_0 && p->kv_type != TL_Q4_0) {
        tl_errorf(err, errlen, "KV cache type %s is not supported (f32, f16, q8_0, q4_0)", tl_type_name(p->kv_type));
        return NULL;
    }
    int64_t block = tl_type_traits(p->kv_type)->block_size;
    if (hp->head_dim % block) {   // each cached row (one head of one token) is whole blocks
        tl_errorf(err, errlen, "a %s KV cache needs a head dim that is a multiple of %lld; this model's is %u",
                  tl_type_name(p->kv_type), (long long)block, hp->head_dim);
        return NULL;
    }
    if (p->n_ctx < 1 || p->n_ctx > INT32_MAX) {
        tl_errorf(err, errlen, "context size %lld out of range", (long long)p->n_ctx);
        return NULL;
    }
    struct qwen25vl_text_context *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->m = m;
    c->p = *p;
    if (c->p.n_ubatch <= 0) c->p.n_ubatch = 512;
    if (c->p.n_threads <= 0) c->p.n_threads = tl_cpu_default_threads();
    if (!(c->p.rope_freq_base > 0)) c->p.rope_freq_base = hp->rope_freq_base;
    size_t bytes = qwen25vl_kv_bytes_per_token(hp, p->kv_type) * (size_t)p->n_ctx;
    // one allocation; pages are committed as the cache fills
    c->kv_ctx = tl_init((struct tl_init_params){ .mem_size = bytes + (size_t)(2 * hp->n_layer + 8) * 1024 });
    c->k = calloc(hp->n_layer, sizeof *c->k);
    c->v = calloc(hp->n_layer, sizeof *c->v);
    c->alloc = tl_gallocr_new();
    if (p->vk) c->mirror = tl_vk_mirror_new(p->vk);
    if (!c->kv_ctx || !c->k || !c->v || !c->alloc) {
        tl_errorf(err, errlen, "cannot allocate the KV cache: %.2f GiB for %lld tokens of %s", bytes / 1073741824.0,
                  (long long)p->n_ctx, tl_type_name(p->kv_type));
        qwen25vl_text_context_free(c);
        return NULL;
    }
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        c->k[l] = tl_set_name(tl_new_tensor_3d(c->kv_ctx, p->kv_type, hp->head_dim, p->n_ctx, hp->n_head_kv), "cache_k.%u", l);
        c->v[l] = tl_set_name(tl_new_tensor_3d(c->kv_ctx, p->kv_type, hp->head_dim, p->n_ctx, hp->n_head_kv), "cache_v.%u", l);
    }
    return c;
}

void qwen25vl_text_context_free(struct qwen25vl_text_context *c) {
    if (!c) return;
    tl_vk_mirror_free(c->mirror);
    tl_gallocr_free(c->alloc);
    tl_free(c->kv_ctx);
    free(c->k);
    free(c->v);
    free(c);
}

// ---------------------------------------------------------------------------------------
// The graph of one micro-batch of n tokens appended after n_past cached ones.

static struct tl_tensor *rms_norm(struct tl_context *ctx, struct tl_tensor *x, struct tl_tensor *w, float eps) {
    return tl_mul(ctx, tl_rms_norm(ctx, x, eps), w);
}

// A linear layer y = W x (+ b).
static struct tl_tensor *linear(struct tl_context *ctx, struct tl_tensor *w, struct tl_tensor *b, struct tl_tensor *x) {
    struct tl_tensor *y = tl_mul_mat(ctx, w, x);
    return b ? tl_add(ctx, y, b) : y;
}

// The cache rows [n0, n0 + n) of every kv head: a [D, n, Hkv] view.
static struct tl_tensor *cache_view(struct tl_context *ctx, struct tl_tensor *cache, int64_t n0, int64_t n) {
    return tl_view_4d(ctx, cache, cache->ne[0], n, cache->ne[2], 1, cache->nb[1], cache->nb[2], cache->nb[2] * cache->ne[2],
                      (size_t)n0 * cache->nb[1]);
}

struct ubatch_graph {
    struct tl_graph *g;
    struct tl_tensor *embd, *pos, *logits;
};

// Which logits a micro-batch computes: a prefill chunk before the last needs none.
enum logits_wanted { LOGITS_NONE, LOGITS_LAST, LOGITS_ALL };

static bool build_ubatch(struct qwen25vl_text_context *c, struct tl_context *ctx, int64_t n, enum logits_wanted want,
                         struct ubatch_graph *u) {
    const struct qwen25vl_text_model *m = c->m;
    const struct qwen25vl_text_hparams *hp = &m->hp;
    int64_t D = hp->head_dim, Hq = hp->n_head, Hkv = hp->n_head_kv, n0 = c->n_past, n_kv = n0 + n;
    u->embd = tl_new_tensor_2d(ctx, TL_F32, hp->n_embd, n);
    u->pos = tl_new_tensor_1d(ctx, TL_I32, 3 * n);
    tl_set_input(u->embd);
    tl_set_input(u->pos);
    const struct rope_yarn *y = &c->p.rope_yarn;
    struct tl_rope_params rp = { .mode = TL_ROPE_MROPE, .n_dims = (int)D, .freq_base = c->p.rope_freq_base,
                                 .attn_factor = y->factor ? y->attn_factor : 1, .yarn_factor = y->factor,
                                 .yarn_low = y->ramp_low, .yarn_high = y->ramp_high };
    memcpy(rp.sections, hp->rope_sections, sizeof rp.sections);
    struct tl_attn_params ap = { .scale = 1.0f / sqrtf((float)D), .causal = true, .q_offset = (int32_t)n0 };
    u->g = tl_graph_new(ctx, 64 * hp->n_layer + 64);
    struct tl_tensor *x = u->embd;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const struct qwen25vl_text_layer *L = &m->layers[l];
        struct tl_tensor *h = rms_norm(ctx, x, L->attn_norm, hp->rms_eps);
        struct tl_tensor *q = tl_reshape_4d(ctx, linear(ctx, L->wq, L->bq, h), D, Hq, n, 1);
        struct tl_tensor *k = tl_reshape_4d(ctx, linear(ctx, L->wk, L->bk, h), D, Hkv, n, 1);
        struct tl_tensor *v = tl_reshape_4d(ctx, linear(ctx, L->wv, L->bv, h), D, Hkv, n, 1);
        q = tl_rope(ctx, q, u->pos, rp);
        k = tl_rope(ctx, k, u->pos, rp);
        // [D, heads, tokens] -> [D, tokens, heads], the layout of the cache and the attention op.
        // The copies into the cache go into the graph before anything that reads the cache.
        struct tl_tensor *k_store = tl_cpy(ctx, tl_permute(ctx, k, 0, 2, 1, 3), cache_view(ctx, c->k[l], n0, n));
        struct tl_tensor *v_store = tl_cpy(ctx, tl_permute(ctx, v, 0, 2, 1, 3), cache_view(ctx, c->v[l], n0, n));
        if (!tl_graph_build(u->g, k_store) || !tl_graph_build(u->g, v_store)) return false;
        struct tl_tensor *o = tl_flash_attn(ctx, tl_permute(ctx, q, 0, 2, 1, 3), cache_view(ctx, c->k[l], 0, n_kv),
                                            cache_view(ctx, c->v[l], 0, n_kv), NULL, NULL, ap);
        x = tl_add(ctx, x, tl_mul_mat(ctx, L->wo, tl_reshape_2d(ctx, o, D * Hq, n)));
        h = rms_norm(ctx, x, L->ffn_norm, hp->rms_eps);
        struct tl_tensor *f = tl_swiglu(ctx, tl_mul_mat(ctx, L->ffn_gate, h), tl_mul_mat(ctx, L->ffn_up, h));
        x = tl_add(ctx, x, tl_mul_mat(ctx, L->ffn_down, f));
    }
    if (want == LOGITS_NONE) {   // the last layer's cache writes are already in the graph
        u->logits = NULL;
        return x != NULL;
    }
    if (want == LOGITS_LAST && x)   // only the last token's logits: skip the vocabulary product for the rest
        x = tl_view_4d(ctx, x, x->ne[0], 1, 1, 1, x->nb[1], x->nb[1], x->nb[1], (size_t)(n - 1) * x->nb[1]);
    x = rms_norm(ctx, x, m->output_norm, hp->rms_eps);
    u->logits = tl_mul_mat(ctx, m->output, x);
    return tl_graph_build(u->g, u->logits);
}

// logits: where the wanted logits go (NULL for LOGITS_NONE)
static bool decode_ubatch(struct qwen25vl_text_context *c, const float *embd, const int32_t *pos, int64_t n,
                          float *logits, enum logits_wanted want, char *err, size_t errlen) {
    const struct qwen25vl_text_hparams *hp = &c->m->hp;
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)(hp->n_layer + 4) * 48 * 1024, .no_alloc = true });
    if (!ctx) {
        tl_errorf(err, errlen, "out of memory");
        return false;
    }
    struct ubatch_graph u;
    bool ok = build_ubatch(c, ctx, n, want, &u);
    if (!ok) {
        tl_errorf(err, errlen, "building the text graph: %s", tl_error(ctx) ? tl_error(ctx) : "graph too large");
    } else if (!tl_gallocr_alloc_graph(c->alloc, u.g)) {
        tl_errorf(err, errlen, "out of memory for the compute buffer (%lld tokens per micro-batch)", (long long)n);
        ok = false;
    }
    if (ok) {
        size_t peak = tl_gallocr_peak_bytes(c->alloc);
        if (peak > c->compute_peak) c->compute_peak = peak;
        memcpy(u.embd->data, embd, (size_t)n * hp->n_embd * sizeof(float));
        for (int s = 0; s < 3; s++) memcpy((int32_t *)u.pos->data + s * n, pos + s * n, (size_t)n * sizeof(int32_t));
        if (c->mirror) ok = c->device_used = tl_vk_compute(c->mirror, u.g, c->p.n_threads, NULL, err, errlen);
        else tl_cpu_compute(u.g, c->p.n_threads);
    }
    if (ok) {
        if (logits) memcpy(logits, u.logits->data, tl_nbytes(u.logits));
        c->n_past += n;
    }
    tl_free(ctx);
    return ok;
}

bool qwen25vl_text_decode(struct qwen25vl_text_context *c, const float *embd, const int32_t *pos, int64_t n,
                          float *logits, bool all_logits, char *err, size_t errlen) {
    const struct qwen25vl_text_hparams *hp = &c->m->hp;
    if (n < 1 || c->n_past + n > c->p.n_ctx) {
        tl_errorf(err, errlen, "%lld tokens do not fit: %lld of %lld context tokens are used", (long long)n,
                  (long long)c->n_past, (long long)c->p.n_ctx);
        return false;
    }
    int32_t *ub_pos = malloc((size_t)3 * c->p.n_ubatch * sizeof *ub_pos);
    if (!ub_pos) abort();
    int64_t n_past = c->n_past;
    bool ok = true;
    for (int64_t i = 0; ok && i < n; i += c->p.n_ubatch) {
        int64_t k = n - i < c->p.n_ubatch ? n - i : c->p.n_ubatch;
        for (int s = 0; s < 3; s++) memcpy(ub_pos + s * k, pos + s * n + i, (size_t)k * sizeof *ub_pos);
        enum logits_wanted want = !logits ? LOGITS_NONE : all_logits ? LOGITS_ALL : i + k == n ? LOGITS_LAST : LOGITS_NONE;
        float *out = want == LOGITS_ALL ? logits + i * hp->n_vocab : want == LOGITS_LAST ? logits : NULL;
        ok = decode_ubatch(c, embd + i * hp->n_embd, ub_pos, k, out, want, err, errlen);
    }
    if (!ok) c->n_past = n_past;   // all or nothing
    free(ub_pos);
    return ok;
}
