/*
 * The indexer's parent side: forks the child (walk.c), watches its
 * progress page, restarts it past a crash or hang, reads its stream
 * (wire.c) and finishes the index (sorting, the npy view); and an index
 * from one state of a file being written (h5fs_index_build_live()).
 * indexer.h tells the whole story.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

const char *const h5fs_meta_names[H5FS_M_COUNT] = {
	"dtype", "shape", "maxshape", "chunks", "layout", "filters",
	"storage_size", "link.file", "link.path"
};

/*
 * A build under way (h5fs_index_build()): what it may know and do around
 * its forks, and the table of external files it fills.  Passed down, not
 * global: several builds (of several files) may run at once.
 */
struct build {
	const struct h5fs_index_env *env;	/* may be NULL */
	struct h5fs_exttab *ext;
};

static int index_build(struct h5fs_index *idx, const struct h5fs_index_opts *o, const struct build *bd);

static const char *const phase_names[] = {
	"starting", "opening the file", "listing a group", "opening an object",
	"reading an attribute", "reading dataset metadata", "reading data", "done"
};

int h5fs_index_entry_cmp(const void *a, const void *b)
{
	const struct h5fs_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

const struct h5fs_entry *h5fs_index_find(const struct h5fs_node *dir, const char *name)
{
	size_t lo = 0, hi = dir->nchildren;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, dir->children[mid].name);

		if (!c)
			return &dir->children[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void sort_dir(struct h5fs_node *d, struct h5fs_index *idx)
{
	uint32_t j = 0;

	if (!d->nchildren)
		return;
	qsort(d->children, d->nchildren, sizeof(*d->children), h5fs_index_entry_cmp);
	/* a corrupt file may repeat a name: keep the first */
	for (uint32_t i = 0; i < d->nchildren; i++) {
		if (j && !strcmp(d->children[j - 1].name, d->children[i].name)) {
			h5fs_log(H5FS_LOG_WARN, "group '%s': duplicate name '%s' hidden", d->path ? d->path : "?",
				 d->children[i].name);
			free(d->children[i].name);
			continue;
		}
		d->children[j++] = d->children[i];
	}
	d->nchildren = j;
	d->nsubdirs = 0;
	for (uint32_t i = 0; i < d->nchildren; i++)
		if (idx->nodes[d->children[i].node].kind == H5FS_NK_GROUP)
			d->nsubdirs++;
}

/* view=npy: datasets with a byte image become NAME.npy with a header. */
static void apply_npy(struct h5fs_index *idx)
{
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];
		uint64_t shape[H5S_MAX_RANK];
		int rc;

		if (n->kind != H5FS_NK_DATASET || n->flags & (H5FS_NF_BAD | H5FS_NF_VLSTR | H5FS_NF_NOIMAGE) ||
		    n->ndim < 0 || !n->meta[H5FS_M_DTYPE])
			continue;
		for (int d = 0; d < n->ndim; d++)
			shape[d] = n->dims[d];
		rc = h5fs_npy_header_format(&n->npy, &n->npy_len, n->meta[H5FS_M_DTYPE], 0, n->ndim, shape);
		if (rc < 0) {
			h5fs_log(H5FS_LOG_WARN, "dataset '%s': no NPY header for dtype '%s' (%s); shown raw",
				 n->path, n->meta[H5FS_M_DTYPE], h5fs_error_last()->message);
			n->npy = NULL;
			n->npy_len = 0;
			continue;
		}
		n->flags |= H5FS_NF_NPY;
	}
	/* a name clash keeps every name of that dataset raw */
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *d = &idx->nodes[i];

		for (uint32_t c = 0; c < d->nchildren; c++) {
			struct h5fs_node *n = &idx->nodes[d->children[c].node];
			char *nn = NULL;

			if (!(n->flags & H5FS_NF_NPY))
				continue;
			if (asprintf(&nn, "%s.npy", d->children[c].name) < 0)
				continue;
			for (uint32_t k = 0; k < d->nchildren; k++) {
				if (!strcmp(d->children[k].name, nn)) {
					h5fs_log(H5FS_LOG_WARN, "dataset '%s': '%s' exists, shown raw", n->path, nn);
					n->flags &= ~H5FS_NF_NPY;
					break;
				}
			}
			free(nn);
		}
	}
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *d = &idx->nodes[i];

		for (uint32_t c = 0; c < d->nchildren; c++) {
			struct h5fs_node *n = &idx->nodes[d->children[c].node];
			char *nn = NULL;

			if (!(n->flags & H5FS_NF_NPY))
				continue;
			if (asprintf(&nn, "%s.npy", d->children[c].name) < 0)
				continue;
			free(d->children[c].name);
			d->children[c].name = nn;
		}
	}
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];

		if (!(n->flags & H5FS_NF_NPY)) {
			free(n->npy);
			n->npy = NULL;
			n->npy_len = 0;
		}
	}
}

