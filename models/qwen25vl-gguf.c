// Qwen2.5-VL hyperparameters and tensor inventories in llama.cpp's GGUF conventions.
#include "qwen25vl-gguf.h"
#include "tl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------
// Validity

bool qwen25vl_text_hparams_valid(const struct qwen25vl_text_hparams *hp, char *err, size_t errlen) {
    if (!hp->n_vocab || !hp->n_embd || !hp->n_layer || !hp->n_ff || !hp->n_head || !hp->n_head_kv) {
        tl_errorf(err, errlen, "text model: vocab, embedding, layer, feed-forward and head counts must be positive");
        return false;
    }
    if (hp->n_layer > 1024 || hp->n_head > 1024) {
        tl_errorf(err, errlen, "text model: %u layers / %u heads is not a plausible model", hp->n_layer, hp->n_head);
        return false;
    }
    if (hp->head_dim * hp->n_head != hp->n_embd) {
        tl_errorf(err, errlen, "text model: head_dim %u x %u heads != embedding %u", hp->head_dim, hp->n_head, hp->n_embd);
        return false;
    }
    if (hp->head_dim % 2 || hp->n_head % hp->n_head_kv) {
        tl_errorf(err, errlen, "text model: head_dim %u must be even and %u heads a multiple of %u kv heads",
             hp->head_dim, hp->n_head, hp->n_head_kv);
        return false;
    }
    int64_t sum = 0;
    for (int i = 0; i < 4; i++) {
        if (hp->rope_sections[i] < 0) {
            tl_errorf(err, errlen, "text model: negative rope section");
            return false;
        }
        sum += hp->rope_sections[i];
    }
    if (sum != hp->head_dim / 2) {
        tl_errorf(err, errlen, "text model: rope sections [%d, %d, %d, %d] sum to %lld, expected head_dim/2 = %u",
             hp->rope_sections[0], hp->rope_sections[1], hp->rope_sections[2], hp->rope_sections[3],
             (long long)sum, hp->head_dim / 2);
        return false;
    }
    if (!(hp->rms_eps > 0) || !(hp->rope_freq_base > 0)) {
        tl_errorf(err, errlen, "text model: rms eps and rope base must be positive");
        return false;
    }
    return true;
}

