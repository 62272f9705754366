// Shared by flash_attn.comp (a query row a workgroup), flash_attn_gqa.comp (a query's
// KV-head group) and flash_attn_tile.comp (blocks of queries): the bindings, the push
// constants, the KV_* element readers, and the key splits' visible range and results.
// q f32 [D, Nq, Hq, B]; k, v KV_* [D, Nk, Hkv, B] (element strides, or byte strides for
// the block formats); d f32 contiguous [D, Hq, Nq, B]; part f32 [n_split][rows][D + 2].
layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 3) readonly buffer SQ { int seg_q[]; };
layout(binding = 4) readonly buffer SK { int seg_k[]; };
layout(binding = 5) writeonly buffer D { float d[]; };
layout(binding = 6) writeonly buffer PART { float part[]; };
#include "attn-push.glsl"
layout(push_constant) uniform P {
    ATTN_SHAPES
    uint off_d;
    ATTN_MASK
    uint n_split, split_keys;   // key splits, keys per split (a multiple of TILE)
} p;

#if defined(KV_F32) || defined(KV_F16)
#ifdef KV_F32
#define KV_T float
#else
#define KV_T float16_t
#endif
layout(binding = 1) readonly buffer K { KV_T k[]; };
layout(binding = 2) readonly buffer V { KV_T v[]; };
float k_at(uint row, uint i) { return float(k[row + i]); }
float v_at(uint row, uint i) { return float(v[row + i]); }
#else
#include "blocks.glsl"
layout(binding = 1) readonly buffer K { uint k[]; };
layout(binding = 2) readonly buffer V { uint v[]; };
#ifdef KV_Q8_0
float k_at(uint row, uint i) { return Q8_0_ELEM(k, row, i); }
float v_at(uint row, uint i) { return Q8_0_ELEM(v, row, i); }
#else
float k_at(uint row, uint i) { return Q4_0_ELEM(k, row, i); }
float v_at(uint row, uint i) { return Q4_0_ELEM(v, row, i); }
#endif
#endif

// The keys query i may see within key split `split`, before segments: [x, y).
ivec2 visible_keys(uint i, uint split) {
    int qpos = p.q_offset + int(i);
    int jlo = int(split * p.split_keys), jhi = min(int(p.Nk), jlo + int(p.split_keys));
    if (p.causal != 0u) jhi = min(jhi, qpos + 1);
    if (p.window > 0u) {
        jlo = max(jlo, qpos - int(p.window) + 1);
        jhi = min(jhi, qpos + int(p.window));
    }
    return ivec2(jlo, jhi);
}

// Output dim e of row r (no-op past D) from the running max m, sum l and unnormalised
// output acc: the normalised output with one split, else the split's part for
// attn_combine.comp (m and l written where `first`).
void store_row(uint r, uint split, uint e, float m, float l, float acc, bool first) {
    if (p.n_split == 1u) {
        if (e < p.D) d[p.off_d + r * p.D + e] = l > 0.0 ? acc / l : 0.0;
        return;
    }
    uint prow = (split * p.Hq * p.Nq * p.B + r) * (p.D + 2u);
    if (first) {
        part[prow] = m;
        part[prow + 1u] = l;
    }
    if (e < p.D) part[prow + 2u + e] = acc;
}
