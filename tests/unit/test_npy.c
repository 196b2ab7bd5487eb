/*
 * Tests of h5fs/npy.h against numpy itself: numpy writes .npy files that
 * h5fs parses (and re-formats byte for byte), h5fs writes files that
 * numpy.load reads back, and malformed or truncated headers are
 * rejected without crashing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

struct npy_case {
	const char *name;
	const char *numpy;	/* expression for the array */
	const char *descr;	/* what h5fs should read */
	int fortran;
	int ndim;
	uint64_t shape[4];
	int major;
};

static const struct npy_case npy_cases[] = {
	{ "f8", "np.arange(3.0)", "<f8", 0, 1, { 3 }, 1 },
	{ "scalar", "np.array(7, dtype='u1')", "|u1", 0, 0, { 0 }, 1 },
	{ "cube", "np.arange(24, dtype='>i2').reshape(2, 3, 4)", ">i2", 0, 3, { 2, 3, 4 }, 1 },
	{ "empty", "np.zeros((0,))", "<f8", 0, 1, { 0 }, 1 },
	{ "empty2", "np.zeros((0, 5), dtype='<i4')", "<i4", 0, 2, { 0, 5 }, 1 },
	{ "bigend", "np.arange(4, dtype='>f8')", ">f8", 0, 1, { 4 }, 1 },
	{ "fortran", "np.asfortranarray(np.arange(6.0).reshape(2, 3))", "<f8", 1, 2, { 2, 3 }, 1 },
	{ "bool", "np.array([True, False, True])", "|b1", 0, 1, { 3 }, 1 },
	{ "bytes", "np.array([b'ab', b'cde'])", "|S3", 0, 1, { 2 }, 1 },
	{ "complex", "np.arange(3) * (1 + 2j)", "<c16", 0, 1, { 3 }, 1 },
	{ "half", "np.arange(5, dtype=np.float16)", "<f2", 0, 1, { 5 }, 1 },
	{ "datetime", "np.arange(3).astype('<M8[s]')", "<M8[s]", 0, 1, { 3 }, 1 },
	{ "compound", "np.zeros(5, dtype=[('x', '<f4'), ('y', '<i8', (3,))])",
	  "[[\"x\", \"<f4\"], [\"y\", \"<i8\", [3]]]", 0, 1, { 5 }, 1 },
	{ "nested", "np.zeros((2, 2), dtype=[('p', [('x', '<f4'), ('y', '>f4')]), ('id', '<i4')])",
	  "[[\"p\", [[\"x\", \"<f4\"], [\"y\", \">f4\"]]], [\"id\", \"<i4\"]]", 0, 2, { 2, 2 }, 1 },
	{ "padded", "np.zeros(3, dtype=np.dtype({'names': ['a', 'b'], 'formats': ['<i2', '<f8'], 'offsets': [0, 8], 'itemsize': 24}))",
	  "[[\"a\", \"<i2\"], [\"\", \"|V6\"], [\"b\", \"<f8\"], [\"\", \"|V8\"]]", 0, 1, { 3 }, 1 },
	{ "latin1", "np.zeros(1, dtype=[('caf\\u00e9', '<f4')])",
	  "[[\"caf\xc3\xa9\", \"<f4\"]]", 0, 1, { 1 }, 1 },
	{ "utf8", "np.zeros(2, dtype=[('\\u03c0', '<f8')])",
	  "[[\"\xcf\x80\", \"<f8\"]]", 0, 1, { 2 }, 3 },
	{ "quote", "np.zeros(1, dtype=[(\"it's\", '<i4'), ('a\\\\b', '|u1')])",
	  "[[\"it's\", \"<i4\"], [\"a\\\\b\", \"|u1\"]]", 0, 1, { 1 }, 1 },
};

#define NCASES (sizeof(npy_cases) / sizeof(npy_cases[0]))

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int written;

/* numpy writes one file per case, and the wide-header case. */
static void numpy_files(void)
{
	size_t i, cap = 1 << 16, len = 0;
	char *s;

	th_require_h5py();
	if (written)
		return;
	s = malloc(cap);
	assert_non_null(s);
	len += (size_t)snprintf(s + len, cap - len, "d = sys.argv[1]\n");
	for (i = 0; i < NCASES; i++)
		len += (size_t)snprintf(s + len, cap - len,
			"np.save(d + '/%s.npy', %s)\n", npy_cases[i].name, npy_cases[i].numpy);
	len += (size_t)snprintf(s + len, cap - len,
		"import warnings\n"
		"warnings.simplefilter('ignore')\n"
		"np.save(d + '/wide.npy', np.zeros(2, dtype=[('field_%%04d_' %% i + 'x' * 20, '<f4') for i in range(3000)]))\n");
	assert_true(len < cap);
	assert_int_equal(th_python("%s", s), 0);
	free(s);
	written = 1;
}