void h5fs_index_release(struct h5fs_index *idx)
{
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];

		h5fs_ix_node_clear(n);
		free(n->npy);
		free(n->linktext);
		for (uint32_t c = 0; c < n->nchildren; c++)
			free(n->children[c].name);
		free(n->children);
		for (uint32_t a = 0; a < n->nattrs; a++) {
			free(n->attrs[a].name);
			free(n->attrs[a].value);
		}
		free(n->attrs);
	}
	free(idx->nodes);
	memset(idx, 0, sizeof(*idx));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run one child; collect its stream.  Returns 0 when the child finished,
 * else 1 with *sig set (the signal, or SIGKILL for a hang) and the
 * progress page telling where.
 */
static int run_child(const struct h5fs_index_opts *o, const struct build *bd, struct progress *pg, const struct skip *skips,
		     size_t nskips, unsigned int attempt, char **out, size_t *outlen, int *sig, int *hung)
{
	int pfd[2];
	pid_t pid;
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	uint64_t last_ticks;
	double last_change;
	int status = 0, eof = 0;

	*hung = 0;
	*sig = 0;
	if (!buf || pipe2(pfd, O_CLOEXEC) < 0) {
		free(buf);
		return -1;
	}
	memset((void *)pg, 0, sizeof(*pg));
	fflush(NULL);
	/* no HDF5 call of another thread is under way while we fork (env) */
	if (bd->env && bd->env->before_fork)
		bd->env->before_fork(bd->env->arg);
	pid = fork();
	if (pid != 0 && bd->env && bd->env->after_fork)
		bd->env->after_fork(bd->env->arg);
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		free(buf);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGPIPE, SIG_DFL);
		h5fs_ix_child_main(pfd[1], pg, skips, nskips, o, attempt, bd->env ? bd->env->known : NULL, bd->ext);
		_exit(0);
	}
	close(pfd[1]);
	last_ticks = pg->ticks;
	last_change = now_s();
	while (!eof) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		int rc = poll(&p, 1, 100);

		if (rc > 0) {
			ssize_t n;

			if (len == cap) {
				char *nb = realloc(buf, cap * 2);

				if (!nb) {
					kill(pid, SIGKILL);
					break;
				}
				buf = nb;
				cap *= 2;
			}
			n = read(pfd[0], buf + len, cap - len);
			if (n > 0)
				len += (size_t)n;
			else if (n == 0)
				eof = 1;
			else if (errno != EINTR && errno != EAGAIN)
				eof = 1;
		}
		if (pg->ticks != last_ticks) {
			last_ticks = pg->ticks;
			last_change = now_s();
		} else if (now_s() - last_change > o->index_timeout) {
			kill(pid, SIGKILL);
			*hung = 1;
			break;
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*out = buf;
	*outlen = len;
	if (*hung) {
		*sig = SIGKILL;
		return 1;
	}
	if (WIFSIGNALED(status)) {
		*sig = WTERMSIG(status);
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		*sig = 0;
		return 2;
	}
	return 0;
}

int h5fs_index_build(struct h5fs_index *idx, const struct h5fs_index_opts *o, const struct h5fs_index_env *env)
{
	int ret;

	struct h5fs_exttab priv = { 0 };
	struct build bd = { env, env && env->ext ? env->ext : &priv };

	ret = index_build(idx, o, &bd);
	h5fs_ext_release(&priv);
	return ret;
}

/* SOURCE is a regular file with an HDF5 signature: 0, or an exit code after one line. */
static int check_source(const struct h5fs_index_opts *o)
{
	struct stat st;
	int fd = open(o->source_abs, O_RDONLY | O_CLOEXEC), ok;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "h5fs: cannot open '%s': %s\n", o->source, strerror(errno));
		if (fd >= 0)
			close(fd);
		return H5FS_EXIT_OPEN;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "h5fs: cannot open '%s': not a regular file (directory mode is not supported yet)\n",
			o->source);
		close(fd);
		return H5FS_EXIT_OPEN;
	}
	ok = h5fs_ix_is_hdf5(fd, st.st_size);
	close(fd);
	if (!ok) {
		fprintf(stderr, "h5fs: cannot open '%s': not an HDF5 file (no signature)\n", o->source);
		return H5FS_EXIT_OPEN;
	}
	return 0;
}

