// Encoding and decoding (see tokenizer.h).
#include "tokenizer-impl.h"
#include "tl.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int32_t tokenizer_n_vocab(const struct tokenizer *t) { return t->n_vocab; }

const char *tokenizer_token_text(const struct tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->text[id] : NULL;
}

bool tokenizer_is_special(const struct tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->special[id];
}

int tokenizer_token_kind(const struct tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->kind[id] : 0;
}

int64_t tokenizer_n_merges(const struct tokenizer *t) { return t->n_merges; }

bool tokenizer_merge(const struct tokenizer *t, int64_t rank, int32_t *left, int32_t *right) {
    if (rank < 0 || rank >= t->n_merges) return false;
    *left = t->merge_list[rank][0];
    *right = t->merge_list[rank][1];
    return true;
}

int32_t tokenizer_find(const struct tokenizer *t, const char *text) {
    return str_map_get(&t->vocab, t->text, t->text_len, text, strlen(text));
}

// ---------------------------------------------------------------------------------------
// UTF-8

// Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not valid; *prefix gets
// how many bytes form the longest valid prefix of a sequence (the "maximal subpart").
static int utf8_valid_len(const uint8_t *p, size_t n, int *prefix) {
    uint8_t c = p[0];
    int need;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c < 0x80) return *prefix = 1, 1;
    if (c >= 0xc2 && c <= 0xdf) need = 2;
    else if (c >= 0xe0 && c <= 0xef) need = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) need = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return *prefix = 1, 0;
    int k = 1;
    for (; k < need && (size_t)k < n; k++) {
        uint8_t b = p[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) break;
    }
    *prefix = k;
    return k == need ? need : 0;
}

char *utf8_lossy(const uint8_t *p, size_t n, size_t *out_len) {
    char *out = malloc(n * 3 + 1);   // each bad byte becomes at most 3 bytes
    if (!out) abort();
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int prefix, l = utf8_valid_len(p + i, n - i, &prefix);
        if (l) {
            memcpy(out + o, p + i, (size_t)l);
            o += (size_t)l;
            i += (size_t)l;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += (size_t)prefix;
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

// ---------------------------------------------------------------------------------------
// BPE on one pre-tokenized piece, with a heap of candidate merges

struct cand {
    int32_t rank, left;   // left symbol index
    int32_t left_id, right_id;
};

static bool cand_less(const struct cand *a, const struct cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

struct bpe_scratch {
    int32_t *id, *prev, *next;
    struct cand *heap;
    size_t cap, heap_n;
};

static void heap_push(struct bpe_scratch *s, struct cand c) {
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = c;
}

static struct cand heap_pop(struct bpe_scratch *s) {
    struct cand top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_n) break;
        if (c + 1 < s->heap_n && cand_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!cand_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_n) s->heap[i] = last;
    return top;
}

static bool merge_of(const struct tokenizer *t, int32_t a, int32_t b, int32_t *rank, int32_t *merged) {
    uint64_t key = pair_key(a, b);
    for (uint64_t i = pair_hash(key) & t->merges.mask;; i = (i + 1) & t->merges.mask) {
        if (!t->merges.keys[i]) return false;
        if (t->merges.keys[i] == key) {
            *rank = t->merges.rank[i];
            *merged = t->merges.merged[i];
            return true;
        }
    }
}

static void push_pair(const struct tokenizer *t, struct bpe_scratch *s, int32_t left) {
    int32_t right = s->next[left], rank, merged;
    if (right < 0 || !merge_of(t, s->id[left], s->id[right], &rank, &merged)) return;
    heap_push(s, (struct cand){ rank, left, s->id[left], s->id[right] });
}

struct id_buf {
    int32_t *v;
    int64_t n, cap;
};

static void put_id(struct id_buf *b, int32_t id) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->v = realloc(b->v, (size_t)b->cap * sizeof *b->v);
        if (!b->v) abort();
    }
    b->v[b->n++] = id;
}

