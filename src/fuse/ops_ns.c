/*
 * The namespace of read-write mounts (DESIGN.md section 4): mkdir, rmdir,
 * unlink, rename, symlink, link.
 *
 * Each runs under the tree lock held exclusively (tree.c), changes the
 * file through HDF5 with the file held read-write (backing.c), flushes
 * it (H5Fflush), and then updates the index; the kernel updates its own
 * dentries for the request it made, so no invalidation is needed.
 *
 *  - mkdir creates a group; rmdir removes an empty one (ENOTEMPTY).
 *  - unlink removes a link (H5Ldelete); EISDIR for a group.
 *  - rename moves a link (H5Lmove).  An existing target is replaced as
 *    POSIX rename does (it is moved aside first and deleted only after
 *    the move succeeded); a directory over a non-empty directory gives
 *    ENOTEMPTY, a directory over a file ENOTDIR, a file over a directory
 *    EISDIR.  RENAME_NOREPLACE is honoured (EEXIST); RENAME_EXCHANGE gives
 *    EINVAL.  Across files the kernel answers EXDEV.
 *  - symlink creates an HDF5 soft link whose value is the absolute path
 *    in the file the target names (relative to the link's directory, or
 *    an absolute path under the mount point); a target outside the file
 *    gives EPERM.
 *  - link creates a hard link (H5Lcreate_hard); the kernel refuses hard
 *    links to directories.
 *  - Names: "." and "..", names that are not UTF-8 and h5fs's own hidden
 *    ".h5fs-tmp." / ".h5fs-old." names are refused (EINVAL, EILSEQ).
 *  - Attributes ride along: they belong to the object, not to the link.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs_ll.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static hid_t make_lcpl(const char *name)
{
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p >= 0x80) {
			H5Pset_char_encoding(lcpl, H5T_CSET_UTF8);
			break;
		}
	}
	return lcpl;
}

static int dir_and_name(struct h5fs_ll *ll, fuse_ino_t parent, const char *name, const char *op,
			struct h5fs_node **dir, int check)
{
	int err;

	if (ll->opts->ro)
		return EROFS;
	if ((err = h5fs_ll_node(ll, parent, dir)))
		return err;
	if ((*dir)->kind != H5FS_NK_GROUP)
		return ENOTDIR;
	if ((*dir)->flags & (H5FS_NF_DEAD | H5FS_NF_LIST_BAD | H5FS_NF_BAD))
		return (*dir)->flags & H5FS_NF_DEAD ? ENOENT : EIO;
	if (check && (err = h5fs_tree_check_name(ll->file, op, name)))
		return err;
	return 0;
}

static int flush(int64_t fid, const char *path)
{
	if (H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0) {
		h5fs_log_hdf5(H5FS_LOG_ERR, "cannot flush after changing", path);
		return EIO;
	}
	return 0;
}

/* Another path of node @p n (a hard link elsewhere), or NULL. */
static char *other_path(struct h5fs_ll *ll, struct h5fs_node *n)
{
	uint32_t id = (uint32_t)(n - ll->file->idx.nodes);

	for (uint32_t i = 0; i < ll->file->idx.nnodes; i++) {
		struct h5fs_node *d = &ll->file->idx.nodes[i];

		if (d->kind != H5FS_NK_GROUP || (d->flags & H5FS_NF_DEAD))
			continue;
		for (uint32_t c = 0; c < d->nchildren; c++) {
			if (d->children[c].node == id) {
				n->parent = i;
				return h5fs_tree_join(d->path, d->children[c].name);
			}
		}
	}
	return NULL;
}

