/*
 * Commit: apply a stage (stage.c) to a dataset, all or nothing.
 *
 * Everything that can be refused is refused by plan_make() before the
 * file is touched.  Then:
 *
 * - in place / resize: the ranges to write (dirty extents, plus the
 *   zeroed tail above the base limit) are merged when closer than
 *   GAP_MERGE bytes and cut into windows of at most WINDOW bytes, each a
 *   run of whole elements.  For each window the old elements are read
 *   (they fill the partial elements and gaps, and go to the undo log),
 *   the stage is overlaid and the window written.  A failure writes the
 *   undo log back in reverse and restores the extent;
 * - replace / create: a new dataset under a hidden name gets the whole
 *   image window by window, then swap_links() puts it in place.
 *
 * A run of elements [e0, e1) in C order is selected as a union of at most
 * 2 * ndim - 1 hyperslabs (select_linear()), and read or written against
 * a 1-D memory space whose type is a copy of the file type, so HDF5
 * converts nothing.
 */
#include "commit_plan.h"

/* ---- in place and resize --------------------------------------------- */

/*
 * Write the ranges of @p st that changed below @p limit (bytes) into
 * @p ds, keeping what they overwrite in @p u; with @p save_only, just
 * keep it (before another process writes them: h5fs_commit_undo_expect()).
 */
static int write_ranges(struct h5fs__ds *ds, const h5fs_stage *st, uint64_t limit, uint64_t old_nelem,
			struct h5fs__undo_log *u, bool save_only)
{
	const h5fs_stage_extent *ext;
	h5fs_stage_info si;
	size_t next, i = 0, welems = WINDOW / ds->esize ? WINDOW / ds->esize : 1;
	unsigned char *buf = NULL;
	int error = 0;

	h5fs_stage_info_get(st, &si);
	h5fs_stage_extents(st, &ext, &next);
	if (!(buf = malloc(welems * ds->esize)))
		return h5fs__error_oom();
	/* walk the extents plus [base_limit, limit) as merged ranges */
	while (error == 0) {
		uint64_t a, b, e0, e1;

		if (i < next && ext[i].off < si.base_limit) {
			a = ext[i].off;
			b = ext[i].off + ext[i].len;
			i++;
		} else if (si.base_limit < limit) {
			a = si.base_limit;
			b = limit;
			i = next;
			si.base_limit = limit;	/* once */
		} else {
			break;
		}
		/* absorb what follows within GAP_MERGE */
		for (;;) {
			if (i < next && ext[i].off <= b + GAP_MERGE && ext[i].off < si.base_limit) {
				if (ext[i].off + ext[i].len > b)
					b = ext[i].off + ext[i].len;
				i++;
			} else if (si.base_limit < limit && si.base_limit <= b + GAP_MERGE) {
				b = limit;
				i = next;
				si.base_limit = limit;
			} else {
				break;
			}
		}
		if (b > limit)
			b = limit;
		if (a >= b)
			continue;
		e0 = a / ds->esize;
		e1 = (b + ds->esize - 1) / ds->esize;
		for (uint64_t c0 = e0; c0 < e1 && error == 0; c0 += welems) {
			uint64_t c1 = e1 - c0 < welems ? e1 : c0 + welems;
			uint64_t o1 = c1 < old_nelem ? c1 : (c0 < old_nelem ? old_nelem : c0);
			size_t len = (size_t)(c1 - c0) * ds->esize, got;

			memset(buf, 0, len);
			if (o1 > c0 &&
			    ((error = h5fs__ds_io(ds, false, c0, o1, buf)) < 0 ||
			     (error = h5fs__undo_log_push(u, c0, o1, buf, (size_t)(o1 - c0) * ds->esize)) < 0))
				break;
			if (save_only)
				continue;
			if ((error = h5fs_stage_read(st, buf, len, c0 * ds->esize, &got, NULL, NULL)) < 0 ||
			    (error = h5fs__ds_io(ds, true, c0, c1, buf)) < 0)
				break;
		}
	}
	free(buf);
	return error;
}

/*
 * In place or resized: with @p undo, the bytes overwritten and the old
 * extent stay recorded there after a success (the undo log is kept
 * instead of dropped).
 */
