// Parsing a GGUF file image. Every read goes through a cursor that knows where the image
// ends, and every count is checked against the bytes left before anything is allocated,
// so a file that lies about a size costs an error message, not memory or a crash.
#include "gguf-impl.h"
#include "tl-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct cursor {
    const uint8_t *base;
    uint64_t pos, size;
    char *err;
    size_t errlen;
    bool failed;
};

static bool fail(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct cursor *c, const char *fmt, ...) {
    if (c->failed) return false;   // keep the first, most precise message
    c->failed = true;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    tl_errorf(c->err, c->errlen, "%s (at byte %llu of %llu)", what, (unsigned long long)c->pos,
              (unsigned long long)c->size);
    return false;
}

static uint64_t left(const struct cursor *c) { return c->size - c->pos; }

static bool read_bytes(struct cursor *c, void *dst, uint64_t n, const char *what) {
    if (n > left(c)) return fail(c, "file ends inside %s", what);
    memcpy(dst, c->base + c->pos, n);
    c->pos += n;
    return true;
}

static bool read_u32(struct cursor *c, uint32_t *v, const char *what) { return read_bytes(c, v, 4, what); }
static bool read_u64(struct cursor *c, uint64_t *v, const char *what) { return read_bytes(c, v, 8, what); }

// A string: u64 length, then the bytes. The copy is NUL-terminated.
static bool read_str(struct cursor *c, struct tl_gguf *g, struct tl_gguf_str *s, const char *what) {
    uint64_t len = 0;
    if (!read_u64(c, &len, what)) return false;
    if (len > left(c)) return fail(c, "%s claims %llu bytes but only %llu remain", what,
                                   (unsigned long long)len, (unsigned long long)left(c));
    s->len = len;
    s->data = gguf_arena_strndup(g, (const char *)c->base + c->pos, len);
    c->pos += len;
    return true;
}

static bool read_value(struct cursor *c, struct tl_gguf *g, struct tl_gguf_value *v, uint32_t type,
                       int depth, const char *key);

// The fewest bytes one element of this type can take in the file.
static uint64_t min_elem_bytes(uint32_t type) {
    if (type == TL_GGUF_STRING) return 8;        // the length
    if (type == TL_GGUF_ARRAY) return 4 + 8;     // element type + count
    return tl_gguf_type_size(type);
}

