/**
 * @file h5fs/filemap.h
 * @brief The cached map of a file's objects (bamboost's FileMap).
 *
 * Each h5fs_file owns one map: a cache from absolute path to kind, the
 * names of each listed group's children, and the set of groups already
 * expanded.  A new map holds only "/" -> group.  Looking a path up
 * expands its immediate parent (one group read from the file, children's
 * kinds included) when the path is not cached yet.  Nothing watches the
 * file: objects created by other handles stay invisible until
 * h5fs_filemap_invalidate().
 *
 * Every write made through the library updates the map.  Deleting a
 * group drops its descendants too (the reference keeps them: a stale
 * cache we do not copy).
 */
#ifndef INCLUDE_h5fs_filemap_h__
#define INCLUDE_h5fs_filemap_h__

#include "common.h"
#include "file.h"

H5FS_BEGIN_DECL

/** What a path names. */
typedef enum {
	H5FS_KIND_NONE = 0,	/**< nothing / any (as a request) */
	H5FS_KIND_GROUP,
	H5FS_KIND_DATASET,
	H5FS_KIND_DATATYPE,	/**< committed (named) datatype */
	H5FS_KIND_SOFTLINK,	/**< a soft link whose target is missing */
	H5FS_KIND_EXTLINK,	/**< an external link (never followed) */
	H5FS_KIND_OTHER
} h5fs_kind;

/** Filters for listings. */
enum h5fs_filter_flags {
	H5FS_FILTER_GROUPS = (1 << 0),
	H5FS_FILTER_DATASETS = (1 << 1),
	H5FS_FILTER_ALL = 0xff
};

/** The name of a kind: "group", "dataset", "datatype", ... */
H5FS_EXTERN(const char *) h5fs_kind_name(h5fs_kind kind);

/**
 * The kind of the object at @p path (normalised to absolute), expanding
 * its parent from the file when needed.
 *
 * @return 0, H5FS_ENOTFOUND when absent, or the error of opening the
 *	   file (a missing file is H5FS_ENOTFOUND too, with its own message)
 */
H5FS_EXTERN(int) h5fs_filemap_get(h5fs_kind *out, h5fs_file *file, const char *path);

/** 1 when @p path is present (expanding as h5fs_filemap_get), 0 when not. */
H5FS_EXTERN(int) h5fs_filemap_contains(h5fs_file *file, const char *path);

/** The cached kind of @p path, without touching the file (NONE if absent). */
H5FS_EXTERN(h5fs_kind) h5fs_filemap_cached(const h5fs_file *file, const char *path);

/** Number of cached paths. */
H5FS_EXTERN(size_t) h5fs_filemap_size(const h5fs_file *file);

/** Read group @p path's children from the file, once. */
H5FS_EXTERN(int) h5fs_filemap_expand(h5fs_file *file, const char *path);

/**
 * Walk the whole open file and cache every object; with
 * @p exclude_numeric, objects whose name is all digits are skipped (their
 * descendants are still visited).  Groups are not marked expanded.
 *
 * @return 0, or H5FS_EINVALID when the file is not open (nothing cached)
 */
H5FS_EXTERN(int) h5fs_filemap_populate(h5fs_file *file, int exclude_numeric);

/** Forget everything; the map holds only "/" again. */
H5FS_EXTERN(void) h5fs_filemap_invalidate(h5fs_file *file);

/**
 * The names of group @p path's children in byte order ("B" < "a"),
 * filtered by @p filter (h5fs_filter_flags).  A missing group has none.
 *
 * @param[out] out NULL-terminated array; free with h5fs_strarray_free()
 */
H5FS_EXTERN(int) h5fs_filemap_children(char ***out, size_t *count, h5fs_file *file, const char *path, unsigned int filter);

/**
 * All cached absolute paths of the kinds in @p filter, in byte order.
 */
H5FS_EXTERN(int) h5fs_filemap_paths(char ***out, size_t *count, const h5fs_file *file, unsigned int filter);

/**
 * Record that @p path now is a @p kind (the name joins its parent's
 * children when those are known).  Writers of the library call this.
 */
H5FS_EXTERN(int) h5fs_filemap_set(h5fs_file *file, const char *path, h5fs_kind kind);

/** Forget @p path and everything below it. */
H5FS_EXTERN(void) h5fs_filemap_remove(h5fs_file *file, const char *path);

H5FS_END_DECL

#endif
