// qwen25vl-ask.h: one question about pictures, answered by a loaded Qwen2.5-VL. The chat
// prompt is built around the pictures (all before the question, as the model card
// shows), tokenized and checked against the pictures' token counts; a context just big
// enough is made; the prompt is prefilled (pictures encoded one at a time, run-inputs.h)
// and the answer decoded. `longvl run` and the synth model generator both ask this way.
//
//     struct qwen25vl_ask q = { .question = "What is on page 2?", .n_predict = 256 };
//     struct qwen25vl_answer a = { 0 };
//     if (qwen25vl_ask_run(&m, tok, &inputs, &q, &a, err, sizeof err)) puts(a.text);
//     qwen25vl_answer_free(&a);
#pragma once

#include "qwen25vl-generate.h"
#include "rope-scaling.h"
#include "run-inputs.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tl_vk_backend;

// Called with each complete UTF-8 piece of the answer as it is decoded; false stops.
typedef bool (*qwen25vl_piece_fn)(void *user, const char *piece, size_t n);

struct qwen25vl_ask {
    const char *system;              // NULL: no system turn (the template's default)
    const char *question;
    int32_t n_predict;               // most answer tokens
    int64_t n_ctx;                   // 0: fill_context + prompt + n_predict (at most 524288)
    int64_t fill_context;            // benchmark aid: synthetic tokens before the prompt
    enum tl_type kv_type;            // TL_F32 (0) or what qwen25vl_text_context_new takes
    int n_ubatch, n_threads;         // 0: the defaults
    const struct rope_scaling *rope; // NULL: the model's base
    struct sampler_params sampling;  // zeros: greedy
    struct tl_vk_backend *vk;        // NULL: the CPU
    qwen25vl_progress_fn progress;   // may be NULL
    void *progress_user;
    qwen25vl_piece_fn on_piece;      // streaming, may be NULL
    void *piece_user;
    bool verbose;                    // the context line on stderr
};

struct qwen25vl_answer {
    int32_t *prompt;                 // the prompt's token ids
    int64_t n_prompt;
    int32_t *tokens;                 // the answer's, stop token excluded
    int32_t n_tokens;
    char *text;                      // the answer, UTF-8, NUL-terminated
    size_t n_text;
    double prefill_seconds;
    struct qwen25vl_generate_result gen;
};

// Asks; the pictures of `in` (vision model set when there are any) go before the
// question. false with a message; *a holds what was made so far either way (free it).
bool qwen25vl_ask_run(const struct qwen25vl_text_model *m, struct tokenizer *tok, struct run_inputs *in,
                      const struct qwen25vl_ask *q, struct qwen25vl_answer *a, char *err, size_t errlen);
void qwen25vl_answer_free(struct qwen25vl_answer *a);
