/*
 * Following the file on read-write mounts (DESIGN.md section 5): the tree
 * shows the file as it was at a mark (h5fs/sys/live.h: stamp and inotify
 * count), the baseline, taken when the tree was made and whenever the
 * daemon closes the file after writing it.
 *
 * A follower thread watches the file (inotify wakes it, else it looks
 * every FOLLOW_PERIOD) and shows its changes:
 *
 *  - while another program is writing the file (a write after its last
 *    close-after-write, or it holds the file's lock), the tree stays as it
 *    is: the index's answers never wait for that writer, and they are
 *    those of a state of the file from before it came;
 *  - once it is done, the forked indexer runs again from one state of the
 *    file (h5fs_index_build_live(); datasets the tree shows unchanged are
 *    not read again) with no lock of ours held, and its tree is merged
 *    into ours under the tree lock (tree.c); a re-index that the file
 *    changed under is thrown away and made again after the next change
 *    (a simulation's step wakes the follower as it closes the file, so
 *    the next index has the whole gap to the next step);
 *  - a file in SWMR write mode keeps its structure (the writer only
 *    appends to datasets), so only the extents of growable datasets are
 *    read again, at most every 0.1 s, through a fresh handle.
 *
 * Before every request (h5fs_follow_fresh(), from the ops table of
 * src/fuse/rwops.c) the file's mark is compared with the baseline; when
 * it moved and nobody is writing, the request pokes the follower and
 * waits for it at most REQUEST_WAIT, then takes the tree as it is.
 *
 * Who holds the file is looked up (h5fs_live_holder_get(), whose
 * /proc/locks is not cheap) only when the file changed, and not again
 * within 50 ms of seeing a writer.
 *
 * A write of ours moves the mark too: backing.c calls write_opening()
 * before it opens the file read-write (a change of another program's
 * since the baseline marks the tree stale, so our write does not hide
 * it) and write_closed() after it closed it (the new baseline).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5fs/sys/hdf5.h"
#include "h5fs/sys/live.h"
#include "served.h"

struct follow {
	pthread_mutex_t mu;
	h5fs_live_mark base;	/* the file as the tree shows it */
	int have_base;
	int base_swmr;		/* ... taken while a SWMR writer had it */
	int stale;		/* changed in a way the tree does not show */
	h5fs_live_mark failed;	/* a re-index of this state failed: not again until it changes */
	int have_failed;
	double swmr_at;		/* the last refresh of SWMR extents */
	double writer_at;	/* when another program was last seen writing it */
	int have_writer_seen;
	int indexing;		/* a re-index is under way */
	double failed_at;	/* when the last re-index was thrown away */
	double index_took;	/* how long the last one took */
	unsigned long rereads;	/* since the last info line about them */
	double reread_logged_at;
	/* the follower thread (mu) */
	pthread_t thr;
	int started, stop;
	pthread_cond_t done;	/* an attempt ended: gen moved */
	unsigned long gen;
	int poked;
	int busy;		/* in follow_step() */
	int wake_fd[2];		/* a byte wakes the follower from poll() */
};

/* How long a request waits for a re-index under way before it takes the tree as it is. */
#define REQUEST_WAIT 0.5
/* The follower looks at the file at least this often (no inotify, NFS). */
#define FOLLOW_PERIOD 0.25

/* While a writer was seen this recently, requests do not look again. */
#define WRITER_RECHECK 0.05
/* SWMR extents are read again at most this often. */
#define SWMR_RECHECK 0.1
/* After a re-index that was thrown away, the next no sooner than this (seconds). */
#define RETRY_AFTER(took) ((took) > 0.05 ? (took) : 0.05)

static struct follow *FS(struct h5fs_served *f)
{
	return f->follow_state;
}

static int refresh(struct h5fs_served *f);

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_base(struct h5fs_served *f, const h5fs_live_mark *m, int swmr)
{
	struct follow *t = FS(f);

	pthread_mutex_lock(&t->mu);
	t->base = *m;
	t->have_base = 1;
	t->base_swmr = swmr;
	t->stale = 0;
	t->have_failed = 0;
	pthread_mutex_unlock(&t->mu);
}

static void set_baseline(struct h5fs_served *f)
{
	struct follow *t = FS(f);
	h5fs_live_mark m;

	if (!t || h5fs_live_mark_get(&m, f->watch, f->path) < 0)
		return;
	pthread_mutex_lock(&t->mu);
	/* a change of another program's before our write: keep it visible */
	if (!t->stale) {
		t->base = m;
		t->have_base = 1;
	}
	pthread_mutex_unlock(&t->mu);
}

