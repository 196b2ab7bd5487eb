/**
 * @file h5fs/sys/live.h
 * @brief Reading files that other programs are writing: change stamps,
 *	  who holds a file, and opens that never take the OS lock.
 *
 * HDF5 1.10 locks a file for as long as it is open (flock(2): shared for
 * reading, exclusive for writing), and h5py and simulation codes do not
 * retry an open that meets a lock: a reader that keeps a file open makes
 * the next write open of the simulation fail.  A reader that must never
 * do that opens without the OS lock (h5fs_live_open()) and stays safe
 * another way:
 *
 * - it does not start while another process holds the file for writing
 *   (h5fs_live_holder_get(): an exclusive lock on the file in
 *   /proc/locks, or the "open for writing" flag of a version 3
 *   superblock), and waits for that with back-off (h5fs_live_wait());
 * - it compares the file's stamp (h5fs_live_stamp: device, inode, size,
 *   mtime and ctime in nanoseconds) and its change count
 *   (h5fs_live_watch: inotify, which sees every write however fine the
 *   filesystem's timestamps are) before and after it reads: what was
 *   read while neither moved came from one state of the file;
 * - a file in SWMR write mode (its writer called H5Fstart_swmr_write(),
 *   which drops the lock and flags the superblock) is opened with
 *   H5F_ACC_SWMR_READ, with which libhdf5 itself makes reading alongside
 *   the appending writer safe.
 *
 * Limits: /proc/locks lists the locks of this machine only; a writer on
 * another node of a shared filesystem is seen by the stamp alone.
 *
 * Like the other sys/ headers, this interface may change between minor
 * versions.
 */
#ifndef INCLUDE_h5fs_sys_live_h__
#define INCLUDE_h5fs_sys_live_h__

#include <hdf5.h>
#include <sys/stat.h>

#include "../common.h"

H5FS_BEGIN_DECL

/** What identifies a file and moves with every change to it. */
typedef struct {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
} h5fs_live_stamp;

/**
 * The stamp of the file at @p path (stat(2), symlinks followed).
 *
 * @return 0, H5FS_ENOTFOUND (no such file), H5FS_EACCESS, H5FS_ERROR
 */
H5FS_EXTERN(int) h5fs_live_stamp_get(h5fs_live_stamp *out, const char *path);

/** 1 when both stamps are the same, else 0. */
H5FS_EXTERN(int) h5fs_live_stamp_equal(const h5fs_live_stamp *a, const h5fs_live_stamp *b);

/**
 * What /proc/PID/fdinfo/FD says of descriptor @p fd of process @p pid:
 * its inode (@p ino) and the id of its mount (@p mnt_id, as in
 * /proc/PID/mountinfo).  Reads nothing through the descriptor itself (no
 * stat(2) of a FUSE mount's file, which would wait for that mount).
 *
 * @return a bit set: 1 when *ino was read, 2 when *mnt_id was; 0 when
 *	   the process or the descriptor is gone or not ours to read
 */
H5FS_EXTERN(int) h5fs_live_fdinfo(long pid, const char *fd, unsigned long long *ino, long *mnt_id);

/** Who is writing a file. */
typedef enum {
	H5FS_LIVE_FREE = 0,	/**< nobody holds it for writing */
	H5FS_LIVE_WRITER = 1,	/**< another process holds it for writing: it may change at any moment */
	H5FS_LIVE_SWMR = 2	/**< a SWMR writer appends to it: read it with H5F_ACC_SWMR_READ */
} h5fs_live_state;

/** What h5fs_live_holder_get() found. */
typedef struct {
	h5fs_live_state state;
	/** the process holding the exclusive lock, 0 when unknown or none */
	long pid;
	/** the version 3 superblock's file consistency flags, -1 for older superblocks or none found */
	int sb_flags;
} h5fs_live_holder;

/**
 * Who holds the HDF5 file at @p path for writing, besides the calling
 * process: H5FS_LIVE_SWMR when its version 3 superblock says a SWMR
 * writer has it; H5FS_LIVE_WRITER when the superblock says it is open for
 * writing without SWMR, or another process holds an exclusive (write)
 * lock on it (flock, POSIX or OFD lock, as /proc/locks lists them); else
 * H5FS_LIVE_FREE.  Takes no lock and changes nothing, but reading
 * /proc/locks costs the kernel an RCU grace period (about 10 ms) and
 * holds up every file lock taken on the machine meanwhile: call it when
 * the file changed since the last look, not per request.
 *
 * @return 0, or an error of h5fs_live_stamp_get() (the file is gone)
 */
H5FS_EXTERN(int) h5fs_live_holder_get(h5fs_live_holder *out, const char *path);

/**
 * 1 when the superblock of @p path says a SWMR writer has it (cheap: a
 * few reads of the file's first bytes, no /proc/locks), else 0.
 */
H5FS_EXTERN(int) h5fs_live_swmr(const char *path);

/**
 * Wait until no other process holds @p path for writing (state FREE or
 * SWMR), with back-off: 10 ms, doubling, at most 100 ms between looks,
 * at most @p timeout seconds in all.
 *
 * @param[out] out the last look (may be NULL)
 * @return 0; H5FS_ELOCKED when a writer still holds the file after
 *	   @p timeout (the message names its process); an error of
 *	   h5fs_live_holder_get()
 */
H5FS_EXTERN(int) h5fs_live_wait(h5fs_live_holder *out, const char *path, double timeout);

/**
 * A file access property list for reading without the OS lock
 * (H5Pset_file_locking(fapl, 0, 1)); the caller closes it.
 *
 * @return the list, or a negative id (error set)
 */
