/*
 * Writes to dataset files (DESIGN.md section 4): staging, commit, MPI
 * hand-off.
 *
 * Every file opened for writing gets its own stage (h5fs/sys/stage.h):
 * write() and truncate record bytes there, nothing reaches HDF5.  flush
 * (every close(2)), fsync and release commit the stage with h5fs_commit()
 * under the tree lock held exclusively and the HDF5 file held
 * read-write (backing.c); close(2) and fsync(2) return the commit's
 * errno, and a refused commit leaves the file and the stage as they
 * were.  Every commit ends with H5Fflush, so what fsync acknowledged
 * survives a kill -9 of the daemon.
 *
 * A file created through the mount (create, mknod) is a node flagged
 * H5FS_NF_PENDING until its first commit creates the dataset: from the
 * declared user.h5.dtype / user.h5.shape, else from the NPY header of a
 * NAME.npy (the dataset is then NAME), else 1-D |u1.  Attributes set
 * before that are kept on the node and written after the create.  A
 * dataset created with the default |u1 stays H5FS_NF_FRESH: setting
 * user.h5.dtype / user.h5.shape on it later (rsync -X and tar set xattrs
 * after the data is closed) reinterprets its bytes.  A created file that
 * is released without ever committing (its commit was refused) vanishes.
 *
 * Large new arrays are written once: as soon as a created NAME.npy shows
 * its NPY header (or a created file has user.h5.dtype / user.h5.shape
 * declared) and the data will pass the stage's memory limit,
 * h5fs_commit_early() makes the dataset under a hidden name with its
 * storage allocated, and the stage's sink sends the data bytes straight
 * to that storage (pwrite on the HDF5 file, with the file held as for a
 * write, so the change detection and the idle close stay out).  The
 * commit then only zeroes what was never written and moves the dataset
 * into place.  Whatever does not fit that plan (the header rewritten,
 * the wrong size) is committed the usual way, reading the bytes back
 * through the stage; the hidden dataset is deleted at release when the
 * commit did not take it, so an abandoned copy leaves nothing visible.
 *
 * Commits of at least mpi_threshold bytes go to h5fs-mpiwrite: the stage
 * is materialised into the staging file, the daemon's HDF5 handle is
 * closed, `mpiexec -n NP h5fs-mpiwrite ...` runs, and the handle is
 * reopened.  When mpiexec or the helper cannot be found the commit is
 * made in-process and a warning says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/stage.h"
#include "h5fs_ll.h"

/* Whether @p of holds writes not committed yet (counted on its node: ops_ns.c's rename asks). */
static void set_dirty(struct h5fs_open *of, int dirty)
{
	if (!of->dirty != !dirty) {
		if (dirty)
			of->node->ndirty++;
		else if (of->node->ndirty)
			of->node->ndirty--;
	}
	of->dirty = dirty;
}

static int stage_errno(int rc, const char *what, const char *path)
{
	if (rc == H5FS_EINVALID) {
		h5fs_log(H5FS_LOG_WARN, "%s '%s': %s (%s)", what, path, h5fs_error_last()->message, strerror(EFBIG));
		return EFBIG;
	}
	return h5fs_errno_of(rc, path);
}

/* ---- reading the committed bytes ------------------------------------- */

int h5fs_write_base_read(void *buf, size_t len, uint64_t off, void *payload)
{
	struct h5fs_basectx *c = payload;
	struct h5fs_node *n = c->n;
	size_t done = 0;

	if (n->flags & H5FS_NF_CONTIG) {
		while (done < len) {
			ssize_t r = pread(c->ll->file->fd, (char *)buf + done, len - done, (off_t)(n->offset + off + done));

			if (r <= 0) {
				h5fs_log(H5FS_LOG_WARN, "read '%s': %s", n->path, r < 0 ? strerror(errno) : "short read");
				return H5FS_ERROR;
			}
			done += (size_t)r;
		}
		return 0;
	}
	while (done < len) {
		ssize_t r = h5fs_backing_read(c->ll->file, n, (char *)buf + done, len - done, off + done);

		if (r <= 0)
			return H5FS_ERROR;
		done += (size_t)r;
	}
	return 0;
}

/* ---- open files --------------------------------------------------------- */

