// The trainer's forward + backward of a whole (small, random) text model on packed
// sequences, on one ISA:
// - checkpointed (one block per segment) and not: the same gradients, bit for bit;
// - the gradient of every kind of tensor (embedding rows through the host-side scatter,
//   projections, biases, norms, the output) against central finite differences of the
//   loss the same code computes;
// - packing: a pack of two instances has the loss of the two run alone (segment masks and
//   per-instance positions), and its gradients are theirs summed;
// - bf16 compute: the loss within 1% of f32's.
// usage: test-train-step [scalar|avx2|avx512]...
#include "test-train-util.h"

#include "train-step.h"
#include "tl-gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB 80

// A random small model written as a text GGUF (hidden 32, 2 blocks, 2 query heads of
// 16 over 1 kv head, FFN 48) and read back as parameters.
static bool make_model(const char *path, struct train_model *m) {
    struct qwen25vl_text_hparams hp = { .n_vocab = VOCAB, .n_embd = 32, .n_layer = 2, .n_ff = 48, .n_head = 2,
                                        .n_head_kv = 1, .head_dim = 16, .n_ctx_train = 4096, .rms_eps = 1e-6f,
                                        .rope_freq_base = 10000.0f, .rope_sections = { 2, 3, 3, 0 } };
    struct tl_gguf *g = tl_gguf_new();
    qwen25vl_text_hparams_to_gguf(&hp, g);
    int n = 0;
    struct qwen25vl_tensor_spec *specs = qwen25vl_text_tensor_specs(&hp, &n);
    char err[256];
    bool ok = write_random_gguf(g, specs, n, path, err, sizeof err) && train_model_load(m, path, false, err, sizeof err);
    if (!ok) check(0, "making the test model: %s", err);
    free(specs);
    tl_gguf_free(g);
    return ok;
}

// A random instance of n tokens whose last `answers` tokens are the answer.
static void random_instance(struct train_instance *in, int64_t n, int answers) {
    *in = (struct train_instance){ 0 };
    in->ids = malloc(n * sizeof *in->ids);
    in->answer = calloc(n, 1);
    in->n = in->cap = n;
    for (int64_t i = 0; i < n; i++) in->ids[i] = (int32_t)rng_int(0, VOCAB - 1);
    for (int i = 0; i < answers; i++) in->answer[n - 1 - i] = 1;
}

static void pack_of(struct train_pack *p, const struct train_instance *a, const struct train_instance *b) {
    char err[256];
    train_pack_clear(p);
    if (!train_pack_add(p, a, err, sizeof err) || (b && !train_pack_add(p, b, err, sizeof err))) check(0, "packing: %s", err);
}

// Loss (mean over answer tokens) and the accumulated gradients of one pack.
static double step(struct train_model *m, const struct train_pack *p, int every, enum tl_type ct) {
    struct train_step_params sp = { .graph = { .rope_base = 10000.0f, .compute_type = ct }, .checkpoint_every = every,
                                    .n_threads = 2 };
    char err[256];
    double loss = NAN;
    train_model_zero_grads(m);
    if (!train_step_pack(m, p, &sp, 1.0f / p->n_rows, &loss, NULL, err, sizeof err)) check(0, "step: %s", err);
    return loss / p->n_rows;
}

static void check_checkpointing(struct train_model *m, const struct train_pack *p) {
    step(m, p, 2, TL_F32);   // one segment: no checkpointing
    float **full = save_grads(m->params, m->n_params);
    step(m, p, 1, TL_F32);
    int64_t differ = 0, total = 0;
    for (int i = 0; i < m->n_params; i++) {
        differ += memcmp(full[i], m->params[i].grad, m->params[i].n * sizeof(float)) != 0;
        total++;
    }
    check(differ == 0, "checkpointed (2 segments) vs whole-graph gradients: %lld of %lld tensors differ (want bit-identical)",
          (long long)differ, (long long)total);
    free_grads(full, m->n_params);
}

