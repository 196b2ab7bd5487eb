/*
 * The attribute text codec (DESIGN.md section 3, h5fs/attr.h).
 *
 * An HDF5 type is first turned into a small descriptor tree (struct
 * cdesc): the walkers below then never call into HDF5 per element, and
 * types the codec cannot render are refused before any data is read.
 *
 * Memory images: the codec works on the byte image of the attribute's own
 * (file) type, byte order included, so an attribute is read and written
 * with H5Aread/H5Awrite using its own type and no conversion happens.
 * Variable-length strings are char * in that image.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "h5fs/sys/hdf5.h"

/* Largest attribute image the codec reads or builds. */
#define CODEC_MAX_BYTES ((size_t)64 << 20)

enum cdesc_kind {
	CD_INT,		/* integers and bitfields */
	CD_FLOAT,	/* IEEE binary16/32/64 */
	CD_BOOL,	/* h5py's bool enum */
	CD_ENUM,
	CD_FSTR,	/* fixed-length string */
	CD_VSTR,	/* variable-length string: char * */
	CD_OPAQUE,
	CD_COMPOUND,
	CD_ARRAY	/* HDF5 array datatype */
};

struct cdesc {
	enum cdesc_kind kind;
	size_t size;
	bool be;		/* INT, FLOAT: big-endian */
	bool sign;		/* INT */
	H5T_str_t pad;		/* FSTR */
	bool has_vstr;		/* holds variable-length strings somewhere */
	size_t n;		/* ENUM, COMPOUND: members; ARRAY: elements */
	char **names;		/* ENUM, COMPOUND member names */
	unsigned char *values;	/* ENUM: n values of size bytes each */
	size_t *offsets;	/* COMPOUND */
	struct cdesc **members;	/* COMPOUND */
	struct cdesc *base;	/* ENUM, BOOL: base integer; ARRAY: element */
	int ndim;		/* ARRAY */
	hsize_t *dims;		/* ARRAY */
};

static void cdesc_free(struct cdesc *d)
{
	size_t k;

	if (!d)
		return;
	for (k = 0; k < d->n; k++) {
		if (d->names)
			free(d->names[k]);
		if (d->members)
			cdesc_free(d->members[k]);
	}
	free(d->names);
	free(d->values);
	free(d->offsets);
	free(d->members);
	free(d->dims);
	cdesc_free(d->base);
	free(d);
}

static int codec_unsupported(const char *what)
{
	h5fs__error_set(H5FS_ERROR_INVALID, "type '%s' has no text form", what);
	return H5FS_ENOTSUPPORTED;
}

/* Member @p idx's name as a malloc'd copy (HDF5's own is H5free_memory'd). */
static int cdesc_member_name(char **out, hid_t type, unsigned int idx)
{
	char *name = H5Tget_member_name(type, idx);

	if (!name) {
		h5fs__error_hdf5("cannot read member name of a type");
		return H5FS_ERROR;
	}
	*out = h5fs__strdup(name);
	H5free_memory(name);
	return *out ? 0 : H5FS_ENOMEM;
}

static int cdesc_build(struct cdesc **out, hid_t type, unsigned int depth);

static int cdesc_int(struct cdesc *d, hid_t type)
{
	H5T_order_t order = H5Tget_order(type);
	size_t prec = H5Tget_precision(type);
	int off = H5Tget_offset(type);

	if (d->size < 1 || d->size > 8 || prec != d->size * 8 || off != 0 ||
	    (order != H5T_ORDER_LE && order != H5T_ORDER_BE))
		return codec_unsupported("unusual integer");
	d->be = order == H5T_ORDER_BE;
	return 0;
}

static int cdesc_float(struct cdesc *d, hid_t type)
{
	static const size_t want[3][6] = {
		/* spos, epos, esize, mpos, msize, ebias */
		{ 15, 10, 5, 0, 10, 15 },
		{ 31, 23, 8, 0, 23, 127 },
		{ 63, 52, 11, 0, 52, 1023 },
	};
	size_t f[6];
	H5T_order_t order = H5Tget_order(type);
	int row;

	switch (d->size) {
	case 2: row = 0; break;
	case 4: row = 1; break;
	case 8: row = 2; break;
	default:
		return codec_unsupported("unusual float");
	}
	if (H5Tget_fields(type, &f[0], &f[1], &f[2], &f[3], &f[4]) < 0) {
		h5fs__error_hdf5("cannot read float layout");
		return H5FS_ERROR;
	}
	f[5] = H5Tget_ebias(type);
	if (memcmp(f, want[row], sizeof(f)) || H5Tget_offset(type) != 0 ||
	    H5Tget_precision(type) != d->size * 8 ||
	    (order != H5T_ORDER_LE && order != H5T_ORDER_BE))
		return codec_unsupported("unusual float");
	d->be = order == H5T_ORDER_BE;
	return 0;
}

