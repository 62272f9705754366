// longvl info: what this machine offers and what the build will use; or, given a GGUF
// file, its metadata, its tensors and whether it is a Qwen2.5-VL file longvl can load.
#include "verbs.h"
#include "tl-vulkan.h"
#include "qwen25vl-gguf.h"
#include "tl-cpu.h"
#include "tl-gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int info_machine(void) {
    printf("cpu instruction sets:");
    for (int i = 0; i < TL_ISA_COUNT; i++)
        printf(" %s%s", tl_cpu_isa_name((enum tl_cpu_isa)i), tl_cpu_isa_supported((enum tl_cpu_isa)i) ? "" : "(no)");
    printf("\nkernels in use:       %s (best %s; LONGVL_CPU_ISA lowers it)\n", tl_cpu_isa_name(tl_cpu_get_isa()),
           tl_cpu_isa_name(tl_cpu_isa_best()));
    printf("threads:              %d\n", tl_cpu_default_threads());
    char prefetch[256];
    tl_cpu_describe_prefetch(prefetch, sizeof prefetch);
    printf("GEMV prefetch:        %s; LONGVL_CPU_PREFETCH fixes one for all\n", prefetch);
    printf("huge pages:           %s (weights, KV cache and buffers on 2 MiB pages where the OS gives them; "
           "LONGVL_HUGEPAGES=0 turns them off)\n", tl_get_huge_pages() ? "on" : "off");
    printf("ops with fast paths: ");
    for (int op = 1; op < TL_OP_COUNT; op++)
        if (tl_cpu_has_fast_kernel((enum tl_op)op)) printf(" %s", tl_op_name((enum tl_op)op));
    printf("\n");
    return 0;
}

// Checks a Qwen2.5-VL text or projector file against the inventory llama.cpp expects.
// Returns 0 (ok or not a Qwen file), 1 (a Qwen file that would not load).
static int check_qwen(const struct tl_gguf *g) {
    const struct tl_gguf_value *arch = tl_gguf_get(g, "general.architecture");
    const char *a = arch && arch->type == TL_GGUF_STRING ? arch->str.data : "";
    char err[512] = "";
    struct qwen25vl_tensor_spec *specs = NULL;
    int n = 0;
    bool ok;
    if (!strcmp(a, QWEN25VL_TEXT_ARCH)) {
        struct qwen25vl_text_hparams hp;
        ok = qwen25vl_text_hparams_from_gguf(g, &hp, err, sizeof err);
        if (ok) {
            printf("\nqwen2vl text model: %u layers, embedding %u, ffn %u, heads %u/%u (head_dim %u), vocab %u, "
                   "context %u, rope base %g, sections [%d, %d, %d, %d]%s\n", hp.n_layer, hp.n_embd, hp.n_ff,
                   hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_vocab, hp.n_ctx_train, hp.rope_freq_base,
                   hp.rope_sections[0], hp.rope_sections[1], hp.rope_sections[2], hp.rope_sections[3],
                   hp.tied_embeddings ? ", tied output" : "");
            specs = qwen25vl_text_tensor_specs(&hp, &n);
        }
    } else if (!strcmp(a, "clip")) {
        struct qwen25vl_vision_hparams hp;
        ok = qwen25vl_vision_hparams_from_gguf(g, &hp, err, sizeof err);
        if (ok) {
            printf("\nqwen2.5-vl vision projector: %u blocks, embedding %u, ffn %u, %u heads, patch %u, merge %u, "
                   "full attention every %u blocks, projection %u\n", hp.n_layer, hp.n_embd, hp.n_ff, hp.n_head,
                   hp.patch_size, hp.spatial_merge_size, hp.n_wa_pattern, hp.projection_dim);
            specs = qwen25vl_vision_tensor_specs(&hp, &n);
        }
    } else {
        printf("\nnot a Qwen2.5-VL file (architecture '%s'); no model check\n", a);
        return 0;
    }
    ok = ok && qwen25vl_check_tensors(g, specs, n, err, sizeof err);
    free(specs);
    if (!ok) {
        printf("check: FAILED: %s\n", err);
        return 1;
    }
    printf("check: ok, all %d tensors present with the expected shapes\n", n);
    return 0;
}

