/*
 * The engine's indexer (src/engine/): a file walked in a forked child and
 * read back as the daemon's index; the npy view; files it must refuse;
 * crashes and hangs of the child contained to the object they hit; and
 * the record stream read as untrusted input (every torn prefix and
 * random corruptions of a real stream: -1 or a sane index, never a
 * crash; ASan and LeakSanitizer watch in make check).
 *
 * The corruption test runs a fixed seed (printed at the start and on
 * failure); H5FS_SEED=N replays another, H5FS_SEED=random a new one.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hdf5.h>

#include "helpers.h"
#include "engine/indexer.h"

static double d34[3][4] = { { 0, 1, 2, 3 }, { 4, 5, 6, 7 }, { 8, 9, 10, 11 } };

/* /g {a=7, s="hi"} with d (contiguous f8 [3,4]), c (chunked gzip i4 [100]),
 * hard (= d); /soft -> /g/d; /z (empty); /t (vlen strings) */
static const char *make_sample(void)
{
	const char *path = th_path("sample.h5");
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	hsize_t dims[2] = { 3, 4 }, n100 = 100, chunk = 10, three = 3;
	hid_t s2 = H5Screate_simple(2, dims, NULL), s1 = H5Screate_simple(1, &n100, NULL);
	hid_t sc = H5Screate(H5S_SCALAR), s3 = H5Screate_simple(1, &three, NULL);
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), st = H5Tcopy(H5T_C_S1), vt = H5Tcopy(H5T_C_S1);
	const char *strs[3] = { "one", "two\nlines", "three" };
	int ints[100], seven = 7;
	hid_t d, a;

	assert_true(f >= 0 && g >= 0);
	for (int i = 0; i < 100; i++)
		ints[i] = i * i;
	d = H5Dcreate2(g, "d", H5T_IEEE_F64LE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d34) >= 0);
	H5Dclose(d);
	H5Pset_chunk(dcpl, 1, &chunk);
	H5Pset_deflate(dcpl, 4);
	d = H5Dcreate2(g, "c", H5T_STD_I32LE, s1, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	assert_true(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ints) >= 0);
	H5Dclose(d);
	a = H5Acreate2(g, "a", H5T_STD_I32LE, sc, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, H5T_NATIVE_INT, &seven);
	H5Aclose(a);
	H5Tset_size(st, 2);
	a = H5Acreate2(g, "s", st, sc, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, st, "hi");
	H5Aclose(a);
	H5Tset_size(vt, H5T_VARIABLE);
	d = H5Dcreate2(f, "t", vt, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(H5Dwrite(d, vt, H5S_ALL, H5S_ALL, H5P_DEFAULT, strs) >= 0);
	H5Dclose(d);
	assert_true(H5Lcreate_hard(g, "d", g, "hard", H5P_DEFAULT, H5P_DEFAULT) >= 0);
	assert_true(H5Lcreate_soft("/g/d", f, "soft", H5P_DEFAULT, H5P_DEFAULT) >= 0);
	H5Gclose(H5Gcreate2(f, "z", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	H5Tclose(st);
	H5Tclose(vt);
	H5Pclose(dcpl);
	H5Sclose(s1);
	H5Sclose(s2);
	H5Sclose(s3);
	H5Sclose(sc);
	H5Gclose(g);
	H5Fclose(f);
	return path;
}

static struct h5fs_index_opts opts_for(const char *path, int view)
{
	struct h5fs_index_opts o = { path, path, 0, view, 5.0, 1.0 };

	return o;
}

static const struct h5fs_node *child(const struct h5fs_index *idx, const struct h5fs_node *dir, const char *name)
{
	const struct h5fs_entry *e = h5fs_index_find(dir, name);

	if (!e)
		fail_msg("no entry '%s' under '%s'", name, dir->path);
	assert_true(e->node < idx->nnodes);
	return &idx->nodes[e->node];
}

static const char *attr_text(const struct h5fs_node *n, const char *name)
{
	for (uint32_t i = 0; i < n->nattrs; i++)
		if (!strcmp(n->attrs[i].name, name))
			return n->attrs[i].err ? NULL : n->attrs[i].value;
	fail_msg("no attribute '%s' on '%s'", name, n->path);
	return NULL;
}

static void test_index__walk(void **state)
{
	const char *path = make_sample();
	struct h5fs_index_opts o = opts_for(path, H5FS_VIEW_RAW);
	struct h5fs_index idx = { 0 };
	const struct h5fs_node *root, *g, *d, *c, *t, *soft;
	double back[12];
	int fd;

	(void)state;
	assert_int_equal(h5fs_index_build(&idx, &o, NULL), 0);
	assert_int_equal(idx.nbad, 0);
	assert_int_equal(idx.restarts, 0);
	root = &idx.nodes[0];
	assert_int_equal(root->kind, H5FS_NK_GROUP);
	assert_int_equal(root->nchildren, 4);
	for (uint32_t i = 1; i < root->nchildren; i++)
		assert_true(strcmp(root->children[i - 1].name, root->children[i].name) < 0);
	assert_null(h5fs_index_find(root, "nothing"));
	g = child(&idx, root, "g");
	assert_int_equal(g->kind, H5FS_NK_GROUP);
	assert_string_equal(attr_text(g, "a"), "7");
	assert_string_equal(attr_text(g, "s"), "hi");
	d = child(&idx, g, "d");
	assert_int_equal(d->kind, H5FS_NK_DATASET);
	assert_ptr_equal(child(&idx, g, "hard"), d);	/* hard links share a node */
	assert_int_equal(d->rc, 2);
	assert_true(d->flags & H5FS_NF_CONTIG);
	assert_int_equal(d->size, sizeof(d34));
	assert_int_equal(d->ndim, 2);
	assert_int_equal(d->dims[0], 3);
	assert_int_equal(d->dims[1], 4);
	assert_string_equal(d->meta[H5FS_M_SHAPE], "[3, 4]");
	assert_string_equal(d->meta[H5FS_M_LAYOUT], "contiguous");
	/* the bytes are where the index says */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, sizeof(back), (off_t)d->offset), sizeof(back));
	close(fd);
	assert_memory_equal(back, d34, sizeof(back));
	c = child(&idx, g, "c");
	assert_false(c->flags & H5FS_NF_CONTIG);
	assert_int_equal(c->size, 400);
	assert_string_equal(c->meta[H5FS_M_LAYOUT], "chunked");
	assert_non_null(strstr(c->meta[H5FS_M_FILTERS], "deflate"));
	t = child(&idx, root, "t");
	assert_true(t->flags & H5FS_NF_VLSTR);
	assert_int_equal(t->n_vl, 1);
	/* "one\n" "two\\nlines\n" "three\n": a newline inside is written as \n */
	assert_int_equal(t->size, 4 + 11 + 6);
	soft = child(&idx, root, "soft");
	assert_int_equal(soft->kind, H5FS_NK_SOFTLINK);
	assert_string_equal(soft->target, "/g/d");
	assert_int_equal(child(&idx, root, "z")->nchildren, 0);
	h5fs_index_release(&idx);
	th_assert_no_open_ids();
}

