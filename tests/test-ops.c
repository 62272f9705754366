// Every op's fast path (per ISA, 2 threads) against its scalar reference kernel, over
// random shapes with odd sizes, broadcasting and non-contiguous views; with `vulkan`, the
// Vulkan backend's result against the same reference, and every case whose op has a
// device kernel must have run on the device.
// Usage: test-ops [scalar|avx2|avx512|vulkan]   (default: every ISA this CPU has)
#include "test-util.h"
#include "tl-vulkan.h"

#define REPS 3

static const int64_t odd_sizes[] = { 1, 2, 3, 7, 16, 17, 31, 33, 64, 67, 100 };
static int64_t odd(void) { return odd_sizes[rng_int(0, sizeof odd_sizes / sizeof odd_sizes[0] - 1)]; }

enum layout { CONTIG, PADDED_ROWS, TRANSPOSED };

// A filled input of the given shape in one of three layouts: contiguous, rows padded (a
// view with a larger row stride), or ne0 strided (a transposed view).
static struct tl_tensor *input(struct tl_context *ctx, enum tl_type type, int64_t n0, int64_t n1,
                               int64_t n2, int64_t n3, enum layout layout) {
    struct tl_tensor *t;
    if (layout == PADDED_ROWS) {
        struct tl_tensor *big = tl_new_tensor_4d(ctx, type, n0 + 5, n1, n2, n3);
        t = tl_view_4d(ctx, big, n0, n1, n2, n3, big->nb[1], big->nb[2], big->nb[3], 0);
    } else if (layout == TRANSPOSED) {
        struct tl_tensor *big = tl_new_tensor_4d(ctx, type, n1, n0, n2, n3);
        t = tl_transpose(ctx, big);
    } else {
        t = tl_new_tensor_4d(ctx, type, n0, n1, n2, n3);
    }
    if (t && type != TL_I32) fill_uniform(t, -1, 1);
    return t;
}

// A contiguous block-format tensor holding uniform values in [lo, hi], quantized.
static struct tl_tensor *quantized_input(struct tl_context *ctx, enum tl_type type, int64_t n0, int64_t n1,
                                         int64_t n2, int64_t n3, float lo, float hi) {
    struct tl_tensor *t = tl_new_tensor_4d(ctx, type, n0, n1, n2, n3);
    int64_t n = tl_nelements(t);
    float *f = malloc(n * sizeof(float));
    for (int64_t i = 0; i < n; i++) f[i] = rng_uniform(lo, hi);
    tl_type_traits(type)->from_float(f, t->data, n);
    free(f);
    return t;
}

// Set by a case whose device kernel computes differently from the CPU reference kernel:
// the output to compare the device against, computed by the reference kernels.
static struct tl_tensor *device_ref;
// Set by a case whose output reads what another node writes in place (a KV-cache write):
// that node, put into the graph first.
static struct tl_tensor *first_node;

static enum layout any_layout(void) { return (enum layout)rng_int(0, 2); }
static enum layout row_layout(void) { return (enum layout)rng_int(0, 1); }

static struct tl_tensor *case_binary(struct tl_context *ctx, int v) {
    static struct tl_tensor *(*ops[])(struct tl_context *, struct tl_tensor *, struct tl_tensor *) = {
        tl_add, tl_sub, tl_mul, tl_div };
    int64_t n0 = odd(), n1 = odd(), n2 = rng_int(1, 3), n3 = rng_int(1, 2);
    struct tl_tensor *a = input(ctx, TL_F32, n0, n1, n2, n3, any_layout());
    int64_t bn[4] = { n0, n1, n2, n3 };
    switch (v / 4) {   // broadcast modes
    case 1: bn[1] = bn[2] = bn[3] = 1; break;             // one row for all
    case 2: bn[0] = 1; break;                             // one value per row
    case 3: bn[0] = bn[1] = bn[2] = bn[3] = 1; break;     // a scalar
    }
    struct tl_tensor *b = input(ctx, TL_F32, bn[0], bn[1], bn[2], bn[3], row_layout());
    if (v % 4 == 3) fill_uniform(b, 0.5f, 2.0f);   // keep division well conditioned
    return ops[v % 4](ctx, a, b);
}

static struct tl_tensor *case_unary(struct tl_context *ctx, int v) {
    int64_t n0 = odd(), n1 = odd(), n2 = rng_int(1, 3);
    struct tl_tensor *a = input(ctx, TL_F32, n0, n1, n2, 1, any_layout());
    fill_uniform(a, -8, 8);
    switch (v) {
    case 0: return tl_scale(ctx, a, 0.37f);
    case 1: return tl_silu(ctx, a);
    case 2: return tl_gelu(ctx, a);
    case 3: return tl_gelu_tanh(ctx, a);
    default: {
        struct tl_tensor *u = input(ctx, TL_F32, n0, n1, n2, 1, any_layout());
        return tl_swiglu(ctx, a, u);
    }
    }
}

