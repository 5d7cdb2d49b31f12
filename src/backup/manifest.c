/*
 * manifest.c - a snapshot's manifest as JSON (json-c), and the small
 * helpers the backup module's files share.
 */
#include "backup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "etcd-medic/bolt.h"
#include "etcd-medic/report.h"

void snap_key(char *buf, size_t size, const char *id, const char *name)
{
	snprintf(buf, size, SNAP_DIR "%s/%s", id, name);
}

void hex_of(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

uint64_t now_ms_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *spool_dir_for(const struct em_store *st, const char *given,
                          bool prefer_store)
{
	const char *local = em_store_local_dir(st), *t;

	if (local != NULL && access(local, W_OK | X_OK) != 0)
		local = NULL;
	if (prefer_store && local != NULL)
		return local;
	if (given != NULL)
		return given;
	if (local != NULL)
		return local;
	t = getenv("TMPDIR");
	return t != NULL && *t != '\0' ? t : "/tmp";
}

enum em_status spool_create(const char *dir, const char *suffix, int *fd,
                            char **path, struct em_error *err)
{
	static atomic_uint seq;

	/* A dot name: a directory store never lists it. */
	if (asprintf(path, "%s/.etcd-medic-spool-%ld-%u%s", dir,
	             (long)getpid(), atomic_fetch_add(&seq, 1), suffix) < 0) {
		*path = NULL;
		return em_error_set(err, EM_ENOMEM, "backup: out of memory");
	}
	*fd = open(*path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd < 0) {
		enum em_status rc = em_error_errno(err, EM_EIO, errno,
		                                   "backup: cannot create %s",
		                                   *path);
		free(*path);
		*path = NULL;
		return rc;
	}
	return EM_OK;
}

enum em_status db_check(const char *path, uint64_t *revision,
                        uint64_t *keys, struct em_error *err)
{
	struct em_bolt_info info;
	struct em_report rep;
	enum em_status rc;

	memset(&info, 0, sizeof(info));
	em_report_init(&rep);
	rc = em_bolt_check_file(path, "snapshot db", EM_CHECK_FULL, &rep,
	                        &info, err);
	if (rc == EM_OK && rep.verdict != EM_VERDICT_HEALTHY)
		rc = em_error_set(err, EM_EFORMAT, "the db fails the bbolt "
		                  "check (%s): %s%s%s", em_verdict_name(rep.verdict),
		                  rep.n_evidence ? rep.evidence[0].text :
		                  rep.n_blockers ? rep.blockers[0].text : "",
		                  rep.total_evidence > 1 ? " (and more)" : "",
		                  "");
	else if (rc == EM_OK && !info.has_key_bucket)
		rc = em_error_set(err, EM_EFORMAT, "the db has no key bucket: "
		                  "not an etcd db");
	if (rc == EM_OK) {
		*revision = info.max_revision;
		*keys = info.keys;
	}
	em_report_free(&rep);
	return rc;
}

/* ---- JSON ----------------------------------------------------------------- */

static bool add(json_object *o, const char *k, json_object *v)
{
	if (v == NULL)
		return false;
	return json_object_object_add(o, k, v) == 0;
}

static bool add_str(json_object *o, const char *k, const char *v)
{
	return add(o, k, json_object_new_string(v));
}

static bool add_u64(json_object *o, const char *k, uint64_t v)
{
	return add(o, k, json_object_new_uint64(v));
}

char *manifest_json(const struct em_manifest *m)
{
	json_object *o = json_object_new_object();
	const char *text;
	char *out = NULL;
	bool ok;

	if (o == NULL)
		return NULL;
	ok = add(o, "format", json_object_new_int(m->format)) &&
	     add_str(o, "id", m->id) && add_str(o, "kind", m->kind) &&
	     add_str(o, "created", m->created) &&
	     add(o, "created_ms", json_object_new_int64(m->created_ms)) &&
	     add_u64(o, "revision", m->revision) &&
	     add_u64(o, "db_size", m->db_size) &&
	     add_str(o, "db_sha256", m->db_sha256) &&
	     add_str(o, "object", m->object) &&
	     add_str(o, "compression", m->compression) &&
	     add_u64(o, "object_size", m->object_size) &&
	     add_str(o, "object_sha256", m->object_sha256) &&
	     add_str(o, "etcd_version", m->etcd_version) &&
	     add_str(o, "cluster_id", m->cluster_id) &&
	     add_str(o, "member_id", m->member_id) &&
	     add_str(o, "endpoint", m->endpoint) &&
	     add_u64(o, "keys", m->keys) &&
	     add(o, "duration_seconds", json_object_new_double(m->duration_s)) &&
	     add_str(o, "checked", "etcd sha256, bbolt full check");
	text = ok ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                           JSON_C_TO_STRING_NOSLASHESCAPE)
	          : NULL;
	if (text != NULL)
		out = strdup(text);
	json_object_put(o);
	return out;
}