static void bpe_piece(const struct tokenizer *t, struct bpe_scratch *s, const uint8_t *p, size_t n, struct id_buf *out) {
    if (n > s->cap) {
        s->cap = n * 2;
        s->id = realloc(s->id, s->cap * sizeof *s->id);
        s->prev = realloc(s->prev, s->cap * sizeof *s->prev);
        s->next = realloc(s->next, s->cap * sizeof *s->next);
        s->heap = realloc(s->heap, 3 * s->cap * sizeof *s->heap);   // n-1 pairs + 2 per merge
        if (!s->id || !s->prev || !s->next || !s->heap) abort();
    }
    for (size_t i = 0; i < n; i++) {
        s->id[i] = t->byte_token[p[i]];
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    s->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(t, s, (int32_t)i);
    // The lowest-ranked pair first (leftmost among equals), as HuggingFace's BPE does.
    while (s->heap_n) {
        struct cand c = heap_pop(s);
        int32_t l = c.left, r = s->next[l], rank, merged;
        if (s->id[l] != c.left_id || r < 0 || s->id[r] != c.right_id) continue;   // stale
        if (!merge_of(t, c.left_id, c.right_id, &rank, &merged)) continue;
        s->id[l] = merged;
        s->id[r] = -1;
        s->next[l] = s->next[r];
        if (s->next[r] >= 0) s->prev[s->next[r]] = l;
        if (s->prev[l] >= 0) push_pair(t, s, s->prev[l]);
        push_pair(t, s, l);
    }
    for (int32_t i = 0; i >= 0 && n; i = s->next[i]) put_id(out, s->id[i]);
}

// ---------------------------------------------------------------------------------------
// Encoding

// NFC, then the Qwen2 split, then BPE on every piece (and on any gap between matches).
static bool encode_text(struct tokenizer *t, struct bpe_scratch *s, const uint8_t *p, size_t n, struct id_buf *out,
                        char *err, size_t errlen) {
    if (!n) return true;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map(p, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) {
        tl_errorf(err, errlen, "NFC normalisation failed: %s", utf8proc_errmsg(m));
        return false;
    }
    size_t pos = 0;
    while (pos < (size_t)m) {
        // The text is valid UTF-8 (cleaned, then NFC): skip PCRE2's check of the whole subject,
        // which on every call would make splitting quadratic.
        int rc = pcre2_match(t->re, nfc, (PCRE2_SIZE)m, pos, PCRE2_NO_UTF_CHECK, t->md, NULL);
        size_t start = (size_t)m, end = (size_t)m;
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
            start = ov[0];
            end = ov[1];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            tl_errorf(err, errlen, "pre-tokenizer match failed (PCRE2 error %d)", rc);
            free(nfc);
            return false;
        }
        if (start > pos) bpe_piece(t, s, nfc + pos, start - pos, out);   // text no alternative matched
        if (end > start) bpe_piece(t, s, nfc + start, end - start, out);
        pos = end > start ? end : start + 1;   // never loop on an empty match
        if (end == start && start < (size_t)m) bpe_piece(t, s, nfc + start, 1, out);
    }
    free(nfc);
    return true;
}

// The added token starting at p, if any (longest first).
static const struct added_token *added_at(const struct tokenizer *t, const uint8_t *p, size_t n) {
    if (!t->added_first_byte[p[0]]) return NULL;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len <= n && !memcmp(p, t->added[i].text, t->added[i].len)) return &t->added[i];
    return NULL;
}

