/*
 * The attribute text codec (src/lib/codec.c, DESIGN.md section 3).
 *
 * The core is a property test: for every attribute type the codec
 * supports and a set of edge and random values, an attribute is created,
 * formatted, overwritten, set again from its own text through
 * h5fs_codec_set_attr(), and its stored bytes must be what they were.
 * The PRNG seed is fixed (printed at the start and in every failure);
 * H5FS_SEED=N reruns another, H5FS_SEED=random a new one (make soak).
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glob.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "h5fs/sys/hdf5.h"
#include "../../src/lib/internal.h"
#include "../../src/lib/json.h"

static uint64_t seed;
static uint64_t rng_state;

/* splitmix64: small, seedable, good enough to pick values */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void seed_init(void)
{
	seed = th_seed("test_codec", 20261204);
	rng_state = seed;
}

static hid_t new_file(const char *name)
{
	hid_t f = H5Fcreate(th_path("%s", name), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);

	assert_true(f >= 0);
	return f;
}

/* --- types --------------------------------------------------------- */

static hid_t int_type(size_t size, bool sign, bool be)
{
	static const hid_t *const tab[2][2][4] = {
		{ { &H5T_STD_U8LE_g, &H5T_STD_U16LE_g, &H5T_STD_U32LE_g, &H5T_STD_U64LE_g },
		  { &H5T_STD_U8BE_g, &H5T_STD_U16BE_g, &H5T_STD_U32BE_g, &H5T_STD_U64BE_g } },
		{ { &H5T_STD_I8LE_g, &H5T_STD_I16LE_g, &H5T_STD_I32LE_g, &H5T_STD_I64LE_g },
		  { &H5T_STD_I8BE_g, &H5T_STD_I16BE_g, &H5T_STD_I32BE_g, &H5T_STD_I64BE_g } },
	};
	int idx = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
	hid_t t;

	H5open();
	t = H5Tcopy(*tab[sign][be][idx]);
	assert_true(t >= 0);
	return t;
}

static hid_t float_type(size_t size, bool be)
{
	hid_t t;

	if (size == 2) {
		t = H5Tcopy(H5T_IEEE_F32LE);
		assert_true(t >= 0);
		assert_true(H5Tset_fields(t, 15, 10, 5, 0, 10) >= 0);
		assert_true(H5Tset_size(t, 2) >= 0);
		assert_true(H5Tset_ebias(t, 15) >= 0);
		if (be)
			assert_true(H5Tset_order(t, H5T_ORDER_BE) >= 0);
		return t;
	}
	t = H5Tcopy(size == 4 ? (be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE)
			      : (be ? H5T_IEEE_F64BE : H5T_IEEE_F64LE));
	assert_true(t >= 0);
	return t;
}

static hid_t fstr_type(size_t size, H5T_str_t pad, H5T_cset_t cset)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	assert_true(t >= 0);
	assert_true(H5Tset_size(t, size) >= 0);
	assert_true(H5Tset_strpad(t, pad) >= 0);
	assert_true(H5Tset_cset(t, cset) >= 0);
	return t;
}

static hid_t vstr_type(H5T_cset_t cset)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	assert_true(t >= 0);
	assert_true(H5Tset_size(t, H5T_VARIABLE) >= 0);
	assert_true(H5Tset_cset(t, cset) >= 0);
	return t;
}

/* An enum on a big-endian uint16, with a name holding a space. */
static hid_t color_type(void)
{
	hid_t t = H5Tenum_create(H5T_STD_U16BE);
	unsigned char v[2];

	assert_true(t >= 0);
	v[0] = 0; v[1] = 0;
	assert_true(H5Tenum_insert(t, "RED", v) >= 0);
	v[0] = 0; v[1] = 7;
	assert_true(H5Tenum_insert(t, "GREEN", v) >= 0);
	v[0] = 1; v[1] = 44;
	assert_true(H5Tenum_insert(t, "BLUE SKY", v) >= 0);
	return t;
}

/* {a: <i4, b: >f8, c: S6 nullpad, d: bool, e: <i2[3], f: >f2} */
static hid_t compound_type(void)
{
	hid_t t = H5Tcreate(H5T_COMPOUND, 4 + 8 + 6 + 1 + 6 + 2 + 3);
	hid_t s = fstr_type(6, H5T_STR_NULLPAD, H5T_CSET_ASCII);
	hid_t b = h5fs_dtype_bool_hid();
	hid_t h = float_type(2, true);
	hsize_t three = 3;
	hid_t a = H5Tarray_create2(H5T_STD_I16LE, 1, &three);

	assert_true(t >= 0 && b >= 0 && a >= 0);
	assert_true(H5Tinsert(t, "a", 0, H5T_STD_I32LE) >= 0);
	assert_true(H5Tinsert(t, "b", 4, H5T_IEEE_F64BE) >= 0);
	assert_true(H5Tinsert(t, "c", 12, s) >= 0);
	assert_true(H5Tinsert(t, "d", 18, b) >= 0);
	assert_true(H5Tinsert(t, "e", 19, a) >= 0);
	assert_true(H5Tinsert(t, "f", 25, h) >= 0);
	H5Tclose(s);
	H5Tclose(b);
	H5Tclose(h);
	H5Tclose(a);
	return t;
}

/* --- values -------------------------------------------------------- */

static void put_uint(unsigned char *p, size_t size, bool be, uint64_t v)
{
	size_t k;

	for (k = 0; k < size; k++)
		p[be ? size - 1 - k : k] = (unsigned char)(v >> (8 * k));
}

static uint64_t get_uint(const unsigned char *p, size_t size, bool be)
{
	uint64_t v = 0;
	size_t k;

	for (k = 0; k < size; k++)
		v |= (uint64_t)p[be ? size - 1 - k : k] << (8 * k);
	return v;
}

static const char *const string_pool[] = {
	"", "a", "abc", "q\"b\\", "n\nl\tt", "\xc3\xa9\xe2\x82\xac", "x y",
	"\xf0\x9f\x98\x80", "{\"k\": [1]}", "42", "true", "NaN", "0x10",
	"grüße, 日本", "trailing  \\", "\x7f\x01ctl",
};
#define NPOOL (sizeof(string_pool) / sizeof(*string_pool))

/* Canonical NaN bits for a float size (what "NaN" parses to). */
static uint64_t float_nan(size_t size)
{
	return size == 2 ? 0x7e00 : size == 4 ? 0x7fc00000 : 0x7ff8000000000000ULL;
}

