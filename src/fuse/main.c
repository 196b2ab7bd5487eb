/*
 * h5fs: show an HDF5 file as a directory tree (libfuse3 low-level API).
 *
 *   h5fs [options] SOURCE MOUNTPOINT
 *
 * Lifecycle (libfuse's passthrough_ll, a goto ladder): parse options,
 * check SOURCE and MOUNTPOINT, index SOURCE in a forked child (src/engine/index.c),
 * then session_new -> signal handlers -> mount -> daemonize -> loop ->
 * unmount, each step undone by its own label on the way out.  Every
 * failure before the loop prints one line naming the file and the cause
 * and exits with a documented code (h5fs -h, src/fuse/README.md).
 *
 * Threads: the multi-threaded loop by default, max_threads = online
 * cores but at least H5FS_MIN_THREADS (readers wait on the disk in their
 * splice) unless -o max_threads= is given; -s runs single-threaded.
 * Metadata requests never take a lock (the index is immutable); HDF5
 * calls are serialised by h5fs_hdf5_lock().  The daemon never calls
 * MPI_Init.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5fs_ll.h"

static const struct fuse_lowlevel_ops h5fs_ll_ops = {
	.init		= h5fs_ll_init,
	.destroy	= h5fs_ll_destroy,
	.lookup		= h5fs_ll_lookup,
	.forget		= h5fs_ll_forget,
	.forget_multi	= h5fs_ll_forget_multi,
	.getattr	= h5fs_ll_getattr,
	.setattr	= h5fs_ll_setattr,
	.readlink	= h5fs_ll_readlink,
	.mknod		= h5fs_ll_mknod,
	.mkdir		= h5fs_ll_mkdir,
	.unlink		= h5fs_ll_unlink,
	.rmdir		= h5fs_ll_rmdir,
	.symlink	= h5fs_ll_symlink,
	.rename		= h5fs_ll_rename,
	.link		= h5fs_ll_link,
	.open		= h5fs_ll_open,
	.read		= h5fs_ll_read,
	.write		= h5fs_ll_write,
	.flush		= h5fs_ll_flush,
	.fsync		= h5fs_ll_fsync,
	.release	= h5fs_ll_release,
	.statfs		= h5fs_ll_statfs,
	.setxattr	= h5fs_ll_setxattr,
	.getxattr	= h5fs_ll_getxattr,
	.listxattr	= h5fs_ll_listxattr,
	.removexattr	= h5fs_ll_removexattr,
	.opendir	= h5fs_ll_opendir,
	.readdir	= h5fs_ll_readdir,
	.releasedir	= h5fs_ll_releasedir,
	.create		= h5fs_ll_create,
	.readdirplus	= h5fs_ll_readdirplus,
};

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape_octal(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

/*
 * The device of the fuse mount on @p mountpoint (the last one there), from
 * /proc/self/mountinfo, as "MAJOR:MINOR" (malloc'd), or NULL.
 */
static char *mount_dev(const char *mountpoint)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL, *dev = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *mdev, *mp, *sep;

		sep = strstr(line, " - ");
		if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save) ||
		    !(mdev = strtok_r(NULL, " ", &save)) || !strtok_r(NULL, " ", &save) ||
		    !(mp = strtok_r(NULL, " ", &save)) || !sep || strncmp(sep + 3, "fuse", 4))
			continue;
		unescape_octal(mp);
		if (!strcmp(mp, mountpoint)) {
			free(dev);
			dev = strdup(mdev);
		}
	}
	free(line);
	fclose(f);
	return dev;
}

/*
 * The kernel caps a FUSE mount's readahead at its bdi's read_ahead_kb
 * (128 KiB by default) whatever INIT asks for, so sequential reads come
 * as 128 KiB requests.  Raise this mount's to @p kb (root only; best
 * effort).  Called during INIT, before the kernel takes
 * min(read_ahead_kb, max_readahead); the bdi is named by the mount's
 * device (mount_dev()).
 */
static void raise_readahead(const char *dev, unsigned int kb)
{
	char *path = NULL, val[32];
	int fd, n;

	if (!dev || asprintf(&path, "/sys/class/bdi/%s/read_ahead_kb", dev) < 0)
		return;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		h5fs_log(H5FS_LOG_DEBUG, "readahead stays at the kernel's default: %s: %s", path, strerror(errno));
		free(path);
		return;
	}
	free(path);
	snprintf(val, sizeof(val), "%u\n", kb);
	n = (int)write(fd, val, strlen(val));
	close(fd);
	if (n < 0)
		h5fs_log(H5FS_LOG_DEBUG, "cannot raise readahead: %s", strerror(errno));
}

