/*
 * Internals of h5fs_file.
 *
 * A handle owns: its absolute path, the HDF5 id while open (fid >= 0),
 * the nesting counter, the file map, and an optional MPI communicator.
 * Invariants: fid >= 0 exactly when count > 0 (after a successful open);
 * write_level is true exactly when the open id allows writes.
 */
#ifndef H5FS_LIB_FILE_H
#define H5FS_LIB_FILE_H

#include <mpi.h>
#include "internal.h"
#include "filemap.h"

struct h5fs_file {
	char *path;		/* absolute */
	bool writable;		/* the handle allows write modes */
	double lock_timeout;
	hid_t fid;		/* -1 when closed */
	bool write_level;	/* the open id is read-write */
	bool mpio;		/* the open id uses the MPI-IO driver */
	unsigned int count;
	unsigned int real_opens, real_closes;
	h5fs_filemap *map;
	MPI_Comm comm;		/* MPI_COMM_NULL: serial */
	MPI_Comm saved_comm;	/* comm_self_begin/end */
	unsigned int self_depth;
};

/* Open for a collective writer: MPI-IO when the handle has a comm. */
int h5fs__file_open_collective(h5fs_file *file);

/* Whether the handle works with more than this rank (comm size > 1). */
bool h5fs__file_is_parallel(const h5fs_file *file);

/* This rank's number in the handle's communicator (0 when serial). */
int h5fs__file_rank(const h5fs_file *file);

/*
 * Run @p fn on rank 0 only (with the file opened for writing, joining an
 * open context, or collectively on every rank when an MPI-IO open is in
 * progress, as parallel HDF5 wants metadata changes) and hand rank 0's
 * result and error message to every rank.
 */
typedef int (*h5fs__root_fn)(h5fs_file *file, void *payload);
int h5fs__file_root_only(h5fs_file *file, h5fs__root_fn fn, void *payload);

/*
 * Agree on @p error: every rank returns the worst (lowest) code of all
 * ranks, with the message of the lowest rank that saw it.  Collective;
 * a no-op when serial.  Call it before any collective step that a rank
 * with an error would skip.
 */
int h5fs__file_agree(const h5fs_file *file, int error);

/* Broadcast rank 0's error code and message to every rank (no-op serial). */
int h5fs__file_bcast_error(const h5fs_file *file, int error);

#endif
