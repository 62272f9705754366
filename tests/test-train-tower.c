// The trainable vision tower inside a training step (train-vision.h), on one ISA, with a
// small random text model and projector and a 250x130 PNG (5 x 9 merged rows, 180
// patches in 6 attention windows; one windowed and one full-attention block):
// - the trainable tower's forward gives the loss the frozen tower (the encoder that
//   `run` uses, through the embedding cache) gives;
// - checkpointed (one block per segment, text and tower) and not: the same gradients,
//   bit for bit;
// - every kind of tower tensor's gradient (patch embedding, norms, projections, biases of
//   the windowed and the full block, the merger) against central finite differences of
//   the step's loss;
// - bf16 compute: the tower's products in bf16, its loss and gradients close to f32's.
// usage: test-train-tower [scalar|avx2|avx512]
#include "test-train-util.h"

#include "page-source.h"
#include "train-pictures.h"
#include "train-step.h"
#include "train-vision.h"

#include <unistd.h>

#define VOCAB 80
#define PAD 79   // the <|image_pad|> stand-in: its rows are the picture's

static bool make_files(const char *dir, char *text, char *mmproj, char *png) {
    struct qwen25vl_text_hparams th = { .n_vocab = VOCAB, .n_embd = 32, .n_layer = 2, .n_ff = 48, .n_head = 2,
                                        .n_head_kv = 1, .head_dim = 16, .n_ctx_train = 4096, .rms_eps = 1e-6f,
                                        .rope_freq_base = 10000.0f, .rope_sections = { 2, 3, 3, 0 } };
    struct qwen25vl_vision_hparams vh = { .n_embd = 32, .n_ff = 48, .n_layer = 2, .n_head = 2, .head_dim = 16,
                                          .projection_dim = 32, .patch_size = 14, .image_size = 560,
                                          .spatial_merge_size = 2, .window_size = 112, .n_wa_pattern = 2, .eps = 1e-6f,
                                          .image_mean = { 0.48f, 0.46f, 0.41f }, .image_std = { 0.27f, 0.26f, 0.28f },
                                          .use_silu = true };
    sprintf(text, "%s/text.gguf", dir);
    sprintf(mmproj, "%s/mmproj.gguf", dir);
    sprintf(png, "%s/picture.png", dir);
    char err[256] = "";
    int n = 0;
    struct tl_gguf *g = tl_gguf_new();
    qwen25vl_text_hparams_to_gguf(&th, g);
    struct qwen25vl_tensor_spec *specs = qwen25vl_text_tensor_specs(&th, &n);
    bool ok = write_random_gguf(g, specs, n, text, err, sizeof err);
    free(specs);
    tl_gguf_free(g);
    g = tl_gguf_new();
    qwen25vl_vision_hparams_to_gguf(&vh, g);
    specs = qwen25vl_vision_tensor_specs(&vh, &n);
    ok = ok && write_random_gguf(g, specs, n, mmproj, err, sizeof err);
    free(specs);
    tl_gguf_free(g);
    struct rgb_image im = { .w = 250, .h = 130 };
    im.px = malloc((size_t)im.w * im.h * 3);
    for (int i = 0; i < im.w * im.h * 3; i++) im.px[i] = (uint8_t)rng_int(0, 255);
    ok = ok && rgb_image_save_png(&im, png, err, sizeof err);
    free(im.px);
    if (!ok) check(0, "making the test files: %s", err);
    return ok;
}

// Text, the picture's rows, text, a 4-token answer.
static bool picture_instance(struct train_pictures *tp, const char *png, struct train_instance *in) {
    char err[256];
    struct train_picture pic = { .path = strdup(png), .page = -1, .start = 10 };
    if (!train_pictures_grid(tp, png, -1, &pic.lh, &pic.lw, err, sizeof err)) {
        check(0, "the picture's grid: %s", err);
        return false;
    }
    int64_t rows = (int64_t)pic.lh * pic.lw, n = 10 + rows + 12;
    *in = (struct train_instance){ .n = n, .cap = n, .n_pics = 1, .pics_cap = 1 };
    in->ids = malloc(n * sizeof *in->ids);
    in->answer = calloc(n, 1);
    in->pics = malloc(sizeof *in->pics);
    in->pics[0] = pic;
    for (int64_t i = 0; i < n; i++) in->ids[i] = i >= 10 && i < 10 + rows ? PAD : (int32_t)rng_int(0, VOCAB - 2);
    for (int i = 1; i <= 4; i++) in->answer[n - i] = 1;
    return true;
}

