/*
 * runner.c - the schedule thread of serve (backup_runner.h): slots, the
 * claim in etcd that makes one sidecar take each slot, the leader first and
 * the others as a fallback, and snapshots asked for over HTTP.
 *
 * The claim is backup.lock-key, created only if absent and bound to a
 * lease that a small keep-alive thread renews while the snapshot is taken;
 * <lock-key>/last (no lease) holds the last slot taken, as JSON.  The
 * thread holds no lock of its own while it talks to etcd or the store.
 */
#include "backup_internal.h"
#include "etcd-medic/backup_runner.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <json-c/json.h>

#include "etcd-medic/log.h"
#include "etcd-medic/metrics.h"
#include "etcd-medic/schedule.h"

#define LEASE_TTL_S 30
#define GRACE_MIN_S 1
#define GRACE_MAX_S 60

struct em_backup_runner {
	const struct em_config *cfg;
	struct em_schedule sched;
	int64_t grace_s;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Guarded by mu. */
	bool stop, requested, busy;
	struct em_manifest latest;
	bool have_latest;
	char last_error[512];
	int64_t last_attempt, next_slot, pending;
	char taker[16];               /* leader, fallback or request */
};

struct keeper {
	const struct em_config *cfg;
	int64_t lease;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static int64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const uint8_t *bytes(const char *s)
{
	return (const uint8_t *)s;
}

/* ---- the claim in etcd --------------------------------------------------------- */

static void *keep_alive(void *arg)
{
	struct keeper *k = arg;
	struct em_gw_config gc;
	struct em_gw *gw = NULL;
	struct em_error err;
	struct timespec at;
	int64_t ttl;

	em_gw_config_from(k->cfg, &gc);
	if (em_gw_new(&gc, &gw, &err) != EM_OK)
		return NULL;
	pthread_mutex_lock(&k->mu);
	while (!k->stop) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += LEASE_TTL_S / 3;
		if (pthread_cond_timedwait(&k->cv, &k->mu, &at) != ETIMEDOUT)
			continue;
		pthread_mutex_unlock(&k->mu);
		if (em_gw_lease_keepalive(gw, k->lease, &ttl, &err) != EM_OK ||
		    ttl == 0)
			em_log(EM_LOG_WARN, "backup: the claim's lease could not "
			       "be renewed", "error", ttl == 0 ? "lease gone" :
			       err.msg, NULL);
		pthread_mutex_lock(&k->mu);
	}
	pthread_mutex_unlock(&k->mu);
	em_gw_free(gw);
	return NULL;
}

/* The last slot taken, from <lock-key>/last; 0 when none. */
static enum em_status last_slot(struct em_gw *gw, const char *key,
                                int64_t *slot, struct em_error *err)
{
	struct em_range_req req = { 0 };
	struct em_range r;
	json_object *o, *v;
	enum em_status rc;

	*slot = 0;
	req.key = bytes(key);
	req.key_len = strlen(key);
	rc = em_gw_range(gw, NULL, &req, &r, err);
	if (rc != EM_OK)
		return rc;
	if (r.n > 0 && (o = json_tokener_parse((const char *)r.kvs[0].value))) {
		if (json_object_object_get_ex(o, "slot", &v))
			*slot = json_object_get_int64(v);
		json_object_put(o);
	}
	em_range_free(&r);
	return EM_OK;
}

static enum em_status record_slot(struct em_gw *gw, const char *key,
                                  int64_t slot, const struct em_manifest *m,
                                  const char *by, struct em_error *err)
{
	char v[512];

	snprintf(v, sizeof(v), "{\"slot\":%" PRId64 ",\"snapshot\":\"%s\","
	         "\"revision\":%" PRIu64 ",\"by\":\"%s\"}", slot, m->id,
	         m->revision, by);
	return em_gw_put(gw, bytes(key), strlen(key), bytes(v), strlen(v), 0,
	                 NULL, err);
}

/* Creates the lock key bound to a new lease; *got false when someone
 * holds it. */
static enum em_status claim(struct em_gw *gw, const struct em_config *cfg,
                            const char *value, int64_t *lease, bool *got,
                            struct em_error *err)
{
	const char *key = cfg->backup.lock_key;
	enum em_status rc;

	*got = false;
	rc = em_gw_lease_grant(gw, LEASE_TTL_S, lease, err);
	if (rc != EM_OK)
		return rc;
	rc = em_gw_put_if_absent(gw, bytes(key), strlen(key), bytes(value),
	                         strlen(value), *lease, got, NULL, err);
	if (rc != EM_OK || !*got) {
		struct em_error ignored;

		em_gw_lease_revoke(gw, *lease, &ignored);
		*lease = 0;
	}
	return rc;
}

