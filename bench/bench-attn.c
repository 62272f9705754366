// Attention benchmark: the fused chunked op at the text model's shape (head 128, GQA 7:1,
// f16 KV cache, causal, queries at the end of the context) for KV lengths 4K/32K/128K with
// 1 and 512 queries, and at the vision tower's shape (head 80, 16 heads, 64-token windows
// and full attention over 2.5K tokens). Memory: the graph's planned bytes and the kernel's
// fixed scratch; nothing grows with N^2. Then training's attention: f32, causal over the
// whole sequence, the forward and the backward timed apart, at the shapes of the tiny and
// small presets (what bench-train.sh trains) and of the 7B's text model.
#include "bench.h"
#include "tl-cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct attn_shape {
    const char *name;
    int64_t D, Hq, Hkv, Nq, Nk;
    bool causal, f16;
    int seg;   // >0: segments of this length (ViT windows)
};

static void run_shape(const struct attn_shape *s, const struct bench_opts *o, double ref_gflops) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 1 << 20, .no_alloc = true });
    enum tl_type kvt = s->f16 ? TL_F16 : TL_F32;
    struct tl_tensor *q = tl_new_tensor_3d(ctx, TL_F32, s->D, s->Nq, s->Hq);
    struct tl_tensor *k = tl_new_tensor_3d(ctx, kvt, s->D, s->Nk, s->Hkv);
    struct tl_tensor *v = tl_new_tensor_3d(ctx, kvt, s->D, s->Nk, s->Hkv);
    struct tl_tensor *sq = NULL, *sk = NULL;
    if (s->seg) {
        sq = tl_new_tensor_1d(ctx, TL_I32, s->Nq);
        sk = tl_new_tensor_1d(ctx, TL_I32, s->Nk);
    }
    struct tl_tensor *out = tl_flash_attn(ctx, q, k, v, sq, sk,
        (struct tl_attn_params){ .scale = 0.088f, .causal = s->causal, .q_offset = (int32_t)(s->Nk - s->Nq) });
    struct tl_graph *g = tl_graph_new(ctx, 16);
    tl_graph_build(g, out);
    struct tl_gallocr *a = tl_gallocr_new();
    if (!tl_gallocr_alloc_graph(a, g)) {
        printf("| %s | out of memory |\n", s->name);
        tl_free(ctx);
        return;
    }
    memset(q->data, 0, tl_nbytes(q));
    memset(k->data, 0x2a, tl_nbytes(k));   // small finite halves
    memset(v->data, 0x2a, tl_nbytes(v));
    if (s->seg) {
        for (int64_t i = 0; i < s->Nq; i++) ((int32_t *)sq->data)[i] = (int32_t)(i / s->seg);
        for (int64_t j = 0; j < s->Nk; j++) ((int32_t *)sk->data)[j] = (int32_t)(j / s->seg);
    }
    // visible (query, key) pairs, for the FLOP count 4 * D per pair per head
    double pairs = 0;
    for (int64_t i = 0; i < s->Nq; i++) {
        if (s->seg) pairs += s->seg;
        else pairs += s->causal ? (double)(s->Nk - s->Nq + i + 1) : (double)s->Nk;
    }
    double flops = 4.0 * s->D * s->Hq * pairs;
    double t = bench_graph_seconds(g, o, 2);
    double gf = flops / t / 1e9;
    size_t kv_bytes = tl_nbytes(k) + tl_nbytes(v);
    printf("| %s | %lld | %lld | %.2f ms | %.1f | %.2fx | %.1f MiB | %.0f | %.0f |\n", s->name, (long long)s->Nq,
           (long long)s->Nk, t * 1e3, gf, ref_gflops > 0 ? gf / ref_gflops : 0, tl_gallocr_peak_bytes(a) / 1048576.0,
           (double)tl_gallocr_peak_bytes(a) / s->Nk, (double)kv_bytes / s->Nk);
    tl_gallocr_free(a);
    tl_free(ctx);
}

