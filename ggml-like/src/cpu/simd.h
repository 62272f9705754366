// The vector vocabulary the fast kernels are written in. Each *-simd.c file is compiled
// three times: plain (VL 1, the portable scalar fallback), with AVX2+FMA+F16C (VL 8) and
// with AVX-512 (VL 16); ISA_FN(name) gives each build's symbols their own suffix and
// SIMD_ISA names the build.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

// For small kernels specialised by constant arguments (column counts, block sizes).
#define ALWAYS_INLINE static inline __attribute__((always_inline))

#if defined(__AVX512F__)
#include <immintrin.h>
#define VL 16
#define ISA_FN(name) name##_avx512
#define SIMD_ISA TL_ISA_AVX512
typedef __m512 vf;
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }   // a*b + c
static inline vf vabs(vf a) { return _mm512_abs_ps(a); }
static inline float vhsum(vf a) { return _mm512_reduce_add_ps(a); }
static inline float vhmax(vf a) { return _mm512_reduce_max_ps(a); }
static inline vf vload_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
static inline vf vload_i8(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
// VL whole numbers in [-128, 127] to bytes
static inline void vstore_i8(int8_t *p, vf v) {
    _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
}
static inline void vstore_f16(uint16_t *p, vf v) {
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
static inline vf vload_bf16(const uint16_t *p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
// Round to nearest even on the bit pattern; a NaN keeps its top bits and is made quiet.
static inline void vstore_bf16(uint16_t *p, vf v) {
    __m512i x = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __m512i q = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, r, q)));
}
static inline vf vpow2i(vf n) {   // 2^n for integral n in [-126, 127]
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
static inline vf vround(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT); }
static inline vf vtrunc(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_ZERO); }
static inline vf vselect_ge(vf x, vf lim, vf v) {   // x >= lim ? v : 0
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lim, _CMP_GE_OQ), v);
}
static inline vf vneg_if_neg(vf sign_of, vf v) {   // copysign-like: v with sign of sign_of
    __m512i s = _mm512_and_si512(_mm512_castps_si512(sign_of), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), s));
}
#elif defined(__AVX2__)
#include <immintrin.h>
#define VL 8
#define ISA_FN(name) name##_avx2
#define SIMD_ISA TL_ISA_AVX2
typedef __m256 vf;
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vset1(float x) { return _mm256_set1_ps(x); }
static inline vf vzero(void) { return _mm256_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vabs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline float vhsum(vf a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float vhmax(vf a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline vf vload_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline vf vload_i8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
static inline void vstore_i8(int8_t *p, vf v) {
    __m256i w = _mm256_cvtps_epi32(v);
    __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packs_epi16(h, h));
}
static inline void vstore_f16(uint16_t *p, vf v) {
    _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
static inline vf vload_bf16(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static inline void vstore_bf16(uint16_t *p, vf v) {
    __m256i x = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i q = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    __m256i w = _mm256_blendv_epi8(r, q, nan);   // 8 x 32-bit, values < 2^16
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128((__m128i *)p, packed);
}
static inline vf vpow2i(vf n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
static inline vf vround(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vf vtrunc(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
static inline vf vselect_ge(vf x, vf lim, vf v) {
    return _mm256_and_ps(_mm256_cmp_ps(x, lim, _CMP_GE_OQ), v);
}
static inline vf vneg_if_neg(vf sign_of, vf v) {
    return _mm256_xor_ps(v, _mm256_and_ps(sign_of, _mm256_set1_ps(-0.0f)));
}
#else
#define VL 1
#define ISA_FN(name) name##_scalar
#define SIMD_ISA TL_ISA_SCALAR
#include "tl.h"
typedef float vf;
static inline vf vload(const float *p) { return *p; }
static inline void vstore(float *p, vf v) { *p = v; }
static inline vf vset1(float x) { return x; }
static inline vf vzero(void) { return 0.0f; }
static inline vf vadd(vf a, vf b) { return a + b; }
static inline vf vsub(vf a, vf b) { return a - b; }
static inline vf vmul(vf a, vf b) { return a * b; }
static inline vf vdiv(vf a, vf b) { return a / b; }
static inline vf vmax(vf a, vf b) { return a > b ? a : b; }
static inline vf vmin(vf a, vf b) { return a < b ? a : b; }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vabs(vf a) { return fabsf(a); }
static inline float vhsum(vf a) { return a; }
static inline float vhmax(vf a) { return a; }
static inline vf vload_f16(const uint16_t *p) { return tl_fp16_to_fp32(*p); }
static inline vf vload_i8(const int8_t *p) { return (float)*p; }
static inline void vstore_i8(int8_t *p, vf v) { *p = (int8_t)v; }
static inline void vstore_f16(uint16_t *p, vf v) { *p = tl_fp32_to_fp16(v); }
static inline vf vload_bf16(const uint16_t *p) { return tl_bf16_to_fp32(*p); }
static inline void vstore_bf16(uint16_t *p, vf v) { *p = tl_fp32_to_bf16(v); }
static inline vf vpow2i(vf n) { return ldexpf(1.0f, (int)n); }
static inline vf vround(vf x) { return nearbyintf(x); }
static inline vf vselect_ge(vf x, vf lim, vf v) { return x >= lim ? v : 0.0f; }
static inline vf vneg_if_neg(vf sign_of, vf v) { return signbit(sign_of) ? -v : v; }
#endif

// exp(x) to about 2 ulp (Cephes' polynomial); exactly 0 below -87.3, so masked (-inf)
// scores give zero weight.
static inline vf vexp(vf x) {
    const vf lo = vset1(-87.3f);
    vf xc = vmin(vmax(x, lo), vset1(88.3f));
    vf n = vround(vmul(xc, vset1(1.44269504088896341f)));
    vf r = vfma(n, vset1(-0.693359375f), xc);
    r = vfma(n, vset1(2.12194440e-4f), r);
    vf p = vset1(1.9875691500e-4f);
    p = vfma(p, r, vset1(1.3981999507e-3f));
    p = vfma(p, r, vset1(8.3334519073e-3f));
    p = vfma(p, r, vset1(4.1665795894e-2f));
    p = vfma(p, r, vset1(1.6666665459e-1f));
    p = vfma(p, r, vset1(5.0000001201e-1f));
    p = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
    return vselect_ge(x, lo, vmul(p, vpow2i(n)));
}

static inline vf vsilu(vf x) {
    return vdiv(x, vadd(vset1(1.0f), vexp(vsub(vzero(), x))));
}

static inline vf vtanh(vf y) {   // 1 - 2 / (exp(2y) + 1)
    return vsub(vset1(1.0f), vdiv(vset1(2.0f), vadd(vexp(vadd(y, y)), vset1(1.0f))));
}

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
static inline vf verf(vf x) {
    vf ax = vabs(x);
    vf t = vdiv(vset1(1.0f), vfma(vset1(0.3275911f), ax, vset1(1.0f)));
    vf p = vset1(1.061405429f);
    p = vfma(p, t, vset1(-1.453152027f));
    p = vfma(p, t, vset1(1.421413741f));
    p = vfma(p, t, vset1(-0.284496736f));
    p = vfma(p, t, vset1(0.254829592f));
    p = vmul(p, t);
    vf e = vexp(vsub(vzero(), vmul(ax, ax)));
    return vneg_if_neg(x, vsub(vset1(1.0f), vmul(p, e)));
}

// Loads VL weights of any float type as f32.
static inline vf vload_any(int type, const void *p) {
    switch (type) {
    case 1: return vload_f16(p);    // TL_F16
    case 2: return vload_bf16(p);   // TL_BF16
    default: return vload(p);
    }
}
