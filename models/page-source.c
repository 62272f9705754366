// PDF pages and image files to RGB through MuPDF. MuPDF reports failures by longjmp
// (fz_try/fz_catch); every call that can throw is inside one, and values assigned in a
// try block and read after it are marked with fz_var.
#include "page-source.h"
#include "page-source-impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void errorf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

// MuPDF prints warnings and errors to stderr itself; ours carry the message instead.
static void quiet(void *user, const char *message) {
    (void)user;
    (void)message;
}

static fz_context *new_context(char *err, size_t errlen) {
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx) {
        errorf(err, errlen, "cannot start MuPDF (out of memory)");
        return NULL;
    }
    fz_set_warning_callback(ctx, quiet, NULL);
    fz_set_error_callback(ctx, quiet, NULL);
    return ctx;
}

void rgb_image_free(struct rgb_image *im) {
    free(im->px);
    memset(im, 0, sizeof *im);
}

// Copies a pixmap (any colorspace, alpha premultiplied as MuPDF keeps it) to RGB over
// white: for premultiplied c and alpha a, over white is c + (255 - a).
static bool pixmap_to_rgb(fz_context *ctx, fz_pixmap *pix, struct rgb_image *out, char *err, size_t errlen) {
    int w = fz_pixmap_width(ctx, pix), h = fz_pixmap_height(ctx, pix), n = fz_pixmap_components(ctx, pix);
    int alpha = fz_pixmap_alpha(ctx, pix);
    ptrdiff_t stride = fz_pixmap_stride(ctx, pix);
    const unsigned char *s = fz_pixmap_samples(ctx, pix);
    if (n - alpha != 3) {
        errorf(err, errlen, "internal: pixmap has %d colour components", n - alpha);
        return false;
    }
    out->px = malloc((size_t)w * h * 3);
    if (!out->px) {
        errorf(err, errlen, "out of memory for a %d x %d image", w, h);
        return false;
    }
    out->w = w;
    out->h = h;
    for (int y = 0; y < h; y++) {
        const unsigned char *row = s + y * stride;
        uint8_t *dst = out->px + (size_t)y * w * 3;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) dst[3 * x + c] = alpha ? (uint8_t)(row[n * x + c] + 255 - row[n * x + 3]) : row[n * x + c];
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// PDF documents


struct pdf_document *pdf_document_open(const char *path, const char *password, char *err, size_t errlen) {
    fz_context *ctx = new_context(err, errlen);
    if (!ctx) return NULL;
    fz_document *doc = NULL;
    int n_pages = 0;
    bool locked = false;
    fz_var(doc);
    fz_var(n_pages);
    fz_var(locked);
    fz_try(ctx) {
        fz_register_document_handlers(ctx);
        doc = fz_open_document(ctx, path);
        if (fz_needs_password(ctx, doc) && !(password && fz_authenticate_password(ctx, doc, password)))
            locked = true;
        else
            n_pages = fz_count_pages(ctx, doc);
    }
    fz_catch(ctx) {
        errorf(err, errlen, "%s: cannot open the PDF: %s", path, fz_caught_message(ctx));
        fz_drop_document(ctx, doc);
        fz_drop_context(ctx);
        return NULL;
    }
    if (locked || n_pages <= 0) {
        if (locked)
            errorf(err, errlen, "%s: the PDF is encrypted: %s", path,
                   password ? "the password is wrong" : "it needs a password");
        else
            errorf(err, errlen, "%s: the PDF has no pages", path);
        fz_drop_document(ctx, doc);
        fz_drop_context(ctx);
        return NULL;
    }
    struct pdf_document *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->ctx = ctx;
    d->doc = doc;
    d->n_pages = n_pages;
    snprintf(d->path, sizeof d->path, "%s", path);
    return d;
}

void pdf_document_close(struct pdf_document *d) {
    if (!d) return;
    fz_drop_document(d->ctx, d->doc);
    fz_drop_context(d->ctx);
    free(d);
}

int pdf_document_page_count(const struct pdf_document *d) { return d->n_pages; }

// The pixel box of a page at dpi (the page box scaled and rounded outward).
static bool page_bbox(struct pdf_document *d, fz_page *page, float dpi, fz_irect *box, char *err, size_t errlen) {
    fz_context *ctx = d->ctx;
    bool ok = true;
    fz_var(ok);
    fz_try(ctx) {
        fz_matrix ctm = fz_scale(dpi / 72.0f, dpi / 72.0f);
        *box = fz_round_rect(fz_transform_rect(fz_bound_page(ctx, page), ctm));
    }
    fz_catch(ctx) {
        errorf(err, errlen, "%s: cannot measure the page: %s", d->path, fz_caught_message(ctx));
        ok = false;
    }
    if (!ok) return false;
    long long w = (long long)box->x1 - box->x0, h = (long long)box->y1 - box->y0;
    if (w < 1 || h < 1 || w * h > PAGE_SOURCE_MAX_PIXELS) {
        errorf(err, errlen, "%s: the page is %lld x %lld pixels at %g dpi (at most %lld Mpx; lower --dpi)", d->path, w,
               h, dpi, PAGE_SOURCE_MAX_PIXELS / 1000000);
        return false;
    }
    return true;
}

fz_page *pdf_document_load_page(struct pdf_document *d, int page, char *err, size_t errlen) {
    if (page < 0 || page >= d->n_pages) {
        errorf(err, errlen, "%s: page %d does not exist (the document has %d)", d->path, page + 1, d->n_pages);
        return NULL;
    }
    fz_page *p = NULL;
    fz_var(p);
    fz_try(d->ctx) p = fz_load_page(d->ctx, d->doc, page);
    fz_catch(d->ctx) {
        errorf(err, errlen, "%s: cannot load page %d: %s", d->path, page + 1, fz_caught_message(d->ctx));
        return NULL;
    }
    return p;
}

bool pdf_document_page_size(struct pdf_document *d, int page, float dpi, int *w, int *h, char *err, size_t errlen) {
    fz_page *p = pdf_document_load_page(d, page, err, errlen);
    if (!p) return false;
    fz_irect box;
    bool ok = page_bbox(d, p, dpi, &box, err, errlen);
    fz_drop_page(d->ctx, p);
    if (ok) *w = box.x1 - box.x0, *h = box.y1 - box.y0;
    return ok;
}

bool pdf_document_render(struct pdf_document *d, int page, float dpi, struct rgb_image *out, char *err,
                         size_t errlen) {
    memset(out, 0, sizeof *out);
    fz_context *ctx = d->ctx;
    fz_page *p = pdf_document_load_page(d, page, err, errlen);
    if (!p) return false;
    fz_irect box;
    if (!page_bbox(d, p, dpi, &box, err, errlen)) {
        fz_drop_page(ctx, p);
        return false;
    }
    fz_pixmap *pix = NULL;
    fz_device *dev = NULL;
    bool ok = true;
    fz_var(pix);
    fz_var(dev);
    fz_var(ok);
    fz_try(ctx) {
        fz_matrix ctm = fz_scale(dpi / 72.0f, dpi / 72.0f);
        pix = fz_new_pixmap_with_bbox(ctx, fz_device_rgb(ctx), box, NULL, 0);
        fz_clear_pixmap_with_value(ctx, pix, 255);
        dev = fz_new_draw_device(ctx, fz_identity, pix);
        fz_run_page(ctx, p, dev, ctm, NULL);
        fz_close_device(ctx, dev);
    }
    fz_always(ctx) fz_drop_device(ctx, dev);
    fz_catch(ctx) {
        errorf(err, errlen, "%s: cannot render page %d: %s", d->path, page + 1, fz_caught_message(ctx));
        ok = false;
    }
    ok = ok && pixmap_to_rgb(ctx, pix, out, err, errlen);
    fz_drop_pixmap(ctx, pix);
    fz_drop_page(ctx, p);
    return ok;
}

// ---------------------------------------------------------------------------------------
// Image files

bool image_file_load(const char *path, struct rgb_image *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    fz_context *ctx = new_context(err, errlen);
    if (!ctx) return false;
    fz_image *img = NULL;
    fz_pixmap *pix = NULL, *rgb = NULL;
    bool ok = true;
    fz_var(img);
    fz_var(pix);
    fz_var(rgb);
    fz_var(ok);
    fz_try(ctx) {
        img = fz_new_image_from_file(ctx, path);
        if ((long long)img->w * img->h > PAGE_SOURCE_MAX_PIXELS)
            fz_throw(ctx, FZ_ERROR_GENERIC, "the image is %d x %d pixels (at most %lld Mpx)", img->w, img->h,
                     PAGE_SOURCE_MAX_PIXELS / 1000000);
        pix = fz_get_pixmap_from_image(ctx, img, NULL, NULL, NULL, NULL);
        if (fz_pixmap_colorspace(ctx, pix) != fz_device_rgb(ctx))
            rgb = fz_convert_pixmap(ctx, pix, fz_device_rgb(ctx), NULL, NULL, fz_default_color_params, 1);
    }
    fz_catch(ctx) {
        errorf(err, errlen, "%s: cannot load the image: %s", path, fz_caught_message(ctx));
        ok = false;
    }
    ok = ok && pixmap_to_rgb(ctx, rgb ? rgb : pix, out, err, errlen);
    fz_drop_pixmap(ctx, rgb);
    fz_drop_pixmap(ctx, pix);
    fz_drop_image(ctx, img);
    fz_drop_context(ctx);
    return ok;
}

bool rgb_image_save_png(const struct rgb_image *im, const char *path, char *err, size_t errlen) {
    fz_context *ctx = new_context(err, errlen);
    if (!ctx) return false;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fz_pixmap *pix = NULL;
    bool ok = true;
    fz_var(pix);
    fz_var(ok);
    fz_try(ctx) {
        pix = fz_new_pixmap_with_data(ctx, fz_device_rgb(ctx), im->w, im->h, NULL, 0, im->w * 3, im->px);
        fz_save_pixmap_as_png(ctx, pix, tmp);
    }
    fz_catch(ctx) {
        errorf(err, errlen, "%s: cannot write the PNG: %s", path, fz_caught_message(ctx));
        ok = false;
    }
    fz_drop_pixmap(ctx, pix);
    fz_drop_context(ctx);
    if (ok && rename(tmp, path) != 0) {
        errorf(err, errlen, "%s: cannot rename %s into place", path, tmp);
        ok = false;
    }
    if (!ok) remove(tmp);
    return ok;
}
