// Which nodes run on the device, and the dispatch of each: pipeline, bindings, push
// constants (in the order the shader's push_constant block declares them), group counts.
#include "vk-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_f32(const struct tl_tensor *t) { return t && t->type == TL_F32; }
// The index of a type in the cpy pipelines' [source][destination] table; -1: no shader.
static int copy_type(enum tl_type type) {
    return type == TL_F32 ? 0 : type == TL_F16 ? 1 : type == TL_BF16 ? 2 : -1;
}

int vk_weight_index(const struct tl_vk_backend *vk, enum tl_type type) {
    switch (type) {
    case TL_F32: return VK_W_F32;
    case TL_F16: return vk->info.fp16_storage ? VK_W_F16 : -1;
    case TL_BF16: return VK_W_BF16;
    case TL_Q8_0: return VK_W_Q8_0;
    case TL_Q4_0: return VK_W_Q4_0;
    case TL_Q4_K: return VK_W_Q4_K;
    case TL_Q6_K: return VK_W_Q6_K;
    default: return -1;
    }
}

static int kv_index(const struct tl_vk_backend *vk, enum tl_type type) {
    switch (type) {
    case TL_F32: return VK_KV_F32;
    case TL_F16: return vk->info.fp16_storage ? VK_KV_F16 : -1;
    case TL_Q8_0: return VK_KV_Q8_0;
    case TL_Q4_0: return VK_KV_Q4_0;
    default: return -1;
    }
}

// Block-format data is read as 16-bit scales at even byte offsets.
static bool even_address(const struct tl_tensor *t) { return ((uintptr_t)t->data & 1) == 0; }

// cpy_quant.comp: f32 into Q8_0 / Q4_0 blocks, each block 32 elements of one row of the
// source and written as 16-bit words (even addresses and strides).
static bool quantizing_copy(const struct tl_vk_backend *vk, const struct tl_tensor *t) {
    const struct tl_tensor *a = t->src[0];
    if (!vk->info.fp16_storage || a->type != TL_F32 || (t->type != TL_Q8_0 && t->type != TL_Q4_0)) return false;
    if (a->ne[0] % 32 || t->ne[0] % 32 || !even_address(t)) return false;
    for (int i = 1; i < 4; i++)
        if (t->nb[i] % 2) return false;
    return true;
}

#define VK_ATTN_MAX_D 256   // flash_attn.comp's WG * DPT

bool vk_op_supported(const struct tl_vk_backend *vk, const struct tl_tensor *t) {
    const struct tl_tensor *a = t->src[0], *b = t->src[1];
    if (tl_nelements(t) >= ((int64_t)1 << 31)) return false;   // 32-bit indices in the shaders
    bool f16 = vk->info.fp16_storage;
    switch (t->op) {
    case TL_OP_ADD: case TL_OP_SUB: case TL_OP_MUL: case TL_OP_DIV: case TL_OP_SWIGLU:
        return is_f32(a) && is_f32(b) && is_f32(t);
    case TL_OP_SCALE: case TL_OP_SILU: case TL_OP_GELU: case TL_OP_GELU_TANH:
    case TL_OP_RMS_NORM: case TL_OP_LAYER_NORM:
        return is_f32(a) && is_f32(t);
    case TL_OP_SOFT_MAX:
        return is_f32(a) && (!b || (is_f32(b) && b->nb[0] == sizeof(float)));
    case TL_OP_ROPE:   // the host reads the positions to build the cos/sin table
        return is_f32(a) && a->nb[0] == sizeof(float) && vk_host_leaf(b);
    case TL_OP_GET_ROWS:
        return (a->type == TL_F32 || (f16 && a->type == TL_F16)) && b->type == TL_I32;
    case TL_OP_CONT: case TL_OP_CPY:   // the 16-bit types need 16-bit storage
        if (tl_type_traits(t->type)->is_quantized) return quantizing_copy(vk, t);
        return copy_type(a->type) >= 0 && copy_type(t->type) >= 0 && (f16 || (a->type == TL_F32 && t->type == TL_F32));
    case TL_OP_MUL_MAT:
        return vk_weight_index(vk, a->type) >= 0 && is_f32(b) && even_address(a);
    case TL_OP_CONCAT:
        return tl_row_size(a->type, 1) == 4 || (f16 && a->type == TL_F16);
    case TL_OP_ARGMAX:
        return is_f32(a);
    case TL_OP_FLASH_ATTN:
        return kv_index(vk, b->type) >= 0 && a->ne[0] <= VK_ATTN_MAX_D && even_address(b) && even_address(t->src[2]);
    default:   // the backward and loss ops (vk-ops-grad.c); false for any other
        return vk_grad_supported(vk, t);
    }
}

