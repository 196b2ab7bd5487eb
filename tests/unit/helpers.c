#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hdf5.h>

#include "helpers.h"

static char *scratch;
static char **paths;
static size_t npaths;

const char *th_dir(void)
{
	return scratch;
}

const char *th_path(const char *fmt, ...)
{
	va_list ap;
	char *name, *full, **grown;

	va_start(ap, fmt);
	if (vasprintf(&name, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (asprintf(&full, "%s/%s", scratch, name) < 0)
		abort();
	free(name);
	grown = realloc(paths, (npaths + 1) * sizeof(*paths));
	if (!grown)
		abort();
	paths = grown;
	paths[npaths++] = full;
	return full;
}

int th_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char *tmpl;

	(void)state;
	if (asprintf(&tmpl, "%s/h5fs-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return -1;
	if (!mkdtemp(tmpl)) {
		free(tmpl);
		return -1;
	}
	scratch = tmpl;
	return h5fs_init();
}

int th_teardown(void **state)
{
	char *cmd;

	(void)state;
	if (scratch && !getenv("H5FS_KEEP_SCRATCH")) {
		if (asprintf(&cmd, "rm -rf '%s'", scratch) >= 0) {
			if (system(cmd) != 0)
				fprintf(stderr, "cannot remove %s\n", scratch);
			free(cmd);
		}
	}
	free(scratch);
	scratch = NULL;
	for (size_t i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
	paths = NULL;
	npaths = 0;
	return 0;
}

int th_python(const char *code_fmt, ...)
{
	va_list ap;
	char *code, *script, *cmd;
	FILE *f;
	int rc;

	va_start(ap, code_fmt);
	if (vasprintf(&code, code_fmt, ap) < 0)
		abort();
	va_end(ap);
	if (asprintf(&script, "%s/.th_script.py", scratch) < 0)
		abort();
	f = fopen(script, "w");
	if (!f)
		abort();
	fprintf(f, "import sys, json\nimport numpy as np\nimport h5py\n%s\n", code);
	fclose(f);
	fflush(stdout);
	fflush(stderr);
	if (asprintf(&cmd, "/usr/bin/python3 '%s' '%s' 1>&2", script, scratch) < 0)
		abort();
	rc = system(cmd);
	free(cmd);
	free(script);
	free(code);
	if (rc == -1)
		return -1;
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

void th_require_h5py(void)
{
	if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
		print_message("h5py not available in /usr/bin/python3: skipped\n");
		skip();
	}
}

void th_assert_no_open_ids_at(const char *file, int line)
{
	ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);

	if (n != 0) {
		print_error("%zd HDF5 ids still open\n", n);
		_fail(file, line);
	}
}

int th_holder(int (*take)(void *arg), void *arg)
{
	int fds[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		/* never outlive a test that failed before th_holder_kill() */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* a fork shares the parent's open files in libhdf5's memory: forget them */
		H5close();
		c = take(arg) ? 'y' : 'n';
		if (write(fds[1], &c, 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	if (c != 'y') {
		th_holder_kill(pid);
		fail_msg("the holder process could not take the file");
	}
	return pid;
}

void th_holder_kill(int pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void *th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

char *th_dump(const char *file)
{
	const char *txt = th_path("dump.txt");
	char *cmd;
	size_t len;

	assert_true(asprintf(&cmd, "h5dump '%s' > '%s' 2>&1", file, txt) >= 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return th_read_file(txt, &len);
}

int64_t th_h5_open_rw(const char *path)
{
	hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);

	assert_true(fid >= 0);
	return fid;
}

uint64_t th_h5_image_size(int64_t fid, const char *name)
{
	hid_t d = H5Dopen2(fid, name, H5P_DEFAULT), t = H5Dget_type(d), s = H5Dget_space(d);
	uint64_t n = (uint64_t)H5Sget_simple_extent_npoints(s) * H5Tget_size(t);

	H5Sclose(s);
	H5Tclose(t);
	H5Dclose(d);
	return n;
}

uint64_t th_seed(const char *suite, uint64_t fixed)
{
	const char *env = getenv("H5FS_SEED");
	uint64_t seed = fixed;

	if (env && !strcmp(env, "random"))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	else if (env && *env)
		seed = strtoull(env, NULL, 10);
	printf("%s: seed %llu (H5FS_SEED=%llu repeats it)\n", suite, (unsigned long long)seed,
	       (unsigned long long)seed);
	fflush(stdout);
	return seed;
}
