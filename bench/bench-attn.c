// Attention benchmark: the fused chunked op at the text model's shape (head 128, GQA 7:1,
// f16 KV cache, causal, queries at the end of the context) for KV lengths 4K/32K/128K with
// 1 and 512 queries, and at the vision tower's shape (head 80, 16 heads, 64-token windows
// and full attention over 2.5K tokens). Memory: the graph's planned bytes and the kernel's
// fixed scratch; nothing grows with N^2.
#include "bench.h"
#include "tl-cpu.h"

#include <stdio.h>
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
    printf("\nkernel scratch per thread: (2*rows*D + rows*64 + 2*64*D) floats, rows <= 64 (+GQA group): "
           "independent of N\n\n");
}
