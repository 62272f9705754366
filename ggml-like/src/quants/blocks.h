// The block formats, laid out byte for byte as in GGUF files (ggml-common.h): a block is
// a fixed-size group of weights sharing scales. All fields are little-endian; fp16
// scales are stored as raw IEEE half bits.
//
//   Q8_0  32 weights: d (f16), qs[32] int8               w = d * q
//   Q4_0  32 weights: d (f16), qs[16] two 4-bit per byte w = d * (q - 8)
//   Q4_1  32 weights: d, m (f16), qs[16]                 w = d * q + m
//   Q4_K 256 weights in 8 sub-blocks of 32: d, dmin (f16), 12 bytes of 6-bit scale and
//        min per sub-block, qs[128]                      w = d*sc[j]*q - dmin*m[j]
//   Q5_K as Q4_K plus qh[32], the fifth bit of each q
//   Q6_K 256 weights in 16 sub-blocks of 16: ql[128] low 4 bits, qh[64] high 2 bits,
//        scales[16] int8, d (f16)                        w = d*sc[j]*(q - 32)
//   Q8_K 256 activations: d (f32), qs[256] int8, bsums[16] sums of 16 qs (dot partner of
//        the K formats; never stored in files)
//
// Nibble order: in Q4_0/Q4_1 byte j holds element j (low nibble) and j+16 (high). In the
// K formats each 64-element chunk takes 32 bytes: element l low, element l+32 high.
#pragma once

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define QK_LEGACY 32   // Q4_0, Q4_1, Q8_0
#define QK_K 256       // K formats

typedef struct { uint16_t d; uint8_t qs[QK_LEGACY / 2]; } block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK_LEGACY / 2]; } block_q4_1;
typedef struct { uint16_t d; int8_t qs[QK_LEGACY]; } block_q8_0;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_K;
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

static_assert(sizeof(block_q4_0) == 18, "q4_0 block");
static_assert(sizeof(block_q4_1) == 20, "q4_1 block");
static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
static_assert(sizeof(block_q4_K) == 144, "q4_K block");
static_assert(sizeof(block_q5_K) == 176, "q5_K block");
static_assert(sizeof(block_q6_K) == 210, "q6_K block");
static_assert(sizeof(block_q8_K) == 292, "q8_K block");

// Q4_0_X16 and Q4_1_X16, libtl's own CPU layouts of Q4_0 and Q4_1 rows (never in a file):
// each run of 16 blocks (512 weights) becomes a group of their 16 fp16 scales (Q4_1: then
// their 16 fp16 mins), then 4 chunks of 64 code bytes; chunk c holds bytes 4c..4c+3 of
// block i at bytes 4i..4i+3. One 64-byte load thus gives a 16-lane register whose lane i
// belongs to block i alone, so a dot instruction's int32 lanes are per-block sums and the
// scales apply lane by lane, with no shuffling in the one-token kernels. A row of K
// weights holds K / 512 groups; its last K % 512 weights stay blocks of the file format
// (the tail), so any K of at least 512 works. `nf` is the number of fp16 fields a block
// has before its codes: 1 (Q4_0: d) or 2 (Q4_1: d, m); a group is 16 blocks' bytes.
#define X16_BLOCKS 16
#define X16_ELEMS (X16_BLOCKS * QK_LEGACY)
#define X16_FIELD_BYTES (2 * X16_BLOCKS)   // one fp16 field of the 16 blocks
static inline int x16_block_bytes(int nf) { return 2 * nf + QK_LEGACY / 2; }
static inline int x16_group_bytes(int nf) { return X16_BLOCKS * x16_block_bytes(nf); }
static inline int x16_codes_at(int nf) { return nf * X16_FIELD_BYTES; }
// Where fp16 field f (0: d, 1: m) and code byte j (< 16) of block i sit in its group.
static inline int x16_field_offset(int f, int i) { return X16_FIELD_BYTES * f + 2 * i; }
static inline int x16_code_offset(int nf, int i, int j) { return x16_codes_at(nf) + 64 * (j / 4) + 4 * i + j % 4; }
// The weights of a row of K in whole groups; the rest are the tail's blocks.
static inline int64_t x16_grouped(int64_t K) { return K / X16_ELEMS * X16_ELEMS; }

