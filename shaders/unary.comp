#version 450
// d = f(a) for scale, silu, gelu (erf, as HuggingFace's exact GELU) and gelu_tanh. f32.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "erf.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint op, n; float scale;
    uint ne[4], nb_d[4]; uint off_d;
    uint nb_a[4]; uint off_a;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    float x = a[p.off_a + strided(i, U4(p.ne), U4(p.nb_a))];
    float r;
    if (p.op == 0) r = x * p.scale;
    else if (p.op == 1) r = x / (1.0 + exp(-x));
    else if (p.op == 2) r = 0.5 * x * (1.0 + erf_precise(x * 0.70710678118654752));
    else {
        float u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
        r = 0.5 * x * (1.0 + tanh(clamp(u, -15.0, 15.0)));   // tanh of a huge u may be inf / inf
    }
    d[p.off_d + strided(i, U4(p.ne), U4(p.nb_d))] = r;
}
