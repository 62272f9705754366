#version 450
// Fused attention, one workgroup per (query, head, batch, key split): the split's keys in
// tiles of TILE, an online softmax over the tiles, each thread accumulating output dims
// t, t + 64, ... (D <= 256). Never more than one tile of scores. A tile's scores: every
// thread multiplies its dims of q by the same dims of each key (neighbouring threads read
// neighbouring bytes of a key row), and the per-thread partial sums are added up through
// shared memory. Visibility as the CPU op: causal (j <= q_offset + i), window
// (|q_offset + i - j| < window), segments (equal ids).
// With one split the output goes to d; with several (a long context and few queries, as
// decoding: more workgroups than heads) each writes its running max, sum and unnormalised
// output to part, and attn_combine.comp merges them.
// Bindings and shapes: flash-attn.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define WG 64
#define DPT 4   // output dims per thread: D <= WG * DPT
#define TILE 32
layout(local_size_x = WG) in;
#include "flash-attn.glsl"

shared float qs[WG * DPT];
shared float partial[TILE][WG + 1];   // [key][thread]: +1 keeps a column's reads off one bank
shared float score[TILE];

void main() {
    uint flat_id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint rows = p.Hq * p.Nq * p.B, r = flat_id % rows, split = flat_id / rows;
    if (split >= p.n_split) return;
    uint h = r % p.Hq, i = (r / p.Hq) % p.Nq, b = r / (p.Hq * p.Nq);
    uint t = gl_LocalInvocationID.x, hk = h / p.group;
    uint qrow = p.off_q + i * p.nb_q[0] + h * p.nb_q[1] + b * p.nb_q[2];
    for (uint c = 0; c < DPT; c++) {
        uint e = t + WG * c;
        qs[e] = e < p.D ? q[qrow + e] * p.scale : 0.0;
    }
    barrier();

    ivec2 keys = visible_keys(i, split);
    int jlo = keys.x, jhi = keys.y;
    int sq = p.has_seg != 0u ? seg_q[p.off_sq + i] : 0;
    uint kbase = p.off_k + hk * p.nb_k[1] + b * p.nb_k[2];
    uint vbase = p.off_v + hk * p.nb_v[1] + b * p.nb_v[2];

    float m = -1.0 / 0.0, l = 0.0, acc[DPT];
    for (uint c = 0; c < DPT; c++) acc[c] = 0.0;
    for (int j0 = jlo; j0 < jhi; j0 += TILE) {
        uint n = uint(min(TILE, jhi - j0));
        for (uint jj = 0; jj < TILE; jj++) {
            float s = 0.0;
            if (jj < n) {
                uint krow = kbase + uint(j0 + int(jj)) * p.nb_k[0];
                for (uint c = 0; c < DPT; c++) {
                    uint e = t + WG * c;
                    if (e < p.D) s += qs[e] * k_at(krow, e);
                }
            }
            partial[jj][t] = s;
        }
        barrier();
        if (t < TILE) {
            float s = -1.0 / 0.0;
            int j = j0 + int(t);
            if (t < n && (p.has_seg == 0u || seg_k[p.off_sk + uint(j)] == sq)) {
                s = 0.0;
                for (uint tt = 0; tt < WG; tt++) s += partial[t][tt];
            }
            score[t] = s;
        }
        barrier();
        float tile_max = -1.0 / 0.0;
        for (uint jj = 0; jj < n; jj++) tile_max = max(tile_max, score[jj]);
        float m_new = max(m, tile_max);
        if (m_new > -1.0 / 0.0) {   // the same on every thread: no divergent barrier below
            float corr = exp(m - m_new);   // 0 while m is -inf
            l *= corr;
            for (uint c = 0; c < DPT; c++) acc[c] *= corr;
            for (uint jj = 0; jj < n; jj++) {
                float sj = score[jj];
                if (sj == -1.0 / 0.0) continue;
                float pj = exp(sj - m_new);
                l += pj;
                uint vrow = vbase + uint(j0 + int(jj)) * p.nb_v[0];
                for (uint c = 0; c < DPT; c++) {
                    uint e = t + WG * c;
                    if (e < p.D) acc[c] += pj * v_at(vrow, e);
                }
            }
            m = m_new;
        }
        barrier();
    }
    for (uint c = 0; c < DPT; c++) store_row(r, split, t + WG * c, m, l, acc[c], t == 0u && c == 0u);
}
