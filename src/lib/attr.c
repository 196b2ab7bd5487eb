/*
 * Attributes of groups and datasets (h5fs/attr.h): bamboost's AttrsDict
 * storage, without its in-memory dict (every call goes to the file).
 *
 * Reads open the object through h5fs__ref_acquire_obj() (joining an open
 * context if there is one).  Writes go through h5fs__file_root_only(), so
 * under MPI rank 0 writes and every rank returns rank 0's result.
 *
 * Typed setters replace an attribute the way h5py does: the new value is
 * written under a temporary name first, then the old attribute is deleted
 * and the new one renamed, so a failed write leaves the old value.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ref.h"
#include "h5fs/sys/hdf5.h"

#define NONE_ENVELOPE "{\"__type__\": \"NoneType\", \"__value__\": \"None\"}"

/* --- reading ------------------------------------------------------- */

struct attr_names {
	char **names;
	size_t n, alloc;
	int error;
};

static herr_t attr_list_cb(hid_t obj, const char *name, const H5A_info_t *info, void *payload)
{
	struct attr_names *l = payload;

	(void)obj;
	(void)info;
	if (l->n + 1 >= l->alloc) {
		size_t want = l->alloc ? l->alloc * 2 : 8;
		char **grown = realloc(l->names, want * sizeof(*grown));

		if (!grown) {
			l->error = h5fs__error_oom();
			return -1;
		}
		l->names = grown;
		l->alloc = want;
	}
	if (!(l->names[l->n] = h5fs__strdup(name))) {
		l->error = H5FS_ENOMEM;
		return -1;
	}
	l->names[++l->n] = NULL;
	return 0;
}

int h5fs_attr_list(char ***out, size_t *count, h5fs_ref *ref)
{
	struct attr_names l = { NULL, 0, 0, 0 };
	hid_t obj;
	hsize_t idx = 0;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ref);
	*out = NULL;
	if ((error = h5fs__ref_acquire_obj(&obj, ref, false)) < 0)
		return error;
	/* name order, as h5py's attrs.keys() and getfattr list them */
	if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_list_cb, &l) < 0) {
		if (l.error < 0) {
			h5fs__hdf5_clear();
			error = l.error;
		} else {
			h5fs__error_hdf5("cannot list attributes of '%s'", ref->path);
			error = H5FS_ERROR;
		}
	}
	if (!error && !l.names && !(l.names = calloc(1, sizeof(*l.names))))
		error = h5fs__error_oom();
	error = h5fs__ref_release_obj(ref, obj, error);
	if (error < 0) {
		h5fs_strarray_free(l.names);
		return error;
	}
	*out = l.names;
	if (count)
		*count = l.n;
	return 0;
}

/* Whether @p name exists on the open object: 1, 0 or an error. */
static int attr_exists_on(hid_t obj, const h5fs_ref *ref, const char *name)
{
	htri_t e = H5Aexists(obj, name);

	if (e < 0) {
		h5fs__error_hdf5("cannot look up attribute '%s' of '%s'", name, ref->path);
		return H5FS_ERROR;
	}
	return e > 0;
}

int h5fs_attr_exists(h5fs_ref *ref, const char *name)
{
	hid_t obj;
	int error;

	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	if ((error = h5fs__ref_acquire_obj(&obj, ref, false)) < 0)
		return error;
	error = attr_exists_on(obj, ref, name);
	return h5fs__ref_release_obj(ref, obj, error);
}

/*
 * Open attribute @p name of the object of @p ref for reading: on success
 * the caller holds the object and the attribute, released by attr_close().
 */
