/*
 * dir.c - a store in a local directory (file:///DIR).
 *
 * An object is a file under DIR at its key's path.  It is written under a
 * temporary name beside it (".NAME.tmp-PID-N": names starting with a dot
 * are never listed), fsynced, renamed into place, and the directory is
 * fsynced: after a crash an object is either whole or absent.
 */
#include "store_priv.h"
#include "etcd-medic/durable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (1 << 20)
#define MAX_DEPTH 8

/* Temporary names only need to differ within one process. */
static atomic_uint tmp_seq;

static char *join(const char *dir, const char *key)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", dir, key) < 0)
		return NULL;
	return p;
}

/* mkdir -p of path's parent; *parent gets it (malloc'ed). */
static enum em_status make_parent(const char *path, char **parent,
                                  struct em_error *err)
{
	char *p = strdup(path), *slash;

	if (p == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	slash = strrchr(p, '/');
	if (slash != NULL && slash != p)
		*slash = '\0';
	for (char *q = p + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0750) != 0 && errno != EEXIST) {
			int e = errno;

			em_error_errno(err, EM_EIO, e, "store: mkdir %s", p);
			free(p);
			return EM_EIO;
		}
		*q = '/';
	}
	if (mkdir(p, 0750) != 0 && errno != EEXIST) {
		int e = errno;

		em_error_errno(err, EM_EIO, e, "store: mkdir %s", p);
		free(p);
		return EM_EIO;
	}
	*parent = p;
	return EM_OK;
}

static char *tmp_name(const char *path)
{
	const char *base = strrchr(path, '/');
	char *p = NULL;

	base = base ? base + 1 : path;
	if (asprintf(&p, "%.*s.%s.tmp-%ld-%u", (int)(base - path), path, base,
	             (long)getpid(), atomic_fetch_add(&tmp_seq, 1)) < 0)
		return NULL;
	return p;
}

static enum em_status copy_fd(int in, int out, const char *from,
                              const char *to, struct em_error *err)
{
	char *buf = malloc(COPY_BUF);
	enum em_status rc = EM_OK;
	ssize_t n;

	if (buf == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	while ((n = read(in, buf, COPY_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = em_error_errno(err, EM_EIO, errno, "store: read %s",
			                    from);
			break;
		}
		for (ssize_t off = 0, w; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w < 0) {
				free(buf);
				return em_error_errno(err, EM_EIO, errno,
				                      "store: write %s", to);
			}
		}
	}
	free(buf);
	return rc;
}

/* tmp is complete: make it durable and give it its name. */
static enum em_status commit(const char *tmp, const char *path,
                             const char *parent, struct em_error *err)
{
	enum em_status rc = em_fsync_path(tmp, 0, err);

	if (rc != EM_OK)
		return rc;
	if (rename(tmp, path) != 0)
		return em_error_errno(err, EM_EIO, errno, "store: rename %s",
		                      path);
	return em_fsync_path(parent, O_DIRECTORY, err);
}

static enum em_status copy_in(const char *src, const char *tmp,
                              struct em_error *err)
{
	enum em_status rc;
	int in, out;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return em_error_errno(err, EM_EIO, errno, "store: open %s", src);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0) {
		rc = em_error_errno(err, EM_EIO, errno, "store: create %s",
		                    tmp);
		close(in);
		return rc;
	}
	rc = copy_fd(in, out, src, tmp, err);
	close(in);
	if (close(out) != 0 && rc == EM_OK)
		rc = em_error_errno(err, EM_EIO, errno, "store: write %s", tmp);
	return rc;
}

static enum em_status dir_put_file(struct em_store *st, const char *key,
                                   const char *src, bool consume,
                                   struct em_error *err)
{
	char *path = join(st->dir, key), *tmp = NULL, *parent = NULL;
	enum em_status rc;

	if (path == NULL || (tmp = tmp_name(path)) == NULL) {
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
		goto cleanup;
	}
	rc = make_parent(path, &parent, err);
	if (rc != EM_OK)
		goto cleanup;
	if (consume && rename(src, tmp) == 0)
		rc = EM_OK;
	else
		rc = copy_in(src, tmp, err);
	if (rc == EM_OK)
		rc = commit(tmp, path, parent, err);
	if (rc != EM_OK)
		unlink(tmp);
cleanup:
	free(path);
	free(tmp);
	free(parent);
	return rc;
}

static enum em_status dir_put_buf(struct em_store *st, const char *key,
                                  const void *p, size_t n,
                                  struct em_error *err)
{
	char *path = join(st->dir, key), *tmp = NULL, *parent = NULL;
	enum em_status rc;
	int fd;

	if (path == NULL || (tmp = tmp_name(path)) == NULL) {
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
		goto cleanup;
	}
	rc = make_parent(path, &parent, err);
	if (rc != EM_OK)
		goto cleanup;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = em_error_errno(err, EM_EIO, errno, "store: create %s",
		                    tmp);
		goto cleanup;
	}
	rc = em_write_all(fd, p, n, tmp, err);
	if (close(fd) != 0 && rc == EM_OK)
		rc = em_error_errno(err, EM_EIO, errno, "store: write %s", tmp);
	if (rc == EM_OK)
		rc = commit(tmp, path, parent, err);
	if (rc != EM_OK)
		unlink(tmp);
