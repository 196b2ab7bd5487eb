/*
 * numpy type strings and HDF5 types, the HDF5 half: struct dt built into
 * an HDF5 type (h5fs_dtype_to_hid()) and read from one
 * (h5fs_dtype_from_hid()), and the n-bit widening of
 * h5fs_dtype_widened().  dtype.c has the strings; dtype_int.h the tree.
 */
#include "dtype_int.h"

hid_t h5fs_dtype_bool_hid(void)
{
	hid_t t;
	signed char v;

	if (h5fs__init() < 0)
		return H5I_INVALID_HID;
	if ((t = H5Tenum_create(H5T_NATIVE_INT8)) < 0) {
		h5fs__error_hdf5("cannot create the bool type");
		return H5I_INVALID_HID;
	}
	v = 0;
	if (H5Tenum_insert(t, "FALSE", &v) < 0)
		goto fail;
	v = 1;
	if (H5Tenum_insert(t, "TRUE", &v) < 0)
		goto fail;
	return t;
fail:
	h5fs__error_hdf5("cannot create the bool type");
	H5Tclose(t);
	return H5I_INVALID_HID;
}

int h5fs_dtype_is_bool(hid_t type)
{
	hid_t super = H5I_INVALID_HID;
	int found = 0, i;
	char *name;
	signed char value;
	int nmembers;
	int result = 0;

	if (H5Tget_class(type) != H5T_ENUM)
		goto out;
	if ((nmembers = H5Tget_nmembers(type)) != 2)
		goto out;
	if ((super = H5Tget_super(type)) < 0 || H5Tget_size(super) != 1)
		goto out;
	for (i = 0; i < 2; i++) {
		if (H5Tget_member_value(type, (unsigned)i, &value) < 0)
			goto out;
		if (!(name = H5Tget_member_name(type, (unsigned)i)))
			goto out;
		if ((value == 0 && !strcmp(name, "FALSE")) ||
		    (value == 1 && !strcmp(name, "TRUE")))
			found |= 1 << value;
		H5free_memory(name);
	}
	result = found == 3;
out:
	if (super >= 0)
		H5Tclose(super);
	h5fs__hdf5_clear();
	return result;
}

hid_t h5fs_dtype_vlen_str_hid(void)
{
	hid_t t;

	if (h5fs__init() < 0)
		return H5I_INVALID_HID;
	if ((t = H5Tcopy(H5T_C_S1)) < 0) {
		h5fs__error_hdf5("cannot create the string type");
		return H5I_INVALID_HID;
	}
	if (H5Tset_size(t, H5T_VARIABLE) < 0 ||
	    H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
		h5fs__error_hdf5("cannot create the string type");
		H5Tclose(t);
		return H5I_INVALID_HID;
	}
	return t;
}

/* IEEE half precision as h5py builds it (HDF5 1.10 has no predefined one). */
static hid_t half_hid(char order)
{
	hid_t t;

	if ((t = H5Tcopy(H5T_IEEE_F32LE)) < 0)
		return H5I_INVALID_HID;
	if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 ||
	    H5Tset_size(t, 2) < 0 ||
	    H5Tset_ebias(t, 15) < 0 ||
	    (order == '>' && H5Tset_order(t, H5T_ORDER_BE) < 0)) {
		H5Tclose(t);
		return H5I_INVALID_HID;
	}
	return t;
}

static hid_t dt_build(const struct dt *t);

/* h5py's datetime64: an opaque type tagged "NUMPY:<M8[s]". */
static hid_t time_hid(const struct dt *t)
{
	h5fs_buf tag = H5FS_BUF_INIT;
	hid_t h;

	h5fs_buf_init(&tag);
	h5fs_buf_printf(&tag, "NUMPY:%c%s", t->order, t->unit);
	if (h5fs_buf_check(&tag) < 0)
		return H5I_INVALID_HID;
	if ((h = H5Tcreate(H5T_OPAQUE, t->size)) >= 0 && H5Tset_tag(h, tag.ptr) < 0) {
		H5Tclose(h);
		h = H5I_INVALID_HID;
	}
	h5fs_buf_release(&tag);
	return h;
}

static hid_t complex_hid(const struct dt *t)
{
	hid_t c, part;
	size_t half = t->size / 2;

	if ((part = H5Tcopy(half == 4 ?
			    (t->order == '>' ? H5T_IEEE_F32BE : H5T_IEEE_F32LE) :
			    (t->order == '>' ? H5T_IEEE_F64BE : H5T_IEEE_F64LE))) < 0)
		return H5I_INVALID_HID;
	if ((c = H5Tcreate(H5T_COMPOUND, t->size)) < 0) {
		H5Tclose(part);
		return H5I_INVALID_HID;
	}
	if (H5Tinsert(c, "r", 0, part) < 0 || H5Tinsert(c, "i", half, part) < 0) {
		H5Tclose(c);
		c = H5I_INVALID_HID;
	}
	H5Tclose(part);
	return c;
}

