// GGUF descriptions in memory: the type tables, metadata keys and values, tensor infos.
#include "gguf-impl.h"
#include "tl-impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const struct { const char *name; size_t size; } gguf_types[TL_GGUF_TYPE_COUNT] = {
    [TL_GGUF_UINT8] = { "u8", 1 },    [TL_GGUF_INT8] = { "i8", 1 },
    [TL_GGUF_UINT16] = { "u16", 2 },  [TL_GGUF_INT16] = { "i16", 2 },
    [TL_GGUF_UINT32] = { "u32", 4 },  [TL_GGUF_INT32] = { "i32", 4 },
    [TL_GGUF_FLOAT32] = { "f32", 4 }, [TL_GGUF_BOOL] = { "bool", 1 },
    [TL_GGUF_STRING] = { "str", 0 },  [TL_GGUF_ARRAY] = { "arr", 0 },
    [TL_GGUF_UINT64] = { "u64", 8 },  [TL_GGUF_INT64] = { "i64", 8 },
    [TL_GGUF_FLOAT64] = { "f64", 8 },
};

const char *tl_gguf_type_name(enum tl_gguf_type type) {
    return (unsigned)type < TL_GGUF_TYPE_COUNT ? gguf_types[type].name : "?";
}

size_t tl_gguf_type_size(enum tl_gguf_type type) {
    return (unsigned)type < TL_GGUF_TYPE_COUNT ? gguf_types[type].size : 0;
}

// ggml's type numbers, block sizes and block bytes (ggml.h / ggml-common.h). Numbers
// that ggml retired (4, 5, 31-33, 36-38) are absent, so such files are refused.
static const struct tl_ggml_type_info ggml_types[] = {
    [0] = { "f32", 1, 4 },         [1] = { "f16", 1, 2 },
    [2] = { "q4_0", 32, 18 },      [3] = { "q4_1", 32, 20 },
    [6] = { "q5_0", 32, 22 },      [7] = { "q5_1", 32, 24 },
    [8] = { "q8_0", 32, 34 },      [9] = { "q8_1", 32, 36 },
    [10] = { "q2_K", 256, 84 },    [11] = { "q3_K", 256, 110 },
    [12] = { "q4_K", 256, 144 },   [13] = { "q5_K", 256, 176 },
    [14] = { "q6_K", 256, 210 },   [15] = { "q8_K", 256, 292 },
    [16] = { "iq2_xxs", 256, 66 }, [17] = { "iq2_xs", 256, 74 },
    [18] = { "iq3_xxs", 256, 98 }, [19] = { "iq1_s", 256, 50 },
    [20] = { "iq4_nl", 32, 18 },   [21] = { "iq3_s", 256, 110 },
    [22] = { "iq2_s", 256, 82 },   [23] = { "iq4_xs", 256, 136 },
    [24] = { "i8", 1, 1 },         [25] = { "i16", 1, 2 },
    [26] = { "i32", 1, 4 },        [27] = { "i64", 1, 8 },
    [28] = { "f64", 1, 8 },        [29] = { "iq1_m", 256, 56 },
    [30] = { "bf16", 1, 2 },       [34] = { "tq1_0", 256, 54 },
    [35] = { "tq2_0", 256, 66 },   [39] = { "mxfp4", 32, 17 },
};

const struct tl_ggml_type_info *tl_ggml_type_info(uint32_t t) {
    if (t >= sizeof ggml_types / sizeof ggml_types[0] || !ggml_types[t].name) return NULL;
    return &ggml_types[t];
}

// ---------------------------------------------------------------------------------------
// Arena

