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
#include "dtype_int.h"

void h5fs__dt_free(struct dt *t)
{
	size_t i;

	if (!t)
		return;
	h5fs__dt_free(t->base);
	for (i = 0; i < t->nfields; i++) {
		free(t->fields[i].name);
		h5fs__dt_free(t->fields[i].type);
	}
	free(t->fields);
	free(t->unit);
	free(t);
}

struct dt *h5fs__dt_new(enum dt_kind kind, char order, size_t size)
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
size_t h5fs__dt_slot_size(const struct dt *t)
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
		pos = f->offset + h5fs__dt_slot_size(ft);
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

int h5fs__dt_to_string(char **out, const struct dt *t)
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
int h5fs__dt_parse_simple(struct dt **out, const char *text, size_t len)
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
		if (!(t = h5fs__dt_new(DT_TIME, order, size)))
			return H5FS_ENOMEM;
		if (!(t->unit = malloc((size_t)(end - s) + 3))) {
			h5fs__dt_free(t);
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
	if (!(t = h5fs__dt_new(k, order, size)))
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
	if (!(t = h5fs__dt_new(DT_ARRAY, '|', 0))) {
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
		h5fs__dt_free(base);
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
	if (h5fs__dt_slot_size(t->base) && n > SIZE_MAX / h5fs__dt_slot_size(t->base)) {
		error = dt_bad(text, len, "subarray too large");
		goto out;
	}
	t->size = n * h5fs__dt_slot_size(t->base);
	*out = t;
	t = NULL;
out:
	h5fs__dt_free(base);
	h5fs__dt_free(t);
	return error;
}

static int dt_from_descr(struct dt **out, const h5fs_json *v, const char *text, size_t len)
{
	struct dt *t = NULL, *ft = NULL;
	size_t pos = 0, i, j, slot;
	int error = 0;

	if (!v->n)
		return dt_bad(text, len, "empty field list");
	if (!(t = h5fs__dt_new(DT_COMPOUND, '|', 0)) ||
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
		slot = h5fs__dt_slot_size(ft);
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
			h5fs__dt_free(ft);
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
	h5fs__dt_free(ft);
	h5fs__dt_free(t);
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
		return h5fs__dt_parse_simple(out, v->s, v->slen);
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

int h5fs__dt_parse(struct dt **out, const char *text)
{
	size_t len = strlen(text);
	const char *s = text;
	h5fs_json *v = NULL;
	int error;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (*s != '[' && *s != '"')
		return h5fs__dt_parse_simple(out, text, len);
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

	if ((error = h5fs__dt_parse(&t, dtype)) < 0)
		return error;
	error = h5fs__dt_to_string(out, t);
	h5fs__dt_free(t);
	return error;
}

int h5fs_dtype_itemsize(size_t *out, const char *dtype)
{
	struct dt *t = NULL;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(dtype);

	if ((error = h5fs__dt_parse(&t, dtype)) < 0)
		return error;
	*out = t->size;
	h5fs__dt_free(t);
	return 0;
}

int h5fs_shape_parse(int *ndim, uint64_t *dims, const char *text)
{
	h5fs_json *v = NULL;
	int error;

	H5FS_ASSERT_ARG(ndim && dims && text);
	if ((error = h5fs__json_parse(&v, text, strlen(text))) < 0)
		return error;
	if (v->type != H5FS_JSON_ARRAY || v->n > H5S_MAX_RANK)
		goto bad;
	for (size_t i = 0; i < v->n; i++) {
		const h5fs_json *d = v->items[i];

		if (d->type != H5FS_JSON_INT || d->big || d->i < 0)
			goto bad;
		dims[i] = (uint64_t)d->i;
	}
	*ndim = (int)v->n;
	h5fs__json_free(v);
	return 0;
bad:
	h5fs__json_free(v);
	h5fs__error_set(H5FS_ERROR_INVALID, "'%s' is not a shape (a list of sizes like [3, 4])", text);
	return H5FS_EINVALID;
}
