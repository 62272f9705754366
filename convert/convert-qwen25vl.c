// HuggingFace Qwen2.5-VL -> GGUF text + mmproj files (see convert-qwen25vl.h).
#include "convert-qwen25vl.h"
#include "hf-config.h"
#include "hf-tokenizer.h"
#include "progress.h"
#include "qwen25vl-gguf.h"
#include "safetensors.h"
#include "tl-cpu.h"
#include "tl-gguf.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool convert_parse_outtype(const char *s, enum tl_type *type) {
    if (!strcmp(s, "f32")) *type = TL_F32;
    else if (!strcmp(s, "f16")) *type = TL_F16;
    else if (!strcmp(s, "bf16")) *type = TL_BF16;
    else return false;
    return true;
}

static uint32_t ggml_type_of(enum tl_type t) {
    return t == TL_F16 ? TL_GGML_F16 : t == TL_BF16 ? TL_GGML_BF16 : TL_GGML_F32;
}

// ---------------------------------------------------------------------------------------
// Where each GGUF tensor comes from

enum slice { WHOLE, QKV_THIRD, TEMPORAL_FRAME };

struct source_rule {
    const char *gguf;   // name after the "blk.N." / "v.blk.N." prefix, or the whole name
    const char *hf;     // name after the text / vision prefix
    enum slice  slice;
    int         index;  // which third / frame
};

static const struct source_rule text_globals[] = {
    { "token_embd.weight", "embed_tokens.weight", WHOLE, 0 },
    { "output_norm.weight", "norm.weight", WHOLE, 0 },
    { "output.weight", "lm_head.weight", WHOLE, 0 },   // the prefix is not applied to this one
};

static const struct source_rule text_block[] = {
    { "attn_norm.weight", "input_layernorm.weight", WHOLE, 0 },
    { "attn_q.weight", "self_attn.q_proj.weight", WHOLE, 0 },
    { "attn_q.bias", "self_attn.q_proj.bias", WHOLE, 0 },
    { "attn_k.weight", "self_attn.k_proj.weight", WHOLE, 0 },
    { "attn_k.bias", "self_attn.k_proj.bias", WHOLE, 0 },
    { "attn_v.weight", "self_attn.v_proj.weight", WHOLE, 0 },
    { "attn_v.bias", "self_attn.v_proj.bias", WHOLE, 0 },
    { "attn_output.weight", "self_attn.o_proj.weight", WHOLE, 0 },
    { "ffn_norm.weight", "post_attention_layernorm.weight", WHOLE, 0 },
    { "ffn_gate.weight", "mlp.gate_proj.weight", WHOLE, 0 },
    { "ffn_up.weight", "mlp.up_proj.weight", WHOLE, 0 },
    { "ffn_down.weight", "mlp.down_proj.weight", WHOLE, 0 },
};

static const struct source_rule vision_globals[] = {
    { "v.patch_embd.weight", "patch_embed.proj.weight", TEMPORAL_FRAME, 0 },
    { "v.patch_embd.weight.1", "patch_embed.proj.weight", TEMPORAL_FRAME, 1 },
    { "v.post_ln.weight", "merger.ln_q.weight", WHOLE, 0 },
    { "mm.0.weight", "merger.mlp.0.weight", WHOLE, 0 },
    { "mm.0.bias", "merger.mlp.0.bias", WHOLE, 0 },
    { "mm.2.weight", "merger.mlp.2.weight", WHOLE, 0 },
    { "mm.2.bias", "merger.mlp.2.bias", WHOLE, 0 },
};

