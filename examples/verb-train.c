// longvl train-longpt: continued pre-training of a Qwen2.5-VL text model on long
// instances (train/trainer.h), from a model or resumed from a checkpoint.
#include "verbs.h"
#include "cli-args.h"
#include "device-args.h"
#include "trainer.h"
#include "tl-cpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int usage(FILE *f, int rc) {
    fprintf(f,
            "usage: longvl train-longpt -m MODEL.gguf --data SPEC --steps N [options]\n"
            "       longvl train-longpt --resume CKPT.gguf [run options]\n\n"
            "Trains every text-model tensor (f32 masters, AdamW) on the answers of long instances.\n"
            "data:\n"
            "  --data FILE.jsonl     {\"input_ids\": [...], \"labels\": [...]} a line; labels -100: no loss\n"
            "  --data retrieval:pages=P,page-len=L,facts=F,keys=K,values=V,seed=S\n"
            "                        the synthetic task: a key/value fact among distractor pages, asked at the end\n"
            "  --seq-len N           tokens per packed sequence (default 131072); instances pack with\n"
            "                        their own positions and attend only to themselves\n"
            "  --tokens-per-step N   accumulate packed sequences to at least N tokens a step (default: seq-len)\n"
            "  --seed S              data order of a file (0: as written) and the retrieval task's default\n"
            "pictures (a JSONL line's \"images\": [{\"pdf\": FILE, \"page\": N} or {\"image\": FILE}], each at one\n"
            "<|image_pad|> of input_ids), through the vision tower: frozen (each picture encoded once and\n"
            "cached), or trained with the text model:\n"
            "  --mmproj MMPROJ.gguf  the projector (the tower)\n"
            "  --embd-cache DIR      the frozen tower's page-embedding cache (default ~/.cache/longvl/embd)\n"
            "  --train-vision        train the tower too (f32 masters, AdamW, checkpointed like the blocks)\n"
            "  --mmproj-out FILE     the trained tower at the end (default: -o's name, OUT-mmproj.gguf)\n"
            "  --dpi D (144)  --min-pixels N (3136)  --max-pixels N (12845056)   rendering and resizing\n"
            "optimizer (AdamW, decoupled decay, global-norm clipping, warmup + cosine):\n"
            "  --steps N  --lr X (1e-5)  --lr-min X (0)  --warmup N (0)  --weight-decay X (0.1)\n"
            "  --beta1 X (0.9)  --beta2 X (0.95)  --adam-eps X (1e-8)  --clip X (1.0; 0: none)\n"
            "model:\n"
            "  --checkpoint-every N  decoder blocks per recomputed segment (default 1; n_layer: no checkpointing)\n"
            "  --compute-type f32|bf16|f16  weights in the products (f32 masters either way; default f32)\n"
            "  --rope-base B         a fixed rotary base for the run\n"
            "  --target-ctx L [--rope-factor S (1)] [--rope-orig-ctx L0 (32768)]\n"
            "                        the dynamic-NTK base for L: base (S L / L0 - (S - 1))^(d / (d - 2))\n"
            "run:\n"
            "  --save CKPT.gguf      checkpoint (weights, moments, step, data cursor), every --save-every N\n"
            "                        steps (100), at the end and on Ctrl-C\n"
            "  -o OUT.gguf           the trained model at the end\n"
            "  --log FILE.csv        step, tokens, loss, lr, grad norm, tokens/s, elapsed, memory\n"
            "  --eval-every N        exact-match accuracy on --eval-instances K (64) held-out instances\n"
            "  --log-every N         progress lines when stderr is not a terminal (default 10)\n"
            "  --stop-after N        stop (saving) after N steps of this process\n"
            "  --threads N  --quiet\n"
            DEVICE_ARGS_USAGE
            "                        (vulkan: every graph there, ops it has no kernel for on the CPU)\n"
            "data parallel: mpirun -np R longvl train-longpt ... (Open MPI builds): each rank runs\n"
            "--tokens-per-step of every step, gradients are summed; rank 0 logs and writes the files\n");
    return rc;
}

static bool whole(enum train_setting_id id) { return id != TS_LR && id != TS_LR_MIN && id != TS_WEIGHT_DECAY &&
                                                      id != TS_BETA1 && id != TS_BETA2 && id != TS_EPS && id != TS_CLIP &&
                                                      id != TS_ROPE_BASE && id != TS_DPI; }

