#version 450
// Fused attention for few queries over many keys (decoding), one workgroup per (query,
// KV head, batch, key split) computing all `group` query heads that share the KV head,
// so each key and value row is read once for the group, not once per query head (the
// row kernel, flash_attn.comp, reads it `group` times). Keys in tiles of TILE = WG:
//  1. scores: thread j takes key j of the tile, its dot products with every head's q
//     (held in shared memory, read by all threads at once);
//  2. per head, the tile's max (thread g scans head g's scores), the online-softmax
//     rescale, and the weights p = e^(s - m) back into shared memory;
//  3. values: thread t owns output dim t of every head and adds p_j v_j[t] over the tile,
//     neighbouring threads reading neighbouring bytes of a value row.
// Heads up to WG = 128 dims, groups up to MAX_G (vk-ops.c sends the rest to
// flash_attn.comp). Visibility, splits, the scratch and the bindings as flash_attn.comp.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#define WG 128
#define TILE WG
#define MAX_G 8
layout(local_size_x = WG) in;
#include "flash-attn.glsl"

shared float qs[MAX_G][WG];       // the group's queries, scaled; 0 past D
shared float ps[MAX_G][TILE];     // a tile's scores, then its weights (-inf, 0: not visible)
shared float tile_max[MAX_G];

#if defined(KV_F32) || defined(KV_F16)   // key rows read 4 elements at a time when aligned
#ifdef KV_F32
layout(binding = 1) readonly buffer K4 { vec4 k4[]; };
vec4 k4_at(uint row, uint e) { return k4[(row + e) / 4u]; }
#else
layout(binding = 1) readonly buffer K4 { uvec2 k4[]; };
vec4 k4_at(uint row, uint e) { uvec2 w = k4[(row + e) / 4u]; return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y)); }
#endif
bool k_vectors(uint kbase) { return kbase % 4u == 0u && p.nb_k[0] % 4u == 0u && p.D % 4u == 0u; }
#else
vec4 k4_at(uint row, uint e) { return vec4(k_at(row, e), k_at(row, e + 1u), k_at(row, e + 2u), k_at(row, e + 3u)); }
bool k_vectors(uint kbase) { return p.D % 4u == 0u; }   // (block rows: D is a multiple of 32)
#endif

vec4 q4(uint g, uint e) { return vec4(qs[g][e], qs[g][e + 1u], qs[g][e + 2u], qs[g][e + 3u]); }

// Key jj of the tile into every head's sum and output dim: its weight times its value ve.
void add_value(uint jj, float ve, uint G, inout float l[MAX_G], inout float acc[MAX_G]) {
    [[unroll]] for (uint g = 0; g < MAX_G; g++) {
        float pj = g < G ? ps[g][jj] : 0.0;
        l[g] += pj;
        acc[g] += pj * ve;
    }
}

void main() {
    uint flat_id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint hkv = p.Hq / p.group, units = hkv * p.Nq * p.B, u = flat_id % units, split = flat_id / units;
    if (split >= p.n_split) return;
    uint hk = u % hkv, i = (u / hkv) % p.Nq, b = u / (hkv * p.Nq);
    uint t = gl_LocalInvocationID.x, G = p.group;
    for (uint g = 0; g < G; g++) {
        uint qrow = p.off_q + i * p.nb_q[0] + (hk * G + g) * p.nb_q[1] + b * p.nb_q[2];
        qs[g][t] = t < p.D ? q[qrow + t] * p.scale : 0.0;
    }
    barrier();

    ivec2 keys = visible_keys(i, split);
    int jlo = keys.x, jhi = keys.y;
    int sq = p.has_seg != 0u ? seg_q[p.off_sq + i] : 0;
    uint kbase = p.off_k + hk * p.nb_k[1] + b * p.nb_k[2];
    uint vbase = p.off_v + hk * p.nb_v[1] + b * p.nb_v[2];

    float m[MAX_G], l[MAX_G], acc[MAX_G];   // per head: running max and sum, output dim t
    [[unroll]] for (uint g = 0; g < MAX_G; g++) {
        m[g] = -1.0 / 0.0;
        l[g] = 0.0;
        acc[g] = 0.0;
    }
    for (int j0 = jlo; j0 < jhi; j0 += TILE) {
        uint n = uint(min(TILE, jhi - j0));
        int j = j0 + int(t);
        float s[MAX_G];
        [[unroll]] for (uint g = 0; g < MAX_G; g++) s[g] = 0.0;
        bool visible = t < n && (p.has_seg == 0u || seg_k[p.off_sk + uint(j)] == sq);
        if (visible) {
            uint krow = kbase + uint(j) * p.nb_k[0];
            if (k_vectors(kbase)) {
                uint e = 0;
                for (; e + 32u <= p.D; e += 32u) {   // 8 loads in flight, not one
                    vec4 ke[8];
                    [[unroll]] for (uint c = 0; c < 8u; c++) ke[c] = k4_at(krow, e + 4u * c);
                    [[unroll]] for (uint c = 0; c < 8u; c++)
                        [[unroll]] for (uint g = 0; g < MAX_G; g++) s[g] += dot(q4(g, e + 4u * c), ke[c]);
                }
                for (; e < p.D; e += 4u) {
                    vec4 ke = k4_at(krow, e);
                    [[unroll]] for (uint g = 0; g < MAX_G; g++) s[g] += dot(q4(g, e), ke);
                }
            } else {
                for (uint e = 0; e < p.D; e++) {
                    float ke = k_at(krow, e);
                    [[unroll]] for (uint g = 0; g < MAX_G; g++) s[g] += qs[g][e] * ke;
                }
            }
        }
        for (uint g = 0; g < G; g++) ps[g][t] = visible ? s[g] : -1.0 / 0.0;
        barrier();
        if (t < G) {
            float mx = -1.0 / 0.0;
            for (uint jj = 0; jj < n; jj++) mx = max(mx, ps[t][jj]);
            tile_max[t] = mx;
        }
        barrier();
        float corr[MAX_G];
        [[unroll]] for (uint g = 0; g < MAX_G; g++) {
            float m_new = g < G ? max(m[g], tile_max[g]) : m[g];
            corr[g] = m_new > -1.0 / 0.0 ? exp(m[g] - m_new) : 1.0;   // e^(-inf) = 0 while m is -inf
            m[g] = m_new;
        }
        for (uint g = 0; g < G; g++) ps[g][t] = ps[g][t] > -1.0 / 0.0 ? exp(ps[g][t] - m[g]) : 0.0;
        barrier();
        [[unroll]] for (uint g = 0; g < MAX_G; g++) {
            l[g] *= corr[g];
            acc[g] *= corr[g];
        }
        uint jj = 0;
        for (; jj + 8u <= n; jj += 8u) {   // 8 value rows in flight, not one
            float ve[8];
            [[unroll]] for (uint c = 0; c < 8u; c++) ve[c] = t < p.D ? v_at(vbase + uint(j0 + int(jj + c)) * p.nb_v[0], t) : 0.0;
            [[unroll]] for (uint c = 0; c < 8u; c++) add_value(jj + c, ve[c], G, l, acc);
        }
        for (; jj < n; jj++) add_value(jj, t < p.D ? v_at(vbase + uint(j0 + int(jj)) * p.nb_v[0], t) : 0.0, G, l, acc);
        barrier();   // the next tile overwrites ps
    }
    [[unroll]] for (uint g = 0; g < MAX_G; g++)
        if (g < G) store_row((hk * G + g) + p.Hq * (i + p.Nq * b), split, t, m[g], l[g], acc[g], t == 0u);
}
