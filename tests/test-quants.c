// The block formats: GGUF bytes for a known input, the layouts decoded independently,
// round-trip error on Gaussian and heavy-tailed data within stated bounds, the K
// quantizers' final rounding, and the reference dot products against dequantized math.
#include "test-util.h"
#include "quants/blocks.h"

// 32 values and the bytes GGUF's reference quantizers write for them, computed by an
// independent float32 (NumPy) transcription of the published block formats.
static const float known_x[32] = {
    0.f, 2.18265295f, 3.45634913f, 3.33962822f, 2.00496459f, -1.05234969f, -2.36472702f, -4.75f,
    -1.14380014f, 1.05044079f, 1.97095978f, 3.21450448f, 3.06379724f, 1.70729661f, -0.099437952f,
    -2.6390872f, -2.68753338f, -1.35441232f, 0.85086745f, 3.00870967f, 2.97182226f, 2.78724074f,
    1.40935612f, -0.396215439f, -1.66270018f, -2.92687798f, -1.56450117f, 0.651266932f, 2.79589176f,
    3.9782989f, 2.50996685f, 1.11116123f,
};
static const uint8_t known_q4_0[18] = {
    0xc0, 0x38, 0x38, 0x6c, 0x9e, 0xde, 0xdb, 0xd6, 0xa4, 0x70, 0x56, 0x3a, 0x5b, 0x9d, 0xdd, 0xfb, 0xc8, 0xa4,
};
static const uint8_t known_q4_1[20] = {
    0xa8, 0x38, 0xc0, 0xc4, 0x48, 0x6c, 0xae, 0xde, 0xdc, 0xd6, 0xb4, 0x70, 0x56, 0x3a, 0x5c, 0x9e, 0xdd,
    0xfb, 0xc8, 0xa4,
};
static const uint8_t known_q8_0[34] = {
    0xca, 0x28, 0x00, 0x3a, 0x5c, 0x59, 0x36, 0xe4, 0xc1, 0x81, 0xe1, 0x1c, 0x35, 0x56, 0x52, 0x2e, 0xfd,
    0xb9, 0xb8, 0xdc, 0x17, 0x50, 0x4f, 0x4b, 0x26, 0xf5, 0xd4, 0xb2, 0xd6, 0x11, 0x4b, 0x6a, 0x43, 0x1e,
};