/* 1 when the file is not as the tree shows it; *now gets its mark. */
static int changed(struct h5fs_served *f, h5fs_live_mark *now)
{
	struct follow *t = FS(f);
	int ch;

	if (h5fs_live_mark_get(now, f->watch, f->path) < 0)
		return 0;	/* gone: keep serving what we have */
	pthread_mutex_lock(&t->mu);
	ch = t->have_base && (t->stale || !h5fs_live_mark_equal(now, &t->base));
	pthread_mutex_unlock(&t->mu);
	return ch;
}

void h5fs_follow_mark_stale(struct h5fs_served *f)
{
	struct follow *t = FS(f);

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stale = 1;
	pthread_mutex_unlock(&t->mu);
}

int h5fs_follow_own_begin(struct h5fs_served *f)
{
	h5fs_live_mark now;

	return FS(f) && !changed(f, &now);
}

void h5fs_follow_own_end(struct h5fs_served *f, int token)
{
	if (token)
		set_baseline(f);
}

static void write_opening(struct h5fs_served *f)
{
	struct follow *t = FS(f);
	h5fs_live_mark now;

	if (t && changed(f, &now))
		h5fs_follow_mark_stale(f);
}

/* The kernel must forget what it cached of @p n (the glue's callback, when set). */
static void inval_inode(struct h5fs_served *f, struct h5fs_node *n)
{
	if (f->inval_inode)
		f->inval_inode(f, n);
}

/* A growable dataset's extent that moved (swmr_refresh) */
struct moved {
	uint32_t node;
	uint64_t storage;
	uint64_t dims[H5S_MAX_RANK];
};

/* Whether node @p n is a chunked dataset whose extent a SWMR writer may move. */
static int may_grow(const struct h5fs_node *n)
{
	return n->kind == H5FS_NK_DATASET && !(n->flags & (H5FS_NF_DEAD | H5FS_NF_PENDING | H5FS_NF_BAD)) &&
	       n->meta[H5FS_M_CHUNKS] && strcmp(n->meta[H5FS_M_CHUNKS], "null") && n->ndim >= 1 &&
	       n->ndim <= H5S_MAX_RANK && !(n->flags & (H5FS_NF_VLSTR | H5FS_NF_NOIMAGE));
}

/* Show extent @p m on its node; with the tree lock held exclusively. */
static void apply_moved(struct h5fs_served *f, const struct moved *m)
{
	struct h5fs_node *n = &f->idx.nodes[m->node];
	uint64_t nelems = 1;
	char *shape, *st = NULL;

	if (!may_grow(n))
		return;		/* changed by a request since it was read */
	for (int d = 0; d < n->ndim; d++)
		nelems *= m->dims[d];
	shape = h5fs_index_json_dims(n->ndim, (const hsize_t *)m->dims, 0);
	if (!shape || asprintf(&st, "%" PRIu64, m->storage) < 0) {
		h5fs_log(H5FS_LOG_WARN, "'%s': out of memory: its new extent shows later", n->path);
		free(shape);
		return;
	}
	memcpy(n->dims, m->dims, (size_t)n->ndim * sizeof(*m->dims));
	n->nelems = nelems;
	n->size = nelems * n->esize;
	n->storage = m->storage;
	free(n->meta[H5FS_M_SHAPE]);
	n->meta[H5FS_M_SHAPE] = shape;
	free(n->meta[H5FS_M_STORAGE]);
	n->meta[H5FS_M_STORAGE] = st;
	inval_inode(f, n);
}

/*
 * A file in SWMR write mode: its writer appends to datasets and makes no
 * new objects, so the tree stands and only the extents of growable
 * datasets move.  Read them afresh (at most every 0.1 s) instead of
 * re-indexing: read with the tree lock shared, so requests go on meanwhile,
 * and shown with it held exclusively.
 */