/* The link @p name of @p dir is gone from the file: drop it from the tree. */
static void forget_link(struct h5fs_ll *ll, struct h5fs_node *dir, const char *name)
{
	struct h5fs_node *n = h5fs_tree_del_entry(ll->file, dir, name);

	if (!n)
		return;
	if (n->kind != H5FS_NK_SOFTLINK && n->kind != H5FS_NK_EXTLINK && n->rc > 1) {
		char *p;

		n->rc--;
		p = other_path(ll, n);
		if (p) {
			h5fs_tree_set_path(ll->file, n, p);
			free(p);
			return;
		}
	}
	n->flags |= H5FS_NF_DEAD;
	if (n->rc)
		n->rc--;
}

void h5fs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct h5fs_node *dir, *n;
	struct fuse_entry_param e;
	int64_t fid;
	hid_t lcpl, gid;
	char *path;
	int err;

	(void)mode;
	if ((err = dir_and_name(ll, parent, name, "mkdir", &dir, 1)))
		goto fail;
	if (h5fs_index_find(dir, name)) {
		err = EEXIST;
		goto fail;
	}
	if (!(path = h5fs_tree_join(dir->path, name))) {
		err = ENOMEM;
		goto fail;
	}
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "mkdir", path))) {
		free(path);
		goto fail;
	}
	lcpl = make_lcpl(name);
	gid = H5Gcreate2(fid, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	H5Pclose(lcpl);
	if (gid < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "mkdir: cannot create group", path);
		h5fs_backing_end_write(ll->file, 0);
		free(path);
		err = EIO;
		goto fail;
	}
	H5Gclose(gid);
	err = flush(fid, path);
	n = h5fs_tree_new_node(ll->file, H5FS_NK_GROUP, dir, name);
	if (!n || (err = h5fs_tree_add_entry(ll->file, dir, name, n))) {
		h5fs_backing_end_write(ll->file, 0);
		free(path);
		err = err ? err : ENOMEM;
		goto fail;
	}
	h5fs_tree_describe(ll->file, fid, n);
	h5fs_backing_end_write(ll->file, 0);
	free(path);
	h5fs_ll_entry(ll, n, &e);
	fuse_reply_entry(req, &e);
	return;
fail:
	fuse_reply_err(req, err);
}

static int do_remove(struct h5fs_ll *ll, fuse_ino_t parent, const char *name, int dir_wanted)
{
	struct h5fs_node *dir, *n;
	const struct h5fs_entry *ent;
	int64_t fid;
	char *path;
	int err;

	if ((err = dir_and_name(ll, parent, name, dir_wanted ? "rmdir" : "unlink", &dir, 0)))
		return err;
	if (!(ent = h5fs_index_find(dir, name)))
		return ENOENT;
	n = &ll->file->idx.nodes[ent->node];
	if (dir_wanted && n->kind != H5FS_NK_GROUP)
		return ENOTDIR;
	if (!dir_wanted && n->kind == H5FS_NK_GROUP)
		return EISDIR;
	if (dir_wanted && n->nchildren)
		return ENOTEMPTY;
	if (n->flags & H5FS_NF_PENDING) {
		/* not in the file yet */
		h5fs_tree_del_entry(ll->file, dir, name);
		n->flags |= H5FS_NF_DEAD;
		return 0;
	}
	if (!(path = h5fs_tree_join(dir->path, name)))
		return ENOMEM;
	if ((err = h5fs_backing_begin_write(ll->file, &fid, dir_wanted ? "rmdir" : "unlink", path))) {
		free(path);
		return err;
	}
	if (H5Ldelete(fid, path, H5P_DEFAULT) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, dir_wanted ? "rmdir: cannot delete" : "unlink: cannot delete", path);
		err = EIO;
	} else {
		err = flush(fid, path);
		h5fs_backing_forget_node(ll->file, n);
		forget_link(ll, dir, name);
	}
	h5fs_backing_end_write(ll->file, 0);
	free(path);
	return err;
}

void h5fs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, do_remove(h5fs_ll_data(req), parent, name, 0));
}

void h5fs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, do_remove(h5fs_ll_data(req), parent, name, 1));
}

