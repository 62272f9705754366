// longvl data: the LongPT data side: `data pool add` (PDFs into the document pool,
// train/data/pool.h), `data pool stats`, `data pool merge`, and `data synth`
// (verb-data-synth.c).
#include "verbs.h"
#include "cli-args.h"
#include "pool.h"
#include "tl.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int usage(FILE *f, int rc) {
    fprintf(f,
            "usage: longvl data pool add --pool DIR [options] PATH...\n"
            "       longvl data pool stats --pool DIR\n"
            "       longvl data pool merge --pool DIR SHARD_POOL...\n"
            "       longvl data synth --pool DIR -o OUT --tokenizer PATH [options]   (see data synth --help)\n\n"
            "pool add: every PDF under each PATH (a folder, searched recursively, or a file) into the\n"
            "document pool DIR (created when missing; its index is DIR/pool.sqlite): SHA-256, pages, each\n"
            "page's token count, its text blocks with their kinds, the sections. Re-running skips what is\n"
            "recorded; broken, encrypted, empty, huge or out-of-range PDFs are recorded with the reason.\n"
            "  --min-pages N (1)  --max-pages N (100000)   accepted page counts\n"
            "  --max-mb N (512)          larger files are refused as huge\n"
            "  --exclude-hashes FILE     SHA-256s (hex, one a line) of evaluation documents to keep out\n"
            "  --shard I/N               only the files whose path hashes to shard I of N (0-based)\n"
            "  --dpi D (144)  --min-pixels N (3136)  --max-pixels N (12845056)   the token counts' settings\n"
            "  --render                  also render every page at --dpi (a page that cannot be drawn rejects\n"
            "                            its document; slower: what the trainer will do to each page)\n"
            "  --copy                    keep each accepted PDF inside the pool (DIR/docs/SHA256.pdf), so the\n"
            "                            pool and its shards move with their documents\n"
            "  --quiet\n"
            "pool merge: the documents of each SHARD_POOL (e.g. made by add --shard I/N on other machines)\n"
            "that DIR lacks, with their pages, blocks and sections, into DIR (created when missing); the\n"
            "pools must have the same settings. Re-running adds nothing twice.\n");
    return rc;
}

struct file_list {
    char **v;
    int n, cap;
};

static void add_file(struct file_list *l, const char *path) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        if (!(l->v = realloc(l->v, l->cap * sizeof *l->v))) abort();
    }
    if (!(l->v[l->n++] = strdup(path))) abort();
}

static bool is_pdf_name(const char *name) {
    size_t n = strlen(name);
    return n > 4 && !strcasecmp(name + n - 4, ".pdf");
}

// The PDFs under path (a folder, recursively, or a file given by name).
static bool scan(const char *path, struct file_list *l) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "longvl data: %s does not exist\n", path);
        return false;
    }
    if (!S_ISDIR(sb.st_mode)) {
        add_file(l, path);
        return true;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "longvl data: cannot read the folder %s\n", path);
        return false;
    }
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat es;
        if (stat(sub, &es) != 0) continue;
        if (S_ISDIR(es.st_mode)) ok = scan(sub, l);
        else if (is_pdf_name(e->d_name)) add_file(l, sub);
    }
    closedir(d);
    return ok;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// FNV-1a of the file name: the same shard on every machine, whatever the scan order.
static uint64_t name_hash(const char *path) {
    const char *base = strrchr(path, '/');
    uint64_t h = 1469598103934665603ull;
    for (const char *c = base ? base + 1 : path; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
    return h;
}

// SHA-256s from a file, one a line (blank lines and # comments skipped), sorted.
static bool read_hashes(const char *path, struct file_list *l) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "longvl data: cannot read %s\n", path);
        return false;
    }
    char line[256];
    int no = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        no++;
        char *s = line + strspn(line, " \t");
        s[strcspn(s, " \t\r\n")] = 0;
        if (!*s || *s == '#') continue;
        bool hex = strlen(s) == 64;
        for (char *c = s; hex && *c; c++) {
            if (*c >= 'A' && *c <= 'F') *c += 'a' - 'A';
            hex = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f');
        }
        if (!hex) {
            fprintf(stderr, "longvl data: %s line %d: not a SHA-256 in hex: %s\n", path, no, s);
            ok = false;
        } else add_file(l, s);
    }
    fclose(f);
    if (ok) qsort(l->v, l->n, sizeof *l->v, cmp_str);
    return ok;
}

