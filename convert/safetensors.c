// Reading safetensors files and sharded checkpoints (see safetensors.h).
#include "safetensors.h"
#include "text-file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (100u << 20)   // the format's own limit
#define MAX_EXACT_INT    9007199254740992.0   // 2^53: JSON numbers beyond it are not exact

struct st_file {
    char *path;
    const uint8_t *base;   // the whole file
    size_t size;
    uint64_t data_start;   // 8 + header length
    bool mapped;
};

struct safetensors {
    struct st_file *files;
    int n_files;
    struct safetensors_tensor *tensors;
    int64_t n_tensors, cap_tensors;
    char **strings;        // names and dtypes, owned
    int64_t n_strings, cap_strings;
};

static const struct { const char *name; size_t size; } dtypes[] = {
    { "F32", 4 }, { "F16", 2 }, { "BF16", 2 }, { "F64", 8 }, { "I64", 8 }, { "U64", 8 },
    { "I32", 4 }, { "U32", 4 }, { "I16", 2 }, { "U16", 2 }, { "I8", 1 }, { "U8", 1 },
    { "BOOL", 1 }, { "F8_E5M2", 1 }, { "F8_E4M3", 1 },
};

bool safetensors_dtype_to_tl(const char *dtype, enum tl_type *type) {
    if (!strcmp(dtype, "F32")) *type = TL_F32;
    else if (!strcmp(dtype, "F16")) *type = TL_F16;
    else if (!strcmp(dtype, "BF16")) *type = TL_BF16;
    else if (!strcmp(dtype, "I32")) *type = TL_I32;
    else return false;
    return true;
}

const char *safetensors_dtype_from_tl(enum tl_type type) {
    switch (type) {
    case TL_F32: return "F32";
    case TL_F16: return "F16";
    case TL_BF16: return "BF16";
    case TL_I32: return "I32";
    default: return NULL;
    }
}

static const char *keep(struct safetensors *st, const char *s) {
    if (st->n_strings == st->cap_strings) {
        st->cap_strings = st->cap_strings ? 2 * st->cap_strings : 256;
        st->strings = realloc(st->strings, st->cap_strings * sizeof *st->strings);
        if (!st->strings) abort();
    }
    char *c = strdup(s);
    if (!c) abort();
    return st->strings[st->n_strings++] = c;
}

static struct safetensors_tensor *append_tensor(struct safetensors *st) {
    if (st->n_tensors == st->cap_tensors) {
        st->cap_tensors = st->cap_tensors ? 2 * st->cap_tensors : 256;
        st->tensors = realloc(st->tensors, st->cap_tensors * sizeof *st->tensors);
        if (!st->tensors) abort();
    }
    struct safetensors_tensor *t = &st->tensors[st->n_tensors++];
    memset(t, 0, sizeof *t);
    return t;
}

// A JSON number that is a non-negative integer small enough to be exact.
static bool json_uint(const cJSON *j, uint64_t *v) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= MAX_EXACT_INT) || d != (double)(uint64_t)d) return false;
    *v = (uint64_t)d;
    return true;
}

