// Training instances (the synthetic retrieval task, JSONL files) and their packing.
#include "train-data.h"

#include "mrope-positions.h"
#include "rng.h"
#include "text-file.h"
#include "train-pictures.h"
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
    struct train_pictures *pictures;
    char dir[4096];          // the file's folder, where its pictures' paths start
};

static void pictures_clear(struct train_picture *pics, int *n) {
    for (int i = 0; i < *n; i++) free(pics[i].path);
    *n = 0;
}

static struct train_picture *picture_push(struct train_picture **pics, int *n, int *cap) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        if (!(*pics = realloc(*pics, (size_t)*cap * sizeof **pics))) abort();
    }
    struct train_picture *p = &(*pics)[(*n)++];
    memset(p, 0, sizeof *p);
    return p;
}

void train_instance_free(struct train_instance *in) {
    free(in->ids);
    free(in->answer);
    pictures_clear(in->pics, &in->n_pics);
    free(in->pics);
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

static void retrieval_instance(const struct retrieval_task *t, int64_t index, struct train_instance *out) {
    uint64_t rng = t->seed * 0x2545F4914F6CDD1Dull ^ (uint64_t)index;
    rng_next(&rng);
    int64_t body = (int64_t)t->pages * t->page_len, n = body + 4;
    instance_reserve(out, n);
    out->n = n;
    memset(out->answer, 0, (size_t)n);
    for (int64_t i = 0; i < body; i++)
        out->ids[i] = i % t->page_len == 0 ? TOK_PAGE : TOK_DISTRACTOR + (int32_t)rng_below(&rng, 1000);
    // distinct keys, each fact in its own 3-token slot of the body (slots never straddle
    // a page start), values drawn freely
    int32_t keys[64], values[64];
    int64_t slots_per_page = (t->page_len - 1) / 3, used[64];
    for (int f = 0; f < t->facts; f++) {
        bool fresh;
        do {
            keys[f] = TOK_KEY + (int32_t)rng_below(&rng, t->keys);
            fresh = true;
            for (int g = 0; g < f; g++) fresh = fresh && keys[g] != keys[f];
        } while (!fresh);
        values[f] = TOK_VALUE + (int32_t)rng_below(&rng, t->values);
        do {
            used[f] = rng_below(&rng, t->pages * slots_per_page);
            fresh = true;
            for (int g = 0; g < f; g++) fresh = fresh && used[g] != used[f];
        } while (!fresh);
        int64_t at = used[f] / slots_per_page * t->page_len + 1 + used[f] % slots_per_page * 3;
        out->ids[at] = TOK_FACT;
        out->ids[at + 1] = keys[f];
        out->ids[at + 2] = values[f];
    }
    int asked = (int)rng_below(&rng, t->facts);
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

// The "images" array of a line into in->pics (path and page only); a reason if malformed.
static const char *parse_pictures(const struct train_source *s, const cJSON *images, struct train_instance *in) {
    if (!cJSON_IsArray(images)) return "images must be an array";
    for (const cJSON *im = images->child; im; im = im->next) {
        const cJSON *pdf = cJSON_GetObjectItemCaseSensitive(im, "pdf");
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(im, "image");
        const cJSON *page = cJSON_GetObjectItemCaseSensitive(im, "page");
        const char *path = cJSON_GetStringValue(pdf ? pdf : file);
        if (!cJSON_IsObject(im) || !path || !*path || (pdf && file))
            return "each image is {\"pdf\": PATH, \"page\": N} or {\"image\": PATH}";
        double pg = pdf ? cJSON_GetNumberValue(page) : 0;
        if (pdf && (!cJSON_IsNumber(page) || pg != (int)pg || pg < 1)) return "a pdf image needs a page number from 1";
        struct train_picture *pic = picture_push(&in->pics, &in->n_pics, &in->pics_cap);
        pic->page = pdf ? (int)pg - 1 : -1;
        size_t len = strlen(s->dir) + strlen(path) + 2;
        if (!(pic->path = malloc(len))) abort();
        if (path[0] == '/' || !s->dir[0]) snprintf(pic->path, len, "%s", path);
        else snprintf(pic->path, len, "%s/%s", s->dir, path);
    }
    return NULL;
}

// Widens each picture's <|image_pad|> token of in to its lh x lw vision rows (sizes from
// the pictures' files); false with a message.
static bool widen_pictures(struct train_source *s, struct train_instance *in, char *err, size_t errlen) {
    int32_t pad = train_pictures_pad(s->pictures);
    int64_t n = in->n;
    for (int k = 0; k < in->n_pics; k++) {
        struct train_picture *pic = &in->pics[k];
        if (!train_pictures_grid(s->pictures, pic->path, pic->page, &pic->lh, &pic->lw, err, errlen)) return false;
        n += (int64_t)pic->lh * pic->lw - 1;
    }
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    uint8_t *answer = malloc((size_t)n);
    if (!ids || !answer) abort();
    int64_t at = 0;
    for (int64_t i = 0, k = 0; i < in->n; i++) {
        if (in->ids[i] != pad) {
            ids[at] = in->ids[i];
            answer[at++] = in->answer[i];
            continue;
        }
        struct train_picture *pic = &in->pics[k++];
        pic->start = at;
        for (int64_t r = 0; r < (int64_t)pic->lh * pic->lw; r++, at++) ids[at] = pad, answer[at] = 0;
    }
    free(in->ids);
    free(in->answer);
    in->ids = ids;
    in->answer = answer;
    in->n = in->cap = n;
    return true;
}

// Line `line` of the file as an instance, its pictures widened to their rows if widen;
// false with a message naming the line.
static bool jsonl_instance(struct train_source *s, int64_t line, int64_t n_vocab, bool widen, struct train_instance *out,
                           char *err, size_t errlen) {
    const char *start = s->text + s->line_start[line];
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) : strlen(start);
    cJSON *j = cJSON_ParseWithLength(start, len);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "input_ids");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "labels");
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(j, "images");
    const char *why = NULL;
    pictures_clear(out->pics, &out->n_pics);
    if (!cJSON_IsObject(j)) why = "not a JSON object";
    else if (!cJSON_IsArray(ids) || !cJSON_IsArray(labels)) why = "needs the arrays input_ids and labels";
    else if (cJSON_GetArraySize(ids) != cJSON_GetArraySize(labels) || cJSON_GetArraySize(ids) < 2)
        why = "input_ids and labels must have the same length, at least 2";
    else if (images && !s->pictures) why = "it looks at images: give train-longpt the projector (--mmproj)";
    else if (images) why = parse_pictures(s, images, out);
    int n_pads = 0;
    if (!why) {
        int64_t n = cJSON_GetArraySize(ids), i = 0;
        int32_t pad = s->pictures ? train_pictures_pad(s->pictures) : -1;
        instance_reserve(out, n);
        out->n = n;
        const cJSON *a = ids->child, *b = labels->child;
        for (; a && b && !why; a = a->next, b = b->next, i++) {
            double id = cJSON_GetNumberValue(a), label = cJSON_GetNumberValue(b);
            if (!cJSON_IsNumber(a) || id != (int32_t)id || id < 0 || id >= n_vocab) why = "an input id outside the vocabulary";
            else if (!cJSON_IsNumber(b) || (label != -100 && label != id)) why = "a label that is neither -100 nor its input id";
            else if (id == pad && label != -100) why = "an <|image_pad|> token labelled as an answer";
            else {
                out->ids[i] = (int32_t)id;
                out->answer[i] = label != -100;
                n_pads += id == pad;
            }
        }
    }
    if (!why && n_pads != out->n_pics) why = "its <|image_pad|> tokens and its images differ in number";
    cJSON_Delete(j);
    char sub[512];
    if (!why && widen && out->n_pics && !widen_pictures(s, out, sub, sizeof sub)) why = sub;
    if (why) tl_errorf(err, errlen, "%s line %lld: %s", s->spec, (long long)line + 1, why);
    return !why;
}

