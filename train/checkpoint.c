// train-longpt's model and checkpoint files (see checkpoint.h).
#include "checkpoint.h"

#include "tl-gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_ROPE_BASE QWEN25VL_TEXT_ARCH ".rope.freq_base"

static bool add_f32(struct tl_gguf *g, const char *name, const struct tl_tensor *shape, const float *data, char *err,
                    size_t errlen) {
    int64_t i = tl_gguf_add_tensor(g, name, TL_GGML_F32, tl_n_dims(shape), shape->ne, err, errlen);
    if (i >= 0) tl_gguf_set_tensor_data(g, i, data);
    return i >= 0;
}

static void moment_name(char *out, size_t n, char which, const char *name) { snprintf(out, n, "opt.%c.%s", which, name); }

bool checkpoint_write(const char *path, const struct train_model *m, struct train_param *const *params, int n_params,
                      float rope_base, bool with_optimizer, const struct train_state *st,
                      const struct train_setting *settings, int n_settings, const char *data_spec, char *err,
                      size_t errlen) {
    struct tl_gguf *g = tl_gguf_new();
    for (int64_t i = 0; i < tl_gguf_n_kv(m->file); i++) {
        const char *key = tl_gguf_kv_key(m->file, i);
        if (strncmp(key, "longpt.", 7)) tl_gguf_set_value(g, key, tl_gguf_kv_value(m->file, i));
    }
    tl_gguf_set_f32(g, KEY_ROPE_BASE, rope_base);
    if (tl_gguf_find_key(g, "general.file_type") >= 0) tl_gguf_set_u32(g, "general.file_type", 0);   // all f32 now
    bool ok = true;
    for (int i = 0; ok && i < n_params; i++) ok = add_f32(g, params[i]->w->name, params[i]->w, params[i]->w->data, err, errlen);
    if (with_optimizer) {
        tl_gguf_set_i64(g, "longpt.step", st->step);
        tl_gguf_set_i64(g, "longpt.cursor", st->cursor);
        tl_gguf_set_i64(g, "longpt.tokens", st->tokens);
        tl_gguf_set_str(g, "longpt.data", data_spec);
        for (int i = 0; i < n_settings; i++) {
            char key[128];
            snprintf(key, sizeof key, "longpt.%s", settings[i].key);
            tl_gguf_set_f64(g, key, settings[i].value);
        }
        for (int i = 0; ok && i < n_params; i++) {
            const struct train_param *p = params[i];
            char name[TL_GGUF_MAX_NAME + 8];
            moment_name(name, sizeof name, 'm', p->w->name);
            ok = add_f32(g, name, p->w, p->m, err, errlen);
            moment_name(name, sizeof name, 'v', p->w->name);
            ok = ok && add_f32(g, name, p->w, p->v, err, errlen);
        }
    }
    ok = ok && tl_gguf_write_file(g, path, err, errlen);
    tl_gguf_free(g);
    return ok;
}

static bool read_i64(const struct tl_gguf *g, const char *key, int64_t *v, char *err, size_t errlen) {
    const struct tl_gguf_value *x = tl_gguf_get(g, key);
    if (!x || x->type != TL_GGUF_INT64) {
        tl_errorf(err, errlen, "no int64 key %s", key);
        return false;
    }
    *v = x->i64;
    return true;
}

static bool read_moment(const struct tl_gguf *g, const struct train_param *p, char which, float *dst, char *err,
                        size_t errlen) {
    char name[TL_GGUF_MAX_NAME + 8];
    moment_name(name, sizeof name, which, p->w->name);
    int64_t i = tl_gguf_find_tensor(g, name);
    const struct tl_gguf_tensor_info *ti = i >= 0 ? tl_gguf_tensor(g, i) : NULL;
    if (!ti || ti->type != TL_GGML_F32 || ti->size != (uint64_t)p->n * sizeof(float)) {
        tl_errorf(err, errlen, "the optimizer tensor %s is missing or not f32 of %s's shape", name, p->w->name);
        return false;
    }
    memcpy(dst, ti->data, ti->size);
    return true;
}

bool checkpoint_read(const char *path, const struct train_model *m, struct train_state *st,
                     struct train_setting *settings, int n_settings, char *data_spec, size_t data_len, char *err,
                     size_t errlen) {
    const struct tl_gguf *g = m->file;
    char why[512] = "";
    bool ok = read_i64(g, "longpt.step", &st->step, why, sizeof why) &&
              read_i64(g, "longpt.cursor", &st->cursor, why, sizeof why) &&
              read_i64(g, "longpt.tokens", &st->tokens, why, sizeof why);
    const struct tl_gguf_value *d = tl_gguf_get(g, "longpt.data");
    if (ok && (!d || d->type != TL_GGUF_STRING)) {
        snprintf(why, sizeof why, "no string key longpt.data");
        ok = false;
    }
    if (ok) snprintf(data_spec, data_len, "%s", d->str.data);
    for (int i = 0; ok && i < n_settings; i++) {
        char key[128];
        snprintf(key, sizeof key, "longpt.%s", settings[i].key);
        const struct tl_gguf_value *x = tl_gguf_get(g, key);
        if (!x || x->type != TL_GGUF_FLOAT64) {
            snprintf(why, sizeof why, "no float64 key %s", key);
            ok = false;
        } else settings[i].value = x->f64;
    }
    if (!ok) tl_errorf(err, errlen, "%s: not a usable train-longpt checkpoint: %s", path, why);
    return ok;
}

bool checkpoint_read_moments(const char *path, const struct tl_gguf *g, struct train_param *const *params, int n_params,
                             char *err, size_t errlen) {
    char why[512] = "";
    bool ok = true;
    for (int i = 0; ok && i < n_params; i++)
        ok = read_moment(g, params[i], 'm', params[i]->m, why, sizeof why) &&
             read_moment(g, params[i], 'v', params[i]->v, why, sizeof why);
    if (!ok) tl_errorf(err, errlen, "%s: not a usable train-longpt checkpoint: %s", path, why);
    return ok;
}
