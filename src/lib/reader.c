/*
 * The reader: byte ranges of one dataset's byte image (h5fs/sys/reader.h).
 *
 * The request [off, end) in bytes covers the elements [e0, e1) in C
 * order.  That linear range is cut into at most 2 * rank - 1 boxes
 * (hyperslab blocks): a partial row, whole rows, whole planes, ... and
 * back down.  For a chunked dataset each box names the chunks it
 * touches; each such chunk is fetched once (a chunk that several boxes
 * touch is handled with all of them at its first visit) and the rows of
 * its intersection with the boxes are copied out, clipped to [off, end)
 * so that partial elements at either end come out right.  So a request
 * touches exactly the chunks holding its bytes, one at a time.
 *
 * Threads: the HDF5 lock is taken around each HDF5 call only.  pread(),
 * decoding and copying run unlocked; chunks are shared through the
 * reference-counted cache (chunkcache.c).  HDF5's error stack is global
 * in a build without thread-safety, so it is read (h5fs__error_hdf5)
 * before the lock is dropped.  A fetch is split in two for that:
 * chunk_locate() (the HDF5 part, lock held) and chunk_load() (pread and
 * decoding, unlocked).
 *
 * Prefetching: sequential requests queue the next chunks on the cache's
 * worker pool (prefetch()); a worker (prefetch_run) reserves the chunk,
 * locates it under the HDF5 lock and loads it unlocked into the cache.
 * Lifetime: each queued or running task holds a reference on the
 * reader.  h5fs_reader_free() sets closing under the HDF5 lock (a task
 * checks it under the lock before any HDF5 call, so none starts after),
 * takes its queued tasks back, and waits for the tasks past their HDF5
 * part (pf_busy: they read r->fd); a task still waiting for the HDF5
 * lock then keeps only the memory alive and drops it.  Waiting for
 * pf_busy never needs the HDF5 lock, so freeing with the lock held (as
 * the daemon does) cannot deadlock.  Lock order: HDF5 lock, pf_mu, the
 * cache's pool mutex.  A chunk loaded while the reader was freed or
 * invalidated (gen changed) is not kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "chunkcache.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/reader.h"

/* Largest compact dataset the format allows. */
#define COMPACT_MAX ((uint64_t)65536)
/* Elements read per H5Dread() of the fallback path, in bytes. */
#define FALLBACK_WINDOW ((size_t)8 << 20)
/* Unfiltered chunks with rows shorter than this are loaded whole. */
#define SHORT_ROW 4096
/* A chunk cached as its in-extent part only (read through HDF5). */
#define CHUNK_CLIPPED 1u

/* Sequential reads: a request starting this close to the last one's end. */
#define PF_NEAR ((uint64_t)1 << 20)
/* ... prefetch at least this many bytes ahead (tiny chunks) ... */
#define PF_MIN_WINDOW ((uint64_t)1 << 20)
/* ... at most this many chunks per request, and at most 1/PF_CACHE_SHARE of the cache. */
#define PF_MAX_TASKS 8
#define PF_CACHE_SHARE 4

int h5fs__reader_lookup;
int h5fs__reader_prefetch = H5FS__PREFETCH_AHEAD;

enum reader_kind {
	KIND_CONTIG,	/* pread at file_off */
	KIND_FILL,	/* not allocated: the fill value */
	KIND_MEM,	/* compact: held in mem */
	KIND_CHUNKED,
	KIND_HDF5	/* H5Dread of the covered elements */
};

struct h5fs_reader {
	enum reader_kind kind;
	int fd;
	hid_t dset;		/* our reference, or H5I_INVALID_HID */
	hid_t memtype;		/* a copy of the file type, n-bit integers widened */
	int widened;		/* ... they were: no byte is served raw */
	hid_t fspace;		/* for selections (used under the lock) */
	int scalar;
	int rank;		/* >= 1; a scalar is [1] */
	hsize_t dims[H5S_MAX_RANK];
	hsize_t stride[H5S_MAX_RANK];	/* elements per unit of each dim */
	hsize_t cdims[H5S_MAX_RANK];
	hsize_t nchunks[H5S_MAX_RANK];
	size_t tsize;
	uint64_t npoints;
	uint64_t size;
	uint64_t file_off;
	uint8_t *fill;
	int fill_zero;
	uint8_t *mem;
	h5fs__filter filters[H5Z_MAX_NFILTERS];
	int nfilters;
	int ours;
	int by_coord;		/* few chunks: H5Dget_chunk_info_by_coord */
	int dont_filter_partial;
	char *missing;		/* first filter libhdf5 lacks, or NULL */
	size_t chunk_bytes;
	uint64_t chunk_addr_bias;	/* added to H5Dget_chunk_info_by_coord() addresses */
	_Atomic uint64_t file_size;
	h5fs_chunk_cache *cache;
	uint64_t dev, ino, obj;
	char *name;
	_Atomic uint64_t st_bytes_read;
	_Atomic uint64_t st_touched;
	_Atomic uint64_t st_decoded;
	_Atomic uint64_t st_hits;
	_Atomic uint64_t st_hdf5_reads;
	_Atomic uint64_t st_prefetched;

	/*
	 * Prefetching (chunked, with a cache).  The reader is shared with the
	 * pool's queued and running tasks: refs counts the owner's reference
	 * and one per task; the last one frees the memory.  closing is set
	 * (under the HDF5 lock) by h5fs_reader_free(), after which no task
	 * makes an HDF5 call; gen changes when cached chunks must not be
	 * offered any more (free, invalidate).
	 */
	atomic_int refs;
	atomic_int closing;
	atomic_uint gen;
	uint64_t pf_window;	/* bytes ahead; 0: no prefetching */
	int pf_init;		/* pf_mu and pf_cond were made */
	pthread_mutex_t pf_mu;
	pthread_cond_t pf_cond;	/* pf_busy went down */
	int pf_busy;		/* tasks past their HDF5 part (pf_mu) */
	uint64_t pf_last_end;	/* end of the latest request (pf_mu) */
	uint64_t pf_upto;	/* prefetches asked up to this byte (pf_mu) */
	uint64_t pf_last_idx;	/* last chunk asked for, plus 1; 0 none (pf_mu) */
};

/* A set of boxes covering a linear element range. */
struct boxes {
	int n;
	hsize_t *start;		/* n * rank each */
	hsize_t *count;
	hsize_t *clo;		/* chunk coordinate range, inclusive */
	hsize_t *chi;
};

/* Where a fetched chunk's bytes come from. */
enum src_mode { SRC_MEM, SRC_FILE, SRC_FILL, SRC_HDF5 };

struct src {
	enum src_mode mode;
	h5fs__chunk *chunk;
	const uint8_t *data;
	size_t len;
	uint64_t addr;
	hsize_t origin[H5S_MAX_RANK];
	hsize_t lstride[H5S_MAX_RANK];	/* of the data's own shape */
};