static void test_index__npy_view(void **state)
{
	const char *path = make_sample();
	struct h5fs_index_opts o = opts_for(path, H5FS_VIEW_NPY);
	struct h5fs_index idx = { 0 };
	const struct h5fs_node *g, *d;

	(void)state;
	assert_int_equal(h5fs_index_build(&idx, &o, NULL), 0);
	g = child(&idx, &idx.nodes[0], "g");
	assert_null(h5fs_index_find(g, "d"));
	d = child(&idx, g, "d.npy");
	assert_true(d->flags & H5FS_NF_NPY);
	assert_non_null(d->npy);
	assert_int_equal(d->npy_len % 64, 0);
	assert_memory_equal(d->npy, "\x93NUMPY", 6);
	assert_non_null(memmem(d->npy, d->npy_len, "'shape': (3, 4)", 15));
	h5fs_index_release(&idx);
	th_assert_no_open_ids();
}

static void test_index__refused(void **state)
{
	const char *text = th_path("notes.h5"), *missing = th_path("missing.h5");
	struct h5fs_index_opts o = opts_for(text, H5FS_VIEW_RAW);
	struct h5fs_index idx = { 0 };
	FILE *f = fopen(text, "w");

	(void)state;
	assert_non_null(f);
	fputs("not an HDF5 file\n", f);
	fclose(f);
	assert_int_equal(h5fs_index_build(&idx, &o, NULL), H5FS_EXIT_OPEN);
	assert_int_equal(idx.nnodes, 0);
	o = opts_for(missing, H5FS_VIEW_RAW);
	assert_int_equal(h5fs_index_build(&idx, &o, NULL), H5FS_EXIT_OPEN);
	assert_int_equal(idx.nnodes, 0);
}

