// The type-traits table and the half-precision conversions.
#include "tl-impl.h"
#include "quants/quants.h"

#include <math.h>
#include <strings.h>

// IEEE binary16 from binary32, round to nearest even; NaN stays NaN, overflow -> inf.
uint16_t tl_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        // subnormal (or zero) half: shift the implicit-1 mantissa into place
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        int shift = 14 - e;   // 24-bit mantissa -> 10 bits at exponent 1-15
        uint32_t h = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;   // may carry into exp: correct
    return (uint16_t)(sign | h);
}

float tl_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t x;
    if (exp == 0x1fu) {
        x = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            x = sign;
        } else {   // subnormal: normalise
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else {
        x = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

uint16_t tl_fp32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);   // quiet NaN
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

float tl_bf16_to_fp32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, n * 4); }
static void f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, n * 4); }

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = tl_fp16_to_fp32(s[i]);
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = tl_fp32_to_fp16(src[i]);
}
static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = tl_bf16_to_fp32(s[i]);
}
static void bf16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = tl_fp32_to_bf16(src[i]);
}

// One row a type. Block formats: from_float is GGUF's reference quantizer, to_float its
// dequantizer, vec_dot the reference dot against activations in vec_dot_type.
static const struct tl_type_traits type_traits[TL_TYPE_COUNT] = {
    [TL_F32]  = { "f32",  1, 4, true, false, 0, f32_to_float, f32_from_float, NULL, TL_F32 },
    [TL_F16]  = { "f16",  1, 2, true, false, 1, f16_to_float, f16_from_float, NULL, TL_F32 },
    [TL_BF16] = { "bf16", 1, 2, true, false, 30, bf16_to_float, bf16_from_float, NULL, TL_F32 },
    [TL_I32]  = { "i32",  1, 4, false, false, 26, NULL, NULL, NULL, TL_I32 },
    [TL_Q4_0] = { "q4_0", QK_LEGACY, sizeof(block_q4_0), false, true, 2,
                  dequantize_q4_0, quantize_q4_0, vec_dot_q4_0_q8_0, TL_Q8_0 },
    [TL_Q4_1] = { "q4_1", QK_LEGACY, sizeof(block_q4_1), false, true, 3,
                  dequantize_q4_1, quantize_q4_1, vec_dot_q4_1_q8_0, TL_Q8_0 },
    [TL_Q8_0] = { "q8_0", QK_LEGACY, sizeof(block_q8_0), false, true, 8,
                  dequantize_q8_0, quantize_q8_0, vec_dot_q8_0_q8_0, TL_Q8_0 },
    [TL_Q4_K] = { "q4_K", QK_K, sizeof(block_q4_K), false, true, 12,
                  dequantize_q4_K, quantize_q4_K, vec_dot_q4_K_q8_K, TL_Q8_K },
    [TL_Q5_K] = { "q5_K", QK_K, sizeof(block_q5_K), false, true, 13,
                  dequantize_q5_K, quantize_q5_K, vec_dot_q5_K_q8_K, TL_Q8_K },
    [TL_Q6_K] = { "q6_K", QK_K, sizeof(block_q6_K), false, true, 14,
                  dequantize_q6_K, quantize_q6_K, vec_dot_q6_K_q8_K, TL_Q8_K },
    [TL_Q8_K] = { "q8_K", QK_K, sizeof(block_q8_K), false, true, 15,
                  dequantize_q8_K, quantize_q8_K, NULL, TL_Q8_K },
    // made by tl_convert_layout only: no quantizer of its own
    [TL_Q4_0_X16] = { "q4_0x16", QK_LEGACY, sizeof(block_q4_0), false, true, TL_GGML_NONE,
                      dequantize_q4_0_x16, NULL, vec_dot_q4_0_x16_q8_0, TL_Q8_0 },
    [TL_Q4_1_X16] = { "q4_1x16", QK_LEGACY, sizeof(block_q4_1), false, true, TL_GGML_NONE,
                      dequantize_q4_1_x16, NULL, vec_dot_q4_1_x16_q8_0, TL_Q8_0 },
    [TL_Q4_K_X8] = { "q4_Kx8", QK_K, sizeof(block_q4_K), false, true, TL_GGML_NONE,
                     dequantize_q4_K_x8, NULL, vec_dot_q4_K_x8_q8_K, TL_Q8_K },
    [TL_Q5_K_X8] = { "q5_Kx8", QK_K, sizeof(block_q5_K), false, true, TL_GGML_NONE,
                     dequantize_q5_K_x8, NULL, vec_dot_q5_K_x8_q8_K, TL_Q8_K },
    [TL_Q8_0_X8] = { "q8_0x8", QK_LEGACY, sizeof(block_q8_0), false, true, TL_GGML_NONE,
                     dequantize_q8_0_x8, NULL, vec_dot_q8_0_x8_q8_0, TL_Q8_0 },
    // whole panels of 8 rows: no per-row functions
    [TL_Q4_K_R8] = { "q4_Kr8", QK_K, sizeof(block_q4_K), false, true, TL_GGML_NONE, NULL, NULL, NULL, TL_Q8_K, R8_ROWS },
    [TL_Q5_K_R8] = { "q5_Kr8", QK_K, sizeof(block_q5_K), false, true, TL_GGML_NONE, NULL, NULL, NULL, TL_Q8_K, R8_ROWS },
    [TL_Q8_0_R8] = { "q8_0r8", QK_LEGACY, sizeof(block_q8_0), false, true, TL_GGML_NONE, NULL, NULL, NULL, TL_Q8_0, R8_ROWS },
    [TL_Q4_0_R8] = { "q4_0r8", QK_LEGACY, sizeof(block_q4_0), false, true, TL_GGML_NONE, NULL, NULL, NULL, TL_Q8_0, R8_ROWS },
    [TL_Q4_1_R8] = { "q4_1r8", QK_LEGACY, sizeof(block_q4_1), false, true, TL_GGML_NONE, NULL, NULL, NULL, TL_Q8_0, R8_ROWS },
    [TL_Q6_K_R8] = { "q6_Kr8", QK_K, sizeof(block_q6_K), false, true, TL_GGML_NONE, NULL, NULL, NULL, TL_Q8_K, R8_ROWS },
};

