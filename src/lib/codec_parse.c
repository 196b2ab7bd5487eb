/*
 * The attribute text codec, text to bytes: a value as getfattr shows it
 * (JSON, or a bare string) parsed into the byte image of a known type
 * (h5fs_codec_parse()), or the type inferred from the text of a new
 * attribute (h5fs_codec_infer()).
 */
#include "codec_int.h"

/* --- parsing -------------------------------------------------------- */

int h5fs__parse_fail(const char *fmt, const char *arg)
{
	h5fs__error_set(H5FS_ERROR_INVALID, fmt, arg);
	return H5FS_EINVALID;
}

/* A short quotable excerpt of a JSON number's text for messages. */
static const char *num_text(const h5fs_json *j)
{
	if (j->s)
		return j->s;
	if (isnan(j->d))
		return "NaN";
	return j->d < 0 ? "-Infinity" : "Infinity";
}

static const char *kind_name(const struct cdesc *d)
{
	switch (d->kind) {
	case CD_INT: return d->sign ? "signed integer" : "unsigned integer";
	case CD_FLOAT: return "float";
	case CD_BOOL: return "bool";
	case CD_ENUM: return "enum";
	case CD_FSTR:
	case CD_VSTR: return "string";
	case CD_OPAQUE: return "opaque";
	case CD_COMPOUND: return "compound";
	case CD_ARRAY: return "array";
	}
	return "?";
}

static int parse_int(const struct cdesc *d, const h5fs_json *j, unsigned char *p)
{
	unsigned int bits = (unsigned int)(8 * d->size);
	uint64_t umax = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
	int64_t smax = (int64_t)(umax >> 1), smin = -smax - 1;

	if (j->type != H5FS_JSON_INT) {
		if (j->type == H5FS_JSON_REAL)
			return h5fs__parse_fail("number '%.40s' is not an integer", num_text(j));
		return h5fs__parse_fail("expected an integer for '%s'", kind_name(d));
	}
	if (j->big) {
		if (d->sign || j->u > umax)
			goto range;
		h5fs__put_uint(p, d->size, d->be, j->u);
		return 0;
	}
	if (d->sign ? (j->i < smin || j->i > smax) : (j->i < 0 || (uint64_t)j->i > umax))
		goto range;
	h5fs__put_uint(p, d->size, d->be, (uint64_t)j->i);
	return 0;
range:
	h5fs__error_set(H5FS_ERROR_INVALID, "integer '%.40s' out of range for %zu-byte %s",
			j->s, d->size, kind_name(d));
	return H5FS_EINVALID;
}

static int parse_float(const struct cdesc *d, const h5fs_json *j, unsigned char *p)
{
	double v;
	float f;
	uint32_t b32;
	uint64_t b64;
	uint16_t h;

	if (j->type != H5FS_JSON_INT && j->type != H5FS_JSON_REAL)
		return h5fs__parse_fail("expected a number for '%s'", kind_name(d));
	/* Convert the source text itself: no double rounding into float32. */
	if (d->size == 4) {
		f = j->s ? strtof(j->s, NULL) : (float)j->d;
		if (isinf(f) && j->s)
			goto range;
		memcpy(&b32, &f, sizeof(b32));
		h5fs__put_uint(p, 4, d->be, b32);
		return 0;
	}
	v = j->s ? strtod(j->s, NULL) : j->d;
	if (isinf(v) && j->s)
		goto range;
	if (d->size == 8) {
		memcpy(&b64, &v, sizeof(b64));
		h5fs__put_uint(p, 8, d->be, b64);
		return 0;
	}
	h = h5fs__double_to_half(v);
	if ((h & 0x7fff) == 0x7c00 && !isinf(v))
		goto range;
	h5fs__put_uint(p, 2, d->be, h);
	return 0;
range:
	h5fs__error_set(H5FS_ERROR_INVALID, "number '%.40s' out of range for %zu-byte float",
			j->s, d->size);
	return H5FS_EINVALID;
}

