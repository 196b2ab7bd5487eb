/*
 * References: (file, path) pairs with bamboost's status rules.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ref.h"

static const char *status_name(h5fs_ref_status s)
{
	switch (s) {
	case H5FS_REF_VALID: return "VALID";
	case H5FS_REF_INVALID: return "INVALID";
	default: return "NOT_CHECKED";
	}
}

static int ref_alloc(h5fs_ref **out, h5fs_file *file, const char *path, h5fs_kind kind)
{
	h5fs_ref *ref = calloc(1, sizeof(*ref));
	int error;

	if (!ref)
		return h5fs__error_oom();
	if ((error = h5fs_path_normalize(&ref->path, path, 1)) < 0) {
		free(ref);
		return error;
	}
	ref->file = file;
	ref->kind = kind;
	ref->status = H5FS_REF_NOT_CHECKED;
	*out = ref;
	return 0;
}

int h5fs_ref_new(h5fs_ref **out, h5fs_file *file, const char *path, h5fs_kind kind)
{
	h5fs_ref *ref;
	h5fs_kind found = H5FS_KIND_NONE;
	int error;

	H5FS_ASSERT_ARG(out && file && path);
	*out = NULL;
	if ((error = ref_alloc(&ref, file, path, kind)) < 0)
		return error;
	/*
	 * A writable handle whose file does not exist yet: nothing to check
	 * (the object will be created); the root always exists.
	 */
	if (file->writable && access(file->path, F_OK) < 0) {
		ref->status = strcmp(ref->path, "/") ? H5FS_REF_NOT_CHECKED : H5FS_REF_VALID;
		*out = ref;
		return 0;
	}
	error = h5fs_filemap_get(&found, file, ref->path);
	if (error < 0 && error != H5FS_ENOTFOUND)
		goto fail;
	if (error == H5FS_ENOTFOUND) {
		if (!file->writable) {
			h5fs__error_set(H5FS_ERROR_INVALID, "object '%s' not found in file '%s'", ref->path, file->path);
			goto fail;
		}
		ref->status = kind == H5FS_KIND_GROUP ? H5FS_REF_INVALID : H5FS_REF_NOT_CHECKED;
	} else {
		if (kind == H5FS_KIND_GROUP && found != H5FS_KIND_GROUP) {
			h5fs__error_set(H5FS_ERROR_INVALID, "object '%s' is not a group", ref->path);
			error = H5FS_ETYPE;
			goto fail;
		}
		ref->status = H5FS_REF_VALID;
	}
	*out = ref;
	return 0;
fail:
	h5fs_ref_free(ref);
	return error;
}

int h5fs_ref_resolve(h5fs_ref **out, h5fs_file *file, const char *path)
{
	h5fs_ref *ref;
	H5O_info_t oi;
	int error;

	H5FS_ASSERT_ARG(out && file && path);
	*out = NULL;
	if ((error = ref_alloc(&ref, file, path, H5FS_KIND_NONE)) < 0)
		return error;
	if ((error = h5fs_file_open(file, "r")) < 0)
		goto fail;
	if (H5Oget_info_by_name2(file->fid, ref->path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_HDF5, "unable to open object '%s' in file '%s'", ref->path, file->path);
		error = H5FS_ENOTFOUND;
	} else if (oi.type == H5O_TYPE_GROUP) {
		ref->kind = H5FS_KIND_GROUP;
	} else if (oi.type == H5O_TYPE_DATASET) {
		ref->kind = H5FS_KIND_DATASET;
	} else {
		h5fs__error_set(H5FS_ERROR_INVALID, "object '%s' is neither a group nor a dataset", ref->path);
		error = H5FS_ETYPE;
	}
	h5fs_file_close(file);
	if (error < 0)
		goto fail;
	ref->status = H5FS_REF_VALID;
	if ((error = h5fs_filemap_set(file, ref->path, ref->kind)) < 0)
		goto fail;
	*out = ref;
	return 0;
fail:
	h5fs_ref_free(ref);
	return error;
}

void h5fs_ref_free(h5fs_ref *ref)
{
	if (!ref)
		return;
	free(ref->path);
	free(ref);
}

