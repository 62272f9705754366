#version 450
// d = a element by element in ne order, each with its own shape and strides (cont, cpy and
// casts between f32 and f16). SRC_T / DST_T: float or float16_t; float -> half rounds to
// nearest even (the device's conversion, as the CPU's).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { SRC_T a[]; };
layout(binding = 1) writeonly buffer D { DST_T d[]; };
layout(push_constant) uniform P {
    uint n;
    uint ne_a[4], nb_a[4]; uint off_a;
    uint ne_d[4], nb_d[4]; uint off_d;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    d[p.off_d + strided(i, U4(p.ne_d), U4(p.nb_d))] = DST_T(a[p.off_a + strided(i, U4(p.ne_a), U4(p.nb_a))]);
}