static int info_file(const char *path, bool all_tensors) {
    char err[1024] = "";
    struct tl_gguf *g = tl_gguf_open(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "longvl info: %s\n", err);
        return 1;
    }
    printf("%s: GGUF v%u, %.1f MiB, alignment %zu, %lld keys, %lld tensors\n\n", path, tl_gguf_version(g),
           tl_gguf_file_size(g) / 1048576.0, tl_gguf_alignment(g), (long long)tl_gguf_n_kv(g),
           (long long)tl_gguf_n_tensors(g));
    char buf[1024];
    for (int64_t i = 0; i < tl_gguf_n_kv(g); i++) {
        const struct tl_gguf_value *v = tl_gguf_kv_value(g, i);
        tl_gguf_value_format(v, buf, sizeof buf);
        printf("  %-44s %-5s %s\n", tl_gguf_kv_key(g, i), tl_gguf_type_name(v->type), buf);
    }
    printf("\n  %5s  %-34s %-6s %-26s %10s\n", "#", "tensor", "type", "shape (ne)", "MiB");
    uint64_t total = 0;
    int64_t n = tl_gguf_n_tensors(g);
    for (int64_t i = 0; i < n; i++) {
        const struct tl_gguf_tensor_info *t = tl_gguf_tensor(g, i);
        total += t->size;
        if (!all_tensors && n > 40 && i >= 30 && i < n - 10) {
            if (i == 30) printf("  %5s  ... %lld more (--all lists them)\n", "", (long long)(n - 40));
            continue;
        }
        char shape[64];
        int pos = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t->n_dims && pos < (int)sizeof shape; d++)
            pos += snprintf(shape + pos, sizeof shape - pos, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        if (pos < (int)sizeof shape) snprintf(shape + pos, sizeof shape - pos, "]");
        const struct tl_ggml_type_info *ti = tl_ggml_type_info(t->type);
        printf("  %5lld  %-34s %-6s %-26s %10.2f\n", (long long)i, t->name, ti ? ti->name : "?", shape,
               t->size / 1048576.0);
    }
    printf("  %5s  %-34s %-6s %-26s %10.2f\n", "", "total", "", "", total / 1048576.0);
    int rc = check_qwen(g);
    tl_gguf_free(g);
    return rc;
}

// The Vulkan devices, with the index LONGVL_VK_DEVICE takes. Exit 1 when there is none.
static int info_devices(void) {
    struct tl_vk_device_info dev[TL_VK_MAX_DEVICES];
    char err[256] = "";
    int n = tl_vk_list_devices(dev, TL_VK_MAX_DEVICES, err, sizeof err);
    if (n == 0) {
        printf("no Vulkan device: %s\n", err);
        return 1;
    }
    printf("Vulkan devices (LONGVL_VK_DEVICE=index picks one; default: the first discrete GPU, else 0):\n");
    for (int i = 0; i < n; i++)
        printf("  %d  %-40s %-10s Vulkan %u.%u  %.1f GiB device-local  subgroup %u%s  f16 storage %s%s\n", i,
               dev[i].name, dev[i].type, dev[i].api_major, dev[i].api_minor, dev[i].device_local_bytes / 1073741824.0,
               dev[i].subgroup_size, dev[i].subgroup_arith ? " (arithmetic)" : "", dev[i].fp16_storage ? "yes" : "no",
               dev[i].coopmat ? "  tensor cores (NV cooperative matrix)" : "");
    return 0;
}

int verb_info(int argc, char **argv) {
    const char *file = NULL;
    bool all = false, devices = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: longvl info [FILE.gguf] [--all] | --devices\n\n"
                   "Without a file: the CPU features and kernels. With one: its metadata, its tensors\n"
                   "(--all: every one) and, for Qwen2.5-VL files, a check of every tensor's shape.\n"
                   "--devices: the Vulkan devices and their indices.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--all")) all = true;
        else if (!strcmp(argv[i], "--devices")) devices = true;
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else {
            fprintf(stderr, "longvl info: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (devices) return info_devices();
    return file ? info_file(file, all) : info_machine();
}
