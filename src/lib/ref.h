/*
 * Internals of h5fs_ref.
 *
 * A reference holds its file (borrowed: the file must outlive it), its
 * normalised absolute path, the kind asked for and its status.
 */
#ifndef H5FS_LIB_REF_H
#define H5FS_LIB_REF_H

#include "internal.h"
#include "file.h"

struct h5fs_ref {
	h5fs_file *file;
	char *path;
	h5fs_kind kind;
	h5fs_ref_status status;
};

/*
 * Open the file (joining an open context; for writing when @p write) and
 * the object at the reference's path.  On success the caller holds one
 * open context and *obj; release both with h5fs__ref_release_obj().
 */
int h5fs__ref_acquire_obj(hid_t *obj, h5fs_ref *ref, bool write);
/* Close *obj (if >= 0) and leave the open context; returns @p error, or the close's error when @p error is 0. */
int h5fs__ref_release_obj(h5fs_ref *ref, hid_t obj, int error);

#endif