int h5fs_write_new_stage(struct h5fs_ll *ll, uint64_t base, h5fs_stage **out)
{
	h5fs_stage_options so = H5FS_STAGE_OPTIONS_INIT;
	int rc;

	so.staging_dir = ll->opts->staging_dir;
	so.hdf5_path = ll->opts->source_abs;
	rc = h5fs_stage_new(out, base, &so);
	return rc < 0 ? h5fs_errno_of(rc, "stage") : 0;
}

int h5fs_write_open(struct h5fs_ll *ll, struct h5fs_node *n, struct fuse_file_info *fi)
{
	struct h5fs_open *of;
	h5fs_stage *st = NULL;
	int err, create;

	if (ll->opts->ro)
		return EROFS;
	if (n->kind != H5FS_NK_DATASET) {
		h5fs_log(H5FS_LOG_WARN, "open '%s' for writing: only datasets hold data", n->path);
		return EACCES;
	}
	if (n->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE)) {
		h5fs_log(H5FS_LOG_WARN, "open '%s' for writing: type %s has no fixed byte image to write", n->path,
			 n->meta[H5FS_M_DTYPE] ? n->meta[H5FS_M_DTYPE] : "?");
		return EOPNOTSUPP;
	}
	if (n->flags & (H5FS_NF_BAD | H5FS_NF_DATA_BAD)) {
		h5fs_log(H5FS_LOG_WARN, "open '%s' for writing: %s", n->path, n->errmsg ? n->errmsg : "unreadable");
		return EIO;
	}
	/*
	 * A file created through the mount is (re)created by its commits:
	 * while it is not in the file yet, or when it was committed empty or
	 * is truncated and may still take a declared dtype/shape (tar makes
	 * files with mknod, sets their xattrs, then writes the data).
	 */
	create = (n->flags & H5FS_NF_PENDING) ||
		 ((n->flags & H5FS_NF_FRESH) && (n->size == 0 || (fi->flags & O_TRUNC)));
	if ((err = h5fs_write_new_stage(ll, create ? 0 : n->size, &st)))
		return err;
	if ((fi->flags & O_TRUNC) && h5fs_stage_truncate(st, 0) < 0) {
		h5fs_stage_free(st);
		return EIO;
	}
	of = calloc(1, sizeof(*of));
	if (!of) {
		h5fs_stage_free(st);
		return ENOMEM;
	}
	of->node = n;
	of->flags = fi->flags;
	of->writer = 1;
	of->st = st;
	of->create = create;
	set_dirty(of, (fi->flags & O_TRUNC) && n->size != 0);
	n->nwriters++;
	n->wsize = h5fs_stage_size(st);
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->keep_cache = 0;
	/*
	 * A write-only descriptor can neither read nor mmap: its writes skip
	 * the kernel's page cache and come straight from the caller's pages
	 * (one copy fewer for cp, cat > and numpy.save)
	 */
	if ((fi->flags & O_ACCMODE) == O_WRONLY)
		fi->direct_io = 1;
	return 0;
}

int h5fs_write_read(struct h5fs_ll *ll, struct fuse_file_info *fi, size_t size, uint64_t off, char **mem,
		    size_t *mlen)
{
	struct h5fs_open *of = (struct h5fs_open *)(uintptr_t)fi->fh;
	struct h5fs_basectx c = { ll, of->node };
	char *buf = malloc(size ? size : 1);
	size_t got = 0;
	int rc;

	if (!buf)
		return ENOMEM;
	rc = h5fs_stage_read(of->st, buf, size, off, &got, h5fs_write_base_read, &c);
	if (rc < 0) {
		free(buf);
		return h5fs_errno_of(rc, of->node->path);
	}
	*mem = buf;
	*mlen = got;
	return 0;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n > t && !strcmp(s + n - t, tail);
}

/* Delete the hidden dataset of an early start; with the file held. */
static void drop_prep_held(struct h5fs_ll *ll, int64_t fid, char *prep)
{
	(void)ll;
	if (H5Ldelete(fid, prep, H5P_DEFAULT) < 0 || H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0)
		h5fs_log_hdf5(H5FS_LOG_WARN, "cannot delete the unused hidden dataset", prep);
	H5Eclear2(H5E_DEFAULT);
}

