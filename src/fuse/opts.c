/*
 * Options: the fuse_opt table, help text and value checks.
 *
 * argv is read in three passes (STYLE_ANCHORS rec. 17):
 *   1. the first non-option argument is taken out as SOURCE, so that
 *   2. fuse_parse_cmdline() sees one positional (the mount point) and
 *      handles -h, -V, -f, -d, -s, max_threads=, clone_fd;
 *   3. fuse_opt_parse() with our table consumes h5fs's own options.
 * What remains must be options libfuse itself knows (allow_other, ro,
 * fsname=, ...); anything else fails the mount with a message naming it,
 * since libfuse 3.14 would otherwise reject it less clearly (and 3.15+
 * refuses unknown mount options outright).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5fs_ll.h"

enum {
	KEY_KEEP_RO,
	KEY_FSTAB,
	KEY_HELP
};

#define OPT(t, f, v) { t, offsetof(struct h5fs_ll_opts, f), v }

static const struct fuse_opt h5fs_opt_table[] = {
	OPT("uid=%u", uid, 0),
	OPT("uid=", uid_set, 1),
	OPT("gid=%u", gid, 0),
	OPT("gid=", gid_set, 1),
	OPT("umask=%s", umask_str, 0),
	OPT("view=%s", view_str, 0),
	OPT("chunk_cache=%s", chunk_cache_str, 0),
	OPT("idle_close=%lf", idle_close, 0),
	OPT("lock_timeout=%lf", lock_timeout, 0),
	OPT("index_timeout=%lf", index_timeout, 0),
	OPT("follow_external", follow_external, 1),
	OPT("direct_io", direct_io, 1),
	OPT("mpi_threshold=%s", mpi_threshold, 0),
	OPT("mpi_np=%s", mpi_np, 0),
	OPT("mpiexec=%s", mpiexec, 0),
	OPT("mpi_args=%s", mpi_args, 0),
	OPT("staging_dir=%s", staging_dir, 0),
	OPT("log=%s", log, 0),
	OPT("ro", ro, 1),
	OPT("rw", rw_asked, 1),
	FUSE_OPT_KEY("ro", KEY_KEEP_RO),
	/* for fstab: meant for mount(8) and systemd, not for us */
	FUSE_OPT_KEY("_netdev", KEY_FSTAB),
	FUSE_OPT_KEY("nofail", KEY_FSTAB),
	FUSE_OPT_KEY("noauto", KEY_FSTAB),
	FUSE_OPT_KEY("auto", KEY_FSTAB),
	FUSE_OPT_KEY("user", KEY_FSTAB),
	FUSE_OPT_KEY("users", KEY_FSTAB),
	FUSE_OPT_KEY("nouser", KEY_FSTAB),
	FUSE_OPT_KEY("defaults", KEY_FSTAB),
	FUSE_OPT_KEY("comment=", KEY_FSTAB),
	FUSE_OPT_END
};

/* Mount options libfuse (fuse_session_new / mount) understands. */
static const char *const fuse_known[] = {
	"allow_other", "allow_root", "default_permissions", "auto_unmount",
	"fsname=", "subtype=", "nosuid", "suid", "nodev", "dev", "noexec",
	"exec", "noatime", "atime", "relatime", "norelatime", "strictatime",
	"nodiratime", "diratime", "sync", "async", "dirsync", "blkdev",
	"blksize=", "max_read=", "context=", "fscontext=", "defcontext=",
	"rootcontext=", "debug", "async_read", "sync_read", "splice_write",
	"no_splice_write", "splice_move", "no_splice_move", "splice_read",
	"no_splice_read", "readdirplus=", "no_remote_lock", "no_remote_flock",
	"no_remote_posix_lock", "clone_fd", "max_idle_threads=", "max_threads=",
	"lazytime", "nolazytime", NULL
};


