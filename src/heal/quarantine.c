/*
 * quarantine.c - moving a corrupt data dir aside (heal rule 6).
 *
 * Never a delete: the data dir is renamed within its filesystem, so the
 * move is atomic and costs nothing, and an empty data dir takes its place
 * for the new learner.  Only the newest heal.quarantine-keep quarantined
 * dirs of this member are kept, so that a member corrupted again and again
 * cannot fill the volume.
 */
#include "heal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "etcd-medic/durable.h"
#include "etcd-medic/log.h"

#define SUFFIX ".quarantine."

static const char *base_of(const char *path, char *buf, size_t n)
{
	snprintf(buf, n, "%s", path);
	return basename(buf);
}

static bool exists(const char *p)
{
	struct stat sb;

	return lstat(p, &sb) == 0;
}

void quarantine_plan(const struct em_config *cfg, struct journal *j)
{
	char *out = j->quarantine;
	size_t n = sizeof(j->quarantine);
	char b[PATH_MAX], stamp[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, n, "%s/%s%s%s", cfg->heal.quarantine_dir,
	         base_of(cfg->etcd.data_dir, b, sizeof(b)), SUFFIX, stamp);
	/* A second replacement within the same second must not take an
	 * existing quarantine for its own. */
	for (unsigned i = 1; exists(out) && i < 1000; i++)
		snprintf(out, n, "%s/%s%s%s.%u", cfg->heal.quarantine_dir,
		         base_of(cfg->etcd.data_dir, b, sizeof(b)), SUFFIX,
		         stamp, i);
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the oldest quarantined dirs of this member beyond the bound.
 * Names sort by time, since the stamp is fixed-width UTC. */
static void prune(const struct em_config *cfg)
{
	char b[PATH_MAX], prefix[PATH_MAX], path[PATH_MAX * 2];
	char *names[256];
	size_t n = 0, keep = cfg->heal.quarantine_keep ?
	                     cfg->heal.quarantine_keep : 1;
	struct dirent *de;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "%s%s",
	         base_of(cfg->etcd.data_dir, b, sizeof(b)), SUFFIX);
	d = opendir(cfg->heal.quarantine_dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < 256)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (names[i] != NULL && i + keep < n) {
			snprintf(path, sizeof(path), "%s/%s",
			         cfg->heal.quarantine_dir, names[i]);
			if (nftw(path, remove_entry, 16,
			         FTW_DEPTH | FTW_PHYS) == 0)
				em_log(EM_LOG_INFO, "old quarantined data dir "
				       "removed", "path", path, NULL);
		}
		free(names[i]);
	}
}

enum em_status quarantine_data_dir(const struct em_config *cfg,
                                   struct journal *j, struct em_error *err)
{
	const char *dd = cfg->etcd.data_dir;
	char parent[PATH_MAX];
	enum em_status st;

	if (j->quarantine[0] == '\0')
		return em_error_set(err, EM_EUSAGE, "quarantine of %s not "
		                    "planned in the journal", dd);
	if (exists(j->quarantine)) {
		/* Moved already, by us before a crash: then the data dir is
		 * gone or the empty one we made.  Anything else means the
		 * name was not ours: never guess. */
		char member[PATH_MAX + 8];
		snprintf(member, sizeof(member), "%s/member", dd);
		if (exists(member))
			return em_error_set(err, EM_EUSAGE, "%s exists, but %s "
			                    "still holds member data: not "
			                    "moving it", j->quarantine, dd);
	} else {
		if (rename(dd, j->quarantine) != 0) {
			if (errno == EXDEV)
				return em_error_set(err, EM_EUSAGE, "cannot move "
				                    "%s to %s: another filesystem "
				                    "(heal.quarantine-dir must be "
				                    "on the data dir's)", dd,
				                    j->quarantine);
			return em_error_errno(err, EM_EIO, errno, "cannot move "
			                      "%s to %s", dd, j->quarantine);
		}
		em_log(EM_LOG_WARN, "corrupt data dir moved aside", "from",
		       dd, "to", j->quarantine, NULL);
	}
	/* etcd wants its data dir 0700; it must exist for the new learner. */
	if (mkdir(dd, 0700) != 0 && errno != EEXIST)
		return em_error_errno(err, EM_EIO, errno, "cannot create %s", dd);
	snprintf(parent, sizeof(parent), "%s", dd);
	st = em_fsync_path(dirname(parent), O_DIRECTORY, err);
	if (st == EM_OK)
		st = em_fsync_path(cfg->heal.quarantine_dir, O_DIRECTORY, err);
	if (st == EM_OK)
		prune(cfg);
	return st;
}