static hid_t int_hid(const struct dt *t)
{
	int be = t->order == '>';

	if (t->kind == DT_INT) {
		switch (t->size) {
		case 1: return H5Tcopy(H5T_STD_I8LE);
		case 2: return H5Tcopy(be ? H5T_STD_I16BE : H5T_STD_I16LE);
		case 4: return H5Tcopy(be ? H5T_STD_I32BE : H5T_STD_I32LE);
		default: return H5Tcopy(be ? H5T_STD_I64BE : H5T_STD_I64LE);
		}
	}
	switch (t->size) {
	case 1: return H5Tcopy(H5T_STD_U8LE);
	case 2: return H5Tcopy(be ? H5T_STD_U16BE : H5T_STD_U16LE);
	case 4: return H5Tcopy(be ? H5T_STD_U32BE : H5T_STD_U32LE);
	default: return H5Tcopy(be ? H5T_STD_U64BE : H5T_STD_U64LE);
	}
}

/* A new HDF5 type for @p t; HDF5's error stack is left for the caller. */
static hid_t dt_build(const struct dt *t)
{
	hid_t h = H5I_INVALID_HID, base;
	hsize_t dims[H5S_MAX_RANK];
	size_t i;

	switch (t->kind) {
	case DT_INT:
	case DT_UINT:
		return int_hid(t);
	case DT_FLOAT:
		if (t->size == 2)
			return half_hid(t->order);
		if (t->size == 4)
			return H5Tcopy(t->order == '>' ? H5T_IEEE_F32BE : H5T_IEEE_F32LE);
		if (t->size == 8)
			return H5Tcopy(t->order == '>' ? H5T_IEEE_F64BE : H5T_IEEE_F64LE);
		return H5Tcopy(H5T_NATIVE_LDOUBLE);
	case DT_BOOL:
		return h5fs_dtype_bool_hid();
	case DT_COMPLEX:
		return complex_hid(t);
	case DT_STR:
		/* what h5py writes for numpy's S<n> */
		if ((h = H5Tcopy(H5T_C_S1)) < 0)
			return h;
		if (H5Tset_size(h, t->size) < 0 ||
		    H5Tset_strpad(h, H5T_STR_NULLPAD) < 0) {
			H5Tclose(h);
			return H5I_INVALID_HID;
		}
		return h;
	case DT_VSTR:
	case DT_OBJECT:
		return h5fs_dtype_vlen_str_hid();
	case DT_OPAQUE:
		return H5Tcreate(H5T_OPAQUE, t->size);
	case DT_TIME:
		return time_hid(t);
	case DT_ARRAY:
		if ((base = dt_build(t->base)) < 0)
			return base;
		for (i = 0; i < (size_t)t->ndims; i++)
			dims[i] = (hsize_t)t->dims[i];
		h = H5Tarray_create2(base, (unsigned)t->ndims, dims);
		H5Tclose(base);
		return h;
	case DT_COMPOUND:
		if ((h = H5Tcreate(H5T_COMPOUND, t->size)) < 0)
			return h;
		for (i = 0; i < t->nfields; i++) {
			herr_t rc;

			if ((base = dt_build(t->fields[i].type)) < 0)
				goto fail;
			rc = H5Tinsert(h, t->fields[i].name, t->fields[i].offset, base);
			H5Tclose(base);
			if (rc < 0)
				goto fail;
		}
		return h;
	}
fail:
	if (h >= 0)
		H5Tclose(h);
	return H5I_INVALID_HID;
}

int h5fs_dtype_to_hid(hid_t *out, const char *dtype)
{
	struct dt *t = NULL;
	hid_t h;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(dtype);

	if ((error = h5fs__init()) < 0)
		return error;
	if ((error = h5fs__dt_parse(&t, dtype)) < 0)
		return error;
	h5fs_error_clear();
	h = dt_build(t);
	h5fs__dt_free(t);
	if (h < 0) {
		if (h5fs__hdf5_stack_has(-1))
			h5fs__error_hdf5("cannot build an HDF5 type for '%s'", dtype);
		else if (h5fs_error_last()->klass == H5FS_ERROR_NONE)
			h5fs__error_set(H5FS_ERROR_HDF5, "cannot build an HDF5 type for '%s'", dtype);
		return H5FS_ERROR;
	}
	*out = h;
	return 0;
}

