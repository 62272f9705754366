// longvl logits: the logits of every position of a token list, as raw float32
// [n_tokens][n_vocab], for comparing the text model with a reference. An `img` entry in
// the list splices in the rows of the next --image-embd file (an image of NY x NX merged
// tokens) with that image's M-RoPE positions.
#include "verbs.h"
#include "cli-args.h"
#include "f32-file.h"
#include "mrope-positions.h"
#include "rope-args.h"
#include "device-args.h"
#include "qwen25vl-text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGES 64
#define IMAGE_PAD_ID 151655   // <|image_pad|>: what an image's token slots hold

struct logits_args {
    const char *model, *tokens, *out;
    int n_images;
    const char *image_path[MAX_IMAGES];
    int image_nx[MAX_IMAGES], image_ny[MAX_IMAGES];
    long long n_ctx, n_ubatch;
    int n_threads;
    enum tl_type kv_type;
    struct rope_scaling rope;
    bool vulkan;
};

static int usage(FILE *f, int rc) {
    fprintf(f,
            "usage: longvl logits -m TEXT.gguf --tokens 1,2,img,3 [--image-embd FILE.f32 NX NY ...] -o OUT.f32\n"
            "                     [--kv f16|f32|q8_0|q4_0] [--ubatch N] [--ctx N] [--threads N] [rope flags]\n\n"
            "Writes the logits of every position as raw little-endian float32 [n_tokens][n_vocab].\n"
            "Each `img` in the list takes the next --image-embd file: NX*NY rows of n_embd float32\n"
            "(NY rows of NX merged tokens, row-major), placed with the image's M-RoPE positions.\n"
            "  --kv      KV cache type (default f16)\n"
            "  --ubatch  tokens per graph (default 512); the cache carries context between them\n"
            "  --ctx     cache size (default: the number of tokens)\n"
            DEVICE_ARGS_USAGE
            ROPE_ARGS_USAGE);
    return rc;
}

static bool parse_args(int argc, char **argv, struct logits_args *a, int *rc) {
    a->kv_type = TL_F16;
    rope_args_init(&a->rope);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        long long v;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return *rc = usage(stdout, 0), false;
        int rope = has ? rope_args_parse("logits", s, argv[i + 1], &a->rope) : 0;
        if (rope < 0) return *rc = 2, false;
        if (rope) i++;
        else if (!strcmp(s, "-m") && has) a->model = argv[++i];
        else if (!strcmp(s, "--tokens") && has) a->tokens = argv[++i];
        else if (!strcmp(s, "--device") && has) {
            if (!device_args_parse("logits", argv[++i], &a->vulkan)) return *rc = 2, false;
        }
        else if (!strcmp(s, "-o") && has) a->out = argv[++i];
        else if (!strcmp(s, "--image-embd") && i + 3 < argc) {
            long long nx, ny;
            if (a->n_images == MAX_IMAGES || !cli_parse_ll(argv[i + 2], 1, 1 << 16, &nx) ||
                !cli_parse_ll(argv[i + 3], 1, 1 << 16, &ny)) {
                fprintf(stderr, "longvl logits: --image-embd takes FILE NX NY (at most %d images), not '%s %s %s'\n",
                        MAX_IMAGES, argv[i + 1], argv[i + 2], argv[i + 3]);
                return *rc = 2, false;
            }
            a->image_path[a->n_images] = argv[i + 1];
            a->image_nx[a->n_images] = (int)nx;
            a->image_ny[a->n_images++] = (int)ny;
            i += 3;
        } else if (!strcmp(s, "--kv") && has) {
            const char *t = argv[++i];
            if (!tl_type_parse(t, &a->kv_type) || !(a->kv_type == TL_F16 || a->kv_type == TL_F32 ||
                                                     a->kv_type == TL_Q8_0 || a->kv_type == TL_Q4_0)) {
                fprintf(stderr, "longvl logits: --kv takes f16, f32, q8_0 or q4_0, not '%s'\n", t);
                return *rc = 2, false;
            }
        } else if (!strcmp(s, "--ubatch") && has && cli_parse_ll(argv[i + 1], 1, 1 << 20, &v)) a->n_ubatch = v, i++;
        else if (!strcmp(s, "--ctx") && has && cli_parse_ll(argv[i + 1], 1, 1 << 30, &v)) a->n_ctx = v, i++;
        else if (!strcmp(s, "--threads") && has && cli_parse_ll(argv[i + 1], 1, 4096, &v)) a->n_threads = (int)v, i++;
        else {
            fprintf(stderr, "longvl logits: unexpected or incomplete argument '%s'\n", s);
            return *rc = usage(stderr, 2), false;
        }
    }
    if (!a->model || !a->tokens || !a->out) {
        fprintf(stderr, "longvl logits: -m, --tokens and -o are required\n");
        return *rc = usage(stderr, 2), false;
    }
    if (!rope_args_check("logits", &a->rope)) return *rc = 2, false;
    return true;
}

// The sequence of the --tokens list: ids (image slots hold <|image_pad|>) and the image spans.
struct sequence {
    int32_t *ids;
    int64_t n;
    struct qwen25vl_image_span spans[MAX_IMAGES];
    int n_spans;
};

