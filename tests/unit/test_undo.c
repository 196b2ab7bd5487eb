/*
 * Taking commits back (h5fs_commit_undo): a series of commits of one open
 * file, the last refused, puts the dataset back exactly as it was before
 * the first (h5dump before and after); kept, the undo leaves no hidden
 * dataset behind.  Every kind: in place, growing resize, a shrink (made
 * as a replace), replace, create, and the hand-off's expect().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

#include "helpers.h"
#include "h5fs/sys/stage.h"

static h5fs_stage *stage_over(uint64_t size)
{
	h5fs_stage_options o = H5FS_STAGE_OPTIONS_INIT;
	h5fs_stage *st;

	o.staging_dir = th_dir();
	th_ok(h5fs_stage_new(&st, size, &o));
	return st;
}

static void make_fixture(void)
{
	th_require_h5py();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/u.h5', 'w') as f:\n"
		"    f['d'] = np.arange(8, dtype='<f8').reshape(4, 2)\n"
		"    f['d'].attrs['unit'] = 'm'\n"
		"    g = f.create_dataset('grow', data=np.arange(20, dtype='<i4').reshape(10, 2), maxshape=(None, 2), chunks=(4, 2))\n"
		"    g.attrs['n'] = 10\n"), 0);
}

/* No name of h5fs's own is left anywhere in the file. */
static void assert_no_hidden(const char *file)
{
	assert_int_equal(th_python(
		"names = []\n"
		"with h5py.File(sys.argv[1] + '/%s', 'r') as f:\n"
		"    f.visit(names.append)\n"
		"bad = [n for n in names if '.h5fs-' in n]\n"
		"assert not bad, bad\n", file), 0);
}

/* Close everything; the file must dump as @p before did, with no hidden dataset. */
static void finish(hid_t fid, h5fs_commit_undo *u, h5fs_stage *st, char *before)
{
	char *after;

	h5fs_stage_free(st);
	h5fs_commit_undo_free(u);
	H5Fclose(fid);
	th_assert_no_open_ids();
	after = th_dump(th_path("u.h5"));
	assert_string_equal(before, after);
	assert_no_hidden("u.h5");
	free(before);
	free(after);
}

/* The shell's `echo "1 2 3" > d`: truncated by one flush, refused by the next. */
static void test_undo__truncate_then_refused(void **state)
{
	const char *f = th_path("u.h5");
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_info info;
	h5fs_commit_undo *u;
	h5fs_stage *st;
	char *before;
	hid_t fid;

	(void)state;
	make_fixture();
	before = th_dump(f);
	fid = th_h5_open_rw(f);
	th_ok(h5fs_commit_undo_new(&u, th_dir()));
	co.undo = u;
	/* the first flush: just the truncation */
	st = stage_over(th_h5_image_size(fid, "/d"));
	th_ok(h5fs_stage_truncate(st, 0));
	th_ok(h5fs_commit(&info, fid, "/d", st, &co));
	assert_int_equal(info.kind, H5FS_COMMIT_REPLACE);
	h5fs_commit_info_release(&info);
	assert_true(h5fs_commit_undo_pending(u));
	assert_int_equal(th_h5_image_size(fid, "/d"), 0);
	/* the next: 6 bytes of text, no whole number of float64 */
	th_ok(h5fs_stage_write(st, "1 2 3\n", 6, 0));
	th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/d", st, &co));
	th_ok(h5fs_commit_undo_apply(u, fid));
	assert_false(h5fs_commit_undo_pending(u));
	finish(fid, u, st, before);
}

