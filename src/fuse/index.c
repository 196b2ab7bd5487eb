/*
 * The forked indexer: the whole file is read once, in a child process,
 * before anything is mounted.
 *
 * Why a child.  libhdf5 1.10 segfaults, aborts, divides by zero or loops
 * forever on some corrupt files (the CVE reproducers of the corpus).
 * Whatever libhdf5 does to the child cannot touch the daemon.  The child
 * walks every group, opens every object header, formats every attribute
 * and reads a little of every dataset, and streams what it learned
 * through a pipe; the daemon then serves every metadata request from
 * that index and never re-walks the file (a listing costs a binary
 * search, not an HDF5 call).
 *
 * Watchdog.  Before each risky step the child writes what it is about
 * to do (phase, object address, link or attribute index) into a page
 * shared with the parent, and bumps a tick counter.  The parent polls:
 * when the child dies by a signal, or its ticks stop for index_timeout
 * seconds (it is then killed), the parent reads the page, adds that step
 * to a skip list and starts a fresh child, which records the object as
 * bad instead of touching it.  Bad objects are listed (so ls and find
 * keep working) but answer EIO and are never touched by HDF5 in the
 * daemon.  A crash while opening the file or reading the root group
 * refuses the mount (exit 30); so do more than H5FS_MAX_RESTARTS crashes.
 *
 * Record stream (native byte order; the child is a fork):
 *   'N' node:  id, kind, flags, addr, rc, parent, path, errmsg, size,
 *              storage, offset, nelems, esize, ndim, dims[], n_vl,
 *              vl_off[], target, meta[H5FS_M_COUNT]
 *   'A' attr:  node id, name, errno, value
 *   'E' entry: parent id, name, child id
 *   'X' error: exit code, message (the child could not open the file)
 *   'D' done:  node count
 * Strings are a u32 length and bytes; UINT32_MAX stands for NULL.
 *
 * Allocation discipline: sizes from the file (link value sizes, element
 * counts, attribute counts) bound loops, never allocations beyond what a
 * step really reads; the child runs under RLIMIT_AS so a libhdf5
 * allocation gone wrong kills only the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/live.h"
#include "h5fs/sys/reader.h"
#include "h5fs_ll.h"
#include "h5fs_ext.h"

#if defined(__SANITIZE_ADDRESS__)
# define H5FS_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define H5FS_ASAN 1
# endif
#endif

#define H5FS_MAX_RESTARTS 64
#define IDX_ALL UINT64_MAX
#define MAX_ATTR_TEXT 65536		/* XATTR_SIZE_MAX */
#define MAX_LINK_VALUE 65536
#define MAX_ESIZE ((uint64_t)64 << 20)
#define MAX_VL_ELEMS ((uint64_t)1 << 26)
#define PROBE_BYTES 65536
/* datasets up to this size are read whole by the child, through the
   daemon's own reader, until FULL_PROBE_BUDGET bytes were read */
#define FULL_PROBE_MAX ((uint64_t)64 << 20)
#define FULL_PROBE_BUDGET ((uint64_t)1 << 30)
/* chunk lookups walk_chunk_index() may make in one file (~0.5 us each) */
#define INDEX_WALK_BUDGET ((uint64_t)2 << 20)
#define CHILD_AS_LIMIT ((rlim_t)4 << 30)

const char *const h5fs_meta_names[H5FS_M_COUNT] = {
	"dtype", "shape", "maxshape", "chunks", "layout", "filters",
	"storage_size", "link.file", "link.path"
};

enum phase {
	P_START = 0,
	P_OPEN,		/* H5Fopen */
	P_LIST,		/* iterating a group's links (addr = group) */
	P_INFO,		/* opening a link's object (addr = group, idx = link) */
	P_ATTR,		/* attribute idx of object addr */
	P_DSET,		/* dataset metadata of addr */
	P_PROBE,	/* reading data of addr */
	P_DONE
};

static const char *const phase_names[] = {
	"starting", "opening the file", "listing a group", "opening an object",
	"reading an attribute", "reading dataset metadata", "reading data", "done"
};

struct progress {
	volatile uint64_t ticks;
	volatile uint32_t phase;
	volatile uint64_t addr;
	volatile uint64_t idx;
};

struct skip {
	uint32_t phase;
	uint64_t addr;
	uint64_t idx;		/* IDX_ALL: every index */
};

/* the environment of the build under way (h5fs_index_build()), for the fork */
static const struct h5fs_index_env *cur_env;

static int index_build(struct h5fs_index *idx, const struct h5fs_ll_opts *o);

/* ---- child side ----------------------------------------------------- */

struct wbuf {
	int fd;
	char *buf;
	size_t len, cap;
	int failed;
};

struct addrmap {
	uint64_t *keys;		/* addr + 1; 0 = empty */
	uint32_t *vals;
	size_t cap, count;
};

/* a file the walk reads: SOURCE (0) or an external link's target */
struct xfile {
	char *real;		/* realpath; NULL for SOURCE */
	hid_t fid;
	int fd;
	uint64_t size;
};

struct walker {
	struct wbuf w;
	struct progress *pg;
	const struct skip *skips;
	size_t nskips;
	hid_t fid;
	int fd;
	uint64_t file_size;
	uint32_t next_id;
	struct addrmap map;
	uint64_t probed;	/* bytes read whole so far */
	uint64_t walked;	/* chunk lookups made by walk_chunk_index() */
	const struct h5fs_index *known;	/* a re-index: the daemon's tree */
	struct addrmap known_map;	/* dataset address -> node of known */
	const struct nrec **chain;	/* the groups being listed, root first */
	size_t nchain, capchain;
	const struct h5fs_ll_opts *o;
	struct xfile *xf;	/* files, numbered as in the daemon's table */
	uint32_t nxf;
	char *root_dir;		/* realpath of SOURCE's folder, with follow_external */
};

static void wb_flush(struct wbuf *w)
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

static void wb_put(struct wbuf *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		wb_flush(w);
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

static void wb_u8(struct wbuf *w, uint8_t v) { wb_put(w, &v, 1); }
static void wb_u32(struct wbuf *w, uint32_t v) { wb_put(w, &v, 4); }
static void wb_u64(struct wbuf *w, uint64_t v) { wb_put(w, &v, 8); }

static void wb_strn(struct wbuf *w, const char *s, size_t n)
{
	if (!s) {
		wb_u32(w, UINT32_MAX);
		return;
	}
	if (n >= UINT32_MAX)
		n = UINT32_MAX - 1;
	wb_u32(w, (uint32_t)n);
	wb_put(w, s, n);
}

static void wb_str(struct wbuf *w, const char *s)
{
	wb_strn(w, s, s ? strlen(s) : 0);
}

/*
 * Fault injection for the tests: H5FS_INDEX_FAULT=KIND:PHASE:N makes the
 * first indexer child crash (KIND segv) or hang (KIND hang) at the N-th
 * step of PHASE (open, list, info, attr, dset, probe), as a corrupt file
 * would make libhdf5 do.  Later children run clean.
 */
static struct {
	int armed;
	int hang;
	uint32_t phase;
	unsigned long n;
} fault;

static void fault_parse(const char *spec)
{
	static const char *const names[] = { "start", "open", "list", "info", "attr", "dset", "probe" };
	char kind[8], ph[8];
	unsigned long n = 1;

	if (!spec || sscanf(spec, "%7[a-z]:%7[a-z]:%lu", kind, ph, &n) < 2)
		return;
	for (uint32_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		if (!strcmp(ph, names[i])) {
			fault.phase = i;
			fault.n = n ? n : 1;
			fault.hang = !strcmp(kind, "hang");
			fault.armed = 1;
		}
	}
}

static void progress(struct walker *wk, uint32_t phase, uint64_t addr, uint64_t idx)
{
	wk->pg->phase = phase;
	wk->pg->addr = addr;
	wk->pg->idx = idx;
	__atomic_store_n(&wk->pg->ticks, wk->pg->ticks + 1, __ATOMIC_RELEASE);
	if (fault.armed && phase == fault.phase && --fault.n == 0) {
		if (fault.hang)
			for (;;)
				pause();
		raise(SIGSEGV);
	}
}

static int skipped(const struct walker *wk, uint32_t phase, uint64_t addr, uint64_t idx)
{
	for (size_t i = 0; i < wk->nskips; i++)
		if (wk->skips[i].phase == phase && wk->skips[i].addr == addr &&
		    (wk->skips[i].idx == idx || wk->skips[i].idx == IDX_ALL))
			return 1;
	return 0;
}

static int map_grow(struct addrmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 1024;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	uint32_t *nv = calloc(ncap, sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t h = (size_t)((m->keys[i] * 0x9E3779B97F4A7C15ULL) >> 17) & (ncap - 1);

		while (nk[h])
			h = (h + 1) & (ncap - 1);
		nk[h] = m->keys[i];
		nv[h] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = nk;
	m->vals = nv;
	m->cap = ncap;
	return 0;
}

static int map_get(const struct addrmap *m, uint64_t addr, uint32_t *out)
{
	uint64_t k = addr + 1;

	if (!m->cap)
		return 0;
	for (size_t h = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 17) & (m->cap - 1);; h = (h + 1) & (m->cap - 1)) {
		if (!m->keys[h])
			return 0;
		if (m->keys[h] == k) {
			*out = m->vals[h];
			return 1;
		}
	}
}

static void map_put(struct addrmap *m, uint64_t addr, uint32_t id)
{
	uint64_t k = addr + 1;
	size_t h;

	if ((m->count + 1) * 2 > m->cap && map_grow(m) < 0)
		_exit(4);
	h = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 17) & (m->cap - 1);
	while (m->keys[h] && m->keys[h] != k)
		h = (h + 1) & (m->cap - 1);
	if (!m->keys[h])
		m->count++;
	m->keys[h] = k;
	m->vals[h] = id;
}

