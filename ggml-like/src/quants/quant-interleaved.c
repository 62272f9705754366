// The CPU layouts (blocks.h): Q4_0_X16 and Q4_1_X16, Q4_K_X8, Q5_K_X8 and Q8_0_X8, a file format's
// blocks regrouped for the CPU's one-token kernels. The bytes are a permutation of the
// file format's (Q5_K's, after each block's code bytes are recoded: a permutation of its
// bits), so every value here is computed by way of that format's own reference
// functions: converting back and forth is lossless, and the dot is the file format's
// reference dot, bit for bit. Functions taking n weights take one row (or rows whose
// length is a multiple of the group's): the tail's place depends on the row length.
#include "tl-impl.h"
#include "quants.h"

// A layout as the walkers below see it: groups of `blocks` file blocks of `elems`
// weights and `bytes` bytes, byte k of block i at offset(param, i, k) of its group, after
// `recode` (NULL: none) has rewritten the block's bytes in place (to_cpu), or before it
// rewrites them back; the file format's reference dequantizer and dot (whose partner
// blocks are partner_bytes).
struct layout {
    int blocks, elems, bytes, param;
    int (*offset)(int param, int i, int k);
    void (*recode)(uint8_t *block, bool to_cpu);
    tl_to_float_fn to_float;
    float (*dot)(int64_t n, const void *x, const void *y);
    size_t partner_bytes;
};

// X16: param = nf, the block's fp16 fields before its 16 code bytes.
static int x16_offset(int nf, int i, int k) {
    return k < 2 * nf ? x16_field_offset(k / 2, i) + k % 2 : x16_code_offset(nf, i, k - 2 * nf);
}
static int x8_offset_of(int unused, int i, int k) { (void)unused; return x8_offset(i, k); }
static int q8x8_offset_of(int unused, int i, int k) { (void)unused; return q8x8_offset(i, k); }
static int q6r8_offset_of(int unused, int i, int k) { (void)unused; return q6r8_offset(i, k); }

static const struct layout q4_0_x16 = { X16_BLOCKS, QK_LEGACY, sizeof(block_q4_0), 1, x16_offset, NULL,
                                        dequantize_q4_0, vec_dot_q4_0_q8_0, sizeof(block_q8_0) };
static const struct layout q4_1_x16 = { X16_BLOCKS, QK_LEGACY, sizeof(block_q4_1), 2, x16_offset, NULL,
                                        dequantize_q4_1, vec_dot_q4_1_q8_0, sizeof(block_q8_0) };
static const struct layout q4_K_x8 = { X8_BLOCKS, QK_K, sizeof(block_q4_K), 0, x8_offset_of, NULL,
                                       dequantize_q4_K, vec_dot_q4_K_q8_K, sizeof(block_q8_K) };
static const struct layout q5_K_x8 = { X8_BLOCKS, QK_K, sizeof(block_q5_K), 0, x8_offset_of, q5_K_recode,
                                       dequantize_q5_K, vec_dot_q5_K_q8_K, sizeof(block_q8_K) };
static const struct layout q8_0_x8 = { Q8X8_BLOCKS, QK_LEGACY, sizeof(block_q8_0), 0, q8x8_offset_of, NULL,
                                       dequantize_q8_0, vec_dot_q8_0_q8_0, sizeof(block_q8_0) };
// Q4_0_R8 / Q4_1_R8's group, with block i standing for row i (param = nf, as for X16)
static const struct layout q4_0_r8 = { R8_ROWS, QK_LEGACY, sizeof(block_q4_0), 1, q4r8_offset, NULL,
                                       dequantize_q4_0, vec_dot_q4_0_q8_0, sizeof(block_q8_0) };
static const struct layout q4_1_r8 = { R8_ROWS, QK_LEGACY, sizeof(block_q4_1), 2, q4r8_offset, NULL,
                                       dequantize_q4_1, vec_dot_q4_1_q8_0, sizeof(block_q8_0) };
static const struct layout q6_K_r8 = { R8_ROWS, QK_K, sizeof(block_q6_K), 0, q6r8_offset_of, NULL,
                                       dequantize_q6_K, vec_dot_q6_K_q8_K, sizeof(block_q8_K) };

// Where byte j of a group's file blocks (block j / bytes, its byte j % bytes) sits in the
// CPU layout's group: the layout's offset function tabulated once, so that converting a
// model's weights is a table-driven gather (~3x faster than calling it per byte).
#define MAX_GROUP_BYTES Q6R8_GROUP_BYTES   // the largest group
#define MAX_BLOCK_BYTES ((int)sizeof(block_q6_K))
struct group_map {
    uint16_t at[MAX_GROUP_BYTES];
};
static void group_map_of(const struct layout *L, struct group_map *m) {
    TL_ASSERT(L->blocks * L->bytes <= MAX_GROUP_BYTES);
    for (int i = 0; i < L->blocks; i++)
        for (int k = 0; k < L->bytes; k++) m->at[L->bytes * i + k] = (uint16_t)L->offset(L->param, i, k);
}

