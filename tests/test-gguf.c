// GGUF: a round trip of every metadata value type (nested arrays included) and of tensor
// data at several alignments; a hand-assembled file read and re-written byte for byte;
// each kind of lie a file can tell refused with a message that says what is wrong; the
// streaming writer refusing short or long data and leaving no file behind.
#include "byte-builder.h"
#include "test-util.h"
#include "tl-gguf.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// ---------------------------------------------------------------------------------------
// Round trip

static bool same_value(const struct tl_gguf_value *a, const struct tl_gguf_value *b) {
    if (a->type != b->type) return false;
    if (a->type == TL_GGUF_STRING)
        return a->str.len == b->str.len && !memcmp(a->str.data, b->str.data, a->str.len);
    if (a->type != TL_GGUF_ARRAY) return !memcmp(&a->u8, &b->u8, tl_gguf_type_size(a->type));
    if (a->arr.type != b->arr.type || a->arr.n != b->arr.n) return false;
    for (uint64_t i = 0; i < a->arr.n; i++) {
        if (a->arr.type == TL_GGUF_STRING) {
            const struct tl_gguf_str *x = &((const struct tl_gguf_str *)a->arr.data)[i];
            const struct tl_gguf_str *y = &((const struct tl_gguf_str *)b->arr.data)[i];
            if (x->len != y->len || memcmp(x->data, y->data, x->len)) return false;
        } else if (a->arr.type == TL_GGUF_ARRAY) {
            if (!same_value(&((const struct tl_gguf_value *)a->arr.data)[i],
                            &((const struct tl_gguf_value *)b->arr.data)[i]))
                return false;
        }
    }
    if (a->arr.type != TL_GGUF_STRING && a->arr.type != TL_GGUF_ARRAY)
        return !memcmp(a->arr.data, b->arr.data, a->arr.n * tl_gguf_type_size(a->arr.type));
    return true;
}

static struct tl_gguf *every_value_type(void) {
    struct tl_gguf *g = tl_gguf_new();
    tl_gguf_set_u8(g, "t.u8", 255);
    tl_gguf_set_i8(g, "t.i8", -128);
    tl_gguf_set_u16(g, "t.u16", 65535);
    tl_gguf_set_i16(g, "t.i16", -32768);
    tl_gguf_set_u32(g, "t.u32", 4000000000u);
    tl_gguf_set_i32(g, "t.i32", INT32_MIN);
    tl_gguf_set_u64(g, "t.u64", UINT64_MAX);
    tl_gguf_set_i64(g, "t.i64", INT64_MIN);
    tl_gguf_set_f32(g, "t.f32", -0.0f);
    tl_gguf_set_f64(g, "t.f64", 1e308);
    tl_gguf_set_bool(g, "t.bool.true", true);
    tl_gguf_set_bool(g, "t.bool.false", false);
    tl_gguf_set_str(g, "t.str.empty", "");
    tl_gguf_set_str(g, "t.str.utf8", "Ġthe 中文 \xf0\x9f\x98\x80");
    struct tl_gguf_value nul = { .type = TL_GGUF_STRING, .str = { "a\0b", 3 } };
    tl_gguf_set_value(g, "t.str.nul", &nul);

    uint8_t u8s[] = { 0, 1, 255 };
    int8_t i8s[] = { -128, 0, 127 };
    uint16_t u16s[] = { 0, 65535 };
    int16_t i16s[] = { -32768, 32767 };
    uint32_t u32s[] = { 16, 24, 24, 0 };
    int32_t i32s[] = { -1, 1, INT32_MAX };
    uint64_t u64s[] = { UINT64_MAX, 0 };
    int64_t i64s[] = { INT64_MIN, INT64_MAX };
    float f32s[] = { 0.48145466f, 0.4578275f, 0.40821073f };
    double f64s[] = { 3.141592653589793, -2.5e-300 };
    bool bools[] = { true, false, true };
    tl_gguf_set_arr_data(g, "a.u8", TL_GGUF_UINT8, u8s, 3);
    tl_gguf_set_arr_data(g, "a.i8", TL_GGUF_INT8, i8s, 3);
    tl_gguf_set_arr_data(g, "a.u16", TL_GGUF_UINT16, u16s, 2);
    tl_gguf_set_arr_data(g, "a.i16", TL_GGUF_INT16, i16s, 2);
    tl_gguf_set_arr_data(g, "a.u32", TL_GGUF_UINT32, u32s, 4);
    tl_gguf_set_arr_data(g, "a.i32", TL_GGUF_INT32, i32s, 3);
    tl_gguf_set_arr_data(g, "a.u64", TL_GGUF_UINT64, u64s, 2);
    tl_gguf_set_arr_data(g, "a.i64", TL_GGUF_INT64, i64s, 2);
    tl_gguf_set_arr_data(g, "a.f32", TL_GGUF_FLOAT32, f32s, 3);
    tl_gguf_set_arr_data(g, "a.f64", TL_GGUF_FLOAT64, f64s, 2);
    tl_gguf_set_arr_data(g, "a.bool", TL_GGUF_BOOL, bools, 3);
    tl_gguf_set_arr_data(g, "a.empty", TL_GGUF_UINT32, NULL, 0);
    const char *strs[] = { "Ġ Ġ", "", "<|im_end|>" };
    tl_gguf_set_arr_str(g, "a.str", strs, 3);