const struct tl_type_traits *tl_type_traits(enum tl_type type) {
    TL_ASSERT(type >= 0 && type < TL_TYPE_COUNT);
    return &type_traits[type];
}

const char *tl_type_name(enum tl_type type) {
    return (type >= 0 && type < TL_TYPE_COUNT) ? type_traits[type].name : "?";
}

bool tl_type_from_ggml(uint32_t ggml_type, enum tl_type *type) {
    for (int t = 0; t < TL_TYPE_COUNT; t++)
        if (type_traits[t].ggml_type == ggml_type && t != TL_Q8_K && ggml_type != TL_GGML_NONE) {
            *type = (enum tl_type)t;
            return true;
        }
    return false;
}

bool tl_type_parse(const char *name, enum tl_type *type) {
    for (int t = 0; t < TL_TYPE_COUNT; t++)   // CPU layouts are not for users to name
        if (type_traits[t].ggml_type != TL_GGML_NONE && strcasecmp(type_traits[t].name, name) == 0) {
            *type = (enum tl_type)t;
            return true;
        }
    return false;
}

enum tl_type tl_type_interleaved(enum tl_type t, int64_t ne0) {
    if (t == TL_Q4_K || t == TL_Q5_K) return ne0 < X8_ELEMS ? t : t == TL_Q4_K ? TL_Q4_K_X8 : TL_Q5_K_X8;
    if (t == TL_Q8_0) return ne0 < Q8X8_ELEMS ? t : TL_Q8_0_X8;
    if (ne0 < X16_ELEMS) return t;
    return t == TL_Q4_0 ? TL_Q4_0_X16 : t == TL_Q4_1 ? TL_Q4_1_X16 : t;
}

