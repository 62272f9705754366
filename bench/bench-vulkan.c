// Vulkan benchmark: on the chosen device (LONGVL_VK_DEVICE), mul_mat GEMV with weights
// cycled past the caches as weight bytes/s against the device's measured read bandwidth
// (a streaming shader) and copy bandwidth (vkCmdCopyBuffer, bytes read + written), GEMM
// and prefill attention as FLOP/s against its measured FMA peak, and decode attention as
// KV-cache bytes/s against the read bandwidth; the training ops (attention
// backward, vocabulary loss) as FLOP/s against the peak. On lavapipe (a CPU driver)
// the sizes are the --quick ones and the tables say so.
#include "bench.h"
#include "tl-cpu.h"
#include "tl-vulkan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vk_bench {
    struct tl_vk_backend *vk;
    struct tl_vk_limits   lim;
    const struct bench_opts *o;
};

// A compute's time: the device's in its dispatches (timestamps, tl_vk_stats) and the
// host's wall time around tl_vk_compute (with the uploads of inputs and the download of
// the output, and the submit's latency). The rates below are of the device time.
struct timing { double device, wall; };

// Fastest of repeated computes of g after a first one (which uploads the weights), each
// time on its own; {-1, -1} when the device fails (said on stdout).
static struct timing graph_seconds(struct vk_bench *b, struct tl_graph *g) {
    struct tl_vk_mirror *m = tl_vk_mirror_new(b->vk);
    struct timing best = { 1e30, 1e30 };
    struct tl_vk_stats st;
    char err[256] = "";
    bool ok = tl_vk_compute(m, g, b->o->threads, &st, err, sizeof err);
    double start = bench_now();
    for (int i = 0; ok && (i < 3 || bench_now() - start < b->o->min_seconds); i++) {
        double t0 = bench_now();
        ok = tl_vk_compute(m, g, b->o->threads, &st, err, sizeof err);
        double wall = bench_now() - t0;
        double device = st.device_seconds > 0 ? st.device_seconds : wall;   // (a queue without timestamps)
        if (wall < best.wall) best.wall = wall;
        if (device < best.device) best.device = device;
    }
    if (!ok) {
        printf("(vulkan: %s)\n", err);
        best.device = best.wall = -1;
    }
    tl_vk_mirror_free(m);
    return best;
}

static void fill_weights(struct tl_tensor *t) {
    if (t->type == TL_F16 || tl_type_traits(t->type)->is_quantized) memset(t->data, 0x11, tl_nbytes(t));   // small normals
    else for (int64_t i = 0; i < tl_nelements(t); i++) ((float *)t->data)[i] = 1e-3f * (float)(i % 13);
}

// n_mat distinct M x K matrices times one token each, all in one graph (one submit).
static void gemv_row(struct vk_bench *b, enum tl_type type, int M, int K, size_t cycle_bytes) {
    size_t wbytes = tl_row_size(type, K) * (size_t)M;
    int n_mat = (int)((cycle_bytes + wbytes - 1) / wbytes);
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)n_mat * (wbytes + (size_t)M * 4 + 4096) + ((size_t)K * 4) + (1 << 20) });
    struct tl_tensor *x = tl_new_tensor_2d(ctx, TL_F32, K, 1);
    tl_set_input(x);
    for (int64_t i = 0; i < K; i++) ((float *)x->data)[i] = 1e-2f * (float)(i % 7);
    struct tl_graph *g = tl_graph_new(ctx, 4 * n_mat + 8);
    for (int i = 0; i < n_mat; i++) {
        struct tl_tensor *w = tl_new_tensor_2d(ctx, type, K, M);
        fill_weights(w);
        tl_graph_build(g, tl_mul_mat(ctx, w, x));
    }
    struct timing s = graph_seconds(b, g);
    double bps = s.device > 0 ? (double)wbytes * n_mat / s.device : 0;
    printf("| %dx%d | %s | %d | %.1f | %.1f | %.2fx | %.2fx |\n", M, K, tl_type_name(type), n_mat, s.device * 1e6 / n_mat,
           bps / 1e9, bps / b->lim.read_bytes_per_s, bps / b->lim.copy_bytes_per_s);
    tl_free(ctx);
}

static void gemm_row(struct vk_bench *b, enum tl_type type, int M, int N, int K) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = tl_row_size(type, K) * (size_t)M + (size_t)N * (K + M) * 4 + (1 << 20) });
    struct tl_tensor *w = tl_new_tensor_2d(ctx, type, K, M), *x = tl_new_tensor_2d(ctx, TL_F32, K, N);
    fill_weights(w);
    fill_weights(x);
    tl_set_input(x);
    struct tl_graph *g = tl_graph_new(ctx, 8);
    tl_graph_build(g, tl_mul_mat(ctx, w, x));
    struct timing s = graph_seconds(b, g);
    double fl = s.device > 0 ? 2.0 * M * N * K / s.device : 0;
    bool tensor = tl_vk_rounds_to_f16(b->vk, g->nodes[g->n_nodes - 1]);
    char vs_tensor[32] = "-";
    if (tensor) snprintf(vs_tensor, sizeof vs_tensor, "%.3fx", fl / b->lim.tensor_flops_per_s);
    printf("| %dx%dx%d | %s | %s | %.3f | %.3f | %.1f | %.3fx | %s |\n", M, K, N, tl_type_name(type),
           tensor ? "tensor cores" : "f32 tiles", s.device * 1e3, s.wall * 1e3, fl / 1e9, fl / b->lim.fma_flops_per_s, vs_tensor);
    tl_free(ctx);
}

