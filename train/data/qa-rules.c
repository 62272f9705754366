// The rule-based question generator (qa-rules.h).
#define _GNU_SOURCE   // open_memstream
#include "qa-rules.h"

#include "rng.h"
#include "sentences.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const task_names[TASK_COUNT] = { "extract-single", "extract-multi", "reasoning", "ocr-full",
                                                    "ocr-needle" };

const char *synth_task_name(enum synth_task t) { return t < TASK_COUNT ? task_names[t] : "?"; }

enum synth_task synth_task_parse(const char *name) {
    int t = 0;
    while (t < TASK_COUNT && strcmp(task_names[t], name)) t++;
    return (enum synth_task)t;
}

void qa_free(struct qa *q) {
    free(q->question);
    free(q->answer);
    for (int i = 0; i < q->n_ev; i++) free(q->ev[i].text);
    free(q->ev);
    memset(q, 0, sizeof *q);
}

void qa_add_evidence(struct qa *q, int page, const char *text) {
    if (q->n_ev == q->cap_ev) {
        q->cap_ev = q->cap_ev ? 2 * q->cap_ev : 4;
        if (!(q->ev = realloc(q->ev, (size_t)q->cap_ev * sizeof *q->ev))) abort();
    }
    q->ev[q->n_ev++] = (struct evidence){ page, text_one_line(text) };
}

struct doc_facts {
    struct sentence_list *sentences;   // [n_blocks]: each paragraph block's usable sentences
    int n_blocks;
    char *all;                         // every block's text, one line, blocks apart by " | "
};

struct doc_facts *doc_facts_make(const struct pool_doc *d) {
    struct doc_facts *f = calloc(1, sizeof *f);
    if (!f || !(f->sentences = calloc(d->n_blocks + 1, sizeof *f->sentences))) abort();
    f->n_blocks = d->n_blocks;
    size_t len = 1;
    for (int b = 0; b < d->n_blocks; b++) len += strlen(d->blocks[b].text) + 3;
    if (!(f->all = malloc(len))) abort();
    char *o = f->all;
    for (int b = 0; b < d->n_blocks; b++) {
        // sub- and superscripts come out of a page's text in no reliable order ("Hj 0"
        // for H_0^j): the blocks holding them give no sentences to quote
        if (d->blocks[b].kind == BLOCK_PARAGRAPH && d->blocks[b].small_chars == 0) sentences_of_block(d->blocks[b].text, &f->sentences[b]);
        char *line = text_one_line(d->blocks[b].text);
        o += sprintf(o, "%s | ", line);
        free(line);
    }
    *o = 0;
    return f;
}

void doc_facts_free(struct doc_facts *f) {
    if (!f) return;
    for (int b = 0; b < f->n_blocks; b++) sentence_list_free(&f->sentences[b]);
    free(f->sentences);
    free(f->all);
    free(f);
}

static bool unique_in_document(const struct doc_facts *f, const char *s) {
    const char *at = strstr(f->all, s);
    return at && !strstr(at + 1, s);
}

// A text builder over open_memstream.
struct text {
    char *s;
    size_t n;
    FILE *f;
};
static void text_open(struct text *t) {
    if (!(t->f = open_memstream(&t->s, &t->n))) abort();
}
static char *text_close(struct text *t) {
    fclose(t->f);
    return t->s;
}

static void cap_first(char *s) { s[0] = (char)toupper((unsigned char)s[0]); }

// "In the section 'X'" for the start of a sentence
static char *anchor_start(const char *anchor) {
    char *a = strdup(anchor);
    if (!a) abort();
    cap_first(a);
    return a;
}

struct sent_ref {
    int page;
    const char *text;
};

// The segment's sentences passing keep(text), in reading order.
static int segment_sentences(const struct pool_doc *d, const struct doc_facts *f, const struct segment *s,
                             bool (*keep)(const char *), struct sent_ref **out) {
    int n = 0, cap = 0;
    *out = NULL;
    for (int b = segment_first_block(d, s); b < d->page_blocks[s->last + 1]; b++)
        for (int i = 0; i < f->sentences[b].n; i++) {
            if (keep && !keep(f->sentences[b].v[i])) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                if (!(*out = realloc(*out, (size_t)cap * sizeof **out))) abort();
            }
            (*out)[n++] = (struct sent_ref){ d->blocks[b].page, f->sentences[b].v[i] };
        }
    return n;
}

