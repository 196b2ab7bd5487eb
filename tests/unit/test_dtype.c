/*
 * Tests of h5fs/dtype.h and the dtype part of h5fs/sys/hdf5.h.
 *
 * The reference is h5py/numpy itself: a fixture file is written by h5py
 * with one dataset per type, together with what numpy prints for it
 * (dtype.str, or json.dumps(dtype.descr) for compounds), and every
 * string h5fs produces is fed back to numpy to check it loads to the
 * same dtype.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "h5fs/sys/hdf5.h"

/* The Python side of the dtype strings, as documented in h5fs/dtype.h. */
#define PY_LOADER \
	"def h5fs_dtype(s):\n" \
	"    def conv(v):\n" \
	"        if isinstance(v, str): return v\n" \
	"        if len(v) == 2 and isinstance(v[1], list) and v[1] and all(isinstance(n, int) for n in v[1]):\n" \
	"            return (conv(v[0]), tuple(v[1]))\n" \
	"        return [tuple([f[0], conv(f[1])] + [tuple(x) for x in f[2:]]) for f in v]\n" \
	"    return np.dtype(conv(json.loads(s)) if s.startswith('[') else s)\n"

struct h5py_case {
	const char *name;	/* dataset name in the fixture */
	const char *numpy;	/* numpy expression for its dtype */
	const char *want;	/* our string, as numpy prints it */
};

static const struct h5py_case h5py_cases[] = {
	{ "f2", "np.float16", "<f2" },
	{ "f4", "'<f4'", "<f4" },
	{ "f8", "'<f8'", "<f8" },
	{ "f8be", "'>f8'", ">f8" },
	{ "f4be", "'>f4'", ">f4" },
	{ "f16", "np.longdouble", "<f16" },
	{ "i1", "'i1'", "|i1" },
	{ "u1", "'u1'", "|u1" },
	{ "i2", "'<i2'", "<i2" },
	{ "i2be", "'>i2'", ">i2" },
	{ "i4", "'<i4'", "<i4" },
	{ "u4be", "'>u4'", ">u4" },
	{ "i8", "'<i8'", "<i8" },
	{ "u8", "'<u8'", "<u8" },
	{ "b1", "np.bool_", "|b1" },
	{ "c8", "np.complex64", "<c8" },
	{ "c16", "np.complex128", "<c16" },
	{ "c16be", "'>c16'", ">c16" },
	{ "S16", "'S16'", "|S16" },
	{ "S1", "'S1'", "|S1" },
	{ "V8", "'V8'", "|V8" },
	{ "dt64", "h5py.opaque_dtype(np.dtype('<M8[s]'))", "<M8[s]" },
	{ "td64", "h5py.opaque_dtype(np.dtype('>m8[10ms]'))", ">m8[10ms]" },
	{ "arr", "np.dtype(('<f4', (3,)))", "[\"<f4\", [3]]" },
	{ "arr2", "np.dtype(('>i2', (2, 3)))", "[\">i2\", [2, 3]]" },
	{ "cmp", "np.dtype([('x', '<f4'), ('y', '<i8', (3,))])",
	  "[[\"x\", \"<f4\"], [\"y\", \"<i8\", [3]]]" },
	{ "pad", "np.dtype({'names': ['a', 'b'], 'formats': ['<i2', '<f8'], 'offsets': [0, 8], 'itemsize': 24})",
	  "[[\"a\", \"<i2\"], [\"\", \"|V6\"], [\"b\", \"<f8\"], [\"\", \"|V8\"]]" },
	{ "nested", "np.dtype([('p', [('x', '<f4'), ('y', '<f4')]), ('id', '<i4')])",
	  "[[\"p\", [[\"x\", \"<f4\"], [\"y\", \"<f4\"]]], [\"id\", \"<i4\"]]" },
	{ "cmparr", "np.dtype([('arr', [('a', '<i2')], (2,)), ('z', '<c8'), ('b', '?')])",
	  "[[\"arr\", [[\"a\", \"<i2\"]], [2]], [\"z\", \"<c8\"], [\"b\", \"|b1\"]]" },
	{ "nestpad", "np.dtype({'names': ['q', 'r'], 'formats': [np.dtype({'names': ['a'], 'formats': ['>u2'], 'itemsize': 4}), '|S3'], 'offsets': [2, 6]})",
	  "[[\"\", \"|V2\"], [\"q\", [[\"a\", \">u2\"], [\"\", \"|V2\"]]], [\"r\", \"|S3\"]]" },
};

#define NCASES (sizeof(h5py_cases) / sizeof(h5py_cases[0]))

static int fixture_done;