// The text model's attention: head 128, 28 query and 4 KV heads, f16 cache, causal,
// queries at the end of the context.
static void attn_row(struct vk_bench *b, int64_t Nq, int64_t Nk) {
    const int64_t D = 128, Hq = 28, Hkv = 4;
    size_t kv = (size_t)D * Nk * Hkv * 2;
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 2 * kv + (size_t)D * Nq * Hq * 8 + (1 << 20) });
    struct tl_tensor *q = tl_new_tensor_3d(ctx, TL_F32, D, Nq, Hq);
    struct tl_tensor *k = tl_new_tensor_3d(ctx, TL_F16, D, Nk, Hkv), *v = tl_new_tensor_3d(ctx, TL_F16, D, Nk, Hkv);
    fill_weights(q);
    fill_weights(k);
    fill_weights(v);
    tl_set_input(q);
    struct tl_tensor *o = tl_flash_attn(ctx, q, k, v, NULL, NULL,
                                        (struct tl_attn_params){ .scale = 0.088f, .causal = true, .q_offset = (int32_t)(Nk - Nq) });
    struct tl_graph *g = tl_graph_new(ctx, 8);
    tl_graph_build(g, o);
    struct timing s = graph_seconds(b, g);
    // visible (query, key) pairs under the causal mask, 4 D flops each (scores and values)
    double pairs = (double)Nq * (Nk - Nq) + (double)Nq * (Nq + 1) / 2;
    double fl = s.device > 0 ? 4.0 * D * Hq * pairs / s.device : 0, bps = s.device > 0 ? 2.0 * kv / s.device : 0;
    printf("| %lld | %lld | %.3f | %.3f | %.1f | %.2fx | %.1f | %.3fx |\n", (long long)Nq, (long long)Nk, s.device * 1e3,
           s.wall * 1e3, bps / 1e9, bps / b->lim.read_bytes_per_s, fl / 1e9, fl / b->lim.fma_flops_per_s);
    tl_free(ctx);
}

// Training: the attention backward over n tokens of causal self-attention (head 128,
// 28/4 heads, f32), counted as 2.5x the forward's 4 D FLOPs per visible pair (the
// device recomputes more: 16 D), and the chunked vocabulary loss with its backward over
// n tokens (H x V bf16 weights, chunks of 64 tokens as the trainer's), 6 H V n FLOPs.
static void attn_back_row(struct vk_bench *b, int64_t n) {
    const int64_t D = 128, Hq = 28, Hkv = 4;
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)D * n * (Hq * 6 + Hkv * 6) * 4 + (1 << 20) });
    struct tl_tensor *q = tl_new_tensor_3d(ctx, TL_F32, D, n, Hq);
    struct tl_tensor *k = tl_new_tensor_3d(ctx, TL_F32, D, n, Hkv), *v = tl_new_tensor_3d(ctx, TL_F32, D, n, Hkv);
    struct tl_tensor *out = tl_new_tensor_3d(ctx, TL_F32, D, Hq, n), *dout = tl_new_tensor_3d(ctx, TL_F32, D, Hq, n);
    struct tl_tensor *all[] = { q, k, v, out, dout };
    for (int i = 0; i < 5; i++) {
        fill_weights(all[i]);
        tl_set_input(all[i]);
    }
    struct tl_attn_params p = { .scale = 0.088f, .causal = true };
    struct tl_graph *g = tl_graph_new(ctx, 8);
    tl_graph_build(g, tl_flash_attn_back(ctx, q, k, v, NULL, NULL, out, dout, p));
    struct timing s = graph_seconds(b, g);
    double fl = s.device > 0 ? 10.0 * D * Hq * ((double)n * (n + 1) / 2) / s.device : 0;
    printf("| attention backward | %lld tokens | %.1f | %.1f | %.1f | %.3fx |\n", (long long)n, s.device * 1e3, s.wall * 1e3,
           fl / 1e9, fl / b->lim.fma_flops_per_s);
    tl_free(ctx);
}

