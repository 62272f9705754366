// Internals of the Vulkan backend (tl-vulkan.h): the device, the memory sub-allocator,
// pipelines, the host -> device mirror and the per-op dispatch setup.
#pragma once

#include "tl-impl.h"
#include "tl-vulkan.h"

#include <vulkan/vulkan.h>

// --- memory (vk-memory.c): big device blocks carved into aligned pieces ------------------
struct vk_block {
    VkDeviceMemory mem;
    VkBuffer       buf;
    VkDeviceSize   size;
    void          *mapped;     // non-NULL when the memory is host-visible (lavapipe, UMA, ReBAR)
    int            n_free;     // free list: sorted, non-adjacent (offset, size) pairs
    VkDeviceSize  *free_off, *free_size;
};

struct vk_piece {
    int          block;        // -1: none
    VkDeviceSize off, size;
};

// --- pipelines (vk-pipelines.c) ---------------------------------------------------------
// Weight types of mul_mat, in the order of the mul_mat/mul_vec pipeline groups.
enum vk_weight { VK_W_F32, VK_W_F16, VK_W_BF16, VK_W_Q8_0, VK_W_Q4_0, VK_W_Q4_K, VK_W_Q6_K, VK_W_COUNT };
// KV types of flash_attn, in the order of its pipelines.
enum vk_kv { VK_KV_F32, VK_KV_F16, VK_KV_Q8_0, VK_KV_Q4_0, VK_KV_COUNT };

enum vk_pipe {
    VK_PIPE_BINARY, VK_PIPE_UNARY, VK_PIPE_NORM, VK_PIPE_SOFT_MAX, VK_PIPE_ROPE,
    VK_PIPE_GET_ROWS_F32, VK_PIPE_GET_ROWS_F16,
    VK_PIPE_CPY,                                      // + 3 * source + destination, f32 f16 bf16
    VK_PIPE_CONCAT_32 = VK_PIPE_CPY + 9,
    VK_PIPE_CONCAT_F16, VK_PIPE_ARGMAX,
    VK_PIPE_SUM_TO, VK_PIPE_GET_ROWS_BACK, VK_PIPE_UNARY_BACK, VK_PIPE_NORM_BACK,
    VK_PIPE_ATTN_BACK_Q, VK_PIPE_ATTN_BACK_KV,        // flash_attn_back: dq (+ statistics), then dk, dv
    VK_PIPE_LM_SOFTMAX,                               // lm_loss: a chunk's softmax minus the one-hot
    VK_PIPE_PEAK, VK_PIPE_READ,                       // the benchmark's FMA loop and read stream (vk-measure.c)
    VK_PIPE_PEAK_CM,                                  // ... and tensor-core loop
    VK_PIPE_ATTN_COMBINE,                             // flash_attn: merges the key splits
    VK_PIPE_ADD_SPLITS,                               // mul_mat: adds up the K splits
    VK_PIPE_CPY_Q8_0, VK_PIPE_CPY_Q4_0,               // cpy f32 -> block format (a KV-cache write)
    VK_PIPE_FLASH_ATTN,                               // + enum vk_kv: a query row a workgroup
    VK_PIPE_FLASH_ATTN_TILE = VK_PIPE_FLASH_ATTN + VK_KV_COUNT,   // + enum vk_kv: blocks of queries
    VK_PIPE_FLASH_ATTN_GQA = VK_PIPE_FLASH_ATTN_TILE + VK_KV_COUNT,   // + enum vk_kv: a query's KV-head group
    VK_PIPE_MUL_MAT = VK_PIPE_FLASH_ATTN_GQA + VK_KV_COUNT,       // + enum vk_weight: tiled GEMM
    VK_PIPE_MUL_VEC = VK_PIPE_MUL_MAT + VK_W_COUNT,       // GEMV, shared-memory sums
    VK_PIPE_MUL_VEC_SG = VK_PIPE_MUL_VEC + VK_W_COUNT,    // GEMV, subgroup sums
    VK_PIPE_MUL_MAT_L = VK_PIPE_MUL_VEC_SG + VK_W_COUNT,  // tiled GEMM, large tiles
    VK_PIPE_MUL_MAT_CM = VK_PIPE_MUL_MAT_L + VK_W_COUNT,  // tiled GEMM on tensor cores (not f32, bf16)
    VK_PIPE_MUL_MAT_CM_L = VK_PIPE_MUL_MAT_CM + VK_W_COUNT,   // the same, large tiles
    VK_PIPE_COUNT = VK_PIPE_MUL_MAT_CM_L + VK_W_COUNT,
};