H5FS_EXTERN(hid_t) h5fs_live_fapl(void);

/**
 * Open @p path read-only without taking the OS lock, with
 * H5F_ACC_SWMR_READ when @p holder says a SWMR writer has it.  The
 * caller checked (h5fs_live_wait()) that no writer holds it.  A file
 * whose superblock says it is open for writing is H5FS_ELOCKED.
 *
 * @param[out] fid the open file
 * @param holder what h5fs_live_holder_get() found (NULL: FREE)
 * @return 0, H5FS_ELOCKED, H5FS_ERROR (the message has libhdf5's reason)
 */
H5FS_EXTERN(int) h5fs_live_open(hid_t *fid, const char *path, const h5fs_live_holder *holder);

/** A watch on a file's changes (inotify). */
typedef struct h5fs_live_watch h5fs_live_watch;

/**
 * Watch the file at @p path: every write, truncation, attribute change,
 * close after writing, rename or deletion of it counts one change.
 * When inotify cannot watch it (no inotify, no watches left) the watch
 * still works but counts nothing: h5fs_live_watch_works() says so and
 * callers must rely on stamps and holders alone.
 *
 * @param[out] out freed with h5fs_live_watch_free()
 * @return 0, H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_live_watch_new(h5fs_live_watch **out, const char *path);

/** Stop watching; NULL is a no-op. */
H5FS_EXTERN(void) h5fs_live_watch_free(h5fs_live_watch *w);

/** 1 when inotify watches the file, 0 when the count stays 0. */
H5FS_EXTERN(int) h5fs_live_watch_works(const h5fs_live_watch *w);

/**
 * The changes seen so far (never goes down).  Cheap: one read(2) that
 * usually finds nothing.  Thread-safe.  A change is counted once the
 * writing call returned; the stamp moves when it starts.
 */
H5FS_EXTERN(uint64_t) h5fs_live_watch_changes(h5fs_live_watch *w);

/**
 * 1 while a writer seems to be in the middle of a session: a write
 * came after the last close after writing, so more may come before the
 * file is whole again; 0 otherwise (an attribute change such as chmod,
 * touch or the link count the file's replacement moves is no write).  A
 * writer that opened the file but wrote nothing yet is not seen, nor one
 * whose events the kernel dropped (queue overflow).  Thread-safe.
 */
H5FS_EXTERN(int) h5fs_live_watch_writing(h5fs_live_watch *w);

/**
 * The inotify descriptor, to poll(2) for readability (events waiting),
 * or -1 when the watch does not work.  Read it only through
 * h5fs_live_watch_changes().
 */
H5FS_EXTERN(int) h5fs_live_watch_fd(const h5fs_live_watch *w);

/**
 * Watch the file now at the watch's path again (it was replaced by
 * another file: a rename over it, or deleted and made anew).  Counts
 * one change.
 *
 * @return 0, or H5FS_ERROR when it cannot be watched (the count then
 *	   stays where it is)
 */
H5FS_EXTERN(int) h5fs_live_watch_rearm(h5fs_live_watch *w);

/** A file's state as a reader saw it: its stamp and its watch's count. */
typedef struct {
	h5fs_live_stamp stamp;
	uint64_t changes;
} h5fs_live_mark;

/**
 * The mark of @p path now (@p w may be NULL: the count is then 0).
 *
 * @return 0, or an error of h5fs_live_stamp_get()
 */
H5FS_EXTERN(int) h5fs_live_mark_get(h5fs_live_mark *out, h5fs_live_watch *w, const char *path);

/** 1 when both marks are the same (nothing changed in between), else 0. */
H5FS_EXTERN(int) h5fs_live_mark_equal(const h5fs_live_mark *a, const h5fs_live_mark *b);

/**
 * Whether the file did not change between marks @p a and @p b as far as
 * its reader cares: the same mark, or, when @p swmr (a SWMR writer
 * appends, which changes no structure), the same file (device and inode).
 */
H5FS_EXTERN(int) h5fs_live_mark_same(const h5fs_live_mark *a, const h5fs_live_mark *b, int swmr);

/**
 * Whether stamp @p s is of the file @p st describes (device and inode),
 * and, with @p content, also of its size and modification time.
 */
H5FS_EXTERN(int) h5fs_live_stamp_is(const h5fs_live_stamp *s, const struct stat *st, int content);

/**
 * The back-off every wait for another program's lock uses: 10 ms, then
 * twice as long each time up to @p max_step seconds, for @p limit
 * seconds in all (a negative limit: for ever).
 */
typedef struct h5fs_live_backoff {
	double start, limit, step, max_step;
} h5fs_live_backoff;

H5FS_EXTERN(void) h5fs_live_backoff_start(h5fs_live_backoff *b, double limit, double max_step);

/** Sleep the next step (never past the limit): 1, or 0 at once when the limit is reached. */
H5FS_EXTERN(int) h5fs_live_backoff_next(h5fs_live_backoff *b);

/** Whether stamp @p s is of the file open as @p fd (device and inode); 0 when @p fd cannot be read. */
H5FS_EXTERN(int) h5fs_live_stamp_is_fd(const h5fs_live_stamp *s, int fd);

/**
 * Make libhdf5 follow the file access property lists of this process,
 * not the HDF5_USE_FILE_LOCKING environment variable (which overrides
 * them): unsets it.  A daemon calls this once at start.
 *
 * @return 1 when the variable was set (and is gone now), else 0
 */
H5FS_EXTERN(int) h5fs_live_take_locking(void);

H5FS_END_DECL

#endif
