// chat-template.h: the Qwen2-VL / Qwen2.5-VL chat format and the image token count.
//
// The text is what HuggingFace's chat template renders, with the processor's expansion
// already applied: each image becomes <|vision_start|>, N x <|image_pad|>, <|vision_end|>
// where N is the number of merged 2x2 patch groups of the image after smart_resize.
//   - a conversation not starting with a system message gets
//     "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
//   - each message is "<|im_start|>ROLE\n" + its parts in order + "<|im_end|>\n";
//   - with add_vision_id, images are prefixed "Picture K: " (K counted over the whole
//     conversation);
//   - add_generation_prompt appends "<|im_start|>assistant\n".
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QWEN25VL_MIN_PIXELS 3136          // 56 * 56, preprocessor_config.json
#define QWEN25VL_MAX_PIXELS 12845056      // 16384 * 28 * 28

// HF's smart_resize with factor 28: the (height, width) an image of h x w is resized to.
// Rounding is Python's (ties to even). false with err for an image under 28 pixels on a
// side or with an aspect ratio over 200.
bool qwen25vl_smart_resize(int h, int w, int64_t min_pixels, int64_t max_pixels, int *out_h, int *out_w, char *err,
                           size_t errlen);
// LLM tokens of an image resized to h x w (both multiples of 28): (h/14)(w/14)/4.
int64_t qwen25vl_image_tokens(int h, int w);

enum chat_part_kind { CHAT_TEXT, CHAT_IMAGE };
struct chat_part {
    enum chat_part_kind kind;
    const char *text;       // CHAT_TEXT
    int height, width;      // CHAT_IMAGE: the image's size before resizing, in pixels
};
struct chat_message {
    const char *role;       // "system", "user", "assistant"
    const struct chat_part *parts;
    int n_parts;
};

struct chat_options {
    bool add_generation_prompt, add_vision_id;
    int64_t min_pixels, max_pixels;   // 0: the Qwen2.5-VL defaults above
};

// The prompt text (malloc'd), or NULL with err (a bad image size).
char *qwen25vl_chat_format(const struct chat_message *msgs, int n, const struct chat_options *o, char *err,
                           size_t errlen);