/* The h5py fixture: one dataset per case plus a few special types. */
static const char *fixture(void)
{
	const char *path = th_path("types.h5");
	size_t i;
	int rc;

	th_require_h5py();
	if (fixture_done)
		return path;
	{
		size_t cap = 1 << 16, len = 0;
		char *s = malloc(cap);

		assert_non_null(s);
		len += (size_t)snprintf(s + len, cap - len,
			"f = h5py.File(sys.argv[1] + '/types.h5', 'w')\n"
			"out = open(sys.argv[1] + '/types.tsv', 'w')\n"
			"def clean(d):\n"
			"    # h5py tags strings with metadata: ('|S3', {...}) -> '|S3'\n"
			"    return [[f[0], f[1][0] if isinstance(f[1], tuple) else\n"
			"             clean(f[1]) if isinstance(f[1], list) else f[1]] + list(f[2:]) for f in d]\n"
			"def expect(ds):\n"
			"    dt = ds.dtype\n"
			"    if dt.names: return json.dumps(clean(dt.descr))\n"
			"    if dt.subdtype: return json.dumps([dt.subdtype[0].str, list(dt.subdtype[1])])\n"
			"    return dt.str\n");
		for (i = 0; i < NCASES; i++)
			len += (size_t)snprintf(s + len, cap - len,
				"ds = f.create_dataset('%s', (2,), dtype=%s)\n"
				"out.write('%s\\t' + expect(ds) + '\\n')\n",
				h5py_cases[i].name, h5py_cases[i].numpy, h5py_cases[i].name);
		len += (size_t)snprintf(s + len, cap - len,
			"f.create_dataset('vstr', (2,), dtype=h5py.string_dtype())\n"
			"f.create_dataset('opqS', (2,), dtype=h5py.opaque_dtype(np.dtype('S21')))\n"
			"f.create_dataset('fstr_utf8', (2,), dtype=h5py.string_dtype('utf-8', 10))\n"
			"f.create_dataset('ref', (2,), dtype=h5py.ref_dtype)\n"
			"f.create_dataset('regref', (2,), dtype=h5py.regionref_dtype)\n"
			"f.create_dataset('vlen', (2,), dtype=h5py.vlen_dtype(np.int32))\n"
			"f.create_dataset('enum', (2,), dtype=h5py.enum_dtype({'A': 0, 'B': 1, 'C': 2}, basetype='>i2'))\n"
			"f.create_dataset('enum2', (2,), dtype=h5py.enum_dtype({'FALSE': 0, 'MAYBE': 1}, basetype='i1'))\n"
			"f.create_dataset('cmpstr', (2,), dtype=np.dtype([('s', h5py.string_dtype()), ('v', '<f8')]))\n"
			"f.create_dataset('cmpref', (2,), dtype=np.dtype([('r', h5py.ref_dtype), ('v', '<i4')]))\n"
			"out.close()\n");
		assert_true(len < cap);
		rc = th_python("%s", s);
		free(s);
	}
	assert_int_equal(rc, 0);
	fixture_done = 1;
	return path;
}

/* The dtype string of dataset @p name in file @p fid. */
static int from_dataset(char **out, hid_t fid, const char *name)
{
	hid_t ds, type;
	int rc;

	ds = H5Dopen2(fid, name, H5P_DEFAULT);
	assert_true(ds >= 0);
	type = H5Dget_type(ds);
	assert_true(type >= 0);
	rc = h5fs_dtype_from_hid(out, type);
	H5Tclose(type);
	H5Dclose(ds);
	return rc;
}

static hid_t dataset_type(hid_t fid, const char *name)
{
	hid_t ds, type;

	ds = H5Dopen2(fid, name, H5P_DEFAULT);
	assert_true(ds >= 0);
	type = H5Dget_type(ds);
	H5Dclose(ds);
	assert_true(type >= 0);
	return type;
}

/* from_hid on every h5py type equals numpy's text, both ours and h5py's. */
static void test_dtype__from_hid_h5py(void **state)
{
	const char *path = fixture();
	char *line = NULL, *tsv;
	size_t cap = 0, seen = 0, i;
	FILE *f;
	hid_t fid;

	(void)state;
	fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(fid >= 0);
	tsv = malloc(strlen(path) + 8);
	assert_non_null(tsv);
	strcpy(tsv, path);
	strcpy(tsv + strlen(tsv) - 2, "tsv");
	f = fopen(tsv, "r");
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		char *tab = strchr(line, '\t'), *out = NULL;
		const struct h5py_case *c = NULL;

		assert_non_null(tab);
		*tab = '\0';
		tab[strcspn(tab + 1, "\n") + 1] = '\0';
		for (i = 0; i < NCASES; i++)
			if (!strcmp(h5py_cases[i].name, line))
				c = &h5py_cases[i];
		assert_non_null(c);
		/* numpy agrees with the table */
		if (strcmp(tab + 1, c->want))
			fail_msg("%s: numpy says '%s', table says '%s'", line, tab + 1, c->want);
		th_ok(from_dataset(&out, fid, line));
		if (strcmp(out, c->want))
			fail_msg("%s: h5fs says '%s', numpy '%s'", line, out, c->want);
		free(out);
		seen++;
	}
	assert_int_equal(seen, NCASES);
	free(line);
	fclose(f);
	free(tsv);
	H5Fclose(fid);
	th_assert_no_open_ids();
}

