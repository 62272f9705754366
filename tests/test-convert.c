// longvl convert on tiny random checkpoints (make-tiny): every tensor of both output
// files compared with its HuggingFace source element by element (bit-exact to F32, equal
// to the correctly rounded value for F16/BF16), for both name layouts, tied and untied
// embeddings, one and several shards; the metadata and the tokenizer keys checked
// against the config and the real Qwen tokenizer; and each kind of bad checkpoint
// refused with a message and no file left behind.
//
// The HF -> GGUF name mapping here is written from the HF side, independently of the
// converter's GGUF-side table, so a mistake in either shows up as a mismatch.
//
// usage: test-convert TOKENIZER_DIR
#include "byte-builder.h"
#include "convert-qwen25vl.h"
#include "make-tiny.h"
#include "qwen25vl-gguf.h"
#include "safetensors.h"
#include "test-util.h"
#include "tl-gguf.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
static const char *tokenizer_dir;

// ---------------------------------------------------------------------------------------
// HF -> GGUF, written from the HF side

enum slice { WHOLE, THIRD, FRAME };
struct target {
    char name[64];
    enum slice slice;
    int index;
};

static const char *const text_layer_map[][2] = {
    { "input_layernorm.weight", "attn_norm.weight" },       { "self_attn.q_proj.weight", "attn_q.weight" },
    { "self_attn.q_proj.bias", "attn_q.bias" },             { "self_attn.k_proj.weight", "attn_k.weight" },
    { "self_attn.k_proj.bias", "attn_k.bias" },             { "self_attn.v_proj.weight", "attn_v.weight" },
    { "self_attn.v_proj.bias", "attn_v.bias" },             { "self_attn.o_proj.weight", "attn_output.weight" },
    { "post_attention_layernorm.weight", "ffn_norm.weight" }, { "mlp.gate_proj.weight", "ffn_gate.weight" },
    { "mlp.up_proj.weight", "ffn_up.weight" },              { "mlp.down_proj.weight", "ffn_down.weight" },
};
static const char *const vision_block_map[][2] = {
    { "norm1.weight", "ln1.weight" },         { "norm2.weight", "ln2.weight" },
    { "attn.proj.weight", "attn_out.weight" }, { "attn.proj.bias", "attn_out.bias" },
    { "mlp.gate_proj.weight", "ffn_gate.weight" }, { "mlp.gate_proj.bias", "ffn_gate.bias" },
    { "mlp.up_proj.weight", "ffn_up.weight" }, { "mlp.up_proj.bias", "ffn_up.bias" },
    { "mlp.down_proj.weight", "ffn_down.weight" }, { "mlp.down_proj.bias", "ffn_down.bias" },
};

