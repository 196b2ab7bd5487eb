/*
 * NPY headers (h5fs/npy.h): numpy's format versions 1.0, 2.0 and 3.0.
 *
 * The header dict is a Python literal.  It is read by a small parser of
 * the few Python literals numpy writes there (strings, integers, True,
 * False, None, tuples, lists, dicts), bounded in depth so that hostile
 * input cannot exhaust the stack.  Nothing is trusted: lengths are
 * checked against the buffer before use and sizes against overflow.
 *
 * Headers are written byte for byte as numpy 1.24 writes them,
 * including the spare spaces it leaves for growing the first axis.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_MAX_DEPTH 64
/* numpy leaves room for the first axis to grow to this many digits */
#define NPY_GROWTH_DIGITS 21

/* --- a parser of Python literals ----------------------------------- */

enum py_type { PY_STR, PY_INT, PY_BOOL, PY_NONE, PY_TUPLE, PY_LIST, PY_DICT };

struct py {
	enum py_type type;
	char *s;		/* PY_STR: UTF-8, NUL-terminated */
	size_t slen;
	uint64_t u;		/* PY_INT: magnitude */
	int neg;		/* PY_INT: negative; PY_BOOL: value in u */
	size_t n;		/* items; a dict holds key, value pairs */
	struct py **items;
};

struct py_parser {
	const unsigned char *text;
	size_t len;
	size_t pos;
	unsigned int depth;
	int latin1;		/* v1/v2 headers are latin-1, v3 UTF-8 */
};

static void py_free(struct py *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->n; i++)
		py_free(v->items[i]);
	free(v->items);
	free(v->s);
	free(v);
}

static int npy_bad(const char *fmt, const char *what)
{
	h5fs__error_set(H5FS_ERROR_INVALID, fmt, what);
	return H5FS_EINVALID;
}

static int py_fail(struct py_parser *p, const char *what)
{
	h5fs__error_set(H5FS_ERROR_INVALID,
			"invalid npy header: %s at offset %zu", what, p->pos);
	return H5FS_EINVALID;
}

static void py_skip_ws(struct py_parser *p)
{
	while (p->pos < p->len && strchr(" \t\n\r\f", p->text[p->pos]) &&
	       p->text[p->pos])
		p->pos++;
}

static struct py *py_new(enum py_type type)
{
	struct py *v = calloc(1, sizeof(*v));

	if (!v)
		h5fs__error_oom();
	else
		v->type = type;
	return v;
}

static int py_hex(struct py_parser *p, unsigned int digits, unsigned long *out)
{
	unsigned long v = 0;
	unsigned int i;

	for (i = 0; i < digits; i++) {
		unsigned char c;

		if (p->pos >= p->len)
			return py_fail(p, "unterminated string");
		c = p->text[p->pos++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned long)(c - 'A' + 10);
		else
			return py_fail(p, "bad escape in string");
	}
	*out = v;
	return 0;
}

static int py_string(struct py_parser *p, struct py **out)
{
	h5fs_buf b = H5FS_BUF_INIT;
	unsigned char quote = p->text[p->pos++];
	unsigned long cp;
	struct py *v;
	int error;

	h5fs_buf_init(&b);
	for (;;) {
		unsigned char c;

		if (p->pos >= p->len) {
			error = py_fail(p, "unterminated string");
			goto out;
		}
		c = p->text[p->pos++];
		if (c == quote)
			break;
		if (c == '\n' || c == '\0') {
			error = py_fail(p, "unterminated string");
			goto out;
		}
		if (c != '\\') {
			if (c >= 0x80 && p->latin1)
				h5fs_buf_put_utf8(&b, c);
			else
				h5fs_buf_putc(&b, (char)c);
			continue;
		}
		if (p->pos >= p->len) {
			error = py_fail(p, "unterminated string");
			goto out;
		}
		c = p->text[p->pos++];
		switch (c) {
		case '\\': case '\'': case '"':
			h5fs_buf_putc(&b, (char)c);
			break;
		case 'n': h5fs_buf_putc(&b, '\n'); break;
		case 'r': h5fs_buf_putc(&b, '\r'); break;
		case 't': h5fs_buf_putc(&b, '\t'); break;
		case 'x':
		case 'u':
		case 'U':
			if ((error = py_hex(p, c == 'x' ? 2 : c == 'u' ? 4 : 8, &cp)) < 0)
				goto out;
			if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) {
				error = py_fail(p, "bad escape in string");
				goto out;
			}
			h5fs_buf_put_utf8(&b, cp);
			break;
		default:
			error = py_fail(p, "bad escape in string");
			goto out;
		}
	}
	if ((error = h5fs_buf_check(&b)) < 0)
		goto out;
	if (!(v = py_new(PY_STR))) {
		error = H5FS_ENOMEM;
		goto out;
	}
	v->s = h5fs_buf_detach(&b, &v->slen);
	if (!v->s) {
		py_free(v);
		error = h5fs__error_oom();
		goto out;
	}
	*out = v;
	return 0;
