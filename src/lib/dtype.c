/*
 * numpy type strings and their HDF5 types (h5fs/dtype.h and the dtype
 * part of h5fs/sys/hdf5.h).
 *
 * Every conversion goes through one small tree, struct dt: a dtype
 * string (or JSON descr) is parsed into it without touching HDF5, and it
 * is formatted back into the canonical string, built into an HDF5 type,
 * or read from one.  So h5fs_dtype_normalize() and h5fs_dtype_itemsize()
 * are pure string functions, and from_hid(to_hid(s)) == normalize(s) by
 * construction.
 *
 * The canonical text follows numpy: "<f8", "|b1", "|S16", "|O", "|V8",
 * "<c16"; a compound is its dtype.descr as json.dumps writes it (fields
 * in offset order, gaps as ["", "|V<n>"] entries); a bare array type is
 * numpy's (base, shape) pair, ["<f4", [3]].
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "h5fs/sys/hdf5.h"

enum dt_kind {
	DT_INT,
	DT_UINT,
	DT_FLOAT,
	DT_BOOL,
	DT_COMPLEX,
	DT_STR,		/* fixed-length string */
	DT_VSTR,	/* variable-length string */
	DT_OPAQUE,
	DT_TIME,	/* numpy datetime64/timedelta64: h5py's tagged opaque */
	DT_OBJECT,	/* no fixed image: references, vlen sequences */
	DT_ARRAY,
	DT_COMPOUND
};

struct dt;

struct dt_field {
	char *name;
	size_t offset;
	struct dt *type;
};

struct dt {
	enum dt_kind kind;
	char order;		/* '<', '>' or '|' */
	size_t size;		/* bytes of one element; 0 for DT_VSTR */
	struct dt *base;	/* DT_ARRAY */
	int ndims;
	uint64_t dims[H5S_MAX_RANK];
	size_t nfields;		/* DT_COMPOUND, in offset order */
	struct dt_field *fields;
	char *unit;		/* DT_TIME: "M8[s]", "m8" ... (no order) */
};

static void dt_free(struct dt *t)
{
	size_t i;

	if (!t)
		return;
	dt_free(t->base);
	for (i = 0; i < t->nfields; i++) {
		free(t->fields[i].name);
		dt_free(t->fields[i].type);
	}
	free(t->fields);
	free(t->unit);
	free(t);
}

static struct dt *dt_new(enum dt_kind kind, char order, size_t size)
{
	struct dt *t = calloc(1, sizeof(*t));

	if (!t) {
		h5fs__error_oom();
		return NULL;
	}
	t->kind = kind;
	t->order = order;
	t->size = size;
	return t;
}

/* Bytes a value of @p t takes inside a compound or array. */
static size_t dt_slot_size(const struct dt *t)
{
	/* h5py shows both as numpy objects, a pointer each */
	if (t->kind == DT_VSTR || t->kind == DT_OBJECT)
		return sizeof(char *);
	return t->size;
}

static char native_order(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one ? '<' : '>';
}

/* --- formatting ---------------------------------------------------- */

static void dt_format(h5fs_buf *b, const struct dt *t, int quoted);

static void dt_format_dims(h5fs_buf *b, const struct dt *t)
{
	int i;

	h5fs_buf_putc(b, '[');
	for (i = 0; i < t->ndims; i++)
		h5fs_buf_printf(b, "%s%llu", i ? ", " : "",
				(unsigned long long)t->dims[i]);
	h5fs_buf_putc(b, ']');
}

