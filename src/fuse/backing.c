/*
 * The daemon's own HDF5 access: the slow data path.
 *
 * Contiguous unfiltered datasets never come here (ops_file.c replies
 * from the file descriptor).  Everything else is read here: the file is
 * opened on first use (read-only, retrying a lock held by someone else
 * for lock_timeout seconds) and closed again after idle_close seconds
 * without a read, so a simulation can take the file in between
 * (DESIGN.md section 5).  Each dataset gets a state (open dataset id,
 * type, dataspace) on first read; all of it is dropped at idle close.
 *
 * Locks, in order: users (a rwlock: every read holds it shared for its
 * duration; the idle closer takes it exclusive, with trywrlock, so it
 * never waits behind a read), then the HDF5 lock (h5fs_hdf5_lock, a
 * recursive mutex around every HDF5 call).  Open state (fid, dataset
 * states) is changed only with the HDF5 lock held.
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
#include "h5fs/sys/reader.h"
#include "h5fs_ll.h"
#include "h5fs_ext.h"

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
	pthread_mutex_t mu;	/* guards stop and the condition */
	pthread_cond_t cond;
	pthread_t idle_thread;
	int thread_started;
	int stop;
	hid_t fid;		/* under the HDF5 lock */
	double last_use;	/* under the HDF5 lock */
	struct h5fs_node **open;	/* nodes with a dstate */
	size_t nopen, capopen;
	int warned_changed;
	atomic_int is_open;	/* fid >= 0, readable without the HDF5 lock */
	int fid_rw;		/* fid was opened read-write */
	h5fs_chunk_cache *cache;	/* decoded chunks, shared by the readers */
	hid_t *xfids;		/* external files (-o follow_external), under the HDF5 lock */
	uint32_t nxfids;
	struct h5fs_ll *ll;
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- linear selections ---------------------------------------------- */

static int sel_add(hid_t space, int *first, const hsize_t *start, const hsize_t *count)
{
	if (H5Sselect_hyperslab(space, *first ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL, count, NULL) < 0)
		return -1;
	*first = 0;
	return 0;
}

static int sel_rec(hid_t space, int ndim, const uint64_t *dims, int d, hsize_t *start, hsize_t *count,
		   uint64_t a, uint64_t b, int *first)
{
	uint64_t inner = 1, r0, x0, r1, x1;

	if (a >= b)
		return 0;
	for (int e = d + 1; e < ndim; e++)
		inner *= dims[e];
	if (d == ndim - 1) {
		start[d] = a;
		count[d] = b - a;
		return sel_add(space, first, start, count);
	}
	r0 = a / inner;
	x0 = a % inner;
	r1 = b / inner;
	x1 = b % inner;
	if (r0 == r1) {
		start[d] = r0;
		count[d] = 1;
		return sel_rec(space, ndim, dims, d + 1, start, count, x0, x1, first);
	}
	if (x0) {
		start[d] = r0;
		count[d] = 1;
		if (sel_rec(space, ndim, dims, d + 1, start, count, x0, inner, first) < 0)
			return -1;
		r0++;
	}
	if (r1 > r0) {
		start[d] = r0;
		count[d] = r1 - r0;
		for (int e = d + 1; e < ndim; e++) {
			start[e] = 0;
			count[e] = dims[e];
		}
		if (sel_add(space, first, start, count) < 0)
			return -1;
	}
	if (x1) {
		start[d] = r1;
		count[d] = 1;
		if (sel_rec(space, ndim, dims, d + 1, start, count, 0, x1, first) < 0)
			return -1;
	}
	return 0;
}

int h5fs_select_linear(hid_t space, int ndim, const uint64_t *dims, uint64_t a, uint64_t b)
{
	hsize_t start[H5S_MAX_RANK], count[H5S_MAX_RANK];
	int first = 1;

	if (ndim <= 0)
		return 0;	/* scalar: the caller reads H5S_ALL */
	if (ndim > H5S_MAX_RANK)
		return -1;
	if (sel_rec(space, ndim, dims, 0, start, count, a, b, &first) < 0)
		return -1;
	return first ? H5Sselect_none(space) : 0;
}

/* ---- open and idle close -------------------------------------------- */

