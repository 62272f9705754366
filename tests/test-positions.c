// Positions and layouts, exactly, against the spec: the text model's M-RoPE ids
// (models/mrope-positions.c, section 6: the worked example of two images between text,
// the 50-page document's maxima, a conversation continued in two calls equal to one
// call, refused spans) and the vision tower's window order and patch positions
// (models/vision-layout.c, section 4.3: the gh=12, gw=16 example, the pad quirk), and the
// NTK rotary bases of section 7 (models/rope-scaling.c).
#include "test-util.h"
#include "mrope-positions.h"
#include "vision-layout.h"
#include "rope-scaling.h"

static void test_worked_example(void) {
    // 3 text, <vs>, image A (merged 2x3), <ve>, <vs>, image B (2x2), <ve>, 2 text
    enum { N = 19 };
    struct qwen25vl_image_span spans[] = { { .start = 4, .lh = 2, .lw = 3 }, { .start = 12, .lh = 2, .lw = 2 } };
    static const int32_t want[3][N] = {
        { 0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 7, 8, 9, 9, 9, 9, 11, 12, 13 },
        { 0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 7, 8, 9, 9, 10, 10, 11, 12, 13 },
        { 0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9, 10, 9, 10, 11, 12, 13 },
    };
    int32_t pos[3 * N], next = -1;
    char err[256] = "";
    bool ok = qwen25vl_mrope_positions(N, 0, spans, 2, pos, &next, err, sizeof err);
    check(ok && !memcmp(pos, want, sizeof pos), "the spec's worked example, t/h/w of all 19 tokens %s", err);
    check(next == 14, "the first generated token gets position 14 (rope_delta -5): %d", next);
}

// 14 tokens of prompt, 50 A4 pages at 144 dpi (60 x 43 merged tokens between <vs> and <ve>),
// then 10 tokens: 129,124 tokens, largest position 3,123.
static void test_fifty_pages(void) {
    enum { PAGES = 50, LH = 60, LW = 43, PAGE = LH * LW + 2 };
    int64_t n = 14 + (int64_t)PAGES * PAGE + 10;
    struct qwen25vl_image_span spans[PAGES];
    for (int k = 0; k < PAGES; k++) spans[k] = (struct qwen25vl_image_span){ .start = 14 + (int64_t)k * PAGE + 1, .lh = LH, .lw = LW };
    int32_t *pos = malloc(3 * n * sizeof *pos), next = -1;
    char err[256] = "";
    bool ok = qwen25vl_mrope_positions(n, 0, spans, PAGES, pos, &next, err, sizeof err);
    int32_t mx = 0;
    for (int64_t i = 0; i < 3 * n; i++) mx = pos[i] > mx ? pos[i] : mx;
    check(ok && n == 129124 && mx == 3123 && next == 3124, "50 pages: %lld tokens, largest position %d", (long long)n, mx);
    // page k: <vs> at 14+62k, pads t = 15+62k, h up to 74+62k, w up to 57+62k, <ve> at 75+62k
    bool pages_ok = true;
    for (int k = 0; k < PAGES; k++) {
        int64_t vs = spans[k].start - 1, first = spans[k].start, last = first + LH * LW - 1, ve = last + 1;
        pages_ok = pages_ok && pos[vs] == 14 + 62 * k && pos[first] == 15 + 62 * k && pos[n + last] == 74 + 62 * k &&
                   pos[2 * n + last] == 57 + 62 * k && pos[last] == 15 + 62 * k && pos[ve] == 75 + 62 * k &&
                   pos[n + ve] == 75 + 62 * k;
    }
    check(pages_ok, "50 pages: each page's <vs>, pads and <ve> where the spec puts them");
    free(pos);
}