static struct tl_tensor *case_norm(struct tl_context *ctx, int v) {
    struct tl_tensor *a = input(ctx, TL_F32, odd() * 3, odd(), rng_int(1, 3), 1, row_layout());
    fill_uniform(a, -3, 5);
    return v ? tl_layer_norm(ctx, a, 1e-5f) : tl_rms_norm(ctx, a, 1e-6f);
}

static struct tl_tensor *case_soft_max(struct tl_context *ctx, int v) {
    int64_t n0 = odd(), n1 = odd();
    struct tl_tensor *a = input(ctx, TL_F32, n0, n1, rng_int(1, 4), 1, row_layout());
    fill_uniform(a, -10, 10);
    struct tl_tensor *mask = NULL;
    if (v) {   // causal-style mask with -inf, one fully masked row
        mask = tl_new_tensor_2d(ctx, TL_F32, n0, n1 + 2);
        for (int64_t i = 0; i < n1 + 2; i++)
            for (int64_t j = 0; j < n0; j++)
                ((float *)mask->data)[i * n0 + j] = (j > i || i == 1) ? -INFINITY : rng_uniform(-1, 1);
    }
    return tl_soft_max(ctx, a, mask, 0.3f);
}

static struct tl_tensor *positions(struct tl_context *ctx, int64_t n_tok, int streams) {
    struct tl_tensor *pos = tl_new_tensor_1d(ctx, TL_I32, n_tok * streams);
    for (int64_t i = 0; i < n_tok * streams; i++) ((int32_t *)pos->data)[i] = (int32_t)rng_int(0, 5000);
    return pos;
}

static struct tl_tensor *case_rope(struct tl_context *ctx, int v) {
    int64_t H = rng_int(1, 5), N = odd();
    struct tl_rope_params p = { .freq_base = 10000.0f };
    int64_t D;
    int streams = 1;
    switch (v) {
    case 0: D = 64; p.mode = TL_ROPE_NEOX; p.n_dims = 64; break;
    case 1: D = 96; p.mode = TL_ROPE_NEOX; p.n_dims = 32; p.freq_scale = 0.25f; break;
    case 2:
        D = 128; p.mode = TL_ROPE_MROPE; p.n_dims = 128; p.freq_base = 1e6f; streams = 4;
        p.sections[0] = 16; p.sections[1] = 24; p.sections[2] = 24;
        break;
    case 3:
        D = 34; p.mode = TL_ROPE_MROPE; p.n_dims = 34; streams = 3; p.attn_factor = 1.2f;
        p.sections[0] = 5; p.sections[1] = 6; p.sections[2] = 6;
        break;
    case 4:   // YaRN on mRoPE as the 7B would run it: factor 4 from 32K (ramp pairs 23-40)
    case 6:   // and its inverse, the backward's rotation
        D = 128; p.mode = TL_ROPE_MROPE; p.n_dims = 128; p.freq_base = 1e6f; streams = 3;
        p.sections[0] = 16; p.sections[1] = 24; p.sections[2] = 24;
        p.yarn_factor = 4; p.yarn_low = 23; p.yarn_high = 40; p.attn_factor = 1.1386294f;
        p.inverse = v == 6;
        break;
    default:
        D = 80; p.mode = TL_ROPE_VISION; p.n_dims = 40; streams = 4;
        p.sections[0] = 20; p.sections[1] = 20;
    }
    struct tl_tensor *a = input(ctx, TL_F32, D, H, N, 1, row_layout());
    return tl_rope(ctx, a, positions(ctx, N, streams), p);
}

static struct tl_tensor *case_mul_mat(struct tl_context *ctx, int v) {
    static const enum tl_type wt[] = { TL_F32, TL_F16, TL_BF16 };
    enum tl_type type = wt[v % 3];
    int64_t K = rng_int(1, 300), M = rng_int(1, 100), N;
    int64_t a2 = 1, a3 = 1, b2 = 1, b3 = 1;
    switch (v / 3) {
    case 0: N = 1; K = rng_int(1, 3000); break;   // GEMV (long rows: several unrolled steps a lane)
    case 1: N = rng_int(2, 3); break;             // tiny batch
    case 2: N = rng_int(4, 40); break;            // GEMM
    case 3: N = rng_int(1, 20); a2 = 2; b2 = 4; b3 = 3; break;   // broadcast over 2-3
    case 4: K = rng_int(1, 100); M = rng_int(65, 200); N = rng_int(65, 200); break;   // tiles both ways
    default: K = rng_int(600, 2500); M = rng_int(1, 70); N = rng_int(9, 60); break;   // long K, small output: split
    }
    struct tl_tensor *a = input(ctx, type, K, M, a2, a3, row_layout());
    struct tl_tensor *b = input(ctx, TL_F32, K, N, b2, b3, any_layout());
    return tl_mul_mat(ctx, a, b);
}

