// tl_cpu_convert (F32 <-> F16 <-> BF16 rows, used by the converter) against the
// reference conversions of the type-traits table, bit for bit, per ISA: random values
// over the whole exponent range, exact rounding ties, subnormals, overflow to infinity,
// signed zeros, infinities and NaNs (which must stay NaNs; payloads may differ).
#include "test-util.h"

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static void fill_values(float *v, int64_t n) {
    const float special[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 65504.0f, 65520.0f, -65520.0f, 65519.99f,
                              6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 1e-40f, -1e-45f, 3.4028235e38f,
                              from_bits(0x3f808000u), from_bits(0x3f818000u),   // bf16 ties: to even down / up
                              from_bits(0x3f801000u), from_bits(0x3f803000u),   // f16 ties
                              from_bits(0x7f7fffffu), from_bits(0x7f800001u) }; // largest finite, signalling NaN
    int64_t ns = (int64_t)(sizeof special / sizeof special[0]);
    for (int64_t i = 0; i < n; i++) {
        if (i < ns) v[i] = special[i];
        else if (i % 3 == 0) v[i] = from_bits((uint32_t)rng_u64());                 // any bit pattern
        else if (i % 3 == 1) v[i] = rng_uniform(-1, 1) * ldexpf(1, (int)rng_int(-30, 20));
        else v[i] = from_bits(((uint32_t)rng_u64() & 0xffff0000u) | 0x8000u);       // bf16 ties
    }
}

static bool same(enum tl_type t, const void *a, const void *b, int64_t i) {
    if (t == TL_F32) {
        float x = ((const float *)a)[i], y = ((const float *)b)[i];
        return (isnan(x) && isnan(y)) || !memcmp(&x, &y, 4);
    }
    uint16_t x = ((const uint16_t *)a)[i], y = ((const uint16_t *)b)[i];
    float fx = t == TL_F16 ? tl_fp16_to_fp32(x) : tl_bf16_to_fp32(x);
    float fy = t == TL_F16 ? tl_fp16_to_fp32(y) : tl_bf16_to_fp32(y);
    return (isnan(fx) && isnan(fy)) || x == y;
}

int main(int argc, char **argv) {
    enum tl_cpu_isa isas[TL_ISA_COUNT];
    int n_isas = test_isas(argc, argv, isas);
    const int64_t n = 10007;   // not a multiple of any vector width: the tail is covered
    float *f = malloc(n * sizeof *f);
    uint8_t *src = malloc(n * 4), *fast = malloc(n * 4), *ref = malloc(n * 4);
    rng_seed(5);
    fill_values(f, n);
    enum tl_type types[3] = { TL_F32, TL_F16, TL_BF16 };
    for (int k = 0; k < n_isas; k++) {
        tl_cpu_set_isa(isas[k]);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
                const struct tl_type_traits *sa = tl_type_traits(types[a]), *sb = tl_type_traits(types[b]);
                sa->from_float(f, src, n);
                float *tmp = malloc(n * sizeof *tmp);
                sa->to_float(src, tmp, n);
                sb->from_float(tmp, ref, n);
                free(tmp);
                tl_cpu_convert(types[a], src, types[b], fast, n);
                int64_t bad = 0, first = -1;
                for (int64_t i = 0; i < n; i++)
                    if (!same(types[b], fast, ref, i)) {
                        if (first < 0) first = i;
                        bad++;
                    }
                check(bad == 0, "%s: %s -> %s, %lld values bit-identical to the reference%s", tl_cpu_isa_name(isas[k]),
                      sa->name, sb->name, (long long)n, bad ? " (NOT)" : "");
                if (bad) printf("     %lld differ, first at %lld (%g)\n", (long long)bad, (long long)first, f[first]);
            }
    }
    free(f);
    free(src);
    free(fast);
    free(ref);
    return test_summary("cast");
}
