#version 450
// The GEMV path (a few columns, as decoding one token): one workgroup per weight row m,
// its 64 threads taking 32-weight units in turn and keeping one sum per column; the sums
// are reduced with subgroup adds (USE_SUBGROUP) or through shared memory. Same bindings
// and push constants as mul_mat.comp; N <= MAX_N.
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"
#include "weights.glsl"
#define WG 64
#define MAX_N 8
layout(local_size_x = WG) in;
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) writeonly buffer D { float d[]; };

shared float part[MAX_N * WG];

void main() {
    uint m = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (m >= p.M) return;   // whole workgroups leave together: no barrier is skipped
    uint t = gl_LocalInvocationID.x;
    uint z = gl_WorkGroupID.z, i2 = z % p.b2, i3 = z / p.b2;
    uint row = p.off_a + m * p.nb_a[1] + (i2 / p.r2) * p.nb_a[2] + (i3 / p.r3) * p.nb_a[3];
    uint bbase = p.off_b + i2 * p.nb_b[2] + i3 * p.nb_b[3];
    float acc[MAX_N];
    for (uint n = 0; n < MAX_N; n++) acc[n] = 0.0;
    float w[32];
    // fixed trip counts, so the compiler can unroll and keep w and acc in registers
    for (uint u = t; u * 32u < p.K; u += WG) {
        w_unit(row, u, w);
        bool whole = u * 32u + 32u <= p.K;   // always, for the block formats
        for (uint n = 0; n < MAX_N; n++) {
            if (n >= p.N) break;
            uint bo = bbase + n * p.nb_b[1] + u * 32u * p.nb_b[0];
            float s = 0.0;
            for (uint i = 0; i < 32u; i++) s += (whole || u * 32u + i < p.K) ? w[i] * b[bo + i * p.nb_b[0]] : 0.0;
            acc[n] += s;
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
        d[p.off_d + ((i3 * p.b2 + i2) * p.N + t) * p.M + m] = s;
    }
#else
    for (uint n = 0; n < p.N; n++) part[n * WG + t] = acc[n];
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (t < s)
            for (uint n = 0; n < p.N; n++) part[n * WG + t] += part[n * WG + t + s];
        barrier();
    }
    if (t < p.N) d[p.off_d + ((i3 * p.b2 + i2) * p.N + t) * p.M + m] = part[t * WG];
#endif
}
