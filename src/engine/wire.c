/*
 * The indexer's record stream, both ends: the child writes records
 * (h5fs_ix_wb_*, h5fs_ix_nrec_emit()) into a pipe, the parent reads the
 * whole stream into an index (h5fs_ix_parse_stream()).  The format is in
 * indexer.h.  The parent takes the stream as untrusted: a child that
 * dies mid-record, or any byte sequence, gives -1, never a crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

void h5fs_ix_wb_flush(struct wbuf *w)
{
	size_t off = 0;

	while (off < w->len && !w->failed) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->failed = 1;
			break;
		}
		off += (size_t)n;
	}
	w->len = 0;
	if (w->failed)
		_exit(3);
}

void h5fs_ix_wb_put(struct wbuf *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		h5fs_ix_wb_flush(w);
		if (n > w->cap) {
			char *nb = realloc(w->buf, n);

			if (!nb)
				_exit(4);
			w->buf = nb;
			w->cap = n;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void h5fs_ix_wb_u8(struct wbuf *w, uint8_t v) { h5fs_ix_wb_put(w, &v, 1); }
void h5fs_ix_wb_u32(struct wbuf *w, uint32_t v) { h5fs_ix_wb_put(w, &v, 4); }
void h5fs_ix_wb_u64(struct wbuf *w, uint64_t v) { h5fs_ix_wb_put(w, &v, 8); }

void h5fs_ix_wb_strn(struct wbuf *w, const char *s, size_t n)
{
	if (!s) {
		h5fs_ix_wb_u32(w, UINT32_MAX);
		return;
	}
	if (n >= UINT32_MAX)
		n = UINT32_MAX - 1;
	h5fs_ix_wb_u32(w, (uint32_t)n);
	h5fs_ix_wb_put(w, s, n);
}

void h5fs_ix_wb_str(struct wbuf *w, const char *s)
{
	h5fs_ix_wb_strn(w, s, s ? strlen(s) : 0);
}

void h5fs_ix_nrec_emit(struct walker *wk, struct nrec *r)
{
	struct wbuf *w = &wk->w;

	h5fs_ix_wb_u8(w, 'N');
	h5fs_ix_wb_u32(w, r->id);
	h5fs_ix_wb_u8(w, r->kind);
	h5fs_ix_wb_u32(w, r->flags);
	h5fs_ix_wb_u64(w, r->addr);
	h5fs_ix_wb_u32(w, r->rc);
	h5fs_ix_wb_u32(w, r->parent);
	h5fs_ix_wb_str(w, r->path);
	h5fs_ix_wb_str(w, r->errmsg);
	h5fs_ix_wb_u64(w, r->size);
	h5fs_ix_wb_u64(w, r->storage);
	h5fs_ix_wb_u64(w, r->offset);
	h5fs_ix_wb_u64(w, r->nelems);
	h5fs_ix_wb_u64(w, r->esize);
	h5fs_ix_wb_u32(w, (uint32_t)r->ndim);
	for (int i = 0; i < r->ndim; i++)
		h5fs_ix_wb_u64(w, r->dims[i]);
	h5fs_ix_wb_u64(w, r->n_vl);
	for (uint64_t i = 0; i < r->n_vl; i++)
		h5fs_ix_wb_u64(w, r->vl_off[i]);
	h5fs_ix_wb_str(w, r->target);
	for (int i = 0; i < H5FS_M_COUNT; i++)
		h5fs_ix_wb_str(w, r->meta[i]);
	free(r->errmsg);
	free(r->vl_off);
	free(r->target);
	for (int i = 0; i < H5FS_M_COUNT; i++)
		free(r->meta[i]);
}

/* ---- parent side ---------------------------------------------------- */

struct rbuf {
	const char *p, *end;
	int bad;
};

/* Take @p n bytes from the pipe record; a short record marks it bad. */
static void rd_bytes(struct rbuf *r, void *v, size_t n)
{
	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return;
	}
	memcpy(v, r->p, n);
	r->p += n;
}

static uint8_t rd_u8(struct rbuf *r)
{
	uint8_t v = 0;

	rd_bytes(r, &v, sizeof(v));
	return v;
}

static uint32_t rd_u32(struct rbuf *r)
{
	uint32_t v = 0;

	rd_bytes(r, &v, sizeof(v));
	return v;
}

static uint64_t rd_u64(struct rbuf *r)
{
	uint64_t v = 0;

	rd_bytes(r, &v, sizeof(v));
	return v;
}

