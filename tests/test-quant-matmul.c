// mul_mat with block-format weights: each ISA's fast path (GEMV and GEMM shapes, several
// threads) against the reference (activations quantized by the reference quantizer,
// reference dot), and the reference against exact f32 math within each format's error.
//
// usage: test-quant-matmul [scalar|avx2|avx512]   (exit 77 = this CPU lacks the ISA)
#include "test-util.h"

static const enum tl_type types[] = { TL_Q4_0, TL_Q4_1, TL_Q8_0, TL_Q4_K, TL_Q5_K, TL_Q6_K };

// Relative error bounds of the quantized product vs f32 (RMS of the difference over RMS
// of the exact result, Gaussian data): weights and activations both rounded. Typical
// values are q8_0 .008, q6_K .019, q5_K .038, q4_K .075, q4_0/q4_1 .085; a case with few
// outputs (21 or 37) scatters up to ~1.5x that, hence the margins.
static double product_bound(enum tl_type t) {
    switch (t) {
    case TL_Q8_0: case TL_Q8_0_X8: case TL_Q8_0_R8: return 0.015;
    case TL_Q6_K: case TL_Q6_K_R8: return 0.04;
    case TL_Q5_K: case TL_Q5_K_X8: case TL_Q5_K_R8: return 0.07;
    case TL_Q4_K: case TL_Q4_K_X8: case TL_Q4_K_R8: return 0.13;
    default: return 0.20;   // Q4_0, Q4_1 and their X16 layouts: one scale per 32
    }
}

static float gaussian(void) {
    float u1 = rng_uniform(1e-7f, 1), u2 = rng_uniform(0, 1);
    return sqrtf(-2 * logf(u1)) * cosf(6.2831853f * u2);
}

// extreme_data: weights 1 but for a 0 leading each 32 (codes at their maximum) and
// activations all 1 (127 once quantized), the largest integer sums a kernel must hold.
static bool extreme_data;

// Cases take the software prefetch distances in turn, so each kernel runs with and without
// it; -1: this CPU's defaults (per ISA and layout: tl_cpu_prefetch_default).
static const int prefetch_turns[] = { 0, 1024, 4096, -1 };
static int n_cases;

static void run_case(enum tl_type t, int64_t M, int64_t N, int64_t K, enum tl_cpu_isa isa, int nth) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)64 << 20 });
    struct tl_tensor *a = tl_new_tensor_2d(ctx, t, K, M);
    struct tl_tensor *b = tl_new_tensor_2d(ctx, TL_F32, K, N);
    float *af = malloc(K * M * sizeof(float));
    for (int64_t i = 0; i < K * M; i++) af[i] = extreme_data ? (i % 32 ? 1.0f : 0.0f) : gaussian() * 0.05f;
    for (int64_t i = 0; i < K * N; i++) ((float *)b->data)[i] = extreme_data ? 1.0f : gaussian();
    const enum tl_type file = tl_type_file_format(t);
    if (file != t) {   // a CPU layout: made from the file format, as the model loader does
        void *q = malloc(tl_nbytes(a));
        tl_type_traits(file)->from_float(af, q, K * M);
        tl_convert_layout(file, t, q, a->data, K * M, K);
        free(q);
    } else {
        tl_type_traits(t)->from_float(af, a->data, K * M);
    }
    struct tl_tensor *c = tl_mul_mat(ctx, a, b);
    struct tl_graph *g = tl_graph_new(ctx, 8);
    tl_graph_build(g, c);
    float *want = malloc(M * N * sizeof(float)), *got = malloc(M * N * sizeof(float));
    tl_cpu_compute_reference(g);
    memcpy(want, c->data, M * N * sizeof(float));
    tl_cpu_set_isa(isa);
    tl_cpu_set_prefetch(prefetch_turns[n_cases++ % (sizeof prefetch_turns / sizeof prefetch_turns[0])]);
    memset(c->data, 0, M * N * sizeof(float));
    tl_cpu_compute(g, nth);
    memcpy(got, c->data, M * N * sizeof(float));
    // fast vs reference: the same integer sums, float scaling in another order
    double se = 0, ss = 0, worst = 0;
    for (int64_t i = 0; i < M * N; i++) ss += (double)want[i] * want[i];
    double rms = sqrt(ss / (M * N));
    for (int64_t i = 0; i < M * N; i++) worst = fmax(worst, fabs((double)got[i] - want[i]) / rms);
    check(worst < 2e-5, "%-4s %-6s M=%-4lld N=%-3lld K=%-5lld %d threads: max |fast-ref| / rms %.1e < 2e-5", tl_type_name(t),
          tl_cpu_isa_name(isa), (long long)M, (long long)N, (long long)K, nth, worst);
    // reference vs exact f32 math (on the original, unquantized weights)
    if (isa == TL_ISA_SCALAR || N > 1) {
        ss = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++) {
                double e = 0;
                for (int64_t k = 0; k < K; k++) e += (double)af[m * K + k] * ((float *)b->data)[n * K + k];
                se += (want[n * M + m] - e) * (want[n * M + m] - e);
                ss += e * e;
            }
        double rel = sqrt(se / ss);
        check(rel < product_bound(t), "%-4s M=%lld N=%lld K=%lld: quantized product vs f32, rms error %.4f < %.3f",
              tl_type_name(t), (long long)M, (long long)N, (long long)K, rel, product_bound(t));
    }
    free(af);
    free(want);
    free(got);
    tl_free(ctx);
}