// Block-format weights. The CPU kernels quantize the activations to the format's dot
// partner; the device multiplies f32 activations by the dequantized weights, so its
// reference is the f32 product with the dequantized weights.
static struct tl_tensor *case_mul_mat_q(struct tl_context *ctx, int v) {
    static const enum tl_type wt[] = { TL_Q8_0, TL_Q4_0, TL_Q4_K, TL_Q6_K };
    enum tl_type type = wt[v % 4];
    int64_t bs = tl_type_traits(type)->block_size;
    int64_t K = bs * rng_int(1, 768 / bs), M = rng_int(1, 70), N, a2 = 1, b2 = 1;
    switch (v / 4) {
    case 0: N = rng_int(1, 8); K = bs * rng_int(1, 4096 / bs); break;   // GEMV, rows to 4096
    case 1: N = rng_int(9, 40); break;    // GEMM
    case 2: N = rng_int(1, 12); a2 = 2; b2 = 4; break;   // broadcast over dim 2
    case 3: K = bs * rng_int(1, 256 / bs); M = rng_int(65, 200); N = rng_int(65, 200); break;   // tiles both ways
    default: K = bs * rng_int(2400 / bs, 4096 / bs); M = rng_int(1, 70); N = rng_int(9, 60); break;   // K split
    }
    struct tl_tensor *a = quantized_input(ctx, type, K, M, a2, 1, -1, 1);
    struct tl_tensor *b = input(ctx, TL_F32, K, N, b2, 1, any_layout());
    struct tl_tensor *af = tl_new_tensor_4d(ctx, TL_F32, K, M, a2, 1);
    tl_type_traits(type)->to_float(a->data, af->data, K * M * a2);
    device_ref = tl_mul_mat(ctx, af, b);
    return tl_mul_mat(ctx, a, b);
}

static struct tl_tensor *case_get_rows(struct tl_context *ctx, int v) {
    static const enum tl_type types[] = { TL_F32, TL_F16, TL_BF16 };
    int64_t E = odd(), R = odd(), n = odd(), B2 = rng_int(1, 3);
    struct tl_tensor *a = input(ctx, types[v], E, R, B2, 1, row_layout());
    struct tl_tensor *ids = tl_new_tensor_2d(ctx, TL_I32, n, B2);
    for (int64_t i = 0; i < n * B2; i++) ((int32_t *)ids->data)[i] = (int32_t)rng_int(0, R - 1);
    return tl_get_rows(ctx, a, ids);
}

// Blocks of 32 that probe a quantizer's rounding: ties of x / d (Q8_0's d = 1, codes
// k + 1/2 round away from zero), all zeros, a +/- pair of equal largest magnitude (Q4_0
// takes the first), a wide and a tiny scale; the rest stay uniform in [-1, 1].
static void fill_quantizer_probes(float *x, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; b++, x += 32)
        for (int j = 0; j < 32; j++) switch (b % 6) {
            case 1: x[j] = j == 31 ? 127.0f : (j % 2 ? -1.0f : 1.0f) * (4.0f * j + 0.5f); break;
            case 2: x[j] = 0.0f; break;
            case 3: x[j] = j == 5 ? -3.0f : j == 20 ? 3.0f : x[j]; break;
            case 4: x[j] *= 1000.0f; break;
            case 5: x[j] *= 1e-3f; break;
            default: break;
            }
}

// cpy of f32 rows into a Q8_0 / Q4_0 view with padded rows: the write into a block-format
// KV cache. Compared byte for byte (run_case).
static struct tl_tensor *quantizing_cpy(struct tl_context *ctx, enum tl_type type) {
    int64_t n0 = 32 * rng_int(1, 5), n1 = odd(), n2 = rng_int(1, 3);
    struct tl_tensor *src = input(ctx, TL_F32, n0, n1, n2, 1, CONTIG);
    fill_quantizer_probes(src->data, tl_nelements(src) / 32);
    struct tl_tensor *cache = quantized_input(ctx, type, n0 + 64, n1, n2, 1, -1, 1);
    struct tl_tensor *dst = tl_view_4d(ctx, cache, n0, n1, n2, 1, cache->nb[1], cache->nb[2], cache->nb[3],
                                       cache->nb[0] * rng_int(0, 2));
    return tl_cpy(ctx, src, dst);
}

static struct tl_tensor *case_copy(struct tl_context *ctx, int v) {
    int64_t n0 = odd(), n1 = odd(), n2 = rng_int(1, 3);
    switch (v) {
    case 0: return tl_cont(ctx, input(ctx, TL_F32, n0, n1, n2, 1, TRANSPOSED));
    case 1: return tl_cont(ctx, tl_permute(ctx, input(ctx, TL_F32, n0, n1, n2, 1, CONTIG), 0, 2, 1, 3));
    case 2: return tl_cast(ctx, input(ctx, TL_F32, n0, n1, n2, 1, row_layout()), TL_F16);
    case 3: return tl_cast(ctx, input(ctx, TL_F16, n0, n1, n2, 1, row_layout()), TL_F32);
    case 4: return tl_cast(ctx, input(ctx, TL_F32, n0, n1, n2, 1, row_layout()), TL_BF16);
    case 5: return tl_cast(ctx, input(ctx, TL_BF16, n0, n1, n2, 1, any_layout()), TL_F32);
    case 6: {   // cpy into a row-padded f16 view, as a KV-cache write does
        struct tl_tensor *src = input(ctx, TL_F32, n0, n1, n2, 1, CONTIG);
        struct tl_tensor *dst = input(ctx, TL_F16, n0, n1, n2, 1, PADDED_ROWS);
        return tl_cpy(ctx, src, dst);
    }
    case 7: {   // cpy with a reshape: [n0, n1] into [n0*n1]
        struct tl_tensor *src = input(ctx, TL_F32, n0, n1, 1, 1, CONTIG);
        return tl_cpy(ctx, src, tl_new_tensor_1d(ctx, TL_F32, n0 * n1));
    }
    default: return quantizing_cpy(ctx, v == 8 ? TL_Q8_0 : TL_Q4_0);
    }
}