static bool open_jsonl(struct train_source *s, const char *path, int64_t n_vocab, char *err, size_t errlen) {
    s->is_file = true;
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(s->dir, sizeof s->dir, "%.*s", (int)(slash - path), path);
    if (slash == path) snprintf(s->dir, sizeof s->dir, "/");
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
    for (int64_t i = 0; ok && i < s->n_lines; i++) ok = jsonl_instance(s, i, n_vocab, false, &in, err, errlen);
    train_instance_free(&in);
    return ok;
}

// ---------------------------------------------------------------------------------------

struct train_source *train_source_open(const char *spec, int64_t n_vocab, uint64_t seed,
                                       struct train_pictures *pictures, char *err, size_t errlen) {
    struct train_source *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->pictures = pictures;
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
            int64_t j = rng_below(&rng, i + 1), t = s->order[i];
            s->order[i] = s->order[j];
            s->order[j] = t;
        }
        s->order_epoch = epoch;
    }
    return s->order[k];
}

bool train_source_get(struct train_source *s, int64_t index, struct train_instance *out, char *err, size_t errlen) {
    if (!s->is_file) {
        pictures_clear(out->pics, &out->n_pics);
        retrieval_instance(&s->task, index, out);
        return true;
    }
    return jsonl_instance(s, file_line(s, index), INT32_MAX, true, out, err, errlen);   // ids checked at open
}

bool train_source_has_heldout(const struct train_source *s) { return !s->is_file; }

