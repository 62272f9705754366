#pragma once

#include "bench-util.h"

#include <stdbool.h>

struct bench_opts {
    int    threads;
    double min_seconds;   // per measurement
    bool   quick;         // small sizes
    bool   matmul, attn;
};

void bench_matmul(const struct bench_opts *o);
void bench_attention(const struct bench_opts *o);