static void drop_prep(struct h5fs_ll *ll, struct h5fs_open *of)
{
	int64_t fid;
	int err;

	if (!of->prep)
		return;
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "delete the hidden dataset", of->prep))) {
		h5fs_log(H5FS_LOG_WARN, "cannot delete the unused hidden dataset '%s': %s", of->prep, strerror(err));
	} else {
		drop_prep_held(ll, fid, of->prep);
		h5fs_backing_end_write(ll->file, 1);
	}
	free(of->prep);
	of->prep = NULL;
}

/*
 * A created file: once its dtype and shape are known (an NPY header, or
 * user.h5.dtype / user.h5.shape declared) and its data is large, make
 * the dataset now and send the data straight into it (see the top).
 * Best effort: anything that does not work leaves the usual staging.
 */
static void early_start(struct h5fs_ll *ll, struct h5fs_open *of)
{
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_info ci;
	struct h5fs_node *n = of->node;
	struct h5fs_wdecl *d = n->wr;
	char *tmp = NULL;
	uint64_t foff = 0;
	int64_t fid;
	int rc;

	if ((n->flags & H5FS_NF_DEAD) || !(d && d->shape ? 1 : !(d && d->dtype) && ends_with(n->path, ".npy"))) {
		of->early_done = 1;
		return;
	}
	if (h5fs_backing_begin_write(ll->file, &fid, "write", n->path)) {
		of->early_done = 1;	/* the commit will say why */
		return;
	}
	co.create = 1;
	co.dtype = d ? d->dtype : NULL;
	co.shape = d ? d->shape : NULL;
	rc = h5fs_commit_early(&ci, &tmp, &foff, fid, n->path, of->st, &co, H5FS_STAGE_MEM_LIMIT);
	if (rc == H5FS_EBUFS) {	/* the header is not complete yet */
		H5Eclear2(H5E_DEFAULT);
		h5fs_backing_end_write(ll->file, 0);
		return;
	}
	of->early_done = 1;
	if (rc < 0) {
		/* the commit decides (and reports a bad header) */
		h5fs_log(H5FS_LOG_DEBUG, "'%s' is staged as usual: %s", n->path, h5fs_error_last()->message);
		H5Eclear2(H5E_DEFAULT);
		h5fs_backing_end_write(ll->file, 0);
		return;
	}
	rc = h5fs_stage_sink_set(of->st, ll->opts->source_abs, foff, ci.data_offset, ci.data_offset + ci.new_size);
	if (rc < 0) {
		h5fs_log(H5FS_LOG_WARN, "'%s' is staged as usual: %s", n->path, h5fs_error_last()->message);
		drop_prep_held(ll, fid, tmp);
		free(tmp);
	} else {
		h5fs_log(H5FS_LOG_DEBUG, "'%s': %llu bytes go straight into '%s'", n->path,
			 (unsigned long long)ci.new_size, tmp);
		of->prep = tmp;
		of->sinked = 1;
	}
	h5fs_commit_info_release(&ci);
	h5fs_backing_end_write(ll->file, 0);
}

void h5fs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct h5fs_open *of = (struct h5fs_open *)(uintptr_t)fi->fh;
	struct h5fs_ll *ll = h5fs_ll_data(req);
	int64_t fid;
	int rc, err;

	(void)ino;
	if (!of || !of->writer) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (of->failed) {
		fuse_reply_err(req, EIO);	/* a commit of this open file was refused */
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* writes into the sink change the HDF5 file: hold it as for a commit */
	if (of->prep && (err = h5fs_backing_begin_write(ll->file, &fid, "write", of->node->path))) {
		fuse_reply_err(req, err);
		return;
	}
	rc = h5fs_stage_write(of->st, buf, size, (uint64_t)off);
	if (of->prep)
		h5fs_backing_end_write_keep(ll->file);	/* more writes follow: kept until idle */
	if (rc < 0) {
		fuse_reply_err(req, stage_errno(rc, "write", of->node->path));
		return;
	}
	set_dirty(of, 1);
	of->wrote = 1;
	of->node->wsize = h5fs_stage_size(of->st);
	if (of->create && !of->prep && !of->early_done)
		early_start(ll, of);
	fuse_reply_write(req, size);
}

/* ---- attributes of datasets not in the file yet ---------------------- */

