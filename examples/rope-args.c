// The rotary-scaling flags; see rope-args.h.
#include "rope-args.h"
#include "cli-args.h"

#include <stdio.h>
#include <string.h>

void rope_args_init(struct rope_scaling *s) {
    *s = (struct rope_scaling){ .type = ROPE_SCALING_NONE, .orig_ctx = 32768 };
}

static bool parse_type(const char *v, enum rope_scaling_type *t) {
    static const char *names[] = { "none", "static", "dynamic", "yarn" };
    for (int i = 0; i < 4; i++)
        if (!strcmp(v, names[i])) return *t = (enum rope_scaling_type)i, true;
    return false;
}

int rope_args_parse(const char *verb, const char *flag, const char *value, struct rope_scaling *s) {
    long long orig;
    bool good;
    if (!strcmp(flag, "--rope-base")) good = cli_parse_double(value, 1, 1e30, &s->base);
    else if (!strcmp(flag, "--rope-factor")) good = cli_parse_double(value, 1, 1e6, &s->factor);
    else if (!strcmp(flag, "--rope-orig-ctx")) good = cli_parse_ll(value, 1, 1 << 30, &orig) && (s->orig_ctx = (double)orig, true);
    else if (!strcmp(flag, "--rope-scaling")) good = parse_type(value, &s->type);
    else return 0;
    if (good) return 1;
    fprintf(stderr, "longvl %s: bad value for %s: '%s' (see --help)\n", verb, flag, value);
    return -1;
}

bool rope_args_check(const char *verb, const struct rope_scaling *s) {
    if (s->type == ROPE_SCALING_NONE || s->factor) return true;
    fprintf(stderr, "longvl %s: --rope-scaling needs --rope-factor\n", verb);
    return false;
}
