// Quantized mul_mat benchmark: for each block format, GEMM 4096x4096x512 against
// OpenBLAS sgemm, and GEMV (one token) at 4096x4096, 18944x3584 and 3584x18944 (the 7B
// FFN; Q4_0 and Q4_1 also at 2048x11008, a row that is not whole 512-groups) as
// weight bytes per second against the DRAM read bandwidth measured just before, cycling
// through enough matrices that the weights come from DRAM, not the L3.
#include "bench.h"
#include "tl-cpu.h"

#include <stdio.h>

// q4_0r8, q4_1r8, q8_0r8, q4_Kr8, q5_Kr8, q6_Kr8: the six formats as `run` and `logits`
// hold them on the CPU (tl_type_cpu_layout: panels of 8 rows); q4_0x16, q4_1x16,
// q8_0x8, q4_Kx8, q5_Kx8: as they hold matrices whose row count is not a multiple of 8
// (tl_type_interleaved: blocks regrouped along a row).
static const enum tl_type qtypes[] = { TL_Q4_0,    TL_Q4_0_X16, TL_Q4_0_R8, TL_Q4_1,    TL_Q4_1_X16, TL_Q4_1_R8,
                                       TL_Q8_0,    TL_Q8_0_X8,  TL_Q8_0_R8, TL_Q4_K,    TL_Q4_K_X8,  TL_Q4_K_R8,
                                       TL_Q5_K,    TL_Q5_K_X8,  TL_Q5_K_R8, TL_Q6_K,    TL_Q6_K_R8 };

static bool legacy_4bit(enum tl_type t) { return tl_type_file_format(t) == TL_Q4_0 || tl_type_file_format(t) == TL_Q4_1; }
// A file format, or a CPU layout that rows of K take (Q4_K_X8 from 2048 on; --quick runs
// K = 1024); the panel layouts take any (the benchmark's row counts are multiples of 8).
static bool has_rows_of(enum tl_type t, int K) {
    return tl_type_file_format(t) == t || tl_type_interleaved(tl_type_file_format(t), K) == t ||
           tl_type_traits(t)->panel_rows;
}

// The GEMV from DRAM at each software prefetch distance, so a user can see which suits
// this CPU (the default is chosen per CPU, ISA and layout: tl_cpu_prefetch_default).
static void bench_prefetch_table(const struct bench_opts *o, size_t cycle) {
    static const int distances[] = { 0, 1024, 2048, 4096 };
    enum { N_DIST = sizeof distances / sizeof distances[0] };
    static const enum tl_type types[] = { TL_Q4_0_R8, TL_Q4_K_R8, TL_Q5_K_R8 };
    int m = o->quick ? 1024 : 4096, k = o->quick ? 2048 : 4096;
    printf("\n## GEMV %dx%d from DRAM by software prefetch distance (%s kernels; LONGVL_CPU_PREFETCH fixes one)\n\n",
           m, k, tl_cpu_isa_name(tl_cpu_get_isa()));
    printf("| weights | in use |");
    for (int i = 0; i < N_DIST; i++) printf(i ? " %d B ahead GB/s |" : " none GB/s |", distances[i]);
    printf("\n|---|---|");
    for (int i = 0; i < N_DIST; i++) printf("---|");
    printf("\n");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        double v[N_DIST];
        bench_gemv_prefetch(types[t], m, k, cycle, distances, N_DIST, v, o);
        printf("| %s | %d B |", tl_type_name(types[t]), tl_cpu_get_prefetch(types[t]));
        for (int i = 0; i < N_DIST; i++) printf(" %.1f |", v[i] / 1e9);
        printf("\n");
    }
    printf("\n");
}

// The GEMV from DRAM and the DRAM read it is compared with, both on 4 KiB pages and both
// on 2 MiB pages (tl_set_huge_pages; where the OS gives none, the two rows alike).
static void bench_page_table(const struct bench_opts *o, size_t cycle) {
    static const enum tl_type types[] = { TL_Q4_0_R8, TL_Q4_K_R8, TL_Q6_K_R8 };
    int m = o->quick ? 1024 : 4096, k = o->quick ? 2048 : 4096;
    const bool keep = tl_get_huge_pages();
    printf("## GEMV %dx%d from DRAM by page size (%s kernels; in use: %s, LONGVL_HUGEPAGES=0 turns 2 MiB off)\n\n", m, k,
           tl_cpu_isa_name(tl_cpu_get_isa()), keep ? "2 MiB" : "4 KiB");
    printf("| weights | pages | GB/s of weights | DRAM read GB/s | vs DRAM read | pairs: median ratio |\n|---|---|---|---|---|---|\n");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (int huge = 0; huge < 2; huge++) {
            tl_set_huge_pages(huge);
            struct gemv_vs_dram r = bench_gemv_vs_dram(types[t], m, k, cycle, o);
            printf("| %s | %s | %.1f | %.1f | %.2fx | %.2fx |\n", tl_type_name(types[t]), huge ? "2 MiB" : "4 KiB",
                   r.weight_bytes_per_s / 1e9, r.dram_bytes_per_s / 1e9, r.weight_bytes_per_s / r.dram_bytes_per_s,
                   r.pair_ratio);
        }
    tl_set_huge_pages(keep);
}

