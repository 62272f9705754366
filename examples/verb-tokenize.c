// longvl tokenize / detokenize: the Qwen tokenizer from a GGUF file or tokenizer.json,
// with the output llama-tokenize users expect (ids comma-separated on one line).
#include "verbs.h"
#include "chat-template.h"
#include "tokenizer.h"
#include "tl-gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tok_args {
    const char *model, *tokenizer, *file, *text, *ids;
    bool tokens, no_special, skip_special, chat;
    int n_images, image_w[16], image_h[16];
};

static int tok_usage(FILE *f, const char *verb, int rc) {
    if (!strcmp(verb, "tokenize"))
        fprintf(f, "usage: longvl tokenize (-m MODEL.gguf | --tokenizer DIR_OR_tokenizer.json) [--file F | TEXT]\n"
                   "                       [--tokens] [--no-parse-special] [--chat [--image WxH ...]]\n\n"
                   "Prints the token ids of TEXT (or of file F, or of standard input) comma-separated on one\n"
                   "line; --tokens adds a line per token: id and token string. Added tokens such as\n"
                   "<|im_start|> are recognised unless --no-parse-special. --chat renders TEXT as a user\n"
                   "turn of the Qwen2.5-VL chat template (default system prompt, generation prompt), after\n"
                   "the images given by --image WIDTHxHEIGHT, each as its smart_resize'd number of pads.\n");
    else
        fprintf(f, "usage: longvl detokenize (-m MODEL.gguf | --tokenizer DIR_OR_tokenizer.json) --ids 1,2,3\n"
                   "                         [--skip-special]\n\n"
                   "Prints the text of the ids; invalid UTF-8 becomes U+FFFD.\n");
    return rc;
}

static bool parse_args(int argc, char **argv, const char *verb, struct tok_args *a, int *rc) {
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return *rc = tok_usage(stdout, verb, 0), false;
        if (!strcmp(s, "-m") && has) a->model = argv[++i];
        else if (!strcmp(s, "--tokenizer") && has) a->tokenizer = argv[++i];
        else if (!strcmp(s, "--file") && has) a->file = argv[++i];
        else if (!strcmp(s, "--ids") && has) a->ids = argv[++i];
        else if (!strcmp(s, "--tokens")) a->tokens = true;
        else if (!strcmp(s, "--no-parse-special")) a->no_special = true;
        else if (!strcmp(s, "--skip-special")) a->skip_special = true;
        else if (!strcmp(s, "--chat")) a->chat = true;
        else if (!strcmp(s, "--image") && has) {
            const char *v = argv[++i];
            if (a->n_images == 16 || sscanf(v, "%dx%d", &a->image_w[a->n_images], &a->image_h[a->n_images]) != 2) {
                fprintf(stderr, "longvl %s: --image takes WIDTHxHEIGHT (at most 16), not '%s'\n", verb, v);
                return *rc = 2, false;
            }
            a->n_images++;
        }
        else if (s[0] == '-' || a->text) {
            fprintf(stderr, "longvl %s: unexpected argument '%s'\n", verb, s);
            return *rc = tok_usage(stderr, verb, 2), false;
        } else a->text = s;
    }
    if (!a->model == !a->tokenizer) {
        fprintf(stderr, "longvl %s: give exactly one of -m MODEL.gguf and --tokenizer PATH\n", verb);
        return *rc = 2, false;
    }
    return true;
}

static struct tokenizer *load(const struct tok_args *a, const char *verb) {
    char err[1024] = "";
    struct tokenizer *t = NULL;
    if (a->model) {
        struct tl_gguf *g = tl_gguf_open(a->model, err, sizeof err);
        t = g ? tokenizer_load_gguf(g, err, sizeof err) : NULL;
        tl_gguf_free(g);
    } else {
        t = tokenizer_load_json(a->tokenizer, err, sizeof err);
    }
    if (!t) fprintf(stderr, "longvl %s: %s\n", verb, err);
    return t;
}

