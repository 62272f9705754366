// The GEMV's weight reader (mul_vec.comp), after weights.glsl: four lanes share a 32-weight
// unit, lane j taking 8 weights at two 4-aligned offsets lo, hi of the unit, picked per
// type so the lane reads whole words of the quants and neighbouring lanes read
// neighbouring activations:
//   w_slice(row, u, j, wlo, whi, lo, hi): weights 32u+lo .. +3 and 32u+hi .. +3
// (0 past K for the float types).
#if defined(W_F32)
layout(binding = 0) readonly buffer A4 { vec4 a4[]; };
#elif defined(W_F16) || defined(W_BF16)
layout(binding = 0) readonly buffer A8 { uvec4 a8[]; };   // 8 halves / 8 bfloat16
#endif

#if defined(W_F32) || defined(W_F16) || defined(W_BF16)
// whole, aligned units of a contiguous row read as vectors; the rest element by element
bool vector_row(uint row, uint u) {
#if defined(W_F32)
    const uint per = 4u;
#else
    const uint per = 8u;
#endif
    return p.nb_a[0] == 1u && row % per == 0u && u * 32u + 32u <= p.K;
}
#if defined(W_BF16)
vec2 unpack_bf16x2(uint w) { return vec2(uintBitsToFloat(w << 16), uintBitsToFloat(w & 0xFFFF0000u)); }
#endif
void w_slice(uint row, uint u, uint j, out vec4 wlo, out vec4 whi, out uint lo, out uint hi) {
    lo = 8u * j;
    hi = lo + 4u;
    uint k = u * 32u + lo;
    if (vector_row(row, u)) {
#if defined(W_F32)
        wlo = a4[(row + k) / 4u];
        whi = a4[(row + k) / 4u + 1u];
#else
        uvec4 q = a8[(row + k) / 8u];
#if defined(W_F16)
        wlo = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
        whi = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
#else
        wlo = vec4(unpack_bf16x2(q.x), unpack_bf16x2(q.y));
        whi = vec4(unpack_bf16x2(q.z), unpack_bf16x2(q.w));
#endif
#endif
        return;
    }
    for (uint i = 0; i < 4u; i++) {
        wlo[i] = k + i < p.K ? w_elem(row, k + i) : 0.0;
        whi[i] = k + 4u + i < p.K ? w_elem(row, k + 4u + i) : 0.0;
    }
}

#elif defined(W_Q8_0)
void w_slice(uint row, uint u, uint j, out vec4 wlo, out vec4 whi, out uint lo, out uint hi) {
    uint base = row + u * 34u;
    float d = half_at(base);
    lo = 8u * j;
    hi = lo + 4u;
    uint q0 = word_at(base + 2u + lo), q1 = word_at(base + 2u + hi);
    for (uint i = 0; i < 4u; i++) {
        wlo[i] = d * float(bitfieldExtract(int(q0), int(8u * i), 8));
        whi[i] = d * float(bitfieldExtract(int(q1), int(8u * i), 8));
    }
}

#elif defined(W_Q4_0)   // bytes 4j..4j+3: low nibbles are elements 4j.., high 16+4j..
void w_slice(uint row, uint u, uint j, out vec4 wlo, out vec4 whi, out uint lo, out uint hi) {
    uint base = row + u * 18u;
    float d = half_at(base);
    lo = 4u * j;
    hi = 16u + lo;
    uint q = word_at(base + 2u + lo);
    for (uint i = 0; i < 4u; i++) {
        uint byte = (q >> (8u * i)) & 0xFFu;
        wlo[i] = d * (float(byte & 15u) - 8.0);
        whi[i] = d * (float(byte >> 4) - 8.0);
    }
}

#elif defined(W_Q4_K)   // sub-block u % 8: its 32 nibbles in bytes (sub / 2) * 32 + 0..31
void w_slice(uint row, uint u, uint j, out vec4 wlo, out vec4 whi, out uint lo, out uint hi) {
    uint base = row + (u / 8u) * 144u, sub = u % 8u;
    float sc, mn;
    q4k_scale_min(base, sub, sc, mn);
    float d = half_at(base) * sc, m = half_at(base + 2u) * mn;
    uint shift = (sub & 1u) * 4u;
    lo = 8u * j;
    hi = lo + 4u;
    uint q0 = word_at(base + 16u + (sub / 2u) * 32u + lo), q1 = word_at(base + 16u + (sub / 2u) * 32u + hi);
    for (uint i = 0; i < 4u; i++) {
        wlo[i] = d * float((q0 >> (8u * i + shift)) & 15u) - m;
        whi[i] = d * float((q1 >> (8u * i + shift)) & 15u) - m;
    }
}

#elif defined(W_Q6_K)   // quarter u % 8 (see weights.glsl): words c = 2j, 2j + 1 of ql and qh
void w_slice(uint row, uint u, uint j, out vec4 wlo, out vec4 whi, out uint lo, out uint hi) {
    uint base = row + (u / 8u) * 210u, g = u % 8u, h = g / 4u, r = g % 4u;
    float d = half_at(base + 208u) * float(sbyte_at(base + 192u + 8u * h + 2u * r + (j >= 2u ? 1u : 0u)));
    uint lshift = 4u * (r >> 1), hshift = 2u * r;
    lo = 8u * j;
    hi = lo + 4u;
    uint ql0 = word_at(base + 64u * h + 32u * (r & 1u) + lo), ql1 = word_at(base + 64u * h + 32u * (r & 1u) + hi);
    uint qh0 = word_at(base + 128u + 32u * h + lo), qh1 = word_at(base + 128u + 32u * h + hi);
    for (uint i = 0; i < 4u; i++) {
        uint a0 = ((ql0 >> (8u * i + lshift)) & 15u) | (((qh0 >> (8u * i + hshift)) & 3u) << 4);
        uint a1 = ((ql1 >> (8u * i + lshift)) & 15u) | (((qh1 >> (8u * i + hshift)) & 3u) << 4);
        wlo[i] = d * (float(a0) - 32.0);
        whi[i] = d * (float(a1) - 32.0);
    }
}
#endif
