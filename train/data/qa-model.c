// The model question generator (qa-model.h).
#define _GNU_SOURCE   // strcasestr
#include "qa-model.h"

#include "qwen25vl-ask.h"
#include "rng.h"
#include "sentences.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FIELD = 400 };   // bytes of a question or an answer; longer replies ramble

static const char *const task_line[TASK_COUNT] = {
    [TASK_EXTRACT_SINGLE] = "Ask one question whose answer is a fact stated on one of these pages: a name, a number, "
                            "a date, a term or a short phrase.",
    [TASK_EXTRACT_MULTI] = "Ask one question whose answer gathers facts stated on two or more different pages (for "
                           "example a list of items, or one fact from each of two places).",
    [TASK_REASONING] = "Ask one question that needs a small calculation or a logical step over facts stated on these "
                       "pages (for example a sum, a difference, a comparison or a count); the answer is its result.",
};

char *qa_model_prompt(enum synth_task task, int first, int last) {
    char *s = NULL;
    if (asprintf(&s,
                 "The pictures are pages %d to %d of a document, in order.\n"
                 "%s\n"
                 "The question must make sense to someone holding the whole document and must not mention page "
                 "numbers. Keep the answer short.\n"
                 "Reply in exactly this form and nothing else:\n"
                 "Question: <the question>\n"
                 "Answer: <the answer>\n"
                 "Pages: <the numbers of the pages the answer comes from, separated by commas>",
                 first, last, task_line[task] ? task_line[task] : "") < 0)
        abort();
    return s;
}

// ---------------------------------------------------------------------------------------
// Replies

void qa_reply_free(struct qa_reply *r) {
    free(r->question);
    free(r->answer);
    memset(r, 0, sizeof *r);
}

// The field a line starts ("Question:", "**Answer:**", "- Pages:"), its value in *value.
enum field { FIELD_NONE, FIELD_QUESTION, FIELD_ANSWER, FIELD_PAGES };

static enum field line_field(const char *line, const char **value) {
    static const char *const keys[] = { NULL, "question", "answer", "pages" };
    while (*line == ' ' || *line == '*' || *line == '#' || *line == '-') line++;
    for (int f = FIELD_QUESTION; f <= FIELD_PAGES; f++) {
        size_t n = strlen(keys[f]);
        const char *p = line + n;
        if (strncasecmp(line, keys[f], n)) continue;
        while (*p == '*') p++;
        if (*p != ':') continue;
        p++;
        while (*p == '*' || *p == ' ') p++;
        *value = p;
        return (enum field)f;
    }
    return FIELD_NONE;
}

// Appends a line to a field, one space between lines, trailing spaces and '*' dropped.
static void field_append(char **field, const char *text, size_t n) {
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '*' || text[n - 1] == '\r')) n--;
    if (n == 0) return;
    size_t have = *field ? strlen(*field) : 0;
    if (!(*field = realloc(*field, have + n + 2))) abort();
    if (have) (*field)[have++] = ' ';
    memcpy(*field + have, text, n);
    (*field)[have + n] = 0;
}

// "12, 14-15 and 17" into sorted distinct pages; NULL when all are within [first, last].
static const char *parse_pages(const char *s, int first, int last, struct qa_reply *r) {
    while (*s) {
        if (!isdigit((unsigned char)*s)) {
            s++;
            continue;
        }
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (*end == '-' && isdigit((unsigned char)end[1])) b = strtol(end + 1, &end, 10);
        s = end;
        if (a < first || b > last || b < a) return "a page that was not shown";
        for (long p = a; p <= b; p++) {
            int k = 0;
            while (k < r->n_pages && r->pages[k] < p) k++;
            if (k < r->n_pages && r->pages[k] == p) continue;
            if (r->n_pages == QA_REPLY_MAX_PAGES) return "too many pages";
            memmove(r->pages + k + 1, r->pages + k, (size_t)(r->n_pages - k) * sizeof *r->pages);
            r->pages[k] = (int)p;
            r->n_pages++;
        }
    }
    return NULL;
}

// "page 3", "pages 4-5", "p. 7": the instance numbers its pages from its window.
static bool names_a_page(const char *q) {
    for (const char *p = q; (p = strcasestr(p, "page")); p += 4) {
        const char *x = p + 4 + (tolower((unsigned char)p[4]) == 's');
        while (*x == ' ') x++;
        if (isdigit((unsigned char)*x)) return true;
    }
    for (const char *p = q; (p = strcasestr(p, "p.")); p += 2)
        if ((p == q || !isalpha((unsigned char)p[-1])) && isdigit((unsigned char)p[2 + (p[2] == ' ')])) return true;
    return false;
}