// --- per op -----------------------------------------------------------------------------
static void prep_binary(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0], *b = t->src[1];
    d->pipe = VK_PIPE_BINARY;
    uint32_t oa = vk_bind(m, d, a, false), ob = vk_bind(m, d, b, false), od = vk_bind(m, d, t, true);
    uint32_t op = t->op == TL_OP_ADD ? 0 : t->op == TL_OP_SUB ? 1 : t->op == TL_OP_MUL ? 2 : t->op == TL_OP_DIV ? 3 : 4;
    vk_push_u32(d, op);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_ne(d, t);
    vk_push_nb(d, t);
    vk_push_u32(d, od);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_ne(d, b);
    vk_push_nb(d, b);
    vk_push_u32(d, ob);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
}

static void prep_unary(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0];
    d->pipe = VK_PIPE_UNARY;
    uint32_t oa = vk_bind(m, d, a, false), od = vk_bind(m, d, t, true);
    vk_push_u32(d, t->op == TL_OP_SCALE ? 0 : t->op == TL_OP_SILU ? 1 : t->op == TL_OP_GELU ? 2 : 3);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_f32(d, t->op == TL_OP_SCALE ? tl_param_f32(t, 0) : 1.0f);
    vk_push_ne(d, t);
    vk_push_nb(d, t);
    vk_push_u32(d, od);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
}

static void prep_norm(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0];
    d->pipe = VK_PIPE_NORM;
    uint32_t oa = vk_bind(m, d, a, false), od = vk_bind(m, d, t, true);
    vk_push_u32(d, t->op == TL_OP_LAYER_NORM);
    vk_push_f32(d, tl_param_f32(t, 0));
    vk_push_ne(d, a);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nrows(a), 1);
}

static void prep_soft_max(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0], *mask = t->src[1];
    d->pipe = VK_PIPE_SOFT_MAX;
    uint32_t oa = vk_bind(m, d, a, false), om = vk_bind(m, d, mask ? mask : a, false), od = vk_bind(m, d, t, true);
    vk_push_u32(d, mask != NULL);
    vk_push_f32(d, tl_param_f32(t, 0));
    vk_push_ne(d, a);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_u32(d, od);
    vk_push_u32(d, mask ? (uint32_t)(mask->nb[1] / sizeof(float)) : 0);
    vk_push_u32(d, mask ? om : 0);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nrows(a), 1);
}

// cos/sin for every (token, pair), computed like the CPU kernels (double angles, float
// products with the attention factor), uploaded as the dispatch's own scratch.
static bool prep_rope(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                      size_t errlen) {
    const struct tl_tensor *a = t->src[0], *pos = t->src[1];
    struct tl_rope_params p;
    tl_rope_params_of(t, &p);
    int n_pairs = p.mode == TL_ROPE_VISION ? p.n_dims : p.n_dims / 2;
    int64_t n_tok = a->ne[2];
    const int32_t *ps = pos->data;   // positions are host inputs (leaves)
    size_t bytes = (size_t)n_tok * n_pairs * 2 * sizeof(float);
    float *cs = malloc(bytes ? bytes : 8);
    if (!cs) abort();
    for (int i = 0; i < n_pairs; i++) {
        int s, f;
        tl_rope_pair(&p, i, &s, &f);
        double theta = tl_rope_theta(&p, f);
        for (int64_t k = 0; k < n_tok; k++) {
            double ang = (double)ps[s * n_tok + k] * theta;
            tl_rope_sincos(&p, ang, &cs[2 * (k * n_pairs + i)], &cs[2 * (k * n_pairs + i) + 1]);
        }
    }
    struct vk_piece *table = vk_plan_upload(m->vk, plan, cs, bytes, err, errlen);
    free(cs);
    if (!table) return false;
    struct vk_dispatch *d = vk_plan_add(plan);
    d->pipe = VK_PIPE_ROPE;
    uint32_t oa = vk_bind(m, d, a, false);
    vk_bind_piece(d, table, false);
    uint32_t od = vk_bind(m, d, t, true);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_u32(d, (uint32_t)n_pairs);
    vk_push_ne(d, a);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_u32(d, od);
    vk_push_u32(d, 0);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
    return true;
}

