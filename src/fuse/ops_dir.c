/*
 * Directory operations: lookup, forget, opendir, readdir(plus), releasedir.
 *
 * All answered from the index (no HDF5 call).  readdir shows "." and ".."
 * at offsets 0 and 1 and child i at offset i + 2, in byte order of the
 * shown names; d_type comes from the index, so find(1) never needs a
 * stat to tell groups from datasets.  readdirplus hands out entries (each
 * adds one lookup); an entry that does not fit in the buffer has its
 * lookup undone, as libfuse's passthrough_ll does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h5fs_ll.h"

static int do_lookup(struct h5fs_ll *ll, fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	struct h5fs_node *dir;
	const struct h5fs_entry *ent;
	int err;

	if ((err = h5fs_ll_node(ll, parent, &dir)))
		return err;
	if (dir->kind != H5FS_NK_GROUP)
		return ENOTDIR;
	if (dir->flags & H5FS_NF_LIST_BAD) {
		h5fs_log(H5FS_LOG_WARN, "lookup '%s' in '%s': %s", name, dir->path, dir->errmsg ? dir->errmsg : "group unreadable");
		return EIO;
	}
	ent = h5fs_index_find(dir, name);
	if (!ent) {
		/* cache the miss for as long as entries are cached */
		memset(e, 0, sizeof(*e));
		e->ino = 0;
		e->entry_timeout = ll->timeout;
		return 0;
	}
	h5fs_ll_entry(ll, &ll->file->idx.nodes[ent->node], e);
	return 0;
}

void h5fs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = do_lookup(h5fs_ll_data(req), parent, name, &e);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

void h5fs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	h5fs_ll_forget_one(h5fs_ll_data(req), ino, nlookup);
	fuse_reply_none(req);
}

void h5fs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);

	for (size_t i = 0; i < count; i++)
		h5fs_ll_forget_one(ll, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static int do_opendir(struct h5fs_ll *ll, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct h5fs_node *n;
	int err;

	if ((err = h5fs_ll_node(ll, ino, &n)))
		return err;
	if (n->kind != H5FS_NK_GROUP)
		return ENOTDIR;
	if (n->flags & H5FS_NF_LIST_BAD) {
		h5fs_log(H5FS_LOG_WARN, "group '%s': %s", n->path, n->errmsg ? n->errmsg : "unreadable");
		return EIO;
	}
	/* the listing cannot change under a read-only mount */
	fi->cache_readdir = ll->opts->ro;
	fi->keep_cache = ll->opts->ro;
	fi->fh = 0;
	return 0;
}

void h5fs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int err = do_opendir(h5fs_ll_data(req), ino, fi);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

static int do_readdir(fuse_req_t req, struct h5fs_ll *ll, fuse_ino_t ino, size_t size, off_t off,
		      int plus, char **bufp, size_t *lenp)
{
	struct h5fs_node *dir;
	char *buf;
	size_t len = 0;
	int err;

	*bufp = NULL;
	*lenp = 0;
	if ((err = h5fs_ll_node(ll, ino, &dir)))
		return err;
	if (dir->kind != H5FS_NK_GROUP)
		return ENOTDIR;
	if (off < 0)
		return EINVAL;
	buf = malloc(size ? size : 1);
	if (!buf)
		return ENOMEM;
	for (uint64_t i = (uint64_t)off; i < (uint64_t)dir->nchildren + 2; i++) {
		struct h5fs_node *n;
		const char *name;
		struct fuse_entry_param e;
		size_t need;
		int counted = 0;

		if (i == 0) {
			name = ".";
			n = dir;
		} else if (i == 1) {
			name = "..";
			n = &ll->file->idx.nodes[dir->parent < ll->file->idx.nnodes ? dir->parent : 0];
		} else {
			name = dir->children[i - 2].name;
			n = &ll->file->idx.nodes[dir->children[i - 2].node];
		}
		if (plus && i >= 2) {
			h5fs_ll_entry(ll, n, &e);
			counted = 1;
		} else {
			memset(&e, 0, sizeof(e));
			h5fs_ll_stat(ll, n, &e.attr);
		}
		if (plus)
			need = fuse_add_direntry_plus(req, buf + len, size - len, name, &e, (off_t)(i + 1));
		else
			need = fuse_add_direntry(req, buf + len, size - len, name, &e.attr, (off_t)(i + 1));
		if (need > size - len) {
			if (counted)
				h5fs_ll_forget_one(ll, e.ino, 1);
			break;
		}
		len += need;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	char *buf;
	size_t len;
	int err = do_readdir(req, h5fs_ll_data(req), ino, size, off, plus, &buf, &len);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

void h5fs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 0);
}

void h5fs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 1);
}

void h5fs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}
