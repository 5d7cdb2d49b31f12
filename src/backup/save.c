/*
 * save.c - a full snapshot, from etcd's stream to a committed snapshot in
 * the store (em_backup_save in backup.h).
 *
 * The stream is written, as it arrives, to a spool file (the db, which the
 * bbolt check needs whole) and, with compression, through libzstd to a
 * second spool file (the object to store); the object's SHA-256 follows
 * what is written.  Only once etcd's SHA-256 matched and the db passed the
 * check is etcd's hash appended (as etcdctl does), the object stored, and
 * then the manifest: the commit.  In a directory store the spool is the
 * store's own directory, so that storing is a rename.
 */
#include "backup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <zstd.h>

#include "etcd-medic/durable.h"
#include "etcd-medic/log.h"

/* A stalled etcd or store is given up after this long without a byte. */
#define STALL_S 60

struct saver {
	const struct em_backup_opts *o;
	int raw_fd, obj_fd;
	char *raw_path, *obj_path;
	ZSTD_CCtx *z;
	uint8_t *zbuf;
	size_t zcap;
	struct sha256_ctx md;         /* of the object's bytes */
	uint64_t obj_size;
	uint64_t raw_written, raw_started, obj_written, obj_started;
};

/* Bytes written between two write-behind requests. */
#define WRITE_BEHIND (8u << 20)

/*
 * Starts the disk writes of what was written since the last call, without
 * waiting for them: the fsync before the commit then finds little left to
 * do, instead of a whole db of dirty pages (a second per GiB here).
 * Failures are the fsync's to report.
 */
static void write_behind(int fd, uint64_t *written, uint64_t *started,
                         size_t n)
{
	*written += n;
	if (*written - *started < WRITE_BEHIND)
		return;
	(void)sync_file_range(fd, (off_t)*started,
	                      (off_t)(*written - *started),
	                      SYNC_FILE_RANGE_WRITE);
	*started = *written;
}

static enum em_status obj_write(struct saver *s, const uint8_t *p, size_t n,
                                struct em_error *err)
{
	enum em_status rc;

	if (n == 0)
		return EM_OK;
	sha256_update(&s->md, n, p);
	s->obj_size += n;
	rc = em_write_all(s->obj_fd, p, n, s->obj_path, err);
	if (rc == EM_OK)
		write_behind(s->obj_fd, &s->obj_written, &s->obj_started, n);
	return rc;
}

/* Feeds p through the compressor; end closes the frame. */
static enum em_status compress(struct saver *s, const uint8_t *p, size_t n,
                               bool end, struct em_error *err)
{
	ZSTD_inBuffer in = { p, n, 0 };
	enum em_status rc = EM_OK;
	size_t left;

	do {
		ZSTD_outBuffer out = { s->zbuf, s->zcap, 0 };

		left = ZSTD_compressStream2(s->z, &out, &in,
		                            end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return em_error_set(err, EM_EIO, "backup: zstd: %s",
			                    ZSTD_getErrorName(left));
		rc = obj_write(s, s->zbuf, out.pos, err);
	} while (rc == EM_OK && (end ? left != 0 : in.pos < in.size));
	return rc;
}

static enum em_status sink_write(void *arg, const uint8_t *p, size_t n,
                                 struct em_error *err)
{
	struct saver *s = arg;
	enum em_status rc;

	rc = em_write_all(s->raw_fd, p, n, s->raw_path, err);
	if (rc != EM_OK)
		return rc;
	write_behind(s->raw_fd, &s->raw_written, &s->raw_started, n);
	if (s->z != NULL)
		return compress(s, p, n, false, err);
	/* The spool is the object: only count and hash it. */
	sha256_update(&s->md, n, p);
	s->obj_size += n;
	return EM_OK;
}

static enum em_status rewind_all(struct saver *s, struct em_error *err)
{
	s->obj_size = 0;
	s->raw_written = s->raw_started = s->obj_written = s->obj_started = 0;
	if (ftruncate(s->raw_fd, 0) != 0 || lseek(s->raw_fd, 0, SEEK_SET) ||
	    (s->obj_fd != s->raw_fd &&
	     (ftruncate(s->obj_fd, 0) != 0 || lseek(s->obj_fd, 0, SEEK_SET))))
		return em_error_errno(err, EM_EIO, errno, "backup: cannot "
		                      "truncate the spool");
	if (s->z != NULL)
		ZSTD_CCtx_reset(s->z, ZSTD_reset_session_only);
	sha256_init(&s->md);
	return EM_OK;
}

static void saver_free(struct saver *s)
{
	if (s->obj_fd >= 0 && s->obj_fd != s->raw_fd)
		close(s->obj_fd);
	if (s->raw_fd >= 0)
		close(s->raw_fd);
	if (s->raw_path != NULL)
		unlink(s->raw_path);
	if (s->obj_path != NULL && s->obj_path != s->raw_path) {
		unlink(s->obj_path);
		free(s->obj_path);
	}
	free(s->raw_path);
	ZSTD_freeCCtx(s->z);
	free(s->zbuf);
}

static enum em_status saver_init(struct saver *s, const char *spool,
                                 const struct em_backup_opts *o,
                                 struct em_error *err)
{
	enum em_status rc;

	memset(s, 0, sizeof(*s));
	s->o = o;
	s->raw_fd = s->obj_fd = -1;
	sha256_init(&s->md);
	rc = spool_create(spool, ".db", &s->raw_fd, &s->raw_path, err);
	if (rc != EM_OK || !o->compress) {
		s->obj_fd = s->raw_fd;
		s->obj_path = s->raw_path;
		return rc;
	}
	rc = spool_create(spool, ".db.zst", &s->obj_fd, &s->obj_path, err);
	if (rc != EM_OK)
		return rc;
	s->zcap = ZSTD_CStreamOutSize();
	s->zbuf = malloc(s->zcap);
	s->z = ZSTD_createCCtx();
	if (s->zbuf == NULL || s->z == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s->z, ZSTD_c_compressionLevel,
	                                        o->level ? o->level : 3)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s->z, ZSTD_c_checksumFlag, 1)))
		return em_error_set(err, EM_ENOMEM, "backup: cannot set up "
		                    "zstd");
	/* One worker thread compresses while this one decodes the stream;
	 * small jobs keep its buffers at a few MiB.  A libzstd without
	 * threads refuses: then it compresses inline. */
	if (!ZSTD_isError(ZSTD_CCtx_setParameter(s->z, ZSTD_c_nbWorkers, 1)))
		ZSTD_CCtx_setParameter(s->z, ZSTD_c_jobSize, 1 << 20);
	return EM_OK;
}

