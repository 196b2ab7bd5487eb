/*
 * The last error: per thread, HDF5's stack folded in and never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>

#include "helpers.h"

/* Run @p fn with stderr redirected to a file; return what it printed. */
static char *capture_stderr(void (*fn)(void))
{
	const char *p = th_path("stderr.txt");
	int saved = dup(2), fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	char *buf;
	FILE *fp;
	long n;

	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fp = fopen(p, "r");
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

static int corrupt_rc;

static void open_corrupt(void)
{
	const char *p = th_path("corrupt.h5");
	h5fs_file *f;
	hid_t fid;
	int fd;

	/* a real file whose superblock is damaged after the signature */
	fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	H5Fclose(fid);
	fd = open(p, O_WRONLY);
	assert_int_equal(pwrite(fd, "\xff\xff\xff\xff\xff\xff\xff\xff", 8, 8), 8);
	close(fd);
	th_ok(h5fs_file_new(&f, p, NULL));
	corrupt_rc = h5fs_file_open(f, "r");
	h5fs_file_free(f);
}

static void test_errors__hdf5_stack_folded_never_printed(void **state)
{
	char *printed;
	const h5fs_error *e;

	(void)state;
	printed = capture_stderr(open_corrupt);
	assert_int_equal(corrupt_rc, H5FS_ECORRUPT);
	e = h5fs_error_last();
	assert_int_equal(e->klass, H5FS_ERROR_HDF5);
	assert_non_null(strstr(e->message, "cannot open '"));
	/* HDF5's own words follow ours after ": " */
	assert_non_null(strstr(e->message, "': "));
	assert_null(strchr(e->message, '\n'));
	assert_string_equal(printed, "");
	free(printed);
	/* the stack was cleared */
	assert_true(H5Eget_num(H5E_DEFAULT) == 0);
	th_assert_no_open_ids();
}

static void *other_thread(void *arg)
{
	h5fs_file *f = NULL;

	(void)arg;
	if (h5fs_file_new(&f, "/nonexistent/other-thread.h5", NULL) != H5FS_ENOTFOUND)
		return (void *)1;
	return strstr(h5fs_error_last()->message, "other-thread") ? NULL : (void *)1;
}

static void test_errors__per_thread(void **state)
{
	h5fs_file *f = NULL;
	pthread_t t;
	void *ret;

	(void)state;
	th_fails(H5FS_ENOTFOUND, h5fs_file_new(&f, "/nonexistent/main-thread.h5", NULL));
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_non_null(strstr(h5fs_error_last()->message, "main-thread"));
	h5fs_error_clear();
	assert_int_equal(h5fs_error_last()->klass, H5FS_ERROR_NONE);
	assert_non_null(h5fs_error_last()->message);
}

static void test_errors__errno_mapping(void **state)
{
	(void)state;
	assert_int_equal(h5fs_error_errno(0), 0);
	assert_int_equal(h5fs_error_errno(H5FS_ENOTFOUND), ENOENT);
	assert_int_equal(h5fs_error_errno(H5FS_EEXISTS), EEXIST);
	assert_int_equal(h5fs_error_errno(H5FS_EINVALID), EINVAL);
	assert_int_equal(h5fs_error_errno(H5FS_EBUFS), E2BIG);
	assert_int_equal(h5fs_error_errno(H5FS_EREADONLY), EROFS);
	assert_int_equal(h5fs_error_errno(H5FS_ELOCKED), EAGAIN);
	assert_int_equal(h5fs_error_errno(H5FS_ENOMEM), ENOMEM);
	assert_int_equal(h5fs_error_errno(H5FS_ENOTEMPTY), ENOTEMPTY);
	assert_int_equal(h5fs_error_errno(H5FS_ENOTSUPPORTED), EOPNOTSUPP);
	assert_int_equal(h5fs_error_errno(H5FS_ECORRUPT), EIO);
	assert_int_equal(h5fs_error_errno(H5FS_ERROR), EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors__hdf5_stack_folded_never_printed),
		cmocka_unit_test(test_errors__per_thread),
		cmocka_unit_test(test_errors__errno_mapping),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