static const struct source_rule vision_block[] = {
    { "ln1.weight", "norm1.weight", WHOLE, 0 },
    { "ln2.weight", "norm2.weight", WHOLE, 0 },
    { "attn_q.weight", "attn.qkv.weight", QKV_THIRD, 0 },
    { "attn_q.bias", "attn.qkv.bias", QKV_THIRD, 0 },
    { "attn_k.weight", "attn.qkv.weight", QKV_THIRD, 1 },
    { "attn_k.bias", "attn.qkv.bias", QKV_THIRD, 1 },
    { "attn_v.weight", "attn.qkv.weight", QKV_THIRD, 2 },
    { "attn_v.bias", "attn.qkv.bias", QKV_THIRD, 2 },
    { "attn_out.weight", "attn.proj.weight", WHOLE, 0 },
    { "attn_out.bias", "attn.proj.bias", WHOLE, 0 },
    { "ffn_gate.weight", "mlp.gate_proj.weight", WHOLE, 0 },
    { "ffn_gate.bias", "mlp.gate_proj.bias", WHOLE, 0 },
    { "ffn_up.weight", "mlp.up_proj.weight", WHOLE, 0 },
    { "ffn_up.bias", "mlp.up_proj.bias", WHOLE, 0 },
    { "ffn_down.weight", "mlp.down_proj.weight", WHOLE, 0 },
    { "ffn_down.bias", "mlp.down_proj.bias", WHOLE, 0 },
};

struct prefixes {
    const char *text, *vision;   // "model." + "visual." (hub) or "model.language_model." + "model.visual."
};

static const struct source_rule *match_rule(const struct source_rule *rules, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rules[i].gguf, name)) return &rules[i];
    return NULL;
}

// The HF tensor name and slice for a GGUF tensor name. false: no rule (a programmer error).
static bool hf_source(const char *gguf, const struct prefixes *px, char *hf, size_t n, enum slice *slice,
                      int *index) {
    const struct source_rule *r = NULL;
    const char *prefix = NULL;
    unsigned layer;
    int used = 0;
    char blk[32] = "";
    if (sscanf(gguf, "v.blk.%u.%n", &layer, &used) == 1 && used > 0) {
        r = match_rule(vision_block, sizeof vision_block / sizeof vision_block[0], gguf + used);
        prefix = px->vision;
        snprintf(blk, sizeof blk, "blocks.%u.", layer);
    } else if (sscanf(gguf, "blk.%u.%n", &layer, &used) == 1 && used > 0) {
        r = match_rule(text_block, sizeof text_block / sizeof text_block[0], gguf + used);
        prefix = px->text;
        snprintf(blk, sizeof blk, "layers.%u.", layer);
    } else if ((r = match_rule(vision_globals, sizeof vision_globals / sizeof vision_globals[0], gguf))) {
        prefix = px->vision;
    } else if ((r = match_rule(text_globals, sizeof text_globals / sizeof text_globals[0], gguf))) {
        prefix = strcmp(gguf, "output.weight") ? px->text : "";
    }
    if (!r) return false;
    snprintf(hf, n, "%s%s%s", prefix, blk, r->hf);
    *slice = r->slice;
    *index = r->index;
    return true;
}

// ---------------------------------------------------------------------------------------
// The plan: what each output tensor is made of

struct item {
    const struct qwen25vl_tensor_spec *spec;
    const struct safetensors_tensor *src;
    enum tl_type out;
    // Source elements: n_runs runs of run_len elements, run r starting at start + r * stride.
    int64_t start, run_len, stride, n_runs;
};

static void format_shape(char *buf, size_t n, int n_dims, const int64_t *d) {
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, n - pos, "[");
    for (int i = 0; i < n_dims && pos < n; i++)
        pos += (size_t)snprintf(buf + pos, n - pos, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (pos < n) snprintf(buf + pos, n - pos, "]");
}