static void stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static const char *reader_name(const h5fs_reader *r)
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
static int chunk_error(const h5fs_reader *r, const hsize_t *cc, int code)
{
	const h5fs_error *e = h5fs_error_last();
	char *where;

	if (code == H5FS_ENOMEM)
		return code;
	where = coords_text(r, cc);
	h5fs__error_set(e->klass, "dataset %s: chunk %s: %s", reader_name(r),
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
static int in_file(h5fs_reader *r, uint64_t addr, uint64_t len)
{
	uint64_t fs = atomic_load(&r->file_size);

	if (addr <= fs && len <= fs - addr)
		return 1;
	if (fd_refresh_size(r) < 0)
		return 0;
	fs = atomic_load(&r->file_size);
	return addr <= fs && len <= fs - addr;
}

static int pread_full(h5fs_reader *r, void *buf, size_t len, uint64_t at)
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
		stat_add(&r->st_bytes_read, (uint64_t)got);
		p += got;
		len -= (size_t)got;
		at += (uint64_t)got;
	}
	return 0;
}

/* The fill bytes of image positions [pos, pos + len). */
static void fill_bytes(const h5fs_reader *r, uint8_t *dst, size_t len, uint64_t pos)
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
static int boxes_make(const h5fs_reader *r, uint64_t a, uint64_t b, struct boxes *bx)
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

static void boxes_free(struct boxes *bx)
{
	free(bx->start);
	bx->start = NULL;
}

/*
 * Copy the rows of the element box [lo, hi) from @p s into @p buf, which
 * holds image bytes [off, end).
 */
static int copy_box(h5fs_reader *r, const struct src *s, const hsize_t *lo, const hsize_t *hi,
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
				if ((error = pread_full(r, buf + (x0 - off), (size_t)(x1 - x0), s->addr + sb)) < 0)
					return error;
				break;
			case SRC_FILL:
				fill_bytes(r, buf + (x0 - off), (size_t)(x1 - x0), x0);
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

static void src_shape(const h5fs_reader *r, struct src *s, const hsize_t *shape)
{
	int i;

	s->lstride[r->rank - 1] = 1;
	for (i = r->rank - 2; i >= 0; i--)
		s->lstride[i] = s->lstride[i + 1] * shape[i + 1];
}

/* The in-extent part of the chunk at @p origin. */
static void clipped_shape(const h5fs_reader *r, const hsize_t *origin, hsize_t *shape)
{
	int i;

	for (i = 0; i < r->rank; i++)
		shape[i] = r->dims[i] - origin[i] < r->cdims[i] ? r->dims[i] - origin[i] : r->cdims[i];
}

/*
 * H5Dread the box [start, start + count) of the dataset into a new
 * buffer (elements in C order).  Takes the lock.
 */
static int hdf5_read_boxes(h5fs_reader *r, const hsize_t *start, const hsize_t *count, int nbox,
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
	stat_add(&r->st_hdf5_reads, 1);
	stat_add(&r->st_bytes_read, nel * r->tsize);
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
static int chunk_filtered(const h5fs_reader *r, unsigned int mask, int edge)
{
	unsigned int all;

	if (!r->nfilters || (r->dont_filter_partial && edge))
		return 0;
	all = r->nfilters >= 32 ? ~0u : (1u << r->nfilters) - 1;
	return (mask & all) != all;
}

/* The largest stored size we believe for a chunk (deflate may grow data). */
static uint64_t stored_bound(const h5fs_reader *r)
{
	return (uint64_t)r->chunk_bytes + r->chunk_bytes / 16 + 4096;
}

/*
 * Turn the stored bytes @p data of a chunk into a cache entry: as they
 * are when unfiltered, else decoded by our pipeline.  Takes @p data.
 */
static int chunk_from_stored(h5fs_reader *r, const hsize_t *cc, uint8_t *data, uint64_t stored,
			     unsigned int mask, int edge, h5fs__chunk **out)
{
	uint8_t *decoded = NULL;
	int error;

	*out = NULL;
	if (!chunk_filtered(r, mask, edge)) {
		if (stored != r->chunk_bytes) {
			free(data);
			h5fs__error_set(H5FS_ERROR_INTERNAL, "unfiltered chunk of %llu bytes, expected %zu",
					(unsigned long long)stored, r->chunk_bytes);
			return chunk_error(r, cc, H5FS_ECORRUPT);
		}
		return (*out = h5fs__chunk_new(data, r->chunk_bytes, 0)) ? 0 : H5FS_ENOMEM;
	}
	if ((error = h5fs__pipeline_decode(&decoded, r->filters, r->nfilters, mask, data,
					   (size_t)stored, r->chunk_bytes, r->tsize)) < 0)
		return chunk_error(r, cc, error);
	stat_add(&r->st_decoded, 1);
	return (*out = h5fs__chunk_new(decoded, r->chunk_bytes, 0)) ? 0 : H5FS_ENOMEM;
}

static herr_t unallocated_cb(unsigned n, const H5E_error2_t *e, void *payload)
{
	(void)n;
	if (e->desc && strstr(e->desc, "chunk storage is not allocated"))
		*(int *)payload = 1;
	return 0;
}

/*
 * After H5Dget_chunk_storage_size() failed (lock held): whether the chunk
 * is merely unallocated.  libhdf5 1.10 fails instead of answering 0 when
 * the index exists but the chunk is not in it; its message says so.  When
 * the message differs, ask the (slow) coordinate lookup.  Leaves HDF5's
 * error stack as it was when the answer is no.
 */
static int chunk_unallocated(h5fs_reader *r, const hsize_t *origin)
{
	haddr_t addr = HADDR_UNDEF;
	hsize_t size = 0;
	unsigned int mask = 0;
	int found = 0;
	hid_t stack;

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, unallocated_cb, &found);
	if (found)
		return 1;
	if ((stack = H5Eget_current_stack()) < 0)
		return 0;
	if (H5Dget_chunk_info_by_coord(r->dset, origin, &mask, &addr, &size) >= 0 && addr == HADDR_UNDEF)
		found = 1;
	H5Eset_current_stack(stack);
	return found;
}

/*
 * Where a chunk is, as the HDF5 part of a fetch found it (chunk_locate,
 * under the lock); chunk_load() then gets the bytes without the lock.
 */
enum loc_kind {
	LOC_FILL,	/* not allocated */
	LOC_ADDR,	/* stored bytes at addr in the file (few chunks) */
	LOC_STORED,	/* stored bytes in data, read by H5Dread_chunk (many) */
	LOC_DECODED,	/* the in-extent part in data, read by H5Dread */
	LOC_PIECES	/* too large to hold: H5Dread each piece (SRC_HDF5) */
};

struct loc {
	enum loc_kind kind;
	uint64_t addr;
	uint64_t stored;
	unsigned int mask;
	uint8_t *data;		/* malloc'd: LOC_STORED, LOC_DECODED */
	size_t len;
};

/*
 * Many chunks: H5Dget_chunk_info_by_coord() walks the whole index in
 * 1.10 (linear per call), so the stored bytes come from
 * H5Dget_chunk_storage_size() and H5Dread_chunk() (both B-tree lookups)
 * under the lock; decoding still happens outside it.  Lock held.
 */
static int locate_raw(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc)
{
	hsize_t stored = 0;
	uint32_t mask = 0;

	if (H5Dget_chunk_storage_size(r->dset, origin, &stored) < 0) {
		if (!chunk_unallocated(r, origin)) {
			h5fs__error_hdf5("cannot locate the chunk");
			return chunk_error(r, cc, H5FS_ECORRUPT);
		}
		h5fs__hdf5_clear();
		stored = 0;
	}
	if (stored == 0) {
		loc->kind = LOC_FILL;
		return 0;
	}
	if (stored > stored_bound(r)) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "stored size %llu is implausible for a chunk of %zu bytes",
				(unsigned long long)stored, r->chunk_bytes);
		return chunk_error(r, cc, H5FS_ECORRUPT);
	}
	if (!(loc->data = malloc((size_t)stored)))
		return h5fs__error_oom();
	if (H5Dread_chunk(r->dset, H5P_DEFAULT, origin, &mask, loc->data) < 0) {
		h5fs__error_hdf5("cannot read the chunk");
		free(loc->data);
		loc->data = NULL;
		return chunk_error(r, cc, H5FS_ECORRUPT);
	}
	stat_add(&r->st_bytes_read, stored);
	loc->kind = LOC_STORED;
	loc->stored = stored;
	loc->mask = mask;
	return 0;
}