static void prep_get_rows(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0], *ids = t->src[1];
    d->pipe = a->type == TL_F16 ? VK_PIPE_GET_ROWS_F16 : VK_PIPE_GET_ROWS_F32;
    uint32_t oa = vk_bind(m, d, a, false), oi = vk_bind(m, d, ids, false), od = vk_bind(m, d, t, true);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_u32(d, (uint32_t)a->ne[1]);
    vk_push_ne(d, t);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_nb(d, ids);
    vk_push_u32(d, oi);
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
}

// A block per invocation; the destination's shape in blocks, its strides in bytes.
static void prep_cpy_quant(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0];
    d->pipe = t->type == TL_Q8_0 ? VK_PIPE_CPY_Q8_0 : VK_PIPE_CPY_Q4_0;
    uint32_t oa = vk_bind(m, d, a, false), od = vk_bind(m, d, t, true);
    uint32_t n_blocks = (uint32_t)(tl_nelements(t) / 32);
    vk_push_u32(d, n_blocks);
    vk_push_ne(d, a);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_u32(d, (uint32_t)(t->ne[0] / 32));
    for (int i = 1; i < 4; i++) vk_push_u32(d, (uint32_t)t->ne[i]);
    vk_push_nb(d, t);   // bytes: vk_elem_bytes of a block format is 1
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, n_blocks, 64);
}

static void prep_cpy(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0];
    if (tl_type_traits(t->type)->is_quantized) {
        prep_cpy_quant(m, t, d);
        return;
    }
    d->pipe = (enum vk_pipe)(VK_PIPE_CPY + 3 * copy_type(a->type) + copy_type(t->type));
    uint32_t oa = vk_bind(m, d, a, false), od = vk_bind(m, d, t, true);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_ne(d, a);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_ne(d, t);
    vk_push_nb(d, t);
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
}

