/*
 * Internal interfaces of the commit code (commit.c), shared with the
 * dataset helpers (dsio.c) and the undo logs (undo.c).  Not installed.
 */
#ifndef H5FS_COMMIT_INT_H
#define H5FS_COMMIT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <hdf5.h>

/* An open dataset, seen as its byte image. */
struct h5fs__ds {
	hid_t dset;
	hid_t type;		/* a copy of the file type: the memory type too */
	int ndim;
	hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK];
	size_t esize;
	uint64_t nelem, size;
	bool chunked;
	const char *path;
};

#define H5FS__DS_INIT { H5I_INVALID_HID, H5I_INVALID_HID, 0, { 0 }, { 0 }, 0, 0, 0, false, NULL }

void h5fs__ds_close(struct h5fs__ds *ds);
/* Types whose elements have a fixed byte image: 0 or H5FS_ENOTSUPPORTED. */
int h5fs__check_fixed(hid_t type, const char *path);
/* Read the extent (again: after H5Dset_extent). */
int h5fs__ds_shape(struct h5fs__ds *ds);
/* Open the dataset at @p path: H5FS_ENOTFOUND when nothing is there. */
int h5fs__ds_open(struct h5fs__ds *ds, hid_t fid, const char *path);
/* Read or write elements [e0, e1) of @p ds from or to @p buf. */
int h5fs__ds_io(struct h5fs__ds *ds, bool write, uint64_t e0, uint64_t e1, void *buf);
/* h5fs_stage_base_fn over an open dataset (@p payload): its bytes [off, off + len). */
int h5fs__ds_base(void *buf, size_t len, uint64_t off, void *payload);
/* Set the first dimension to @p rows (H5Dset_extent) and reread the extent. */
int h5fs__set_rows(struct h5fs__ds *ds, uint64_t rows);
/* A hidden name beside @p path: DIR/.h5fs-KIND.NAME.PID.N (malloc'd). */
int h5fs__hidden_name(char **out, const char *path, const char *kind);

/*
 * The log of the bytes a write into an existing dataset overwrote: in
 * memory up to H5FS_COMMIT_UNDO_LIMIT, then in an unlinked file in dir
 * (or $TMPDIR).
 */
struct h5fs__undo_rec {
	uint64_t e0, e1;
	unsigned char *mem;	/* or NULL: in the file at foff */
	uint64_t foff;
};

struct h5fs__undo_log {
	struct h5fs__undo_rec *rec;
	size_t n, alloc;
	size_t mem_bytes;
	int fd;
	uint64_t fsize;
	const char *dir;
};

#define H5FS__UNDO_LOG_INIT { NULL, 0, 0, 0, -1, 0, NULL }

/* Keep the old elements [e0, e1) (@p len bytes at @p buf). */
int h5fs__undo_log_push(struct h5fs__undo_log *u, uint64_t e0, uint64_t e1, const unsigned char *buf, size_t len);
/* Write the old bytes back into @p ds, newest first; best effort. */
void h5fs__undo_log_apply(struct h5fs__undo_log *u, struct h5fs__ds *ds);
void h5fs__undo_log_free(struct h5fs__undo_log *u);

/* Hooks of h5fs_commit() into a h5fs_commit_undo (undo.c); all take u NULL. */
struct h5fs_commit_undo;
/* Whether the dataset at @p path is kept or known absent: later commits record nothing. */
bool h5fs__undo_sealed(const struct h5fs_commit_undo *u, const char *path);
/* The folder for undo copies, or NULL. */
const char *h5fs__undo_dir(const struct h5fs_commit_undo *u);
/* Before a replace or create at @p path: keep the old dataset (hard link) or note its absence. */
int h5fs__undo_before_swap(struct h5fs_commit_undo *u, hid_t fid, const char *path);
/* After an in-place write or resize: take over its byte log (emptied) and the old first dimension. */
int h5fs__undo_take_bytes(struct h5fs_commit_undo *u, const char *path, struct h5fs__undo_log *log, int resized,
			  uint64_t rows);

#endif