/* Variable-length and UTF-8 strings, enums, and the types numpy lacks. */
static void test_dtype__from_hid_special(void **state)
{
	static const struct { const char *name, *want; int rc; } cases[] = {
		{ "vstr", "|O", 0 },
		{ "fstr_utf8", "|S10", 0 },
		{ "opqS", "|S21", 0 },	/* h5py's tagged opaque reads as its tag */
		{ "enum", ">i2", 0 },
		{ "enum2", "|i1", 0 },
		{ "cmpstr", "[[\"s\", \"|O\"], [\"v\", \"<f8\"]]", 0 },
		{ "ref", "|O", H5FS_ENOTSUPPORTED },
		{ "regref", "|O", H5FS_ENOTSUPPORTED },
		{ "vlen", "|O", H5FS_ENOTSUPPORTED },
		{ "cmpref", "[[\"r\", \"|O\"], [\"v\", \"<i4\"]]", H5FS_ENOTSUPPORTED },
	};
	const char *path = fixture();
	hid_t fid;
	size_t i;

	(void)state;
	fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(fid >= 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		int rc = from_dataset(&out, fid, cases[i].name);

		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, want %d (%s)", cases[i].name, rc,
				 cases[i].rc, h5fs_error_last()->message);
		assert_non_null(out);
		if (strcmp(out, cases[i].want))
			fail_msg("%s: '%s', want '%s'", cases[i].name, out, cases[i].want);
		if (rc)
			assert_non_null(strstr(h5fs_error_last()->message, "no numpy equivalent"));
		free(out);
	}
	H5Fclose(fid);
	th_assert_no_open_ids();
}

/* Every string h5fs produces loads in numpy to the dataset's own dtype. */
static void test_dtype__numpy_loads_ours(void **state)
{
	const char *path = fixture();
	const char *ours = th_path("ours.tsv");
	hid_t fid;
	FILE *f;
	size_t i;

	(void)state;
	fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(fid >= 0);
	f = fopen(ours, "w");
	assert_non_null(f);
	for (i = 0; i < NCASES; i++) {
		char *out = NULL;

		th_ok(from_dataset(&out, fid, h5py_cases[i].name));
		fprintf(f, "%s\t%s\n", h5py_cases[i].name, out);
		free(out);
	}
	fclose(f);
	H5Fclose(fid);
	assert_int_equal(th_python(PY_LOADER
		"def same(got, want):\n"
		"    # padding entries load as extra fields f0, f1...: compare the named ones\n"
		"    if not want.names: return got == want\n"
		"    return got.itemsize == want.itemsize and all(\n"
		"        got.fields[n][1] == want.fields[n][1] and same(got.fields[n][0], want.fields[n][0])\n"
		"        for n in want.names)\n"
		"f = h5py.File(sys.argv[1] + '/types.h5', 'r')\n"
		"bad = 0\n"
		"for line in open(sys.argv[1] + '/ours.tsv'):\n"
		"    name, s = line.rstrip('\\n').split('\\t')\n"
		"    want = f[name].dtype\n"
		"    got = h5fs_dtype(s)\n"
		"    if not same(got, want):\n"
		"        print('mismatch', name, s, got, want); bad += 1\n"
		"sys.exit(bad)\n"), 0);
	th_assert_no_open_ids();
}

/* to_hid of a canonical string is the type h5py wrote (H5Tequal). */
static void test_dtype__to_hid_equals_h5py(void **state)
{
	const char *path = fixture();
	hid_t fid, ours, theirs;
	size_t i;

	(void)state;
	fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(fid >= 0);
	for (i = 0; i < NCASES; i++) {
		th_ok(h5fs_dtype_to_hid(&ours, h5py_cases[i].want));
		theirs = dataset_type(fid, h5py_cases[i].name);
		if (H5Tequal(ours, theirs) <= 0)
			fail_msg("%s: to_hid('%s') differs from h5py's type",
				 h5py_cases[i].name, h5py_cases[i].want);
		H5Tclose(ours);
		H5Tclose(theirs);
	}
	/* "str" and "|O" are h5py's variable-length UTF-8 string */
	theirs = dataset_type(fid, "vstr");
	th_ok(h5fs_dtype_to_hid(&ours, "str"));
	assert_true(H5Tequal(ours, theirs) > 0);
	H5Tclose(ours);
	th_ok(h5fs_dtype_to_hid(&ours, "|O"));
	assert_true(H5Tequal(ours, theirs) > 0);
	H5Tclose(ours);
	H5Tclose(theirs);
	H5Fclose(fid);
	th_assert_no_open_ids();
}

