// Model-level check of quantization: the "small" random Qwen2.5-VL checkpoint (text 4
// layers x 256, tied embeddings) is converted to an f32 GGUF, quantized with `longvl
// quantize`'s code to each scheme, and the text model's logits for a prompt are compared
// with the f32 model's: RMS of the difference over RMS of the f32 logits, within a bound
// per scheme, and the same greedy next token at most positions.
//
// The forward pass is written out here from the model description (embedding, per layer
// RMSNorm, Q/K/V with bias, M-RoPE with all streams at the text position, causal GQA
// attention, SwiGLU FFN, final norm, tied output) with libtl ops on the CPU backend.
//
// usage: test-quant-model TOKENIZER_DIR
#include "test-util.h"
#include "tl-gguf.h"
#include "make-tiny.h"
#include "convert-qwen25vl.h"
#include "quantize.h"
#include "qwen25vl-gguf.h"
#include "qwen25vl-text.h"
#include "mrope-positions.h"
#include "tl-cpu.h"

#include <unistd.h>

static char tmpdir[256];

struct model {
    struct tl_gguf *g;
    struct qwen25vl_text_hparams hp;
    struct tl_context *wctx;   // weight tensors pointing into the mapping
};

static struct tl_tensor *weight(struct model *m, const char *fmt, int layer) {
    char name[96];
    snprintf(name, sizeof name, fmt, layer);
    int64_t i = tl_gguf_find_tensor(m->g, name);
    if (i < 0) return NULL;
    const struct tl_gguf_tensor_info *ti = tl_gguf_tensor(m->g, i);
    enum tl_type t;
    if (!tl_type_from_ggml(ti->type, &t)) return NULL;
    struct tl_tensor *w = tl_new_tensor(m->wctx, t, (int)ti->n_dims, ti->ne);
    if (w) w->data = (void *)ti->data;
    return w;
}

static bool load(struct model *m, const char *path) {
    char err[512];
    m->g = tl_gguf_open(path, err, sizeof err);
    if (!m->g || !qwen25vl_text_hparams_from_gguf(m->g, &m->hp, err, sizeof err)) {
        check(0, "load %s: %s", path, err);
        return false;
    }
    m->wctx = tl_init((struct tl_init_params){ .mem_size = 1 << 20, .no_alloc = true });
    return true;
}

static struct tl_tensor *norm(struct tl_context *ctx, struct tl_tensor *x, struct tl_tensor *w, float eps) {
    return tl_mul(ctx, tl_rms_norm(ctx, x, eps), w);
}