// One row of n weights: each group's bytes to or from the file blocks' order (one walk
// serves both directions); the tail's blocks are the same bytes in both layouts.
static void regroup_row(const struct layout *L, const struct group_map *m, const uint8_t *src, uint8_t *dst, int64_t n,
                        bool to_cpu) {
    const int64_t group_elems = (int64_t)L->blocks * L->elems, groups = n / group_elems;
    const int group_bytes = L->blocks * L->bytes;
    uint8_t recoded[MAX_GROUP_BYTES];
    for (int64_t g = 0; g < groups; g++, src += group_bytes, dst += group_bytes)
        if (to_cpu) {
            const uint8_t *from = src;
            if (L->recode) {
                memcpy(recoded, src, (size_t)group_bytes);
                for (int i = 0; i < L->blocks; i++) L->recode(recoded + i * L->bytes, true);
                from = recoded;
            }
            for (int j = 0; j < group_bytes; j++) dst[m->at[j]] = from[j];
        } else {
            for (int j = 0; j < group_bytes; j++) dst[j] = src[m->at[j]];
            if (L->recode)
                for (int i = 0; i < L->blocks; i++) L->recode(dst + i * L->bytes, false);
        }
    memcpy(dst, src, (size_t)((n - groups * group_elems) / L->elems) * L->bytes);
}

void cpu_layout_regroup(enum tl_type file, const void *src, void *dst, int64_t n, int64_t ne0, bool to_cpu) {
    const struct layout *L = file == TL_Q4_0 ? &q4_0_x16 : file == TL_Q4_1 ? &q4_1_x16 : file == TL_Q4_K ? &q4_K_x8
                           : file == TL_Q5_K ? &q5_K_x8 : &q8_0_x8;
    TL_ASSERT(ne0 > 0 && ne0 % L->elems == 0 && n % ne0 == 0);
    const size_t row = (size_t)(ne0 / L->elems) * L->bytes;
    struct group_map m;
    group_map_of(L, &m);
    for (int64_t r = 0; r < n / ne0; r++) regroup_row(L, &m, (const uint8_t *)src + r * row, (uint8_t *)dst + r * row, ne0, to_cpu);
}

// The R8 layouts: group b of a panel holds block b of its 8 rows, row i where the
// matching X8 layout keeps block i (x8_offset, q8x8_offset; Q4_0, Q4_1 and Q6_K have a
// group of their own), so the same tables serve; the groups go a chunk of every panel at
// a time (blocks.h).
static const struct layout *panel_layout(enum tl_type file) {
    const struct layout *L = file == TL_Q4_K ? &q4_K_x8 : file == TL_Q5_K ? &q5_K_x8 : file == TL_Q8_0 ? &q8_0_x8
                           : file == TL_Q4_0 ? &q4_0_r8 : file == TL_Q4_1 ? &q4_1_r8 : file == TL_Q6_K ? &q6_K_r8 : NULL;
    TL_ASSERT(L && L->blocks == R8_ROWS && "a format without a panel layout");
    return L;
}

// Panel p of a matrix of M rows of ne0 weights, between its 8 rows in the file's order
// (rows) and its groups in the matrix.
static void regroup_panel(const struct layout *L, const struct group_map *m, enum tl_type file, const uint8_t *src,
                          uint8_t *dst, int64_t M, int64_t ne0, int64_t p, bool to_cpu) {
    const size_t row = (size_t)(ne0 / L->elems) * L->bytes, group_bytes = (size_t)R8_ROWS * L->bytes;
    uint8_t block[MAX_BLOCK_BYTES];
    for (int64_t b = 0; b < ne0 / L->elems; b++) {
        const int64_t k0 = b * L->elems / PANEL_CHUNK * PANEL_CHUNK;
        const size_t group = panel_chunk_offset(file, M, ne0, p, k0) + (size_t)(b - k0 / L->elems) * group_bytes;
        for (int i = 0; i < R8_ROWS; i++) {
            const uint8_t *at = to_cpu ? src + i * row + b * L->bytes : src + group;   // the block to move
            if (to_cpu && L->recode) {
                memcpy(block, at, (size_t)L->bytes);
                L->recode(block, true);
                at = block;
            }
            uint8_t *to = to_cpu ? dst + group : dst + i * row + b * L->bytes;
            for (int k = 0; k < L->bytes; k++)
                if (to_cpu) to[m->at[L->bytes * i + k]] = at[k];
                else to[k] = at[m->at[L->bytes * i + k]];
            if (!to_cpu && L->recode) L->recode(to, false);
        }
    }
}

