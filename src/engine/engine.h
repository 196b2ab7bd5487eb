/*
 * The h5fs engine: what the daemon knows of a served HDF5 file, with no
 * FUSE in it (squashfuse's engine / ll split, STYLE_ANCHORS rec. 12).
 *
 * Layout of src/engine/:
 *   index.c      the indexer's parent side: fork, watchdog, restarts,
 *                one state of the file (h5fs_index_build_live())
 *   walk.c       the indexer's child: groups, objects, links, attributes
 *   walk_base.c  what every step of the child uses: progress page, skip
 *                list, address map, record errors
 *   walk_dset.c  the child's probe of a dataset's data
 *   walk_ext.c   external links (-o follow_external), the child's side
 *   wire.c       the child -> parent record stream, both ends
 *   indexer.h    what the indexer's files share
 *   describe.c   the one description of a dataset (the child's and
 *                tree.c's, for what the mount made)
 *   exttab.c     external files, the daemon's side (engine/ext.h)
 *   served.h     one served file: its index, descriptor, watch, HDF5
 *                access and following state; the lock order
 *   tree.c       the mutable index of read-write mounts: names added,
 *                moved, removed, objects described, new indexes merged
 *   links.c      readlink texts
 *   follow.c     following the file: re-index when another program
 *                changed it, SWMR extents, the follower thread
 *   backing.c    the daemon's own HDF5 access to a served file: the read
 *                handle without the OS lock, idle close, the write hold
 *   read.c       reads through it: byte images, spans, vlen text, extents
 *   errno.c      library codes -> errno, in one place
 *   vlstr.c      the text of vlen strings
 *   log.c        one line per event to syslog, stderr or a file; HDF5's
 *                error stack in one line
 *
 * Nothing here includes a FUSE header; src/fuse/ is the glue.
 */
#ifndef H5FS_ENGINE_H
#define H5FS_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "h5fs.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/live.h"

struct h5fs_exttab;

#define H5FS_PRINTF_LL(a, b) __attribute__((format(printf, a, b)))

/* ---- exit codes (documented in -h and src/fuse/README.md) ---------- */

enum h5fs_exit {
	H5FS_EXIT_OK = 0,
	H5FS_EXIT_USAGE = 1,
	H5FS_EXIT_MOUNTPOINT = 10,
	H5FS_EXIT_OPEN = 11,		/* cannot open, or not HDF5 */
	H5FS_EXIT_LOCKED = 12,
	H5FS_EXIT_HELPER = 20,
	H5FS_EXIT_CORRUPT = 30
};

/* ---- what the indexer is told ------------------------------------- */

enum h5fs_view { H5FS_VIEW_RAW = 0, H5FS_VIEW_NPY = 1 };

struct h5fs_index_opts {
	const char *source;	/* SOURCE as given (for messages) */
	const char *source_abs;	/* its realpath */
	int follow_external;
	int view;		/* H5FS_VIEW_* */
	double index_timeout;	/* seconds without progress before the
				   indexer child counts as hung */
	double lock_timeout;	/* how long the first index waits for a writer */
};

/* ---- log ------------------------------------------------------------ */

enum h5fs_log_level { H5FS_LOG_ERR, H5FS_LOG_WARN, H5FS_LOG_INFO, H5FS_LOG_DEBUG };

/* "syslog", "stderr" or a file path; NULL: stderr in the foreground. */
int h5fs_log_open(const char *spec, int foreground, int debug);
void h5fs_log_close(void);
void h5fs_log(int level, const char *fmt, ...) H5FS_PRINTF_LL(2, 3);
/* Hold this thread's messages back until capture_end(): written when @p keep, else dropped. */
void h5fs_log_capture_begin(void);
void h5fs_log_capture_end(int keep);
/*
 * HDF5's error stack in one line (the one place it is read for the log):
 * "WHAT: innermost message" (malloc'd, NULL when out of memory), or a
 * log line "WHAT 'PATH': innermost message".  Both clear the stack.
 */
char *h5fs_hdf5_msg(const char *what);
void h5fs_log_hdf5(int level, const char *what, const char *path);

/* ---- the index ------------------------------------------------------ */

enum h5fs_node_kind {
	H5FS_NK_GROUP = 0,
	H5FS_NK_DATASET,
	H5FS_NK_DATATYPE,
	H5FS_NK_SOFTLINK,
	H5FS_NK_EXTLINK,
	H5FS_NK_UNKNOWN		/* header unreadable: stat only */
};

