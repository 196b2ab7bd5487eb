/*
 * h5fs/sys/live.h: stamps, who holds a file, opens without the OS lock.
 *
 * Holders are child processes (forked, killed with the test) that take a
 * lock the way libhdf5 or another program would, then wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <hdf5.h>

#include "helpers.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/live.h"

enum how { HOW_H5_RDWR, HOW_H5_RDONLY, HOW_FLOCK_EX, HOW_FLOCK_SH, HOW_POSIX_WR, HOW_SWMR, HOW_V3_NOLOCK };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_file(const char *path, int latest)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f, s, d;
	hsize_t dims[1] = { 4 }, maxdims[1] = { H5S_UNLIMITED }, chunk[1] = { 4 };
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	double v[4] = { 1, 2, 3, 4 };

	if (latest)
		H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
	f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	assert_true(f >= 0);
	H5Pset_chunk(dcpl, 1, chunk);
	s = H5Screate_simple(1, dims, maxdims);
	d = H5Dcreate2(f, "x", H5T_IEEE_F64LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	assert_true(d >= 0);
	assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
	H5Dclose(d);
	H5Sclose(s);
	H5Pclose(dcpl);
	H5Pclose(fapl);
	H5Fclose(f);
}

struct hold {
	const char *path;
	enum how how;
};

static int take(void *arg)
{
	const struct hold *h = arg;
	hid_t fid = -1, fapl;
	struct flock fl;
	int fd;

	switch (h->how) {
	case HOW_H5_RDWR:
	case HOW_H5_RDONLY:
		fid = H5Fopen(h->path, h->how == HOW_H5_RDWR ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
		return fid >= 0;
	case HOW_FLOCK_EX:
	case HOW_FLOCK_SH:
		fd = open(h->path, O_RDONLY);
		return fd >= 0 && flock(fd, h->how == HOW_FLOCK_EX ? LOCK_EX : LOCK_SH) == 0;
	case HOW_POSIX_WR:
		fd = open(h->path, O_RDWR);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		return fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0;
	case HOW_SWMR:
	case HOW_V3_NOLOCK:
		fapl = H5Pcreate(H5P_FILE_ACCESS);
		if (h->how == HOW_SWMR)
			H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
		else
			H5Pset_file_locking(fapl, 0, 1);
		fid = H5Fopen(h->path, H5F_ACC_RDWR, fapl);
		return fid >= 0 && (h->how != HOW_SWMR || H5Fstart_swmr_write(fid) >= 0);
	}
	return 0;
}

/* A child that holds @p path as @p how says; its pid once it does. */
static pid_t hold(const char *path, enum how how)
{
	struct hold h = { path, how };

	return th_holder(take, &h);
}

static void release(pid_t pid)
{
	th_holder_kill(pid);
}

static h5fs_live_state state_of(const char *path, long *pid)
{
	h5fs_live_holder h;

	th_ok(h5fs_live_holder_get(&h, path));
	if (pid)
		*pid = h.pid;
	return h.state;
}

static void test_live__stamp(void **state)
{
	const char *p = th_path("stamp.h5");
	h5fs_live_stamp a, b;
	int fd;

	(void)state;
	make_file(p, 0);
	th_ok(h5fs_live_stamp_get(&a, p));
	th_ok(h5fs_live_stamp_get(&b, p));
	assert_true(h5fs_live_stamp_equal(&a, &b));
	/* a write in place keeps the size but moves mtime and ctime (past the clock's tick: the
	 * kernel stamps files with a coarse clock, a few ms) */
	usleep(20000);
	fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "x", 1, (off_t)a.size - 1), 1);
	close(fd);
	th_ok(h5fs_live_stamp_get(&b, p));
	assert_int_equal(a.size, b.size);
	assert_false(h5fs_live_stamp_equal(&a, &b));
	th_fails(H5FS_ENOTFOUND, h5fs_live_stamp_get(&b, th_path("missing.h5")));
	th_assert_no_open_ids();
}

/* Every kind of exclusive lock counts; shared ones and our own do not. */
static void test_live__holders(void **state)
{
	const char *p = th_path("held.h5");
	static const struct { enum how how; h5fs_live_state want; int has_pid; } cases[] = {
		{ HOW_H5_RDWR, H5FS_LIVE_WRITER, 1 },
		{ HOW_H5_RDONLY, H5FS_LIVE_FREE, 0 },
		{ HOW_FLOCK_EX, H5FS_LIVE_WRITER, 1 },
		{ HOW_FLOCK_SH, H5FS_LIVE_FREE, 0 },
		{ HOW_POSIX_WR, H5FS_LIVE_WRITER, 1 },
	};
	long pid;
	int fd;

	(void)state;
	make_file(p, 0);
	assert_int_equal(state_of(p, NULL), H5FS_LIVE_FREE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t h = hold(p, cases[i].how);

		if (state_of(p, &pid) != cases[i].want)
			fail_msg("case %zu: state %d, want %d", i, state_of(p, NULL), cases[i].want);
		if (cases[i].has_pid)
			assert_int_equal(pid, h);
		release(h);
		assert_int_equal(state_of(p, NULL), H5FS_LIVE_FREE);
	}
	/* our own exclusive lock is not another writer */
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(state_of(p, NULL), H5FS_LIVE_FREE);
	close(fd);
	th_assert_no_open_ids();
}

