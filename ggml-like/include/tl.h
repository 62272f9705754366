// tl.h: the longvl tensor library (libtl).
//
// Tensors have a type, up to 4 dimensions ne[0..3] (ne[0] is the fastest) and byte
// strides nb[0..3]. They live in a context, an arena: building an op only records a
// node (op, inputs, parameters) and checks shapes; nothing is computed until a graph is
// executed by a backend. Views share the data of the tensor they look into.
//
// A complete example, f(x) = a*x^2 + b on the CPU:
//
//     struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 1 << 20 });
//     struct tl_tensor *x = tl_new_tensor_1d(ctx, TL_F32, 1);
//     struct tl_tensor *a = tl_new_tensor_1d(ctx, TL_F32, 1);
//     struct tl_tensor *b = tl_new_tensor_1d(ctx, TL_F32, 1);
//     struct tl_tensor *f = tl_add(ctx, tl_mul(ctx, a, tl_mul(ctx, x, x)), b);
//     if (!f) { fprintf(stderr, "%s\n", tl_error(ctx)); exit(1); }
//     struct tl_graph *g = tl_graph_new(ctx, 64);
//     tl_graph_build(g, f);
//     *(float *)x->data = 2; *(float *)a->data = 3; *(float *)b->data = 4;
//     tl_cpu_compute(g, 2);                 // tl-cpu.h; f->data now holds 16
//     tl_free(ctx);
//
// Errors: a builder given bad shapes or types returns NULL and records a message that
// names the op and the shapes (tl_error). A builder given a NULL input returns NULL and
// keeps the first message, so a whole model can be built and checked once at the end.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TL_MAX_DIMS   4
#define TL_MAX_SRC    8
#define TL_MAX_PARAMS 16
#define TL_MAX_NAME   64

// ---------------------------------------------------------------------------------------
// Types. Every type is described by one row of the traits table; the block formats of
// the quantization work add rows there, not cases in every op.
enum tl_type {
    TL_F32 = 0,
    TL_F16,
    TL_BF16,
    TL_I32,
    // block formats, byte-compatible with GGUF's (ggml-like/src/quants/blocks.h)
    TL_Q4_0,
    TL_Q4_1,
    TL_Q8_0,
    TL_Q4_K,
    TL_Q5_K,
    TL_Q6_K,
    TL_Q8_K,   // activations only: the dot partner of the K formats
    // CPU layouts of the block formats, made from them in memory, never in files
    TL_Q4_0_X16,   // Q4_0 with 16 blocks interleaved per group (quants/blocks.h)
    TL_Q4_1_X16,   // Q4_1 likewise
    TL_Q4_K_X8,    // Q4_K with 8 blocks interleaved per group
    TL_Q5_K_X8,    // Q5_K likewise
    TL_Q8_0_X8,    // Q8_0 with 8 blocks interleaved per group
    TL_Q4_K_R8,    // Q4_K matrix with 8 rows interleaved per group (whole panels of 8 rows only)
    TL_Q5_K_R8,    // Q5_K likewise
    TL_Q8_0_R8,    // Q8_0 matrix with 8 rows interleaved per group, as Q8_0_X8 interleaves blocks
    TL_Q4_0_R8,    // Q4_0 matrix with 8 rows interleaved per group
    TL_Q4_1_R8,    // Q4_1 likewise
    TL_Q6_K_R8,    // Q6_K likewise
    TL_TYPE_COUNT,
};

typedef void (*tl_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*tl_from_float_fn)(const float *src, void *dst, int64_t n);
// Dot product of n weights (in the type) with n activations in its vec_dot_type.
typedef float (*tl_vec_dot_fn)(int64_t n, const void *x, const void *y);

#define TL_GGML_NONE UINT32_MAX
struct tl_type_traits {
    const char      *name;
    int64_t          block_size;    // elements per block (1 for plain types)
    size_t           type_size;     // bytes per block
    bool             is_float;      // an element type: F32, F16, BF16
    bool             is_quantized;  // a block format
    uint32_t         ggml_type;     // its number in GGUF files (TL_GGML_NONE: a CPU layout)
    tl_to_float_fn   to_float;      // NULL for I32
    tl_from_float_fn from_float;    // floats: round to nearest even; blocks: GGUF's quantizer
    tl_vec_dot_fn    vec_dot;       // block formats: the reference dot kernel
    enum tl_type     vec_dot_type;  // what activations are quantized to for vec_dot
    int              panel_rows;    // 8 for the layouts whose rows interleave in panels of 8
                                    // (to_float and vec_dot NULL: no row is contiguous); else 0
};