/* In place, a growing resize, a shrink: each taken back; then kept. */
static void test_undo__in_place_and_resize(void **state)
{
	const char *f = th_path("u.h5");
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_info info;
	h5fs_commit_undo *u;
	h5fs_stage *st;
	char *before, *after;
	int32_t more[4] = { 100, 101, 102, 103 };
	hid_t fid;

	(void)state;
	make_fixture();
	before = th_dump(f);
	fid = th_h5_open_rw(f);
	th_ok(h5fs_commit_undo_new(&u, NULL));
	co.undo = u;
	st = stage_over(th_h5_image_size(fid, "/grow"));
	th_ok(h5fs_stage_write(st, "XXXX", 4, 8));
	th_ok(h5fs_commit(&info, fid, "/grow", st, &co));
	assert_int_equal(info.kind, H5FS_COMMIT_INPLACE);
	h5fs_commit_info_release(&info);
	th_ok(h5fs_stage_write(st, more, sizeof(more), 80));
	th_ok(h5fs_commit(&info, fid, "/grow", st, &co));
	assert_int_equal(info.kind, H5FS_COMMIT_RESIZE);
	assert_int_equal(info.dims[0], 12);
	h5fs_commit_info_release(&info);
	/* a shrink with an undo is a replace: the old dataset stays whole */
	th_ok(h5fs_stage_truncate(st, 16));
	th_ok(h5fs_commit(&info, fid, "/grow", st, &co));
	assert_int_equal(info.kind, H5FS_COMMIT_REPLACE);
	h5fs_commit_info_release(&info);
	assert_int_equal(th_h5_image_size(fid, "/grow"), 16);
	th_ok(h5fs_commit_undo_apply(u, fid));
	h5fs_stage_free(st);
	H5Fclose(fid);
	th_assert_no_open_ids();
	after = th_dump(f);
	assert_string_equal(before, after);
	free(after);
	assert_no_hidden("u.h5");

	/* the same commits kept: the last state stays, no hidden dataset */
	fid = th_h5_open_rw(f);
	st = stage_over(th_h5_image_size(fid, "/grow"));
	th_ok(h5fs_stage_write(st, more, sizeof(more), 80));
	th_ok(h5fs_commit(NULL, fid, "/grow", st, &co));
	th_ok(h5fs_stage_truncate(st, 16));
	th_ok(h5fs_commit(NULL, fid, "/grow", st, &co));
	th_ok(h5fs_commit_undo_drop(u, fid));
	assert_false(h5fs_commit_undo_pending(u));
	h5fs_stage_free(st);
	h5fs_commit_undo_free(u);
	H5Fclose(fid);
	th_assert_no_open_ids();
	assert_no_hidden("u.h5");
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/u.h5', 'r') as f:\n"
		"    g = f['grow']\n"
		"    assert g.shape == (2, 2) and g.maxshape == (None, 2) and g.chunks is not None, (g.shape, g.maxshape)\n"
		"    assert g[()].tolist() == [[0, 1], [2, 3]] and g.attrs['n'] == 10\n"), 0);
	free(before);
}

/* A create where nothing was, and a create over a dataset: taken back. */
static void test_undo__create(void **state)
{
	const char *f = th_path("u.h5");
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_undo *u;
	h5fs_stage *st;
	char *before;
	hid_t fid;

	(void)state;
	make_fixture();
	before = th_dump(f);
	fid = th_h5_open_rw(f);
	th_ok(h5fs_commit_undo_new(&u, NULL));
	co.undo = u;
	co.create = 1;
	st = stage_over(0);
	th_ok(h5fs_stage_write(st, "abcdef", 6, 0));
	th_ok(h5fs_commit(NULL, fid, "/new", st, &co));
	assert_int_equal(th_h5_image_size(fid, "/new"), 6);
	th_ok(h5fs_commit(NULL, fid, "/d", st, &co));
	assert_int_equal(th_h5_image_size(fid, "/d"), 6);
	th_ok(h5fs_commit_undo_apply(u, fid));
	finish(fid, u, st, before);
}

/* Before a hand-off: expect() keeps the bytes of an in-place write, the old dataset of a replace. */
static void test_undo__expect(void **state)
{
	const char *f = th_path("u.h5");
	h5fs_commit_info plan;
	h5fs_commit_undo *u;
	h5fs_stage *st;
	char *before;
	hid_t fid;

	(void)state;
	make_fixture();
	before = th_dump(f);
	fid = th_h5_open_rw(f);
	th_ok(h5fs_commit_undo_new(&u, NULL));
	st = stage_over(th_h5_image_size(fid, "/d"));
	th_ok(h5fs_stage_write(st, "x", 1, 0));
	th_ok(h5fs_commit_plan(&plan, fid, "/d", st, NULL));
	assert_int_equal(plan.kind, H5FS_COMMIT_INPLACE);
	assert_string_equal(plan.mpi_mode, "inplace");
	th_ok(h5fs_commit_undo_expect(u, fid, &plan, st));
	h5fs_commit_info_release(&plan);
	/* what the helper would do: write in place (here, in-process) */
	th_ok(h5fs_commit(NULL, fid, "/d", st, NULL));
	th_ok(h5fs_stage_truncate(st, 32));
	th_ok(h5fs_commit_plan(&plan, fid, "/d", st, NULL));
	assert_int_equal(plan.kind, H5FS_COMMIT_REPLACE);
	th_ok(h5fs_commit_undo_expect(u, fid, &plan, st));
	h5fs_commit_info_release(&plan);
	/* what the helper would do: replace the dataset (here, in-process) */
	th_ok(h5fs_commit(NULL, fid, "/d", st, NULL));
	assert_int_equal(th_h5_image_size(fid, "/d"), 32);
	th_ok(h5fs_commit_undo_apply(u, fid));
	finish(fid, u, st, before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_undo__truncate_then_refused),
		cmocka_unit_test(test_undo__in_place_and_resize),
		cmocka_unit_test(test_undo__create),
		cmocka_unit_test(test_undo__expect),
	};

	h5fs_init();
	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