/* Few chunks: the address from HDF5 (lock held), the bytes later by pread(). */
static int locate_by_coord(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc)
{
	haddr_t addr = HADDR_UNDEF;
	hsize_t stored = 0;
	unsigned int mask = 0;

	if (H5Dget_chunk_info_by_coord(r->dset, origin, &mask, &addr, &stored) < 0) {
		h5fs__error_hdf5("cannot locate the chunk");
		return chunk_error(r, cc, H5FS_ECORRUPT);
	}
	if (addr == HADDR_UNDEF) {
		loc->kind = LOC_FILL;
		return 0;
	}
	loc->kind = LOC_ADDR;
	loc->addr = addr + r->chunk_addr_bias;
	loc->stored = stored;
	loc->mask = mask;
	return 0;
}

/*
 * Filters we do not decode, or chunks too large to decode whole: the
 * chunk's in-extent part through H5Dread() when it is small enough to
 * hold, else (SRC_HDF5) each piece a request needs.  Lock held.
 */
static int locate_hdf5(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc)
{
	hsize_t shape[H5S_MAX_RANK];
	uint64_t nel = 1;
	int i, error;

	clipped_shape(r, origin, shape);
	for (i = 0; i < r->rank; i++)
		nel *= shape[i];
	if (nel * r->tsize > H5FS_READER_MAX_CHUNK) {
		loc->kind = LOC_PIECES;
		return 0;
	}
	if ((error = hdf5_read_boxes(r, origin, shape, 1, nel, &loc->data)) < 0)
		return chunk_error(r, cc, error);
	loc->kind = LOC_DECODED;
	loc->len = (size_t)(nel * r->tsize);
	return 0;
}

/* The HDF5 part of fetching chunk @p cc (at @p origin): the lock is held. */
static int chunk_locate(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc)
{
	memset(loc, 0, sizeof(*loc));
	if ((r->nfilters && !r->ours) || (r->nfilters && r->chunk_bytes > H5FS_READER_MAX_CHUNK))
		return locate_hdf5(r, cc, origin, loc);
	if (r->by_coord || r->chunk_bytes > H5FS_READER_MAX_CHUNK)
		return locate_by_coord(r, cc, origin, loc);
	return locate_raw(r, cc, origin, loc);
}

/*
 * The unlocked part: turn @p loc into a chunk for the cache (*out), or
 * set s->mode for SRC_FILL, SRC_FILE, SRC_HDF5 (*out stays NULL).  Takes
 * loc->data.  A prefetch (@p hint) only asks the kernel to read ahead
 * what would be read straight from the file.
 */
static int chunk_load(h5fs_reader *r, const hsize_t *cc, struct src *s, int edge, struct loc *loc, int hint,
		      h5fs__chunk **out)
{
	uint8_t *data = NULL;
	int error;

	*out = NULL;
	switch (loc->kind) {
	case LOC_FILL:
		s->mode = SRC_FILL;
		return 0;
	case LOC_PIECES:
		s->mode = SRC_HDF5;
		return 0;
	case LOC_DECODED:
		stat_add(&r->st_decoded, 1);
		return (*out = h5fs__chunk_new(loc->data, loc->len, CHUNK_CLIPPED)) ? 0 : H5FS_ENOMEM;
	case LOC_STORED:
		return chunk_from_stored(r, cc, loc->data, loc->stored, loc->mask, edge, out);
	case LOC_ADDR:
		break;
	}
	if (loc->stored == 0 || loc->stored > stored_bound(r) || !in_file(r, loc->addr, loc->stored)) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "stored size %llu at %llu is implausible for a chunk of %zu bytes",
				(unsigned long long)loc->stored, (unsigned long long)loc->addr, r->chunk_bytes);
		return chunk_error(r, cc, H5FS_ECORRUPT);
	}
	if (!chunk_filtered(r, loc->mask, edge) && loc->stored == r->chunk_bytes &&
	    (r->rank == 1 || r->cdims[r->rank - 1] * r->tsize >= SHORT_ROW ||
	     r->chunk_bytes > H5FS_READER_MAX_CHUNK)) {
		/* long rows straight from the file: no copy, no cache */
		s->mode = SRC_FILE;
		s->addr = loc->addr;
		src_shape(r, s, r->cdims);
		if (hint)
			(void)posix_fadvise(r->fd, (off_t)loc->addr, (off_t)loc->stored, POSIX_FADV_WILLNEED);
		return 0;
	}
	if (r->chunk_bytes > H5FS_READER_MAX_CHUNK) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "chunk of %zu bytes is too large to decode", r->chunk_bytes);
		return chunk_error(r, cc, H5FS_ECORRUPT);
	}
	if (!(data = malloc((size_t)loc->stored)))
		return h5fs__error_oom();
	if ((error = pread_full(r, data, (size_t)loc->stored, loc->addr)) < 0) {
		free(data);
		return chunk_error(r, cc, error);
	}
	return chunk_from_stored(r, cc, data, loc->stored, loc->mask, edge, out);
}

/* The cache key, origin and edge flag of the chunk at chunk coordinates @p cc. */
static void chunk_place(const h5fs_reader *r, const hsize_t *cc, h5fs__chunk_key *key, hsize_t *origin, int *edge)
{
	int i;

	key->dev = r->dev;
	key->ino = r->ino;
	key->obj = r->obj;
	key->index = 0;
	*edge = 0;
	for (i = 0; i < r->rank; i++) {
		key->index = key->index * r->nchunks[i] + cc[i];
		origin[i] = cc[i] * r->cdims[i];
		if (origin[i] + r->cdims[i] > r->dims[i])
			*edge = 1;
	}
}

