// One question about pictures, answered (qwen25vl-ask.h).
#include "qwen25vl-ask.h"

#include "chat-template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CTX = 524288 };

// The chat prompt, tokenized, and where each picture's <|image_pad|> run starts.
static bool build_prompt(struct tokenizer *tok, const struct run_inputs *in, const struct qwen25vl_ask *q,
                         struct qwen25vl_answer *a, struct qwen25vl_image_span **spans, char *err, size_t errlen) {
    int n_parts = in->n_pics + 1;
    struct chat_part *parts = calloc(n_parts, sizeof *parts);
    if (!parts) abort();
    for (int i = 0; i < in->n_pics; i++)
        parts[i] = (struct chat_part){ .kind = CHAT_IMAGE, .height = in->pics[i].src_h, .width = in->pics[i].src_w };
    parts[n_parts - 1] = (struct chat_part){ .kind = CHAT_TEXT, .text = q->question };
    struct chat_part system_part = { .kind = CHAT_TEXT, .text = q->system };
    struct chat_message msgs[2] = { { "system", &system_part, 1 }, { "user", parts, n_parts } };
    struct chat_options o = { .add_generation_prompt = true, .min_pixels = in->settings.min_pixels,
                              .max_pixels = in->settings.max_pixels };
    char *text = q->system ? qwen25vl_chat_format(msgs, 2, &o, err, errlen) : qwen25vl_chat_format(msgs + 1, 1, &o, err, errlen);
    free(parts);
    if (!text) return false;
    a->n_prompt = tokenizer_encode(tok, text, strlen(text), true, &a->prompt, err, errlen);
    free(text);
    if (a->n_prompt < 0) return false;
    // each picture is one run of <|image_pad|>, in order
    int32_t pad = tokenizer_find(tok, "<|image_pad|>");
    const int32_t *ids = a->prompt;
    *spans = calloc(in->n_pics + 1, sizeof **spans);
    if (!*spans) abort();
    int k = 0;
    for (int64_t i = 0; i < a->n_prompt; i++) {
        if (ids[i] != pad || (i > 0 && ids[i - 1] == pad)) continue;
        int64_t run = 0;
        while (i + run < a->n_prompt && ids[i + run] == pad) run++;
        const struct run_picture *p = k < in->n_pics ? &in->pics[k] : NULL;
        if (!p || run != qwen25vl_vision_n_tokens(p->H, p->W)) {
            tl_errorf(err, errlen, "the prompt's image slots do not match the pictures (is <|image_pad|> in the question?)");
            return false;
        }
        (*spans)[k++] = (struct qwen25vl_image_span){ .start = i, .lh = p->H / 28, .lw = p->W / 28 };
    }
    if (k != in->n_pics) {
        tl_errorf(err, errlen, "the prompt has %d image slots for %d pictures", k, in->n_pics);
        return false;
    }
    return true;
}

// Collects the answer's tokens and text, and passes each piece on.
struct collect {
    const struct tokenizer *tok;
    const struct qwen25vl_ask *q;
    struct qwen25vl_answer *a;
    struct tokenizer_stream stream;
    size_t cap;
};

static bool append_text(struct collect *c, const char *piece, size_t n) {
    struct qwen25vl_answer *a = c->a;
    if (a->n_text + n + 1 > c->cap) {
        c->cap = 2 * (a->n_text + n + 1) + 256;
        if (!(a->text = realloc(a->text, c->cap))) abort();
    }
    memcpy(a->text + a->n_text, piece, n);
    a->n_text += n;
    a->text[a->n_text] = 0;
    return !c->q->on_piece || n == 0 || c->q->on_piece(c->q->piece_user, piece, n);
}

static bool collect_token(void *user, int32_t token) {
    struct collect *c = user;
    struct qwen25vl_answer *a = c->a;
    if (!(a->tokens = realloc(a->tokens, (size_t)(a->n_tokens + 1) * sizeof *a->tokens))) abort();
    a->tokens[a->n_tokens++] = token;
    char buf[1024];
    int n = tokenizer_stream_piece(c->tok, &c->stream, token, true, buf, sizeof buf);
    return append_text(c, buf, n > 0 ? (size_t)n : 0);
}

