// sampling.h: choosing the next token from logits, as HuggingFace's generate does for
// Qwen2.5-VL's generation_config: repetition penalty, then temperature, top-k, top-p, then
// a draw from the remaining softmax with a seeded generator (same seed, same tokens).
// temperature 0 (or top_k 1) is greedy: the first largest logit.
//
//     struct sampler *s = sampler_new(&(struct sampler_params){ .temperature = 0.7f, .top_p = 0.9f,
//                                                               .repetition_penalty = 1.05f, .seed = 42 }, n_vocab);
//     int32_t tok = sampler_sample(s, logits);   // logits are modified
//     sampler_accept(s, tok);                    // remembered for the repetition penalty
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct sampler_params {
    float    temperature;          // 0: greedy
    int32_t  top_k;                // 0: all tokens
    float    top_p;                // 0 or >= 1: no nucleus cut
    float    repetition_penalty;   // 0 or 1: none; > 1 makes seen tokens less likely
    int32_t  penalty_last_n;       // how many recent tokens the penalty looks at (0: all)
    uint64_t seed;
};

struct sampler;

struct sampler *sampler_new(const struct sampler_params *p, int64_t n_vocab);
void    sampler_free(struct sampler *s);
// Tokens of the prompt and of the answer so far count for the repetition penalty.
void    sampler_accept(struct sampler *s, int32_t token);
// The next token. Applies the penalty and temperature to logits in place.
int32_t sampler_sample(struct sampler *s, float *logits);
