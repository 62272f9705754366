// longvl run: ask a question about a PDF, images or plain text. Pages are rendered,
// encoded one at a time (or read from the embedding cache), spliced into the chat prompt
// and prefilled in micro-batches; the answer streams to stdout as UTF-8, progress and
// statistics go to stderr.
#include "verbs.h"
#include "cli-args.h"
#include "qwen25vl-ask.h"
#include "device-args.h"
#include "rope-args.h"
#include "run-inputs.h"
#include "text-file.h"
#include "tokenizer.h"
#include "tl-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_IMAGES 256

struct run_args {
    const char *model, *mmproj, *pdf, *pages, *password, *prompt, *prompt_file, *system, *cache_dir, *dump_tokens;
    const char *images[MAX_IMAGES];
    int n_images;
    double dpi;
    long long min_pixels, max_pixels, n_ctx, n_ubatch, n_threads, n_predict, top_k, repeat_last_n, fill_context;
    unsigned long long seed;
    double temperature, top_p, repeat_penalty;
    enum tl_type kv_type;
    struct rope_scaling rope;
    bool quiet, vulkan;
};

static int usage(FILE *f, int rc) {
    fprintf(f,
            "usage: longvl run -m MODEL.gguf [--mmproj MMPROJ.gguf (--pdf FILE | --image FILE ...)] -p PROMPT [options]\n\n"
            "input:\n"
            "  --pdf FILE            every page (or --pages) becomes an image, in order, before the prompt\n"
            "  --pages 1-5,8         pages to use (1-based, inclusive)\n"
            "  --password P          for an encrypted PDF\n"
            "  --dpi D               rendering resolution (default 144: ~2,580 tokens per A4 page)\n"
            "  --image FILE          a PNG/JPEG image (repeatable, after the PDF pages)\n"
            "  -p TEXT | -f FILE     the question; --system TEXT replaces the default system message\n"
            "  --min-pixels N, --max-pixels N   smart_resize limits (default 3136, 12845056)\n"
            "  --cache-dir DIR       keep page embeddings on disk (asking again skips the vision tower)\n"
            "generation:\n"
            "  -n, --n-predict N     most tokens to generate (default 512)\n"
            "  --temp T              0 = greedy (default); --top-k K, --top-p P, --seed S\n"
            "  --repeat-penalty R    (default 1 = off) over the last --repeat-last-n tokens (default 64, 0 = all)\n"
            "context:\n"
            "  --ctx N               KV cache size (default: prompt + n-predict; at most 524288)\n"
            "  --kv f16|f32|q8_0|q4_0  KV cache type (default f16; q8_0 0.53x and q4_0 0.28x its bytes)\n"
            ROPE_ARGS_USAGE
            "  --ubatch N            tokens per prefill graph (default 512); --threads N\n"
            DEVICE_ARGS_USAGE
            "  --quiet               no progress or statistics on stderr\n"
            "  --fill-context N      benchmark aid: N synthetic tokens in the KV cache before the prompt\n"
            "  --dump-tokens FILE    write the prompt's and the answer's token ids (for checking against a reference)\n");
    return rc;
}

