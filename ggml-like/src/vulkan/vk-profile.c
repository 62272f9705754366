// LONGVL_VK_PROFILE=1: where the device's time goes. A timestamp after every dispatch
// (bottom of the pipe), read back after each submit; each dispatch is charged the time
// since the one before it finished, under a label (the op and its types). The table goes
// to stderr when the backend is freed, with the host's wall time inside tl_vk_compute,
// so the gap between the two (submits, uploads, CPU fallbacks) shows too.
// Always on: the span of each command buffer (vk_span_*), two timestamps, for
// tl_vk_stats.device_seconds and the benchmark's references.
#include "vk-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VK_PROFILE_LABELS 96

struct vk_profile_row {
    char   label[48];
    double seconds;
    long   calls;
};

struct vk_profile {
    VkQueryPool           pool;
    uint32_t              n;                  // timestamps written into the open command buffer
    double                period;             // seconds per tick
    int                   pending[VK_DESC_SETS + 1];   // label row of the dispatch ending at query i
    struct vk_profile_row rows[VK_PROFILE_LABELS];
    int                   n_rows;
    double                compute_wall;       // seconds inside tl_vk_compute
    struct tl_vk_stats    host;               // the host's parts of that time, summed
    long                  computes;
};

void vk_span_init(struct tl_vk_backend *vk, uint32_t timestamp_bits, float period_ns) {
    vk->tick_seconds = period_ns * 1e-9;
    if (!timestamp_bits) return;
    VkQueryPoolCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                 .queryCount = 2 };
    if (vkCreateQueryPool(vk->dev, &qi, NULL, &vk->span_pool) != VK_SUCCESS) vk->span_pool = VK_NULL_HANDLE;
}

void vk_profile_init(struct tl_vk_backend *vk, uint32_t timestamp_bits, float period_ns) {
    const char *env = getenv("LONGVL_VK_PROFILE");
    if (!env || !*env || !strcmp(env, "0")) return;
    if (timestamp_bits == 0) {
        fprintf(stderr, "vulkan: LONGVL_VK_PROFILE: this queue has no timestamps\n");
        return;
    }
    struct vk_profile *p = calloc(1, sizeof *p);
    if (!p) abort();
    VkQueryPoolCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                 .queryCount = VK_DESC_SETS + 1 };
    if (vkCreateQueryPool(vk->dev, &qi, NULL, &p->pool) != VK_SUCCESS) {
        free(p);
        return;
    }
    p->period = period_ns * 1e-9;
    vk->profile = p;
}

void vk_profile_begin(struct tl_vk_backend *vk) {
    struct vk_profile *p = vk->profile;
    if (!p) return;
    vkCmdResetQueryPool(vk->cmd, p->pool, 0, VK_DESC_SETS + 1);
    vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pool, 0);
    p->n = 1;
}

static int row_of(struct vk_profile *p, const char *label) {
    for (int i = 0; i < p->n_rows; i++)
        if (!strcmp(p->rows[i].label, label)) return i;
    if (p->n_rows == VK_PROFILE_LABELS) return VK_PROFILE_LABELS - 1;   // the last row takes the rest
    snprintf(p->rows[p->n_rows].label, sizeof p->rows[0].label, "%s", label);
    return p->n_rows++;
}

void vk_profile_mark(struct tl_vk_backend *vk, const char *label) {
    struct vk_profile *p = vk->profile;
    if (!p || p->n > VK_DESC_SETS) return;
    vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pool, p->n);
    p->pending[p->n++] = row_of(p, label);
}

void vk_profile_collect(struct tl_vk_backend *vk) {
    struct vk_profile *p = vk->profile;
    if (!p || p->n < 2) return;
    uint64_t ts[VK_DESC_SETS + 1];
    if (vkGetQueryPoolResults(vk->dev, p->pool, 0, p->n, sizeof ts, ts, sizeof ts[0],
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
        for (uint32_t i = 1; i < p->n; i++) {
            struct vk_profile_row *r = &p->rows[p->pending[i]];
            r->seconds += (double)(ts[i] - ts[i - 1]) * p->period;
            r->calls++;
        }
    p->n = 0;
}

void vk_profile_compute_done(struct tl_vk_backend *vk, double wall_seconds, const struct tl_vk_stats *st) {
    struct vk_profile *p = vk->profile;
    if (!p) return;
    p->compute_wall += wall_seconds;
    p->host.upload_seconds += st->upload_seconds;
    p->host.record_seconds += st->record_seconds;
    p->host.submit_seconds += st->submit_seconds;
    p->host.download_seconds += st->download_seconds;
    p->host.cpu_node_seconds += st->cpu_node_seconds;
    p->computes++;
}

static int by_time(const void *a, const void *b) {
    double x = ((const struct vk_profile_row *)a)->seconds, y = ((const struct vk_profile_row *)b)->seconds;
    return (x < y) - (x > y);
}

void vk_span_begin(struct tl_vk_backend *vk, VkCommandBuffer cmd) {
    if (!vk->span_pool) return;
    vkCmdResetQueryPool(cmd, vk->span_pool, 0, 2);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, vk->span_pool, 0);
}

void vk_span_end(struct tl_vk_backend *vk, VkCommandBuffer cmd) {
    if (vk->span_pool) vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vk->span_pool, 1);
}

double vk_span_seconds(struct tl_vk_backend *vk) {
    uint64_t ts[2];
    if (!vk->span_pool || vkGetQueryPoolResults(vk->dev, vk->span_pool, 0, 2, sizeof ts, ts, sizeof ts[0],
                                                VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS)
        return 0;
    return ts[1] > ts[0] ? (double)(ts[1] - ts[0]) * vk->tick_seconds : 0;
}

void vk_span_free(struct tl_vk_backend *vk) {
    if (vk->span_pool) vkDestroyQueryPool(vk->dev, vk->span_pool, NULL);
    vk->span_pool = VK_NULL_HANDLE;
}

void vk_profile_report(struct tl_vk_backend *vk) {
    struct vk_profile *p = vk->profile;
    if (!p) return;
    double busy = 0;
    for (int i = 0; i < p->n_rows; i++) busy += p->rows[i].seconds;
    qsort(p->rows, p->n_rows, sizeof p->rows[0], by_time);
    fprintf(stderr, "vulkan profile on %s: %ld graph computes, %.3f s inside tl_vk_compute, %.3f s of it on the device\n",
            vk->info.name, p->computes, p->compute_wall, busy);
    const struct tl_vk_stats *h = &p->host;
    fprintf(stderr, "  the host's parts: uploads %.3f s, recording %.3f s, submit + wait %.3f s (the device's time within), "
            "downloads %.3f s, CPU nodes %.3f s\n", h->upload_seconds, h->record_seconds, h->submit_seconds,
            h->download_seconds, h->cpu_node_seconds);
    fprintf(stderr, "  %-40s %10s %12s %12s %7s\n", "dispatch", "calls", "total ms", "mean us", "share");
    for (int i = 0; i < p->n_rows; i++) {
        const struct vk_profile_row *r = &p->rows[i];
        fprintf(stderr, "  %-40s %10ld %12.3f %12.2f %6.1f%%\n", r->label, r->calls, r->seconds * 1e3,
                r->calls ? r->seconds * 1e6 / (double)r->calls : 0.0, busy > 0 ? 100 * r->seconds / busy : 0.0);
    }
    vkDestroyQueryPool(vk->dev, p->pool, NULL);
    free(p);
    vk->profile = NULL;
}
