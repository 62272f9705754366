// The LongPT training loop (see trainer.h).
#include "trainer.h"

#include "checkpoint.h"
#include "optim.h"
#include "rope-scaling.h"
#include "tokenizer.h"
#include "train-data.h"
#include "train-graph.h"
#include "train-pictures.h"
#include "train-step.h"
#include "train-vision.h"

#include "tl-vulkan.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

// Flag, checkpoint key, default (NaN: required), and the range a value must lie in.
static const struct {
    const char *flag, *key;
    double def, lo, hi;
} SETTINGS[TS_COUNT] = {
    [TS_LR] = { "--lr", "lr", 1e-5, 0, 1e38 },
    [TS_LR_MIN] = { "--lr-min", "lr_min", 0, 0, 1e3 },
    [TS_WARMUP] = { "--warmup", "warmup", 0, 0, 1e12 },
    [TS_STEPS] = { "--steps", "steps", NAN, 1, 1e12 },
    [TS_WEIGHT_DECAY] = { "--weight-decay", "weight_decay", 0.1, 0, 1e3 },
    [TS_BETA1] = { "--beta1", "beta1", 0.9, 0, 0.999999 },
    [TS_BETA2] = { "--beta2", "beta2", 0.95, 0, 0.999999999 },
    [TS_EPS] = { "--adam-eps", "eps", 1e-8, 0, 1 },
    [TS_CLIP] = { "--clip", "clip", 1.0, 0, 1e9 },
    [TS_SEQ_LEN] = { "--seq-len", "seq_len", 131072, 16, 1 << 24 },
    [TS_TOKENS_PER_STEP] = { "--tokens-per-step", "tokens_per_step", 0, 0, 1e12 },   // 0: seq_len (per rank)
    [TS_CHECKPOINT_EVERY] = { "--checkpoint-every", "checkpoint_every", 1, 1, 1 << 20 },
    [TS_COMPUTE_TYPE] = { "--compute-type", "compute_type", TL_F32, 0, TL_TYPE_COUNT },
    [TS_SEED] = { "--seed", "seed", 0, 0, 9007199254740992.0 },
    [TS_ROPE_BASE] = { "--rope-base", "rope_base", 0, 0, 1e30 },   // 0: the model's, or --target-ctx's
    [TS_DPI] = { "--dpi", "dpi", 144, 1, 2400 },
    [TS_MIN_PIXELS] = { "--min-pixels", "min_pixels", 3136, 784, 1e12 },
    [TS_MAX_PIXELS] = { "--max-pixels", "max_pixels", 12845056, 784, 1e12 },
    [TS_TRAIN_VISION] = { "--train-vision", "train_vision", 0, 0, 1 },
    [TS_RANKS] = { "mpirun -np", "ranks", 1, 1, 1 << 20 },
};

const char *train_setting_flag(enum train_setting_id id) { return SETTINGS[id].flag; }

void train_setting_range(enum train_setting_id id, double *lo, double *hi) {
    *lo = SETTINGS[id].lo;
    *hi = SETTINGS[id].hi;
}

void train_config_init(struct train_config *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < TS_COUNT; i++) c->settings[i] = NAN;
    c->rope_factor = 1;
    c->rope_orig_ctx = 32768;
    c->save_every = 100;
    c->eval_instances = 64;
    c->log_every = 10;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    interrupted = 1;
    signal(sig, SIG_DFL);   // a second Ctrl-C kills at once (the files are written atomically)
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

struct run {
    struct train_config *c;
    struct train_model m;
    struct train_source *src;
    struct train_pictures *pictures;
    struct train_vision vision;     // the trainable tower (--train-vision)
    struct train_param **params;    // everything trained: the text model's, then the tower's
    int n_params, n_text_params;
    struct train_state st;
    struct train_step_params sp;
    char data_spec[512];
    int64_t saved_step;   // the step the --save file holds (-1: none written)
    FILE *csv;
    char err[1024];
};

#define SET(r, id) ((r)->c->settings[id])

static bool leader(const struct run *r) { return !r->c->dist || r->c->dist->rank == 0; }
static int ranks(const struct run *r) { return r->c->dist ? r->c->dist->size : 1; }

