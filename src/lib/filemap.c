/*
 * The file map: path -> entry, in a chained hash table.
 *
 * An entry has a kind, an "expanded" flag (its children were read from
 * the file) and, once known, its children's names in a sorted array
 * (byte order, so listings need no sort).  A child list may exist
 * without the flag: populate() and writers fill lists, and only
 * expansion marks a group as read.
 *
 * Expansion reads one group: the links through H5Literate2, and each
 * child's kind -- from the link type for soft and external links and
 * from the object header (H5Oget_info_by_name, basic fields) for hard
 * links.  Soft links report their target's kind, or SOFTLINK when
 * dangling; external links are never followed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "filemap.h"

const char *h5fs_kind_name(h5fs_kind kind)
{
	switch (kind) {
	case H5FS_KIND_GROUP: return "group";
	case H5FS_KIND_DATASET: return "dataset";
	case H5FS_KIND_DATATYPE: return "datatype";
	case H5FS_KIND_SOFTLINK: return "softlink";
	case H5FS_KIND_EXTLINK: return "extlink";
	case H5FS_KIND_OTHER: return "other";
	default: return "none";
	}
}

static h5fs_kind kind_of_objtype(H5O_type_t t)
{
	switch (t) {
	case H5O_TYPE_GROUP: return H5FS_KIND_GROUP;
	case H5O_TYPE_DATASET: return H5FS_KIND_DATASET;
	case H5O_TYPE_NAMED_DATATYPE: return H5FS_KIND_DATATYPE;
	default: return H5FS_KIND_OTHER;
	}
}

/* The kind of link @p name in group @p loc, following soft links. */
static h5fs_kind link_kind(hid_t loc, const char *name, H5L_type_t ltype)
{
	H5O_info_t oi;

	if (ltype == H5L_TYPE_EXTERNAL)
		return H5FS_KIND_EXTLINK;
	if (ltype != H5L_TYPE_HARD && ltype != H5L_TYPE_SOFT)
		return H5FS_KIND_OTHER;
	if (H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
		h5fs__hdf5_clear();
		return ltype == H5L_TYPE_SOFT ? H5FS_KIND_SOFTLINK : H5FS_KIND_OTHER;
	}
	return kind_of_objtype(oi.type);
}

/* Record @p path as @p kind and join it to its parent's known children. */
static int record(h5fs_filemap *map, const char *path, h5fs_kind kind, bool create_list)
{
	struct h5fs__map_entry *e, *parent;
	char *ppath;
	int error;

	if ((error = h5fs__map_put(&e, map, path, kind)) < 0)
		return error;
	if (!strcmp(path, "/"))
		return 0;
	if ((error = h5fs_path_parent(&ppath, path)) < 0)
		return error;
	/*
	 * A missing parent stays missing: populate() visits parents first,
	 * so one is only absent when exclude_numeric skipped it.
	 */
	parent = h5fs__map_find(map, ppath);
	free(ppath);
	if (error < 0)
		return error;
	if (parent && (parent->has_children || create_list))
		error = h5fs__map_child_add(parent, h5fs_path_basename(path));
	return error;
}

struct expand_ctx {
	h5fs_filemap *map;
	const char *dir;
	struct h5fs__map_entry *self;
	int error;
};

static herr_t expand_cb(hid_t group, const char *name, const H5L_info_t *info, void *payload)
{
	struct expand_ctx *c = payload;
	char *path;
	struct h5fs__map_entry *e;

	if ((c->error = h5fs_path_join(&path, c->dir, name)) < 0)
		return -1;
	c->error = h5fs__map_put(&e, c->map, path, link_kind(group, name, info->type));
	free(path);
	if (c->error == 0)
		c->error = h5fs__map_child_add(c->self, name);
	return c->error < 0 ? -1 : 0;
}

