/*
 * Group operations: membership, listing, deletion, creation of groups
 * and datasets, and the distributed (collective) writes.
 *
 * Collective calls (require_self, require_group, write_contiguous,
 * write_scattered) must be made by every rank of the file's
 * communicator.  Every rank reaches every collective HDF5 call even when
 * it has nothing to write (an empty selection): the reference deadlocks
 * there (spec case 72), we do not.  Errors found by one rank before a
 * collective step are agreed on first (agree()), so ranks never part
 * ways in the middle of a collective sequence.
 */
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/mpi.h"

static int require_writable(const h5fs_ref *ref)
{
	if (ref->file->writable)
		return 0;
	h5fs__error_set(H5FS_ERROR_INVALID, "simulation file '%s' is read-only", ref->file->path);
	return H5FS_EREADONLY;
}

/* The worst error of all ranks, with its message, on every rank. */
static int agree(const h5fs_file *file, int error)
{
	return h5fs__file_agree(file, error);
}

/* Open collectively; every rank returns the same result and holds no open context on failure. */
static int open_collective(h5fs_file *file)
{
	int mine = h5fs__file_open_collective(file), error = agree(file, mine);

	if (error < 0 && mine == 0)
		h5fs_file_close(file);
	return error;
}

int h5fs_group_contains(h5fs_ref *group, const char *name)
{
	char *path;
	int rc;

	H5FS_ASSERT_ARG(group && name);
	if ((rc = h5fs_path_join(&path, group->path, name)) < 0)
		return rc;
	rc = h5fs_filemap_contains(group->file, path);
	free(path);
	return rc;
}

int h5fs_group_keys(char ***out, size_t *count, h5fs_ref *group, unsigned int filter)
{
	H5FS_ASSERT_ARG(out && group);
	return h5fs_filemap_children(out, count, group->file, group->path, filter);
}

struct delete_args {
	h5fs_ref *group;
	const char *name;
	bool was_object;
};

static int delete_fn(h5fs_file *file, void *payload)
{
	struct delete_args *a = payload;
	hid_t obj = H5Oopen(file->fid, a->group->path, H5P_DEFAULT);
	htri_t has;
	int error = 0;

	if (obj < 0) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_HDF5, "group '%s' not found in file '%s'", a->group->path, file->path);
		return H5FS_ENOTFOUND;
	}
	if ((has = H5Aexists(obj, a->name)) > 0) {
		if (H5Adelete(obj, a->name) < 0) {
			h5fs__error_hdf5("cannot delete attribute '%s' of '%s'", a->name, a->group->path);
			error = H5FS_ERROR;
		}
	} else if (H5Lexists(obj, a->name, H5P_DEFAULT) > 0) {
		if (H5Ldelete(obj, a->name, H5P_DEFAULT) < 0) {
			h5fs__error_hdf5("cannot delete '%s' in '%s'", a->name, a->group->path);
			error = H5FS_ERROR;
		}
		a->was_object = true;
	} else {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_INVALID, "'%s' not found in '%s'", a->name, a->group->path);
		error = H5FS_ENOTFOUND;
	}
	H5Oclose(obj);
	return error;
}

int h5fs_group_delete(h5fs_ref *group, const char *name)
{
	struct delete_args a = { group, name, false };
	char *path;
	int error;

	H5FS_ASSERT_ARG(group && name && *name);
	if ((error = require_writable(group)) < 0)
		return error;
	if ((error = h5fs__file_root_only(group->file, delete_fn, &a)) < 0)
		return error;
	if (h5fs__file_is_parallel(group->file)) {
		/* only rank 0 may know whether it was a link or an attribute */
		int was = a.was_object;

		MPI_Bcast(&was, 1, MPI_INT, 0, group->file->comm);
		a.was_object = was;
	}
	if (!a.was_object)
		return 0;
	if ((error = h5fs_path_join(&path, group->path, name)) < 0)
		return error;
	h5fs_filemap_remove(group->file, path);
	free(path);
	return 0;
}