static int do_rename(struct h5fs_ll *ll, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		     const char *newname, unsigned int flags)
{
	struct h5fs_node *dir, *ndir, *n, *old = NULL;
	const struct h5fs_entry *ent;
	char *src = NULL, *dst = NULL, *aside = NULL;
	int64_t fid;
	hid_t lcpl;
	int err;

	if (flags & ~(unsigned int)RENAME_NOREPLACE) {
		h5fs_log(H5FS_LOG_WARN, "rename '%s': flags %#x are not supported (RENAME_EXCHANGE cannot be done "
			 "atomically in HDF5)", name, flags);
		return EINVAL;
	}
	if ((err = dir_and_name(ll, parent, name, "rename", &dir, 0)) ||
	    (err = dir_and_name(ll, newparent, newname, "rename", &ndir, 1)))
		return err;
	if (!(ent = h5fs_index_find(dir, name)))
		return ENOENT;
	n = &ll->file->idx.nodes[ent->node];
	if ((ent = h5fs_index_find(ndir, newname))) {
		old = &ll->file->idx.nodes[ent->node];
		if (flags & RENAME_NOREPLACE)
			return EEXIST;
		if (old == n && n->kind != H5FS_NK_SOFTLINK && n->kind != H5FS_NK_EXTLINK)
			return 0;	/* two links of one object: POSIX does nothing */
		if (n->kind == H5FS_NK_GROUP && old->kind != H5FS_NK_GROUP)
			return ENOTDIR;
		if (n->kind != H5FS_NK_GROUP && old->kind == H5FS_NK_GROUP)
			return EISDIR;
		if (old->kind == H5FS_NK_GROUP && old->nchildren)
			return ENOTEMPTY;
	}
	/*
	 * A temporary file of plain bytes (sed -i, an editor) moved over a
	 * dataset: its bytes go into the dataset, which keeps its type,
	 * properties and attributes (ops_pour.c); then the temporary goes.
	 * Its writes committed is enough: the kernel sends the release of
	 * sed's descriptor after close(2) returned, often after the rename.
	 */
	if (old && old != n && n->kind == H5FS_NK_DATASET && old->kind == H5FS_NK_DATASET &&
	    (n->flags & H5FS_NF_FRESH) && !(n->flags & H5FS_NF_PENDING) && !n->ndirty && !n->wr &&
	    !(old->flags & (H5FS_NF_PENDING | H5FS_NF_FRESH | H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_BAD |
			    H5FS_NF_DATA_BAD))) {
		if ((err = h5fs_write_pour(ll, n, old)))
			/* mv reads EINVAL as "a directory into itself" */
			return err == EINVAL ? EOPNOTSUPP : err;
		/*
		 * The kernel moves its entry NEWNAME to the temporary's inode when
		 * we say yes; the dataset keeps its own.  Told from the notify
		 * thread, which waits for the directory the rename holds, so it
		 * comes after the move.
		 */
		h5fs_tree_inval_entry(ll, ndir, newname);
		/* ... and until it has, requests on the temporary's inode go to the dataset */
		if ((err = do_remove(ll, parent, name, 0)) == 0)
			n->alias = (uint32_t)(old - ll->file->idx.nodes) + 1;
		return err;
	}
	/* a group into itself: the kernel checks this too */
	for (struct h5fs_node *p = ndir; n->kind == H5FS_NK_GROUP; p = &ll->file->idx.nodes[p->parent]) {
		if (p == n)
			return EINVAL;
		if (p == &ll->file->idx.nodes[0])
			break;
	}
	src = h5fs_tree_join(dir->path, name);
	dst = h5fs_tree_join(ndir->path, newname);
	if (!src || !dst || asprintf(&aside, "%s/.h5fs-old.%s.%ld", ndir->path[1] ? ndir->path : "", newname,
				     (long)getpid()) < 0) {
		aside = NULL;
		err = ENOMEM;
		goto out;
	}
	if (n->flags & H5FS_NF_PENDING) {
		if (old && !(old->flags & H5FS_NF_PENDING)) {
			if ((err = h5fs_backing_begin_write(ll->file, &fid, "rename", dst)))
				goto out;
			if (H5Ldelete(fid, dst, H5P_DEFAULT) < 0) {
				h5fs_log_hdf5(H5FS_LOG_WARN, "rename: cannot replace", dst);
				err = EIO;
			} else {
				err = flush(fid, dst);
			}
			h5fs_backing_end_write(ll->file, 0);
			if (err)
				goto out;
		}
		goto tree;
	}
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "rename", dst)))
		goto out;
	lcpl = make_lcpl(newname);
	if (old && !(old->flags & H5FS_NF_PENDING) && H5Lmove(fid, dst, fid, aside, H5P_DEFAULT, H5P_DEFAULT) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "rename: cannot move aside", dst);
		err = EIO;
	} else if (H5Lmove(fid, src, fid, dst, lcpl, H5P_DEFAULT) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "rename: cannot move", src);
		if (old && !(old->flags & H5FS_NF_PENDING))
			H5Lmove(fid, aside, fid, dst, H5P_DEFAULT, H5P_DEFAULT);
		H5Eclear2(H5E_DEFAULT);
		err = EIO;
	} else if (old && !(old->flags & H5FS_NF_PENDING) && H5Ldelete(fid, aside, H5P_DEFAULT) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "rename: cannot delete the replaced", aside);
		err = EIO;
	}
	H5Pclose(lcpl);
	if (!err)
		err = flush(fid, dst);
	if (old)
		h5fs_backing_forget_node(ll->file, old);
	h5fs_backing_end_write(ll->file, 0);
	if (err)
		goto out;
