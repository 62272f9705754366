// Qwen2.5-VL GGUF files as llama.cpp's convert_hf_to_gguf.py lays them out (key order,
// extra general.* keys, INT32 rope sections, tensors in the checkpoint's order, Q8_0
// tensors as llama-quantize leaves them) load here; files llama.cpp would refuse (a u32
// key written as i32, a missing or extra tensor, 3 rope sections, another projector) are
// refused here too, with a message. Layout facts: ../shared/docs/gguf-qwen25vl-naming.md.
#include "qwen25vl-gguf.h"
#include "test-util.h"
#include "tl-gguf.h"

#include <unistd.h>

static char tmpdir[256];
static uint8_t zeros[1 << 20];

enum variant { AS_LLAMA_CPP, CTX_AS_I32, THREE_SECTIONS, EXTRA_TENSOR, MISSING_BIAS, HEADS_PER_LAYER,
               HEADS_PER_LAYER_UNEQUAL, WRONG_SHAPE };

// A tiny text model (2 layers, 64 wide, 4/2 heads, vocab 256) in llama.cpp's key order.
static struct tl_gguf *text_file(enum variant v) {
    struct tl_gguf *g = tl_gguf_new();
    tl_gguf_set_str(g, "general.architecture", "qwen2vl");
    tl_gguf_set_str(g, "general.type", "model");
    tl_gguf_set_str(g, "general.name", "Qwen2.5 VL 3B Instruct");
    tl_gguf_set_str(g, "general.finetune", "Instruct");
    tl_gguf_set_str(g, "general.basename", "Qwen2.5-VL");
    tl_gguf_set_str(g, "general.size_label", "3B");
    tl_gguf_set_str(g, "general.license", "other");
    const char *tags[] = { "multimodal", "image-text-to-text" }, *langs[] = { "en" };
    tl_gguf_set_arr_str(g, "general.tags", tags, 2);
    tl_gguf_set_arr_str(g, "general.languages", langs, 1);
    tl_gguf_set_u32(g, "qwen2vl.block_count", 2);
    if (v == CTX_AS_I32) tl_gguf_set_i32(g, "qwen2vl.context_length", 128000);
    else tl_gguf_set_u32(g, "qwen2vl.context_length", 128000);
    tl_gguf_set_u32(g, "qwen2vl.embedding_length", 64);
    tl_gguf_set_u32(g, "qwen2vl.feed_forward_length", 128);
    if (v == HEADS_PER_LAYER || v == HEADS_PER_LAYER_UNEQUAL) {
        int32_t heads[2] = { 4, v == HEADS_PER_LAYER ? 4 : 8 };
        tl_gguf_set_arr_data(g, "qwen2vl.attention.head_count", TL_GGUF_INT32, heads, 2);
    } else {
        tl_gguf_set_u32(g, "qwen2vl.attention.head_count", 4);
    }
    tl_gguf_set_u32(g, "qwen2vl.attention.head_count_kv", 2);
    tl_gguf_set_f32(g, "qwen2vl.rope.freq_base", 1000000.0f);
    tl_gguf_set_f32(g, "qwen2vl.attention.layer_norm_rms_epsilon", 1e-6f);
    tl_gguf_set_u32(g, "general.file_type", 7);   // mostly Q8_0
    int32_t sec[4] = { 2, 3, 3, 0 };
    tl_gguf_set_arr_data(g, "qwen2vl.rope.dimension_sections", TL_GGUF_INT32, sec, v == THREE_SECTIONS ? 3 : 4);
    tl_gguf_set_u32(g, "general.quantization_version", 2);
    tl_gguf_set_str(g, "tokenizer.ggml.model", "gpt2");
    tl_gguf_set_str(g, "tokenizer.ggml.pre", "qwen2");
    tl_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", 151645);