static int cmp_offset(const void *a, const void *b) {
    const struct safetensors_tensor *x = *(const struct safetensors_tensor *const *)a;
    const struct safetensors_tensor *y = *(const struct safetensors_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

// Parses the header of file f and appends its tensors.
static bool parse_file(struct safetensors *st, int fi, char *err, size_t errlen) {
    struct st_file *f = &st->files[fi];
    if (f->size < 8) {
        tl_errorf(err, errlen, "%s: %zu bytes is too small for a safetensors file", f->path, f->size);
        return false;
    }
    uint64_t hlen;
    memcpy(&hlen, f->base, 8);
    if (hlen > f->size - 8 || hlen > MAX_HEADER_BYTES) {
        tl_errorf(err, errlen, "%s: header length %llu does not fit in the file (%zu bytes); truncated or not safetensors",
             f->path, (unsigned long long)hlen, f->size);
        return false;
    }
    f->data_start = 8 + hlen;
    uint64_t data_size = f->size - f->data_start;
    cJSON *root = cJSON_ParseWithLength((const char *)f->base + 8, hlen);
    if (!root || !cJSON_IsObject(root)) {
        tl_errorf(err, errlen, "%s: the header is not a JSON object", f->path);
        cJSON_Delete(root);
        return false;
    }
    int64_t first = st->n_tensors;
    bool ok = true;
    for (const cJSON *e = root->child; e && ok; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
            cJSON_GetArraySize(offs) != 2) {
            tl_errorf(err, errlen, "%s: entry '%s' needs \"dtype\", \"shape\" and two \"data_offsets\"", f->path, e->string);
            ok = false;
            break;
        }
        size_t esize = 0;
        for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++)
            if (!strcmp(dt->valuestring, dtypes[k].name)) esize = dtypes[k].size;
        if (!esize) {
            tl_errorf(err, errlen, "%s: tensor '%s' has unknown dtype '%s'", f->path, e->string, dt->valuestring);
            ok = false;
            break;
        }
        struct safetensors_tensor *t = append_tensor(st);
        t->name = keep(st, e->string);
        t->dtype = keep(st, dt->valuestring);
        t->is_float = safetensors_dtype_to_tl(t->dtype, &t->type) && t->type != TL_I32;
        t->file = fi;
        t->n_dims = cJSON_GetArraySize(shape);
        if (t->n_dims > SAFETENSORS_MAX_DIMS) {
            tl_errorf(err, errlen, "%s: tensor '%s' has %d dimensions (at most %d)", f->path, t->name, t->n_dims,
                 SAFETENSORS_MAX_DIMS);
            ok = false;
            break;
        }
        uint64_t nel = 1;
        int d = 0;
        for (const cJSON *s = shape->child; s && ok; s = s->next, d++) {
            uint64_t v;
            if (!json_uint(s, &v)) {
                tl_errorf(err, errlen, "%s: tensor '%s': dimension %d is not a non-negative integer", f->path, t->name, d);
                ok = false;
            } else if (v && nel > (uint64_t)INT64_MAX / esize / v) {
                tl_errorf(err, errlen, "%s: tensor '%s': size overflows", f->path, t->name);
                ok = false;
            } else {
                t->shape[d] = (int64_t)v;
                nel *= v;
            }
        }
        if (!ok) break;
        uint64_t begin, end;
        if (!json_uint(offs->child, &begin) || !json_uint(offs->child->next, &end) || begin > end ||
            end > data_size) {
            tl_errorf(err, errlen, "%s: tensor '%s': data_offsets lie outside the %llu data bytes; the file is "
                              "truncated or corrupt", f->path, t->name, (unsigned long long)data_size);
            ok = false;
            break;
        }
        t->n_elements = (int64_t)nel;
        t->nbytes = end - begin;
        if (t->nbytes != nel * esize) {
            tl_errorf(err, errlen, "%s: tensor '%s': %llu bytes for %llu %s elements (expected %llu)", f->path, t->name,
                 (unsigned long long)t->nbytes, (unsigned long long)nel, t->dtype,
                 (unsigned long long)(nel * esize));
            ok = false;
            break;
        }
        t->data = f->base + f->data_start + begin;
    }
    cJSON_Delete(root);
    if (!ok) return false;

    // No two tensors of this file may share bytes.
    int64_t n = st->n_tensors - first;
    const struct safetensors_tensor **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) abort();
    for (int64_t i = 0; i < n; i++) order[i] = &st->tensors[first + i];
    qsort(order, n, sizeof *order, cmp_offset);
    for (int64_t i = 1; i < n && ok; i++) {
        const uint8_t *prev_end = (const uint8_t *)order[i - 1]->data + order[i - 1]->nbytes;
        if ((const uint8_t *)order[i]->data < prev_end) {
            tl_errorf(err, errlen, "%s: tensors '%s' and '%s' overlap", f->path, order[i - 1]->name, order[i]->name);
            ok = false;
        }
    }
    free(order);
    return ok;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const struct safetensors_tensor *)a)->name, ((const struct safetensors_tensor *)b)->name);
}

// Sorted by name, so a name given twice (in one header or in two shards) is refused.
static bool sort_and_check_names(struct safetensors *st, const char *where, char *err, size_t errlen) {
    if (st->n_tensors > 1) qsort(st->tensors, st->n_tensors, sizeof *st->tensors, cmp_name);
    for (int64_t i = 1; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name)) {
            tl_errorf(err, errlen, "%s: tensor '%s' appears twice", where, st->tensors[i].name);
            return false;
        }
    return true;
}

static struct safetensors *new_set(int n_files) {
    struct safetensors *st = calloc(1, sizeof *st);
    if (!st) abort();
    st->files = calloc(n_files ? n_files : 1, sizeof *st->files);
    if (!st->files) abort();
    return st;
}

void safetensors_close(struct safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].mapped && st->files[i].size) munmap((void *)st->files[i].base, st->files[i].size);
        free(st->files[i].path);
    }
    for (int64_t i = 0; i < st->n_strings; i++) free(st->strings[i]);
    free(st->strings);
    free(st->files);
    free(st->tensors);
    free(st);
}

static bool map_file(struct st_file *f, const char *path, char *err, size_t errlen) {
    f->path = strdup(path);
    if (!f->path) abort();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tl_errorf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        tl_errorf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return false;
    }
    f->size = (size_t)sb.st_size;
    if (f->size) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            tl_errorf(err, errlen, "%s: mmap failed: %s", path, strerror(errno));
            close(fd);
            return false;
        }
        madvise(m, f->size, MADV_SEQUENTIAL);
        f->base = m;
        f->mapped = true;
    }
    close(fd);
    return true;
}

struct safetensors *safetensors_open(const char *path, char *err, size_t errlen) {
    struct safetensors *st = new_set(1);
    st->n_files = 1;
    if (!map_file(&st->files[0], path, err, errlen) || !parse_file(st, 0, err, errlen) ||
        !sort_and_check_names(st, path, err, errlen)) {
        safetensors_close(st);
        return NULL;
    }
    return st;
}