// The ISA's activation quantizers give the reference quantizers' bytes: Gaussian rows,
// exact ties (x.5 after scaling: Q8_0 rounds them away from zero, Q8_K to even), zero
// blocks, and blocks whose largest magnitude appears with both signs.
static void check_activation_quantizer(enum tl_type t, enum tl_cpu_isa isa) {
    const int64_t n = 4 * 256;
    float *x = malloc(n * sizeof(float));
    size_t bytes = tl_row_size(t, n);
    uint8_t *want = malloc(bytes), *got = malloc(bytes);
    for (int pattern = 0; pattern < 4; pattern++) {
        for (int64_t i = 0; i < n; i++) {
            switch (pattern) {
            case 0: x[i] = gaussian() * 3; break;
            case 1: x[i] = (i % 32 == 0) ? 127.0f : (float)((int)(i % 200) - 100) + 0.5f; break;   // scale 1: ties
            case 2: x[i] = (i / 256 == 1) ? 0.0f : gaussian() * 1e-3f; break;
            default: x[i] = (i % 7 == 0) ? ((i / 7) % 2 ? 5.0f : -5.0f) : gaussian(); break;
            }
        }
        if (pattern == 1 && t == TL_Q8_K)
            for (int64_t i = 0; i < n; i += 256) x[i] = -127.0f;   // iscale exactly 1 for Q8_K
        tl_type_traits(t)->from_float(x, want, n);
        tl_cpu_set_isa(isa);
        tl_cpu_quantize_row(t, x, got, n);
        check(memcmp(want, got, bytes) == 0, "%s quantizer %-6s pattern %d: bytes identical to the reference",
              tl_type_name(t), tl_cpu_isa_name(isa), pattern);
    }
    free(x);
    free(want);
    free(got);
}

// LONGVL_CPU_PREFETCH fixes one distance for every layout; -1 goes back to the defaults,
// which follow the ISA in use.
static void check_prefetch_settings(void) {
    char line[256];
    check(tl_cpu_get_prefetch_fixed() == 1536 && tl_cpu_get_prefetch(TL_Q5_K_R8) == 1536 &&
              tl_cpu_get_prefetch(TL_Q4_0) == 1536,
          "LONGVL_CPU_PREFETCH=1536 fixes the prefetch distance (%d, q5_Kr8 %d)", tl_cpu_get_prefetch_fixed(),
          tl_cpu_get_prefetch(TL_Q5_K_R8));
    tl_cpu_describe_prefetch(line, sizeof line);
    check(strcmp(line, "1536 bytes ahead (fixed)") == 0, "prefetch described as \"%s\"", line);
    const enum tl_cpu_isa keep = tl_cpu_get_isa();
    tl_cpu_set_prefetch(-1);
    int wrong = 0;
    for (int isa = 0; isa < TL_ISA_COUNT; isa++) {
        if (!tl_cpu_set_isa((enum tl_cpu_isa)isa)) continue;
        for (int t = 0; t < TL_TYPE_COUNT; t++)
            wrong += tl_cpu_get_prefetch((enum tl_type)t) != tl_cpu_prefetch_default((enum tl_cpu_isa)isa, (enum tl_type)t);
    }
    tl_cpu_set_isa(keep);
    check(tl_cpu_get_prefetch_fixed() == -1 && wrong == 0, "set_prefetch(-1): every ISA's kernels take the defaults (%d differ)",
          wrong);
    tl_cpu_describe_prefetch(line, sizeof line);
    printf("# this CPU's defaults for %s: %s\n", tl_cpu_isa_name(keep), line);
}

