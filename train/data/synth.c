// LongPT instances from the pool (synth.h).
#define _GNU_SOURCE   // qsort_r
#include "synth.h"

#include "rng.h"
#include "sha256.h"
#include "synth-stats.h"
#include "tl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    MAX_ATTEMPTS = 32,       // documents and segments tried for one instance
    TEXT_RESERVE = 1024,     // tokens kept free of pages for the chat text, question and answer
};

static enum qa_made rules_make(void *self, const struct qa_request *r, struct qa *out, char *err, size_t errlen) {
    (void)self, (void)err, (void)errlen;
    return qa_rules(r->d, r->facts, r->task, r->s, r->window_first, r->anchor, r->needles, r->n_needles, r->rng, out)
               ? QA_MADE : QA_NO_MATERIAL;
}

const struct qa_generator qa_generator_rules = { "rules", rules_make, NULL };

// The run's state: the pool, its documents by length, the document in hand.
struct synth {
    const struct synth_params *p;
    struct pool *pool;
    struct pool_doc_info *docs;
    int n_docs;
    int *by_tokens;            // document indices in rising token order
    int cur;                   // the loaded document's index, -1 for none
    struct pool_doc d;
    struct doc_facts *facts;
    int64_t *ocr_tokens;       // [n_pages] the loaded document's transcripts' tokens, lazily (-1)
    uint8_t *used;             // [n_docs]
    int32_t im_end, vision_start, vision_end, image_pad;
};

static void unload_doc(struct synth *s) {
    pool_doc_free(&s->d);
    doc_facts_free(s->facts);
    free(s->ocr_tokens);
    s->facts = NULL, s->ocr_tokens = NULL, s->cur = -1;
}

static bool load_doc(struct synth *s, int k, char *err, size_t errlen) {
    if (s->cur == k) return true;
    unload_doc(s);
    if (!pool_document(s->pool, s->docs[k].sha256, &s->d, err, errlen)) return false;
    s->facts = doc_facts_make(&s->d);
    if (!(s->ocr_tokens = malloc((size_t)s->d.n_pages * sizeof *s->ocr_tokens))) abort();
    for (int i = 0; i < s->d.n_pages; i++) s->ocr_tokens[i] = -1;
    s->cur = k;
    return true;
}

static int64_t count_tokens(struct synth *s, const char *text, char *err, size_t errlen) {
    int32_t *ids = NULL;
    int64_t n = tokenizer_encode(s->p->tok, text, strlen(text), false, &ids, err, errlen);
    free(ids);
    return n;
}

// Tokens of page p's transcript (with its "Page N:" line).
static int64_t ocr_cost(struct synth *s, int p, char *err, size_t errlen) {
    if (s->ocr_tokens[p] < 0) {
        char *t = page_transcript(&s->d, p);
        s->ocr_tokens[p] = count_tokens(s, t, err, errlen) + 8;
        free(t);
    }
    return s->ocr_tokens[p];
}

// A document drawn uniformly from those with at least min_tokens tokens; -1 for none.
static int draw_doc(const struct synth *s, int64_t min_tokens, uint64_t *rng) {
    int lo = 0, hi = s->n_docs;   // the first with enough tokens
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s->docs[s->by_tokens[mid]].tokens < min_tokens) lo = mid + 1;
        else hi = mid;
    }
    return lo == s->n_docs ? -1 : s->by_tokens[lo + rng_below(rng, s->n_docs - lo)];
}

static int draw_weighted(const double *w, int n, uint64_t *rng) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += w[i];
    double x = (double)(rng_next(rng) >> 11) / 9007199254740992.0 * sum;
    for (int i = 0; i < n; i++) {
        if (x < w[i]) return i;
        x -= w[i];
    }
    for (int i = n - 1; i >= 0; i--)
        if (w[i] > 0) return i;
    return 0;
}

// The tokens of an instance: ids and which are the answer's.
struct tokens {
    int32_t *id;
    uint8_t *answer;
    int64_t n, cap;
};