static bool float_is_nan(uint64_t bits, size_t size)
{
	if (size == 2)
		return (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff);
	if (size == 4)
		return (bits & 0x7f800000) == 0x7f800000 && (bits & 0x7fffff);
	return (bits & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL &&
	       (bits & 0xfffffffffffffULL);
}

/* A random element of @p type at @p p (vlen strings strdup'd). */
static void gen_elem(hid_t type, unsigned char *p)
{
	size_t size = H5Tget_size(type), k;
	H5T_class_t cls = H5Tget_class(type);

	switch (cls) {
	case H5T_INTEGER:
		put_uint(p, size, false, rnd());
		break;
	case H5T_FLOAT: {
		bool be = H5Tget_order(type) == H5T_ORDER_BE;
		uint64_t bits = rnd() & (size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1);

		if (float_is_nan(bits, size))
			bits = float_nan(size);
		put_uint(p, size, be, bits);
		break;
	}
	case H5T_ENUM: {
		int n = H5Tget_nmembers(type);

		assert_true(n > 0);
		assert_true(H5Tget_member_value(type, (unsigned)(rnd() % (uint64_t)n), p) >= 0);
		break;
	}
	case H5T_STRING:
		if (H5Tis_variable_str(type) > 0) {
			char *s = strdup(string_pool[rnd() % NPOOL]);

			assert_non_null(s);
			memcpy(p, &s, sizeof(s));
		} else {
			H5T_str_t pad = H5Tget_strpad(type);
			const char *s;

			do {
				s = string_pool[rnd() % NPOOL];
			} while (strlen(s) > size ||
				 (pad == H5T_STR_SPACEPAD && *s && s[strlen(s) - 1] == ' '));
			memset(p, pad == H5T_STR_SPACEPAD ? ' ' : 0, size);
			memcpy(p, s, strlen(s));
		}
		break;
	case H5T_OPAQUE:
		for (k = 0; k < size; k++)
			p[k] = (unsigned char)rnd();
		break;
	case H5T_COMPOUND: {
		int n = H5Tget_nmembers(type), m;

		for (m = 0; m < n; m++) {
			hid_t mt = H5Tget_member_type(type, (unsigned)m);

			gen_elem(mt, p + H5Tget_member_offset(type, (unsigned)m));
			H5Tclose(mt);
		}
		break;
	}
	case H5T_ARRAY: {
		hid_t bt = H5Tget_super(type);
		size_t bs = H5Tget_size(bt);

		for (k = 0; k < size / bs; k++)
			gen_elem(bt, p + k * bs);
		H5Tclose(bt);
		break;
	}
	default:
		fail_msg("gen_elem: unexpected class %d", (int)cls);
	}
}

static bool is_vstr(hid_t type)
{
	return H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0;
}

static void free_image(hid_t type, unsigned char *img, size_t n)
{
	size_t k;

	if (is_vstr(type)) {
		for (k = 0; k < n; k++) {
			char *s;

			memcpy(&s, img + k * sizeof(s), sizeof(s));
			free(s);
		}
	}
	free(img);
}

/* --- the round trip ------------------------------------------------ */

static size_t points(int ndim, const hsize_t *dims)
{
	size_t n = 1;
	int k;

	for (k = 0; k < ndim; k++)
		n *= (size_t)dims[k];
	return n;
}

/*
 * Create attribute @p name of @p type/shape holding @p img, format it,
 * overwrite it with zeros, set it from the text, and check the stored
 * bytes (strings for vlen) are back.  Returns the text (caller frees).
 */
static char *roundtrip(hid_t obj, const char *name, hid_t type, int ndim, const hsize_t *dims,
		       const unsigned char *img)
{
	size_t n = points(ndim, dims), size = H5Tget_size(type), len, len2, k;
	hid_t space, attr;
	unsigned char *zero, *back;
	char *text, *text2;
	int rc;

	space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
	assert_true(space >= 0);
	attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(attr >= 0);
	if (n)
		assert_true(H5Awrite(attr, type, img) >= 0);

	rc = h5fs_codec_format_attr(&text, &len, attr);
	if (rc < 0)
		fail_msg("seed %" PRIu64 ": format '%s': %s", seed, name, h5fs_error_last()->message);
	assert_int_equal(strlen(text) <= len, 1);

	/* scramble, then set from the text */
	zero = calloc(n ? n : 1, size);
	assert_non_null(zero);
	if (n && !is_vstr(type))
		assert_true(H5Awrite(attr, type, zero) >= 0);
	H5Aclose(attr);
	rc = h5fs_codec_set_attr(obj, name, text, len, H5FS_ATTR_REPLACE);
	if (rc < 0)
		fail_msg("seed %" PRIu64 ": set '%s' from '%s': %s", seed, name, text,
			 h5fs_error_last()->message);

	attr = H5Aopen(obj, name, H5P_DEFAULT);
	assert_true(attr >= 0);
	back = calloc(n ? n : 1, size);
	assert_non_null(back);
	if (n)
		assert_true(H5Aread(attr, type, back) >= 0);
	if (is_vstr(type)) {
		for (k = 0; k < n; k++) {
			char *a, *b;

			memcpy(&a, img + k * size, sizeof(a));
			memcpy(&b, back + k * size, sizeof(b));
			if (strcmp(a ? a : "", b ? b : ""))
				fail_msg("seed %" PRIu64 ": '%s'[%zu]: '%s' came back as '%s' (text '%s')",
					 seed, name, k, a, b, text);
		}
		if (n)
			assert_true(H5Dvlen_reclaim(type, space, H5P_DEFAULT, back) >= 0);
	} else if (memcmp(img, back, n * size)) {
		for (k = 0; k < n * size && img[k] == back[k]; k++)
			;
		fail_msg("seed %" PRIu64 ": '%s': byte %zu differs (%02x, back %02x), text '%s'",
			 seed, name, k, img[k], back[k], text);
	}
	/* the text is stable */
	rc = h5fs_codec_format_attr(&text2, &len2, attr);
	assert_int_equal(rc, 0);
	assert_int_equal(len, len2);
	assert_memory_equal(text, text2, len);
	free(text2);

	H5Aclose(attr);
	H5Sclose(space);
	assert_true(H5Adelete(obj, name) >= 0);
	free(zero);
	free(back);
	return text;
}

static void roundtrip_free(hid_t obj, const char *name, hid_t type, int ndim, const hsize_t *dims,
			   const unsigned char *img)
{
	free(roundtrip(obj, name, type, ndim, dims, img));
}

/* Random arrays (1-D, 2-D, empty, one element) and a scalar of @p type. */
static void roundtrip_random(hid_t obj, hid_t type, const char *label, int rounds)
{
	static const hsize_t shapes[][3] = {
		/* ndim, d0, d1 */
		{ 0, 0, 0 }, { 1, 5, 0 }, { 2, 2, 3 }, { 1, 0, 0 }, { 1, 1, 0 },
		{ 2, 3, 1 }, { 2, 0, 4 }, { 2, 4, 0 },
	};
	size_t size = H5Tget_size(type), s, k, n;
	int r;

	for (r = 0; r < rounds; r++) {
		for (s = 0; s < sizeof(shapes) / sizeof(*shapes); s++) {
			int ndim = (int)shapes[s][0];
			hsize_t dims[2] = { shapes[s][1], shapes[s][2] };
			unsigned char *img;
			char name[64];

			n = points(ndim, dims);
			img = calloc(n ? n : 1, size);
			assert_non_null(img);
			for (k = 0; k < n; k++)
				gen_elem(type, img + k * size);
			snprintf(name, sizeof(name), "%s_%d_%zu", label, r, s);
			roundtrip_free(obj, name, type, ndim, dims, img);
			free_image(type, img, n);
		}
	}
}

static void test_codec__roundtrip_integers(void **state)
{
	static const size_t sizes[] = { 1, 2, 4, 8 };
	hid_t f = new_file("ints.h5"), t;
	unsigned char img[8];
	size_t si;
	int sign, be, v;

	(void)state;
	for (si = 0; si < 4; si++) {
		for (sign = 0; sign < 2; sign++) {
			for (be = 0; be < 2; be++) {
				size_t size = sizes[si];
				uint64_t umax = size == 8 ? UINT64_MAX : (1ULL << (8 * size)) - 1;
				uint64_t edges[] = {
					0, 1, umax,			/* 0, 1, -1 or max */
					sign ? umax >> 1 : umax - 1,	/* max */
					sign ? (umax >> 1) + 1 : 2,	/* min */
					sign ? umax - 1 : 0x80,		/* -2 */
					0x7f, 0x80,
				};
				char label[32];

				t = int_type(size, sign, be);
				for (v = 0; v < (int)(sizeof(edges) / sizeof(*edges)); v++) {
					char *text;

					put_uint(img, size, be, edges[v] & umax);
					snprintf(label, sizeof(label), "%c%zu%s_%d", sign ? 'i' : 'u',
						 size, be ? "be" : "le", v);
					text = roundtrip(f, label, t, 0, NULL, img);
					/* spot checks of the exact texts */
					if (v == 2)
						assert_string_equal(text, sign ? "-1" : (size == 8 ?
							"18446744073709551615" : text));
					if (v == 4 && sign && size == 8)
						assert_string_equal(text, "-9223372036854775808");
					if (v == 3 && sign && size == 1)
						assert_string_equal(text, "127");
					free(text);
				}
				snprintf(label, sizeof(label), "%c%zu%s", sign ? 'i' : 'u', size,
					 be ? "be" : "le");
				roundtrip_random(f, t, label, 3);
				H5Tclose(t);
			}
		}
	}
	H5Fclose(f);
	th_assert_no_open_ids();
}

static void test_codec__roundtrip_floats(void **state)
{
	static const double d_edges[] = {
		0.0, -0.0, 1.0, -1.5, 0.1, 1e300, -1e-300, 5e-324, 2.2250738585072009e-308,
		DBL_MAX, -DBL_MAX, DBL_MIN, 1.0 / 3.0, 123456789.0, 1e16, 1e-5, 0.30000000000000004,
	};
	static const float f_edges[] = {
		0.0f, -0.0f, 0.1f, 1.0f / 3.0f, FLT_MAX, -FLT_MIN, 1e-45f, 1.17549421e-38f,
		16777216.0f, 3.4e38f,
	};
	static const uint16_t h_edges[] = {
		0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0x2e66, 0x3555,
	};
	hid_t f = new_file("floats.h5"), t;
	unsigned char img[8];
	uint64_t bits;
	size_t k;
	int be, size, special;
	char label[48];

	(void)state;
	for (be = 0; be < 2; be++) {
		t = float_type(8, be);
		for (k = 0; k < sizeof(d_edges) / sizeof(*d_edges); k++) {
			memcpy(&bits, &d_edges[k], 8);
			put_uint(img, 8, be, bits);
			snprintf(label, sizeof(label), "f8_%d_%zu", be, k);
			roundtrip_free(f, label, t, 0, NULL, img);
		}
		roundtrip_random(f, t, be ? "f8be" : "f8le", 3);
		H5Tclose(t);

		t = float_type(4, be);
		for (k = 0; k < sizeof(f_edges) / sizeof(*f_edges); k++) {
			uint32_t b32;

			memcpy(&b32, &f_edges[k], 4);
			put_uint(img, 4, be, b32);
			snprintf(label, sizeof(label), "f4_%d_%zu", be, k);
			roundtrip_free(f, label, t, 0, NULL, img);
		}
		roundtrip_random(f, t, be ? "f4be" : "f4le", 3);
		H5Tclose(t);

		t = float_type(2, be);
		for (k = 0; k < sizeof(h_edges) / sizeof(*h_edges); k++) {
			put_uint(img, 2, be, h_edges[k]);
			snprintf(label, sizeof(label), "f2_%d_%zu", be, k);
			roundtrip_free(f, label, t, 0, NULL, img);
		}
		roundtrip_random(f, t, be ? "f2be" : "f2le", 3);
		H5Tclose(t);

		/* NaN and both infinities in every size, and their texts */
		for (size = 2; size <= 8; size *= 2) {
			uint64_t inf = size == 2 ? 0x7c00 : size == 4 ? 0x7f800000 : 0x7ff0000000000000ULL;
			uint64_t sbit = 1ULL << (8 * size - 1);
			static const char *const want[] = { "NaN", "Infinity", "-Infinity" };

			t = float_type((size_t)size, be);
			for (special = 0; special < 3; special++) {
				char *text;

				bits = special == 0 ? float_nan((size_t)size) : special == 1 ? inf : inf | sbit;
				put_uint(img, (size_t)size, be, bits);
				snprintf(label, sizeof(label), "sp_%d_%d_%d", be, size, special);
				text = roundtrip(f, label, t, 0, NULL, img);
				assert_string_equal(text, want[special]);
				free(text);
			}
			H5Tclose(t);
		}
	}
	H5Fclose(f);
	th_assert_no_open_ids();
}

/* Shortest texts, checked literally. */
static void test_codec__float_texts(void **state)
{
	static const struct {
		double v;
		int size;
		const char *text;
	} rows[] = {
		{ 0.1, 8, "0.1" }, { 42.0, 8, "42.0" }, { -0.0, 8, "-0.0" }, { 0.0, 8, "0.0" },
		{ 1e300, 8, "1e+300" }, { 5e-324, 8, "5e-324" }, { 1.0 / 3.0, 8, "0.3333333333333333" },
		{ 0.30000000000000004, 8, "0.30000000000000004" }, { 1e16, 8, "1e+16" },
		{ 123456789.0, 8, "123456789.0" }, { 2.5, 8, "2.5" },
		{ 0.1, 4, "0.1" }, { 1.0 / 3.0, 4, "0.33333334" }, { 16777216.0, 4, "16777216.0" },
		{ 0.1, 2, "0.1" }, { 65504.0, 2, "65500.0" }, { 1.0 / 3.0, 2, "0.3333" },
		{ 5.960464477539063e-08, 2, "6e-08" }, { 1e-4, 8, "0.0001" }, { 1.5e-5, 8, "1.5e-05" }, { 1e15, 4, "1000000000000000.0" }, { 1e16, 4, "1e+16" }, { 1234.5, 8, "1234.5" },
	};
	size_t k, len;
	unsigned char img[8];

	(void)state;
	for (k = 0; k < sizeof(rows) / sizeof(*rows); k++) {
		hid_t t = float_type((size_t)rows[k].size, false);
		char *text;

		if (rows[k].size == 8) {
			memcpy(img, &rows[k].v, 8);
		} else if (rows[k].size == 4) {
			float fv = (float)rows[k].v;

			memcpy(img, &fv, 4);
		} else {
			/* convert with HDF5 itself to keep the test independent */
			double dv = rows[k].v;

			memcpy(img, &dv, 8);
			assert_true(H5Tconvert(H5T_NATIVE_DOUBLE, t, 1, img, NULL, H5P_DEFAULT) >= 0);
		}
		th_ok(h5fs_codec_format(&text, &len, t, 0, NULL, img));
		if (strcmp(text, rows[k].text))
			fail_msg("%.17g as f%d: '%s', want '%s'", rows[k].v, rows[k].size, text,
				 rows[k].text);
		free(text);
		H5Tclose(t);
	}
	th_assert_no_open_ids();
}

/* Every float16, many random float32/float64: format then parse (no file). */
static void test_codec__floats_exhaustive(void **state)
{
	hid_t t;
	uint64_t bits, back_bits;
	unsigned char img[8];
	void *back;
	char *text;
	size_t len;
	int be, size, k, count;

	(void)state;
	for (be = 0; be < 2; be++) {
		for (size = 2; size <= 8; size *= 2) {
			t = float_type((size_t)size, be);
			count = size == 2 ? 65536 : 100000;
			for (k = 0; k < count; k++) {
				bits = size == 2 ? (uint64_t)k :
				       size == 4 ? rnd() & 0xffffffffULL : rnd();
				if (float_is_nan(bits, (size_t)size))
					bits = float_nan((size_t)size);
				put_uint(img, (size_t)size, be, bits);
				th_ok(h5fs_codec_format(&text, &len, t, 0, NULL, img));
				if (h5fs_codec_parse(&back, t, 0, NULL, text, len) < 0)
					fail_msg("seed %" PRIu64 ": f%d bits %" PRIx64 " text '%s': %s",
						 seed, size, bits, text, h5fs_error_last()->message);
				back_bits = get_uint(back, (size_t)size, be);
				if (back_bits != bits)
					fail_msg("seed %" PRIu64 ": f%d bits %" PRIx64 " -> '%s' -> %" PRIx64,
						 seed, size, bits, text, back_bits);
				h5fs_codec_buffer_free(back, t, 0, NULL);
				free(text);
			}
			H5Tclose(t);
		}
	}
	th_assert_no_open_ids();
}

static void test_codec__roundtrip_enums(void **state)
{
	hid_t f = new_file("enums.h5"), t;
	unsigned char img[2];
	char *text;

	(void)state;
	/* h5py's bool */
	t = h5fs_dtype_bool_hid();
	assert_true(t >= 0);
	img[0] = 1;
	text = roundtrip(f, "b1", t, 0, NULL, img);
	assert_string_equal(text, "true");
	free(text);
	img[0] = 0;
	text = roundtrip(f, "b0", t, 0, NULL, img);
	assert_string_equal(text, "false");
	free(text);
	roundtrip_random(f, t, "bool", 3);
	H5Tclose(t);

	/* another enum: member names, and a value that is no member */
	t = color_type();
	img[0] = 1; img[1] = 44;
	text = roundtrip(f, "c1", t, 0, NULL, img);
	assert_string_equal(text, "BLUE SKY");
	free(text);
	img[0] = 0; img[1] = 5;
	text = roundtrip(f, "c2", t, 0, NULL, img);
	assert_string_equal(text, "5");
	free(text);
	roundtrip_random(f, t, "color", 3);
	H5Tclose(t);
	H5Fclose(f);
	th_assert_no_open_ids();
}

static void test_codec__roundtrip_strings(void **state)
{
	static const H5T_str_t pads[] = { H5T_STR_NULLPAD, H5T_STR_NULLTERM, H5T_STR_SPACEPAD };
	static const H5T_cset_t csets[] = { H5T_CSET_ASCII, H5T_CSET_UTF8 };
	hid_t f = new_file("strings.h5"), t;
	size_t p, c, k;
	char label[48];

	(void)state;
	for (c = 0; c < 2; c++) {
		/* variable length: every pool string as a scalar */
		t = vstr_type(csets[c]);
		for (k = 0; k < NPOOL; k++) {
			const char *s = string_pool[k];
			unsigned char img[sizeof(char *)];
			char *text;

			memcpy(img, &s, sizeof(s));
			snprintf(label, sizeof(label), "v%zu_%zu", c, k);
			text = roundtrip(f, label, t, 0, NULL, img);
			/* scalars: the raw bytes */
			assert_string_equal(text, s);
			free(text);
		}
		snprintf(label, sizeof(label), "vstr%zu", c);
		roundtrip_random(f, t, label, 3);
		H5Tclose(t);

		for (p = 0; p < 3; p++) {
			t = fstr_type(12, pads[p], csets[c]);
			for (k = 0; k < NPOOL; k++) {
				const char *s = string_pool[k];
				unsigned char img[12];
				char *text;

				if (strlen(s) > 12 || (pads[p] == H5T_STR_SPACEPAD && *s &&
						       s[strlen(s) - 1] == ' '))
					continue;
				memset(img, pads[p] == H5T_STR_SPACEPAD ? ' ' : 0, 12);
				memcpy(img, s, strlen(s));
				snprintf(label, sizeof(label), "s%zu_%zu_%zu", c, p, k);
				text = roundtrip(f, label, t, 0, NULL, img);
				assert_string_equal(text, s);
				free(text);
			}
			snprintf(label, sizeof(label), "fstr%zu_%zu", c, p);
			roundtrip_random(f, t, label, 3);
			H5Tclose(t);
		}
	}

	/* NUL bytes inside a null-padded string: raw in a scalar, \u0000 in arrays */
	{
		unsigned char img[8] = { 'a', 0, 'b', 0, 0, 0, 0, 0 };
		unsigned char arr[16] = { 'a', 0, 'b', 0, 0, 0, 0, 0, 'x', 0, 0, 0, 0, 0, 0, 0 };
		hsize_t two = 2;
		size_t len;
		hid_t attr;
		char *text;

		t = fstr_type(8, H5T_STR_NULLPAD, H5T_CSET_ASCII);
		text = roundtrip(f, "nul", t, 0, NULL, img);
		free(text);
		/* the scalar's text is 3 bytes with the NUL inside */
		{
			hid_t sp = H5Screate(H5S_SCALAR);

			attr = H5Acreate2(f, "nul2", t, sp, H5P_DEFAULT, H5P_DEFAULT);
			assert_true(attr >= 0);
			assert_true(H5Awrite(attr, t, img) >= 0);
			th_ok(h5fs_codec_format_attr(&text, &len, attr));
			assert_int_equal(len, 3);
			assert_memory_equal(text, "a\0b", 3);
			free(text);
			H5Aclose(attr);
			H5Sclose(sp);
		}
		text = roundtrip(f, "nularr", t, 1, &two, arr);
		assert_string_equal(text, "[\"a\\u0000b\", \"x\"]");
		free(text);
		H5Tclose(t);
	}
	H5Fclose(f);
	th_assert_no_open_ids();
}

static void test_codec__roundtrip_compound_opaque(void **state)
{
	hid_t f = new_file("compound.h5"), t;
	unsigned char img[32];
	char *text;
	hsize_t three = 3;

	(void)state;
	t = compound_type();
	memset(img, 0, sizeof(img));
	put_uint(img, 4, false, (uint64_t)-7);
	{
		double b = 2.5;
		uint64_t bits;

		memcpy(&bits, &b, 8);
		put_uint(img + 4, 8, true, bits);
	}
	memcpy(img + 12, "hi\"", 3);
	img[18] = 1;
	put_uint(img + 19, 2, false, 1);
	put_uint(img + 21, 2, false, (uint64_t)-2);
	put_uint(img + 23, 2, false, 300);
	put_uint(img + 25, 2, true, 0x3c00);	/* 1.0 */
	text = roundtrip(f, "cmp", t, 0, NULL, img);
	assert_string_equal(text, "{\"a\": -7, \"b\": 2.5, \"c\": \"hi\\\"\", \"d\": true, "
				  "\"e\": [1, -2, 300], \"f\": 1.0}");
	free(text);
	roundtrip_random(f, t, "cmp", 3);
	H5Tclose(t);

	/* an array datatype as the element type */
	t = H5Tarray_create2(H5T_IEEE_F32LE, 1, &three);
	roundtrip_random(f, t, "arrtype", 2);
	H5Tclose(t);

	t = H5Tcreate(H5T_OPAQUE, 4);
	assert_true(H5Tset_tag(t, "raw") >= 0);
	memcpy(img, "\x01\xab\x00\xff", 4);
	text = roundtrip(f, "opq", t, 0, NULL, img);
	assert_string_equal(text, "0x01ab00ff");
	free(text);
	roundtrip_random(f, t, "opq", 2);
	H5Tclose(t);
	H5Fclose(f);
	th_assert_no_open_ids();
}

/* --- inference ------------------------------------------------------ */

enum { K_I64, K_U64, K_F64, K_BOOL, K_STR };

static void test_codec__inference(void **state)
{
	static const struct {
		const char *text;
		int kind;
		int ndim;
		hsize_t d0, d1;
		const char *back;	/* the text read back */
	} rows[] = {
		{ "42", K_I64, 0, 0, 0, "42" },
		{ "-7", K_I64, 0, 0, 0, "-7" },
		{ " 42\n", K_I64, 0, 0, 0, "42" },
		{ "-9223372036854775808", K_I64, 0, 0, 0, "-9223372036854775808" },
		{ "9223372036854775808", K_U64, 0, 0, 0, "9223372036854775808" },
		{ "0.1", K_F64, 0, 0, 0, "0.1" },
		{ "3.0", K_F64, 0, 0, 0, "3.0" },
		{ "1e300", K_F64, 0, 0, 0, "1e+300" },
		{ "1E2", K_F64, 0, 0, 0, "100.0" },
		{ "NaN", K_F64, 0, 0, 0, "NaN" },
		{ "-Infinity", K_F64, 0, 0, 0, "-Infinity" },
		{ "99999999999999999999", K_F64, 0, 0, 0, "1e+20" },
		{ "true", K_BOOL, 0, 0, 0, "true" },
		{ "false", K_BOOL, 0, 0, 0, "false" },
		{ "\"quoted\"", K_STR, 0, 0, 0, "quoted" },
		{ "\"42\"", K_STR, 0, 0, 0, "42" },
		{ "\"a\\nb \\u00e9\"", K_STR, 0, 0, 0, "a\nb \xc3\xa9" },
		{ "hello world", K_STR, 0, 0, 0, "hello world" },
		{ "", K_STR, 0, 0, 0, "" },
		{ "null", K_STR, 0, 0, 0, "null" },
		{ "TRUE", K_STR, 0, 0, 0, "TRUE" },
		{ "01", K_STR, 0, 0, 0, "01" },
		{ "{\"__type__\": \"NoneType\", \"__value__\": \"None\"}", K_STR, 0, 0, 0,
		  "{\"__type__\": \"NoneType\", \"__value__\": \"None\"}" },
		{ "\"a\\u0000b\"", K_STR, 0, 0, 0, "\"a\\u0000b\"" },
		{ "[1, 2, 3]", K_I64, 1, 3, 0, "[1, 2, 3]" },
		{ "[1.5, 2]", K_F64, 1, 2, 0, "[1.5, 2.0]" },
		{ "[[1, 2], [3, 4]]", K_I64, 2, 2, 2, "[[1, 2], [3, 4]]" },
		{ "[[1.0], [2]]", K_F64, 2, 2, 1, "[[1.0], [2.0]]" },
		{ "[true, false]", K_BOOL, 1, 2, 0, "[true, false]" },
		{ "[\"a\", \"b\\\"c\"]", K_STR, 1, 2, 0, "[\"a\", \"b\\\"c\"]" },
		{ "[]", K_F64, 1, 0, 0, "[]" },
		{ "[[]]", K_F64, 2, 1, 0, "[[]]" },
		{ "[NaN, Infinity]", K_F64, 1, 2, 0, "[NaN, Infinity]" },
		{ "[18446744073709551615, 1]", K_U64, 1, 2, 0, "[18446744073709551615, 1]" },
		{ "[[1, 2], [3]]", K_STR, 0, 0, 0, "[[1, 2], [3]]" },
		{ "[[1, 2], 3]", K_STR, 0, 0, 0, "[[1, 2], 3]" },
		{ "[1, \"a\"]", K_STR, 0, 0, 0, "[1, \"a\"]" },
		{ "[true, 1]", K_STR, 0, 0, 0, "[true, 1]" },
		{ "[1, null]", K_STR, 0, 0, 0, "[1, null]" },
		{ "[{}]", K_STR, 0, 0, 0, "[{}]" },
		{ "[1, 2", K_STR, 0, 0, 0, "[1, 2" },
	};
	hid_t f = new_file("infer.h5");
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(rows) / sizeof(*rows); k++) {
		hid_t attr, type, space;
		hsize_t dims[2];
		char name[16], *text;
		size_t len;
		int ndim;

		snprintf(name, sizeof(name), "a%zu", k);
		th_ok(h5fs_codec_set_attr(f, name, rows[k].text, strlen(rows[k].text), 0));
		attr = H5Aopen(f, name, H5P_DEFAULT);
		assert_true(attr >= 0);
		type = H5Aget_type(attr);
		space = H5Aget_space(attr);
		ndim = H5Sget_simple_extent_ndims(space);
		if (ndim != rows[k].ndim)
			fail_msg("'%s': rank %d, want %d", rows[k].text, ndim, rows[k].ndim);
		if (ndim == 0) {
			assert_int_equal(H5Sget_simple_extent_type(space), H5S_SCALAR);
		} else {
			H5Sget_simple_extent_dims(space, dims, NULL);
			assert_int_equal(dims[0], rows[k].d0);
			if (ndim > 1)
				assert_int_equal(dims[1], rows[k].d1);
		}
		switch (rows[k].kind) {
		case K_I64:
		case K_U64:
			assert_true(H5Tequal(type, rows[k].kind == K_I64 ? H5T_STD_I64LE : H5T_STD_U64LE) > 0);
			break;
		case K_F64:
			assert_true(H5Tequal(type, H5T_IEEE_F64LE) > 0);
			break;
		case K_BOOL:
			assert_true(h5fs_dtype_is_bool(type));
			assert_int_equal(H5Tget_size(type), 1);
			break;
		case K_STR:
			if (H5Tget_class(type) != H5T_STRING)
				fail_msg("'%s': not stored as a string", rows[k].text);
			assert_true(H5Tis_variable_str(type) > 0);
			assert_int_equal(H5Tget_cset(type), H5T_CSET_UTF8);
			assert_int_equal(H5Tget_strpad(type), H5T_STR_NULLTERM);
			break;
		}
		th_ok(h5fs_codec_format_attr(&text, &len, attr));
		if (strcmp(text, rows[k].back))
			fail_msg("'%s' reads back as '%s', want '%s'", rows[k].text, text, rows[k].back);
		free(text);
		H5Tclose(type);
		H5Sclose(space);
		H5Aclose(attr);
	}
	/* a NUL byte in the text of a new attribute cannot be stored */
	th_fails(H5FS_EINVALID, h5fs_codec_set_attr(f, "nul", "a\0b", 3, 0));
	assert_true(H5Aexists(f, "nul") == 0);
	H5Fclose(f);
	th_assert_no_open_ids();
}

