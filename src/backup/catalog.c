/*
 * catalog.c - what a store holds (em_backup_list), the full re-check of a
 * snapshot (em_backup_verify, em_backup_fetch_newest) and retention
 * (em_backup_retain).
 */
#include "backup_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <zstd.h>

#include "etcd-medic/log.h"

#define DAY_MS (86400 * 1000LL)
/* An object without a manifest younger than this may be a save under way. */
#define INCOMPLETE_GRACE_MS (3600 * 1000LL)

static const char *const state_names[] = {
	[EM_SNAP_OK] = "ok",
	[EM_SNAP_INCOMPLETE] = "incomplete",
	[EM_SNAP_DAMAGED] = "damaged",
};

const char *em_snap_state_name(enum em_snap_state s)
{
	return (size_t)s < sizeof(state_names) / sizeof(state_names[0]) ?
	       state_names[s] : "unknown";
}

void em_catalog_free(struct em_catalog *c)
{
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* ---- listing ----------------------------------------------------------------- */

/* "snapshots/<id>/<rest>": the id, or false for a key outside the layout. */
static bool id_of(const char *key, char *id, size_t size, const char **rest)
{
	const char *p = key + strlen(SNAP_DIR), *slash;

	if (strncmp(key, SNAP_DIR, strlen(SNAP_DIR)) != 0)
		return false;
	slash = strchr(p, '/');
	if (slash == NULL || slash == p || (size_t)(slash - p) >= size)
		return false;
	memcpy(id, p, (size_t)(slash - p));
	id[slash - p] = '\0';
	*rest = slash + 1;
	return true;
}

static struct em_snap_entry *entry_for(struct em_catalog *c, const char *id)
{
	struct em_snap_entry *v;

	if (c->n > 0 && strcmp(c->v[c->n - 1].m.id, id) == 0)
		return &c->v[c->n - 1];
	v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	c->v = v;
	memset(&v[c->n], 0, sizeof(v[0]));
	snprintf(v[c->n].m.id, sizeof(v[c->n].m.id), "%s", id);
	v[c->n].state = EM_SNAP_INCOMPLETE;
	snprintf(v[c->n].problem, sizeof(v[c->n].problem), "no manifest");
	return &v[c->n++];
}

static const struct em_store_obj *find(const struct em_store_list *l,
                                       const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return &l->v[i];
	return NULL;
}

/* Reads and checks a manifest against what the listing shows. */
static void judge(struct em_store *st, const struct em_store_list *l,
                  struct em_snap_entry *e)
{
	char key[128], id[EM_SNAP_ID_MAX], *text = NULL;
	const struct em_store_obj *obj;
	struct em_error err;
	size_t n;

	snprintf(id, sizeof(id), "%s", e->m.id);
	e->state = EM_SNAP_DAMAGED;
	snap_key(key, sizeof(key), id, MANIFEST_NAME);
	if (em_store_get_buf(st, key, MANIFEST_MAX, &text, &n, &err) != EM_OK ||
	    manifest_parse(text, n, &e->m, &err) != EM_OK) {
		snprintf(e->m.id, sizeof(e->m.id), "%s", id);
		snprintf(e->problem, sizeof(e->problem), "manifest: %.240s",
		         err.msg);
		free(text);
		return;
	}
	free(text);
	snap_key(key, sizeof(key), id, e->m.object);
	obj = find(l, key);
	if (strcmp(e->m.id, id) != 0)
		snprintf(e->problem, sizeof(e->problem), "the manifest names "
		         "snapshot %.64s", e->m.id);
	else if (obj == NULL)
		snprintf(e->problem, sizeof(e->problem), "%s is missing",
		         e->m.object);
	else if (obj->size != e->m.object_size)
		snprintf(e->problem, sizeof(e->problem), "%s has %" PRIu64
		         " bytes, the manifest says %" PRIu64, e->m.object,
		         obj->size, e->m.object_size);
	else {
		e->state = EM_SNAP_OK;
		e->problem[0] = '\0';
	}
	snprintf(e->m.id, sizeof(e->m.id), "%s", id);
}

enum em_status em_backup_list(struct em_store *st, struct em_catalog *out,
                              struct em_error *err)
{
	struct em_store_list l;
	enum em_status rc;

	out->v = NULL;
	out->n = 0;
	rc = em_store_list(st, SNAP_DIR, &l, err);
	if (rc != EM_OK)
		return rc;
	for (size_t i = 0; i < l.n; i++) {
		char id[EM_SNAP_ID_MAX];
		const char *rest;
		struct em_snap_entry *e;

		if (!id_of(l.v[i].key, id, sizeof(id), &rest))
			continue;
		if ((e = entry_for(out, id)) == NULL) {
			rc = em_error_set(err, EM_ENOMEM, "backup: out of "
			                  "memory");
			break;
		}
		e->stored_bytes += l.v[i].size;
		if (strcmp(rest, MANIFEST_NAME) == 0)
			e->state = EM_SNAP_DAMAGED;  /* judged below */
	}
	for (size_t i = 0; rc == EM_OK && i < out->n; i++)
		if (out->v[i].state == EM_SNAP_DAMAGED)
			judge(st, &l, &out->v[i]);
	em_store_list_free(&l);
	if (rc != EM_OK)
		em_catalog_free(out);
	return rc;
}

/* ---- the full re-check --------------------------------------------------------- */

struct verifier {
	const struct em_manifest *m;
	int fd;
	char *path;
	ZSTD_DCtx *z;
	uint8_t *zbuf;
	size_t zcap;
	struct sha256_ctx obj_md, db_md;
	uint64_t obj_size, raw_size;
	uint8_t hold[HASH_LEN];       /* the last bytes: etcd's hash */
	size_t held;
};

/* The db's digest over everything but the last 32 bytes seen so far. */
static void db_feed(struct verifier *v, const uint8_t *p, size_t n)
{
	size_t out;

	if (n >= HASH_LEN) {
		sha256_update(&v->db_md, v->held, v->hold);
		sha256_update(&v->db_md, n - HASH_LEN, p);
		memcpy(v->hold, p + n - HASH_LEN, HASH_LEN);
		v->held = HASH_LEN;
		return;
	}
	if (v->held + n > HASH_LEN) {
		out = v->held + n - HASH_LEN;
		sha256_update(&v->db_md, out, v->hold);
		memmove(v->hold, v->hold + out, v->held - out);
		v->held -= out;
	}
	memcpy(v->hold + v->held, p, n);
	v->held += n;
}

static enum em_status raw_out(struct verifier *v, const uint8_t *p, size_t n,
                              struct em_error *err)
{
	while (n > 0) {
		ssize_t w = write(v->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return em_error_errno(err, EM_EIO, errno, "backup: "
			                      "cannot write %s", v->path);
		db_feed(v, p, (size_t)w);
		v->raw_size += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
	return EM_OK;
}

static enum em_status from_store(void *arg, const uint8_t *p, size_t n,
                                 struct em_error *err)
{
	struct verifier *v = arg;
	ZSTD_inBuffer in = { p, n, 0 };
	enum em_status rc = EM_OK;

	sha256_update(&v->obj_md, n, p);
	v->obj_size += n;
	if (v->z == NULL)
		return raw_out(v, p, n, err);
	while (rc == EM_OK && in.pos < in.size) {
		ZSTD_outBuffer out = { v->zbuf, v->zcap, 0 };
		size_t r = ZSTD_decompressStream(v->z, &out, &in);

		if (ZSTD_isError(r))
			return em_error_set(err, EM_EFORMAT, "%s is not a sound "
			                    "zstd stream: %s", v->m->object,
			                    ZSTD_getErrorName(r));
		rc = raw_out(v, v->zbuf, out.pos, err);
	}
	return rc;
}

static enum em_status sums_agree(struct verifier *v, struct em_error *err)
{
	uint8_t d[HASH_LEN];
	char h[65];

	sha256_digest(&v->obj_md, HASH_LEN, d);
	hex_of(d, HASH_LEN, h);
	if (v->obj_size != v->m->object_size ||
	    strcmp(h, v->m->object_sha256) != 0)
		return em_error_set(err, EM_EFORMAT, "%s: %" PRIu64 " bytes "
		                    "with SHA-256 %.12s..., the manifest says %"
		                    PRIu64 " bytes, %.12s...", v->m->object,
		                    v->obj_size, h, v->m->object_size,
		                    v->m->object_sha256);
	if (v->held != HASH_LEN || v->raw_size - HASH_LEN != v->m->db_size)
		return em_error_set(err, EM_EFORMAT, "the db has %" PRIu64
		                    " bytes, the manifest says %" PRIu64,
		                    v->raw_size - v->held, v->m->db_size);
	sha256_digest(&v->db_md, HASH_LEN, d);
	hex_of(d, HASH_LEN, h);
	if (memcmp(d, v->hold, HASH_LEN) != 0)
		return em_error_set(err, EM_EFORMAT, "the db's SHA-256 differs "
		                    "from etcd's hash after it");
	if (strcmp(h, v->m->db_sha256) != 0)
		return em_error_set(err, EM_EFORMAT, "the db's SHA-256 differs "
		                    "from the manifest's");
	return EM_OK;
}

/* The bbolt check on the db alone, then etcd's hash back after it. */
static enum em_status check_db(struct verifier *v, struct em_error *err)
{
	uint64_t rev = 0, keys = 0;
	enum em_status rc;

	if (ftruncate(v->fd, (off_t)v->m->db_size) != 0)
		return em_error_errno(err, EM_EIO, errno, "backup: truncate %s",
		                      v->path);
	rc = db_check(v->path, &rev, &keys, err);
	if (rc == EM_OK && rev != v->m->revision)
		rc = em_error_set(err, EM_EFORMAT, "the db holds revision %"
		                  PRIu64 ", the manifest says %" PRIu64, rev,
		                  v->m->revision);
	if (rc != EM_OK)
		return rc;
	if (pwrite(v->fd, v->hold, HASH_LEN, (off_t)v->m->db_size) !=
	    HASH_LEN || fsync(v->fd) != 0)
		return em_error_errno(err, EM_EIO, errno, "backup: write %s",
		                      v->path);
	return EM_OK;
}

static enum em_status verifier_init(struct verifier *v, const char *spool,
                                    const struct em_manifest *m,
                                    struct em_error *err)
{
	memset(v, 0, sizeof(*v));
	v->m = m;
	v->fd = -1;
	sha256_init(&v->obj_md);
	sha256_init(&v->db_md);
	if (strcmp(m->compression, "zstd") == 0) {
		v->zcap = ZSTD_DStreamOutSize();
		v->zbuf = malloc(v->zcap);
		v->z = ZSTD_createDCtx();
		if (v->zbuf == NULL || v->z == NULL)
			return em_error_set(err, EM_ENOMEM, "backup: out of "
			                    "memory");
	}
	return spool_create(spool, ".verify.db", &v->fd, &v->path, err);
}

static void verifier_free(struct verifier *v, bool keep)
{
	if (v->fd >= 0)
		close(v->fd);
	if (v->path != NULL && !keep)
		unlink(v->path);
	if (!keep)
		free(v->path);
	ZSTD_freeDCtx(v->z);
	free(v->zbuf);
}

enum em_status em_backup_verify(struct em_store *st, const char *spool_dir,
                                const struct em_manifest *m, bool keep,
                                char **kept, struct em_error *err)
{
	struct verifier v;
	char key[128];
	enum em_status rc;

	if (kept != NULL)
		*kept = NULL;
	rc = verifier_init(&v, spool_dir_for(st, spool_dir, false), m, err);
	snap_key(key, sizeof(key), m->id, m->object);
	if (rc == EM_OK)
		rc = em_store_get(st, key, from_store, &v, err);
	if (rc == EM_OK)
		rc = sums_agree(&v, err);
	if (rc == EM_OK)
		rc = check_db(&v, err);
	if (rc != EM_OK) {
		em_error_set(err, rc, "snapshot %s: %.400s", m->id, err->msg);
		keep = false;
	}
	if (keep && kept != NULL)
		*kept = v.path;
	verifier_free(&v, keep && kept != NULL);
	return rc;
}

enum em_status em_backup_fetch_newest(struct em_store *st,
                                      const char *spool_dir,
                                      struct em_manifest *m, char **path,
                                      struct em_error *err)
{
	struct em_catalog c;
	enum em_status rc;

	*path = NULL;
	rc = em_backup_list(st, &c, err);
	if (rc != EM_OK)
		return rc;
	rc = em_error_set(err, EM_ENOENT, "no verified snapshot in %s",
	                  em_store_url(st));
	for (size_t i = c.n; i-- > 0;) {
		if (c.v[i].state != EM_SNAP_OK)
			continue;
		rc = em_backup_verify(st, spool_dir, &c.v[i].m, true, path,
		                      err);
		if (rc == EM_OK) {
			*m = c.v[i].m;
			break;
		}
		em_log(EM_LOG_WARN, "snapshot fails its check; trying an older "
		       "one", "snapshot", c.v[i].m.id, "error", err->msg, NULL);
		rc = em_error_set(err, EM_ENOENT, "no verified snapshot in %s "
		                  "(the newest fail their check)",
		                  em_store_url(st));
	}
	em_catalog_free(&c);
	return rc;
}

/* ---- retention ---------------------------------------------------------------- */

/* The manifest first: from then on nobody takes it for a snapshot. */
static enum em_status drop(struct em_store *st, const char *id,
                           struct em_error *err)
{
	char prefix[128], key[128];
	struct em_store_list l;
	enum em_status rc;

	snap_key(key, sizeof(key), id, MANIFEST_NAME);
	rc = em_store_delete(st, key, err);
	if (rc != EM_OK)
		return rc;
	snprintf(prefix, sizeof(prefix), SNAP_DIR "%s/", id);
	rc = em_store_list(st, prefix, &l, err);
	if (rc != EM_OK)
		return rc;
	for (size_t i = 0; rc == EM_OK && i < l.n; i++)
		rc = em_store_delete(st, l.v[i].key, err);
	em_store_list_free(&l);
	return rc;
}

/* The time an ID names (20261123T082100.123Z), in Unix ms; 0 if none. */
static int64_t id_time_ms(const char *id)
{
	struct tm tm;
	unsigned ms = 0;
	const char *rest;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(id, "%Y%m%dT%H%M%S", &tm);
	if (rest == NULL || sscanf(rest, ".%3uZ", &ms) != 1)
		return 0;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* An object without a manifest, old enough not to be a save under way. */
static bool incomplete_stale(const struct em_snap_entry *e, int64_t now_ms)
{
	int64_t t = id_time_ms(e->m.id);

	return t != 0 && t < now_ms - INCOMPLETE_GRACE_MS;
}

/* Marks what retention keeps among the OK snapshots (oldest first). */
static void mark_kept(const struct em_catalog *c, bool *keep,
                      unsigned keep_last, unsigned keep_days,
                      int64_t now_ms)
{
	int64_t last_day = -1;
	unsigned newest = 0;

	for (size_t i = c->n; i-- > 0;) {
		const struct em_snap_entry *e = &c->v[i];
		int64_t day = e->m.created_ms / DAY_MS;

		if (e->state != EM_SNAP_OK)
			continue;
		if (newest++ < keep_last)
			keep[i] = true;
		if (keep_days > 0 && e->m.created_ms > now_ms -
		    (int64_t)keep_days * DAY_MS && day != last_day) {
			keep[i] = true;
			last_day = day;
		}
	}
}

enum em_status em_backup_retain(struct em_store *st, unsigned keep_last,
                                unsigned keep_days, int64_t now_ms,
                                size_t *deleted, struct em_error *err)
{
	struct em_catalog c;
	size_t ok = 0, gone = 0;
	enum em_status rc;
	bool *keep;

	rc = em_backup_list(st, &c, err);
	if (rc != EM_OK)
		return rc;
	keep = calloc(c.n + 1, sizeof(*keep));
	if (keep == NULL) {
		em_catalog_free(&c);
		return em_error_set(err, EM_ENOMEM, "backup: out of memory");
	}
	mark_kept(&c, keep, keep_last ? keep_last : 1, keep_days, now_ms);
	for (size_t i = 0; i < c.n; i++)
		ok += c.v[i].state == EM_SNAP_OK;
	for (size_t i = 0; rc == EM_OK && i < c.n; i++) {
		const struct em_snap_entry *e = &c.v[i];

		if (keep[i] || e->state == EM_SNAP_DAMAGED ||
		    (e->state == EM_SNAP_OK && ok <= 1))
			continue;
		if (e->state == EM_SNAP_INCOMPLETE && !incomplete_stale(e,
		    now_ms))
			continue;
		rc = drop(st, e->m.id, err);
		if (rc == EM_OK) {
			gone++;
			ok -= e->state == EM_SNAP_OK;
			em_log(EM_LOG_INFO, "snapshot removed by retention",
			       "snapshot", e->m.id, "state",
			       em_snap_state_name(e->state), NULL);
		}
	}
	if (deleted != NULL)
		*deleted = gone;
	free(keep);
	em_catalog_free(&c);
	return rc;
}