/* numpy's files parse to the right descr, shape and header length. */
static void test_npy__parse_numpy_files(void **state)
{
	size_t i, len, item;
	int d;

	(void)state;
	numpy_files();
	for (i = 0; i < NCASES; i++) {
		const struct npy_case *c = &npy_cases[i];
		h5fs_npy_header h;
		char *buf = read_file(th_path("%s.npy", c->name), &len);
		uint64_t n = 1;

		th_ok(h5fs_npy_header_parse(&h, buf, len));
		if (strcmp(h.descr, c->descr))
			fail_msg("%s: descr '%s', want '%s'", c->name, h.descr, c->descr);
		assert_int_equal(h.fortran_order, c->fortran);
		assert_int_equal(h.ndim, c->ndim);
		for (d = 0; d < c->ndim; d++) {
			assert_int_equal(h.shape[d], c->shape[d]);
			n *= c->shape[d];
		}
		assert_int_equal(h.major, c->major);
		assert_int_equal(h.minor, 0);
		/* the data fill the rest of the file exactly */
		th_ok(h5fs_dtype_itemsize(&item, h.descr));
		assert_int_equal(h.header_len % 64, 0);
		assert_int_equal(h.header_len + n * item, len);
		h5fs_npy_header_release(&h);
		assert_null(h.descr);
		free(buf);
	}
}

/* Our header for what we parsed equals numpy's, byte for byte. */
static void test_npy__format_matches_numpy(void **state)
{
	size_t i, len, hlen;
	char *hdr;

	(void)state;
	numpy_files();
	for (i = 0; i <= NCASES; i++) {
		const char *name = i < NCASES ? npy_cases[i].name : "wide";
		h5fs_npy_header h;
		char *buf = read_file(th_path("%s.npy", name), &len);

		th_ok(h5fs_npy_header_parse(&h, buf, len));
		th_ok(h5fs_npy_header_format(&hdr, &hlen, h.descr, h.fortran_order, h.ndim, h.shape));
		if (hlen != h.header_len || memcmp(hdr, buf, hlen))
			fail_msg("%s: our header (%zu bytes) differs from numpy's (%zu):\n%.*s\n%.*s",
				 name, hlen, h.header_len, (int)hlen, hdr, (int)h.header_len, buf);
		free(hdr);
		h5fs_npy_header_release(&h);
		free(buf);
	}
}

/* A header over 65535 bytes is version 2.0. */
static void test_npy__wide_header_v2(void **state)
{
	h5fs_npy_header h;
	size_t len, item;
	char *buf;

	(void)state;
	numpy_files();
	buf = read_file(th_path("wide.npy"), &len);
	th_ok(h5fs_npy_header_parse(&h, buf, len));
	assert_int_equal(h.major, 2);
	assert_true(h.header_len > 65535);
	th_ok(h5fs_dtype_itemsize(&item, h.descr));
	assert_int_equal(item, 3000 * 4);
	assert_non_null(strstr(h.descr, "[\"field_2999_xxxxxxxxxxxxxxxxxxxx\", \"<f4\"]"));
	assert_int_equal(h.header_len + 2 * item, len);
	h5fs_npy_header_release(&h);
	free(buf);
}

struct out_case {
	const char *name;
	const char *descr;
	int fortran;
	int ndim;
	uint64_t shape[3];
	const char *check;	/* Python condition on a = np.load(...) */
};

