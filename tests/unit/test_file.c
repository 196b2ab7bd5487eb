/*
 * h5fs_file: modes, nesting, upgrades, locks (spec cases 18-28).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <hdf5.h>

#include "helpers.h"

static h5fs_file *new_file(const char *path, int writable, double timeout)
{
	h5fs_file_options opts = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f = NULL;

	opts.writable = writable;
	opts.lock_timeout = timeout;
	th_ok(h5fs_file_new(&f, path, &opts));
	return f;
}

static void make_empty(const char *path)
{
	h5fs_file *f = new_file(path, 1, 0);

	th_ok(h5fs_file_open(f, "w"));
	th_ok(h5fs_file_close(f));
	h5fs_file_free(f);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Case 18 */
static void test_file__missing_file(void **state)
{
	const char *p = th_path("missing.h5");
	h5fs_file_options opts = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f = NULL;

	(void)state;
	th_fails(H5FS_ENOTFOUND, h5fs_file_new(&f, p, &opts));
	assert_null(f);
	assert_non_null(strstr(h5fs_error_last()->message, "does not exist"));
	opts.writable = 1;
	th_ok(h5fs_file_new(&f, p, &opts));
	assert_int_equal(access(p, F_OK), -1);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 19 */
static void test_file__readonly_refuses_writes(void **state)
{
	const char *p = th_path("ro.h5");
	const char *modes[] = { "w", "r+", "a", "w-", "x" };
	h5fs_file *f;

	(void)state;
	make_empty(p);
	f = new_file(p, 0, 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		th_fails(H5FS_EREADONLY, h5fs_file_open(f, modes[i]));
		assert_int_equal(h5fs_file_open_count(f), 0);
	}
	th_fails(H5FS_EINVALID, h5fs_file_open(f, "q"));
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 20 */
static void test_file__nested_write_opens_once(void **state)
{
	h5fs_file *f = new_file(th_path("nest.h5"), 1, 0);

	(void)state;
	th_ok(h5fs_file_open(f, "w"));
	th_ok(h5fs_file_open(f, "w"));
	th_ok(h5fs_file_open(f, "w"));
	assert_int_equal(h5fs_file_real_opens(f), 1);
	assert_true(h5fs_file_is_open(f));
	assert_string_equal(h5fs_file_mode(f), "r+");
	assert_int_equal(h5fs_file_open_count(f), 3);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Cases 21 and 28 */
static void test_file__upgrade_read_to_write(void **state)
{
	const char *p = th_path("upgrade.h5");
	h5fs_file *f;

	(void)state;
	make_empty(p);
	f = new_file(p, 1, 0);
	th_ok(h5fs_file_open(f, "r"));
	assert_string_equal(h5fs_file_mode(f), "r");
	th_ok(h5fs_file_open(f, "w"));
	assert_string_equal(h5fs_file_mode(f), "r+");
	th_ok(h5fs_file_open(f, "r"));
	assert_string_equal(h5fs_file_mode(f), "r+");
	assert_int_equal(h5fs_file_real_opens(f), 2);
	assert_int_equal(h5fs_file_real_closes(f), 1);
	th_ok(h5fs_file_close(f));
	th_ok(h5fs_file_close(f));
	th_ok(h5fs_file_close(f));
	assert_int_equal(h5fs_file_real_closes(f), 2);
	assert_false(h5fs_file_is_open(f));
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 22 */
static void test_file__close_counts(void **state)
{
	h5fs_file *f = new_file(th_path("count.h5"), 1, 0);

	(void)state;
	for (int i = 0; i < 3; i++)
		th_ok(h5fs_file_open(f, "a"));
	th_ok(h5fs_file_close(f));
	assert_true(h5fs_file_is_open(f));
	assert_int_equal(h5fs_file_open_count(f), 2);
	th_ok(h5fs_file_close(f));
	th_ok(h5fs_file_close(f));
	assert_false(h5fs_file_is_open(f));
	assert_int_equal(h5fs_file_open_count(f), 0);
	th_ok(h5fs_file_close(f));
	assert_int_equal(h5fs_file_open_count(f), 0);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 23 */
static void test_file__force_close(void **state)
{
	h5fs_file *f = new_file(th_path("force.h5"), 1, 0);

	(void)state;
	for (int i = 0; i < 3; i++)
		th_ok(h5fs_file_open(f, "a"));
	th_ok(h5fs_file_force_close(f));
	assert_false(h5fs_file_is_open(f));
	assert_int_equal(h5fs_file_open_count(f), 0);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

struct hold {
	const char *path;
	int for_write;
};

static int take_h5(void *arg)
{
	const struct hold *h = arg;

	return H5Fopen(h->path, h->for_write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT) >= 0;
}

/*
 * Hold @p path open in a child process (for writing when @p write) until
 * killed; returns the child's pid once it holds the lock.
 */
static pid_t hold_lock(const char *path, int for_write)
{
	struct hold h = { path, for_write };

	return th_holder(take_h5, &h);
}

static void release_lock(pid_t pid)
{
	th_holder_kill(pid);
}

/* Case 24 */
static void test_file__locked_timeout_zero(void **state)
{
	const char *p = th_path("lock0.h5");
	h5fs_file *f;
	double t0;
	pid_t holder;

	(void)state;
	make_empty(p);
	holder = hold_lock(p, 1);
	f = new_file(p, 1, 0);
	t0 = now();
	th_fails(H5FS_ELOCKED, h5fs_file_open(f, "a"));
	assert_true(now() - t0 < 0.5);
	assert_non_null(strstr(h5fs_error_last()->message, "not retrying"));
	assert_int_equal(h5fs_file_open_count(f), 0);
	release_lock(holder);
	/* free again: opens at once */
	th_ok(h5fs_file_open(f, "a"));
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 25 */
static void test_file__locked_timeout(void **state)
{
	const char *p = th_path("lock1.h5");
	h5fs_file *f;
	double t0, dt;
	pid_t holder;

	(void)state;
	make_empty(p);
	holder = hold_lock(p, 1);
	f = new_file(p, 1, 0.05);
	t0 = now();
	th_fails(H5FS_ELOCKED, h5fs_file_open(f, "a"));
	dt = now() - t0;
	assert_true(dt >= 0.05);
	assert_true(dt < 0.5);
	assert_non_null(strstr(h5fs_error_last()->message, "Timeout"));
	release_lock(holder);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 26: readers share, writers wait. */
static void test_file__readers_share(void **state)
{
	const char *p = th_path("share.h5");
	h5fs_file *f;
	pid_t holder;

	(void)state;
	make_empty(p);
	holder = hold_lock(p, 0);
	f = new_file(p, 1, 0);
	th_ok(h5fs_file_open(f, "r"));
	th_ok(h5fs_file_close(f));
	th_fails(H5FS_ELOCKED, h5fs_file_open(f, "a"));
	release_lock(holder);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* "w" on a file someone holds must not truncate it (HDF5 truncates first). */
static void test_file__truncate_waits_for_lock(void **state)
{
	const char *p = th_path("trunc.h5");
	h5fs_file *f;
	struct stat before, after;
	pid_t holder;
	hid_t fid, g;

	(void)state;
	fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	g = H5Gcreate2(fid, "keep", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(g);
	H5Fclose(fid);
	assert_int_equal(stat(p, &before), 0);
	holder = hold_lock(p, 0);
	f = new_file(p, 1, 0.05);
	th_fails(H5FS_ELOCKED, h5fs_file_open(f, "w"));
	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	release_lock(holder);
	fid = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(fid >= 0);
	assert_true(H5Lexists(fid, "keep", H5P_DEFAULT) > 0);
	H5Fclose(fid);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

static void test_file__precise_open_errors(void **state)
{
	h5fs_file *f;

	(void)state;
	f = new_file(th_dir(), 0, 0);
	th_fails(H5FS_EINVALID, h5fs_file_open(f, "r"));
	assert_non_null(strstr(h5fs_error_last()->message, "is a directory"));
	h5fs_file_free(f);
	assert_int_equal(h5fs_error_errno(H5FS_EACCESS), EACCES);
	th_assert_no_open_ids();
}

/* A lock released during the wait lets the open through. */
static void test_file__lock_released_while_waiting(void **state)
{
	const char *p = th_path("wait.h5");
	h5fs_file *f;
	pid_t holder, killer;

	(void)state;
	make_empty(p);
	holder = hold_lock(p, 1);
	killer = fork();
	if (killer == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		usleep(200000);
		kill(holder, SIGKILL);
		_exit(0);
	}
	f = new_file(p, 1, 10);
	th_ok(h5fs_file_open(f, "a"));
	waitpid(killer, NULL, 0);
	waitpid(holder, NULL, 0);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

/* Case 27 */
static void test_file__w_inside_a_keeps_data(void **state)
{
	const char *p = th_path("keep.h5");
	h5fs_file *f = new_file(p, 1, 0);
	hid_t g;

	(void)state;
	th_ok(h5fs_file_open(f, "a"));
	g = H5Gcreate2(h5fs_file_hid(f), "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(g >= 0);
	H5Gclose(g);
	th_ok(h5fs_file_open(f, "w"));
	assert_true(H5Lexists(h5fs_file_hid(f), "g", H5P_DEFAULT) > 0);
	th_ok(h5fs_file_close(f));
	th_ok(h5fs_file_close(f));
	/* on a closed handle "w" truncates */
	th_ok(h5fs_file_open(f, "w"));
	assert_int_equal(H5Lexists(h5fs_file_hid(f), "g", H5P_DEFAULT), 0);
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

static void test_file__exclusive_create(void **state)
{
	const char *p = th_path("excl.h5");
	h5fs_file *f = new_file(p, 1, 0);

	(void)state;
	th_ok(h5fs_file_open(f, "w-"));
	th_ok(h5fs_file_close(f));
	th_fails(H5FS_EEXISTS, h5fs_file_open(f, "x"));
	th_fails(H5FS_EEXISTS, h5fs_file_open(f, "w-"));
	th_ok(h5fs_file_open(f, "r+"));
	h5fs_file_free(f);
	th_assert_no_open_ids();
}

static void test_file__not_hdf5(void **state)
{
	const char *p = th_path("text.h5");
	FILE *fp = fopen(p, "w");
	h5fs_file *f;

	(void)state;
	fputs("this is not an HDF5 file\n", fp);
	fclose(fp);
	assert_int_equal(h5fs_file_is_hdf5(p), 0);
	f = new_file(p, 0, 0);
	th_fails(H5FS_ECORRUPT, h5fs_file_open(f, "r"));
	assert_non_null(strstr(h5fs_error_last()->message, "not an HDF5 file"));
	h5fs_file_free(f);
	th_fails(H5FS_ENOTFOUND, h5fs_file_is_hdf5(th_path("nope")));
	th_assert_no_open_ids();
}

/* A 512-byte user block moves the signature; it is still found. */
static void test_file__user_block(void **state)
{
	const char *p = th_path("ub.h5");
	hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fid;

	(void)state;
	H5Pset_userblock(fcpl, 512);
	fid = H5Fcreate(p, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
	assert_true(fid >= 0);
	H5Fclose(fid);
	H5Pclose(fcpl);
	assert_int_equal(h5fs_file_is_hdf5(p), 1);
	th_assert_no_open_ids();
}

static void test_file__relative_path_made_absolute(void **state)
{
	h5fs_file *f;
	h5fs_file_options opts = H5FS_FILE_OPTIONS_INIT;
	char *cwd = getcwd(NULL, 0);

	(void)state;
	opts.writable = 1;
	assert_int_equal(chdir(th_dir()), 0);
	th_ok(h5fs_file_new(&f, "rel.h5", &opts));
	assert_string_equal(h5fs_file_path(f), th_path("rel.h5"));
	h5fs_file_free(f);
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file__missing_file),
		cmocka_unit_test(test_file__readonly_refuses_writes),
		cmocka_unit_test(test_file__nested_write_opens_once),
		cmocka_unit_test(test_file__upgrade_read_to_write),
		cmocka_unit_test(test_file__close_counts),
		cmocka_unit_test(test_file__force_close),
		cmocka_unit_test(test_file__locked_timeout_zero),
		cmocka_unit_test(test_file__locked_timeout),
		cmocka_unit_test(test_file__readers_share),
		cmocka_unit_test(test_file__lock_released_while_waiting),
		cmocka_unit_test(test_file__truncate_waits_for_lock),
		cmocka_unit_test(test_file__precise_open_errors),
		cmocka_unit_test(test_file__w_inside_a_keeps_data),
		cmocka_unit_test(test_file__exclusive_create),
		cmocka_unit_test(test_file__not_hdf5),
		cmocka_unit_test(test_file__user_block),
		cmocka_unit_test(test_file__relative_path_made_absolute),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
