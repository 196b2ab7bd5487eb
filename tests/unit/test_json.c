/*
 * The strict JSON parser of src/lib/json.c (internal API).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../../src/lib/internal.h"
#include "../../src/lib/json.h"

static h5fs_json *parse_ok(const char *text)
{
	h5fs_json *v = NULL;
	int rc = h5fs__json_parse(&v, text, strlen(text));

	if (rc < 0)
		fail_msg("parse '%s' = %d: %s", text, rc, h5fs_error_last()->message);
	assert_non_null(v);
	return v;
}

static void test_json__scalars(void **state)
{
	h5fs_json *v;

	(void)state;
	v = parse_ok(" null ");
	assert_int_equal(v->type, H5FS_JSON_NULL);
	h5fs__json_free(v);

	v = parse_ok("true");
	assert_int_equal(v->type, H5FS_JSON_BOOL);
	assert_true(v->b);
	h5fs__json_free(v);

	v = parse_ok("\tfalse\r\n");
	assert_int_equal(v->type, H5FS_JSON_BOOL);
	assert_false(v->b);
	h5fs__json_free(v);

	v = parse_ok("42");
	assert_int_equal(v->type, H5FS_JSON_INT);
	assert_int_equal(v->i, 42);
	assert_false(v->big);
	assert_string_equal(v->s, "42");
	h5fs__json_free(v);

	v = parse_ok("-0");
	assert_int_equal(v->type, H5FS_JSON_INT);
	assert_int_equal(v->i, 0);
	h5fs__json_free(v);

	v = parse_ok("-9223372036854775808");
	assert_int_equal(v->type, H5FS_JSON_INT);
	assert_true(v->i == INT64_MIN);
	h5fs__json_free(v);

	v = parse_ok("9223372036854775807");
	assert_int_equal(v->type, H5FS_JSON_INT);
	assert_true(v->i == INT64_MAX);
	assert_false(v->big);
	h5fs__json_free(v);

	v = parse_ok("9223372036854775808");
	assert_int_equal(v->type, H5FS_JSON_INT);
	assert_true(v->big);
	assert_true(v->u == (uint64_t)INT64_MAX + 1);
	h5fs__json_free(v);

	v = parse_ok("18446744073709551615");
	assert_int_equal(v->type, H5FS_JSON_INT);
	assert_true(v->big);
	assert_true(v->u == UINT64_MAX);
	h5fs__json_free(v);

	v = parse_ok("18446744073709551616");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	assert_true(v->d == 18446744073709551616.0);
	h5fs__json_free(v);

	v = parse_ok("-9223372036854775809");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	h5fs__json_free(v);

	v = parse_ok("0.1");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	assert_true(v->d == 0.1);
	assert_string_equal(v->s, "0.1");
	h5fs__json_free(v);

	v = parse_ok("1e3");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	assert_true(v->d == 1000.0);
	h5fs__json_free(v);

	v = parse_ok("-2.5E-3");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	assert_true(v->d == -2.5e-3);
	h5fs__json_free(v);

	v = parse_ok("NaN");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	assert_true(isnan(v->d));
	h5fs__json_free(v);

	v = parse_ok("Infinity");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	assert_true(isinf(v->d) && v->d > 0);
	h5fs__json_free(v);

	v = parse_ok("-Infinity");
	assert_int_equal(v->type, H5FS_JSON_REAL);
	assert_true(isinf(v->d) && v->d < 0);
	h5fs__json_free(v);

	th_assert_no_open_ids();
}

static void test_json__containers(void **state)
{
	h5fs_json *v;

	(void)state;
	v = parse_ok("[]");
	assert_int_equal(v->type, H5FS_JSON_ARRAY);
	assert_int_equal(v->n, 0);
	h5fs__json_free(v);

	v = parse_ok("{}");
	assert_int_equal(v->type, H5FS_JSON_OBJECT);
	assert_int_equal(v->n, 0);
	h5fs__json_free(v);

	v = parse_ok(" [ 1 , [2, 3.5], {\"a\": null, \"b\": [true]} , \"x\" ] ");
	assert_int_equal(v->type, H5FS_JSON_ARRAY);
	assert_int_equal(v->n, 4);
	assert_int_equal(v->items[0]->type, H5FS_JSON_INT);
	assert_int_equal(v->items[1]->type, H5FS_JSON_ARRAY);
	assert_int_equal(v->items[1]->n, 2);
	assert_int_equal(v->items[1]->items[1]->type, H5FS_JSON_REAL);
	assert_int_equal(v->items[2]->type, H5FS_JSON_OBJECT);
	assert_int_equal(v->items[2]->n, 2);
	assert_string_equal(v->items[2]->keys[0], "a");
	assert_string_equal(v->items[2]->keys[1], "b");
	assert_int_equal(v->items[2]->items[0]->type, H5FS_JSON_NULL);
	assert_true(v->items[2]->items[1]->items[0]->b);
	assert_string_equal(v->items[3]->s, "x");
	h5fs__json_free(v);

	/* many items: the arrays grow */
	{
		h5fs_buf b = H5FS_BUF_INIT;
		size_t k;

		h5fs_buf_init(&b);
		h5fs_buf_putc(&b, '[');
		for (k = 0; k < 1000; k++)
			h5fs_buf_printf(&b, "%s%zu", k ? "," : "", k);
		h5fs_buf_putc(&b, ']');
		v = parse_ok(b.ptr);
		assert_int_equal(v->n, 1000);
		assert_int_equal(v->items[999]->i, 999);
		h5fs__json_free(v);
		h5fs_buf_release(&b);
	}
	th_assert_no_open_ids();
}

