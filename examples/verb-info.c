// longvl info: what this machine offers and what the build will use.
#include "verbs.h"
#include "tl-cpu.h"

#include <stdio.h>
#include <string.h>

int verb_info(int argc, char **argv) {
    if (argc > 0) {
        if (strcmp(argv[0], "--help") != 0) fprintf(stderr, "longvl info: unknown option '%s'\n", argv[0]);
        printf("usage: longvl info\n");
        return strcmp(argv[0], "--help") ? 2 : 0;
    }
    printf("cpu instruction sets:");
    for (int i = 0; i < TL_ISA_COUNT; i++)
        printf(" %s%s", tl_cpu_isa_name((enum tl_cpu_isa)i), tl_cpu_isa_supported((enum tl_cpu_isa)i) ? "" : "(no)");
    printf("\nkernels in use:       %s (best %s; LONGVL_CPU_ISA lowers it)\n", tl_cpu_isa_name(tl_cpu_get_isa()),
           tl_cpu_isa_name(tl_cpu_isa_best()));
    printf("threads:              %d\n", tl_cpu_default_threads());
    printf("ops with fast paths: ");
    for (int op = 1; op < TL_OP_COUNT; op++)
        if (tl_cpu_has_fast_kernel((enum tl_op)op)) printf(" %s", tl_op_name((enum tl_op)op));
    printf("\n");
    return 0;
}
