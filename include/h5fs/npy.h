/**
 * @file h5fs/npy.h
 * @brief NPY file headers (format versions 1.0, 2.0 and 3.0).
 *
 * An NPY file is the magic "\x93NUMPY", a version, a little-endian
 * header length (2 bytes in 1.0, 4 in 2.0 and 3.0; 3.0 has a UTF-8
 * dict, the others latin-1), a Python dict literal
 * {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded with
 * spaces and ended by '\n' so the data starts at a multiple of 64.
 * The descr is kept in h5fs's dtype string form (h5fs/dtype.h):
 * numpy's list-of-tuples descr becomes the JSON list form.
 */
#ifndef INCLUDE_h5fs_npy_h__
#define INCLUDE_h5fs_npy_h__

#include "common.h"

H5FS_BEGIN_DECL

#define H5FS_NPY_MAX_RANK 32

typedef struct {
	char *descr;		/**< dtype string, malloc'd */
	int fortran_order;
	int ndim;
	uint64_t shape[H5FS_NPY_MAX_RANK];
	size_t header_len;	/**< bytes before the data */
	int major, minor;	/**< format version */
} h5fs_npy_header;

/**
 * Parse the header at the start of @p buf.
 *
 * @return 0; H5FS_EBUFS when @p len is too short to hold the whole
 *	   header (out->header_len then says how many bytes are needed, or
 *	   0 if even that is unknown yet); H5FS_EINVALID for a malformed
 *	   header (bad magic, version, dict, descr, shape or overflow)
 */
H5FS_EXTERN(int) h5fs_npy_header_parse(h5fs_npy_header *out, const void *buf, size_t len);

/**
 * Build a header for @p descr and @p shape: version 1.0 when it fits,
 * else 2.0 (3.0 when a field name is not latin-1); padded so that its
 * length is a multiple of 64.  The bytes are those numpy 1.24 writes for
 * the same array.  A subarray descr (["<f4", [3]]) has no NPY form: its
 * shape is appended to @p shape, as numpy does.
 *
 * @return 0, H5FS_EINVALID for a bad descr or rank
 *
 * @param[out] out malloc'd header bytes, @p len their count
 */
H5FS_EXTERN(int) h5fs_npy_header_format(char **out, size_t *len, const char *descr, int fortran_order, int ndim, const uint64_t *shape);

/** Free the contents of @p hdr (not @p hdr itself). */
H5FS_EXTERN(void) h5fs_npy_header_release(h5fs_npy_header *hdr);

H5FS_END_DECL

#endif
