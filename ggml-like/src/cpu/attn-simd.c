// The fused chunked attention, fast path. One task = one batch, one kv head, up to
// QG_MAX blocks of queries; a block's rows are (query, query head of the GQA group) pairs,
// so a packed K/V chunk serves every head that shares it, and every block of the task.
// Per chunk of KCH keys and block:
//   S = Q Kt (register tiles), mask, online softmax (running max m, sum l), O += P V.
// Scratch per thread is O(QG_MAX x rows x D + rows x KCH); no N x N matrix exists anywhere.
#include "cpu-impl.h"
#include "simd.h"
#include "quants/blocks.h"
#include "attn-tiles.h"

#define QG_MAX 8   // query blocks per task, sharing each packed chunk of keys

struct attn_scratch {
    int64_t Rmax, block_floats;   // rows of a block; a block's q, o, m and l
    float *q, *s, *kt, *vc;       // q: the blocks' state, block_floats apart
};

// A q4_0 block's 16 bytes to its 32 values - 8: low nibbles are elements 0-15, high 16-31.
static inline void unpack_q4_0(const uint8_t *qs, int8_t *q) {
#if VL > 1
    __m128i bytes = _mm_loadu_si128((const __m128i *)qs), mask = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    _mm_storeu_si128((__m128i *)q, _mm_sub_epi8(_mm_and_si128(bytes, mask), eight));
    _mm_storeu_si128((__m128i *)(q + 16), _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask), eight));
#else
    for (int j = 0; j < QK_LEGACY / 2; j++) {
        q[j] = (int8_t)((qs[j] & 15) - 8);
        q[j + QK_LEGACY / 2] = (int8_t)((qs[j] >> 4) - 8);
    }
#endif
}

static void load_row_f32(enum tl_type type, const void *src, float *dst, int64_t D) {
    if (type == TL_F32) {
        memcpy(dst, src, D * sizeof(float));
        return;
    }
    if (type == TL_F16) {
        for (int64_t d = 0; d < D; d += VL) vstore(dst + d, vload_f16((const uint16_t *)src + d));
        return;
    }
    // a block-format cache row: D is a multiple of 32 (the text context checks)
    if (type == TL_Q8_0) {
        const block_q8_0 *b = src;
        for (int64_t i = 0; i < D / QK_LEGACY; i++, dst += QK_LEGACY) {
            vf d = vset1(tl_fp16_to_fp32(b[i].d));
            for (int j = 0; j < QK_LEGACY; j += VL) vstore(dst + j, vmul(d, vload_i8(b[i].qs + j)));
        }
        return;
    }
    if (type == TL_Q4_0) {
        const block_q4_0 *b = src;
        int8_t q[QK_LEGACY];
        for (int64_t i = 0; i < D / QK_LEGACY; i++, dst += QK_LEGACY) {
            unpack_q4_0(b[i].qs, q);
            vf d = vset1(tl_fp16_to_fp32(b[i].d));
            for (int j = 0; j < QK_LEGACY; j += VL) vstore(dst + j, vmul(d, vload_i8(q + j)));
        }
        return;
    }
    tl_type_traits(type)->to_float(src, dst, D);
}

// One block of query rows inside a task: its rows are packed once, then every chunk of
// keys that it sees updates its running max, sum and output.
struct query_block {
    int64_t q0, qn, R, Rpad;
    int32_t sqmin, sqmax;   // its segment range (packed sequences)
    float *q, *o, *m, *l;
};

static void block_start(const struct tl_tensor *dst, const struct tl_attn_params *p, int64_t b, int64_t g,
                        struct query_block *qb) {
    const struct tl_tensor *q = dst->src[0];
    const int32_t *sq = dst->src[3] ? dst->src[3]->data : NULL;
    int64_t D = q->ne[0], G = q->ne[2] / dst->src[1]->ne[2];
    for (int64_t r = 0; r < qb->Rpad; r++) {
        float *qr = qb->q + r * D;
        if (r < qb->R) {
            const float *src = tl_elem_ptr(q, 0, qb->q0 + r / G, g * G + r % G, b);
            for (int64_t d = 0; d < D; d++) qr[d] = src[d] * p->scale;
        } else {
            memset(qr, 0, D * sizeof(float));
        }
        memset(qb->o + r * D, 0, D * sizeof(float));
        qb->m[r] = -INFINITY;
        qb->l[r] = 0;
    }
    qb->sqmin = qb->sqmax = 0;
    if (sq) {
        qb->sqmin = qb->sqmax = sq[qb->q0];
        for (int64_t i = qb->q0; i < qb->q0 + qb->qn; i++) {
            qb->sqmin = sq[i] < qb->sqmin ? sq[i] : qb->sqmin;
            qb->sqmax = sq[i] > qb->sqmax ? sq[i] : qb->sqmax;
        }
    }
}