static bool get_str(json_object *o, const char *k, char *out, size_t size,
                    bool required)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v))
		return !required;
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) >= size)
		return false;
	strcpy(out, json_object_get_string(v));
	return true;
}

static bool get_u64(json_object *o, const char *k, uint64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	errno = 0;
	*out = json_object_get_uint64(v);
	return errno == 0;
}

static bool hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

enum em_status manifest_parse(const char *text, size_t len,
                              struct em_manifest *m, struct em_error *err)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *v;
	uint64_t created = 0, format = 0;
	bool ok;

	memset(m, 0, sizeof(*m));
	if (tok == NULL)
		return em_error_set(err, EM_ENOMEM, "backup: out of memory");
	if (len < INT32_MAX)
		o = json_tokener_parse_ex(tok, text, (int)len);
	json_tokener_free(tok);
	ok = o != NULL && json_object_is_type(o, json_type_object) &&
	     get_u64(o, "format", &format) && format == 1 &&
	     get_str(o, "id", m->id, sizeof(m->id), true) &&
	     get_str(o, "kind", m->kind, sizeof(m->kind), true) &&
	     get_str(o, "created", m->created, sizeof(m->created), true) &&
	     get_u64(o, "created_ms", &created) &&
	     get_u64(o, "revision", &m->revision) &&
	     get_u64(o, "db_size", &m->db_size) &&
	     get_str(o, "db_sha256", m->db_sha256, sizeof(m->db_sha256), true) &&
	     get_str(o, "object", m->object, sizeof(m->object), true) &&
	     get_str(o, "compression", m->compression, sizeof(m->compression),
	             true) &&
	     get_u64(o, "object_size", &m->object_size) &&
	     get_str(o, "object_sha256", m->object_sha256,
	             sizeof(m->object_sha256), true) &&
	     get_str(o, "etcd_version", m->etcd_version,
	             sizeof(m->etcd_version), false) &&
	     get_str(o, "cluster_id", m->cluster_id, sizeof(m->cluster_id),
	             false) &&
	     get_str(o, "member_id", m->member_id, sizeof(m->member_id),
	             false) &&
	     get_str(o, "endpoint", m->endpoint, sizeof(m->endpoint), false);
	if (ok) {
		m->format = 1;
		m->created_ms = (int64_t)created;
		if (json_object_object_get_ex(o, "keys", &v))
			m->keys = json_object_get_uint64(v);
		if (json_object_object_get_ex(o, "duration_seconds", &v))
			m->duration_s = json_object_get_double(v);
		ok = hex64(m->db_sha256) && hex64(m->object_sha256) &&
		     (strcmp(m->compression, "zstd") == 0 ||
		      strcmp(m->compression, "none") == 0) &&
		     strchr(m->object, '/') == NULL && m->object[0] != '.';
	}
	json_object_put(o);
	if (!ok)
		return em_error_set(err, EM_EFORMAT, "not a manifest of format "
		                    "1 (a field is missing or malformed)");
	return EM_OK;
}