static void swmr_refresh(struct h5fs_served *f, const h5fs_live_mark *now)
{
	struct follow *t = FS(f);
	struct moved *mv = NULL;
	size_t nmv = 0, cap = 0;
	int stale;

	pthread_rwlock_rdlock(&f->tree);
	for (uint32_t i = 0; i < f->idx.nnodes; i++) {
		struct h5fs_node *n = &f->idx.nodes[i];
		struct moved m = { i, 0, { 0 } };
		uint64_t nelems = 1;

		if (!may_grow(n) || h5fs_backing_dims(f, n, m.dims, &m.storage) != 0)
			continue;
		for (int d = 0; d < n->ndim; d++)
			nelems *= m.dims[d];
		if (nelems == n->nelems && !memcmp(m.dims, n->dims, (size_t)n->ndim * sizeof(*m.dims)))
			continue;
		if (nmv == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct moved *g = realloc(mv, nc * sizeof(*g));

			if (!g) {
				h5fs_log(H5FS_LOG_WARN, "'%s': out of memory: new extents show later", f->path);
				break;
			}
			mv = g;
			cap = nc;
		}
		mv[nmv++] = m;
	}
	pthread_rwlock_unlock(&f->tree);
	pthread_rwlock_wrlock(&f->tree);
	for (size_t k = 0; k < nmv; k++)
		apply_moved(f, &mv[k]);
	/* what was read is at least as new as @p now: a change since shows at the next look;
	 * one of ours meanwhile (stale) re-indexes */
	pthread_mutex_lock(&t->mu);
	stale = t->stale;
	pthread_mutex_unlock(&t->mu);
	if (!stale)
		set_base(f, now, 1);
	pthread_rwlock_unlock(&f->tree);
	free(mv);
	pthread_mutex_lock(&t->mu);
	t->swmr_at = mono_now();
	pthread_mutex_unlock(&t->mu);
}

/* Another program is in the middle of writing the file, and not in SWMR mode. */
static int writing(struct h5fs_served *f)
{
	return h5fs_live_watch_writing(f->watch) && !h5fs_live_swmr(f->path);
}

/*
 * One look of the follower at the file: show its change when it changed
 * and nobody is in the middle of writing it.  Without any lock held.
 */
static void follow_step(struct h5fs_served *f)
{
	struct follow *t = FS(f);
	h5fs_live_mark now;
	h5fs_live_holder h;
	int skip;

	if (h5fs_backing_is_writing(f) || !changed(f, &now))
		return;
	/* a writer between its first write and its close: its close wakes us (a SWMR one never closes) */
	if (writing(f))
		return;
	pthread_mutex_lock(&t->mu);
	skip = (t->have_writer_seen && mono_now() - t->writer_at < WRITER_RECHECK) ||
	       (t->base_swmr && mono_now() - t->swmr_at < SWMR_RECHECK) ||
	       (t->have_failed && (h5fs_live_mark_equal(&now, &t->failed) ||
				   mono_now() - t->failed_at < RETRY_AFTER(t->index_took)));
	pthread_mutex_unlock(&t->mu);
	if (skip || h5fs_live_holder_get(&h, f->path) < 0)
		return;
	if (h.state == H5FS_LIVE_WRITER) {
		pthread_mutex_lock(&t->mu);
		skip = t->have_writer_seen && mono_now() - t->writer_at < 1.0;
		t->writer_at = mono_now();
		t->have_writer_seen = 1;
		pthread_mutex_unlock(&t->mu);
		if (!skip)
			h5fs_log(H5FS_LOG_DEBUG, "'%s' is being written by another program%s: served as it was",
				 f->path, h.pid ? "" : " (superblock)");
		return;
	}
	pthread_mutex_lock(&t->mu);
	t->have_writer_seen = 0;
	t->indexing = 1;
	pthread_mutex_unlock(&t->mu);
	if (h.state == H5FS_LIVE_SWMR && t->base_swmr && !t->stale) {
		swmr_refresh(f, &now);
	} else if (refresh(f) != 0) {
		pthread_mutex_lock(&t->mu);
		t->failed = now;
		t->have_failed = 1;
		t->failed_at = mono_now();
		pthread_mutex_unlock(&t->mu);
	}
	pthread_mutex_lock(&t->mu);
	t->indexing = 0;
	pthread_mutex_unlock(&t->mu);
}

/* Wait for inotify's events, a request's poke, or FOLLOW_PERIOD; with mu held. */
static void follow_wait(struct h5fs_served *f, struct follow *t)
{
	struct pollfd p[2] = { { t->wake_fd[0], POLLIN, 0 }, { h5fs_live_watch_fd(f->watch), POLLIN, 0 } };
	char buf[64];

	if (t->poked || t->stop)
		return;
	pthread_mutex_unlock(&t->mu);
	poll(p, p[1].fd >= 0 ? 2 : 1, (int)(FOLLOW_PERIOD * 1000));
	if (p[0].revents & POLLIN)
		while (read(t->wake_fd[0], buf, sizeof(buf)) > 0)
			;
	pthread_mutex_lock(&t->mu);
}

static void poke(struct follow *t)
{
	char c = 1;

	t->poked = 1;
	if (write(t->wake_fd[1], &c, 1) < 0 && errno != EAGAIN)
		h5fs_log(H5FS_LOG_DEBUG, "cannot wake the follower: %s", strerror(errno));
}