// Logits [n_vocab, n] for the tokens, f32.
static float *forward(struct model *m, const int32_t *tokens, int n) {
    const struct qwen25vl_text_hparams *hp = &m->hp;
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = (size_t)256 << 20 });
    struct tl_tensor *ids = tl_new_tensor_1d(ctx, TL_I32, n), *pos = tl_new_tensor_1d(ctx, TL_I32, 4 * n);
    for (int i = 0; i < n; i++) {
        ((int32_t *)ids->data)[i] = tokens[i];
        for (int s = 0; s < 4; s++) ((int32_t *)pos->data)[s * n + i] = i;   // text: t = h = w
    }
    int D = (int)hp->head_dim, Hq = (int)hp->n_head, Hkv = (int)hp->n_head_kv;
    struct tl_rope_params rp = { .mode = TL_ROPE_MROPE, .n_dims = D, .freq_base = hp->rope_freq_base };
    memcpy(rp.sections, hp->rope_sections, sizeof rp.sections);
    struct tl_attn_params ap = { .scale = 1.0f / sqrtf((float)D), .causal = true };
    struct tl_tensor *x = tl_get_rows(ctx, weight(m, "token_embd.weight", 0), ids);
    for (int l = 0; l < (int)hp->n_layer; l++) {
        struct tl_tensor *h = norm(ctx, x, weight(m, "blk.%d.attn_norm.weight", l), hp->rms_eps);
        struct tl_tensor *q = tl_add(ctx, tl_mul_mat(ctx, weight(m, "blk.%d.attn_q.weight", l), h), weight(m, "blk.%d.attn_q.bias", l));
        struct tl_tensor *k = tl_add(ctx, tl_mul_mat(ctx, weight(m, "blk.%d.attn_k.weight", l), h), weight(m, "blk.%d.attn_k.bias", l));
        struct tl_tensor *v = tl_add(ctx, tl_mul_mat(ctx, weight(m, "blk.%d.attn_v.weight", l), h), weight(m, "blk.%d.attn_v.bias", l));
        q = tl_rope(ctx, tl_reshape_4d(ctx, q, D, Hq, n, 1), pos, rp);
        k = tl_rope(ctx, tl_reshape_4d(ctx, k, D, Hkv, n, 1), pos, rp);
        v = tl_reshape_4d(ctx, v, D, Hkv, n, 1);
        // [D, heads, tokens] -> [D, tokens, heads] for the attention op
        struct tl_tensor *o = tl_flash_attn(ctx, tl_permute(ctx, q, 0, 2, 1, 3), tl_permute(ctx, k, 0, 2, 1, 3),
                                            tl_permute(ctx, v, 0, 2, 1, 3), NULL, NULL, ap);
        o = tl_reshape_2d(ctx, o, (int64_t)D * Hq, n);
        x = tl_add(ctx, x, tl_mul_mat(ctx, weight(m, "blk.%d.attn_output.weight", l), o));
        h = norm(ctx, x, weight(m, "blk.%d.ffn_norm.weight", l), hp->rms_eps);
        struct tl_tensor *f = tl_swiglu(ctx, tl_mul_mat(ctx, weight(m, "blk.%d.ffn_gate.weight", l), h),
                                        tl_mul_mat(ctx, weight(m, "blk.%d.ffn_up.weight", l), h));
        x = tl_add(ctx, x, tl_mul_mat(ctx, weight(m, "blk.%d.ffn_down.weight", l), f));
    }
    x = norm(ctx, x, weight(m, "output_norm.weight", 0), hp->rms_eps);
    struct tl_tensor *out = weight(m, "output.weight", 0);
    struct tl_tensor *logits = tl_mul_mat(ctx, out ? out : weight(m, "token_embd.weight", 0), x);
    if (!logits) {
        check(0, "build the forward graph: %s", tl_error(ctx) ? tl_error(ctx) : tl_error(m->wctx));
        tl_free(ctx);
        return NULL;
    }
    struct tl_graph *g = tl_graph_new(ctx, 1024);
    tl_graph_build(g, logits);
    tl_cpu_compute(g, 2);
    float *r = malloc(tl_nbytes(logits));
    memcpy(r, logits->data, tl_nbytes(logits));
    tl_free(ctx);
    return r;
}

// A weight holding inf is refused, naming the tensor, and nothing is written.
static void test_non_finite(void) {
    char in[400], out[400], err[512] = "";
    snprintf(in, sizeof in, "%s/inf.gguf", tmpdir);
    snprintf(out, sizeof out, "%s/inf-q.gguf", tmpdir);
    float w[64 * 4] = { 0 };
    w[100] = INFINITY;
    struct tl_gguf *g = tl_gguf_new();
    tl_gguf_set_str(g, "general.architecture", "test");
    int64_t ne[2] = { 64, 4 };
    int64_t i = tl_gguf_add_tensor(g, "blk.0.ffn_up.weight", TL_GGML_F32, 2, ne, err, sizeof err);
    tl_gguf_set_tensor_data(g, i, w);
    bool made = i >= 0 && tl_gguf_write_file(g, in, err, sizeof err);
    tl_gguf_free(g);
    struct quantize_options qo = { .in_path = in, .out_path = out, .scheme = QUANT_Q8_0, .n_threads = 2 };
    struct quantize_result qr;
    bool ok = made && quantize_gguf(&qo, &qr, err, sizeof err);
    check(made && !ok && strstr(err, "blk.0.ffn_up.weight") && strstr(err, "non-finite") && access(out, F_OK) != 0 &&
              access(qo.out_path, F_OK) != 0,
          "a weight holding inf is refused with no output: %s", err);
    unlink(in);
}

