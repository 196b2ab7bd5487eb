/*
 * A small strict JSON parser (RFC 8259) for the attribute codec and for
 * dtype descr lists.
 *
 * Extras over RFC 8259: the tokens NaN, Infinity and -Infinity (what
 * Python's json module writes) parse as H5FS_JSON_REAL.
 *
 * Numbers: an integer literal (no fraction, no exponent) that fits int64
 * is H5FS_JSON_INT with the value in i.  A non-negative integer literal
 * above INT64_MAX that fits uint64 is also H5FS_JSON_INT, with big set
 * and the value in u (i is then 0).  Every other number, including
 * integers outside both ranges, is H5FS_JSON_REAL with d from strtod().
 * For INT and REAL alike, d holds the nearest double and s/slen the
 * number's source text, so a caller can convert the text itself (for
 * example with strtof() to avoid double rounding into float32).
 *
 * Strings are decoded (\uXXXX with surrogate pairs to UTF-8) into s,
 * NUL-terminated, with slen their length: embedded NULs (\u0000) are
 * kept.  Raw string bytes must be valid UTF-8 and lone surrogates are
 * rejected, so every decoded string is valid UTF-8.
 *
 * Objects keep their members in text order (n items, keys[k] naming
 * items[k], key lengths in klens); duplicate keys are kept too, callers
 * that care reject them.
 *
 * Limits: nesting deeper than H5FS_JSON_MAX_DEPTH is rejected, so hostile
 * input cannot exhaust the stack; sizes are checked before every
 * allocation.
 */
#ifndef H5FS_LIB_JSON_H
#define H5FS_LIB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H5FS_JSON_MAX_DEPTH 64

typedef enum {
	H5FS_JSON_NULL,
	H5FS_JSON_BOOL,
	H5FS_JSON_INT,
	H5FS_JSON_REAL,
	H5FS_JSON_STRING,
	H5FS_JSON_ARRAY,
	H5FS_JSON_OBJECT
} h5fs_json_type;

typedef struct h5fs_json h5fs_json;

struct h5fs_json {
	h5fs_json_type type;
	bool b;			/* BOOL */
	int64_t i;		/* INT (when !big) */
	bool big;		/* INT above INT64_MAX: value in u */
	uint64_t u;		/* INT when big */
	double d;		/* INT and REAL: nearest double */
	char *s;		/* STRING: decoded; INT/REAL: source text */
	size_t slen;
	size_t n;		/* ARRAY, OBJECT: number of items */
	h5fs_json **items;
	char **keys;		/* OBJECT: decoded keys, NUL-terminated */
	size_t *klens;		/* OBJECT: key lengths (keys may hold NULs) */
};

/*
 * Parse @p text (@p len bytes, need not be NUL-terminated) as exactly one
 * JSON value, surrounded by optional whitespace.
 *
 * @return 0, H5FS_EINVALID (message names the byte offset), H5FS_ENOMEM
 */
int h5fs__json_parse(h5fs_json **out, const char *text, size_t len);

/* Free a parsed value; NULL is a no-op. */
void h5fs__json_free(h5fs_json *v);

#endif
