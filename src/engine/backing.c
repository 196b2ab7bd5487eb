/*
 * The daemon's own HDF5 access: the slow data path, and the write side's
 * hold on the file.
 *
 * Contiguous unfiltered datasets never come here (ops_file.c replies
 * from the file descriptor).  Everything else is read here, through a
 * read handle that never takes the OS lock (h5fs/sys/live.h), so that a
 * simulation opening the file for writing never fails because of the
 * mount (DESIGN.md section 5).  What keeps such reads safe:
 *
 *  - the handle is opened only while no other process holds the file for
 *    writing (h5fs_live_holder_get(): /proc/locks, the superblock's
 *    flags); a request that finds a writer waits with back-off up to
 *    lock_timeout, then fails with EAGAIN and one log line;
 *  - the handle remembers the file's mark (stamp and inotify count) at
 *    its open; before and after every read that used it the mark is
 *    taken again, and a read during which the file changed is thrown
 *    away: the handle is dropped (with its dataset states and the cached
 *    chunks) and the read is made again, once the writer is gone, from
 *    the file's new state.  So a range comes wholly from one state;
 *  - a file in SWMR write mode is opened with H5F_ACC_SWMR_READ, and its
 *    handle stays good while the same writer appends (libhdf5 makes that
 *    safe); the cached chunks are dropped whenever it moved.
 *
 * The read handle is closed idle_close seconds after the last read
 * (default 0.05 s; opts.c says why).  Writes (begin_write) open the file
 * read-write with libhdf5's own exclusive lock, retried for lock_timeout,
 * and close it as soon as the operation ends (end_write), so h5py and
 * the simulation can open the file at once afterwards; only the early
 * sink of a large copy keeps it (end_write_keep) between its writes.
 *
 * Each dataset gets a state (open dataset id, type, dataspace, the
 * library's reader) on first read; all of it is dropped when the handle
 * closes.
 *
 * Locks, in order: users (a writer-preferring rwlock: every read holds it
 * shared for its duration; the idle closer takes it exclusive with
 * trywrlock, so it never waits behind a read; the write side, dropping a
 * stale handle and re-indexing take it exclusive), then the HDF5 lock
 * (h5fs_hdf5_lock, a recursive mutex around every HDF5 call).  A thread
 * that holds users exclusively (a commit reading the old bytes) reads
 * without taking it again.  Open state (fid, dataset states) is changed
 * only with the HDF5 lock held, and closed only with users exclusive.
 *
 * A byte range maps to the element range [e0, e1) in C order; that
 * range is selected as at most 2 * rank - 1 hyperslabs
 * (h5fs_select_linear) and read with the file's own type as memory type,
 * which yields the stored byte image (byte order included).  Only the
 * elements the request covers are read; partial elements at either end
 * go through a buffer of at most size + 2 * esize bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/live.h"
#include "h5fs/sys/reader.h"
#include "served.h"
#include "ext.h"
#include "backing.h"

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- HDF5 errors ------------------------------------------------------ */

static herr_t lock_cb(unsigned n, const H5E_error2_t *e, void *payload)
{
	(void)n;
	if (e->min_num == H5E_CANTLOCKFILE || e->min_num == H5E_CANTLOCK)
		*(int *)payload = 1;
	return 0;
}

/* ---- the users lock ----------------------------------------------------- */

static int held_by_me(struct backing *b)
{
	return atomic_load(&b->excl) && pthread_equal(b->excl_owner, pthread_self());
}

/* Shared, unless this thread holds it exclusively: 1 when taken. */
static int users_rdlock(struct backing *b)
{
	if (held_by_me(b))
		return 0;
	pthread_rwlock_rdlock(&b->users);
	return 1;
}

static void users_unlock(struct backing *b, int taken)
{
	if (taken)
		pthread_rwlock_unlock(&b->users);
}

static void users_wrlock(struct backing *b)
{
	pthread_rwlock_wrlock(&b->users);
	b->excl_owner = pthread_self();
	atomic_store(&b->excl, 1);
}