/* to_hid of canonical strings against HDF5's predefined types. */
static void test_dtype__to_hid_predefined(void **state)
{
	static const struct { const char *dtype; hid_t *want; } cases[] = {
		{ "<f4", &H5T_IEEE_F32LE_g }, { ">f4", &H5T_IEEE_F32BE_g },
		{ "<f8", &H5T_IEEE_F64LE_g }, { ">f8", &H5T_IEEE_F64BE_g },
		{ "|i1", &H5T_STD_I8LE_g }, { "|u1", &H5T_STD_U8LE_g },
		{ "<i2", &H5T_STD_I16LE_g }, { ">i2", &H5T_STD_I16BE_g },
		{ "<i4", &H5T_STD_I32LE_g }, { ">u4", &H5T_STD_U32BE_g },
		{ "<i8", &H5T_STD_I64LE_g }, { "<u8", &H5T_STD_U64LE_g },
		{ "<u2", &H5T_STD_U16LE_g }, { ">i8", &H5T_STD_I64BE_g },
		{ "<f16", &H5T_NATIVE_LDOUBLE_g },
	};
	hid_t t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		th_ok(h5fs_dtype_to_hid(&t, cases[i].dtype));
		if (H5Tequal(t, *cases[i].want) <= 0)
			fail_msg("to_hid('%s') is not the predefined type", cases[i].dtype);
		H5Tclose(t);
	}
	th_assert_no_open_ids();
}

static void test_dtype__to_hid_strings_and_bool(void **state)
{
	hid_t t, b;

	(void)state;
	th_ok(h5fs_dtype_to_hid(&t, "|S16"));
	assert_int_equal(H5Tget_class(t), H5T_STRING);
	assert_int_equal(H5Tget_size(t), 16);
	assert_int_equal(H5Tis_variable_str(t), 0);
	assert_int_equal(H5Tget_strpad(t), H5T_STR_NULLPAD);
	H5Tclose(t);

	th_ok(h5fs_dtype_to_hid(&t, "bool"));
	b = h5fs_dtype_bool_hid();
	assert_true(b >= 0);
	assert_true(H5Tequal(t, b) > 0);
	assert_int_equal(h5fs_dtype_is_bool(t), 1);
	H5Tclose(t);
	H5Tclose(b);

	t = h5fs_dtype_vlen_str_hid();
	assert_true(t >= 0);
	assert_int_equal(H5Tget_class(t), H5T_STRING);
	assert_true(H5Tis_variable_str(t) > 0);
	assert_int_equal(H5Tget_cset(t), H5T_CSET_UTF8);
	H5Tclose(t);

	th_ok(h5fs_dtype_to_hid(&t, "|V8"));
	assert_int_equal(H5Tget_class(t), H5T_OPAQUE);
	assert_int_equal(H5Tget_size(t), 8);
	H5Tclose(t);
	th_assert_no_open_ids();
}

static void test_dtype__is_bool(void **state)
{
	const char *path = fixture();
	hid_t fid, t, e;
	signed char v;

	(void)state;
	fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(fid >= 0);
	t = dataset_type(fid, "b1");
	assert_int_equal(h5fs_dtype_is_bool(t), 1);
	H5Tclose(t);
	t = dataset_type(fid, "enum2");
	assert_int_equal(h5fs_dtype_is_bool(t), 0);
	H5Tclose(t);
	t = dataset_type(fid, "i1");
	assert_int_equal(h5fs_dtype_is_bool(t), 0);
	H5Tclose(t);
	H5Fclose(fid);

	/* FALSE/TRUE swapped is not a bool */
	e = H5Tenum_create(H5T_NATIVE_INT8);
	v = 1;
	H5Tenum_insert(e, "FALSE", &v);
	v = 0;
	H5Tenum_insert(e, "TRUE", &v);
	assert_int_equal(h5fs_dtype_is_bool(e), 0);
	H5Tclose(e);
	assert_int_equal(h5fs_dtype_is_bool(H5I_INVALID_HID), 0);
	th_assert_no_open_ids();
}

