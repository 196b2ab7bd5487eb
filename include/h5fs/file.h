/**
 * @file h5fs/file.h
 * @brief A lazy handle on one HDF5 file, with nested opens.
 *
 * An h5fs_file names a file; nothing is opened until h5fs_file_open().
 * Opens nest: each open raises a counter and each close lowers it, and
 * only the outermost pair really opens and closes the file.  A nested
 * write open on a file that is open for reading upgrades it (the file is
 * closed and reopened read-write; it is never truncated by an upgrade,
 * unlike the Python reference, so a nested open cannot destroy data an
 * outer context is reading).  An open write file reports its mode "r+".
 *
 * HDF5 locks files.  When another process holds a conflicting lock the
 * open is retried with back-off (10 ms doubling up to 1 s) until the
 * handle's lock timeout has passed; a timeout of 0 fails at once, a
 * negative one waits forever.
 *
 * A handle is not safe for concurrent use from several threads, and
 * libhdf5 itself is not thread-safe here: callers serialise.
 */
#ifndef INCLUDE_h5fs_file_h__
#define INCLUDE_h5fs_file_h__

#include "common.h"

H5FS_BEGIN_DECL

typedef struct h5fs_file h5fs_file;

/** Options for h5fs_file_new(). */
typedef struct {
	unsigned int version;
	/** allow write modes (a "mutable" handle in bamboost's words) */
	int writable;
	/** seconds to retry a lock conflict; 0 = fail at once; < 0 = forever */
	double lock_timeout;
} h5fs_file_options;

#define H5FS_FILE_OPTIONS_VERSION 1
#define H5FS_FILE_OPTIONS_INIT { H5FS_FILE_OPTIONS_VERSION, 0, 60.0 }

/** Initialise @p opts with the defaults of @p version. */
H5FS_EXTERN(int) h5fs_file_options_init(h5fs_file_options *opts, unsigned int version);

/**
 * Make a handle for the file at @p path.  A read-only handle
 * (writable = 0) checks that the file exists; a writable one does not
 * touch the disk.
 *
 * @param[out] out the handle, freed with h5fs_file_free()
 * @param opts NULL for the defaults (read-only, 60 s lock timeout)
 * @return 0, H5FS_ENOTFOUND (read-only handle, missing file), H5FS_ENOMEM
 */
H5FS_EXTERN(int) h5fs_file_new(h5fs_file **out, const char *path, const h5fs_file_options *opts);

/** Close the file if open and free the handle; NULL is a no-op. */
H5FS_EXTERN(void) h5fs_file_free(h5fs_file *file);

/**
 * Open (or join the open of) the file.  @p mode is "r", "r+", "a", "w"
 * (create or truncate), "w-" or "x" (create, fail if it exists).  A write
 * mode on a read-only handle fails with H5FS_EREADONLY and leaves the
 * counter unchanged (the reference leaks a count here; we do not).
 *
 * @return 0, H5FS_EREADONLY, H5FS_ENOTFOUND ("r"/"r+" on a missing file),
 *	   H5FS_EEXISTS ("w-"/"x" on an existing one), H5FS_ELOCKED (lock
 *	   held past the timeout; the message says "not retrying" for a
 *	   timeout of 0 and "Timeout" otherwise), H5FS_ECORRUPT (not an HDF5
 *	   file or unreadable superblock), H5FS_EINVALID (bad mode)
 */
H5FS_EXTERN(int) h5fs_file_open(h5fs_file *file, const char *mode);

/**
 * Leave one open context; the outermost close really closes the file.
 * Extra closes are harmless.
 *
 * @return 0 or the error of the underlying close
 */
H5FS_EXTERN(int) h5fs_file_close(h5fs_file *file);

/** Close the file whatever the counter says, and set it to 0. */
H5FS_EXTERN(int) h5fs_file_force_close(h5fs_file *file);

/** Flush the open file to disk (H5Fflush with global scope). */
H5FS_EXTERN(int) h5fs_file_flush(h5fs_file *file);

/** 1 when the file is open, else 0. */
H5FS_EXTERN(int) h5fs_file_is_open(const h5fs_file *file);

/** "r", "r+" (any open write mode), or NULL when closed. */
H5FS_EXTERN(const char *) h5fs_file_mode(const h5fs_file *file);

/** 1 when the handle allows writes. */
H5FS_EXTERN(int) h5fs_file_writable(const h5fs_file *file);

/** The nesting counter of open contexts. */
H5FS_EXTERN(unsigned int) h5fs_file_open_count(const h5fs_file *file);

/** How many times the file was really opened / closed (for tests). */
H5FS_EXTERN(unsigned int) h5fs_file_real_opens(const h5fs_file *file);
H5FS_EXTERN(unsigned int) h5fs_file_real_closes(const h5fs_file *file);

/** The absolute path of the file (borrowed). */
H5FS_EXTERN(const char *) h5fs_file_path(const h5fs_file *file);

/** Change the lock timeout (seconds; 0 = at once; < 0 = forever). */
H5FS_EXTERN(void) h5fs_file_set_lock_timeout(h5fs_file *file, double seconds);

/**
 * The HDF5 file id while open, else a negative value.  For code that
 * needs HDF5 directly (the daemon's data path); do not close it.
 */
H5FS_EXTERN(int64_t) h5fs_file_hid(const h5fs_file *file);

/**
 * Whether @p path starts with the HDF5 signature (at 0, 512, 1024, ...
 * for files with a user block).
 *
 * @return 1, 0, or H5FS_ENOTFOUND / H5FS_ERROR when it cannot be read
 */
H5FS_EXTERN(int) h5fs_file_is_hdf5(const char *path);

H5FS_END_DECL

#endif