// Positions are sequential: the second half of a sequence computed from the first half's
// `next` equals the whole sequence's.
static void test_continuation(void) {
    enum { N = 40 };
    struct qwen25vl_image_span whole[] = { { 5, 3, 4 }, { 20, 2, 5 } }, second[] = { { 20 - 18, 2, 5 } };
    int32_t all[3 * N], a[3 * 18], b[3 * (N - 18)], next_all, next_a, next_b;
    bool ok = qwen25vl_mrope_positions(N, 0, whole, 2, all, &next_all, NULL, 0) &&
              qwen25vl_mrope_positions(18, 0, whole, 1, a, &next_a, NULL, 0) &&
              qwen25vl_mrope_positions(N - 18, next_a, second, 1, b, &next_b, NULL, 0);
    bool same = ok && next_b == next_all;
    for (int s = 0; same && s < 3; s++)
        same = !memcmp(all + s * N, a + s * 18, 18 * sizeof(int32_t)) && !memcmp(all + s * N + 18, b + s * (N - 18), (N - 18) * sizeof(int32_t));
    check(same, "a sequence in two calls (continuing from next = %d) equals one call", ok ? next_a : -1);
}

static void test_refused(void) {
    int32_t pos[3 * 10], next;
    char err[256] = "";
    struct qwen25vl_image_span overlap[] = { { 1, 2, 2 }, { 3, 1, 1 } }, outside[] = { { 8, 2, 2 } }, empty[] = { { 0, 0, 3 } };
    bool a = qwen25vl_mrope_positions(10, 0, overlap, 2, pos, &next, err, sizeof err);
    check(!a && strstr(err, "image 1"), "overlapping images refused: %s", err);
    bool b = qwen25vl_mrope_positions(10, 0, outside, 1, pos, &next, err, sizeof err);
    check(!b && strstr(err, "image 0"), "an image past the end refused: %s", err);
    bool c = qwen25vl_mrope_positions(10, 0, empty, 1, pos, &next, err, sizeof err);
    check(!c, "an image of 0 rows refused: %s", err);
}

// Section 4.3's example: gh = 12, gw = 16 (6 x 8 merge units), windows of 4 x 4 units.
static void test_window_example(void) {
    struct vision_layout l;
    bool ok = vision_layout_init(&l, 12, 16, 4, NULL, 0);
    static const int32_t want[48] = { 0,  1,  2,  3,  8,  9,  10, 11, 16, 17, 18, 19, 24, 25, 26, 27,
                                      4,  5,  6,  7,  12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31,
                                      32, 33, 34, 35, 40, 41, 42, 43, 36, 37, 38, 39, 44, 45, 46, 47 };
    check(ok && !memcmp(l.window_index, want, sizeof want), "window_index of the 12 x 16 example");
    // cu_window = [0, 64, 128, 160, 192]: windows of 64, 64, 32 and 32 patch rows
    int counts[4] = { 0 };
    for (int64_t r = 0; ok && r < l.n_patches; r++) counts[l.window_of[r] < 4 ? l.window_of[r] : 0]++;
    check(ok && l.n_windows == 4 && counts[0] == 64 && counts[1] == 64 && counts[2] == 32 && counts[3] == 32,
          "4 windows of 64, 64, 32, 32 patch rows (cu_window 0, 64, 128, 160, 192)");
    // window-order row 16*4 is merge unit 4 = patch (0, 8): positions py = 0, px = 8
    int32_t *pos = malloc(2 * l.n_patches * sizeof *pos);
    vision_layout_positions(&l, pos);
    check(pos[64] == 0 && pos[l.n_patches + 64] == 8 && pos[67] == 1 && pos[l.n_patches + 67] == 9,
          "rotary positions follow the window order: unit 4's patches at (0,8) (0,9) (1,8) (1,9)");
    free(pos);
    vision_layout_free(&l);
    // lh % 4 == 0: HuggingFace pads a whole empty window row; it holds nothing and is dropped
    ok = vision_layout_init(&l, 16, 8, 4, NULL, 0);
    check(ok && l.n_windows == 2, "8 x 4 merge units make 2 windows, the padded empty ones dropped (%d)", l.n_windows);
    vision_layout_free(&l);
    // an A4 page at 144 dpi: 120 x 86 patches, 60 x 43 units in 15 x 11 = 165 windows
    ok = vision_layout_init(&l, 120, 86, 4, NULL, 0);
    check(ok && l.n_windows == 165, "an A4 page at 144 dpi has 165 windows (%d)", l.n_windows);
    vision_layout_free(&l);
    char err[128] = "";
    check(!vision_layout_init(&l, 11, 16, 4, err, sizeof err) && strstr(err, "11 x 16"), "an odd grid refused: %s", err);
}

