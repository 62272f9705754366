// rng.h: the training data's random numbers (the retrieval task, epoch orders, synthesis):
// splitmix64, so that an instance depends only on (seed, its index) and every machine
// draws the same.
#pragma once

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// uniform in [0, n), n >= 1
static inline int64_t rng_below(uint64_t *s, int64_t n) { return (int64_t)(rng_next(s) % (uint64_t)n); }

// uniform in [lo, hi]
static inline int64_t rng_range(uint64_t *s, int64_t lo, int64_t hi) { return lo + rng_below(s, hi - lo + 1); }

// The stream of instance `index` of a run seeded with seed.
static inline uint64_t rng_for(uint64_t seed, uint64_t index) {
    uint64_t s = seed * 0x2545F4914F6CDD1Dull ^ (index + 1) * 0x9E3779B97F4A7C15ull;
    rng_next(&s);
    return s;
}
