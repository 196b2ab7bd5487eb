/**
 * @file h5fs/errors.h
 * @brief Error codes and the per-thread last error.
 *
 * Every function of libh5fs returns 0 (or a non-negative value that its
 * documentation names) on success and a negative h5fs_error_code on
 * failure.  The failure leaves a one-line message that
 * h5fs_error_last() returns; when HDF5 failed underneath, the innermost
 * message of HDF5's own error stack is folded into it.  HDF5's stack is
 * never printed.
 *
 * The last error is kept per thread.  It may be stale after a call that
 * succeeded: check the return code first.
 */
#ifndef INCLUDE_h5fs_errors_h__
#define INCLUDE_h5fs_errors_h__

#include "common.h"

H5FS_BEGIN_DECL

/** Return codes.  Callers branch on these; the message says the rest. */
typedef enum {
	H5FS_OK = 0,
	H5FS_ERROR = -1,	  /**< generic failure */
	H5FS_ENOTFOUND = -3,	  /**< object, attribute or file missing */
	H5FS_EEXISTS = -4,	  /**< name already exists */
	H5FS_EINVALID = -5,	  /**< invalid argument or text */
	H5FS_EBUFS = -6,	  /**< value larger than allowed */
	H5FS_ENOTSUPPORTED = -7,  /**< type or filter not supported */
	H5FS_EREADONLY = -8,	  /**< write on a read-only handle */
	H5FS_ELOCKED = -9,	  /**< file locked by another process */
	H5FS_ETYPE = -10,	  /**< wrong kind, shape or dtype */
	H5FS_ENOMEM = -11,	  /**< out of memory */
	H5FS_ENOTEMPTY = -12,	  /**< group not empty */
	H5FS_ECORRUPT = -13,	  /**< file structure cannot be decoded */
	H5FS_EACCESS = -14,	  /**< the OS refused access to a file */
	H5FS_EUSER = -30	  /**< a callback asked to stop */
} h5fs_error_code;

/** Classes of failure: where it came from. */
typedef enum {
	H5FS_ERROR_NONE = 0,
	H5FS_ERROR_OS,
	H5FS_ERROR_NOMEMORY,
	H5FS_ERROR_HDF5,
	H5FS_ERROR_MPI,
	H5FS_ERROR_INVALID,
	H5FS_ERROR_INTERNAL
} h5fs_error_t;

/** The last error of this thread. */
typedef struct {
	char *message;		/**< one line, never NULL */
	int klass;		/**< an h5fs_error_t */
} h5fs_error;

/**
 * The last error set on this thread.
 *
 * @return a borrowed pointer, valid until the next call that fails on
 *	   this thread; never NULL (a "no error" entry when none)
 */
H5FS_EXTERN(const h5fs_error *) h5fs_error_last(void);

/** Forget this thread's last error. */
H5FS_EXTERN(void) h5fs_error_clear(void);

/**
 * The errno that best describes an h5fs_error_code (ENOENT for
 * H5FS_ENOTFOUND, EROFS for H5FS_EREADONLY, ...).  The single place where
 * library codes become errno values.
 */
H5FS_EXTERN(int) h5fs_error_errno(int code);

H5FS_END_DECL

#endif
