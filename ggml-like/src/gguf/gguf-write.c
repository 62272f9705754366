// Writing GGUF files, streamed: header, metadata and tensor infos first, then the tensor
// bytes in order as the caller produces them. The file is PATH.tmp until it is complete,
// flushed and synced; only then is it renamed to PATH.
#include "gguf-impl.h"
#include "tl-impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tl_gguf_writer {
    FILE *f;
    char path[4096], tmp_path[4096 + 8];
    size_t alignment;
    int64_t n_tensors;
    uint64_t *offsets, *sizes;   // per tensor, offsets from the data section start
    int64_t current;             // tensor receiving bytes
    uint64_t written;            // bytes of the current tensor written so far
    uint64_t data_pos;           // bytes written into the data section
    bool failed;
    char *buf;                   // stdio buffer
};

static bool put(struct tl_gguf_writer *w, const void *p, size_t n, char *err, size_t errlen) {
    if (n && fwrite(p, 1, n, w->f) != n) {
        tl_errorf(err, errlen, "%s: write failed: %s", w->tmp_path, strerror(errno));
        w->failed = true;
        return false;
    }
    return true;
}

static bool put_u32(struct tl_gguf_writer *w, uint32_t v, char *e, size_t n) { return put(w, &v, 4, e, n); }
static bool put_u64(struct tl_gguf_writer *w, uint64_t v, char *e, size_t n) { return put(w, &v, 8, e, n); }

static bool put_str(struct tl_gguf_writer *w, const struct tl_gguf_str *s, char *e, size_t n) {
    return put_u64(w, s->len, e, n) && put(w, s->data, s->len, e, n);
}

static bool put_value(struct tl_gguf_writer *w, const struct tl_gguf_value *v, char *e, size_t n) {
    if (v->type == TL_GGUF_STRING) return put_str(w, &v->str, e, n);
    if (v->type != TL_GGUF_ARRAY) {
        if (v->type != TL_GGUF_BOOL) return put(w, &v->u8, tl_gguf_type_size(v->type), e, n);
        uint8_t b = v->b;   // one byte, 0 or 1, whatever the size of the C bool
        return put(w, &b, 1, e, n);
    }
    if (!put_u32(w, v->arr.type, e, n) || !put_u64(w, v->arr.n, e, n)) return false;
    if (v->arr.type == TL_GGUF_STRING) {
        for (uint64_t i = 0; i < v->arr.n; i++)
            if (!put_str(w, &((const struct tl_gguf_str *)v->arr.data)[i], e, n)) return false;
    } else if (v->arr.type == TL_GGUF_ARRAY) {
        for (uint64_t i = 0; i < v->arr.n; i++)
            if (!put_value(w, &((const struct tl_gguf_value *)v->arr.data)[i], e, n)) return false;
    } else if (v->arr.type == TL_GGUF_BOOL) {
        for (uint64_t i = 0; i < v->arr.n; i++) {
            uint8_t b = ((const bool *)v->arr.data)[i];
            if (!put(w, &b, 1, e, n)) return false;
        }
    } else {
        return put(w, v->arr.data, v->arr.n * tl_gguf_type_size(v->arr.type), e, n);
    }
    return true;
}

static bool put_zeros(struct tl_gguf_writer *w, uint64_t n, char *e, size_t errlen) {
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (!put(w, zeros, k, e, errlen)) return false;
        n -= k;
    }
    return true;
}

// Pads to the next tensor that has bytes, skipping finished (and empty) tensors.
static bool advance(struct tl_gguf_writer *w, char *err, size_t errlen) {
    while (w->current < w->n_tensors && w->written == w->sizes[w->current]) {
        w->current++;
        w->written = 0;
        if (w->current < w->n_tensors) {
            uint64_t to = w->offsets[w->current];
            if (!put_zeros(w, to - w->data_pos, err, errlen)) return false;
            w->data_pos = to;
        }
    }
    return true;
}

void tl_gguf_writer_abort(struct tl_gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    unlink(w->tmp_path);
    free(w->offsets);
    free(w->sizes);
    free(w->buf);
    free(w);
}

