// hf-config.h: a HuggingFace Qwen2.5-VL checkpoint folder's config.json and
// preprocessor_config.json, read into the GGUF hyperparameters.
//
// Accepts both layouts transformers has written: the flat one the hub files use
// (text keys at the top, rope_scaling) and the nested one of newer versions
// (text_config, rope_parameters), and in_chans or in_channels.
#pragma once

#include "qwen25vl-gguf.h"

#include <stddef.h>

struct hf_qwen25vl_config {
    struct qwen25vl_text_hparams   text;
    struct qwen25vl_vision_hparams vision;
    int64_t bos_token_id, eos_token_id;   // -1 if absent
    uint32_t temporal_patch_size;         // 2: the two frames of the Conv3d
    bool has_preprocessor_config;         // else image mean/std are the CLIP defaults
};

bool hf_qwen25vl_config_read(const char *dir, struct hf_qwen25vl_config *c, char *err, size_t errlen);
