/*
 * Running h5fs-mpiwrite: its argument vector (h5fs_mpiwrite_argv()) and
 * the run itself (h5fs_mpiwrite_run()): mpiexec found or not, the
 * helper's exit and its last line of output as the error message.
 */
#include "commit_plan.h"

/* ---- running h5fs-mpiwrite ------------------------------------------- */

static int push_arg(char ***argv, size_t *n, char *s)
{
	char **grown;

	if (!s)
		return h5fs__error_oom();
	if (!(grown = realloc(*argv, (*n + 2) * sizeof(**argv)))) {
		free(s);
		return h5fs__error_oom();
	}
	*argv = grown;
	grown[(*n)++] = s;
	grown[*n] = NULL;
	return 0;
}

static char *fmt_arg(const char *fmt, ...) H5FS_PRINTF(1, 2);
static char *fmt_arg(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

int h5fs_mpiwrite_argv(char ***out, const h5fs_mpiwrite_options *opts, const h5fs_mpiwrite_job *job)
{
	h5fs_mpiwrite_options defaults = H5FS_MPIWRITE_OPTIONS_INIT;
	h5fs_buf shape = H5FS_BUF_INIT;
	char **argv = NULL;
	size_t n = 0;
	long np;
	int error = 0;

	H5FS_ASSERT_ARG(out && job);
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->version != H5FS_MPIWRITE_OPTIONS_VERSION) {
		h5fs__error_set(H5FS_ERROR_INVALID, "unknown mpiwrite options version %u", opts->version);
		return H5FS_EINVALID;
	}
	if (!job->hdf5_file || !job->dataset || *job->dataset != '/' || !job->staging_file || !job->dtype ||
	    !job->mode || job->ndim < 1 || job->ndim > H5S_MAX_RANK || !job->dims ||
	    (strcmp(job->mode, "new") && strcmp(job->mode, "replace") && strcmp(job->mode, "inplace")) ||
	    (opts->mpi_nargs && !opts->mpi_args)) {
		h5fs__error_set(H5FS_ERROR_INVALID, "incomplete or invalid job for h5fs-mpiwrite");
		return H5FS_EINVALID;
	}
	np = opts->np > 0 ? opts->np : sysconf(_SC_NPROCESSORS_ONLN);
	if (np < 1)
		np = 1;
	h5fs_buf_putc(&shape, '[');
	for (int i = 0; i < job->ndim; i++)
		h5fs_buf_printf(&shape, "%s%llu", i ? "," : "", (unsigned long long)job->dims[i]);
	h5fs_buf_putc(&shape, ']');
	if ((error = h5fs_buf_check(&shape)) < 0)
		goto out;
	if ((error = push_arg(&argv, &n, h5fs__strdup(opts->mpiexec ? opts->mpiexec : "mpiexec"))) < 0 ||
	    (error = push_arg(&argv, &n, h5fs__strdup("-n"))) < 0 ||
	    (error = push_arg(&argv, &n, fmt_arg("%ld", np))) < 0)
		goto out;
	for (size_t i = 0; i < opts->mpi_nargs; i++)
		if ((error = push_arg(&argv, &n, h5fs__strdup(opts->mpi_args[i]))) < 0)
			goto out;
	if ((error = push_arg(&argv, &n, h5fs__strdup(opts->helper ? opts->helper : "h5fs-mpiwrite"))) < 0 ||
	    (error = push_arg(&argv, &n, fmt_arg("--mode=%s", job->mode))) < 0 ||
	    (error = push_arg(&argv, &n, fmt_arg("--offset=%llu", (unsigned long long)job->data_offset))) < 0 ||
	    (error = push_arg(&argv, &n, fmt_arg("--lock-timeout=%g", opts->lock_timeout))) < 0 ||
	    (error = push_arg(&argv, &n, h5fs__strdup("--"))) < 0 ||
	    (error = push_arg(&argv, &n, h5fs__strdup(job->hdf5_file))) < 0 ||
	    (error = push_arg(&argv, &n, h5fs__strdup(job->dataset))) < 0 ||
	    (error = push_arg(&argv, &n, h5fs__strdup(job->staging_file))) < 0 ||
	    (error = push_arg(&argv, &n, h5fs__strdup(job->dtype))) < 0 ||
	    (error = push_arg(&argv, &n, h5fs_buf_detach(&shape, NULL))) < 0)
		goto out;
	*out = argv;
	argv = NULL;
out:
	h5fs_buf_release(&shape);
	h5fs_strarray_free(argv);
	return error;
}

/*
 * The helper's own last line ("h5fs-mpiwrite: ...") in @p text, else its
 * last non-empty line (mpiexec's banners follow the helper's message).
 */
