// Large buffers on 2 MiB pages. Weights, the KV cache and compute arenas are streamed
// from DRAM; on 4 KiB pages such a stream leaves its TLB reach every 64 cache lines, and
// each miss is a page walk (in a virtual machine, a walk of two page tables). Linux
// gives 2 MiB pages ("transparent huge pages") to memory marked MADV_HUGEPAGE, or to all
// anonymous memory where the system is set to "always"; many distributions ship
// "madvise", so the mark matters. The advice is only advice: where the kernel has no
// huge page free, or the OS has no such call, the buffer simply keeps 4 KiB pages.
#include "tl-impl.h"

#include <pthread.h>
#include <sys/mman.h>

#define HUGE_PAGE TL_LARGE_BYTES

static bool huge_pages = true;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void read_env(void) {
    const char *e = getenv("LONGVL_HUGEPAGES");
    if (!e || !*e || !strcmp(e, "1")) return;
    if (!strcmp(e, "0")) huge_pages = false;
    else fprintf(stderr, "longvl: LONGVL_HUGEPAGES=%s is not 0 or 1; using 1\n", e);
}

bool tl_get_huge_pages(void) {
    pthread_once(&env_once, read_env);
    return huge_pages;
}

void tl_set_huge_pages(bool on) {
    pthread_once(&env_once, read_env);
    huge_pages = on;
}

void *tl_alloc_large(size_t bytes) {
    if (bytes < HUGE_PAGE || !tl_get_huge_pages()) return aligned_alloc(64, (bytes + 63) / 64 * 64);
    const size_t size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, size);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, size, MADV_HUGEPAGE);   // fails harmlessly where THP is off
#endif
    return p;
}