struct tl_gguf_writer *tl_gguf_writer_begin(const struct tl_gguf *g, const char *path, char *err, size_t errlen) {
    size_t alignment = gguf_alignment_from_kv(g, err, errlen);
    if (!alignment) return NULL;
    if (strlen(path) >= 4096) {
        tl_errorf(err, errlen, "output path too long");
        return NULL;
    }
    struct tl_gguf_writer *w = calloc(1, sizeof *w);
    TL_ASSERT(w && "out of memory");
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp_path, sizeof w->tmp_path, "%s.tmp", path);
    w->alignment = alignment;
    w->n_tensors = g->n_tensors;
    w->offsets = malloc((g->n_tensors + 1) * sizeof *w->offsets);
    w->sizes = malloc((g->n_tensors + 1) * sizeof *w->sizes);
    TL_ASSERT(w->offsets && w->sizes && "out of memory");
    uint64_t pos = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        w->offsets[i] = pos = gguf_pad(pos, alignment);
        w->sizes[i] = g->tensors[i].size;
        pos += w->sizes[i];
    }
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) {
        tl_errorf(err, errlen, "%s: cannot create: %s", w->tmp_path, strerror(errno));
        free(w->offsets);
        free(w->sizes);
        free(w);
        return NULL;
    }
    w->buf = malloc(1 << 20);
    if (w->buf) setvbuf(w->f, w->buf, _IOFBF, 1 << 20);

    bool ok = put(w, "GGUF", 4, err, errlen) && put_u32(w, 3, err, errlen) &&
              put_u64(w, (uint64_t)g->n_tensors, err, errlen) && put_u64(w, (uint64_t)g->n_kv, err, errlen);
    for (int64_t i = 0; ok && i < g->n_kv; i++)
        ok = put_str(w, &g->kv[i].key, err, errlen) && put_u32(w, g->kv[i].value.type, err, errlen) &&
             put_value(w, &g->kv[i].value, err, errlen);
    for (int64_t i = 0; ok && i < g->n_tensors; i++) {
        const struct tl_gguf_tensor_info *t = &g->tensors[i];
        struct tl_gguf_str name = { t->name, strlen(t->name) };
        ok = put_str(w, &name, err, errlen) && put_u32(w, t->n_dims, err, errlen);
        for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = put(w, &t->ne[d], 8, err, errlen);
        ok = ok && put_u32(w, t->type, err, errlen) && put_u64(w, w->offsets[i], err, errlen);
    }
    if (ok) {
        long header = ftell(w->f);
        ok = header >= 0 && put_zeros(w, gguf_pad((uint64_t)header, alignment) - (uint64_t)header, err, errlen);
    }
    w->current = 0;
    w->written = 0;
    ok = ok && advance(w, err, errlen);   // skips leading empty tensors
    if (!ok) {
        tl_gguf_writer_abort(w);
        return NULL;
    }
    return w;
}

bool tl_gguf_writer_write(struct tl_gguf_writer *w, const void *data, size_t n, char *err, size_t errlen) {
    if (w->failed) {
        tl_errorf(err, errlen, "%s: write after a failure", w->tmp_path);
        return false;
    }
    const uint8_t *p = data;
    while (n) {
        if (w->current >= w->n_tensors) {
            tl_errorf(err, errlen, "%s: %zu bytes more than the tensors described", w->tmp_path, n);
            w->failed = true;
            return false;
        }
        uint64_t room = w->sizes[w->current] - w->written;
        size_t k = n < room ? n : (size_t)room;
        if (!put(w, p, k, err, errlen)) return false;
        p += k;
        n -= k;
        w->written += k;
        w->data_pos += k;
        if (!advance(w, err, errlen)) return false;
    }
    return true;
}

int64_t tl_gguf_writer_current(const struct tl_gguf_writer *w) { return w->current; }

bool tl_gguf_writer_finish_unrenamed(struct tl_gguf_writer *w, char *tmp_path, size_t tmp_len, char *err,
                                     size_t errlen) {
    bool ok = !w->failed;
    if (ok && w->current < w->n_tensors) {
        tl_errorf(err, errlen, "%s: tensor %lld of %lld is incomplete (%llu of %llu bytes)", w->tmp_path,
                  (long long)w->current, (long long)w->n_tensors, (unsigned long long)w->written,
                  (unsigned long long)w->sizes[w->current]);
        ok = false;
    }
    // Like llama.cpp's writers, end the file on the alignment too.
    if (ok) ok = put_zeros(w, gguf_pad(w->data_pos, w->alignment) - w->data_pos, err, errlen);
    if (ok && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)) {
        tl_errorf(err, errlen, "%s: flush failed: %s", w->tmp_path, strerror(errno));
        ok = false;
    }
    if (ok) {
        int rc = fclose(w->f);
        w->f = NULL;
        if (rc != 0) {
            tl_errorf(err, errlen, "%s: close failed: %s", w->tmp_path, strerror(errno));
            ok = false;
        }
    }
    if (!ok) {
        tl_gguf_writer_abort(w);
        return false;
    }
    snprintf(tmp_path, tmp_len, "%s", w->tmp_path);
    free(w->offsets);
    free(w->sizes);
    free(w->buf);
    free(w);
    return true;
}

bool tl_gguf_writer_finish(struct tl_gguf_writer *w, char *err, size_t errlen) {
    char tmp[4096 + 8], path[4096];
    snprintf(path, sizeof path, "%s", w->path);
    if (!tl_gguf_writer_finish_unrenamed(w, tmp, sizeof tmp, err, errlen)) return false;
    if (rename(tmp, path) != 0) {
        tl_errorf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

bool tl_gguf_write_file(const struct tl_gguf *g, const char *path, char *err, size_t errlen) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].size && !g->tensors[i].data) {
            tl_errorf(err, errlen, "tensor '%s' has no data to write", g->tensors[i].name);
            return false;
        }
    struct tl_gguf_writer *w = tl_gguf_writer_begin(g, path, err, errlen);
    if (!w) return false;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!tl_gguf_writer_write(w, g->tensors[i].data, g->tensors[i].size, err, errlen)) {
            tl_gguf_writer_abort(w);
            return false;
        }
    return tl_gguf_writer_finish(w, err, errlen);
}
