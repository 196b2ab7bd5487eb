/*
 * The daemon's log: one line per event.
 *
 * -o log=syslog (the default once daemonized), log=stderr (the default in
 * the foreground) or log=FILE (appended).  Each line is written with one
 * write() so lines from several threads never interleave.  Debug lines
 * appear only with -d.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

static int log_fd = 2;
static int log_syslog;
static int log_debug;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

/*
 * A capture of this thread's messages (h5fs_log_capture_begin()): kept
 * until the end says whether they count.  An index of a file that
 * changed while it was made is thrown away, and so are its warnings.
 */
struct held {
	int level;
	char *msg;
};
static _Thread_local struct held *held;
static _Thread_local size_t nheld, capheld;
static _Thread_local int capturing;

static void emit(int level, const char *msg);

int h5fs_log_open(const char *spec, int foreground, int debug)
{
	log_debug = debug;
	if (!spec)
		spec = foreground ? "stderr" : "syslog";
	if (!strcmp(spec, "syslog")) {
		openlog("h5fs", LOG_PID, LOG_DAEMON);
		log_syslog = 1;
		return 0;
	}
	if (!strcmp(spec, "stderr")) {
		log_fd = 2;
		return 0;
	}
	log_fd = open(spec, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		int err = errno;

		log_fd = 2;
		return -err;
	}
	return 0;
}

void h5fs_log_close(void)
{
	if (log_syslog)
		closelog();
	else if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
	log_syslog = 0;
}

void h5fs_log(int level, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	int n;

	if (level == H5FS_LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one line: fold any newline a message carries */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (capturing) {
		if (nheld == capheld) {
			size_t nc = capheld ? capheld * 2 : 8;
			struct held *nh = realloc(held, nc * sizeof(*nh));

			if (!nh) {
				free(msg);
				return;
			}
			held = nh;
			capheld = nc;
		}
		held[nheld].level = level;
		held[nheld++].msg = msg;
		return;
	}
	emit(level, msg);
	free(msg);
}

void h5fs_log_capture_begin(void)
{
	capturing = 1;
}

void h5fs_log_capture_end(int keep)
{
	capturing = 0;
	for (size_t i = 0; i < nheld; i++) {
		if (keep)
			emit(held[i].level, held[i].msg);
		free(held[i].msg);
	}
	free(held);
	held = NULL;
	nheld = capheld = 0;
}

static void emit(int level, const char *msg)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char *line = NULL;
	int n;

	if (log_syslog) {
		syslog(prio[level], "%s", msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		n = asprintf(&line, "%s.%03ld h5fs[%d] %s: %s\n", stamp,
			     ts.tv_nsec / 1000000L, (int)getpid(), level_names[level], msg);
		if (n > 0) {
			ssize_t w = write(log_fd, line, (size_t)n);

			(void)w;
		}
		free(line);
	}
}

/* ---- HDF5's error stack, in one line --------------------------------- */

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *payload)
{
	const char **d = payload;

	(void)n;
	if (!*d && e->desc && *e->desc)
		*d = e->desc;
	return 0;
}

char *h5fs_hdf5_msg(const char *what)
{
	const char *d = NULL;
	char *out = NULL;

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, &d);
	if (asprintf(&out, "%s%s%s", what, d ? ": " : "", d ? d : "") < 0)
		out = NULL;
	H5Eclear2(H5E_DEFAULT);
	return out;
}

void h5fs_log_hdf5(int level, const char *what, const char *path)
{
	const char *d = NULL;

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, &d);
	h5fs_log(level, "%s '%s': %s", what, path, d ? d : "HDF5 error");
	H5Eclear2(H5E_DEFAULT);
}
