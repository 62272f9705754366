// Writing safetensors files, streamed (see safetensors.h).
#include "safetensors.h"
#include "tl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct safetensors_writer {
    FILE *f;
    char path[4096], tmp[4096 + 8];
    uint64_t expected, written;
};

void safetensors_write_abort(struct safetensors_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    unlink(w->tmp);
    free(w);
}

struct safetensors_writer *safetensors_write_begin(const char *path, const struct safetensors_write_item *items,
                                                   int n, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const struct safetensors_write_item *it = &items[i];
        const char *dtype = safetensors_dtype_from_tl(it->type);
        if (!dtype || it->n_dims < 0 || it->n_dims > SAFETENSORS_MAX_DIMS) {
            tl_errorf(err, errlen, "%s: tensor '%s' has an unsupported type or rank", path, it->name);
            cJSON_Delete(root);
            return NULL;
        }
        uint64_t nel = 1;
        cJSON *e = cJSON_AddObjectToObject(root, it->name);
        cJSON_AddStringToObject(e, "dtype", dtype);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < it->n_dims; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)it->shape[d]));
            nel *= (uint64_t)it->shape[d];
        }
        uint64_t bytes = nel * tl_type_traits(it->type)->type_size;
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *header = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!header) abort();
    size_t hlen = strlen(header);
    uint64_t padded = (hlen + 7) / 8 * 8;   // the data starts 8-aligned; pad with spaces

    struct safetensors_writer *w = calloc(1, sizeof *w);
    if (!w) abort();
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    w->expected = offset;
    w->f = fopen(w->tmp, "wb");
    bool ok = w->f != NULL;
    if (ok) {
        ok = fwrite(&padded, 8, 1, w->f) == 1 && fwrite(header, 1, hlen, w->f) == hlen;
        for (uint64_t i = hlen; ok && i < padded; i++) ok = fputc(' ', w->f) != EOF;
    }
    free(header);
    if (!ok) {
        tl_errorf(err, errlen, "%s: cannot write: %s", w->tmp, strerror(errno));
        safetensors_write_abort(w);
        return NULL;
    }
    return w;
}

bool safetensors_write_data(struct safetensors_writer *w, const void *data, size_t n, char *err, size_t errlen) {
    if (w->written + n > w->expected) {
        tl_errorf(err, errlen, "%s: more data than the tensors described", w->tmp);
        return false;
    }
    if (n && fwrite(data, 1, n, w->f) != n) {
        tl_errorf(err, errlen, "%s: write failed: %s", w->tmp, strerror(errno));
        return false;
    }
    w->written += n;
    return true;
}

bool safetensors_write_finish(struct safetensors_writer *w, char *err, size_t errlen) {
    bool ok = w->written == w->expected;
    if (!ok) tl_errorf(err, errlen, "%s: %llu of %llu data bytes written", w->tmp, (unsigned long long)w->written,
                  (unsigned long long)w->expected);
    if (ok && fflush(w->f) != 0) {
        tl_errorf(err, errlen, "%s: flush failed: %s", w->tmp, strerror(errno));
        ok = false;
    }
    if (ok) {
        int rc = fclose(w->f);
        w->f = NULL;
        if (rc != 0 || rename(w->tmp, w->path) != 0) {
            tl_errorf(err, errlen, "%s: cannot finish: %s", w->path, strerror(errno));
            ok = false;
        }
    }
    if (!ok) {
        safetensors_write_abort(w);
        return false;
    }
    free(w);
    return true;
}