static void last_line(char *last, size_t cap, const char *text, size_t len)
{
	static const char tag[] = "h5fs-mpiwrite: ";
	size_t end = len, start, best_start = 0, best_end = 0;

	while (end > 0) {
		while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r'))
			end--;
		start = end;
		while (start > 0 && text[start - 1] != '\n')
			start--;
		if (!best_end && end > start) {
			best_start = start;
			best_end = end;
		}
		if (end - start >= sizeof(tag) - 1 && !memcmp(text + start, tag, sizeof(tag) - 1)) {
			best_start = start + sizeof(tag) - 1;
			best_end = end;
			break;
		}
		end = start;
	}
	if (best_end - best_start >= cap)
		best_end = best_start + cap - 1;
	memcpy(last, text + best_start, best_end - best_start);
	last[best_end - best_start] = '\0';
}

/* Whether @p prog can be run: a path, or a name found on PATH. */
static bool runnable(const char *prog)
{
	const char *path = getenv("PATH"), *p;
	bool found = false;

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	for (p = path ? path : "/usr/bin:/bin"; !found; p++) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char *full;

		if (asprintf(&full, "%.*s/%s", (int)n, n ? p : ".", prog) >= 0) {
			found = access(full, X_OK) == 0;
			free(full);
		}
		if (!colon)
			break;
		p = colon;
	}
	return found;
}

int h5fs_mpiwrite_run(const h5fs_mpiwrite_options *opts, const h5fs_mpiwrite_job *job)
{
	char **argv = NULL, *out = NULL, last[512] = "";
	size_t olen = 0;
	int errpipe[2] = { -1, -1 }, execpipe[2] = { -1, -1 };
	int status, exec_errno = 0, error;
	pid_t pid;

	if ((error = h5fs_mpiwrite_argv(&argv, opts, job)) < 0)
		return error;
	for (size_t i = 0; argv[i]; i++) {
		/* mpiexec, and the helper (the argument before --mode=) */
		if ((i == 0 || (argv[i + 1] && !strncmp(argv[i + 1], "--mode=", 7))) && !runnable(argv[i])) {
			h5fs__error_set(H5FS_ERROR_OS, "cannot find '%s'", argv[i]);
			error = H5FS_ENOTFOUND;
			goto out;
		}
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0 || pipe2(execpipe, O_CLOEXEC) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot run '%s': %s", argv[0], strerror(errno));
		error = H5FS_ERROR;
		goto out;
	}
	if ((pid = fork()) < 0) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot run '%s': %s", argv[0], strerror(errno));
		error = H5FS_ERROR;
		goto out;
	}
	if (pid == 0) {
		int e;

		/* stderr to the pipe (stdout too: mpiexec chatters there) */
		if (dup2(errpipe[1], 2) < 0 || dup2(errpipe[1], 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		e = errno;
		if (write(execpipe[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(errpipe[1]);
	close(execpipe[1]);
	errpipe[1] = execpipe[1] = -1;
	/* read the output; keep at most the last 64 KiB */
	for (;;) {
		char chunk[4096];
		ssize_t r = read(errpipe[0], chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (!out && !(out = malloc(65536)))
			continue;
		if (olen + (size_t)r > 65536) {
			size_t drop = olen + (size_t)r - 65536;

			drop = drop > olen ? olen : drop;
			memmove(out, out + drop, olen - drop);
			olen -= drop;
		}
		memcpy(out + olen, chunk, (size_t)r > 65536 ? 65536 : (size_t)r);
		olen += (size_t)r;
	}
	if (read(execpipe[0], &exec_errno, sizeof(exec_errno)) != sizeof(exec_errno))
		exec_errno = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			h5fs__error_set(H5FS_ERROR_OS, "cannot wait for '%s': %s", argv[0], strerror(errno));
			error = H5FS_ERROR;
			goto out;
		}
	}
	if (out)
		last_line(last, sizeof(last), out, olen);
	if (exec_errno) {
		h5fs__error_set(H5FS_ERROR_OS, "cannot run '%s': %s", argv[0], strerror(exec_errno));
		error = H5FS_ENOTFOUND;
	} else if (WIFSIGNALED(status)) {
		h5fs__error_set(H5FS_ERROR_OS, "h5fs-mpiwrite was killed by signal %d%s%s", WTERMSIG(status),
				*last ? ": " : "", last);
		error = H5FS_ERROR;
	} else if (WEXITSTATUS(status) != 0) {
		int code = WEXITSTATUS(status);

		h5fs__error_set(H5FS_ERROR_OS, "h5fs-mpiwrite failed (exit status %d): %s", code,
				*last ? last : "no message");
		error = code >= 2 && code <= 30 && code != 2 ? -code : H5FS_ERROR;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (errpipe[i] >= 0)
			close(errpipe[i]);
		if (execpipe[i] >= 0)
			close(execpipe[i]);
	}
	free(out);
	h5fs_strarray_free(argv);
	return error;
}
