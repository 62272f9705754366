// mul_mat benchmark: GEMM 4096x4096x512 against OpenBLAS sgemm, and GEMV (one token)
// at 4096x4096 and 18944x3584 as weight bytes per second against the DRAM read
// bandwidth, cycling through enough matrices that the weights come from DRAM.
#include "bench.h"
#include "tl-cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LONGVL_HAVE_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int);
#endif

struct graph_run { struct tl_graph *g; int threads; };
static void run_graph(void *p) {
    struct graph_run *r = p;
    tl_cpu_compute(r->g, r->threads);
}

double bench_graph_seconds(struct tl_graph *g, const struct bench_opts *o, int min_runs) {
    struct graph_run r = { g, o->threads };
    return bench_best(run_graph, &r, o->min_seconds, min_runs);
}

struct sgemm_run { int M, N, K; float *a, *b, *c; };
#ifdef LONGVL_HAVE_OPENBLAS
static void run_sgemm(void *p) {
    struct sgemm_run *r = p;
    // C[N][M] = B[N][K] . A[M][K]^T, the same orientation as mul_mat
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r->N, r->M, r->K, 1.0f, r->b, r->K, r->a, r->K, 0.0f, r->c, r->M);
}
#endif

// Byte offsets of the fp16 scale fields inside a block.
static int scale_fields(enum tl_type t, int off[2]) {
    switch (t) {
    case TL_Q4_0: case TL_Q8_0: off[0] = 0; return 1;
    case TL_Q4_1: case TL_Q4_K: case TL_Q5_K: off[0] = 0; off[1] = 2; return 2;
    case TL_Q6_K: off[0] = 208; return 1;
    default: return 0;
    }
}

// Block formats: random codes with small finite scales (quantizing real data at these
// sizes would take longer than the benchmark; the speed does not depend on the values).
static void fill_blocks(struct tl_tensor *t, uint64_t seed) {
    const enum tl_type cpu = t->type, file = tl_type_file_format(cpu);
    if (file != cpu) {   // a CPU layout: fill as the file format, then regroup
        void *blocks = malloc(tl_nbytes(t));
        if (!blocks) abort();
        t->type = file;
        fill_blocks(t, seed);
        t->type = cpu;
        memcpy(blocks, t->data, tl_nbytes(t));
        tl_convert_layout(file, cpu, blocks, t->data, tl_nelements(t), t->ne[0]);
        free(blocks);
        return;
    }
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

// Pseudo-random normal numbers in [1, 2), different in every matrix: identical pages could
// be merged by the host or served from cache, which would flatter the bandwidth.
static void fill_distinct(struct tl_tensor *t, uint64_t seed) {
    if (tl_type_traits(t->type)->is_quantized) {
        fill_blocks(t, seed);
        return;
    }
    uint64_t s = seed * 0x9E3779B97F4A7C15ull;
    int64_t n = tl_nelements(t);
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(s >> 33);
        if (t->type == TL_F32) ((uint32_t *)t->data)[i] = 0x3f800000u | (r & 0x7fffffu);
        else if (t->type == TL_F16) ((uint16_t *)t->data)[i] = (uint16_t)(0x3c00u | (r & 0x3ffu));
        else ((uint16_t *)t->data)[i] = (uint16_t)(0x3f80u | (r & 0x7fu));
    }
}

// Fastest seconds of our mul_mat for M x K weights of `type` and N activations.
static double mul_mat_seconds(int type, int M, int N, int K, int min_runs, const struct bench_opts *o) {
    size_t bytes = (size_t)M * K * 4 + (size_t)N * K * 4 + (size_t)M * N * 4 + (1 << 20);
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = bytes });
    if (!ctx) return 1e30;
    struct tl_tensor *w = tl_new_tensor_2d(ctx, type, K, M), *x = tl_new_tensor_2d(ctx, TL_F32, K, N);
    fill_distinct(w, 1);
    fill_distinct(x, 2);
    struct tl_graph *g = tl_graph_new(ctx, 8);
    tl_graph_build(g, tl_mul_mat(ctx, w, x));
    double t = bench_graph_seconds(g, o, min_runs);
    tl_free(ctx);
    return t;
}

// GFLOP/s of our mul_mat for weights of `type`, M x K weights, N activations.
double bench_gemm_gflops(int type, int M, int N, int K, const struct bench_opts *o) {
    return 2.0 * M * N * K / mul_mat_seconds(type, M, N, K, 3, o) / 1e9;
}

