// safetensors: a file assembled by hand read correctly; the writer's files read back
// bit for bit; sharded folders with an index; every kind of lie refused with a message.
#include "byte-builder.h"
#include "safetensors.h"
#include "test-util.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *path_in(const char *dir, const char *name) {
    static char p[2][600];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

// A safetensors image: 8-byte length, the JSON header, the data.
static void image(struct bytes *b, const char *header, const void *data, size_t n) {
    bytes_u64(b, strlen(header));
    bytes_put(b, header, strlen(header));
    bytes_put(b, data, n);
}

static void expect_refused(const char *header, size_t data_bytes, const char *what, const char *needle) {
    struct bytes b = { 0 };
    uint8_t zeros[256] = { 0 };
    image(&b, header, zeros, data_bytes);
    char err[512] = "";
    struct safetensors *st = safetensors_open_memory(b.p, b.n, "mem", err, sizeof err);
    check(!st && strstr(err, needle), "%s: refused with \"%s\"", what, st ? "(accepted!)" : err);
    safetensors_close(st);
    bytes_free(&b);
}

static void test_hand_made(void) {
    struct bytes b = { 0 };
    uint16_t data[6 + 2] = { 0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0, 0x40c0, 0x3c00, 0xc000 };   // bf16 1..6, f16 1, -2
    image(&b,
          "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
          "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[12,16]}}",
          data, sizeof data);
    char err[512] = "";
    struct safetensors *st = safetensors_open_memory(b.p, b.n, "mem", err, sizeof err);
    check(st != NULL, "hand-made file: %s", st ? "ok" : err);
    if (st) {
        const struct safetensors_tensor *w = safetensors_find(st, "w"), *h = safetensors_find(st, "h");
        check(safetensors_n_tensors(st) == 2 && w && h, "two tensors, __metadata__ skipped");
        check(w && w->type == TL_BF16 && w->n_dims == 2 && w->shape[0] == 2 && w->shape[1] == 3 && w->nbytes == 12 &&
                  tl_bf16_to_fp32(((const uint16_t *)w->data)[5]) == 6.0f,
              "w: bf16 [2, 3], w[1][2] = 6");
        check(h && h->type == TL_F16 && tl_fp16_to_fp32(((const uint16_t *)h->data)[1]) == -2.0f, "h: f16, h[1] = -2");
        check(w && (const uint8_t *)w->data == b.p + 8 + (b.n - 8 - sizeof data), "data points into the image");
    }
    safetensors_close(st);
    bytes_free(&b);
}

static void test_lies(void) {
    expect_refused("not json", 0, "header that is not JSON", "not a JSON object");
    expect_refused("[1,2]", 0, "header that is an array", "not a JSON object");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "no data_offsets", "needs");
    expect_refused("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype", "unknown dtype 'Q4'");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "negative dimension",
                   "not a non-negative integer");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "fractional dimension",
                   "not a non-negative integer");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,80]}}", 8, "offsets past the data",
                   "truncated or corrupt");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin after end",
                   "outside");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12, "size not elements x dtype",
                   "expected 12");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlapping tensors", "overlap");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
                   "shape whose size overflows", "overflows");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a name given twice", "appears twice");

    struct bytes b = { 0 };
    bytes_u64(&b, 1000);
    bytes_put(&b, "{}", 2);
    char err[512] = "";
    struct safetensors *st = safetensors_open_memory(b.p, b.n, "mem", err, sizeof err);
    check(!st && strstr(err, "does not fit"), "header length past the end: %s", err);
    safetensors_close(st);
    st = safetensors_open_memory(b.p, 5, "mem", err, sizeof err);
    check(!st && strstr(err, "too small"), "5-byte file: %s", err);
    safetensors_close(st);
    bytes_free(&b);
}

// Writes tensors t0..t(n-1) of f32 [i+1, 3] filled with i*100 + j.
static bool write_numbered(const char *path, int first, int n) {
    struct safetensors_write_item items[8];
    char names[8][16];
    float data[8][24];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "t%d", first + i);
        items[i] = (struct safetensors_write_item){ names[i], TL_F32, 2, { i + 1, 3 } };
        for (int j = 0; j < 24; j++) data[i][j] = (float)((first + i) * 100 + j);
    }
    char err[512] = "";
    struct safetensors_writer *w = safetensors_write_begin(path, items, n, err, sizeof err);
    bool ok = w != NULL;
    for (int i = 0; ok && i < n; i++) ok = safetensors_write_data(w, data[i], (size_t)(i + 1) * 3 * 4, err, sizeof err);
    if (ok) return safetensors_write_finish(w, err, sizeof err);
    safetensors_write_abort(w);
    return false;
}

