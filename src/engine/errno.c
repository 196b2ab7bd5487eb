/*
 * Library error codes become errno values here and only here (STYLE
 * rec. 11).  The library's own table (h5fs_error_errno) decides the
 * value; this wrapper logs the library's one-line message with it so
 * every failing request leaves one line saying why.
 */
#include <errno.h>
#include <string.h>

#include "served.h"

int h5fs_errno_of(int code, const char *what)
{
	int err = h5fs_error_errno(code);

	if (err <= 0)
		err = EIO;
	h5fs_log(err == ENOENT ? H5FS_LOG_DEBUG : H5FS_LOG_WARN, "%s: %s (%s)",
		 what, h5fs_error_last()->message, strerror(err));
	return err;
}
