/*
 * Reading files other programs write (h5fs/sys/live.h).
 *
 * Who holds a file: /proc/locks has one line per lock of this machine,
 *
 *	1: FLOCK  ADVISORY  WRITE 10669 fe:00:10953571 0 EOF
 *	2: -> POSIX  ADVISORY  WRITE 812 08:01:1234 0 EOF	(a waiter)
 *
 * (device major:minor in hex, then the inode).  libhdf5 1.10 takes
 * flock(LOCK_EX) for a read-write open and flock(LOCK_SH) for a read-only
 * one (NFS turns flock into POSIX locks); so an exclusive lock of another
 * process on our inode means a writer has the file open.  Some
 * filesystems (btrfs subvolumes, overlayfs) show another device number in
 * /proc/locks than stat(2) does: a lock on the same inode number of
 * another device counts when the holder has a file of that inode number
 * open (its /proc/PID/fdinfo), or when we may not look (then we assume it
 * does: a needless wait is better than a torn read).
 *
 * Reading /proc/locks is not cheap: the kernel takes its file-lock
 * rwsem for writing, which costs an RCU grace period (about 10 ms here)
 * and holds up every lock taken on the machine meanwhile.  Callers look
 * only when the file changed since they last did.
 *
 * The superblock: libhdf5 looks for the signature at 0, 512, 1024, 2048
 * ... below the end of the file.  A version 3 superblock carries file
 * consistency flags at byte 11: bit 0 "open for writing", bit 2 "open
 * for SWMR writing".  A SWMR writer drops its lock, so the flags are how
 * it is seen; a plain writer of such a file keeps the lock and sets
 * bit 0, and libhdf5 refuses other opens of it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "h5fs/sys/live.h"

#define SB_FLAG_WRITE 0x01
#define SB_FLAG_SWMR 0x04

static void stamp_from(h5fs_live_stamp *out, const struct stat *st)
{
	out->dev = (uint64_t)st->st_dev;
	out->ino = (uint64_t)st->st_ino;
	out->size = (uint64_t)st->st_size;
	out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	out->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

int h5fs_live_stamp_get(h5fs_live_stamp *out, const char *path)
{
	struct stat st;

	H5FS_ASSERT_ARG(out && path);
	if (stat(path, &st) < 0) {
		int e = errno;

		h5fs__error_set(H5FS_ERROR_OS, "cannot stat '%s': %s", path, strerror(e));
		return e == ENOENT || e == ENOTDIR ? H5FS_ENOTFOUND : e == EACCES ? H5FS_EACCESS : H5FS_ERROR;
	}
	stamp_from(out, &st);
	return 0;
}

int h5fs_live_stamp_equal(const h5fs_live_stamp *a, const h5fs_live_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

/* ---- /proc/locks --------------------------------------------------------- */

int h5fs_live_fdinfo(long pid, const char *fd, unsigned long long *ino, long *mnt_id)
{
	char *path = NULL, *line = NULL;
	size_t cap = 0;
	int have = 0;
	FILE *f;

	if (asprintf(&path, "/proc/%ld/fdinfo/%s", pid, fd) < 0)
		return 0;
	f = fopen(path, "re");
	free(path);
	if (!f)
		return 0;
	while (have != 3 && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "ino: %llu", ino) == 1)
			have |= 1;
		else if (sscanf(line, "mnt_id: %ld", mnt_id) == 1)
			have |= 2;
	}
	free(line);
	fclose(f);
	return have;
}

/*
 * Whether process @p pid has a file with inode @p ino open, on a device
 * /proc/locks names otherwise than stat(2) does (btrfs subvolumes,
 * overlayfs); 1 also when we may not look.  Only fdinfo is read: a
 * stat(2) through /proc/PID/fd would follow links into any FUSE mount
 * (ours too, whose thread would then wait for itself).
 */
static int pid_has_file(long pid, unsigned long long ino)
{
	char *dir = NULL;
	DIR *d;
	struct dirent *e;
	int found = 0;

	if (asprintf(&dir, "/proc/%ld/fd", pid) < 0)
		return 1;
	d = opendir(dir);
	free(dir);
	if (!d)
		return errno == ENOENT ? 0 : 1;
	while (!found && (e = readdir(d))) {
		unsigned long long fino = 0;
		long mnt;
		int have;

		if (e->d_name[0] == '.' || !(have = h5fs_live_fdinfo(pid, e->d_name, &fino, &mnt)))
			continue;	/* closed meanwhile */
		/* without "ino:" (Linux before 5.14) it cannot be told: counted */
		if (!(have & 1) || fino == ino)
			found = 1;
	}
	closedir(d);
	return found;
}