const struct tl_type_traits *tl_type_traits(enum tl_type type);
const char *tl_type_name(enum tl_type type);
size_t tl_row_size(enum tl_type type, int64_t ne0);   // bytes of ne0 elements
// The type of a GGUF/ggml type number; false if libtl does not compute with it.
bool tl_type_from_ggml(uint32_t ggml_type, enum tl_type *type);
// Parses a type name as printed by tl_type_name ("q4_K" and "q4_k" both); false if unknown.
bool tl_type_parse(const char *name, enum tl_type *type);
// The layout the CPU's one-token kernels read fastest for weight rows of ne0 elements
// stored as t (Q4_0 -> Q4_0_X16, Q4_1 -> Q4_1_X16 for rows of at least 512; Q4_K ->
// Q4_K_X8, Q5_K -> Q5_K_X8 for rows of at least 2048; Q8_0 -> Q8_0_X8 for rows of at least
// 256), or t itself.
enum tl_type tl_type_interleaved(enum tl_type t, int64_t ne0);
// The layout the CPU's kernels read fastest for a whole weight matrix of ne1 rows of ne0
// stored as t: Q4_0, Q4_1, Q8_0, Q4_K, Q5_K and Q6_K matrices of a multiple of 8 rows -> their
// R8 layouts, panels of 8 rows (whose rows are no longer contiguous: for mul_mat only);
// otherwise tl_type_interleaved.
enum tl_type tl_type_cpu_layout(enum tl_type t, int64_t ne0, int64_t ne1);
// The file format a CPU layout is made from (Q4_0_X16 -> Q4_0, ...), or t itself.
enum tl_type tl_type_file_format(enum tl_type t);
// n weights, in rows of ne0, from block format `from` to `to`, where one is the other's
// CPU layout: a lossless permutation of each row's bytes (Q5_K's layouts: of its bits; the
// R8 layouts: of each panel of 8 rows; n / ne0 must then be a multiple of 8).
void tl_convert_layout(enum tl_type from, enum tl_type to, const void *src, void *dst, int64_t n, int64_t ne0);
// A weight matrix can be multiplied in this type (float or block format).
static inline bool tl_type_is_weight(const struct tl_type_traits *tt) { return tt->is_float || tt->vec_dot || tt->panel_rows; }

// Formats a message into err (of errlen bytes) if err is not NULL: the error-reporting
// convention of the file readers ("false / NULL, and a message in err").
void tl_errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Seconds on a monotonic clock, for progress and rates.
double tl_time_seconds(void);

uint16_t tl_fp32_to_fp16(float f);
float    tl_fp16_to_fp32(uint16_t h);
uint16_t tl_fp32_to_bf16(float f);
float    tl_bf16_to_fp32(uint16_t h);

// ---------------------------------------------------------------------------------------
// Ops. Each has a builder (below), a scalar reference kernel and usually fast paths.
enum tl_op {
    TL_OP_NONE = 0,   // a leaf: weights or inputs
    // layout (no arithmetic)
    TL_OP_VIEW,       // reshape, view, permute and transpose all make views
    TL_OP_CONT,
    TL_OP_CPY,
    TL_OP_CONCAT,
    TL_OP_GET_ROWS,
    // elementwise
    TL_OP_ADD, TL_OP_SUB, TL_OP_MUL, TL_OP_DIV,
    TL_OP_SCALE,
    TL_OP_SILU, TL_OP_GELU, TL_OP_GELU_TANH,
    TL_OP_SWIGLU,
    // rows
    TL_OP_RMS_NORM, TL_OP_LAYER_NORM,
    TL_OP_SOFT_MAX,
    TL_OP_ROPE,
    TL_OP_ARGMAX,
    // products
    TL_OP_MUL_MAT,
    TL_OP_FLASH_ATTN,
    // losses
    TL_OP_LM_LOSS,
    // gradients (made by tl_build_backward; usable directly)
    TL_OP_SUM_TO,
    TL_OP_VIEW_BACK,
    TL_OP_GET_ROWS_BACK,
    TL_OP_UNARY_BACK,
    TL_OP_RMS_NORM_BACK, TL_OP_LAYER_NORM_BACK,
    TL_OP_SOFT_MAX_BACK,
    TL_OP_FLASH_ATTN_BACK,
    TL_OP_LM_LOSS_BACK,
    TL_OP_COUNT,
};

