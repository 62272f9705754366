#version 450
// flash_attn_back, pass 1 (see attn_back.glsl): a workgroup per block of BT queries of one
// head. D_i first; then a sweep over the visible key tiles finds each row's log-sum-exp
// (the online maximum and sum of the forward); a second sweep recomputes S and dP = dO v^T
// per tile, forms dS = P (dP - D_i) scale and adds dS k to dq.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attn_back.glsl"

void main() {
    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;
    uint blocks = (p.Nq + BT - 1u) / BT;
    uint flat_id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint qb = flat_id % blocks, h = (flat_id / blocks) % p.Hq, b = flat_id / (blocks * p.Hq);
    if (b >= p.B) return;   // uniform across the group
    uint i0 = qb * BT, hk = h / p.group;
    const float NEG_INF = -1.0 / 0.0;

    // D_i of rows 4 ty + a: partial dots over this thread's dims, summed over the row's threads
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        uint i = i0 + 4u * ty + a;
        float part = 0.0;
        [[unroll]] for (uint r = 0; r < DR; r++)
            [[unroll]] for (uint c = 0; c < 4u; c++) {
                uint dim = 64u * r + 4u * tx + c;
                if (i < p.Nq && dim < p.D) part += dout[p.off_do + o_row(i, h, b) + dim] * o[p.off_o + o_row(i, h, b) + dim];
            }
        red[4u * ty + a][tx] = part;
    }
    barrier();
    float Di[4];
    int sq[4];
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        Di[a] = 0.0;
        for (uint x = 0; x < 16u; x++) Di[a] += red[4u * ty + a][x];
        sq[a] = p.has_seg != 0u ? seg_q[p.off_sq + min(i0 + 4u * ty + a, p.Nq - 1u)] : 0;
    }
    barrier();

    int qfirst = p.q_offset + int(i0), qlast = p.q_offset + int(min(i0 + BT, p.Nq)) - 1;
    int jlo = 0, jhi = int(p.Nk);
    if (p.causal != 0u) jhi = min(jhi, qlast + 1);
    if (p.window > 0u) {
        jlo = max(jlo, qfirst - int(p.window) + 1);
        jhi = min(jhi, qlast + int(p.window));
    }

    // sweep 1: the running max m and (this thread's part of the) sum l of exp(s - m)
    float m[4], l[4];
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        m[a] = NEG_INF;
        l[a] = 0.0;
    }
    for (int j0 = jlo; j0 < jhi; j0 += BT) {
        vec4 s[4], unused[4];
        tile_products(0u, i0, p.Nq, 1u, uint(j0), uint(jhi), false, h, hk, b, s, unused);
        [[unroll]] for (uint a = 0; a < 4u; a++) {
            uint i = i0 + 4u * ty + a;
            [[unroll]] for (uint c = 0; c < 4u; c++) {
                int j = j0 + int(4u * tx + c);
                s[a][c] = i < p.Nq && j < jhi && visible_pair(i, j, sq[a]) ? s[a][c] * p.scale : NEG_INF;
            }
            red[4u * ty + a][tx] = max(max(s[a].x, s[a].y), max(s[a].z, s[a].w));
        }
        barrier();
        [[unroll]] for (uint a = 0; a < 4u; a++) {
            float m_new = m[a];
            for (uint x = 0; x < 16u; x++) m_new = max(m_new, red[4u * ty + a][x]);
            l[a] *= m[a] == NEG_INF ? 0.0 : exp(m[a] - m_new);
            [[unroll]] for (uint c = 0; c < 4u; c++) l[a] += s[a][c] == NEG_INF ? 0.0 : exp(s[a][c] - m_new);
            m[a] = m_new;
        }
        barrier();   // every row's maxima read before red is written again (after the loop: the sums)
    }
    [[unroll]] for (uint a = 0; a < 4u; a++) red[4u * ty + a][tx] = l[a];
    barrier();
    float lse[4];
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        float sum = 0.0;
        for (uint x = 0; x < 16u; x++) sum += red[4u * ty + a][x];
        lse[a] = sum > 0.0 ? m[a] + log(sum) : 1.0 / 0.0;   // +inf: no visible key, P = 0
    }

    // sweep 2: dq = sum_j dS_ij k_j (scale in dS)
    vec4 acc[4][DR];
    [[unroll]] for (uint a = 0; a < 4u; a++)
        [[unroll]] for (uint r = 0; r < DR; r++) acc[a][r] = vec4(0.0);
    for (int j0 = jlo; j0 < jhi; j0 += BT) {
        vec4 s[4], dp[4];
        tile_products(0u, i0, p.Nq, 1u, uint(j0), uint(jhi), true, h, hk, b, s, dp);
        [[unroll]] for (uint c = 0; c < 4u; c++) {
            vec4 ds;
            [[unroll]] for (uint a = 0; a < 4u; a++) {
                uint i = i0 + 4u * ty + a;
                int j = j0 + int(4u * tx + c);
                bool vis = i < p.Nq && j < jhi && visible_pair(i, j, sq[a]);
                float pr = vis ? exp(s[a][c] * p.scale - lse[a]) : 0.0;
                ds[a] = pr * (dp[a][c] - Di[a]) * p.scale;
            }
            tile[4u * tx + c][ty] = ds;
        }
        tile_sum(1u, uint(j0), uint(jhi), h, hk, b, acc);   // its first barrier publishes tile
    }
    store_rows(p.off_d + (b * p.Hq + h) * p.Nq * p.D, i0, p.Nq, acc);
    if (tx == 0u)
        [[unroll]] for (uint a = 0; a < 4u; a++) {
            uint i = i0 + 4u * ty + a;
            if (i >= p.Nq) continue;
            stats[stat_index(i, h, b)] = lse[a];
            stats[stat_index(i, h, b) + 1u] = Di[a];
        }
}
