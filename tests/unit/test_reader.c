/*
 * Tests of h5fs/sys/reader.h: every layout and many dtypes read in random
 * pieces against h5py's ds[()].tobytes(); the cost of a small read of a
 * large chunked dataset; threads; filters we cannot decode; corrupt data.
 *
 * The random pieces come from a PRNG with a fixed seed (printed at the
 * start and on failure); H5FS_SEED=N replays another, H5FS_SEED=random
 * picks a new one (make soak).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "helpers.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/reader.h"
#include "../../src/lib/chunkcache.h"

static uint64_t seed;
static int fixtures_made;

/* xorshift64*: small and reproducible */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void seed_init(void)
{
	if (!seed)
		seed = th_seed("test_reader", 20261204);
	rnd_state = seed ? seed : 88172645463325252ULL;
}

static const char fixture_py[] =
"import os\n"
"d = sys.argv[1]\n"
"rng = np.random.default_rng(7)\n"
"names = []\n"
"def save(f, name):\n"
"    ds = f[name]\n"
"    if ds.shape is None:\n"
"        b = b''\n"
"    else:\n"
"        b = np.asarray(ds[()], dtype=ds.dtype).tobytes()\n"
"    open(os.path.join(d, name + '.bin'), 'wb').write(b)\n"
"    names.append(name)\n"
"cmpd = np.dtype([('a', '<i4'), ('b', '>f8'), ('c', 'S3'), ('v', '<f4', (3,))])\n"
"types = {'i1': 'i1', 'i2': '<i2', 'i4': '<i4', 'i8': '<i8', 'u1': 'u1', 'u2': '<u2',\n"
"         'u4': '<u4', 'u8': '<u8', 'f2': '<f2', 'f4': '<f4', 'f8': '<f8',\n"
"         'be_i2': '>i2', 'be_i4': '>i4', 'be_f4': '>f4', 'be_f8': '>f8',\n"
"         's7': 'S7', 'bool': '?', 'cmpd': cmpd}\n"
"def rand(dt, shape):\n"
"    dt = np.dtype(dt)\n"
"    n = int(np.prod(shape))\n"
"    if dt == np.dtype('?'):\n"
"        return rng.integers(0, 2, n).astype('?').reshape(shape)\n"
"    if dt.kind == 'S':\n"
"        return rng.integers(65, 91, n * dt.itemsize, dtype='u1').view(dt).reshape(shape)\n"
"    return np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).reshape(shape).copy()\n"
"with h5py.File(os.path.join(d, 'all.h5'), 'w') as f:\n"
"    for tag, dt in types.items():\n"
"        f.create_dataset('contig_' + tag, data=rand(dt, (30, 41)))\n"
"        f.create_dataset('chunk1d_' + tag, data=rand(dt, (1000,)), chunks=(64,))\n"
"        f.create_dataset('gzip2d_' + tag, data=rand(dt, (37, 53)), chunks=(8, 10),\n"
"                         shuffle=True, compression='gzip')\n"
"        f.create_dataset('scalar_' + tag, data=rand(dt, ()))\n"
"    f.create_dataset('chunk2d_short', data=rand('<u2', (37, 53)), chunks=(8, 10))\n"
"    f.create_dataset('chunk2d_wide', data=rand('<f8', (20, 3000)), chunks=(3, 1000))\n"
"    f.create_dataset('chunk3d', data=rand('<f8', (13, 17, 19)), chunks=(4, 5, 6))\n"
"    f.create_dataset('chunk3d_gzip', data=rand('>i4', (13, 17, 19)), chunks=(4, 5, 6),\n"
"                     compression='gzip', compression_opts=1)\n"
"    f.create_dataset('chunk4d', data=rand('u1', (5, 6, 7, 8)), chunks=(2, 4, 3, 5))\n"
"    f.create_dataset('chunk_rows', data=rand('<i4', (25, 40)), chunks=(4, 40))\n"
"    ds = f.create_dataset('sparse_rows', shape=(50, 8), dtype='<u2', chunks=(5, 8), fillvalue=9)\n"
"    ds[10:20] = rand('<u2', (10, 8))\n"
"    ds = f.create_dataset('sparse', shape=(100, 100), dtype='<i4', chunks=(10, 10), fillvalue=-5)\n"
"    ds[0:20, 30:50] = rand('<i4', (20, 20))\n"
"    ds[95:, :7] = 1\n"
"    ds = f.create_dataset('sparse_gzip', shape=(100, 77), dtype='>f8', chunks=(16, 16),\n"
"                          fillvalue=3.5, compression='gzip')\n"
"    ds[10:40, 20:60] = np.arange(1200.0).reshape(30, 40)\n"
"    ds = f.create_dataset('sparse_cmpd', shape=(50,), dtype=cmpd, chunks=(8,),\n"
"                          fillvalue=np.array((3, 2.5, b'xy', (1, 2, 3)), dtype=cmpd))\n"
"    ds[10:20] = rand(cmpd, (10,))\n"
"    f.create_dataset('unalloc', shape=(500,), dtype='<f8', fillvalue=1.25)\n"
"    f.create_dataset('unalloc_be', shape=(10, 20), dtype='>i4', fillvalue=7)\n"
"    f.create_dataset('unalloc_zero', shape=(64, 3), dtype='<u2')\n"
"    f.create_dataset('unalloc_s7', shape=(9,), dtype='S7', fillvalue=b'abc')\n"
"    f.create_dataset('gzip1d', data=np.arange(10000.0), chunks=(1000,), compression='gzip',\n"
"                     compression_opts=4)\n"
"    f.create_dataset('fletcher', data=rand('<f4', (1000,)), chunks=(128,), fletcher32=True)\n"
"    f.create_dataset('fletcher_all', data=rand('>f8', (37, 53)), chunks=(8, 10),\n"
"                     fletcher32=True, shuffle=True, compression='gzip')\n"
"    f.create_dataset('shuffle_only', data=rand('<i8', (300,)), chunks=(50,), shuffle=True)\n"
"    f.create_dataset('scaleoff_int', data=rng.integers(0, 1000, (40, 50), dtype='<i4'),\n"
"                     chunks=(16, 16), scaleoffset=0)\n"
"    f.create_dataset('scaleoff_float', data=rng.normal(size=(40, 50)), chunks=(16, 16),\n"
"                     scaleoffset=3)\n"
"    f.create_dataset('szip', data=rng.integers(0, 1000, (64, 64), dtype='<i4'), chunks=(32, 32),\n"
"                     compression='szip', compression_opts=('nn', 16))\n"
"    tid = h5py.h5t.STD_I16LE.copy(); tid.set_precision(12)\n"
"    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE); dcpl.set_chunk((20,))\n"
"    dcpl.set_filter(h5py.h5z.FILTER_NBIT)\n"
"    dsid = h5py.h5d.create(f.id, b'nbit', tid, h5py.h5s.create_simple((100,)), dcpl=dcpl)\n"
"    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, rng.integers(0, 2048, 100, dtype='<i2'))\n"
"    for nm, chunked in (('nbit_neg', True), ('narrow_contig', False)):\n"
"        tid = h5py.h5t.STD_I32BE.copy(); tid.set_precision(5)\n"
"        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)\n"
"        if chunked:\n"
"            dcpl.set_chunk((16,)); dcpl.set_filter(h5py.h5z.FILTER_NBIT)\n"
"        dsid = h5py.h5d.create(f.id, nm.encode(), tid, h5py.h5s.create_simple((100,)), dcpl=dcpl)\n"
"        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, (np.arange(100, dtype='>i4') % 32) - 16)\n"
"    it = h5py.h5t.STD_I32LE.copy(); it.set_precision(5)\n"
"    ct = h5py.h5t.create(h5py.h5t.COMPOUND, 24)\n"
"    ct.insert(b'a', 0, it); ct.insert(b'b', 4, h5py.h5t.STD_I32LE); ct.insert(b'c', 8, h5py.h5t.array_create(it, (4,)))\n"
"    v = (np.arange(50, dtype='<i4') % 32) - 16\n"
"    rec = np.zeros(50, dtype=[('a', '<i4'), ('b', '<i4'), ('c', '<i4', (4,))])\n"
"    rec['a'] = v; rec['b'] = v * 3; rec['c'] = ((np.arange(200, dtype='<i4') % 32) - 16).reshape(50, 4)\n"
"    dsid = h5py.h5d.create(f.id, b'narrow_cmpd', ct, h5py.h5s.create_simple((50,)))\n"
"    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, rec)\n"
"    for tag, dt in (('f8', '<f8'), ('cmpd', cmpd), ('be_i2', '>i2')):\n"
"        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE); dcpl.set_layout(h5py.h5d.COMPACT)\n"
"        data = rand(dt, (7, 9))\n"
"        tid = h5py.h5t.py_create(data.dtype)\n"
"        dsid = h5py.h5d.create(f.id, ('compact_' + tag).encode(), tid,\n"
"                               h5py.h5s.create_simple((7, 9)), dcpl=dcpl)\n"
"        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)\n"
"    f.create_dataset('empty', shape=(0,), dtype='<i4')\n"
"    f.create_dataset('empty_chunked', shape=(0, 5), maxshape=(None, 5), dtype='<i4', chunks=(4, 5))\n"
"    f.create_dataset('null', data=h5py.Empty('<f8'))\n"
"    f.create_dataset('grow', data=np.arange(250, dtype='<i8'), maxshape=(None,), chunks=(100,),\n"
"                     compression='gzip')\n"
"    f.create_dataset('bigchunk', data=np.arange(10, dtype='<i2'), maxshape=(None,), chunks=(100,))\n"
"    ext = os.path.join(d, 'external.raw')\n"
"    f.create_dataset('external', shape=(40, 3), dtype='<i4', external=[(ext, 0, 40 * 3 * 4)])\n"
"    f['external'][...] = np.arange(120, dtype='<i4').reshape(40, 3)\n"
"    with h5py.File(os.path.join(d, 'vsrc.h5'), 'w') as g:\n"
"        g['a'] = np.arange(100, dtype='<i4')\n"
"        g['b'] = np.arange(100, 200, dtype='<i4')\n"
"    lay = h5py.VirtualLayout(shape=(3, 100), dtype='<i4')\n"
"    lay[0] = h5py.VirtualSource(os.path.join(d, 'vsrc.h5'), 'a', shape=(100,))\n"
"    lay[2] = h5py.VirtualSource(os.path.join(d, 'vsrc.h5'), 'b', shape=(100,))\n"
"    f.create_virtual_dataset('virtual', lay, fillvalue=-1)\n"
"    for name in sorted(f):\n"
"        save(f, name)\n"
"open(os.path.join(d, 'names.txt'), 'w').write('\\n'.join(names) + '\\n')\n"
"with h5py.File(os.path.join(d, 'ublock.h5'), 'w', userblock_size=512) as f:\n"
"    f.create_dataset('ub_rows', data=rand('<i4', (25, 40)), chunks=(4, 40))\n"
"    f.create_dataset('ub_gzip', data=rand('<f8', (300,)), chunks=(64,), compression='gzip')\n"
"    f.create_dataset('ub_contig', data=rand('<u2', (77,)))\n"
"    for name in f:\n"
"        open(os.path.join(d, name + '.bin'), 'wb').write(f[name][()].tobytes())\n"
"with h5py.File(os.path.join(d, 'other.h5'), 'w') as f:\n"
"    f.create_dataset('lzf', data=np.repeat(np.arange(10, dtype='<i4'), 1000), chunks=(1000,),\n"
"                     compression='lzf')\n"
"    assert f['lzf'].id.get_chunk_info(0).filter_mask == 0\n"
"    f.create_dataset('vlen', data=['a', 'bc'], dtype=h5py.string_dtype())\n"
"    f.create_dataset('ragged', shape=(2,), dtype=h5py.vlen_dtype('i4'))\n"
"    f.create_dataset('refs', shape=(2,), dtype=h5py.ref_dtype)\n"
"    f.create_dataset('gzip', data=np.arange(100000, dtype='<i8'), chunks=(10000,),\n"
"                     compression='gzip', compression_opts=1)\n"
"    f.create_dataset('fletcher', data=np.arange(100000, dtype='<i8'), chunks=(10000,),\n"
"                     fletcher32=True)\n"
"    f.create_dataset('direct', shape=(1000,), dtype='<i4', chunks=(100,), compression='gzip')\n"
"    import zlib\n"
"    f['direct'].id.write_direct_chunk((0,), zlib.compress(b'x' * 500))\n"
"    f['direct'].id.write_direct_chunk((100,), zlib.compress(b'x' * 800))\n"
"    f['direct'].id.write_direct_chunk((200,), b'not a zlib stream at all')\n"
"    f['direct'].id.write_direct_chunk((300,), zlib.compress(np.arange(100, dtype='<i4').tobytes()))\n";

