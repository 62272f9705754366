// Quantized GEMM (a batch of activation columns) on decoded weight panels.
//
// The per-row kernels of qmatmul-simd.c decode every weight block once per group of 4
// columns and spend most of their time turning integer block sums into floats. For a
// batch it pays to decode a panel of PR rows once into a layout a dot instruction can eat
// directly, then run every column through it:
//
//   codes [K/4][PR][4]  the weights as unsigned bytes, 4 consecutive k of one row per
//                       int32 lane, so one register holds a 4-deep slice of PR rows
//   scale, bias [K/S][PR]  per sub-block of S weights (S = 16 for Q6_K, else 32):
//                       weight = scale * code + bias (Q4_0: d, -8d; Q8_0: d, -128d with
//                       code = q + 128, or on AVX2 d, 0 with the signed q and the sign
//                       trick; Q4_K: d*sc, -dmin*m; Q6_K: d*sc, -32*d*sc ...)
//
// Activations are quantized with the format's reference partner (Q8_0 / Q8_K), exactly
// as the reference dot does, and interleaved PNC columns at a time so that one pointer
// walks them: 4 int8 of column c at k-group g sit at dword g*PNC + c. The micro-kernel
// then does, per sub-block and column, S/4 u8 x s8 dot steps with the activation dword
// broadcast to all lanes, and two fused multiply-adds:
//   acc += float(isum) * (scale * a_scale) + bias * (a_scale * sum(a)).
// The integer sums are those of the reference dot; only the float rounding differs.
#include "cpu-impl.h"
#include "simd.h"
#include "quants/quants.h"
#include "qmatmul.h"

#include <omp.h>
#include <stdlib.h>

#if VL > 1

