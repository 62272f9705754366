// Training instances (the synthetic retrieval task, JSONL files) and their packing.
#include "train-data.h"

#include "text-file.h"
#include "tl.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The retrieval task's tokens: ids below 4000 that are plain words in Qwen's vocabulary,
// so the task runs on any model whose vocabulary reaches 3000 + values.
enum {
    TOK_PAGE = 198,        // "\n": starts a page
    TOK_FACT = 25,         // ":": the fact's marker, before its key and value
    TOK_QUERY = 30,        // "?": the question, before the key asked for
    TOK_END = 13,          // ".": ends the answer
    TOK_DISTRACTOR = 1000, // distractor words: [1000, 2000)
    TOK_KEY = 2000,        // keys: [2000, 2000 + keys)
    TOK_VALUE = 3000,      // values: [3000, 3000 + values)
};

#define HELDOUT_BASE ((int64_t)1 << 40)   // held-out retrieval instances start here
#define MAX_FILE_BYTES ((size_t)1 << 34)

struct retrieval_task {
    int pages, page_len, facts, keys, values;
    uint64_t seed;
};

struct train_source {
    char spec[512];
    bool is_file;
    struct retrieval_task task;
    char *text;              // the JSONL file
    int64_t n_lines;
    int64_t *line_start;     // byte offset of each instance's line
    uint64_t seed;           // 0: file order; else an order per epoch
    int64_t *order, order_epoch;   // the current epoch's order of lines
};

void train_instance_free(struct train_instance *in) {
    free(in->ids);
    free(in->answer);
    memset(in, 0, sizeof *in);
}

static void instance_reserve(struct train_instance *in, int64_t n) {
    if (n <= in->cap) return;
    in->ids = realloc(in->ids, (size_t)n * sizeof *in->ids);
    in->answer = realloc(in->answer, (size_t)n);
    if (!in->ids || !in->answer) abort();
    in->cap = n;
}

// ---------------------------------------------------------------------------------------
// The retrieval task

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int64_t below(uint64_t *s, int64_t n) { return (int64_t)(splitmix64(s) % (uint64_t)n); }

static void retrieval_instance(const struct retrieval_task *t, int64_t index, struct train_instance *out) {
    uint64_t rng = t->seed * 0x2545F4914F6CDD1Dull ^ (uint64_t)index;
    splitmix64(&rng);
    int64_t body = (int64_t)t->pages * t->page_len, n = body + 4;
    instance_reserve(out, n);
    out->n = n;
    memset(out->answer, 0, (size_t)n);
    for (int64_t i = 0; i < body; i++)
        out->ids[i] = i % t->page_len == 0 ? TOK_PAGE : TOK_DISTRACTOR + (int32_t)below(&rng, 1000);
    // distinct keys, each fact in its own 3-token slot of the body (slots never straddle
    // a page start), values drawn freely
    int32_t keys[64], values[64];
    int64_t slots_per_page = (t->page_len - 1) / 3, used[64];
    for (int f = 0; f < t->facts; f++) {
        bool fresh;
        do {
            keys[f] = TOK_KEY + (int32_t)below(&rng, t->keys);
            fresh = true;
            for (int g = 0; g < f; g++) fresh = fresh && keys[g] != keys[f];
        } while (!fresh);
        values[f] = TOK_VALUE + (int32_t)below(&rng, t->values);
        do {
            used[f] = below(&rng, t->pages * slots_per_page);
            fresh = true;
            for (int g = 0; g < f; g++) fresh = fresh && used[g] != used[f];
        } while (!fresh);
        int64_t at = used[f] / slots_per_page * t->page_len + 1 + used[f] % slots_per_page * 3;
        out->ids[at] = TOK_FACT;
        out->ids[at + 1] = keys[f];
        out->ids[at + 2] = values[f];
    }
    int asked = (int)below(&rng, t->facts);
    out->ids[body] = TOK_QUERY;
    out->ids[body + 1] = keys[asked];
    out->ids[body + 2] = values[asked];
    out->ids[body + 3] = TOK_END;
    out->answer[body + 2] = out->answer[body + 3] = 1;
}

