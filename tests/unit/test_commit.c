/*
 * Commit: each kind against datasets written by h5py, checked with h5py
 * afterwards; refused commits leave the file byte-for-byte as it was
 * (h5dump before and after), and no HDF5 id leaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

#include "helpers.h"
#include "h5fs/sys/stage.h"

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static h5fs_stage *stage_for(hid_t fid, const char *name)
{
	h5fs_stage_options o = H5FS_STAGE_OPTIONS_INIT;
	h5fs_stage *st;

	o.staging_dir = th_dir();
	th_ok(h5fs_stage_new(&st, name ? th_h5_image_size(fid, name) : 0, &o));
	return st;
}

static void test_commit__in_place_unaligned(void **state)
{
	const char *f = th_path("inplace.h5"), *old = th_path("inplace.old"), *exp = th_path("inplace.exp");
	h5fs_commit_info info;
	unsigned char *img;
	h5fs_stage *st;
	size_t len;
	hid_t fid;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/inplace.h5', 'w') as f:\n"
		"    a = np.arange(40, dtype='>i4').reshape(10, 4)\n"
		"    f['a'] = a\n"
		"    f.create_dataset('c', data=np.arange(1000, dtype='<f8').reshape(100, 10), chunks=(7, 3), compression='gzip')\n"
		"    f['a'].attrs['unit'] = 'm'\n"
		"    open(sys.argv[1] + '/inplace.old', 'wb').write(a.tobytes())\n"), 0);
	img = th_read_file(old, &len);
	assert_int_equal(len, 160);
	fid = th_h5_open_rw(f);
	st = stage_for(fid, "/a");
	/* unaligned, overlapping, and two ranges close enough to merge */
	th_ok(h5fs_stage_write(st, "XYZ", 3, 5));
	th_ok(h5fs_stage_write(st, "0123456", 7, 77));
	th_ok(h5fs_stage_write(st, "ab", 2, 78));
	th_ok(h5fs_stage_write(st, "Q", 1, 159));
	memcpy(img + 5, "XYZ", 3);
	memcpy(img + 77, "0123456", 7);
	memcpy(img + 78, "ab", 2);
	img[159] = 'Q';
	th_ok(h5fs_commit(&info, fid, "/a", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_INPLACE);
	assert_int_equal(info.replaced, 0);
	assert_int_equal(info.new_size, 160);
	assert_string_equal(info.dtype, ">i4");
	h5fs_commit_info_release(&info);
	/* the stage is clean now: a second commit does nothing */
	th_ok(h5fs_commit(&info, fid, "/a", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_NONE);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);

	/* a chunked, compressed dataset across chunk boundaries */
	st = stage_for(fid, "/c");
	{
		double v[25];

		for (int i = 0; i < 25; i++)
			v[i] = -1.0 - i;
		th_ok(h5fs_stage_write(st, v, sizeof(v), 8 * 33 + 3));
	}
	th_ok(h5fs_commit(NULL, fid, "/c", st, NULL));
	h5fs_stage_free(st);
	H5Fclose(fid);
	th_assert_no_open_ids();
	write_file(exp, img, len);
	free(img);
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/inplace.h5', 'r') as f:\n"
		"    a = f['a']\n"
		"    assert a.dtype == np.dtype('>i4') and a.shape == (10, 4)\n"
		"    assert a[()].tobytes() == open(sys.argv[1] + '/inplace.exp', 'rb').read()\n"
		"    assert a.attrs['unit'] == 'm'\n"
		"    c = np.arange(1000, dtype='<f8')\n"
		"    b = bytearray(c.tobytes())\n"
		"    b[8 * 33 + 3:8 * 33 + 3 + 200] = (-1.0 - np.arange(25, dtype='<f8')).tobytes()\n"
		"    got = f['c'][()]\n"
		"    assert got.shape == (100, 10) and f['c'].chunks == (7, 3) and f['c'].compression == 'gzip'\n"
		"    assert got.tobytes() == bytes(b), 'chunked in-place differs'\n"), 0);
}

