/*
 * Reads through libhdf5, each one attempt run by the guard of backing.c
 * (h5fs_backing_guarded()), which makes it again when the file changed
 * during it: where a range lies in the file (map), a range of the byte
 * image, the text of vlen strings, and the current extent (SWMR).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/reader.h"
#include "served.h"
#include "ext.h"
#include "backing.h"

/* Read elements [e0, e1) into @p out, with the HDF5 lock held. */
static int read_elems(struct dstate *s, struct h5fs_node *n, hid_t mtype, uint64_t e0, uint64_t e1, void *out)
{
	hsize_t cnt = e1 - e0;
	hid_t mspace;
	int rc = 0;
	hsize_t dims[H5S_MAX_RANK];

	for (int i = 0; i < n->ndim && i < H5S_MAX_RANK; i++)
		dims[i] = n->dims[i];
	if (n->ndim > 0 && h5fs_select_linear(s->fspace, n->ndim, dims, e0, e1) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "cannot select elements of", n->path);
		return -EIO;
	}
	mspace = H5Screate_simple(1, &cnt, NULL);
	if (mspace < 0)
		return -ENOMEM;
	if (H5Dread(s->did, mtype, mspace, n->ndim > 0 ? s->fspace : H5S_ALL, H5P_DEFAULT, out) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "cannot read dataset", n->path);
		rc = -EIO;
	}
	H5Sclose(mspace);
	return rc;
}

struct map_args {
	uint64_t off;
	size_t size;
	h5fs_reader_span *spans;
	size_t max, *nspans;
	int *fd;
};

static ssize_t map_attempt(struct backing *b, struct h5fs_node *n, struct dstate *s, void *arg)
{
	struct map_args *a = arg;
	int rc;

	*a->nspans = 0;
	if (!s->rd)
		return 1;
	*a->fd = h5fs_ext_file_of(n) ? h5fs_ext_fd(&b->f->ext, h5fs_ext_file_of(n)) : b->f->fd;
	rc = h5fs_reader_map(s->rd, a->off, a->size, a->spans, a->max, a->nspans);
	if (rc == H5FS_ENOTSUPPORTED)
		return 1;
	if (rc < 0) {
		*a->nspans = 0;
		return -h5fs_errno_of(rc, n->path);
	}
	return 0;
}

int h5fs_backing_map(struct h5fs_served *f, struct h5fs_node *n, uint64_t off, size_t size,
		     h5fs_reader_span *spans, size_t max, size_t *nspans, int *fd)
{
	struct map_args a = { off, size, spans, max, nspans, fd };

	*nspans = 0;
	return (int)h5fs_backing_guarded(f->backing, n, map_attempt, &a);
}

struct read_args {
	char *buf;
	size_t size;
	uint64_t off;
};

static ssize_t read_attempt(struct backing *b, struct h5fs_node *n, struct dstate *s, void *arg)
{
	struct read_args *a = arg;
	uint64_t e0 = a->off / n->esize, e1 = (a->off + a->size + n->esize - 1) / n->esize;
	uint64_t skip = a->off - e0 * n->esize;
	char *tmp = NULL;
	int rc;

	(void)b;
	if (s->rd) {
		size_t got = 0;

		rc = h5fs_reader_read(s->rd, a->buf, a->size, a->off, &got);
		return rc < 0 ? -h5fs_errno_of(rc, n->path) : (ssize_t)got;
	}
	if (skip || (e1 - e0) * n->esize != a->size) {
		tmp = malloc((size_t)((e1 - e0) * n->esize));
		if (!tmp)
			return -ENOMEM;
	}
	h5fs_hdf5_lock();
	rc = read_elems(s, n, s->ftype, e0, e1, tmp ? tmp : a->buf);
	h5fs_hdf5_unlock();
	if (rc == 0 && tmp)
		memcpy(a->buf, tmp + skip, a->size);
	free(tmp);
	return rc < 0 ? rc : (ssize_t)a->size;
}

ssize_t h5fs_backing_read(struct h5fs_served *f, struct h5fs_node *n, char *buf, size_t size, uint64_t off)
{
	struct read_args a = { buf, size, off };

	if (off >= n->size || !size)
		return 0;
	if (size > n->size - off)
		a.size = (size_t)(n->size - off);
	return h5fs_backing_guarded(f->backing, n, read_attempt, &a);
}

/*
 * vlen strings as text.  The indexer recorded where each block of
 * H5FS_VL_BLOCK elements starts in the text; a read renders just the
 * blocks it overlaps.
 */