double bench_sgemm_gflops(int M, int N, int K, const struct bench_opts *o) {
#ifdef LONGVL_HAVE_OPENBLAS
    openblas_set_num_threads(o->threads);
    struct sgemm_run r = { M, N, K, malloc((size_t)M * K * 4), malloc((size_t)N * K * 4), malloc((size_t)M * N * 4) };
    for (size_t i = 0; i < (size_t)M * K; i++) r.a[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) r.b[i] = (float)(i % 13) * 0.01f;
    double t = bench_best(run_sgemm, &r, o->min_seconds, 3);
    free(r.a);
    free(r.b);
    free(r.c);
    return 2.0 * M * N * K / t / 1e9;
#else
    (void)M; (void)N; (void)K; (void)o;
    return 0;
#endif
}

// The kernel's own ceiling: weight bytes/s of a GEMV whose weights stay in the L2 (about
// 512 KiB per thread), i.e. how fast the cores turn bytes into dot products.
static double gemv_from_cache(int type, int K, const struct bench_opts *o) {
    size_t row = tl_row_size(type, K);
    int M = (int)(((size_t)512 << 10) * o->threads / row) / 8 * 8;   // whole panels for q4_Kr8
    return (double)row * M / mul_mat_seconds(type, M, 1, K, 20, o);
}

// n_mat distinct M x K matrices of `type` (enough to cover cycle_bytes), each times one
// activation column: one pass of the graph streams every weight from DRAM once.
struct gemv_cycle { struct tl_context *ctx; struct tl_graph *g; int n_mat; size_t weight_bytes; };

static bool gemv_cycle_init(struct gemv_cycle *c, int type, int M, int K, size_t cycle_bytes) {
    size_t wbytes = tl_row_size(type, K) * (size_t)M;
    c->n_mat = (int)((cycle_bytes + wbytes - 1) / wbytes);
    if (c->n_mat < 2) c->n_mat = 2;
    c->weight_bytes = wbytes * c->n_mat;
    c->ctx = tl_init((struct tl_init_params){ .mem_size = c->weight_bytes + (size_t)c->n_mat * M * 4 + K * 4 + (1 << 20) });
    if (!c->ctx) return false;
    struct tl_tensor *x = tl_new_tensor_1d(c->ctx, TL_F32, K);
    fill_distinct(x, 1000);
    c->g = tl_graph_new(c->ctx, 4 * c->n_mat + 8);
    for (int i = 0; i < c->n_mat; i++) {
        struct tl_tensor *w = tl_new_tensor_2d(c->ctx, type, K, M);
        fill_distinct(w, (uint64_t)i + 1);
        tl_graph_build(c->g, tl_mul_mat(c->ctx, w, x));
    }
    return true;
}

// Seconds of one pass over all the cycle's matrices.
static double gemv_cycle_pass_seconds(const struct gemv_cycle *c, const struct bench_opts *o) {
    double t0 = bench_now();
    tl_cpu_compute(c->g, o->threads);
    return bench_now() - t0;
}