struct hmsg {
	char *desc;
};

static herr_t hmsg_cb(unsigned n, const H5E_error2_t *e, void *payload)
{
	struct hmsg *m = payload;

	(void)n;
	if (!m->desc && e->desc && *e->desc)
		m->desc = strdup(e->desc);
	return 0;
}

/* "WHAT: HDF5's innermost message"; clears HDF5's stack. */
static char *hdf5_msg(const char *what)
{
	struct hmsg m = { NULL };
	char *out = NULL;

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, hmsg_cb, &m);
	H5Eclear2(H5E_DEFAULT);
	if (asprintf(&out, "%s%s%s", what, m.desc ? ": " : "", m.desc ? m.desc : "") < 0)
		out = NULL;
	free(m.desc);
	return out;
}

/* A node record under construction. */
struct nrec {
	uint32_t id;
	uint8_t kind;
	uint32_t flags;
	uint64_t addr;
	uint32_t rc;
	uint32_t parent;
	const char *path;
	char *errmsg;
	uint64_t size, storage, offset, nelems, esize;
	int ndim;
	hsize_t dims[H5S_MAX_RANK];
	uint64_t *vl_off;
	uint64_t n_vl;
	char *target;
	char *meta[H5FS_M_COUNT];
};

static void nrec_init(struct nrec *r, uint32_t id, uint8_t kind, uint32_t parent, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->kind = kind;
	r->parent = parent;
	r->path = path;
	r->rc = 1;
}

static void nrec_emit(struct walker *wk, struct nrec *r)
{
	struct wbuf *w = &wk->w;

	wb_u8(w, 'N');
	wb_u32(w, r->id);
	wb_u8(w, r->kind);
	wb_u32(w, r->flags);
	wb_u64(w, r->addr);
	wb_u32(w, r->rc);
	wb_u32(w, r->parent);
	wb_str(w, r->path);
	wb_str(w, r->errmsg);
	wb_u64(w, r->size);
	wb_u64(w, r->storage);
	wb_u64(w, r->offset);
	wb_u64(w, r->nelems);
	wb_u64(w, r->esize);
	wb_u32(w, (uint32_t)r->ndim);
	for (int i = 0; i < r->ndim; i++)
		wb_u64(w, r->dims[i]);
	wb_u64(w, r->n_vl);
	for (uint64_t i = 0; i < r->n_vl; i++)
		wb_u64(w, r->vl_off[i]);
	wb_str(w, r->target);
	for (int i = 0; i < H5FS_M_COUNT; i++)
		wb_str(w, r->meta[i]);
	free(r->errmsg);
	free(r->vl_off);
	free(r->target);
	for (int i = 0; i < H5FS_M_COUNT; i++)
		free(r->meta[i]);
}

static void set_err(struct nrec *r, uint32_t flag, char *msg)
{
	r->flags |= flag;
	if (!r->errmsg)
		r->errmsg = msg;
	else
		free(msg);
}

/* ---- attributes ----- */

static void walk_attrs(struct walker *wk, hid_t oid, struct nrec *r, uint64_t addr, hsize_t nattrs)
{
	unsigned int consecutive_errors = 0;

	for (hsize_t j = 0; j < nattrs && consecutive_errors < 16; j++) {
		hid_t aid;
		ssize_t nlen;
		char *name = NULL, *text = NULL;
		size_t len = 0;
		int err = 0, rc;

		progress(wk, P_ATTR, addr, j);
		if (skipped(wk, P_ATTR, addr, j)) {
			set_err(r, H5FS_NF_ATTR_BAD, strdup("an attribute crashed libhdf5"));
			continue;
		}
		aid = H5Aopen_by_idx(oid, ".", H5_INDEX_NAME, H5_ITER_NATIVE, j, H5P_DEFAULT, H5P_DEFAULT);
		if (aid < 0) {
			set_err(r, H5FS_NF_ATTR_BAD, hdf5_msg("cannot open an attribute"));
			consecutive_errors++;
			continue;
		}
		consecutive_errors = 0;
		nlen = H5Aget_name(aid, 0, NULL);
		if (nlen <= 0 || nlen > 4096 || !(name = malloc((size_t)nlen + 1)) ||
		    H5Aget_name(aid, (size_t)nlen + 1, name) < 0) {
			free(name);
			H5Aclose(aid);
			set_err(r, H5FS_NF_ATTR_BAD, hdf5_msg("cannot read an attribute name"));
			continue;
		}
		rc = h5fs_codec_format_attr(&text, &len, aid);
		if (rc < 0) {
			err = h5fs_error_errno(rc);
			if (err <= 0)
				err = EIO;
			free(text);
			text = NULL;
			len = 0;
			H5Eclear2(H5E_DEFAULT);
		} else if (len > MAX_ATTR_TEXT) {
			err = E2BIG;
			free(text);
			text = NULL;
			len = 0;
		}
		H5Aclose(aid);
		wb_u8(&wk->w, 'A');
		wb_u32(&wk->w, r->id);
		wb_str(&wk->w, name);
		wb_u32(&wk->w, (uint32_t)err);
		wb_strn(&wk->w, text ? text : "", len);
		free(name);
		free(text);
	}
}

/* ---- datasets ----- */

static int has_vlen(hid_t t)
{
	H5T_class_t c = H5Tget_class(t);
	int r = 0;

	switch (c) {
	case H5T_VLEN:
	case H5T_REFERENCE:
		return 1;
	case H5T_STRING:
		return H5Tis_variable_str(t) > 0;
	case H5T_COMPOUND: {
		int n = H5Tget_nmembers(t);

		for (int i = 0; i < n && !r; i++) {
			hid_t m = H5Tget_member_type(t, (unsigned)i);

			if (m < 0)
				return 1;
			r = has_vlen(m);
			H5Tclose(m);
		}
		return r;
	}
	case H5T_ARRAY: {
		hid_t b = H5Tget_super(t);

		if (b < 0)
			return 1;
		r = has_vlen(b);
		H5Tclose(b);
		return r;
	}
	default:
		return 0;
	}
}

/* Shared with tree.c, which describes objects the mount itself made. */
char *h5fs_ll_json_dims(int ndim, const hsize_t *d, int nulls)
{
	size_t cap = 2 + (size_t)ndim * 24;
	char *s = malloc(cap + 1);
	size_t n = 0;

	if (!s)
		return NULL;
	s[n++] = '[';
	for (int i = 0; i < ndim; i++) {
		if (i)
			n += (size_t)sprintf(s + n, ", ");
		if (nulls && d[i] == H5S_UNLIMITED)
			n += (size_t)sprintf(s + n, "null");
		else
			n += (size_t)sprintf(s + n, "%" PRIu64, (uint64_t)d[i]);
	}
	s[n++] = ']';
	s[n] = '\0';
	return s;
}

static void json_escape_into(char **buf, size_t *len, size_t *cap, const char *s)
{
	for (; *s; s++) {
		char tmp[8];
		const char *p = tmp;
		size_t n;

		if (*s == '"' || *s == '\\') {
			tmp[0] = '\\';
			tmp[1] = *s;
			n = 2;
		} else if ((unsigned char)*s < 0x20) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned char)*s);
		} else {
			tmp[0] = *s;
			n = 1;
		}
		if (*len + n + 1 > *cap) {
			size_t nc = (*cap + n + 1) * 2;
			char *nb = realloc(*buf, nc);

			if (!nb)
				return;
			*buf = nb;
			*cap = nc;
		}
		memcpy(*buf + *len, p, n);
		*len += n;
		(*buf)[*len] = '\0';
	}
}

static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (*len + (size_t)n + 1 > *cap) {
		size_t nc = (*len + (size_t)n + 1) * 2;
		char *nb = realloc(*buf, nc);

		if (!nb)
			return;
		*buf = nb;
		*cap = nc;
	}
	va_start(ap, fmt);
	vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
}

char *h5fs_ll_filters_json(hid_t dcpl, int *nfilters)
{
	int n = H5Pget_nfilters(dcpl);
	size_t len = 0, cap = 64;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	s[0] = '\0';
	*nfilters = n < 0 ? 0 : n;
	appendf(&s, &len, &cap, "[");
	for (int i = 0; i < n; i++) {
		unsigned int flags = 0, cd[32], config = 0;
		size_t ncd = 32;
		char name[256] = "";
		H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof(name), name, &config);

		if (ncd > 32)
			ncd = 32;
		appendf(&s, &len, &cap, "%s{\"id\": %d, \"name\": \"", i ? ", " : "", (int)id);
		name[sizeof(name) - 1] = '\0';
		json_escape_into(&s, &len, &cap, name);
		appendf(&s, &len, &cap, "\", \"params\": [");
		for (size_t k = 0; k < ncd; k++)
			appendf(&s, &len, &cap, "%s%u", k ? ", " : "", cd[k]);
		appendf(&s, &len, &cap, "]}");
	}
	appendf(&s, &len, &cap, "]");
	return s;
}

H5D_layout_t h5fs_ll_describe_layout(char **meta, hid_t dcpl, int ndim, int *nfilters)
{
	H5D_layout_t layout = H5Pget_layout(dcpl);

	meta[H5FS_M_LAYOUT] = strdup(layout == H5D_CONTIGUOUS ? "contiguous" :
				     layout == H5D_CHUNKED ? "chunked" :
				     layout == H5D_COMPACT ? "compact" :
				     layout == H5D_VIRTUAL ? "virtual" : "unknown");
	if (layout == H5D_CHUNKED && ndim > 0) {
		hsize_t cd[H5S_MAX_RANK];
		int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);

		meta[H5FS_M_CHUNKS] = nd > 0 ? h5fs_ll_json_dims(nd, cd, 0) : strdup("null");
	} else {
		meta[H5FS_M_CHUNKS] = strdup("null");
	}
	meta[H5FS_M_FILTERS] = h5fs_ll_filters_json(dcpl, nfilters);
	return layout;
}

