/*
 * Staging: random writes and truncations against an in-memory model,
 * overlay reads, the staging file, bounds.
 *
 * The random tests run a fixed seed (printed at the start and on
 * failure); H5FS_SEED=N reruns another, H5FS_SEED=random a new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "h5fs/sys/stage.h"

static unsigned int seed;

/* The model: the image, which bytes are dirty, the dataset's bytes. */
struct model {
	unsigned char *img, *dirty, *base;
	size_t size, base_size, cap;
};

static uint32_t rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) & 0xffffff;
}

static int base_fn(void *buf, size_t len, uint64_t off, void *payload)
{
	struct model *m = payload;

	if (off + len > m->base_size)
		fail_msg("base asked for [%llu, %llu) past the dataset's %zu bytes",
			 (unsigned long long)off, (unsigned long long)(off + len), m->base_size);
	memcpy(buf, m->base + off, len);
	return 0;
}

static void check(h5fs_stage *st, struct model *m, unsigned int run_seed, int step)
{
	const h5fs_stage_extent *ext;
	h5fs_stage_info si;
	unsigned char *got = malloc(m->size + 16);
	size_t n, next, pos = 0, nread;

	assert_non_null(got);
	h5fs_stage_info_get(st, &si);
	if (si.size != m->size)
		fail_msg("seed %u step %d: size %llu, model %zu", run_seed, step, (unsigned long long)si.size, m->size);
	th_ok(h5fs_stage_read(st, got, m->size + 16, 0, &nread, base_fn, m));
	if (nread != m->size || (m->size && memcmp(got, m->img, m->size))) {
		for (n = 0; n < m->size && got[n] == m->img[n]; n++)
			;
		fail_msg("seed %u step %d: image differs at byte %zu of %zu", run_seed, step, n, m->size);
	}
	/* the extent list is exactly the dirty mask, sorted and merged */
	h5fs_stage_extents(st, &ext, &next);
	for (size_t i = 0; i < next; i++) {
		if (i && ext[i].off <= ext[i - 1].off + ext[i - 1].len)
			fail_msg("seed %u step %d: extents %zu and %zu touch", run_seed, step, i - 1, i);
		for (; pos < ext[i].off; pos++)
			if (m->dirty[pos])
				fail_msg("seed %u step %d: byte %zu dirty but not in an extent", run_seed, step, pos);
		for (; pos < ext[i].off + ext[i].len; pos++)
			if (pos >= m->size || !m->dirty[pos])
				fail_msg("seed %u step %d: byte %zu in an extent but not dirty", run_seed, step, pos);
	}
	for (; pos < m->size; pos++)
		if (m->dirty[pos])
			fail_msg("seed %u step %d: byte %zu dirty past the extents", run_seed, step, pos);
	/* a random window, overlaid on the dataset's bytes read first */
	if (m->size) {
		size_t off = rnd() % m->size, len = rnd() % (m->size - off + 8);

		memset(got, 0xee, len + 1);
		for (size_t i = 0; i < len && off + i < m->base_size; i++)
			got[i] = m->base[off + i];
		th_ok(h5fs_stage_read(st, got, len, off, &nread, NULL, NULL));
		assert_int_equal(nread, len < m->size - off ? len : m->size - off);
		for (size_t i = 0; i < nread; i++)
			if (got[i] != m->img[off + i])
				fail_msg("seed %u step %d: overlay read at %zu differs at %zu", run_seed, step, off, off + i);
	}
	free(got);
}

static void model_grow(struct model *m, size_t size)
{
	if (size > m->cap) {
		m->img = realloc(m->img, size);
		m->dirty = realloc(m->dirty, size);
		assert_non_null(m->img);
		assert_non_null(m->dirty);
		m->cap = size;
	}
	if (size > m->size) {
		memset(m->img + m->size, 0, size - m->size);
		memset(m->dirty + m->size, 0, size - m->size);
	}
	m->size = size;
}