static void push_id(struct tokens *t, int32_t id, bool answer) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        if (!(t->id = realloc(t->id, (size_t)t->cap * sizeof *t->id)) || !(t->answer = realloc(t->answer, (size_t)t->cap)))
            abort();
    }
    t->id[t->n] = id;
    t->answer[t->n++] = answer;
}

static bool push_text(struct synth *s, struct tokens *t, const char *text, bool special, bool answer, char *err,
                      size_t errlen) {
    int32_t *ids = NULL;
    int64_t n = tokenizer_encode(s->p->tok, text, strlen(text), special, &ids, err, errlen);
    for (int64_t i = 0; i < n; i++) push_id(t, ids[i], answer);
    free(ids);
    return n >= 0;
}

// The chat: system, the user's pages then question, the assistant's answer (the loss is
// on the answer and its <|im_end|>). Page text comes in as plain text, never as special
// tokens, whatever it spells.
static bool build_tokens(struct synth *s, int first, int last, const struct qa *q, struct tokens *t, char *err,
                         size_t errlen) {
    t->n = 0;
    if (!push_text(s, t, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n", true, false,
                   err, errlen))
        return false;
    for (int p = first; p <= last; p++) {
        push_id(t, s->vision_start, false);
        push_id(t, s->image_pad, false);
        push_id(t, s->vision_end, false);
    }
    if (!push_text(s, t, q->question, false, false, err, errlen) ||
        !push_text(s, t, "<|im_end|>\n<|im_start|>assistant\n", true, false, err, errlen) ||
        !push_text(s, t, q->answer, false, true, err, errlen))
        return false;
    push_id(t, s->im_end, true);
    return true;
}

static char *instance_json(const struct synth *s, int64_t index, enum synth_task task, const struct qa *q,
                           const struct segment *seg, const char *anchor, int first, int last, const struct tokens *t,
                           int64_t length) {
    const struct pool_doc *d = &s->d;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)index);
    cJSON_AddStringToObject(j, "task", synth_task_name(task));
    cJSON_AddStringToObject(j, "rule", q->rule);
    cJSON_AddStringToObject(j, "doc", d->sha256);
    cJSON_AddNumberToObject(j, "doc_pages", d->n_pages);
    cJSON *pages = cJSON_AddArrayToObject(j, "pages"), *sp = cJSON_AddArrayToObject(j, "segment");
    cJSON_AddItemToArray(pages, cJSON_CreateNumber(first + 1));
    cJSON_AddItemToArray(pages, cJSON_CreateNumber(last + 1));
    cJSON_AddItemToArray(sp, cJSON_CreateNumber(seg->first + 1));
    cJSON_AddItemToArray(sp, cJSON_CreateNumber(seg->last + 1));
    cJSON_AddStringToObject(j, "anchor", anchor);
    cJSON_AddStringToObject(j, "question", q->question);
    cJSON_AddStringToObject(j, "answer", q->answer);
    cJSON *ev = cJSON_AddArrayToObject(j, "evidence");
    for (int i = 0; i < q->n_ev; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "page", q->ev[i].page + 1);
        cJSON_AddStringToObject(e, "text", q->ev[i].text);
        cJSON_AddItemToArray(ev, e);
    }
    cJSON_AddNumberToObject(j, "tokens", (double)length);
    cJSON *images = cJSON_AddArrayToObject(j, "images");
    for (int p = first; p <= last; p++) {
        cJSON *im = cJSON_CreateObject();
        cJSON_AddStringToObject(im, "pdf", d->path);
        cJSON_AddNumberToObject(im, "page", p + 1);
        cJSON_AddItemToArray(images, im);
    }
    cJSON *ids = cJSON_AddArrayToObject(j, "input_ids"), *labels = cJSON_AddArrayToObject(j, "labels");
    for (int64_t i = 0; i < t->n; i++) {
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(t->id[i]));
        cJSON_AddItemToArray(labels, cJSON_CreateNumber(t->answer[i] ? t->id[i] : -100));
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) abort();
    return text;
}