/* Create group @p path (with missing parents) in the open file. */
static int make_group(h5fs_file *file, const char *path)
{
	H5O_info_t oi;
	hid_t lcpl, g;

	if (!strcmp(path, "/"))
		return 0;
	if (H5Lexists(file->fid, path, H5P_DEFAULT) > 0 || h5fs__hdf5_stack_has(-1)) {
		h5fs__hdf5_clear();
		if (H5Oget_info_by_name2(file->fid, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0) {
			if (oi.type == H5O_TYPE_GROUP)
				return 0;
			h5fs__error_set(H5FS_ERROR_INVALID, "incompatible object (%s) already exists at '%s'",
					oi.type == H5O_TYPE_DATASET ? "dataset" : "datatype", path);
			return H5FS_ETYPE;
		}
		h5fs__hdf5_clear();
	}
	if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
	    H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
	    (g = H5Gcreate2(file->fid, path, lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
		h5fs__error_hdf5("cannot create group '%s'", path);
		if (lcpl >= 0)
			H5Pclose(lcpl);
		return H5FS_ERROR;
	}
	H5Pclose(lcpl);
	H5Gclose(g);
	return 0;
}

/* Record @p path and every missing ancestor as groups. */
static int map_groups(h5fs_file *file, const char *path)
{
	char **anc = NULL;
	size_t n = 0;
	int error;

	if ((error = h5fs_path_ancestors(&anc, &n, path)) < 0)
		return error;
	for (size_t i = n; i-- > 0 && error == 0;)
		error = h5fs_filemap_set(file, anc[i], H5FS_KIND_GROUP);
	h5fs_strarray_free(anc);
	if (error == 0)
		error = h5fs_filemap_set(file, path, H5FS_KIND_GROUP);
	return error;
}

int h5fs_group_require_self(h5fs_ref *group)
{
	int error;

	H5FS_ASSERT_ARG(group);
	if ((error = agree(group->file, require_writable(group))) < 0 ||
	    (error = open_collective(group->file)) < 0)
		return error;
	error = agree(group->file, make_group(group->file, group->path));
	if (h5fs_file_close(group->file) < 0 && error == 0)
		error = H5FS_ERROR;
	if (error == 0)
		error = map_groups(group->file, group->path);
	if (error == 0)
		group->status = H5FS_REF_VALID;
	return error;
}

int h5fs_group_require_group(h5fs_ref **out, h5fs_ref *group, const char *name)
{
	char *path;
	int error;

	H5FS_ASSERT_ARG(group && name);
	if (out)
		*out = NULL;
	error = require_writable(group);
	path = NULL;
	if (error == 0)
		error = h5fs_path_join(&path, group->path, name);
	if ((error = agree(group->file, error)) < 0 ||
	    (error = open_collective(group->file)) < 0)
		goto out;
	error = agree(group->file, make_group(group->file, path));
	if (h5fs_file_close(group->file) < 0 && error == 0)
		error = H5FS_ERROR;
	if (error == 0)
		error = map_groups(group->file, path);
	if (error == 0 && out) {
		error = h5fs_ref_new(out, group->file, path, H5FS_KIND_GROUP);
		if (error == 0)
			(*out)->status = H5FS_REF_VALID;
	}
out:
	free(path);
	return error;
}

/* Record dataset @p path and the groups above it (writers create them). */
static int map_dataset(h5fs_file *file, const char *path)
{
	char *parent;
	int error;

	if ((error = h5fs_path_parent(&parent, path)) < 0)
		return error;
	error = map_groups(file, parent);
	free(parent);
	if (error == 0)
		error = h5fs_filemap_set(file, path, H5FS_KIND_DATASET);
	return error;
}

/* ---- dtypes ---------------------------------------------------------- */

/*
 * numpy's "safe" casting between the type classes we create: integers
 * widen (unsigned into a wider signed), integers into floats wide enough
 * to hold them (int64 into float64 is "safe" to numpy), floats widen,
 * bools go anywhere numeric, strings into strings no shorter.
 */
static bool can_cast_safe(hid_t from, hid_t to)
{
	H5T_class_t fc = H5Tget_class(from), tc = H5Tget_class(to);
	size_t fs = H5Tget_size(from), ts = H5Tget_size(to);
	bool fbool = h5fs_dtype_is_bool(from) > 0, tbool = h5fs_dtype_is_bool(to) > 0;

	if (H5Tequal(from, to) > 0)
		return true;
	if (fbool)
		return tbool || tc == H5T_INTEGER || tc == H5T_FLOAT;
	if (tbool)
		return false;
	if (fc == H5T_INTEGER && tc == H5T_INTEGER) {
		H5T_sign_t fsg = H5Tget_sign(from), tsg = H5Tget_sign(to);

		if (fsg == tsg)
			return ts >= fs;
		if (fsg == H5T_SGN_NONE)
			return ts > fs;
		return false;
	}
	if (fc == H5T_INTEGER && tc == H5T_FLOAT)
		return (fs <= 2 && ts >= 4) || ts >= 8;
	if (fc == H5T_FLOAT && tc == H5T_FLOAT)
		return ts >= fs;
	if (fc == H5T_STRING && tc == H5T_STRING) {
		if (H5Tis_variable_str(to) > 0)
			return true;
		return H5Tis_variable_str(from) <= 0 && ts >= fs;
	}
	return false;
}

static void format_shape(h5fs_buf *b, int ndim, const hsize_t *dims)
{
	h5fs_buf_putc(b, '(');
	for (int i = 0; i < ndim; i++) {
		if (dims[i] == H5S_UNLIMITED)
			h5fs_buf_puts(b, "None");
		else
			h5fs_buf_printf(b, "%llu", (unsigned long long)dims[i]);
		if (i + 1 < ndim || ndim == 1)
			h5fs_buf_puts(b, i + 1 < ndim ? ", " : ",");
	}
	h5fs_buf_putc(b, ')');
}

static void shape_error(const char *what, int n1, const hsize_t *d1, int n2, const hsize_t *d2)
{
	h5fs_buf b = H5FS_BUF_INIT;

	h5fs_buf_printf(&b, "%s do not match (existing ", what);
	format_shape(&b, n1, d1);
	h5fs_buf_puts(&b, " vs new ");
	format_shape(&b, n2, d2);
	h5fs_buf_putc(&b, ')');
	if (h5fs_buf_check(&b) == 0)
		h5fs__error_set(H5FS_ERROR_INVALID, "%s", b.ptr);
	h5fs_buf_release(&b);
}

static bool same_dims(int n1, const hsize_t *d1, int n2, const hsize_t *d2)
{
	if (n1 != n2)
		return false;
	for (int i = 0; i < n1; i++)
		if (d1[i] != d2[i])
			return false;
	return true;
}

/* Check an existing dataset against a request (h5py 3.8's rules). */
static int check_existing(hid_t dset, const char *path, const h5fs_dataset_spec *spec, hid_t want, int exact)
{
	hsize_t dims[H5S_MAX_RANK], maxd[H5S_MAX_RANK], rdims[H5S_MAX_RANK], rmax[H5S_MAX_RANK];
	hid_t space = H5Dget_space(dset), ftype = H5Dget_type(dset);
	int ndim, error = 0;

	if (space < 0 || ftype < 0 || (ndim = H5Sget_simple_extent_dims(space, dims, maxd)) < 0) {
		h5fs__error_hdf5("cannot read the shape of '%s'", path);
		error = H5FS_ECORRUPT;
		goto out;
	}
	for (int i = 0; i < spec->ndim; i++) {
		rdims[i] = spec->dims[i];
		if (spec->maxdims)
			rmax[i] = spec->maxdims[i] == UINT64_MAX ? H5S_UNLIMITED : spec->maxdims[i];
	}
	if (spec->maxdims) {
		if (!same_dims(ndim, maxd, spec->ndim, rmax)) {
			shape_error("max shapes", ndim, maxd, spec->ndim, rmax);
			error = H5FS_ETYPE;
			goto out;
		}
	} else if (!same_dims(ndim, dims, spec->ndim, rdims)) {
		shape_error("shapes", ndim, dims, spec->ndim, rdims);
		error = H5FS_ETYPE;
		goto out;
	}
	if (exact && H5Tequal(ftype, want) <= 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "datatypes do not exactly match for '%s'", path);
		error = H5FS_ETYPE;
	} else if (!exact && !can_cast_safe(want, ftype)) {
		h5fs__error_set(H5FS_ERROR_INVALID, "datatypes cannot be safely cast for '%s'", path);
		error = H5FS_ETYPE;
	}
out:
	if (space >= 0)
		H5Sclose(space);
	if (ftype >= 0)
		H5Tclose(ftype);
	h5fs__hdf5_clear();
	return error;
}

static int create_dataset(hid_t *out, hid_t loc, const char *path, const h5fs_dataset_spec *spec, hid_t type, bool fill_now)
{
	hsize_t dims[H5S_MAX_RANK], maxd[H5S_MAX_RANK], chunks[H5S_MAX_RANK];
	hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
	hid_t lcpl = H5I_INVALID_HID;
	bool chunked = spec->chunks != NULL;
	int error = 0;

	for (int i = 0; i < spec->ndim; i++) {
		dims[i] = spec->dims[i];
		maxd[i] = spec->maxdims ? (spec->maxdims[i] == UINT64_MAX ? H5S_UNLIMITED : spec->maxdims[i]) : dims[i];
		if (maxd[i] != dims[i])
			chunked = true;
		chunks[i] = spec->chunks ? spec->chunks[i] : (dims[i] ? dims[i] : 1);
	}
	if (spec->gzip >= 0)
		chunked = true;
	if (spec->ndim == 0)
		space = H5Screate(H5S_SCALAR);
	else
		space = H5Screate_simple(spec->ndim, dims, maxd);
	if (space < 0 || (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0)
		goto hdf5_fail;
	if (chunked && spec->ndim > 0) {
		if (!spec->chunks)
			for (int i = 0; i < spec->ndim; i++)
				chunks[i] = (maxd[i] == H5S_UNLIMITED || !dims[i]) ? (i == 0 ? 1 : (dims[i] ? dims[i] : 1)) : dims[i];
		if (H5Pset_chunk(dcpl, spec->ndim, chunks) < 0)
			goto hdf5_fail;
		if (spec->gzip >= 0 && H5Pset_deflate(dcpl, (unsigned)spec->gzip) < 0)
			goto hdf5_fail;
	}
	if (spec->fill && H5Pset_fill_value(dcpl, type, spec->fill) < 0)
		goto hdf5_fail;
	/*
	 * Parallel HDF5 allocates storage at creation but writes no fill
	 * unless told to: rows no rank writes would hold stale bytes.
	 */
	if (fill_now && H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) < 0)
		goto hdf5_fail;
	if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
	    H5Pset_create_intermediate_group(lcpl, 1) < 0)
		goto hdf5_fail;
	if ((d = H5Dcreate2(loc, path, type, space, lcpl, dcpl, H5P_DEFAULT)) < 0)
		goto hdf5_fail;
	*out = d;
	goto out;
hdf5_fail:
	h5fs__error_hdf5("cannot create dataset '%s'", path);
	error = H5FS_ERROR;
out:
	if (space >= 0)
		H5Sclose(space);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (lcpl >= 0)
		H5Pclose(lcpl);
	return error;
}