// The head of a sentence to quote (about 45% of its words, at least 4, leaving 3 or more
// for the answer) if it is unique in the document; NULL otherwise.
static char *cloze_head(const struct doc_facts *f, const char *sentence, const char **rest) {
    int words = sentence_words(sentence), k = words * 45 / 100;
    if (k < 4) k = 4;
    if (words - k < 3) return NULL;
    char *head = sentence_head(sentence, k, rest);
    if (!unique_in_document(f, head)) {
        free(head);
        return NULL;
    }
    return head;
}

// Picks up to want distinct sentences from different pages with unique heads (their
// heads in heads[], rests in rests[]); returns how many.
static int pick_clozes(const struct doc_facts *f, struct sent_ref *c, int n, int want, uint64_t *rng, int *picked,
                       char **heads, const char **rests) {
    int got = 0;
    for (int tries = 0; got < want && tries < 4 * n + 8 && n > 0; tries++) {
        int k = (int)rng_below(rng, n);
        bool fresh = true;
        for (int g = 0; g < got; g++) fresh = fresh && c[picked[g]].page != c[k].page;
        if (!fresh) continue;
        char *h = cloze_head(f, c[k].text, &rests[got]);
        if (!h) continue;
        heads[got] = h;
        picked[got++] = k;
    }
    return got;
}

// The segment's blocks of a kind with usable text, in order.
static int segment_blocks(const struct pool_doc *d, const struct segment *s, enum block_kind kind, int *out, int max) {
    int n = 0;
    for (int b = segment_first_block(d, s); b < d->page_blocks[s->last + 1] && n < max; b++) {
        if (d->blocks[b].kind != kind) continue;
        char *line = text_one_line(d->blocks[b].text);
        bool ok = kind == BLOCK_CAPTION ? strlen(line) >= 12 && strlen(line) <= 300 : section_title_usable(line);
        free(line);
        if (ok) out[n++] = b;
    }
    return n;
}

static void set(struct qa *q, const char *rule, struct text *question, struct text *answer) {
    q->rule = rule;
    q->question = text_close(question);
    q->answer = text_close(answer);
}

// --- extract-single -------------------------------------------------------------------

static bool rule_cloze(const struct pool_doc *d, const struct doc_facts *f, const struct segment *s, const char *anchor, uint64_t *rng,
                       struct qa *q) {
    struct sent_ref *c;
    int n = segment_sentences(d, f, s, NULL, &c), picked;
    char *head;
    const char *rest;
    bool ok = pick_clozes(f, c, n, 1, rng, &picked, &head, &rest) == 1;
    if (ok) {
        struct text t, a;
        text_open(&t), text_open(&a);
        char *A = anchor_start(anchor);
        fprintf(t.f, "%s, a sentence begins \"%s\". How does it continue?", A, head);
        fprintf(a.f, "%s", rest);
        set(q, "cloze", &t, &a);
        qa_add_evidence(q, c[picked].page, c[picked].text);
        free(A);
        free(head);
    }
    free(c);
    return ok;
}

// A caption's label, its first word and number: "Figure 3", "Table 2"
static void caption_label(const char *caption, char *out, size_t n) {
    size_t i = 0;
    while (caption[i] && caption[i] != ' ') i++;   // the word
    size_t j = i + 1;
    while (caption[j] && (isalnum((unsigned char)caption[j]) || caption[j] == '.')) j++;
    while (j > i + 1 && (caption[j - 1] == '.' || caption[j - 1] == ':')) j--;
    snprintf(out, n, "%.*s", (int)j, caption);
}

static bool rule_caption(const struct pool_doc *d, const struct segment *s, const char *anchor, uint64_t *rng,
                         struct qa *q) {
    int caps[64], n = segment_blocks(d, s, BLOCK_CAPTION, caps, 64);
    for (int tries = 0; tries < n; tries++) {
        int b = caps[(tries + rng_below(rng, n)) % n];
        char *line = text_one_line(d->blocks[b].text), label[64], lead[80];
        caption_label(line, label, sizeof label);
        snprintf(lead, sizeof lead, "%s ", label);   // the label appears once in the document's captions
        int uses = 0;
        for (int k = 0; k < d->n_blocks; k++)
            uses += d->blocks[k].kind == BLOCK_CAPTION && !strncmp(d->blocks[k].text, lead, strlen(lead));
        if (uses == 1) {
            struct text t, a;
            text_open(&t), text_open(&a);
            fprintf(t.f, "What does the caption of %s say, %s?", label, anchor);
            fprintf(a.f, "%s", line);
            set(q, "caption", &t, &a);
            qa_add_evidence(q, d->blocks[b].page, line);
            free(line);
            return true;
        }
        free(line);
    }
    return false;
}

