/*
 * The hand-off of large commits to h5fs-mpiwrite (DESIGN.md section 4):
 * the stage is materialised into the staging file, the daemon's HDF5
 * handle is closed, `mpiexec -n NP h5fs-mpiwrite ...` runs without a
 * shell, and the caller reopens.  When mpiexec or the helper cannot be
 * found the commit is made in-process and a warning says why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/stage.h"
#include "h5fs_ll.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The helper beside our own binary, else "h5fs-mpiwrite" on PATH. */
static char *helper_path(void)
{
	char *self = realpath("/proc/self/exe", NULL), *slash, *p = NULL;

	if (self && (slash = strrchr(self, '/'))) {
		*slash = '\0';
		if (asprintf(&p, "%s/h5fs-mpiwrite", self) < 0)
			p = NULL;
		else if (access(p, X_OK) == 0) {
			free(self);
			return p;
		}
		free(p);
	}
	free(self);
	return strdup("h5fs-mpiwrite");
}

static char **split_args(const char *s, size_t *n)
{
	char **v = NULL;
	char *copy, *tok, *save = NULL;

	*n = 0;
	if (!s || !*s || !(copy = strdup(s)))
		return NULL;
	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char **nv = realloc(v, (*n + 2) * sizeof(*v));

		if (!nv)
			break;
		v = nv;
		v[(*n)++] = strdup(tok);
		v[*n] = NULL;
	}
	free(copy);
	return v;
}

int h5fs_handoff_commit(struct h5fs_ll *ll, struct h5fs_node *n, const char *cpath, h5fs_stage *st,
			const h5fs_commit_options *co, int64_t fid, h5fs_commit_info *ci, h5fs_stage_base_fn base,
			void *payload)
{
	h5fs_mpiwrite_options mo = H5FS_MPIWRITE_OPTIONS_INIT;
	h5fs_mpiwrite_job job;
	char *helper = NULL, **args = NULL;
	size_t nargs = 0;
	double t0 = now_s();
	int rc;

	rc = h5fs_commit_plan(ci, fid, cpath, st, co);
	if (rc < 0)
		return rc;
	if (ci->kind == H5FS_COMMIT_NONE || ci->ndim < 1 || ci->write_bytes < ll->opts->mpi_threshold_bytes)
		return 1;
	/* a commit more writes may follow keeps what takes it back */
	if (co->version >= 3 && co->undo && (rc = h5fs_commit_undo_expect(co->undo, fid, ci, st)) < 0)
		return rc;
	rc = h5fs_stage_materialize(st, base, payload);
	if (rc < 0)
		return rc;
	helper = helper_path();
	args = split_args(ll->opts->mpi_args, &nargs);
	mo.mpiexec = ll->opts->mpiexec;
	mo.np = ll->opts->mpi_np ? atoi(ll->opts->mpi_np) : 0;
	mo.mpi_args = (const char *const *)args;
	mo.mpi_nargs = nargs;
	mo.helper = helper;
	mo.lock_timeout = ll->opts->lock_timeout;
	job.hdf5_file = ll->opts->source_abs;
	job.dataset = ci->path;
	job.staging_file = h5fs_stage_path(st);
	job.data_offset = ci->data_offset;
	job.dtype = ci->dtype;
	job.ndim = ci->ndim;
	job.dims = ci->dims;
	job.mode = ci->mpi_mode;
	h5fs_backing_close_now(ll->file);
	rc = h5fs_mpiwrite_run(&mo, &job);
	if (rc == H5FS_ENOTFOUND) {
		h5fs_log(H5FS_LOG_WARN, "commit of '%s' (%llu bytes): the MPI helper cannot run (%s); writing in-process",
			 n->path, (unsigned long long)ci->write_bytes, h5fs_error_last()->message);
		rc = 1;
	} else if (rc == 0) {
		h5fs_log(H5FS_LOG_INFO, "commit of '%s': %llu bytes by h5fs-mpiwrite on %d ranks in %.2f s", ci->path,
			 (unsigned long long)ci->write_bytes, mo.np > 0 ? mo.np : (int)sysconf(_SC_NPROCESSORS_ONLN),
			 now_s() - t0);
		if (ci->kind != H5FS_COMMIT_CREATE)
			h5fs_stage_mark_committed(st);
	}
	for (size_t i = 0; i < nargs; i++)
		free(args[i]);
	free(args);
	free(helper);
	return rc;
}

