/*
 * Extended attributes (DESIGN.md section 3), answered from the index.
 *
 *  - user.NAME is HDF5 attribute NAME; an attribute whose own name
 *    starts with "h5." is user.h5.attr.NAME instead, so it cannot be
 *    mistaken for computed metadata.  The value is the library codec's
 *    text (h5fs_codec_format_attr), formatted by the indexer.
 *  - user.h5.* is computed, read-only metadata, listed so getfattr -d
 *    shows it: kind, dtype, shape, maxshape, chunks, layout, filters,
 *    storage_size, link.file, link.path (as the object has them), and
 *    error when the indexer could not read part of the object.
 *  - Symlinks (soft and external links) list nothing: the kernel refuses
 *    user.* attributes on symlinks (ENODATA before we are asked), so
 *    listing names that cannot be read would only make getfattr -h fail.
 *    An external link's file and path are in its symlink text
 *    (FILE::/path); user.h5.link.file and user.h5.link.path are answered
 *    for callers that reach the daemon some other way.
 *  - Other namespaces: ENODATA on get.  A value over 64 KiB gives E2BIG,
 *    a buffer too small ERANGE.  Set and remove: EROFS on read-only
 *    mounts; EOPNOTSUPP on read-write mounts until the write side lands
 *    (never ENOSYS, which would switch xattrs off for the whole mount).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5fs_ll.h"

#define XATTR_MAX_VALUE 65536
#define XATTR_MAX_LIST 65536
#define XATTR_MAX_NAME 255

static const char *const kind_names[] = {
	"group", "dataset", "datatype", "softlink", "extlink", "unknown"
};

static int name_for_attr(const char *aname, char **out)
{
	int n = asprintf(out, "%s%s", strncmp(aname, "h5.", 3) ? "user." : "user.h5.attr.", aname);

	return n < 0 ? -1 : n;
}

static int do_listxattr(struct h5fs_ll *ll, fuse_ino_t ino, char **bufp, size_t *lenp)
{
	struct h5fs_node *n;
	size_t cap = 256, len = 0;
	char *buf;
	int err;

	*bufp = NULL;
	*lenp = 0;
	if ((err = h5fs_ll_node(ll, ino, &n)))
		return err;
	if (n->flags & H5FS_NF_BAD) {
		h5fs_log(H5FS_LOG_WARN, "listxattr '%s': %s", n->path ? n->path : "?",
			 n->errmsg ? n->errmsg : "object unreadable");
		return EIO;
	}
	if (n->kind == H5FS_NK_SOFTLINK || n->kind == H5FS_NK_EXTLINK)
		return 0;
	buf = malloc(cap);
	if (!buf)
		return ENOMEM;
#define PUT(s) do { \
	size_t l_ = strlen(s) + 1; \
	if (len + l_ > cap) { \
		char *nb_; \
		while (len + l_ > cap) cap *= 2; \
		if (!(nb_ = realloc(buf, cap))) { free(buf); return ENOMEM; } \
		buf = nb_; \
	} \
	memcpy(buf + len, s, l_); \
	len += l_; \
} while (0)
	for (uint32_t i = 0; i < n->nattrs; i++) {
		char *x;
		int l = name_for_attr(n->attrs[i].name, &x);

		if (l < 0) {
			free(buf);
			return ENOMEM;
		}
		if (l > XATTR_MAX_NAME)
			h5fs_log(H5FS_LOG_DEBUG, "'%s': attribute name too long for an xattr: '%.40s...'",
				 n->path, n->attrs[i].name);
		else
			PUT(x);
		free(x);
	}
	PUT("user.h5.kind");
	for (int m = 0; m < H5FS_M_COUNT; m++) {
		if (n->meta[m]) {
			char name[64];

			snprintf(name, sizeof(name), "user.h5.%s", h5fs_meta_names[m]);
			PUT(name);
		}
	}
	if (n->errmsg)
		PUT("user.h5.error");
#undef PUT
	if (len > XATTR_MAX_LIST) {
		free(buf);
		h5fs_log(H5FS_LOG_WARN, "listxattr '%s': the list exceeds 64 KiB", n->path);
		return E2BIG;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

void h5fs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf;
	size_t len;
	int err = do_listxattr(h5fs_ll_data(req), ino, &buf, &len);

	if (err)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static const struct h5fs_attr *find_attr(const struct h5fs_node *n, const char *aname)
{
	for (uint32_t i = 0; i < n->nattrs; i++)
		if (!strcmp(n->attrs[i].name, aname))
			return &n->attrs[i];
	return NULL;
}

/* The value of @p name: a borrowed pointer and length, or an errno. */
static int do_getxattr(struct h5fs_ll *ll, fuse_ino_t ino, const char *name, const char **val, size_t *len)
{
	struct h5fs_node *n;
	const struct h5fs_attr *a;
	int err;

	if ((err = h5fs_ll_node(ll, ino, &n)))
		return err;
	if (strncmp(name, "user.", 5))
		return ENODATA;
	if (n->flags & H5FS_NF_BAD) {
		h5fs_log(H5FS_LOG_WARN, "getxattr '%s': %s", n->path ? n->path : "?",
			 n->errmsg ? n->errmsg : "object unreadable");
		return EIO;
	}
	if (!strncmp(name, "user.h5.attr.", 13)) {
		if (strncmp(name + 13, "h5.", 3))
			return ENODATA;
		a = find_attr(n, name + 13);
	} else if (!strncmp(name, "user.h5.", 8)) {
		const char *key = name + 8;

		if (!strcmp(key, "kind")) {
			*val = kind_names[n->kind <= H5FS_NK_UNKNOWN ? n->kind : H5FS_NK_UNKNOWN];
			*len = strlen(*val);
			return 0;
		}
		if (!strcmp(key, "error") && n->errmsg) {
			*val = n->errmsg;
			*len = strlen(*val);
			return 0;
		}
		for (int m = 0; m < H5FS_M_COUNT; m++) {
			if (n->meta[m] && !strcmp(key, h5fs_meta_names[m])) {
				*val = n->meta[m];
				*len = strlen(*val);
				return 0;
			}
		}
		return ENODATA;
	} else {
		a = find_attr(n, name + 5);
	}
	if (!a)
		return ENODATA;
	if (a->err) {
		h5fs_log(H5FS_LOG_DEBUG, "getxattr '%s' of '%s': %s", name, n->path, strerror(a->err));
		return a->err;
	}
	if (a->len > XATTR_MAX_VALUE)
		return E2BIG;
	*val = a->value;
	*len = a->len;
	return 0;
}

void h5fs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	const char *val = NULL;
	size_t len = 0;
	int err = do_getxattr(h5fs_ll_data(req), ino, name, &val, &len);

	if (err)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static int refuse_xattr(struct h5fs_ll *ll, fuse_ino_t ino, const char *name, const char *op)
{
	struct h5fs_node *n;
	int err;

	if ((err = h5fs_ll_node(ll, ino, &n)))
		return err;
	if (strncmp(name, "user.", 5))
		return EOPNOTSUPP;
	if (ll->opts->ro)
		return EROFS;
	if (!strncmp(name, "user.h5.", 8) && strncmp(name, "user.h5.attr.", 13))
		return EPERM;
	h5fs_log(H5FS_LOG_WARN, "%s '%s' on '%s': the write side is not implemented yet", op, name, n->path);
	return EOPNOTSUPP;
}

void h5fs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	(void)value; (void)size; (void)flags;
	fuse_reply_err(req, refuse_xattr(h5fs_ll_data(req), ino, name, "setxattr"));
}

void h5fs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, refuse_xattr(h5fs_ll_data(req), ino, name, "removexattr"));
}
