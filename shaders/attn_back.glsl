// Shared by the two passes of flash_attn_back (attn_back_q.comp, attn_back_kv.comp).
// With P = softmax(scale q k^T | visible) per query row, O = P v and the upstream dO:
//   D_i = dO_i . O_i,  dS_ij = P_ij (dO_i . v_j - D_i)
//   dq_i = scale sum_j dS_ij k_j,  dk_j = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij dO_i
// The first pass (a workgroup per query row and head) finds each row's log-sum-exp and
// D_i and writes dq; the second (a workgroup per key row and KV head) recomputes P_ij from
// them and sums dk, dv over the queries that see the key. No N x N matrix, no atomics.
// q f32 [D, Nq, Hq, B], k, v f32 [D, Nk, Hkv, B] (ne0 contiguous, other strides free);
// out, dout f32 contiguous [D, Hq, Nq, B]; d: dq [D, Nq, Hq, B], dk, dv [D, Nk, Hkv, B]
// one after the other; stats: (lse, D_i) per (b, h, i).
#define WG 64
#define DPT 4   // dims per thread: D <= WG * DPT
layout(local_size_x = WG) in;
layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
layout(binding = 3) readonly buffer SQ { int seg_q[]; };
layout(binding = 4) readonly buffer SK { int seg_k[]; };
layout(binding = 5) readonly buffer O { float o[]; };
layout(binding = 6) readonly buffer DO { float dout[]; };
layout(push_constant) uniform P {
    uint D, Nq, Nk, Hq, group, B;
    uint nb_q[3]; uint off_q;   // strides of dims 1-3 (ne0 is contiguous)
    uint nb_k[3]; uint off_k;
    uint nb_v[3]; uint off_v;
    uint off_o, off_do, off_d;
    uint has_seg, off_sq, off_sk;
    float scale; uint causal; int q_offset; uint window;
} p;

uint q_row(uint i, uint h, uint b) { return p.off_q + i * p.nb_q[0] + h * p.nb_q[1] + b * p.nb_q[2]; }
uint k_row(uint j, uint hk, uint b) { return p.off_k + j * p.nb_k[0] + hk * p.nb_k[1] + b * p.nb_k[2]; }
uint v_row(uint j, uint hk, uint b) { return p.off_v + j * p.nb_v[0] + hk * p.nb_v[1] + b * p.nb_v[2]; }
uint o_row(uint i, uint h, uint b) { return ((b * p.Nq + i) * p.Hq + h) * p.D; }   // + off_o or off_do
uint stat_index(uint i, uint h, uint b) { return 2u * ((b * p.Hq + h) * p.Nq + i); }
