/**
 * @file h5fs/mpi.h
 * @brief MPI communicators for file handles.
 *
 * Include this only in MPI programs: it includes <mpi.h>.  A handle with
 * a communicator opens the file collectively with the MPI-IO driver for
 * collective writers (require_self, require_group, write_contiguous,
 * write_scattered); root-only writers (attributes, add_dataset) run on
 * rank 0 and broadcast its result and error to every rank.  The daemon
 * never calls MPI_Init; a handle without a communicator is serial.
 */
#ifndef INCLUDE_h5fs_mpi_h__
#define INCLUDE_h5fs_mpi_h__

#include <mpi.h>
#include "common.h"
#include "file.h"

H5FS_BEGIN_DECL

/**
 * Use @p comm for @p file (MPI_COMM_NULL: serial again).  The handle
 * keeps the communicator as given; it must outlive the handle's use.
 * The file must be closed.
 */
H5FS_EXTERN(int) h5fs_file_set_comm(h5fs_file *file, MPI_Comm comm);

/** The communicator (MPI_COMM_NULL when serial). */
H5FS_EXTERN(MPI_Comm) h5fs_file_comm(const h5fs_file *file);

/**
 * Make @p file act on this rank alone (MPI_COMM_SELF) until
 * h5fs_file_comm_self_end(), so one rank may call a collective writer.
 * Pairs nest.
 */
H5FS_EXTERN(int) h5fs_file_comm_self_begin(h5fs_file *file);
H5FS_EXTERN(int) h5fs_file_comm_self_end(h5fs_file *file);

H5FS_END_DECL

#endif