    // Nested: [[1,2],[3]] of u32, [["x"],[]] of strings, and a depth-3 array.
    uint32_t one_two[] = { 1, 2 }, three[] = { 3 };
    struct tl_gguf_value inner[2] = {
        { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_UINT32, 2, one_two } },
        { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_UINT32, 1, three } },
    };
    struct tl_gguf_value nested = { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_ARRAY, 2, inner } };
    tl_gguf_set_value(g, "n.u32", &nested);
    struct tl_gguf_str x = { "x", 1 };
    struct tl_gguf_value sinner[2] = {
        { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_STRING, 1, &x } },
        { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_STRING, 0, NULL } },
    };
    struct tl_gguf_value snested = { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_ARRAY, 2, sinner } };
    tl_gguf_set_value(g, "n.str", &snested);
    struct tl_gguf_value deep = { .type = TL_GGUF_ARRAY, .arr = { TL_GGUF_ARRAY, 1, &nested } };
    tl_gguf_set_value(g, "n.deep", &deep);
    return g;
}

static void test_round_trip(uint32_t alignment) {
    struct tl_gguf *g = every_value_type();
    if (alignment) tl_gguf_set_u32(g, "general.alignment", alignment);
    char err[512] = "";
    // Tensors of several types and shapes, one of them empty.
    struct { const char *name; uint32_t type, n_dims; int64_t ne[4]; } ts[] = {
        { "token_embd.weight", TL_GGML_F32, 2, { 7, 5 } },
        { "blk.0.attn_q.weight", TL_GGML_F16, 2, { 64, 3 } },
        { "blk.0.attn_q.bias", TL_GGML_BF16, 1, { 3 } },
        { "v.patch_embd.weight", TL_GGML_F16, 4, { 14, 14, 3, 2 } },
        { "q8", TL_GGML_Q8_0, 2, { 64, 2 } },
        { "empty", TL_GGML_F32, 2, { 0, 4 } },
        { "last", TL_GGML_I32, 1, { 1 } },
    };
    int nt = (int)(sizeof ts / sizeof ts[0]);
    uint8_t *data[8];
    for (int i = 0; i < nt; i++) {
        int64_t idx = tl_gguf_add_tensor(g, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, err, sizeof err);
        check(idx == i, "add_tensor %s: %s", ts[i].name, idx < 0 ? err : "ok");
        uint64_t n = tl_gguf_tensor(g, i)->size;
        data[i] = malloc(n + 1);
        for (uint64_t j = 0; j < n; j++) data[i][j] = (uint8_t)rng_u64();
        tl_gguf_set_tensor_data(g, i, data[i]);
    }
    const char *path = tmp_path("round.gguf");
    bool ok = tl_gguf_write_file(g, path, err, sizeof err);
    check(ok, "write with alignment %u: %s", alignment, ok ? "ok" : err);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    check(!exists(tmp), "no temporary file left after a successful write");

    struct tl_gguf *r = tl_gguf_open(path, err, sizeof err);
    check(r != NULL, "read back: %s", r ? "ok" : err);
    if (r) {
        size_t want_align = alignment ? alignment : TL_GGUF_DEFAULT_ALIGNMENT;
        check(tl_gguf_alignment(r) == want_align, "alignment %zu", tl_gguf_alignment(r));
        check(tl_gguf_n_kv(r) == tl_gguf_n_kv(g), "%lld keys", (long long)tl_gguf_n_kv(r));
        int same = 0;
        for (int64_t i = 0; i < tl_gguf_n_kv(g) && i < tl_gguf_n_kv(r); i++)
            same += !strcmp(tl_gguf_kv_key(g, i), tl_gguf_kv_key(r, i)) &&
                    same_value(tl_gguf_kv_value(g, i), tl_gguf_kv_value(r, i));
        check(same == tl_gguf_n_kv(g), "every key, type and value identical, in order (%d of %lld)", same,
              (long long)tl_gguf_n_kv(g));
        const struct tl_gguf_value *s = tl_gguf_get(r, "t.str.nul");
        check(s && s->str.len == 3 && s->str.data[1] == 0 && s->str.data[2] == 'b', "string with a NUL kept");
        const struct tl_gguf_value *d = tl_gguf_get(r, "n.deep");
        const struct tl_gguf_value *d1 = d ? &((const struct tl_gguf_value *)d->arr.data)[0] : NULL;
        const struct tl_gguf_value *d2 = d1 ? &((const struct tl_gguf_value *)d1->arr.data)[0] : NULL;
        check(d2 && d2->arr.type == TL_GGUF_UINT32 && d2->arr.n == 2 && ((const uint32_t *)d2->arr.data)[1] == 2,
              "depth-3 array element [0][0][1] = 2");
        char buf[256];
        tl_gguf_value_format(tl_gguf_get(r, "a.f32"), buf, sizeof buf);
        check(!strcmp(buf, "f32[3] [0.481455, 0.457828, 0.408211]"), "formatted array: %s", buf);
        check(tl_gguf_n_tensors(r) == nt, "%lld tensors", (long long)tl_gguf_n_tensors(r));
        int good = 0;
        for (int i = 0; i < nt && i < tl_gguf_n_tensors(r); i++) {
            const struct tl_gguf_tensor_info *t = tl_gguf_tensor(r, i);
            const struct tl_gguf_tensor_info *w = tl_gguf_tensor(g, i);
            bool shape = t->n_dims == w->n_dims && !memcmp(t->ne, w->ne, sizeof t->ne) && t->type == w->type;
            bool aligned = (t->offset % want_align) == 0 &&
                           ((uintptr_t)t->data - (uintptr_t)tl_gguf_tensor(r, 0)->data) % want_align == 0;
            good += !strcmp(t->name, w->name) && shape && aligned && t->size == w->size &&
                    !memcmp(t->data, data[i], t->size);
        }
        check(good == nt, "every tensor: name, shape, type, alignment and bytes identical (%d of %d)", good, nt);
        check(tl_gguf_find_tensor(r, "q8") == 4 && tl_gguf_find_tensor(r, "nope") == -1, "find_tensor");
        tl_gguf_free(r);
    }
    for (int i = 0; i < nt; i++) free(data[i]);
    tl_gguf_free(g);
}

