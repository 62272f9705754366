// Vulkan instance, device listing and selection, the compute queue.
#include "vk-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool vk_check(VkResult r, const char *what, char *err, size_t errlen) {
    if (r == VK_SUCCESS) return true;
    tl_errorf(err, errlen, "vulkan: %s failed (VkResult %d)", what, (int)r);
    return false;
}

// One instance for the process, never destroyed: destroying it unloads the driver, and
// Mesa 22's lavapipe loses a block then (LeakSanitizer reports it against nothing of
// ours); a process-wide instance is what a long-running user of the GPU holds anyway.
static VkInstance process_instance;
static VkResult process_instance_result = VK_NOT_READY;

static bool create_instance(VkInstance *inst, char *err, size_t errlen) {
    if (process_instance_result == VK_NOT_READY) {
        VkApplicationInfo app = { .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "longvl",
                                  .apiVersion = VK_API_VERSION_1_2 };
        VkInstanceCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app };
        process_instance_result = vkCreateInstance(&ci, NULL, &process_instance);
    }
    VkResult r = process_instance_result;
    *inst = process_instance;
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        tl_errorf(err, errlen, "no Vulkan driver (install mesa-vulkan-drivers for the lavapipe CPU device)");
        return false;
    }
    return vk_check(r, "vkCreateInstance", err, errlen);
}

static const char *device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";   // lavapipe: kept, tests run on it
    default: return "other";
    }
}

static bool has_extension(VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || !n) return false;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    if (!e) abort();
    bool found = false;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

// Tensor cores as mul_mat_cm.comp uses them: VK_NV_cooperative_matrix offering the 16 x 16
// x 16 product of f16 matrices into f32 at subgroup scope. (The KHR extension that AMD and
// Intel drivers offer needs GL_KHR_cooperative_matrix, which Debian 12's glslang lacks.)
static bool coopmat_f16_16x16x16(VkPhysicalDevice pd) {
    if (!has_extension(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) return false;
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get = (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)
        vkGetInstanceProcAddr(process_instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
    uint32_t n = 0;
    if (!get || get(pd, &n, NULL) != VK_SUCCESS || !n) return false;
    VkCooperativeMatrixPropertiesNV *c = calloc(n, sizeof *c);
    if (!c) abort();
    for (uint32_t i = 0; i < n; i++) c[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    bool found = false;
    if (get(pd, &n, c) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = c[i].MSize == 16 && c[i].NSize == 16 && c[i].KSize == 16 && c[i].scope == VK_SCOPE_SUBGROUP_NV &&
                    c[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV && c[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                    c[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV && c[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV;
    free(c);
    return found;
}

static void describe(VkPhysicalDevice pd, struct tl_vk_device_info *info) {
    VkPhysicalDeviceSubgroupProperties sub = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
    VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub };
    vkGetPhysicalDeviceProperties2(pd, &p2);
    VkPhysicalDeviceVulkan12Features f12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES };
    VkPhysicalDeviceVulkan11Features f11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12 };
    VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11 };
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", p2.properties.deviceName);
    snprintf(info->type, sizeof info->type, "%s", device_type_name(p2.properties.deviceType));
    info->api_major = VK_API_VERSION_MAJOR(p2.properties.apiVersion);
    info->api_minor = VK_API_VERSION_MINOR(p2.properties.apiVersion);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) info->device_local_bytes += mp.memoryHeaps[i].size;
    info->subgroup_size = sub.subgroupSize;
    info->fp16_storage = f11.storageBuffer16BitAccess;
    info->subgroup_arith = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                           (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    // mul_mat_cm.comp: 8 subgroups of 32 a workgroup, f16 arithmetic, f16 weights in storage,
    // 44 KiB of shared memory for the large tiles
    info->coopmat = sub.subgroupSize == 32 && f12.shaderFloat16 && info->fp16_storage &&
                    p2.properties.limits.maxComputeSharedMemorySize >= 45056 && coopmat_f16_16x16x16(pd);
}

int tl_vk_list_devices(struct tl_vk_device_info *out, int max, char *err, size_t errlen) {
    VkInstance inst;
    if (!create_instance(&inst, err, errlen)) return 0;
    uint32_t n = TL_VK_MAX_DEVICES;
    VkPhysicalDevice pd[TL_VK_MAX_DEVICES];
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, pd);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) n = 0;
    if (n == 0) tl_errorf(err, errlen, "the Vulkan loader found no device");
    int k = 0;
    for (uint32_t i = 0; i < n && k < max; i++) describe(pd[i], &out[k++]);
    return k;
}

// LONGVL_VK_DEVICE, else the first discrete GPU, else the first device.
static int choose_device(VkPhysicalDevice *pd, uint32_t n, int device, char *err, size_t errlen) {
    const char *env = getenv("LONGVL_VK_DEVICE");
    if (device < 0 && env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0) {
            tl_errorf(err, errlen, "LONGVL_VK_DEVICE='%s' is not a device index (see longvl info --devices)", env);
            return -1;
        }
        device = (int)v;
    }
    if (device >= (int)n) {
        tl_errorf(err, errlen, "Vulkan device %d does not exist: %u device(s) (see longvl info --devices)", device, n);
        return -1;
    }
    if (device >= 0) return device;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pd[i], &p);
        if (p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) return (int)i;
    }
    return 0;
}