/* The child crashes (or hangs) at the first dataset it describes: that object alone is lost. */
static void contained(const char *fault, double timeout)
{
	const char *path = make_sample();
	struct h5fs_index_opts o = opts_for(path, H5FS_VIEW_RAW);
	struct h5fs_index idx = { 0 };
	uint32_t bad = 0, good = 0;

	o.index_timeout = timeout;
	setenv("H5FS_INDEX_FAULT", fault, 1);
	assert_int_equal(h5fs_index_build(&idx, &o, NULL), 0);
	unsetenv("H5FS_INDEX_FAULT");
	assert_int_equal(idx.restarts, 1);
	for (uint32_t i = 0; i < idx.nnodes; i++) {
		const struct h5fs_node *n = &idx.nodes[i];

		if (n->kind != H5FS_NK_DATASET)
			continue;
		if (n->flags & (H5FS_NF_BAD | H5FS_NF_DATA_BAD)) {
			bad++;
			assert_non_null(n->errmsg);
		} else {
			good++;
		}
	}
	assert_int_equal(bad, 1);
	assert_int_equal(good, 2);
	assert_int_equal(child(&idx, &idx.nodes[0], "g")->nchildren, 3);
	h5fs_index_release(&idx);
	th_assert_no_open_ids();
}

static void test_index__crash_contained(void **state)
{
	(void)state;
	contained("segv:dset:1", 5.0);
}

static void test_index__hang_contained(void **state)
{
	(void)state;
	contained("hang:dset:1", 0.5);
}

/* The daemon's own description (tree.c's way: in-process, the text sized at once) equals the indexer's. */
static void test_index__one_description(void **state)
{
	const char *path = make_sample();
	struct h5fs_index_opts o = opts_for(path, H5FS_VIEW_RAW);
	struct h5fs_index idx = { 0 };
	hid_t f;
	int seen = 0;

	(void)state;
	assert_int_equal(h5fs_index_build(&idx, &o, NULL), 0);
	f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	for (uint32_t i = 0; i < idx.nnodes; i++) {
		const struct h5fs_node *n = &idx.nodes[i];
		struct h5fs_dset_desc d;
		hid_t did;

		if (n->kind != H5FS_NK_DATASET)
			continue;
		seen++;
		assert_true((did = H5Dopen2(f, n->path, H5P_DEFAULT)) >= 0);
		assert_int_equal(h5fs_dset_describe(&d, did, UINT64_MAX), 0);
		if (d.flags & H5FS_NF_VLSTR)
			assert_int_equal(h5fs_dset_text(&d, did, NULL, NULL), 0);
		H5Dclose(did);
		assert_int_equal(d.flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_DATA_BAD),
				 n->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_DATA_BAD));
		assert_int_equal(d.ndim, n->ndim);
		for (int k = 0; k < d.ndim; k++)
			assert_int_equal(d.dims[k], n->dims[k]);
		assert_int_equal(d.size, n->size);
		assert_int_equal(d.nelems, n->nelems);
		assert_int_equal(d.n_vl, n->n_vl);
		for (uint64_t b = 0; b < d.n_vl; b++)
			assert_int_equal(d.vl_off[b], n->vl_off[b]);
		assert_int_equal(d.contig, !!(n->flags & H5FS_NF_CONTIG));
		if (d.contig)
			assert_int_equal(d.offset, n->offset);
		for (int m = 0; m < H5FS_M_COUNT; m++) {
			if (!n->meta[m] || !d.meta[m])
				assert_ptr_equal(n->meta[m], d.meta[m]);
			else
				assert_string_equal(d.meta[m], n->meta[m]);
		}
		h5fs_dset_desc_release(&d);
	}
	assert_int_equal(seen, 3);
	H5Fclose(f);
	h5fs_index_release(&idx);
	th_assert_no_open_ids();
}