enum tl_type tl_type_cpu_layout(enum tl_type t, int64_t ne0, int64_t ne1) {
    if ((t == TL_Q4_K || t == TL_Q5_K || t == TL_Q6_K) && ne0 % QK_K == 0 && ne1 > 0 && ne1 % R8_ROWS == 0)
        return t == TL_Q4_K ? TL_Q4_K_R8 : t == TL_Q5_K ? TL_Q5_K_R8 : TL_Q6_K_R8;
    if ((t == TL_Q4_0 || t == TL_Q4_1 || t == TL_Q8_0) && ne0 % QK_LEGACY == 0 && ne1 > 0 && ne1 % R8_ROWS == 0)
        return t == TL_Q4_0 ? TL_Q4_0_R8 : t == TL_Q4_1 ? TL_Q4_1_R8 : TL_Q8_0_R8;
    return tl_type_interleaved(t, ne0);
}

enum tl_type tl_type_file_format(enum tl_type t) {
    switch (t) {
    case TL_Q4_K_R8: return TL_Q4_K;
    case TL_Q5_K_R8: return TL_Q5_K;
    case TL_Q8_0_R8: return TL_Q8_0;
    case TL_Q4_0_R8: return TL_Q4_0;
    case TL_Q4_1_R8: return TL_Q4_1;
    case TL_Q6_K_R8: return TL_Q6_K;
    case TL_Q4_0_X16: return TL_Q4_0;
    case TL_Q4_1_X16: return TL_Q4_1;
    case TL_Q4_K_X8: return TL_Q4_K;
    case TL_Q5_K_X8: return TL_Q5_K;
    case TL_Q8_0_X8: return TL_Q8_0;
    default: return t;
    }
}

void tl_convert_layout(enum tl_type from, enum tl_type to, const void *src, void *dst, int64_t n, int64_t ne0) {
    const bool to_cpu = tl_type_file_format(to) == from;
    const enum tl_type file = to_cpu ? from : to, cpu = to_cpu ? to : from;
    TL_ASSERT(from != to && ne0 > 0 && n % ne0 == 0 && "tl_convert_layout: not whole rows");
    TL_ASSERT((tl_type_interleaved(file, ne0) == cpu || tl_type_cpu_layout(file, ne0, n / ne0) == cpu) &&
              "tl_convert_layout: not a layout pair");
    if (tl_type_traits(cpu)->panel_rows) cpu_panels_regroup(file, src, dst, n, ne0, to_cpu);
    else cpu_layout_regroup(file, src, dst, n, ne0, to_cpu);
}

size_t tl_row_size(enum tl_type type, int64_t ne0) {
    const struct tl_type_traits *tt = tl_type_traits(type);
    return tt->type_size * (size_t)(ne0 / tt->block_size);
}

float tl_load_f32(enum tl_type type, const void *p) {
    switch (type) {
    case TL_F32:  return *(const float *)p;
    case TL_F16:  return tl_fp16_to_fp32(*(const uint16_t *)p);
    case TL_BF16: return tl_bf16_to_fp32(*(const uint16_t *)p);
    case TL_I32:  return (float)*(const int32_t *)p;
    default: TL_ASSERT(!"tl_load_f32: not an element type"); return 0;
    }
}

void tl_store_f32(enum tl_type type, void *p, float v) {
    switch (type) {
    case TL_F32:  *(float *)p = v; break;
    case TL_F16:  *(uint16_t *)p = tl_fp32_to_fp16(v); break;
    case TL_BF16: *(uint16_t *)p = tl_fp32_to_bf16(v); break;
    case TL_I32:  *(int32_t *)p = (int32_t)v; break;
    default: TL_ASSERT(!"tl_store_f32: not an element type");
    }
}

float tl_gelu_erf_f32(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

float tl_gelu_tanh_f32(float x) {
    const float c = 0.7978845608028654f;   // sqrt(2/pi)
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}