// Checks the source against the spec (in PyTorch order) and fills the runs.
static bool plan_item(struct item *it, const struct qwen25vl_tensor_spec *spec, const struct safetensors_tensor *src,
                      enum slice slice, int index, enum tl_type outtype, char *err, size_t errlen) {
    it->spec = spec;
    it->src = src;
    if (!src->is_float) {
        tl_errorf(err, errlen, "tensor %s has dtype %s; longvl converts F32, F16 and BF16", src->name, src->dtype);
        return false;
    }
    // The expected PyTorch shape: the GGUF ne reversed, then widened by the slice.
    int64_t want[SAFETENSORS_MAX_DIMS];
    int nd = (int)spec->n_dims;
    for (int i = 0; i < nd; i++) want[i] = spec->ne[nd - 1 - i];
    int64_t slice_elems = 1;
    for (int i = 0; i < nd; i++) slice_elems *= want[i];
    if (slice == QKV_THIRD) {
        want[0] *= 3;   // [3*out, in] or [3*out]
    } else if (slice == TEMPORAL_FRAME) {
        // GGUF [P, P, 3, E] per frame; HF Conv3d weight [E, 3, 2, P, P].
        int64_t e = want[0], c = want[1], p0 = want[2], p1 = want[3];
        nd = 5;
        want[0] = e, want[1] = c, want[2] = 2, want[3] = p0, want[4] = p1;
    }
    bool same = src->n_dims == nd;
    for (int i = 0; same && i < nd; i++) same = src->shape[i] == want[i];
    if (!same) {
        char got_s[128], want_s[128];
        format_shape(got_s, sizeof got_s, src->n_dims, src->shape);
        format_shape(want_s, sizeof want_s, nd, want);
        tl_errorf(err, errlen, "tensor %s has shape %s; config.json implies %s (for %s)", src->name, got_s, want_s,
             spec->name);
        return false;
    }
    it->n_runs = 1, it->run_len = slice_elems, it->stride = 0, it->start = 0;
    if (slice == QKV_THIRD) {
        it->start = index * slice_elems;   // rows [index*out, (index+1)*out) are contiguous
    } else if (slice == TEMPORAL_FRAME) {
        int64_t plane = want[3] * want[4];             // one P x P kernel
        it->n_runs = want[0] * want[1];                // (E, 3) pairs
        it->run_len = plane;
        it->stride = 2 * plane;                        // both frames of a pair are adjacent
        it->start = index * plane;
    }
    // llama.cpp's rules: 1-D tensors stay F32; the patch embedding is F16 or F32 (its
    // convolution takes no BF16).
    if (spec->n_dims == 1) it->out = TL_F32;
    else if (!strncmp(spec->name, "v.patch_embd.", 13)) it->out = outtype == TL_F16 ? TL_F16 : TL_F32;
    else it->out = outtype;
    return true;
}

struct plan {
    struct qwen25vl_tensor_spec *specs;
    int n;
    struct item *items;
};

