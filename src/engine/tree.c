/*
 * The mutable index of read-write mounts.
 *
 * The indexer (src/engine/) builds the tree once; on a read-write mount the
 * daemon then changes it itself, after every write it makes (mkdir,
 * unlink, rename, commit, setxattr), and re-runs the indexer when the
 * file changed behind its back (DESIGN.md section 5).
 *
 * Locking: every request of a read-write mount runs under f->tree, a
 * writer-preferring rwlock: the ops table of h5fs_rw_ops() (src/fuse/rwops.c) wraps
 * the read-only requests in the shared lock and the changing ones in
 * the exclusive lock, so the read side's code (ops_dir.c, inode.c)
 * works on a tree that never changes under it.  Read-only mounts use
 * the plain table and never take the lock.
 *
 * Nodes never move: the node table lives in one large reservation
 * (mmap, MAP_NORESERVE; pages are touched only as nodes are added), so
 * node pointers held by open files and by backing.c stay valid as the
 * table grows.  Nodes are never freed while the mount lives; an unlinked
 * one is flagged H5FS_NF_DEAD.
 *
 * Merging (follow.c re-indexes when the file changed behind our back):
 * objects still at the same name with the same header address keep
 * their inode numbers, new ones get new nodes, vanished names are
 * dropped, and the kernel is told to forget entries and data (from the
 * notifier thread: an invalidation sent from inside a request may
 * deadlock against the kernel's directory lock).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/live.h"
#include "served.h"

#define TREE_MAX_NODES ((size_t)1 << 22)

struct tstate {
	size_t cap;		/* nodes the reservation holds */
	size_t map_bytes;
};

static struct tstate *TS(struct h5fs_served *f)
{
	return f->tree_state;
}

/* ---- the node table ---------------------------------------------------- */

/* A write's dtype / shape declaration (ops_pour.c) */
static void free_decl(struct h5fs_node *n)
{
	struct h5fs_wdecl *d = n->wr;

	if (!d)
		return;
	free(d->dtype);
	free(d->shape);
	free(d);
	n->wr = NULL;
}

int h5fs_tree_init(struct h5fs_served *f)
{
	struct tstate *t = calloc(1, sizeof(*t));
	pthread_rwlockattr_t ra;
	void *map;

	if (!t)
		return -ENOMEM;
	t->cap = TREE_MAX_NODES;
	t->map_bytes = t->cap * sizeof(struct h5fs_node);
	map = mmap(NULL, t->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		free(t);
		return -ENOMEM;
	}
	memcpy(map, f->idx.nodes, (size_t)f->idx.nnodes * sizeof(struct h5fs_node));
	free(f->idx.nodes);
	f->idx.nodes = map;
	f->idx.cap = f->idx.nnodes;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&f->tree, &ra);
	pthread_rwlockattr_destroy(&ra);
	f->tree_state = t;
	return 0;
}

void h5fs_tree_release(struct h5fs_served *f)
{
	struct tstate *t = TS(f);
	struct h5fs_node *copy;

	if (!t)
		return;
	for (uint32_t i = 0; i < f->idx.nnodes; i++)
		free_decl(&f->idx.nodes[i]);
	/* hand the table back as the indexer made it: malloc'd */
	copy = malloc(((size_t)f->idx.nnodes + 1) * sizeof(*copy));
	if (copy)
		memcpy(copy, f->idx.nodes, (size_t)f->idx.nnodes * sizeof(*copy));
	else
		f->idx.nnodes = 0;	/* leak rather than crash */
	munmap(f->idx.nodes, t->map_bytes);
	f->idx.nodes = copy;
	pthread_rwlock_destroy(&f->tree);
	free(t);
	f->tree_state = NULL;
}

void h5fs_tree_wrlock(struct h5fs_served *f)
{
	pthread_rwlock_wrlock(&f->tree);
}

void h5fs_tree_unlock(struct h5fs_served *f)
{
	pthread_rwlock_unlock(&f->tree);
}

char *h5fs_tree_join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name) < 0)
		return NULL;
	return p;
}

struct h5fs_node *h5fs_tree_new_node(struct h5fs_served *f, uint8_t kind, struct h5fs_node *parent,
				     const char *name)
{
	struct tstate *t = TS(f);
	struct h5fs_node *n;
	char *path = NULL;

	if (f->idx.nnodes >= t->cap) {
		h5fs_log(H5FS_LOG_ERR, "the node table is full (%zu nodes); remount", t->cap);
		return NULL;
	}
	if (parent && name && !(path = h5fs_tree_join(parent->path, name)))
		return NULL;
	n = &f->idx.nodes[f->idx.nnodes];
	memset(n, 0, sizeof(*n));
	atomic_init(&n->nlookup, 0);
	n->kind = kind;
	n->parent = parent ? (uint32_t)(parent - f->idx.nodes) : 0;
	n->path = path;
	n->ndim = 1;
	f->idx.nnodes++;
	return n;
}

