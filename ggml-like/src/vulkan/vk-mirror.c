// The host -> device mirror: each storage a graph touches (a leaf's, or the arena range
// its computed tensors live in) has a device region, and the byte at host address h
// lives at region.piece.off + region.bias + (h - region.host). Leaves' regions persist
// across computes (weights, caches). Computed tensors and input leaves (TL_FLAG_INPUT,
// which the graph allocator places among them) live for one compute, their ranges merged
// where the allocator overlapped them.
#include "vk-impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct tl_tensor *root_of(const struct tl_tensor *t) {
    while (t->view_src) t = t->view_src;
    return t;
}

struct tl_vk_mirror *tl_vk_mirror_new(struct tl_vk_backend *vk) {
    struct tl_vk_mirror *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->vk = vk;
    return m;
}

void tl_vk_mirror_free(struct tl_vk_mirror *m) {
    if (!m) return;
    for (int i = 0; i < m->n_regions; i++) vk_release(m->vk, &m->regions[i].piece);
    free(m->regions);
    free(m);
}

struct vk_region *vk_mirror_find(struct tl_vk_mirror *m, const struct tl_tensor *t) {
    const char *h = t->data;
    size_t n = tl_nbytes(t);
    for (int i = 0; i < m->n_regions; i++) {
        struct vk_region *r = &m->regions[i];
        if (h >= r->host && h + n <= r->host + r->size) return r;
    }
    return NULL;
}

static struct vk_region *add_region(struct tl_vk_mirror *m, const char *host, size_t size, bool persistent, char *err,
                                    size_t errlen) {
    if (m->n_regions == m->cap_regions) {
        m->cap_regions = m->cap_regions ? 2 * m->cap_regions : 64;
        m->regions = realloc(m->regions, m->cap_regions * sizeof *m->regions);
        if (!m->regions) abort();
    }
    struct vk_region r = { .host = host, .size = size, .persistent = persistent, .bias = (uintptr_t)host % 16 };
    if (!vk_alloc(m->vk, size + r.bias, &r.piece, err, errlen)) return NULL;
    m->regions[m->n_regions] = r;
    return &m->regions[m->n_regions++];
}

static bool upload_range(struct tl_vk_mirror *m, struct vk_region *r, const char *h, size_t n, struct tl_vk_stats *st,
                         char *err, size_t errlen) {
    if (st) st->upload_bytes += (double)n;
    return vk_write(m->vk, &r->piece, r->bias + (VkDeviceSize)(h - r->host), h, n, err, errlen);
}

struct span { const char *lo, *hi; };