static void test_commit__resize_in_place(void **state)
{
	const char *f = th_path("resize.h5");
	h5fs_commit_info info;
	h5fs_stage *st;
	double row[3] = { 7, 8, 9 };
	hid_t fid;
	H5O_info_t before, after;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/resize.h5', 'w') as f:\n"
		"    d = f.create_dataset('r', data=np.arange(12, dtype='<f8').reshape(4, 3), maxshape=(None, 3), chunks=(2, 3))\n"
		"    d.attrs['k'] = 1\n"
		"    f.create_dataset('s', data=np.arange(10, dtype='<i8'), maxshape=(12,), chunks=(4,))\n"), 0);
	fid = th_h5_open_rw(f);
	H5Oget_info_by_name2(fid, "/r", &before, H5O_INFO_BASIC, H5P_DEFAULT);
	/* append: write past the end (row 5), leaving row 4 zero */
	st = stage_for(fid, "/r");
	th_ok(h5fs_stage_write(st, row, sizeof(row), 5 * 24));
	th_ok(h5fs_stage_write(st, row, 8, 8));	/* and change one element in place */
	th_ok(h5fs_commit(&info, fid, "/r", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_RESIZE);
	assert_int_equal(info.replaced, 0);
	assert_int_equal(info.ndim, 2);
	assert_int_equal(info.dims[0], 6);
	h5fs_commit_info_release(&info);
	H5Oget_info_by_name2(fid, "/r", &after, H5O_INFO_BASIC, H5P_DEFAULT);
	assert_int_equal(before.addr, after.addr);	/* the same object */
	/* shrink by truncation */
	th_ok(h5fs_stage_truncate(st, 2 * 24));
	th_ok(h5fs_commit(&info, fid, "/r", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_RESIZE);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	/* past maxshape: a replace, maxshape kept as far as it fits */
	st = stage_for(fid, "/s");
	th_ok(h5fs_stage_truncate(st, 11 * 8));
	th_ok(h5fs_commit(&info, fid, "/s", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_RESIZE);
	h5fs_commit_info_release(&info);
	th_ok(h5fs_stage_truncate(st, 13 * 8));
	th_ok(h5fs_commit(&info, fid, "/s", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_REPLACE);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	H5Fclose(fid);
	th_assert_no_open_ids();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/resize.h5', 'r') as f:\n"
		"    r = f['r']\n"
		"    assert r.shape == (2, 3) and r.maxshape == (None, 3), r.shape\n"
		"    assert (r[()] == np.array([[0, 7, 2], [3, 4, 5]])).all(), r[()]\n"
		"    assert r.attrs['k'] == 1\n"
		"    s = f['s']\n"
		"    assert s.shape == (13,) and s.chunks == (4,), (s.shape, s.chunks)\n"
		"    assert (s[()] == np.r_[np.arange(10), 0, 0, 0]).all(), s[()]\n"), 0);
}

static void test_commit__replace_keeps_dtype_dims_attrs(void **state)
{
	const char *f = th_path("replace.h5");
	h5fs_commit_info info;
	h5fs_stage *st;
	short rows[6] = { 100, 101, 102, 103, 104, 105 };
	hid_t fid;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/replace.h5', 'w') as f:\n"
		"    g = f.create_group('g')\n"
		"    d = g.create_dataset('d', data=np.arange(15, dtype='<i2').reshape(5, 3))\n"
		"    d.attrs['f'] = 2.5\n"
		"    d.attrs['s'] = 'text'\n"
		"    d.attrs['a'] = np.arange(4)\n"
		"    d.attrs.create('fixed', np.bytes_('abc'))\n"
		"    d.attrs['strs'] = ['x', 'yy']\n"
		"    g.create_dataset('one', data=np.arange(6, dtype='<u4').reshape(2, 3), chunks=(1, 3), compression='gzip')\n"), 0);
	fid = th_h5_open_rw(f);
	st = stage_for(fid, "/g/d");
	th_ok(h5fs_stage_write(st, rows, sizeof(rows), 30));	/* two more rows */
	th_ok(h5fs_commit(&info, fid, "/g/d", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_REPLACE);
	assert_int_equal(info.replaced, 1);
	assert_int_equal(info.dims[0], 7);
	assert_int_equal(info.dims[1], 3);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	/* a size of whole elements but not whole rows: 1-D, filters kept */
	st = stage_for(fid, "/g/one");
	th_ok(h5fs_stage_truncate(st, 4 * 4));
	th_ok(h5fs_commit(&info, fid, "/g/one", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_REPLACE);
	assert_int_equal(info.ndim, 1);
	assert_int_equal(info.dims[0], 4);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	H5Fclose(fid);
	th_assert_no_open_ids();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/replace.h5', 'r') as f:\n"
		"    d = f['g/d']\n"
		"    assert d.dtype == np.dtype('<i2') and d.shape == (7, 3), (d.dtype, d.shape)\n"
		"    want = np.r_[np.arange(15), np.arange(100, 106)].reshape(7, 3)\n"
		"    assert (d[()] == want).all(), d[()]\n"
		"    assert d.attrs['f'] == 2.5 and d.attrs['s'] == 'text'\n"
		"    assert (d.attrs['a'] == np.arange(4)).all()\n"
		"    assert d.attrs['fixed'] == b'abc' and list(d.attrs['strs']) == ['x', 'yy']\n"
		"    assert sorted(f['g'].keys()) == ['d', 'one'], list(f['g'].keys())\n"
		"    o = f['g/one']\n"
		"    assert o.shape == (4,) and o.compression == 'gzip' and (o[()] == np.arange(4)).all(), o[()]\n"), 0);
}

