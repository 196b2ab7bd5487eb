/*
 * Collective writes under MPI (spec cases 63-69, 71, 72), run by
 * tests/mpi/run.sh under mpiexec -n 1, 2 and 4.  Every rank runs every
 * test; ranks other than 0 write their cmocka output to a log of their
 * own, and mpiexec's exit status reports any rank's failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <mpi.h>
#include <hdf5.h>

#include "h5fs.h"
#include "h5fs/mpi.h"

static int rank, size;
static char scratch[4096];
static int counter;

#define ok(expr) do { \
	int rc_ = (expr); \
	if (rc_ < 0) \
		fail_msg("rank %d: %s = %d: %s", rank, #expr, rc_, h5fs_error_last()->message); \
} while (0)

/* A fresh file name, the same on every rank. */
static const char *fresh(char *buf, size_t len)
{
	snprintf(buf, len, "%s/f%d.h5", scratch, counter++);
	return buf;
}

static h5fs_file *handle(const char *path, MPI_Comm comm)
{
	h5fs_file_options o = H5FS_FILE_OPTIONS_INIT;
	h5fs_file *f;

	o.writable = 1;
	o.lock_timeout = 30;
	ok(h5fs_file_new(&f, path, &o));
	ok(h5fs_file_set_comm(f, comm));
	return f;
}

static h5fs_ref *root(h5fs_file *f)
{
	h5fs_ref *r;

	ok(h5fs_ref_new(&r, f, "/", H5FS_KIND_GROUP));
	return r;
}

/* Read a whole 1-D or 2-D dataset as doubles with plain serial HDF5. */
static size_t read_doubles(const char *path, const char *name, double **out)
{
	hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d, s;
	hssize_t n;

	assert_true(fid >= 0);
	d = H5Dopen2(fid, name, H5P_DEFAULT);
	assert_true(d >= 0);
	s = H5Dget_space(d);
	n = H5Sget_simple_extent_npoints(s);
	*out = calloc((size_t)n + 1, sizeof(double));
	assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) >= 0);
	H5Sclose(s);
	H5Dclose(d);
	H5Fclose(fid);
	return (size_t)n;
}

/* Case 63: rank r writes [r + 10]. */
static void test_mpi__contiguous_one_row_each(void **state)
{
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f);
	uint64_t dims = 1;
	double v = rank + 10.0, *got;

	(void)state;
	ok(h5fs_group_write_contiguous(r, "d", "<f8", 1, &dims, &v, 0));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
	assert_int_equal(read_doubles(p, "d", &got), (size_t)size);
	for (int i = 0; i < size; i++)
		assert_true(got[i] == 10.0 + i);
	free(got);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Case 64: rank r writes r + 1 rows of value r, stacked in rank order. */
static void test_mpi__contiguous_blocks_in_rank_order(void **state)
{
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f);
	uint64_t dims[2] = { (uint64_t)rank + 1, 2 };
	double *v = malloc(sizeof(double) * 2 * (size_t)(rank + 1)), *got;
	size_t k = 0;

	(void)state;
	for (int i = 0; i < 2 * (rank + 1); i++)
		v[i] = rank;
	ok(h5fs_group_write_contiguous(r, "blocks", "<f8", 2, dims, v, 0));
	free(v);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
	assert_int_equal(read_doubles(p, "blocks", &got), (size_t)(size * (size + 1)));
	for (int b = 0; b < size; b++)
		for (int i = 0; i < 2 * (b + 1); i++)
			assert_true(got[k++] == b);
	free(got);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Case 65 (at 3 ranks and more; ranks past 2 write nothing) and case 72. */
static void test_mpi__scattered(void **state)
{
	static const uint64_t idx0[2] = { 4, 0 }, idx1[1] = { 2 }, idx2[1] = { 7 };
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f);
	const uint64_t *idx = NULL;
	double v[2], *got;
	uint64_t n = 0;
	double want[8] = { 0, 0, 20, 0, 40, 0, 0, 70 };
	size_t rows;

	(void)state;
	if (rank == 0)
		idx = idx0, n = 2;
	else if (rank == 1)
		idx = idx1, n = 1;
	else if (rank == 2)
		idx = idx2, n = 1;
	for (uint64_t i = 0; i < n; i++)
		v[i] = 10.0 * (double)idx[i];
	ok(h5fs_group_write_scattered(r, "s", "<f8", 1, &n, idx, v, 0));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
	rows = read_doubles(p, "s", &got);
	/* rank 0 writes rows 0 and 4, rank 1 row 2, rank 2 row 7 */
	assert_int_equal(rows, size >= 3 ? 8 : 5);
	for (size_t i = 0; i < rows; i++) {
		double w = want[i];

		if ((i == 2 && size < 2) || (i == 7 && size < 3))
			w = 0;
		if (got[i] != w)
			fail_msg("row %zu: %g, want %g", i, got[i], w);
	}
	free(got);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Case 72: ranks with nothing to write take part; no deadlock. */
