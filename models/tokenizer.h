// tokenizer.h: the Qwen2 / Qwen2.5 byte-level BPE tokenizer.
//
// Encoding: added tokens (<|im_start|>, <|image_pad|>, <tool_call>, ...) are matched
// first on the raw text and never merged; the text between them is normalised to NFC,
// split with the Qwen2 pattern (PCRE2, UTF + UCP), each piece's UTF-8 bytes are mapped
// through GPT-2's byte-to-unicode table and merged pairwise by merge rank. The merging
// uses a heap, so a piece of n bytes costs O(n log n), never O(n^2).
//
// Decoding: token strings back to bytes (added tokens are their text), then UTF-8 with
// every maximal invalid subsequence replaced by U+FFFD, as Rust's from_utf8_lossy does.
// A streaming decoder holds back an incomplete UTF-8 tail until the next token.
//
// The same tokenizer loads from tokenizer.json (a HuggingFace folder) and from a GGUF
// file's tokenizer.ggml.* keys, giving identical ids. A tokenizer is not thread-safe
// (it keeps match scratch); use one per thread.
#pragma once

#include "tl-gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tokenizer;

// Token types, numbered as llama.cpp's tokenizer.ggml.token_type: normal, control (special,
// or spelled <|...|>), user-defined (other added tokens), unused (ids with no token).
enum token_kind { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5 };

// path: a tokenizer.json file, or a folder holding one.
struct tokenizer *tokenizer_load_json(const char *path, char *err, size_t errlen);
struct tokenizer *tokenizer_load_gguf(const struct tl_gguf *g, char *err, size_t errlen);
void tokenizer_free(struct tokenizer *t);

int32_t tokenizer_n_vocab(const struct tokenizer *t);
// The token's string as stored (byte-level form, e.g. "Ġthe"); NULL for a bad id.
const char *tokenizer_token_text(const struct tokenizer *t, int32_t id);
bool tokenizer_is_special(const struct tokenizer *t, int32_t id);   // skipped by skip_special
int32_t tokenizer_find(const struct tokenizer *t, const char *text); // exact token string; -1 if none
// The token's enum token_kind; 0 for a bad id.
int tokenizer_token_kind(const struct tokenizer *t, int32_t id);
bool tokenizer_looks_special(const char *text);   // spelled <|...|>
// The merges in rank order, as loaded: rank r merges tokens *left and *right.
int64_t tokenizer_n_merges(const struct tokenizer *t);
bool tokenizer_merge(const struct tokenizer *t, int64_t rank, int32_t *left, int32_t *right);

// Encodes len bytes of text. Invalid UTF-8 is replaced by U+FFFD first. With
// parse_special, added tokens in the text become their ids; without, they are plain text.
// Returns the number of ids and a malloc'd array in *ids (NULL when 0), or -1 with err.
int64_t tokenizer_encode(struct tokenizer *t, const char *text, size_t len, bool parse_special, int32_t **ids,
                         char *err, size_t errlen);

// NFC + the pre-tokenizer split only, without BPE: how many pieces the text makes
// (-1 on error). The benchmark's reference for the cost of BPE itself.
int64_t tokenizer_count_pieces(struct tokenizer *t, const char *text, size_t len);

// Decodes n ids into a malloc'd NUL-terminated string (*out, length in *out_len).
// false with err for an id outside the vocabulary.
bool tokenizer_decode(const struct tokenizer *t, const int32_t *ids, int64_t n, bool skip_special, char **out,
                      size_t *out_len, char *err, size_t errlen);

// Streaming: bytes of one token at a time, complete UTF-8 only.
struct tokenizer_stream {
    uint8_t pending[4];
    int     n_pending;
};
// Appends the decoded text of id to out (at most 4 + token bytes + 3 more are written;
// give it 256 + the longest token). Returns the bytes written, or -1 for a bad id.
int tokenizer_stream_piece(const struct tokenizer *t, struct tokenizer_stream *s, int32_t id, bool skip_special,
                           char *out, size_t cap);
// Whatever is still held back at the end (an incomplete tail becomes U+FFFD).
int tokenizer_stream_flush(struct tokenizer_stream *s, char *out, size_t cap);

// Replaces every maximal invalid UTF-8 subsequence by U+FFFD. Returns a malloc'd
// NUL-terminated copy and its length.
char *utf8_lossy(const uint8_t *p, size_t n, size_t *out_len);
