// The attention shaders' push constants that the host writes with vk_push_attn_shapes
// (first in the block) and vk_push_attn_mask (after each shader's own offsets).
#define ATTN_SHAPES                                                        \
    uint D, Nq, Nk, Hq, group, B;                                          \
    uint nb_q[3]; uint off_q;   /* strides of dims 1-3 (ne0 contiguous) */ \
    uint nb_k[3]; uint off_k;                                              \
    uint nb_v[3]; uint off_v;
#define ATTN_MASK                       \
    uint has_seg, off_sq, off_sk;       \
    float scale; uint causal; int q_offset; uint window;
