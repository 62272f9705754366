// Every backward rule against finite differences. Each case builds y = f(params) and the
// scalar loss = sum(y * R) (R fixed random, through mul_mat), derives the gradients with
// tl_build_backward (seeded with 0.7, to check the seed is carried), computes them with
// the fast paths of the ISA under test and with the reference kernels, and compares
// every param's gradient with central differences of the reference forward:
//   max |analytic - numeric| <= TOL * max(max |numeric|, 0.1)
// and the fast paths' gradients and loss with the reference kernels' (1e-4 relative).
// Usage: test-grad [scalar|avx2|avx512]   (default: every ISA this CPU has)
#include "test-util.h"
#include "tl-impl.h"   // tl_attn_visible, to build the naive mask

#define EPS   1e-2f   // the finite-difference step (inputs are O(1))
#define TOL   2e-3    // see the top comment; errors seen: 1e-6 to 9.2e-4 (f32 rounding of a loss of ~60)
#define SEED  0.7f
#define MAX_PROBES 64 // elements probed per param (all when fewer)

static struct tl_tensor *param(struct tl_context *ctx, enum tl_type type, int64_t n0, int64_t n1, int64_t n2,
                               int64_t n3, float lo, float hi) {
    struct tl_tensor *t = tl_new_tensor_4d(ctx, type, n0, n1, n2, n3);
    if (t->data) fill_uniform(t, lo, hi);   // (a no_alloc context: shapes only)
    tl_set_param(t);
    return t;
}
static struct tl_tensor *input(struct tl_context *ctx, int64_t n0, int64_t n1, int64_t n2, int64_t n3) {
    struct tl_tensor *t = tl_new_tensor_4d(ctx, TL_F32, n0, n1, n2, n3);
    fill_uniform(t, -1, 1);
    return t;
}
static struct tl_tensor *ints(struct tl_context *ctx, int64_t n, int lo, int hi) {
    struct tl_tensor *t = tl_new_tensor_1d(ctx, TL_I32, n);
    for (int64_t i = 0; t->data && i < n; i++) ((int32_t *)t->data)[i] = (int32_t)rng_int(lo, hi);
    return t;
}

static struct tl_tensor *case_binary(struct tl_context *ctx, int v) {
    static struct tl_tensor *(*ops[])(struct tl_context *, struct tl_tensor *, struct tl_tensor *) = {
        tl_add, tl_sub, tl_mul, tl_div };
    struct tl_tensor *a = param(ctx, TL_F32, 5, 4, 3, 2, -1, 1);
    struct tl_tensor *b = v / 4 ? param(ctx, TL_F32, 5, 1, 3, 1, 0.5f, 2) : param(ctx, TL_F32, 5, 4, 3, 2, 0.5f, 2);
    return ops[v % 4](ctx, a, b);
}

static struct tl_tensor *case_unary(struct tl_context *ctx, int v) {
    struct tl_tensor *x = param(ctx, TL_F32, 7, 3, 2, 1, -3, 3);
    switch (v) {
    case 0: return tl_scale(ctx, x, -0.37f);
    case 1: return tl_silu(ctx, x);
    case 2: return tl_gelu(ctx, x);
    default: return tl_gelu_tanh(ctx, x);
    }
}

static struct tl_tensor *case_swiglu(struct tl_context *ctx, int v) {
    (void)v;
    return tl_swiglu(ctx, param(ctx, TL_F32, 6, 5, 1, 1, -3, 3), param(ctx, TL_F32, 6, 5, 1, 1, -2, 2));
}

// a norm, then its weight (as the models do)
static struct tl_tensor *case_norm(struct tl_context *ctx, int v) {
    struct tl_tensor *x = param(ctx, TL_F32, 9, 4, 2, 1, -2, 2), *w = param(ctx, TL_F32, 9, 1, 1, 1, 0.5f, 1.5f);
    return tl_mul(ctx, v ? tl_layer_norm(ctx, x, 1e-5f) : tl_rms_norm(ctx, x, 1e-6f), w);
}

static struct tl_tensor *case_soft_max(struct tl_context *ctx, int v) {
    struct tl_tensor *x = param(ctx, TL_F32, 6, 6, 2, 1, -2, 2), *mask = NULL;
    if (v) {   // causal, as attention masks are
        mask = tl_new_tensor_2d(ctx, TL_F32, 6, 6);
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) ((float *)mask->data)[i * 6 + j] = j <= i ? 0 : -INFINITY;
    }
    return tl_soft_max(ctx, x, mask, 0.7f);
}

