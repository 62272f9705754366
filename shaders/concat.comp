#version 450
// d = a and b joined along one dim, element by element in ne order; d contiguous. T is
// uint for the 4-byte types (f32, i32: bits copied) or float16_t.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { T a[]; };
layout(binding = 1) readonly buffer B { T b[]; };
layout(binding = 2) writeonly buffer D { T d[]; };
layout(push_constant) uniform P {
    uint n, dim;
    uint ne[4];
    uint ne_a[4], nb_a[4]; uint off_a;
    uint nb_b[4]; uint off_b, off_d;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    uint x[4], r = i;
    for (uint k = 0; k < 4u; k++) {
        x[k] = r % p.ne[k];
        r /= p.ne[k];
    }
    bool from_a = x[p.dim] < p.ne_a[p.dim];
    if (!from_a) x[p.dim] -= p.ne_a[p.dim];
    uvec4 xi = uvec4(x[0], x[1], x[2], x[3]);
    d[p.off_d + i] = from_a ? a[p.off_a + xi.x * p.nb_a[0] + xi.y * p.nb_a[1] + xi.z * p.nb_a[2] + xi.w * p.nb_a[3]]
                            : b[p.off_b + xi.x * p.nb_b[0] + xi.y * p.nb_b[1] + xi.z * p.nb_b[2] + xi.w * p.nb_b[3]];
}
