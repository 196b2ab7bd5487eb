/*
 * External files (-o follow_external), the daemon's side: a served
 * file's table of the files the indexer's children found (engine/ext.h)
 * and every external link of its last index, filled from the record
 * stream (wire.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

#define MAX_XFILES 255

static int ext_link_cmp(const void *a, const void *b)
{
	const struct h5fs_ext_link *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return strcmp(x->lpath, y->lpath);
}

static void ext_links_free(struct h5fs_ext_link *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].lpath);
		free(v[i].tfile);
		free(v[i].tpath);
	}
	free(v);
}

int h5fs_ext_link(const struct h5fs_exttab *x, const struct h5fs_node *dir, const char *name, const char **file,
		  const char **path)
{
	struct h5fs_ext_link key;
	const struct h5fs_ext_link *hit;
	char *lp = NULL;

	if (!x->nl || !dir->path)
		return 0;
	if (asprintf(&lp, "%s%s%s", dir->path, strcmp(dir->path, "/") ? "/" : "", name) < 0)
		return 0;
	key.file = h5fs_ext_file_of(dir);
	key.lpath = lp;
	hit = bsearch(&key, x->links, x->nl, sizeof(key), ext_link_cmp);
	free(lp);
	if (!hit)
		return 0;
	*file = hit->tfile;
	*path = hit->tpath;
	return 1;
}

int h5fs_ext_fd(const struct h5fs_exttab *x, uint32_t file)
{
	return file && file < x->n ? x->fds[file] : -1;
}

const char *h5fs_ext_path(const struct h5fs_exttab *x, uint32_t file)
{
	return file && file < x->n ? x->paths[file] : NULL;
}

uint32_t h5fs_ext_count(const struct h5fs_exttab *x)
{
	return x->n ? x->n : 1;
}

void h5fs_ext_release(struct h5fs_exttab *x)
{
	for (uint32_t k = 1; k < x->n; k++) {
		free(x->paths[k]);
		if (x->fds[k] >= 0)
			close(x->fds[k]);
	}
	free(x->paths);
	free(x->fds);
	ext_links_free(x->links, x->nl);
	ext_links_free(x->nlinks, x->nnl);
	memset(x, 0, sizeof(*x));
}

/* External file @p k of the child's numbering is @p path (taken, freed on failure too): 0 or -1. */
int h5fs_ix_ext_add(struct h5fs_exttab *x, uint32_t k, char *path)
{
	if (k == 0 || k >= MAX_XFILES)
		goto fail;
	if (k < x->n) {
		/* a re-index meets a file it already knew */
		int same = x->paths[k] && !strcmp(x->paths[k], path);

		free(path);
		return same ? 0 : -1;
	}
	if (k != (x->n ? x->n : 1))
		goto fail;
	if (k + 1 > x->cap) {
		uint32_t nc = x->cap ? x->cap * 2 : 8;
		char **np = realloc(x->paths, nc * sizeof(*np));
		int *nf;

		if (!np)
			goto fail;
		x->paths = np;
		nf = realloc(x->fds, nc * sizeof(*nf));
		if (!nf)
			goto fail;
		x->fds = nf;
		x->cap = nc;
	}
	x->paths[0] = NULL;
	x->fds[0] = -1;
	x->paths[k] = path;
	x->fds[k] = open(path, O_RDONLY | O_CLOEXEC);
	if (x->fds[k] < 0)
		h5fs_log(H5FS_LOG_WARN, "external file '%s': %s; its data reads give EIO", path, strerror(errno));
	else
		h5fs_log(H5FS_LOG_INFO, "following external links into '%s'", path);
	x->n = k + 1;
	return 0;
fail:
	free(path);
	return -1;
}

/* A parse that failed: the files it added (numbers @p n and up) go again. */
void h5fs_ix_ext_rollback(struct h5fs_exttab *x, uint32_t n)
{
	for (uint32_t k = n ? n : 1; k < x->n; k++) {
		free(x->paths[k]);
		x->paths[k] = NULL;
		if (x->fds[k] >= 0)
			close(x->fds[k]);
	}
	if (n < x->n)
		x->n = n;
}

/* A new index is being read: the external links it names start empty. */
void h5fs_ix_ext_links_begin(struct h5fs_exttab *x)
{
	ext_links_free(x->nlinks, x->nnl);
	x->nlinks = NULL;
	x->nnl = x->capnl = 0;
}

/* External link @p lpath of file @p file leads to @p tfile::@p tpath (all taken): 0 or -1. */
int h5fs_ix_ext_link_add(struct h5fs_exttab *x, uint32_t file, char *lpath, char *tfile, char *tpath)
{
	struct h5fs_ext_link l = { file, lpath, tfile, tpath };

	if (!lpath || !tfile || !tpath)
		goto fail;
	if (x->nnl == x->capnl) {
		size_t nc = x->capnl ? x->capnl * 2 : 16;
		struct h5fs_ext_link *nv = realloc(x->nlinks, nc * sizeof(*nv));

		if (!nv)
			goto fail;
		x->nlinks = nv;
		x->capnl = nc;
	}
	x->nlinks[x->nnl++] = l;
	return 0;
fail:
	free(lpath);
	free(tfile);
	free(tpath);
	return -1;
}

/* The index read is the one the daemon serves: its external links replace the last one's. */
void h5fs_ix_ext_links_keep(struct h5fs_exttab *x)
{
	ext_links_free(x->links, x->nl);
	x->links = x->nlinks;
	x->nl = x->nnl;
	x->nlinks = NULL;
	x->nnl = x->capnl = 0;
	if (x->nl)
		qsort(x->links, x->nl, sizeof(*x->links), ext_link_cmp);
}