static int cdesc_enum(struct cdesc *d, hid_t type, unsigned int depth)
{
	hid_t super;
	int nm, error;
	unsigned int k;

	if ((super = H5Tget_super(type)) < 0) {
		h5fs__error_hdf5("cannot read enum base type");
		return H5FS_ERROR;
	}
	error = cdesc_build(&d->base, super, depth + 1);
	H5Tclose(super);
	if (error < 0)
		return error;
	if (d->base->kind != CD_INT)
		return codec_unsupported("enum");
	if (h5fs_dtype_is_bool(type)) {
		d->kind = CD_BOOL;
		return 0;
	}
	if ((nm = H5Tget_nmembers(type)) < 0) {
		h5fs__error_hdf5("cannot read enum members");
		return H5FS_ERROR;
	}
	if (!(d->names = calloc((size_t)nm + 1, sizeof(*d->names))) ||
	    !(d->values = calloc((size_t)nm + 1, d->size)))
		return h5fs__error_oom();
	for (k = 0; k < (unsigned int)nm; k++) {
		d->n = k + 1;
		if ((error = cdesc_member_name(&d->names[k], type, k)) < 0)
			return error;
		if (H5Tget_member_value(type, k, d->values + k * d->size) < 0) {
			h5fs__error_hdf5("cannot read enum value");
			return H5FS_ERROR;
		}
	}
	return 0;
}

static int cdesc_compound(struct cdesc *d, hid_t type, unsigned int depth)
{
	int nm, error;
	unsigned int k;

	if ((nm = H5Tget_nmembers(type)) < 0) {
		h5fs__error_hdf5("cannot read compound members");
		return H5FS_ERROR;
	}
	if (!(d->names = calloc((size_t)nm + 1, sizeof(*d->names))) ||
	    !(d->offsets = calloc((size_t)nm + 1, sizeof(*d->offsets))) ||
	    !(d->members = calloc((size_t)nm + 1, sizeof(*d->members))))
		return h5fs__error_oom();
	for (k = 0; k < (unsigned int)nm; k++) {
		hid_t mt;

		d->n = k + 1;
		if ((error = cdesc_member_name(&d->names[k], type, k)) < 0)
			return error;
		d->offsets[k] = H5Tget_member_offset(type, k);
		if ((mt = H5Tget_member_type(type, k)) < 0) {
			h5fs__error_hdf5("cannot read compound member '%s'", d->names[k]);
			return H5FS_ERROR;
		}
		error = cdesc_build(&d->members[k], mt, depth + 1);
		H5Tclose(mt);
		if (error < 0)
			return error;
		if (d->offsets[k] > d->size ||
		    d->members[k]->size > d->size - d->offsets[k])
			return codec_unsupported("compound with members outside it");
		d->has_vstr |= d->members[k]->has_vstr;
	}
	return 0;
}

static int cdesc_array(struct cdesc *d, hid_t type, unsigned int depth)
{
	hid_t super;
	size_t n;
	int error, k;

	if ((d->ndim = H5Tget_array_ndims(type)) < 0) {
		h5fs__error_hdf5("cannot read array type rank");
		return H5FS_ERROR;
	}
	if (!(d->dims = calloc((size_t)d->ndim + 1, sizeof(*d->dims))))
		return h5fs__error_oom();
	if (H5Tget_array_dims2(type, d->dims) < 0) {
		h5fs__error_hdf5("cannot read array type dims");
		return H5FS_ERROR;
	}
	if ((super = H5Tget_super(type)) < 0) {
		h5fs__error_hdf5("cannot read array base type");
		return H5FS_ERROR;
	}
	error = cdesc_build(&d->base, super, depth + 1);
	H5Tclose(super);
	if (error < 0)
		return error;
	for (k = 0, n = 1; k < d->ndim; k++)
		n *= (size_t)d->dims[k];
	if (!d->base->size || n != d->size / d->base->size)
		return codec_unsupported("array");
	d->has_vstr = d->base->has_vstr;
	return 0;
}

