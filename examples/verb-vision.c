// longvl vision: the merged vision embeddings of one image, as raw float32
// [n_tokens][n_embd] in raster order of the merged grid, for comparing the vision tower
// and the image processor with a reference.
#include "verbs.h"
#include "cli-args.h"
#include "f32-file.h"
#include "image-preprocess.h"
#include "qwen25vl-vision.h"

#include "device-args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(FILE *f, int rc) {
    fprintf(f, "usage: longvl vision --mmproj MMPROJ.gguf INPUT -o OUT.f32 [options]\n"
               "INPUT is one of\n"
               "  --image FILE            a PNG or JPEG file\n"
               "  --pdf FILE --page N     page N (from 1) of a PDF, rendered at --dpi\n"
               "  --pixels FILE.f32 H W   already-normalised [H][W][3] float32, H and W multiples of 28\n"
               "options:\n"
               "  --dpi D                 PDF rendering resolution (default 144)\n"
               "  --password P            for an encrypted PDF\n"
               "  --min-pixels N, --max-pixels N   smart_resize limits (default 3136, 12845056)\n"
               "  --save-image OUT.png    the RGB image before resizing (rendered page or decoded file)\n"
               "  --dump-pixels OUT.f32   the normalised [H][W][3] pixels the tower is given\n"
               "  --threads N\n"
               DEVICE_ARGS_USAGE "\n"
               "Writes the merged vision embeddings as raw little-endian float32 [n_tokens][n_embd],\n"
               "n_tokens = (H/28)*(W/28) in raster order, and prints H and W.\n");
    return rc;
}

struct vision_args {
    const char *mmproj, *out, *image, *pdf, *pixels, *password, *save_image, *dump_pixels;
    long long page, H, W, min_pixels, max_pixels, n_threads;
    double dpi;
    bool vulkan;
};

static bool parse_args(int argc, char **argv, struct vision_args *a, int *rc) {
    a->dpi = 144;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return *rc = usage(stdout, 0), false;
        if (!strcmp(s, "--mmproj") && has) a->mmproj = argv[++i];
        else if (!strcmp(s, "-o") && has) a->out = argv[++i];
        else if (!strcmp(s, "--image") && has) a->image = argv[++i];
        else if (!strcmp(s, "--pdf") && has) a->pdf = argv[++i];
        else if (!strcmp(s, "--password") && has) a->password = argv[++i];
        else if (!strcmp(s, "--save-image") && has) a->save_image = argv[++i];
        else if (!strcmp(s, "--dump-pixels") && has) a->dump_pixels = argv[++i];
        else if (!strcmp(s, "--page") && has && cli_parse_ll(argv[i + 1], 1, 1 << 30, &a->page)) i++;
        else if (!strcmp(s, "--threads") && has && cli_parse_ll(argv[i + 1], 1, 4096, &a->n_threads)) i++;
        else if (!strcmp(s, "--device") && has) {
            if (!device_args_parse("vision", argv[++i], &a->vulkan)) return *rc = 2, false;
        }
        else if (!strcmp(s, "--min-pixels") && has && cli_parse_ll(argv[i + 1], 1, 1LL << 40, &a->min_pixels)) i++;
        else if (!strcmp(s, "--max-pixels") && has && cli_parse_ll(argv[i + 1], 1, 1LL << 40, &a->max_pixels)) i++;
        else if (!strcmp(s, "--dpi") && has) {
            if (!cli_parse_double(argv[++i], 1, 2400, &a->dpi)) {
                fprintf(stderr, "longvl vision: --dpi takes a number in [1, 2400], not '%s'\n", argv[i]);
                return *rc = 2, false;
            }
        } else if (!strcmp(s, "--pixels") && i + 3 < argc) {
            if (!cli_parse_ll(argv[i + 2], 1, 1 << 16, &a->H) || !cli_parse_ll(argv[i + 3], 1, 1 << 16, &a->W)) {
                fprintf(stderr, "longvl vision: --pixels takes FILE H W, not '%s %s %s'\n", argv[i + 1], argv[i + 2],
                        argv[i + 3]);
                return *rc = 2, false;
            }
            a->pixels = argv[i + 1];
            i += 3;
        } else {
            fprintf(stderr, "longvl vision: unexpected or incomplete argument '%s'\n", s);
            return *rc = usage(stderr, 2), false;
        }
    }
    int n_inputs = (a->image != NULL) + (a->pdf != NULL) + (a->pixels != NULL);
    if (!a->mmproj || n_inputs != 1 || !a->out) {
        fprintf(stderr, "longvl vision: --mmproj, -o and exactly one of --image, --pdf, --pixels are required\n");
        return *rc = usage(stderr, 2), false;
    }
    if (a->pdf && !a->page) {
        fprintf(stderr, "longvl vision: --pdf needs --page N\n");
        return *rc = 2, false;
    }
    if (a->pixels && (a->H % 28 || a->W % 28)) {
        fprintf(stderr, "longvl vision: --pixels %lld x %lld: height and width must be multiples of 28\n", a->H, a->W);
        return *rc = 2, false;
    }
    return true;
}

