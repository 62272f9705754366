// Whole-string number parsing for the verbs (cli-args.h).
#include "cli-args.h"

#include <errno.h>
#include <stdlib.h>

bool cli_parse_ll(const char *s, long long lo, long long hi, long long *v) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi) return false;
    *v = x;
    return true;
}

bool cli_parse_double(const char *s, double lo, double hi, double *v) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !(x >= lo && x <= hi)) return false;
    *v = x;
    return true;
}
