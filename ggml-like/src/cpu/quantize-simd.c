// The activation quantizers of quantized mul_mat (Q8_0, Q8_K) in the vector vocabulary of
// simd.h, built once per ISA. In a GEMV every thread quantizes the whole activation row
// for itself before its rows start, so the scalar reference (~25 us for 4096 values)
// would cost a tenth of a 4096x4096 4-bit GEMV. The same operations in the same order
// as the reference quantizers (quant-legacy.c, quant-k.c): bytes identical for finite
// input (tests compare them).
#include "cpu-impl.h"
#include "simd.h"
#include "quants/quants.h"
#include "qmatmul.h"

#if VL > 1

// Round half away from zero (C's roundf), exactly: v - trunc(v) is exact in float.
static inline vf round_half_away(vf v) {
    vf t = vtrunc(v);
    vf frac = vabs(vsub(v, t));
    return vadd(t, vselect_ge(frac, vset1(0.5f), vneg_if_neg(v, vset1(1.0f))));
}

static void quantize_q8_0_rows(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        vf amax = vzero();
        for (int j = 0; j < 32; j += VL) amax = vmax(amax, vabs(vload(x + j)));
        const float d = vhmax(amax) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = tl_fp32_to_fp16(d);
        for (int j = 0; j < 32; j += VL) vstore_i8(y[b].qs + j, round_half_away(vmul(vload(x + j), vset1(id))));
    }
}

static void quantize_q8_K_rows(const float *x, block_q8_K *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        vf vmaxabs = vzero();
        for (int j = 0; j < QK_K; j += VL) vmaxabs = vmax(vmaxabs, vabs(vload(x + j)));
        const float amax = vhmax(vmaxabs);
        memset(&y[b], 0, sizeof y[b]);
        if (!amax) continue;
        int first = 0;   // the reference keeps the sign of the first value of largest magnitude
        while (fabsf(x[first]) != amax) first++;
        const float iscale = -127.f / x[first];
        for (int j = 0; j < QK_K; j += VL) vstore_i8(y[b].qs + j, vmin(vround(vmul(vset1(iscale), vload(x + j))), vset1(127)));
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1 / iscale;
    }
}

void ISA_FN(tl_cpu_quantize_activations)(enum tl_type t, const float *x, void *y, int64_t n) {
    if (t == TL_Q8_0) quantize_q8_0_rows(x, y, n);
    else if (t == TL_Q8_K) quantize_q8_K_rows(x, y, n);
    else tl_type_traits(t)->from_float(x, y, n);
}

#else

void ISA_FN(tl_cpu_quantize_activations)(enum tl_type t, const float *x, void *y, int64_t n) {
    tl_type_traits(t)->from_float(x, y, n);
}

#endif

void ISA_FN(tl_cpu_register_quantize)(struct tl_cpu_kernels *k) { k->quantize = ISA_FN(tl_cpu_quantize_activations); }
