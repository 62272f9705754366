// Private to the quantized mul_mat of each ISA build (include after simd.h).
#pragma once

#include "tl-impl.h"

// C[n][m] = A[m] . B[n] for M block-format weight rows (stride lda bytes) and N f32
// columns (stride ldb floats), through decoded row panels (qgemm-panel-simd.c). Returns
// false, computing nothing, where this build has no panel kernel for the format or the
// buffers cannot be allocated.
bool ISA_FN(tl_cpu_qgemm_panel)(enum tl_type t, int64_t M, int64_t N, int64_t K, const uint8_t *a, size_t lda,
                                const float *b, size_t ldb, float *c, size_t ldc, int nth);

// n floats (a multiple of the block size) to Q8_0 or Q8_K blocks, the same bytes as the
// type-traits quantizer for finite input, with this build's vector instructions.
void ISA_FN(tl_cpu_quantize_activations)(enum tl_type t, const float *x, void *y, int64_t n);