// 1..3 distinct pages of the segment, in order.
static int draw_needles(const struct segment *seg, uint64_t *rng, int *needles) {
    int span = seg->last - seg->first + 1, n = (int)rng_range(rng, 1, span < 3 ? span : 3);
    for (int i = 0; i < n; i++) {
        bool fresh;
        do {
            needles[i] = seg->first + (int)rng_below(rng, span);
            fresh = true;
            for (int k = 0; k < i; k++) fresh = fresh && needles[k] != needles[i];
        } while (!fresh);
    }
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && needles[k] < needles[k - 1]; k--) {
            int x = needles[k]; needles[k] = needles[k - 1]; needles[k - 1] = x;
        }
    return n;
}

// One attempt at instance `index`; 1: written to out, 0: given up (counted), -1: error.
static int attempt(struct synth *s, int64_t index, enum synth_task task, int64_t target, int64_t min_doc_tokens,
                   uint64_t *rng, struct synth_stats *st, struct tokens *t, FILE *out, char *err, size_t errlen) {
    const struct synth_config *c = &s->p->cfg;
    int k = draw_doc(s, min_doc_tokens, rng);
    if (k < 0) return st->no_material++, 0;
    if (!load_doc(s, k, err, errlen)) return -1;
    const struct pool_doc *d = &s->d;
    struct segment seg;
    segment_pick(d, c->segment_min, c->segment_max, rng, &seg);
    int needles[3], n_needles = task == TASK_OCR_NEEDLE ? draw_needles(&seg, rng, needles) : 0;
    int64_t reserve = task == TASK_OCR_FULL ? 256 : TEXT_RESERVE, *cost = malloc((size_t)d->n_pages * sizeof *cost);
    if (!cost) abort();
    bool ok = true;
    for (int i = 0; i < n_needles && ok; i++) ok = (reserve += ocr_cost(s, needles[i], err, errlen)) > 0;
    for (int p = 0; p < d->n_pages && ok; p++)
        ok = (cost[p] = d->page_tokens[p] + (task == TASK_OCR_FULL ? ocr_cost(s, p, err, errlen) : 0)) > 0;
    if (!ok) return free(cost), -1;
    // Pass 1 places the window with room for the text estimated; when the window is not
    // the whole document, pass 2 places it again with the room the text really takes,
    // so that the instance comes out at its target length. The generator draws from its
    // own stream, the same in both passes, so it picks the same material.
    uint64_t qa_seed = rng_next(rng);
    int64_t budget = target - reserve, length = 0, answer = 0;
    int first = 0, last = 0, rc = 0;
    struct segment segment0 = seg;
    struct qa q = { 0 };
    char anchor[512];
    for (int pass = 0; pass < 2; pass++) {
        seg = segment0;
        if (!window_pick(d, cost, &seg, budget, rng, &first, &last)) {
            segment_fit(cost, budget, &seg);   // the segment alone is over the budget: its first pages
            if (task == TASK_OCR_NEEDLE) n_needles = draw_needles(&seg, rng, needles);   // from what is left
            if (!window_pick(d, cost, &seg, budget, rng, &first, &last)) {
                st->page_too_big++;
                break;
            }
        }
        if (task == TASK_OCR_FULL) seg = (struct segment){ first, last, -1, -1 };
        segment_anchor(d, &seg, first, anchor, sizeof anchor);
        uint64_t qa_rng = qa_seed;
        struct qa_request r = { d, s->facts, task, &seg, first, last, anchor, needles, n_needles, &qa_rng };
        qa_free(&q);
        enum qa_made made = s->p->gen->make(s->p->gen->self, &r, &q, err, errlen);
        st->no_material += made == QA_NO_MATERIAL;
        st->refused += made == QA_REFUSED;
        rc = made == QA_MADE ? 1 : made == QA_ERROR ? -1 : 0;
        if (rc <= 0) break;
        if (!build_tokens(s, first, last, &q, t, err, errlen)) {
            rc = -1;
            break;
        }
        int64_t pages = 0, text = t->n - 3 * (int64_t)(last - first + 1);
        for (int p = first; p <= last; p++) pages += d->page_tokens[p];
        length = pages + text;
        bool whole = first == 0 && last == d->n_pages - 1;
        if (whole || task == TASK_OCR_FULL || length + 64 >= target) break;
        budget = target - text - 16;   // (16: page numbers in the text may grow a digit)
    }
    free(cost);
    for (int64_t i = 0; rc > 0 && i < t->n; i++) answer += t->answer[i];
    if (rc > 0 && length > c->edges[c->n_bins]) rc = 0, st->too_long++;
    if (rc > 0) {
        char *line = instance_json(s, index, task, &q, &seg, anchor, first, last, t, length);
        if (fputs(line, out) < 0 || fputc('\n', out) < 0) {
            snprintf(err, errlen, "cannot write the shard: %s", strerror(errno));
            rc = -1;
        }
        free(line);
        synth_stats_add(st, c, task, q.rule, length, answer);
        st->docs_used += !s->used[k];
        s->used[k] = 1;
    }
    qa_free(&q);
    return rc;
}