// Q4_K_X8 and Q5_K_X8, libtl's own CPU layouts of Q4_K and Q5_K rows (never in a file):
// each run of 8 blocks (2048 weights) becomes a group of their 8 d, their 8 dmin, their
// 12 scale bytes transposed (byte k of block i at 8k + i: row k holds that byte of all 8
// blocks, so the 6-bit scales and mins unpack for 8 blocks at once), Q5_K then their
// fifth bits (dword w of block i's qh at 32w + 4i), then their codes: dword w (bytes
// 4w..4w+3) of 32-byte chunk c of block i at 256c + 32w + 4i (Q5_K's qh and codes in
// their recoded form, q5_K_recode below). A 32-byte load thus gives
// an 8-lane register whose lane i belongs to block i alone, and a sub-block's scales
// multiply it lane by lane. A row of K weights holds K / 2048 groups; its last K % 2048
// weights stay blocks of the file format (the tail), so any K of at least 2048 works.
// `q5`: the Q5_K layout; a group is 8 blocks' bytes.
#define X8_BLOCKS 8
#define X8_ELEMS (X8_BLOCKS * QK_K)
#define X8_SCALES_AT 32                          // after the 8 d and the 8 dmin
#define X8_QH_AT (X8_SCALES_AT + 12 * X8_BLOCKS)   // Q5_K's qh dwords (recoded: byte 0 of each position)
static inline int x8_block_bytes(bool q5) { return q5 ? (int)sizeof(block_q5_K) : (int)sizeof(block_q4_K); }
static inline int x8_group_bytes(bool q5) { return X8_BLOCKS * x8_block_bytes(q5); }
static inline int x8_codes_at(bool q5) { return X8_QH_AT + (q5 ? X8_BLOCKS * QK_K / 8 : 0); }
// Where byte k of block i, in GGUF's layout, sits in its group. After the 16 bytes of d,
// dmin and scales, both formats' bytes go in 32-byte chunks a dword per block: Q5_K's
// qh is simply one chunk more before the codes, so one formula serves both.
static inline int x8_offset(int i, int k) {
    if (k < 4) return 16 * (k / 2) + 2 * i + k % 2;              // d, dmin
    if (k < 16) return X8_SCALES_AT + X8_BLOCKS * (k - 4) + i;   // scale bytes
    const int q = k - 16;                                        // qh (Q5_K) and code bytes
    return X8_QH_AT + 256 * (q / 32) + 32 * (q % 32 / 4) + 4 * i + q % 4;
}
static inline int64_t x8_grouped(int64_t K) { return K / X8_ELEMS * X8_ELEMS; }
// Q5_K_X8 (and so Q5_K_R8) also recodes each block's 160 code bytes before the regroup.
// At each position e (< 32) of a sub-block, GGUF keeps the 8 sub-blocks' 5-bit codes q_j
// in five bytes: q_j = the low (j even) or high nibble of qs[32 (j / 2) + e], plus bit j
// of qh[e] as its bit 4. The CPU layout keeps the same five bytes (byte 0 in qh[e]'s place,
// byte 1 + c in qs[32 c + e]'s) but puts q_j whole in bits 0-4 of byte j for j < 5 and
// spreads q_5..q_7 over the 15 bits above: bits 5-7 of bytes 0, 2 and 4 hold bits 0-2 of
// q_5, q_6 and q_7; bits 5-6 of bytes 1 and 3 bits 3-4 of q_5 and q_6; bit 7 of bytes 1
// and 3 bits 3 and 4 of q_7. Five sub-blocks' codes then take one AND a register, the
// other three two or three shift-AND pairs, where GGUF's order takes a shift, two ANDs
// and an OR for every sub-block (AVX2 on Zen 4, one thread from L2: 28 -> 35 GB/s).
static inline void q5_K_recode(uint8_t *block, bool to_cpu) {
    uint8_t *qh = block + offsetof(block_q5_K, qh), *qs = block + offsetof(block_q5_K, qs);
    uint8_t in[5][32], out[5][32];   // byte m of position e: qh[e] (m = 0), qs[32 (m - 1) + e]
    memcpy(in[0], qh, 32);
    memcpy(in[1], qs, 4 * 32);
    // 8-bit arithmetic on whole rows of 32 bytes, a loop per direction, so both vectorize
    if (to_cpu)   // q_j = nibble j % 2 of byte 1 + j / 2, plus bit j of byte 0 as bit 4
        for (int e = 0; e < 32; e++) {
            const uint8_t b0 = in[0][e], b1 = in[1][e], b2 = in[2][e], b3 = in[3][e], b4 = in[4][e];
            const uint8_t q5 = (uint8_t)((b3 >> 4) | (b0 >> 5 & 1) << 4), q6 = (uint8_t)((b4 & 15) | (b0 >> 6 & 1) << 4),
                          q7 = (uint8_t)((b4 >> 4) | (b0 >> 7) << 4);
            out[0][e] = (uint8_t)((b1 & 15) | (b0 & 1) << 4 | (q5 & 7) << 5);
            out[1][e] = (uint8_t)((b1 >> 4) | (b0 >> 1 & 1) << 4 | (q5 >> 3) << 5 | (q7 >> 3 & 1) << 7);
            out[2][e] = (uint8_t)((b2 & 15) | (b0 >> 2 & 1) << 4 | (q6 & 7) << 5);
            out[3][e] = (uint8_t)((b2 >> 4) | (b0 >> 3 & 1) << 4 | (q6 >> 3) << 5 | (q7 >> 4) << 7);
            out[4][e] = (uint8_t)((b3 & 15) | (b0 >> 4 & 1) << 4 | (q7 & 7) << 5);
        }
    else   // q_j = bits 0-4 of byte j (j < 5); q_5, q_6, q_7 from the bits above
        for (int e = 0; e < 32; e++) {
            const uint8_t b0 = in[0][e], b1 = in[1][e], b2 = in[2][e], b3 = in[3][e], b4 = in[4][e];
            const uint8_t q5 = (uint8_t)(b0 >> 5 | (b1 >> 5 & 3) << 3), q6 = (uint8_t)(b2 >> 5 | (b3 >> 5 & 3) << 3),
                          q7 = (uint8_t)(b4 >> 5 | (b1 >> 7) << 3 | (b3 >> 7) << 4);
            out[0][e] = (uint8_t)((b0 >> 4 & 1) | (b1 >> 4 & 1) << 1 | (b2 >> 4 & 1) << 2 | (b3 >> 4 & 1) << 3 |
                                  (b4 >> 4 & 1) << 4 | (q5 >> 4) << 5 | (q6 >> 4) << 6 | (q7 >> 4) << 7);
            out[1][e] = (uint8_t)((b0 & 15) | (b1 & 15) << 4);
            out[2][e] = (uint8_t)((b2 & 15) | (b3 & 15) << 4);
            out[3][e] = (uint8_t)((b4 & 15) | (q5 & 15) << 4);
            out[4][e] = (uint8_t)((q6 & 15) | (q7 & 15) << 4);
        }
    memcpy(qh, out[0], 32);
    memcpy(qs, out[1], 4 * 32);
}