// Up to VK_GEMV_MAX_N columns: one workgroup per weight row (mul_vec.comp); more:
// register tiles (mul_mat.comp), K split when the output is small (vk_gemm_split) and
// allowed. Both take the same bindings and push constants. t = a x b, as views of the
// node's tensors when the node is done in parts; tensor_cores is the node's choice
// (vk_gemm_on_tensor_cores), so that all its parts round alike.
static bool prep_mul_mat_part(struct tl_vk_mirror *m, const struct tl_tensor *t, const struct tl_tensor *a,
                              const struct tl_tensor *b, bool allow_k_split, bool tensor_cores, struct vk_plan *plan,
                              char *err, size_t errlen) {
    int w = vk_weight_index(m->vk, a->type);
    bool gemv = b->ne[1] <= VK_GEMV_MAX_N && !tensor_cores;
    uint32_t batches = (uint32_t)(b->ne[2] * b->ne[3]);
    struct vk_gemm g = { .K = (uint32_t)a->ne[0], .M = (uint32_t)a->ne[1], .N = (uint32_t)b->ne[1],
                         .b2 = (uint32_t)b->ne[2], .b3 = (uint32_t)b->ne[3],
                         .r2 = (uint32_t)(b->ne[2] / a->ne[2]), .r3 = (uint32_t)(b->ne[3] / a->ne[3]) };
    for (int i = 0; i < 4; i++) {
        g.sa[i] = (uint32_t)(a->nb[i] / vk_elem_bytes(a->type));
        g.sb[i] = (uint32_t)(b->nb[i] / vk_elem_bytes(b->type));
    }
    uint32_t splits = gemv || !allow_k_split ? 1 : vk_gemm_split(&g, batches);
    size_t n_out = (size_t)g.M * g.N * batches;   // small when split
    struct vk_piece *part = NULL;
    if (splits > 1 && !(part = vk_plan_scratch(m->vk, plan, splits * n_out * sizeof(float), err, errlen)))
        return false;
    struct vk_dispatch *d = vk_plan_add(plan);
    g.off_a = vk_bind(m, d, a, false);
    g.off_b = vk_bind(m, d, b, false);
    if (part) {
        vk_bind_piece(d, part, true);
    } else {
        g.off_d = vk_bind(m, d, t, true);
        g.ldd = (uint32_t)(t->nb[1] / sizeof(float));
    }
    vk_push_gemm(d, &g);
    if (gemv) {
        d->pipe = (enum vk_pipe)((m->vk->use_subgroups ? VK_PIPE_MUL_VEC_SG : VK_PIPE_MUL_VEC) + w);
        vk_flat_groups(m->vk, d, (uint64_t)a->ne[1], 1);
    } else {
        vk_gemm_tiles(m->vk, d, w, g.M, g.N, tensor_cores);
    }
    d->groups[2] = batches * splits;
    if (part) vk_add_splits(m, plan, part, t, 0, (uint32_t)n_out, splits);
    return true;
}

// Bytes one binding may span: maxStorageBufferRange less the slack of its aligned start.
static VkDeviceSize binding_limit(const struct tl_vk_backend *vk) { return vk->max_range - vk->align; }

static bool binds_whole(const struct tl_vk_backend *vk, const struct tl_tensor *t) {
    if (tl_nbytes(t) > binding_limit(vk)) return false;
    for (int i = 0; i < TL_MAX_SRC; i++)
        if (t->src[i] && tl_nbytes(t->src[i]) > binding_limit(vk)) return false;
    return true;
}

// Batch (i2, i3) of x as a 2-D view.
static struct tl_tensor batch_view(const struct tl_tensor *x, int64_t i2, int64_t i3) {
    struct tl_tensor v = *x;
    v.data = (char *)x->data + i2 * x->nb[2] + i3 * x->nb[3];
    v.ne[2] = v.ne[3] = 1;
    return v;
}

// A product whose weights, activations or output span more than one binding reaches (a
// vocabulary matrix, or a batched product, on a device with a small
// maxStorageBufferRange) runs in parts: batch by batch, and within a batch *rows weight
// rows by *cols activation columns, each part's three ranges bound alone.
static bool mul_mat_parts(const struct tl_vk_backend *vk, const struct tl_tensor *t, int64_t *rows, int64_t *cols) {
    const struct tl_tensor *a = t->src[0], *b = t->src[1];
    const VkDeviceSize limit = binding_limit(vk);
    const size_t a_row = tl_row_size(a->type, a->ne[0]), b_row = (size_t)b->ne[0] * sizeof(float);
    if (a_row > limit || b_row > limit || t->nb[0] != sizeof(float)) return false;
    int64_t mc = (int64_t)((limit - a_row) / a->nb[1]) + 1;   // (mc - 1) * nb1 + a_row <= limit
    mc = TL_MIN(mc, (int64_t)(limit / sizeof(float)));
    mc = TL_MIN(mc, a->ne[1]);
    int64_t nc_out = (int64_t)((limit - (size_t)mc * sizeof(float)) / t->nb[1]) + 1;
    int64_t nc_in = (int64_t)((limit - b_row) / b->nb[1]) + 1;
    *rows = mc;
    *cols = TL_MIN(TL_MIN(nc_out, nc_in), b->ne[1]);
    return true;
}

bool vk_fits(const struct tl_vk_backend *vk, const struct tl_tensor *t) {
    int64_t rows, cols;
    return binds_whole(vk, t) || (t->op == TL_OP_MUL_MAT && mul_mat_parts(vk, t, &rows, &cols));
}