/* malloc'd, NUL-terminated; NULL for the NULL string or on error */
static char *rd_str(struct rbuf *r, size_t *lenp)
{
	uint32_t n = rd_u32(r);
	char *s;

	if (r->bad || n == UINT32_MAX)
		return NULL;
	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (!s) {
		r->bad = 1;
		return NULL;
	}
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	if (lenp)
		*lenp = n;
	return s;
}

/* Every node has a record of more than this many bytes: ids above len / it cannot be real. */
#define MIN_NODE_RECORD 64

static struct h5fs_node *idx_node(struct h5fs_index *idx, uint32_t id, size_t len)
{
	if (id >= (uint32_t)1 << 30 || id >= len / MIN_NODE_RECORD + 1)
		return NULL;
	if (id >= idx->cap) {
		uint32_t nc = idx->cap ? idx->cap : 1024;
		struct h5fs_node *nn;

		while (nc <= id)
			nc *= 2;
		nn = realloc(idx->nodes, (size_t)nc * sizeof(*nn));
		if (!nn)
			return NULL;
		memset(nn + idx->cap, 0, (size_t)(nc - idx->cap) * sizeof(*nn));
		for (uint32_t i = idx->cap; i < nc; i++)
			nn[i].kind = H5FS_NK_UNKNOWN;
		idx->nodes = nn;
		idx->cap = nc;
	}
	if (id >= idx->nnodes)
		idx->nnodes = id + 1;
	return &idx->nodes[id];
}

static int add_child(struct h5fs_node *dir, char *name, uint32_t child)
{
	if ((dir->nchildren & (dir->nchildren - 1)) == 0) {
		size_t nc = dir->nchildren ? (size_t)dir->nchildren * 2 : 4;
		struct h5fs_entry *ne = realloc(dir->children, nc * sizeof(*ne));

		if (!ne)
			return -1;
		dir->children = ne;
	}
	dir->children[dir->nchildren].name = name;
	dir->children[dir->nchildren].node = child;
	dir->nchildren++;
	return 0;
}

static int add_attr(struct h5fs_node *n, char *name, int err, char *value, size_t len)
{
	if ((n->nattrs & (n->nattrs - 1)) == 0) {
		size_t nc = n->nattrs ? (size_t)n->nattrs * 2 : 4;
		struct h5fs_attr *na = realloc(n->attrs, nc * sizeof(*na));

		if (!na)
			return -1;
		n->attrs = na;
	}
	n->attrs[n->nattrs].name = name;
	n->attrs[n->nattrs].value = err ? NULL : value;
	n->attrs[n->nattrs].len = err ? 0 : len;
	n->attrs[n->nattrs].err = err;
	if (err)
		free(value);
	n->nattrs++;
	return 0;
}

/* Free what a node record gave @p n (index.c frees the rest at release). */
void h5fs_ix_node_clear(struct h5fs_node *n)
{
	free(n->path);
	free(n->errmsg);
	free(n->dims);
	free(n->vl_off);
	free(n->target);
	for (int i = 0; i < H5FS_M_COUNT; i++)
		free(n->meta[i]);
	n->path = n->errmsg = n->target = NULL;
	n->dims = n->vl_off = NULL;
	n->n_vl = 0;
	memset(n->meta, 0, sizeof(n->meta));
}

/* A name a directory may list: not empty, no '/', not "." or "..". */
static int name_sane(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

/* Every node's parent chain reaches the root (node 0): no cycle for the daemon to walk forever. */
static int parents_sane(const struct h5fs_index *idx)
{
	unsigned char *state = calloc(idx->nnodes, 1);	/* 0 unknown, 1 on the walk, 2 reaches the root */
	int ok = 1;

	if (!state)
		return 0;
	state[0] = 2;
	for (uint32_t i = 1; i < idx->nnodes && ok; i++) {
		uint32_t k = i;

		while (state[k] == 0) {
			state[k] = 1;
			k = idx->nodes[k].parent;
		}
		ok = state[k] == 2;
		for (k = i; state[k] == 1; k = idx->nodes[k].parent)
			state[k] = 2;
	}
	free(state);
	return ok;
}

/*
 * What the daemon relies on of every node, whatever the child sent:
 * a known kind, a path, a parent chain that reaches the root, a rank it
 * can loop over, names a directory may list, and for vlen string text
 * at most one offset per block, in order and within the text (fewer
 * when sizing the text failed part-way: that dataset answers EIO).
 */
static int index_sane(const struct h5fs_index *idx)
{
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		const struct h5fs_node *n = &idx->nodes[i];

		if (n->kind > H5FS_NK_UNKNOWN || !n->path || n->parent >= idx->nnodes)
			return 0;
		if (n->ndim < -1 || (n->ndim > 0 && !n->dims))
			return 0;
		for (uint32_t c = 0; c < n->nchildren; c++)
			if (!name_sane(n->children[c].name))
				return 0;
		if (n->flags & H5FS_NF_VLSTR) {
			if (n->nelems > UINT64_MAX - H5FS_VL_BLOCK ||
			    n->n_vl > (n->nelems + H5FS_VL_BLOCK - 1) / H5FS_VL_BLOCK)
				return 0;
			for (uint64_t b = 0; b < n->n_vl; b++)
				if (n->vl_off[b] > n->size || (b && n->vl_off[b] < n->vl_off[b - 1]))
					return 0;
		}
	}
	return parents_sane(idx);
}