// Passes measured side by side: at least 20 rounds and 4 x min_seconds.
static bool more_rounds(int round, double start, const struct bench_opts *o) {
    return round < 20 || bench_now() - start < 4 * o->min_seconds;
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The median of v[0..n) (n > 0), sorting v.
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct gemv_vs_dram bench_gemv_vs_dram(int type, int M, int K, size_t cycle_bytes, const struct bench_opts *o) {
    struct gemv_vs_dram r = { 0 };
    struct gemv_cycle c;
    if (!gemv_cycle_init(&c, type, M, K, cycle_bytes)) return r;
    r.n_mat = c.n_mat;
    struct bench_dram d;
    if (bench_dram_init(&d, c.weight_bytes, o->threads)) {   // a pass reads as many bytes as the GEMV's
        const double read_bytes = (double)d.n * sizeof(float);
        double read = 1e30, gemv = 1e30, start = bench_now(), *ratios = NULL, *trips = NULL;
        int round = 0;
        for (; more_rounds(round, start, o); round++) {
            const double tr = bench_dram_pass_seconds(&d), tg = gemv_cycle_pass_seconds(&c, o);
            read = fmin(read, tr);
            gemv = fmin(gemv, tg);
            double *grown = realloc(ratios, (round + 1) * sizeof *ratios);
            if (!grown) break;
            ratios = grown;
            grown = realloc(trips, (round + 1) * sizeof *trips);
            if (!grown) break;
            trips = grown;
            ratios[round] = (c.weight_bytes / tg) / (read_bytes / tr);
            trips[round] = o->threads > 1 ? bench_core_round_trip_ns(1000) : 0;   // ~0.05-0.4 ms
        }
        r.dram_bytes_per_s = read_bytes / read;
        r.weight_bytes_per_s = (double)c.weight_bytes / gemv;
        r.pair_ratio = round ? median(ratios, round) : 0;
        r.round_trip_ns = round ? median(trips, round) : 0;
        free(ratios);
        free(trips);
        bench_dram_free(&d);
    }
    for (int round = 0; round < 3; round++) r.cache_bytes_per_s = fmax(r.cache_bytes_per_s, gemv_from_cache(type, K, o));
    tl_free(c.ctx);
    return r;
}

void bench_gemv_prefetch(int type, int M, int K, size_t cycle_bytes, const int *distances, int n, double *bytes_per_s,
                         const struct bench_opts *o) {
    for (int i = 0; i < n; i++) bytes_per_s[i] = 0;
    struct gemv_cycle c;
    if (!gemv_cycle_init(&c, type, M, K, cycle_bytes)) return;
    const int keep = tl_cpu_get_prefetch_fixed();
    double start = bench_now();
    for (int round = 0; more_rounds(round, start, o); round++)
        for (int i = 0; i < n; i++) {
            tl_cpu_set_prefetch(distances[i]);
            bytes_per_s[i] = fmax(bytes_per_s[i], (double)c.weight_bytes / gemv_cycle_pass_seconds(&c, o));
        }
    tl_cpu_set_prefetch(keep);
    tl_free(c.ctx);
}

void bench_matmul(const struct bench_opts *o) {
    static const enum tl_type types[] = { TL_F32, TL_F16, TL_BF16 };
    int M = o->quick ? 1024 : 4096, K = M, N = o->quick ? 128 : 512;
    double blas = bench_sgemm_gflops(M, N, K, o);
    printf("## mul_mat GEMM %dx%dx%d (weights M x K, N activations)\n\n", M, K, N);
    printf("| weights | GFLOP/s | vs OpenBLAS sgemm (%.0f GFLOP/s) |\n|---|---|---|\n", blas);
    for (int i = 0; i < 3; i++) {
        double gf = bench_gemm_gflops(types[i], M, N, K, o);
        if (blas > 0) printf("| %s | %.1f | %.2fx |\n", tl_type_name(types[i]), gf, gf / blas);
        else printf("| %s | %.1f | (no OpenBLAS) |\n", tl_type_name(types[i]), gf);
    }
    size_t cycle = o->quick ? (64u << 20) : (768u << 20);   // well past the L3
    printf("\n## mul_mat GEMV (one token), weights streamed from DRAM\n\n");
    printf("For each row, one pass of the DRAM read and one of the GEMV in turn, at least 20 pairs; the fastest of\n"
           "each (the bandwidth changes within seconds on a shared machine). Weights and read buffer on 2 MiB pages\n"
           "where the OS gives them. \"From L2\": the same GEMV with ~512 KiB of weights per thread, which stay in\n"
           "the L2: the kernel's ceiling (best of 3).\n\n");
    printf("| shape (M x K) | weights | matrices cycled | GB/s of weights | DRAM read GB/s | vs DRAM read | from L2 GB/s |\n"
           "|---|---|---|---|---|---|---|\n");
    int shapes[2][2] = { { 4096, 4096 }, { 18944, 3584 } };
    for (int s = 0; s < 2; s++) {
        int m = o->quick ? shapes[s][0] / 4 : shapes[s][0], k = o->quick ? shapes[s][1] / 4 : shapes[s][1];
        for (int i = 0; i < 3; i++) {
            struct gemv_vs_dram r = bench_gemv_vs_dram(types[i], m, k, cycle, o);
            printf("| %dx%d | %s | %d | %.1f | %.1f | %.2fx | %.1f |\n", m, k, tl_type_name(types[i]), r.n_mat,
                   r.weight_bytes_per_s / 1e9, r.dram_bytes_per_s / 1e9, r.weight_bytes_per_s / r.dram_bytes_per_s,
                   r.cache_bytes_per_s / 1e9);
        }
    }
    printf("\n");
}
