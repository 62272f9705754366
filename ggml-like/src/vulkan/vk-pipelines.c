// Compute pipelines from the SPIR-V the build embeds (vk-spirv.c, made from shaders/),
// one descriptor set of storage buffers each, shapes and strides in push constants.
#include "vk-impl.h"

#include <stdio.h>
#include <string.h>

struct tl_vk_spirv { const char *name; const unsigned char *code; size_t size; };
extern const struct tl_vk_spirv tl_vk_spirv_table[];

struct pipe_def {
    char name[32];
    int  n_bindings;
    bool needs_f16;        // storageBuffer16BitAccess
    bool needs_subgroups;  // subgroup arithmetic in compute shaders
    bool needs_shared_32k; // 32 KiB of shared memory (the tiled GEMM's large variant, tiled attention)
    bool needs_coopmat;    // tensor cores (use_coopmat)
    bool absent;           // no such variant (the tensor-core GEMM of f32 and bf16 weights)
};

static const struct pipe_def fixed_defs[] = {
    [VK_PIPE_BINARY] = { "binary", 3 },
    [VK_PIPE_UNARY] = { "unary", 2 },
    [VK_PIPE_NORM] = { "norm", 2 },
    [VK_PIPE_SOFT_MAX] = { "soft_max", 3 },
    [VK_PIPE_ROPE] = { "rope", 3 },
    [VK_PIPE_GET_ROWS_F32] = { "get_rows_f32", 3 },
    [VK_PIPE_GET_ROWS_F16] = { "get_rows_f16", 3, true },
    [VK_PIPE_CONCAT_32] = { "concat_32", 3 },
    [VK_PIPE_CONCAT_F16] = { "concat_f16", 3, true },
    [VK_PIPE_ARGMAX] = { "argmax", 2 },
    [VK_PIPE_SUM_TO] = { "sum_to", 2 },
    [VK_PIPE_GET_ROWS_BACK] = { "get_rows_back", 3 },
    [VK_PIPE_UNARY_BACK] = { "unary_back", 3 },
    [VK_PIPE_NORM_BACK] = { "norm_back", 3 },
    [VK_PIPE_ATTN_BACK_Q] = { "attn_back_q", 9, .needs_shared_32k = true },
    [VK_PIPE_ATTN_BACK_KV] = { "attn_back_kv", 9, .needs_shared_32k = true },
    [VK_PIPE_LM_SOFTMAX] = { "lm_softmax", 4 },
    [VK_PIPE_PEAK] = { "peak", 1 },
    [VK_PIPE_READ] = { "read", 2 },
    [VK_PIPE_PEAK_CM] = { "peak_cm", 1, .needs_coopmat = true },
    [VK_PIPE_ATTN_COMBINE] = { "attn_combine", 2 },
    [VK_PIPE_ADD_SPLITS] = { "add_splits", 2 },
    [VK_PIPE_CPY_Q8_0] = { "cpy_f32_q8_0", 2, true },   // 16-bit stores
    [VK_PIPE_CPY_Q4_0] = { "cpy_f32_q4_0", 2, true },
};

// The definition of pipeline id: fixed ones from the table, the per-type groups by name.
static struct pipe_def pipe_def(enum vk_pipe id) {
    static const char *const weights[VK_W_COUNT] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K" };
    static const char *const kvs[VK_KV_COUNT] = { "f32", "f16", "q8_0", "q4_0" };
    static const char *const copies[3] = { "f32", "f16", "bf16" };
    struct pipe_def d = { .n_bindings = 3 };
    if (id >= VK_PIPE_CPY && id < VK_PIPE_CPY + 9) {
        int src = (id - VK_PIPE_CPY) / 3, dst = (id - VK_PIPE_CPY) % 3;
        snprintf(d.name, sizeof d.name, "cpy_%s_%s", copies[src], copies[dst]);
        d.n_bindings = 2;
        d.needs_f16 = src || dst;
        return d;
    }
    if (id < VK_PIPE_FLASH_ATTN) return fixed_defs[id];
    if (id < VK_PIPE_MUL_MAT) {
        int kind = (id - VK_PIPE_FLASH_ATTN) / VK_KV_COUNT, kv = (id - VK_PIPE_FLASH_ATTN) % VK_KV_COUNT;
        static const char *const kinds[3] = { "", "tile_", "gqa_" };
        snprintf(d.name, sizeof d.name, "flash_attn_%s%s", kinds[kind], kvs[kv]);
        d.n_bindings = 7;
        d.needs_f16 = kv == VK_KV_F16;
        d.needs_shared_32k = kind == 1;
        return d;
    }
    int group = (id - VK_PIPE_MUL_MAT) / VK_W_COUNT, w = (id - VK_PIPE_MUL_MAT) % VK_W_COUNT;
    static const char *const prefix[6] = { "mul_mat", "mul_vec", "mul_vec_sg", "mul_mat_l", "mul_mat_cm", "mul_mat_cm_l" };
    snprintf(d.name, sizeof d.name, "%s_%s", prefix[group], weights[w]);
    d.needs_f16 = w == VK_W_F16;
    d.needs_subgroups = group == 2;
    d.needs_shared_32k = group >= 3;   // (the tensor-core tiles: info.coopmat checks for their 44 KiB)
    d.needs_coopmat = group >= 4;
    d.absent = d.needs_coopmat && (w == VK_W_F32 || w == VK_W_BF16);
    return d;
}