static void test_commit__refused_changes_nothing(void **state)
{
	const char *f = th_path("refuse.h5");
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_stage_info si;
	h5fs_stage *st;
	char *before, *after;
	hid_t fid;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/refuse.h5', 'w') as f:\n"
		"    f['d'] = np.arange(15, dtype='<i4').reshape(5, 3)\n"
		"    f['d'].attrs['x'] = 1\n"
		"    f['v'] = np.array(['a', 'bc'], dtype=h5py.string_dtype())\n"
		"    f.create_group('g')\n"), 0);
	before = th_dump(f);
	fid = th_h5_open_rw(f);
	/* 3 bytes more: no whole number of elements */
	st = stage_for(fid, "/d");
	th_ok(h5fs_stage_write(st, "abc", 3, 60));
	th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/d", st, NULL));
	assert_non_null(strstr(h5fs_error_last()->message, "not a whole number"));
	{
		h5fs_stage *stale;

		/* a stage made over another size than the dataset has now */
		th_ok(h5fs_stage_new(&stale, 64, NULL));
		th_ok(h5fs_stage_write(stale, "x", 1, 0));
		th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/d", stale, NULL));
		assert_non_null(strstr(h5fs_error_last()->message, "changed size"));
		h5fs_stage_free(stale);
	}
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.changed, 1);	/* still staged */
	h5fs_stage_free(st);
	/* variable-length strings cannot be written */
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, "abc\n", 4, 0));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_commit(NULL, fid, "/v", st, NULL));
	/* a group, a missing dataset, a missing parent group */
	th_fails(H5FS_ETYPE, h5fs_commit(NULL, fid, "/g", st, NULL));
	th_fails(H5FS_ENOTFOUND, h5fs_commit(NULL, fid, "/nope", st, NULL));
	co.create = 1;
	th_fails(H5FS_ENOTFOUND, h5fs_commit(NULL, fid, "/missing/x", st, &co));
	/* a bad NPY header, a shape that does not match, a bad dtype */
	th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/g/x.npy", st, &co));
	co.shape = "[3]";
	th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/g/x", st, &co));
	co.shape = "[2, -1]";
	th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/g/x", st, &co));
	co.shape = NULL;
	co.dtype = "<f8";
	th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/g/x", st, &co));
	co.dtype = "nonsense";
	th_fails(H5FS_EINVALID, h5fs_commit(NULL, fid, "/g/x", st, &co));
	co.dtype = "|O";
	th_fails(H5FS_ENOTSUPPORTED, h5fs_commit(NULL, fid, "/g/x", st, &co));
	h5fs_stage_free(st);
	H5Fclose(fid);
	th_assert_no_open_ids();
	after = th_dump(f);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_commit__npy_create(void **state)
{
	static const char *const names[] = { "f8_2d", "i4_be", "scalar", "bool", "bytes", "compound", "fortran", "u2_3d", "empty2d" };
	const char *f = th_path("npy.h5");
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_info info;
	hid_t fid;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"d = sys.argv[1]\n"
		"h5py.File(d + '/npy.h5', 'w').create_group('g')\n"
		"np.save(d + '/f8_2d.npy', np.arange(12.0).reshape(3, 4))\n"
		"np.save(d + '/i4_be.npy', np.arange(7, dtype='>i4'))\n"
		"np.save(d + '/scalar.npy', np.float32(3.5))\n"
		"np.save(d + '/bool.npy', np.array([True, False, True]))\n"
		"np.save(d + '/bytes.npy', np.array([b'ab', b'cde'], dtype='S3'))\n"
		"np.save(d + '/compound.npy', np.array([(1, 2.0), (3, 4.0)], dtype=[('a', '<i4'), ('b', '<f8')]))\n"
		"np.save(d + '/fortran.npy', np.asfortranarray(np.arange(24, dtype='<i8').reshape(2, 3, 4)))\n"
		"np.save(d + '/u2_3d.npy', np.arange(24, dtype='<u2').reshape(2, 3, 4))\n"
		"np.save(d + '/empty2d.npy', np.zeros((0, 3)))\n"), 0);
	co.create = 1;
	fid = th_h5_open_rw(f);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		char *path, *target;
		void *bytes;
		size_t len;
		h5fs_stage *st = stage_for(fid, NULL);

		bytes = th_read_file(th_path("%s.npy", names[i]), &len);
		th_ok(h5fs_stage_write(st, bytes, len, 0));
		assert_true(asprintf(&path, "/g/%s.npy", names[i]) >= 0);
		assert_true(asprintf(&target, "/g/%s", names[i]) >= 0);
		th_ok(h5fs_commit(&info, fid, path, st, &co));
		assert_int_equal(info.kind, H5FS_COMMIT_CREATE);
		assert_string_equal(info.path, target);
		assert_true(info.data_offset > 0 && info.data_offset % 64 == 0);
		h5fs_commit_info_release(&info);
		/* again with the same stage: the dataset is replaced */
		th_ok(h5fs_commit(&info, fid, path, st, &co));
		assert_int_equal(info.replaced, 1);
		h5fs_commit_info_release(&info);
		h5fs_stage_free(st);
		free(bytes);
		free(path);
		free(target);
	}
	H5Fclose(fid);
	th_assert_no_open_ids();
	assert_int_equal(th_python(
		"d = sys.argv[1]\n"
		"with h5py.File(d + '/npy.h5', 'r') as f:\n"
		"    for n in %s:\n"
		"        want = np.load(d + '/' + n + '.npy')\n"
		"        got = f['g/' + n][()]\n"
		"        assert f['g/' + n].dtype == want.dtype, (n, f['g/' + n].dtype, want.dtype)\n"
		"        assert f['g/' + n].shape == want.shape, (n, f['g/' + n].shape, want.shape)\n"
		"        assert np.array_equal(np.asarray(got), want), (n, got, want)\n"
		"    assert sorted(f['g'].keys()) == sorted(%s), list(f['g'].keys())\n",
		"['f8_2d', 'i4_be', 'scalar', 'bool', 'bytes', 'compound', 'fortran', 'u2_3d', 'empty2d']",
		"['f8_2d', 'i4_be', 'scalar', 'bool', 'bytes', 'compound', 'fortran', 'u2_3d', 'empty2d']"), 0);
}