/* ---- the steps -------------------------------------------------------------- */

static void hex_id(uint64_t v, char out[17])
{
	snprintf(out, 17, "%016" PRIx64, v);
}

static void stamp(struct em_manifest *m)
{
	struct timeval tv;
	struct tm tm;
	char t[20];
	time_t sec;
	unsigned ms;

	gettimeofday(&tv, NULL);
	sec = tv.tv_sec;
	ms = (unsigned)(tv.tv_usec / 1000) % 1000;
	gmtime_r(&sec, &tm);
	strftime(t, sizeof(t), "%Y%m%dT%H%M%S", &tm);
	snprintf(m->id, sizeof(m->id), "%.15s.%03uZ", t, ms);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(m->created, sizeof(m->created), "%.19s.%03uZ", t, ms);
	m->created_ms = (int64_t)sec * 1000 + ms;
}

/* Streams from one endpoint into the spool. */
static enum em_status stream_one(struct em_gw *gw, const char *endpoint,
                                 struct saver *s, uint64_t deadline,
                                 struct em_manifest *m,
                                 struct em_gw_snapshot_info *info,
                                 struct em_error *err)
{
	struct em_gw_snapshot_sink sink = { sink_write, s };
	struct em_gw_status status;
	long left = 0;
	enum em_status rc;

	rc = em_gw_status(gw, endpoint, &status, err);
	if (rc != EM_OK)
		return rc;
	snprintf(m->etcd_version, sizeof(m->etcd_version), "%s",
	         status.version);
	hex_id(status.header.cluster_id, m->cluster_id);
	hex_id(status.header.member_id, m->member_id);
	snprintf(m->endpoint, sizeof(m->endpoint), "%s", endpoint);
	if (deadline != 0) {
		uint64_t now = now_ms_mono();

		if (now >= deadline)
			return em_error_set(err, EM_EIO, "backup: the time limit "
			                    "passed before the stream began");
		left = (long)(deadline - now);
	}
	rc = rewind_all(s, err);
	if (rc == EM_OK)
		rc = em_gw_snapshot(gw, endpoint, left, STALL_S, &sink, info,
		                    err);
	return rc;
}

static enum em_status stream_any(struct em_gw *gw,
                                 const char *const *endpoints, size_t n,
                                 struct saver *s, uint64_t deadline,
                                 struct em_manifest *m,
                                 struct em_gw_snapshot_info *info,
                                 struct em_error *err)
{
	enum em_status rc = EM_EUSAGE;

	em_error_set(err, EM_EUSAGE, "backup: no endpoint");
	for (size_t i = 0; i < n; i++) {
		rc = stream_one(gw, endpoints[i], s, deadline, m, info, err);
		if (rc == EM_OK || err->code == 0)
			return rc;   /* done, or not etcd's fault: a full disk */
		em_log(EM_LOG_WARN, "snapshot: stream failed",
		       "endpoint", endpoints[i], "error", err->msg, NULL);
	}
	return rc;
}

