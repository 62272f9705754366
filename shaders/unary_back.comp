#version 450
// d = dy f'(x) for silu (op 0), gelu (erf, op 1) and gelu_tanh (op 2). f32, any strides;
// d contiguous.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "erf.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint op, n;
    uint ne[4];
    uint nb_x[4]; uint off_x;
    uint nb_dy[4]; uint off_dy;
    uint off_d;
} p;

float derivative(float v) {
    if (p.op == 0) {
        float s = 1.0 / (1.0 + exp(-v));
        return s * (1.0 + v * (1.0 - s));
    }
    if (p.op == 1) return 0.5 * (1.0 + erf_precise(v * 0.70710678118654752)) + v * exp(-0.5 * v * v) * 0.3989422804014327;
    float t = tanh(clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0));
    return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * v * v);
}

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    float v = x[p.off_x + strided(i, U4(p.ne), U4(p.nb_x))];
    d[p.off_d + i] = dy[p.off_dy + strided(i, U4(p.ne), U4(p.nb_dy))] * derivative(v);
}