#define VK_MAX_BINDINGS 10
#define VK_GEMV_MAX_N   8    // mul_vec.comp's MAX_N: up to this many columns take the GEMV path
#define VK_GEMM_TILE    64   // mul_mat.comp's tile side (M and N); the large variant's is twice
// Large GEMM tiles when a product has at least this many of them (enough to fill a big
// GPU's cores several times over); LONGVL_VK_GEMM_LARGE_MIN_TILES overrides it (tests: 1).
#define VK_GEMM_LARGE_MIN_TILES 256
#define VK_GEMM_SPLIT_GROUPS  256   // split K until about this many workgroups run ...
#define VK_GEMM_MIN_SPLIT_K   256   // ... but no split shorter than this
#define VK_PUSH_BYTES   128
#define VK_DESC_SETS    1024   // dispatches recorded between two descriptor pool resets

struct vk_pipeline {
    VkDescriptorSetLayout dsl;
    VkPipelineLayout      layout;
    VkPipeline            pipe;
    int                   n_bindings;
    char                  name[32];   // the shader variant, e.g. "mul_vec_sg_q4_0"
};

struct tl_vk_backend {
    struct tl_vk_device_info info;
    VkInstance       instance;
    VkPhysicalDevice phys;
    VkDevice         dev;
    VkQueue          queue;
    uint32_t         queue_family;
    VkCommandPool    cmd_pool;
    VkCommandBuffer  cmd, copy_cmd;   // graph dispatches; synchronous transfers
    VkFence          fence, copy_fence;
    VkDescriptorPool desc_pool;
    int              desc_sets_left;
    uint32_t         mem_type_device, mem_type_host;   // device-local; host-visible coherent
    VkDeviceSize     align;                            // minStorageBufferOffsetAlignment
    VkDeviceSize     max_range;                        // maxStorageBufferRange
    uint32_t         max_groups;                       // maxComputeWorkGroupCount[0..1]
    bool             use_subgroups;                    // subgroup arithmetic, unless LONGVL_VK_NO_SUBGROUPS
    bool             use_coopmat;                      // tensor-core GEMM (info.coopmat), unless LONGVL_VK_NO_COOPMAT
    bool             shared_32k;                       // 32 KiB of shared memory: tiled attention, large GEMM tiles
    uint32_t         gemm_large_min_tiles;             // 0: no large-tile GEMM
    bool             no_map;                           // LONGVL_VK_NO_MAP: never map device blocks
    struct vk_block *blocks;
    int              n_blocks;
    struct vk_piece  staging;                          // host-visible, for uploads/downloads
    void            *staging_map;
    struct vk_pipeline pipes[VK_PIPE_COUNT];
    uint32_t         timestamp_bits;                   // the queue's timestampValidBits
    struct vk_profile *profile;                        // LONGVL_VK_PROFILE (vk-profile.c); NULL: off
    VkQueryPool      span_pool;                        // a command buffer's first and last timestamp
    double           tick_seconds;                     // timestampPeriod
};

bool vk_check(VkResult r, const char *what, char *err, size_t errlen);

// --- LONGVL_VK_PROFILE (vk-profile.c): device time per dispatch label, reported at free --
void vk_profile_init(struct tl_vk_backend *vk, uint32_t timestamp_bits, float period_ns);
void vk_profile_begin(struct tl_vk_backend *vk);                      // vk->cmd began
void vk_profile_mark(struct tl_vk_backend *vk, const char *label);    // after a dispatch
void vk_profile_collect(struct tl_vk_backend *vk);                    // after the submit ran
void vk_profile_compute_done(struct tl_vk_backend *vk, double wall_seconds, const struct tl_vk_stats *st);
void vk_profile_report(struct tl_vk_backend *vk);
// The device time of a command buffer (tl_vk_stats.device_seconds, the benchmark's
// references): timestamps at its start and end, read after the submit (0 without
// timestamps).
void vk_span_init(struct tl_vk_backend *vk, uint32_t timestamp_bits, float period_ns);
void vk_span_free(struct tl_vk_backend *vk);
void vk_span_begin(struct tl_vk_backend *vk, VkCommandBuffer cmd);   // cmd began
void vk_span_end(struct tl_vk_backend *vk, VkCommandBuffer cmd);     // before cmd ends
double vk_span_seconds(struct tl_vk_backend *vk);                    // after the submit ran
// Submits a recorded command buffer, waits for it, and resets it and the fence.
bool vk_submit_and_wait(struct tl_vk_backend *vk, VkCommandBuffer cmd, VkFence fence, char *err, size_t errlen);
bool vk_memory_init(struct tl_vk_backend *vk, char *err, size_t errlen);
void vk_memory_free(struct tl_vk_backend *vk);
bool vk_alloc(struct tl_vk_backend *vk, VkDeviceSize size, struct vk_piece *out, char *err, size_t errlen);
void vk_release(struct tl_vk_backend *vk, struct vk_piece *p);
// Host <-> device copies of n bytes at byte offset off of piece p (synchronous).
bool vk_write(struct tl_vk_backend *vk, const struct vk_piece *p, VkDeviceSize off, const void *src, size_t n,
              char *err, size_t errlen);