int h5fs_tree_add_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name, struct h5fs_node *n)
{
	size_t lo = 0, hi = dir->nchildren;
	struct h5fs_entry *ne;
	char *nm;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, dir->children[mid].name);

		if (!c)
			return EEXIST;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	nm = strdup(name);
	ne = realloc(dir->children, ((size_t)dir->nchildren + 1) * sizeof(*ne));
	if (!nm || !ne) {
		free(nm);
		if (ne)
			dir->children = ne;
		return ENOMEM;
	}
	dir->children = ne;
	memmove(ne + lo + 1, ne + lo, (dir->nchildren - lo) * sizeof(*ne));
	ne[lo].name = nm;
	ne[lo].node = (uint32_t)(n - f->idx.nodes);
	dir->nchildren++;
	if (n->kind == H5FS_NK_GROUP)
		dir->nsubdirs++;
	n->flags &= ~H5FS_NF_DEAD;
	return 0;
}

struct h5fs_node *h5fs_tree_del_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name)
{
	const struct h5fs_entry *e = h5fs_index_find(dir, name);
	size_t i;
	struct h5fs_node *n;

	if (!e)
		return NULL;
	i = (size_t)(e - dir->children);
	n = &f->idx.nodes[e->node];
	free(dir->children[i].name);
	memmove(dir->children + i, dir->children + i + 1, (dir->nchildren - i - 1) * sizeof(*dir->children));
	dir->nchildren--;
	if (n->kind == H5FS_NK_GROUP && dir->nsubdirs)
		dir->nsubdirs--;
	return n;
}

static int set_path_rec(struct h5fs_served *f, struct h5fs_node *n, const char *path, unsigned depth)
{
	char *p = strdup(path);

	if (!p)
		return ENOMEM;
	free(n->path);
	n->path = p;
	if (n->kind != H5FS_NK_GROUP || depth > 256)
		return 0;
	for (uint32_t i = 0; i < n->nchildren; i++) {
		struct h5fs_node *c = &f->idx.nodes[n->children[i].node];
		char *cp;
		int err;

		if (&f->idx.nodes[c->parent] != n || c == n)
			continue;	/* a hard link found first elsewhere */
		cp = h5fs_tree_join(path, n->children[i].name);
		if (!cp)
			return ENOMEM;
		err = set_path_rec(f, c, cp, depth + 1);
		free(cp);
		if (err)
			return err;
	}
	return 0;
}

int h5fs_tree_set_path(struct h5fs_served *f, struct h5fs_node *n, const char *path)
{
	return set_path_rec(f, n, path, 0);
}

int h5fs_tree_check_name(struct h5fs_served *f, const char *op, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;

	(void)f;
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		h5fs_log(H5FS_LOG_WARN, "%s '%s': HDF5 cannot store this name", op, name);
		return EINVAL;
	}
	if (!strncmp(name, ".h5fs-tmp.", 10) || !strncmp(name, ".h5fs-old.", 10)) {
		h5fs_log(H5FS_LOG_WARN, "%s '%s': names starting with .h5fs-tmp. / .h5fs-old. are h5fs's own",
			 op, name);
		return EINVAL;
	}
	/* UTF-8, as h5py reads names back */
	while (*s) {
		int extra = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 :
			    (*s & 0xf8) == 0xf0 ? 3 : -1;

		if (extra < 0 || (extra == 1 && *s < 0xc2))
			goto bad;
		s++;
		for (int k = 0; k < extra; k++, s++)
			if ((*s & 0xc0) != 0x80)
				goto bad;
	}
	return 0;
bad:
	h5fs_log(H5FS_LOG_WARN, "%s: the name is not UTF-8, which HDF5 readers such as h5py expect", op);
	return EILSEQ;
}

/* ---- describing objects ---------------------------------------------------- */

static void free_attrs(struct h5fs_node *n)
{
	for (uint32_t a = 0; a < n->nattrs; a++) {
		free(n->attrs[a].name);
		free(n->attrs[a].value);
	}
	free(n->attrs);
	n->attrs = NULL;
	n->nattrs = 0;
}

