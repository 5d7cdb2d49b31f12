/*
 * lock.c - the cluster-wide heal lock (heal rule 4).
 *
 * A key in etcd itself, created only if absent, bound to a lease: a holder
 * that dies loses the lock when its lease expires.  The key's value is the
 * holder's token (member name and when its replacement began), which the
 * journal keeps, so a run resumed after a crash recognises its own lock and
 * adopts the lease it finds on the key.
 */
#include "heal_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd-medic/log.h"

static const uint8_t *bytes(const char *s)
{
	return (const uint8_t *)s;
}

void backoff_sleep(unsigned *step_ms, unsigned cap_ms)
{
	struct timespec ts;

	if (*step_ms == 0)
		*step_ms = 200;
	ts.tv_sec = *step_ms / 1000;
	ts.tv_nsec = (long)(*step_ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	*step_ms = *step_ms * 2 > cap_ms ? cap_ms : *step_ms * 2;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads the lock key: *held false if free, else its value and lease. */
static enum em_status lock_read(const struct em_config *cfg,
                                struct em_gw *gw, bool *held, char *value,
                                size_t vlen, int64_t *lease,
                                struct em_error *err)
{
	struct em_range_req req;
	struct em_range r;
	enum em_status st;

	memset(&req, 0, sizeof(req));
	req.key = bytes(cfg->heal.lock_key);
	req.key_len = strlen(cfg->heal.lock_key);
	st = em_gw_range(gw, NULL, &req, &r, err);
	if (st != EM_OK)
		return st;
	*held = r.n > 0;
	if (*held) {
		size_t n = r.kvs[0].value_len < vlen - 1 ?
			r.kvs[0].value_len : vlen - 1;
		memcpy(value, r.kvs[0].value, n);
		value[n] = '\0';
		*lease = r.kvs[0].lease;
	}
	em_range_free(&r);
	return EM_OK;
}

/* One attempt: a new lease, and the key if absent.  On a lost race the
 * lease is revoked at once so it does not linger. */
static enum em_status try_take(const struct em_config *cfg, struct em_gw *gw,
                               struct journal *j, bool *got,
                               struct em_error *err)
{
	int64_t lease = 0;
	enum em_status st;

	st = em_gw_lease_grant(gw, cfg->heal.lock_ttl_s, &lease, err);
	if (st != EM_OK)
		return st;
	st = em_gw_put_if_absent(gw, bytes(cfg->heal.lock_key),
	                         strlen(cfg->heal.lock_key), bytes(j->token),
	                         strlen(j->token), lease, got, NULL, err);
	if (st != EM_OK || !*got) {
		struct em_error e2;
		em_gw_lease_revoke(gw, lease, &e2);
		return st;
	}
	j->lease = lease;
	return EM_OK;
}

enum em_status lock_acquire(const struct em_config *cfg, struct em_gw *gw,
                            struct journal *j, bool *got,
                            char *why, size_t whylen, struct em_error *err)
{
	uint64_t deadline = now_ms() + cfg->heal.retry_timeout_s * 1000ull;
	unsigned backoff = 0;
	char holder[128] = "";
	bool logged = false;

	*got = false;
	for (;;) {
		enum em_status st;
		int64_t lease = 0;
		bool held;

		holder[0] = '\0';
		st = lock_read(cfg, gw, &held, holder, sizeof(holder), &lease,
		               err);
		if (st == EM_OK && held && strcmp(holder, j->token) == 0) {
			/* Ours, from before a crash: adopt its lease. */
			j->lease = lease;
			*got = true;
			return EM_OK;
		}
		if (st == EM_OK && !held)
			st = try_take(cfg, gw, j, got, err);
		if (st == EM_OK && *got) {
			em_log(EM_LOG_INFO, "heal lock taken", "key",
			       cfg->heal.lock_key, "holder", j->token, NULL);
			return EM_OK;
		}
		if (st != EM_OK && !em_gw_retryable(err->code))
			return st;
		if (!logged && held) {
			em_log(EM_LOG_INFO, "waiting for the heal lock", "key",
			       cfg->heal.lock_key, "holder", holder, NULL);
			logged = true;
		}
		if (now_ms() >= deadline)
			break;
		backoff_sleep(&backoff, 5000);
	}
	if (holder[0] != '\0')
		snprintf(why, whylen, "the heal lock %s is held by \"%s\": "
		         "another member is being replaced; this one waits "
		         "its turn", cfg->heal.lock_key, holder);
	else
		snprintf(why, whylen, "cannot take the heal lock %s: %.300s",
		         cfg->heal.lock_key, err->msg);
	return EM_OK;
}

enum em_status lock_refresh(const struct em_config *cfg, struct em_gw *gw,
                            struct journal *j, struct em_error *err)
{
	int64_t ttl = 0;
	enum em_status st;
	char why[256];
	bool got;

	if (j->lease != 0) {
		st = em_gw_lease_keepalive(gw, j->lease, &ttl, err);
		if (st == EM_OK && ttl > 0)
			return EM_OK;
	}
	/* The lease expired (a long pause, or a crash): take the lock again
	 * if nobody else did; the learner in flight keeps others out until
	 * then, since etcd allows one learner. */
	em_log(EM_LOG_WARN, "heal lock lease expired; taking the lock again",
	       "key", cfg->heal.lock_key, NULL);
	st = lock_acquire(cfg, gw, j, &got, why, sizeof(why), err);
	if (st == EM_OK && !got)
		return em_error_set(err, EM_EBUSY, "%s", why);
	return st;
}

enum em_status lock_release(const struct em_config *cfg, struct em_gw *gw,
                            struct journal *j, struct em_error *err)
{
	bool deleted = false;
	enum em_status st;

	st = em_gw_delete_if_value(gw, bytes(cfg->heal.lock_key),
	                           strlen(cfg->heal.lock_key), bytes(j->token),
	                           strlen(j->token), &deleted, err);
	if (st != EM_OK)
		return st;
	if (j->lease != 0) {
		struct em_error e2;
		/* A lease that already expired is fine: it is gone. */
		em_gw_lease_revoke(gw, j->lease, &e2);
	}
	em_log(EM_LOG_INFO, "heal lock released", "key", cfg->heal.lock_key,
	       NULL);
	j->lease = 0;
	return EM_OK;
}