// S = Q Kt for the block's rows, then the online softmax and O += P V, for one packed
// chunk (kt [D][KCH], vc [KCH][D]) of cn keys from c0.
static void block_update(const struct tl_tensor *dst, const struct tl_attn_params *p, int64_t c0, int64_t cn,
                         int vis, const float *kt, const float *vc, float *s_buf, struct query_block *qb) {
    const int32_t *sq = dst->src[3] ? dst->src[3]->data : NULL;
    const int32_t *sk = dst->src[4] ? dst->src[4]->data : NULL;
    int64_t D = dst->src[0]->ne[0], G = dst->src[0]->ne[2] / dst->src[1]->ne[2];
    for (int64_t r0 = 0; r0 < qb->Rpad; r0 += RB)
        for (int64_t cc = 0; cc < KCH; cc += CT * VL) qk_tile(qb->q, kt, s_buf, D, r0, cc);
    for (int64_t r = 0; r < qb->R; r++) {
        float *s = s_buf + r * KCH;
        if (vis == CHUNK_PARTIAL) {
            for (int64_t j = 0; j < cn; j++)
                if (!tl_attn_visible(p, sq, sk, qb->q0 + r / G, c0 + j)) s[j] = -INFINITY;
        }
        for (int64_t j = cn; j < KCH; j++) s[j] = -INFINITY;
        scale_row(qb->o + r * D, D, online_softmax_row(s, &qb->m[r], &qb->l[r]));
    }
    for (int64_t r = qb->R; r < qb->Rpad; r++) memset(s_buf + r * KCH, 0, KCH * sizeof(float));
    int64_t DV = D / VL, dv = 0;
    for (int64_t r0 = 0; r0 < qb->Rpad; r0 += RB) {
        for (dv = 0; dv + CT <= DV; dv += CT) pv_tile(s_buf, KCH, vc, qb->o, D, cn, r0, dv * VL, CT);
        for (; dv < DV; dv++) pv_tile(s_buf, KCH, vc, qb->o, D, cn, r0, dv * VL, 1);
    }
}

static void block_finish(struct tl_tensor *dst, int64_t b, int64_t g, const struct query_block *qb) {
    int64_t D = dst->src[0]->ne[0], G = dst->src[0]->ne[2] / dst->src[1]->ne[2];
    for (int64_t r = 0; r < qb->R; r++) {
        float *out = tl_elem_ptr(dst, 0, g * G + r % G, qb->q0 + r / G, b);
        float inv = qb->l[r] > 0 ? 1.0f / qb->l[r] : 0.0f;
        for (int64_t d = 0; d < D; d++) out[d] = qb->o[r * D + d] * inv;
    }
}

