/*
 * A small strict JSON parser; see json.h for what it accepts.
 *
 * Recursive descent with an explicit depth counter: the recursion never
 * goes deeper than H5FS_JSON_MAX_DEPTH, whatever the input.  Errors carry
 * the byte offset where the parser stopped.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

struct json_parser {
	const char *text;
	size_t len;
	size_t pos;
	unsigned int depth;
};

static int json_fail(struct json_parser *p, const char *what)
{
	h5fs__error_set(H5FS_ERROR_INVALID, "invalid json at offset %zu: %s",
			p->pos, what);
	return H5FS_EINVALID;
}

static void json_skip_ws(struct json_parser *p)
{
	while (p->pos < p->len) {
		char c = p->text[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static bool json_match(struct json_parser *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n))
		return false;
	p->pos += n;
	return true;
}

static h5fs_json *json_new(h5fs_json_type type)
{
	h5fs_json *v = calloc(1, sizeof(*v));

	if (!v) {
		h5fs__error_oom();
		return NULL;
	}
	v->type = type;
	return v;
}

void h5fs__json_free(h5fs_json *v)
{
	size_t k;

	if (!v)
		return;
	for (k = 0; k < v->n; k++) {
		h5fs__json_free(v->items[k]);
		if (v->keys)
			free(v->keys[k]);
	}
	free(v->items);
	free(v->keys);
	free(v->klens);
	free(v->s);
	free(v);
}

static int json_hex4(struct json_parser *p, unsigned int *out)
{
	unsigned int val = 0;
	size_t k;

	if (p->len - p->pos < 4)
		return json_fail(p, "truncated \\u escape");
	for (k = 0; k < 4; k++) {
		char c = p->text[p->pos + k];

		val <<= 4;
		if (c >= '0' && c <= '9')
			val |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			val |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			val |= (unsigned int)(c - 'A' + 10);
		else
			return json_fail(p, "bad hex digit in \\u escape");
	}
	p->pos += 4;
	*out = val;
	return 0;
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it
 * is not valid (overlong forms, surrogates and values above U+10FFFF are
 * invalid, as RFC 3629 says).
 */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
	size_t need, k;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (k = 1; k < need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

/* Decode the string literal at p->pos (which is at the opening quote). */
static int json_string(struct json_parser *p, char **out, size_t *outlen)
{
	h5fs_buf b = H5FS_BUF_INIT;
	int error = 0;

	h5fs_buf_init(&b);
	p->pos++;
	for (;;) {
		unsigned char c;

		if (p->pos >= p->len) {
			error = json_fail(p, "unterminated string");
			goto out;
		}
		c = (unsigned char)p->text[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			error = json_fail(p, "control character in string");
			goto out;
		}
		if (c == '\\') {
			unsigned int cp, lo;

			if (++p->pos >= p->len) {
				error = json_fail(p, "unterminated escape");
				goto out;
			}
			c = (unsigned char)p->text[p->pos++];
			switch (c) {
			case '"': h5fs_buf_putc(&b, '"'); break;
			case '\\': h5fs_buf_putc(&b, '\\'); break;
			case '/': h5fs_buf_putc(&b, '/'); break;
			case 'b': h5fs_buf_putc(&b, '\b'); break;
			case 'f': h5fs_buf_putc(&b, '\f'); break;
			case 'n': h5fs_buf_putc(&b, '\n'); break;
			case 'r': h5fs_buf_putc(&b, '\r'); break;
			case 't': h5fs_buf_putc(&b, '\t'); break;
			case 'u':
				if ((error = json_hex4(p, &cp)) < 0)
					goto out;
				if (cp >= 0xdc00 && cp <= 0xdfff) {
					error = json_fail(p, "lone low surrogate");
					goto out;
				}
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (!json_match(p, "\\u")) {
						error = json_fail(p, "lone high surrogate");
						goto out;
					}
					if ((error = json_hex4(p, &lo)) < 0)
						goto out;
					if (lo < 0xdc00 || lo > 0xdfff) {
						error = json_fail(p, "bad low surrogate");
						goto out;
					}
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				h5fs_buf_put_utf8(&b, cp);
				break;
			default:
				p->pos--;
				error = json_fail(p, "bad escape");
				goto out;
			}
		} else {
			size_t n = json_utf8_len((const unsigned char *)p->text + p->pos,
						 p->len - p->pos);

			if (!n) {
				error = json_fail(p, "invalid utf-8 in string");
				goto out;
			}
			h5fs_buf_put(&b, p->text + p->pos, n);
			p->pos += n;
		}
	}
	if ((error = h5fs_buf_check(&b)) < 0)
		goto out;
	*out = h5fs_buf_detach(&b, outlen);
	if (!*out)
		error = h5fs__error_oom();
out:
	h5fs_buf_release(&b);
	return error;
}

static bool json_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static int json_number(struct json_parser *p, h5fs_json **out)
{
	size_t start = p->pos;
	bool integral = true, neg = false;
	h5fs_json *v;
	char *end;

	if (p->text[p->pos] == '-') {
		neg = true;
		p->pos++;
	}
	if (p->pos >= p->len || !json_isdigit(p->text[p->pos]))
		return json_fail(p, "expected digit");
	if (p->text[p->pos] == '0') {
		p->pos++;
		if (p->pos < p->len && json_isdigit(p->text[p->pos]))
			return json_fail(p, "leading zero");
	} else {
		while (p->pos < p->len && json_isdigit(p->text[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && p->text[p->pos] == '.') {
		integral = false;
		p->pos++;
		if (p->pos >= p->len || !json_isdigit(p->text[p->pos]))
			return json_fail(p, "expected digit after '.'");
		while (p->pos < p->len && json_isdigit(p->text[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && (p->text[p->pos] == 'e' || p->text[p->pos] == 'E')) {
		integral = false;
		p->pos++;
		if (p->pos < p->len && (p->text[p->pos] == '+' || p->text[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || !json_isdigit(p->text[p->pos]))
			return json_fail(p, "expected digit in exponent");
		while (p->pos < p->len && json_isdigit(p->text[p->pos]))
			p->pos++;
	}

	if (!(v = json_new(H5FS_JSON_REAL)))
		return H5FS_ENOMEM;
	/* A NUL-terminated copy for strtod and friends (text need not be). */
	if (!(v->s = h5fs__strndup(p->text + start, p->pos - start))) {
		free(v);
		return H5FS_ENOMEM;
	}
	v->slen = p->pos - start;
	/* JSON's grammar is a subset of strtod's in the C locale. */
	v->d = strtod(v->s, &end);
	if (integral) {
		errno = 0;
		if (neg) {
			long long ll = strtoll(v->s, &end, 10);

			if (!errno && !*end) {
				v->type = H5FS_JSON_INT;
				v->i = (int64_t)ll;
			}
		} else {
			unsigned long long ull = strtoull(v->s, &end, 10);

			if (!errno && !*end && ull <= UINT64_MAX) {
				v->type = H5FS_JSON_INT;
				if (ull <= (unsigned long long)INT64_MAX) {
					v->i = (int64_t)ull;
				} else {
					v->big = true;
					v->u = (uint64_t)ull;
				}
			}
		}
	}
	*out = v;
	return 0;
}

static int json_value(struct json_parser *p, h5fs_json **out);

/* Append @p item to @p v's items (and @p key to its keys for objects). */
static int json_push(h5fs_json *v, size_t *alloc, h5fs_json *item, char *key, size_t klen)
{
	if (v->n == *alloc) {
		size_t want = *alloc ? *alloc * 2 : 4;
		h5fs_json **items;

		if (want > SIZE_MAX / sizeof(*v->items))
			return h5fs__error_oom();
		if (!(items = realloc(v->items, want * sizeof(*items))))
			return h5fs__error_oom();
		v->items = items;
		if (v->type == H5FS_JSON_OBJECT) {
			char **keys;
			size_t *klens;

			if (!(keys = realloc(v->keys, want * sizeof(*keys))))
				return h5fs__error_oom();
			v->keys = keys;
			if (!(klens = realloc(v->klens, want * sizeof(*klens))))
				return h5fs__error_oom();
			v->klens = klens;
		}
		*alloc = want;
	}
	v->items[v->n] = item;
	if (v->type == H5FS_JSON_OBJECT) {
		v->keys[v->n] = key;
		v->klens[v->n] = klen;
	}
	v->n++;
	return 0;
}

static int json_container(struct json_parser *p, h5fs_json **out, bool object)
{
	h5fs_json *v, *item = NULL;
	char *key = NULL;
	size_t alloc = 0, klen = 0;
	char close = object ? '}' : ']';
	int error = 0;

	if (++p->depth > H5FS_JSON_MAX_DEPTH)
		return json_fail(p, "nesting too deep");
	if (!(v = json_new(object ? H5FS_JSON_OBJECT : H5FS_JSON_ARRAY)))
		return H5FS_ENOMEM;
	p->pos++;
	json_skip_ws(p);
	if (p->pos < p->len && p->text[p->pos] == close) {
		p->pos++;
		goto out;
	}
	for (;;) {
		json_skip_ws(p);
		if (object) {
			if (p->pos >= p->len || p->text[p->pos] != '"') {
				error = json_fail(p, "expected string key");
				goto out;
			}
			if ((error = json_string(p, &key, &klen)) < 0)
				goto out;
			json_skip_ws(p);
			if (p->pos >= p->len || p->text[p->pos] != ':') {
				error = json_fail(p, "expected ':'");
				goto out;
			}
			p->pos++;
		}
		if ((error = json_value(p, &item)) < 0)
			goto out;
		if ((error = json_push(v, &alloc, item, key, klen)) < 0)
			goto out;
		item = NULL;
		key = NULL;
		json_skip_ws(p);
		if (p->pos < p->len && p->text[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->text[p->pos] == close) {
			p->pos++;
			break;
		}
		error = json_fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
		goto out;
	}
out:
	p->depth--;
	h5fs__json_free(item);
	free(key);
	if (error < 0)
		h5fs__json_free(v);
	else
		*out = v;
	return error;
}

static int json_value(struct json_parser *p, h5fs_json **out)
{
	h5fs_json *v;
	char c;

	json_skip_ws(p);
	if (p->pos >= p->len)
		return json_fail(p, "expected value");
	c = p->text[p->pos];
	if (c == '{' || c == '[')
		return json_container(p, out, c == '{');
	if (c == '"') {
		int error;

		if (!(v = json_new(H5FS_JSON_STRING)))
			return H5FS_ENOMEM;
		if ((error = json_string(p, &v->s, &v->slen)) < 0) {
			free(v);
			return error;
		}
		*out = v;
		return 0;
	}
	if (json_match(p, "NaN") || json_match(p, "Infinity") ||
	    json_match(p, "-Infinity")) {
		if (!(v = json_new(H5FS_JSON_REAL)))
			return H5FS_ENOMEM;
		if (c == 'N')
			v->d = NAN;
		else
			v->d = c == '-' ? -INFINITY : INFINITY;
		*out = v;
		return 0;
	}
	if (c == '-' || json_isdigit(c))
		return json_number(p, out);
	if (json_match(p, "true") || json_match(p, "false")) {
		if (!(v = json_new(H5FS_JSON_BOOL)))
			return H5FS_ENOMEM;
		v->b = c == 't';
		*out = v;
		return 0;
	}
	if (json_match(p, "null")) {
		if (!(*out = json_new(H5FS_JSON_NULL)))
			return H5FS_ENOMEM;
		return 0;
	}
	return json_fail(p, "expected value");
}

int h5fs__json_parse(h5fs_json **out, const char *text, size_t len)
{
	struct json_parser p = { text, len, 0, 0 };
	h5fs_json *v = NULL;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(text || !len);
	*out = NULL;
	if (!text)
		text = p.text = "";
	if ((error = json_value(&p, &v)) < 0)
		return error;
	json_skip_ws(&p);
	if (p.pos != p.len) {
		h5fs__json_free(v);
		return json_fail(&p, "trailing characters");
	}
	*out = v;
	return 0;
}