// Settings: a resumed run takes the checkpoint's and refuses a flag that contradicts
// one; a fresh run takes the defaults of those not given.
static bool resolve_settings(struct run *r, const double *stored) {
    for (int i = 0; i < TS_COUNT; i++) {
        double *v = &r->c->settings[i];
        if (stored) {
            if (!isnan(*v) && *v != stored[i]) {
                fprintf(stderr,
                        "longvl train-longpt: %s was trained with %s %g; resuming it with %g would not continue the "
                        "same run\n", r->c->resume, SETTINGS[i].flag, stored[i], *v);
                return false;
            }
            *v = stored[i];
        } else if (isnan(*v)) {
            if (isnan(SETTINGS[i].def)) {
                fprintf(stderr, "longvl train-longpt: %s is required\n", SETTINGS[i].flag);
                return false;
            }
            *v = SETTINGS[i].def;
        }
        if (!(*v >= SETTINGS[i].lo && *v <= SETTINGS[i].hi)) {
            fprintf(stderr, "longvl train-longpt: %s must be in [%g, %g], not %g\n", SETTINGS[i].flag, SETTINGS[i].lo,
                    SETTINGS[i].hi, *v);
            return false;
        }
    }
    if (SET(r, TS_TOKENS_PER_STEP) == 0) SET(r, TS_TOKENS_PER_STEP) = SET(r, TS_SEQ_LEN);
    return true;
}

// The frozen vision tower and its cache (the default: $XDG_CACHE_HOME or ~/.cache, then
// longvl/embd).
static bool open_pictures(struct run *r) {
    char dir[4096];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (r->c->embd_cache) snprintf(dir, sizeof dir, "%s", r->c->embd_cache);
    else if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/longvl/embd", xdg);
    else snprintf(dir, sizeof dir, "%s/.cache/longvl/embd", home ? home : ".");
    struct tokenizer *tok = tokenizer_load_gguf(r->m.file, r->err, sizeof r->err);
    int32_t pad = tok ? tokenizer_find(tok, "<|image_pad|>") : -1;
    tokenizer_free(tok);
    if (!tok) return false;
    if (pad < 0) {
        snprintf(r->err, sizeof r->err, "the model's vocabulary has no <|image_pad|> token to place pictures at");
        return false;
    }
    struct train_pictures_options o = {
        .mmproj = r->c->mmproj, .cache_dir = dir, .n_threads = r->c->n_threads, .vk = r->c->vk,
        .settings = { (float)SET(r, TS_DPI), (int64_t)SET(r, TS_MIN_PIXELS), (int64_t)SET(r, TS_MAX_PIXELS) },
    };
    r->pictures = train_pictures_open(&o, r->m.hp.n_embd, pad, r->err, sizeof r->err);
    return r->pictures != NULL;
}

// The parameters trained: the text model's, and the vision tower's with --train-vision
// (read from the checkpoint when resuming).
static bool collect_params(struct run *r) {
    bool vision = SET(r, TS_TRAIN_VISION) > 0;
    if (vision && !r->c->mmproj) {
        snprintf(r->err, sizeof r->err, "--train-vision%s needs --mmproj: the projector to train (or whose run this is)",
                 r->c->resume ? " (the checkpoint's run)" : "");
        return false;
    }
    if (!vision && r->c->mmproj_out) {
        snprintf(r->err, sizeof r->err, "--mmproj-out: the tower is trained only with --train-vision");
        return false;
    }
    if (vision && !train_vision_load(&r->vision, r->c->mmproj, r->c->resume ? r->m.file : NULL, r->err, sizeof r->err))
        return false;
    if (vision) r->sp.vision = &r->vision;
    r->n_text_params = r->m.n_params;
    r->n_params = r->m.n_params + r->vision.n_params;
    r->params = malloc(r->n_params * sizeof *r->params);
    if (!r->params) abort();
    for (int i = 0; i < r->m.n_params; i++) r->params[i] = &r->m.params[i];
    for (int i = 0; i < r->vision.n_params; i++) r->params[r->m.n_params + i] = &r->vision.params[i];
    return true;
}