/* Fetch the chunk at chunk coordinates @p cc into @p s. */
static int chunk_fetch(h5fs_reader *r, const hsize_t *cc, struct src *s)
{
	h5fs__chunk_key key;
	h5fs__chunk *c = NULL;
	hsize_t shape[H5S_MAX_RANK];
	struct loc loc;
	int edge, error;

	memset(s, 0, sizeof(*s));
	chunk_place(r, cc, &key, s->origin, &edge);
	stat_add(&r->st_touched, 1);
	if ((c = h5fs__chunk_cache_get(r->cache, &key))) {
		stat_add(&r->st_hits, 1);
	} else {
		h5fs_hdf5_lock();
		error = chunk_locate(r, cc, s->origin, &loc);
		h5fs_hdf5_unlock();
		if (error == 0)
			error = chunk_load(r, cc, s, edge, &loc, 0, &c);
		if (error < 0 || !c) {
			/* an error, or SRC_FILL, SRC_FILE, SRC_HDF5: nothing to keep */
			h5fs__chunk_cache_abandon(r->cache, &key);
			return error;
		}
		h5fs__chunk_cache_put(r->cache, &key, &c);
	}
	s->mode = SRC_MEM;
	s->chunk = c;
	s->data = c->data;
	s->len = c->len;
	if (c->flags & CHUNK_CLIPPED) {
		clipped_shape(r, s->origin, shape);
		src_shape(r, s, shape);
	} else {
		src_shape(r, s, r->cdims);
	}
	return 0;
}

/* Whether chunk @p cc lies in box @p k's chunk range. */
static int box_has_chunk(const h5fs_reader *r, const struct boxes *bx, int k, const hsize_t *cc)
{
	int i;

	for (i = 0; i < r->rank; i++)
		if (cc[i] < bx->clo[k * r->rank + i] || cc[i] > bx->chi[k * r->rank + i])
			return 0;
	return 1;
}

/* Copy what boxes k.. need from chunk @p cc. */
static int chunk_serve(h5fs_reader *r, const struct boxes *bx, int k, const hsize_t *cc,
		       uint8_t *buf, uint64_t off, uint64_t end)
{
	struct src s, piece;
	hsize_t lo[H5S_MAX_RANK], hi[H5S_MAX_RANK], cnt[H5S_MAX_RANK];
	int rank = r->rank, i, j, error;

	if ((error = chunk_fetch(r, cc, &s)) < 0)
		return error;
	for (j = k; j < bx->n; j++) {
		const hsize_t *bs = bx->start + j * rank, *bc = bx->count + j * rank;
		uint64_t nel = 1;
		uint8_t *tmp = NULL;

		if (!box_has_chunk(r, bx, j, cc))
			continue;
		for (i = 0; i < rank; i++) {
			hsize_t ce = s.origin[i] + r->cdims[i];

			lo[i] = bs[i] > s.origin[i] ? bs[i] : s.origin[i];
			hi[i] = bs[i] + bc[i] < ce ? bs[i] + bc[i] : ce;
			cnt[i] = hi[i] - lo[i];
			nel *= cnt[i];
		}
		if (s.mode != SRC_HDF5) {
			if ((error = copy_box(r, &s, lo, hi, buf, off, end)) < 0) {
				error = chunk_error(r, cc, error);
				goto out;
			}
			continue;
		}
		/* the intersection lies inside the request: bounded by it */
		if ((error = hdf5_read_boxes(r, lo, cnt, 1, nel, &tmp)) < 0) {
			error = chunk_error(r, cc, error);
			goto out;
		}
		memset(&piece, 0, sizeof(piece));
		piece.mode = SRC_HDF5;
		piece.data = tmp;
		piece.len = (size_t)(nel * r->tsize);
		memcpy(piece.origin, lo, (size_t)rank * sizeof(*lo));
		src_shape(r, &piece, cnt);
		error = copy_box(r, &piece, lo, hi, buf, off, end);
		free(tmp);
		if (error < 0)
			goto out;
	}
	error = 0;
out:
	h5fs__chunk_release(s.chunk);
	return error;
}

static int read_chunked(h5fs_reader *r, uint8_t *buf, uint64_t off, uint64_t end)
{
	struct boxes bx;
	hsize_t cc[H5S_MAX_RANK];
	uint64_t e0 = off / r->tsize, e1 = end / r->tsize + (end % r->tsize != 0);
	int rank = r->rank, k, i, j, seen, error;

	if ((error = boxes_make(r, e0, e1, &bx)) < 0)
		return error;
	for (k = 0; k < bx.n; k++) {
		const hsize_t *clo = bx.clo + k * rank, *chi = bx.chi + k * rank;

		memcpy(cc, clo, (size_t)rank * sizeof(*cc));
		for (;;) {
			for (seen = 0, j = 0; j < k && !seen; j++)
				seen = box_has_chunk(r, &bx, j, cc);
			if (!seen && (error = chunk_serve(r, &bx, k, cc, buf, off, end)) < 0)
				goto out;
			for (i = rank - 1; i >= 0; i--) {
				if (++cc[i] <= chi[i])
					break;
				cc[i] = clo[i];
			}
			if (i < 0)
				break;
		}
	}
out:
	boxes_free(&bx);
	return error;
}

/* ---- prefetching ----------------------------------------------------- */

static void reader_destroy(h5fs_reader *r)
{
	if (r->pf_init) {
		pthread_cond_destroy(&r->pf_cond);
		pthread_mutex_destroy(&r->pf_mu);
	}
	free(r->mem);
	free(r->fill);
	free(r->missing);
	free(r->name);
	free(r);
}

static void reader_unref(h5fs_reader *r)
{
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		reader_destroy(r);
}

static void prefetch_cancel(void *owner, uint64_t idx)
{
	(void)idx;
	reader_unref(owner);
}

/*
 * A pool worker: fetch chunk @p idx (linear over the chunk grid) into
 * the cache unless it is there or on its way.  The reservation makes
 * foreground requests for the chunk wait for this fetch.  Errors are
 * dropped: a foreground read of the chunk meets them again.
 */
static void prefetch_run(void *owner, uint64_t idx)
{
	h5fs_reader *r = owner;
	unsigned int gen = atomic_load(&r->gen);
	hsize_t cc[H5S_MAX_RANK];
	h5fs__chunk_key key;
	h5fs__chunk *c = NULL;
	struct src s;
	struct loc loc;
	int i, edge, error;

	if (atomic_load(&r->closing))
		goto out;
	for (i = r->rank - 1; i >= 0; i--) {
		cc[i] = idx % r->nchunks[i];
		idx /= r->nchunks[i];
	}
	memset(&s, 0, sizeof(s));
	chunk_place(r, cc, &key, s.origin, &edge);
	if (!h5fs__chunk_cache_reserve(r->cache, &key))
		goto out;
	h5fs_hdf5_lock();
	if (atomic_load(&r->closing)) {
		/* the reader's HDF5 ids may be gone */
		h5fs_hdf5_unlock();
		h5fs__chunk_cache_abandon(r->cache, &key);
		goto out;
	}
	/* from here on h5fs_reader_free() waits for us (we use r->fd) */
	pthread_mutex_lock(&r->pf_mu);
	r->pf_busy++;
	pthread_mutex_unlock(&r->pf_mu);
	error = chunk_locate(r, cc, s.origin, &loc);
	h5fs_hdf5_unlock();
	if (error == 0)
		error = chunk_load(r, cc, &s, edge, &loc, 1, &c);
	if (error == 0 && c) {
		if (h5fs__chunk_cache_put_if(r->cache, &key, &c, &r->gen, gen))
			stat_add(&r->st_prefetched, 1);
		h5fs__chunk_release(c);
	} else {
		h5fs__chunk_cache_abandon(r->cache, &key);
		if (error == 0 && s.mode == SRC_FILE)
			stat_add(&r->st_prefetched, 1);
	}
	pthread_mutex_lock(&r->pf_mu);
	r->pf_busy--;
	pthread_cond_broadcast(&r->pf_cond);
	pthread_mutex_unlock(&r->pf_mu);
out:
	reader_unref(r);
}