static bool numbered_ok(const struct safetensors *st, int k, int rows) {
    char name[16];
    snprintf(name, sizeof name, "t%d", k);
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t || t->shape[0] != rows || t->shape[1] != 3) return false;
    for (int j = 0; j < rows * 3; j++)
        if (((const float *)t->data)[j] != (float)(k * 100 + j)) return false;
    return true;
}

static void write_text(const char *path, const char *text) { write_whole_file(path, text, strlen(text)); }

static void test_files_and_shards(void) {
    char dir[400], err[512] = "";
    snprintf(dir, sizeof dir, "%s/single", tmpdir);
    mkdir(dir, 0777);
    check(write_numbered(path_in(dir, "model.safetensors"), 0, 3), "writer: 3 tensors");
    struct safetensors *st = safetensors_open_dir(dir, err, sizeof err);
    check(st && safetensors_n_files(st) == 1 && numbered_ok(st, 0, 1) && numbered_ok(st, 1, 2) && numbered_ok(st, 2, 3),
          "single model.safetensors read back bit for bit: %s", st ? "ok" : err);
    safetensors_close(st);

    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    mkdir(dir, 0777);
    write_numbered(path_in(dir, "a.safetensors"), 0, 2);
    write_numbered(path_in(dir, "b.safetensors"), 2, 2);
    const char *index = "{\"metadata\":{\"total_size\":0},\"weight_map\":{\"t0\":\"a.safetensors\","
                        "\"t1\":\"a.safetensors\",\"t2\":\"b.safetensors\",\"t3\":\"b.safetensors\"}}";
    write_text(path_in(dir, "model.safetensors.index.json"), index);
    st = safetensors_open_dir(dir, err, sizeof err);
    check(st && safetensors_n_files(st) == 2 && safetensors_n_tensors(st) == 4 && numbered_ok(st, 3, 2),
          "two shards through the index: %s", st ? "ok" : err);
    if (st) {
        const struct safetensors_tensor *t = safetensors_find(st, "t3");
        safetensors_release(st, t);
        check(numbered_ok(st, 3, 2), "a released tensor reads back the same (pages come back from the file)");
    }
    safetensors_close(st);

    write_text(path_in(dir, "model.safetensors.index.json"),
               "{\"weight_map\":{\"t0\":\"a.safetensors\",\"t9\":\"b.safetensors\"}}");
    st = safetensors_open_dir(dir, err, sizeof err);
    check(!st && strstr(err, "'t9' is not in shard b.safetensors"), "index naming a missing tensor: %s", err);
    write_text(path_in(dir, "model.safetensors.index.json"), "{\"weight_map\":{\"t0\":\"c.safetensors\"}}");
    st = safetensors_open_dir(dir, err, sizeof err);
    check(!st && strstr(err, "c.safetensors") && strstr(err, "No such file"), "index naming a missing shard: %s", err);
    write_text(path_in(dir, "model.safetensors.index.json"), "{\"weight_map\":{\"t0\":\"../a.safetensors\"}}");
    st = safetensors_open_dir(dir, err, sizeof err);
    check(!st && strstr(err, "invalid shard name"), "index escaping the folder: %s", err);
    write_text(path_in(dir, "model.safetensors.index.json"), "{\"weight_map\": 3}");
    st = safetensors_open_dir(dir, err, sizeof err);
    check(!st && strstr(err, "weight_map"), "index without a weight_map object: %s", err);
    write_numbered(path_in(dir, "c.safetensors"), 1, 1);
    write_text(path_in(dir, "model.safetensors.index.json"),
               "{\"weight_map\":{\"t0\":\"a.safetensors\",\"t1\":\"c.safetensors\"}}");
    st = safetensors_open_dir(dir, err, sizeof err);
    check(!st && strstr(err, "appears twice"), "a tensor in two shards: %s", err);

    // A shard cut short.
    write_text(path_in(dir, "model.safetensors.index.json"), index);
    size_t n = 0;
    uint8_t *bytes = read_whole_file(path_in(dir, "b.safetensors"), &n);
    write_whole_file(path_in(dir, "b.safetensors"), bytes, n - 5);
    free(bytes);
    st = safetensors_open_dir(dir, err, sizeof err);
    check(!st && strstr(err, "truncated"), "a truncated shard: %s", err);

    snprintf(dir, sizeof dir, "%s/empty", tmpdir);
    mkdir(dir, 0777);
    st = safetensors_open_dir(dir, err, sizeof err);
    check(!st && strstr(err, "no model.safetensors"), "a folder without weights: %s", err);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/longvl-test-st-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_hand_made();
    test_lies();
    test_files_and_shards();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("safetensors");
}
