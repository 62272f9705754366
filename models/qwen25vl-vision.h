// qwen25vl-vision.h: the Qwen2.5-VL vision tower and merger (spec section 4) as libtl
// graphs, from a projector ("mmproj") GGUF, ours or llama.cpp's.
//
// One still image at a time (bounded memory: a 144-dpi A4 page is 10,320 patches):
//
//     struct qwen25vl_vision_model v;
//     qwen25vl_vision_load(&v, "qwen7b-mmproj.gguf", err, sizeof err);
//     float *out = malloc(qwen25vl_vision_n_tokens(H, W) * v.hp.projection_dim * sizeof(float));
//     qwen25vl_vision_encode(&v, pixels, H, W, n_threads, out, err, sizeof err);
//
// pixels are normalised [H][W][3] float32 (image-preprocess.h makes them), H and W
// multiples of 28; out receives (H/28) x (W/28) merged tokens in raster order, each
// projection_dim (= the text model's n_embd) floats: the rows that replace the image's
// <|image_pad|> tokens.
#pragma once

#include "qwen25vl-gguf.h"
#include "tl.h"
#include "tl-vulkan.h"

struct qwen25vl_vision_layer {
    struct tl_tensor *ln1, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    struct tl_tensor *ln2, *gate, *gate_b, *up, *up_b, *down, *down_b;
};

struct qwen25vl_vision_model {
    struct qwen25vl_vision_hparams hp;
    struct tl_gguf *file;
    struct tl_context *wctx;
    struct tl_tensor *patch_w0, *patch_w1;   // the Conv3d's two temporal slices, [14,14,3,E]
    struct tl_tensor *post_ln, *mm0_w, *mm0_b, *mm2_w, *mm2_b;
    struct qwen25vl_vision_layer *layers;
    struct tl_vk_mirror *mirror;   // set by qwen25vl_vision_use_device: encode there
    // The graphs cast the matrices (patch embedding, projections, merger) to this type
    // before mul_mat, when it is not TL_F32 (the zero value: as stored): a trainer's f32
    // masters computing in bf16 or f16.
    enum tl_type compute_type;
};

bool qwen25vl_vision_load(struct qwen25vl_vision_model *v, const char *path, char *err, size_t errlen);
// Opens a projector GGUF and checks it (hyperparameters, every tensor's name and shape,
// the patch and merge sizes longvl supports): the file, its hyperparameters and its
// tensor specs (malloc'd), or NULL with a message naming the file.
struct tl_gguf *qwen25vl_vision_open(const char *path, struct qwen25vl_vision_hparams *hp,
                                     struct qwen25vl_tensor_spec **specs, int *n_specs, char *err, size_t errlen);
void qwen25vl_vision_free(struct qwen25vl_vision_model *v);
// Encodes on this Vulkan device from now on (the weights go there on the first encode and
// stay); vk must outlive the model.
void qwen25vl_vision_use_device(struct qwen25vl_vision_model *v, struct tl_vk_backend *vk);

// Points every tensor of v (v->hp set, v->layers allocated) at what find returns for its
// name (fmt % layer): the file's tensors, or a trainer's f32 masters. false if one is
// missing, or a norm or bias is not f32.
bool qwen25vl_vision_bind(struct qwen25vl_vision_model *v, struct tl_tensor *(*find)(void *user, const char *fmt, int layer),
                          void *user);

// The tower as graph pieces over patch rows in window order (vision-layout.h), for a
// trainer that checkpoints runs of blocks:
//   x = patch_embed(patches [3*14*14, n]) -> [E, n]; x = blocks(l0, l1, x, pos [2n], window_of [n]);
//   merger(x) -> [projection_dim, n/4], merge units in window order.
struct tl_tensor *qwen25vl_vision_patch_embed(struct tl_context *ctx, const struct qwen25vl_vision_model *v,
                                              struct tl_tensor *patches);
struct tl_tensor *qwen25vl_vision_blocks(struct tl_context *ctx, const struct qwen25vl_vision_model *v, int l0, int l1,
                                         struct tl_tensor *x, struct tl_tensor *pos, struct tl_tensor *window_of);
struct tl_tensor *qwen25vl_vision_merger(struct tl_context *ctx, const struct qwen25vl_vision_model *v,
                                         struct tl_tensor *x);

// Merged tokens of an H x W image (H, W multiples of 28).
int64_t qwen25vl_vision_n_tokens(int H, int W);

// Encodes one image; false with a message for a size that is not a multiple of 28.
bool qwen25vl_vision_encode(const struct qwen25vl_vision_model *v, const float *pixels, int H, int W, int n_threads,
                            float *out, char *err, size_t errlen);
