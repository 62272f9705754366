// Open MPI data parallelism, or one rank (see dist.h).
#include "dist.h"

#include "tl.h"

#include <stdlib.h>

#ifdef LONGVL_HAVE_MPI
#include <mpi.h>
#endif

// mpirun (Open MPI) tells its processes their world through the environment
static bool launched_by_mpirun(void) { return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK"); }

bool dist_init(struct dist *d, int *argc, char ***argv, char *err, size_t errlen) {
    *d = (struct dist){ .rank = 0, .size = 1 };
    if (!launched_by_mpirun()) return true;
#ifdef LONGVL_HAVE_MPI
    (void)err, (void)errlen;
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->mpi = true;
    return true;
#else
    (void)argc, (void)argv;
    tl_errorf(err, errlen, "started by mpirun, but this longvl was built without Open MPI (install libopenmpi-dev and rebuild)");
    return false;
#endif
}

void dist_finalize(struct dist *d) {
#ifdef LONGVL_HAVE_MPI
    if (d->mpi) MPI_Finalize();
#endif
    d->mpi = false;
}

void dist_sum_f32(const struct dist *d, float *v, int64_t n) {
#ifdef LONGVL_HAVE_MPI
    if (d->size < 2) return;
    for (int64_t i = 0; i < n; i += 1 << 30) {   // MPI counts are int
        int count = (int)(n - i < (1 << 30) ? n - i : (1 << 30));
        MPI_Allreduce(MPI_IN_PLACE, v + i, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
#else
    (void)d, (void)v, (void)n;
#endif
}

void dist_sum_f64(const struct dist *d, double *v, int n) {
#ifdef LONGVL_HAVE_MPI
    if (d->size >= 2) MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)d, (void)v, (void)n;
#endif
}
