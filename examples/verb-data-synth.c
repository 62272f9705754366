// longvl data synth: LongPT training shards from the document pool (train/data/synth.h).
#include "verbs.h"
#include "cli-args.h"
#include "device-args.h"
#include "qa-model.h"
#include "synth.h"
#include "tl-gguf.h"

#include <stdio.h>
#include <string.h>

static int usage(FILE *f, int rc) {
    fprintf(f,
            "usage: longvl data synth --pool DIR -o OUT --tokenizer PATH [options]\n\n"
            "Makes train-longpt JSONL instances from the pool's documents: a task from the mixture, a length\n"
            "from the distribution, a document and a segment of it (8-15 pages of consecutive sections), a\n"
            "question with an explicit anchor, the answer, its evidence pages, and the window of the document\n"
            "shown (pages referenced in the pool, not copied). Writes OUT/shard-I-of-N.jsonl and\n"
            "OUT/manifest-I-of-N.json (task counts, length histogram, token totals) and prints the statistics.\n"
            "  --tokenizer PATH       tokenizer.json, its folder, or a Qwen2.5-VL GGUF\n"
            "  --instances N (1000)   instances in all shards together\n"
            "  --seed S (1)           instance i depends on (S, i) alone\n"
            "  --config FILE          task weights, distribution, bins, weights, segment-pages (see README)\n"
            "  --distribution NAME    pool-native (default), long-biased or histogram\n"
            "  --shard I/N            only instances i with i %% N == I (one machine of N)\n"
            "  --generator rules|model  the question generator (rules: built in, from the text blocks)\n"
            "  --quiet\n"
            "the model generator (--generator model; OCR tasks still come from the text layer):\n"
            "  -m MODEL.gguf --mmproj MMPROJ.gguf   a Qwen2.5-VL pair, shown the segment's pages\n"
            "                         (--tokenizer defaults to MODEL.gguf)\n"
            "  --gen-dpi D (144)      the pages' resolution for the model\n"
            "  --gen-pages N (15)     most pages shown: the segment's first N\n"
            "  --gen-n-predict N (256)  most reply tokens; --gen-temp T (0: greedy)\n"
            "  --gen-log FILE         every prompt and reply, taken or refused and why (JSONL)\n"
            "  --threads N            CPU threads (default: all)\n" DEVICE_ARGS_USAGE);
    return rc;
}

static struct tokenizer *load_tokenizer(const char *path, char *err, size_t errlen) {
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".gguf")) {
        struct tl_gguf *g = tl_gguf_open(path, err, errlen);
        struct tokenizer *t = g ? tokenizer_load_gguf(g, err, errlen) : NULL;
        tl_gguf_free(g);
        return t;
    }
    return tokenizer_load_json(path, err, errlen);
}

// The model generator's flags (--generator model).
struct model_flags {
    struct qa_model_params p;
    bool vulkan;
};

// 1: a model flag taken (with its value); 0: not one; -1: a bad value.
static int parse_model_flag(const char *a, const char *val, struct model_flags *mf) {
    long long v;
    double x;
    struct qa_model_params *p = &mf->p;
    if (!strcmp(a, "-m")) p->model = val;
    else if (!strcmp(a, "--mmproj")) p->mmproj = val;
    else if (!strcmp(a, "--gen-log")) p->log_path = val;
    else if (!strcmp(a, "--gen-dpi")) return cli_parse_double(val, 1, 2400, &x) ? (p->dpi = (float)x, 1) : -1;
    else if (!strcmp(a, "--gen-pages")) return cli_parse_ll(val, 1, 64, &v) ? (p->max_pages = (int)v, 1) : -1;
    else if (!strcmp(a, "--gen-n-predict")) return cli_parse_ll(val, 1, 1 << 16, &v) ? (p->n_predict = (int)v, 1) : -1;
    else if (!strcmp(a, "--gen-temp")) return cli_parse_double(val, 0, 100, &x) ? (p->temperature = (float)x, 1) : -1;
    else if (!strcmp(a, "--threads")) return cli_parse_ll(val, 1, 4096, &v) ? (p->n_threads = (int)v, 1) : -1;
    else if (!strcmp(a, "--device")) return device_args_parse("data synth", val, &mf->vulkan) ? 1 : -1;
    else return 0;
    return 1;
}