static int format_one(hid_t aid, struct h5fs_attr *a)
{
	char *text = NULL;
	size_t len = 0;
	int rc = h5fs_codec_format_attr(&text, &len, aid);

	free(a->value);
	a->value = NULL;
	a->len = 0;
	a->err = 0;
	if (rc < 0) {
		a->err = h5fs_error_errno(rc);
		if (a->err <= 0)
			a->err = EIO;
		free(text);
		H5Eclear2(H5E_DEFAULT);
	} else if (len > 65536) {
		a->err = E2BIG;
		free(text);
	} else {
		a->value = text;
		a->len = len;
	}
	return 0;
}

uint32_t h5fs_tree_attr_find(const struct h5fs_node *n, const char *aname)
{
	uint32_t i;

	for (i = 0; i < n->nattrs; i++)
		if (!strcmp(n->attrs[i].name, aname))
			break;
	return i;
}

void h5fs_tree_attr_drop(struct h5fs_node *n, uint32_t i)
{
	free(n->attrs[i].name);
	free(n->attrs[i].value);
	memmove(n->attrs + i, n->attrs + i + 1, (n->nattrs - i - 1) * sizeof(*n->attrs));
	n->nattrs--;
}

int h5fs_tree_attr_add(struct h5fs_node *n, const char *aname)
{
	struct h5fs_attr *na = realloc(n->attrs, ((size_t)n->nattrs + 1) * sizeof(*na));
	char *nm = strdup(aname);

	if (na)
		n->attrs = na;
	if (!na || !nm) {
		free(nm);
		return ENOMEM;
	}
	memset(&na[n->nattrs], 0, sizeof(na[n->nattrs]));
	na[n->nattrs].name = nm;
	n->nattrs++;
	return 0;
}

int h5fs_tree_load_attr(struct h5fs_node *n, int64_t oid, const char *aname)
{
	uint32_t i;
	hid_t aid;

	i = h5fs_tree_attr_find(n, aname);
	if (H5Aexists(oid, aname) <= 0) {
		H5Eclear2(H5E_DEFAULT);
		if (i < n->nattrs)
			h5fs_tree_attr_drop(n, i);
		return 0;
	}
	if (i == n->nattrs && h5fs_tree_attr_add(n, aname))
		return ENOMEM;
	aid = H5Aopen(oid, aname, H5P_DEFAULT);
	if (aid < 0) {
		n->attrs[i].err = EIO;
		H5Eclear2(H5E_DEFAULT);
		return 0;
	}
	format_one(aid, &n->attrs[i]);
	H5Aclose(aid);
	return 0;
}

int h5fs_tree_load_attrs(struct h5fs_node *n, int64_t oid)
{
	H5O_info_t oi;

	free_attrs(n);
	n->flags &= ~H5FS_NF_ATTR_BAD;
	if (H5Oget_info2(oid, &oi, H5O_INFO_NUM_ATTRS) < 0) {
		H5Eclear2(H5E_DEFAULT);
		return EIO;
	}
	if (oi.num_attrs == 0)
		return 0;
	n->attrs = calloc((size_t)oi.num_attrs, sizeof(*n->attrs));
	if (!n->attrs)
		return ENOMEM;
	for (hsize_t j = 0; j < oi.num_attrs; j++) {
		hid_t aid = H5Aopen_by_idx(oid, ".", H5_INDEX_NAME, H5_ITER_NATIVE, j, H5P_DEFAULT, H5P_DEFAULT);
		ssize_t nlen;
		char *name;

		if (aid < 0) {
			H5Eclear2(H5E_DEFAULT);
			n->flags |= H5FS_NF_ATTR_BAD;
			continue;
		}
		nlen = H5Aget_name(aid, 0, NULL);
		if (nlen <= 0 || !(name = malloc((size_t)nlen + 1)) || H5Aget_name(aid, (size_t)nlen + 1, name) < 0) {
			H5Aclose(aid);
			H5Eclear2(H5E_DEFAULT);
			continue;
		}
		n->attrs[n->nattrs].name = name;
		format_one(aid, &n->attrs[n->nattrs]);
		n->nattrs++;
		H5Aclose(aid);
	}
	return 0;
}

static void clear_dataset(struct h5fs_node *n)
{
	free(n->dims);
	n->dims = NULL;
	free(n->vl_off);
	n->vl_off = NULL;
	n->n_vl = 0;
	for (int m = 0; m < H5FS_M_COUNT; m++) {
		free(n->meta[m]);
		n->meta[m] = NULL;
	}
	free(n->errmsg);
	n->errmsg = NULL;
	n->size = n->storage = n->offset = n->nelems = n->esize = 0;
	n->ndim = 1;
}