const char *qa_reply_parse(const char *text, enum synth_task task, int first, int last, struct qa_reply *r) {
    memset(r, 0, sizeof *r);
    char *pages = NULL, **into = NULL;
    const char *why = NULL;
    for (const char *line = text; *line && !why;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        const char *value;
        char *copy = strndup(line, n);
        if (!copy) abort();
        enum field f = line_field(copy, &value);
        if (f != FIELD_NONE) {
            into = f == FIELD_QUESTION ? &r->question : f == FIELD_ANSWER ? &r->answer : &pages;
            if (*into) why = "a field given twice";   // not one QA pair
            else field_append(into, value, strlen(value));
        } else if (into && into != &pages) {
            field_append(into, copy, n);
        }
        free(copy);
        line += n + (end != NULL);
    }
    if (!why)
        why = !r->question                      ? "no Question: line"
            : !r->answer                        ? "no Answer: line"
            : !pages                            ? "no Pages: line"
            : strlen(r->question) > MAX_FIELD   ? "the question is too long"
            : strlen(r->answer) > MAX_FIELD     ? "the answer is too long"
            : names_a_page(r->question)         ? "the question names a page"
                                                : parse_pages(pages, first, last, r);
    if (!why && r->n_pages == 0) why = "no page numbers";
    if (!why && task == TASK_EXTRACT_MULTI && r->n_pages < 2) why = "one page for extract-multi";
    free(pages);
    if (why) qa_reply_free(r);
    return why;
}

// ---------------------------------------------------------------------------------------
// The generator

enum {
    N_REASONS = 12,
    GIVE_UP_AFTER = 64,   // replies, all refused: the model does not follow the form
};

struct qa_model {
    struct qa_model_params p;
    struct qwen25vl_text_model m;
    struct qwen25vl_vision_model v;
    bool have_text, have_vision;
    struct tokenizer *tok;
    FILE *log;
    // the last request and its reply (why NULL: taken), for synth's second window pass
    struct { char sha256[65]; int first, last; enum synth_task task; uint64_t rng; bool valid; } key;
    struct qa_reply reply;
    const char *why;
    int64_t asked, taken, refused[N_REASONS];
    const char *reasons[N_REASONS];
    double seconds;
};

static void count_refusal(struct qa_model *g, const char *why) {
    int k = 0;
    while (k < N_REASONS - 1 && g->reasons[k] && strcmp(g->reasons[k], why)) k++;
    g->reasons[k] = why;
    g->refused[k]++;
}

static void log_reply(struct qa_model *g, const struct pool_doc *d, enum synth_task task, int first, int last,
                      const char *prompt, const char *reply, const char *why) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "doc", d->sha256);
    cJSON_AddStringToObject(j, "pdf", d->path);
    cJSON_AddStringToObject(j, "task", synth_task_name(task));
    cJSON *pages = cJSON_AddArrayToObject(j, "pages");
    cJSON_AddItemToArray(pages, cJSON_CreateNumber(first));
    cJSON_AddItemToArray(pages, cJSON_CreateNumber(last));
    cJSON_AddNumberToObject(j, "dpi", g->p.dpi);
    cJSON_AddStringToObject(j, "prompt", prompt);
    cJSON_AddStringToObject(j, "reply", reply);
    cJSON_AddBoolToObject(j, "taken", why == NULL);
    if (why) cJSON_AddStringToObject(j, "why", why);
    char *line = cJSON_PrintUnformatted(j);
    if (!line) abort();
    fprintf(g->log, "%s\n", line);
    fflush(g->log);
    free(line);
    cJSON_Delete(j);
}

// Shows the model document pages [first, last] (1-based) and parses its reply into
// g->reply (g->why NULL) or says why not. false for an error.
static bool ask(struct qa_model *g, const struct pool_doc *d, enum synth_task task, int first, int last, uint64_t seed,
                char *err, size_t errlen) {
    struct run_inputs in = { .settings = { g->p.dpi, 0, 0 }, .vision = &g->v, .n_threads = g->p.n_threads };
    int pages[QA_REPLY_MAX_PAGES * 4], n = 0;
    for (int p = first; p <= last; p++) pages[n++] = p - 1;
    char *prompt = qa_model_prompt(task, first, last);
    struct qwen25vl_ask q = { .question = prompt, .n_predict = g->p.n_predict, .kv_type = TL_F16,
                              .n_threads = g->p.n_threads, .vk = g->p.vk,
                              .sampling = { .temperature = g->p.temperature, .seed = seed } };
    struct qwen25vl_answer a = { 0 };
    double t0 = tl_time_seconds();
    bool ok = (in.pdf = pdf_document_open(d->path, NULL, err, errlen)) != NULL &&
              run_inputs_add_pdf_pages(&in, pages, n, err, errlen) &&
              qwen25vl_ask_run(&g->m, g->tok, &in, &q, &a, err, errlen);
    g->seconds += tl_time_seconds() - t0;
    if (ok) {
        g->asked++;
        g->why = qa_reply_parse(a.text, task, first, last, &g->reply);
        if (g->why) count_refusal(g, g->why);
        else g->taken++;
        if (g->log) log_reply(g, d, task, first, last, prompt, a.text, g->why);
    }
    qwen25vl_answer_free(&a);
    run_inputs_free(&in);
    free(prompt);
    return ok;
}