static void test_commit__create_raw_empty_and_xattr_shape(void **state)
{
	const char *f = th_path("create.h5");
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_info info;
	h5fs_stage *st;
	hid_t fid;
	float v[6] = { 1, 2, 3, 4, 5, 6 };

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python("h5py.File(sys.argv[1] + '/create.h5', 'w').create_group('g')"), 0);
	co.create = 1;
	fid = th_h5_open_rw(f);
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, "hello\n", 6, 0));
	th_ok(h5fs_commit(&info, fid, "/g/raw.txt", st, &co));
	assert_string_equal(info.dtype, "|u1");
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	/* touch: empty */
	st = stage_for(fid, NULL);
	th_ok(h5fs_commit(&info, fid, "/g/empty", st, &co));
	assert_int_equal(info.kind, H5FS_COMMIT_CREATE);
	h5fs_commit_info_release(&info);
	th_ok(h5fs_commit(NULL, fid, "/g/empty.npy", st, &co));
	h5fs_stage_free(st);
	/* dtype and shape given (user.h5.dtype / user.h5.shape) */
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, v, sizeof(v), 0));
	co.dtype = "float32";
	co.shape = "[2, 3]";
	th_ok(h5fs_commit(NULL, fid, "/g/m", st, &co));
	co.shape = NULL;
	th_ok(h5fs_commit(NULL, fid, "/vec", st, &co));
	co.dtype = NULL;
	co.shape = "[24]";
	th_ok(h5fs_commit(NULL, fid, "/bytes24", st, &co));
	h5fs_stage_free(st);
	H5Fclose(fid);
	th_assert_no_open_ids();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/create.h5', 'r') as f:\n"
		"    r = f['g/raw.txt']\n"
		"    assert r.dtype == np.uint8 and r[()].tobytes() == b'hello\\n'\n"
		"    e = f['g/empty']\n"
		"    assert e.dtype == np.uint8 and e.shape == (0,)\n"
		"    assert f['g/empty.npy'].shape == (0,)\n"
		"    m = f['g/m']\n"
		"    assert m.dtype == np.dtype('<f4') and m.shape == (2, 3) and (m[()].ravel() == np.arange(1, 7)).all()\n"
		"    assert f['vec'].shape == (6,)\n"
		"    assert f['bytes24'].dtype == np.uint8 and f['bytes24'].shape == (24,)\n"), 0);
}