out:
	h5fs_buf_release(&b);
	return error;
}

static int py_number(struct py_parser *p, struct py **out)
{
	uint64_t u = 0;
	int neg = 0, digits = 0;
	struct py *v;

	if (p->text[p->pos] == '-' || p->text[p->pos] == '+')
		neg = p->text[p->pos++] == '-';
	while (p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') {
		unsigned int d = (unsigned int)(p->text[p->pos++] - '0');

		if (u > (UINT64_MAX - d) / 10)
			return py_fail(p, "integer too large");
		u = u * 10 + d;
		digits++;
	}
	if (!digits)
		return py_fail(p, "expected a digit");
	/* Python 2's long suffix, which old numpy wrote: (3L,) */
	if (p->pos < p->len && (p->text[p->pos] == 'L' || p->text[p->pos] == 'l'))
		p->pos++;
	if (p->pos < p->len && strchr(".eEjJxXoObB_", p->text[p->pos]) && p->text[p->pos])
		return py_fail(p, "only integers are allowed");
	if (!(v = py_new(PY_INT)))
		return H5FS_ENOMEM;
	v->u = u;
	v->neg = neg && u;
	*out = v;
	return 0;
}

static int py_value(struct py_parser *p, struct py **out);

static int py_push(struct py *c, size_t *alloc, struct py *item)
{
	struct py **grown;
	size_t want;

	if (c->n == *alloc) {
		want = *alloc ? *alloc * 2 : 4;
		if (!(grown = realloc(c->items, want * sizeof(*grown)))) {
			py_free(item);
			return h5fs__error_oom();
		}
		c->items = grown;
		*alloc = want;
	}
	c->items[c->n++] = item;
	return 0;
}

/* A tuple, list or dict; the opening bracket is at p->pos. */
static int py_container(struct py_parser *p, struct py **out)
{
	unsigned char open = p->text[p->pos++];
	unsigned char close = open == '(' ? ')' : open == '[' ? ']' : '}';
	struct py *c, *item = NULL;
	size_t alloc = 0, count = 0;
	int error, trailing_comma = 0;

	if (++p->depth > NPY_MAX_DEPTH)
		return py_fail(p, "nesting too deep");
	if (!(c = py_new(open == '(' ? PY_TUPLE : open == '[' ? PY_LIST : PY_DICT))) {
		error = H5FS_ENOMEM;
		goto fail;
	}
	for (;;) {
		py_skip_ws(p);
		if (p->pos >= p->len) {
			error = py_fail(p, open == '{' ? "unterminated dict" :
					open == '(' ? "unterminated tuple" : "unterminated list");
			goto fail;
		}
		if (p->text[p->pos] == close) {
			p->pos++;
			break;
		}
		if (count && !trailing_comma) {
			error = py_fail(p, "expected ',' or a closing bracket");
			goto fail;
		}
		if ((error = py_value(p, &item)) < 0 ||
		    (error = py_push(c, &alloc, item)) < 0)
			goto fail;
		if (open == '{') {
			py_skip_ws(p);
			if (p->pos >= p->len) {
				error = py_fail(p, "unterminated dict");
				goto fail;
			}
			if (p->text[p->pos++] != ':') {
				error = py_fail(p, "expected ':'");
				goto fail;
			}
			if ((error = py_value(p, &item)) < 0 ||
			    (error = py_push(c, &alloc, item)) < 0)
				goto fail;
		}
		count++;
		py_skip_ws(p);
		trailing_comma = p->pos < p->len && p->text[p->pos] == ',';
		if (trailing_comma)
			p->pos++;
	}
	/* (3) is an integer in Python, not a tuple */
	if (open == '(' && count == 1 && !trailing_comma) {
		item = c->items[0];
		c->n = 0;
		py_free(c);
		c = item;
	}
	p->depth--;
	*out = c;
	return 0;
fail:
	p->depth--;
	py_free(c);
	return error;
}

