/*
 * Commit plans (h5fs_commit_plan()): what a stage becomes -- in place,
 * resize, replace or create, its dtype and shape from the declared
 * texts, the NPY header or the old dataset -- decided, and everything
 * that can be refused refused, before the file is touched.
 */
#include "commit_plan.h"

void h5fs_commit_info_release(h5fs_commit_info *info)
{
	if (!info)
		return;
	free(info->path);
	free(info->dtype);
	info->path = info->dtype = NULL;
}

static bool ends_with_npy(const char *path)
{
	size_t n = strlen(path);

	return n > 4 && !strcmp(path + n - 4, ".npy") && path[n - 5] != '/';
}

static int set_shape(h5fs_commit_info *info, uint64_t esize, uint64_t size, const char *path)
{
	if (size % esize) {
		h5fs__error_set(H5FS_ERROR_INVALID, "size %llu of '%s' is not a whole number of %llu-byte elements",
				(unsigned long long)size, path, (unsigned long long)esize);
		return H5FS_EINVALID;
	}
	info->ndim = 1;
	info->dims[0] = size / esize;
	return 0;
}

/* The shape text of user.h5.shape (h5fs_shape_parse()). */
static int parse_shape(h5fs_commit_info *info, const char *text, const char *path)
{
	if (h5fs_shape_parse(&info->ndim, info->dims, text) == 0)
		return 0;
	h5fs__error_set(H5FS_ERROR_INVALID, "shape '%s' of '%s' is not a list of sizes", text, path);
	return H5FS_EINVALID;
}

/* Bytes of @p ndim / @p dims elements of @p esize, or H5FS_EINVALID on overflow. */
static int shape_bytes(uint64_t *out, int ndim, const uint64_t *dims, uint64_t esize, const char *path)
{
	uint64_t n = esize;

	for (int i = 0; i < ndim; i++) {
		if (dims[i] && n > H5FS_STAGE_MAX_SIZE / dims[i]) {
			h5fs__error_set(H5FS_ERROR_INVALID, "shape of '%s' is too large", path);
			return H5FS_EINVALID;
		}
		n *= dims[i];
	}
	*out = n;
	return 0;
}

/* The dtype of a new dataset; sets p->type and info->dtype. */
static int plan_type(struct plan *p, const char *dtype)
{
	char *norm = NULL;
	int error;

	if ((error = h5fs_dtype_normalize(&norm, dtype)) < 0)
		return error;
	if ((error = h5fs_dtype_to_hid(&p->type, norm)) < 0) {
		free(norm);
		return error;
	}
	p->info->dtype = norm;
	return h5fs__check_fixed(p->type, p->info->path);
}

static int plan_npy(struct plan *p, const h5fs_stage *st)
{
	h5fs_commit_info *info = p->info;
	h5fs_npy_header hdr;
	unsigned char *head = NULL;
	size_t want = 4096, got;
	uint64_t bytes, esize = 0;
	int error;

	memset(&hdr, 0, sizeof(hdr));
	for (;;) {
		unsigned char *grown = realloc(head, want);

		if (!grown) {
			error = h5fs__error_oom();
			goto out;
		}
		head = grown;
		if ((error = h5fs_stage_read(st, head, want, 0, &got, NULL, NULL)) < 0)
			goto out;
		if (p->early) {
			/* only the bytes written so far from offset 0 count */
			const h5fs_stage_extent *ext;
			size_t next;

			h5fs_stage_extents(st, &ext, &next);
			if (!next || ext[0].off)
				got = 0;
			else if (ext[0].len < got)
				got = (size_t)ext[0].len;
		}
		error = h5fs_npy_header_parse(&hdr, head, got);
		if (error != H5FS_EBUFS || got < want)
			break;
		h5fs_npy_header_release(&hdr);
		if (hdr.header_len > want && hdr.header_len <= NPY_MAX_HEADER)
			want = hdr.header_len;
		else if (want < NPY_MAX_HEADER)
			want *= 2;
		else
			break;
		memset(&hdr, 0, sizeof(hdr));
	}
	if (error == H5FS_EBUFS && p->early && got < want) {
		h5fs__error_set(H5FS_ERROR_INVALID, "the NPY header of '%s' has not arrived yet", info->path);
		goto out;	/* H5FS_EBUFS: try again after more writes */
	}
	if (error < 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "'%s' does not start with a valid NPY header", info->path);
		error = H5FS_EINVALID;
		goto out;
	}
	if ((error = plan_type(p, hdr.descr)) < 0)
		goto out;
	esize = H5Tget_size(p->type);
	info->ndim = hdr.ndim;
	for (int i = 0; i < hdr.ndim; i++)
		info->dims[i] = hdr.shape[i];
	if ((error = shape_bytes(&bytes, hdr.ndim, hdr.shape, esize, info->path)) < 0)
		goto out;
	if (!p->early && h5fs_stage_size(st) - hdr.header_len != bytes) {
		h5fs__error_set(H5FS_ERROR_INVALID, "NPY data of '%s' holds %llu bytes, its header says %llu",
				info->path, (unsigned long long)(h5fs_stage_size(st) - hdr.header_len),
				(unsigned long long)bytes);
		error = H5FS_EINVALID;
		goto out;
	}
	info->data_offset = hdr.header_len;
	info->new_size = bytes;
	p->fortran = hdr.fortran_order && hdr.ndim >= 2;
	if (p->fortran && bytes > H5FS_COMMIT_MAX_TRANSPOSE) {
		h5fs__error_set(H5FS_ERROR_INVALID, "Fortran-order NPY data of '%s' is too large to transpose", info->path);
		error = H5FS_ENOTSUPPORTED;
	}