static void test_commit__plan_and_mpi_argv(void **state)
{
	const char *f = th_path("plan.h5");
	h5fs_mpiwrite_options mo = H5FS_MPIWRITE_OPTIONS_INIT;
	h5fs_mpiwrite_job job = { 0 };
	const char *extra[] = { "--bind-to", "none" };
	const char *want[] = { "/opt/mpiexec", "-n", "3", "--bind-to", "none", "h5fs-mpiwrite", "--mode=replace",
			       "--offset=0", "--lock-timeout=10", "--", "/x/a b.h5", "/g/d", "/tmp/st", "<f8",
			       "[7,3]", NULL };
	h5fs_commit_info info;
	h5fs_stage *st;
	char *before, *after, **argv;
	uint64_t dims[2] = { 7, 3 };
	hid_t fid;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/plan.h5', 'w') as f:\n"
		"    f['d'] = np.zeros((5, 3))\n"), 0);
	before = th_dump(f);
	fid = th_h5_open_rw(f);
	st = stage_for(fid, "/d");
	th_ok(h5fs_stage_truncate(st, 7 * 24));
	th_ok(h5fs_commit_plan(&info, fid, "/d", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_REPLACE);
	assert_string_equal(info.mpi_mode, "replace");
	assert_int_equal(info.write_bytes, 7 * 24);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	H5Fclose(fid);
	after = th_dump(f);
	assert_string_equal(before, after);
	free(before);
	free(after);

	mo.mpiexec = "/opt/mpiexec";
	mo.np = 3;
	mo.mpi_args = extra;
	mo.mpi_nargs = 2;
	job.hdf5_file = "/x/a b.h5";
	job.dataset = "/g/d";
	job.staging_file = "/tmp/st";
	job.dtype = "<f8";
	job.ndim = 2;
	job.dims = dims;
	job.mode = "replace";
	th_ok(h5fs_mpiwrite_argv(&argv, &mo, &job));
	for (size_t i = 0; want[i] || argv[i]; i++) {
		assert_non_null(argv[i]);
		assert_non_null(want[i]);
		assert_string_equal(argv[i], want[i]);
	}
	h5fs_strarray_free(argv);
	job.mode = "sideways";
	th_fails(H5FS_EINVALID, h5fs_mpiwrite_argv(&argv, &mo, &job));
	job.mode = "new";
	/* a missing mpiexec is H5FS_ENOTFOUND, before anything runs */
	mo.mpiexec = "/nonexistent/mpiexec";
	th_fails(H5FS_ENOTFOUND, h5fs_mpiwrite_run(&mo, &job));
	mo.mpiexec = "mpiexec-that-is-not-there";
	th_fails(H5FS_ENOTFOUND, h5fs_mpiwrite_run(&mo, &job));
	th_assert_no_open_ids();
}