/* --- rejection ------------------------------------------------------ */

static void test_codec__rejection(void **state)
{
	static const struct {
		const char *dtype;	/* see make_attr() */
		int ndim;
		hsize_t d0, d1;
		const char *init;
		const char *bad[8];
	} rows[] = {
		{ "i1", 0, 0, 0, "5", { "300", "-129", "1.5", "abc", "", "[1]", "1e2", "true" } },
		{ "u1", 0, 0, 0, "5", { "-1", "256", "0.0", "\"1\"", "1 2", "NaN" } },
		{ "u8", 0, 0, 0, "5", { "18446744073709551616", "-1" } },
		{ "i8", 0, 0, 0, "5", { "9223372036854775808", "-9223372036854775809", "[5]" } },
		{ "f4", 0, 0, 0, "1.5", { "1e39", "-1e39", "true", "\"1\"", "nan", "inf", "" } },
		{ "f2", 0, 0, 0, "1.5", { "65520", "1e10", "x" } },
		{ "f8", 0, 0, 0, "1.5", { "1e309", "0x10", "[1.5]" } },
		{ "b1", 0, 0, 0, "true", { "2", "-1", "yes", "TRUE", "0.0", "", "[true]" } },
		{ "en", 0, 0, 0, "GREEN", { "PURPLE", "green", "70000", "-1", "" } },
		{ "s4", 0, 0, 0, "ab", { "hello" } },
		{ "st", 0, 0, 0, "ab", { "a\0b" } },
		{ "vs", 0, 0, 0, "old", { "a\0b" } },
		{ "i8", 1, 3, 0, "[1, 2, 3]", { "[1, 2]", "[1, 2, 3, 4]", "[1, 2, \"x\"]", "1",
					      "[[1, 2, 3]]", "[1, 2, 3.5]", "[1, 2, 3", "" } },
		{ "i8", 2, 2, 2, "[[1, 2], [3, 4]]", { "[1, 2, 3, 4]", "[[1, 2], [3]]",
						       "[[1, 2], [3, 4], [5, 6]]", "[[1, 2, 3], [4]]" } },
		{ "b1", 1, 2, 0, "[true, false]", { "[true, 2]", "[\"true\", false]", "[true]" } },
		{ "s4", 1, 2, 0, "[\"a\", \"b\"]", { "[\"a\", \"hello\"]", "[\"a\", 1]", "[a, b]" } },
		{ "cp", 0, 0, 0, "{\"x\": 1, \"y\": 2.5}", { "{\"x\": 1}", "{\"x\": 1, \"y\": 2, \"z\": 3}",
			"{\"x\": 1, \"x\": 2}", "{\"x\": 1.5, \"y\": 2}", "[1, 2.5]", "x" } },
		{ "op", 0, 0, 0, "0x0102", { "0x123", "0x01020", "0xzz02", "0102", "" } },
		{ "f8", 1, 0, 0, "[]", { "[1]", "[[]]", "1" } },
	};
	hid_t f = new_file("reject.h5");
	size_t k, b;

	(void)state;
	for (k = 0; k < sizeof(rows) / sizeof(*rows); k++) {
		const char *dt = rows[k].dtype;
		hsize_t dims[2] = { rows[k].d0, rows[k].d1 };
		hid_t type, space, attr;
		char name[16], *before, *after;
		size_t blen, alen;

		if (!strcmp(dt, "i1")) type = int_type(1, true, false);
		else if (!strcmp(dt, "u1")) type = int_type(1, false, false);
		else if (!strcmp(dt, "u8")) type = int_type(8, false, true);
		else if (!strcmp(dt, "i8")) type = int_type(8, true, false);
		else if (!strcmp(dt, "f4")) type = float_type(4, false);
		else if (!strcmp(dt, "f2")) type = float_type(2, false);
		else if (!strcmp(dt, "f8")) type = float_type(8, true);
		else if (!strcmp(dt, "b1")) type = h5fs_dtype_bool_hid();
		else if (!strcmp(dt, "en")) type = color_type();
		else if (!strcmp(dt, "s4")) type = fstr_type(4, H5T_STR_NULLPAD, H5T_CSET_ASCII);
		else if (!strcmp(dt, "st")) type = fstr_type(4, H5T_STR_NULLTERM, H5T_CSET_ASCII);
		else if (!strcmp(dt, "vs")) type = vstr_type(H5T_CSET_UTF8);
		else if (!strcmp(dt, "cp")) {
			type = H5Tcreate(H5T_COMPOUND, 12);
			H5Tinsert(type, "x", 0, H5T_STD_I32LE);
			H5Tinsert(type, "y", 4, H5T_IEEE_F64LE);
		} else {
			type = H5Tcreate(H5T_OPAQUE, 2);
		}
		assert_true(type >= 0);
		space = rows[k].ndim ? H5Screate_simple(rows[k].ndim, dims, NULL) : H5Screate(H5S_SCALAR);
		snprintf(name, sizeof(name), "r%zu", k);
		attr = H5Acreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
		assert_true(attr >= 0);
		H5Aclose(attr);
		H5Sclose(space);
		H5Tclose(type);
		th_ok(h5fs_codec_set_attr(f, name, rows[k].init, strlen(rows[k].init), H5FS_ATTR_REPLACE));

		attr = H5Aopen(f, name, H5P_DEFAULT);
		th_ok(h5fs_codec_format_attr(&before, &blen, attr));
		H5Aclose(attr);
		assert_string_equal(before, rows[k].init);
		for (b = 0; b < 8 && rows[k].bad[b]; b++) {
			const char *text = rows[k].bad[b];
			size_t tlen = strlen(text);
			int rc;

			/* the NUL rows: give the length past the NUL */
			if (!strcmp(dt, "st") || !strcmp(dt, "vs"))
				tlen = 3;
			rc = h5fs_codec_set_attr(f, name, text, tlen, 0);
			if (rc != H5FS_EINVALID)
				fail_msg("'%s' into %s (row %zu): rc %d, want EINVALID", text, dt, k, rc);
			assert_true(strlen(h5fs_error_last()->message) > 0);
			attr = H5Aopen(f, name, H5P_DEFAULT);
			th_ok(h5fs_codec_format_attr(&after, &alen, attr));
			H5Aclose(attr);
			if (alen != blen || memcmp(before, after, blen))
				fail_msg("'%s' into %s changed '%s' to '%s'", text, dt, before, after);
			free(after);
		}
		free(before);
	}

	/* flags: CREATE on an existing one, REPLACE on a missing one */
	th_fails(H5FS_EEXISTS, h5fs_codec_set_attr(f, "r0", "1", 1, H5FS_ATTR_CREATE));
	th_fails(H5FS_ENOTFOUND, h5fs_codec_set_attr(f, "missing", "1", 1, H5FS_ATTR_REPLACE));
	assert_true(H5Aexists(f, "missing") == 0);
	th_ok(h5fs_codec_set_attr(f, "fresh", "1", 1, H5FS_ATTR_CREATE));
	th_ok(h5fs_codec_set_attr(f, "fresh", "2", 1, H5FS_ATTR_REPLACE));
	{
		hid_t attr = H5Aopen(f, "fresh", H5P_DEFAULT);
		int64_t v = 0;

		assert_true(H5Aread(attr, H5T_NATIVE_INT64, &v) >= 0);
		assert_int_equal(v, 2);
		H5Aclose(attr);
	}
	/* an existing attribute keeps its type: "2.5" into an int is refused */
	th_fails(H5FS_EINVALID, h5fs_codec_set_attr(f, "fresh", "2.5", 3, 0));
	H5Fclose(f);
	th_assert_no_open_ids();
}

