// The building blocks of a node's dispatches: the plan's list and scratch, bindings,
// push constants and group counts (declared in vk-impl.h).
#include "vk-impl.h"

#include <stdlib.h>
#include <string.h>

struct vk_dispatch *vk_plan_add(struct vk_plan *plan) {
    if (plan->n == plan->cap) {
        plan->cap = plan->cap ? 2 * plan->cap : 8;
        plan->d = realloc(plan->d, plan->cap * sizeof *plan->d);
        if (!plan->d) abort();
    }
    struct vk_dispatch *d = &plan->d[plan->n++];
    memset(d, 0, sizeof *d);
    return d;
}

struct vk_piece *vk_plan_scratch(struct tl_vk_backend *vk, struct vk_plan *plan, size_t bytes, char *err,
                                 size_t errlen) {
    TL_ASSERT(plan->n_scratch < VK_MAX_SCRATCH);
    struct vk_piece *p = &plan->scratch[plan->n_scratch];
    if (!vk_alloc(vk, bytes ? bytes : 16, p, err, errlen)) return NULL;
    plan->n_scratch++;
    return p;
}

struct vk_piece *vk_plan_upload(struct tl_vk_backend *vk, struct vk_plan *plan, const void *data, size_t bytes,
                                char *err, size_t errlen) {
    struct vk_piece *p = vk_plan_scratch(vk, plan, bytes, err, errlen);
    return p && vk_write(vk, p, 0, data, bytes, err, errlen) ? p : NULL;
}

void vk_bind_piece(struct vk_dispatch *d, const struct vk_piece *p, bool written) {
    d->b[d->n_bindings++] = (struct vk_binding){ .block = p->block, .off = p->off, .size = p->size, .written = written };
}

void vk_plan_free(struct vk_plan *plan) { free(plan->d); }

// --- push constants ---------------------------------------------------------------------
void vk_push_u32(struct vk_dispatch *d, uint32_t v) {
    TL_ASSERT(d->push_size + 4 <= VK_PUSH_BYTES);
    d->push[d->push_size / 4] = v;
    d->push_size += 4;
}
void vk_push_f32(struct vk_dispatch *d, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    vk_push_u32(d, u);
}
void vk_push_ne(struct vk_dispatch *d, const struct tl_tensor *t) {
    for (int i = 0; i < 4; i++) vk_push_u32(d, (uint32_t)t->ne[i]);
}
// Strides of dims first..3 in vk_elem_bytes units.
void vk_push_nb_from(struct vk_dispatch *d, const struct tl_tensor *t, int first) {
    size_t es = vk_elem_bytes(t->type);
    for (int i = first; i < 4; i++) vk_push_u32(d, (uint32_t)(t->nb[i] / es));
}
void vk_push_nb(struct vk_dispatch *d, const struct tl_tensor *t) { vk_push_nb_from(d, t, 0); }

void vk_push_gemm(struct vk_dispatch *d, const struct vk_gemm *g) {
    uint32_t head[] = { g->K, g->M, g->N };
    for (int i = 0; i < 3; i++) vk_push_u32(d, head[i]);
    for (int i = 0; i < 4; i++) vk_push_u32(d, g->sa[i]);
    vk_push_u32(d, g->off_a);
    for (int i = 0; i < 4; i++) vk_push_u32(d, g->sb[i]);
    vk_push_u32(d, g->off_b);
    uint32_t tail[] = { g->off_d, g->b2, g->b3, g->r2, g->r3, g->accumulate, g->k_split ? g->k_split : g->K,
                        g->ldd ? g->ldd : g->M };
    for (int i = 0; i < 8; i++) vk_push_u32(d, tail[i]);
}

uint32_t vk_gemm_split(struct vk_gemm *g, uint32_t batches) {
    uint64_t tiles = (uint64_t)((g->M + VK_GEMM_TILE - 1) / VK_GEMM_TILE) * ((g->N + VK_GEMM_TILE - 1) / VK_GEMM_TILE) * batches;
    uint64_t want = (VK_GEMM_SPLIT_GROUPS + tiles - 1) / tiles, most = g->K / VK_GEMM_MIN_SPLIT_K;
    uint64_t splits = want < most ? want : most;
    if (g->accumulate || splits < 2) return 1;
    uint32_t k_split = (uint32_t)((g->K + splits - 1) / splits + 31) / 32 * 32;   // whole 32-weight units
    g->k_split = k_split;
    return (g->K + k_split - 1) / k_split;
}

void vk_add_splits(struct tl_vk_mirror *m, struct vk_plan *plan, const struct vk_piece *part,
                   const struct tl_tensor *t, uint32_t extra, uint32_t n, uint32_t splits) {
    struct vk_dispatch *d = vk_plan_add(plan);
    d->pipe = VK_PIPE_ADD_SPLITS;
    vk_bind_piece(d, part, false);
    uint32_t od = vk_bind(m, d, t, true);
    vk_push_u32(d, n);
    vk_push_u32(d, splits);
    vk_push_u32(d, od + extra);
    vk_flat_groups(m->vk, d, n, 256);
}

bool vk_gemm_on_tensor_cores(const struct tl_vk_backend *vk, int w, int64_t N) {
    return vk->use_coopmat && N > VK_GEMV_MAX_N && w >= 0 && vk->pipes[VK_PIPE_MUL_MAT_CM + w].pipe;
}

void vk_gemm_tiles(const struct tl_vk_backend *vk, struct vk_dispatch *d, int w, uint32_t M, uint32_t N,
                   bool tensor_cores) {
    uint32_t big = 2 * VK_GEMM_TILE;
    uint64_t big_tiles = (uint64_t)((M + big - 1) / big) * ((N + big - 1) / big);
    bool large = vk->gemm_large_min_tiles && big_tiles >= vk->gemm_large_min_tiles;
    uint32_t side = large ? big : VK_GEMM_TILE;
    enum vk_pipe group = tensor_cores ? (large ? VK_PIPE_MUL_MAT_CM_L : VK_PIPE_MUL_MAT_CM)
                                      : (large ? VK_PIPE_MUL_MAT_L : VK_PIPE_MUL_MAT);
    d->pipe = (enum vk_pipe)(group + w);
    d->groups[0] = (M + side - 1) / side;
    d->groups[1] = (N + side - 1) / side;
}

// Binds t as the next binding; returns its element offset past the bound start.
uint32_t vk_bind(struct tl_vk_mirror *m, struct vk_dispatch *d, const struct tl_tensor *t, bool written) {
    struct vk_binding *b = &d->b[d->n_bindings++];
    uint32_t elem;
    vk_bind_range(m, t, &b->block, &b->off, &b->size, &elem);
    b->written = written;
    if (written) vk_mirror_find(m, t)->device_newer = true;
    return elem;
}

// Groups for n invocations of local size ls, split over x and y (x is capped).
void vk_flat_groups(const struct tl_vk_backend *vk, struct vk_dispatch *d, uint64_t n, uint32_t ls) {
    uint64_t groups = (n + ls - 1) / ls;
    if (groups == 0) groups = 1;
    uint64_t gx = groups < vk->max_groups ? groups : vk->max_groups;
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)((groups + gx - 1) / gx);
    d->groups[2] = 1;
}

bool vk_host_leaf(const struct tl_tensor *t) {
    while (t->view_src) t = t->view_src;
    return t->op == TL_OP_NONE;
}
