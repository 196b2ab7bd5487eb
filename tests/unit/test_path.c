/*
 * Tests of h5fs/path.h: every row of the HDF5Path table (spec section 1)
 * and acceptance cases 1-7.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void check_norm(const char *in, int absolute, const char *want)
{
	char *out = NULL;

	th_ok(h5fs_path_normalize(&out, in, absolute));
	if (strcmp(out, want))
		fail_msg("normalize('%s', %d) = '%s', want '%s'", in, absolute, out, want);
	free(out);
}

static void check_join(const char *base, const char *piece, const char *want)
{
	char *out = NULL;

	th_ok(h5fs_path_join(&out, base, piece));
	if (strcmp(out, want))
		fail_msg("join('%s', '%s') = '%s', want '%s'", base, piece, out, want);
	free(out);
}

static void check_parent(const char *in, const char *want)
{
	char *out = NULL;

	th_ok(h5fs_path_parent(&out, in));
	if (strcmp(out, want))
		fail_msg("parent('%s') = '%s', want '%s'", in, out, want);
	free(out);
}

static void check_rel(const char *path, const char *other, const char *want)
{
	char *out = NULL;

	th_ok(h5fs_path_relative_to(&out, path, other));
	if (strcmp(out, want))
		fail_msg("relative_to('%s', '%s') = '%s', want '%s'", path, other, out, want);
	free(out);
}

/* Cases 1 and 2, and the normalisation rows of the table. */
static void test_path__normalize(void **state)
{
	(void)state;
	check_norm("path/to/file", 1, "/path/to/file");	/* case 1 */
	check_norm("//////path////to//file", 1, "/path/to/file");
	check_norm("a/", 1, "/a");
	check_norm("/a", 1, "/a");
	check_norm("a", 1, "/a");
	check_norm("", 1, "/");				/* case 2 */
	check_norm("/", 1, "/");
	check_norm("path/to/file", 0, "path/to/file");	/* case 2 */
	check_norm("/path/to/file", 0, "path/to/file");
	check_norm("", 0, "");
	check_norm("/", 0, "");
	check_norm("///", 0, "");
	check_norm("a//b/", 1, "/a/b");
}

static void test_path__literal_dots_and_spaces(void **state)
{
	char *out = NULL;

	(void)state;
	check_norm("./a", 1, "/./a");
	check_norm("a/../b", 1, "/a/../b");
	check_norm(" a ", 1, "/ a ");
	check_norm("a b/c", 1, "/a b/c");
	/* P("a") == "/a" but not "a" */
	th_ok(h5fs_path_normalize(&out, "a", 1));
	assert_string_equal(out, "/a");
	assert_string_not_equal(out, "a");
	free(out);
}

/* Case 5 and the join rows. */
static void test_path__join(void **state)
{
	(void)state;
	check_join("/p/t/f", "another", "/p/t/f/another");
	check_join("/path/to/file", "another", "/path/to/file/another");
	check_join("/p/t/f", "d/e", "/p/t/f/d/e");
	check_join("/p/t/f", "d//e/", "/p/t/f/d/e");
	check_join("/p/t/f", "/abs", "/p/t/f/abs");
	check_join("/p/t/f", "", "/p/t/f");
	check_join("/", "x", "/x");
	check_join("/p/t/f", "..", "/p/t/f/..");
	check_join("", "x", "/x");
	check_join("", "", "/");
	/* a relative base stays relative */
	check_join("a", "b", "a/b");
}

static void test_path__join_several(void **state)
{
	char *a = NULL, *b = NULL;

	(void)state;
	/* joinpath("d", "e") is two joins in a row */
	th_ok(h5fs_path_join(&a, "/p/t/f", "d"));
	th_ok(h5fs_path_join(&b, a, "e"));
	assert_string_equal(b, "/p/t/f/d/e");
	free(a);
	free(b);
}

/* Case 6 and the parent rows, including the relative quirks. */
static void test_path__parent(void **state)
{
	(void)state;
	check_parent("/path/to/file", "/path/to");
	check_parent("/a", "/");
	check_parent("/", "/");
	check_parent("a/b", "/a");
	check_parent("a", "/a");
	check_parent("", "/");
	check_parent("/a/b/", "/a");
}

