/*
 * Interop with h5py: what the library writes, h5py reads with the types
 * bamboost would have written; what bamboost wrote, the library reads
 * exactly as h5py does.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* build/tools/h5fs-mksample beside this test's build folder */
static char *mksample_path(void)
{
	char exe[PATH_MAX], *slash, *out;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	*slash = '\0';
	assert_true(asprintf(&out, "%s/../tools/h5fs-mksample", exe) > 0);
	return out;
}

static void test_interop__sample_reads_as_bamboost_types(void **state)
{
	char *tool = mksample_path(), *cmd;

	(void)state;
	th_require_h5py();
	assert_true(asprintf(&cmd, "'%s' '%s'", tool, th_path("sample.h5")) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(tool);
	assert_int_equal(th_python(
		"f = h5py.File(sys.argv[1] + '/sample.h5', 'r')\n"
		"def vstr(v, t):\n"
		"    assert isinstance(v, str), (v, type(v))\n"
		"    assert h5py.check_string_dtype(t.dtype).encoding == 'utf-8'\n"
		"a = f.attrs\n"
		"for k in ('status', 'created_at', 'description', 'tags'):\n"
		"    vstr(a[k], a.get_id(k))\n"
		"assert a['status'] == 'finished'\n"
		"assert json.loads(a['tags']) == {'__type__': 'set', '__value__': ['elastic']}\n"
		"assert a['.series_paths'].tolist() == ['data'] and a['.series_paths'].dtype == object\n"
		"p = f['.parameters'].attrs\n"
		"assert type(p['E']) is np.float64 and p['E'] == 2.1e11\n"
		"assert type(p['nu']) is np.float64 and p['nu'] == 0.3\n"
		"assert type(p['active']) is np.bool_ and p['active']\n"
		"ref = h5py.File(sys.argv[1] + '/bool.h5', 'w'); ref.attrs['b'] = np.True_\n"
		"assert p.get_id('active').get_type() == ref.attrs.get_id('b').get_type()\n"
		"assert p['load_steps'].dtype == np.float64 and p['load_steps'].tolist() == [0, 0.5, 1]\n"
		"assert type(p['solver.max_iter']) is np.int64 and p['solver.max_iter'] == 50\n"
		"assert p['solver.tol'] == 1e-8\n"
		"assert f['.parameters/weights'][()].tolist() == [0.5, 0.5]\n"
		"c = f['.mesh/default/coordinates']\n"
		"assert c.dtype == np.float64 and c.shape == (4, 2) and c.chunks is None\n"
		"t = f['.mesh/default/topology']\n"
		"assert t.dtype == np.int64 and t[()].tolist() == [[0, 1, 2], [0, 2, 3]]\n"
		"assert t.attrs['cell_type'] == 'Triangle'\n"
		"assert type(f['data'].attrs['.series']) is np.bool_\n"
		"m = f['data/.map']\n"
		"assert m.maxshape == (None,) and m.chunks == (1,) and np.isnan(m.fillvalue)\n"
		"assert m[()].tolist() == [0.0, 0.5, 1.0]\n"
		"r = f['data/globals/reaction']\n"
		"assert r.maxshape == (None, 2) and r.shape == (3, 2) and r.chunks == (1, 2)\n"
		"for i in range(3):\n"
		"    d = f['data/fields/displacement/%%d' %% i]\n"
		"    assert d.shape == (4, 2) and d.attrs['mesh'] == 'default' and d.attrs['type'] == 'Node'\n"
		"    s = f['data/fields/stress/%%d' %% i]\n"
		"    assert s.shape == (2, 2, 2) and s.attrs['type'] == 'Cell'\n"
		"    assert np.allclose(s[()].ravel(), 2.1e11 * d[()].ravel())\n"
		"assert sorted(f['data/fields']) == ['displacement', 'stress']\n"), 0);
	th_assert_no_open_ids();
}

/* The library's view of a file, one line per fact, in byte order. */
static void dump(FILE *out, h5fs_file *f, const char *path)
{
	h5fs_ref *ref;
	char **names, **keys;
	size_t n, nk;

	th_ok(h5fs_ref_resolve(&ref, f, path));
	fprintf(out, "%s %s\n", path, h5fs_kind_name(h5fs_ref_kind(ref)));
	th_ok(h5fs_attr_list(&names, &n, ref));
	for (size_t i = 0; i < n; i++) {
		char *text;
		size_t len;

		th_ok(h5fs_attr_get_text(&text, &len, ref, names[i]));
		fprintf(out, "%s @%s=", path, names[i]);
		fwrite(text, 1, len, out);
		fputc('\n', out);
		free(text);
	}
	h5fs_strarray_free(names);
	if (h5fs_ref_kind(ref) == H5FS_KIND_DATASET) {
		uint64_t dims[H5FS_MAX_RANK];
		int ndim;
		char *dtype;
		void *data;
		size_t size;

		th_ok(h5fs_dataset_dtype(&dtype, ref));
		th_ok(h5fs_dataset_shape(ref, &ndim, dims, NULL));
		th_ok(h5fs_dataset_read_all(&data, &size, ref));
		fprintf(out, "%s dtype=%s shape=[", path, dtype);
		for (int i = 0; i < ndim; i++)
			fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
		fprintf(out, "] data=");
		for (size_t i = 0; i < size; i++)
			fprintf(out, "%02x", ((unsigned char *)data)[i]);
		fputc('\n', out);
		free(dtype);
		free(data);
	} else {
		th_ok(h5fs_group_keys(&keys, &nk, ref, H5FS_FILTER_ALL));
		for (size_t i = 0; i < nk; i++) {
			char *child;

			assert_true(asprintf(&child, "%s%s%s", path, strcmp(path, "/") ? "/" : "", keys[i]) > 0);
			dump(out, f, child);
			free(child);
		}
		h5fs_strarray_free(keys);
	}
	h5fs_ref_free(ref);
}

/* The same view written by h5py, with the value texts of DESIGN.md 3. */
static const char py_dump[] =
	"import glob\n"
	"src = sys.argv[2]\n"
	"def text(v):\n"
	"    if isinstance(v, bytes): return v.decode()\n"
	"    if isinstance(v, str): return v\n"
	"    if isinstance(v, np.bool_): return 'true' if v else 'false'\n"
	"    if isinstance(v, np.integer): return str(int(v))\n"
	"    if isinstance(v, np.floating): return repr(float(v))\n"
	"    if isinstance(v, np.ndarray):\n"
	"        return json.dumps([x.decode() if isinstance(x, bytes) else x for x in v.tolist()])\n"
	"    raise TypeError(type(v))\n"
	"out = []\n"
	"def walk(path, obj):\n"
	"    kind = 'group' if isinstance(obj, h5py.Group) else 'dataset'\n"
	"    out.append('%s %s' % (path, kind))\n"
	"    for k in sorted(obj.attrs.keys(), key=lambda s: s.encode()):\n"
	"        out.append('%s @%s=%s' % (path, k, text(obj.attrs[k])))\n"
	"    if kind == 'dataset':\n"
	"        out.append('%s dtype=%s shape=%s data=%s' % (path, obj.dtype.str, list(obj.shape), obj[()].tobytes().hex()))\n"
	"    else:\n"
	"        for k in sorted(obj.keys(), key=lambda s: s.encode()):\n"
	"            walk((path.rstrip('/') + '/' + k), obj[k])\n"
	"walk('/', h5py.File(src, 'r'))\n"
	"open(sys.argv[1] + '/h5py.txt', 'w').write('\\n'.join(out) + '\\n')\n";

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int c;

	assert_non_null(fp);
	while ((c = fgetc(fp)) != EOF)
		fputc(c, mem);
	fclose(fp);
	fclose(mem);
	return buf;
}

