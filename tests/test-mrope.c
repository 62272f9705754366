// M-RoPE position ids (models/mrope-positions.c) against the spec's section 6, exactly:
// the worked example of two images between text, the 50-page document's maxima, a
// conversation continued in two calls equal to one call, and refused spans.
#include "test-util.h"
#include "mrope-positions.h"

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

int main(void) {
    test_worked_example();
    test_fifty_pages();
    test_continuation();
    test_refused();
    return test_summary("test-mrope");
}
