// tl-cpu.h: the CPU backend. Runs a graph node by node; each node's kernel is the fast
// path of the selected instruction set (OpenMP threads inside the kernel) or, where the
// fast path does not cover a case, the scalar reference kernel.
//
// One binary serves every x86-64 CPU: the best ISA is detected at run time and can be
// lowered with LONGVL_CPU_ISA=scalar|avx2|avx512 or tl_cpu_set_isa (tests force each).
//
//     tl_cpu_compute(graph, 2);             // fast paths, 2 threads
//     tl_cpu_compute_reference(graph);      // the oracle: reference kernels only
#pragma once

#include "tl.h"

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tl_cpu_isa {
    TL_ISA_SCALAR = 0,   // portable C, the same blocked algorithms without SIMD
    TL_ISA_AVX2,         // AVX2 + FMA + F16C (laptops)
    TL_ISA_AVX512,       // AVX-512 F/BW/VL/DQ + VNNI (Ice Lake, Zen 4 and later)
    TL_ISA_COUNT,
};

const char     *tl_cpu_isa_name(enum tl_cpu_isa isa);
bool            tl_cpu_isa_supported(enum tl_cpu_isa isa);   // by this CPU
enum tl_cpu_isa tl_cpu_isa_best(void);
enum tl_cpu_isa tl_cpu_get_isa(void);                        // the one in use
bool            tl_cpu_set_isa(enum tl_cpu_isa isa);         // false if unsupported
// Parses "scalar", "avx2", "avx512"; false if unknown.
bool            tl_cpu_isa_parse(const char *s, enum tl_cpu_isa *isa);

int  tl_cpu_default_threads(void);   // OpenMP's processor count

// How far ahead (bytes) the quantized GEMV kernels ask for weights with a software
// prefetch; 0 leaves it to the hardware prefetcher. By default the distance depends on
// the CPU, the kernels' ISA and the weight layout (tl_cpu_prefetch_default);
// LONGVL_CPU_PREFETCH=BYTES or tl_cpu_set_prefetch fixes one distance for all.
int  tl_cpu_get_prefetch(enum tl_type layout);   // in use for this layout by the current ISA's kernels
int  tl_cpu_prefetch_default(enum tl_cpu_isa isa, enum tl_type layout);
int  tl_cpu_get_prefetch_fixed(void);            // the fixed distance, or -1: the defaults
void tl_cpu_set_prefetch(int bytes);             // -1 (the defaults), or 0 or a multiple of 64 up to 16384
// The distances in use, for a status line: "0 bytes ahead, q5_Kr8 2048 (this CPU's defaults)".
void tl_cpu_describe_prefetch(char *buf, size_t size);

// Computes every node of g in order. Needs data on every tensor (a no_alloc context
// goes through tl_gallocr_alloc_graph first).
void tl_cpu_compute(struct tl_graph *g, int n_threads);
void tl_cpu_compute_reference(struct tl_graph *g);
// As tl_cpu_compute, reading *stop before each node: once it is non-zero (a flag a
// signal handler sets), returns false with the graph partly computed.
bool tl_cpu_compute_until(struct tl_graph *g, int n_threads, const volatile sig_atomic_t *stop);
// One node (its inputs' data ready), as tl_cpu_compute would: other backends run the ops
// they lack this way.
void tl_cpu_compute_node(struct tl_tensor *t, int n_threads);
// true if the selected ISA has a fast kernel for this node's op (it may still fall back
// to the reference for an unusual layout)
bool tl_cpu_has_fast_kernel(enum tl_op op);

// n elements of one float type (F32, F16, BF16) converted to another, rounding to
// nearest even, with the selected ISA's vector instructions (one thread). Bit-identical
// to the type-traits conversions except for NaN payloads (a NaN stays a NaN).
void tl_cpu_convert(enum tl_type src_type, const void *src, enum tl_type dst_type, void *dst, int64_t n);

// n floats quantized to an activation format (TL_Q8_0 or TL_Q8_K; n a multiple of its
// block size) with the selected ISA's vector instructions (one thread), as quantized
// mul_mat does. Byte-identical to the type-traits quantizer for finite input.
void tl_cpu_quantize_row(enum tl_type type, const float *x, void *y, int64_t n);

#ifdef __cplusplus
}
#endif