// One batch of a product in parts (mul_mat_parts): views of a, b and t.
static bool prep_mul_mat_batch(struct tl_vk_mirror *m, const struct tl_tensor *t, const struct tl_tensor *a,
                               const struct tl_tensor *b, int64_t rows, int64_t cols, bool tensor_cores,
                               struct vk_plan *plan, char *err, size_t errlen) {
    for (int64_t m0 = 0; m0 < a->ne[1]; m0 += rows)
        for (int64_t n0 = 0; n0 < b->ne[1]; n0 += cols) {
            struct tl_tensor ap = *a, bp = *b, dp = *t;   // views: only data and shape differ
            ap.data = (char *)a->data + m0 * a->nb[1];
            ap.ne[1] = TL_MIN(rows, a->ne[1] - m0);
            bp.data = (char *)b->data + n0 * b->nb[1];
            bp.ne[1] = TL_MIN(cols, b->ne[1] - n0);
            dp.data = (char *)t->data + n0 * t->nb[1] + m0 * t->nb[0];
            dp.ne[0] = ap.ne[1];
            dp.ne[1] = bp.ne[1];
            if (!prep_mul_mat_part(m, &dp, &ap, &bp, false, tensor_cores, plan, err, errlen)) return false;
        }
    return true;
}

static bool prep_mul_mat(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                         size_t errlen) {
    const struct tl_tensor *a = t->src[0], *b = t->src[1];
    int64_t rows, cols;
    bool tensor_cores = vk_gemm_on_tensor_cores(m->vk, vk_weight_index(m->vk, a->type), b->ne[1]);
    if (binds_whole(m->vk, t) || !mul_mat_parts(m->vk, t, &rows, &cols))
        return prep_mul_mat_part(m, t, a, b, true, tensor_cores, plan, err, errlen);
    const int64_t r2 = b->ne[2] / a->ne[2], r3 = b->ne[3] / a->ne[3];   // a broadcast over b's batches
    for (int64_t i3 = 0; i3 < b->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < b->ne[2]; i2++) {
            struct tl_tensor ab = batch_view(a, i2 / r2, i3 / r3), bb = batch_view(b, i2, i3), tb = batch_view(t, i2, i3);
            if (!prep_mul_mat_batch(m, &tb, &ab, &bb, rows, cols, tensor_cores, plan, err, errlen)) return false;
        }
    return true;
}

static void prep_concat(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0], *b = t->src[1];
    d->pipe = a->type == TL_F16 ? VK_PIPE_CONCAT_F16 : VK_PIPE_CONCAT_32;
    uint32_t oa = vk_bind(m, d, a, false), ob = vk_bind(m, d, b, false), od = vk_bind(m, d, t, true);
    vk_push_u32(d, (uint32_t)tl_nelements(t));
    vk_push_u32(d, (uint32_t)t->params[0]);
    vk_push_ne(d, t);
    vk_push_ne(d, a);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_nb(d, b);
    vk_push_u32(d, ob);
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nelements(t), 256);
}

static void prep_argmax(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_dispatch *d) {
    const struct tl_tensor *a = t->src[0];
    d->pipe = VK_PIPE_ARGMAX;
    uint32_t oa = vk_bind(m, d, a, false), od = vk_bind(m, d, t, true);
    vk_push_ne(d, a);
    vk_push_nb(d, a);
    vk_push_u32(d, oa);
    vk_push_u32(d, od);
    vk_flat_groups(m->vk, d, (uint64_t)tl_nrows(a), 1);
}

// The push constants flash_attn.comp and attn_back.glsl share: the shapes, and q, k, v
// by strides of dims 1-3 (ne0 is contiguous) and offsets.
void vk_push_attn_shapes(struct vk_dispatch *d, const struct tl_tensor *q, const struct tl_tensor *k,
                         const struct tl_tensor *v, uint32_t oq, uint32_t ok, uint32_t ov) {
    vk_push_u32(d, (uint32_t)q->ne[0]);
    vk_push_u32(d, (uint32_t)q->ne[1]);
    vk_push_u32(d, (uint32_t)k->ne[1]);
    vk_push_u32(d, (uint32_t)q->ne[2]);
    vk_push_u32(d, (uint32_t)(q->ne[2] / k->ne[2]));
    vk_push_u32(d, (uint32_t)q->ne[3]);
    vk_push_nb_from(d, q, 1);
    vk_push_u32(d, oq);
    vk_push_nb_from(d, k, 1);
    vk_push_u32(d, ok);
    vk_push_nb_from(d, v, 1);
    vk_push_u32(d, ov);
}

