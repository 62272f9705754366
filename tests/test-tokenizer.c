// The Qwen tokenizer against the reference encodings in ../shared/data/tokenizer (made
// with HuggingFace tokenizers): every case's ids, decoded text and skip-special text
// exactly, loaded from tokenizer.json and from GGUF metadata (the same ids); the decode
// cases (partial UTF-8 -> U+FFFD per maximal invalid subpart); streaming decode equal to
// batch decode; decode(encode(x)) == NFC(x); invalid UTF-8, empty input, a 1 MB word and
// unknown ids.
//
// usage: test-tokenizer TOKENIZER_DIR
#include "byte-builder.h"
#include "hf-tokenizer.h"
#include "test-util.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <time.h>
#include <utf8proc.h>

static int64_t ids_of(const cJSON *a, int32_t *out, int64_t cap) {
    int64_t n = 0;
    for (const cJSON *e = a ? a->child : NULL; e && n < cap; e = e->next) out[n++] = (int32_t)e->valuedouble;
    return n;
}

// Runs every reference case through t; returns the number that match exactly.
static int run_cases(struct tokenizer *t, const char *path, const char *label, int *total, bool skip_special_exact) {
    size_t n = 0;
    char *text = (char *)read_whole_file(path, &n);
    text = realloc(text, n + 1);   // a C string for the line loop
    text[n] = 0;
    int good = 0;
    *total = 0;
    int32_t *want = malloc((size_t)(1 << 20) * sizeof *want);
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        cJSON *c = cJSON_Parse(line);
        if (!c) continue;
        (*total)++;
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(c, "text");
        int64_t nw = ids_of(cJSON_GetObjectItemCaseSensitive(c, "ids"), want, 1 << 20);
        const char *dec = cJSON_GetObjectItemCaseSensitive(c, "decoded")->valuestring;
        const char *decs = cJSON_GetObjectItemCaseSensitive(c, "decoded_skip_special")->valuestring;
        char err[256];
        bool ok = true;
        if (cJSON_IsString(tx)) {   // an encode case
            int32_t *ids = NULL;
            int64_t k = tokenizer_encode(t, tx->valuestring, strlen(tx->valuestring), true, &ids, err, sizeof err);
            ok = k == nw && (k == 0 || !memcmp(ids, want, (size_t)k * 4));
            if (!ok) {
                printf("     %s case %d: got %lld ids [", label, (int)cJSON_GetObjectItemCaseSensitive(c, "id")->valuedouble,
                       (long long)k);
                for (int64_t i = 0; i < k && i < 12; i++) printf(" %d", ids[i]);
                printf(" ] want %lld [", (long long)nw);
                for (int64_t i = 0; i < nw && i < 12; i++) printf(" %d", want[i]);
                printf(" ]\n");
            }
            free(ids);
        }
        char *out = NULL;
        size_t len = 0;
        ok = ok && tokenizer_decode(t, want, nw, false, &out, &len, err, sizeof err) && !strcmp(out, dec);
        free(out);
        out = NULL;
        ok = ok && tokenizer_decode(t, want, nw, true, &out, &len, err, sizeof err) &&
             (!skip_special_exact || !strcmp(out, decs));
        free(out);
        good += ok;
        cJSON_Delete(c);
    }
    free(want);
    free(text);
    return good;
}