// The normalised pixels of the input, their size in *H, *W.
static float *load_pixels(const struct vision_args *a, const struct qwen25vl_vision_model *v, int *H, int *W, char *err,
                          size_t errlen) {
    if (a->pixels) {
        *H = (int)a->H;
        *W = (int)a->W;
        return f32_file_read(a->pixels, a->H * a->W * 3, err, errlen);
    }
    struct rgb_image im = { 0 };
    bool ok;
    if (a->image) {
        ok = image_file_load(a->image, &im, err, errlen);
    } else {
        struct pdf_document *d = pdf_document_open(a->pdf, a->password, err, errlen);
        ok = d && pdf_document_render(d, (int)a->page - 1, (float)a->dpi, &im, err, errlen);
        pdf_document_close(d);
    }
    ok = ok && (!a->save_image || rgb_image_save_png(&im, a->save_image, err, errlen));
    float *px = ok ? qwen25vl_preprocess(&im, a->min_pixels, a->max_pixels, v->hp.image_mean, v->hp.image_std, H, W,
                                         err, errlen)
                   : NULL;
    if (px) fprintf(stderr, "longvl vision: image %d x %d resized to %d x %d\n", im.w, im.h, *W, *H);
    rgb_image_free(&im);
    return px;
}

int verb_vision(int argc, char **argv) {
    struct vision_args a = { 0 };
    int rc = 0;
    if (!parse_args(argc, argv, &a, &rc)) return rc;
    char err[1024] = "";
    struct qwen25vl_vision_model v;
    float *pixels = NULL, *emb = NULL;
    int H = 0, W = 0;
    bool ok;
    struct tl_vk_backend *vk = device_args_open(a.vulkan, false, &ok, err, sizeof err);
    ok = ok && qwen25vl_vision_load(&v, a.mmproj, err, sizeof err);
    if (ok) {
        qwen25vl_vision_use_device(&v, vk);
        pixels = load_pixels(&a, &v, &H, &W, err, sizeof err);
        ok = pixels && (!a.dump_pixels || f32_file_write(a.dump_pixels, pixels, (int64_t)H * W * 3, err, sizeof err));
        int64_t n_tok = qwen25vl_vision_n_tokens(H, W);
        if (ok) {
            emb = malloc((size_t)n_tok * v.hp.projection_dim * sizeof *emb);
            if (!emb) tl_errorf(err, sizeof err, "out of memory for %lld image tokens", (long long)n_tok);
        }
        ok = ok && emb && qwen25vl_vision_encode(&v, pixels, H, W, (int)a.n_threads, emb, err, sizeof err) &&
             f32_file_write(a.out, emb, n_tok * v.hp.projection_dim, err, sizeof err);
        if (ok) {
            fprintf(stderr, "longvl vision: %d x %d pixels -> %lld tokens x %u -> %s\n", H, W, (long long)n_tok,
                    v.hp.projection_dim, a.out);
            printf("%d %d\n", H, W);
        }
        qwen25vl_vision_free(&v);
    }
    if (!ok) fprintf(stderr, "longvl vision: %s\n", err);
    tl_vk_backend_free(vk);
    free(pixels);
    free(emb);
    return ok ? 0 : 1;
}