bool qwen25vl_vision_hparams_valid(const struct qwen25vl_vision_hparams *hp, char *err, size_t errlen) {
    if (!hp->n_embd || !hp->n_ff || !hp->n_layer || !hp->n_head || !hp->projection_dim || !hp->patch_size ||
        !hp->spatial_merge_size || !hp->n_wa_pattern) {
        tl_errorf(err, errlen, "vision tower: sizes, counts and the window pattern must be positive");
        return false;
    }
    if (hp->n_layer > 1024 || hp->n_head > 1024 || hp->patch_size > 1024 || hp->spatial_merge_size > 16) {
        tl_errorf(err, errlen, "vision tower: %u blocks / %u heads / patch %u is not a plausible model", hp->n_layer,
             hp->n_head, hp->patch_size);
        return false;
    }
    if (hp->head_dim * hp->n_head != hp->n_embd || hp->head_dim % 4) {
        tl_errorf(err, errlen, "vision tower: head_dim %u x %u heads != %u, or head_dim not a multiple of 4",
             hp->head_dim, hp->n_head, hp->n_embd);
        return false;
    }
    if (!(hp->eps > 0)) {
        tl_errorf(err, errlen, "vision tower: eps must be positive");
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// Tensor inventories

struct spec_list {
    struct qwen25vl_tensor_spec *v;
    int n, cap;
};

static void add_spec(struct spec_list *l, uint32_t n_dims, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                     const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void add_spec(struct spec_list *l, uint32_t n_dims, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                     const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) abort();
    }
    struct qwen25vl_tensor_spec *s = &l->v[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->n_dims = n_dims;
    s->ne[0] = ne0, s->ne[1] = ne1, s->ne[2] = ne2, s->ne[3] = ne3;
}

#define VEC(l, n, ...) add_spec(l, 1, n, 1, 1, 1, __VA_ARGS__)
#define MAT(l, in, out, ...) add_spec(l, 2, in, out, 1, 1, __VA_ARGS__)

struct qwen25vl_tensor_spec *qwen25vl_text_tensor_specs(const struct qwen25vl_text_hparams *hp, int *n) {
    struct spec_list l = { 0 };
    int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab;
    int64_t Q = (int64_t)hp->n_head * hp->head_dim, KV = (int64_t)hp->n_head_kv * hp->head_dim;
    MAT(&l, E, V, "token_embd.weight");
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        VEC(&l, E, "blk.%u.attn_norm.weight", i);
        MAT(&l, E, Q, "blk.%u.attn_q.weight", i);
        VEC(&l, Q, "blk.%u.attn_q.bias", i);
        MAT(&l, E, KV, "blk.%u.attn_k.weight", i);
        VEC(&l, KV, "blk.%u.attn_k.bias", i);
        MAT(&l, E, KV, "blk.%u.attn_v.weight", i);
        VEC(&l, KV, "blk.%u.attn_v.bias", i);
        MAT(&l, Q, E, "blk.%u.attn_output.weight", i);
        VEC(&l, E, "blk.%u.ffn_norm.weight", i);
        MAT(&l, E, F, "blk.%u.ffn_gate.weight", i);
        MAT(&l, E, F, "blk.%u.ffn_up.weight", i);
        MAT(&l, F, E, "blk.%u.ffn_down.weight", i);
    }
    VEC(&l, E, "output_norm.weight");
    if (!hp->tied_embeddings) MAT(&l, E, V, "output.weight");
    *n = l.n;
    return l.v;
}

struct qwen25vl_tensor_spec *qwen25vl_vision_tensor_specs(const struct qwen25vl_vision_hparams *hp, int *n) {
    struct spec_list l = { 0 };
    int64_t E = hp->n_embd, F = hp->n_ff, P = hp->patch_size, H = hp->projection_dim;
    int64_t M = E * hp->spatial_merge_size * hp->spatial_merge_size;   // merger input: 2x2 patches
    // The Conv3d over (2 frames, P, P) becomes two 2-D convolutions, one per frame.
    add_spec(&l, 4, P, P, 3, E, "v.patch_embd.weight");
    add_spec(&l, 4, P, P, 3, E, "v.patch_embd.weight.1");
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        VEC(&l, E, "v.blk.%u.ln1.weight", i);
        MAT(&l, E, E, "v.blk.%u.attn_q.weight", i);
        VEC(&l, E, "v.blk.%u.attn_q.bias", i);
        MAT(&l, E, E, "v.blk.%u.attn_k.weight", i);
        VEC(&l, E, "v.blk.%u.attn_k.bias", i);
        MAT(&l, E, E, "v.blk.%u.attn_v.weight", i);
        VEC(&l, E, "v.blk.%u.attn_v.bias", i);
        MAT(&l, E, E, "v.blk.%u.attn_out.weight", i);
        VEC(&l, E, "v.blk.%u.attn_out.bias", i);
        VEC(&l, E, "v.blk.%u.ln2.weight", i);
        MAT(&l, E, F, "v.blk.%u.ffn_gate.weight", i);
        VEC(&l, F, "v.blk.%u.ffn_gate.bias", i);
        MAT(&l, E, F, "v.blk.%u.ffn_up.weight", i);
        VEC(&l, F, "v.blk.%u.ffn_up.bias", i);
        MAT(&l, F, E, "v.blk.%u.ffn_down.weight", i);
        VEC(&l, E, "v.blk.%u.ffn_down.bias", i);
    }
    VEC(&l, E, "v.post_ln.weight");
    MAT(&l, M, M, "mm.0.weight");
    VEC(&l, M, "mm.0.bias");
    MAT(&l, M, H, "mm.2.weight");
    VEC(&l, H, "mm.2.bias");
    *n = l.n;
    return l.v;
}

