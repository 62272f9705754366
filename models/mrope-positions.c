// M-RoPE position ids; see mrope-positions.h and the spec's section 6.
#include "mrope-positions.h"

#include "tl.h"

bool qwen25vl_mrope_positions(int64_t n, int32_t first, const struct qwen25vl_image_span *spans, int n_spans,
                              int32_t *pos, int32_t *next, char *err, size_t errlen) {
    int32_t *pt = pos, *ph = pos + n, *pw = pos + 2 * n;
    int64_t i = 0;          // next token without a position
    int64_t cur = first;    // the position that token i gets if it is text
    for (int s = 0; s <= n_spans; s++) {
        int64_t stop = s < n_spans ? spans[s].start : n;
        if (s < n_spans) {
            const struct qwen25vl_image_span *sp = &spans[s];
            if (sp->lh < 1 || sp->lw < 1 || sp->start < i || sp->start + (int64_t)sp->lh * sp->lw > n) {
                tl_errorf(err, errlen, "image %d: %dx%d tokens at %lld do not fit in order in %lld tokens", s,
                          sp->lh, sp->lw, (long long)sp->start, (long long)n);
                return false;
            }
        }
        for (; i < stop; i++, cur++) pt[i] = ph[i] = pw[i] = (int32_t)cur;   // text
        if (s == n_spans) break;
        const struct qwen25vl_image_span *sp = &spans[s];
        for (int32_t y = 0; y < sp->lh; y++)
            for (int32_t x = 0; x < sp->lw; x++, i++) {
                pt[i] = (int32_t)cur;
                ph[i] = (int32_t)(cur + y);
                pw[i] = (int32_t)(cur + x);
            }
        cur += sp->lh > sp->lw ? sp->lh : sp->lw;
        if (cur > INT32_MAX) break;
    }
    if (cur > INT32_MAX) {
        tl_errorf(err, errlen, "positions pass 2^31");
        return false;
    }
    *next = (int32_t)cur;
    return true;
}
