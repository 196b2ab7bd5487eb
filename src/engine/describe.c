/*
 * The one description of a dataset: type, shape, layout, filters, where
 * its bytes lie and, for vlen strings, where each block of their text
 * starts.  The indexer's child describes what the file holds
 * (walk_dset.c), tree.c what the mount itself made, both through here.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

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

static char *filters_json(hid_t dcpl, int *nfilters)
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

static H5D_layout_t describe_layout(char **meta, hid_t dcpl, int ndim, int *nfilters)
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
	meta[H5FS_M_FILTERS] = filters_json(dcpl, nfilters);
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

/*
 * Whether a dataset's byte image is the @p size bytes at *@p off of its
 * file (@p file_size bytes): contiguous, unfiltered, not external,
 * allocated, and without n-bit integers (libhdf5 must convert those,
 * h5fs_dtype_widened()).  Then reads reply from the file (H5FS_NF_CONTIG).
 */
static int raw_offset(hid_t did, hid_t dcpl, hid_t ftype, H5D_layout_t layout, int nfilters, uint64_t size,
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

static void desc_err(struct h5fs_dset_desc *d, char *msg)
{
	d->flags |= H5FS_NF_DATA_BAD;
	if (!d->errmsg)
		d->errmsg = msg;
	else
		free(msg);
}

static void describe_space(struct h5fs_dset_desc *d, hid_t fspace)
{
	hsize_t maxdims[H5S_MAX_RANK];
	int nd;

	switch (H5Sget_simple_extent_type(fspace)) {
	case H5S_NULL:
		d->ndim = -1;
		d->meta[H5FS_M_SHAPE] = strdup("null");
		d->meta[H5FS_M_MAXSHAPE] = strdup("null");
		return;
	case H5S_SCALAR:
		d->ndim = 0;
		d->nelems = 1;
		d->meta[H5FS_M_SHAPE] = strdup("[]");
		d->meta[H5FS_M_MAXSHAPE] = strdup("[]");
		return;
	case H5S_SIMPLE:
		nd = H5Sget_simple_extent_dims(fspace, d->dims, maxdims);
		if (nd >= 0 && nd <= H5S_MAX_RANK)
			break;
		/* fall through */
	default:
		desc_err(d, h5fs_hdf5_msg("cannot read the dataspace"));
		return;
	}
	d->ndim = nd;
	d->nelems = 1;
	for (int i = 0; i < nd; i++) {
		if (d->dims[i] && d->nelems > UINT64_MAX / d->dims[i]) {
			d->nelems = 0;
			desc_err(d, strdup("the extent overflows 64 bits"));
			break;
		}
		d->nelems *= d->dims[i];
	}
	d->meta[H5FS_M_SHAPE] = h5fs_index_json_dims(nd, d->dims, 0);
	d->meta[H5FS_M_MAXSHAPE] = h5fs_index_json_dims(nd, maxdims, 1);
}

int h5fs_dset_describe_ids(struct h5fs_dset_desc *d, hid_t did, hid_t ftype, hid_t fspace, hid_t dcpl,
			   uint64_t file_size)
{
	int nfilters = 0;

	memset(d, 0, sizeof(*d));
	d->esize = H5Tget_size(ftype);
	describe_space(d, fspace);
	if (d->flags & H5FS_NF_DATA_BAD && !d->meta[H5FS_M_SHAPE])
		goto out;
	if (h5fs_dtype_from_hid(&d->meta[H5FS_M_DTYPE], ftype) < 0)
		H5Eclear2(H5E_DEFAULT);
	if (H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0)
		d->flags |= H5FS_NF_VLSTR;
	else if (has_vlen(ftype) || d->esize == 0 || d->esize > H5FS_DSET_MAX_ESIZE)
		d->flags |= H5FS_NF_NOIMAGE;
	if (!(d->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE))) {
		if (d->esize && d->nelems > UINT64_MAX / d->esize)
			desc_err(d, strdup("the byte size overflows 64 bits"));
		else
			d->size = d->nelems * d->esize;
	}
	d->layout = describe_layout(d->meta, dcpl, d->ndim, &nfilters);
	if (d->layout == H5D_CHUNKED && !chunks_fit(dcpl, d->ndim))
		desc_err(d, strdup("the chunk shape does not match the dataspace"));
	d->storage = H5Dget_storage_size(did);
	if (asprintf(&d->meta[H5FS_M_STORAGE], "%" PRIu64, d->storage) < 0)
		d->meta[H5FS_M_STORAGE] = NULL;
	if (!(d->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_DATA_BAD)))
		d->contig = raw_offset(did, dcpl, ftype, d->layout, nfilters, d->size, file_size, &d->offset);