void h5fs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct h5fs_ll *ll = userdata;

	/*
	 * big sequential reads: 4 MiB of readahead, eight 512 KiB requests
	 * in flight, each served by its own thread (H5FS_MIN_THREADS) whose
	 * splice waits on the disk: the disk sees a deep queue.  A cold
	 * 1 GiB cat went from 0.55-0.6 s (1 MiB) to 0.44-0.48 s.
	 */
	conn->max_readahead = conn->max_readahead > (4u << 20) ? conn->max_readahead : (4u << 20);
	free(ll->mnt_dev);
	ll->mnt_dev = mount_dev(ll->opts->mountpoint);
	raise_readahead(ll->mnt_dev, conn->max_readahead >> 10);
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (ll->opts->ro && (conn->capable & FUSE_CAP_CACHE_SYMLINKS))
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* a read-only mount's data never changes: no revalidation per read */
	if (ll->opts->ro)
		conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (!ll->opts->ro) {
		/* O_TRUNC arrives with open, so a truncating open is one staged change */
		if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
			conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	}
	/*
	 * Requests of at most 512 KiB (max_pages follows max_write): libfuse
	 * replies from a descriptor by splicing through a pipe only when
	 * the reply fits the pipe, and a pipe grows to 1 MiB at most
	 * (fs.pipe-max-size) without CAP_SYS_RESOURCE, which even root may
	 * lack.  A 1 MiB read would fall back to a fresh 1 MiB buffer, a
	 * pread and a copy per request (a third of the daemon's time).
	 */
	conn->max_write = H5FS_MAX_REQUEST;
#ifdef FUSE_CAP_SETXATTR_EXT
	/*
	 * libfuse 3.13.0 - 3.14.0 read the name of a setxattr request at the
	 * wrong offset when the extended request is in use (fixed in
	 * 3.14.1): never ask for it, so names arrive whole.
	 */
	conn->want &= ~FUSE_CAP_SETXATTR_EXT;
#endif
	h5fs_log(H5FS_LOG_INFO, "mounted '%s' on '%s' (%s, %u objects, %u unreadable, view=%s)",
		 ll->opts->source_abs, ll->opts->mountpoint, ll->opts->ro ? "ro" : "rw",
		 ll->file->idx.nnodes, ll->file->idx.nbad, ll->opts->view == H5FS_VIEW_NPY ? "npy" : "raw");
	h5fs_notify("READY=1");
}

void h5fs_ll_destroy(void *userdata)
{
	struct h5fs_ll *ll = userdata;

	h5fs_log(H5FS_LOG_INFO, "unmounting '%s'", ll->opts->mountpoint);
}

static int add_opt(struct fuse_args *args, const char *opt)
{
	char *o = NULL;
	int rc;

	if (fuse_opt_add_opt_escaped(&o, opt) < 0)
		return -1;
	rc = fuse_opt_add_arg(args, "-o");
	if (rc == 0)
		rc = fuse_opt_add_arg(args, o);
	free(o);
	return rc;
}

static int has_opt(const struct fuse_args *args, const char *prefix)
{
	for (int i = 1; i < args->argc; i++) {
		const char *a = args->argv[i];
		size_t n = strlen(prefix);

		if (!strncmp(a, "-o", 2)) {
			a += 2;
			if (!*a && i + 1 < args->argc)
				a = args->argv[++i];
		}
		for (const char *p = a; p; p = strchr(p, ',')) {
			if (*p == ',')
				p++;
			if (!strncmp(p, prefix, n))
				return 1;
		}
	}
	return 0;
}

/* The served file's first index, from one state of the file: 0 or an exit code (one line said why). */
static int first_index(struct h5fs_ll *ll, h5fs_live_mark *at, h5fs_live_holder *held)
{
	struct h5fs_index_env env = { NULL, NULL, NULL, NULL, &ll->file->ext };
	int ret = h5fs_index_build_live(&ll->file->idx, &ll->opts->index, &env, ll->opts->lock_timeout,
					ll->file->watch, at, held);

	return ret == H5FS_INDEX_HELD || ret == H5FS_INDEX_CHANGED ? H5FS_EXIT_LOCKED : ret;
}

/* The mount and its one served file, empty. */
static void init_state(struct h5fs_ll *ll, struct h5fs_served *file, struct h5fs_ll_opts *o)
{
	memset(o, 0, sizeof(*o));
	memset(ll, 0, sizeof(*ll));
	memset(file, 0, sizeof(*file));
	file->fd = -1;
	file->mount = ll;
	file->o = &o->served;
	ll->file = file;
	ll->opts = o;
}

