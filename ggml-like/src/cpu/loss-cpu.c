// The fused LM loss and its backward, fast path: every product goes through the CPU
// backend's mul_mat (its packed GEMM), chunk by chunk of tokens; the vocabulary is cut
// into blocks of VB for the products that need the weights transposed, so scratch stays
// O(chunk x V + VB x H) and never O(N x V) or a transposed copy of the whole matrix.
// Compiled once: the GEMM it calls dispatches on the ISA.
#include "tl-cpu.h"
#include "cpu-impl.h"

#include <omp.h>

#define VB 4096   // vocabulary rows per block of the transposed products

// A contiguous 2-D tensor header over caller memory, for calling kernels.
static struct tl_tensor mat(enum tl_type type, int64_t ne0, int64_t ne1, const void *data, size_t row_bytes) {
    struct tl_tensor t = { .type = type, .ne = { ne0, ne1, 1, 1 }, .data = (void *)data };
    t.nb[0] = tl_type_traits(type)->type_size;
    t.nb[1] = row_bytes;
    t.nb[2] = t.nb[3] = row_bytes * ne1;
    return t;
}

// out[n][m] = a[m] . b[n] through the backend's mul_mat
static void matmul(struct tl_tensor *a, struct tl_tensor *b, float *out, size_t out_row_bytes, int nth) {
    struct tl_tensor d = mat(TL_F32, a->ne[1], b->ne[1], out, out_row_bytes);
    d.op = TL_OP_MUL_MAT;
    d.src[0] = a;
    d.src[1] = b;
    tl_cpu_compute_node(&d, nth);
}

// dst [cols][rows] = src [rows][cols] (elements of es bytes, src rows ld elements apart)
static void transpose(const void *src, int64_t rows, int64_t cols, int64_t ld, size_t es, void *dst, int nth) {
    const char *s = src;
    char *d = dst;
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t c = 0; c < cols; c++)
        for (int64_t r = 0; r < rows; r++) memcpy(d + (c * rows + r) * es, s + (r * ld + c) * es, es);
}

// z [C][V] logits in place -> (softmax - onehot) * scale (scale 0: left as they are);
// returns the chunk's loss.
static double softmax_minus_onehot(float *z, const int32_t *tg, int64_t C, int64_t V, float scale, int nth) {
    double loss = 0;
    #pragma omp parallel for num_threads(nth) reduction(+ : loss) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        float *zc = z + c * V;
        if (tg[c] < 0 || tg[c] >= V) {
            memset(zc, 0, V * sizeof(float));
            continue;
        }
        float mx = -INFINITY, zt = zc[tg[c]];
        for (int64_t v = 0; v < V; v++) mx = zc[v] > mx ? zc[v] : mx;
        double sum = 0;
        for (int64_t v = 0; v < V; v++) {
            zc[v] = expf(zc[v] - mx);
            sum += zc[v];
        }
        loss += mx + log(sum) - zt;
        if (scale == 0) continue;   // the loss alone
        float inv = (float)(scale / sum);
        for (int64_t v = 0; v < V; v++) zc[v] *= inv;
        zc[tg[c]] -= scale;
    }
    return loss;
}

struct lm_job {
    struct tl_tensor *w, *h;
    const int32_t *tg;
    int64_t H, N, V, chunk;
};

static struct lm_job lm_job_of(struct tl_tensor *dst) {
    struct lm_job j = { .w = dst->src[0], .h = dst->src[1], .tg = dst->src[2]->data };
    j.H = j.h->ne[0], j.N = j.h->ne[1], j.V = j.w->ne[1], j.chunk = dst->params[0];
    return j;
}

static bool fast_lm_loss(struct tl_tensor *dst, int nth) {
    struct lm_job j = lm_job_of(dst);
    int64_t C0 = TL_MIN(j.chunk, j.N);
    float *z = malloc(C0 * j.V * sizeof(float));
    TL_ASSERT(z);
    double loss = 0;
    for (int64_t n0 = 0; n0 < j.N; n0 += j.chunk) {
        int64_t C = TL_MIN(j.chunk, j.N - n0);
        struct tl_tensor hc = mat(TL_F32, j.H, C, tl_elem_ptr(j.h, 0, n0, 0, 0), j.h->nb[1]);
        matmul(j.w, &hc, z, j.V * sizeof(float), nth);
        loss += softmax_minus_onehot(z, j.tg + n0, C, j.V, 0, nth);
    }
    *(float *)dst->data = (float)loss;
    free(z);
    return true;
}