/* A crash at any step of reading data, vlen strings' text included, costs that dataset alone. */
static void test_index__probe_crashes(void **state)
{
	const char *path = make_sample();
	struct h5fs_index_opts o = opts_for(path, H5FS_VIEW_RAW);
	unsigned int fired = 0, vlen_hit = 0;

	(void)state;
	for (int k = 1; k <= 8; k++) {
		struct h5fs_index idx = { 0 };
		char spec[32];

		snprintf(spec, sizeof(spec), "segv:probe:%d", k);
		setenv("H5FS_INDEX_FAULT", spec, 1);
		if (h5fs_index_build(&idx, &o, NULL) != 0)
			fail_msg("%s: the whole file was refused", spec);
		unsetenv("H5FS_INDEX_FAULT");
		if (idx.restarts) {
			const struct h5fs_node *t = child(&idx, &idx.nodes[0], "t");

			fired++;
			assert_int_equal(idx.nbad, 1);
			if (t->flags & H5FS_NF_DATA_BAD)
				vlen_hit++;
		}
		h5fs_index_release(&idx);
	}
	assert_true(fired >= 3);
	assert_true(vlen_hit >= 1);	/* the probe of t, and the sizing of its text */
	th_assert_no_open_ids();
}

/* A real child's stream of the sample file. */
static char *real_stream(const char *path, size_t *len)
{
	struct h5fs_index_opts o = opts_for(path, H5FS_VIEW_RAW);
	struct progress *pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	assert_true(pg != MAP_FAILED && buf);
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		struct h5fs_exttab none = { 0 };

		h5fs_ix_child_main(pfd[1], pg, NULL, 0, &o, 1, NULL, &none);
		_exit(1);
	}
	close(pfd[1]);
	*len = 0;
	while ((n = read(pfd[0], buf + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len == cap)
			assert_non_null(buf = realloc(buf, cap *= 2));
	}
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	munmap(pg, sizeof(*pg));
	return buf;
}

static int parse(const char *buf, size_t len, struct h5fs_index *idx)
{
	struct h5fs_exttab x = { 0 };
	int xcode = 0, rc;
	char *xmsg = NULL;

	memset(idx, 0, sizeof(*idx));
	rc = h5fs_ix_parse_stream(idx, &x, buf, len, &xcode, &xmsg);
	free(xmsg);
	h5fs_ext_release(&x);
	return rc;
}

/* 'F' records: a file number seen twice with two paths is refused, and nothing is freed twice. */
static void test_index__file_records(void **state)
{
	static const char rec[] = "F\1\0\0\0\2\0\0\0/aF\1\0\0\0\2\0\0\0/bD\0\0\0\0";
	static const char skip[] = "F\2\0\0\0\2\0\0\0/aD\0\0\0\0";
	struct h5fs_index idx;

	(void)state;
	assert_int_equal(parse(rec, sizeof(rec) - 1, &idx), -1);
	h5fs_index_release(&idx);
	assert_int_equal(parse(skip, sizeof(skip) - 1, &idx), -1);	/* file 2 before file 1 */
	h5fs_index_release(&idx);
}