struct fixture {
    struct train_model m;
    struct train_vision tv;
    struct train_pictures *tp;
    struct train_pack p;
};

// The mean answer loss of the pack; gradients in the accumulators (zeroed first).
static double step_as(struct fixture *f, bool trainable, int every, enum tl_type compute) {
    struct train_step_params sp = { .graph = { .rope_base = 10000.0f, .compute_type = compute }, .checkpoint_every = every,
                                    .n_threads = 2, .pictures = f->tp, .vision = trainable ? &f->tv : NULL };
    train_model_zero_grads(&f->m);
    for (int i = 0; i < f->tv.n_params; i++) memset(f->tv.params[i].grad, 0, f->tv.params[i].n * sizeof(float));
    char err[256];
    double loss = NAN;
    if (!train_step_pack(&f->m, &f->p, &sp, 1.0f / f->p.n_rows, &loss, NULL, err, sizeof err)) check(0, "step: %s", err);
    return loss / f->p.n_rows;
}
static double step(struct fixture *f, bool trainable, int every) { return step_as(f, trainable, every, TL_F32); }

static void check_forward(struct fixture *f) {
    double frozen = step(f, false, 1), trainable = step(f, true, 1);
    check(fabs(frozen - trainable) <= 1e-6 * fabs(frozen),
          "trainable tower's loss %.7f = the frozen encoder's %.7f (relative %.1e, bound 1e-6)", trainable, frozen,
          fabs(frozen - trainable) / fabs(frozen));
}

static void check_checkpointing(struct fixture *f) {
    step(f, true, 2);   // one segment each: no checkpointing
    float **whole = save_grads(f->tv.params, f->tv.n_params);
    step(f, true, 1);
    int differ = 0, nonzero = 0;
    for (int i = 0; i < f->tv.n_params; i++) {
        differ += memcmp(whole[i], f->tv.params[i].grad, f->tv.params[i].n * sizeof(float)) != 0;
        bool any = false;
        for (int64_t j = 0; j < f->tv.params[i].n; j++) any = any || whole[i][j] != 0;
        nonzero += any;
    }
    check(differ == 0, "tower gradients checkpointed (2 segments) vs whole: %d of %d tensors differ (want bit-identical)",
          differ, f->tv.n_params);
    check(nonzero == f->tv.n_params, "every tower tensor has a gradient: %d of %d", nonzero, f->tv.n_params);
    free_grads(whole, f->tv.n_params);
}

// Cosine of the angle between two vectors.
static double cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

// bf16 compute: the tower's rows are bf16 products (not f32's bits, within 1% RMS), and
// the step's loss and every tower tensor's gradient follow f32's (loss within 1%,
// gradient directions at cosine >= 0.99).
static void check_bf16(struct fixture *f) {
    char err[256] = "";
    const struct train_picture *pic = &f->p.pics[0];
    int64_t n = (int64_t)pic->lh * pic->lw * f->tv.v.hp.projection_dim;
    float *px = train_pictures_pixels(f->tp, pic, err, sizeof err), *r32 = malloc(n * sizeof *r32), *r16 = malloc(n * sizeof *r16);
    struct train_vision_exec ex = { .checkpoint_every = 1, .n_threads = 2, .compute_type = TL_F32, .alloc = tl_gallocr_new() };
    bool ok = px && train_vision_forward(&f->tv, &ex, px, pic->lh * 28, pic->lw * 28, r32, err, sizeof err);
    ex.compute_type = TL_BF16;
    ok = ok && train_vision_forward(&f->tv, &ex, px, pic->lh * 28, pic->lw * 28, r16, err, sizeof err);
    if (!ok) check(0, "the tower's rows: %s", err);
    double d2 = 0, s2 = 0;
    for (int64_t i = 0; ok && i < n; i++) d2 += (double)(r16[i] - r32[i]) * (r16[i] - r32[i]), s2 += (double)r32[i] * r32[i];
    if (ok) check(d2 > 0 && sqrt(d2 / s2) <= 1e-2, "bf16 tower rows: %.1e of f32's RMS away (> 0: computed in bf16; bound 1e-2)",
                  sqrt(d2 / s2));
    tl_gallocr_free(ex.alloc);
    free(px);
    free(r32);
    free(r16);

    double l32 = step_as(f, true, 1, TL_F32);
    float **g32 = save_grads(f->tv.params, f->tv.n_params);
    double l16 = step_as(f, true, 1, TL_BF16), worst = 1;
    const char *worst_name = "";
    for (int i = 0; i < f->tv.n_params; i++) {
        double c = cosine(g32[i], f->tv.params[i].grad, f->tv.params[i].n);
        if (c < worst) worst = c, worst_name = f->tv.params[i].w->name;
    }
    check(fabs(l16 - l32) <= 1e-2 * fabs(l32), "bf16 step with the tower: loss %.6f vs f32 %.6f (relative %.1e, bound 1e-2)",
          l16, l32, fabs(l16 - l32) / fabs(l32));
    check(worst >= 0.99, "bf16 tower gradients: the least aligned with f32's, %s, at cosine %.5f (bound 0.99)", worst_name,
          worst);
    free_grads(g32, f->tv.n_params);
}