static herr_t lock_cb(unsigned n, const H5E_error2_t *e, void *payload)
{
	(void)n;
	if (e->min_num == H5E_CANTLOCKFILE || e->min_num == H5E_CANTLOCK)
		*(int *)payload = 1;
	return 0;
}

static herr_t desc_cb(unsigned n, const H5E_error2_t *e, void *payload)
{
	const char **d = payload;

	(void)n;
	if (!*d && e->desc && *e->desc)
		*d = e->desc;
	return 0;
}

/* Log WHAT plus HDF5's innermost message, clear the stack. */
static void log_hdf5(const char *what, const char *path)
{
	const char *d = NULL;

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, desc_cb, &d);
	h5fs_log(H5FS_LOG_WARN, "%s '%s': %s", what, path, d ? d : "HDF5 error");
	H5Eclear2(H5E_DEFAULT);
}

static void close_all(struct backing *b);

/*
 * With the HDF5 lock held.  0 or -errno.  Reads open the file read-only
 * (so h5py readers are not locked out); the write side asks for @p rw and
 * the file is reopened read-write when needed.
 */
static int ensure_open_mode(struct backing *b, int rw)
{
	struct h5fs_ll *ll = b->ll;
	double t0 = mono_now();
	useconds_t delay = 10000;

	if (b->fid >= 0 && rw && !b->fid_rw)
		close_all(b);
	if (b->fid >= 0)
		return 0;
	if (!b->warned_changed && ll->opts->ro) {
		struct stat st;

		if (stat(ll->opts->source_abs, &st) == 0 &&
		    (st.st_ino != ll->st.st_ino || st.st_dev != ll->st.st_dev || st.st_size != ll->st.st_size ||
		     st.st_mtim.tv_sec != ll->st.st_mtim.tv_sec || st.st_mtim.tv_nsec != ll->st.st_mtim.tv_nsec)) {
			h5fs_log(H5FS_LOG_WARN, "'%s' changed since it was mounted; remount to see the changes",
				 ll->opts->source_abs);
			b->warned_changed = 1;
		}
	}
	for (;;) {
		int locked = 0;

		b->fid = H5Fopen(ll->opts->source_abs, rw ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
		if (b->fid >= 0) {
			b->fid_rw = rw;
			atomic_store(&b->is_open, 1);
			return 0;
		}
		H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, lock_cb, &locked);
		if (!locked) {
			log_hdf5("cannot open", ll->opts->source_abs);
			return -EIO;
		}
		if (mono_now() - t0 >= ll->opts->lock_timeout) {
			H5Eclear2(H5E_DEFAULT);
			h5fs_log(H5FS_LOG_WARN, "'%s' is locked by another program: gave up after %.1f s (EAGAIN)",
				 ll->opts->source_abs, ll->opts->lock_timeout);
			return -EAGAIN;
		}
		H5Eclear2(H5E_DEFAULT);
		/* let other threads use what is open meanwhile */
		h5fs_hdf5_unlock();
		usleep(delay);
		h5fs_hdf5_lock();
		if (b->fid >= 0 && (b->fid_rw || !rw))
			return 0;
		if (b->fid >= 0)
			close_all(b);
		if (delay < 1000000)
			delay *= 2;
	}
}

