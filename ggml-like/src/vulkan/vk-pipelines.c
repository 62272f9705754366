// Compute pipelines from the SPIR-V the build embeds (vk-spirv.c, made from shaders/),
// one descriptor set of storage buffers each, shapes and strides in push constants.
#include "vk-impl.h"

#include <string.h>

struct tl_vk_spirv { const char *name; const unsigned char *code; size_t size; };
extern const struct tl_vk_spirv tl_vk_spirv_table[];

static const struct { const char *name; int n_bindings; } pipe_defs[VK_PIPE_COUNT] = {
    [VK_PIPE_BINARY] = { "binary", 3 },
    [VK_PIPE_UNARY] = { "unary", 2 },
    [VK_PIPE_NORM] = { "norm", 2 },
    [VK_PIPE_SOFT_MAX] = { "soft_max", 3 },
    [VK_PIPE_ROPE] = { "rope", 3 },
    [VK_PIPE_GET_ROWS_F32] = { "get_rows_f32", 3 },
    [VK_PIPE_GET_ROWS_F16] = { "get_rows_f16", 3 },
    [VK_PIPE_CPY_F32_F32] = { "cpy_f32_f32", 2 },
    [VK_PIPE_CPY_F32_F16] = { "cpy_f32_f16", 2 },
    [VK_PIPE_CPY_F16_F32] = { "cpy_f16_f32", 2 },
    [VK_PIPE_CPY_F16_F16] = { "cpy_f16_f16", 2 },
    [VK_PIPE_MUL_MAT_F32] = { "mul_mat_f32", 3 },
    [VK_PIPE_MUL_MAT_F16] = { "mul_mat_f16", 3 },
};


static const struct tl_vk_spirv *find_spirv(const char *name) {
    for (const struct tl_vk_spirv *s = tl_vk_spirv_table; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

static bool create_pipeline(struct tl_vk_backend *vk, enum vk_pipe id, char *err, size_t errlen) {
    struct vk_pipeline *p = &vk->pipes[id];
    const struct tl_vk_spirv *spv = find_spirv(pipe_defs[id].name);
    if (!spv) {
        tl_errorf(err, errlen, "vulkan: shader %s is not in the library", pipe_defs[id].name);
        return false;
    }
    p->n_bindings = pipe_defs[id].n_bindings;
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
        tl_errorf(err, errlen, "vulkan: pipeline %s failed (VkResult %d)", pipe_defs[id].name, (int)r);
        return false;
    }
    return true;
}

bool vk_pipelines_init(struct tl_vk_backend *vk, char *err, size_t errlen) {
    for (int i = 0; i < VK_PIPE_COUNT; i++) {
        bool f16 = strstr(pipe_defs[i].name, "f16") != NULL;
        if (f16 && !vk->info.fp16_storage) continue;   // those ops run on the CPU
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