// Each named tensor's largest-gradient element against (L(w+h) - L(w-h)) / 2h.
static void check_finite_differences(struct fixture *f) {
    const char *names[] = { "v.patch_embd.weight", "v.patch_embd.weight.1", "v.blk.0.ln1.weight", "v.blk.0.attn_q.weight",
                            "v.blk.0.attn_k.bias", "v.blk.0.attn_v.weight", "v.blk.0.ffn_gate.weight",
                            "v.blk.1.attn_out.weight", "v.blk.1.attn_q.weight", "v.blk.1.ln2.weight",
                            "v.blk.1.ffn_down.bias", "v.post_ln.weight", "mm.0.weight", "mm.2.weight", "mm.2.bias" };
    step(f, true, 1);
    float **g = save_grads(f->tv.params, f->tv.n_params);
    const float h = 1e-2f;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        struct train_param *par = train_param_named(f->tv.params, f->tv.n_params, names[k]);
        if (!par) {
            check(0, "no tower parameter %s", names[k]);
            continue;
        }
        const float *gp = g[par - f->tv.params];
        int64_t e = 0;
        for (int64_t j = 1; j < par->n; j++)
            if (fabsf(gp[j]) > fabsf(gp[e])) e = j;
        float *w = par->w->data, w0 = w[e];
        w[e] = w0 + h;
        double lp = step(f, true, 1);
        w[e] = w0 - h;
        double lm = step(f, true, 1);
        w[e] = w0;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - gp[e]) / fabs(gp[e]);
        check(err < 2e-3, "%s[%lld]: gradient %.6e, finite difference %.6e (relative error %.1e, bound 2e-3)", names[k],
              (long long)e, gp[e], fd, err);
    }
    free_grads(g, f->tv.n_params);
}

int main(int argc, char **argv) {
    enum tl_cpu_isa isas[TL_ISA_COUNT];
    int n_isa = test_isas(argc, argv, isas);
    char dir[] = "/tmp/longvl-test-train-tower-XXXXXX", text[256], mmproj[256], png[256], cache[256], err[256];
    if (!mkdtemp(dir)) return 1;
    rng_seed(11);
    struct fixture f = { 0 };
    struct train_instance in = { 0 };
    bool ok = make_files(dir, text, mmproj, png);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    struct train_pictures_options o = { .mmproj = mmproj, .cache_dir = cache, .n_threads = 2,
                                        .settings = { .dpi = 72, .min_pixels = 3136, .max_pixels = 12845056 } };
    if (ok && !(ok = train_model_load(&f.m, text, false, err, sizeof err) &&
                     train_vision_load(&f.tv, mmproj, NULL, err, sizeof err) &&
                     (f.tp = train_pictures_open(&o, 32, PAD, err, sizeof err)) != NULL))
        check(0, "loading: %s", err);
    train_pack_init(&f.p, 256);
    ok = ok && picture_instance(f.tp, png, &in);
    if (ok && !(ok = train_pack_add(&f.p, &in, err, sizeof err))) check(0, "packing: %s", err);
    if (ok) check(f.p.n_pics == 1 && f.p.pics[0].lh == 5 && f.p.pics[0].lw == 9, "the picture is 5 x 9 rows (%d x %d)",
                  f.p.pics[0].lh, f.p.pics[0].lw);
    for (int i = 0; ok && i < n_isa; i++) {
        tl_cpu_set_isa(isas[i]);
        printf("-- %s\n", tl_cpu_isa_name(isas[i]));
        check_forward(&f);
        check_checkpointing(&f);
        check_finite_differences(&f);
        check_bf16(&f);
    }
    train_pack_free(&f.p);
    train_instance_free(&in);
    train_pictures_free(f.tp);
    train_vision_free(&f.tv);
    if (f.m.file) train_model_free(&f.m);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return test_summary("test-train-tower");
}