h5fs_ref_status h5fs_ref_status_of(const h5fs_ref *ref)
{
	return ref ? ref->status : H5FS_REF_INVALID;
}

h5fs_kind h5fs_ref_kind(const h5fs_ref *ref)
{
	return ref ? ref->kind : H5FS_KIND_NONE;
}

const char *h5fs_ref_path(const h5fs_ref *ref)
{
	return ref ? ref->path : NULL;
}

h5fs_file *h5fs_ref_file(const h5fs_ref *ref)
{
	return ref ? ref->file : NULL;
}

int h5fs_ref_parent(h5fs_ref **out, const h5fs_ref *ref)
{
	char *ppath;
	int error;

	H5FS_ASSERT_ARG(out && ref);
	if ((error = h5fs_path_parent(&ppath, ref->path)) < 0)
		return error;
	error = h5fs_ref_new(out, ref->file, ppath, H5FS_KIND_GROUP);
	free(ppath);
	return error;
}

int h5fs_ref_child(h5fs_ref **out, h5fs_ref *ref, const char *name)
{
	h5fs_kind kind = H5FS_KIND_NONE;
	char *path;
	int error;

	H5FS_ASSERT_ARG(out && ref && name);
	*out = NULL;
	if ((error = h5fs_path_join(&path, ref->path, name)) < 0)
		return error;
	error = h5fs_filemap_get(&kind, ref->file, path);
	if (error == 0 && (kind == H5FS_KIND_GROUP || kind == H5FS_KIND_DATASET)) {
		/* known from the map: no need to touch the file */
		error = ref_alloc(out, ref->file, path, kind);
		if (error == 0)
			(*out)->status = H5FS_REF_VALID;
	} else if (error == 0 || error == H5FS_ENOTFOUND) {
		error = h5fs_ref_resolve(out, ref->file, path);
	}
	free(path);
	return error;
}

int h5fs_ref_describe(char **out, const h5fs_ref *ref)
{
	h5fs_buf b = H5FS_BUF_INIT;
	const char *cls;
	int error;

	H5FS_ASSERT_ARG(out && ref);
	cls = ref->kind == H5FS_KIND_GROUP ? "Group" :
	      ref->kind == H5FS_KIND_DATASET ? "Dataset" : "H5Reference";
	h5fs_buf_printf(&b, "<HDF5 %s \"%s\" (%s, file %s)>", cls, ref->path,
			status_name(ref->status), ref->file->path);
	if ((error = h5fs_buf_check(&b)) < 0)
		return error;
	*out = h5fs_buf_detach(&b, NULL);
	return 0;
}

int h5fs_ref_check(h5fs_ref *ref)
{
	h5fs_kind kind;
	int error;

	H5FS_ASSERT_ARG(ref);
	error = h5fs_filemap_get(&kind, ref->file, ref->path);
	if (error < 0 && error != H5FS_ENOTFOUND)
		return error;
	if (error == H5FS_ENOTFOUND || (ref->kind != H5FS_KIND_NONE && kind != ref->kind))
		ref->status = H5FS_REF_INVALID;
	else
		ref->status = H5FS_REF_VALID;
	return (int)ref->status;
}

int h5fs__ref_acquire_obj(hid_t *obj, h5fs_ref *ref, bool write)
{
	int error;

	*obj = H5I_INVALID_HID;
	if ((error = h5fs_file_open(ref->file, write ? "a" : "r")) < 0)
		return error;
	if ((*obj = H5Oopen(ref->file->fid, ref->path, H5P_DEFAULT)) < 0) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_HDF5, "object '%s' not found in file '%s'", ref->path, ref->file->path);
		h5fs_file_close(ref->file);
		return H5FS_ENOTFOUND;
	}
	ref->status = H5FS_REF_VALID;
	return 0;
}

int h5fs__ref_release_obj(h5fs_ref *ref, hid_t obj, int error)
{
	if (obj >= 0 && H5Oclose(obj) < 0) {
		if (error == 0) {
			h5fs__error_hdf5("cannot close '%s'", ref->path);
			error = H5FS_ERROR;
		} else {
			h5fs__hdf5_clear();
		}
	}
	if (h5fs_file_close(ref->file) < 0 && error == 0)
		error = H5FS_ERROR;
	return error;
}
