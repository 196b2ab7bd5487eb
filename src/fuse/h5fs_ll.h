/*
 * The h5fs daemon: shared declarations of src/fuse/.
 *
 * Layout (squashfuse's split, STYLE_ANCHORS rec. 12; the FUSE-free
 * engine beneath, the indexer included, is src/engine/, engine.h):
 *   main.c      argv, lifecycle (goto ladder), session loop
 *   opts.c      the fuse_opt table, help, value checks
 *   inode.c     the node table: inode numbers, lookup counts, stat
 *   inval.c     the mount's notifier: the kernel told to forget entries
 *   rwops.c     the ops table of read-write mounts (the tree lock)
 *   ops_dir.c   lookup, opendir, readdir(plus), releasedir
 *   ops_file.c  getattr, open, read, readlink, release, statfs
 *   ops_xattr.c listxattr, getxattr, setxattr, removexattr
 *   ops_ns.c    create, mkdir, unlink, rmdir, rename, symlink, link
 *   ops_write.c write, flush, fsync, commits; ops_pour.c: mv/sed -i
 *   handoff.c   the MPI helper's part of a commit
 *   opens.c     who else has the file open (fdinfo)
 *   notify.c    READY=1 to $NOTIFY_SOCKET
 *
 * Invariants:
 *  - The index is built once, before the mount, by a child process.  The
 *    daemon answers every metadata request (lookup, getattr, readdir,
 *    xattrs, readlink) from it without calling HDF5.  Only data reads
 *    that are not served by pread() enter HDF5, under h5fs_hdf5_lock().
 *  - Nodes are never freed while the mount lives; a node's index in the
 *    table plus one is its inode number (the root is node 0, ino 1).
 *  - A node flagged H5FS_NF_BAD or H5FS_NF_DATA_BAD is never touched by
 *    HDF5 in the daemon: its probe crashed, hung or failed in the child.
 */
#ifndef H5FS_FUSE_LL_H
#define H5FS_FUSE_LL_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "h5fs.h"
#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/live.h"
#include "h5fs/sys/reader.h"
#include "h5fs/sys/stage.h"
#include "engine/engine.h"
#include "engine/served.h"

/* ---- options -------------------------------------------------------- */

struct h5fs_ll_opts {
	char *source;		/* SOURCE as given */
	char *source_abs;	/* realpath of SOURCE */
	char *mountpoint;
	int ro;			/* 1: -o ro; 0: rw asked or allowed */
	int rw_asked;
	int uid_set, gid_set;
	unsigned int uid, gid;
	char *umask_str;
	mode_t umask;
	int umask_set;
	char *view_str;
	int view;
	char *chunk_cache_str;
	size_t chunk_cache;
	double idle_close;
	double lock_timeout;
	double index_timeout;	/* seconds without progress before the
				   indexer child counts as hung */
	int follow_external;
	int direct_io;		/* reads bypass the kernel's page cache */
	char *mpi_threshold, *mpi_np, *mpiexec, *mpi_args, *staging_dir;
	uint64_t mpi_threshold_bytes;	/* parsed; UINT64_MAX for off */
	char *log;
	int foreground, debug, singlethread;
	unsigned int max_threads;
	int show_help, show_version;
	char *unknown;		/* unknown options, comma-separated */
	struct h5fs_index_opts index;	/* what the indexer is told (set in main()) */
	struct h5fs_served_opts served;	/* what a served file is told (set in main()) */
};

/* Parse everything; on failure print one line and return an exit code. */
int h5fs_ll_opts_parse(struct h5fs_ll_opts *o, struct fuse_args *args,
		       struct fuse_cmdline_opts *cl);
void h5fs_ll_opts_release(struct h5fs_ll_opts *o);
void h5fs_ll_usage(const char *prog);

/* ---- notify --------------------------------------------------------- */

/* Send @p msg to $NOTIFY_SOCKET when set; 0 when unset or sent. */
int h5fs_notify(const char *msg);


/* ---- the daemon ----------------------------------------------------- */

struct h5fs_ll {
	struct h5fs_ll_opts *opts;
	struct h5fs_served *file;	/* the one served file (engine/served.h) */
	struct fuse_session *se;
	uid_t uid;
	gid_t gid;
	mode_t fmode, dmode;	/* permission bits of files, directories */
	double timeout;		/* entry/attr timeout */
	atomic_uint_fast64_t nforgets;
	char *mnt_dev;		/* the mount's device "MAJOR:MINOR" (set at INIT), or NULL */
	void *inval;		/* inval.c: the notifier */
};

