#include "text-file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *read_text_file(const char *path, size_t max, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    if (!buf) abort();
    size_t n = fread(buf, 1, max + 1, f);
    bool failed = ferror(f);
    fclose(f);
    if (failed || n > max) {
        if (err && errlen) snprintf(err, errlen, "%s: %s", path, failed ? "read error" : "file too large");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

cJSON *read_json_object(const char *path, size_t max, char *err, size_t errlen) {
    char *text = read_text_file(path, max, err, errlen);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        if (err && errlen) snprintf(err, errlen, "%s: not a JSON object", path);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}