static const struct tl_vk_spirv *find_spirv(const char *name) {
    for (const struct tl_vk_spirv *s = tl_vk_spirv_table; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

static bool create_pipeline(struct tl_vk_backend *vk, enum vk_pipe id, char *err, size_t errlen) {
    struct vk_pipeline *p = &vk->pipes[id];
    struct pipe_def def = pipe_def(id);
    const struct tl_vk_spirv *spv = find_spirv(def.name);
    if (!spv) {
        tl_errorf(err, errlen, "vulkan: shader %s is not in the library", def.name);
        return false;
    }
    p->n_bindings = def.n_bindings;
    snprintf(p->name, sizeof p->name, "%s", def.name);
    VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
    for (int i = 0; i < p->n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){ .binding = (uint32_t)i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT };
    VkDescriptorSetLayoutCreateInfo dci = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                            .bindingCount = (uint32_t)p->n_bindings, .pBindings = b };
    if (!vk_check(vkCreateDescriptorSetLayout(vk->dev, &dci, NULL, &p->dsl), "vkCreateDescriptorSetLayout", err, errlen))
        return false;
    VkPushConstantRange pcr = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VK_PUSH_BYTES };
    VkPipelineLayoutCreateInfo lci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                       .pSetLayouts = &p->dsl, .pushConstantRangeCount = 1, .pPushConstantRanges = &pcr };
    if (!vk_check(vkCreatePipelineLayout(vk->dev, &lci, NULL, &p->layout), "vkCreatePipelineLayout", err, errlen))
        return false;
    VkShaderModuleCreateInfo sci = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = spv->size,
                                     .pCode = (const uint32_t *)spv->code };
    VkShaderModule mod;
    if (!vk_check(vkCreateShaderModule(vk->dev, &sci, NULL, &mod), "vkCreateShaderModule", err, errlen)) return false;
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                   .module = mod, .pName = "main" },
        .layout = p->layout,
    };
    VkResult r = vkCreateComputePipelines(vk->dev, VK_NULL_HANDLE, 1, &pci, NULL, &p->pipe);
    vkDestroyShaderModule(vk->dev, mod, NULL);
    if (r != VK_SUCCESS) {
        tl_errorf(err, errlen, "vulkan: pipeline %s failed (VkResult %d)", def.name, (int)r);
        return false;
    }
    return true;
}

bool vk_descriptor_set(struct tl_vk_backend *vk, const struct vk_pipeline *p, const VkDescriptorBufferInfo *infos,
                       int n, VkDescriptorSet *set, char *err, size_t errlen) {
    VkDescriptorSetAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = vk->desc_pool,
                                       .descriptorSetCount = 1, .pSetLayouts = &p->dsl };
    if (!vk_check(vkAllocateDescriptorSets(vk->dev, &ai, set), "vkAllocateDescriptorSets", err, errlen)) return false;
    vk->desc_sets_left--;
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (int i = 0; i < n; i++)
        w[i] = (VkWriteDescriptorSet){ .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = *set, .dstBinding = (uint32_t)i,
                                       .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       .pBufferInfo = &infos[i] };
    vkUpdateDescriptorSets(vk->dev, (uint32_t)n, w, 0, NULL);
    return true;
}

bool vk_pipelines_init(struct tl_vk_backend *vk, char *err, size_t errlen) {
    for (int i = 0; i < VK_PIPE_COUNT; i++) {
        struct pipe_def def = pipe_def((enum vk_pipe)i);
        if (def.needs_f16 && !vk->info.fp16_storage) continue;    // those ops run on the CPU
        if (def.needs_subgroups && !vk->use_subgroups) continue;   // the shared-memory variant runs
        if (def.needs_shared_32k && !vk->shared_32k) continue;       // smaller tiles, or the CPU
        if ((def.needs_coopmat && !vk->use_coopmat) || def.absent) continue;   // the f32 tiles
        if (!create_pipeline(vk, (enum vk_pipe)i, err, errlen)) return false;
    }
    VkDescriptorPoolSize ps = { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = VK_DESC_SETS * VK_MAX_BINDINGS };
    VkDescriptorPoolCreateInfo dpi = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = VK_DESC_SETS,
                                       .poolSizeCount = 1, .pPoolSizes = &ps };
    if (!vk_check(vkCreateDescriptorPool(vk->dev, &dpi, NULL, &vk->desc_pool), "vkCreateDescriptorPool", err, errlen))
        return false;
    vk->desc_sets_left = VK_DESC_SETS;
    return true;
}

void vk_pipelines_free(struct tl_vk_backend *vk) {
    for (int i = 0; i < VK_PIPE_COUNT; i++) {
        struct vk_pipeline *p = &vk->pipes[i];
        if (p->pipe) vkDestroyPipeline(vk->dev, p->pipe, NULL);
        if (p->layout) vkDestroyPipelineLayout(vk->dev, p->layout, NULL);
        if (p->dsl) vkDestroyDescriptorSetLayout(vk->dev, p->dsl, NULL);
    }
    if (vk->desc_pool) vkDestroyDescriptorPool(vk->dev, vk->desc_pool, NULL);
}
