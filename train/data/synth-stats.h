// synth-stats.h: what a synthesis run counts, printed at its end and saved in its
// manifest.
#pragma once

#include "qa-rules.h"
#include "synth-config.h"

#include <stdint.h>
#include <stdio.h>

#define SYNTH_MAX_RULES 16

struct synth_stats {
    int64_t made, failed;                   // instances written; instances no attempt could make
    int64_t task[TASK_COUNT];
    const char *rule_name[SYNTH_MAX_RULES];
    int64_t rule[SYNTH_MAX_RULES];
    int64_t below, bin[SYNTH_MAX_BINS], above;   // instance lengths against the bins
    int64_t tokens, min_tokens, max_tokens, answer_tokens;
    int64_t no_material, refused, too_long, page_too_big;   // attempts given up, by reason
    int64_t docs_used;
    double seconds;
};

void synth_stats_add(struct synth_stats *st, const struct synth_config *c, enum synth_task task, const char *rule,
                     int64_t tokens, int64_t answer_tokens);
void synth_stats_print(FILE *f, const struct synth_stats *st, const struct synth_config *c);

// The manifest: the run's settings, these statistics and the shard file's name, size
// and SHA-256, as a JSON object (malloc'd text).
struct synth_manifest_info {
    const char *generator, *pool, *pool_settings, *shard_file, *shard_sha256;
    int64_t shard_bytes, requested;
    uint64_t seed;
    int shard, n_shards;
};
char *synth_manifest_json(const struct synth_stats *st, const struct synth_config *c, const struct synth_manifest_info *m);