void bench_qmatmul(const struct bench_opts *o) {
    int M = o->quick ? 1024 : 4096, K = M, N = o->quick ? 128 : 512;
    double blas = bench_sgemm_gflops(M, N, K, o);
    printf("## quantized mul_mat GEMM %dx%dx%d (%s kernels)\n\n", M, K, N, tl_cpu_isa_name(tl_cpu_get_isa()));
    printf("| weights | GFLOP/s | vs OpenBLAS sgemm (%.0f GFLOP/s) |\n|---|---|---|\n", blas);
    for (size_t i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++) {
        if (!has_rows_of(qtypes[i], K)) continue;
        double gf = bench_gemm_gflops(qtypes[i], M, N, K, o);
        printf("| %s | %.1f | %.2fx |\n", tl_type_name(qtypes[i]), gf, blas > 0 ? gf / blas : 0);
    }
    size_t cycle = o->quick ? (64u << 20) : (512u << 20);   // far past the L3
    printf("\n## quantized mul_mat GEMV (one token), weights streamed from DRAM (%s kernels)\n\n",
           tl_cpu_isa_name(tl_cpu_get_isa()));
    printf("For each row, one pass of the DRAM read and one of the GEMV in turn, at least 20 pairs; the fastest of each\n"
           "(the bandwidth changes within seconds on a shared machine), and the median over the pairs of the GEMV pass's\n"
           "rate over the read pass's beside it (\"pairs\": it holds where the bandwidth flips between passes, so the\n"
           "fastest of each come from different moments). Weights and read buffer on 2 MiB pages where the OS\n"
           "gives them. \"From L2\": the same GEMV with ~512 KiB of weights per thread, which stay in the L2: the kernel's\n"
           "ceiling (best of 3). \"Round trip\": the median of a cache line's round trip between the two threads\n"
           "beside the pairs; where the cores share no cache it is several times longer. The r8 layouts\n"
           "are the formats in panels of 8 rows (a group: block b of the 8 rows), as `run` and `logits` hold them on the\n"
           "CPU; x16 and x8 regroup 16 or 8 blocks along a row, for row counts that are not multiples of 8.\n\n");
    printf("| shape (M x K) | weights | bits/weight | matrices cycled | GB/s of weights | DRAM read GB/s | vs DRAM read | "
           "pairs: median ratio | from L2 GB/s | round trip ns |\n|---|---|---|---|---|---|---|---|---|---|\n");
    // the 7B model's FFN-down (rows of 18,944: one activation column no longer fits the L1
    // beside the weight stream), and the 3B model's (K = 11008 = 21 x 512 + 256): the X16
    // layouts with a tail of 8 blocks
    int shapes[4][2] = { { 4096, 4096 }, { 18944, 3584 }, { 3584, 18944 }, { 2048, 11008 } };
    for (int s = 0; s < 4; s++) {
        int m = o->quick ? shapes[s][0] / 4 : shapes[s][0];
        int k = o->quick ? (s == 3 ? 1280 : s == 2 ? 4608 : 1024) : shapes[s][1];
        for (size_t i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++) {
            if ((s == 3 && !legacy_4bit(qtypes[i])) || !has_rows_of(qtypes[i], k)) continue;
            const struct tl_type_traits *tt = tl_type_traits(qtypes[i]);
            struct gemv_vs_dram r = bench_gemv_vs_dram(qtypes[i], m, k, cycle, o);
            printf("| %dx%d | %s | %.2f | %d | %.1f | %.1f | %.2fx | %.2fx | %.1f | %.0f |\n", m, k, tt->name,
                   8.0 * tt->type_size / tt->block_size, r.n_mat, r.weight_bytes_per_s / 1e9, r.dram_bytes_per_s / 1e9,
                   r.weight_bytes_per_s / r.dram_bytes_per_s, r.pair_ratio, r.cache_bytes_per_s / 1e9, r.round_trip_ns);
        }
    }
    bench_prefetch_table(o, cycle);
    bench_page_table(o, cycle);
}
