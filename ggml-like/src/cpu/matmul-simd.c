// mul_mat fast paths: a packed, register-blocked GEMM for batches of activations and a
// streaming GEMV for one token. Weights of any float type are converted to f32 while
// packing (GEMM) or loading (GEMV), so F32, F16 and BF16 share one kernel.
//
// Shapes: A weights [M rows][K] (row stride lda bytes), B activations [N][K] f32 (row
// stride ldb floats), C [N][M] f32 (row stride ldc floats): C[n][m] = A[m] . B[n].
#include "cpu-impl.h"
#include "simd.h"

#include <omp.h>

// Register tile: MRV vectors of weights rows (MR = MRV*VL) x NR activation columns.
#if VL == 16
#define MRV 2
#define NR 12
#elif VL == 8
#define MRV 2
#define NR 6
#else
#define MRV 4
#define NR 4
#endif
#define MR (MRV * VL)
#define KC 256   // k block: an MR x KC weight panel and NR x KC activation panel fit L1/L2
#define MC 256   // weight rows per thread block (MC x KC f32 = 256 KiB, in L2)

// C[NR][MR] (+)= Ap[KC][MR] . Bp[KC][NR]^T; partial tiles go through a local buffer.
static void micro_kernel(int64_t kc, const float *restrict ap, const float *restrict bp,
                         float *restrict c, int64_t ldc, int mr, int nr, bool accumulate) {
    vf acc[NR][MRV];
    for (int j = 0; j < NR; j++)
        for (int v = 0; v < MRV; v++) acc[j][v] = vzero();
    for (int64_t k = 0; k < kc; k++) {
        vf a[MRV];
        for (int v = 0; v < MRV; v++) a[v] = vload(ap + k * MR + v * VL);
        for (int j = 0; j < NR; j++) {
            vf b = vset1(bp[k * NR + j]);
            for (int v = 0; v < MRV; v++) acc[j][v] = vfma(a[v], b, acc[j][v]);
        }
    }
    if (mr == MR && nr == NR) {
        for (int j = 0; j < NR; j++)
            for (int v = 0; v < MRV; v++) {
                float *p = c + j * ldc + v * VL;
                vstore(p, accumulate ? vadd(vload(p), acc[j][v]) : acc[j][v]);
            }
        return;
    }
    float tmp[NR][MR];
    for (int j = 0; j < NR; j++)
        for (int v = 0; v < MRV; v++) vstore(&tmp[j][v * VL], acc[j][v]);
    for (int j = 0; j < nr && j < NR; j++)
        for (int i = 0; i < mr && i < MR; i++) c[j * ldc + i] = accumulate ? c[j * ldc + i] + tmp[j][i] : tmp[j][i];
}

// Packs rows [m0, m0+mc) x k [k0, k0+kc) of A into MR-row panels, k-major, zero-padded.
static void pack_a(enum tl_type type, const char *a, size_t lda, int64_t m0, int64_t mc,
                   int64_t k0, int64_t kc, float *restrict out, float *restrict row) {
    tl_to_float_fn to_float = tl_type_traits(type)->to_float;
    size_t es = tl_type_traits(type)->type_size;
    for (int64_t p = 0; p < mc; p += MR) {
        float *panel = out + p * kc;
        for (int64_t i = 0; i < MR; i++) {
            if (p + i < mc) {
                const char *src = a + (m0 + p + i) * lda + k0 * es;
                if (type == TL_F32) memcpy(row, src, kc * sizeof(float));
                else {
                    int64_t k = 0;
                    for (; k + VL <= kc; k += VL) vstore(row + k, vload_any(type, src + k * es));
                    to_float(src + k * es, row + k, kc - k);
                }
                for (int64_t k = 0; k < kc; k++) panel[k * MR + i] = row[k];
            } else {
                for (int64_t k = 0; k < kc; k++) panel[k * MR + i] = 0;
            }
        }
    }
}

// Packs columns [n0, n0+NR) x k [k0, k0+kc) of B into one NR-wide panel, k-major.
static void pack_b(const float *b, int64_t ldb, int64_t n0, int64_t nn, int64_t k0, int64_t kc,
                   float *restrict out) {
    for (int64_t j = 0; j < NR; j++) {
        if (j < nn) {
            const float *src = b + (n0 + j) * ldb + k0;
            for (int64_t k = 0; k < kc; k++) out[k * NR + j] = src[k];
        } else {
            for (int64_t k = 0; k < kc; k++) out[k * NR + j] = 0;
        }
    }
}