/*
 * Whether a chunked layout fits its dataspace: one chunk extent per
 * dimension, none zero.  libhdf5 1.10 does not check this when it opens a
 * dataset, and reading a scalar with a chunked layout (cve-2018-11202)
 * makes it loop allocating memory, or not, depending on what the heap
 * held: a probe read cannot tell, so such datasets are never read.
 */
static int chunks_fit(hid_t dcpl, int ndim)
{
	hsize_t cd[H5S_MAX_RANK];
	int nd;

	if (ndim <= 0)
		return 0;
	nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
	if (nd != ndim)
		return 0;
	for (int i = 0; i < nd; i++)
		if (cd[i] == 0)
			return 0;
	return 1;
}

int h5fs_ll_raw_offset(hid_t did, hid_t dcpl, hid_t ftype, H5D_layout_t layout, int nfilters, uint64_t size,
		       uint64_t file_size, uint64_t *off)
{
	haddr_t a;
	hid_t t;
	int narrow;

	if (layout != H5D_CONTIGUOUS || nfilters || !size || H5Pget_external_count(dcpl) != 0)
		return 0;
	/* n-bit integers are converted by libhdf5, never served raw */
	narrow = h5fs_dtype_widened(&t, ftype) != 0;
	if (t >= 0)
		H5Tclose(t);
	a = narrow ? HADDR_UNDEF : H5Dget_offset(did);
	H5Eclear2(H5E_DEFAULT);
	if (a == HADDR_UNDEF || a >= file_size || size > file_size - a)
		return 0;
	*off = a;
	return 1;
}

static void vlstr_scan(struct walker *wk, hid_t did, hid_t ftype, hid_t fspace, struct nrec *r)
{
	hid_t mtype = H5Tcopy(H5T_C_S1);
	uint64_t nblocks, total = 0, cap = 0;
	char **strs = NULL;

	if (r->nelems > MAX_VL_ELEMS) {
		set_err(r, H5FS_NF_DATA_BAD, strdup("too many strings to index"));
		H5Tclose(mtype);
		return;
	}
	H5Tset_size(mtype, H5T_VARIABLE);
	H5Tset_cset(mtype, H5Tget_cset(ftype));
	nblocks = (r->nelems + H5FS_VL_BLOCK - 1) / H5FS_VL_BLOCK;
	strs = malloc(H5FS_VL_BLOCK * sizeof(char *));
	if (!strs)
		_exit(4);
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t a = b * H5FS_VL_BLOCK;
		uint64_t cnt = r->nelems - a < H5FS_VL_BLOCK ? r->nelems - a : H5FS_VL_BLOCK;
		hsize_t mdim = cnt;
		hid_t mspace;

		progress(wk, P_PROBE, r->addr, b);
		if (b >= cap) {
			uint64_t nc = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(r->vl_off, nc * sizeof(uint64_t));

			if (!nv)
				_exit(4);
			r->vl_off = nv;
			cap = nc;
		}
		r->vl_off[b] = total;
		r->n_vl = b + 1;
		if (h5fs_select_linear(fspace, r->ndim, r->dims, a, a + cnt) < 0) {
			set_err(r, H5FS_NF_DATA_BAD, hdf5_msg("cannot select strings"));
			break;
		}
		mspace = H5Screate_simple(1, &mdim, NULL);
		memset(strs, 0, cnt * sizeof(char *));
		if (H5Dread(did, mtype, mspace, r->ndim == 0 ? H5S_ALL : fspace, H5P_DEFAULT, strs) < 0) {
			set_err(r, H5FS_NF_DATA_BAD, hdf5_msg("cannot read strings"));
			H5Sclose(mspace);
			break;
		}
		for (uint64_t i = 0; i < cnt; i++)
			total += h5fs_vlstr_text_len(strs[i]) + 1;
		H5Dvlen_reclaim(mtype, mspace, H5P_DEFAULT, strs);
		H5Sclose(mspace);
	}
	free(strs);
	H5Tclose(mtype);
	r->size = total;
}

/*
 * A chunked dataset too large to read whole here: iterate over its whole
 * chunk index once (H5Dget_num_chunks(), the walk the daemon's lookups by
 * coordinate make) and look every chunk up in it
 * (H5Dget_chunk_storage_size(), one B-tree lookup each, the daemon's
 * other way; no data read), so that a corrupt index node crashes this
 * child rather than the daemon, wherever later reads go.  The chunk
 * bytes themselves are decoded by the library's own bounds-checked
 * decoders.  Lookups that fail are not errors here: libhdf5 1.10 fails
 * for unallocated chunks.
 */
static void walk_chunk_index(struct walker *wk, hid_t did, hid_t dcpl, struct nrec *r)
{
	hsize_t cd[H5S_MAX_RANK], cc[H5S_MAX_RANK] = { 0 }, origin[H5S_MAX_RANK], nch[H5S_MAX_RANK], nall;
	hid_t space;
	uint64_t total = 1;
	int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);

	if (nd <= 0 || nd != r->ndim)
		return;
	for (int i = 0; i < nd; i++) {
		nch[i] = r->dims[i] / cd[i] + (r->dims[i] % cd[i] != 0);
		if (nch[i] == 0)
			return;
		if (nch[i] > INDEX_WALK_BUDGET / total)
			return;
		total *= nch[i];
	}
	if (total > INDEX_WALK_BUDGET - wk->walked)
		return;
	wk->walked += total;
	/* one iteration over the whole index, as the daemon's by-coordinate lookups make */
	progress(wk, P_PROBE, r->addr, 1);
	if ((space = H5Dget_space(did)) < 0 || H5Dget_num_chunks(did, space, &nall) < 0)
		H5Eclear2(H5E_DEFAULT);
	if (space >= 0)
		H5Sclose(space);
	for (uint64_t k = 0; k < total; k++) {
		hsize_t stored;
		int i;

		if (k % 4096 == 0)
			progress(wk, P_PROBE, r->addr, 2 + k);
		for (i = 0; i < nd; i++)
			origin[i] = cc[i] * cd[i];
		if (H5Dget_chunk_storage_size(did, origin, &stored) < 0)
			H5Eclear2(H5E_DEFAULT);
		for (i = nd - 1; i >= 0 && ++cc[i] == nch[i]; i--)
			cc[i] = 0;
	}
}

/*
 * A re-index: whether dataset @p r is one the daemon's tree already shows,
 * probed: the same object (address) with the same type, extent and
 * storage, not flagged.  Its data is then not read whole again (nor its
 * chunk index walked): a re-index after each step of a simulation costs
 * the metadata walk, not a read of the file.
 */
static int known_same(struct walker *wk, const struct nrec *r)
{
	const struct h5fs_node *k;
	uint32_t id;

	if (!wk->known || !map_get(&wk->known_map, r->addr, &id) || id >= wk->known->nnodes)
		return 0;
	k = &wk->known->nodes[id];
	if (k->kind != H5FS_NK_DATASET || (k->flags & (H5FS_NF_BAD | H5FS_NF_DATA_BAD | H5FS_NF_VLSTR)) ||
	    (r->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE)) || k->esize != r->esize || k->nelems != r->nelems ||
	    k->storage != r->storage || k->ndim != r->ndim || !k->meta[H5FS_M_DTYPE] || !r->meta[H5FS_M_DTYPE] ||
	    strcmp(k->meta[H5FS_M_DTYPE], r->meta[H5FS_M_DTYPE]))
		return 0;
	for (int i = 0; i < r->ndim; i++)
		if (!k->dims || k->dims[i] != r->dims[i])
			return 0;
	return 1;
}

/* Returns whether the data was read whole (or need not be: @p seen). */
static int probe_data(struct walker *wk, hid_t did, hid_t ftype, hid_t fspace, struct nrec *r, int contig_candidate,
		      int seen)
{
	uint64_t k;
	char *hbuf = NULL, *fbuf = NULL;
	int whole = 0;
	hsize_t mdim;
	hid_t mspace;

	progress(wk, P_PROBE, r->addr, 0);
	if (skipped(wk, P_PROBE, r->addr, 0) || skipped(wk, P_PROBE, r->addr, IDX_ALL)) {
		set_err(r, H5FS_NF_DATA_BAD, strdup("reading the data crashed libhdf5"));
		return 1;
	}
	if (r->flags & H5FS_NF_NOIMAGE || r->nelems == 0)
		return 1;
	if (r->flags & H5FS_NF_VLSTR) {
		vlstr_scan(wk, did, ftype, fspace, r);
		return 1;
	}
	/* the first elements, up to PROBE_BYTES (at least one) */
	k = PROBE_BYTES / r->esize;
	if (k < 1)
		k = 1;
	if (k > r->nelems)
		k = r->nelems;
	if (!contig_candidate)
		k = 1;
	hbuf = malloc(k * r->esize);
	if (!hbuf)
		_exit(4);
	mdim = k;
	mspace = H5Screate_simple(1, &mdim, NULL);
	if (h5fs_select_linear(fspace, r->ndim, r->dims, 0, k) < 0 ||
	    H5Dread(did, ftype, mspace, r->ndim == 0 ? H5S_ALL : fspace, H5P_DEFAULT, hbuf) < 0) {
		set_err(r, H5FS_NF_DATA_BAD, hdf5_msg("cannot read data"));
		goto out;
	}
	if (seen) {
		whole = 1;	/* probed by an earlier index, unchanged */
	} else if (!contig_candidate && r->size <= FULL_PROBE_MAX && wk->probed + r->size <= FULL_PROBE_BUDGET) {
		/*
		 * Read it all the way the daemon will: a corrupt chunk that
		 * crashes libhdf5 crashes this child, not the mount.
		 */
		h5fs_reader *rd = NULL;
		char *piece = malloc(1 << 20);
		uint64_t off = 0;

		if (!piece)
			_exit(4);
		if (h5fs_reader_open(&rd, did, wk->fd, NULL) == 0) {
			whole = 1;
			while (off < r->size) {
				size_t got = 0;

				progress(wk, P_PROBE, r->addr, 1 + off / (1 << 20));
				if (h5fs_reader_read(rd, piece, 1 << 20, off, &got) < 0 || !got) {
					char *m = NULL;

					if (asprintf(&m, "cannot read data at byte %" PRIu64 ": %s", off,
						     h5fs_error_last()->message) < 0)
						m = NULL;
					set_err(r, H5FS_NF_DATA_BAD, m);
					break;
				}
				off += got;
			}
			h5fs_reader_free(rd);
		}
		wk->probed += r->size;
		free(piece);
		H5Eclear2(H5E_DEFAULT);
	}
	if (contig_candidate) {
		fbuf = malloc(k * r->esize);
		if (!fbuf)
			_exit(4);
		if (pread(wk->fd, fbuf, k * r->esize, (off_t)r->offset) == (ssize_t)(k * r->esize) &&
		    !memcmp(hbuf, fbuf, k * r->esize))
			r->flags |= H5FS_NF_CONTIG;
	}
out:
	H5Sclose(mspace);
	free(hbuf);
	free(fbuf);
	return whole;
}

