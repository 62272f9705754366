// Loading the tokenizer from tokenizer.json or from GGUF metadata, and building the
// tables both share (see tokenizer.h).
#include "tokenizer-impl.h"
#include "text-file.h"
#include "tl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// The Qwen2 pre-tokenizer pattern (tokenizer.json "Split" regex), as PCRE2 reads it.
static const char qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

void byte_level_tables(uint32_t byte_to_cp[256], int16_t cp_to_byte[324]) {
    // Printable bytes map to themselves; the other 68 to U+0100.. in increasing order.
    int next = 0;
    for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        byte_to_cp[b] = printable ? (uint32_t)b : 256u + (uint32_t)next++;
        cp_to_byte[byte_to_cp[b]] = (int16_t)b;
    }
}

uint32_t str_hash(const char *s, size_t n) {   // FNV-1a
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t str_map_get(const struct str_map *m, char *const *text, const uint32_t *len, const char *s, size_t n) {
    for (uint32_t i = str_hash(s, n) & m->mask;; i = (i + 1) & m->mask) {
        uint32_t v = m->slots[i];
        if (!v) return -1;
        int32_t id = (int32_t)v - 1;
        if (len[id] == n && !memcmp(text[id], s, n)) return id;
    }
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c *= 2;
    return c;
}

// Decodes one UTF-8 code point (valid input assumed: token strings come from JSON/GGUF
// text); returns its length.
static int utf8_next(const uint8_t *p, size_t n, uint32_t *cp) {
    if (p[0] < 0x80 || n < 2) return *cp = p[0], 1;
    if ((p[0] & 0xe0) == 0xc0) return *cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f), 2;
    if ((p[0] & 0xf0) == 0xe0 && n >= 3) return *cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f), 3;
    if (n >= 4) return *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 | (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f), 4;
    return *cp = p[0], 1;
}