static void test_path__basename(void **state)
{
	(void)state;
	assert_string_equal(h5fs_path_basename("/path/to/file"), "file");
	assert_string_equal(h5fs_path_basename("/a"), "a");
	assert_string_equal(h5fs_path_basename("/"), "");
	assert_string_equal(h5fs_path_basename("a"), "a");
	assert_string_equal(h5fs_path_basename("/a/b.txt"), "b.txt");
	assert_null(h5fs_path_basename(NULL));
}

/* Case 7. */
static void test_path__ancestors(void **state)
{
	char **arr = NULL;
	size_t n = 99;

	(void)state;
	th_ok(h5fs_path_ancestors(&arr, &n, "/a/b/c"));
	assert_int_equal(n, 3);
	assert_string_equal(arr[0], "/a/b");
	assert_string_equal(arr[1], "/a");
	assert_string_equal(arr[2], "/");
	assert_null(arr[3]);
	h5fs_strarray_free(arr);

	th_ok(h5fs_path_ancestors(&arr, &n, "/"));
	assert_int_equal(n, 0);
	assert_null(arr[0]);
	h5fs_strarray_free(arr);

	th_ok(h5fs_path_ancestors(&arr, NULL, "/x"));
	assert_string_equal(arr[0], "/");
	assert_null(arr[1]);
	h5fs_strarray_free(arr);

	h5fs_strarray_free(NULL);
}

/* Case 7. */
static void test_path__is_child_of(void **state)
{
	(void)state;
	assert_int_equal(h5fs_path_is_child_of("/a/b", "/a"), 1);
	assert_int_equal(h5fs_path_is_child_of("/a/b", "/"), 1);
	assert_int_equal(h5fs_path_is_child_of("/a", "/a"), 0);
	assert_int_equal(h5fs_path_is_child_of("/", "/"), 0);
	assert_int_equal(h5fs_path_is_child_of("/a/bc", "/a/b"), 0);
	assert_int_equal(h5fs_path_is_child_of("/a", "/a/b"), 0);
	assert_int_equal(h5fs_path_is_child_of("a/b", "a"), 1);
}

/* Cases 3 and 4. */
static void test_path__relative_to(void **state)
{
	char *out = NULL;

	(void)state;
	check_rel("/path/to/file", "path", "to/file");
	check_rel("/path/to/file", "path/to", "file");
	check_rel("/path/to/file", "/", "path/to/file");
	check_rel("/path/to/file", "", "path/to/file");
	check_rel("/a/b", "/a/b", "");
	check_rel("/", "/", "");

	th_fails(H5FS_EINVALID, h5fs_path_relative_to(&out, "/path/to/file", "not_a_parent"));
	assert_non_null(strstr(h5fs_error_last()->message, "not a subpath"));
	th_fails(H5FS_EINVALID, h5fs_path_relative_to(&out, "/a/bc", "/a/b"));
	th_fails(H5FS_EINVALID, h5fs_path_relative_to(&out, "/a", "/a/b"));
	/* a relative receiver never matches */
	th_fails(H5FS_EINVALID, h5fs_path_relative_to(&out, "path/to/file", "path"));
	th_fails(H5FS_EINVALID, h5fs_path_relative_to(&out, "a", "/"));
	assert_null(out);
}

static void test_path__bad_args(void **state)
{
	char *out = NULL;

	(void)state;
	th_fails(H5FS_EINVALID, h5fs_path_normalize(NULL, "a", 1));
	th_fails(H5FS_EINVALID, h5fs_path_normalize(&out, NULL, 1));
	th_fails(H5FS_EINVALID, h5fs_path_join(&out, NULL, "a"));
	th_fails(H5FS_EINVALID, h5fs_path_parent(&out, NULL));
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path__normalize),
		cmocka_unit_test(test_path__literal_dots_and_spaces),
		cmocka_unit_test(test_path__join),
		cmocka_unit_test(test_path__join_several),
		cmocka_unit_test(test_path__parent),
		cmocka_unit_test(test_path__basename),
		cmocka_unit_test(test_path__ancestors),
		cmocka_unit_test(test_path__is_child_of),
		cmocka_unit_test(test_path__relative_to),
		cmocka_unit_test(test_path__bad_args),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
