/*
 * The reader's chunks: located under the HDF5 lock (chunk_locate), loaded
 * and decoded without it (chunk_load), shared through the chunk cache,
 * and served into every box they touch.
 */
#include "reader_int.h"

int h5fs__rd_chunk_filtered(const h5fs_reader *r, unsigned int mask, int edge)
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
	if (!h5fs__rd_chunk_filtered(r, mask, edge)) {
		if (stored != r->chunk_bytes) {
			free(data);
			h5fs__error_set(H5FS_ERROR_INTERNAL, "unfiltered chunk of %llu bytes, expected %zu",
					(unsigned long long)stored, r->chunk_bytes);
			return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
		}
		return (*out = h5fs__chunk_new(data, r->chunk_bytes, 0)) ? 0 : H5FS_ENOMEM;
	}
	if ((error = h5fs__pipeline_decode(&decoded, r->filters, r->nfilters, mask, data,
					   (size_t)stored, r->chunk_bytes, r->tsize)) < 0)
		return h5fs__rd_chunk_error(r, cc, error);
	h5fs__rd_stat_add(&r->st_decoded, 1);
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
			return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
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
		return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
	}
	if (!(loc->data = malloc((size_t)stored)))
		return h5fs__error_oom();
	if (H5Dread_chunk(r->dset, H5P_DEFAULT, origin, &mask, loc->data) < 0) {
		h5fs__error_hdf5("cannot read the chunk");
		free(loc->data);
		loc->data = NULL;
		return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
	}
	h5fs__rd_stat_add(&r->st_bytes_read, stored);
	loc->kind = LOC_STORED;
	loc->stored = stored;
	loc->mask = mask;
	return 0;
}

/* Few chunks: the address from HDF5 (lock held), the bytes later by pread(). */
int h5fs__rd_locate_by_coord(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc)
{
	haddr_t addr = HADDR_UNDEF;
	hsize_t stored = 0;
	unsigned int mask = 0;

	if (H5Dget_chunk_info_by_coord(r->dset, origin, &mask, &addr, &stored) < 0) {
		h5fs__error_hdf5("cannot locate the chunk");
		return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
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

	h5fs__rd_clipped_shape(r, origin, shape);
	for (i = 0; i < r->rank; i++)
		nel *= shape[i];
	if (nel * r->tsize > H5FS_READER_MAX_CHUNK) {
		loc->kind = LOC_PIECES;
		return 0;
	}
	if ((error = h5fs__rd_hdf5_read_boxes(r, origin, shape, 1, nel, &loc->data)) < 0)
		return h5fs__rd_chunk_error(r, cc, error);
	loc->kind = LOC_DECODED;
	loc->len = (size_t)(nel * r->tsize);
	return 0;
}

/* The HDF5 part of fetching chunk @p cc (at @p origin): the lock is held. */
int h5fs__rd_chunk_locate(h5fs_reader *r, const hsize_t *cc, const hsize_t *origin, struct loc *loc)
{
	memset(loc, 0, sizeof(*loc));
	if ((r->nfilters && !r->ours) || (r->nfilters && r->chunk_bytes > H5FS_READER_MAX_CHUNK))
		return locate_hdf5(r, cc, origin, loc);
	if (r->by_coord || r->chunk_bytes > H5FS_READER_MAX_CHUNK)
		return h5fs__rd_locate_by_coord(r, cc, origin, loc);
	return locate_raw(r, cc, origin, loc);
}

/*
 * The unlocked part: turn @p loc into a chunk for the cache (*out), or
 * set s->mode for SRC_FILL, SRC_FILE, SRC_HDF5 (*out stays NULL).  Takes
 * loc->data.  A h5fs__rd_prefetch (@p hint) only asks the kernel to read ahead
 * what would be read straight from the file.
 */
int h5fs__rd_chunk_load(h5fs_reader *r, const hsize_t *cc, struct src *s, int edge, struct loc *loc, int hint,
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
		h5fs__rd_stat_add(&r->st_decoded, 1);
		return (*out = h5fs__chunk_new(loc->data, loc->len, CHUNK_CLIPPED)) ? 0 : H5FS_ENOMEM;
	case LOC_STORED:
		return chunk_from_stored(r, cc, loc->data, loc->stored, loc->mask, edge, out);
	case LOC_ADDR:
		break;
	}
	if (loc->stored == 0 || loc->stored > stored_bound(r) || !h5fs__rd_in_file(r, loc->addr, loc->stored)) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "stored size %llu at %llu is implausible for a chunk of %zu bytes",
				(unsigned long long)loc->stored, (unsigned long long)loc->addr, r->chunk_bytes);
		return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
	}
	if (!h5fs__rd_chunk_filtered(r, loc->mask, edge) && loc->stored == r->chunk_bytes &&
	    (r->rank == 1 || r->cdims[r->rank - 1] * r->tsize >= SHORT_ROW ||
	     r->chunk_bytes > H5FS_READER_MAX_CHUNK)) {
		/* long rows straight from the file: no copy, no cache */
		s->mode = SRC_FILE;
		s->addr = loc->addr;
		h5fs__rd_src_shape(r, s, r->cdims);
		if (hint)
			(void)posix_fadvise(r->fd, (off_t)loc->addr, (off_t)loc->stored, POSIX_FADV_WILLNEED);
		return 0;
	}
	if (r->chunk_bytes > H5FS_READER_MAX_CHUNK) {
		h5fs__error_set(H5FS_ERROR_INTERNAL, "chunk of %zu bytes is too large to decode", r->chunk_bytes);
		return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
	}
	if (!(data = malloc((size_t)loc->stored)))
		return h5fs__error_oom();
	if ((error = h5fs__rd_pread_full(r, data, (size_t)loc->stored, loc->addr)) < 0) {
		free(data);
		return h5fs__rd_chunk_error(r, cc, error);
	}
	return chunk_from_stored(r, cc, data, loc->stored, loc->mask, edge, out);
}