// "retrieval:pages=8,page-len=64,..." -> task; false with a message
static bool parse_retrieval(const char *spec, int64_t n_vocab, uint64_t seed, struct retrieval_task *t, char *err,
                            size_t errlen) {
    *t = (struct retrieval_task){ .pages = 8, .page_len = 64, .facts = 1, .keys = 256, .values = 16, .seed = seed };
    struct { const char *name; int *v; long long lo, hi; } fields[] = {
        { "pages", &t->pages, 1, 1 << 20 }, { "page-len", &t->page_len, 4, 1 << 20 },
        { "facts", &t->facts, 1, 64 },       { "keys", &t->keys, 1, 1000 },
        { "values", &t->values, 2, 1000 },
    };
    const char *p = spec + strlen("retrieval");
    while (*p) {
        if (*p != ':' && *p != ',') goto bad;
        p++;
        const char *eq = strchr(p, '=');
        if (!eq) goto bad;
        char *end;
        long long v = strtoll(eq + 1, &end, 10);
        if (end == eq + 1 || (*end && *end != ',')) goto bad;
        size_t len = (size_t)(eq - p);
        bool known = false;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (strlen(fields[i].name) == len && !strncmp(p, fields[i].name, len)) {
                if (v < fields[i].lo || v > fields[i].hi) {
                    tl_errorf(err, errlen, "--data %s: %s must be in [%lld, %lld]", spec, fields[i].name, fields[i].lo,
                              fields[i].hi);
                    return false;
                }
                *fields[i].v = (int)v;
                known = true;
            }
        if (len == 4 && !strncmp(p, "seed", 4) && v >= 0) t->seed = (uint64_t)v, known = true;
        if (!known) goto bad;
        p = end;
    }
    if (t->facts > t->keys || (int64_t)t->facts > (int64_t)t->pages * ((t->page_len - 1) / 3)) {
        tl_errorf(err, errlen, "--data %s: %d facts need as many keys and 3-token slots on the pages", spec, t->facts);
        return false;
    }
    if (TOK_VALUE + t->values > n_vocab) {
        tl_errorf(err, errlen, "--data %s: the task's tokens reach id %d, past this model's vocabulary of %lld", spec,
                  TOK_VALUE + t->values - 1, (long long)n_vocab);
        return false;
    }
    return true;
bad:
    tl_errorf(err, errlen,
              "--data %s: expected retrieval:pages=P,page-len=L,facts=F,keys=K,values=V,seed=S (any of them, "
              "numbers)", spec);
    return false;
}

// ---------------------------------------------------------------------------------------
// JSONL files

// Line `line` of the file as an instance; false with a message naming the line.
static bool jsonl_instance(const struct train_source *s, int64_t line, int64_t n_vocab, struct train_instance *out,
                           char *err, size_t errlen) {
    const char *start = s->text + s->line_start[line];
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) : strlen(start);
    cJSON *j = cJSON_ParseWithLength(start, len);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "input_ids");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "labels");
    const char *why = NULL;
    if (!cJSON_IsObject(j)) why = "not a JSON object";
    else if (!cJSON_IsArray(ids) || !cJSON_IsArray(labels)) why = "needs the arrays input_ids and labels";
    else if (cJSON_GetArraySize(ids) != cJSON_GetArraySize(labels) || cJSON_GetArraySize(ids) < 2)
        why = "input_ids and labels must have the same length, at least 2";
    if (!why) {
        int64_t n = cJSON_GetArraySize(ids), i = 0;
        instance_reserve(out, n);
        out->n = n;
        const cJSON *a = ids->child, *b = labels->child;
        for (; a && b && !why; a = a->next, b = b->next, i++) {
            double id = cJSON_GetNumberValue(a), label = cJSON_GetNumberValue(b);
            if (!cJSON_IsNumber(a) || id != (int32_t)id || id < 0 || id >= n_vocab) why = "an input id outside the vocabulary";
            else if (!cJSON_IsNumber(b) || (label != -100 && label != id)) why = "a label that is neither -100 nor its input id";
            else {
                out->ids[i] = (int32_t)id;
                out->answer[i] = label != -100;
            }
        }
    }
    cJSON_Delete(j);
    if (why) tl_errorf(err, errlen, "%s line %lld: %s", s->spec, (long long)line + 1, why);
    return !why;
}

