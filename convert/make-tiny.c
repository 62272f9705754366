// Random Qwen2.5-VL checkpoints in HuggingFace's layout (see make-tiny.h).
#include "make-tiny.h"
#include "safetensors.h"
#include "text-file.h"
#include "tl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// The Qwen2-VL / Qwen2.5-VL chat template as the model repositories ship it.
static const char qwen25vl_chat_template[] =
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

struct preset {
    const char *name;
    int vocab, hidden, layers, heads, kv_heads, ff, sections[3];
    int v_hidden, v_depth, v_heads, v_ff, v_full_every;
};

static const struct preset presets[] = {
    // vocab covers the real tokenizer (151,669 ids incl. the added tokens) like the 3B's 151,936
    { "tiny", 151936, 64, 2, 4, 2, 128, { 2, 3, 3 }, 32, 4, 2, 48, 2 },
    { "small", 151936, 256, 4, 8, 2, 512, { 4, 6, 6 }, 128, 8, 4, 256, 4 },
    // small with a 2,304-wide FFN: FFN-down rows of 9 K-quant blocks, which the CPU holds
    // 8 blocks to a group (Q4_K_X8, Q5_K_X8) plus a tail of one (test-quant-model)
    { "wide", 151936, 256, 4, 8, 2, 2304, { 4, 6, 6 }, 128, 8, 4, 256, 4 },
    { "bench", 151936, 2048, 8, 16, 2, 11008, { 16, 24, 24 }, 1280, 4, 16, 3420, 2 },
};

// ---------------------------------------------------------------------------------------
// The tensor list, in HuggingFace names

enum init { INIT_WEIGHT, INIT_NORM, INIT_BIAS };

struct hf_tensor {
    char name[128];
    int n_dims;
    int64_t shape[5];
    enum init init;
};

struct tensor_list {
    struct hf_tensor *v;
    int n, cap;
};

static void add(struct tensor_list *l, enum init init, int n_dims, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(struct tensor_list *l, enum init init, int n_dims, const int64_t *shape, const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 128;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) abort();
    }
    struct hf_tensor *t = &l->v[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->n_dims = n_dims;
    memcpy(t->shape, shape, n_dims * sizeof *shape);
    t->init = init;
}

#define W2(l, out, in, ...) add(l, INIT_WEIGHT, 2, (int64_t[]){ out, in }, __VA_ARGS__)
#define B1(l, n, ...) add(l, INIT_BIAS, 1, (int64_t[]){ n }, __VA_ARGS__)
#define N1(l, n, ...) add(l, INIT_NORM, 1, (int64_t[]){ n }, __VA_ARGS__)

static void list_tensors(const struct preset *p, const struct make_tiny_options *o, struct tensor_list *l) {
    const char *tp = o->new_layout ? "model.language_model." : "model.";
    const char *vp = o->new_layout ? "model.visual." : "visual.";
    int64_t H = p->hidden, hd = p->hidden / p->heads, KV = hd * p->kv_heads, F = p->ff;
    W2(l, p->vocab, H, "%sembed_tokens.weight", tp);
    for (int i = 0; i < p->layers; i++) {
        N1(l, H, "%slayers.%d.input_layernorm.weight", tp, i);
        W2(l, H, H, "%slayers.%d.self_attn.q_proj.weight", tp, i);
        B1(l, H, "%slayers.%d.self_attn.q_proj.bias", tp, i);
        W2(l, KV, H, "%slayers.%d.self_attn.k_proj.weight", tp, i);
        B1(l, KV, "%slayers.%d.self_attn.k_proj.bias", tp, i);
        W2(l, KV, H, "%slayers.%d.self_attn.v_proj.weight", tp, i);
        B1(l, KV, "%slayers.%d.self_attn.v_proj.bias", tp, i);
        W2(l, H, H, "%slayers.%d.self_attn.o_proj.weight", tp, i);
        N1(l, H, "%slayers.%d.post_attention_layernorm.weight", tp, i);
        W2(l, F, H, "%slayers.%d.mlp.gate_proj.weight", tp, i);
        W2(l, F, H, "%slayers.%d.mlp.up_proj.weight", tp, i);
        W2(l, H, F, "%slayers.%d.mlp.down_proj.weight", tp, i);
    }
    N1(l, H, "%snorm.weight", tp);
    if (!o->tied) W2(l, p->vocab, H, "lm_head.weight");

    int64_t E = p->v_hidden, VF = p->v_ff, M = 4 * E;
    add(l, INIT_WEIGHT, 5, (int64_t[]){ E, 3, 2, 14, 14 }, "%spatch_embed.proj.weight", vp);
    for (int i = 0; i < p->v_depth; i++) {
        N1(l, E, "%sblocks.%d.norm1.weight", vp, i);
        N1(l, E, "%sblocks.%d.norm2.weight", vp, i);
        W2(l, 3 * E, E, "%sblocks.%d.attn.qkv.weight", vp, i);
        B1(l, 3 * E, "%sblocks.%d.attn.qkv.bias", vp, i);
        W2(l, E, E, "%sblocks.%d.attn.proj.weight", vp, i);
        B1(l, E, "%sblocks.%d.attn.proj.bias", vp, i);
        W2(l, VF, E, "%sblocks.%d.mlp.gate_proj.weight", vp, i);
        B1(l, VF, "%sblocks.%d.mlp.gate_proj.bias", vp, i);
        W2(l, VF, E, "%sblocks.%d.mlp.up_proj.weight", vp, i);
        B1(l, VF, "%sblocks.%d.mlp.up_proj.bias", vp, i);
        W2(l, E, VF, "%sblocks.%d.mlp.down_proj.weight", vp, i);
        B1(l, E, "%sblocks.%d.mlp.down_proj.bias", vp, i);
    }
    N1(l, E, "%smerger.ln_q.weight", vp);
    W2(l, M, M, "%smerger.mlp.0.weight", vp);
    B1(l, M, "%smerger.mlp.0.bias", vp);
    W2(l, H, M, "%smerger.mlp.2.weight", vp);
    B1(l, H, "%smerger.mlp.2.bias", vp);
}

