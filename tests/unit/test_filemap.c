/*
 * The file map (spec cases 8-17).
 */
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

#include "helpers.h"

static void mk_group(hid_t fid, const char *path)
{
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), g;

	H5Pset_create_intermediate_group(lcpl, 1);
	g = H5Gcreate2(fid, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(g >= 0);
	H5Gclose(g);
	H5Pclose(lcpl);
}

static void mk_dataset(hid_t fid, const char *path)
{
	hsize_t n = 3;
	hid_t s = H5Screate_simple(1, &n, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE), d;

	H5Pset_create_intermediate_group(lcpl, 1);
	d = H5Dcreate2(fid, path, H5T_STD_I64LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(d >= 0);
	H5Dclose(d);
	H5Sclose(s);
	H5Pclose(lcpl);
}

/* The reference's 5-object test file. */
static const char *five_objects(const char *name)
{
	const char *p = th_path("%s", name);
	hid_t fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);

	mk_group(fid, "/group1");
	mk_group(fid, "/group2");
	mk_dataset(fid, "/dataset1");
	mk_dataset(fid, "/group2/dataset2");
	mk_group(fid, "/group2/group3");
	H5Fclose(fid);
	return p;
}

static h5fs_file *open_handle(const char *p, int writable)
{
	h5fs_file_options o = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f;

	o.writable = writable;
	th_ok(h5fs_file_new(&f, p, &o));
	return f;
}

static void assert_strarray(char **got, size_t n, const char **want, size_t nwant)
{
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(got[i], want[i]);
	assert_null(got[n]);
}

