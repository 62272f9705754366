#version 450
// flash_attn_back, pass 2 (see attn_back.glsl): a workgroup per block of BT keys of one KV
// head. For each query head of its group and each tile of the queries that see the
// block: S^T and dP^T = v dO^T recomputed, P and dS from pass 1's statistics, then
// dv += P^T dO and dk += dS^T q.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attn_back.glsl"

void main() {
    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;
    uint Hkv = p.Hq / p.group, blocks = (p.Nk + BT - 1u) / BT;
    uint flat_id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint kb = flat_id % blocks, hk = (flat_id / blocks) % Hkv, b = flat_id / (blocks * Hkv);
    if (b >= p.B) return;   // uniform across the group
    uint j0 = kb * BT;

    // the queries that see any of the block's keys, before segments: qpos = q_offset + i
    int jfirst = int(j0), jlast = int(min(j0 + BT, p.Nk)) - 1;
    int ilo = 0, ihi = int(p.Nq);
    if (p.causal != 0u) ilo = max(ilo, jfirst - p.q_offset);
    if (p.window > 0u) {
        ilo = max(ilo, jfirst - p.q_offset - int(p.window) + 1);
        ihi = min(ihi, jlast - p.q_offset + int(p.window));
    }

    vec4 dk[4][DR], dv[4][DR];
    [[unroll]] for (uint a = 0; a < 4u; a++)
        [[unroll]] for (uint r = 0; r < DR; r++) dk[a][r] = dv[a][r] = vec4(0.0);
    for (uint g = 0; g < p.group; g++) {
        uint h = hk * p.group + g;
        for (int i0 = ilo; i0 < ihi; i0 += BT) {
            vec4 s[4], dp[4];   // [key 4 ty + a][query 4 tx + c]
            tile_products(1u, j0, p.Nk, 0u, uint(i0), uint(ihi), true, h, hk, b, s, dp);
            vec4 pr[4], ds[4];   // [query c][key a]
            [[unroll]] for (uint c = 0; c < 4u; c++) {
                uint i = uint(i0) + 4u * tx + c;
                bool in_q = i < uint(ihi);
                uint st = stat_index(min(i, p.Nq - 1u), h, b);
                float lse = stats[st], Di = stats[st + 1u];
                int sqi = p.has_seg != 0u ? seg_q[p.off_sq + min(i, p.Nq - 1u)] : 0;
                [[unroll]] for (uint a = 0; a < 4u; a++) {
                    uint j = j0 + 4u * ty + a;
                    bool vis = in_q && j < p.Nk && visible_pair(i, int(j), sqi);
                    pr[c][a] = vis ? exp(s[a][c] * p.scale - lse) : 0.0;
                    ds[c][a] = pr[c][a] * (dp[a][c] - Di) * p.scale;
                }
                tile[4u * tx + c][ty] = pr[c];
            }
            tile_sum(2u, uint(i0), uint(ihi), h, hk, b, dv);   // dv += P^T dO
            [[unroll]] for (uint c = 0; c < 4u; c++) tile[4u * tx + c][ty] = ds[c];
            tile_sum(0u, uint(i0), uint(ihi), h, hk, b, dk);   // dk += dS^T q
        }
    }
    uint nq = p.D * p.Nq * p.Hq * p.B, base = p.off_d + nq + (b * Hkv + hk) * p.Nk * p.D;
    store_rows(base, j0, p.Nk, dk);
    store_rows(base + p.D * p.Nk * Hkv * p.B, j0, p.Nk, dv);
}