/* to_hid -> from_hid gives back every canonical string. */
static void test_dtype__round_trip(void **state)
{
	static const char *canon[] = {
		"<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "<f16",
		"|i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4",
		"<u4", ">u4", "<i8", ">i8", "<u8", ">u8",
		"|b1", "<c8", ">c8", "<c16", ">c16", "|S1", "|S16", "|O",
		"|V1", "|V8", "<M8[s]", ">M8[ns]", "<m8", "<m8[10ms]",
		"[\"<f4\", [3]]",
		"[\">i2\", [2, 3]]",
		"[[[\"x\", \"<f4\"]], [2]]",
		"[[\"x\", \"<f4\"], [\"y\", \"<i8\", [3]]]",
		"[[\"a\", \"<i2\"], [\"\", \"|V6\"], [\"b\", \"<f8\"], [\"\", \"|V8\"]]",
		"[[\"p\", [[\"x\", \"<f4\"], [\"y\", \"<f4\"]]], [\"id\", \"<i4\"]]",
		"[[\"s\", \"|O\"], [\"t\", \"|S4\"], [\"b\", \"|b1\"], [\"z\", \">c16\"]]",
		"[[\"\", \"|V2\"], [\"q\", [[\"a\", \">u2\"], [\"\", \"|V2\"]]], [\"r\", \"|S3\"]]",
		"[[\"m\", \"<f8\", [2, 2]], [\"n\", [[\"k\", \"|u1\"]], [4]]]",
		"[[\"w\\\"eird \\u00e9\", \"<f4\"]]",
	};
	size_t i;
	hid_t t;

	(void)state;
	for (i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		char *back = NULL, *norm = NULL;

		th_ok(h5fs_dtype_to_hid(&t, canon[i]));
		th_ok(h5fs_dtype_from_hid(&back, t));
		H5Tclose(t);
		th_ok(h5fs_dtype_normalize(&norm, canon[i]));
		/* the name with an escape comes back in raw UTF-8 */
		if (!strstr(canon[i], "\\u00e9")) {
			if (strcmp(back, canon[i]))
				fail_msg("round trip of '%s' gave '%s'", canon[i], back);
			if (strcmp(norm, canon[i]))
				fail_msg("normalize('%s') gave '%s'", canon[i], norm);
		} else {
			assert_string_equal(back, "[[\"w\\\"eird \xc3\xa9\", \"<f4\"]]");
		}
		assert_string_equal(norm, back);
		free(back);
		free(norm);
	}
	th_assert_no_open_ids();
}

/* Aliases and non-canonical spellings normalise as numpy does. */
static void test_dtype__normalize_aliases(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "f8", "<f8" }, { "=f8", "<f8" }, { "|f8", "<f8" }, { "float64", "<f8" },
		{ "float", "<f8" }, { "double", "<f8" }, { "d", "<f8" }, { ">d", ">f8" },
		{ "float32", "<f4" }, { "f", "<f4" }, { "float16", "<f2" }, { "e", "<f2" },
		{ "int32", "<i4" }, { "i4", "<i4" }, { "<i", "<i4" }, { ">i", ">i4" },
		{ "int", "<i8" }, { "int64", "<i8" }, { "int8", "|i1" }, { "<i1", "|i1" },
		{ "b", "|i1" }, { "int16", "<i2" }, { ">i2", ">i2" },
		{ "uint8", "|u1" }, { "u1", "|u1" }, { "B", "|u1" }, { "uint16", "<u2" },
		{ "uint32", "<u4" }, { "uint64", "<u8" }, { ">u8", ">u8" },
		{ "bool", "|b1" }, { "?", "|b1" }, { "b1", "|b1" }, { "|b1", "|b1" },
		{ "str", "|O" }, { "O", "|O" }, { "|O", "|O" }, { "O8", "|O" },
		{ "S10", "|S10" }, { "|S10", "|S10" }, { ">S3", "|S3" }, { "a5", "|S5" },
		{ "V4", "|V4" }, { "<c16", "<c16" }, { "complex128", "<c16" },
		{ "complex64", "<c8" }, { "c8", "<c8" }, { ">c8", ">c8" },
		{ "longdouble", "<f16" },
		{ "M8[us]", "<M8[us]" }, { "M", "<M8" }, { ">m8[D]", ">m8[D]" },
		{ "\"<f8\"", "<f8" },
		{ "[[\"x\",\"f4\"],[\"y\",\"int64\",[3]]]",
		  "[[\"x\", \"<f4\"], [\"y\", \"<i8\", [3]]]" },
		{ " [ [\"x\", \"f8\", []] ] ", "[[\"x\", \"<f8\"]]" },
		{ "[[\"x\", \"<i2\"], [\"\", \"V6\"]]", "[[\"x\", \"<i2\"], [\"\", \"|V6\"]]" },
		{ "[[\"x\", [\"f4\", [2]], [3]]]", "[[\"x\", \"<f4\", [3, 2]]]" },
		{ "[\"f4\", [2]]", "[\"<f4\", [2]]" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;

		th_ok(h5fs_dtype_normalize(&out, cases[i].in));
		if (strcmp(out, cases[i].want))
			fail_msg("normalize('%s') = '%s', want '%s'", cases[i].in, out, cases[i].want);
		free(out);
	}	th_assert_no_open_ids();
}

