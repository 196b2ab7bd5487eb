/*
 * An open dataset as the commit code and the undo log see it (commit_int.h):
 * its type, extent and element I/O in C order, and the hidden names
 * commits park datasets under.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "commit_int.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/stage.h"

static atomic_uint tmp_counter;

void h5fs__ds_close(struct h5fs__ds *ds)
{
	if (ds->type >= 0)
		H5Tclose(ds->type);
	if (ds->dset >= 0)
		H5Dclose(ds->dset);
	ds->type = ds->dset = H5I_INVALID_HID;
}

/* Types whose elements have a fixed byte image. */
int h5fs__check_fixed(hid_t type, const char *path)
{
	if (H5Tis_variable_str(type) > 0 || H5Tdetect_class(type, H5T_VLEN) > 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "cannot write '%s': variable-length data has no byte image", path);
		return H5FS_ENOTSUPPORTED;
	}
	if (H5Tdetect_class(type, H5T_REFERENCE) > 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "cannot write '%s': references have no byte image", path);
		return H5FS_ENOTSUPPORTED;
	}
	return 0;
}

/* Read the extent (again: after H5Dset_extent). */
int h5fs__ds_shape(struct h5fs__ds *ds)
{
	hid_t space = H5Dget_space(ds->dset);
	H5S_class_t cls;
	int n;

	if (space < 0 || (cls = H5Sget_simple_extent_type(space)) == H5S_NO_CLASS ||
	    (n = H5Sget_simple_extent_dims(space, ds->dims, ds->maxdims)) < 0) {
		if (space >= 0)
			H5Sclose(space);
		h5fs__error_hdf5("cannot read the shape of '%s'", ds->path);
		return H5FS_ECORRUPT;
	}
	H5Sclose(space);
	ds->ndim = n;
	ds->nelem = cls == H5S_NULL ? 0 : 1;
	for (int i = 0; i < n; i++) {
		if (ds->dims[i] && ds->nelem > H5FS_STAGE_MAX_SIZE / ds->dims[i]) {
			h5fs__error_set(H5FS_ERROR_INVALID, "dataset '%s' is too large", ds->path);
			return H5FS_ECORRUPT;
		}
		ds->nelem *= ds->dims[i];
	}
	if (ds->nelem > H5FS_STAGE_MAX_SIZE / ds->esize) {
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset '%s' is too large", ds->path);
		return H5FS_ECORRUPT;
	}
	ds->size = ds->nelem * ds->esize;
	return 0;
}

/* Open the dataset at @p path: H5FS_ENOTFOUND when nothing is there. */
int h5fs__ds_open(struct h5fs__ds *ds, hid_t fid, const char *path)
{
	H5O_info_t oi;
	hid_t ftype = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
	int error;

	ds->path = path;
	if (H5Lexists(fid, path, H5P_DEFAULT) <= 0 ||
	    H5Oget_info_by_name2(fid, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_INVALID, "no dataset at '%s'", path);
		return H5FS_ENOTFOUND;
	}
	if (oi.type != H5O_TYPE_DATASET) {
		h5fs__error_set(H5FS_ERROR_INVALID, "object '%s' is not a dataset", path);
		return H5FS_ETYPE;
	}
	/* the image's type: n-bit integers are written back through libhdf5's conversion */
	if ((ds->dset = H5Dopen2(fid, path, H5P_DEFAULT)) < 0 ||
	    (ftype = H5Dget_type(ds->dset)) < 0 ||
	    (h5fs_dtype_widened(&ds->type, ftype) <= 0 && (ds->type = H5Tcopy(ftype)) < 0) ||
	    (dcpl = H5Dget_create_plist(ds->dset)) < 0) {
		h5fs__error_hdf5("cannot open dataset '%s'", path);
		error = H5FS_ECORRUPT;
		goto out;
	}
	if ((error = h5fs__check_fixed(ftype, path)) < 0)
		goto out;
	if (!(ds->esize = H5Tget_size(ftype))) {
		h5fs__error_hdf5("cannot read the type of '%s'", path);
		error = H5FS_ECORRUPT;
		goto out;
	}
	ds->chunked = H5Pget_layout(dcpl) == H5D_CHUNKED;
	error = h5fs__ds_shape(ds);
out:
	if (ftype >= 0)
		H5Tclose(ftype);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (error < 0)
		h5fs__ds_close(ds);
	return error;
}