static int attr_open(hid_t *obj, hid_t *attr, h5fs_ref *ref, const char *name)
{
	int error;

	*attr = H5I_INVALID_HID;
	if ((error = h5fs__ref_acquire_obj(obj, ref, false)) < 0)
		return error;
	if ((error = attr_exists_on(*obj, ref, name)) < 0)
		goto fail;
	if (!error) {
		h5fs__error_set(H5FS_ERROR_INVALID, "attribute '%s' not found on '%s'", name, ref->path);
		error = H5FS_ENOTFOUND;
		goto fail;
	}
	if ((*attr = H5Aopen(*obj, name, H5P_DEFAULT)) < 0) {
		h5fs__error_hdf5("cannot open attribute '%s' of '%s'", name, ref->path);
		error = H5FS_ERROR;
		goto fail;
	}
	return 0;
fail:
	return h5fs__ref_release_obj(ref, *obj, error);
}

static int attr_close(h5fs_ref *ref, hid_t obj, hid_t attr, int error)
{
	if (attr >= 0 && H5Aclose(attr) < 0) {
		if (!error) {
			h5fs__error_hdf5("cannot close attribute");
			error = H5FS_ERROR;
		} else {
			h5fs__hdf5_clear();
		}
	}
	return h5fs__ref_release_obj(ref, obj, error);
}

int h5fs_attr_get_text(char **out, size_t *len, h5fs_ref *ref, const char *name)
{
	hid_t obj, attr;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	*out = NULL;
	if ((error = attr_open(&obj, &attr, ref, name)) < 0)
		return error;
	error = h5fs_codec_format_attr(out, len, attr);
	error = attr_close(ref, obj, attr, error);
	if (error < 0) {
		free(*out);
		*out = NULL;
	}
	return error;
}

/*
 * The class, size and sign of a scalar attribute's type; H5FS_ETYPE for
 * attributes that are not scalars.
 */
static int attr_scalar_type(hid_t *type, hid_t attr, const char *name)
{
	hid_t space;
	H5S_class_t cls;

	*type = H5I_INVALID_HID;
	if ((space = H5Aget_space(attr)) < 0) {
		h5fs__error_hdf5("cannot read dataspace of attribute '%s'", name);
		return H5FS_ERROR;
	}
	cls = H5Sget_simple_extent_type(space);
	H5Sclose(space);
	if (cls != H5S_SCALAR) {
		h5fs__error_set(H5FS_ERROR_INVALID, "attribute '%s' is not a scalar", name);
		return H5FS_ETYPE;
	}
	if ((*type = H5Aget_type(attr)) < 0) {
		h5fs__error_hdf5("cannot read type of attribute '%s'", name);
		return H5FS_ERROR;
	}
	return 0;
}

static int attr_read(hid_t attr, hid_t mem, void *buf, const char *name)
{
	if (H5Aread(attr, mem, buf) < 0) {
		h5fs__error_hdf5("cannot read attribute '%s'", name);
		return H5FS_ERROR;
	}
	return 0;
}

static int type_mismatch(const char *name, const char *want)
{
	h5fs__error_set(H5FS_ERROR_INVALID, "attribute '%s' does not convert to %s", name, want);
	return H5FS_ETYPE;
}

/* The value of an integer attribute as int64 or (above INT64_MAX) uint64. */
static int read_integer(int64_t *sv, uint64_t *uv, bool *big, hid_t attr, hid_t type,
			const char *name)
{
	int error;

	*big = false;
	if (H5Tget_sign(type) == H5T_SGN_NONE && H5Tget_size(type) >= 8) {
		if ((error = attr_read(attr, H5T_NATIVE_UINT64, uv, name)) < 0)
			return error;
		*big = *uv > (uint64_t)INT64_MAX;
		*sv = (int64_t)*uv;
		return 0;
	}
	if (H5Tget_size(type) > 8)
		return type_mismatch(name, "a 64-bit integer");
	return attr_read(attr, H5T_NATIVE_INT64, sv, name);
}