static int commit_in_place(struct plan *p, const h5fs_stage *st, struct h5fs_commit_undo *undo)
{
	struct h5fs__ds *ds = &p->old;
	struct h5fs__undo_log u = H5FS__UNDO_LOG_INIT;
	uint64_t old_rows = ds->ndim ? ds->dims[0] : 0, old_nelem = ds->nelem;
	uint64_t new_size = p->info->new_size;
	bool grow = new_size > ds->size;
	char *dir = NULL;
	int error = 0;

	if (h5fs_stage_path(st)) {
		h5fs_path_parent(&dir, h5fs_stage_path(st));
		u.dir = dir;
	} else {
		u.dir = h5fs__undo_dir(undo);
	}
	if (p->info->kind == H5FS_COMMIT_RESIZE && grow && (error = h5fs__set_rows(ds, p->info->dims[0])) < 0)
		goto out;
	error = write_ranges(ds, st, new_size, old_nelem, &u, false);
	if (error == 0 && p->info->kind == H5FS_COMMIT_RESIZE && !grow)
		error = h5fs__set_rows(ds, p->info->dims[0]);
	if (error == 0 && undo) {
		const char *d = u.dir;

		u.dir = NULL;
		error = h5fs__undo_take_bytes(undo, p->info->path, &u, p->info->kind == H5FS_COMMIT_RESIZE, old_rows);
		if (error < 0)
			u.dir = d;	/* not taken: the log is still ours, and put back below */
	}
	if (error < 0) {
		/* a refused commit changes nothing: the old bytes (and rows) go back */
		const h5fs_error *e = h5fs_error_last();
		int klass = e->klass;
		char *msg = h5fs__strdup(e->message);

		h5fs__undo_log_apply(&u, ds);
		if (p->info->kind == H5FS_COMMIT_RESIZE && ds->ndim && ds->dims[0] != old_rows)
			h5fs__set_rows(ds, old_rows);
		h5fs__hdf5_clear();
		if (msg)
			h5fs__error_set(klass, "%s", msg);
		free(msg);
	}
out:
	free(dir);
	h5fs__undo_log_free(&u);
	return error;
}

/* ---- replace and create ---------------------------------------------- */

struct attr_copy {
	hid_t dst;
	int error;
	const char *path;
};

static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *ainfo, void *payload)
{
	struct attr_copy *c = payload;
	hid_t a = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
	hid_t acpl = H5I_INVALID_HID, na = H5I_INVALID_HID;
	hssize_t n;
	size_t tsize, bytes;
	void *buf = NULL;
	bool vlen = false, read_ok = false;

	(void)ainfo;
	if ((a = H5Aopen(loc, name, H5P_DEFAULT)) < 0 ||
	    (type = H5Aget_type(a)) < 0 || (space = H5Aget_space(a)) < 0 ||
	    (acpl = H5Aget_create_plist(a)) < 0 ||
	    (n = H5Sget_select_npoints(space)) < 0 || !(tsize = H5Tget_size(type)))
		goto fail;
	if ((size_t)n > ATTR_MAX / tsize) {
		h5fs__error_set(H5FS_ERROR_INVALID, "attribute '%s' of '%s' is too large to copy", name, c->path);
		c->error = H5FS_ENOTSUPPORTED;
		goto out;
	}
	bytes = (size_t)n * tsize;
	vlen = H5Tis_variable_str(type) > 0 || H5Tdetect_class(type, H5T_VLEN) > 0;
	if (!(buf = calloc(1, bytes ? bytes : 1))) {
		c->error = h5fs__error_oom();
		goto out;
	}
	if (H5Aread(a, type, buf) < 0)
		goto fail;
	read_ok = true;
	if ((na = H5Acreate2(c->dst, name, type, space, acpl, H5P_DEFAULT)) < 0 ||
	    H5Awrite(na, type, buf) < 0)
		goto fail;
	goto out;
fail:
	h5fs__error_hdf5("cannot copy attribute '%s' of '%s'", name, c->path);
	c->error = H5FS_ERROR;
out:
	if (vlen && read_ok)
		H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
	free(buf);
	if (na >= 0)
		H5Aclose(na);
	if (acpl >= 0)
		H5Pclose(acpl);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	if (a >= 0)
		H5Aclose(a);
	return c->error < 0 ? -1 : 0;
}