int h5fs_write_pending_attr(struct h5fs_ll *ll, struct h5fs_node *n, const char *aname, const char *value,
			    size_t len, unsigned int aflags)
{
	uint32_t i = h5fs_tree_attr_find(n, aname);
	char *v;

	(void)ll;
	if (!value) {
		if (i == n->nattrs)
			return ENODATA;
		h5fs_tree_attr_drop(n, i);
		return 0;
	}
	if ((aflags & H5FS_ATTR_CREATE) && i < n->nattrs)
		return EEXIST;
	if ((aflags & H5FS_ATTR_REPLACE) && i == n->nattrs)
		return ENODATA;
	if (!(v = malloc(len + 1)))
		return ENOMEM;
	memcpy(v, value, len);
	v[len] = '\0';
	if (i == n->nattrs && h5fs_tree_attr_add(n, aname)) {
		free(v);
		return ENOMEM;
	}
	free(n->attrs[i].value);
	n->attrs[i].value = v;
	n->attrs[i].len = len;
	n->attrs[i].err = 0;
	return 0;
}

/* ---- commit ------------------------------------------------------------ */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* After a create: the dataset may be named without ".npy". */
static int retarget(struct h5fs_ll *ll, struct h5fs_node *n, const char *newpath)
{
	struct h5fs_node *dir = &ll->file->idx.nodes[n->parent];
	char *oldname = strdup(base_name(n->path));
	const char *newname = base_name(newpath);
	struct h5fs_node *other;
	int err;

	if (!oldname)
		return ENOMEM;
	h5fs_tree_del_entry(ll->file, dir, oldname);
	other = h5fs_tree_del_entry(ll->file, dir, newname);
	if (other && other != n) {
		other->flags |= H5FS_NF_DEAD;
		h5fs_tree_inval_entry(ll, dir, newname);
	}
	err = h5fs_tree_add_entry(ll->file, dir, newname, n);
	if (!err)
		err = h5fs_tree_set_path(ll->file, n, newpath);
	h5fs_tree_inval_entry(ll, dir, oldname);
	free(oldname);
	return err;
}

/* Write the attributes a pending node collected onto its new dataset. */
static void apply_pending_attrs(struct h5fs_node *n, hid_t fid, const char *path)
{
	hid_t oid;

	if (!n->nattrs)
		return;
	oid = H5Oopen(fid, path, H5P_DEFAULT);
	if (oid < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "cannot open the new dataset", path);
		return;
	}
	for (uint32_t i = 0; i < n->nattrs; i++) {
		if (!n->attrs[i].value)
			continue;
		if (h5fs_codec_set_attr(oid, n->attrs[i].name, n->attrs[i].value, n->attrs[i].len, 0) < 0) {
			h5fs_log(H5FS_LOG_WARN, "'%s': attribute '%s' could not be written: %s", path, n->attrs[i].name,
				 h5fs_error_last()->message);
			H5Eclear2(H5E_DEFAULT);
		}
	}
	H5Oclose(oid);
}

/* The errno of a refused commit. */
static int commit_errno(int rc)
{
	return rc == H5FS_EINVALID ? EINVAL : rc == H5FS_ENOTSUPPORTED ? EOPNOTSUPP : rc == H5FS_ELOCKED ? EAGAIN :
	       rc == H5FS_ENOTFOUND ? ENOENT : rc == H5FS_ENOMEM ? ENOMEM : EIO;
}

/*
 * With the file held read-write: take back what @p u recorded of node
 * @p n's commits, and make the tree follow (a create whose dataset is
 * gone again is pending again).  0, or an h5fs error: every step was
 * tried, and the log line names what could not be put back (@p u is
 * empty either way).
 */
static int take_back(struct h5fs_ll *ll, struct h5fs_node *n, int64_t fid, h5fs_commit_undo *u, int create,
		     int *created)
{
	int rc = h5fs_commit_undo_apply(u, fid);

	if (rc < 0)
		h5fs_log(H5FS_LOG_WARN, "'%s': cannot take its earlier commits back: %s", n->path,
			 h5fs_error_last()->message);
	/* what the commits made is gone: the tree follows the file again */
	h5fs_backing_forget_node(ll->file, n);
	if (create && !(n->flags & H5FS_NF_FRESH) && H5Lexists(fid, n->path, H5P_DEFAULT) <= 0) {
		n->flags |= H5FS_NF_PENDING;
		*created = 0;
	} else {
		h5fs_tree_describe(ll->file, fid, n);
	}
	H5Eclear2(H5E_DEFAULT);
	h5fs_tree_inval_inode(ll, n);
	h5fs_follow_mark_stale(ll->file);
	return rc;
}