static struct tl_tensor *case_concat(struct tl_context *ctx, int v) {
    int64_t ne[4] = { odd(), odd(), rng_int(1, 3), rng_int(1, 2) };
    struct tl_tensor *a = input(ctx, TL_F32, ne[0], ne[1], ne[2], ne[3], row_layout());
    ne[v] = rng_int(1, 5);
    struct tl_tensor *b = input(ctx, TL_F32, ne[0], ne[1], ne[2], ne[3], row_layout());
    return tl_concat(ctx, a, b, v);
}

static struct tl_tensor *case_argmax(struct tl_context *ctx, int v) {
    struct tl_tensor *a = input(ctx, TL_F32, odd() * (v + 1) * 7, odd(), rng_int(1, 3), 1, row_layout());
    return tl_argmax(ctx, a);
}

// The gradient ops tl_build_backward makes: the threaded kernels must give the
// reference's bits (they do its arithmetic in its order), so the tolerance is 0.
static struct tl_tensor *case_grad(struct tl_context *ctx, int v) {
    int64_t n0 = odd() + 1, n1 = odd(), n2 = rng_int(1, 3);
    struct tl_tensor *dy = input(ctx, TL_F32, n0, n1, n2, 1, row_layout());
    switch (v) {
    case 0: return tl_sum_to(ctx, dy, (int64_t[4]){ n0, 1, 1, 1 });   // a bias over tokens
    case 1: return tl_sum_to(ctx, dy, (int64_t[4]){ n0, 1, n2, 1 });
    case 2: {   // a view of rows n0 + 3 apart, 7 elements in, of a [n0 + 3, n1 + 2, n2] tensor
        int64_t ne[4] = { n0 + 3, n1 + 2, n2, 1 }, st[4] = { 1, n0 + 3, (n0 + 3) * (n1 + 2), 0 };
        st[3] = st[2] * n2;
        return tl_view_back(ctx, dy, ne, st, 7);
    }
    case 3: {   // repeated ids, one out of the table
        int64_t rows = rng_int(1, 9);
        struct tl_tensor *ids = tl_new_tensor_2d(ctx, TL_I32, n1, n2);
        for (int64_t i = 0; i < n1 * n2; i++) ((int32_t *)ids->data)[i] = (int32_t)rng_int(0, rows);
        return tl_get_rows_back(ctx, dy, ids, rows);
    }
    case 4: case 5: case 6: {
        static const enum tl_op f[] = { TL_OP_SILU, TL_OP_GELU, TL_OP_GELU_TANH };
        return tl_unary_back(ctx, f[v - 4], input(ctx, TL_F32, n0, n1, n2, 1, row_layout()), dy);
    }
    case 7: return tl_rms_norm_back(ctx, input(ctx, TL_F32, n0, n1, n2, 1, row_layout()), dy, 1e-6f);
    case 8: return tl_layer_norm_back(ctx, input(ctx, TL_F32, n0, n1, n2, 1, row_layout()), dy, 1e-5f);
    default: return tl_soft_max_back(ctx, input(ctx, TL_F32, n0, n1, n2, 1, row_layout()), dy, 0.7f);
    }
}