static bool parse_tokens(const struct logits_args *a, struct sequence *seq, char *err, size_t errlen) {
    int64_t cap = 0;
    const char *p = a->tokens;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool is_image = len == 3 && !strncmp(p, "img", 3);
        int64_t add = 1;
        if (is_image) {
            if (seq->n_spans == a->n_images) {
                tl_errorf(err, errlen, "--tokens has more `img` entries than --image-embd files (%d)", a->n_images);
                return false;
            }
            struct qwen25vl_image_span *sp = &seq->spans[seq->n_spans];
            *sp = (struct qwen25vl_image_span){ .start = seq->n, .lh = a->image_ny[seq->n_spans], .lw = a->image_nx[seq->n_spans] };
            add = (int64_t)sp->lh * sp->lw;
            seq->n_spans++;
        }
        if (seq->n + add > cap) {
            cap = 2 * (seq->n + add) + 16;
            seq->ids = realloc(seq->ids, (size_t)cap * sizeof *seq->ids);
            if (!seq->ids) abort();
        }
        if (is_image) {
            for (int64_t j = 0; j < add; j++) seq->ids[seq->n++] = IMAGE_PAD_ID;
        } else {
            char tok[32];
            long long v;
            snprintf(tok, sizeof tok, "%.*s", (int)(len < 31 ? len : 31), p);
            if (len == 0 || len > 30 || !cli_parse_ll(tok, 0, INT32_MAX, &v)) {
                tl_errorf(err, errlen, "--tokens: '%.*s' is neither a token id nor `img`", (int)len, p);
                return false;
            }
            seq->ids[seq->n++] = (int32_t)v;
        }
        p += len + (comma != NULL);
        if (comma && !*p) {
            tl_errorf(err, errlen, "--tokens ends with a comma");
            return false;
        }
    }
    if (seq->n == 0) {
        tl_errorf(err, errlen, "--tokens is empty");
        return false;
    }
    if (seq->n_spans != a->n_images) {
        tl_errorf(err, errlen, "%d --image-embd files but %d `img` entries in --tokens", a->n_images, seq->n_spans);
        return false;
    }
    return true;
}

// Token embeddings, with each image's rows over its slots.
static float *build_embeddings(const struct logits_args *a, const struct qwen25vl_text_model *m,
                               const struct sequence *seq, char *err, size_t errlen) {
    int64_t E = m->hp.n_embd;
    float *embd = malloc((size_t)seq->n * E * sizeof *embd);
    if (!embd) {
        tl_errorf(err, errlen, "out of memory for %lld token embeddings", (long long)seq->n);
        return NULL;
    }
    if (!qwen25vl_text_embed(m, seq->ids, seq->n, embd, err, errlen)) {
        free(embd);
        return NULL;
    }
    for (int i = 0; i < seq->n_spans; i++) {
        int64_t rows = (int64_t)seq->spans[i].lh * seq->spans[i].lw;
        float *img = f32_file_read(a->image_path[i], rows * E, err, errlen);
        if (!img) {
            size_t len = strlen(err);
            snprintf(err + len, errlen - len, " (image %d: %d x %d tokens of %lld floats)", i + 1, seq->spans[i].lw,
                     seq->spans[i].lh, (long long)E);
            free(embd);
            return NULL;
        }
        memcpy(embd + seq->spans[i].start * E, img, (size_t)rows * E * sizeof *img);
        free(img);
    }
    return embd;
}

int verb_logits(int argc, char **argv) {
    struct logits_args a = { 0 };
    int rc = 0;
    if (!parse_args(argc, argv, &a, &rc)) return rc;
    char err[1024] = "";
    struct sequence seq = { 0 };
    struct qwen25vl_text_model m = { 0 };
    struct qwen25vl_text_context *c = NULL;
    float *embd = NULL, *logits = NULL;
    int32_t *pos = NULL;
    int32_t next = 0;
    bool ok;
    struct tl_vk_backend *vk = device_args_open(a.vulkan, false, &ok, err, sizeof err);
    ok = ok && parse_tokens(&a, &seq, err, sizeof err) && qwen25vl_text_load(&m, a.model, err, sizeof err) &&
         (vk || qwen25vl_text_use_cpu_layouts(&m, err, sizeof err));
    if (ok) {
        pos = malloc((size_t)3 * seq.n * sizeof *pos);
        logits = malloc((size_t)seq.n * m.hp.n_vocab * sizeof *logits);
        if (!pos || !logits) {
            tl_errorf(err, sizeof err, "out of memory for the logits of %lld tokens", (long long)seq.n);
            ok = false;
        }
    }
    ok = ok && qwen25vl_mrope_positions(seq.n, 0, seq.spans, seq.n_spans, pos, &next, err, sizeof err) &&
         (embd = build_embeddings(&a, &m, &seq, err, sizeof err)) != NULL;
    if (ok) {
        double base;
        struct rope_yarn yarn;
        rope_scaling_resolve(&a.rope, m.hp.rope_freq_base, (int)m.hp.head_dim, next, &base, &yarn);
        struct qwen25vl_text_params p = { .n_ctx = a.n_ctx ? a.n_ctx : seq.n, .kv_type = a.kv_type,
                                          .n_ubatch = (int)a.n_ubatch, .n_threads = a.n_threads,
                                          .rope_freq_base = (float)base, .rope_yarn = yarn, .vk = vk };
        c = qwen25vl_text_context_new(&m, &p, err, sizeof err);
        ok = c && qwen25vl_text_decode(c, embd, pos, seq.n, logits, true, err, sizeof err) &&
             f32_file_write(a.out, logits, seq.n * m.hp.n_vocab, err, sizeof err);
    }
    if (ok)
        fprintf(stderr, "longvl logits: %lld tokens (%d images, next position %d) x %u logits -> %s\n",
                (long long)seq.n, seq.n_spans, next, m.hp.n_vocab, a.out);
    else
        fprintf(stderr, "longvl logits: %s\n", err);
    qwen25vl_text_context_free(c);
    tl_vk_backend_free(vk);
    qwen25vl_text_free(&m);
    free(seq.ids);
    free(embd);
    free(pos);
    free(logits);
    return ok ? 0 : 1;
}