static char *read_stream(FILE *f, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) abort();
    size_t k;
    while ((k = fread(buf + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
    }
    *n = len;
    return buf;
}

int verb_tokenize(int argc, char **argv) {
    struct tok_args a = { 0 };
    int rc = 0;
    if (!parse_args(argc, argv, "tokenize", &a, &rc)) return rc;
    if (a.text && a.file) {
        fprintf(stderr, "longvl tokenize: give TEXT or --file, not both\n");
        return 2;
    }
    char *text;
    size_t len;
    if (a.text) {
        len = strlen(a.text);
        text = strdup(a.text);
    } else {
        FILE *f = a.file ? fopen(a.file, "rb") : stdin;
        if (!f) {
            fprintf(stderr, "longvl tokenize: %s: %s\n", a.file, strerror(errno));
            return 1;
        }
        text = read_stream(f, &len);
        if (a.file) fclose(f);
    }
    if (a.n_images && !a.chat) {
        fprintf(stderr, "longvl tokenize: --image needs --chat\n");
        free(text);
        return 2;
    }
    if (a.chat) {   // TEXT as a user turn after its images
        struct chat_part parts[17];
        int np = 0;
        for (int i = 0; i < a.n_images; i++) parts[np++] = (struct chat_part){ CHAT_IMAGE, NULL, a.image_h[i], a.image_w[i] };
        text = realloc(text, len + 1);
        text[len] = 0;
        parts[np++] = (struct chat_part){ CHAT_TEXT, text, 0, 0 };
        struct chat_message m = { "user", parts, np };
        struct chat_options co = { .add_generation_prompt = true };
        char err[512];
        char *prompt = qwen25vl_chat_format(&m, 1, &co, err, sizeof err);
        free(text);
        if (!prompt) {
            fprintf(stderr, "longvl tokenize: %s\n", err);
            return 1;
        }
        text = prompt;
        len = strlen(prompt);
    }
    struct tokenizer *t = load(&a, "tokenize");
    if (!t) {
        free(text);
        return 1;
    }
    int32_t *ids = NULL;
    char err[512];
    int64_t n = tokenizer_encode(t, text, len, !a.no_special, &ids, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "longvl tokenize: %s\n", err);
        rc = 1;
    } else {
        printf("[");
        for (int64_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        printf("]\n");
        if (a.tokens)
            for (int64_t i = 0; i < n; i++) printf("%6d -> '%s'\n", ids[i], tokenizer_token_text(t, ids[i]));
    }
    free(ids);
    free(text);
    tokenizer_free(t);
    return rc;
}

int verb_detokenize(int argc, char **argv) {
    struct tok_args a = { 0 };
    int rc = 0;
    if (!parse_args(argc, argv, "detokenize", &a, &rc)) return rc;
    if (!a.ids || a.text) {
        fprintf(stderr, "longvl detokenize: give the ids with --ids 1,2,3\n");
        return 2;
    }
    // Ids separated by commas and/or spaces, with optional brackets (tokenize's output).
    int64_t cap = 16, n = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    for (const char *p = a.ids; *p;) {
        if (strchr("[], \t\n", *p)) {
            p++;
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "longvl detokenize: '%.20s' is not a token id\n", p);
            free(ids);
            return 2;
        }
        if (n == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[n++] = (int32_t)v;
        p = end;
    }
    struct tokenizer *t = load(&a, "detokenize");
    if (!t) {
        free(ids);
        return 1;
    }
    char *out = NULL, err[512];
    size_t len;
    if (!tokenizer_decode(t, ids, n, a.skip_special, &out, &len, err, sizeof err)) {
        fprintf(stderr, "longvl detokenize: %s\n", err);
        rc = 1;
    } else {
        fwrite(out, 1, len, stdout);
        printf("\n");
    }
    free(out);
    free(ids);
    tokenizer_free(t);
    return rc;
}