/* Queue chunk @p idx; 0 when the queue is full. */
static int prefetch_submit(h5fs_reader *r, uint64_t idx)
{
	h5fs__task t = { prefetch_run, prefetch_cancel, r, idx };

	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	if (h5fs__chunk_cache_submit(r->cache, &t))
		return 1;
	atomic_fetch_sub_explicit(&r->refs, 1, memory_order_relaxed);
	return 0;
}

/* Queue the chunks holding image bytes [a, b), in the order a read meets them (pf_mu held). */
static void prefetch_range(h5fs_reader *r, uint64_t a, uint64_t b)
{
	struct boxes bx;
	hsize_t cc[H5S_MAX_RANK];
	uint64_t e0 = a / r->tsize, e1 = b / r->tsize + (b % r->tsize != 0), idx;
	int rank = r->rank, k, i, j, seen, n = 0;

	if (boxes_make(r, e0, e1, &bx) < 0) {
		/* best effort: the read itself goes on */
		h5fs_error_clear();
		return;
	}
	for (k = 0; k < bx.n && n < PF_MAX_TASKS; k++) {
		const hsize_t *clo = bx.clo + k * rank, *chi = bx.chi + k * rank;

		memcpy(cc, clo, (size_t)rank * sizeof(*cc));
		for (;;) {
			for (seen = 0, j = 0; j < k && !seen; j++)
				seen = box_has_chunk(r, &bx, j, cc);
			if (!seen) {
				for (idx = 0, i = 0; i < rank; i++)
					idx = idx * r->nchunks[i] + cc[i];
				if (idx + 1 != r->pf_last_idx) {
					if (!prefetch_submit(r, idx) || ++n >= PF_MAX_TASKS)
						goto out;
					r->pf_last_idx = idx + 1;
				}
			}
			for (i = rank - 1; i >= 0; i--) {
				if (++cc[i] <= chi[i])
					break;
				cc[i] = clo[i];
			}
			if (i < 0)
				break;
		}
	}
out:
	boxes_free(&bx);
}

/*
 * Before serving [off, end): when the request continues the previous
 * one (starts near where it ended; FUSE workers may take neighbouring
 * requests slightly out of order), ask the pool for the chunks of the
 * next pf_window bytes not asked for yet.  A jump stops prefetching.
 */
static void prefetch(h5fs_reader *r, uint64_t off, uint64_t end)
{
	uint64_t near = r->chunk_bytes > PF_NEAR ? r->chunk_bytes : PF_NEAR, from, to;

	pthread_mutex_lock(&r->pf_mu);
	if (off + near < r->pf_last_end || off > r->pf_last_end + near) {
		r->pf_last_end = end;
		r->pf_upto = 0;
		r->pf_last_idx = 0;
		pthread_mutex_unlock(&r->pf_mu);
		return;
	}
	r->pf_last_end = end;
	to = r->size - end > r->pf_window ? end + r->pf_window : r->size;
	from = end > r->pf_upto ? end : r->pf_upto;
	if (from < to) {
		r->pf_upto = to;
		prefetch_range(r, from, to);
	}
	pthread_mutex_unlock(&r->pf_mu);
}

/* Set up prefetching for a chunked reader with a cache (best effort). */
static void prefetch_setup(h5fs_reader *r)
{
	size_t cap = h5fs__chunk_cache_capacity(r->cache);
	uint64_t window;

	if (r->kind != KIND_CHUNKED || !cap || h5fs__reader_prefetch <= 0 ||
	    r->chunk_bytes > H5FS_READER_MAX_CHUNK || r->chunk_bytes > cap / PF_CACHE_SHARE)
		return;
	window = (uint64_t)h5fs__reader_prefetch * r->chunk_bytes;
	if (window < PF_MIN_WINDOW)
		window = PF_MIN_WINDOW;
	if (window > cap / PF_CACHE_SHARE)
		window = cap / PF_CACHE_SHARE;
	if (pthread_mutex_init(&r->pf_mu, NULL) != 0)
		return;
	if (pthread_cond_init(&r->pf_cond, NULL) != 0) {
		pthread_mutex_destroy(&r->pf_mu);
		return;
	}
	r->pf_init = 1;
	r->pf_window = window;
}

static int read_hdf5(h5fs_reader *r, uint8_t *buf, uint64_t off, uint64_t end)
{
	uint64_t e0 = off / r->tsize, e1 = end / r->tsize + (end % r->tsize != 0);
	uint64_t window = FALLBACK_WINDOW / r->tsize ? FALLBACK_WINDOW / r->tsize : 1;
	uint64_t e, we, x0, x1;
	struct boxes bx;
	uint8_t *tmp;
	int error;

	for (e = e0; e < e1; e = we) {
		we = e1 - e > window ? e + window : e1;
		if ((error = boxes_make(r, e, we, &bx)) < 0)
			return error;
		error = hdf5_read_boxes(r, bx.start, bx.count, bx.n, we - e, &tmp);
		boxes_free(&bx);
		if (error < 0) {
			const h5fs_error *le = h5fs_error_last();

			h5fs__error_set(le->klass, "dataset %s: %s", reader_name(r), le->message);
			return error;
		}
		x0 = e * r->tsize > off ? e * r->tsize : off;
		x1 = we * r->tsize < end ? we * r->tsize : end;
		memcpy(buf + (x0 - off), tmp + (x0 - e * r->tsize), (size_t)(x1 - x0));
		free(tmp);
	}
	return 0;
}

int h5fs_reader_read(h5fs_reader *r, void *buf, size_t size, uint64_t off, size_t *nread)
{
	uint64_t n;
	int error = 0;

	H5FS_ASSERT_ARG(nread);
	*nread = 0;
	H5FS_ASSERT_ARG(r);
	H5FS_ASSERT_ARG(buf || !size);
	if (off >= r->size || !size)
		return 0;
	n = r->size - off < size ? r->size - off : size;
	switch (r->kind) {
	case KIND_CONTIG:
		if ((error = pread_full(r, buf, (size_t)n, r->file_off + off)) < 0) {
			const h5fs_error *le = h5fs_error_last();

			h5fs__error_set(le->klass, "dataset %s: %s", reader_name(r), le->message);
		}
		break;
	case KIND_FILL:
		fill_bytes(r, buf, (size_t)n, off);
		break;
	case KIND_MEM:
		memcpy(buf, r->mem + off, (size_t)n);
		break;
	case KIND_CHUNKED:
		if (r->pf_window)
			prefetch(r, off, off + n);
		error = read_chunked(r, buf, off, off + n);
		break;
	case KIND_HDF5:
		error = read_hdf5(r, buf, off, off + n);
		break;
	}
	if (error < 0)
		return error;
	*nread = (size_t)n;
	return 0;
}