static const struct out_case out_cases[] = {
	{ "o_f8", "float64", 0, 1, { 4 }, "a.dtype == '<f8' and list(a) == [0.0, 1.0, 2.0, 3.0]" },
	{ "o_i2be", ">i2", 0, 2, { 2, 3 }, "a.dtype == '>i2' and a.tolist() == [[0, 1, 2], [3, 4, 5]]" },
	{ "o_scalar", "<i8", 0, 0, { 0 }, "a.shape == () and a.dtype == '<i8' and a[()] == 0" },
	{ "o_empty", "<f4", 0, 2, { 0, 3 }, "a.shape == (0, 3) and a.dtype == '<f4'" },
	{ "o_fortran", "<u2", 1, 2, { 2, 3 }, "a.flags.f_contiguous and a.tolist() == [[0, 2, 4], [1, 3, 5]]" },
	{ "o_bool", "bool", 0, 1, { 2 }, "a.dtype == np.bool_ and a.tolist() == [False, True]" },
	{ "o_cmp", "[[\"x\", \"<f4\"], [\"y\", \"<i8\", [3]]]", 0, 1, { 2 },
	  "a.dtype == np.dtype([('x', '<f4'), ('y', '<i8', (3,))]) and a['x'].tolist() == [0.0, 0.0]" },
	{ "o_pad", "[[\"a\", \"<i2\"], [\"\", \"|V6\"], [\"b\", \"<f8\"]]", 0, 1, { 1 },
	  "a.dtype.names == ('a', 'b') and a.dtype.fields['b'][1] == 8 and a.dtype.itemsize == 16" },
	{ "o_sub", "[\"<f4\", [3]]", 0, 1, { 2 }, "a.shape == (2, 3) and a.dtype == '<f4'" },
	{ "o_utf8", "[[\"\xcf\x80\", \"<f8\"]]", 0, 1, { 1 }, "a.dtype.names == ('\\u03c0',)" },
	{ "o_latin1", "[[\"\xc3\xa9\\n\", \"|u1\"]]", 0, 1, { 1 }, "a.dtype.names == ('\\u00e9\\n',)" },
};

/* numpy.load reads what we write. */
static void test_npy__numpy_loads_ours(void **state)
{
	size_t i, j, hlen, item, n;
	char *hdr, *data;
	FILE *f;
	int d;

	(void)state;
	th_require_h5py();
	for (i = 0; i < sizeof(out_cases) / sizeof(out_cases[0]); i++) {
		const struct out_case *c = &out_cases[i];
		h5fs_npy_header h;

		th_ok(h5fs_npy_header_format(&hdr, &hlen, c->descr, c->fortran, c->ndim, c->shape));
		assert_int_equal(hlen % 64, 0);
		assert_int_equal(hdr[hlen - 1], '\n');
		/* and we read our own header back */
		th_ok(h5fs_npy_header_parse(&h, hdr, hlen));
		assert_int_equal(h.header_len, hlen);
		assert_int_equal(h.fortran_order, c->fortran);
		th_ok(h5fs_dtype_itemsize(&item, h.descr));
		n = 1;
		for (d = 0; d < h.ndim; d++)
			n *= h.shape[d];
		/* little counting values in the first byte of each item */
		data = calloc(n ? n : 1, item);
		assert_non_null(data);
		for (j = 0; j < n; j++) {
			if (strstr(c->descr, ">i2"))
				data[j * item + 1] = (char)j;
			else if (!strcmp(c->descr, "float64"))
				memcpy(data + j * item, &(double){ (double)j }, 8);
			else if (!strcmp(c->descr, "<u2") || !strcmp(c->descr, "bool"))
				data[j * item] = (char)j;
		}
		f = fopen(th_path("%s.npy", c->name), "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(hdr, 1, hlen, f), hlen);
		if (n)
			assert_int_equal(fwrite(data, item, n, f), n);
		fclose(f);
		free(data);
		free(hdr);
		h5fs_npy_header_release(&h);
		if (th_python("a = np.load(sys.argv[1] + '/%s.npy')\n"
			      "ok = %s\n"
			      "print(repr(a), a.dtype)\n"
			      "sys.exit(0 if ok else 1)\n", c->name, c->check))
			fail_msg("%s: numpy does not read it as expected", c->name);
	}
}

/* Build an NPY header around @p dict text (no alignment). */
static char *make_npy(int major, int minor, const char *dict, size_t *len)
{
	size_t dlen = strlen(dict), lb = major == 1 ? 2 : 4, i;
	char *b = malloc(8 + lb + dlen + 1);

	assert_non_null(b);
	memcpy(b, "\x93NUMPY", 6);
	b[6] = (char)major;
	b[7] = (char)minor;
	for (i = 0; i < lb; i++)
		b[8 + i] = (char)((dlen >> (8 * i)) & 0xff);
	memcpy(b + 8 + lb, dict, dlen);
	*len = 8 + lb + dlen;
	return b;
}

/* Spacing, key order and Python 2 spellings are accepted. */
static void test_npy__parse_variants(void **state)
{
	static const struct { int major; const char *dict, *descr; int ndim; uint64_t d0; } cases[] = {
		{ 1, "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}", "<f8", 1, 3 },
		{ 1, "{ 'descr' : 'f4' , 'fortran_order' : True , 'shape' : ( 2 , 5 ) }\n", "<f4", 2, 2 },
		{ 2, "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (7L,), }", "|u1", 1, 7 },
		{ 3, "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (), }", "[[\"x\", \"<f4\"]]", 0, 0 },
		{ 1, "{'descr': ('<f4', (3,)), 'fortran_order': False, 'shape': (1,), }", "[\"<f4\", [3]]", 1, 1 },
		{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615,), }", "<f8", -1, 0 },
		{ 1, "{'descr': [('a', '|u1'), ('b', '<i2', (2,))], 'fortran_order': False, 'shape': ((4),), }",
		  "[[\"a\", \"|u1\"], [\"b\", \"<i2\", [2]]]", 1, 4 },
		{ 1, "{'descr': [('\\x41\\u00e9', '<f4')], 'fortran_order': False, 'shape': (1,)}",
		  "[[\"A\xc3\xa9\", \"<f4\"]]", 1, 1 },
	};
	h5fs_npy_header h;
	size_t i, len;
	char *b;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = make_npy(cases[i].major, 0, cases[i].dict, &len);
		rc = h5fs_npy_header_parse(&h, b, len);
		if (cases[i].ndim < 0) {
			/* 2^64-1 doubles do not fit in 64 bits */
			assert_int_equal(rc, H5FS_EINVALID);
			assert_non_null(strstr(h5fs_error_last()->message, "overflow"));
			free(b);
			continue;
		}
		if (rc)
			fail_msg("case %zu: %d %s", i, rc, h5fs_error_last()->message);
		assert_string_equal(h.descr, cases[i].descr);
		assert_int_equal(h.ndim, cases[i].ndim);
		if (h.ndim)
			assert_int_equal(h.shape[0], cases[i].d0);
		assert_int_equal(h.header_len, len);
		h5fs_npy_header_release(&h);
		free(b);
	}
}

