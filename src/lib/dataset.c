/*
 * Dataset reads: shape, dtype, hyperslabs in the stored type's bytes.
 *
 * Reads use a copy of the file type as the memory type, so HDF5 does no
 * conversion and the bytes are the stored image (byte order included).
 */
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "h5fs/sys/hdf5.h"

/* Open the dataset of @p ref (the caller releases with release_obj). */
static int acquire_dataset(hid_t *out, h5fs_ref *ref)
{
	int error;

	if ((error = h5fs__ref_acquire_obj(out, ref, false)) < 0)
		return error;
	if (H5Iget_type(*out) != H5I_DATASET) {
		h5fs__error_set(H5FS_ERROR_INVALID, "object '%s' is not a dataset", ref->path);
		return h5fs__ref_release_obj(ref, *out, H5FS_ETYPE);
	}
	return 0;
}

int h5fs_dataset_shape(h5fs_ref *dataset, int *ndim, uint64_t *dims, uint64_t *maxdims)
{
	hsize_t d[H5S_MAX_RANK], m[H5S_MAX_RANK];
	hid_t dset, space;
	H5S_class_t cls;
	int n, error;

	H5FS_ASSERT_ARG(dataset && ndim && dims);
	if ((error = acquire_dataset(&dset, dataset)) < 0)
		return error;
	if ((space = H5Dget_space(dset)) < 0 ||
	    (cls = H5Sget_simple_extent_type(space)) == H5S_NO_CLASS ||
	    (n = H5Sget_simple_extent_dims(space, d, m)) < 0) {
		h5fs__error_hdf5("cannot read the shape of '%s'", dataset->path);
		error = H5FS_ECORRUPT;
		goto out;
	}
	*ndim = cls == H5S_NULL ? -1 : n;
	for (int i = 0; i < n; i++) {
		dims[i] = d[i];
		if (maxdims)
			maxdims[i] = m[i] == H5S_UNLIMITED ? UINT64_MAX : m[i];
	}
out:
	if (space >= 0)
		H5Sclose(space);
	return h5fs__ref_release_obj(dataset, dset, error);
}

int h5fs_dataset_dtype(char **out, h5fs_ref *dataset)
{
	hid_t dset, type;
	int error;

	H5FS_ASSERT_ARG(out && dataset);
	if ((error = acquire_dataset(&dset, dataset)) < 0)
		return error;
	if ((type = H5Dget_type(dset)) < 0) {
		h5fs__error_hdf5("cannot read the type of '%s'", dataset->path);
		error = H5FS_ECORRUPT;
	} else {
		error = h5fs_dtype_from_hid(out, type);
		H5Tclose(type);
	}
	return h5fs__ref_release_obj(dataset, dset, error);
}

int h5fs_dataset_itemsize(size_t *out, h5fs_ref *dataset)
{
	hid_t dset, type;
	int error = 0;

	H5FS_ASSERT_ARG(out && dataset);
	if ((error = acquire_dataset(&dset, dataset)) < 0)
		return error;
	if ((type = H5Dget_type(dset)) < 0 || !(*out = H5Tget_size(type))) {
		h5fs__error_hdf5("cannot read the type of '%s'", dataset->path);
		error = H5FS_ECORRUPT;
	}
	if (type >= 0)
		H5Tclose(type);
	return h5fs__ref_release_obj(dataset, dset, error);
}

/* The stored type of @p dset, refusing types without a byte image. */
static int fixed_type(hid_t *out, hid_t dset, const char *path)
{
	hid_t type = H5Dget_type(dset);

	if (type < 0) {
		h5fs__error_hdf5("cannot read the type of '%s'", path);
		return H5FS_ECORRUPT;
	}
	if (H5Tdetect_class(type, H5T_VLEN) > 0 || H5Tis_variable_str(type) > 0 ||
	    H5Tdetect_class(type, H5T_REFERENCE) > 0) {
		H5Tclose(type);
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset '%s' has no fixed byte image (variable-length or reference type)", path);
		return H5FS_ENOTSUPPORTED;
	}
	*out = type;
	return 0;
}