static void unclaim(struct em_gw *gw, const struct em_config *cfg,
                    const char *value, int64_t lease)
{
	const char *key = cfg->backup.lock_key;
	struct em_error ignored;
	bool deleted;

	em_gw_delete_if_value(gw, bytes(key), strlen(key), bytes(value),
	                      strlen(value), &deleted, &ignored);
	em_gw_lease_revoke(gw, lease, &ignored);
}

/* ---- one snapshot ---------------------------------------------------------------- */

static void metrics_after(const struct em_manifest *m, bool ok)
{
	em_metric_add("etcd_medic_backups_total", ok ? "result=ok"
	                                              : "result=failed", 1);
	if (!ok)
		return;
	em_metric_set("etcd_medic_backup_last_success_timestamp_seconds", NULL,
	              (double)m->created_ms / 1000.0);
	em_metric_set("etcd_medic_backup_last_duration_seconds", NULL,
	              m->duration_s);
	em_metric_set("etcd_medic_backup_last_size_bytes", "kind=db",
	              (double)m->db_size);
	em_metric_set("etcd_medic_backup_last_size_bytes", "kind=stored",
	              (double)m->object_size);
	em_metric_set("etcd_medic_backup_last_revision", NULL,
	              (double)m->revision);
}

/* This member first (it streams locally), then the configured endpoints. */
static size_t source_list(const struct em_config *cfg, const char **v,
                          size_t max)
{
	size_t n = 0;

	if (cfg->etcd.advertise_client_urls.n > 0)
		v[n++] = cfg->etcd.advertise_client_urls.v[0];
	for (size_t i = 0; i < cfg->endpoints.n && n < max; i++)
		if (n == 0 || strcmp(cfg->endpoints.v[i], v[0]) != 0)
			v[n++] = cfg->endpoints.v[i];
	return n;
}

static void retain(const struct em_config *cfg)
{
	struct em_store_opts so = { &cfg->backup.s3, 0, 0 };
	struct em_store *st = NULL;
	struct em_error err;
	size_t gone = 0;

	if (em_store_open(cfg->backup.store, &so, &st, &err) != EM_OK ||
	    em_backup_retain(st, cfg->backup.keep_last,
	                     cfg->backup.keep_daily_days, wall_ms(), &gone,
	                     &err) != EM_OK)
		em_log(EM_LOG_WARN, "backup: retention failed", "error", err.msg,
		       NULL);
	else if (gone > 0)
		em_metric_add("etcd_medic_backup_retention_deleted_total", NULL,
		              (double)gone);
	em_store_free(st);
}

/* Saves with the claim kept alive; the caller holds the claim. */
static enum em_status save_claimed(struct em_backup_runner *r,
                                   struct em_gw *gw, int64_t lease,
                                   struct em_manifest *m,
                                   struct em_error *err)
{
	struct keeper k = { r->cfg, lease, PTHREAD_MUTEX_INITIALIZER,
	                    PTHREAD_COND_INITIALIZER, false };
	struct em_backup_opts o;
	const char *src[20];
	size_t n = source_list(r->cfg, src, 20);
	pthread_t t;
	bool keeping;
	enum em_status rc;

	em_backup_opts_from(r->cfg, &o);
	keeping = pthread_create(&t, NULL, keep_alive, &k) == 0;
	rc = em_backup_save(gw, src, n, &o, m, err);
	if (keeping) {
		pthread_mutex_lock(&k.mu);
		k.stop = true;
		pthread_cond_signal(&k.cv);
		pthread_mutex_unlock(&k.mu);
		pthread_join(t, NULL);
	}
	return rc;
}

static void finish(struct em_backup_runner *r, const struct em_manifest *m,
                   enum em_status rc, const struct em_error *err,
                   const char *by)
{
	pthread_mutex_lock(&r->mu);
	r->last_attempt = wall_ms();
	snprintf(r->taker, sizeof(r->taker), "%s", by);
	if (rc == EM_OK) {
		r->latest = *m;
		r->have_latest = true;
		r->last_error[0] = '\0';
	} else {
		snprintf(r->last_error, sizeof(r->last_error), "%s", err->msg);
	}
	pthread_mutex_unlock(&r->mu);
	metrics_after(m, rc == EM_OK);
	if (rc == EM_OK)
		em_log(EM_LOG_INFO, "backup: snapshot taken", "snapshot", m->id,
		       "by", by, "store", r->cfg->backup.store, NULL);
	else
		em_log(EM_LOG_ERROR, "backup: snapshot failed", "by", by,
		       "error", err->msg, NULL);
}

/*
 * Takes slot (0: a request) under the claim.  *done: the slot needs no
 * more attempts (taken now or before); false when another sidecar holds
 * the claim or etcd could not be asked.
 */