/* The creation properties of a replacement of @p old for the new shape. */
static hid_t replacement_dcpl(hid_t old, int ndim, const hsize_t *dims, hsize_t *maxdims, size_t esize, uint64_t bytes)
{
	hsize_t chunk[H5S_MAX_RANK], oldmax[H5S_MAX_RANK];
	hid_t dcpl = old >= 0 ? H5Dget_create_plist(old) : H5Pcreate(H5P_DATASET_CREATE);
	hid_t space = H5I_INVALID_HID;
	int cn, on = -1;

	for (int i = 0; i < ndim; i++)
		maxdims[i] = dims[i];
	if (dcpl < 0 || old < 0)
		return dcpl;
	if ((space = H5Dget_space(old)) >= 0)
		on = H5Sget_simple_extent_dims(space, NULL, oldmax);
	if (space >= 0)
		H5Sclose(space);
	switch (H5Pget_layout(dcpl)) {
	case H5D_CHUNKED:
		if ((cn = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk)) < 0)
			goto fail;
		for (int i = 0; i < ndim; i++) {
			hsize_t c = cn == ndim ? chunk[i] : 0;

			/* keep unlimited dimensions; chunks fit the fixed ones */
			if (on == ndim && oldmax[i] == H5S_UNLIMITED)
				maxdims[i] = H5S_UNLIMITED;
			if (!c)	/* the rank changed (to 1-D): chunks of about 1 MiB */
				c = ((uint64_t)1 << 20) / esize ? ((uint64_t)1 << 20) / esize : 1;
			if (maxdims[i] != H5S_UNLIMITED && c > dims[i])
				c = dims[i] ? dims[i] : 1;
			if (maxdims[i] != H5S_UNLIMITED && c > maxdims[i])
				maxdims[i] = H5S_UNLIMITED;	/* a 0 extent needs room for one chunk */
			chunk[i] = c;
		}
		if (ndim == 0) {
			if (H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0)
				goto fail;
		} else if (H5Pset_chunk(dcpl, ndim, chunk) < 0) {
			goto fail;
		}
		break;
	case H5D_COMPACT:
		if (bytes > 32768 && H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0)
			goto fail;
		break;
	default:
		break;
	}
	return dcpl;
fail:
	H5Pclose(dcpl);
	return H5I_INVALID_HID;
}

/*
 * Make the hidden temporary dataset for the new shape.  @p old (may be
 * negative) lends its creation properties and attributes.
 */
