// Bad shapes and types given to op builders: NULL and a message naming the op and the
// shapes; later builders keep the first message; a graph of a NULL output refuses.
#include "test-util.h"

static struct tl_context *ctx;

static void expect_error(const char *what, struct tl_tensor *t, const char *must_contain) {
    const char *e = tl_error(ctx);
    check(t == NULL && e && strstr(e, must_contain), "%-30s -> \"%s\"", what, e ? e : "(no error)");
    tl_clear_error(ctx);
}

int main(void) {
    ctx = tl_init((struct tl_init_params){ .mem_size = 1u << 20 });
    struct tl_tensor *a = tl_new_tensor_2d(ctx, TL_F32, 64, 32);
    struct tl_tensor *b = tl_new_tensor_2d(ctx, TL_F32, 63, 8);
    struct tl_tensor *i = tl_new_tensor_1d(ctx, TL_I32, 8);

    expect_error("mul_mat K mismatch", tl_mul_mat(ctx, a, b), "mul_mat: inner dimensions differ (64 vs 63) (a: f32 [64, 32, 1, 1], b: f32 [63, 8, 1, 1])");
    expect_error("mul_mat i32 weights", tl_mul_mat(ctx, i, a), "mul_mat: weights must be");
    expect_error("add no broadcast", tl_add(ctx, a, b), "add: b does not broadcast to a in dim 0");
    expect_error("reshape count", tl_reshape_2d(ctx, a, 10, 10), "reshape: to [10, 10, 1, 1] changes the element count");
    expect_error("view out of bounds", tl_view_4d(ctx, a, 64, 33, 1, 1, 256, 256 * 33, 256 * 33, 0), "view:");
    expect_error("permute not a permutation", tl_permute(ctx, a, 0, 0, 1, 2), "permute: axes (0, 0, 1, 2)");
    expect_error("concat mismatch", tl_concat(ctx, a, b, 1), "concat: shapes differ outside dim 1");
    expect_error("get_rows f32 ids", tl_get_rows(ctx, a, a), "get_rows: ids must be i32");
    struct tl_tensor *panels = tl_new_tensor_2d(ctx, TL_Q4_K_R8, 256, 12), *acts = tl_new_tensor_2d(ctx, TL_F32, 256, 2);
    expect_error("mul_mat partial panel", tl_mul_mat(ctx, panels, acts), "mul_mat: a q4_Kr8 matrix must be one whole matrix in panels of 8 rows");
    // a panel matrix is addressed through its row count (chunks of every panel): a view of
    // some of its rows, or a stack of matrices, is not one
    struct tl_tensor *panels16 = tl_new_tensor_2d(ctx, TL_Q4_K_R8, 256, 16);
    expect_error("mul_mat panel rows view", tl_mul_mat(ctx, tl_view_4d(ctx, panels16, 256, 8, 1, 1, panels16->nb[1], panels16->nb[1] * 8, panels16->nb[1] * 8, 0), acts),
                 "mul_mat: a q4_Kr8 matrix must be one whole matrix in panels of 8 rows");
    expect_error("mul_mat panel stack", tl_mul_mat(ctx, tl_new_tensor_3d(ctx, TL_Q4_K_R8, 256, 8, 2), tl_new_tensor_3d(ctx, TL_F32, 256, 2, 2)),
                 "mul_mat: a q4_Kr8 matrix must be one whole matrix in panels of 8 rows");
    check(tl_mul_mat(ctx, tl_view_4d(ctx, panels16, 256, 16, 1, 1, panels16->nb[1], panels16->nb[2], panels16->nb[3], 0), acts) != NULL,
          "mul_mat takes a view of a whole panel matrix");
    expect_error("get_rows of panels", tl_get_rows(ctx, panels, i), "get_rows: rows must be a float or block type with contiguous rows");
    expect_error("swiglu shapes", tl_swiglu(ctx, a, b), "swiglu: shapes differ");
    struct tl_tensor *x = tl_new_tensor_3d(ctx, TL_F32, 128, 4, 8);
    struct tl_tensor *pos = tl_new_tensor_1d(ctx, TL_I32, 8 * 3);
    expect_error("mrope bad sections",
                 tl_rope(ctx, x, pos, (struct tl_rope_params){ .mode = TL_ROPE_MROPE, .n_dims = 128, .sections = { 16, 24, 20 }, .freq_base = 1e6f }),
                 "rope: mrope sections must add up to n_dims/2 = 64");
    expect_error("rope too few streams",
                 tl_rope(ctx, x, tl_new_tensor_1d(ctx, TL_I32, 8), (struct tl_rope_params){ .mode = TL_ROPE_MROPE, .n_dims = 128, .sections = { 16, 24, 24 }, .freq_base = 1e6f }),
                 "needs 3 position streams, pos has 1");
    struct tl_tensor *q = tl_new_tensor_3d(ctx, TL_F32, 64, 10, 6);
    struct tl_tensor *k = tl_new_tensor_3d(ctx, TL_F16, 64, 20, 4);
    expect_error("attention heads", tl_flash_attn(ctx, q, k, k, NULL, NULL, (struct tl_attn_params){ .scale = 1 }),
                 "flash_attn: query heads 6 not a multiple of kv heads 4");
    expect_error("new tensor bad dim", tl_new_tensor_2d(ctx, TL_F32, 0, 3), "dimension 0 is 0");

    // the first error is kept while NULL flows through later builders
    struct tl_tensor *bad = tl_mul_mat(ctx, a, b);
    struct tl_tensor *later = tl_silu(ctx, tl_scale(ctx, bad, 2));
    expect_error("NULL propagates, first message kept", later, "mul_mat: inner dimensions differ");
    struct tl_graph *g = tl_graph_new(ctx, 16);
    check(!tl_graph_build(g, NULL) && strstr(tl_error(ctx), "graph: output is NULL"), "graph of NULL refuses: %s", tl_error(ctx));
    tl_clear_error(ctx);

    struct tl_context *tiny = tl_init((struct tl_init_params){ .mem_size = 1024 });
    struct tl_tensor *big = tl_new_tensor_1d(tiny, TL_F32, 1 << 20);
    check(big == NULL && strstr(tl_error(tiny), "context out of memory"), "arena exhaustion: %s", tl_error(tiny));
    tl_free(tiny);
    tl_free(ctx);
    return test_summary("test-errors");
}