// A leaf of the training graphs with its own random data (the graph allocator plans only
// what has none); *keep collects the buffers to free.
static struct tl_tensor *filled_leaf(struct tl_context *ctx, int64_t D, int64_t H, int64_t N, void **keep) {
    struct tl_tensor *t = tl_new_tensor_3d(ctx, TL_F32, D, H, N);
    float *x = malloc(tl_nbytes(t));
    if (!x) return NULL;
    for (int64_t i = 0; i < D * H * N; i++) x[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
    t->data = *keep = x;
    return t;
}

// The graph of one node (and its views): its fastest run in seconds, 0 when it cannot be
// built or allocated.
static double node_seconds(struct tl_context *ctx, struct tl_tensor *node, const struct bench_opts *o) {
    struct tl_graph *g = tl_graph_new(ctx, 16);
    struct tl_gallocr *a = tl_gallocr_new();
    double t = tl_graph_build(g, node) && tl_gallocr_alloc_graph(a, g) ? bench_graph_seconds(g, o, 2) : 0;
    tl_gallocr_free(a);
    return t;
}

// q, k, v are views of [D, heads, N] projections, as the trainer makes them; the backward
// reads the forward's output as an input of its own.
static void run_training_shape(const char *name, int64_t D, int64_t Hq, int64_t Hkv, int64_t N,
                               const struct bench_opts *o, double ref_gflops) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 1 << 20, .no_alloc = true });
    void *keep[5] = { 0 };
    struct tl_tensor *q = filled_leaf(ctx, D, Hq, N, &keep[0]), *k = filled_leaf(ctx, D, Hkv, N, &keep[1]);
    struct tl_tensor *v = filled_leaf(ctx, D, Hkv, N, &keep[2]), *out = filled_leaf(ctx, D, Hq, N, &keep[3]);
    struct tl_tensor *dout = filled_leaf(ctx, D, Hq, N, &keep[4]);
    if (q && k && v && out && dout) {
        struct tl_attn_params p = { .scale = 1.0f / sqrtf((float)D), .causal = true };
        struct tl_tensor *qv = tl_permute(ctx, q, 0, 2, 1, 3), *kv = tl_permute(ctx, k, 0, 2, 1, 3);
        struct tl_tensor *vv = tl_permute(ctx, v, 0, 2, 1, 3);
        double tf = node_seconds(ctx, tl_flash_attn(ctx, qv, kv, vv, NULL, NULL, p), o);
        double tb = node_seconds(ctx, tl_flash_attn_back(ctx, qv, kv, vv, NULL, NULL, out, dout, p), o);
        // useful FLOPs per visible (query, key) pair and query head: the forward's two
        // products (S, PV) 4 D, the backward's five (S, dP, dV, dK, dQ) 10 D
        double pairs = (double)N * (N + 1) / 2 * Hq, gf = 4 * D * pairs / tf / 1e9, gb = 10 * D * pairs / tb / 1e9;
        if (tf > 0 && tb > 0)
            printf("| %s | %lld | %.1f ms | %.1f | %.2fx | %.1f ms | %.1f | %.2fx | %.2f |\n", name, (long long)N, tf * 1e3,
                   gf, gf / ref_gflops, tb * 1e3, gb, gb / ref_gflops, tb / tf);
        else
            printf("| %s | %lld | not run: the graph could not be built or allocated |\n", name, (long long)N);
    }
    for (int i = 0; i < 5; i++) free(keep[i]);
    tl_free(ctx);
}

void bench_attention(const struct bench_opts *o) {
    double ref = bench_gemm_gflops(TL_F32, 2048, 512, 2048, o);   // the compute reference
    printf("## fused attention (f16 KV for text; reference: our f32 GEMM 2048x512x2048 = %.1f GFLOP/s)\n\n", ref);
    printf("| shape | queries | keys | time | GFLOP/s | vs GEMM | graph bytes | graph bytes/key | KV bytes/key |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    int64_t kv_full[] = { 4096, 32768, 131072 }, kv_quick[] = { 1024, 4096 };
    int64_t *kvs = o->quick ? kv_quick : kv_full;
    int n_kv = o->quick ? 2 : 3;
    for (int i = 0; i < n_kv; i++)
        for (int nq = 0; nq < 2; nq++) {
            struct attn_shape s = { "text h128 GQA 28:4 causal", 128, 28, 4, nq ? 512 : 1, kvs[i], true, true, 0 };
            run_shape(&s, o, ref);
        }
    int64_t nv = o->quick ? 640 : 2560;
    struct attn_shape win = { "vit h80 x16, 64-token windows", 80, 16, 16, nv, nv, false, false, 64 };
    struct attn_shape full = { "vit h80 x16, full", 80, 16, 16, nv, nv, false, false, 0 };
    run_shape(&win, o, ref);
    run_shape(&full, o, ref);
    printf("\nkernel scratch per thread: (8*(2*rows*D + 2*rows) + rows*64 + 2*64*D) floats, rows <= 64 (+GQA group), "
           "8 blocks of rows a task at most: independent of N\n\n");

    printf("## training's attention (f32 q/k/v, causal; GFLOP/s of the useful products: forward 2, backward 5)\n\n");
    printf("| shape | tokens | forward | GFLOP/s | vs GEMM | backward | GFLOP/s | vs GEMM | backward / forward |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    int64_t n = o->quick ? 1024 : 4096;
    run_training_shape("tiny h16 GQA 4:2", 16, 4, 2, n, o, ref);
    run_training_shape("small h32 GQA 8:2", 32, 8, 2, n, o, ref);
    run_training_shape("text 7B h128 GQA 28:4", 128, 28, 4, n, o, ref);
    printf("\n");
}
