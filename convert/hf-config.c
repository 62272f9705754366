// Reading a HuggingFace Qwen2.5-VL config.json (see hf-config.h).
#include "hf-config.h"
#include "text-file.h"
#include "tl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Where a text key is looked up: text_config first (nested layout), then the top level.
struct lookup {
    const cJSON *primary, *fallback;
    const char *where;
    char *err;
    size_t errlen;
    bool ok;
};

static const cJSON *find(struct lookup *l, const char *key) {
    const cJSON *j = l->primary ? cJSON_GetObjectItemCaseSensitive(l->primary, key) : NULL;
    if (!j && l->fallback) j = cJSON_GetObjectItemCaseSensitive(l->fallback, key);
    return j;
}

// A positive integer key; missing: dflt if dflt > 0, else an error.
static uint32_t get_uint(struct lookup *l, const char *key, uint32_t dflt) {
    if (!l->ok) return 0;
    const cJSON *j = find(l, key);
    if (!j) {
        if (dflt) return dflt;
        tl_errorf(l->err, l->errlen, "%s: missing \"%s\"", l->where, key);
        l->ok = false;
        return 0;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble < 1 || j->valuedouble > 4294967295.0 ||
        j->valuedouble != floor(j->valuedouble)) {
        tl_errorf(l->err, l->errlen, "%s: \"%s\" must be a positive integer", l->where, key);
        l->ok = false;
        return 0;
    }
    return (uint32_t)j->valuedouble;
}

static float get_float(struct lookup *l, const char *key, float dflt) {
    if (!l->ok) return 0;
    const cJSON *j = find(l, key);
    if (!j) return dflt;
    if (!cJSON_IsNumber(j) || !(j->valuedouble > 0)) {
        tl_errorf(l->err, l->errlen, "%s: \"%s\" must be a positive number", l->where, key);
        l->ok = false;
        return 0;
    }
    return (float)j->valuedouble;
}

static int64_t get_id(const cJSON *root, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsArray(j)) j = j->child;   // eos_token_id may be a list; the first is the main one
    return cJSON_IsNumber(j) && j->valuedouble >= 0 ? (int64_t)j->valuedouble : -1;
}

static bool read_float3(const cJSON *pp, const char *key, float out[3]) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(pp, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) return false;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e)) return false;
        out[i] = (float)e->valuedouble;
    }
    return true;
}

static bool read_text(const cJSON *root, struct hf_qwen25vl_config *c, const char *where, char *err, size_t errlen) {
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    struct lookup l = { cJSON_IsObject(tc) ? tc : NULL, root, where, err, errlen, true };
    struct qwen25vl_text_hparams *t = &c->text;
    t->n_vocab = get_uint(&l, "vocab_size", 0);
    t->n_embd = get_uint(&l, "hidden_size", 0);
    t->n_layer = get_uint(&l, "num_hidden_layers", 0);
    t->n_ff = get_uint(&l, "intermediate_size", 0);
    t->n_head = get_uint(&l, "num_attention_heads", 0);
    t->n_head_kv = get_uint(&l, "num_key_value_heads", t->n_head);
    t->n_ctx_train = get_uint(&l, "max_position_embeddings", 128000);
    t->rms_eps = get_float(&l, "rms_norm_eps", 1e-6f);
    if (!l.ok) return false;
    t->head_dim = get_uint(&l, "head_dim", t->n_head ? t->n_embd / t->n_head : 1);

    // rope: rope_scaling (old) or rope_parameters (new), each with mrope_section [t, h, w].
    const cJSON *rope = find(&l, "rope_scaling");
    if (!cJSON_IsObject(rope)) rope = find(&l, "rope_parameters");
    const cJSON *sec = cJSON_IsObject(rope) ? cJSON_GetObjectItemCaseSensitive(rope, "mrope_section") : NULL;
    int n_sec = cJSON_IsArray(sec) ? cJSON_GetArraySize(sec) : 0;
    if (n_sec < 1 || n_sec > 4) {
        tl_errorf(err, errlen, "%s: rope_scaling / rope_parameters needs an \"mrope_section\" list of up to 4", where);
        return false;
    }
    int i = 0;
    for (const cJSON *e = sec->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 65536) {
            tl_errorf(err, errlen, "%s: mrope_section holds a bad number", where);
            return false;
        }
        t->rope_sections[i] = (int32_t)e->valuedouble;
    }
    const cJSON *theta = cJSON_IsObject(rope) ? cJSON_GetObjectItemCaseSensitive(rope, "rope_theta") : NULL;
    t->rope_freq_base = cJSON_IsNumber(theta) ? (float)theta->valuedouble : get_float(&l, "rope_theta", 1000000.0f);

    const cJSON *tie = find(&l, "tie_word_embeddings");
    t->tied_embeddings = cJSON_IsTrue(tie);
    return l.ok && qwen25vl_text_hparams_valid(t, err, errlen);
}