void *gguf_arena_alloc(struct tl_gguf *g, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct gguf_arena_chunk *c = g->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        c = malloc(sizeof *c + cap);
        TL_ASSERT(c && "out of memory");
        c->used = 0;
        c->cap = cap;
        c->next = g->arena;
        g->arena = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

char *gguf_arena_strndup(struct tl_gguf *g, const char *s, size_t n) {
    char *p = gguf_arena_alloc(g, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

// ---------------------------------------------------------------------------------------
// The description

struct tl_gguf *tl_gguf_new(void) {
    struct tl_gguf *g = calloc(1, sizeof *g);
    TL_ASSERT(g && "out of memory");
    g->version = 3;
    g->alignment = TL_GGUF_DEFAULT_ALIGNMENT;
    return g;
}

void tl_gguf_free(struct tl_gguf *g) {
    if (!g) return;
    for (struct gguf_arena_chunk *c = g->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    if (g->map) munmap(g->map, g->map_size);
    free(g->kv);
    free(g->tensors);
    free(g);
}

uint32_t tl_gguf_version(const struct tl_gguf *g) { return g->version; }
size_t tl_gguf_alignment(const struct tl_gguf *g) { return g->alignment; }
uint64_t tl_gguf_data_offset(const struct tl_gguf *g) { return g->data_offset; }
uint64_t tl_gguf_file_size(const struct tl_gguf *g) { return g->file_size; }

struct gguf_kv *gguf_append_kv(struct tl_gguf *g) {
    if (g->n_kv == g->cap_kv) {
        g->cap_kv = g->cap_kv ? 2 * g->cap_kv : 32;
        g->kv = realloc(g->kv, g->cap_kv * sizeof *g->kv);
        TL_ASSERT(g->kv && "out of memory");
    }
    struct gguf_kv *kv = &g->kv[g->n_kv++];
    memset(kv, 0, sizeof *kv);
    return kv;
}

struct tl_gguf_tensor_info *gguf_append_tensor(struct tl_gguf *g) {
    if (g->n_tensors == g->cap_tensors) {
        g->cap_tensors = g->cap_tensors ? 2 * g->cap_tensors : 64;
        g->tensors = realloc(g->tensors, g->cap_tensors * sizeof *g->tensors);
        TL_ASSERT(g->tensors && "out of memory");
    }
    struct tl_gguf_tensor_info *t = &g->tensors[g->n_tensors++];
    memset(t, 0, sizeof *t);
    return t;
}

int64_t tl_gguf_n_kv(const struct tl_gguf *g) { return g->n_kv; }

const char *tl_gguf_kv_key(const struct tl_gguf *g, int64_t i) {
    TL_ASSERT(i >= 0 && i < g->n_kv);
    return g->kv[i].key.data;
}

const struct tl_gguf_value *tl_gguf_kv_value(const struct tl_gguf *g, int64_t i) {
    TL_ASSERT(i >= 0 && i < g->n_kv);
    return &g->kv[i].value;
}

int64_t tl_gguf_find_key(const struct tl_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key.data, key)) return i;
    return -1;
}

const struct tl_gguf_value *tl_gguf_get(const struct tl_gguf *g, const char *key) {
    int64_t i = tl_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i].value;
}

size_t gguf_alignment_from_kv(const struct tl_gguf *g, char *err, size_t errlen) {
    const struct tl_gguf_value *v = tl_gguf_get(g, "general.alignment");
    if (!v) return TL_GGUF_DEFAULT_ALIGNMENT;
    if (v->type != TL_GGUF_UINT32) {
        tl_errorf(err, errlen, "general.alignment has type %s, expected u32", tl_gguf_type_name(v->type));
        return 0;
    }
    if (v->u32 == 0 || (v->u32 & (v->u32 - 1))) {
        tl_errorf(err, errlen, "general.alignment = %u is not a power of two", v->u32);
        return 0;
    }
    return v->u32;
}

// ---------------------------------------------------------------------------------------
// Setting values (deep copies into the arena)

static void copy_value(struct tl_gguf *g, struct tl_gguf_value *dst, const struct tl_gguf_value *src) {
    *dst = *src;
    if (src->type == TL_GGUF_STRING) {
        dst->str.data = gguf_arena_strndup(g, src->str.data, src->str.len);
    } else if (src->type == TL_GGUF_ARRAY) {
        uint64_t n = src->arr.n;
        if (src->arr.type == TL_GGUF_STRING) {
            struct tl_gguf_str *s = gguf_arena_alloc(g, n * sizeof *s + 1);
            const struct tl_gguf_str *from = src->arr.data;
            for (uint64_t i = 0; i < n; i++) {
                s[i].len = from[i].len;
                s[i].data = gguf_arena_strndup(g, from[i].data, from[i].len);
            }
            dst->arr.data = s;
        } else if (src->arr.type == TL_GGUF_ARRAY) {
            struct tl_gguf_value *a = gguf_arena_alloc(g, n * sizeof *a + 1);
            const struct tl_gguf_value *from = src->arr.data;
            for (uint64_t i = 0; i < n; i++) copy_value(g, &a[i], &from[i]);
            dst->arr.data = a;
        } else {
            size_t bytes = n * tl_gguf_type_size(src->arr.type);
            void *d = gguf_arena_alloc(g, bytes + 1);
            if (bytes) memcpy(d, src->arr.data, bytes);
            dst->arr.data = d;
        }
    }
}

void tl_gguf_set_value(struct tl_gguf *g, const char *key, const struct tl_gguf_value *v) {
    TL_ASSERT((unsigned)v->type < TL_GGUF_TYPE_COUNT);
    int64_t i = tl_gguf_find_key(g, key);
    struct gguf_kv *kv;
    if (i >= 0) {
        kv = &g->kv[i];   // the old value stays in the arena until the description is freed
    } else {
        kv = gguf_append_kv(g);
        kv->key.len = strlen(key);
        kv->key.data = gguf_arena_strndup(g, key, kv->key.len);
    }
    copy_value(g, &kv->value, v);
    if (!strcmp(key, "general.alignment")) {
        size_t a = gguf_alignment_from_kv(g, NULL, 0);
        if (a) g->alignment = a;
    }
}

#define GGUF_SETTER(fn, ctype, tag, field)                                   \
    void fn(struct tl_gguf *g, const char *key, ctype v) {                   \
        struct tl_gguf_value val = { .type = tag };                          \
        val.field = v;                                                       \
        tl_gguf_set_value(g, key, &val);                                     \
    }
GGUF_SETTER(tl_gguf_set_u8, uint8_t, TL_GGUF_UINT8, u8)
GGUF_SETTER(tl_gguf_set_i8, int8_t, TL_GGUF_INT8, i8)
GGUF_SETTER(tl_gguf_set_u16, uint16_t, TL_GGUF_UINT16, u16)
GGUF_SETTER(tl_gguf_set_i16, int16_t, TL_GGUF_INT16, i16)
GGUF_SETTER(tl_gguf_set_u32, uint32_t, TL_GGUF_UINT32, u32)
GGUF_SETTER(tl_gguf_set_i32, int32_t, TL_GGUF_INT32, i32)
GGUF_SETTER(tl_gguf_set_u64, uint64_t, TL_GGUF_UINT64, u64)
GGUF_SETTER(tl_gguf_set_i64, int64_t, TL_GGUF_INT64, i64)
GGUF_SETTER(tl_gguf_set_f32, float, TL_GGUF_FLOAT32, f32)
GGUF_SETTER(tl_gguf_set_f64, double, TL_GGUF_FLOAT64, f64)
GGUF_SETTER(tl_gguf_set_bool, bool, TL_GGUF_BOOL, b)
#undef GGUF_SETTER

void tl_gguf_set_str(struct tl_gguf *g, const char *key, const char *s) {
    struct tl_gguf_value v = { .type = TL_GGUF_STRING, .str = { s, strlen(s) } };
    tl_gguf_set_value(g, key, &v);
}

void tl_gguf_set_arr_data(struct tl_gguf *g, const char *key, enum tl_gguf_type elem_type,
                          const void *data, uint64_t n) {
    TL_ASSERT(tl_gguf_type_size(elem_type) > 0 && "set_arr_data takes scalar elements");
    struct tl_gguf_value v = { .type = TL_GGUF_ARRAY, .arr = { elem_type, n, data } };
    tl_gguf_set_value(g, key, &v);
}

void tl_gguf_set_arr_str(struct tl_gguf *g, const char *key, const char *const *strs, uint64_t n) {
    struct tl_gguf_str *s = malloc((n ? n : 1) * sizeof *s);
    TL_ASSERT(s && "out of memory");
    for (uint64_t i = 0; i < n; i++) s[i] = (struct tl_gguf_str){ strs[i], strlen(strs[i]) };
    struct tl_gguf_value v = { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_STRING, n, s } };
    tl_gguf_set_value(g, key, &v);
    free(s);
}