/* The db passed: etcd's hash after it, the frame closed, all durable. */
static enum em_status seal(struct saver *s,
                           const struct em_gw_snapshot_info *info,
                           struct em_manifest *m, struct em_error *err)
{
	uint8_t d[HASH_LEN];
	enum em_status rc;

	rc = sink_write(s, info->sha256, HASH_LEN, err);
	if (rc == EM_OK && s->z != NULL)
		rc = compress(s, NULL, 0, true, err);
	if (rc != EM_OK)
		return rc;
	if (fsync(s->obj_fd) != 0)
		return em_error_errno(err, EM_EIO, errno, "backup: fsync %s",
		                      s->obj_path);
	sha256_digest(&s->md, HASH_LEN, d);
	hex_of(d, HASH_LEN, m->object_sha256);
	hex_of(info->sha256, HASH_LEN, m->db_sha256);
	m->object_size = s->obj_size;
	m->db_size = info->size;
	return EM_OK;
}

static enum em_status check_spool(struct saver *s, struct em_manifest *m,
                                  struct em_error *err)
{
	enum em_status rc;

	if (fsync(s->raw_fd) != 0)
		return em_error_errno(err, EM_EIO, errno, "backup: fsync %s",
		                      s->raw_path);
	rc = db_check(s->raw_path, &m->revision, &m->keys, err);
	if (rc != EM_OK)
		em_error_set(err, rc, "backup: the snapshot from %s is not "
		             "sound, not stored: %.300s", m->endpoint,
		             err->msg);
	return rc;
}

static enum em_status commit(struct em_store *st, struct saver *s,
                             struct em_manifest *m, uint64_t t0,
                             struct em_error *err)
{
	char key[128], *json;
	enum em_status rc;

	snap_key(key, sizeof(key), m->id, m->object);
	rc = em_store_put_file(st, key, s->obj_path, true, err);
	if (rc != EM_OK)
		return rc;
	m->duration_s = (double)(now_ms_mono() - t0) / 1000.0;
	json = manifest_json(m);
	if (json == NULL)
		return em_error_set(err, EM_ENOMEM, "backup: out of memory");
	snap_key(key, sizeof(key), m->id, MANIFEST_NAME);
	rc = em_store_put_buf(st, key, json, strlen(json), err);
	free(json);
	if (rc != EM_OK) {
		struct em_error ignored;

		snap_key(key, sizeof(key), m->id, m->object);
		em_store_delete(st, key, &ignored);
	}
	return rc;
}

static void manifest_init(struct em_manifest *m,
                          const struct em_backup_opts *o)
{
	memset(m, 0, sizeof(*m));
	m->format = 1;
	strcpy(m->kind, "full");
	strcpy(m->compression, o->compress ? "zstd" : "none");
	strcpy(m->object, o->compress ? "snapshot.db.zst" : "snapshot.db");
	stamp(m);
}

enum em_status em_backup_save(struct em_gw *gw, const char *const *endpoints,
                              size_t n_endpoints,
                              const struct em_backup_opts *o,
                              struct em_manifest *out, struct em_error *err)
{
	struct em_store_opts so = { o->s3, 0, STALL_S };
	struct em_gw_snapshot_info info;
	struct em_store *st = NULL;
	struct saver s;
	uint64_t t0 = now_ms_mono();
	uint64_t deadline = o->timeout_s ? t0 + o->timeout_s * 1000ull : 0;
	enum em_status rc;

	manifest_init(out, o);
	memset(&s, 0, sizeof(s));
	s.raw_fd = s.obj_fd = -1;
	rc = em_store_open(o->store, &so, &st, err);
	if (rc != EM_OK)
		return rc;
	em_store_set_deadline(st, deadline);
	rc = saver_init(&s, spool_dir_for(st, o->spool_dir, true), o, err);
	if (rc == EM_OK)
		rc = stream_any(gw, endpoints, n_endpoints, &s, deadline, out,
		                &info, err);
	if (rc == EM_OK)
		rc = check_spool(&s, out, err);
	if (rc == EM_OK)
		rc = seal(&s, &info, out, err);
	if (rc == EM_OK)
		rc = commit(st, &s, out, t0, err);
	saver_free(&s);
	em_store_free(st);
	return rc;
}

void em_backup_opts_from(const struct em_config *cfg,
                         struct em_backup_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->store = cfg->backup.store;
	o->s3 = &cfg->backup.s3;
	o->spool_dir = cfg->backup.spool_dir;
	o->compress = cfg->backup.compression != NULL &&
	              strcmp(cfg->backup.compression, "zstd") == 0;
	o->level = (int)cfg->backup.compression_level;
	o->timeout_s = cfg->backup.timeout_s;
}
