/*
 * durable.c - every byte written and fsync by path (durable.h).
 */
#include "etcd-medic/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

enum em_status em_write_all(int fd, const void *p, size_t n,
                            const char *path, struct em_error *err)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return em_error_errno(err, EM_EIO, errno, "cannot write "
			                      "%s", path);
		c += w;
		n -= (size_t)w;
	}
	return EM_OK;
}

enum em_status em_fsync_path(const char *path, int flags,
                             struct em_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags);

	if (fd < 0)
		return em_error_errno(err, EM_EIO, errno, "cannot open %s",
		                      path);
	if (fsync(fd) != 0) {
		int e = errno;

		close(fd);
		return em_error_errno(err, EM_EIO, e, "cannot fsync %s", path);
	}
	close(fd);
	return EM_OK;
}