static void dataset_meta(struct walker *wk, hid_t did, struct nrec *r)
{
	hid_t ftype = -1, fspace = -1, dcpl = -1;
	hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK];
	H5D_layout_t layout;
	int nfilters = 0, contig_candidate = 0;
	char *dt = NULL;

	progress(wk, P_DSET, r->addr, 0);
	if (skipped(wk, P_DSET, r->addr, 0) || skipped(wk, P_DSET, r->addr, IDX_ALL)) {
		set_err(r, H5FS_NF_DATA_BAD, strdup("reading the dataset's metadata crashed libhdf5"));
		return;
	}
	if ((ftype = H5Dget_type(did)) < 0 || (fspace = H5Dget_space(did)) < 0 ||
	    (dcpl = H5Dget_create_plist(did)) < 0) {
		set_err(r, H5FS_NF_DATA_BAD, hdf5_msg("cannot read dataset metadata"));
		goto out;
	}
	r->esize = H5Tget_size(ftype);
	switch (H5Sget_simple_extent_type(fspace)) {
	case H5S_NULL:
		r->ndim = -1;
		r->nelems = 0;
		r->meta[H5FS_M_SHAPE] = strdup("null");
		r->meta[H5FS_M_MAXSHAPE] = strdup("null");
		break;
	case H5S_SCALAR:
		r->ndim = 0;
		r->nelems = 1;
		r->meta[H5FS_M_SHAPE] = strdup("[]");
		r->meta[H5FS_M_MAXSHAPE] = strdup("[]");
		break;
	case H5S_SIMPLE: {
		int nd = H5Sget_simple_extent_dims(fspace, dims, maxdims);
		uint64_t n = 1;
		int overflow = 0;

		if (nd < 0 || nd > H5S_MAX_RANK) {
			set_err(r, H5FS_NF_DATA_BAD, hdf5_msg("cannot read the dataspace"));
			goto out;
		}
		r->ndim = nd;
		for (int i = 0; i < nd; i++) {
			r->dims[i] = dims[i];
			if (dims[i] && n > UINT64_MAX / dims[i])
				overflow = 1;
			else
				n *= dims[i];
		}
		r->nelems = overflow ? 0 : n;
		r->meta[H5FS_M_SHAPE] = h5fs_ll_json_dims(nd, dims, 0);
		r->meta[H5FS_M_MAXSHAPE] = h5fs_ll_json_dims(nd, maxdims, 1);
		if (overflow)
			set_err(r, H5FS_NF_DATA_BAD, strdup("the extent overflows 64 bits"));
		break;
	}
	default:
		set_err(r, H5FS_NF_DATA_BAD, hdf5_msg("cannot read the dataspace"));
		goto out;
	}
	if (h5fs_dtype_from_hid(&dt, ftype) < 0)
		H5Eclear2(H5E_DEFAULT);
	r->meta[H5FS_M_DTYPE] = dt;
	if (H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0)
		r->flags |= H5FS_NF_VLSTR;
	else if (has_vlen(ftype) || r->esize == 0 || r->esize > MAX_ESIZE)
		r->flags |= H5FS_NF_NOIMAGE;
	if (!(r->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE))) {
		if (r->esize && r->nelems > UINT64_MAX / r->esize)
			set_err(r, H5FS_NF_DATA_BAD, strdup("the byte size overflows 64 bits"));
		else
			r->size = r->nelems * r->esize;
	}
	layout = h5fs_ll_describe_layout(r->meta, dcpl, r->ndim, &nfilters);
	if (layout == H5D_CHUNKED && !chunks_fit(dcpl, r->ndim))
		set_err(r, H5FS_NF_DATA_BAD, strdup("the chunk shape does not match the dataspace"));
	r->storage = H5Dget_storage_size(did);
	if (asprintf(&r->meta[H5FS_M_STORAGE], "%" PRIu64, r->storage) < 0)
		r->meta[H5FS_M_STORAGE] = NULL;
	if (!(r->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE | H5FS_NF_DATA_BAD)))
		contig_candidate = h5fs_ll_raw_offset(did, dcpl, ftype, layout, nfilters, r->size, wk->file_size,
						      &r->offset);
	H5Eclear2(H5E_DEFAULT);
	if (!(r->flags & H5FS_NF_DATA_BAD) &&
	    !probe_data(wk, did, ftype, fspace, r, contig_candidate, known_same(wk, r)) &&
	    layout == H5D_CHUNKED && !(r->flags & H5FS_NF_DATA_BAD))
		walk_chunk_index(wk, did, dcpl, r);
out:
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (fspace >= 0)
		H5Sclose(fspace);
	if (ftype >= 0)
		H5Tclose(ftype);
	H5Eclear2(H5E_DEFAULT);
}

/* ---- external links (-o follow_external) ----- */

/* the link index of a followed external link, in progress records */
#define FOLLOW_BIT ((uint64_t)1 << 62)
#define MAX_XFILES 255

/* the daemon's table of external files (h5fs_ext.h); index 0 is SOURCE */
static struct {
	char **paths;
	int *fds;
	uint32_t n, cap;
} ext_tab;

/* every external link of the last index built: (file, link path) -> value */
struct ext_link {
	uint32_t file;
	char *lpath, *tfile, *tpath;
};

static struct {
	struct ext_link *v;
	size_t n, cap;
} ext_links, ext_links_new;

static int ext_link_cmp(const void *a, const void *b)
{
	const struct ext_link *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return strcmp(x->lpath, y->lpath);
}

static void ext_links_free(struct ext_link *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].lpath);
		free(v[i].tfile);
		free(v[i].tpath);
	}
	free(v);
}

int h5fs_ext_link(const struct h5fs_node *dir, const char *name, const char **file, const char **path)
{
	struct ext_link key;
	const struct ext_link *hit;
	char *lp = NULL;

	if (!ext_links.n || !dir->path)
		return 0;
	if (asprintf(&lp, "%s%s%s", dir->path, strcmp(dir->path, "/") ? "/" : "", name) < 0)
		return 0;
	key.file = h5fs_ext_file_of(dir);
	key.lpath = lp;
	hit = bsearch(&key, ext_links.v, ext_links.n, sizeof(key), ext_link_cmp);
	free(lp);
	if (!hit)
		return 0;
	*file = hit->tfile;
	*path = hit->tpath;
	return 1;
}

int h5fs_ext_fd(uint32_t file)
{
	return file && file < ext_tab.n ? ext_tab.fds[file] : -1;
}

const char *h5fs_ext_path(uint32_t file)
{
	return file && file < ext_tab.n ? ext_tab.paths[file] : NULL;
}

static int is_hdf5_signature(int fd, off_t size);

static herr_t deny_elink(const char *pfile, const char *pgroup, const char *cfile, const char *cobj,
			 unsigned *flags, hid_t fapl, void *op)
{
	(void)pfile; (void)pgroup; (void)cfile; (void)cobj; (void)flags; (void)fapl; (void)op;
	return -1;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		d = strdup(".");
	else if (slash == path)
		d = strdup("/");
	else
		d = strndup(path, (size_t)(slash - path));
	if (!d)
		_exit(4);
	return d;
}

