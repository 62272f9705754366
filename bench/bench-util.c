#include "bench-util.h"
#include "tl.h"

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

bool bench_dram_init(struct bench_dram *d, size_t bytes, int n_threads) {
    d->n = bytes / sizeof(float);
    d->n_threads = n_threads;
    d->buf = tl_alloc_large(d->n * sizeof(float));   // the pages the weights get (tl_get_huge_pages)
    if (!d->buf) return false;
    #pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < d->n; i++) d->buf[i] = (float)(i & 0xFFFFF);   // touched by the threads that read it;
                                                                           // no two pages alike, so none can be merged
    return true;
}

double bench_dram_pass_seconds(const struct bench_dram *d) {
    const int avx2 = __builtin_cpu_supports("avx2");
    double t0 = bench_now();
    float total = 0;
    #pragma omp parallel num_threads(d->n_threads) reduction(+ : total)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = d->n / nt * t, hi = t == nt - 1 ? d->n : d->n / nt * (t + 1);
        total += avx2 ? sum_avx2(d->buf + lo, hi - lo) : sum_plain(d->buf + lo, hi - lo);
    }
    sink = total;
    return bench_now() - t0;
}

double bench_core_round_trip_ns(int n) {
    static _Alignas(64) int turn;   // even: thread 0 passes it on, odd: thread 1
    double seconds = 0;
    bool pair = false;
    __atomic_store_n(&turn, 0, __ATOMIC_RELAXED);
    #pragma omp parallel num_threads(2)
    {
        const int me = omp_get_thread_num();
        if (omp_get_num_threads() == 2) {
            if (me == 0) pair = true;
            #pragma omp barrier
            const double t0 = bench_now();
            for (int i = 0; i < n; i++) {
                while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != 2 * i + me) {}
                __atomic_store_n(&turn, 2 * i + me + 1, __ATOMIC_RELEASE);
            }
            if (me == 0) seconds = bench_now() - t0;
        }
    }
    return pair && n > 0 ? seconds / n * 1e9 : 0;
}

void bench_dram_free(struct bench_dram *d) {
    free(d->buf);
    d->buf = NULL;
}