/* Malformed headers: each rejected with a message saying what is wrong. */
static void test_npy__malformed(void **state)
{
	static const struct { int major, minor; const char *dict, *msg; } cases[] = {
		{ 4, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", "version '4.0'" },
		{ 1, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", "version '1.1'" },
		{ 0, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", "version '0.0'" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), ", "unterminated dict" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,", "unterminated tuple" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False}", "missing key 'shape'" },
		{ 1, 0, "{'fortran_order': False, 'shape': ()}", "missing key 'descr'" },
		{ 1, 0, "{'descr': '<f8', 'shape': ()}", "missing key 'fortran_order'" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (), 'x': 1}", "unexpected key 'x'" },
		{ 1, 0, "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "duplicate key 'descr'" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}", "negative" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", "overflow" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}", "integer too large" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}", "more than 32" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': [3]}", "'shape' is not a tuple" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,)}", "only integers" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': ('3',)}", "other than integers" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}", "'fortran_order' is not" },
		{ 1, 0, "{'descr': '<U4', 'fortran_order': False, 'shape': (3,)}", "bad 'descr'" },
		{ 1, 0, "{'descr': 'x9', 'fortran_order': False, 'shape': (3,)}", "bad 'descr'" },
		{ 1, 0, "{'descr': 8, 'fortran_order': False, 'shape': (3,)}", "'descr' is not" },
		{ 1, 0, "{'descr': [('x', None)], 'fortran_order': False, 'shape': (3,)}", "'descr' holds" },
		{ 1, 0, "{'descr': [('x', '<f4'), ('x', '<f4')], 'fortran_order': False, 'shape': (3,)}", "duplicate field" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x", "trailing" },
		{ 1, 0, "{'descr': '|O', 'fortran_order': False, 'shape': (3,)}", "object arrays" },
		{ 1, 0, "{'descr': [('a', '<f4'), ('b', [('c', '|O')], (2,))], 'fortran_order': False, 'shape': (3,)}", "object arrays" },
		{ 1, 0, "['descr', '<f8']", "expected '{'" },
		{ 1, 0, "", "expected '{'" },
		{ 1, 0, "{'descr: '<f8', 'fortran_order': False, 'shape': (3,)}", "expected ':'" },
		{ 1, 0, "{'descr': '<f8, 'fortran_order': False, 'shape': (3,)}\n", "expected ','" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)", "unterminated dict" },
		{ 1, 0, "{'descr': '<f8\n', 'fortran_order': False, 'shape': (3,)}", "unterminated string" },
		{ 1, 0, "{'descr': '<f8\\q', 'fortran_order': False, 'shape': (3,)}", "bad escape" },
		{ 1, 0, "{'descr': '<f8', 'fortran_order': Fals, 'shape': (3,)}", "unexpected character" },
		{ 1, 0, "{1: '<f8', 'fortran_order': False, 'shape': (3,)}", "key is not a string" },
		{ 1, 0, "{'descr': '<f8' 'fortran_order': False, 'shape': (3,)}", "expected ','" },
	};
	h5fs_npy_header h;
	size_t i, len;
	char *b;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = make_npy(cases[i].major, cases[i].minor, cases[i].dict, &len);
		memset(&h, 0x5a, sizeof(h));
		th_fails(H5FS_EINVALID, h5fs_npy_header_parse(&h, b, len));
		if (!strstr(h5fs_error_last()->message, cases[i].msg))
			fail_msg("case %zu: message '%s' lacks '%s'", i,
				 h5fs_error_last()->message, cases[i].msg);
		assert_null(strchr(h5fs_error_last()->message, '\n'));
		assert_null(h.descr);
		free(b);
	}

	/* nesting past any sane depth */
	{
		size_t depth = 200, k, n = 0;
		char *dict = malloc(depth * 2 + 100);

		assert_non_null(dict);
		n += (size_t)sprintf(dict, "{'descr': ");
		for (k = 0; k < depth; k++)
			dict[n++] = '[';
		for (k = 0; k < depth; k++)
			dict[n++] = ']';
		strcpy(dict + n, ", 'fortran_order': False, 'shape': ()}");
		b = make_npy(1, 0, dict, &len);
		th_fails(H5FS_EINVALID, h5fs_npy_header_parse(&h, b, len));
		assert_non_null(strstr(h5fs_error_last()->message, "too deep"));
		free(b);
		free(dict);
	}

	/* a NUL byte in the dict */
	b = make_npy(1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}", &len);
	b[20] = '\0';
	th_fails(H5FS_EINVALID, h5fs_npy_header_parse(&h, b, len));
	free(b);

	/* bad magic, also when only its first bytes are there */
	th_fails(H5FS_EINVALID, h5fs_npy_header_parse(&h, "\x93NUMPX\x01\x00", 8));
	assert_non_null(strstr(h5fs_error_last()->message, "bad magic"));
	th_fails(H5FS_EINVALID, h5fs_npy_header_parse(&h, "PK\x03\x04", 4));
	th_fails(H5FS_EINVALID, h5fs_npy_header_parse(&h, "\x89HDF\r\n\x1a\n", 8));
	th_fails(H5FS_EINVALID, h5fs_npy_header_parse(NULL, "x", 1));
}