bool train_source_get_heldout(const struct train_source *s, int64_t index, struct train_instance *out, char *err,
                              size_t errlen) {
    if (s->is_file) {
        tl_errorf(err, errlen, "%s has no held-out instances", s->spec);
        return false;
    }
    pictures_clear(out->pics, &out->n_pics);
    retrieval_instance(&s->task, HELDOUT_BASE + index, out);
    return true;
}

// ---------------------------------------------------------------------------------------
// Packing

void train_pack_init(struct train_pack *p, int64_t seq_len) {
    memset(p, 0, sizeof *p);
    p->cap = seq_len;
    int32_t **arrays[] = { &p->ids, &p->seg, &p->next, &p->rows, &p->targets };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        if (!(*arrays[i] = malloc((size_t)seq_len * sizeof(int32_t)))) abort();
    if (!(p->pos = malloc((size_t)3 * seq_len * sizeof(int32_t)))) abort();
    if (!(p->pos_cap = malloc((size_t)3 * seq_len * sizeof(int32_t)))) abort();
}

void train_pack_free(struct train_pack *p) {
    free(p->ids);
    free(p->seg);
    free(p->next);
    free(p->rows);
    free(p->targets);
    free(p->pos);
    free(p->pos_cap);
    pictures_clear(p->pics, &p->n_pics);
    free(p->pics);
    memset(p, 0, sizeof *p);
}

// The instance's mRoPE positions (t, h, w streams) into the pack's, from its start on.
static bool pack_positions(struct train_pack *p, const struct train_instance *in, char *err, size_t errlen) {
    int64_t at = p->n;
    if (!in->n_pics) {
        for (int s = 0; s < 3; s++)
            for (int64_t i = 0; i < in->n; i++) p->pos_cap[s * p->cap + at + i] = (int32_t)i;
        return true;
    }
    struct qwen25vl_image_span *spans = malloc((size_t)in->n_pics * sizeof *spans);
    if (!spans) abort();
    for (int k = 0; k < in->n_pics; k++)
        spans[k] = (struct qwen25vl_image_span){ .start = in->pics[k].start, .lh = in->pics[k].lh, .lw = in->pics[k].lw };
    int32_t next;   // p->pos is free until pack_finish: the instance's [3][n] there
    bool ok = qwen25vl_mrope_positions(in->n, 0, spans, in->n_pics, p->pos, &next, err, errlen);
    free(spans);
    for (int s = 0; ok && s < 3; s++)
        memcpy(p->pos_cap + s * p->cap + at, p->pos + s * in->n, (size_t)in->n * sizeof(int32_t));
    return ok;
}

static bool pack_append(struct train_pack *p, const struct train_instance *in, char *err, size_t errlen) {
    if (!pack_positions(p, in, err, errlen)) return false;
    for (int64_t i = 0; i < in->n; i++) {
        int64_t at = p->n + i;
        p->ids[at] = in->ids[i];
        p->seg[at] = p->n_instances;
        // position i predicts token i + 1 of the same instance, if that is an answer token
        p->next[at] = i + 1 < in->n && in->answer[i + 1] ? in->ids[i + 1] : -1;
        if (p->next[at] >= 0) {
            p->rows[p->n_rows] = (int32_t)at;
            p->targets[p->n_rows++] = p->next[at];
        }
    }
    for (int k = 0; k < in->n_pics; k++) {
        struct train_picture *pic = picture_push(&p->pics, &p->n_pics, &p->pics_cap);
        *pic = in->pics[k];
        pic->start += p->n;
        if (!(pic->path = strdup(in->pics[k].path))) abort();
    }
    p->n += in->n;
    p->n_instances++;
    return true;
}

static void pack_finish(struct train_pack *p) {
    for (int s = 0; s < 3; s++) memcpy(p->pos + s * p->n, p->pos_cap + s * p->cap, (size_t)p->n * sizeof(int32_t));
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
        if (!(ok = pack_append(p, &in, err, errlen))) break;
        ++*cursor;
    }
    train_instance_free(&in);
    pack_finish(p);
    return ok;
}

void train_pack_clear(struct train_pack *p) {
    p->n = p->n_rows = p->n_instances = 0;
    pictures_clear(p->pics, &p->n_pics);
}

bool train_pack_add(struct train_pack *p, const struct train_instance *in, char *err, size_t errlen) {
    if (!instance_fits(in, p->n_instances, p->cap, err, errlen)) return false;
    if (p->n + in->n > p->cap) {
        tl_errorf(err, errlen, "the pack has room for %lld more tokens, not %lld", (long long)(p->cap - p->n),
                  (long long)in->n);
        return false;
    }
    bool ok = pack_append(p, in, err, errlen);
    pack_finish(p);
    return ok;
}
