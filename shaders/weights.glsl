// Shared by mul_mat.comp (tiles) and mul_vec.comp (one row per workgroup): the push
// constants of both and the weight readers for one W_* type.
//   w_elem(row, k):    weight k of the row starting at `row`
//   w_unit(row, u, w): weights 32u .. 32u+31 (0 past K for the float types)
// `row` is an element offset for the float types (strides nb_a in elements) and a byte
// offset for the block formats (strides in bytes; rows are whole blocks, ne0 contiguous),
// read as 32-bit words (blocks.glsl).
layout(push_constant) uniform P {
    uint K, M, N;
    uint nb_a[4]; uint off_a;
    uint nb_b[4]; uint off_b;
    uint off_d;
    uint b2, b3, r2, r3;   // b's dims 2-3 and the broadcast ratios b2 / a2, b3 / a3
    uint accumulate;       // mul_mat.comp: d += a b (the loss's weight gradient over chunks)
    uint k_split;          // mul_mat.comp: k per split of K (a multiple of 32); K: one split
    uint ldd;              // floats from one output column to the next (M, or more for a part of a product)
} p;

#if defined(W_F32)
layout(binding = 0) readonly buffer A { float a[]; };
float w_elem(uint row, uint k) { return a[row + k * p.nb_a[0]]; }
#elif defined(W_F16)
layout(binding = 0) readonly buffer A { float16_t a[]; };
float w_elem(uint row, uint k) { return float(a[row + k * p.nb_a[0]]); }
#else
#include "blocks.glsl"
layout(binding = 0) readonly buffer A { uint a[]; };
uint byte_at(uint i) { return BLOCK_BYTE(a, i); }
int sbyte_at(uint i) { return BLOCK_SBYTE(a, i); }
float half_at(uint i) { return BLOCK_HALF(a, i); }   // i even
uint word_at(uint i) {   // 4 bytes at any byte offset
    uint s = (i & 3u) * 8u, lo = a[i >> 2];
    return s == 0u ? lo : (lo >> s) | (a[(i >> 2) + 1u] << (32u - s));
}
#endif

#if defined(W_BF16)
float w_elem(uint row, uint k) {
    uint e = row + k * p.nb_a[0];
    return uintBitsToFloat(((a[e >> 1] >> ((e & 1u) * 16u)) & 0xFFFFu) << 16);
}
#endif

#if defined(W_F32) || defined(W_F16) || defined(W_BF16)
void w_unit(uint row, uint u, out float w[32]) {
    for (uint i = 0; i < 32u; i++) {
        uint k = u * 32u + i;
        w[i] = k < p.K ? w_elem(row, k) : 0.0;
    }
}

#elif defined(W_Q8_0)   // 34 bytes: d, 32 x int8
float w_elem(uint row, uint k) { return Q8_0_ELEM(a, row, k); }
void w_unit(uint row, uint u, out float w[32]) {
    uint base = row + u * 34u;
    float d = half_at(base);
    for (uint j = 0; j < 8u; j++) {
        uint q = word_at(base + 2u + 4u * j);
        for (uint i = 0; i < 4u; i++) w[4u * j + i] = d * float(bitfieldExtract(int(q), int(8u * i), 8));
    }
}

#elif defined(W_Q4_0)   // 18 bytes: d, 16 bytes (element j low nibble, j + 16 high)
float w_elem(uint row, uint k) { return Q4_0_ELEM(a, row, k); }
void w_unit(uint row, uint u, out float w[32]) {
    uint base = row + u * 18u;
    float d = half_at(base);
    for (uint j = 0; j < 4u; j++) {
        uint q = word_at(base + 2u + 4u * j);
        for (uint i = 0; i < 4u; i++) {
            uint byte = (q >> (8u * i)) & 0xFFu;
            w[4u * j + i] = d * (float(byte & 15u) - 8.0);
            w[4u * j + i + 16u] = d * (float(byte >> 4) - 8.0);
        }
    }
}