static bool load(struct run *r) {
    struct train_config *c = r->c;
    const char *path = c->resume ? c->resume : c->model;
    if (!train_model_load(&r->m, path, c->resume != NULL, r->err, sizeof r->err)) return false;
    double stored[TS_COUNT];
    if (c->resume) {
        struct train_setting s[TS_COUNT];
        for (int i = 0; i < TS_COUNT; i++) s[i] = (struct train_setting){ SETTINGS[i].key, 0 };
        if (!checkpoint_read(path, &r->m, &r->st, s, TS_COUNT, r->data_spec, sizeof r->data_spec, r->err, sizeof r->err))
            return false;
        for (int i = 0; i < TS_COUNT; i++) stored[i] = s[i].value;
        if (c->data && strcmp(c->data, r->data_spec)) {
            snprintf(r->err, sizeof r->err, "%s was trained on --data %s, not %s", path, r->data_spec, c->data);
            return false;
        }
        if (c->target_ctx > 0) {
            snprintf(r->err, sizeof r->err, "--target-ctx: a resumed run keeps its checkpoint's rope base");
            return false;
        }
    } else {
        snprintf(r->data_spec, sizeof r->data_spec, "%s", c->data);
    }
    c->settings[TS_RANKS] = ranks(r);
    if (!resolve_settings(r, c->resume ? stored : NULL)) {
        r->err[0] = 0;
        return false;
    }
    const struct qwen25vl_text_hparams *hp = &r->m.hp;
    if (SET(r, TS_ROPE_BASE) == 0)   // fixed once for the whole run, then stored
        SET(r, TS_ROPE_BASE) = c->target_ctx > 0 ? rope_base_dynamic_ntk(hp->rope_freq_base, c->rope_factor, c->target_ctx,
                                                                          c->rope_orig_ctx, (int)hp->head_dim)
                                                 : hp->rope_freq_base;
    enum tl_type ct = (enum tl_type)SET(r, TS_COMPUTE_TYPE);
    if (ct != TL_F32 && ct != TL_F16 && ct != TL_BF16) {
        snprintf(r->err, sizeof r->err, "--compute-type must be f32, f16 or bf16");
        return false;
    }
    r->sp = (struct train_step_params){ .graph = { .rope_base = (float)SET(r, TS_ROPE_BASE), .compute_type = ct },
                                        .checkpoint_every = (int)SET(r, TS_CHECKPOINT_EVERY),
                                        .n_threads = c->n_threads, .alloc = tl_gallocr_new(),
                                        .mirror = c->vk ? tl_vk_mirror_new(c->vk) : NULL };
    if (c->mmproj && !open_pictures(r)) return false;
    r->sp.pictures = r->pictures;
    if (!collect_params(r)) return false;
    if (c->resume && !checkpoint_read_moments(path, r->m.file, r->params, r->n_params, r->err, sizeof r->err))
        return false;
    r->src = train_source_open(r->data_spec, hp->n_vocab, (uint64_t)SET(r, TS_SEED), r->pictures, r->err,
                               sizeof r->err);
    return r->src != NULL;
}

// A checkpoint (every parameter with its moments) or, without the optimizer, the text
// model alone (the tower goes to its own projector file).
static bool save(struct run *r, const char *path, bool with_optimizer) {
    struct train_setting s[TS_COUNT];
    for (int i = 0; i < TS_COUNT; i++) s[i] = (struct train_setting){ SETTINGS[i].key, r->c->settings[i] };
    return checkpoint_write(path, &r->m, r->params, with_optimizer ? r->n_params : r->n_text_params,
                            (float)SET(r, TS_ROPE_BASE), with_optimizer, &r->st, s, TS_COUNT, r->data_spec, r->err,
                            sizeof r->err);
}

// The final files: the model, and the trained tower as a projector beside it.
static bool save_outputs(struct run *r) {
    const char *out = r->c->out;
    if (!save(r, out, false)) return false;
    if (!r->c->quiet) fprintf(stderr, "model: %s\n", out);
    if (!r->sp.vision) return true;
    char derived[4096];
    const char *mm = r->c->mmproj_out;
    if (!mm) {   // OUT.gguf -> OUT-mmproj.gguf
        size_t n = strlen(out);
        int stem = n > 5 && !strcmp(out + n - 5, ".gguf") ? (int)n - 5 : (int)n;
        snprintf(derived, sizeof derived, "%.*s-mmproj.gguf", stem, out);
        mm = derived;
    }
    if (!train_vision_write(&r->vision, mm, r->err, sizeof r->err)) return false;
    if (!r->c->quiet) fprintf(stderr, "projector: %s\n", mm);
    return true;
}