static int ensure_open(struct backing *b)
{
	return ensure_open_mode(b, 0);
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
	if (b->xfids[k] < 0 && h5fs_ext_path(k)) {
		b->xfids[k] = H5Fopen(h5fs_ext_path(k), H5F_ACC_RDONLY, H5P_DEFAULT);
		if (b->xfids[k] < 0) {
			log_hdf5("cannot open external file", h5fs_ext_path(k));
			return -EIO;
		}
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

/* With the HDF5 lock held. */
static int ensure_dset(struct backing *b, struct h5fs_node *n, struct dstate **out)
{
	struct dstate *s = n->rd;
	hid_t dapl, fid;
	int rc;

	if (s) {
		*out = s;
		return 0;
	}
	if ((rc = node_fid(b, n, &fid)) < 0)
		return rc;
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
	if (dapl >= 0 && b->ll->opts->chunk_cache) {
		size_t per = b->ll->opts->chunk_cache / 4;

		if (per > ((size_t)64 << 20))
			per = (size_t)64 << 20;
		H5Pset_chunk_cache(dapl, 12421, per, 1.0);
	}
	s->did = H5Dopen2(fid, n->path, dapl >= 0 ? dapl : H5P_DEFAULT);
	if (dapl >= 0)
		H5Pclose(dapl);
	if (s->did < 0 || (s->ftype = dset_image_type(s->did)) < 0 || (s->fspace = H5Dget_space(s->did)) < 0) {
		log_hdf5("cannot open dataset", n->path);
		if (s->ftype >= 0)
			H5Tclose(s->ftype);
		if (s->did >= 0)
			H5Dclose(s->did);
		free(s);
		return -EIO;
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
	h5fs_chunk_cache_clear(b->cache);
}

/* With the HDF5 lock held and no reader inside. */
static void close_all(struct backing *b)
{
	for (size_t i = 0; i < b->nopen; i++)
		drop_dstate(b->open[i]);
	b->nopen = 0;
	for (uint32_t k = 0; k < b->nxfids; k++) {
		if (b->xfids[k] >= 0 && H5Fclose(b->xfids[k]) < 0)
			log_hdf5("cannot close", h5fs_ext_path(k));
		b->xfids[k] = -1;
	}
	if (b->fid >= 0) {
		if (H5Fclose(b->fid) < 0)
			log_hdf5("cannot close", b->ll->opts->source_abs);
		b->fid = -1;
		atomic_store(&b->is_open, 0);
		/* what we leave is what the next open compares with */
		if (!b->ll->opts->ro)
			h5fs_tree_set_baseline(b->ll);
		h5fs_log(H5FS_LOG_DEBUG, "closed '%s' after %.1f s idle", b->ll->opts->source_abs,
			 b->ll->opts->idle_close);
	}
}

static void *idle_main(void *arg)
{
	struct backing *b = arg;

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&b->cond, &b->mu, &ts);
		if (b->stop)
			break;
		pthread_mutex_unlock(&b->mu);
		if (pthread_rwlock_trywrlock(&b->users) == 0) {
			h5fs_hdf5_lock();
			if ((b->fid >= 0 || b->nxfids) && mono_now() - b->last_use >= b->ll->opts->idle_close)
				close_all(b);
			h5fs_hdf5_unlock();
			pthread_rwlock_unlock(&b->users);
		}
		pthread_mutex_lock(&b->mu);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

int h5fs_backing_init(struct h5fs_ll *ll)
{
	struct backing *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->ll = ll;
	b->fid = -1;
	if (h5fs_chunk_cache_new(&b->cache, ll->opts->chunk_cache) < 0) {
		free(b);
		return -ENOMEM;
	}
	pthread_rwlock_init(&b->users, NULL);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cond, NULL);
	ll->backing = b;
	return 0;
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
	}
	pthread_mutex_unlock(&b->mu);
}

void h5fs_backing_shutdown(struct h5fs_ll *ll)
{
	struct backing *b = ll->backing;

	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
	if (b->thread_started)
		pthread_join(b->idle_thread, NULL);
	pthread_rwlock_wrlock(&b->users);
	h5fs_hdf5_lock();
	close_all(b);
	h5fs_hdf5_unlock();
	pthread_rwlock_unlock(&b->users);
	pthread_rwlock_destroy(&b->users);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cond);
	h5fs_chunk_cache_free(b->cache);
	free(b->open);
	free(b->xfids);
	free(b);
	ll->backing = NULL;
}

/* ---- reads ---------------------------------------------------------- */

/* Read elements [e0, e1) into @p out, with the HDF5 lock held. */
static int read_elems(struct dstate *s, struct h5fs_node *n, hid_t mtype, uint64_t e0, uint64_t e1, void *out)
{
	hsize_t cnt = e1 - e0;
	hid_t mspace;
	int rc = 0;

	if (n->ndim > 0 && h5fs_select_linear(s->fspace, n->ndim, n->dims, e0, e1) < 0) {
		log_hdf5("cannot select elements of", n->path);
		return -EIO;
	}
	mspace = H5Screate_simple(1, &cnt, NULL);
	if (mspace < 0)
		return -ENOMEM;
	if (H5Dread(s->did, mtype, mspace, n->ndim > 0 ? s->fspace : H5S_ALL, H5P_DEFAULT, out) < 0) {
		log_hdf5("cannot read dataset", n->path);
		rc = -EIO;
	}
	H5Sclose(mspace);
	return rc;
}