static bool open_jsonl(struct train_source *s, const char *path, int64_t n_vocab, char *err, size_t errlen) {
    s->is_file = true;
    s->text = read_text_file(path, MAX_FILE_BYTES, err, errlen);
    if (!s->text) return false;
    int64_t cap = 0;
    for (const char *p = s->text; *p;) {
        const char *nl = strchr(p, '\n');
        if (nl != p) {   // skip empty lines
            if (s->n_lines == cap) {
                cap = cap ? 2 * cap : 1024;
                s->line_start = realloc(s->line_start, (size_t)cap * sizeof *s->line_start);
                if (!s->line_start) abort();
            }
            s->line_start[s->n_lines++] = p - s->text;
        }
        if (!nl) break;
        p = nl + 1;
    }
    if (!s->n_lines) {
        tl_errorf(err, errlen, "%s holds no instances", path);
        return false;
    }
    struct train_instance in = { 0 };
    bool ok = true;
    for (int64_t i = 0; ok && i < s->n_lines; i++) ok = jsonl_instance(s, i, n_vocab, &in, err, errlen);
    train_instance_free(&in);
    return ok;
}

// ---------------------------------------------------------------------------------------

struct train_source *train_source_open(const char *spec, int64_t n_vocab, uint64_t seed, char *err, size_t errlen) {
    struct train_source *s = calloc(1, sizeof *s);
    if (!s) abort();
    snprintf(s->spec, sizeof s->spec, "%s", spec);
    s->seed = seed;
    s->order_epoch = -1;
    bool ok = !strncmp(spec, "retrieval", 9) && (spec[9] == 0 || spec[9] == ':')
                  ? parse_retrieval(spec, n_vocab, seed, &s->task, err, errlen)
                  : open_jsonl(s, spec, n_vocab, err, errlen);
    if (!ok) {
        train_source_free(s);
        return NULL;
    }
    return s;
}

void train_source_free(struct train_source *s) {
    if (!s) return;
    free(s->text);
    free(s->line_start);
    free(s->order);
    free(s);
}

const char *train_source_spec(const struct train_source *s) { return s->spec; }

// The line of a file's instance `index`: epoch index / n in the seed's order for it.
static int64_t file_line(struct train_source *s, int64_t index) {
    int64_t epoch = index / s->n_lines, k = index % s->n_lines;
    if (!s->seed) return k;
    if (epoch != s->order_epoch) {   // Fisher-Yates from (seed, epoch)
        if (!s->order && !(s->order = malloc((size_t)s->n_lines * sizeof *s->order))) abort();
        uint64_t rng = s->seed * 0x2545F4914F6CDD1Dull ^ (uint64_t)epoch;
        for (int64_t i = 0; i < s->n_lines; i++) s->order[i] = i;
        for (int64_t i = s->n_lines - 1; i > 0; i--) {
            int64_t j = below(&rng, i + 1), t = s->order[i];
            s->order[i] = s->order[j];
            s->order[j] = t;
        }
        s->order_epoch = epoch;
    }
    return s->order[k];
}

bool train_source_get(struct train_source *s, int64_t index, struct train_instance *out, char *err, size_t errlen) {
    if (!s->is_file) {
        retrieval_instance(&s->task, index, out);
        return true;
    }
    return jsonl_instance(s, file_line(s, index), INT32_MAX, out, err, errlen);   // ids checked at open
}

