// Graphs: the tensors reachable from the outputs, ordered so that inputs come first.
#include "tl-impl.h"
#include "ptrmap.h"

struct tl_graph_priv {
    struct tl_graph  pub;
    struct tl_ptrmap visited;
    struct tl_context *ctx;
};

struct tl_graph *tl_graph_new(struct tl_context *ctx, int capacity) {
    struct tl_graph_priv *g = tl_ctx_alloc(ctx, sizeof *g);
    if (!g) return NULL;
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->pub.capacity = capacity;
    g->pub.nodes = tl_ctx_alloc(ctx, capacity * sizeof(struct tl_tensor *));
    g->pub.leafs = tl_ctx_alloc(ctx, capacity * sizeof(struct tl_tensor *));
    // the visited map lives in the arena too, so a graph is freed with its context
    g->visited.size = tl_ptrmap_size_for(capacity);
    g->visited.keys = tl_ctx_alloc(ctx, g->visited.size * sizeof *g->visited.keys);
    g->visited.vals = tl_ctx_alloc(ctx, g->visited.size * sizeof *g->visited.vals);
    if (!g->pub.nodes || !g->pub.leafs || !g->visited.keys || !g->visited.vals) return NULL;
    memset(g->visited.keys, 0, g->visited.size * sizeof *g->visited.keys);
    return &g->pub;
}

// Depth-first, post-order: a tensor is appended after all of its inputs.
static bool visit(struct tl_graph_priv *g, struct tl_tensor *t) {
    if (tl_ptrmap_get(&g->visited, t) >= 0) return true;
    if (g->pub.n_nodes + g->pub.n_leafs >= g->pub.capacity) {
        tl_set_error(g->ctx, "graph: more than %d tensors (raise the capacity)", g->pub.capacity);
        return false;
    }
    tl_ptrmap_put(&g->visited, t, 1);
    for (int i = 0; i < TL_MAX_SRC; i++)
        if (t->src[i] && !visit(g, t->src[i])) return false;
    if (t->op == TL_OP_NONE) g->pub.leafs[g->pub.n_leafs++] = t;
    else g->pub.nodes[g->pub.n_nodes++] = t;
    return true;
}

bool tl_graph_build(struct tl_graph *graph, struct tl_tensor *out) {
    struct tl_graph_priv *g = (struct tl_graph_priv *)graph;
    if (!out) {
        tl_set_error(g->ctx, "graph: output is NULL (an op builder failed earlier)");
        return false;
    }
    tl_set_output(out);
    return visit(g, out);
}
