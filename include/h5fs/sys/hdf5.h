/**
 * @file h5fs/sys/hdf5.h
 * @brief The HDF5-level interface: type ids and the attribute codec.
 *
 * For consumers that work with HDF5 directly (the daemon, tests).  This
 * header includes <hdf5.h>; the rest of the public API does not.  Like
 * libgit2's sys/ headers it may change between minor versions.
 */
#ifndef INCLUDE_h5fs_sys_hdf5_h__
#define INCLUDE_h5fs_sys_hdf5_h__

#include <hdf5.h>
#include "../common.h"

H5FS_BEGIN_DECL

/**
 * The process-wide HDF5 lock.  libhdf5 (as Debian builds it) is not
 * thread-safe: every thread that calls into it holds this recursive lock
 * for the duration.  libh5fs's reader takes it around its own HDF5 calls;
 * the rest of the library expects its caller to hold it when threads are
 * in play (single-threaded programs may ignore it).
 */
H5FS_EXTERN(void) h5fs_hdf5_lock(void);
H5FS_EXTERN(void) h5fs_hdf5_unlock(void);

/**
 * The type to read @p type into so that its n-bit integers (a precision
 * below their size, or a bit offset), also inside compounds, arrays and
 * enums, come out as h5py reads them: full-width integers of the same
 * size, byte order and sign (sign-extended), every member at its offset,
 * so the byte image keeps its layout.  The stored bytes of such types are
 * not their values: libhdf5 must convert them (H5Dread into *out, and
 * H5Dwrite from it), never serve or take them raw.
 *
 * @param out a new type to close, or H5I_INVALID_HID when @p type holds
 *	  no n-bit integer (use @p type as it is)
 * @return 1 when *out was made, 0 when not needed, H5FS_ERROR
 */
H5FS_EXTERN(int) h5fs_dtype_widened(hid_t *out, hid_t type);

/**
 * The dtype string (h5fs/dtype.h) of HDF5 type @p type.
 *
 * @return 0, H5FS_ENOTSUPPORTED for types numpy cannot name (the string
 *	   is then still set to the nearest description: "|O" for
 *	   references and vlen sequences, "|V<size>" for the rest; a
 *	   compound holding one keeps its descr with that entry),
 *	   H5FS_ERROR when HDF5 cannot describe @p type
 */
H5FS_EXTERN(int) h5fs_dtype_from_hid(char **out, hid_t type);

/**
 * A new HDF5 type for @p dtype; close it with H5Tclose().
 *
 * @return 0, H5FS_EINVALID
 */
H5FS_EXTERN(int) h5fs_dtype_to_hid(hid_t *out, const char *dtype);

/**
 * h5py's bool type: enum on int8 with FALSE = 0, TRUE = 1.
 *
 * @return a NEW type id the caller closes with H5Tclose(), or
 *	   H5I_INVALID_HID (error set)
 */
H5FS_EXTERN(hid_t) h5fs_dtype_bool_hid(void);

/** Whether @p type is h5py's bool enum: 1 or 0 (0 for an invalid id too). */
H5FS_EXTERN(int) h5fs_dtype_is_bool(hid_t type);

/**
 * A new variable-length UTF-8 string type (what h5py writes for str);
 * close it with H5Tclose().  H5I_INVALID_HID (error set) on failure.
 */
H5FS_EXTERN(hid_t) h5fs_dtype_vlen_str_hid(void);

/**
 * The value text of the open attribute @p attr (see h5fs/attr.h).
 *
 * @param[out] out malloc'd, NUL-terminated; @p len excludes the NUL
 */
H5FS_EXTERN(int) h5fs_codec_format_attr(char **out, size_t *len, hid_t attr);

/**
 * Set attribute @p name of the open object @p obj from text: parsed into
 * the existing attribute's type and shape, or a new attribute whose type
 * the text decides.  Nothing changes on failure.
 *
 * @param flags h5fs_attr_flags
 * @return 0, H5FS_EINVALID, H5FS_EEXISTS, H5FS_ENOTFOUND
 */
H5FS_EXTERN(int) h5fs_codec_set_attr(hid_t obj, const char *name, const char *text, size_t len, unsigned int flags);

/**
 * Format @p n elements of @p type at @p buf (memory image of @p type) as
 * text; @p ndim / @p dims give the shape (ndim 0: scalar).
 */
H5FS_EXTERN(int) h5fs_codec_format(char **out, size_t *len, hid_t type, int ndim, const hsize_t *dims, const void *buf);

/**
 * Parse @p text into a buffer of @p n elements of @p type with shape
 * @p ndim / @p dims.  Variable-length strings in the result point into
 * allocations that h5fs_codec_buffer_free() releases.
 *
 * @param[out] out malloc'd buffer in the memory image of @p type
 * @return 0, H5FS_EINVALID when the text does not fit
 */
H5FS_EXTERN(int) h5fs_codec_parse(void **out, hid_t type, int ndim, const hsize_t *dims, const char *text, size_t len);

/** Free a buffer from h5fs_codec_parse() (its vlen strings too). */
H5FS_EXTERN(void) h5fs_codec_buffer_free(void *buf, hid_t type, int ndim, const hsize_t *dims);

/**
 * Infer type and shape for a new attribute from @p text.
 *
 * @param[out] type a new type id (close with H5Tclose())
 * @param[out] ndim, dims the shape (dims has H5FS_MAX_RANK entries)
 * @param[out] buf as from h5fs_codec_parse()
 */
H5FS_EXTERN(int) h5fs_codec_infer(hid_t *type, int *ndim, hsize_t *dims, void **buf, const char *text, size_t len);

/**
 * Select the elements [@p e0, @p e1) in C order of a simple dataspace of
 * rank @p ndim and extent @p dims, as a union of at most 2 * ndim - 1
 * hyperslabs (a partial row, whole rows, whole planes, ... and back
 * down); nothing for an empty range, everything for a scalar (rank 0).
 * Read against a 1-D memory space of e1 - e0 elements, the elements come
 * in C order.
 *
 * @return 0, -1 when HDF5 refused the selection (or the rank is out of range)
 */
H5FS_EXTERN(int) h5fs_select_linear(hid_t space, int ndim, const hsize_t *dims, uint64_t e0, uint64_t e1);

H5FS_END_DECL

#endif