static bool rule_heading(const struct pool_doc *d, const struct segment *s, int window_first, const char *anchor,
                         uint64_t *rng, struct qa *q) {
    int heads[256], n = segment_blocks(d, s, BLOCK_HEADING, heads, 256);
    for (int tries = 0; tries < n; tries++) {
        int b = heads[(tries + rng_below(rng, n)) % n], page = d->blocks[b].page, on_page = 0;
        for (int k = d->page_blocks[page]; k < d->page_blocks[page + 1]; k++) on_page += d->blocks[k].kind == BLOCK_HEADING;
        if (on_page != 1) continue;   // the page must have one heading, or the question has several answers
        char *line = text_one_line(d->blocks[b].text), *A = anchor_start(anchor);
        struct text t, a;
        text_open(&t), text_open(&a);
        fprintf(t.f, "%s, which section heading appears on page %d?", A, page - window_first + 1);
        fprintf(a.f, "%s", line);
        set(q, "heading", &t, &a);
        qa_add_evidence(q, page, line);
        free(line);
        free(A);
        return true;
    }
    return false;
}

// --- extract-multi --------------------------------------------------------------------

static bool rule_list(const struct pool_doc *d, const struct segment *s, enum block_kind kind, const char *anchor,
                      struct qa *q) {
    int items[9], n = segment_blocks(d, s, kind, items, 9);
    if (n < 2 || n > 8 || d->blocks[items[0]].page == d->blocks[items[n - 1]].page) return false;
    struct text t, a;
    text_open(&t), text_open(&a);
    fprintf(t.f, "List, in order, the %s %s.", kind == BLOCK_HEADING ? "section headings" : "figure and table captions",
            anchor);
    for (int i = 0; i < n; i++) {
        char *line = text_one_line(d->blocks[items[i]].text);
        fprintf(a.f, "%s%d. %s", i ? "\n" : "", i + 1, line);
        qa_add_evidence(q, d->blocks[items[i]].page, line);
        free(line);
    }
    set(q, kind == BLOCK_HEADING ? "headings" : "captions", &t, &a);
    return true;
}

static bool rule_cloze_multi(const struct pool_doc *d, const struct doc_facts *f, const struct segment *s, const char *anchor, uint64_t *rng,
                             struct qa *q) {
    struct sent_ref *c;
    int n = segment_sentences(d, f, s, NULL, &c), picked[3], want = (int)rng_range(rng, 2, 3);
    char *heads[3];
    const char *rests[3];
    int got = pick_clozes(f, c, n, want, rng, picked, heads, rests);
    if (got >= 2) {
        // in page order, as a reader meets them
        for (int i = 1; i < got; i++)
            for (int j = i; j > 0 && c[picked[j]].page < c[picked[j - 1]].page; j--) {
                int tp = picked[j]; picked[j] = picked[j - 1]; picked[j - 1] = tp;
                char *th = heads[j]; heads[j] = heads[j - 1]; heads[j - 1] = th;
                const char *tr = rests[j]; rests[j] = rests[j - 1]; rests[j - 1] = tr;
            }
        struct text t, a;
        text_open(&t), text_open(&a);
        char *A = anchor_start(anchor);
        fprintf(t.f, "%s, complete these sentences:", A);
        for (int i = 0; i < got; i++) {
            fprintf(t.f, "\n%d. \"%s ...\"", i + 1, heads[i]);
            fprintf(a.f, "%s%d. %s", i ? "\n" : "", i + 1, rests[i]);
            qa_add_evidence(q, c[picked[i]].page, c[picked[i]].text);
        }
        set(q, "cloze-multi", &t, &a);
        free(A);
    }
    for (int i = 0; i < got; i++) free(heads[i]);
    free(c);
    return got >= 2;
}

// --- reasoning ------------------------------------------------------------------------

