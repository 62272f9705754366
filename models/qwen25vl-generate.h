// qwen25vl-generate.h: a prompt of text and images through the text model, then the
// answer token by token. Images are asked for one at a time, right before their slots
// are prefilled, so a 200-page prompt holds one page's embeddings at a time (the whole
// prompt's rows would be 512K x 3584 x 4 bytes = 7.5 GB for the 7B).
//
//     struct qwen25vl_prompt p = { ids, n, spans, n_spans };   // spans: <|image_pad|> runs
//     qwen25vl_prefill(c, &m, &p, encode_page, user, show_progress, user, logits, &next, err, n);
//     qwen25vl_generate(c, &m, sampler, logits, next, &gp, print_token, user, &result, err, n);
#pragma once

#include "mrope-positions.h"
#include "qwen25vl-text.h"
#include "sampling.h"

struct qwen25vl_prompt {
    const int32_t *ids;   // image slots hold <|image_pad|>; their rows come from the callback
    int64_t n;
    const struct qwen25vl_image_span *spans;
    int n_spans;
};

// Fills rows [lh * lw][n_embd] for image `image` (0-based, prompt order).
typedef bool (*qwen25vl_image_rows_fn)(void *user, int image, float *rows, char *err, size_t errlen);

struct qwen25vl_prefill_progress {
    int images_done, n_images;
    int64_t tokens_done, n_tokens;
    double seconds;   // since the prefill began
};
typedef void (*qwen25vl_progress_fn)(void *user, const struct qwen25vl_prefill_progress *p);

// Appends the prompt to the context (positions from 0 if the context is empty, else from
// *next_pos). logits receives the last token's [n_vocab]; *next_pos the position where
// generation continues. Text is embedded and prefilled in pieces of at most 4096 tokens.
bool qwen25vl_prefill(struct qwen25vl_text_context *c, const struct qwen25vl_text_model *m,
                      const struct qwen25vl_prompt *p, qwen25vl_image_rows_fn image_rows, void *image_user,
                      qwen25vl_progress_fn progress, void *progress_user, float *logits, int32_t *next_pos, char *err,
                      size_t errlen);

enum qwen25vl_stop { QWEN25VL_STOP_TOKEN, QWEN25VL_STOP_N_PREDICT, QWEN25VL_STOP_CONTEXT_FULL, QWEN25VL_STOP_CALLER };

struct qwen25vl_generate_params {
    int32_t n_predict;        // most tokens to generate (stop tokens not counted)
    const int32_t *stop_ids;  // e.g. <|im_end|>, <|endoftext|>
    int n_stop;
};

struct qwen25vl_generate_result {
    enum qwen25vl_stop stop;
    int32_t n_generated;
    double seconds;           // decoding time, sampling included
};

// Called with each generated token (not the stop token); false stops generation.
typedef bool (*qwen25vl_token_fn)(void *user, int32_t token);

// Samples from logits (the prefill's, modified), feeds each token back, and repeats.
bool qwen25vl_generate(struct qwen25vl_text_context *c, const struct qwen25vl_text_model *m, struct sampler *s,
                       float *logits, int32_t next_pos, const struct qwen25vl_generate_params *gp,
                       qwen25vl_token_fn on_token, void *user, struct qwen25vl_generate_result *r, char *err,
                       size_t errlen);