/* Commit @p st to node @p n (h5fs_ll.h says how). */
int h5fs_write_commit(struct h5fs_ll *ll, struct h5fs_node *n, const char *cpath, h5fs_stage *st, int create,
		      int *created, const char *prep, unsigned *done, h5fs_commit_undo *undo, int record, int earlier)
{
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_info ci;
	struct h5fs_wdecl *d = n->wr;
	struct h5fs_basectx c = { ll, n };
	int64_t fid;
	int rc, err;

	memset(&ci, 0, sizeof(ci));
	if (!cpath)
		cpath = n->path;
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "commit", n->path)))
		return err;
	co.create = create;
	if (create && d) {
		co.dtype = d->dtype;
		co.shape = d->shape;
	}
	if (create)
		co.prepared = prep;
	co.undo = record ? undo : NULL;
	rc = 1;
	/* with an early start the data is in place already: nothing for MPI */
	if (!co.prepared && h5fs_stage_size(st) >= ll->opts->mpi_threshold_bytes) {
		rc = h5fs_handoff_commit(ll, n, cpath, st, &co, fid, &ci, h5fs_write_base_read, &c);
		if (rc > 0) {
			h5fs_commit_info_release(&ci);
			memset(&ci, 0, sizeof(ci));
		}
		/* reopen: the helper changed the file (or it was closed for nothing) */
		h5fs_backing_end_write(ll->file, 1);
		if ((err = h5fs_backing_begin_write(ll->file, &fid, "commit", n->path))) {
			h5fs_commit_info_release(&ci);
			if (rc == 0) {
				/* the helper's commit is in the file: the follower's next index describes it */
				h5fs_log(H5FS_LOG_WARN, "commit of '%s': made by h5fs-mpiwrite, but the file cannot be "
					 "opened again now (%s): the tree shows it when it can", n->path, strerror(err));
				if (create) {
					*created = 1;
					n->flags &= ~H5FS_NF_PENDING;
				}
				h5fs_follow_mark_stale(ll->file);
				return 0;
			}
			return err;
		}
	}
	if (rc > 0)
		rc = h5fs_commit(&ci, fid, cpath, st, &co);
	if (rc < 0) {
		err = commit_errno(rc);
		h5fs_log(H5FS_LOG_WARN, "commit of '%s' refused: %s (%s); %s", n->path, h5fs_error_last()->message,
			 strerror(err), earlier == 1 ? "the earlier commits of this open file are taken back" :
			 earlier == 2 ? "the earlier commits of this open file stay (each was its process's last close)" :
			 "nothing changed");
		H5Eclear2(H5E_DEFAULT);
		h5fs_commit_info_release(&ci);
		/* in the same hold: nobody can take the file before the way back */
		if (h5fs_commit_undo_pending(undo))
			take_back(ll, n, fid, undo, create, created);
		h5fs_backing_end_write(ll->file, 1);
		return err;
	}
	if (ci.prepared_used && done)
		*done |= DONE_PREP_USED;
	if (ci.kind != H5FS_COMMIT_NONE) {
		if (create) {
			apply_pending_attrs(n, fid, ci.path);
			if (H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0)
				h5fs_log_hdf5(H5FS_LOG_WARN, "cannot flush", ci.path);
			*created = 1;
		}
		if (ci.path && strcmp(ci.path, n->path)) {
			retarget(ll, n, ci.path);
			if (done && create && ci.data_offset)
				*done |= DONE_NPY_NAMED;
		}
		h5fs_backing_forget_node(ll->file, n);
		h5fs_tree_describe(ll->file, fid, n);
		if (create && !(d && (d->dtype || d->shape)) && !(ci.data_offset))
			n->flags |= H5FS_NF_FRESH;
		else if (create)
			n->flags &= ~H5FS_NF_FRESH;
		h5fs_tree_inval_inode(ll, n);
		h5fs_log(H5FS_LOG_DEBUG, "commit of '%s': %s, %llu bytes", n->path,
			 ci.kind == H5FS_COMMIT_INPLACE ? "in place" : ci.kind == H5FS_COMMIT_RESIZE ? "resized" :
			 ci.kind == H5FS_COMMIT_REPLACE ? "replaced" : ci.prepared_used ? "created (written early)" :
			 "created", (unsigned long long)ci.write_bytes);
	}
	h5fs_commit_info_release(&ci);
	h5fs_backing_end_write(ll->file, 1);
	return 0;
}

