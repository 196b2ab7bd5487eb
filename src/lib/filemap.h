/*
 * The file map's table (maptable.c): a chained hash table from absolute
 * path to entry; filemap.c fills and queries it.  An entry knows its
 * kind, whether it was expanded (for groups: its children were read from
 * the file) and, once known, its children's names as a sorted array.
 * The table touches no file, so h5fs_file can own one.
 */
#ifndef H5FS_LIB_FILEMAP_H
#define H5FS_LIB_FILEMAP_H

#include "internal.h"

typedef struct h5fs_filemap h5fs_filemap;

struct h5fs__map_entry {
	struct h5fs__map_entry *next;	/* hash chain */
	char *path;
	h5fs_kind kind;
	bool expanded;
	bool has_children;
	char **children;
	size_t nchildren, cap;
};

struct h5fs_filemap {
	struct h5fs__map_entry **buckets;
	size_t nbuckets;
	size_t count;
};

int h5fs__filemap_new(h5fs_filemap **out);
void h5fs__filemap_free(h5fs_filemap *map);
/* Only "/" left. */
int h5fs__map_reset(h5fs_filemap *map);
struct h5fs__map_entry *h5fs__map_find(const h5fs_filemap *map, const char *path);
/* The entry for @p path, created with @p kind when missing (else given @p kind). */
int h5fs__map_put(struct h5fs__map_entry **out, h5fs_filemap *map, const char *path, h5fs_kind kind);
/* Remove @p path's entry and every descendant's. */
void h5fs__map_drop_tree(h5fs_filemap *map, const char *path);
/* Add / remove a name in an entry's sorted child list. */
int h5fs__map_child_add(struct h5fs__map_entry *e, const char *name);
void h5fs__map_child_remove(struct h5fs__map_entry *e, const char *name);

#endif