// ---------------------------------------------------------------------------------------
// Formatting

static void format_scalar(enum tl_gguf_type t, const void *p, char *buf, size_t n) {
    switch (t) {
    case TL_GGUF_UINT8:   snprintf(buf, n, "%u", *(const uint8_t *)p); break;
    case TL_GGUF_INT8:    snprintf(buf, n, "%d", *(const int8_t *)p); break;
    case TL_GGUF_UINT16:  snprintf(buf, n, "%u", *(const uint16_t *)p); break;
    case TL_GGUF_INT16:   snprintf(buf, n, "%d", *(const int16_t *)p); break;
    case TL_GGUF_UINT32:  snprintf(buf, n, "%u", *(const uint32_t *)p); break;
    case TL_GGUF_INT32:   snprintf(buf, n, "%d", *(const int32_t *)p); break;
    case TL_GGUF_UINT64:  snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case TL_GGUF_INT64:   snprintf(buf, n, "%lld", (long long)*(const int64_t *)p); break;
    case TL_GGUF_FLOAT32: snprintf(buf, n, "%g", *(const float *)p); break;
    case TL_GGUF_FLOAT64: snprintf(buf, n, "%g", *(const double *)p); break;
    case TL_GGUF_BOOL:    snprintf(buf, n, "%s", *(const bool *)p ? "true" : "false"); break;
    default:              snprintf(buf, n, "?"); break;
    }
}