static int cmp_added(const void *a, const void *b) {
    const struct added_token *x = a, *y = b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

bool tokenizer_finish_load(struct tokenizer *t, const char *const *left, const char *const *right, int64_t n_merges,
                           char *err, size_t errlen) {
    int32_t n = t->n_vocab;
    t->vocab.mask = pow2_at_least((uint64_t)n * 2) - 1;
    t->vocab.slots = calloc((size_t)t->vocab.mask + 1, sizeof *t->vocab.slots);
    t->bytes = calloc(n, sizeof *t->bytes);
    t->bytes_len = calloc(n, sizeof *t->bytes_len);
    if (!t->vocab.slots || !t->bytes || !t->bytes_len) abort();
    uint32_t b2c[256];
    int16_t c2b[324];
    byte_level_tables(b2c, c2b);
    int n_added = 0;
    for (int32_t id = 0; id < n; id++) {
        if (t->kind[id] == TOKEN_UNUSED) continue;
        // Later ids win for a duplicated string (added tokens override the vocabulary).
        for (uint32_t i = str_hash(t->text[id], t->text_len[id]) & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
            uint32_t v = t->vocab.slots[i];
            if (!v || (t->text_len[v - 1] == t->text_len[id] && !memcmp(t->text[v - 1], t->text[id], t->text_len[id]))) {
                t->vocab.slots[i] = (uint32_t)id + 1;
                break;
            }
        }
        bool added = t->kind[id] == TOKEN_CONTROL || t->kind[id] == TOKEN_USER_DEFINED;
        n_added += added;
        // What the token decodes to: added tokens are their text; the others map back
        // through the byte-level alphabet.
        uint8_t *b = malloc(t->text_len[id] + 1);
        if (!b) abort();
        uint32_t k = 0;
        const uint8_t *s = (const uint8_t *)t->text[id];
        for (uint32_t i = 0; i < t->text_len[id];) {
            uint32_t cp;
            int l = utf8_next(s + i, t->text_len[id] - i, &cp);
            if (!added && cp < 324 && c2b[cp] >= 0) b[k++] = (uint8_t)c2b[cp];
            else for (int j = 0; j < l; j++) b[k++] = s[i + j];
            i += (uint32_t)l;
        }
        t->bytes[id] = b;
        t->bytes_len[id] = k;
    }
    for (int c = 0; c < 256; c++) {
        char u[4];
        int l = b2c[c] < 0x80 ? (u[0] = (char)b2c[c], 1)
                               : (u[0] = (char)(0xc0 | (b2c[c] >> 6)), u[1] = (char)(0x80 | (b2c[c] & 0x3f)), 2);
        t->byte_token[c] = str_map_get(&t->vocab, t->text, t->text_len, u, (size_t)l);
        if (t->byte_token[c] < 0) {
            tl_errorf(err, errlen, "the vocabulary lacks the byte-level token for byte 0x%02x", c);
            return false;
        }
    }
    t->added = calloc(n_added ? n_added : 1, sizeof *t->added);
    if (!t->added) abort();
    for (int32_t id = 0; id < n; id++)
        if ((t->kind[id] == TOKEN_CONTROL || t->kind[id] == TOKEN_USER_DEFINED) && t->text_len[id]) {
            t->added[t->n_added++] = (struct added_token){ t->text[id], t->text_len[id], id };
            t->added_first_byte[(uint8_t)t->text[id][0]] = true;
        }
    qsort(t->added, t->n_added, sizeof *t->added, cmp_added);   // longest match first

    t->merges.mask = pow2_at_least((uint64_t)n_merges * 2) - 1;
    size_t cap = (size_t)t->merges.mask + 1;
    t->merges.keys = calloc(cap, sizeof *t->merges.keys);
    t->merges.rank = malloc(cap * sizeof *t->merges.rank);
    t->merges.merged = malloc(cap * sizeof *t->merges.merged);
    if (!t->merges.keys || !t->merges.rank || !t->merges.merged) abort();
    t->merge_list = malloc((size_t)(n_merges ? n_merges : 1) * sizeof *t->merge_list);
    if (!t->merge_list) abort();
    t->n_merges = n_merges;
    char buf[1024];
    for (int64_t r = 0; r < n_merges; r++) {
        size_t ll = strlen(left[r]), rl = strlen(right[r]);
        int32_t a = str_map_get(&t->vocab, t->text, t->text_len, left[r], ll);
        int32_t b = str_map_get(&t->vocab, t->text, t->text_len, right[r], rl);
        if (ll + rl >= sizeof buf || a < 0 || b < 0) {
            tl_errorf(err, errlen, "merge %lld ('%s' '%s') names a token not in the vocabulary", (long long)r, left[r],
                      right[r]);
            return false;
        }
        memcpy(buf, left[r], ll);
        memcpy(buf + ll, right[r], rl);
        int32_t m = str_map_get(&t->vocab, t->text, t->text_len, buf, ll + rl);
        if (m < 0) {
            tl_errorf(err, errlen, "merge %lld ('%s' '%s') makes a token not in the vocabulary", (long long)r, left[r],
                      right[r]);
            return false;
        }
        t->merge_list[r][0] = a;
        t->merge_list[r][1] = b;
        uint64_t key = pair_key(a, b);
        for (uint64_t i = pair_hash(key) & t->merges.mask;; i = (i + 1) & t->merges.mask) {
            if (!t->merges.keys[i]) {
                t->merges.keys[i] = key;
                t->merges.rank[i] = (int32_t)r;
                t->merges.merged[i] = m;
                break;
            }
            if (t->merges.keys[i] == key) break;   // a repeated merge keeps its first (lowest) rank
        }
    }

    int ec;
    PCRE2_SIZE eo;
    t->re = pcre2_compile((PCRE2_SPTR)qwen2_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!t->re) {
        tl_errorf(err, errlen, "internal: the pre-tokenizer pattern does not compile (PCRE2 error %d)", ec);
        return false;
    }
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE);   // optional: matching works without it
    t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!t->md) abort();
    return true;
}

// Splits a "left right" merge string into a copy whose space is a NUL; false if it has none.
static bool split_merge(const char *s, char **copy, const char **left, const char **right) {
    *copy = strdup(s);
    char *sp = *copy ? strchr(*copy, ' ') : NULL;
    if (!sp) return false;
    *sp = 0;
    *left = *copy;
    *right = sp + 1;
    return true;
}