static int make_temp(char **tmp_path, hid_t fid, const char *path, hid_t type, int ndim, const uint64_t *udims, hid_t old, bool early)
{
	hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK];
	hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
	struct attr_copy c = { H5I_INVALID_HID, 0, path };
	size_t esize = H5Tget_size(type);
	uint64_t bytes = esize;
	char *tmp = NULL;
	int error;

	*tmp_path = NULL;
	for (int i = 0; i < ndim; i++) {
		dims[i] = udims[i];
		bytes = dims[i] && bytes > UINT64_MAX / dims[i] ? UINT64_MAX : bytes * dims[i];
	}
	if ((error = h5fs__hidden_name(&tmp, path, "tmp")) < 0)
		return error;
	if ((dcpl = replacement_dcpl(old, ndim, dims, maxdims, esize, bytes)) < 0 ||
	    (early && H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0) ||
	    (space = ndim ? H5Screate_simple(ndim, dims, maxdims) : H5Screate(H5S_SCALAR)) < 0 ||
	    (d = H5Dcreate2(fid, tmp, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0) {
		h5fs__error_hdf5("cannot create a dataset for '%s'", path);
		error = H5FS_ERROR;
		goto out;
	}
	if (old >= 0) {
		c.dst = d;
		if (H5Aiterate2(old, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &c) < 0) {
			error = c.error ? c.error : H5FS_ERROR;
			if (!c.error)
				h5fs__error_hdf5("cannot copy the attributes of '%s'", path);
		}
	}
out:
	if (d >= 0)
		H5Dclose(d);
	if (space >= 0)
		H5Sclose(space);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (error < 0) {
		if (H5Lexists(fid, tmp, H5P_DEFAULT) > 0)
			H5Ldelete(fid, tmp, H5P_DEFAULT);
		h5fs__hdf5_clear();
		free(tmp);
		return error;
	}
	*tmp_path = tmp;
	return 0;
}

static int swap_links(hid_t fid, const char *tmp, const char *path)
{
	char *aside = NULL;
	int error = 0;

	if (H5Lexists(fid, path, H5P_DEFAULT) <= 0) {
		h5fs__hdf5_clear();
		if (H5Lmove(fid, tmp, fid, path, H5P_DEFAULT, H5P_DEFAULT) < 0) {
			h5fs__error_hdf5("cannot move the new dataset to '%s'", path);
			return H5FS_ERROR;
		}
		return 0;
	}
	if ((error = h5fs__hidden_name(&aside, path, "old")) < 0)
		return error;
	if (H5Lmove(fid, path, fid, aside, H5P_DEFAULT, H5P_DEFAULT) < 0) {
		h5fs__error_hdf5("cannot move '%s' aside", path);
		error = H5FS_ERROR;
	} else if (H5Lmove(fid, tmp, fid, path, H5P_DEFAULT, H5P_DEFAULT) < 0) {
		h5fs__error_hdf5("cannot move the new dataset to '%s'", path);
		error = H5FS_ERROR;
		H5Lmove(fid, aside, fid, path, H5P_DEFAULT, H5P_DEFAULT);
		h5fs__hdf5_clear();
	} else if (H5Ldelete(fid, aside, H5P_DEFAULT) < 0) {
		/* the new data is in place; the old one stays under the hidden name */
		h5fs__hdf5_clear();
	}
	free(aside);
	return error;
}

int h5fs_commit_swap(hid_t fid, const char *tmp_path, const char *path)
{
	int error;

	H5FS_ASSERT_ARG(fid >= 0 && tmp_path && path);
	if ((error = h5fs__init()) < 0 || (error = swap_links(fid, tmp_path, path)) < 0)
		return error;
	if (H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0) {
		h5fs__error_hdf5("cannot flush after replacing '%s'", path);
		return H5FS_ERROR;
	}
	return 0;
}

int h5fs_commit_prepare(char **tmp_path, hid_t fid, const char *path, const char *dtype, int ndim, const uint64_t *dims)
{
	struct h5fs__ds old = H5FS__DS_INIT;
	hid_t type = H5I_INVALID_HID;
	char *have = NULL;
	int error;

	H5FS_ASSERT_ARG(tmp_path && fid >= 0 && path && *path == '/' && dtype && (dims || !ndim));
	*tmp_path = NULL;
	if (ndim < 0 || ndim > H5S_MAX_RANK) {
		h5fs__error_set(H5FS_ERROR_INVALID, "invalid rank %d for '%s'", ndim, path);
		return H5FS_EINVALID;
	}
	if ((error = h5fs__init()) < 0)
		return error;
	error = h5fs__ds_open(&old, fid, path);
	if (error == H5FS_ENOTFOUND)
		error = 0;
	if (error < 0)
		return error;
	/* the old type itself when the dtype names it: no detail is lost */
	if (old.type >= 0 && h5fs_dtype_from_hid(&have, old.type) == 0 && !strcmp(have, dtype))
		type = H5Tcopy(old.type);
	else if ((error = h5fs_dtype_to_hid(&type, dtype)) < 0)
		goto out;
	if (type < 0) {
		h5fs__error_hdf5("cannot copy the type of '%s'", path);
		error = H5FS_ERROR;
		goto out;
	}
	if ((error = h5fs__check_fixed(type, path)) < 0)
		goto out;
	error = make_temp(tmp_path, fid, path, type, ndim, dims, old.dset, true);
out:
	h5fs__hdf5_clear();
	free(have);
	if (type >= 0)
		H5Tclose(type);
	h5fs__ds_close(&old);
	return error;
}

/* Transpose a Fortran-order array in @p src into C order in @p dst. */
static void transpose(unsigned char *dst, const unsigned char *src, int ndim, const uint64_t *dims, size_t esize, uint64_t nelem)
{
	uint64_t idx[H5S_MAX_RANK] = { 0 }, fstride[H5S_MAX_RANK], foff = 0;

	fstride[0] = 1;
	for (int i = 1; i < ndim; i++)
		fstride[i] = fstride[i - 1] * dims[i - 1];
	for (uint64_t c = 0; c < nelem; c++) {
		memcpy(dst + c * esize, src + foff * esize, esize);
		/* next C-order index: the last dimension runs fastest */
		for (int k = ndim - 1; k >= 0; k--) {
			if (++idx[k] < dims[k]) {
				foff += fstride[k];
				break;
			}
			foff -= (idx[k] - 1) * fstride[k];
			idx[k] = 0;
		}
	}
}

static int write_full(struct h5fs__ds *nds, const h5fs_stage *st, struct plan *p)
{
	uint64_t off = p->info->data_offset;
	size_t welems = WINDOW / nds->esize ? WINDOW / nds->esize : 1, got;
	unsigned char *buf = NULL, *src = NULL;
	int error = 0;

	if (p->fortran) {
		size_t bytes = (size_t)nds->size;

		if (!(buf = malloc(bytes)) || !(src = malloc(bytes))) {
			error = h5fs__error_oom();
			goto out;
		}
		if ((error = h5fs_stage_read(st, src, bytes, off, &got, NULL, NULL)) < 0)
			goto out;
		transpose(buf, src, p->info->ndim, p->info->dims, nds->esize, nds->nelem);
		error = h5fs__ds_io(nds, true, 0, nds->nelem, buf);
		goto out;
	}
	if (!(buf = malloc(welems * nds->esize)))
		return h5fs__error_oom();
	for (uint64_t c0 = 0; c0 < nds->nelem && error == 0; c0 += welems) {
		uint64_t c1 = nds->nelem - c0 < welems ? nds->nelem : c0 + welems;
		size_t len = (size_t)(c1 - c0) * nds->esize;

		memset(buf, 0, len);
		if ((error = h5fs_stage_read(st, buf, len, off + c0 * nds->esize, &got, p->old.dset >= 0 && !off ? h5fs__ds_base : NULL, &p->old)) < 0)
			break;
		error = h5fs__ds_io(nds, true, c0, c1, buf);
	}
out:
	free(src);
	free(buf);
	return error;
}

static int commit_replace(struct plan *p, hid_t fid, const h5fs_stage *st)
{
	h5fs_commit_info *info = p->info;
	struct h5fs__ds nds = H5FS__DS_INIT;
	hid_t type = p->type >= 0 ? p->type : p->old.type;
	char *tmp = NULL;
	int error;

	/* a create over an existing dataset reads nothing of the old one */
	if ((error = make_temp(&tmp, fid, info->path, type, info->ndim, info->dims, p->old.dset, false)) < 0)
		return error;
	if ((error = h5fs__ds_open(&nds, fid, tmp)) < 0)
		goto fail;
	if (info->kind == H5FS_COMMIT_CREATE && p->old.dset >= 0)
		h5fs__ds_close(&p->old);
	if ((error = write_full(&nds, st, p)) < 0)
		goto fail;
	h5fs__ds_close(&nds);
	h5fs__ds_close(&p->old);
	if ((error = swap_links(fid, tmp, info->path)) < 0)
		goto fail;
	free(tmp);
	return 0;
fail:
	h5fs__ds_close(&nds);
	if (H5Lexists(fid, tmp, H5P_DEFAULT) > 0) {
		const h5fs_error *e = h5fs_error_last();
		char *msg = h5fs__strdup(e->message);
		int klass = e->klass;

		H5Ldelete(fid, tmp, H5P_DEFAULT);
		if (msg)
			h5fs__error_set(klass, "%s", msg);
		free(msg);
	}
	h5fs__hdf5_clear();
	free(tmp);
	return error;
}

/* ---- a create prepared early (h5fs_commit_early) ----------------------- */

/* The storage of a contiguous dataset in the file, or HADDR_UNDEF. */
static haddr_t raw_offset(hid_t dset)
{
	hid_t dcpl = H5Dget_create_plist(dset);
	haddr_t off = HADDR_UNDEF;

	if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0 &&
	    H5Pget_nfilters(dcpl) == 0)
		off = H5Dget_offset(dset);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	h5fs__hdf5_clear();
	return off;
}