int h5fs_attr_get_int64(int64_t *out, h5fs_ref *ref, const char *name)
{
	hid_t obj, attr, type = H5I_INVALID_HID;
	int64_t sv = 0;
	uint64_t uv;
	bool big;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	if ((error = attr_open(&obj, &attr, ref, name)) < 0)
		return error;
	if ((error = attr_scalar_type(&type, attr, name)) < 0)
		goto out;
	if (H5Tget_class(type) != H5T_INTEGER) {
		error = type_mismatch(name, "int64");
		goto out;
	}
	if ((error = read_integer(&sv, &uv, &big, attr, type, name)) < 0)
		goto out;
	if (big) {
		error = type_mismatch(name, "int64 (value too large)");
		goto out;
	}
	*out = sv;
out:
	if (type >= 0)
		H5Tclose(type);
	return attr_close(ref, obj, attr, error);
}

int h5fs_attr_get_double(double *out, h5fs_ref *ref, const char *name)
{
	hid_t obj, attr, type = H5I_INVALID_HID;
	int64_t sv = 0;
	uint64_t uv = 0;
	double v = 0;
	bool big;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	if ((error = attr_open(&obj, &attr, ref, name)) < 0)
		return error;
	if ((error = attr_scalar_type(&type, attr, name)) < 0)
		goto out;
	switch (H5Tget_class(type)) {
	case H5T_FLOAT:
		if (H5Tget_size(type) > 8) {
			error = type_mismatch(name, "a double");
			goto out;
		}
		error = attr_read(attr, H5T_NATIVE_DOUBLE, &v, name);
		break;
	case H5T_INTEGER:
		/* integers convert when the double holds them exactly */
		if ((error = read_integer(&sv, &uv, &big, attr, type, name)) < 0)
			goto out;
		v = big ? (double)uv : (double)sv;
		if (big ? (v >= 18446744073709551616.0 || (uint64_t)v != uv)
			: (v >= 9223372036854775808.0 || (int64_t)v != sv))
			error = type_mismatch(name, "a double without loss");
		break;
	default:
		error = type_mismatch(name, "a double");
		break;
	}
	if (!error)
		*out = v;
out:
	if (type >= 0)
		H5Tclose(type);
	return attr_close(ref, obj, attr, error);
}

int h5fs_attr_get_bool(int *out, h5fs_ref *ref, const char *name)
{
	hid_t obj, attr, type = H5I_INVALID_HID;
	signed char v = 0;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	if ((error = attr_open(&obj, &attr, ref, name)) < 0)
		return error;
	if ((error = attr_scalar_type(&type, attr, name)) < 0)
		goto out;
	if (!h5fs_dtype_is_bool(type)) {
		error = type_mismatch(name, "bool");
		goto out;
	}
	/* read with the stored type: the enum's own bytes, 0 or 1 */
	if ((error = attr_read(attr, type, &v, name)) < 0)
		goto out;
	*out = v != 0;
out:
	if (type >= 0)
		H5Tclose(type);
	return attr_close(ref, obj, attr, error);
}

int h5fs_attr_get_string(char **out, h5fs_ref *ref, const char *name)
{
	hid_t obj, attr, type = H5I_INVALID_HID;
	size_t len;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	*out = NULL;
	if ((error = attr_open(&obj, &attr, ref, name)) < 0)
		return error;
	if ((error = attr_scalar_type(&type, attr, name)) < 0)
		goto out;
	if (H5Tget_class(type) != H5T_STRING) {
		error = type_mismatch(name, "a string");
		goto out;
	}
	/* a scalar string's text is its raw bytes */
	error = h5fs_codec_format_attr(out, &len, attr);
out:
	if (type >= 0)
		H5Tclose(type);
	return attr_close(ref, obj, attr, error);
}

/* --- writing ------------------------------------------------------- */

struct attr_write {
	h5fs_ref *ref;
	const char *name;
	/* set_text */
	const char *text;
	size_t len;
	unsigned int flags;
	/* typed */
	hid_t type;
	int ndim;
	hsize_t dim;
	const void *buf;
};

static int write_text_fn(h5fs_file *file, void *payload)
{
	struct attr_write *w = payload;
	hid_t obj;
	int error;

	(void)file;
	if ((error = h5fs__ref_acquire_obj(&obj, w->ref, true)) < 0)
		return error;
	error = h5fs_codec_set_attr(obj, w->name, w->text, w->len, w->flags);
	return h5fs__ref_release_obj(w->ref, obj, error);
}