// ---------------------------------------------------------------------------------------
// Reading keys with llama.cpp's typing

static const char *type_name_of(const struct tl_gguf_value *v) {
    return v->type == TL_GGUF_ARRAY ? "array" : tl_gguf_type_name(v->type);
}

// The value of key. NULL when it is absent: *ok stays true for an optional key (the
// caller uses its default) and turns false, with a message, for a required one.
static const struct tl_gguf_value *lookup(const struct tl_gguf *g, const char *key, bool optional, bool *ok,
                                          char *err, size_t errlen) {
    const struct tl_gguf_value *v = tl_gguf_get(g, key);
    *ok = v || optional;
    if (!*ok) tl_errorf(err, errlen, "missing key %s", key);
    return v;
}

// A u32 key, or (as llama.cpp allows for per-layer values) a u32/i32 array whose
// elements are all equal.
static bool get_u32(const struct tl_gguf *g, const char *key, bool optional, uint32_t dflt, uint32_t *out,
                    bool allow_array, char *err, size_t errlen) {
    bool ok;
    const struct tl_gguf_value *v = lookup(g, key, optional, &ok, err, errlen);
    *out = dflt;
    if (!v) return ok;
    if (v->type == TL_GGUF_UINT32) {
        *out = v->u32;
        return true;
    }
    if (allow_array && v->type == TL_GGUF_ARRAY && v->arr.n > 0 &&
        (v->arr.type == TL_GGUF_UINT32 || v->arr.type == TL_GGUF_INT32)) {
        const uint32_t *a = v->arr.data;
        for (uint64_t i = 1; i < v->arr.n; i++)
            if (a[i] != a[0]) {
                tl_errorf(err, errlen, "key %s differs between layers; per-layer sizes are not supported", key);
                return false;
            }
        *out = a[0];
        return true;
    }
    tl_errorf(err, errlen, "key %s has type %s, expected u32", key, type_name_of(v));
    return false;
}

static bool get_f32(const struct tl_gguf *g, const char *key, bool optional, float dflt, float *out, char *err,
                    size_t errlen) {
    bool ok;
    const struct tl_gguf_value *v = lookup(g, key, optional, &ok, err, errlen);
    *out = dflt;
    if (!v) return ok;
    if (v->type != TL_GGUF_FLOAT32) {
        tl_errorf(err, errlen, "key %s has type %s, expected f32", key, type_name_of(v));
        return false;
    }
    *out = v->f32;
    return true;
}

static bool get_str_is(const struct tl_gguf *g, const char *key, const char *want, char *err, size_t errlen) {
    const struct tl_gguf_value *v = tl_gguf_get(g, key);
    if (!v || v->type != TL_GGUF_STRING) {
        tl_errorf(err, errlen, "missing string key %s", key);
        return false;
    }
    if (strcmp(v->str.data, want)) {
        tl_errorf(err, errlen, "%s is '%s'; longvl reads '%s'", key, v->str.data, want);
        return false;
    }
    return true;
}

static bool get_f32x3(const struct tl_gguf *g, const char *key, float out[3], char *err, size_t errlen) {
    const struct tl_gguf_value *v = tl_gguf_get(g, key);
    if (!v || v->type != TL_GGUF_ARRAY || v->arr.type != TL_GGUF_FLOAT32 || v->arr.n != 3) {
        tl_errorf(err, errlen, "key %s must be an f32 array of 3", key);
        return false;
    }
    memcpy(out, v->arr.data, 3 * sizeof(float));
    return true;
}

#define TK(name) QWEN25VL_TEXT_ARCH "." name

