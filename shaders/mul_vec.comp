#version 450
// The GEMV path (a few columns, as decoding one token): one workgroup per weight row m.
// Four lanes share each 32-weight unit, 8 weights a lane (w_slice, weights-slice.glsl),
// so a subgroup reads 8 consecutive units of the row and 256 consecutive activations, as
// vec4s where the column is contiguous and 16-byte aligned. One sum per column and lane,
// reduced with subgroup adds (USE_SUBGROUP) or through shared memory. Same bindings and
// push constants as mul_mat.comp; N <= MAX_N.
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"
#include "weights.glsl"
#include "weights-slice.glsl"
#define WG 64
#define MAX_N 8
layout(local_size_x = WG) in;
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(binding = 2) writeonly buffer D { float d[]; };

shared float part[MAX_N * WG];

// activations k .. k+3 of the column at element offset bo, 0 past K
vec4 b_at(uint bo, uint k, bool vec) {
    if (vec) return b4[(bo + k) / 4u];
    vec4 x;
    for (uint i = 0; i < 4u; i++) x[i] = k + i < p.K ? b[bo + (k + i) * p.nb_b[0]] : 0.0;
    return x;
}

void main() {
    uint m = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (m >= p.M) return;   // whole workgroups leave together: no barrier is skipped
    uint t = gl_LocalInvocationID.x;
    uint z = gl_WorkGroupID.z, i2 = z % p.b2, i3 = z / p.b2;
    uint row = p.off_a + m * p.nb_a[1] + (i2 / p.r2) * p.nb_a[2] + (i3 / p.r3) * p.nb_a[3];
    uint bbase = p.off_b + i2 * p.nb_b[2] + i3 * p.nb_b[3];
    // every column's start 4-aligned and contiguous: vec4 loads for whole units
    bool vec_cols = p.nb_b[0] == 1u && bbase % 4u == 0u && (p.N == 1u || p.nb_b[1] % 4u == 0u);
    float acc[MAX_N];
    for (uint n = 0; n < MAX_N; n++) acc[n] = 0.0;
    uint j = t % 4u;
    for (uint u = t / 4u; u * 32u < p.K; u += WG / 4u) {
        vec4 wlo, whi;
        uint lo, hi;
        w_slice(row, u, j, wlo, whi, lo, hi);
        bool vec = vec_cols && u * 32u + 32u <= p.K;
        for (uint n = 0; n < MAX_N; n++) {
            if (n >= p.N) break;
            uint bo = bbase + n * p.nb_b[1];
            acc[n] += dot(wlo, b_at(bo, u * 32u + lo, vec)) + dot(whi, b_at(bo, u * 32u + hi, vec));
        }
    }
#ifdef USE_SUBGROUP
    for (uint n = 0; n < p.N; n++) {
        float s = subgroupAdd(acc[n]);
        if (subgroupElect()) part[n * WG + gl_SubgroupID] = s;
    }
    barrier();
    if (t < p.N) {
        float s = 0.0;
        for (uint i = 0; i < gl_NumSubgroups; i++) s += part[t * WG + i];
        d[p.off_d + ((i3 * p.b2 + i2) * p.N + t) * p.ldd + m] = s;
    }
#else
    for (uint n = 0; n < p.N; n++) part[n * WG + t] = acc[n];
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (t < s)
            for (uint n = 0; n < p.N; n++) part[n * WG + t] += part[n * WG + t + s];
        barrier();
    }
    if (t < p.N) d[p.off_d + ((i3 * p.b2 + i2) * p.N + t) * p.ldd + m] = part[t * WG];
#endif
}