// Logits of all n tokens through the text model's context API (what `logits` runs), one
// token per graph: one-token products (GEMV), as in generation.
static float *text_model_logits(const struct qwen25vl_text_model *m, const int32_t *tokens, int n) {
    char err[512] = "";
    int64_t E = m->hp.n_embd;
    float *embd = malloc(n * E * sizeof *embd), *out = malloc(n * m->hp.n_vocab * sizeof *out);
    int32_t *pos = malloc(3 * n * sizeof *pos), next;
    struct qwen25vl_text_params p = { .n_ctx = n, .kv_type = TL_F32, .n_ubatch = 1, .n_threads = 2 };
    struct qwen25vl_text_context *c = NULL;
    bool ok = qwen25vl_mrope_positions(n, 0, NULL, 0, pos, &next, err, sizeof err) &&
              qwen25vl_text_embed(m, tokens, n, embd, err, sizeof err) &&
              (c = qwen25vl_text_context_new(m, &p, err, sizeof err)) != NULL &&
              qwen25vl_text_decode(c, embd, pos, n, out, true, err, sizeof err);
    if (!ok) check(0, "text model logits: %s", err);
    qwen25vl_text_context_free(c);
    free(embd);
    free(pos);
    if (!ok) free(out);
    return ok ? out : NULL;
}

// The CPU layout of a quantized model (qwen25vl_text_use_cpu_layouts): the weights that
// have a layout (tl_type_cpu_layout: Q4_0/Q4_1/Q8_0/Q4_K/Q5_K matrices of a multiple of 8
// rows; the tied output, read by rows: Q4_0/Q4_1 rows of 512 or more, Q8_0 of 256) change
// type, the others stay; the logits equal the file layout's up to the order of float
// rounding (the integer block sums are the same).
// `want_moved` is how many of the weights checked must move.
static void test_cpu_layout(const char *path, const char *scheme, int want_moved, const int32_t *tokens, int n) {
    char err[512] = "";
    struct qwen25vl_text_model file, cpu;
    bool ok = qwen25vl_text_load(&file, path, err, sizeof err) && qwen25vl_text_load(&cpu, path, err, sizeof err) &&
              qwen25vl_text_use_cpu_layouts(&cpu, err, sizeof err);
    check(ok, "%s model loaded twice, once in the CPU layouts %s", scheme, err);
    if (!ok) return;
    // Q, FFN-up, FFN-down of every layer and the output: each in the layout
    // tl_type_cpu_layout gives its file type and shape (the tied output, which is the
    // token embedding: tl_type_interleaved), and no other
    int moved = 0, right = 0, weights = 0;
    char layouts[256] = "";
    for (uint32_t l = 0; l <= cpu.hp.n_layer; l++) {
        const bool out = l == cpu.hp.n_layer;
        const struct tl_tensor *f[3] = { out ? file.output : file.layers[l].wq, out ? NULL : file.layers[l].ffn_up,
                                         out ? NULL : file.layers[l].ffn_down };
        const struct tl_tensor *c[3] = { out ? cpu.output : cpu.layers[l].wq, out ? NULL : cpu.layers[l].ffn_up,
                                         out ? NULL : cpu.layers[l].ffn_down };
        for (int i = 0; i < 3 && f[i]; i++, weights++) {
            enum tl_type layout = f[i] == file.tok_embd ? tl_type_interleaved(f[i]->type, f[i]->ne[0])
                                                        : tl_type_cpu_layout(f[i]->type, f[i]->ne[0], f[i]->ne[1]);
            moved += c[i]->type != f[i]->type;
            right += c[i]->type == layout;
            if (c[i]->type != f[i]->type)
                snprintf(layouts + strlen(layouts), sizeof layouts - strlen(layouts), "%s%s", moved > 1 ? " " : "",
                         tl_type_name(c[i]->type));
        }
    }
    check(moved == want_moved && right == weights,
          "%s CPU layouts: %d of %d weights moved (want %d; Q and FFN-up K = %lld, FFN-down K = %lld): %s", scheme, moved,
          weights, want_moved, (long long)file.layers[0].wq->ne[0], (long long)file.layers[0].ffn_down->ne[0], layouts);
    // The scalar ISA computes both layouts through the file format's reference dot: the
    // same bits. The SIMD kernels of the two layouts scale in different float orders; where
    // that moves an activation across a Q8_0 rounding boundary the next layer sees one code
    // step of difference, which a random model carries on over the tokens (the file layout
    // alone, scalar vs AVX-512: ~1e-2 of RMS over these 24 tokens). A wrong kernel is off by
    // the quantization error itself (0.1-0.2).
    const enum tl_cpu_isa best = tl_cpu_get_isa();
    for (int pass = 0; pass < 2; pass++) {
        const enum tl_cpu_isa isa = pass == 0 ? TL_ISA_SCALAR : best;
        if (pass == 1 && best == TL_ISA_SCALAR) break;
        tl_cpu_set_isa(isa);
        float *want = text_model_logits(&file, tokens, n), *got = text_model_logits(&cpu, tokens, n);
        if (want && got) {
            double se = 0, ss = 0;
            for (int64_t i = 0; i < n * (int64_t)file.hp.n_vocab; i++) {
                se += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
                ss += (double)want[i] * want[i];
            }
            double rel = sqrt(se / ss), bound = pass == 0 ? 0 : 3e-2;
            check(pass == 0 ? se == 0 : rel < bound, "CPU layout, %s ISA: one-token logits within %.1e of the file layout's RMS (%s %.0e)",
                  tl_cpu_isa_name(isa), rel, pass == 0 ? "=" : "<", bound);
        }
        free(want);
        free(got);
    }
    tl_cpu_set_isa(best);
    qwen25vl_text_free(&cpu);
    qwen25vl_text_free(&file);
}