struct dt_read {
	int unsupported;
};

static struct dt *dt_read(struct dt_read *r, hid_t type);

/* A type numpy cannot name: the nearest description, flagged. */
static struct dt *dt_read_unsupported(struct dt_read *r, enum dt_kind kind, size_t size)
{
	r->unsupported = 1;
	return h5fs__dt_new(kind, '|', size);
}

static char read_order(hid_t type, size_t size)
{
	if (size == 1)
		return '|';
	return H5Tget_order(type) == H5T_ORDER_BE ? '>' : '<';
}

static struct dt *dt_read_float(struct dt_read *r, hid_t type, size_t size)
{
	size_t spos, epos, esize, mpos, msize;

	if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0)
		return NULL;
	if ((size == 2 && spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10) ||
	    (size == 4 && spos == 31 && epos == 23 && esize == 8 && mpos == 0 && msize == 23) ||
	    (size == 8 && spos == 63 && epos == 52 && esize == 11 && mpos == 0 && msize == 52) ||
	    (size == 16 && H5Tequal(type, H5T_NATIVE_LDOUBLE) > 0))
		return h5fs__dt_new(DT_FLOAT, read_order(type, size), size);
	return dt_read_unsupported(r, DT_OPAQUE, size);
}

/*
 * h5py tags the opaque types it writes for numpy types HDF5 lacks
 * (datetime64, or anything through h5py.opaque_dtype) "NUMPY:<dtype>"
 * and reads them back as that dtype.
 */
static struct dt *dt_read_opaque(hid_t type, size_t size)
{
	struct dt *t = NULL;
	char *tag;

	if (!(tag = H5Tget_tag(type))) {
		h5fs__hdf5_clear();
		return h5fs__dt_new(DT_OPAQUE, '|', size);
	}
	if (!strncmp(tag, "NUMPY:", 6) && tag[6] && tag[6] != '[') {
		if (h5fs__dt_parse_simple(&t, tag + 6, strlen(tag + 6)) < 0 ||
		    t->kind == DT_VSTR || t->size != size) {
			h5fs__dt_free(t);
			t = NULL;
		}
		h5fs_error_clear();
	}
	H5free_memory(tag);
	return t ? t : h5fs__dt_new(DT_OPAQUE, '|', size);
}

