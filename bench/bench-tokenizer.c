// Tokenizer throughput: encode and decode MB/s on several MB of mixed text (the texts of
// the reference cases, which include text extracted from the shared PDFs, English, code,
// CJK and emoji, shuffled and concatenated), against NFC + the pre-tokenizer split alone
// measured in the same run: the part of the work BPE cannot avoid.
#include "bench.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LONGVL_DEFAULT_TOKENIZER_DIR
#define LONGVL_DEFAULT_TOKENIZER_DIR "../shared/data/tokenizer"
#endif

// Concatenates the case texts in a pseudo-random order until target bytes.
static char *corpus(const char *dir, size_t target, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *texts[512];
    int n = 0;
    char line[1 << 16];
    while (n < 512 && fgets(line, sizeof line, f)) {
        cJSON *c = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (cJSON_IsString(t) && t->valuestring[0]) texts[n++] = strdup(t->valuestring);
        cJSON_Delete(c);
    }
    fclose(f);
    char *out = malloc(target + (1 << 16));
    size_t pos = 0;
    uint64_t s = 12345;
    while (n && pos < target) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const char *t = texts[(s >> 33) % (uint64_t)n];
        size_t l = strlen(t);
        if (l > (1 << 15)) l = 1 << 15;
        memcpy(out + pos, t, l);
        pos += l;
        out[pos++] = '\n';
    }
    for (int i = 0; i < n; i++) free(texts[i]);
    *len = pos;
    return out;
}

void bench_tokenizer(const struct bench_opts *o) {
    const char *dir = getenv("LONGVL_TOKENIZER_DIR") ? getenv("LONGVL_TOKENIZER_DIR") : LONGVL_DEFAULT_TOKENIZER_DIR;
    char err[512];
    double t0 = bench_now();
    struct tokenizer *t = tokenizer_load_json(dir, err, sizeof err);
    if (!t) {
        printf("tokenizer: %s\n\n", err);
        return;
    }
    double load_s = bench_now() - t0;
    size_t len = 0;
    char *text = corpus(dir, o->quick ? (1u << 20) : (8u << 20), &len);
    if (!text) {
        printf("tokenizer: no cases.jsonl in %s\n\n", dir);
        tokenizer_free(t);
        return;
    }
    printf("tokenizer (1 thread): %.1f MB of mixed text; tokenizer.json loads in %.2f s\n\n", len / 1e6, load_s);
    t0 = bench_now();
    int64_t pieces = tokenizer_count_pieces(t, text, len);
    double split_s = bench_now() - t0;
    int32_t *ids = NULL;
    t0 = bench_now();
    int64_t n = tokenizer_encode(t, text, len, true, &ids, err, sizeof err);
    double enc_s = bench_now() - t0;
    char *out = NULL;
    size_t out_len = 0;
    t0 = bench_now();
    bool ok = n > 0 && tokenizer_decode(t, ids, n, false, &out, &out_len, err, sizeof err);
    double dec_s = bench_now() - t0;
    printf("  %-34s %10s %10s %12s\n", "step", "MB/s", "seconds", "vs split");
    printf("  %-34s %10.1f %10.3f %12s\n", "NFC + pre-tokenizer split (ref.)", len / split_s / 1e6, split_s, "1.00x");
    printf("  %-34s %10.1f %10.3f %11.2fx\n", "encode (split + BPE + added tokens)", len / enc_s / 1e6, enc_s,
           split_s / enc_s);
    if (ok) printf("  %-34s %10.1f %10.3f %12s\n", "decode", out_len / dec_s / 1e6, dec_s, "-");
    printf("  %lld pieces, %lld tokens (%.2f bytes per token)\n\n", (long long)pieces, (long long)n,
           n ? (double)len / n : 0);
    free(out);
    free(ids);
    free(text);
    tokenizer_free(t);
}
