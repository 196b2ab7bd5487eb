/*
 * The indexer's child, datasets: type, shape, layout, filters, where the
 * bytes lie, a probe of the data, vlen string text offsets.  The layout
 * texts are shared with tree.c, which describes what the mount made.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

/* ---- datasets ----- */

static int has_vlen(hid_t t)
{
	H5T_class_t c = H5Tget_class(t);
	int r = 0;

	switch (c) {
	case H5T_VLEN:
	case H5T_REFERENCE:
		return 1;
	case H5T_STRING:
		return H5Tis_variable_str(t) > 0;
	case H5T_COMPOUND: {
		int n = H5Tget_nmembers(t);

		for (int i = 0; i < n && !r; i++) {
			hid_t m = H5Tget_member_type(t, (unsigned)i);

			if (m < 0)
				return 1;
			r = has_vlen(m);
			H5Tclose(m);
		}
		return r;
	}
	case H5T_ARRAY: {
		hid_t b = H5Tget_super(t);

		if (b < 0)
			return 1;
		r = has_vlen(b);
		H5Tclose(b);
		return r;
	}
	default:
		return 0;
	}
}

/* Shared with tree.c, which describes objects the mount itself made. */
char *h5fs_index_json_dims(int ndim, const hsize_t *d, int nulls)
{
	size_t cap = 2 + (size_t)ndim * 24;
	char *s = malloc(cap + 1);
	size_t n = 0;

	if (!s)
		return NULL;
	s[n++] = '[';
	for (int i = 0; i < ndim; i++) {
		if (i)
			n += (size_t)sprintf(s + n, ", ");
		if (nulls && d[i] == H5S_UNLIMITED)
			n += (size_t)sprintf(s + n, "null");
		else
			n += (size_t)sprintf(s + n, "%" PRIu64, (uint64_t)d[i]);
	}
	s[n++] = ']';
	s[n] = '\0';
	return s;
}

static void json_escape_into(char **buf, size_t *len, size_t *cap, const char *s)
{
	for (; *s; s++) {
		char tmp[8];
		const char *p = tmp;
		size_t n;

		if (*s == '"' || *s == '\\') {
			tmp[0] = '\\';
			tmp[1] = *s;
			n = 2;
		} else if ((unsigned char)*s < 0x20) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned char)*s);
		} else {
			tmp[0] = *s;
			n = 1;
		}
		if (*len + n + 1 > *cap) {
			size_t nc = (*cap + n + 1) * 2;
			char *nb = realloc(*buf, nc);

			if (!nb)
				return;
			*buf = nb;
			*cap = nc;
		}
		memcpy(*buf + *len, p, n);
		*len += n;
		(*buf)[*len] = '\0';
	}
}

static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (*len + (size_t)n + 1 > *cap) {
		size_t nc = (*len + (size_t)n + 1) * 2;
		char *nb = realloc(*buf, nc);

		if (!nb)
			return;
		*buf = nb;
		*cap = nc;
	}
	va_start(ap, fmt);
	vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
}

char *h5fs_index_filters_json(hid_t dcpl, int *nfilters)
{
	int n = H5Pget_nfilters(dcpl);
	size_t len = 0, cap = 64;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	s[0] = '\0';
	*nfilters = n < 0 ? 0 : n;
	appendf(&s, &len, &cap, "[");
	for (int i = 0; i < n; i++) {
		unsigned int flags = 0, cd[32], config = 0;
		size_t ncd = 32;
		char name[256] = "";
		H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof(name), name, &config);

		if (ncd > 32)
			ncd = 32;
		appendf(&s, &len, &cap, "%s{\"id\": %d, \"name\": \"", i ? ", " : "", (int)id);
		name[sizeof(name) - 1] = '\0';
		json_escape_into(&s, &len, &cap, name);
		appendf(&s, &len, &cap, "\", \"params\": [");
		for (size_t k = 0; k < ncd; k++)
			appendf(&s, &len, &cap, "%s%u", k ? ", " : "", cd[k]);
		appendf(&s, &len, &cap, "]}");
	}
	appendf(&s, &len, &cap, "]");
	return s;
}