/* A v3 superblock tells a SWMR writer (no lock) and a writer without a lock. */
static void test_live__superblock(void **state)
{
	const char *p = th_path("swmr.h5");
	h5fs_live_holder h;
	pid_t w;
	hid_t fid = -1, d;
	double v[4];

	(void)state;
	make_file(p, 1);
	th_ok(h5fs_live_holder_get(&h, p));
	assert_int_equal(h.state, H5FS_LIVE_FREE);
	assert_int_equal(h.sb_flags, 0);

	w = hold(p, HOW_SWMR);
	th_ok(h5fs_live_holder_get(&h, p));
	assert_int_equal(h.state, H5FS_LIVE_SWMR);
	th_ok(h5fs_live_wait(NULL, p, 0));
	/* SWMR read opens it; a plain read-only open would not */
	th_ok(h5fs_live_open(&fid, p, &h));
	d = H5Dopen2(fid, "x", H5P_DEFAULT);
	assert_true(d >= 0);
	assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
	assert_true(v[3] == 4.0);
	H5Dclose(d);
	H5Fclose(fid);
	release(w);
	/* the killed SWMR writer left its flags: h5clear's job; start afresh */
	th_ok(h5fs_live_holder_get(&h, p));
	assert_int_equal(h.state, H5FS_LIVE_SWMR);
	make_file(p, 1);

	w = hold(p, HOW_V3_NOLOCK);
	th_ok(h5fs_live_holder_get(&h, p));
	assert_int_equal(h.state, H5FS_LIVE_WRITER);
	assert_int_equal(h.pid, 0);
	th_fails(H5FS_ELOCKED, h5fs_live_open(&fid, p, &h));
	assert_true(fid < 0);
	release(w);
	th_assert_no_open_ids();
}

/* An open of ours takes no lock: a writer's exclusive flock goes through. */
static void test_live__open_takes_no_lock(void **state)
{
	const char *p = th_path("nolock.h5");
	h5fs_live_holder h;
	hid_t fid;
	pid_t w;
	int fd;

	(void)state;
	make_file(p, 0);
	th_ok(h5fs_live_holder_get(&h, p));
	th_ok(h5fs_live_open(&fid, p, &h));
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	flock(fd, LOCK_UN);
	close(fd);
	/* and a writer in another process opens it with libhdf5's own lock */
	w = hold(p, HOW_H5_RDWR);
	release(w);
	H5Fclose(fid);
	th_assert_no_open_ids();
}

static void test_live__wait(void **state)
{
	const char *p = th_path("wait.h5");
	h5fs_live_holder h;
	double t0;
	pid_t w, killer;

	(void)state;
	make_file(p, 0);
	th_ok(h5fs_live_wait(&h, p, 1));
	assert_int_equal(h.state, H5FS_LIVE_FREE);
	w = hold(p, HOW_H5_RDWR);
	t0 = now();
	th_fails(H5FS_ELOCKED, h5fs_live_wait(&h, p, 0.3));
	assert_true(now() - t0 >= 0.3);
	assert_true(now() - t0 < 2.0);
	assert_non_null(strstr(h5fs_error_last()->message, "process"));
	/* the writer goes after 0.3 s: the wait ends soon after */
	killer = fork();
	assert_true(killer >= 0);
	if (killer == 0) {
		usleep(300000);
		kill(w, SIGKILL);
		_exit(0);
	}
	t0 = now();
	th_ok(h5fs_live_wait(&h, p, 5));
	assert_true(now() - t0 < 1.0);
	waitpid(killer, NULL, 0);
	waitpid(w, NULL, 0);
	th_assert_no_open_ids();
}