int main(int argc, char **argv) {
    setenv("LONGVL_CPU_PREFETCH", "1536", 1);   // read once, at the backend's first use
    check_prefetch_settings();
    enum tl_cpu_isa isas[TL_ISA_COUNT];
    int n_isa = test_isas(argc, argv, isas);
    rng_seed(3);
    for (int i = 0; i < n_isa; i++) {
        check_activation_quantizer(TL_Q8_0, isas[i]);
        check_activation_quantizer(TL_Q8_K, isas[i]);
    }
    for (int i = 0; i < n_isa; i++)
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            run_case(types[ti], 37, 1, 512, isas[i], 2);     // GEMV, odd row count
            run_case(types[ti], 24, 1, 1280, isas[i], 3);    // GEMV on 3 threads, each with its own copy of the column
            run_case(types[ti], 64, 7, 1024, isas[i], 2);    // a few columns (partial QNC group)
            run_case(types[ti], 19, 70, 768, isas[i], 1);    // more than one column block
            run_case(types[ti], 96, 33, 256, isas[i], 3);    // one super-block per row
            if (tl_type_traits(types[ti])->block_size == 32) {   // rows that do not fill a 4-block step
                run_case(types[ti], 21, 1, 160, isas[i], 2);
                run_case(types[ti], 21, 3, 96, isas[i], 2);
                run_case(types[ti], 13, 2, 416, isas[i], 2);   // 8-block steps, a 4-block step, a tail
                run_case(types[ti], 21, 9, 224, isas[i], 2);
            }
        }
    const enum tl_type x16[2] = { TL_Q4_0_X16, TL_Q4_1_X16 };
    for (int i = 0; i < n_isa; i++)   // the X16 layouts: rows of 512-element groups and a tail of file blocks
        for (int xi = 0; xi < 2; xi++) {
            run_case(x16[xi], 37, 1, 512, isas[i], 2);
            run_case(x16[xi], 64, 1, 3584, isas[i], 2);    // the 7B model's hidden size
            run_case(x16[xi], 21, 3, 1024, isas[i], 2);    // a partial QNC group
            run_case(x16[xi], 19, 70, 1536, isas[i], 1);   // the GEMM panels
            run_case(x16[xi], 96, 5, 2048, isas[i], 3);
            run_case(x16[xi], 33, 1, 1280, isas[i], 2);    // 2 groups + 8 blocks (the vision tower's width)
            run_case(x16[xi], 17, 2, 11008, isas[i], 2);   // 21 groups + 8 blocks (the 3B model's FFN-down)
            run_case(x16[xi], 29, 3, 1696, isas[i], 2);    // an odd tail: 5 blocks
            run_case(x16[xi], 19, 70, 800, isas[i], 1);    // the GEMM panels with a tail of 9
        }
    const enum tl_type x8[2] = { TL_Q4_K_X8, TL_Q5_K_X8 };
    for (int i = 0; i < n_isa; i++)   // the X8 layouts: rows of 2048-element groups and a tail of file blocks
        for (int xi = 0; xi < 2; xi++) {
            run_case(x8[xi], 37, 1, 2048, isas[i], 2);
            run_case(x8[xi], 29, 1, 3584, isas[i], 2);   // the 7B model's hidden size: a group and 6 blocks
            run_case(x8[xi], 21, 3, 4096, isas[i], 2);   // a partial QNC group
            run_case(x8[xi], 13, 5, 6144, isas[i], 3);
            run_case(x8[xi], 19, 70, 2304, isas[i], 1);  // the GEMM panels with a tail of 1
            run_case(x8[xi], 17, 9, 4096, isas[i], 2);   // the GEMM panels
        }
    const enum tl_type r8[6] = { TL_Q4_K_R8, TL_Q5_K_R8, TL_Q6_K_R8, TL_Q8_0_R8, TL_Q4_0_R8, TL_Q4_1_R8 };
    for (int i = 0; i < n_isa; i++)   // the R8 layouts: panels of 8 rows, rows of any whole blocks,
        for (int xi = 0; xi < 6; xi++) {   // in chunks of 2048 weights (the last one narrower)
            run_case(r8[xi], 40, 1, 256, isas[i], 2);    // one block a row
            run_case(r8[xi], 32, 1, 3584, isas[i], 2);   // the 7B model's hidden size: chunks of 2048 and 1536
            run_case(r8[xi], 24, 3, 2304, isas[i], 2);   // a partial QNC group
            run_case(r8[xi], 16, 5, 1280, isas[i], 3);   // more threads than panels
            run_case(r8[xi], 16, 6, 4352, isas[i], 3);   // that over three chunks, columns past a QNC group
            run_case(r8[xi], 24, 1, 1280, isas[i], 3);   // GEMV on 3 threads, each with its own copy of the column
            run_case(r8[xi], 32, 1, 256, isas[i], 3);    // that with rows of 256
            run_case(r8[xi], 40, 9, 1024, isas[i], 2);   // the GEMM panels, the last one of 8 rows
            run_case(r8[xi], 24, 9, 4352, isas[i], 2);   // that over three chunks
            run_case(r8[xi], 48, 70, 512, isas[i], 1);   // the GEMM panels, columns past a block of 64
        }
    for (int i = 0; i < n_isa; i++)   // Q8_0_R8, Q4_0_R8, Q4_1_R8 also take rows of any whole blocks of 32
        for (int xi = 3; xi < 6; xi++) {
            run_case(r8[xi], 16, 1, 32, isas[i], 2);
            run_case(r8[xi], 24, 2, 800, isas[i], 2);
            run_case(r8[xi], 32, 1, 18944, isas[i], 2);   // the 7B model's FFN-down rows
        }
    for (int i = 0; i < n_isa; i++) run_case(TL_Q6_K_R8, 32, 1, 18944, isas[i], 2);   // FFN-down rows in q4_k_m's Q6_K
    for (int i = 0; i < n_isa; i++) {   // Q8_0_X8: rows of 256-element groups and a tail of Q8_0 blocks
        run_case(TL_Q8_0_X8, 37, 1, 256, isas[i], 2);
        run_case(TL_Q8_0_X8, 29, 1, 3584, isas[i], 2);   // the 7B model's hidden size: 14 groups
        run_case(TL_Q8_0_X8, 21, 3, 1376, isas[i], 2);   // a partial QNC group; 5 groups + 3 blocks
        run_case(TL_Q8_0_X8, 13, 4, 1056, isas[i], 3);   // 4 groups + 1 block: the Q8_0 kernel's odd tail
        run_case(TL_Q8_0_X8, 19, 70, 800, isas[i], 1);   // the GEMM panels with a tail of 1 block
        run_case(TL_Q8_0_X8, 17, 9, 2048, isas[i], 2);   // the GEMM panels
    }
    extreme_data = true;   // every format and layout at the top of its integer ranges
    for (int i = 0; i < n_isa; i++) {
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) run_case(types[ti], 8, 2, 2048, isas[i], 2);
        for (int xi = 0; xi < 2; xi++) {
            run_case(x16[xi], 8, 2, 2048, isas[i], 2), run_case(x8[xi], 8, 2, 2048, isas[i], 2);
            run_case(r8[xi], 8, 2, 2048, isas[i], 2);
        }
        run_case(TL_Q8_0_X8, 8, 2, 2048, isas[i], 2);
        for (int xi = 2; xi < 6; xi++) run_case(r8[xi], 8, 2, 2048, isas[i], 2);
    }
    return test_summary("test-quant-matmul");
}
