// trainer.h: the LongPT training loop behind `longvl train-longpt`.
//
// Each optimizer step packs instances from the data cursor into sequences of at most
// seq_len tokens until the step holds tokens_per_step tokens per rank (gradient
// accumulation; with R MPI ranks the step's sequences are dealt round-robin and the
// gradients summed, so R ranks take the step one rank with R times the accumulation
// would), runs each sequence forward and backward (train-step.h), scales the summed gradient to
// the mean loss per answer token of the whole step, clips it by global norm and takes an
// AdamW step with the warmup + cosine learning rate. A step whose loss or gradient is
// NaN or Inf stops the run without saving it: the last checkpoint stays the last good one.
//
// Determinism: the data are a function of the cursor, packing of the data, the kernels
// of their inputs (fixed partitions, no atomics), and the optimizer's reductions run in
// a fixed order; with the same thread count a run is reproducible bit for bit, and a run
// resumed from a checkpoint continues as if it had never stopped.
#pragma once

#include "dist.h"
#include "tl.h"

struct tl_vk_backend;

#include <stdbool.h>
#include <stdint.h>

// The settings a checkpoint stores and a resumed run must share: NaN means "not given"
// (a fresh run takes the default, a resumed one the checkpoint's value).
enum train_setting_id {
    TS_LR, TS_LR_MIN, TS_WARMUP, TS_STEPS, TS_WEIGHT_DECAY, TS_BETA1, TS_BETA2, TS_EPS, TS_CLIP,
    TS_SEQ_LEN, TS_TOKENS_PER_STEP, TS_CHECKPOINT_EVERY, TS_COMPUTE_TYPE, TS_SEED, TS_ROPE_BASE,
    TS_DPI, TS_MIN_PIXELS, TS_MAX_PIXELS,   // how pictures become vision rows
    TS_TRAIN_VISION,   // 1: the vision tower is trained too (a flag without a value)
    TS_RANKS,   // not a flag: the number of MPI ranks (mpirun -np)
    TS_COUNT
};

struct train_config {
    const char *model;        // the GGUF to start from (NULL when resuming)
    const char *resume;       // a checkpoint to continue
    const char *data;         // train-data.h's spec (NULL when resuming: the checkpoint's)
    const char *save;         // checkpoint path (NULL: none)
    const char *out;          // the final model (NULL: none)
    const char *log_csv;      // per-step CSV (appended to when resuming)
    const char *mmproj;       // the vision tower, for data with pictures (NULL: none)
    const char *mmproj_out;   // the trained tower at the end (NULL: from out, OUT-mmproj.gguf)
    const char *embd_cache;   // its page-embedding cache folder (NULL: the default)
    double settings[TS_COUNT];
    // rope: an explicit base (TS_ROPE_BASE), or the dynamic-NTK rule at target_ctx
    double target_ctx, rope_factor, rope_orig_ctx;
    int64_t save_every, eval_every, eval_instances, log_every;
    int64_t stop_after;       // > 0: stop (saving) after this many steps of this process
    int n_threads;
    bool quiet;
    const struct dist *dist;  // data parallel ranks (NULL: one); only rank 0 logs and writes
    struct tl_vk_backend *vk; // run the graphs on this Vulkan device (NULL: the CPU)
};

void train_config_init(struct train_config *c);   // everything "not given"
// Names of the settings as flags (--lr, ...), and the range a value must lie in.
const char *train_setting_flag(enum train_setting_id id);
void train_setting_range(enum train_setting_id id, double *lo, double *hi);

// Runs the whole training; returns the process exit status (0 done, 1 error or a
// non-finite loss, 130 interrupted by SIGINT after saving).
int train_longpt(struct train_config *c);