/* Whether @p type (or a part of it) has no fixed byte image. */
static int type_is_variable(hid_t type)
{
	H5T_class_t cls = H5Tget_class(type);
	int n, i, bad = 0;
	hid_t sub;

	switch (cls) {
	case H5T_VLEN:
	case H5T_REFERENCE:
	case H5T_NO_CLASS:
		return 1;
	case H5T_STRING:
		return H5Tis_variable_str(type) != 0;
	case H5T_ARRAY:
		if ((sub = H5Tget_super(type)) < 0)
			return 1;
		bad = type_is_variable(sub);
		H5Tclose(sub);
		return bad;
	case H5T_COMPOUND:
		if ((n = H5Tget_nmembers(type)) < 0)
			return 1;
		for (i = 0; i < n && !bad; i++) {
			if ((sub = H5Tget_member_type(type, (unsigned)i)) < 0)
				return 1;
			bad = type_is_variable(sub);
			H5Tclose(sub);
		}
		return bad;
	default:
		return 0;
	}
}

/* "lzf (32000)": the name and id of filter @p idx of @p dcpl. */
static char *filter_label(hid_t dcpl, unsigned idx, int id)
{
	size_t cap = 64;
	char *name = NULL, *label = NULL;
	unsigned int flags, conf;
	size_t ncd = 0;

	for (;;) {
		free(name);
		if (!(name = malloc(cap)))
			return NULL;
		name[0] = '\0';
		if (H5Pget_filter2(dcpl, idx, &flags, &ncd, NULL, cap, name, &conf) < 0) {
			h5fs__hdf5_clear();
			name[0] = '\0';
			break;
		}
		if (strlen(name) + 1 < cap || cap >= 65536)
			break;
		cap *= 2;
	}
	if (asprintf(&label, "%s (%d)", *name ? name : "unnamed", id) < 0)
		label = NULL;
	free(name);
	return label;
}

static int open_filters(h5fs_reader *r, hid_t dcpl)
{
	int n, i;
	unsigned int opts = 0;

	if ((n = H5Pget_nfilters(dcpl)) < 0) {
		h5fs__error_hdf5("dataset %s: cannot read the filter pipeline", reader_name(r));
		return H5FS_ECORRUPT;
	}
	if (n > H5Z_MAX_NFILTERS) {
		h5fs__error_set(H5FS_ERROR_HDF5, "dataset %s: pipeline of %d filters", reader_name(r), n);
		return H5FS_ECORRUPT;
	}
	for (i = 0; i < n; i++) {
		h5fs__filter *f = &r->filters[i];
		unsigned int cd[8] = { 0 }, conf;
		size_t ncd = 8;
		char c;
		H5Z_filter_t id;

		if ((id = H5Pget_filter2(dcpl, (unsigned)i, &f->flags, &ncd, cd, 1, &c, &conf)) < 0) {
			h5fs__error_hdf5("dataset %s: cannot read filter %d", reader_name(r), i);
			return H5FS_ECORRUPT;
		}
		f->id = (int)id;
		f->ncd = ncd;
		f->cd0 = cd[0];
		if (!r->missing && H5Zfilter_avail(id) <= 0) {
			h5fs__hdf5_clear();
			if (!(r->missing = filter_label(dcpl, (unsigned)i, f->id)))
				return h5fs__error_oom();
		}
	}
	r->nfilters = n;
	r->ours = h5fs__pipeline_ours(r->filters, n);
	if (H5Pget_chunk_opts(dcpl, &opts) < 0)
		h5fs__hdf5_clear();
	r->dont_filter_partial = (opts & H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS) != 0;
	return 0;
}

static int open_fill(h5fs_reader *r, hid_t dcpl)
{
	H5D_fill_value_t st = H5D_FILL_VALUE_UNDEFINED;
	size_t i;

	if (!(r->fill = calloc(1, r->tsize)))
		return h5fs__error_oom();
	r->fill_zero = 1;
	if (H5Pfill_value_defined(dcpl, &st) < 0) {
		h5fs__hdf5_clear();
		return 0;
	}
	if (st == H5D_FILL_VALUE_UNDEFINED)
		return 0;
	if (H5Pget_fill_value(dcpl, r->memtype, r->fill) < 0) {
		/* no conversion to its own type: keep zeros */
		h5fs__hdf5_clear();
		memset(r->fill, 0, r->tsize);
		return 0;
	}
	for (i = 0; i < r->tsize; i++)
		if (r->fill[i])
			r->fill_zero = 0;
	return 0;
}

static int open_layout(h5fs_reader *r, hid_t dset, hid_t dcpl)
{
	H5D_layout_t layout = H5Pget_layout(dcpl);
	uint64_t total = 1;
	int i, n;

	if (r->size == 0) {
		r->kind = KIND_FILL;
		return 0;
	}
	/* n-bit integers: libhdf5 converts them (compact data too, at open) */
	if (r->widened && layout != H5D_COMPACT) {
		r->kind = KIND_HDF5;
		return 0;
	}
	switch (layout) {
	case H5D_COMPACT:
		if (r->size > COMPACT_MAX)
			break;
		if (!(r->mem = malloc((size_t)r->size)))
			return h5fs__error_oom();
		if (H5Dread(dset, r->memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->mem) < 0) {
			h5fs__error_hdf5("dataset %s: cannot read compact data", reader_name(r));
			return H5FS_ECORRUPT;
		}
		stat_add(&r->st_hdf5_reads, 1);
		stat_add(&r->st_bytes_read, r->size);
		r->kind = KIND_MEM;
		return 0;
	case H5D_CONTIGUOUS: {
		haddr_t off;
		hsize_t storage;

		if ((n = H5Pget_external_count(dcpl)) != 0) {
			if (n < 0)
				h5fs__hdf5_clear();
			break;
		}
		off = H5Dget_offset(dset);
		h5fs__hdf5_clear();
		if (off == HADDR_UNDEF) {
			r->kind = KIND_FILL;
			return 0;
		}
		storage = H5Dget_storage_size(dset);
		if (storage < r->size || !in_file(r, off, r->size))
			break;	/* inconsistent: let libhdf5 decide */
		r->file_off = off;
		r->kind = KIND_CONTIG;
		return 0;
	}
	case H5D_CHUNKED:
		if ((n = H5Pget_chunk(dcpl, H5S_MAX_RANK, r->cdims)) != r->rank || r->scalar) {
			h5fs__error_hdf5("dataset %s: chunk rank %d does not match rank %d",
					 reader_name(r), n, r->rank);
			return H5FS_ECORRUPT;
		}
		r->chunk_bytes = r->tsize;
		for (i = 0; i < r->rank; i++) {
			if (r->cdims[i] == 0 || r->cdims[i] > SIZE_MAX / r->chunk_bytes) {
				h5fs__error_set(H5FS_ERROR_HDF5, "dataset %s: invalid chunk shape", reader_name(r));
				return H5FS_ECORRUPT;
			}
			r->chunk_bytes *= r->cdims[i];
			r->nchunks[i] = r->dims[i] / r->cdims[i] + (r->dims[i] % r->cdims[i] != 0);
			total = total * r->nchunks[i];
		}
		/*
		 * In 1.10 H5Dget_chunk_info_by_coord() costs about 6 ns per
		 * chunk of the dataset; worth it (pread outside the lock) only
		 * while that stays small beside reading one chunk.
		 */
		r->by_coord = total <= 64 || total <= r->chunk_bytes / 32;
		if (h5fs__reader_lookup)
			r->by_coord = h5fs__reader_lookup == 1;
		r->kind = KIND_CHUNKED;
		return 0;
	default:
		break;
	}
	r->kind = KIND_HDF5;
	return 0;
}