static int cmp_tokens_of(const void *a, const void *b, void *docs) {
    const struct pool_doc_info *d = docs;
    int64_t x = d[*(const int *)a].tokens, y = d[*(const int *)b].tokens;
    return x < y ? -1 : x > y ? 1 : *(const int *)a - *(const int *)b;
}

// Draws every instance of the shard into out.
static bool synth_all(struct synth *s, FILE *out, struct synth_stats *st, char *err, size_t errlen) {
    const struct synth_params *p = s->p;
    const struct synth_config *c = &p->cfg;
    struct tokens t = { 0 };
    bool ok = true;
    int64_t mine = 0, total_mine = (p->n_instances - p->shard + p->n_shards - 1) / p->n_shards;
    for (int64_t i = p->shard; ok && i < p->n_instances; i += p->n_shards, mine++) {
        uint64_t rng = rng_for(p->seed, (uint64_t)i);
        enum synth_task task = (enum synth_task)draw_weighted(c->task_weight, TASK_COUNT, &rng);
        int bin = c->distribution == DIST_POOL_NATIVE ? -1 : draw_weighted(c->bin_weight, c->n_bins, &rng);
        int rc = 0;
        for (int a = 0; a < MAX_ATTEMPTS && rc == 0; a++) {
            // pool-native: any document of the first edge or more, whole or cut to the last
            // edge; otherwise a length drawn in the bin, from a document that long
            int64_t target = bin < 0 ? c->edges[c->n_bins] : rng_range(&rng, c->edges[bin], c->edges[bin + 1] - 1);
            int64_t min_doc = bin < 0 ? c->edges[0] : c->edges[bin];
            rc = attempt(s, i, task, target, min_doc, &rng, st, &t, out, err, errlen);
        }
        ok = rc >= 0;
        st->failed += rc == 0;
        if (!p->quiet && (mine % 16 == 15 || mine + 1 == total_mine))
            fprintf(stderr, "\r%lld/%lld instances", (long long)mine + 1, (long long)total_mine);
    }
    if (!p->quiet) fprintf(stderr, "\n");
    free(t.id);
    free(t.answer);
    return ok;
}

