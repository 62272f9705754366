#pragma once

#include "bench-util.h"

#include <stdbool.h>
#include <stddef.h>

struct bench_opts {
    int    threads;
    double min_seconds;   // per measurement
    bool   quick;         // small sizes
    bool   matmul, quant, attn, convert, tokenizer;
};

struct tl_graph;

// Fastest run of tl_cpu_compute(g, o->threads), in seconds.
double bench_graph_seconds(struct tl_graph *g, const struct bench_opts *o, int min_runs);
// GFLOP/s of our mul_mat with M x K weights of `type` (enum tl_type) and N activations.
double bench_gemm_gflops(int type, int M, int N, int K, const struct bench_opts *o);
// Weight bytes per second of GEMV (one token) with M x K weights of `type`, cycling
// through enough distinct matrices (*n_mat_out) to cover cycle_bytes, so none stays cached.
double bench_gemv_bytes_per_s(int type, int M, int K, size_t cycle_bytes, const struct bench_opts *o, int *n_mat_out);

// OpenBLAS sgemm GFLOP/s at this shape (0 without OpenBLAS).
double bench_sgemm_gflops(int M, int N, int K, const struct bench_opts *o);

void bench_matmul(const struct bench_opts *o);
void bench_qmatmul(const struct bench_opts *o);
void bench_attention(const struct bench_opts *o);
void bench_convert(const struct bench_opts *o);
void bench_tokenizer(const struct bench_opts *o);
