/**
 * @file h5fs/path.h
 * @brief HDF5 object paths with bamboost's rules.
 *
 * A path is split on '/', empty components are dropped, and the rest is
 * joined with single slashes.  An absolute path has one leading '/'; the
 * root is "/".  "." and ".." are ordinary names and whitespace is kept.
 *
 * Every function that produces a path allocates it; the caller frees it
 * with free().
 */
#ifndef INCLUDE_h5fs_path_h__
#define INCLUDE_h5fs_path_h__

#include "common.h"

H5FS_BEGIN_DECL

/**
 * Normalise @p in.  With @p absolute a leading '/' is put in front
 * ("a//b/" -> "/a/b", "" -> "/"); without, none is ("/a/b" -> "a/b",
 * "/" -> "").
 *
 * @param[out] out the normalised path, owned by the caller
 * @return 0 or H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_path_normalize(char **out, const char *in, int absolute);

/**
 * Join @p piece onto @p base.  A leading '/' on the piece is absorbed
 * ("/p" + "/abs" -> "/p/abs"); an empty piece adds nothing.  The result
 * is absolute when @p base is absolute or empty.
 */
H5FS_EXTERN(int) h5fs_path_join(char **out, const char *base, const char *piece);

/**
 * The parent of @p path, always absolute: "/a/b" -> "/a", "/a" -> "/",
 * "/" -> "/".  A relative path without a slash is its own parent made
 * absolute ("a" -> "/a"), as in the reference.
 */
H5FS_EXTERN(int) h5fs_path_parent(char **out, const char *path);

/**
 * The last component: "/a/b" -> "b", "/" -> "".
 *
 * @return a borrowed pointer into @p path
 */
H5FS_EXTERN(const char *) h5fs_path_basename(const char *path);

/**
 * Whether @p path is a strict descendant of @p ancestor (both normalised
 * to absolute first): "/a/b" of "/a" and "/", but not "/a" of "/a".
 *
 * @return 1, 0, or H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_path_is_child_of(const char *path, const char *ancestor);

/**
 * @p path relative to @p other, compared by component after making
 * @p other absolute: "/path/to/file" relative to "path" -> "to/file",
 * to itself -> "".
 *
 * @return 0, H5FS_EINVALID when @p other is not an ancestor-or-self
 *	   (also for a relative @p path), or H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_path_relative_to(char **out, const char *path, const char *other);

/**
 * The ancestors of @p path, nearest first: "/a/b/c" -> "/a/b", "/a", "/".
 * The root has none.
 *
 * @param[out] out a NULL-terminated array of paths; free it with
 *	       h5fs_strarray_free()
 * @param[out] count number of entries (may be NULL)
 */
H5FS_EXTERN(int) h5fs_path_ancestors(char ***out, size_t *count, const char *path);

/** Free a NULL-terminated array of strings; NULL is a no-op. */
H5FS_EXTERN(void) h5fs_strarray_free(char **arr);

H5FS_END_DECL

#endif