const char *tl_op_name(enum tl_op op);

enum tl_tensor_flag {
    TL_FLAG_INPUT  = 1,   // the allocator gives it memory that lives for the whole graph
    TL_FLAG_OUTPUT = 2,   // never reused by the allocator
    TL_FLAG_PARAM  = 4,   // wants a gradient: a trainable weight, or a checkpointed input
};

struct tl_tensor {
    enum tl_type type;
    int64_t  ne[TL_MAX_DIMS];   // elements per dimension
    size_t   nb[TL_MAX_DIMS];   // bytes per step in each dimension

    enum tl_op op;
    int32_t  params[TL_MAX_PARAMS];      // op parameters; floats stored bitwise
    struct tl_tensor *src[TL_MAX_SRC];   // inputs, kept for autodiff and recomputation

    struct tl_tensor *view_src;   // for views: the tensor whose data this looks into
    size_t   view_offs;           // byte offset into view_src's data

    void    *data;
    uint32_t flags;
    struct tl_tensor *grad;   // set by tl_build_backward: d loss / d this (f32, same ne)
    char     name[TL_MAX_NAME];
};

// ---------------------------------------------------------------------------------------
// Contexts (arenas).
struct tl_init_params {
    size_t mem_size;   // bytes for tensor metadata (and data unless no_alloc)
    void  *mem_buffer; // optional caller-owned arena; NULL: allocated and owned
    bool   no_alloc;   // true: tensors get no data; a graph allocator assigns it later
};

struct tl_context;

struct tl_context *tl_init(struct tl_init_params params);
void        tl_free(struct tl_context *ctx);
const char *tl_error(const struct tl_context *ctx);   // NULL if no error so far
void        tl_clear_error(struct tl_context *ctx);

// Large buffers (from 2 MiB on) that are streamed from DRAM, on 2 MiB pages where the OS
// offers them (Linux: MADV_HUGEPAGE); 64-byte aligned, released with free(). Contexts,
// graph allocators and the models' weight copies use it. On by default;
// LONGVL_HUGEPAGES=0 or tl_set_huge_pages(false) keeps later buffers on 4 KiB pages.
#define TL_LARGE_BYTES ((size_t)2 << 20)   // from here on a buffer gets 2 MiB pages
void *tl_alloc_large(size_t bytes);
bool  tl_get_huge_pages(void);
void  tl_set_huge_pages(bool on);
size_t      tl_used_mem(const struct tl_context *ctx);

struct tl_tensor *tl_new_tensor(struct tl_context *ctx, enum tl_type type, int n_dims,
                                const int64_t *ne);
struct tl_tensor *tl_new_tensor_1d(struct tl_context *ctx, enum tl_type type, int64_t ne0);
struct tl_tensor *tl_new_tensor_2d(struct tl_context *ctx, enum tl_type type, int64_t ne0,
                                   int64_t ne1);
struct tl_tensor *tl_new_tensor_3d(struct tl_context *ctx, enum tl_type type, int64_t ne0,
                                   int64_t ne1, int64_t ne2);
struct tl_tensor *tl_new_tensor_4d(struct tl_context *ctx, enum tl_type type, int64_t ne0,
                                   int64_t ne1, int64_t ne2, int64_t ne3);

struct tl_tensor *tl_set_name(struct tl_tensor *t, const char *fmt, ...);
void   tl_set_input(struct tl_tensor *t);
void   tl_set_output(struct tl_tensor *t);
void   tl_set_param(struct tl_tensor *t);

int64_t tl_nelements(const struct tl_tensor *t);
int64_t tl_nrows(const struct tl_tensor *t);          // ne1*ne2*ne3
size_t  tl_nbytes(const struct tl_tensor *t);         // bytes spanned by the strides
bool    tl_is_contiguous(const struct tl_tensor *t);  // packed in ne0, ne1, ... order
bool    tl_are_same_shape(const struct tl_tensor *a, const struct tl_tensor *b);
int     tl_n_dims(const struct tl_tensor *t);         // 1..4, trailing 1s dropped
// "f32 [4096, 512, 1, 1]" into buf; returns buf.
const char *tl_shape_str(const struct tl_tensor *t, char *buf, size_t size);

float  tl_get_f32_1d(const struct tl_tensor *t, int64_t i);   // i in ne order, any strides
void   tl_set_f32_1d(struct tl_tensor *t, int64_t i, float v);