int h5fs_filemap_expand(h5fs_file *file, const char *path)
{
	h5fs_filemap *map = file->map;
	struct expand_ctx ctx = { map, NULL, NULL, 0 };
	struct h5fs__map_entry *e;
	H5O_info_t oi;
	hid_t grp = H5I_INVALID_HID;
	char *norm;
	int error;

	if ((error = h5fs_path_normalize(&norm, path, 1)) < 0)
		return error;
	e = h5fs__map_find(map, norm);
	if (e && e->expanded) {
		free(norm);
		return 0;
	}
	if ((error = h5fs_file_open(file, "r")) < 0) {
		free(norm);
		return error;
	}
	if (H5Oget_info_by_name2(file->fid, norm, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
		h5fs__hdf5_clear();
		h5fs__error_set(H5FS_ERROR_HDF5, "object '%s' not found in file '%s'", norm, file->path);
		error = H5FS_ENOTFOUND;
		goto out;
	}
	if ((error = record(map, norm, kind_of_objtype(oi.type), false)) < 0)
		goto out;
	e = h5fs__map_find(map, norm);
	if (oi.type == H5O_TYPE_GROUP) {
		if ((grp = H5Gopen2(file->fid, norm, H5P_DEFAULT)) < 0) {
			h5fs__error_hdf5("cannot open group '%s'", norm);
			error = H5FS_ERROR;
			goto out;
		}
		ctx.dir = norm;
		ctx.self = e;
		e->has_children = true;
		if (H5Literate(grp, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, expand_cb, &ctx) < 0) {
			if (ctx.error < 0) {
				h5fs__hdf5_clear();
				error = ctx.error;
			} else {
				h5fs__error_hdf5("cannot list group '%s'", norm);
				error = H5FS_ECORRUPT;
			}
			goto out;
		}
	}
	e->expanded = true;
out:
	if (grp >= 0)
		H5Gclose(grp);
	h5fs_file_close(file);
	free(norm);
	return error;
}

int h5fs_filemap_get(h5fs_kind *out, h5fs_file *file, const char *path)
{
	struct h5fs__map_entry *e;
	char *norm = NULL, *ppath = NULL;
	int error;

	H5FS_ASSERT_ARG(out && file && path);
	*out = H5FS_KIND_NONE;
	if ((error = h5fs_path_normalize(&norm, path, 1)) < 0)
		return error;
	if (!(e = h5fs__map_find(file->map, norm))) {
		struct h5fs__map_entry *pe;

		if ((error = h5fs_path_parent(&ppath, norm)) < 0)
			goto out;
		pe = h5fs__map_find(file->map, ppath);
		if (!pe || !pe->expanded) {
			error = h5fs_filemap_expand(file, ppath);
			if (error < 0 && error != H5FS_ENOTFOUND)
				goto out;
			/* a missing file is an error of its own, not a miss */
			if (error == H5FS_ENOTFOUND && access(file->path, F_OK) < 0)
				goto out;
		}
		e = h5fs__map_find(file->map, norm);
	}
	if (!e) {
		h5fs__error_set(H5FS_ERROR_INVALID, "object '%s' not found in file '%s'", norm, file->path);
		error = H5FS_ENOTFOUND;
		goto out;
	}
	*out = e->kind;
	error = 0;
out:
	free(ppath);
	free(norm);
	return error;
}

int h5fs_filemap_contains(h5fs_file *file, const char *path)
{
	h5fs_kind kind;
	int error = h5fs_filemap_get(&kind, file, path);

	if (error == H5FS_ENOTFOUND)
		return 0;
	return error < 0 ? error : 1;
}

h5fs_kind h5fs_filemap_cached(const h5fs_file *file, const char *path)
{
	struct h5fs__map_entry *e;
	char *norm;

	if (!file || h5fs_path_normalize(&norm, path, 1) < 0)
		return H5FS_KIND_NONE;
	e = h5fs__map_find(file->map, norm);
	free(norm);
	return e ? e->kind : H5FS_KIND_NONE;
}

size_t h5fs_filemap_size(const h5fs_file *file)
{
	return file ? file->map->count : 0;
}

struct populate_ctx {
	h5fs_filemap *map;
	bool exclude_numeric;
	int error;
};

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static herr_t populate_cb(hid_t root, const char *name, const H5L_info_t *info, void *payload)
{
	struct populate_ctx *c = payload;
	char *path;

	if (c->exclude_numeric && all_digits(h5fs_path_basename(name)))
		return 0;
	if ((c->error = h5fs_path_normalize(&path, name, 1)) < 0)
		return -1;
	c->error = record(c->map, path, link_kind(root, name, info->type), true);
	free(path);
	return c->error < 0 ? -1 : 0;
}

int h5fs_filemap_populate(h5fs_file *file, int exclude_numeric)
{
	struct populate_ctx ctx = { file->map, exclude_numeric != 0, 0 };

	if (file->fid < 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "cannot populate the map of '%s': the file is not open", file->path);
		return H5FS_EINVALID;
	}
	if (H5Lvisit(file->fid, H5_INDEX_NAME, H5_ITER_NATIVE, populate_cb, &ctx) < 0) {
		if (ctx.error < 0) {
			h5fs__hdf5_clear();
			return ctx.error;
		}
		h5fs__error_hdf5("cannot walk '%s'", file->path);
		return H5FS_ECORRUPT;
	}
	return 0;
}

