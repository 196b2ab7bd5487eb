/**
 * @file h5fs/attr.h
 * @brief Attributes of groups and datasets, and their text codec.
 *
 * Values are stored with the types bamboost (through h5py) gives them:
 * strings as scalar variable-length UTF-8, integers as little-endian
 * int64, reals as little-endian float64, booleans as h5py's enum
 * (int8 base, FALSE = 0, TRUE = 1), lists as int64 / float64 / vlen
 * string arrays.
 *
 * The text codec (DESIGN.md section 3) turns any attribute into one line
 * of text and back:
 *  - strings: their raw UTF-8 bytes;
 *  - numeric and boolean scalars: the shortest text that reads back to
 *    the same value ("0.1", "42", "true", "NaN", "Infinity");
 *  - arrays: JSON, nested for more dimensions, strings quoted inside.
 * Setting an existing attribute parses the text into that attribute's own
 * type and shape.  A new attribute's type follows the text: JSON integer
 * -> int64, JSON number -> float64, true/false -> bool, a JSON array of
 * one kind -> array of that kind, "..." -> that string, anything else ->
 * the text itself as a vlen UTF-8 string.
 *
 * Details of the text form:
 *  - reals: the fewest digits that read back to the same bits (strtod;
 *    strtof for float32; round-to-nearest-even for float16), laid out as
 *    Python's repr(): "0.1", "3.0" (integral reals keep ".0" so the text
 *    still reads as a real), "1e+300", "-0.0", "NaN", "Infinity",
 *    "-Infinity";
 *  - h5py's bool enum: "true"/"false" (parse also takes "1"/"0"); other
 *    enums: the member name (a value that is no member: its integer);
 *    compounds: a JSON object {"field": value, ...} in member order;
 *    opaque: "0x" and lowercase hex; a null dataspace: the empty text;
 *  - fixed-length strings lose their padding (NULLTERM: up to the first
 *    NUL; NULLPAD: trailing NULs; SPACEPAD: trailing spaces);
 *  - NUL bytes: in a scalar string's text they are raw bytes (the text
 *    is binary-safe: @p len counts them); inside JSON they are "\u0000".
 *    Variable-length strings cannot hold NULs: text with a NUL byte for
 *    one (or for a new attribute) is H5FS_EINVALID;
 *  - a scalar takes its bare text only (surrounding JSON whitespace is
 *    allowed for numbers and bools); "[5]" does not fit a scalar;
 *  - arrays must match the shape exactly, nested per dimension, with
 *    integers in range and of integral form ("1.5" or "1.0" into an
 *    integer type is H5FS_EINVALID);
 *  - a new attribute: JSON integers above INT64_MAX become uint64; a
 *    JSON number outside both integer ranges float64; "[]" float64 of
 *    shape (0) (as numpy); arrays mixing kinds, ragged arrays and
 *    arrays holding null or objects are stored as their text.
 *
 * Writes are root-only under MPI: rank 0 writes, every rank returns rank
 * 0's result.
 */
#ifndef INCLUDE_h5fs_attr_h__
#define INCLUDE_h5fs_attr_h__

#include "common.h"
#include "ref.h"

H5FS_BEGIN_DECL

/** Flags of h5fs_attr_set_text(), as setxattr's. */
enum h5fs_attr_flags {
	H5FS_ATTR_CREATE = (1 << 0),	/**< fail with H5FS_EEXISTS if present */
	H5FS_ATTR_REPLACE = (1 << 1)	/**< fail with H5FS_ENOTFOUND if absent */
};

/**
 * The names of @p ref's attributes, in the file's name order.
 *
 * @param[out] out NULL-terminated array; free with h5fs_strarray_free()
 */
H5FS_EXTERN(int) h5fs_attr_list(char ***out, size_t *count, h5fs_ref *ref);

/** 1 when attribute @p name exists, 0 when not. */
H5FS_EXTERN(int) h5fs_attr_exists(h5fs_ref *ref, const char *name);

/**
 * The value text of attribute @p name.
 *
 * @param[out] out malloc'd, NUL-terminated for convenience; @p len
 *	       excludes the NUL (strings may hold NULs)
 * @return 0, H5FS_ENOTFOUND, H5FS_ENOTSUPPORTED for types without a text
 *	   form
 */
H5FS_EXTERN(int) h5fs_attr_get_text(char **out, size_t *len, h5fs_ref *ref, const char *name);

/**
 * Set attribute @p name from text (see the codec above).
 *
 * @return 0; H5FS_EINVALID when the text does not fit the existing type
 *	   or shape (nothing changes); H5FS_EEXISTS / H5FS_ENOTFOUND for
 *	   H5FS_ATTR_CREATE / H5FS_ATTR_REPLACE; H5FS_EREADONLY
 */
H5FS_EXTERN(int) h5fs_attr_set_text(h5fs_ref *ref, const char *name, const char *text, size_t len, unsigned int flags);

/** Delete attribute @p name: 0, H5FS_ENOTFOUND, H5FS_EREADONLY. */
H5FS_EXTERN(int) h5fs_attr_delete(h5fs_ref *ref, const char *name);

/* Typed setters: replace any existing attribute of that name. */
H5FS_EXTERN(int) h5fs_attr_set_int64(h5fs_ref *ref, const char *name, int64_t value);
H5FS_EXTERN(int) h5fs_attr_set_double(h5fs_ref *ref, const char *name, double value);
H5FS_EXTERN(int) h5fs_attr_set_bool(h5fs_ref *ref, const char *name, int value);
H5FS_EXTERN(int) h5fs_attr_set_string(h5fs_ref *ref, const char *name, const char *value);
H5FS_EXTERN(int) h5fs_attr_set_int64_array(h5fs_ref *ref, const char *name, size_t n, const int64_t *values);
H5FS_EXTERN(int) h5fs_attr_set_double_array(h5fs_ref *ref, const char *name, size_t n, const double *values);
H5FS_EXTERN(int) h5fs_attr_set_string_array(h5fs_ref *ref, const char *name, size_t n, const char *const *values);
/** bamboost's None: the string {"__type__": "NoneType", "__value__": "None"}. */
H5FS_EXTERN(int) h5fs_attr_set_none(h5fs_ref *ref, const char *name);

/* Typed getters: H5FS_ETYPE when the stored type does not convert. */
H5FS_EXTERN(int) h5fs_attr_get_int64(int64_t *out, h5fs_ref *ref, const char *name);
H5FS_EXTERN(int) h5fs_attr_get_double(double *out, h5fs_ref *ref, const char *name);
H5FS_EXTERN(int) h5fs_attr_get_bool(int *out, h5fs_ref *ref, const char *name);
/** @param[out] out malloc'd string */
H5FS_EXTERN(int) h5fs_attr_get_string(char **out, h5fs_ref *ref, const char *name);

H5FS_END_DECL

#endif
