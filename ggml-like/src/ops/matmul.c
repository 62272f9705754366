// mul_mat: weights a [K, M, A2, A3] (f32/f16/bf16 or a block format) times activations
// b f32 [K, N, B2, B3] gives f32 [M, N, B2, B3]; dims 2-3 of a are broadcast over b's.
//
// Block-format weights multiply activations quantized to the format's partner (Q8_0 or
// Q8_K), as GGUF runtimes do: the reference quantizes each activation row with the
// reference quantizer and takes the reference dot, so fast paths can match it closely.
#include "tl-impl.h"
#include "quants/quants.h"

struct tl_tensor *tl_mul_mat(struct tl_context *ctx, struct tl_tensor *a, struct tl_tensor *b) {
    if (!a || !b) return NULL;
    if (!tl_type_is_weight(tl_type_traits(a->type)))
        return tl_op_error(ctx, "mul_mat", a, b, "weights must be a float or block type");
    if (b->type != TL_F32) return tl_op_error(ctx, "mul_mat", a, b, "activations must be f32");
    if (a->ne[0] != b->ne[0])
        return tl_op_error(ctx, "mul_mat", a, b, "inner dimensions differ (%lld vs %lld)",
                           (long long)a->ne[0], (long long)b->ne[0]);
    if (b->ne[2] % a->ne[2] || b->ne[3] % a->ne[3])
        return tl_op_error(ctx, "mul_mat", a, b, "a's dims 2-3 do not broadcast over b's");
    const struct tl_type_traits *tt = tl_type_traits(a->type);
    if (a->nb[0] != tt->type_size) return tl_op_error(ctx, "mul_mat", a, b, "weight rows must be contiguous");
    // a panel layout is addressed by the whole matrix's row count (blocks.h)
    if (tt->panel_rows && (a->ne[1] % tt->panel_rows || a->nb[1] != tl_row_size(a->type, a->ne[0]) || a->ne[2] != 1 ||
                           a->ne[3] != 1 || (a->view_src && (a->view_offs || tl_nbytes(a->view_src) != tl_nbytes(a)))))
        return tl_op_error(ctx, "mul_mat", a, b, "a %s matrix must be one whole matrix in panels of %d rows",
                           tt->name, tt->panel_rows);
    int64_t ne[4] = { a->ne[1], b->ne[1], b->ne[2], b->ne[3] };
    return tl_new_op(ctx, TL_OP_MUL_MAT, TL_F32, ne, a, b);
}

// Block weights: each activation row quantized to vec_dot_type, then vec_dot per weight
// row (a panel layout's: the file format's, on its panels' rows put back in file order).
static void ref_mul_mat_quantized(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    const struct tl_type_traits *tt = tl_type_traits(a->type);
    const struct tl_type_traits *qt = tl_type_traits(tt->vec_dot_type);
    const int64_t K = a->ne[0];
    const enum tl_type file = tl_type_file_format(a->type);
    const size_t row = tl_row_size(a->type, K);
    float *brow = malloc(K * sizeof(float));
    void *bq = malloc(tl_row_size(tt->vec_dot_type, K));
    uint8_t *rows = tt->panel_rows ? malloc(tt->panel_rows * row) : NULL;
    TL_ASSERT(brow && bq && (rows || !tt->panel_rows));
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++) {
            int64_t a2 = i2 / (b->ne[2] / a->ne[2]), a3 = i3 / (b->ne[3] / a->ne[3]);
            for (int64_t n = 0; n < b->ne[1]; n++) {
                for (int64_t k = 0; k < K; k++) brow[k] = *(const float *)tl_elem_ptr(b, k, n, i2, i3);
                qt->from_float(brow, bq, K);
                for (int64_t m = 0; m < a->ne[1]; m++) {
                    float *out = tl_elem_ptr(dst, m, n, i2, i3);
                    if (!tt->panel_rows) {
                        *out = tt->vec_dot(K, tl_elem_ptr(a, 0, m, a2, a3), bq);
                        continue;
                    }
                    const int64_t i = m % tt->panel_rows;
                    if (i == 0) cpu_panel_rows(file, tl_elem_ptr(a, 0, 0, a2, a3), a->ne[1], K, m / tt->panel_rows, rows);
                    *out = tl_type_traits(file)->vec_dot(K, rows + i * row, bq);
                }
            }
        }
    free(rows);
    free(brow);
    free(bq);
}

// dst[n][m] = sum_k a[m][k] * b[n][k], accumulated in double: the oracle.
void tl_ref_mul_mat(struct tl_tensor *dst) {
    const struct tl_tensor *a = dst->src[0], *b = dst->src[1];
    if (tl_type_traits(a->type)->is_quantized) {
        ref_mul_mat_quantized(dst);
        return;
    }
    int64_t K = a->ne[0];
    float *arow = malloc(K * sizeof(float));
    TL_ASSERT(arow);
    tl_to_float_fn to_float = tl_type_traits(a->type)->to_float;
    for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dst->ne[2]; i2++) {
            int64_t a2 = i2 / (b->ne[2] / a->ne[2]), a3 = i3 / (b->ne[3] / a->ne[3]);
            for (int64_t m = 0; m < a->ne[1]; m++) {
                to_float(tl_elem_ptr(a, 0, m, a2, a3), arow, K);
                for (int64_t n = 0; n < b->ne[1]; n++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += (double)arow[k] * *(const float *)tl_elem_ptr(b, k, n, i2, i3);
                    *(float *)tl_elem_ptr(dst, m, n, i2, i3) = (float)s;
                }
            }
        }
    free(arow);
}
