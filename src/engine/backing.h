/*
 * The inside of backing.c, for the reads through libhdf5 (read.c): the
 * handle, the dataset states, and the guard every such read runs in.
 * Not for the rest of the daemon, which goes through served.h.
 */
#ifndef H5FS_ENGINE_BACKING_H
#define H5FS_ENGINE_BACKING_H

#include <pthread.h>
#include <stdatomic.h>

#include "h5fs/sys/live.h"
#include "h5fs/sys/reader.h"
#include "served.h"

struct dstate {
	hid_t did;
	hid_t ftype;
	hid_t fspace;
	hid_t mstr;		/* vlen string memory type */
	h5fs_reader *rd;	/* the library's reader, when it takes the dataset */
	int rd_tried;
	/*
	 * The reader found the layout inconsistent (a chunked scalar, a
	 * chunk rank that is not the dataspace's): libhdf5 misbehaves on
	 * such datasets in ways a probe cannot predict (it may loop
	 * allocating memory), so every read fails with EIO instead of
	 * falling back to H5Dread.
	 */
	int corrupt;
};

struct backing {
	pthread_rwlock_t users;
	pthread_t excl_owner;	/* holds users exclusively, when excl */
	atomic_int excl;
	pthread_mutex_t mu;	/* guards stop and the condition */
	pthread_cond_t cond;
	pthread_t idle_thread;
	int thread_started;
	int stop;
	hid_t fid;		/* under the HDF5 lock */
	_Atomic double last_use;
	struct h5fs_node **open;	/* nodes with a dstate */
	size_t nopen, capopen;
	int warned_changed;
	atomic_int is_open;	/* fid >= 0, readable without the HDF5 lock */
	atomic_int fid_rw;	/* fid was opened read-write (with the OS lock) */
	atomic_uint gen;	/* bumped by every close of fid */
	h5fs_live_mark open_mark;	/* the file when the read handle was opened */
	h5fs_live_holder open_holder;	/* ... and who wrote it then (SWMR or nobody) */
	h5fs_live_mark cache_mark;	/* the file the cached chunks come from */
	/*
	 * The file as it was when no other program held it for writing, and
	 * who wrote it then (nobody, or SWMR): while it is still so, an open
	 * does not look again (/proc/locks costs an RCU grace period, ~10 ms,
	 * and stalls every lock taken meanwhile on the machine).
	 */
	h5fs_live_mark quiet;
	h5fs_live_holder quiet_holder;
	int have_quiet;
	h5fs_chunk_cache *cache;	/* decoded chunks, shared by the readers */
	hid_t *xfids;		/* external files (-o follow_external), under the HDF5 lock */
	uint32_t nxfids;	/* the size of xfids */
	atomic_uint nxopen;	/* how many of them are open: the idle thread closes them */
	/* the last read that gave up (mu): its readahead siblings log quietly */
	const struct h5fs_node *gave_up;
	double gave_up_at;
	h5fs_live_mark gave_up_mark;	/* the file then */
	/* the last read that found its dataset changed under it (mu): the kernel's retry logs quietly */
	const struct h5fs_node *changed;
	double changed_at;
	struct h5fs_served *f;
};

/*
 * One read of node @p n's data through libhdf5 (see backing.c's top): @p fn
 * runs with users held shared, the HDF5 lock not held, and the dataset's
 * state @p s; it returns >= 0 or -errno, and so does the guard.
 */
typedef ssize_t (*h5fs_attempt_fn)(struct backing *b, struct h5fs_node *n, struct dstate *s, void *arg);
ssize_t h5fs_backing_guarded(struct backing *b, struct h5fs_node *n, h5fs_attempt_fn fn, void *arg);


#endif