/* The cache key, origin and edge flag of the chunk at chunk coordinates @p cc. */
void h5fs__rd_chunk_place(const h5fs_reader *r, const hsize_t *cc, h5fs__chunk_key *key, hsize_t *origin, int *edge)
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
	h5fs__rd_chunk_place(r, cc, &key, s->origin, &edge);
	h5fs__rd_stat_add(&r->st_touched, 1);
	if ((c = h5fs__chunk_cache_get(r->cache, &key))) {
		h5fs__rd_stat_add(&r->st_hits, 1);
	} else {
		h5fs_hdf5_lock();
		error = h5fs__rd_chunk_locate(r, cc, s->origin, &loc);
		h5fs_hdf5_unlock();
		if (error == 0)
			error = h5fs__rd_chunk_load(r, cc, s, edge, &loc, 0, &c);
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
		h5fs__rd_clipped_shape(r, s->origin, shape);
		h5fs__rd_src_shape(r, s, shape);
	} else {
		h5fs__rd_src_shape(r, s, r->cdims);
	}
	return 0;
}

/* Whether chunk @p cc lies in box @p k's chunk range. */
int h5fs__rd_box_has_chunk(const h5fs_reader *r, const struct boxes *bx, int k, const hsize_t *cc)
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

		if (!h5fs__rd_box_has_chunk(r, bx, j, cc))
			continue;
		for (i = 0; i < rank; i++) {
			hsize_t ce = s.origin[i] + r->cdims[i];

			lo[i] = bs[i] > s.origin[i] ? bs[i] : s.origin[i];
			hi[i] = bs[i] + bc[i] < ce ? bs[i] + bc[i] : ce;
			cnt[i] = hi[i] - lo[i];
			nel *= cnt[i];
		}
		if (s.mode != SRC_HDF5) {
			if ((error = h5fs__rd_copy_box(r, &s, lo, hi, buf, off, end)) < 0) {
				error = h5fs__rd_chunk_error(r, cc, error);
				goto out;
			}
			continue;
		}
		/* the intersection lies inside the request: bounded by it */
		if ((error = h5fs__rd_hdf5_read_boxes(r, lo, cnt, 1, nel, &tmp)) < 0) {
			error = h5fs__rd_chunk_error(r, cc, error);
			goto out;
		}
		memset(&piece, 0, sizeof(piece));
		piece.mode = SRC_HDF5;
		piece.data = tmp;
		piece.len = (size_t)(nel * r->tsize);
		memcpy(piece.origin, lo, (size_t)rank * sizeof(*lo));
		h5fs__rd_src_shape(r, &piece, cnt);
		error = h5fs__rd_copy_box(r, &piece, lo, hi, buf, off, end);
		free(tmp);
		if (error < 0)
			goto out;
	}
	error = 0;
out:
	h5fs__chunk_release(s.chunk);
	return error;
}

int h5fs__rd_read_chunked(h5fs_reader *r, uint8_t *buf, uint64_t off, uint64_t end)
{
	struct boxes bx;
	hsize_t cc[H5S_MAX_RANK];
	uint64_t e0 = off / r->tsize, e1 = end / r->tsize + (end % r->tsize != 0);
	int rank = r->rank, k, i, j, seen, error;

	if ((error = h5fs__rd_boxes_make(r, e0, e1, &bx)) < 0)
		return error;
	for (k = 0; k < bx.n; k++) {
		const hsize_t *clo = bx.clo + k * rank, *chi = bx.chi + k * rank;

		memcpy(cc, clo, (size_t)rank * sizeof(*cc));
		for (;;) {
			for (seen = 0, j = 0; j < k && !seen; j++)
				seen = h5fs__rd_box_has_chunk(r, &bx, j, cc);
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
	h5fs__rd_boxes_free(&bx);
	return error;
}
