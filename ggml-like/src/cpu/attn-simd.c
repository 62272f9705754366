// The fused chunked attention, fast path. One task = one batch, one kv head, a block of
// queries; its rows are (query, query head of the GQA group) pairs, so a packed K/V chunk
// serves every head that shares it. Per chunk of KCH keys:
//   S = Q Kt (register tiles), mask, online softmax (running max m, sum l), O += P V.
// Scratch per thread is O(rows x (D + KCH)); no N x N matrix exists anywhere.
#include "cpu-impl.h"
#include "simd.h"
#include "quants/blocks.h"
#include "attn-tiles.h"

struct attn_scratch {
    float *q, *o, *s, *kt, *vc, *m, *l;
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

static void attn_task(struct tl_tensor *dst, const struct tl_attn_params *p, int64_t b, int64_t g,
                      int64_t q0, int64_t qn, const int32_t *ck_min, const int32_t *ck_max,
                      struct attn_scratch *w) {
    const struct tl_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    const int32_t *sq = dst->src[3] ? dst->src[3]->data : NULL;
    const int32_t *sk = dst->src[4] ? dst->src[4]->data : NULL;
    int64_t D = q->ne[0], Nk = k->ne[1], G = q->ne[2] / k->ne[2];
    int64_t R = qn * G, Rpad = (R + RB - 1) / RB * RB;

    for (int64_t r = 0; r < Rpad; r++) {
        float *qr = w->q + r * D;
        if (r < R) {
            const float *src = tl_elem_ptr(q, 0, q0 + r / G, g * G + r % G, b);
            for (int64_t d = 0; d < D; d++) qr[d] = src[d] * p->scale;
        } else {
            memset(qr, 0, D * sizeof(float));
        }
        memset(w->o + r * D, 0, D * sizeof(float));
        w->m[r] = -INFINITY;
        w->l[r] = 0;
    }
    int64_t qmin = p->q_offset + q0, qmax = p->q_offset + q0 + qn - 1;
    int32_t sqmin = 0, sqmax = 0;
    if (sq) {
        sqmin = sqmax = sq[q0];
        for (int64_t i = q0; i < q0 + qn; i++) {
            sqmin = sq[i] < sqmin ? sq[i] : sqmin;
            sqmax = sq[i] > sqmax ? sq[i] : sqmax;
        }
    }
    float row[1024];   // one K row as f32 (D <= 1024, checked by the caller)
    for (int64_t c0 = 0; c0 < Nk; c0 += KCH) {
        int64_t cn = TL_MIN(KCH, Nk - c0), ci = c0 / KCH;
        int vis = chunk_visibility(p, qmin, qmax, c0, c0 + cn - 1, sq != NULL, sqmin, sqmax,
                                   sq ? ck_min[ci] : 0, sq ? ck_max[ci] : 0);
        if (vis == CHUNK_SKIP) continue;
        for (int64_t j = 0; j < KCH; j++) {   // Kt [D][KCH] and V [KCH][D], zero padded
            if (j < cn) {
                load_row_f32(k->type, tl_elem_ptr(k, 0, c0 + j, g, b), row, D);
                for (int64_t d = 0; d < D; d++) w->kt[d * KCH + j] = row[d];
                load_row_f32(v->type, tl_elem_ptr(v, 0, c0 + j, g, b), w->vc + j * D, D);
            } else {
                for (int64_t d = 0; d < D; d++) w->kt[d * KCH + j] = 0;
            }
        }
        for (int64_t r0 = 0; r0 < Rpad; r0 += RB)
            for (int64_t cc = 0; cc < KCH; cc += CT * VL) qk_tile(w->q, w->kt, w->s, D, r0, cc);
        for (int64_t r = 0; r < R; r++) {
            float *s = w->s + r * KCH;
            if (vis == CHUNK_PARTIAL) {
                for (int64_t j = 0; j < cn; j++)
                    if (!tl_attn_visible(p, sq, sk, q0 + r / G, c0 + j)) s[j] = -INFINITY;
            }
            for (int64_t j = cn; j < KCH; j++) s[j] = -INFINITY;
            vf mv = vset1(-INFINITY);
            for (int64_t j = 0; j < KCH; j += VL) mv = vmax(mv, vload(s + j));
            float mx = vhmax(mv), mnew = mx > w->m[r] ? mx : w->m[r];
            if (mnew == -INFINITY) {   // nothing visible yet for this row
                memset(s, 0, KCH * sizeof(float));
                continue;
            }
            float alpha = w->m[r] == -INFINITY ? 0.0f : expf(w->m[r] - mnew);
            vf sum = vzero();
            for (int64_t j = 0; j < KCH; j += VL) {
                vf e = vexp(vsub(vload(s + j), vset1(mnew)));
                vstore(s + j, e);
                sum = vadd(sum, e);
            }
            w->l[r] = w->l[r] * alpha + vhsum(sum);
            w->m[r] = mnew;
            if (alpha != 1.0f) {
                float *o = w->o + r * D;
                for (int64_t d = 0; d < D; d += VL) vstore(o + d, vmul(vload(o + d), vset1(alpha)));
            }
        }
        for (int64_t r = R; r < Rpad; r++) memset(w->s + r * KCH, 0, KCH * sizeof(float));
        int64_t DV = D / VL, dv = 0;
        for (int64_t r0 = 0; r0 < Rpad; r0 += RB) {
            for (dv = 0; dv + CT <= DV; dv += CT) pv_tile(w->s, KCH, w->vc, w->o, D, cn, r0, dv * VL, CT);
            for (; dv < DV; dv++) pv_tile(w->s, KCH, w->vc, w->o, D, cn, r0, dv * VL, 1);
        }
    }
    for (int64_t r = 0; r < R; r++) {
        float *out = tl_elem_ptr(dst, 0, g * G + r % G, q0 + r / G, b);
        float inv = w->l[r] > 0 ? 1.0f / w->l[r] : 0.0f;
        for (int64_t d = 0; d < D; d++) out[d] = w->o[r * D + d] * inv;
    }
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
    int64_t n_tasks = q->ne[3] * Hkv * n_qb;
    int64_t Rmax = (QB * G + RB - 1) / RB * RB;
    #pragma omp parallel num_threads(nth)
    {
        struct attn_scratch w;
        size_t floats = 2 * Rmax * D + Rmax * KCH + 2 * KCH * D + 2 * Rmax;
        w.q = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        TL_ASSERT(w.q);
        w.o = w.q + Rmax * D;
        w.s = w.o + Rmax * D;
        w.kt = w.s + Rmax * KCH;
        w.vc = w.kt + KCH * D;
        w.m = w.vc + KCH * D;
        w.l = w.m + Rmax;
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < n_tasks; t++) {
            int64_t qb = t % n_qb, g = (t / n_qb) % Hkv, b = t / (n_qb * Hkv);
            attn_task(dst, &p, b, g, qb * QB, TL_MIN(QB, Nq - qb * QB), ck_min, ck_max, &w);
        }
        free(w.q);
    }
    free(ck_min);
    return true;
}

void ISA_FN(tl_cpu_register_attn)(struct tl_cpu_kernels *k) { k->op[TL_OP_FLASH_ATTN] = fast_flash_attn; }