/* why a commit of an open file is made */
enum commit_why {
	BY_FLUSH,	/* a close(2) after which no descriptor of the process names the file */
	BY_FLUSH_MORE,	/* a close(2) after which another one does: more writes may follow */
	BY_FSYNC,	/* a point to come back to */
	BY_RELEASE	/* the last close of the open file: nothing follows */
};

/*
 * Settle the undo of @p of: keep its commits (@p keep) or take them back,
 * so the dataset is as it was at the open (or at the last fsync).
 */
static int settle(struct h5fs_ll *ll, struct h5fs_open *of, int keep)
{
	h5fs_commit_undo *u = of->undo;
	struct h5fs_node *n = of->node;
	int64_t fid;
	int err, rc;

	if (!h5fs_commit_undo_pending(u))
		return 0;
	if ((err = h5fs_backing_begin_write(ll->file, &fid, keep ? "settle the commits of" : "take back the commits of",
					    n->path)))
		return err;	/* tried again at release; the log says why */
	if (keep && (rc = h5fs_commit_undo_drop(u, fid)) < 0)
		h5fs_log(H5FS_LOG_WARN, "'%s': %s", n->path, h5fs_error_last()->message);
	else if (!keep)
		rc = take_back(ll, n, fid, u, of->create, &of->created);
	h5fs_backing_end_write(ll->file, 1);
	return rc < 0 ? EIO : 0;
}

/*
 * Commit what the open file @p of staged.  Its commits are all or
 * nothing together: a commit that more writes may follow
 * (BY_FLUSH_MORE) keeps a way back (an undo), so that when a later one
 * is refused the dataset is put back as it was when the file was opened
 * (or last fsync'd); the last one keeps them (settle).  A flush that
 * more writes may follow and that would commit a bare truncation (the
 * shell's `>` before its command wrote anything) commits nothing.
 */
static int commit_open(struct h5fs_ll *ll, struct h5fs_open *of, enum commit_why why)
{
	struct h5fs_node *n = of->node;
	int more = why == BY_FLUSH_MORE;
	char *cpath = NULL;
	unsigned done = 0;
	int err;

	if (of->failed) {
		/* an earlier commit was refused and taken back: this open is done */
		if (why != BY_RELEASE) {
			h5fs_log(H5FS_LOG_DEBUG, "'%s': an earlier commit of this open file was refused", n->path);
			return of->failed;
		}
		return settle(ll, of, 0);	/* what could not be taken back then */
	}
	if (n->flags & H5FS_NF_DEAD)
		return settle(ll, of, 1);	/* unlinked while open: nothing to keep */
	if (!of->dirty && !(of->create && !of->created))
		return more ? 0 : settle(ll, of, 1);
	if (more && !of->wrote) {
		h5fs_log(H5FS_LOG_DEBUG, "'%s': a truncation that more writes may follow waits for them", n->path);
		return 0;
	}
	/* NAME.npy became NAME: the stage still holds an NPY file */
	if (of->npy_named && asprintf(&cpath, "%s.npy", n->path) < 0) {
		h5fs_log(H5FS_LOG_ERR, "commit of '%s': %s", n->path, strerror(ENOMEM));
		return ENOMEM;
	}
	if (more && !of->undo && h5fs_commit_undo_new((h5fs_commit_undo **)&of->undo, ll->opts->staging_dir) < 0) {
		free(cpath);
		return ENOMEM;
	}
	err = h5fs_write_commit(ll, n, cpath, of->st, of->create, &of->created, of->prep, &done, of->undo, more,
				h5fs_commit_undo_pending(of->undo) ? 1 : of->committed ? 2 : 0);
	free(cpath);
	if (done & DONE_NPY_NAMED)
		of->npy_named = 1;
	if (done & DONE_PREP_USED) {
		/* it is the dataset now */
		free(of->prep);
		of->prep = NULL;
	}
	if (err) {
		/* refused (and taken back in the same hold): no more commits of this open file */
		of->failed = err;
		return err;
	}
	set_dirty(of, 0);
	of->wrote = 0;
	of->committed = 1;
	n->wsize = n->size;
	return more ? 0 : settle(ll, of, 1);
}