static void free_list(struct file_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int pool_add(int argc, char **argv) {
    const char *dir = NULL, *exclude = NULL;
    struct picture_settings s = { .dpi = 144, .min_pixels = 3136, .max_pixels = 12845056 };
    struct pool_filter f = { .min_pages = 1, .max_pages = 100000, .max_bytes = 512LL << 20 };
    long long shard = 0, n_shards = 1, v;
    double x;
    bool quiet = false;
    struct file_list files = { 0 }, hashes = { 0 };
    int rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
        if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--render")) f.render = true;
        else if (!strcmp(a, "--copy")) f.copy = true;
        else if (a[0] != '-') rc = scan(a, &files) ? 0 : 1;
        else if (!val) rc = 2;
        else if (!strcmp(a, "--pool")) dir = val, i++;
        else if (!strcmp(a, "--exclude-hashes")) exclude = val, i++;
        else if (!strcmp(a, "--min-pages") && cli_parse_ll(val, 1, 1 << 30, &v)) f.min_pages = (int)v, i++;
        else if (!strcmp(a, "--max-pages") && cli_parse_ll(val, 1, 1 << 30, &v)) f.max_pages = (int)v, i++;
        else if (!strcmp(a, "--max-mb") && cli_parse_ll(val, 1, 1 << 30, &v)) f.max_bytes = v << 20, i++;
        else if (!strcmp(a, "--dpi") && cli_parse_double(val, 1, 2400, &x)) s.dpi = (float)x, i++;
        else if (!strcmp(a, "--min-pixels") && cli_parse_ll(val, 784, 1LL << 40, &v)) s.min_pixels = v, i++;
        else if (!strcmp(a, "--max-pixels") && cli_parse_ll(val, 784, 1LL << 40, &v)) s.max_pixels = v, i++;
        else if (!strcmp(a, "--shard") && sscanf(val, "%lld/%lld", &shard, &n_shards) == 2 && n_shards >= 1 &&
                 shard >= 0 && shard < n_shards)
            i++;
        else rc = 2;
        if (rc == 2) fprintf(stderr, "longvl data pool add: bad flag or value: %s %s\n", a, val ? val : "");
    }
    if (!rc && (!dir || files.n == 0)) {
        fprintf(stderr, "longvl data pool add: give --pool DIR and at least one PDF or folder\n");
        rc = 2;
    }
    if (!rc && f.min_pages > f.max_pages) {
        fprintf(stderr, "longvl data pool add: --min-pages %d is above --max-pages %d\n", f.min_pages, f.max_pages);
        rc = 2;
    }
    if (!rc && exclude && !read_hashes(exclude, &hashes)) rc = 1;
    char err[1024];
    struct pool *p = rc ? NULL : pool_open(dir, &s, err, sizeof err);
    if (!rc && !p) {
        fprintf(stderr, "longvl data pool add: %s\n", err);
        rc = 1;
    }
    if (rc) {
        free_list(&files);
        free_list(&hashes);
        return rc == 2 ? usage(stderr, 2) : 1;
    }
    f.exclude = (const char *const *)hashes.v;
    f.n_exclude = hashes.n;
    qsort(files.v, files.n, sizeof *files.v, cmp_str);
    struct pool_stats st = { 0 };
    int mine = 0;
    double t0 = tl_time_seconds();
    for (int i = 0; i < files.n && !rc; i++) {
        if (name_hash(files.v[i]) % (uint64_t)n_shards != (uint64_t)shard) continue;
        mine++;
        if (!pool_add_pdf(p, files.v[i], &f, &st, err, sizeof err)) {
            fprintf(stderr, "longvl data pool add: %s: %s\n", files.v[i], err);
            rc = 1;
        }
        if (!quiet) fprintf(stderr, "\r%d/%d files  %lld pages", i + 1, files.n, (long long)st.pages);
    }
    if (!quiet) fprintf(stderr, "\n");
    double secs = tl_time_seconds() - t0;
    printf("pool add: %d files (shard %lld/%lld of %d found): %lld added (%lld pages, %lld text blocks), %lld already "
           "in the pool, %lld duplicates, %lld rejected, %lld excluded\n",
           mine, shard, n_shards, files.n, (long long)st.added, (long long)st.pages, (long long)st.blocks,
           (long long)st.known, (long long)st.duplicates, (long long)st.rejected, (long long)st.excluded);
    printf("pool add: %.2f s, %.1f pages/s on one core (%lld pages rendered)\n", secs, secs > 0 ? st.pages / secs : 0.0,
           (long long)st.rendered);
    pool_close(p);
    free_list(&files);
    free_list(&hashes);
    return rc;
}

static int pool_stats(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[0], "--pool")) return usage(stderr, 2);
    struct stat sb;
    char path[4096], err[1024];
    struct pool *p = pool_open_existing(argv[1], err, sizeof err);
    struct pool_totals t;
    snprintf(path, sizeof path, "%s/pool.sqlite", argv[1]);
    if (!p || !pool_totals(p, &t, err, sizeof err) || stat(path, &sb) != 0) {
        fprintf(stderr, "longvl data pool stats: %s\n", err);
        pool_close(p);
        return 1;
    }
    printf("documents: %lld accepted, %lld rejected, %lld excluded\npages: %lld (%lld tokens, %.0f a page)\n"
           "text blocks: %lld\nsections: %lld\nindex: %lld bytes (%.0f a page)\n",
           (long long)t.accepted, (long long)t.rejected, (long long)t.excluded, (long long)t.pages, (long long)t.tokens,
           t.pages ? (double)t.tokens / t.pages : 0.0, (long long)t.blocks, (long long)t.sections,
           (long long)sb.st_size, t.pages ? (double)sb.st_size / t.pages : 0.0);
    pool_close(p);
    return 0;
}

static int pool_merge_verb(int argc, char **argv) {
    if (argc < 3 || strcmp(argv[0], "--pool")) return usage(stderr, 2);
    char err[1024] = "";
    struct pool *p = pool_open(argv[1], NULL, err, sizeof err);
    bool ok = p != NULL;
    for (int i = 2; ok && i < argc; i++) {
        struct pool_merge_stats st = { 0 };
        ok = pool_merge(p, argv[i], &st, err, sizeof err);
        if (ok)
            printf("pool merge: %s: %lld documents added (%lld accepted), %lld already in %s\n", argv[i],
                   (long long)st.added, (long long)st.accepted, (long long)st.known, argv[1]);
    }
    if (!ok) fprintf(stderr, "longvl data pool merge: %s\n", err);
    pool_close(p);
    return ok ? 0 : 1;
}

int verb_data(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[0], "pool") && !strcmp(argv[1], "add")) return pool_add(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[0], "pool") && !strcmp(argv[1], "stats")) return pool_stats(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[0], "pool") && !strcmp(argv[1], "merge")) return pool_merge_verb(argc - 2, argv + 2);
    if (argc >= 1 && !strcmp(argv[0], "synth")) return data_synth(argc - 1, argv + 1);
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) return usage(stdout, 0);
    return usage(stderr, 2);
}
