// The pictures of a prompt and their vision rows (run-inputs.h).
#include "run-inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool parse_page_ranges(const char *spec, int n_pages, int **pages, int *n, char *err, size_t errlen) {
    *pages = NULL;
    *n = 0;
    int cap = 0;
    const char *p = spec;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) goto bad;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1) goto bad;
            p = end;
        }
        if (*p == ',') p++;
        else if (*p) goto bad;
        if (a < 1 || b < a || b > n_pages) {
            snprintf(err, errlen, "--pages %s: %ld-%ld is not within the document's pages 1-%d", spec, a, b, n_pages);
            free(*pages);
            *pages = NULL;
            return false;
        }
        for (long k = a; k <= b; k++) {
            if (*n == cap) {
                cap = 2 * cap + 16;
                *pages = realloc(*pages, (size_t)cap * sizeof **pages);
                if (!*pages) abort();
            }
            (*pages)[(*n)++] = (int)k - 1;
        }
    }
    if (*n > 0) return true;
bad:
    snprintf(err, errlen, "--pages takes ranges like 1-5,8,10-12, not '%s'", spec);
    free(*pages);
    *pages = NULL;
    return false;
}

static struct run_picture *new_picture(struct run_inputs *in) {
    in->pics = realloc(in->pics, (size_t)(in->n_pics + 1) * sizeof *in->pics);
    if (!in->pics) abort();
    struct run_picture *p = &in->pics[in->n_pics++];
    memset(p, 0, sizeof *p);
    return p;
}

bool run_inputs_add_pdf_pages(struct run_inputs *in, const int *pages, int n, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        struct run_picture *p = new_picture(in);
        p->page = pages[i];
        if (!picture_size(&in->settings, in->pdf, p->page, NULL, &p->src_w, &p->src_h, &p->H, &p->W, err, errlen))
            return false;
    }
    return true;
}

bool run_inputs_add_image(struct run_inputs *in, const char *path, char *err, size_t errlen) {
    struct run_picture *p = new_picture(in);
    p->page = -1;
    p->path = path;
    return picture_size(&in->settings, NULL, -1, path, &p->src_w, &p->src_h, &p->H, &p->W, err, errlen);
}

bool run_inputs_open_cache(struct run_inputs *in, const char *pdf_path, char *err, size_t errlen) {
    char settings[256], key[33];
    picture_settings_string(&in->settings, settings, sizeof settings);
    return embd_cache_key(pdf_path, settings, in->mmproj_path, key, err, errlen) &&
           embd_cache_open(&in->pdf_cache, in->cache_dir, key, err, errlen);
}

void run_inputs_free(struct run_inputs *in) {
    pdf_document_close(in->pdf);
    free(in->pics);
    memset(in, 0, sizeof *in);
}

bool run_inputs_rows(void *user, int i, float *rows, char *err, size_t errlen) {
    struct run_inputs *in = user;
    const struct run_picture *p = &in->pics[i];
    int64_t n_rows = qwen25vl_vision_n_tokens(p->H, p->W), E = in->vision->hp.projection_dim;
    struct embd_cache image_cache, *cache = NULL;
    int entry = p->page;
    if (in->use_cache && p->page >= 0) {
        cache = &in->pdf_cache;
    } else if (in->use_cache) {   // an image file: its own key, one entry
        char settings[256], key[33];
        picture_settings_string(&in->settings, settings, sizeof settings);
        if (!embd_cache_key(p->path, settings, in->mmproj_path, key, err, errlen) ||
            !embd_cache_open(&image_cache, in->cache_dir, key, err, errlen))
            return false;
        cache = &image_cache;
        entry = 0;
    }
    if (cache && embd_cache_get(cache, entry, n_rows, E, rows)) {
        in->cache_hits++;
        return true;
    }
    double t0 = tl_time_seconds();
    if (!picture_encode(&in->settings, in->vision, p->page >= 0 ? in->pdf : NULL, p->page, p->path, p->H, p->W,
                        in->n_threads, rows, err, errlen))
        return false;
    in->encode_seconds += tl_time_seconds() - t0;
    return !cache || embd_cache_put(cache, entry, n_rows, E, rows, err, errlen);
}