/* A child that finished: its stream into @p idx; 0 or an exit code after one line. */
static int take_stream(struct h5fs_index *idx, const struct h5fs_index_opts *o, const struct build *bd, char *buf,
		       size_t len, unsigned int attempt)
{
	uint32_t nfiles = bd->ext->n;
	char *xmsg = NULL;
	int xcode = 0, prc;

	h5fs_ix_ext_links_begin(bd->ext);
	prc = h5fs_ix_parse_stream(idx, bd->ext, buf, len, &xcode, &xmsg);
	free(buf);
	if (prc != 0)
		h5fs_ix_ext_rollback(bd->ext, nfiles);	/* the files only a refused stream named */
	if (prc == 1) {
		/* a re-index that met a writer: the follower says so, and looks again */
		if (!(bd->env && bd->env->known && xcode == H5FS_EXIT_LOCKED))
			fprintf(stderr, "h5fs: cannot mount '%s': %s\n", o->source, xmsg ? xmsg : "cannot open the file");
		free(xmsg);
		h5fs_index_release(idx);
		return xcode ? xcode : H5FS_EXIT_OPEN;
	}
	if (prc < 0 || idx->nnodes == 0) {
		fprintf(stderr, "h5fs: cannot index '%s': the indexer's output is malformed\n", o->source);
		h5fs_index_release(idx);
		return H5FS_EXIT_CORRUPT;
	}
	idx->restarts = attempt;
	/* this index's external links replace the last one's */
	h5fs_ix_ext_links_keep(bd->ext);
	return 0;
}

struct skips {
	struct skip *v;
	size_t n;
};

/*
 * The child crashed, hung (@p hung) or failed (@p rc 2) at the step the
 * progress page @p pg shows: add it to the skip list for the next child
 * (0), or give up on the file (an exit code, after one line).
 */
static int after_crash(const struct h5fs_index_opts *o, const struct progress *pg, int rc, int sig, int hung,
		       unsigned int attempt, struct skips *sk)
{
	uint32_t ph = pg->phase;
	uint64_t addr = pg->addr, i = pg->idx;
	const char *how = hung ? "hung" : rc == 2 ? "failed" : "crashed";
	struct skip *ns;

	if (ph <= P_OPEN || (ph == P_INFO && addr == 0 && i == 0) || ph == P_DONE || rc == 2) {
		fprintf(stderr, "h5fs: cannot mount '%s': the file is corrupt (libhdf5 %s%s%s while %s)\n",
			o->source, how, sig && !hung ? " with " : "", sig && !hung ? strsignal(sig) : "",
			ph < sizeof(phase_names) / sizeof(*phase_names) ? phase_names[ph] : "indexing");
		return H5FS_EXIT_CORRUPT;
	}
	if (attempt >= H5FS_MAX_RESTARTS) {
		fprintf(stderr, "h5fs: cannot mount '%s': the file is corrupt (libhdf5 %s %u times)\n",
			o->source, how, attempt + 1);
		return H5FS_EXIT_CORRUPT;
	}
	if (!(ns = realloc(sk->v, (sk->n + 1) * sizeof(*ns))))
		return H5FS_EXIT_OPEN;
	sk->v = ns;
	/* a group whose listing crashed is skipped whole; an object's
	   second crashing attribute skips the rest of them */
	if (ph == P_LIST || ph == P_PROBE) {
		i = IDX_ALL;
	} else if (ph == P_ATTR) {
		for (size_t k = 0; k < sk->n; k++)
			if (sk->v[k].phase == P_ATTR && sk->v[k].addr == addr)
				i = IDX_ALL;
	}
	for (size_t k = 0; k < sk->n; k++) {
		if (sk->v[k].phase == ph && sk->v[k].addr == addr && (sk->v[k].idx == i || sk->v[k].idx == IDX_ALL)) {
			fprintf(stderr, "h5fs: cannot mount '%s': the file is corrupt (libhdf5 %s twice at the same place)\n",
				o->source, how);
			return H5FS_EXIT_CORRUPT;
		}
	}
	sk->v[sk->n++] = (struct skip){ ph, addr, i };
	h5fs_log(H5FS_LOG_WARN, "indexer %s%s%s while %s (object at %" PRIu64 ", index %" PRId64 "); that part is skipped and answers EIO",
		 how, sig && !hung ? " with " : "", sig && !hung ? strsignal(sig) : "",
		 phase_names[ph], addr, i == IDX_ALL ? (int64_t)-1 : (int64_t)i);
	return 0;
}