static bool answer(const struct qwen25vl_text_model *m, struct tokenizer *tok, struct run_inputs *in,
                   const struct qwen25vl_ask *q, struct qwen25vl_answer *a, struct qwen25vl_image_span *spans,
                   struct qwen25vl_text_context **ctx, struct sampler **smp, float **logits, char *err, size_t errlen) {
    int64_t n_ctx = q->n_ctx ? q->n_ctx : q->fill_context + a->n_prompt + q->n_predict;
    if (n_ctx > MAX_CTX) n_ctx = MAX_CTX;
    if (q->fill_context + a->n_prompt + 1 > n_ctx) {
        tl_errorf(err, errlen, "the prompt is %lld tokens (%d pictures) but the context is %lld", (long long)a->n_prompt,
                  in->n_pics, (long long)n_ctx);
        return false;
    }
    int32_t *pos = malloc((size_t)3 * a->n_prompt * sizeof *pos), next = 0;
    if (!pos) abort();
    bool ok = qwen25vl_mrope_positions(a->n_prompt, 0, spans, in->n_pics, pos, &next, err, errlen);
    free(pos);
    if (!ok) return false;
    // the base for the positions generation will reach: the prompt's largest + n_predict
    double base = m->hp.rope_freq_base;
    struct rope_yarn yarn = { 0 };
    if (q->rope)
        rope_scaling_resolve(q->rope, m->hp.rope_freq_base, (int)m->hp.head_dim,
                             (double)q->fill_context + next + (n_ctx - a->n_prompt - q->fill_context), &base, &yarn);
    struct qwen25vl_text_params tp = { .n_ctx = n_ctx, .kv_type = q->kv_type, .n_ubatch = q->n_ubatch,
                                       .n_threads = q->n_threads, .rope_freq_base = (float)base, .rope_yarn = yarn,
                                       .vk = q->vk };
    if (!(*ctx = qwen25vl_text_context_new(m, &tp, err, errlen))) return false;
    if (q->verbose) {
        size_t kv_tok = qwen25vl_kv_bytes_per_token(&m->hp, q->kv_type);
        fprintf(stderr, "longvl: %lld prompt tokens (%d pictures), context %lld, KV %s %zu B/token = %.2f GiB, "
                        "rope base %.6g%s\n",
                (long long)a->n_prompt, in->n_pics, (long long)n_ctx, tl_type_name(q->kv_type), kv_tok,
                kv_tok * (double)n_ctx / 1073741824.0, base, yarn.factor ? " with YaRN" : "");
    }
    *smp = sampler_new(&q->sampling, m->hp.n_vocab);
    for (int64_t i = 0; i < a->n_prompt; i++) sampler_accept(*smp, a->prompt[i]);
    if (!(*logits = malloc((size_t)m->hp.n_vocab * sizeof **logits))) abort();
    struct qwen25vl_prompt prompt = { a->prompt, a->n_prompt, spans, in->n_pics };
    next = (int32_t)q->fill_context;   // the prompt's positions follow the synthetic ones
    if (q->fill_context && !qwen25vl_text_fill_synthetic(*ctx, q->fill_context, err, errlen)) return false;
    double t0 = tl_time_seconds();
    if (!qwen25vl_prefill(*ctx, m, &prompt, run_inputs_rows, in, q->progress, q->progress_user, *logits, &next, err,
                          errlen))
        return false;
    a->prefill_seconds = tl_time_seconds() - t0;
    struct collect c = { .tok = tok, .q = q, .a = a };
    append_text(&c, "", 0);   // an empty answer is still a string
    if (q->n_predict <= 0) return true;
    int32_t stops[2] = { tokenizer_find(tok, "<|im_end|>"), tokenizer_find(tok, "<|endoftext|>") };
    struct qwen25vl_generate_params gp = { .n_predict = q->n_predict, .stop_ids = stops, .n_stop = 2 };
    ok = qwen25vl_generate(*ctx, m, *smp, *logits, next, &gp, collect_token, &c, &a->gen, err, errlen);
    char tail[16];
    int n = tokenizer_stream_flush(&c.stream, tail, sizeof tail);
    return append_text(&c, tail, (size_t)n) && ok;
}

bool qwen25vl_ask_run(const struct qwen25vl_text_model *m, struct tokenizer *tok, struct run_inputs *in,
                      const struct qwen25vl_ask *q, struct qwen25vl_answer *a, char *err, size_t errlen) {
    struct qwen25vl_image_span *spans = NULL;
    struct qwen25vl_text_context *ctx = NULL;
    struct sampler *smp = NULL;
    float *logits = NULL;
    bool ok = build_prompt(tok, in, q, a, &spans, err, errlen) &&
              answer(m, tok, in, q, a, spans, &ctx, &smp, &logits, err, errlen);
    free(logits);
    sampler_free(smp);
    qwen25vl_text_context_free(ctx);
    free(spans);
    return ok;
}

void qwen25vl_answer_free(struct qwen25vl_answer *a) {
    free(a->prompt);
    free(a->tokens);
    free(a->text);
    memset(a, 0, sizeof *a);
}
