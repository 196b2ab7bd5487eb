/*
 * File operations: getattr, open, read, readlink, release, statfs, and
 * the write-type operations (refused until the write side lands).
 *
 * What a read returns:
 *  - a dataset with a fixed byte image: its elements in C order, each in
 *    the stored type's byte image.  Contiguous unfiltered data is served
 *    with an fd-backed fuse_bufvec at the data's file offset: no copy in
 *    the daemon, no HDF5 call, no lock, and splice when the kernel
 *    allows.  Everything else goes through backing.c;
 *  - with -o view=npy the same bytes behind an NPY v1.0 header;
 *  - a dataset of variable-length strings: text, each element followed
 *    by "\n".  An element that itself contains a newline or a backslash
 *    is escaped C-style: "\n" becomes the two bytes '\' 'n' and "\" the
 *    two bytes '\' '\', so the text has exactly one line per element and
 *    the strings can be recovered; every other byte is passed through;
 *  - a type without a fixed byte image (references, vlen sequences,
 *    compounds holding them): size 0, and open fails with EOPNOTSUPP
 *    and a log line (an empty file is never read, so read cannot say it);
 *  - an object the indexer could not read, or data that could not be
 *    decoded: EIO, with a log line naming the object and the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "h5fs_ll.h"

void h5fs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct h5fs_node *n;
	struct stat st;
	int err;

	(void)fi;
	if ((err = h5fs_ll_node(ll, ino, &n))) {
		fuse_reply_err(req, err);
		return;
	}
	h5fs_ll_stat(ll, n, &st);
	fuse_reply_attr(req, &st, ll->timeout);
}

static int do_open(struct h5fs_ll *ll, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct h5fs_node *n;
	struct h5fs_open *of;
	int err;

	if ((err = h5fs_ll_node(ll, ino, &n)))
		return err;
	if (n->kind == H5FS_NK_GROUP)
		return EISDIR;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return h5fs_write_open(ll, n, fi);	/* ops_write.c */
	if (n->flags & H5FS_NF_BAD || n->kind == H5FS_NK_UNKNOWN) {
		h5fs_log(H5FS_LOG_WARN, "open '%s': %s", n->path ? n->path : "?",
			 n->errmsg ? n->errmsg : "object unreadable");
		return EIO;
	}
	/* no byte image: refuse at open, since an empty file is never read */
	if (n->kind == H5FS_NK_DATASET && (n->flags & H5FS_NF_NOIMAGE)) {
		h5fs_log(H5FS_LOG_WARN, "open '%s': type %s has no fixed byte image", n->path,
			 n->meta[H5FS_M_DTYPE] ? n->meta[H5FS_M_DTYPE] : "?");
		return EOPNOTSUPP;
	}
	of = calloc(1, sizeof(*of));
	if (!of)
		return ENOMEM;
	of->node = n;
	of->flags = fi->flags;
	fi->fh = (uint64_t)(uintptr_t)of;
	/* read-write mounts: the data may have changed since the last open */
	fi->keep_cache = ll->opts->ro;
	/*
	 * -o direct_io: every read is a request, answered by a splice from
	 * the file, with one copy into the reader's buffer instead of two
	 * (into the page cache, then out of it).  The kernel then refuses a
	 * shared mmap (ENODEV: libfuse 3.14 cannot ask for
	 * FUSE_DIRECT_IO_ALLOW_MMAP); private mappings still work.
	 */
	fi->direct_io = ll->opts->direct_io;
	return 0;
}

void h5fs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int err = do_open(h5fs_ll_data(req), ino, fi);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

