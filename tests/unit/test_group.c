/*
 * Group writes and dataset reads (spec cases 43-58), serial.
 * The MPI cases (63-72) are in tests/mpi/.
 */
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

#include "helpers.h"

static h5fs_file *handle(const char *p, int writable)
{
	h5fs_file_options o = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f;

	o.writable = writable;
	o.lock_timeout = 0;
	th_ok(h5fs_file_new(&f, p, &o));
	return f;
}

static h5fs_ref *root_of(h5fs_file *f)
{
	h5fs_ref *r;

	th_ok(h5fs_ref_new(&r, f, "/", H5FS_KIND_GROUP));
	return r;
}

/* Case 43 */
static void test_group__readonly_refuses_writes(void **state)
{
	const char *p = th_path("c43.h5");
	h5fs_file *f = handle(p, 1);
	h5fs_ref *r = root_of(f);
	uint64_t dims = 1;
	int64_t v = 1;

	(void)state;
	th_ok(h5fs_group_require_self(r));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	f = handle(p, 0);
	r = root_of(f);
	th_fails(H5FS_EREADONLY, h5fs_attr_set_int64(r, "a", 3));
	th_fails(H5FS_EREADONLY, h5fs_group_require_group(NULL, r, "g"));
	th_fails(H5FS_EREADONLY, h5fs_group_write_contiguous(r, "d", "<i8", 1, &dims, &v, 0));
	th_fails(H5FS_EREADONLY, h5fs_group_add_dataset(r, "d", "<i8", 1, &dims, &v));
	th_fails(H5FS_EREADONLY, h5fs_group_delete(r, "x"));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Cases 45, 46, 47 */
static void test_group__delete_attribute_first(void **state)
{
	const char *p = th_path("c47.h5");
	h5fs_file *f = handle(p, 1);
	h5fs_ref *r = root_of(f);
	uint64_t dims = 3;
	int64_t v[3] = { 1, 2, 3 };
	char **keys;
	size_t n;

	(void)state;
	th_ok(h5fs_group_write_contiguous(r, "x", "<i8", 1, &dims, v, 0));
	th_ok(h5fs_attr_set_int64(r, "x", 3));
	assert_int_equal(h5fs_attr_exists(r, "x"), 1);
	assert_int_equal(h5fs_group_contains(r, "x"), 1);
	th_ok(h5fs_group_delete(r, "x"));
	assert_int_equal(h5fs_attr_exists(r, "x"), 0);
	assert_int_equal(h5fs_group_contains(r, "x"), 1);
	th_ok(h5fs_group_delete(r, "x"));
	assert_int_equal(h5fs_group_contains(r, "x"), 0);
	th_ok(h5fs_group_keys(&keys, &n, r, H5FS_FILTER_ALL));
	assert_int_equal(n, 0);
	h5fs_strarray_free(keys);
	th_fails(H5FS_ENOTFOUND, h5fs_group_delete(r, "x"));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	/* the file agrees */
	assert_int_equal(th_python("f = h5py.File(sys.argv[1] + '/c47.h5', 'r')\n"
				   "assert 'x' not in f and 'x' not in f.attrs\n"), 0);
	th_assert_no_open_ids();
}

/* Cases 48, 49 */
static void test_group__require_group(void **state)
{
	h5fs_file *f = handle(th_path("c48.h5"), 1);
	h5fs_ref *r = root_of(f), *g = NULL;
	uint64_t dims = 1;
	double v = 1;
	char **keys;
	size_t n;

	(void)state;
	th_ok(h5fs_group_require_group(&g, r, "subgroup"));
	assert_int_equal(h5fs_ref_kind(g), H5FS_KIND_GROUP);
	assert_string_equal(h5fs_ref_path(g), "/subgroup");
	h5fs_ref_free(g);
	th_ok(h5fs_group_require_group(NULL, r, "subgroup"));
	th_ok(h5fs_group_keys(&keys, &n, r, H5FS_FILTER_GROUPS));
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "subgroup");
	h5fs_strarray_free(keys);
	th_ok(h5fs_group_write_contiguous(r, "ds", "<f8", 1, &dims, &v, 0));
	th_fails(H5FS_ETYPE, h5fs_group_require_group(NULL, r, "ds"));
	assert_non_null(strstr(h5fs_error_last()->message, "incompatible object"));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Cases 50, 51 */
static void test_group__require_dataset_rules(void **state)
{
	h5fs_file *f = handle(th_path("c51.h5"), 1);
	h5fs_ref *r = root_of(f);
	h5fs_dataset_spec spec = H5FS_DATASET_SPEC_INIT;
	uint64_t d22[2] = { 2, 2 }, d23[2] = { 2, 3 }, d33[2] = { 3, 3 };
	uint64_t mx[2] = { UINT64_MAX, 3 };
	char **keys;
	size_t n;

	(void)state;
	spec.dtype = "int64";
	spec.ndim = 2;
	spec.dims = d22;
	/* without an open file: an error */
	th_fails(H5FS_EINVALID, h5fs_group_require_dataset(r, "data", &spec, 0));
	th_ok(h5fs_file_open(f, "a"));
	th_ok(h5fs_group_require_dataset(r, "data", &spec, 0));
	th_ok(h5fs_group_keys(&keys, &n, r, H5FS_FILTER_DATASETS));
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "data");
	h5fs_strarray_free(keys);

	spec.dims = d23;
	th_ok(h5fs_group_require_dataset(r, "e", &spec, 0));
	spec.dtype = "int32";
	th_ok(h5fs_group_require_dataset(r, "e", &spec, 0));
	spec.dtype = "float64";
	th_fails(H5FS_ETYPE, h5fs_group_require_dataset(r, "e", &spec, 0));
	assert_non_null(strstr(h5fs_error_last()->message, "safely cast"));
	spec.dtype = "int64";
	spec.dims = d33;
	th_fails(H5FS_ETYPE, h5fs_group_require_dataset(r, "e", &spec, 0));
	assert_non_null(strstr(h5fs_error_last()->message, "shapes do not match (existing (2, 3) vs new (3, 3))"));
	spec.dims = d23;
	spec.dtype = "int32";
	th_fails(H5FS_ETYPE, h5fs_group_require_dataset(r, "e", &spec, 1));
	assert_non_null(strstr(h5fs_error_last()->message, "exactly"));
	spec.dtype = "int64";
	th_ok(h5fs_group_require_dataset(r, "e", &spec, 1));
	/* maxshape: another shape is accepted when the maxshape matches */
	spec.maxdims = mx;
	th_ok(h5fs_group_require_dataset(r, "g", &spec, 0));
	spec.dims = d33;
	th_ok(h5fs_group_require_dataset(r, "g", &spec, 0));
	mx[1] = 4;
	th_fails(H5FS_ETYPE, h5fs_group_require_dataset(r, "g", &spec, 0));
	assert_non_null(strstr(h5fs_error_last()->message, "max shapes"));
	/* a group of that name */
	spec.maxdims = NULL;
	th_ok(h5fs_group_require_group(NULL, r, "grp"));
	th_fails(H5FS_ETYPE, h5fs_group_require_dataset(r, "grp", &spec, 0));
	th_ok(h5fs_file_close(f));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	assert_int_equal(th_python("f = h5py.File(sys.argv[1] + '/c51.h5', 'r')\n"
				   "assert f['e'].dtype == np.int64 and f['e'].shape == (2, 3)\n"
				   "assert f['g'].maxshape == (None, 3) and f['g'].chunks is not None\n"), 0);
	th_assert_no_open_ids();
}