// neox; mrope (3 streams, pass-through dims); the ViT's 2-D rope; neox with YaRN and an
// attention factor
static struct tl_tensor *case_rope(struct tl_context *ctx, int v) {
    struct tl_rope_params p = { .mode = TL_ROPE_NEOX, .n_dims = 8, .freq_base = 10000 };
    int64_t D = 8, N = 5, streams = 1;
    if (v == 1) {
        p = (struct tl_rope_params){ .mode = TL_ROPE_MROPE, .n_dims = 16, .sections = { 2, 3, 3, 0 }, .freq_base = 1e6f };
        D = 20;
        streams = 3;
    } else if (v == 2) {
        p = (struct tl_rope_params){ .mode = TL_ROPE_VISION, .n_dims = 4, .sections = { 2, 2 }, .freq_base = 10000 };
        D = 10;
        streams = 2;
    } else if (v == 3) {
        p.yarn_factor = 4;
        p.yarn_low = 1;
        p.yarn_high = 3;
        p.attn_factor = 1.2f;
    }
    struct tl_tensor *x = param(ctx, TL_F32, D, 3, N, 1, -1, 1);
    return tl_rope(ctx, x, ints(ctx, N * streams, 0, 40), p);
}

// f32; broadcast over batches; f16 frozen weights (only b's gradient); b a transposed view
static struct tl_tensor *case_mul_mat(struct tl_context *ctx, int v) {
    switch (v) {
    case 0: return tl_mul_mat(ctx, param(ctx, TL_F32, 7, 5, 1, 1, -1, 1), param(ctx, TL_F32, 7, 3, 1, 1, -1, 1));
    case 1: return tl_mul_mat(ctx, param(ctx, TL_F32, 6, 4, 2, 1, -1, 1), param(ctx, TL_F32, 6, 3, 4, 3, -1, 1));
    case 2: {
        struct tl_tensor *a = tl_new_tensor_2d(ctx, TL_F16, 8, 5);
        fill_uniform(a, -1, 1);
        return tl_mul_mat(ctx, a, param(ctx, TL_F32, 8, 4, 1, 1, -1, 1));
    }
    default:
        return tl_mul_mat(ctx, param(ctx, TL_F32, 5, 3, 1, 1, -1, 1),
                          tl_transpose(ctx, param(ctx, TL_F32, 4, 5, 1, 1, -1, 1)));
    }
}

// repeated ids and one outside the table (no gradient there); batched tables
static struct tl_tensor *case_get_rows(struct tl_context *ctx, int v) {
    if (!v) {
        struct tl_tensor *ids = ints(ctx, 7, 0, 5);
        ((int32_t *)ids->data)[3] = ((int32_t *)ids->data)[1];
        ((int32_t *)ids->data)[5] = 9;
        return tl_get_rows(ctx, param(ctx, TL_F32, 4, 6, 1, 1, -1, 1), ids);
    }
    struct tl_tensor *ids = tl_new_tensor_3d(ctx, TL_I32, 3, 2, 1);
    for (int i = 0; i < 6; i++) ((int32_t *)ids->data)[i] = (int32_t)rng_int(0, 3);
    return tl_get_rows(ctx, param(ctx, TL_F32, 5, 4, 2, 1, -1, 1), ids);
}

// permute; reshape; a strided slice at an offset; a slice of a reshape; transpose
static struct tl_tensor *case_view(struct tl_context *ctx, int v) {
    struct tl_tensor *x = param(ctx, TL_F32, 4, 3, 5, 2, -1, 1);
    switch (v) {
    case 0: return tl_permute(ctx, x, 2, 0, 3, 1);
    case 1: return tl_reshape_2d(ctx, x, 12, 10);
    case 2: return tl_view_4d(ctx, x, 2, 2, 3, 2, x->nb[1], x->nb[2], x->nb[3], x->nb[0] + x->nb[1]);
    case 3: {
        struct tl_tensor *r = tl_reshape_3d(ctx, x, 12, 5, 2);
        return tl_view_4d(ctx, r, 5, 3, 1, 1, r->nb[1], r->nb[2], r->nb[3], 2 * r->nb[0] + r->nb[2]);
    }
    default: return tl_mul(ctx, tl_transpose(ctx, x), input(ctx, 3, 4, 5, 2));
    }
}