static bool parse_args(int argc, char **argv, struct train_config *c, bool *vulkan, int *rc) {
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        double x;
        bool taken = false;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return *rc = usage(stdout, 0), false;
        if (!strcmp(s, "--train-vision")) {   // a switch: the only setting without a value
            c->settings[TS_TRAIN_VISION] = 1;
            continue;
        }
        for (int id = 0; id < TS_COUNT && !taken; id++) {   // the numeric settings (--lr, --steps, ...)
            if (id == TS_COMPUTE_TYPE || id == TS_RANKS || id == TS_TRAIN_VISION || strcmp(s, train_setting_flag(id)))
                continue;
            double lo, hi;
            train_setting_range(id, &lo, &hi);
            if (!v || !cli_parse_double(v, lo, hi, &x) || (whole(id) && x != floor(x))) {
                fprintf(stderr, "longvl train-longpt: %s takes a %s in [%g, %g], not '%s'\n", s,
                        whole(id) ? "whole number" : "number", lo, hi, v ? v : "");
                return *rc = 2, false;
            }
            c->settings[id] = x;
            taken = true;
            i++;
        }
        if (taken) continue;
        if (!v && strcmp(s, "--quiet")) {
            fprintf(stderr, "longvl train-longpt: unknown flag or missing value: %s\n", s);
            return *rc = usage(stderr, 2), false;
        }
        const char **path = !strcmp(s, "-m") ? &c->model : !strcmp(s, "--resume") ? &c->resume
                          : !strcmp(s, "--data") ? &c->data : !strcmp(s, "--save") ? &c->save
                          : !strcmp(s, "-o") ? &c->out : !strcmp(s, "--log") ? &c->log_csv
                          : !strcmp(s, "--mmproj") ? &c->mmproj : !strcmp(s, "--embd-cache") ? &c->embd_cache
                          : !strcmp(s, "--mmproj-out") ? &c->mmproj_out : NULL;
        struct { const char *flag; int64_t *v; long long lo, hi; } counts[] = {
            { "--save-every", &c->save_every, 1, 1LL << 40 },      { "--eval-every", &c->eval_every, 1, 1LL << 40 },
            { "--eval-instances", &c->eval_instances, 1, 1 << 20 }, { "--log-every", &c->log_every, 1, 1LL << 40 },
            { "--stop-after", &c->stop_after, 1, 1LL << 40 },
        };
        if (path) {
            *path = v;
            i++;
            continue;
        }
        for (size_t k = 0; k < sizeof counts / sizeof counts[0] && !taken; k++) {
            if (strcmp(s, counts[k].flag)) continue;
            if (!cli_parse_ll(v, counts[k].lo, counts[k].hi, &n)) {
                fprintf(stderr, "longvl train-longpt: %s takes a whole number in [%lld, %lld], not '%s'\n", s,
                        counts[k].lo, counts[k].hi, v);
                return *rc = 2, false;
            }
            *counts[k].v = n;
            taken = true;
            i++;
        }
        if (taken) continue;
        if (!strcmp(s, "--quiet")) c->quiet = true;
        else if (!strcmp(s, "--device")) {
            if (!device_args_parse("train-longpt", v, vulkan)) return *rc = 2, false;
            i++;
        }
        else if (!strcmp(s, "--threads") && cli_parse_ll(v, 1, 4096, &n)) c->n_threads = (int)n, i++;
        else if (!strcmp(s, "--compute-type")) {
            enum tl_type t;
            if (!tl_type_parse(v, &t) || (t != TL_F32 && t != TL_F16 && t != TL_BF16)) {
                fprintf(stderr, "longvl train-longpt: --compute-type takes f32, bf16 or f16, not '%s'\n", v);
                return *rc = 2, false;
            }
            c->settings[TS_COMPUTE_TYPE] = t;
            i++;
        } else if (!strcmp(s, "--target-ctx") && cli_parse_double(v, 1, 1e9, &x)) c->target_ctx = x, i++;
        else if (!strcmp(s, "--rope-factor") && cli_parse_double(v, 1, 1e6, &x)) c->rope_factor = x, i++;
        else if (!strcmp(s, "--rope-orig-ctx") && cli_parse_double(v, 1, 1e9, &x)) c->rope_orig_ctx = x, i++;
        else {
            fprintf(stderr, "longvl train-longpt: bad flag or value: %s %s\n", s, v);
            return *rc = usage(stderr, 2), false;
        }
    }
    if (!!c->model == !!c->resume) {
        fprintf(stderr, "longvl train-longpt: give either -m MODEL.gguf (a new run) or --resume CKPT.gguf\n");
        return *rc = 2, false;
    }
    if (c->model && !c->data) {
        fprintf(stderr, "longvl train-longpt: --data is required for a new run\n");
        return *rc = 2, false;
    }
    if (c->target_ctx > 0 && !isnan(c->settings[TS_ROPE_BASE])) {
        fprintf(stderr, "longvl train-longpt: give --rope-base or --target-ctx, not both\n");
        return *rc = 2, false;
    }
    return true;
}

int verb_train_longpt(int argc, char **argv) {
    struct train_config c;
    train_config_init(&c);
    int rc = 0;
    bool vulkan = false, ok;
    if (!parse_args(argc, argv, &c, &vulkan, &rc)) return rc;
    if (c.n_threads <= 0) c.n_threads = tl_cpu_default_threads();
    struct dist d;
    char err[256];
    if (!dist_init(&d, &argc, &argv, err, sizeof err)) {
        fprintf(stderr, "longvl train-longpt: %s\n", err);
        return 1;
    }
    c.dist = &d;
    c.vk = device_args_open(vulkan, c.quiet || d.rank != 0, &ok, err, sizeof err);
    if (ok) rc = train_longpt(&c);
    else fprintf(stderr, "longvl train-longpt: --device vulkan: %s\n", err), rc = 1;
    tl_vk_backend_free(c.vk);
    dist_finalize(&d);
    return rc;
}