// Exact-match accuracy (every answer token the argmax) on held-out instances.
static bool evaluate(struct run *r, int64_t *correct) {
    struct train_pack p;
    train_pack_init(&p, (int64_t)SET(r, TS_SEQ_LEN));
    struct train_instance in = { 0 };
    int32_t *pred = malloc((size_t)p.cap * sizeof *pred);
    if (!pred) abort();
    bool ok = true;
    *correct = 0;
    for (int64_t i = 0; ok && i < r->c->eval_instances; i++) {
        train_pack_clear(&p);   // one instance a pack
        ok = train_source_get_heldout(r->src, i, &in, r->err, sizeof r->err) &&
             train_pack_add(&p, &in, r->err, sizeof r->err) &&
             train_predict_pack(&r->m, &p, &r->sp, pred, r->err, sizeof r->err);
        bool all = ok;
        for (int64_t k = 0; ok && k < p.n_rows; k++) all = all && pred[k] == p.targets[k];
        *correct += all;
    }
    free(pred);
    train_instance_free(&in);
    train_pack_free(&p);
    return ok;
}

static bool report_eval(struct run *r) {
    int64_t correct;
    if (!evaluate(r, &correct)) {
        if (!train_graph_cancelled()) return false;
        fprintf(stderr, "eval step %lld: interrupted\n", (long long)r->st.step);   // the next step stops the run
        return true;
    }
    fprintf(stderr, "eval step %lld: accuracy %lld/%lld = %.1f%% (held-out instances, exact match)\n",
            (long long)r->st.step, (long long)correct, (long long)r->c->eval_instances,
            100.0 * correct / r->c->eval_instances);
    return true;
}

// One optimizer step's packs, filled from the cursor until they hold tokens_per_step.
struct step_packs {
    struct train_pack *v;
    int n, cap;
    int64_t tokens, answers;
};

static bool fill_step(struct run *r, struct step_packs *sp) {
    sp->n = 0;
    sp->tokens = sp->answers = 0;
    while (sp->n == 0 || sp->tokens < SET(r, TS_TOKENS_PER_STEP) * ranks(r)) {
        if (sp->n == sp->cap) {
            sp->v = realloc(sp->v, (size_t)(sp->cap + 1) * sizeof *sp->v);
            if (!sp->v) abort();
            train_pack_init(&sp->v[sp->cap++], (int64_t)SET(r, TS_SEQ_LEN));
        }
        struct train_pack *p = &sp->v[sp->n++];
        if (!train_pack_fill(p, r->src, &r->st.cursor, r->err, sizeof r->err)) return false;
        sp->tokens += p->n;
        sp->answers += p->n_rows;
    }
    return true;
}

static void log_step(struct run *r, double loss, float lr, double norm, double tok_s, double elapsed, size_t peak,
                     bool last) {
    if (!leader(r)) return;
    if (r->csv) {
        fprintf(r->csv, "%lld,%lld,%.6f,%.6e,%.6e,%.1f,%.3f,%zu\n", (long long)r->st.step, (long long)r->st.tokens, loss,
                lr, norm, tok_s, elapsed, peak);
        fflush(r->csv);
    }
    if (r->c->quiet) return;
    bool tty = isatty(2);
    if (!tty && !last && r->st.step % r->c->log_every) return;
    fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.2e  |g| %.3e  %.0f tok/s  graph+acts %.1f MiB%s",
            tty ? "\r" : "", (long long)r->st.step, (long long)SET(r, TS_STEPS), loss, lr, norm, tok_s, peak / 1048576.0,
            tty && !last ? "   " : "\n");
}

static bool open_csv(struct run *r) {
    if (!r->c->log_csv || !leader(r)) return true;
    bool append = r->c->resume && access(r->c->log_csv, F_OK) == 0;
    r->csv = fopen(r->c->log_csv, append ? "a" : "w");
    if (!r->csv) {
        snprintf(r->err, sizeof r->err, "cannot write %s", r->c->log_csv);
        return false;
    }
    if (!append) fprintf(r->csv, "step,tokens,loss,lr,grad_norm,tokens_per_s,elapsed_s,graph_act_bytes\n");
    return true;
}

static void print_plan(struct run *r) {
    int64_t n = 0, nv = 0;
    for (int i = 0; i < r->n_params; i++) n += r->params[i]->n;
    for (int i = 0; i < r->vision.n_params; i++) nv += r->vision.params[i].n;
    int L = (int)r->m.hp.n_layer, E = r->sp.checkpoint_every < L ? r->sp.checkpoint_every : L;
    fprintf(stderr,
            "train-longpt: %lld parameters (%.1f MiB of weights, gradients and moments; %lld of them the vision "
            "tower's), %d blocks in %d segments, sequences of <= %lld tokens, >= %lld tokens per step, rope base %.6g, "
            "%s compute on %s, data %s\n",
            (long long)n, 16.0 * n / 1048576, (long long)nv, L, (L + E - 1) / E, (long long)SET(r, TS_SEQ_LEN),
            (long long)SET(r, TS_TOKENS_PER_STEP), SET(r, TS_ROPE_BASE), tl_type_name(r->sp.graph.compute_type),
            r->c->vk ? tl_vk_backend_info(r->c->vk)->name : "the CPU", r->data_spec);
    if (r->c->resume)
        fprintf(stderr, "train-longpt: resuming %s at step %lld (data cursor %lld, %lld tokens so far)\n", r->c->resume,
                (long long)r->st.step, (long long)r->st.cursor, (long long)r->st.tokens);
}