static int is_fuse_known(const char *arg)
{
	for (size_t i = 0; fuse_known[i]; i++) {
		size_t n = strlen(fuse_known[i]);

		if (fuse_known[i][n - 1] == '=' ? !strncmp(arg, fuse_known[i], n) : !strcmp(arg, fuse_known[i]))
			return 1;
	}
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct h5fs_ll_opts *ps = data;

	(void)outargs;
	switch (key) {
	case KEY_KEEP_RO:
		return 1;
	case KEY_FSTAB:
		return 0;
	case FUSE_OPT_KEY_OPT:
		/* -d, --debug and friends, kept for fuse_session_new() */
		if (arg[0] == '-')
			return 1;
		if (!strncmp(arg, "x-", 2))
			return 0;
		if (is_fuse_known(arg))
			return 1;
		{
			size_t old = ps->unknown ? strlen(ps->unknown) : 0;
			char *u = realloc(ps->unknown, old + strlen(arg) + 3);

			if (!u)
				return -1;
			if (old)
				strcpy(u + old, ", ");
			else
				u[0] = '\0';
			strcat(u, arg);
			ps->unknown = u;
		}
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		/* a third positional argument */
		fprintf(stderr, "h5fs: unexpected argument '%s'\n", arg);
		return -1;
	default:
		return 1;
	}
}

/* "64M", "1G", "1T", "4096", "0". */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned long long mul = 1;

	/* strtoull() takes "-5" as 2^64 - 5 */
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	case 't': case 'T': mul = 1ULL << 40; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end || (mul > 1 && v > ULLONG_MAX / mul))
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

static int check_mountpoint(const char *mp)
{
	struct stat st;
	int fd;

	/* /dev/fd/N: a mount made for us by a privileged parent */
	if (sscanf(mp, "/dev/fd/%d", &fd) == 1)
		return 0;
	if (stat(mp, &st) < 0) {
		fprintf(stderr, "h5fs: bad mount point '%s': %s\n", mp, strerror(errno));
		return H5FS_EXIT_MOUNTPOINT;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "h5fs: bad mount point '%s': not a directory\n", mp);
		return H5FS_EXIT_MOUNTPOINT;
	}
	return 0;
}

void h5fs_ll_usage(const char *prog)
{
	printf("usage: %s [options] SOURCE MOUNTPOINT\n"
	       "\n"
	       "Show the HDF5 file SOURCE as a directory tree at MOUNTPOINT.\n"
	       "\n"
	       "h5fs options:\n"
	       "    -o ro                  read-only mount (default: read-write when\n"
	       "                           SOURCE is writable)\n"
	       "    -o rw                  read-write mount\n"
	       "    -o uid=N, -o gid=N     owner of every file (default: the mounting user)\n"
	       "    -o umask=OOO           permission bits to clear (octal)\n"
	       "    -o view=raw|npy        datasets as raw bytes (default) or NAME.npy\n"
	       "    -o chunk_cache=SIZE    decoded-chunk cache (default 256M; 0 disables)\n"
	       "    -o idle_close=SEC      close the HDF5 file SEC after the last read that\n"
	       "                           needed libhdf5 (default 0.05; reads never\n"
	       "                           lock the file)\n"
	       "    -o lock_timeout=SEC    how long to wait for another program that\n"
	       "                           holds the file for writing (default 10),\n"
	       "                           then EAGAIN; at mount, also how long the file\n"
	       "                           may keep changing while it is indexed\n"
	       "    -o index_timeout=SEC   indexer stall limit per object (default 10)\n"
	       "    -o direct_io           reads bypass the page cache (streaming;\n"
	       "                           shared mmap then fails with ENODEV)\n"
	       "    -o follow_external     follow external links to files inside\n"
	       "                           SOURCE's folder (read-only mount)\n"
	       "    -o staging_dir=DIR     where large writes are staged (default: a\n"
	       "                           private folder beside SOURCE)\n"
	       "    -o mpi_threshold=SIZE|off  hand commits of SIZE or more to\n"
	       "                           h5fs-mpiwrite (default 64M)\n"
	       "    -o mpi_np=N, mpiexec=PATH, mpi_args=ARGS  how to run it\n"
	       "    -o log=syslog|stderr|FILE  where log lines go (default: stderr in\n"
	       "                           the foreground, else syslog)\n"
	       "    fstab-only options _netdev, nofail, noauto, user, users, x-*,\n"
	       "    comment= are accepted and ignored; other unknown options fail.\n"
	       "\n"
	       "exit codes: 0 ok, 1 usage, 10 mount point, 11 cannot open or not\n"
	       "HDF5, 12 file held by a writer (or changing) past lock_timeout,\n"
	       "20 helper missing, 30 corrupt file (the\n"
	       "indexer crashed or hung on the file's root)\n"
	       "\n", prog);
}