void h5fs_filemap_invalidate(h5fs_file *file)
{
	if (file)
		h5fs__map_reset(file->map);
}

static int strarray_from(char ***out, size_t *count, char **names, size_t n)
{
	char **arr = calloc(n + 1, sizeof(*arr));

	if (!arr)
		return h5fs__error_oom();
	for (size_t i = 0; i < n; i++) {
		if (!(arr[i] = h5fs__strdup(names[i]))) {
			h5fs_strarray_free(arr);
			return H5FS_ENOMEM;
		}
	}
	*out = arr;
	if (count)
		*count = n;
	return 0;
}

static bool kind_passes(h5fs_kind kind, unsigned int filter)
{
	if (filter == H5FS_FILTER_ALL)
		return true;
	return ((filter & H5FS_FILTER_GROUPS) && kind == H5FS_KIND_GROUP) ||
	       ((filter & H5FS_FILTER_DATASETS) && kind == H5FS_KIND_DATASET);
}

int h5fs_filemap_children(char ***out, size_t *count, h5fs_file *file, const char *path, unsigned int filter)
{
	struct h5fs__map_entry *e;
	char **names = NULL, *norm, *child;
	size_t n = 0;
	int error;

	H5FS_ASSERT_ARG(out && file && path);
	if ((error = h5fs_path_normalize(&norm, path, 1)) < 0)
		return error;
	e = h5fs__map_find(file->map, norm);
	if (!e || !e->expanded) {
		error = h5fs_filemap_expand(file, norm);
		if (error < 0 && error != H5FS_ENOTFOUND)
			goto out;
		e = h5fs__map_find(file->map, norm);
	}
	if (!e || !e->has_children) {
		error = strarray_from(out, count, NULL, 0);
		goto out;
	}
	if (!(names = calloc(e->nchildren + 1, sizeof(*names)))) {
		error = h5fs__error_oom();
		goto out;
	}
	for (size_t i = 0; i < e->nchildren; i++) {
		struct h5fs__map_entry *ce;

		if ((error = h5fs_path_join(&child, norm, e->children[i])) < 0)
			goto out;
		ce = h5fs__map_find(file->map, child);
		free(child);
		if (ce && kind_passes(ce->kind, filter))
			names[n++] = e->children[i];
	}
	error = strarray_from(out, count, names, n);
out:
	free(names);
	free(norm);
	return error;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int h5fs_filemap_paths(char ***out, size_t *count, const h5fs_file *file, unsigned int filter)
{
	const h5fs_filemap *map = file->map;
	char **names;
	size_t n = 0;
	int error;

	if (!(names = calloc(map->count + 1, sizeof(*names))))
		return h5fs__error_oom();
	for (size_t i = 0; i < map->nbuckets; i++)
		for (struct h5fs__map_entry *e = map->buckets[i]; e; e = e->next)
			if (kind_passes(e->kind, filter))
				names[n++] = e->path;
	qsort(names, n, sizeof(*names), cmp_str);
	error = strarray_from(out, count, names, n);
	free(names);
	return error;
}

int h5fs_filemap_set(h5fs_file *file, const char *path, h5fs_kind kind)
{
	char *norm;
	int error;

	H5FS_ASSERT_ARG(file && path);
	if ((error = h5fs_path_normalize(&norm, path, 1)) < 0)
		return error;
	error = record(file->map, norm, kind, false);
	free(norm);
	return error;
}

void h5fs_filemap_remove(h5fs_file *file, const char *path)
{
	h5fs_filemap *map;
	struct h5fs__map_entry *parent;
	char *norm, *ppath;

	if (!file || h5fs_path_normalize(&norm, path, 1) < 0)
		return;
	map = file->map;
	if (!strcmp(norm, "/")) {
		free(norm);
		return;
	}
	h5fs__map_drop_tree(map, norm);
	if (h5fs_path_parent(&ppath, norm) == 0) {
		if ((parent = h5fs__map_find(map, ppath)))
			h5fs__map_child_remove(parent, h5fs_path_basename(norm));
		free(ppath);
	}
	free(norm);
}