static bool has_number(const char *s) {
    double v;
    size_t at, len;
    int dec;
    return sentence_number(s, &v, &at, &len, &dec) && sentence_words(s) >= 6;
}

static bool rule_numbers(const struct pool_doc *d, const struct doc_facts *f, const struct segment *s, const char *anchor, uint64_t *rng,
                         struct qa *q) {
    struct sent_ref *c;
    int n = segment_sentences(d, f, s, has_number, &c), got = 0, pick[2];
    char *heads[2];
    double v[2];
    const char *num[2];
    size_t len[2];
    int dec[2];
    for (int tries = 0; got < 2 && tries < 4 * n + 8 && n >= 2; tries++) {
        int k = (int)rng_below(rng, n);
        if (got == 1 && k == pick[0]) continue;
        size_t at;
        sentence_number(c[k].text, &v[got], &at, &len[got], &dec[got]);
        // the head is the words before the number: at least 3, unique in the document
        char *head = strndup(c[k].text, at);
        if (!head) abort();
        while (*head && head[strlen(head) - 1] == ' ') head[strlen(head) - 1] = 0;
        if (sentence_words(head) < 3 || !unique_in_document(f, head) ||
            (got == 1 && (v[0] == v[1] || !strcmp(head, heads[0])))) {
            free(head);
            continue;
        }
        heads[got] = head;
        num[got] = c[k].text + at;
        pick[got++] = k;
    }
    if (got == 2) {
        static const char *ops[] = { "sum", "difference", "larger" };
        const char *op = ops[rng_below(rng, 3)];
        int decimals = dec[0] > dec[1] ? dec[0] : dec[1];
        struct text t, a;
        text_open(&t), text_open(&a);
        char *A = anchor_start(anchor);
        fprintf(t.f, "%s, one sentence begins \"%s\" and another begins \"%s\". Each of them states a number. ", A,
                heads[0], heads[1]);
        fprintf(a.f, "The first sentence states %.*s and the second %.*s", (int)len[0], num[0], (int)len[1], num[1]);
        if (!strcmp(op, "sum")) {
            fprintf(t.f, "What is their sum?");
            fprintf(a.f, "; their sum is %.*f.", decimals, v[0] + v[1]);
        } else if (!strcmp(op, "difference")) {
            fprintf(t.f, "What is the first number minus the second?");
            fprintf(a.f, "; the first minus the second is %.*f.", decimals, v[0] - v[1]);
        } else {
            fprintf(t.f, "Which of the two numbers is larger?");
            fprintf(a.f, "; the larger is %.*s.", (int)len[v[0] > v[1] ? 0 : 1], num[v[0] > v[1] ? 0 : 1]);
        }
        set(q, op, &t, &a);
        for (int i = 0; i < 2; i++) qa_add_evidence(q, c[pick[i]].page, c[pick[i]].text);
        free(A);
    }
    for (int i = 0; i < got; i++) free(heads[i]);
    free(c);
    return got == 2;
}

static bool rule_order(const struct pool_doc *d, const struct segment *s, const char *anchor, uint64_t *rng,
                       struct qa *q) {
    int heads[256], n = segment_blocks(d, s, BLOCK_HEADING, heads, 256);
    if (n < 2) return false;
    int i = (int)rng_below(rng, n), j = (int)rng_below(rng, n - 1);
    if (j >= i) j++;
    char *hi = text_one_line(d->blocks[heads[i]].text), *hj = text_one_line(d->blocks[heads[j]].text);
    bool ok = strcmp(hi, hj) != 0;
    if (ok) {
        int first = i < j ? i : j;
        struct text t, a;
        text_open(&t), text_open(&a);
        char *A = anchor_start(anchor);
        fprintf(t.f, "%s, which comes first: the heading '%s' or the heading '%s'?", A, hi, hj);
        fprintf(a.f, "'%s' comes first.", first == i ? hi : hj);
        set(q, "order", &t, &a);
        qa_add_evidence(q, d->blocks[heads[i]].page, hi);
        qa_add_evidence(q, d->blocks[heads[j]].page, hj);
        free(A);
    }
    free(hi);
    free(hj);
    return ok;
}

// --- OCR ------------------------------------------------------------------------------