/* node flags */
#define H5FS_NF_BAD		(1u << 0)	/* object header unreadable */
#define H5FS_NF_DATA_BAD	(1u << 1)	/* data reads give EIO */
#define H5FS_NF_ATTR_BAD	(1u << 2)	/* some attributes unreadable */
#define H5FS_NF_CONTIG		(1u << 3)	/* pread at offset serves it */
#define H5FS_NF_VLSTR		(1u << 4)	/* vlen strings shown as text */
#define H5FS_NF_NOIMAGE		(1u << 5)	/* no fixed byte image */
#define H5FS_NF_LIST_BAD	(1u << 6)	/* group listing crashed */
#define H5FS_NF_NPY		(1u << 7)	/* shown as NAME.npy */
/* write side (tree.c, ops_write.c) */
#define H5FS_NF_PENDING		(1u << 8)	/* created through the mount, not in the file yet */
#define H5FS_NF_FRESH		(1u << 9)	/* created through the mount with the default
						   dtype/shape: user.h5.dtype/shape may still
						   reinterpret its bytes */
#define H5FS_NF_DEAD		(1u << 10)	/* unlinked: no name leads to it any more */

/* user.h5.* computed metadata, in listing order */
enum h5fs_meta {
	H5FS_M_DTYPE = 0,
	H5FS_M_SHAPE,
	H5FS_M_MAXSHAPE,
	H5FS_M_CHUNKS,
	H5FS_M_LAYOUT,
	H5FS_M_FILTERS,
	H5FS_M_STORAGE,
	H5FS_M_LINKFILE,
	H5FS_M_LINKPATH,
	H5FS_M_COUNT
};
extern const char *const h5fs_meta_names[H5FS_M_COUNT];

/* elements per block of the vlen-string text offset table */
#define H5FS_VL_BLOCK 4096

/* the largest READ or WRITE request the mount takes (main.c explains) */
#define H5FS_MAX_REQUEST (512u * 1024)
/* request threads at least, whatever the core count (main.c) */
#define H5FS_MIN_THREADS 8

struct h5fs_attr {
	char *name;		/* HDF5 attribute name */
	char *value;		/* formatted text, NULL when err */
	size_t len;
	int err;		/* errno for getxattr, 0 when fine */
};

struct h5fs_entry {
	char *name;		/* as shown (with .npy in the npy view) */
	uint32_t node;
};

struct h5fs_reader;

struct h5fs_node {
	uint8_t kind;
	uint32_t flags;
	uint64_t addr;		/* object address; 0 for links */
	uint32_t rc;		/* HDF5 reference count */
	uint32_t parent;	/* the first group it was found in */
	char *path;		/* the first HDF5 path it was found at */
	char *errmsg;		/* why it is bad, when it is */

	/* datasets */
	uint64_t size;		/* bytes of the byte image (or the text) */
	uint64_t storage;	/* H5Dget_storage_size */
	uint64_t offset;	/* file offset with H5FS_NF_CONTIG */
	uint64_t nelems;
	uint64_t esize;
	int ndim;		/* -1: null dataspace */
	uint64_t *dims;
	uint64_t *vl_off;	/* text offset of each H5FS_VL_BLOCK block */
	uint64_t n_vl;
	char *npy;		/* NPY header, view=npy */
	size_t npy_len;

	char *meta[H5FS_M_COUNT];
	char *target;		/* soft: the link value; ext: FILE::/path */
	char *linktext;		/* what readlink returns (h5fs_links_init()) */

	/* groups: children sorted by shown name (byte order) */
	struct h5fs_entry *children;
	uint32_t nchildren;
	uint32_t nsubdirs;

	struct h5fs_attr *attrs;
	uint32_t nattrs;

	/* daemon state */
	atomic_uint_fast64_t nlookup;
	void *rd;		/* backing.c's per-dataset state, under the HDF5 lock */

	/* write side, under the served file's tree lock held exclusively (ops_write.c) */
	uint32_t nwriters;	/* open files staging writes to it */
	uint32_t ndirty;	/* of them, those holding writes not committed yet */
	uint64_t wsize;		/* the size their latest write or truncate left */
	void *wr;		/* declared user.h5.dtype / user.h5.shape (struct h5fs_wdecl) */
	/*
	 * A temporary poured into a dataset (sed -i, mv tmp over it): that
	 * dataset's node index + 1.  The kernel's entry of the moved name
	 * leads to this node's inode until it forgets it, so requests on this
	 * inode act on that dataset (src/fuse/inode.c); 0 otherwise.
	 */
	uint32_t alias;
};

struct h5fs_index {
	struct h5fs_node *nodes;
	uint32_t nnodes;
	uint32_t cap;
	uint32_t nbad;		/* objects the indexer could not probe */
	unsigned int restarts;
};

/* What a build of the index may know and must do around its forks. */
struct h5fs_index_env {
	/* a re-index: the daemon's tree; datasets it shows probed and unchanged are not read again,
	 * and a writer holding the file is not waited for */
	const struct h5fs_index *known;
	/* around each fork: no HDF5 call of another thread may be under way */
	void (*before_fork)(void *arg);
	void (*after_fork)(void *arg);
	void *arg;
	/* the served file's table of external files (engine/ext.h); NULL: a private one, dropped after */
	struct h5fs_exttab *ext;
};

