// checkpoint.h: train-longpt's files. Both are GGUF, written to a temporary name and
// renamed, so a crash or a kill never leaves a half-written one:
// - the model (-o): the source model's metadata with the run's rope base, and every
//   tensor as the f32 master; it runs in `longvl run` and quantizes like any text GGUF;
// - a checkpoint (--save): the same plus each tensor's AdamW moments (opt.m.NAME,
//   opt.v.NAME, f32), a trainable vision tower's tensors and moments beside the text
//   model's (the projector's own names: v.*, mm.*), and the run's state and settings as longpt.* keys. Resuming from it
//   reads the same weights, moments, step and data cursor bit for bit.
#pragma once

#include "train-model.h"

#include <stdbool.h>
#include <stdint.h>

struct train_state {
    int64_t step;     // optimizer steps done
    int64_t cursor;   // the next instance of the data
    int64_t tokens;   // tokens trained on so far
};

// A setting of the run that a resumed run must share (the learning rate, the data, ...),
// stored as longpt.KEY.
struct train_setting {
    const char *key;
    double value;
};

// m gives the metadata; params are the tensors written (the text model's, and a trainable
// vision tower's in a checkpoint: their names do not overlap).
bool checkpoint_write(const char *path, const struct train_model *m, struct train_param *const *params, int n_params,
                      float rope_base, bool with_optimizer, const struct train_state *st,
                      const struct train_setting *settings, int n_settings, const char *data_spec, char *err,
                      size_t errlen);

// After train_model_load(path, with_extra = true): the state, every setting's stored
// value (a missing key is an error), and the data spec (copied into data_spec[data_len]).
bool checkpoint_read(const char *path, const struct train_model *m, struct train_state *st,
                     struct train_setting *settings, int n_settings, char *data_spec, size_t data_len, char *err,
                     size_t errlen);
// The AdamW moments of params from the open checkpoint g (read from path).
bool checkpoint_read_moments(const char *path, const struct tl_gguf *g, struct train_param *const *params, int n_params,
                             char *err, size_t errlen);
