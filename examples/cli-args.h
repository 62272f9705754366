// cli-args.h: numbers in command-line arguments, parsed whole and range-checked (a
// trailing character, an overflow or a value outside [lo, hi] is a refusal).
#pragma once

#include <stdbool.h>

bool cli_parse_ll(const char *s, long long lo, long long hi, long long *v);
bool cli_parse_double(const char *s, double lo, double hi, double *v);
