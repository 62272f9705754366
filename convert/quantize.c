// longvl quantize: streams each tensor of a GGUF file through GGUF's reference
// quantizers (libtl's type table) into a new file, rows in parallel.
#include "quantize.h"
#include "progress.h"
#include "tl-gguf.h"

#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    enum tl_type base;
    uint32_t file_type;   // llama_ftype: what llama.cpp's quantize writes
} schemes[QUANT_SCHEME_COUNT] = {
    [QUANT_Q4_0] = { "q4_0", TL_Q4_0, 2 },     [QUANT_Q4_1] = { "q4_1", TL_Q4_1, 3 },
    [QUANT_Q8_0] = { "q8_0", TL_Q8_0, 7 },     [QUANT_Q4_K_M] = { "q4_k_m", TL_Q4_K, 15 },
    [QUANT_Q5_K_M] = { "q5_k_m", TL_Q5_K, 17 }, [QUANT_Q6_K] = { "q6_k", TL_Q6_K, 18 },
    [QUANT_F16] = { "f16", TL_F16, 1 },
};

bool quant_scheme_parse(const char *s, enum quant_scheme *scheme) {
    for (int i = 0; i < QUANT_SCHEME_COUNT; i++)
        if (!strcasecmp(s, schemes[i].name)) {
            *scheme = (enum quant_scheme)i;
            return true;
        }
    return false;
}

const char *quant_scheme_name(enum quant_scheme scheme) { return schemes[scheme].name; }
uint32_t quant_scheme_file_type(enum quant_scheme scheme) { return schemes[scheme].file_type; }

bool quant_use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

// The N of "blk.N." or "v.blk.N.", or -1.
static int layer_of(const char *name) {
    const char *p = strstr(name, "blk.");
    return p ? atoi(p + 4) : -1;
}

enum tl_type quantize_tensor_type(enum quant_scheme scheme, const struct quant_model_facts *facts,
                                  const char *name, uint32_t n_dims, const int64_t *ne, enum tl_type in_type) {
    if (!tl_type_traits(in_type)->is_float) return in_type;   // integers are copied
    if (n_dims < 2 || !ends_with(name, ".weight")) return TL_F32;
    enum tl_type t = schemes[scheme].base;
    bool k_mix = scheme == QUANT_Q4_K_M || scheme == QUANT_Q5_K_M;
    bool is_output = !strcmp(name, "output.weight") || (!facts->has_output && !strcmp(name, "token_embd.weight"));
    if (is_output && (k_mix || scheme == QUANT_Q4_0 || scheme == QUANT_Q4_1)) t = TL_Q6_K;
    if (k_mix && ends_with(name, "attn_v.weight") && quant_use_more_bits(layer_of(name), facts->n_attn_v)) t = TL_Q6_K;
    if (k_mix && ends_with(name, "ffn_down.weight") && quant_use_more_bits(layer_of(name), facts->n_ffn_down))
        t = TL_Q6_K;
    if (ne[0] % tl_type_traits(t)->block_size) t = ne[0] % 32 == 0 ? TL_Q8_0 : TL_F16;
    return t;
}

// ---------------------------------------------------------------------------------------

static char cleanup_path[4200];
static volatile sig_atomic_t cleanup_armed;

static void on_signal(int sig) {
    if (cleanup_armed) unlink(cleanup_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

struct job {
    const struct quantize_options *o;
    struct progress prog;
    uint64_t done;
    float *fbuf;       // rows as f32
    uint8_t *obuf;     // rows in the output type
    int64_t chunk_rows_cap;
};

// Converts rows [r0, r0+nr) of tensor ti to its output type: f32 first, then the
// output type's from_float, rows in parallel. Returns the first non-finite row or -1.
static int64_t convert_rows(const struct tl_gguf_tensor_info *ti, enum tl_type in, enum tl_type out, int64_t r0,
                            int64_t nr, float *fbuf, uint8_t *obuf, int nth) {
    int64_t ne0 = ti->ne[0];
    size_t in_row = tl_row_size(in, ne0), out_row = tl_row_size(out, ne0);
    const uint8_t *src = (const uint8_t *)ti->data + (size_t)r0 * in_row;
    int64_t bad = -1;
    #pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t r = 0; r < nr; r++) {
        float *f = fbuf + r * ne0;
        tl_type_traits(in)->to_float(src + r * in_row, f, ne0);
        for (int64_t i = 0; i < ne0; i++)
            if (!isfinite(f[i])) {
                #pragma omp critical
                if (bad < 0 || r0 + r < bad) bad = r0 + r;
                break;
            }
        tl_type_traits(out)->from_float(f, obuf + r * out_row, ne0);
    }
    return bad;
}

static bool write_tensor(struct tl_gguf_writer *w, struct job *j, const struct tl_gguf_tensor_info *ti, enum tl_type in,
                         enum tl_type out, char *err, size_t errlen) {
    if (!tl_type_traits(in)->is_float) {   // integers: copied as they are
        bool ok = tl_gguf_writer_write(w, ti->data, ti->size, err, errlen);
        j->done += ti->size;
        return ok;
    }
    int64_t ne0 = ti->ne[0], rows = 1;
    for (uint32_t d = 1; d < ti->n_dims; d++) rows *= ti->ne[d];
    int64_t chunk = j->chunk_rows_cap / ne0;
    if (chunk < 1) chunk = 1;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        if (nr * ne0 > j->chunk_rows_cap) {   // one row longer than the buffers: grow them
            float *f = realloc(j->fbuf, (size_t)nr * ne0 * sizeof(float));
            uint8_t *o = f ? realloc(j->obuf, (size_t)nr * ne0 * sizeof(float)) : NULL;
            if (!f || !o) {
                if (f) j->fbuf = f;
                tl_errorf(err, errlen, "out of memory for a row of %s", ti->name);
                return false;
            }
            j->fbuf = f;
            j->obuf = o;
            j->chunk_rows_cap = nr * ne0;
        }
        int64_t bad = convert_rows(ti, in, out, r0, nr, j->fbuf, j->obuf, j->o->n_threads);
        if (bad >= 0) {
            tl_errorf(err, errlen, "tensor %s has a non-finite value (inf or nan) in row %lld", ti->name, (long long)bad);
            return false;
        }
        if (!tl_gguf_writer_write(w, j->obuf, (size_t)nr * tl_row_size(out, ne0), err, errlen)) return false;
        j->done += (uint64_t)nr * tl_row_size(in, ne0);
        progress_update(&j->prog, j->done, ti->name);
    }
    return true;
}