static int py_value(struct py_parser *p, struct py **out)
{
	static const struct { const char *word; enum py_type type; int b; } words[] = {
		{ "True", PY_BOOL, 1 }, { "False", PY_BOOL, 0 }, { "None", PY_NONE, 0 },
	};
	struct py *v;
	unsigned char c;
	size_t i, n;

	py_skip_ws(p);
	if (p->pos >= p->len)
		return py_fail(p, "unexpected end of header");
	c = p->text[p->pos];
	if (c == '\'' || c == '"')
		return py_string(p, out);
	if (c == '(' || c == '[' || c == '{')
		return py_container(p, out);
	if (c == '-' || c == '+' || (c >= '0' && c <= '9'))
		return py_number(p, out);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		n = strlen(words[i].word);
		if (p->len - p->pos >= n && !memcmp(p->text + p->pos, words[i].word, n)) {
			p->pos += n;
			if (!(v = py_new(words[i].type)))
				return H5FS_ENOMEM;
			v->u = (uint64_t)words[i].b;
			*out = v;
			return 0;
		}
	}
	return py_fail(p, "unexpected character");
}

/* --- parsing the header -------------------------------------------- */

/* Whether the JSON dtype @p v (a type, not a name) holds a "|O". */
static int json_has_object(const h5fs_json *v)
{
	size_t i;

	if (v->type == H5FS_JSON_STRING)
		return !strcmp(v->s, "|O");
	if (v->type != H5FS_JSON_ARRAY)
		return 0;
	if (v->n == 2 && v->items[1]->type == H5FS_JSON_ARRAY &&
	    v->items[1]->n && v->items[1]->items[0]->type == H5FS_JSON_INT)
		return json_has_object(v->items[0]);
	for (i = 0; i < v->n; i++)
		if (v->items[i]->type == H5FS_JSON_ARRAY && v->items[i]->n >= 2 &&
		    json_has_object(v->items[i]->items[1]))
			return 1;
	return 0;
}

/*
 * numpy stores object arrays as pickles, not as a byte image: h5fs's
 * "|O" (a variable-length string) has no NPY form.  1, 0 or an error.
 */
static int descr_has_object(const char *norm)
{
	h5fs_json *j = NULL;
	int error;

	if (norm[0] != '[')
		return !strcmp(norm, "|O");
	if ((error = h5fs__json_parse(&j, norm, strlen(norm))) < 0)
		return error;
	error = json_has_object(j);
	h5fs__json_free(j);
	return error;
}

/* numpy's list-of-tuples descr as our JSON form. */
static int py_to_json(h5fs_buf *b, const struct py *v)
{
	size_t i;
	int error;

	switch (v->type) {
	case PY_STR:
		h5fs_buf_put_json_string(b, v->s, v->slen);
		return 0;
	case PY_INT:
		h5fs_buf_printf(b, "%s%llu", v->neg ? "-" : "", (unsigned long long)v->u);
		return 0;
	case PY_TUPLE:
	case PY_LIST:
		h5fs_buf_putc(b, '[');
		for (i = 0; i < v->n; i++) {
			if (i)
				h5fs_buf_puts(b, ", ");
			if ((error = py_to_json(b, v->items[i])) < 0)
				return error;
		}
		h5fs_buf_putc(b, ']');
		return 0;
	default:
		return npy_bad("invalid npy header: %s", "'descr' holds something other than strings, integers, lists and tuples");
	}
}

