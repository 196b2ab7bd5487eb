/*
 * External files (-o follow_external), the daemon's side: the table of
 * files the indexer's children found (engine/ext.h) and every external
 * link of the last index built, filled from the record stream (wire.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

/* ---- external links (-o follow_external) ----- */

/* the link index of a followed external link, in progress records */
#define FOLLOW_BIT ((uint64_t)1 << 62)
#define MAX_XFILES 255

/* the daemon's table of external files (engine/ext.h); index 0 is SOURCE */
static struct {
	char **paths;
	int *fds;
	uint32_t n, cap;
} ext_tab;

/* every external link of the last index built: (file, link path) -> value */
struct ext_link {
	uint32_t file;
	char *lpath, *tfile, *tpath;
};

static struct {
	struct ext_link *v;
	size_t n, cap;
} ext_links, ext_links_new;

static int ext_link_cmp(const void *a, const void *b)
{
	const struct ext_link *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return strcmp(x->lpath, y->lpath);
}

static void ext_links_free(struct ext_link *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].lpath);
		free(v[i].tfile);
		free(v[i].tpath);
	}
	free(v);
}

int h5fs_ext_link(const struct h5fs_node *dir, const char *name, const char **file, const char **path)
{
	struct ext_link key;
	const struct ext_link *hit;
	char *lp = NULL;

	if (!ext_links.n || !dir->path)
		return 0;
	if (asprintf(&lp, "%s%s%s", dir->path, strcmp(dir->path, "/") ? "/" : "", name) < 0)
		return 0;
	key.file = h5fs_ext_file_of(dir);
	key.lpath = lp;
	hit = bsearch(&key, ext_links.v, ext_links.n, sizeof(key), ext_link_cmp);
	free(lp);
	if (!hit)
		return 0;
	*file = hit->tfile;
	*path = hit->tpath;
	return 1;
}

int h5fs_ext_fd(uint32_t file)
{
	return file && file < ext_tab.n ? ext_tab.fds[file] : -1;
}

const char *h5fs_ext_path(uint32_t file)
{
	return file && file < ext_tab.n ? ext_tab.paths[file] : NULL;
}

uint32_t h5fs_ext_count(void)
{
	return ext_tab.n ? ext_tab.n : 1;
}

/* External file @p k of the child's numbering is @p path (taken). */
int h5fs_ix_ext_add(uint32_t k, char *path)
{
	if (k == 0 || k >= MAX_XFILES)
		return -1;
	if (k < ext_tab.n) {
		/* a re-index meets a file it already knew */
		int same = ext_tab.paths[k] && !strcmp(ext_tab.paths[k], path);

		free(path);
		return same ? 0 : -1;
	}
	if (k != (ext_tab.n ? ext_tab.n : 1))
		return -1;
	if (k + 1 > ext_tab.cap) {
		uint32_t nc = ext_tab.cap ? ext_tab.cap * 2 : 8;
		char **np = realloc(ext_tab.paths, nc * sizeof(*np));
		int *nf;

		if (!np)
			return -1;
		ext_tab.paths = np;
		nf = realloc(ext_tab.fds, nc * sizeof(*nf));
		if (!nf)
			return -1;
		ext_tab.fds = nf;
		ext_tab.cap = nc;
	}
	ext_tab.paths[0] = NULL;
	ext_tab.fds[0] = -1;
	ext_tab.paths[k] = path;
	ext_tab.fds[k] = open(path, O_RDONLY | O_CLOEXEC);
	if (ext_tab.fds[k] < 0)
		h5fs_log(H5FS_LOG_WARN, "external file '%s': %s; its data reads give EIO", path, strerror(errno));
	else
		h5fs_log(H5FS_LOG_INFO, "following external links into '%s'", path);
	ext_tab.n = k + 1;
	return 0;
}

/* A new index is being read: the external links it names start empty. */
void h5fs_ix_ext_links_begin(void)
{
	ext_links_free(ext_links_new.v, ext_links_new.n);
	memset(&ext_links_new, 0, sizeof(ext_links_new));
}

/* External link @p lpath of file @p file leads to @p tfile::@p tpath (all taken): 0 or -1. */
int h5fs_ix_ext_link_add(uint32_t file, char *lpath, char *tfile, char *tpath)
{
	struct ext_link l = { file, lpath, tfile, tpath };

	if (!lpath || !tfile || !tpath)
		goto fail;
	if (ext_links_new.n == ext_links_new.cap) {
		size_t nc = ext_links_new.cap ? ext_links_new.cap * 2 : 16;
		struct ext_link *nv = realloc(ext_links_new.v, nc * sizeof(*nv));

		if (!nv)
			goto fail;
		ext_links_new.v = nv;
		ext_links_new.cap = nc;
	}
	ext_links_new.v[ext_links_new.n++] = l;
	return 0;
fail:
	free(lpath);
	free(tfile);
	free(tpath);
	return -1;
}

/* The index read is the one the daemon serves: its external links replace the last one's. */
void h5fs_ix_ext_links_keep(void)
{
	ext_links_free(ext_links.v, ext_links.n);
	ext_links = ext_links_new;
	memset(&ext_links_new, 0, sizeof(ext_links_new));
	if (ext_links.n)
		qsort(ext_links.v, ext_links.n, sizeof(*ext_links.v), ext_link_cmp);
}