int data_synth(int argc, char **argv) {
    struct synth_params p = { .n_instances = 1000, .seed = 1, .n_shards = 1, .gen = &qa_generator_rules };
    synth_config_default(&p.cfg);
    const char *tokenizer = NULL, *config = NULL, *distribution = NULL, *generator = "rules";
    struct model_flags mf = { .p = { .dpi = 144, .max_pages = 15, .n_predict = 256 } };
    bool model_flags = false;
    long long v, shard = 0, n_shards = 1;
    int rc = 0, taken;
    for (int i = 0; i < argc && !rc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
        if (!strcmp(a, "--quiet")) p.quiet = true;
        else if (!val) rc = 2;
        else if ((taken = parse_model_flag(a, val, &mf)) != 0) rc = taken < 0 ? 2 : 0, model_flags = true, i++;
        else if (!strcmp(a, "--pool")) p.pool_dir = val, i++;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) p.out_dir = val, i++;
        else if (!strcmp(a, "--tokenizer")) tokenizer = val, i++;
        else if (!strcmp(a, "--config")) config = val, i++;
        else if (!strcmp(a, "--distribution")) distribution = val, i++;
        else if (!strcmp(a, "--generator")) generator = val, i++;
        else if (!strcmp(a, "--instances") && cli_parse_ll(val, 1, 1LL << 40, &v)) p.n_instances = v, i++;
        else if (!strcmp(a, "--seed") && cli_parse_ll(val, 0, 1LL << 62, &v)) p.seed = (uint64_t)v, i++;
        else if (!strcmp(a, "--shard") && sscanf(val, "%lld/%lld", &shard, &n_shards) == 2 && n_shards >= 1 &&
                 n_shards <= 1 << 20 && shard >= 0 && shard < n_shards)
            i++;
        else rc = 2;
        if (rc == 2) fprintf(stderr, "longvl data synth: bad flag or value: %s %s\n", a, val ? val : "");
    }
    bool model = !strcmp(generator, "model");
    if (!rc && !model && model_flags) {
        fprintf(stderr, "longvl data synth: -m, --mmproj and the --gen-* flags go with --generator model\n");
        rc = 2;
    }
    if (!rc && (!p.pool_dir || !p.out_dir || (!tokenizer && !model))) {
        fprintf(stderr, "longvl data synth: give --pool DIR, -o OUT and --tokenizer PATH\n");
        rc = 2;
    }
    if (!rc && !model && strcmp(generator, "rules")) {
        fprintf(stderr, "longvl data synth: unknown --generator %s (rules or model)\n", generator);
        rc = 2;
    }
    if (!rc && model && (!mf.p.model || !mf.p.mmproj)) {
        fprintf(stderr, "longvl data synth: --generator model needs -m MODEL.gguf and --mmproj MMPROJ.gguf\n");
        rc = 2;
    }
    if (!tokenizer && model) tokenizer = mf.p.model;
    if (rc) return usage(stderr, rc);
    p.shard = (int)shard, p.n_shards = (int)n_shards;
    char err[1024] = "";
    if ((config && !synth_config_read(config, &p.cfg, err, sizeof err)) ||
        (distribution && !synth_config_set_distribution(&p.cfg, distribution, err, sizeof err))) {
        fprintf(stderr, "longvl data synth: %s\n", err);
        return 1;
    }
    if (!(p.tok = load_tokenizer(tokenizer, err, sizeof err))) {
        fprintf(stderr, "longvl data synth: %s\n", err);
        return 1;
    }
    struct qa_model *qm = NULL;
    struct qa_generator gen;
    bool ok = true;
    if (model) {
        mf.p.vk = device_args_open(mf.vulkan, p.quiet, &ok, err, sizeof err);
        ok = ok && (qm = qa_model_open(&mf.p, err, sizeof err)) != NULL;
        if (ok) gen = qa_model_generator(qm), p.gen = &gen;
    }
    ok = ok && synth_run(&p, err, sizeof err);
    if (!ok) fprintf(stderr, "longvl data synth: %s\n", err);
    qa_model_close(qm, p.quiet);
    tl_vk_backend_free(mf.p.vk);
    tokenizer_free(p.tok);
    return ok ? 0 : 1;
}
