// make-tiny.h: writes a randomly initialised Qwen2.5-VL checkpoint folder exactly as
// HuggingFace lays one out (config.json, preprocessor_config.json, tokenizer files,
// sharded safetensors with model.safetensors.index.json), at small sizes, for tests,
// demos and benchmarks. The tensor names are HuggingFace's, written here independently
// of the converter's name mapping, so converting a tiny checkpoint tests that mapping.
#pragma once

#include "tl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct make_tiny_options {
    const char  *out_dir;        // created if missing
    const char  *preset;         // "tiny", "small", "wide" (small, FFN 2304) or "bench" (about 2.5 GiB in bf16)
    const char  *tokenizer_dir;  // holds tokenizer.json and tokenizer_config.json
    enum tl_type dtype;          // of every tensor, like the hub's bf16 checkpoints
    int          shards;         // 1: model.safetensors; more: an index and N shards
    bool         new_layout;     // transformers >= 4.52 names (model.language_model.*) and nested config
    bool         tied;           // tie_word_embeddings: no lm_head.weight
    uint64_t     seed;
};

bool make_tiny_checkpoint(const struct make_tiny_options *o, char *err, size_t errlen);