struct ds_reader {
	hid_t fid;
	const char *name;
};

/* The dataset's current bytes, as the daemon's reader would give them. */
static int read_base(void *buf, size_t len, uint64_t off, void *payload)
{
	struct ds_reader *r = payload;
	hid_t d = H5Dopen2(r->fid, r->name, H5P_DEFAULT), t = H5Dget_type(d), s = H5Dget_space(d);
	size_t n = (size_t)H5Sget_simple_extent_npoints(s) * H5Tget_size(t);
	unsigned char *all = malloc(n + 1);

	assert_true(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) >= 0);
	assert_true(off + len <= n);
	memcpy(buf, all + off, len);
	free(all);
	H5Sclose(s);
	H5Tclose(t);
	H5Dclose(d);
	return 0;
}

/* The daemon's hand-off: plan, materialise, close, run the helper. */
static void test_commit__mpi_handoff(void **state)
{
	const char *f = th_path("handoff.h5");
	h5fs_mpiwrite_options mo = H5FS_MPIWRITE_OPTIONS_INIT;
	h5fs_mpiwrite_job job = { 0 };
	struct ds_reader r;
	h5fs_commit_info info;
	h5fs_stage *st;
	char *helper;
	int32_t tail[4] = { -1, -2, -3, -4 };
	hid_t fid;

	(void)state;
	th_require_h5py();
	helper = realpath("build/bin/h5fs-mpiwrite", NULL);
	if (!helper || system("command -v mpiexec >/dev/null 2>&1") != 0) {
		free(helper);
		print_message("mpiexec or build/bin/h5fs-mpiwrite missing: skipped\n");
		skip();
	}
	setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
	setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
	setenv("OMPI_MCA_btl", "self,vader", 0);
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/handoff.h5', 'w') as f:\n"
		"    d = f.create_dataset('d', data=np.arange(20, dtype='<i4').reshape(10, 2))\n"
		"    d.attrs['a'] = 'kept'\n"), 0);
	fid = th_h5_open_rw(f);
	r.fid = fid;
	r.name = "/d";
	st = stage_for(fid, "/d");
	/* append two rows to a contiguous dataset: a replace */
	th_ok(h5fs_stage_write(st, tail, sizeof(tail), 80));
	th_ok(h5fs_commit_plan(&info, fid, "/d", st, NULL));
	assert_int_equal(info.kind, H5FS_COMMIT_REPLACE);
	th_ok(h5fs_stage_materialize(st, read_base, &r));
	H5Fclose(fid);
	mo.np = 2;
	mo.helper = helper;
	mo.mpi_args = (const char *[]){ "--oversubscribe" };
	mo.mpi_nargs = 1;
	job.hdf5_file = f;
	job.dataset = info.path;
	job.staging_file = h5fs_stage_path(st);
	job.dtype = info.dtype;
	job.ndim = info.ndim;
	job.dims = info.dims;
	/* a wrong job first: the helper's code and message come back */
	job.mode = "inplace";
	th_fails(H5FS_ETYPE, h5fs_mpiwrite_run(&mo, &job));
	assert_non_null(strstr(h5fs_error_last()->message, "does not have the shape"));
	job.mode = info.mpi_mode;
	th_ok(h5fs_mpiwrite_run(&mo, &job));
	h5fs_stage_mark_committed(st);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	free(helper);
	th_assert_no_open_ids();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/handoff.h5', 'r') as f:\n"
		"    d = f['d']\n"
		"    assert d.shape == (12, 2) and d.dtype == np.dtype('<i4'), d.shape\n"
		"    assert (d[()].ravel() == np.r_[np.arange(20), -1, -2, -3, -4]).all(), d[()]\n"
		"    assert d.attrs['a'] == 'kept' and list(f.keys()) == ['d'], list(f.keys())\n"), 0);
}

/* An NPY file of N float64 values i * 0.5 in memory; *hlen its header length. */
static unsigned char *npy_image(const char *descr, int fortran, int ndim, const uint64_t *shape, size_t n, size_t *hlen, size_t *len)
{
	char *hdr;
	unsigned char *img;

	th_ok(h5fs_npy_header_format(&hdr, hlen, descr, fortran, ndim, shape));
	*len = *hlen + n * 8;
	img = malloc(*len);
	assert_non_null(img);
	memcpy(img, hdr, *hlen);
	for (size_t i = 0; i < n; i++) {
		double v = (double)i * 0.5;

		memcpy(img + *hlen + i * 8, &v, 8);
	}
	free(hdr);
	return img;
}

