// tokenizer.json -> tokenizer.ggml.* (see hf-tokenizer.h). The vocabulary, token types
// and merges come from the runtime's own loader (models/tokenizer.h), so the GGUF holds
// exactly what encoding uses; this file adds llama.cpp's framing: one token per embedding
// row, merges as "left right" strings, special ids from tokenizer_config.json then
// config.json, and the chat template.
#include "hf-tokenizer.h"
#include "tokenizer.h"
#include "text-file.h"
#include "tl.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static cJSON *parse_json_file(const char *path, bool optional, char *err, size_t errlen) {
    struct stat st;
    if (optional && stat(path, &st) != 0) return NULL;
    return read_json_object(path, 256u << 20, err, errlen);
}

// tokenizer_config names special tokens as a string or as {"content": ...}.
static const char *token_text(const cJSON *j) {
    if (cJSON_IsString(j)) return j->valuestring;
    const cJSON *c = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "content") : NULL;
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int64_t id_of(const struct tokenizer *tok, const char *text) {
    return text ? tokenizer_find(tok, text) : -1;
}

// The chat template: tokenizer_config.json, else chat_template.jinja, else chat_template.json.
static char *chat_template(const char *dir, const cJSON *tcfg) {
    const cJSON *t = tcfg ? cJSON_GetObjectItemCaseSensitive(tcfg, "chat_template") : NULL;
    if (cJSON_IsString(t)) return strdup(t->valuestring);
    if (cJSON_IsArray(t))   // [{"name": "default", "template": ...}, ...]
        for (const cJSON *e = t->child; e; e = e->next) {
            const char *name = token_text(cJSON_GetObjectItemCaseSensitive(e, "name"));
            const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (name && !strcmp(name, "default") && cJSON_IsString(tpl)) return strdup(tpl->valuestring);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    char *jinja = read_text_file(path, 1u << 20, NULL, 0);
    if (jinja) return jinja;
    snprintf(path, sizeof path, "%s/chat_template.json", dir);
    cJSON *j = parse_json_file(path, true, NULL, 0);
    const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "chat_template") : NULL;
    char *out = cJSON_IsString(s) ? strdup(s->valuestring) : NULL;
    cJSON_Delete(j);
    return out;
}

bool hf_tokenizer_to_gguf(const char *dir, uint32_t n_vocab, int64_t config_bos, int64_t config_eos,
                          struct tl_gguf *g, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char cfg_err[512] = "";
    cJSON *tcfg = parse_json_file(path, true, cfg_err, sizeof cfg_err);
    if (!tcfg && cfg_err[0]) {   // present but unreadable
        tl_errorf(err, errlen, "%s", cfg_err);
        return false;
    }
    // The tokenizer itself (vocabulary, added tokens, merges) as the runtime loads it.
    struct tokenizer *tok = tokenizer_load_json(dir, err, errlen);
    if (!tok) {
        cJSON_Delete(tcfg);
        return false;
    }
    if ((uint32_t)tokenizer_n_vocab(tok) > n_vocab) {
        tl_errorf(err, errlen, "%s/tokenizer.json: ids up to %d, but the model has only %u embedding rows", dir,
                  tokenizer_n_vocab(tok) - 1, n_vocab);
        tokenizer_free(tok);
        cJSON_Delete(tcfg);
        return false;
    }

    // One token per embedding row: rows past the tokenizer are "[PAD<id>]", UNUSED.
    char **pads = calloc(n_vocab, sizeof *pads);
    const char **tokens = calloc(n_vocab, sizeof *tokens);
    int32_t *types = calloc(n_vocab, sizeof *types);
    if (!pads || !tokens || !types) abort();
    for (uint32_t i = 0; i < n_vocab; i++) {
        if (i < (uint32_t)tokenizer_n_vocab(tok)) {
            tokens[i] = tokenizer_token_text(tok, (int32_t)i);
            types[i] = tokenizer_token_kind(tok, (int32_t)i);
        } else {
            pads[i] = malloc(32);
            if (!pads[i]) abort();
            snprintf(pads[i], 32, "[PAD%u]", i);
            tokens[i] = pads[i];
            types[i] = TOKEN_UNUSED;
        }
    }
    // Merges as "left right" strings in rank order.
    int64_t n_merges = tokenizer_n_merges(tok);
    char **merges = calloc((size_t)n_merges + 1, sizeof *merges);
    if (!merges) abort();
    for (int64_t r = 0; r < n_merges; r++) {
        int32_t a, b;
        tokenizer_merge(tok, r, &a, &b);
        const char *l = tokenizer_token_text(tok, a), *rt = tokenizer_token_text(tok, b);
        size_t n = strlen(l) + strlen(rt) + 2;
        merges[r] = malloc(n);
        if (!merges[r]) abort();
        snprintf(merges[r], n, "%s %s", l, rt);
    }

    tl_gguf_set_str(g, "tokenizer.ggml.model", "gpt2");
    tl_gguf_set_str(g, "tokenizer.ggml.pre", "qwen2");
    tl_gguf_set_arr_str(g, "tokenizer.ggml.tokens", tokens, n_vocab);
    tl_gguf_set_arr_data(g, "tokenizer.ggml.token_type", TL_GGUF_INT32, types, n_vocab);
    tl_gguf_set_arr_str(g, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_merges);

    // Special ids: tokenizer_config.json's token names first, then config.json's ids.
    int64_t bos = tcfg ? id_of(tok, token_text(cJSON_GetObjectItemCaseSensitive(tcfg, "bos_token"))) : -1;
    int64_t eos = tcfg ? id_of(tok, token_text(cJSON_GetObjectItemCaseSensitive(tcfg, "eos_token"))) : -1;
    int64_t pad = tcfg ? id_of(tok, token_text(cJSON_GetObjectItemCaseSensitive(tcfg, "pad_token"))) : -1;
    if (bos < 0) bos = config_bos;
    if (eos < 0) eos = config_eos;
    if (bos >= 0 && bos < n_vocab) tl_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0 && eos < n_vocab) tl_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (pad >= 0) tl_gguf_set_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    const cJSON *add_bos = tcfg ? cJSON_GetObjectItemCaseSensitive(tcfg, "add_bos_token") : NULL;
    if (cJSON_IsBool(add_bos)) tl_gguf_set_bool(g, "tokenizer.ggml.add_bos_token", cJSON_IsTrue(add_bos));
    const cJSON *add_eos = tcfg ? cJSON_GetObjectItemCaseSensitive(tcfg, "add_eos_token") : NULL;
    if (cJSON_IsBool(add_eos)) tl_gguf_set_bool(g, "tokenizer.ggml.add_eos_token", cJSON_IsTrue(add_eos));
    char *tpl = chat_template(dir, tcfg);
    if (tpl) tl_gguf_set_str(g, "tokenizer.chat_template", tpl);
    free(tpl);

    for (uint32_t i = 0; i < n_vocab; i++) free(pads[i]);
    for (int64_t r = 0; r < n_merges; r++) free(merges[r]);
    free(pads);
    free(tokens);
    free(types);
    free(merges);
    tokenizer_free(tok);
    cJSON_Delete(tcfg);
    return true;
}
