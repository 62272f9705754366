// hf-tokenizer.h: a HuggingFace byte-level BPE tokenizer (tokenizer.json,
// tokenizer_config.json, chat templates) as llama.cpp's tokenizer.ggml.* keys.
#pragma once

#include "tl-gguf.h"

#include <stdint.h>

// Writes tokenizer.ggml.{model,pre,tokens,token_type,merges}, the special token ids,
// add_bos_token and tokenizer.chat_template. n_vocab is the model's embedding row count:
// ids the tokenizer does not use become "[PAD<id>]" of type UNUSED. config_bos/eos are
// config.json's ids (-1 if absent), used when tokenizer_config.json names none.
bool hf_tokenizer_to_gguf(const char *dir, uint32_t n_vocab, int64_t config_bos, int64_t config_eos,
                          struct tl_gguf *g, char *err, size_t errlen);