/*
 * What to add to the chunk addresses H5Dget_chunk_info_by_coord() gives:
 * before 1.14.4 it leaves out the file's user block (HDF5 PR #4236;
 * H5Dget_offset() always counted it), so in a file with a 512-byte user
 * block every chunk would be read 512 bytes too early.  Lock held.
 */
static int chunk_addr_bias(hid_t dset, uint64_t *bias)
{
	*bias = 0;
#if H5_VERS_MAJOR == 1 && (H5_VERS_MINOR < 14 || (H5_VERS_MINOR == 14 && H5_VERS_RELEASE < 4))
	hsize_t ub = 0;
	hid_t fid, fcpl = H5I_INVALID_HID;
	int ok;

	if ((fid = H5Iget_file_id(dset)) < 0) {
		h5fs__error_hdf5("cannot find the dataset's file");
		return H5FS_EINVALID;
	}
	ok = (fcpl = H5Fget_create_plist(fid)) >= 0 && H5Pget_userblock(fcpl, &ub) >= 0;
	if (fcpl >= 0)
		H5Pclose(fcpl);
	H5Fclose(fid);
	if (!ok) {
		h5fs__error_hdf5("cannot read the file's user block size");
		return H5FS_ECORRUPT;
	}
	*bias = (uint64_t)ub;
#else
	(void)dset;
#endif
	return 0;
}

int h5fs_reader_open(h5fs_reader **out, hid_t dset, int fd, h5fs_chunk_cache *cache)
{
	h5fs_reader *r = NULL;
	hid_t ftype = H5I_INVALID_HID, space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
	H5O_info_t oi;
	H5S_class_t scls;
	struct stat st;
	hssize_t np;
	ssize_t nlen;
	int i, ndims, error = 0;

	H5FS_ASSERT_ARG(out);
	*out = NULL;
	H5FS_ASSERT_ARG(fd >= 0);
	if ((error = h5fs__init()) < 0)
		return error;
	if (fstat(fd, &st) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot stat the file descriptor: %s", strerror(errno));
		return H5FS_EINVALID;
	}
	if (!(r = calloc(1, sizeof(*r))))
		return h5fs__error_oom();
	atomic_init(&r->refs, 1);
	atomic_init(&r->closing, 0);
	atomic_init(&r->gen, 0);
	r->fd = fd;
	r->dset = H5I_INVALID_HID;
	r->memtype = H5I_INVALID_HID;
	r->fspace = H5I_INVALID_HID;
	r->cache = cache;
	r->dev = (uint64_t)st.st_dev;
	r->ino = (uint64_t)st.st_ino;
	atomic_init(&r->file_size, (uint64_t)st.st_size);

	h5fs_hdf5_lock();
	if ((nlen = H5Iget_name(dset, NULL, 0)) < 0) {
		h5fs__error_hdf5("not a dataset");
		error = H5FS_EINVALID;
		goto out;
	}
	if (!(r->name = malloc((size_t)nlen + 1))) {
		error = h5fs__error_oom();
		goto out;
	}
	if (H5Iget_name(dset, r->name, (size_t)nlen + 1) < 0)
		strcpy(r->name, "?");
	if (H5Oget_info2(dset, &oi, H5O_INFO_BASIC) < 0) {
		h5fs__error_hdf5("dataset %s: cannot get its object info", r->name);
		error = H5FS_EINVALID;
		goto out;
	}
	r->obj = (uint64_t)oi.addr;
	if ((error = chunk_addr_bias(dset, &r->chunk_addr_bias)) < 0)
		goto out;

	if ((ftype = H5Dget_type(dset)) < 0) {
		h5fs__error_hdf5("dataset %s: cannot get its type", r->name);
		error = H5FS_ECORRUPT;
		goto out;
	}
	if (type_is_variable(ftype)) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: type has no fixed byte image (variable-length or reference)", r->name);
		error = H5FS_ENOTSUPPORTED;
		goto out;
	}
	if ((r->memtype = H5Tcopy(ftype)) < 0) {
		h5fs__error_hdf5("dataset %s: cannot copy its type", r->name);
		error = H5FS_ECORRUPT;
		goto out;
	}
	{
		hid_t wt;

		if ((r->widened = h5fs_dtype_widened(&wt, ftype)) < 0) {
			error = H5FS_ECORRUPT;
			goto out;
		}
		if (r->widened) {
			H5Tclose(r->memtype);
			r->memtype = wt;
		}
	}
	r->tsize = H5Tget_size(ftype);
	if (r->tsize == 0 || r->tsize > H5FS_READER_MAX_CHUNK) {
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: element size %zu out of range", r->name, r->tsize);
		error = H5FS_ENOTSUPPORTED;
		goto out;
	}

	if ((space = H5Dget_space(dset)) < 0 || (scls = H5Sget_simple_extent_type(space)) == H5S_NO_CLASS) {
		h5fs__error_hdf5("dataset %s: cannot get its dataspace", r->name);
		error = H5FS_ECORRUPT;
		goto out;
	}
	if (scls == H5S_SCALAR) {
		r->scalar = 1;
		r->rank = 1;
		r->dims[0] = 1;
	} else if (scls == H5S_NULL) {
		r->rank = 1;
		r->dims[0] = 0;
	} else {
		if ((ndims = H5Sget_simple_extent_dims(space, r->dims, NULL)) < 0) {
			h5fs__error_hdf5("dataset %s: cannot get its shape", r->name);
			error = H5FS_ECORRUPT;
			goto out;
		}
		r->rank = ndims;
		if (ndims == 0) {
			r->scalar = 1;
			r->rank = 1;
			r->dims[0] = 1;
		}
	}
	r->npoints = 1;
	for (i = r->rank - 1; i >= 0; i--) {
		r->stride[i] = r->npoints;
		if (r->dims[i] && r->npoints > UINT64_MAX / r->dims[i]) {
			h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: too many elements", r->name);
			error = H5FS_ENOTSUPPORTED;
			goto out;
		}
		r->npoints *= r->dims[i];
	}
	np = H5Sget_simple_extent_npoints(space);
	if (np < 0 || (uint64_t)np != r->npoints || r->npoints > UINT64_MAX / r->tsize) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: byte image too large", r->name);
		error = H5FS_ENOTSUPPORTED;
		goto out;
	}
	r->size = r->npoints * r->tsize;

	if ((dcpl = H5Dget_create_plist(dset)) < 0) {
		h5fs__error_hdf5("dataset %s: cannot get its creation properties", r->name);
		error = H5FS_ECORRUPT;
		goto out;
	}
	if ((error = open_fill(r, dcpl)) < 0 ||
	    (error = open_filters(r, dcpl)) < 0 ||
	    (error = open_layout(r, dset, dcpl)) < 0)
		goto out;
	if (r->kind == KIND_CHUNKED || r->kind == KIND_HDF5) {
		if (H5Iinc_ref(dset) < 0) {
			h5fs__error_hdf5("dataset %s: cannot keep a reference", r->name);
			error = H5FS_EINVALID;
			goto out;
		}
		r->dset = dset;
		r->fspace = space;
		space = H5I_INVALID_HID;
	}
	prefetch_setup(r);