/* Types without a text form, and the null dataspace. */
static void test_codec__unsupported(void **state)
{
	hid_t f = new_file("unsup.h5"), t, s, a;
	char *text;
	size_t len;

	(void)state;
	t = H5Tvlen_create(H5T_NATIVE_INT);
	s = H5Screate(H5S_SCALAR);
	a = H5Acreate2(f, "vlen", t, s, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0);
	th_fails(H5FS_ENOTSUPPORTED, h5fs_codec_format_attr(&text, &len, a));
	H5Aclose(a);
	H5Tclose(t);
	th_fails(H5FS_ENOTSUPPORTED, h5fs_codec_set_attr(f, "vlen", "[1]", 3, 0));

	a = H5Acreate2(f, "ref", H5T_STD_REF_OBJ, s, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0);
	th_fails(H5FS_ENOTSUPPORTED, h5fs_codec_format_attr(&text, &len, a));
	H5Aclose(a);
	H5Sclose(s);

	/* h5py's Empty: null dataspace, empty text */
	s = H5Screate(H5S_NULL);
	a = H5Acreate2(f, "empty", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0);
	th_ok(h5fs_codec_format_attr(&text, &len, a));
	assert_int_equal(len, 0);
	free(text);
	H5Aclose(a);
	H5Sclose(s);
	th_ok(h5fs_codec_set_attr(f, "empty", "", 0, 0));
	th_fails(H5FS_EINVALID, h5fs_codec_set_attr(f, "empty", "1", 1, 0));
	H5Fclose(f);
	th_assert_no_open_ids();
}