#if defined(__AVX512F__)
#define PR 16   // rows per panel: the int32 lanes of one register
#define PNC 8   // columns per micro-kernel pass
typedef __m512i pi;
typedef __m512 pf;
ALWAYS_INLINE pi pi_zero(void) { return _mm512_setzero_si512(); }
ALWAYS_INLINE pi pi_load(const void *p) { return _mm512_load_si512(p); }
ALWAYS_INLINE pi pi_dot(pi acc, pi u8, int32_t s8x4) { return _mm512_dpbusd_epi32(acc, u8, _mm512_set1_epi32(s8x4)); }
ALWAYS_INLINE pf pf_zero(void) { return _mm512_setzero_ps(); }
ALWAYS_INLINE pf pf_load(const float *p) { return _mm512_load_ps(p); }
ALWAYS_INLINE pf pf_set1(float x) { return _mm512_set1_ps(x); }
ALWAYS_INLINE pf pf_cvt(pi x) { return _mm512_cvtepi32_ps(x); }
ALWAYS_INLINE pf pf_fma(pf a, pf b, pf c) { return _mm512_fmadd_ps(a, b, c); }
ALWAYS_INLINE pf pf_mul(pf a, pf b) { return _mm512_mul_ps(a, b); }
ALWAYS_INLINE void pf_store_rows(float *p, pf v, int rows) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << rows) - 1), v);
}
// u8 x s8 sums of 4 stay exact in int32 for every code range (Q8_0's codes reach 255).
#define Q8_0_SIGNED_CODES 0
ALWAYS_INLINE pi pi_dot_signed(pi acc, pi s8, int32_t s8x4) { (void)s8; (void)s8x4; return acc; }   // never called here
#else
#define PR 8
#define PNC 4
typedef __m256i pi;
typedef __m256 pf;
ALWAYS_INLINE pi pi_zero(void) { return _mm256_setzero_si256(); }
ALWAYS_INLINE pi pi_load(const void *p) { return _mm256_load_si256((const __m256i *)p); }
// vpmaddubsw adds pairs of u8*s8 into int16 with saturation: exact while 2*code*128 fits,
// which holds for codes up to 127 (every format but Q8_0, whose codes reach 255).
ALWAYS_INLINE pi pi_dot(pi acc, pi u8, int32_t s8x4) {
    pi p = _mm256_maddubs_epi16(u8, _mm256_set1_epi32(s8x4));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
ALWAYS_INLINE pf pf_zero(void) { return _mm256_setzero_ps(); }
ALWAYS_INLINE pf pf_load(const float *p) { return _mm256_load_ps(p); }
ALWAYS_INLINE pf pf_set1(float x) { return _mm256_set1_ps(x); }
ALWAYS_INLINE pf pf_cvt(pi x) { return _mm256_cvtepi32_ps(x); }
ALWAYS_INLINE pf pf_fma(pf a, pf b, pf c) { return _mm256_fmadd_ps(a, b, c); }
ALWAYS_INLINE pf pf_mul(pf a, pf b) { return _mm256_mul_ps(a, b); }
ALWAYS_INLINE void pf_store_rows(float *p, pf v, int rows) {
    if (rows == PR) {
        _mm256_storeu_ps(p, v);
        return;
    }
    float tmp[PR];
    _mm256_storeu_ps(tmp, v);
    memcpy(p, tmp, (size_t)rows * sizeof(float));
}
// Q8_0's codes would reach 255, so it keeps its signed codes and takes the sign trick:
// |w| x (a with w's sign), both within vpmaddubsw's exact range.
#define Q8_0_SIGNED_CODES 1
ALWAYS_INLINE pi pi_dot_signed(pi acc, pi s8, int32_t s8x4) {
    pi p = _mm256_maddubs_epi16(_mm256_sign_epi8(s8, s8), _mm256_sign_epi8(_mm256_set1_epi32(s8x4), s8));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
#endif

static int sub_block(enum tl_type t) { return tl_type_file_format(t) == TL_Q6_K ? 16 : 32; }

// ---------------------------------------------------------------------------------------
// Weight decoding: one block to unsigned codes and a scale and bias per sub-block.
// Plain loops; the compiler vectorises them, and they run once per row per call.

static void decode_legacy(enum tl_type t, const uint8_t *blk, uint8_t *codes, float *scale, float *bias) {
    uint16_t h;
    memcpy(&h, blk, 2);
    float d = tl_fp16_to_fp32(h);
    if (t == TL_Q8_0) {
        const int8_t *q = (const int8_t *)(blk + 2);
        for (int j = 0; j < 32; j++) codes[j] = (uint8_t)(Q8_0_SIGNED_CODES ? q[j] : q[j] + 128);
        *scale = d;
        *bias = Q8_0_SIGNED_CODES ? 0.0f : -128.0f * d;
        return;
    }
    const uint8_t *qs = blk + (t == TL_Q4_0 ? 2 : 4);
    for (int j = 0; j < 16; j++) {
        codes[j] = qs[j] & 0x0F;
        codes[j + 16] = qs[j] >> 4;
    }
    *scale = d;
    if (t == TL_Q4_0) {
        *bias = -8.0f * d;
    } else {
        memcpy(&h, blk + 2, 2);
        *bias = tl_fp16_to_fp32(h);
    }
}

static void decode_k_asym(enum tl_type t, const uint8_t *blk, uint8_t *codes, float *scale, float *bias) {
    const block_q4_K *x = (const block_q4_K *)blk;   // d, dmin and scales sit alike in Q5_K
    const uint8_t *qs = t == TL_Q4_K ? x->qs : ((const block_q5_K *)blk)->qs;
    const uint8_t *qh = t == TL_Q5_K ? ((const block_q5_K *)blk)->qh : NULL;
    float d = tl_fp16_to_fp32(x->d), dmin = tl_fp16_to_fp32(x->dmin);
    for (int c = 0; c < 4; c++) {   // 64 elements per 32 bytes: low nibbles, then high
        uint8_t *lo = codes + 64 * c, *hi = lo + 32;
        for (int l = 0; l < 32; l++) {
            lo[l] = qs[32 * c + l] & 0x0F;
            hi[l] = qs[32 * c + l] >> 4;
        }
        if (qh)
            for (int l = 0; l < 32; l++) {
                lo[l] |= (uint8_t)(((qh[l] >> (2 * c)) & 1) << 4);
                hi[l] |= (uint8_t)(((qh[l] >> (2 * c + 1)) & 1) << 4);
            }
    }
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        k_scale_min(j, x->scales, &sc, &m);
        scale[j] = d * (float)sc;
        bias[j] = -dmin * (float)m;
    }
}

static void decode_q6_K(const uint8_t *blk, uint8_t *codes, float *scale, float *bias) {
    const block_q6_K *x = (const block_q6_K *)blk;
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = x->ql + 64 * half, *qh = x->qh + 32 * half;
        uint8_t *q = codes + 128 * half;
        for (int l = 0; l < 32; l++) {
            q[l] = (uint8_t)((ql[l] & 0x0F) | ((qh[l] & 3) << 4));
            q[l + 32] = (uint8_t)((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4));
            q[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            q[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
    }
    float d = tl_fp16_to_fp32(x->d);
    for (int j = 0; j < 16; j++) {
        scale[j] = d * (float)x->scales[j];
        bias[j] = -32.0f * scale[j];
    }
}

static void decode_block(enum tl_type t, const uint8_t *blk, uint8_t *codes, float *scale, float *bias) {
    switch (t) {
    case TL_Q4_0: case TL_Q4_1: case TL_Q8_0: decode_legacy(t, blk, codes, scale, bias); break;
    case TL_Q4_K: case TL_Q5_K: decode_k_asym(t, blk, codes, scale, bias); break;
    case TL_Q6_K: decode_q6_K(blk, codes, scale, bias); break;
    default: TL_ASSERT(!"qgemm panel: not a block weight type");
    }
}

// An X16 row (quants/blocks.h) of the file format t decoded as decode_legacy decodes t's
// blocks, 4 code bytes (8 codes) at a time straight from the group; the tail's blocks
// are t's own.
static void decode_x16_row(enum tl_type t, const uint8_t *row, int64_t K, uint8_t *codes, float *scale, float *bias) {
    const int nf = t == TL_Q4_0 ? 1 : 2;
    const int64_t groups = K / X16_ELEMS;
    for (int64_t g = 0; g < groups; g++, row += x16_group_bytes(nf))
        for (int i = 0; i < X16_BLOCKS; i++) {
            const int64_t b = g * X16_BLOCKS + i;
            uint16_t h;
            memcpy(&h, row + x16_field_offset(0, i), 2);
            scale[b] = tl_fp16_to_fp32(h);
            if (nf == 2) memcpy(&h, row + x16_field_offset(1, i), 2);
            bias[b] = nf == 1 ? -8.0f * scale[b] : tl_fp16_to_fp32(h);
            for (int c = 0; c < 4; c++) {   // code bytes 4c..4c+3: elements 4c.. (low) and 16 + 4c.. (high)
                uint32_t v, lo, hi;
                memcpy(&v, row + x16_code_offset(nf, i, 4 * c), 4);
                lo = v & 0x0F0F0F0F, hi = (v >> 4) & 0x0F0F0F0F;
                memcpy(codes + 32 * b + 4 * c, &lo, 4);
                memcpy(codes + 32 * b + 16 + 4 * c, &hi, 4);
            }
        }
    const int bsz = x16_block_bytes(nf);
    for (int64_t b = groups * X16_BLOCKS; b < K / QK_LEGACY; b++, row += bsz)
        decode_legacy(t, row, codes + 32 * b, scale + b, bias + b);
}

// Lane i of an X8 / R8 group (quants/blocks.h) gathered back into GGUF's block layout
// (its fields bytewise, its qh and code dwords whole; Q5_K's code bytes then recoded
// back), then decoded as the block of t it is.
static void decode_x8_lane(enum tl_type t, const uint8_t *group, int i, uint8_t *codes, float *scale, float *bias) {
    const int bsz = x8_block_bytes(t == TL_Q5_K);
    uint8_t blk[sizeof(block_q5_K)];
    for (int k = 0; k < 16; k++) blk[k] = group[x8_offset(i, k)];   // d, dmin, scales
    for (int k = 16; k < bsz; k += 4) memcpy(blk + k, group + x8_offset(i, k), 4);
    if (t == TL_Q5_K) q5_K_recode(blk, false);
    decode_k_asym(t, blk, codes, scale, bias);
}

// An X8 row of the file format t: its groups' 8 blocks, then the tail's blocks, t's own.
static void decode_k_x8_row(enum tl_type t, const uint8_t *row, int64_t K, uint8_t *codes, float *scale, float *bias) {
    const bool q5 = t == TL_Q5_K;
    const int bsz = x8_block_bytes(q5);
    const int64_t groups = K / X8_ELEMS;
    for (int64_t g = 0; g < groups; g++, row += x8_group_bytes(q5))
        for (int i = 0; i < X8_BLOCKS; i++) {
            const int64_t b = g * X8_BLOCKS + i;
            decode_x8_lane(t, row, i, codes + QK_K * b, scale + 8 * b, bias + 8 * b);
        }
    for (int64_t b = groups * X8_BLOCKS; b < K / QK_K; b++, row += bsz)
        decode_k_asym(t, row, codes + QK_K * b, scale + 8 * b, bias + 8 * b);
}

// Row i (< 8) of a Q4_K_R8 / Q5_K_R8 panel's chunk of K weights (blocks.h), of the file
// format t: its block b is lane i of the chunk's group b.
static void decode_k_r8_row(enum tl_type t, const uint8_t *panel, int i, int64_t K, uint8_t *codes, float *scale, float *bias) {
    for (int64_t b = 0; b < K / QK_K; b++, panel += x8_group_bytes(t == TL_Q5_K))
        decode_x8_lane(t, panel, i, codes + QK_K * b, scale + 8 * b, bias + 8 * b);
}

// Block i of a Q8_0_X8 group, or row i's block of a Q8_0_R8 group, gathered back into
// GGUF's layout (its d bytewise, its code dwords whole), then decoded as a Q8_0 block.
static void decode_q8x8_lane(const uint8_t *group, int i, uint8_t *codes, float *scale, float *bias) {
    uint8_t blk[sizeof(block_q8_0)];
    for (int k = 0; k < 2; k++) blk[k] = group[q8x8_offset(i, k)];
    for (int k = 2; k < (int)sizeof blk; k += 4) memcpy(blk + k, group + q8x8_offset(i, k), 4);
    decode_legacy(TL_Q8_0, blk, codes, scale, bias);
}

// A Q8_0_X8 row (quants/blocks.h): its groups' 8 blocks, then the tail's blocks, Q8_0's own.
static void decode_q8_0_x8_row(const uint8_t *row, int64_t K, uint8_t *codes, float *scale, float *bias) {
    const int64_t groups = K / Q8X8_ELEMS;
    for (int64_t g = 0; g < groups; g++, row += Q8X8_GROUP_BYTES)
        for (int i = 0; i < Q8X8_BLOCKS; i++) {
            const int64_t b = g * Q8X8_BLOCKS + i;
            decode_q8x8_lane(row, i, codes + QK_LEGACY * b, scale + b, bias + b);
        }
    for (int64_t b = groups * Q8X8_BLOCKS; b < K / QK_LEGACY; b++, row += sizeof(block_q8_0))
        decode_legacy(TL_Q8_0, row, codes + QK_LEGACY * b, scale + b, bias + b);
}

// Row i (< 8) of a Q4_0_R8 / Q4_1_R8 panel's chunk of the file format t: each block gathered back
// into GGUF's layout (its fp16 fields bytewise, its code dwords whole), then decoded.
static void decode_q4_r8_row(enum tl_type t, const uint8_t *panel, int i, int64_t K, uint8_t *codes, float *scale,
                             float *bias) {
    const int nf = t == TL_Q4_1 ? 2 : 1, bsz = x16_block_bytes(nf);
    uint8_t blk[sizeof(block_q4_1)];
    for (int64_t b = 0; b < K / QK_LEGACY; b++, panel += q4r8_group_bytes(nf)) {
        for (int k = 0; k < 2 * nf; k++) blk[k] = panel[q4r8_offset(nf, i, k)];
        for (int k = 2 * nf; k < bsz; k += 4) memcpy(blk + k, panel + q4r8_offset(nf, i, k), 4);
        decode_legacy(t, blk, codes + QK_LEGACY * b, scale + b, bias + b);
    }
}

// Row i (< 8) of a Q6_K_R8 panel's chunk: each block gathered back into GGUF's layout (scales and d
// bytewise, ql and qh dwords whole), then decoded.
static void decode_q6_K_r8_row(const uint8_t *panel, int i, int64_t K, uint8_t *codes, float *scale, float *bias) {
    uint8_t blk[sizeof(block_q6_K)];
    for (int64_t b = 0; b < K / QK_K; b++, panel += Q6R8_GROUP_BYTES) {
        for (int k = 0; k < 192; k += 4) memcpy(blk + k, panel + q6r8_offset(i, k), 4);
        for (int k = 192; k < (int)sizeof blk; k++) blk[k] = panel[q6r8_offset(i, k)];
        decode_block(TL_Q6_K, blk, codes + QK_K * b, scale + QK_K / 16 * b, bias + QK_K / 16 * b);
    }
}

// Row i (< 8) of a Q8_0_R8 panel's chunk: its block b is lane i of the chunk's group b.
static void decode_q8_0_r8_row(const uint8_t *panel, int i, int64_t K, uint8_t *codes, float *scale, float *bias) {
    for (int64_t b = 0; b < K / QK_LEGACY; b++, panel += Q8X8_GROUP_BYTES)
        decode_q8x8_lane(panel, i, codes + QK_LEGACY * b, scale + b, bias + b);
}

// Row r of a panel matrix (blocks.h) of M rows of K weights of layout t: chunk by chunk,
// each the layout's panel of that width.
static void decode_r8_row(enum tl_type t, const uint8_t *a, int64_t M, int64_t K, int64_t r, uint8_t *codes, float *scale,
                          float *bias) {
    const enum tl_type file = tl_type_file_format(t);
    const int S = sub_block(t), lane = (int)(r % R8_ROWS);
    for (int64_t k0 = 0; k0 < K; k0 += PANEL_CHUNK) {
        const uint8_t *chunk = a + panel_chunk_offset(t, M, K, r / R8_ROWS, k0);
        const int64_t width = TL_MIN(PANEL_CHUNK, K - k0);
        uint8_t *c = codes + k0;
        float *sc = scale + k0 / S, *bi = bias + k0 / S;
        if (t == TL_Q4_K_R8 || t == TL_Q5_K_R8) decode_k_r8_row(file, chunk, lane, width, c, sc, bi);
        else if (t == TL_Q4_0_R8 || t == TL_Q4_1_R8) decode_q4_r8_row(file, chunk, lane, width, c, sc, bi);
        else if (t == TL_Q6_K_R8) decode_q6_K_r8_row(chunk, lane, width, c, sc, bi);
        else if (t == TL_Q8_0_R8) decode_q8_0_r8_row(chunk, lane, width, c, sc, bi);
        else TL_ASSERT(!"qgemm panel: not a panel layout");
    }
}

struct panel {
    uint32_t *codes;       // [K/4][PR] dwords of 4 codes
    float *scale, *bias;   // [K/S][PR]
    uint8_t *row_codes;    // K codes of one row, before interleaving
    float *row_scale, *row_bias;
};

// Decodes rows m0 .. m0 + rows - 1 (rows <= PR) of the M rows at a; missing rows of the
// last panel become zeros.
static void decode_panel(enum tl_type t, const uint8_t *a, size_t lda, int64_t M, int64_t m0, int rows, int64_t K,
                         struct panel *p) {
    const struct tl_type_traits *tt = tl_type_traits(t);
    const int S = sub_block(t), bs = (int)tt->block_size;
    const int64_t nsub = K / S, ngroup = K / 4;
    for (int r = 0; r < PR; r++) {
        if (r < rows) {
            const uint8_t *row = a + (size_t)(m0 + r) * lda;
            if (tt->panel_rows)
                decode_r8_row(t, a, M, K, m0 + r, p->row_codes, p->row_scale, p->row_bias);
            else if (t == TL_Q4_0_X16 || t == TL_Q4_1_X16)
                decode_x16_row(tl_type_file_format(t), row, K, p->row_codes, p->row_scale, p->row_bias);
            else if (t == TL_Q4_K_X8 || t == TL_Q5_K_X8)
                decode_k_x8_row(tl_type_file_format(t), row, K, p->row_codes, p->row_scale, p->row_bias);
            else if (t == TL_Q8_0_X8)
                decode_q8_0_x8_row(row, K, p->row_codes, p->row_scale, p->row_bias);
            else
                for (int64_t b = 0; b < K / bs; b++)
                    decode_block(t, row + b * tt->type_size, p->row_codes + b * bs, p->row_scale + b * (bs / S),
                                 p->row_bias + b * (bs / S));
        } else {
            memset(p->row_codes, 0, (size_t)K);
            memset(p->row_scale, 0, (size_t)nsub * sizeof(float));
            memset(p->row_bias, 0, (size_t)nsub * sizeof(float));
        }
        const uint32_t *dw = (const uint32_t *)p->row_codes;
        for (int64_t g = 0; g < ngroup; g++) p->codes[g * PR + r] = dw[g];
        for (int64_t j = 0; j < nsub; j++) {
            p->scale[j * PR + r] = p->row_scale[j];
            p->bias[j * PR + r] = p->row_bias[j];
        }
    }
}

// ---------------------------------------------------------------------------------------
// Activations: PNC columns interleaved (see the top of the file).

struct act_group {
    int32_t *q;            // [K/4][PNC] 4 int8 each
    float *dscale, *dsum;  // [K/S][PNC]: the column's scale, and scale * sum of the sub-block
};

static void put_column(enum tl_type t, const void *blocks, int64_t K, int c, struct act_group *g) {
    const int S = sub_block(t);
    if (tl_type_traits(t)->vec_dot_type == TL_Q8_0) {
        const block_q8_0 *b = blocks;
        for (int64_t i = 0; i < K / 32; i++) {
            float d = tl_fp16_to_fp32(b[i].d);
            int s = 0;
            for (int j = 0; j < 32; j++) s += b[i].qs[j];
            for (int j = 0; j < 8; j++) memcpy(&g->q[(8 * i + j) * PNC + c], b[i].qs + 4 * j, 4);
            g->dscale[i * PNC + c] = d;
            g->dsum[i * PNC + c] = d * (float)s;
        }
        return;
    }
    const block_q8_K *b = blocks;
    for (int64_t i = 0; i < K / 256; i++) {
        for (int j = 0; j < 64; j++) memcpy(&g->q[(64 * i + j) * PNC + c], b[i].qs + 4 * j, 4);
        for (int j = 0; j < 256 / S; j++) {
            int s = S == 16 ? b[i].bsums[j] : b[i].bsums[2 * j] + b[i].bsums[2 * j + 1];
            g->dscale[(i * (256 / S) + j) * PNC + c] = b[i].d;
            g->dsum[(i * (256 / S) + j) * PNC + c] = b[i].d * (float)s;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The micro-kernel: PR rows x NC columns, accumulators in registers.

ALWAYS_INLINE void tile(const struct panel *p, const struct act_group *g, int64_t K, const int S, const int NC,
                        const bool signed_codes, float *c, size_t ldc, int rows) {
    pf acc[PNC];
    for (int j = 0; j < NC; j++) acc[j] = pf_zero();
    const uint32_t *w = p->codes;
    const int32_t *q = g->q;
    for (int64_t b = 0; b < K / S; b++) {
        pi isum[PNC];
        for (int j = 0; j < NC; j++) isum[j] = pi_zero();
        for (int k = 0; k < S / 4; k++, w += PR, q += PNC) {
            pi wk = pi_load(w);
            for (int j = 0; j < NC; j++)
                isum[j] = signed_codes ? pi_dot_signed(isum[j], wk, q[j]) : pi_dot(isum[j], wk, q[j]);
        }
        pf sc = pf_load(p->scale + b * PR), bi = pf_load(p->bias + b * PR);
        const float *ds = g->dscale + b * PNC, *dm = g->dsum + b * PNC;
        for (int j = 0; j < NC; j++) {
            acc[j] = pf_fma(pf_cvt(isum[j]), pf_mul(sc, pf_set1(ds[j])), acc[j]);
            acc[j] = pf_fma(bi, pf_set1(dm[j]), acc[j]);
        }
    }
    for (int j = 0; j < NC; j++) pf_store_rows(c + (size_t)j * ldc, acc[j], rows);
}

ALWAYS_INLINE void tile_s(const struct panel *p, const struct act_group *g, int64_t K, const int S, const bool sgn, int nc,
                          float *c, size_t ldc, int rows) {
    switch (nc) {
#define TILE_CASE(n) case n: tile(p, g, K, S, n, sgn, c, ldc, rows); break;
    TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4)
#if PNC == 8
    TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
#endif
#undef TILE_CASE
    default: TL_ASSERT(!"qgemm panel: column count");
    }
}

static void tile_any(enum tl_type t, const struct panel *p, const struct act_group *g, int64_t K, int nc, float *c,
                     size_t ldc, int rows) {
    if (tl_type_file_format(t) == TL_Q6_K) tile_s(p, g, K, 16, false, nc, c, ldc, rows);
    else if (Q8_0_SIGNED_CODES && tl_type_file_format(t) == TL_Q8_0) tile_s(p, g, K, 32, true, nc, c, ldc, rows);
    else tile_s(p, g, K, 32, false, nc, c, ldc, rows);
}

// ---------------------------------------------------------------------------------------

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

bool ISA_FN(tl_cpu_qgemm_panel)(enum tl_type t, int64_t M, int64_t N, int64_t K, const uint8_t *a, size_t lda,
                                const float *b, size_t ldb, float *c, size_t ldc, int nth) {
    const int S = sub_block(t);
    const enum tl_type vt = tl_type_traits(t)->vec_dot_type;
    const int64_t n_groups = (N + PNC - 1) / PNC;
    const size_t qrow = tl_row_size(vt, K);
    const size_t gq = (size_t)K * PNC, gs = (size_t)(K / S) * PNC;   // per group: bytes of q, floats of scales
    uint8_t *act_q = alloc64(gq * n_groups);
    float *act_s = alloc64(2 * gs * n_groups * sizeof(float));
    uint8_t *blocks = alloc64(qrow * nth);
    if (!act_q || !act_s || !blocks) {
        free(act_q);
        free(act_s);
        free(blocks);
        return false;   // the row kernels need far less memory
    }
    #pragma omp parallel num_threads(nth)
    {
        struct act_group *groups = malloc(n_groups * sizeof *groups);
        struct panel p = {
            .codes = alloc64((size_t)K * PR), .scale = alloc64((size_t)(K / S) * PR * sizeof(float)),
            .bias = alloc64((size_t)(K / S) * PR * sizeof(float)), .row_codes = alloc64((size_t)K),
            .row_scale = alloc64((size_t)(K / S) * sizeof(float)), .row_bias = alloc64((size_t)(K / S) * sizeof(float)),
        };
        TL_ASSERT(groups && p.codes && p.scale && p.bias && p.row_codes && p.row_scale && p.row_bias);
        for (int64_t i = 0; i < n_groups; i++)
            groups[i] = (struct act_group){ (int32_t *)(act_q + gq * i), act_s + 2 * gs * i, act_s + 2 * gs * i + gs };
        uint8_t *my_blocks = blocks + qrow * omp_get_thread_num();
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < n_groups * PNC; n++) {
            struct act_group *g = &groups[n / PNC];
            if (n < N) {
                ISA_FN(tl_cpu_quantize_activations)(vt, b + n * ldb, my_blocks, K);
                put_column(t, my_blocks, K, (int)(n % PNC), g);
            } else {   // padding columns of the last group: zeros, never stored
                for (int64_t k = 0; k < K / 4; k++) g->q[k * PNC + n % PNC] = 0;
                for (int64_t k = 0; k < K / S; k++) g->dscale[k * PNC + n % PNC] = g->dsum[k * PNC + n % PNC] = 0;
            }
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t m0 = 0; m0 < M; m0 += PR) {
            int rows = (int)TL_MIN(PR, M - m0);
            decode_panel(t, a, lda, M, m0, rows, K, &p);
            for (int64_t gi = 0; gi < n_groups; gi++) {
                int nc = (int)TL_MIN(PNC, N - gi * PNC);
                tile_any(t, &p, &groups[gi], K, nc, c + (size_t)gi * PNC * ldc + m0, ldc, rows);
            }
        }
        free(p.codes); free(p.scale); free(p.bias); free(p.row_codes); free(p.row_scale); free(p.row_bias);
        free(groups);
    }
    free(act_q);
    free(act_s);
    free(blocks);
    return true;
}

#else

bool ISA_FN(tl_cpu_qgemm_panel)(enum tl_type t, int64_t M, int64_t N, int64_t K, const uint8_t *a, size_t lda,
                                const float *b, size_t ldb, float *c, size_t ldc, int nth) {
    (void)t; (void)M; (void)N; (void)K; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)nth;
    return false;   // the scalar build keeps the reference dot
}

#endif