static inline struct h5fs_ll *h5fs_ll_data(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* inode.c */
int h5fs_ll_node(struct h5fs_ll *ll, fuse_ino_t ino, struct h5fs_node **out);
fuse_ino_t h5fs_ll_ino(const struct h5fs_ll *ll, const struct h5fs_node *n);
void h5fs_ll_stat(const struct h5fs_ll *ll, const struct h5fs_node *n, struct stat *st);
void h5fs_ll_entry(struct h5fs_ll *ll, struct h5fs_node *n, struct fuse_entry_param *e);
void h5fs_ll_forget_one(struct h5fs_ll *ll, fuse_ino_t ino, uint64_t nlookup);
uint64_t h5fs_ll_node_size(const struct h5fs_ll *ll, const struct h5fs_node *n);


/* inval.c: ask the kernel, from the mount's notifier thread, to forget an entry or an inode's data */
int h5fs_inval_init(struct h5fs_ll *ll);
void h5fs_inval_release(struct h5fs_ll *ll);
void h5fs_tree_inval_entry(struct h5fs_ll *ll, struct h5fs_node *dir, const char *name);
void h5fs_tree_inval_inode(struct h5fs_ll *ll, struct h5fs_node *n);
/*
 * Notes queued so far (a count); wait, at most @p max_s seconds, until
 * the first @p upto of them were told to the kernel: so a close or fsync
 * that renamed or replaced something returns after the kernel forgot the
 * old names.  Never with the tree lock held (a request that holds the
 * directory's lock in the kernel may wait for it).
 */
uint64_t h5fs_inval_queued(struct h5fs_ll *ll);
void h5fs_inval_drain(struct h5fs_ll *ll, uint64_t upto, double max_s);

/* rwops.c: the ops table of read-write mounts: each request shows the file's changes first, under the tree lock */
const struct fuse_lowlevel_ops *h5fs_rw_ops(const struct fuse_lowlevel_ops *base);

/*
 * handoff.c: the MPI path of a commit, with begin_write held.  1 when it
 * does not apply (smaller than mpi_threshold, nothing to do, the helper
 * cannot run): the caller
 * commits in-process; else 0 or an h5fs error code.  @p ci gets the plan.
 */
int h5fs_handoff_commit(struct h5fs_ll *ll, struct h5fs_node *n, const char *cpath, h5fs_stage *st,
			const h5fs_commit_options *co, int64_t fid, h5fs_commit_info *ci, h5fs_stage_base_fn base,
			void *payload);

/* ops_write.c */

/* what h5fs_write_commit() did besides committing */
#define DONE_PREP_USED 1u	/* the early start's dataset was moved into place */
#define DONE_NPY_NAMED 2u	/* NAME.npy became dataset NAME */

/* The node whose committed bytes h5fs_write_base_read() reads. */
struct h5fs_basectx {
	struct h5fs_ll *ll;
	struct h5fs_node *n;
};

/* h5fs_stage_base_fn over a node's committed bytes (payload: struct h5fs_basectx) */
int h5fs_write_base_read(void *buf, size_t len, uint64_t off, void *payload);
/* A stage over @p base bytes in the mount's staging folder: 0 or an errno. */
int h5fs_write_new_stage(struct h5fs_ll *ll, uint64_t base, h5fs_stage **out);
/*
 * Commit @p st to node @p n, with the tree lock held exclusively.
 * @p create: the node is new (or being reinterpreted); *created set on
 * success.  @p cpath: the path the commit is made for (NULL: the
 * node's).  @p prep: the hidden dataset of an early start (or NULL).
 * @p done (may be NULL) gets DONE_* bits.  @p undo (may be NULL): the
 * open file's way back; this commit is recorded in it when @p record,
 * and after a refusal what it holds is taken back in the same hold of
 * the file.  @p earlier: the same open file committed before, and that
 * is taken back after a refusal (1) or stays (2); the log line of a
 * refusal says which.  Returns an errno.
 */
int h5fs_write_commit(struct h5fs_ll *ll, struct h5fs_node *n, const char *cpath, h5fs_stage *st, int create,
		      int *created, const char *prep, unsigned *done, h5fs_commit_undo *undo, int record,
		      int earlier);

/* ops_pour.c: bytes of one dataset poured into another (or itself, anew) */
/*
 * user.h5.dtype / user.h5.shape set on a dataset being created, or on
 * one the mount made as plain bytes (rewritten with them): 0 or an errno.
 */
int h5fs_write_declare(struct h5fs_ll *ll, struct h5fs_node *n, const char *key, const char *value, size_t len);
/*
 * rename of @p from, a dataset the mount made as plain bytes, over the
 * dataset @p into: @p from's bytes go into @p into as `cat from > into`
 * would; 0 or an errno (EINVAL: they do not fit; nothing changed; the
 * rename says EOPNOTSUPP then, since mv takes EINVAL for "into itself").
 */
int h5fs_write_pour(struct h5fs_ll *ll, struct h5fs_node *from, struct h5fs_node *into);

void h5fs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi);
void h5fs_ll_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off, struct fuse_file_info *fi);
void h5fs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h5fs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
/* open for writing (ops_file.c calls it): 0 or an errno */
int h5fs_write_open(struct h5fs_ll *ll, struct h5fs_node *n, struct fuse_file_info *fi);
/* release of a file opened for writing: commit what is left, free */
int h5fs_write_release(struct h5fs_ll *ll, struct fuse_file_info *fi);
/* read through a file open for writing: the staged image */
int h5fs_write_read(struct h5fs_ll *ll, struct fuse_file_info *fi, size_t size, uint64_t off, char **mem, size_t *mlen);
/* truncate a dataset with no open file (commit at once) */
int h5fs_write_truncate(struct h5fs_ll *ll, struct h5fs_node *n, uint64_t size, struct fuse_file_info *fi);
/* set (@p value) or remove (NULL) attribute @p aname of a node not yet in the file */
int h5fs_write_pending_attr(struct h5fs_ll *ll, struct h5fs_node *n, const char *aname, const char *value,
			    size_t len, unsigned int aflags);
