// Device memory: blocks of VK_BLOCK_BYTES (or one block for a bigger request), each with
// one storage buffer over all of it, carved first-fit into aligned pieces; a staging
// buffer for copies when device memory is not host-visible.
#include "vk-impl.h"

#include <stdlib.h>
#include <string.h>

#define VK_BLOCK_BYTES   ((VkDeviceSize)256 << 20)
#define VK_STAGING_BYTES ((VkDeviceSize)32 << 20)

static int find_memory_type(VkPhysicalDevice pd, uint32_t bits, VkMemoryPropertyFlags want) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

static bool is_host_visible(struct tl_vk_backend *vk, uint32_t type) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(vk->phys, &mp);
    VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    return (mp.memoryTypes[type].propertyFlags & want) == want;
}

// A buffer over `size` bytes of memory of `type` (mapped when host-visible).
static bool new_buffer(struct tl_vk_backend *vk, VkDeviceSize size, bool host, VkBuffer *buf, VkDeviceMemory *mem,
                       void **mapped, char *err, size_t errlen) {
    VkBufferCreateInfo bci = { .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                               .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                        VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                               .sharingMode = VK_SHARING_MODE_EXCLUSIVE };
    if (!vk_check(vkCreateBuffer(vk->dev, &bci, NULL, buf), "vkCreateBuffer", err, errlen)) return false;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->dev, *buf, &req);
    // staging: cached host memory where there is such a type, since the host reads every
    // download out of it (uncached, write-combined memory reads at a fraction of memcpy's speed)
    const VkMemoryPropertyFlags visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = !host ? find_memory_type(vk->phys, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)
                     : find_memory_type(vk->phys, req.memoryTypeBits, visible | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (host && type < 0) type = find_memory_type(vk->phys, req.memoryTypeBits, visible);
    if (type < 0) type = find_memory_type(vk->phys, req.memoryTypeBits, 0);
    VkMemoryAllocateInfo mai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                 .memoryTypeIndex = (uint32_t)type };
    VkResult r = vkAllocateMemory(vk->dev, &mai, NULL, mem);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(vk->dev, *buf, NULL);
        tl_errorf(err, errlen, "vulkan: cannot allocate %.1f MiB of %s memory (VkResult %d)", size / 1048576.0,
                  host ? "host-visible" : "device", (int)r);
        return false;
    }
    vkBindBufferMemory(vk->dev, *buf, *mem, 0);
    *mapped = NULL;
    // LONGVL_VK_NO_MAP: device blocks go through the staging buffer even where the host
    // could map them, as on a discrete GPU (so lavapipe tests those copies too)
    if (is_host_visible(vk, (uint32_t)type) && (host || !vk->no_map) &&
        !vk_check(vkMapMemory(vk->dev, *mem, 0, VK_WHOLE_SIZE, 0, mapped), "vkMapMemory", err, errlen))
        return false;
    return true;
}

bool vk_memory_init(struct tl_vk_backend *vk, char *err, size_t errlen) {
    VkBuffer buf;
    VkDeviceMemory mem;
    if (!new_buffer(vk, VK_STAGING_BYTES, true, &buf, &mem, &vk->staging_map, err, errlen)) return false;
    vk->blocks = calloc(1, sizeof *vk->blocks);
    if (!vk->blocks) abort();
    vk->blocks[0] = (struct vk_block){ .mem = mem, .buf = buf, .size = VK_STAGING_BYTES };
    vk->n_blocks = 1;   // block 0 is the staging buffer, never carved
    vk->staging = (struct vk_piece){ .block = 0, .off = 0, .size = VK_STAGING_BYTES };
    return true;
}

void vk_memory_free(struct tl_vk_backend *vk) {
    for (int i = 0; i < vk->n_blocks; i++) {
        struct vk_block *b = &vk->blocks[i];
        if (b->buf) vkDestroyBuffer(vk->dev, b->buf, NULL);
        if (b->mem) vkFreeMemory(vk->dev, b->mem, NULL);
        free(b->free_off);
        free(b->free_size);
    }
    free(vk->blocks);
    vk->blocks = NULL;
    vk->n_blocks = 0;
}

static void free_list_remove(struct vk_block *b, int i) {
    memmove(b->free_off + i, b->free_off + i + 1, (b->n_free - i - 1) * sizeof *b->free_off);
    memmove(b->free_size + i, b->free_size + i + 1, (b->n_free - i - 1) * sizeof *b->free_size);
    b->n_free--;
}

static bool carve(struct tl_vk_backend *vk, int bi, VkDeviceSize size, struct vk_piece *out) {
    struct vk_block *b = &vk->blocks[bi];
    for (int i = 0; i < b->n_free; i++) {   // sizes are multiples of align, so offsets stay aligned
        if (b->free_size[i] < size) continue;
        *out = (struct vk_piece){ .block = bi, .off = b->free_off[i], .size = size };
        b->free_off[i] += size;
        b->free_size[i] -= out->size;
        if (b->free_size[i] == 0) free_list_remove(b, i);
        return true;
    }
    return false;
}