/*
 * Open or create dataset @p path per @p spec in the open file; *out is
 * the dataset id on success.
 */
static int require_dataset_at(hid_t *out, h5fs_file *file, const char *path, const h5fs_dataset_spec *spec, int exact)
{
	H5O_info_t oi;
	hid_t type = H5I_INVALID_HID, d = H5I_INVALID_HID;
	int error;

	*out = H5I_INVALID_HID;
	if (spec->ndim < 0 || spec->ndim > H5S_MAX_RANK || (spec->ndim && !spec->dims)) {
		h5fs__error_set(H5FS_ERROR_INVALID, "invalid shape for '%s'", path);
		return H5FS_EINVALID;
	}
	if ((error = h5fs_dtype_to_hid(&type, spec->dtype)) < 0)
		return error;
	if (H5Oget_info_by_name2(file->fid, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0) {
		if (oi.type != H5O_TYPE_DATASET) {
			h5fs__error_set(H5FS_ERROR_INVALID, "incompatible object (group) already exists at '%s'", path);
			error = H5FS_ETYPE;
			goto out;
		}
		if ((d = H5Dopen2(file->fid, path, H5P_DEFAULT)) < 0) {
			h5fs__error_hdf5("cannot open dataset '%s'", path);
			error = H5FS_ECORRUPT;
			goto out;
		}
		if ((error = check_existing(d, path, spec, type, exact)) < 0)
			goto out;
	} else {
		h5fs__hdf5_clear();
		if ((error = create_dataset(&d, file->fid, path, spec, type, file->mpio)) < 0)
			goto out;
	}
	*out = d;
	d = H5I_INVALID_HID;
out:
	if (d >= 0)
		H5Dclose(d);
	H5Tclose(type);
	return error;
}

int h5fs_group_require_dataset(h5fs_ref *group, const char *name, const h5fs_dataset_spec *spec, int exact)
{
	hid_t d;
	char *path;
	int error;

	H5FS_ASSERT_ARG(group && name && spec && spec->dtype);
	if ((error = require_writable(group)) < 0)
		return error;
	if (group->file->fid < 0 || !group->file->write_level) {
		h5fs__error_set(H5FS_ERROR_INVALID, "require_dataset needs '%s' open for writing", group->file->path);
		return H5FS_EINVALID;
	}
	if ((error = h5fs_path_join(&path, group->path, name)) < 0)
		return error;
	error = require_dataset_at(&d, group->file, path, spec, exact);
	if (error == 0) {
		H5Dclose(d);
		error = map_dataset(group->file, path);
	}
	free(path);
	return error;
}

/* ---- add_dataset (root-only) ----------------------------------------- */

struct add_args {
	const char *path;
	const char *dtype;
	int ndim;
	const uint64_t *dims;
	const void *data;
	const char *text;	/* scalar vlen string instead */
};

static int add_fn(h5fs_file *file, void *payload)
{
	struct add_args *a = payload;
	h5fs_dataset_spec spec = H5FS_DATASET_SPEC_INIT;
	hid_t type = H5I_INVALID_HID, d = H5I_INVALID_HID;
	int error;

	if (H5Lexists(file->fid, a->path, H5P_DEFAULT) > 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "unable to create dataset '%s' (name already exists)", a->path);
		return H5FS_EEXISTS;
	}
	h5fs__hdf5_clear();
	spec.dtype = a->text ? "|O" : a->dtype;
	spec.ndim = a->text ? 0 : a->ndim;
	spec.dims = a->dims;
	if ((error = h5fs_dtype_to_hid(&type, spec.dtype)) < 0)
		return error;
	if ((error = create_dataset(&d, file->fid, a->path, &spec, type, file->mpio)) < 0)
		goto out;
	if (a->text ? H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &a->text) < 0
		    : (a->data && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) < 0)) {
		h5fs__error_hdf5("cannot write dataset '%s'", a->path);
		error = H5FS_ERROR;
	}
