/*
 * The reader's requests (h5fs_reader_read()) and its prefetching on the
 * cache's worker pool, with the reference counts that keep a reader
 * alive for its queued tasks.
 */
#include "reader_int.h"

int h5fs__reader_prefetch = H5FS__PREFETCH_AHEAD;

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

void h5fs__rd_reader_unref(h5fs_reader *r)
{
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		reader_destroy(r);
}

static void prefetch_cancel(void *owner, uint64_t idx)
{
	(void)idx;
	h5fs__rd_reader_unref(owner);
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
	h5fs__rd_chunk_place(r, cc, &key, s.origin, &edge);
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
	error = h5fs__rd_chunk_locate(r, cc, s.origin, &loc);
	h5fs_hdf5_unlock();
	if (error == 0)
		error = h5fs__rd_chunk_load(r, cc, &s, edge, &loc, 1, &c);
	if (error == 0 && c) {
		if (h5fs__chunk_cache_put_if(r->cache, &key, &c, &r->gen, gen))
			h5fs__rd_stat_add(&r->st_prefetched, 1);
		h5fs__chunk_release(c);
	} else {
		h5fs__chunk_cache_abandon(r->cache, &key);
		if (error == 0 && s.mode == SRC_FILE)
			h5fs__rd_stat_add(&r->st_prefetched, 1);
	}
	pthread_mutex_lock(&r->pf_mu);
	r->pf_busy--;
	pthread_cond_broadcast(&r->pf_cond);
	pthread_mutex_unlock(&r->pf_mu);
out:
	h5fs__rd_reader_unref(r);
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

	if (h5fs__rd_boxes_make(r, e0, e1, &bx) < 0) {
		/* best effort: the read itself goes on */
		h5fs_error_clear();
		return;
	}
	for (k = 0; k < bx.n && n < PF_MAX_TASKS; k++) {
		const hsize_t *clo = bx.clo + k * rank, *chi = bx.chi + k * rank;

		memcpy(cc, clo, (size_t)rank * sizeof(*cc));
		for (;;) {
			for (seen = 0, j = 0; j < k && !seen; j++)
				seen = h5fs__rd_box_has_chunk(r, &bx, j, cc);
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
	h5fs__rd_boxes_free(&bx);
}

/*
 * Before serving [off, end): when the request continues the previous
 * one (starts near where it ended; FUSE workers may take neighbouring
 * requests slightly out of order), ask the pool for the chunks of the
 * next pf_window bytes not asked for yet.  A jump stops prefetching.
 */
void h5fs__rd_prefetch(h5fs_reader *r, uint64_t off, uint64_t end)
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
void h5fs__rd_prefetch_setup(h5fs_reader *r)
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
		if ((error = h5fs__rd_boxes_make(r, e, we, &bx)) < 0)
			return error;
		error = h5fs__rd_hdf5_read_boxes(r, bx.start, bx.count, bx.n, we - e, &tmp);
		h5fs__rd_boxes_free(&bx);
		if (error < 0) {
			const h5fs_error *le = h5fs_error_last();

			h5fs__error_set(le->klass, "dataset %s: %s", h5fs__rd_reader_name(r), le->message);
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
		if ((error = h5fs__rd_pread_full(r, buf, (size_t)n, r->file_off + off)) < 0) {
			const h5fs_error *le = h5fs_error_last();

			h5fs__error_set(le->klass, "dataset %s: %s", h5fs__rd_reader_name(r), le->message);
		}
		break;
	case KIND_FILL:
		h5fs__rd_fill_bytes(r, buf, (size_t)n, off);
		break;
	case KIND_MEM:
		memcpy(buf, r->mem + off, (size_t)n);
		break;
	case KIND_CHUNKED:
		if (r->pf_window)
			h5fs__rd_prefetch(r, off, off + n);
		error = h5fs__rd_read_chunked(r, buf, off, off + n);
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