static struct tokenizer *new_tokenizer(int32_t n) {
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->n_vocab = n;
    t->text = calloc(n, sizeof *t->text);
    t->text_len = calloc(n, sizeof *t->text_len);
    t->kind = calloc(n, 1);
    t->special = calloc(n, sizeof *t->special);
    if (!t->text || !t->text_len || !t->kind || !t->special) abort();
    return t;
}

void tokenizer_free(struct tokenizer *t) {
    if (!t) return;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        free(t->text[i]);
        if (t->bytes) free(t->bytes[i]);
    }
    free(t->text);
    free(t->text_len);
    free(t->kind);
    free(t->special);
    free(t->bytes);
    free(t->bytes_len);
    free(t->vocab.slots);
    free(t->merges.keys);
    free(t->merges.rank);
    free(t->merges.merged);
    free(t->merge_list);
    free(t->added);
    if (t->md) pcre2_match_data_free(t->md);
    if (t->re) pcre2_code_free(t->re);
    free(t);
}

static void set_token(struct tokenizer *t, int32_t id, const char *s, size_t len, uint8_t kind, bool special) {
    free(t->text[id]);
    t->text[id] = malloc(len + 1);
    if (!t->text[id]) abort();
    memcpy(t->text[id], s, len);
    t->text[id][len] = 0;
    t->text_len[id] = (uint32_t)len;
    t->kind[id] = kind;
    t->special[id] = special;
}

bool tokenizer_looks_special(const char *s) {
    size_t n = strlen(s);
    return n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>");
}