static void lm_loss_row(struct vk_bench *b, int64_t H, int64_t V, int64_t n) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)H * V * 6 + (size_t)H * n * 8 + (1 << 20) });
    struct tl_tensor *w = tl_new_tensor_2d(ctx, TL_BF16, H, V), *h = tl_new_tensor_2d(ctx, TL_F32, H, n);
    struct tl_tensor *tg = tl_new_tensor_1d(ctx, TL_I32, n), *dloss = tl_new_tensor_1d(ctx, TL_F32, 1);
    memset(w->data, 0x3c, tl_nbytes(w));   // 0.0115 in bf16
    fill_weights(h);
    for (int64_t i = 0; i < n; i++) ((int32_t *)tg->data)[i] = (int32_t)((i * 7919) % V);
    *(float *)dloss->data = 1.0f / (float)n;
    tl_set_input(h);
    struct tl_graph *g = tl_graph_new(ctx, 8);
    tl_graph_build(g, tl_lm_loss_back(ctx, w, h, tg, dloss, 64, true));
    struct timing s = graph_seconds(b, g);
    double fl = s.device > 0 ? 6.0 * H * V * n / s.device : 0;
    printf("| vocabulary loss + backward (H %lld, V %lld) | %lld tokens | %.1f | %.1f | %.1f | %.3fx |\n", (long long)H,
           (long long)V, (long long)n, s.device * 1e3, s.wall * 1e3, fl / 1e9, fl / b->lim.fma_flops_per_s);
    tl_free(ctx);
}

void bench_vulkan(const struct bench_opts *o) {
    char err[256] = "";
    struct vk_bench b = { .o = o };
    b.vk = tl_vk_backend_new(-1, err, sizeof err);
    if (!b.vk) {
        printf("## Vulkan\n\nskipped: no Vulkan device (%s)\n\n", err);
        return;
    }
    const struct tl_vk_device_info *info = tl_vk_backend_info(b.vk);
    bool lavapipe = !strcmp(info->type, "cpu");
    bool small = o->quick || lavapipe;
    if (!tl_vk_measure_limits(b.vk, small ? (32u << 20) : (128u << 20), &b.lim, err, sizeof err)) {
        printf("## Vulkan\n\nmeasuring the device failed: %s\n\n", err);
        tl_vk_backend_free(b.vk);
        return;
    }
    printf("## Vulkan on %s (%s%s)\n\n", info->name, info->type,
           lavapipe ? ": Mesa's lavapipe, a CPU implementation, small sizes" : "");
    printf("Device references measured in this run: read bandwidth %.1f GB/s (read.comp), copy bandwidth %.1f GB/s "
           "(vkCmdCopyBuffer, bytes read + written), FMA peak %.1f GFLOP/s (peak.comp)",
           b.lim.read_bytes_per_s / 1e9, b.lim.copy_bytes_per_s / 1e9, b.lim.fma_flops_per_s / 1e9);
    if (info->coopmat)
        printf(", tensor-core peak %.1f GFLOP/s (peak_cm.comp, f16 x f16 + f32)", b.lim.tensor_flops_per_s / 1e9);
    printf(".\n\n");

    static const enum tl_type wtypes[] = { TL_F16, TL_Q8_0, TL_Q4_0, TL_Q4_K, TL_Q6_K };
    size_t cycle = small ? (32u << 20) : (512u << 20);
    printf("### mul_mat GEMV (one token), weights cycled over %zu MiB\n\n", cycle >> 20);
    printf("Rates from the device's time (timestamps around the command buffer); \"wall\" columns add the host's\n"
           "part of the call (recording, submit, the input upload and output download).\n\n");
    printf("| shape (M x K) | weights | matrices | device us a matrix | GB/s of weights | vs read bandwidth | vs copy bandwidth |\n"
           "|---|---|---|---|---|---|---|\n");
    int shapes[2][2] = { { 4096, 4096 }, { 18944, 3584 } }, small_shapes[2][2] = { { 1024, 1024 }, { 4736, 1024 } };
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < sizeof wtypes / sizeof wtypes[0]; i++)
            gemv_row(&b, wtypes[i], small ? small_shapes[s][0] : shapes[s][0], small ? small_shapes[s][1] : shapes[s][1], cycle);

    int M = small ? 1024 : 4096, N = small ? 128 : 512;
    printf("\n### mul_mat GEMM (tiled)\n\n| M x K x N | weights | kernel | device ms | wall ms | GFLOP/s | vs FMA peak | vs tensor peak |\n"
           "|---|---|---|---|---|---|---|---|\n");
    gemm_row(&b, TL_F32, M, N, M);   // the trainer's weights
    for (size_t i = 0; i < sizeof wtypes / sizeof wtypes[0]; i++) gemm_row(&b, wtypes[i], M, N, M);

    printf("\n### flash attention (head 128, 28/4 heads, f16 cache, causal)\n\n"
           "| queries | keys | device ms | wall ms | KV GB/s | vs read bandwidth | GFLOP/s | vs FMA peak |\n"
           "|---|---|---|---|---|---|---|---|\n");
    int64_t nk[2] = { small ? 1024 : 4096, small ? 4096 : 32768 };
    for (int i = 0; i < 2; i++) attn_row(&b, 1, nk[i]);
    attn_row(&b, small ? 128 : 512, nk[0]);
    printf("\n### training ops\n\n| op | size | device ms | wall ms | GFLOP/s | vs FMA peak |\n|---|---|---|---|---|---|\n");
    attn_back_row(&b, small ? 256 : 4096);
    lm_loss_row(&b, small ? 512 : 3584, small ? 32768 : 151936, small ? 256 : 2048);
    printf("\n");
    tl_vk_backend_free(b.vk);
}
