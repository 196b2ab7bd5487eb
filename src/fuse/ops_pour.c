/*
 * Bytes of one dataset poured into a dataset, through a stage and a
 * commit (ops_write.c):
 *
 *  - a dataset the mount made as plain bytes (|u1, H5FS_NF_FRESH) whose
 *    user.h5.dtype / user.h5.shape are set afterwards (rsync -X and tar
 *    set xattrs after the data is closed) is made anew with them;
 *  - rename of such a dataset over another dataset (sed -i, editors and
 *    other tools that write a temporary file and move it over the old
 *    one) puts its bytes into the old one as `cat tmp > old` would: same
 *    dtype and trailing dimensions when the size fits, creation
 *    properties and attributes kept; bytes that do not fit are EINVAL and
 *    nothing changes.  A plain link move would turn the dataset into a
 *    1-D |u1 one without its attributes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/stage.h"
#include "h5fs_ll.h"

/* Stage @p n's committed bytes into @p st, at the same offsets. */
static int copy_bytes(struct h5fs_ll *ll, struct h5fs_node *n, h5fs_stage *st)
{
	struct h5fs_basectx c = { ll, n };
	char *piece = malloc((size_t)1 << 20);
	uint64_t off = 0;

	if (!piece)
		return ENOMEM;
	while (off < n->size) {
		size_t len = n->size - off < ((uint64_t)1 << 20) ? (size_t)(n->size - off) : (size_t)1 << 20;
		int rc = h5fs_write_base_read(piece, len, off, &c);

		if (rc == 0)
			rc = h5fs_stage_write(st, piece, len, off);
		if (rc < 0) {
			free(piece);
			return EIO;
		}
		off += len;
	}
	free(piece);
	return 0;
}

/* Rewrite a fresh dataset with the declared dtype/shape. */
static int reinterpret(struct h5fs_ll *ll, struct h5fs_node *n)
{
	struct h5fs_wdecl *d = n->wr;
	h5fs_stage *st = NULL;
	uint64_t total = n->size;
	int err, created = 1;

	if (d->shape) {
		int nd;
		uint64_t dims[32], cnt = 1, es = 1;
		hid_t t;

		if (h5fs_shape_parse(&nd, dims, d->shape) < 0)
			return EINVAL;
		for (int i = 0; i < nd; i++) {
			if (dims[i] && cnt > UINT64_MAX / dims[i])
				return EINVAL;
			cnt *= dims[i];
		}
		if (d->dtype) {
			if (h5fs_dtype_to_hid(&t, d->dtype) < 0)
				return EINVAL;
			es = H5Tget_size(t);
			H5Tclose(t);
		}
		if ((es && cnt > UINT64_MAX / es) || cnt * es != total)
			return d->dtype ? EINVAL : 0;	/* wait for the dtype */
	}
	if ((err = h5fs_write_new_stage(ll, 0, &st)))
		return err;
	if ((err = copy_bytes(ll, n, st))) {
		h5fs_stage_free(st);
		return err;
	}
	err = h5fs_write_commit(ll, n, NULL, st, 1, &created, NULL, NULL, NULL, 0, 0);
	h5fs_stage_free(st);
	n->flags |= H5FS_NF_FRESH;
	return err;
}


int h5fs_write_pour(struct h5fs_ll *ll, struct h5fs_node *from, struct h5fs_node *into)
{
	h5fs_stage *st = NULL;
	int err, created = 0;

	if ((err = h5fs_write_new_stage(ll, into->size, &st)))
		return err;
	if (h5fs_stage_truncate(st, 0) < 0) {
		h5fs_stage_free(st);
		return EIO;
	}
	if (!(err = copy_bytes(ll, from, st)))
		err = h5fs_write_commit(ll, into, NULL, st, 0, &created, NULL, NULL, NULL, 0, 0);
	h5fs_stage_free(st);
	if (!err)
		h5fs_log(H5FS_LOG_DEBUG, "rename '%s' over '%s': its %llu bytes went into '%s'", from->path, into->path,
			 (unsigned long long)from->size, into->path);
	return err;
}

int h5fs_write_declare(struct h5fs_ll *ll, struct h5fs_node *n, const char *key, const char *value, size_t len)
{
	struct h5fs_wdecl *d = n->wr;
	char *v = strndup(value, len), *old;
	char **slot;
	int err = 0;

	if (!v)
		return ENOMEM;
	if (!strcmp(key, "dtype")) {
		hid_t t;

		if (h5fs_dtype_to_hid(&t, v) < 0) {
			h5fs_log(H5FS_LOG_WARN, "setxattr 'user.h5.dtype' on '%s': '%s' is not a dtype (%s)", n->path, v,
				 h5fs_error_last()->message);
			free(v);
			return EINVAL;
		}
		H5Tclose(t);
	} else {
		int nd;
		uint64_t dims[32];

		if (h5fs_shape_parse(&nd, dims, v) < 0) {
			h5fs_log(H5FS_LOG_WARN, "setxattr 'user.h5.shape' on '%s': '%s' is not a shape like [3, 4]",
				 n->path, v);
			free(v);
			return EINVAL;
		}
	}
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d) {
			free(v);
			return ENOMEM;
		}
		n->wr = d;
	}
	slot = !strcmp(key, "dtype") ? &d->dtype : &d->shape;
	old = *slot;
	*slot = v;
	if (n->flags & H5FS_NF_PENDING) {
		/* shown at once; used by the commit */
		int m = !strcmp(key, "dtype") ? H5FS_M_DTYPE : H5FS_M_SHAPE;
		char *c = strdup(v);

		if (c) {
			free(n->meta[m]);
			n->meta[m] = c;
		}
		free(old);
		return 0;
	}
	if (n->nwriters) {
		free(old);
		return 0;	/* the open writer's commit uses it */
	}
	err = reinterpret(ll, n);
	if (err == EINVAL && n->size == 0) {
		/* made empty (mknod) and declared first: the data comes next */
		free(old);
		return 0;
	}
	if (err) {
		*slot = old;
		free(v);
		h5fs_log(H5FS_LOG_WARN, "setxattr 'user.h5.%s' on '%s': %zu bytes do not fit dtype %s shape %s",
			 key, n->path, (size_t)n->size, d->dtype ? d->dtype : "|u1", d->shape ? d->shape : "(1-D)");
	} else {
		free(old);
	}
	return err;
}
