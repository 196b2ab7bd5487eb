/*
 * Undoing commits (h5fs/sys/stage.h): the log of the bytes a write
 * into an existing dataset overwrote (commit.c's in-place writes use it
 * to roll back a write that failed half-way), and h5fs_commit_undo,
 * which takes a series of commits of one open file back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "commit_int.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/stage.h"

/* ---- the byte log ------------------------------------------------------ */

void h5fs__undo_log_free(struct h5fs__undo_log *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->rec[i].mem);
	free(u->rec);
	if (u->fd >= 0)
		close(u->fd);
}

static int undo_file(struct h5fs__undo_log *u)
{
	const char *tmp = getenv("TMPDIR");
	char *path;

	if (asprintf(&path, "%s/.h5fs-undo-XXXXXX", u->dir ? u->dir : (tmp && *tmp ? tmp : "/tmp")) < 0)
		return h5fs__error_oom();
	u->fd = mkostemp(path, O_CLOEXEC);
	if (u->fd < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot make an undo file '%s': %s", path, strerror(errno));
		free(path);
		return H5FS_ERROR;
	}
	unlink(path);
	free(path);
	return 0;
}

int h5fs__undo_log_push(struct h5fs__undo_log *u, uint64_t e0, uint64_t e1, const unsigned char *buf, size_t len)
{
	struct h5fs__undo_rec *r;
	int error;

	if (u->n == u->alloc) {
		size_t n = u->alloc ? u->alloc * 2 : 16;

		if (!(r = realloc(u->rec, n * sizeof(*r))))
			return h5fs__error_oom();
		u->rec = r;
		u->alloc = n;
	}
	r = &u->rec[u->n];
	r->e0 = e0;
	r->e1 = e1;
	r->mem = NULL;
	if (u->mem_bytes + len <= H5FS_COMMIT_UNDO_LIMIT) {
		if (!(r->mem = malloc(len ? len : 1)))
			return h5fs__error_oom();
		memcpy(r->mem, buf, len);
		u->mem_bytes += len;
	} else {
		if (u->fd < 0 && (error = undo_file(u)) < 0)
			return error;
		r->foff = u->fsize;
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(u->fd, buf + done, len - done, (off_t)(u->fsize + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				h5fs__error_set(H5FS_ERROR_OS, "cannot write the undo file: %s", n < 0 ? strerror(errno) : "short write");
				return H5FS_ERROR;
			}
			done += (size_t)n;
		}
		u->fsize += len;
	}
	u->n++;
	return 0;
}

/* Write the old bytes back, newest first; best effort. */
void h5fs__undo_log_apply(struct h5fs__undo_log *u, struct h5fs__ds *ds)
{
	for (size_t i = u->n; i-- > 0;) {
		struct h5fs__undo_rec *r = &u->rec[i];
		size_t len = (size_t)(r->e1 - r->e0) * ds->esize;
		unsigned char *buf = r->mem;

		if (!buf) {
			if (!(buf = malloc(len)) || pread(u->fd, buf, len, (off_t)r->foff) != (ssize_t)len) {
				free(buf);
				continue;
			}
		}
		h5fs__ds_io(ds, true, r->e0, r->e1, buf);
		if (buf != r->mem)
			free(buf);
	}
}


/* ---- taking commits back ------------------------------------------------- */

enum urec_kind {
	U_ABSENT,	/* nothing was at path */
	U_KEEP,		/* the old dataset is hard-linked at keep */
	U_BYTES		/* log holds what was overwritten; rows the old first dimension */
};

struct urec {
	enum urec_kind kind;
	char *path;
	char *keep;
	int resized;
	uint64_t rows;
	struct h5fs__undo_log log;
};

struct h5fs_commit_undo {
	struct urec *r;
	size_t n, cap;
	char *dir;
};

int h5fs_commit_undo_new(h5fs_commit_undo **out, const char *dir)
{
	h5fs_commit_undo *u;

	H5FS_ASSERT_ARG(out);
	*out = NULL;
	if (!(u = calloc(1, sizeof(*u))))
		return h5fs__error_oom();
	if (dir && !(u->dir = h5fs__strdup(dir))) {
		free(u);
		return H5FS_ENOMEM;
	}
	*out = u;
	return 0;
}

static void urec_free(struct urec *r)
{
	free(r->path);
	free(r->keep);
	h5fs__undo_log_free(&r->log);
}

static void forget_all(h5fs_commit_undo *u)
{
	for (size_t i = 0; i < u->n; i++)
		urec_free(&u->r[i]);
	u->n = 0;
}

void h5fs_commit_undo_free(h5fs_commit_undo *u)
{
	if (!u)
		return;
	forget_all(u);
	free(u->r);
	free(u->dir);
	free(u);
}

int h5fs_commit_undo_pending(const h5fs_commit_undo *u)
{
	return u && u->n > 0;
}

bool h5fs__undo_sealed(const h5fs_commit_undo *u, const char *path)
{
	for (size_t i = 0; u && i < u->n; i++)
		if (u->r[i].kind != U_BYTES && !strcmp(u->r[i].path, path))
			return true;
	return false;
}

const char *h5fs__undo_dir(const h5fs_commit_undo *u)
{
	return u ? u->dir : NULL;
}