/* SOURCE's real path, and whether the mount is read-only: 0 or an exit code (one line said why). */
static int settle_source(struct h5fs_ll_opts *o)
{
	o->source_abs = realpath(o->source, NULL);
	if (!o->source_abs) {
		fprintf(stderr, "h5fs: cannot open '%s': %s\n", o->source, strerror(errno));
		return H5FS_EXIT_OPEN;
	}
	if (!o->ro && !o->rw_asked)
		o->ro = access(o->source_abs, W_OK) != 0;
	if (!o->ro && o->view == H5FS_VIEW_NPY) {
		/* the npy view's names and headers are not the file's: no writes through it */
		if (o->rw_asked) {
			fprintf(stderr, "h5fs: -o rw cannot be combined with view=npy (npy mounts are read-only)\n");
			return H5FS_EXIT_USAGE;
		}
		o->ro = 1;
	}
	o->index = (struct h5fs_index_opts){ o->source, o->source_abs, o->follow_external, o->view,
					     o->index_timeout, o->lock_timeout };
	o->served = (struct h5fs_served_opts){ o->idle_close, o->lock_timeout, o->chunk_cache, o->ro };
	return 0;
}

/* Owner, permission bits and cache timeouts of what the mount shows. */
static void set_modes(struct h5fs_ll *ll)
{
	const struct h5fs_ll_opts *o = ll->opts;

	ll->uid = o->uid_set ? (uid_t)o->uid : getuid();
	ll->gid = o->gid_set ? (gid_t)o->gid : getgid();
	ll->fmode = ll->file->st.st_mode & 0666;
	if (o->ro)
		ll->fmode &= 0444;
	ll->dmode = ll->fmode | ((ll->fmode & 0444) >> 2);
	if (o->umask_set) {
		ll->fmode &= ~o->umask;
		ll->dmode &= ~o->umask;
	}
	ll->timeout = o->ro ? 86400.0 : 1.0;
}

/* The kernel mount options h5fs sets unless given: fsname, subtype, default_permissions, ro. */
static int add_mount_opts(struct fuse_args *args, const struct h5fs_ll_opts *o)
{
	if (!has_opt(args, "fsname=")) {
		char *fs = NULL;
		int rc = asprintf(&fs, "fsname=%s", o->source_abs) < 0 ? -1 : add_opt(args, fs);

		free(fs);
		if (rc < 0)
			return -1;
	}
	if (!has_opt(args, "subtype=") && add_opt(args, "subtype=h5fs") < 0)
		return -1;
	if (!has_opt(args, "default_permissions") && add_opt(args, "default_permissions") < 0)
		return -1;
	if (o->ro && !has_opt(args, "ro") && add_opt(args, "ro") < 0)
		return -1;
	return 0;
}

