// synth.h: LongPT instances from the document pool. Each instance is drawn from
// (seed, its index) alone: a task from the mixture, a length from the distribution, a
// document long enough, a segment of it, a question on the segment (a pluggable
// generator), and the window of the document the instance shows. It is written as a
// train-longpt JSONL line (train-data.h): the chat format, each window page an
// <|image_pad|> standing for the pool's PDF page, the loss on the answer.
//
// A run makes the instances i < n with i % n_shards == shard into
// OUT/shard-I-of-N.jsonl and its manifest OUT/manifest-I-of-N.json (settings, task and
// rule counts, the length histogram against its target, token totals, the shard's
// SHA-256), so that N machines each making one shard make exactly what one machine
// would. Files are written under temporary names and renamed when complete.
#pragma once

#include "pool.h"
#include "qa-rules.h"
#include "synth-config.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// What a generator is asked for: a question of `task` on segment s of d (the instance
// shows pages [window_first, window_last]; pages in questions count from window_first),
// phrased with anchor; for ocr-needle, the pages to transcribe.
struct qa_request {
    const struct pool_doc *d;
    const struct doc_facts *facts;
    enum synth_task task;
    const struct segment *s;
    int window_first, window_last;
    const char *anchor;
    const int *needles;
    int n_needles;
    uint64_t *rng;
};

// What a generator's make returns.
enum qa_made {
    QA_ERROR = -1,        // the run stops, with a message
    QA_NO_MATERIAL = 0,   // nothing for this task in the segment: another is drawn
    QA_MADE = 1,          // *out made
    QA_REFUSED = 2,       // a reply was refused (a model's): another is drawn
};

struct qa_generator {
    const char *name;
    enum qa_made (*make)(void *self, const struct qa_request *r, struct qa *out, char *err, size_t errlen);
    void *self;
};

// The built-in rule-based generator (qa-rules.h).
extern const struct qa_generator qa_generator_rules;

struct synth_params {
    const char *pool_dir, *out_dir;
    struct synth_config cfg;
    int64_t n_instances;
    uint64_t seed;
    int shard, n_shards;
    struct tokenizer *tok;
    const struct qa_generator *gen;
    bool quiet;
};

// Runs the synthesis; prints the statistics. false with a message (nothing is left
// under the final names).
bool synth_run(const struct synth_params *p, char *err, size_t errlen);
