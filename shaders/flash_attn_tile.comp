#version 450
// Fused attention for many queries (prefill, training), as FlashAttention-2: a workgroup
// of 256 threads takes BQ queries of one head and goes over their visible keys in tiles
// of BK. Per tile: the scores S = (scale q) k^T as a register-tiled product over the head
// dims (DC dims at a time through shared memory), the online softmax per query row, then
// O += P v (KC keys at a time). Thread (tx, ty) holds queries 4 ty .. 4 ty + 3: their
// scores for keys 4 tx .. 4 tx + 3 of the tile, their running max and (partial) sum, and
// their output dims 64 r + 4 tx + 0..3. Never more than one tile of scores.
// Visibility as flash_attn.comp; bindings and shapes: flash-attn.glsl (no key splits).
// D <= 64 DR.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#define WG 256
#define BQ 64
#define BK 64
#define DC 16   // head dims a step of the score product
#define KC 16   // keys a step of the value product
#define DR 2    // output dim groups of 64 a thread
#define PAD 17  // vec4s a dim row of the score step's tiles: 16 + 1 spreads the stores' banks
layout(local_size_x = WG) in;
#include "flash-attn.glsl"

// The score step: q's dims [DC][BQ] then k's [DC][BK] (rows of PAD vec4s); the value
// step: v's keys [KC][64 DR] (dims contiguous).
shared vec4 stage[2 * DC * PAD > KC * 16 * DR ? 2 * DC * PAD : KC * 16 * DR];
shared vec4 pt[BK][BQ / 4];   // P transposed: [key][query]
shared float red[BQ][17];     // a row's 16 partial maxima or sums

void stage_set(uint i, float x) { stage[i / 4u][i % 4u] = x; }