bool qwen25vl_text_hparams_from_gguf(const struct tl_gguf *g, struct qwen25vl_text_hparams *hp, char *err,
                                     size_t errlen) {
    memset(hp, 0, sizeof *hp);
    if (!get_str_is(g, "general.architecture", QWEN25VL_TEXT_ARCH, err, errlen)) return false;
    bool ok = get_u32(g, TK("context_length"), false, 0, &hp->n_ctx_train, false, err, errlen) &&
              get_u32(g, TK("embedding_length"), false, 0, &hp->n_embd, false, err, errlen) &&
              get_u32(g, TK("block_count"), false, 0, &hp->n_layer, false, err, errlen) &&
              get_u32(g, TK("feed_forward_length"), false, 0, &hp->n_ff, true, err, errlen) &&
              get_u32(g, TK("attention.head_count"), false, 0, &hp->n_head, true, err, errlen) &&
              get_f32(g, TK("attention.layer_norm_rms_epsilon"), false, 0, &hp->rms_eps, err, errlen) &&
              get_f32(g, TK("rope.freq_base"), true, 10000.0f, &hp->rope_freq_base, err, errlen);
    if (!ok) return false;
    if (!get_u32(g, TK("attention.head_count_kv"), true, hp->n_head, &hp->n_head_kv, true, err, errlen)) return false;
    uint32_t dflt_head = hp->n_head ? hp->n_embd / hp->n_head : 0, kl, vl, rot;
    if (!get_u32(g, TK("attention.key_length"), true, dflt_head, &kl, false, err, errlen) ||
        !get_u32(g, TK("attention.value_length"), true, dflt_head, &vl, false, err, errlen) ||
        !get_u32(g, TK("rope.dimension_count"), true, kl, &rot, false, err, errlen))
        return false;
    if (kl != vl || rot != kl) {
        tl_errorf(err, errlen, "key_length %u, value_length %u and rope.dimension_count %u must be equal", kl, vl, rot);
        return false;
    }
    hp->head_dim = kl;
    const struct tl_gguf_value *s = tl_gguf_get(g, TK("rope.dimension_sections"));
    if (!s || s->type != TL_GGUF_ARRAY || (s->arr.type != TL_GGUF_INT32 && s->arr.type != TL_GGUF_UINT32) ||
        s->arr.n != 4) {
        tl_errorf(err, errlen, "key " TK("rope.dimension_sections") " must be an i32 or u32 array of exactly 4");
        return false;
    }
    memcpy(hp->rope_sections, s->arr.data, sizeof hp->rope_sections);

    // The vocabulary size is the embedding's row count.
    int64_t te = tl_gguf_find_tensor(g, "token_embd.weight");
    if (te < 0) {
        tl_errorf(err, errlen, "missing tensor token_embd.weight");
        return false;
    }
    const struct tl_gguf_tensor_info *t = tl_gguf_tensor(g, te);
    if (t->n_dims != 2 || t->ne[1] <= 0 || t->ne[1] > UINT32_MAX) {
        tl_errorf(err, errlen, "token_embd.weight must be 2-D");
        return false;
    }
    hp->n_vocab = (uint32_t)t->ne[1];
    hp->tied_embeddings = tl_gguf_find_tensor(g, "output.weight") < 0;
    return qwen25vl_text_hparams_valid(hp, err, errlen);
}

#define VK(name) "clip.vision." name