    // Tensors in the order the HF checkpoint lists them (lm_head first, layers by name),
    // 2-D weights as Q8_0, 1-D ones F32.
    struct qwen25vl_text_hparams hp = { .n_vocab = 256, .n_embd = 64, .n_layer = 2, .n_ff = 128, .n_head = 4,
                                        .n_head_kv = 2, .head_dim = 16, .tied_embeddings = true };
    int n = 0;
    struct qwen25vl_tensor_spec *s = qwen25vl_text_tensor_specs(&hp, &n);
    char err[256];
    for (int k = n - 1; k >= 0; k--) {
        if (v == MISSING_BIAS && !strcmp(s[k].name, "blk.1.attn_k.bias")) continue;
        int64_t ne[4];
        memcpy(ne, s[k].ne, sizeof ne);
        if (v == WRONG_SHAPE && !strcmp(s[k].name, "blk.0.ffn_down.weight")) ne[0] = 96;
        int64_t i = tl_gguf_add_tensor(g, s[k].name, s[k].n_dims == 1 ? TL_GGML_F32 : TL_GGML_Q8_0, s[k].n_dims, ne,
                                       err, sizeof err);
        tl_gguf_set_tensor_data(g, i, zeros);
    }
    if (v == EXTRA_TENSOR) {
        int64_t ne[1] = { 64 };
        tl_gguf_set_tensor_data(g, tl_gguf_add_tensor(g, "rope_freqs.weight", TL_GGML_F32, 1, ne, err, sizeof err), zeros);
    }
    free(s);
    return g;
}

static struct tl_gguf *mmproj_file(const char *projector, bool with_silu) {
    struct tl_gguf *g = tl_gguf_new();
    tl_gguf_set_str(g, "general.architecture", "clip");
    tl_gguf_set_str(g, "general.type", "mmproj");
    tl_gguf_set_str(g, "general.name", "Qwen2.5 VL 3B Instruct");
    tl_gguf_set_u32(g, "general.file_type", 1);
    tl_gguf_set_bool(g, "clip.has_vision_encoder", true);
    tl_gguf_set_str(g, "clip.projector_type", projector);
    tl_gguf_set_u32(g, "clip.vision.image_size", 560);
    tl_gguf_set_u32(g, "clip.vision.patch_size", 14);
    tl_gguf_set_u32(g, "clip.vision.embedding_length", 32);
    tl_gguf_set_u32(g, "clip.vision.feed_forward_length", 48);
    tl_gguf_set_u32(g, "clip.vision.projection_dim", 64);
    tl_gguf_set_u32(g, "clip.vision.block_count", 4);
    tl_gguf_set_u32(g, "clip.vision.attention.head_count", 2);
    float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f }, std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
    tl_gguf_set_arr_data(g, "clip.vision.image_mean", TL_GGUF_FLOAT32, mean, 3);
    tl_gguf_set_arr_data(g, "clip.vision.image_std", TL_GGUF_FLOAT32, std, 3);
    if (with_silu) tl_gguf_set_bool(g, "clip.use_silu", true);
    tl_gguf_set_u32(g, "clip.vision.n_wa_pattern", 2);
    tl_gguf_set_f32(g, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
    struct qwen25vl_vision_hparams hp = { .n_embd = 32, .n_ff = 48, .n_layer = 4, .n_head = 2, .head_dim = 16,
                                          .projection_dim = 64, .patch_size = 14, .spatial_merge_size = 2 };
    int n = 0;
    struct qwen25vl_tensor_spec *s = qwen25vl_vision_tensor_specs(&hp, &n);
    char err[256];
    for (int k = 0; k < n; k++) {
        uint32_t type = s[k].n_dims == 1 ? TL_GGML_F32 : TL_GGML_F16;
        tl_gguf_set_tensor_data(g, tl_gguf_add_tensor(g, s[k].name, type, s[k].n_dims, s[k].ne, err, sizeof err), zeros);
    }
    free(s);
    return g;
}

