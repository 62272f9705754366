// Pillow-exact bicubic resampling and the processor's normalisation (image-preprocess.h).
#include "image-preprocess.h"
#include "chat-template.h"
#include "tl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { PRECISION_BITS = 32 - 8 - 2 };   // Pillow's fixed point for 8-bit images

static double bicubic(double x) {   // Keys' cubic with a = -0.5, support 2
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

// For each output index: the first input index, how many inputs, and their fixed-point
// weights (ksize per output).
struct coeffs {
    int ksize;
    int *first, *count;
    int32_t *k;
};

static bool coeffs_init(struct coeffs *c, int in_size, int out_size) {
    double scale = (double)in_size / out_size, filterscale = scale < 1 ? 1 : scale;
    double support = 2.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->first = malloc(out_size * sizeof *c->first);
    c->count = malloc(out_size * sizeof *c->count);
    c->k = malloc((size_t)out_size * c->ksize * sizeof *c->k);
    double *w = malloc(c->ksize * sizeof *w);
    if (!c->first || !c->count || !c->k || !w) {
        free(w);
        return false;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);   // C truncation, as Pillow
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)xx * c->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0 ? w[x] / ww : w[x];
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->first[xx] = xmin;
        c->count[xx] = xmax;
    }
    free(w);
    return true;
}

static void coeffs_free(struct coeffs *c) {
    free(c->first);
    free(c->count);
    free(c->k);
}

static uint8_t clip8(int32_t ss) {
    int32_t v = ss >> PRECISION_BITS;   // arithmetic shift, as Pillow's lookup table assumes
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One pass along x (horizontal) or y (vertical) of an RGB image.
static void resample_pass(const struct rgb_image *src, struct rgb_image *dst, const struct coeffs *c, bool horizontal) {
    for (int y = 0; y < dst->h; y++)
        for (int x = 0; x < dst->w; x++) {
            int o = horizontal ? x : y;
            const int32_t *k = c->k + (size_t)o * c->ksize;
            for (int ch = 0; ch < 3; ch++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int i = 0; i < c->count[o]; i++) {
                    int sx = horizontal ? c->first[o] + i : x, sy = horizontal ? y : c->first[o] + i;
                    ss += src->px[((size_t)sy * src->w + sx) * 3 + ch] * k[i];
                }
                dst->px[((size_t)y * dst->w + x) * 3 + ch] = clip8(ss);
            }
        }
}

bool image_resize_bicubic(const struct rgb_image *src, struct rgb_image *dst, char *err, size_t errlen) {
    int W = dst->w, H = dst->h;
    dst->px = NULL;
    if (W < 1 || H < 1 || src->w < 1 || src->h < 1) {
        tl_errorf(err, errlen, "cannot resize %d x %d to %d x %d", src->w, src->h, W, H);
        return false;
    }
    struct rgb_image tmp = { .w = W, .h = src->h };
    struct coeffs cx = { 0 }, cy = { 0 };
    bool ok = coeffs_init(&cx, src->w, W) && coeffs_init(&cy, src->h, H);
    dst->px = malloc((size_t)W * H * 3);
    if (W != src->w) tmp.px = malloc((size_t)W * src->h * 3);
    if (!ok || !dst->px || (W != src->w && !tmp.px)) {
        tl_errorf(err, errlen, "out of memory resizing %d x %d to %d x %d", src->w, src->h, W, H);
        ok = false;
    } else {
        // Pillow skips a pass whose size does not change
        const struct rgb_image *mid = src;
        if (W != src->w) resample_pass(src, &tmp, &cx, true), mid = &tmp;
        if (H != src->h) resample_pass(mid, dst, &cy, false);
        else memcpy(dst->px, mid->px, (size_t)W * H * 3);
    }
    coeffs_free(&cx);
    coeffs_free(&cy);
    free(tmp.px);
    if (!ok) {
        free(dst->px);
        dst->px = NULL;
    }
    return ok;
}

void image_normalize(const struct rgb_image *im, const float mean[3], const float std[3], float *out) {
    size_t n = (size_t)im->w * im->h;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) out[3 * i + c] = ((float)im->px[3 * i + c] / 255.0f - mean[c]) / std[c];
}

float *qwen25vl_preprocess(const struct rgb_image *im, int64_t min_pixels, int64_t max_pixels, const float mean[3],
                           const float std[3], int *H, int *W, char *err, size_t errlen) {
    struct rgb_image r = { 0 };
    if (!qwen25vl_smart_resize(im->h, im->w, min_pixels, max_pixels, &r.h, &r.w, err, errlen)) return NULL;
    float *out = malloc((size_t)r.w * r.h * 3 * sizeof *out);
    if (!out || !image_resize_bicubic(im, &r, err, errlen)) {
        if (!out) tl_errorf(err, errlen, "out of memory for a %d x %d image", r.w, r.h);
        free(out);
        return NULL;
    }
    image_normalize(&r, mean, std, out);
    *H = r.h;
    *W = r.w;
    rgb_image_free(&r);
    return out;
}