void cpu_panels_regroup(enum tl_type file, const void *src, void *dst, int64_t n, int64_t ne0, bool to_cpu) {
    const struct layout *L = panel_layout(file);
    TL_ASSERT(ne0 > 0 && ne0 % L->elems == 0 && n % (R8_ROWS * ne0) == 0);
    struct group_map m;
    group_map_of(L, &m);
    const int64_t M = n / ne0;
    const size_t panel_rows_bytes = (size_t)R8_ROWS * (size_t)(ne0 / L->elems) * L->bytes;
    for (int64_t p = 0; p < M / R8_ROWS; p++) {
        if (to_cpu) regroup_panel(L, &m, file, (const uint8_t *)src + p * panel_rows_bytes, dst, M, ne0, p, true);
        else regroup_panel(L, &m, file, src, (uint8_t *)dst + p * panel_rows_bytes, M, ne0, p, false);
    }
}

void cpu_panel_rows(enum tl_type file, const void *matrix, int64_t M, int64_t ne0, int64_t p, void *rows) {
    const struct layout *L = panel_layout(file);
    struct group_map m;
    group_map_of(L, &m);
    regroup_panel(L, &m, file, matrix, rows, M, ne0, p, false);
}

// A group at a time back to file blocks, then the file format's dequantizer.
static void dequantize_layout(const struct layout *L, const void *x, float *y, int64_t n) {
    uint8_t tmp[MAX_GROUP_BYTES];
    struct group_map m;
    group_map_of(L, &m);
    const int64_t group_elems = (int64_t)L->blocks * L->elems, groups = n / group_elems;
    const size_t group_bytes = (size_t)L->blocks * L->bytes;
    for (int64_t g = 0; g < groups; g++) {
        regroup_row(L, &m, (const uint8_t *)x + g * group_bytes, tmp, group_elems, false);
        L->to_float(tmp, y + g * group_elems, group_elems);
    }
    L->to_float((const uint8_t *)x + groups * group_bytes, y + groups * group_elems, n - groups * group_elems);
}

// The file format's reference dot, block by block, adding the block terms in the same
// order as it does.
static float vec_dot_layout(const struct layout *L, int64_t n, const void *x, const void *y) {
    uint8_t tmp[MAX_GROUP_BYTES];
    struct group_map m;
    group_map_of(L, &m);
    const int64_t group_elems = (int64_t)L->blocks * L->elems, groups = n / group_elems;
    const size_t group_bytes = (size_t)L->blocks * L->bytes;
    const uint8_t *a = y;
    float s = 0;
    for (int64_t b = 0; b < n / L->elems; b++) {   // block b: in a regrouped group, or the tail's
        const int64_t g = b / L->blocks;
        const uint8_t *blk;
        if (g < groups) {
            if (b % L->blocks == 0) regroup_row(L, &m, (const uint8_t *)x + g * group_bytes, tmp, group_elems, false);
            blk = tmp + (b % L->blocks) * L->bytes;
        } else {
            blk = (const uint8_t *)x + groups * group_bytes + (b - groups * L->blocks) * L->bytes;
        }
        s += L->dot(L->elems, blk, a + b * L->partner_bytes);
    }
    return s;
}

void dequantize_q4_0_x16(const void *x, float *y, int64_t n) { dequantize_layout(&q4_0_x16, x, y, n); }
void dequantize_q4_1_x16(const void *x, float *y, int64_t n) { dequantize_layout(&q4_1_x16, x, y, n); }
void dequantize_q4_K_x8(const void *x, float *y, int64_t n) { dequantize_layout(&q4_K_x8, x, y, n); }
void dequantize_q5_K_x8(const void *x, float *y, int64_t n) { dequantize_layout(&q5_K_x8, x, y, n); }
void dequantize_q8_0_x8(const void *x, float *y, int64_t n) { dequantize_layout(&q8_0_x8, x, y, n); }
float vec_dot_q4_0_x16_q8_0(int64_t n, const void *x, const void *y) { return vec_dot_layout(&q4_0_x16, n, x, y); }
float vec_dot_q4_1_x16_q8_0(int64_t n, const void *x, const void *y) { return vec_dot_layout(&q4_1_x16, n, x, y); }
float vec_dot_q4_K_x8_q8_K(int64_t n, const void *x, const void *y) { return vec_dot_layout(&q4_K_x8, n, x, y); }
float vec_dot_q5_K_x8_q8_K(int64_t n, const void *x, const void *y) { return vec_dot_layout(&q5_K_x8, n, x, y); }
float vec_dot_q8_0_x8_q8_0(int64_t n, const void *x, const void *y) { return vec_dot_layout(&q8_0_x8, n, x, y); }