/*
 * Parse one line of /proc/locks: 1 when it is a held write lock on inode
 * @p ino (*exact: on device @p dev too), with its pid.
 */
static int lock_line(const char *line, unsigned long long ino, dev_t dev, long *pid, int *exact)
{
	char kind[16], mode[16], rw[16];
	unsigned int maj, min;
	unsigned long long lino;
	long lpid;
	const char *p = strchr(line, ':');

	if (!p)
		return 0;
	p++;
	while (*p == ' ')
		p++;
	if (!strncmp(p, "->", 2))
		return 0;	/* waiting, not holding */
	if (sscanf(p, "%15s %15s %15s %ld %x:%x:%llu", kind, mode, rw, &lpid, &maj, &min, &lino) != 7)
		return 0;
	if (strcmp(kind, "FLOCK") && strcmp(kind, "POSIX") && strcmp(kind, "OFDLCK"))
		return 0;
	if (strcmp(rw, "WRITE") || lino != ino)
		return 0;
	*pid = lpid;
	*exact = maj == major(dev) && min == minor(dev);
	return 1;
}

/* Another process's write lock on the file: its pid, -1 unknown, 0 none. */
static long write_lock_holder(const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	char *line = NULL;
	size_t cap = 0;
	long self = (long)getpid(), holder = 0;

	if (!f)
		return 0;	/* no /proc: the stamps are all we have */
	while (!holder && getline(&line, &cap, f) > 0) {
		long pid = 0;
		int exact = 0;

		if (!lock_line(line, (unsigned long long)st->st_ino, st->st_dev, &pid, &exact) || pid == self)
			continue;
		if (exact || (pid > 0 && pid_has_file(pid, (unsigned long long)st->st_ino)))
			holder = pid > 0 ? pid : -1;
	}
	free(line);
	fclose(f);
	return holder;
}

/* ---- the superblock ---------------------------------------------------- */

static const unsigned char signature[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };

/* The v3 superblock's flags, or -1. */
static int superblock_flags(int fd, uint64_t size)
{
	unsigned char sb[12];

	for (uint64_t at = 0; at + sizeof(sb) <= size; at = at ? at * 2 : 512) {
		if (pread(fd, sb, sizeof(sb), (off_t)at) != (ssize_t)sizeof(sb))
			return -1;
		if (!memcmp(sb, signature, sizeof(signature)))
			return sb[8] >= 3 ? sb[11] : -1;
	}
	return -1;
}

int h5fs_live_swmr(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), flags = -1;

	if (fd >= 0 && fstat(fd, &st) == 0)
		flags = superblock_flags(fd, (uint64_t)st.st_size);
	if (fd >= 0)
		close(fd);
	return flags >= 0 && (flags & SB_FLAG_SWMR);
}

int h5fs_live_holder_get(h5fs_live_holder *out, const char *path)
{
	struct stat st;
	int fd;
	long pid;

	H5FS_ASSERT_ARG(out && path);
	memset(out, 0, sizeof(*out));
	out->sb_flags = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		h5fs__error_set(H5FS_ERROR_OS, "cannot open '%s': %s", path, strerror(e));
		return e == ENOENT || e == ENOTDIR ? H5FS_ENOTFOUND : e == EACCES ? H5FS_EACCESS : H5FS_ERROR;
	}
	out->sb_flags = superblock_flags(fd, (uint64_t)st.st_size);
	close(fd);
	/*
	 * A SWMR flag decides without /proc/locks: libhdf5 refuses a plain
	 * read-write open of a file flagged so (until h5clear), and the SWMR
	 * writer itself holds no lock.
	 */
	if (out->sb_flags >= 0 && (out->sb_flags & SB_FLAG_SWMR)) {
		out->state = H5FS_LIVE_SWMR;
		return 0;
	}
	/* flagged for writing: a writer, and /proc/locks says which (none: it died) */
	if (out->sb_flags >= 0 && (out->sb_flags & SB_FLAG_WRITE))
		out->state = H5FS_LIVE_WRITER;
	if ((pid = write_lock_holder(&st)) != 0) {
		out->state = H5FS_LIVE_WRITER;
		out->pid = pid > 0 ? pid : 0;
	}
	return 0;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int h5fs_live_wait(h5fs_live_holder *out, const char *path, double timeout)
{
	h5fs_live_holder h;
	double t0 = mono_now();
	useconds_t delay = 10000;
	int error;

	for (;;) {
		if ((error = h5fs_live_holder_get(&h, path)) < 0)
			return error;
		if (out)
			*out = h;
		if (h.state != H5FS_LIVE_WRITER)
			return 0;
		if (mono_now() - t0 >= timeout) {
			if (h.pid)
				h5fs__error_set(H5FS_ERROR_OS, "'%s' is held for writing by process %ld (waited %.1f s)",
						path, h.pid, timeout);
			else if (h.sb_flags > 0)
				h5fs__error_set(H5FS_ERROR_OS, "'%s' is flagged open for writing in its superblock, and no "
						"process of this machine holds it (a writer that died, or one on another "
						"node? 'h5clear -s' clears the flags) (waited %.1f s)", path, timeout);
			else
				h5fs__error_set(H5FS_ERROR_OS, "'%s' is open for writing in another program (waited %.1f s)",
						path, timeout);
			return H5FS_ELOCKED;
		}
		usleep(delay);
		if (delay < 100000)
			delay = delay * 2 > 100000 ? 100000 : delay * 2;
	}
}

