#version 450
// flash_attn_back, pass 1 (see attn_back.glsl): one workgroup per (query, head, batch).
// Keys go by in tiles of WG (one score per invocation): a first sweep finds the row's
// log-sum-exp, a second sums dq; each invocation keeps output dims t, t + WG, ...
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attn_back.glsl"
#define REDUCE_WG WG
#include "reduce.glsl"
layout(binding = 7) writeonly buffer DST { float d[]; };
layout(binding = 8) writeonly buffer STATS { float stats[]; };

shared float qs[WG * DPT], dos[WG * DPT];
shared float tile[WG];

void main() {
    uint flat_id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint h = flat_id % p.Hq, i = (flat_id / p.Hq) % p.Nq, b = flat_id / (p.Hq * p.Nq);
    if (b >= p.B) return;   // uniform across the group
    uint t = gl_LocalInvocationID.x, hk = h / p.group;
    uint qr = q_row(i, h, b), orow = o_row(i, h, b);
    float dsum = 0.0;
    for (uint c = 0; c < DPT; c++) {
        uint e = t + WG * c;
        qs[e] = e < p.D ? q[qr + e] : 0.0;
        dos[e] = e < p.D ? dout[p.off_do + orow + e] : 0.0;
        if (e < p.D) dsum += dos[e] * o[p.off_o + orow + e];
    }
    float Di = workgroup_sum(dsum);   // its barriers also publish qs and dos

    int qpos = p.q_offset + int(i);
    int jlo = 0, jhi = int(p.Nk);
    if (p.causal != 0u) jhi = min(jhi, qpos + 1);
    if (p.window > 0u) {
        jlo = max(jlo, qpos - int(p.window) + 1);
        jhi = min(jhi, qpos + int(p.window));
    }
    int sq = p.has_seg != 0u ? seg_q[p.off_sq + i] : 0;

    // sweep 1: the running max m and sum l of exp(s - m)
    float m = -1.0 / 0.0, l = 0.0;
    for (int j0 = jlo; j0 < jhi; j0 += WG) {
        int j = j0 + int(t);
        float s = -1.0 / 0.0;
        if (j < jhi && (p.has_seg == 0u || seg_k[p.off_sk + uint(j)] == sq)) {
            uint kr = k_row(uint(j), hk, b);
            float dot = 0.0;
            for (uint e = 0; e < p.D; e++) dot += qs[e] * k[kr + e];
            s = dot * p.scale;
        }
        tile[t] = s;
        barrier();
        float tile_max = -1.0 / 0.0;
        for (uint jj = 0; jj < WG; jj++) tile_max = max(tile_max, tile[jj]);
        float m_new = max(m, tile_max);
        if (m_new > -1.0 / 0.0) {
            l *= exp(m - m_new);
            for (uint jj = 0; jj < WG; jj++)
                if (tile[jj] > -1.0 / 0.0) l += exp(tile[jj] - m_new);
            m = m_new;
        }
        barrier();
    }
    float lse = l > 0.0 ? m + log(l) : 1.0 / 0.0;   // +inf: no visible key, P = 0

    // sweep 2: dq = scale sum_j dS_ij k_j
    float acc[DPT];
    for (uint c = 0; c < DPT; c++) acc[c] = 0.0;
    if (l > 0.0) {   // the same on every invocation
        for (int j0 = jlo; j0 < jhi; j0 += WG) {
            int j = j0 + int(t);
            float ds = 0.0;
            if (j < jhi && (p.has_seg == 0u || seg_k[p.off_sk + uint(j)] == sq)) {
                uint kr = k_row(uint(j), hk, b), vr = v_row(uint(j), hk, b);
                float dot = 0.0, dp = 0.0;
                for (uint e = 0; e < p.D; e++) {
                    dot += qs[e] * k[kr + e];
                    dp += dos[e] * v[vr + e];
                }
                ds = exp(dot * p.scale - lse) * (dp - Di) * p.scale;
            }
            tile[t] = ds;
            barrier();
            uint n = uint(min(WG, jhi - j0));
            for (uint jj = 0; jj < n; jj++) {
                float g = tile[jj];
                if (g == 0.0) continue;
                uint kr = k_row(uint(j0 + int(jj)), hk, b);
                for (uint c = 0; c < DPT; c++) {
                    uint e = t + WG * c;
                    if (e < p.D) acc[c] += g * k[kr + e];
                }
            }
            barrier();
        }
    }
    uint dq = p.off_d + ((b * p.Hq + h) * p.Nq + i) * p.D;
    for (uint c = 0; c < DPT; c++) {
        uint e = t + WG * c;
        if (e < p.D) d[dq + e] = acc[c];
    }
    if (t == 0) {
        stats[stat_index(i, h, b)] = lse;
        stats[stat_index(i, h, b) + 1] = Di;
    }
}
