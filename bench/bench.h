#pragma once

#include "bench-util.h"

#include <stdbool.h>
#include <stddef.h>

struct bench_opts {
    int    threads;
    double min_seconds;   // per measurement
    bool   quick;         // small sizes
    bool   matmul, quant, attn, convert, tokenizer, vulkan;
};

struct tl_graph;

// Fastest run of tl_cpu_compute(g, o->threads), in seconds.
double bench_graph_seconds(struct tl_graph *g, const struct bench_opts *o, int min_runs);
// GFLOP/s of our mul_mat with M x K weights of `type` (enum tl_type) and N activations.
double bench_gemm_gflops(int type, int M, int N, int K, const struct bench_opts *o);
// GEMV (one token) with M x K weights of `type`, cycling through enough distinct
// matrices (n_mat) to cover cycle_bytes so none stays cached, against the DRAM read
// bandwidth (a read of as many bytes). The two run one pass each in turn (at least 20 pairs and
// 4 x min_seconds) and the fastest pass of each is kept: the bandwidth left to us on a
// shared machine changes within seconds, and passes side by side see the same state.
// pair_ratio: the median over the pairs of the GEMV pass's rate over the read pass's beside
// it, which holds up where the bandwidth flips between passes and the fastest of each
// may come from different moments. cache_bytes_per_s: the same GEMV with its weights in
// the L2 (the kernel's ceiling), best of three. round_trip_ns: the median over the pairs
// of bench_core_round_trip_ns beside them (0 on one thread).
struct gemv_vs_dram { int n_mat; double weight_bytes_per_s, dram_bytes_per_s, pair_ratio, cache_bytes_per_s, round_trip_ns; };
struct gemv_vs_dram bench_gemv_vs_dram(int type, int M, int K, size_t cycle_bytes, const struct bench_opts *o);

// The GEMV of bench_gemv_vs_dram with each software prefetch distance in turn (bytes,
// tl_cpu_set_prefetch), one pass each in turn like bench_gemv_vs_dram, best of each into
// bytes_per_s[i].
void bench_gemv_prefetch(int type, int M, int K, size_t cycle_bytes, const int *distances, int n, double *bytes_per_s,
                         const struct bench_opts *o);

// OpenBLAS sgemm GFLOP/s at this shape (0 without OpenBLAS).
double bench_sgemm_gflops(int M, int N, int K, const struct bench_opts *o);

void bench_matmul(const struct bench_opts *o);
void bench_qmatmul(const struct bench_opts *o);
void bench_attention(const struct bench_opts *o);
void bench_convert(const struct bench_opts *o);
void bench_tokenizer(const struct bench_opts *o);
void bench_vulkan(const struct bench_opts *o);
