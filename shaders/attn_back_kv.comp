#version 450
// flash_attn_back, pass 2 (see attn_back.glsl): one workgroup per (key, KV head, batch).
// The (query, head) pairs that see the key go by in tiles of WG, one per invocation, which
// recomputes P_ij and dS_ij from pass 1's statistics; each invocation keeps dims t,
// t + WG, ... of dk and dv.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attn_back.glsl"
layout(binding = 7) buffer DST { float d[]; };   // pass 1 wrote dq; dk, dv here
layout(binding = 8) readonly buffer STATS { float stats[]; };

shared float ks[WG * DPT], vs[WG * DPT];
shared float tile_p[WG], tile_ds[WG];

void main() {
    uint Hkv = p.Hq / p.group;
    uint flat_id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint hk = flat_id % Hkv, j = (flat_id / Hkv) % p.Nk, b = flat_id / (Hkv * p.Nk);
    if (b >= p.B) return;   // uniform across the group
    uint t = gl_LocalInvocationID.x;
    uint kr = k_row(j, hk, b), vr = v_row(j, hk, b);
    for (uint c = 0; c < DPT; c++) {
        uint e = t + WG * c;
        ks[e] = e < p.D ? k[kr + e] : 0.0;
        vs[e] = e < p.D ? v[vr + e] : 0.0;
    }
    barrier();

    // the queries that see key j before segments: qpos = q_offset + i
    int ilo = 0, ihi = int(p.Nq), jj = int(j) - p.q_offset;
    if (p.causal != 0u) ilo = max(ilo, jj);
    if (p.window > 0u) {
        ilo = max(ilo, jj - int(p.window) + 1);
        ihi = min(ihi, jj + int(p.window));
    }
    int sk = p.has_seg != 0u ? seg_k[p.off_sk + j] : 0;
    int count = max(ihi - ilo, 0) * int(p.group);

    float dk[DPT], dv[DPT];
    for (uint c = 0; c < DPT; c++) dk[c] = dv[c] = 0.0;
    for (int p0 = 0; p0 < count; p0 += WG) {
        int idx = p0 + int(t);
        float pr = 0.0, ds = 0.0;
        if (idx < count) {
            uint i = uint(ilo + idx / int(p.group)), h = hk * p.group + uint(idx % int(p.group));
            if (p.has_seg == 0u || seg_q[p.off_sq + i] == sk) {
                uint qr = q_row(i, h, b), orow = p.off_do + o_row(i, h, b), st = stat_index(i, h, b);
                float dot = 0.0, dp = 0.0;
                for (uint e = 0; e < p.D; e++) {
                    dot += q[qr + e] * ks[e];
                    dp += dout[orow + e] * vs[e];
                }
                pr = exp(dot * p.scale - stats[st]);
                ds = pr * (dp - stats[st + 1]) * p.scale;
            }
        }
        tile_p[t] = pr;
        tile_ds[t] = ds;
        barrier();
        int n = min(WG, count - p0);
        for (int u = 0; u < n; u++) {
            float pu = tile_p[u], du = tile_ds[u];
            if (pu == 0.0 && du == 0.0) continue;
            uint i = uint(ilo + (p0 + u) / int(p.group)), h = hk * p.group + uint((p0 + u) % int(p.group));
            uint qr = q_row(i, h, b), orow = p.off_do + o_row(i, h, b);
            for (uint c = 0; c < DPT; c++) {
                uint e = t + WG * c;
                if (e < p.D) {
                    dk[c] += du * q[qr + e];
                    dv[c] += pu * dout[orow + e];
                }
            }
        }
        barrier();
    }
    uint nq = p.D * p.Nq * p.Hq * p.B, nkv = p.D * p.Nk * Hkv * p.B;
    uint row = ((b * Hkv + hk) * p.Nk + j) * p.D;
    for (uint c = 0; c < DPT; c++) {
        uint e = t + WG * c;
        if (e < p.D) {
            d[p.off_d + nq + row + e] = dk[c];
            d[p.off_d + nq + nkv + row + e] = dv[c];
        }
    }
}