static int npy_descr(char **out, const struct py *v)
{
	h5fs_buf b = H5FS_BUF_INIT;
	int error;

	if (v->type == PY_STR) {
		if (strlen(v->s) != v->slen)
			return npy_bad("invalid npy header: %s", "'descr' holds a NUL byte");
		if ((error = h5fs_dtype_normalize(out, v->s)) == H5FS_EINVALID)
			npy_bad("invalid npy header: bad 'descr': %s", h5fs_error_last()->message);
		return error;
	}
	if (v->type != PY_LIST && v->type != PY_TUPLE)
		return npy_bad("invalid npy header: %s", "'descr' is not a string or a list");
	h5fs_buf_init(&b);
	if ((error = py_to_json(&b, v)) < 0 ||
	    (error = h5fs_buf_check(&b)) < 0)
		goto out;
	if ((error = h5fs_dtype_normalize(out, b.ptr)) == H5FS_EINVALID)
		npy_bad("invalid npy header: bad 'descr': %s", h5fs_error_last()->message);
out:
	h5fs_buf_release(&b);
	return error;
}

static int npy_shape(h5fs_npy_header *out, const struct py *v)
{
	size_t i;

	if (v->type != PY_TUPLE)
		return npy_bad("invalid npy header: %s", "'shape' is not a tuple");
	if (v->n > H5FS_NPY_MAX_RANK)
		return npy_bad("invalid npy header: %s", "'shape' has more than 32 dimensions");
	for (i = 0; i < v->n; i++) {
		const struct py *d = v->items[i];

		if (d->type != PY_INT)
			return npy_bad("invalid npy header: %s", "'shape' holds something other than integers");
		if (d->neg)
			return npy_bad("invalid npy header: %s", "'shape' has a negative dimension");
		out->shape[i] = d->u;
	}
	out->ndim = (int)v->n;
	return 0;
}

/* The bytes of the array must be countable in a uint64. */
static int npy_check_size(const h5fs_npy_header *h)
{
	uint64_t n = 1;
	size_t item = 0;
	int i, error;

	for (i = 0; i < h->ndim; i++)
		if (!h->shape[i])
			return 0;
	if ((error = h5fs_dtype_itemsize(&item, h->descr)) < 0)
		return error;
	if (!item)
		item = 1;
	for (i = 0; i < h->ndim; i++) {
		if (n > UINT64_MAX / h->shape[i])
			goto overflow;
		n *= h->shape[i];
	}
	if (n > UINT64_MAX / item)
		goto overflow;
	return 0;
overflow:
	return npy_bad("invalid npy header: %s", "array size overflows 64 bits");
}