static void compare_with_h5py(const char *file)
{
	h5fs_file *f;
	char *ours = NULL, *theirs, *script;
	size_t len = 0;
	FILE *mem;

	th_ok(h5fs_file_new(&f, file, NULL));
	mem = open_memstream(&ours, &len);
	dump(mem, f, "/");
	fclose(mem);
	h5fs_file_free(f);
	/* th_python passes the scratch folder only: append the file */
	assert_true(asprintf(&script, "sys.argv.append(%s%s%s)\n%s", "'", file, "'", py_dump) > 0);
	assert_int_equal(th_python("%s", script), 0);
	free(script);
	theirs = slurp(th_path("h5py.txt"));
	if (strcmp(ours, theirs)) {
		FILE *o = fopen(th_path("ours.txt"), "w");

		fputs(ours, o);
		fclose(o);
		fail_msg("the library and h5py disagree; diff %s/ours.txt %s/h5py.txt (H5FS_KEEP_SCRATCH=1 keeps them)", th_dir(), th_dir());
	}
	free(ours);
	free(theirs);
	th_assert_no_open_ids();
}

static void test_interop__library_sees_sample_as_h5py(void **state)
{
	char *tool = mksample_path(), *cmd;

	(void)state;
	th_require_h5py();
	assert_true(asprintf(&cmd, "'%s' '%s' 5", tool, th_path("sample5.h5")) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(tool);
	compare_with_h5py(th_path("sample5.h5"));
}

static void test_interop__library_sees_bamboost_corpus_as_h5py(void **state)
{
	const char *corpus = getenv("H5FS_CORPUS");
	char *file;

	(void)state;
	th_require_h5py();
	if (!corpus || !*corpus)
		corpus = "../shared/corpus";
	assert_true(asprintf(&file, "%s/bamboost/a1b2c3d4e5/data.h5", corpus) > 0);
	if (access(file, R_OK) < 0) {
		print_message("corpus file %s not present: skipped\n", file);
		free(file);
		skip();
	}
	compare_with_h5py(file);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interop__sample_reads_as_bamboost_types),
		cmocka_unit_test(test_interop__library_sees_sample_as_h5py),
		cmocka_unit_test(test_interop__library_sees_bamboost_corpus_as_h5py),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