// ---------------------------------------------------------------------------------------
// Layout. Views share data; cont and cpy copy.
struct tl_tensor *tl_reshape_2d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                                int64_t ne1);
struct tl_tensor *tl_reshape_3d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                                int64_t ne1, int64_t ne2);
struct tl_tensor *tl_reshape_4d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                                int64_t ne1, int64_t ne2, int64_t ne3);
// A view with its own shape and strides (nb1..nb3) at a byte offset into a.
struct tl_tensor *tl_view_4d(struct tl_context *ctx, struct tl_tensor *a, int64_t ne0,
                             int64_t ne1, int64_t ne2, int64_t ne3, size_t nb1, size_t nb2,
                             size_t nb3, size_t offset);
// Axis i of a becomes axis axes[i] of the result (ggml's convention).
struct tl_tensor *tl_permute(struct tl_context *ctx, struct tl_tensor *a, int ax0, int ax1,
                             int ax2, int ax3);
struct tl_tensor *tl_transpose(struct tl_context *ctx, struct tl_tensor *a);  // swap 0, 1
struct tl_tensor *tl_cont(struct tl_context *ctx, struct tl_tensor *a);
// Copies a into b (same element count, type converted); returns a view of b.
struct tl_tensor *tl_cpy(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b);
// A new contiguous tensor of the given type holding a's values.
struct tl_tensor *tl_cast(struct tl_context *ctx, struct tl_tensor *a, enum tl_type type);
struct tl_tensor *tl_concat(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b,
                            int dim);
// a [E, R, B2, B3] (any float type), ids I32 [n, B2, B3] -> F32 [E, n, B2, B3]
struct tl_tensor *tl_get_rows(struct tl_context *ctx, struct tl_tensor *a,
                              struct tl_tensor *ids);

// ---------------------------------------------------------------------------------------
// Elementwise. Binary ops broadcast b over a: each b->ne[i] must divide a->ne[i].
struct tl_tensor *tl_add(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b);
struct tl_tensor *tl_sub(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b);
struct tl_tensor *tl_mul(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b);
struct tl_tensor *tl_div(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b);
struct tl_tensor *tl_scale(struct tl_context *ctx, struct tl_tensor *a, float s);
struct tl_tensor *tl_silu(struct tl_context *ctx, struct tl_tensor *a);
struct tl_tensor *tl_gelu(struct tl_context *ctx, struct tl_tensor *a);       // exact (erf)
struct tl_tensor *tl_gelu_tanh(struct tl_context *ctx, struct tl_tensor *a);  // tanh approx
// silu(gate) * up, same shapes
struct tl_tensor *tl_swiglu(struct tl_context *ctx, struct tl_tensor *gate,
                            struct tl_tensor *up);

// ---------------------------------------------------------------------------------------
// Row ops (over ne0).
struct tl_tensor *tl_rms_norm(struct tl_context *ctx, struct tl_tensor *a, float eps);
struct tl_tensor *tl_layer_norm(struct tl_context *ctx, struct tl_tensor *a, float eps);
// softmax(a*scale + mask); mask (optional) F32 [ne0, >= ne1], broadcast over dims 2-3.
struct tl_tensor *tl_soft_max(struct tl_context *ctx, struct tl_tensor *a,
                              struct tl_tensor *mask, float scale);
// F32 -> I32 [ne1, ne2, ne3]: index of the largest value of each row (first on ties)
struct tl_tensor *tl_argmax(struct tl_context *ctx, struct tl_tensor *a);

// Rotary position embeddings on a [D, H, N, B] (head dim, heads, tokens).
// pos is I32 [N * n_streams]: stream s of token n at pos[s*N + n].
//   TL_ROPE_NEOX:   pairs (i, i + n_dims/2), i < n_dims/2, angle pos0 * base^(-2i/n_dims)
//   TL_ROPE_MROPE:  as NEOX, but pair i takes its position from stream t/h/w by
//                   sections[] (Qwen2.5-VL: [16, 24, 24, 0], n_dims 128)
//   TL_ROPE_VISION: pairs (i, i + n_dims), i < n_dims; i < sections[0] uses stream 0
//                   with j = i, otherwise stream 1 with j = i - sections[0];
//                   angle pos * base^(-2j/n_dims) (Qwen2.5-VL ViT: n_dims 40, [20, 20])
// Dims past the rotated ones pass through. Angles are also multiplied by freq_scale
// and cos/sin by attn_factor (1 and 1 unless a scaling rule says otherwise).
// YaRN (yarn_factor > 1; 0 = off): the frequency of index f is blended between itself
// (extrapolated) and itself / yarn_factor (interpolated) with
// r = clamp((f - yarn_low) / (yarn_high - yarn_low), 0, 1) (yarn_high += 0.001 when equal):
// theta = base^(-2f/n_dims) * ((1 - r) + r / yarn_factor), as HuggingFace's yarn rope.
enum tl_rope_mode { TL_ROPE_NEOX = 0, TL_ROPE_MROPE = 1, TL_ROPE_VISION = 2 };

