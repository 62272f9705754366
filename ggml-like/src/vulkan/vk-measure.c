// The device's own limits, measured for the benchmark's ratios: copy bandwidth
// (vkCmdCopyBuffer between two device buffers), read bandwidth (shaders/read.comp), FMA
// throughput (shaders/peak.comp) and the tensor cores' (shaders/peak_cm.comp). Timed by
// the device's timestamps where the queue has them, so a submit's host round trip does
// not count.
#include "vk-impl.h"

static void begin(struct tl_vk_backend *vk) {
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    vkBeginCommandBuffer(vk->copy_cmd, &bi);
    vk_span_begin(vk, vk->copy_cmd);
}

static bool end_and_time(struct tl_vk_backend *vk, double *seconds, char *err, size_t errlen) {
    vk_span_end(vk, vk->copy_cmd);
    vkEndCommandBuffer(vk->copy_cmd);
    double t0 = tl_time_seconds();
    bool ok = vk_submit_and_wait(vk, vk->copy_cmd, vk->copy_fence, err, errlen);
    *seconds = tl_time_seconds() - t0;
    double device = ok ? vk_span_seconds(vk) : 0;
    if (device > 0) *seconds = device;
    return ok;
}

// Bytes read + written per second copying `bytes` 8 times in one submit, best of 3.
static bool copy_bandwidth(struct tl_vk_backend *vk, VkDeviceSize bytes, double *out, char *err, size_t errlen) {
    struct vk_piece a = { .block = -1 }, b = { .block = -1 };
    bool ok = vk_alloc(vk, bytes, &a, err, errlen) && vk_alloc(vk, bytes, &b, err, errlen);
    *out = 0;
    for (int rep = 0; ok && rep < 3; rep++) {
        begin(vk);
        for (int i = 0; i < 8; i++) {
            VkBufferCopy region = { .srcOffset = (i % 2 ? b : a).off, .dstOffset = (i % 2 ? a : b).off, .size = bytes };
            vkCmdCopyBuffer(vk->copy_cmd, vk->blocks[(i % 2 ? b : a).block].buf, vk->blocks[(i % 2 ? a : b).block].buf, 1,
                            &region);
            VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                   .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT };
            vkCmdPipelineBarrier(vk->copy_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0,
                                 NULL, 0, NULL);
        }
        double s;
        ok = end_and_time(vk, &s, err, errlen);
        if (ok && 16.0 * bytes / s > *out) *out = 16.0 * bytes / s;
    }
    vk_release(vk, &a);
    vk_release(vk, &b);
    return ok;
}

// A descriptor set of pipeline p binding the n pieces in order (the pool is reset by the
// caller when done).
static bool bind_pieces(struct tl_vk_backend *vk, const struct vk_pipeline *p, const struct vk_piece *pieces, int n,
                        VkDescriptorSet *set, char *err, size_t errlen) {
    VkDescriptorBufferInfo bi[VK_MAX_BINDINGS];
    for (int i = 0; i < n; i++)
        bi[i] = (VkDescriptorBufferInfo){ .buffer = vk->blocks[pieces[i].block].buf, .offset = pieces[i].off,
                                          .range = pieces[i].size };
    return vk_descriptor_set(vk, p, bi, n, set, err, errlen);
}