// Attention: q is a permuted view of [D, H, N] as a model's projection gives it.
static struct tl_tensor *case_attn(struct tl_context *ctx, int v) {
    int64_t D = 64, Hkv = rng_int(1, 3), G = 1, Nq = rng_int(1, 90), Nk = rng_int(1, 300);
    enum tl_type kvt = TL_F32;
    struct tl_attn_params p = { 0 };
    bool segs = false;
    switch (v) {
    case 0: G = 7; kvt = TL_F16; D = 128; p.causal = true; Nk = Nq + rng_int(0, 200); p.q_offset = (int32_t)(Nk - Nq); break;
    case 1: break;                                                       // full, f32
    case 2: p.causal = true; p.window = (int32_t)rng_int(1, 40); Nk = Nq; break;
    case 3: segs = true; Nk = Nq; D = 80; G = 2; break;                  // packed segments
    case 4:   // decode over a longer cache: the device splits the keys (129+) and merges the splits
        Nq = 1; G = 7; kvt = TL_F16; D = 128; p.causal = true; Nk = rng_int(129, 1200); p.q_offset = (int32_t)(Nk - 1); break;
    case 6: kvt = TL_Q8_0; D = 32; G = 4; p.causal = true; Nk = Nq + rng_int(0, 100); p.q_offset = (int32_t)(Nk - Nq); break;
    case 7: kvt = TL_Q4_0; D = 128; Nq = 1; G = 7; p.causal = true; p.q_offset = (int32_t)(Nk - 1); break;
    case 8: case 9: kvt = v == 8 ? TL_Q8_0 : TL_Q4_0; D = 32; G = 4; p.causal = true; Nk = Nq + 4; p.q_offset = 4; break;   // cache write
    case 10:   // a group past the device's GQA decode kernel (8): the row kernel, split
        Nq = rng_int(1, 3); G = 9; p.causal = true; Nk = rng_int(129, 600); p.q_offset = (int32_t)(Nk - Nq); break;
    case 11:   // 45 (query, KV head) rows over a long cache: the device's splits span several
               // key tiles, so the online softmax rescales between them
        Nq = 15; Hkv = 3; G = 2; D = 32; p.causal = true; Nk = rng_int(6000, 8000); p.q_offset = (int32_t)(Nk - Nq); break;
    // training's shapes, enough query blocks that a CPU task takes several (sharing each chunk)
    case 12: D = 16; G = 2; p.causal = true; Nq = Nk = rng_int(400, 800); break;
    case 13: D = 32; G = 4; kvt = TL_F16; segs = true; p.causal = true; Nq = Nk = rng_int(400, 800); break;
    default: D = 40; G = 3; p.causal = true; Nk = Nq; break;             // head dim not a vector multiple
    }
    p.scale = 1.0f / sqrtf((float)D);
    struct tl_tensor *qraw = input(ctx, TL_F32, D, Hkv * G, Nq, 1, CONTIG);
    struct tl_tensor *q = tl_permute(ctx, qraw, 0, 2, 1, 3);   // [D, Nq, Hq]
    bool block = tl_type_traits(kvt)->is_quantized;
    struct tl_tensor *kraw = block ? quantized_input(ctx, kvt, D, Hkv, Nk, 1, -1, 1) : input(ctx, kvt, D, Hkv, Nk, 1, CONTIG);
    struct tl_tensor *vraw = block ? quantized_input(ctx, kvt, D, Hkv, Nk, 1, -1, 1) : input(ctx, kvt, D, Hkv, Nk, 1, CONTIG);
    if (v >= 8 && v < 12) {   // the model's cache write: device-computed rows quantized into a cache view
        struct tl_tensor *x = input(ctx, TL_F32, D, Hkv, Nk, 1, CONTIG);
        struct tl_tensor *view = tl_view_4d(ctx, kraw, D, Hkv, Nk - 3, 1, kraw->nb[1], kraw->nb[2], kraw->nb[3], 3 * kraw->nb[2]);
        struct tl_tensor *xs = tl_view_4d(ctx, x, D, Hkv, Nk - 3, 1, x->nb[1], x->nb[2], x->nb[3], 0);
        struct tl_rope_params rp = { .mode = TL_ROPE_MROPE, .n_dims = (int)D, .freq_base = 1e6f, .sections = { 4, 6, 6 } };
        struct tl_tensor *pos = tl_new_tensor_1d(ctx, TL_I32, (Nk - 3) * 4);
        for (int64_t i = 0; i < (Nk - 3) * 4; i++) ((int32_t *)pos->data)[i] = (int32_t)(i % (Nk - 3));
        first_node = tl_cpy(ctx, tl_rope(ctx, tl_cont(ctx, xs), pos, rp), view);
    }
    struct tl_tensor *k = tl_permute(ctx, kraw, 0, 2, 1, 3);
    struct tl_tensor *vv = tl_permute(ctx, vraw, 0, 2, 1, 3);
    fill_uniform(qraw, -2, 2);
    struct tl_tensor *sq = NULL, *sk = NULL;
    if (segs) {   // runs of random length, as ViT windows or packed instances
        sq = tl_new_tensor_1d(ctx, TL_I32, Nq);
        sk = tl_new_tensor_1d(ctx, TL_I32, Nk);
        int32_t seg = 0;
        for (int64_t i = 0; i < Nq; i++) {
            if (rng_int(0, 15) == 0) seg++;
            ((int32_t *)sq->data)[i] = ((int32_t *)sk->data)[i] = seg;
        }
    }
    return tl_flash_attn(ctx, q, k, vv, sq, sk, p);
}

