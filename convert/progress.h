// Progress of long work (convert, quantize, data): a bar redrawn in place on a terminal,
// a plain line every few percent otherwise (logs, CI), and nothing when disabled.
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct progress {
    const char *what;
    uint64_t total, done;
    double   t0;
    bool     enabled, tty;
    int      last_step;   // last percentage step printed
};

void progress_start(struct progress *p, const char *what, uint64_t total, bool enabled);
// done: units finished so far; label: what is being worked on now.
void progress_update(struct progress *p, uint64_t done, const char *label);
void progress_finish(struct progress *p);

double progress_now(void);   // seconds, monotonic
