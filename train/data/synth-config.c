// The synthesis config file (synth-config.h).
#include "synth-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dist_names[] = { "pool-native", "long-biased", "histogram" };

const char *synth_distribution_name(enum synth_distribution d) { return dist_names[d]; }

// The bins' shares from the distribution (pool-native has none: the pool decides).
static bool derive_shares(struct synth_config *c, char *err, size_t errlen) {
    double sum = 0;
    for (int b = 0; b < c->n_bins; b++) {
        if (c->distribution == DIST_LONG_BIASED) c->bin_weight[b] = b == 0 ? 1 : 4 * c->bin_weight[b - 1];
        if (c->distribution == DIST_POOL_NATIVE) c->bin_weight[b] = 0;
        sum += c->bin_weight[b];
    }
    if (c->distribution == DIST_POOL_NATIVE) return true;
    if (!(sum > 0)) {
        snprintf(err, errlen, "the histogram's weights sum to 0");
        return false;
    }
    for (int b = 0; b < c->n_bins; b++) c->bin_weight[b] /= sum;
    return true;
}

void synth_config_default(struct synth_config *c) {
    *c = (struct synth_config){
        .task_weight = { [TASK_EXTRACT_SINGLE] = 4, [TASK_EXTRACT_MULTI] = 4, [TASK_REASONING] = 2 },
        .distribution = DIST_POOL_NATIVE,
        .n_bins = 5,
        .edges = { 8192, 16384, 32768, 65536, 98304, 131072 },
        .bin_weight = { 1, 1, 1, 1, 1 },
        .segment_min = 8,
        .segment_max = 15,
    };
}

bool synth_config_set_distribution(struct synth_config *c, const char *name, char *err, size_t errlen) {
    int d = 0;
    while (d < 3 && strcmp(dist_names[d], name)) d++;
    if (d == 3) {
        snprintf(err, errlen, "unknown distribution '%s' (pool-native, long-biased or histogram)", name);
        return false;
    }
    bool had_weights = c->distribution == DIST_HISTOGRAM;   // a config's weights stay
    c->distribution = (enum synth_distribution)d;
    if (d == DIST_HISTOGRAM && !had_weights)
        for (int b = 0; b < c->n_bins; b++) c->bin_weight[b] = 1;
    return derive_shares(c, err, errlen);
}

// Numbers of a value: false unless there are between lo and hi of them, each >= 0.
static bool numbers(const char *v, double *out, int lo, int hi, int *n) {
    *n = 0;
    for (char *end;; v = end) {
        double x = strtod(v, &end);
        if (end == v) break;
        if (*n == hi || !(x >= 0)) return false;
        out[(*n)++] = x;
    }
    while (*v == ' ' || *v == '\t') v++;
    return !*v && *n >= lo;
}

bool synth_config_read(const char *path, struct synth_config *c, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read the config %s", path);
        return false;
    }
    char line[1024], dist[64] = "";
    bool ok = true;
    int no = 0, n_weights = 0;   // weights given (0: none)
    while (ok && fgets(line, sizeof line, f)) {
        no++;
        line[strcspn(line, "#\r\n")] = 0;
        char *eq = strchr(line, '=');
        char key[64] = "", *val = eq ? eq + 1 : NULL;
        if (eq) {
            *eq = 0;
            sscanf(line, "%63s", key);
            while (*val == ' ' || *val == '\t') val++;
            for (size_t n = strlen(val); n && (val[n - 1] == ' ' || val[n - 1] == '\t');) val[--n] = 0;
        } else if (strspn(line, " \t") == strlen(line)) {
            continue;
        }
        double x[SYNTH_MAX_BINS + 1];
        int n = 0;
        enum synth_task t = eq ? synth_task_parse(key) : TASK_COUNT;
        const char *why = NULL;
        if (!eq) why = "expected key = value";
        else if (t != TASK_COUNT) {
            if (numbers(val, x, 1, 1, &n)) c->task_weight[t] = x[0];
            else why = "a task weight is one number >= 0";
        } else if (!strcmp(key, "distribution")) {
            snprintf(dist, sizeof dist, "%s", val);
        } else if (!strcmp(key, "bins")) {
            if (!numbers(val, x, 2, SYNTH_MAX_BINS + 1, &n)) why = "bins are 2 to 17 edges in tokens";
            for (int i = 0; !why && i < n; i++)
                if (x[i] != (int64_t)x[i] || x[i] < 1 || (i && x[i] <= x[i - 1])) why = "bin edges are rising whole numbers";
            for (int i = 0; !why && i < n; i++) c->edges[i] = (int64_t)x[i];
            if (!why) c->n_bins = n - 1;
        } else if (!strcmp(key, "weights")) {
            if (!numbers(val, x, 1, SYNTH_MAX_BINS, &n)) why = "weights are one number >= 0 per bin";
            for (int i = 0; !why && i < n; i++) c->bin_weight[i] = x[i];
            if (!why) n_weights = n;
        } else if (!strcmp(key, "segment-pages")) {
            if (!numbers(val, x, 2, 2, &n) || x[0] < 1 || x[0] > x[1] || x[1] > 1000 || x[0] != (int)x[0] ||
                x[1] != (int)x[1])
                why = "segment-pages is two page counts, MIN MAX, MIN <= MAX";
            else c->segment_min = (int)x[0], c->segment_max = (int)x[1];
        } else {
            why = "unknown key (task names, distribution, bins, weights, segment-pages)";
        }
        if (why) {
            snprintf(err, errlen, "%s line %d: %s", path, no, why);
            ok = false;
        }
    }
    fclose(f);
    if (!ok) return false;
    if (n_weights && n_weights != c->n_bins) {
        snprintf(err, errlen, "%s: %d weights for %d bins", path, n_weights, c->n_bins);
        return false;
    }
    double tasks = 0;
    for (int t = 0; t < TASK_COUNT; t++) tasks += c->task_weight[t];
    if (!(tasks > 0)) {
        snprintf(err, errlen, "%s: the task weights sum to 0", path);
        return false;
    }
    if (n_weights && dist[0] && strcmp(dist, "histogram")) {
        snprintf(err, errlen, "%s: weights are for distribution = histogram, not %s", path, dist);
        return false;
    }
    if (n_weights) c->distribution = DIST_HISTOGRAM;
    char sub[256];
    if (!synth_config_set_distribution(c, dist[0] ? dist : synth_distribution_name(c->distribution), sub, sizeof sub)) {
        snprintf(err, errlen, "%s: %s", path, sub);
        return false;
    }
    return true;
}