static int parse_string(const struct cdesc *d, const char *s, size_t len, unsigned char *p)
{
	char *copy;

	if (d->kind == CD_VSTR) {
		if (memchr(s, '\0', len))
			return h5fs__parse_fail("string holds a NUL byte, which a '%s' cannot store",
					  "variable-length string");
		if (!(copy = h5fs__strndup(s, len)))
			return H5FS_ENOMEM;
		memcpy(p, &copy, sizeof(copy));
		return 0;
	}
	if (len > d->size) {
		h5fs__error_set(H5FS_ERROR_INVALID, "string of %zu bytes does not fit '%zu-byte string'",
				len, d->size);
		return H5FS_EINVALID;
	}
	if (d->pad == H5T_STR_NULLTERM && memchr(s, '\0', len))
		return h5fs__parse_fail("string holds a NUL byte, which a '%s' cannot store",
				  "null-terminated string");
	memcpy(p, s, len);
	memset(p + len, d->pad == H5T_STR_SPACEPAD ? ' ' : '\0', d->size - len);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_opaque(const struct cdesc *d, const char *s, size_t len, unsigned char *p)
{
	size_t k;

	if (len != 2 + 2 * d->size || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) {
		h5fs__error_set(H5FS_ERROR_INVALID, "expected '0x' and %zu hex digits for opaque value",
				2 * d->size);
		return H5FS_EINVALID;
	}
	for (k = 0; k < d->size; k++) {
		int hi = hexval(s[2 + 2 * k]), lo = hexval(s[3 + 2 * k]);

		if (hi < 0 || lo < 0)
			return h5fs__parse_fail("bad hex digit in '%s' value", "opaque");
		p[k] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int parse_enum_name(const struct cdesc *d, const char *s, size_t len, unsigned char *p)
{
	size_t k;

	for (k = 0; k < d->n; k++) {
		if (strlen(d->names[k]) == len && !memcmp(d->names[k], s, len)) {
			memcpy(p, d->values + k * d->size, d->size);
			return 0;
		}
	}
	return H5FS_ENOTFOUND;
}

static int parse_nd(const struct cdesc *d, int ndim, const hsize_t *dims, const h5fs_json *j,
		    unsigned char **p);

static int parse_elem(const struct cdesc *d, const h5fs_json *j, unsigned char *p)
{
	unsigned char *q;
	size_t k, m;
	int error;

	switch (d->kind) {
	case CD_INT:
		return parse_int(d, j, p);
	case CD_FLOAT:
		return parse_float(d, j, p);
	case CD_BOOL:
		if (j->type == H5FS_JSON_BOOL) {
			h5fs__put_uint(p, d->size, d->base->be, j->b);
			return 0;
		}
		if (j->type == H5FS_JSON_INT && !j->big && (j->i == 0 || j->i == 1)) {
			h5fs__put_uint(p, d->size, d->base->be, (uint64_t)j->i);
			return 0;
		}
		return h5fs__parse_fail("expected true, false, 1 or 0 for '%s'", "bool");
	case CD_ENUM:
		if (j->type == H5FS_JSON_STRING) {
			if (parse_enum_name(d, j->s, j->slen, p) == 0)
				return 0;
			return h5fs__parse_fail("'%.60s' is not a member of the enum", j->s);
		}
		if (j->type == H5FS_JSON_INT)
			return parse_int(d->base, j, p);
		return h5fs__parse_fail("expected a member name for '%s'", "enum");
	case CD_FSTR:
	case CD_VSTR:
		if (j->type != H5FS_JSON_STRING)
			return h5fs__parse_fail("expected a quoted string for '%s'", "string");
		return parse_string(d, j->s, j->slen, p);
	case CD_OPAQUE:
		if (j->type != H5FS_JSON_STRING)
			return h5fs__parse_fail("expected a quoted hex string for '%s'", "opaque");
		return parse_opaque(d, j->s, j->slen, p);
	case CD_COMPOUND:
		if (j->type != H5FS_JSON_OBJECT || j->n != d->n)
			goto fields;
		for (k = 0; k < d->n; k++) {
			const h5fs_json *item = NULL;

			for (m = 0; m < j->n; m++) {
				if (j->klens[m] != strlen(d->names[k]) ||
				    memcmp(j->keys[m], d->names[k], j->klens[m]))
					continue;
				if (item)
					return h5fs__parse_fail("field '%s' given twice", d->names[k]);
				item = j->items[m];
			}
			if (!item)
				goto fields;
			if ((error = parse_elem(d->members[k], item, p + d->offsets[k])) < 0)
				return error;
		}
		return 0;
	case CD_ARRAY:
		q = p;
		return parse_nd(d->base, d->ndim, d->dims, j, &q);
	}
	return h5fs__parse_fail("cannot parse '%s'", kind_name(d));
fields:
	h5fs__error_set(H5FS_ERROR_INVALID, "expected an object with the %zu fields of the compound",
			d->n);
	return H5FS_EINVALID;
}

static int parse_nd(const struct cdesc *d, int ndim, const hsize_t *dims, const h5fs_json *j,
		    unsigned char **p)
{
	size_t k;
	int error;

	if (!ndim) {
		error = parse_elem(d, j, *p);
		*p += d->size;
		return error;
	}
	if (j->type != H5FS_JSON_ARRAY || j->n != dims[0]) {
		h5fs__error_set(H5FS_ERROR_INVALID, "expected a JSON array of %" PRIuMAX " items",
				(uintmax_t)dims[0]);
		return H5FS_EINVALID;
	}
	for (k = 0; k < j->n; k++)
		if ((error = parse_nd(d, ndim - 1, dims + 1, j->items[k], p)) < 0)
			return error;
	return 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A scalar's bare text (see h5fs/attr.h for what each type accepts). */
static int parse_top(const struct cdesc *d, const char *text, size_t len, unsigned char *p)
{
	h5fs_json *j = NULL;
	int error;

	switch (d->kind) {
	case CD_FSTR:
	case CD_VSTR:
		return parse_string(d, text, len, p);
	case CD_OPAQUE:
		while (len && is_ws(*text)) {
			text++;
			len--;
		}
		while (len && is_ws(text[len - 1]))
			len--;
		return parse_opaque(d, text, len, p);
	case CD_ENUM:
		if (parse_enum_name(d, text, len, p) == 0)
			return 0;
		break;
	default:
		break;
	}
	if ((error = h5fs__json_parse(&j, text, len)) < 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "text does not fit a scalar '%s'", kind_name(d));
		return H5FS_EINVALID;
	}
	error = parse_elem(d, j, p);
	h5fs__json_free(j);
	return error;
}

static void free_elem(const struct cdesc *d, unsigned char *p)
{
	size_t k, n;
	char *s;

	if (!d->has_vstr)
		return;
	switch (d->kind) {
	case CD_VSTR:
		memcpy(&s, p, sizeof(s));
		free(s);
		break;
	case CD_COMPOUND:
		for (k = 0; k < d->n; k++)
			free_elem(d->members[k], p + d->offsets[k]);
		break;
	case CD_ARRAY:
		n = h5fs__cdesc_nelem(d);
		for (k = 0; k < n; k++)
			free_elem(d->base, p + k * d->base->size);
		break;
	default:
		break;
	}
}

void h5fs__buffer_free_desc(const struct cdesc *d, void *buf, size_t n)
{
	size_t k;

	if (!buf)
		return;
	for (k = 0; k < n; k++)
		free_elem(d, (unsigned char *)buf + k * d->size);
	free(buf);
}

int h5fs__codec_parse_desc(void **out, const struct cdesc *d, int ndim, const hsize_t *dims,
			    const char *text, size_t len)
{
	unsigned char *buf, *p;
	h5fs_json *j = NULL;
	size_t n;
	int error;

	*out = NULL;
	if ((error = h5fs__shape_points(&n, ndim, dims, d->size)) < 0)
		return error;
	if (!(buf = calloc(n ? n : 1, d->size)))
		return h5fs__error_oom();
	p = buf;
	if (ndim == 0) {
		error = parse_top(d, text, len, buf);
	} else if ((error = h5fs__json_parse(&j, text, len)) < 0) {
		h5fs__error_set(H5FS_ERROR_INVALID, "text is not a JSON array of '%s'",
				kind_name(d));
		error = H5FS_EINVALID;
	} else {
		error = parse_nd(d, ndim, dims, j, &p);
	}
	h5fs__json_free(j);
	if (error < 0) {
		h5fs__buffer_free_desc(d, buf, n);
		return error;
	}
	*out = buf;
	return 0;
}

int h5fs_codec_parse(void **out, hid_t type, int ndim, const hsize_t *dims, const char *text, size_t len)
{
	struct cdesc *d = NULL;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ndim == 0 || dims);
	H5FS_ASSERT_ARG(text || !len);
	*out = NULL;
	if ((error = h5fs__init()) < 0)
		return error;
	if (!text)
		text = "";
	if ((error = h5fs__cdesc_build(&d, type, 0)) < 0)
		return error;
	error = h5fs__codec_parse_desc(out, d, ndim, dims, text, len);
	h5fs__cdesc_free(d);
	return error;
}

void h5fs_codec_buffer_free(void *buf, hid_t type, int ndim, const hsize_t *dims)
{
	struct cdesc *d = NULL;
	size_t n;

	if (!buf)
		return;
	if (h5fs__cdesc_build(&d, type, 0) < 0 || h5fs__shape_points(&n, ndim, dims, 0) < 0) {
		/* NEEDSWORK: leaks the strings when the type cannot be described */
		free(buf);
		h5fs__cdesc_free(d);
		return;
	}
	h5fs__buffer_free_desc(d, buf, n);
	h5fs__cdesc_free(d);
}

/* --- inference ------------------------------------------------------ */

enum infer_kind { IK_NONE, IK_INT, IK_UINT, IK_REAL, IK_BOOL, IK_STR, IK_BAD };

/*
 * The shape and element kind of a JSON array: rectangular, leaves of one
 * kind (int and real mix to real; ints above INT64_MAX make uint64 when
 * no int is negative).
 */
struct infer_state {
	int ndim;
	hsize_t dims[H5FS_MAX_RANK];
	bool seen_leaf;
	bool any_big, any_neg, any_real, any_int;
	enum infer_kind kind;
};

static void infer_walk(struct infer_state *st, const h5fs_json *j, int depth)
{
	enum infer_kind k;
	size_t i;

	if (st->kind == IK_BAD)
		return;
	if (j->type == H5FS_JSON_ARRAY) {
		if (!st->seen_leaf && depth == st->ndim) {
			/* first path down: define the shape */
			if (st->ndim == H5FS_MAX_RANK) {
				st->kind = IK_BAD;
				return;
			}
			st->dims[st->ndim++] = j->n;
		} else if (depth >= st->ndim || st->dims[depth] != j->n) {
			st->kind = IK_BAD;
			return;
		}
		if (!j->n)
			st->seen_leaf = true;	/* an empty array ends the shape */
		for (i = 0; i < j->n; i++)
			infer_walk(st, j->items[i], depth + 1);
		return;
	}
	if (depth != st->ndim) {
		st->kind = IK_BAD;
		return;
	}
	st->seen_leaf = true;
	switch (j->type) {
	case H5FS_JSON_INT:
		k = IK_INT;
		st->any_int = true;
		if (j->big)
			st->any_big = true;
		else if (j->i < 0)
			st->any_neg = true;
		break;
	case H5FS_JSON_REAL:
		k = IK_REAL;
		st->any_real = true;
		break;
	case H5FS_JSON_BOOL:
		k = IK_BOOL;
		break;
	case H5FS_JSON_STRING:
		k = memchr(j->s, '\0', j->slen) ? IK_BAD : IK_STR;
		break;
	default:
		k = IK_BAD;
		break;
	}
	if (st->kind == IK_NONE || st->kind == k)
		st->kind = k;
	else if ((st->kind == IK_INT || st->kind == IK_REAL) && (k == IK_INT || k == IK_REAL))
		st->kind = IK_REAL;
	else
		st->kind = IK_BAD;
}

/* The new type for an inferred kind. */
static hid_t infer_type(enum infer_kind k)
{
	hid_t t;

	switch (k) {
	case IK_INT:
		t = H5Tcopy(H5T_STD_I64LE);
		break;
	case IK_UINT:
		t = H5Tcopy(H5T_STD_U64LE);
		break;
	case IK_BOOL:
		return h5fs_dtype_bool_hid();
	case IK_STR:
		return h5fs_dtype_vlen_str_hid();
	default:
		t = H5Tcopy(H5T_IEEE_F64LE);
		break;
	}
	if (t < 0)
		h5fs__error_hdf5("cannot create type");
	return t;
}

int h5fs_codec_infer(hid_t *type, int *ndim, hsize_t *dims, void **buf, const char *text, size_t len)
{
	struct infer_state st;
	struct cdesc *d = NULL;
	h5fs_json *j = NULL;
	hid_t t = H5I_INVALID_HID;
	unsigned char *p;
	int error, k;

	H5FS_ASSERT_ARG(type && ndim && dims && buf);
	H5FS_ASSERT_ARG(text || !len);
	*type = H5I_INVALID_HID;
	*buf = NULL;
	*ndim = 0;
	if ((error = h5fs__init()) < 0)
		return error;
	if (!text)
		text = "";
	memset(&st, 0, sizeof(st));
	st.kind = IK_BAD;
	if (h5fs__json_parse(&j, text, len) == 0) {
		switch (j->type) {
		case H5FS_JSON_INT:
			st.kind = j->big ? IK_UINT : IK_INT;
			break;
		case H5FS_JSON_REAL:
			st.kind = IK_REAL;
			break;
		case H5FS_JSON_BOOL:
			st.kind = IK_BOOL;
			break;
		case H5FS_JSON_STRING:
			if (!memchr(j->s, '\0', j->slen))
				st.kind = IK_STR;
			break;
		case H5FS_JSON_ARRAY:
			st.kind = IK_NONE;
			infer_walk(&st, j, 0);
			if (st.kind == IK_NONE)
				st.kind = IK_REAL;	/* [] and [[]]: float64, as numpy */
			else if (st.kind == IK_INT && st.any_big)
				st.kind = st.any_neg ? IK_BAD : IK_UINT;
			break;
		default:
			break;
		}
	}
	h5fs__hdf5_clear();
	if (st.kind == IK_BAD) {
		/* any other text: the text itself, as h5py stores str */
		h5fs__json_free(j);
		j = NULL;
		if (memchr(text, '\0', len)) {
			error = h5fs__parse_fail("text holds a NUL byte, which a '%s' cannot store",
					   "variable-length string");
			goto out;
		}
		st.ndim = 0;
		st.kind = IK_STR;
	}
	if ((t = infer_type(st.kind)) < 0) {
		error = H5FS_ERROR;
		goto out;
	}
	if ((error = h5fs__cdesc_build(&d, t, 0)) < 0)
		goto out;
	if (!j) {
		error = h5fs__codec_parse_desc(buf, d, 0, NULL, text, len);
	} else if (j->type != H5FS_JSON_ARRAY) {
		if (!(p = calloc(1, d->size))) {
			error = h5fs__error_oom();
			goto out;
		}
		if ((error = parse_elem(d, j, p)) < 0) {
			free(p);
			goto out;
		}
		*buf = p;
	} else {
		size_t n;

		if ((error = h5fs__shape_points(&n, st.ndim, st.dims, d->size)) < 0)
			goto out;
		if (!(p = calloc(n ? n : 1, d->size))) {
			error = h5fs__error_oom();
			goto out;
		}
		*buf = p;
		if ((error = parse_nd(d, st.ndim, st.dims, j, &p)) < 0) {
			h5fs__buffer_free_desc(d, *buf, n);
			*buf = NULL;
			goto out;
		}
	}
	if (error < 0)
		goto out;
	*ndim = st.ndim;
	for (k = 0; k < st.ndim; k++)
		dims[k] = st.dims[k];
	*type = t;
	t = H5I_INVALID_HID;
out:
	if (t >= 0)
		H5Tclose(t);
	h5fs__cdesc_free(d);
	h5fs__json_free(j);
	return error;
}
