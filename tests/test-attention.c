// The fused attention op against naive attention built from ops:
//   S = K^T Q (mul_mat, GQA by broadcast), P = soft_max(S * scale + mask), O = V P
// for causal/GQA text shapes, ViT window segments, sliding windows and decode; and a
// check that the fused graph's memory stays linear in N while the naive one is N^2.
// Usage: test-attention [scalar|avx2|avx512]
#include "test-util.h"

struct attn_case {
    const char *name;
    int64_t D, Hq, Hkv, Nq, Nk;
    bool causal;
    enum tl_type kv;   // F32 (0), F16, Q8_0, Q4_0
    int32_t window, seg_len;   // seg_len > 0: segments of that many tokens
};

static const struct attn_case cases[] = {
    { "text causal GQA 7:1 f16 KV",  128, 7, 1, 64, 300, true, TL_F16, 0, 0 },
    { "text decode 1 query, 2 kv heads", 128, 14, 2, 1, 515, true, TL_F16, 0, 0 },
    { "text causal q8_0 KV",         128, 4, 2, 40, 301, true, TL_Q8_0, 0, 0 },
    { "text decode q4_0 KV",         64, 8, 2, 1, 777, true, TL_Q4_0, 0, 0 },
    { "vit windows (segments of 64)", 80, 16, 16, 256, 256, false, TL_F32, 0, 64 },
    { "vit full attention",          80, 4, 4, 200, 200, false, TL_F32, 0, 0 },
    { "sliding window 32 causal",    64, 4, 2, 150, 150, true, TL_F32, 32, 0 },
};

static int visible(const struct attn_case *c, int64_t i, int64_t j) {
    int64_t qpos = (c->Nk - c->Nq) + i;
    if (c->causal && j > qpos) return 0;
    if (c->window && (qpos - j >= c->window || j - qpos >= c->window)) return 0;
    if (c->seg_len && i / c->seg_len != j / c->seg_len) return 0;
    return 1;
}

static void run(const struct attn_case *c, enum tl_cpu_isa isa) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 256u << 20 });
    const struct tl_type_traits *tt = tl_type_traits(c->kv);
    struct tl_tensor *q = tl_new_tensor_3d(ctx, TL_F32, c->D, c->Nq, c->Hq);
    struct tl_tensor *k = tl_new_tensor_3d(ctx, c->kv, c->D, c->Nk, c->Hkv);
    struct tl_tensor *v = tl_new_tensor_3d(ctx, c->kv, c->D, c->Nk, c->Hkv);
    fill_uniform(q, -2, 2);
    // block formats: f32 rows quantized by GGUF's reference quantizer; the same rows also
    // go through a cpy node below, which must give the same bytes
    struct tl_tensor *kf = NULL, *vf = NULL;
    if (tt->is_quantized) {
        kf = tl_new_tensor_3d(ctx, TL_F32, c->D, c->Nk, c->Hkv);
        vf = tl_new_tensor_3d(ctx, TL_F32, c->D, c->Nk, c->Hkv);
        fill_uniform(kf, -2, 2);
        fill_uniform(vf, -1, 1);
        for (int64_t r = 0; r < c->Nk * c->Hkv; r++) {
            tt->from_float((float *)kf->data + r * c->D, (char *)k->data + r * k->nb[1], c->D);
            tt->from_float((float *)vf->data + r * c->D, (char *)v->data + r * v->nb[1], c->D);
        }
    } else {
        fill_uniform(k, -2, 2);
        fill_uniform(v, -1, 1);
    }
    struct tl_tensor *sq = NULL, *sk = NULL;
    if (c->seg_len) {
        sq = tl_new_tensor_1d(ctx, TL_I32, c->Nq);
        sk = tl_new_tensor_1d(ctx, TL_I32, c->Nk);
        for (int64_t i = 0; i < c->Nq; i++) ((int32_t *)sq->data)[i] = (int32_t)(i / c->seg_len);
        for (int64_t j = 0; j < c->Nk; j++) ((int32_t *)sk->data)[j] = (int32_t)(j / c->seg_len);
    }
    float scale = 1.0f / sqrtf((float)c->D);
    struct tl_tensor *fused = tl_flash_attn(ctx, q, k, v, sq, sk,
        (struct tl_attn_params){ .scale = scale, .causal = c->causal, .q_offset = (int32_t)(c->Nk - c->Nq), .window = c->window });

    // naive: f32 copies of K and V, the full score matrix, an explicit mask
    struct tl_tensor *k32, *v32, *k_cpy = NULL;
    if (tt->is_quantized) {   // dequantized copies
        k32 = tl_new_tensor_3d(ctx, TL_F32, c->D, c->Nk, c->Hkv);
        v32 = tl_new_tensor_3d(ctx, TL_F32, c->D, c->Nk, c->Hkv);
        for (int64_t r = 0; r < c->Nk * c->Hkv; r++) {
            tt->to_float((char *)k->data + r * k->nb[1], (float *)k32->data + r * c->D, c->D);
            tt->to_float((char *)v->data + r * v->nb[1], (float *)v32->data + r * c->D, c->D);
        }
        // quantizing through the graph: kf viewed [D, Hkv, Nk] and permuted back, as the KV cache stores it
        struct tl_tensor *kp = tl_permute(ctx, tl_cont(ctx, tl_permute(ctx, kf, 0, 2, 1, 3)), 0, 2, 1, 3);
        k_cpy = tl_cpy(ctx, kp, tl_new_tensor_3d(ctx, c->kv, c->D, c->Nk, c->Hkv));
    } else {
        k32 = tl_cast(ctx, k, TL_F32);
        v32 = tl_cast(ctx, v, TL_F32);
    }
    struct tl_tensor *mask = tl_new_tensor_2d(ctx, TL_F32, c->Nk, c->Nq);
    for (int64_t i = 0; i < c->Nq; i++)
        for (int64_t j = 0; j < c->Nk; j++)
            ((float *)mask->data)[i * c->Nk + j] = visible(c, i, j) ? 0.0f : -INFINITY;
    struct tl_tensor *s = tl_mul_mat(ctx, k32, q);                        // [Nk, Nq, Hq]
    struct tl_tensor *p = tl_soft_max(ctx, s, mask, scale);
    struct tl_tensor *vt = tl_cont(ctx, tl_transpose(ctx, v32));          // [Nk, D, Hkv]
    struct tl_tensor *o = tl_mul_mat(ctx, vt, p);                         // [D, Nq, Hq]
    struct tl_tensor *naive = tl_cont(ctx, tl_permute(ctx, o, 0, 2, 1, 3)); // [D, Hq, Nq]

    struct tl_graph *g = tl_graph_new(ctx, 64);
    if (!tl_graph_build(g, fused) || !tl_graph_build(g, naive) || (k_cpy && !tl_graph_build(g, k_cpy))) {
        check(0, "%s: build failed: %s", c->name, tl_error(ctx));
        tl_free(ctx);
        return;
    }
    tl_cpu_set_isa(isa);
    tl_cpu_compute(g, 2);
    double max_abs;
    double excess = compare(fused->data, naive->data, tl_nelements(fused), 2e-5, 1e-4, &max_abs);
    check(excess <= 0 && tl_are_same_shape(fused, naive), "%-32s %-6s D=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld: max |fused-naive| %.2e (atol 2e-5 rtol 1e-4)",
          c->name, tl_cpu_isa_name(isa), (long long)c->D, (long long)c->Hq, (long long)c->Hkv,
          (long long)c->Nq, (long long)c->Nk, max_abs);
    if (k_cpy)
        check(!memcmp(k_cpy->data, k->data, tl_nbytes(k)), "%-32s %-6s cpy f32 -> %s through a permuted view: same bytes as the reference quantizer",
              c->name, tl_cpu_isa_name(isa), tt->name);
    tl_free(ctx);
}