static void gemm(enum tl_type type, int64_t M, int64_t N, int64_t K, const void *a, size_t lda,
                 const float *b, int64_t ldb, float *c, int64_t ldc, int nth) {
    int64_t n_panels = (N + NR - 1) / NR;
    float *bp = aligned_alloc(64, (size_t)n_panels * NR * KC * sizeof(float));
    TL_ASSERT(bp);
    int64_t m_blocks = (M + MC - 1) / MC;
    #pragma omp parallel num_threads(nth)
    {
        float *ap = aligned_alloc(64, (size_t)MC * KC * sizeof(float) + 64);
        float *row = aligned_alloc(64, KC * sizeof(float) + 64);
        TL_ASSERT(ap && row);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = TL_MIN(KC, K - k0);
            #pragma omp for schedule(static)
            for (int64_t jp = 0; jp < n_panels; jp++)
                pack_b(b, ldb, jp * NR, TL_MIN(NR, N - jp * NR), k0, kc, bp + jp * NR * kc);
            // implicit barrier: the activation panels are ready
            #pragma omp for schedule(dynamic, 1)
            for (int64_t mb = 0; mb < m_blocks; mb++) {
                int64_t m0 = mb * MC, mc = TL_MIN(MC, M - m0);
                pack_a(type, a, lda, m0, mc, k0, kc, ap, row);
                for (int64_t jp = 0; jp < n_panels; jp++) {
                    int nr = (int)TL_MIN(NR, N - jp * NR);
                    for (int64_t ip = 0; ip < mc; ip += MR)
                        micro_kernel(kc, ap + ip * kc, bp + jp * NR * kc, c + jp * NR * ldc + m0 + ip,
                                     ldc, (int)TL_MIN(MR, mc - ip), nr, k0 > 0);
                }
            }
        }
        free(ap);
        free(row);
    }
    free(bp);
}

// One weight row . x, four accumulators to hide FMA latency.
static float dot_row(enum tl_type type, const void *w, const float *x, int64_t K) {
    size_t es = tl_type_traits(type)->type_size;
    const char *p = w;
    vf s0 = vzero(), s1 = vzero(), s2 = vzero(), s3 = vzero();
    int64_t k = 0;
    for (; k + 4 * VL <= K; k += 4 * VL) {
        s0 = vfma(vload_any(type, p + k * es), vload(x + k), s0);
        s1 = vfma(vload_any(type, p + (k + VL) * es), vload(x + k + VL), s1);
        s2 = vfma(vload_any(type, p + (k + 2 * VL) * es), vload(x + k + 2 * VL), s2);
        s3 = vfma(vload_any(type, p + (k + 3 * VL) * es), vload(x + k + 3 * VL), s3);
    }
    for (; k + VL <= K; k += VL) s0 = vfma(vload_any(type, p + k * es), vload(x + k), s0);
    float s = vhsum(vadd(vadd(s0, s1), vadd(s2, s3)));
    for (; k < K; k++) s += tl_load_f32(type, p + k * es) * x[k];
    return s;
}

static void gemv(enum tl_type type, int64_t M, int64_t K, const void *a, size_t lda,
                 const float *x, float *y, int nth) {
    // contiguous row ranges per thread: each streams its part of the weights once
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t m = 0; m < M; m++) y[m] = dot_row(type, (const char *)a + m * lda, x, K);
}

static bool fast_mul_mat(struct tl_tensor *dst, int nth) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    if (tl_type_traits(a->type)->is_quantized) return ISA_FN(tl_cpu_mul_mat_quantized)(dst, nth);
    if (b->nb[0] != sizeof(float) || dst->nb[0] != sizeof(float)) return false;
    if (b->nb[1] % sizeof(float) || dst->nb[1] % sizeof(float)) return false;
    int64_t M = a->ne[1], N = b->ne[1], K = a->ne[0];
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++) {
            const void *pa = tl_elem_ptr(a, 0, 0, i2 / (b->ne[2] / a->ne[2]), i3 / (b->ne[3] / a->ne[3]));
            const float *pb = tl_elem_ptr(b, 0, 0, i2, i3);
            float *pc = tl_elem_ptr(dst, 0, 0, i2, i3);
            if (N == 1) {
                gemv(a->type, M, K, pa, a->nb[1], pb, pc, nth);
            } else if (N < 4 && M * K < 65536) {   // tiny: packing costs more than it saves
                for (int64_t n = 0; n < N; n++)
                    gemv(a->type, M, K, pa, a->nb[1], pb + n * (b->nb[1] / 4), pc + n * (dst->nb[1] / 4), nth);
            } else {
                gemm(a->type, M, N, K, pa, a->nb[1], pb, b->nb[1] / 4, pc, dst->nb[1] / 4, nth);
            }
        }
    return true;
}

void ISA_FN(tl_cpu_register_matmul)(struct tl_cpu_kernels *k) { k->op[TL_OP_MUL_MAT] = fast_mul_mat; }