static int field_cmp(const void *a, const void *b)
{
	const struct dt_field *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* h5py's complex: a compound {r, i} of two equal IEEE floats. */
static struct dt *dt_read_complex(const struct dt *c)
{
	const struct dt *re, *im;

	if (c->nfields != 2)
		return NULL;
	re = c->fields[0].type;
	im = c->fields[1].type;
	if (strcmp(c->fields[0].name, "r") || strcmp(c->fields[1].name, "i") ||
	    re->kind != DT_FLOAT || im->kind != DT_FLOAT ||
	    re->size != im->size || re->order != im->order ||
	    (re->size != 4 && re->size != 8) ||
	    c->fields[0].offset != 0 || c->fields[1].offset != re->size ||
	    c->size != 2 * re->size)
		return NULL;
	return h5fs__dt_new(DT_COMPLEX, re->order, c->size);
}

static struct dt *dt_read_compound(struct dt_read *r, hid_t type, size_t size)
{
	struct dt *t, *cx;
	int n, i;
	hid_t mt;
	char *name;
	size_t end;

	if ((n = H5Tget_nmembers(type)) < 0)
		return NULL;
	if (!(t = h5fs__dt_new(DT_COMPOUND, '|', size)))
		return NULL;
	if (n && !(t->fields = calloc((size_t)n, sizeof(*t->fields)))) {
		h5fs__error_oom();
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct dt_field *f = &t->fields[i];

		if (!(name = H5Tget_member_name(type, (unsigned)i)))
			goto fail;
		f->name = h5fs__strdup(name);
		H5free_memory(name);
		if (!f->name)
			goto fail;
		f->offset = H5Tget_member_offset(type, (unsigned)i);
		t->nfields++;
		if ((mt = H5Tget_member_type(type, (unsigned)i)) < 0)
			goto fail;
		f->type = dt_read(r, mt);
		H5Tclose(mt);
		if (!f->type)
			goto fail;
	}
	/* numpy's descr lists fields by offset; overlaps have no descr */
	qsort(t->fields, t->nfields, sizeof(*t->fields), field_cmp);
	end = 0;
	for (i = 0; i < n; i++) {
		if (t->fields[i].offset < end ||
		    !t->fields[i].name[0] ||
		    h5fs__dt_slot_size(t->fields[i].type) > size - t->fields[i].offset) {
			h5fs__dt_free(t);
			return dt_read_unsupported(r, DT_OPAQUE, size);
		}
		end = t->fields[i].offset + h5fs__dt_slot_size(t->fields[i].type);
	}
	if (!n) {
		h5fs__dt_free(t);
		return dt_read_unsupported(r, DT_OPAQUE, size);
	}
	if ((cx = dt_read_complex(t))) {
		h5fs__dt_free(t);
		return cx;
	}
	return t;
fail:
	h5fs__dt_free(t);
	return NULL;
}

static struct dt *dt_read_array(struct dt_read *r, hid_t type, size_t size)
{
	hsize_t dims[H5S_MAX_RANK];
	struct dt *t, *base;
	hid_t super;
	int nd, i;

	if ((nd = H5Tget_array_ndims(type)) < 0 || nd > H5S_MAX_RANK ||
	    H5Tget_array_dims2(type, dims) < 0)
		return NULL;
	if ((super = H5Tget_super(type)) < 0)
		return NULL;
	base = dt_read(r, super);
	H5Tclose(super);
	if (!base)
		return NULL;
	if (!(t = h5fs__dt_new(DT_ARRAY, '|', size))) {
		h5fs__dt_free(base);
		return NULL;
	}
	for (i = 0; i < nd; i++)
		t->dims[t->ndims++] = dims[i];
	if (base->kind == DT_ARRAY) {
		/* numpy folds arrays of arrays into one shape */
		if (t->ndims + base->ndims > H5S_MAX_RANK) {
			h5fs__dt_free(t);
			h5fs__dt_free(base);
			return dt_read_unsupported(r, DT_OPAQUE, size);
		}
		for (i = 0; i < base->ndims; i++)
			t->dims[t->ndims++] = base->dims[i];
		t->base = base->base;
		base->base = NULL;
		h5fs__dt_free(base);
	} else {
		t->base = base;
	}
	return t;
}

/* NULL on failure; the caller sets the error (HDF5's stack may hold it). */
static struct dt *dt_read(struct dt_read *r, hid_t type)
{
	H5T_class_t cls;
	size_t size;
	hid_t super;
	struct dt *t;
	htri_t vs;

	if ((cls = H5Tget_class(type)) < 0 || !(size = H5Tget_size(type)))
		return NULL;
	switch (cls) {
	case H5T_INTEGER:
	case H5T_BITFIELD:
		if (size != 1 && size != 2 && size != 4 && size != 8)
			return dt_read_unsupported(r, DT_OPAQUE, size);
		if (cls == H5T_BITFIELD || H5Tget_sign(type) == H5T_SGN_NONE)
			return h5fs__dt_new(DT_UINT, read_order(type, size), size);
		return h5fs__dt_new(DT_INT, read_order(type, size), size);
	case H5T_FLOAT:
		return dt_read_float(r, type, size);
	case H5T_STRING:
		if ((vs = H5Tis_variable_str(type)) < 0)
			return NULL;
		if (vs)
			return h5fs__dt_new(DT_VSTR, '|', 0);
		return h5fs__dt_new(DT_STR, '|', size);
	case H5T_OPAQUE:
		return dt_read_opaque(type, size);
	case H5T_ENUM:
		if (h5fs_dtype_is_bool(type))
			return h5fs__dt_new(DT_BOOL, '|', 1);
		if ((super = H5Tget_super(type)) < 0)
			return NULL;
		t = dt_read(r, super);
		H5Tclose(super);
		return t;
	case H5T_COMPOUND:
		return dt_read_compound(r, type, size);
	case H5T_ARRAY:
		return dt_read_array(r, type, size);
	case H5T_REFERENCE:
	case H5T_VLEN:
		return dt_read_unsupported(r, DT_OBJECT, size);
	default:
		return dt_read_unsupported(r, DT_OPAQUE, size);
	}
}

static int widen_fail(hid_t *out, const char *what)
{
	if (*out >= 0)
		H5Tclose(*out);
	*out = H5I_INVALID_HID;
	h5fs__error_hdf5("cannot widen the n-bit integers of %s", what);
	return H5FS_ERROR;
}

/* An enum over the widened base @p wb, its member values converted. */
static int widen_enum(hid_t *out, hid_t t, hid_t base, hid_t wb)
{
	int n = H5Tget_nmembers(t);
	size_t sz = H5Tget_size(wb) > H5Tget_size(base) ? H5Tget_size(wb) : H5Tget_size(base);
	unsigned char *val = calloc(1, sz ? sz : 1);

	if (n < 0 || !val || (*out = H5Tenum_create(wb)) < 0) {
		free(val);
		return widen_fail(out, "an enum");
	}
	for (int i = 0; i < n; i++) {
		char *name = H5Tget_member_name(t, (unsigned)i);
		int ok = name && H5Tget_member_value(t, (unsigned)i, val) >= 0 &&
			 H5Tconvert(base, wb, 1, val, NULL, H5P_DEFAULT) >= 0 && H5Tenum_insert(*out, name, val) >= 0;

		H5free_memory(name);
		if (!ok) {
			free(val);
			return widen_fail(out, "an enum");
		}
	}
	free(val);
	return 1;
}

/* A compound with the same members at the same offsets, widened. */
static int widen_compound(hid_t *out, hid_t t)
{
	int n = H5Tget_nmembers(t), any = 0;

	if (n < 0)
		return widen_fail(out, "a compound");
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if (!any)
				return 0;
			if ((*out = H5Tcreate(H5T_COMPOUND, H5Tget_size(t))) < 0)
				return widen_fail(out, "a compound");
		}
		for (int i = 0; i < n; i++) {
			hid_t mt = H5Tget_member_type(t, (unsigned)i), wm = H5I_INVALID_HID;
			char *name = NULL;
			int rc = mt < 0 ? H5FS_ERROR : h5fs_dtype_widened(&wm, mt), ok = rc >= 0;

			if (ok && pass == 0)
				any |= rc;
			if (ok && pass == 1)
				ok = (name = H5Tget_member_name(t, (unsigned)i)) &&
				     H5Tinsert(*out, name, H5Tget_member_offset(t, (unsigned)i), rc ? wm : mt) >= 0;
			H5free_memory(name);
			if (wm >= 0)
				H5Tclose(wm);
			if (mt >= 0)
				H5Tclose(mt);
			if (!ok)
				return widen_fail(out, "a compound");
		}
	}
	return 1;
}