static struct tl_tensor *case_concat(struct tl_context *ctx, int v) {
    int64_t na[4] = { 3, 4, 2, 1 }, nb[4] = { 3, 4, 2, 1 };
    nb[v] += 2;
    return tl_concat(ctx, param(ctx, TL_F32, na[0], na[1], na[2], na[3], -1, 1),
                     param(ctx, TL_F32, nb[0], nb[1], nb[2], nb[3], -1, 1), v);
}

// cpy into a tensor of another shape; cont of a transposed view
static struct tl_tensor *case_copy(struct tl_context *ctx, int v) {
    struct tl_tensor *x = param(ctx, TL_F32, 6, 4, 1, 1, -1, 1);
    if (v) return tl_cont(ctx, tl_transpose(ctx, x));
    return tl_cpy(ctx, x, tl_new_tensor_2d(ctx, TL_F32, 8, 3));
}

// causal; window; packed segments; GQA with cached keys before the queries; q a permuted
// view (as the models make it)
static struct tl_tensor *case_attn(struct tl_context *ctx, int v) {
    int64_t D = 16, Nq = 6, Nk = 6, Hq = 2, Hkv = 2;   // D a multiple of every vector width: the fast paths run
    struct tl_attn_params p = { .scale = 0.4f, .causal = true };
    struct tl_tensor *sq = NULL, *sk = NULL;
    if (v == 1) p.window = 3;
    if (v == 2) {
        sq = ints(ctx, Nq, 0, 0);
        for (int i = 0; i < Nq; i++) ((int32_t *)sq->data)[i] = i < 2 ? 0 : i < 5 ? 1 : 2;
        sk = sq;
    }
    if (v == 3) {
        Hq = 4;
        Hkv = 2;
        Nk = 9;
        p.q_offset = 3;
    }
    struct tl_tensor *q = param(ctx, TL_F32, D, Nq, Hq, 1, -1, 1);
    if (v == 4) {
        p.causal = false;
        q = tl_permute(ctx, param(ctx, TL_F32, D, Hq, Nq, 1, -1, 1), 0, 2, 1, 3);
    }
    struct tl_tensor *k = param(ctx, TL_F32, D, Nk, Hkv, 1, -1, 1), *vv = param(ctx, TL_F32, D, Nk, Hkv, 1, -1, 1);
    return tl_flash_attn(ctx, q, k, vv, sq, sk, p);
}

// chunks that do not divide the tokens, ignored targets; frozen weights; a vocabulary
// past the fast path's block of 4096 rows, with f32 and with frozen f16 weights
static struct tl_tensor *case_lm_loss(struct tl_context *ctx, int v) {
    int64_t H = v < 2 ? 6 : 8, V = v < 2 ? 11 : 5000, N = 7;
    struct tl_tensor *w;
    if (v == 1) w = input(ctx, H, V, 1, 1);
    else if (v == 3) {
        w = tl_new_tensor_2d(ctx, TL_F16, H, V);
        fill_uniform(w, -1, 1);
    } else w = param(ctx, TL_F32, H, V, 1, 1, -1, 1);
    struct tl_tensor *targets = ints(ctx, N, 0, (int)V - 1);
    ((int32_t *)targets->data)[2] = -1;
    return tl_lm_loss(ctx, w, param(ctx, TL_F32, H, N, 1, 1, -1, 1), targets, 3);
}