static void unload(struct model *m) {
    tl_free(m->wctx);
    tl_gguf_free(m->g);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-quant-model TOKENIZER_DIR\n");
        return 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/longvl-test-qmodel-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_non_finite();
    char hf[400], prefix[400], f32[4096], qpath[420], err[1024] = "";
    snprintf(hf, sizeof hf, "%s/hf", tmpdir);
    snprintf(prefix, sizeof prefix, "%s/small", tmpdir);
    struct make_tiny_options mo = { .out_dir = hf, .preset = "small", .tokenizer_dir = argv[1], .dtype = TL_BF16,
                                    .shards = 1, .tied = true, .seed = 3 };
    struct convert_options co = { .hf_dir = hf, .out_prefix = prefix, .outtype = TL_F32 };
    struct convert_result cr;
    bool ok = make_tiny_checkpoint(&mo, err, sizeof err) && convert_qwen25vl(&co, &cr, err, sizeof err);
    check(ok, "small checkpoint converted to f32: %s", ok ? cr.text_path : err);
    if (!ok) return test_summary("test-quant-model");
    snprintf(f32, sizeof f32, "%s", cr.text_path);

    // a prompt of ordinary tokens (ids below the added tokens), deterministic
    enum { N = 24 };
    int32_t tokens[N];
    rng_seed(17);
    for (int i = 0; i < N; i++) tokens[i] = (int32_t)rng_int(100, 150000);

    struct model ref;
    float *want = load(&ref, f32) ? forward(&ref, tokens, N) : NULL;
    int64_t V = ref.hp.n_vocab;
    // bounds: about 1.3x the measured error (README); a random model's logits are nearly
    // flat, so the greedy token is a harsh test and only asked to agree mostly
    struct { enum quant_scheme s; double bound; int min_argmax; } cases[] = {
        { QUANT_F16, 0.002, N }, { QUANT_Q8_0, 0.02, N - 2 }, { QUANT_Q6_K, 0.052, N - 5 },
        { QUANT_Q5_K_M, 0.082, N - 5 }, { QUANT_Q4_K_M, 0.15, N - 9 }, { QUANT_Q4_1, 0.20, N - 12 },
        { QUANT_Q4_0, 0.22, N - 10 },
    };
    double prev_rel = 0;
    for (size_t c = 0; want && c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(qpath, sizeof qpath, "%s/small-%s.gguf", tmpdir, quant_scheme_name(cases[c].s));
        struct quantize_options qo = { .in_path = f32, .out_path = qpath, .scheme = cases[c].s, .n_threads = 2 };
        struct quantize_result qr;
        if (!quantize_gguf(&qo, &qr, err, sizeof err)) {
            check(0, "quantize to %s: %s", quant_scheme_name(cases[c].s), err);
            continue;
        }
        struct model qm;
        float *got = load(&qm, qpath) ? forward(&qm, tokens, N) : NULL;
        if (got) {
            double se = 0, ss = 0;
            int same = 0;
            for (int i = 0; i < N; i++) {
                int64_t aw = 0, ag = 0;
                for (int64_t v = 0; v < V; v++) {
                    double d = (double)got[i * V + v] - want[i * V + v];
                    se += d * d;
                    ss += (double)want[i * V + v] * want[i * V + v];
                    if (want[i * V + v] > want[i * V + aw]) aw = v;
                    if (got[i * V + v] > got[i * V + ag]) ag = v;
                }
                same += aw == ag;
            }
            double rel = sqrt(se / ss);
            if (cases[c].s != QUANT_Q4_0 && cases[c].s != QUANT_Q4_1) {   // K mixes and q8_0 in order of bits
                check(rel > prev_rel, "%s: fewer bits, more error (%.4f after %.4f)", quant_scheme_name(cases[c].s), rel, prev_rel);
                prev_rel = rel;
            }
            check(rel < cases[c].bound && same >= cases[c].min_argmax,
                  "%-6s (%.1f MiB, %d tensors quantized): logits rms error %.4f < %.3f; greedy token same at %d/%d >= %d",
                  quant_scheme_name(cases[c].s), qr.bytes_out / 1048576.0, qr.n_quantized, rel, cases[c].bound, same, N,
                  cases[c].min_argmax);
            free(got);
        }
        // Q, FFN-up and FFN-down of all 4 layers in panels (R8); the tied output's rows of
        // 256 stay Q4_0 / Q4_1 (X16 takes rows of 512 on); the q8_0 model's become Q8_0_X8
        if (cases[c].s == QUANT_Q4_0 || cases[c].s == QUANT_Q4_1)
            test_cpu_layout(qpath, quant_scheme_name(cases[c].s), 12, tokens, N);
        if (cases[c].s == QUANT_Q8_0)
            test_cpu_layout(qpath, quant_scheme_name(cases[c].s), 13, tokens, N);
        unload(&qm);
        unlink(qpath);
    }
    free(want);
    unload(&ref);

    // The K-quant layouts in a model: the "wide" preset in Q4_K_M and Q5_K_M, whose Q and
    // FFN-up (rows of 256) of all 4 layers and FFN-down (rows of 2,304) of layers 0 and 1
    // keep Q4_K / Q5_K (layers 2 and 3 take Q6_K there: quant_use_more_bits), all 12 of
    // them in panels of 8 rows (the tied output, read by rows, stays)
    snprintf(hf, sizeof hf, "%s/wide-hf", tmpdir);
    snprintf(prefix, sizeof prefix, "%s/wide", tmpdir);
    mo.preset = "wide";
    ok = make_tiny_checkpoint(&mo, err, sizeof err) && convert_qwen25vl(&co, &cr, err, sizeof err);
    check(ok, "wide checkpoint converted to f32: %s", ok ? cr.text_path : err);
    const enum quant_scheme k_mixes[] = { QUANT_Q4_K_M, QUANT_Q5_K_M };
    for (size_t c = 0; ok && c < sizeof k_mixes / sizeof k_mixes[0]; c++) {
        snprintf(qpath, sizeof qpath, "%s/wide-%s.gguf", tmpdir, quant_scheme_name(k_mixes[c]));
        struct quantize_options qo = { .in_path = cr.text_path, .out_path = qpath, .scheme = k_mixes[c], .n_threads = 2 };
        struct quantize_result qr;
        if (quantize_gguf(&qo, &qr, err, sizeof err)) test_cpu_layout(qpath, quant_scheme_name(k_mixes[c]), 12, tokens, N);
        else check(0, "quantize the wide model to %s: %s", quant_scheme_name(k_mixes[c]), err);
        unlink(qpath);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("test-quant-model");
}
