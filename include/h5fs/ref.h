/**
 * @file h5fs/ref.h
 * @brief References: a file handle plus a normalised path.
 *
 * A reference names a group or dataset that may or may not exist yet.
 * Its status is VALID once the object was seen, NOT_CHECKED on a
 * writable handle before anyone looked, INVALID when a group was asked
 * for on a writable handle and nothing is there.  On a read-only handle
 * a missing object is an error at once.
 *
 * Calls that touch the file open it for their own duration, or join an
 * open context (h5fs_file_open()).
 */
#ifndef INCLUDE_h5fs_ref_h__
#define INCLUDE_h5fs_ref_h__

#include "common.h"
#include "file.h"
#include "filemap.h"

H5FS_BEGIN_DECL

typedef struct h5fs_ref h5fs_ref;

typedef enum {
	H5FS_REF_INVALID = 0,
	H5FS_REF_VALID = 1,
	H5FS_REF_NOT_CHECKED = 2
} h5fs_ref_status;

/** Largest rank of a dataset. */
#define H5FS_MAX_RANK 32

/**
 * A reference to @p path in @p file.  @p kind is what the caller wants:
 * H5FS_KIND_NONE (any object; the kind is not checked),
 * H5FS_KIND_GROUP (a group: an existing dataset there is an error) or
 * H5FS_KIND_DATASET (checked lazily, on first data access).
 *
 * @param[out] out the reference, freed with h5fs_ref_free()
 * @return 0; H5FS_ENOTFOUND on a read-only handle when nothing is at
 *	   @p path ("object '/p' not found in file 'f'"); H5FS_ETYPE for a
 *	   group over a dataset ("object '/p' is not a group")
 */
H5FS_EXTERN(int) h5fs_ref_new(h5fs_ref **out, h5fs_file *file, const char *path, h5fs_kind kind);

/**
 * A reference of the kind found in the file at @p path (bamboost's
 * new() without a type).
 *
 * @return 0, H5FS_ENOTFOUND, or H5FS_ETYPE for objects other than groups
 *	   and datasets
 */
H5FS_EXTERN(int) h5fs_ref_resolve(h5fs_ref **out, h5fs_file *file, const char *path);

/** Free a reference; NULL is a no-op.  The file is not affected. */
H5FS_EXTERN(void) h5fs_ref_free(h5fs_ref *ref);

H5FS_EXTERN(h5fs_ref_status) h5fs_ref_status_of(const h5fs_ref *ref);
/** The kind asked for (or found by h5fs_ref_resolve()). */
H5FS_EXTERN(h5fs_kind) h5fs_ref_kind(const h5fs_ref *ref);
/** The normalised absolute path (borrowed). */
H5FS_EXTERN(const char *) h5fs_ref_path(const h5fs_ref *ref);
/** The file (borrowed). */
H5FS_EXTERN(h5fs_file *) h5fs_ref_file(const h5fs_ref *ref);

/** The group that holds @p ref ("/" for the root). */
H5FS_EXTERN(int) h5fs_ref_parent(h5fs_ref **out, const h5fs_ref *ref);

/**
 * The child @p name of @p ref: from the map when cached, else found in
 * the file (H5FS_ENOTFOUND when missing).
 */
H5FS_EXTERN(int) h5fs_ref_child(h5fs_ref **out, h5fs_ref *ref, const char *name);

/**
 * The text form, e.g. <HDF5 Group "/a" (VALID, file /x/data.h5)>.
 */
H5FS_EXTERN(int) h5fs_ref_describe(char **out, const h5fs_ref *ref);

/**
 * Check the reference against the file: VALID when the object exists
 * (and is of the kind asked for), else INVALID.
 *
 * @return the new status, or an error code
 */
H5FS_EXTERN(int) h5fs_ref_check(h5fs_ref *ref);

/* ---- groups ------------------------------------------------------- */

/** 1 when @p name (nested names work) is a child; attributes do not count. */
H5FS_EXTERN(int) h5fs_group_contains(h5fs_ref *group, const char *name);

/** The children's names in byte order, filtered (h5fs_filter_flags). */
H5FS_EXTERN(int) h5fs_group_keys(char ***out, size_t *count, h5fs_ref *group, unsigned int filter);

/**
 * Delete @p name: an attribute of that name first; else the child link.
 *
 * @return 0, H5FS_ENOTFOUND, H5FS_EREADONLY
 */
H5FS_EXTERN(int) h5fs_group_delete(h5fs_ref *group, const char *name);

/** Create the group and missing parents (a no-op if it exists). */
H5FS_EXTERN(int) h5fs_group_require_self(h5fs_ref *group);

/**
 * Create child group @p name if missing.
 *
 * @param[out] out the child reference (may be NULL)
 * @return 0, H5FS_ETYPE when a dataset has that name
 */
H5FS_EXTERN(int) h5fs_group_require_group(h5fs_ref **out, h5fs_ref *group, const char *name);

