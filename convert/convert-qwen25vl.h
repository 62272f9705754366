// convert-qwen25vl.h: a HuggingFace Qwen2.5-VL checkpoint folder -> two GGUF files in
// llama.cpp's conventions: PREFIX.gguf (the text model, architecture qwen2vl, with the
// tokenizer) and PREFIX-mmproj.gguf (the vision tower and merger, projector
// qwen2.5vl_merger).
//
// Tensors are converted one at a time, straight from the mapped safetensors shards into
// the output stream, and each source tensor's pages are released when it is done, so
// the memory used stays near one conversion buffer whatever the checkpoint's size. Both
// files are written under temporary names and appear together only when both are
// complete; on any error, or on SIGINT/SIGTERM, nothing is left behind.
#pragma once

#include "tl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct convert_options {
    const char  *hf_dir;
    const char  *out_prefix;   // a trailing ".gguf" is dropped
    enum tl_type outtype;      // TL_F32, TL_F16 or TL_BF16 for the 2-D weights
    bool         progress;     // a bar on a terminal, a line log otherwise
};

struct convert_result {
    char     text_path[4096], mmproj_path[4096];
    int      n_text_tensors, n_vision_tensors;
    uint64_t bytes_in, bytes_out;
    double   seconds;
};

bool convert_qwen25vl(const struct convert_options *o, struct convert_result *r, char *err, size_t errlen);

// "f32" / "f16" / "bf16" -> type.
bool convert_parse_outtype(const char *s, enum tl_type *type);