static bool write_file(const char *path, const char *text, char *err, size_t errlen) {
    FILE *f = fopen(path, "w");
    bool ok = f && fputs(text, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    if (!ok) snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return ok;
}

static bool special_ids(struct synth *s, char *err, size_t errlen) {
    struct { const char *text; int32_t *id; } want[] = {
        { "<|im_end|>", &s->im_end },
        { "<|vision_start|>", &s->vision_start },
        { "<|vision_end|>", &s->vision_end },
        { "<|image_pad|>", &s->image_pad },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if ((*want[i].id = tokenizer_find(s->p->tok, want[i].text)) < 0) {
            snprintf(err, errlen, "the tokenizer has no %s token: not a Qwen2.5-VL tokenizer", want[i].text);
            return false;
        }
    return true;
}

bool synth_run(const struct synth_params *p, char *err, size_t errlen) {
    struct synth s = { .p = p, .cur = -1 };
    char settings[256], shard[PATH_MAX], tmp[PATH_MAX + 8], manifest[PATH_MAX], mtmp[PATH_MAX + 8], pool_abs[PATH_MAX];
    if (!special_ids(&s, err, errlen)) return false;
    if (!realpath(p->pool_dir, pool_abs)) {
        snprintf(err, errlen, "%s: %s", p->pool_dir, strerror(errno));
        return false;
    }
    s.pool = pool_open_existing(pool_abs, err, errlen);
    bool ok = s.pool && pool_settings(s.pool, settings, sizeof settings, err, errlen) &&
              pool_documents(s.pool, &s.docs, &s.n_docs, err, errlen);
    if (ok && s.n_docs == 0) {
        snprintf(err, errlen, "the pool %s has no accepted documents", p->pool_dir);
        ok = false;
    }
    if (ok && mkdir(p->out_dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", p->out_dir, strerror(errno));
        ok = false;
    }
    FILE *out = NULL;
    struct synth_stats st = { 0 };
    if (ok) {
        if (!(s.by_tokens = malloc((size_t)s.n_docs * sizeof *s.by_tokens)) || !(s.used = calloc(s.n_docs, 1))) abort();
        for (int i = 0; i < s.n_docs; i++) s.by_tokens[i] = i;
        qsort_r(s.by_tokens, s.n_docs, sizeof *s.by_tokens, cmp_tokens_of, s.docs);
        snprintf(shard, sizeof shard, "%s/shard-%d-of-%d.jsonl", p->out_dir, p->shard, p->n_shards);
        snprintf(manifest, sizeof manifest, "%s/manifest-%d-of-%d.json", p->out_dir, p->shard, p->n_shards);
        snprintf(tmp, sizeof tmp, "%s.tmp", shard);
        snprintf(mtmp, sizeof mtmp, "%s.tmp", manifest);
        if (!(out = fopen(tmp, "w"))) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            ok = false;
        }
    }
    double t0 = tl_time_seconds();
    if (ok) ok = synth_all(&s, out, &st, err, errlen);
    st.seconds = tl_time_seconds() - t0;
    if (out && fclose(out) != 0 && ok) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        ok = false;
    }
    if (ok && st.made == 0) {
        snprintf(err, errlen, "no instance could be made: the pool's documents give no material for these tasks and lengths");
        ok = false;
    }
    uint8_t digest[32];
    char hex[65];
    struct stat sb;
    ok = ok && sha256_file(tmp, digest, err, errlen) && stat(tmp, &sb) == 0;
    if (ok) {
        sha256_hex(digest, hex);
        const char *base = strrchr(shard, '/');
        struct synth_manifest_info m = { p->gen->name, pool_abs, settings, base ? base + 1 : shard, hex, sb.st_size,
                                         p->n_instances, p->seed, p->shard, p->n_shards };
        char *json = synth_manifest_json(&st, &p->cfg, &m);
        ok = write_file(mtmp, json, err, errlen) && rename(tmp, shard) == 0 && rename(mtmp, manifest) == 0;
        if (!ok && !err[0]) snprintf(err, errlen, "cannot rename into %s: %s", p->out_dir, strerror(errno));
        free(json);
    }
    if (ok) {
        printf("synth: %s (%lld bytes), %s\n", shard, (long long)sb.st_size, manifest);
        synth_stats_print(stdout, &st, &p->cfg);
        printf("train with the pool's settings: %s\n", settings);
    }
    if (!ok && out) unlink(tmp), unlink(mtmp);
    unload_doc(&s);
    pool_close(s.pool);
    free(s.docs);
    free(s.by_tokens);
    free(s.used);
    return ok;
}