// Records `times` dispatches of p with groups workgroups into the copy command buffer.
static void record_dispatches(struct tl_vk_backend *vk, const struct vk_pipeline *p, VkDescriptorSet set,
                              const void *push, uint32_t push_bytes, uint32_t groups, int times) {
    vkCmdBindPipeline(vk->copy_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    vkCmdBindDescriptorSets(vk->copy_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(vk->copy_cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    for (int i = 0; i < times; i++) {
        if (i > 0) {   // one after the other: overlapping passes would share their reads in the cache
            VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                   .dstAccessMask = VK_ACCESS_SHADER_WRITE_BIT };
            vkCmdPipelineBarrier(vk->copy_cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                                 &mb, 0, NULL, 0, NULL);
        }
        vkCmdDispatch(vk->copy_cmd, groups, 1, 1);
    }
}

static void reset_sets(struct tl_vk_backend *vk) {
    vkResetDescriptorPool(vk->dev, vk->desc_pool, 0);
    vk->desc_sets_left = VK_DESC_SETS;
}

// Flop/s of a peak shader (peak.comp, FMA; peak_cm.comp, tensor cores) doing
// flops_per_group_step a workgroup a step, over more workgroups until one submit takes
// >= 0.2 s. Both write 256 floats a workgroup.
static bool peak(struct tl_vk_backend *vk, enum vk_pipe pipe, double flops_per_group_step, double *out, char *err,
                 size_t errlen) {
    const uint32_t iters = 4096;
    struct vk_piece d = { .block = -1 };
    uint32_t max_groups = vk->max_groups < 65536 ? vk->max_groups : 65536;
    if (!vk_alloc(vk, (VkDeviceSize)max_groups * 256 * sizeof(float), &d, err, errlen)) return false;
    const struct vk_pipeline *p = &vk->pipes[pipe];
    VkDescriptorSet set;
    bool ok = bind_pieces(vk, p, &d, 1, &set, err, errlen);
    struct { uint32_t iters; float a, b; } push = { iters, 0.999f, 1e-3f };
    *out = 0;
    for (uint32_t groups = 16; ok && groups <= max_groups; groups *= 2) {
        double best = 1e30;
        for (int rep = 0; ok && rep < 3; rep++) {
            begin(vk);
            record_dispatches(vk, p, set, &push, sizeof push, groups, 1);
            double s;
            ok = end_and_time(vk, &s, err, errlen);
            if (s < best) best = s;
        }
        double flops = (double)groups * iters * flops_per_group_step;
        if (ok && flops / best > *out) *out = flops / best;
        if (best >= 0.2) break;
    }
    reset_sets(vk);
    vk_release(vk, &d);
    return ok;
}

// Bytes read per second by read.comp streaming `bytes` 16 times in one submit, one pass
// after the other, over more workgroups until the rate stops rising; best of 3 submits
// each.
static bool read_bandwidth(struct tl_vk_backend *vk, VkDeviceSize bytes, double *out, char *err, size_t errlen) {
    const int times = 16;
    uint32_t max_groups = vk->max_groups < 65536 ? vk->max_groups : 65536;
    struct vk_piece pieces[2] = { { .block = -1 }, { .block = -1 } };
    bool ok = vk_alloc(vk, bytes, &pieces[0], err, errlen) &&
              vk_alloc(vk, (VkDeviceSize)max_groups * 256 * sizeof(float), &pieces[1], err, errlen);
    const struct vk_pipeline *p = &vk->pipes[VK_PIPE_READ];
    VkDescriptorSet set;
    ok = ok && bind_pieces(vk, p, pieces, 2, &set, err, errlen);
    uint32_t push = (uint32_t)(bytes / 16);
    *out = 0;
    for (uint32_t groups = 64; ok && groups <= max_groups; groups *= 4) {
        double best = 1e30;
        for (int rep = 0; ok && rep < 3; rep++) {
            begin(vk);
            record_dispatches(vk, p, set, &push, sizeof push, groups, times);
            double s;
            ok = end_and_time(vk, &s, err, errlen);
            if (s < best) best = s;
        }
        if (ok && (double)times * bytes / best > *out) *out = (double)times * bytes / best;
    }
    reset_sets(vk);
    for (int i = 0; i < 2; i++) vk_release(vk, &pieces[i]);
    return ok;
}

bool tl_vk_measure_limits(struct tl_vk_backend *vk, size_t copy_bytes, struct tl_vk_limits *out, char *err,
                          size_t errlen) {
    out->tensor_flops_per_s = 0;
    return copy_bandwidth(vk, copy_bytes, &out->copy_bytes_per_s, err, errlen) &&
           read_bandwidth(vk, copy_bytes, &out->read_bytes_per_s, err, errlen) &&
           peak(vk, VK_PIPE_PEAK, 256 * 64, &out->fma_flops_per_s, err, errlen) &&   // 8 vec4 FMAs a thread
           (!vk->use_coopmat ||   // 8 subgroups, 4 products of 16 x 16 x 16 each
            peak(vk, VK_PIPE_PEAK_CM, 8 * 4 * 16 * 16 * 16 * 2, &out->tensor_flops_per_s, err, errlen));
}