// ... and the mask: segments (their offsets; 0 when absent), scale, causal, offset, window.
void vk_push_attn_mask(struct vk_dispatch *d, const struct tl_tensor *t, uint32_t osq, uint32_t osk) {
    struct tl_attn_params ap;
    tl_attn_params_of(t, &ap);
    bool segs = t->src[3] != NULL;
    vk_push_u32(d, segs);
    vk_push_u32(d, segs ? osq : 0);
    vk_push_u32(d, segs ? osk : 0);
    vk_push_f32(d, ap.scale);
    vk_push_u32(d, ap.causal);
    vk_push_u32(d, (uint32_t)ap.q_offset);
    vk_push_u32(d, (uint32_t)ap.window);
}

#define VK_ATTN_TILE        32     // flash_attn.comp's TILE
#define VK_ATTN_GROUPS      2048   // split the keys until about this many workgroups run ...
#define VK_ATTN_MIN_SPLIT   128    // ... but no split shorter than this many keys
#define VK_ATTN_BLOCK_Q     64     // flash_attn_tile.comp's BQ: queries a workgroup
#define VK_ATTN_BLOCK_MAX_D 128    // ... and its largest head
#define VK_ATTN_BLOCK_MIN_Q 16     // from this many queries a head on, blocks of queries
#define VK_ATTN_GQA_TILE    128    // flash_attn_gqa.comp's TILE and largest head ...
#define VK_ATTN_GQA_MAX_G   8      // ... and its largest group of query heads a KV head