static bool open_device(struct tl_vk_backend *vk, char *err, size_t errlen) {
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq, sizeof *qf);
    if (!qf) abort();
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, qf);
    // prefer a compute queue without graphics (a dedicated compute engine)
    int fam = -1;
    for (uint32_t i = 0; i < nq; i++)
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (fam < 0 || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
            fam = (int)i;
    if (fam >= 0) vk->timestamp_bits = qf[fam].timestampValidBits;
    free(qf);
    if (fam < 0) {
        tl_errorf(err, errlen, "vulkan: %s has no compute queue", vk->info.name);
        return false;
    }
    vk->queue_family = (uint32_t)fam;
    float prio = 1;
    VkDeviceQueueCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = vk->queue_family,
                                    .queueCount = 1, .pQueuePriorities = &prio };
    VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
                                                        .cooperativeMatrix = VK_TRUE };
    VkPhysicalDeviceVulkan12Features f12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &fcm,
                                             .shaderFloat16 = VK_TRUE };
    VkPhysicalDeviceVulkan11Features f11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                             .storageBuffer16BitAccess = vk->info.fp16_storage,
                                             .pNext = vk->use_coopmat ? &f12 : NULL };
    const char *coopmat_ext = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    VkDeviceCreateInfo dci = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f11, .queueCreateInfoCount = 1,
                               .pQueueCreateInfos = &qci, .enabledExtensionCount = vk->use_coopmat ? 1 : 0,
                               .ppEnabledExtensionNames = &coopmat_ext };
    if (!vk_check(vkCreateDevice(vk->phys, &dci, NULL, &vk->dev), "vkCreateDevice", err, errlen)) return false;
    vkGetDeviceQueue(vk->dev, vk->queue_family, 0, &vk->queue);
    VkCommandPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = vk->queue_family };
    if (!vk_check(vkCreateCommandPool(vk->dev, &pci, NULL, &vk->cmd_pool), "vkCreateCommandPool", err, errlen)) return false;
    VkCommandBufferAllocateInfo cai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = vk->cmd_pool,
                                        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1 };
    if (!vk_check(vkAllocateCommandBuffers(vk->dev, &cai, &vk->cmd), "vkAllocateCommandBuffers", err, errlen) ||
        !vk_check(vkAllocateCommandBuffers(vk->dev, &cai, &vk->copy_cmd), "vkAllocateCommandBuffers", err, errlen))
        return false;
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    return vk_check(vkCreateFence(vk->dev, &fci, NULL, &vk->fence), "vkCreateFence", err, errlen) &&
           vk_check(vkCreateFence(vk->dev, &fci, NULL, &vk->copy_fence), "vkCreateFence", err, errlen);
}