bool vk_read(struct tl_vk_backend *vk, const struct vk_piece *p, VkDeviceSize off, void *dst, size_t n,
             char *err, size_t errlen);

bool vk_pipelines_init(struct tl_vk_backend *vk, char *err, size_t errlen);
// A descriptor set of pipeline p from the pool, binding infos[0..n) in order (one of
// desc_sets_left, until the pool is reset).
bool vk_descriptor_set(struct tl_vk_backend *vk, const struct vk_pipeline *p, const VkDescriptorBufferInfo *infos,
                       int n, VkDescriptorSet *set, char *err, size_t errlen);
void vk_pipelines_free(struct tl_vk_backend *vk);

// --- the mirror (vk-mirror.c): which device bytes stand for which host bytes -------------
struct vk_region {
    const char     *host;        // host range [host, host + size)
    size_t          size;
    struct vk_piece piece;       // device bytes; piece.off + (h - host) stands for h
    VkDeviceSize    bias;        // extra bytes at the piece's start so device and host agree mod 16
    bool            persistent;  // a leaf's storage (weights, caches): kept across computes
    bool            device_newer;// the device wrote it since the host last read it
};

struct tl_vk_mirror {
    struct tl_vk_backend *vk;
    struct vk_region     *regions;
    int                   n_regions, cap_regions;
};

// The region holding t's bytes (NULL if none).
struct vk_region *vk_mirror_find(struct tl_vk_mirror *m, const struct tl_tensor *t);
// Device regions for every tensor of g: leaves' storage kept (uploaded when new or an
// input), other storage in scratch regions that vk_mirror_end_graph releases.
bool vk_mirror_begin_graph(struct tl_vk_mirror *m, struct tl_graph *g, struct tl_vk_stats *st, char *err,
                           size_t errlen);
void vk_mirror_end_graph(struct tl_vk_mirror *m);
bool vk_mirror_download(struct tl_vk_mirror *m, const struct tl_tensor *t, struct tl_vk_stats *st, char *err,
                        size_t errlen);
bool vk_mirror_upload(struct tl_vk_mirror *m, const struct tl_tensor *t, struct tl_vk_stats *st, char *err,
                      size_t errlen);

// --- one node's dispatches (vk-ops.c) ----------------------------------------------------
// A bound byte range of a device block (a tensor's, from its aligned start, or a scratch
// piece's).
struct vk_binding {
    int          block;
    VkDeviceSize off, size;
    bool         written;
};

struct vk_dispatch {
    enum vk_pipe      pipe;
    int               n_bindings;
    struct vk_binding b[VK_MAX_BINDINGS];
    uint32_t          push[VK_PUSH_BYTES / 4];
    uint32_t          push_size;
    uint32_t          groups[3];
};

#define VK_MAX_SCRATCH 4
// What one node records: its dispatches in order (most ops one; the backward and loss ops
// several, with barriers between them where one reads what another wrote) and the
// device scratch they share (rope's cos/sin table, softmax statistics, logits), released
// once the dispatches have run.
struct vk_plan {
    struct vk_dispatch *d;
    int                 n, cap;
    struct vk_piece     scratch[VK_MAX_SCRATCH];
    int                 n_scratch;
};

bool vk_op_supported(const struct tl_vk_backend *vk, const struct tl_tensor *node);
// Whether every range the node binds fits one descriptor (maxStorageBufferRange), or the
// node can be done in parts that do (a 2-D mul_mat).
bool vk_fits(const struct tl_vk_backend *vk, const struct tl_tensor *node);
// Appends node's dispatches to plan (emptied first): bindings (from vk_bind_range),
// push constants, group counts; marks the regions they write as newer on the device.
bool vk_op_prepare(struct tl_vk_mirror *m, const struct tl_tensor *node, struct vk_plan *plan, char *err,
                   size_t errlen);
void vk_plan_free(struct vk_plan *plan);
// The backward and loss ops (vk-ops-grad.c): vk_grad_supported says which run on the
// device (false for every other op), vk_prepare_grad fails for ops it does not know.
bool vk_grad_supported(const struct tl_vk_backend *vk, const struct tl_tensor *node);
bool vk_prepare_grad(struct tl_vk_mirror *m, const struct tl_tensor *node, struct vk_plan *plan, char *err,
                     size_t errlen);

// Building blocks of the prepare functions (vk-dispatch.c).
struct vk_dispatch *vk_plan_add(struct vk_plan *plan);
// A device piece of bytes owned by the plan (NULL + err when memory runs out).
struct vk_piece *vk_plan_scratch(struct tl_vk_backend *vk, struct vk_plan *plan, size_t bytes, char *err,
                                 size_t errlen);