/* A header length past the buffer asks for the bytes it needs. */
static void test_npy__needs_more(void **state)
{
	h5fs_npy_header h;
	char *hdr;
	size_t hlen;
	uint64_t shape[1] = { 3 };

	(void)state;
	th_ok(h5fs_npy_header_format(&hdr, &hlen, "<f8", 0, 1, shape));
	assert_int_equal(hlen, 128);
	th_fails(H5FS_EBUFS, h5fs_npy_header_parse(&h, hdr, 64));
	assert_int_equal(h.header_len, 128);
	assert_null(h.descr);
	th_fails(H5FS_EBUFS, h5fs_npy_header_parse(&h, hdr, 9));
	assert_int_equal(h.header_len, 0);
	th_fails(H5FS_EBUFS, h5fs_npy_header_parse(&h, hdr, 0));
	assert_int_equal(h.header_len, 0);
	/* a longer buffer (the data follow) is fine */
	th_ok(h5fs_npy_header_parse(&h, hdr, hlen));
	assert_int_equal(h.header_len, 128);
	h5fs_npy_header_release(&h);
	h5fs_npy_header_release(NULL);
	free(hdr);
}

/* Every truncation of valid headers: EBUFS, with the length once known. */
static void test_npy__every_truncation(void **state)
{
	static const char *descrs[] = {
		"<f8", "[[\"x\", \"<f4\"], [\"y\", \"<i8\", [3]]]", "[[\"\xcf\x80\", \"<f8\"]]",
	};
	uint64_t shape[3] = { 2, 3, 4 };
	h5fs_npy_header h;
	size_t i, k, hlen;
	char *hdr, *copy;

	(void)state;
	for (i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++) {
		th_ok(h5fs_npy_header_format(&hdr, &hlen, descrs[i], 0, 3, shape));
		for (k = 0; k < hlen; k++) {
			/* an exact-size copy, so ASan sees any overread */
			copy = malloc(k ? k : 1);
			assert_non_null(copy);
			memcpy(copy, hdr, k);
			th_fails(H5FS_EBUFS, h5fs_npy_header_parse(&h, copy, k));
			assert_int_equal(h.header_len, k < (hdr[6] == 1 ? 10u : 12u) ? 0 : hlen);
			assert_null(h.descr);
			free(copy);
		}
		th_ok(h5fs_npy_header_parse(&h, hdr, hlen));
		h5fs_npy_header_release(&h);
		free(hdr);
	}
}

