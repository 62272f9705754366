#version 450
// cpy / cont of f32 into Q8_0 (DST_Q8_0) or Q4_0 blocks: the write into a block-format KV
// cache. Element i of a (ne order) goes to element i of d, as the CPU's cpy; each block of
// 32 is one invocation and gets the bytes of GGUF's reference quantizer
// (quants/quant-legacy.c), which the CPU writes: the same maximum, the divisions rounded
// as the CPU's (exact.glsl), the same products and roundings. The blocks (34 or 18 bytes)
// are written as 16-bit words, so no two invocations share a word.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "exact.glsl"
layout(local_size_x = 64) in;

layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) writeonly buffer D { uint16_t d[]; };

layout(push_constant) uniform P {
    uint n_blocks;
    uint ne_a[4], nb_a[4]; uint off_a;   // elements
    uint ne_d[4], nb_d[4]; uint off_d;   // ne_d[0] in blocks; strides and offset in bytes
} p;

float x[32];

void store_byte_pair(uint byte, uint lo, uint hi) { d[byte / 2u] = uint16_t((lo & 0xffu) | ((hi & 0xffu) << 8)); }

#ifdef DST_Q8_0
// d = max |x| / 127, codes round(x / d) away from zero
void quantize(uint at) {
    float amax = 0.0;
    for (int j = 0; j < 32; j++) amax = max(amax, abs(x[j]));
    float scale = amax == 0.0 ? 0.0 : div_rn(amax, 127.0);
    float inv = scale == 0.0 ? 0.0 : div_rn(1.0, scale);
    d[at / 2u] = uint16_t(f32_to_f16_bits(scale));
    int q[32];
    for (int j = 0; j < 32; j++) {
        precise float t = x[j] * inv;
        float m = abs(t), whole = floor(m);   // m - whole is exact
        q[j] = int(sign(t) * (m - whole >= 0.5 ? whole + 1.0 : whole));
    }
    for (int j = 0; j < 32; j += 2) store_byte_pair(at + 2u + uint(j), uint(q[j]), uint(q[j + 1]));
}
#else
// d = (the signed value of largest magnitude, the first of equals) / -8, codes
// min(15, trunc(x / d + 8.5)); element j in the low nibble of byte j, j + 16 in the high
void quantize(uint at) {
    float amax = 0.0, vmax = 0.0;
    for (int j = 0; j < 32; j++)
        if (amax < abs(x[j])) {
            amax = abs(x[j]);
            vmax = x[j];
        }
    float scale = vmax * -0.125;   // exact, as the CPU's division by -8
    float inv = scale == 0.0 ? 0.0 : sign(scale) * div_rn(1.0, abs(scale));
    d[at / 2u] = uint16_t(f32_to_f16_bits(scale));
    uint nib[32];
    for (int j = 0; j < 32; j++) {
        precise float t = x[j] * inv;
        precise float u = t + 8.5;
        nib[j] = uint(min(int(u), 15));
    }
    for (int j = 0; j < 16; j += 2)
        store_byte_pair(at + 2u + uint(j), nib[j] | (nib[j + 16] << 4), nib[j + 1] | (nib[j + 17] << 4));
}
#endif

void main() {
    uint b = flat_index(64);
    if (b >= p.n_blocks) return;
    for (uint j = 0u; j < 32u; j++) x[j] = a[p.off_a + strided(32u * b + j, U4(p.ne_a), U4(p.nb_a))];
    quantize(p.off_d + strided(b, U4(p.ne_d), U4(p.nb_d)));
}
