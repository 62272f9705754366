#version 450
// The K-split GEMM's last step (mul_mat.comp with several splits): d[e] = sum over the
// splits s of part[s n + e], one invocation an element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer PART { float part[]; };
layout(binding = 1) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint n, splits, off_d;
} p;

void main() {
    uint e = flat_index(256);
    if (e >= p.n) return;
    float s = 0.0;
    for (uint i = 0; i < p.splits; i++) s += part[i * p.n + e];
    d[p.off_d + e] = s;
}
