/*
 * HDF5 object paths with bamboost's HDF5Path rules (spec section 1).
 *
 * Paths are plain strings: split on '/', empty components dropped, the
 * rest joined with single slashes.  "." and ".." are ordinary names and
 * whitespace is kept.  Components are compared whole, never by string
 * prefix, so "/a/bc" is not below "/a/b".
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Append the components of @p in to @p b, each preceded by '/'. */
static void path_put_components(h5fs_buf *b, const char *in)
{
	const char *p = in;

	while (*p) {
		const char *start;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != '/')
			p++;
		h5fs_buf_putc(b, '/');
		h5fs_buf_put(b, start, (size_t)(p - start));
	}
}

/*
 * Build the normalised form of @p in.  The components are written with a
 * leading '/' each; for a relative result the first slash is dropped.
 */
static int path_build(char **out, const char *in, int absolute)
{
	h5fs_buf b = H5FS_BUF_INIT;
	char *s;
	size_t len;

	h5fs_buf_init(&b);
	path_put_components(&b, in);
	if (h5fs_buf_check(&b) < 0) {
		h5fs_buf_release(&b);
		return H5FS_ENOMEM;
	}
	if (absolute && b.len == 0)
		h5fs_buf_putc(&b, '/');
	if (h5fs_buf_check(&b) < 0) {
		h5fs_buf_release(&b);
		return H5FS_ENOMEM;
	}
	s = h5fs_buf_detach(&b, &len);
	if (!s)
		return h5fs__error_oom();
	if (!absolute && len > 0)
		memmove(s, s + 1, len);	/* drop the leading '/', keep the NUL */
	*out = s;
	return 0;
}

int h5fs_path_normalize(char **out, const char *in, int absolute)
{
	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(in);

	return path_build(out, in, absolute);
}

int h5fs_path_join(char **out, const char *base, const char *piece)
{
	h5fs_buf b = H5FS_BUF_INIT;
	char *s;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(base);
	H5FS_ASSERT_ARG(piece);

	h5fs_buf_init(&b);
	h5fs_buf_puts(&b, base);
	h5fs_buf_putc(&b, '/');
	h5fs_buf_puts(&b, piece);
	if ((error = h5fs_buf_check(&b)) < 0)
		goto out;
	error = path_build(&s, b.ptr, base[0] == '/' || base[0] == '\0');
	if (!error)
		*out = s;
out:
	h5fs_buf_release(&b);
	return error;
}

int h5fs_path_parent(char **out, const char *path)
{
	char *norm = NULL;
	char *slash;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(path);

	/*
	 * The reference takes everything before the last '/' (or "/" when
	 * that is empty) and makes it absolute.  A relative path without a
	 * slash therefore is its own parent: "a" -> "/a".
	 */
	if ((error = path_build(&norm, path, path[0] == '/')) < 0)
		return error;
	slash = strrchr(norm, '/');
	if (slash)
		*slash = '\0';
	error = path_build(out, norm, 1);
	free(norm);
	return error;
}

const char *h5fs_path_basename(const char *path)
{
	const char *slash;

	if (!path)
		return NULL;
	slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/*
 * Whether the normalised absolute @p anc is @p p itself or one of its
 * ancestors, comparing whole components.  Returns the length of the
 * prefix to skip in @p p (including its separating '/'), or -1.
 */
static long path_ancestor_or_self(const char *p, const char *anc)
{
	size_t n;

	if (!strcmp(anc, "/"))
		return 1;
	n = strlen(anc);
	if (strncmp(p, anc, n))
		return -1;
	if (p[n] == '\0')
		return (long)n;
	if (p[n] == '/')
		return (long)n + 1;
	return -1;
}

int h5fs_path_is_child_of(const char *path, const char *ancestor)
{
	char *p = NULL, *a = NULL;
	long skip;
	int error;

	H5FS_ASSERT_ARG(path);
	H5FS_ASSERT_ARG(ancestor);

	if ((error = path_build(&p, path, 1)) < 0 ||
	    (error = path_build(&a, ancestor, 1)) < 0)
		goto out;
	skip = path_ancestor_or_self(p, a);
	error = skip >= 0 && p[skip] != '\0';
out:
	free(p);
	free(a);
	return error;
}

int h5fs_path_relative_to(char **out, const char *path, const char *other)
{
	char *p = NULL, *o = NULL;
	long skip;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(path);
	H5FS_ASSERT_ARG(other);

	/*
	 * The reference makes only @p other absolute, then compares
	 * component tuples; a relative receiver never starts with the root
	 * component and so always fails.
	 */
	if (path[0] != '/') {
		h5fs__error_set(H5FS_ERROR_INVALID,
				"'%s' is not a subpath of '%s'", path, other);
		return H5FS_EINVALID;
	}
	if ((error = path_build(&p, path, 1)) < 0 ||
	    (error = path_build(&o, other, 1)) < 0)
		goto out;
	skip = path_ancestor_or_self(p, o);
	if (skip < 0) {
		h5fs__error_set(H5FS_ERROR_INVALID,
				"'%s' is not a subpath of '%s'", p, o);
		error = H5FS_EINVALID;
		goto out;
	}
	if (!(*out = h5fs__strdup(p + skip)))
		error = H5FS_ENOMEM;
out:
	free(p);
	free(o);
	return error;
}

int h5fs_path_ancestors(char ***out, size_t *count, const char *path)
{
	char **arr = NULL;
	char *norm = NULL;
	size_t n = 0, i;
	char *slash;
	int error;

	H5FS_ASSERT_ARG(out);
	H5FS_ASSERT_ARG(path);

	if ((error = path_build(&norm, path, 1)) < 0)
		return error;
	/* one ancestor per component: the number of slashes, none for "/" */
	if (strcmp(norm, "/"))
		for (const char *c = norm; *c; c++)
			n += *c == '/';
	arr = calloc(n + 1, sizeof(*arr));
	if (!arr) {
		error = h5fs__error_oom();
		goto out;
	}
	for (i = 0; i < n; i++) {
		slash = strrchr(norm, '/');
		if (slash == norm)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (!(arr[i] = h5fs__strdup(norm))) {
			error = H5FS_ENOMEM;
			goto out;
		}
	}
	*out = arr;
	arr = NULL;
	if (count)
		*count = n;
out:
	h5fs_strarray_free(arr);
	free(norm);
	return error;
}

void h5fs_strarray_free(char **arr)
{
	if (!arr)
		return;
	for (char **p = arr; *p; p++)
		free(*p);
	free(arr);
}