/** How to create a dataset. */
typedef struct {
	unsigned int version;
	const char *dtype;		/**< numpy type string: "<f8", "int64", ... */
	int ndim;			/**< 0 for a scalar */
	const uint64_t *dims;
	const uint64_t *maxdims;	/**< NULL: fixed; UINT64_MAX: unlimited */
	const uint64_t *chunks;		/**< NULL: contiguous (unless maxdims) */
	const void *fill;		/**< NULL: 0 (one element of dtype) */
	int gzip;			/**< deflate level, -1: none */
} h5fs_dataset_spec;

#define H5FS_DATASET_SPEC_VERSION 1
#define H5FS_DATASET_SPEC_INIT { H5FS_DATASET_SPEC_VERSION, NULL, 0, NULL, NULL, NULL, NULL, -1 }

/**
 * Create dataset @p name or accept an existing one (h5py 3.8 rules).
 * The file must already be open for writing by the caller.  An existing
 * dataset must have the same shape (or, when maxdims is given, the same
 * maxshape) and a dtype the requested one casts to safely (identical with
 * @p exact).
 *
 * @return 0; H5FS_ETYPE for a group of that name, a shape or dtype that
 *	   does not match; H5FS_EINVALID when the file is not open
 */
H5FS_EXTERN(int) h5fs_group_require_dataset(h5fs_ref *group, const char *name, const h5fs_dataset_spec *spec, int exact);

/**
 * Create dataset @p name from @p data (C order, in the memory layout of
 * @p dtype).  Not collective: under MPI rank 0 writes and every rank
 * gets rank 0's result.
 *
 * @return 0, H5FS_EEXISTS ("name already exists")
 */
H5FS_EXTERN(int) h5fs_group_add_dataset(h5fs_ref *group, const char *name, const char *dtype, int ndim, const uint64_t *dims, const void *data);

/** Create a scalar variable-length UTF-8 string dataset. */
H5FS_EXTERN(int) h5fs_group_add_string(h5fs_ref *group, const char *name, const char *text);

/** Flags for the distributed writes. */
enum h5fs_write_flags {
	H5FS_WRITE_NO_FILEMAP = (1 << 0)	/**< do not record in the map */
};

/**
 * Collective contiguous write: every rank passes its local rows
 * (@p local_dims[0] rows of trailing shape @p local_dims[1..]); the
 * dataset holds the ranks' blocks in rank order.  A rank with 0 rows
 * takes part with an empty selection.  An existing dataset of the same
 * total shape and a castable dtype is overwritten in place; another
 * shape is H5FS_ETYPE and the old data stays.
 *
 * Serial when the file has no communicator.
 */
H5FS_EXTERN(int) h5fs_group_write_contiguous(h5fs_ref *group, const char *name, const char *dtype, int ndim, const uint64_t *local_dims, const void *data, unsigned int flags);

/**
 * Collective scattered write: local row i goes to global row
 * @p indices[i].  The dataset has (global max index + 1) rows; rows no
 * rank writes are 0.  Duplicate indices within a rank are H5FS_ETYPE.
 */
H5FS_EXTERN(int) h5fs_group_write_scattered(h5fs_ref *group, const char *name, const char *dtype, int ndim, const uint64_t *local_dims, const uint64_t *indices, const void *data, unsigned int flags);

/* ---- datasets ----------------------------------------------------- */

/**
 * The shape: @p ndim receives the rank (0 for scalar, -1 for a null
 * dataspace), @p dims (H5FS_MAX_RANK entries) the extent and @p maxdims
 * (may be NULL) the maximum extent (UINT64_MAX for unlimited).
 *
 * @return 0, H5FS_ETYPE when @p ref is a group
 */
H5FS_EXTERN(int) h5fs_dataset_shape(h5fs_ref *dataset, int *ndim, uint64_t *dims, uint64_t *maxdims);

/** The numpy type string of the stored type ("<f8", JSON for compounds). */
H5FS_EXTERN(int) h5fs_dataset_dtype(char **out, h5fs_ref *dataset);

/** Bytes of one element of the stored type. */
H5FS_EXTERN(int) h5fs_dataset_itemsize(size_t *out, h5fs_ref *dataset);

/**
 * Read a hyperslab in the stored type's byte image.  @p start, @p count
 * and @p stride (NULL for 1) have one entry per dimension.
 *
 * @return 0, H5FS_EBUFS when @p bufsize is too small
 */
H5FS_EXTERN(int) h5fs_dataset_read(h5fs_ref *dataset, const uint64_t *start, const uint64_t *count, const uint64_t *stride, void *buf, size_t bufsize);

/**
 * Read the whole dataset in the stored type's byte image.
 *
 * @param[out] out malloc'd bytes, owned by the caller
 */
H5FS_EXTERN(int) h5fs_dataset_read_all(void **out, size_t *size, h5fs_ref *dataset);

H5FS_END_DECL

#endif