static void xf_open(struct walker *wk, uint32_t k, char **why)
{
	struct xfile *x = &wk->xf[k];
	struct stat st;

	x->fd = open(x->real, O_RDONLY | O_CLOEXEC);
	if (x->fd < 0 || fstat(x->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (asprintf(why, "not followed: '%s' %s", x->real,
			     x->fd < 0 ? strerror(errno) : "is not a regular file") < 0)
			*why = NULL;
		return;
	}
	x->size = (uint64_t)st.st_size;
	if (!is_hdf5_signature(x->fd, st.st_size)) {
		if (asprintf(why, "not followed: '%s' is not an HDF5 file", x->real) < 0)
			*why = NULL;
		return;
	}
	/* without the OS lock, as SOURCE: never in a writer's way */
	if (h5fs_live_open(&x->fid, x->real, NULL) < 0) {
		x->fid = -1;
		if (asprintf(why, "not followed: %s", h5fs_error_last()->message) < 0)
			*why = NULL;
	}
}

/*
 * The file an external link of file @p from names, by the rules of
 * -o follow_external: a relative name is taken from the folder of the
 * file holding the link, the result is resolved with realpath(), and it
 * must lie inside SOURCE's folder.  0 and *out, or -1 and *why.
 */
static int ext_resolve(struct walker *wk, uint32_t from, const char *fname, uint32_t *out, char **why)
{
	char *base = dir_of(from ? wk->xf[from].real : wk->o->source_abs), *cand = NULL, *real;
	size_t rl = strlen(wk->root_dir);
	uint32_t k;

	*why = NULL;
	if (asprintf(&cand, "%s%s%s", fname[0] == '/' ? "" : base, fname[0] == '/' ? "" : "/", fname) < 0)
		_exit(4);
	free(base);
	real = realpath(cand, NULL);
	if (!real) {
		if (asprintf(why, "not followed: '%s': %s", cand, strerror(errno)) < 0)
			*why = NULL;
		free(cand);
		return -1;
	}
	free(cand);
	if (strncmp(real, wk->root_dir, rl) || (strcmp(wk->root_dir, "/") && real[rl] != '/')) {
		if (asprintf(why, "not followed: '%s' lies outside '%s'", real, wk->root_dir) < 0)
			*why = NULL;
		free(real);
		return -1;
	}
	if (!strcmp(real, wk->o->source_abs)) {
		free(real);
		*out = 0;
		return 0;
	}
	for (k = 1; k < wk->nxf; k++)
		if (!strcmp(wk->xf[k].real, real))
			break;
	if (k == wk->nxf) {
		struct xfile *nx;

		if (k >= MAX_XFILES) {
			if (asprintf(why, "not followed: more than %d external files", MAX_XFILES - 1) < 0)
				*why = NULL;
			free(real);
			return -1;
		}
		nx = realloc(wk->xf, (size_t)(k + 1) * sizeof(*nx));
		if (!nx)
			_exit(4);
		wk->xf = nx;
		wk->xf[k].real = real;
		wk->xf[k].fid = -1;
		wk->xf[k].fd = -1;
		wk->xf[k].size = 0;
		wk->nxf++;
		wb_u8(&wk->w, 'F');
		wb_u32(&wk->w, k);
		wb_str(&wk->w, real);
	} else {
		free(real);
	}
	if (wk->xf[k].fid < 0)
		xf_open(wk, k, why);
	if (wk->xf[k].fid < 0) {
		if (!*why && asprintf(why, "not followed: '%s' cannot be opened", wk->xf[k].real) < 0)
			*why = NULL;
		return -1;
	}
	*out = k;
	return 0;
}

/* ---- objects and groups ----- */

static void walk_group(struct walker *wk, hid_t gid, struct nrec *g);

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name) < 0)
		_exit(4);
	return p;
}

/*
 * Open the object behind link @p name of @p gid (in file @p file) and
 * index it; returns its id.  @p follow: reached through an external
 * link (@p lfile, @p lpath): an object already indexed is shared, and
 * the path is resolved without crossing further external links.
 */
static uint32_t visit_object(struct walker *wk, hid_t gid, const char *name, const char *path,
			     uint32_t parent, uint64_t gaddr, uint64_t lidx, int root, uint32_t file,
			     const char *lfile, const char *lpath)
{
	struct nrec r;
	H5O_info_t oi;
	hid_t oid, lapl = H5P_DEFAULT;
	uint32_t id;
	int save_fd = wk->fd;
	uint64_t save_size = wk->file_size;

	nrec_init(&r, 0, H5FS_NK_UNKNOWN, parent, path);
	progress(wk, P_INFO, gaddr, lidx);
	if (!root && skipped(wk, P_INFO, gaddr, lidx)) {
		r.id = id = wk->next_id++;
		set_err(&r, H5FS_NF_BAD, strdup("opening the object crashed libhdf5"));
		nrec_emit(wk, &r);
		return id;
	}
	if (lfile) {
		lapl = H5Pcreate(H5P_LINK_ACCESS);
		if (lapl < 0 || H5Pset_elink_cb(lapl, deny_elink, NULL) < 0)
			_exit(4);
	}
	oid = H5Oopen(gid, name, lapl);
	if (lfile)
		H5Pclose(lapl);
	if (oid < 0 || H5Oget_info2(oid, &oi, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0) {
		r.id = id = wk->next_id++;
		set_err(&r, H5FS_NF_BAD, hdf5_msg("cannot open the object"));
		if (oid >= 0)
			H5Oclose(oid);
		nrec_emit(wk, &r);
		return id;
	}
	r.addr = oi.addr | ((uint64_t)file << H5FS_EXT_SHIFT);
	if (lfile && map_get(&wk->map, r.addr, &id)) {
		H5Oclose(oid);
		H5Eclear2(H5E_DEFAULT);
		return id;
	}
	r.id = id = wk->next_id++;
	r.rc = oi.rc;
	(void)lpath;
	wk->fd = wk->xf[file].fd;
	wk->file_size = wk->xf[file].size;
	map_put(&wk->map, r.addr, id);
	walk_attrs(wk, oid, &r, r.addr, oi.num_attrs);
	switch (oi.type) {
	case H5O_TYPE_GROUP:
		r.kind = H5FS_NK_GROUP;
		walk_group(wk, oid, &r);
		break;
	case H5O_TYPE_DATASET:
		r.kind = H5FS_NK_DATASET;
		dataset_meta(wk, oid, &r);
		break;
	case H5O_TYPE_NAMED_DATATYPE:
		r.kind = H5FS_NK_DATATYPE;
		if (h5fs_dtype_from_hid(&r.meta[H5FS_M_DTYPE], oid) < 0)
			H5Eclear2(H5E_DEFAULT);
		break;
	default:
		set_err(&r, H5FS_NF_BAD, strdup("unknown object type"));
		break;
	}
	wk->fd = save_fd;
	wk->file_size = save_size;
	H5Oclose(oid);
	H5Eclear2(H5E_DEFAULT);
	nrec_emit(wk, &r);
	return id;
}

struct lctx {
	struct walker *wk;
	struct nrec *g;
	uint64_t i;
};

static void emit_entry(struct walker *wk, uint32_t parent, const char *name, uint32_t child)
{
	wb_u8(&wk->w, 'E');
	wb_u32(&wk->w, parent);
	wb_str(&wk->w, name);
	wb_u32(&wk->w, child);
}

/*
 * Follow external link @p name of group @p g (in file @p gfile) to
 * @p obj in @p file: 1 with the target's node in *id, or 0 with the
 * reason in @p r's errmsg (the link stays a symlink).
 */
static int follow_link(struct walker *wk, struct nrec *g, const char *name, uint64_t i, uint32_t gfile,
		       const char *file, const char *obj, struct nrec *r, uint32_t *id)
{
	uint64_t mark = i | FOLLOW_BIT;
	uint32_t k;
	char *why = NULL;

	(void)name;
	progress(wk, P_INFO, g->addr, mark);
	if (skipped(wk, P_INFO, g->addr, mark)) {
		set_err(r, 0, strdup("not followed: following it crashed libhdf5"));
		return 0;
	}
	if (obj[0] != '/') {
		set_err(r, 0, strdup("not followed: the object path is not absolute"));
		return 0;
	}
	if (ext_resolve(wk, gfile, file, &k, &why) < 0) {
		set_err(r, 0, why ? why : strdup("not followed"));
		return 0;
	}
	/* the object must exist, reached without further external links */
	{
		hid_t lapl = H5Pcreate(H5P_LINK_ACCESS), oid;
		H5O_info_t oi;
		uint32_t old;
		int ok;

		if (lapl < 0 || H5Pset_elink_cb(lapl, deny_elink, NULL) < 0)
			_exit(4);
		oid = H5Oopen(wk->xf[k].fid, obj, lapl);
		H5Pclose(lapl);
		ok = oid >= 0 && H5Oget_info2(oid, &oi, H5O_INFO_BASIC) >= 0;
		if (oid >= 0)
			H5Oclose(oid);
		if (!ok) {
			char *m = hdf5_msg("not followed: no such object");

			set_err(r, 0, m ? m : strdup("not followed: no such object"));
			return 0;
		}
		/* a group shown already would be a second name of a directory */
		if (oi.type == H5O_TYPE_GROUP &&
		    map_get(&wk->map, oi.addr | ((uint64_t)k << H5FS_EXT_SHIFT), &old)) {
			set_err(r, 0, strdup("not followed: the group is already in the tree"));
			return 0;
		}
	}
	*id = visit_object(wk, wk->xf[k].fid, obj, obj, g->id, g->addr, mark, 0, k, file, obj);
	return 1;
}

/* The group with node @p id when it is being listed (a cycle), else NULL. */
static const struct nrec *chain_find(const struct walker *wk, uint32_t id)
{
	for (size_t i = 0; i < wk->nchain; i++)
		if (wk->chain[i]->id == id)
			return wk->chain[i];
	return NULL;
}

static herr_t link_cb(hid_t gid, const char *name, const H5L_info_t *li, void *payload)
{
	struct lctx *c = payload;
	struct walker *wk = c->wk;
	uint64_t i = c->i++;
	uint32_t id, gfile;
	char *path;

	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') ||
	    strlen(name) > 255) {
		char *msg = NULL;

		if (asprintf(&msg, "a link name cannot be shown: '%.64s'", name) >= 0)
			set_err(c->g, 0, msg);
		goto next;
	}
	path = path_join(c->g->path, name);
	gfile = (uint32_t)(c->g->addr >> H5FS_EXT_SHIFT);
	switch (li->type) {
	case H5L_TYPE_HARD:
		if (map_get(&wk->map, li->u.address | ((uint64_t)gfile << H5FS_EXT_SHIFT), &id)) {
			const struct nrec *anc = chain_find(wk, id);

			if (anc) {
				/*
				 * a hard link to a group being listed, an
				 * ancestor or the group itself: Linux refuses
				 * directory cycles (ELOOP), so it shows as a
				 * symlink to that group
				 */
				struct nrec r;

				nrec_init(&r, wk->next_id++, H5FS_NK_SOFTLINK, c->g->id, path);
				r.target = strdup(anc->path);
				id = r.id;
				nrec_emit(wk, &r);
			}
			emit_entry(wk, c->g->id, name, id);
			break;
		}
		id = visit_object(wk, gid, name, path, c->g->id, c->g->addr, i, 0, gfile, NULL, NULL);
		emit_entry(wk, c->g->id, name, id);
		break;
	case H5L_TYPE_SOFT:
	case H5L_TYPE_EXTERNAL: {
		struct nrec r;
		size_t vs = li->u.val_size;
		char *val;
		int followed = 0;

		nrec_init(&r, 0, li->type == H5L_TYPE_SOFT ? H5FS_NK_SOFTLINK : H5FS_NK_EXTLINK,
			  c->g->id, path);
		progress(wk, P_INFO, c->g->addr, i);
		if (skipped(wk, P_INFO, c->g->addr, i)) {
			set_err(&r, H5FS_NF_BAD, strdup("reading the link crashed libhdf5"));
		} else if (vs == 0 || vs > MAX_LINK_VALUE || !(val = calloc(1, vs + 1))) {
			set_err(&r, H5FS_NF_BAD, strdup("implausible link value size"));
		} else if (H5Lget_val(gid, name, val, vs, H5P_DEFAULT) < 0) {
			set_err(&r, H5FS_NF_BAD, hdf5_msg("cannot read the link"));
			free(val);
		} else if (li->type == H5L_TYPE_SOFT) {
			r.target = strndup(val, vs);
			free(val);
		} else {
			const char *file = NULL, *obj = NULL;
			unsigned flags = 0;

			if (H5Lunpack_elink_val(val, vs, &flags, &file, &obj) < 0 || !file || !obj) {
				set_err(&r, H5FS_NF_BAD, hdf5_msg("cannot decode the external link"));
			} else {
				r.meta[H5FS_M_LINKFILE] = strdup(file);
				r.meta[H5FS_M_LINKPATH] = strdup(obj);
				if (asprintf(&r.target, "%s::%s", file, obj) < 0)
					r.target = NULL;
				/* for the group's user.h5.link.NAME.file / .path */
				wb_u8(&wk->w, 'L');
				wb_u32(&wk->w, gfile);
				wb_str(&wk->w, path);
				wb_str(&wk->w, file);
				wb_str(&wk->w, obj);
				if (wk->o->follow_external)
					followed = follow_link(wk, c->g, name, i, gfile, file, obj, &r, &id);
			}
			free(val);
		}
		H5Eclear2(H5E_DEFAULT);
		if (followed) {
			free(r.errmsg);
			free(r.target);
			for (int m = 0; m < H5FS_M_COUNT; m++)
				free(r.meta[m]);
		} else {
			r.id = id = wk->next_id++;
			nrec_emit(wk, &r);
		}
		emit_entry(wk, c->g->id, name, id);
		break;
	}
	default: {
		struct nrec r;

		id = wk->next_id++;
		nrec_init(&r, id, H5FS_NK_UNKNOWN, c->g->id, path);
		set_err(&r, H5FS_NF_BAD, strdup("user-defined link type"));
		nrec_emit(wk, &r);
		emit_entry(wk, c->g->id, name, id);
		break;
	}
	}
	free(path);
next:
	progress(wk, P_LIST, c->g->addr, i + 1);
	return 0;
}