static void test_json__escapes(void **state)
{
	static const char text[] = "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\u0000z\"";
	static const char want[] = "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
	h5fs_json *v;

	(void)state;
	v = parse_ok(text);
	assert_int_equal(v->type, H5FS_JSON_STRING);
	assert_int_equal(v->slen, sizeof(want) - 1);
	assert_memory_equal(v->s, want, sizeof(want) - 1);
	assert_int_equal(v->s[v->slen], '\0');
	h5fs__json_free(v);

	/* raw UTF-8 passes through */
	v = parse_ok("\"gr\xc3\xbc\xc3\x9f \xe6\x97\xa5\xf0\x9f\x98\x80\"");
	assert_string_equal(v->s, "gr\xc3\xbc\xc3\x9f \xe6\x97\xa5\xf0\x9f\x98\x80");
	h5fs__json_free(v);

	/* keys are decoded and may hold NULs */
	{
		static const char obj[] = "{\"k\\u0000\": 1}";

		v = parse_ok(obj);
		assert_int_equal(v->klens[0], 2);
		assert_memory_equal(v->keys[0], "k\0", 2);
		h5fs__json_free(v);
	}

	/* the text need not be NUL-terminated */
	{
		h5fs_json *w = NULL;

		th_ok(h5fs__json_parse(&w, "123456", 3));
		assert_int_equal(w->i, 123);
		h5fs__json_free(w);
	}
	th_assert_no_open_ids();
}

static void test_json__invalid(void **state)
{
	static const char *const bad[] = {
		"", " ", "nul", "True", "nan", "inf", "+1", "01", "-", "1.",
		".5", "1e", "1e+", "0x10", "1 2", "[1,]", "[,1]", "[1 2]", "{",
		"[", "]", "{\"a\"}", "{\"a\":}", "{a:1}", "{\"a\":1,}", "{1:2}",
		"\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"",
		"\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "\"a\nb\"",
		"'a'", "[1]]", "{}}", "truefalse", "NaNa", "-Infinit", "Infinity1",
		"\"\xff\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xe2\x82\"",
		"\"\xf4\x90\x80\x80\"", "// c\n1", "[1, /* */ 2]", "1,",
	};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		h5fs_json *v = (h5fs_json *)&v;
		int rc = h5fs__json_parse(&v, bad[k], strlen(bad[k]));

		if (rc != H5FS_EINVALID)
			fail_msg("'%s' parsed (rc %d)", bad[k], rc);
		assert_null(v);
		assert_non_null(strstr(h5fs_error_last()->message, "at offset"));
	}
	/* an embedded NUL byte outside a string is not whitespace */
	{
		h5fs_json *v = NULL;

		th_fails(H5FS_EINVALID, h5fs__json_parse(&v, "1\0", 2));
		th_fails(H5FS_EINVALID, h5fs__json_parse(&v, "\"a\0b\"", 5));
	}
	th_assert_no_open_ids();
}