H5D_layout_t h5fs_index_describe_layout(char **meta, hid_t dcpl, int ndim, int *nfilters)
{
	H5D_layout_t layout = H5Pget_layout(dcpl);

	meta[H5FS_M_LAYOUT] = strdup(layout == H5D_CONTIGUOUS ? "contiguous" :
				     layout == H5D_CHUNKED ? "chunked" :
				     layout == H5D_COMPACT ? "compact" :
				     layout == H5D_VIRTUAL ? "virtual" : "unknown");
	if (layout == H5D_CHUNKED && ndim > 0) {
		hsize_t cd[H5S_MAX_RANK];
		int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);

		meta[H5FS_M_CHUNKS] = nd > 0 ? h5fs_index_json_dims(nd, cd, 0) : strdup("null");
	} else {
		meta[H5FS_M_CHUNKS] = strdup("null");
	}
	meta[H5FS_M_FILTERS] = h5fs_index_filters_json(dcpl, nfilters);
	return layout;
}

/*
 * Whether a chunked layout fits its dataspace: one chunk extent per
 * dimension, none zero.  libhdf5 1.10 does not check this when it opens a
 * dataset, and reading a scalar with a chunked layout (cve-2018-11202)
 * makes it loop allocating memory, or not, depending on what the heap
 * held: a probe read cannot tell, so such datasets are never read.
 */
static int chunks_fit(hid_t dcpl, int ndim)
{
	hsize_t cd[H5S_MAX_RANK];
	int nd;

	if (ndim <= 0)
		return 0;
	nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
	if (nd != ndim)
		return 0;
	for (int i = 0; i < nd; i++)
		if (cd[i] == 0)
			return 0;
	return 1;
}

int h5fs_index_raw_offset(hid_t did, hid_t dcpl, hid_t ftype, H5D_layout_t layout, int nfilters, uint64_t size,
		       uint64_t file_size, uint64_t *off)
{
	haddr_t a;
	hid_t t;
	int narrow;

	if (layout != H5D_CONTIGUOUS || nfilters || !size || H5Pget_external_count(dcpl) != 0)
		return 0;
	/* n-bit integers are converted by libhdf5, never served raw */
	narrow = h5fs_dtype_widened(&t, ftype) != 0;
	if (t >= 0)
		H5Tclose(t);
	a = narrow ? HADDR_UNDEF : H5Dget_offset(did);
	H5Eclear2(H5E_DEFAULT);
	if (a == HADDR_UNDEF || a >= file_size || size > file_size - a)
		return 0;
	*off = a;
	return 1;
}

static void vlstr_scan(struct walker *wk, hid_t did, hid_t ftype, hid_t fspace, struct nrec *r)
{
	hid_t mtype = H5Tcopy(H5T_C_S1);
	uint64_t nblocks, total = 0, cap = 0;
	char **strs = NULL;

	if (r->nelems > MAX_VL_ELEMS) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("too many strings to index"));
		H5Tclose(mtype);
		return;
	}
	H5Tset_size(mtype, H5T_VARIABLE);
	H5Tset_cset(mtype, H5Tget_cset(ftype));
	nblocks = (r->nelems + H5FS_VL_BLOCK - 1) / H5FS_VL_BLOCK;
	strs = malloc(H5FS_VL_BLOCK * sizeof(char *));
	if (!strs)
		_exit(4);
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t a = b * H5FS_VL_BLOCK;
		uint64_t cnt = r->nelems - a < H5FS_VL_BLOCK ? r->nelems - a : H5FS_VL_BLOCK;
		hsize_t mdim = cnt;
		hid_t mspace;

		h5fs_ix_progress(wk, P_PROBE, r->addr, b);
		if (b >= cap) {
			uint64_t nc = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(r->vl_off, nc * sizeof(uint64_t));

			if (!nv)
				_exit(4);
			r->vl_off = nv;
			cap = nc;
		}
		r->vl_off[b] = total;
		r->n_vl = b + 1;
		if (h5fs_select_linear(fspace, r->ndim, r->dims, a, a + cnt) < 0) {
			h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_ix_hdf5_msg("cannot select strings"));
			break;
		}
		mspace = H5Screate_simple(1, &mdim, NULL);
		memset(strs, 0, cnt * sizeof(char *));
		if (H5Dread(did, mtype, mspace, r->ndim == 0 ? H5S_ALL : fspace, H5P_DEFAULT, strs) < 0) {
			h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_ix_hdf5_msg("cannot read strings"));
			H5Sclose(mspace);
			break;
		}
		for (uint64_t i = 0; i < cnt; i++)
			total += h5fs_vlstr_text_len(strs[i]) + 1;
		H5Dvlen_reclaim(mtype, mspace, H5P_DEFAULT, strs);
		H5Sclose(mspace);
	}
	free(strs);
	H5Tclose(mtype);
	r->size = total;
}