static void fixtures(void)
{
	th_require_h5py();
	if (fixtures_made)
		return;
	if (th_python("%s", fixture_py) != 0)
		fail_msg("fixture script failed");
	fixtures_made = 1;
}

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? (size_t)n : 1);
	assert_non_null(buf);
	if (n && fread(buf, 1, (size_t)n, f) != (size_t)n)
		fail_msg("short read of %s", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* An open file, one dataset and a reader on it. */
struct opened {
	hid_t file;
	hid_t dset;
	int fd;
	h5fs_reader *r;
};

static int open_reader(struct opened *o, const char *path, const char *name, h5fs_chunk_cache *cache)
{
	int error;

	o->r = NULL;
	o->fd = open(path, O_RDONLY);
	assert_true(o->fd >= 0);
	o->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(o->file >= 0);
	o->dset = H5Dopen2(o->file, name, H5P_DEFAULT);
	if (o->dset < 0)
		fail_msg("cannot open dataset %s", name);
	error = h5fs_reader_open(&o->r, o->dset, o->fd, cache);
	/* the reader keeps what it needs: close ours at once */
	H5Dclose(o->dset);
	return error;
}

static void close_reader(struct opened *o)
{
	h5fs_reader_free(o->r);
	H5Fclose(o->file);
	close(o->fd);
}

/* Read the whole image in random pieces, in random order, and compare. */
static void check_random_pieces(h5fs_reader *r, const char *name, const uint8_t *want, size_t len, int rounds)
{
	uint8_t *got = malloc(len + 64), *piece = malloc(len + 64);
	size_t nread, pos, covered;
	uint64_t off, sz;
	int i;

	assert_non_null(got);
	assert_non_null(piece);
	if (h5fs_reader_size(r) != len)
		fail_msg("%s: size %llu, want %zu", name, (unsigned long long)h5fs_reader_size(r), len);
	/* sequential cover in random-sized pieces */
	memset(got, 0xa5, len + 1);
	for (pos = 0, covered = 0; pos < len; pos += nread) {
		sz = 1 + rnd_below(len / 3 + 17);
		th_ok(h5fs_reader_read(r, got + pos, (size_t)sz, pos, &nread));
		if (nread != (sz < len - pos ? sz : len - pos))
			fail_msg("%s (seed %llu): read(%llu, %zu) gave %zu bytes", name,
				 (unsigned long long)seed, (unsigned long long)sz, pos, nread);
		covered += nread;
	}
	if (covered != len || memcmp(got, want, len)) {
		for (pos = 0; pos < len && got[pos] == want[pos]; pos++)
			;
		fail_msg("%s (seed %llu): sequential pieces differ at byte %zu of %zu", name,
			 (unsigned long long)seed, pos, len);
	}
	/* random offsets */
	for (i = 0; i < rounds && len; i++) {
		off = rnd_below(len);
		sz = 1 + rnd_below(i % 4 == 0 ? len : 64);
		th_ok(h5fs_reader_read(r, piece, (size_t)sz, off, &nread));
		if (nread != (sz < len - off ? sz : len - off) || memcmp(piece, want + off, nread)) {
			fail_msg("%s (seed %llu): read(%llu, off %llu) differs", name,
				 (unsigned long long)seed, (unsigned long long)sz, (unsigned long long)off);
		}
	}
	/* at and past the end */
	th_ok(h5fs_reader_read(r, piece, 10, len, &nread));
	assert_int_equal(nread, 0);
	th_ok(h5fs_reader_read(r, piece, 10, (uint64_t)len + 1000, &nread));
	assert_int_equal(nread, 0);
	free(got);
	free(piece);
}

static char **read_names(size_t *n)
{
	size_t len, i, count = 0;
	char *text = slurp(th_path("names.txt"), &len), *p, *nl, **names;

	text = realloc(text, len + 1);
	text[len] = '\0';
	for (i = 0; i < len; i++)
		count += text[i] == '\n';
	names = calloc(count + 1, sizeof(*names));
	for (p = text, i = 0; (nl = strchr(p, '\n')); p = nl + 1)
		if (nl > p)
			names[i++] = strndup(p, (size_t)(nl - p));
	*n = i;
	free(text);
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void check_all_layouts(h5fs_chunk_cache *cache, int rounds)
{
	size_t n, i, len;
	char **names;

	fixtures();
	seed_init();
	names = read_names(&n);
	assert_true(n > 80);
	for (i = 0; i < n; i++) {
		struct opened o;
		uint8_t *want = slurp(th_path("%s.bin", names[i]), &len);
		int error = open_reader(&o, th_path("all.h5"), names[i], cache);

		if (error < 0)
			fail_msg("%s: open: %s", names[i], h5fs_error_last()->message);
		check_random_pieces(o.r, names[i], want, len, rounds);
		close_reader(&o);
		free(want);
	}
	free_names(names, n);
	th_assert_no_open_ids();
}

/* Every layout and dtype, with a cache large enough to keep all. */
static void test_reader__layouts(void **state)
{
	h5fs_chunk_cache *cache;

	(void)state;
	th_ok(h5fs_chunk_cache_new(&cache, 64 << 20));
	check_all_layouts(cache, 200);
	h5fs_chunk_cache_free(cache);
}

/*
 * The same without a cache, and with one so small it evicts constantly;
 * chunks found by coordinate, then by raw chunk reads.
 */
static void test_reader__layouts_small_cache(void **state)
{
	h5fs_chunk_cache *cache;
	size_t bytes;

	(void)state;
	/* both ways of finding chunks, whatever the chunk count */
	h5fs__reader_lookup = 1;
	check_all_layouts(NULL, 50);
	h5fs__reader_lookup = 2;
	th_ok(h5fs_chunk_cache_new(&cache, 3000));
	check_all_layouts(cache, 50);
	h5fs__reader_lookup = 0;
	h5fs_chunk_cache_usage(cache, &bytes, NULL);
	assert_true(bytes <= 3000);
	h5fs_chunk_cache_free(cache);
}

/* Contiguous data names its place in the file; nothing else does. */
static void test_reader__extent(void **state)
{
	struct opened o;
	uint64_t at = 0;
	size_t len;
	uint8_t *want, *got;
	h5fs_reader_stats st;

	(void)state;
	fixtures();
	th_ok(open_reader(&o, th_path("all.h5"), "contig_be_f8", NULL));
	th_ok(h5fs_reader_extent(o.r, &at));
	want = slurp(th_path("contig_be_f8.bin"), &len);
	got = malloc(len);
	assert_int_equal(pread(o.fd, got, len, (off_t)at), (ssize_t)len);
	assert_memory_equal(got, want, len);
	h5fs_reader_stats_get(o.r, &st);
	assert_int_equal(st.hdf5_reads, 0);
	free(got);
	free(want);
	close_reader(&o);

	th_ok(open_reader(&o, th_path("all.h5"), "chunk1d_f8", NULL));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_extent(o.r, &at));
	close_reader(&o);
	th_ok(open_reader(&o, th_path("all.h5"), "unalloc", NULL));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_extent(o.r, &at));
	close_reader(&o);
	th_ok(open_reader(&o, th_path("all.h5"), "external", NULL));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_extent(o.r, &at));
	close_reader(&o);
	th_assert_no_open_ids();
}