struct tl_vk_backend *tl_vk_backend_new(int device, char *err, size_t errlen) {
    struct tl_vk_backend *vk = calloc(1, sizeof *vk);
    if (!vk) abort();
    if (!create_instance(&vk->instance, err, errlen)) {
        free(vk);
        return NULL;
    }
    uint32_t n = TL_VK_MAX_DEVICES;
    VkPhysicalDevice pd[TL_VK_MAX_DEVICES];
    VkResult r = vkEnumeratePhysicalDevices(vk->instance, &n, pd);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) n = 0;
    int idx = n ? choose_device(pd, n, device, err, errlen) : -1;
    if (!n) tl_errorf(err, errlen, "no Vulkan device");
    if (idx < 0) {
        tl_vk_backend_free(vk);
        return NULL;
    }
    vk->phys = pd[idx];
    describe(vk->phys, &vk->info);
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(vk->phys, &props);
    vk->align = props.limits.minStorageBufferOffsetAlignment < 16 ? 16 : props.limits.minStorageBufferOffsetAlignment;
    vk->max_range = props.limits.maxStorageBufferRange;
    const char *max_range = getenv("LONGVL_VK_MAX_RANGE");   // tests: a smaller range, so products go in parts
    if (max_range && *max_range) {
        VkDeviceSize want = strtoull(max_range, NULL, 10);
        if (want >= 4 * vk->align && want < vk->max_range) vk->max_range = want;
    }
    vk->max_groups = props.limits.maxComputeWorkGroupCount[0] < props.limits.maxComputeWorkGroupCount[1]
                         ? props.limits.maxComputeWorkGroupCount[0] : props.limits.maxComputeWorkGroupCount[1];
    const char *no_sg = getenv("LONGVL_VK_NO_SUBGROUPS");
    vk->use_subgroups = vk->info.subgroup_arith && !(no_sg && *no_sg && strcmp(no_sg, "0"));
    const char *no_cm = getenv("LONGVL_VK_NO_COOPMAT");
    vk->use_coopmat = vk->info.coopmat && !(no_cm && *no_cm && strcmp(no_cm, "0"));
    vk->info.coopmat = vk->use_coopmat;   // what tl_vk_backend_info() reports: in use
    const char *no_map = getenv("LONGVL_VK_NO_MAP");
    vk->no_map = no_map && *no_map && strcmp(no_map, "0");
    const char *min_tiles = getenv("LONGVL_VK_GEMM_LARGE_MIN_TILES");
    vk->shared_32k = props.limits.maxComputeSharedMemorySize >= 32768;   // Vulkan promises 16 KiB
    vk->gemm_large_min_tiles = !vk->shared_32k ? 0
                               : min_tiles && *min_tiles ? (uint32_t)strtoul(min_tiles, NULL, 10)
                               : VK_GEMM_LARGE_MIN_TILES;
    if (!open_device(vk, err, errlen) || !vk_memory_init(vk, err, errlen) || !vk_pipelines_init(vk, err, errlen)) {
        tl_vk_backend_free(vk);
        return NULL;
    }
    vk_span_init(vk, vk->timestamp_bits, props.limits.timestampPeriod);
    vk_profile_init(vk, vk->timestamp_bits, props.limits.timestampPeriod);
    return vk;
}

void tl_vk_backend_free(struct tl_vk_backend *vk) {
    if (!vk) return;
    if (vk->dev) {
        vkDeviceWaitIdle(vk->dev);
        vk_profile_report(vk);
        vk_span_free(vk);
        vk_pipelines_free(vk);
        vk_memory_free(vk);
        if (vk->fence) vkDestroyFence(vk->dev, vk->fence, NULL);
        if (vk->copy_fence) vkDestroyFence(vk->dev, vk->copy_fence, NULL);
        if (vk->cmd_pool) vkDestroyCommandPool(vk->dev, vk->cmd_pool, NULL);
        vkDestroyDevice(vk->dev, NULL);
    }
    free(vk);   // the instance is the process's (create_instance)
}

const struct tl_vk_device_info *tl_vk_backend_info(const struct tl_vk_backend *vk) { return &vk->info; }

bool tl_vk_supports(const struct tl_vk_backend *vk, const struct tl_tensor *node) {
    return vk_op_supported(vk, node) && vk_fits(vk, node);
}

bool tl_vk_rounds_to_f16(const struct tl_vk_backend *vk, const struct tl_tensor *node) {
    return node->op == TL_OP_MUL_MAT && tl_vk_supports(vk, node) &&
           vk_gemm_on_tensor_cores(vk, vk_weight_index(vk, node->src[0]->type), node->src[1]->ne[1]);
}