tree:
	if (old)
		forget_link(ll, ndir, newname);
	h5fs_tree_del_entry(ll->file, dir, name);
	err = h5fs_tree_add_entry(ll->file, ndir, newname, n);
	if (!err && (&ll->file->idx.nodes[n->parent] == dir || n->kind == H5FS_NK_SOFTLINK || n->kind == H5FS_NK_EXTLINK ||
		     n->flags & H5FS_NF_PENDING || !strcmp(n->path, src))) {
		n->parent = (uint32_t)(ndir - ll->file->idx.nodes);
		err = h5fs_tree_set_path(ll->file, n, dst);
	}
	if (!err && (n->kind == H5FS_NK_SOFTLINK))
		err = h5fs_links_text(ll->file, n);
out:
	free(src);
	free(dst);
	free(aside);
	return err;
}

void h5fs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		    const char *newname, unsigned int flags)
{
	fuse_reply_err(req, do_rename(h5fs_ll_data(req), parent, name, newparent, newname, flags));
}

/*
 * The absolute HDF5 path symlink text @p link names from group @p dir,
 * or NULL (outside the file).
 */
static char *link_target(struct h5fs_ll *ll, struct h5fs_node *dir, const char *link)
{
	size_t mlen = strlen(ll->opts->mountpoint);
	char *full, *out, **comp;
	size_t n = 0, len = 0, cap;

	if (link[0] == '/') {
		char *mp = realpath(ll->opts->mountpoint, NULL);
		const char *m = mp ? mp : ll->opts->mountpoint;

		mlen = strlen(m);
		if (strncmp(link, m, mlen) || (link[mlen] && link[mlen] != '/')) {
			free(mp);
			return NULL;
		}
		full = strdup(link + mlen);
		free(mp);
	} else if (asprintf(&full, "%s/%s", dir->path, link) < 0) {
		full = NULL;
	}
	if (!full)
		return NULL;
	cap = strlen(full) + 2;
	comp = calloc(cap, sizeof(char *));
	out = malloc(cap + 1);
	if (!comp || !out) {
		free(comp);
		free(out);
		free(full);
		return NULL;
	}
	for (char *save = NULL, *t = strtok_r(full, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..")) {
			if (!n) {
				free(comp);
				free(out);
				free(full);
				return NULL;
			}
			n--;
			continue;
		}
		comp[n++] = t;
	}
	out[len++] = '/';
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%s%s", i ? "/" : "", comp[i]);
	out[len] = '\0';
	free(comp);
	free(full);
	return out;
}