static void take(struct em_backup_runner *r, struct em_gw *gw, int64_t slot,
                 const char *by, bool *done)
{
	const struct em_config *cfg = r->cfg;
	char value[256], lastkey[512];
	struct em_manifest m;
	struct em_error err;
	int64_t lease = 0, last = 0;
	enum em_status rc;
	bool got;

	*done = false;
	memset(&m, 0, sizeof(m));
	snprintf(value, sizeof(value), "%s@%" PRId64, cfg->etcd.name,
	         slot ? slot : wall_ms() / 1000);
	snprintf(lastkey, sizeof(lastkey), "%s/last", cfg->backup.lock_key);
	rc = claim(gw, cfg, value, &lease, &got, &err);
	if (rc != EM_OK || !got) {
		if (rc != EM_OK)
			em_log(EM_LOG_WARN, "backup: cannot claim the slot",
			       "error", err.msg, NULL);
		return;
	}
	rc = slot ? last_slot(gw, lastkey, &last, &err) : EM_OK;
	if (rc == EM_OK && slot && last >= slot) {
		*done = true;
	} else if (rc == EM_OK) {
		rc = save_claimed(r, gw, lease, &m, &err);
		finish(r, &m, rc, &err, by);
		if (rc == EM_OK && slot)
			rc = record_slot(gw, lastkey, slot, &m, by, &err);
		*done = rc == EM_OK;
	}
	unclaim(gw, cfg, value, lease);
	if (*done && m.id[0] != '\0')
		retain(cfg);
}

/* The newest verified snapshot the store holds, so that /snapshot/latest
 * knows it before this sidecar takes one, and after another sidecar took
 * a slot. */
static void read_latest(struct em_backup_runner *r)
{
	struct em_store_opts so = { &r->cfg->backup.s3, 0, 0 };
	struct em_store *st = NULL;
	struct em_catalog c = { NULL, 0 };
	struct em_error err;

	if (em_store_open(r->cfg->backup.store, &so, &st, &err) != EM_OK ||
	    em_backup_list(st, &c, &err) != EM_OK) {
		em_log(EM_LOG_WARN, "backup: cannot list the store", "store",
		       r->cfg->backup.store, "error", err.msg, NULL);
		em_store_free(st);
		return;
	}
	for (size_t i = c.n; i-- > 0;) {
		if (c.v[i].state == EM_SNAP_OK) {
			pthread_mutex_lock(&r->mu);
			r->latest = c.v[i].m;
			r->have_latest = true;
			pthread_mutex_unlock(&r->mu);
			break;
		}
	}
	em_catalog_free(&c);
	em_store_free(st);
}

/* ---- the schedule ---------------------------------------------------------------- */

static bool is_leader(const struct em_config *cfg, struct em_gw *gw)
{
	struct em_gw_status s;
	struct em_error err;

	if (cfg->etcd.advertise_client_urls.n == 0 ||
	    em_gw_status(gw, cfg->etcd.advertise_client_urls.v[0], &s,
	                 &err) != EM_OK)
		return false;
	return s.leader != 0 && s.leader == s.header.member_id;
}

/* One look at the pending slot: take it, or leave it for later. */
static void try_slot(struct em_backup_runner *r, struct em_gw *gw,
                     int64_t slot, int64_t now)
{
	char lastkey[512];
	struct em_error err;
	int64_t last = 0;
	bool leader = is_leader(r->cfg, gw), done = false;

	snprintf(lastkey, sizeof(lastkey), "%s/last", r->cfg->backup.lock_key);
	if (last_slot(gw, lastkey, &last, &err) != EM_OK) {
		em_log(EM_LOG_WARN, "backup: cannot read the last slot", "error",
		       err.msg, NULL);
		em_metric_add("etcd_medic_backups_total", "result=failed", 1);
		return;
	}
	if (last >= slot) {
		done = true;
		read_latest(r);
	} else if (leader || now >= slot + r->grace_s)
		take(r, gw, slot, leader ? "leader" : "fallback", &done);
	if (done) {
		pthread_mutex_lock(&r->mu);
		if (r->pending == slot)
			r->pending = 0;
		pthread_mutex_unlock(&r->mu);
	}
}

/* How long to sleep: until the next slot, the next look at the pending
 * one, or a request. */
static int64_t wake_at(const struct em_backup_runner *r, int64_t now)
{
	int64_t t = r->cfg->backup.enabled ? r->next_slot : now + 3600;

	if (r->pending != 0) {
		int64_t look = now + r->grace_s;

		if (now < r->pending + r->grace_s)
			look = r->pending + r->grace_s;
		if (look < t)
			t = look;
	}
	return t;
}

