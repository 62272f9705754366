#version 450
// d = a op b for add, sub, mul, div (b broadcast over a's shape) and swiglu (silu(a) * b,
// equal shapes). f32.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint op, n;
    uint ne[4], nb_d[4]; uint off_d;
    uint nb_a[4]; uint off_a;
    uint ne_b[4], nb_b[4]; uint off_b;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    float x = a[p.off_a + strided(i, U4(p.ne), U4(p.nb_a))];
    float y = b[p.off_b + strided_broadcast(i, U4(p.ne), U4(p.ne_b), U4(p.nb_b))];
    float r;
    if (p.op == 0) r = x + y;
    else if (p.op == 1) r = x - y;
    else if (p.op == 2) r = x * y;
    else if (p.op == 3) r = x / y;
    else r = x / (1.0 + exp(-x)) * y;
    d[p.off_d + strided(i, U4(p.ne), U4(p.nb_d))] = r;
}