struct tl_rope_params {
    enum tl_rope_mode mode;
    int   n_dims;
    int   sections[4];
    float freq_base;
    float freq_scale;    // 0 means 1
    float attn_factor;   // 0 means 1
    float yarn_factor;   // 0 means no YaRN blend
    float yarn_low, yarn_high;
    bool  inverse;       // rotate by -angle: the transpose, i.e. rope's backward
};

struct tl_tensor *tl_rope(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *pos,
                          struct tl_rope_params p);

// ---------------------------------------------------------------------------------------
// Products.
// a [K, M, A2, A3] (F32, F16, BF16 weights), b F32 [K, N, B2, B3] -> F32 [M, N, B2, B3],
// result[n][m] = sum_k a[m][k] * b[n][k]; B2 % A2 == 0, B3 % A3 == 0 (a broadcast).
struct tl_tensor *tl_mul_mat(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b);

// Fused chunked attention (online softmax; never an N x N matrix).
// q F32 [D, Nq, Hq, B], k and v F32 or F16 [D, Nk, Hkv, B], Hq % Hkv == 0 (GQA: query
// head h uses kv head h / (Hq/Hkv)). Any strides with contiguous ne0.
// Result F32 [D, Hq, Nq, B] (heads before tokens, ready to reshape to [D*Hq, Nq]).
// Query i sits at key index q_offset + i. Key j is visible to query i when
//   causal:   j <= q_offset + i
//   window>0: |q_offset + i - j| < window
//   segments: seg_q[i] == seg_k[j] (I32 [Nq] and [Nk]; packed sequences, ViT windows)
// A query that sees no key gets zeros.
struct tl_attn_params {
    float   scale;      // usually 1/sqrt(D)
    bool    causal;
    int32_t q_offset;
    int32_t window;     // 0: none
};

struct tl_tensor *tl_flash_attn(struct tl_context *ctx, struct tl_tensor *q,
                                struct tl_tensor *k, struct tl_tensor *v,
                                struct tl_tensor *seg_q, struct tl_tensor *seg_k,
                                struct tl_attn_params p);

// ---------------------------------------------------------------------------------------
// Losses.
// The language-model loss fused with the output projection, so that the logits of all
// tokens never exist at once (128K tokens x 152K vocabulary would be 80 GB of f32): the
// tokens go through in chunks of `chunk`, and only [V, chunk] logits live at a time.
// w [H, V] (F32, F16 or BF16), h F32 [H, N], targets I32 [N] (outside [0, V): no loss
// there, e.g. -1 on every token that is not part of an answer)
// -> F32 [1] = sum over counted tokens n of logsumexp_v(w_v . h_n) - w_t . h_n, t = target_n.
struct tl_tensor *tl_lm_loss(struct tl_context *ctx, struct tl_tensor *w, struct tl_tensor *h,
                             struct tl_tensor *targets, int chunk);

// ---------------------------------------------------------------------------------------
// Gradient ops: what tl_build_backward (below, after graphs) builds gradients from.
// All results are contiguous f32.
// a summed over the dims that a binary op broadcast to it: F32 [ne], each ne[i] dividing
// a->ne[i], element i of a added to element i mod ne.
struct tl_tensor *tl_sum_to(struct tl_context *ctx, struct tl_tensor *a, const int64_t ne[4]);
// The gradient of a view's source: F32 [ne], zero except dy added where the view lay.
// The view's element strides st[1..3] (st[0] = 1) and element offset are into the source
// as if it were contiguous.
struct tl_tensor *tl_view_back(struct tl_context *ctx, struct tl_tensor *dy, const int64_t ne[4],
                               const int64_t st[4], int64_t offset);
// The gradient of get_rows' table: F32 [E, n_rows, B2, B3], dy's rows added at ids.
struct tl_tensor *tl_get_rows_back(struct tl_context *ctx, struct tl_tensor *dy,
                                   struct tl_tensor *ids, int64_t n_rows);
