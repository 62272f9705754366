// Quantized mul_mat benchmark: for each block format, GEMM 4096x4096x512 against
// OpenBLAS sgemm, and GEMV (one token) at 4096x4096 and 18944x3584 (the 7B FFN) as
// weight bytes per second against the DRAM read bandwidth measured just before, cycling
// through enough matrices that the weights come from DRAM, not the L3.
#include "bench.h"
#include "tl-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum tl_type qtypes[] = { TL_Q4_0, TL_Q4_1, TL_Q8_0, TL_Q4_K, TL_Q5_K, TL_Q6_K };

// Byte offsets of the fp16 scale fields inside a block.
static int scale_fields(enum tl_type t, int off[2]) {
    switch (t) {
    case TL_Q4_0: case TL_Q8_0: off[0] = 0; return 1;
    case TL_Q4_1: case TL_Q4_K: case TL_Q5_K: off[0] = 0; off[1] = 2; return 2;
    case TL_Q6_K: off[0] = 208; return 1;
    default: return 0;
    }
}

// Random codes with small finite scales, different in every matrix (quantizing real
// data at this size would take longer than the benchmark; the speed does not depend on
// the values).
static void fill_blocks(struct tl_tensor *t, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    size_t n = tl_nbytes(t), bs = tl_type_traits(t->type)->type_size;
    uint8_t *p = t->data;
    for (size_t i = 0; i < n; i += 8) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = s ^ (s >> 29);
        memcpy(p + i, &r, n - i < 8 ? n - i : 8);
    }
    int off[2], nf = scale_fields(t->type, off);
    for (size_t b = 0; b < n / bs; b++)
        for (int f = 0; f < nf; f++) {
            uint16_t h = (uint16_t)(0x1800 + (b * 131 + (size_t)f * 7 + seed) % 0x800);   // ~0.002..0.008
            memcpy(p + b * bs + off[f], &h, 2);
        }
}

static void fill_f32(struct tl_tensor *t, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t i = 0; i < tl_nelements(t); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ((float *)t->data)[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
}

static double qgemm_gflops(enum tl_type type, int M, int N, int K, const struct bench_opts *o) {
    size_t bytes = tl_row_size(type, K) * M + (size_t)N * K * 4 + (size_t)M * N * 4 + (1 << 20);
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = bytes });
    struct tl_tensor *w = tl_new_tensor_2d(ctx, type, K, M), *x = tl_new_tensor_2d(ctx, TL_F32, K, N);
    if (!w || !x) { fprintf(stderr, "bench: %s\n", tl_error(ctx)); exit(1); }
    fill_blocks(w, 1);
    fill_f32(x, 2);
    struct tl_graph *g = tl_graph_new(ctx, 8);
    tl_graph_build(g, tl_mul_mat(ctx, w, x));
    double t = bench_graph_seconds(g, o, 3);
    tl_free(ctx);
    return 2.0 * M * N * K / t / 1e9;
}

static double qgemv_bytes_per_s(enum tl_type type, int M, int K, size_t cycle_bytes, const struct bench_opts *o,
                                int *n_mat_out) {
    size_t wbytes = tl_row_size(type, K) * (size_t)M;
    int n_mat = (int)((cycle_bytes + wbytes - 1) / wbytes);
    if (n_mat < 2) n_mat = 2;
    *n_mat_out = n_mat;
    struct tl_context *ctx =
        tl_init((struct tl_init_params){ .mem_size = wbytes * n_mat + (size_t)n_mat * (M * 4 + 256) + K * 4 + (1 << 20) });
    if (!ctx) return 0;
    struct tl_tensor *x = tl_new_tensor_1d(ctx, TL_F32, K);
    fill_f32(x, 1000);
    struct tl_graph *g = tl_graph_new(ctx, 4 * n_mat + 8);
    for (int i = 0; i < n_mat; i++) {
        struct tl_tensor *w = tl_new_tensor_2d(ctx, type, K, M);
        if (!w) { fprintf(stderr, "bench: %s\n", tl_error(ctx)); exit(1); }
        fill_blocks(w, (uint64_t)i + 1);
        tl_graph_build(g, tl_mul_mat(ctx, w, x));
    }
    double t = bench_graph_seconds(g, o, 3);
    tl_free(ctx);
    return (double)wbytes * n_mat / t;
}

void bench_qmatmul(const struct bench_opts *o) {
    int M = o->quick ? 1024 : 4096, K = M, N = o->quick ? 128 : 512;
    double blas = bench_sgemm_gflops(M, N, K, o);
    printf("## quantized mul_mat GEMM %dx%dx%d (%s kernels)\n\n", M, K, N, tl_cpu_isa_name(tl_cpu_get_isa()));
    printf("| weights | GFLOP/s | vs OpenBLAS sgemm (%.0f GFLOP/s) |\n|---|---|---|\n", blas);
    for (size_t i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++) {
        double gf = qgemm_gflops(qtypes[i], M, N, K, o);
        printf("| %s | %.1f | %.2fx |\n", tl_type_name(qtypes[i]), gf, blas > 0 ? gf / blas : 0);
    }
    size_t cycle = o->quick ? (64u << 20) : (512u << 20);   // far past the L3
    size_t bw_bytes = o->quick ? (256u << 20) : (1024u << 20);
    printf("\n## quantized mul_mat GEMV (one token), weights streamed from DRAM (%s kernels)\n\n",
           tl_cpu_isa_name(tl_cpu_get_isa()));
    printf("| shape (M x K) | weights | bits/weight | matrices cycled | GB/s of weights | DRAM read GB/s | vs DRAM read |\n"
           "|---|---|---|---|---|---|---|\n");
    int shapes[2][2] = { { 4096, 4096 }, { 18944, 3584 } };
    for (int s = 0; s < 2; s++) {
        int m = o->quick ? shapes[s][0] / 4 : shapes[s][0], k = o->quick ? 1024 : shapes[s][1];
        for (size_t i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++) {
            int n_mat;
            const struct tl_type_traits *tt = tl_type_traits(qtypes[i]);
            double bw = bench_dram_read_bw(bw_bytes, o->threads, o->min_seconds);
            double b = qgemv_bytes_per_s(qtypes[i], m, k, cycle, o, &n_mat);
            printf("| %dx%d | %s | %.2f | %d | %.1f | %.1f | %.2fx |\n", m, k, tt->name, 8.0 * tt->type_size / tt->block_size,
                   n_mat, b / 1e9, bw / 1e9, b / bw);
        }
    }
    printf("\n");
}