// A decoder layer put together as the text model does: norm, q/k/v, mrope, GQA
// attention, output projection and residual, norm, SwiGLU MLP and residual.
static struct tl_tensor *decoder_layer(struct tl_context *ctx, int64_t N, int64_t E, int64_t D, int64_t Hq,
                                       int64_t Hkv, int64_t F) {
    struct tl_tensor *x = param(ctx, TL_F32, E, N, 1, 1, -1, 1);
    struct tl_tensor *h = tl_mul(ctx, tl_rms_norm(ctx, x, 1e-6f), param(ctx, TL_F32, E, 1, 1, 1, 0.5f, 1.5f));
    struct tl_tensor *q = tl_add(ctx, tl_mul_mat(ctx, param(ctx, TL_F32, E, D * Hq, 1, 1, -0.5f, 0.5f), h),
                                 param(ctx, TL_F32, D * Hq, 1, 1, 1, -0.1f, 0.1f));
    struct tl_tensor *k = tl_mul_mat(ctx, param(ctx, TL_F32, E, D * Hkv, 1, 1, -0.5f, 0.5f), h);
    struct tl_tensor *vv = tl_mul_mat(ctx, param(ctx, TL_F32, E, D * Hkv, 1, 1, -0.5f, 0.5f), h);
    struct tl_rope_params rp = { .mode = TL_ROPE_MROPE, .n_dims = D, .sections = { D / 4, D / 4, 0, 0 }, .freq_base = 1e4f };
    struct tl_tensor *pos = ints(ctx, 3 * N, 0, 9);
    q = tl_rope(ctx, tl_reshape_3d(ctx, q, D, Hq, N), pos, rp);
    k = tl_rope(ctx, tl_reshape_3d(ctx, k, D, Hkv, N), pos, rp);
    vv = tl_reshape_3d(ctx, vv, D, Hkv, N);
    struct tl_attn_params ap = { .scale = 0.5f, .causal = true };
    struct tl_tensor *o = tl_flash_attn(ctx, tl_permute(ctx, q, 0, 2, 1, 3), tl_permute(ctx, k, 0, 2, 1, 3),
                                        tl_permute(ctx, vv, 0, 2, 1, 3), NULL, NULL, ap);
    o = tl_mul_mat(ctx, param(ctx, TL_F32, D * Hq, E, 1, 1, -0.5f, 0.5f), tl_reshape_2d(ctx, o, D * Hq, N));
    struct tl_tensor *r = tl_add(ctx, x, o);
    struct tl_tensor *m = tl_mul(ctx, tl_rms_norm(ctx, r, 1e-6f), param(ctx, TL_F32, E, 1, 1, 1, 0.5f, 1.5f));
    struct tl_tensor *g = tl_swiglu(ctx, tl_mul_mat(ctx, param(ctx, TL_F32, E, F, 1, 1, -0.5f, 0.5f), m),
                                    tl_mul_mat(ctx, param(ctx, TL_F32, E, F, 1, 1, -0.5f, 0.5f), m));
    return tl_add(ctx, r, tl_mul_mat(ctx, param(ctx, TL_F32, F, E, 1, 1, -0.5f, 0.5f), g));
}

static struct tl_tensor *case_layer(struct tl_context *ctx, int v) {
    (void)v;
    return decoder_layer(ctx, 5, 16, 4, 4, 2, 24);
}

struct grad_case {
    const char *name;
    struct tl_tensor *(*build)(struct tl_context *ctx, int v);
    int n_variants;
};

static const struct grad_case cases[] = {
    { "binary", case_binary, 8 },     { "unary", case_unary, 4 },   { "swiglu", case_swiglu, 1 },
    { "norm", case_norm, 2 },         { "soft_max", case_soft_max, 2 }, { "rope", case_rope, 4 },
    { "mul_mat", case_mul_mat, 4 },   { "get_rows", case_get_rows, 2 }, { "view", case_view, 5 },
    { "concat", case_concat, 3 },     { "copy", case_copy, 2 },     { "flash_attn", case_attn, 5 },
    { "lm_loss", case_lm_loss, 4 },   { "layer", case_layer, 1 },
};

static float loss_of(struct tl_graph *gf, struct tl_tensor *loss) {
    tl_cpu_compute_reference(gf);
    return *(float *)loss->data;
}

// The worst gradient error of one param, relative to the largest numeric gradient.
static double check_param(struct tl_graph *gf, struct tl_tensor *loss, struct tl_tensor *p, const float *grad) {
    int64_t n = tl_nelements(p);
    double worst = 0, scale = 0.1;
    double *num = malloc(n * sizeof *num);
    int64_t *at = malloc(n * sizeof *at), probes = n < MAX_PROBES ? n : MAX_PROBES;
    for (int64_t i = 0; i < probes; i++) {
        at[i] = n <= MAX_PROBES ? i : rng_int(0, n - 1);
        float x0 = tl_get_f32_1d(p, at[i]);
        tl_set_f32_1d(p, at[i], x0 + EPS);
        double up = loss_of(gf, loss);
        tl_set_f32_1d(p, at[i], x0 - EPS);
        double down = loss_of(gf, loss);
        tl_set_f32_1d(p, at[i], x0);
        num[i] = SEED * (up - down) / (2 * EPS);
        if (fabs(num[i]) > scale) scale = fabs(num[i]);
    }
    for (int64_t i = 0; i < probes; i++) {
        double e = fabs(grad[at[i]] - num[i]);
        if (e > worst) worst = e;
    }
    free(num);
    free(at);
    return worst / scale;
}

