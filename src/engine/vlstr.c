/*
 * The text of a variable-length string element, escaped as ops_file.c's
 * header says: "\n" and "\\" become two bytes each, so every element is
 * one line (describe.c sizes the text, read.c renders it).
 */
#include <stddef.h>

#include "engine.h"

size_t h5fs_vlstr_text_len(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; *s; s++)
		n += (*s == '\n' || *s == '\\') ? 2 : 1;
	return n;
}

char *h5fs_vlstr_text_put(char *out, const char *s)
{
	if (!s)
		return out;
	for (; *s; s++) {
		if (*s == '\n') {
			*out++ = '\\';
			*out++ = 'n';
		} else if (*s == '\\') {
			*out++ = '\\';
			*out++ = '\\';
		} else {
			*out++ = *s;
		}
	}
	return out;
}