int h5fs_select_linear(hid_t space, int ndim, const hsize_t *dims, uint64_t e0, uint64_t e1)
{
	hsize_t start[H5S_MAX_RANK], count[H5S_MAX_RANK];
	uint64_t sz[H5S_MAX_RANK + 1];
	H5S_seloper_t op = H5S_SELECT_SET;

	if (ndim == 0)
		return H5Sselect_all(space) < 0 ? -1 : 0;
	if (ndim < 0 || ndim > H5S_MAX_RANK)
		return -1;
	if (e0 >= e1)
		return H5Sselect_none(space) < 0 ? -1 : 0;
	sz[ndim] = 1;
	for (int k = ndim - 1; k >= 0; k--)
		sz[k] = sz[k + 1] * dims[k];
	while (e0 < e1) {
		uint64_t lim, n, r = e0;
		int k;

		/* the outermost level whose blocks start at e0 and fit */
		for (k = 1; k < ndim; k++)
			if (e0 % sz[k] == 0 && e0 + sz[k] <= e1)
				break;
		/* blocks of sz[k] along dimension k-1, within the enclosing block */
		lim = (e0 / sz[k - 1] + 1) * sz[k - 1];
		if (lim > e1)
			lim = e1;
		n = (lim - e0) / sz[k];
		for (int i = 0; i < ndim; i++) {
			start[i] = r / sz[i + 1];
			r %= sz[i + 1];
			count[i] = 1;
		}
		count[k - 1] = n;
		for (int i = k; i < ndim; i++) {
			start[i] = 0;
			count[i] = dims[i];
		}
		if (H5Sselect_hyperslab(space, op, start, NULL, count, NULL) < 0)
			return -1;
		op = H5S_SELECT_OR;
		e0 += n * sz[k];
	}
	return 0;
}

/* Read or write elements [e0, e1) of @p ds from or to @p buf. */
int h5fs__ds_io(struct h5fs__ds *ds, bool write, uint64_t e0, uint64_t e1, void *buf)
{
	hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
	hsize_t n = e1 - e0;
	herr_t rc = -1;

	if (e0 >= e1)
		return 0;
	if ((fspace = H5Dget_space(ds->dset)) >= 0 &&
	    (mspace = H5Screate_simple(1, &n, NULL)) >= 0 &&
	    h5fs_select_linear(fspace, ds->ndim, ds->dims, e0, e1) == 0)
		rc = write ? H5Dwrite(ds->dset, ds->type, mspace, fspace, H5P_DEFAULT, buf)
			   : H5Dread(ds->dset, ds->type, mspace, fspace, H5P_DEFAULT, buf);
	if (rc < 0)
		h5fs__error_hdf5("cannot %s dataset '%s'", write ? "write" : "read", ds->path);
	if (fspace >= 0)
		H5Sclose(fspace);
	if (mspace >= 0)
		H5Sclose(mspace);
	return rc < 0 ? H5FS_ERROR : 0;
}

/* h5fs_stage_base_fn over an open dataset: its bytes [off, off + len). */
int h5fs__ds_base(void *buf, size_t len, uint64_t off, void *payload)
{
	struct h5fs__ds *ds = payload;
	uint64_t e0, e1, end = off + len;
	unsigned char *tmp;
	int error;

	if (end > ds->size) {	/* past the old end: zeros */
		uint64_t keep = off < ds->size ? ds->size - off : 0;

		memset((unsigned char *)buf + keep, 0, (size_t)(len - keep));
		len = (size_t)keep;
		end = off + len;
	}
	if (!len)
		return 0;
	e0 = off / ds->esize;
	e1 = (end + ds->esize - 1) / ds->esize;
	if (off % ds->esize == 0 && end % ds->esize == 0)
		return h5fs__ds_io(ds, false, e0, e1, buf);
	if (!(tmp = malloc((size_t)(e1 - e0) * ds->esize)))
		return h5fs__error_oom();
	if ((error = h5fs__ds_io(ds, false, e0, e1, tmp)) == 0)
		memcpy(buf, tmp + (off - e0 * ds->esize), len);
	free(tmp);
	return error;
}


/* A hidden name beside @p path: DIR/.h5fs-KIND.NAME.PID.N */
int h5fs__hidden_name(char **out, const char *path, const char *kind)
{
	const char *slash = strrchr(path, '/');
	unsigned int n = atomic_fetch_add(&tmp_counter, 1);

	if (asprintf(out, "%.*s/.h5fs-%s.%s.%ld.%u", (int)(slash - path), path, kind, slash + 1, (long)getpid(), n) < 0) {
		*out = NULL;
		return h5fs__error_oom();
	}
	return 0;
}


int h5fs__set_rows(struct h5fs__ds *ds, uint64_t rows)
{
	hsize_t dims[H5S_MAX_RANK];
	int error;

	memcpy(dims, ds->dims, sizeof(dims));
	dims[0] = rows;
	if (H5Dset_extent(ds->dset, dims) < 0) {
		h5fs__error_hdf5("cannot resize dataset '%s'", ds->path);
		return H5FS_ERROR;
	}
	if ((error = h5fs__ds_shape(ds)) < 0)
		return error;
	return 0;
}