// Many queries (prefill, training): blocks of VK_ATTN_BLOCK_Q queries of one head a
// workgroup (flash_attn_tile.comp). Otherwise (decoding) one workgroup per (query, KV
// head, batch) for all the query heads of its group (flash_attn_gqa.comp), or per (query,
// head, batch) where the group or head is larger than that kernel takes
// (flash_attn.comp); few rows over many keys split the keys too, each split's partial
// softmax going to a scratch that attn_combine.comp merges into t. Segments bind q in
// their place when absent.
static bool prep_flash_attn(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                            size_t errlen) {
    const struct tl_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2], *sq = t->src[3], *sk = t->src[4];
    uint64_t rows = (uint64_t)(q->ne[1] * q->ne[2] * q->ne[3]), Nk = (uint64_t)k->ne[1];
    uint64_t group = (uint64_t)(q->ne[2] / k->ne[2]);
    bool blocks = m->vk->shared_32k && q->ne[1] >= VK_ATTN_BLOCK_MIN_Q && q->ne[0] <= VK_ATTN_BLOCK_MAX_D;
    bool gqa = !blocks && group <= VK_ATTN_GQA_MAX_G && q->ne[0] <= VK_ATTN_GQA_TILE;
    uint64_t units = gqa ? rows / group : rows, tile = gqa ? VK_ATTN_GQA_TILE : VK_ATTN_TILE;   // workgroups a split
    uint64_t want = (VK_ATTN_GROUPS + units - 1) / units, most = (Nk + VK_ATTN_MIN_SPLIT - 1) / VK_ATTN_MIN_SPLIT;
    uint64_t n_split = blocks ? 1 : want < most ? want : most > 0 ? most : 1;
    // whole tiles per split; rounding up may leave fewer splits than asked for
    uint64_t split_keys = ((Nk + n_split - 1) / n_split + tile - 1) / tile * tile;
    if (split_keys > 0) n_split = (Nk + split_keys - 1) / split_keys;
    else split_keys = tile;   // no keys: one split, which writes zeros
    struct vk_piece *part = NULL;
    if (n_split > 1) {
        part = vk_plan_scratch(m->vk, plan, n_split * rows * (size_t)(q->ne[0] + 2) * sizeof(float), err, errlen);
        if (!part) return false;
    }
    struct vk_dispatch *d = vk_plan_add(plan);
    d->pipe = (enum vk_pipe)((blocks ? VK_PIPE_FLASH_ATTN_TILE : gqa ? VK_PIPE_FLASH_ATTN_GQA : VK_PIPE_FLASH_ATTN) +
                             kv_index(m->vk, k->type));
    uint32_t oq = vk_bind(m, d, q, false), ok = vk_bind(m, d, k, false), ov = vk_bind(m, d, v, false);
    uint32_t osq = vk_bind(m, d, sq ? sq : q, false), osk = vk_bind(m, d, sk ? sk : q, false);
    uint32_t od = vk_bind(m, d, t, true);
    if (part) vk_bind_piece(d, part, true);
    else vk_bind(m, d, t, true);   // unused: the one split writes t
    vk_push_attn_shapes(d, q, k, v, oq, ok, ov);
    vk_push_u32(d, od);
    vk_push_attn_mask(d, t, osq, osk);
    vk_push_u32(d, (uint32_t)n_split);
    vk_push_u32(d, (uint32_t)split_keys);
    if (blocks) {
        uint64_t per_head = ((uint64_t)q->ne[1] + VK_ATTN_BLOCK_Q - 1) / VK_ATTN_BLOCK_Q;
        vk_flat_groups(m->vk, d, per_head * (uint64_t)(q->ne[2] * q->ne[3]), 1);
    } else {
        vk_flat_groups(m->vk, d, units * n_split, 1);
    }
    if (!part) return true;
    struct vk_dispatch *c = vk_plan_add(plan);
    c->pipe = VK_PIPE_ATTN_COMBINE;
    vk_bind_piece(c, part, false);
    uint32_t oc = vk_bind(m, c, t, true);
    vk_push_u32(c, (uint32_t)q->ne[0]);
    vk_push_u32(c, (uint32_t)rows);
    vk_push_u32(c, (uint32_t)n_split);
    vk_push_u32(c, oc);
    vk_flat_groups(m->vk, c, rows, 1);
    return true;
}

bool vk_op_prepare(struct tl_vk_mirror *m, const struct tl_tensor *t, struct vk_plan *plan, char *err,
                   size_t errlen) {
    plan->n = 0;
    plan->n_scratch = 0;
    switch (t->op) {
    case TL_OP_ADD: case TL_OP_SUB: case TL_OP_MUL: case TL_OP_DIV: case TL_OP_SWIGLU: prep_binary(m, t, vk_plan_add(plan)); break;
    case TL_OP_SCALE: case TL_OP_SILU: case TL_OP_GELU: case TL_OP_GELU_TANH: prep_unary(m, t, vk_plan_add(plan)); break;
    case TL_OP_RMS_NORM: case TL_OP_LAYER_NORM: prep_norm(m, t, vk_plan_add(plan)); break;
    case TL_OP_SOFT_MAX: prep_soft_max(m, t, vk_plan_add(plan)); break;
    case TL_OP_ROPE: return prep_rope(m, t, plan, err, errlen);
    case TL_OP_GET_ROWS: prep_get_rows(m, t, vk_plan_add(plan)); break;
    case TL_OP_CONT: case TL_OP_CPY: prep_cpy(m, t, vk_plan_add(plan)); break;
    case TL_OP_MUL_MAT: return prep_mul_mat(m, t, plan, err, errlen);
    case TL_OP_CONCAT: prep_concat(m, t, vk_plan_add(plan)); break;
    case TL_OP_ARGMAX: prep_argmax(m, t, vk_plan_add(plan)); break;
    case TL_OP_FLASH_ATTN: return prep_flash_attn(m, t, plan, err, errlen);
    default:   // the backward and loss ops (vk-ops-grad.c), or an error
        return vk_prepare_grad(m, t, plan, err, errlen);
    }
    return true;
}
