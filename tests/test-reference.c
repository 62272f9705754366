// The reference kernels against small cases computed by hand (values in the comments),
// and the half-precision conversions against known bit patterns.
#include "test-util.h"

static struct tl_context *ctx;

static struct tl_tensor *vec(int64_t n0, int64_t n1, const float *v) {
    struct tl_tensor *t = tl_new_tensor_2d(ctx, TL_F32, n0, n1);
    memcpy(t->data, v, n0 * n1 * sizeof(float));
    return t;
}

static void run_ref(struct tl_tensor *out) {
    struct tl_graph *g = tl_graph_new(ctx, 64);
    tl_graph_build(g, out);
    tl_cpu_compute_reference(g);
}

static void expect(const char *what, struct tl_tensor *out, const float *want, int64_t n, double tol) {
    run_ref(out);
    double max_abs;
    float *got = malloc(n * sizeof(float));
    for (int64_t i = 0; i < n; i++) got[i] = tl_get_f32_1d(out, i);
    double excess = compare(got, want, n, tol, 0, &max_abs);
    check(excess <= 0 && tl_nelements(out) == n, "%-28s max abs err %.1e (tol %.0e)", what, max_abs, tol);
    free(got);
}

int main(void) {
    ctx = tl_init((struct tl_init_params){ .mem_size = 16u << 20 });

    // a = [[1,2,3],[4,5,6]] (M=2 rows, K=3), b = [[1,0,1],[2,1,0]] (N=2): C[n][m] = a[m].b[n]
    struct tl_tensor *a = vec(3, 2, (float[]){ 1, 2, 3, 4, 5, 6 });
    struct tl_tensor *b = vec(3, 2, (float[]){ 1, 0, 1, 2, 1, 0 });
    expect("mul_mat 2x3 . 3x2", tl_mul_mat(ctx, a, b), (float[]){ 4, 10, 4, 13 }, 4, 0);
    struct tl_tensor *a16 = tl_cast(ctx, a, TL_F16);
    expect("mul_mat f16 weights", tl_mul_mat(ctx, a16, b), (float[]){ 4, 10, 4, 13 }, 4, 0);

    struct tl_tensor *x = vec(4, 1, (float[]){ 1, 2, 3, 4 });
    // mean(x^2) = 7.5 -> x / sqrt(7.5)
    expect("rms_norm [1,2,3,4]", tl_rms_norm(ctx, x, 0),
           (float[]){ 0.36514837f, 0.73029674f, 1.0954451f, 1.4605935f }, 4, 1e-6);
    // mean 2.5, var 1.25 -> (x-2.5)/sqrt(1.25)
    expect("layer_norm [1,2,3,4]", tl_layer_norm(ctx, x, 0),
           (float[]){ -1.3416408f, -0.4472136f, 0.4472136f, 1.3416408f }, 4, 1e-6);
    // softmax([1,2,3]) = e^i / (e + e^2 + e^3)
    expect("soft_max [1,2,3]", tl_soft_max(ctx, vec(3, 1, (float[]){ 1, 2, 3 }), NULL, 1),
           (float[]){ 0.09003057f, 0.24472847f, 0.66524096f }, 3, 1e-7);
    struct tl_tensor *mask = vec(3, 1, (float[]){ 0, -INFINITY, 0 });
    // masked: softmax([1, 3]) on positions 0 and 2
    expect("soft_max masked", tl_soft_max(ctx, vec(3, 1, (float[]){ 1, 2, 3 }), mask, 1),
           (float[]){ 0.11920292f, 0, 0.88079708f }, 3, 1e-7);
    struct tl_tensor *one = vec(1, 1, (float[]){ 1 });
    expect("silu(1) = 1/(1+e^-1)", tl_silu(ctx, one), (float[]){ 0.7310585786f }, 1, 1e-7);
    expect("gelu(1) = 0.5(1+erf(1/sqrt2))", tl_gelu(ctx, one), (float[]){ 0.8413447461f }, 1, 1e-7);
    expect("gelu_tanh(1)", tl_gelu_tanh(ctx, one), (float[]){ 0.8411919906f }, 1, 1e-7);
    expect("swiglu(2, 3) = 3*silu(2)", tl_swiglu(ctx, vec(1, 1, (float[]){ 2 }), vec(1, 1, (float[]){ 3 })),
           (float[]){ 5.2847824f }, 1, 1e-6);
    expect("add broadcast row", tl_add(ctx, vec(2, 2, (float[]){ 1, 2, 3, 4 }), vec(2, 1, (float[]){ 10, 20 })),
           (float[]){ 11, 22, 13, 24 }, 4, 0);
    expect("div", tl_div(ctx, vec(2, 1, (float[]){ 1, 3 }), vec(1, 1, (float[]){ 2 })), (float[]){ 0.5f, 1.5f }, 2, 0);
    expect("concat dim 1", tl_concat(ctx, vec(2, 1, (float[]){ 1, 2 }), vec(2, 1, (float[]){ 3, 4 }), 1),
           (float[]){ 1, 2, 3, 4 }, 4, 0);
    expect("concat dim 0", tl_concat(ctx, vec(1, 2, (float[]){ 1, 2 }), vec(1, 2, (float[]){ 3, 4 }), 0),
           (float[]){ 1, 3, 2, 4 }, 4, 0);
    // bytes a view spans: a transposed 3x2 steps ne0 by a row (12 B), so 12 + 2 * 4 + 4 = 24
    struct tl_tensor *tv = tl_transpose(ctx, vec(3, 2, (float[]){ 1, 2, 3, 4, 5, 6 }));
    check(tl_nbytes(tv) == 24, "a transposed 3x2 f32 view spans 24 bytes (%zu)", tl_nbytes(tv));
    expect("transpose + cont", tl_cont(ctx, tl_transpose(ctx, vec(3, 2, (float[]){ 1, 2, 3, 4, 5, 6 }))),
           (float[]){ 1, 4, 2, 5, 3, 6 }, 6, 0);

    struct tl_tensor *ids = tl_new_tensor_1d(ctx, TL_I32, 2);
    ((int32_t *)ids->data)[0] = 1;
    ((int32_t *)ids->data)[1] = 0;
    expect("get_rows [1,0]", tl_get_rows(ctx, vec(2, 2, (float[]){ 1, 2, 3, 4 }), ids), (float[]){ 3, 4, 1, 2 }, 4, 0);

    struct tl_tensor *am = tl_argmax(ctx, vec(4, 2, (float[]){ 1, 5, 5, 2, -1, -3, -0.5f, -2 }));
    run_ref(am);
    check(((int32_t *)am->data)[0] == 1 && ((int32_t *)am->data)[1] == 2, "argmax first of ties: %d %d",
          ((int32_t *)am->data)[0], ((int32_t *)am->data)[1]);

    // NeoX rope, D = 4, pos 1, base 10000: pairs (0,2) angle 1, (1,3) angle 10000^(-1/2) = 0.01
    struct tl_tensor *pos = tl_new_tensor_1d(ctx, TL_I32, 1);
    ((int32_t *)pos->data)[0] = 1;
    struct tl_tensor *r4 = tl_reshape_3d(ctx, vec(4, 1, (float[]){ 1, 2, 3, 4 }), 4, 1, 1);
    float c1 = cosf(1), s1 = sinf(1), c2 = cosf(0.01f), s2 = sinf(0.01f);
    expect("rope neox D=4 pos 1", tl_rope(ctx, r4, pos, (struct tl_rope_params){ .mode = TL_ROPE_NEOX, .n_dims = 4, .freq_base = 10000 }),
           (float[]){ 1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2 }, 4, 1e-6);

    // The same with YaRN factor 4, ramp [0, 1]: pair 0 keeps its frequency, pair 1 (r = 1)
    // is interpolated to 0.01 / 4; cos/sin scaled by attn_factor 2
    float c3 = 2 * cosf(0.0025f), s3 = 2 * sinf(0.0025f);
    expect("rope neox yarn",
           tl_rope(ctx, r4, pos, (struct tl_rope_params){ .mode = TL_ROPE_NEOX, .n_dims = 4, .freq_base = 10000, .attn_factor = 2,
                                                          .yarn_factor = 4, .yarn_low = 0, .yarn_high = 1 }),
           (float[]){ 2 * (1 * c1 - 3 * s1), 2 * c3 - 4 * s3, 2 * (3 * c1 + 1 * s1), 4 * c3 + 2 * s3 }, 4, 1e-6);

    // mRoPE, D = 8 (4 pairs), sections [1,2,1]: pair 0 from t, pairs 1-2 from h, pair 3 from w;
    // positions t=1, h=2, w=3; theta_i = 100^(-2i/8) = 100^(-i/4)
    struct tl_tensor *mpos = tl_new_tensor_1d(ctx, TL_I32, 3);
    memcpy(mpos->data, (int32_t[]){ 1, 2, 3 }, 12);
    struct tl_tensor *m8 = tl_reshape_3d(ctx, vec(8, 1, (float[]){ 1, 0, 0, 0, 0, 1, 1, 1 }), 8, 1, 1);
    float a0 = 1, a1 = 2 * powf(100, -0.25f), a2 = 2 * powf(100, -0.5f), a3 = 3 * powf(100, -0.75f);
    // x = (1,0,0,0 | 0,1,1,1): y_i = x_i cos - x_{i+4} sin; y_{i+4} = x_{i+4} cos + x_i sin
    expect("mrope sections [1,2,1]",
           tl_rope(ctx, m8, mpos, (struct tl_rope_params){ .mode = TL_ROPE_MROPE, .n_dims = 8, .sections = { 1, 2, 1, 0 }, .freq_base = 100 }),
           (float[]){ cosf(a0), -sinf(a1), -sinf(a2), -sinf(a3), sinf(a0), cosf(a1), cosf(a2), cosf(a3) }, 8, 1e-6);

    // Vision rope, head 8, n_dims 4 ([2,2]): pairs (i, i+4); pairs 0-1 from y=2, 2-3 from x=5,
    // frequency j within the section: base^(-2j/4) with base 100
    struct tl_tensor *vpos = tl_new_tensor_1d(ctx, TL_I32, 2);
    memcpy(vpos->data, (int32_t[]){ 2, 5 }, 8);
    struct tl_tensor *v8 = tl_reshape_3d(ctx, vec(8, 1, (float[]){ 1, 1, 1, 1, 0, 0, 0, 0 }), 8, 1, 1);
    float b0 = 2, b1 = 2 * 0.1f, b2 = 5, b3 = 5 * 0.1f;
    expect("vision rope [2,2]",
           tl_rope(ctx, v8, vpos, (struct tl_rope_params){ .mode = TL_ROPE_VISION, .n_dims = 4, .sections = { 2, 2 }, .freq_base = 100 }),
           (float[]){ cosf(b0), cosf(b1), cosf(b2), cosf(b3), sinf(b0), sinf(b1), sinf(b2), sinf(b3) }, 8, 1e-6);

    // attention, one query [1,0], keys [1,0],[0,1], values [1,2],[3,4], scale 1:
    // weights softmax([1,0]) = [e/(1+e), 1/(1+e)] -> [1 + 2/(1+e), 2 + 2/(1+e)]
    struct tl_tensor *q = tl_reshape_3d(ctx, vec(2, 1, (float[]){ 1, 0 }), 2, 1, 1);
    struct tl_tensor *k = tl_reshape_3d(ctx, vec(2, 2, (float[]){ 1, 0, 0, 1 }), 2, 2, 1);
    struct tl_tensor *v = tl_reshape_3d(ctx, vec(2, 2, (float[]){ 1, 2, 3, 4 }), 2, 2, 1);
    float w1 = 1 / (1 + expf(1));
    expect("attention 1 query 2 keys", tl_flash_attn(ctx, q, k, v, NULL, NULL, (struct tl_attn_params){ .scale = 1 }),
           (float[]){ 1 + 2 * w1, 2 + 2 * w1 }, 2, 1e-6);
    expect("attention causal sees key 0", tl_flash_attn(ctx, q, k, v, NULL, NULL, (struct tl_attn_params){ .scale = 1, .causal = true }),
           (float[]){ 1, 2 }, 2, 0);

    // half precision bit patterns
    check(tl_fp32_to_fp16(1.0f) == 0x3c00, "fp16(1) = 0x3c00");
    check(tl_fp32_to_fp16(65504.0f) == 0x7bff, "fp16(65504) = 0x7bff (max)");
    check(tl_fp32_to_fp16(65520.0f) == 0x7c00, "fp16(65520) rounds to inf");
    check(tl_fp32_to_fp16(2049.0f) == tl_fp32_to_fp16(2048.0f), "fp16(2049) ties to even 2048");
    check(tl_fp32_to_fp16(2051.0f) == tl_fp32_to_fp16(2052.0f), "fp16(2051) ties to even 2052");
    check(tl_fp32_to_fp16(5.9604645e-8f) == 0x0001, "fp16(2^-24) = 0x0001 (smallest subnormal)");
    check(tl_fp32_to_fp16(1e-9f) == 0, "fp16(1e-9) underflows to 0");
    check(tl_fp16_to_fp32(0x0001) == 5.9604645e-8f, "fp32(0x0001) = 2^-24");
    check(tl_fp16_to_fp32(0xc000) == -2.0f, "fp32(0xc000) = -2");
    check(isnan(tl_fp16_to_fp32(tl_fp32_to_fp16(NAN))), "fp16 NaN stays NaN");
    int roundtrip_ok = 1;
    for (uint32_t h = 0; h < 0x10000; h++) {   // every finite half survives f32 and back
        if ((h & 0x7c00) == 0x7c00) continue;
        if (tl_fp32_to_fp16(tl_fp16_to_fp32((uint16_t)h)) != h) roundtrip_ok = 0;
    }
    check(roundtrip_ok, "fp16 -> fp32 -> fp16 exact for all 63488 finite halves");
    check(tl_fp32_to_bf16(1.0f) == 0x3f80, "bf16(1) = 0x3f80");
    check(tl_fp32_to_bf16(1.00390625f) == 0x3f80, "bf16(1 + 2^-8) ties to even 0x3f80");
    check(tl_fp32_to_bf16(1.01171875f) == 0x3f82, "bf16(1 + 3*2^-8) ties to even 0x3f82");
    check(isnan(tl_bf16_to_fp32(tl_fp32_to_bf16(NAN))), "bf16 NaN stays NaN");

    tl_free(ctx);
    return test_summary("test-reference");
}
