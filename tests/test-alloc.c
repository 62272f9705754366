// The graph allocator: intermediates' memory is reused once their last user has run,
// values stay correct when a tensor is still needed later, views keep their owner alive.
#include "test-util.h"

// A chain y = silu(scale(silu(... x))) of `len` ops of `n` floats each.
static void chain(int len, int64_t n) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 1u << 20, .no_alloc = true });
    struct tl_tensor *x = tl_new_tensor_1d(ctx, TL_F32, n);
    tl_set_input(x);
    struct tl_tensor *y = x;
    for (int i = 0; i < len; i++) y = (i % 2) ? tl_scale(ctx, y, 0.5f) : tl_silu(ctx, y);
    struct tl_graph *g = tl_graph_new(ctx, 256);
    tl_graph_build(g, y);
    struct tl_gallocr *a = tl_gallocr_new();
    check(tl_gallocr_alloc_graph(a, g), "chain of %d: allocation succeeds", len);
    size_t each = (n * sizeof(float) + 63) / 64 * 64;   // buffers are 64-byte aligned
    size_t peak = tl_gallocr_peak_bytes(a), sum = tl_gallocr_sum_bytes(a);
    // input + two live intermediates at any time
    check(peak <= 3 * each, "chain of %d x %zu B: peak %zu B <= 3 tensors (without reuse %zu B)", len, each, peak, sum);
    check(sum >= (size_t)(len + 1) * each, "sum without reuse counts every tensor: %zu B", sum);
    for (int64_t i = 0; i < n; i++) ((float *)x->data)[i] = (float)(i % 7) - 3;
    tl_cpu_compute(g, 2);
    double max_err = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = (float)(i % 7) - 3;
        for (int k = 0; k < len; k++) v = (k % 2) ? v * 0.5 : v / (1 + exp(-v));
        max_err = fmax(max_err, fabs(((float *)y->data)[i] - v));
    }
    check(max_err < 1e-5, "chain result with reused buffers matches a direct computation (max err %.1e)", max_err);
    tl_gallocr_free(a);
    tl_free(ctx);
}

// a = silu(x); b = scale(a); c = b + a: a must survive b's allocation.
static void diamond(void) {
    struct tl_context *ctx = tl_init((struct tl_init_params){ .mem_size = 1u << 20, .no_alloc = true });
    int64_t n = 1000;
    struct tl_tensor *x = tl_new_tensor_1d(ctx, TL_F32, n);
    struct tl_tensor *a = tl_silu(ctx, x);
    struct tl_tensor *b = tl_scale(ctx, a, 2);
    struct tl_tensor *d = tl_scale(ctx, b, 3);            // b dies here...
    struct tl_tensor *e = tl_silu(ctx, d);                // ...so e may take b's place
    struct tl_tensor *c = tl_add(ctx, e, a);              // a still alive
    // view: the first half of a (reshaped) feeds a later op
    struct tl_tensor *half = tl_view_4d(ctx, a, n / 2, 1, 1, 1, n / 2 * 4, n / 2 * 4, n / 2 * 4, 0);
    struct tl_tensor *out = tl_concat(ctx, c, half, 0);
    struct tl_graph *g = tl_graph_new(ctx, 64);
    tl_graph_build(g, out);
    struct tl_gallocr *al = tl_gallocr_new();
    tl_gallocr_alloc_graph(al, g);
    check(e->data == b->data || e->data == x->data || tl_gallocr_peak_bytes(al) < tl_gallocr_sum_bytes(al),
          "diamond: some buffer is reused (peak %zu B < sum %zu B)", tl_gallocr_peak_bytes(al), tl_gallocr_sum_bytes(al));
    check(a->data != e->data && a->data != d->data, "diamond: a (still needed) is not overwritten");
    check(half->data == a->data, "a view points into its owner");
    for (int64_t i = 0; i < n; i++) ((float *)x->data)[i] = (float)i / n - 0.5f;
    tl_cpu_compute(g, 2);
    double max_err = 0;
    for (int64_t i = 0; i < n + n / 2; i++) {
        double xi = (double)(i < n ? i : i - n) / n - 0.5, av = xi / (1 + exp(-xi));
        double want = i < n ? (6 * av) / (1 + exp(-6 * av)) + av : av;
        max_err = fmax(max_err, fabs(((float *)out->data)[i] - want));
    }
    check(max_err < 1e-5, "diamond + view result correct (max err %.1e)", max_err);
    tl_gallocr_free(al);
    tl_free(ctx);
}

// The THPeligible field of /proc/self/smaps for the mapping holding p: whether Linux may
// back it with 2 MiB pages (-1: no such field, e.g. not Linux).
static int thp_eligible(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int found = -1;
    bool inside = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3)   // a mapping's first line
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (inside && sscanf(line, "THPeligible: %d", &found) == 1) break;
    }
    fclose(f);
    return found;
}

// The system's transparent huge page mode: "always", "madvise", "never" or "" (unknown).
static void thp_mode(char *mode, size_t n) {
    mode[0] = 0;
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128];
    if (f && fgets(line, sizeof line, f)) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (a && b && (size_t)(b - a) <= n) snprintf(mode, n, "%.*s", (int)(b - a - 1), a + 1);
    }
    if (f) fclose(f);
}

// tl_alloc_large: from 2 MiB on, 2 MiB-aligned and marked for huge pages unless turned
// off; smaller buffers 64-byte aligned.
static void large_buffers(void) {
    char mode[32];
    thp_mode(mode, sizeof mode);
    const size_t big = (size_t)3 << 20;
    const bool keep = tl_get_huge_pages();   // LONGVL_HUGEPAGES may have set it
    tl_set_huge_pages(true);
    void *small = tl_alloc_large(100), *on = tl_alloc_large(big);
    tl_set_huge_pages(false);
    void *off = tl_alloc_large(big);
    tl_set_huge_pages(keep);
    check(small && (uintptr_t)small % 64 == 0, "a 100 B buffer is 64-byte aligned");
    check(on && (uintptr_t)on % (2u << 20) == 0, "a 3 MiB buffer starts on a 2 MiB boundary");
    check(off && (uintptr_t)off % 64 == 0, "with huge pages off, a 3 MiB buffer is 64-byte aligned");
    memset(on, 1, big);   // in use like any buffer
    int e_on = thp_eligible(on), e_off = thp_eligible(off);
    if (e_on < 0 || (strcmp(mode, "madvise") && strcmp(mode, "always")))
        printf("skipped: huge page eligibility (transparent huge pages here: \"%s\", THPeligible %d)\n", mode, e_on);
    else {
        check(e_on == 1, "the 3 MiB buffer may get 2 MiB pages (THPeligible %d, mode %s)", e_on, mode);
        if (!strcmp(mode, "madvise"))
            check(e_off == 0, "with huge pages off it may not (THPeligible %d, mode madvise)", e_off);
    }
    free(small), free(on), free(off);
}

int main(void) {
    large_buffers();
    chain(20, 1 << 18);
    chain(7, 1001);
    diamond();
    return test_summary("test-alloc");
}