static int cdesc_build(struct cdesc **out, hid_t type, unsigned int depth)
{
	struct cdesc *d;
	H5T_class_t cls;
	int error = 0;

	*out = NULL;
	if (depth > 16)
		return codec_unsupported("deeply nested");
	if (!(d = calloc(1, sizeof(*d))))
		return h5fs__error_oom();
	d->size = H5Tget_size(type);
	switch ((cls = H5Tget_class(type))) {
	case H5T_INTEGER:
	case H5T_BITFIELD:
		d->kind = CD_INT;
		d->sign = cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2;
		error = cdesc_int(d, type);
		break;
	case H5T_FLOAT:
		d->kind = CD_FLOAT;
		error = cdesc_float(d, type);
		break;
	case H5T_ENUM:
		d->kind = CD_ENUM;
		error = cdesc_enum(d, type, depth);
		break;
	case H5T_STRING:
		d->pad = H5Tget_strpad(type);
		if (H5Tis_variable_str(type) > 0) {
			d->kind = CD_VSTR;
			d->has_vstr = true;
			if (d->size != sizeof(char *))
				error = codec_unsupported("string");
		} else {
			d->kind = CD_FSTR;
		}
		break;
	case H5T_OPAQUE:
		d->kind = CD_OPAQUE;
		break;
	case H5T_COMPOUND:
		d->kind = CD_COMPOUND;
		error = cdesc_compound(d, type, depth);
		break;
	case H5T_ARRAY:
		d->kind = CD_ARRAY;
		error = cdesc_array(d, type, depth);
		break;
	case H5T_REFERENCE:
		error = codec_unsupported("reference");
		break;
	case H5T_VLEN:
		error = codec_unsupported("variable-length sequence");
		break;
	case H5T_TIME:
		error = codec_unsupported("time");
		break;
	default:
		h5fs__error_hdf5("cannot read type class");
		error = H5FS_ERROR;
		break;
	}
	if (!error && d->size == 0 && d->kind != CD_VSTR)
		error = codec_unsupported("empty");
	if (error < 0) {
		cdesc_free(d);
		return error;
	}
	*out = d;
	return 0;
}

/* Elements of an ARRAY datatype. */
static size_t cdesc_nelem(const struct cdesc *d)
{
	return d->base->size ? d->size / d->base->size : 0;
}

/* Number of points of a shape; 0 with an error when it is too large. */
static int shape_points(size_t *out, int ndim, const hsize_t *dims, size_t size)
{
	size_t n = 1;
	int k;

	if (ndim < 0 || ndim > H5FS_MAX_RANK) {
		h5fs__error_set(H5FS_ERROR_INVALID, "rank %d out of range", ndim);
		return H5FS_EINVALID;
	}
	for (k = 0; k < ndim; k++) {
		if (dims[k] && n > SIZE_MAX / dims[k])
			goto big;
		n *= (size_t)dims[k];
	}
	if (size && n > CODEC_MAX_BYTES / size)
		goto big;
	*out = n;
	return 0;
big:
	h5fs__error_set(H5FS_ERROR_INVALID, "attribute value larger than %zu bytes",
			CODEC_MAX_BYTES);
	return H5FS_EBUFS;
}

/* --- bytes and numbers ---------------------------------------------- */

static uint64_t get_uint(const unsigned char *p, size_t size, bool be)
{
	uint64_t v = 0;
	size_t k;

	for (k = 0; k < size; k++)
		v |= (uint64_t)p[be ? size - 1 - k : k] << (8 * k);
	return v;
}

static void put_uint(unsigned char *p, size_t size, bool be, uint64_t v)
{
	size_t k;

	for (k = 0; k < size; k++)
		p[be ? size - 1 - k : k] = (unsigned char)(v >> (8 * k));
}

/* The integer at p, sign-extended for signed types, in both forms. */
static void get_int(const struct cdesc *d, const unsigned char *p, int64_t *sv, uint64_t *uv)
{
	uint64_t u = get_uint(p, d->size, d->be);

	if (d->sign && d->size < 8 && (u >> (8 * d->size - 1)) & 1)
		u |= ~(uint64_t)0 << (8 * d->size);
	*uv = u;
	*sv = (int64_t)u;
}

