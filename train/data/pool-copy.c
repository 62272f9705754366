// Documents kept inside the pool (pool_filter.copy; pool-impl.h).
#define _GNU_SOURCE   // asprintf
#include "pool-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void pool_copy_name(const char *sha256, char *out, size_t n) { snprintf(out, n, "docs/%s.pdf", sha256); }

char *pool_path(const struct pool *p, const char *recorded) {
    char *s = NULL;
    if (recorded[0] == '/' ? !(s = strdup(recorded)) : asprintf(&s, "%s/%s", p->dir, recorded) < 0) abort();
    return s;
}

static bool write_all(int fd, const char *buf, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, (size_t)n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        buf += w, n -= w;
    }
    return true;
}

bool pool_copy_file(const char *from, const char *to, char *err, size_t errlen) {
    char dir[4096], tmp[4200];
    snprintf(dir, sizeof dir, "%s", to);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (slash && mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return false;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    int in = open(from, O_RDONLY), out = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool ok = in >= 0 && out >= 0;
    char buf[1 << 16];
    while (ok) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        ok = write_all(out, buf, n);
    }
    if (out >= 0 && close(out) != 0) ok = false;
    if (in >= 0) close(in);
    if (ok && rename(tmp, to) != 0) ok = false;
    if (!ok) {
        snprintf(err, errlen, "cannot copy %s to %s: %s", from, to, strerror(errno));
        unlink(tmp);
    }
    return ok;
}
