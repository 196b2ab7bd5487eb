/*
 * h5fs_buf: a growable, always NUL-terminated byte buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static char buf_empty[1];

void h5fs_buf_init(h5fs_buf *b)
{
	b->ptr = buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->oom = false;
}

void h5fs_buf_release(h5fs_buf *b)
{
	if (b->alloc)
		free(b->ptr);
	h5fs_buf_init(b);
}

int h5fs_buf_grow(h5fs_buf *b, size_t extra)
{
	size_t want;
	char *p;

	if (!b->ptr)
		h5fs_buf_init(b);
	if (b->oom)
		return -1;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	if (want < 64)
		want = 64;
	if (want < b->alloc + b->alloc / 2 && b->alloc + b->alloc / 2 > b->alloc)
		want = b->alloc + b->alloc / 2;
	p = realloc(b->alloc ? b->ptr : NULL, want);
	if (!p)
		goto fail;
	if (!b->alloc)
		p[0] = '\0';
	b->ptr = p;
	b->alloc = want;
	return 0;
fail:
	b->oom = true;
	return -1;
}

void h5fs_buf_put(h5fs_buf *b, const void *data, size_t len)
{
	if (h5fs_buf_grow(b, len) < 0)
		return;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
}

void h5fs_buf_puts(h5fs_buf *b, const char *s)
{
	h5fs_buf_put(b, s, strlen(s));
}

void h5fs_buf_putc(h5fs_buf *b, char c)
{
	h5fs_buf_put(b, &c, 1);
}

void h5fs_buf_printf(h5fs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || h5fs_buf_grow(b, (size_t)n) < 0) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void h5fs_buf_put_utf8(h5fs_buf *b, unsigned long cp)
{
	char u[4];

	if (cp < 0x80) {
		h5fs_buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		h5fs_buf_put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		h5fs_buf_put(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		h5fs_buf_put(b, u, 4);
	}
}

void h5fs_buf_put_json_string(h5fs_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	h5fs_buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"': h5fs_buf_puts(b, "\\\""); break;
		case '\\': h5fs_buf_puts(b, "\\\\"); break;
		case '\n': h5fs_buf_puts(b, "\\n"); break;
		case '\r': h5fs_buf_puts(b, "\\r"); break;
		case '\t': h5fs_buf_puts(b, "\\t"); break;
		case '\b': h5fs_buf_puts(b, "\\b"); break;
		case '\f': h5fs_buf_puts(b, "\\f"); break;
		default:
			if (c < 0x20) {
				char esc[6] = { '\\', 'u', '0', '0',
						hex[c >> 4], hex[c & 15] };
				h5fs_buf_put(b, esc, 6);
			} else {
				h5fs_buf_putc(b, (char)c);
			}
		}
	}
	h5fs_buf_putc(b, '"');
}

int h5fs_buf_check(const h5fs_buf *b)
{
	if (b->oom)
		return h5fs__error_oom();
	return 0;
}

char *h5fs_buf_detach(h5fs_buf *b, size_t *len)
{
	char *p;

	if (!b->alloc) {
		p = malloc(1);
		if (p)
			p[0] = '\0';
	} else {
		p = b->ptr;
	}
	if (len)
		*len = b->len;
	h5fs_buf_init(b);
	return p;
}

char *h5fs__strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p) {
		h5fs__error_oom();
		return NULL;
	}
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *h5fs__strdup(const char *s)
{
	return h5fs__strndup(s, strlen(s));
}
