// qwen25vl-text.h: the Qwen2.5-VL text model (spec section 5) as libtl graphs: load a
// text GGUF (ours or llama.cpp's, any float or block weight types), keep a KV cache, and
// feed it embeddings in micro-batches.
//
// The caller builds the input embeddings (token rows from qwen25vl_text_embed, image rows
// from the vision tower at <|image_pad|> positions) and the M-RoPE positions
// (mrope-positions.h), then appends them to the cache:
//
//     struct qwen25vl_text_model m;
//     qwen25vl_text_load(&m, "qwen7b.gguf", err, sizeof err);
//     struct qwen25vl_text_context *c = qwen25vl_text_context_new(&m, &(struct qwen25vl_text_params){
//         .n_ctx = 32768, .kv_type = TL_F16, .n_ubatch = 512, .n_threads = 8 }, err, sizeof err);
//     qwen25vl_text_embed(&m, ids, n, embd, err, sizeof err);        // [n][n_embd]
//     qwen25vl_text_decode(c, embd, pos, n, logits, false, err, sizeof err);   // logits of the last token
//
// Memory: the weights (mapped from the file), the KV cache (kv_bytes_per_token x n_ctx,
// reserved up front, touched as it fills) and a compute buffer that depends on n_ubatch
// and n_vocab, never on the context length: attention is the fused chunked op.
#pragma once

#include "rope-scaling.h"

#include "qwen25vl-gguf.h"
#include "tl.h"
#include "tl-vulkan.h"

struct qwen25vl_text_layer {
    struct tl_tensor *attn_norm, *wq, *bq, *wk, *bk, *wv, *bv, *wo;
    struct tl_tensor *ffn_norm, *ffn_gate, *ffn_up, *ffn_down;
};

// Points every layer's fields at the tensor find(user, fmt, layer) returns for its GGUF
// name (fmt like "blk.%d.attn_q.weight"); false if any is NULL. Shared by inference
// (tensors in the file's mapping) and training (f32 masters).
bool qwen25vl_text_bind_layers(struct qwen25vl_text_layer *layers, uint32_t n_layer,
                               struct tl_tensor *(*find)(void *user, const char *fmt, int layer), void *user);

struct qwen25vl_text_model {
    struct qwen25vl_text_hparams hp;
    struct tl_gguf *file;        // the mapping the weights point into
    struct tl_context *wctx;     // weight tensor headers
    struct tl_tensor *tok_embd, *output_norm, *output;   // output = tok_embd when tied
    struct qwen25vl_text_layer *layers;
    void **cpu_copies;           // weights moved into copies of their own: CPU layouts, 2 MiB pages (qwen25vl_text_use_cpu_layouts)
    int n_cpu_copies;
};

// Opens a text GGUF, reads and checks its hyperparameters, and lists the tensors it must
// hold (*specs, malloc'd) after checking them by name and shape; with_extra allows
// tensors beyond the model's (a train-longpt checkpoint's optimizer state). NULL with a
// message naming the file.
struct tl_gguf *qwen25vl_text_open(const char *path, bool with_extra, struct qwen25vl_text_hparams *hp,
                                   struct qwen25vl_tensor_spec **specs, int *n_specs, char *err, size_t errlen);
// Opens a text GGUF and checks its hyperparameters and every tensor's name and shape.
bool qwen25vl_text_load(struct qwen25vl_text_model *m, const char *path, char *err, size_t errlen);
// For models computed on the CPU only (not with a Vulkan device, which reads the file's
// layouts): copies every matrix weight that has a faster CPU layout into it
// (tl_type_cpu_layout: matrices of the six block formats of a multiple of 8 rows -> their
// R8 panels, except the token embedding, whose rows are read one by one; otherwise
// tl_type_interleaved: Q4_0 -> Q4_0_X16, Q4_1 -> Q4_1_X16, Q8_0 -> Q8_0_X8, Q4_K -> Q4_K_X8,
// Q5_K -> Q5_K_X8),
// and every other matrix of 2 MiB or more as it is, unless huge pages are off
// (tl_alloc_large: the copies sit on 2 MiB pages), giving its pages of the mapped file back.
// Same results up to float rounding order. False (out of memory) with a message.
bool qwen25vl_text_use_cpu_layouts(struct qwen25vl_text_model *m, char *err, size_t errlen);
void qwen25vl_text_free(struct qwen25vl_text_model *m);

// Token embeddings as f32 rows: out[i][0..n_embd). An id outside the vocabulary is an error.
bool qwen25vl_text_embed(const struct qwen25vl_text_model *m, const int32_t *ids, int64_t n, float *out, char *err,
                         size_t errlen);

struct qwen25vl_text_params {
    int64_t      n_ctx;           // KV cache capacity in tokens
    enum tl_type kv_type;         // TL_F32, TL_F16, TL_Q8_0 or TL_Q4_0 (head_dim a multiple of 32)
    int          n_ubatch;        // tokens per graph during prefill (0: 512)
    int          n_threads;       // 0: all cores
    float        rope_freq_base;  // 0: the model's (rope.freq_base); see rope-scaling.h
    struct rope_yarn rope_yarn;   // factor 0: no YaRN
    struct tl_vk_backend *vk;     // non-NULL: compute on this Vulkan device (weights and
                                  // cache stay there; ops it lacks run on the CPU)
};

struct qwen25vl_text_context;

struct qwen25vl_text_context *qwen25vl_text_context_new(const struct qwen25vl_text_model *m,
                                                        const struct qwen25vl_text_params *p, char *err,
                                                        size_t errlen);
void qwen25vl_text_context_free(struct qwen25vl_text_context *c);

// Bytes the cache holds per token, all layers, for a KV type.
size_t qwen25vl_kv_bytes_per_token(const struct qwen25vl_text_hparams *hp, enum tl_type kv_type);
int64_t qwen25vl_text_n_past(const struct qwen25vl_text_context *c);   // tokens in the cache
int64_t qwen25vl_text_n_ctx(const struct qwen25vl_text_context *c);    // its capacity
// Benchmark aid: appends n tokens of synthetic cache rows (every K and V element 0.01)
// without computing them, to measure decode speed and memory at a long context without
// a long prefill. The rows are written, so their pages are resident as real ones would be.
bool qwen25vl_text_fill_synthetic(struct qwen25vl_text_context *c, int64_t n, char *err, size_t errlen);
// Forgets the cache from token n_keep on (n_keep <= n_past).
void qwen25vl_text_truncate(struct qwen25vl_text_context *c, int64_t n_keep);
// Peak bytes of the compute buffer so far (grows with n_ubatch, not with the context).
size_t qwen25vl_text_compute_bytes(const struct qwen25vl_text_context *c);

// Appends n tokens: embd [n][n_embd] f32, pos [3][n] (t, h, w streams, mrope-positions.h).
// logits (may be NULL): all_logits ? [n][n_vocab] : [n_vocab] for the last token.
// Fails (with nothing appended) if the cache would overflow.
bool qwen25vl_text_decode(struct qwen25vl_text_context *c, const float *embd, const int32_t *pos, int64_t n,
                          float *logits, bool all_logits, char *err, size_t errlen);