/*
 * with_sink: at a random step, send a random window above the base limit
 * to a sink file full of garbage (which must never be read), sometimes
 * freeze it later; before the end, fill it and compare its bytes.
 */
static void random_run_sink(size_t mem_limit, size_t base_size, size_t max_size, int steps, bool with_sink)
{
	h5fs_stage_options o = H5FS_STAGE_OPTIONS_INIT;
	unsigned int run_seed = seed;
	struct model m = { 0 };
	h5fs_stage *st;
	unsigned char *buf = malloc(max_size);
	const char *sink = th_path("sink-%u", run_seed);
	int sink_step = with_sink ? (int)(rnd() % (unsigned)steps) : -1, freeze_step = -1;
	uint64_t sink_off = 0, sink_lo = 0, sink_hi = 0;

	assert_non_null(buf);
	o.mem_limit = mem_limit;
	o.staging_dir = th_dir();
	m.base = malloc(base_size + 1);
	for (size_t i = 0; i < base_size; i++)
		m.base[i] = (unsigned char)rnd();
	m.base_size = base_size;
	model_grow(&m, base_size);
	if (base_size)
		memcpy(m.img, m.base, base_size);
	th_ok(h5fs_stage_new(&st, base_size, &o));
	for (int step = 0; step < steps; step++) {
		uint32_t op = rnd() % 10;

		if (step == sink_step) {
			h5fs_stage_info si;
			FILE *f = fopen(sink, "wb");

			assert_non_null(f);
			for (size_t i = 0; i < 2 * max_size + 100; i++)
				fputc(0xab, f);
			fclose(f);
			h5fs_stage_info_get(st, &si);
			sink_off = rnd() % 100;
			sink_lo = si.base_limit + rnd() % 200;
			sink_hi = sink_lo + 1 + rnd() % max_size;
			th_fails(H5FS_EINVALID, h5fs_stage_sink_set(st, sink, sink_off, sink_lo, sink_lo));
			if (si.base_limit)
				th_fails(H5FS_EINVALID, h5fs_stage_sink_set(st, sink, sink_off, si.base_limit - 1, sink_hi));
			th_ok(h5fs_stage_sink_set(st, sink, sink_off, sink_lo, sink_hi));
			th_fails(H5FS_EINVALID, h5fs_stage_sink_set(st, sink, sink_off, sink_lo, sink_hi));
			assert_int_equal(h5fs_stage_sink_get(st, NULL, NULL, NULL), 1);
			check(st, &m, run_seed, step);
			if (rnd() % 3 == 0)
				freeze_step = step + (int)(rnd() % (unsigned)(steps - step));
		}
		if (step == freeze_step) {
			h5fs_stage_sink_freeze(st);
			assert_int_equal(h5fs_stage_sink_get(st, NULL, NULL, NULL), 0);
		}

		if (op < 7) {
			size_t off = rnd() % max_size, len = rnd() % (op == 0 ? max_size : 64);

			if (off + len > max_size)
				len = max_size - off;
			for (size_t i = 0; i < len; i++)
				buf[i] = (unsigned char)rnd();
			th_ok(h5fs_stage_write(st, buf, len, off));
			if (len && off + len > m.size)
				model_grow(&m, off + len);
			memcpy(m.img + off, buf, len);
			memset(m.dirty + off, 1, len);
		} else {
			size_t size = rnd() % max_size;

			th_ok(h5fs_stage_truncate(st, size));
			if (size < m.size)
				m.size = size;
			else
				model_grow(&m, size);
		}
		check(st, &m, run_seed, step);
	}
	/* a filled live sink holds the image's bytes of its window */
	if (h5fs_stage_sink_get(st, NULL, NULL, NULL)) {
		FILE *f;
		size_t end = m.size < sink_hi ? m.size : (size_t)sink_hi;
		unsigned char *got;

		th_ok(h5fs_stage_sink_fill(st));
		check(st, &m, run_seed, steps);
		if (end > sink_lo) {
			got = malloc(end - sink_lo);
			assert_non_null(got);
			assert_non_null(f = fopen(sink, "rb"));
			assert_int_equal(fseek(f, (long)sink_off, SEEK_SET), 0);
			assert_int_equal(fread(got, 1, end - sink_lo, f), end - sink_lo);
			if (end > sink_lo && memcmp(got, m.img + sink_lo, end - sink_lo))
				fail_msg("seed %u: filled sink differs from the model", run_seed);
			fclose(f);
			free(got);
		}
	}
	/* the staging file of a materialised stage is the image */
	th_ok(h5fs_stage_materialize(st, base_fn, &m));
	assert_int_equal(h5fs_stage_sink_get(st, NULL, NULL, NULL), 0);
	{
		FILE *f = fopen(h5fs_stage_path(st), "rb");
		unsigned char *got = malloc(m.size + 1);
		struct stat sb;

		assert_non_null(f);
		assert_int_equal(stat(h5fs_stage_path(st), &sb), 0);
		assert_int_equal((size_t)sb.st_size, m.size);
		assert_int_equal(fread(got, 1, m.size, f), m.size);
		if (m.size && memcmp(got, m.img, m.size))
			fail_msg("seed %u: materialised file differs from the model", run_seed);
		fclose(f);
		free(got);
	}
	h5fs_stage_free(st);
	free(m.img);
	free(m.dirty);
	free(m.base);
	free(buf);
}

