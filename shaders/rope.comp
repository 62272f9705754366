#version 450
// Rotary embedding with a cos/sin table the host computes in double precision, as the CPU
// kernels do ([token][pair] pairs of cos, sin, attention factor included): angles reach
// thousands of radians, where float's pow and multiply would be off by ~1e-4.
// Pair i rotates elements (i, i + n_pairs); elements from 2 n_pairs on pass through.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer T { vec2 cs[]; };
layout(binding = 2) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint n, n_pairs;
    uint ne[4], nb_a[4]; uint off_a, off_d, off_t;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    uint e = i % p.ne[0], row = i / p.ne[0], tok = (row / p.ne[1]) % p.ne[2];
    uint base = p.off_a + strided(row * p.ne[0], U4(p.ne), U4(p.nb_a));
    float r;
    if (e < p.n_pairs) {
        vec2 c = cs[p.off_t + tok * p.n_pairs + e];
        r = a[base + e * p.nb_a[0]] * c.x - a[base + (e + p.n_pairs) * p.nb_a[0]] * c.y;
    } else if (e < 2 * p.n_pairs) {
        vec2 c = cs[p.off_t + tok * p.n_pairs + e - p.n_pairs];
        r = a[base + e * p.nb_a[0]] * c.x + a[base + (e - p.n_pairs) * p.nb_a[0]] * c.y;
    } else {
        r = a[base + e * p.nb_a[0]];
    }
    d[p.off_d + i] = r;
}
