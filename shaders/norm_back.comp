#version 450
// One workgroup per row of the row backward ops, x (or y) and dy with contiguous rows,
// d contiguous:
//   mode 0 rms_norm_back:   dx = r dy - x r^3 mean(dy x),          r = (mean(x^2) + eps)^-1/2
//   mode 1 layer_norm_back: dx = r (dy - mean(dy) - y mean(dy y)), y = (x - mean) r
//   mode 2 soft_max_back:   dx = scale y (dy - sum(dy y))
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint mode; float param;   // eps, or softmax's scale
    uint ne[4];
    uint nb_x[4]; uint off_x;
    uint nb_dy[4]; uint off_dy;
    uint off_d;
} p;

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= p.ne[1] * p.ne[2] * p.ne[3]) return;   // uniform across the group
    uint n = p.ne[0], t = gl_LocalInvocationID.x;
    uint xb = p.off_x + strided(row * n, U4(p.ne), U4(p.nb_x));
    uint gb = p.off_dy + strided(row * n, U4(p.ne), U4(p.nb_dy));
    uint ob = p.off_d + row * n;
    if (p.mode == 2) {
        float s = 0.0;
        for (uint i = t; i < n; i += 256) s += dy[gb + i] * x[xb + i];
        s = workgroup_sum(s);
        for (uint i = t; i < n; i += 256) d[ob + i] = p.param * x[xb + i] * (dy[gb + i] - s);
        return;
    }
    float mean = 0.0;
    if (p.mode == 1) {
        float s = 0.0;
        for (uint i = t; i < n; i += 256) s += x[xb + i];
        mean = workgroup_sum(s) / float(n);
    }
    float ss = 0.0, sdy = 0.0, sdx = 0.0;
    for (uint i = t; i < n; i += 256) {
        float c = x[xb + i] - mean, g = dy[gb + i];
        ss += c * c;
        sdy += g;
        sdx += g * c;
    }
    ss = workgroup_sum(ss);
    sdy = workgroup_sum(sdy);
    sdx = workgroup_sum(sdx);
    float r = 1.0 / sqrt(ss / float(n) + p.param);
    if (p.mode == 0) {
        float c = r * r * r * sdx / float(n);
        for (uint i = t; i < n; i += 256) d[ob + i] = r * dy[gb + i] - c * x[xb + i];
    } else {   // mean(dy y) = r mean(dy (x - mean))
        float my = r * sdx / float(n), mdy = sdy / float(n);
        for (uint i = t; i < n; i += 256) d[ob + i] = r * (dy[gb + i] - mdy - (x[xb + i] - mean) * r * my);
    }
}
