/*
 * Internals of the file map: a hash table from absolute path to entry.
 * An entry knows its kind, whether it was expanded (for groups: its
 * children were read from the file) and, once known, its children's
 * names as a sorted array.
 */
#ifndef H5FS_LIB_FILEMAP_H
#define H5FS_LIB_FILEMAP_H

#include "internal.h"

typedef struct h5fs_filemap h5fs_filemap;

int h5fs__filemap_new(h5fs_filemap **out);
void h5fs__filemap_free(h5fs_filemap *map);

#endif