static void test_mpi__empty_ranks(void **state)
{
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f);
	uint64_t dims[2] = { rank == size - 1 ? 2 : 0, 3 }, idx[2] = { 1, 3 };
	double v[6] = { 1, 1, 1, 2, 2, 2 }, *got;

	(void)state;
	ok(h5fs_group_write_contiguous(r, "c", "<f8", 2, dims, v, 0));
	ok(h5fs_group_write_scattered(r, "s", "<f8", 2, dims, idx, v, 0));
	/* nobody writes anything: a (0, 3) dataset */
	dims[0] = 0;
	ok(h5fs_group_write_contiguous(r, "none", "<f8", 2, dims, v, 0));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
	assert_int_equal(read_doubles(p, "c", &got), 6);
	assert_true(got[0] == 1 && got[5] == 2);
	free(got);
	assert_int_equal(read_doubles(p, "s", &got), 12);
	assert_true(got[3] == 1 && got[9] == 2 && got[0] == 0 && got[6] == 0);
	free(got);
	assert_int_equal(read_doubles(p, "none", &got), 0);
	free(got);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Duplicate indices on one rank fail on every rank, without deadlock. */
static void test_mpi__error_on_one_rank_reaches_all(void **state)
{
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f);
	uint64_t n = 2, good[2] = { 2 * (uint64_t)rank, 2 * (uint64_t)rank + 1 }, dup[2] = { 9, 9 };
	double v[2] = { 1, 2 };

	(void)state;
	assert_int_equal(h5fs_group_write_scattered(r, "bad", "<f8", 1, &n, rank == size - 1 ? dup : good, v, 0), H5FS_ETYPE);
	assert_int_equal(h5fs_group_contains(r, "bad"), 0);
	/* and the handle still works afterwards */
	ok(h5fs_group_write_scattered(r, "good", "<f8", 1, &n, good, v, 0));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Ranks that disagree on the trailing shape or dtype fail together. */
static void test_mpi__ranks_disagree(void **state)
{
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f);
	uint64_t dims[2] = { 1, rank == size - 1 ? 4 : 3 }, one = 1;
	double v[4] = { 0 };
	int want = size > 1 ? H5FS_EINVALID : 0;

	(void)state;
	assert_int_equal(h5fs_group_write_contiguous(r, "shape", "<f8", 2, dims, v, 0), want);
	assert_int_equal(h5fs_group_write_contiguous(r, "dtype", rank == size - 1 ? "<f4" : "<f8", 1, &one, v, 0), want);
	/* the handle still works */
	ok(h5fs_group_write_contiguous(r, "fine", "<f8", 1, &one, v, 0));
	assert_int_equal(h5fs_file_open_count(f), 0);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Cases 66, 67, 68: root-only writes. */
static void test_mpi__root_only_writes(void **state)
{
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f), *d;
	uint64_t dims = 1, n = 4;
	double v = rank;
	int64_t got, a[4] = { 0, 1, 2, 3 };
	int rc;

	(void)state;
	ok(h5fs_attr_set_int64(r, "value", rank));
	ok(h5fs_attr_get_int64(&got, r, "value"));
	assert_int_equal(got, 0);
	ok(h5fs_group_write_contiguous(r, "d", "<f8", 1, &dims, &v, 0));
	ok(h5fs_ref_child(&d, r, "d"));
	ok(h5fs_attr_set_string(d, "unit", "m"));
	h5fs_ref_free(d);
	ok(h5fs_group_add_dataset(r, "ad", "<i8", 1, &n, a));
	rc = h5fs_group_add_dataset(r, "ad", "<i8", 1, &n, a);
	assert_int_equal(rc, H5FS_EEXISTS);
	assert_non_null(strstr(h5fs_error_last()->message, "name already exists"));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		char *cmd;

		assert_true(asprintf(&cmd, "/usr/bin/python3 -c \"import h5py; f = h5py.File('%s', 'r'); "
				     "assert f.attrs['value'] == 0; assert f['d'].attrs['unit'] == 'm'; "
				     "assert f['ad'][()].tolist() == [0, 1, 2, 3]\"", p) > 0);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Attribute writes inside an open collective context. */