// Each named tensor's largest-gradient element against (L(w+h) - L(w-h)) / 2h.
static void check_finite_differences(struct train_model *m, const struct train_pack *p) {
    const char *names[] = { "token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.bias",  "blk.0.attn_v.weight",
                            "blk.0.attn_norm.weight", "blk.1.attn_output.weight", "blk.1.ffn_gate.weight",
                            "blk.1.ffn_down.weight", "blk.1.ffn_norm.weight", "output_norm.weight", "output.weight" };
    step(m, p, 1, TL_F32);
    float **g = save_grads(m->params, m->n_params);
    const float h = 1e-2f;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int pi = -1;
        for (int i = 0; i < m->n_params; i++)
            if (!strcmp(m->params[i].w->name, names[k])) pi = i;
        if (pi < 0) {
            check(0, "no parameter %s", names[k]);
            continue;
        }
        struct train_param *par = &m->params[pi];
        int64_t e = 0;
        for (int64_t j = 1; j < par->n; j++)
            if (fabsf(g[pi][j]) > fabsf(g[pi][e])) e = j;
        float *w = par->w->data, w0 = w[e];
        w[e] = w0 + h;
        double lp = step(m, p, 1, TL_F32);
        w[e] = w0 - h;
        double lm = step(m, p, 1, TL_F32);
        w[e] = w0;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - g[pi][e]) / fabs(g[pi][e]);
        check(err < 2e-3, "%s[%lld]: gradient %.6e, finite difference %.6e (relative error %.1e, bound 2e-3)", names[k],
              (long long)e, g[pi][e], fd, err);
    }
    free_grads(g, m->n_params);
}

static void check_packing(struct train_model *m, const struct train_instance *a, const struct train_instance *b) {
    struct train_pack pa, pb, pab;
    train_pack_init(&pa, 256);
    train_pack_init(&pb, 256);
    train_pack_init(&pab, 256);
    pack_of(&pa, a, NULL);
    pack_of(&pb, b, NULL);
    pack_of(&pab, a, b);
    double la = step(m, &pa, 1, TL_F32) * pa.n_rows;
    float **ga = save_grads(m->params, m->n_params);
    double lb = step(m, &pb, 1, TL_F32) * pb.n_rows;
    float **gb = save_grads(m->params, m->n_params);
    double lab = step(m, &pab, 1, TL_F32) * pab.n_rows;
    check(fabs(lab - (la + lb)) <= 1e-5 * fabs(la + lb),
          "packed loss %.7f = alone %.7f + %.7f (relative difference %.1e, bound 1e-5)", lab, la, lb,
          fabs(lab - (la + lb)) / fabs(la + lb));
    // the step scaled each by 1/its answer count: unscale, sum, compare
    double worst = 0, largest = 0;
    for (int i = 0; i < m->n_params; i++)
        for (int64_t j = 0; j < m->params[i].n; j++) {
            double want = ga[i][j] * pa.n_rows + gb[i][j] * pb.n_rows, got = m->params[i].grad[j] * pab.n_rows;
            worst = fmax(worst, fabs(got - want));
            largest = fmax(largest, fabs(want));
        }
    check(worst <= 1e-5 * largest, "packed gradients = the sum of the instances' (max difference %.1e of the largest %.2e)",
          worst, largest);
    free_grads(ga, m->n_params);
    free_grads(gb, m->n_params);
    train_pack_free(&pa);
    train_pack_free(&pb);
    train_pack_free(&pab);
}

static void check_bf16(struct train_model *m, const struct train_pack *p) {
    double l32 = step(m, p, 1, TL_F32), l16 = step(m, p, 1, TL_BF16);
    check(fabs(l16 - l32) <= 1e-2 * fabs(l32), "bf16 compute: loss %.6f vs f32 %.6f (relative %.1e, bound 1e-2)", l16, l32,
          fabs(l16 - l32) / fabs(l32));
}

int main(int argc, char **argv) {
    enum tl_cpu_isa isas[TL_ISA_COUNT];
    int n_isa = test_isas(argc, argv, isas);
    char path[] = "/tmp/longvl-test-train-step-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    struct train_model m;
    rng_seed(7);
    bool ok = make_model(path, &m);
    remove(path);
    if (!ok) return test_summary("test-train-step");
    struct train_instance a, b;
    random_instance(&a, 70, 5);
    random_instance(&b, 45, 3);
    struct train_pack p;
    train_pack_init(&p, 256);
    pack_of(&p, &a, &b);
    for (int i = 0; i < n_isa; i++) {
        tl_cpu_set_isa(isas[i]);
        printf("-- %s\n", tl_cpu_isa_name(isas[i]));
        check_checkpointing(&m, &p);
        check_finite_differences(&m, &p);
        check_packing(&m, &a, &b);
        check_bf16(&m, &p);
    }
    train_pack_free(&p);
    train_instance_free(&a);
    train_instance_free(&b);
    train_model_free(&m);
    return test_summary("test-train-step");
}