/* Cases 52, 53 */
static void test_group__write_contiguous(void **state)
{
	h5fs_file *f = handle(th_path("c52.h5"), 1);
	h5fs_ref *r = root_of(f), *d;
	uint64_t dims = 3, dims4 = 4;
	int64_t iv[3] = { 1, 2, 3 }, iv4[4] = { 0 };
	double fv[3] = { 4.2, 5.1, 6.0 };
	int64_t back[3];
	size_t size;
	void *all;

	(void)state;
	th_ok(h5fs_group_write_contiguous(r, "ints", "<i8", 1, &dims, iv, 0));
	th_ok(h5fs_ref_child(&d, r, "ints"));
	th_ok(h5fs_attr_set_int64(d, "attr1", 3));
	th_ok(h5fs_group_write_contiguous(r, "floats", "<f8", 1, &dims, fv, 0));
	/* overwrite with the same shape keeps the attributes */
	iv[0] = 7;
	th_ok(h5fs_group_write_contiguous(r, "ints", "<i8", 1, &dims, iv, 0));
	th_ok(h5fs_attr_set_int64(d, "k2", 2));
	/* another row count: refused, the old data stays */
	th_fails(H5FS_ETYPE, h5fs_group_write_contiguous(r, "ints", "<i8", 1, &dims4, iv4, 0));
	th_ok(h5fs_dataset_read_all(&all, &size, d));
	assert_int_equal(size, sizeof(back));
	memcpy(back, all, sizeof(back));
	free(all);
	assert_int_equal(back[0], 7);
	assert_int_equal(back[2], 3);
	h5fs_ref_free(d);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	assert_int_equal(th_python("f = h5py.File(sys.argv[1] + '/c52.h5', 'r')\n"
				   "assert list(f['ints'][()]) == [7, 2, 3] and f['ints'].dtype == np.int64\n"
				   "assert dict(f['ints'].attrs) == {'attr1': 3, 'k2': 2}\n"
				   "assert list(f['floats'][()]) == [4.2, 5.1, 6.0] and f['floats'].dtype == np.float64\n"
				   "assert f['floats'].chunks is None\n"), 0);
	th_assert_no_open_ids();
}

