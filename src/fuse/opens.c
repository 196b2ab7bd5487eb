/*
 * Whether a close is the last one: other descriptors of the closing
 * process that still name the same file of the mount.
 *
 * FUSE sends FLUSH for every close(2) and RELEASE (asynchronously: the
 * close has returned by then) after the last one.  The shell's `>`
 * opens the file, dup2()s it to 1 and closes the first descriptor
 * before anything is written, so a FLUSH may well be followed by more
 * writes to the same open file; a commit there would empty the dataset
 * before the data arrives (DESIGN.md section 5).
 *
 * The closing process's other descriptors tell.  A descriptor is on our
 * file when its inode (/proc/PID/fdinfo "ino:") is the node's and its
 * mount (fdinfo "mnt_id:", looked up in the process's own
 * /proc/PID/mountinfo) has our mount's device: that holds through bind
 * mounts, containers and chroots, whatever path the process sees, and
 * for every hard link's name.  Only descriptors whose link (readlink(),
 * which asks the filesystem nothing, so no request of ours waits for
 * another) is a path are looked at so.  A process whose descriptors we
 * may not read counts as holding the file (more may follow), and so does
 * a descriptor whose fdinfo lacks "ino:" (Linux before 5.14): the commit
 * then waits for the last close.  Descriptors shared with other
 * processes through fork (the same open file in a parent and a child)
 * are not seen.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5fs/sys/live.h"
#include "h5fs_ll.h"

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

/* Whether mount @p mnt of @p pid's namespace has device @p dev ("MAJOR:MINOR"); 1 when unknown. */
static int mount_is(long pid, long mnt, const char *dev)
{
	char *path = NULL, *line = NULL;
	size_t cap = 0;
	int is = -1;
	FILE *f;

	if (!dev || asprintf(&path, "/proc/%ld/mountinfo", pid) < 0)
		return 1;
	f = fopen(path, "re");
	free(path);
	if (!f)
		return 1;
	while (is < 0 && getline(&line, &cap, f) > 0) {
		long id;
		char mdev[64];

		if (sscanf(line, "%ld %*d %63s", &id, mdev) == 2 && id == mnt)
			is = !strcmp(mdev, dev);
	}
	free(line);
	fclose(f);
	return is != 0;
}

int h5fs_ll_open_elsewhere(struct h5fs_ll *ll, pid_t pid, const struct h5fs_node *n)
{
	unsigned long long want = (unsigned long long)h5fs_ll_ino(ll, n);
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
		unsigned long long ino = 0;
		long mnt = 0;
		char *target;

		if (e->d_name[0] == '.' || !(target = read_link(dirfd(d), e->d_name)))
			continue;
		/* a file (not a pipe, socket or anon inode), by whichever of its names */
		if (target[0] == '/')
			found = h5fs_live_fdinfo((long)pid, e->d_name, &ino, &mnt) != 3 ||
				(ino == want && mount_is((long)pid, mnt, ll->mnt_dev));
		free(target);
	}
	closedir(d);
	return found;
}
