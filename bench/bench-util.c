#include "bench-util.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double bench_best(void (*fn)(void *), void *arg, double min_seconds, int min_runs) {
    double best = 1e30, start = bench_now();
    for (int i = 0; i < min_runs || bench_now() - start < min_seconds; i++) {
        double t0 = bench_now();
        fn(arg);
        double t = bench_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

// Plain sums the compiler vectorises; 32 accumulators (4 vector chains) so the adds'
// latency never limits the loads: the loop measures the memory, not the core.
__attribute__((target("avx2"))) static float sum_avx2(const float *p, size_t n) {
    float acc[32] = { 0 };
    for (size_t i = 0; i + 32 <= n; i += 32)
        for (int j = 0; j < 32; j++) acc[j] += p[i + j];
    float s = 0;
    for (int j = 0; j < 32; j++) s += acc[j];
    return s;
}

static float sum_plain(const float *p, size_t n) {
    float acc[4] = { 0 };
    for (size_t i = 0; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) acc[j] += p[i + j];
    return acc[0] + acc[1] + acc[2] + acc[3];
}

static volatile float sink;

double bench_dram_read_bw(size_t bytes, int n_threads, double min_seconds) {
    size_t n = bytes / sizeof(float);
    float *buf = aligned_alloc(64, n * sizeof(float));
    if (!buf) return 0;
    #pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 0xFFFFF);   // touched by the threads that read it;
                                                                     // no two pages alike, so none can be merged
    int avx2 = __builtin_cpu_supports("avx2");
    double best = 1e30, start = bench_now();
    for (int rep = 0; rep < 5 || bench_now() - start < min_seconds; rep++) {
        double t0 = bench_now();
        float total = 0;
        #pragma omp parallel num_threads(n_threads) reduction(+ : total)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t lo = n / nt * t, hi = t == nt - 1 ? n : n / nt * (t + 1);
            total += avx2 ? sum_avx2(buf + lo, hi - lo) : sum_plain(buf + lo, hi - lo);
        }
        sink = total;
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    free(buf);
    return bytes / best;
}
