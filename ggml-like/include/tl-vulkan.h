// tl-vulkan.h: the Vulkan backend. Runs graphs on any GPU with a Vulkan 1.2 compute queue
// (AMD, Intel, NVIDIA; Mesa's lavapipe on machines without one).
//
// Device memory mirrors host memory: every tensor keeps its host address, and the bytes
// behind it also live in a device buffer at the same offset within its allocation. So a
// node that Vulkan cannot run executes on the CPU after its inputs' bytes come down, and
// its result goes back up, with no change to the graph.
//
//     struct tl_vk_backend *vk = tl_vk_backend_new(-1, err, sizeof err);  // LONGVL_VK_DEVICE
//     struct tl_vk_mirror *m = tl_vk_mirror_new(vk);   // device copies for a series of graphs
//     tl_vk_compute(m, graph, 2, NULL, err, sizeof err);   // outputs come back to the host
//
// Leaves (weights, caches) are uploaded the first time a mirror sees them and stay on
// the device; leaves flagged TL_FLAG_INPUT are uploaded at every compute. The graph's
// nodes flagged TL_FLAG_OUTPUT and its last node are downloaded after it ran.
#pragma once

#include "tl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_VK_MAX_DEVICES 16

struct tl_vk_device_info {
    char     name[256];
    char     type[16];          // "discrete", "integrated", "virtual", "cpu", "other"
    uint32_t api_major, api_minor;
    uint64_t device_local_bytes;
    uint32_t subgroup_size;
    bool     fp16_storage;      // storageBuffer16BitAccess: F16 tensors run on the device
    bool     subgroup_arith;    // subgroup adds in compute shaders: the GEMV path uses them
                                // (LONGVL_VK_NO_SUBGROUPS=1 forces the shared-memory path)
    bool     coopmat;           // tensor cores (VK_NV_cooperative_matrix, f16 x f16 -> f32): the
                                // GEMM of F16 and block-format weights uses them, its operands
                                // rounded to f16 (LONGVL_VK_NO_COOPMAT=1 keeps the f32 tiles; a
                                // backend's info says whether it uses them)
};

// The devices the Vulkan loader sees (0 when there is no loader or no device; then err
// says why). Index order is the loader's.
int tl_vk_list_devices(struct tl_vk_device_info *out, int max, char *err, size_t errlen);

struct tl_vk_backend;
// device < 0: LONGVL_VK_DEVICE if set, else the first discrete GPU, else device 0.
struct tl_vk_backend *tl_vk_backend_new(int device, char *err, size_t errlen);
void tl_vk_backend_free(struct tl_vk_backend *vk);
const struct tl_vk_device_info *tl_vk_backend_info(const struct tl_vk_backend *vk);
// true when this node runs on the device (false: it runs on the CPU)
bool tl_vk_supports(const struct tl_vk_backend *vk, const struct tl_tensor *node);
// true when this node is a product the device computes on its tensor cores, from its
// operands rounded to f16 (sums in f32): what a caller comparing results must allow for
bool tl_vk_rounds_to_f16(const struct tl_vk_backend *vk, const struct tl_tensor *node);

struct tl_vk_mirror;
struct tl_vk_mirror *tl_vk_mirror_new(struct tl_vk_backend *vk);
void tl_vk_mirror_free(struct tl_vk_mirror *m);

struct tl_vk_stats {
    int    nodes_device, nodes_cpu;   // compute nodes run on each side
    int    submits, barriers, dispatches;
    double upload_bytes, download_bytes;
    double device_seconds;            // the device's time in the dispatches: from the start of
                                      // each command buffer to its end, by timestamps (0 where
                                      // the queue has none); the rest of the call is the host's:
    double upload_seconds;            // ... copying the graph's inputs and new leaves up,
    double record_seconds;            // ... recording the dispatches (descriptor sets included),
    double submit_seconds;            // ... submitting and waiting (the device time within),
    double download_seconds;          // ... copying the outputs down,
    double cpu_node_seconds;          // ... and nodes without a device kernel, with their copies
};

// Computes g (see the top of this file). n_threads is for nodes that run on the CPU.
// Logs each CPU-fallback op once to stderr when LONGVL_VK_VERBOSE is set.
bool tl_vk_compute(struct tl_vk_mirror *m, struct tl_graph *g, int n_threads, struct tl_vk_stats *stats,
                   char *err, size_t errlen);
// The device's measured limits, the references of the Vulkan benchmark: copy bandwidth
// (bytes read + written per second by vkCmdCopyBuffer over copy_bytes), read bandwidth
// (a shader streaming copy_bytes: what a GEMV's weight stream can reach), f32 FMA
// throughput (flop/s, an FMA counting 2) and, where the GEMM uses them (info.coopmat),
// the tensor cores' f16 x f16 + f32 throughput (else 0).
struct tl_vk_limits { double copy_bytes_per_s, read_bytes_per_s, fma_flops_per_s, tensor_flops_per_s; };
bool tl_vk_measure_limits(struct tl_vk_backend *vk, size_t copy_bytes, struct tl_vk_limits *out, char *err,
                          size_t errlen);
// Copies t's bytes from the device to the host (e.g. a cache the graph wrote).
bool tl_vk_download(struct tl_vk_mirror *m, const struct tl_tensor *t, char *err, size_t errlen);
// The host changed a leaf's bytes (weights after an optimizer step): copies them up if
// the mirror holds the leaf (otherwise it goes up when a graph first uses it).
bool tl_vk_refresh(struct tl_vk_mirror *m, const struct tl_tensor *t, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
