#version 450
// One workgroup per row: the index of the largest value (the first one on ties, as the
// CPU). a f32 any strides, d i32 contiguous [rows].
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) writeonly buffer D { int d[]; };
layout(push_constant) uniform P {
    uint ne[4], nb_a[4]; uint off_a, off_d;
} p;

shared float best_v[256];
shared uint best_i[256];

bool better(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= p.ne[1] * p.ne[2] * p.ne[3]) return;
    uint base = p.off_a + strided(row * p.ne[0], U4(p.ne), U4(p.nb_a));
    uint t = gl_LocalInvocationID.x;
    float bv = -1.0 / 0.0;
    uint bi = 0xFFFFFFFFu;
    for (uint i = t; i < p.ne[0]; i += 256) {
        float v = a[base + i * p.nb_a[0]];
        if (bi == 0xFFFFFFFFu || better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    best_v[t] = bv;
    best_i[t] = bi;
    barrier();
    for (uint s = 128; s > 0; s >>= 1) {
        if (t < s && best_i[t + s] != 0xFFFFFFFFu &&
            (best_i[t] == 0xFFFFFFFFu || better(best_v[t + s], best_i[t + s], best_v[t], best_i[t]))) {
            best_v[t] = best_v[t + s];
            best_i[t] = best_i[t + s];
        }
        barrier();
    }
    if (t == 0) d[p.off_d + row] = int(best_i[0]);
}