cleanup:
	free(path);
	free(tmp);
	free(parent);
	return rc;
}

static enum em_status dir_get(struct em_store *st, const char *key,
                              em_store_write_fn write_fn, void *arg,
                              struct em_error *err)
{
	char *path = join(st->dir, key), *buf = NULL;
	enum em_status rc = EM_OK;
	ssize_t n;
	int fd = -1;

	if (path == NULL || (buf = malloc(COPY_BUF)) == NULL) {
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
		goto cleanup;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = em_error_errno(err, errno == ENOENT ? EM_ENOENT : EM_EIO,
		                    errno, "store: open %s", path);
		goto cleanup;
	}
	while (rc == EM_OK && (n = read(fd, buf, COPY_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = em_error_errno(err, EM_EIO, errno, "store: read %s",
			                    path);
		else
			rc = write_fn(arg, (const uint8_t *)buf, (size_t)n, err);
	}
cleanup:
	if (fd >= 0)
		close(fd);
	free(path);
	free(buf);
	return rc;
}

/* The parent directories of a removed object, up to the root, when they
 * became empty. */
static void prune_parents(const char *root, char *path)
{
	size_t rl = strlen(root);
	char *slash;

	while ((slash = strrchr(path, '/')) != NULL &&
	       (size_t)(slash - path) > rl) {
		*slash = '\0';
		if (rmdir(path) != 0)
			break;
	}
}

static enum em_status dir_del(struct em_store *st, const char *key,
                              struct em_error *err)
{
	char *path = join(st->dir, key), *parent = NULL;
	enum em_status rc = EM_OK;

	if (path == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	if (unlink(path) != 0 && errno != ENOENT) {
		rc = em_error_errno(err, EM_EIO, errno, "store: remove %s",
		                    path);
		goto cleanup;
	}
	parent = strdup(path);
	if (parent != NULL)
		prune_parents(st->dir, parent);
	free(parent);
	parent = strdup(st->dir);
	if (parent != NULL)
		rc = em_fsync_path(parent, O_DIRECTORY, err);
cleanup:
	free(parent);
	free(path);
	return rc;
}

static enum em_status walk(const char *root, const char *rel, int depth,
                           const char *prefix, struct em_store_list *out,
                           struct em_error *err);

static enum em_status walk_entry(const char *root, const char *rel,
                                 const char *name, int depth,
                                 const char *prefix,
                                 struct em_store_list *out,
                                 struct em_error *err)
{
	char *key = NULL, *path = NULL;
	enum em_status rc = EM_OK;
	struct stat sb;

	if (asprintf(&key, "%s%s%s", rel, *rel ? "/" : "", name) < 0 ||
	    (path = join(root, key)) == NULL) {
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
		goto cleanup;
	}
	if (lstat(path, &sb) != 0) {
		/* Removed while we looked: not there. */
		if (errno != ENOENT)
			rc = em_error_errno(err, EM_EIO, errno, "store: stat %s",
			                    path);
		goto cleanup;
	}
	if (S_ISDIR(sb.st_mode))
		rc = walk(root, key, depth + 1, prefix, out, err);
	else if (S_ISREG(sb.st_mode) &&
	         strncmp(key, prefix, strlen(prefix)) == 0 &&
	         !store_list_add(out, key, strlen(key), (uint64_t)sb.st_size))
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
cleanup:
	free(key);
	free(path);
	return rc;
}

static enum em_status walk(const char *root, const char *rel, int depth,
                           const char *prefix, struct em_store_list *out,
                           struct em_error *err)
{
	char *path = *rel ? join(root, rel) : strdup(root);
	enum em_status rc = EM_OK;
	struct dirent *de;
	DIR *d;

	if (path == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	d = opendir(path);
	if (d == NULL) {
		rc = errno == ENOENT && *rel ? EM_OK
		     : em_error_errno(err, EM_EIO, errno, "store: open %s",
		                      path);
		free(path);
		return rc;
	}
	while (rc == EM_OK && depth < MAX_DEPTH && (de = readdir(d)) != NULL) {
		/* Dot names: ".", "..", and objects being written. */
		if (de->d_name[0] == '.')
			continue;
		rc = walk_entry(root, rel, de->d_name, depth, prefix, out, err);
	}
	closedir(d);
	free(path);
	return rc;
}

static enum em_status dir_list(struct em_store *st, const char *prefix,
                               struct em_store_list *out,
                               struct em_error *err)
{
	return walk(st->dir, "", 0, prefix, out, err);
}

static void dir_free(struct em_store *st)
{
	(void)st;
}

static const struct store_ops dir_ops = {
	dir_list, dir_put_file, dir_put_buf, dir_get, dir_del, dir_free,
};

enum em_status store_dir_open(struct em_store *st, const char *dir,
                              struct em_error *err)
{
	char *parent = NULL, *probe = NULL;
	size_t n = strlen(dir);
	enum em_status rc;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	st->dir = strndup(dir, n);
	if (st->dir == NULL || asprintf(&probe, "%s/x", st->dir) < 0)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	rc = make_parent(probe, &parent, err);
	free(probe);
	free(parent);
	/* A read-only store (a restore from a mounted backup) is fine: only
	 * writing to it will fail. */
	if (rc != EM_OK && access(st->dir, R_OK | X_OK) != 0)
		return rc;
	st->ops = &dir_ops;
	return EM_OK;
}