static void test_known_bytes(void) {
    struct { enum tl_type t; const uint8_t *want; size_t n; } cases[] = {
        { TL_Q4_0, known_q4_0, sizeof known_q4_0 },
        { TL_Q4_1, known_q4_1, sizeof known_q4_1 },
        { TL_Q8_0, known_q8_0, sizeof known_q8_0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t got[64];
        tl_type_traits(cases[c].t)->from_float(known_x, got, 32);
        int first_diff = -1;
        for (size_t i = 0; i < cases[c].n && first_diff < 0; i++)
            if (got[i] != cases[c].want[i]) first_diff = (int)i;
        check(first_diff < 0 && tl_type_traits(cases[c].t)->type_size == cases[c].n,
              "%s: GGUF bytes for the known block (first difference at byte %d)", tl_type_name(cases[c].t), first_diff);
    }
}

// ---------------------------------------------------------------------------------------
// Layouts, decoded the way the format descriptions walk them (chunk by chunk, shift by
// shift), independent of the library's index arithmetic.

static void decode_q4_K(const block_q4_K *x, float *y) {
    const float d = tl_fp16_to_fp32(x->d), dmin = tl_fp16_to_fp32(x->dmin);
    const uint8_t *q = x->qs;
    for (int chunk = 0; chunk < 4; chunk++, q += 32) {
        uint8_t sc[2], m[2];
        k_scale_min(2 * chunk, x->scales, &sc[0], &m[0]);
        k_scale_min(2 * chunk + 1, x->scales, &sc[1], &m[1]);
        for (int l = 0; l < 32; l++) *y++ = d * sc[0] * (q[l] & 0xF) - dmin * m[0];
        for (int l = 0; l < 32; l++) *y++ = d * sc[1] * (q[l] >> 4) - dmin * m[1];
    }
}

static void decode_q5_K(const block_q5_K *x, float *y) {
    const float d = tl_fp16_to_fp32(x->d), dmin = tl_fp16_to_fp32(x->dmin);
    const uint8_t *q = x->qs;
    uint8_t u1 = 1, u2 = 2;
    for (int chunk = 0; chunk < 4; chunk++, q += 32, u1 <<= 2, u2 <<= 2) {
        uint8_t sc[2], m[2];
        k_scale_min(2 * chunk, x->scales, &sc[0], &m[0]);
        k_scale_min(2 * chunk + 1, x->scales, &sc[1], &m[1]);
        for (int l = 0; l < 32; l++) *y++ = d * sc[0] * ((q[l] & 0xF) + (x->qh[l] & u1 ? 16 : 0)) - dmin * m[0];
        for (int l = 0; l < 32; l++) *y++ = d * sc[1] * ((q[l] >> 4) + (x->qh[l] & u2 ? 16 : 0)) - dmin * m[1];
    }
}

static void decode_q6_K(const block_q6_K *x, float *y) {
    const float d = tl_fp16_to_fp32(x->d);
    const uint8_t *ql = x->ql, *qh = x->qh;
    const int8_t *sc = x->scales;
    for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            y[l] = d * sc[is] * ((int8_t)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
            y[l + 32] = d * sc[is + 2] * ((int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            y[l + 64] = d * sc[is + 4] * ((int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            y[l + 96] = d * sc[is + 6] * ((int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
}

static void test_layouts(void) {
    // random bytes are valid blocks of every format (finite fp16 scales forced)
    enum tl_type types[] = { TL_Q4_K, TL_Q5_K, TL_Q6_K };
    for (int ti = 0; ti < 3; ti++) {
        const struct tl_type_traits *tt = tl_type_traits(types[ti]);
        int bad = 0;
        for (int rep = 0; rep < 200; rep++) {
            uint8_t blk[256];
            for (size_t i = 0; i < tt->type_size; i++) blk[i] = (uint8_t)rng_u64();
            uint16_t d = (uint16_t)(0x2000 + rng_int(0, 0x1000)), dmin = (uint16_t)(0x2000 + rng_int(0, 0x1000));
            float got[256], want[256];
            if (types[ti] == TL_Q6_K) {
                memcpy(blk + 208, &d, 2);
                decode_q6_K((const block_q6_K *)blk, want);
            } else {
                memcpy(blk, &d, 2);
                memcpy(blk + 2, &dmin, 2);
                if (types[ti] == TL_Q4_K) decode_q4_K((const block_q4_K *)blk, want);
                else decode_q5_K((const block_q5_K *)blk, want);
            }
            tt->to_float(blk, got, 256);
            for (int i = 0; i < 256; i++) bad += got[i] != want[i];
        }
        check(bad == 0, "%s: layout decoded as the format describes (%d mismatches in 200 random blocks)", tt->name, bad);
    }
    // Q4_0: element j is the low nibble of byte j, element j+16 the high nibble
    block_q4_0 b = { tl_fp32_to_fp16(0.5f), { 0 } };
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    tl_type_traits(TL_Q4_0)->to_float(&b, y, 32);
    int ok = 1;
    for (int j = 0; j < 16; j++) ok &= y[j] == (j - 8) * 0.5f && y[j + 16] == (7 - j) * 0.5f;
    check(ok, "q4_0: nibble order (low = first half, high = second half)");
}

// ---------------------------------------------------------------------------------------
// Round trip: RMSE / RMS of dequantize(quantize(x)).

static float gaussian(void) {
    float u1 = rng_uniform(1e-7f, 1), u2 = rng_uniform(0, 1);
    return sqrtf(-2 * logf(u1)) * cosf(6.2831853f * u2);
}
// Student's t with 3 degrees of freedom: heavy tails like real weight outliers.
static float heavy_tailed(void) {
    float g = gaussian(), c = 0;
    for (int i = 0; i < 3; i++) {
        float z = gaussian();
        c += z * z;
    }
    return g / sqrtf(c / 3);
}

static double round_trip_error(enum tl_type t, const float *x, int64_t n) {
    const struct tl_type_traits *tt = tl_type_traits(t);
    void *q = malloc(tl_row_size(t, n));
    float *y = malloc(n * sizeof(float));
    tt->from_float(x, q, n);
    tt->to_float(q, y, n);
    double se = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) {
        se += (double)(y[i] - x[i]) * (y[i] - x[i]);
        ss += (double)x[i] * x[i];
    }
    free(q);
    free(y);
    return sqrt(se / ss);
}

static void test_round_trip(void) {
    // bounds: 1.15x what these formats measured on this data (README, "Block formats");
    // the order Q8_0 < Q6_K < Q5_K < Q4_K < Q4_1 < Q4_0 is checked too
    struct { enum tl_type t; double gauss, heavy; } cases[] = {
        { TL_Q8_0, 0.0062, 0.0098 }, { TL_Q6_K, 0.0205, 0.0303 }, { TL_Q5_K, 0.0417, 0.0543 },
        { TL_Q4_K, 0.0822, 0.1080 }, { TL_Q4_1, 0.0903, 0.1160 }, { TL_Q4_0, 0.0992, 0.1500 },
        { TL_Q8_K, 0.0080, 0.0209 },
    };
    const int64_t n = 256 * 256;
    float *g = malloc(n * sizeof(float)), *h = malloc(n * sizeof(float));
    rng_seed(5);
    for (int64_t i = 0; i < n; i++) {
        g[i] = gaussian() * 0.02f;
        h[i] = heavy_tailed() * 0.02f;
    }
    double prev = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double eg = round_trip_error(cases[c].t, g, n), eh = round_trip_error(cases[c].t, h, n);
        if (cases[c].t != TL_Q8_K) {
            check(eg > prev, "%s: more bits, less error (%.5f after %.5f)", tl_type_name(cases[c].t), eg, prev);
            prev = eg;
        }
        check(eg <= cases[c].gauss, "%s: round trip RMSE/RMS on Gaussian data %.5f <= %.4f", tl_type_name(cases[c].t), eg,
              cases[c].gauss);
        check(eh <= cases[c].heavy, "%s: round trip RMSE/RMS on t(3) data %.5f <= %.4f", tl_type_name(cases[c].t), eh,
              cases[c].heavy);
    }
    free(g);
    free(h);
}

// Degenerate inputs: zeros give zero blocks, constants and single spikes survive.
static void test_degenerate(void) {
    enum tl_type types[] = { TL_Q4_0, TL_Q4_1, TL_Q8_0, TL_Q4_K, TL_Q5_K, TL_Q6_K };
    for (int ti = 0; ti < 6; ti++) {
        const struct tl_type_traits *tt = tl_type_traits(types[ti]);
        float x[256] = { 0 }, y[256];
        uint8_t q[512];   // 256 values take up to 272 bytes (q8_0)
        tt->from_float(x, q, 256);
        tt->to_float(q, y, 256);
        int zero = 1;
        for (int i = 0; i < 256; i++) zero &= y[i] == 0;
        x[77] = 3.0f;
        tt->from_float(x, q, 256);
        tt->to_float(q, y, 256);
        int spike = fabsf(y[77] - 3.0f) < 0.03f;
        for (int i = 0; i < 256; i++) spike &= i == 77 || fabsf(y[i]) < 0.03f;
        check(zero && spike, "%s: zeros stay zeros, a single spike survives (got %g)", tt->name, y[77]);
    }
}

// ---------------------------------------------------------------------------------------
// Dot products: vec_dot(x, quantize(a)) equals the double-precision dot of the
// dequantized operands (the integer part is exact, only float scaling rounds).

static void test_vec_dot(void) {
    enum tl_type types[] = { TL_Q4_0, TL_Q4_1, TL_Q8_0, TL_Q4_K, TL_Q5_K, TL_Q6_K };
    const int64_t n = 256 * 16;
    float *w = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float));
    float *wd = malloc(n * sizeof(float)), *ad = malloc(n * sizeof(float));
    for (int ti = 0; ti < 6; ti++) {
        const struct tl_type_traits *tt = tl_type_traits(types[ti]), *at = tl_type_traits(tt->vec_dot_type);
        double worst = 0;
        for (int rep = 0; rep < 20; rep++) {
            for (int64_t i = 0; i < n; i++) {
                w[i] = heavy_tailed();
                a[i] = gaussian() * (rep % 2 ? 10.0f : 0.1f);
            }
            void *wq = malloc(tl_row_size(types[ti], n)), *aq = malloc(tl_row_size(tt->vec_dot_type, n));
            tt->from_float(w, wq, n);
            at->from_float(a, aq, n);
            tt->to_float(wq, wd, n);
            at->to_float(aq, ad, n);
            double want = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                want += (double)wd[i] * ad[i];
                mag += fabs((double)wd[i] * ad[i]);
            }
            double got = tt->vec_dot(n, wq, aq);
            worst = fmax(worst, fabs(got - want) / mag);
            free(wq);
            free(aq);
        }
        check(worst < 1e-5, "%s x %s: vec_dot equals the dequantized dot (error %.2e of sum |terms|)", tt->name, at->name,
              worst);
    }
    free(w);
    free(a);
    free(wd);
    free(ad);
}

// The K quantizers end by re-rounding every weight to the nearest level of the stored
// scales: check that property on the bytes (x lies within half a step of its level,
// unless clamped at the ends of the range).
static void test_k_final_rounding(void) {
    const int64_t n = 256 * 32;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    rng_seed(11);
    for (int64_t i = 0; i < n; i++) x[i] = heavy_tailed();
    block_q4_K *q = malloc(n / 256 * sizeof(block_q4_K));
    {
        tl_type_traits(TL_Q4_K)->from_float(x, q, n);
        tl_type_traits(TL_Q4_K)->to_float(q, y, n);
        int bad = 0;
        for (int64_t b = 0; b < n / 256; b++)
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                k_scale_min(j, q[b].scales, &sc, &m);
                float step = tl_fp16_to_fp32(q[b].d) * sc;
                float lo = -tl_fp16_to_fp32(q[b].dmin) * m, hi = lo + 15 * step;
                for (int i = 0; i < 32; i++) {
                    float xv = x[b * 256 + 32 * j + i], yv = y[b * 256 + 32 * j + i];
                    if (step == 0 || xv <= lo || xv >= hi) continue;
                    if (fabsf(xv - yv) > 0.5f * step * 1.0001f) bad++;
                }
            }
        check(bad == 0, "q4_K: every weight is on its nearest stored level (%d off)", bad);
    }
    free(q);
    free(x);
    free(y);
}

// Two rows of ne0 heavy-tailed weights quantized to a file format, their CPU layout,
// and Gaussian activations in the format's dot partner.
struct layout_case {
    enum tl_type file, cpu;
    int64_t ne0;
    size_t bytes, row;   // of the two rows, of one
    uint8_t *q, *x, *aq;
};

static struct layout_case layout_case_new(enum tl_type file, int64_t ne0) {
    struct layout_case lc = { file, tl_type_interleaved(file, ne0), ne0, tl_row_size(file, 2 * ne0), 0, NULL, NULL, NULL };
    const enum tl_type partner = tl_type_traits(file)->vec_dot_type;
    float *w = malloc(2 * ne0 * sizeof(float)), *a = malloc(2 * ne0 * sizeof(float));
    for (int64_t i = 0; i < 2 * ne0; i++) w[i] = heavy_tailed(), a[i] = gaussian();
    lc.row = lc.bytes / 2;
    lc.q = malloc(lc.bytes), lc.x = malloc(lc.bytes), lc.aq = malloc(tl_row_size(partner, 2 * ne0));
    tl_type_traits(file)->from_float(w, lc.q, 2 * ne0);
    tl_type_traits(partner)->from_float(a, lc.aq, 2 * ne0);
    check(lc.cpu != file && tl_row_size(lc.cpu, 2 * ne0) == lc.bytes, "%s (rows of %lld): rows take %s's bytes",
          tl_type_name(lc.cpu), (long long)ne0, tl_type_name(file));
    tl_convert_layout(file, lc.cpu, lc.q, lc.x, 2 * ne0, ne0);
    free(w), free(a);
    return lc;
}

// The round trip back to the file format's bytes, and values and reference dots
// bit-identical to its; frees the case.
static void layout_case_check_equivalent(struct layout_case *lc) {
    const char *name = tl_type_name(lc->cpu), *file = tl_type_name(lc->file);
    const size_t arow = tl_row_size(tl_type_traits(lc->file)->vec_dot_type, lc->ne0);
    uint8_t *back = malloc(lc->bytes);
    float *wd = malloc(lc->ne0 * sizeof(float)), *xd = malloc(lc->ne0 * sizeof(float));
    tl_convert_layout(lc->cpu, lc->file, lc->x, back, 2 * lc->ne0, lc->ne0);
    check(memcmp(back, lc->q, lc->bytes) == 0, "%s -> %s: the original bytes", name, file);
    bool same_values = true, same_dots = true;
    for (int r = 0; r < 2; r++) {
        tl_type_traits(lc->file)->to_float(lc->q + r * lc->row, wd, lc->ne0);
        tl_type_traits(lc->cpu)->to_float(lc->x + r * lc->row, xd, lc->ne0);
        same_values &= memcmp(wd, xd, lc->ne0 * sizeof(float)) == 0;
        float dq = tl_type_traits(lc->file)->vec_dot(lc->ne0, lc->q + r * lc->row, lc->aq + r * arow);
        float dx = tl_type_traits(lc->cpu)->vec_dot(lc->ne0, lc->x + r * lc->row, lc->aq + r * arow);
        same_dots &= dq == dx;
    }
    check(same_values, "%s: dequantizes to %s's values", name, file);
    check(same_dots, "%s: reference dots equal %s's bit for bit", name, file);
    free(back), free(wd), free(xd), free(lc->q), free(lc->x), free(lc->aq);
}

// Q4_0_X16 and Q4_1_X16, the CPU layouts of Q4_0 and Q4_1 (blocks.h): the documented
// byte positions (the groups: all d, Q4_1 then all m, then the code chunks; a tail of file
// blocks where a row is not a multiple of 512), then layout_case_check_equivalent.
static void test_interleaved(enum tl_type file, int64_t ne0) {
    struct layout_case lc = layout_case_new(file, ne0);
    const int nf = file == TL_Q4_0 ? 1 : 2, bsz = 2 * nf + 16, gsz = 16 * bsz;   // fp16 fields, block, group bytes
    const int64_t groups = ne0 / 512, tail = ne0 % 512 / 32;
    int misplaced = 0;
    for (int r = 0; r < 2; r++) {
        const uint8_t *qr = lc.q + r * lc.row, *xr = lc.x + r * lc.row;
        for (int g = 0; g < groups; g++)
            for (int i = 0; i < 16; i++) {
                const uint8_t *b = qr + (16 * g + i) * bsz, *grp = xr + gsz * g;
                for (int f = 0; f < nf; f++)   // field f of the 16 blocks together, block order
                    misplaced += memcmp(grp + 32 * f + 2 * i, b + 2 * f, 2) != 0;
                for (int c = 0; c < 4; c++)    // chunk c, lane i: code bytes 4c..4c+3
                    misplaced += memcmp(grp + 32 * nf + 64 * c + 4 * i, b + 2 * nf + 4 * c, 4) != 0;
            }
        misplaced += memcmp(xr + gsz * groups, qr + 16 * groups * bsz, (size_t)tail * bsz) != 0;   // the tail as is
    }
    check(misplaced == 0, "%s (rows of %lld = %lld groups + %lld blocks): fields and code bytes where blocks.h puts them "
          "(%d misplaced)", tl_type_name(lc.cpu), (long long)ne0, (long long)groups, (long long)tail, misplaced);
    layout_case_check_equivalent(&lc);
}

// Q5_K_X8 and Q5_K_R8 recode the code bytes (blocks.h): where bit t of code j of a
// position sits among the position's five bytes (byte m in the register at 128 + 256 m of
// the group), as {byte, bit}; the count of the lane's codes that differ from block b's.
static const uint8_t q5_bit_at[8][5][2] = {
    { {0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4} }, { {1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4} },
    { {2, 0}, {2, 1}, {2, 2}, {2, 3}, {2, 4} }, { {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4} },
    { {4, 0}, {4, 1}, {4, 2}, {4, 3}, {4, 4} }, { {0, 5}, {0, 6}, {0, 7}, {1, 5}, {1, 6} },
    { {2, 5}, {2, 6}, {2, 7}, {3, 5}, {3, 6} }, { {4, 5}, {4, 6}, {4, 7}, {1, 7}, {3, 7} },
};
static int q5_codes_misplaced(const uint8_t *grp, int i, const block_q5_K *b) {
    int wrong = 0;
    for (int e = 0; e < 32; e++)
        for (int j = 0; j < 8; j++) {
            const int want = (b->qs[32 * (j / 2) + e] >> 4 * (j % 2) & 15) | (b->qh[e] >> j & 1) << 4;   // GGUF's code
            int got = 0;
            for (int t = 0; t < 5; t++)
                got |= (grp[128 + 256 * q5_bit_at[j][t][0] + 32 * (e / 4) + 4 * i + e % 4] >> q5_bit_at[j][t][1] & 1) << t;
            wrong += got != want;
        }
    return wrong;
}

// Q4_K_X8 and Q5_K_X8, the CPU layouts of Q4_K and Q5_K (blocks.h): d and dmin of the 8
// blocks, their scale bytes transposed, the code dwords with one block per lane
// (Q5_K's recoded, q5_bit_at), a tail of file blocks; then layout_case_check_equivalent.
static void test_interleaved_k(enum tl_type file, int64_t ne0) {
    struct layout_case lc = layout_case_new(file, ne0);
    const bool q5 = file == TL_Q5_K;
    const int bsz = q5 ? 176 : 144, gsz = 8 * bsz;
    const int64_t groups = ne0 / 2048, tail = ne0 % 2048 / 256;
    int misplaced = 0;
    for (int r = 0; r < 2; r++) {
        const uint8_t *qr = lc.q + r * lc.row, *xr = lc.x + r * lc.row;
        for (int g = 0; g < groups; g++)
            for (int i = 0; i < 8; i++) {
                const block_q4_K *b = (const block_q4_K *)(qr + (8 * g + i) * bsz);   // d, dmin, scales: same place in Q5_K
                const uint8_t *grp = xr + gsz * g;
                misplaced += memcmp(grp + 2 * i, &b->d, 2) != 0;          // the 8 d
                misplaced += memcmp(grp + 16 + 2 * i, &b->dmin, 2) != 0;  // then the 8 dmin
                for (int k = 0; k < 12; k++) misplaced += grp[32 + 8 * k + i] != b->scales[k];   // row k: byte k of each
                if (q5) misplaced += q5_codes_misplaced(grp, i, (const block_q5_K *)b);
                for (int c = 0; !q5 && c < 4; c++)                        // chunk c, dword v, lane i
                    for (int v = 0; v < 8; v++) misplaced += memcmp(grp + 128 + 256 * c + 32 * v + 4 * i, b->qs + 32 * c + 4 * v, 4) != 0;
            }
        misplaced += memcmp(xr + gsz * groups, qr + gsz * groups, (size_t)tail * bsz) != 0;   // the tail as is
    }
    check(misplaced == 0, "%s (rows of %lld = %lld groups + %lld blocks): fields and code bytes where blocks.h puts them "
          "(%d misplaced)", tl_type_name(lc.cpu), (long long)ne0, (long long)groups, (long long)tail, misplaced);
    layout_case_check_equivalent(&lc);
}

// A panel layout case: 16 rows (2 panels) of ne0 weights of `file`, quantized from
// heavy-tailed data (q) and converted to its panel layout (x), which must be `want`.
struct panel_case {
    enum tl_type file, cpu;
    int64_t ne0, blocks;   // a row's
    size_t row, bytes, block_bytes;
    uint8_t *q, *x;
};

static struct panel_case panel_case_new(enum tl_type file, int64_t ne0, enum tl_type want) {
    const struct tl_type_traits *tt = tl_type_traits(file);
    struct panel_case pc = { file, tl_type_cpu_layout(file, ne0, 16), ne0, ne0 / tt->block_size, tl_row_size(file, ne0),
                             16 * tl_row_size(file, ne0), tt->type_size, NULL, NULL };
    float *w = malloc(16 * ne0 * sizeof(float));
    for (int64_t i = 0; i < 16 * ne0; i++) w[i] = heavy_tailed();
    pc.q = malloc(pc.bytes), pc.x = malloc(pc.bytes);
    tt->from_float(w, pc.q, 16 * ne0);
    check(pc.cpu == want && tl_row_size(pc.cpu, ne0) == pc.row, "%s (rows of %lld): rows take %s's bytes", tl_type_name(pc.cpu),
          (long long)ne0, tl_type_name(file));
    tl_convert_layout(file, pc.cpu, pc.q, pc.x, 16 * ne0, ne0);
    free(w);
    return pc;
}

// Block b of row r in the file's layout, and the group of the panel layout that holds it:
// chunks of PANEL_CHUNK weights, chunk c of both panels before chunk c + 1 (the last chunk
// narrower where the row ends first).
static const uint8_t *panel_case_block(const struct panel_case *pc, int r, int64_t b) {
    return pc->q + r * pc->row + b * pc->block_bytes;
}
static const uint8_t *panel_case_group(const struct panel_case *pc, int r, int64_t b) {
    const int64_t per_chunk = PANEL_CHUNK / (pc->ne0 / pc->blocks), c = b / per_chunk;   // blocks per full chunk
    const int64_t left = pc->blocks - c * per_chunk, in_chunk = left < per_chunk ? left : per_chunk;   // this chunk's, a row
    const size_t group = 8 * pc->block_bytes;
    return pc->x + c * per_chunk * 16 * pc->block_bytes + (r / 8) * in_chunk * group + (b - c * per_chunk) * group;
}

// The count of misplaced bytes, then the round trip back to the file's bytes; frees the case.
static void panel_case_finish(struct panel_case *pc, int misplaced) {
    check(misplaced == 0, "%s (16 rows of %lld): fields and code bytes where blocks.h puts them (%d misplaced)",
          tl_type_name(pc->cpu), (long long)pc->ne0, misplaced);
    uint8_t *back = malloc(pc->bytes);
    tl_convert_layout(pc->cpu, pc->file, pc->x, back, 16 * pc->ne0, pc->ne0);
    check(memcmp(back, pc->q, pc->bytes) == 0, "%s -> %s: the original bytes", tl_type_name(pc->cpu), tl_type_name(pc->file));
    free(back), free(pc->q), free(pc->x);
}

// Q4_K_R8 and Q5_K_R8, the panel layouts of Q4_K and Q5_K (blocks.h): 16 rows (2 panels)
// of ne0, block b of the panel's row i where a Q4_K_X8 group keeps block i, in group b;
// then the round trip to the file's bytes. (Their products: test-quant-matmul.)
static void test_panels_k(enum tl_type file, int64_t ne0) {
    const bool q5 = file == TL_Q5_K;
    struct panel_case pc = panel_case_new(file, ne0, q5 ? TL_Q5_K_R8 : TL_Q4_K_R8);
    int misplaced = 0;
    for (int r = 0; r < 16; r++)
        for (int64_t g = 0; g < pc.blocks; g++) {
            const int i = r % 8;
            const block_q4_K *b = (const block_q4_K *)panel_case_block(&pc, r, g);   // d, dmin, scales: same place in Q5_K
            const uint8_t *grp = panel_case_group(&pc, r, g);
            misplaced += memcmp(grp + 2 * i, &b->d, 2) != 0;          // the 8 rows' d
            misplaced += memcmp(grp + 16 + 2 * i, &b->dmin, 2) != 0;  // then their dmin
            for (int k = 0; k < 12; k++) misplaced += grp[32 + 8 * k + i] != b->scales[k];
            if (q5) misplaced += q5_codes_misplaced(grp, i, (const block_q5_K *)b);
            for (int c = 0; !q5 && c < 4; c++)
                for (int v = 0; v < 8; v++) misplaced += memcmp(grp + 128 + 256 * c + 32 * v + 4 * i, b->qs + 32 * c + 4 * v, 4) != 0;
        }
    panel_case_finish(&pc, misplaced);
}

// Q8_0_X8, the CPU layout of Q8_0 (blocks.h): the 8 d, then the code dwords with one
// block per lane, a tail of file blocks; then layout_case_check_equivalent.
static void test_interleaved_q8(int64_t ne0) {
    struct layout_case lc = layout_case_new(TL_Q8_0, ne0);
    const int bsz = 34, gsz = 8 * bsz;
    const int64_t groups = ne0 / 256, tail = ne0 % 256 / 32;
    int misplaced = 0;
    for (int r = 0; r < 2; r++) {
        const uint8_t *qr = lc.q + r * lc.row, *xr = lc.x + r * lc.row;
        for (int g = 0; g < groups; g++)
            for (int i = 0; i < 8; i++) {
                const block_q8_0 *b = (const block_q8_0 *)(qr + (8 * g + i) * bsz);
                const uint8_t *grp = xr + gsz * g;
                misplaced += memcmp(grp + 2 * i, &b->d, 2) != 0;   // the 8 d
                for (int v = 0; v < 8; v++)                         // chunk v, lane i: code bytes 4v..4v+3
                    misplaced += memcmp(grp + 16 + 32 * v + 4 * i, b->qs + 4 * v, 4) != 0;
            }
        misplaced += memcmp(xr + gsz * groups, qr + gsz * groups, (size_t)tail * bsz) != 0;   // the tail as is
    }
    check(misplaced == 0, "%s (rows of %lld = %lld groups + %lld blocks): fields and code bytes where blocks.h puts them "
          "(%d misplaced)", tl_type_name(lc.cpu), (long long)ne0, (long long)groups, (long long)tail, misplaced);
    layout_case_check_equivalent(&lc);
}

// Q4_0_R8, Q4_1_R8 and Q8_0_R8, the panel layouts of Q4_0, Q4_1 and Q8_0 (blocks.h): 16
// rows (2 panels) of ne0; in group b, the fp16 fields of the panel's row i (d, Q4_1's m)
// at 2i of each 16-byte field run, then code dword v of its block b at 32v + 4i; then the
// round trip to the file's bytes. (Their products: test-quant-matmul.)
static void test_panels_legacy(enum tl_type file, int64_t ne0) {
    const enum tl_type want = file == TL_Q4_0 ? TL_Q4_0_R8 : file == TL_Q4_1 ? TL_Q4_1_R8 : TL_Q8_0_R8;
    struct panel_case pc = panel_case_new(file, ne0, want);
    const int nf = file == TL_Q4_1 ? 2 : 1, code_bytes = (int)pc.block_bytes - 2 * nf;
    int misplaced = 0;
    for (int r = 0; r < 16; r++)
        for (int64_t g = 0; g < pc.blocks; g++) {
            const int i = r % 8;
            const uint8_t *b = panel_case_block(&pc, r, g), *grp = panel_case_group(&pc, r, g);
            for (int f = 0; f < nf; f++) misplaced += memcmp(grp + 16 * f + 2 * i, b + 2 * f, 2) != 0;   // d (then m)
            for (int v = 0; v < code_bytes / 4; v++)   // chunk v, lane i: code bytes 4v..4v+3
                misplaced += memcmp(grp + 16 * nf + 32 * v + 4 * i, b + 2 * nf + 4 * v, 4) != 0;
        }
    panel_case_finish(&pc, misplaced);
}

// Q6_K_R8, the panel layout of Q6_K (blocks.h): 16 rows (2 panels) of ne0; in group b,
// row i's d at 2i, its scale k at 16 + 8k + i, and in triple t = 8h + m (96 bytes from
// 144 on) its ql dwords 16h + m and 16h + m + 8 and its qh dword 8h + m at 4i of the
// triple's three chunks; then the round trip to the file's bytes.
static void test_panels_q6_K(int64_t ne0) {
    struct panel_case pc = panel_case_new(TL_Q6_K, ne0, TL_Q6_K_R8);
    int misplaced = 0;
    for (int r = 0; r < 16; r++)
        for (int64_t g = 0; g < pc.blocks; g++) {
            const int i = r % 8;
            const block_q6_K *b = (const block_q6_K *)panel_case_block(&pc, r, g);
            const uint8_t *grp = panel_case_group(&pc, r, g);
            misplaced += memcmp(grp + 2 * i, &b->d, 2) != 0;
            for (int k = 0; k < 16; k++) misplaced += grp[16 + 8 * k + i] != (uint8_t)b->scales[k];
            for (int h = 0; h < 2; h++)
                for (int m = 0; m < 8; m++) {
                    const uint8_t *triple = grp + 144 + 96 * (8 * h + m) + 4 * i;
                    misplaced += memcmp(triple, b->ql + 4 * (16 * h + m), 4) != 0;
                    misplaced += memcmp(triple + 32, b->ql + 4 * (16 * h + m + 8), 4) != 0;
                    misplaced += memcmp(triple + 64, b->qh + 4 * (8 * h + m), 4) != 0;
                }
        }
    panel_case_finish(&pc, misplaced);
}

int main(void) {
    test_known_bytes();
    test_layouts();
    test_round_trip();
    test_degenerate();
    test_vec_dot();
    test_k_final_rounding();
    for (int i = 0; i < 2; i++) {
        enum tl_type file = i == 0 ? TL_Q4_0 : TL_Q4_1;
        test_interleaved(file, 3 * 512);        // whole groups (the 7B model's rows: 3584, 18944)
        test_interleaved(file, 3 * 512 + 160);  // and a tail of 5 blocks (the 3B FFN-down's 11008 has 8)
    }
    for (int i = 0; i < 2; i++) {
        enum tl_type file = i == 0 ? TL_Q4_K : TL_Q5_K;
        test_interleaved_k(file, 2048);   // one group
        test_interleaved_k(file, 3584);   // one group and a tail of 6 blocks (the 7B model's hidden size)
        test_panels_k(file, 3584);
        test_panels_k(file, 256);
    }
    test_interleaved_q8(3584);   // 14 groups (the 7B model's hidden size)
    test_interleaved_q8(1376);   // 5 groups and a tail of 3 blocks
    test_panels_q6_K(3584);
    test_panels_q6_K(256);
    for (int i = 0; i < 3; i++) {
        enum tl_type file = i == 0 ? TL_Q4_0 : i == 1 ? TL_Q4_1 : TL_Q8_0;
        test_panels_legacy(file, 3584);   // two chunks (2048 + 1536)
        test_panels_legacy(file, 18944);  // ten (9 x 2048 + 512)
        test_panels_legacy(file, 32);     // one block a row
    }
    enum tl_type t;
    check(tl_type_interleaved(TL_Q4_0, 3584) == TL_Q4_0_X16 && tl_type_interleaved(TL_Q4_0, 1280) == TL_Q4_0_X16 &&
              tl_type_interleaved(TL_Q4_1, 3584) == TL_Q4_1_X16 && tl_type_interleaved(TL_Q4_1, 480) == TL_Q4_1 &&
              tl_type_interleaved(TL_Q4_0, 480) == TL_Q4_0 && tl_type_interleaved(TL_Q8_0, 4096) == TL_Q8_0_X8 &&
              tl_type_interleaved(TL_Q8_0, 256) == TL_Q8_0_X8 && tl_type_interleaved(TL_Q8_0, 224) == TL_Q8_0 &&
              tl_type_interleaved(TL_Q4_K, 1792) == TL_Q4_K && tl_type_interleaved(TL_Q4_K, 2048) == TL_Q4_K_X8 &&
              tl_type_interleaved(TL_Q5_K, 1792) == TL_Q5_K && tl_type_interleaved(TL_Q5_K, 3584) == TL_Q5_K_X8 &&
              tl_type_interleaved(TL_Q6_K, 4096) == TL_Q6_K && tl_type_interleaved(TL_F32, 4096) == TL_F32,
          "tl_type_interleaved: Q4_0 and Q4_1 rows of at least 512 elements, Q4_K and Q5_K rows of at least 2048, Q8_0 "
          "rows of at least 256, only");
    check(tl_type_cpu_layout(TL_Q4_K, 3584, 18944) == TL_Q4_K_R8 && tl_type_cpu_layout(TL_Q5_K, 256, 8) == TL_Q5_K_R8 &&
              tl_type_cpu_layout(TL_Q4_K, 3584, 12) == TL_Q4_K_X8 && tl_type_cpu_layout(TL_Q4_K, 1792, 12) == TL_Q4_K &&
              tl_type_cpu_layout(TL_Q6_K, 4096, 4096) == TL_Q6_K_R8 && tl_type_cpu_layout(TL_Q6_K, 4096, 12) == TL_Q6_K && tl_type_cpu_layout(TL_Q4_0, 4096, 4096) == TL_Q4_0_R8 &&
              tl_type_cpu_layout(TL_Q4_1, 3584, 18944) == TL_Q4_1_R8 && tl_type_cpu_layout(TL_Q4_0, 4096, 4) == TL_Q4_0_X16 &&
              tl_type_cpu_layout(TL_Q8_0, 18944, 3584) == TL_Q8_0_R8 && tl_type_cpu_layout(TL_Q8_0, 32, 8) == TL_Q8_0_R8 &&
              tl_type_cpu_layout(TL_Q8_0, 3584, 12) == TL_Q8_0_X8,
          "tl_type_cpu_layout: Q4_0, Q4_1, Q8_0, Q4_K, Q5_K and Q6_K matrices of a multiple of 8 rows in panels, "
          "others as tl_type_interleaved");
    check(!tl_type_parse("q4_Kr8", &t) && !tl_type_parse("q5_Kr8", &t) && !tl_type_parse("q6_Kr8", &t) &&
              !tl_type_parse("q8_0r8", &t) && !tl_type_parse("q4_0r8", &t) && !tl_type_parse("q4_1r8", &t),
          "q4_Kr8, q5_Kr8, q6_Kr8, q8_0r8, q4_0r8 and q4_1r8 are not user-facing type names");
    check(!tl_type_parse("q4_0x16", &t) && !tl_type_parse("q4_1x16", &t) && !tl_type_parse("q4_Kx8", &t) &&
              !tl_type_parse("q5_Kx8", &t) && !tl_type_parse("q8_0x8", &t) && !tl_type_from_ggml(TL_GGML_NONE, &t),
          "q4_0x16, q4_1x16, q4_Kx8, q5_Kx8 and q8_0x8 are neither user-facing type names nor GGUF types");
    return test_summary("test-quants");
}
