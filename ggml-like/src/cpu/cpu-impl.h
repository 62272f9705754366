// Private to the CPU backend: the fast-kernel table each ISA build fills in.
#pragma once

#include "tl-cpu.h"
#include "tl-impl.h"

// A fast kernel computes dst with n_threads OpenMP threads, or returns false when it
// does not handle this case (layout, type), and the reference kernel runs instead.
typedef bool (*tl_fast_kernel)(struct tl_tensor *dst, int n_threads);

struct tl_cpu_kernels {
    tl_fast_kernel op[TL_OP_COUNT];
    // n elements of a float type to another (tl_cpu_convert), one thread.
    void (*convert)(enum tl_type src_type, const void *src, enum tl_type dst_type, void *dst, int64_t n);
    // n floats to blocks of an activation format (Q8_0, Q8_K) (tl_cpu_quantize_row), one thread.
    void (*quantize)(enum tl_type type, const float *x, void *y, int64_t n);
};

void tl_cpu_register_elementwise_scalar(struct tl_cpu_kernels *k);
void tl_cpu_register_elementwise_avx2(struct tl_cpu_kernels *k);
void tl_cpu_register_elementwise_avx512(struct tl_cpu_kernels *k);
void tl_cpu_register_matmul_scalar(struct tl_cpu_kernels *k);
void tl_cpu_register_matmul_avx2(struct tl_cpu_kernels *k);
void tl_cpu_register_matmul_avx512(struct tl_cpu_kernels *k);
// mul_mat with block-format weights (qmatmul-simd.c), called by each build's mul_mat.
bool tl_cpu_mul_mat_quantized_scalar(struct tl_tensor *dst, int n_threads);
bool tl_cpu_mul_mat_quantized_avx2(struct tl_tensor *dst, int n_threads);
bool tl_cpu_mul_mat_quantized_avx512(struct tl_tensor *dst, int n_threads);
void tl_cpu_register_convert_scalar(struct tl_cpu_kernels *k);
void tl_cpu_register_convert_avx2(struct tl_cpu_kernels *k);
void tl_cpu_register_convert_avx512(struct tl_cpu_kernels *k);
void tl_cpu_register_quantize_scalar(struct tl_cpu_kernels *k);
void tl_cpu_register_quantize_avx2(struct tl_cpu_kernels *k);
void tl_cpu_register_quantize_avx512(struct tl_cpu_kernels *k);
void tl_cpu_register_attn_scalar(struct tl_cpu_kernels *k);
void tl_cpu_register_attn_avx2(struct tl_cpu_kernels *k);
void tl_cpu_register_attn_avx512(struct tl_cpu_kernels *k);
// The fused LM loss (loss-cpu.c): one build, its products go through mul_mat.
void tl_cpu_register_loss(struct tl_cpu_kernels *k);
// The gradient ops, threaded (grad-cpu.c): one build, the reference's arithmetic.
void tl_cpu_register_grad(struct tl_cpu_kernels *k);
// cont of a same-shape source with strided dim 0 (a transpose), in tiles; false when the
// source is not such (grad-cpu.c; fast_cont calls it).
bool tl_cpu_cont_strided(struct tl_tensor *dst, int n_threads);
void tl_cpu_register_attn_back_scalar(struct tl_cpu_kernels *k);
void tl_cpu_register_attn_back_avx2(struct tl_cpu_kernels *k);
void tl_cpu_register_attn_back_avx512(struct tl_cpu_kernels *k);

// The software prefetch distance of the quantized row kernels per ISA and weight layout
// (tl_cpu_get_prefetch); read on every step, so a plain global rather than a call.
extern int tl_cpu_prefetch_table[TL_ISA_COUNT][TL_TYPE_COUNT];

// Row r of a tensor in (i1, i2, i3) order.
static inline void tl_row_index(const struct tl_tensor *t, int64_t r, int64_t *i1, int64_t *i2,
                                int64_t *i3) {
    *i1 = r % t->ne[1];
    r /= t->ne[1];
    *i2 = r % t->ne[2];
    *i3 = r / t->ne[2];
}

static inline bool tl_rows_contiguous_f32(const struct tl_tensor *t) {
    return t->type == TL_F32 && t->nb[0] == sizeof(float);
}