static void walk_group(struct walker *wk, hid_t gid, struct nrec *g)
{
	struct lctx c = { wk, g, 0 };
	hsize_t idx = 0;

	if (skipped(wk, P_LIST, g->addr, IDX_ALL)) {
		set_err(g, H5FS_NF_LIST_BAD, strdup("listing the group crashed libhdf5"));
		return;
	}
	progress(wk, P_LIST, g->addr, 0);
	if (wk->nchain == wk->capchain) {
		size_t nc = wk->capchain ? wk->capchain * 2 : 64;
		const struct nrec **nv = realloc(wk->chain, nc * sizeof(*nv));

		if (!nv)
			_exit(4);
		wk->chain = nv;
		wk->capchain = nc;
	}
	wk->chain[wk->nchain++] = g;
	/* a listing that fails part way keeps what it found */
	if (H5Literate(gid, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, link_cb, &c) < 0)
		set_err(g, c.i ? 0 : H5FS_NF_LIST_BAD, hdf5_msg("cannot list the group"));
	H5Eclear2(H5E_DEFAULT);
	wk->nchain--;
}

/*
 * Open SOURCE without the OS lock (h5fs/sys/live.h), so that a program
 * opening it for writing meanwhile never fails because of us; while
 * another program holds it for writing, wait for lock_timeout seconds
 * (a re-index does not wait).  The parent checks that the file did not change while we read it.
 */
static hid_t child_open(struct walker *wk, const struct h5fs_ll_opts *o, char **msg, int *code)
{
	struct timespec t0, now;
	long delay_ms = 10;
	/* a re-index does not wait: the follower looks again when the writer is done */
	double patience = cur_env && cur_env->known ? 0 : o->lock_timeout;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		h5fs_live_holder h;
		hid_t fid;
		int rc;

		progress(wk, P_OPEN, 0, 0);
		rc = h5fs_live_holder_get(&h, o->source_abs);
		if (rc == 0 && h.state != H5FS_LIVE_WRITER)
			rc = h5fs_live_open(&fid, o->source_abs, &h);
		else if (rc == 0)
			rc = H5FS_ELOCKED;
		if (rc == 0)
			return fid;
		if (rc != H5FS_ELOCKED) {
			*msg = strdup(h5fs_error_last()->message);
			*code = H5FS_EXIT_OPEN;
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= patience) {
			*msg = strdup("the file is locked by another process");
			*code = H5FS_EXIT_LOCKED;
			return -1;
		}
		H5Eclear2(H5E_DEFAULT);
		usleep((useconds_t)delay_ms * 1000);
		if (delay_ms < 100)
			delay_ms *= 2;
	}
}