// dh [H, N] then dw [H, V] (optional) into the packed result. Per chunk of tokens:
//   G = (softmax - onehot) dloss          [C][V]
//   dh_chunk = sum over blocks of W_blk^T G_blk    (the block of W transposed: [VB][H])
//   dw_blk  += h_chunk^T G_blk^T                   (both transposed over the chunk)
static bool fast_lm_loss_back(struct tl_tensor *dst, int nth) {
    struct lm_job j = lm_job_of(dst);
    bool want_dw = dst->params[1];
    float dloss = *(const float *)dst->src[3]->data;
    float *dh = dst->data, *dw = want_dw ? dh + j.H * j.N : NULL;
    int64_t C0 = TL_MIN(j.chunk, j.N), vb0 = TL_MIN(VB, j.V);
    size_t wes = tl_type_traits(j.w->type)->type_size;
    float *z = malloc(C0 * j.V * sizeof(float));
    float *gblk = malloc(C0 * vb0 * sizeof(float));   // G_blk^T
    float *part = malloc(TL_MAX(j.H * C0, j.H * vb0) * sizeof(float));
    float *ht = malloc(C0 * j.H * sizeof(float));
    void *wt = malloc(vb0 * j.H * wes);
    TL_ASSERT(z && gblk && part && ht && wt);
    memset(dst->data, 0, tl_nbytes(dst));
    for (int64_t n0 = 0; n0 < j.N; n0 += j.chunk) {
        int64_t C = TL_MIN(j.chunk, j.N - n0);
        struct tl_tensor hc = mat(TL_F32, j.H, C, tl_elem_ptr(j.h, 0, n0, 0, 0), j.h->nb[1]);
        matmul(j.w, &hc, z, j.V * sizeof(float), nth);
        softmax_minus_onehot(z, j.tg + n0, C, j.V, dloss, nth);
        if (dw) transpose(hc.data, C, j.H, j.h->nb[1] / sizeof(float), sizeof(float), ht, nth);
        float *dhc = dh + n0 * j.H;
        for (int64_t v0 = 0; v0 < j.V; v0 += VB) {
            int64_t nv = TL_MIN(VB, j.V - v0);
            transpose(tl_elem_ptr(j.w, 0, v0, 0, 0), nv, j.H, j.w->nb[1] / wes, wes, wt, nth);
            struct tl_tensor a = mat(j.w->type, nv, j.H, wt, nv * wes);
            struct tl_tensor g = mat(TL_F32, nv, C, z + v0, j.V * sizeof(float));
            matmul(&a, &g, part, j.H * sizeof(float), nth);
            #pragma omp parallel for num_threads(nth) schedule(static)
            for (int64_t i = 0; i < C * j.H; i++) dhc[i] += part[i];
            if (!dw) continue;
            transpose(z + v0, C, nv, j.V, sizeof(float), gblk, nth);
            struct tl_tensor a2 = mat(TL_F32, C, j.H, ht, C * sizeof(float));
            struct tl_tensor g2 = mat(TL_F32, C, nv, gblk, C * sizeof(float));
            matmul(&a2, &g2, part, j.H * sizeof(float), nth);
            float *dwb = dw + v0 * j.H;
            #pragma omp parallel for num_threads(nth) schedule(static)
            for (int64_t i = 0; i < nv * j.H; i++) dwb[i] += part[i];
        }
    }
    free(z);
    free(gblk);
    free(part);
    free(ht);
    free(wt);
    return true;
}

void tl_cpu_register_loss(struct tl_cpu_kernels *k) {
    k->op[TL_OP_LM_LOSS] = fast_lm_loss;
    k->op[TL_OP_LM_LOSS_BACK] = fast_lm_loss_back;
}