static char *nfc(const char *s) {
    return (char *)utf8proc_NFC((const utf8proc_uint8_t *)s);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-tokenizer TOKENIZER_DIR\n");
        return 2;
    }
    char err[512] = "", path[1024];
    clock_t c0 = clock();
    struct tokenizer *t = tokenizer_load_json(argv[1], err, sizeof err);
    check(t && tokenizer_n_vocab(t) == 151669, "tokenizer.json loads (%d ids) in %.2f s: %s", t ? tokenizer_n_vocab(t) : 0,
          (double)(clock() - c0) / CLOCKS_PER_SEC, t ? "ok" : err);
    if (!t) return test_summary("tokenizer");

    int total = 0, good;
    snprintf(path, sizeof path, "%s/cases.jsonl", argv[1]);
    good = run_cases(t, path, "json", &total, true);
    check(good == total && total > 100, "tokenizer.json: %d of %d reference cases exact (ids, decoded, skip-special)", good,
          total);
    snprintf(path, sizeof path, "%s/decode_cases.jsonl", argv[1]);
    good = run_cases(t, path, "json", &total, true);
    check(good == total && total > 40, "decode cases (partial UTF-8, specials): %d of %d exact", good, total);

    // The same tokenizer through GGUF metadata, as the converter writes it.
    struct tl_gguf *g = tl_gguf_new();
    bool ok = hf_tokenizer_to_gguf(argv[1], 151936, 151643, 151645, g, err, sizeof err);
    struct tokenizer *tg = ok ? tokenizer_load_gguf(g, err, sizeof err) : NULL;
    check(tg != NULL, "GGUF tokenizer.ggml.* loads: %s", tg ? "ok" : err);
    if (tg) {
        snprintf(path, sizeof path, "%s/cases.jsonl", argv[1]);
        good = run_cases(tg, path, "gguf", &total, false);
        check(good == total, "GGUF: %d of %d reference cases give the same ids and decoded text", good, total);
    }

    // Round trip, streaming, bad input.
    const char *texts[] = { "Hello, world! 123 4567", "e\xcc\x81t\xc3\xa9 caf\xc3\xa9 \xef\xac\x81", "中文 テスト 한국어",
                            "<|im_start|>user\nDescribe <|image_pad|><|image_pad|> please<|im_end|>\n", "  \t\n\n x",
                            "😶‍🌫️ 🦙🦙 a\r\nb" };
    int rt_good = 0, stream_good = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        int64_t k = tokenizer_encode(t, texts[i], strlen(texts[i]), true, &ids, err, sizeof err);
        char *out = NULL, *want = nfc(texts[i]);
        size_t len;
        rt_good += k >= 0 && tokenizer_decode(t, ids, k, false, &out, &len, err, sizeof err) && !strcmp(out, want);
        struct tokenizer_stream s = { 0 };
        char acc[4096] = "", piece[1024];
        size_t pos = 0;
        for (int64_t j = 0; j < k; j++) {
            int w = tokenizer_stream_piece(t, &s, ids[j], false, piece, sizeof piece);
            memcpy(acc + pos, piece, (size_t)w);
            pos += (size_t)w;
        }
        pos += (size_t)tokenizer_stream_flush(&s, acc + pos, sizeof acc - pos);
        acc[pos] = 0;
        stream_good += out && !strcmp(acc, out);
        free(out);
        free(want);
        free(ids);
    }
    check(rt_good == 6, "decode(encode(x)) == NFC(x) for %d of 6 texts (ASCII, decomposed accents, CJK, specials, "
                        "whitespace, emoji ZWJ)", rt_good);
    check(stream_good == 6, "streaming decode, token by token, equals batch decode (%d of 6)", stream_good);

    int32_t *ids = NULL;
    int64_t k = tokenizer_encode(t, "", 0, true, &ids, err, sizeof err);
    check(k == 0 && !ids, "empty input: no ids");
    const char bad[] = "ok\xff\xfe\xc3(\xe2\x82 end";
    k = tokenizer_encode(t, bad, sizeof bad - 1, true, &ids, err, sizeof err);
    char *out = NULL;
    size_t len;
    bool dec_ok = k > 0 && tokenizer_decode(t, ids, k, false, &out, &len, err, sizeof err);
    check(dec_ok && !strcmp(out, "ok\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd end"),
          "invalid UTF-8 input becomes U+FFFD per maximal invalid subpart: \"%s\"", dec_ok ? out : err);
    free(out);
    free(ids);
    k = tokenizer_encode(t, "<|im_start|>", 12, false, &ids, err, sizeof err);
    check(k > 1 && ids[0] != 151644, "without parse_special, <|im_start|> is plain text (%lld ids)", (long long)k);
    free(ids);
    int32_t unknown[2] = { 5, 151669 };
    out = NULL;
    check(!tokenizer_decode(t, unknown, 2, false, &out, &len, err, sizeof err) && strstr(err, "outside the vocabulary"),
          "unknown id on decode: \"%s\"", err);

    // A 1 MB single "word": time must stay near linear.
    size_t big = 1 << 20;
    char *word = malloc(big + 1);
    for (size_t i = 0; i < big; i++) word[i] = "abcdefghij"[i % 10 == 9 ? (i / 10) % 10 : i % 10];
    word[big] = 0;
    c0 = clock();
    k = tokenizer_encode(t, word, big, true, &ids, err, sizeof err);
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    dec_ok = k > 0 && tokenizer_decode(t, ids, k, false, &out, &len, err, sizeof err) && len == big &&
             !memcmp(out, word, big);
    check(dec_ok && secs < 10, "a 1 MiB single word: %lld ids in %.2f s, decodes back exactly", (long long)k, secs);
    free(out);
    free(ids);
    free(word);

    // Many pieces: 4x the text must cost about 4x, not 16x (a check of the complexity, with
    // a wide margin for a noisy machine; speed itself is in the benchmark).
    double secs_n[2];
    for (int r = 0; r < 2; r++) {
        size_t n_bytes = (size_t)(r ? 4 : 1) << 20;
        char *words = malloc(n_bytes + 1);
        for (size_t i = 0; i < n_bytes; i++) words[i] = "the quick brown fox, 12 jumps!\n"[i % 31];
        c0 = clock();
        k = tokenizer_encode(t, words, n_bytes, true, &ids, err, sizeof err);
        secs_n[r] = (double)(clock() - c0) / CLOCKS_PER_SEC;
        free(ids);
        free(words);
    }
    check(secs_n[1] < 8 * secs_n[0] + 0.05, "1 MiB of short words in %.2f s, 4 MiB in %.2f s: linear, not quadratic",
          secs_n[0], secs_n[1]);

    tokenizer_free(t);
    tokenizer_free(tg);
    tl_gguf_free(g);
    return test_summary("tokenizer");
}