/* --- against h5py --------------------------------------------------- */

static void test_codec__h5py_texts(void **state)
{
	static const struct {
		const char *name;
		const char *text;
	} rows[] = {
		{ "int", "42" }, { "negint", "-7" }, { "float", "0.1" }, { "float3", "3.0" },
		{ "big", "1e+300" }, { "tiny", "5e-324" }, { "neg0", "-0.0" }, { "nan", "NaN" },
		{ "ninf", "-Infinity" }, { "f32", "0.1" }, { "f32max", "3.4028235e+38" },
		{ "f16", "0.1" }, { "f16be", "-2.5" }, { "true", "true" }, { "npfalse", "false" },
		{ "str", "h\xc3\xa9llo \"w\"\n" }, { "bytes", "raw" }, { "u8", "255" },
		{ "i16be", "-5" }, { "u64max", "18446744073709551615" },
		{ "list", "[1, 2, 3]" }, { "flist", "[1.5, 2.0]" },
		{ "mat", "[[1.5, 2.0], [3.0, 4.0]]" }, { "strs", "[\"a\", \"b\\\"c\", \"\xc3\xa9\"]" },
		{ "empty", "[]" }, { "bools", "[true, false, true]" },
		{ "cmp", "{\"a\": 1, \"b\": 2.5}" }, { "enum", "GREEN" },
		{ "enums", "[\"RED\", \"GREEN\"]" }, { "opq", "0x01ab" },
		{ "none", "{\"__type__\": \"NoneType\", \"__value__\": \"None\"}" },
		{ "sarr", "[\"ab\", \"c\"]" }, { "i8col", "[[1], [2]]" },
	};
	hid_t f, a;
	size_t k, len;
	char *text;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"f = h5py.File(sys.argv[1] + '/py.h5', 'w')\n"
		"a = f.attrs\n"
		"a['int'] = 42\n"
		"a['negint'] = -7\n"
		"a['float'] = 0.1\n"
		"a['float3'] = 3.0\n"
		"a['big'] = 1e300\n"
		"a['tiny'] = 5e-324\n"
		"a['neg0'] = -0.0\n"
		"a['nan'] = float('nan')\n"
		"a['ninf'] = -np.inf\n"
		"a['f32'] = np.float32(0.1)\n"
		"a['f32max'] = np.finfo(np.float32).max\n"
		"a['f16'] = np.float16(0.1)\n"
		"a['f16be'] = np.array(-2.5, dtype='>f2')\n"
		"a['true'] = True\n"
		"a['npfalse'] = np.bool_(False)\n"
		"a['str'] = 'h\\u00e9llo \"w\"\\n'\n"
		"a['bytes'] = np.bytes_(b'raw')\n"
		"a['u8'] = np.uint8(255)\n"
		"a['i16be'] = np.array(-5, dtype='>i2')\n"
		"a['u64max'] = np.uint64(2**64 - 1)\n"
		"a['list'] = [1, 2, 3]\n"
		"a['flist'] = [1.5, 2]\n"
		"a['mat'] = np.array([[1.5, 2], [3, 4]])\n"
		"a['strs'] = ['a', 'b\"c', '\\u00e9']\n"
		"a['empty'] = []\n"
		"a['bools'] = np.array([True, False, True])\n"
		"a['cmp'] = np.array((1, 2.5), dtype=[('a', '<i4'), ('b', '<f8')])\n"
		"e = h5py.enum_dtype({'RED': 0, 'GREEN': 1}, basetype='i1')\n"
		"a.create('enum', np.array(1, dtype=e))\n"
		"a.create('enums', np.array([0, 1], dtype=e))\n"
		"a['opq'] = np.void(b'\\x01\\xab')\n"
		"a['none'] = json.dumps({'__type__': 'NoneType', '__value__': 'None'})\n"
		"a['sarr'] = np.array([b'ab', b'c'])\n"
		"a['i8col'] = np.array([[1], [2]], dtype='i1')\n"
		"f.close()\n"), 0);

	f = H5Fopen(th_path("py.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(f >= 0);
	for (k = 0; k < sizeof(rows) / sizeof(*rows); k++) {
		a = H5Aopen(f, rows[k].name, H5P_DEFAULT);
		assert_true(a >= 0);
		if (h5fs_codec_format_attr(&text, &len, a) < 0)
			fail_msg("'%s': %s", rows[k].name, h5fs_error_last()->message);
		if (strcmp(text, rows[k].text))
			fail_msg("'%s': '%s', want '%s'", rows[k].name, text, rows[k].text);
		H5Aclose(a);
		/* and every h5py attribute takes its own text back */
		th_ok(h5fs_codec_set_attr(f, rows[k].name, text, len, H5FS_ATTR_REPLACE));
		free(text);
	}
	H5Fclose(f);
	/* h5py still reads the rewritten values */
	assert_int_equal(th_python(
		"f = h5py.File(sys.argv[1] + '/py.h5', 'r')\n"
		"a = f.attrs\n"
		"assert a['int'] == 42 and a['int'].dtype == np.int64\n"
		"assert a['float'] == 0.1\n"
		"assert np.isnan(a['nan'])\n"
		"assert a['f16'] == np.float16(0.1) and a['f16'].dtype == np.float16\n"
		"assert a['true'] is np.bool_(True) or a['true'] == True\n"
		"assert a['str'] == 'h\\u00e9llo \"w\"\\n', repr(a['str'])\n"
		"assert list(a['strs']) == ['a', 'b\"c', '\\u00e9'], a['strs']\n"
		"assert a['mat'].shape == (2, 2) and a['mat'][1, 1] == 4.0\n"
		"assert a['cmp']['b'] == 2.5\n"
		"assert a['u64max'] == 2**64 - 1\n"), 0);
	th_assert_no_open_ids();
}


/* --- the corpus ----------------------------------------------------- */

#define CORPUS "/work/shared/corpus"

struct corpus_stats {
	const char *file;
	size_t formatted, unsupported, nonjson, bad;
};

/* Report a failure from inside the (forked) walk; the parent fails. */
#define corpus_bad(st, ...) do { \
	print_error(__VA_ARGS__); \
	(st)->bad++; \
} while (0)

