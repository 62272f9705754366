#include "f32-file.h"

#include "tl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

float *f32_file_read(const char *path, int64_t n, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) {
        tl_errorf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != (uint64_t)n * sizeof(float)) {
        tl_errorf(err, errlen, "%s: %lld bytes, expected %lld (%lld float32 values)", path, (long long)st.st_size,
                  (long long)n * 4, (long long)n);
        return NULL;
    }
    float *v = malloc(n ? (size_t)n * sizeof *v : 1);
    FILE *f = fopen(path, "rb");
    bool ok = v && f && fread(v, sizeof *v, (size_t)n, f) == (size_t)n;
    if (f) fclose(f);
    if (!ok) {
        tl_errorf(err, errlen, "%s: cannot read: %s", path, v ? strerror(errno) : "out of memory");
        free(v);
        return NULL;
    }
    return v;
}

bool f32_file_write(const char *path, const float *v, int64_t n, char *err, size_t errlen) {
    size_t len = strlen(path) + 5;
    char *tmp = malloc(len);
    if (!tmp) abort();
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(v, sizeof *v, (size_t)n, f) == (size_t)n;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        tl_errorf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return ok;
}