out:
	h5fs_npy_header_release(&hdr);
	free(head);
	return error;
}

static int plan_create(struct plan *p, hid_t fid, const char *path, const h5fs_stage *st, const h5fs_commit_options *opts)
{
	h5fs_commit_info *info = p->info;
	uint64_t size = h5fs_stage_size(st), bytes;
	char *parent = NULL;
	int error;

	if (!opts->dtype && !opts->shape && ends_with_npy(path) && size > 0) {
		if (!(info->path = h5fs__strndup(path, strlen(path) - 4)))
			return H5FS_ENOMEM;
		if ((error = plan_npy(p, st)) < 0)
			return error;
	} else {
		if (!(info->path = h5fs__strdup(path)))
			return H5FS_ENOMEM;
		if ((error = plan_type(p, opts->dtype ? opts->dtype : "|u1")) < 0)
			return error;
		if (opts->shape) {
			if ((error = parse_shape(info, opts->shape, path)) < 0 ||
			    (error = shape_bytes(&bytes, info->ndim, info->dims, H5Tget_size(p->type), path)) < 0)
				return error;
			info->new_size = bytes;
			if (bytes != size && !p->early) {
				h5fs__error_set(H5FS_ERROR_INVALID, "'%s' holds %llu bytes, its shape and dtype need %llu",
						path, (unsigned long long)size, (unsigned long long)bytes);
				return H5FS_EINVALID;
			}
		} else if (p->early) {
			h5fs__error_set(H5FS_ERROR_INVALID, "the size of '%s' is not known before its data", path);
			return H5FS_ENOTSUPPORTED;
		} else if ((error = set_shape(info, H5Tget_size(p->type), size, path)) < 0) {
			return error;
		}
	}
	if (!p->early)
		info->new_size = size - info->data_offset;
	info->write_bytes = info->new_size;
	info->kind = H5FS_COMMIT_CREATE;
	info->mpi_mode = "new";
	/* the group must exist; an existing object must be a dataset */
	if ((error = h5fs_path_parent(&parent, info->path)) < 0)
		return error;
	if (strcmp(parent, "/") && H5Lexists(fid, parent, H5P_DEFAULT) <= 0) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_INVALID, "no group '%s' for '%s'", parent, info->path);
		free(parent);
		return H5FS_ENOTFOUND;
	}
	free(parent);
	error = h5fs__ds_open(&p->old, fid, info->path);
	if (error == H5FS_ENOTFOUND) {
		h5fs_error_clear();
		return 0;
	}
	if (error < 0)
		return error;
	info->old_size = p->old.size;
	info->replaced = 1;
	info->mpi_mode = "replace";
	return 0;
}

/* The shape of a replacement: same trailing dims, else 1-D. */
static int replace_shape(h5fs_commit_info *info, const struct h5fs__ds *old, uint64_t size)
{
	uint64_t row = old->esize;

	for (int i = 1; i < old->ndim; i++)
		row *= old->dims[i];
	if (old->ndim >= 1 && row > 0 && size % row == 0) {
		info->ndim = old->ndim;
		info->dims[0] = size / row;
		for (int i = 1; i < old->ndim; i++)
			info->dims[i] = old->dims[i];
		return 0;
	}
	return set_shape(info, old->esize, size, info->path);
}

