// dist.h: data parallelism over Open MPI. Built with MPI (LONGVL_HAVE_MPI, when CMake
// finds it) and started by mpirun, every rank runs the same trainer on its share of each
// step's packed sequences and the gradients are summed across ranks before the
// optimizer, so all ranks take the same step. Otherwise there is one rank and every call
// here is a no-op.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dist {
    int rank, size;
    bool mpi;   // MPI was initialised here (finalize it)
};

// Starts MPI when this process was launched by mpirun (and the build has MPI); false with
// a message when it was launched by mpirun but the build has no MPI.
bool dist_init(struct dist *d, int *argc, char ***argv, char *err, size_t errlen);
void dist_finalize(struct dist *d);

// In-place sums over all ranks (the same result on every rank).
void dist_sum_f32(const struct dist *d, float *v, int64_t n);
void dist_sum_f64(const struct dist *d, double *v, int n);