// Appends to buf at *pos, never past n.
static void append(char *buf, size_t n, size_t *pos, const char *s) {
    size_t len = strlen(s);
    if (*pos + 1 >= n) return;
    size_t room = n - 1 - *pos;
    if (len > room) len = room;
    memcpy(buf + *pos, s, len);
    *pos += len;
    buf[*pos] = 0;
}

static void format_string(const struct tl_gguf_str *s, char *buf, size_t n) {
    // Quoted, control characters escaped, long strings cut.
    size_t pos = 0;
    append(buf, n, &pos, "\"");
    for (uint64_t i = 0; i < s->len && i < 60; i++) {
        unsigned char c = (unsigned char)s->data[i];
        char tmp[8];
        if (c == '\n') snprintf(tmp, sizeof tmp, "\\n");
        else if (c == '"' || c == '\\') snprintf(tmp, sizeof tmp, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) snprintf(tmp, sizeof tmp, "\\x%02x", c);
        else snprintf(tmp, sizeof tmp, "%c", c);
        append(buf, n, &pos, tmp);
    }
    append(buf, n, &pos, s->len > 60 ? "\"..." : "\"");
}

void tl_gguf_value_format(const struct tl_gguf_value *v, char *buf, size_t n) {
    if (!n) return;
    buf[0] = 0;
    if (v->type == TL_GGUF_STRING) {
        format_string(&v->str, buf, n);
    } else if (v->type == TL_GGUF_ARRAY) {
        size_t pos = 0;
        char head[48], item[128];
        snprintf(head, sizeof head, "%s[%llu] [", tl_gguf_type_name(v->arr.type), (unsigned long long)v->arr.n);
        append(buf, n, &pos, head);
        uint64_t shown = v->arr.n < 8 ? v->arr.n : 8;
        for (uint64_t i = 0; i < shown; i++) {
            if (v->arr.type == TL_GGUF_STRING)
                format_string(&((const struct tl_gguf_str *)v->arr.data)[i], item, sizeof item);
            else if (v->arr.type == TL_GGUF_ARRAY)
                tl_gguf_value_format(&((const struct tl_gguf_value *)v->arr.data)[i], item, sizeof item);
            else
                format_scalar(v->arr.type, (const char *)v->arr.data + i * tl_gguf_type_size(v->arr.type),
                              item, sizeof item);
            append(buf, n, &pos, i ? ", " : "");
            append(buf, n, &pos, item);
        }
        append(buf, n, &pos, v->arr.n > shown ? ", ...]" : "]");
    } else {
        format_scalar(v->type, &v->u8, buf, n);
    }
}

