/*
 * What the indexer's files share (index.c, walk.c, walk_base.c,
 * walk_dset.c, walk_ext.c, exttab.c, wire.c); nothing outside the
 * engine includes it.
 *
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
 *   'F' file:  number, realpath (an external file, -o follow_external)
 *   'L' link:  file number, link path, target file, target path
 *   'D' done:  node count
 * Strings are a u32 length and bytes; UINT32_MAX stands for NULL.  The
 * parent reads the stream as untrusted input (a dying child can send a
 * torn record): lengths are checked against what is left, and an index
 * is accepted only when every node has a known kind, a path, a parent
 * that exists and a sane rank (wire.c, index_sane()).
 *
 * Allocation discipline: sizes from the file (link value sizes, element
 * counts, attribute counts) bound loops, never allocations beyond what a
 * step really reads; the child runs under RLIMIT_AS so a libhdf5
 * allocation gone wrong kills only the child.
 */
#ifndef H5FS_ENGINE_INDEXER_H
#define H5FS_ENGINE_INDEXER_H

#include <sys/resource.h>
#include <sys/types.h>

#include "engine.h"
#include "ext.h"

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
#define PROBE_BYTES 65536
/* datasets up to this size are read whole by the child, through the
   daemon's own reader, until FULL_PROBE_BUDGET bytes were read */
#define FULL_PROBE_MAX ((uint64_t)64 << 20)
#define FULL_PROBE_BUDGET ((uint64_t)1 << 30)
/* chunk lookups walk_chunk_index() may make in one file (~0.5 us each) */
#define INDEX_WALK_BUDGET ((uint64_t)2 << 20)
#define CHILD_AS_LIMIT ((rlim_t)4 << 30)
/* the link index of a followed external link, in progress records */
#define FOLLOW_BIT ((uint64_t)1 << 62)
#define MAX_XFILES 255

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
	const struct h5fs_index_opts *o;
	struct xfile *xf;	/* files, numbered as in the daemon's table */
	uint32_t nxf;
	char *root_dir;		/* realpath of SOURCE's folder, with follow_external */
	uint64_t cur_addr;	/* the dataset whose text is being sized (progress records) */
};

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

/* wire.c: the child's side of the record stream */
void h5fs_ix_wb_flush(struct wbuf *w);
void h5fs_ix_wb_put(struct wbuf *w, const void *p, size_t n);
void h5fs_ix_wb_u8(struct wbuf *w, uint8_t v);
void h5fs_ix_wb_u32(struct wbuf *w, uint32_t v);
void h5fs_ix_wb_u64(struct wbuf *w, uint64_t v);
void h5fs_ix_wb_strn(struct wbuf *w, const char *s, size_t n);
void h5fs_ix_wb_str(struct wbuf *w, const char *s);
/* Write node record @p r and free what it holds. */
void h5fs_ix_nrec_emit(struct walker *wk, struct nrec *r);
/*
 * wire.c: the parent's side: the child's whole stream @p buf into @p idx.
 * 0; 1 when the child could not open the file (*xcode, *xmsg: its
 * exit code and message); -1 when the stream is malformed.
 */
int h5fs_ix_parse_stream(struct h5fs_index *idx, struct h5fs_exttab *x, const char *buf, size_t len, int *xcode,
			 char **xmsg);
/* Free what a node record gave @p n: path, errmsg, dims, vl_off, target, meta (NULL after). */
void h5fs_ix_node_clear(struct h5fs_node *n);

/* walk_base.c */
/* H5FS_INDEX_FAULT=KIND:PHASE:N (walk_base.c): crash or hang at that step. */
void h5fs_ix_fault_arm(const char *spec);
/* Tell the watchdog the next step (and fail there when a test asks). */
void h5fs_ix_progress(struct walker *wk, uint32_t phase, uint64_t addr, uint64_t idx);
/* Whether an earlier child crashed or hung at this step. */
int h5fs_ix_skipped(const struct walker *wk, uint32_t phase, uint64_t addr, uint64_t idx);
int h5fs_ix_map_get(const struct addrmap *m, uint64_t addr, uint32_t *out);
void h5fs_ix_map_put(struct addrmap *m, uint64_t addr, uint32_t id);
void h5fs_ix_nrec_init(struct nrec *r, uint32_t id, uint8_t kind, uint32_t parent, const char *path);
/* Flag @p r bad with @p msg (taken) as its first reason. */
void h5fs_ix_set_err(struct nrec *r, uint32_t flag, char *msg);
/* walk.c */
void h5fs_ix_walk_attrs(struct walker *wk, hid_t oid, struct nrec *r, uint64_t addr, hsize_t nattrs);
/* The child: walk the file, stream it to @p wfd, exit. */
void h5fs_ix_child_main(int wfd, struct progress *pg, const struct skip *skips, size_t nskips,
			const struct h5fs_index_opts *o, unsigned int attempt, const struct h5fs_index *known,
			const struct h5fs_exttab *ext);

/* walk_dset.c: everything a dataset's node shows */
void h5fs_ix_dataset_meta(struct walker *wk, hid_t did, struct nrec *r);

/* walk_ext.c */
int h5fs_ix_xfiles_init(struct walker *wk, const struct h5fs_exttab *ext);
void h5fs_ix_xf_open(struct walker *wk, uint32_t k, char **why);
int h5fs_ix_ext_resolve(struct walker *wk, uint32_t from, const char *fname, uint32_t *out, char **why);
herr_t h5fs_ix_deny_elink(const char *pfile, const char *pgroup, const char *cfile, const char *cobj,
			  unsigned *flags, hid_t fapl, void *op);
char *h5fs_ix_dir_of(const char *path);
/* exttab.c */
int h5fs_ix_ext_add(struct h5fs_exttab *x, uint32_t k, char *path);
void h5fs_ix_ext_rollback(struct h5fs_exttab *x, uint32_t n);
void h5fs_ix_ext_links_begin(struct h5fs_exttab *x);
int h5fs_ix_ext_link_add(struct h5fs_exttab *x, uint32_t file, char *lpath, char *tfile, char *tpath);
void h5fs_ix_ext_links_keep(struct h5fs_exttab *x);

/* walk_ext.c: whether an HDF5 signature is at 0, 512, 1024, ... of @p fd */
int h5fs_ix_is_hdf5(int fd, off_t size);

#endif