// Q4_K_R8 and Q5_K_R8, libtl's own CPU layouts of whole Q4_K and Q5_K matrices whose
// row count is a multiple of 8 (never in a file): the rows go in panels of 8, and block b
// of a panel's 8 rows becomes one group laid out as a Q4_K_X8 / Q5_K_X8 group (x8_offset)
// with row i of the panel in place of block i, so lane i of a 32-byte register belongs to
// row i, and the one-token kernel dots 8 rows at once against broadcast activations with
// no horizontal sums. No row length leaves a tail, but no row is contiguous any more:
// these are multiplied by whole matrices only.
// The matrix is stored a chunk of PANEL_CHUNK weights per row at a time: the groups of
// chunk 0 of every panel (panel by panel, in block order), then those of chunk 1, ... (the
// last chunk takes what is left of the row). A one-token GEMV then takes one chunk over
// all its panels before the next, so the chunk's activations (2 KiB of int8) stay in the
// L1 beside the weight stream, and each thread still reads one long run of bytes per chunk.
// Panel by panel over whole rows, a row of 18944 activations fell out of the L1 and Q4_0
// read 0.70x of the DRAM bandwidth on Zen 4; a chunk at a time, 0.92x. Rows of at most
// PANEL_CHUNK weights are one chunk: each panel's groups are then contiguous.
// Q8_0_R8 does the same for Q8_0 matrices with the Q8_0_X8 group (q8x8_offset, below):
// block b of a panel's 8 rows is one group of 8 d and 8 code chunks, row i in lane i.
// Q4_0_R8 and Q4_1_R8 do it for Q4_0 and Q4_1 matrices with a group of block b of the 8
// rows: their 8 fp16 d (Q4_1: then their 8 fp16 m), then 4 chunks of 32 code bytes; chunk
// c holds bytes 4c..4c+3 of row i at 4i (nf: the fp16 fields of a block, as for X16).
#define R8_ROWS 8
#define PANEL_CHUNK 2048   // a multiple of every block size
// Byte offset of panel p's chunk from weight k0 (a multiple of PANEL_CHUNK) in a panel
// matrix of M rows of K weights, in blocks of block_elems weights and block_bytes bytes.
// The chunk itself is laid out as a single-chunk matrix of its width would be.
static inline size_t panel_chunk_at(int64_t M, int64_t K, int64_t p, int64_t k0, int block_elems, size_t block_bytes) {
    const int64_t width = K - k0 < PANEL_CHUNK ? K - k0 : PANEL_CHUNK;
    return ((size_t)M * (size_t)k0 + (size_t)(R8_ROWS * p) * (size_t)width) / (size_t)block_elems * block_bytes;
}
static inline int q4r8_codes_at(int nf) { return 2 * R8_ROWS * nf; }
static inline int q4r8_group_bytes(int nf) { return R8_ROWS * x16_block_bytes(nf); }
// Where byte k of row i's block, in GGUF's layout, sits in its group.
static inline int q4r8_offset(int nf, int i, int k) {
    if (k < 2 * nf) return 2 * R8_ROWS * (k / 2) + 2 * i + k % 2;
    const int q = k - 2 * nf;
    return q4r8_codes_at(nf) + 32 * (q / 4) + 4 * i + q % 4;
}
// Q6_K_R8 likewise for Q6_K matrices: a group is block b of the 8 rows: their 8 fp16 d,
// their 16 scale bytes transposed (scale k of row i at 8k + i), then 16 triples of 32-byte
// chunks, one a row per dword: triple t = 8h + m (h: the 128-weight half of the block, m
// < 8) holds ql dwords 16h + m and 16h + m + 8 and qh dword 8h + m, which together give
// the codes of weights 128h + 32j + 4m .. +3 for j = 0..3. The kernel reads the triples in
// order: one stream, as the hardware prefetcher likes it (three interleaved ones, ql and
// qh apart, ran at a quarter of the DRAM read).
#define Q6R8_SCALES_AT (2 * R8_ROWS)
#define Q6R8_TRIPLES_AT (Q6R8_SCALES_AT + R8_ROWS * QK_K / 16)
#define Q6R8_TRIPLE_BYTES (3 * 4 * R8_ROWS)
#define Q6R8_GROUP_BYTES (R8_ROWS * (int)sizeof(block_q6_K))
static inline int q6r8_offset(int i, int k) {   // GGUF's block: ql[128], qh[64], scales[16], d
    if (k >= 208) return 2 * i + k - 208;
    if (k >= 192) return Q6R8_SCALES_AT + R8_ROWS * (k - 192) + i;
    int t, part;   // triple, and chunk in it
    if (k < 128) t = 8 * (k / 64) + k / 4 % 8, part = k / 32 % 2;   // ql dword k / 4 = 16h + 8 part + m
    else t = (k - 128) / 4, part = 2;                                // qh dword 8h + m
    return Q6R8_TRIPLES_AT + Q6R8_TRIPLE_BYTES * t + 32 * part + 4 * i + k % 4;
}