/* Check that the spans of [off, off + size) hold those bytes of @p want. */
static void check_spans(struct opened *o, const uint8_t *want, size_t len, uint64_t off, size_t size,
			const h5fs_reader_span *sp, size_t n)
{
	uint64_t end = off >= len ? off : (off + size < len ? off + size : len), pos = off;

	for (size_t i = 0; i < n; i++) {
		uint8_t *got = malloc(sp[i].len ? sp[i].len : 1);

		assert_non_null(got);
		assert_true(sp[i].len > 0);
		assert_true(pos + sp[i].len <= end);
		assert_int_equal(pread(o->fd, got, sp[i].len, (off_t)sp[i].file_off), (ssize_t)sp[i].len);
		assert_memory_equal(got, want + pos, sp[i].len);
		pos += sp[i].len;
		free(got);
	}
	assert_int_equal(pos, end);
}

/*
 * Contiguous data, and chunks without filters that hold whole rows, map
 * to file spans holding exactly the image's bytes, one per chunk;
 * anything stored otherwise is refused, so the caller reads it.
 */
static void test_reader__map(void **state)
{
	static const char *const yes[] = { "contig_be_f8", "contig_cmpd", "chunk1d_f8", "chunk1d_cmpd",
					   "chunk1d_i1", "chunk_rows" };
	static const char *const no[] = { "gzip2d_f8", "chunk2d_wide", "chunk3d", "shuffle_only",
					  "unalloc", "compact_f8", "external", "fletcher", "sparse" };
	h5fs_reader_span sp[64];
	struct opened o;
	size_t len, n, i;
	uint8_t *want;

	(void)state;
	fixtures();
	seed_init();
	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		want = slurp(th_path("%s.bin", yes[i]), &len);
		th_ok(open_reader(&o, th_path("all.h5"), yes[i], NULL));
		th_ok(h5fs_reader_map(o.r, 0, len, sp, 64, &n));
		assert_true(n >= 1);
		check_spans(&o, want, len, 0, len, sp, n);
		for (int round = 0; round < 200; round++) {
			uint64_t off = rnd_below(len + 10);
			size_t size = (size_t)rnd_below(len / 3 + 2);

			th_ok(h5fs_reader_map(o.r, off, size, sp, 64, &n));
			check_spans(&o, want, len, off, size, sp, n);
		}
		th_ok(h5fs_reader_map(o.r, len, 100, sp, 64, &n));
		assert_int_equal(n, 0);
		close_reader(&o);
		free(want);
	}
	/* more chunks than room for spans: read it instead */
	th_ok(open_reader(&o, th_path("all.h5"), "chunk1d_f8", NULL));
	th_ok(h5fs_reader_map(o.r, 64 * 8 - 8, 16, sp, 2, &n));
	assert_int_equal(n, 2);
	th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_map(o.r, 64 * 8 - 8, 64 * 8 + 16, sp, 2, &n));
	assert_int_equal(n, 0);
	close_reader(&o);
	/* chunks found by reading them whole have no address to give */
	h5fs__reader_lookup = 2;
	th_ok(open_reader(&o, th_path("all.h5"), "chunk1d_f8", NULL));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_map(o.r, 0, 100, sp, 64, &n));
	close_reader(&o);
	h5fs__reader_lookup = 0;
	/* allocated rows map; a range touching an unallocated chunk does not */
	want = slurp(th_path("sparse_rows.bin"), &len);
	th_ok(open_reader(&o, th_path("all.h5"), "sparse_rows", NULL));
	th_ok(h5fs_reader_map(o.r, 10 * 16 + 3, 10 * 16 - 5, sp, 64, &n));
	assert_int_equal(n, 2);
	check_spans(&o, want, len, 10 * 16 + 3, 10 * 16 - 5, sp, n);
	th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_map(o.r, 0, 10 * 16 + 1, sp, 64, &n));
	th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_map(o.r, 20 * 16 - 1, 2, sp, 64, &n));
	close_reader(&o);
	free(want);
	for (i = 0; i < sizeof(no) / sizeof(*no); i++) {
		th_ok(open_reader(&o, th_path("all.h5"), no[i], NULL));
		th_fails(H5FS_ENOTSUPPORTED, h5fs_reader_map(o.r, 0, 64, sp, 64, &n));
		assert_int_equal(n, 0);
		close_reader(&o);
	}
	th_assert_no_open_ids();
}

/*
 * A file with a user block: libhdf5 1.10 gives chunk addresses without
 * it, so reads by address and mapped spans must add it.
 */
static void test_reader__user_block(void **state)
{
	static const char *const names[] = { "ub_rows", "ub_gzip", "ub_contig" };
	h5fs_reader_span sp[64];
	struct opened o;
	size_t len, n, nread;
	uint8_t *want, *got;

	(void)state;
	fixtures();
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		want = slurp(th_path("%s.bin", names[i]), &len);
		got = malloc(len);
		assert_non_null(got);
		h5fs__reader_lookup = 1;	/* addresses, whatever the chunk count */
		th_ok(open_reader(&o, th_path("ublock.h5"), names[i], NULL));
		th_ok(h5fs_reader_read(o.r, got, len, 0, &nread));
		assert_int_equal(nread, len);
		assert_memory_equal(got, want, len);
		if (strcmp(names[i], "ub_gzip")) {
			th_ok(h5fs_reader_map(o.r, 0, len, sp, 64, &n));
			check_spans(&o, want, len, 0, len, sp, n);
		}
		close_reader(&o);
		h5fs__reader_lookup = 0;
		free(got);
		free(want);
	}
	th_assert_no_open_ids();
}

