// Sampling (models/sampling.c): greedy and its ties, the drawn frequencies against the
// softmax they should follow (chi-square over 200,000 draws), top-k and top-p cuts with
// HuggingFace's boundary rule, the repetition penalty's arithmetic and window, and
// determinism under a seed.
#include "test-util.h"
#include "sampling.h"

enum { V = 8, DRAWS = 200000 };

// Pearson chi-square of observed counts against probabilities p (zero-probability ids must not occur).
static double chi_square(const int *count, const double *p, int n, int draws, bool *impossible) {
    double x2 = 0;
    *impossible = false;
    for (int i = 0; i < n; i++) {
        if (p[i] == 0) {
            if (count[i]) *impossible = true;
            continue;
        }
        double e = p[i] * draws;
        x2 += (count[i] - e) * (count[i] - e) / e;
    }
    return x2;
}

static void draw(const struct sampler_params *sp, const float *logits, int *count) {
    struct sampler *s = sampler_new(sp, V);
    float work[V];
    memset(count, 0, V * sizeof *count);
    for (int d = 0; d < DRAWS; d++) {
        memcpy(work, logits, sizeof work);
        count[sampler_sample(s, work)]++;
    }
    sampler_free(s);
}

static const float logits[V] = { 1.0f, 2.5f, -1.0f, 0.3f, 2.0f, -3.0f, 0.9f, 1.7f };

// softmax(logits / t) restricted to the given ids (all if NULL), renormalised
static void expected(double t, const int *keep, int n_keep, double *p) {
    double sum = 0;
    for (int i = 0; i < V; i++) {
        bool in = !keep;
        for (int j = 0; keep && j < n_keep; j++) in = in || keep[j] == i;
        p[i] = in ? exp(logits[i] / t) : 0;
        sum += p[i];
    }
    for (int i = 0; i < V; i++) p[i] /= sum;
}

// chi-square, 7 degrees of freedom at most: 24.3 is the 0.1% point; the seed is fixed
static void check_frequencies(const char *what, const struct sampler_params *sp, const int *keep, int n_keep) {
    int count[V];
    double p[V];
    draw(sp, logits, count);
    expected(sp->temperature, keep, n_keep, p);
    bool impossible;
    double x2 = chi_square(count, p, V, DRAWS, &impossible);
    check(!impossible && x2 < 24.3, "%s: frequencies follow the softmax (chi-square %.1f < 24.3 over %d draws%s)", what,
          x2, DRAWS, impossible ? ", a cut token was drawn" : "");
}

int main(void) {
    // greedy
    float flat[V] = { 0, 3, 1, 3, 0, 0, 0, 0 };
    struct sampler *g = sampler_new(&(struct sampler_params){ .temperature = 0 }, V);
    check(sampler_sample(g, flat) == 1, "temperature 0 is greedy, a tie goes to the lower id");
    sampler_free(g);
    float work[V];
    memcpy(work, logits, sizeof work);
    g = sampler_new(&(struct sampler_params){ .temperature = 1, .top_k = 1, .seed = 3 }, V);
    check(sampler_sample(g, work) == 1, "top_k 1 is greedy");
    sampler_free(g);

    check_frequencies("temperature 1", &(struct sampler_params){ .temperature = 1, .seed = 1 }, NULL, 0);
    check_frequencies("temperature 0.7", &(struct sampler_params){ .temperature = 0.7f, .seed = 2 }, NULL, 0);
    check_frequencies("top_k 3", &(struct sampler_params){ .temperature = 1, .top_k = 3, .seed = 3 }, (int[]){ 1, 4, 7 }, 3);
    // probabilities at t=1, best first: id1 .381, id4 .231, id7 .171, id0 .085, id6 .077, ...
    // HF keeps a token while the mass strictly before it is below top_p: 0.65 keeps 1, 4
    // and 7 (.612 before it), 0.6 only 1 and 4, 0.5 also 1 and 4 (.381 before id 4)
    check_frequencies("top_p 0.65", &(struct sampler_params){ .temperature = 1, .top_p = 0.65f, .seed = 4 }, (int[]){ 1, 4, 7 }, 3);
    check_frequencies("top_p 0.6", &(struct sampler_params){ .temperature = 1, .top_p = 0.6f, .seed = 9 }, (int[]){ 1, 4 }, 2);
    check_frequencies("top_p 0.5", &(struct sampler_params){ .temperature = 1, .top_p = 0.5f, .seed = 5 }, (int[]){ 1, 4 }, 2);
    check_frequencies("top_k 2 then top_p 0.9", &(struct sampler_params){ .temperature = 1, .top_k = 2, .top_p = 0.9f, .seed = 6 },
                      (int[]){ 1, 4 }, 2);

    // repetition penalty: positive logits divided, negative multiplied, each token once
    float pl[3] = { 2, -2, 1 };
    struct sampler *r = sampler_new(&(struct sampler_params){ .temperature = 0, .repetition_penalty = 2 }, 3);
    sampler_accept(r, 0);
    sampler_accept(r, 1);
    sampler_accept(r, 0);
    int32_t t = sampler_sample(r, pl);
    check(pl[0] == 1 && pl[1] == -4 && pl[2] == 1 && t == 0, "repetition penalty 2: [2,-2,1] -> [%g,%g,%g], token %d",
          pl[0], pl[1], pl[2], t);
    sampler_free(r);
    float wl[3] = { 2, -2, 1 };
    r = sampler_new(&(struct sampler_params){ .temperature = 0, .repetition_penalty = 2, .penalty_last_n = 2 }, 3);
    for (int i = 0; i < 3; i++) sampler_accept(r, i);   // window keeps 1 and 2
    sampler_sample(r, wl);
    check(wl[0] == 2 && wl[1] == -4 && wl[2] == 0.5f, "penalty_last_n 2 looks only at the last 2 tokens: [%g,%g,%g]",
          wl[0], wl[1], wl[2]);
    sampler_free(r);

    // a seed fixes the sequence
    int32_t a[1000], b[1000], c[1000];
    int32_t *runs[3] = { a, b, c };
    uint64_t seeds[3] = { 7, 7, 8 };
    for (int k = 0; k < 3; k++) {
        struct sampler *s = sampler_new(&(struct sampler_params){ .temperature = 1, .seed = seeds[k] }, V);
        for (int i = 0; i < 1000; i++) {
            memcpy(work, logits, sizeof work);
            runs[k][i] = sampler_sample(s, work);
        }
        sampler_free(s);
    }
    check(!memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a), "the same seed draws the same 1000 tokens, another seed others");
    return test_summary("test-sampling");
}
