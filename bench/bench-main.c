// longvl bench: the benchmark tables. Every figure is printed with a ratio to a
// reference measured in the same run (OpenBLAS sgemm, DRAM read bandwidth), because
// the machines are shared and noisy.
#include "bench.h"
#include "verbs.h"
#include "tl-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The CPU's name as /proc/cpuinfo gives it ("unknown CPU" elsewhere): tables from different
// machines differ, and the kind of machine a shared VM lands on changes.
static void cpu_name(char *out, size_t size) {
    snprintf(out, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        snprintf(out, size, "%s", colon + 2);
        out[strcspn(out, "\n")] = 0;
        break;
    }
    fclose(f);
}

int verb_bench(int argc, char **argv) {
    struct bench_opts o = { .threads = tl_cpu_default_threads(), .min_seconds = 1.0, .matmul = true, .quant = true, .attn = true,
                            .tokenizer = true, .vulkan = true };
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) o.quick = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            const char *w = argv[++i];
            o.matmul = !strcmp(w, "matmul");
            o.quant = !strcmp(w, "quant");
            o.attn = !strcmp(w, "attention");
            o.convert = !strcmp(w, "convert");
            o.tokenizer = !strcmp(w, "tokenizer");
            o.vulkan = !strcmp(w, "vulkan");
            if (!o.matmul && !o.quant && !o.attn && !o.convert && !o.tokenizer && !o.vulkan) {
                fprintf(stderr, "longvl bench: --only takes matmul, quant, attention, convert, tokenizer or vulkan, got '%s'\n", w);
                return 2;
            }
        } else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            enum tl_cpu_isa isa;
            if (!tl_cpu_isa_parse(argv[++i], &isa) || !tl_cpu_set_isa(isa)) {
                fprintf(stderr, "longvl bench: --isa %s is unknown or not supported by this CPU\n", argv[i]);
                return 2;
            }
        } else {
            printf("usage: longvl bench [--threads N] [--isa scalar|avx2|avx512] [--only matmul|quant|attention|convert|tokenizer|vulkan]\n"
                   "                    [--quick]\n"
                   "  --quick  small sizes, for checking that the benchmark runs\n"
                   "  convert  (only with --only) converts a synthetic 2.6 GiB checkpoint; needs ~8 GiB in $TMPDIR\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (o.threads < 1) {
        fprintf(stderr, "longvl bench: --threads must be >= 1\n");
        return 2;
    }
    if (o.quick) o.min_seconds = 0.05;
    char cpu[128];
    cpu_name(cpu, sizeof cpu);
    char prefetch[256];
    tl_cpu_describe_prefetch(prefetch, sizeof prefetch);
    printf("longvl bench: %s, %d threads, %s kernels, GEMV software prefetch %s%s\n\n", cpu, o.threads,
           tl_cpu_isa_name(tl_cpu_get_isa()), prefetch, o.quick ? " (quick)" : "");
    if (o.matmul) bench_matmul(&o);
    if (o.quant) bench_qmatmul(&o);
    if (o.attn) bench_attention(&o);
    if (o.convert) bench_convert(&o);
    if (o.tokenizer) bench_tokenizer(&o);
    if (o.vulkan) bench_vulkan(&o);
    return 0;
}