int h5fs_commit_early(h5fs_commit_info *out, char **tmp_path, uint64_t *file_off, hid_t fid, const char *path,
		      const h5fs_stage *st, const h5fs_commit_options *opts, uint64_t min_bytes)
{
	h5fs_commit_info *info = out;
	struct plan p;
	hid_t d = H5I_INVALID_HID;
	haddr_t off = HADDR_UNDEF;
	char *tmp = NULL;
	int error;

	H5FS_ASSERT_ARG(out && tmp_path && file_off);
	*tmp_path = NULL;
	*file_off = 0;
	if (!opts || !opts->create) {
		memset(out, 0, sizeof(*out));
		h5fs__error_set(H5FS_ERROR_INVALID, "an early commit is for a create only");
		return H5FS_EINVALID;
	}
	if ((error = h5fs__plan_begin(&p, info, fid, path, st, opts, true)) < 0)
		goto out;
	if (p.fortran || info->new_size == 0 || info->new_size < min_bytes) {
		h5fs__error_set(H5FS_ERROR_INVALID, "'%s' is written the usual way (%s)", info->path,
				p.fortran ? "Fortran order" : "small");
		error = H5FS_ENOTSUPPORTED;
		goto out;
	}
	if ((error = make_temp(&tmp, fid, info->path, p.type, info->ndim, info->dims, p.old.dset, true)) < 0)
		goto out;
	if ((d = H5Dopen2(fid, tmp, H5P_DEFAULT)) < 0) {
		h5fs__error_hdf5("cannot open dataset '%s'", tmp);
		error = H5FS_ERROR;
	} else if ((off = raw_offset(d)) == HADDR_UNDEF) {
		/* the old dataset's layout (chunks, external files) cannot take raw bytes */
		h5fs__error_set(H5FS_ERROR_INVALID, "'%s' is written the usual way (not contiguous)", info->path);
		error = H5FS_ENOTSUPPORTED;
	}
	if (d >= 0)
		H5Dclose(d);
	if (error == 0 && H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0) {
		h5fs__error_hdf5("cannot flush after creating '%s'", tmp);
		error = H5FS_ERROR;
	}
	if (error < 0) {
		const h5fs_error *e = h5fs_error_last();
		char *msg = h5fs__strdup(e->message);
		int klass = e->klass;

		if (H5Ldelete(fid, tmp, H5P_DEFAULT) < 0 || H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0)
			h5fs__hdf5_clear();
		if (msg)
			h5fs__error_set(klass, "%s", msg);
		free(msg);
		free(tmp);
		goto out;
	}
	*tmp_path = tmp;
	*file_off = (uint64_t)off;
out:
	h5fs__plan_end(&p);
	if (error < 0)
		h5fs_commit_info_release(info);
	return error;
}