/* Types without a byte image are refused at open. */
static void test_reader__no_byte_image(void **state)
{
	static const char *names[] = { "vlen", "ragged", "refs" };
	struct opened o;
	size_t i;

	(void)state;
	fixtures();
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		th_fails(H5FS_ENOTSUPPORTED, open_reader(&o, th_path("other.h5"), names[i], NULL));
		assert_null(o.r);
		assert_non_null(strstr(h5fs_error_last()->message, "byte image"));
		close_reader(&o);
	}
	th_assert_no_open_ids();
}

/* A filter libhdf5 lacks: open works, read fails with EIO naming it. */
static void test_reader__missing_filter(void **state)
{
	struct opened o;
	uint8_t buf[64];
	size_t nread = 1;
	int error;

	(void)state;
	fixtures();
	th_ok(open_reader(&o, th_path("other.h5"), "lzf", NULL));
	assert_int_equal(h5fs_reader_size(o.r), 40000);
	error = h5fs_reader_read(o.r, buf, sizeof(buf), 10000, &nread);
	assert_true(error < 0);
	assert_int_equal(nread, 0);
	assert_int_equal(h5fs_error_errno(error), EIO);
	print_message("%s\n", h5fs_error_last()->message);
	if (!strstr(h5fs_error_last()->message, "lzf"))
		fail_msg("message does not name the filter: %s", h5fs_error_last()->message);
	close_reader(&o);
	th_assert_no_open_ids();
}

/* Chunks whose bytes lie: a clear error, never a crash or an overflow. */
static void check_bad_direct_chunks(void)
{
	struct opened o;
	uint8_t buf[400], want[400];
	size_t nread;
	int i;

	th_ok(open_reader(&o, th_path("other.h5"), "direct", NULL));
	/* decompresses to 500 bytes, not 400 */
	th_fails(H5FS_ECORRUPT, h5fs_reader_read(o.r, buf, 4, 0, &nread));
	assert_non_null(strstr(h5fs_error_last()->message, "chunk [0]"));
	/* 800 bytes */
	th_fails(H5FS_ECORRUPT, h5fs_reader_read(o.r, buf, 4, 400, &nread));
	/* not zlib at all */
	th_fails(H5FS_ECORRUPT, h5fs_reader_read(o.r, buf, 4, 800, &nread));
	assert_int_equal(h5fs_error_errno(H5FS_ECORRUPT), EIO);
	/* a good chunk beside them still reads */
	th_ok(h5fs_reader_read(o.r, buf, 400, 1200, &nread));
	assert_int_equal(nread, 400);
	for (i = 0; i < 100; i++)
		memcpy(want + 4 * i, &i, 4);
	assert_memory_equal(buf, want, 400);
	/* unwritten chunks read as the fill value (0) */
	th_ok(h5fs_reader_read(o.r, buf, 400, 2000, &nread));
	memset(want, 0, sizeof(want));
	assert_memory_equal(buf, want, 400);
	close_reader(&o);
	th_assert_no_open_ids();
}

static void test_reader__bad_direct_chunks(void **state)
{
	(void)state;
	fixtures();
	for (h5fs__reader_lookup = 1; h5fs__reader_lookup <= 2; h5fs__reader_lookup++)
		check_bad_direct_chunks();
	h5fs__reader_lookup = 0;
}

/* Find the file offset of the first chunk of a dataset. */
static uint64_t first_chunk_addr(const char *path, const char *name, uint64_t *size)
{
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d;
	hsize_t origin[1] = { 0 }, sz = 0;
	haddr_t addr = HADDR_UNDEF;
	unsigned mask;

	assert_true(f >= 0);
	d = H5Dopen2(f, name, H5P_DEFAULT);
	assert_true(d >= 0);
	assert_true(H5Dget_chunk_info_by_coord(d, origin, &mask, &addr, &sz) >= 0);
	H5Dclose(d);
	H5Fclose(f);
	*size = sz;
	return addr;
}