/* flush (close) or fsync (@p fsync) of a file open for writing by process @p pid: commit; an errno */
static int write_flush(struct h5fs_ll *ll, struct fuse_file_info *fi, pid_t pid, int fsync)
{
	struct h5fs_open *of = (struct h5fs_open *)(uintptr_t)fi->fh;

	if (!of || !of->writer)
		return 0;
	if (fsync)
		return commit_open(ll, of, BY_FSYNC);
	return commit_open(ll, of, h5fs_ll_open_elsewhere(ll, pid, of->node) ? BY_FLUSH_MORE : BY_FLUSH);
}

/*
 * flush (close) and fsync of a writer commit, under the tree lock taken
 * here (read-write mounts: the file's changes shown first); the reply
 * waits until the kernel forgot the names the commit changed (x.npy
 * became x), which the notifier tells it once the tree lock is free.
 */
static void commit_and_reply(fuse_req_t req, struct fuse_file_info *fi, int fsync)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	int err = 0;

	if (h5fs_write_is_writer(fi) && !(err = h5fs_follow_fresh(ll->file))) {
		uint64_t before, after;

		pthread_rwlock_wrlock(&ll->file->tree);
		before = h5fs_inval_queued(ll);
		err = write_flush(ll, fi, fuse_req_ctx(req)->pid, fsync);
		after = h5fs_inval_queued(ll);
		pthread_rwlock_unlock(&ll->file->tree);
		/* the notes this commit queued, not anybody's later ones; -s has no worker to spare */
		if (after != before && !ll->opts->singlethread)
			h5fs_inval_drain(ll, after, 1.0);
	}
	fuse_reply_err(req, err);
}

void h5fs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	commit_and_reply(req, fi, 0);
}

void h5fs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	commit_and_reply(req, fi, 1);
}

int h5fs_write_release(struct h5fs_ll *ll, struct fuse_file_info *fi)
{
	struct h5fs_open *of = (struct h5fs_open *)(uintptr_t)fi->fh;
	struct h5fs_node *n = of->node;
	int err = commit_open(ll, of, BY_RELEASE);

	set_dirty(of, 0);
	if (n->nwriters)
		n->nwriters--;
	if (err)
		h5fs_tree_inval_inode(ll, n);	/* the kernel saw the staged size */
	{
		/* the sink's descriptor closes: a change of ours to the file (inotify) */
		int own = of->sinked && h5fs_follow_own_begin(ll->file);

		h5fs_stage_free(of->st);
		h5fs_follow_own_end(ll->file, own);
	}
	/* an early start the commit did not take (refused, abandoned, unlinked) */
	drop_prep(ll, of);
	if (h5fs_commit_undo_pending(of->undo))
		/* the file could not be opened for writing to settle them (the line before says why) */
		h5fs_log(H5FS_LOG_WARN, of->failed ?
			 "'%s': a commit was refused, but the earlier commits of this open file could not be taken "
			 "back: the dataset holds them, and what they replaced stays in the file under hidden "
			 "'.h5fs-old.*' names" :
			 "'%s': its commits stand; what they replaced stays in the file under hidden '.h5fs-old.*' "
			 "names (h5py can delete them, h5repack drops them)", n->path);
	h5fs_commit_undo_free(of->undo);	/* settled by the commit above, or left as the line says */
	/* a created file whose data never made it into the file vanishes */
	if ((n->flags & H5FS_NF_PENDING) && !n->nwriters && !(n->flags & H5FS_NF_DEAD)) {
		struct h5fs_node *dir = &ll->file->idx.nodes[n->parent];
		char *name = strdup(base_name(n->path));

		if (name && h5fs_tree_del_entry(ll->file, dir, name) == n) {
			n->flags |= H5FS_NF_DEAD;
			h5fs_tree_inval_entry(ll, dir, name);
			h5fs_log(H5FS_LOG_WARN, "'%s' was never committed and is dropped", n->path);
		}
		free(name);
	}
	free(of);
	return err;
}