/*
 * SOURCE is the first argument that is not an option: take it out of
 * @p args (libfuse would take it for the mount point) and check the
 * mount point after it.  0 or an exit code (one line said why).
 */
static int take_source(struct h5fs_ll_opts *o, struct fuse_args *args)
{
	int i, skip_next = 0, dashdash = 0, src_i = -1, mp_err;

	for (i = 1; i < args->argc; i++) {
		const char *a = args->argv[i];

		if (skip_next) {
			skip_next = 0;
			continue;
		}
		if (!dashdash && !strcmp(a, "--")) {
			dashdash = 1;
			continue;
		}
		if (!dashdash && !strcmp(a, "-o")) {
			skip_next = 1;
			continue;
		}
		if (!dashdash && a[0] == '-' && a[1])
			continue;
		if (!o->source) {
			o->source = strdup(a);
			if (!o->source)
				return H5FS_EXIT_USAGE;
			src_i = i;
			continue;
		}
		/* the mount point: checked here, since fuse_parse_cmdline()
		   would fail on it with the usage exit code */
		if (!(mp_err = check_mountpoint(a)))
			break;
		return mp_err;
	}
	i = src_i;
	if (o->source) {
		/* the same arguments without SOURCE */
		struct fuse_args nargs = FUSE_ARGS_INIT(0, NULL);

		for (int k = 0; k < args->argc; k++) {
			if (k == i)
				continue;
			if (fuse_opt_add_arg(&nargs, args->argv[k]) < 0) {
				fuse_opt_free_args(&nargs);
				return H5FS_EXIT_USAGE;
			}
		}
		fuse_opt_free_args(args);
		*args = nargs;
	}
	return 0;
}

/* Every option's value, parsed and checked: 0 or H5FS_EXIT_USAGE after one line naming the option. */
static int check_values(struct h5fs_ll_opts *o)
{
	if (o->umask_str) {
		char *end;
		unsigned long m = strtoul(o->umask_str, &end, 8);

		if (!*o->umask_str || *end || m > 07777) {
			fprintf(stderr, "h5fs: bad umask '%s' (octal, e.g. 022)\n", o->umask_str);
			return H5FS_EXIT_USAGE;
		}
		o->umask = (mode_t)m;
		o->umask_set = 1;
	}
	if (o->view_str) {
		if (!strcmp(o->view_str, "raw"))
			o->view = H5FS_VIEW_RAW;
		else if (!strcmp(o->view_str, "npy"))
			o->view = H5FS_VIEW_NPY;
		else {
			fprintf(stderr, "h5fs: bad view '%s' (raw or npy)\n", o->view_str);
			return H5FS_EXIT_USAGE;
		}
	}
	if (o->chunk_cache_str && parse_size(o->chunk_cache_str, &o->chunk_cache) < 0) {
		fprintf(stderr, "h5fs: bad chunk_cache '%s' (e.g. 256M)\n", o->chunk_cache_str);
		return H5FS_EXIT_USAGE;
	}
	o->mpi_threshold_bytes = (uint64_t)64 << 20;
	if (o->mpi_threshold && !strcmp(o->mpi_threshold, "off")) {
		o->mpi_threshold_bytes = UINT64_MAX;
	} else if (o->mpi_threshold) {
		size_t t;

		if (parse_size(o->mpi_threshold, &t) < 0) {
			fprintf(stderr, "h5fs: bad mpi_threshold '%s' (e.g. 64M or off)\n", o->mpi_threshold);
			return H5FS_EXIT_USAGE;
		}
		o->mpi_threshold_bytes = t;
	}
	if (o->mpi_np) {
		char *end;
		long np = strtol(o->mpi_np, &end, 10);

		if (*end || np < 1) {
			fprintf(stderr, "h5fs: bad mpi_np '%s'\n", o->mpi_np);
			return H5FS_EXIT_USAGE;
		}
	}
	if (!(o->idle_close >= 0)) {
		fprintf(stderr, "h5fs: bad idle_close %g (seconds, >= 0)\n", o->idle_close);
		return H5FS_EXIT_USAGE;
	}
	if (!(o->lock_timeout >= 0)) {
		fprintf(stderr, "h5fs: bad lock_timeout %g (seconds, >= 0)\n", o->lock_timeout);
		return H5FS_EXIT_USAGE;
	}
	if (!(o->index_timeout > 0)) {
		fprintf(stderr, "h5fs: bad index_timeout %g (seconds, > 0)\n", o->index_timeout);
		return H5FS_EXIT_USAGE;
	}
	if (o->log && strcmp(o->log, "syslog") && strcmp(o->log, "stderr") && !*o->log) {
		fprintf(stderr, "h5fs: bad log '%s'\n", o->log);
		return H5FS_EXIT_USAGE;
	}
	return 0;
}