char *qa_anchored_question(const char *anchor, const char *question) {
    char *q = NULL;
    if (asprintf(&q, "%s, %s", anchor, question) < 0) abort();
    q[0] = (char)toupper((unsigned char)q[0]);
    char *w = q + strlen(anchor) + 2;
    if (isupper((unsigned char)w[0]) && (islower((unsigned char)w[1]) || (w[1] == ' ' && w[0] != 'I')))
        w[0] = (char)tolower((unsigned char)w[0]);
    return q;
}

// Evidence: each cited page, with the answer when the page's text has it word for word.
static void add_evidence(const struct pool_doc *d, const struct qa_reply *r, struct qa *out) {
    char *answer = text_one_line(r->answer);
    for (int i = 0; i < r->n_pages; i++) {
        int p = r->pages[i] - 1;
        char *page = page_transcript(d, p), *line = text_one_line(page);
        qa_add_evidence(out, p, strcasestr(line, answer) ? answer : "");
        free(line);
        free(page);
    }
    free(answer);
}

static enum qa_made model_make(void *self, const struct qa_request *r, struct qa *out, char *err, size_t errlen) {
    struct qa_model *g = self;
    if (r->task == TASK_OCR_FULL || r->task == TASK_OCR_NEEDLE)
        return qa_generator_rules.make(qa_generator_rules.self, r, out, err, errlen);
    int first = r->s->first + 1, last = r->s->last + 1;
    if (last - first + 1 > g->p.max_pages) last = first + g->p.max_pages - 1;
    uint64_t seed = rng_next(r->rng);
    bool same = g->key.valid && !strcmp(g->key.sha256, r->d->sha256) && g->key.first == first &&
                g->key.last == last && g->key.task == r->task && g->key.rng == seed;
    if (!same) {
        qa_reply_free(&g->reply);
        g->key.valid = false;
        if (!ask(g, r->d, r->task, first, last, seed, err, errlen)) return QA_ERROR;
        memcpy(g->key.sha256, r->d->sha256, sizeof g->key.sha256);
        g->key.first = first, g->key.last = last, g->key.task = r->task, g->key.rng = seed, g->key.valid = true;
    }
    if (g->why && g->taken == 0 && g->asked >= GIVE_UP_AFTER) {
        snprintf(err, errlen, "the model's first %lld replies were all refused (the last: %s; --gen-log shows them): "
                 "is %s an instruction-tuned Qwen2.5-VL?", (long long)g->asked, g->why, g->p.model);
        return QA_ERROR;
    }
    if (g->why) return QA_REFUSED;
    out->question = qa_anchored_question(r->anchor, g->reply.question);
    if (!(out->answer = strdup(g->reply.answer))) abort();
    out->rule = "model";
    add_evidence(r->d, &g->reply, out);
    return QA_MADE;
}

struct qa_generator qa_model_generator(struct qa_model *g) { return (struct qa_generator){ "model", model_make, g }; }

struct qa_model *qa_model_open(const struct qa_model_params *p, char *err, size_t errlen) {
    struct qa_model *g = calloc(1, sizeof *g);
    if (!g) abort();
    g->p = *p;
    if (p->max_pages < 1 || p->max_pages > QA_REPLY_MAX_PAGES * 4) {
        snprintf(err, errlen, "the model generator shows 1-%d pages, not %d", QA_REPLY_MAX_PAGES * 4, p->max_pages);
        goto fail;
    }
    if (!(g->have_text = qwen25vl_text_load(&g->m, p->model, err, errlen)) ||
        (!p->vk && !qwen25vl_text_use_cpu_layouts(&g->m, err, errlen)) ||
        !(g->tok = tokenizer_load_gguf(g->m.file, err, errlen)) ||
        !(g->have_vision = qwen25vl_vision_load(&g->v, p->mmproj, err, errlen)))
        goto fail;
    qwen25vl_vision_use_device(&g->v, p->vk);
    if (g->v.hp.projection_dim != g->m.hp.n_embd) {
        snprintf(err, errlen, "%s projects to %u but %s has n_embd %u: not a pair", p->mmproj, g->v.hp.projection_dim,
                 p->model, g->m.hp.n_embd);
        goto fail;
    }
    if (p->log_path && !(g->log = fopen(p->log_path, "w"))) {
        snprintf(err, errlen, "cannot write %s: %s", p->log_path, strerror(errno));
        goto fail;
    }
    return g;
fail:
    qa_model_close(g, true);
    return NULL;
}

void qa_model_close(struct qa_model *g, bool quiet) {
    if (!g) return;
    if (!quiet && g->asked) {
        fprintf(stderr, "model generator: %lld replies in %.1f s (%.1f s each), %lld taken", (long long)g->asked,
                g->seconds, g->seconds / (double)g->asked, (long long)g->taken);
        for (int k = 0; k < N_REASONS && g->reasons[k]; k++)
            fprintf(stderr, ", %lld refused: %s", (long long)g->refused[k], g->reasons[k]);
        fprintf(stderr, "\n");
    }
    if (g->log) fclose(g->log);
    qa_reply_free(&g->reply);
    tokenizer_free(g->tok);
    if (g->have_vision) qwen25vl_vision_free(&g->v);
    if (g->have_text) qwen25vl_text_free(&g->m);
    free(g);
}
