// tokenizer.json -> tokenizer.ggml.* (see hf-tokenizer.h). The rules follow llama.cpp's
// converter for GPT-2-style BPE: tokens in id order in their byte-level spelling, added
// tokens CONTROL when special (or spelled <|...|>) and USER_DEFINED otherwise, merges as
// "left right" strings, special ids from tokenizer_config.json then config.json.
#include "hf-tokenizer.h"
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

static bool looks_special(const char *s) {
    size_t n = strlen(s);
    return n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>");
}

// tokenizer_config names special tokens as a string or as {"content": ...}.
static const char *token_text(const cJSON *j) {
    if (cJSON_IsString(j)) return j->valuestring;
    const cJSON *c = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "content") : NULL;
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int64_t id_of(char **tokens, uint32_t n, const char *text) {
    if (!text) return -1;
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] && !strcmp(tokens[i], text)) return i;
    return -1;
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
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    cJSON *tj = parse_json_file(path, false, err, errlen);
    if (!tj) return false;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char cfg_err[512] = "";
    cJSON *tcfg = parse_json_file(path, true, cfg_err, sizeof cfg_err);
    if (!tcfg && cfg_err[0]) {   // present but unreadable
        tl_errorf(err, errlen, "%s", cfg_err);
        cJSON_Delete(tj);
        return false;
    }

    char **tokens = calloc(n_vocab, sizeof *tokens);
    int32_t *types = calloc(n_vocab, sizeof *types);
    const char **merges = NULL;
    char **merge_buf = NULL;
    int n_merges = 0;
    bool ok = tokens && types;
    if (!ok) abort();

    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsString(mtype) || strcmp(mtype->valuestring, "BPE") || !cJSON_IsObject(vocab) || !cJSON_IsArray(mj)) {
        tl_errorf(err, errlen, "%s: expected a BPE model with \"vocab\" and \"merges\"", path);
        ok = false;
    }
    for (const cJSON *e = ok ? vocab->child : NULL; e && ok; e = e->next) {
        double id = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (id < 0 || id >= n_vocab || id != (double)(uint32_t)id) {
            tl_errorf(err, errlen, "%s: token '%s' has id %g outside the model's %u embedding rows", path, e->string, id,
                 n_vocab);
            ok = false;
        } else if (tokens[(uint32_t)id]) {
            tl_errorf(err, errlen, "%s: id %u is given to two tokens", path, (uint32_t)id);
            ok = false;
        } else {
            tokens[(uint32_t)id] = strdup(e->string);
            types[(uint32_t)id] = TOKEN_TYPE_NORMAL;
        }
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
    for (const cJSON *e = ok && cJSON_IsArray(added) ? added->child : NULL; e && ok; e = e->next) {
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *content = token_text(e);
        double id = cJSON_IsNumber(idj) ? idj->valuedouble : -1;
        if (!content || id < 0 || id >= n_vocab || id != (double)(uint32_t)id) {
            tl_errorf(err, errlen, "%s: an added token has no content or an id outside %u rows", path, n_vocab);
            ok = false;
            break;
        }
        uint32_t i = (uint32_t)id;
        free(tokens[i]);
        tokens[i] = strdup(content);
        bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
        types[i] = special || looks_special(content) ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_USER_DEFINED;
    }
    for (uint32_t i = 0; ok && i < n_vocab; i++)
        if (!tokens[i]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%u]", i);
            tokens[i] = strdup(pad);
            types[i] = TOKEN_TYPE_UNUSED;
        }

    // Merges: "a b" strings, or ["a", "b"] pairs in newer files.
    if (ok) {
        n_merges = cJSON_GetArraySize(mj);
        merges = calloc(n_merges + 1, sizeof *merges);
        merge_buf = calloc(n_merges + 1, sizeof *merge_buf);
        if (!merges || !merge_buf) abort();
        int k = 0;
        for (const cJSON *e = mj->child; e && ok; e = e->next, k++) {
            if (cJSON_IsString(e)) {
                merges[k] = e->valuestring;
            } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                       cJSON_IsString(e->child->next)) {
                size_t n = strlen(e->child->valuestring) + strlen(e->child->next->valuestring) + 2;
                merge_buf[k] = malloc(n);
                if (!merge_buf[k]) abort();
                snprintf(merge_buf[k], n, "%s %s", e->child->valuestring, e->child->next->valuestring);
                merges[k] = merge_buf[k];
            } else {
                tl_errorf(err, errlen, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", path, k);
                ok = false;
            }
        }
    }

    if (ok) {
        tl_gguf_set_str(g, "tokenizer.ggml.model", "gpt2");
        tl_gguf_set_str(g, "tokenizer.ggml.pre", "qwen2");
        tl_gguf_set_arr_str(g, "tokenizer.ggml.tokens", (const char *const *)tokens, n_vocab);
        tl_gguf_set_arr_data(g, "tokenizer.ggml.token_type", TL_GGUF_INT32, types, n_vocab);
        tl_gguf_set_arr_str(g, "tokenizer.ggml.merges", merges, (uint64_t)n_merges);

        // Special ids: tokenizer_config.json's token names first, then config.json's ids.
        int64_t bos = tcfg ? id_of(tokens, n_vocab, token_text(cJSON_GetObjectItemCaseSensitive(tcfg, "bos_token"))) : -1;
        int64_t eos = tcfg ? id_of(tokens, n_vocab, token_text(cJSON_GetObjectItemCaseSensitive(tcfg, "eos_token"))) : -1;
        int64_t pad = tcfg ? id_of(tokens, n_vocab, token_text(cJSON_GetObjectItemCaseSensitive(tcfg, "pad_token"))) : -1;
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
    }

    for (uint32_t i = 0; i < n_vocab; i++) free(tokens[i]);
    for (int k = 0; merge_buf && k < n_merges; k++) free(merge_buf[k]);
    free(tokens);
    free(types);
    free(merges);
    free(merge_buf);
    cJSON_Delete(tj);
    cJSON_Delete(tcfg);
    return ok;
}
