// Streaming prefill of text and image spans, and the sampling loop (qwen25vl-generate.h).
#include "qwen25vl-generate.h"

#include <stdlib.h>
#include <string.h>

enum { TEXT_PIECE = 4096 };   // tokens embedded at once: bounds the host embedding buffer

struct prefill_state {
    struct qwen25vl_text_context *c;
    const struct qwen25vl_text_model *m;
    const int32_t *pos;      // [3][n] for the whole prompt
    int64_t n;
    int32_t *piece_pos;      // [3][piece] scratch
    float *logits;
};

// Prefills tokens [i0, i0 + k) from embd, asking for logits when they end the prompt.
static bool prefill_piece(struct prefill_state *st, int64_t i0, int64_t k, const float *embd, char *err, size_t errlen) {
    for (int s = 0; s < 3; s++) memcpy(st->piece_pos + s * k, st->pos + s * st->n + i0, (size_t)k * sizeof(int32_t));
    bool last = i0 + k == st->n;
    return qwen25vl_text_decode(st->c, embd, st->piece_pos, k, last ? st->logits : NULL, false, err, errlen);
}

bool qwen25vl_prefill(struct qwen25vl_text_context *c, const struct qwen25vl_text_model *m,
                      const struct qwen25vl_prompt *p, qwen25vl_image_rows_fn image_rows, void *image_user,
                      qwen25vl_progress_fn progress, void *progress_user, float *logits, int32_t *next_pos, char *err,
                      size_t errlen) {
    int64_t E = m->hp.n_embd, biggest = TEXT_PIECE;
    for (int i = 0; i < p->n_spans; i++) {
        int64_t rows = (int64_t)p->spans[i].lh * p->spans[i].lw;
        if (rows > biggest) biggest = rows;
    }
    if (p->n_spans > 0 && !image_rows) {
        tl_errorf(err, errlen, "the prompt has images but no image source");
        return false;
    }
    struct prefill_state st = { .c = c, .m = m, .n = p->n, .logits = logits };
    int32_t *pos = malloc((size_t)3 * p->n * sizeof *pos);
    st.piece_pos = malloc((size_t)3 * biggest * sizeof *st.piece_pos);
    float *embd = malloc((size_t)biggest * E * sizeof *embd);
    if (!pos || !st.piece_pos || !embd) {
        tl_errorf(err, errlen, "out of memory for a prompt of %lld tokens", (long long)p->n);
        free(pos), free(st.piece_pos), free(embd);
        return false;
    }
    st.pos = pos;
    int32_t first = qwen25vl_text_n_past(c) > 0 ? *next_pos : 0;
    bool ok = qwen25vl_mrope_positions(p->n, first, p->spans, p->n_spans, pos, next_pos, err, errlen);
    struct qwen25vl_prefill_progress pr = { .n_images = p->n_spans, .n_tokens = p->n };
    double t0 = tl_time_seconds();
    int64_t i = 0;
    for (int s = 0; ok && s <= p->n_spans; s++) {
        int64_t text_end = s < p->n_spans ? p->spans[s].start : p->n;
        while (ok && i < text_end) {   // the text before image s (or after the last)
            int64_t k = text_end - i < TEXT_PIECE ? text_end - i : TEXT_PIECE;
            ok = qwen25vl_text_embed(m, p->ids + i, k, embd, err, errlen) && prefill_piece(&st, i, k, embd, err, errlen);
            i += k;
            pr.tokens_done = i;
            pr.seconds = tl_time_seconds() - t0;
            if (ok && progress) progress(progress_user, &pr);
        }
        if (!ok || s == p->n_spans) break;
        int64_t rows = (int64_t)p->spans[s].lh * p->spans[s].lw;
        ok = image_rows(image_user, s, embd, err, errlen) && prefill_piece(&st, i, rows, embd, err, errlen);
        i += rows;
        pr.images_done = s + 1;
        pr.tokens_done = i;
        pr.seconds = tl_time_seconds() - t0;
        if (ok && progress) progress(progress_user, &pr);
    }
    free(pos);
    free(st.piece_pos);
    free(embd);
    return ok;
}

static bool is_stop(const struct qwen25vl_generate_params *gp, int32_t tok) {
    for (int i = 0; i < gp->n_stop; i++)
        if (gp->stop_ids[i] == tok) return true;
    return false;
}

bool qwen25vl_generate(struct qwen25vl_text_context *c, const struct qwen25vl_text_model *m, struct sampler *s,
                       float *logits, int32_t next_pos, const struct qwen25vl_generate_params *gp,
                       qwen25vl_token_fn on_token, void *user, struct qwen25vl_generate_result *r, char *err,
                       size_t errlen) {
    memset(r, 0, sizeof *r);
    float *embd = malloc((size_t)m->hp.n_embd * sizeof *embd);
    if (!embd) abort();
    double t0 = tl_time_seconds();
    bool ok = true;
    for (;;) {
        int32_t tok = sampler_sample(s, logits);
        sampler_accept(s, tok);
        if (is_stop(gp, tok)) {
            r->stop = QWEN25VL_STOP_TOKEN;
            break;
        }
        r->n_generated++;
        if (on_token && !on_token(user, tok)) {
            r->stop = QWEN25VL_STOP_CALLER;
            break;
        }
        if (r->n_generated >= gp->n_predict) {
            r->stop = QWEN25VL_STOP_N_PREDICT;
            break;
        }
        if (qwen25vl_text_n_past(c) >= qwen25vl_text_n_ctx(c)) {
            r->stop = QWEN25VL_STOP_CONTEXT_FULL;
            break;
        }
        int32_t pos[3] = { next_pos, next_pos, next_pos };   // text advances all three streams
        next_pos++;
        ok = qwen25vl_text_embed(m, &tok, 1, embd, err, errlen) &&
             qwen25vl_text_decode(c, embd, pos, 1, logits, false, err, errlen);
        if (!ok) break;
    }
    r->seconds = tl_time_seconds() - t0;
    free(embd);
    return ok;
}