/* The daemon's view of a parsed index: counts, sorted listings, the npy view; 0 or an exit code. */
static int finish(struct h5fs_index *idx, const struct h5fs_index_opts *o)
{
	for (uint32_t i = 0; i < idx->nnodes; i++) {
		struct h5fs_node *n = &idx->nodes[i];

		atomic_init(&n->nlookup, 0);
		n->rd = NULL;
		/* ops_file.c replies from SOURCE's descriptor: not for other files */
		if (h5fs_ext_file_of(n))
			n->flags &= ~H5FS_NF_CONTIG;
		if (n->kind == H5FS_NK_EXTLINK && n->errmsg && o->follow_external)
			h5fs_log(H5FS_LOG_WARN, "external link '%s': %s", n->path ? n->path : "?", n->errmsg);
		if (n->flags & (H5FS_NF_BAD | H5FS_NF_DATA_BAD | H5FS_NF_LIST_BAD))
			idx->nbad++;
		if (n->kind == H5FS_NK_GROUP)
			sort_dir(n, idx);
	}
	if (o->view == H5FS_VIEW_NPY) {
		apply_npy(idx);
		for (uint32_t i = 0; i < idx->nnodes; i++)
			if (idx->nodes[i].kind == H5FS_NK_GROUP)
				sort_dir(&idx->nodes[i], idx);
	}
	if (idx->nodes[0].kind != H5FS_NK_GROUP) {
		fprintf(stderr, "h5fs: cannot mount '%s': the root group cannot be read (%s)\n", o->source,
			idx->nodes[0].errmsg ? idx->nodes[0].errmsg : "unknown reason");
		h5fs_index_release(idx);
		return H5FS_EXIT_CORRUPT;
	}
	return 0;
}

static int index_build(struct h5fs_index *idx, const struct h5fs_index_opts *o, const struct build *bd)
{
	struct skips sk = { NULL, 0 };
	struct progress *pg;
	int ret;

	memset(idx, 0, sizeof(*idx));
	if ((ret = check_source(o)) != 0)
		return ret;
	pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pg == MAP_FAILED) {
		fprintf(stderr, "h5fs: cannot index '%s': %s\n", o->source, strerror(errno));
		return H5FS_EXIT_OPEN;
	}
	for (unsigned int attempt = 0;; attempt++) {
		char *buf = NULL;
		size_t len = 0;
		int sig = 0, hung = 0;
		int rc = run_child(o, bd, pg, sk.v, sk.n, attempt, &buf, &len, &sig, &hung);

		if (rc < 0) {
			fprintf(stderr, "h5fs: cannot index '%s': %s\n", o->source, strerror(errno));
			free(buf);
			ret = H5FS_EXIT_OPEN;
			break;
		}
		if (rc == 0) {
			ret = take_stream(idx, o, bd, buf, len, attempt);
			break;
		}
		free(buf);
		if ((ret = after_crash(o, pg, rc, sig, hung, attempt, &sk)) != 0)
			break;
	}
	munmap(pg, sizeof(*pg));
	free(sk.v);
	return ret ? ret : finish(idx, o);
}

int h5fs_index_build_live(struct h5fs_index *idx, const struct h5fs_index_opts *o, const struct h5fs_index_env *env,
			  double patience, h5fs_live_watch *w, h5fs_live_mark *at, h5fs_live_holder *held)
{
	double t0 = now_s();
	useconds_t pause_us = 2000;

	for (;;) {
		h5fs_live_mark m0, m1;
		h5fs_live_holder h;
		double left = patience - (now_s() - t0);
		int rc = h5fs_live_wait(&h, o->source_abs, left > 0 ? left : 0), same = 0;

		if (rc == H5FS_ELOCKED) {
			if (patience > 0)
				fprintf(stderr, "h5fs: cannot mount '%s': %s\n", o->source, h5fs_error_last()->message);
			return H5FS_INDEX_HELD;
		}
		if (rc < 0 || h5fs_live_mark_get(&m0, w, o->source_abs) < 0) {
			fprintf(stderr, "h5fs: cannot open '%s': %s\n", o->source, h5fs_error_last()->message);
			return H5FS_EXIT_OPEN;
		}
		h5fs_log_capture_begin();
		rc = h5fs_index_build(idx, o, env);
		if (h5fs_live_mark_get(&m1, w, o->source_abs) == 0)
			/* a SWMR writer appends meanwhile, which changes no structure */
			same = h5fs_live_mark_same(&m0, &m1, h.state == H5FS_LIVE_SWMR);
		h5fs_log_capture_end(same);
		if (same) {
			*at = h.state == H5FS_LIVE_SWMR ? m1 : m0;
			if (held)
				*held = h;
			return rc;
		}
		if (rc == 0)
			h5fs_index_release(idx);
		if (now_s() - t0 >= patience) {
			if (patience > 0)
				fprintf(stderr, "h5fs: cannot mount '%s': it kept changing while it was indexed (%.1f s)\n",
					o->source, patience);
			return H5FS_INDEX_CHANGED;
		}
		h5fs_log(H5FS_LOG_DEBUG, "'%s' changed while it was indexed: again", o->source_abs);
		usleep(pause_us);
		if (pause_us < 100000)
			pause_us *= 2;
	}
}