/* ---- opens --------------------------------------------------------------- */

hid_t h5fs_live_fapl(void)
{
	hid_t fapl;

	if (h5fs__init() < 0)
		return H5I_INVALID_HID;
	fapl = H5Pcreate(H5P_FILE_ACCESS);
	if (fapl < 0 || H5Pset_file_locking(fapl, 0, 1) < 0) {
		h5fs__error_hdf5("cannot make a file access property list without locking");
		if (fapl >= 0)
			H5Pclose(fapl);
		return H5I_INVALID_HID;
	}
	return fapl;
}

int h5fs_live_open(hid_t *fid, const char *path, const h5fs_live_holder *holder)
{
	unsigned flags = H5F_ACC_RDONLY;
	hid_t fapl, f;
	bool busy;

	H5FS_ASSERT_ARG(fid && path);
	*fid = H5I_INVALID_HID;
	if ((fapl = h5fs_live_fapl()) < 0)
		return H5FS_ERROR;
	if (holder && holder->state == H5FS_LIVE_SWMR)
		flags |= H5F_ACC_SWMR_READ;
	f = H5Fopen(path, flags, fapl);
	if (f >= 0) {
		H5Pclose(fapl);
		*fid = f;
		return 0;
	}
	/* HDF5's message first: H5Pclose() clears the stack */
	h5fs__error_hdf5("cannot open '%s'", path);
	H5Pclose(fapl);
	/* a writer came meanwhile, or a v3 superblock says "open for writing" */
	{
		h5fs_live_holder now;

		busy = h5fs_live_holder_get(&now, path) == 0 && now.state == H5FS_LIVE_WRITER;
	}
	return busy ? H5FS_ELOCKED : H5FS_ERROR;
}

/* ---- the watch ----------------------------------------------------------- */

#define WATCH_EVENTS (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF)

struct h5fs_live_watch {
	pthread_mutex_t mu;
	int fd;			/* inotify, or -1 */
	int wd;
	uint64_t changes;
	int writing;		/* a write came after the last close-after-write */
	char *path;
};

int h5fs_live_watch_new(h5fs_live_watch **out, const char *path)
{
	h5fs_live_watch *w;

	H5FS_ASSERT_ARG(out && path);
	*out = NULL;
	if (!(w = calloc(1, sizeof(*w))) || !(w->path = h5fs__strdup(path))) {
		free(w);
		return h5fs__error_oom();
	}
	pthread_mutex_init(&w->mu, NULL);
	w->wd = -1;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd >= 0 && (w->wd = inotify_add_watch(w->fd, path, WATCH_EVENTS)) < 0) {
		close(w->fd);
		w->fd = -1;
	}
	*out = w;
	return 0;
}

void h5fs_live_watch_free(h5fs_live_watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	pthread_mutex_destroy(&w->mu);
	free(w->path);
	free(w);
}

int h5fs_live_watch_works(const h5fs_live_watch *w)
{
	return w && w->fd >= 0 && w->wd >= 0;
}