/*
 * The dataset's state for a read, its reader opened on first use.
 * Returns with b->users held for reading and the HDF5 lock held, error
 * or not; a negative errno when the dataset cannot be read.
 */
static int dset_for_read(struct backing *b, struct h5fs_node *n, struct dstate **sp)
{
	struct dstate *s = NULL;
	int rc;

	start_idle_thread(b);
	pthread_rwlock_rdlock(&b->users);
	h5fs_hdf5_lock();
	rc = ensure_dset(b, n, &s);
	if (rc == 0 && !s->rd_tried) {
		/* the library's reader: chunk-at-a-time, decoded outside the lock */
		int fd = h5fs_ext_file_of(n) ? h5fs_ext_fd(h5fs_ext_file_of(n)) : b->ll->fd;
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

int h5fs_backing_map(struct h5fs_ll *ll, struct h5fs_node *n, uint64_t off, size_t size,
		     h5fs_reader_span *spans, size_t max, size_t *nspans, int *fd)
{
	struct backing *b = ll->backing;
	struct dstate *s;
	int rc;

	*nspans = 0;
	rc = dset_for_read(b, n, &s);
	b->last_use = mono_now();
	h5fs_hdf5_unlock();
	if (rc == 0 && !s->rd)
		rc = 1;
	if (rc == 0) {
		*fd = h5fs_ext_file_of(n) ? h5fs_ext_fd(h5fs_ext_file_of(n)) : ll->fd;
		rc = h5fs_reader_map(s->rd, off, size, spans, max, nspans);
		if (rc == H5FS_ENOTSUPPORTED)
			rc = 1;
		else if (rc < 0)
			rc = -h5fs_ll_errno(rc, n->path);
	}
	pthread_rwlock_unlock(&b->users);
	return rc;
}

ssize_t h5fs_backing_read(struct h5fs_ll *ll, struct h5fs_node *n, char *buf, size_t size, uint64_t off)
{
	struct backing *b = ll->backing;
	struct dstate *s;
	uint64_t e0, e1, skip;
	char *tmp = NULL;
	int rc;

	if (off >= n->size || !size)
		return 0;
	if (size > n->size - off)
		size = (size_t)(n->size - off);
	e0 = off / n->esize;
	e1 = (off + size + n->esize - 1) / n->esize;
	skip = off - e0 * n->esize;
	if (skip || (e1 - e0) * n->esize != size) {
		tmp = malloc((size_t)((e1 - e0) * n->esize));
		if (!tmp)
			return -ENOMEM;
	}
	rc = dset_for_read(b, n, &s);
	b->last_use = mono_now();
	if (rc == 0 && s->rd) {
		size_t got = 0;

		h5fs_hdf5_unlock();
		rc = h5fs_reader_read(s->rd, buf, size, off, &got);
		pthread_rwlock_unlock(&b->users);
		free(tmp);
		if (rc < 0)
			return -h5fs_ll_errno(rc, n->path);
		return (ssize_t)got;
	}
	if (rc == 0)
		rc = read_elems(s, n, s->ftype, e0, e1, tmp ? tmp : buf);
	h5fs_hdf5_unlock();
	pthread_rwlock_unlock(&b->users);
	if (rc == 0 && tmp)
		memcpy(buf, tmp + skip, size);
	free(tmp);
	return rc < 0 ? rc : (ssize_t)size;
}

/*
 * vlen strings as text.  The indexer recorded where each block of
 * H5FS_VL_BLOCK elements starts in the text; a read renders just the
 * blocks it overlaps.
 */
ssize_t h5fs_backing_read_text(struct h5fs_ll *ll, struct h5fs_node *n, char *buf, size_t size, uint64_t off)
{
	struct backing *b = ll->backing;
	struct dstate *s;
	uint64_t lo = 0, hi = n->n_vl, blk;
	size_t done = 0;
	char **strs = NULL;
	int rc = 0;

	if (off >= n->size || !size || !n->n_vl)
		return 0;
	if (size > n->size - off)
		size = (size_t)(n->size - off);
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;

		if (n->vl_off[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	strs = malloc(H5FS_VL_BLOCK * sizeof(char *));
	if (!strs)
		return -ENOMEM;
	start_idle_thread(b);
	pthread_rwlock_rdlock(&b->users);
	for (blk = lo; blk < n->n_vl && done < size && rc == 0; blk++) {
		uint64_t a = blk * H5FS_VL_BLOCK;
		uint64_t cnt = n->nelems - a < H5FS_VL_BLOCK ? n->nelems - a : H5FS_VL_BLOCK;
		uint64_t tstart = n->vl_off[blk];
		uint64_t tend = blk + 1 < n->n_vl ? n->vl_off[blk + 1] : n->size;
		char *text, *p;
		hsize_t mdim = cnt;
		hid_t mspace;

		if (tend < tstart || tend - tstart > ((uint64_t)1 << 32)) {
			rc = -EIO;
			break;
		}
		text = malloc((size_t)(tend - tstart) + 1);
		if (!text) {
			rc = -ENOMEM;
			break;
		}
		h5fs_hdf5_lock();
		rc = ensure_dset(b, n, &s);
		if (rc == 0) {
			memset(strs, 0, cnt * sizeof(char *));
			rc = read_elems(s, n, s->mstr, a, a + cnt, strs);
		}
		if (rc == 0) {
			p = text;
			for (uint64_t i = 0; i < cnt; i++) {
				if ((uint64_t)(p - text) + h5fs_vlstr_text_len(strs[i]) + 1 > tend - tstart) {
					rc = -EIO;
					break;
				}
				p = h5fs_vlstr_text_put(p, strs[i]);
				*p++ = '\n';
			}
			if (rc == 0 && (uint64_t)(p - text) != tend - tstart)
				rc = -EIO;
			mspace = H5Screate_simple(1, &mdim, NULL);
			H5Dvlen_reclaim(s->mstr, mspace, H5P_DEFAULT, strs);
			H5Sclose(mspace);
			if (rc == -EIO)
				h5fs_log(H5FS_LOG_WARN, "dataset '%s': strings changed since indexing", n->path);
		}
		b->last_use = mono_now();
		h5fs_hdf5_unlock();
		if (rc == 0) {
			uint64_t from = off + done > tstart ? off + done - tstart : 0;
			uint64_t avail = tend - tstart - from;
			size_t take = avail < size - done ? (size_t)avail : size - done;

			memcpy(buf + done, text + from, take);
			done += take;
		}
		free(text);
	}
	pthread_rwlock_unlock(&b->users);
	free(strs);
	return rc < 0 ? rc : (ssize_t)done;
}

/* ---- the write side (ops_write.c, ops_ns.c, ops_xattr.c, tree.c) ------ */

int h5fs_backing_begin_write(struct h5fs_ll *ll, int64_t *fid)
{
	struct backing *b = ll->backing;
	int rc;

	start_idle_thread(b);
	pthread_rwlock_wrlock(&b->users);
	h5fs_hdf5_lock();
	rc = ensure_open_mode(b, 1);
	if (rc < 0) {
		h5fs_hdf5_unlock();
		pthread_rwlock_unlock(&b->users);
		return -rc;
	}
	*fid = b->fid;
	return 0;
}

void h5fs_backing_end_write(struct h5fs_ll *ll, int changed)
{
	struct backing *b = ll->backing;

	if (changed)
		close_dsets(b);
	b->last_use = mono_now();
	h5fs_hdf5_unlock();
	pthread_rwlock_unlock(&b->users);
}

void h5fs_backing_close_now(struct h5fs_ll *ll)
{
	close_all(ll->backing);
}

int h5fs_backing_is_open(struct h5fs_ll *ll)
{
	struct backing *b = ll->backing;

	return b ? atomic_load(&b->is_open) : 0;
}

void h5fs_backing_forget_node(struct h5fs_ll *ll, struct h5fs_node *n)
{
	struct backing *b = ll->backing;

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