/* Writes, truncations, closes after writing and replacements count; reads do not. */
static void test_live__watch(void **state)
{
	const char *p = th_path("watch.h5"), *q = th_path("watch.new");
	h5fs_live_watch *w = NULL;
	uint64_t c0, c1;
	char b[8];
	int fd;

	(void)state;
	make_file(p, 0);
	th_ok(h5fs_live_watch_new(&w, p));
	assert_true(h5fs_live_watch_works(w));
	c0 = h5fs_live_watch_changes(w);
	fd = open(p, O_RDONLY);
	assert_int_equal(pread(fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
	close(fd);
	assert_int_equal(h5fs_live_watch_changes(w), c0);
	assert_false(h5fs_live_watch_writing(w));
	assert_true(h5fs_live_watch_fd(w) >= 0);
	fd = open(p, O_WRONLY);
	assert_int_equal(pwrite(fd, b, 1, 0), 1);
	c1 = h5fs_live_watch_changes(w);
	assert_true(c1 > c0);
	/* written, not closed yet: a writer in the middle of its session */
	assert_true(h5fs_live_watch_writing(w));
	close(fd);
	assert_true(h5fs_live_watch_changes(w) > c1);
	assert_false(h5fs_live_watch_writing(w));
	/* a chmod is a change, not a writer in the middle of its session */
	c0 = h5fs_live_watch_changes(w);
	assert_int_equal(chmod(p, 0640), 0);
	assert_true(h5fs_live_watch_changes(w) > c0);
	assert_false(h5fs_live_watch_writing(w));
	/* replaced by a rename while the old file is open (as the daemon keeps it): seen before the
	 * rearm, and not taken for a writer; the new file is watched after the rearm */
	make_file(q, 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	c0 = h5fs_live_watch_changes(w);
	assert_int_equal(rename(q, p), 0);
	assert_true(h5fs_live_watch_changes(w) > c0);
	assert_false(h5fs_live_watch_writing(w));
	close(fd);
	th_ok(h5fs_live_watch_rearm(w));
	c1 = h5fs_live_watch_changes(w);
	assert_true(c1 > c0);
	assert_int_equal(truncate(p, 4096), 0);
	assert_true(h5fs_live_watch_changes(w) > c1);
	h5fs_live_watch_free(w);
	/* a path that cannot be watched still gives a watch, which counts nothing */
	th_ok(h5fs_live_watch_new(&w, th_path("missing.h5")));
	assert_false(h5fs_live_watch_works(w));
	assert_int_equal(h5fs_live_watch_changes(w), 0);
	assert_int_equal(h5fs_live_watch_fd(w), -1);
	h5fs_live_watch_free(w);
	th_assert_no_open_ids();
}

static void test_live__take_locking(void **state)
{
	(void)state;
	unsetenv("HDF5_USE_FILE_LOCKING");
	assert_int_equal(h5fs_live_take_locking(), 0);
	setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
	assert_int_equal(h5fs_live_take_locking(), 1);
	assert_null(getenv("HDF5_USE_FILE_LOCKING"));
}

/* The one file-changed check: same mark, same file, a stamp against a stat or a descriptor. */
static void test_live__same(void **state)
{
	const char *path = th_path("same.bin"), *other = th_path("other.bin");
	h5fs_live_mark a, b;
	struct stat st;
	int fd;
	FILE *f = fopen(path, "w");

	(void)state;
	fputs("one", f);
	fclose(f);
	f = fopen(other, "w");
	fclose(f);
	assert_int_equal(h5fs_live_mark_get(&a, NULL, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(h5fs_live_stamp_is(&a.stamp, &st, 1));
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_true(h5fs_live_stamp_is_fd(&a.stamp, fd));
	close(fd);
	usleep(20 * 1000);
	f = fopen(path, "a");
	fputs("two", f);
	fclose(f);
	assert_int_equal(h5fs_live_mark_get(&b, NULL, path), 0);
	assert_false(h5fs_live_mark_same(&a, &b, 0));	/* appended: changed */
	assert_true(h5fs_live_mark_same(&a, &b, 1));	/* ... but the same file, for a SWMR reader */
	assert_true(h5fs_live_stamp_is(&a.stamp, &st, 0));
	assert_int_equal(stat(path, &st), 0);
	assert_false(h5fs_live_stamp_is(&a.stamp, &st, 1));
	assert_int_equal(rename(other, path), 0);	/* replaced */
	assert_int_equal(h5fs_live_mark_get(&b, NULL, path), 0);
	assert_false(h5fs_live_mark_same(&a, &b, 1));
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_false(h5fs_live_stamp_is_fd(&a.stamp, fd));
	close(fd);
	assert_false(h5fs_live_stamp_is_fd(&a.stamp, -1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live__stamp),
		cmocka_unit_test(test_live__holders),
		cmocka_unit_test(test_live__superblock),
		cmocka_unit_test(test_live__open_takes_no_lock),
		cmocka_unit_test(test_live__wait),
		cmocka_unit_test(test_live__watch),
		cmocka_unit_test(test_live__take_locking),
		cmocka_unit_test(test_live__same),
	};

	h5fs_init();
	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
