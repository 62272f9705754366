// A picture's size and its vision rows (picture.h).
#include "picture.h"
#include "chat-template.h"
#include "image-preprocess.h"

#include <stdio.h>
#include <stdlib.h>

void picture_settings_string(const struct picture_settings *s, char *out, size_t n) {
    snprintf(out, n, "qwen25vl dpi=%g min_pixels=%lld max_pixels=%lld", s->dpi, (long long)s->min_pixels,
             (long long)s->max_pixels);
}

bool picture_size(const struct picture_settings *s, struct pdf_document *pdf, int page, const char *path, int *src_w,
                  int *src_h, int *H, int *W, char *err, size_t errlen) {
    if (pdf) {
        if (!pdf_document_page_size(pdf, page, s->dpi, src_w, src_h, err, errlen)) return false;
    } else {
        struct rgb_image im;
        if (!image_file_load(path, &im, err, errlen)) return false;
        *src_w = im.w;
        *src_h = im.h;
        rgb_image_free(&im);
    }
    return qwen25vl_smart_resize(*src_h, *src_w, s->min_pixels, s->max_pixels, H, W, err, errlen);
}

float *picture_pixels(const struct picture_settings *s, const struct qwen25vl_vision_hparams *hp, struct pdf_document *pdf,
                      int page, const char *path, int H, int W, char *err, size_t errlen) {
    struct rgb_image im;
    bool ok = pdf ? pdf_document_render(pdf, page, s->dpi, &im, err, errlen) : image_file_load(path, &im, err, errlen);
    if (!ok) return NULL;
    int h, w;
    float *px = qwen25vl_preprocess(&im, s->min_pixels, s->max_pixels, hp->image_mean, hp->image_std, &h, &w, err, errlen);
    if (px && (h != H || w != W)) {
        snprintf(err, errlen, "picture %dx%d changed size while running", im.w, im.h);
        free(px);
        px = NULL;
    }
    rgb_image_free(&im);
    return px;
}

bool picture_encode(const struct picture_settings *s, const struct qwen25vl_vision_model *v, struct pdf_document *pdf,
                    int page, const char *path, int H, int W, int n_threads, float *rows, char *err, size_t errlen) {
    float *px = picture_pixels(s, &v->hp, pdf, page, path, H, W, err, errlen);
    bool ok = px && qwen25vl_vision_encode(v, px, H, W, n_threads, rows, err, errlen);
    free(px);
    return ok;
}
