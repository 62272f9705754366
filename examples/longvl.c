// longvl: one program, git-style verbs.
#include "verbs.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} verbs[] = {
    { "run",   verb_run,   "ask about a PDF, images or text: render, encode, prefill, stream the answer" },
    { "info",  verb_info,  "show a GGUF file's metadata and tensors, or (no file) the CPU and kernels" },
    { "convert", verb_convert, "convert a HuggingFace Qwen2.5-VL checkpoint to GGUF (text + mmproj)" },
    { "tokenize", verb_tokenize, "text -> token ids with the model's tokenizer (GGUF or tokenizer.json)" },
    { "detokenize", verb_detokenize, "token ids -> text" },
    { "quantize", verb_quantize, "quantize a GGUF file (text or mmproj) to q4_0/q4_1/q8_0/q4_k_m/q5_k_m/q6_k/f16" },
    { "make-tiny", verb_make_tiny, "write a random tiny Qwen2.5-VL checkpoint in HuggingFace's layout" },
    { "data", verb_data, "the LongPT document pool: PDFs in, deduplicated, with pages, tokens, layout and sections" },
    { "train-longpt", verb_train_longpt, "continued pre-training on long instances (LongPT): checkpointed, resumable" },
    { "logits", verb_logits, "the logits of every position of a token list (raw float32), for checking the model" },
    { "vision", verb_vision, "the merged vision embeddings of one image (raw float32), for checking the tower" },
    { "demo",  verb_demo,  "build and run a small transformer-block graph, check it against the reference" },
    { "bench", verb_bench, "benchmark matmul and attention against OpenBLAS and memory bandwidth" },
};

static void usage(FILE *f) {
    fprintf(f, "usage: longvl <verb> [options]\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
    fprintf(f, "\n'longvl <verb> --help' shows a verb's options.\n"
               "LONGVL_CPU_ISA=scalar|avx2|avx512 lowers the instruction set used.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name)) return verbs[i].run(argc - 2, argv + 2);
    fprintf(stderr, "longvl: unknown verb '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
