#version 450
// d[n][m] (+)= sum_k a[m][k] * b[n][k], register-tiled: 256 threads compute a BM x BN tile
// of d, each thread RM x RN blocks of 4 x 4 outputs held in registers, with K in steps of
// one 32-weight unit through shared memory. Each step a thread reads RM + RN vec4s of
// shared memory for 16 RM RN multiply-adds (the old 16 x 16 tiles read 2 floats a product).
// a (weights) is one W_* type [K, M, A2, A3] (weights.glsl), b f32 [K, N, B2, B3] broadcast
// over a's dims 2-3, d f32 contiguous [M, N, B2, B3] (d += with accumulate set). Any
// strides: the tile loads run along whichever of k and m (n) is contiguous, so the
// transposed operands of the backward pass load coalesced too. RM = RN = 1 is the 64 x 64
// tile, 2 the 128 x 128 one (vk-ops.c picks by the number of tiles).
// Split K (k_split < K: a small output over a long K, as a weight gradient over many
// tokens): dim z of the dispatch counts splits x batches, and split s writes its partial
// product at d + s M N B2 B3 for add_splits.comp to sum.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "weights.glsl"
#include "weights-slice.glsl"
#ifndef RM
#define RM 1
#define RN 1
#endif
#define WG 256
#define BK 32
#define BM (64 * RM)
#define BN (64 * RN)
layout(local_size_x = WG) in;
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) buffer D { float d[]; };

shared vec4 ta[BK][BM / 4];   // a's tile as [k][m], four rows a vec4
shared vec4 tb[BK][BN / 4];   // b's as [k][n]
#include "gemm-job.glsl"

// a's rows m0 .. m0 + BM - 1, weights k0 .. k0 + BK - 1
void load_a(uint abase, uint m0, uint k0, uint t) {
#if defined(W_F32) || defined(W_F16) || defined(W_BF16)
    if (p.nb_a[0] != 1u) {   // a transposed: neighbouring threads take neighbouring rows
        for (uint i = 0; i < BM * BK / WG; i++) {
            uint e = t + i * WG, m = e % BM, k = e / BM;
            bool inside = m0 + m < p.M && k0 + k < p.K;
            ta[k][m / 4u][m % 4u] = inside ? w_elem(abase + (m0 + m) * p.nb_a[1], k0 + k) : 0.0;
        }
        return;
    }
#endif
    for (uint r = 0; r < RM; r++) {   // 64 rows a pass, four lanes a row (w_slice)
        uint m = r * 64u + t / 4u, row = min(m0 + m, p.M - 1u);
        vec4 wlo, whi;
        uint lo, hi;
        w_slice(abase + row * p.nb_a[1], k0 / 32u, t % 4u, wlo, whi, lo, hi);
        if (m0 + m >= p.M) wlo = whi = vec4(0.0);
        for (uint i = 0; i < 4u; i++) {
            ta[lo + i][m / 4u][m % 4u] = wlo[i];
            ta[hi + i][m / 4u][m % 4u] = whi[i];
        }
    }
}

// b's columns n0 .. n0 + BN - 1, k0 .. k0 + BK - 1
void load_b(uint bbase, uint n0, uint k0, uint t) {
    bool k_fast = p.nb_b[0] == 1u;
    for (uint i = 0; i < BN * BK / WG; i++) {
        uint e = t + i * WG;
        uint k = k_fast ? e % BK : e / BN, n = k_fast ? e / BK : e % BN;
        bool inside = n0 + n < p.N && k0 + k < p.K;
        tb[k][n / 4u][n % 4u] = inside ? b[bbase + (n0 + n) * p.nb_b[1] + (k0 + k) * p.nb_b[0]] : 0.0;
    }
}

void main() {
    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;
    uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
    gemm_job job = gemm_job_of_workgroup();
    // acc[r][4 s + j]: rows m0 + 4 (16 r + tx) + 0..3 of column n0 + 4 (16 s + ty) + j
    vec4 acc[RM][4 * RN];
    [[unroll]] for (uint r = 0; r < RM; r++)
        [[unroll]] for (uint c = 0; c < 4 * RN; c++) acc[r][c] = vec4(0.0);
    for (uint k0 = job.k_begin; k0 < job.k_end; k0 += BK) {
        load_a(job.abase, m0, k0, t);
        load_b(job.bbase, n0, k0, t);
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; kk++) {
            vec4 av[RM], bv[RN];
            [[unroll]] for (uint r = 0; r < RM; r++) av[r] = ta[kk][16u * r + tx];
            [[unroll]] for (uint s = 0; s < RN; s++) bv[s] = tb[kk][16u * s + ty];
            [[unroll]] for (uint r = 0; r < RM; r++)
                [[unroll]] for (uint s = 0; s < RN; s++)
                    [[unroll]] for (uint j = 0; j < 4u; j++) acc[r][4u * s + j] += av[r] * bv[s][j];
        }
        barrier();
    }
    [[unroll]] for (uint s = 0; s < RN; s++)
        [[unroll]] for (uint j = 0; j < 4u; j++)
            [[unroll]] for (uint r = 0; r < RM; r++)
                [[unroll]] for (uint i = 0; i < 4u; i++)
                    gemm_store(job, m0 + 4u * (16u * r + tx) + i, n0 + 4u * (16u * s + ty) + j, acc[r][4u * s + j][i]);
}