out:
	if (d >= 0)
		H5Dclose(d);
	if (error < 0 && d >= 0) {
		/* a half-written dataset must not stay behind */
		H5Ldelete(file->fid, a->path, H5P_DEFAULT);
		h5fs__hdf5_clear();
	}
	H5Tclose(type);
	return error;
}

static int add_common(h5fs_ref *group, const char *name, struct add_args *a)
{
	char *path;
	int error;

	if ((error = require_writable(group)) < 0)
		return error;
	if ((error = h5fs_path_join(&path, group->path, name)) < 0)
		return error;
	a->path = path;
	error = h5fs__file_root_only(group->file, add_fn, a);
	if (error == 0)
		error = map_dataset(group->file, path);
	free(path);
	return error;
}

int h5fs_group_add_dataset(h5fs_ref *group, const char *name, const char *dtype, int ndim, const uint64_t *dims, const void *data)
{
	struct add_args a = { NULL, dtype, ndim, dims, data, NULL };

	H5FS_ASSERT_ARG(group && name && dtype && ndim >= 0 && ndim <= H5FS_MAX_RANK);
	H5FS_ASSERT_ARG(ndim == 0 || dims);
	return add_common(group, name, &a);
}

int h5fs_group_add_string(h5fs_ref *group, const char *name, const char *text)
{
	struct add_args a = { NULL, NULL, 0, NULL, NULL, text };

	H5FS_ASSERT_ARG(group && name && text);
	return add_common(group, name, &a);
}

