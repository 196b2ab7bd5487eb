/*
 * The reader's plumbing: a request's boxes, bounded preads of the
 * file, fill values, copies out of a chunk or a buffer, and the HDF5
 * fallback that reads boxes through H5Dread.
 */
#include "reader_int.h"

void h5fs__rd_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

const char *h5fs__rd_reader_name(const h5fs_reader *r)
{
	return r->name ? r->name : "?";
}

/* "[1, 2]": the chunk's coordinates (in chunks), for messages. */
static char *coords_text(const h5fs_reader *r, const hsize_t *cc)
{
	h5fs_buf b = H5FS_BUF_INIT;
	int i;

	h5fs_buf_putc(&b, '[');
	for (i = 0; i < r->rank; i++)
		h5fs_buf_printf(&b, "%s%llu", i ? ", " : "", (unsigned long long)cc[i]);
	h5fs_buf_putc(&b, ']');
	if (h5fs_buf_check(&b) < 0) {
		h5fs_buf_release(&b);
		return NULL;
	}
	return h5fs_buf_detach(&b, NULL);
}

/* Put "dataset NAME: chunk [..]: " before the current message. */
int h5fs__rd_chunk_error(const h5fs_reader *r, const hsize_t *cc, int code)
{
	const h5fs_error *e = h5fs_error_last();
	char *where;

	if (code == H5FS_ENOMEM)
		return code;
	where = coords_text(r, cc);
	h5fs__error_set(e->klass, "dataset %s: chunk %s: %s", h5fs__rd_reader_name(r),
			where ? where : "?", e->message);
	free(where);
	return code;
}

static int fd_refresh_size(h5fs_reader *r)
{
	struct stat st;

	if (fstat(r->fd, &st) < 0)
		return -1;
	atomic_store(&r->file_size, (uint64_t)st.st_size);
	return 0;
}

/* Whether [addr, addr + len) lies inside the file. */
int h5fs__rd_in_file(h5fs_reader *r, uint64_t addr, uint64_t len)
{
	uint64_t fs = atomic_load(&r->file_size);

	if (addr <= fs && len <= fs - addr)
		return 1;
	if (fd_refresh_size(r) < 0)
		return 0;
	fs = atomic_load(&r->file_size);
	return addr <= fs && len <= fs - addr;
}

int h5fs__rd_pread_full(h5fs_reader *r, void *buf, size_t len, uint64_t at)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t got = pread(r->fd, p, len, (off_t)at);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			h5fs__error_set(H5FS_ERROR_OS, "read at byte %llu of the file: %s",
					(unsigned long long)at, strerror(errno));
			return H5FS_ERROR;
		}
		if (got == 0) {
			h5fs__error_set(H5FS_ERROR_OS, "file ends at byte %llu, inside the data",
					(unsigned long long)at);
			return H5FS_ECORRUPT;
		}
		h5fs__rd_stat_add(&r->st_bytes_read, (uint64_t)got);
		p += got;
		len -= (size_t)got;
		at += (uint64_t)got;
	}
	return 0;
}

/* The fill bytes of image positions [pos, pos + len). */
void h5fs__rd_fill_bytes(const h5fs_reader *r, uint8_t *dst, size_t len, uint64_t pos)
{
	size_t k, first, done;

	if (r->fill_zero) {
		memset(dst, 0, len);
		return;
	}
	if (r->tsize == 1) {
		memset(dst, r->fill[0], len);
		return;
	}
	k = (size_t)(pos % r->tsize);
	first = r->tsize - k < len ? r->tsize - k : len;
	memcpy(dst, r->fill + k, first);
	if (first == len)
		return;
	dst += first;
	len -= first;
	done = r->tsize < len ? r->tsize : len;
	memcpy(dst, r->fill, done);
	/* double the whole elements already written */
	while (done < len) {
		size_t n = done < len - done ? done : len - done;

		memcpy(dst + done, dst, n);
		done += n;
	}
}

/* Cut the linear element range [a, b) into boxes. */
int h5fs__rd_boxes_make(const h5fs_reader *r, uint64_t a, uint64_t b, struct boxes *bx)
{
	int rank = r->rank, nmax = 2 * rank, i, j;
	hsize_t *all = malloc((size_t)nmax * (size_t)rank * 4 * sizeof(hsize_t));
	uint64_t p = a;

	if (!all)
		return h5fs__error_oom();
	bx->start = all;
	bx->count = all + nmax * rank;
	bx->clo = all + 2 * nmax * rank;
	bx->chi = all + 3 * nmax * rank;
	bx->n = 0;
	while (p < b && bx->n < nmax) {
		hsize_t *s = bx->start + bx->n * rank, *c = bx->count + bx->n * rank;
		uint64_t left = b - p, rem = p, len;

		for (i = 0; i < rank; i++) {
			s[i] = rem / r->stride[i];
			rem %= r->stride[i];
		}
		j = rank - 1;
		while (j > 0 && s[j] == 0 && r->stride[j - 1] <= left)
			j--;
		len = left / r->stride[j];
		if (len > r->dims[j] - s[j])
			len = r->dims[j] - s[j];
		for (i = 0; i < rank; i++)
			c[i] = i < j ? 1 : i == j ? len : r->dims[i];
		if (r->kind == KIND_CHUNKED) {
			for (i = 0; i < rank; i++) {
				bx->clo[bx->n * rank + i] = s[i] / r->cdims[i];
				bx->chi[bx->n * rank + i] = (s[i] + c[i] - 1) / r->cdims[i];
			}
		}
		p += len * r->stride[j];
		bx->n++;
	}
	if (p < b) {
		free(all);
		bx->start = NULL;
		h5fs__error_set(H5FS_ERROR_INTERNAL, "element range needs more than %d boxes", nmax);
		return H5FS_ERROR;
	}
	return 0;
}