// ---------------------------------------------------------------------------------------
// A file assembled by hand from the format description

static void hand_made(struct bytes *b, uint32_t version, uint64_t offset) {
    bytes_put(b, "GGUF", 4);
    bytes_u32(b, version);
    bytes_u64(b, 1);   // tensors
    bytes_u64(b, 2);   // keys
    bytes_str(b, "general.architecture");
    bytes_u32(b, TL_GGUF_STRING);
    bytes_str(b, "qwen2vl");
    bytes_str(b, "qwen2vl.rope.dimension_sections");
    bytes_u32(b, TL_GGUF_ARRAY);
    bytes_u32(b, TL_GGUF_INT32);
    bytes_u64(b, 4);
    int32_t sec[4] = { 16, 24, 24, 0 };
    bytes_put(b, sec, sizeof sec);
    bytes_str(b, "w");
    bytes_u32(b, 2);
    bytes_u64(b, 3);
    bytes_u64(b, 2);
    bytes_u32(b, TL_GGML_F32);
    bytes_u64(b, offset);
    bytes_pad(b, 32);
    for (int i = 0; i < 6; i++) bytes_f32(b, (float)i + 0.5f);
    bytes_pad(b, 32);
}

static void test_hand_made(void) {
    struct bytes b = { 0 };
    hand_made(&b, 3, 0);
    char err[512] = "";
    struct tl_gguf *g = tl_gguf_open_memory(b.p, b.n, err, sizeof err);
    check(g != NULL, "hand-made file parses: %s", g ? "ok" : err);
    if (!g) return;
    const struct tl_gguf_value *a = tl_gguf_get(g, "general.architecture");
    const struct tl_gguf_value *s = tl_gguf_get(g, "qwen2vl.rope.dimension_sections");
    check(a && a->type == TL_GGUF_STRING && !strcmp(a->str.data, "qwen2vl"), "architecture string");
    check(s && s->arr.type == TL_GGUF_INT32 && s->arr.n == 4 && ((const int32_t *)s->arr.data)[1] == 24,
          "int32 array [16,24,24,0]");
    const struct tl_gguf_tensor_info *t = tl_gguf_tensor(g, 0);
    check(t->ne[0] == 3 && t->ne[1] == 2 && t->size == 24 && ((const float *)t->data)[5] == 5.5f,
          "tensor w: ne [3, 2], 24 bytes, w[1][2] = 5.5");
    check(tl_gguf_data_offset(g) % 32 == 0 && (const uint8_t *)t->data == b.p + tl_gguf_data_offset(g),
          "data points into the image at the aligned data offset (no copy)");

    // Writing the parsed description again gives the same bytes.
    struct tl_gguf *w = tl_gguf_new();
    tl_gguf_set_str(w, "general.architecture", "qwen2vl");
    tl_gguf_set_value(w, "qwen2vl.rope.dimension_sections", s);
    int64_t ne[2] = { 3, 2 };
    tl_gguf_add_tensor(w, "w", TL_GGML_F32, 2, ne, err, sizeof err);
    tl_gguf_set_tensor_data(w, 0, t->data);
    const char *path = tmp_path("hand.gguf");
    bool ok = tl_gguf_write_file(w, path, err, sizeof err);
    size_t n = 0;
    uint8_t *got = ok ? read_whole_file(path, &n) : NULL;
    check(got && n == b.n && !memcmp(got, b.p, n), "the writer reproduces the hand-made file byte for byte (%zu bytes)", n);
    free(got);
    tl_gguf_free(w);
    tl_gguf_free(g);

    // Version 2 files (same layout) are read too.
    bytes_free(&b);
    hand_made(&b, 2, 0);
    g = tl_gguf_open_memory(b.p, b.n, err, sizeof err);
    check(g && tl_gguf_version(g) == 2, "GGUF v2 accepted");
    tl_gguf_free(g);
    bytes_free(&b);
}