static int npy_dict(h5fs_npy_header *out, const struct py *d)
{
	static const char *keys[] = { "descr", "fortran_order", "shape" };
	const struct py *vals[3] = { NULL, NULL, NULL };
	size_t i, k;
	int error;

	if (d->type != PY_DICT)
		return npy_bad("invalid npy header: %s", "not a dict");
	for (i = 0; i + 1 < d->n; i += 2) {
		const struct py *key = d->items[i];

		if (key->type != PY_STR)
			return npy_bad("invalid npy header: %s", "a key is not a string");
		for (k = 0; k < 3; k++)
			if (!strcmp(key->s, keys[k]) && strlen(key->s) == key->slen)
				break;
		if (k == 3) {
			h5fs__error_set(H5FS_ERROR_INVALID,
					"invalid npy header: unexpected key '%s'", key->s);
			return H5FS_EINVALID;
		}
		if (vals[k]) {
			h5fs__error_set(H5FS_ERROR_INVALID,
					"invalid npy header: duplicate key '%s'", keys[k]);
			return H5FS_EINVALID;
		}
		vals[k] = d->items[i + 1];
	}
	for (k = 0; k < 3; k++) {
		if (!vals[k]) {
			h5fs__error_set(H5FS_ERROR_INVALID,
					"invalid npy header: missing key '%s'", keys[k]);
			return H5FS_EINVALID;
		}
	}
	if (vals[1]->type != PY_BOOL)
		return npy_bad("invalid npy header: %s", "'fortran_order' is not True or False");
	out->fortran_order = (int)vals[1]->u;
	if ((error = npy_shape(out, vals[2])) < 0 ||
	    (error = npy_descr(&out->descr, vals[0])) < 0 ||
	    (error = descr_has_object(out->descr)) < 0)
		return error;
	if (error)
		return npy_bad("invalid npy header: %s", "object arrays (pickled data) are not supported");
	return npy_check_size(out);
}

int h5fs_npy_header_parse(h5fs_npy_header *out, const void *buf, size_t len)
{
	const unsigned char *b = buf;
	struct py_parser p;
	struct py *dict = NULL;
	size_t lenbytes, hlen, total;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(buf || !len);

	memset(out, 0, sizeof(*out));
	if (len && memcmp(b, NPY_MAGIC, len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN))
		return npy_bad("invalid npy header: %s", "bad magic (not an NPY file)");
	if (len < NPY_MAGIC_LEN + 2)
		goto short_buf;
	out->major = b[6];
	out->minor = b[7];
	if ((out->major != 1 && out->major != 2 && out->major != 3) || out->minor) {
		h5fs__error_set(H5FS_ERROR_INVALID,
				"invalid npy header: unsupported format version '%d.%d'",
				out->major, out->minor);
		return H5FS_EINVALID;
	}
	lenbytes = out->major == 1 ? 2 : 4;
	if (len < NPY_MAGIC_LEN + 2 + lenbytes)
		goto short_buf;
	hlen = (size_t)b[8] | (size_t)b[9] << 8;
	if (lenbytes == 4)
		hlen |= (size_t)b[10] << 16 | (size_t)b[11] << 24;
	total = NPY_MAGIC_LEN + 2 + lenbytes + hlen;
	if (total < hlen)
		return npy_bad("invalid npy header: %s", "header length overflows");
	if (len < total) {
		out->header_len = total;
		h5fs__error_set(H5FS_ERROR_INVALID,
				"npy header needs %zu bytes, have %zu", total, len);
		return H5FS_EBUFS;
	}

	memset(&p, 0, sizeof(p));
	p.text = b + NPY_MAGIC_LEN + 2 + lenbytes;
	p.len = hlen;
	p.latin1 = out->major < 3;
	py_skip_ws(&p);
	if (p.pos >= p.len || p.text[p.pos] != '{') {
		error = py_fail(&p, "expected '{'");
		goto out;
	}
	if ((error = py_value(&p, &dict)) < 0)
		goto out;
	py_skip_ws(&p);
	if (p.pos != p.len) {
		error = py_fail(&p, "trailing characters after the dict");
		goto out;
	}
	if ((error = npy_dict(out, dict)) < 0)
		goto out;
	out->header_len = total;
out:
	py_free(dict);
	if (error < 0) {
		free(out->descr);
		out->descr = NULL;
	}
	return error;

short_buf:
	out->header_len = 0;
	h5fs__error_set(H5FS_ERROR_INVALID,
			"npy header truncated after %zu bytes", len);
	return H5FS_EBUFS;
}

void h5fs_npy_header_release(h5fs_npy_header *hdr)
{
	if (!hdr)
		return;
	free(hdr->descr);
	hdr->descr = NULL;
}

/* --- formatting ---------------------------------------------------- */

