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
#include "reader_int.h"

int h5fs__reader_lookup;

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
		h5fs__error_hdf5("dataset %s: cannot read the filter pipeline", h5fs__rd_reader_name(r));
		return H5FS_ECORRUPT;
	}
	if (n > H5Z_MAX_NFILTERS) {
		h5fs__error_set(H5FS_ERROR_HDF5, "dataset %s: pipeline of %d filters", h5fs__rd_reader_name(r), n);
		return H5FS_ECORRUPT;
	}
	for (i = 0; i < n; i++) {
		h5fs__filter *f = &r->filters[i];
		unsigned int cd[8] = { 0 }, conf;
		size_t ncd = 8;
		char c;
		H5Z_filter_t id;

		if ((id = H5Pget_filter2(dcpl, (unsigned)i, &f->flags, &ncd, cd, 1, &c, &conf)) < 0) {
			h5fs__error_hdf5("dataset %s: cannot read filter %d", h5fs__rd_reader_name(r), i);
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
			h5fs__error_hdf5("dataset %s: cannot read compact data", h5fs__rd_reader_name(r));
			return H5FS_ECORRUPT;
		}
		h5fs__rd_stat_add(&r->st_hdf5_reads, 1);
		h5fs__rd_stat_add(&r->st_bytes_read, r->size);
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
		if (storage < r->size || !h5fs__rd_in_file(r, off, r->size))
			break;	/* inconsistent: let libhdf5 decide */
		r->file_off = off;
		r->kind = KIND_CONTIG;
		return 0;
	}
	case H5D_CHUNKED:
		if ((n = H5Pget_chunk(dcpl, H5S_MAX_RANK, r->cdims)) != r->rank || r->scalar) {
			h5fs__error_hdf5("dataset %s: chunk rank %d does not match rank %d",
					 h5fs__rd_reader_name(r), n, r->rank);
			return H5FS_ECORRUPT;
		}
		r->chunk_bytes = r->tsize;
		for (i = 0; i < r->rank; i++) {
			if (r->cdims[i] == 0 || r->cdims[i] > SIZE_MAX / r->chunk_bytes) {
				h5fs__error_set(H5FS_ERROR_HDF5, "dataset %s: invalid chunk shape", h5fs__rd_reader_name(r));
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

/* The element type: a fixed byte image, the type to read it into (n-bit integers widened), its size. */
static int open_type(h5fs_reader *r, hid_t ftype)
{
	if (type_is_variable(ftype)) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: type has no fixed byte image (variable-length or reference)", r->name);
		return H5FS_ENOTSUPPORTED;
	}
	if ((r->memtype = H5Tcopy(ftype)) < 0) {
		h5fs__error_hdf5("dataset %s: cannot copy its type", r->name);
		return H5FS_ECORRUPT;
	}
	{
		hid_t wt;

		if ((r->widened = h5fs_dtype_widened(&wt, ftype)) < 0) {
			return H5FS_ECORRUPT;
		}
		if (r->widened) {
			H5Tclose(r->memtype);
			r->memtype = wt;
		}
	}
	r->tsize = H5Tget_size(ftype);
	if (r->tsize == 0 || r->tsize > H5FS_READER_MAX_CHUNK) {
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: element size %zu out of range", r->name, r->tsize);
		return H5FS_ENOTSUPPORTED;
	}
	return 0;
}

/* The extent: rank, dims, strides, elements and bytes of the image, all without overflow. */
static int open_space(h5fs_reader *r, hid_t space, H5S_class_t scls)
{
	hssize_t np;
	int i, ndims;

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
			return H5FS_ECORRUPT;
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
			return H5FS_ENOTSUPPORTED;
		}
		r->npoints *= r->dims[i];
	}
	np = H5Sget_simple_extent_npoints(space);
	if (np < 0 || (uint64_t)np != r->npoints || r->npoints > UINT64_MAX / r->tsize) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: byte image too large", r->name);
		return H5FS_ENOTSUPPORTED;
	}
	r->size = r->npoints * r->tsize;
	return 0;
}

int h5fs_reader_open(h5fs_reader **out, hid_t dset, int fd, h5fs_chunk_cache *cache)
{
	h5fs_reader *r = NULL;
	hid_t ftype = H5I_INVALID_HID, space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
	H5O_info_t oi;
	H5S_class_t scls;
	struct stat st;
	ssize_t nlen;
	int error = 0;

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
	if ((error = open_type(r, ftype)) < 0)
		goto out;

	if ((space = H5Dget_space(dset)) < 0 || (scls = H5Sget_simple_extent_type(space)) == H5S_NO_CLASS) {
		h5fs__error_hdf5("dataset %s: cannot get its dataspace", r->name);
		error = H5FS_ECORRUPT;
		goto out;
	}
	if ((error = open_space(r, space, scls)) < 0)
		goto out;

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
	h5fs__rd_prefetch_setup(r);
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
	h5fs__rd_reader_unref(r);
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
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: data is not stored whole in the file", h5fs__rd_reader_name(r));
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
		h5fs__rd_chunk_place(r, cc, &key, origin, &edge);
		h5fs__rd_stat_add(&r->st_touched, 1);
		h5fs_hdf5_lock();
		error = h5fs__rd_locate_by_coord(r, cc, origin, &loc);
		h5fs_hdf5_unlock();
		if (error < 0)
			return error;
		if (loc.kind != LOC_ADDR || loc.stored != cb || h5fs__rd_chunk_filtered(r, loc.mask, edge))
			goto unsupported;
		if (!h5fs__rd_in_file(r, loc.addr, loc.stored)) {
			h5fs__error_set(H5FS_ERROR_INTERNAL, "chunk at %llu of %llu bytes lies outside the file",
					(unsigned long long)loc.addr, (unsigned long long)loc.stored);
			return h5fs__rd_chunk_error(r, cc, H5FS_ECORRUPT);
		}
		spans[n].file_off = loc.addr + (a - k * cb);
		spans[n].len = b - a;
		n++;
	}
	h5fs__rd_stat_add(&r->st_bytes_read, end - off);
	*nspans = n;
	return 0;
unsupported:
	h5fs__error_set(H5FS_ERROR_INVALID, "dataset %s: bytes %llu-%llu are not stored verbatim in the file",
			h5fs__rd_reader_name(r), (unsigned long long)off, (unsigned long long)end);
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
