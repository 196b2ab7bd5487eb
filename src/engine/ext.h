/*
 * External files of a mount (-o follow_external), kept by exttab.c.
 *
 * When external links are followed, objects of other HDF5 files appear
 * in the tree.  Their nodes carry the file's number in the top byte of
 * h5fs_node.addr (object addresses of real files stay far below 2^56),
 * so hard links inside an external file still share one node and no
 * node field had to be added.  File 0 is SOURCE itself (ll->fd); the
 * others are opened read-only by the daemon after the indexer child
 * walked them, and stay open for the mount's life.  The table is
 * append-only and shared by every index built in this process (a
 * re-index forks from the daemon, so it numbers files the same way).
 */
#ifndef H5FS_ENGINE_EXT_H
#define H5FS_ENGINE_EXT_H

#include <stdint.h>

#include "engine.h"

#define H5FS_EXT_SHIFT 56

static inline uint32_t h5fs_ext_file_of(const struct h5fs_node *n)
{
	return (uint32_t)(n->addr >> H5FS_EXT_SHIFT);
}

static inline uint64_t h5fs_ext_addr_of(const struct h5fs_node *n)
{
	return n->addr & (((uint64_t)1 << H5FS_EXT_SHIFT) - 1);
}

/* Read-only descriptor of file @p file; -1 for SOURCE (use ll->fd) or when it could not be opened. */
int h5fs_ext_fd(uint32_t file);
/* Absolute real path of file @p file; NULL for SOURCE. */
const char *h5fs_ext_path(uint32_t file);
/* Files in the table, SOURCE included (at least 1). */
uint32_t h5fs_ext_count(void);

/*
 * External link @p name of group @p dir, in the last index built: 1 with
 * its file and object path (borrowed), or 0.  Followed or not, a group
 * shows them as user.h5.link.NAME.file / user.h5.link.NAME.path.
 */
int h5fs_ext_link(const struct h5fs_node *dir, const char *name, const char **file, const char **path);

#endif
