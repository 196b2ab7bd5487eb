/*
 * References (spec cases 31-42).
 */
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

#include "helpers.h"

static const char *five_objects(const char *name)
{
	const char *p = th_path("%s", name);

	if (th_python("f = h5py.File(sys.argv[1] + '/%s', 'w')\n"
		      "f.create_group('group1'); f.create_group('group2/group3')\n"
		      "f['dataset1'] = np.array([1, 2, 3], dtype='int64')\n"
		      "f['group2/dataset2'] = np.arange(4.0)\n", name) != 0)
		fail_msg("cannot write the fixture with h5py");
	return p;
}

static h5fs_file *handle(const char *p, int writable)
{
	h5fs_file_options o = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f;

	o.writable = writable;
	th_ok(h5fs_file_new(&f, p, &o));
	return f;
}

/* Case 31 */
static void test_ref__not_checked_on_writable(void **state)
{
	h5fs_file *f;
	h5fs_ref *r;
	char *text;

	(void)state;
	th_require_h5py();
	f = handle(five_objects("c31.h5"), 1);
	th_ok(h5fs_ref_new(&r, f, "/path/to/object", H5FS_KIND_NONE));
	assert_int_equal(h5fs_ref_status_of(r), H5FS_REF_NOT_CHECKED);
	th_ok(h5fs_ref_describe(&text, r));
	assert_non_null(strstr(text, "HDF5 H5Reference"));
	assert_non_null(strstr(text, "NOT_CHECKED"));
	free(text);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 32 */
static void test_ref__missing_on_readonly(void **state)
{
	const char *p;
	h5fs_file *f;
	h5fs_ref *r = NULL;
	char *want;

	(void)state;
	th_require_h5py();
	p = five_objects("c32.h5");
	f = handle(p, 0);
	th_fails(H5FS_ENOTFOUND, h5fs_ref_new(&r, f, "/nope", H5FS_KIND_GROUP));
	assert_null(r);
	assert_true(asprintf(&want, "object '/nope' not found in file '%s'", p) > 0);
	assert_string_equal(h5fs_error_last()->message, want);
	free(want);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 33 */
static void test_ref__group_over_dataset(void **state)
{
	const char *p;
	h5fs_ref *r;

	(void)state;
	th_require_h5py();
	p = five_objects("c33.h5");
	for (int w = 0; w < 2; w++) {
		h5fs_file *f = handle(p, w);

		th_fails(H5FS_ETYPE, h5fs_ref_new(&r, f, "/dataset1", H5FS_KIND_GROUP));
		assert_non_null(strstr(h5fs_error_last()->message, "is not a group"));
		/* a dataset reference over a group is only checked when used */
		th_ok(h5fs_ref_new(&r, f, "/group1", H5FS_KIND_DATASET));
		assert_int_equal(h5fs_ref_status_of(r), H5FS_REF_VALID);
		h5fs_ref_free(r);
		h5fs_file_free(f);
	}
	th_assert_no_open_ids();
}

/* Case 34 */
static void test_ref__invalid_then_require_self(void **state)
{
	h5fs_file *f;
	h5fs_ref *r;

	(void)state;
	th_require_h5py();
	f = handle(five_objects("c34.h5"), 1);
	th_ok(h5fs_ref_new(&r, f, "/new/group", H5FS_KIND_GROUP));
	assert_int_equal(h5fs_ref_status_of(r), H5FS_REF_INVALID);
	th_ok(h5fs_group_require_self(r));
	assert_int_equal(h5fs_ref_status_of(r), H5FS_REF_VALID);
	h5fs_filemap_invalidate(f);
	assert_int_equal(h5fs_filemap_contains(f, "/new/group"), 1);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Cases 35, 36 */
static void test_ref__resolve(void **state)
{
	h5fs_file *f;
	h5fs_ref *r;

	(void)state;
	th_require_h5py();
	f = handle(five_objects("c36.h5"), 0);
	th_ok(h5fs_ref_resolve(&r, f, "/group1"));
	assert_int_equal(h5fs_ref_kind(r), H5FS_KIND_GROUP);
	h5fs_ref_free(r);
	th_ok(h5fs_ref_resolve(&r, f, "/dataset1"));
	assert_int_equal(h5fs_ref_kind(r), H5FS_KIND_DATASET);
	h5fs_ref_free(r);
	th_ok(h5fs_ref_new(&r, f, "/group1", H5FS_KIND_GROUP));
	assert_int_equal(h5fs_ref_kind(r), H5FS_KIND_GROUP);
	h5fs_ref_free(r);
	th_fails(H5FS_ENOTFOUND, h5fs_ref_resolve(&r, f, "/invalid_path"));
	assert_non_null(strstr(h5fs_error_last()->message, "unable to open object"));
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 37 */
static void test_ref__child(void **state)
{
	h5fs_file *f;
	h5fs_ref *root, *g2, *c;

	(void)state;
	th_require_h5py();
	f = handle(five_objects("c37.h5"), 0);
	th_ok(h5fs_ref_new(&root, f, "/", H5FS_KIND_GROUP));
	th_ok(h5fs_ref_child(&c, root, "group1"));
	assert_int_equal(h5fs_ref_kind(c), H5FS_KIND_GROUP);
	assert_string_equal(h5fs_ref_path(c), "/group1");
	h5fs_ref_free(c);
	th_ok(h5fs_ref_child(&g2, root, "group2"));
	th_ok(h5fs_ref_child(&c, g2, "dataset2"));
	assert_int_equal(h5fs_ref_kind(c), H5FS_KIND_DATASET);
	assert_string_equal(h5fs_ref_path(c), "/group2/dataset2");
	h5fs_ref_free(c);
	th_fails(H5FS_ENOTFOUND, h5fs_ref_child(&c, g2, "missing"));
	h5fs_ref_free(g2);
	h5fs_ref_free(root);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Cases 38, 39 */
static void test_ref__dataset_slices(void **state)
{
	h5fs_file *f;
	h5fs_ref *d, *g;
	int64_t buf[3] = { 0 };
	uint64_t start, count, stride, dims[H5FS_MAX_RANK];
	int ndim;
	char *dtype;

	(void)state;
	th_require_h5py();
	f = handle(five_objects("c38.h5"), 0);
	th_ok(h5fs_ref_new(&d, f, "/dataset1", H5FS_KIND_DATASET));
	start = 0, count = 3;
	th_ok(h5fs_dataset_read(d, &start, &count, NULL, buf, sizeof(buf)));
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[2], 3);
	start = 1, count = 1;
	th_ok(h5fs_dataset_read(d, &start, &count, NULL, buf, sizeof(buf)));
	assert_int_equal(buf[0], 2);
	start = 0, count = 2, stride = 2;
	th_ok(h5fs_dataset_read(d, &start, &count, &stride, buf, sizeof(buf)));
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], 3);
	th_fails(H5FS_EBUFS, h5fs_dataset_read(d, &start, &count, &stride, buf, 8));
	th_ok(h5fs_dataset_shape(d, &ndim, dims, NULL));
	assert_int_equal(ndim, 1);
	assert_int_equal(dims[0], 3);
	th_ok(h5fs_dataset_dtype(&dtype, d));
	assert_string_equal(dtype, "<i8");
	free(dtype);
	h5fs_ref_free(d);
	/* a group is not a dataset */
	th_ok(h5fs_ref_new(&g, f, "/group1", H5FS_KIND_DATASET));
	th_fails(H5FS_ETYPE, h5fs_dataset_read(g, &start, &count, NULL, buf, sizeof(buf)));
	assert_non_null(strstr(h5fs_error_last()->message, "is not a dataset"));
	h5fs_ref_free(g);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 41 */
static void test_ref__parent(void **state)
{
	h5fs_file *f;
	h5fs_ref *d, *p, *pp;

	(void)state;
	th_require_h5py();
	f = handle(five_objects("c41.h5"), 0);
	th_ok(h5fs_ref_new(&d, f, "/group2/dataset2", H5FS_KIND_DATASET));
	th_ok(h5fs_ref_parent(&p, d));
	assert_string_equal(h5fs_ref_path(p), "/group2");
	assert_int_equal(h5fs_ref_kind(p), H5FS_KIND_GROUP);
	th_ok(h5fs_ref_parent(&pp, p));
	assert_string_equal(h5fs_ref_path(pp), "/");
	h5fs_ref_free(pp);
	th_ok(h5fs_ref_parent(&pp, p));
	h5fs_ref_free(p);
	th_ok(h5fs_ref_parent(&p, pp));
	assert_string_equal(h5fs_ref_path(p), "/");
	h5fs_ref_free(p);
	h5fs_ref_free(pp);
	h5fs_ref_free(d);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 42 */
static void test_ref__require_group_then_reopen(void **state)
{
	const char *p = th_path("c42.h5");
	h5fs_file *f = handle(p, 1);
	h5fs_ref *root, *g;
	char **keys;
	size_t n;

	(void)state;
	th_ok(h5fs_ref_new(&root, f, "/", H5FS_KIND_GROUP));
	assert_int_equal(h5fs_ref_status_of(root), H5FS_REF_VALID);
	th_ok(h5fs_group_require_group(&g, root, "group1"));
	h5fs_ref_free(g);
	h5fs_ref_free(root);
	h5fs_file_free(f);
	f = handle(p, 0);
	th_ok(h5fs_ref_new(&root, f, "/", H5FS_KIND_GROUP));
	th_ok(h5fs_group_keys(&keys, &n, root, H5FS_FILTER_ALL));
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "group1");
	h5fs_strarray_free(keys);
	h5fs_ref_free(root);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* A reference on a writable handle whose file does not exist yet. */
static void test_ref__file_not_created_yet(void **state)
{
	h5fs_file *f = handle(th_path("later.h5"), 1);
	h5fs_ref *r;

	(void)state;
	th_ok(h5fs_ref_new(&r, f, "/", H5FS_KIND_GROUP));
	assert_int_equal(h5fs_ref_status_of(r), H5FS_REF_VALID);
	h5fs_ref_free(r);
	th_ok(h5fs_ref_new(&r, f, "/a", H5FS_KIND_GROUP));
	assert_int_equal(h5fs_ref_status_of(r), H5FS_REF_NOT_CHECKED);
	th_ok(h5fs_group_require_self(r));
	assert_int_equal(h5fs_ref_check(r), H5FS_REF_VALID);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref__not_checked_on_writable),
		cmocka_unit_test(test_ref__missing_on_readonly),
		cmocka_unit_test(test_ref__group_over_dataset),
		cmocka_unit_test(test_ref__invalid_then_require_self),
		cmocka_unit_test(test_ref__resolve),
		cmocka_unit_test(test_ref__child),
		cmocka_unit_test(test_ref__dataset_slices),
		cmocka_unit_test(test_ref__parent),
		cmocka_unit_test(test_ref__require_group_then_reopen),
		cmocka_unit_test(test_ref__file_not_created_yet),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