/* Case 8 */
static void test_filemap__new_map_holds_root(void **state)
{
	h5fs_file *f = open_handle(five_objects("c8.h5"), 0);
	char **paths;
	size_t n;

	(void)state;
	assert_int_equal(h5fs_filemap_size(f), 1);
	assert_int_equal(h5fs_filemap_cached(f, "/"), H5FS_KIND_GROUP);
	th_ok(h5fs_filemap_paths(&paths, &n, f, H5FS_FILTER_ALL));
	assert_int_equal(n, 1);
	assert_string_equal(paths[0], "/");
	h5fs_strarray_free(paths);
	assert_int_equal(h5fs_file_real_opens(f), 0);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 9: only the immediate parent is expanded. */
static void test_filemap__lookup_expands_parent_only(void **state)
{
	const char *p = th_path("c9.h5");
	hid_t fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	h5fs_kind k;
	h5fs_file *f;

	(void)state;
	mk_group(fid, "/a/b/c");
	mk_dataset(fid, "/a/b/d");
	H5Fclose(fid);
	f = open_handle(p, 0);
	th_ok(h5fs_filemap_get(&k, f, "/a/b/c"));
	assert_int_equal(k, H5FS_KIND_GROUP);
	assert_int_equal(h5fs_filemap_cached(f, "/a/b/c"), H5FS_KIND_GROUP);
	assert_int_equal(h5fs_filemap_cached(f, "/a/b/d"), H5FS_KIND_DATASET);
	assert_int_equal(h5fs_filemap_cached(f, "/a/b"), H5FS_KIND_GROUP);
	assert_int_equal(h5fs_filemap_cached(f, "/a"), H5FS_KIND_NONE);
	th_ok(h5fs_filemap_get(&k, f, "/a/b"));
	assert_int_equal(h5fs_filemap_cached(f, "/a"), H5FS_KIND_NONE);
	assert_false(h5fs_file_is_open(f));
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Cases 10 and 11 */
static void test_filemap__populate(void **state)
{
	h5fs_file *f = open_handle(five_objects("c10.h5"), 0);
	const char *ds[] = { "/dataset1", "/group2/dataset2" };
	const char *gs[] = { "/", "/group1", "/group2", "/group2/group3" };
	char **paths;
	size_t n;
	h5fs_kind k;

	(void)state;
	th_fails(H5FS_EINVALID, h5fs_filemap_populate(f, 0));
	assert_int_equal(h5fs_filemap_size(f), 1);
	th_ok(h5fs_file_open(f, "r"));
	th_ok(h5fs_filemap_populate(f, 0));
	th_ok(h5fs_file_close(f));
	assert_int_equal(h5fs_filemap_size(f), 6);
	th_ok(h5fs_filemap_paths(&paths, &n, f, H5FS_FILTER_DATASETS));
	assert_strarray(paths, n, ds, 2);
	h5fs_strarray_free(paths);
	th_ok(h5fs_filemap_paths(&paths, &n, f, H5FS_FILTER_GROUPS));
	assert_strarray(paths, n, gs, 4);
	h5fs_strarray_free(paths);
	th_ok(h5fs_filemap_get(&k, f, "dataset1"));
	assert_int_equal(k, H5FS_KIND_DATASET);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 12 */
static void test_filemap__filtered_children(void **state)
{
	h5fs_file *f = open_handle(five_objects("c12.h5"), 0);
	const char *all[] = { "dataset2", "group3" };
	char **names;
	size_t n;
	h5fs_kind k;

	(void)state;
	th_ok(h5fs_filemap_children(&names, &n, f, "group2", H5FS_FILTER_ALL));
	assert_strarray(names, n, all, 2);
	h5fs_strarray_free(names);
	th_ok(h5fs_filemap_children(&names, &n, f, "/group2", H5FS_FILTER_DATASETS));
	assert_strarray(names, n, all, 1);
	h5fs_strarray_free(names);
	th_ok(h5fs_filemap_children(&names, &n, f, "/group2", H5FS_FILTER_GROUPS));
	assert_strarray(names, n, all + 1, 1);
	h5fs_strarray_free(names);
	th_ok(h5fs_filemap_get(&k, f, "/group2/group3"));
	assert_int_equal(k, H5FS_KIND_GROUP);
	/* a missing group has no children */
	th_ok(h5fs_filemap_children(&names, &n, f, "/nope", H5FS_FILTER_ALL));
	assert_int_equal(n, 0);
	h5fs_strarray_free(names);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 13: byte order, not numeric order. */
static void test_filemap__children_in_byte_order(void **state)
{
	const char *p = th_path("c13.h5");
	hid_t fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	const char *w1[] = { "B", "a", "b", "ds" }, *w2[] = { "10", "2", "_z", "x" };
	h5fs_file *f;
	char **names;
	size_t n;

	(void)state;
	mk_group(fid, "/g1/b");
	mk_group(fid, "/g1/B");
	mk_group(fid, "/g1/a");
	mk_dataset(fid, "/g1/ds");
	mk_group(fid, "/g2/10");
	mk_group(fid, "/g2/2");
	mk_group(fid, "/g2/_z");
	mk_group(fid, "/g2/x");
	H5Fclose(fid);
	f = open_handle(p, 0);
	th_ok(h5fs_filemap_children(&names, &n, f, "/g1", H5FS_FILTER_ALL));
	assert_strarray(names, n, w1, 4);
	h5fs_strarray_free(names);
	th_ok(h5fs_filemap_children(&names, &n, f, "/g2", H5FS_FILTER_ALL));
	assert_strarray(names, n, w2, 4);
	h5fs_strarray_free(names);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 14 */
static void test_filemap__miss(void **state)
{
	h5fs_file *f = open_handle(five_objects("c14.h5"), 0);
	h5fs_kind k;

	(void)state;
	th_fails(H5FS_ENOTFOUND, h5fs_filemap_get(&k, f, "/nope/x"));
	assert_int_equal(k, H5FS_KIND_NONE);
	assert_int_equal(h5fs_filemap_contains(f, "/nope/x"), 0);
	assert_int_equal(h5fs_filemap_cached(f, "/nope/x"), H5FS_KIND_NONE);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 15 */
static void test_filemap__populate_exclude_numeric(void **state)
{
	const char *p = th_path("c15.h5");
	hid_t fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	h5fs_file *f;

	(void)state;
	mk_dataset(fid, "/a/10");
	mk_dataset(fid, "/a/2");
	mk_dataset(fid, "/a/x");
	mk_dataset(fid, "/7/inner");
	H5Fclose(fid);
	f = open_handle(p, 0);
	th_ok(h5fs_file_open(f, "r"));
	th_ok(h5fs_filemap_populate(f, 1));
	th_ok(h5fs_file_close(f));
	assert_int_equal(h5fs_filemap_cached(f, "/a/10"), H5FS_KIND_NONE);
	assert_int_equal(h5fs_filemap_cached(f, "/a/2"), H5FS_KIND_NONE);
	assert_int_equal(h5fs_filemap_cached(f, "/a/x"), H5FS_KIND_DATASET);
	assert_int_equal(h5fs_filemap_cached(f, "/a"), H5FS_KIND_GROUP);
	/* descendants of a numeric name are still visited, the name is not */
	assert_int_equal(h5fs_filemap_cached(f, "/7/inner"), H5FS_KIND_DATASET);
	assert_int_equal(h5fs_filemap_cached(f, "/7"), H5FS_KIND_NONE);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 16 */
static void test_filemap__stale_until_invalidate(void **state)
{
	const char *p = five_objects("c16.h5");
	h5fs_file *f = open_handle(p, 0);
	char **names;
	size_t n;
	hid_t fid;

	(void)state;
	th_ok(h5fs_filemap_children(&names, &n, f, "/", H5FS_FILTER_ALL));
	assert_int_equal(n, 3);
	h5fs_strarray_free(names);
	fid = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
	mk_group(fid, "/late");
	H5Fclose(fid);
	assert_int_equal(h5fs_filemap_contains(f, "/late"), 0);
	h5fs_filemap_invalidate(f);
	assert_int_equal(h5fs_filemap_size(f), 1);
	assert_int_equal(h5fs_filemap_contains(f, "/late"), 1);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 17, without the reference's stale descendants. */
static void test_filemap__delete_drops_descendants(void **state)
{
	const char *p = th_path("c17.h5");
	hid_t fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	h5fs_file *f;
	h5fs_ref *g;
	char **names;
	size_t n;

	(void)state;
	mk_dataset(fid, "/g/ds");
	mk_dataset(fid, "/g/s/x");
	mk_dataset(fid, "/g/keep");
	H5Fclose(fid);
	f = open_handle(p, 1);
	th_ok(h5fs_ref_new(&g, f, "/g", H5FS_KIND_GROUP));
	th_ok(h5fs_filemap_children(&names, &n, f, "/g", H5FS_FILTER_ALL));
	assert_int_equal(n, 3);
	h5fs_strarray_free(names);
	th_ok(h5fs_group_delete(g, "ds"));
	assert_int_equal(h5fs_filemap_cached(f, "/g/ds"), H5FS_KIND_NONE);
	th_ok(h5fs_filemap_children(&names, &n, f, "/g", H5FS_FILTER_ALL));
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "keep");
	h5fs_strarray_free(names);
	/* a group's descendants go with it */
	assert_int_equal(h5fs_filemap_contains(f, "/g/s/x"), 1);
	th_ok(h5fs_group_delete(g, "s"));
	assert_int_equal(h5fs_filemap_cached(f, "/g/s/x"), H5FS_KIND_NONE);
	assert_int_equal(h5fs_filemap_cached(f, "/g/s"), H5FS_KIND_NONE);
	assert_int_equal(h5fs_filemap_contains(f, "/g/s/x"), 0);
	h5fs_ref_free(g);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Writers record into a known child list; unknown lists stay unread. */
static void test_filemap__set_joins_known_lists(void **state)
{
	h5fs_file *f = open_handle(five_objects("set.h5"), 1);
	char **names;
	size_t n;

	(void)state;
	th_ok(h5fs_filemap_set(f, "/group1/new", H5FS_KIND_DATASET));
	assert_int_equal(h5fs_filemap_cached(f, "/group1/new"), H5FS_KIND_DATASET);
	th_ok(h5fs_filemap_children(&names, &n, f, "/", H5FS_FILTER_ALL));
	assert_int_equal(n, 3);
	h5fs_strarray_free(names);
	th_ok(h5fs_filemap_set(f, "/zzz", H5FS_KIND_GROUP));
	th_ok(h5fs_filemap_children(&names, &n, f, "/", H5FS_FILTER_GROUPS));
	assert_int_equal(n, 3);
	assert_string_equal(names[2], "zzz");
	h5fs_strarray_free(names);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Soft, dangling and external links get kinds without following externals. */
static void test_filemap__links(void **state)
{
	const char *p = five_objects("links.h5");
	hid_t fid = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
	h5fs_file *f;
	h5fs_kind k;

	(void)state;
	H5Lcreate_soft("/group2", fid, "soft", H5P_DEFAULT, H5P_DEFAULT);
	H5Lcreate_soft("/nowhere", fid, "dangling", H5P_DEFAULT, H5P_DEFAULT);
	H5Lcreate_external("other.h5", "/x", fid, "ext", H5P_DEFAULT, H5P_DEFAULT);
	H5Fclose(fid);
	f = open_handle(p, 0);
	th_ok(h5fs_filemap_get(&k, f, "/soft"));
	assert_int_equal(k, H5FS_KIND_GROUP);
	th_ok(h5fs_filemap_get(&k, f, "/dangling"));
	assert_int_equal(k, H5FS_KIND_SOFTLINK);
	th_ok(h5fs_filemap_get(&k, f, "/ext"));
	assert_int_equal(k, H5FS_KIND_EXTLINK);
	assert_string_equal(h5fs_kind_name(k), "extlink");
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filemap__new_map_holds_root),
		cmocka_unit_test(test_filemap__lookup_expands_parent_only),
		cmocka_unit_test(test_filemap__populate),
		cmocka_unit_test(test_filemap__filtered_children),
		cmocka_unit_test(test_filemap__children_in_byte_order),
		cmocka_unit_test(test_filemap__miss),
		cmocka_unit_test(test_filemap__populate_exclude_numeric),
		cmocka_unit_test(test_filemap__stale_until_invalidate),
		cmocka_unit_test(test_filemap__delete_drops_descendants),
		cmocka_unit_test(test_filemap__set_joins_known_lists),
		cmocka_unit_test(test_filemap__links),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
