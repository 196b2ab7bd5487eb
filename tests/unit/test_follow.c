/*
 * The engine's follower (src/engine/follow.c), without a mount: a served
 * file that another process changes is re-indexed before the next
 * request, its readlink texts follow, and the kernel is told what it
 * must forget (here: counted by a fake glue).  A request made while the
 * other process still holds the file does not wait for it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <hdf5.h>

#include "helpers.h"
#include "engine/served.h"

static atomic_uint nentry, ninode;	/* bumped from the follower thread too */

static void note_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name)
{
	(void)f;
	(void)dir;
	(void)name;
	atomic_fetch_add(&nentry, 1);
}

static void note_inode(struct h5fs_served *f, struct h5fs_node *n)
{
	(void)f;
	(void)n;
	atomic_fetch_add(&ninode, 1);
}

struct served {
	struct h5fs_served f;
	struct h5fs_served_opts so;
	struct h5fs_index_opts io;
};

static void served_open(struct served *s, const char *path)
{
	h5fs_live_mark at;
	h5fs_live_holder held;

	memset(s, 0, sizeof(*s));
	s->io = (struct h5fs_index_opts){ path, path, 0, H5FS_VIEW_RAW, 5.0, 1.0 };
	s->so = (struct h5fs_served_opts){ 0.05, 1.0, (size_t)1 << 20, 0 };
	s->f.o = &s->so;
	s->f.iopts = &s->io;
	s->f.path = path;
	s->f.inval_entry = note_entry;
	s->f.inval_inode = note_inode;
	assert_int_equal(h5fs_live_watch_new(&s->f.watch, path), 0);
	assert_int_equal(h5fs_index_build_live(&s->f.idx, &s->io, NULL, 1.0, s->f.watch, &at, &held), 0);
	assert_true((s->f.fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(fstat(s->f.fd, &s->f.st), 0);
	assert_int_equal(h5fs_links_init(&s->f), 0);
	assert_int_equal(h5fs_tree_init(&s->f), 0);
	assert_int_equal(h5fs_backing_init(&s->f), 0);
	assert_int_equal(h5fs_follow_init(&s->f, &at, &held), 0);
}

static void served_close(struct served *s)
{
	h5fs_follow_stop(&s->f);
	h5fs_backing_shutdown(&s->f);
	h5fs_follow_release(&s->f);
	h5fs_tree_release(&s->f);
	close(s->f.fd);
	h5fs_index_release(&s->f.idx);
	h5fs_live_watch_free(s->f.watch);
}

/* What another program does: in a child, so no HDF5 state of ours is touched. */
static void other_program(const char *path, const char *what, unsigned int hold_ms, int *pid)
{
	pid_t p;
	int st;

	fflush(NULL);
	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
		hsize_t n = 3;
		hid_t s = H5Screate_simple(1, &n, NULL);

		if (f < 0)
			_exit(2);
		if (!strcmp(what, "add"))
			H5Dclose(H5Dcreate2(f, "added", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
		else if (!strcmp(what, "relink") && H5Ldelete(f, "s", H5P_DEFAULT) >= 0)
			H5Lcreate_soft("/added", f, "s", H5P_DEFAULT, H5P_DEFAULT);
		H5Fflush(f, H5F_SCOPE_GLOBAL);
		usleep(hold_ms * 1000);
		H5Sclose(s);
		H5Fclose(f);
		_exit(0);
	}
	if (pid) {
		*pid = p;
		return;
	}
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static const char *make_file(void)
{
	const char *path = th_path("follow.h5");
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);

	assert_true(f >= 0);
	H5Gclose(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	H5Lcreate_soft("/g", f, "s", H5P_DEFAULT, H5P_DEFAULT);
	H5Fclose(f);
	return path;
}

static struct h5fs_node *root_entry(struct served *s, const char *name)
{
	const struct h5fs_entry *e = h5fs_index_find(&s->f.idx.nodes[0], name);

	return e ? &s->f.idx.nodes[e->node] : NULL;
}

static void test_follow__changes_show(void **state)
{
	struct served s;

	(void)state;
	served_open(&s, make_file());
	assert_null(root_entry(&s, "added"));
	assert_int_equal(h5fs_follow_fresh(&s.f), 0);	/* nothing changed: no re-index */
	atomic_store(&nentry, 0);
	atomic_store(&ninode, 0);
	other_program(s.f.path, "add", 0, NULL);
	assert_int_equal(h5fs_follow_fresh(&s.f), 0);
	assert_non_null(root_entry(&s, "added"));
	assert_true(atomic_load(&nentry) >= 1);
	other_program(s.f.path, "relink", 0, NULL);
	assert_int_equal(h5fs_follow_fresh(&s.f), 0);
	assert_string_equal(root_entry(&s, "s")->linktext, "added");
	served_close(&s);
	th_assert_no_open_ids();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_follow__no_wait_for_writer(void **state)
{
	struct served s;
	double t0, took;
	int pid, st;

	(void)state;
	served_open(&s, make_file());
	other_program(s.f.path, "add", 1500, &pid);
	usleep(300 * 1000);	/* it holds the file now */
	t0 = now_s();
	assert_int_equal(h5fs_follow_fresh(&s.f), 0);
	took = now_s() - t0;
	if (took > 0.6)
		fail_msg("a request waited %.2f s for a writer", took);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	/* the writer closed: the next request shows its dataset */
	for (int i = 0; i < 20 && !root_entry(&s, "added"); i++) {
		assert_int_equal(h5fs_follow_fresh(&s.f), 0);
		usleep(50 * 1000);
	}
	assert_non_null(root_entry(&s, "added"));
	served_close(&s);
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follow__changes_show),
		cmocka_unit_test(test_follow__no_wait_for_writer),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