out:
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	if (ftype >= 0)
		H5Tclose(ftype);
	h5fs_hdf5_unlock();
	if (error < 0) {
		h5fs_reader_free(r);
		return error;
	}
	*out = r;
	return 0;
}

void h5fs_reader_free(h5fs_reader *r)
{
	if (!r)
		return;
	if (r->pf_window) {
		/*
		 * Tasks that have not reached their HDF5 part will not start it;
		 * queued ones go; those past it (reading r->fd) are waited for.
		 * Tasks waiting for the HDF5 lock keep the memory alive only.
		 */
		h5fs_hdf5_lock();
		atomic_store(&r->closing, 1);
		atomic_fetch_add(&r->gen, 1);
		h5fs_hdf5_unlock();
		h5fs__chunk_cache_cancel(r->cache, r);
		pthread_mutex_lock(&r->pf_mu);
		while (r->pf_busy)
			pthread_cond_wait(&r->pf_cond, &r->pf_mu);
		pthread_mutex_unlock(&r->pf_mu);
	}
	if (r->dset >= 0 || r->memtype >= 0 || r->fspace >= 0) {
		h5fs_hdf5_lock();
		if (r->fspace >= 0)
			H5Sclose(r->fspace);
		if (r->memtype >= 0)
			H5Tclose(r->memtype);
		if (r->dset >= 0)
			H5Idec_ref(r->dset);
		r->fspace = r->memtype = r->dset = H5I_INVALID_HID;
		h5fs_hdf5_unlock();
	}
	reader_unref(r);
}

uint64_t h5fs_reader_size(const h5fs_reader *r)
{
	return r ? r->size : 0;
}

int h5fs_reader_extent(h5fs_reader *r, uint64_t *file_off)
{
	H5FS_ASSERT_ARG(r);
	H5FS_ASSERT_ARG(file_off);
	if (r->kind != KIND_CONTIG) {
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: data is not stored whole in the file", reader_name(r));
		return H5FS_ENOTSUPPORTED;
	}
	*file_off = r->file_off;
	return 0;
}

/*
 * Whether each chunk's in-extent bytes are one run of the image: every
 * chunk extent past the first is the dataset's own.
 */
static int chunks_are_runs(const h5fs_reader *r)
{
	for (int i = 1; i < r->rank; i++)
		if (r->cdims[i] != r->dims[i])
			return 0;
	return 1;
}

int h5fs_reader_map(h5fs_reader *r, uint64_t off, size_t size, h5fs_reader_span *spans, size_t max,
		    size_t *nspans)
{
	uint64_t end, cb, k, k1;
	size_t n = 0;
	int error = 0;

	H5FS_ASSERT_ARG(r);
	H5FS_ASSERT_ARG(nspans);
	H5FS_ASSERT_ARG(spans || !max);
	*nspans = 0;
	if (off >= r->size || !size)
		return 0;
	end = r->size - off < size ? r->size : off + size;
	if (r->kind == KIND_CONTIG && max >= 1) {
		spans[0].file_off = r->file_off + off;
		spans[0].len = end - off;
		*nspans = 1;
		return 0;
	}
	if (r->kind != KIND_CHUNKED || r->nfilters || !r->by_coord || !chunks_are_runs(r))
		goto unsupported;
	/* chunk k holds image bytes [k * cb, (k + 1) * cb) */
	cb = r->chunk_bytes;
	k1 = (end - 1) / cb;
	if (k1 - off / cb >= max)
		goto unsupported;
	for (k = off / cb; k <= k1; k++) {
		hsize_t cc[H5S_MAX_RANK] = { 0 }, origin[H5S_MAX_RANK];
		h5fs__chunk_key key;
		struct loc loc;
		uint64_t a = k * cb > off ? k * cb : off, b = (k + 1) * cb < end ? (k + 1) * cb : end;
		int edge;

		cc[0] = k;
		chunk_place(r, cc, &key, origin, &edge);
		stat_add(&r->st_touched, 1);
		h5fs_hdf5_lock();
		error = locate_by_coord(r, cc, origin, &loc);
		h5fs_hdf5_unlock();
		if (error < 0)
			return error;
		if (loc.kind != LOC_ADDR || loc.stored != cb || chunk_filtered(r, loc.mask, edge))
			goto unsupported;
		if (!in_file(r, loc.addr, loc.stored)) {
			h5fs__error_set(H5FS_ERROR_INTERNAL, "chunk at %llu of %llu bytes lies outside the file",
					(unsigned long long)loc.addr, (unsigned long long)loc.stored);
			return chunk_error(r, cc, H5FS_ECORRUPT);
		}
		spans[n].file_off = loc.addr + (a - k * cb);
		spans[n].len = b - a;
		n++;
	}
	stat_add(&r->st_bytes_read, end - off);
	*nspans = n;
	return 0;
unsupported:
	h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: bytes %llu-%llu are not stored verbatim in the file",
			reader_name(r), (unsigned long long)off, (unsigned long long)end);
	return H5FS_ENOTSUPPORTED;
}

void h5fs_reader_stats_get(const h5fs_reader *r, h5fs_reader_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	out->bytes_read = atomic_load_explicit(&r->st_bytes_read, memory_order_relaxed);
	out->chunks_touched = atomic_load_explicit(&r->st_touched, memory_order_relaxed);
	out->chunks_decoded = atomic_load_explicit(&r->st_decoded, memory_order_relaxed);
	out->cache_hits = atomic_load_explicit(&r->st_hits, memory_order_relaxed);
	out->hdf5_reads = atomic_load_explicit(&r->st_hdf5_reads, memory_order_relaxed);
	out->prefetched = atomic_load_explicit(&r->st_prefetched, memory_order_relaxed);
}

void h5fs_reader_invalidate(h5fs_reader *r)
{
	if (!r)
		return;
	/* prefetches decoded before this point are not kept */
	atomic_fetch_add(&r->gen, 1);
	h5fs__chunk_cache_drop(r->cache, r->dev, r->ino, r->obj);
}