static struct urec *push(h5fs_commit_undo *u, enum urec_kind kind, const char *path)
{
	struct urec *r;

	if (u->n == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 4;

		if (!(r = realloc(u->r, nc * sizeof(*r)))) {
			h5fs__error_oom();
			return NULL;
		}
		u->r = r;
		u->cap = nc;
	}
	r = &u->r[u->n];
	memset(r, 0, sizeof(*r));
	r->log = (struct h5fs__undo_log)H5FS__UNDO_LOG_INIT;
	r->kind = kind;
	if (!(r->path = h5fs__strdup(path)))
		return NULL;
	u->n++;
	return r;
}

int h5fs__undo_before_swap(h5fs_commit_undo *u, hid_t fid, const char *path)
{
	htri_t exists;
	struct urec *r;
	char *keep = NULL;
	int error;

	if (!u || h5fs__undo_sealed(u, path))
		return 0;
	exists = H5Lexists(fid, path, H5P_DEFAULT);
	h5fs__hdf5_clear();
	if (exists <= 0)
		return push(u, U_ABSENT, path) ? 0 : H5FS_ENOMEM;
	if ((error = h5fs__hidden_name(&keep, path, "old")) < 0)
		return error;
	if (H5Lcreate_hard(fid, path, fid, keep, H5P_DEFAULT, H5P_DEFAULT) < 0) {
		h5fs__error_hdf5("cannot keep the old '%s' for an undo", path);
		free(keep);
		return H5FS_ERROR;
	}
	if (!(r = push(u, U_KEEP, path))) {
		H5Ldelete(fid, keep, H5P_DEFAULT);
		h5fs__hdf5_clear();
		free(keep);
		return H5FS_ENOMEM;
	}
	r->keep = keep;
	return 0;
}

int h5fs__undo_take_bytes(h5fs_commit_undo *u, const char *path, struct h5fs__undo_log *log, int resized,
			  uint64_t rows)
{
	struct urec *r;

	if (!u || h5fs__undo_sealed(u, path))
		return 0;
	if (!(r = push(u, U_BYTES, path)))
		return H5FS_ENOMEM;
	r->log = *log;
	r->log.dir = NULL;
	*log = (struct h5fs__undo_log)H5FS__UNDO_LOG_INIT;
	r->resized = resized;
	r->rows = rows;
	return 0;
}

/* Put one record back; 0 or an error (set). */
static int urec_apply(struct urec *r, hid_t fid)
{
	struct h5fs__ds ds = H5FS__DS_INIT;
	int error = 0;

	switch (r->kind) {
	case U_ABSENT:
	case U_KEEP:
		if (H5Lexists(fid, r->path, H5P_DEFAULT) > 0 && H5Ldelete(fid, r->path, H5P_DEFAULT) < 0) {
			h5fs__error_hdf5("cannot remove the new '%s'", r->path);
			return H5FS_ERROR;
		}
		h5fs__hdf5_clear();
		if (r->kind == U_KEEP && H5Lmove(fid, r->keep, fid, r->path, H5P_DEFAULT, H5P_DEFAULT) < 0) {
			h5fs__error_hdf5("cannot move the old '%s' back from '%s'", r->path, r->keep);
			return H5FS_ERROR;
		}
		return 0;
	case U_BYTES:
		if ((error = h5fs__ds_open(&ds, fid, r->path)) < 0)
			return error;
		h5fs__undo_log_apply(&r->log, &ds);
		if (r->resized && ds.ndim && ds.dims[0] != r->rows)
			error = h5fs__set_rows(&ds, r->rows);
		h5fs__ds_close(&ds);
		return error;
	}
	return 0;
}

int h5fs_commit_undo_apply(h5fs_commit_undo *u, hid_t fid)
{
	int first = 0;
	char *msg = NULL;

	H5FS_ASSERT_ARG(u && fid >= 0);
	for (size_t i = u->n; i-- > 0;) {
		int error = urec_apply(&u->r[i], fid);

		if (error < 0 && !first) {
			first = error;
			msg = h5fs__strdup(h5fs_error_last()->message);
		}
	}
	forget_all(u);
	if (H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0 && !first) {
		h5fs__error_hdf5("cannot flush after an undo");
		return H5FS_ERROR;
	}
	h5fs__hdf5_clear();
	if (first && msg)
		h5fs__error_set(H5FS_ERROR_HDF5, "%s", msg);
	free(msg);
	return first;
}

int h5fs_commit_undo_drop(h5fs_commit_undo *u, hid_t fid)
{
	int error = 0;

	H5FS_ASSERT_ARG(u && fid >= 0);
	for (size_t i = 0; i < u->n; i++) {
		if (u->r[i].kind == U_KEEP && H5Ldelete(fid, u->r[i].keep, H5P_DEFAULT) < 0 && !error) {
			h5fs__error_hdf5("cannot delete the kept '%s'", u->r[i].keep);
			error = H5FS_ERROR;
		}
	}
	forget_all(u);
	if (H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0 && !error) {
		h5fs__error_hdf5("cannot flush after dropping an undo");
		error = H5FS_ERROR;
	}
	h5fs__hdf5_clear();
	return error;
}