out:
	H5Eclear2(H5E_DEFAULT);
	return d->flags & H5FS_NF_DATA_BAD ? -1 : 0;
}

int h5fs_dset_ids_open(hid_t did, hid_t *ftype, hid_t *fspace, hid_t *dcpl)
{
	*ftype = H5Dget_type(did);
	*fspace = *ftype < 0 ? H5I_INVALID_HID : H5Dget_space(did);
	*dcpl = *fspace < 0 ? H5I_INVALID_HID : H5Dget_create_plist(did);
	return *dcpl < 0 ? -1 : 0;
}

void h5fs_dset_ids_close(hid_t ftype, hid_t fspace, hid_t dcpl)
{
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (fspace >= 0)
		H5Sclose(fspace);
	if (ftype >= 0)
		H5Tclose(ftype);
	H5Eclear2(H5E_DEFAULT);
}

int h5fs_dset_describe(struct h5fs_dset_desc *d, hid_t did, uint64_t file_size)
{
	hid_t ftype, fspace, dcpl;
	int rc;

	if (h5fs_dset_ids_open(did, &ftype, &fspace, &dcpl) < 0) {
		memset(d, 0, sizeof(*d));
		desc_err(d, h5fs_hdf5_msg("cannot read dataset metadata"));
		rc = -1;
	} else {
		rc = h5fs_dset_describe_ids(d, did, ftype, fspace, dcpl, file_size);
	}
	h5fs_dset_ids_close(ftype, fspace, dcpl);
	return rc;
}

int h5fs_dset_text(struct h5fs_dset_desc *d, hid_t did, void (*step)(void *arg, uint64_t block), void *arg)
{
	hid_t ftype = H5Dget_type(did), fspace = H5Dget_space(did), mtype = H5Tcopy(H5T_C_S1);
	uint64_t nblocks = (d->nelems + H5FS_VL_BLOCK - 1) / H5FS_VL_BLOCK, total = 0;
	char **strs = NULL;

	if (ftype < 0 || fspace < 0 || mtype < 0) {
		desc_err(d, h5fs_hdf5_msg("cannot read the strings' type"));
		goto out;
	}
	if (d->nelems > H5FS_DSET_MAX_VL_ELEMS) {
		desc_err(d, strdup("too many strings to index"));
		goto out;
	}
	H5Tset_size(mtype, H5T_VARIABLE);
	H5Tset_cset(mtype, H5Tget_cset(ftype));
	free(d->vl_off);
	d->n_vl = 0;
	if (!(d->vl_off = malloc((nblocks ? nblocks : 1) * sizeof(uint64_t))) ||
	    !(strs = malloc(H5FS_VL_BLOCK * sizeof(char *)))) {
		desc_err(d, strdup("out of memory"));
		goto out;
	}
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t a = b * H5FS_VL_BLOCK;
		uint64_t cnt = d->nelems - a < H5FS_VL_BLOCK ? d->nelems - a : H5FS_VL_BLOCK;
		hsize_t mdim = cnt;
		hid_t mspace;

		if (step)
			step(arg, b);
		d->vl_off[b] = total;
		d->n_vl = b + 1;
		if (h5fs_select_linear(fspace, d->ndim, d->dims, a, a + cnt) < 0) {
			desc_err(d, h5fs_hdf5_msg("cannot select strings"));
			break;
		}
		mspace = H5Screate_simple(1, &mdim, NULL);
		memset(strs, 0, cnt * sizeof(char *));
		if (H5Dread(did, mtype, mspace, d->ndim == 0 ? H5S_ALL : fspace, H5P_DEFAULT, strs) < 0) {
			desc_err(d, h5fs_hdf5_msg("cannot read strings"));
			H5Sclose(mspace);
			break;
		}
		for (uint64_t i = 0; i < cnt; i++)
			total += h5fs_vlstr_text_len(strs[i]) + 1;
		H5Dvlen_reclaim(mtype, mspace, H5P_DEFAULT, strs);
		H5Sclose(mspace);
	}
	d->size = total;
out:
	free(strs);
	if (mtype >= 0)
		H5Tclose(mtype);
	h5fs_dset_ids_close(ftype, fspace, H5I_INVALID_HID);
	return d->flags & H5FS_NF_DATA_BAD ? -1 : 0;
}

void h5fs_dset_desc_release(struct h5fs_dset_desc *d)
{
	free(d->errmsg);
	free(d->vl_off);
	for (int i = 0; i < H5FS_M_COUNT; i++)
		free(d->meta[i]);
	memset(d, 0, sizeof(*d));
}