// Ctrl-C came during `step`: its partial gradients are dropped, and the checkpoint keeps
// the state before it (the data cursor at its first pack), so a resume runs it whole.
static bool save_interrupted(struct run *r, int64_t step) {
    struct train_config *c = r->c;
    if (c->save && leader(r) && r->saved_step != r->st.step) {
        if (!save(r, c->save, true)) return false;
        r->saved_step = r->st.step;
    }
    if (leader(r))
        fprintf(stderr, "train-longpt: interrupted during step %lld, which is dropped%s\n", (long long)step,
                c->save ? "; the checkpoint holds the step before it: resume with --resume" : " (no --save: nothing kept)");
    return true;
}

// The run after loading; false on an error (r->err says which), *code the exit status.
static bool train_loop(struct run *r, int *code) {
    struct train_config *c = r->c;
    struct adamw_params opt = { (float)SET(r, TS_BETA1), (float)SET(r, TS_BETA2), (float)SET(r, TS_EPS),
                                (float)SET(r, TS_WEIGHT_DECAY) };
    struct lr_schedule sched = { (float)SET(r, TS_LR), (float)SET(r, TS_LR_MIN), (int64_t)SET(r, TS_WARMUP),
                                 (int64_t)SET(r, TS_STEPS) };
    int n = r->n_params;
    float **grads = malloc(n * sizeof *grads);
    int64_t *sizes = malloc(n * sizeof *sizes);
    if (!grads || !sizes) abort();
    for (int i = 0; i < n; i++) grads[i] = r->params[i]->grad, sizes[i] = r->params[i]->n;
    struct step_packs packs = { 0 };
    bool ok = c->eval_every <= 0 || !leader(r) || report_eval(r);
    double t_start = now_s();
    int64_t steps_here = 0;
    while (ok && r->st.step < SET(r, TS_STEPS)) {
        double t0 = now_s();
        int64_t step = r->st.step + 1, cursor0 = r->st.cursor;
        for (int i = 0; i < n; i++) memset(grads[i], 0, (size_t)sizes[i] * sizeof(float));
        if (!(ok = fill_step(r, &packs))) break;
        // this rank's share of the packs, then the sums over ranks (a failure anywhere
        // stops every rank, and so does a Ctrl-C on any of them)
        double loss_sum = 0;
        size_t peak = 0;
        int rank = c->dist ? c->dist->rank : 0;
        for (int k = rank; ok && k < packs.n; k += ranks(r)) {
            double ls = 0;
            size_t pk = 0;
            ok = train_step_pack(&r->m, &packs.v[k], &r->sp, 1.0f / packs.answers, &ls, &pk, r->err, sizeof r->err);
            loss_sum += ls;
            if (pk > peak) peak = pk;
        }
        bool cut = !ok && train_graph_cancelled();   // Ctrl-C inside the step: not an error
        if (cut) ok = true;
        double shared[4] = { loss_sum, !ok, interrupted, cut };
        dist_sum_f64(c->dist, shared, 4);
        if (!ok) break;
        if (shared[1] > 0) {
            snprintf(r->err, sizeof r->err, "step %lld failed on another rank", (long long)step);
            ok = false;
            break;
        }
        if (shared[3] > 0) {   // some rank's step was cut short: drop the step everywhere
            r->st.cursor = cursor0;
            ok = save_interrupted(r, step);
            *code = 130;
            break;
        }
        for (int i = 0; i < n && ranks(r) > 1; i++) dist_sum_f32(c->dist, grads[i], sizes[i]);
        loss_sum = shared[0];
        double loss = loss_sum / packs.answers, norm = grad_global_norm(grads, sizes, n);
        if (!isfinite(loss) || !isfinite(norm)) {
            r->st.cursor = cursor0;
            const char *what = isfinite(loss) ? "gradient norm" : "loss";
            double bad = isfinite(loss) ? norm : loss;
            int at = snprintf(r->err, sizeof r->err, "step %lld: the %s is %s; stopping without taking the step",
                              (long long)step, what, isnan(bad) ? "NaN" : "infinite");
            if (r->saved_step >= 0)
                snprintf(r->err + at, sizeof r->err - at, " (the last good checkpoint, %s, holds step %lld)", c->save,
                         (long long)r->saved_step);
            ok = false;
            break;
        }
        float lr = lr_at(&sched, step), scale = clip_scale(norm, (float)SET(r, TS_CLIP));
        for (int i = 0; i < n; i++) {
            struct train_param *p = r->params[i];
            adamw_step(p->w->data, p->grad, p->m, p->v, p->n, &opt, lr, step, scale, p->decay);
            if (r->sp.mirror && !(ok = tl_vk_refresh(r->sp.mirror, p->w, r->err, sizeof r->err))) break;
        }
        if (!ok) break;
        r->st.step = step;
        r->st.tokens += packs.tokens;
        steps_here++;
        double t1 = now_s();
        bool last = step == (int64_t)SET(r, TS_STEPS);
        bool stop = shared[2] > 0 || (c->stop_after > 0 && steps_here >= c->stop_after);
        log_step(r, loss, lr, norm, packs.tokens / (t1 - t0), t1 - t_start, peak, last || stop);
        if (c->save && leader(r) && (last || stop || step % c->save_every == 0)) {
            if (!(ok = save(r, c->save, true))) break;
            r->saved_step = step;
            if (!c->quiet && (stop || !isatty(2))) fprintf(stderr, "checkpoint: %s (step %lld)\n", c->save, (long long)step);
        }
        if (c->eval_every > 0 && leader(r) && (last || step % c->eval_every == 0)) ok = report_eval(r);
        if (stop) {
            *code = shared[2] > 0 ? 130 : 0;
            if (leader(r)) fprintf(stderr, "train-longpt: %s at step %lld%s\n", shared[2] > 0 ? "interrupted" : "stopped (--stop-after)",
                        (long long)step, c->save ? "; resume with --resume" : " (no --save: nothing kept)");
            break;
        }
    }
    for (int k = 0; k < packs.cap; k++) train_pack_free(&packs.v[k]);
    free(packs.v);
    free(grads);
    free(sizes);
    return ok;
}

