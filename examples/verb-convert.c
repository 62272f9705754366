// longvl convert: a HuggingFace Qwen2.5-VL folder -> PREFIX.gguf + PREFIX-mmproj.gguf.
// longvl make-tiny: a random Qwen2.5-VL folder in HuggingFace's layout, for tests.
// longvl quantize: a GGUF file (text or mmproj) -> its quantized copy.
#include "verbs.h"
#include "convert-qwen25vl.h"
#include "make-tiny.h"
#include "quantize.h"
#include "tl-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef LONGVL_DEFAULT_TOKENIZER_DIR
#define LONGVL_DEFAULT_TOKENIZER_DIR "../shared/data/tokenizer"
#endif

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;   // Linux reports KiB
}

static int convert_usage(FILE *f, int rc) {
    fprintf(f, "usage: longvl convert HF_DIR -o OUT_PREFIX [--outtype f32|f16|bf16] [--quiet]\n\n"
               "Converts a HuggingFace Qwen2.5-VL checkpoint folder (config.json, safetensors shards,\n"
               "tokenizer.json, ...) into OUT_PREFIX.gguf (text model + tokenizer) and\n"
               "OUT_PREFIX-mmproj.gguf (vision tower + merger), in llama.cpp's conventions.\n"
               "--outtype is the type of the 2-D weights (default f16); norms and biases stay f32.\n");
    return rc;
}

int verb_convert(int argc, char **argv) {
    struct convert_options o = { .outtype = TL_F16, .progress = true };
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return convert_usage(stdout, 0);
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            o.out_prefix = argv[++i];
        } else if (!strcmp(argv[i], "--outtype") && i + 1 < argc) {
            if (!convert_parse_outtype(argv[++i], &o.outtype)) {
                fprintf(stderr, "longvl convert: --outtype must be f32, f16 or bf16, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--quiet")) {
            o.progress = false;
        } else if (argv[i][0] == '-' || o.hf_dir) {
            fprintf(stderr, "longvl convert: unexpected argument '%s'\n", argv[i]);
            return convert_usage(stderr, 2);
        } else {
            o.hf_dir = argv[i];
        }
    }
    if (!o.hf_dir || !o.out_prefix) return convert_usage(stderr, 2);
    struct convert_result r;
    char err[1024] = "";
    if (!convert_qwen25vl(&o, &r, err, sizeof err)) {
        fprintf(stderr, "longvl convert: %s\n", err);
        return 1;
    }
    printf("wrote %s (%d tensors) and %s (%d tensors)\n", r.text_path, r.n_text_tensors, r.mmproj_path,
           r.n_vision_tensors);
    printf("%.2f GiB read, %.2f GiB written in %.1f s (%.0f MB/s); peak RSS %.0f MiB\n", r.bytes_in / 1073741824.0,
           r.bytes_out / 1073741824.0, r.seconds, r.seconds > 0 ? r.bytes_out / r.seconds / 1e6 : 0, peak_rss_mib());
    return 0;
}

static int tiny_usage(FILE *f, int rc) {
    fprintf(f, "usage: longvl make-tiny OUT_DIR [--preset tiny|small|wide|bench] [--dtype bf16|f16|f32]\n"
               "                        [--shards N] [--layout hub|new] [--tied] [--seed N] [--tokenizer DIR]\n\n"
               "Writes a randomly initialised Qwen2.5-VL checkpoint in HuggingFace's layout: config.json,\n"
               "preprocessor_config.json, the real Qwen tokenizer, safetensors shards and their index.\n"
               "tiny: text 2 layers x 64, vision 4 blocks x 32 (~40 MiB in bf16); small: 4 x 256 / 8 x 128;\n"
               "bench: 8 x 2048 / 4 x 1280 (~2.6 GiB). --layout new uses transformers >= 4.52 names.\n"
               "The tokenizer comes from --tokenizer, $LONGVL_TOKENIZER_DIR or %s.\n",
            LONGVL_DEFAULT_TOKENIZER_DIR);
    return rc;
}