int64_t tokenizer_encode(struct tokenizer *t, const char *text, size_t len, bool parse_special, int32_t **ids,
                         char *err, size_t errlen) {
    *ids = NULL;
    size_t clean_len;
    char *clean = utf8_lossy((const uint8_t *)text, len, &clean_len);
    const uint8_t *p = (const uint8_t *)clean;
    struct id_buf out = { 0 };
    struct bpe_scratch s = { 0 };
    bool ok = true;
    size_t seg = 0;
    for (size_t i = 0; i <= clean_len && ok;) {
        const struct added_token *a = parse_special && i < clean_len ? added_at(t, p + i, clean_len - i) : NULL;
        if (!a && i < clean_len) {
            i++;
            continue;
        }
        ok = encode_text(t, &s, p + seg, i - seg, &out, err, errlen);
        if (!a) break;
        put_id(&out, a->id);
        i += a->len;
        seg = i;
    }
    free(clean);
    free(s.id);
    free(s.prev);
    free(s.next);
    free(s.heap);
    if (!ok) {
        free(out.v);
        return -1;
    }
    *ids = out.v;
    return out.n;
}

int64_t tokenizer_count_pieces(struct tokenizer *t, const char *text, size_t len) {
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return -1;
    int64_t pieces = 0;
    for (size_t pos = 0; pos < (size_t)m; pieces++) {
        if (pcre2_match(t->re, nfc, (PCRE2_SIZE)m, pos, PCRE2_NO_UTF_CHECK, t->md, NULL) < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        pos = ov[1] > pos ? ov[1] : pos + 1;
    }
    free(nfc);
    return pieces;
}

// ---------------------------------------------------------------------------------------
// Decoding

bool tokenizer_decode(const struct tokenizer *t, const int32_t *ids, int64_t n, bool skip_special, char **out,
                      size_t *out_len, char *err, size_t errlen) {
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            tl_errorf(err, errlen, "id %d at position %lld is outside the vocabulary (0..%d)", ids[i], (long long)i,
                      t->n_vocab - 1);
            return false;
        }
        total += t->bytes_len[ids[i]];
    }
    uint8_t *raw = malloc(total + 1);
    if (!raw) abort();
    size_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (skip_special && t->special[ids[i]]) continue;
        memcpy(raw + k, t->bytes[ids[i]], t->bytes_len[ids[i]]);
        k += t->bytes_len[ids[i]];
    }
    *out = utf8_lossy(raw, k, out_len);
    free(raw);
    return true;
}

int tokenizer_stream_piece(const struct tokenizer *t, struct tokenizer_stream *s, int32_t id, bool skip_special,
                           char *out, size_t cap) {
    if (id < 0 || id >= t->n_vocab) return -1;
    if (skip_special && t->special[id]) return 0;
    size_t n = (size_t)s->n_pending + t->bytes_len[id];
    uint8_t small[256], *buf = n <= sizeof small ? small : malloc(n);
    if (!buf) abort();
    memcpy(buf, s->pending, (size_t)s->n_pending);
    memcpy(buf + s->n_pending, t->bytes[id], t->bytes_len[id]);
    // Hold back an incomplete sequence at the end: it may be completed by the next token.
    size_t keep = 0;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = buf[n - back];
        if ((c & 0xc0) == 0x80) continue;   // a continuation byte: look further back
        int prefix;
        if (c >= 0xc2 && c <= 0xf4 && !utf8_valid_len(buf + n - back, back, &prefix) && (size_t)prefix == back)
            keep = back;
        break;
    }
    size_t len;
    char *text = utf8_lossy(buf, n - keep, &len);
    memcpy(s->pending, buf + n - keep, keep);
    s->n_pending = (int)keep;
    if (buf != small) free(buf);
    int written = len < cap ? (int)len : (int)cap - 1;
    memcpy(out, text, (size_t)written);
    out[written] = 0;
    free(text);
    return written;
}

int tokenizer_stream_flush(struct tokenizer_stream *s, char *out, size_t cap) {
    size_t len;
    char *text = utf8_lossy(s->pending, (size_t)s->n_pending, &len);
    s->n_pending = 0;
    int written = len < cap ? (int)len : (int)cap - 1;
    memcpy(out, text, (size_t)written);
    out[written] = 0;
    free(text);
    return written;
}