uint64_t h5fs_live_watch_changes(h5fs_live_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint64_t n;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	if (w->fd >= 0) {
		ssize_t got;

		while ((got = read(w->fd, buf, sizeof(buf))) > 0) {
			for (char *p = buf; p < buf + got;) {
				const struct inotify_event *ev = (const struct inotify_event *)p;

				if (ev->mask & (WATCH_EVENTS | IN_IGNORED | IN_Q_OVERFLOW))
					w->changes++;
				/* a write, until its close; not a chmod, a touch or a link count that
				 * moved (the file replaced by another: the old one is not written) */
				if (ev->mask & IN_MODIFY)
					w->writing = 1;
				/* events lost: whether a writer closed meanwhile is not known */
				if (ev->mask & (IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED |
						IN_Q_OVERFLOW))
					w->writing = 0;
				if ((ev->mask & IN_IGNORED) && ev->wd == w->wd)
					w->wd = -1;	/* the inode is gone: rearm (not the one a rearm left) */
				p += sizeof(*ev) + ev->len;
			}
		}
	}
	n = w->changes;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int h5fs_live_watch_writing(h5fs_live_watch *w)
{
	int writing;

	if (!w)
		return 0;
	h5fs_live_watch_changes(w);
	pthread_mutex_lock(&w->mu);
	writing = w->writing;
	pthread_mutex_unlock(&w->mu);
	return writing;
}

int h5fs_live_watch_fd(const h5fs_live_watch *w)
{
	return h5fs_live_watch_works(w) ? w->fd : -1;
}

int h5fs_live_watch_rearm(h5fs_live_watch *w)
{
	int wd, error = 0;

	H5FS_ASSERT_ARG(w);
	pthread_mutex_lock(&w->mu);
	w->changes++;
	if (w->fd < 0 && (w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot watch '%s': %s", w->path, strerror(errno));
		error = H5FS_ERROR;
	} else if ((wd = inotify_add_watch(w->fd, w->path, WATCH_EVENTS)) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot watch '%s': %s", w->path, strerror(errno));
		error = H5FS_ERROR;
	} else {
		/* the replaced file's watch goes (its IN_IGNORED is told apart by its wd) */
		if (w->wd >= 0 && w->wd != wd)
			inotify_rm_watch(w->fd, w->wd);
		w->wd = wd;
	}
	pthread_mutex_unlock(&w->mu);
	return error;
}

int h5fs_live_mark_get(h5fs_live_mark *out, h5fs_live_watch *w, const char *path)
{
	H5FS_ASSERT_ARG(out && path);
	/* the count first: a change between the two shows in the stamp or the next count */
	out->changes = h5fs_live_watch_changes(w);
	return h5fs_live_stamp_get(&out->stamp, path);
}

int h5fs_live_mark_equal(const h5fs_live_mark *a, const h5fs_live_mark *b)
{
	return a->changes == b->changes && h5fs_live_stamp_equal(&a->stamp, &b->stamp);
}

int h5fs_live_mark_same(const h5fs_live_mark *a, const h5fs_live_mark *b, int swmr)
{
	if (swmr)
		return a->stamp.dev == b->stamp.dev && a->stamp.ino == b->stamp.ino;
	return h5fs_live_mark_equal(a, b);
}

int h5fs_live_stamp_is(const h5fs_live_stamp *s, const struct stat *st, int content)
{
	h5fs_live_stamp t;

	stamp_from(&t, st);
	return s->dev == t.dev && s->ino == t.ino && (!content || (s->size == t.size && s->mtime_ns == t.mtime_ns));
}

int h5fs_live_stamp_is_fd(const h5fs_live_stamp *s, int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && h5fs_live_stamp_is(s, &st, 0);
}

int h5fs_live_take_locking(void)
{
	if (!getenv("HDF5_USE_FILE_LOCKING"))
		return 0;
	unsetenv("HDF5_USE_FILE_LOCKING");
	return 1;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void h5fs_live_backoff_start(h5fs_live_backoff *b, double limit, double max_step)
{
	b->start = mono_seconds();
	b->limit = limit;
	b->step = 0.01;
	b->max_step = max_step > 0.01 ? max_step : 0.01;
}

int h5fs_live_backoff_next(h5fs_live_backoff *b)
{
	double left = b->limit - (mono_seconds() - b->start), t = b->step;
	struct timespec ts;

	if (b->limit >= 0 && left <= 0)
		return 0;
	if (b->limit >= 0 && t > left)
		t = left;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	b->step = b->step * 2 > b->max_step ? b->max_step : b->step * 2;
	return 1;
}