/* Damage bytes of a copy and read: error, not crash. */
static void check_corrupted(const char *name, int stride)
{
	const char *copy = th_path("corrupt-%s-%d.h5", name, h5fs__reader_lookup);
	uint64_t addr, size, k;
	struct opened o;
	uint8_t buf[4096];
	size_t nread, len;
	char *data;
	FILE *f;
	int error;

	data = slurp(th_path("other.h5"), &len);
	addr = first_chunk_addr(th_path("other.h5"), name, &size);
	assert_true(addr + size <= len);
	for (k = 16; k + 16 < size; k += (uint64_t)stride)
		data[addr + k] ^= 0x5a;
	f = fopen(copy, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	free(data);

	th_ok(open_reader(&o, copy, name, NULL));
	error = h5fs_reader_read(o.r, buf, sizeof(buf), 100, &nread);
	if (error != H5FS_ECORRUPT)
		fail_msg("%s: read of a damaged chunk gave %d (%s)", name, error, h5fs_error_last()->message);
	print_message("%s: %s\n", name, h5fs_error_last()->message);
	/* the second chunk is intact */
	th_ok(h5fs_reader_read(o.r, buf, 8, 80000, &nread));
	assert_int_equal(nread, 8);
	assert_int_equal(((int64_t *)buf)[0], 10000);
	close_reader(&o);
}

static void test_reader__corrupt_chunks(void **state)
{
	(void)state;
	fixtures();
	for (h5fs__reader_lookup = 1; h5fs__reader_lookup <= 2; h5fs__reader_lookup++) {
		check_corrupted("gzip", 97);
		check_corrupted("fletcher", 1001);
	}
	h5fs__reader_lookup = 0;
	th_assert_no_open_ids();
}

/* A file cut short inside the data. */
static void test_reader__truncated(void **state)
{
	const char *copy;
	struct opened o, o2;
	uint64_t addr, size;
	uint8_t buf[64];
	size_t nread;

	(void)state;
	fixtures();
	copy = th_path("truncated.h5");
	th_python("import shutil; shutil.copy(sys.argv[1] + '/other.h5', '%s')", copy);
	addr = first_chunk_addr(copy, "fletcher", &size);
	th_ok(open_reader(&o, copy, "fletcher", NULL));
	h5fs__reader_lookup = 2;
	th_ok(open_reader(&o2, copy, "fletcher", NULL));
	h5fs__reader_lookup = 0;
	assert_int_equal(truncate(copy, (off_t)(addr + size / 2)), 0);
	th_fails(H5FS_ECORRUPT, h5fs_reader_read(o.r, buf, sizeof(buf), 0, &nread));
	print_message("%s\n", h5fs_error_last()->message);
	th_fails(H5FS_ECORRUPT, h5fs_reader_read(o2.r, buf, sizeof(buf), 0, &nread));
	print_message("%s\n", h5fs_error_last()->message);
	close_reader(&o);
	close_reader(&o2);
	th_assert_no_open_ids();
}

/* The cache stays under its size, hits on re-reads, and forgets on request. */
static void test_reader__cache(void **state)
{
	h5fs_chunk_cache *cache;
	h5fs_reader_stats st;
	struct opened o;
	uint8_t buf[8000];
	size_t nread, bytes, entries;

	(void)state;
	fixtures();
	/* room for 3 chunks of 8000 bytes (gzip1d: 1000 doubles a chunk) */
	th_ok(h5fs_chunk_cache_new(&cache, 3 * (8000 + 200)));
	th_ok(open_reader(&o, th_path("all.h5"), "gzip1d", cache));
	th_ok(h5fs_reader_read(o.r, buf, 8000, 0, &nread));
	th_ok(h5fs_reader_read(o.r, buf, 8000, 8000, &nread));
	th_ok(h5fs_reader_read(o.r, buf, 8000, 0, &nread));
	h5fs_reader_stats_get(o.r, &st);
	assert_int_equal(st.chunks_touched, 3);
	assert_int_equal(st.chunks_decoded, 2);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(((double *)buf)[999], 999.0);
	/* ten chunks: the cache keeps three */
	for (int i = 0; i < 10; i++)
		th_ok(h5fs_reader_read(o.r, buf, 8, (uint64_t)i * 8000, &nread));
	h5fs_chunk_cache_usage(cache, &bytes, &entries);
	assert_int_equal(entries, 3);
	assert_true(bytes <= 3 * (8000 + 200));
	h5fs_reader_invalidate(o.r);
	h5fs_chunk_cache_usage(cache, &bytes, &entries);
	assert_int_equal(entries, 0);
	assert_int_equal(bytes, 0);
	close_reader(&o);
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/* A 4 KiB read in the middle of a 256 MiB dataset touches one chunk. */
static void test_reader__small_read_large_dataset(void **state)
{
	static const char *names[] = { "plain", "gzip" };
	h5fs_chunk_cache *cache;
	h5fs_reader_stats st;
	struct opened o;
	double buf[512];
	size_t nread, i, k;
	uint64_t off;

	(void)state;
	th_require_h5py();
	if (th_python("n = 32 * 1024 * 1024\n"
		      "with h5py.File(sys.argv[1] + '/large.h5', 'w') as f:\n"
		      "    f.create_dataset('plain', data=np.arange(n, dtype='<f8'), chunks=(131072,))\n"
		      "    g = f.create_dataset('gzip', shape=(n // 4,), dtype='<f8', chunks=(131072,),\n"
		      "                         compression='gzip', compression_opts=1)\n"
		      "    for s in range(0, n // 4, 4 * 131072):\n"
		      "        g[s:s + 4 * 131072] = np.arange(s, s + 4 * 131072, dtype='<f8')\n") != 0)
		fail_msg("cannot write large.h5");
	th_ok(h5fs_chunk_cache_new(&cache, 16 << 20));
	for (k = 0; k < 2; k++) {
		th_ok(open_reader(&o, th_path("large.h5"), names[k], cache));
		off = h5fs_reader_size(o.r) / 2 + 4096 * 3;
		th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), off, &nread));
		assert_int_equal(nread, sizeof(buf));
		for (i = 0; i < 512; i++)
			if (buf[i] != (double)(off / 8 + i))
				fail_msg("%s: element %zu wrong", names[k], i);
		h5fs_reader_stats_get(o.r, &st);
		print_message("%s: size %llu, bytes read %llu, chunks touched %llu, decoded %llu\n", names[k],
			      (unsigned long long)h5fs_reader_size(o.r), (unsigned long long)st.bytes_read,
			      (unsigned long long)st.chunks_touched, (unsigned long long)st.chunks_decoded);
		assert_int_equal(st.chunks_touched, 1);
		assert_true(st.bytes_read <= (1 << 20) + 4096);
		assert_int_equal(st.hdf5_reads, 0);
		if (k == 0)
			assert_int_equal(st.bytes_read, sizeof(buf));
		else
			assert_int_equal(st.chunks_decoded, 1);
		close_reader(&o);
	}
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/* Chunks over H5FS_READER_MAX_CHUNK are never decoded whole by us. */
static void test_reader__huge_chunks(void **state)
{
	static const char *names[] = { "plain", "gzip", "scaleoffset" };
	h5fs_reader_stats st;
	struct opened o;
	double buf[1000];
	size_t nread, i, k;
	uint64_t offs[4] = { 8, 8 * 8998000ULL, 8 * 4000000ULL + 3, 8 * 9500000ULL }, off;
	int j;

	(void)state;
	th_require_h5py();
	if (th_python("n = 9600000; c = 9000000\n"
		      "with h5py.File(sys.argv[1] + '/huge.h5', 'w') as f:\n"
		      "    f.create_dataset('plain', data=np.arange(n, dtype='<f8'), chunks=(c,))\n"
		      "    f.create_dataset('gzip', data=np.arange(n, dtype='<f8'), chunks=(c,),\n"
		      "                     compression='gzip', compression_opts=1)\n"
		      "    f.create_dataset('scaleoffset', data=np.arange(n, dtype='<f8'), chunks=(c,),\n"
		      "                     scaleoffset=0)\n") != 0)
		fail_msg("cannot write huge.h5");
	for (k = 0; k < 3; k++) {
		th_ok(open_reader(&o, th_path("huge.h5"), names[k], NULL));
		for (j = 0; j < 4; j++) {
			off = offs[j];
			if (j == 3) {
				/* only the first chunk so far: nothing decoded whole */
				h5fs_reader_stats_get(o.r, &st);
				assert_int_equal(st.chunks_decoded, 0);
				assert_true(st.bytes_read <= 3 * sizeof(buf) + 64);
			}
			th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), off, &nread));
			assert_int_equal(nread, sizeof(buf));
			for (i = 0; i + 1 < 1000; i++) {
				double want = (double)((off + 7) / 8 + i);

				if (off % 8 == 0 && buf[i] != (double)(off / 8 + i))
					fail_msg("%s: element %zu at %llu wrong", names[k], i, (unsigned long long)off);
				if (off % 8 != 0 && memcmp((uint8_t *)buf + 8 * i + 5, &want, 8))
					fail_msg("%s: unaligned element %zu wrong", names[k], i);
			}
		}
		/* the edge chunk's in-extent part (4.8 MB) is small enough to hold */
		h5fs_reader_stats_get(o.r, &st);
		print_message("%s: bytes read %llu, touched %llu, decoded %llu, hdf5 reads %llu\n", names[k],
			      (unsigned long long)st.bytes_read, (unsigned long long)st.chunks_touched,
			      (unsigned long long)st.chunks_decoded, (unsigned long long)st.hdf5_reads);
		close_reader(&o);
	}
	th_assert_no_open_ids();
}

struct thread_job {
	h5fs_reader *r[4];
	const uint8_t *want[4];
	size_t len[4];
	uint64_t seed;
	int failed;
	char msg[200];
};

static void *thread_main(void *arg)
{
	struct thread_job *job = arg;
	uint64_t st = job->seed | 1;
	uint8_t *buf = malloc(1 << 16);
	size_t nread;
	int i;

	for (i = 0; i < 3000 && !job->failed; i++) {
		int d;
		uint64_t off, sz;

		st ^= st >> 12;
		st ^= st << 25;
		st ^= st >> 27;
		d = (int)((st * 0x2545f4914f6cdd1dULL) >> 33) % 4;
		off = ((st * 0x9e3779b97f4a7c15ULL) >> 20) % job->len[d];
		sz = 1 + ((st * 0xbf58476d1ce4e5b9ULL) >> 40) % (1 << 16);
		if (h5fs_reader_read(job->r[d], buf, (size_t)sz, off, &nread) < 0) {
			job->failed = 1;
			snprintf(job->msg, sizeof(job->msg), "read failed: %s", h5fs_error_last()->message);
		} else if (nread != (sz < job->len[d] - off ? sz : job->len[d] - off) ||
			   memcmp(buf, job->want[d] + off, nread)) {
			job->failed = 1;
			snprintf(job->msg, sizeof(job->msg), "dataset %d: bytes differ at %llu+%llu", d,
				 (unsigned long long)off, (unsigned long long)sz);
		}
	}
	free(buf);
	return NULL;
}

