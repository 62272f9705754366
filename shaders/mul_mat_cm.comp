#version 450
// mul_mat.comp's product on the tensor cores (VK_NV_cooperative_matrix): the same
// bindings, push constants, tiles (BM x BN = 64 or 128 square) and split K, but the tiles
// are held in shared memory as f16 and multiplied 16 x 16 x 16 at a time with f32 sums. So
// the weights (dequantized) and the activations are rounded to f16 on the way in: vk-ops.c
// sends only F16 and block-format weights here, never f32 or bf16 ones, and
// tl_vk_rounds_to_f16() tells a caller which products those are.
// 256 threads = 8 subgroups of 32 in a 4 (m) x 2 (n) grid; each subgroup holds FM x FN
// accumulators of 16 x 16 (the 64 tile: 1 x 2, the 128 tile: 2 x 4). K goes in BK-weight
// steps; the next step's weights and activations are fetched into registers while the
// tensor cores work on this one, and stored to shared memory 4 halves at a time.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "weights.glsl"
#include "weights-slice.glsl"
#ifndef RM
#define RM 1
#define RN 1
#endif
#ifndef BK
#define BK 64
#endif
#define WG 256
#define BM (64 * RM)
#define BN (64 * RN)
#define UNITS (BK / 32)           // 32-weight units of a row a step (w_slice)
#define FM (BM / 64)              // 16-row fragments per subgroup
#define FN (BN / 32)              // 16-column fragments per subgroup
#define LDS (BK + 8)              // a tile row in halves: 16-byte aligned, each row 4 banks on
#define LDS4 (LDS / 4)            // ... in uvec2s (4 halves)
#define BV (BN * BK / 4 / WG)     // vec4s of b a thread a step
#define HALF16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC16  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
layout(local_size_x = WG) in;
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(binding = 2) buffer D { float d[]; };

shared uvec2 ta[BM * LDS4];       // a's tile as [m][k], 4 halves an element
shared uvec2 tb[BN * LDS4];       // b's as [n][k]
shared float tc[WG / 32 * 256];   // one 16 x 16 f32 fragment per subgroup, on its way out
#include "gemm-job.glsl"

uvec2 halves4(vec4 v) { return uvec2(packFloat2x16(f16vec2(v.xy)), packFloat2x16(f16vec2(v.zw))); }

// One step's tiles in registers: lane t % 4 of rows r 64 + t / 4 (w_slice), and BV vec4s
// of b (4 consecutive k of one column each).
vec4 a_lo[RM * UNITS], a_hi[RM * UNITS], bv[BV];
uint a_lo_at, a_hi_at;   // w_slice's lo, hi: the same for every row

void fetch(gemm_job job, uint m0, uint n0, uint k0, uint t) {
    [[unroll]] for (uint r = 0; r < RM; r++) {
        uint m = r * 64u + t / 4u, row = min(m0 + m, p.M - 1u);
        [[unroll]] for (uint u = 0; u < UNITS; u++) {
            uint i = r * UNITS + u;
            if (m0 + m < p.M && k0 + 32u * u < job.k_end) {   // (split ends are whole units)
                w_slice(job.abase + row * p.nb_a[1], k0 / 32u + u, t % 4u, a_lo[i], a_hi[i], a_lo_at, a_hi_at);
            } else {
                a_lo[i] = a_hi[i] = vec4(0.0);
            }
        }
    }
    bool vec = p.nb_b[0] == 1u && job.bbase % 4u == 0u && p.nb_b[1] % 4u == 0u;
    [[unroll]] for (uint i = 0; i < BV; i++) {
        uint e = t + i * WG, n = e / (BK / 4u), k = k0 + 4u * (e % (BK / 4u));
        uint at = job.bbase + (n0 + n) * p.nb_b[1];
        if (n0 + n >= p.N) {
            bv[i] = vec4(0.0);
        } else if (vec && k + 4u <= job.k_end) {
            bv[i] = b4[(at + k) / 4u];
        } else {   // K's last, partial vec4, or b not k-contiguous
            for (uint c = 0; c < 4u; c++) bv[i][c] = k + c < job.k_end ? b[at + (k + c) * p.nb_b[0]] : 0.0;
        }
    }
}

void stash(uint t) {
    [[unroll]] for (uint r = 0; r < RM; r++)
        [[unroll]] for (uint u = 0; u < UNITS; u++) {
            uint m = r * 64u + t / 4u, i = r * UNITS + u;
            ta[m * LDS4 + (32u * u + a_lo_at) / 4u] = halves4(a_lo[i]);
            ta[m * LDS4 + (32u * u + a_hi_at) / 4u] = halves4(a_hi[i]);
        }
    [[unroll]] for (uint i = 0; i < BV; i++) {
        uint e = t + i * WG;
        tb[(e / (BK / 4u)) * LDS4 + e % (BK / 4u)] = halves4(bv[i]);
    }
}

void main() {
    uint t = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
    uint sm = (sg % 4u) * 16u * FM, sn = (sg / 4u) * 16u * FN;   // the subgroup's corner in the tile
    gemm_job job = gemm_job_of_workgroup();
    ACC16 acc[FM][FN];
    [[unroll]] for (uint i = 0; i < FM; i++)
        [[unroll]] for (uint j = 0; j < FN; j++) acc[i][j] = ACC16(0.0);
    if (job.k_begin < job.k_end) fetch(job, m0, n0, job.k_begin, t);
    for (uint k0 = job.k_begin; k0 < job.k_end; k0 += BK) {
        stash(t);
        barrier();
        if (k0 + BK < job.k_end) fetch(job, m0, n0, k0 + BK, t);   // in flight during the products
        [[unroll]] for (uint kk = 0; kk < BK; kk += 16u) {
            HALF16 fa[FM], fb[FN];
            // a row-major (m rows, k columns); b's [n][k] is the k x n matrix column-major
            [[unroll]] for (uint i = 0; i < FM; i++) coopMatLoadNV(fa[i], ta, (sm + 16u * i) * LDS4 + kk / 4u, LDS4, false);
            [[unroll]] for (uint j = 0; j < FN; j++) coopMatLoadNV(fb[j], tb, (sn + 16u * j) * LDS4 + kk / 4u, LDS4, true);
            [[unroll]] for (uint i = 0; i < FM; i++)
                [[unroll]] for (uint j = 0; j < FN; j++) acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j]);
        }
        barrier();
    }
    // d is [n][m] with m fastest: a fragment stored column-major has (m, n) at 16 n + m
    [[unroll]] for (uint i = 0; i < FM; i++)
        [[unroll]] for (uint j = 0; j < FN; j++) {
            coopMatStoreNV(acc[i][j], tc, sg * 256u, 16u, true);
            barrier();
            for (uint e = lane; e < 256u; e += 32u)
                gemm_store(job, m0 + sm + 16u * i + e % 16u, n0 + sn + 16u * j + e / 16u, tc[sg * 256u + e]);
            barrier();
        }
}
