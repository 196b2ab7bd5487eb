/*
 * The per-thread last error, and the capture of HDF5's error stack.
 *
 * HDF5 prints its stack to stderr by default; h5fs_init() switches that
 * off once, and every failed HDF5 call is followed by h5fs__error_hdf5(),
 * which walks the stack, keeps the innermost description (the one that
 * says what actually went wrong) and clears the stack.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static _Thread_local h5fs_error last_error;
static _Thread_local char *last_message;

static char oom_message[] = "out of memory";
static char none_message[] = "no error";

/*
 * A thread's message is also registered under a pthread key whose
 * destructor frees it when the thread ends (FUSE worker threads come and
 * go; _Thread_local alone would leak their last message).
 */
static pthread_key_t message_key;
static pthread_once_t message_once = PTHREAD_ONCE_INIT;

static void message_key_init(void)
{
	pthread_key_create(&message_key, free);
}

static void error_free_message(void)
{
	free(last_message);
	last_message = NULL;
	pthread_once(&message_once, message_key_init);
	pthread_setspecific(message_key, NULL);
}

static void error_keep_message(char *msg)
{
	last_message = msg;
	pthread_setspecific(message_key, msg);
}

void h5fs__error_vset(int klass, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	char *msg;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || !(msg = malloc((size_t)n + 1))) {
		h5fs__error_oom();
		return;
	}
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	error_free_message();
	error_keep_message(msg);
	last_error.message = msg;
	last_error.klass = klass;
}

void h5fs__error_set(int klass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	h5fs__error_vset(klass, fmt, ap);
	va_end(ap);
}

int h5fs__error_oom(void)
{
	error_free_message();
	last_error.message = oom_message;
	last_error.klass = H5FS_ERROR_NOMEMORY;
	return H5FS_ENOMEM;
}

const h5fs_error *h5fs_error_last(void)
{
	if (!last_error.message) {
		last_error.message = none_message;
		last_error.klass = H5FS_ERROR_NONE;
	}
	return &last_error;
}

void h5fs_error_clear(void)
{
	error_free_message();
	last_error.message = none_message;
	last_error.klass = H5FS_ERROR_NONE;
}

struct stack_walk {
	const char *innermost;	/* first entry walking upward */
	hid_t want;
	bool found;
	bool any;
};

static herr_t stack_walk_cb(unsigned n, const H5E_error2_t *e, void *payload)
{
	struct stack_walk *w = payload;

	(void)n;
	w->any = true;
	if (!w->innermost && e->desc && *e->desc)
		w->innermost = e->desc;
	if (w->want >= 0 && e->min_num == w->want)
		w->found = true;
	return 0;
}

void h5fs__error_hdf5(const char *fmt, ...)
{
	struct stack_walk w = { NULL, -1, false, false };
	va_list ap;
	size_t n, inner;
	int len;
	char *msg;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, stack_walk_cb, &w);
	inner = w.innermost ? strlen(w.innermost) + 2 : 0;
	if (len < 0 || !(msg = malloc((size_t)len + inner + 1))) {
		h5fs__hdf5_clear();
		h5fs__error_oom();
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, (size_t)len + 1, fmt, ap);
	va_end(ap);
	n = (size_t)len;
	if (w.innermost) {
		msg[n++] = ':';
		msg[n++] = ' ';
		/* keep it one line */
		for (const char *p = w.innermost; *p; p++)
			msg[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	}
	msg[n] = '\0';
	h5fs__hdf5_clear();
	error_free_message();
	error_keep_message(msg);
	last_error.message = last_message;
	last_error.klass = H5FS_ERROR_HDF5;
}

bool h5fs__hdf5_stack_has(hid_t minor)
{
	struct stack_walk w = { NULL, minor, false, false };

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, stack_walk_cb, &w);
	return minor < 0 ? w.any : w.found;
}

void h5fs__hdf5_clear(void)
{
	H5Eclear2(H5E_DEFAULT);
}

int h5fs_error_errno(int code)
{
	switch (code) {
	case H5FS_OK:
		return 0;
	case H5FS_ENOTFOUND:
		return ENOENT;
	case H5FS_EEXISTS:
		return EEXIST;
	case H5FS_EINVALID:
		return EINVAL;
	case H5FS_EBUFS:
		return E2BIG;
	case H5FS_ENOTSUPPORTED:
		return EOPNOTSUPP;
	case H5FS_EREADONLY:
		return EROFS;
	case H5FS_ELOCKED:
		return EAGAIN;
	case H5FS_ETYPE:
		return EINVAL;
	case H5FS_ENOMEM:
		return ENOMEM;
	case H5FS_ENOTEMPTY:
		return ENOTEMPTY;
	case H5FS_EACCESS:
		return EACCES;
	default:
		return EIO;
	}
}

static int init_done;

int h5fs__init(void)
{
	if (init_done)
		return 0;
	if (H5open() < 0 || H5Eset_auto2(H5E_DEFAULT, NULL, NULL) < 0) {
		h5fs__error_set(H5FS_ERROR_HDF5, "cannot initialise libhdf5");
		return H5FS_ERROR;
	}
	init_done = 1;
	return 0;
}

int h5fs_init(void)
{
	return h5fs__init();
}