// Section 7's values for base 1e6 and d = 128, to the digits the spec gives (0.5%).
static void test_rope_bases(void) {
    static const struct { double s, want; } stat[] = { { 2, 2.02e6 }, { 4, 4.09e6 }, { 8, 8.27e6 }, { 16, 1.67e7 } };
    bool ok = true;
    for (int i = 0; i < 4; i++) ok = ok && fabs(rope_base_static_ntk(1e6, stat[i].s, 128) / stat[i].want - 1) < 5e-3;
    check(ok, "static NTK bases for s = 2, 4, 8, 16: 2.02e6 4.09e6 8.27e6 1.67e7");
    static const struct { double L, want; } dyn[] = { { 65536, 5.13e6 }, { 131072, 1.354e7 }, { 262144, 3.06e7 }, { 524288, 6.51e7 } };
    ok = true;
    for (int i = 0; i < 4; i++) ok = ok && fabs(rope_base_dynamic_ntk(1e6, 4, dyn[i].L, 32768, 128) / dyn[i].want - 1) < 5e-3;
    check(ok, "dynamic NTK, L0 = 32768, s = 4: 64K 5.13e6, 128K 1.354e7, 256K 3.06e7, 512K 6.51e7");
    check(rope_base_dynamic_ntk(1e6, 4, 32768, 32768, 128) == 1e6 &&
              fabs(rope_base_dynamic_ntk(1e6, 1, 131072, 32768, 128) / rope_base_static_ntk(1e6, 4, 128) - 1) < 1e-12,
          "dynamic NTK leaves the base alone up to L0, and with s = 1 is static NTK with s = L / L0");
    // YaRN, base 1e6, d = 128, s = 4 from 32K: correction dims 23.60 (32 turns) and 39.65
    // (1 turn) truncate to the ramp [23, 40]; 0.1 ln 4 + 1 = 1.1386
    struct rope_yarn y;
    rope_yarn_params(1e6, 4, 32768, 128, &y);
    check(y.factor == 4 && y.ramp_low == 23 && y.ramp_high == 40 && fabsf(y.attn_factor - 1.1386294f) < 1e-6f,
          "YaRN s = 4 from 32K, d = 128: ramp [%g, %g], attention factor %.7g", y.ramp_low, y.ramp_high, y.attn_factor);
    // the ramp is clamped to [0, d - 1]: a tiny L0 puts the 32-turn dim below 0
    rope_yarn_params(1e6, 2, 64, 16, &y);
    check(y.ramp_low == 0 && y.ramp_high == 2, "YaRN from L0 = 64, d = 16: ramp [%g, %g] (want [0, 2])", y.ramp_low, y.ramp_high);
    struct rope_scaling none = { .type = ROPE_SCALING_NONE, .base = 5e5 }, stat4 = { .type = ROPE_SCALING_STATIC, .base = 5e5, .factor = 4 };
    double base;
    rope_scaling_resolve(&none, 1e6, 128, 1000, &base, &y);
    ok = base == 5e5 && y.factor == 0;
    rope_scaling_resolve(&stat4, 1e6, 128, 1000, &base, &y);
    check(ok && fabs(base / rope_base_static_ntk(5e5, 4, 128) - 1) < 1e-12,
          "a base override replaces the model's base and the rules apply on top of it");
}

int main(void) {
    test_rope_bases();
    test_window_example();
    test_worked_example();
    test_fifty_pages();
    test_continuation();
    test_refused();
    return test_summary("test-positions");
}
