// Open MPI (Debian's libopenmpi-dev) for data-parallel training. Its handles
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE) are macros over global
// structs that Swift cannot import: they are exported here as functions.
#include <mpi.h>

static inline MPI_Comm ganc_mpi_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype ganc_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ganc_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype ganc_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op ganc_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op ganc_mpi_max(void) { return MPI_MAX; }
static inline void *ganc_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int ganc_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