static void dt_format_descr(h5fs_buf *b, const struct dt *t)
{
	size_t pos = 0, i;
	int first = 1;

	h5fs_buf_putc(b, '[');
	for (i = 0; i < t->nfields; i++) {
		const struct dt_field *f = &t->fields[i];
		const struct dt *ft = f->type;

		if (f->offset > pos) {
			h5fs_buf_printf(b, "%s[\"\", \"|V%zu\"]",
					first ? "" : ", ", f->offset - pos);
			first = 0;
		}
		h5fs_buf_puts(b, first ? "[" : ", [");
		first = 0;
		h5fs_buf_put_json_string(b, f->name, strlen(f->name));
		h5fs_buf_puts(b, ", ");
		if (ft->kind == DT_ARRAY) {
			dt_format(b, ft->base, 1);
			h5fs_buf_puts(b, ", ");
			dt_format_dims(b, ft);
		} else {
			dt_format(b, ft, 1);
		}
		h5fs_buf_putc(b, ']');
		pos = f->offset + dt_slot_size(ft);
	}
	if (t->size > pos)
		h5fs_buf_printf(b, "%s[\"\", \"|V%zu\"]", first ? "" : ", ",
				t->size - pos);
	h5fs_buf_putc(b, ']');
}

/* @p quoted: a simple type inside JSON is a JSON string. */
static void dt_format(h5fs_buf *b, const struct dt *t, int quoted)
{
	const char *q = quoted ? "\"" : "";

	switch (t->kind) {
	case DT_INT:
	case DT_UINT:
	case DT_FLOAT:
	case DT_COMPLEX:
		h5fs_buf_printf(b, "%s%c%c%zu%s", q, t->order,
				t->kind == DT_INT ? 'i' : t->kind == DT_UINT ? 'u' :
				t->kind == DT_FLOAT ? 'f' : 'c', t->size, q);
		break;
	case DT_BOOL:
		h5fs_buf_printf(b, "%s|b1%s", q, q);
		break;
	case DT_STR:
		h5fs_buf_printf(b, "%s|S%zu%s", q, t->size, q);
		break;
	case DT_VSTR:
	case DT_OBJECT:
		h5fs_buf_printf(b, "%s|O%s", q, q);
		break;
	case DT_OPAQUE:
		h5fs_buf_printf(b, "%s|V%zu%s", q, t->size, q);
		break;
	case DT_TIME:
		h5fs_buf_printf(b, "%s%c%s%s", q, t->order, t->unit, q);
		break;
	case DT_ARRAY:
		h5fs_buf_putc(b, '[');
		dt_format(b, t->base, 1);
		h5fs_buf_puts(b, ", ");
		dt_format_dims(b, t);
		h5fs_buf_putc(b, ']');
		break;
	case DT_COMPOUND:
		dt_format_descr(b, t);
		break;
	}
}

static int dt_to_string(char **out, const struct dt *t)
{
	h5fs_buf b = H5FS_BUF_INIT;
	int error;

	h5fs_buf_init(&b);
	dt_format(&b, t, 0);
	if ((error = h5fs_buf_check(&b)) < 0) {
		h5fs_buf_release(&b);
		return error;
	}
	if (!(*out = h5fs_buf_detach(&b, NULL)))
		return h5fs__error_oom();
	return 0;
}

/* --- parsing ------------------------------------------------------- */

static int dt_bad(const char *text, size_t len, const char *why)
{
	h5fs__error_set(H5FS_ERROR_INVALID, "invalid dtype '%.*s': %s",
			(int)(len > 200 ? 200 : len), text, why);
	return H5FS_EINVALID;
}

struct dt_alias {
	const char *name;
	const char *canon;
};