/* Fill dataset node @p n from the description of its open handle @p did; 0 or an errno. */
static int describe_dataset(struct h5fs_node *n, hid_t did)
{
	struct h5fs_dset_desc d;
	int err = 0;

	clear_dataset(n);
	n->flags &= ~(H5FS_NF_CONTIG | H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_DATA_BAD);
	/* the size of the text of vlen strings is known once they were all read */
	if (h5fs_dset_describe(&d, did, UINT64_MAX) == 0 && (d.flags & H5FS_NF_VLSTR))
		h5fs_dset_text(&d, did, NULL, NULL);
	n->flags |= d.flags;
	if (d.contig && !(d.flags & H5FS_NF_DATA_BAD))
		n->flags |= H5FS_NF_CONTIG;
	n->ndim = d.ndim;
	if (d.ndim > 0 && !(n->dims = calloc((size_t)d.ndim, sizeof(uint64_t))))
		err = ENOMEM;
	for (int i = 0; !err && i < d.ndim; i++)
		n->dims[i] = d.dims[i];
	n->nelems = d.nelems;
	n->esize = d.esize;
	n->size = d.size;
	n->storage = d.storage;
	n->offset = d.offset;
	n->vl_off = d.vl_off;
	n->n_vl = d.n_vl;
	d.vl_off = NULL;
	for (int i = 0; i < H5FS_M_COUNT; i++) {
		n->meta[i] = d.meta[i];
		d.meta[i] = NULL;
	}
	if (d.errmsg) {
		h5fs_log(H5FS_LOG_WARN, "cannot describe dataset '%s': %s", n->path, d.errmsg);
		n->errmsg = d.errmsg;	/* user.h5.error shows it */
		d.errmsg = NULL;
		err = err ? err : EIO;
	}
	h5fs_dset_desc_release(&d);
	return err;
}

int h5fs_tree_describe(struct h5fs_served *f, int64_t fid, struct h5fs_node *n)
{
	H5O_info_t oi;
	hid_t oid;
	int err = 0;

	(void)f;
	oid = H5Oopen(fid, n->path, H5P_DEFAULT);
	if (oid < 0 || H5Oget_info2(oid, &oi, H5O_INFO_BASIC) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "cannot describe", n->path);
		if (oid >= 0)
			H5Oclose(oid);
		return EIO;
	}
	n->addr = oi.addr;
	n->rc = oi.rc;
	n->flags &= ~(H5FS_NF_BAD | H5FS_NF_PENDING);
	h5fs_tree_load_attrs(n, oid);
	if (oi.type == H5O_TYPE_GROUP)
		n->kind = H5FS_NK_GROUP;
	if (oi.type == H5O_TYPE_DATASET) {
		n->kind = H5FS_NK_DATASET;
		err = describe_dataset(n, oid);
	}
	H5Eclear2(H5E_DEFAULT);
	H5Oclose(oid);
	return err;
}

/* The kernel must forget what it cached of these (the glue's callbacks, when set). */
static void inval_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name)
{
	if (f->inval_entry)
		f->inval_entry(f, dir, name);
}

static void inval_inode(struct h5fs_served *f, struct h5fs_node *n)
{
	if (f->inval_inode)
		f->inval_inode(f, n);
}

/* ---- merging a new index into ours --------------------------------------- */

struct merge {
	struct h5fs_served *f;
	struct h5fs_index *nx;
	uint32_t *map;		/* new node id -> our node id, UINT32_MAX: none yet */
	int changed;
};

static void move_content(struct h5fs_node *d, struct h5fs_node *s)
{
	/* everything but the tree links, the daemon state and the write state */
	clear_dataset(d);
	free_attrs(d);
	free(d->target);
	free(d->linktext);
	free(d->npy);
	free(d->path);
	d->kind = s->kind;
	d->flags = (d->flags & (H5FS_NF_FRESH)) | s->flags;
	d->addr = s->addr;
	d->rc = s->rc;
	d->path = s->path;
	s->path = NULL;
	d->errmsg = s->errmsg;
	s->errmsg = NULL;
	d->size = s->size;
	d->storage = s->storage;
	d->offset = s->offset;
	d->nelems = s->nelems;
	d->esize = s->esize;
	d->ndim = s->ndim;
	d->dims = s->dims;
	s->dims = NULL;
	d->vl_off = s->vl_off;
	s->vl_off = NULL;
	d->n_vl = s->n_vl;
	d->npy = s->npy;
	s->npy = NULL;
	d->npy_len = s->npy_len;
	for (int m = 0; m < H5FS_M_COUNT; m++) {
		d->meta[m] = s->meta[m];
		s->meta[m] = NULL;
	}
	d->target = s->target;
	s->target = NULL;
	d->linktext = s->linktext;
	s->linktext = NULL;
	d->attrs = s->attrs;
	d->nattrs = s->nattrs;
	s->attrs = NULL;
	s->nattrs = 0;
}

