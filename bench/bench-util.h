// Timing and reference measurements shared by the benchmarks.
#pragma once

#include <stddef.h>
#include <stdint.h>

double bench_now(void);
// Runs fn(arg) until at least min_seconds have passed (and at least min_runs times);
// returns the fastest run's seconds (the least disturbed by other load on the machine).
double bench_best(void (*fn)(void *), void *arg, double min_seconds, int min_runs);
// DRAM read bandwidth in bytes/s: the fastest of repeated sums (at least 5, for at least
// min_seconds, as the measurements it is compared with) of a buffer of `bytes`, far
// beyond the L3, with n_threads threads.
double bench_dram_read_bw(size_t bytes, int n_threads, double min_seconds);