/*
 * A chunked dataset too large to read whole here: iterate over its whole
 * chunk index once (H5Dget_num_chunks(), the walk the daemon's lookups by
 * coordinate make) and look every chunk up in it
 * (H5Dget_chunk_storage_size(), one B-tree lookup each, the daemon's
 * other way; no data read), so that a corrupt index node crashes this
 * child rather than the daemon, wherever later reads go.  The chunk
 * bytes themselves are decoded by the library's own bounds-checked
 * decoders.  Lookups that fail are not errors here: libhdf5 1.10 fails
 * for unallocated chunks.
 */
static void walk_chunk_index(struct walker *wk, hid_t did, hid_t dcpl, struct nrec *r)
{
	hsize_t cd[H5S_MAX_RANK], cc[H5S_MAX_RANK] = { 0 }, origin[H5S_MAX_RANK], nch[H5S_MAX_RANK], nall;
	hid_t space;
	uint64_t total = 1;
	int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);

	if (nd <= 0 || nd != r->ndim)
		return;
	for (int i = 0; i < nd; i++) {
		nch[i] = r->dims[i] / cd[i] + (r->dims[i] % cd[i] != 0);
		if (nch[i] == 0)
			return;
		if (nch[i] > INDEX_WALK_BUDGET / total)
			return;
		total *= nch[i];
	}
	if (total > INDEX_WALK_BUDGET - wk->walked)
		return;
	wk->walked += total;
	/* one iteration over the whole index, as the daemon's by-coordinate lookups make */
	h5fs_ix_progress(wk, P_PROBE, r->addr, 1);
	if ((space = H5Dget_space(did)) < 0 || H5Dget_num_chunks(did, space, &nall) < 0)
		H5Eclear2(H5E_DEFAULT);
	if (space >= 0)
		H5Sclose(space);
	for (uint64_t k = 0; k < total; k++) {
		hsize_t stored;
		int i;

		if (k % 4096 == 0)
			h5fs_ix_progress(wk, P_PROBE, r->addr, 2 + k);
		for (i = 0; i < nd; i++)
			origin[i] = cc[i] * cd[i];
		if (H5Dget_chunk_storage_size(did, origin, &stored) < 0)
			H5Eclear2(H5E_DEFAULT);
		for (i = nd - 1; i >= 0 && ++cc[i] == nch[i]; i--)
			cc[i] = 0;
	}
}

/*
 * A re-index: whether dataset @p r is one the daemon's tree already shows,
 * probed: the same object (address) with the same type, extent and
 * storage, not flagged.  Its data is then not read whole again (nor its
 * chunk index walked): a re-index after each step of a simulation costs
 * the metadata walk, not a read of the file.
 */
static int known_same(struct walker *wk, const struct nrec *r)
{
	const struct h5fs_node *k;
	uint32_t id;

	if (!wk->known || !h5fs_ix_map_get(&wk->known_map, r->addr, &id) || id >= wk->known->nnodes)
		return 0;
	k = &wk->known->nodes[id];
	if (k->kind != H5FS_NK_DATASET || (k->flags & (H5FS_NF_BAD | H5FS_NF_DATA_BAD | H5FS_NF_VLSTR)) ||
	    (r->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE)) || k->esize != r->esize || k->nelems != r->nelems ||
	    k->storage != r->storage || k->ndim != r->ndim || !k->meta[H5FS_M_DTYPE] || !r->meta[H5FS_M_DTYPE] ||
	    strcmp(k->meta[H5FS_M_DTYPE], r->meta[H5FS_M_DTYPE]))
		return 0;
	for (int i = 0; i < r->ndim; i++)
		if (!k->dims || k->dims[i] != r->dims[i])
			return 0;
	return 1;
}