/* The files a refused stream named leave the table again. */
static void test_index__file_rollback(void **state)
{
	struct h5fs_exttab x = { 0 };
	char *a = strdup("/etc/hostname"), *b = strdup("/etc/passwd");

	(void)state;
	assert_int_equal(h5fs_ix_ext_add(&x, 1, a), 0);
	assert_int_equal(h5fs_ext_count(&x), 2);
	assert_int_equal(h5fs_ix_ext_add(&x, 2, b), 0);
	h5fs_ix_ext_rollback(&x, 2);
	assert_int_equal(h5fs_ext_count(&x), 2);
	assert_null(h5fs_ext_path(&x, 2));
	assert_string_equal(h5fs_ext_path(&x, 1), "/etc/hostname");
	h5fs_ix_ext_rollback(&x, 0);
	assert_int_equal(h5fs_ext_count(&x), 1);
	assert_int_equal(h5fs_ix_ext_add(&x, 1, strdup("/etc/passwd")), 0);	/* numbered anew */
	assert_string_equal(h5fs_ext_path(&x, 1), "/etc/passwd");
	h5fs_ext_release(&x);
}

static void test_index__stream_untrusted(void **state)
{
	const char *path = make_sample();
	uint64_t seed = th_seed("test_index", 20261206);
	unsigned int rs = (unsigned int)seed;
	struct h5fs_index idx;
	size_t len;
	char *buf = real_stream(path, &len), *bad = malloc(len);
	unsigned int accepted = 0;

	(void)state;
	assert_non_null(bad);
	assert_int_equal(parse(buf, len, &idx), 0);
	assert_int_equal(idx.nnodes, 7);	/* root g d c t soft z: hard is d */
	h5fs_index_release(&idx);
	/* a child that died mid-stream: every prefix is refused */
	for (size_t cut = 0; cut < len; cut++) {
		if (parse(buf, cut, &idx) != -1)
			fail_msg("a stream cut at byte %zu of %zu was taken", cut, len);
		h5fs_index_release(&idx);
	}
	/* random damage: refused, or an index the daemon can serve */
	for (int round = 0; round < 3000; round++) {
		int nflips = 1 + (int)(rand_r(&rs) % 4);

		memcpy(bad, buf, len);
		for (int k = 0; k < nflips; k++)
			bad[rand_r(&rs) % len] = (char)rand_r(&rs);
		if (parse(bad, len, &idx) == 0) {
			accepted++;
			for (uint32_t i = 0; i < idx.nnodes; i++) {
				const struct h5fs_node *n = &idx.nodes[i];

				if (!n->path || n->parent >= idx.nnodes || n->kind > H5FS_NK_UNKNOWN)
					fail_msg("seed %llu round %d: node %u taken insane",
						 (unsigned long long)seed, round, i);
				for (uint32_t e = 0; e < n->nchildren; e++)
					if (n->children[e].node >= idx.nnodes)
						fail_msg("seed %llu round %d: entry past the nodes",
							 (unsigned long long)seed, round);
			}
		}
		h5fs_index_release(&idx);
	}
	printf("test_index: %u of 3000 damaged streams were sane enough to take\n", accepted);
	free(bad);
	free(buf);
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index__walk),
		cmocka_unit_test(test_index__npy_view),
		cmocka_unit_test(test_index__refused),
		cmocka_unit_test(test_index__one_description),
		cmocka_unit_test(test_index__crash_contained),
		cmocka_unit_test(test_index__hang_contained),
		cmocka_unit_test(test_index__probe_crashes),
		cmocka_unit_test(test_index__stream_untrusted),
		cmocka_unit_test(test_index__file_records),
		cmocka_unit_test(test_index__file_rollback),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
