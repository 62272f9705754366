// mul_mat with block-format weights, one weight row at a time: GEMV (one token) and
// small batches; from QPANEL_MIN_N columns on, qgemm-panel-simd.c takes over. Each
// activation column is quantized (in a GEMV, by each thread for itself) with the
// reference quantizer of the format's partner (Q8_0 or Q8_K), so the integer sums are
// exactly those of the reference dot; only the order of the float scaling differs.
//
// The SIMD builds unpack the quantized activations into a planar layout (all int8 values
// contiguous, scales and sums beside them), in the order in which the ISA's kernel
// (qrow-avx2.h, qrow-avx512.h) widens a row's 4-, 5-, 6- or 8-bit codes to unsigned
// bytes, and multiply codes and activations with u8 x s8 dot instructions (vpdpbusd, or
// vpmaddubsw + vpmaddwd on AVX2). Codes stored with an offset (q - 8, and on AVX-512
// Q8_0's q + 128) are fixed up by starting each int32 lane at -offset * (sum of its 4
// activations), precomputed per column; Q6_K's q - 32 per block from Q8_K's bsums.
//
// Rows are split over the threads; columns go QNC at a time so one decoded weight chunk
// serves several columns while one column streams the weights once.
#include "cpu-impl.h"
#include "simd.h"
#include "quants/quants.h"
#include "qmatmul.h"

#include <omp.h>

#define QNC 4    // columns per pass over a weight row
#define QCB 64   // columns per block: their activations (~2.3 bytes/element) stay in L2
// From this many columns on, decoding row panels once (qgemm-panel-simd.c) beats these
// row kernels.
#define QPANEL_MIN_N 8

// One activation column, quantized: blocks in the reference layout (the scalar build
// and the reference dot use them) and, for SIMD builds, the planar unpacking.
struct qcol {
    const void *blocks;   // K/32 block_q8_0 or K/256 block_q8_K
    const int8_t *qs;     // K values
    const float *d;       // scale per 32 (Q8_0) or per 256 (Q8_K)
    const float *sa;      // Q8_0: d * (sum of the block's 32 values), for Q4_1's min term
    const int32_t *bs;    // Q8_K: sum of each 32 values, for the K formats' min terms
    const int32_t *bias;  // per 4 values of qs: -offset * their sum, or NULL
    const float *d4;      // Q8_0: d of each block four times over (one legacy block per 4 lanes)
    const int32_t *block_bias;   // Q4_0_X16, Q4_0_R8: -8 * (sum of each block's 32 values), a lane's
                                 // start; Q8_0_X8 and Q8_0_R8 on AVX-512: -128 * (that sum)
    const int16_t *pair_bs;      // Q4_K_X8, Q5_K_X8: per group and sub-block pair p, lane i: bs of sub-blocks 2p, 2p + 1 of block i;
                                 // Q4_K_R8, Q5_K_R8: bs of each sub-block in order
};

// What the kernels subtract from a stored code through per-4-activation offsets. AVX-512
// also stores Q8_0 as q + 128: it has no byte sign instruction for the vpmaddubsw sign
// trick of the AVX2 kernel. (Q6_K's 32 comes off per block, from Q8_K's bsums.)
static int code_offset(enum tl_type t) {
    switch (t) {
    case TL_Q4_0: case TL_Q4_0_X16: return 8;
#if defined(__AVX512F__)
    case TL_Q8_0: case TL_Q8_0_X8: return 128;   // Q8_0_X8: for its tail's Q8_0 kernel
#endif
    default: return 0;
    }
}

// What the group kernels subtract per block, from each lane's start (block_bias): Q4_0_R8's
// 8, and on AVX-512 the 128 of Q8_0_X8 and Q8_0_R8. (Q4_0_X16 sums its per-4 offsets.)
static int block_offset(enum tl_type t) {
    switch (t) {
    case TL_Q4_0_R8: return 8;
#if defined(__AVX512F__)
    case TL_Q8_0_X8: case TL_Q8_0_R8: return 128;
#endif
    default: return 0;
    }
}