/* Returns whether the data was read whole (or need not be: @p seen). */
static int probe_data(struct walker *wk, hid_t did, hid_t ftype, hid_t fspace, struct nrec *r, int contig_candidate,
		      int seen)
{
	uint64_t k;
	char *hbuf = NULL, *fbuf = NULL;
	int whole = 0;
	hsize_t mdim;
	hid_t mspace;

	h5fs_ix_progress(wk, P_PROBE, r->addr, 0);
	if (h5fs_ix_skipped(wk, P_PROBE, r->addr, 0) || h5fs_ix_skipped(wk, P_PROBE, r->addr, IDX_ALL)) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("reading the data crashed libhdf5"));
		return 1;
	}
	if (r->flags & H5FS_NF_NOIMAGE || r->nelems == 0)
		return 1;
	if (r->flags & H5FS_NF_VLSTR) {
		vlstr_scan(wk, did, ftype, fspace, r);
		return 1;
	}
	/* the first elements, up to PROBE_BYTES (at least one) */
	k = PROBE_BYTES / r->esize;
	if (k < 1)
		k = 1;
	if (k > r->nelems)
		k = r->nelems;
	if (!contig_candidate)
		k = 1;
	hbuf = malloc(k * r->esize);
	if (!hbuf)
		_exit(4);
	mdim = k;
	mspace = H5Screate_simple(1, &mdim, NULL);
	if (h5fs_select_linear(fspace, r->ndim, r->dims, 0, k) < 0 ||
	    H5Dread(did, ftype, mspace, r->ndim == 0 ? H5S_ALL : fspace, H5P_DEFAULT, hbuf) < 0) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_ix_hdf5_msg("cannot read data"));
		goto out;
	}
	if (seen) {
		whole = 1;	/* probed by an earlier index, unchanged */
	} else if (!contig_candidate && r->size <= FULL_PROBE_MAX && wk->probed + r->size <= FULL_PROBE_BUDGET) {
		/*
		 * Read it all the way the daemon will: a corrupt chunk that
		 * crashes libhdf5 crashes this child, not the mount.
		 */
		h5fs_reader *rd = NULL;
		char *piece = malloc(1 << 20);
		uint64_t off = 0;

		if (!piece)
			_exit(4);
		if (h5fs_reader_open(&rd, did, wk->fd, NULL) == 0) {
			whole = 1;
			while (off < r->size) {
				size_t got = 0;

				h5fs_ix_progress(wk, P_PROBE, r->addr, 1 + off / (1 << 20));
				if (h5fs_reader_read(rd, piece, 1 << 20, off, &got) < 0 || !got) {
					char *m = NULL;

					if (asprintf(&m, "cannot read data at byte %" PRIu64 ": %s", off,
						     h5fs_error_last()->message) < 0)
						m = NULL;
					h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, m);
					break;
				}
				off += got;
			}
			h5fs_reader_free(rd);
		}
		wk->probed += r->size;
		free(piece);
		H5Eclear2(H5E_DEFAULT);
	}
	if (contig_candidate) {
		fbuf = malloc(k * r->esize);
		if (!fbuf)
			_exit(4);
		if (pread(wk->fd, fbuf, k * r->esize, (off_t)r->offset) == (ssize_t)(k * r->esize) &&
		    !memcmp(hbuf, fbuf, k * r->esize))
			r->flags |= H5FS_NF_CONTIG;
	}
out:
	H5Sclose(mspace);
	free(hbuf);
	free(fbuf);
	return whole;
}

