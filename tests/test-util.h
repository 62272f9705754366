// Shared by the test programs: a deterministic RNG, checks that count, and the closing
// "N passed, N failed" line that CI reads.
#pragma once

#include "tl.h"
#include "tl-cpu.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

static inline void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok) test_passed++;
    else test_failed++;
}

static inline int test_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static inline uint64_t rng_u64(void) {   // xorshift64*
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static inline float rng_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)((rng_u64() >> 40) / (double)(1ull << 24));
}
static inline int64_t rng_int(int64_t lo, int64_t hi) {   // inclusive
    return lo + (int64_t)(rng_u64() % (uint64_t)(hi - lo + 1));
}

// Fills every element (any strides, any float type) with uniform values.
static inline void fill_uniform(struct tl_tensor *t, float lo, float hi) {
    for (int64_t i = 0; i < tl_nelements(t); i++) tl_set_f32_1d(t, i, rng_uniform(lo, hi));
}

// Largest |a-b| - (atol + rtol*|b|) over elements: <= 0 means within tolerance.
// Also returns the largest absolute error.
static inline double compare(const float *got, const float *want, int64_t n, double atol, double rtol,
                      double *max_abs) {
    double worst = -INFINITY;
    *max_abs = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(got[i]) != isnan(want[i])) e = INFINITY;
        if (e > *max_abs) *max_abs = e;
        double excess = e - (atol + rtol * fabs(want[i]));
        if (excess > worst) worst = excess;
    }
    return worst;
}

// The ISAs to test: the one named in argv[1], else all that this CPU supports. Returns
// the count written to isas; if the named one is unsupported, says so and exits 77 (the
// test's skip code).
static inline int test_isas(int argc, char **argv, enum tl_cpu_isa *isas) {
    if (argc > 1) {
        if (!tl_cpu_isa_parse(argv[1], &isas[0])) {
            fprintf(stderr, "unknown ISA %s\n", argv[1]);
            exit(2);
        }
        if (!tl_cpu_isa_supported(isas[0])) {
            printf("skipped: this CPU lacks %s\n", argv[1]);
            exit(77);
        }
        return 1;
    }
    int n = 0;
    for (int i = 0; i < TL_ISA_COUNT; i++)
        if (tl_cpu_isa_supported((enum tl_cpu_isa)i)) isas[n++] = (enum tl_cpu_isa)i;
    return n;
}