// The fused attention's backward: the packed [dq, dk, dv] of q (a permuted view), k, v,
// the forward's output and a random upstream gradient.
static struct tl_tensor *case_attn_back(struct tl_context *ctx, int v) {
    int64_t D = 64, Hkv = rng_int(1, 2), G = 1, Nq = rng_int(1, 140), Nk = Nq;   // past one 64-row block
    struct tl_attn_params p = { .causal = true };
    bool segs = false;
    switch (v) {
    case 0: G = 4; break;                                                // causal GQA
    case 1: p.causal = false; Nk = rng_int(1, 150); break;               // full
    case 2: p.window = (int32_t)rng_int(1, 20); break;                   // sliding window
    case 3: segs = true; D = 80; G = 2; break;                           // packed segments
    case 4: D = 128; Nk = Nq + rng_int(1, 60); p.q_offset = (int32_t)(Nk - Nq); break;   // after a prefix
    case 5: D = 40; G = 3; break;                                        // head dim not a vector multiple
    // the trainer's tiny and small presets' heads, over several groups of key chunks (256 keys)
    case 6: D = 16; G = 2; Nq = Nk = rng_int(200, 600); break;
    default: D = 32; G = 4; segs = true; Nq = Nk = rng_int(250, 400); break;
    }
    p.scale = 1.0f / sqrtf((float)D);
    struct tl_tensor *q = tl_permute(ctx, input(ctx, TL_F32, D, Hkv * G, Nq, 1, CONTIG), 0, 2, 1, 3);
    struct tl_tensor *k = tl_permute(ctx, input(ctx, TL_F32, D, Hkv, Nk, 1, CONTIG), 0, 2, 1, 3);
    struct tl_tensor *vv = tl_permute(ctx, input(ctx, TL_F32, D, Hkv, Nk, 1, CONTIG), 0, 2, 1, 3);
    struct tl_tensor *sq = NULL, *sk = NULL;
    if (segs) {
        sq = tl_new_tensor_1d(ctx, TL_I32, Nq);
        sk = tl_new_tensor_1d(ctx, TL_I32, Nk);
        int32_t seg = 0;
        for (int64_t i = 0; i < Nq; i++) {
            if (rng_int(0, 9) == 0) seg++;
            ((int32_t *)sq->data)[i] = ((int32_t *)sk->data)[i] = seg;
        }
    }
    struct tl_tensor *out = tl_flash_attn(ctx, q, k, vv, sq, sk, p);
    struct tl_tensor *dout = input(ctx, TL_F32, D, Hkv * G, Nq, 1, CONTIG);
    return tl_flash_attn_back(ctx, q, k, vv, sq, sk, out, dout, p);
}

// The vocabulary loss and its backward over chunks of tokens; some targets outside [0, V).
// Variant 2 takes one token a chunk: over 1024 dispatches, so Vulkan submits inside the node.
static struct tl_tensor *case_lm_loss(struct tl_context *ctx, int v) {
    static const enum tl_type types[] = { TL_F32, TL_BF16, TL_F32, TL_BF16, TL_F16 };
    // V past 512: the device splits K of dh's GEMM
    int64_t H = odd() + 8, V = rng_int(50, 1200), N = v == 2 ? rng_int(260, 300) : rng_int(1, 150);
    struct tl_tensor *w = input(ctx, types[v], H, V, 1, 1, CONTIG);
    struct tl_tensor *h = input(ctx, TL_F32, H, N, 1, 1, CONTIG);
    fill_uniform(h, -2, 2);
    struct tl_tensor *tg = tl_new_tensor_1d(ctx, TL_I32, N);
    for (int64_t i = 0; i < N; i++) ((int32_t *)tg->data)[i] = (int32_t)(rng_int(0, 19) == 0 ? V : rng_int(-1, V - 1));
    int chunk = v == 2 ? 1 : (int)rng_int(1, 70);
    if (v < 2) return tl_lm_loss(ctx, w, h, tg, chunk);
    struct tl_tensor *dloss = tl_new_tensor_1d(ctx, TL_F32, 1);
    *(float *)dloss->data = 0.7f;
    return tl_lm_loss_back(ctx, w, h, tg, dloss, chunk, v != 3);
}

struct op_case {
    const char *name;
    struct tl_tensor *(*build)(struct tl_context *ctx, int variant);
    int    n_variants;
    double atol, rtol;         // |fast - ref| <= atol + rtol * |ref|
    double vk_atol, vk_rtol;   // on Vulkan, when it sums in another order or in f32 (0, 0: the same)
};

static const struct op_case cases[] = {
    { "add/sub/mul/div", case_binary,   16, 1e-6, 1e-6, 0, 0 },
    { "scale/silu/gelu/gelu_tanh/swiglu", case_unary, 5, 2e-6, 2e-5, 0, 0 },
    { "rms_norm/layer_norm", case_norm,  2, 1e-5, 1e-5, 0, 0 },
    { "soft_max",        case_soft_max,  2, 1e-6, 1e-5, 0, 0 },
    { "rope neox/mrope/yarn/vision/inverse", case_rope, 7, 1e-5, 1e-5, 0, 0 },
    { "mul_mat f32/f16/bf16", case_mul_mat, 18, 1e-4, 1e-4, 0, 0 },
    { "mul_mat q8_0/q4_0/q4_K/q6_K", case_mul_mat_q, 20, 2e-4, 1e-4, 0, 0 },
    { "get_rows",        case_get_rows,  3, 0, 0, 0, 0 },
    { "cont/cpy/cast (q8_0/q4_0 bytes)", case_copy, 10, 0, 0, 0, 0 },
    { "concat",          case_concat,    4, 0, 0, 0, 0 },
    { "argmax",          case_argmax,    2, 0, 0, 0, 0 },
    { "flash_attn",      case_attn,     14, 1e-5, 1e-4, 0, 0 },
    { "sum_to/view_back/get_rows_back/unary_back/norm backs/soft_max_back", case_grad, 10, 0, 0, 1e-5, 1e-4 },
    { "flash_attn_back", case_attn_back, 8, 2e-5, 2e-4, 0, 0 },
    { "lm_loss/lm_loss_back", case_lm_loss, 5, 2e-5, 2e-4, 0, 0 },
};