static int users_trywrlock(struct backing *b)
{
	if (pthread_rwlock_trywrlock(&b->users) != 0)
		return -1;
	b->excl_owner = pthread_self();
	atomic_store(&b->excl, 1);
	return 0;
}

static void users_wrunlock(struct backing *b)
{
	atomic_store(&b->excl, 0);
	pthread_rwlock_unlock(&b->users);
}

/* ---- the handle ---------------------------------------------------------- */

static void drop_dstate(struct h5fs_node *n)
{
	struct dstate *s = n->rd;

	h5fs_reader_free(s->rd);
	if (s->mstr >= 0)
		H5Tclose(s->mstr);
	H5Sclose(s->fspace);
	H5Tclose(s->ftype);
	H5Dclose(s->did);
	free(s);
	n->rd = NULL;
}

/* With the HDF5 lock held and no reader inside: drop the dataset states. */
static void close_dsets(struct backing *b)
{
	for (size_t i = 0; i < b->nopen; i++)
		drop_dstate(b->open[i]);
	b->nopen = 0;
}

/*
 * With the HDF5 lock held and no reader inside: close everything.
 * @p changed: the file changed (by us or another program), so the cached
 * chunks go too.
 */
static void close_all(struct backing *b, int changed)
{
	struct h5fs_served *f = b->f;

	close_dsets(b);
	for (uint32_t k = 0; k < b->nxfids; k++) {
		if (b->xfids[k] >= 0 && H5Fclose(b->xfids[k]) < 0)
			h5fs_log_hdf5(H5FS_LOG_WARN, "cannot close", h5fs_ext_path(&b->f->ext, k));
		b->xfids[k] = -1;
	}
	atomic_store(&b->nxopen, 0);
	if (changed)
		h5fs_chunk_cache_clear(b->cache);
	if (b->fid >= 0) {
		int rw = atomic_load(&b->fid_rw);

		if (H5Fclose(b->fid) < 0)
			h5fs_log_hdf5(H5FS_LOG_WARN, "cannot close", f->path);
		b->fid = -1;
		atomic_store(&b->is_open, 0);
		atomic_store(&b->fid_rw, 0);
		atomic_fetch_add(&b->gen, 1);
		/* what we leave after writing is what the next request compares with */
		if (rw && f->write_closed)
			f->write_closed(f);
		h5fs_log(H5FS_LOG_DEBUG, "closed '%s'%s", f->path, rw ? " (written)" : "");
	}
}

/*
 * Whether the open handle still shows the file as it is: a read-write
 * handle always (we hold the OS lock); a read handle while the file's
 * mark has not moved since the open.  A SWMR handle after a read
 * (@p after): while the same file is still there, whatever the writer
 * appended meanwhile (libhdf5 keeps SWMR reads consistent); before a
 * read it must not have moved either, so that the handle, reopened,
 * shows the appends.
 */
static int handle_fresh(struct backing *b, int after)
{
	h5fs_live_mark now;

	if (atomic_load(&b->fid_rw))
		return 1;
	if (h5fs_live_mark_get(&now, b->f->watch, b->f->path) < 0)
		return 0;	/* gone or replaced: reopen, which says why */
	return h5fs_live_mark_same(&now, &b->open_mark, after && b->open_holder.state == H5FS_LIVE_SWMR);
}

/*
 * With the HDF5 lock held: open the read handle, without the OS lock.
 * 0; -EBUSY when another program holds the file for writing (or it
 * changed while we opened it): wait and try again; -EIO.
 */
