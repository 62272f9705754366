#version 450
// One workgroup per row: rms_norm (mode 0) y = x / sqrt(mean(x^2) + eps), or layer_norm
// (mode 1) y = (x - mean) / sqrt(var + eps). f32; the output is contiguous.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint mode; float eps;
    uint ne[4], nb_a[4]; uint off_a, off_d;
} p;

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= p.ne[1] * p.ne[2] * p.ne[3]) return;   // uniform across the group
    uint base = p.off_a + strided(row * p.ne[0], U4(p.ne), U4(p.nb_a));
    uint n = p.ne[0], t = gl_LocalInvocationID.x;
    float mean = 0.0;
    if (p.mode == 1) {
        float s = 0.0;
        for (uint i = t; i < n; i += 256) s += a[base + i * p.nb_a[0]];
        mean = workgroup_sum(s) / float(n);
    }
    float ss = 0.0;
    for (uint i = t; i < n; i += 256) {
        float x = a[base + i * p.nb_a[0]] - mean;
        ss += x * x;
    }
    float r = 1.0 / sqrt(workgroup_sum(ss) / float(n) + p.eps);
    uint out_base = p.off_d + row * n;
    for (uint i = t; i < n; i += 256) d[out_base + i] = (a[base + i * p.nb_a[0]] - mean) * r;
}
