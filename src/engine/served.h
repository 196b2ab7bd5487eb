/*
 * One served HDF5 file: what the daemon holds of a file it shows -- its
 * descriptor and identity at mount, its index (the tree), the watch on
 * it, the daemon's own HDF5 access (backing.c, read.c) and the state of
 * following it (tree.c, follow.c).  A single-file mount serves one; the
 * mount itself (sessions, inode numbers, options) is src/fuse's struct
 * h5fs_ll.
 *
 * Locks, in order (the one place they are written down):
 *   1. tree: read-write mounts only, every request; shared to read the
 *      index, exclusive to change the file or the index (tree.c);
 *   2. backing's users: every read through libhdf5 shared, the write
 *      side, a stale handle's drop and a re-index exclusive (backing.c);
 *   3. the HDF5 lock (h5fs_hdf5_lock(), recursive) around every HDF5
 *      call, the library's reader included;
 *   4. leaf mutexes: backing's mu, the reader's pf_mu, the chunk cache's
 *      pool mutex, the follower's and the notifier's queues, the log.
 * No thread takes a lock of a lower number while it holds a higher one,
 * except that a thread holding users exclusively reads without taking
 * it again.
 */
#ifndef H5FS_ENGINE_SERVED_H
#define H5FS_ENGINE_SERVED_H

#include <pthread.h>
#include <sys/stat.h>

#include "engine.h"
#include "ext.h"
#include "h5fs/sys/reader.h"

/* What a served file is told. */
struct h5fs_served_opts {
	double idle_close;	/* close the read handle this long after the last read */
	double lock_timeout;	/* how long to wait for another writer */
	size_t chunk_cache;	/* bytes of decoded chunks */
	int ro;			/* a read-only mount: no writes, changes are refused */
};

struct h5fs_served {
	const struct h5fs_served_opts *o;
	const char *path;	/* realpath of the file */
	const struct h5fs_index_opts *iopts;	/* how it is (re-)indexed */
	struct h5fs_index idx;
	int fd;			/* O_RDONLY of the file for pread() */
	struct stat st;		/* the file at mount time */
	h5fs_live_watch *watch;	/* inotify on it (h5fs/sys/live.h) */
	struct h5fs_exttab ext;	/* external files (-o follow_external; ext.h) */
	void *backing;		/* backing.c */
	pthread_rwlock_t tree;	/* lock 1 above */
	void *tree_state;	/* tree.c */
	void *follow_state;	/* follow.c */
	void *mount;		/* the glue's mount (struct h5fs_ll), for tree.c and follow.c */
	/* set by follow.c: around the daemon's own read-write opens (backing.c) */
	void (*write_opening)(struct h5fs_served *f);
	void (*write_closed)(struct h5fs_served *f);
	/* set by the glue: the kernel must forget an entry or an inode's data (tree.c's merge) */
	void (*inval_entry)(struct h5fs_served *f, struct h5fs_node *dir, const char *name);
	void (*inval_inode)(struct h5fs_served *f, struct h5fs_node *n);
};

/* declared dtype / shape of a dataset being created (node->wr; src/fuse/ops_pour.c) */
struct h5fs_wdecl {
	char *dtype;
	char *shape;
};

/*
 * The errno for library code @p code; logs "WHAT: <last error message>"
 * once.  The one place library codes become errno values (errno.c).
 */
int h5fs_errno_of(int code, const char *what);

/* backing.c */
int h5fs_backing_init(struct h5fs_served *f);
/* The file at mark @p m was held by no other writer (@p h: nobody or SWMR): opens need not look again. */
void h5fs_backing_quiet(struct h5fs_served *f, const h5fs_live_mark *m, const h5fs_live_holder *h);
void h5fs_backing_shutdown(struct h5fs_served *f);
/* Read the byte image of dataset @p n: bytes read or -errno. */
ssize_t h5fs_backing_read(struct h5fs_served *f, struct h5fs_node *n, char *buf, size_t size, uint64_t off);
/*
 * Where [off, off + size) of a dataset's image lies verbatim in the file
 * (*fd), for a reply from the descriptor: 0 with *nspans spans, 1 when
 * it must be read with h5fs_backing_read(), or a negative errno.
 */
int h5fs_backing_map(struct h5fs_served *f, struct h5fs_node *n, uint64_t off, size_t size,
		     h5fs_reader_span *spans, size_t max, size_t *nspans, int *fd);
/* Render the vlen-string text of @p n: bytes read or -errno. */
ssize_t h5fs_backing_read_text(struct h5fs_served *f, struct h5fs_node *n, char *buf, size_t size, uint64_t off);

/*
 * The current extent of dataset @p n (rank n->ndim), read through a
 * fresh handle (SWMR appends): 0 and dims[], storage; or -errno.
 */