static void test_dtype__invalid(void **state)
{
	static const char *bad[] = {
		"", "<", "<>f8", "f3", "i3", "u16", "c4", "b2", "S", "S0", "V0",
		"U10", "<U4", "O4", "M4", "M8[", "M8[s", "M8[]", "M8[s]x", "m8[-1s]", "f8x", "x8", "float65", "intt", ">f16",
		"S99999999999999999999999999", "[]", "[[]]", "[\"x\"]",
		"[[\"x\"]]", "[[\"x\", \"<f4\", [0]]]", "[[\"x\", \"<f4\", [-1]]]",
		"[[\"x\", \"<f4\"], [\"x\", \"<i4\"]]", "[[\"\", \"<f4\"]]",
		"[[\"\", \"|V4\"]]", "[[1, \"<f4\"]]", "[[\"x\", 5]]",
		"[[\"x\", \"<f4\", \"3\"]]", "[[\"x\", \"<f4\"]", "{\"x\": \"<f4\"}",
		"[\"<f4\", [0]]", "[[\"x\", \"<f4\", [3]], 7]", "null",
		"[\"<f4\", [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]]",
		"[\"<f8\", [4294967296, 4294967296, 4294967296]]",
	};
	size_t i, sz;
	char *out;
	hid_t t;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = NULL;
		t = H5I_INVALID_HID;
		th_fails(H5FS_EINVALID, h5fs_dtype_normalize(&out, bad[i]));
		assert_null(out);
		/* one line, names the input */
		assert_null(strchr(h5fs_error_last()->message, '\n'));
		assert_non_null(strstr(h5fs_error_last()->message, "invalid dtype"));
		th_fails(H5FS_EINVALID, h5fs_dtype_to_hid(&t, bad[i]));
		assert_int_equal(t, H5I_INVALID_HID);
		th_fails(H5FS_EINVALID, h5fs_dtype_itemsize(&sz, bad[i]));
	}
	th_fails(H5FS_EINVALID, h5fs_dtype_normalize(&out, NULL));
	th_fails(H5FS_EINVALID, h5fs_dtype_to_hid(NULL, "<f8"));
	th_assert_no_open_ids();
}

static void test_dtype__itemsize(void **state)
{
	static const struct { const char *dtype; size_t size; } cases[] = {
		{ "<f8", 8 }, { "|i1", 1 }, { "float16", 2 }, { "|b1", 1 },
		{ "<c16", 16 }, { "|S16", 16 }, { "|V3", 3 }, { "|O", 0 },
		{ "str", 0 }, { "<M8[s]", 8 }, { "[\"<f4\", [3]]", 12 }, { "[\"<f4\", [2, 3]]", 24 },
		{ "[[\"x\", \"<f4\"], [\"y\", \"<i8\", [3]]]", 28 },
		{ "[[\"a\", \"<i2\"], [\"\", \"|V6\"], [\"b\", \"<f8\"], [\"\", \"|V8\"]]", 24 },
		{ "[[\"s\", \"|O\"], [\"v\", \"<f8\"]]", 16 },
	};
	size_t i, sz;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sz = 12345;
		th_ok(h5fs_dtype_itemsize(&sz, cases[i].dtype));
		if (sz != cases[i].size)
			fail_msg("itemsize('%s') = %zu, want %zu", cases[i].dtype, sz, cases[i].size);
	}	th_assert_no_open_ids();
}

/* Types built in C that h5py does not write. */
static void test_dtype__from_hid_c_types(void **state)
{
	hsize_t d2[1] = { 2 }, d3[1] = { 3 };
	hid_t t, inner, c;
	char *out = NULL;

	(void)state;
	/* bitfield: the unsigned integer of its size */
	th_ok(h5fs_dtype_from_hid(&out, H5T_STD_B16BE));
	assert_string_equal(out, ">u2");
	free(out);
	th_ok(h5fs_dtype_from_hid(&out, H5T_STD_B8LE));
	assert_string_equal(out, "|u1");
	free(out);

	/* an array of arrays folds into one shape, as numpy does */
	inner = H5Tarray_create2(H5T_IEEE_F64LE, 1, d3);
	t = H5Tarray_create2(inner, 1, d2);
	th_ok(h5fs_dtype_from_hid(&out, t));
	assert_string_equal(out, "[\"<f8\", [2, 3]]");
	free(out);
	H5Tclose(t);
	H5Tclose(inner);

	/* members inserted out of offset order are listed by offset */
	c = H5Tcreate(H5T_COMPOUND, 12);
	H5Tinsert(c, "b", 6, H5T_STD_I32LE);
	H5Tinsert(c, "a", 0, H5T_STD_I16BE);
	th_ok(h5fs_dtype_from_hid(&out, c));
	assert_string_equal(out, "[[\"a\", \">i2\"], [\"\", \"|V4\"], [\"b\", \"<i4\"], [\"\", \"|V2\"]]");
	free(out);
	H5Tclose(c);

	/* {r, i} with other names or types is a plain compound */
	c = H5Tcreate(H5T_COMPOUND, 8);
	H5Tinsert(c, "re", 0, H5T_IEEE_F32LE);
	H5Tinsert(c, "im", 4, H5T_IEEE_F32LE);
	th_ok(h5fs_dtype_from_hid(&out, c));
	assert_string_equal(out, "[[\"re\", \"<f4\"], [\"im\", \"<f4\"]]");
	free(out);
	H5Tclose(c);

	/* time types and odd floats have no numpy name */
	th_fails(H5FS_ENOTSUPPORTED, h5fs_dtype_from_hid(&out, H5T_UNIX_D32LE));
	assert_string_equal(out, "|V4");
	free(out);
	t = H5Tcopy(H5T_IEEE_F32LE);
	H5Tset_fields(t, 31, 24, 7, 0, 24);
	th_fails(H5FS_ENOTSUPPORTED, h5fs_dtype_from_hid(&out, t));
	assert_string_equal(out, "|V4");
	free(out);
	H5Tclose(t);
	/* a 3-byte integer */
	t = H5Tcopy(H5T_STD_I32LE);
	H5Tset_precision(t, 24);
	H5Tset_size(t, 3);
	th_fails(H5FS_ENOTSUPPORTED, h5fs_dtype_from_hid(&out, t));
	assert_string_equal(out, "|V3");
	free(out);
	H5Tclose(t);

	/* an invalid id fails with HDF5's reason */
	out = NULL;
	th_fails(H5FS_ERROR, h5fs_dtype_from_hid(&out, H5I_INVALID_HID));
	assert_null(out);
	assert_int_equal(h5fs_error_last()->klass, H5FS_ERROR_HDF5);
	th_assert_no_open_ids();
}