static struct tl_vk_backend *vk;   // set: run the fast side on Vulkan
static int n_rounded;              // products checked as the tensor cores compute them

// The fast side on Vulkan: the output's host bytes are poisoned first, so a result that
// never came back from the device cannot pass.
static void compute_vulkan(struct tl_graph *g, struct tl_tensor *out, char *where, size_t wlen) {
    memset(out->data, 0xff, tl_nbytes(out));   // NaN in f32
    struct tl_vk_mirror *m = tl_vk_mirror_new(vk);
    struct tl_vk_stats st;
    char err[256] = "";
    bool ok = tl_vk_compute(m, g, 2, &st, err, sizeof err);
    tl_vk_mirror_free(m);
    int cpu_nodes = 0;   // nodes the device has no kernel for (a quantizing cache write)
    for (int i = 0; i < g->n_nodes; i++)
        cpu_nodes += g->nodes[i]->op != TL_OP_VIEW && !tl_vk_supports(vk, g->nodes[i]);
    snprintf(where, wlen, "vulkan %d dev + %d cpu nodes", st.nodes_device, st.nodes_cpu);
    check(ok, "tl_vk_compute: %s", err);
    if (tl_vk_supports(vk, out))
        check(st.nodes_cpu == cpu_nodes, "%s has a device kernel: only the %d nodes without one ran on the CPU (%d did)",
              tl_op_name(out->op), cpu_nodes, st.nodes_cpu);
}

// The fast side: the Vulkan device when there is one, else the CPU kernels of isa.
static void compute_fast(struct tl_graph *g, struct tl_tensor *out, enum tl_cpu_isa isa, char *where, size_t wlen) {
    if (vk) {
        compute_vulkan(g, out, where, wlen);
        return;
    }
    tl_cpu_set_isa(isa);
    tl_cpu_compute(g, 2);
    snprintf(where, wlen, "%s", tl_cpu_isa_name(isa));
}

// A copy of the rows of a (possibly row-padded) block-format tensor, back to back; *bytes
// (if given) their size.
static uint8_t *block_rows(const struct tl_tensor *t, size_t *bytes) {
    size_t row = tl_row_size(t->type, t->ne[0]), n_rows = (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    if (bytes) *bytes = row * n_rows;
    uint8_t *copy = malloc(row * n_rows);
    for (size_t r = 0; r < n_rows; r++)
        memcpy(copy + r * row, (const uint8_t *)t->data + r % t->ne[1] * t->nb[1] + r / t->ne[1] % t->ne[2] * t->nb[2] +
                                   r / (t->ne[1] * t->ne[2]) * t->nb[3], row);
    return copy;
}

// x as a contiguous f32 tensor of its values rounded to f16
static struct tl_tensor *f16_rounded(struct tl_context *ctx, const struct tl_tensor *x) {
    struct tl_tensor *r = tl_new_tensor_4d(ctx, TL_F32, x->ne[0], x->ne[1], x->ne[2], x->ne[3]);
    for (int64_t i = 0; i < tl_nelements(x); i++) tl_set_f32_1d(r, i, tl_fp16_to_fp32(tl_fp32_to_fp16(tl_get_f32_1d(x, i))));
    return r;
}

static void run_case(const struct op_case *c, int variant, int rep, enum tl_cpu_isa isa) {
    rng_seed(1000003u * (uint64_t)(c - cases) + 1009u * variant + rep);
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 64u << 20 });
    device_ref = first_node = NULL;
    struct tl_tensor *out = c->build(ctx, variant);
    if (out && vk && tl_vk_rounds_to_f16(vk, out)) {   // the tensor cores' product: of the operands rounded to f16
        const struct tl_tensor *base = device_ref ? device_ref : out;
        device_ref = tl_mul_mat(ctx, f16_rounded(ctx, base->src[0]), f16_rounded(ctx, base->src[1]));
        n_rounded++;
    }
    struct tl_graph *g = tl_graph_new(ctx, 256);
    if (!out || (first_node && !tl_graph_build(g, first_node)) || !tl_graph_build(g, out) || (device_ref && !tl_graph_build(g, device_ref))) {
        check(0, "%s v%d: build failed: %s", c->name, variant, tl_error(ctx));
        tl_free(ctx);
        return;
    }
    tl_cpu_compute_reference(g);
    char where[64];
    if (tl_type_traits(out->type)->is_quantized) {   // a block-format output: the reference's bytes
        size_t bytes, differ = 0, bs = tl_type_traits(out->type)->type_size;
        uint8_t *want = block_rows(out, &bytes);
        compute_fast(g, out, isa, where, sizeof where);
        uint8_t *got = block_rows(out, NULL);
        for (size_t b = 0; b < bytes / bs; b++) differ += memcmp(want + b * bs, got + b * bs, bs) != 0;
        char shape[96];
        check(differ == 0, "%-34s %-6s v%d %s: %zu of %zu blocks differ from the reference quantizer's", c->name, where,
              variant, tl_shape_str(out, shape, sizeof shape), differ, bytes / bs);
        free(want);
        free(got);
        tl_free(ctx);
        return;
    }
    int64_t n = tl_nelements(out);
    float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    // (device_ref is what the device computes; a node it cannot take runs the CPU's kernel)
    const struct tl_tensor *ref = vk && device_ref && tl_vk_supports(vk, out) ? device_ref : out;
    for (int64_t i = 0; i < n; i++) want[i] = tl_get_f32_1d(ref, i);
    compute_fast(g, out, isa, where, sizeof where);
    for (int64_t i = 0; i < n; i++) got[i] = tl_get_f32_1d(out, i);
    double max_abs;
    bool vk_tol = vk && (c->vk_atol > 0 || c->vk_rtol > 0);
    double atol = vk_tol ? c->vk_atol : c->atol, rtol = vk_tol ? c->vk_rtol : c->rtol;
    double excess = compare(got, want, n, atol, rtol, &max_abs);
    char shape[96];
    check(excess <= 0, "%-34s %-6s v%d %s: max |fast-ref| %.2e (atol %.0e rtol %.0e)", c->name, where, variant,
          tl_shape_str(out, shape, sizeof shape), max_abs, atol, rtol);
    free(want);
    free(got);
    tl_free(ctx);
}

