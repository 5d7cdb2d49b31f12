/*
 * journal.c - the durable record of one member replacement.
 *
 * A JSON object in a file next to the data dir.  It is replaced atomically
 * (write a temp file, fsync it, rename it over the journal, fsync the
 * directory): after a crash the journal is either the old version or the
 * new one, never a mix, and a step recorded as done stays recorded.
 */
#include "heal_internal.h"
#include "etcd-medic/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define JOURNAL_VERSION 1
#define JOURNAL_MAX (64 * 1024)

static const char *const step_names[] = {
	[EM_STEP_NONE] = "none",
	[EM_STEP_ASSESSED] = "assessed",
	[EM_STEP_LOCKED] = "locked",
	[EM_STEP_REMOVED] = "removed",
	[EM_STEP_QUARANTINED] = "quarantined",
	[EM_STEP_ADDED] = "added",
	[EM_STEP_HANDED_OVER] = "handed-over",
	[EM_STEP_PROMOTED] = "promoted",
	[EM_STEP_DONE] = "done",
};

const char *em_heal_step_name(enum em_heal_step step)
{
	if ((size_t)step < sizeof(step_names) / sizeof(step_names[0]))
		return step_names[step];
	return "unknown";
}

static bool step_parse(const char *s, enum em_heal_step *out)
{
	for (size_t i = 0; i < sizeof(step_names) / sizeof(step_names[0]); i++) {
		if (strcmp(s, step_names[i]) == 0) {
			*out = (enum em_heal_step)i;
			return true;
		}
	}
	return false;
}

static bool verdict_parse(const char *s, enum em_verdict *out)
{
	for (int v = EM_VERDICT_HEALTHY; v <= EM_VERDICT_IN_USE; v++) {
		if (strcmp(s, em_verdict_name((enum em_verdict)v)) == 0) {
			*out = (enum em_verdict)v;
			return true;
		}
	}
	return false;
}

/* 64-bit IDs as strings, as etcd's gateway writes them: JSON numbers are
 * doubles to many readers. */
static void put_u64(json_object *o, const char *k, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	json_object_object_add(o, k, json_object_new_string(buf));
}

static void put_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *to_json(const struct journal *j)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version",
	                       json_object_new_int(JOURNAL_VERSION));
	put_str(o, "step", em_heal_step_name(j->step));
	put_str(o, "doing", em_heal_step_name(j->doing));
	put_str(o, "verdict", em_verdict_name(j->verdict));
	put_str(o, "member", j->member);
	put_str(o, "peer_url", j->peer_url);
	put_u64(o, "cluster_id", j->cluster_id);
	put_u64(o, "old_id", j->old_id);
	put_u64(o, "new_id", j->new_id);
	put_u64(o, "lease", (uint64_t)j->lease);
	put_str(o, "token", j->token);
	put_str(o, "quarantine", j->quarantine);
	json_object_object_add(o, "started", json_object_new_int64(j->started));
	json_object_object_add(o, "updated", json_object_new_int64(j->updated));
	return o;
}

static bool get_str(json_object *o, const char *k, char *out, size_t n)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return false;
	snprintf(out, n, "%s", json_object_get_string(v));
	return true;
}

static bool get_u64(json_object *o, const char *k, uint64_t *out)
{
	char buf[32], *end;

	if (!get_str(o, k, buf, sizeof(buf)))
		return false;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno == 0 && end != buf && *end == '\0';
}

static bool from_json(json_object *o, struct journal *j)
{
	char step[32], doing[32], verdict[32];
	json_object *v;
	uint64_t lease;

	if (!json_object_object_get_ex(o, "version", &v) ||
	    json_object_get_int(v) != JOURNAL_VERSION)
		return false;
	if (!get_str(o, "step", step, sizeof(step)) ||
	    !get_str(o, "doing", doing, sizeof(doing)) ||
	    !get_str(o, "verdict", verdict, sizeof(verdict)) ||
	    !step_parse(step, &j->step) || !step_parse(doing, &j->doing) ||
	    !verdict_parse(verdict, &j->verdict) ||
	    !get_str(o, "member", j->member, sizeof(j->member)) ||
	    !get_str(o, "peer_url", j->peer_url, sizeof(j->peer_url)) ||
	    !get_u64(o, "cluster_id", &j->cluster_id) ||
	    !get_u64(o, "old_id", &j->old_id) ||
	    !get_u64(o, "new_id", &j->new_id) ||
	    !get_u64(o, "lease", &lease) ||
	    !get_str(o, "token", j->token, sizeof(j->token)) ||
	    !get_str(o, "quarantine", j->quarantine, sizeof(j->quarantine)))
		return false;
	j->lease = (int64_t)lease;
	if (json_object_object_get_ex(o, "started", &v))
		j->started = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "updated", &v))
		j->updated = json_object_get_int64(v);
	return true;
}

enum em_status journal_load(const char *path, struct journal *j, bool *found,
                            struct em_error *err)
{
	char buf[JOURNAL_MAX + 1];
	json_object *o = NULL;
	enum em_status st = EM_OK;
	ssize_t n;
	int fd;

	memset(j, 0, sizeof(*j));
	*found = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return EM_OK;
		return em_error_errno(err, EM_EIO, errno, "cannot open heal "
		                      "journal %s", path);
	}
	n = read(fd, buf, JOURNAL_MAX + 1);
	close(fd);
	if (n < 0)
		return em_error_errno(err, EM_EIO, errno, "cannot read heal "
		                      "journal %s", path);
	if (n > JOURNAL_MAX)
		return em_error_set(err, EM_EFORMAT, "heal journal %s is larger "
		                    "than %d bytes", path, JOURNAL_MAX);
	buf[n] = '\0';
	o = json_tokener_parse(buf);
	if (o == NULL || !from_json(o, j)) {
		/* Never guess what a journal meant: a person must look. */
		st = em_error_set(err, EM_EFORMAT, "heal journal %s is not a "
		                  "journal this version wrote; move it away to "
		                  "start over", path);
		goto cleanup;
	}
	*found = true;
cleanup:
	json_object_put(o);
	return st;
}

static enum em_status sync_dir_of(const char *path, struct em_error *err)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	return em_fsync_path(dirname(copy), O_DIRECTORY, err);
}

enum em_status journal_save(const char *path, struct journal *j,
                            struct em_error *err)
{
	char tmp[PATH_MAX + 8];
	json_object *o;
	const char *text;
	enum em_status st;
	int fd;

	j->updated = (int64_t)time(NULL);
	if (j->started == 0)
		j->started = j->updated;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return em_error_set(err, EM_EUSAGE, "journal path too long: %s",
		                    path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return em_error_errno(err, EM_EIO, errno, "cannot create %s",
		                      tmp);
	o = to_json(j);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	st = em_write_all(fd, text, strlen(text), tmp, err);
	if (st == EM_OK)
		st = em_write_all(fd, "\n", 1, tmp, err);
	json_object_put(o);
	if (st == EM_OK && fsync(fd) != 0)
		st = em_error_errno(err, EM_EIO, errno, "cannot fsync %s", tmp);
	close(fd);
	if (st == EM_OK && rename(tmp, path) != 0)
		st = em_error_errno(err, EM_EIO, errno, "cannot rename %s to %s",
		                    tmp, path);
	if (st != EM_OK) {
		unlink(tmp);
		return st;
	}
	return sync_dir_of(path, err);
}

enum em_status journal_remove(const char *path, struct em_error *err)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return em_error_errno(err, EM_EIO, errno, "cannot remove heal "
		                      "journal %s", path);
	return sync_dir_of(path, err);
}