static bool parse_args(int argc, char **argv, struct run_args *a, int *rc) {
    *a = (struct run_args){ .dpi = 144, .n_predict = 512, .repeat_penalty = 1, .repeat_last_n = 64, .kv_type = TL_F16,
                            .seed = 42 };
    rope_args_init(&a->rope);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x;
        bool good = true;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return *rc = usage(stdout, 0), false;
        if (!strcmp(s, "--quiet")) { a->quiet = true; continue; }
        if (!v) {
            fprintf(stderr, "longvl run: %s needs a value\n", s);
            return *rc = 2, false;
        }
        i++;
        int rope = rope_args_parse("run", s, v, &a->rope);
        if (rope) {
            if (rope < 0) return *rc = 2, false;
            continue;
        }
        if (!strcmp(s, "-m")) a->model = v;
        else if (!strcmp(s, "--mmproj")) a->mmproj = v;
        else if (!strcmp(s, "--pdf")) a->pdf = v;
        else if (!strcmp(s, "--pages")) a->pages = v;
        else if (!strcmp(s, "--password")) a->password = v;
        else if (!strcmp(s, "-p")) a->prompt = v;
        else if (!strcmp(s, "-f")) a->prompt_file = v;
        else if (!strcmp(s, "--system")) a->system = v;
        else if (!strcmp(s, "--cache-dir")) a->cache_dir = v;
        else if (!strcmp(s, "--dump-tokens")) a->dump_tokens = v;
        else if (!strcmp(s, "--image")) {
            if (a->n_images == MAX_IMAGES) good = false;
            else a->images[a->n_images++] = v;
        } else if (!strcmp(s, "--dpi")) good = cli_parse_double(v, 1, 2400, &a->dpi);
        else if (!strcmp(s, "--min-pixels")) good = cli_parse_ll(v, 1, 1LL << 40, &a->min_pixels);
        else if (!strcmp(s, "--max-pixels")) good = cli_parse_ll(v, 1, 1LL << 40, &a->max_pixels);
        else if (!strcmp(s, "-n") || !strcmp(s, "--n-predict")) good = cli_parse_ll(v, 0, 1 << 24, &a->n_predict);
        else if (!strcmp(s, "--temp")) good = cli_parse_double(v, 0, 100, &a->temperature);
        else if (!strcmp(s, "--top-k")) good = cli_parse_ll(v, 0, 1 << 30, &a->top_k);
        else if (!strcmp(s, "--top-p")) good = cli_parse_double(v, 0, 1, &a->top_p);
        else if (!strcmp(s, "--repeat-penalty")) good = cli_parse_double(v, 0.01, 100, &a->repeat_penalty);
        else if (!strcmp(s, "--repeat-last-n")) good = cli_parse_ll(v, 0, 1 << 30, &a->repeat_last_n);
        else if (!strcmp(s, "--seed")) good = cli_parse_ll(v, 0, INT64_MAX, &x) && (a->seed = (unsigned long long)x, true);
        else if (!strcmp(s, "--ctx")) good = cli_parse_ll(v, 1, 524288, &a->n_ctx);
        else if (!strcmp(s, "--fill-context")) good = cli_parse_ll(v, 1, 524288, &a->fill_context);
        else if (!strcmp(s, "--ubatch")) good = cli_parse_ll(v, 1, 1 << 16, &a->n_ubatch);
        else if (!strcmp(s, "--threads")) good = cli_parse_ll(v, 1, 4096, &a->n_threads);
        else if (!strcmp(s, "--device")) {
            if (!device_args_parse("run", v, &a->vulkan)) return *rc = 2, false;
        } else if (!strcmp(s, "--kv")) {
            good = tl_type_parse(v, &a->kv_type) && (a->kv_type == TL_F16 || a->kv_type == TL_F32 ||
                                                      a->kv_type == TL_Q8_0 || a->kv_type == TL_Q4_0);
        } else {
            fprintf(stderr, "longvl run: unknown argument '%s'\n", s);
            return *rc = usage(stderr, 2), false;
        }
        if (!good) {
            fprintf(stderr, "longvl run: bad value for %s: '%s' (see --help)\n", s, v);
            return *rc = 2, false;
        }
    }
    const char *missing = !a->model ? "-m MODEL.gguf" : !a->prompt == !a->prompt_file ? "exactly one of -p and -f"
                        : (a->pdf || a->n_images) && !a->mmproj ? "--mmproj (for --pdf/--image)" : NULL;
    if (missing) {
        fprintf(stderr, "longvl run: %s is required\n", missing);
        return *rc = usage(stderr, 2), false;
    }
    if (!rope_args_check("run", &a->rope)) return *rc = 2, false;
    if ((a->pages || a->password) && !a->pdf) {
        fprintf(stderr, "longvl run: --pages and --password go with --pdf\n");
        return *rc = 2, false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------

struct run_state {
    struct run_args a;
    struct qwen25vl_text_model m;
    struct qwen25vl_vision_model v;
    bool have_vision;
    struct tokenizer *tok;
    struct run_inputs in;
    char *question;
    struct tl_vk_backend *vk;   // --device vulkan: the text and vision graphs run there
    struct qwen25vl_answer answer;
    double last_progress;
    int images_shown;
    bool progress_tty;
};

static bool load_inputs(struct run_state *st, char *err, size_t errlen) {
    struct run_args *a = &st->a;
    struct run_inputs *in = &st->in;
    in->settings = (struct picture_settings){ (float)a->dpi, a->min_pixels, a->max_pixels };
    in->vision = &st->v;
    in->n_threads = (int)a->n_threads;
    in->cache_dir = a->cache_dir;
    in->mmproj_path = a->mmproj;
    in->use_cache = a->cache_dir != NULL;
    if (a->pdf) {
        in->pdf = pdf_document_open(a->pdf, a->password, err, errlen);
        if (!in->pdf) return false;
        int n_pages = pdf_document_page_count(in->pdf), *pages = NULL, n = 0;
        bool ok;
        if (a->pages) ok = parse_page_ranges(a->pages, n_pages, &pages, &n, err, errlen);
        else {
            pages = malloc((size_t)n_pages * sizeof *pages);
            if (!pages) abort();
            for (n = 0; n < n_pages; n++) pages[n] = n;
            ok = true;
        }
        ok = ok && run_inputs_add_pdf_pages(in, pages, n, err, errlen) &&
             (!in->use_cache || run_inputs_open_cache(in, a->pdf, err, errlen));
        free(pages);
        if (!ok) return false;
    }
    for (int i = 0; i < a->n_images; i++)
        if (!run_inputs_add_image(in, a->images[i], err, errlen)) return false;
    return true;
}

static void show_progress(void *user, const struct qwen25vl_prefill_progress *p) {
    struct run_state *st = user;
    bool done = p->tokens_done == p->n_tokens, new_image = p->images_done != st->images_shown;
    double t = tl_time_seconds();
    // every finished image, the end, and otherwise at most every 0.2 s (a terminal) or 5 s (a log)
    if (st->a.quiet || (!done && !new_image && t - st->last_progress < (st->progress_tty ? 0.2 : 5.0))) return;
    st->last_progress = t;
    st->images_shown = p->images_done;
    double rate = p->seconds > 0 ? p->tokens_done / p->seconds : 0;
    double eta = rate > 0 ? (p->n_tokens - p->tokens_done) / rate : 0;
    fprintf(stderr, "%sprefill: %d/%d images, %lld/%lld tokens, %.0f tok/s, ETA %.0f s%s", st->progress_tty ? "\r" : "",
            p->images_done, p->n_images, (long long)p->tokens_done, (long long)p->n_tokens, rate, eta,
            st->progress_tty && !done ? "   " : "\n");
}

static bool print_piece(void *user, const char *piece, size_t n) {
    (void)user;
    fwrite(piece, 1, n, stdout);
    fflush(stdout);
    return true;
}

static bool dump_tokens(const struct run_state *st, char *err, size_t errlen) {
    FILE *f = fopen(st->a.dump_tokens, "w");
    if (!f) {
        tl_errorf(err, errlen, "cannot write %s", st->a.dump_tokens);
        return false;
    }
    const struct qwen25vl_answer *r = &st->answer;
    fprintf(f, "prompt:");
    for (int64_t i = 0; i < r->n_prompt; i++) fprintf(f, "%s%d", i ? "," : " ", r->prompt[i]);
    fprintf(f, "\nanswer:");
    for (int32_t i = 0; i < r->n_tokens; i++) fprintf(f, "%s%d", i ? "," : " ", r->tokens[i]);
    fprintf(f, "\n");
    return fclose(f) == 0;
}

static long peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static bool run(struct run_state *st, char *err, size_t errlen) {
    struct run_args *a = &st->a;
    bool dev_ok;
    st->vk = device_args_open(a->vulkan, a->quiet, &dev_ok, err, errlen);
    if (!dev_ok || !qwen25vl_text_load(&st->m, a->model, err, errlen)) return false;
    if (!st->vk && !qwen25vl_text_use_cpu_layouts(&st->m, err, errlen)) return false;
    st->tok = tokenizer_load_gguf(st->m.file, err, errlen);
    if (!st->tok) return false;
    if (a->prompt_file) {
        st->question = read_text_file(a->prompt_file, 1 << 26, err, errlen);
        if (!st->question) return false;
    } else {
        st->question = strdup(a->prompt);
    }
    if (a->mmproj && (a->pdf || a->n_images)) {
        if (!qwen25vl_vision_load(&st->v, a->mmproj, err, errlen)) return false;
        st->have_vision = true;
        qwen25vl_vision_use_device(&st->v, st->vk);
        if (st->v.hp.projection_dim != st->m.hp.n_embd) {
            tl_errorf(err, errlen, "%s projects to %u but %s has n_embd %u: not a pair", a->mmproj,
                      st->v.hp.projection_dim, a->model, st->m.hp.n_embd);
            return false;
        }
    }
    if (!load_inputs(st, err, errlen)) return false;
    st->progress_tty = isatty(2);
    struct qwen25vl_ask q = {
        .system = a->system, .question = st->question, .n_predict = (int32_t)a->n_predict, .n_ctx = a->n_ctx,
        .fill_context = a->fill_context, .kv_type = a->kv_type, .n_ubatch = (int)a->n_ubatch,
        .n_threads = (int)a->n_threads, .rope = &a->rope, .vk = st->vk,
        .sampling = { .temperature = (float)a->temperature, .top_k = (int32_t)a->top_k, .top_p = (float)a->top_p,
                      .repetition_penalty = (float)a->repeat_penalty, .penalty_last_n = (int32_t)a->repeat_last_n,
                      .seed = a->seed },
        .progress = show_progress, .progress_user = st, .on_piece = print_piece, .verbose = !a->quiet,
    };
    struct qwen25vl_answer *r = &st->answer;
    bool ok = qwen25vl_ask_run(&st->m, st->tok, &st->in, &q, r, err, errlen);
    if (r->text && a->n_predict > 0) printf("\n");   // the answer began
    fflush(stdout);
    ok = ok && (!a->dump_tokens || dump_tokens(st, err, errlen));
    if (ok && !a->quiet) {
        static const char *why[] = { "stop token", "--n-predict reached", "context full", "stopped" };
        fprintf(stderr,
                "longvl run: prefill %lld tokens in %.2f s (%.1f tok/s; %d pictures encoded in %.2f s, %d from the cache); "
                "generated %d tokens in %.2f s (%.2f tok/s), %s; peak RSS %ld MiB\n",
                (long long)r->n_prompt, r->prefill_seconds, r->n_prompt / r->prefill_seconds,
                st->in.n_pics - st->in.cache_hits, st->in.encode_seconds, st->in.cache_hits, r->gen.n_generated,
                r->gen.seconds, r->gen.seconds > 0 ? r->gen.n_generated / r->gen.seconds : 0.0, why[r->gen.stop],
                peak_rss_mib());
    }
    return ok;
}

int verb_run(int argc, char **argv) {
    struct run_state st = { 0 };
    int rc = 0;
    if (!parse_args(argc, argv, &st.a, &rc)) return rc;
    char err[1024] = "";
    bool ok = run(&st, err, sizeof err);
    if (!ok) fprintf(stderr, "longvl run: %s\n", err);
    qwen25vl_answer_free(&st.answer);
    run_inputs_free(&st.in);
    if (st.have_vision) qwen25vl_vision_free(&st.v);
    tokenizer_free(st.tok);
    qwen25vl_text_free(&st.m);
    tl_vk_backend_free(st.vk);
    free(st.question);
    return ok ? 0 : 1;
}
