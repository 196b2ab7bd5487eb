/*
 * The attribute text codec, its descriptor: an HDF5 type turned into a
 * struct cdesc tree once (types the codec cannot render are refused
 * here, before any data is read), and the byte-level helpers of the
 * image (integers of any size and order, IEEE binary16).
 */
#include "codec_int.h"

void h5fs__cdesc_free(struct cdesc *d)
{
	size_t k;

	if (!d)
		return;
	for (k = 0; k < d->n; k++) {
		if (d->names)
			free(d->names[k]);
		if (d->members)
			h5fs__cdesc_free(d->members[k]);
	}
	free(d->names);
	free(d->values);
	free(d->offsets);
	free(d->members);
	free(d->dims);
	h5fs__cdesc_free(d->base);
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

int h5fs__cdesc_build(struct cdesc **out, hid_t type, unsigned int depth);

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
	error = h5fs__cdesc_build(&d->base, super, depth + 1);
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
		error = h5fs__cdesc_build(&d->members[k], mt, depth + 1);
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
	error = h5fs__cdesc_build(&d->base, super, depth + 1);
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

int h5fs__cdesc_build(struct cdesc **out, hid_t type, unsigned int depth)
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
		h5fs__cdesc_free(d);
		return error;
	}
	*out = d;
	return 0;
}

/* Elements of an ARRAY datatype. */
size_t h5fs__cdesc_nelem(const struct cdesc *d)
{
	return d->base->size ? d->size / d->base->size : 0;
}

/* Number of points of a shape; 0 with an error when it is too large. */
int h5fs__shape_points(size_t *out, int ndim, const hsize_t *dims, size_t size)
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

uint64_t h5fs__get_uint(const unsigned char *p, size_t size, bool be)
{
	uint64_t v = 0;
	size_t k;

	for (k = 0; k < size; k++)
		v |= (uint64_t)p[be ? size - 1 - k : k] << (8 * k);
	return v;
}

void h5fs__put_uint(unsigned char *p, size_t size, bool be, uint64_t v)
{
	size_t k;

	for (k = 0; k < size; k++)
		p[be ? size - 1 - k : k] = (unsigned char)(v >> (8 * k));
}

/* The integer at p, sign-extended for signed types, in both forms. */
void h5fs__get_int(const struct cdesc *d, const unsigned char *p, int64_t *sv, uint64_t *uv)
{
	uint64_t u = h5fs__get_uint(p, d->size, d->be);

	if (d->sign && d->size < 8 && (u >> (8 * d->size - 1)) & 1)
		u |= ~(uint64_t)0 << (8 * d->size);
	*uv = u;
	*sv = (int64_t)u;
}

double h5fs__half_to_double(uint16_t h)
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
uint16_t h5fs__double_to_half(double v)
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