static void random_run(size_t mem_limit, size_t base_size, size_t max_size, int steps)
{
	random_run_sink(mem_limit, base_size, max_size, steps, false);
}

static void test_stage__random_sink(void **state)
{
	(void)state;
	/* in memory, spilling midway, in the file; with and without a base */
	for (int i = 0; i < 30; i++)
		random_run_sink(i % 3 == 0 ? 1 << 20 : i % 3 == 1 ? 1500 : 0, i % 2 ? rnd() % 3000 : 0, 4096, 150, true);
}

static void test_stage__sink_basics(void **state)
{
	h5fs_stage_options o = H5FS_STAGE_OPTIONS_INIT;
	const char *sink = th_path("sink-basics");
	unsigned char got[64];
	uint64_t off, lo, hi;
	h5fs_stage *st;
	FILE *f;
	size_t n;

	(void)state;
	o.staging_dir = th_dir();
	assert_non_null(f = fopen(sink, "wb"));
	assert_int_equal(fwrite("................................................................", 1, 64, f), 64);
	fclose(f);
	th_ok(h5fs_stage_new(&st, 0, &o));
	th_ok(h5fs_stage_write(st, "HEADERdata", 10, 0));
	/* the bytes written so far move to the sink; a missing file fails cleanly */
	th_fails(H5FS_ERROR, h5fs_stage_sink_set(st, th_path("no/such"), 8, 6, 30));
	assert_int_equal(h5fs_stage_sink_get(st, NULL, NULL, NULL), 0);
	th_ok(h5fs_stage_sink_set(st, sink, 8, 6, 30));
	assert_int_equal(h5fs_stage_sink_get(st, &off, &lo, &hi), 1);
	assert_true(off == 8 && lo == 6 && hi == 30);
	th_ok(h5fs_stage_write(st, "MORE", 4, 20));	/* a hole at [10, 20) */
	th_ok(h5fs_stage_write(st, "TAILtail", 8, 28));	/* across the window's end */
	th_ok(h5fs_stage_read(st, got, sizeof(got), 0, &n, NULL, NULL));
	assert_int_equal(n, 36);
	assert_memory_equal(got, "HEADERdata\0\0\0\0\0\0\0\0\0\0MORE\0\0\0\0TAILtail", 36);
	th_ok(h5fs_stage_sink_fill(st));
	assert_non_null(f = fopen(sink, "rb"));
	assert_int_equal(fread(got, 1, 64, f), 64);
	fclose(f);
	/* file offset 8 holds image [6, 30): "data", ten zeros, "MORE", four zeros, "TA" */
	assert_memory_equal(got, "........data\0\0\0\0\0\0\0\0\0\0MORE\0\0\0\0TA..", 34);
	/* frozen: reads still come from it, the next write into it takes the bytes back */
	h5fs_stage_sink_freeze(st);
	th_ok(h5fs_stage_write(st, "x", 1, 7));
	assert_int_equal(h5fs_stage_sink_get(st, NULL, NULL, NULL), 0);
	th_ok(h5fs_stage_read(st, got, sizeof(got), 0, &n, NULL, NULL));
	assert_memory_equal(got, "HEADERdxta\0\0\0\0\0\0\0\0\0\0MORE\0\0\0\0TAILtail", 36);
	assert_non_null(f = fopen(sink, "rb"));
	assert_int_equal(fread(got, 1, 64, f), 64);
	fclose(f);
	assert_memory_equal(got + 8, "data", 4);	/* the sink is no longer written */
	h5fs_stage_free(st);
}