static void child_main(int wfd, struct progress *pg, const struct skip *skips, size_t nskips,
		       const struct h5fs_ll_opts *o, unsigned int attempt)
{
	struct walker wk;
	struct rlimit rl;
	struct stat st;
	char *msg = NULL;
	int code = 0;
	uint32_t id;

	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
#ifndef H5FS_ASAN
	/* AddressSanitizer reserves terabytes of address space: no limit there */
	if (getrlimit(RLIMIT_AS, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > CHILD_AS_LIMIT)) {
		rl.rlim_cur = CHILD_AS_LIMIT;
		setrlimit(RLIMIT_AS, &rl);
	}
#endif
#ifndef H5FS_ASAN
	{
		/*
		 * What glibc or libhdf5 print as they crash on a corrupt file
		 * ("free(): invalid next size") is not for the terminal: the
		 * parent reports the crash in one line.  (Sanitizer builds
		 * keep stderr for their reports.)
		 */
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (nul >= 0) {
			dup2(nul, STDERR_FILENO);
			close(nul);
		}
	}
#endif
	if (attempt == 0)
		fault_parse(getenv("H5FS_INDEX_FAULT"));
	memset(&wk, 0, sizeof(wk));
	wk.w.fd = wfd;
	wk.w.cap = 1 << 20;
	wk.w.buf = malloc(wk.w.cap);
	if (!wk.w.buf)
		_exit(4);
	wk.pg = pg;
	wk.skips = skips;
	wk.nskips = nskips;
	if (cur_env && cur_env->known) {
		/* the daemon's tree, as it was at the fork */
		wk.known = cur_env->known;
		for (uint32_t i = 0; i < wk.known->nnodes; i++)
			if (wk.known->nodes[i].kind == H5FS_NK_DATASET && !h5fs_ext_file_of(&wk.known->nodes[i]))
				map_put(&wk.known_map, wk.known->nodes[i].addr, i);
	}
	wk.fd = open(o->source_abs, O_RDONLY | O_CLOEXEC);
	if (wk.fd < 0 || fstat(wk.fd, &st) < 0)
		_exit(5);
	wk.file_size = (uint64_t)st.st_size;
	h5fs_init();
	wk.fid = child_open(&wk, o, &msg, &code);
	if (wk.fid < 0) {
		wb_u8(&wk.w, 'X');
		wb_u32(&wk.w, (uint32_t)code);
		wb_str(&wk.w, msg);
		wb_flush(&wk.w);
		_exit(0);
	}
	/* the root: any failure here is fatal for the mount */
	wk.o = o;
	wk.xf = calloc(ext_tab.n ? ext_tab.n : 1, sizeof(*wk.xf));
	if (!wk.xf)
		_exit(4);
	wk.nxf = ext_tab.n ? ext_tab.n : 1;
	for (uint32_t k = 0; k < wk.nxf; k++) {
		wk.xf[k].real = k ? ext_tab.paths[k] : NULL;
		wk.xf[k].fid = k ? -1 : wk.fid;
		wk.xf[k].fd = k ? -1 : wk.fd;
		wk.xf[k].size = k ? 0 : wk.file_size;
	}
	if (o->follow_external) {
		char *d = dir_of(o->source_abs);

		wk.root_dir = realpath(d, NULL);
		free(d);
		if (!wk.root_dir)
			_exit(5);
	}
	id = visit_object(&wk, wk.fid, "/", "/", 0, 0, 0, 1, 0, NULL, NULL);
	(void)id;
	progress(&wk, P_DONE, 0, 0);
	wb_u8(&wk.w, 'D');
	wb_u32(&wk.w, wk.next_id);
	wb_flush(&wk.w);
	_exit(0);
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

static struct h5fs_node *idx_node(struct h5fs_index *idx, uint32_t id)
{
	if (id >= (uint32_t)1 << 30)
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

/* External file @p k of the child's numbering is @p path (taken). */
static int ext_add(uint32_t k, char *path)
{
	if (k == 0 || k >= MAX_XFILES)
		return -1;
	if (k < ext_tab.n) {
		/* a re-index meets a file it already knew */
		int same = ext_tab.paths[k] && !strcmp(ext_tab.paths[k], path);

		free(path);
		return same ? 0 : -1;
	}
	if (k != (ext_tab.n ? ext_tab.n : 1))
		return -1;
	if (k + 1 > ext_tab.cap) {
		uint32_t nc = ext_tab.cap ? ext_tab.cap * 2 : 8;
		char **np = realloc(ext_tab.paths, nc * sizeof(*np));
		int *nf;

		if (!np)
			return -1;
		ext_tab.paths = np;
		nf = realloc(ext_tab.fds, nc * sizeof(*nf));
		if (!nf)
			return -1;
		ext_tab.fds = nf;
		ext_tab.cap = nc;
	}
	ext_tab.paths[0] = NULL;
	ext_tab.fds[0] = -1;
	ext_tab.paths[k] = path;
	ext_tab.fds[k] = open(path, O_RDONLY | O_CLOEXEC);
	if (ext_tab.fds[k] < 0)
		h5fs_log(H5FS_LOG_WARN, "external file '%s': %s; its data reads give EIO", path, strerror(errno));
	else
		h5fs_log(H5FS_LOG_INFO, "following external links into '%s'", path);
	ext_tab.n = k + 1;
	return 0;
}

static int parse_stream(struct h5fs_index *idx, const char *buf, size_t len, int *xcode, char **xmsg)
{
	struct rbuf r = { buf, buf + len, 0 };
	int done = 0;

	while (!r.bad && r.p < r.end && !done) {
		uint8_t t = rd_u8(&r);

		switch (t) {
		case 'N': {
			uint32_t id = rd_u32(&r);
			struct h5fs_node *n = idx_node(idx, id);

			if (!n)
				return -1;
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
			struct h5fs_node *n = idx_node(idx, rd_u32(&r));
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
			struct h5fs_node *dir = idx_node(idx, rd_u32(&r));
			char *name = rd_str(&r, NULL);
			uint32_t child = rd_u32(&r);

			if (!dir || !name || !idx_node(idx, child) || add_child(dir, name, child) < 0) {
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

			if (!path || ext_add(k, path) < 0) {
				free(path);
				return -1;
			}
			break;
		}
		case 'L': {
			struct ext_link l;

			l.file = rd_u32(&r);
			l.lpath = rd_str(&r, NULL);
			l.tfile = rd_str(&r, NULL);
			l.tpath = rd_str(&r, NULL);
			if (!l.lpath || !l.tfile || !l.tpath) {
				free(l.lpath);
				free(l.tfile);
				free(l.tpath);
				return -1;
			}
			if (ext_links_new.n == ext_links_new.cap) {
				size_t nc = ext_links_new.cap ? ext_links_new.cap * 2 : 16;
				struct ext_link *nv = realloc(ext_links_new.v, nc * sizeof(*nv));

				if (!nv) {
					free(l.lpath);
					free(l.tfile);
					free(l.tpath);
					return -1;
				}
				ext_links_new.v = nv;
				ext_links_new.cap = nc;
			}
			ext_links_new.v[ext_links_new.n++] = l;
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
	return r.bad || !done ? -1 : 0;
}

int h5fs_index_entry_cmp(const void *a, const void *b)
{
	const struct h5fs_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

const struct h5fs_entry *h5fs_index_find(const struct h5fs_node *dir, const char *name)
{
	size_t lo = 0, hi = dir->nchildren;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, dir->children[mid].name);

		if (!c)
			return &dir->children[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void sort_dir(struct h5fs_node *d, struct h5fs_index *idx)
{
	uint32_t j = 0;

	if (!d->nchildren)
		return;
	qsort(d->children, d->nchildren, sizeof(*d->children), h5fs_index_entry_cmp);
	/* a corrupt file may repeat a name: keep the first */
	for (uint32_t i = 0; i < d->nchildren; i++) {
		if (j && !strcmp(d->children[j - 1].name, d->children[i].name)) {
			h5fs_log(H5FS_LOG_WARN, "group '%s': duplicate name '%s' hidden", d->path ? d->path : "?",
				 d->children[i].name);
			free(d->children[i].name);
			continue;
		}
		d->children[j++] = d->children[i];
	}
	d->nchildren = j;
	d->nsubdirs = 0;
	for (uint32_t i = 0; i < d->nchildren; i++)
		if (idx->nodes[d->children[i].node].kind == H5FS_NK_GROUP)
			d->nsubdirs++;
}

/* view=npy: datasets with a byte image become NAME.npy with a header. */
static void apply_npy(struct h5fs_index *idx)
{
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];
		uint64_t shape[H5S_MAX_RANK];
		int rc;

		if (n->kind != H5FS_NK_DATASET || n->flags & (H5FS_NF_BAD | H5FS_NF_VLSTR | H5FS_NF_NOIMAGE) ||
		    n->ndim < 0 || !n->meta[H5FS_M_DTYPE])
			continue;
		for (int d = 0; d < n->ndim; d++)
			shape[d] = n->dims[d];
		rc = h5fs_npy_header_format(&n->npy, &n->npy_len, n->meta[H5FS_M_DTYPE], 0, n->ndim, shape);
		if (rc < 0) {
			h5fs_log(H5FS_LOG_WARN, "dataset '%s': no NPY header for dtype '%s' (%s); shown raw",
				 n->path, n->meta[H5FS_M_DTYPE], h5fs_error_last()->message);
			n->npy = NULL;
			n->npy_len = 0;
			continue;
		}
		n->flags |= H5FS_NF_NPY;
	}
	/* a name clash keeps every name of that dataset raw */
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *d = &idx->nodes[i];

		for (uint32_t c = 0; c < d->nchildren; c++) {
			struct h5fs_node *n = &idx->nodes[d->children[c].node];
			char *nn = NULL;

			if (!(n->flags & H5FS_NF_NPY))
				continue;
			if (asprintf(&nn, "%s.npy", d->children[c].name) < 0)
				continue;
			for (uint32_t k = 0; k < d->nchildren; k++) {
				if (!strcmp(d->children[k].name, nn)) {
					h5fs_log(H5FS_LOG_WARN, "dataset '%s': '%s' exists, shown raw", n->path, nn);
					n->flags &= ~H5FS_NF_NPY;
					break;
				}
			}
			free(nn);
		}
	}
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *d = &idx->nodes[i];

		for (uint32_t c = 0; c < d->nchildren; c++) {
			struct h5fs_node *n = &idx->nodes[d->children[c].node];
			char *nn = NULL;

			if (!(n->flags & H5FS_NF_NPY))
				continue;
			if (asprintf(&nn, "%s.npy", d->children[c].name) < 0)
				continue;
			free(d->children[c].name);
			d->children[c].name = nn;
		}
	}
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];

		if (!(n->flags & H5FS_NF_NPY)) {
			free(n->npy);
			n->npy = NULL;
			n->npy_len = 0;
		}
	}
}

void h5fs_index_release(struct h5fs_index *idx)
{
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];

		free(n->path);
		free(n->errmsg);
		free(n->dims);
		free(n->vl_off);
		free(n->npy);
		free(n->target);
		free(n->linktext);
		for (int m = 0; m < H5FS_M_COUNT; m++)
			free(n->meta[m]);
		for (uint32_t c = 0; c < n->nchildren; c++)
			free(n->children[c].name);
		free(n->children);
		for (uint32_t a = 0; a < n->nattrs; a++) {
			free(n->attrs[a].name);
			free(n->attrs[a].value);
		}
		free(n->attrs);
	}
	free(idx->nodes);
	memset(idx, 0, sizeof(*idx));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run one child; collect its stream.  Returns 0 when the child finished,
 * else 1 with *sig set (the signal, or SIGKILL for a hang) and the
 * progress page telling where.
 */
static int run_child(const struct h5fs_ll_opts *o, struct progress *pg, const struct skip *skips,
		     size_t nskips, unsigned int attempt, char **out, size_t *outlen, int *sig, int *hung)
{
	int pfd[2];
	pid_t pid;
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	uint64_t last_ticks;
	double last_change;
	int status = 0, eof = 0;

	*hung = 0;
	*sig = 0;
	if (!buf || pipe2(pfd, O_CLOEXEC) < 0) {
		free(buf);
		return -1;
	}
	memset((void *)pg, 0, sizeof(*pg));
	fflush(NULL);
	/* no HDF5 call of another thread is under way while we fork (cur_env) */
	if (cur_env && cur_env->before_fork)
		cur_env->before_fork(cur_env->arg);
	pid = fork();
	if (pid != 0 && cur_env && cur_env->after_fork)
		cur_env->after_fork(cur_env->arg);
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		free(buf);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGPIPE, SIG_DFL);
		child_main(pfd[1], pg, skips, nskips, o, attempt);
		_exit(0);
	}
	close(pfd[1]);
	last_ticks = pg->ticks;
	last_change = now_s();
	while (!eof) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		int rc = poll(&p, 1, 100);

		if (rc > 0) {
			ssize_t n;

			if (len == cap) {
				char *nb = realloc(buf, cap * 2);

				if (!nb) {
					kill(pid, SIGKILL);
					break;
				}
				buf = nb;
				cap *= 2;
			}
			n = read(pfd[0], buf + len, cap - len);
			if (n > 0)
				len += (size_t)n;
			else if (n == 0)
				eof = 1;
			else if (errno != EINTR && errno != EAGAIN)
				eof = 1;
		}
		if (pg->ticks != last_ticks) {
			last_ticks = pg->ticks;
			last_change = now_s();
		} else if (now_s() - last_change > o->index_timeout) {
			kill(pid, SIGKILL);
			*hung = 1;
			break;
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*out = buf;
	*outlen = len;
	if (*hung) {
		*sig = SIGKILL;
		return 1;
	}
	if (WIFSIGNALED(status)) {
		*sig = WTERMSIG(status);
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		*sig = 0;
		return 2;
	}
	return 0;
}

static int is_hdf5_signature(int fd, off_t size)
{
	static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
	unsigned char b[8];

	for (off_t off = 0; off + 8 <= size; off = off ? off * 2 : 512) {
		if (pread(fd, b, 8, off) != 8)
			return 0;
		if (!memcmp(b, sig, 8))
			return 1;
	}
	return 0;
}

