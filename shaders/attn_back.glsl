// Shared by the two passes of flash_attn_back (attn_back_q.comp, attn_back_kv.comp).
// With P = softmax(scale q k^T | visible) per query row, O = P v and the upstream dO:
//   D_i = dO_i . O_i,  dS_ij = P_ij (dO_i . v_j - D_i)
//   dq_i = scale sum_j dS_ij k_j,  dk_j = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij dO_i
// The first pass (a workgroup per block of queries of a head) finds each row's
// log-sum-exp and D_i and writes dq; the second (a workgroup per block of keys of a KV
// head) recomputes P_ij from them and sums dk, dv over the queries that see the keys. No
// N x N matrix, no atomics. Both are tiled as flash_attn_tile.comp: 64 x 64 tiles of
// (query, key) pairs, products over the head dims register-tiled through shared memory.
// Thread (tx, ty) of a tile holds rows 4 ty + a (queries in pass 1, keys in pass 2) by
// columns 4 tx + c, and of its outputs dims 64 r + 4 tx + 0..3.
// q f32 [D, Nq, Hq, B], k, v f32 [D, Nk, Hkv, B] (ne0 contiguous, other strides free);
// out, dout f32 contiguous [D, Hq, Nq, B]; d: dq [D, Nq, Hq, B], dk, dv [D, Nk, Hkv, B]
// one after the other; stats: (lse, D_i) per (b, h, i). D <= 64 DR.
#extension GL_EXT_control_flow_attributes : require
#define WG 256
#define BT 64   // rows and columns of a tile
#define DC 8    // head dims a step of the products
#define KC 16   // rows a step of the output sums
#define DR 2    // output dim groups of 64 a thread
#define PAD 17  // vec4s a dim row of the staged operands (16 + 1 spreads the stores' banks)
layout(local_size_x = WG) in;
layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
layout(binding = 3) readonly buffer SQ { int seg_q[]; };
layout(binding = 4) readonly buffer SK { int seg_k[]; };
layout(binding = 5) readonly buffer O { float o[]; };
layout(binding = 6) readonly buffer DO { float dout[]; };
#include "attn-push.glsl"
layout(push_constant) uniform P {
    ATTN_SHAPES
    uint off_o, off_do, off_d;
    ATTN_MASK
} p;

layout(binding = 7) buffer DST { float d[]; };   // pass 1 writes dq, pass 2 dk and dv
layout(binding = 8) buffer STATS { float stats[]; };   // pass 1 writes, pass 2 reads

uint q_row(uint i, uint h, uint b) { return p.off_q + i * p.nb_q[0] + h * p.nb_q[1] + b * p.nb_q[2]; }
uint k_row(uint j, uint hk, uint b) { return p.off_k + j * p.nb_k[0] + hk * p.nb_k[1] + b * p.nb_k[2]; }
uint v_row(uint j, uint hk, uint b) { return p.off_v + j * p.nb_v[0] + hk * p.nb_v[1] + b * p.nb_v[2]; }
uint o_row(uint i, uint h, uint b) { return ((b * p.Nq + i) * p.Hq + h) * p.D; }   // + off_o or off_do
uint stat_index(uint i, uint h, uint b) { return 2u * ((b * p.Hq + h) * p.Nq + i); }

// Operands of the products by kind: 0 q, 1 k, 2 dO, 3 v; row = a query or key index.
float operand(uint kind, uint row, uint dim, uint h, uint hk, uint b) {
    if (kind == 0u) return q[q_row(row, h, b) + dim];
    if (kind == 1u) return k[k_row(row, hk, b) + dim];
    if (kind == 2u) return dout[p.off_do + o_row(row, h, b) + dim];
    return v[v_row(row, hk, b) + dim];
}

// Query i (at position q_offset + i) sees key j (both in range), segment of i sqi.
bool visible_pair(uint i, int j, int sqi) {
    int qpos = p.q_offset + int(i);
    bool vis = p.causal == 0u || j <= qpos;
    if (p.window > 0u) vis = vis && abs(qpos - j) < int(p.window);
    if (vis && p.has_seg != 0u) vis = seg_k[p.off_sk + uint(j)] == sqi;
    return vis;
}