char *page_transcript(const struct pool_doc *d, int p) {
    struct text t;
    text_open(&t);
    for (int b = d->page_blocks[p]; b < d->page_blocks[p + 1]; b++) fprintf(t.f, "%s%s", b > d->page_blocks[p] ? "\n" : "", d->blocks[b].text);
    return text_close(&t);
}

// The pages' transcripts under "Page N:" headers; evidence: each page's longest block
// without sub- or superscripts.
static void transcribe(const struct pool_doc *d, const int *pages, int n, int window_first, struct text *a, struct qa *q) {
    for (int i = 0; i < n; i++) {
        char *tr = page_transcript(d, pages[i]);
        fprintf(a->f, "%sPage %d:\n%s", i ? "\n\n" : "", pages[i] - window_first + 1, *tr ? tr : "(no text)");
        free(tr);
        int longest = -1;
        for (int b = d->page_blocks[pages[i]]; b < d->page_blocks[pages[i] + 1]; b++)
            if (!d->blocks[b].small_chars && (longest < 0 || strlen(d->blocks[b].text) > strlen(d->blocks[longest].text)))
                longest = b;
        if (longest >= 0) qa_add_evidence(q, pages[i], d->blocks[longest].text);
    }
}

static bool rule_ocr(const struct pool_doc *d, const int *pages, int n, int window_first, bool all, struct qa *q) {
    bool any_text = false;
    for (int i = 0; i < n; i++) any_text = any_text || d->page_blocks[pages[i] + 1] > d->page_blocks[pages[i]];
    if (!any_text) return false;
    struct text t, a;
    text_open(&t), text_open(&a);
    if (all) {
        fprintf(t.f, "Transcribe all the text on these pages, page by page, in reading order.");
    } else {
        fprintf(t.f, "Transcribe all the text on page%s ", n > 1 ? "s" : "");
        for (int i = 0; i < n; i++) fprintf(t.f, "%s%d", i == 0 ? "" : i + 1 == n ? " and " : ", ", pages[i] - window_first + 1);
        fprintf(t.f, ", in reading order.");
    }
    transcribe(d, pages, n, window_first, &a, q);
    set(q, all ? "ocr-full" : "ocr-needle", &t, &a);
    return true;
}

bool qa_rules(const struct pool_doc *d, const struct doc_facts *f, enum synth_task task, const struct segment *s,
              int window_first, const char *anchor, const int *needles, int n_needles, uint64_t *rng, struct qa *out) {
    memset(out, 0, sizeof *out);
    if (task == TASK_OCR_FULL || task == TASK_OCR_NEEDLE) {
        int n = task == TASK_OCR_FULL ? s->last - s->first + 1 : n_needles, *pages = malloc((size_t)n * sizeof *pages);
        if (!pages) abort();
        for (int i = 0; i < n; i++) pages[i] = task == TASK_OCR_FULL ? s->first + i : needles[i];
        bool ok = rule_ocr(d, pages, n, window_first, task == TASK_OCR_FULL, out);
        free(pages);
        return ok;
    }
    // the task's rules in an order drawn at random (a shuffle, so that a rule that
    // seldom has material does not hand its turns to one neighbour); the first that
    // finds material wins
    int n_rules = task == TASK_REASONING ? 2 : 3, order[3] = { 0, 1, 2 };
    for (int i = n_rules - 1; i > 0; i--) {
        int j = (int)rng_below(rng, i + 1), x = order[i];
        order[i] = order[j], order[j] = x;
    }
    for (int k = 0; k < n_rules; k++) {
        int r = order[k];
        bool ok = false;
        if (task == TASK_EXTRACT_SINGLE)
            ok = r == 0 ? rule_cloze(d, f, s, anchor, rng, out)
               : r == 1 ? rule_caption(d, s, anchor, rng, out)
                        : rule_heading(d, s, window_first, anchor, rng, out);
        else if (task == TASK_EXTRACT_MULTI)
            ok = r == 0 ? rule_cloze_multi(d, f, s, anchor, rng, out)
               : r == 1 ? rule_list(d, s, BLOCK_HEADING, anchor, out)
                        : rule_list(d, s, BLOCK_CAPTION, anchor, out);
        else
            ok = r == 0 ? rule_numbers(d, f, s, anchor, rng, out) : rule_order(d, s, anchor, rng, out);
        if (ok) return true;
        qa_free(out);
    }
    return false;
}