static void run_case(const struct grad_case *c, int v, enum tl_cpu_isa isa) {
    rng_seed(1000 * (uint64_t)(c - cases) + v);
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 32 << 20 });
    struct tl_tensor *y = c->build(ctx, v);
    struct tl_tensor *yflat = y ? tl_reshape_2d(ctx, tl_cont(ctx, y), tl_nelements(y), 1) : NULL;
    struct tl_tensor *r = yflat ? input(ctx, tl_nelements(y), 1, 1, 1) : NULL;
    struct tl_tensor *loss = tl_mul_mat(ctx, r, yflat);
    struct tl_tensor *seed = tl_new_tensor_2d(ctx, TL_F32, 1, 1);
    *(float *)seed->data = SEED;
    struct tl_graph *gf = tl_graph_new(ctx, 1024), *gb = tl_graph_new(ctx, 4096);
    bool built = tl_graph_build(gf, loss) && tl_build_backward(ctx, gf, loss, seed, gb);
    if (!built) {
        check(0, "%s/%d: %s", c->name, v, tl_error(ctx));
        tl_free(ctx);
        return;
    }
    tl_cpu_set_isa(isa);
    // the gradients with the fast paths, then with the reference kernels
    int n_params = 0;
    struct tl_tensor *params[32];
    float *fast[32];
    for (int i = 0; i < gf->n_leafs; i++)
        if (gf->leafs[i]->flags & TL_FLAG_PARAM) params[n_params++] = gf->leafs[i];
    tl_cpu_compute(gb, 2);
    float loss_fast = *(float *)loss->data;
    for (int i = 0; i < n_params; i++) {
        size_t bytes = tl_nelements(params[i]) * sizeof(float);
        fast[i] = malloc(bytes);
        memcpy(fast[i], params[i]->grad->data, bytes);
    }
    tl_cpu_compute_reference(gb);
    double worst_fd = 0, worst_ref = fabs(loss_fast - *(float *)loss->data) / fmax(fabs(*(float *)loss->data), 1);
    for (int i = 0; i < n_params; i++) {
        const float *ref = params[i]->grad->data;
        double e = check_param(gf, loss, params[i], ref), max_abs;
        worst_fd = e > worst_fd ? e : worst_fd;
        double scale = 0.1;
        for (int64_t j = 0; j < tl_nelements(params[i]); j++) scale = fabs(ref[j]) > scale ? fabs(ref[j]) : scale;
        compare(fast[i], ref, tl_nelements(params[i]), 0, 0, &max_abs);
        worst_ref = max_abs / scale > worst_ref ? max_abs / scale : worst_ref;
        free(fast[i]);
    }
    check(worst_fd <= TOL && worst_ref <= 1e-4 && n_params > 0,
          "%-10s v%d %-6s %d params: vs finite differences %.2e, fast vs reference %.2e", c->name, v,
          tl_cpu_isa_name(isa), n_params, worst_fd, worst_ref);
    tl_free(ctx);
}

