// Private to libtl: op parameter access, the op table and the error helpers.
#pragma once

#include "tl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Programmer errors (broken invariants) only; bad input is reported through tl_error.
#define TL_ASSERT(x)                                                                     \
    do {                                                                                 \
        if (!(x)) {                                                                      \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x);   \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define TL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TL_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline float tl_param_f32(const struct tl_tensor *t, int i) {
    float v;
    memcpy(&v, &t->params[i], sizeof v);
    return v;
}
static inline void tl_param_set_f32(struct tl_tensor *t, int i, float v) {
    memcpy(&t->params[i], &v, sizeof v);
}

// Element address from indices in ne order.
static inline void *tl_elem_ptr(const struct tl_tensor *t, int64_t i0, int64_t i1, int64_t i2,
                                int64_t i3) {
    return (char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

// Records the first error of a context; later ones are dropped. printf-style.
void tl_set_error(struct tl_context *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Shared by builders: a new result tensor (contiguous, fresh) recording op and inputs.
struct tl_tensor *tl_new_op(struct tl_context *ctx, enum tl_op op, enum tl_type type,
                            const int64_t ne[TL_MAX_DIMS], struct tl_tensor *src0,
                            struct tl_tensor *src1);
// A view of a with the given shape/strides; records TL_OP_VIEW.
struct tl_tensor *tl_new_view(struct tl_context *ctx, struct tl_tensor *a,
                              const int64_t ne[TL_MAX_DIMS], const size_t nb[TL_MAX_DIMS],
                              size_t offset);

// A view's params[TL_VIEW_KIND]: permutes record their axes in params[0..3] and this mark.
#define TL_VIEW_KIND    4
#define TL_VIEW_PERMUTE 1

// Reference kernels: plain loops, single-threaded, the oracle for every fast path.
typedef void (*tl_ref_kernel)(struct tl_tensor *dst);

void tl_ref_cont(struct tl_tensor *dst);      // cont and cpy
void tl_ref_concat(struct tl_tensor *dst);
void tl_ref_get_rows(struct tl_tensor *dst);
void tl_ref_binary(struct tl_tensor *dst);    // add, sub, mul, div
void tl_ref_scale(struct tl_tensor *dst);
void tl_ref_unary(struct tl_tensor *dst);     // silu, gelu, gelu_tanh
void tl_ref_swiglu(struct tl_tensor *dst);
void tl_ref_rms_norm(struct tl_tensor *dst);
void tl_ref_layer_norm(struct tl_tensor *dst);
void tl_ref_soft_max(struct tl_tensor *dst);
void tl_ref_rope(struct tl_tensor *dst);
void tl_ref_argmax(struct tl_tensor *dst);
void tl_ref_mul_mat(struct tl_tensor *dst);
void tl_ref_flash_attn(struct tl_tensor *dst);
void tl_ref_lm_loss(struct tl_tensor *dst);
void tl_ref_sum_to(struct tl_tensor *dst);
void tl_ref_view_back(struct tl_tensor *dst);
void tl_ref_get_rows_back(struct tl_tensor *dst);
void tl_ref_unary_back(struct tl_tensor *dst);
void tl_ref_rms_norm_back(struct tl_tensor *dst);
void tl_ref_layer_norm_back(struct tl_tensor *dst);
void tl_ref_soft_max_back(struct tl_tensor *dst);
void tl_ref_flash_attn_back(struct tl_tensor *dst);
void tl_ref_lm_loss_back(struct tl_tensor *dst);

// The per-element and per-row math of the gradient ops, shared by their reference
// kernels and the CPU backend's threaded ones (which then give the same bits).
double tl_unary_derivative(enum tl_op f, double x);   // silu, gelu, gelu_tanh
typedef void (*tl_back_row_fn)(const float *a, const float *dy, float *dx, int64_t n, float param);
void tl_rms_norm_back_row(const float *x, const float *dy, float *dx, int64_t n, float eps);
void tl_layer_norm_back_row(const float *x, const float *dy, float *dx, int64_t n, float eps);
void tl_soft_max_back_row(const float *y, const float *dy, float *dx, int64_t n, float scale);
// Where a view_back node puts its gradient: element offset and element strides (st[0] = 1).
void tl_view_back_layout(const struct tl_tensor *t, int64_t *offset, int64_t st[4]);

// The reference kernel of an op (NULL for views, which compute nothing).
tl_ref_kernel tl_op_ref_kernel(enum tl_op op);

// Scalar math shared by reference kernels and fast-path tails.
static inline float tl_silu_f32(float x) { return x / (1.0f + expf(-x)); }
float tl_gelu_erf_f32(float x);
float tl_gelu_tanh_f32(float x);

// Reads any float-typed element as f32.
float tl_load_f32(enum tl_type type, const void *p);
void  tl_store_f32(enum tl_type type, void *p, float v);

// "op: reason (a: f32 [..], b: f32 [..])" as the context's error; returns NULL so a
// builder can `return tl_op_error(...)`.
struct tl_tensor *tl_op_error(struct tl_context *ctx, const char *op, const struct tl_tensor *a,
                              const struct tl_tensor *b, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

// rope helpers shared by the reference kernel and fast paths
void tl_rope_params_of(const struct tl_tensor *t, struct tl_rope_params *p);
void tl_rope_pair(const struct tl_rope_params *p, int i, int *stream, int *freq_i);
// The angle per unit position of frequency index f (freq_scale and YaRN included).
double tl_rope_theta(const struct tl_rope_params *p, int f);
void tl_attn_params_of(const struct tl_tensor *t, struct tl_attn_params *p);
void tl_attn_set_params(struct tl_tensor *t, struct tl_attn_params p);
// The input rules of flash_attn, shared by its backward; false + the context's error.
bool tl_attn_check(struct tl_context *ctx, const char *op, struct tl_tensor *q, struct tl_tensor *k,
                   struct tl_tensor *v, struct tl_tensor *seg_q, struct tl_tensor *seg_k,
                   struct tl_attn_params p);
// sin and cos of a rope angle, scaled by attn_factor; sin negated for the inverse rope
void tl_rope_sincos(const struct tl_rope_params *p, double angle, float *c, float *s);
bool tl_attn_visible(const struct tl_attn_params *p, const int32_t *seg_q, const int32_t *seg_k,
                     int64_t iq, int64_t jk);

// Arena allocation for library-internal objects (graphs); NULL + error when full.
void *tl_ctx_alloc(struct tl_context *ctx, size_t size);
