// Float arithmetic that gives the CPU's bits. Vulkan rounds +, - and * correctly but lets
// a division be 2.5 ulps off and a half conversion round either way, so these build
// correctly rounded results from the exact operations. Every step is `precise`: no fused
// multiply-add, no reassociation. Normal floats only (a device may flush subnormals).

// a * b == prod + err exactly (Dekker's product, Veltkamp's split at 12 bits).
void two_product(float a, float b, out float prod, out float err) {
    precise float p = a * b;
    precise float ca = 4097.0 * a, cb = 4097.0 * b;
    precise float ah = ca - (ca - a), bh = cb - (cb - b);
    precise float al = a - ah, bl = b - bh;
    precise float e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    prod = p;
    err = e;
}

// |a - b * c| with one rounding: a - prod is exact (Sterbenz) for c near a / b.
float residual(float a, float b, float c) {
    float prod, err;
    two_product(b, c, prod, err);
    precise float r = (a - prod) - err;
    return abs(r);
}

// a / b rounded to nearest even, as the CPU divides, for a, b > 0. The device's quotient
// is within 3 ulps; of the 7 floats around it the nearest to a / b has the smallest
// residual (a / b is never a midpoint, and no two residuals are close enough for the
// residual's own rounding to swap them).
float div_rn(float a, float b) {
    float q = a / b, best = q, best_r = residual(a, b, q);
    int bits = floatBitsToInt(q);
    for (int k = -3; k <= 3; k++) {
        float c = intBitsToFloat(bits + k), r = residual(a, b, c);
        if (k != 0 && r < best_r) {
            best = c;
            best_r = r;
        }
    }
    return best;
}

// IEEE binary16 bits of f, round to nearest even (tl_fp32_to_fp16, bit for bit).
uint f32_to_f16_bits(float f) {
    uint x = floatBitsToUint(f);
    uint sign = (x >> 16) & 0x8000u, man = x & 0x7fffffu;
    int e = int((x >> 23) & 0xffu) - 127 + 15;
    if (e == 0xff - 127 + 15) return sign | 0x7c00u | (man != 0u ? 0x200u : 0u);
    if (e >= 0x1f) return sign | 0x7c00u;
    if (e <= 0) {   // subnormal half (or zero): the implicit 1 shifted into place
        if (e < -10) return sign;
        man |= 0x800000u;
        uint shift = uint(14 - e), h = man >> shift;
        uint rem = man & ((1u << shift) - 1u), half_ulp = 1u << (shift - 1u);
        if (rem > half_ulp || (rem == half_ulp && (h & 1u) != 0u)) h++;
        return sign | h;
    }
    uint h = (uint(e) << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) h++;   // may carry into the exponent: correct
    return sign | h;
}