int verb_make_tiny(int argc, char **argv) {
    struct make_tiny_options o = { .preset = "tiny", .dtype = TL_BF16, .shards = 2, .seed = 1 };
    o.tokenizer_dir = getenv("LONGVL_TOKENIZER_DIR") ? getenv("LONGVL_TOKENIZER_DIR") : LONGVL_DEFAULT_TOKENIZER_DIR;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return tiny_usage(stdout, 0);
        if (!strcmp(a, "--preset") && v) o.preset = argv[++i];
        else if (!strcmp(a, "--dtype") && v) {
            if (!convert_parse_outtype(argv[++i], &o.dtype)) {
                fprintf(stderr, "longvl make-tiny: --dtype must be bf16, f16 or f32\n");
                return 2;
            }
        } else if (!strcmp(a, "--shards") && v) o.shards = atoi(argv[++i]);
        else if (!strcmp(a, "--layout") && v) {
            const char *l = argv[++i];
            if (strcmp(l, "hub") && strcmp(l, "new")) {
                fprintf(stderr, "longvl make-tiny: --layout must be hub or new\n");
                return 2;
            }
            o.new_layout = !strcmp(l, "new");
        } else if (!strcmp(a, "--tied")) o.tied = true;
        else if (!strcmp(a, "--seed") && v) o.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--tokenizer") && v) o.tokenizer_dir = argv[++i];
        else if (a[0] == '-' || o.out_dir) {
            fprintf(stderr, "longvl make-tiny: unexpected argument '%s'\n", a);
            return tiny_usage(stderr, 2);
        } else o.out_dir = a;
    }
    if (!o.out_dir) return tiny_usage(stderr, 2);
    char err[1024] = "";
    if (!make_tiny_checkpoint(&o, err, sizeof err)) {
        fprintf(stderr, "longvl make-tiny: %s\n", err);
        return 1;
    }
    printf("wrote a random Qwen2.5-VL checkpoint (preset %s, %s, %d shard%s) to %s\n", o.preset,
           tl_type_name(o.dtype), o.shards, o.shards > 1 ? "s" : "", o.out_dir);
    return 0;
}

static int quantize_usage(FILE *f, int rc) {
    fprintf(f, "usage: longvl quantize IN.gguf OUT.gguf TYPE [--threads N] [--quiet]\n\n"
               "TYPE: q4_0, q4_1, q8_0, q4_k_m, q5_k_m, q6_k or f16. Works on the text model and on the\n"
               "mmproj file. Norms, biases and other 1-D tensors stay f32; in the K mixes output.weight\n"
               "and the attn_v / ffn_down of some layers get q6_K (llama.cpp's rule); rows the block\n"
               "size does not divide fall back to q8_0 or f16. IN must be f32, f16 or bf16.\n");
    return rc;
}

int verb_quantize(int argc, char **argv) {
    struct quantize_options o = { .n_threads = tl_cpu_default_threads(), .progress = true };
    const char *pos[3];
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return quantize_usage(stdout, 0);
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            o.n_threads = atoi(argv[++i]);
            if (o.n_threads < 1) {
                fprintf(stderr, "longvl quantize: --threads must be a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--quiet")) {
            o.progress = false;
        } else if (argv[i][0] == '-' || npos == 3) {
            fprintf(stderr, "longvl quantize: unexpected argument '%s'\n", argv[i]);
            return quantize_usage(stderr, 2);
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos != 3) return quantize_usage(stderr, 2);
    o.in_path = pos[0];
    o.out_path = pos[1];
    if (!quant_scheme_parse(pos[2], &o.scheme)) {
        fprintf(stderr, "longvl quantize: TYPE must be q4_0, q4_1, q8_0, q4_k_m, q5_k_m, q6_k or f16, not '%s'\n", pos[2]);
        return 2;
    }
    if (!strcmp(o.in_path, o.out_path)) {
        fprintf(stderr, "longvl quantize: OUT must differ from IN\n");
        return 2;
    }
    struct quantize_result r;
    char err[1024] = "";
    if (!quantize_gguf(&o, &r, err, sizeof err)) {
        fprintf(stderr, "longvl quantize: %s\n", err);
        return 1;
    }
    printf("wrote %s: %d tensors (%d quantized:", o.out_path, r.n_tensors, r.n_quantized);
    for (int t = 0; t < TL_TYPE_COUNT; t++)
        if (r.n_by_type[t]) printf(" %d %s", r.n_by_type[t], tl_type_name((enum tl_type)t));
    printf(")\n%.1f MiB -> %.1f MiB (%.2fx) in %.1f s\n", r.bytes_in / 1048576.0, r.bytes_out / 1048576.0,
           r.bytes_out ? (double)r.bytes_in / r.bytes_out : 0, r.seconds);
    return 0;
}
