#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(struct progress *p, const char *what, uint64_t total, bool enabled) {
    *p = (struct progress){ .what = what, .total = total ? total : 1, .t0 = progress_now(), .enabled = enabled,
                            .tty = isatty(2), .last_step = -1 };
}

void progress_update(struct progress *p, uint64_t done, const char *label) {
    if (!p->enabled) return;
    p->done = done;
    double frac = (double)done / (double)p->total;
    double secs = progress_now() - p->t0;
    double mbps = secs > 0 ? (double)done / secs / 1e6 : 0;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %5.1f%% %7.0f MB/s  %-40.40s", p->what, bar, 100 * frac, mbps, label);
        fflush(stderr);
    } else {
        int step = (int)(frac * 10);   // a line per 10%
        if (step == p->last_step) return;
        p->last_step = step;
        fprintf(stderr, "%s: %3d%% (%.0f MB/s) %s\n", p->what, step * 10, mbps, label);
    }
}

void progress_finish(struct progress *p) {
    if (p->enabled && p->tty) fprintf(stderr, "\n");
}