/* ---- distributed writes ---------------------------------------------- */

struct dist {
	h5fs_ref *group;
	const char *name;
	const char *dtype;
	int ndim;
	const uint64_t *local_dims;
	const void *data;
	unsigned int flags;
	/* scattered: sorted row order and indices */
	const uint64_t *indices;
};

static int dist_prepare(h5fs_dataset_spec *spec, uint64_t *gdims, const struct dist *w, uint64_t rows)
{
	gdims[0] = rows;
	for (int i = 1; i < w->ndim; i++)
		gdims[i] = w->local_dims[i];
	spec->dtype = w->dtype;
	spec->ndim = w->ndim;
	spec->dims = gdims;
	return 0;
}

/*
 * Every rank must ask for the same dtype, rank and trailing dimensions:
 * parallel HDF5 would hang or keep one rank's choice otherwise.
 */
static int same_everywhere(const struct dist *w)
{
	h5fs_file *file = w->group->file;
	uint64_t mine[H5FS_MAX_RANK + 1], lo[H5FS_MAX_RANK + 1], hi[H5FS_MAX_RANK + 1];
	uint64_t h = 1469598103934665603ULL;
	int n = H5FS_MAX_RANK + 1;

	if (!h5fs__file_is_parallel(file))
		return 0;
	memset(mine, 0, sizeof(mine));
	for (const char *c = w->dtype; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	mine[0] = h ^ (uint64_t)w->ndim;
	for (int i = 1; i < w->ndim; i++)
		mine[i] = w->local_dims[i];
	MPI_Allreduce(mine, lo, n, MPI_UINT64_T, MPI_MIN, file->comm);
	MPI_Allreduce(mine, hi, n, MPI_UINT64_T, MPI_MAX, file->comm);
	if (memcmp(lo, hi, sizeof(lo))) {
		h5fs__error_set(H5FS_ERROR_MPI, "ranks disagree on the dtype or trailing shape of '%s'", w->name);
		return H5FS_EINVALID;
	}
	return 0;
}

/* Write: open collectively, require the dataset, select, write. */
static int dist_write(const struct dist *w, uint64_t rows, uint64_t offset,
		      const uint64_t *sorted_idx, const void *data)
{
	h5fs_file *file = w->group->file;
	h5fs_dataset_spec spec = H5FS_DATASET_SPEC_INIT;
	uint64_t gdims[H5FS_MAX_RANK];
	hsize_t start[H5S_MAX_RANK], count[H5S_MAX_RANK], mdims[H5S_MAX_RANK];
	hid_t d = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
	hid_t mtype = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
	uint64_t local = w->local_dims[0];
	char *path = NULL;
	int error;

	dist_prepare(&spec, gdims, w, rows);
	error = h5fs_path_join(&path, w->group->path, w->name);
	if ((error = agree(file, error)) < 0 ||
	    (error = same_everywhere(w)) < 0 ||
	    (error = open_collective(file)) < 0) {
		free(path);
		return error;
	}
	error = require_dataset_at(&d, file, path, &spec, 0);
	if ((error = agree(file, error)) < 0)
		goto out;
	if ((error = h5fs_dtype_to_hid(&mtype, w->dtype)) < 0)
		goto hdf5_done;
	for (int i = 0; i < w->ndim; i++)
		mdims[i] = w->local_dims[i];
	fspace = H5Dget_space(d);
	mspace = H5Screate_simple(w->ndim, mdims, NULL);
	dxpl = H5Pcreate(H5P_DATASET_XFER);
	if (fspace < 0 || mspace < 0 || dxpl < 0)
		goto hdf5_fail;
	if (file->mpio && H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0)
		goto hdf5_fail;
	if (local == 0) {
		if (H5Sselect_none(fspace) < 0 || H5Sselect_none(mspace) < 0)
			goto hdf5_fail;
	} else if (!sorted_idx) {
		start[0] = offset;
		count[0] = local;
		for (int i = 1; i < w->ndim; i++) {
			start[i] = 0;
			count[i] = w->local_dims[i];
		}
		if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
			goto hdf5_fail;
	} else {
		/* one hyperslab per run of consecutive rows */
		H5S_seloper_t op = H5S_SELECT_SET;

		for (int i = 1; i < w->ndim; i++) {
			start[i] = 0;
			count[i] = w->local_dims[i];
		}
		for (uint64_t i = 0; i < local;) {
			uint64_t j = i + 1;

			while (j < local && sorted_idx[j] == sorted_idx[j - 1] + 1)
				j++;
			start[0] = sorted_idx[i];
			count[0] = j - i;
			if (H5Sselect_hyperslab(fspace, op, start, NULL, count, NULL) < 0)
				goto hdf5_fail;
			op = H5S_SELECT_OR;
			i = j;
		}
	}
	/*
	 * Every rank knows the global row count, so all skip together when
	 * there is nothing at all (MPI-IO refuses a write into the
	 * unallocated storage of an empty dataset).
	 */
	if (rows > 0 && H5Dwrite(d, mtype, mspace, fspace, dxpl, data) < 0)
		goto hdf5_fail;
	goto hdf5_done;
hdf5_fail:
	h5fs__error_hdf5("cannot write dataset '%s'", path);
	error = H5FS_ERROR;
hdf5_done:
	if (mtype >= 0)
		H5Tclose(mtype);
	if (fspace >= 0)
		H5Sclose(fspace);
	if (mspace >= 0)
		H5Sclose(mspace);
	if (dxpl >= 0)
		H5Pclose(dxpl);
out:
	if (d >= 0)
		H5Dclose(d);
	if (h5fs_file_close(file) < 0 && error == 0)
		error = H5FS_ERROR;
	error = agree(file, error);
	if (error == 0 && !(w->flags & H5FS_WRITE_NO_FILEMAP))
		error = map_dataset(file, path);
	free(path);
	return error;
}

static int dist_check(h5fs_ref *group, const char *name, const char *dtype, int ndim, const uint64_t *local_dims)
{
	int error;

	if (!group || !name || !*name || !dtype || !local_dims) {
		h5fs__error_set(H5FS_ERROR_INVALID, "invalid argument to a distributed write");
		return H5FS_EINVALID;
	}
	if (ndim < 1 || ndim > H5FS_MAX_RANK) {
		h5fs__error_set(H5FS_ERROR_INVALID, "a distributed write of '%s' needs an array of at least one dimension", name);
		return H5FS_EINVALID;
	}
	if ((error = require_writable(group)) < 0)
		return error;
	return 0;
}

int h5fs_group_write_contiguous(h5fs_ref *group, const char *name, const char *dtype, int ndim, const uint64_t *local_dims, const void *data, unsigned int flags)
{
	struct dist w = { group, name, dtype, ndim, local_dims, data, flags, NULL };
	uint64_t local, total = 0, offset = 0;
	int error;

	if ((error = agree(group ? group->file : NULL, dist_check(group, name, dtype, ndim, local_dims))) < 0)
		return error;
	local = local_dims[0];
	if (h5fs__file_is_parallel(group->file)) {
		int size, rank = h5fs__file_rank(group->file);
		uint64_t *counts;

		MPI_Comm_size(group->file->comm, &size);
		counts = calloc((size_t)size, sizeof(*counts));
		if ((error = agree(group->file, counts ? 0 : h5fs__error_oom())) < 0) {
			free(counts);
			return error;
		}
		MPI_Allgather(&local, 1, MPI_UINT64_T, counts, 1, MPI_UINT64_T, group->file->comm);
		for (int r = 0; r < size; r++) {
			if (r < rank)
				offset += counts[r];
			total += counts[r];
		}
		free(counts);
	} else {
		total = local;
	}
	return dist_write(&w, total, offset, NULL, data);
}

struct pair {
	uint64_t index;
	uint64_t row;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

int h5fs_group_write_scattered(h5fs_ref *group, const char *name, const char *dtype, int ndim, const uint64_t *local_dims, const uint64_t *indices, const void *data, unsigned int flags)
{
	struct dist w = { group, name, dtype, ndim, local_dims, data, flags, indices };
	struct pair *pairs = NULL;
	uint64_t *sorted = NULL;
	unsigned char *rows = NULL;
	size_t itemsize = 0, rowsize;
	uint64_t local;
	int64_t lmax = -1, gmax;
	int error;

	error = dist_check(group, name, dtype, ndim, local_dims);
	if (error == 0 && local_dims[0] && !indices) {
		h5fs__error_set(H5FS_ERROR_INVALID, "a scattered write of '%s' needs indices", name);
		error = H5FS_EINVALID;
	}
	if (error == 0)
		error = h5fs_dtype_itemsize(&itemsize, dtype);
	if ((error = agree(group ? group->file : NULL, error)) < 0)
		return error;
	local = local_dims[0];
	rowsize = itemsize;
	for (int i = 1; i < ndim && error == 0; i++)
		if (__builtin_mul_overflow(rowsize, local_dims[i], &rowsize))
			error = H5FS_EINVALID;
	if (error == 0 && local) {
		size_t bytes;

		if (__builtin_mul_overflow(local, rowsize, &bytes) || local > SIZE_MAX / sizeof(*pairs)) {
			error = H5FS_EINVALID;
		} else {
			pairs = malloc(local * sizeof(*pairs));
			sorted = malloc(local * sizeof(*sorted));
			rows = malloc(bytes + 1);
			if (!pairs || !sorted || !rows)
				error = h5fs__error_oom();
		}
	}
	if (error == H5FS_EINVALID)
		h5fs__error_set(H5FS_ERROR_INVALID, "a scattered write of '%s' is too large", name);
	for (uint64_t i = 0; error == 0 && i < local; i++) {
		if (indices[i] >= (uint64_t)INT64_MAX) {
			h5fs__error_set(H5FS_ERROR_INVALID, "index %llu out of range in a scattered write of '%s'",
					(unsigned long long)indices[i], name);
			error = H5FS_EINVALID;
		}
	}
	/* sort (index, row) pairs; duplicates cannot form a point selection */
	for (uint64_t i = 0; error == 0 && i < local; i++) {
		pairs[i].index = indices[i];
		pairs[i].row = i;
	}
	if (error == 0 && local) {
		qsort(pairs, local, sizeof(*pairs), cmp_pair);
		for (uint64_t i = 0; i < local; i++) {
			if (i && pairs[i].index == pairs[i - 1].index) {
				h5fs__error_set(H5FS_ERROR_INVALID, "duplicate index %llu in a scattered write of '%s'",
						(unsigned long long)pairs[i].index, name);
				error = H5FS_ETYPE;
				break;
			}
			sorted[i] = pairs[i].index;
			memcpy(rows + i * rowsize, (const unsigned char *)data + pairs[i].row * rowsize, rowsize);
		}
		if (error == 0)
			lmax = (int64_t)sorted[local - 1];
	}
	if ((error = agree(group->file, error)) < 0)
		goto out;
	gmax = lmax;
	if (h5fs__file_is_parallel(group->file))
		MPI_Allreduce(&lmax, &gmax, 1, MPI_INT64_T, MPI_MAX, group->file->comm);
	error = dist_write(&w, (uint64_t)(gmax + 1), 0, sorted, rows);
out:
	free(pairs);
	free(sorted);
	free(rows);
	return error;
}