/* The session loop until unmount or a signal: 0 (a clean stop), 1 (the loop failed), -1 (no loop). */
static int serve(struct fuse_session *se, const struct h5fs_ll_opts *o, const struct fuse_cmdline_opts *cl,
		 int user_threads)
{
	int ret;

	if (o->singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		if (!cfg)
			return -1;
		fuse_loop_cfg_set_clone_fd(cfg, (unsigned int)cl->clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, user_threads ? cl->max_threads :
					      (unsigned int)(ncpu > H5FS_MIN_THREADS ? ncpu : H5FS_MIN_THREADS));
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	/* a positive value is the signal that stopped the loop: a clean stop */
	if (ret > 0) {
		h5fs_log(H5FS_LOG_INFO, "stopped by signal %d", ret);
		return 0;
	}
	if (ret < 0) {
		h5fs_log(H5FS_LOG_ERR, "session loop failed: %s", strerror(-ret));
		return 1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl;
	struct h5fs_ll_opts o;
	struct h5fs_ll ll;
	struct h5fs_served file;
	struct fuse_session *se;
	h5fs_live_mark at;
	h5fs_live_holder held;
	int user_threads = 0;
	int ret;

	/*
	 * HDF5_USE_FILE_LOCKING would override the file access property
	 * lists that keep our reads off the OS lock and our writes on it
	 * (libhdf5 reads it once, at its start): ours to decide.
	 */
	int had_locking_env = h5fs_live_take_locking();

	memset(&cl, 0, sizeof(cl));
	init_state(&ll, &file, &o);
	for (int i = 1; i < argc; i++)
		if (strstr(argv[i], "max_threads="))
			user_threads = 1;

	if ((ret = h5fs_ll_opts_parse(&o, &args, &cl)) != 0)
		goto out_opts;
	if (o.show_help) {
		h5fs_ll_usage(argv[0]);
		printf("libfuse options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_opts;
	}
	if (o.show_version) {
		printf("h5fs version %s\n", H5FS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out_opts;
	}

	if ((ret = settle_source(&o)) != 0)
		goto out_opts;
	if (h5fs_log_open(o.log, o.foreground, o.debug) < 0) {
		fprintf(stderr, "h5fs: cannot open log '%s': %s\n", o.log, strerror(errno));
		ret = H5FS_EXIT_USAGE;
		goto out_opts;
	}
	h5fs_init();
	if (had_locking_env)
		h5fs_log(H5FS_LOG_INFO, "HDF5_USE_FILE_LOCKING is ignored: reads never lock, writes always do");
	if (h5fs_live_watch_new(&ll.file->watch, o.source_abs) < 0) {
		fprintf(stderr, "h5fs: cannot mount '%s': out of memory\n", o.source);
		ret = H5FS_EXIT_OPEN;
		goto out_log;
	}
	if (!h5fs_live_watch_works(ll.file->watch))
		h5fs_log(H5FS_LOG_WARN, "cannot watch '%s' with inotify; changes are seen by their time stamps alone",
			 o.source_abs);

	/* index in a child; refuse what crashes or hangs libhdf5 at the root */
	file.path = o.source_abs;
	file.iopts = &o.index;
	ret = first_index(&ll, &at, &held);
	if (ret != 0)
		goto out_watch;
	ll.file->fd = open(o.source_abs, O_RDONLY | O_CLOEXEC);
	if (ll.file->fd < 0 || fstat(ll.file->fd, &ll.file->st) < 0) {
		fprintf(stderr, "h5fs: cannot open '%s': %s\n", o.source, strerror(errno));
		ret = H5FS_EXIT_OPEN;
		goto out_index;
	}
	set_modes(&ll);
	if (h5fs_links_init(ll.file) != 0 || (!o.ro && (h5fs_tree_init(ll.file) != 0 || h5fs_inval_init(&ll) != 0 ||
						   h5fs_follow_init(ll.file, &at, &held) != 0))) {
		fprintf(stderr, "h5fs: cannot mount '%s': out of memory\n", o.source);
		ret = H5FS_EXIT_OPEN;
		goto out_fd;
	}

	if (add_mount_opts(&args, &o) < 0) {
		ret = H5FS_EXIT_USAGE;
		goto out_fd;
	}

	/* read-write mounts wrap every request in the tree lock (rwops.c) */
	se = fuse_session_new(&args, o.ro ? &h5fs_ll_ops : h5fs_rw_ops(&h5fs_ll_ops), sizeof(h5fs_ll_ops), &ll);
	if (!se) {
		ret = H5FS_EXIT_USAGE;
		goto out_fd;
	}
	ll.se = se;
	if (fuse_set_signal_handlers(se) != 0) {
		ret = H5FS_EXIT_USAGE;
		goto out_session;
	}
	if (fuse_session_mount(se, o.mountpoint) != 0) {
		fprintf(stderr, "h5fs: cannot mount on '%s'\n", o.mountpoint);
		ret = H5FS_EXIT_MOUNTPOINT;
		goto out_signals;
	}
	if (fuse_daemonize(o.foreground) != 0) {
		ret = H5FS_EXIT_USAGE;
		goto out_unmount;
	}
	if (h5fs_backing_init(ll.file) < 0) {
		ret = H5FS_EXIT_USAGE;
		goto out_unmount;
	}
	h5fs_backing_quiet(ll.file, &at, &held);

	ret = serve(se, &o, &cl, user_threads);
	if (ret == -1) {
		ret = H5FS_EXIT_USAGE;
		goto out_backing;
	}

out_backing:
	h5fs_follow_stop(ll.file);
	h5fs_backing_shutdown(ll.file);
	/* no notification may reach the session once it is gone */
	h5fs_inval_release(&ll);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_fd:
	free(ll.mnt_dev);
	h5fs_follow_release(ll.file);
	h5fs_inval_release(&ll);
	h5fs_tree_release(ll.file);
	close(ll.file->fd);
out_index:
	h5fs_index_release(&ll.file->idx);
	h5fs_ext_release(&ll.file->ext);
out_watch:
	h5fs_live_watch_free(ll.file->watch);
out_log:
	h5fs_log_close();
out_opts:
	free(cl.mountpoint);
	h5fs_ll_opts_release(&o);
	fuse_opt_free_args(&args);
	return ret;
}