static int open_read(struct backing *b)
{
	struct h5fs_served *f = b->f;
	const char *path = f->path;
	h5fs_live_mark m0, m1;
	h5fs_live_holder h;
	hid_t fid;
	int rc;

	if ((rc = h5fs_live_mark_get(&m0, f->watch, path)) < 0) {
		h5fs_log(H5FS_LOG_WARN, "%s", h5fs_error_last()->message);
		return -EIO;
	}
	if (b->have_quiet && h5fs_live_mark_equal(&m0, &b->quiet)) {
		/* unchanged since nobody held it: a writer that came since wrote nothing yet */
		h = b->quiet_holder;
	} else if ((rc = h5fs_live_holder_get(&h, path)) < 0) {
		h5fs_log(H5FS_LOG_WARN, "%s", h5fs_error_last()->message);
		return -EIO;
	}
	if (h.state == H5FS_LIVE_WRITER)
		return -EBUSY;
	/* replaced by another file: data at the tree's offsets comes from f->fd, the old one */
	if (!h5fs_live_stamp_is_fd(&m0.stamp, f->fd))
		return -EXDEV;
	b->quiet = m0;
	b->quiet_holder = h;
	b->have_quiet = 1;
	rc = h5fs_live_open(&fid, path, &h);
	if (rc == H5FS_ELOCKED)
		return -EBUSY;
	if (rc < 0) {
		/* a writer that came between the look and the open leaves the file changed: try again */
		if (h5fs_live_mark_get(&m1, f->watch, path) == 0 && !h5fs_live_mark_same(&m0, &m1, 0)) {
			b->have_quiet = 0;
			return -EBUSY;
		}
		h5fs_log(H5FS_LOG_WARN, "%s", h5fs_error_last()->message);
		return -EIO;
	}
	if (h5fs_live_mark_get(&m1, f->watch, path) < 0 || !h5fs_live_mark_same(&m0, &m1, h.state == H5FS_LIVE_SWMR)) {
		H5Fclose(fid);
		return -EBUSY;	/* written while we opened it */
	}
	if (f->o->ro && !b->warned_changed && !h5fs_live_stamp_is(&m0.stamp, &f->st, 1)) {
		h5fs_log(H5FS_LOG_WARN, "'%s' changed since it was mounted; remount to see the changes", path);
		b->warned_changed = 1;
	}
	if (!h5fs_live_mark_equal(&m0, &b->cache_mark)) {
		h5fs_chunk_cache_clear(b->cache);
		b->cache_mark = m0;
	}
	b->fid = fid;
	b->open_mark = m0;
	b->open_holder = h;
	atomic_store(&b->fid_rw, 0);
	atomic_store(&b->is_open, 1);
	h5fs_log(H5FS_LOG_DEBUG, "opened '%s' to read%s", path, h.state == H5FS_LIVE_SWMR ? " (SWMR)" : "");
	return 0;
}

/*
 * With users held exclusively and the HDF5 lock: open the file
 * read-write, with libhdf5's exclusive OS lock, retrying a lock held by
 * another program for lock_timeout seconds.  0 or -errno.
 */
static int open_rw(struct backing *b, const char *op, const char *opath)
{
	struct h5fs_served *f = b->f;
	const char *path = f->path;
	h5fs_live_backoff bo;

	h5fs_live_backoff_start(&bo, f->o->lock_timeout, 0.1);
	if (b->fid >= 0 && atomic_load(&b->fid_rw))
		return 0;
	if (b->fid >= 0)
		close_all(b, 0);
	for (;;) {
		h5fs_live_holder h;
		int locked = 0, more;
		hid_t fid;

		/* before the open: libhdf5's read-write open itself writes to the file */
		if (f->write_opening)
			f->write_opening(f);
		fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
		if (fid >= 0) {
			b->fid = fid;
			atomic_store(&b->fid_rw, 1);
			atomic_store(&b->is_open, 1);
			return 0;
		}
		H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, lock_cb, &locked);
		/* a version 3 superblock says "open for writing" (maybe SWMR) */
		if (!locked && h5fs_live_holder_get(&h, path) == 0 && h.state != H5FS_LIVE_FREE)
			locked = 1;
		if (!locked) {
			h5fs_log_hdf5(H5FS_LOG_WARN, "cannot open", path);
			return -EIO;
		}
		H5Eclear2(H5E_DEFAULT);
		/* let other threads use HDF5 while we wait (users stays ours) */
		h5fs_hdf5_unlock();
		more = h5fs_live_backoff_next(&bo);
		h5fs_hdf5_lock();
		if (!more) {
			/* who: a process, or only the superblock's flags (a writer that died) */
			if (h5fs_live_holder_get(&h, path) == 0 && h.state != H5FS_LIVE_FREE && !h.pid && h.sb_flags > 0)
				h5fs_log(H5FS_LOG_WARN, "%s '%s': '%s' is flagged open for writing in its superblock, but "
					 "no process holds it here (a writer that died? 'h5clear -s' clears the flags): "
					 "gave up after %.1f s (EAGAIN)", op, opath, path, f->o->lock_timeout);
			else
				h5fs_log(H5FS_LOG_WARN, "%s '%s': '%s' is locked by another program: gave up after "
					 "%.1f s (EAGAIN)", op, opath, path, f->o->lock_timeout);
			return -EAGAIN;
		}
	}
}