bool qwen25vl_vision_hparams_from_gguf(const struct tl_gguf *g, struct qwen25vl_vision_hparams *hp, char *err,
                                       size_t errlen) {
    memset(hp, 0, sizeof *hp);
    const struct tl_gguf_value *pt = tl_gguf_get(g, "clip.projector_type");
    if (!pt) pt = tl_gguf_get(g, "clip.vision.projector_type");
    if (!pt || pt->type != TL_GGUF_STRING) {
        tl_errorf(err, errlen, "missing string key clip.projector_type");
        return false;
    }
    if (strcmp(pt->str.data, QWEN25VL_PROJECTOR_TYPE)) {
        tl_errorf(err, errlen, "projector type '%s' is not supported (longvl reads '%s', Qwen2.5-VL)", pt->str.data,
             QWEN25VL_PROJECTOR_TYPE);
        return false;
    }
    const struct tl_gguf_value *hv = tl_gguf_get(g, "clip.has_vision_encoder");
    if (!hv || hv->type != TL_GGUF_BOOL || !hv->b) {
        tl_errorf(err, errlen, "clip.has_vision_encoder must be a bool set to true");
        return false;
    }
    const struct tl_gguf_value *silu = tl_gguf_get(g, "clip.use_silu");
    if (silu && silu->type != TL_GGUF_BOOL) {
        tl_errorf(err, errlen, "key clip.use_silu has type %s, expected bool", type_name_of(silu));
        return false;
    }
    hp->use_silu = silu && silu->b;
    bool ok = get_u32(g, VK("embedding_length"), false, 0, &hp->n_embd, false, err, errlen) &&
              get_u32(g, VK("feed_forward_length"), false, 0, &hp->n_ff, false, err, errlen) &&
              get_u32(g, VK("block_count"), false, 0, &hp->n_layer, false, err, errlen) &&
              get_u32(g, VK("attention.head_count"), false, 0, &hp->n_head, false, err, errlen) &&
              get_u32(g, VK("projection_dim"), false, 0, &hp->projection_dim, false, err, errlen) &&
              get_u32(g, VK("patch_size"), false, 0, &hp->patch_size, false, err, errlen) &&
              get_u32(g, VK("image_size"), false, 0, &hp->image_size, false, err, errlen) &&
              get_u32(g, VK("spatial_merge_size"), true, 2, &hp->spatial_merge_size, false, err, errlen) &&
              get_u32(g, VK("window_size"), true, 112, &hp->window_size, false, err, errlen) &&
              get_u32(g, VK("n_wa_pattern"), false, 0, &hp->n_wa_pattern, false, err, errlen) &&
              get_f32(g, VK("attention.layer_norm_epsilon"), false, 0, &hp->eps, err, errlen) &&
              get_f32x3(g, VK("image_mean"), hp->image_mean, err, errlen) &&
              get_f32x3(g, VK("image_std"), hp->image_std, err, errlen);
    if (!ok) return false;
    hp->head_dim = hp->n_head ? hp->n_embd / hp->n_head : 0;
    return qwen25vl_vision_hparams_valid(hp, err, errlen);
}

// ---------------------------------------------------------------------------------------
// Checking and writing

bool qwen25vl_check_tensors(const struct tl_gguf *g, const struct qwen25vl_tensor_spec *specs, int n, char *err,
                            size_t errlen) {
    for (int i = 0; i < n; i++) {
        int64_t k = tl_gguf_find_tensor(g, specs[i].name);
        if (k < 0) {
            tl_errorf(err, errlen, "missing tensor %s", specs[i].name);
            return false;
        }
        const struct tl_gguf_tensor_info *t = tl_gguf_tensor(g, k);
        if (memcmp(t->ne, specs[i].ne, sizeof t->ne)) {
            tl_errorf(err, errlen, "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, %lld]",
                 t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                 (long long)specs[i].ne[0], (long long)specs[i].ne[1], (long long)specs[i].ne[2],
                 (long long)specs[i].ne[3]);
            return false;
        }
        const struct tl_ggml_type_info *ti = tl_ggml_type_info(t->type);
        if (t->type == 24 || t->type == 25 || t->type == 26 || t->type == 27) {
            tl_errorf(err, errlen, "tensor %s has integer type %s", t->name, ti ? ti->name : "?");
            return false;
        }
    }
    if (tl_gguf_n_tensors(g) != n) {
        for (int64_t k = 0; k < tl_gguf_n_tensors(g); k++) {
            const char *name = tl_gguf_tensor(g, k)->name;
            int i = 0;
            while (i < n && strcmp(specs[i].name, name)) i++;
            if (i == n) {
                tl_errorf(err, errlen, "unexpected tensor %s (expected %d tensors, the file has %lld)", name, n,
                     (long long)tl_gguf_n_tensors(g));
                return false;
            }
        }
    }
    return true;
}