// The fused attention's gradients against those of the naive attention built from
// mul_mat, soft_max (an additive mask) and mul_mat, at sizes past one key chunk: GQA,
// causal with cached keys, packed segments and a window. Bound: 1e-4 of the largest.
static void check_attn_vs_naive(int v, enum tl_cpu_isa isa) {
    rng_seed(77 + v);
    int64_t D = 16, Nq = 70, Nk = 70 + (v == 1 ? 30 : 0), Hq = 4, Hkv = v == 2 ? 4 : 2;
    struct tl_attn_params p = { .scale = 0.25f, .causal = v != 3, .q_offset = (int)(Nk - Nq), .window = v == 3 ? 17 : 0 };
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 64 << 20 });
    struct tl_tensor *q = param(ctx, TL_F32, D, Nq, Hq, 1, -1, 1), *k = param(ctx, TL_F32, D, Nk, Hkv, 1, -1, 1);
    struct tl_tensor *vv = param(ctx, TL_F32, D, Nk, Hkv, 1, -1, 1), *sq = NULL, *sk = NULL;
    if (v == 2) {   // three packed sequences
        sq = ints(ctx, Nq, 0, 0);
        for (int i = 0; i < Nq; i++) ((int32_t *)sq->data)[i] = i < 20 ? 0 : i < 51 ? 1 : 2;
        sk = sq;
    }
    struct tl_tensor *mask = tl_new_tensor_2d(ctx, TL_F32, Nk, Nq);
    for (int64_t i = 0; i < Nq; i++)
        for (int64_t j = 0; j < Nk; j++)
            ((float *)mask->data)[i * Nk + j] =
                tl_attn_visible(&p, sq ? sq->data : NULL, sk ? sk->data : NULL, i, j) ? 0 : -INFINITY;
    struct tl_tensor *r = input(ctx, D, Hq, Nq, 1);
    // naive: scores [Nk, Nq, Hq] (k's heads broadcast over the group), P, then P v
    struct tl_tensor *probs = tl_soft_max(ctx, tl_mul_mat(ctx, k, q), mask, p.scale);
    struct tl_tensor *vt = tl_cont(ctx, tl_permute(ctx, vv, 1, 0, 2, 3));   // [Nk, D, Hkv]
    struct tl_tensor *naive = tl_cont(ctx, tl_permute(ctx, tl_mul_mat(ctx, vt, probs), 0, 2, 1, 3));
    struct tl_tensor *fused = tl_flash_attn(ctx, q, k, vv, sq, sk, p);
    struct tl_tensor *outs[2] = { naive, fused };
    float *grads[2][3];
    struct tl_tensor *ps[3] = { q, k, vv };
    bool ok = true;
    for (int o = 0; o < 2 && ok; o++) {
        struct tl_tensor *loss = tl_mul_mat(ctx, tl_reshape_2d(ctx, r, D * Hq * Nq, 1),
                                            tl_reshape_2d(ctx, outs[o], D * Hq * Nq, 1));
        struct tl_tensor *seed = tl_new_tensor_2d(ctx, TL_F32, 1, 1);
        *(float *)seed->data = 1;
        struct tl_graph *gf = tl_graph_new(ctx, 256), *gb = tl_graph_new(ctx, 1024);
        ok = tl_graph_build(gf, loss) && tl_build_backward(ctx, gf, loss, seed, gb);
        if (!ok) break;
        tl_cpu_set_isa(isa);
        tl_cpu_compute(gb, 2);
        for (int i = 0; i < 3; i++) {
            grads[o][i] = malloc(tl_nelements(ps[i]) * sizeof(float));
            memcpy(grads[o][i], ps[i]->grad->data, tl_nelements(ps[i]) * sizeof(float));
        }
    }
    if (!ok) {
        check(0, "attention vs naive v%d: %s", v, tl_error(ctx));
        tl_free(ctx);
        return;
    }
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        double scale = 1e-3, max_abs;
        for (int64_t j = 0; j < tl_nelements(ps[i]); j++) scale = fmax(scale, fabs(grads[0][i][j]));
        compare(grads[1][i], grads[0][i], tl_nelements(ps[i]), 0, 0, &max_abs);
        worst = fmax(worst, max_abs / scale);
        free(grads[0][i]);
        free(grads[1][i]);
    }
    check(worst <= 1e-4, "flash_attn gradients vs naive attention v%d %s (Nq %lld, Nk %lld, Hq %lld, Hkv %lld): %.2e",
          v, tl_cpu_isa_name(isa), (long long)Nq, (long long)Nk, (long long)Hq, (long long)Hkv, worst);
    tl_free(ctx);
}