/*
 * Whether the dataset @p prepared (h5fs_commit_early) takes this create
 * as it is: 1 yes; 0 no, the create is made the usual way (the stage's
 * sink still reads right: the dataset is where the sink points);
 * H5FS_ERROR when the dataset that holds the sink's bytes is gone.
 */
static int prepared_matches(struct plan *p, hid_t fid, const char *prepared, const h5fs_stage *st)
{
	h5fs_commit_info *info = p->info;
	struct h5fs__ds nds = H5FS__DS_INIT;
	uint64_t foff = 0, lo = 0, hi = 0;
	int live = h5fs_stage_sink_get(st, &foff, &lo, &hi), match;
	haddr_t off;

	if (h5fs__ds_open(&nds, fid, prepared) < 0 || (off = raw_offset(nds.dset)) == HADDR_UNDEF ||
	    (live && (uint64_t)off != foff)) {
		h5fs__ds_close(&nds);
		h5fs__hdf5_clear();
		if (!live) {
			h5fs_error_clear();
			return 0;
		}
		h5fs__error_set(H5FS_ERROR_OS, "the hidden dataset '%s' that holds the data of '%s' was removed or moved "
				"by another program", prepared, info->path);
		return H5FS_ERROR;
	}
	match = live && !p->fortran && lo == info->data_offset && hi == info->data_offset + info->new_size &&
		nds.ndim == info->ndim && H5Tequal(nds.type, p->type) > 0;
	for (int i = 0; match && i < nds.ndim; i++)
		match = nds.dims[i] == info->dims[i];
	h5fs__ds_close(&nds);
	h5fs__hdf5_clear();
	return match;
}

