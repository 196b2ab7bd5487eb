/*
 * Library-internal helpers shared by the files of src/lib/.
 *
 * Names: h5fs__<module>_<verb> (two underscores) are internal but shared
 * across files; file-local statics drop the h5fs_ prefix.
 *
 * Error pattern (libgit2's): at the point of failure call
 * h5fs__error_set() (or h5fs__error_hdf5() right after an HDF5 call
 * failed, which folds HDF5's innermost message into ours and clears its
 * stack) and return a negative h5fs_error_code; callers pass the code up
 * unchanged.
 */
#ifndef H5FS_INTERNAL_H
#define H5FS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <hdf5.h>

#include "h5fs.h"

#define H5FS_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Set this thread's last error; returns nothing, callers return a code. */
void h5fs__error_set(int klass, const char *fmt, ...) H5FS_PRINTF(2, 3);
void h5fs__error_vset(int klass, const char *fmt, va_list ap);

/* The out-of-memory error: needs no allocation.  Returns H5FS_ENOMEM. */
int h5fs__error_oom(void);

/*
 * After a failed HDF5 call: set a message "<ours>: <HDF5's innermost
 * description>" of class H5FS_ERROR_HDF5, and clear HDF5's stack.
 */
void h5fs__error_hdf5(const char *fmt, ...) H5FS_PRINTF(1, 2);

/*
 * Whether HDF5's current error stack holds minor code @p minor (e.g.
 * H5E_CANTLOCKFILE) or, for @p minor < 0, whether it is non-empty.
 * Does not clear the stack.
 */
bool h5fs__hdf5_stack_has(hid_t minor);

/* Clear HDF5's current error stack. */
void h5fs__hdf5_clear(void);

/* Check an argument: sets H5FS_ERROR_INVALID and returns H5FS_EINVALID. */
#define H5FS_ASSERT_ARG(expr) do { \
	if (!(expr)) { \
		h5fs__error_set(H5FS_ERROR_INVALID, "invalid argument: %s", #expr); \
		return H5FS_EINVALID; \
	} \
} while (0)

/*
 * A growable byte buffer (git's strbuf, reduced).  buf is never NULL
 * after h5fs_buf_init(); it is always NUL-terminated.  On allocation
 * failure the buffer remembers it (oom) and later appends do nothing, so
 * a sequence of appends needs one check at the end.
 */
typedef struct {
	char *ptr;
	size_t len;
	size_t alloc;
	bool oom;
} h5fs_buf;

#define H5FS_BUF_INIT { NULL, 0, 0, false }

void h5fs_buf_init(h5fs_buf *b);
void h5fs_buf_release(h5fs_buf *b);
int h5fs_buf_grow(h5fs_buf *b, size_t extra);
void h5fs_buf_put(h5fs_buf *b, const void *data, size_t len);
void h5fs_buf_puts(h5fs_buf *b, const char *s);
void h5fs_buf_putc(h5fs_buf *b, char c);
void h5fs_buf_printf(h5fs_buf *b, const char *fmt, ...) H5FS_PRINTF(2, 3);
/* Append code point @p cp (at most 0x10FFFF) encoded as UTF-8. */
void h5fs_buf_put_utf8(h5fs_buf *b, unsigned long cp);
/* Append @p s as a JSON string literal (quoted, escaped). */
void h5fs_buf_put_json_string(h5fs_buf *b, const char *s, size_t len);
/* 0, or H5FS_ENOMEM (with the error set) when an append failed. */
int h5fs_buf_check(const h5fs_buf *b);
/* Hand the string over (caller frees); the buffer is reset. */
char *h5fs_buf_detach(h5fs_buf *b, size_t *len);

/* strdup that sets the OOM error; NULL on failure. */
char *h5fs__strdup(const char *s);
char *h5fs__strndup(const char *s, size_t n);

/* Ensure h5fs_init() ran; returns its result. */
int h5fs__init(void);

#endif