int h5fs_attr_set_text(h5fs_ref *ref, const char *name, const char *text, size_t len, unsigned int flags)
{
	struct attr_write w = { 0 };

	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	H5FS_ASSERT_ARG(text || !len);
	w.ref = ref;
	w.name = name;
	w.text = text ? text : "";
	w.len = len;
	w.flags = flags;
	return h5fs__file_root_only(ref->file, write_text_fn, &w);
}

static int delete_fn(h5fs_file *file, void *payload)
{
	struct attr_write *w = payload;
	hid_t obj;
	int error;

	(void)file;
	if ((error = h5fs__ref_acquire_obj(&obj, w->ref, true)) < 0)
		return error;
	if ((error = attr_exists_on(obj, w->ref, w->name)) < 0)
		goto out;
	if (!error) {
		h5fs__error_set(H5FS_ERROR_INVALID, "attribute '%s' not found on '%s'",
				w->name, w->ref->path);
		error = H5FS_ENOTFOUND;
		goto out;
	}
	error = 0;
	if (H5Adelete(obj, w->name) < 0) {
		h5fs__error_hdf5("cannot delete attribute '%s' of '%s'", w->name, w->ref->path);
		error = H5FS_ERROR;
	}
out:
	return h5fs__ref_release_obj(w->ref, obj, error);
}

int h5fs_attr_delete(h5fs_ref *ref, const char *name)
{
	struct attr_write w = { 0 };

	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	w.ref = ref;
	w.name = name;
	return h5fs__file_root_only(ref->file, delete_fn, &w);
}

/* Create attribute @p name on @p obj and write @p w's value into it. */
static int create_and_write(hid_t obj, const char *name, const struct attr_write *w)
{
	hid_t space = H5I_INVALID_HID, acpl = H5I_INVALID_HID, attr = H5I_INVALID_HID;
	int error = 0;

	if ((space = w->ndim ? H5Screate_simple(1, &w->dim, NULL) : H5Screate(H5S_SCALAR)) < 0 ||
	    (acpl = H5Pcreate(H5P_ATTRIBUTE_CREATE)) < 0 ||
	    H5Pset_char_encoding(acpl, H5T_CSET_UTF8) < 0) {
		h5fs__error_hdf5("cannot prepare attribute '%s'", w->name);
		error = H5FS_ERROR;
		goto out;
	}
	if ((attr = H5Acreate2(obj, name, w->type, space, acpl, H5P_DEFAULT)) < 0) {
		h5fs__error_hdf5("cannot create attribute '%s' of '%s'", w->name, w->ref->path);
		error = H5FS_ERROR;
		goto out;
	}
	if ((!w->ndim || w->dim) && H5Awrite(attr, w->type, w->buf) < 0) {
		h5fs__error_hdf5("cannot write attribute '%s' of '%s'", w->name, w->ref->path);
		error = H5FS_ERROR;
	}
out:
	if (attr >= 0)
		H5Aclose(attr);
	if (acpl >= 0)
		H5Pclose(acpl);
	if (space >= 0)
		H5Sclose(space);
	return error;
}

static int write_typed_fn(h5fs_file *file, void *payload)
{
	struct attr_write *w = payload;
	h5fs_buf tmp = H5FS_BUF_INIT;
	hid_t obj;
	int error, exists;

	(void)file;
	h5fs_buf_init(&tmp);
	if ((error = h5fs__ref_acquire_obj(&obj, w->ref, true)) < 0)
		return error;
	if ((exists = attr_exists_on(obj, w->ref, w->name)) < 0) {
		error = exists;
		goto out;
	}
	if (!exists) {
		error = create_and_write(obj, w->name, w);
		goto out;
	}
	/* replace as h5py does: write aside, then swap, so failure keeps the old value */
	h5fs_buf_printf(&tmp, ".h5fs-tmp.%s", w->name);
	if ((error = h5fs_buf_check(&tmp)) < 0)
		goto out;
	if (H5Aexists(obj, tmp.ptr) > 0 && H5Adelete(obj, tmp.ptr) < 0)
		h5fs__hdf5_clear();
	h5fs__hdf5_clear();
	if ((error = create_and_write(obj, tmp.ptr, w)) < 0) {
		if (H5Adelete(obj, tmp.ptr) < 0)
			h5fs__hdf5_clear();
		goto out;
	}
	if (H5Adelete(obj, w->name) < 0 || H5Arename(obj, tmp.ptr, w->name) < 0) {
		h5fs__error_hdf5("cannot replace attribute '%s' of '%s'", w->name, w->ref->path);
		error = H5FS_ERROR;
	}
out:
	h5fs_buf_release(&tmp);
	return h5fs__ref_release_obj(w->ref, obj, error);
}