/* numpy's names and one-character codes ('=' is native order). */
static const struct dt_alias dt_aliases[] = {
	{ "bool", "|b1" }, { "bool_", "|b1" }, { "?", "|b1" },
	{ "int8", "|i1" }, { "int16", "=i2" }, { "int32", "=i4" },
	{ "int64", "=i8" }, { "int", "=i8" }, { "int_", "=i8" },
	{ "uint8", "|u1" }, { "uint16", "=u2" }, { "uint32", "=u4" },
	{ "uint64", "=u8" }, { "uint", "=u8" },
	{ "float16", "=f2" }, { "half", "=f2" }, { "float32", "=f4" },
	{ "single", "=f4" }, { "float64", "=f8" }, { "float", "=f8" },
	{ "double", "=f8" }, { "float_", "=f8" }, { "longdouble", "=f16" },
	{ "float128", "=f16" },
	{ "complex64", "=c8" }, { "csingle", "=c8" }, { "complex128", "=c16" },
	{ "complex", "=c16" }, { "cdouble", "=c16" }, { "complex_", "=c16" },
	{ "str", "|O" },
	{ "b", "|i1" }, { "B", "|u1" }, { "h", "=i2" }, { "H", "=u2" },
	{ "i", "=i4" }, { "I", "=u4" }, { "l", "=i8" }, { "L", "=u8" },
	{ "q", "=i8" }, { "Q", "=u8" }, { "e", "=f2" }, { "f", "=f4" },
	{ "d", "=f8" }, { "g", "=f16" }, { "F", "=c8" }, { "D", "=c16" },
	{ "O", "|O" },
	{ NULL, NULL }
};

static const struct dt_alias *dt_alias_find(const char *name, size_t len)
{
	const struct dt_alias *a;

	for (a = dt_aliases; a->name; a++)
		if (strlen(a->name) == len && !memcmp(a->name, name, len))
			return a;
	return NULL;
}

