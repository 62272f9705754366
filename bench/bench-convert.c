// Conversion throughput: a synthetic multi-GiB Qwen2.5-VL checkpoint (make-tiny's
// "bench" preset, bf16 like the hub's) converted to GGUF, against `cp` + `sync` of the
// same shard files measured in the same run. The conversion runs in a child process so
// its peak resident memory can be read from the kernel (wait4), and is compared with the
// checkpoint's size: streaming keeps it far below.
#include "bench.h"
#include "convert-qwen25vl.h"
#include "make-tiny.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LONGVL_DEFAULT_TOKENIZER_DIR
#define LONGVL_DEFAULT_TOKENIZER_DIR "../shared/data/tokenizer"
#endif

static uint64_t dir_bytes(const char *dir, const char *glob) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "du -cb %s/%s | tail -1", dir, glob);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (p && fscanf(p, "%llu", &n) != 1) n = 0;
    if (p) pclose(p);
    return n;
}

// Converts in a child; returns seconds (or -1) and the child's peak RSS in MiB.
static double convert_in_child(const char *hf, const char *prefix, enum tl_type outtype, double *rss_mib) {
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid == 0) {
        struct convert_options o = { .hf_dir = hf, .out_prefix = prefix, .outtype = outtype };
        struct convert_result r;
        char err[1024];
        if (!convert_qwen25vl(&o, &r, err, sizeof err)) {
            fprintf(stderr, "bench convert: %s\n", err);
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
    *rss_mib = ru.ru_maxrss / 1024.0;
    return bench_now() - t0;
}

void bench_convert(const struct bench_opts *o) {
    const char *preset = o->quick ? "tiny" : "bench";
    char dir[512];
    snprintf(dir, sizeof dir, "%s/longvl-bench-convert-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return;
    }
    char hf[600], out[600], copy[600], cmd[4096], err[1024];
    snprintf(hf, sizeof hf, "%s/hf", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(copy, sizeof copy, "%s/copy", dir);
    struct make_tiny_options mt = { .out_dir = hf, .preset = preset, .dtype = TL_BF16, .shards = 3, .seed = 1 };
    mt.tokenizer_dir = getenv("LONGVL_TOKENIZER_DIR") ? getenv("LONGVL_TOKENIZER_DIR") : LONGVL_DEFAULT_TOKENIZER_DIR;
    printf("conversion: synthetic Qwen2.5-VL checkpoint, preset %s, bf16, 3 shards, in %s\n", preset, dir);
    if (!make_tiny_checkpoint(&mt, err, sizeof err)) {
        printf("  cannot make the checkpoint: %s\n", err);
        goto done;
    }
    // Let the writeback of the new checkpoint finish, so it does not slow the first copy.
    if (system("sync") != 0) printf("  (sync failed)\n");
    uint64_t bytes = dir_bytes(hf, "*.safetensors");
    printf("  checkpoint: %.2f GiB of safetensors\n\n", bytes / 1073741824.0);
    // Three rounds of (cp + sync, convert to bf16, convert to f16); the best time of each
    // is reported, since the shared disk's write-back speed swings between rounds.
    enum { ROUNDS = 3 };
    enum tl_type outs[2] = { TL_BF16, TL_F16 };
    double best[3] = { 1e30, 1e30, 1e30 }, rss[2] = { 0, 0 }, worst_cp = 0;
    uint64_t written[2] = { 0, 0 };
    for (int rep = 0; rep < ROUNDS; rep++) {
        // The reference: the same bytes copied and flushed to disk, as the converter does.
        snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s && cp %s/*.safetensors %s/ && sync %s/*", copy, copy, hf, copy,
                 copy);
        double t0 = bench_now();
        if (system(cmd) != 0) {
            printf("  cp failed\n");
            goto done;
        }
        double cp_s = bench_now() - t0;
        if (cp_s < best[0]) best[0] = cp_s;
        if (cp_s > worst_cp) worst_cp = cp_s;
        snprintf(cmd, sizeof cmd, "rm -rf %s", copy);
        if (system(cmd) != 0) printf("  (could not remove %s)\n", copy);
        for (int k = 0; k < 2; k++) {
            double r = 0, sec = convert_in_child(hf, out, outs[k], &r);
            if (sec < 0) {
                printf("  convert failed\n");
                goto done;
            }
            if (sec < best[1 + k]) best[1 + k] = sec;
            if (r > rss[k]) rss[k] = r;
            written[k] = dir_bytes(dir, "out*.gguf");
            snprintf(cmd, sizeof cmd, "rm -f %s/out*.gguf", dir);
            if (system(cmd) != 0) printf("  (could not remove outputs)\n");
        }
    }
    printf("  best of %d rounds (cp + sync took %.2f to %.2f s across rounds)\n\n", ROUNDS, best[0], worst_cp);
    printf("  %-24s %9s %9s %10s %12s %14s\n", "what", "seconds", "GB/s", "vs cp+sync", "peak RSS MiB",
           "RSS/checkpoint");
    printf("  %-24s %9.2f %9.2f %10s %12s %14s\n", "cp + sync (reference)", best[0], bytes / best[0] / 1e9, "1.00x",
           "-", "-");
    for (int k = 0; k < 2; k++) {
        char what[64];
        snprintf(what, sizeof what, "convert bf16 -> %s", tl_type_name(outs[k]));
        printf("  %-24s %9.2f %9.2f %9.2fx %12.0f %13.1f%%\n", what, best[1 + k], written[k] / best[1 + k] / 1e9,
               best[0] / best[1 + k], rss[k], 100.0 * rss[k] * 1048576.0 / bytes);
    }
done:
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    printf("\n");
}