static ssize_t text_attempt(struct backing *b, struct h5fs_node *n, struct dstate *s, void *arg)
{
	struct read_args *a = arg;
	uint64_t lo = 0, hi = n->n_vl, blk;
	size_t done = 0;
	char **strs = malloc(H5FS_VL_BLOCK * sizeof(char *));
	int rc = 0;

	(void)b;
	if (!strs)
		return -ENOMEM;
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;

		if (n->vl_off[mid] <= a->off)
			lo = mid;
		else
			hi = mid;
	}
	for (blk = lo; blk < n->n_vl && done < a->size && rc == 0; blk++) {
		uint64_t e0 = blk * H5FS_VL_BLOCK;
		uint64_t cnt = n->nelems - e0 < H5FS_VL_BLOCK ? n->nelems - e0 : H5FS_VL_BLOCK;
		uint64_t tstart = n->vl_off[blk];
		uint64_t tend = blk + 1 < n->n_vl ? n->vl_off[blk + 1] : n->size;
		char *text, *p;
		hsize_t mdim = cnt;
		hid_t mspace;

		if (tend < tstart || tend - tstart > ((uint64_t)1 << 32)) {
			rc = -EIO;
			break;
		}
		text = malloc((size_t)(tend - tstart) + 1);
		if (!text) {
			rc = -ENOMEM;
			break;
		}
		h5fs_hdf5_lock();
		memset(strs, 0, cnt * sizeof(char *));
		rc = read_elems(s, n, s->mstr, e0, e0 + cnt, strs);
		if (rc == 0) {
			p = text;
			for (uint64_t i = 0; i < cnt; i++) {
				if ((uint64_t)(p - text) + h5fs_vlstr_text_len(strs[i]) + 1 > tend - tstart) {
					rc = -EIO;
					break;
				}
				p = h5fs_vlstr_text_put(p, strs[i]);
				*p++ = '\n';
			}
			if (rc == 0 && (uint64_t)(p - text) != tend - tstart)
				rc = -EIO;
			mspace = H5Screate_simple(1, &mdim, NULL);
			H5Dvlen_reclaim(s->mstr, mspace, H5P_DEFAULT, strs);
			H5Sclose(mspace);
			if (rc == -EIO)
				h5fs_log(H5FS_LOG_WARN, "dataset '%s': strings changed since indexing", n->path);
		}
		h5fs_hdf5_unlock();
		if (rc == 0) {
			uint64_t from = a->off + done > tstart ? a->off + done - tstart : 0;
			uint64_t avail = tend - tstart - from;
			size_t take = avail < a->size - done ? (size_t)avail : a->size - done;

			memcpy(a->buf + done, text + from, take);
			done += take;
		}
		free(text);
	}
	free(strs);
	return rc < 0 ? rc : (ssize_t)done;
}

ssize_t h5fs_backing_read_text(struct h5fs_served *f, struct h5fs_node *n, char *buf, size_t size, uint64_t off)
{
	struct read_args a = { buf, size, off };

	if (off >= n->size || !size || !n->n_vl)
		return 0;
	if (size > n->size - off)
		a.size = (size_t)(n->size - off);
	return h5fs_backing_guarded(f->backing, n, text_attempt, &a);
}

struct dims_args {
	int ndim;
	uint64_t *dims;
	uint64_t storage;
};

static ssize_t dims_attempt(struct backing *b, struct h5fs_node *n, struct dstate *s, void *arg)
{
	struct dims_args *a = arg;
	hsize_t d[H5S_MAX_RANK];
	int nd;

	(void)b;
	h5fs_hdf5_lock();
	nd = H5Sget_simple_extent_dims(s->fspace, d, NULL);
	a->storage = H5Dget_storage_size(s->did);
	H5Eclear2(H5E_DEFAULT);
	h5fs_hdf5_unlock();
	if (nd != n->ndim || nd < 1)
		return -EIO;	/* a new shape of rank: only a re-index describes it */
	for (int i = 0; i < nd; i++)
		a->dims[i] = d[i];
	a->ndim = nd;
	return 0;
}

int h5fs_backing_dims(struct h5fs_served *f, struct h5fs_node *n, uint64_t *dims, uint64_t *storage)
{
	struct dims_args a = { 0, dims, 0 };
	ssize_t rc = h5fs_backing_guarded(f->backing, n, dims_attempt, &a);

	*storage = a.storage;
	return (int)rc;
}