static bool read_array(struct cursor *c, struct tl_gguf *g, struct tl_gguf_value *v, int depth, const char *key) {
    uint32_t et = 0;
    uint64_t n = 0;
    if (!read_u32(c, &et, "an array's element type") || !read_u64(c, &n, "an array's length")) return false;
    if (et >= TL_GGUF_TYPE_COUNT) return fail(c, "key '%s': unknown array element type %u", key, et);
    if (depth + 1 > TL_GGUF_MAX_ARRAY_DEPTH)
        return fail(c, "key '%s': arrays nested deeper than %d", key, TL_GGUF_MAX_ARRAY_DEPTH);
    if (n > left(c) / min_elem_bytes(et))
        return fail(c, "key '%s': array of %llu %s elements cannot fit in the %llu bytes left", key,
                    (unsigned long long)n, tl_gguf_type_name(et), (unsigned long long)left(c));
    v->type = TL_GGUF_ARRAY;
    v->arr.type = et;
    v->arr.n = n;
    if (et == TL_GGUF_STRING) {
        struct tl_gguf_str *s = gguf_arena_alloc(g, n * sizeof *s + 1);
        for (uint64_t i = 0; i < n; i++)
            if (!read_str(c, g, &s[i], "a string in an array")) return false;
        v->arr.data = s;
    } else if (et == TL_GGUF_ARRAY) {
        struct tl_gguf_value *a = gguf_arena_alloc(g, n * sizeof *a + 1);
        for (uint64_t i = 0; i < n; i++)
            if (!read_value(c, g, &a[i], TL_GGUF_ARRAY, depth + 1, key)) return false;
        v->arr.data = a;
    } else {
        uint64_t bytes = n * tl_gguf_type_size(et);
        uint8_t *d = gguf_arena_alloc(g, bytes + 1);
        if (!read_bytes(c, d, bytes, "an array")) return false;
        if (et == TL_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (d[i] > 1) return fail(c, "key '%s': bool array element %llu is %u", key, (unsigned long long)i, d[i]);
        v->arr.data = d;
    }
    return true;
}

static bool read_value(struct cursor *c, struct tl_gguf *g, struct tl_gguf_value *v, uint32_t type,
                       int depth, const char *key) {
    memset(v, 0, sizeof *v);
    v->type = (enum tl_gguf_type)type;
    if (type == TL_GGUF_STRING) return read_str(c, g, &v->str, "a string value");
    if (type == TL_GGUF_ARRAY) return read_array(c, g, v, depth, key);
    if (!read_bytes(c, &v->u8, tl_gguf_type_size(type), "a value")) return false;
    if (type == TL_GGUF_BOOL && v->u8 > 1) return fail(c, "key '%s': bool value is %u", key, v->u8);
    return true;
}

static bool read_header_and_kv(struct cursor *c, struct tl_gguf *g, uint64_t *n_tensors) {
    char magic[4];
    if (!read_bytes(c, magic, 4, "the magic")) return false;
    if (memcmp(magic, "GGUF", 4)) return fail(c, "not a GGUF file (magic is not \"GGUF\")");
    uint32_t version = 0;
    uint64_t n_kv = 0;
    if (!read_u32(c, &version, "the version")) return false;
    if ((version & 0xffff) == 0 && version)
        return fail(c, "big-endian GGUF (version field 0x%08x) is not supported", version);
    if (version == 1) return fail(c, "GGUF version 1 is not supported (32-bit counts); re-convert the model");
    if (version != 2 && version != 3) return fail(c, "unsupported GGUF version %u (expected 3)", version);
    g->version = version;
    if (!read_u64(c, n_tensors, "the tensor count") || !read_u64(c, &n_kv, "the metadata count")) return false;
    // A key takes at least 8 (length) + 4 (type) + 1 bytes; a tensor info at least 8 + 4 + 8 + 4 + 8.
    if (n_kv > left(c) / 13) return fail(c, "metadata count %llu cannot fit in the file", (unsigned long long)n_kv);
    if (*n_tensors > left(c) / 32)
        return fail(c, "tensor count %llu cannot fit in the file", (unsigned long long)*n_tensors);

    for (uint64_t i = 0; i < n_kv; i++) {
        struct tl_gguf_str key;
        if (!read_str(c, g, &key, "a metadata key")) return false;
        if (key.len == 0 || strlen(key.data) != key.len)
            return fail(c, "metadata key %llu is empty or holds a NUL byte", (unsigned long long)i);
        if (tl_gguf_find_key(g, key.data) >= 0) return fail(c, "duplicate metadata key '%s'", key.data);
        uint32_t type = 0;
        if (!read_u32(c, &type, "a value type")) return false;
        if (type >= TL_GGUF_TYPE_COUNT) return fail(c, "key '%s' has unknown value type %u", key.data, type);
        struct gguf_kv *kv = gguf_append_kv(g);
        kv->key = key;
        if (!read_value(c, g, &kv->value, type, 0, key.data)) return false;
    }
    char why[200] = "";
    g->alignment = gguf_alignment_from_kv(g, why, sizeof why);
    if (!g->alignment) return fail(c, "%s", why);
    return true;
}

static int cmp_by_offset(const void *a, const void *b) {
    const struct tl_gguf_tensor_info *x = *(const struct tl_gguf_tensor_info *const *)a;
    const struct tl_gguf_tensor_info *y = *(const struct tl_gguf_tensor_info *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static bool read_tensor_infos(struct cursor *c, struct tl_gguf *g, uint64_t n_tensors) {
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct tl_gguf_str name;
        if (!read_str(c, g, &name, "a tensor name")) return false;
        if (name.len == 0 || name.len >= TL_GGUF_MAX_NAME || strlen(name.data) != name.len)
            return fail(c, "tensor %llu: name must have 1 to %d bytes and no NUL", (unsigned long long)i,
                        TL_GGUF_MAX_NAME - 1);
        if (tl_gguf_find_tensor(g, name.data) >= 0) return fail(c, "duplicate tensor name '%s'", name.data);
        struct tl_gguf_tensor_info *t = gguf_append_tensor(g);
        memcpy(t->name, name.data, name.len + 1);
        if (!read_u32(c, &t->n_dims, "a tensor's dimension count")) return false;
        if (t->n_dims < 1 || t->n_dims > TL_GGUF_MAX_DIMS)
            return fail(c, "tensor '%s' has %u dimensions (1 to %d allowed)", t->name, t->n_dims, TL_GGUF_MAX_DIMS);
        for (int d = 0; d < TL_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if (!read_bytes(c, &t->ne[d], 8, "a tensor's dimensions")) return false;
        if (!read_u32(c, &t->type, "a tensor's type") || !read_u64(c, &t->offset, "a tensor's offset")) return false;
        char why[200] = "";
        t->size = tl_gguf_tensor_nbytes(t->type, t->n_dims, t->ne, why, sizeof why);
        if (why[0]) return fail(c, "tensor '%s': %s", t->name, why);
        if (t->offset % g->alignment)
            return fail(c, "tensor '%s': offset %llu is not a multiple of the alignment %zu", t->name,
                        (unsigned long long)t->offset, g->alignment);
    }
    g->data_offset = gguf_pad(c->pos, g->alignment);
    uint64_t data_bytes = c->size >= g->data_offset ? c->size - g->data_offset : 0;
    if (n_tensors && c->size < g->data_offset) return fail(c, "file ends before its data section");

    // Every tensor inside the data section, none overlapping another.
    const struct tl_gguf_tensor_info **order = malloc((n_tensors ? n_tensors : 1) * sizeof *order);
    TL_ASSERT(order && "out of memory");
    for (uint64_t i = 0; i < n_tensors; i++) order[i] = &g->tensors[i];
    qsort(order, n_tensors, sizeof *order, cmp_by_offset);
    uint64_t end = 0;
    bool ok = true;
    for (uint64_t i = 0; i < n_tensors && ok; i++) {
        const struct tl_gguf_tensor_info *t = order[i];
        if (t->offset > data_bytes || t->size > data_bytes - t->offset)
            ok = fail(c, "tensor '%s' (%llu bytes at data offset %llu) extends past the end of the file; "
                         "the file is truncated or corrupt", t->name, (unsigned long long)t->size,
                      (unsigned long long)t->offset);
        else if (i && t->offset < end)
            ok = fail(c, "tensor '%s' overlaps tensor '%s'", t->name, order[i - 1]->name);
        else
            end = t->offset + t->size;
    }
    free(order);
    if (!ok) return false;
    g->data_size = end;
    for (uint64_t i = 0; i < n_tensors; i++) g->tensors[i].data = c->base + g->data_offset + g->tensors[i].offset;
    return true;
}

struct tl_gguf *tl_gguf_open_memory(const void *data, size_t size, char *err, size_t errlen) {
    struct tl_gguf *g = tl_gguf_new();
    struct cursor c = { .base = data, .size = size, .err = err, .errlen = errlen };
    uint64_t n_tensors = 0;
    if (!read_header_and_kv(&c, g, &n_tensors) || !read_tensor_infos(&c, g, n_tensors)) {
        tl_gguf_free(g);
        return NULL;
    }
    g->file_size = size;
    return g;
}

struct tl_gguf *tl_gguf_open(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tl_errorf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        tl_errorf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size < 24) {
        tl_errorf(err, errlen, "%s: %lld bytes is too small for a GGUF file", path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        tl_errorf(err, errlen, "%s: mmap failed: %s", path, strerror(errno));
        return NULL;
    }
    char why[512] = "";
    struct tl_gguf *g = tl_gguf_open_memory(map, (size_t)st.st_size, why, sizeof why);
    if (!g) {
        tl_errorf(err, errlen, "%s: %s", path, why);
        munmap(map, (size_t)st.st_size);
        return NULL;
    }
    g->map = map;
    g->map_size = (size_t)st.st_size;
    return g;
}