// dy * f'(x) for f = silu, gelu or gelu_tanh (the forward op).
struct tl_tensor *tl_unary_back(struct tl_context *ctx, enum tl_op f, struct tl_tensor *x,
                                struct tl_tensor *dy);
// dx of rms_norm / layer_norm (no affine part) at input x with upstream dy.
struct tl_tensor *tl_rms_norm_back(struct tl_context *ctx, struct tl_tensor *x,
                                   struct tl_tensor *dy, float eps);
struct tl_tensor *tl_layer_norm_back(struct tl_context *ctx, struct tl_tensor *x,
                                     struct tl_tensor *dy, float eps);
// dx of y = soft_max(x * scale + mask), from y and dy: scale * y * (dy - sum(dy * y)).
struct tl_tensor *tl_soft_max_back(struct tl_context *ctx, struct tl_tensor *y,
                                   struct tl_tensor *dy, float scale);
// Fused attention backward: recomputes the scores tile by tile (O(N) memory). out and
// dout are the forward result and its gradient, [D, Hq, Nq, B]. The result packs
// dq [D, Nq, Hq, B], then dk and dv [D, Nk, Hkv, B] (contiguous, in that order) into one
// F32 tensor; tl_flash_attn_back_part(ctx, packed, 0..2) views dq, dk or dv.
struct tl_tensor *tl_flash_attn_back(struct tl_context *ctx, struct tl_tensor *q,
                                     struct tl_tensor *k, struct tl_tensor *v,
                                     struct tl_tensor *seg_q, struct tl_tensor *seg_k,
                                     struct tl_tensor *out, struct tl_tensor *dout,
                                     struct tl_attn_params p);
struct tl_tensor *tl_flash_attn_back_part(struct tl_context *ctx, struct tl_tensor *packed,
                                          int which);
// Backward of tl_lm_loss with upstream gradient dloss (F32 [1]): packs dh [H, N] and,
// when want_dw, dw [H, V] after it into one F32 tensor; tl_lm_loss_back_part views them.
struct tl_tensor *tl_lm_loss_back(struct tl_context *ctx, struct tl_tensor *w,
                                  struct tl_tensor *h, struct tl_tensor *targets,
                                  struct tl_tensor *dloss, int chunk, bool want_dw);
struct tl_tensor *tl_lm_loss_back_part(struct tl_context *ctx, struct tl_tensor *packed,
                                       int which);

// ---------------------------------------------------------------------------------------
// Graphs: the nodes reachable from the outputs, in an order where every input comes
// before its users.
struct tl_graph {
    int n_nodes;
    int n_leafs;
    int capacity;
    struct tl_tensor **nodes;   // tensors made by ops (views included)
    struct tl_tensor **leafs;   // tensors without an op
};

struct tl_graph *tl_graph_new(struct tl_context *ctx, int capacity);
// Adds out and everything it depends on; marks out as an output. false if out is NULL
// or the capacity is exceeded (the message is in tl_error).
bool tl_graph_build(struct tl_graph *g, struct tl_tensor *out);

// Autodiff.
// tl_build_backward gives every tensor of gf that depends on a TL_FLAG_PARAM tensor and
// that `loss` depends on a gradient, t->grad = d sum(loss * seed) / d t (f32, t's shape),
// built as new nodes of ctx; seed is f32 of loss's shape (the upstream gradient, e.g.
// 1/answer tokens; an input the caller fills). gb then holds the loss and every param's
// gradient, with the forward nodes they need. false + tl_error when an op on the path
// has no backward rule or a gradient would reach a type it cannot (a block format).
bool tl_build_backward(struct tl_context *ctx, struct tl_graph *gf, struct tl_tensor *loss,
                       struct tl_tensor *seed, struct tl_graph *gb);

// ---------------------------------------------------------------------------------------
// Graph allocator: assigns data to the tensors of a no_alloc context, reusing the memory
// of intermediates once their last user has run. Inputs (TL_FLAG_INPUT, or leafs without
// data) and outputs live for the whole graph.
struct tl_gallocr;

struct tl_gallocr *tl_gallocr_new(void);
void   tl_gallocr_free(struct tl_gallocr *a);
// Plans and allocates; false on out-of-memory. Tensors that already have data are kept.
bool   tl_gallocr_alloc_graph(struct tl_gallocr *a, struct tl_graph *g);
size_t tl_gallocr_peak_bytes(const struct tl_gallocr *a);   // size of the buffer used
size_t tl_gallocr_sum_bytes(const struct tl_gallocr *a);    // without reuse, for comparison

#ifdef __cplusplus
}
#endif