static void test_stage__random_in_memory(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++)
		random_run(1 << 20, rnd() % 3000, 4096, 150);
}

static void test_stage__random_spilling(void **state)
{
	(void)state;
	/* a small memory limit: most runs move to the staging file midway */
	for (int i = 0; i < 20; i++)
		random_run(1500, rnd() % 3000, 4096, 150);
}

static void test_stage__random_in_file(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		random_run(0, rnd() % 3000, 4096, 150);
}

static void test_stage__spill_default_dir(void **state)
{
	h5fs_stage_options o = H5FS_STAGE_OPTIONS_INIT;
	h5fs_stage_info si;
	h5fs_stage *st;
	struct stat sb;
	char big[10000], got[10000];
	const char *dir = th_path(".data.h5.h5fs-staging");
	size_t n;

	(void)state;
	o.mem_limit = 4096;
	o.hdf5_path = th_path("data.h5");
	memset(big, 'x', sizeof(big));
	th_ok(h5fs_stage_new(&st, 0, &o));
	th_ok(h5fs_stage_write(st, "abc", 3, 0));
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.in_file, 0);
	assert_null(h5fs_stage_path(st));
	th_ok(h5fs_stage_write(st, big, sizeof(big), 100));
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.in_file, 1);
	assert_int_equal(si.size, 10100);
	assert_int_equal(si.extents, 2);
	assert_int_equal(si.dirty_bytes, 10003);
	assert_non_null(h5fs_stage_path(st));
	assert_int_equal(strncmp(h5fs_stage_path(st), dir, strlen(dir)), 0);
	assert_int_equal(lstat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700);
	/* sparse: the gap is a hole */
	assert_int_equal(stat(h5fs_stage_path(st), &sb), 0);
	th_ok(h5fs_stage_read(st, got, sizeof(got), 0, &n, NULL, NULL));
	assert_int_equal(n, sizeof(got));
	assert_memory_equal(got, "abc\0\0", 5);
	assert_int_equal(got[100], 'x');
	h5fs_stage_free(st);
	/* the file and the empty folder are gone */
	assert_int_equal(lstat(dir, &sb), -1);
}