/* Parse a simple dtype string of @p len bytes. */
static int dt_parse_simple(struct dt **out, const char *text, size_t len)
{
	const struct dt_alias *a;
	const char *s = text, *end = text + len;
	char order = 0, kind;
	size_t size = 0;
	int have_size = 0;
	struct dt *t;
	enum dt_kind k;

	if (len && strchr("<>|=", *s))
		order = *s++;
	/* a name ("float64") alone, or a one-character code ("<i") */
	if ((!order || end - s == 1) && (a = dt_alias_find(s, (size_t)(end - s)))) {
		if (a->canon[0] != '=')
			order = a->canon[0];
		s = a->canon + 1;
		end = s + strlen(s);
	}
	if (s == end)
		return dt_bad(text, len, "no type code");
	kind = *s++;
	while (s < end) {
		if (*s == '[' && (kind == 'M' || kind == 'm'))
			break;
		if (*s < '0' || *s > '9')
			return dt_bad(text, len, "unexpected character after the type code");
		if (size > (SIZE_MAX - 9) / 10)
			return dt_bad(text, len, "size too large");
		size = size * 10 + (size_t)(*s++ - '0');
		have_size = 1;
	}
	if (order == '=' || order == 0 || order == '|')
		order = native_order();

	switch (kind) {
	case 'i':
	case 'u':
		if (size != 1 && size != 2 && size != 4 && size != 8)
			return dt_bad(text, len, "integers have 1, 2, 4 or 8 bytes");
		k = kind == 'i' ? DT_INT : DT_UINT;
		break;
	case 'f':
		if (size != 2 && size != 4 && size != 8 && size != 16)
			return dt_bad(text, len, "floats have 2, 4, 8 or 16 bytes");
		if (size == 16 && order != native_order())
			return dt_bad(text, len, "long double exists in native order only");
		k = DT_FLOAT;
		break;
	case 'c':
		if (size != 8 && size != 16)
			return dt_bad(text, len, "complex numbers have 8 or 16 bytes");
		k = DT_COMPLEX;
		break;
	case 'b':
		if (size != 1)
			return dt_bad(text, len, "booleans have 1 byte");
		k = DT_BOOL;
		break;
	case 'S':
	case 'a':
		if (!size)
			return dt_bad(text, len, "strings need a positive length");
		k = DT_STR;
		break;
	case 'V':
		if (!size)
			return dt_bad(text, len, "opaque types need a positive size");
		k = DT_OPAQUE;
		break;
	case 'O':
		if (have_size && size != 8)
			return dt_bad(text, len, "objects have 8 bytes");
		k = DT_VSTR;
		size = 0;
		break;
	case 'M':
	case 'm':
		if (have_size && size != 8)
			return dt_bad(text, len, "datetimes have 8 bytes");
		size = 8;
		if (s < end) {
			/* a unit: "[s]", "[10ms]" */
			const char *u = s + 1;

			while (u < end && ((*u >= '0' && *u <= '9') ||
					   (*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z')))
				u++;
			if (u == s + 1 || u + 1 != end || *u != ']' || end - s > 16)
				return dt_bad(text, len, "bad datetime unit");
		}
		if (!(t = dt_new(DT_TIME, order, size)))
			return H5FS_ENOMEM;
		if (!(t->unit = malloc((size_t)(end - s) + 3))) {
			dt_free(t);
			return h5fs__error_oom();
		}
		sprintf(t->unit, "%c8%.*s", kind, (int)(end - s), s);
		*out = t;
		return 0;
	case 'U':
		return dt_bad(text, len, "unicode arrays have no HDF5 equivalent");
	default:
		return dt_bad(text, len, "unknown type code");
	}
	if (size == 1 || k == DT_STR || k == DT_OPAQUE || k == DT_VSTR)
		order = '|';
	if (!(t = dt_new(k, order, size)))
		return H5FS_ENOMEM;
	*out = t;
	return 0;
}

static int dt_from_json(struct dt **out, const h5fs_json *v, const char *text, size_t len);

/* A JSON list of positive integers: a subarray shape. */
static int json_is_shape(const h5fs_json *v)
{
	size_t i;

	if (v->type != H5FS_JSON_ARRAY || !v->n)
		return 0;
	for (i = 0; i < v->n; i++)
		if (v->items[i]->type != H5FS_JSON_INT)
			return 0;
	return 1;
}

/* Wrap @p base (consumed) into an array type of shape @p shape. */
static int dt_make_array(struct dt **out, struct dt *base, const h5fs_json *shape,
			 const char *text, size_t len)
{
	struct dt *t = NULL;
	size_t n = 1, i;
	int error = 0;

	if (shape->n > H5S_MAX_RANK) {
		error = dt_bad(text, len, "subarray rank over 32");
		goto out;
	}
	/* numpy folds an array of arrays into one shape */
	if (!(t = dt_new(DT_ARRAY, '|', 0))) {
		error = H5FS_ENOMEM;
		goto out;
	}
	for (i = 0; i < shape->n; i++) {
		const h5fs_json *d = shape->items[i];

		if (d->big || d->i < 1) {
			error = dt_bad(text, len, "subarray dimensions must be positive");
			goto out;
		}
		t->dims[t->ndims++] = (uint64_t)d->i;
	}
	if (base->kind == DT_ARRAY) {
		if (t->ndims + base->ndims > H5S_MAX_RANK) {
			error = dt_bad(text, len, "subarray rank over 32");
			goto out;
		}
		for (i = 0; i < (size_t)base->ndims; i++)
			t->dims[t->ndims++] = base->dims[i];
		t->base = base->base;
		base->base = NULL;
		dt_free(base);
	} else {
		t->base = base;
	}
	base = NULL;
	for (i = 0; i < (size_t)t->ndims; i++) {
		if (t->dims[i] > SIZE_MAX / n) {
			error = dt_bad(text, len, "subarray too large");
			goto out;
		}
		n *= (size_t)t->dims[i];
	}
	if (dt_slot_size(t->base) && n > SIZE_MAX / dt_slot_size(t->base)) {
		error = dt_bad(text, len, "subarray too large");
		goto out;
	}
	t->size = n * dt_slot_size(t->base);
	*out = t;
	t = NULL;
out:
	dt_free(base);
	dt_free(t);
	return error;
}

static int dt_from_descr(struct dt **out, const h5fs_json *v, const char *text, size_t len)
{
	struct dt *t = NULL, *ft = NULL;
	size_t pos = 0, i, j, slot;
	int error = 0;

	if (!v->n)
		return dt_bad(text, len, "empty field list");
	if (!(t = dt_new(DT_COMPOUND, '|', 0)) ||
	    !(t->fields = calloc(v->n, sizeof(*t->fields)))) {
		error = H5FS_ENOMEM;
		if (t)
			h5fs__error_oom();
		goto out;
	}
	for (i = 0; i < v->n; i++) {
		const h5fs_json *f = v->items[i];
		const h5fs_json *name;

		if (f->type != H5FS_JSON_ARRAY || f->n < 2 || f->n > 3 ||
		    f->items[0]->type != H5FS_JSON_STRING) {
			error = dt_bad(text, len, "a field is [\"name\", dtype] or [\"name\", dtype, shape]");
			goto out;
		}
		name = f->items[0];
		if (strlen(name->s) != name->slen) {
			error = dt_bad(text, len, "field name holds a NUL byte");
			goto out;
		}
		if ((error = dt_from_json(&ft, f->items[1], text, len)) < 0)
			goto out;
		if (f->n == 3) {
			if (f->items[2]->type != H5FS_JSON_ARRAY ||
			    (f->items[2]->n && !json_is_shape(f->items[2]))) {
				error = dt_bad(text, len, "field shape is a list of integers");
				goto out;
			}
			if (f->items[2]->n &&
			    (error = dt_make_array(&ft, ft, f->items[2], text, len)) < 0) {
				ft = NULL;
				goto out;
			}
		}
		slot = dt_slot_size(ft);
		if (slot > SIZE_MAX - pos) {
			error = dt_bad(text, len, "compound too large");
			goto out;
		}
		if (!name->slen) {
			/* numpy's padding entries: ["", "|V<n>"] */
			if (ft->kind != DT_OPAQUE) {
				error = dt_bad(text, len, "a field without a name must be padding (|V<n>)");
				goto out;
			}
			pos += slot;
			dt_free(ft);
			ft = NULL;
			continue;
		}
		for (j = 0; j < t->nfields; j++) {
			if (!strcmp(t->fields[j].name, name->s)) {
				error = dt_bad(text, len, "duplicate field name");
				goto out;
			}
		}
		if (!(t->fields[t->nfields].name = h5fs__strdup(name->s))) {
			error = H5FS_ENOMEM;
			goto out;
		}
		t->fields[t->nfields].offset = pos;
		t->fields[t->nfields].type = ft;
		t->nfields++;
		ft = NULL;
		pos += slot;
	}
	if (!t->nfields) {
		error = dt_bad(text, len, "compound without fields");
		goto out;
	}
	t->size = pos;
	*out = t;
	t = NULL;
out:
	dt_free(ft);
	dt_free(t);
	return error;
}

static int dt_from_json(struct dt **out, const h5fs_json *v, const char *text, size_t len)
{
	struct dt *base = NULL;
	int error;

	switch (v->type) {
	case H5FS_JSON_STRING:
		if (strlen(v->s) != v->slen)
			return dt_bad(text, len, "type string holds a NUL byte");
		return dt_parse_simple(out, v->s, v->slen);
	case H5FS_JSON_ARRAY:
		/* numpy's (base, shape) pair, else a field list */
		if (v->n == 2 && json_is_shape(v->items[1])) {
			if ((error = dt_from_json(&base, v->items[0], text, len)) < 0)
				return error;
			return dt_make_array(out, base, v->items[1], text, len);
		}
		return dt_from_descr(out, v, text, len);
	default:
		return dt_bad(text, len, "expected a type string or a list");
	}
}

static int dt_parse(struct dt **out, const char *text)
{
	size_t len = strlen(text);
	const char *s = text;
	h5fs_json *v = NULL;
	int error;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (*s != '[' && *s != '"')
		return dt_parse_simple(out, text, len);
	if ((error = h5fs__json_parse(&v, text, len)) < 0) {
		if (error == H5FS_EINVALID)
			dt_bad(text, len, h5fs_error_last()->message);
		return error;
	}
	error = dt_from_json(out, v, text, len);
	h5fs__json_free(v);
	return error;
}

int h5fs_dtype_normalize(char **out, const char *dtype)
{
	struct dt *t = NULL;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(dtype);

	if ((error = dt_parse(&t, dtype)) < 0)
		return error;
	error = dt_to_string(out, t);
	dt_free(t);
	return error;
}

int h5fs_dtype_itemsize(size_t *out, const char *dtype)
{
	struct dt *t = NULL;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(dtype);

	if ((error = dt_parse(&t, dtype)) < 0)
		return error;
	*out = t->size;
	dt_free(t);
	return 0;
}

/* --- HDF5 types ---------------------------------------------------- */

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
	if ((error = dt_parse(&t, dtype)) < 0)
		return error;
	h5fs_error_clear();
	h = dt_build(t);
	dt_free(t);
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
	return dt_new(kind, '|', size);
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
		return dt_new(DT_FLOAT, read_order(type, size), size);
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
		return dt_new(DT_OPAQUE, '|', size);
	}
	if (!strncmp(tag, "NUMPY:", 6) && tag[6] && tag[6] != '[') {
		if (dt_parse_simple(&t, tag + 6, strlen(tag + 6)) < 0 ||
		    t->kind == DT_VSTR || t->size != size) {
			dt_free(t);
			t = NULL;
		}
		h5fs_error_clear();
	}
	H5free_memory(tag);
	return t ? t : dt_new(DT_OPAQUE, '|', size);
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
	return dt_new(DT_COMPLEX, re->order, c->size);
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
	if (!(t = dt_new(DT_COMPOUND, '|', size)))
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
		    dt_slot_size(t->fields[i].type) > size - t->fields[i].offset) {
			dt_free(t);
			return dt_read_unsupported(r, DT_OPAQUE, size);
		}
		end = t->fields[i].offset + dt_slot_size(t->fields[i].type);
	}
	if (!n) {
		dt_free(t);
		return dt_read_unsupported(r, DT_OPAQUE, size);
	}
	if ((cx = dt_read_complex(t))) {
		dt_free(t);
		return cx;
	}
	return t;