void h5fs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (h5fs_write_is_writer(fi)) {
		fuse_reply_err(req, h5fs_write_release(h5fs_ll_data(req), fi));
		return;
	}
	free((void *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/*
 * The most file pieces one reply is made of: a 512 KiB request at any
 * offset touches at most 5 chunks of 128 KiB, 8 of 74 KiB; smaller chunks
 * are read into a buffer instead.
 */
#define MAX_SPANS 8

/* An fd-backed reply: the NPY header part, then @p nsp spans of @p fd. */
static int spans_reply(struct h5fs_node *n, uint64_t off, size_t hpart, int fd, const h5fs_reader_span *sp,
		       size_t nsp, struct fuse_bufvec **bvp)
{
	struct fuse_bufvec *bv = calloc(1, sizeof(*bv) + nsp * sizeof(struct fuse_buf));
	size_t k = 0;

	if (!bv)
		return ENOMEM;
	if (hpart) {
		bv->buf[k].mem = n->npy + off;
		bv->buf[k].size = hpart;
		k++;
	}
	for (size_t i = 0; i < nsp; i++, k++) {
		bv->buf[k].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		bv->buf[k].fd = fd;
		bv->buf[k].pos = (off_t)sp[i].file_off;
		bv->buf[k].size = (size_t)sp[i].len;
	}
	bv->count = k;
	*bvp = bv;
	return 0;
}

/*
 * One read.  Fills either @p bv (fd-backed, nothing to free beyond it)
 * or @p mem / @p mlen (a malloc'd buffer).  Returns an errno.
 */
static int do_read(struct h5fs_ll *ll, struct h5fs_node *n, size_t size, uint64_t off,
		   struct fuse_bufvec **bvp, char **mem, size_t *mlen)
{
	uint64_t total = n->size + n->npy_len;	/* committed bytes, not a writer's */
	uint64_t doff;
	size_t hpart = 0;
	char *buf;
	ssize_t got;

	*bvp = NULL;
	*mem = NULL;
	*mlen = 0;
	if (n->kind == H5FS_NK_DATATYPE)
		return 0;
	if (n->kind != H5FS_NK_DATASET)
		return EIO;
	if (n->flags & H5FS_NF_NOIMAGE) {
		h5fs_log(H5FS_LOG_WARN, "read '%s': type %s has no fixed byte image", n->path,
			 n->meta[H5FS_M_DTYPE] ? n->meta[H5FS_M_DTYPE] : "?");
		return EOPNOTSUPP;
	}
	if (n->flags & H5FS_NF_DATA_BAD) {
		h5fs_log(H5FS_LOG_WARN, "read '%s': %s", n->path, n->errmsg ? n->errmsg : "data unreadable");
		return EIO;
	}
	if (off >= total || !size)
		return 0;
	if (size > total - off)
		size = (size_t)(total - off);
	/* the NPY header part */
	if (off < n->npy_len)
		hpart = n->npy_len - (size_t)off < size ? n->npy_len - (size_t)off : size;
	doff = off + hpart - n->npy_len;

	/* stored verbatim: a reply spliced from the file, no copy here */
	if (size > hpart && !(n->flags & H5FS_NF_VLSTR)) {
		h5fs_reader_span sp[MAX_SPANS];
		size_t nsp = 0;
		int fd = ll->file->fd, rc = 0;

		if (n->flags & H5FS_NF_CONTIG) {
			sp[0].file_off = n->offset + doff;
			sp[0].len = size - hpart;
			nsp = 1;
		} else {
			rc = h5fs_backing_map(ll->file, n, doff, size - hpart, sp, MAX_SPANS, &nsp, &fd);
			if (rc < 0)
				return -rc;
		}
		if (rc == 0 && nsp)
			return spans_reply(n, off, hpart, fd, sp, nsp, bvp);
	}
	buf = malloc(size);
	if (!buf)
		return ENOMEM;
	if (hpart)
		memcpy(buf, n->npy + off, hpart);
	got = 0;
	if (size > hpart) {
		if (n->flags & H5FS_NF_VLSTR)
			got = h5fs_backing_read_text(ll->file, n, buf + hpart, size - hpart, doff);
		else
			got = h5fs_backing_read(ll->file, n, buf + hpart, size - hpart, doff);
	}
	if (got < 0) {
		free(buf);
		return (int)-got;
	}
	*mem = buf;
	*mlen = hpart + (size_t)got;
	return 0;
}

void h5fs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct h5fs_open *of = (struct h5fs_open *)(uintptr_t)fi->fh;
	struct h5fs_node *n;
	struct fuse_bufvec *bv;
	char *mem;
	size_t mlen;
	int err;

	if (of)
		n = of->node;
	else if ((err = h5fs_ll_node(ll, ino, &n))) {
		fuse_reply_err(req, err);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (of && of->writer)
		err = h5fs_write_read(ll, fi, size, (uint64_t)off, &mem, &mlen), bv = NULL;
	else
		err = do_read(ll, n, size, (uint64_t)off, &bv, &mem, &mlen);
	if (err)
		fuse_reply_err(req, err);
	else if (bv)
		fuse_reply_data(req, bv, FUSE_BUF_SPLICE_MOVE);
	else
		fuse_reply_buf(req, mem, mlen);
	free(bv);
	free(mem);
}

void h5fs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct h5fs_node *n;
	int err;

	if ((err = h5fs_ll_node(ll, ino, &n))) {
		fuse_reply_err(req, err);
		return;
	}
	if (n->kind != H5FS_NK_SOFTLINK && n->kind != H5FS_NK_EXTLINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!n->linktext) {
		h5fs_log(H5FS_LOG_WARN, "readlink '%s': %s", n->path, n->errmsg ? n->errmsg : "link unreadable");
		fuse_reply_err(req, EIO);
		return;
	}
	fuse_reply_readlink(req, n->linktext);
}

void h5fs_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = ((fsblkcnt_t)ll->file->st.st_size + 4095) / 4096;
	sv.f_files = ll->file->idx.nnodes;
	sv.f_namemax = 255;
	sv.f_flag = ll->opts->ro ? ST_RDONLY : 0;
	fuse_reply_statfs(req, &sv);
}

/* ---- setattr ------------------------------------------------------------ */

/*
 * Size changes are writes (ops_write.c): staged on the open file when
 * there is one (committed at close), else committed at once.  Mode,
 * owner and times cannot be stored in HDF5: they are accepted and
 * ignored (the mode shown follows the HDF5 file's own permissions), so
 * that cp -a, rsync -a and tar -x into the mount succeed.
 */
void h5fs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	struct h5fs_ll *ll = h5fs_ll_data(req);
	struct h5fs_node *n;
	struct stat st;
	int err;

	if ((err = h5fs_ll_node(ll, ino, &n))) {
		fuse_reply_err(req, err);
		return;
	}
	if (ll->opts->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && (err = h5fs_write_truncate(ll, n, (uint64_t)attr->st_size, fi))) {
		fuse_reply_err(req, err);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		h5fs_log(H5FS_LOG_DEBUG, "setattr '%s': mode and owner are not stored in HDF5; ignored", n->path);
	h5fs_ll_stat(ll, n, &st);
	fuse_reply_attr(req, &st, ll->timeout);
}
