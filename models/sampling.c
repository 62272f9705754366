// Token sampling; see sampling.h. The order follows HuggingFace's logits processors:
// RepetitionPenaltyLogitsProcessor, then the Temperature, TopK and TopP warpers.
#include "sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sampler {
    struct sampler_params p;
    int64_t n_vocab;
    uint64_t rng[4];            // xoshiro256**
    int32_t *history;           // accepted tokens, a ring of penalty_last_n (or growing)
    int64_t n_history, cap_history, head;
    uint8_t *seen;              // scratch: tokens already penalised this step
    struct candidate { float logit, prob; int32_t id; } *cand;   // scratch, sorted best first
};

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
}

static double uniform01(uint64_t *s) { return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

struct sampler *sampler_new(const struct sampler_params *p, int64_t n_vocab) {
    struct sampler *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix(&x);
    s->seen = calloc(n_vocab, 1);
    s->cand = malloc(n_vocab * sizeof *s->cand);
    if (!s->seen || !s->cand) abort();
    return s;
}

void sampler_free(struct sampler *s) {
    if (!s) return;
    free(s->history);
    free(s->seen);
    free(s->cand);
    free(s);
}

void sampler_accept(struct sampler *s, int32_t token) {
    int64_t limit = s->p.penalty_last_n;
    if (limit > 0 && s->n_history == limit) {   // full ring: overwrite the oldest
        s->history[s->head] = token;
        s->head = (s->head + 1) % limit;
        return;
    }
    if (s->n_history == s->cap_history) {
        s->cap_history = s->cap_history ? 2 * s->cap_history : 256;
        if (limit > 0 && s->cap_history > limit) s->cap_history = limit;
        s->history = realloc(s->history, s->cap_history * sizeof *s->history);
        if (!s->history) abort();
    }
    s->history[s->n_history++] = token;
}

// HuggingFace: each distinct seen token once, positive logits divided, negative multiplied.
static void apply_repetition_penalty(struct sampler *s, float *logits) {
    float pen = s->p.repetition_penalty;
    if (!(pen > 0) || pen == 1.0f) return;
    for (int64_t i = 0; i < s->n_history; i++) {
        int32_t t = s->history[i];
        if (t < 0 || t >= s->n_vocab || s->seen[t]) continue;
        s->seen[t] = 1;
        logits[t] = logits[t] > 0 ? logits[t] / pen : logits[t] * pen;
    }
    for (int64_t i = 0; i < s->n_history; i++)
        if (s->history[i] >= 0 && s->history[i] < s->n_vocab) s->seen[s->history[i]] = 0;
}

static int32_t argmax(const float *v, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int32_t)best;
}

static int by_logit_desc(const void *a, const void *b) {
    const struct candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;   // ties: lower id first, as argmax
}

int32_t sampler_sample(struct sampler *s, float *logits) {
    apply_repetition_penalty(s, logits);
    if (!(s->p.temperature > 0) || s->p.top_k == 1) return argmax(logits, s->n_vocab);
    for (int64_t i = 0; i < s->n_vocab; i++) logits[i] /= s->p.temperature;
    // candidates, best first: a top_k cut keeps k of them
    int64_t n = s->n_vocab;
    for (int64_t i = 0; i < n; i++) s->cand[i] = (struct candidate){ .logit = logits[i], .id = (int32_t)i };
    qsort(s->cand, n, sizeof *s->cand, by_logit_desc);
    if (s->p.top_k > 0 && s->p.top_k < n) n = s->p.top_k;
    double mx = s->cand[0].logit, sum = 0;
    for (int64_t i = 0; i < n; i++) sum += s->cand[i].prob = (float)exp(s->cand[i].logit - mx);
    // nucleus: the fewest best tokens whose probability reaches top_p (at least one)
    if (s->p.top_p > 0 && s->p.top_p < 1) {
        double cum = 0;
        int64_t keep = 0;
        while (keep < n && cum < s->p.top_p * sum) cum += s->cand[keep++].prob;
        n = keep > 0 ? keep : 1;
        sum = cum > 0 ? cum : s->cand[0].prob;
    }
    double u = uniform01(s->rng) * sum, acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += s->cand[i].prob;
        if (u < acc) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}
