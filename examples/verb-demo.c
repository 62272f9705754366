// longvl demo: one Qwen2-style decoder block (RMSNorm, q/k/v projections with biases,
// mRoPE, fused causal GQA attention, output projection, SwiGLU FFN) on random weights,
// computed with the fast kernels and with the reference kernels, and compared.
#include "verbs.h"
#include "tl-cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t seed = 1;
static float rnd(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return ((seed >> 40) / (float)(1 << 24) - 0.5f) * 0.2f;
}

static struct tl_tensor *weight(struct tl_context *ctx, enum tl_type type, int64_t in, int64_t out) {
    struct tl_tensor *w = out > 1 ? tl_new_tensor_2d(ctx, type, in, out) : tl_new_tensor_1d(ctx, type, in);
    for (int64_t i = 0; i < tl_nelements(w); i++) tl_set_f32_1d(w, i, rnd());
    return w;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int verb_demo(int argc, char **argv) {
    int64_t n_tok = 256;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) {
            char *end;
            n_tok = strtoll(argv[++i], &end, 10);
            if (*end || n_tok < 1 || n_tok > 65536) {
                fprintf(stderr, "longvl demo: --tokens takes 1..65536, got '%s'\n", argv[i]);
                return 2;
            }
        } else {
            printf("usage: longvl demo [--tokens N]   (default 256)\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    const int64_t H = 896, heads = 14, kv_heads = 2, D = 64, ffn = 4864;   // Qwen2.5-0.5B shapes
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)1 << 30 });
    if (!ctx) {
        fprintf(stderr, "longvl demo: out of memory\n");
        return 1;
    }
    struct tl_tensor *x = weight(ctx, TL_F32, H, n_tok);
    struct tl_tensor *pos = tl_new_tensor_1d(ctx, TL_I32, 3 * n_tok);
    for (int64_t i = 0; i < 3 * n_tok; i++) ((int32_t *)pos->data)[i] = (int32_t)(i % n_tok);

    struct tl_tensor *n = tl_mul(ctx, tl_rms_norm(ctx, x, 1e-6f), weight(ctx, TL_F32, H, 1));
    struct tl_tensor *q = tl_add(ctx, tl_mul_mat(ctx, weight(ctx, TL_BF16, H, heads * D), n), weight(ctx, TL_F32, heads * D, 1));
    struct tl_tensor *k = tl_add(ctx, tl_mul_mat(ctx, weight(ctx, TL_BF16, H, kv_heads * D), n), weight(ctx, TL_F32, kv_heads * D, 1));
    struct tl_tensor *v = tl_add(ctx, tl_mul_mat(ctx, weight(ctx, TL_BF16, H, kv_heads * D), n), weight(ctx, TL_F32, kv_heads * D, 1));
    struct tl_rope_params rp = { .mode = TL_ROPE_MROPE, .n_dims = D, .sections = { 8, 12, 12, 0 }, .freq_base = 1e6f };
    q = tl_rope(ctx, tl_reshape_3d(ctx, q, D, heads, n_tok), pos, rp);
    k = tl_rope(ctx, tl_reshape_3d(ctx, k, D, kv_heads, n_tok), pos, rp);
    struct tl_tensor *kv16 = tl_cast(ctx, k, TL_F16), *vv16 = tl_cast(ctx, tl_reshape_3d(ctx, v, D, kv_heads, n_tok), TL_F16);
    struct tl_tensor *att = tl_flash_attn(ctx, tl_permute(ctx, q, 0, 2, 1, 3), tl_permute(ctx, kv16, 0, 2, 1, 3),
                                          tl_permute(ctx, vv16, 0, 2, 1, 3), NULL, NULL,
                                          (struct tl_attn_params){ .scale = 1.0f / sqrtf((float)D), .causal = true });
    struct tl_tensor *h = tl_add(ctx, x, tl_mul_mat(ctx, weight(ctx, TL_BF16, heads * D, H), tl_reshape_2d(ctx, att, heads * D, n_tok)));
    struct tl_tensor *m = tl_mul(ctx, tl_rms_norm(ctx, h, 1e-6f), weight(ctx, TL_F32, H, 1));
    struct tl_tensor *f = tl_swiglu(ctx, tl_mul_mat(ctx, weight(ctx, TL_BF16, H, ffn), m), tl_mul_mat(ctx, weight(ctx, TL_BF16, H, ffn), m));
    struct tl_tensor *out = tl_add(ctx, h, tl_mul_mat(ctx, weight(ctx, TL_BF16, ffn, H), f));

    struct tl_graph *g = tl_graph_new(ctx, 256);
    if (!tl_graph_build(g, out)) {
        fprintf(stderr, "longvl demo: %s\n", tl_error(ctx));
        tl_free(ctx);
        return 1;
    }
    printf("decoder block (Qwen2.5-0.5B shapes, bf16 weights), %lld tokens, %d nodes\n", (long long)n_tok, g->n_nodes);
    double t0 = now();
    tl_cpu_compute_reference(g);
    double t_ref = now() - t0;
    float *want = malloc(tl_nbytes(out));
    memcpy(want, out->data, tl_nbytes(out));
    t0 = now();
    tl_cpu_compute(g, tl_cpu_default_threads());
    double t_fast = now() - t0;
    double max_err = 0, max_val = 0;
    for (int64_t i = 0; i < tl_nelements(out); i++) {
        max_err = fmax(max_err, fabs(((float *)out->data)[i] - want[i]));
        max_val = fmax(max_val, fabs(want[i]));
    }
    printf("reference kernels: %8.1f ms (1 thread)\n", t_ref * 1e3);
    printf("%-6s kernels:    %8.1f ms (%d threads), %.1fx faster\n", tl_cpu_isa_name(tl_cpu_get_isa()), t_fast * 1e3,
           tl_cpu_default_threads(), t_ref / t_fast);
    printf("max |fast - reference| = %.2e (largest output %.2f)\n", max_err, max_val);
    free(want);
    tl_free(ctx);
    bool ok = max_err <= 1e-3 * (1 + max_val);
    printf("%s\n", ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}