/* Four threads on four readers (two of one dataset) sharing a small cache. */
static void test_reader__threads(void **state)
{
	static const char *names[4] = { "gzip2d_cmpd", "chunk3d", "scaleoff_float", "gzip2d_cmpd" };
	struct opened o[4];
	struct thread_job job[4];
	pthread_t tid[4];
	h5fs_chunk_cache *cache;
	uint8_t *want[4];
	size_t len[4];
	int i, j;

	(void)state;
	fixtures();
	seed_init();
	th_ok(h5fs_chunk_cache_new(&cache, 20000));
	for (i = 0; i < 4; i++) {
		want[i] = slurp(th_path("%s.bin", names[i]), &len[i]);
		th_ok(open_reader(&o[i], th_path("all.h5"), names[i], cache));
	}
	for (i = 0; i < 4; i++) {
		memset(&job[i], 0, sizeof(job[i]));
		for (j = 0; j < 4; j++) {
			job[i].r[j] = o[j].r;
			job[i].want[j] = want[j];
			job[i].len[j] = len[j];
		}
		job[i].seed = seed + (uint64_t)i * 7919;
		assert_int_equal(pthread_create(&tid[i], NULL, thread_main, &job[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < 4; i++)
		if (job[i].failed)
			fail_msg("thread %d (seed %llu): %s", i, (unsigned long long)seed, job[i].msg);
	for (i = 0; i < 4; i++) {
		close_reader(&o[i]);
		free(want[i]);
	}
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/* Concurrent requests for one chunk decode it once. */
struct same_chunk_job {
	h5fs_reader *r;
	pthread_barrier_t *start;
	int index;
	int rounds;
	int failed;
};

static void *same_chunk_main(void *arg)
{
	struct same_chunk_job *job = arg;
	int64_t buf[512];
	size_t nread;
	int k;

	for (k = 0; k < job->rounds; k++) {
		/* chunk k of /gzip (10000 int64 a chunk), a different piece each */
		uint64_t first = (uint64_t)k * 10000 + (uint64_t)job->index * 2000;

		pthread_barrier_wait(job->start);
		if (h5fs_reader_read(job->r, buf, sizeof(buf), first * 8, &nread) < 0 ||
		    nread != sizeof(buf) || buf[0] != (int64_t)first || buf[511] != (int64_t)first + 511)
			job->failed = 1;
		pthread_barrier_wait(job->start);
	}
	return NULL;
}

static void test_reader__same_chunk_once(void **state)
{
	struct same_chunk_job job[4];
	pthread_barrier_t start;
	pthread_t tid[4];
	h5fs_chunk_cache *cache;
	h5fs_reader_stats st;
	struct opened o;
	int i, rounds = 10;

	(void)state;
	fixtures();
	th_ok(h5fs_chunk_cache_new(&cache, 16 << 20));
	/* the counts below are the foreground's: no prefetching */
	h5fs__reader_prefetch = 0;
	i = open_reader(&o, th_path("other.h5"), "gzip", cache);
	h5fs__reader_prefetch = H5FS__PREFETCH_AHEAD;
	th_ok(i);
	pthread_barrier_init(&start, NULL, 4);
	for (i = 0; i < 4; i++) {
		job[i].r = o.r;
		job[i].start = &start;
		job[i].index = i;
		job[i].rounds = rounds;
		job[i].failed = 0;
		assert_int_equal(pthread_create(&tid[i], NULL, same_chunk_main, &job[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < 4; i++)
		assert_false(job[i].failed);
	h5fs_reader_stats_get(o.r, &st);
	print_message("%d rounds of 4 threads: %llu touched, %llu decoded, %llu hits\n", rounds,
		      (unsigned long long)st.chunks_touched, (unsigned long long)st.chunks_decoded,
		      (unsigned long long)st.cache_hits);
	assert_int_equal(st.chunks_touched, 4 * rounds);
	assert_int_equal(st.chunks_decoded, rounds);
	assert_int_equal(st.cache_hits, 3 * rounds);
	close_reader(&o);
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/* ---- prefetching --------------------------------------------------------- */

/*
 * pf.h5: datasets whose byte image is arange(n) as <f8, in the layouts
 * the prefetcher meets: 1-D gzip (with shuffle and fletcher32), 1-D
 * unfiltered (read straight from the file: the prefetcher only hints),
 * 2-D unfiltered short rows (cached whole), 2-D gzip whose image rows
 * cross 16 chunks, and a 1-D gzip dataset with an edge chunk.
 */
static const char *pf_names[] = { "gzip", "gzip_sf", "plain", "short2d", "gzip2d", "edge" };
#define PF_N (sizeof(pf_names) / sizeof(pf_names[0]))

static void pf_fixture(void)
{
	static int made;

	th_require_h5py();
	if (made)
		return;
	if (th_python("n = 64 * 16384\n"
		      "a = np.arange(n, dtype='<f8')\n"
		      "with h5py.File(sys.argv[1] + '/pf.h5', 'w') as f:\n"
		      "    f.create_dataset('gzip', data=a, chunks=(16384,), compression='gzip', compression_opts=1)\n"
		      "    f.create_dataset('gzip_sf', data=a, chunks=(16384,), compression='gzip', shuffle=True,\n"
		      "                     fletcher32=True)\n"
		      "    f.create_dataset('plain', data=a, chunks=(16384,))\n"
		      "    f.create_dataset('short2d', data=a.reshape(1024, 1024), chunks=(128, 128))\n"
		      "    f.create_dataset('gzip2d', data=a.reshape(1024, 1024), chunks=(256, 64), compression='gzip')\n"
		      "    f.create_dataset('edge', data=np.arange(1000003, dtype='<f8'), chunks=(65536,),\n"
		      "                     compression='gzip')\n") != 0)
		fail_msg("cannot write pf.h5");
	made = 1;
}

/* Whether the 8-byte-aligned @p len bytes at image byte @p off read as arange. */
static int pf_check(const uint8_t *buf, size_t len, uint64_t off)
{
	size_t i;
	double v;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&v, buf + i, 8);
		if (v != (double)((off + i) / 8))
			return 0;
	}
	return 1;
}

/* Read @p r front to back in @p block byte requests; 0 when all are right. */
/*
 * Read the whole image in @p block pieces and check it.  With @p settle,
 * wait after each read until the prefetches it queued are done, so what
 * prefetching achieves does not depend on how the threads were scheduled
 * (on a loaded machine the reads could otherwise outrun the workers).
 */
static int pf_read_all_settled(h5fs_reader *r, size_t block, h5fs_chunk_cache *settle)
{
	uint8_t *buf = malloc(block);
	uint64_t off, size = h5fs_reader_size(r);
	size_t nread;
	int bad = 0;

	assert_non_null(buf);
	for (off = 0; off < size && !bad; off += nread) {
		if (h5fs_reader_read(r, buf, block, off, &nread) < 0) {
			print_message("read at %llu: %s\n", (unsigned long long)off, h5fs_error_last()->message);
			bad = 1;
		} else if (nread == 0 || !pf_check(buf, nread, off)) {
			print_message("bytes differ at %llu\n", (unsigned long long)off);
			bad = 1;
		}
		if (settle)
			h5fs__chunk_cache_idle(settle);
	}
	free(buf);
	return bad;
}

static int pf_read_all(h5fs_reader *r, size_t block)
{
	return pf_read_all_settled(r, block, NULL);
}

/* The chunks of the open dataset @p o (for counting decodes). */
static uint64_t pf_nchunks(const char *name)
{
	if (!strcmp(name, "edge"))
		return 1000003 / 65536 + 1;
	if (!strcmp(name, "gzip2d"))
		return 4 * 16;
	return 64;
}

/* Sequential reads prefetch, give the same bytes, and decode each chunk once. */
static void test_reader__prefetch_sequential(void **state)
{
	h5fs_chunk_cache *cache;
	h5fs_reader_stats st;
	struct opened o;
	size_t k;
	int lookup;

	(void)state;
	pf_fixture();
	th_ok(h5fs_chunk_cache_new(&cache, 64 << 20));
	/* few chunks: by coordinate and pread; then H5Dread_chunk */
	for (lookup = 1; lookup <= 2; lookup++) {
		h5fs__reader_lookup = lookup;
		for (k = 0; k < PF_N; k++) {
			th_ok(open_reader(&o, th_path("pf.h5"), pf_names[k], cache));
			if (pf_read_all_settled(o.r, 131072, cache))
				fail_msg("%s (lookup %d): wrong bytes", pf_names[k], lookup);
			h5fs__chunk_cache_idle(cache);
			h5fs_reader_stats_get(o.r, &st);
			print_message("%-8s lookup %d: %llu touched, %llu decoded, %llu hits, %llu prefetched\n",
				      pf_names[k], lookup, (unsigned long long)st.chunks_touched,
				      (unsigned long long)st.chunks_decoded, (unsigned long long)st.cache_hits,
				      (unsigned long long)st.prefetched);
			if (st.prefetched == 0)
				fail_msg("%s (lookup %d): nothing prefetched", pf_names[k], lookup);
			if (strncmp(pf_names[k], "gzip", 4) == 0 || !strcmp(pf_names[k], "edge")) {
				/* a decode per chunk, never two: prefetch and reads share it */
				assert_int_equal(st.chunks_decoded, pf_nchunks(pf_names[k]));
				assert_true(st.cache_hits > 0);
			}
			/* a second pass is served from the cache (64 MiB holds it) */
			if (strcmp(pf_names[k], "plain") || lookup == 2) {
				uint64_t decoded = st.chunks_decoded;

				assert_int_equal(pf_read_all(o.r, 65536), 0);
				h5fs__chunk_cache_idle(cache);
				h5fs_reader_stats_get(o.r, &st);
				assert_int_equal(st.chunks_decoded, decoded);
			}
			close_reader(&o);
			h5fs_chunk_cache_clear(cache);
		}
	}
	h5fs__reader_lookup = 0;
	assert_true(h5fs__chunk_cache_workers(cache) > 0);
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/* Jumps around the dataset prefetch nothing; the bytes stay right. */
static void test_reader__prefetch_random(void **state)
{
	h5fs_chunk_cache *cache;
	h5fs_reader_stats st;
	struct opened o;
	uint8_t buf[65536];
	uint64_t off, last_end = 0, size;
	size_t nread, k;
	int i, reads;

	(void)state;
	pf_fixture();
	seed_init();
	th_ok(h5fs_chunk_cache_new(&cache, 64 << 20));
	for (k = 0; k < PF_N; k++) {
		th_ok(open_reader(&o, th_path("pf.h5"), pf_names[k], cache));
		size = h5fs_reader_size(o.r);
		/* a new reader's stream starts at 0 */
		last_end = 0;
		for (i = 0, reads = 0; i < 200; i++) {
			off = rnd_below(size / 8) * 8;
			/* more than 1 MiB (and a chunk) from where the last read ended */
			if (off + (2 << 20) > last_end && off < last_end + (2 << 20))
				continue;
			th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), off, &nread));
			if (!pf_check(buf, nread, off))
				fail_msg("%s (seed %llu): bytes differ at %llu", pf_names[k],
					 (unsigned long long)seed, (unsigned long long)off);
			last_end = off + nread;
			reads++;
		}
		h5fs__chunk_cache_idle(cache);
		h5fs_reader_stats_get(o.r, &st);
		print_message("%-8s %d random reads: %llu touched, %llu decoded, %llu prefetched\n", pf_names[k],
			      reads, (unsigned long long)st.chunks_touched, (unsigned long long)st.chunks_decoded,
			      (unsigned long long)st.prefetched);
		assert_true(reads > 10);
		assert_int_equal(st.prefetched, 0);
		close_reader(&o);
		h5fs_chunk_cache_clear(cache);
	}
	/* nothing ever needed a worker */
	assert_int_equal(h5fs__chunk_cache_workers(cache), 0);
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/* Threads taking the next block of one stream, as FUSE workers do. */
struct pf_stream {
	h5fs_reader *r;
	_Atomic uint64_t next;
	size_t block;
	atomic_int failed;
};

static void *pf_stream_main(void *arg)
{
	struct pf_stream *p = arg;
	uint8_t *buf = malloc(p->block);
	uint64_t size = h5fs_reader_size(p->r), off;
	size_t nread;

	if (!buf) {
		atomic_store(&p->failed, 1);
		return NULL;
	}
	while ((off = atomic_fetch_add(&p->next, 1) * p->block) < size) {
		if (h5fs_reader_read(p->r, buf, p->block, off, &nread) < 0 || !nread ||
		    !pf_check(buf, nread, off))
			atomic_store(&p->failed, 1);
	}
	free(buf);
	return NULL;
}

/*
 * Concurrent readers: three streams (two on one reader, one on a reader
 * of the same dataset, so they share cached chunks) plus random reads, on
 * a cache that holds a few chunks only.
 */
static void test_reader__prefetch_threads(void **state)
{
	static const char *names[] = { "gzip", "gzip2d", "short2d" };
	h5fs_chunk_cache *cache;
	struct opened o[2];
	struct pf_stream stream[2];
	pthread_t tid[6];
	size_t k;
	int i, j;

	(void)state;
	pf_fixture();
	/* 16 chunks of 128 KiB: prefetches evict each other under pressure */
	th_ok(h5fs_chunk_cache_new(&cache, 16 * (131072 + 256)));
	for (k = 0; k < 3; k++) {
		for (j = 0; j < 2; j++) {
			th_ok(open_reader(&o[j], th_path("pf.h5"), names[k], cache));
			stream[j].r = o[j].r;
			atomic_init(&stream[j].next, 0);
			stream[j].block = j ? 65536 + 8 : 131072;
			atomic_init(&stream[j].failed, 0);
		}
		for (i = 0; i < 6; i++) {
			/* threads 0-3 on stream 0 (as four FUSE workers), 4-5 on stream 1 */
			assert_int_equal(pthread_create(&tid[i], NULL, pf_stream_main, &stream[i < 4 ? 0 : 1]), 0);
		}
		/* meanwhile random reads on stream 0's reader */
		for (i = 0; i < 300; i++) {
			uint8_t buf[4096];
			uint64_t off = rnd_below(h5fs_reader_size(o[0].r));
			size_t nread;

			th_ok(h5fs_reader_read(o[0].r, buf, sizeof(buf), off, &nread));
			/* compare whole elements only */
			if (nread > 16 && !pf_check(buf + (8 - off % 8) % 8, nread - 8, off + (8 - off % 8) % 8))
				fail_msg("%s: random read at %llu differs", names[k], (unsigned long long)off);
		}
		for (i = 0; i < 6; i++)
			pthread_join(tid[i], NULL);
		for (j = 0; j < 2; j++) {
			if (atomic_load(&stream[j].failed))
				fail_msg("%s: stream %d read wrong bytes", names[k], j);
			close_reader(&o[j]);
		}
	}
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/*
 * Readers freed (and their files closed) while their prefetches are
 * queued or running, sometimes with the HDF5 lock held as the daemon
 * holds it; datasets invalidated in between.  Under ASan and TSan this
 * is the use-after-free and race check.
 */
static void test_reader__prefetch_free_in_flight(void **state)
{
	h5fs_chunk_cache *cache;
	struct opened o;
	uint8_t buf[131072];
	size_t nread, bytes, entries;
	int i;

	(void)state;
	pf_fixture();
	seed_init();
	th_ok(h5fs_chunk_cache_new(&cache, 64 << 20));
	for (i = 0; i < 60; i++) {
		const char *name = pf_names[i % PF_N];
		uint64_t off = (uint64_t)(i % 3) * 131072;

		th_ok(open_reader(&o, th_path("pf.h5"), name, cache));
		/* sequential from the start: prefetches queued */
		th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), 0, &nread));
		th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), nread, &nread));
		if (i % 4 == 1) {
			h5fs_reader_invalidate(o.r);
			th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), off, &nread));
			if (!pf_check(buf, nread, off))
				fail_msg("%s: bytes differ after invalidate", name);
		}
		if (i % 2) {
			/* as the daemon's idle close: lock held, then close the file */
			h5fs_hdf5_lock();
			h5fs_reader_free(o.r);
			H5Fclose(o.file);
			h5fs_hdf5_unlock();
			close(o.fd);
		} else {
			close_reader(&o);
		}
		if (i % 10 == 9)
			h5fs_chunk_cache_clear(cache);
	}
	/* the cache may be freed while stale tasks still wait for the lock */
	h5fs_chunk_cache_free(cache);

	/* invalidate while prefetches run: what stays cached is right */
	th_ok(h5fs_chunk_cache_new(&cache, 64 << 20));
	th_ok(open_reader(&o, th_path("pf.h5"), "gzip", cache));
	for (i = 0; i < 20; i++) {
		th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), (uint64_t)i * sizeof(buf), &nread));
		h5fs_reader_invalidate(o.r);
	}
	h5fs__chunk_cache_idle(cache);
	assert_int_equal(pf_read_all(o.r, 131072), 0);
	close_reader(&o);
	h5fs__chunk_cache_idle(cache);
	h5fs_chunk_cache_usage(cache, &bytes, &entries);
	print_message("after free: %zu chunks cached, %zu bytes\n", entries, bytes);
	h5fs_chunk_cache_free(cache);
	th_assert_no_open_ids();
}

