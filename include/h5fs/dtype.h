/**
 * @file h5fs/dtype.h
 * @brief numpy type strings.
 *
 * A dtype string names an HDF5 datatype as numpy does, with the byte
 * order always explicit: "<f8", ">i4", "|u1", "|b1" (h5py's bool enum),
 * "|S16" (fixed string, ASCII or UTF-8), "|O" (variable-length string),
 * "<c16" (h5py's complex compound {r, i}), "|V8" (opaque), "<f2" (IEEE
 * half), "<f16" (native long double), "<M8[s]" / "<m8[ms]" (numpy
 * datetime64 / timedelta64, which h5py stores as an opaque type tagged
 * "NUMPY:<M8[s]").  A bitfield reads as the unsigned integer of its
 * size, an enum as its base integer (h5py's bool enum excepted), and any
 * other opaque type tagged "NUMPY:<dtype>" as that dtype, as h5py does.
 *
 * A compound is a JSON descr list, numpy's dtype.descr as json.dumps
 * writes it: [["x", "<f4"], ["y", "<i8", [3]]].  Fields are listed by
 * offset; gaps show as ["", "|V4"] entries so offsets and itemsize are
 * exact.  A field's third item is its subarray shape; a nested compound
 * is a nested list.
 *
 * A bare HDF5 array type (not inside a compound) is numpy's (base, shape)
 * pair as a JSON list: ["<f4", [3]]; an array of arrays folds into one
 * shape.  It is told from a descr by its second item, a list of integers.
 *
 * In Python, after json.loads, np.dtype() loads these once the field
 * entries and shapes are tuples:
 *
 *     def conv(v):
 *         if isinstance(v, str): return v
 *         if (len(v) == 2 and isinstance(v[1], list) and v[1] and
 *                 all(isinstance(n, int) for n in v[1])):
 *             return (conv(v[0]), tuple(v[1]))
 *         return [tuple([f[0], conv(f[1])] + [tuple(x) for x in f[2:]])
 *                 for f in v]
 *
 * (numpy names the padding entries f0, f1, ...; offsets and itemsize are
 * those of the HDF5 type.)
 *
 * On input, numpy's aliases are accepted too: "f8", "=f8", "float64",
 * "int32", "uint8", "bool", "str" (a variable-length UTF-8 string, as
 * "|O"), one-character codes ("d", "<i"), and JSON descr lists whose
 * members use any of these.  A descr entry with an empty name must be
 * padding ("|V<n>").
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

/**
 * A shape text, as user.h5.shape shows it: a JSON list of non-negative
 * integers ("[3, 4]"; "[]" for a scalar), at most 32 of them.
 *
 * @param dims room for 32 sizes
 * @return 0, H5FS_EINVALID when @p text is not such a list
 */
H5FS_EXTERN(int) h5fs_shape_parse(int *ndim, uint64_t *dims, const char *text);

/**
 * Bytes of one element of @p dtype (0 for a variable-length string at
 * top level; inside a compound it takes a pointer).
 *
 * @return 0, H5FS_EINVALID for an unknown string
 */
H5FS_EXTERN(int) h5fs_dtype_itemsize(size_t *out, const char *dtype);

H5FS_END_DECL

#endif