/* Cases 54, 55, 56 */
static void test_group__write_scattered(void **state)
{
	h5fs_file *f = handle(th_path("c54.h5"), 1);
	h5fs_ref *r = root_of(f), *d;
	uint64_t dims[2] = { 3, 2 }, idx[3] = { 0, 2, 1 }, idx2[2] = { 5, 1 }, dup[2] = { 1, 1 };
	int64_t rows[6] = { 10, 10, 30, 30, 20, 20 }, two[2] = { 50, 10 };
	uint64_t d1 = 2;

	(void)state;
	th_ok(h5fs_group_write_scattered(r, "s", "<i8", 2, dims, idx, rows, 0));
	th_ok(h5fs_ref_child(&d, r, "s"));
	th_ok(h5fs_attr_set_int64(d, "attr_dof", 42));
	h5fs_ref_free(d);
	th_ok(h5fs_group_write_scattered(r, "six", "<i8", 1, &d1, idx2, two, 0));
	th_fails(H5FS_ETYPE, h5fs_group_write_scattered(r, "dup", "<i8", 1, &d1, dup, two, 0));
	assert_int_equal(h5fs_group_contains(r, "dup"), 0);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	assert_int_equal(th_python("f = h5py.File(sys.argv[1] + '/c54.h5', 'r')\n"
				   "assert f['s'][()].tolist() == [[10, 10], [20, 20], [30, 30]]\n"
				   "assert f['s'].attrs['attr_dof'] == 42\n"
				   "assert f['six'][()].tolist() == [0, 10, 0, 0, 0, 50]\n"
				   "assert 'dup' not in f\n"), 0);
	th_assert_no_open_ids();
}