// Planned graph memory of fused vs naive attention at N tokens (no compute): the fused
// graph holds q, k, v and the output (linear in N); the naive one an Nq x Nk score matrix.
static size_t planned_bytes(int64_t N, bool fused_op) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 1u << 20, .no_alloc = true });
    struct tl_tensor *q = tl_new_tensor_3d(ctx, TL_F32, 128, N, 7);
    struct tl_tensor *k = tl_new_tensor_3d(ctx, TL_F16, 128, N, 1);
    struct tl_tensor *v = tl_new_tensor_3d(ctx, TL_F16, 128, N, 1);
    struct tl_tensor *out;
    if (fused_op) {
        out = tl_flash_attn(ctx, q, k, v, NULL, NULL, (struct tl_attn_params){ .scale = 0.1f, .causal = true });
    } else {
        struct tl_tensor *s = tl_soft_max(ctx, tl_mul_mat(ctx, tl_cast(ctx, k, TL_F32), q), NULL, 0.1f);
        out = tl_mul_mat(ctx, tl_cont(ctx, tl_transpose(ctx, tl_cast(ctx, v, TL_F32))), s);
    }
    struct tl_graph *g = tl_graph_new(ctx, 64);
    tl_graph_build(g, out);
    // the buffer is allocated but never touched, so even the naive N=4096 plan costs no RAM
    struct tl_gallocr *a = tl_gallocr_new();
    size_t bytes = 0;
    if (N <= 4096 && tl_gallocr_alloc_graph(a, g)) bytes = tl_gallocr_peak_bytes(a);
    tl_gallocr_free(a);
    tl_free(ctx);
    return bytes;
}

int main(int argc, char **argv) {
    enum tl_cpu_isa isas[TL_ISA_COUNT];
    int n_isa = test_isas(argc, argv, isas);
    rng_seed(42);
    for (int i = 0; i < n_isa; i++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run(&cases[c], isas[i]);

    size_t f1 = planned_bytes(1024, true), f4 = planned_bytes(4096, true);
    size_t n1 = planned_bytes(1024, false), n4 = planned_bytes(4096, false);
    // 4x the tokens: linear memory grows ~4x, quadratic ~16x
    check(f4 < 4.5 * f1, "fused attention graph memory linear: N=1024 %zu B, N=4096 %zu B (x%.2f)", f1, f4, (double)f4 / f1);
    check(n4 > 12.0 * n1, "naive attention graph memory quadratic: N=1024 %zu B, N=4096 %zu B (x%.2f)", n1, n4, (double)n4 / n1);
    check(f4 * 10 < n4, "fused uses %.1f%% of naive memory at N=4096", 100.0 * f4 / n4);
    return test_summary("test-attention");
}
