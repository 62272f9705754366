// Graph execution: consecutive device nodes are recorded into one command buffer, with a
// pipeline barrier only where a dispatch reads or writes bytes that an earlier dispatch
// since the last barrier wrote (or writes bytes one of them read). A node the device
// lacks ends the command buffer: its inputs come down, the CPU computes it, its bytes go
// back up.
#include "vk-impl.h"
#include "tl-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct recorder {
    struct tl_vk_mirror *m;
    struct tl_vk_stats  *st;
    bool                 open;          // cmd is recording
    struct vk_binding   *pending;       // ranges touched since the last barrier
    int                  n_pending, cap_pending;
    struct vk_piece     *scratch;       // dispatch-owned pieces, released after the submit
    int                  n_scratch, cap_scratch;
};

static bool overlaps(const struct vk_binding *a, const struct vk_binding *b) {
    return a->block == b->block && a->off < b->off + b->size && b->off < a->off + a->size;
}

static bool flush(struct recorder *r, char *err, size_t errlen) {
    struct tl_vk_backend *vk = r->m->vk;
    if (r->open) {
        double t0 = tl_time_seconds();
        r->open = false;
        vk_span_end(vk, vk->cmd);
        vkEndCommandBuffer(vk->cmd);
        bool ok = vk_submit_and_wait(vk, vk->cmd, vk->fence, err, errlen);
        if (ok) r->st->device_seconds += vk_span_seconds(vk);
        vk_profile_collect(vk);
        vkResetDescriptorPool(vk->dev, vk->desc_pool, 0);
        vk->desc_sets_left = VK_DESC_SETS;
        r->st->submits++;
        r->st->submit_seconds += tl_time_seconds() - t0;
        if (!ok) return false;
    }
    for (int i = 0; i < r->n_scratch; i++) vk_release(vk, &r->scratch[i]);
    r->n_scratch = 0;
    r->n_pending = 0;
    return true;
}

static void add_pending(struct recorder *r, struct vk_binding br) {
    if (r->n_pending == r->cap_pending) {
        r->cap_pending = r->cap_pending ? 2 * r->cap_pending : 64;
        r->pending = realloc(r->pending, r->cap_pending * sizeof *r->pending);
        if (!r->pending) abort();
    }
    r->pending[r->n_pending++] = br;
}

static void keep_scratch(struct recorder *r, const struct vk_piece *p) {
    if (r->n_scratch == r->cap_scratch) {
        r->cap_scratch = r->cap_scratch ? 2 * r->cap_scratch : 16;
        r->scratch = realloc(r->scratch, r->cap_scratch * sizeof *r->scratch);
        if (!r->scratch) abort();
    }
    r->scratch[r->n_scratch++] = *p;
}

