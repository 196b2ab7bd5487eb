/*
 * External files (-o follow_external), the child's side: an external
 * link inside SOURCE's folder is resolved, its file opened (by libhdf5
 * only through h5fs's own callback: libhdf5 never follows one itself),
 * numbered as the daemon's table numbers it, and announced in an 'F'
 * record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5fs/sys/reader.h"
#include "indexer.h"

herr_t h5fs_ix_deny_elink(const char *pfile, const char *pgroup, const char *cfile, const char *cobj,
			 unsigned *flags, hid_t fapl, void *op)
{
	(void)pfile; (void)pgroup; (void)cfile; (void)cobj; (void)flags; (void)fapl; (void)op;
	return -1;
}

char *h5fs_ix_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		d = strdup(".");
	else if (slash == path)
		d = strdup("/");
	else
		d = strndup(path, (size_t)(slash - path));
	if (!d)
		_exit(4);
	return d;
}

void h5fs_ix_xf_open(struct walker *wk, uint32_t k, char **why)
{
	struct xfile *x = &wk->xf[k];
	struct stat st;

	x->fd = open(x->real, O_RDONLY | O_CLOEXEC);
	if (x->fd < 0 || fstat(x->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (asprintf(why, "not followed: '%s' %s", x->real,
			     x->fd < 0 ? strerror(errno) : "is not a regular file") < 0)
			*why = NULL;
		return;
	}
	x->size = (uint64_t)st.st_size;
	if (!h5fs_ix_is_hdf5(x->fd, st.st_size)) {
		if (asprintf(why, "not followed: '%s' is not an HDF5 file", x->real) < 0)
			*why = NULL;
		return;
	}
	/* without the OS lock, as SOURCE: never in a writer's way */
	if (h5fs_live_open(&x->fid, x->real, NULL) < 0) {
		x->fid = -1;
		if (asprintf(why, "not followed: %s", h5fs_error_last()->message) < 0)
			*why = NULL;
	}
}

/*
 * The file an external link of file @p from names, by the rules of
 * -o follow_external: a relative name is taken from the folder of the
 * file holding the link, the result is resolved with realpath(), and it
 * must lie inside SOURCE's folder.  0 and *out, or -1 and *why.
 */
int h5fs_ix_ext_resolve(struct walker *wk, uint32_t from, const char *fname, uint32_t *out, char **why)
{
	char *base = h5fs_ix_dir_of(from ? wk->xf[from].real : wk->o->source_abs), *cand = NULL, *real;
	size_t rl = strlen(wk->root_dir);
	uint32_t k;

	*why = NULL;
	if (asprintf(&cand, "%s%s%s", fname[0] == '/' ? "" : base, fname[0] == '/' ? "" : "/", fname) < 0)
		_exit(4);
	free(base);
	real = realpath(cand, NULL);
	if (!real) {
		if (asprintf(why, "not followed: '%s': %s", cand, strerror(errno)) < 0)
			*why = NULL;
		free(cand);
		return -1;
	}
	free(cand);
	if (strncmp(real, wk->root_dir, rl) || (strcmp(wk->root_dir, "/") && real[rl] != '/')) {
		if (asprintf(why, "not followed: '%s' lies outside '%s'", real, wk->root_dir) < 0)
			*why = NULL;
		free(real);
		return -1;
	}
	if (!strcmp(real, wk->o->source_abs)) {
		free(real);
		*out = 0;
		return 0;
	}
	for (k = 1; k < wk->nxf; k++)
		if (!strcmp(wk->xf[k].real, real))
			break;
	if (k == wk->nxf) {
		struct xfile *nx;

		if (k >= MAX_XFILES) {
			if (asprintf(why, "not followed: more than %d external files", MAX_XFILES - 1) < 0)
				*why = NULL;
			free(real);
			return -1;
		}
		nx = realloc(wk->xf, (size_t)(k + 1) * sizeof(*nx));
		if (!nx)
			_exit(4);
		wk->xf = nx;
		wk->xf[k].real = real;
		wk->xf[k].fid = -1;
		wk->xf[k].fd = -1;
		wk->xf[k].size = 0;
		wk->nxf++;
		h5fs_ix_wb_u8(&wk->w, 'F');
		h5fs_ix_wb_u32(&wk->w, k);
		h5fs_ix_wb_str(&wk->w, real);
	} else {
		free(real);
	}
	if (wk->xf[k].fid < 0)
		h5fs_ix_xf_open(wk, k, why);
	if (wk->xf[k].fid < 0) {
		if (!*why && asprintf(why, "not followed: '%s' cannot be opened", wk->xf[k].real) < 0)
			*why = NULL;
		return -1;
	}
	*out = k;
	return 0;
}

/* The child's table of files, numbered as the daemon's: SOURCE is 0. */
int h5fs_ix_xfiles_init(struct walker *wk, const struct h5fs_exttab *ext)
{
	wk->nxf = h5fs_ext_count(ext);
	wk->xf = calloc(wk->nxf, sizeof(*wk->xf));
	if (!wk->xf)
		return -1;
	for (uint32_t k = 0; k < wk->nxf; k++) {
		wk->xf[k].real = (char *)h5fs_ext_path(ext, k);
		wk->xf[k].fid = k ? -1 : wk->fid;
		wk->xf[k].fd = k ? -1 : wk->fd;
		wk->xf[k].size = k ? 0 : wk->file_size;
	}
	return 0;
}

int h5fs_ix_is_hdf5(int fd, off_t size)
{
	static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
	unsigned char b[8];

	for (off_t off = 0; off + 8 <= size; off = off ? off * 2 : 512) {
		if (pread(fd, b, 8, off) != 8)
			return 0;
		if (!memcmp(b, sig, 8))
			return 1;
	}
	return 0;
}