#elif defined(W_Q4_K)   // 144 bytes: d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
void q4k_scale_min(uint base, uint j, out float sc, out float mn) {
    uint s = base + 4u;
    if (j < 4u) {
        sc = float(byte_at(s + j) & 63u);
        mn = float(byte_at(s + j + 4u) & 63u);
    } else {
        sc = float((byte_at(s + j + 4u) & 15u) | ((byte_at(s + j - 4u) >> 6) << 4));
        mn = float((byte_at(s + j + 4u) >> 4) | ((byte_at(s + j) >> 6) << 4));
    }
}
float w_elem(uint row, uint k) {
    uint base = row + (k / 256u) * 144u, i = k % 256u, j = i / 32u;
    float sc, mn;
    q4k_scale_min(base, j, sc, mn);
    uint q = byte_at(base + 16u + (i / 64u) * 32u + i % 32u);
    float nib = float((j & 1u) != 0u ? q >> 4 : q & 15u);
    return half_at(base) * sc * nib - half_at(base + 2u) * mn;
}
void w_unit(uint row, uint u, out float w[32]) {   // sub-block u % 8 of block u / 8
    uint base = row + (u / 8u) * 144u, j = u % 8u;
    float sc, mn;
    q4k_scale_min(base, j, sc, mn);
    float d = half_at(base) * sc, m = half_at(base + 2u) * mn;
    uint shift = (j & 1u) * 4u;
    for (uint c = 0; c < 8u; c++) {
        uint q = word_at(base + 16u + (j / 2u) * 32u + 4u * c);
        for (uint i = 0; i < 4u; i++) w[4u * c + i] = d * float((q >> (8u * i + shift)) & 15u) - m;
    }
}

#elif defined(W_Q6_K)   // 210 bytes: ql[128], qh[64], int8 scales[16], d
// Element i of a block: half h = i / 128, quarter r = (i % 128) / 32, l = i % 32; the low
// 4 bits in ql[64h + 32(r & 1) + l] (high nibble when r >= 2), the top 2 in bits 2r of
// qh[32h + l], the scale scales[8h + l / 16 + 2r].
float w_elem(uint row, uint k) {
    uint base = row + (k / 256u) * 210u, i = k % 256u;
    uint h = i / 128u, r = (i % 128u) / 32u, l = i % 32u;
    uint lo = (byte_at(base + 64u * h + 32u * (r & 1u) + l) >> (4u * (r >> 1))) & 15u;
    uint hi = (byte_at(base + 128u + 32u * h + l) >> (2u * r)) & 3u;
    float sc = float(sbyte_at(base + 192u + 8u * h + l / 16u + 2u * r));
    return half_at(base + 208u) * sc * (float(lo | (hi << 4)) - 32.0);
}
void w_unit(uint row, uint u, out float w[32]) {   // quarter u % 8 of block u / 8
    uint base = row + (u / 8u) * 210u, g = u % 8u, h = g / 4u, r = g % 4u;
    float d = half_at(base + 208u);
    float d0 = d * float(sbyte_at(base + 192u + 8u * h + 2u * r));
    float d1 = d * float(sbyte_at(base + 192u + 8u * h + 2u * r + 1u));
    uint lshift = 4u * (r >> 1), hshift = 2u * r;
    for (uint c = 0; c < 8u; c++) {
        uint ql = word_at(base + 64u * h + 32u * (r & 1u) + 4u * c);
        uint qh = word_at(base + 128u + 32u * h + 4u * c);
        for (uint i = 0; i < 4u; i++) {
            uint q = ((ql >> (8u * i + lshift)) & 15u) | (((qh >> (8u * i + hshift)) & 3u) << 4);
            w[4u * c + i] = (c < 4u ? d0 : d1) * (float(q) - 32.0);
        }
    }
}
#endif