// The same, holding a copy of bytes the host built (rope's table, get_rows_back's lists).
struct vk_piece *vk_plan_upload(struct tl_vk_backend *vk, struct vk_plan *plan, const void *data, size_t bytes,
                                char *err, size_t errlen);
// The mul_mat pipeline group index of a weight type; -1 if the device has no kernel for it.
int vk_weight_index(const struct tl_vk_backend *vk, enum tl_type type);
// Binds t (or a scratch piece) as d's next binding; vk_bind returns t's element offset
// past the bound start.
uint32_t vk_bind(struct tl_vk_mirror *m, struct vk_dispatch *d, const struct tl_tensor *t, bool written);
void vk_bind_piece(struct vk_dispatch *d, const struct vk_piece *p, bool written);
// Push constants in the order the shader's block declares them.
void vk_push_u32(struct vk_dispatch *d, uint32_t v);
void vk_push_f32(struct vk_dispatch *d, float v);
void vk_push_ne(struct vk_dispatch *d, const struct tl_tensor *t);
void vk_push_nb_from(struct vk_dispatch *d, const struct tl_tensor *t, int first);   // dims first..3
void vk_push_nb(struct vk_dispatch *d, const struct tl_tensor *t);
// mul_mat.comp's push constants: d[n][m] (+)= sum_k a[m][k] b[n][k] per batch, with a's
// and b's strides per dimension (k, m or n, batch 2, batch 3) and offsets in
// vk_elem_bytes units, b's batch counts and their ratios to a's (broadcast).
struct vk_gemm {
    uint32_t K, M, N;
    uint32_t sa[4], off_a;
    uint32_t sb[4], off_b;
    uint32_t off_d;
    uint32_t b2, b3, r2, r3;
    uint32_t ldd;                 // floats between output columns; 0: M (a contiguous output)
    bool     accumulate;
    uint32_t k_split;   // k per split of K (vk_gemm_split); 0: one split
};
void vk_push_gemm(struct vk_dispatch *d, const struct vk_gemm *g);
// Splits K when the output has too few tiles to keep the device busy and K is long (a
// weight gradient over many tokens): sets g->k_split, returns the number of splits (1:
// none). The caller binds a scratch of splits x M x N x batches floats as the output and
// records vk_add_splits after the GEMM.
uint32_t vk_gemm_split(struct vk_gemm *g, uint32_t batches);
// The dispatch adding up the n floats of each of the splits in part into t, at element
// offset extra past t's start.
void vk_add_splits(struct tl_vk_mirror *m, struct vk_plan *plan, const struct vk_piece *part,
                   const struct tl_tensor *t, uint32_t extra, uint32_t n, uint32_t splits);
// The tiled GEMM of weight type w (enum vk_weight) over an M x N output per batch: the
// pipeline (small or large tiles) and the groups of dims 0-1.
void vk_gemm_tiles(const struct tl_vk_backend *vk, struct vk_dispatch *d, int w, uint32_t M, uint32_t N,
                   bool tensor_cores);
// Whether a product with weights w and N columns runs on the tensor cores (mul_mat_cm.comp,
// operands rounded to f16): only mul_mat nodes' GEMMs, never the loss's or the gradients'.
bool vk_gemm_on_tensor_cores(const struct tl_vk_backend *vk, int w, int64_t N);
// The attention shaders' shared push constants (vk-ops.c): shapes, q/k/v strides and
// offsets; then, after each shader's own offsets, the mask of attention node t.
void vk_push_attn_shapes(struct vk_dispatch *d, const struct tl_tensor *q, const struct tl_tensor *k,
                         const struct tl_tensor *v, uint32_t oq, uint32_t ok, uint32_t ov);
void vk_push_attn_mask(struct vk_dispatch *d, const struct tl_tensor *t, uint32_t osq, uint32_t osk);
// t's bytes are a leaf's (or a view of one), which the host holds: ops whose dispatch
// setup reads them there (rope's positions, get_rows_back's ids) need that.
bool vk_host_leaf(const struct tl_tensor *t);
// Groups for n invocations of local size ls, split over x and y (x is capped).
void vk_flat_groups(const struct tl_vk_backend *vk, struct vk_dispatch *d, uint64_t n, uint32_t ls);
// The unit of a tensor's offsets and strides in the shaders: its element size, or one
// byte for the block formats (their shaders address bytes).
static inline size_t vk_elem_bytes(enum tl_type type) {
    return tl_type_traits(type)->is_quantized ? 1 : tl_row_size(type, 1);
}
// The bound byte range of a tensor: its block, the aligned start, the size, and the
// offset of t->data past that start in vk_elem_bytes units.
void vk_bind_range(const struct tl_vk_mirror *m, const struct tl_tensor *t, int *block, VkDeviceSize *bind_off,
                   VkDeviceSize *bind_size, uint32_t *elem_off);