static void test_commit__early_create(void **state)
{
	const char *f = th_path("early.h5");
	h5fs_commit_options co = H5FS_COMMIT_OPTIONS_INIT;
	h5fs_commit_info info;
	uint64_t shape[2] = { 4096, 0 }, foff, fortran_shape[2] = { 64, 64 };
	unsigned char *img;
	size_t hlen, len;
	char *tmp;
	h5fs_stage *st;
	hid_t fid;

	(void)state;
	th_require_h5py();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/early.h5', 'w') as f:\n"
		"    g = f.create_group('g')\n"
		"    g['old'] = np.zeros(7)\n"
		"    g['old'].attrs['unit'] = 'm'\n"
		"    g.create_dataset('chunked', data=np.zeros(100), chunks=(10,))\n"), 0);
	fid = th_h5_open_rw(f);
	img = npy_image("<f8", 0, 1, shape, 4096, &hlen, &len);
	co.create = 1;

	/* 1. the header in two writes: not complete, then complete; a hole in the data */
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, img, 5, 0));
	th_fails(H5FS_EBUFS, h5fs_commit_early(&info, &tmp, &foff, fid, "/g/x.npy", st, &co, 1));
	th_ok(h5fs_stage_write(st, img + 5, hlen + 100 - 5, 5));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_commit_early(&info, &tmp, &foff, fid, "/g/x.npy", st, &co, 1 << 20));
	th_ok(h5fs_commit_early(&info, &tmp, &foff, fid, "/g/x.npy", st, &co, 1));
	assert_string_equal(info.path, "/g/x");
	assert_int_equal(info.data_offset, hlen);
	assert_int_equal(info.new_size, 4096 * 8);
	assert_non_null(strstr(tmp, "/g/.h5fs-tmp.x."));
	th_ok(h5fs_stage_sink_set(st, f, foff, info.data_offset, info.data_offset + info.new_size));
	h5fs_commit_info_release(&info);
	th_ok(h5fs_stage_write(st, img + hlen + 1000, len - hlen - 1000, hlen + 1000));	/* [100, 1000) never written */
	co.prepared = tmp;
	th_ok(h5fs_commit(&info, fid, "/g/x.npy", st, &co));
	assert_int_equal(info.kind, H5FS_COMMIT_CREATE);
	assert_int_equal(info.prepared_used, 1);
	assert_int_equal(h5fs_stage_sink_get(st, NULL, NULL, NULL), 0);	/* frozen */
	h5fs_commit_info_release(&info);
	free(tmp);
	h5fs_stage_free(st);

	/* 2. the header rewritten after the early start: the usual create, through the sink */
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, img, len / 2, 0));
	th_ok(h5fs_commit_early(&info, &tmp, &foff, fid, "/g/y.npy", st, &co, 1));
	th_ok(h5fs_stage_sink_set(st, f, foff, info.data_offset, info.data_offset + info.new_size));
	h5fs_commit_info_release(&info);
	th_ok(h5fs_stage_write(st, img + len / 2, len - len / 2, len / 2));
	{
		size_t ohlen, olen;
		unsigned char *other = npy_image("<i8", 0, 1, shape, 0, &ohlen, &olen);

		assert_int_equal(ohlen, hlen);
		th_ok(h5fs_stage_write(st, other, ohlen, 0));
		free(other);
	}
	co.prepared = tmp;
	th_ok(h5fs_commit(&info, fid, "/g/y.npy", st, &co));
	assert_int_equal(info.prepared_used, 0);
	h5fs_commit_info_release(&info);
	assert_true(H5Lexists(fid, tmp, H5P_DEFAULT) > 0);	/* the caller deletes it */
	h5fs_stage_free(st);
	assert_true(H5Ldelete(fid, tmp, H5P_DEFAULT) >= 0);
	free(tmp);

	/* 3. the prepared dataset deleted behind the stage's back: refused */
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, img, hlen, 0));
	th_ok(h5fs_commit_early(&info, &tmp, &foff, fid, "/g/old.npy", st, &co, 1));
	assert_int_equal(info.replaced, 1);
	th_ok(h5fs_stage_sink_set(st, f, foff, info.data_offset, info.data_offset + info.new_size));
	h5fs_commit_info_release(&info);
	th_ok(h5fs_stage_write(st, img + hlen, len - hlen, hlen));
	assert_true(H5Ldelete(fid, tmp, H5P_DEFAULT) >= 0);
	co.prepared = tmp;
	th_fails(H5FS_ERROR, h5fs_commit(&info, fid, "/g/old.npy", st, &co));
	assert_non_null(strstr(h5fs_error_last()->message, "removed"));
	h5fs_stage_free(st);
	free(tmp);

	/* 4. not for: a chunked dataset to replace, Fortran order, a size not declared */
	co.prepared = NULL;
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, img, len, 0));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_commit_early(&info, &tmp, &foff, fid, "/g/chunked.npy", st, &co, 1));
	assert_null(tmp);
	h5fs_stage_free(st);
	free(img);
	img = npy_image("<f8", 1, 2, fortran_shape, 4096, &hlen, &len);
	st = stage_for(fid, NULL);
	th_ok(h5fs_stage_write(st, img, len, 0));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_commit_early(&info, &tmp, &foff, fid, "/g/f.npy", st, &co, 1));
	co.dtype = "<i2";
	th_fails(H5FS_ENOTSUPPORTED, h5fs_commit_early(&info, &tmp, &foff, fid, "/g/d", st, &co, 1));
	h5fs_stage_free(st);

	/* 5. declared dtype and shape: the data starts at 0 */
	st = stage_for(fid, NULL);
	co.shape = "[10, 20]";
	th_ok(h5fs_commit_early(&info, &tmp, &foff, fid, "/g/d", st, &co, 1));
	assert_int_equal(info.data_offset, 0);
	assert_int_equal(info.new_size, 400);
	th_ok(h5fs_stage_sink_set(st, f, foff, 0, 400));
	h5fs_commit_info_release(&info);
	for (int i = 0; i < 200; i++) {
		short v = (short)(i * 3);

		th_ok(h5fs_stage_write(st, &v, 2, (uint64_t)i * 2));
	}
	co.prepared = tmp;
	th_ok(h5fs_commit(&info, fid, "/g/d", st, &co));
	assert_int_equal(info.prepared_used, 1);
	h5fs_commit_info_release(&info);
	h5fs_stage_free(st);
	free(tmp);
	free(img);
	assert_true(H5Fclose(fid) >= 0);
	th_assert_no_open_ids();
	assert_int_equal(th_python(
		"with h5py.File(sys.argv[1] + '/early.h5', 'r') as f:\n"
		"    g = f['g']\n"
		"    names = sorted(g)\n"
		"    assert names == ['chunked', 'd', 'old', 'x', 'y'], names\n"
		"    want = np.arange(4096) * 0.5\n"
		"    x = g['x'][()]\n"
		"    assert x.dtype == '<f8' and x.shape == (4096,)\n"
		"    assert (x[:12] == want[:12]).all() and (x[125:] == want[125:]).all(), x[:130]\n"
		"    assert (x[13:125] == 0).all()\n"
		"    y = g['y'][()]\n"
		"    assert y.dtype == '<i8' and (y == want.view('<i8')).all()\n"
		"    assert g['old'].shape == (7,) and g['old'].attrs['unit'] == 'm'\n"
		"    assert (g['d'][()] == np.arange(200, dtype='<i2').reshape(10, 20) * 3).all(), g['d'][()]\n"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit__in_place_unaligned),
		cmocka_unit_test(test_commit__resize_in_place),
		cmocka_unit_test(test_commit__replace_keeps_dtype_dims_attrs),
		cmocka_unit_test(test_commit__refused_changes_nothing),
		cmocka_unit_test(test_commit__npy_create),
		cmocka_unit_test(test_commit__create_raw_empty_and_xattr_shape),
		cmocka_unit_test(test_commit__plan_and_mpi_argv),
		cmocka_unit_test(test_commit__mpi_handoff),
		cmocka_unit_test(test_commit__early_create),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