shared vec4 stage[4 * DC * PAD];   // the products' operands [kind][DC][64]; the sums' [KC][64 DR]
shared vec4 tile[BT][BT / 4];      // P or dS of the tile, [column][row]
shared float red[BT][17];          // a row's 16 partial maxima or sums

void stage_set(uint i, float x) { stage[i / 4u][i % 4u] = x; }

// The tile's products over the head dims: ab[a][c] = A_x . B_y and, with both, cd[a][c] =
// C_x . D_y, of rows x = x0 + 4 ty + a (x < nx) and columns y = y0 + 4 tx + c (y < ny).
// A and B are operands kind_a and kind_b (q or k); C and D the same rows of dO or v.
void tile_products(uint kind_a, uint x0, uint nx, uint kind_b, uint y0, uint ny, bool both, uint h, uint hk,
                   uint b, out vec4 ab[4], out vec4 cd[4]) {
    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u, kinds = both ? 4u : 2u;
    [[unroll]] for (uint a = 0; a < 4u; a++) ab[a] = cd[a] = vec4(0.0);
    for (uint d0 = 0; d0 < p.D; d0 += DC) {
        for (uint e = t; e < kinds * DC * 64u; e += WG) {   // dims fastest: rows are contiguous
            uint slot = e / (DC * 64u), row = (e % (DC * 64u)) / DC, dd = e % DC, dim = d0 + dd;
            bool xs = slot % 2u == 0u;
            uint r = (xs ? x0 : y0) + row;
            float x = dim < p.D && r < (xs ? nx : ny) ? operand((xs ? kind_a : kind_b) + (slot / 2u) * 2u, r, dim, h, hk, b) : 0.0;
            stage_set(4u * ((slot * DC + dd) * PAD) + row, x);
        }
        barrier();
        [[unroll]] for (uint dd = 0; dd < DC; dd++) {
            vec4 av = stage[dd * PAD + ty], bv = stage[(DC + dd) * PAD + tx];
            [[unroll]] for (uint a = 0; a < 4u; a++) ab[a] += av[a] * bv;
            if (both) {
                vec4 cv = stage[(2u * DC + dd) * PAD + ty], dv = stage[(3u * DC + dd) * PAD + tx];
                [[unroll]] for (uint a = 0; a < 4u; a++) cd[a] += cv[a] * dv;
            }
        }
        barrier();
    }
}

// acc[a][r] += sum over the tile's columns y of tile[y][ty][a] * operand kind's row y0 + y
// (y0 + y < ny), dims 64 r + 4 tx + 0..3.
void tile_sum(uint kind, uint y0, uint ny, uint h, uint hk, uint b, inout vec4 acc[4][DR]) {
    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;
    for (uint k0 = 0; k0 < BT; k0 += KC) {
        for (uint e = t; e < KC * 64u * DR; e += WG) {
            uint kk = e / (64u * DR), dim = e % (64u * DR), r = y0 + k0 + kk;
            stage_set(e, r < ny && dim < p.D ? operand(kind, r, dim, h, hk, b) : 0.0);
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < KC; kk++) {
            vec4 pv = tile[k0 + kk][ty];
            [[unroll]] for (uint r = 0; r < DR; r++) {
                vec4 ov = stage[kk * 16u * DR + 16u * r + tx];
                [[unroll]] for (uint a = 0; a < 4u; a++) acc[a][r] += pv[a] * ov;
            }
        }
        barrier();
    }
}

// Writes rows x0 + 4 ty + a (< nx) of acc to d at element offset base + row * D.
void store_rows(uint base, uint x0, uint nx, vec4 acc[4][DR]) {
    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;
    [[unroll]] for (uint a = 0; a < 4u; a++) {
        uint x = x0 + 4u * ty + a;
        if (x >= nx) continue;
        [[unroll]] for (uint r = 0; r < DR; r++)
            [[unroll]] for (uint c = 0; c < 4u; c++) {
                uint dim = 64u * r + 4u * tx + c;
                if (dim < p.D) d[base + x * p.D + dim] = acc[a][r][c];
            }
    }
}
