// The Qwen2.5-VL chat format: smart_resize against the spec's table (ties to even,
// max/min pixel branches, refusals), the rendered prompt against the template's text,
// and its ids against HuggingFace's integration test (spec section 10).
//
// usage: test-chat-template TOKENIZER_DIR
#include "chat-template.h"
#include "test-util.h"
#include "tokenizer.h"

static void resize_case(int h, int w, int64_t max_pixels, int want_h, int want_w, int64_t want_tokens) {
    int rh = 0, rw = 0;
    char err[256] = "";
    bool ok = qwen25vl_smart_resize(h, w, 0, max_pixels, &rh, &rw, err, sizeof err);
    int64_t tokens = ok ? qwen25vl_image_tokens(rh, rw) : -1;
    check(ok && rh == want_h && rw == want_w && tokens == want_tokens, "smart_resize %dx%d (w x h) -> %dx%d, %lld tokens%s",
          w, h, rw, rh, (long long)tokens, ok ? "" : err);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-chat-template TOKENIZER_DIR\n");
        return 2;
    }
    // The A4 page table of the spec (section 3); 1190/28 = 42.5 rounds to 42, 1191 to 43.
    resize_case(842, 595, 0, 840, 588, 630);
    resize_case(1123, 794, 0, 1120, 784, 1120);
    resize_case(1684, 1191, 0, 1680, 1204, 2580);
    resize_case(1684, 1190, 0, 1680, 1176, 2520);
    resize_case(2339, 1654, 0, 2352, 1652, 4956);
    resize_case(1684, 1191, 1280 * 28 * 28, 1176, 840, 1260);
    resize_case(28, 28, 0, 56, 56, 4);   // under min_pixels: scaled up
    int rh, rw;
    char err[256] = "";
    check(!qwen25vl_smart_resize(27, 500, 0, 0, &rh, &rw, err, sizeof err) && strstr(err, "at least 28"),
          "a 27-pixel side is refused: %s", err);
    check(!qwen25vl_smart_resize(28, 6000, 0, 0, &rh, &rw, err, sizeof err) && strstr(err, "aspect ratio"),
          "aspect ratio 214 is refused: %s", err);

    // One user turn: an image and a question, with the generation prompt.
    struct chat_part parts[2] = { { CHAT_IMAGE, NULL, 56, 56 }, { CHAT_TEXT, "What kind of dog is this?", 0, 0 } };
    struct chat_message msg = { "user", parts, 2 };
    struct chat_options o = { .add_generation_prompt = true };
    char *p = qwen25vl_chat_format(&msg, 1, &o, err, sizeof err);
    const char *want = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                       "<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>"
                       "What kind of dog is this?<|im_end|>\n<|im_start|>assistant\n";
    check(p && !strcmp(p, want), "user turn with an image: the template's text, default system prompt, 4 pads");

    struct tokenizer *t = tokenizer_load_json(argv[1], err, sizeof err);
    check(t != NULL, "tokenizer: %s", t ? "ok" : err);
    if (t && p) {
        int32_t *ids = NULL;
        int64_t n = tokenizer_encode(t, p, strlen(p), true, &ids, err, sizeof err);
        const int32_t hf[] = { 151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 151652,
                               151655, 151655 };
        bool same = n > 17 && !memcmp(ids, hf, sizeof hf);
        check(same && ids[n - 2] == 77091 && ids[n - 1] == 198,
              "ids begin as HuggingFace's integration test (151644 8948 198 ... 151652 151655 151655), end in "
              "assistant (77091) and a newline");
        free(ids);
    }
    free(p);

    // A system message of one's own, several images over two turns with add_vision_id, an
    // assistant turn in between.
    struct chat_part sys_part = { CHAT_TEXT, "Read the pages.", 0, 0 };
    struct chat_part u1[2] = { { CHAT_IMAGE, NULL, 28, 28 }, { CHAT_IMAGE, NULL, 56, 112 } };
    struct chat_part a1 = { CHAT_TEXT, "Two pages.", 0, 0 };
    struct chat_part u2[2] = { { CHAT_TEXT, "And this? ", 0, 0 }, { CHAT_IMAGE, NULL, 28, 28 } };
    struct chat_message conv[4] = { { "system", &sys_part, 1 }, { "user", u1, 2 }, { "assistant", &a1, 1 }, { "user", u2, 2 } };
    struct chat_options o2 = { .add_vision_id = true };
    p = qwen25vl_chat_format(conv, 4, &o2, err, sizeof err);
    const char *want2 =
        "<|im_start|>system\nRead the pages.<|im_end|>\n"
        "<|im_start|>user\nPicture 1: <|vision_start|><|image_pad|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>"
        "Picture 2: <|vision_start|><|image_pad|><|image_pad|><|image_pad|><|image_pad|><|image_pad|><|image_pad|>"
        "<|image_pad|><|image_pad|><|vision_end|><|im_end|>\n"
        "<|im_start|>assistant\nTwo pages.<|im_end|>\n"
        "<|im_start|>user\nAnd this? Picture 3: <|vision_start|><|image_pad|><|image_pad|><|image_pad|><|image_pad|>"
        "<|vision_end|><|im_end|>\n";
    check(p && !strcmp(p, want2), "own system prompt, Picture 1..3 across turns, assistant turn, no generation prompt");
    free(p);
    struct chat_part tiny = { CHAT_IMAGE, NULL, 10, 10 };
    struct chat_message bad = { "user", &tiny, 1 };
    p = qwen25vl_chat_format(&bad, 1, &o, err, sizeof err);
    check(!p && strstr(err, "at least 28"), "an image too small for the model: %s", err);
    tokenizer_free(t);
    return test_summary("chat-template");
}
