// Segments, windows and anchors (segment.h).
#include "segment.h"

#include "rng.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool section_title_usable(const char *t) {
    size_t n = strlen(t), letters = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\'' || t[i] == '"' || t[i] == '\n' || (unsigned char)t[i] < 0x20) return false;
        letters += isalpha((unsigned char)t[i]) != 0;
    }
    return n >= 3 && n <= 80 && letters >= 2;
}

// The last page of section i with everything under it: up to the next section of its
// level or above.
static int section_extent(const struct pool_doc *d, int i) {
    for (int j = i + 1; j < d->n_sections; j++)
        if (d->sections[j].level <= d->sections[i].level)
            return d->sections[j].first_page > d->sections[i].first_page ? d->sections[j].first_page - 1
                                                                          : d->sections[i].first_page;
    return d->n_pages - 1;
}

void segment_pick(const struct pool_doc *d, int min_pages, int max_pages, uint64_t *rng, struct segment *s) {
    if (min_pages > d->n_pages) min_pages = d->n_pages;
    if (max_pages > d->n_pages) max_pages = d->n_pages;
    // every section run i..j (i == j: one section) whose titles can be quoted and whose
    // pages fit, drawn uniformly; a page run one time in three or when none fits
    int n_cand = 0, pick = -1;
    bool by_pages = rng_below(rng, 3) == 0;
    for (int pass = 0; pass < 2 && !by_pages; pass++) {
        int k = 0;
        for (int i = 0; i < d->n_sections; i++) {
            if (!section_title_usable(d->sections[i].title)) continue;
            for (int j = i; j < d->n_sections; j++) {
                int last = section_extent(d, j), pages = last - d->sections[i].first_page + 1;
                if (pages > max_pages) break;
                if (pages < min_pages || !section_title_usable(d->sections[j].title)) continue;
                if (pass == 1 && k == pick) {
                    *s = (struct segment){ d->sections[i].first_page, last, i, j };
                    return;
                }
                k++;
            }
        }
        n_cand = k;
        if (n_cand == 0) break;
        pick = (int)rng_below(rng, n_cand);
    }
    int len = (int)rng_range(rng, min_pages, max_pages);
    int first = (int)rng_below(rng, d->n_pages - len + 1);
    *s = (struct segment){ first, first + len - 1, -1, -1 };
}

void segment_fit(const int64_t *page_cost, int64_t budget, struct segment *s) {
    int64_t sum = page_cost[s->first];
    int last = s->first;
    while (last < s->last && sum + page_cost[last + 1] <= budget) sum += page_cost[++last];
    if (last != s->last) *s = (struct segment){ s->first, last, -1, -1 };
}

bool window_pick(const struct pool_doc *d, const int64_t *page_cost, const struct segment *s, int64_t budget,
                 uint64_t *rng, int *first, int *last) {
    // for each start a <= s->first, the furthest end b with cost(a..b) <= budget; the
    // starts whose b reaches s->last are the windows, one drawn uniformly
    int64_t cost = 0;
    int b = -1, n_valid = 0, *ends = malloc((size_t)(s->first + 1) * sizeof *ends);
    if (!ends) abort();
    for (int a = 0; a <= s->first; a++) {
        if (b < a - 1) b = a - 1, cost = 0;
        while (b + 1 < d->n_pages && cost + page_cost[b + 1] <= budget) cost += page_cost[++b];
        // a window reaching the segment's end, and not one page short of the window before
        ends[a] = b >= s->last && (a == 0 || cost + page_cost[a - 1] > budget) ? b : -1;
        n_valid += ends[a] >= 0;
        if (b >= a) cost -= page_cost[a];
    }
    bool ok = n_valid > 0;
    if (ok) {
        int k = (int)rng_below(rng, n_valid);
        for (int a = 0; a <= s->first; a++)
            if (ends[a] >= 0 && k-- == 0) *first = a, *last = ends[a];
    }
    free(ends);
    return ok;
}

// a and b equal ignoring case and whitespace
static bool same_words(const char *a, const char *b) {
    for (;; a++, b++) {
        while (isspace((unsigned char)*a)) a++;
        while (isspace((unsigned char)*b)) b++;
        if (!*a || !*b) return !*a && !*b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    }
}

int segment_first_block(const struct pool_doc *d, const struct segment *s) {
    int start = d->page_blocks[s->first];
    if (s->sec_first < 0) return start;
    for (int b = start; b < d->page_blocks[s->first + 1]; b++)
        if ((d->blocks[b].kind == BLOCK_HEADING || d->blocks[b].kind == BLOCK_TITLE) &&
            same_words(d->blocks[b].text, d->sections[s->sec_first].title))
            return b;
    return start;
}

void segment_anchor(const struct pool_doc *d, const struct segment *s, int window_first, char *out, size_t n) {
    if (s->sec_first >= 0 && s->sec_first == s->sec_last)
        snprintf(out, n, "in the section '%s'", d->sections[s->sec_first].title);
    else if (s->sec_first >= 0)
        snprintf(out, n, "in the sections from '%s' to '%s'", d->sections[s->sec_first].title,
                 d->sections[s->sec_last].title);
    else if (s->first == s->last)
        snprintf(out, n, "on page %d", s->first - window_first + 1);
    else
        snprintf(out, n, "on pages %d-%d", s->first - window_first + 1, s->last - window_first + 1);
}