int h5fs_dataset_read(h5fs_ref *dataset, const uint64_t *start, const uint64_t *count, const uint64_t *stride, void *buf, size_t bufsize)
{
	hsize_t st[H5S_MAX_RANK], ct[H5S_MAX_RANK], sd[H5S_MAX_RANK], ext[H5S_MAX_RANK];
	hid_t dset, type = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
	uint64_t npoints = 1;
	size_t size;
	int ndim, error;

	H5FS_ASSERT_ARG(dataset && buf);
	if ((error = acquire_dataset(&dset, dataset)) < 0)
		return error;
	if ((error = fixed_type(&type, dset, dataset->path)) < 0)
		goto out;
	size = H5Tget_size(type);
	if ((fspace = H5Dget_space(dset)) < 0 || (ndim = H5Sget_simple_extent_dims(fspace, ext, NULL)) < 0) {
		h5fs__error_hdf5("cannot read the shape of '%s'", dataset->path);
		error = H5FS_ECORRUPT;
		goto out;
	}
	if (ndim > 0 && (!start || !count)) {
		h5fs__error_set(H5FS_ERROR_INVALID, "a read of '%s' needs start and count", dataset->path);
		error = H5FS_EINVALID;
		goto out;
	}
	for (int i = 0; i < ndim; i++) {
		st[i] = start[i];
		ct[i] = count[i];
		sd[i] = stride ? stride[i] : 1;
		/* the last element selected must lie inside the extent */
		if (ct[i] && (sd[i] == 0 || st[i] >= ext[i] || (ct[i] - 1) > (ext[i] - 1 - st[i]) / sd[i])) {
			h5fs__error_set(H5FS_ERROR_INVALID, "selection outside the extent of '%s' in dimension %d", dataset->path, i);
			error = H5FS_EINVALID;
			goto out;
		}
		if (ct[i] && npoints > UINT64_MAX / ct[i]) {
			h5fs__error_set(H5FS_ERROR_INVALID, "selection of '%s' too large", dataset->path);
			error = H5FS_EBUFS;
			goto out;
		}
		npoints *= ct[i];
	}
	if (npoints > SIZE_MAX / size || npoints * size > bufsize) {
		h5fs__error_set(H5FS_ERROR_INVALID, "buffer of %zu bytes too small for the selection of '%s'", bufsize, dataset->path);
		error = H5FS_EBUFS;
		goto out;
	}
	if (ndim > 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, st, sd, ct, NULL) < 0) {
		h5fs__error_hdf5("invalid selection of '%s'", dataset->path);
		error = H5FS_EINVALID;
		goto out;
	}
	mspace = ndim > 0 ? H5Screate_simple(ndim, ct, NULL) : H5Screate(H5S_SCALAR);
	if (npoints && H5Dread(dset, type, mspace, fspace, H5P_DEFAULT, buf) < 0) {
		h5fs__error_hdf5("cannot read dataset '%s'", dataset->path);
		error = H5FS_ECORRUPT;
	}
out:
	if (mspace >= 0)
		H5Sclose(mspace);
	if (fspace >= 0)
		H5Sclose(fspace);
	if (type >= 0)
		H5Tclose(type);
	return h5fs__ref_release_obj(dataset, dset, error);
}

int h5fs_dataset_read_all(void **out, size_t *size, h5fs_ref *dataset)
{
	hid_t dset, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
	hssize_t npoints;
	size_t itemsize, total;
	void *buf = NULL;
	int error;

	H5FS_ASSERT_ARG(out && size && dataset);
	*out = NULL;
	*size = 0;
	if ((error = acquire_dataset(&dset, dataset)) < 0)
		return error;
	if ((error = fixed_type(&type, dset, dataset->path)) < 0)
		goto out;
	itemsize = H5Tget_size(type);
	if ((space = H5Dget_space(dset)) < 0 || (npoints = H5Sget_simple_extent_npoints(space)) < 0) {
		h5fs__error_hdf5("cannot read the shape of '%s'", dataset->path);
		error = H5FS_ECORRUPT;
		goto out;
	}
	if ((uint64_t)npoints > SIZE_MAX / itemsize) {
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset '%s' too large to read at once", dataset->path);
		error = H5FS_EBUFS;
		goto out;
	}
	total = (size_t)npoints * itemsize;
	if (!(buf = malloc(total ? total : 1))) {
		error = h5fs__error_oom();
		goto out;
	}
	if (total && H5Sget_simple_extent_type(space) != H5S_NULL &&
	    H5Dread(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
		h5fs__error_hdf5("cannot read dataset '%s'", dataset->path);
		error = H5FS_ECORRUPT;
		goto out;
	}
	*out = buf;
	*size = total;
	buf = NULL;
out:
	free(buf);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	return h5fs__ref_release_obj(dataset, dset, error);
}
