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
 *  - Other namespaces: ENODATA on get and remove, EOPNOTSUPP on set.  A
 *    value over 64 KiB gives E2BIG, a buffer too small ERANGE.
 *  - Set (read-write mounts): the library codec parses the text into the
 *    existing attribute's type and shape, or lets the text decide the
 *    type of a new one (h5fs_codec_set_attr); XATTR_CREATE/REPLACE are
 *    honoured (EEXIST / ENODATA); text that does not fit gives EINVAL and
 *    changes nothing.  Every change is flushed (H5Fflush) before the
 *    reply.  user.h5.* gives EPERM, except: a value equal to the current
 *    one is accepted (so cp -a / rsync -X of a mount's files onto
 *    themselves work); on a dataset being created (not yet committed, or
 *    committed by the mount with the default |u1 bytes) user.h5.dtype and
 *    user.h5.shape declare its type and shape, and the other computed keys
 *    are accepted and ignored.  Attributes set on a file not yet
 *    committed are kept and written when it is.
 *  - Remove: deletes the attribute; user.h5.* gives EPERM.  Never ENOSYS,
 *    which would switch xattrs off for the whole mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/xattr.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs_ll.h"
#include "engine/ext.h"

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
	/* a group names its external links' targets (symlinks cannot carry user.*) */
	for (uint32_t c = 0; c < n->nchildren && n->kind == H5FS_NK_GROUP; c++) {
		const char *lf, *lp;
		char *x = NULL;

		if (!h5fs_ext_link(&ll->file->ext, n, n->children[c].name, &lf, &lp) ||
		    strlen(n->children[c].name) + 19 > XATTR_MAX_NAME)
			continue;
		for (int f = 0; f < 2; f++) {
			if (asprintf(&x, "user.h5.link.%s.%s", n->children[c].name, f ? "path" : "file") < 0) {
				free(buf);
				return ENOMEM;
			}
			PUT(x);
			free(x);
		}
	}
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
	/*
	 * No security labels, no POSIX ACLs: say so, as filesystems without
	 * them do, so that ls -l stops asking per file (it caches "not
	 * supported" per device, but not "no such attribute").
	 */
	if (!strncmp(name, "security.", 9) || !strncmp(name, "system.posix_acl_", 17))
		return EOPNOTSUPP;
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
		/* link.NAME.file / link.NAME.path of a group's external link NAME */
		if (!strncmp(key, "link.", 5) && n->kind == H5FS_NK_GROUP) {
			size_t kl = strlen(key);
			int m = kl > 10 && !strcmp(key + kl - 5, ".file") ? H5FS_M_LINKFILE :
				kl > 10 && !strcmp(key + kl - 5, ".path") ? H5FS_M_LINKPATH : -1;

			if (m >= 0) {
				char *cname = strndup(key + 5, kl - 10);
				const char *lf, *lp;
				int found;

				if (!cname)
					return ENOMEM;
				found = h5fs_index_find(n, cname) && h5fs_ext_link(&ll->file->ext, n, cname, &lf, &lp);
				free(cname);
				if (found) {
					*val = m == H5FS_M_LINKFILE ? lf : lp;
					*len = strlen(*val);
					return 0;
				}
			}
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

/* ---- set and remove (read-write mounts, DESIGN.md section 3) ----------- */

/*
 * Where a user.* name goes: the HDF5 attribute name in *aname, or, for
 * computed metadata, the key after "user.h5." in *key.
 */
static int split_name(const char *name, const char **aname, const char **key)
{
	*aname = *key = NULL;
	if (strncmp(name, "user.", 5))
		return EOPNOTSUPP;
	if (!strncmp(name, "user.h5.attr.", 13)) {
		if (strncmp(name + 13, "h5.", 3))
			return EINVAL;	/* user.h5.attr. names only h5.* attributes */
		*aname = name + 13;
	} else if (!strncmp(name, "user.h5.", 8)) {
		*key = name + 8;
	} else {
		*aname = name + 5;
	}
	if (*aname && !**aname)
		return EINVAL;
	return 0;
}

static const char *meta_value(const struct h5fs_node *n, const char *key)
{
	if (!strcmp(key, "kind"))
		return kind_names[n->kind <= H5FS_NK_UNKNOWN ? n->kind : H5FS_NK_UNKNOWN];
	for (int m = 0; m < H5FS_M_COUNT; m++)
		if (n->meta[m] && !strcmp(key, h5fs_meta_names[m]))
			return n->meta[m];
	return NULL;
}

static int equal_text(const char *cur, const char *value, size_t size)
{
	return cur && strlen(cur) == size && !memcmp(cur, value, size);
}

static int set_meta(struct h5fs_ll *ll, struct h5fs_node *n, const char *key, const char *value, size_t size,
		    int flags)
{
	const char *cur = meta_value(n, key);
	int creating = (n->flags & (H5FS_NF_PENDING | H5FS_NF_FRESH)) && n->kind == H5FS_NK_DATASET;

	if ((flags & XATTR_CREATE) && cur)
		return EEXIST;
	if (equal_text(cur, value, size))
		return 0;
	if (creating && (!strcmp(key, "dtype") || !strcmp(key, "shape")))
		return h5fs_write_declare(ll, n, key, value, size);
	if (creating && strcmp(key, "kind")) {
		/* a copy of a mount's file carries maxshape, chunks, ...: accepted, not applied */
		h5fs_log(H5FS_LOG_DEBUG, "setxattr 'user.h5.%s' on new '%s': accepted and ignored", key, n->path);
		return 0;
	}
	h5fs_log(H5FS_LOG_WARN, "setxattr 'user.h5.%s' on '%s': computed metadata is read-only%s", key, n->path,
		 creating ? "" : " (dtype and shape may be set on a file being created)");
	return EPERM;
}

static int do_setxattr(struct h5fs_ll *ll, fuse_ino_t ino, const char *name, const char *value, size_t size,
		       int flags)
{
	struct h5fs_node *n;
	const char *aname, *key;
	unsigned int aflags = 0;
	int64_t fid;
	hid_t oid;
	int err, rc;

	if ((err = h5fs_ll_node(ll, ino, &n)))
		return err;
	if ((err = split_name(name, &aname, &key))) {
		if (err == EINVAL)
			h5fs_log(H5FS_LOG_WARN, "setxattr '%s' on '%s': not an attribute name", name, n->path);
		return err;
	}
	if (ll->opts->ro)
		return EROFS;
	if (size > XATTR_MAX_VALUE) {
		h5fs_log(H5FS_LOG_WARN, "setxattr '%s' on '%s': %zu bytes, over the 64 KiB limit", name, n->path, size);
		return E2BIG;
	}
	if (n->flags & (H5FS_NF_BAD | H5FS_NF_DEAD) || n->kind == H5FS_NK_UNKNOWN) {
		h5fs_log(H5FS_LOG_WARN, "setxattr '%s' on '%s': the object is unreadable", name, n->path);
		return EIO;
	}
	if (key)
		return set_meta(ll, n, key, value, size, flags);
	if (n->kind == H5FS_NK_SOFTLINK || n->kind == H5FS_NK_EXTLINK)
		return EPERM;
	if (flags & XATTR_CREATE)
		aflags |= H5FS_ATTR_CREATE;
	if (flags & XATTR_REPLACE)
		aflags |= H5FS_ATTR_REPLACE;
	if (n->flags & H5FS_NF_PENDING)
		return h5fs_write_pending_attr(ll, n, aname, value, size, aflags);
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "setxattr on", n->path)))
		return err;
	oid = H5Oopen(fid, n->path, H5P_DEFAULT);
	if (oid < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "setxattr: cannot open", n->path);
		h5fs_backing_end_write(ll->file, 0);
		return EIO;
	}
	rc = h5fs_codec_set_attr(oid, aname, value, size, aflags);
	if (rc == 0 && H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0) {
		h5fs_log_hdf5(H5FS_LOG_ERR, "setxattr: cannot flush", n->path);
		rc = H5FS_ERROR;
	}
	if (rc < 0) {
		err = rc == H5FS_ENOTFOUND ? ENODATA : rc == H5FS_EEXISTS ? EEXIST : 0;
		if (err)
			h5fs_log(H5FS_LOG_DEBUG, "setxattr '%s' on '%s': %s", name, n->path, strerror(err));
		else
			err = h5fs_errno_of(rc, n->path);
		H5Eclear2(H5E_DEFAULT);
	} else {
		h5fs_tree_load_attr(n, oid, aname);
	}
	H5Oclose(oid);
	h5fs_backing_end_write(ll->file, 0);
	return err;
}