static void *run(void *arg)
{
	struct em_backup_runner *r = arg;
	struct em_gw_config gc;
	struct em_gw *gw = NULL;
	struct em_error err;

	em_gw_config_from(r->cfg, &gc);
	if (em_gw_new(&gc, &gw, &err) != EM_OK) {
		em_log(EM_LOG_ERROR, "backup: no gateway client", "error",
		       err.msg, NULL);
		return NULL;
	}
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		int64_t now = wall_ms() / 1000, slot;
		struct timespec at = { wake_at(r, now), 0 };
		bool req;

		if (!r->requested && now < at.tv_sec &&
		    pthread_cond_timedwait(&r->cv, &r->mu, &at) != ETIMEDOUT)
			continue;
		now = wall_ms() / 1000;
		req = r->requested;
		r->requested = false;
		if (r->cfg->backup.enabled && now >= r->next_slot) {
			/* A new slot supersedes one still pending. */
			r->pending = r->next_slot;
			r->next_slot = em_schedule_next(&r->sched, now);
			r->next_slot = r->next_slot ? r->next_slot : now + 86400;
		}
		slot = r->pending;
		r->busy = req || slot != 0;
		pthread_mutex_unlock(&r->mu);
		if (req) {
			bool done;

			take(r, gw, 0, "request", &done);
		}
		if (slot != 0)
			try_slot(r, gw, slot, now);
		if (req || slot != 0)
			malloc_trim(0);   /* the snapshot's memory, back */
		pthread_mutex_lock(&r->mu);
		r->busy = false;
	}
	pthread_mutex_unlock(&r->mu);
	em_gw_free(gw);
	return NULL;
}

/* ---- start, stop, and what the HTTP API asks ------------------------------------- */


enum em_status em_backup_runner_start(const struct em_config *cfg,
                                      struct em_backup_runner **out,
                                      struct em_error *err)
{
	struct em_backup_runner *r = calloc(1, sizeof(*r));
	const struct em_backup_config *b = &cfg->backup;
	int64_t now = wall_ms() / 1000;

	*out = NULL;
	if (r == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	r->cfg = cfg;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (b->cron != NULL && em_schedule_cron(&r->sched, b->cron, err) !=
	    EM_OK) {
		em_backup_runner_stop(r);
		return err->status;
	}
	if (b->cron == NULL)
		em_schedule_interval(&r->sched, b->interval_s);
	r->grace_s = b->cron ? GRACE_MAX_S : (int64_t)b->interval_s / 4;
	r->grace_s = r->grace_s < GRACE_MIN_S ? GRACE_MIN_S
	             : r->grace_s > GRACE_MAX_S ? GRACE_MAX_S : r->grace_s;
	r->next_slot = em_schedule_next(&r->sched, now);
	if (b->store != NULL) {
		read_latest(r);
		if (pthread_create(&r->thread, NULL, run, r) != 0) {
			em_backup_runner_stop(r);
			return em_error_set(err, EM_EIO, "cannot start the "
			                    "backup thread");
		}
		r->started = true;
	}
	*out = r;
	return EM_OK;
}

bool em_backup_runner_stop(struct em_backup_runner *r)
{
	bool busy;

	if (r == NULL)
		return true;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	busy = r->busy;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (busy)
		return false;
	if (r->started)
		pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return true;
}

enum em_backup_request em_backup_runner_take(struct em_backup_runner *r)
{
	enum em_backup_request a = EM_BACKUP_ACCEPTED;

	if (r == NULL || !r->started)
		return EM_BACKUP_NO_STORE;
	pthread_mutex_lock(&r->mu);
	if (r->busy || r->requested)
		a = EM_BACKUP_BUSY;
	else
		r->requested = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return a;
}

static void add(json_object *o, const char *k, json_object *v)
{
	if (v != NULL)
		json_object_object_add(o, k, v);
}

static json_object *manifest_object(const struct em_manifest *m)
{
	char *text = manifest_json(m);
	json_object *o = text ? json_tokener_parse(text) : NULL;

	free(text);
	return o;
}

char *em_backup_runner_latest_json(struct em_backup_runner *r)
{
	json_object *o = json_object_new_object();
	char *out = NULL;

	if (o == NULL)
		return NULL;
	pthread_mutex_lock(&r->mu);
	add(o, "store", r->cfg->backup.store
	    ? json_object_new_string(r->cfg->backup.store) : NULL);
	add(o, "schedule", json_object_new_boolean(r->cfg->backup.enabled));
	add(o, "running", json_object_new_boolean(r->busy || r->requested));
	if (r->cfg->backup.enabled)
		add(o, "next_slot", json_object_new_int64(r->next_slot));
	if (r->last_attempt)
		add(o, "last_attempt_ms", json_object_new_int64(r->last_attempt));
	if (r->taker[0])
		add(o, "last_taken_by", json_object_new_string(r->taker));
	if (r->last_error[0])
		add(o, "last_error", json_object_new_string(r->last_error));
	add(o, "latest", r->have_latest ? manifest_object(&r->latest) : NULL);
	pthread_mutex_unlock(&r->mu);
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}