/* With the HDF5 lock held: the handle to read with, opened or checked. */
static int ensure_open(struct backing *b)
{
	if (b->fid >= 0)
		return handle_fresh(b, 0) ? 0 : -ESTALE;
	return open_read(b);
}

/* With the HDF5 lock held: the HDF5 file of node @p n (SOURCE or external). */
static int node_fid(struct backing *b, struct h5fs_node *n, hid_t *fid)
{
	uint32_t k = h5fs_ext_file_of(n);
	int rc;

	if (!k) {
		if ((rc = ensure_open(b)) < 0)
			return rc;
		*fid = b->fid;
		return 0;
	}
	if (k >= b->nxfids) {
		hid_t *nf = realloc(b->xfids, (size_t)(k + 1) * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		for (uint32_t i = b->nxfids; i <= k; i++)
			nf[i] = -1;
		b->xfids = nf;
		b->nxfids = k + 1;
	}
	if (b->xfids[k] < 0 && h5fs_ext_path(&b->f->ext, k)) {
		/* read-only mounts only, never re-read: opened without the OS lock too */
		if (h5fs_live_open(&b->xfids[k], h5fs_ext_path(&b->f->ext, k), NULL) < 0) {
			h5fs_log(H5FS_LOG_WARN, "cannot open external file: %s", h5fs_error_last()->message);
			b->xfids[k] = -1;
			return -EIO;
		}
		atomic_fetch_add(&b->nxopen, 1);
	}
	if (b->xfids[k] < 0) {
		h5fs_log(H5FS_LOG_WARN, "dataset '%s': its external file is not open", n->path);
		return -EIO;
	}
	*fid = b->xfids[k];
	return 0;
}

/* The type a dataset's image is read in: n-bit integers widened. */
static hid_t dset_image_type(hid_t did)
{
	hid_t ft = H5Dget_type(did), wt;

	if (ft < 0 || h5fs_dtype_widened(&wt, ft) <= 0)
		return ft;
	H5Tclose(ft);
	return wt;
}

/*
 * Whether the open dataset can still serve what node @p n describes: the
 * same rank and element size, and along every axis at least the node's
 * extent (a dataset that grew, as a simulation's time series or a SWMR
 * writer's arrays do, serves the elements the node shows: reads select
 * them by the node's own dimensions).
 */
static int same_shape(const struct h5fs_node *n, const struct dstate *s)
{
	hsize_t d[H5S_MAX_RANK];
	int nd = H5Sget_simple_extent_ndims(s->fspace);
	hid_t ft = H5Dget_type(s->did);	/* s->ftype may be widened: the node has the file's size */
	size_t es = ft >= 0 ? H5Tget_size(ft) : 0;

	if (ft >= 0)
		H5Tclose(ft);
	if (es != n->esize)
		return 0;
	if (n->ndim <= 0)	/* scalar (0) or null (-1): both have rank 0 */
		return nd == 0 && (H5Sget_simple_extent_type(s->fspace) == H5S_NULL) == (n->ndim < 0);
	if (nd != n->ndim || H5Sget_simple_extent_dims(s->fspace, d, NULL) != nd)
		return 0;
	for (int i = 0; i < nd; i++)
		if (d[i] < n->dims[i])
			return 0;
	return 1;
}

static void drop_state(struct dstate *s)
{
	H5Sclose(s->fspace);
	H5Tclose(s->ftype);
	H5Dclose(s->did);
	free(s);
}

/* With the HDF5 lock held. */
static int ensure_dset(struct backing *b, struct h5fs_node *n, struct dstate **out)
{
	struct dstate *s = n->rd;
	hid_t dapl, fid;
	int rc;

	if ((rc = node_fid(b, n, &fid)) < 0)
		return rc;
	if (s) {
		*out = s;
		return 0;
	}
	if (b->nopen == b->capopen) {
		size_t nc = b->capopen ? b->capopen * 2 : 64;
		struct h5fs_node **no = realloc(b->open, nc * sizeof(*no));

		if (!no)
			return -ENOMEM;
		b->open = no;
		b->capopen = nc;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->did = s->ftype = s->fspace = s->mstr = -1;
	dapl = H5Pcreate(H5P_DATASET_ACCESS);
	if (dapl >= 0 && b->f->o->chunk_cache) {
		size_t per = b->f->o->chunk_cache / 4;

		if (per > ((size_t)64 << 20))
			per = (size_t)64 << 20;
		H5Pset_chunk_cache(dapl, 12421, per, 1.0);
	}
	s->did = H5Dopen2(fid, n->path, dapl >= 0 ? dapl : H5P_DEFAULT);
	if (dapl >= 0)
		H5Pclose(dapl);
	if (s->did < 0 || (s->ftype = dset_image_type(s->did)) < 0 || (s->fspace = H5Dget_space(s->did)) < 0) {
		h5fs_log_hdf5(H5FS_LOG_WARN, "cannot open dataset", n->path);
		if (s->ftype >= 0)
			H5Tclose(s->ftype);
		if (s->did >= 0)
			H5Dclose(s->did);
		free(s);
		return -EIO;
	}
	if (!same_shape(n, s)) {
		drop_state(s);
		return -EXDEV;
	}
	if (n->flags & H5FS_NF_VLSTR) {
		s->mstr = H5Tcopy(H5T_C_S1);
		H5Tset_size(s->mstr, H5T_VARIABLE);
		H5Tset_cset(s->mstr, H5Tget_cset(s->ftype));
	}
	n->rd = s;
	b->open[b->nopen++] = n;
	*out = s;
	return 0;
}

/* ---- idle close ------------------------------------------------------------ */

static void *idle_main(void *arg)
{
	struct backing *b = arg;

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		struct timespec ts;
		double wait = 0.25;

		/* wake when the open handle's idle time is up */
		if (atomic_load(&b->is_open) || atomic_load(&b->nxopen)) {
			double left = atomic_load(&b->last_use) + b->f->o->idle_close - mono_now();

			wait = left < 0.005 ? 0.005 : left < wait ? left : wait;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(wait * 1e9);
		while (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&b->cond, &b->mu, &ts);
		if (b->stop)
			break;
		pthread_mutex_unlock(&b->mu);
		if ((atomic_load(&b->is_open) || atomic_load(&b->nxopen)) &&
		    mono_now() - atomic_load(&b->last_use) >= b->f->o->idle_close && users_trywrlock(b) == 0) {
			h5fs_hdf5_lock();
			if ((b->fid >= 0 || atomic_load(&b->nxopen)) && mono_now() - atomic_load(&b->last_use) >= b->f->o->idle_close)
				close_all(b, 0);
			h5fs_hdf5_unlock();
			users_wrunlock(b);
		}
		pthread_mutex_lock(&b->mu);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

int h5fs_backing_init(struct h5fs_served *f)
{
	struct backing *b = calloc(1, sizeof(*b));
	pthread_rwlockattr_t ra;

	if (!b)
		return -ENOMEM;
	b->f = f;
	b->fid = -1;
	if (h5fs_chunk_cache_new(&b->cache, f->o->chunk_cache) < 0) {
		free(b);
		return -ENOMEM;
	}
	/* writer-preferring: dropping a stale handle must not starve behind reads */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&b->users, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cond, NULL);
	f->backing = b;
	return 0;
}

void h5fs_backing_quiet(struct h5fs_served *f, const h5fs_live_mark *m, const h5fs_live_holder *h)
{
	struct backing *b = f->backing;

	if (!b || h->state == H5FS_LIVE_WRITER)
		return;
	h5fs_hdf5_lock();
	b->quiet = *m;
	b->quiet_holder = *h;
	b->have_quiet = 1;
	h5fs_hdf5_unlock();
}

/* Started lazily: fuse_daemonize() forks, and threads do not survive it. */
static void start_idle_thread(struct backing *b)
{
	pthread_mutex_lock(&b->mu);
	if (!b->thread_started && !b->stop) {
		if (pthread_create(&b->idle_thread, NULL, idle_main, b) == 0)
			b->thread_started = 1;
		else
			h5fs_log(H5FS_LOG_WARN, "cannot start the idle-close thread; the file stays open");
	} else {
		pthread_cond_signal(&b->cond);	/* a new deadline */
	}
	pthread_mutex_unlock(&b->mu);
}

void h5fs_backing_shutdown(struct h5fs_served *f)
{
	struct backing *b = f->backing;

	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
	if (b->thread_started)
		pthread_join(b->idle_thread, NULL);
	users_wrlock(b);
	h5fs_hdf5_lock();
	close_all(b, 0);
	h5fs_hdf5_unlock();
	users_wrunlock(b);
	pthread_rwlock_destroy(&b->users);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cond);
	h5fs_chunk_cache_free(b->cache);
	free(b->open);
	free(b->xfids);
	free(b);
	f->backing = NULL;
}

/* ---- guarded reads ---------------------------------------------------------- */

/* With the HDF5 lock held: the dataset's state, its reader opened on first use. */
static int dset_for_read(struct backing *b, struct h5fs_node *n, struct dstate **sp)
{
	struct dstate *s = NULL;
	int rc = ensure_dset(b, n, &s);

	if (rc == 0 && !s->rd_tried) {
		/* the library's reader: chunk-at-a-time, decoded outside the lock */
		int fd = h5fs_ext_file_of(n) ? h5fs_ext_fd(&b->f->ext, h5fs_ext_file_of(n)) : b->f->fd;
		int orc = fd < 0 ? H5FS_ENOTSUPPORTED : h5fs_reader_open(&s->rd, s->did, fd, b->cache);

		s->rd_tried = 1;
		if (orc == H5FS_ECORRUPT) {
			h5fs_log(H5FS_LOG_WARN, "read '%s': refused: %s", n->path, h5fs_error_last()->message);
			s->corrupt = 1;
		} else if (orc < 0) {
			h5fs_log(H5FS_LOG_DEBUG, "dataset '%s': no reader (%s); using H5Dread", n->path,
				 fd < 0 ? "no descriptor" : h5fs_error_last()->message);
		}
		if (orc < 0)
			s->rd = NULL;
	}
	if (rc == 0 && s->corrupt)
		rc = -EIO;
	*sp = s;
	return rc;
}

/* With users held exclusively: drop the read handle of generation @p gen. */
static void drop_handle(struct backing *b, unsigned int gen)
{
	users_wrlock(b);
	h5fs_hdf5_lock();
	if (atomic_load(&b->gen) == gen && b->fid >= 0 && !atomic_load(&b->fid_rw))
		close_all(b, 1);
	h5fs_hdf5_unlock();
	users_wrunlock(b);
}

/*
 * One read of node @p n's data through libhdf5: @p fn runs with users
 * held shared, the HDF5 lock not held, and the dataset's state @p s; it
 * returns >= 0 or -errno.  The read handle is checked before and after
 * (see the top): a read during which the file changed is made again;
 * while another program holds the file for writing, the read waits for
 * it with back-off, for lock_timeout seconds at most, then fails with
 * EAGAIN and one log line.
 */
/*
 * One warning per read that gives up: the kernel's readahead sends a
 * file's reads several at a time and retries the one the reader asked
 * for, and each of them gives up on the same writer.
 */
static int gave_up_level(struct backing *b, const struct h5fs_node *n)
{
	double t = mono_now();
	h5fs_live_mark m;
	int quiet, have = h5fs_live_mark_get(&m, b->f->watch, b->f->path) == 0;

	pthread_mutex_lock(&b->mu);
	quiet = b->gave_up == n && t - b->gave_up_at < b->f->o->lock_timeout + 1.0;
	b->gave_up = n;
	b->gave_up_at = t;
	if (have)
		b->gave_up_mark = m;
	pthread_mutex_unlock(&b->mu);
	return quiet ? H5FS_LOG_DEBUG : H5FS_LOG_WARN;
}

/*
 * The kernel asks again at once for a page whose readahead failed: a
 * read of the node that just gave up, of the file as it was then, gives
 * up at once (within a second) instead of waiting lock_timeout again.
 */
static int just_gave_up(struct backing *b, const struct h5fs_node *n)
{
	h5fs_live_mark m;
	int same;

	if (h5fs_live_mark_get(&m, b->f->watch, b->f->path) < 0)
		return 0;
	pthread_mutex_lock(&b->mu);
	same = b->gave_up == n && mono_now() - b->gave_up_at < 1.0 && h5fs_live_mark_equal(&m, &b->gave_up_mark);
	pthread_mutex_unlock(&b->mu);
	return same;
}

/*
 * The file is no longer what node @p n was made from: replaced by another
 * file, or the dataset has another shape or type.  A read-only mount
 * keeps its tree (EIO, and a line saying to remount); on a read-write one
 * the follower shows the change at the next request (EAGAIN meanwhile).
 */
static ssize_t changed_under(struct backing *b, const struct h5fs_node *n)
{
	double t = mono_now();
	int level;

	pthread_mutex_lock(&b->mu);
	level = b->changed == n && t - b->changed_at < 1.0 ? H5FS_LOG_DEBUG : H5FS_LOG_WARN;
	b->changed = n;
	b->changed_at = t;
	pthread_mutex_unlock(&b->mu);
	if (b->f->o->ro) {
		h5fs_log(level, "read '%s': the file or the dataset changed since it was mounted; remount to "
			 "read it (EIO)", n->path);
		return -EIO;
	}
	h5fs_log(level, "read '%s': the dataset changed since the tree was made; the next request shows "
		 "it (EAGAIN)", n->path);
	return -EAGAIN;
}

ssize_t h5fs_backing_guarded(struct backing *b, struct h5fs_node *n, h5fs_attempt_fn fn, void *arg)
{
	const char *path = b->f->path;
	double t0 = mono_now(), limit = b->f->o->lock_timeout;
	useconds_t pause_us = 1000;
	ssize_t rc;

	start_idle_thread(b);
	if (just_gave_up(b, n)) {
		h5fs_log(H5FS_LOG_DEBUG, "read '%s': the file is still held: gave up at once (EAGAIN)", n->path);
		return -EAGAIN;
	}
	for (;;) {
		struct dstate *s = NULL;
		unsigned int gen;
		int taken = users_rdlock(b), used, stale;
		double left;

		h5fs_hdf5_lock();
		rc = dset_for_read(b, n, &s);
		/* SOURCE's handle is open and in use (an external file's is never checked) */
		used = rc == 0 && !h5fs_ext_file_of(n);
		gen = atomic_load(&b->gen);
		h5fs_hdf5_unlock();
		if (rc == 0)
			rc = fn(b, n, s, arg);
		stale = rc == -ESTALE || (used && !handle_fresh(b, 1));
		atomic_store(&b->last_use, mono_now());
		users_unlock(b, taken);
		if (rc == -EXDEV)
			return changed_under(b, n);
		if (!stale && rc != -EBUSY)
			return rc;
		if (!taken)
			return -EIO;	/* our own read-write handle cannot go stale */
		if (stale)
			drop_handle(b, gen);
		left = limit - (mono_now() - t0);
		if (rc == -EBUSY) {
			/* another program holds the file for writing: wait for it */
			h5fs_live_holder h;

			rc = h5fs_live_wait(&h, path, left > 0 ? left : 0);
			if (rc == H5FS_ELOCKED) {
				h5fs_log(gave_up_level(b, n), "read '%s': %s: gave up (EAGAIN)", n->path,
					 h5fs_error_last()->message);
				return -EAGAIN;
			}
			if (rc < 0) {
				h5fs_log(H5FS_LOG_WARN, "read '%s': %s", n->path, h5fs_error_last()->message);
				return -EIO;
			}
			/* a writer that comes and goes between our looks: no spinning, and not past
			 * lock_timeout (one more try after the wait that reached it) */
			if (left <= 0) {
				h5fs_log(gave_up_level(b, n), "read '%s': '%s' kept being opened for writing for "
					 "%.1f s: gave up (EAGAIN)", n->path, path, limit);
				return -EAGAIN;
			}
			usleep(pause_us);
			if (pause_us < 50000)
				pause_us *= 2;
		} else if (left <= 0) {
			h5fs_log(gave_up_level(b, n), "read '%s': '%s' kept changing for %.1f s: gave up (EAGAIN)",
				 n->path, path, limit);
			return -EAGAIN;
		} else if (rc != -ESTALE) {
			/* it changed during the read: again, once the reopen found no writer */
			usleep(pause_us);
			if (pause_us < 50000)
				pause_us *= 2;
		}
	}
}

/* ---- the write side (ops_write.c, ops_ns.c, ops_xattr.c, tree.c) ------ */

int h5fs_backing_begin_write(struct h5fs_served *f, int64_t *fid, const char *op, const char *path)
{
	struct backing *b = f->backing;
	int rc;

	start_idle_thread(b);
	users_wrlock(b);
	h5fs_hdf5_lock();
	rc = open_rw(b, op, path);
	if (rc < 0) {
		h5fs_hdf5_unlock();
		users_wrunlock(b);
		return -rc;
	}
	*fid = b->fid;
	return 0;
}

void h5fs_backing_end_write(struct h5fs_served *f, int changed)
{
	struct backing *b = f->backing;

	/* closed at once, so h5py and the simulation can open the file right after */
	close_all(b, changed);
	atomic_store(&b->last_use, mono_now());
	h5fs_hdf5_unlock();
	users_wrunlock(b);
}

void h5fs_backing_end_write_keep(struct h5fs_served *f)
{
	struct backing *b = f->backing;

	atomic_store(&b->last_use, mono_now());
	h5fs_hdf5_unlock();
	users_wrunlock(b);
}

void h5fs_backing_close_now(struct h5fs_served *f)
{
	close_all(f->backing, 1);
}

int h5fs_backing_is_writing(struct h5fs_served *f)
{
	struct backing *b = f->backing;

	return b ? atomic_load(&b->is_open) && atomic_load(&b->fid_rw) : 0;
}

void h5fs_backing_suspend(struct h5fs_served *f)
{
	struct backing *b = f->backing;

	users_wrlock(b);
	h5fs_hdf5_lock();
	close_all(b, 1);
	h5fs_hdf5_unlock();
}

void h5fs_backing_resume(struct h5fs_served *f)
{
	users_wrunlock(f->backing);
}

void h5fs_backing_forget_node(struct h5fs_served *f, struct h5fs_node *n)
{
	struct backing *b = f->backing;

	if (!n->rd)
		return;
	for (size_t i = 0; i < b->nopen; i++) {
		if (b->open[i] == n) {
			b->open[i] = b->open[--b->nopen];
			break;
		}
	}
	drop_dstate(n);
}