int h5fs_index_build(struct h5fs_index *idx, const struct h5fs_ll_opts *o, const struct h5fs_index_env *env)
{
	int ret;

	cur_env = env;
	ret = index_build(idx, o);
	cur_env = NULL;
	return ret;
}

static int index_build(struct h5fs_index *idx, const struct h5fs_ll_opts *o)
{
	struct progress *pg;
	struct skip *skips = NULL;
	size_t nskips = 0;
	struct stat st;
	int fd, ret = 0;

	memset(idx, 0, sizeof(*idx));
	fd = open(o->source_abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "h5fs: cannot open '%s': %s\n", o->source, strerror(errno));
		if (fd >= 0)
			close(fd);
		return H5FS_EXIT_OPEN;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "h5fs: cannot open '%s': not a regular file (directory mode is not supported yet)\n",
			o->source);
		close(fd);
		return H5FS_EXIT_OPEN;
	}
	if (!is_hdf5_signature(fd, st.st_size)) {
		fprintf(stderr, "h5fs: cannot open '%s': not an HDF5 file (no signature)\n", o->source);
		close(fd);
		return H5FS_EXIT_OPEN;
	}
	close(fd);
	pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pg == MAP_FAILED) {
		fprintf(stderr, "h5fs: cannot index '%s': %s\n", o->source, strerror(errno));
		return H5FS_EXIT_OPEN;
	}
	for (unsigned int attempt = 0;; attempt++) {
		char *buf = NULL, *xmsg = NULL;
		size_t len = 0;
		int sig = 0, hung = 0, xcode = 0;
		int rc = run_child(o, pg, skips, nskips, attempt, &buf, &len, &sig, &hung);

		if (rc < 0) {
			fprintf(stderr, "h5fs: cannot index '%s': %s\n", o->source, strerror(errno));
			free(buf);
			ret = H5FS_EXIT_OPEN;
			break;
		}
		if (rc == 0) {
			int prc;

			ext_links_free(ext_links_new.v, ext_links_new.n);
			memset(&ext_links_new, 0, sizeof(ext_links_new));
			prc = parse_stream(idx, buf, len, &xcode, &xmsg);
			free(buf);
			if (prc == 1) {
				/* a re-index that met a writer: the follower says so, and looks again */
				if (!(cur_env && cur_env->known && xcode == H5FS_EXIT_LOCKED))
					fprintf(stderr, "h5fs: cannot mount '%s': %s\n", o->source,
						xmsg ? xmsg : "cannot open the file");
				free(xmsg);
				h5fs_index_release(idx);
				ret = xcode ? xcode : H5FS_EXIT_OPEN;
				break;
			}
			if (prc < 0 || idx->nnodes == 0) {
				fprintf(stderr, "h5fs: cannot index '%s': the indexer's output is malformed\n",
					o->source);
				h5fs_index_release(idx);
				ret = H5FS_EXIT_CORRUPT;
				break;
			}
			idx->restarts = attempt;
			/* this index's external links replace the last one's */
			ext_links_free(ext_links.v, ext_links.n);
			ext_links = ext_links_new;
			memset(&ext_links_new, 0, sizeof(ext_links_new));
			if (ext_links.n)
				qsort(ext_links.v, ext_links.n, sizeof(*ext_links.v), ext_link_cmp);
			break;
		}
		free(buf);
		/* the child crashed, hung, or failed outright: where? */
		{
			uint32_t ph = pg->phase;
			uint64_t addr = pg->addr, i = pg->idx;
			const char *how = hung ? "hung" : rc == 2 ? "failed" : "crashed";

			if (ph <= P_OPEN || (ph == P_INFO && addr == 0 && i == 0) || ph == P_DONE || rc == 2) {
				fprintf(stderr, "h5fs: cannot mount '%s': the file is corrupt (libhdf5 %s%s%s while %s)\n",
					o->source, how, sig && !hung ? " with " : "", sig && !hung ? strsignal(sig) : "",
					ph < sizeof(phase_names) / sizeof(*phase_names) ? phase_names[ph] : "indexing");
				ret = H5FS_EXIT_CORRUPT;
				break;
			}
			if (attempt >= H5FS_MAX_RESTARTS) {
				fprintf(stderr, "h5fs: cannot mount '%s': the file is corrupt (libhdf5 %s %u times)\n",
					o->source, how, attempt + 1);
				ret = H5FS_EXIT_CORRUPT;
				break;
			}
			{
				struct skip *ns = realloc(skips, (nskips + 1) * sizeof(*ns));

				if (!ns) {
					ret = H5FS_EXIT_OPEN;
					break;
				}
				skips = ns;
			}
			/* a group whose listing crashed is skipped whole; an object's
			   second crashing attribute skips the rest of them */
			if (ph == P_LIST) {
				i = IDX_ALL;
			} else if (ph == P_ATTR) {
				for (size_t k = 0; k < nskips; k++)
					if (skips[k].phase == P_ATTR && skips[k].addr == addr)
						i = IDX_ALL;
			} else if (ph == P_PROBE) {
				i = IDX_ALL;
			}
			for (size_t k = 0; k < nskips; k++) {
				if (skips[k].phase == ph && skips[k].addr == addr &&
				    (skips[k].idx == i || skips[k].idx == IDX_ALL)) {
					fprintf(stderr, "h5fs: cannot mount '%s': the file is corrupt (libhdf5 %s twice at the same place)\n",
						o->source, how);
					ret = H5FS_EXIT_CORRUPT;
					goto done;
				}
			}
			skips[nskips].phase = ph;
			skips[nskips].addr = addr;
			skips[nskips].idx = i;
			nskips++;
			h5fs_log(H5FS_LOG_WARN, "indexer %s%s%s while %s (object at %" PRIu64 ", index %" PRId64 "); that part is skipped and answers EIO",
				 how, sig && !hung ? " with " : "", sig && !hung ? strsignal(sig) : "",
				 phase_names[ph], addr, i == IDX_ALL ? (int64_t)-1 : (int64_t)i);
		}
	}
done:
	munmap(pg, sizeof(*pg));
	free(skips);
	if (ret)
		return ret;

	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];

		atomic_init(&n->nlookup, 0);
		n->rd = NULL;
		/* ops_file.c replies from SOURCE's descriptor: not for other files */
		if (h5fs_ext_file_of(n))
			n->flags &= ~H5FS_NF_CONTIG;
		if (n->kind == H5FS_NK_EXTLINK && n->errmsg && o->follow_external)
			h5fs_log(H5FS_LOG_WARN, "external link '%s': %s", n->path ? n->path : "?", n->errmsg);
		if (n->flags & (H5FS_NF_BAD | H5FS_NF_DATA_BAD | H5FS_NF_LIST_BAD))
			idx->nbad++;
		if (n->kind == H5FS_NK_GROUP)
			sort_dir(n, idx);
	}
	if (o->view == H5FS_VIEW_NPY) {
		apply_npy(idx);
		for (uint32_t i = 0; i < idx->nnodes; i++)
			if (idx->nodes[i].kind == H5FS_NK_GROUP)
				sort_dir(&idx->nodes[i], idx);
	}
	if (idx->nodes[0].kind != H5FS_NK_GROUP) {
		fprintf(stderr, "h5fs: cannot mount '%s': the root group cannot be read (%s)\n", o->source,
			idx->nodes[0].errmsg ? idx->nodes[0].errmsg : "unknown reason");
		h5fs_index_release(idx);
		return H5FS_EXIT_CORRUPT;
	}
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int h5fs_index_build_live(struct h5fs_index *idx, const struct h5fs_ll_opts *o, const struct h5fs_index_env *env,
			  double patience, h5fs_live_watch *w, h5fs_live_mark *at, h5fs_live_holder *held)
{
	double t0 = mono_s();
	useconds_t pause_us = 2000;

	for (;;) {
		h5fs_live_mark m0, m1;
		h5fs_live_holder h;
		double left = patience - (mono_s() - t0);
		int rc = h5fs_live_wait(&h, o->source_abs, left > 0 ? left : 0), same = 0;

		if (rc == H5FS_ELOCKED) {
			if (patience > 0)
				fprintf(stderr, "h5fs: cannot mount '%s': %s\n", o->source, h5fs_error_last()->message);
			return H5FS_INDEX_HELD;
		}
		if (rc < 0 || h5fs_live_mark_get(&m0, w, o->source_abs) < 0) {
			fprintf(stderr, "h5fs: cannot open '%s': %s\n", o->source, h5fs_error_last()->message);
			return H5FS_EXIT_OPEN;
		}
		h5fs_log_capture_begin();
		rc = h5fs_index_build(idx, o, env);
		if (h5fs_live_mark_get(&m1, w, o->source_abs) == 0)
			/* a SWMR writer appends meanwhile, which changes no structure */
			same = h5fs_live_mark_equal(&m0, &m1) ||
			       (h.state == H5FS_LIVE_SWMR && m0.stamp.dev == m1.stamp.dev && m0.stamp.ino == m1.stamp.ino);
		h5fs_log_capture_end(same);
		if (same) {
			*at = h.state == H5FS_LIVE_SWMR ? m1 : m0;
			if (held)
				*held = h;
			return rc;
		}
		if (rc == 0)
			h5fs_index_release(idx);
		if (mono_s() - t0 >= patience) {
			if (patience > 0)
				fprintf(stderr, "h5fs: cannot mount '%s': it kept changing while it was indexed (%.1f s)\n",
					o->source, patience);
			return H5FS_INDEX_CHANGED;
		}
		h5fs_log(H5FS_LOG_DEBUG, "'%s' changed while it was indexed: again", o->source_abs);
		usleep(pause_us);
		if (pause_us < 100000)
			pause_us *= 2;
	}
}