// ---------------------------------------------------------------------------------------
// Lies

static void expect_refused(const struct bytes *b, const char *what, const char *needle) {
    char err[512] = "";
    struct tl_gguf *g = tl_gguf_open_memory(b->p, b->n, err, sizeof err);
    check(!g && strstr(err, needle), "%s: refused with \"%s\"", what, g ? "(accepted!)" : err);
    tl_gguf_free(g);
}

// A header with one key of the given type whose payload the caller appends.
static void one_key(struct bytes *b, uint64_t n_tensors, const char *key, uint32_t type) {
    bytes_put(b, "GGUF", 4);
    bytes_u32(b, 3);
    bytes_u64(b, n_tensors);
    bytes_u64(b, 1);
    bytes_str(b, key);
    bytes_u32(b, type);
}

static void test_lies(void) {
    struct bytes b = { 0 };
    hand_made(&b, 3, 0);
    b.p[0] = 'X';
    expect_refused(&b, "bad magic", "not a GGUF file");
    bytes_free(&b);

    hand_made(&b, 1, 0);
    expect_refused(&b, "version 1", "version 1 is not supported");
    bytes_free(&b);
    hand_made(&b, 0x03000000, 0);
    expect_refused(&b, "big-endian", "big-endian");
    bytes_free(&b);
    hand_made(&b, 7, 0);
    expect_refused(&b, "version 7", "unsupported GGUF version 7");
    bytes_free(&b);

    hand_made(&b, 3, 0);
    struct bytes full = b;
    b.n = 60;
    expect_refused(&b, "truncated inside a key", "file ends inside");
    b.n = full.n - 12;
    expect_refused(&b, "truncated tensor data", "extends past the end of the file");
    bytes_free(&b);

    hand_made(&b, 3, 32);
    expect_refused(&b, "tensor offset past the data", "extends past the end");
    bytes_free(&b);
    hand_made(&b, 3, 4);
    expect_refused(&b, "misaligned tensor offset", "not a multiple of the alignment");
    bytes_free(&b);

    one_key(&b, 0, "k", TL_GGUF_STRING);
    bytes_u64(&b, 1000);
    bytes_put(&b, "abc", 3);
    expect_refused(&b, "string longer than the file", "claims 1000 bytes");
    bytes_free(&b);

    one_key(&b, 0, "k", TL_GGUF_ARRAY);
    bytes_u32(&b, TL_GGUF_UINT64);
    bytes_u64(&b, UINT64_MAX / 4);
    expect_refused(&b, "array count far beyond the file", "cannot fit");
    bytes_free(&b);

    one_key(&b, 0, "k", 13);
    expect_refused(&b, "unknown value type", "unknown value type 13");
    bytes_free(&b);

    one_key(&b, 0, "k", TL_GGUF_ARRAY);
    bytes_u32(&b, 99);
    bytes_u64(&b, 0);
    expect_refused(&b, "unknown array element type", "unknown array element type 99");
    bytes_free(&b);

    one_key(&b, 0, "k", TL_GGUF_BOOL);
    bytes_u8(&b, 2);
    expect_refused(&b, "bool that is 2", "bool value is 2");
    bytes_free(&b);

    one_key(&b, 0, "k", TL_GGUF_ARRAY);
    for (int d = 0; d < 12; d++) {
        bytes_u32(&b, TL_GGUF_ARRAY);
        bytes_u64(&b, 1);
    }
    bytes_u32(&b, TL_GGUF_UINT8);
    bytes_u64(&b, 0);
    expect_refused(&b, "arrays nested 13 deep", "nested deeper");
    bytes_free(&b);

    one_key(&b, 0, "general.alignment", TL_GGUF_UINT32);
    bytes_u32(&b, 24);
    expect_refused(&b, "alignment 24", "not a power of two");
    bytes_free(&b);
    one_key(&b, 0, "general.alignment", TL_GGUF_UINT64);
    bytes_u64(&b, 32);
    expect_refused(&b, "alignment as u64", "expected u32");
    bytes_free(&b);

    bytes_put(&b, "GGUF", 4);
    bytes_u32(&b, 3);
    bytes_u64(&b, 0);
    bytes_u64(&b, 2);
    for (int i = 0; i < 2; i++) {
        bytes_str(&b, "same.key");
        bytes_u32(&b, TL_GGUF_UINT8);
        bytes_u8(&b, 1);
    }
    expect_refused(&b, "duplicate key", "duplicate metadata key 'same.key'");
    bytes_free(&b);

    // Tensor infos: wrong dims, type, duplicate names, overlap, huge shapes.
    struct { const char *what, *needle; uint32_t n_dims, type; int64_t ne0; uint64_t off2; int dup; } cases[] = {
        { "5 dimensions", "5 dimensions", 5, 0, 4, 32, 0 },
        { "unknown ggml type", "unknown ggml type 4", 1, 4, 4, 32, 0 },
        { "negative dimension", "negative", 1, 0, -4, 32, 0 },
        { "q8_0 row not a whole block", "block size", 1, 8, 31, 64, 0 },
        { "duplicate tensor name", "duplicate tensor name", 1, 0, 4, 32, 1 },
        { "overlapping tensors", "overlaps", 1, 0, 16, 32, 0 },
        { "element count overflow", "overflows", 2, 0, INT64_MAX / 2, 32, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bytes_put(&b, "GGUF", 4);
        bytes_u32(&b, 3);
        bytes_u64(&b, 2);
        bytes_u64(&b, 0);
        for (int t = 0; t < 2; t++) {
            bytes_str(&b, t && !cases[c].dup ? "b" : "a");
            uint32_t nd = t ? 1 : cases[c].n_dims;
            bytes_u32(&b, nd);
            for (uint32_t d = 0; d < nd; d++) bytes_u64(&b, (uint64_t)(t ? 4 : (d ? 4 : cases[c].ne0)));
            bytes_u32(&b, t ? 0 : cases[c].type);
            bytes_u64(&b, t ? cases[c].off2 : 0);
        }
        bytes_pad(&b, 32);
        for (int i = 0; i < 128; i++) bytes_u8(&b, 0);
        expect_refused(&b, cases[c].what, cases[c].needle);
        bytes_free(&b);
    }

    char err[512] = "";
    struct tl_gguf *g = tl_gguf_open(tmp_path("does-not-exist.gguf"), err, sizeof err);
    check(!g && strstr(err, "No such file"), "missing file: %s", err);
    write_whole_file(tmp_path("empty.gguf"), "", 0);
    g = tl_gguf_open(tmp_path("empty.gguf"), err, sizeof err);
    check(!g && strstr(err, "too small"), "empty file: %s", err);
}

// ---------------------------------------------------------------------------------------
// The streaming writer

static void test_writer_errors(void) {
    struct tl_gguf *g = tl_gguf_new();
    char err[512] = "";
    int64_t ne[1] = { 8 };
    tl_gguf_add_tensor(g, "a", TL_GGML_F32, 1, ne, err, sizeof err);
    tl_gguf_add_tensor(g, "b", TL_GGML_F16, 1, ne, err, sizeof err);
    check(tl_gguf_add_tensor(g, "a", TL_GGML_F32, 1, ne, err, sizeof err) == -1 && strstr(err, "duplicate"),
          "add_tensor refuses a duplicate: %s", err);
    char longname[80];
    memset(longname, 'x', 70);
    longname[70] = 0;
    check(tl_gguf_add_tensor(g, longname, TL_GGML_F32, 1, ne, err, sizeof err) == -1, "add_tensor refuses a 70-byte name");

    const char *path = tmp_path("short.gguf");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    float a[8] = { 0 };
    struct tl_gguf_writer *w = tl_gguf_writer_begin(g, path, err, sizeof err);
    check(w && tl_gguf_writer_write(w, a, sizeof a, err, sizeof err) && tl_gguf_writer_current(w) == 1,
          "first tensor streamed in one piece");
    check(exists(tmp) && !exists(path), "while writing only PATH.tmp exists");
    bool ok = tl_gguf_writer_write(w, a, 6, err, sizeof err) && tl_gguf_writer_finish(w, err, sizeof err);
    check(!ok && strstr(err, "incomplete"), "finish refuses a short tensor: %s", err);
    check(!exists(tmp) && !exists(path), "and leaves no file behind");

    w = tl_gguf_writer_begin(g, path, err, sizeof err);
    ok = w && tl_gguf_writer_write(w, a, sizeof a, err, sizeof err);
    ok = ok && tl_gguf_writer_write(w, a, 16, err, sizeof err);
    ok = ok && tl_gguf_writer_write(w, a, 1, err, sizeof err);
    check(!ok && strstr(err, "more than the tensors"), "write refuses extra bytes: %s", err);
    tl_gguf_writer_abort(w);
    check(!exists(tmp) && !exists(path), "abort leaves no file behind");

    // Pieces of any size, across tensor boundaries.
    w = tl_gguf_writer_begin(g, path, err, sizeof err);
    uint8_t bytes[48];
    for (int i = 0; i < 48; i++) bytes[i] = (uint8_t)i;
    ok = w != NULL;
    for (int i = 0; ok && i < 48; i += 5) ok = tl_gguf_writer_write(w, bytes + i, i + 5 <= 48 ? 5 : 48 - i, err, sizeof err);
    ok = ok && tl_gguf_writer_finish(w, err, sizeof err);
    struct tl_gguf *r = ok ? tl_gguf_open(path, err, sizeof err) : NULL;
    check(r && !memcmp(tl_gguf_tensor(r, 0)->data, bytes, 32) && !memcmp(tl_gguf_tensor(r, 1)->data, bytes + 32, 16),
          "pieces of 5 bytes land in the right tensors");
    tl_gguf_free(r);

    w = tl_gguf_writer_begin(g, tmp_path("no-such-dir/x.gguf"), err, sizeof err);
    check(!w && strstr(err, "cannot create"), "unwritable path: %s", err);
    tl_gguf_free(g);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/longvl-test-gguf-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    rng_seed(3);
    test_round_trip(0);
    test_round_trip(64);
    test_round_trip(1);
    test_hand_made();
    test_lies();
    test_writer_errors();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("gguf");
}