static int merge_node(struct merge *m, uint32_t ours, uint32_t theirs, unsigned depth);

static int merge_children(struct merge *m, struct h5fs_node *d, struct h5fs_node *s, unsigned depth)
{
	struct h5fs_served *f = m->f;
	struct h5fs_entry *nc = NULL;
	uint32_t nsub = 0;
	size_t nkeep = 0;

	/* room for the kept ones too (below): nothing fails once names start to go */
	if (s->nchildren + d->nchildren) {
		nc = calloc((size_t)s->nchildren + d->nchildren, sizeof(*nc));
		if (!nc)
			return ENOMEM;
	}
	for (uint32_t i = 0; i < s->nchildren; i++) {
		const struct h5fs_entry *old = h5fs_index_find(d, s->children[i].name);
		struct h5fs_node *sn = &m->nx->nodes[s->children[i].node];
		uint32_t id = m->map[s->children[i].node];
		int err;

		if (id == UINT32_MAX && old) {
			struct h5fs_node *on = &f->idx.nodes[old->node];

			if (on->kind == sn->kind && on->addr == sn->addr && !(on->flags & H5FS_NF_PENDING))
				id = old->node;
		}
		if (id == UINT32_MAX) {
			struct h5fs_node *fresh_node = h5fs_tree_new_node(f, sn->kind, NULL, NULL);

			if (!fresh_node) {
				for (uint32_t k = 0; k < i; k++)
					free(nc[k].name);
				free(nc);
				return ENOMEM;
			}
			id = (uint32_t)(fresh_node - f->idx.nodes);
			fresh_node->parent = (uint32_t)(d - f->idx.nodes);
			m->changed = 1;
		}
		if (!old || old->node != id)
			inval_entry(f, d, s->children[i].name);
		nc[i].name = s->children[i].name;
		s->children[i].name = NULL;
		nc[i].node = id;
		if (sn->kind == H5FS_NK_GROUP)
			nsub++;
		if (m->map[s->children[i].node] == UINT32_MAX && (err = merge_node(m, id, s->children[i].node, depth + 1))) {
			for (uint32_t k = 0; k <= i; k++)
				free(nc[k].name);
			free(nc);
			return err;
		}
	}
	/* names that vanished; a dataset of ours not committed yet is in no file: it stays */
	for (uint32_t i = 0; i < d->nchildren; i++) {
		const struct h5fs_node *on = &f->idx.nodes[d->children[i].node];
		int found = 0;
		size_t lo = 0, hi = s->nchildren;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(d->children[i].name, nc[mid].name);

			if (!c) {
				found = 1;
				break;
			}
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (!found && (on->flags & H5FS_NF_PENDING) && !(on->flags & H5FS_NF_DEAD)) {
			nc[s->nchildren + nkeep++] = d->children[i];
			continue;
		}
		if (!found) {
			inval_entry(f, d, d->children[i].name);
			m->changed = 1;
		}
		free(d->children[i].name);
	}
	free(d->children);
	if (nkeep)
		qsort(nc, s->nchildren + nkeep, sizeof(*nc), h5fs_index_entry_cmp);
	d->children = nc;
	d->nchildren = s->nchildren + (uint32_t)nkeep;
	d->nsubdirs = nsub;
	return 0;
}

static int merge_node(struct merge *m, uint32_t ours, uint32_t theirs, unsigned depth)
{
	struct h5fs_node *d = &m->f->idx.nodes[ours], *s = &m->nx->nodes[theirs];

	m->map[theirs] = ours;
	if (d->size != s->size || d->addr != s->addr || d->offset != s->offset)
		inval_inode(m->f, d);
	move_content(d, s);
	if (d->kind == H5FS_NK_GROUP && depth < 4096)
		return merge_children(m, d, s, depth);
	return 0;
}

int h5fs_tree_merge(struct h5fs_served *f, struct h5fs_index *nx)
{
	struct merge m;
	int err;

	memset(&m, 0, sizeof(m));
	m.f = f;
	m.nx = nx;
	m.map = malloc((size_t)nx->nnodes * sizeof(uint32_t));
	if (!m.map)
		return ENOMEM;
	memset(m.map, 0xff, (size_t)nx->nnodes * sizeof(uint32_t));
	err = merge_node(&m, 0, 0, 0);
	free(m.map);
	if (!err)
		err = h5fs_links_init(f);
	return err;
}
