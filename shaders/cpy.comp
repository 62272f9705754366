#version 450
// d = a element by element in ne order, each with its own shape and strides (cont, cpy and
// casts between f32, f16 and bf16). SRC / DST: F32, F16 or BF16. float -> half rounds to
// nearest even (the device's conversion, as the CPU's); float -> bf16 rounds to nearest
// even by bits, NaN kept quiet, as tl_fp32_to_bf16.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;

#if defined(SRC_F32)
layout(binding = 0) readonly buffer A { float a[]; };
float load(uint i) { return a[i]; }
#elif defined(SRC_F16)
layout(binding = 0) readonly buffer A { float16_t a[]; };
float load(uint i) { return float(a[i]); }
#else
layout(binding = 0) readonly buffer A { uint16_t a[]; };
float load(uint i) { return uintBitsToFloat(uint(a[i]) << 16); }
#endif

#if defined(DST_F32)
layout(binding = 1) writeonly buffer D { float d[]; };
void store(uint i, float x) { d[i] = x; }
#elif defined(DST_F16)
layout(binding = 1) writeonly buffer D { float16_t d[]; };
void store(uint i, float x) { d[i] = float16_t(x); }
#else
layout(binding = 1) writeonly buffer D { uint16_t d[]; };
void store(uint i, float x) {
    uint u = floatBitsToUint(x);
    uint h = (u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    d[i] = uint16_t(h);
}
#endif

layout(push_constant) uniform P {
    uint n;
    uint ne_a[4], nb_a[4]; uint off_a;
    uint ne_d[4], nb_d[4]; uint off_d;
} p;

void main() {
    uint i = flat_index(256);
    if (i >= p.n) return;
    store(p.off_d + strided(i, U4(p.ne_d), U4(p.nb_d)), load(p.off_a + strided(i, U4(p.ne_a), U4(p.nb_a))));
}
