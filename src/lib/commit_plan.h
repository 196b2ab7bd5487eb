/*
 * What the commit's files share (commit.c: the writes; commit_plan.c:
 * the plans, which refuse what can be refused before the file is
 * touched; commit_mpi.c: running h5fs-mpiwrite).  Internal to libh5fs.
 */
#ifndef H5FS_LIB_COMMIT_PLAN_H
#define H5FS_LIB_COMMIT_PLAN_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "internal.h"
#include "commit_int.h"
#include "json.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/stage.h"


#define WINDOW ((size_t)4 << 20)
#define GAP_MERGE ((uint64_t)4096)
/* NPY headers longer than this are refused (numpy writes a few hundred bytes). */
#define NPY_MAX_HEADER ((size_t)1 << 20)
/* Attribute values larger than this are not copied by a replace. */
#define ATTR_MAX ((size_t)1 << 30)

/* A commit being made: what plan_begin() found and decided. */
struct plan {
	h5fs_commit_info *info;
	struct h5fs__ds old;		/* open when the dataset exists */
	hid_t type;		/* create: the new type */
	int fortran;		/* create from NPY: Fortran order, ndim >= 2 */
	bool early;		/* h5fs_commit_early(): the data has not all arrived */
};

/* commit_plan.c */
/* The undo log the options name, or NULL. */
struct h5fs_commit_undo *h5fs__undo_of(const h5fs_commit_options *opts);
/* Decide how @p st goes into @p path (everything refusable is refused here): 0 or an error. */
int h5fs__plan_begin(struct plan *p, h5fs_commit_info *info, hid_t fid, const char *path, const h5fs_stage *st,
		     const h5fs_commit_options *opts, bool early);
void h5fs__plan_end(struct plan *p);

#endif