/* Python's repr() of a UTF-8 string. */
static void py_repr_str(h5fs_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char quote = '\'';
	size_t i;

	if (memchr(s, '\'', len) && !memchr(s, '"', len))
		quote = '"';
	h5fs_buf_putc(b, quote);
	for (i = 0; i < len; i++) {
		unsigned char c = u[i];

		if (c == (unsigned char)quote || c == '\\') {
			h5fs_buf_putc(b, '\\');
			h5fs_buf_putc(b, (char)c);
		} else if (c == '\n') {
			h5fs_buf_puts(b, "\\n");
		} else if (c == '\r') {
			h5fs_buf_puts(b, "\\r");
		} else if (c == '\t') {
			h5fs_buf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			h5fs_buf_printf(b, "\\x%02x", c);
		} else if (c == 0xc2 && i + 1 < len && (u[i + 1] <= 0xa0 || u[i + 1] == 0xad)) {
			/* U+0080..U+00A0 and U+00AD are not printable */
			h5fs_buf_printf(b, "\\x%02x", u[i + 1]);
			i++;
		} else {
			h5fs_buf_putc(b, (char)c);
		}
	}
	h5fs_buf_putc(b, quote);
}

static void py_repr_shape(h5fs_buf *b, const uint64_t *shape, size_t n)
{
	size_t i;

	h5fs_buf_putc(b, '(');
	for (i = 0; i < n; i++)
		h5fs_buf_printf(b, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
	if (n == 1)
		h5fs_buf_putc(b, ',');
	h5fs_buf_putc(b, ')');
}

/* Our JSON descr as numpy's repr(): lists stay lists, fields are tuples. */
static void py_repr_json(h5fs_buf *b, const h5fs_json *v, int tuple)
{
	size_t i;

	switch (v->type) {
	case H5FS_JSON_STRING:
		py_repr_str(b, v->s, v->slen);
		break;
	case H5FS_JSON_INT:
		h5fs_buf_printf(b, "%lld", (long long)v->i);
		break;
	case H5FS_JSON_ARRAY:
		h5fs_buf_putc(b, tuple ? '(' : '[');
		for (i = 0; i < v->n; i++) {
			const h5fs_json *it = v->items[i];

			if (i)
				h5fs_buf_puts(b, ", ");
			/*
			 * In a field list every item is a field tuple; in a
			 * field tuple the third item is a shape tuple and a
			 * list in second place a nested field list.
			 */
			if (!tuple)
				py_repr_json(b, it, 1);
			else
				py_repr_json(b, it, it->type == H5FS_JSON_ARRAY && i == 2);
		}
		if (tuple && v->n == 1)
			h5fs_buf_putc(b, ',');
		h5fs_buf_putc(b, tuple ? ')' : ']');
		break;
	default:
		break;
	}
}

int h5fs_npy_header_format(char **out, size_t *len, const char *descr, int fortran_order, int ndim, const uint64_t *shape)
{
	h5fs_buf dict = H5FS_BUF_INIT, hdr = H5FS_BUF_INIT;
	uint64_t full[2 * H5FS_NPY_MAX_RANK];
	h5fs_json *j = NULL;
	const h5fs_json *body;
	char *norm = NULL;
	size_t n, i, hlen, pad, lenbytes, growth;
	int error, major, wide = 0;
	const unsigned char *u;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(descr);
	H5FS_ASSERT_ARG(ndim >= 0 && ndim <= H5FS_NPY_MAX_RANK);
	H5FS_ASSERT_ARG(shape || !ndim);

	h5fs_buf_init(&dict);
	h5fs_buf_init(&hdr);
	if ((error = h5fs_dtype_normalize(&norm, descr)) < 0)
		return error;
	if ((error = descr_has_object(norm)) != 0) {
		if (error > 0)
			error = npy_bad("cannot format npy header: %s",
					"object arrays (pickled data) are not supported");
		goto out;
	}
	n = (size_t)ndim;
	for (i = 0; i < n; i++)
		full[i] = shape[i];

	h5fs_buf_puts(&dict, "{'descr': ");
	if (norm[0] == '[') {
		if ((error = h5fs__json_parse(&j, norm, strlen(norm))) < 0)
			goto out;
		body = j;
		/* numpy has no subarray arrays: their shape joins the array's */
		if (j->n == 2 && j->items[1]->type == H5FS_JSON_ARRAY &&
		    j->items[1]->n && j->items[1]->items[0]->type == H5FS_JSON_INT) {
			const h5fs_json *dims = j->items[1];

			if (n + dims->n > H5FS_NPY_MAX_RANK) {
				error = npy_bad("cannot format npy header: %s",
						"rank with the subarray is over 32");
				goto out;
			}
			for (i = 0; i < dims->n; i++)
				full[n++] = (uint64_t)dims->items[i]->i;
			body = j->items[0];
		}
		if (body->type == H5FS_JSON_STRING)
			py_repr_str(&dict, body->s, body->slen);
		else
			py_repr_json(&dict, body, 0);
	} else {
		py_repr_str(&dict, norm, strlen(norm));
	}
	h5fs_buf_printf(&dict, ", 'fortran_order': %s, 'shape': ",
			fortran_order ? "True" : "False");
	py_repr_shape(&dict, full, n);
	h5fs_buf_puts(&dict, ", }");
	if (n) {
		uint64_t g = full[fortran_order ? n - 1 : 0];

		for (growth = 1; g >= 10; g /= 10)
			growth++;
		for (growth = NPY_GROWTH_DIGITS - growth; growth; growth--)
			h5fs_buf_putc(&dict, ' ');
	}
	if ((error = h5fs_buf_check(&dict)) < 0)
		goto out;

	/*
	 * numpy writes latin-1 when every character fits (converting the
	 * two-byte UTF-8 sequences of U+0080..U+00FF back to one byte) and
	 * needs version 3.0 with UTF-8 otherwise.
	 */
	u = (const unsigned char *)dict.ptr;
	for (i = 0; i < dict.len; i++)
		if (u[i] >= 0xc4)
			wide = 1;
	if (!wide) {
		size_t w = 0;

		for (i = 0; i < dict.len; i++) {
			if (u[i] == 0xc2 || u[i] == 0xc3) {
				dict.ptr[w++] = (char)(((u[i] & 0x03) << 6) | (u[i + 1] & 0x3f));
				i++;
			} else {
				dict.ptr[w++] = dict.ptr[i];
			}
		}
		dict.len = w;
		dict.ptr[w] = '\0';
	}

	major = wide ? 3 : 1;
	for (;;) {
		lenbytes = major == 1 ? 2 : 4;
		hlen = dict.len + 1;	/* the final '\n' */
		pad = NPY_ALIGN - (NPY_MAGIC_LEN + 2 + lenbytes + hlen) % NPY_ALIGN;
		if (major != 1 || hlen + pad <= 0xffff)
			break;
		major = 2;
	}
	if (hlen + pad > 0xffffffffu) {
		error = npy_bad("cannot format npy header: %s", "header over 4 GiB");
		goto out;
	}
	h5fs_buf_put(&hdr, NPY_MAGIC, NPY_MAGIC_LEN);
	h5fs_buf_putc(&hdr, (char)major);
	h5fs_buf_putc(&hdr, 0);
	for (i = 0; i < lenbytes; i++)
		h5fs_buf_putc(&hdr, (char)(((hlen + pad) >> (8 * i)) & 0xff));
	h5fs_buf_put(&hdr, dict.ptr, dict.len);
	for (i = 0; i < pad; i++)
		h5fs_buf_putc(&hdr, ' ');
	h5fs_buf_putc(&hdr, '\n');
	if ((error = h5fs_buf_check(&hdr)) < 0)
		goto out;
	if (!(*out = h5fs_buf_detach(&hdr, len)))
		error = h5fs__error_oom();
out:
	h5fs__json_free(j);
	free(norm);
	h5fs_buf_release(&dict);
	h5fs_buf_release(&hdr);
	return error;
}