static void *follower_main(void *arg)
{
	struct h5fs_served *f = arg;
	struct follow *t = FS(f);

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		follow_wait(f, t);
		if (t->stop)
			break;
		t->poked = 0;
		t->busy = 1;
		pthread_mutex_unlock(&t->mu);
		follow_step(f);
		pthread_mutex_lock(&t->mu);
		t->busy = 0;
		t->gen++;
		pthread_cond_broadcast(&t->done);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/*
 * Before a request: when the file changed since the tree was made, the
 * follower shows the change (it may be at it already: inotify woke it);
 * the request waits for that at most REQUEST_WAIT, then takes the tree
 * as it is.  While another program is writing the file it does not wait.
 */
int h5fs_follow_fresh(struct h5fs_served *f)
{
	struct follow *t = FS(f);
	h5fs_live_mark now;
	struct timespec ts;
	unsigned long gen;

	pthread_mutex_lock(&t->mu);
	if (!t->started && !t->stop) {
		/* started here: fuse_daemonize() forks, and threads do not survive it */
		if (pthread_create(&t->thr, NULL, follower_main, f) == 0)
			t->started = 1;
		else
			h5fs_log(H5FS_LOG_WARN, "cannot start the follower thread; changes of the file are not shown");
	}
	pthread_mutex_unlock(&t->mu);
	if (h5fs_backing_is_writing(f) || !changed(f, &now) || writing(f))
		return 0;
	pthread_mutex_lock(&t->mu);
	if (!t->started || (t->have_writer_seen && mono_now() - t->writer_at < WRITER_RECHECK)) {
		pthread_mutex_unlock(&t->mu);
		return 0;
	}
	/* a look under way may have begun before the change: then the next one */
	gen = t->gen + (t->busy ? 2 : 1);
	poke(t);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(REQUEST_WAIT * 1e9);
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (t->gen < gen && !t->stop)
		if (pthread_cond_timedwait(&t->done, &t->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

/*
 * A file a simulation writes is re-read after every step: the first
 * re-read is an info line, then one a minute says how many there were.
 */
static void log_reread(struct h5fs_served *f, struct follow *t, double took)
{
	double now = mono_now();
	unsigned long n = 0;
	int say;

	pthread_mutex_lock(&t->mu);
	t->rereads++;
	say = !t->reread_logged_at || now - t->reread_logged_at >= 60.0;
	if (say) {
		n = t->rereads;
		t->rereads = 0;
		t->reread_logged_at = now;
	}
	pthread_mutex_unlock(&t->mu);
	if (say && n == 1)
		h5fs_log(H5FS_LOG_INFO, "'%s' changed on disk: tree re-read in %.3f s (%u nodes)",
			 f->path, took, f->idx.nnodes);
	else if (say)
		h5fs_log(H5FS_LOG_INFO, "'%s' changed on disk: tree re-read %lu times in the last minute (%u nodes)",
			 f->path, n, f->idx.nnodes);
	else
		h5fs_log(H5FS_LOG_DEBUG, "'%s' changed on disk: tree re-read in %.3f s (%u nodes)",
			 f->path, took, f->idx.nnodes);
}

/* Around the indexer's forks: the tree and HDF5 as they are, nobody in them. */
static void fork_begin(void *arg)
{
	struct h5fs_served *f = arg;

	pthread_rwlock_rdlock(&f->tree);
	h5fs_backing_suspend(f);
}

static void fork_end(void *arg)
{
	struct h5fs_served *f = arg;

	h5fs_backing_resume(f);
	pthread_rwlock_unlock(&f->tree);
}

/*
 * One re-index, then the merge.  No lock of ours is held while the child
 * indexes (requests meanwhile get the tree as it is; the backing is held
 * only around each fork); the merge takes the tree lock.  0; EAGAIN when
 * another program held the file or it changed meanwhile (the next request
 * tries again); EIO.
 */
static int refresh(struct h5fs_served *f)
{
	struct h5fs_index_env env = { &f->idx, fork_begin, fork_end, f, &f->ext };
	struct follow *t = FS(f);
	struct h5fs_index nx;
	h5fs_live_holder held;
	h5fs_live_mark at;
	double t0 = mono_now();
	int rc, err, nfd = -1;

	rc = h5fs_index_build_live(&nx, f->iopts, &env, 0, f->watch, &at, &held);
	pthread_mutex_lock(&t->mu);
	t->index_took = mono_now() - t0;
	pthread_mutex_unlock(&t->mu);
	if (rc == H5FS_INDEX_HELD || rc == H5FS_INDEX_CHANGED || rc == H5FS_EXIT_LOCKED) {
		h5fs_log(H5FS_LOG_DEBUG, "'%s' %s while it was indexed; the tree stays as it was for now",
			 f->path, rc == H5FS_INDEX_CHANGED ? "changed" : "was held by another program");
		return EAGAIN;
	}
	if (rc != 0) {
		h5fs_log(H5FS_LOG_WARN, "'%s' changed, but it cannot be indexed again (exit code %d, see above); "
			 "serving the old view", f->path, rc);
		return EIO;
	}
	/* replaced by another file: its descriptor first, the one the index was made from */
	if (!h5fs_live_stamp_is(&at.stamp, &f->st, 0)) {
		nfd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (nfd < 0 || !h5fs_live_stamp_is_fd(&at.stamp, nfd)) {
			if (nfd < 0)
				h5fs_log(H5FS_LOG_WARN, "'%s' was replaced, but it cannot be opened (%s); serving the "
					 "old view", f->path, strerror(errno));
			else
				close(nfd);
			h5fs_index_release(&nx);
			return nfd < 0 ? EIO : EAGAIN;	/* replaced again meanwhile: again */
		}
	}
	pthread_rwlock_wrlock(&f->tree);
	{
		/* a write of ours between the index and now: the index is older than the tree */
		h5fs_live_mark now;

		if (h5fs_live_mark_get(&now, f->watch, f->path) < 0 ||
		    !h5fs_live_mark_same(&now, &at, held.state == H5FS_LIVE_SWMR)) {
			pthread_rwlock_unlock(&f->tree);
			h5fs_index_release(&nx);
			if (nfd >= 0)
				close(nfd);
			h5fs_log(H5FS_LOG_DEBUG, "'%s' changed before its new index could be shown: again",
				 f->path);
			return EAGAIN;
		}
	}
	if ((err = h5fs_tree_merge(f, &nx)) != 0) {
		pthread_rwlock_unlock(&f->tree);
		h5fs_index_release(&nx);
		if (nfd >= 0)
			close(nfd);
		h5fs_log(H5FS_LOG_WARN, "'%s' changed, but its new tree cannot be shown (%s); serving the old view",
			 f->path, strerror(err));
		return err;
	}
	/* the pread descriptor and the watch follow the file if it was replaced */
	if (nfd >= 0) {
		h5fs_live_mark again;

		if (dup2(nfd, f->fd) < 0)
			h5fs_log(H5FS_LOG_WARN, "cannot take '%s' in place of the file it replaced (%s)",
				 f->path, strerror(errno));
		close(nfd);
		if (h5fs_live_watch_rearm(f->watch) < 0)
			h5fs_log(H5FS_LOG_WARN, "%s; changes are seen by their time stamps alone",
				 h5fs_error_last()->message);
		/* the rearm counted a change: the tree shows the file as indexed, unless its
		 * stamp moved too (then the next look indexes again) */
		if (h5fs_live_mark_get(&again, f->watch, f->path) == 0 &&
		    h5fs_live_stamp_equal(&again.stamp, &at.stamp))
			at = again;
	}
	fstat(f->fd, &f->st);
	set_base(f, &at, held.state == H5FS_LIVE_SWMR);
	h5fs_backing_quiet(f, &at, &held);
	pthread_rwlock_unlock(&f->tree);
	h5fs_index_release(&nx);
	log_reread(f, t, mono_now() - t0);
	return err;
}

static void write_closed(struct h5fs_served *f)
{
	set_baseline(f);
}

int h5fs_follow_init(struct h5fs_served *f, const h5fs_live_mark *at, const h5fs_live_holder *held)
{
	struct follow *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->done, NULL);
	if (pipe2(t->wake_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
		pthread_cond_destroy(&t->done);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return -ENOMEM;
	}
	f->follow_state = t;
	set_base(f, at, held->state == H5FS_LIVE_SWMR);
	f->write_opening = write_opening;
	f->write_closed = write_closed;
	return 0;
}

void h5fs_follow_stop(struct h5fs_served *f)
{
	struct follow *t = FS(f);

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	poke(t);
	pthread_cond_broadcast(&t->done);
	pthread_mutex_unlock(&t->mu);
	if (t->started)
		pthread_join(t->thr, NULL);	/* within FOLLOW_PERIOD, or one re-index */
	t->started = 0;
}

void h5fs_follow_release(struct h5fs_served *f)
{
	struct follow *t = FS(f);

	if (!t)
		return;
	h5fs_follow_stop(f);
	f->write_opening = f->write_closed = NULL;
	close(t->wake_fd[0]);
	close(t->wake_fd[1]);
	pthread_cond_destroy(&t->done);
	pthread_mutex_destroy(&t->mu);
	free(t);
	f->follow_state = NULL;
}