/* Store a scalar (ndim 0) or a 1-D array of @p n values of @p type. */
static int set_typed(h5fs_ref *ref, const char *name, hid_t type, int ndim, size_t n, const void *buf)
{
	struct attr_write w = { 0 };
	int error;

	if (type < 0)
		return H5FS_ERROR;	/* the type's constructor set the error */
	w.ref = ref;
	w.name = name;
	w.type = type;
	w.ndim = ndim;
	w.dim = (hsize_t)n;
	w.buf = buf;
	error = h5fs__file_root_only(ref->file, write_typed_fn, &w);
	H5Tclose(type);
	return error;
}

static hid_t copy_type(hid_t t)
{
	hid_t c = H5Tcopy(t);

	if (c < 0)
		h5fs__error_hdf5("cannot copy type");
	return c;
}

int h5fs_attr_set_int64(h5fs_ref *ref, const char *name, int64_t value)
{
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	return set_typed(ref, name, copy_type(H5T_STD_I64LE), 0, 1, &value);
}

int h5fs_attr_set_double(h5fs_ref *ref, const char *name, double value)
{
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	return set_typed(ref, name, copy_type(H5T_IEEE_F64LE), 0, 1, &value);
}

int h5fs_attr_set_bool(h5fs_ref *ref, const char *name, int value)
{
	signed char v = value ? 1 : 0;

	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	return set_typed(ref, name, h5fs_dtype_bool_hid(), 0, 1, &v);
}

int h5fs_attr_set_string(h5fs_ref *ref, const char *name, const char *value)
{
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	H5FS_ASSERT_ARG(value);
	return set_typed(ref, name, h5fs_dtype_vlen_str_hid(), 0, 1, &value);
}

/*
 * Lists: an empty one is stored as bamboost (numpy) stores [], float64 of
 * shape (0), whatever its element type.
 */
int h5fs_attr_set_int64_array(h5fs_ref *ref, const char *name, size_t n, const int64_t *values)
{
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	H5FS_ASSERT_ARG(values || !n);
	return set_typed(ref, name, n ? copy_type(H5T_STD_I64LE) : copy_type(H5T_IEEE_F64LE), 1, n, values);
}

int h5fs_attr_set_double_array(h5fs_ref *ref, const char *name, size_t n, const double *values)
{
	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	H5FS_ASSERT_ARG(values || !n);
	return set_typed(ref, name, copy_type(H5T_IEEE_F64LE), 1, n, values);
}

int h5fs_attr_set_string_array(h5fs_ref *ref, const char *name, size_t n, const char *const *values)
{
	size_t k;

	H5FS_ASSERT_ARG(ref);
	H5FS_ASSERT_ARG(name && *name);
	H5FS_ASSERT_ARG(values || !n);
	for (k = 0; k < n; k++)
		H5FS_ASSERT_ARG(values[k]);
	return set_typed(ref, name, n ? h5fs_dtype_vlen_str_hid() : copy_type(H5T_IEEE_F64LE), 1, n, values);
}

int h5fs_attr_set_none(h5fs_ref *ref, const char *name)
{
	return h5fs_attr_set_string(ref, name, NONE_ENVELOPE);
}
