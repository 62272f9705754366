// Fuzzing the file parsers: thousands of corrupted copies of a valid GGUF file and a
// valid safetensors file (random byte flips, lying 8-byte fields, truncations). Every
// copy sits in a buffer of exactly its size, so under AddressSanitizer (CI runs this
// test that way) any read past the end is a crash. Each copy must be either refused with
// a message or accepted, and an accepted copy is walked completely: every value
// formatted, every tensor byte read.
#include "byte-builder.h"
#include "safetensors.h"
#include "test-util.h"
#include "tl-gguf.h"

#include <unistd.h>

static uint8_t *valid_gguf(size_t *n) {
    struct tl_gguf *g = tl_gguf_new();
    tl_gguf_set_str(g, "general.architecture", "qwen2vl");
    tl_gguf_set_u32(g, "qwen2vl.block_count", 2);
    tl_gguf_set_f32(g, "qwen2vl.rope.freq_base", 1e6f);
    tl_gguf_set_bool(g, "clip.use_silu", true);
    tl_gguf_set_u64(g, "u64", 7);
    tl_gguf_set_i8(g, "i8", -3);
    int32_t sec[4] = { 16, 24, 24, 0 };
    tl_gguf_set_arr_data(g, "qwen2vl.rope.dimension_sections", TL_GGUF_INT32, sec, 4);
    const char *toks[] = { "!", "Ġthe", "<|im_end|>", "" };
    tl_gguf_set_arr_str(g, "tokenizer.ggml.tokens", toks, 4);
    bool flags[3] = { true, false, true };
    tl_gguf_set_arr_data(g, "flags", TL_GGUF_BOOL, flags, 3);
    uint16_t inner_data[2] = { 1, 2 };
    struct tl_gguf_value inner = { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_UINT16, 2, inner_data } };
    struct tl_gguf_value nested = { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_ARRAY, 1, &inner } };
    tl_gguf_set_value(g, "nested", &nested);
    char err[256];
    int64_t ne_a[2] = { 4, 3 }, ne_b[1] = { 32 }, ne_c[2] = { 32, 2 };
    tl_gguf_add_tensor(g, "a", TL_GGML_F32, 2, ne_a, err, sizeof err);
    tl_gguf_add_tensor(g, "b", TL_GGML_F16, 1, ne_b, err, sizeof err);
    tl_gguf_add_tensor(g, "c", TL_GGML_Q8_0, 2, ne_c, err, sizeof err);
    static uint8_t data[3][256];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 256; j++) data[i][j] = (uint8_t)(i * 31 + j);
        tl_gguf_set_tensor_data(g, i, data[i]);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/longvl-fuzz-%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    uint8_t *bytes = NULL;
    if (tl_gguf_write_file(g, path, err, sizeof err)) bytes = read_whole_file(path, n);
    unlink(path);
    tl_gguf_free(g);
    return bytes;
}

static uint8_t *valid_safetensors(size_t *n) {
    const char *header =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[4,8],\"data_offsets\":[0,64]},"
        "\"visual.blocks.0.attn.qkv.bias\":{\"dtype\":\"F32\",\"shape\":[12],\"data_offsets\":[64,112]},"
        "\"lm_head.weight\":{\"dtype\":\"F16\",\"shape\":[2,2,2],\"data_offsets\":[112,128]}}";
    struct bytes b = { 0 };
    bytes_u64(&b, strlen(header));
    bytes_put(&b, header, strlen(header));
    for (int i = 0; i < 128; i++) bytes_u8(&b, (uint8_t)i);
    *n = b.n;
    return b.p;
}

// Reads everything an accepted file claims to have; ASan flags any byte out of bounds.
static unsigned walk_gguf(const struct tl_gguf *g) {
    unsigned sum = 0;
    char buf[512];
    for (int64_t i = 0; i < tl_gguf_n_kv(g); i++) {
        tl_gguf_value_format(tl_gguf_kv_value(g, i), buf, sizeof buf);
        sum += (unsigned)strlen(buf) + (unsigned)strlen(tl_gguf_kv_key(g, i));
    }
    for (int64_t i = 0; i < tl_gguf_n_tensors(g); i++) {
        const struct tl_gguf_tensor_info *t = tl_gguf_tensor(g, i);
        for (uint64_t j = 0; j < t->size; j++) sum += ((const uint8_t *)t->data)[j];
    }
    return sum;
}