/* Data survive a write through our type and a read by numpy. */
static void test_dtype__h5py_reads_our_types(void **state)
{
	const char *path = th_path("ours.h5");
	hsize_t dims[1] = { 2 };
	hid_t fid, sp, ds, t;
	struct { int16_t a; char pad[6]; double b; char tail[8]; } rec[2];
	uint16_t half[2] = { 0x3c00, 0xc000 };	/* 1.0, -2.0 */

	(void)state;
	th_require_h5py();
	fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(fid >= 0);
	sp = H5Screate_simple(1, dims, NULL);

	th_ok(h5fs_dtype_to_hid(&t, "[[\"a\", \"<i2\"], [\"\", \"|V6\"], [\"b\", \"<f8\"], [\"\", \"|V8\"]]"));
	memset(rec, 0, sizeof(rec));
	rec[0].a = 7; rec[0].b = 0.5; rec[1].a = -3; rec[1].b = 1e300;
	ds = H5Dcreate2(fid, "pad", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rec) >= 0);
	H5Dclose(ds);
	H5Tclose(t);

	th_ok(h5fs_dtype_to_hid(&t, "<f2"));
	ds = H5Dcreate2(fid, "half", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, half) >= 0);
	H5Dclose(ds);
	H5Tclose(t);

	th_ok(h5fs_dtype_to_hid(&t, "bool"));
	ds = H5Dcreate2(fid, "bool", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, "\1\0") >= 0);
	H5Dclose(ds);
	H5Tclose(t);

	H5Sclose(sp);
	H5Fclose(fid);
	assert_int_equal(th_python(
		"f = h5py.File(sys.argv[1] + '/ours.h5', 'r')\n"
		"p = f['pad'][()]\n"
		"assert f['pad'].dtype.itemsize == 24, f['pad'].dtype\n"
		"assert f['pad'].dtype.fields['b'][1] == 8\n"
		"assert list(p['a']) == [7, -3] and list(p['b']) == [0.5, 1e300], p\n"
		"assert f['half'].dtype == np.float16 and list(f['half'][()]) == [1.0, -2.0]\n"
		"assert f['bool'].dtype == np.bool_ and list(f['bool'][()]) == [True, False]\n"), 0);
	th_assert_no_open_ids();
}

/*
 * Every dataset of the real files in the shared corpus (those libhdf5
 * and h5py read without trouble): h5fs names its type as numpy does.
 */