static bool make_plan(struct plan *p, struct qwen25vl_tensor_spec *specs, int n, const struct safetensors *st,
                      const struct prefixes *px, enum tl_type outtype, bool *used, char *err, size_t errlen) {
    p->specs = specs;
    p->n = n;
    p->items = calloc(n ? n : 1, sizeof *p->items);
    if (!p->items) abort();
    for (int i = 0; i < n; i++) {
        char hf[256];
        enum slice slice;
        int index;
        if (!hf_source(specs[i].name, px, hf, sizeof hf, &slice, &index)) {
            tl_errorf(err, errlen, "internal: no source rule for %s", specs[i].name);
            return false;
        }
        const struct safetensors_tensor *src = safetensors_find(st, hf);
        if (!src) {
            tl_errorf(err, errlen, "missing tensor %s (needed for %s)", hf, specs[i].name);
            return false;
        }
        used[src - safetensors_tensor(st, 0)] = true;
        if (!plan_item(&p->items[i], &specs[i], src, slice, index, outtype, err, errlen)) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// Writing

// Temporary files to remove if the process is interrupted.
static char cleanup_paths[2][4096 + 8];
static volatile sig_atomic_t cleanup_count;

static void on_signal(int sig) {
    for (int i = 0; i < cleanup_count; i++) unlink(cleanup_paths[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

struct stream {
    uint8_t *obuf;
    int64_t chunk;   // elements per conversion step
    struct progress *progress;
    uint64_t bytes_in, bytes_out;
};

static bool write_item(struct tl_gguf_writer *w, struct stream *s, const struct safetensors *st,
                       const struct item *it, char *err, size_t errlen) {
    size_t in_size = tl_type_traits(it->src->type)->type_size, out_size = tl_type_traits(it->out)->type_size;
    const uint8_t *base = it->src->data;
    for (int64_t r = 0; r < it->n_runs; r++) {
        int64_t first = it->start + r * it->stride;
        for (int64_t done = 0; done < it->run_len;) {
            int64_t k = it->run_len - done < s->chunk ? it->run_len - done : s->chunk;
            const uint8_t *src = base + (size_t)(first + done) * in_size;
            bool ok;
            if (it->src->type == it->out) {
                ok = tl_gguf_writer_write(w, src, (size_t)k * out_size, err, errlen);
            } else {
                tl_cpu_convert(it->src->type, src, it->out, s->obuf, k);
                ok = tl_gguf_writer_write(w, s->obuf, (size_t)k * out_size, err, errlen);
            }
            if (!ok) return false;
            // Drop the source pages already consumed, so even a 1 GiB embedding never
            // becomes resident as a whole.
            if (it->n_runs == 1) safetensors_release_bytes(st, it->src, src, (size_t)k * in_size);
            done += k;
            s->bytes_in += (uint64_t)k * in_size;
            s->bytes_out += (uint64_t)k * out_size;
        }
    }
    safetensors_release(st, it->src);
    progress_update(s->progress, s->bytes_out, it->spec->name);
    return true;
}

static bool describe(struct tl_gguf *g, const struct plan *p, char *err, size_t errlen) {
    for (int i = 0; i < p->n; i++) {
        const struct item *it = &p->items[i];
        if (tl_gguf_add_tensor(g, it->spec->name, ggml_type_of(it->out), it->spec->n_dims, it->spec->ne, err,
                               errlen) < 0)
            return false;
    }
    return true;
}

static uint64_t plan_out_bytes(const struct plan *p) {
    uint64_t n = 0;
    for (int i = 0; i < p->n; i++) n += (uint64_t)(p->items[i].run_len * p->items[i].n_runs) *
                                        tl_type_traits(p->items[i].out)->type_size;
    return n;
}

static uint32_t file_type_of(enum tl_type t) {   // llama.cpp's LLAMA_FTYPE: all F32, mostly F16 / BF16
    return t == TL_F16 ? 1 : t == TL_BF16 ? 32 : 0;
}

static void general_keys(struct tl_gguf *g, const char *type, const char *name, enum tl_type outtype) {
    tl_gguf_set_str(g, "general.type", type);
    tl_gguf_set_str(g, "general.name", name);
    tl_gguf_set_u32(g, "general.file_type", file_type_of(outtype));
    tl_gguf_set_u32(g, "general.quantization_version", 2);
}

static const char *base_name(const char *path) {
    static char buf[256];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(buf, sizeof buf, "%.*s", (int)(n - b), path + b);
    return buf;
}

bool convert_qwen25vl(const struct convert_options *o, struct convert_result *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    double t0 = progress_now();
    struct hf_qwen25vl_config cfg;
    if (!hf_qwen25vl_config_read(o->hf_dir, &cfg, err, errlen)) return false;

    // Output names.
    char prefix[4000];
    snprintf(prefix, sizeof prefix, "%s", o->out_prefix);
    size_t pl = strlen(prefix);
    if (pl > 5 && !strcmp(prefix + pl - 5, ".gguf")) prefix[pl - 5] = 0;
    snprintf(r->text_path, sizeof r->text_path, "%s.gguf", prefix);
    snprintf(r->mmproj_path, sizeof r->mmproj_path, "%s-mmproj.gguf", prefix);

    struct safetensors *st = safetensors_open_dir(o->hf_dir, err, errlen);
    if (!st) return false;
    struct prefixes px = { "model.", "visual." };
    if (safetensors_find(st, "model.language_model.embed_tokens.weight"))
        px = (struct prefixes){ "model.language_model.", "model.visual." };

    bool ok = true;
    int n_text = 0, n_vision = 0;
    struct qwen25vl_tensor_spec *text_specs = qwen25vl_text_tensor_specs(&cfg.text, &n_text);
    struct qwen25vl_tensor_spec *vision_specs = qwen25vl_vision_tensor_specs(&cfg.vision, &n_vision);
    bool *used = calloc((size_t)safetensors_n_tensors(st) + 1, 1);
    struct plan text = { 0 }, vision = { 0 };
    if (!used) abort();
    ok = make_plan(&text, text_specs, n_text, st, &px, o->outtype, used, err, errlen) &&
         make_plan(&vision, vision_specs, n_vision, st, &px, o->outtype, used, err, errlen);
    // Every source tensor must have gone somewhere (a tied lm_head may be saved anyway).
    for (int64_t i = 0; ok && i < safetensors_n_tensors(st); i++) {
        const char *name = safetensors_tensor(st, i)->name;
        if (!used[i] && !(cfg.text.tied_embeddings && !strcmp(name, "lm_head.weight"))) {
            tl_errorf(err, errlen, "unexpected tensor %s: not part of Qwen2.5-VL as config.json describes it", name);
            ok = false;
        }
    }

    struct tl_gguf *gt = tl_gguf_new(), *gv = tl_gguf_new();
    if (ok) {
        const char *name = base_name(o->hf_dir);
        qwen25vl_text_hparams_to_gguf(&cfg.text, gt);
        general_keys(gt, "model", name, o->outtype);
        ok = hf_tokenizer_to_gguf(o->hf_dir, cfg.text.n_vocab, cfg.bos_token_id, cfg.eos_token_id, gt, err, errlen);
        qwen25vl_vision_hparams_to_gguf(&cfg.vision, gv);
        general_keys(gv, "mmproj", name, o->outtype);
    }
    ok = ok && describe(gt, &text, err, errlen) && describe(gv, &vision, err, errlen);

    struct progress prog;
    progress_start(&prog, "convert", plan_out_bytes(&text) + plan_out_bytes(&vision), o->progress);
    struct stream s = { .chunk = 1 << 18, .progress = &prog };
    s.obuf = malloc((size_t)s.chunk * sizeof(float));
    if (!s.obuf) abort();

    struct tl_gguf_writer *wt = NULL, *wv = NULL;
    void (*old_int)(int) = signal(SIGINT, on_signal);
    void (*old_term)(int) = signal(SIGTERM, on_signal);
    if (ok) {
        snprintf(cleanup_paths[0], sizeof cleanup_paths[0], "%s.tmp", r->text_path);
        snprintf(cleanup_paths[1], sizeof cleanup_paths[1], "%s.tmp", r->mmproj_path);
        cleanup_count = 2;
        wt = tl_gguf_writer_begin(gt, r->text_path, err, errlen);
        wv = wt ? tl_gguf_writer_begin(gv, r->mmproj_path, err, errlen) : NULL;
        ok = wt && wv;
    }
    for (int i = 0; ok && i < text.n; i++) ok = write_item(wt, &s, st, &text.items[i], err, errlen);
    for (int i = 0; ok && i < vision.n; i++) ok = write_item(wv, &s, st, &vision.items[i], err, errlen);
    progress_finish(&prog);

    // Both complete, then both renamed: the pair appears together or not at all.
    char tmp_t[4200], tmp_v[4200];
    if (ok) {
        ok = tl_gguf_writer_finish_unrenamed(wt, tmp_t, sizeof tmp_t, err, errlen);
        wt = NULL;
        ok = ok && tl_gguf_writer_finish_unrenamed(wv, tmp_v, sizeof tmp_v, err, errlen);
        if (!ok) unlink(tmp_t);
        wv = NULL;
    }
    if (ok && (rename(tmp_t, r->text_path) != 0 || rename(tmp_v, r->mmproj_path) != 0)) {
        tl_errorf(err, errlen, "cannot rename the finished files into place");
        unlink(tmp_t);
        unlink(tmp_v);
        unlink(r->text_path);
        ok = false;
    }
    tl_gguf_writer_abort(wt);
    tl_gguf_writer_abort(wv);
    cleanup_count = 0;
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);

    r->n_text_tensors = n_text;
    r->n_vision_tensors = n_vision;
    r->bytes_in = s.bytes_in;
    r->bytes_out = s.bytes_out;
    r->seconds = progress_now() - t0;
    free(s.obuf);
    free(text.items);
    free(vision.items);
    free(text_specs);
    free(vision_specs);
    free(used);
    tl_gguf_free(gt);
    tl_gguf_free(gv);
    safetensors_close(st);
    return ok;
}