struct safetensors *safetensors_open_memory(const void *data, size_t size, const char *name, char *err,
                                            size_t errlen) {
    struct safetensors *st = new_set(1);
    st->n_files = 1;
    st->files[0].path = strdup(name);
    if (!st->files[0].path) abort();
    st->files[0].base = data;
    st->files[0].size = size;
    if (!parse_file(st, 0, err, errlen) || !sort_and_check_names(st, name, err, errlen)) {
        safetensors_close(st);
        return NULL;
    }
    return st;
}

// A sharded checkpoint: the index names each tensor's shard.
static struct safetensors *open_index(const char *dir, const char *index_path, char *err, size_t errlen) {
    cJSON *root = read_json_object(index_path, 64u << 20, err, errlen);
    if (!root) return NULL;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        tl_errorf(err, errlen, "%s: not JSON with a \"weight_map\" object", index_path);
        cJSON_Delete(root);
        return NULL;
    }
    // The distinct shard names, in order of first mention.
    int n_names = 0, cap = 0;
    const char **names = NULL;
    bool ok = true;
    for (const cJSON *e = map->child; e && ok; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') ||
            !strcmp(e->valuestring, "..")) {
            tl_errorf(err, errlen, "%s: tensor '%s' maps to an invalid shard name", index_path, e->string);
            ok = false;
            break;
        }
        int k = 0;
        while (k < n_names && strcmp(names[k], e->valuestring)) k++;
        if (k == n_names) {
            if (n_names == cap) {
                cap = cap ? 2 * cap : 16;
                names = realloc(names, cap * sizeof *names);
                if (!names) abort();
            }
            names[n_names++] = e->valuestring;
        }
    }
    struct safetensors *st = NULL;
    if (ok) {
        st = new_set(n_names);
        for (int i = 0; i < n_names && ok; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            st->n_files = i + 1;
            ok = map_file(&st->files[i], path, err, errlen) && parse_file(st, i, err, errlen);
        }
        ok = ok && sort_and_check_names(st, dir, err, errlen);
    }
    // Every tensor of the index must be in the shard it names, and no tensor in two shards.
    for (const cJSON *e = ok ? map->child : NULL; e && ok; e = e->next) {
        const struct safetensors_tensor *t = safetensors_find(st, e->string);
        if (!t || strcmp(names[t->file], e->valuestring)) {
            tl_errorf(err, errlen, "%s: tensor '%s' is not in shard %s as the index says", index_path, e->string,
                 e->valuestring);
            ok = false;
        }
    }
    free(names);
    cJSON_Delete(root);
    if (!ok) {
        safetensors_close(st);
        return NULL;
    }
    return st;
}

struct safetensors *safetensors_open_dir(const char *dir, char *err, size_t errlen) {
    char path[4096];
    struct stat sb;
    struct safetensors *st;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (stat(path, &sb) == 0) {
        st = open_index(dir, path, err, errlen);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (stat(path, &sb) != 0) {
            tl_errorf(err, errlen, "%s: no model.safetensors.index.json and no model.safetensors", dir);
            return NULL;
        }
        st = safetensors_open(path, err, errlen);
    }
    return st;
}

int64_t safetensors_n_tensors(const struct safetensors *st) { return st->n_tensors; }

const struct safetensors_tensor *safetensors_tensor(const struct safetensors *st, int64_t i) {
    return i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name) {
    struct safetensors_tensor key = { .name = name };
    return st->n_tensors ? bsearch(&key, st->tensors, st->n_tensors, sizeof *st->tensors, cmp_name) : NULL;
}

int safetensors_n_files(const struct safetensors *st) { return st->n_files; }
const char *safetensors_file_path(const struct safetensors *st, int file) { return st->files[file].path; }

uint64_t safetensors_total_bytes(const struct safetensors *st) {
    uint64_t n = 0;
    for (int64_t i = 0; i < st->n_tensors; i++) n += st->tensors[i].nbytes;
    return n;
}

void safetensors_release(const struct safetensors *st, const struct safetensors_tensor *t) {
    const struct st_file *f = &st->files[t->file];
    if (!f->mapped || !t->nbytes) return;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t begin = (uintptr_t)t->data / page * page;
    uintptr_t end = (uintptr_t)t->data + t->nbytes;
    madvise((void *)begin, end - begin, MADV_DONTNEED);
}

void safetensors_release_bytes(const struct safetensors *st, const struct safetensors_tensor *t, const void *p,
                               size_t n) {
    if (!st->files[t->file].mapped || !n) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t begin = ((uintptr_t)p + page - 1) / page * page;   // whole pages only: the
    uintptr_t end = ((uintptr_t)p + n) / page * page;             // neighbours may be in use
    if (end > begin) madvise((void *)begin, end - begin, MADV_DONTNEED);
}