void qwen25vl_text_hparams_to_gguf(const struct qwen25vl_text_hparams *hp, struct tl_gguf *g) {
    tl_gguf_set_str(g, "general.architecture", QWEN25VL_TEXT_ARCH);
    tl_gguf_set_u32(g, TK("context_length"), hp->n_ctx_train);
    tl_gguf_set_u32(g, TK("embedding_length"), hp->n_embd);
    tl_gguf_set_u32(g, TK("feed_forward_length"), hp->n_ff);
    tl_gguf_set_u32(g, TK("block_count"), hp->n_layer);
    tl_gguf_set_u32(g, TK("attention.head_count"), hp->n_head);
    tl_gguf_set_u32(g, TK("attention.head_count_kv"), hp->n_head_kv);
    tl_gguf_set_f32(g, TK("rope.freq_base"), hp->rope_freq_base);
    tl_gguf_set_f32(g, TK("attention.layer_norm_rms_epsilon"), hp->rms_eps);
    tl_gguf_set_arr_data(g, TK("rope.dimension_sections"), TL_GGUF_INT32, hp->rope_sections, 4);
    // Only when head_dim differs from n_embd / n_head, as llama.cpp's converter does.
    if (hp->head_dim != hp->n_embd / hp->n_head) {
        tl_gguf_set_u32(g, TK("attention.key_length"), hp->head_dim);
        tl_gguf_set_u32(g, TK("attention.value_length"), hp->head_dim);
    }
}

void qwen25vl_vision_hparams_to_gguf(const struct qwen25vl_vision_hparams *hp, struct tl_gguf *g) {
    tl_gguf_set_str(g, "general.architecture", "clip");
    tl_gguf_set_bool(g, "clip.has_vision_encoder", true);
    tl_gguf_set_str(g, "clip.projector_type", QWEN25VL_PROJECTOR_TYPE);
    tl_gguf_set_u32(g, VK("embedding_length"), hp->n_embd);
    tl_gguf_set_u32(g, VK("feed_forward_length"), hp->n_ff);
    tl_gguf_set_u32(g, VK("block_count"), hp->n_layer);
    tl_gguf_set_u32(g, VK("attention.head_count"), hp->n_head);
    tl_gguf_set_u32(g, VK("projection_dim"), hp->projection_dim);
    tl_gguf_set_u32(g, VK("image_size"), hp->image_size);
    tl_gguf_set_u32(g, VK("patch_size"), hp->patch_size);
    tl_gguf_set_arr_data(g, VK("image_mean"), TL_GGUF_FLOAT32, hp->image_mean, 3);
    tl_gguf_set_arr_data(g, VK("image_std"), TL_GGUF_FLOAT32, hp->image_std, 3);
    tl_gguf_set_bool(g, "clip.use_silu", hp->use_silu);
    tl_gguf_set_u32(g, VK("n_wa_pattern"), hp->n_wa_pattern);
    tl_gguf_set_f32(g, VK("attention.layer_norm_epsilon"), hp->eps);
    // llama.cpp's defaults are 2 and 112 px; write the keys only when they differ.
    if (hp->spatial_merge_size != 2) tl_gguf_set_u32(g, VK("spatial_merge_size"), hp->spatial_merge_size);
    if (hp->window_size != 112) tl_gguf_set_u32(g, VK("window_size"), hp->window_size);
}

struct tl_tensor *qwen25vl_bind_tensor(const struct tl_gguf *g, struct tl_context *wctx, const char *fmt, int layer) {
    char name[TL_GGUF_MAX_NAME];
    snprintf(name, sizeof name, fmt, layer);
    int64_t i = tl_gguf_find_tensor(g, name);
    if (i < 0) return NULL;
    const struct tl_gguf_tensor_info *ti = tl_gguf_tensor(g, i);
    enum tl_type type;
    if (!tl_type_from_ggml(ti->type, &type)) return NULL;
    struct tl_tensor *t = tl_new_tensor(wctx, type, (int)ti->n_dims, ti->ne);
    if (t) {
        t->data = (void *)ti->data;
        tl_set_name(t, "%s", name);
    }
    return t;
}
