// synth-config.h: what a synthesis run makes: the task mixture and the length
// distribution, read from a small config file of "key = value" lines (# comments):
//
//   extract-single = 4      # task weights (relative; 0 leaves a task out)
//   extract-multi = 4       #   default: extraction : reasoning = 8 : 2, no OCR
//   reasoning = 2
//   ocr-full = 0
//   ocr-needle = 0
//   distribution = pool-native    # or long-biased, or histogram (with weights)
//   bins = 8192 16384 32768 65536 98304 131072   # edges of the length bins (tokens)
//   weights = 1 1 1 1 1     # histogram: each bin's share of the instances
//   segment-pages = 8 15    # the pages of a question's segment
//
// pool-native: documents drawn uniformly from those of at least the first edge, each
// shown whole when it fits the last edge (else a window of that many tokens), so the
// lengths follow the pool's own. long-biased: each bin four times as likely as the one
// below it (the 96K-128K bin gets 75% with the default bins). histogram: the weights.
// Under long-biased and histogram an instance's length is drawn in its bin and a window
// of the document made to fit it.
#pragma once

#include "qa-rules.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum synth_distribution { DIST_POOL_NATIVE, DIST_LONG_BIASED, DIST_HISTOGRAM };

#define SYNTH_MAX_BINS 16

struct synth_config {
    double task_weight[TASK_COUNT];
    enum synth_distribution distribution;
    int n_bins;
    int64_t edges[SYNTH_MAX_BINS + 1];
    double bin_weight[SYNTH_MAX_BINS];   // the target share of each bin (sums to 1)
    int segment_min, segment_max;
};

void synth_config_default(struct synth_config *c);
// Reads path over the defaults; false with "path line N: why".
bool synth_config_read(const char *path, struct synth_config *c, char *err, size_t errlen);
// Sets the distribution by name and derives the bins' target shares; false for a bad name
// or histogram weights that sum to 0.
bool synth_config_set_distribution(struct synth_config *c, const char *name, char *err, size_t errlen);
const char *synth_distribution_name(enum synth_distribution d);