struct h5fs_commit_undo *h5fs__undo_of(const h5fs_commit_options *opts)
{
	return opts && opts->version >= 3 ? opts->undo : NULL;
}

static int plan_make(struct plan *p, hid_t fid, const char *path, const h5fs_stage *st, const h5fs_commit_options *opts)
{
	h5fs_commit_info *info = p->info;
	h5fs_stage_info si;
	uint64_t size;
	int error;

	h5fs_stage_info_get(st, &si);
	size = si.size;
	if (opts->create)
		return plan_create(p, fid, path, st, opts);
	if (!(info->path = h5fs__strdup(path)))
		return H5FS_ENOMEM;
	if ((error = h5fs__ds_open(&p->old, fid, path)) < 0)
		return error;
	if ((error = h5fs_dtype_from_hid(&info->dtype, p->old.type)) < 0)
		return error;
	if (si.base_size != p->old.size) {
		h5fs__error_set(H5FS_ERROR_INVALID, "dataset '%s' changed size since it was staged (%llu bytes, now %llu)",
				path, (unsigned long long)si.base_size, (unsigned long long)p->old.size);
		return H5FS_EINVALID;
	}
	info->old_size = p->old.size;
	info->new_size = size;
	info->ndim = p->old.ndim;
	for (int i = 0; i < p->old.ndim; i++)
		info->dims[i] = p->old.dims[i];
	if (!si.changed)
		return 0;
	if (size == p->old.size) {
		info->kind = H5FS_COMMIT_INPLACE;
		info->write_bytes = si.dirty_bytes + (size - si.base_limit);
		info->mpi_mode = "inplace";
		return 0;
	}
	if ((error = replace_shape(info, &p->old, size)) < 0)
		return error;
	info->mpi_mode = "replace";
	/* with an undo, a shrink keeps the old dataset whole: a replace */
	if (p->old.chunked && p->old.ndim >= 1 && info->ndim == p->old.ndim &&
	    (p->old.maxdims[0] == H5S_UNLIMITED || info->dims[0] <= p->old.maxdims[0]) &&
	    !(h5fs__undo_of(opts) && size < p->old.size && !h5fs__undo_sealed(h5fs__undo_of(opts), path))) {
		info->kind = H5FS_COMMIT_RESIZE;
		info->write_bytes = si.dirty_bytes + (size - si.base_limit);
		return 0;
	}
	info->kind = H5FS_COMMIT_REPLACE;
	info->write_bytes = size;
	info->replaced = 1;
	return 0;
}

int h5fs__plan_begin(struct plan *p, h5fs_commit_info *info, hid_t fid, const char *path, const h5fs_stage *st, const h5fs_commit_options *opts, bool early)
{
	h5fs_commit_options defaults = H5FS_COMMIT_OPTIONS_INIT;
	int error;

	memset(info, 0, sizeof(*info));
	memset(p, 0, sizeof(*p));
	p->info = info;
	p->old.dset = p->old.type = H5I_INVALID_HID;
	p->type = H5I_INVALID_HID;
	p->early = early;
	H5FS_ASSERT_ARG(fid >= 0 && path && *path == '/' && st);
	if (!opts)
		opts = &defaults;
	if (opts->version < 1 || opts->version > H5FS_COMMIT_OPTIONS_VERSION) {
		h5fs__error_set(H5FS_ERROR_INVALID, "unknown commit options version %u", opts->version);
		return H5FS_EINVALID;
	}
	if ((error = h5fs__init()) < 0)
		return error;
	return plan_make(p, fid, path, st, opts);
}

void h5fs__plan_end(struct plan *p)
{
	h5fs__ds_close(&p->old);
	if (p->type >= 0)
		H5Tclose(p->type);
	p->type = H5I_INVALID_HID;
}

int h5fs_commit_plan(h5fs_commit_info *out, hid_t fid, const char *path, const h5fs_stage *st, const h5fs_commit_options *opts)
{
	struct plan p;
	int error;

	H5FS_ASSERT_ARG(out);
	error = h5fs__plan_begin(&p, out, fid, path, st, opts, false);
	h5fs__plan_end(&p);
	return error;
}