struct tokenizer *tokenizer_load_json(const char *path, char *err, size_t errlen) {
    char file[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(file, sizeof file, "%s/tokenizer.json", path);
    else snprintf(file, sizeof file, "%s", path);
    char *text = read_text_file(file, 1u << 30, err, errlen);
    if (!text) return NULL;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") || !cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        tl_errorf(err, errlen, "%s: not a BPE tokenizer.json (model.type, model.vocab, model.merges)", file);
        cJSON_Delete(root);
        return NULL;
    }
    // The vocabulary size: one past the largest id anywhere.
    double max_id = -1;
    for (const cJSON *e = vocab->child; e; e = e->next)
        if (cJSON_IsNumber(e) && e->valuedouble > max_id) max_id = e->valuedouble;
    for (const cJSON *e = cJSON_IsArray(added) ? added->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsNumber(id) && id->valuedouble > max_id) max_id = id->valuedouble;
    }
    if (max_id < 255 || max_id > 16e6) {
        tl_errorf(err, errlen, "%s: implausible vocabulary (largest id %g)", file, max_id);
        cJSON_Delete(root);
        return NULL;
    }
    struct tokenizer *t = new_tokenizer((int32_t)max_id + 1);
    bool ok = true;
    for (const cJSON *e = vocab->child; e && ok; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble != (double)(int32_t)e->valuedouble) {
            tl_errorf(err, errlen, "%s: token '%s' has a bad id", file, e->string);
            ok = false;
        } else {
            set_token(t, (int32_t)e->valuedouble, e->string, strlen(e->string), TOKEN_NORMAL, false);
        }
    }
    for (const cJSON *e = ok && cJSON_IsArray(added) ? added->child : NULL; e && ok; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !cJSON_IsString(content)) {
            tl_errorf(err, errlen, "%s: an added token lacks an id or content", file);
            ok = false;
            break;
        }
        bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
        set_token(t, (int32_t)id->valuedouble, content->valuestring, strlen(content->valuestring),
                  special || tokenizer_looks_special(content->valuestring) ? TOKEN_CONTROL : TOKEN_USER_DEFINED, special);
    }
    for (int32_t i = 0; ok && i < t->n_vocab; i++)
        if (!t->text[i]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", i);
            set_token(t, i, pad, strlen(pad), TOKEN_UNUSED, false);
        }
    int64_t n_merges = cJSON_GetArraySize(merges), k = 0;
    const char **left = calloc(n_merges + 1, sizeof *left), **right = calloc(n_merges + 1, sizeof *right);
    char **split = calloc(n_merges + 1, sizeof *split);
    if (!left || !right || !split) abort();
    for (const cJSON *e = ok ? merges->child : NULL; e && ok; e = e->next, k++) {
        if (cJSON_IsString(e)) {   // "a b"
            ok = split_merge(e->valuestring, &split[k], &left[k], &right[k]);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            left[k] = e->child->valuestring;
            right[k] = e->child->next->valuestring;
        } else {
            ok = false;
        }
        if (!ok) tl_errorf(err, errlen, "%s: merge %lld is neither \"a b\" nor [\"a\", \"b\"]", file, (long long)k);
    }
    ok = ok && tokenizer_finish_load(t, left, right, n_merges, err, errlen);
    for (int64_t i = 0; i < n_merges; i++) free(split[i]);
    free(split);
    free(left);
    free(right);
    cJSON_Delete(root);
    if (!ok) {
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

struct tokenizer *tokenizer_load_gguf(const struct tl_gguf *g, char *err, size_t errlen) {
    const struct tl_gguf_value *model = tl_gguf_get(g, "tokenizer.ggml.model");
    const struct tl_gguf_value *tok = tl_gguf_get(g, "tokenizer.ggml.tokens");
    const struct tl_gguf_value *typ = tl_gguf_get(g, "tokenizer.ggml.token_type");
    const struct tl_gguf_value *mer = tl_gguf_get(g, "tokenizer.ggml.merges");
    if (!model || model->type != TL_GGUF_STRING || strcmp(model->str.data, "gpt2")) {
        tl_errorf(err, errlen, "tokenizer.ggml.model must be \"gpt2\" (byte-level BPE)");
        return NULL;
    }
    if (!tok || tok->type != TL_GGUF_ARRAY || tok->arr.type != TL_GGUF_STRING || tok->arr.n < 256 ||
        tok->arr.n > 16000000 || !mer || mer->type != TL_GGUF_ARRAY || mer->arr.type != TL_GGUF_STRING) {
        tl_errorf(err, errlen, "tokenizer.ggml.tokens and tokenizer.ggml.merges must be string arrays");
        return NULL;
    }
    if (typ && (typ->type != TL_GGUF_ARRAY || typ->arr.type != TL_GGUF_INT32 || typ->arr.n != tok->arr.n)) {
        tl_errorf(err, errlen, "tokenizer.ggml.token_type must be an i32 array as long as the tokens");
        return NULL;
    }
    struct tokenizer *t = new_tokenizer((int32_t)tok->arr.n);
    const struct tl_gguf_str *s = tok->arr.data;
    const int32_t *ty = typ ? typ->arr.data : NULL;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint8_t kind = ty ? (uint8_t)ty[i] : TOKEN_NORMAL;
        if (kind != TOKEN_CONTROL && kind != TOKEN_USER_DEFINED && kind != TOKEN_UNUSED) kind = TOKEN_NORMAL;
        // GGUF keeps no "special" flag: CONTROL tokens are the special ones (as in llama.cpp).
        set_token(t, i, s[i].data, s[i].len, kind, kind == TOKEN_CONTROL);
    }
    int64_t n_merges = (int64_t)mer->arr.n;
    const struct tl_gguf_str *m = mer->arr.data;
    const char **left = calloc(n_merges + 1, sizeof *left), **right = calloc(n_merges + 1, sizeof *right);
    char **split = calloc(n_merges + 1, sizeof *split);
    if (!left || !right || !split) abort();
    bool ok = true;
    for (int64_t k = 0; k < n_merges && ok; k++)
        if (!(ok = split_merge(m[k].data, &split[k], &left[k], &right[k])))
            tl_errorf(err, errlen, "tokenizer.ggml.merges[%lld] is not \"left right\"", (long long)k);
    ok = ok && tokenizer_finish_load(t, left, right, n_merges, err, errlen);
    for (int64_t i = 0; i < n_merges; i++) free(split[i]);
    free(split);
    free(left);
    free(right);
    if (!ok) {
        tokenizer_free(t);
        return NULL;
    }
    return t;
}