static int by_start(const void *a, const void *b) {
    const struct span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

bool vk_mirror_begin_graph(struct tl_vk_mirror *m, struct tl_graph *g, struct tl_vk_stats *st, char *err,
                           size_t errlen) {
    for (int i = 0; i < g->n_leafs; i++) {
        const struct tl_tensor *t = g->leafs[i];
        if (t->flags & TL_FLAG_INPUT) continue;
        if (!t->data) {
            tl_errorf(err, errlen, "vulkan: leaf '%s' has no data", t->name);
            return false;
        }
        struct vk_region *r = vk_mirror_find(m, t);
        bool fresh = !r;
        if (!r) {
            const char *h = t->data;
            for (int j = 0; j < m->n_regions; j++)
                if (h < m->regions[j].host + m->regions[j].size && m->regions[j].host < h + tl_nbytes(t)) {
                    tl_errorf(err, errlen, "vulkan: leaf '%s' overlaps another leaf's storage partly", t->name);
                    return false;
                }
            r = add_region(m, t->data, tl_nbytes(t), true, err, errlen);
            if (!r) return false;
        }
        if (fresh && !upload_range(m, r, t->data, tl_nbytes(t), st, err, errlen)) return false;
    }
    // one compute's storage: input leaves and the roots of nodes that are not views of
    // other leaves, merged
    struct span *s = malloc((g->n_nodes + g->n_leafs + 1) * sizeof *s);
    if (!s) abort();
    int n = 0;
    for (int i = 0; i < g->n_nodes + g->n_leafs; i++) {
        const struct tl_tensor *t = i < g->n_nodes ? g->nodes[i] : g->leafs[i - g->n_nodes];
        const struct tl_tensor *root = root_of(t);
        bool input_leaf = root->op == TL_OP_NONE && (root->flags & TL_FLAG_INPUT);
        if (root != t || (root->op == TL_OP_NONE && !input_leaf)) continue;
        if (!root->data) {
            free(s);
            tl_errorf(err, errlen, "vulkan: node '%s' has no data (allocate the graph first)", root->name);
            return false;
        }
        s[n++] = (struct span){ root->data, (const char *)root->data + tl_nbytes(root) };
    }
    qsort(s, n, sizeof *s, by_start);
    bool ok = true;
    for (int i = 0; i < n && ok;) {
        struct span u = s[i++];
        while (i < n && s[i].lo < u.hi) {
            if (s[i].hi > u.hi) u.hi = s[i].hi;
            i++;
        }
        ok = add_region(m, u.lo, (size_t)(u.hi - u.lo), false, err, errlen) != NULL;
    }
    free(s);
    for (int i = 0; ok && i < g->n_leafs; i++) {
        const struct tl_tensor *t = g->leafs[i];
        if (t->flags & TL_FLAG_INPUT) ok = upload_range(m, vk_mirror_find(m, t), t->data, tl_nbytes(t), st, err, errlen);
    }
    return ok;
}

void vk_mirror_end_graph(struct tl_vk_mirror *m) {
    int k = 0;
    for (int i = 0; i < m->n_regions; i++) {
        if (m->regions[i].persistent) m->regions[k++] = m->regions[i];
        else vk_release(m->vk, &m->regions[i].piece);
    }
    m->n_regions = k;
}

static struct vk_region *region_of(struct tl_vk_mirror *m, const struct tl_tensor *t, char *err, size_t errlen) {
    struct vk_region *r = vk_mirror_find(m, t);
    if (!r) tl_errorf(err, errlen, "vulkan: '%s' is not on the device", t->name);
    return r;
}

bool vk_mirror_download(struct tl_vk_mirror *m, const struct tl_tensor *t, struct tl_vk_stats *st, char *err,
                        size_t errlen) {
    struct vk_region *r = region_of(m, t, err, errlen);
    if (!r) return false;
    size_t n = tl_nbytes(t);
    if (st) st->download_bytes += (double)n;
    return vk_read(m->vk, &r->piece, r->bias + (VkDeviceSize)((const char *)t->data - r->host), t->data, n, err, errlen);
}

bool vk_mirror_upload(struct tl_vk_mirror *m, const struct tl_tensor *t, struct tl_vk_stats *st, char *err,
                      size_t errlen) {
    struct vk_region *r = region_of(m, t, err, errlen);
    return r && upload_range(m, r, t->data, tl_nbytes(t), st, err, errlen);
}

bool tl_vk_download(struct tl_vk_mirror *m, const struct tl_tensor *t, char *err, size_t errlen) {
    return vk_mirror_download(m, t, NULL, err, errlen);
}

bool tl_vk_refresh(struct tl_vk_mirror *m, const struct tl_tensor *t, char *err, size_t errlen) {
    struct vk_region *r = vk_mirror_find(m, t);
    return !r || upload_range(m, r, t->data, tl_nbytes(t), NULL, err, errlen);
}

void vk_bind_range(const struct tl_vk_mirror *m, const struct tl_tensor *t, int *block, VkDeviceSize *bind_off,
                   VkDeviceSize *bind_size, uint32_t *elem_off) {
    const struct vk_region *r = vk_mirror_find((struct tl_vk_mirror *)m, t);
    *block = r->piece.block;
    VkDeviceSize dev = r->piece.off + r->bias + (VkDeviceSize)((const char *)t->data - r->host);
    VkDeviceSize align = m->vk->align;
    *bind_off = dev / align * align;
    // whole 32-bit words: the block-format shaders read words (pieces are 16-byte multiples)
    *bind_size = (dev - *bind_off + tl_nbytes(t) + 3) / 4 * 4;
    *elem_off = (uint32_t)((dev - *bind_off) / vk_elem_bytes(t->type));
}