/* Random byte changes never crash; the result is 0, EINVALID or EBUFS. */
static void test_npy__mutations(void **state)
{
	uint64_t shape[2] = { 5, 7 };
	unsigned int seed = 12345;
	h5fs_npy_header h;
	size_t hlen, k;
	char *hdr, *copy;
	int round, rc, ok = 0;

	(void)state;
	th_ok(h5fs_npy_header_format(&hdr, &hlen,
		"[[\"a\", \"<f4\"], [\"b\", [[\"c\", \">i2\", [2]]]]]", 1, 2, shape));
	copy = malloc(hlen);
	assert_non_null(copy);
	for (round = 0; round < 20000; round++) {
		memcpy(copy, hdr, hlen);
		for (k = 0; k < 1 + (size_t)(round % 4); k++) {
			seed = seed * 1103515245u + 12345u;
			copy[(seed >> 8) % hlen] = (char)(seed >> 20);
		}
		rc = h5fs_npy_header_parse(&h, copy, hlen);
		if (rc != 0 && rc != H5FS_EINVALID && rc != H5FS_EBUFS)
			fail_msg("round %d: rc %d (%s)", round, rc, h5fs_error_last()->message);
		if (!rc) {
			assert_non_null(h.descr);
			assert_true(h.header_len <= hlen);
			ok++;
		}
		h5fs_npy_header_release(&h);
	}
	/* some mutations only touch padding and still parse */
	assert_true(ok > 0);
	free(copy);
	free(hdr);
}

static void test_npy__format_errors(void **state)
{
	uint64_t shape[33] = { 0 };
	size_t len;
	char *out = NULL;

	(void)state;
	th_fails(H5FS_EINVALID, h5fs_npy_header_format(&out, &len, "<U4", 0, 1, shape));
	th_fails(H5FS_EINVALID, h5fs_npy_header_format(&out, &len, "str", 0, 1, shape));
	assert_non_null(strstr(h5fs_error_last()->message, "object arrays"));
	th_fails(H5FS_EINVALID, h5fs_npy_header_format(&out, &len, "[[\"s\", \"|O\"]]", 0, 1, shape));
	th_fails(H5FS_EINVALID, h5fs_npy_header_format(&out, &len, "<f8", 0, 33, shape));
	th_fails(H5FS_EINVALID, h5fs_npy_header_format(&out, &len, "<f8", 0, -1, shape));
	th_fails(H5FS_EINVALID, h5fs_npy_header_format(&out, &len, "<f8", 0, 1, NULL));
	th_fails(H5FS_EINVALID, h5fs_npy_header_format(&out, &len, "[\"<f4\", [1, 1]]", 0, 31, shape));
	assert_null(out);
	/* 0-d needs no shape */
	th_ok(h5fs_npy_header_format(&out, &len, "<f8", 0, 0, NULL));
	assert_int_equal(len, 128);
	assert_non_null(memmem(out, len, "'shape': (), }", 14));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_npy__parse_numpy_files),
		cmocka_unit_test(test_npy__format_matches_numpy),
		cmocka_unit_test(test_npy__wide_header_v2),
		cmocka_unit_test(test_npy__numpy_loads_ours),
		cmocka_unit_test(test_npy__parse_variants),
		cmocka_unit_test(test_npy__malformed),
		cmocka_unit_test(test_npy__needs_more),
		cmocka_unit_test(test_npy__every_truncation),
		cmocka_unit_test(test_npy__mutations),
		cmocka_unit_test(test_npy__format_errors),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