bool quantize_gguf(const struct quantize_options *o, struct quantize_result *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    double t0 = progress_now();
    struct tl_gguf *in = tl_gguf_open(o->in_path, err, errlen);
    if (!in) return false;
    int64_t n = tl_gguf_n_tensors(in);
    struct quant_model_facts facts = { 0 };
    enum tl_type *in_types = calloc((size_t)n + 1, sizeof *in_types);
    enum tl_type *out_types = calloc((size_t)n + 1, sizeof *out_types);
    struct tl_gguf *out = tl_gguf_new();
    bool ok = in_types && out_types && out;
    if (!ok) tl_errorf(err, errlen, "out of memory");
    for (int64_t i = 0; ok && i < n; i++) {
        const struct tl_gguf_tensor_info *ti = tl_gguf_tensor(in, i);
        if (!tl_type_from_ggml(ti->type, &in_types[i])) {
            const struct tl_ggml_type_info *gi = tl_ggml_type_info(ti->type);
            tl_errorf(err, errlen, "tensor %s has type %s, which longvl cannot read", ti->name, gi ? gi->name : "?");
            ok = false;
        } else if (tl_type_traits(in_types[i])->is_quantized) {
            tl_errorf(err, errlen, "tensor %s is already %s: quantize from an f32, f16 or bf16 file", ti->name,
                      tl_type_name(in_types[i]));
            ok = false;
        }
        if (ends_with(ti->name, "attn_v.weight")) facts.n_attn_v++;
        if (ends_with(ti->name, "ffn_down.weight")) facts.n_ffn_down++;
        if (!strcmp(ti->name, "output.weight")) facts.has_output = true;
    }
    if (ok) {
        for (int64_t k = 0; k < tl_gguf_n_kv(in); k++) tl_gguf_set_value(out, tl_gguf_kv_key(in, k), tl_gguf_kv_value(in, k));
        tl_gguf_set_u32(out, "general.file_type", quant_scheme_file_type(o->scheme));
        tl_gguf_set_u32(out, "general.quantization_version", 2);
    }
    uint64_t total_in = 0;
    for (int64_t i = 0; ok && i < n; i++) {
        const struct tl_gguf_tensor_info *ti = tl_gguf_tensor(in, i);
        out_types[i] = quantize_tensor_type(o->scheme, &facts, ti->name, ti->n_dims, ti->ne, in_types[i]);
        ok = tl_gguf_add_tensor(out, ti->name, tl_type_traits(out_types[i])->ggml_type, ti->n_dims, ti->ne, err,
                                errlen) >= 0;
        total_in += ti->size;
        r->n_by_type[out_types[i]]++;
        r->n_quantized += tl_type_traits(out_types[i])->is_quantized;
    }

    struct job j = { .o = o, .chunk_rows_cap = 1 << 20 };
    j.fbuf = malloc((size_t)j.chunk_rows_cap * sizeof(float));
    j.obuf = malloc((size_t)j.chunk_rows_cap * sizeof(float));
    if (ok && (!j.fbuf || !j.obuf)) {
        tl_errorf(err, errlen, "out of memory");
        ok = false;
    }
    struct tl_gguf_writer *w = NULL;
    void (*old_int)(int) = signal(SIGINT, on_signal);
    void (*old_term)(int) = signal(SIGTERM, on_signal);
    if (ok) {
        snprintf(cleanup_path, sizeof cleanup_path, "%s.tmp", o->out_path);
        cleanup_armed = 1;
        w = tl_gguf_writer_begin(out, o->out_path, err, errlen);
        ok = w != NULL;
    }
    progress_start(&j.prog, "quantize", total_in, o->progress && ok);
    for (int64_t i = 0; ok && i < n; i++)
        ok = write_tensor(w, &j, tl_gguf_tensor(in, i), in_types[i], out_types[i], err, errlen);
    progress_finish(&j.prog);
    if (ok) {
        ok = tl_gguf_writer_finish(w, err, errlen);
        w = NULL;
    }
    tl_gguf_writer_abort(w);
    cleanup_armed = 0;
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);

    if (ok) {
        r->n_tensors = (int)n;
        r->bytes_in = tl_gguf_file_size(in);
        FILE *f = fopen(o->out_path, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            r->bytes_out = (uint64_t)ftell(f);
            fclose(f);
        }
    }
    r->seconds = progress_now() - t0;
    free(j.fbuf);
    free(j.obuf);
    free(in_types);
    free(out_types);
    tl_gguf_free(out);
    tl_gguf_free(in);
    return ok;
}