static herr_t corpus_attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *payload)
{
	struct corpus_stats *st = payload;
	hid_t attr, type, space;
	hsize_t dims[H5FS_MAX_RANK];
	char *text, *text2;
	size_t len, len2;
	void *buf;
	int ndim, rc;

	(void)info;
	if ((attr = H5Aopen(obj, name, H5P_DEFAULT)) < 0) {
		H5Eclear2(H5E_DEFAULT);
		return 0;
	}
	rc = h5fs_codec_format_attr(&text, &len, attr);
	if (rc == H5FS_ENOTSUPPORTED || rc == H5FS_EBUFS || rc == H5FS_ERROR) {
		st->unsupported++;
		if (getenv("H5FS_CORPUS_VERBOSE"))
			print_message("%s: '%s': %s\n", st->file, name, h5fs_error_last()->message);
		H5Aclose(attr);
		return 0;
	}
	if (rc < 0) {
		corpus_bad(st, "%s: attribute '%s': %d %s\n", st->file, name, rc,
			   h5fs_error_last()->message);
		H5Aclose(attr);
		return 0;
	}
	st->formatted++;
	type = H5Aget_type(attr);
	space = H5Aget_space(attr);
	ndim = H5Sget_simple_extent_ndims(space);
	if (ndim < 0 || ndim > H5FS_MAX_RANK)
		ndim = 0;
	H5Sget_simple_extent_dims(space, dims, NULL);
	/* the text parses back into the type, and formats to the same text */
	if (H5Sget_simple_extent_type(space) != H5S_NULL) {
		rc = h5fs_codec_parse(&buf, type, ndim, dims, text, len);
		if (rc < 0) {
			h5fs_json *j = NULL;

			/* only JSON forms of non-UTF-8 strings may fail */
			if ((ndim == 0 && H5Tget_class(type) != H5T_COMPOUND) ||
			    h5fs__json_parse(&j, text, len) == 0)
				corpus_bad(st, "%s: attribute '%s': text '%.200s' does not parse back: %s\n",
					   st->file, name, text, h5fs_error_last()->message);
			else
				st->nonjson++;
			h5fs__json_free(j);
		} else {
			if (h5fs_codec_format(&text2, &len2, type, ndim, dims, buf) < 0) {
				corpus_bad(st, "%s: attribute '%s': %s\n", st->file, name,
					   h5fs_error_last()->message);
			} else {
				if (len != len2 || memcmp(text, text2, len))
					corpus_bad(st, "%s: attribute '%s': '%.200s' became '%.200s'\n",
						   st->file, name, text, text2);
				free(text2);
			}
			h5fs_codec_buffer_free(buf, type, ndim, dims);
		}
	}
	free(text);
	H5Sclose(space);
	H5Tclose(type);
	H5Aclose(attr);
	return 0;
}