bool train_source_has_heldout(const struct train_source *s) { return !s->is_file; }

bool train_source_get_heldout(const struct train_source *s, int64_t index, struct train_instance *out, char *err,
                              size_t errlen) {
    if (s->is_file) {
        tl_errorf(err, errlen, "%s has no held-out instances", s->spec);
        return false;
    }
    retrieval_instance(&s->task, HELDOUT_BASE + index, out);
    return true;
}

// ---------------------------------------------------------------------------------------
// Packing

void train_pack_init(struct train_pack *p, int64_t seq_len) {
    memset(p, 0, sizeof *p);
    p->cap = seq_len;
    int32_t **arrays[] = { &p->ids, &p->seg, &p->next, &p->rows, &p->targets, &p->pos1 };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        if (!(*arrays[i] = malloc((size_t)seq_len * sizeof(int32_t)))) abort();
    if (!(p->pos = malloc((size_t)3 * seq_len * sizeof(int32_t)))) abort();
}

void train_pack_free(struct train_pack *p) {
    free(p->ids);
    free(p->seg);
    free(p->next);
    free(p->rows);
    free(p->targets);
    free(p->pos1);
    free(p->pos);
    memset(p, 0, sizeof *p);
}

static void pack_append(struct train_pack *p, const struct train_instance *in) {
    for (int64_t i = 0; i < in->n; i++) {
        int64_t at = p->n + i;
        p->ids[at] = in->ids[i];
        p->seg[at] = p->n_instances;
        p->pos1[at] = (int32_t)i;
        // position i predicts token i + 1 of the same instance, if that is an answer token
        p->next[at] = i + 1 < in->n && in->answer[i + 1] ? in->ids[i + 1] : -1;
        if (p->next[at] >= 0) {
            p->rows[p->n_rows] = (int32_t)at;
            p->targets[p->n_rows++] = p->next[at];
        }
    }
    p->n += in->n;
    p->n_instances++;
}

static void pack_finish(struct train_pack *p) {
    for (int s = 0; s < 3; s++) memcpy(p->pos + s * p->n, p->pos1, (size_t)p->n * sizeof(int32_t));
}

static bool instance_fits(const struct train_instance *in, int64_t index, int64_t seq_len, char *err, size_t errlen) {
    bool has_answer = false;
    for (int64_t i = 1; i < in->n; i++) has_answer |= in->answer[i];
    if (in->n > seq_len) tl_errorf(err, errlen, "instance %lld has %lld tokens, more than --seq-len %lld", (long long)index,
                                   (long long)in->n, (long long)seq_len);
    else if (!has_answer) tl_errorf(err, errlen, "instance %lld has no answer token after its first", (long long)index);
    return in->n <= seq_len && has_answer;
}

bool train_pack_fill(struct train_pack *p, struct train_source *s, int64_t *cursor, char *err, size_t errlen) {
    train_pack_clear(p);
    struct train_instance in = { 0 };
    bool ok = true;
    for (;;) {
        if (!(ok = train_source_get(s, *cursor, &in, err, errlen) && instance_fits(&in, *cursor, p->cap, err, errlen)))
            break;
        if (p->n + in.n > p->cap) break;   // it starts the next pack
        pack_append(p, &in);
        ++*cursor;
    }
    train_instance_free(&in);
    pack_finish(p);
    return ok;
}

void train_pack_clear(struct train_pack *p) { p->n = p->n_rows = p->n_instances = 0; }

bool train_pack_add(struct train_pack *p, const struct train_instance *in, char *err, size_t errlen) {
    if (!instance_fits(in, p->n_instances, p->cap, err, errlen)) return false;
    if (p->n + in->n > p->cap) {
        tl_errorf(err, errlen, "the pack has room for %lld more tokens, not %lld", (long long)(p->cap - p->n),
                  (long long)in->n);
        return false;
    }
    pack_append(p, in);
    pack_finish(p);
    return true;
}