/* Put the prepared dataset in place: the sink already holds the data. */
static int commit_prepared(struct plan *p, hid_t fid, const char *prepared, h5fs_stage *st)
{
	int error;

	if ((error = h5fs_stage_sink_fill(st)) < 0)
		return error;
	h5fs__ds_close(&p->old);
	if ((error = swap_links(fid, prepared, p->info->path)) < 0)
		return error;
	/* the sink is the dataset now: later writes are staged again */
	h5fs_stage_sink_freeze(st);
	return 0;
}

int h5fs_commit(h5fs_commit_info *out, hid_t fid, const char *path, h5fs_stage *st, const h5fs_commit_options *opts)
{
	h5fs_commit_info local;
	h5fs_commit_info *info = out ? out : &local;
	struct h5fs_commit_undo *undo = h5fs__undo_of(opts);
	const char *prepared = NULL;
	struct plan p;
	int error;

	if ((error = h5fs__plan_begin(&p, info, fid, path, st, opts, false)) < 0)
		goto out;
	if (opts && opts->version >= 2)
		prepared = opts->prepared;
	/* a replace or create swaps links: the undo keeps the old dataset first */
	if (info->kind == H5FS_COMMIT_REPLACE || info->kind == H5FS_COMMIT_CREATE)
		error = h5fs__undo_before_swap(undo, fid, info->path);
	if (error < 0)
		goto out;
	switch (info->kind) {
	case H5FS_COMMIT_NONE:
		goto out;
	case H5FS_COMMIT_INPLACE:
	case H5FS_COMMIT_RESIZE:
		error = commit_in_place(&p, st, undo);
		break;
	case H5FS_COMMIT_CREATE:
		if (prepared && (error = prepared_matches(&p, fid, prepared, st)) == 1) {
			if ((error = commit_prepared(&p, fid, prepared, st)) == 0)
				info->prepared_used = 1;
			break;
		}
		if (error == 0)
			error = commit_replace(&p, fid, st);
		break;
	default:
		error = commit_replace(&p, fid, st);
		break;
	}
	h5fs__plan_end(&p);
	if (error == 0 && H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0) {
		h5fs__error_hdf5("cannot flush after writing '%s'", info->path);
		error = H5FS_ERROR;
	}
	if (error == 0 && info->kind != H5FS_COMMIT_CREATE)
		h5fs_stage_mark_committed(st);
out:
	h5fs__plan_end(&p);
	if (error < 0 || !out)
		h5fs_commit_info_release(info);
	return error;
}


/* ---- before a commit another process makes --------------------------- */

int h5fs_commit_undo_expect(h5fs_commit_undo *u, hid_t fid, const h5fs_commit_info *plan, const h5fs_stage *st)
{
	struct h5fs__ds ds = H5FS__DS_INIT;
	struct h5fs__undo_log log = H5FS__UNDO_LOG_INIT;
	int error;

	H5FS_ASSERT_ARG(u && plan && plan->path && fid >= 0 && st);
	if ((error = h5fs__init()) < 0)
		return error;
	if (plan->kind == H5FS_COMMIT_NONE || h5fs__undo_sealed(u, plan->path))
		return 0;
	/* the helper replaces (a resize too) or creates: keep the old one */
	if (!plan->mpi_mode || strcmp(plan->mpi_mode, "inplace"))
		return h5fs__undo_before_swap(u, fid, plan->path);
	/* it writes in place: keep the bytes it will overwrite */
	if ((error = h5fs__ds_open(&ds, fid, plan->path)) < 0)
		return error;
	log.dir = h5fs__undo_dir(u);
	error = write_ranges(&ds, st, plan->new_size, ds.nelem, &log, true);
	if (error == 0)
		error = h5fs__undo_take_bytes(u, plan->path, &log, 0, 0);
	h5fs__undo_log_free(&log);
	h5fs__ds_close(&ds);
	return error;
}
