// The text model's context API (models/qwen25vl-text.h) on the converted tiny checkpoint:
// the last token's logits are the same whether the prompt goes in one graph with every
// position's logits, in micro-batches asking only for the last, or in two calls (the
// first asking for none); truncating the cache and feeding the tail again repeats them;
// a call that would overflow the cache is refused and appends nothing.
// usage: test-text-context TOKENIZER_DIR
#include "test-util.h"
#include "convert-qwen25vl.h"
#include "make-tiny.h"
#include "mrope-positions.h"
#include "qwen25vl-text.h"

#include <unistd.h>

enum { N = 30 };

static double max_rel_diff(const float *a, const float *b, int64_t n) {
    double d = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        ss += (double)b[i] * b[i];
    }
    return d / sqrt(ss / n);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-text-context TOKENIZER_DIR\n");
        return 2;
    }
    char tmp[256], hf[300], prefix[300], err[1024] = "";
    snprintf(tmp, sizeof tmp, "%s/longvl-test-textctx-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 1;
    snprintf(hf, sizeof hf, "%s/hf", tmp);
    snprintf(prefix, sizeof prefix, "%s/tiny", tmp);
    struct make_tiny_options mo = { .out_dir = hf, .preset = "tiny", .tokenizer_dir = argv[1], .dtype = TL_F32, .shards = 1, .seed = 5 };
    struct convert_options co = { .hf_dir = hf, .out_prefix = prefix, .outtype = TL_F32 };
    struct convert_result cr;
    struct qwen25vl_text_model m;
    bool ok = make_tiny_checkpoint(&mo, err, sizeof err) && convert_qwen25vl(&co, &cr, err, sizeof err) &&
              qwen25vl_text_load(&m, cr.text_path, err, sizeof err);
    check(ok, "tiny checkpoint converted and loaded %s", err);
    if (!ok) return test_summary("test-text-context");

    int32_t ids[N], pos[3 * N], next;
    rng_seed(9);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)rng_int(100, 150000);
    int64_t E = m.hp.n_embd, V = m.hp.n_vocab;
    float *embd = malloc(N * E * sizeof *embd), *all = malloc(N * V * sizeof *all), *last = malloc(V * sizeof *last);
    qwen25vl_mrope_positions(N, 0, NULL, 0, pos, &next, NULL, 0);
    ok = qwen25vl_text_embed(&m, ids, N, embd, err, sizeof err);

    struct qwen25vl_text_params p = { .n_ctx = 64, .kv_type = TL_F32, .n_ubatch = 512, .n_threads = 2 };
    struct qwen25vl_text_context *c = qwen25vl_text_context_new(&m, &p, err, sizeof err);
    ok = ok && c && qwen25vl_text_decode(c, embd, pos, N, all, true, err, sizeof err);
    check(ok, "every position's logits in one graph %s", err);
    qwen25vl_text_context_free(c);
    const float *want = all + (N - 1) * V;

    p.n_ubatch = 7;
    c = qwen25vl_text_context_new(&m, &p, err, sizeof err);
    ok = c && qwen25vl_text_decode(c, embd, pos, N, last, false, err, sizeof err);
    double d = ok ? max_rel_diff(last, want, V) : 1;
    check(ok && d < 1e-5, "micro-batches of 7, last logits only: max diff %.2g of RMS (< 1e-5: f32 sums in another order) %s", d, err);
    qwen25vl_text_context_free(c);

    // two calls: 20 tokens without logits, then 10 with the last's; the positions carry on
    int32_t pos_a[3 * 20], pos_b[3 * (N - 20)], next_a, next_b;
    qwen25vl_mrope_positions(20, 0, NULL, 0, pos_a, &next_a, NULL, 0);
    qwen25vl_mrope_positions(N - 20, next_a, NULL, 0, pos_b, &next_b, NULL, 0);
    c = qwen25vl_text_context_new(&m, &p, err, sizeof err);
    ok = c && qwen25vl_text_decode(c, embd, pos_a, 20, NULL, false, err, sizeof err) &&
         qwen25vl_text_decode(c, embd + 20 * E, pos_b, N - 20, last, false, err, sizeof err);
    d = ok ? max_rel_diff(last, want, V) : 1;
    check(ok && d < 1e-5 && qwen25vl_text_n_past(c) == N, "two calls (no logits, then the last): max diff %.2g of RMS %s", d, err);

    // back to 20 tokens and the tail again
    qwen25vl_text_truncate(c, 20);
    ok = qwen25vl_text_n_past(c) == 20 && qwen25vl_text_decode(c, embd + 20 * E, pos_b, N - 20, last, false, err, sizeof err);
    d = ok ? max_rel_diff(last, want, V) : 1;
    check(ok && d < 1e-5, "truncated to 20 and fed the tail again: max diff %.2g of RMS %s", d, err);

    // 64 - 30 = 34 free: 35 more do not fit, and nothing is appended
    float *more = calloc(35 * E, sizeof *more);
    int32_t *pos_m = calloc(3 * 35, sizeof *pos_m);
    bool refused = !qwen25vl_text_decode(c, more, pos_m, 35, NULL, false, err, sizeof err);
    check(refused && strstr(err, "do not fit") && qwen25vl_text_n_past(c) == N, "an overflowing call refused, cache unchanged: %s", err);
    qwen25vl_text_context_free(c);

    free(more);
    free(pos_m);
    free(embd);
    free(all);
    free(last);
    qwen25vl_text_free(&m);
    unlink(cr.text_path);
    unlink(cr.mmproj_path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary("test-text-context");
}