void main() {
    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;
    uint blocks = (p.Nq + BQ - 1u) / BQ;
    uint flat_id = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint qb = flat_id % blocks, h = (flat_id / blocks) % p.Hq, b = flat_id / (blocks * p.Hq);
    if (b >= p.B) return;   // uniform across the group
    uint i0 = qb * BQ, hk = h / p.group;
    uint qbase = p.off_q + h * p.nb_q[1] + b * p.nb_q[2];
    uint kbase = p.off_k + hk * p.nb_k[1] + b * p.nb_k[2];
    uint vbase = p.off_v + hk * p.nb_v[1] + b * p.nb_v[2];

    // the keys any of the block's queries sees, before segments
    int qfirst = p.q_offset + int(i0), qlast = p.q_offset + int(min(i0 + BQ, p.Nq)) - 1;
    int jlo = 0, jhi = int(p.Nk);
    if (p.causal != 0u) jhi = min(jhi, qlast + 1);
    if (p.window > 0u) {
        jlo = max(jlo, qfirst - int(p.window) + 1);
        jhi = min(jhi, qlast + int(p.window));
    }
    int sq[4];
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        uint i = min(i0 + 4u * ty + a, p.Nq - 1u);
        sq[a] = p.has_seg != 0u ? seg_q[p.off_sq + i] : 0;
    }

    const float NEG_INF = -1.0 / 0.0;
    float m[4], lsum[4];
    vec4 acc[4][DR];
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        m[a] = NEG_INF;
        lsum[a] = 0.0;
        [[unroll]] for (uint r = 0; r < DR; r++) acc[a][r] = vec4(0.0);
    }
    for (int j0 = jlo; j0 < jhi; j0 += BK) {
        // S for queries 4 ty + a, keys j0 + 4 tx + c
        vec4 s[4];
        [[unroll]] for (uint a = 0; a < 4u; a++) s[a] = vec4(0.0);
        for (uint d0 = 0; d0 < p.D; d0 += DC) {
            for (uint e = t; e < 2u * DC * 64u; e += WG) {   // dims fastest: rows are contiguous
                uint which = e / (DC * 64u), row = (e % (DC * 64u)) / DC, dd = e % DC, dim = d0 + dd;
                float x = 0.0;
                if (which == 0u) {
                    uint i = i0 + row;
                    if (i < p.Nq && dim < p.D) x = q[qbase + i * p.nb_q[0] + dim] * p.scale;
                } else {
                    int j = j0 + int(row);
                    if (j < jhi && dim < p.D) x = k_at(kbase + uint(j) * p.nb_k[0], dim);
                }
                stage_set(4u * ((which * DC + dd) * PAD) + row, x);
            }
            barrier();
            [[unroll]] for (uint dd = 0; dd < DC; dd++) {
                vec4 qv = stage[dd * PAD + ty], kv = stage[(DC + dd) * PAD + tx];
                [[unroll]] for (uint a = 0; a < 4u; a++) s[a] += qv[a] * kv;
            }
            barrier();
        }
        // mask, then the online softmax; P goes to pt
        [[unroll]] for (uint a = 0; a < 4u; a++) {
            uint i = i0 + 4u * ty + a;
            int qpos = p.q_offset + int(i);
            [[unroll]] for (uint c = 0; c < 4u; c++) {
                int j = j0 + int(4u * tx + c);
                bool visible = i < p.Nq && j < jhi;
                if (p.causal != 0u) visible = visible && j <= qpos;
                if (p.window > 0u) visible = visible && abs(qpos - j) < int(p.window);
                if (visible && p.has_seg != 0u) visible = seg_k[p.off_sk + uint(j)] == sq[a];
                if (!visible) s[a][c] = NEG_INF;
            }
            red[4u * ty + a][tx] = max(max(s[a].x, s[a].y), max(s[a].z, s[a].w));
        }
        barrier();
        vec4 pr[4];   // pr[c]: P of key 4 tx + c for queries 4 ty + 0..3
        [[unroll]] for (uint a = 0; a < 4u; a++) {
            float m_new = m[a];
            for (uint x = 0; x < 16u; x++) m_new = max(m_new, red[4u * ty + a][x]);
            float corr = m[a] == NEG_INF ? 0.0 : exp(m[a] - m_new);
            float sum = 0.0;
            [[unroll]] for (uint c = 0; c < 4u; c++) {
                pr[c][a] = s[a][c] == NEG_INF ? 0.0 : exp(s[a][c] - m_new);
                sum += pr[c][a];
            }
            lsum[a] = lsum[a] * corr + sum;
            [[unroll]] for (uint r = 0; r < DR; r++) acc[a][r] *= corr;
            m[a] = m_new;
        }
        [[unroll]] for (uint c = 0; c < 4u; c++) pt[4u * tx + c][ty] = pr[c];
        // (the value step's first barrier publishes pt; red is next written after the
        // score step's barriers)
        // O += P v
        for (uint k0 = 0; k0 < BK; k0 += KC) {
            for (uint e = t; e < KC * 64u * DR; e += WG) {
                uint kk = e / (64u * DR), dim = e % (64u * DR);
                int j = j0 + int(k0 + kk);
                stage_set(e, j < jhi && dim < p.D ? v_at(vbase + uint(j) * p.nb_v[0], dim) : 0.0);
            }
            barrier();
            [[unroll]] for (uint kk = 0; kk < KC; kk++) {
                vec4 pv = pt[k0 + kk][ty];
                [[unroll]] for (uint r = 0; r < DR; r++) {
                    vec4 vv = stage[kk * 16u * DR + 16u * r + tx];
                    [[unroll]] for (uint a = 0; a < 4u; a++) acc[a][r] += pv[a] * vv;
                }
            }
            barrier();
        }
    }
    [[unroll]] for (uint a = 0; a < 4u; a++) red[4u * ty + a][tx] = lsum[a];
    barrier();
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        uint row = 4u * ty + a, i = i0 + row;
        float l = 0.0;
        for (uint x = 0; x < 16u; x++) l += red[row][x];
        if (i >= p.Nq) continue;
        uint orow = p.off_d + ((b * p.Nq + i) * p.Hq + h) * p.D;
        [[unroll]] for (uint r = 0; r < DR; r++)
            [[unroll]] for (uint c = 0; c < 4u; c++) {
                uint dim = 64u * r + 4u * tx + c;
                if (dim < p.D) d[orow + dim] = l > 0.0 ? acc[a][r][c] / l : 0.0;
            }
    }
}
