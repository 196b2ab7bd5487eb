/*
 * systemd readiness without libsystemd: one datagram to $NOTIFY_SOCKET.
 *
 * The socket is a path, or an abstract name when it starts with '@'.
 * The variable is unset after use so child processes (the MPI helper)
 * do not report for us.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "h5fs_ll.h"

int h5fs_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t plen;
	ssize_t n;
	int fd, err = 0;

	if (!path || !*path)
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path)) {
		h5fs_log(H5FS_LOG_WARN, "NOTIFY_SOCKET '%s' is not a usable socket address", path);
		return -EINVAL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		h5fs_log(H5FS_LOG_WARN, "cannot notify '%s': %s", path, strerror(err));
		return -err;
	}
	n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (n < 0) {
		err = errno;
		h5fs_log(H5FS_LOG_WARN, "cannot notify '%s': %s", path, strerror(err));
	}
	close(fd);
	return -err;
}