/* Argument checks and the empty cases. */
static void test_reader__arguments(void **state)
{
	struct opened o;
	uint8_t buf[8];
	size_t nread = 5;

	(void)state;
	fixtures();
	th_fails(H5FS_EINVALID, h5fs_reader_open(NULL, 0, 0, NULL));
	th_ok(open_reader(&o, th_path("all.h5"), "null", NULL));
	assert_int_equal(h5fs_reader_size(o.r), 0);
	th_ok(h5fs_reader_read(o.r, buf, sizeof(buf), 0, &nread));
	assert_int_equal(nread, 0);
	th_fails(H5FS_EINVALID, h5fs_reader_read(o.r, NULL, 8, 0, &nread));
	close_reader(&o);
	h5fs_reader_free(NULL);
	h5fs_chunk_cache_free(NULL);
	th_assert_no_open_ids();
}

/*
 * The real files of the shared corpus: every dataset the reader opens
 * reads back as H5Dread() of the whole dataset (in its file type, n-bit
 * integers widened as h5py reads them) does.
 * Each file is read in a forked child with a time limit, so a crash is
 * reported against its file; files whose tags say libhdf5 itself crashes
 * or hangs on them are left out.
 */
struct corpus_walk {
	int phase;
	hid_t file;
	int fd;
	h5fs_chunk_cache *cache;
	int datasets;
	int compared;
	int unopened;
	int both_fail;
	int bad;
};

