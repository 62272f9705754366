// The on-disk page-embedding cache (embd-cache.h).
#include "embd-cache.h"
#include "sha256.h"
#include "tl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MAGIC[8] = { 'L', 'V', 'E', 'M', 'B', '0', '0', '1' };

static bool make_dir(const char *path, char *err, size_t errlen) {
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return true;
    tl_errorf(err, errlen, "cannot create the cache folder %s: %s", path, strerror(errno));
    return false;
}

bool embd_cache_open(struct embd_cache *c, const char *dir, const char *key, char *err, size_t errlen) {
    if (snprintf(c->dir, sizeof c->dir, "%s/%s", dir, key) >= (int)sizeof c->dir) {
        tl_errorf(err, errlen, "cache path too long: %s", dir);
        return false;
    }
    // DIR's parents first (a default under ~/.cache may not exist yet)
    for (char *slash = strchr(c->dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = 0;
        bool ok = make_dir(c->dir, err, errlen);
        *slash = '/';
        if (!ok) return false;
    }
    return make_dir(c->dir, err, errlen);
}

static void entry_path(const struct embd_cache *c, int index, char *path, size_t n) {
    snprintf(path, n, "%s/img-%06d.emb", c->dir, index);
}

bool embd_cache_get(const struct embd_cache *c, int index, int64_t n_rows, int64_t n_embd, float *out) {
    char path[4200];
    entry_path(c, index, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[8];
    int64_t dims[2];
    size_t n = (size_t)n_rows * n_embd;
    bool ok = fread(magic, 8, 1, f) == 1 && !memcmp(magic, MAGIC, 8) && fread(dims, sizeof dims, 1, f) == 1 &&
              dims[0] == n_rows && dims[1] == n_embd && fread(out, sizeof *out, n, f) == n && fgetc(f) == EOF;
    fclose(f);
    return ok;
}

bool embd_cache_put(const struct embd_cache *c, int index, int64_t n_rows, int64_t n_embd, const float *rows,
                    char *err, size_t errlen) {
    char path[4200], tmp[4300];
    entry_path(c, index, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        tl_errorf(err, errlen, "cannot write the cache entry %s: %s", tmp, strerror(errno));
        return false;
    }
    int64_t dims[2] = { n_rows, n_embd };
    size_t n = (size_t)n_rows * n_embd;
    bool ok = fwrite(MAGIC, 8, 1, f) == 1 && fwrite(dims, sizeof dims, 1, f) == 1 && fwrite(rows, sizeof *rows, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        tl_errorf(err, errlen, "cannot write the cache entry %s (disk full?)", path);
        remove(tmp);
    }
    return ok;
}

// Hashes n bytes of f from offset off.
static bool hash_range(FILE *f, long long off, long long n, struct sha256 *s) {
    if (fseeko(f, off, SEEK_SET) != 0) return false;
    uint8_t buf[1 << 16];
    while (n > 0) {
        size_t want = n < (long long)sizeof buf ? (size_t)n : sizeof buf;
        size_t got = fread(buf, 1, want, f);
        if (got != want) return false;
        sha256_update(s, buf, got);
        n -= (long long)got;
    }
    return true;
}

bool embd_cache_key(const char *input_path, const char *settings, const char *mmproj_path, char key[33], char *err,
                    size_t errlen) {
    uint8_t digest[32];
    char hex[65];
    if (!sha256_file(input_path, digest, err, errlen)) return false;
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, digest, sizeof digest);
    sha256_update(&s, settings, strlen(settings) + 1);
    FILE *f = fopen(mmproj_path, "rb");
    struct stat st;
    const long long part = 4 << 20;
    bool ok = f && fstat(fileno(f), &st) == 0;
    if (ok) {
        long long size = (long long)st.st_size, head = size < part ? size : part;
        sha256_update(&s, &size, sizeof size);
        ok = hash_range(f, 0, head, &s) && hash_range(f, size - head, head, &s);
    }
    if (f) fclose(f);
    if (!ok) {
        tl_errorf(err, errlen, "%s: cannot read the projector to key the cache", mmproj_path);
        return false;
    }
    sha256_final(&s, digest);
    sha256_hex(digest, hex);
    memcpy(key, hex, 32);
    key[32] = 0;
    return true;
}
