/*
 * The inode table.
 *
 * Three identifiers name an object (compare squashfuse's ll_inode.c):
 *
 *  - the HDF5 object identity: the file (one per mount for now) and the
 *    object header address from H5Oget_info2 (HDF5 1.10 has no tokens).
 *    It is stable while the file is unchanged and equal for every hard
 *    link to the object, but it is 64 bits wide and says nothing about
 *    links, which have no header;
 *  - the path: what the kernel asks by (parent inode + name); one object
 *    may have several, a group may even contain its own ancestor;
 *  - fuse_ino_t: what we hand out.
 *
 * Strategy: the indexer (src/engine/) gives every distinct object header one
 * node, deduplicated by address, so every hard link of an object leads
 * to the same node; soft and external links, which have no header, get
 * one node per link (their identity is parent group + name).  Nodes are
 * numbered in the order the indexer met them, the root first, and the
 * inode number is node number + 1, so FUSE_ROOT_ID is the root.  A
 * counter-assigned number, unlike a pointer, can be checked: an unknown
 * inode gives ESTALE and a log line, never a crash.
 *
 * Lookup counts: every reply that hands out an entry (lookup,
 * readdirplus) adds one to the node's nlookup; forget and forget_multi
 * subtract.  Nodes live as long as the mount (the index is immutable on
 * the read side), so a count reaching zero frees nothing; the counts are
 * kept exact (atomics, no lock) so that the write side can free or
 * re-key nodes safely later, and a count going negative is logged as an
 * internal error.  The root is pinned.
 */
#include <errno.h>
#include <string.h>

#include "h5fs_ll.h"

/* The node of inode @p ino itself (lookup counts are kept here). */
static int node_of(struct h5fs_ll *ll, fuse_ino_t ino, struct h5fs_node **out)
{
	if (ino < 1 || ino > ll->file->idx.nnodes) {
		h5fs_log(H5FS_LOG_ERR, "internal error: unknown inode %lu", (unsigned long)ino);
		return ESTALE;
	}
	*out = &ll->file->idx.nodes[ino - 1];
	return 0;
}

int h5fs_ll_node(struct h5fs_ll *ll, fuse_ino_t ino, struct h5fs_node **out)
{
	int err = node_of(ll, ino, out);

	/* a temporary poured into a dataset stands for it (bounded: pours of pours) */
	for (int hop = 0; !err && (*out)->alias && hop < 16; hop++) {
		if ((*out)->alias > ll->file->idx.nnodes)
			break;
		*out = &ll->file->idx.nodes[(*out)->alias - 1];
	}
	return err;
}

fuse_ino_t h5fs_ll_ino(const struct h5fs_ll *ll, const struct h5fs_node *n)
{
	return (fuse_ino_t)(n - ll->file->idx.nodes) + 1;
}

uint64_t h5fs_ll_node_size(const struct h5fs_ll *ll, const struct h5fs_node *n)
{
	(void)ll;
	switch (n->kind) {
	case H5FS_NK_DATASET:
		/* while files stage writes to it, the size they left (ops_write.c) */
		return (n->nwriters ? n->wsize : n->size) + n->npy_len;
	case H5FS_NK_SOFTLINK:
	case H5FS_NK_EXTLINK:
		return n->linktext ? strlen(n->linktext) : 0;
	case H5FS_NK_GROUP:
		return 0;
	default:
		return 0;
	}
}

void h5fs_ll_stat(const struct h5fs_ll *ll, const struct h5fs_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = h5fs_ll_ino(ll, n);
	st->st_uid = ll->uid;
	st->st_gid = ll->gid;
	st->st_atim = ll->file->st.st_atim;
	st->st_mtim = ll->file->st.st_mtim;
	st->st_ctim = ll->file->st.st_ctim;
	st->st_blksize = 128 * 1024;
	switch (n->kind) {
	case H5FS_NK_GROUP:
		st->st_mode = S_IFDIR | ll->dmode;
		st->st_nlink = 2 + n->nsubdirs;
		break;
	case H5FS_NK_SOFTLINK:
	case H5FS_NK_EXTLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)h5fs_ll_node_size(ll, n);
		break;
	case H5FS_NK_DATASET:
		st->st_mode = S_IFREG | ll->fmode;
		st->st_nlink = n->rc ? n->rc : 1;
		st->st_size = (off_t)h5fs_ll_node_size(ll, n);
		st->st_blocks = (blkcnt_t)((n->storage + n->npy_len + 511) / 512);
		/*
		 * cp and cat size their buffer from st_blksize: writes as
		 * large as the largest WRITE request on read-write mounts
		 */
		if (!ll->opts->ro)
			st->st_blksize = H5FS_MAX_REQUEST;
		break;
	case H5FS_NK_DATATYPE:
		st->st_mode = S_IFREG | (ll->fmode & 0444);
		st->st_nlink = n->rc ? n->rc : 1;
		break;
	default:
		/* unreadable header: a file that answers EIO */
		st->st_mode = S_IFREG | (ll->fmode & 0444);
		st->st_nlink = 1;
		break;
	}
}

void h5fs_ll_entry(struct h5fs_ll *ll, struct h5fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = h5fs_ll_ino(ll, n);
	e->generation = 1;
	e->attr_timeout = ll->timeout;
	e->entry_timeout = ll->timeout;
	h5fs_ll_stat(ll, n, &e->attr);
	atomic_fetch_add(&n->nlookup, 1);
}

void h5fs_ll_forget_one(struct h5fs_ll *ll, fuse_ino_t ino, uint64_t nlookup)
{
	struct h5fs_node *n;
	uint64_t old;

	if (node_of(ll, ino, &n))
		return;
	old = atomic_fetch_sub(&n->nlookup, nlookup);
	if (old < nlookup) {
		h5fs_log(H5FS_LOG_ERR, "internal error: inode %lu forgotten %llu times, looked up %llu",
			 (unsigned long)ino, (unsigned long long)nlookup, (unsigned long long)old);
		atomic_store(&n->nlookup, 0);
	}
	atomic_fetch_add(&ll->nforgets, 1);
}