void h5fs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	int err = do_setxattr(h5fs_ll_data(req), ino, name, value, size, flags);

	/*
	 * Linux hands a FUSE filesystem's EAGAIN for setxattr to the caller
	 * as EOPNOTSUPP (seen on 6.18 with a minimal libfuse filesystem;
	 * removexattr and the rest pass it on), which would read as "this
	 * mount has no attributes": a file held by another program is EBUSY
	 * here instead.
	 */
	fuse_reply_err(req, err == EAGAIN ? EBUSY : err);
}

static int do_removexattr(struct h5fs_ll *ll, fuse_ino_t ino, const char *name)
{
	struct h5fs_node *n;
	const char *aname, *key;
	int64_t fid;
	hid_t oid;
	int err = 0, ex;

	if ((err = h5fs_ll_node(ll, ino, &n)))
		return err;
	if ((err = split_name(name, &aname, &key)))
		return err == EOPNOTSUPP ? ENODATA : err;
	if (ll->opts->ro)
		return EROFS;
	if (key) {
		h5fs_log(H5FS_LOG_WARN, "removexattr '%s' on '%s': computed metadata is read-only", name, n->path);
		return meta_value(n, key) ? EPERM : ENODATA;
	}
	if (n->flags & H5FS_NF_PENDING)
		return h5fs_write_pending_attr(ll, n, aname, NULL, 0, 0);
	if (!find_attr(n, aname))
		return ENODATA;
	if ((err = h5fs_backing_begin_write(ll->file, &fid, "removexattr on", n->path)))
		return err;
	oid = H5Oopen(fid, n->path, H5P_DEFAULT);
	if (oid < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "removexattr: cannot open", n->path);
		h5fs_backing_end_write(ll->file, 0);
		return EIO;
	}
	ex = H5Aexists(oid, aname);
	if (ex == 0) {
		err = ENODATA;
	} else if (ex < 0 || H5Adelete(oid, aname) < 0 || H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "removexattr: cannot delete the attribute of", n->path);
		err = EIO;
	}
	H5Eclear2(H5E_DEFAULT);
	h5fs_tree_load_attr(n, oid, aname);
	H5Oclose(oid);
	h5fs_backing_end_write(ll->file, 0);
	return err;
}

void h5fs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, do_removexattr(h5fs_ll_data(req), ino, name));
}