int h5fs_dtype_widened(hid_t *out, hid_t type)
{
	hid_t base, wb = H5I_INVALID_HID;
	int rc;

	*out = H5I_INVALID_HID;
	switch (H5Tget_class(type)) {
	case H5T_INTEGER: {
		size_t size = H5Tget_size(type), prec = H5Tget_precision(type);
		int off = H5Tget_offset(type);

		if (size == 0 || prec == 0 || off < 0)
			return widen_fail(out, "an integer");
		if (prec == size * 8 && off == 0)
			return 0;
		if ((*out = H5Tcopy(type)) < 0 || H5Tset_offset(*out, 0) < 0 || H5Tset_precision(*out, size * 8) < 0)
			return widen_fail(out, "an integer");
		return 1;
	}
	case H5T_ARRAY:
	case H5T_ENUM:
		if ((base = H5Tget_super(type)) < 0)
			return widen_fail(out, "a type");
		rc = h5fs_dtype_widened(&wb, base);
		if (rc > 0 && H5Tget_class(type) == H5T_ARRAY) {
			hsize_t dims[H5S_MAX_RANK];
			int nd = H5Tget_array_ndims(type);

			if (nd <= 0 || nd > H5S_MAX_RANK || H5Tget_array_dims2(type, dims) < 0 ||
			    (*out = H5Tarray_create2(wb, (unsigned)nd, dims)) < 0)
				rc = widen_fail(out, "an array");
		} else if (rc > 0) {
			rc = widen_enum(out, type, base, wb);
		}
		if (wb >= 0)
			H5Tclose(wb);
		H5Tclose(base);
		return rc;
	case H5T_COMPOUND:
		return widen_compound(out, type);
	default:
		return 0;
	}
}

int h5fs_dtype_from_hid(char **out, hid_t type)
{
	struct dt_read r = { 0 };
	struct dt *t;
	int error;

	H5FS_ASSERT_ARG(out);

	if ((error = h5fs__init()) < 0)
		return error;
	h5fs_error_clear();
	if (!(t = dt_read(&r, type))) {
		if (h5fs_error_last()->klass == H5FS_ERROR_NOMEMORY) {
			h5fs__hdf5_clear();
			return H5FS_ENOMEM;
		}
		h5fs__error_hdf5("cannot read HDF5 type");
		return H5FS_ERROR;
	}
	error = h5fs__dt_to_string(out, t);
	h5fs__dt_free(t);
	if (error < 0)
		return error;
	if (r.unsupported) {
		h5fs__error_set(H5FS_ERROR_INVALID,
				"HDF5 type has no numpy equivalent: '%s'", *out);
		return H5FS_ENOTSUPPORTED;
	}
	return 0;
}
