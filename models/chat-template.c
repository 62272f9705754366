// The Qwen2.5-VL chat format and smart_resize (see chat-template.h).
#include "chat-template.h"
#include "tl.h"

#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FACTOR = 28 };   // patch 14 x spatial merge 2

static int64_t round_half_even(double x) {   // Python's round()
    int old = fegetround();
    fesetround(FE_TONEAREST);
    double r = nearbyint(x);
    fesetround(old);
    return (int64_t)r;
}

bool qwen25vl_smart_resize(int h, int w, int64_t min_pixels, int64_t max_pixels, int *out_h, int *out_w, char *err,
                           size_t errlen) {
    if (!min_pixels) min_pixels = QWEN25VL_MIN_PIXELS;
    if (!max_pixels) max_pixels = QWEN25VL_MAX_PIXELS;
    if (h < FACTOR || w < FACTOR) {
        tl_errorf(err, errlen, "image %dx%d: both sides must be at least %d pixels", w, h, FACTOR);
        return false;
    }
    if ((double)(h > w ? h : w) / (h > w ? w : h) > 200) {
        tl_errorf(err, errlen, "image %dx%d: aspect ratio over 200", w, h);
        return false;
    }
    int64_t hb = FACTOR * round_half_even((double)h / FACTOR), wb = FACTOR * round_half_even((double)w / FACTOR);
    if (hb * wb > max_pixels) {
        double beta = sqrt((double)h * w / (double)max_pixels);
        hb = FACTOR * (int64_t)floor(h / beta / FACTOR);
        wb = FACTOR * (int64_t)floor(w / beta / FACTOR);
    } else if (hb * wb < min_pixels) {
        double beta = sqrt((double)min_pixels / ((double)h * w));
        hb = FACTOR * (int64_t)ceil(h * beta / FACTOR);
        wb = FACTOR * (int64_t)ceil(w * beta / FACTOR);
    }
    *out_h = (int)hb;
    *out_w = (int)wb;
    return true;
}

int64_t qwen25vl_image_tokens(int h, int w) { return (int64_t)(h / 14) * (w / 14) / 4; }

struct sbuf {
    char *p;
    size_t n, cap;
};

static void put(struct sbuf *b, const char *s) {
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        b->cap = (b->n + l + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, s, l + 1);
    b->n += l;
}

char *qwen25vl_chat_format(const struct chat_message *msgs, int n, const struct chat_options *o, char *err,
                           size_t errlen) {
    struct sbuf b = { 0 };
    put(&b, "");
    int images = 0;
    for (int m = 0; m < n; m++) {
        if (m == 0 && strcmp(msgs[m].role, "system"))
            put(&b, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n");
        put(&b, "<|im_start|>");
        put(&b, msgs[m].role);
        put(&b, "\n");
        for (int k = 0; k < msgs[m].n_parts; k++) {
            const struct chat_part *p = &msgs[m].parts[k];
            if (p->kind == CHAT_TEXT) {
                put(&b, p->text);
                continue;
            }
            int rh, rw;
            if (!qwen25vl_smart_resize(p->height, p->width, o->min_pixels, o->max_pixels, &rh, &rw, err, errlen)) {
                free(b.p);
                return NULL;
            }
            char label[32];
            if (o->add_vision_id) {
                snprintf(label, sizeof label, "Picture %d: ", ++images);
                put(&b, label);
            }
            put(&b, "<|vision_start|>");
            for (int64_t i = qwen25vl_image_tokens(rh, rw); i > 0; i--) put(&b, "<|image_pad|>");
            put(&b, "<|vision_end|>");
        }
        put(&b, "<|im_end|>\n");
    }
    if (o->add_generation_prompt) put(&b, "<|im_start|>assistant\n");
    return b.p;
}
