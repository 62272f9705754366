#version 450
// d[i0, r, i2, i3] = sum of dy[i0, i1, i2, i3] over the i1 whose id is r, in ascending i1
// (the reference's order, so the sums are its bits). The host lists each table row's i1:
// runs[b * R + r] .. runs[b * R + r + 1] (b = i2 + B2 i3) index runs[list + k], the i1s.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer DY { float dy[]; };
layout(binding = 1) readonly buffer L { uint runs[]; };
layout(binding = 2) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint n;                      // d's elements
    uint E, R, B2;               // row length, table rows, dim 2
    uint nb_dy[4]; uint off_dy;
    uint list;                   // where the i1 lists start in runs
    uint off_d;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    uint i0 = i % p.E, r = (i / p.E) % p.R, b = i / (p.E * p.R);
    uint base = p.off_dy + i0 * p.nb_dy[0] + (b % p.B2) * p.nb_dy[2] + (b / p.B2) * p.nb_dy[3];
    float s = 0.0;
    for (uint k = runs[b * p.R + r]; k < runs[b * p.R + r + 1]; k++) s += dy[base + runs[p.list + k] * p.nb_dy[1]];
    d[p.off_d + i] = s;
}