static unsigned walk_safetensors(const struct safetensors *st) {
    unsigned sum = 0;
    for (int64_t i = 0; i < safetensors_n_tensors(st); i++) {
        const struct safetensors_tensor *t = safetensors_tensor(st, i);
        sum += (unsigned)strlen(t->name) + (unsigned)strlen(t->dtype);
        for (uint64_t j = 0; j < t->nbytes; j++) sum += ((const uint8_t *)t->data)[j];
    }
    return sum;
}

// One corrupted copy, in a buffer of exactly its length.
static uint8_t *mutate(const uint8_t *src, size_t n, size_t header_len, size_t *out_n) {
    size_t len = n;
    int mode = (int)rng_int(0, 3);
    if (mode == 1 || mode == 3) len = (size_t)rng_int(0, (int64_t)n - 1);
    uint8_t *p = malloc(len ? len : 1);
    memcpy(p, src, len);
    if (mode != 1 && len) {
        int flips = (int)rng_int(1, 8);
        for (int i = 0; i < flips; i++) {
            // Mostly in the header, where a flip changes a count, a length, a type or an offset.
            size_t where = rng_int(0, 3) ? (size_t)rng_int(0, (int64_t)(header_len < len ? header_len : len) - 1)
                                         : (size_t)rng_int(0, (int64_t)len - 1);
            if (rng_int(0, 2) == 0 && where + 8 <= len) {
                static const uint64_t lies[] = { 0, 1, 0xff, 0x7fffffff, 0xffffffff, 1ull << 32, 1ull << 62,
                                                 UINT64_MAX, UINT64_MAX - 7, 0x8000000000000000ull };
                uint64_t v = lies[rng_int(0, sizeof lies / sizeof lies[0] - 1)];
                memcpy(p + where, &v, 8);
            } else {
                p[where] ^= (uint8_t)rng_int(1, 255);
            }
        }
    }
    *out_n = len;
    return p;
}

int main(int argc, char **argv) {
    int cases = argc > 1 ? atoi(argv[1]) : 5000;
    rng_seed(20261121);
    volatile unsigned sink = 0;

    size_t gn = 0;
    uint8_t *gguf = valid_gguf(&gn);
    check(gguf != NULL, "a valid %zu-byte GGUF file to corrupt", gn);
    if (!gguf) return test_summary("fuzz");
    char err[512];
    struct tl_gguf *g = tl_gguf_open_memory(gguf, gn, err, sizeof err);
    size_t header = g ? (size_t)tl_gguf_data_offset(g) : gn;
    check(g != NULL, "it parses before corruption");
    tl_gguf_free(g);
    int accepted = 0, refused = 0, silent = 0;
    for (int c = 0; c < cases; c++) {
        size_t n;
        uint8_t *p = mutate(gguf, gn, header, &n);
        err[0] = 0;
        g = tl_gguf_open_memory(p, n, err, sizeof err);
        if (g) {
            accepted++;
            sink += walk_gguf(g);
            tl_gguf_free(g);
        } else {
            refused++;
            silent += err[0] == 0;
        }
        free(p);
    }
    check(accepted + refused == cases && silent == 0,
          "GGUF: %d corrupted copies, none crashed: %d refused with a message, %d still valid and fully read",
          cases, refused, accepted);
    check(refused > cases / 2, "most corruptions are caught (%d of %d)", refused, cases);
    free(gguf);

    size_t sn = 0;
    uint8_t *st_bytes = valid_safetensors(&sn);
    struct safetensors *st = safetensors_open_memory(st_bytes, sn, "valid", err, sizeof err);
    check(st != NULL, "a valid %zu-byte safetensors file to corrupt", sn);
    safetensors_close(st);
    uint64_t hl;
    memcpy(&hl, st_bytes, 8);
    accepted = refused = silent = 0;
    for (int c = 0; c < cases; c++) {
        size_t n;
        uint8_t *p = mutate(st_bytes, sn, 8 + (size_t)hl, &n);
        err[0] = 0;
        st = safetensors_open_memory(p, n, "fuzz", err, sizeof err);
        if (st) {
            accepted++;
            sink += walk_safetensors(st);
            safetensors_close(st);
        } else {
            refused++;
            silent += err[0] == 0;
        }
        free(p);
    }
    check(accepted + refused == cases && silent == 0,
          "safetensors: %d corrupted copies, none crashed: %d refused with a message, %d still valid and fully read",
          cases, refused, accepted);
    free(st_bytes);
    (void)sink;
    return test_summary("fuzz");
}
