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
 *
 * This file formats images as text and reads and writes attributes;
 * codec_desc.c builds the descriptors, codec_parse.c reads text back.
 */
#include "codec_int.h"

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
		v = h5fs__half_to_double((uint16_t)bits);
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
		} else if (h5fs__double_to_half(strtod(tmp, NULL)) == (uint16_t)bits) {
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

	h5fs__get_int(d, p, &sv, &uv);
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
		fmt_float(b, h5fs__get_uint(p, d->size, d->be), d->size);
		break;
	case CD_BOOL: {
		int64_t sv;
		uint64_t uv;

		h5fs__get_int(d->base, p, &sv, &uv);
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
	if ((error = h5fs__cdesc_build(&d, type, 0)) < 0 ||
	    (error = h5fs__shape_points(&n, ndim, dims, d->size)) < 0)
		goto out;
	error = codec_format_desc(out, len ? len : &dummy, d, ndim, dims, buf);
out:
	h5fs__cdesc_free(d);
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
	    (error = h5fs__cdesc_build(&d, type, 0)) < 0)
		goto out;
	if (null) {
		/* h5py's Empty: no value, the empty text */
		if (!(*out = h5fs__strdup("")))
			error = H5FS_ENOMEM;
		*len = 0;
		goto out;
	}
	if ((error = h5fs__shape_points(&n, ndim, dims, d->size)) < 0)
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
	h5fs__cdesc_free(d);
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
	    (error = h5fs__cdesc_build(&d, type, 0)) < 0)
		goto out;
	if (null) {
		if (len)
			error = h5fs__parse_fail("attribute '%s' has no value space; only empty text fits",
					   name);
		goto out;
	}
	if ((error = h5fs__codec_parse_desc(&buf, d, ndim, dims, text, len)) < 0 ||
	    (error = h5fs__shape_points(&n, ndim, dims, d->size)) < 0)
		goto out;
	if (n && H5Awrite(attr, type, buf) < 0) {
		h5fs__error_hdf5("cannot write attribute '%s'", name);
		error = H5FS_ERROR;
	}
out:
	if (d)
		h5fs__buffer_free_desc(d, buf, n);
	h5fs__cdesc_free(d);
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