int h5fs_ix_parse_stream(struct h5fs_index *idx, struct h5fs_exttab *x, const char *buf, size_t len, int *xcode,
			 char **xmsg)
{
	struct rbuf r = { buf, buf + len, 0 };
	int done = 0;

	while (!r.bad && r.p < r.end && !done) {
		uint8_t t = rd_u8(&r);

		switch (t) {
		case 'N': {
			uint32_t id = rd_u32(&r);
			struct h5fs_node *n = idx_node(idx, id, len);

			if (!n)
				return -1;
			h5fs_ix_node_clear(n);	/* a second record of one node replaces the first */
			n->kind = rd_u8(&r);
			n->flags = rd_u32(&r);
			n->addr = rd_u64(&r);
			n->rc = rd_u32(&r);
			n->parent = rd_u32(&r);
			n->path = rd_str(&r, NULL);
			n->errmsg = rd_str(&r, NULL);
			n->size = rd_u64(&r);
			n->storage = rd_u64(&r);
			n->offset = rd_u64(&r);
			n->nelems = rd_u64(&r);
			n->esize = rd_u64(&r);
			n->ndim = (int)rd_u32(&r);
			if (n->ndim > H5S_MAX_RANK)
				return -1;
			if (n->ndim > 0) {
				n->dims = calloc((size_t)n->ndim, sizeof(uint64_t));
				if (!n->dims)
					return -1;
				for (int i = 0; i < n->ndim; i++)
					n->dims[i] = rd_u64(&r);
			}
			n->n_vl = rd_u64(&r);
			if (n->n_vl > (uint64_t)(r.end - r.p) / 8)
				return -1;
			if (n->n_vl) {
				n->vl_off = malloc(n->n_vl * sizeof(uint64_t));
				if (!n->vl_off)
					return -1;
				for (uint64_t i = 0; i < n->n_vl; i++)
					n->vl_off[i] = rd_u64(&r);
			}
			n->target = rd_str(&r, NULL);
			for (int i = 0; i < H5FS_M_COUNT; i++)
				n->meta[i] = rd_str(&r, NULL);
			break;
		}
		case 'A': {
			struct h5fs_node *n = idx_node(idx, rd_u32(&r), len);
			char *name = rd_str(&r, NULL);
			int err = (int)rd_u32(&r);
			size_t vlen = 0;
			char *value = rd_str(&r, &vlen);

			if (!n || !name || add_attr(n, name, err, value, vlen) < 0) {
				free(name);
				free(value);
				return -1;
			}
			break;
		}
		case 'E': {
			struct h5fs_node *dir = idx_node(idx, rd_u32(&r), len);
			char *name = rd_str(&r, NULL);
			uint32_t child = rd_u32(&r);

			if (!dir || !name || !idx_node(idx, child, len) || add_child(dir, name, child) < 0) {
				free(name);
				return -1;
			}
			break;
		}
		case 'X':
			*xcode = (int)rd_u32(&r);
			*xmsg = rd_str(&r, NULL);
			return 1;
		case 'F': {
			uint32_t k = rd_u32(&r);
			char *path = rd_str(&r, NULL);

			if (!path || h5fs_ix_ext_add(x, k, path) < 0)
				return -1;
			break;
		}
		case 'L': {
			uint32_t file = rd_u32(&r);
			char *lpath = rd_str(&r, NULL);
			char *tfile = rd_str(&r, NULL);
			char *tpath = rd_str(&r, NULL);

			if (h5fs_ix_ext_link_add(x, file, lpath, tfile, tpath) < 0)
				return -1;
			break;
		}
		case 'D':
			rd_u32(&r);
			done = 1;
			break;
		default:
			return -1;
		}
	}
	return r.bad || !done || !index_sane(idx) ? -1 : 0;
}
