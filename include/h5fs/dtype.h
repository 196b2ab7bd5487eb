/**
 * @file h5fs/dtype.h
 * @brief numpy type strings.
 *
 * A dtype string names an HDF5 datatype as numpy does, with the byte
 * order always explicit: "<f8", ">i4", "|u1", "|b1" (h5py's bool enum),
 * "|S16" (fixed string), "|O" (variable-length string), "<c16" (h5py's
 * complex compound), "|V8" (opaque).  A compound is a JSON descr list:
 * [["x", "<f4"], ["y", "<i8", [3]]]; padding shows as ["", "|V4"]
 * entries so offsets are exact.
 *
 * On input, numpy's aliases are accepted too: "f8", "=f8", "float64",
 * "int32", "uint8", "bool", "str".
 *
 * The conversions to and from HDF5 type ids are in h5fs/sys/hdf5.h.
 */
#ifndef INCLUDE_h5fs_dtype_h__
#define INCLUDE_h5fs_dtype_h__

#include "common.h"

H5FS_BEGIN_DECL

/**
 * The canonical form of @p dtype ("float64" -> "<f8").
 *
 * @return 0, H5FS_EINVALID for an unknown string
 */
H5FS_EXTERN(int) h5fs_dtype_normalize(char **out, const char *dtype);

/** Bytes of one element of @p dtype (0 for variable-length types). */
H5FS_EXTERN(int) h5fs_dtype_itemsize(size_t *out, const char *dtype);

H5FS_END_DECL

#endif