static void corpus_phase(const struct corpus_walk *w, char c)
{
	if (write(w->phase, &c, 1) != 1)
		_exit(1);
}

static int corpus_dataset(struct corpus_walk *w, const char *name)
{
	h5fs_reader *r = NULL;
	hid_t d, ftype, mtype;
	uint64_t size;
	uint8_t *want = NULL, *got = NULL;
	size_t nread, pos, sz;
	int ref_ok, ours_ok = 1, error;

	if ((d = H5Dopen2(w->file, name, H5P_DEFAULT)) < 0)
		return 0;
	w->datasets++;
	corpus_phase(w, 'r');
	error = h5fs_reader_open(&r, d, w->fd, w->cache);
	corpus_phase(w, 'h');
	if (error < 0) {
		w->unopened++;
		H5Dclose(d);
		return 0;
	}
	size = h5fs_reader_size(r);
	if (size > (64u << 20)) {
		printf("  %s: %llu bytes, skipped\n", name, (unsigned long long)size);
		goto out;
	}
	want = calloc(1, size ? (size_t)size : 1);
	got = calloc(1, size ? (size_t)size : 1);
	ftype = H5Dget_type(d);
	/* as h5py reads it: n-bit integers sign-extended to their full size */
	if (h5fs_dtype_widened(&mtype, ftype) <= 0)
		mtype = H5Tcopy(ftype);
	ref_ok = mtype >= 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, want) >= 0;
	H5Eclear2(H5E_DEFAULT);
	H5Tclose(mtype);
	H5Tclose(ftype);
	corpus_phase(w, 'r');
	for (pos = 0; pos < size && ours_ok; pos += nread) {
		sz = 1 + (size_t)rnd_below(size / 3 + 4096);
		if (h5fs_reader_read(r, got + pos, sz, pos, &nread) < 0 || nread == 0)
			ours_ok = 0;
	}
	if (ref_ok && ours_ok && memcmp(want, got, (size_t)size)) {
		for (pos = 0; want[pos] == got[pos]; pos++)
			;
		printf("  %s: MISMATCH at byte %zu of %llu\n", name, pos, (unsigned long long)size);
		w->bad++;
	} else if (ref_ok && !ours_ok) {
		printf("  %s: H5Dread works but the reader fails: %s\n", name, h5fs_error_last()->message);
		w->bad++;
	} else if (!ref_ok && ours_ok) {
		printf("  %s: H5Dread fails but the reader reads %llu bytes\n", name, (unsigned long long)size);
	} else if (!ours_ok) {
		if (!w->both_fail++)
			printf("  %s: both fail; ours: %s\n", name, h5fs_error_last()->message);
	} else {
		w->compared++;
	}
	corpus_phase(w, 'h');
out:
	free(want);
	free(got);
	h5fs_reader_free(r);
	H5Dclose(d);
	return 0;
}

static herr_t corpus_visit_cb(hid_t obj, const char *name, const H5O_info_t *info, void *payload)
{
	(void)obj;
	if (info->type == H5O_TYPE_DATASET)
		corpus_dataset(payload, name);
	return 0;
}

/* Exit code of a child that read wrong bytes. */
#define CORPUS_WRONG 3

/*
 * @p phase gets 'r' while the reader runs and 'h' while the test calls
 * libhdf5 itself (open, visit, the reference read), so that the parent
 * can tell libhdf5 failing on a hostile file (a case for the daemon's
 * forked indexer) from the reader failing.
 */
static int corpus_child(const char *path, int phase)
{
	struct corpus_walk w;

	memset(&w, 0, sizeof(w));
	w.phase = phase;
	alarm(120);
	corpus_phase(&w, 'h');
	if ((w.fd = open(path, O_RDONLY)) < 0 || (w.file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		printf("  not opened\n");
		return 0;
	}
	h5fs_chunk_cache_new(&w.cache, 8 << 20);
	H5Ovisit2(w.file, H5_INDEX_NAME, H5_ITER_NATIVE, corpus_visit_cb, &w, H5O_INFO_BASIC);
	H5Eclear2(H5E_DEFAULT);
	printf("  %d datasets: %d read back identical, %d without a byte image, %d failing in both, %d wrong\n",
	       w.datasets, w.compared, w.unopened, w.both_fail, w.bad);
	h5fs_chunk_cache_free(w.cache);
	H5Fclose(w.file);
	close(w.fd);
	return w.bad ? CORPUS_WRONG : 0;
}

static void test_reader__corpus(void **state)
{
	const char *root = getenv("H5FS_CORPUS") ? getenv("H5FS_CORPUS") : "../shared/corpus";
	char *manifest, *line = NULL, *path;
	size_t cap = 0;
	FILE *m;
	int failures = 0, files = 0;

	(void)state;
	seed_init();
	if (asprintf(&manifest, "%s/MANIFEST.tsv", root) < 0)
		fail();
	if (!(m = fopen(manifest, "r"))) {
		free(manifest);
		print_message("corpus not found at %s (set H5FS_CORPUS): skipped\n", root);
		skip();
		return;
	}
	free(manifest);
	while (getline(&line, &cap, m) > 0) {
		char *tab = strchr(line, '\t');
		pid_t pid;
		int status, phase[2];
		char c, last;

		if (!tab || !strncmp(line, "file\t", 5))
			continue;
		*tab = '\0';
		if (strstr(tab + 1, "segfault") || strstr(tab + 1, "_abort") || strstr(tab + 1, "_fpe") ||
		    strstr(tab + 1, "_timeout"))
			continue;
		if (asprintf(&path, "%s/files/%s", root, line) < 0)
			fail();
		printf("%s\n", line);
		fflush(stdout);
		files++;
		assert_int_equal(pipe(phase), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int rc;

			close(phase[0]);
			/* crash for real: cmocka's handlers belong to the parent */
			signal(SIGSEGV, SIG_DFL);
			signal(SIGBUS, SIG_DFL);
			signal(SIGILL, SIG_DFL);
			signal(SIGFPE, SIG_DFL);
			signal(SIGABRT, SIG_DFL);
			rc = corpus_child(path, phase[1]);
			fflush(stdout);
			_exit(rc);
		}
		close(phase[1]);
		last = 0;
		while (read(phase[0], &c, 1) == 1)
			last = c;
		close(phase[0]);
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			/* fine */
		} else if (last == 'h' && !(WIFEXITED(status) && WEXITSTATUS(status) == CORPUS_WRONG)) {
			printf("  libhdf5 itself fails outside the reader (%s): not the reader's case\n",
			       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exit");
		} else {
			printf("  FAILED: %s\n", WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) :
			       WEXITSTATUS(status) == CORPUS_WRONG ? "wrong bytes" : "abnormal exit");
			failures++;
		}
		free(path);
	}
	free(line);
	fclose(m);
	print_message("corpus: %d files read, %d failed (seed %llu)\n", files, failures, (unsigned long long)seed);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader__layouts),
		cmocka_unit_test(test_reader__layouts_small_cache),
		cmocka_unit_test(test_reader__extent),
		cmocka_unit_test(test_reader__map),
		cmocka_unit_test(test_reader__user_block),
		cmocka_unit_test(test_reader__no_byte_image),
		cmocka_unit_test(test_reader__missing_filter),
		cmocka_unit_test(test_reader__bad_direct_chunks),
		cmocka_unit_test(test_reader__corrupt_chunks),
		cmocka_unit_test(test_reader__truncated),
		cmocka_unit_test(test_reader__cache),
		cmocka_unit_test(test_reader__small_read_large_dataset),
		cmocka_unit_test(test_reader__huge_chunks),
		cmocka_unit_test(test_reader__threads),
		cmocka_unit_test(test_reader__same_chunk_once),
		cmocka_unit_test(test_reader__prefetch_sequential),
		cmocka_unit_test(test_reader__prefetch_random),
		cmocka_unit_test(test_reader__prefetch_threads),
		cmocka_unit_test(test_reader__prefetch_free_in_flight),
		cmocka_unit_test(test_reader__arguments),
		cmocka_unit_test(test_reader__corpus),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
