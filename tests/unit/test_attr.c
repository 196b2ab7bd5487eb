/*
 * Attributes through references (src/lib/attr.c): bamboost's AttrsDict
 * storage types (spec section 5), typed setters and getters, text access.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "h5fs/sys/hdf5.h"

#define NONE_ENVELOPE "{\"__type__\": \"NoneType\", \"__value__\": \"None\"}"

/* A file with /g (group) and /d (dataset), and references to them. */
struct fixture {
	h5fs_file *file;
	h5fs_ref *g, *d, *root;
	const char *path;
};

static void fixture_open(struct fixture *fx, const char *name, int writable)
{
	h5fs_file_options opts = H5FS_FILE_OPTIONS_INIT;
	hid_t f, g, s, d;

	fx->path = th_path("%s", name);
	if (access(fx->path, F_OK) != 0) {
		f = H5Fcreate(fx->path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
		assert_true(f >= 0);
		g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		s = H5Screate(H5S_SCALAR);
		d = H5Dcreate2(f, "d", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		assert_true(g >= 0 && s >= 0 && d >= 0);
		H5Dclose(d);
		H5Sclose(s);
		H5Gclose(g);
		H5Fclose(f);
	}
	opts.writable = writable;
	opts.lock_timeout = 0;
	th_ok(h5fs_file_new(&fx->file, fx->path, &opts));
	th_ok(h5fs_ref_new(&fx->g, fx->file, "g", H5FS_KIND_GROUP));
	th_ok(h5fs_ref_new(&fx->d, fx->file, "/d", H5FS_KIND_DATASET));
	th_ok(h5fs_ref_new(&fx->root, fx->file, "/", H5FS_KIND_GROUP));
}

static void fixture_close(struct fixture *fx)
{
	h5fs_ref_free(fx->g);
	h5fs_ref_free(fx->d);
	h5fs_ref_free(fx->root);
	h5fs_file_free(fx->file);
	th_assert_no_open_ids();
}

/* Inspect attribute @p name of @p obj_path with plain HDF5. */
struct seen {
	H5T_class_t cls;
	size_t size;
	H5T_order_t order;
	H5T_sign_t sign;
	int is_bool, is_vstr;
	H5T_cset_t cset;
	H5T_str_t pad;
	H5S_class_t space;
	int ndim;
	hsize_t dim0;
};

static void inspect(struct seen *out, const char *file, const char *obj_path, const char *name)
{
	hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
	hid_t a, t, s;

	assert_true(f >= 0);
	memset(out, 0, sizeof(*out));
	a = H5Aopen_by_name(f, obj_path, name, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0);
	t = H5Aget_type(a);
	s = H5Aget_space(a);
	out->cls = H5Tget_class(t);
	out->size = H5Tget_size(t);
	out->is_bool = h5fs_dtype_is_bool(t);
	if (out->cls == H5T_INTEGER || out->cls == H5T_FLOAT)
		out->order = H5Tget_order(t);
	if (out->cls == H5T_INTEGER)
		out->sign = H5Tget_sign(t);
	if (out->cls == H5T_STRING) {
		out->is_vstr = H5Tis_variable_str(t) > 0;
		out->cset = H5Tget_cset(t);
		out->pad = H5Tget_strpad(t);
	}
	out->space = H5Sget_simple_extent_type(s);
	out->ndim = H5Sget_simple_extent_ndims(s);
	if (out->ndim == 1)
		H5Sget_simple_extent_dims(s, &out->dim0, NULL);
	H5Sclose(s);
	H5Tclose(t);
	H5Aclose(a);
	H5Fclose(f);
}

/* Spec 44 and 59: int, float, str, bool round-trip with bamboost's types. */
static void test_attr__typed_roundtrip(void **state)
{
	struct fixture fx;
	struct seen s;
	int64_t i = 0;
	double x = 0;
	int b = -1;
	char *str = NULL;

	(void)state;
	fixture_open(&fx, "typed.h5", 1);
	th_ok(h5fs_attr_set_int64(fx.g, "int", 3));
	th_ok(h5fs_attr_set_double(fx.g, "float", 2.5));
	th_ok(h5fs_attr_set_string(fx.g, "str", "txt"));
	th_ok(h5fs_attr_set_bool(fx.g, "bool", 1));
	th_ok(h5fs_attr_set_bool(fx.g, "no", 0));
	th_ok(h5fs_attr_set_string(fx.d, "utf", "gr\xc3\xbc\xc3\x9f"));

	th_ok(h5fs_attr_get_int64(&i, fx.g, "int"));
	assert_int_equal(i, 3);
	th_ok(h5fs_attr_get_double(&x, fx.g, "float"));
	assert_true(x == 2.5);
	th_ok(h5fs_attr_get_string(&str, fx.g, "str"));
	assert_string_equal(str, "txt");
	free(str);
	th_ok(h5fs_attr_get_bool(&b, fx.g, "bool"));
	assert_int_equal(b, 1);
	th_ok(h5fs_attr_get_bool(&b, fx.g, "no"));
	assert_int_equal(b, 0);
	th_ok(h5fs_attr_get_string(&str, fx.d, "utf"));
	assert_string_equal(str, "gr\xc3\xbc\xc3\x9f");
	free(str);
	assert_int_equal(h5fs_file_is_open(fx.file), 0);
	fixture_close(&fx);

	/* the storage types of spec section 5 */
	inspect(&s, th_path("typed.h5"), "/g", "int");
	assert_int_equal(s.cls, H5T_INTEGER);
	assert_int_equal(s.size, 8);
	assert_int_equal(s.order, H5T_ORDER_LE);
	assert_int_equal(s.sign, H5T_SGN_2);
	assert_int_equal(s.space, H5S_SCALAR);
	inspect(&s, th_path("typed.h5"), "/g", "float");
	assert_int_equal(s.cls, H5T_FLOAT);
	assert_int_equal(s.size, 8);
	assert_int_equal(s.order, H5T_ORDER_LE);
	assert_int_equal(s.space, H5S_SCALAR);
	inspect(&s, th_path("typed.h5"), "/g", "str");
	assert_int_equal(s.cls, H5T_STRING);
	assert_true(s.is_vstr);
	assert_int_equal(s.cset, H5T_CSET_UTF8);
	assert_int_equal(s.pad, H5T_STR_NULLTERM);
	assert_int_equal(s.space, H5S_SCALAR);
	inspect(&s, th_path("typed.h5"), "/g", "bool");
	assert_int_equal(s.cls, H5T_ENUM);
	assert_true(s.is_bool);
	assert_int_equal(s.size, 1);
	assert_int_equal(s.space, H5S_SCALAR);
}

/* Spec 59, 60: None as the envelope string; lists as arrays. */
static void test_attr__none_and_lists(void **state)
{
	static const int64_t ints[] = { 1, 2, 3 };
	static const double reals[] = { 1.0, 2.5 };
	static const char *const strs[] = { "a", "bb", "\xc3\xa9" };
	struct fixture fx;
	struct seen s;
	char *text = NULL;
	size_t len;

	(void)state;
	fixture_open(&fx, "lists.h5", 1);
	th_ok(h5fs_attr_set_none(fx.g, "none"));
	th_ok(h5fs_attr_get_string(&text, fx.g, "none"));
	assert_string_equal(text, NONE_ENVELOPE);
	free(text);

	th_ok(h5fs_attr_set_int64_array(fx.g, "ints", 3, ints));
	th_ok(h5fs_attr_set_double_array(fx.g, "reals", 2, reals));
	th_ok(h5fs_attr_set_string_array(fx.g, "strs", 3, strs));
	th_ok(h5fs_attr_set_int64_array(fx.g, "empty", 0, NULL));
	th_ok(h5fs_attr_get_text(&text, &len, fx.g, "ints"));
	assert_string_equal(text, "[1, 2, 3]");
	free(text);
	th_ok(h5fs_attr_get_text(&text, &len, fx.g, "reals"));
	assert_string_equal(text, "[1.0, 2.5]");
	free(text);
	th_ok(h5fs_attr_get_text(&text, &len, fx.g, "strs"));
	assert_string_equal(text, "[\"a\", \"bb\", \"\xc3\xa9\"]");
	free(text);
	th_ok(h5fs_attr_get_text(&text, &len, fx.g, "empty"));
	assert_string_equal(text, "[]");
	free(text);
	/* an array is not a scalar */
	{
		int64_t v;

		th_fails(H5FS_ETYPE, h5fs_attr_get_int64(&v, fx.g, "ints"));
	}
	fixture_close(&fx);

	inspect(&s, th_path("lists.h5"), "/g", "none");
	assert_true(s.is_vstr);
	assert_int_equal(s.space, H5S_SCALAR);
	inspect(&s, th_path("lists.h5"), "/g", "ints");
	assert_int_equal(s.cls, H5T_INTEGER);
	assert_int_equal(s.size, 8);
	assert_int_equal(s.ndim, 1);
	assert_int_equal(s.dim0, 3);
	inspect(&s, th_path("lists.h5"), "/g", "reals");
	assert_int_equal(s.cls, H5T_FLOAT);
	assert_int_equal(s.dim0, 2);
	inspect(&s, th_path("lists.h5"), "/g", "strs");
	assert_true(s.is_vstr);
	assert_int_equal(s.cset, H5T_CSET_UTF8);
	assert_int_equal(s.dim0, 3);
	/* [] is float64 of shape (0), as bamboost stores it */
	inspect(&s, th_path("lists.h5"), "/g", "empty");
	assert_int_equal(s.cls, H5T_FLOAT);
	assert_int_equal(s.size, 8);
	assert_int_equal(s.ndim, 1);
	assert_int_equal(s.dim0, 0);
}

/* Typed getters convert safely, and only safely. */
static void test_attr__getter_conversions(void **state)
{
	struct fixture fx;
	hid_t f, g, sp, a;
	int32_t i32 = -12;
	float f32 = 1.5f;
	uint64_t big = UINT64_MAX;
	int64_t huge = ((int64_t)1 << 53) + 1;
	int64_t i = 0;
	double x = 0;
	int b;
	char *str;

	(void)state;
	fixture_open(&fx, "conv.h5", 1);
	fixture_close(&fx);
	f = H5Fopen(th_path("conv.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
	g = H5Gopen2(f, "g", H5P_DEFAULT);
	sp = H5Screate(H5S_SCALAR);
	a = H5Acreate2(g, "i32", H5T_STD_I32BE, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, H5T_NATIVE_INT32, &i32);
	H5Aclose(a);
	a = H5Acreate2(g, "f32", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, H5T_NATIVE_FLOAT, &f32);
	H5Aclose(a);
	a = H5Acreate2(g, "u64", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, H5T_NATIVE_UINT64, &big);
	H5Aclose(a);
	a = H5Acreate2(g, "huge", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, H5T_NATIVE_INT64, &huge);
	H5Aclose(a);
	H5Sclose(sp);
	H5Gclose(g);
	H5Fclose(f);

	fixture_open(&fx, "conv.h5", 0);
	th_ok(h5fs_attr_get_int64(&i, fx.g, "i32"));
	assert_int_equal(i, -12);
	th_ok(h5fs_attr_get_double(&x, fx.g, "i32"));
	assert_true(x == -12.0);
	/* spec 59: np.float32(1.5) -> 1.5 */
	th_ok(h5fs_attr_get_double(&x, fx.g, "f32"));
	assert_true(x == 1.5);
	th_fails(H5FS_ETYPE, h5fs_attr_get_int64(&i, fx.g, "f32"));
	th_fails(H5FS_ETYPE, h5fs_attr_get_int64(&i, fx.g, "u64"));
	th_fails(H5FS_ETYPE, h5fs_attr_get_double(&x, fx.g, "huge"));
	th_fails(H5FS_ETYPE, h5fs_attr_get_bool(&b, fx.g, "i32"));
	th_fails(H5FS_ETYPE, h5fs_attr_get_string(&str, fx.g, "i32"));
	th_fails(H5FS_ENOTFOUND, h5fs_attr_get_int64(&i, fx.g, "missing"));
	assert_non_null(strstr(h5fs_error_last()->message, "'missing'"));
	th_fails(H5FS_ENOTFOUND, h5fs_attr_get_text(&str, NULL, fx.g, "missing"));
	assert_int_equal(h5fs_file_is_open(fx.file), 0);
	fixture_close(&fx);
}

/* Spec 46 (attribute part): set then delete; listing in name order. */
static void test_attr__delete_and_list(void **state)
{
	struct fixture fx;
	char **names;
	size_t n;

	(void)state;
	fixture_open(&fx, "del.h5", 1);
	th_ok(h5fs_attr_list(&names, &n, fx.g));
	assert_int_equal(n, 0);
	assert_null(names[0]);
	h5fs_strarray_free(names);

	th_ok(h5fs_attr_set_int64(fx.g, "b", 1));
	th_ok(h5fs_attr_set_int64(fx.g, "a", 2));
	th_ok(h5fs_attr_set_int64(fx.g, "c c", 3));
	th_ok(h5fs_attr_set_int64(fx.g, "B", 4));
	th_ok(h5fs_attr_list(&names, &n, fx.g));
	assert_int_equal(n, 4);
	assert_string_equal(names[0], "B");
	assert_string_equal(names[1], "a");
	assert_string_equal(names[2], "b");
	assert_string_equal(names[3], "c c");
	assert_null(names[4]);
	h5fs_strarray_free(names);

	assert_int_equal(h5fs_attr_exists(fx.g, "a"), 1);
	th_ok(h5fs_attr_delete(fx.g, "a"));
	assert_int_equal(h5fs_attr_exists(fx.g, "a"), 0);
	th_fails(H5FS_ENOTFOUND, h5fs_attr_delete(fx.g, "a"));
	th_ok(h5fs_attr_list(&names, NULL, fx.g));
	assert_string_equal(names[0], "B");
	assert_string_equal(names[1], "b");
	assert_null(names[3]);
	h5fs_strarray_free(names);

	/* on a dataset, and on the root */
	th_ok(h5fs_attr_set_double(fx.d, "unit", 1.0));
	th_ok(h5fs_attr_set_string(fx.root, "notes", "x"));
	assert_int_equal(h5fs_attr_exists(fx.d, "unit"), 1);
	th_ok(h5fs_attr_delete(fx.d, "unit"));
	assert_int_equal(h5fs_attr_exists(fx.d, "unit"), 0);
	assert_int_equal(h5fs_attr_exists(fx.root, "notes"), 1);
	fixture_close(&fx);
}

/* Typed setters replace whatever was there, type included. */
static void test_attr__replace(void **state)
{
	struct fixture fx;
	struct seen s;
	char *str;
	int64_t i;
	char **names;
	size_t n;

	(void)state;
	fixture_open(&fx, "replace.h5", 1);
	th_ok(h5fs_attr_set_int64(fx.g, "x", 1));
	th_ok(h5fs_attr_set_string(fx.g, "x", "now a string"));
	th_ok(h5fs_attr_get_string(&str, fx.g, "x"));
	assert_string_equal(str, "now a string");
	free(str);
	th_fails(H5FS_ETYPE, h5fs_attr_get_int64(&i, fx.g, "x"));
	th_ok(h5fs_attr_set_int64(fx.g, "x", 7));
	th_ok(h5fs_attr_get_int64(&i, fx.g, "x"));
	assert_int_equal(i, 7);
	/* no temporary names left behind */
	th_ok(h5fs_attr_list(&names, &n, fx.g));
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "x");
	h5fs_strarray_free(names);
	fixture_close(&fx);
	inspect(&s, th_path("replace.h5"), "/g", "x");
	assert_int_equal(s.cls, H5T_INTEGER);
	assert_int_equal(s.size, 8);
}

/* Text access: the codec through references, flags, read-only handles. */
static void test_attr__text(void **state)
{
	struct fixture fx;
	char *text;
	size_t len;
	double x;
	int b;

	(void)state;
	fixture_open(&fx, "text.h5", 1);
	th_ok(h5fs_attr_set_text(fx.g, "n", "0.1", 3, 0));
	th_ok(h5fs_attr_get_double(&x, fx.g, "n"));
	assert_true(x == 0.1);
	th_ok(h5fs_attr_set_text(fx.g, "flag", "true", 4, H5FS_ATTR_CREATE));
	th_ok(h5fs_attr_get_bool(&b, fx.g, "flag"));
	assert_int_equal(b, 1);
	th_fails(H5FS_EEXISTS, h5fs_attr_set_text(fx.g, "flag", "false", 5, H5FS_ATTR_CREATE));
	th_fails(H5FS_ENOTFOUND, h5fs_attr_set_text(fx.g, "nope", "1", 1, H5FS_ATTR_REPLACE));
	assert_int_equal(h5fs_attr_exists(fx.g, "nope"), 0);
	/* existing attribute keeps its type: text that does not fit changes nothing */
	th_fails(H5FS_EINVALID, h5fs_attr_set_text(fx.g, "flag", "maybe", 5, 0));
	th_ok(h5fs_attr_get_text(&text, &len, fx.g, "flag"));
	assert_string_equal(text, "true");
	free(text);
	th_ok(h5fs_attr_set_text(fx.g, "flag", "0", 1, H5FS_ATTR_REPLACE));
	th_ok(h5fs_attr_get_bool(&b, fx.g, "flag"));
	assert_int_equal(b, 0);
	th_ok(h5fs_attr_set_text(fx.g, "s", "plain words", 11, 0));
	th_ok(h5fs_attr_get_text(&text, &len, fx.g, "s"));
	assert_int_equal(len, 11);
	assert_string_equal(text, "plain words");
	free(text);
	fixture_close(&fx);

	/* a read-only handle refuses writes and still reads */
	fixture_open(&fx, "text.h5", 0);
	th_fails(H5FS_EREADONLY, h5fs_attr_set_text(fx.g, "n", "1.0", 3, 0));
	th_fails(H5FS_EREADONLY, h5fs_attr_set_int64(fx.g, "n", 1));
	th_fails(H5FS_EREADONLY, h5fs_attr_delete(fx.g, "n"));
	th_ok(h5fs_attr_get_double(&x, fx.g, "n"));
	assert_true(x == 0.1);
	fixture_close(&fx);
}

/* Calls join an open context instead of reopening the file. */
static void test_attr__open_context(void **state)
{
	struct fixture fx;
	unsigned int opens;
	int64_t i;

	(void)state;
	fixture_open(&fx, "ctx.h5", 1);
	th_ok(h5fs_file_open(fx.file, "a"));
	opens = h5fs_file_real_opens(fx.file);
	th_ok(h5fs_attr_set_int64(fx.g, "k", 5));
	th_ok(h5fs_attr_get_int64(&i, fx.g, "k"));
	assert_int_equal(i, 5);
	assert_int_equal(h5fs_file_real_opens(fx.file), opens);
	assert_int_equal(h5fs_file_open_count(fx.file), 1);
	th_ok(h5fs_file_close(fx.file));
	fixture_close(&fx);
}

/* h5py reads our typed attributes back as bamboost would have written them. */
static void test_attr__h5py_interop(void **state)
{
	static const int64_t ints[] = { 1, 2, 3 };
	static const double reals[] = { 0.5, 2.0 };
	static const char *const strs[] = { "a", "b\xc3\xa9" };
	struct fixture fx;

	(void)state;
	th_require_h5py();
	fixture_open(&fx, "interop.h5", 1);
	th_ok(h5fs_attr_set_string(fx.g, "str", "t\xc3\xa9xt"));
	th_ok(h5fs_attr_set_int64(fx.g, "int", 3));
	th_ok(h5fs_attr_set_double(fx.g, "float", 2.5));
	th_ok(h5fs_attr_set_bool(fx.g, "bool", 1));
	th_ok(h5fs_attr_set_none(fx.g, "none"));
	th_ok(h5fs_attr_set_int64_array(fx.g, "ints", 3, ints));
	th_ok(h5fs_attr_set_double_array(fx.g, "reals", 2, reals));
	th_ok(h5fs_attr_set_string_array(fx.g, "strs", 2, strs));
	th_ok(h5fs_attr_set_double_array(fx.g, "empty", 0, NULL));
	fixture_close(&fx);

	assert_int_equal(th_python(
		"f = h5py.File(sys.argv[1] + '/interop.h5', 'r')\n"
		"a = f['g'].attrs\n"
		"v = a['str']; assert type(v) is str and v == 't\\u00e9xt', repr(v)\n"
		"v = a['int']; assert isinstance(v, np.int64) and v == 3, repr(v)\n"
		"v = a['float']; assert isinstance(v, np.float64) and v == 2.5, repr(v)\n"
		"v = a['bool']; assert isinstance(v, np.bool_) and v, repr(v)\n"
		"v = a['none']; assert json.loads(v) == {'__type__': 'NoneType', '__value__': 'None'}\n"
		"assert v == '{\"__type__\": \"NoneType\", \"__value__\": \"None\"}'\n"
		"v = a['ints']; assert v.dtype == np.dtype('<i8') and list(v) == [1, 2, 3], repr(v)\n"
		"v = a['reals']; assert v.dtype == np.dtype('<f8') and list(v) == [0.5, 2.0], repr(v)\n"
		"v = a['strs']; assert v.dtype == object and list(v) == ['a', 'b\\u00e9'], repr(v)\n"
		"v = a['empty']; assert v.dtype == np.dtype('<f8') and v.shape == (0,), repr(v)\n"
		"# what bamboost writes through h5py has the same types\n"
		"h = h5py.File(sys.argv[1] + '/ref.h5', 'w')\n"
		"h.create_dataset('d', data=np.int32(0))\n"
		"g = h.create_group('g')\n"
		"g.attrs['int'] = 3; g.attrs['float'] = 2.5; g.attrs['bool'] = True\n"
		"g.attrs['ints'] = [1, 2, 3]; g.attrs['strs'] = ['a', 'b']; g.attrs['empty'] = []\n"
		"g.attrs['str'] = 'x'\n"
		"for k in g.attrs:\n"
		"    assert a.get_id(k).dtype == g.attrs.get_id(k).dtype, k\n"
		"    assert a.get_id(k).shape == g.attrs.get_id(k).shape, k\n"
		"    assert a.get_id(k).get_type().get_class() == g.attrs.get_id(k).get_type().get_class(), k\n"
		"t1 = a.get_id('str').get_type(); t2 = g.attrs.get_id('str').get_type()\n"
		"assert t1.get_cset() == t2.get_cset() and t1.is_variable_str() and t2.is_variable_str()\n"
		"assert t1.get_strpad() == t2.get_strpad()\n"
		"assert a.get_id('bool').get_type() == g.attrs.get_id('bool').get_type()\n"), 0);

	/* and we read what h5py wrote */
	fixture_open(&fx, "ref.h5", 0);
	{
		int64_t i;
		double x;
		int b;
		char *s;

		th_ok(h5fs_attr_get_int64(&i, fx.g, "int"));
		assert_int_equal(i, 3);
		th_ok(h5fs_attr_get_double(&x, fx.g, "float"));
		assert_true(x == 2.5);
		th_ok(h5fs_attr_get_bool(&b, fx.g, "bool"));
		assert_int_equal(b, 1);
		th_ok(h5fs_attr_get_string(&s, fx.g, "str"));
		assert_string_equal(s, "x");
		free(s);
	}
	fixture_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attr__typed_roundtrip),
		cmocka_unit_test(test_attr__none_and_lists),
		cmocka_unit_test(test_attr__getter_conversions),
		cmocka_unit_test(test_attr__delete_and_list),
		cmocka_unit_test(test_attr__replace),
		cmocka_unit_test(test_attr__text),
		cmocka_unit_test(test_attr__open_context),
		cmocka_unit_test(test_attr__h5py_interop),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