// One task: n_blocks consecutive blocks of queries (QB each) of one batch and kv head.
// Each chunk of keys is packed (and converted to f32) once for all the blocks that see it.
static void attn_task(struct tl_tensor *dst, const struct tl_attn_params *p, int64_t b, int64_t g,
                      int64_t q0, int64_t QB, int n_blocks, const int32_t *ck_min, const int32_t *ck_max,
                      struct attn_scratch *w) {
    const struct tl_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    const int32_t *sq = dst->src[3] ? dst->src[3]->data : NULL;
    int64_t D = q->ne[0], Nq = q->ne[1], Nk = k->ne[1], G = q->ne[2] / k->ne[2];
    struct query_block qbs[QG_MAX];
    int n = 0;
    for (int i = 0; i < n_blocks && q0 + i * QB < Nq; i++, n++) {
        struct query_block *qb = &qbs[i];
        qb->q0 = q0 + i * QB;
        qb->qn = TL_MIN(QB, Nq - qb->q0);
        qb->R = qb->qn * G;
        qb->Rpad = (qb->R + RB - 1) / RB * RB;
        qb->q = w->q + i * w->block_floats;
        qb->o = qb->q + w->Rmax * D;
        qb->m = qb->o + w->Rmax * D;
        qb->l = qb->m + w->Rmax;
        block_start(dst, p, b, g, qb);
    }
    float row[1024];   // one K row as f32 (D <= 1024, checked by the caller)
    for (int64_t c0 = 0; c0 < Nk; c0 += KCH) {
        int64_t cn = TL_MIN(KCH, Nk - c0), ci = c0 / KCH;
        int vis[QG_MAX];
        bool any = false;
        for (int i = 0; i < n; i++) {
            const struct query_block *qb = &qbs[i];
            vis[i] = chunk_visibility(p, p->q_offset + qb->q0, p->q_offset + qb->q0 + qb->qn - 1, c0, c0 + cn - 1,
                                      sq != NULL, qb->sqmin, qb->sqmax, sq ? ck_min[ci] : 0, sq ? ck_max[ci] : 0);
            any |= vis[i] != CHUNK_SKIP;
        }
        if (!any) continue;
        for (int64_t j = 0; j < KCH; j++) {   // Kt [D][KCH] and V [KCH][D], zero padded
            if (j < cn) {
                load_row_f32(k->type, tl_elem_ptr(k, 0, c0 + j, g, b), row, D);
                for (int64_t d = 0; d < D; d++) w->kt[d * KCH + j] = row[d];
                load_row_f32(v->type, tl_elem_ptr(v, 0, c0 + j, g, b), w->vc + j * D, D);
            } else {
                for (int64_t d = 0; d < D; d++) w->kt[d * KCH + j] = 0;
            }
        }
        for (int i = 0; i < n; i++)
            if (vis[i] != CHUNK_SKIP) block_update(dst, p, c0, cn, vis[i], w->kt, w->vc, w->s, &qbs[i]);
    }
    for (int i = 0; i < n; i++) block_finish(dst, b, g, &qbs[i]);
}

static bool fast_flash_attn(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *q = dst->src[0], *k = dst->src[1];
    int64_t D = q->ne[0], Nq = q->ne[1], Nk = k->ne[1], Hkv = k->ne[2], G = q->ne[2] / Hkv;
    if (D % VL != 0 || D > 1024 || dst->nb[0] != sizeof(float)) return false;
    struct tl_attn_params p;
    tl_attn_params_of(dst, &p);
    const int32_t *sk = dst->src[4] ? dst->src[4]->data : NULL;
    int32_t *ck_min = NULL, *ck_max = NULL;
    if (sk) chunk_segment_ranges(sk, Nk, &ck_min, &ck_max);
    int64_t QB = TL_MAX(1, ROWS_TARGET / G), n_qb = (Nq + QB - 1) / QB;
    // blocks per task: up to QG_MAX while every thread still gets four tasks or more
    int64_t per_task = TL_MAX(1, TL_MIN(QG_MAX, q->ne[3] * Hkv * n_qb / (4 * (int64_t)nth)));
    int64_t n_groups = (n_qb + per_task - 1) / per_task, n_tasks = q->ne[3] * Hkv * n_groups;
    int64_t Rmax = (QB * G + RB - 1) / RB * RB;
    #pragma omp parallel num_threads(nth)
    {
        struct attn_scratch w = { .Rmax = Rmax, .block_floats = 2 * Rmax * D + 2 * Rmax };
        size_t floats = per_task * w.block_floats + Rmax * KCH + 2 * KCH * D;
        w.q = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        TL_ASSERT(w.q);
        w.s = w.q + per_task * w.block_floats;
        w.kt = w.s + Rmax * KCH;
        w.vc = w.kt + KCH * D;
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < n_tasks; t++) {
            int64_t qg = t % n_groups, g = (t / n_groups) % Hkv, b = t / (n_groups * Hkv);
            attn_task(dst, &p, b, g, qg * per_task * QB, QB, (int)per_task, ck_min, ck_max, &w);
        }
        free(w.q);
    }
    free(ck_min);
    return true;
}

void ISA_FN(tl_cpu_register_attn)(struct tl_cpu_kernels *k) { k->op[TL_OP_FLASH_ATTN] = fast_flash_attn; }