fail:
	dt_free(t);
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
	if (!(t = dt_new(DT_ARRAY, '|', size))) {
		dt_free(base);
		return NULL;
	}
	for (i = 0; i < nd; i++)
		t->dims[t->ndims++] = dims[i];
	if (base->kind == DT_ARRAY) {
		/* numpy folds arrays of arrays into one shape */
		if (t->ndims + base->ndims > H5S_MAX_RANK) {
			dt_free(t);
			dt_free(base);
			return dt_read_unsupported(r, DT_OPAQUE, size);
		}
		for (i = 0; i < base->ndims; i++)
			t->dims[t->ndims++] = base->dims[i];
		t->base = base->base;
		base->base = NULL;
		dt_free(base);
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
			return dt_new(DT_UINT, read_order(type, size), size);
		return dt_new(DT_INT, read_order(type, size), size);
	case H5T_FLOAT:
		return dt_read_float(r, type, size);
	case H5T_STRING:
		if ((vs = H5Tis_variable_str(type)) < 0)
			return NULL;
		if (vs)
			return dt_new(DT_VSTR, '|', 0);
		return dt_new(DT_STR, '|', size);
	case H5T_OPAQUE:
		return dt_read_opaque(type, size);
	case H5T_ENUM:
		if (h5fs_dtype_is_bool(type))
			return dt_new(DT_BOOL, '|', 1);
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
	error = dt_to_string(out, t);
	dt_free(t);
	if (error < 0)
		return error;
	if (r.unsupported) {
		h5fs__error_set(H5FS_ERROR_INVALID,
				"HDF5 type has no numpy equivalent: '%s'", *out);
		return H5FS_ENOTSUPPORTED;
	}
	return 0;
}