static herr_t corpus_obj_cb(hid_t root, const char *name, const H5O_info_t *info, void *payload)
{
	hid_t obj;

	(void)info;
	if ((obj = H5Oopen(root, name, H5P_DEFAULT)) < 0) {
		H5Eclear2(H5E_DEFAULT);
		return 0;
	}
	if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, corpus_attr_cb, payload) < 0)
		H5Eclear2(H5E_DEFAULT);
	H5Oclose(obj);
	return 0;
}

static void corpus_walk(const char *path, struct corpus_stats *st)
{
	hid_t f;

	st->file = path;
	if ((f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		H5Eclear2(H5E_DEFAULT);
		return;
	}
	if (H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, corpus_obj_cb, st, H5O_INFO_BASIC) < 0)
		H5Eclear2(H5E_DEFAULT);
	H5Fclose(f);
}

/*
 * Walk one file in a child process, as the daemon indexes files: a
 * corrupt file can leave libhdf5 in a state where it no longer shuts
 * down cleanly (its free lists then show as leaks), which must not
 * blame the rest of the suite.
 */
static void corpus_file(const char *path, struct corpus_stats *st)
{
	struct corpus_stats child = { NULL, 0, 0, 0, 0 };
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		corpus_walk(path, &child);
		if (write(fds[1], &child, sizeof(child)) != (ssize_t)sizeof(child))
			_exit(2);
		_exit(0);
	}
	assert_true(pid > 0);
	close(fds[1]);
	if (read(fds[0], &child, sizeof(child)) != (ssize_t)sizeof(child))
		child.bad++;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: the walk died (status %d)", path, status);
	st->formatted += child.formatted;
	st->unsupported += child.unsupported;
	st->nonjson += child.nonjson;
	st->bad += child.bad;
}

