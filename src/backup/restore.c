/*
 * restore.c - a new data dir from a snapshot file, built by etcd's own
 * tool (em_backup_restore in backup.h).
 *
 * etcd's tool writes the member's db and a WAL and snap that start a new
 * cluster of the given members at the snapshot's revision; it is run into
 * a temporary directory beside the data dir (same filesystem), whose files
 * are then fsynced, and which is renamed onto the data dir: etcd never
 * finds a half-restored data dir.
 */
#include "backup_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "etcd-medic/log.h"

/* The first of names found on PATH, into out. */
static bool on_path(const char *const *names, char *out, size_t size)
{
	const char *path = getenv("PATH");

	for (size_t i = 0; names[i] != NULL; i++) {
		const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin";

		while (*p != '\0') {
			size_t n = strcspn(p, ":");

			snprintf(out, size, "%.*s/%s", (int)n, p, names[i]);
			if (n > 0 && access(out, X_OK) == 0)
				return true;
			p += n + (p[n] == ':');
		}
	}
	return false;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int sync_one(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
	int fd;

	(void)sb;
	(void)ftw;
	if (flag != FTW_F && flag != FTW_DP && flag != FTW_D)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Empty (or absent): the restore may take its place. */
static enum em_status target_free(const char *dir, struct em_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = true;

	if (d == NULL)
		return errno == ENOENT ? EM_OK
		       : em_error_errno(err, EM_EIO, errno, "restore: %s",
		                        dir);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	if (!empty)
		return em_error_set(err, EM_EBUSY, "restore: %s is not empty: "
		                    "move it away first (a restore never "
		                    "overwrites data)", dir);
	return EM_OK;
}

static enum em_status run_tool(const char *tool, const char *const *argv,
                               struct em_error *err)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return em_error_errno(err, EM_EIO, errno, "restore: fork");
	if (pid == 0) {
		/* Its output is log material: stdout is the command's own. */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("ETCDCTL_API", "3", 1);
		execv(tool, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return em_error_errno(err, EM_EIO, errno,
			                      "restore: waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return EM_OK;
	return em_error_set(err, EM_EIO, "restore: %s snapshot restore failed "
	                    "(exit status %d; its output is in the log above)",
	                    tool, WIFEXITED(status) ? WEXITSTATUS(status)
	                                            : 128 + WTERMSIG(status));
}

static enum em_status restore_into(const struct em_restore_opts *o,
                                   const char *tool, const char *tmp,
                                   struct em_error *err)
{
	const char *argv[16];
	int n = 0;

	argv[n++] = tool;
	argv[n++] = "snapshot";
	argv[n++] = "restore";
	argv[n++] = o->snapshot;
	argv[n++] = "--data-dir";
	argv[n++] = tmp;
	argv[n++] = "--name";
	argv[n++] = o->name;
	argv[n++] = "--initial-cluster";
	argv[n++] = o->initial_cluster;
	argv[n++] = "--initial-advertise-peer-urls";
	argv[n++] = o->initial_advertise_peer_urls;
	if (o->initial_cluster_token != NULL) {
		argv[n++] = "--initial-cluster-token";
		argv[n++] = o->initial_cluster_token;
	}
	argv[n] = NULL;
	em_log(EM_LOG_INFO, "restoring a snapshot with etcd's tool", "tool",
	       tool, "snapshot", o->snapshot, "into", tmp, NULL);
	return run_tool(tool, argv, err);
}

static enum em_status place(const char *tmp, const char *dir,
                            struct em_error *err)
{
	char *parent = strdup(dir), *slash;
	enum em_status rc = EM_OK;

	if (parent == NULL)
		return em_error_set(err, EM_ENOMEM, "restore: out of memory");
	if (nftw(tmp, sync_one, 16, FTW_PHYS | FTW_DEPTH) != 0 ||
	    chmod(tmp, 0700) != 0)
		rc = em_error_errno(err, EM_EIO, errno, "restore: cannot sync "
		                    "%s", tmp);
	/* rename(2) replaces an empty directory. */
	else if (rename(tmp, dir) != 0)
		rc = em_error_errno(err, EM_EIO, errno, "restore: cannot move "
		                    "%s to %s", tmp, dir);
	else if ((slash = strrchr(parent, '/')) != NULL) {
		if (slash == parent)
			slash++;
		*slash = '\0';
		if (nftw(parent, sync_one, 1, FTW_PHYS) != 0 &&
		    sync_one(parent, NULL, FTW_D, NULL) != 0)
			rc = em_error_errno(err, EM_EIO, errno, "restore: fsync "
			                    "%s", parent);
	}
	free(parent);
	return rc;
}

enum em_status em_backup_restore(const struct em_restore_opts *o,
                                 struct em_error *err)
{
	static const char *const tools[] = { "etcdutl", "etcdctl", NULL };
	char tool[4096], *tmp = NULL;
	size_t dl = strlen(o->data_dir);
	enum em_status rc;

	while (dl > 1 && o->data_dir[dl - 1] == '/')
		dl--;
	if (o->tool != NULL)
		snprintf(tool, sizeof(tool), "%s", o->tool);
	else if (!on_path(tools, tool, sizeof(tool)))
		return em_error_set(err, EM_ENOENT, "restore: neither etcdutl "
		                    "(etcd 3.5 and later) nor etcdctl (3.4) is "
		                    "on PATH");
	rc = target_free(o->data_dir, err);
	if (rc != EM_OK)
		return rc;
	if (asprintf(&tmp, "%.*s.restore-%ld", (int)dl, o->data_dir,
	             (long)getpid()) < 0)
		return em_error_set(err, EM_ENOMEM, "restore: out of memory");
	/* Our own name: a crashed restore's leftover, never anyone's data. */
	nftw(tmp, rm_one, 16, FTW_PHYS | FTW_DEPTH);
	rc = restore_into(o, tool, tmp, err);
	if (rc == EM_OK)
		rc = place(tmp, o->data_dir, err);
	if (rc != EM_OK)
		nftw(tmp, rm_one, 16, FTW_PHYS | FTW_DEPTH);
	else
		em_log(EM_LOG_INFO, "data dir restored", "data-dir",
		       o->data_dir, "snapshot", o->snapshot, NULL);
	free(tmp);
	return rc;
}