static bool read_vision(const cJSON *root, struct hf_qwen25vl_config *c, const char *where, char *err, size_t errlen) {
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if (!cJSON_IsObject(vc)) {
        tl_errorf(err, errlen, "%s: missing \"vision_config\"", where);
        return false;
    }
    char vwhere[4200];
    snprintf(vwhere, sizeof vwhere, "%s vision_config", where);
    struct lookup l = { vc, NULL, vwhere, err, errlen, true };
    struct qwen25vl_vision_hparams *v = &c->vision;
    v->n_layer = get_uint(&l, "depth", 0);
    v->n_embd = get_uint(&l, "hidden_size", 0);
    v->n_ff = get_uint(&l, "intermediate_size", 0);
    v->n_head = get_uint(&l, "num_heads", 0);
    v->projection_dim = get_uint(&l, "out_hidden_size", c->text.n_embd);
    v->patch_size = get_uint(&l, "patch_size", 14);
    v->spatial_merge_size = get_uint(&l, "spatial_merge_size", 2);
    v->window_size = get_uint(&l, "window_size", 112);
    c->temporal_patch_size = get_uint(&l, "temporal_patch_size", 2);
    uint32_t chans = cJSON_GetObjectItemCaseSensitive(vc, "in_chans") ? get_uint(&l, "in_chans", 3)
                                                                       : get_uint(&l, "in_channels", 3);
    if (!l.ok) return false;
    if (chans != 3 || c->temporal_patch_size != 2) {
        tl_errorf(err, errlen, "%s: %u input channels and temporal patch %u; Qwen2.5-VL has 3 and 2", vwhere, chans,
             c->temporal_patch_size);
        return false;
    }
    if (v->projection_dim != c->text.n_embd) {
        tl_errorf(err, errlen, "%s: out_hidden_size %u differs from the text hidden_size %u", vwhere, v->projection_dim,
             c->text.n_embd);
        return false;
    }
    v->head_dim = v->n_head ? v->n_embd / v->n_head : 0;
    v->image_size = 560;   // not in the HF config; llama.cpp's converter writes this placeholder
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(vc, "hidden_act");
    v->use_silu = !cJSON_IsString(act) || !strcmp(act->valuestring, "silu");
    if (!v->use_silu) {
        tl_errorf(err, errlen, "%s: hidden_act '%s'; Qwen2.5-VL's vision MLP is SiLU-gated", vwhere, act->valuestring);
        return false;
    }
    // Full-attention blocks must be evenly spaced: block i is full iff (i+1) % pattern == 0.
    const cJSON *full = cJSON_GetObjectItemCaseSensitive(vc, "fullatt_block_indexes");
    int n_full = cJSON_IsArray(full) ? cJSON_GetArraySize(full) : 0;
    if (n_full < 1) {
        tl_errorf(err, errlen, "%s: missing \"fullatt_block_indexes\"", vwhere);
        return false;
    }
    int prev = -1, k = 0;
    for (const cJSON *e = full->child; e; e = e->next, k++) {
        int idx = cJSON_IsNumber(e) ? (int)e->valuedouble : -1;
        bool bad = idx < 0 || idx <= prev;
        if (!bad && k == 0) v->n_wa_pattern = (uint32_t)idx + 1;
        else if (!bad) bad = (uint32_t)(idx - prev) != v->n_wa_pattern;
        if (bad) {
            tl_errorf(err, errlen, "%s: fullatt_block_indexes must be evenly spaced, each (i+1) a multiple of the "
                              "first (i+1)", vwhere);
            return false;
        }
        prev = idx;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "rms_norm_eps");   // llama.cpp takes the top level
    v->eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : c->text.rms_eps;
    return qwen25vl_vision_hparams_valid(v, err, errlen);
}

bool hf_qwen25vl_config_read(const char *dir, struct hf_qwen25vl_config *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *root = read_json_object(path, 16u << 20, err, errlen);
    if (!root) return false;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const char *arch0 = cJSON_IsArray(arch) && cJSON_IsString(arch->child) ? arch->child->valuestring : "?";
    bool ok = cJSON_IsString(mt) && !strcmp(mt->valuestring, "qwen2_5_vl");
    if (!ok)
        tl_errorf(err, errlen, "%s: unsupported architecture %s (model_type '%s'); longvl converts Qwen2.5-VL "
                          "(model_type 'qwen2_5_vl')", path, arch0, cJSON_IsString(mt) ? mt->valuestring : "?");
    ok = ok && read_text(root, c, path, err, errlen) && read_vision(root, c, path, err, errlen);
    c->bos_token_id = get_id(root, "bos_token_id");
    c->eos_token_id = get_id(root, "eos_token_id");
    cJSON_Delete(root);
    if (!ok) return false;

    // Image normalisation: preprocessor_config.json, else the CLIP constants Qwen ships.
    static const float clip_mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
    static const float clip_std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
    memcpy(c->vision.image_mean, clip_mean, sizeof clip_mean);
    memcpy(c->vision.image_std, clip_std, sizeof clip_std);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        cJSON *pp = read_json_object(path, 1u << 20, err, errlen);
        if (!pp) return false;
        float mean[3], std[3];
        if (!read_float3(pp, "image_mean", mean) || !read_float3(pp, "image_std", std)) {
            tl_errorf(err, errlen, "%s: needs \"image_mean\" and \"image_std\" lists of 3 numbers", path);
            cJSON_Delete(pp);
            return false;
        }
        memcpy(c->vision.image_mean, mean, sizeof mean);
        memcpy(c->vision.image_std, std, sizeof std);
        c->has_preprocessor_config = true;
        cJSON_Delete(pp);
    }
    return true;
}