// ---------------------------------------------------------------------------------------
// Random values

static uint64_t next(uint64_t *s) {   // splitmix64
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform values with the spread of a trained model: weights of std ~0.02, norms near 1.
static void fill(float *dst, int64_t n, enum init init, uint64_t *s) {
    float lo = init == INIT_NORM ? 0.9f : -0.035f, span = init == INIT_NORM ? 0.2f : 0.07f;
    if (init == INIT_BIAS) lo = -0.02f, span = 0.04f;
    for (int64_t i = 0; i < n; i++) dst[i] = lo + span * (float)(next(s) >> 40) * (1.0f / 16777216.0f);
}

static uint64_t tensor_bytes(const struct hf_tensor *t, enum tl_type type) {
    uint64_t n = tl_type_traits(type)->type_size;
    for (int d = 0; d < t->n_dims; d++) n *= (uint64_t)t->shape[d];
    return n;
}

static bool write_shard(const char *path, const struct tensor_list *l, int first, int count, enum tl_type type,
                        uint64_t *seed, char *err, size_t errlen) {
    struct safetensors_write_item *items = calloc(count ? count : 1, sizeof *items);
    if (!items) abort();
    for (int i = 0; i < count; i++) {
        const struct hf_tensor *t = &l->v[first + i];
        items[i].name = t->name;
        items[i].type = type;
        items[i].n_dims = t->n_dims;
        memcpy(items[i].shape, t->shape, t->n_dims * sizeof *t->shape);
    }
    struct safetensors_writer *w = safetensors_write_begin(path, items, count, err, errlen);
    free(items);
    if (!w) return false;
    enum { CHUNK = 1 << 16 };
    float *f = malloc(CHUNK * sizeof *f);
    uint8_t *b = malloc(CHUNK * sizeof(float));
    if (!f || !b) abort();
    bool ok = true;
    for (int i = 0; ok && i < count; i++) {
        const struct hf_tensor *t = &l->v[first + i];
        int64_t n = (int64_t)(tensor_bytes(t, type) / tl_type_traits(type)->type_size);
        for (int64_t done = 0; ok && done < n; done += CHUNK) {
            int64_t k = n - done < CHUNK ? n - done : CHUNK;
            fill(f, k, t->init, seed);
            tl_type_traits(type)->from_float(f, b, k);
            ok = safetensors_write_data(w, b, (size_t)k * tl_type_traits(type)->type_size, err, errlen);
        }
    }
    free(f);
    free(b);
    if (!ok) {
        safetensors_write_abort(w);
        return false;
    }
    return safetensors_write_finish(w, err, errlen);
}

// ---------------------------------------------------------------------------------------
// JSON files

static bool write_json(const char *dir, const char *name, cJSON *j, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = fopen(path, "wb");
    bool ok = f && text && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    free(text);
    if (!ok) tl_errorf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return ok;
}

static cJSON *int_array(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *config_json(const struct preset *p, const struct make_tiny_options *o) {
    cJSON *root = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("Qwen2_5_VLForConditionalGeneration"));
    cJSON_AddStringToObject(root, "model_type", "qwen2_5_vl");
    cJSON_AddNumberToObject(root, "bos_token_id", 151643);
    cJSON_AddNumberToObject(root, "eos_token_id", 151645);
    cJSON_AddNumberToObject(root, "vision_start_token_id", 151652);
    cJSON_AddNumberToObject(root, "vision_end_token_id", 151653);
    cJSON_AddNumberToObject(root, "vision_token_id", 151654);
    cJSON_AddNumberToObject(root, "image_token_id", 151655);
    cJSON_AddNumberToObject(root, "video_token_id", 151656);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", o->tied);
    cJSON_AddStringToObject(root, "torch_dtype", o->dtype == TL_BF16 ? "bfloat16" : o->dtype == TL_F16 ? "float16"
                                                                                                     : "float32");
    cJSON_AddNumberToObject(root, "rms_norm_eps", 1e-6);
    // The text keys: at the top level (hub layout) or in text_config (newer transformers).
    cJSON *text = o->new_layout ? cJSON_AddObjectToObject(root, "text_config") : root;
    cJSON_AddNumberToObject(text, "vocab_size", p->vocab);
    cJSON_AddNumberToObject(text, "hidden_size", p->hidden);
    cJSON_AddNumberToObject(text, "intermediate_size", p->ff);
    cJSON_AddNumberToObject(text, "num_hidden_layers", p->layers);
    cJSON_AddNumberToObject(text, "num_attention_heads", p->heads);
    cJSON_AddNumberToObject(text, "num_key_value_heads", p->kv_heads);
    cJSON_AddStringToObject(text, "hidden_act", "silu");
    if (o->new_layout) cJSON_AddNumberToObject(text, "rms_norm_eps", 1e-6);
    cJSON_AddNumberToObject(text, "max_position_embeddings", 128000);
    cJSON_AddNumberToObject(text, "sliding_window", 32768);
    cJSON_AddBoolToObject(text, "use_sliding_window", false);
    cJSON *rope = cJSON_AddObjectToObject(text, o->new_layout ? "rope_parameters" : "rope_scaling");
    cJSON_AddStringToObject(rope, o->new_layout ? "rope_type" : "type", o->new_layout ? "default" : "mrope");
    cJSON_AddItemToObject(rope, "mrope_section", int_array(p->sections, 3));
    if (o->new_layout) cJSON_AddNumberToObject(rope, "rope_theta", 1000000.0);
    else cJSON_AddNumberToObject(text, "rope_theta", 1000000.0);

    cJSON *v = cJSON_AddObjectToObject(root, "vision_config");
    cJSON_AddNumberToObject(v, "depth", p->v_depth);
    cJSON_AddStringToObject(v, "hidden_act", "silu");
    cJSON_AddNumberToObject(v, "hidden_size", p->v_hidden);
    cJSON_AddNumberToObject(v, "intermediate_size", p->v_ff);
    cJSON_AddNumberToObject(v, "num_heads", p->v_heads);
    cJSON_AddNumberToObject(v, o->new_layout ? "in_channels" : "in_chans", 3);
    cJSON_AddNumberToObject(v, "out_hidden_size", p->hidden);
    cJSON_AddNumberToObject(v, "patch_size", 14);
    cJSON_AddNumberToObject(v, "spatial_merge_size", 2);
    cJSON_AddNumberToObject(v, "spatial_patch_size", 14);
    cJSON_AddNumberToObject(v, "window_size", 112);
    int full[64], n_full = 0;
    for (int i = p->v_full_every - 1; i < p->v_depth && n_full < 64; i += p->v_full_every) full[n_full++] = i;
    cJSON_AddItemToObject(v, "fullatt_block_indexes", int_array(full, n_full));
    cJSON_AddNumberToObject(v, "tokens_per_second", 2);
    cJSON_AddNumberToObject(v, "temporal_patch_size", 2);
    return root;
}

static cJSON *preprocessor_json(void) {
    cJSON *j = cJSON_CreateObject();
    const double mean[3] = { 0.48145466, 0.4578275, 0.40821073 }, std[3] = { 0.26862954, 0.26130258, 0.27577711 };
    cJSON_AddNumberToObject(j, "min_pixels", 3136);
    cJSON_AddNumberToObject(j, "max_pixels", 12845056);
    cJSON_AddNumberToObject(j, "patch_size", 14);
    cJSON_AddNumberToObject(j, "temporal_patch_size", 2);
    cJSON_AddNumberToObject(j, "merge_size", 2);
    cJSON_AddItemToObject(j, "image_mean", cJSON_CreateDoubleArray(mean, 3));
    cJSON_AddItemToObject(j, "image_std", cJSON_CreateDoubleArray(std, 3));
    cJSON_AddStringToObject(j, "image_processor_type", "Qwen2VLImageProcessor");
    cJSON_AddStringToObject(j, "processor_class", "Qwen2_5_VLProcessor");
    return j;
}

static bool copy_tokenizer(const struct make_tiny_options *o, char *err, size_t errlen) {
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/tokenizer.json", o->tokenizer_dir);
    char *text = read_text_file(src, 256u << 20, err, errlen);
    if (!text) return false;
    snprintf(dst, sizeof dst, "%s/tokenizer.json", o->out_dir);
    FILE *f = fopen(dst, "wb");
    bool ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    free(text);
    if (!ok) {
        tl_errorf(err, errlen, "%s: cannot write", dst);
        return false;
    }
    // tokenizer_config.json with the Qwen2.5-VL chat template in place of the shipped one.
    snprintf(src, sizeof src, "%s/tokenizer_config.json", o->tokenizer_dir);
    text = read_text_file(src, 16u << 20, err, errlen);
    if (!text) return false;
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(cfg)) {
        tl_errorf(err, errlen, "%s: not a JSON object", src);
        cJSON_Delete(cfg);
        return false;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "chat_template");
    cJSON_AddStringToObject(cfg, "chat_template", qwen25vl_chat_template);
    return write_json(o->out_dir, "tokenizer_config.json", cfg, err, errlen);
}