int train_longpt(struct train_config *c) {
    struct run r = { .c = c, .saved_step = -1 };
    interrupted = 0;
    void (*old)(int) = signal(SIGINT, on_sigint);
    train_graph_set_cancel(&interrupted);
    int code = 0;
    bool ok = load(&r) && open_csv(&r);
    if (ok && c->resume && c->save && !strcmp(c->resume, c->save)) r.saved_step = r.st.step;
    if (ok) {
        if (!c->quiet && leader(&r)) print_plan(&r);
        ok = train_loop(&r, &code);
    }
    if (ok && code == 0 && c->out && leader(&r) && r.st.step == (int64_t)SET(&r, TS_STEPS)) {
        ok = save_outputs(&r);
    }
    if (ok && !c->quiet && r.pictures) {
        struct train_pictures_stats ps = train_pictures_stats(r.pictures);
        if (r.sp.vision)
            fprintf(stderr, "train-longpt: pictures: %lld renderings for the trainable vision tower (each step renders a "
                    "picture twice: forward, then backward)\n", (long long)ps.rendered);
        else
            fprintf(stderr, "train-longpt: pictures: %lld run through the vision tower on %s (%.1f s), %lld read from the "
                    "cache\n", (long long)ps.encoded, ps.device,
                    ps.encode_seconds, (long long)ps.cached);
    }
    if (ok && !c->quiet) fprintf(stderr, "train-longpt: peak RSS %.0f MiB\n", peak_rss_mib());
    if (!ok && r.err[0]) fprintf(stderr, "longvl train-longpt: %s\n", r.err);
    if (r.csv) fclose(r.csv);
    train_source_free(r.src);
    train_pictures_free(r.pictures);
    train_vision_free(&r.vision);
    free(r.params);
    if (r.m.file) train_model_free(&r.m);
    tl_gallocr_free(r.sp.alloc);
    tl_vk_mirror_free(r.sp.mirror);
    train_graph_set_cancel(NULL);
    signal(SIGINT, old);
    return ok ? code : 1;
}
