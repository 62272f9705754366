// Timing and reference measurements shared by the benchmarks.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

double bench_now(void);
// Runs fn(arg) until at least min_seconds have passed (and at least min_runs times);
// returns the fastest run's seconds (the least disturbed by other load on the machine).
double bench_best(void (*fn)(void *), void *arg, double min_seconds, int min_runs);
// DRAM read bandwidth: sums of a buffer far beyond the L3 with n_threads threads, on the
// pages the weights get (tl_alloc_large), one pass at a time to interleave with what it is
// compared with: the host's memory speed can change within seconds (other machines'
// load), and only passes taken side by side see the same state.
struct bench_dram { float *buf; size_t n; int n_threads; };
bool   bench_dram_init(struct bench_dram *d, size_t bytes, int n_threads);   // false: out of memory
double bench_dram_pass_seconds(const struct bench_dram *d);
void   bench_dram_free(struct bench_dram *d);
// Nanoseconds of a cache line's round trip between two threads (n of them, ping-pong), or 0
// with fewer than two threads. Where the two cores share no cache it is several times longer,
// and on the project's Zen 4 host that is also when its DRAM reads fast.
double bench_core_round_trip_ns(int n);
