// Running the training graphs (train-graph.h).
#include "train-graph.h"

#include "tl-cpu.h"
#include "tl-vulkan.h"

#include <string.h>

struct tl_context *train_graph_context(int blocks) {
    return tl_init((struct tl_init_params){ .mem_size = (size_t)(blocks + 2) * 640 * 1024, .no_alloc = true });
}

struct tl_tensor *train_leaf(struct tl_context *ctx, enum tl_type type, int64_t ne0, int64_t ne1, const void *data) {
    struct tl_tensor *t = tl_new_tensor_2d(ctx, type, ne0, ne1);
    if (!t) return NULL;
    t->data = (void *)data;
    tl_set_input(t);   // a Vulkan mirror uploads it at every graph: the host array is reused
    return t;
}

static const volatile sig_atomic_t *cancel_flag;

void train_graph_set_cancel(const volatile sig_atomic_t *flag) { cancel_flag = flag; }
bool train_graph_cancelled(void) { return cancel_flag && *cancel_flag; }

bool train_graph_run(struct tl_gallocr *ga, struct tl_vk_mirror *mirror, struct tl_graph *g, int n_threads, size_t *peak,
                     char *err, size_t errlen) {
    if (!tl_gallocr_alloc_graph(ga, g)) {
        tl_errorf(err, errlen, "out of memory for the training graph's buffer");
        return false;
    }
    size_t bytes = tl_gallocr_peak_bytes(ga);
    if (bytes > *peak) *peak = bytes;
    // a device graph is one submission per run of device nodes: it is cut between graphs
    bool done = mirror ? !train_graph_cancelled() && tl_vk_compute(mirror, g, n_threads, NULL, err, errlen)
                       : tl_cpu_compute_until(g, n_threads, cancel_flag);
    if (!done && train_graph_cancelled()) tl_errorf(err, errlen, "interrupted");
    return done;
}

// Adds a parameter leaf's gradient to its accumulator.
static void accumulate(struct train_param *p, const struct tl_tensor *g) {
    const float *src = g->data;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < p->n; i++) p->grad[i] += src[i];
}

bool train_graph_backward(struct tl_context *ctx, struct tl_tensor *out, struct tl_tensor *seed, int blocks,
                          struct tl_tensor *x, float *dx, struct train_param *params, int n_params,
                          struct tl_gallocr *ga, struct tl_vk_mirror *mirror, int n_threads, size_t *peak, char *err,
                          size_t errlen) {
    struct tl_graph *gf = tl_graph_new(ctx, 64 * blocks + 64), *gb = tl_graph_new(ctx, 512 * blocks + 256);
    bool ok = gf && gb && tl_graph_build(gf, out) && tl_build_backward(ctx, gf, out, seed, gb);
    if (!ok) tl_errorf(err, errlen, "building the training graph: %s", tl_error(ctx) ? tl_error(ctx) : "out of memory");
    // out and the gradients are the graphs' outputs (tl_graph_build marks them), so a
    // device run brings them back to the host
    ok = ok && train_graph_run(ga, mirror, gb, n_threads, peak, err, errlen);
    for (int i = 0; ok && i < gf->n_leafs; i++) {
        struct tl_tensor *leaf = gf->leafs[i];
        if (!(leaf->flags & TL_FLAG_PARAM) || !leaf->grad) continue;
        struct train_param *p = leaf == x ? NULL : train_param_of(params, n_params, leaf);
        if (leaf == x) memcpy(dx, x->grad->data, (size_t)tl_nelements(x) * sizeof(float));
        else if (p) accumulate(p, leaf->grad);
        else {
            tl_errorf(err, errlen, "the training graph has a parameter %s that is not trained here", leaf->name);
            ok = false;
        }
    }
    for (int i = 0; gf && i < gf->n_leafs; i++) gf->leafs[i]->grad = NULL;   // they point into ctx
    return ok;
}