// The cases (only mul_mat's with mul_mat_only) again on a Vulkan backend made anew with
// env = value (the other variants of its kernels or memory paths).
static void rerun(const char *env, const char *value, bool mul_mat_only, enum tl_cpu_isa isa) {
    tl_vk_backend_free(vk);
    setenv(env, value, 1);
    char err[256] = "";
    vk = tl_vk_backend_new(-1, err, sizeof err);
    unsetenv(env);
    check(vk != NULL, "Vulkan device with %s=%s: %s", env, value, err);
    printf("again with %s=%s:\n", env, value);
    for (size_t c = 0; vk && c < sizeof cases / sizeof cases[0]; c++)
        if (!mul_mat_only || cases[c].build == case_mul_mat || cases[c].build == case_mul_mat_q)
            for (int v = 0; v < cases[c].n_variants; v++)
                for (int rep = 0; rep < REPS; rep++) run_case(&cases[c], v, rep, isa);
}

int main(int argc, char **argv) {
    enum tl_cpu_isa isas[TL_ISA_COUNT];
    int n_isa;
    if (argc > 1 && !strcmp(argv[1], "vulkan")) {
        char err[256] = "";
        vk = tl_vk_backend_new(-1, err, sizeof err);
        if (!vk) {
            printf("skipped: no Vulkan device (%s)\n", err);
            return 77;
        }
        printf("Vulkan device: %s (%s)\n", tl_vk_backend_info(vk)->name, tl_vk_backend_info(vk)->type);
        isas[0] = tl_cpu_get_isa();
        n_isa = 1;
    } else {
        n_isa = test_isas(argc, argv, isas);
    }
    for (int i = 0; i < n_isa; i++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int v = 0; v < cases[c].n_variants; v++)
                for (int rep = 0; rep < REPS; rep++) run_case(&cases[c], v, rep, isas[i]);
    if (vk && tl_vk_backend_info(vk)->subgroup_arith)   // the GEMV path's other variant
        rerun("LONGVL_VK_NO_SUBGROUPS", "1", true, isas[0]);
    if (vk) rerun("LONGVL_VK_GEMM_LARGE_MIN_TILES", "1", true, isas[0]);   // every GEMM in large tiles
    if (vk && tl_vk_backend_info(vk)->coopmat) {   // the f32 tiles, on a device with tensor cores
        printf("%d products ran on the tensor cores\n", n_rounded);
        check(n_rounded > 0, "the tensor-core GEMM ran");
        rerun("LONGVL_VK_NO_COOPMAT", "1", true, isas[0]);
    }
    if (vk) rerun("LONGVL_VK_NO_MAP", "1", false, isas[0]);   // uploads through staging copies, as on a GPU
    // a 16 KiB descriptor range: products (2-D and batched) whose operands pass it run in parts
    if (vk) rerun("LONGVL_VK_MAX_RANGE", "16384", true, isas[0]);
    tl_vk_backend_free(vk);
    return test_summary("test-ops");
}