// ---------------------------------------------------------------------------------------
// Tensors

int64_t tl_gguf_n_tensors(const struct tl_gguf *g) { return g->n_tensors; }

const struct tl_gguf_tensor_info *tl_gguf_tensor(const struct tl_gguf *g, int64_t i) {
    TL_ASSERT(i >= 0 && i < g->n_tensors);
    return &g->tensors[i];
}

int64_t tl_gguf_find_tensor(const struct tl_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return i;
    return -1;
}

void tl_gguf_set_tensor_data(struct tl_gguf *g, int64_t i, const void *data) {
    TL_ASSERT(i >= 0 && i < g->n_tensors);
    g->tensors[i].data = data;
}

uint64_t tl_gguf_tensor_nbytes(uint32_t type, uint32_t n_dims, const int64_t *ne, char *err, size_t errlen) {
    const struct tl_ggml_type_info *ti = tl_ggml_type_info(type);
    if (!ti) {
        tl_errorf(err, errlen, "unknown ggml type %u", type);
        return 0;
    }
    if (n_dims < 1 || n_dims > TL_GGUF_MAX_DIMS) {
        tl_errorf(err, errlen, "%u dimensions (1 to %d allowed)", n_dims, TL_GGUF_MAX_DIMS);
        return 0;
    }
    uint64_t nel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0) {
            tl_errorf(err, errlen, "dimension %u is negative (%lld)", d, (long long)ne[d]);
            return 0;
        }
        if (ne[d] && nel > (uint64_t)INT64_MAX / (uint64_t)ne[d]) {
            tl_errorf(err, errlen, "element count overflows");
            return 0;
        }
        nel *= (uint64_t)ne[d];
    }
    if (ne[0] % ti->block_size) {
        tl_errorf(err, errlen, "ne[0] = %lld is not a multiple of the %s block size %lld", (long long)ne[0],
                  ti->name, (long long)ti->block_size);
        return 0;
    }
    uint64_t blocks = nel / (uint64_t)ti->block_size;
    if (blocks > UINT64_MAX / 2 / ti->type_size) {
        tl_errorf(err, errlen, "byte size overflows");
        return 0;
    }
    return blocks * ti->type_size;
}

int64_t tl_gguf_add_tensor(struct tl_gguf *g, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, char *err, size_t errlen) {
    size_t len = strlen(name);
    if (len == 0 || len >= TL_GGUF_MAX_NAME) {
        tl_errorf(err, errlen, "tensor name '%s' must have 1 to %d bytes", name, TL_GGUF_MAX_NAME - 1);
        return -1;
    }
    if (tl_gguf_find_tensor(g, name) >= 0) {
        tl_errorf(err, errlen, "duplicate tensor name '%s'", name);
        return -1;
    }
    char why[160] = "";
    uint64_t bytes = tl_gguf_tensor_nbytes(type, n_dims, ne, why, sizeof why);
    if (why[0]) {
        tl_errorf(err, errlen, "tensor '%s': %s", name, why);
        return -1;
    }
    struct tl_gguf_tensor_info *t = gguf_append_tensor(g);
    memcpy(t->name, name, len + 1);
    t->n_dims = n_dims;
    for (int d = 0; d < TL_GGUF_MAX_DIMS; d++) t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->type = type;
    t->offset = gguf_pad(g->data_size, g->alignment);
    t->size = bytes;
    g->data_size = t->offset + bytes;
    return g->n_tensors - 1;
}