int h5fs_ll_opts_parse(struct h5fs_ll_opts *o, struct fuse_args *args,
		       struct fuse_cmdline_opts *cl)
{
	int rc;

	/* defaults */
	o->idle_close = 0.05;
	o->lock_timeout = 10.0;
	o->index_timeout = 10.0;
	o->chunk_cache = (size_t)256 << 20;
	o->view = H5FS_VIEW_RAW;

	/* pass 1: SOURCE is the first non-option argument */
	if ((rc = take_source(o, args)) != 0)
		return rc;

	/* pass 2: libfuse's own command line */
	if (fuse_parse_cmdline(args, cl) != 0)
		return H5FS_EXIT_USAGE;
	o->show_help = cl->show_help;
	o->show_version = cl->show_version;
	if (o->show_help || o->show_version)
		return 0;

	/* pass 3: ours */
	if (fuse_opt_parse(args, o, h5fs_opt_table, opt_proc) != 0) {
		free(o->unknown);
		o->unknown = NULL;
		return H5FS_EXIT_USAGE;
	}
	if (o->unknown) {
		fprintf(stderr, "h5fs: unknown option(s): %s (see h5fs -h)\n", o->unknown);
		free(o->unknown);
		o->unknown = NULL;
		return H5FS_EXIT_USAGE;
	}
	o->mountpoint = cl->mountpoint;
	cl->mountpoint = NULL;
	o->foreground = cl->foreground;
	o->debug = cl->debug;
	o->singlethread = cl->singlethread;
	o->max_threads = cl->max_threads;

	if (!o->source || !o->mountpoint) {
		fprintf(stderr, "h5fs: %s (usage: h5fs [options] SOURCE MOUNTPOINT; h5fs -h for help)\n",
			!o->source ? "missing SOURCE and MOUNTPOINT" : "missing MOUNTPOINT");
		return H5FS_EXIT_USAGE;
	}
	if (o->ro && o->rw_asked) {
		fprintf(stderr, "h5fs: options 'ro' and 'rw' conflict\n");
		return H5FS_EXIT_USAGE;
	}
	/* objects of other files are shown, but writes would go to SOURCE: read-only */
	if (o->follow_external) {
		if (o->rw_asked) {
			fprintf(stderr, "h5fs: -o rw cannot be combined with follow_external (such mounts are read-only)\n");
			return H5FS_EXIT_USAGE;
		}
		o->ro = 1;
	}
	return check_values(o);
}

void h5fs_ll_opts_release(struct h5fs_ll_opts *o)
{
	free(o->source);
	free(o->source_abs);
	free(o->mountpoint);
	free(o->umask_str);
	free(o->view_str);
	free(o->chunk_cache_str);
	free(o->mpi_threshold);
	free(o->mpi_np);
	free(o->mpiexec);
	free(o->mpi_args);
	free(o->staging_dir);
	free(o->log);
}
