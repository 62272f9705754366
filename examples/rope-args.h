// rope-args.h: the rotary-scaling flags of the verbs that run the text model (run, logits),
// parsed into models/rope-scaling.h's struct rope_scaling.
#pragma once

#include "rope-scaling.h"

#include <stdbool.h>

#define ROPE_ARGS_USAGE                                                                                  \
    "  --rope-base B         the rotary base to use instead of the model's (rules below apply on top)\n" \
    "  --rope-scaling none|static|dynamic|yarn --rope-factor S [--rope-orig-ctx L0 (default 32768)]\n" \
    "                        NTK rules and YaRN of spec section 7; dynamic uses L = the largest position + 1\n"

void rope_args_init(struct rope_scaling *s);
// 1: flag and value taken; 0: not a rope flag; -1: a bad value (said on stderr)
int rope_args_parse(const char *verb, const char *flag, const char *value, struct rope_scaling *s);
// A rule needs --rope-factor; false (said on stderr) when it is missing.
bool rope_args_check(const char *verb, const struct rope_scaling *s);