/*
 * Index SOURCE in a forked child (see index.c); @p env may be NULL.  On
 * failure prints one line to stderr and returns an exit code
 * (H5FS_EXIT_*); 0 on success.  The child opens SOURCE without the OS
 * lock; the caller checks with h5fs_index_build_live() that the file did
 * not change meanwhile.
 */
int h5fs_index_build(struct h5fs_index *idx, const struct h5fs_index_opts *o, const struct h5fs_index_env *env);

/* h5fs_index_build_live()'s answers besides 0 and exit codes */
#define H5FS_INDEX_HELD (-1)	/* another program held the file for writing */
#define H5FS_INDEX_CHANGED (-2)	/* the file changed while it was indexed */

/*
 * h5fs_index_build() from one state of the file: wait until no other
 * program holds SOURCE for writing, index, and index again when the file
 * changed meanwhile, for @p patience seconds in all (0: one attempt).
 * *@p at gets the file's mark the index shows, *@p held (may be NULL) who
 * wrote it then (nobody, or a SWMR writer).  The warnings of an index
 * thrown away are dropped.  Returns 0, an exit code of
 * h5fs_index_build(), H5FS_INDEX_HELD or H5FS_INDEX_CHANGED (the last two
 * with one line on stderr when @p patience is not 0: the mount's).
 */
int h5fs_index_build_live(struct h5fs_index *idx, const struct h5fs_index_opts *o, const struct h5fs_index_env *env,
			  double patience, h5fs_live_watch *w, h5fs_live_mark *at, h5fs_live_holder *held);


/* ---- the one description of a dataset (describe.c) ---------------- */

/* elements larger than this have no byte image shown; more strings than this are not indexed */
#define H5FS_DSET_MAX_ESIZE ((uint64_t)64 << 20)
#define H5FS_DSET_MAX_VL_ELEMS ((uint64_t)1 << 26)

/*
 * A dataset as the mount shows it, read from an open handle: by the
 * indexer's child for what the file holds, and by tree.c for what the
 * mount made.  Every size is checked against 64-bit overflow.
 */
struct h5fs_dset_desc {
	uint32_t flags;		/* H5FS_NF_VLSTR, H5FS_NF_NOIMAGE, H5FS_NF_DATA_BAD */
	char *errmsg;		/* why H5FS_NF_DATA_BAD */
	int ndim;		/* -1: null dataspace */
	hsize_t dims[H5S_MAX_RANK];
	uint64_t nelems, esize;
	uint64_t size;		/* of the byte image (of the text, after h5fs_dset_text()) */
	uint64_t storage;
	H5D_layout_t layout;
	int contig;		/* the image is the size bytes at offset of the file */
	uint64_t offset;
	char *meta[H5FS_M_COUNT];	/* the user.h5.* texts */
	uint64_t *vl_off;	/* vlen strings: text offset of each H5FS_VL_BLOCK block */
	uint64_t n_vl;
};

/*
 * Describe dataset @p did of a file of @p file_size bytes (UINT64_MAX:
 * not known).  0, or -1 with H5FS_NF_DATA_BAD and errmsg set (what could
 * be read is filled in); release it either way.  No data is read.
 */
int h5fs_dset_describe(struct h5fs_dset_desc *d, hid_t did, uint64_t file_size);
/* The same from the dataset's type, dataspace and creation properties, opened by the caller. */
int h5fs_dset_describe_ids(struct h5fs_dset_desc *d, hid_t did, hid_t ftype, hid_t fspace, hid_t dcpl,
			   uint64_t file_size);
/* Open those three (0, or -1 with the ones that failed invalid); close what is open and clear HDF5's stack. */
int h5fs_dset_ids_open(hid_t did, hid_t *ftype, hid_t *fspace, hid_t *dcpl);
void h5fs_dset_ids_close(hid_t ftype, hid_t fspace, hid_t dcpl);
/*
 * Vlen strings: read every string once and record where each block of
 * their text starts (vl_off, n_vl) and the text's size.  @p step (may be
 * NULL) is called before each block.  0, or -1 with H5FS_NF_DATA_BAD.
 */
int h5fs_dset_text(struct h5fs_dset_desc *d, hid_t did, void (*step)(void *arg, uint64_t block), void *arg);
void h5fs_dset_desc_release(struct h5fs_dset_desc *d);

/* The user.h5.shape text of @p ndim sizes: a JSON list ("null" for unlimited ones when @p nulls); malloc'd. */
char *h5fs_index_json_dims(int ndim, const hsize_t *d, int nulls);
void h5fs_index_release(struct h5fs_index *idx);
/* Binary search of a group's children; NULL when absent. */
const struct h5fs_entry *h5fs_index_find(const struct h5fs_node *dir, const char *name);
/* qsort order of a group's entries: by name (h5fs_index_find() searches it) */
int h5fs_index_entry_cmp(const void *a, const void *b);

/* Escaped text of one vlen string element (vlstr.c; ops_file.c documents it). */
size_t h5fs_vlstr_text_len(const char *s);
char *h5fs_vlstr_text_put(char *out, const char *s);

#endif