/* Empty indices give a (0, ...) dataset. */
static void test_group__write_scattered_empty(void **state)
{
	h5fs_file *f = handle(th_path("empty.h5"), 1);
	h5fs_ref *r = root_of(f), *d;
	uint64_t dims[2] = { 0, 3 }, gd[H5FS_MAX_RANK];
	int ndim;

	(void)state;
	th_ok(h5fs_group_write_scattered(r, "e", "<f8", 2, dims, NULL, NULL, 0));
	th_ok(h5fs_ref_child(&d, r, "e"));
	th_ok(h5fs_dataset_shape(d, &ndim, gd, NULL));
	assert_int_equal(ndim, 2);
	assert_int_equal(gd[0], 0);
	assert_int_equal(gd[1], 3);
	h5fs_ref_free(d);
	/* a 0-d array cannot be distributed */
	th_fails(H5FS_EINVALID, h5fs_group_write_contiguous(r, "z", "<f8", 0, dims, NULL, 0));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Cases 57, 58 */
static void test_group__add_dataset(void **state)
{
	h5fs_file *f = handle(th_path("c57.h5"), 1);
	h5fs_ref *r = root_of(f), *d;
	int64_t v[4] = { 0, 1, 2, 3 };
	uint64_t n = 4;

	(void)state;
	th_ok(h5fs_group_add_dataset(r, "ad", "<i8", 1, &n, v));
	th_ok(h5fs_ref_child(&d, r, "ad"));
	th_ok(h5fs_attr_set_string(d, "u", "m"));
	h5fs_ref_free(d);
	th_fails(H5FS_EEXISTS, h5fs_group_add_dataset(r, "ad", "<i8", 1, &n, v));
	assert_non_null(strstr(h5fs_error_last()->message, "name already exists"));
	th_ok(h5fs_group_add_string(r, "s", "hello"));
	assert_int_equal(h5fs_group_contains(r, "s"), 1);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	assert_int_equal(th_python("f = h5py.File(sys.argv[1] + '/c57.h5', 'r')\n"
				   "assert f['ad'][()].tolist() == [0, 1, 2, 3] and f['ad'].attrs['u'] == 'm'\n"
				   "s = f['s']\n"
				   "assert s.shape == () and h5py.check_string_dtype(s.dtype).encoding == 'utf-8'\n"
				   "assert s[()].decode() == 'hello'\n"), 0);
	th_assert_no_open_ids();
}

/* Reads give the stored bytes, big-endian included. */
static void test_group__read_stored_bytes(void **state)
{
	h5fs_ref *d;
	h5fs_file *f;
	uint64_t start[2] = { 1, 0 }, count[2] = { 1, 2 };
	unsigned char buf[8];
	char *dt;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python("f = h5py.File(sys.argv[1] + '/be.h5', 'w')\n"
				   "f['be'] = np.array([[1, 2], [3, 4]], dtype='>i4')\n"), 0);
	f = handle(th_path("be.h5"), 0);
	th_ok(h5fs_ref_new(&d, f, "/be", H5FS_KIND_DATASET));
	th_ok(h5fs_dataset_read(d, start, count, NULL, buf, sizeof(buf)));
	assert_memory_equal(buf, "\0\0\0\3\0\0\0\4", 8);
	th_ok(h5fs_dataset_dtype(&dt, d));
	assert_string_equal(dt, ">i4");
	free(dt);
	h5fs_ref_free(d);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 29: an attribute write inside a read context upgrades it in place. */
static void test_group__attr_write_inside_read_context(void **state)
{
	const char *p = th_path("c29.h5");
	h5fs_file *f = handle(p, 1);
	h5fs_ref *r = root_of(f);
	int64_t v;

	(void)state;
	th_ok(h5fs_group_require_self(r));
	th_ok(h5fs_file_open(f, "r"));
	th_ok(h5fs_attr_set_int64(r, "a", 5));
	assert_true(h5fs_file_is_open(f));
	assert_string_equal(h5fs_file_mode(f), "r+");
	assert_int_equal(h5fs_file_open_count(f), 1);
	th_ok(h5fs_attr_get_int64(&v, r, "a"));
	assert_int_equal(v, 5);
	th_ok(h5fs_file_close(f));
	assert_false(h5fs_file_is_open(f));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Review findings: the map follows what writers really did. */
static void test_group__map_follows_writes(void **state)
{
	h5fs_file *f = handle(th_path("map.h5"), 1);
	h5fs_ref *r = root_of(f);
	uint64_t n = 3, d1 = 1, huge = UINT64_MAX;
	int64_t v[3] = { 1, 2, 3 };
	char **keys;
	size_t nk;

	(void)state;
	th_ok(h5fs_group_write_contiguous(r, "x", "<i8", 1, &n, v, 0));
	th_ok(h5fs_group_keys(&keys, &nk, r, H5FS_FILTER_ALL));
	h5fs_strarray_free(keys);
	/* deleting the attribute "x" leaves the dataset "x" listed */
	th_ok(h5fs_attr_set_int64(r, "x", 1));
	th_ok(h5fs_group_delete(r, "x"));
	assert_int_equal(h5fs_group_contains(r, "x"), 1);
	/* intermediate groups made by a writer are listed */
	th_ok(h5fs_group_add_dataset(r, "a/b/ds", "<i8", 1, &n, v));
	th_ok(h5fs_group_write_contiguous(r, "e/ds", "<i8", 1, &n, v, 0));
	th_ok(h5fs_group_keys(&keys, &nk, r, H5FS_FILTER_GROUPS));
	assert_int_equal(nk, 2);
	assert_string_equal(keys[0], "a");
	assert_string_equal(keys[1], "e");
	h5fs_strarray_free(keys);
	assert_int_equal(h5fs_group_contains(r, "a/b"), 1);
	/* an index past int64 is refused, not silently dropped */
	th_fails(H5FS_EINVALID, h5fs_group_write_scattered(r, "s", "<i8", 1, &d1, &huge, v, 0));
	assert_int_equal(h5fs_group_contains(r, "s"), 0);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* A selection outside the extent is the caller's error, not corruption. */
static void test_group__read_outside_extent(void **state)
{
	h5fs_file *f = handle(th_path("ext.h5"), 1);
	h5fs_ref *r = root_of(f), *d;
	uint64_t n = 3, start = 2, count = 5, stride = 2;
	int64_t v[3] = { 1, 2, 3 }, buf[8];

	(void)state;
	th_ok(h5fs_group_write_contiguous(r, "d", "<i8", 1, &n, v, 0));
	th_ok(h5fs_ref_child(&d, r, "d"));
	th_fails(H5FS_EINVALID, h5fs_dataset_read(d, &start, &count, NULL, buf, sizeof(buf)));
	start = 0, count = 3;
	th_fails(H5FS_EINVALID, h5fs_dataset_read(d, &start, &count, &stride, buf, sizeof(buf)));
	count = 2;
	th_ok(h5fs_dataset_read(d, &start, &count, &stride, buf, sizeof(buf)));
	assert_int_equal(buf[1], 3);
	th_fails(H5FS_EINVALID, h5fs_dataset_read(d, NULL, &count, NULL, buf, sizeof(buf)));
	h5fs_ref_free(d);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group__readonly_refuses_writes),
		cmocka_unit_test(test_group__delete_attribute_first),
		cmocka_unit_test(test_group__require_group),
		cmocka_unit_test(test_group__require_dataset_rules),
		cmocka_unit_test(test_group__write_contiguous),
		cmocka_unit_test(test_group__write_scattered),
		cmocka_unit_test(test_group__write_scattered_empty),
		cmocka_unit_test(test_group__add_dataset),
		cmocka_unit_test(test_group__read_stored_bytes),
		cmocka_unit_test(test_group__attr_write_inside_read_context),
		cmocka_unit_test(test_group__map_follows_writes),
		cmocka_unit_test(test_group__read_outside_extent),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