// Q4_0_X16 / Q4_1_X16 (both SIMD builds), per 512: register r = 2c + h (code chunk c, low
// or high nibbles h) holds, at lane i, elements 16h + 4c .. +3 of block i. K: the grouped part.
static void permute_for_x16(int8_t *qs, int64_t K) {
    int8_t tmp[X16_ELEMS];
    for (int64_t g = 0; g + X16_ELEMS <= K; g += X16_ELEMS) {
        for (int r = 0; r < 8; r++)
            for (int i = 0; i < X16_BLOCKS; i++) memcpy(tmp + 64 * r + 4 * i, qs + g + 32 * i + 16 * (r % 2) + 4 * (r / 2), 4);
        memcpy(qs + g, tmp, X16_ELEMS);
    }
}

#if defined(__AVX512F__)
// The AVX-512 kernels take 64 codes per register and reach activations in that order.
// Q4_0/Q4_1, per 4 blocks: the 64 low-nibble elements (16 per block), then the 64 high.
#define LEGACY_STEP 128
static void permute_for_legacy(int8_t *qs, int64_t K) {
    int8_t tmp[128];
    for (int64_t g = 0; g + 128 <= K; g += 128) {
        for (int i = 0; i < 4; i++) {
            memcpy(tmp + 16 * i, qs + g + 32 * i, 16);
            memcpy(tmp + 64 + 16 * i, qs + g + 32 * i + 16, 16);
        }
        memcpy(qs + g, tmp, 128);
    }
}
// Q4_K/Q5_K, per 256: sub-blocks 0,2 | 1,3 | 4,6 | 5,7 (low and high nibbles of 64 bytes).
static void permute_for_k_formats(int8_t *qs, int64_t K) {
    static const int order[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
    int8_t tmp[256];
    for (int64_t g = 0; g < K; g += 256) {
        for (int j = 0; j < 8; j++) memcpy(tmp + 32 * j, qs + g + 32 * order[j], 32);
        memcpy(qs + g, tmp, 256);
    }
}
#else
// The AVX2 Q4_0/Q4_1 kernel, per 2 blocks: the 16 low-nibble elements of each, then the 16 high.
#define LEGACY_STEP 64
static void permute_for_legacy(int8_t *qs, int64_t K) {
    int8_t tmp[64];
    for (int64_t g = 0; g + 64 <= K; g += 64) {
        memcpy(tmp, qs + g, 16);
        memcpy(tmp + 16, qs + g + 32, 16);
        memcpy(tmp + 32, qs + g + 16, 16);
        memcpy(tmp + 48, qs + g + 48, 16);
        memcpy(qs + g, tmp, 64);
    }
}
// The AVX2 Q4_K/Q5_K kernel reads the activations in GGUF's order.
static void permute_for_k_formats(int8_t *qs, int64_t K) { (void)qs, (void)K; }
#endif

static bool is_x16(enum tl_type t) { return t == TL_Q4_0_X16 || t == TL_Q4_1_X16; }

// Q4_K_X8 (both SIMD builds), per 2048: for chunk c, nibble half h, dword w and block i,
// the 4 elements 64c + 32h + 4w .. +3 of block i (qrow-kx8.h). K: the grouped part.
static void permute_for_x8(int8_t *qs, int64_t K) {
    int8_t buf[X8_ELEMS];
    for (int64_t g = 0; g + X8_ELEMS <= K; g += X8_ELEMS) {
        for (int c = 0; c < 4; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 8; w++)
                    for (int i = 0; i < X8_BLOCKS; i++)
                        memcpy(buf + 512 * c + 256 * h + 32 * w + 4 * i, qs + g + QK_K * i + 64 * c + 32 * h + 4 * w, 4);
        memcpy(qs + g, buf, X8_ELEMS);
    }
}

// Q8_0_X8 (both SIMD builds), per 256: chunk r holds, at lane i, elements 4r .. 4r + 3 of
// block i (qrow-q8x8.h). K: the grouped part.
static void permute_for_q8x8(int8_t *qs, int64_t K) {
    int8_t buf[Q8X8_ELEMS];
    for (int64_t g = 0; g + Q8X8_ELEMS <= K; g += Q8X8_ELEMS) {
        for (int r = 0; r < 8; r++)
            for (int i = 0; i < Q8X8_BLOCKS; i++) memcpy(buf + 32 * r + 4 * i, qs + g + QK_LEGACY * i + 4 * r, 4);
        memcpy(qs + g, buf, Q8X8_ELEMS);
    }
}

static void permute_for_kernel(enum tl_type t, int8_t *qs, int64_t K) {
    if (is_x16(t)) {
        permute_for_x16(qs, x16_grouped(K));
        permute_for_legacy(qs + x16_grouped(K), K - x16_grouped(K));   // the tail's Q4_0 blocks
    } else if (t == TL_Q4_0 || t == TL_Q4_1) {
        permute_for_legacy(qs, K);
    } else if (t == TL_Q4_K || t == TL_Q5_K) {
        permute_for_k_formats(qs, K);
    } else if (t == TL_Q4_K_X8 || t == TL_Q5_K_X8) {
        permute_for_x8(qs, x8_grouped(K));
        permute_for_k_formats(qs + x8_grouped(K), K - x8_grouped(K));   // the tail's file blocks
    } else if (t == TL_Q8_0_X8) {
        permute_for_q8x8(qs, q8x8_grouped(K));   // the tail's Q8_0 blocks take GGUF's order
    }   // the R8 layouts broadcast the activations in order
}

// Bytes of planar data per column of K elements.
static size_t planar_bytes(int64_t K) { return (size_t)K + (size_t)K / 32 * 12 + (size_t)K + (size_t)K / 2 + 64; }

// Where each array of a column's planar data starts in its memory.
struct planar {
    int8_t *qs;
    float *d, *sa;
    int32_t *bs, *bias;
    float *d4;
};

static struct planar planar_at(uint8_t *mem, int64_t K) {
    struct planar p = { .qs = (int8_t *)mem, .d = (float *)(mem + K) };
    p.sa = p.d + K / 32;
    p.bs = (int32_t *)(p.sa + K / 32);
    p.bias = p.bs + K / 32;
    p.d4 = (float *)(p.bias + K / 4);
    return p;
}

// -offset * (sum of each 4 of the K values): where a kernel's int32 lanes start
// (code_offset).
static void offset_sums(const int8_t *qs, int32_t *bias, int off, int64_t K) {
    for (int64_t i = 0; i < K / 4; i++) bias[i] = -off * (qs[4 * i] + qs[4 * i + 1] + qs[4 * i + 2] + qs[4 * i + 3]);
}

// A column's planar data block by block, in the activations' order (finish_column then
// puts them in the kernel's).
static void unpack_blocks(enum tl_type wt, const void *blocks, int64_t K, uint8_t *mem) {
    const struct planar p = planar_at(mem, K);
    if (tl_type_traits(wt)->vec_dot_type == TL_Q8_0) {
        const block_q8_0 *b = blocks;
        for (int64_t i = 0; i < K / 32; i++) {
            memcpy(p.qs + 32 * i, b[i].qs, 32);
            p.d[i] = tl_fp16_to_fp32(b[i].d);
            for (int j = 0; j < 4; j++) p.d4[4 * i + j] = p.d[i];
            int s = 0;
            for (int j = 0; j < 32; j++) s += b[i].qs[j];
            p.sa[i] = p.d[i] * (float)s;
            // a block's lanes start from -offset times the sum of its values (bs is free:
            // Q8_K's only)
            if (block_offset(wt)) p.bs[i] = -block_offset(wt) * s;
        }
    } else {
        const block_q8_K *b = blocks;
        int16_t *pair_bs = (int16_t *)p.bias;   // bias is free: no K format has a code offset
        for (int64_t i = 0; i < K / 256; i++) {
            memcpy(p.qs + 256 * i, b[i].qs, 256);
            p.d[i] = b[i].d;
            for (int j = 0; j < 8; j++) p.bs[8 * i + j] = b[i].bsums[2 * j] + b[i].bsums[2 * j + 1];
            // Q4_K_R8 / Q5_K_R8: the min terms' sub-block sums as int16 in block order, a
            // pair's two words read as one dword (|bs| <= 32 * 128)
            if (wt == TL_Q4_K_R8 || wt == TL_Q5_K_R8)
                for (int j = 0; j < 8; j++) pair_bs[8 * i + j] = (int16_t)p.bs[8 * i + j];
        }
    }
}

// The steps over the whole unpacked column: the kernel's order of the values (none for
// the R8 layouts, Q8_0 and Q6_K), their offsets' sums and the group sums.
static void finish_column(enum tl_type wt, int64_t K, uint8_t *mem) {
    const struct planar p = planar_at(mem, K);
    permute_for_kernel(wt, p.qs, K);
    const int off = code_offset(wt);
    if (off) offset_sums(p.qs, p.bias, off, K);
    // The Q4_0 steps dot the low and the high nibbles of 4 (AVX-512) or 2 (AVX2) blocks
    // into the same lanes, so they start them from both halves' offsets at once: the first
    // half of each step's offsets take the sum. (Q4_0_X16: in its tail.)
    if (wt == TL_Q4_0 || wt == TL_Q4_0_X16) {
        const int64_t lanes = LEGACY_STEP / 8;
        for (int64_t g = wt == TL_Q4_0 ? 0 : x16_grouped(K); g + LEGACY_STEP <= K; g += LEGACY_STEP)
            for (int64_t j = 0; j < lanes; j++) p.bias[g / 4 + j] += p.bias[g / 4 + lanes + j];
    }
    // Q4_0_X16: the 8 registers of a group dot into the same lane per block, which starts
    // from the sum of that block's 8 offsets (bs is free: Q8_K's only)
    if (wt == TL_Q4_0_X16)
        for (int64_t g = 0; g < x16_grouped(K) / 4; g += X16_ELEMS / 4)
            for (int i = 0; i < X16_BLOCKS; i++) {
                int32_t sum = 0;
                for (int r = 0; r < 8; r++) sum += p.bias[g + 16 * r + i];
                p.bs[g / 8 + i] = sum;
            }
    // Q4_K_X8 / Q5_K_X8: the min terms' sub-block sums as int16 pairs in lane order
    // (|bs| <= 32 * 128); bias is free (no code offset)
    int16_t *pair_bs = (int16_t *)p.bias;
    if (wt == TL_Q4_K_X8 || wt == TL_Q5_K_X8)
        for (int64_t g = 0; g < K / X8_ELEMS; g++)
            for (int q = 0; q < 4; q++)
                for (int i = 0; i < X8_BLOCKS; i++)
                    for (int e = 0; e < 2; e++)
                        pair_bs[64 * g + 16 * q + 2 * i + e] = (int16_t)p.bs[8 * (X8_BLOCKS * g + i) + 2 * q + e];
}

static void unpack_column(enum tl_type wt, const void *blocks, int64_t K, uint8_t *mem, struct qcol *c) {
    unpack_blocks(wt, blocks, K, mem);
    finish_column(wt, K, mem);
    const struct planar p = planar_at(mem, K);
    *c = (struct qcol){ blocks, p.qs, p.d, p.sa, p.bs, code_offset(wt) ? p.bias : NULL, p.d4, p.bs, (int16_t *)p.bias };
}

#if VL > 1
// Column c from weight k on, every field moved on by k's share: k a multiple of 32 for a
// partner Q8_0, of 256 for Q8_K, and the start of a kernel group (x16: 512, Q8_0_X8:
// 256, X8: 2048) where the format permutes the activations. It serves a row's tail (the
// file format's kernel takes it) and a panel matrix's chunks.
static inline struct qcol qcol_from(const struct qcol *c, int64_t k, bool q8k) {
    return (struct qcol){ .blocks = q8k ? (const void *)((const block_q8_K *)c->blocks + k / QK_K)
                                        : (const void *)((const block_q8_0 *)c->blocks + k / QK_LEGACY),
                          .qs = c->qs + k, .d = c->d + k / (q8k ? QK_K : QK_LEGACY), .sa = c->sa + k / 32, .bs = c->bs + k / 32,
                          .bias = c->bias ? c->bias + k / 4 : NULL, .d4 = c->d4 + k / 8,
                          .block_bias = c->block_bias + k / 32, .pair_bs = c->pair_bs + k / 32 };
}

#if defined(__AVX512F__)
#include "qrow-avx512.h"
#else
#include "qrow-avx2.h"
#endif
#include "qrow-kx8.h"
#include "qrow-q8x8.h"
#include "qrow-q4r8.h"
#include "qrow-q6r8.h"

ALWAYS_INLINE void row_dispatch(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    switch (t) {
    case TL_Q4_0: row_legacy(TL_Q4_0, w, K, cols, nc, out); break;
    case TL_Q4_0_X16: row_x16(TL_Q4_0, w, K, cols, nc, out); break;
    case TL_Q4_1_X16: row_x16(TL_Q4_1, w, K, cols, nc, out); break;
    case TL_Q4_1: row_legacy(TL_Q4_1, w, K, cols, nc, out); break;
    case TL_Q8_0: row_legacy(TL_Q8_0, w, K, cols, nc, out); break;
    case TL_Q8_0_X8: row_q8_0_x8(w, K, cols, nc, out); break;
    case TL_Q4_K: row_k_asym(TL_Q4_K, w, K, cols, nc, out); break;
    case TL_Q4_K_X8: row_k_x8(TL_Q4_K, w, K, cols, nc, out); break;
    case TL_Q5_K_X8: row_k_x8(TL_Q5_K, w, K, cols, nc, out); break;
    case TL_Q5_K: row_k_asym(TL_Q5_K, w, K, cols, nc, out); break;
    case TL_Q6_K: row_q6_K(w, K, cols, nc, out); break;
    case TL_Q4_K_R8: panel_k_r8(TL_Q4_K, w, K, cols, nc, out); break;
    case TL_Q5_K_R8: panel_k_r8(TL_Q5_K, w, K, cols, nc, out); break;
    case TL_Q8_0_R8: panel_q8_0_r8(w, K, cols, nc, out); break;
    case TL_Q4_0_R8: panel_q4_r8(TL_Q4_0, w, K, cols, nc, out); break;
    case TL_Q4_1_R8: panel_q4_r8(TL_Q4_1, w, K, cols, nc, out); break;
    case TL_Q6_K_R8: panel_q6_K_r8(w, K, cols, nc, out); break;
    default: TL_ASSERT(!"qmatmul: not a block weight type");
    }
}

// One weight row times nc columns, out[c] (a panel layout: a panel of 8 rows, out[8 c + i]),
// specialised per column count so accumulators stay in registers.
static void row_times_columns(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    switch (nc) {
    case 1: row_dispatch(t, w, K, cols, 1, out); break;
    case 2: row_dispatch(t, w, K, cols, 2, out); break;
    case 3: row_dispatch(t, w, K, cols, 3, out); break;
    default: row_dispatch(t, w, K, cols, 4, out); break;
    }
}

// How a panel GEMV's panels split over the threads. Two cores seldom stream DRAM equally
// fast: on the project's host, split evenly, one thread of a 2048 x 11008 4-bit GEMV
// finished 5-8% before the other and waited. So each thread takes panels in proportion
// to its speed on the GEMVs before (panels x K per second, a moving average, at most
// twice or half the mean). Every thread computes the same split from one snapshot of
// the speeds taken before the team starts; which thread does a panel never changes its
// sums.
#define SPLIT_THREADS 64
static struct { double speed; char pad[56]; } thread_speed[SPLIT_THREADS];   // a cache line each

struct panel_split { int n; double speed[SPLIT_THREADS]; };

static void snapshot_speeds(struct panel_split *s, int nth) {
    s->n = nth <= SPLIT_THREADS ? nth : 0;   // more threads: an even split
    for (int i = 0; i < s->n; i++) __atomic_load(&thread_speed[i].speed, &s->speed[i], __ATOMIC_RELAXED);
}

// Panels [*lo, *hi) of P for thread `me` of a team of `team`.
static void panel_range(const struct panel_split *s, int team, int me, int64_t P, int64_t *lo, int64_t *hi) {
    if (team > SPLIT_THREADS) {
        *lo = P * me / team;
        *hi = P * (me + 1) / team;
        return;
    }
    double w[SPLIT_THREADS], mean = 0, total = 0, before = 0;
    const bool measured = team == s->n;   // a smaller team than asked for: an even split
    for (int i = 0; measured && i < team; i++) mean += s->speed[i] / team;
    for (int i = 0; i < team; i++) {   // every thread sums the same weights in the same order
        w[i] = measured && mean > 0 && s->speed[i] > 0 ? TL_MIN(TL_MAX(s->speed[i], 0.5 * mean), 2 * mean) : 1;
        total += w[i];
        if (i < me) before += w[i];
    }
    *lo = (int64_t)(P * before / total + 0.5);
    *hi = me == team - 1 ? P : (int64_t)(P * (before + w[me]) / total + 0.5);
}

static void record_speed(int me, int64_t panels, int64_t K, double seconds) {
    if (me >= SPLIT_THREADS || panels <= 0 || seconds <= 0) return;
    const double now = (double)panels * (double)K / seconds;
    double old, next;
    __atomic_load(&thread_speed[me].speed, &old, __ATOMIC_RELAXED);
    next = old > 0 ? old + 0.25 * (now - old) : now;
    __atomic_store(&thread_speed[me].speed, &next, __ATOMIC_RELAXED);
}

// A panel matrix (blocks.h) of M rows times nb (<= QCB) columns into c: a chunk of every
// panel at a time, so that the chunk's activations stay in the L1, its sums added to the
// chunks' before. Every thread of the team calls it and takes its own range of panels
// (panel_range) for every chunk, so it only ever adds to its own rows and no chunk waits
// for the others.
static void panels_times_columns(enum tl_type t, int64_t M, int64_t K, const uint8_t *a, const struct qcol *cols, int64_t nb,
                                 float *c, size_t ldc, const struct panel_split *split) {
    const bool q8k = tl_type_traits(t)->vec_dot_type == TL_Q8_K;
    const int me = omp_get_thread_num();
    int64_t lo, hi;
    panel_range(split, omp_get_num_threads(), me, M / R8_ROWS, &lo, &hi);
    const double start = omp_get_wtime();
    struct qcol chunk_cols[QCB];
    for (int64_t k0 = 0; k0 < K; k0 += PANEL_CHUNK) {
        const int64_t width = TL_MIN(PANEL_CHUNK, K - k0);
        for (int64_t j = 0; j < nb; j++) chunk_cols[j] = qcol_from(&cols[j], k0, q8k);
        for (int64_t p = lo; p < hi; p++) {
            const uint8_t *w = a + panel_chunk_offset(t, M, K, p, k0);
            float out[R8_ROWS * QNC];   // [column][row of the panel]
            for (int64_t j = 0; j < nb; j += QNC) {
                const int nc = (int)TL_MIN(QNC, nb - j);
                row_times_columns(t, w, width, chunk_cols + j, nc, out);
                for (int q = 0; q < nc; q++) {
                    float *dst = c + (j + q) * ldc + R8_ROWS * p;
                    for (int i = 0; i < R8_ROWS; i++) dst[i] = (k0 ? dst[i] : 0.0f) + out[R8_ROWS * q + i];
                }
            }
        }
    }
    record_speed(me, hi - lo, K, omp_get_wtime() - start);
}
#else
// The scalar build: the reference dot, threaded.
static void row_times_columns(enum tl_type t, const uint8_t *w, int64_t K, const struct qcol *cols, int nc, float *out) {
    for (int c = 0; c < nc; c++) out[c] = tl_type_traits(t)->vec_dot(K, w, cols[c].blocks);
}

// A panel matrix's rows put back in the file format's order, a panel at a time, and dotted
// whole, so the sums are the reference's bit for bit.
struct panel_split { int unused; };
static void snapshot_speeds(struct panel_split *s, int nth) { (void)s, (void)nth; }

static void panels_times_columns(enum tl_type t, int64_t M, int64_t K, const uint8_t *a, const struct qcol *cols, int64_t nb,
                                 float *c, size_t ldc, const struct panel_split *split) {
    (void)split;
    const enum tl_type file = tl_type_file_format(t);
    const size_t row = tl_row_size(file, K);
    uint8_t *rows = malloc(R8_ROWS * row);
    TL_ASSERT(rows);
    #pragma omp for schedule(static)
    for (int64_t p = 0; p < M / R8_ROWS; p++) {
        cpu_panel_rows(file, a, M, K, p, rows);
        for (int64_t j = 0; j < nb; j++)
            for (int i = 0; i < R8_ROWS; i++)
                c[j * ldc + R8_ROWS * p + i] = tl_type_traits(file)->vec_dot(K, rows + i * row, cols[j].blocks);
    }
    free(rows);
}
#endif

// C[n][m] = A[m] . B[n] for M block-format rows (stride lda) and N f32 columns.
static void qgemm(enum tl_type t, int64_t M, int64_t N, int64_t K, const uint8_t *a, size_t lda, const float *b,
                  size_t ldb, float *c, size_t ldc, int nth) {
    if (N >= QPANEL_MIN_N && ISA_FN(tl_cpu_qgemm_panel)(t, M, N, K, a, lda, b, ldb, c, ldc, nth)) return;
    enum tl_type vt = tl_type_traits(t)->vec_dot_type;
    size_t qrow = (tl_row_size(vt, K) + 63) / 64 * 64;
    size_t prow = (planar_bytes(K) + 63) / 64 * 64;
    // One column (SIMD builds): every thread quantizes and unpacks all of it into its own
    // buffer, with no barrier before the rows. Made once and shared, its cache lines move
    // from core to core at every GEMV, which is slow where the cores share no cache (on
    // this project's Zen 4 host whenever its DRAM reads fast: a 340 ns round trip, not
    // 50). There, a 2048 x 11008 4-bit GEMV read 0.81x of the DRAM bandwidth with one
    // thread unpacking for all, 0.87x with the threads sharing the work, 0.88x so.
    const bool own_column = N == 1 && VL > 1;
    const int64_t copies = own_column ? nth : N;
    uint8_t *blocks = aligned_alloc(64, qrow * copies);
    uint8_t *planar = aligned_alloc(64, VL > 1 ? prow * copies : 64);
    struct qcol *cols = malloc(copies * sizeof *cols);
    TL_ASSERT(blocks && planar && cols);
    struct panel_split split;
    snapshot_speeds(&split, nth);
    #pragma omp parallel num_threads(nth)
    {
        const struct qcol *use = cols;
        if (own_column) {
            const int me = omp_get_thread_num();
            ISA_FN(tl_cpu_quantize_activations)(vt, b, blocks + me * qrow, K);
            unpack_column(t, blocks + me * qrow, K, planar + me * prow, &cols[me]);
            use = &cols[me];
        } else {
            #pragma omp for schedule(static)
            for (int64_t n = 0; n < N; n++)
                ISA_FN(tl_cpu_quantize_activations)(vt, b + n * ldb, blocks + n * qrow, K);
            #pragma omp for schedule(static)
            for (int64_t n = 0; n < N; n++) {
                if (VL > 1) unpack_column(t, blocks + n * qrow, K, planar + n * prow, &cols[n]);   // SIMD builds only
                else cols[n] = (struct qcol){ .blocks = blocks + n * qrow };
            }
        }
        // rows in contiguous ranges per thread (a panel matrix: its own order, above);
        // columns in blocks of QCB, QNC at a time
        for (int64_t n0 = 0; n0 < N; n0 += QCB) {
            int64_t nb = TL_MIN(QCB, N - n0);
            if (tl_type_traits(t)->panel_rows) {
                panels_times_columns(t, M, K, a, use + n0, nb, c + n0 * ldc, ldc, &split);
                continue;
            }
            #pragma omp for schedule(static)
            for (int64_t m = 0; m < M; m++) {
                float out[QNC];
                for (int64_t j = 0; j < nb; j += QNC) {
                    int nc = (int)TL_MIN(QNC, nb - j);
                    row_times_columns(t, a + m * lda, K, use + n0 + j, nc, out);
                    for (int q = 0; q < nc; q++) c[(n0 + j + q) * ldc + m] = out[q];
                }
            }
        }
    }
    free(cols);
    free(planar);
    free(blocks);
}

bool ISA_FN(tl_cpu_mul_mat_quantized)(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    if (b->nb[0] != sizeof(float) || dst->nb[0] != sizeof(float)) return false;
    if (b->nb[1] % sizeof(float) || dst->nb[1] % sizeof(float)) return false;
    int64_t M = a->ne[1], N = b->ne[1], K = a->ne[0];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++) {
            const uint8_t *pa = tl_elem_ptr(a, 0, 0, i2 / (b->ne[2] / a->ne[2]), i3 / (b->ne[3] / a->ne[3]));
            qgemm(a->type, M, N, K, pa, a->nb[1], tl_elem_ptr(b, 0, 0, i2, i3), b->nb[1] / 4, tl_elem_ptr(dst, 0, 0, i2, i3),
                  dst->nb[1] / 4, nth);
        }
    return true;
}
