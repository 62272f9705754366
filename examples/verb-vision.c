// longvl vision: the merged vision embeddings of one image, as raw float32
// [n_tokens][n_embd] in raster order of the merged grid, for comparing the vision tower
// with a reference.
#include "verbs.h"
#include "f32-file.h"
#include "qwen25vl-vision.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(FILE *f, int rc) {
    fprintf(f, "usage: longvl vision --mmproj MMPROJ.gguf --pixels FILE.f32 H W -o OUT.f32 [--threads N]\n\n"
               "Writes the merged vision embeddings as raw little-endian float32 [n_tokens][n_embd],\n"
               "n_tokens = (H/28)*(W/28) in raster order. --pixels takes already-normalised [H][W][3]\n"
               "float32 pixels, H and W multiples of 28.\n");
    return rc;
}

static bool parse_int(const char *s, int lo, int hi, int *v) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi) return false;
    *v = (int)x;
    return true;
}

int verb_vision(int argc, char **argv) {
    const char *mmproj = NULL, *pixels_path = NULL, *out = NULL;
    int H = 0, W = 0, n_threads = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return usage(stdout, 0);
        if (!strcmp(s, "--mmproj") && has) mmproj = argv[++i];
        else if (!strcmp(s, "-o") && has) out = argv[++i];
        else if (!strcmp(s, "--threads") && has && parse_int(argv[i + 1], 1, 4096, &n_threads)) i++;
        else if (!strcmp(s, "--pixels") && i + 3 < argc) {
            if (!parse_int(argv[i + 2], 1, 1 << 16, &H) || !parse_int(argv[i + 3], 1, 1 << 16, &W)) {
                fprintf(stderr, "longvl vision: --pixels takes FILE H W, not '%s %s %s'\n", argv[i + 1], argv[i + 2],
                        argv[i + 3]);
                return 2;
            }
            pixels_path = argv[i + 1];
            i += 3;
        } else {
            fprintf(stderr, "longvl vision: unexpected or incomplete argument '%s'\n", s);
            return usage(stderr, 2);
        }
    }
    if (!mmproj || !pixels_path || !out) {
        fprintf(stderr, "longvl vision: --mmproj, --pixels and -o are required\n");
        return usage(stderr, 2);
    }
    if (H % 28 || W % 28) {
        fprintf(stderr, "longvl vision: --pixels %d x %d: height and width must be multiples of 28\n", H, W);
        return 2;
    }
    char err[1024] = "";
    struct qwen25vl_vision_model v;
    float *pixels = NULL, *emb = NULL;
    int64_t n_tok = qwen25vl_vision_n_tokens(H, W);
    bool ok = qwen25vl_vision_load(&v, mmproj, err, sizeof err);
    if (ok) {
        pixels = f32_file_read(pixels_path, (int64_t)H * W * 3, err, sizeof err);
        emb = malloc((size_t)n_tok * v.hp.projection_dim * sizeof *emb);
        ok = pixels && emb && qwen25vl_vision_encode(&v, pixels, H, W, n_threads, emb, err, sizeof err) &&
             f32_file_write(out, emb, n_tok * v.hp.projection_dim, err, sizeof err);
        if (ok)
            fprintf(stderr, "longvl vision: %d x %d pixels -> %lld tokens x %u -> %s\n", H, W, (long long)n_tok,
                    v.hp.projection_dim, out);
        qwen25vl_vision_free(&v);
    }
    if (!ok) fprintf(stderr, "longvl vision: %s\n", err);
    free(pixels);
    free(emb);
    return ok ? 0 : 1;
}