// The memory of a decoder layer's forward + backward graph, as the allocator plans it,
// must grow linearly with the tokens: at 4x the tokens the peak is at most 4.2x, and no
// tensor has N x N elements (the fused attention and its backward recompute scores).
static void check_backward_memory(void) {
    int64_t sizes[2] = { 2048, 8192 };
    size_t peak[2];
    int64_t biggest[2];
    bool ok = true;
    for (int s = 0; s < 2 && ok; s++) {
        int64_t N = sizes[s];
        struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 8 << 20, .no_alloc = true });
        struct tl_tensor *y = decoder_layer(ctx, N, 64, 16, 4, 2, 160);
        struct tl_tensor *r = tl_new_tensor_2d(ctx, TL_F32, 64 * N, 1);
        struct tl_tensor *loss = tl_mul_mat(ctx, r, tl_reshape_2d(ctx, y, 64 * N, 1));
        struct tl_tensor *seed = tl_new_tensor_2d(ctx, TL_F32, 1, 1);
        struct tl_graph *gf = tl_graph_new(ctx, 256), *gb = tl_graph_new(ctx, 1024);
        ok = tl_graph_build(gf, loss) && tl_build_backward(ctx, gf, loss, seed, gb);
        struct tl_gallocr *ga = tl_gallocr_new();
        ok = ok && tl_gallocr_alloc_graph(ga, gb);
        peak[s] = tl_gallocr_peak_bytes(ga);
        biggest[s] = 0;
        for (int i = 0; i < gb->n_nodes; i++) biggest[s] = TL_MAX(biggest[s], tl_nelements(gb->nodes[i]));
        tl_gallocr_free(ga);
        if (!ok) check(0, "backward memory at N = %lld: %s", (long long)N, tl_error(ctx));
        tl_free(ctx);
    }
    if (!ok) return;
    double ratio = (double)peak[1] / peak[0];
    check(ratio <= 4.2 && biggest[1] < sizes[1] * sizes[1] / 16,
          "decoder layer forward+backward: peak %.1f MiB at %lld tokens, %.1f MiB at %lld (x%.2f for x4 tokens, "
          "%.0f bytes/token); largest tensor %lld elements",
          peak[0] / 1048576.0, (long long)sizes[0], peak[1] / 1048576.0, (long long)sizes[1], ratio,
          (double)peak[1] / sizes[1], (long long)biggest[1]);
}

// What the backward refuses, with a message: a loss without params, a wrong seed, a
// gradient into block-format weights.
static void check_errors(void) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 4 << 20 });
    struct tl_tensor *x = input(ctx, 32, 2, 1, 1), *w = tl_new_tensor_2d(ctx, TL_Q8_0, 32, 3);
    struct tl_tensor *seed = tl_new_tensor_1d(ctx, TL_F32, 1);
    struct tl_tensor *loss = tl_mul_mat(ctx, tl_new_tensor_2d(ctx, TL_F32, 6, 1),
                                        tl_reshape_2d(ctx, tl_mul_mat(ctx, w, x), 6, 1));
    struct tl_graph *gf = tl_graph_new(ctx, 64), *gb = tl_graph_new(ctx, 256);
    tl_graph_build(gf, loss);
    struct { bool ok; const char *want; } got[3];
    got[0].ok = tl_build_backward(ctx, gf, loss, tl_reshape_2d(ctx, seed, 1, 1), gb);
    got[0].want = "does not depend on any param";
    const char *e0 = tl_error(ctx) ? strdup(tl_error(ctx)) : NULL;
    tl_clear_error(ctx);
    tl_set_param(x);
    got[1].ok = tl_build_backward(ctx, gf, loss, tl_new_tensor_1d(ctx, TL_F32, 2), gb);
    got[1].want = "seed must be f32 of the loss's shape";
    const char *e1 = tl_error(ctx) ? strdup(tl_error(ctx)) : NULL;
    tl_clear_error(ctx);
    got[2].ok = tl_build_backward(ctx, gf, loss, tl_reshape_2d(ctx, seed, 1, 1), gb);
    got[2].want = "block-format weights";
    const char *e2 = tl_error(ctx);
    const char *msgs[3] = { e0, e1, e2 };
    for (int i = 0; i < 3; i++)
        check(!got[i].ok && msgs[i] && strstr(msgs[i], got[i].want), "refused: %s", msgs[i] ? msgs[i] : "(no message)");
    free((void *)e0);
    free((void *)e1);
    tl_free(ctx);
}

int main(int argc, char **argv) {
    enum tl_cpu_isa isas[TL_ISA_COUNT];
    int n_isa = test_isas(argc, argv, isas);
    for (int i = 0; i < n_isa; i++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int v = 0; v < cases[c].n_variants; v++) run_case(&cases[c], v, isas[i]);
    for (int i = 0; i < n_isa; i++)
        for (int v = 0; v < 4; v++) check_attn_vs_naive(v, isas[i]);
    check_backward_memory();
    check_errors();
    return test_summary("test-grad");
}
