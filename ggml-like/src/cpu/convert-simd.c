// Fast row conversion between F32, F16 and BF16 (tl_cpu_convert), in the vector
// vocabulary of simd.h, built once per ISA. Rounding is to nearest even, like the
// reference conversions of the type-traits table; tests compare the two bit for bit.
#include "cpu-impl.h"
#include "simd.h"

static inline vf load_as_f32(enum tl_type t, const void *p, int64_t i) {
    switch (t) {
    case TL_F16: return vload_f16((const uint16_t *)p + i);
    case TL_BF16: return vload_bf16((const uint16_t *)p + i);
    default: return vload((const float *)p + i);
    }
}

static inline void store_from_f32(enum tl_type t, void *p, int64_t i, vf v) {
    switch (t) {
    case TL_F16: vstore_f16((uint16_t *)p + i, v); break;
    case TL_BF16: vstore_bf16((uint16_t *)p + i, v); break;
    default: vstore((float *)p + i, v); break;
    }
}

static void convert_row(enum tl_type st, const void *src, enum tl_type dt, void *dst, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) store_from_f32(dt, dst, i, load_as_f32(st, src, i));
    if (i < n) {   // the tail through the reference conversions
        const struct tl_type_traits *s = tl_type_traits(st), *d = tl_type_traits(dt);
        float tmp[64];
        for (; i < n; i += 64) {
            int64_t k = n - i < 64 ? n - i : 64;
            s->to_float((const char *)src + i * s->type_size, tmp, k);
            d->from_float(tmp, (char *)dst + i * d->type_size, k);
        }
    }
}

void ISA_FN(tl_cpu_register_convert)(struct tl_cpu_kernels *k) { k->convert = convert_row; }