void h5fs__rd_boxes_free(struct boxes *bx)
{
	free(bx->start);
	bx->start = NULL;
}

/*
 * Copy the rows of the element box [lo, hi) from @p s into @p buf, which
 * holds image bytes [off, end).
 */
int h5fs__rd_copy_box(h5fs_reader *r, const struct src *s, const hsize_t *lo, const hsize_t *hi,
		    uint8_t *buf, uint64_t off, uint64_t end)
{
	hsize_t c[H5S_MAX_RANK];
	int rank = r->rank, last = rank - 1, i, error;
	uint64_t nel = hi[last] - lo[last];

	memcpy(c, lo, (size_t)rank * sizeof(*c));
	for (;;) {
		uint64_t lin = 0, local = 0, rb, re, x0, x1, sb;

		for (i = 0; i < rank; i++) {
			lin += c[i] * r->stride[i];
			local += (c[i] - s->origin[i]) * s->lstride[i];
		}
		rb = lin * r->tsize;
		re = rb + nel * r->tsize;
		x0 = rb > off ? rb : off;
		x1 = re < end ? re : end;
		if (x0 < x1) {
			sb = local * r->tsize + (x0 - rb);
			switch (s->mode) {
			case SRC_MEM:
			case SRC_HDF5:
				if (sb > s->len || x1 - x0 > s->len - sb) {
					h5fs__error_set(H5FS_ERROR_INTERNAL, "chunk shorter than its shape");
					return H5FS_ECORRUPT;
				}
				memcpy(buf + (x0 - off), s->data + sb, (size_t)(x1 - x0));
				break;
			case SRC_FILE:
				if ((error = h5fs__rd_pread_full(r, buf + (x0 - off), (size_t)(x1 - x0), s->addr + sb)) < 0)
					return error;
				break;
			case SRC_FILL:
				h5fs__rd_fill_bytes(r, buf + (x0 - off), (size_t)(x1 - x0), x0);
				break;
			}
		}
		/* next row: odometer over all dims but the last */
		for (i = last - 1; i >= 0; i--) {
			if (++c[i] < hi[i])
				break;
			c[i] = lo[i];
		}
		if (i < 0)
			return 0;
	}
}

void h5fs__rd_src_shape(const h5fs_reader *r, struct src *s, const hsize_t *shape)
{
	int i;

	s->lstride[r->rank - 1] = 1;
	for (i = r->rank - 2; i >= 0; i--)
		s->lstride[i] = s->lstride[i + 1] * shape[i + 1];
}

/* The in-extent part of the chunk at @p origin. */
void h5fs__rd_clipped_shape(const h5fs_reader *r, const hsize_t *origin, hsize_t *shape)
{
	int i;

	for (i = 0; i < r->rank; i++)
		shape[i] = r->dims[i] - origin[i] < r->cdims[i] ? r->dims[i] - origin[i] : r->cdims[i];
}

/*
 * H5Dread the box [start, start + count) of the dataset into a new
 * buffer (elements in C order).  Takes the lock.
 */
int h5fs__rd_hdf5_read_boxes(h5fs_reader *r, const hsize_t *start, const hsize_t *count, int nbox,
			   uint64_t nel, uint8_t **out)
{
	uint8_t *buf;
	hsize_t mdim = nel;
	hid_t mspace = H5I_INVALID_HID;
	int i, error = 0;

	*out = NULL;
	if (nel > SIZE_MAX / r->tsize || !(buf = malloc(nel ? (size_t)nel * r->tsize : 1)))
		return h5fs__error_oom();
	h5fs_hdf5_lock();
	if (r->scalar) {
		if (H5Dread(r->dset, r->memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
			goto fail;
	} else {
		if (H5Sselect_none(r->fspace) < 0)
			goto fail;
		for (i = 0; i < nbox; i++)
			if (H5Sselect_hyperslab(r->fspace, i ? H5S_SELECT_OR : H5S_SELECT_SET,
						start + i * r->rank, NULL, count + i * r->rank, NULL) < 0)
				goto fail;
		if ((mspace = H5Screate_simple(1, &mdim, NULL)) < 0 ||
		    H5Dread(r->dset, r->memtype, mspace, r->fspace, H5P_DEFAULT, buf) < 0)
			goto fail;
	}
	h5fs__rd_stat_add(&r->st_hdf5_reads, 1);
	h5fs__rd_stat_add(&r->st_bytes_read, nel * r->tsize);
	goto out;
fail:
	if (r->missing) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_HDF5, "filter %s is not available", r->missing);
	} else {
		h5fs__error_hdf5("cannot read through libhdf5");
	}
	error = H5FS_ERROR;
out:
	if (mspace >= 0)
		H5Sclose(mspace);
	h5fs_hdf5_unlock();
	if (error < 0)
		free(buf);
	else
		*out = buf;
	return error;
}

/* Whether the chunk's filters apply to it (mask and edge rules). */
