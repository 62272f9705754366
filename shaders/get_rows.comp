#version 450
// d[i0, i1, i2, i3] = a[i0, ids[i1, i2, i3], i2, i3] (0 for an id out of range); a is
// SRC_T (float or float16_t), ids i32, d f32 contiguous.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { SRC_T a[]; };
layout(binding = 1) readonly buffer I { int ids[]; };
layout(binding = 2) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint n, n_rows;
    uint ne[4], nb_a[4]; uint off_a;
    uint nb_i[4]; uint off_i, off_d;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    uint i0 = i % p.ne[0], r = i / p.ne[0];
    uint i1 = r % p.ne[1], i2 = (r / p.ne[1]) % p.ne[2], i3 = r / (p.ne[1] * p.ne[2]);
    int id = ids[p.off_i + i1 * p.nb_i[0] + i2 * p.nb_i[1] + i3 * p.nb_i[2]];
    float v = 0.0;
    if (id >= 0 && uint(id) < p.n_rows) v = float(a[p.off_a + i0 * p.nb_a[0] + uint(id) * p.nb_a[1] + i2 * p.nb_a[2] + i3 * p.nb_a[3]]);
    d[p.off_d + i] = v;
}