void h5fs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct h5fs_node *dir, *n;
	struct fuse_entry_param e;
	char *target = NULL, *path = NULL;
	int64_t fid;
	hid_t lcpl;
	int err;

	if ((err = dir_and_name(ll, parent, name, "symlink", &dir, 1)))
		goto fail;
	if (h5fs_index_find(dir, name)) {
		err = EEXIST;
		goto fail;
	}
	if (!(target = link_target(ll, dir, link))) {
		h5fs_log(H5FS_LOG_WARN, "symlink '%s' -> '%s': the target lies outside the HDF5 file", name, link);
		err = EPERM;
		goto fail;
	}
	if (!(path = h5fs_tree_join(dir->path, name))) {
		err = ENOMEM;
		goto fail;
	}
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "symlink", path)))
		goto fail;
	lcpl = make_lcpl(name);
	if (H5Lcreate_soft(target, fid, path, lcpl, H5P_DEFAULT) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "symlink: cannot create soft link", path);
		err = EIO;
	} else {
		err = flush(fid, path);
	}
	H5Pclose(lcpl);
	h5fs_backing_end_write(ll->file, 0);
	if (err)
		goto fail;
	n = h5fs_tree_new_node(ll->file, H5FS_NK_SOFTLINK, dir, name);
	if (!n) {
		err = ENOMEM;
		goto fail;
	}
	n->target = target;
	target = NULL;
	if ((err = h5fs_tree_add_entry(ll->file, dir, name, n)) || (err = h5fs_links_text(ll->file, n)))
		goto fail;
	free(path);
	h5fs_ll_entry(ll, n, &e);
	fuse_reply_entry(req, &e);
	return;
fail:
	free(target);
	free(path);
	fuse_reply_err(req, err);
}

void h5fs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct h5fs_node *dir, *n;
	struct fuse_entry_param e;
	char *path = NULL;
	int64_t fid;
	hid_t lcpl;
	int err;

	if ((err = dir_and_name(ll, newparent, newname, "link", &dir, 1)) || (err = h5fs_ll_node(ll, ino, &n)))
		goto fail;
	if (n->kind == H5FS_NK_GROUP || n->kind == H5FS_NK_SOFTLINK || n->kind == H5FS_NK_EXTLINK) {
		err = EPERM;
		goto fail;
	}
	if (n->flags & (H5FS_NF_PENDING | H5FS_NF_DEAD)) {
		h5fs_log(H5FS_LOG_WARN, "link '%s': the file is not in the HDF5 file yet (close it first)", n->path);
		err = n->flags & H5FS_NF_DEAD ? ENOENT : EBUSY;
		goto fail;
	}
	if (h5fs_index_find(dir, newname)) {
		err = EEXIST;
		goto fail;
	}
	if (!(path = h5fs_tree_join(dir->path, newname))) {
		err = ENOMEM;
		goto fail;
	}
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "link", path)))
		goto fail;
	lcpl = make_lcpl(newname);
	if (H5Lcreate_hard(fid, n->path, fid, path, lcpl, H5P_DEFAULT) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "link: cannot create hard link", path);
		err = EIO;
	} else {
		err = flush(fid, path);
	}
	H5Pclose(lcpl);
	h5fs_backing_end_write(ll->file, 0);
	if (err || (err = h5fs_tree_add_entry(ll->file, dir, newname, n)))
		goto fail;
	n->rc++;
	free(path);
	h5fs_ll_entry(ll, n, &e);
	fuse_reply_entry(req, &e);
	return;
fail:
	free(path);
	fuse_reply_err(req, err);
}