bool vk_alloc(struct tl_vk_backend *vk, VkDeviceSize size, struct vk_piece *out, char *err, size_t errlen) {
    size = (size + vk->align - 1) / vk->align * vk->align;
    if (size == 0) size = vk->align;
    for (int i = 1; i < vk->n_blocks; i++)
        if (carve(vk, i, size, out)) return true;
    VkDeviceSize bytes = size > VK_BLOCK_BYTES ? size : VK_BLOCK_BYTES;
    struct vk_block nb = { .size = bytes };
    if (!new_buffer(vk, bytes, false, &nb.buf, &nb.mem, &nb.mapped, err, errlen)) return false;
    nb.free_off = malloc(sizeof *nb.free_off);
    nb.free_size = malloc(sizeof *nb.free_size);
    if (!nb.free_off || !nb.free_size) abort();
    nb.free_off[0] = 0;
    nb.free_size[0] = bytes;
    nb.n_free = 1;
    struct vk_block *grown = realloc(vk->blocks, (vk->n_blocks + 1) * sizeof *grown);
    if (!grown) abort();
    vk->blocks = grown;
    vk->blocks[vk->n_blocks++] = nb;
    return carve(vk, vk->n_blocks - 1, size, out);
}

// Puts the piece back in its block's sorted free list, merging with its neighbours.
void vk_release(struct tl_vk_backend *vk, struct vk_piece *p) {
    if (p->block <= 0) return;
    struct vk_block *b = &vk->blocks[p->block];
    int i = 0;
    while (i < b->n_free && b->free_off[i] < p->off) i++;
    VkDeviceSize *no = realloc(b->free_off, (b->n_free + 1) * sizeof *no);
    VkDeviceSize *ns = realloc(b->free_size, (b->n_free + 1) * sizeof *ns);
    if (!no || !ns) abort();
    b->free_off = no;
    b->free_size = ns;
    memmove(no + i + 1, no + i, (b->n_free - i) * sizeof *no);
    memmove(ns + i + 1, ns + i, (b->n_free - i) * sizeof *ns);
    no[i] = p->off;
    ns[i] = p->size;
    b->n_free++;
    if (i + 1 < b->n_free && no[i] + ns[i] == no[i + 1]) {
        ns[i] += ns[i + 1];
        free_list_remove(b, i + 1);
    }
    if (i > 0 && no[i - 1] + ns[i - 1] == no[i]) {
        ns[i - 1] += ns[i];
        free_list_remove(b, i);
    }
    p->block = -1;
}

bool vk_submit_and_wait(struct tl_vk_backend *vk, VkCommandBuffer cmd, VkFence fence, char *err, size_t errlen) {
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd };
    bool ok = vk_check(vkQueueSubmit(vk->queue, 1, &si, fence), "vkQueueSubmit", err, errlen) &&
              vk_check(vkWaitForFences(vk->dev, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences", err, errlen);
    vkResetFences(vk->dev, 1, &fence);
    vkResetCommandBuffer(cmd, 0);
    return ok;
}

static bool run_copy(struct tl_vk_backend *vk, VkBuffer src, VkDeviceSize src_off, VkBuffer dst, VkDeviceSize dst_off,
                     VkDeviceSize n, char *err, size_t errlen) {
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    vkBeginCommandBuffer(vk->copy_cmd, &bi);
    VkBufferCopy region = { .srcOffset = src_off, .dstOffset = dst_off, .size = n };
    vkCmdCopyBuffer(vk->copy_cmd, src, dst, 1, &region);
    vkEndCommandBuffer(vk->copy_cmd);
    return vk_submit_and_wait(vk, vk->copy_cmd, vk->copy_fence, err, errlen);
}

bool vk_write(struct tl_vk_backend *vk, const struct vk_piece *p, VkDeviceSize off, const void *src, size_t n,
              char *err, size_t errlen) {
    struct vk_block *b = &vk->blocks[p->block];
    if (b->mapped) {
        memcpy((char *)b->mapped + p->off + off, src, n);
        return true;
    }
    for (size_t done = 0; done < n;) {
        size_t chunk = n - done < VK_STAGING_BYTES ? n - done : VK_STAGING_BYTES;
        memcpy(vk->staging_map, (const char *)src + done, chunk);
        if (!run_copy(vk, vk->blocks[0].buf, 0, b->buf, p->off + off + done, chunk, err, errlen)) return false;
        done += chunk;
    }
    return true;
}

bool vk_read(struct tl_vk_backend *vk, const struct vk_piece *p, VkDeviceSize off, void *dst, size_t n,
             char *err, size_t errlen) {
    struct vk_block *b = &vk->blocks[p->block];
    if (b->mapped) {
        memcpy(dst, (const char *)b->mapped + p->off + off, n);
        return true;
    }
    for (size_t done = 0; done < n;) {
        size_t chunk = n - done < VK_STAGING_BYTES ? n - done : VK_STAGING_BYTES;
        if (!run_copy(vk, b->buf, p->off + off + done, vk->blocks[0].buf, 0, chunk, err, errlen)) return false;
        memcpy((char *)dst + done, vk->staging_map, chunk);
        done += chunk;
    }
    return true;
}