int h5fs_write_truncate(struct h5fs_ll *ll, struct h5fs_node *n, uint64_t size, struct fuse_file_info *fi)
{
	struct h5fs_open *of = fi ? (struct h5fs_open *)(uintptr_t)fi->fh : NULL;
	h5fs_stage *st = NULL;
	int rc, err, created = 0;

	if (n->kind != H5FS_NK_DATASET) {
		h5fs_log(H5FS_LOG_WARN, "truncate '%s': not a dataset", n->path);
		return n->kind == H5FS_NK_GROUP ? EISDIR : EINVAL;
	}
	if (of && of->writer && of->failed)
		return EIO;	/* a commit of this open file was refused */
	if (of && of->writer) {
		rc = h5fs_stage_truncate(of->st, size);
		if (rc < 0)
			return stage_errno(rc, "truncate", n->path);
		set_dirty(of, 1);
		n->wsize = h5fs_stage_size(of->st);
		return 0;
	}
	if (n->flags & H5FS_NF_PENDING)
		return size == 0 ? 0 : EBUSY;
	if (size == n->size)
		return 0;
	if (n->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_BAD | H5FS_NF_DATA_BAD))
		return EOPNOTSUPP;
	if ((err = h5fs_write_new_stage(ll, n->size, &st)))
		return err;
	rc = h5fs_stage_truncate(st, size);
	if (rc < 0) {
		h5fs_stage_free(st);
		return stage_errno(rc, "truncate", n->path);
	}
	err = h5fs_write_commit(ll, n, NULL, st, 0, &created, NULL, NULL, NULL, 0, 0);
	h5fs_stage_free(st);
	return err;
}

/* ---- create, mknod --------------------------------------------------- */

static int new_file(struct h5fs_ll *ll, fuse_ino_t parent, const char *name, mode_t mode, struct h5fs_node **out)
{
	struct h5fs_node *dir, *n;
	int err;

	if (ll->opts->ro)
		return EROFS;
	if ((err = h5fs_ll_node(ll, parent, &dir)))
		return err;
	if (dir->kind != H5FS_NK_GROUP)
		return ENOTDIR;
	if (!S_ISREG(mode)) {
		h5fs_log(H5FS_LOG_WARN, "mknod '%s' in '%s': only regular files (datasets) can be made", name, dir->path);
		return EPERM;
	}
	if ((err = h5fs_tree_check_name(ll->file, "create", name)))
		return err;
	if (h5fs_index_find(dir, name))
		return EEXIST;
	n = h5fs_tree_new_node(ll->file, H5FS_NK_DATASET, dir, name);
	if (!n)
		return ENOMEM;
	n->flags = H5FS_NF_PENDING;
	if ((err = h5fs_tree_add_entry(ll->file, dir, name, n))) {
		n->flags |= H5FS_NF_DEAD;
		return err;
	}
	*out = n;
	return 0;
}

void h5fs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct fuse_entry_param e;
	struct h5fs_node *n;
	int err = new_file(ll, parent, name, mode, &n);

	if (!err && (err = h5fs_write_open(ll, n, fi))) {
		h5fs_tree_del_entry(ll->file, &ll->file->idx.nodes[n->parent], name);
		n->flags |= H5FS_NF_DEAD;
	}
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	h5fs_ll_entry(ll, n, &e);
	fuse_reply_create(req, &e, fi);
}

void h5fs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct fuse_entry_param e;
	struct h5fs_node *n = NULL;
	h5fs_stage *st = NULL;
	int created = 0, err;

	(void)rdev;
	err = new_file(ll, parent, name, mode, &n);
	if (!err && !(err = h5fs_write_new_stage(ll, 0, &st))) {
		err = h5fs_write_commit(ll, n, NULL, st, 1, &created, NULL, NULL, NULL, 0, 0);
		h5fs_stage_free(st);
	}
	if (err && n) {
		if (!created && h5fs_tree_del_entry(ll->file, &ll->file->idx.nodes[n->parent], name) == n)
			n->flags |= H5FS_NF_DEAD;
	}
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	h5fs_ll_entry(ll, n, &e);
	fuse_reply_entry(req, &e);
}
