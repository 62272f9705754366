#version 450
// One workgroup per row: y = softmax(x * scale + mask[row]) (mask optional: has_mask 0
// binds a dummy). A row with nothing visible (max -inf) is all zeros. f32; the output is
// contiguous.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer M { float m[]; };
layout(binding = 2) buffer D { float d[]; };
layout(push_constant) uniform P {
    uint has_mask; float scale;
    uint ne[4], nb_a[4]; uint off_a, off_d;
    uint nb_m1, off_m;
} p;

shared float part[256];

float workgroup_reduce(float v, bool take_max) {
    uint t = gl_LocalInvocationID.x;
    part[t] = v;
    barrier();
    for (uint s = 128; s > 0; s >>= 1) {
        if (t < s) part[t] = take_max ? max(part[t], part[t + s]) : part[t] + part[t + s];
        barrier();
    }
    float r = part[0];
    barrier();
    return r;
}

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= p.ne[1] * p.ne[2] * p.ne[3]) return;
    uint base = p.off_a + strided(row * p.ne[0], U4(p.ne), U4(p.nb_a));
    uint mbase = p.off_m + (row % p.ne[1]) * p.nb_m1;
    uint n = p.ne[0], t = gl_LocalInvocationID.x, out_base = p.off_d + row * n;
    float mx = -1.0 / 0.0;
    for (uint i = t; i < n; i += 256) {
        float v = a[base + i * p.nb_a[0]] * p.scale + (p.has_mask != 0 ? m[mbase + i] : 0.0);
        d[out_base + i] = v;
        mx = max(mx, v);
    }
    mx = workgroup_reduce(mx, true);
    if (isinf(mx) && mx < 0.0) {
        for (uint i = t; i < n; i += 256) d[out_base + i] = 0.0;
        return;
    }
    float s = 0.0;
    for (uint i = t; i < n; i += 256) {
        float e = exp(d[out_base + i] - mx);
        d[out_base + i] = e;
        s += e;
    }
    s = workgroup_reduce(s, false);
    for (uint i = t; i < n; i += 256) d[out_base + i] /= s;
}