// Writes the description to a file, reads it back, and runs the loader's checks.
static bool load_text(struct tl_gguf *g, char *err, size_t errlen, struct qwen25vl_text_hparams *hp) {
    char path[400];
    snprintf(path, sizeof path, "%s/text.gguf", tmpdir);
    bool ok = tl_gguf_write_file(g, path, err, errlen);
    tl_gguf_free(g);
    struct tl_gguf *r = ok ? tl_gguf_open(path, err, errlen) : NULL;
    int n = 0;
    struct qwen25vl_tensor_spec *s = NULL;
    ok = r && qwen25vl_text_hparams_from_gguf(r, hp, err, errlen) && (s = qwen25vl_text_tensor_specs(hp, &n)) &&
         qwen25vl_check_tensors(r, s, n, err, errlen);
    free(s);
    tl_gguf_free(r);
    return ok;
}

static bool load_mmproj(struct tl_gguf *g, char *err, size_t errlen, struct qwen25vl_vision_hparams *hp) {
    char path[400];
    snprintf(path, sizeof path, "%s/mmproj.gguf", tmpdir);
    bool ok = tl_gguf_write_file(g, path, err, errlen);
    tl_gguf_free(g);
    struct tl_gguf *r = ok ? tl_gguf_open(path, err, errlen) : NULL;
    int n = 0;
    struct qwen25vl_tensor_spec *s = NULL;
    ok = r && qwen25vl_vision_hparams_from_gguf(r, hp, err, errlen) && (s = qwen25vl_vision_tensor_specs(hp, &n)) &&
         qwen25vl_check_tensors(r, s, n, err, errlen);
    free(s);
    tl_gguf_free(r);
    return ok;
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/longvl-test-qwen-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    char err[512] = "";
    struct qwen25vl_text_hparams th;
    bool ok = load_text(text_file(AS_LLAMA_CPP), err, sizeof err, &th);
    check(ok && th.n_vocab == 256 && th.n_head == 4 && th.head_dim == 16 && th.tied_embeddings,
          "llama.cpp-style text file (extra general.* keys, i32 sections, Q8_0 weights, reversed order, tied): %s",
          ok ? "loads" : err);
    ok = load_text(text_file(HEADS_PER_LAYER), err, sizeof err, &th);
    check(ok && th.n_head == 4, "per-layer head counts that are all equal: %s", ok ? "loads" : err);

    struct { enum variant v; const char *what, *needle; } refused[] = {
        { CTX_AS_I32, "context_length written as i32", "has type i32, expected u32" },
        { THREE_SECTIONS, "3 rope sections", "exactly 4" },
        { EXTRA_TENSOR, "an extra tensor", "unexpected tensor rope_freqs.weight" },
        { MISSING_BIAS, "a missing k bias", "missing tensor blk.1.attn_k.bias" },
        { HEADS_PER_LAYER_UNEQUAL, "head counts that differ by layer", "differs between layers" },
        { WRONG_SHAPE, "a wrong shape", "blk.0.ffn_down.weight has shape [96, 64" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err[0] = 0;
        ok = load_text(text_file(refused[i].v), err, sizeof err, &th);
        check(!ok && strstr(err, refused[i].needle), "%s: refused with \"%s\"", refused[i].what, ok ? "(loaded!)" : err);
    }

    struct qwen25vl_vision_hparams vh;
    ok = load_mmproj(mmproj_file("qwen2.5vl_merger", true), err, sizeof err, &vh);
    check(ok && vh.use_silu && vh.n_wa_pattern == 2 && vh.window_size == 112 && vh.spatial_merge_size == 2,
          "llama.cpp-style mmproj (no merge/window keys: defaults 2 and 112): %s", ok ? "loads" : err);
    ok = load_mmproj(mmproj_file("qwen2vl_merger", false), err, sizeof err, &vh);
    check(!ok && strstr(err, "not supported"), "a Qwen2-VL projector: refused with \"%s\"", err);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("qwen-gguf");
}