static void test_dtype__corpus(void **state)
{
	const char *root = getenv("H5FS_CORPUS");
	char *line = NULL, *manifest, *cur = NULL;
	size_t cap = 0, n = 0;
	hid_t fid = H5I_INVALID_HID;
	FILE *f;
	int bad = 0;

	(void)state;
	if (!root)
		root = "../shared/corpus";
	if (asprintf(&manifest, "%s/MANIFEST.tsv", root) < 0)
		fail();
	if (access(manifest, R_OK)) {
		free(manifest);
		print_message("corpus not found at '%s' (set H5FS_CORPUS): skipped\n", root);
		skip();
	}
	free(manifest);
	th_require_h5py();
	assert_int_equal(th_python(
		"import csv\n"
		"root = '%s'\n"
		"out = open(sys.argv[1] + '/corpus.tsv', 'w')\n"
		"def clean(d):\n"
		"    return [[f[0], f[1][0] if isinstance(f[1], tuple) else\n"
		"             clean(f[1]) if isinstance(f[1], list) else f[1]] + list(f[2:]) for f in d]\n"
		"def by_offset(dt):\n"
		"    # numpy has no descr for out-of-order fields; h5fs lists them by offset\n"
		"    names = sorted(dt.names, key=lambda n: dt.fields[n][1])\n"
		"    return np.dtype({'names': names, 'formats': [dt.fields[n][0] for n in names],\n"
		"                     'offsets': [dt.fields[n][1] for n in names], 'itemsize': dt.itemsize})\n"
		"def expect(dt):\n"
		"    if dt.names: return clean(by_offset(dt).descr)\n"
		"    if dt.subdtype: return [expect(dt.subdtype[0]), list(dt.subdtype[1])]\n"
		"    return dt.str\n"
		"for r in csv.DictReader(open(root + '/MANIFEST.tsv'), delimiter='\\t'):\n"
		"    feats = r['features'].split(',')\n"
		"    if (r['opens'] != 'yes' or r['h5py_rc'] != '0' or r['h5ls_rc'] != '0' or\n"
		"            'corrupt_intentional' in feats or\n"
		"            any(x.endswith(('_segfault', '_abort', '_fpe', '_timeout')) for x in feats)):\n"
		"        continue\n"
		"    try:\n"
		"        f = h5py.File(root + '/files/' + r['file'], 'r')\n"
		"    except Exception:\n"
		"        continue\n"
		"    def visit(name, obj):\n"
		"        if isinstance(obj, h5py.Dataset):\n"
		"            e = expect(obj.dtype)\n"
		"            out.write('%%s\\t/%%s\\t%%s\\n' %% (r['file'], name, e if isinstance(e, str) else json.dumps(e)))\n"
		"    f.visititems(visit)\n"
		"    f.close()\n", root), 0);

	f = fopen(th_path("corpus.tsv"), "r");
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		char *obj = strchr(line, '\t'), *want, *out = NULL, *file;
		hid_t ds, type;
		int rc;

		assert_non_null(obj);
		*obj++ = '\0';
		want = strchr(obj, '\t');
		assert_non_null(want);
		*want++ = '\0';
		want[strcspn(want, "\n")] = '\0';
		if (!cur || strcmp(cur, line)) {
			if (fid >= 0)
				H5Fclose(fid);
			free(cur);
			cur = strdup(line);
			if (asprintf(&file, "%s/files/%s", root, line) < 0)
				fail();
			fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
			free(file);
			assert_true(fid >= 0);
		}
		ds = H5Dopen2(fid, obj, H5P_DEFAULT);
		assert_true(ds >= 0);
		type = H5Dget_type(ds);
		rc = h5fs_dtype_from_hid(&out, type);
		H5Tclose(type);
		H5Dclose(ds);
		if ((rc != 0 && rc != H5FS_ENOTSUPPORTED) || strcmp(out, want)) {
			print_error("%s %s: h5fs '%s' (%d), numpy '%s'\n", line, obj,
				    out ? out : "(null)", rc, want);
			bad++;
		}
		free(out);
		n++;
	}
	if (fid >= 0)
		H5Fclose(fid);
	free(cur);
	free(line);
	fclose(f);
	print_message("%zu corpus datasets checked\n", n);
	assert_true(n > 0);
	assert_int_equal(bad, 0);
	th_assert_no_open_ids();
}

static void test_dtype__shape_parse(void **state)
{
	static const char *const bad[] = {
		"", "3", "[3,", "[-1]", "[1.5]", "[\"3\"]", "{}", "[[3]]", "[18446744073709551616]",
		"[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]"
	};
	uint64_t dims[32];
	int nd = -5;

	(void)state;
	assert_int_equal(h5fs_shape_parse(&nd, dims, "[3, 4]"), 0);
	assert_int_equal(nd, 2);
	assert_int_equal(dims[0], 3);
	assert_int_equal(dims[1], 4);
	assert_int_equal(h5fs_shape_parse(&nd, dims, " [ ]\n"), 0);
	assert_int_equal(nd, 0);
	assert_int_equal(h5fs_shape_parse(&nd, dims, "[0,9223372036854775807]"), 0);
	assert_int_equal(dims[1], INT64_MAX);
	for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		nd = -5;
		if (h5fs_shape_parse(&nd, dims, bad[k]) != H5FS_EINVALID)
			fail_msg("'%s' taken as a shape", bad[k]);
		assert_int_equal(nd, -5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtype__normalize_aliases),
		cmocka_unit_test(test_dtype__invalid),
		cmocka_unit_test(test_dtype__itemsize),
		cmocka_unit_test(test_dtype__round_trip),
		cmocka_unit_test(test_dtype__to_hid_predefined),
		cmocka_unit_test(test_dtype__to_hid_strings_and_bool),
		cmocka_unit_test(test_dtype__from_hid_c_types),
		cmocka_unit_test(test_dtype__from_hid_h5py),
		cmocka_unit_test(test_dtype__from_hid_special),
		cmocka_unit_test(test_dtype__numpy_loads_ours),
		cmocka_unit_test(test_dtype__to_hid_equals_h5py),
		cmocka_unit_test(test_dtype__is_bool),
		cmocka_unit_test(test_dtype__h5py_reads_our_types),
		cmocka_unit_test(test_dtype__corpus),
		cmocka_unit_test(test_dtype__shape_parse),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