int h5fs_backing_dims(struct h5fs_served *f, struct h5fs_node *n, uint64_t *dims, uint64_t *storage);

/*
 * backing.c, write side: hold the file read-write (libhdf5's exclusive
 * lock, retried for lock_timeout), no read in flight; 0 or an errno.
 * @p op and @p path (HDF5's) name what it is for in the log line of a
 * failure.
 */
int h5fs_backing_begin_write(struct h5fs_served *f, int64_t *fid, const char *op, const char *path);
/* Close the file at once; @p changed: the file was written, drop cached chunks. */
void h5fs_backing_end_write(struct h5fs_served *f, int changed);
/* End the hold but keep the file open (the early sink's writes); closed when idle. */
void h5fs_backing_end_write_keep(struct h5fs_served *f);
/* Close the HDF5 file now (the MPI helper needs it); with begin_write held. */
void h5fs_backing_close_now(struct h5fs_served *f);
/* Whether the daemon holds the file read-write (checked without locks: a hint). */
int h5fs_backing_is_writing(struct h5fs_served *f);
/* No read in flight and the file closed, until resume (re-indexing). */
void h5fs_backing_suspend(struct h5fs_served *f);
void h5fs_backing_resume(struct h5fs_served *f);
/* Drop node @p n's cached dataset state (with begin_write held). */
void h5fs_backing_forget_node(struct h5fs_served *f, struct h5fs_node *n);


/* tree.c: the mutable index of read-write mounts */
int h5fs_tree_init(struct h5fs_served *f);
void h5fs_tree_release(struct h5fs_served *f);
void h5fs_tree_wrlock(struct h5fs_served *f);
void h5fs_tree_unlock(struct h5fs_served *f);
struct h5fs_node *h5fs_tree_new_node(struct h5fs_served *f, uint8_t kind, struct h5fs_node *parent,
				     const char *name);
int h5fs_tree_add_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name, struct h5fs_node *n);
/* Remove @p name from @p dir; the node it named, or NULL. */
struct h5fs_node *h5fs_tree_del_entry(struct h5fs_served *f, struct h5fs_node *dir, const char *name);
/* Give @p n (and what lies below it) the path @p path. */
int h5fs_tree_set_path(struct h5fs_served *f, struct h5fs_node *n, const char *path);
char *h5fs_tree_join(const char *dir, const char *name);
/* Refill dataset / group node @p n from the open object at its path. */
int h5fs_tree_describe(struct h5fs_served *f, int64_t fid, struct h5fs_node *n);
/* Reload attribute @p aname of @p n from the open object @p oid (gone: dropped). */
int h5fs_tree_load_attr(struct h5fs_node *n, int64_t oid, const char *aname);
int h5fs_tree_load_attrs(struct h5fs_node *n, int64_t oid);
/* Node @p n's attribute @p aname: its slot, or n->nattrs when it has none. */
uint32_t h5fs_tree_attr_find(const struct h5fs_node *n, const char *aname);
/* Remove attribute slot @p i; add an empty one named @p aname at the end (0 or ENOMEM). */
void h5fs_tree_attr_drop(struct h5fs_node *n, uint32_t i);
int h5fs_tree_attr_add(struct h5fs_node *n, const char *aname);
/* Merge a new index of the file into ours (tree lock held exclusively); it stays the caller's. */
int h5fs_tree_merge(struct h5fs_served *f, struct h5fs_index *nx);
/* A name a link may have: 0 or an errno (logged). */
int h5fs_tree_check_name(struct h5fs_served *f, const char *op, const char *name);

/* links.c: every link's readlink text, computed once after indexing (again after a merge) */
int h5fs_links_init(struct h5fs_served *f);
/* links.c: (re)compute a link node's readlink text */
int h5fs_links_text(struct h5fs_served *f, struct h5fs_node *n);

/* follow.c: following the file on read-write mounts */
int h5fs_follow_init(struct h5fs_served *f, const h5fs_live_mark *at, const h5fs_live_holder *held);
/* Stop the follower thread (before the backing goes); release frees the rest. */
void h5fs_follow_stop(struct h5fs_served *f);
void h5fs_follow_release(struct h5fs_served *f);
/* Before a request: re-index (or refresh SWMR extents) when the file changed; 0 or an errno. */
int h5fs_follow_fresh(struct h5fs_served *f);
/* The file changed in a way the tree does not show: the next request re-indexes. */
void h5fs_follow_mark_stale(struct h5fs_served *f);
/*
 * A change of the daemon's own outside a write hold (the early sink's
 * descriptor closing): own_begin says whether the tree shows the file
 * now; own_end, given that, takes the file as changed by us alone.
 */
int h5fs_follow_own_begin(struct h5fs_served *f);
void h5fs_follow_own_end(struct h5fs_served *f, int token);

#endif
