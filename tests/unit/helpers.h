/*
 * Shared helpers of the cmocka suites.
 *
 * Each suite's group setup calls th_setup() (a private scratch folder
 * under $TMPDIR, removed by th_teardown()).  Every test should end with
 * th_assert_no_open_ids() so that a leaked HDF5 id fails the test that
 * leaked it.
 */
#ifndef H5FS_TESTS_HELPERS_H
#define H5FS_TESTS_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "h5fs.h"

/* The scratch folder of this suite (valid between setup and teardown). */
const char *th_dir(void);

/* A path inside the scratch folder; malloc'd, freed by th_teardown(). */
const char *th_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int th_setup(void **state);
int th_teardown(void **state);

/*
 * Run Python code with /usr/bin/python3 (h5py, numpy imported as h5py,
 * np; sys.argv[1] is the scratch folder).  Returns the exit status.
 * Output goes to the test log.
 */
int th_python(const char *code_fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skip the current test (with a message) when h5py is not available. */
void th_require_h5py(void);

/*
 * Run @p take(@p arg) in a child process that then waits until killed
 * (and dies with the test); returns the child's pid once take returned
 * non-zero, fails the test when it returned 0.  For holding a file the
 * way another program would.  th_holder_kill() ends it.
 */
int th_holder(int (*take)(void *arg), void *arg);
void th_holder_kill(int pid);

/* Open @p path read-write with libhdf5 (fails the test when it cannot). */
int64_t th_h5_open_rw(const char *path);

/* Bytes of the byte image of dataset @p name of the open file @p fid. */
uint64_t th_h5_image_size(int64_t fid, const char *name);

/* The whole of file @p path (malloc'd, NUL after *len bytes); fails the test when unreadable. */
void *th_read_file(const char *path, size_t *len);

/* h5dump's text of @p file: the file's whole content as the tool sees it (malloc'd). */
char *th_dump(const char *file);

/*
 * The seed of a suite's random tests: @p fixed unless $H5FS_SEED says
 * otherwise (a number repeats that run; "random" picks one from the
 * clock, as `make soak` does).  Printed once, with how to repeat it.
 */
uint64_t th_seed(const char *suite, uint64_t fixed);

/* Fail when any HDF5 id of any file is still open. */
void th_assert_no_open_ids_at(const char *file, int line);
#define th_assert_no_open_ids() th_assert_no_open_ids_at(__FILE__, __LINE__)

/* Assert a library call succeeded, printing the last error if not. */
#define th_ok(expr) do { \
	int th_rc_ = (expr); \
	if (th_rc_ < 0) \
		fail_msg("%s = %d: %s", #expr, th_rc_, h5fs_error_last()->message); \
} while (0)

/* Assert a library call failed with @p code. */
#define th_fails(code, expr) do { \
	int th_rc_ = (expr); \
	if (th_rc_ != (code)) \
		fail_msg("%s = %d, want %d (%s)", #expr, th_rc_, (int)(code), h5fs_error_last()->message); \
} while (0)

#endif