static bool record_dispatch(struct recorder *r, const struct tl_tensor *t, const struct vk_dispatch *d, char *err,
                            size_t errlen) {
    struct tl_vk_backend *vk = r->m->vk;
    if (vk->desc_sets_left == 0 && !flush(r, err, errlen)) return false;
    if (!r->open) {
        VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
        vkBeginCommandBuffer(vk->cmd, &bi);
        vk_span_begin(vk, vk->cmd);
        vk_profile_begin(vk);
        r->open = true;
    }
    const struct vk_pipeline *p = &vk->pipes[d->pipe];
    VkDescriptorBufferInfo infos[VK_MAX_BINDINGS];
    bool need_barrier = false;
    for (int i = 0; i < d->n_bindings; i++) {
        const struct vk_binding *b = &d->b[i];
        infos[i] = (VkDescriptorBufferInfo){ .buffer = vk->blocks[b->block].buf, .offset = b->off, .range = b->size };
        for (int j = 0; j < r->n_pending && !need_barrier; j++)
            need_barrier = overlaps(b, &r->pending[j]) && (r->pending[j].written || b->written);
    }
    if (need_barrier) {
        VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT };
        vkCmdPipelineBarrier(vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                             &mb, 0, NULL, 0, NULL);
        r->n_pending = 0;
        r->st->barriers++;
    }
    for (int i = 0; i < d->n_bindings; i++) add_pending(r, d->b[i]);
    VkDescriptorSet set;
    if (!vk_descriptor_set(vk, p, infos, d->n_bindings, &set, err, errlen)) return false;
    vkCmdBindPipeline(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    vkCmdBindDescriptorSets(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(vk->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES, d->push);
    vkCmdDispatch(vk->cmd, d->groups[0], d->groups[1], d->groups[2]);
    if (vk->profile) {   // the op and the shader, e.g. "mul_mat mul_vec_sg_q4_0"; decoding's attention apart
        char label[48];
        bool one_query = t->op == TL_OP_FLASH_ATTN && t->src[0]->ne[1] == 1;
        snprintf(label, sizeof label, "%s %s%s", tl_op_name(t->op), p->name, one_query ? " (1 query)" : "");
        vk_profile_mark(vk, label);
    }
    r->st->dispatches++;
    return true;
}

// Records the node's dispatches. A flush in between (descriptor sets ran out) releases
// only earlier nodes' scratch; the node's own is released after the submit that runs it.
static bool record(struct recorder *r, struct vk_plan *plan, const struct tl_tensor *t, char *err, size_t errlen) {
    bool ok = vk_op_prepare(r->m, t, plan, err, errlen);
    for (int i = 0; ok && i < plan->n; i++) ok = record_dispatch(r, t, &plan->d[i], err, errlen);
    for (int i = 0; i < plan->n_scratch; i++) keep_scratch(r, &plan->scratch[i]);
    plan->n_scratch = 0;
    if (ok) r->st->nodes_device++;
    return ok;
}

static bool run_on_cpu(struct recorder *r, struct tl_tensor *t, int n_threads, char *err, size_t errlen) {
    if (!flush(r, err, errlen)) return false;
    for (int i = 0; i < TL_MAX_SRC; i++) {
        const struct tl_tensor *s = t->src[i];
        if (!s) continue;
        struct vk_region *reg = vk_mirror_find(r->m, s);
        if (reg && reg->device_newer && !vk_mirror_download(r->m, s, r->st, err, errlen)) return false;
    }
    static bool logged[TL_OP_COUNT];
    if (getenv("LONGVL_VK_VERBOSE") && !logged[t->op]) {
        logged[t->op] = true;
        fprintf(stderr, "vulkan: %s runs on the CPU (no device kernel for this case)\n", tl_op_name(t->op));
    }
    tl_cpu_compute_node(t, n_threads);
    r->st->nodes_cpu++;
    return vk_mirror_upload(r->m, t, r->st, err, errlen);
}

bool tl_vk_compute(struct tl_vk_mirror *m, struct tl_graph *g, int n_threads, struct tl_vk_stats *stats, char *err,
                   size_t errlen) {
    struct tl_vk_stats st = { 0 };
    struct recorder r = { .m = m, .st = &st };
    struct vk_plan plan = { 0 };
    double t0 = tl_time_seconds(), t = t0;
    bool ok = vk_mirror_begin_graph(m, g, &st, err, errlen);
    st.upload_seconds = tl_time_seconds() - t;
    for (int i = 0; ok && i < g->n_nodes; i++) {
        struct tl_tensor *node = g->nodes[i];
        if (node->op == TL_OP_VIEW) continue;
        double submitted = st.submit_seconds;   // a recording may flush when descriptor sets run out
        t = tl_time_seconds();
        if (vk_op_supported(m->vk, node) && vk_fits(m->vk, node)) {
            ok = record(&r, &plan, node, err, errlen);
            st.record_seconds += tl_time_seconds() - t - (st.submit_seconds - submitted);
        } else {
            ok = run_on_cpu(&r, node, n_threads, err, errlen);   // (its flush counts as a submit)
            st.cpu_node_seconds += tl_time_seconds() - t - (st.submit_seconds - submitted);
        }
    }
    ok = flush(&r, err, errlen) && ok;
    t = tl_time_seconds();
    for (int i = 0; ok && i < g->n_nodes; i++) {
        struct tl_tensor *node = g->nodes[i];
        if ((node->flags & TL_FLAG_OUTPUT) || i == g->n_nodes - 1) ok = vk_mirror_download(m, node, &st, err, errlen);
    }
    st.download_seconds = tl_time_seconds() - t;
    vk_mirror_end_graph(m);
    vk_profile_compute_done(m->vk, tl_time_seconds() - t0, &st);
    free(r.pending);
    free(r.scratch);
    vk_plan_free(&plan);
    if (stats) *stats = st;
    return ok;
}
