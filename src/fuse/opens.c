/*
 * Whether a close is the last one: other descriptors of the closing
 * process that still name the same file of the mount.
 *
 * FUSE sends FLUSH for every close(2) and RELEASE (asynchronously: the
 * close has returned by then) after the last one.  The shell's `>`
 * opens the file, dup2()s it to 1 and closes the first descriptor
 * before anything is written, so a FLUSH may well be followed by more
 * writes to the same open file; a commit there would empty the dataset
 * before the data arrives (DESIGN.md section 5).  The closing process's
 * other descriptors tell: /proc/PID/fd links (read with readlink(),
 * which asks the filesystem nothing, so no request of ours waits for
 * another) that lead into the mount and resolve in the tree to the
 * same node.  A process whose descriptors we may not read counts as
 * holding the file (more may follow).  Descriptors shared with other
 * processes through fork (the same open file in a parent and a child)
 * are not seen.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5fs_ll.h"

/* The node the mount-relative path @p rel names ('/'-separated), or NULL. */
static const struct h5fs_node *walk(struct h5fs_ll *ll, char *rel)
{
	const struct h5fs_node *cur = &ll->idx.nodes[0];
	char *save = NULL;

	for (char *c = strtok_r(rel, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		const struct h5fs_entry *e;

		if (cur->kind != H5FS_NK_GROUP || !(e = h5fs_index_find(cur, c)))
			return NULL;
		cur = &ll->idx.nodes[e->node];
	}
	return cur;
}

/* Whether the descriptor link @p target names node @p n of the mount. */
static int names_node(struct h5fs_ll *ll, const char *target, const struct h5fs_node *n)
{
	const char *mp = ll->opts->mountpoint;
	size_t ml = strlen(mp), tl = strlen(target);
	static const char deleted[] = " (deleted)";
	char *rel;
	int same;

	if (strncmp(target, mp, ml) || (target[ml] != '/' && target[ml] != '\0'))
		return 0;
	if (tl >= ml + sizeof(deleted) - 1 && !strcmp(target + tl - (sizeof(deleted) - 1), deleted))
		tl -= sizeof(deleted) - 1;
	if (!(rel = strndup(target + ml, tl - ml)))
		return 1;	/* cannot tell: more may follow */
	same = walk(ll, rel) == n;
	free(rel);
	return same;
}

/* The target of link @p name in folder @p dfd, malloc'd; NULL when it cannot be read. */
static char *read_link(int dfd, const char *name)
{
	size_t cap = 256;

	for (;;) {
		char *buf = malloc(cap);
		ssize_t len;

		if (!buf)
			return NULL;
		len = readlinkat(dfd, name, buf, cap);
		if (len < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)len < cap) {
			buf[len] = '\0';
			return buf;
		}
		free(buf);
		cap *= 2;
	}
}

int h5fs_ll_open_elsewhere(struct h5fs_ll *ll, pid_t pid, const struct h5fs_node *n)
{
	struct dirent *e;
	char *dir = NULL;
	DIR *d;
	int found = 0;

	if (pid <= 0 || asprintf(&dir, "/proc/%ld/fd", (long)pid) < 0)
		return 1;
	d = opendir(dir);
	free(dir);
	if (!d)
		return errno == ENOENT ? 0 : 1;	/* gone: nothing follows; not ours to read: may */
	while (!found && (e = readdir(d))) {
		char *target;

		if (e->d_name[0] == '.')
			continue;
		if (!(target = read_link(dirfd(d), e->d_name)))
			continue;
		found = names_node(ll, target, n);
		free(target);
	}
	closedir(d);
	return found;
}
