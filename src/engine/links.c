/*
 * What a link node shows as its symlink text: an external link its
 * "file:path" value, a soft link its target as a path relative to the
 * link's own directory (ops_file.c's readlink replies with it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "served.h"

/* Split an HDF5 path into components, dropping empty ones and ".". */
static size_t split_path(char *p, char **comp, size_t max)
{
	size_t n = 0;

	for (char *s = strtok(p, "/"); s && n < max; s = strtok(NULL, "/"))
		if (strcmp(s, "."))
			comp[n++] = s;
	return n;
}

/* The node at absolute @p path, not following links; NULL when absent. */
static struct h5fs_node *resolve(struct h5fs_served *f, char **comp, size_t n)
{
	struct h5fs_node *cur = &f->idx.nodes[0];

	for (size_t i = 0; i < n; i++) {
		const struct h5fs_entry *e;

		if (cur->kind != H5FS_NK_GROUP)
			return NULL;
		e = h5fs_index_find(cur, comp[i]);
		if (!e) {
			/* in the npy view the stored name lacks ".npy" */
			char *nn = NULL;

			if (asprintf(&nn, "%s.npy", comp[i]) < 0)
				return NULL;
			e = h5fs_index_find(cur, nn);
			free(nn);
			if (!e)
				return NULL;
		}
		cur = &f->idx.nodes[e->node];
	}
	return cur;
}

/*
 * A soft link's target relative to the link's own group, so the link
 * works wherever the mount is (and under bind mounts).  A relative link
 * value is resolved against the link's group by HDF5, as a symlink's is,
 * so both forms become one path relative to the link's directory; in the
 * npy view a target that is shown as NAME.npy gets the suffix too.
 */
static int soft_target(struct h5fs_served *f, struct h5fs_node *n, char **out)
{
	size_t plen = strlen(n->path), tlen = strlen(n->target);
	char *from = strdup(n->path), *to = malloc(plen + tlen + 8);
	size_t nf, nt, common = 0, cap, len = 0;
	char **cf = NULL, **ct = NULL;
	struct h5fs_node *tn;
	char *res = NULL;
	int err = 0;

	if (!from || !to) {
		err = ENOMEM;
		goto out;
	}
	if (n->target[0] == '/')
		strcpy(to, n->target);
	else
		sprintf(to, "%s/../%s", n->path, n->target);
	cf = calloc(plen + 1, sizeof(char *));
	ct = calloc(plen + tlen + 2, sizeof(char *));
	if (!cf || !ct) {
		err = ENOMEM;
		goto out;
	}
	nf = split_path(from, cf, plen + 1);
	nt = split_path(to, ct, plen + tlen + 2);
	if (nf > 0)
		nf--;		/* the link's directory */
	/* fold "name/.." pairs (a relative value was appended to the link) */
	{
		size_t k = 0;

		for (size_t i = 0; i < nt; i++) {
			if (!strcmp(ct[i], "..") && k > 0 && strcmp(ct[k - 1], ".."))
				k--;
			else
				ct[k++] = ct[i];
		}
		nt = k;
	}
	tn = resolve(f, ct, nt);
	while (common < nf && common < nt && !strcmp(cf[common], ct[common]))
		common++;
	cap = 3 * (nf - common) + plen + tlen + 8;
	res = malloc(cap);
	if (!res) {
		err = ENOMEM;
		goto out;
	}
	for (size_t i = common; i < nf; i++)
		len += (size_t)sprintf(res + len, "%s..", len ? "/" : "");
	for (size_t i = common; i < nt; i++)
		len += (size_t)sprintf(res + len, "%s%s", len ? "/" : "", ct[i]);
	if (!len)
		len += (size_t)sprintf(res, ".");
	if (tn && (tn->flags & H5FS_NF_NPY) && nt > common)
		len += (size_t)sprintf(res + len, ".npy");
	res[len] = '\0';
	*out = res;
	res = NULL;
out:
	free(from);
	free(to);
	free(cf);
	free(ct);
	free(res);
	return err;
}

int h5fs_links_text(struct h5fs_served *f, struct h5fs_node *n)
{
	free(n->linktext);
	n->linktext = NULL;
	if (!n->target || !n->path)
		return 0;
	if (n->kind == H5FS_NK_EXTLINK)
		return (n->linktext = strdup(n->target)) ? 0 : ENOMEM;
	if (n->kind == H5FS_NK_SOFTLINK)
		return soft_target(f, n, &n->linktext);
	return 0;
}

int h5fs_links_init(struct h5fs_served *f)
{
	for (uint32_t i = 0; i < f->idx.nnodes; i++) {
		int err = h5fs_links_text(f, &f->idx.nodes[i]);

		if (err)
			return err;
	}
	return 0;
}