void h5fs_ix_dataset_meta(struct walker *wk, hid_t did, struct nrec *r)
{
	hid_t ftype = -1, fspace = -1, dcpl = -1;
	hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK];
	H5D_layout_t layout;
	int nfilters = 0, contig_candidate = 0;
	char *dt = NULL;

	h5fs_ix_progress(wk, P_DSET, r->addr, 0);
	if (h5fs_ix_skipped(wk, P_DSET, r->addr, 0) || h5fs_ix_skipped(wk, P_DSET, r->addr, IDX_ALL)) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("reading the dataset's metadata crashed libhdf5"));
		return;
	}
	if ((ftype = H5Dget_type(did)) < 0 || (fspace = H5Dget_space(did)) < 0 ||
	    (dcpl = H5Dget_create_plist(did)) < 0) {
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_ix_hdf5_msg("cannot read dataset metadata"));
		goto out;
	}
	r->esize = H5Tget_size(ftype);
	switch (H5Sget_simple_extent_type(fspace)) {
	case H5S_NULL:
		r->ndim = -1;
		r->nelems = 0;
		r->meta[H5FS_M_SHAPE] = strdup("null");
		r->meta[H5FS_M_MAXSHAPE] = strdup("null");
		break;
	case H5S_SCALAR:
		r->ndim = 0;
		r->nelems = 1;
		r->meta[H5FS_M_SHAPE] = strdup("[]");
		r->meta[H5FS_M_MAXSHAPE] = strdup("[]");
		break;
	case H5S_SIMPLE: {
		int nd = H5Sget_simple_extent_dims(fspace, dims, maxdims);
		uint64_t n = 1;
		int overflow = 0;

		if (nd < 0 || nd > H5S_MAX_RANK) {
			h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_ix_hdf5_msg("cannot read the dataspace"));
			goto out;
		}
		r->ndim = nd;
		for (int i = 0; i < nd; i++) {
			r->dims[i] = dims[i];
			if (dims[i] && n > UINT64_MAX / dims[i])
				overflow = 1;
			else
				n *= dims[i];
		}
		r->nelems = overflow ? 0 : n;
		r->meta[H5FS_M_SHAPE] = h5fs_index_json_dims(nd, dims, 0);
		r->meta[H5FS_M_MAXSHAPE] = h5fs_index_json_dims(nd, maxdims, 1);
		if (overflow)
			h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("the extent overflows 64 bits"));
		break;
	}
	default:
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, h5fs_ix_hdf5_msg("cannot read the dataspace"));
		goto out;
	}
	if (h5fs_dtype_from_hid(&dt, ftype) < 0)
		H5Eclear2(H5E_DEFAULT);
	r->meta[H5FS_M_DTYPE] = dt;
	if (H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0)
		r->flags |= H5FS_NF_VLSTR;
	else if (has_vlen(ftype) || r->esize == 0 || r->esize > MAX_ESIZE)
		r->flags |= H5FS_NF_NOIMAGE;
	if (!(r->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE))) {
		if (r->esize && r->nelems > UINT64_MAX / r->esize)
			h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("the byte size overflows 64 bits"));
		else
			r->size = r->nelems * r->esize;
	}
	layout = h5fs_index_describe_layout(r->meta, dcpl, r->ndim, &nfilters);
	if (layout == H5D_CHUNKED && !chunks_fit(dcpl, r->ndim))
		h5fs_ix_set_err(r, H5FS_NF_DATA_BAD, strdup("the chunk shape does not match the dataspace"));
	r->storage = H5Dget_storage_size(did);
	if (asprintf(&r->meta[H5FS_M_STORAGE], "%" PRIu64, r->storage) < 0)
		r->meta[H5FS_M_STORAGE] = NULL;
	if (!(r->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_DATA_BAD)))
		contig_candidate = h5fs_index_raw_offset(did, dcpl, ftype, layout, nfilters, r->size, wk->file_size,
						      &r->offset);
	H5Eclear2(H5E_DEFAULT);
	if (!(r->flags & H5FS_NF_DATA_BAD) &&
	    !probe_data(wk, did, ftype, fspace, r, contig_candidate, known_same(wk, r)) &&
	    layout == H5D_CHUNKED && !(r->flags & H5FS_NF_DATA_BAD))
		walk_chunk_index(wk, did, dcpl, r);
out:
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (fspace >= 0)
		H5Sclose(fspace);
	if (ftype >= 0)
		H5Tclose(ftype);
	H5Eclear2(H5E_DEFAULT);
}