static double half_to_double(uint16_t h)
{
	int e = (h >> 10) & 0x1f;
	int m = h & 0x3ff;
	double v;

	if (e == 0)
		v = ldexp((double)m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexp((double)(1024 + m), e - 25);
	return (h & 0x8000) ? -v : v;
}

/* Round to nearest, ties to even, as IEEE conversion does. */
static uint16_t double_to_half(double v)
{
	uint16_t sign = signbit(v) ? 0x8000 : 0;
	double a = fabs(v), m;
	int e;

	if (isnan(v))
		return sign | 0x7e00;
	if (a >= 65520.0)
		return sign | 0x7c00;
	if (a < ldexp(1.0, -14))
		return sign | (uint16_t)nearbyint(ldexp(a, 24));
	frexp(a, &e);
	e--;
	m = nearbyint((ldexp(a, -e) - 1.0) * 1024.0);
	if (m >= 1024.0) {
		m = 0;
		e++;
	}
	if (e > 15)
		return sign | 0x7c00;
	return sign | (uint16_t)((e + 15) << 10) | (uint16_t)m;
}

/*
 * Append @p v's shortest decimal digits @p ds (from "%.*e") with decimal
 * exponent @p e laid out as Python's repr() lays out floats: positional
 * for 1e-4 <= |v| < 1e16 (with ".0" when integral, so the text still reads
 * as a real when it decides a new attribute's type), else scientific with
 * a two-digit exponent at least ("1e+300", "5e-324").
 */
static void fmt_digits(h5fs_buf *b, bool neg, const char *ds, size_t nd, int e)
{
	size_t k;

	if (neg)
		h5fs_buf_putc(b, '-');
	if (e < -4 || e >= 16) {
		h5fs_buf_putc(b, ds[0]);
		if (nd > 1) {
			h5fs_buf_putc(b, '.');
			h5fs_buf_put(b, ds + 1, nd - 1);
		}
		h5fs_buf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
	} else if (e < 0) {
		h5fs_buf_puts(b, "0.");
		for (k = 0; k < (size_t)(-e - 1); k++)
			h5fs_buf_putc(b, '0');
		h5fs_buf_put(b, ds, nd);
	} else if (nd <= (size_t)e + 1) {
		h5fs_buf_put(b, ds, nd);
		for (k = nd; k < (size_t)e + 1; k++)
			h5fs_buf_putc(b, '0');
		h5fs_buf_puts(b, ".0");
	} else {
		h5fs_buf_put(b, ds, (size_t)e + 1);
		h5fs_buf_putc(b, '.');
		h5fs_buf_put(b, ds + e + 1, nd - (size_t)e - 1);
	}
}

/*
 * Append the shortest text that reads back to @p bits of a float of
 * @p size bytes (2, 4 or 8): the fewest significant digits p for which
 * "%.{p-1}e" round-trips through strtod (strtof for float32, our own
 * rounding for float16), then laid out by fmt_digits().
 */
static void fmt_float(h5fs_buf *b, uint64_t bits, size_t size)
{
	char tmp[64], ds[32];
	double v;
	float f;
	uint32_t b32;
	int prec, maxprec, e;
	size_t nd = 0, k;

	if (size == 8) {
		memcpy(&v, &bits, sizeof(v));
		maxprec = 17;
	} else if (size == 4) {
		b32 = (uint32_t)bits;
		memcpy(&f, &b32, sizeof(f));
		v = f;
		maxprec = 9;
	} else {
		v = half_to_double((uint16_t)bits);
		maxprec = 5;
	}
	if (isnan(v)) {
		h5fs_buf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		h5fs_buf_puts(b, v < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (v == 0) {
		h5fs_buf_puts(b, signbit(v) ? "-0.0" : "0.0");
		return;
	}
	for (prec = 1; prec <= maxprec; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (size == 8) {
			double r = strtod(tmp, NULL);

			if (!memcmp(&r, &v, sizeof(r)))
				break;
		} else if (size == 4) {
			float r = strtof(tmp, NULL);

			if (!memcmp(&r, &f, sizeof(r)))
				break;
		} else if (double_to_half(strtod(tmp, NULL)) == (uint16_t)bits) {
			break;
		}
	}
	/* tmp is [-]d[.ddd]e[+-]xx */
	for (k = tmp[0] == '-'; tmp[k] && tmp[k] != 'e'; k++)
		if (tmp[k] != '.')
			ds[nd++] = tmp[k];
	e = atoi(tmp + k + 1);
	fmt_digits(b, tmp[0] == '-', ds, nd, e);
}

/* --- formatting ----------------------------------------------------- */

static void fmt_hex(h5fs_buf *b, const unsigned char *p, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t k;

	h5fs_buf_puts(b, "0x");
	for (k = 0; k < size; k++) {
		h5fs_buf_putc(b, hex[p[k] >> 4]);
		h5fs_buf_putc(b, hex[p[k] & 15]);
	}
}

static void fmt_int(h5fs_buf *b, const struct cdesc *d, const unsigned char *p)
{
	int64_t sv;
	uint64_t uv;

	get_int(d, p, &sv, &uv);
	if (d->sign)
		h5fs_buf_printf(b, "%" PRId64, sv);
	else
		h5fs_buf_printf(b, "%" PRIu64, uv);
}

/* The bytes of a fixed-length string without its padding. */
static size_t fstr_len(const struct cdesc *d, const unsigned char *p)
{
	size_t n = d->size;

	if (d->pad == H5T_STR_NULLTERM) {
		const unsigned char *z = memchr(p, 0, n);

		return z ? (size_t)(z - p) : n;
	}
	while (n && p[n - 1] == (d->pad == H5T_STR_SPACEPAD ? ' ' : '\0'))
		n--;
	return n;
}

static void fmt_text(h5fs_buf *b, const char *s, size_t len, bool quoted)
{
	if (quoted)
		h5fs_buf_put_json_string(b, s, len);
	else
		h5fs_buf_put(b, s, len);
}

static void fmt_nd(h5fs_buf *b, const struct cdesc *d, int ndim, const hsize_t *dims,
		   const unsigned char **p);

/*
 * One element.  @p top: a scalar attribute's whole value, where strings,
 * enum names and opaque hex stand bare; inside JSON they are quoted.
 */
static void fmt_elem(h5fs_buf *b, const struct cdesc *d, const unsigned char *p, bool top)
{
	const unsigned char *q;
	const char *s;
	size_t k;

	switch (d->kind) {
	case CD_INT:
		fmt_int(b, d, p);
		break;
	case CD_FLOAT:
		fmt_float(b, get_uint(p, d->size, d->be), d->size);
		break;
	case CD_BOOL: {
		int64_t sv;
		uint64_t uv;

		get_int(d->base, p, &sv, &uv);
		if (sv == 0 || sv == 1)
			h5fs_buf_puts(b, sv ? "true" : "false");
		else
			fmt_int(b, d->base, p);
		break;
	}
	case CD_ENUM:
		for (k = 0; k < d->n; k++)
			if (!memcmp(d->values + k * d->size, p, d->size))
				break;
		if (k < d->n)
			fmt_text(b, d->names[k], strlen(d->names[k]), !top);
		else
			fmt_int(b, d->base, p);
		break;
	case CD_FSTR:
		fmt_text(b, (const char *)p, fstr_len(d, p), !top);
		break;
	case CD_VSTR:
		memcpy(&s, p, sizeof(s));
		fmt_text(b, s ? s : "", s ? strlen(s) : 0, !top);
		break;
	case CD_OPAQUE:
		if (!top)
			h5fs_buf_putc(b, '"');
		fmt_hex(b, p, d->size);
		if (!top)
			h5fs_buf_putc(b, '"');
		break;
	case CD_COMPOUND:
		h5fs_buf_putc(b, '{');
		for (k = 0; k < d->n; k++) {
			if (k)
				h5fs_buf_puts(b, ", ");
			h5fs_buf_put_json_string(b, d->names[k], strlen(d->names[k]));
			h5fs_buf_puts(b, ": ");
			fmt_elem(b, d->members[k], p + d->offsets[k], false);
		}
		h5fs_buf_putc(b, '}');
		break;
	case CD_ARRAY:
		q = p;
		fmt_nd(b, d->base, d->ndim, d->dims, &q);
		break;
	}
}

static void fmt_nd(h5fs_buf *b, const struct cdesc *d, int ndim, const hsize_t *dims,
		   const unsigned char **p)
{
	hsize_t k;

	if (!ndim) {
		fmt_elem(b, d, *p, false);
		*p += d->size;
		return;
	}
	h5fs_buf_putc(b, '[');
	for (k = 0; k < dims[0] && !b->oom; k++) {
		if (k)
			h5fs_buf_puts(b, ", ");
		fmt_nd(b, d, ndim - 1, dims + 1, p);
	}
	h5fs_buf_putc(b, ']');
}

static int codec_format_desc(char **out, size_t *len, const struct cdesc *d, int ndim,
			     const hsize_t *dims, const void *buf)
{
	h5fs_buf b = H5FS_BUF_INIT;
	const unsigned char *p = buf;
	int error;

	h5fs_buf_init(&b);
	if (ndim == 0)
		fmt_elem(&b, d, p, true);
	else
		fmt_nd(&b, d, ndim, dims, &p);
	if ((error = h5fs_buf_check(&b)) < 0) {
		h5fs_buf_release(&b);
		return error;
	}
	if (!(*out = h5fs_buf_detach(&b, len)))
		return h5fs__error_oom();
	return 0;
}

int h5fs_codec_format(char **out, size_t *len, hid_t type, int ndim, const hsize_t *dims, const void *buf)
{
	struct cdesc *d = NULL;
	size_t n, dummy;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(ndim == 0 || dims);
	H5FS_ASSERT_ARG(buf);
	if ((error = h5fs__init()) < 0)
		return error;
	if ((error = cdesc_build(&d, type, 0)) < 0 ||
	    (error = shape_points(&n, ndim, dims, d->size)) < 0)
		goto out;
	error = codec_format_desc(out, len ? len : &dummy, d, ndim, dims, buf);
out:
	cdesc_free(d);
	return error;
}

/* --- parsing -------------------------------------------------------- */

static int parse_fail(const char *fmt, const char *arg)
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
			return parse_fail("number '%.40s' is not an integer", num_text(j));
		return parse_fail("expected an integer for '%s'", kind_name(d));
	}
	if (j->big) {
		if (d->sign || j->u > umax)
			goto range;
		put_uint(p, d->size, d->be, j->u);
		return 0;
	}
	if (d->sign ? (j->i < smin || j->i > smax) : (j->i < 0 || (uint64_t)j->i > umax))
		goto range;
	put_uint(p, d->size, d->be, (uint64_t)j->i);
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
		return parse_fail("expected a number for '%s'", kind_name(d));
	/* Convert the source text itself: no double rounding into float32. */
	if (d->size == 4) {
		f = j->s ? strtof(j->s, NULL) : (float)j->d;
		if (isinf(f) && j->s)
			goto range;
		memcpy(&b32, &f, sizeof(b32));
		put_uint(p, 4, d->be, b32);
		return 0;
	}
	v = j->s ? strtod(j->s, NULL) : j->d;
	if (isinf(v) && j->s)
		goto range;
	if (d->size == 8) {
		memcpy(&b64, &v, sizeof(b64));
		put_uint(p, 8, d->be, b64);
		return 0;
	}
	h = double_to_half(v);
	if ((h & 0x7fff) == 0x7c00 && !isinf(v))
		goto range;
	put_uint(p, 2, d->be, h);
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
			return parse_fail("string holds a NUL byte, which a '%s' cannot store",
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
		return parse_fail("string holds a NUL byte, which a '%s' cannot store",
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
			return parse_fail("bad hex digit in '%s' value", "opaque");
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
			put_uint(p, d->size, d->base->be, j->b);
			return 0;
		}
		if (j->type == H5FS_JSON_INT && !j->big && (j->i == 0 || j->i == 1)) {
			put_uint(p, d->size, d->base->be, (uint64_t)j->i);
			return 0;
		}
		return parse_fail("expected true, false, 1 or 0 for '%s'", "bool");
	case CD_ENUM:
		if (j->type == H5FS_JSON_STRING) {
			if (parse_enum_name(d, j->s, j->slen, p) == 0)
				return 0;
			return parse_fail("'%.60s' is not a member of the enum", j->s);
		}
		if (j->type == H5FS_JSON_INT)
			return parse_int(d->base, j, p);
		return parse_fail("expected a member name for '%s'", "enum");
	case CD_FSTR:
	case CD_VSTR:
		if (j->type != H5FS_JSON_STRING)
			return parse_fail("expected a quoted string for '%s'", "string");
		return parse_string(d, j->s, j->slen, p);
	case CD_OPAQUE:
		if (j->type != H5FS_JSON_STRING)
			return parse_fail("expected a quoted hex string for '%s'", "opaque");
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
					return parse_fail("field '%s' given twice", d->names[k]);
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
	return parse_fail("cannot parse '%s'", kind_name(d));
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
		n = cdesc_nelem(d);
		for (k = 0; k < n; k++)
			free_elem(d->base, p + k * d->base->size);
		break;
	default:
		break;
	}
}

static void buffer_free_desc(const struct cdesc *d, void *buf, size_t n)
{
	size_t k;

	if (!buf)
		return;
	for (k = 0; k < n; k++)
		free_elem(d, (unsigned char *)buf + k * d->size);
	free(buf);
}

static int codec_parse_desc(void **out, const struct cdesc *d, int ndim, const hsize_t *dims,
			    const char *text, size_t len)
{
	unsigned char *buf, *p;
	h5fs_json *j = NULL;
	size_t n;
	int error;

	*out = NULL;
	if ((error = shape_points(&n, ndim, dims, d->size)) < 0)
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
		buffer_free_desc(d, buf, n);
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
	if ((error = cdesc_build(&d, type, 0)) < 0)
		return error;
	error = codec_parse_desc(out, d, ndim, dims, text, len);
	cdesc_free(d);
	return error;
}

void h5fs_codec_buffer_free(void *buf, hid_t type, int ndim, const hsize_t *dims)
{
	struct cdesc *d = NULL;
	size_t n;

	if (!buf)
		return;
	if (cdesc_build(&d, type, 0) < 0 || shape_points(&n, ndim, dims, 0) < 0) {
		/* NEEDSWORK: leaks the strings when the type cannot be described */
		free(buf);
		cdesc_free(d);
		return;
	}
	buffer_free_desc(d, buf, n);
	cdesc_free(d);
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
			error = parse_fail("text holds a NUL byte, which a '%s' cannot store",
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
	if ((error = cdesc_build(&d, t, 0)) < 0)
		goto out;
	if (!j) {
		error = codec_parse_desc(buf, d, 0, NULL, text, len);
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

		if ((error = shape_points(&n, st.ndim, st.dims, d->size)) < 0)
			goto out;
		if (!(p = calloc(n ? n : 1, d->size))) {
			error = h5fs__error_oom();
			goto out;
		}
		*buf = p;
		if ((error = parse_nd(d, st.ndim, st.dims, j, &p)) < 0) {
			buffer_free_desc(d, *buf, n);
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
	cdesc_free(d);
	h5fs__json_free(j);
	return error;
}

/* --- attributes ----------------------------------------------------- */

/* Type, rank and dims of an open attribute; *null for a null dataspace. */
static int attr_shape(hid_t attr, hid_t *type, int *ndim, hsize_t *dims, bool *null)
{
	hid_t space;
	H5S_class_t cls;
	int error = 0;

	*type = H5I_INVALID_HID;
	if ((space = H5Aget_space(attr)) < 0) {
		h5fs__error_hdf5("cannot read attribute dataspace");
		return H5FS_ERROR;
	}
	cls = H5Sget_simple_extent_type(space);
	*null = cls == H5S_NULL;
	*ndim = 0;
	if (cls == H5S_SIMPLE) {
		if ((*ndim = H5Sget_simple_extent_ndims(space)) < 0 || *ndim > H5FS_MAX_RANK ||
		    H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
			h5fs__error_hdf5("cannot read attribute shape");
			error = H5FS_ERROR;
			goto out;
		}
	} else if (cls != H5S_SCALAR && cls != H5S_NULL) {
		h5fs__error_hdf5("cannot read attribute dataspace");
		error = H5FS_ERROR;
		goto out;
	}
	if ((*type = H5Aget_type(attr)) < 0) {
		h5fs__error_hdf5("cannot read attribute type");
		error = H5FS_ERROR;
	}
out:
	H5Sclose(space);
	return error;
}

int h5fs_codec_format_attr(char **out, size_t *len, hid_t attr)
{
	struct cdesc *d = NULL;
	hsize_t dims[H5FS_MAX_RANK];
	hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
	void *buf = NULL;
	size_t n, dummy;
	int ndim, error;
	bool null;

	H5FS_ASSERT_ARG(out);
	*out = NULL;
	if (!len)
		len = &dummy;
	if ((error = h5fs__init()) < 0)
		return error;
	if ((error = attr_shape(attr, &type, &ndim, dims, &null)) < 0 ||
	    (error = cdesc_build(&d, type, 0)) < 0)
		goto out;
	if (null) {
		/* h5py's Empty: no value, the empty text */
		if (!(*out = h5fs__strdup("")))
			error = H5FS_ENOMEM;
		*len = 0;
		goto out;
	}
	if ((error = shape_points(&n, ndim, dims, d->size)) < 0)
		goto out;
	if (!(buf = calloc(n ? n : 1, d->size))) {
		error = h5fs__error_oom();
		goto out;
	}
	if (n && H5Aread(attr, type, buf) < 0) {
		h5fs__error_hdf5("cannot read attribute");
		error = H5FS_ERROR;
		free(buf);
		buf = NULL;
		goto out;
	}
	error = codec_format_desc(out, len, d, ndim, dims, buf);
	if (d->has_vstr && n) {
		if ((space = H5Aget_space(attr)) < 0 ||
		    H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf) < 0) {
			h5fs__hdf5_clear();
		}
	}
out:
	free(buf);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	cdesc_free(d);
	return error;
}

/* Write @p buf into the existing attribute @p name, parsed from text. */
static int set_existing(hid_t obj, const char *name, const char *text, size_t len)
{
	struct cdesc *d = NULL;
	hsize_t dims[H5FS_MAX_RANK];
	hid_t attr, type = H5I_INVALID_HID;
	void *buf = NULL;
	size_t n = 0;
	int ndim, error;
	bool null;

	if ((attr = H5Aopen(obj, name, H5P_DEFAULT)) < 0) {
		h5fs__error_hdf5("cannot open attribute '%s'", name);
		return H5FS_ERROR;
	}
	if ((error = attr_shape(attr, &type, &ndim, dims, &null)) < 0 ||
	    (error = cdesc_build(&d, type, 0)) < 0)
		goto out;
	if (null) {
		if (len)
			error = parse_fail("attribute '%s' has no value space; only empty text fits",
					   name);
		goto out;
	}
	if ((error = codec_parse_desc(&buf, d, ndim, dims, text, len)) < 0 ||
	    (error = shape_points(&n, ndim, dims, d->size)) < 0)
		goto out;
	if (n && H5Awrite(attr, type, buf) < 0) {
		h5fs__error_hdf5("cannot write attribute '%s'", name);
		error = H5FS_ERROR;
	}
out:
	if (d)
		buffer_free_desc(d, buf, n);
	cdesc_free(d);
	if (type >= 0)
		H5Tclose(type);
	H5Aclose(attr);
	return error;
}

static int set_new(hid_t obj, const char *name, const char *text, size_t len)
{
	hsize_t dims[H5FS_MAX_RANK];
	hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
	hid_t acpl = H5I_INVALID_HID, attr = H5I_INVALID_HID;
	void *buf = NULL;
	int ndim = 0, error;

	if ((error = h5fs_codec_infer(&type, &ndim, dims, &buf, text, len)) < 0)
		return error;
	if ((space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR)) < 0 ||
	    (acpl = H5Pcreate(H5P_ATTRIBUTE_CREATE)) < 0 ||
	    H5Pset_char_encoding(acpl, H5T_CSET_UTF8) < 0) {
		h5fs__error_hdf5("cannot prepare attribute '%s'", name);
		error = H5FS_ERROR;
		goto out;
	}
	if ((attr = H5Acreate2(obj, name, type, space, acpl, H5P_DEFAULT)) < 0) {
		h5fs__error_hdf5("cannot create attribute '%s'", name);
		error = H5FS_ERROR;
		goto out;
	}
	if (H5Awrite(attr, type, buf) < 0) {
		h5fs__error_hdf5("cannot write attribute '%s'", name);
		error = H5FS_ERROR;
		H5Aclose(attr);
		attr = H5I_INVALID_HID;
		/* leave nothing behind: the call changes nothing on failure */
		if (H5Adelete(obj, name) < 0)
			h5fs__hdf5_clear();
	}
out:
	if (attr >= 0)
		H5Aclose(attr);
	if (acpl >= 0)
		H5Pclose(acpl);
	if (space >= 0)
		H5Sclose(space);
	h5fs_codec_buffer_free(buf, type, ndim, dims);
	if (type >= 0)
		H5Tclose(type);
	return error;
}

int h5fs_codec_set_attr(hid_t obj, const char *name, const char *text, size_t len, unsigned int flags)
{
	htri_t exists;
	int error;

	H5FS_ASSERT_ARG(name && *name);
	H5FS_ASSERT_ARG(text || !len);
	if ((error = h5fs__init()) < 0)
		return error;
	if (!text)
		text = "";
	if ((exists = H5Aexists(obj, name)) < 0) {
		h5fs__error_hdf5("cannot look up attribute '%s'", name);
		return H5FS_ERROR;
	}
	if (exists && (flags & H5FS_ATTR_CREATE)) {
		h5fs__error_set(H5FS_ERROR_INVALID, "attribute '%s' already exists", name);
		return H5FS_EEXISTS;
	}
	if (!exists && (flags & H5FS_ATTR_REPLACE)) {
		h5fs__error_set(H5FS_ERROR_INVALID, "attribute '%s' not found", name);
		return H5FS_ENOTFOUND;
	}
	return exists ? set_existing(obj, name, text, len) : set_new(obj, name, text, len);
}