// The GGUF tensors made from one HF tensor; returns how many (0: unknown name).
static int targets_of(const char *hf, struct target *out) {
    const char *rest;
    int layer, used = 0;
    if (!strncmp(hf, "model.language_model.", 21)) rest = hf + 21;
    else if (!strncmp(hf, "model.visual.", 13)) rest = hf + 13, hf = "visual.";
    else if (!strncmp(hf, "visual.", 7)) rest = hf + 7, hf = "visual.";
    else if (!strncmp(hf, "model.", 6)) rest = hf + 6;
    else if (!strcmp(hf, "lm_head.weight")) return snprintf(out[0].name, 64, "output.weight"), out[0].slice = WHOLE, 1;
    else return 0;
    bool vision = !strcmp(hf, "visual.");
    out[0].slice = WHOLE;
    out[0].index = 0;
    if (!vision) {
        if (!strcmp(rest, "embed_tokens.weight")) return snprintf(out[0].name, 64, "token_embd.weight"), 1;
        if (!strcmp(rest, "norm.weight")) return snprintf(out[0].name, 64, "output_norm.weight"), 1;
        if (sscanf(rest, "layers.%d.%n", &layer, &used) == 1 && used)
            for (size_t i = 0; i < sizeof text_layer_map / sizeof text_layer_map[0]; i++)
                if (!strcmp(rest + used, text_layer_map[i][0]))
                    return snprintf(out[0].name, 64, "blk.%d.%s", layer, text_layer_map[i][1]), 1;
        return 0;
    }
    if (!strcmp(rest, "patch_embed.proj.weight")) {
        snprintf(out[0].name, 64, "v.patch_embd.weight");
        snprintf(out[1].name, 64, "v.patch_embd.weight.1");
        out[0].slice = out[1].slice = FRAME;
        out[1].index = 1;
        return 2;
    }
    if (!strcmp(rest, "merger.ln_q.weight")) return snprintf(out[0].name, 64, "v.post_ln.weight"), 1;
    if (!strncmp(rest, "merger.mlp.", 11)) return snprintf(out[0].name, 64, "mm.%s", rest + 11), 1;
    if (sscanf(rest, "blocks.%d.%n", &layer, &used) == 1 && used) {
        const char *part = rest + used;
        if (!strncmp(part, "attn.qkv.", 9)) {
            const char *qkv = "qkv";
            for (int k = 0; k < 3; k++) {
                snprintf(out[k].name, 64, "v.blk.%d.attn_%c.%s", layer, qkv[k], part + 9);
                out[k].slice = THIRD;
                out[k].index = k;
            }
            return 3;
        }
        for (size_t i = 0; i < sizeof vision_block_map / sizeof vision_block_map[0]; i++)
            if (!strcmp(part, vision_block_map[i][0]))
                return snprintf(out[0].name, 64, "v.blk.%d.%s", layer, vision_block_map[i][1]), 1;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------
// Comparing a converted file with its source

static float load(enum tl_type t, const void *p, int64_t i) {
    switch (t) {
    case TL_F32: return ((const float *)p)[i];
    case TL_F16: return tl_fp16_to_fp32(((const uint16_t *)p)[i]);
    case TL_BF16: return tl_bf16_to_fp32(((const uint16_t *)p)[i]);
    default: return NAN;
    }
}

// The out element as bits: what the correctly rounded (round-to-nearest-even) value is.
static uint32_t expected_bits(float v, uint32_t ggml_type) {
    uint32_t b;
    if (ggml_type == TL_GGML_F16) return tl_fp32_to_fp16(v);
    if (ggml_type == TL_GGML_BF16) return tl_fp32_to_bf16(v);
    memcpy(&b, &v, 4);
    return b;
}

static uint32_t stored_bits(const void *p, uint32_t ggml_type, int64_t i) {
    if (ggml_type == TL_GGML_F32) return ((const uint32_t *)p)[i];
    return ((const uint16_t *)p)[i];
}

// Compares every GGUF tensor with its source. Returns the number of tensors checked.
static int compare_all(const struct safetensors *st, const struct tl_gguf *gt, const struct tl_gguf *gv,
                       enum tl_type outtype, bool tied, int *mismatches, double *worst_rel) {
    int checked = 0;
    *mismatches = 0;
    *worst_rel = 0;
    for (int64_t s = 0; s < safetensors_n_tensors(st); s++) {
        const struct safetensors_tensor *src = safetensors_tensor(st, s);
        struct target tg[3];
        int nt = targets_of(src->name, tg);
        if (!nt) {
            printf("  no mapping for %s\n", src->name);
            (*mismatches)++;
            continue;
        }
        for (int k = 0; k < nt; k++) {
            const struct tl_gguf *g = tg[k].name[0] == 'v' || tg[k].name[0] == 'm' ? gv : gt;
            int64_t gi = tl_gguf_find_tensor(g, tg[k].name);
            if (tied && !strcmp(tg[k].name, "output.weight")) {
                if (gi >= 0) (*mismatches)++;   // a tied model has no output.weight
                continue;
            }
            if (gi < 0) {
                printf("  %s (from %s) missing\n", tg[k].name, src->name);
                (*mismatches)++;
                continue;
            }
            const struct tl_gguf_tensor_info *t = tl_gguf_tensor(g, gi);
            // llama.cpp's type rules, stated independently: 1-D -> F32; patch embedding F16
            // for f16 output, else F32; everything else the output type.
            uint32_t want_type = t->n_dims == 1 ? TL_GGML_F32
                                 : !strncmp(t->name, "v.patch_embd", 12) ? (outtype == TL_F16 ? TL_GGML_F16 : TL_GGML_F32)
                                 : outtype == TL_F16 ? TL_GGML_F16 : outtype == TL_BF16 ? TL_GGML_BF16 : TL_GGML_F32;
            int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            int64_t plane = 14 * 14;
            int64_t src_n = src->n_elements / (tg[k].slice == WHOLE ? 1 : tg[k].slice == THIRD ? 3 : 2);
            bool ok = t->type == want_type && n == src_n;
            for (int64_t i = 0; ok && i < n; i++) {
                int64_t j = tg[k].slice == WHOLE ? i
                          : tg[k].slice == THIRD ? tg[k].index * n + i
                                                 : (i / plane) * 2 * plane + tg[k].index * plane + i % plane;
                float v = load(src->type, src->data, j);
                uint32_t got = stored_bits(t->data, t->type, i);
                if (got != expected_bits(v, t->type)) ok = false;
                float back = t->type == TL_GGML_F32 ? load(TL_F32, t->data, i)
                             : t->type == TL_GGML_F16 ? load(TL_F16, t->data, i) : load(TL_BF16, t->data, i);
                if (fabsf(v) >= 1e-4f) {   // below that F16 goes subnormal: absolute error instead
                    double rel = fabs((double)back - v) / fabs(v);
                    if (rel > *worst_rel) *worst_rel = rel;
                }
            }
            if (!ok) {
                printf("  %s (from %s): type %u (want %u) or values differ\n", t->name, src->name, t->type, want_type);
                (*mismatches)++;
            }
            checked++;
        }
    }
    return checked;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static bool make(const char *name, enum tl_type dtype, int shards, bool new_layout, bool tied, char *dir, size_t n) {
    snprintf(dir, n, "%s/%s", tmpdir, name);
    struct make_tiny_options o = { .out_dir = dir, .preset = "tiny", .tokenizer_dir = tokenizer_dir, .dtype = dtype,
                                   .shards = shards, .new_layout = new_layout, .tied = tied, .seed = 7 };
    char err[512] = "";
    bool ok = make_tiny_checkpoint(&o, err, sizeof err);
    check(ok, "make-tiny %s (%s, %d shards, %s layout%s): %s", name, tl_type_name(dtype), shards,
          new_layout ? "new" : "hub", tied ? ", tied" : "", ok ? "ok" : err);
    return ok;
}

static void check_metadata(const struct tl_gguf *gt, const struct tl_gguf *gv) {
    char err[512] = "";
    struct qwen25vl_text_hparams th;
    struct qwen25vl_vision_hparams vh;
    bool ok = qwen25vl_text_hparams_from_gguf(gt, &th, err, sizeof err);
    check(ok && th.n_layer == 2 && th.n_embd == 64 && th.n_ff == 128 && th.n_head == 4 && th.n_head_kv == 2 &&
              th.head_dim == 16 && th.n_vocab == 151936 && th.n_ctx_train == 128000 && th.rope_freq_base == 1e6f &&
              th.rms_eps == 1e-6f && th.rope_sections[0] == 2 && th.rope_sections[1] == 3 && th.rope_sections[2] == 3 &&
              th.rope_sections[3] == 0,
          "text hyperparameters as in config.json: %s", ok ? "ok" : err);
    ok = qwen25vl_vision_hparams_from_gguf(gv, &vh, err, sizeof err);
    check(ok && vh.n_layer == 4 && vh.n_embd == 32 && vh.n_ff == 48 && vh.n_head == 2 && vh.projection_dim == 64 &&
              vh.n_wa_pattern == 2 && vh.patch_size == 14 && vh.spatial_merge_size == 2 && vh.use_silu &&
              vh.image_mean[0] == 0.48145466f && vh.image_std[2] == 0.27577711f,
          "vision hyperparameters as in config.json / preprocessor_config.json: %s", ok ? "ok" : err);

    const struct tl_gguf_value *tok = tl_gguf_get(gt, "tokenizer.ggml.tokens");
    const struct tl_gguf_value *typ = tl_gguf_get(gt, "tokenizer.ggml.token_type");
    const struct tl_gguf_value *mer = tl_gguf_get(gt, "tokenizer.ggml.merges");
    ok = tok && typ && mer && tok->arr.n == 151936 && typ->arr.n == 151936 && typ->arr.type == TL_GGUF_INT32;
    check(ok, "tokens and token types: one per embedding row (151936)");
    if (!ok) return;
    const struct tl_gguf_str *s = tok->arr.data;
    const int32_t *ty = typ->arr.data;
    check(!strcmp(s[0].data, "!") && ty[0] == 1 && !strcmp(s[8948].data, "system") && ty[8948] == 1,
          "normal tokens: 0 '!', 8948 'system'");
    check(!strcmp(s[151644].data, "<|im_start|>") && ty[151644] == 3 && !strcmp(s[151655].data, "<|image_pad|>") &&
              ty[151655] == 3,
          "special added tokens are CONTROL: 151644 <|im_start|>, 151655 <|image_pad|>");
    check(!strcmp(s[151657].data, "<tool_call>") && ty[151657] == 4 && ty[151659] == 3,
          "non-special added tokens: <tool_call> USER_DEFINED, <|fim_prefix|> CONTROL (spelled <|...|>)");
    check(!strcmp(s[151700].data, "[PAD151700]") && ty[151700] == 5 && ty[151935] == 5,
          "rows without a token: [PAD<id>], UNUSED");
    const struct tl_gguf_str *m = mer->arr.data;
    check(mer->arr.n == 151387 && !strcmp(m[0].data, "\xc4\xa0 \xc4\xa0") && !strcmp(m[2].data, "i n"),
          "merges: 151387 \"a b\" strings in rank order (pairs in tokenizer.json)");
    const struct tl_gguf_value *bos = tl_gguf_get(gt, "tokenizer.ggml.bos_token_id");
    const struct tl_gguf_value *eos = tl_gguf_get(gt, "tokenizer.ggml.eos_token_id");
    const struct tl_gguf_value *pad = tl_gguf_get(gt, "tokenizer.ggml.padding_token_id");
    const struct tl_gguf_value *addb = tl_gguf_get(gt, "tokenizer.ggml.add_bos_token");
    check(bos && bos->type == TL_GGUF_UINT32 && bos->u32 == 151643 && eos && eos->u32 == 151645 && pad &&
              pad->u32 == 151643 && addb && addb->type == TL_GGUF_BOOL && !addb->b,
          "special ids u32: bos 151643, eos 151645 (<|im_end|>), pad 151643; add_bos_token false");
    const struct tl_gguf_value *tpl = tl_gguf_get(gt, "tokenizer.chat_template");
    const struct tl_gguf_value *model = tl_gguf_get(gt, "tokenizer.ggml.model");
    const struct tl_gguf_value *pre = tl_gguf_get(gt, "tokenizer.ggml.pre");
    check(tpl && strstr(tpl->str.data, "<|vision_start|><|image_pad|><|vision_end|>") && model &&
              !strcmp(model->str.data, "gpt2") && pre && !strcmp(pre->str.data, "qwen2"),
          "tokenizer model gpt2, pre qwen2, the Qwen2.5-VL chat template");
}

static void convert_and_compare(const char *dir, const char *tag, enum tl_type outtype, bool tied, bool metadata) {
    char prefix[400], err[1024] = "";
    snprintf(prefix, sizeof prefix, "%s/out-%s-%s", tmpdir, tag, tl_type_name(outtype));
    struct convert_options o = { .hf_dir = dir, .out_prefix = prefix, .outtype = outtype };
    struct convert_result r;
    bool ok = convert_qwen25vl(&o, &r, err, sizeof err);
    check(ok, "convert %s to %s: %s", tag, tl_type_name(outtype), ok ? "ok" : err);
    if (!ok) return;
    struct tl_gguf *gt = tl_gguf_open(r.text_path, err, sizeof err);
    struct tl_gguf *gv = gt ? tl_gguf_open(r.mmproj_path, err, sizeof err) : NULL;
    struct safetensors *st = gv ? safetensors_open_dir(dir, err, sizeof err) : NULL;
    check(st != NULL, "outputs and source open: %s", st ? "ok" : err);
    if (st) {
        struct qwen25vl_text_hparams th;
        struct qwen25vl_vision_hparams vh;
        int nt = 0, nv = 0;
        bool hp = qwen25vl_text_hparams_from_gguf(gt, &th, err, sizeof err) &&
                  qwen25vl_vision_hparams_from_gguf(gv, &vh, err, sizeof err);
        struct qwen25vl_tensor_spec *ts = hp ? qwen25vl_text_tensor_specs(&th, &nt) : NULL;
        struct qwen25vl_tensor_spec *vs = hp ? qwen25vl_vision_tensor_specs(&vh, &nv) : NULL;
        bool inv = hp && qwen25vl_check_tensors(gt, ts, nt, err, sizeof err) &&
                   qwen25vl_check_tensors(gv, vs, nv, err, sizeof err);
        check(inv && th.tied_embeddings == tied, "both files load as Qwen2.5-VL, every tensor with its shape (%d + %d): %s",
              nt, nv, inv ? "ok" : err);
        free(ts);
        free(vs);
        int bad = 0;
        double rel = 0;
        int checked = compare_all(st, gt, gv, outtype, tied, &bad, &rel);
        int expected = (int)(tl_gguf_n_tensors(gt) + tl_gguf_n_tensors(gv));
        check(bad == 0 && checked == expected,
              "%s -> %s: %d of %d tensors equal element for element to the %s source rounded to %s (max rel. error %.2g)",
              tag, tl_type_name(outtype), checked - bad, expected, tag, tl_type_name(outtype), rel);
        if (metadata) check_metadata(gt, gv);
    }
    safetensors_close(st);
    tl_gguf_free(gt);
    tl_gguf_free(gv);
    unlink(r.text_path);
    unlink(r.mmproj_path);
}

// ---------------------------------------------------------------------------------------
// Bad checkpoints

// Rewrites DIR/model.safetensors: without `drop`, with `as_i32` stored as I32, plus an
// extra tensor `extra` if given.
static bool rewrite(const char *dir, const char *drop, const char *as_i32, const char *extra) {
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct safetensors *st = safetensors_open(path, err, sizeof err);
    if (!st) return false;
    int64_t n = safetensors_n_tensors(st);
    struct safetensors_write_item *items = calloc(n + 1, sizeof *items);
    int k = 0;
    for (int64_t i = 0; i < n; i++) {
        const struct safetensors_tensor *t = safetensors_tensor(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        items[k] = (struct safetensors_write_item){ t->name, as_i32 && !strcmp(t->name, as_i32) ? TL_I32 : t->type,
                                                    t->n_dims, { 0 } };
        memcpy(items[k].shape, t->shape, sizeof t->shape);
        k++;
    }
    if (extra) items[k++] = (struct safetensors_write_item){ extra, TL_F32, 1, { 4 } };
    struct safetensors_writer *w = safetensors_write_begin(path, items, k, err, sizeof err);
    bool ok = w != NULL;
    uint8_t zeros[16] = { 0 };
    for (int i = 0; ok && i < k; i++) {
        const struct safetensors_tensor *t = safetensors_find(st, items[i].name);
        if (!t) ok = safetensors_write_data(w, zeros, 16, err, sizeof err);
        else if (items[i].type == t->type) ok = safetensors_write_data(w, t->data, t->nbytes, err, sizeof err);
        else for (int64_t e = 0; ok && e < t->n_elements; e++) ok = safetensors_write_data(w, zeros, 4, err, sizeof err);
    }
    ok = ok && safetensors_write_finish(w, err, sizeof err);
    free(items);
    safetensors_close(st);
    return ok;
}

static bool edit_config(const char *dir, const char *key, cJSON *value) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t n;
    char *text = (char *)read_whole_file(path, &n);
    if (!text) return false;
    text = realloc(text, n + 1);
    text[n] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON_ReplaceItemInObjectCaseSensitive(root, key, value);
    char *out = cJSON_Print(root);
    bool ok = write_whole_file(path, out, strlen(out));
    free(out);
    cJSON_Delete(root);
    return ok;
}

static void expect_refused(const char *dir, const char *what, const char *needle) {
    char prefix[400], err[1024] = "", tmp[600];
    snprintf(prefix, sizeof prefix, "%s/refused", tmpdir);
    struct convert_options o = { .hf_dir = dir, .out_prefix = prefix, .outtype = TL_F16 };
    struct convert_result r;
    bool ok = convert_qwen25vl(&o, &r, err, sizeof err);
    bool clean = true;
    const char *outs[] = { "refused.gguf", "refused-mmproj.gguf", "refused.gguf.tmp", "refused-mmproj.gguf.tmp" };
    for (int i = 0; i < 4; i++) {
        snprintf(tmp, sizeof tmp, "%s/%s", tmpdir, outs[i]);
        clean = clean && !exists(tmp);
    }
    check(!ok && strstr(err, needle) && clean, "%s: refused with \"%s\"%s", what, ok ? "(accepted!)" : err,
          clean ? ", no file left" : ", BUT A FILE WAS LEFT");
}

static void test_refusals(void) {
    char dir[400];
    if (make("missing", TL_F32, 1, false, false, dir, sizeof dir) &&
        rewrite(dir, "model.layers.1.mlp.up_proj.weight", NULL, NULL))
        expect_refused(dir, "a missing tensor", "missing tensor model.layers.1.mlp.up_proj.weight");
    if (make("untied-no-head", TL_F32, 1, false, false, dir, sizeof dir) && rewrite(dir, "lm_head.weight", NULL, NULL))
        expect_refused(dir, "untied config without lm_head", "missing tensor lm_head.weight");
    if (make("dtype", TL_F32, 1, false, false, dir, sizeof dir) &&
        rewrite(dir, NULL, "visual.blocks.2.attn.qkv.bias", NULL))
        expect_refused(dir, "an I32 tensor", "has dtype I32");
    if (make("extra", TL_F32, 1, false, false, dir, sizeof dir) && rewrite(dir, NULL, NULL, "model.extra.weight"))
        expect_refused(dir, "an unknown tensor", "unexpected tensor model.extra.weight");
    if (make("shape", TL_BF16, 2, false, false, dir, sizeof dir) &&
        edit_config(dir, "intermediate_size", cJSON_CreateNumber(96)))
        expect_refused(dir, "a tensor whose shape disagrees with config.json", "has shape [128, 64]; config.json implies [96, 64]");
    if (make("arch", TL_BF16, 2, false, false, dir, sizeof dir) && edit_config(dir, "model_type", cJSON_CreateString("llama")))
        expect_refused(dir, "another architecture", "unsupported architecture");
    if (make("sections", TL_BF16, 2, false, false, dir, sizeof dir) &&
        edit_config(dir, "rope_scaling", cJSON_Parse("{\"type\":\"mrope\",\"mrope_section\":[2,2,2]}")))
        expect_refused(dir, "rope sections that do not cover head_dim", "sum to 6, expected head_dim/2 = 8");
    if (make("truncated", TL_BF16, 2, false, false, dir, sizeof dir)) {
        char path[600];
        snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
        struct stat sb;
        if (stat(path, &sb) == 0 && truncate(path, sb.st_size - 100) == 0)
            expect_refused(dir, "a shard missing its last 100 bytes", "truncated or corrupt");
    }
    char none[400];
    snprintf(none, sizeof none, "%s/does-not-exist", tmpdir);
    expect_refused(none, "a folder that does not exist", "config.json");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-convert TOKENIZER_DIR\n");
        return 2;
    }
    tokenizer_dir = argv[1];
    snprintf(tmpdir, sizeof tmpdir, "%s/longvl-test-convert-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char dir[400];
    // F32 source, hub names, three shards, untied: F32 out is bit-exact, F16/BF16 rounded.
    if (make("f32-hub", TL_F32, 3, false, false, dir, sizeof dir)) {
        convert_and_compare(dir, "f32-hub", TL_F32, false, true);
        convert_and_compare(dir, "f32-hub", TL_F16, false, false);
        convert_and_compare(dir, "f32-hub", TL_BF16, false, false);
    }
    // BF16 source (as the hub ships), transformers >= 4.52 names, tied, two shards.
    if (make("bf16-new-tied", TL_BF16, 2, true, true, dir, sizeof dir)) {
        convert_and_compare(dir, "bf16-new-tied", TL_F32, true, true);
        convert_and_compare(dir, "bf16-new-tied", TL_BF16, true, false);
        convert_and_compare(dir, "bf16-new-tied", TL_F16, true, false);
    }
    // F16 source, one file.
    if (make("f16-single", TL_F16, 1, false, false, dir, sizeof dir)) convert_and_compare(dir, "f16-single", TL_F16, false, false);
    test_refusals();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("convert");
}