static void test_json__error_offset(void **state)
{
	h5fs_json *v = NULL;

	(void)state;
	th_fails(H5FS_EINVALID, h5fs__json_parse(&v, "[1, 2, x]", 9));
	assert_non_null(strstr(h5fs_error_last()->message, "offset 7"));
	th_assert_no_open_ids();
}

static void test_json__depth_limit(void **state)
{
	size_t depth = H5FS_JSON_MAX_DEPTH, k;
	char *text;
	h5fs_json *v = NULL;

	(void)state;
	/* exactly at the limit parses */
	text = malloc(2 * depth + 1);
	assert_non_null(text);
	for (k = 0; k < depth; k++) {
		text[k] = '[';
		text[2 * depth - 1 - k] = ']';
	}
	th_ok(h5fs__json_parse(&v, text, 2 * depth));
	h5fs__json_free(v);
	free(text);

	/* one more fails */
	depth++;
	text = malloc(2 * depth + 1);
	assert_non_null(text);
	for (k = 0; k < depth; k++) {
		text[k] = '[';
		text[2 * depth - 1 - k] = ']';
	}
	th_fails(H5FS_EINVALID, h5fs__json_parse(&v, text, 2 * depth));
	assert_non_null(strstr(h5fs_error_last()->message, "too deep"));
	free(text);

	/* a hostile megabyte of brackets and braces fails cleanly */
	text = malloc(1 << 20);
	assert_non_null(text);
	for (k = 0; k < (1 << 20); k++)
		text[k] = k % 7 == 3 ? '{' : '[';
	th_fails(H5FS_EINVALID, h5fs__json_parse(&v, text, 1 << 20));
	free(text);
	th_assert_no_open_ids();
}

static void test_json__truncations(void **state)
{
	static const char sample[] =
		" {\"name\": \"caf\\u00e9 \xe2\x82\xac\\ud83d\\ude00\", \"n\": [1, -2, 3.5e-7, "
		"18446744073709551615, NaN, -Infinity, true, false, null],"
		" \"nested\": {\"a\": [[1, 2], [3, 4]], \"e\": {}, \"f\": []}} ";
	size_t len = sizeof(sample) - 1, cut;
	h5fs_json *v = NULL;

	(void)state;
	th_ok(h5fs__json_parse(&v, sample, len));
	assert_int_equal(v->n, 3);
	h5fs__json_free(v);
	/*
	 * Every prefix is invalid except the whole text (and the whole text
	 * minus its trailing space); each prefix is copied to its own
	 * allocation so ASan sees any read past the end.
	 */
	for (cut = 0; cut < len; cut++) {
		char *copy = malloc(cut ? cut : 1);
		int rc;

		assert_non_null(copy);
		memcpy(copy, sample, cut);
		v = NULL;
		rc = h5fs__json_parse(&v, copy, cut);
		if (cut == len - 1) {
			assert_int_equal(rc, 0);
			h5fs__json_free(v);
		} else if (rc != H5FS_EINVALID) {
			fail_msg("prefix of %zu bytes: rc %d", cut, rc);
		}
		free(copy);
	}
	/* and every single-byte corruption never crashes */
	for (cut = 0; cut < len; cut++) {
		char *copy = malloc(len);
		static const char subst[] = "\"\\[]{},:0x\x80";
		size_t s;

		assert_non_null(copy);
		for (s = 0; s < sizeof(subst) - 1; s++) {
			memcpy(copy, sample, len);
			copy[cut] = subst[s];
			v = NULL;
			if (h5fs__json_parse(&v, copy, len) == 0)
				h5fs__json_free(v);
		}
		free(copy);
	}
	th_assert_no_open_ids();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json__scalars),
		cmocka_unit_test(test_json__containers),
		cmocka_unit_test(test_json__escapes),
		cmocka_unit_test(test_json__invalid),
		cmocka_unit_test(test_json__error_offset),
		cmocka_unit_test(test_json__depth_limit),
		cmocka_unit_test(test_json__truncations),
	};

	return cmocka_run_group_tests(tests, th_setup, th_teardown);
}