static void test_stage__private_dir_refused(void **state)
{
	h5fs_stage_options o = H5FS_STAGE_OPTIONS_INIT;
	h5fs_stage *st;
	const char *dir = th_path(".open.h5.h5fs-staging");

	(void)state;
	assert_int_equal(mkdir(dir, 0777), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	o.mem_limit = 0;
	o.hdf5_path = th_path("open.h5");
	th_ok(h5fs_stage_new(&st, 0, &o));
	th_fails(H5FS_ERROR, h5fs_stage_write(st, "a", 1, 0));
	assert_non_null(strstr(h5fs_error_last()->message, "not private"));
	assert_int_equal(h5fs_stage_size(st), 0);
	h5fs_stage_free(st);
	rmdir(dir);
}

static void test_stage__bounds(void **state)
{
	h5fs_stage *st;
	h5fs_stage_info si;
	char buf[8];
	size_t n = 99;

	(void)state;
	th_ok(h5fs_stage_new(&st, 10, NULL));
	th_fails(H5FS_EINVALID, h5fs_stage_write(st, "abcd", 4, UINT64_MAX - 1));
	th_fails(H5FS_EINVALID, h5fs_stage_write(st, "abcd", 4, H5FS_STAGE_MAX_SIZE - 3));
	th_fails(H5FS_EINVALID, h5fs_stage_truncate(st, H5FS_STAGE_MAX_SIZE + 1));
	{
		h5fs_stage *other = (h5fs_stage *)1;

		th_fails(H5FS_EINVALID, h5fs_stage_new(&other, UINT64_MAX, NULL));
		assert_null(other);
	}
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.size, 10);
	assert_int_equal(si.changed, 0);
	/* no staging folder known: a spill is refused, the stage unchanged */
	th_fails(H5FS_EINVALID, h5fs_stage_write(st, "abcd", 4, (uint64_t)1 << 40));
	assert_int_equal(h5fs_stage_size(st), 10);
	/* reads at or past the end */
	th_ok(h5fs_stage_read(st, buf, sizeof(buf), 10, &n, NULL, NULL));
	assert_int_equal(n, 0);
	th_ok(h5fs_stage_read(st, buf, sizeof(buf), UINT64_MAX, &n, NULL, NULL));
	assert_int_equal(n, 0);
	/* a zero-length write changes nothing */
	th_ok(h5fs_stage_write(st, NULL, 0, 5));
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.changed, 0);
	/* a truncation to the same size is no change; shrinking is */
	th_ok(h5fs_stage_truncate(st, 10));
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.changed, 0);
	th_ok(h5fs_stage_truncate(st, 4));
	th_ok(h5fs_stage_truncate(st, 10));
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.changed, 1);
	assert_int_equal(si.base_limit, 4);
	h5fs_stage_mark_committed(st);
	h5fs_stage_info_get(st, &si);
	assert_int_equal(si.changed, 0);
	assert_int_equal(si.base_size, 10);
	h5fs_stage_free(st);
	h5fs_stage_free(NULL);
}

static int stop_fn(void *buf, size_t len, uint64_t off, void *payload)
{
	(void)buf;
	(void)len;
	(void)off;
	(void)payload;
	return H5FS_EUSER;
}

static void test_stage__base_errors_pass_through(void **state)
{
	h5fs_stage *st;
	char buf[16];
	size_t n;

	(void)state;
	th_ok(h5fs_stage_new(&st, 16, NULL));
	th_ok(h5fs_stage_write(st, "zz", 2, 4));
	th_fails(H5FS_EUSER, h5fs_stage_read(st, buf, sizeof(buf), 0, &n, stop_fn, NULL));
	/* a fully dirty range needs no base */
	th_ok(h5fs_stage_read(st, buf, 2, 4, &n, stop_fn, NULL));
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "zz", 2);
	h5fs_stage_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage__random_in_memory),
		cmocka_unit_test(test_stage__random_spilling),
		cmocka_unit_test(test_stage__random_in_file),
		cmocka_unit_test(test_stage__spill_default_dir),
		cmocka_unit_test(test_stage__private_dir_refused),
		cmocka_unit_test(test_stage__bounds),
		cmocka_unit_test(test_stage__base_errors_pass_through),
		cmocka_unit_test(test_stage__random_sink),
		cmocka_unit_test(test_stage__sink_basics),
	};

	seed = (unsigned int)th_seed("test_stage", 20261204);
	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