static void test_mpi__attrs_inside_collective_open(void **state)
{
	char p[4200];
	h5fs_file *f = handle(fresh(p, sizeof(p)), MPI_COMM_WORLD);
	h5fs_ref *r = root(f);
	int64_t got;

	(void)state;
	ok(h5fs_group_require_self(r));
	ok(h5fs_group_require_group(NULL, r, "g"));
	ok(h5fs_attr_set_int64(r, "same", 5));
	ok(h5fs_attr_get_int64(&got, r, "same"));
	assert_int_equal(got, 5);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Case 69 and "one rank alone": comm_self. */
static void test_mpi__comm_self(void **state)
{
	char p[4200];
	h5fs_file *f;
	h5fs_ref *r;
	uint64_t dims = 1;
	double v = 42, *got;
	int cmp;

	(void)state;
	fresh(p, sizeof(p));
	/* each rank works on a file of its own */
	snprintf(p + strlen(p) - 3, 20, "-%d.h5", rank);
	f = handle(p, MPI_COMM_WORLD);
	ok(h5fs_file_comm_self_begin(f));
	MPI_Comm_compare(h5fs_file_comm(f), MPI_COMM_SELF, &cmp);
	assert_int_equal(cmp, MPI_IDENT);
	r = root(f);
	ok(h5fs_group_write_contiguous(r, "alone", "<f8", 1, &dims, &v, 0));
	ok(h5fs_file_comm_self_end(f));
	MPI_Comm_compare(h5fs_file_comm(f), MPI_COMM_WORLD, &cmp);
	assert_int_equal(cmp, MPI_IDENT);
	h5fs_ref_free(r);
	h5fs_file_free(f);
	assert_int_equal(read_doubles(p, "alone", &got), 1);
	assert_true(got[0] == 42);
	free(got);
	MPI_Barrier(MPI_COMM_WORLD);
}

/* Case 71: an explicit communicator of size 1 still writes through MPI-IO. */
static void test_mpi__explicit_self_communicator(void **state)
{
	char p[4200];
	h5fs_file *f;
	h5fs_ref *r;
	uint64_t dims = 3;
	double v[3] = { 100, 101, 102 }, *got;

	(void)state;
	fresh(p, sizeof(p));
	snprintf(p + strlen(p) - 3, 20, "-self%d.h5", rank);
	f = handle(p, MPI_COMM_SELF);
	r = root(f);
	ok(h5fs_group_write_contiguous(r, "d", "<f8", 1, &dims, v, 0));
	h5fs_ref_free(r);
	h5fs_file_free(f);
	assert_int_equal(read_doubles(p, "d", &got), 3);
	assert_true(got[0] == 100 && got[2] == 102);
	free(got);
	MPI_Barrier(MPI_COMM_WORLD);
}

static int group_setup(void **state)
{
	(void)state;
	if (rank == 0) {
		const char *tmp = getenv("TMPDIR");

		snprintf(scratch, sizeof(scratch), "%s/h5fs-mpi-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(scratch))
			return -1;
	}
	MPI_Bcast(scratch, sizeof(scratch), MPI_CHAR, 0, MPI_COMM_WORLD);
	return h5fs_init();
}

static int group_teardown(void **state)
{
	char cmd[4200];

	(void)state;
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0 && !getenv("H5FS_KEEP_SCRATCH")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mpi__contiguous_one_row_each),
		cmocka_unit_test(test_mpi__contiguous_blocks_in_rank_order),
		cmocka_unit_test(test_mpi__scattered),
		cmocka_unit_test(test_mpi__empty_ranks),
		cmocka_unit_test(test_mpi__error_on_one_rank_reaches_all),
		cmocka_unit_test(test_mpi__ranks_disagree),
		cmocka_unit_test(test_mpi__root_only_writes),
		cmocka_unit_test(test_mpi__attrs_inside_collective_open),
		cmocka_unit_test(test_mpi__comm_self),
		cmocka_unit_test(test_mpi__explicit_self_communicator),
	};
	int failed, any;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (rank != 0 && argc > 1) {
		char log[4096];

		snprintf(log, sizeof(log), "%s.rank%d", argv[1], rank);
		if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
			return 1;
	}
	failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
	MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	MPI_Finalize();
	return any ? 1 : 0;
}