// Q8_0_X8, libtl's own CPU layout of Q8_0 rows (never in a file): each run of 8 blocks
// (256 weights) becomes a group of their 8 d, then 8 chunks of 32 code bytes: chunk r
// holds bytes 4r..4r+3 of block i at 4i. A 32-byte load thus gives an 8-lane register
// whose lane i belongs to block i alone, so the 8 blocks' integer sums build up lane by
// lane and one multiply scales all 8. A row of K weights holds K / 256 groups; its last
// K % 256 weights stay blocks of the file format (the tail), so any K of at least 256
// works. A group is 8 blocks' bytes.
#define Q8X8_BLOCKS 8
#define Q8X8_ELEMS (Q8X8_BLOCKS * QK_LEGACY)
#define Q8X8_CODES_AT (2 * Q8X8_BLOCKS)   // after the 8 d
#define Q8X8_GROUP_BYTES (Q8X8_BLOCKS * (int)sizeof(block_q8_0))
// Where byte k of block i, in GGUF's layout, sits in its group.
static inline int q8x8_offset(int i, int k) {
    if (k < 2) return 2 * i + k;   // d
    const int q = k - 2;
    return Q8X8_CODES_AT + 32 * (q / 4) + 4 * i + q % 4;
}
static inline int64_t q8x8_grouped(int64_t K) { return K / Q8X8_ELEMS * Q8X8_ELEMS; }

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block: sub-blocks 0-3 keep
// them in the low 6 bits of bytes j and j+4; 4-7 keep the low 4 bits in byte j+4 and the
// top 2 bits in the spare high bits of bytes j-4 (scale) and j (min).
static inline void k_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}