bool make_tiny_checkpoint(const struct make_tiny_options *o, char *err, size_t errlen) {
    const struct preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, o->preset)) p = &presets[i];
    if (!p) {
        tl_errorf(err, errlen, "unknown preset '%s' (tiny, small, wide or bench)", o->preset);
        return false;
    }
    if (o->shards < 1 || o->shards > 99) {
        tl_errorf(err, errlen, "--shards must be 1 to 99");
        return false;
    }
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST) {
        tl_errorf(err, errlen, "%s: cannot create: %s", o->out_dir, strerror(errno));
        return false;
    }
    if (!write_json(o->out_dir, "config.json", config_json(p, o), err, errlen) ||
        !write_json(o->out_dir, "preprocessor_config.json", preprocessor_json(), err, errlen) ||
        !copy_tokenizer(o, err, errlen))
        return false;

    struct tensor_list l = { 0 };
    list_tensors(p, o, &l);
    uint64_t total = 0;
    for (int i = 0; i < l.n; i++) total += tensor_bytes(&l.v[i], o->dtype);
    uint64_t seed = o->seed;
    bool ok = true;
    char path[4096];
    if (o->shards == 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", o->out_dir);
        ok = write_shard(path, &l, 0, l.n, o->dtype, &seed, err, errlen);
    } else {
        // Consecutive tensors, about total/shards bytes per shard, and the index.
        cJSON *index = cJSON_CreateObject();
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(index, "metadata"), "total_size", (double)total);
        cJSON *map = cJSON_AddObjectToObject(index, "weight_map");
        int first = 0;
        uint64_t acc = 0;
        for (int s = 0; ok && s < o->shards; s++) {
            int count = 0;
            uint64_t target = total / o->shards * (s + 1);
            while (first + count < l.n && (s == o->shards - 1 || acc < target || count == 0)) {
                acc += tensor_bytes(&l.v[first + count], o->dtype);
                count++;
            }
            char name[64];
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, o->shards);
            snprintf(path, sizeof path, "%s/%s", o->out_dir, name);
            ok = write_shard(path, &l, first, count, o->dtype, &seed, err, errlen);
            for (int i = first; i < first + count; i++) cJSON_AddStringToObject(map, l.v[i].name, name);
            first += count;
        }
        if (ok) ok = write_json(o->out_dir, "model.safetensors.index.json", index, err, errlen);   // frees it
        else cJSON_Delete(index);
    }
    free(l.v);
    return ok;
}
