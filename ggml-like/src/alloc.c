// The graph allocator: plans offsets in one buffer so that an intermediate's bytes are
// reused once its last user has run. Peak memory is the live set, not the sum.
#include "tl-impl.h"
#include "ptrmap.h"

#define ALLOC_ALIGN 64

struct block { size_t offs, size; };

struct tl_gallocr {
    void  *buffer;
    size_t buffer_size;
    size_t peak;
    size_t sum;
    // free list of the planning pass, sorted by offset
    struct block *free_blocks;
    int    n_free, cap_free;
};

struct tl_gallocr *tl_gallocr_new(void) { return calloc(1, sizeof(struct tl_gallocr)); }

void tl_gallocr_free(struct tl_gallocr *a) {
    if (!a) return;
    free(a->buffer);
    free(a->free_blocks);
    free(a);
}

size_t tl_gallocr_peak_bytes(const struct tl_gallocr *a) { return a->peak; }
size_t tl_gallocr_sum_bytes(const struct tl_gallocr *a) { return a->sum; }

static size_t align_up(size_t x) { return (x + ALLOC_ALIGN - 1) / ALLOC_ALIGN * ALLOC_ALIGN; }

// Best fit among free blocks, else grow the end (the high-water mark is the peak).
static size_t plan_alloc(struct tl_gallocr *a, size_t size, size_t *end) {
    size = align_up(size);
    int best = -1;
    for (int i = 0; i < a->n_free; i++)
        if (a->free_blocks[i].size >= size && (best < 0 || a->free_blocks[i].size < a->free_blocks[best].size))
            best = i;
    if (best >= 0) {
        size_t offs = a->free_blocks[best].offs;
        a->free_blocks[best].offs += size;
        a->free_blocks[best].size -= size;
        if (a->free_blocks[best].size == 0) {
            memmove(&a->free_blocks[best], &a->free_blocks[best + 1], (a->n_free - best - 1) * sizeof(struct block));
            a->n_free--;
        }
        return offs;
    }
    // a free block touching the end can be extended instead of leaving it as a hole
    if (a->n_free > 0) {
        struct block *last = &a->free_blocks[a->n_free - 1];
        if (last->offs + last->size == *end) {
            size_t offs = last->offs;
            *end = offs + size;
            a->n_free--;
            return offs;
        }
    }
    size_t offs = *end;
    *end += size;
    return offs;
}

static bool plan_free(struct tl_gallocr *a, size_t offs, size_t size) {
    size = align_up(size);
    int i = 0;
    while (i < a->n_free && a->free_blocks[i].offs < offs) i++;
    bool merge_prev = i > 0 && a->free_blocks[i - 1].offs + a->free_blocks[i - 1].size == offs;
    bool merge_next = i < a->n_free && offs + size == a->free_blocks[i].offs;
    if (merge_prev && merge_next) {
        a->free_blocks[i - 1].size += size + a->free_blocks[i].size;
        memmove(&a->free_blocks[i], &a->free_blocks[i + 1], (a->n_free - i - 1) * sizeof(struct block));
        a->n_free--;
    } else if (merge_prev) {
        a->free_blocks[i - 1].size += size;
    } else if (merge_next) {
        a->free_blocks[i].offs = offs;
        a->free_blocks[i].size += size;
    } else {
        if (a->n_free == a->cap_free) {
            int cap = a->cap_free ? 2 * a->cap_free : 64;
            struct block *nb = realloc(a->free_blocks, cap * sizeof *nb);
            if (!nb) return false;
            a->free_blocks = nb;
            a->cap_free = cap;
        }
        memmove(&a->free_blocks[i + 1], &a->free_blocks[i], (a->n_free - i) * sizeof(struct block));
        a->free_blocks[i] = (struct block){ offs, size };
        a->n_free++;
    }
    return true;
}

static struct tl_tensor *owner_of(struct tl_tensor *t) { return t->view_src ? t->view_src : t; }

struct tinfo {
    size_t offs;
    int    n_users;    // remaining uses by later nodes (through views too)
    bool   planned;    // we give it memory
    bool   keep;       // input/output/leaf: lives for the whole graph
};

bool tl_gallocr_alloc_graph(struct tl_gallocr *a, struct tl_graph *g) {
    int n = g->n_nodes + g->n_leafs;
    struct tl_ptrmap map = { 0 };
    struct tinfo *info = calloc(n, sizeof *info);
    struct tl_tensor **all = malloc(n * sizeof *all);
    if (!info || !all || !tl_ptrmap_init(&map, n)) {
        free(info);
        free(all);
        tl_ptrmap_free(&map);
        return false;
    }
    for (int i = 0; i < g->n_leafs; i++) all[i] = g->leafs[i];
    for (int i = 0; i < g->n_nodes; i++) all[g->n_leafs + i] = g->nodes[i];
    for (int i = 0; i < n; i++) tl_ptrmap_put(&map, all[i], i);
    for (int i = 0; i < n; i++) {
        struct tl_tensor *t = all[i];
        info[i].planned = !t->data && !t->view_src;
        info[i].keep = t->op == TL_OP_NONE || (t->flags & (TL_FLAG_INPUT | TL_FLAG_OUTPUT));
        if (t->view_src && (t->flags & TL_FLAG_OUTPUT)) {
            int o = tl_ptrmap_get(&map, t->view_src);
            if (o >= 0) info[o].keep = true;   // an output view keeps its owner
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int s = 0; s < TL_MAX_SRC; s++)
            if (g->nodes[i]->src[s]) {
                int o = tl_ptrmap_get(&map, owner_of(g->nodes[i]->src[s]));
                if (o >= 0) info[o].n_users++;
            }

    size_t end = 0;
    a->n_free = 0;
    a->sum = 0;
    bool ok = true;
    // leafs and inputs first: they live for the whole graph
    for (int i = 0; i < n; i++)
        if (info[i].planned && info[i].keep && all[i]->op == TL_OP_NONE) {
            info[i].offs = plan_alloc(a, tl_nbytes(all[i]), &end);
            a->sum += align_up(tl_nbytes(all[i]));
        }
    for (int i = 0; i < g->n_nodes && ok; i++) {
        struct tl_tensor *t = g->nodes[i];
        int ti = g->n_leafs + i;
        if (info[ti].planned) {
            info[ti].offs = plan_alloc(a, tl_nbytes(t), &end);
            a->sum += align_up(tl_nbytes(t));
        }
        for (int s = 0; s < TL_MAX_SRC; s++) {
            if (!t->src[s]) continue;
            int o = tl_ptrmap_get(&map, owner_of(t->src[s]));
            if (o < 0) continue;
            if (--info[o].n_users == 0 && info[o].planned && !info[o].keep)
                ok = plan_free(a, info[o].offs, tl_nbytes(all[o]));
        }
    }
    if (ok && end > a->buffer_size) {
        free(a->buffer);
        a->buffer = tl_alloc_large(end);   // ALLOC_ALIGN-aligned
        a->buffer_size = a->buffer ? end : 0;
        ok = a->buffer != NULL;
    }
    if (ok) {
        a->peak = end;
        for (int i = 0; i < n; i++)
            if (info[i].planned) all[i]->data = (char *)a->buffer + info[i].offs;
        // views look into their owner, which now has data
        for (int i = 0; i < n; i++)
            if (all[i]->view_src && all[i]->view_src->data)
                all[i]->data = (char *)all[i]->view_src->data + all[i]->view_offs;
    }
    free(info);
    free(all);
    tl_ptrmap_free(&map);
    return ok;
}
