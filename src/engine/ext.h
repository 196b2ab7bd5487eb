/*
 * External files of a served file (-o follow_external), kept by exttab.c.
 *
 * When external links are followed, objects of other HDF5 files appear
 * in the tree.  Their nodes carry the file's number in the top byte of
 * h5fs_node.addr (object addresses of real files stay far below 2^56),
 * so hard links inside an external file still share one node and no
 * node field had to be added.  File 0 is the served file itself (f->fd); the
 * others are opened read-only by the daemon after the indexer child
 * walked them, and stay open while the file is served.
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

/* every external link of the last index built: (file, link path) -> value */
struct h5fs_ext_link {
	uint32_t file;
	char *lpath, *tfile, *tpath;
};

/*
 * A served file's table of external files (file 0 is the served file
 * itself) and the external links of its last index.  Append-only while
 * the file is served: a re-index forks from the daemon and numbers files
 * the same way.  Zeroed memory is an empty table.
 */
struct h5fs_exttab {
	char **paths;
	int *fds;
	uint32_t n, cap;
	struct h5fs_ext_link *links, *nlinks;	/* the served index's, the one being read */
	size_t nl, nnl, capnl;
};

/* Read-only descriptor of file @p file; -1 for the served file itself or when it could not be opened. */
int h5fs_ext_fd(const struct h5fs_exttab *x, uint32_t file);
/* Absolute real path of file @p file; NULL for the served file itself. */
const char *h5fs_ext_path(const struct h5fs_exttab *x, uint32_t file);
/* Files in the table, the served file included (at least 1). */
uint32_t h5fs_ext_count(const struct h5fs_exttab *x);
/* Close and free everything (an empty table after). */
void h5fs_ext_release(struct h5fs_exttab *x);

/*
 * External link @p name of group @p dir, in the last index built: 1 with
 * its file and object path (borrowed), or 0.  Followed or not, a group
 * shows them as user.h5.link.NAME.file / user.h5.link.NAME.path.
 */
int h5fs_ext_link(const struct h5fs_exttab *x, const struct h5fs_node *dir, const char *name, const char **file,
		  const char **path);

#endif