/*
 * opens.c: whether process @p pid still has another descriptor on node
 * @p n of the mount (1; also when that cannot be told) or not (0).
 */
int h5fs_ll_open_elsewhere(struct h5fs_ll *ll, pid_t pid, const struct h5fs_node *n);

/* An open file (ops_file.c, ops_write.c). */
struct h5fs_open {
	struct h5fs_node *node;
	int flags;
	/* writers */
	int writer;
	void *st;		/* h5fs_stage */
	int create;		/* the node was new: commits create the dataset */
	int created;		/* a create commit succeeded */
	int dirty;		/* changed since the last commit */
	char *prep;		/* the hidden dataset the stage's sink writes into (ops_write.c) */
	int early_done;		/* a create: the early start was tried (or does not apply) */
	int npy_named;		/* a create commit named the dataset NAME for NAME.npy */
	int sinked;		/* the stage had a sink: its descriptor writes to the HDF5 file */
	int wrote;		/* bytes written since the last commit (not just a truncation) */
	int committed;		/* a commit of it succeeded */
	void *undo;		/* h5fs_commit_undo of its flush commits, until release or fsync */
	int failed;		/* a commit was refused (errno): later writes and commits give EIO */
};

/* Whether @p fi is a file open for writing (rwops.c, ops_file.c, ops_write.c). */
static inline int h5fs_write_is_writer(const struct fuse_file_info *fi)
{
	const struct h5fs_open *of = (const struct h5fs_open *)(uintptr_t)fi->fh;

	return of && of->writer;
}

/* ops */
void h5fs_ll_init(void *userdata, struct fuse_conn_info *conn);
void h5fs_ll_destroy(void *userdata);
void h5fs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void h5fs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void h5fs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void h5fs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h5fs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void h5fs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void h5fs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h5fs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h5fs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h5fs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void h5fs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h5fs_ll_readlink(fuse_req_t req, fuse_ino_t ino);
void h5fs_ll_statfs(fuse_req_t req, fuse_ino_t ino);
void h5fs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi);
void h5fs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi);
void h5fs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void h5fs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void h5fs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void h5fs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void h5fs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void h5fs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags);
void h5fs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void h5fs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void h5fs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void h5fs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags);
void h5fs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