/*
 * Every attribute of the corpus formats, and its text parses back to the
 * same text (files that crash libhdf5 itself are left out, see
 * MANIFEST.tsv).
 */
static void test_codec__corpus(void **state)
{
	struct corpus_stats st = { NULL, 0, 0, 0, 0 };
	FILE *m;
	char *line = NULL, *path;
	size_t cap = 0, k;
	glob_t g;
	int files = 0;

	(void)state;
	if (!(m = fopen(CORPUS "/MANIFEST.tsv", "r"))) {
		print_message("corpus not found at " CORPUS ": skipped\n");
		skip();
	}
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	while (getline(&line, &cap, m) > 0) {
		char *name = strtok(line, "\t"), *field;
		char *opens = NULL, *features = NULL;
		int col;

		for (col = 2; (field = strtok(NULL, "\t")); col++) {
			if (col == 5)
				opens = field;
			if (col == 6)
				features = field;
		}
		if (!name || !opens || strcmp(opens, "yes") || !features ||
		    strstr(features, "segfault") || strstr(features, "abort") ||
		    strstr(features, "_fpe") || strstr(features, "timeout"))
			continue;
		if (getenv("H5FS_CORPUS_ONLY") && !strstr(name, getenv("H5FS_CORPUS_ONLY")))
			continue;
		if (asprintf(&path, CORPUS "/files/%s", name) < 0)
			fail();
		corpus_file(path, &st);
		free(path);
		files++;
	}
	free(line);
	fclose(m);
	if (glob(CORPUS "/bamboost/*/*.h5", 0, NULL, &g) == 0) {
		for (k = 0; k < g.gl_pathc; k++, files++)
			corpus_file(g.gl_pathv[k], &st);
		globfree(&g);
	}
	print_message("corpus: %d files, %zu attributes formatted, %zu without text form, "
		      "%zu non-UTF-8 JSON texts\n", files, st.formatted, st.unsupported, st.nonjson);
	assert_int_equal(st.bad, 0);
	assert_true(st.formatted > 0);
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec__roundtrip_integers),
		cmocka_unit_test(test_codec__roundtrip_floats),
		cmocka_unit_test(test_codec__float_texts),
		cmocka_unit_test(test_codec__floats_exhaustive),
		cmocka_unit_test(test_codec__roundtrip_enums),
		cmocka_unit_test(test_codec__roundtrip_strings),
		cmocka_unit_test(test_codec__roundtrip_compound_opaque),
		cmocka_unit_test(test_codec__inference),
		cmocka_unit_test(test_codec__rejection),
		cmocka_unit_test(test_codec__unsupported),
		cmocka_unit_test(test_codec__h5py_texts),
		cmocka_unit_test(test_codec__corpus),
	};

	seed_init();
	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
