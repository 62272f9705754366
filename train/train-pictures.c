// Pictures of training instances through the frozen vision tower (train-pictures.h).
#include "train-pictures.h"

#include "chat-template.h"
#include "embd-cache.h"
#include "tl.h"
#include "tl-vulkan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN_DOCUMENTS 16   // documents kept open (least recently used goes first)

struct document {
    char *path;                 // NULL: a free slot
    struct pdf_document *pdf;   // NULL for an image file
    int n_pages;
    int src_w, src_h;           // an image file's size (decoded once)
    bool has_cache;             // cache below keyed (the file hashed)
    struct embd_cache cache;
    uint64_t last_use;
};

struct train_pictures {
    struct train_pictures_options o;
    char mmproj[4096], cache_dir[4096];
    struct qwen25vl_vision_model vision;
    int64_t n_embd;
    int32_t pad;
    struct document docs[OPEN_DOCUMENTS];
    uint64_t clock;
    struct train_pictures_stats stats;
};

struct train_pictures *train_pictures_open(const struct train_pictures_options *o, int64_t n_embd, int32_t pad,
                                           char *err, size_t errlen) {
    struct train_pictures *tp = calloc(1, sizeof *tp);
    if (!tp) abort();
    tp->o = *o;
    snprintf(tp->mmproj, sizeof tp->mmproj, "%s", o->mmproj);
    snprintf(tp->cache_dir, sizeof tp->cache_dir, "%s", o->cache_dir);
    tp->o.mmproj = tp->mmproj;
    tp->o.cache_dir = tp->cache_dir;
    tp->n_embd = n_embd;
    tp->pad = pad;
    if (!qwen25vl_vision_load(&tp->vision, o->mmproj, err, errlen)) {
        free(tp);
        return NULL;
    }
    if ((int64_t)tp->vision.hp.projection_dim != n_embd) {
        tl_errorf(err, errlen, "%s projects to %lld, but the text model's width is %lld: not its projector", o->mmproj,
                  (long long)tp->vision.hp.projection_dim, (long long)n_embd);
        train_pictures_free(tp);
        return NULL;
    }
    qwen25vl_vision_use_device(&tp->vision, o->vk);
    tp->stats.device = tp->vision.mirror ? tl_vk_backend_info(o->vk)->name : "the CPU";
    return tp;
}

static void close_document(struct document *d) {
    free(d->path);
    pdf_document_close(d->pdf);
    memset(d, 0, sizeof *d);
}

void train_pictures_free(struct train_pictures *tp) {
    if (!tp) return;
    for (int i = 0; i < OPEN_DOCUMENTS; i++) close_document(&tp->docs[i]);
    qwen25vl_vision_free(&tp->vision);
    free(tp);
}

int32_t train_pictures_pad(const struct train_pictures *tp) { return tp->pad; }
struct train_pictures_stats train_pictures_stats(const struct train_pictures *tp) { return tp->stats; }

// The open document at path (opened now, in place of the least recently used, if not).
static struct document *document(struct train_pictures *tp, const char *path, bool is_image, char *err,
                                 size_t errlen) {
    struct document *d = NULL;
    for (int i = 0; i < OPEN_DOCUMENTS && !d; i++)
        if (tp->docs[i].path && !strcmp(tp->docs[i].path, path)) d = &tp->docs[i];
    if (!d) {
        d = &tp->docs[0];
        for (int i = 1; i < OPEN_DOCUMENTS; i++)
            if (tp->docs[i].last_use < d->last_use) d = &tp->docs[i];
        close_document(d);
        if (is_image) {
            struct rgb_image im;
            if (!image_file_load(path, &im, err, errlen)) return NULL;
            d->src_w = im.w;
            d->src_h = im.h;
            rgb_image_free(&im);
        } else {
            if (!(d->pdf = pdf_document_open(path, NULL, err, errlen))) return NULL;
            d->n_pages = pdf_document_page_count(d->pdf);
        }
        if (!(d->path = strdup(path))) abort();
    }
    d->last_use = ++tp->clock;
    return d;
}

bool train_pictures_grid(struct train_pictures *tp, const char *path, int page, int32_t *lh, int32_t *lw, char *err,
                         size_t errlen) {
    struct document *d = document(tp, path, page < 0, err, errlen);
    if (!d) return false;
    int src_w = d->src_w, src_h = d->src_h, H, W;   // an image's, known since it was opened
    if (d->pdf && page >= d->n_pages) {
        tl_errorf(err, errlen, "%s has %d pages, not a page %d", path, d->n_pages, page + 1);
        return false;
    }
    if ((d->pdf && !pdf_document_page_size(d->pdf, page, tp->o.settings.dpi, &src_w, &src_h, err, errlen)) ||
        !qwen25vl_smart_resize(src_h, src_w, tp->o.settings.min_pixels, tp->o.settings.max_pixels, &H, &W, err, errlen))
        return false;
    *lh = H / 28;
    *lw = W / 28;
    return true;
}

bool train_pictures_rows(struct train_pictures *tp, const struct train_picture *pic, float *rows, char *err,
                         size_t errlen) {
    struct document *d = document(tp, pic->path, pic->page < 0, err, errlen);
    if (!d) return false;
    if (!d->has_cache) {
        char settings[256], key[33];
        picture_settings_string(&tp->o.settings, settings, sizeof settings);
        if (!embd_cache_key(pic->path, settings, tp->mmproj, key, err, errlen) ||
            !embd_cache_open(&d->cache, tp->cache_dir, key, err, errlen))
            return false;
        d->has_cache = true;
    }
    int entry = pic->page < 0 ? 0 : pic->page;
    int64_t n_rows = (int64_t)pic->lh * pic->lw;
    if (embd_cache_get(&d->cache, entry, n_rows, tp->n_embd, rows)) {
        tp->stats.cached++;
        return true;
    }
    double t0 = tl_time_seconds();
    if (!picture_encode(&tp->o.settings, &tp->vision, d->pdf, pic->page, pic->path, pic->lh * 28, pic->lw * 28,
                        tp->o.n_threads, rows, err, errlen))
        return false;
    tp->stats.encoded++;
    tp->stats.encode_seconds += tl_time_seconds() - t0;
    return embd_cache_put(&d->cache, entry, n_rows, tp->n_embd, rows, err, errlen);
}

float *train_pictures_pixels(struct train_pictures *tp, const struct train_picture *pic, char *err, size_t errlen) {
    struct document *d = document(tp, pic->path, pic->page < 0, err, errlen);
    float *px = d ? picture_pixels(&tp->o.settings, &tp->vision.hp, d->pdf, pic->page, pic->path, pic->lh * 28,
                                   pic->lw * 28, err, errlen)
                  : NULL;
    tp->stats.rendered += px != NULL;
    return px;
}
