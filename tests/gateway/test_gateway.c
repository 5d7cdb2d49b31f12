/*
 * test_gateway.c - the gateway client against real etcd of the version under
 * test (GW_ETCD_VERSION: 3.4, 3.5, 3.6 or 3.7, see tests/etcd/versions),
 * never a mock: the contract etcd-medic relies on, every call and every typed
 * error, asserted on each version.  tests/gateway/run.sh starts the etcd
 * each phase needs and runs this program once per phase (GW_PHASE):
 *
 *   cluster   3 voters: members, status, alarms, hash, hashkv, keys,
 *             transactions, leases, failover, membership errors; ends by
 *             adding a learner (GW_LEARNER_PEER_URL) whose etcd is not
 *             started yet
 *   learner   that learner's etcd runs (GW_LEARNER_URL): what a learner
 *             answers, promotion once caught up, removal
 *   degraded  1 of the 3 voters stopped (GW_ENDPOINTS: the two left):
 *             etcd refuses a change that would leave it without an active
 *             quorum ("unhealthy cluster", gRPC code 14, HTTP 503)
 *   noquorum  2 of the 3 voters stopped (GW_ENDPOINTS: the one left,
 *             GW_DOWN: the stopped ones): every call ends in its timeout
 *   tls       one member, https with client-certificate auth (GW_CA,
 *             GW_CERT, GW_KEY)
 *   auth      one member with auth on (root, GW_PASSWORD; "app" without
 *             roles, password "app") and --auth-token-ttl GW_TOKEN_TTL
 *
 * Every phase takes a snapshot too: through etcd's gRPC (HTTP/2 by prior
 * knowledge, or by ALPN over TLS, the token in the metadata), or refused
 * the way etcd refuses it.
 *
 * GW_ENDPOINTS is a comma-separated list of client URLs; GW_DEAD_URL is a
 * URL where nothing listens.
 */
#include <check.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "etcd-medic/gateway.h"
#include "etcd-medic/log.h"

#define MAX_EP 8

struct eps {
	char buf[1024];
	const char *v[MAX_EP];
	size_t n;
};

static const char *env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && v[0] != '\0', "%s is not set", name);
	return v;
}

static void split(const char *list, struct eps *e)
{
	char *save = NULL, *tok;

	snprintf(e->buf, sizeof(e->buf), "%s", list);
	e->n = 0;
	for (tok = strtok_r(e->buf, ",", &save); tok && e->n < MAX_EP;
	     tok = strtok_r(NULL, ",", &save))
		e->v[e->n++] = tok;
	ck_assert_uint_gt(e->n, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The etcd under test, as major*10000 + minor*100 + patch. */
static long etcd_version(void)
{
	unsigned maj, min, patch;

	ck_assert_msg(sscanf(env("GW_ETCD_VERSION"), "%u.%u.%u", &maj, &min,
	                     &patch) == 3, "GW_ETCD_VERSION is not X.Y.Z");
	return (long)maj * 10000 + (long)min * 100 + (long)patch;
}

static bool etcd_at_least(unsigned maj, unsigned min, unsigned patch)
{
	return etcd_version() >= (long)maj * 10000 + (long)min * 100 + patch;
}

static struct em_gw *client_cfg(const struct em_gw_config *cfg)
{
	struct em_error err;
	struct em_gw *gw = NULL;

	ck_assert_msg(em_gw_new(cfg, &gw, &err) == EM_OK, "em_gw_new: %s",
	              err.msg);
	return gw;
}

static struct em_gw *client_of(const char *const *eps, size_t n,
                               long timeout_ms)
{
	struct em_gw_config cfg = { .endpoints = eps, .n_endpoints = n,
	                            .timeout_ms = timeout_ms };

	return client_cfg(&cfg);
}

/* A client of GW_ENDPOINTS; *e keeps the list. */
static struct em_gw *client(struct eps *e)
{
	split(env("GW_ENDPOINTS"), e);
	return client_of(e->v, e->n, 5000);
}

#define ASSERT_OK(call, err)                                                 \
	ck_assert_msg((call) == EM_OK, "%s failed: [%s] %s", #call,          \
	              em_gw_errkind_name((err).code), (err).msg)

#define ASSERT_KIND(call, err, kind)                                         \
	do {                                                                 \
		enum em_status st_ = (call);                                 \
		ck_assert_msg(st_ != EM_OK && (err).code == (kind),          \
		              "%s: want %s, got status %d [%s] %s", #call,   \
		              em_gw_errkind_name(kind), st_,                 \
		              em_gw_errkind_name((err).code), (err).msg);    \
	} while (0)

static const uint8_t *B(const char *s) { return (const uint8_t *)s; }

/* Sends stderr, and so the log, to a temporary file; fine in a test,
 * which runs in a process of its own. */
static FILE *capture_log(enum em_log_format format)
{
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
	em_log_setup(format, EM_LOG_DEBUG);
	return f;
}

/* What was written to f so far. */
static char *slurp(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = lseek(fileno(f), 0, SEEK_CUR);
	ck_assert_int_ge(n, 0);
	s = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(pread(fileno(f), s, (size_t)n, 0), n);
	return s;
}

/* --- snapshots (every phase) ------------------------------------------- */

struct hashing_sink {
	struct sha256_ctx md;
	uint64_t n;
	unsigned calls;
};

static enum em_status hash_write(void *arg, const uint8_t *p, size_t n,
                                 struct em_error *err)
{
	struct hashing_sink *h = arg;

	(void)err;
	sha256_update(&h->md, n, p);
	h->n += n;
	h->calls++;
	return EM_OK;
}

/* em_gw_snapshot on endpoint into a sink that hashes the db; *hs says
 * what reached it. */
static enum em_status snapshot(struct em_gw *gw, const char *endpoint,
                               struct hashing_sink *hs,
                               struct em_gw_snapshot_info *info,
                               struct em_error *err)
{
	struct em_gw_snapshot_sink sink = { hash_write, hs };

	memset(hs, 0, sizeof(*hs));
	sha256_init(&hs->md);
	return em_gw_snapshot(gw, endpoint, 60000, 10, &sink, info, err);
}

/* A whole snapshot through gRPC: the bytes the sink got are the db etcd
 * announced, with etcd's SHA-256, and the log never says the JSON gateway
 * was used instead.  Returns what was logged meanwhile; free it. */
static char *snapshot_ok(struct em_gw *gw, const char *endpoint)
{
	struct hashing_sink hs;
	struct em_gw_snapshot_info info;
	struct em_error err;
	uint8_t mine[SHA256_DIGEST_SIZE];
	FILE *log = capture_log(EM_LOG_TEXT);
	char *text;

	ASSERT_OK(snapshot(gw, endpoint, &hs, &info, &err), err);
	sha256_digest(&hs.md, sizeof(mine), mine);
	ck_assert_uint_eq(hs.n, info.size);
	ck_assert_uint_gt(info.size, 0);
	ck_assert_uint_eq(info.size % 4096, 0);   /* whole bbolt pages */
	ck_assert_mem_eq(mine, info.sha256, sizeof(mine));
	text = slurp(log);
	ck_assert_msg(strstr(text, "JSON gateway") == NULL, "%s", text);
	fclose(log);
	return text;
}

/* --- cluster ---------------------------------------------------------- */

START_TEST(t_member_list)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_member_list ml;
	struct em_error err;
	char peer[EM_GW_URL_MAX];

	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	ck_assert_uint_eq(ml.n, 3);
	ck_assert_uint_ne(ml.header.cluster_id, 0);
	for (size_t i = 0; i < ml.n; i++) {
		ck_assert_uint_ne(ml.members[i].id, 0);
		ck_assert_int_eq(ml.members[i].name[0], 'm');
		ck_assert_uint_eq(ml.members[i].n_peer_urls, 1);
		ck_assert_uint_eq(ml.members[i].n_client_urls, 1);
		ck_assert(!ml.members[i].is_learner);
	}
	em_member_list_free(&ml);
	/* One member's own answer. */
	ASSERT_OK(em_gw_member_list(gw, e.v[2], &ml, &err), err);
	ck_assert_uint_eq(ml.n, 3);
	snprintf(peer, sizeof(peer), "%s", ml.members[0].peer_urls[0]);
	em_member_list_free(&ml);
	/* A peer URL serves no gateway: its text 404 is "not served". */
	ASSERT_KIND(em_gw_member_list(gw, peer, &ml, &err), err,
	            EM_GW_NOT_SERVED);
	ck_assert_ptr_nonnull(strstr(err.msg, "404"));
	em_gw_free(gw);
}
END_TEST

START_TEST(t_status_each)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_gw_status st;
	struct em_error err;
	uint64_t leader = 0, cluster = 0;

	for (size_t i = 0; i < e.n; i++) {
		ASSERT_OK(em_gw_status(gw, e.v[i], &st, &err), err);
		ck_assert_str_eq(st.version, env("GW_ETCD_VERSION"));
		ck_assert_uint_ne(st.leader, 0);
		ck_assert_uint_ne(st.header.member_id, 0);
		ck_assert_uint_gt(st.raft_index, 0);
		ck_assert_uint_gt(st.raft_term, 0);
		ck_assert_uint_gt(st.db_size, 0);
		ck_assert(!st.is_learner);
		ck_assert_str_eq(st.errors, "");
		if (i > 0) {
			ck_assert_uint_eq(st.leader, leader);
			ck_assert_uint_eq(st.header.cluster_id, cluster);
		}
		leader = st.leader;
		cluster = st.header.cluster_id;
	}
	em_gw_free(gw);
}
END_TEST

static void put_str(struct em_gw *gw, const char *k, const char *v)
{
	struct em_error err;
	struct em_gw_header hdr;

	ASSERT_OK(em_gw_put(gw, B(k), strlen(k), B(v), strlen(v), 0, &hdr,
	                    &err), err);
	ck_assert_int_gt(hdr.revision, 0);
}

START_TEST(t_alarms_hash)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_gw_alarm *alarms;
	struct em_gw_header hdr;
	struct em_error err;
	uint32_t hash;
	int64_t compact;
	size_t n;

	ASSERT_OK(em_gw_alarm_list(gw, &alarms, &n, &err), err);
	ck_assert_uint_eq(n, 0);
	free(alarms);
	ASSERT_OK(em_gw_hash(gw, e.v[1], &hash, &hdr, &err), err);
	ck_assert_uint_ne(hash, 0);
	ck_assert_uint_ne(hdr.member_id, 0);
	if (!etcd_at_least(3, 5, 10)) {
		/* The gateway routes HashKV from 3.5.10 on. */
		ASSERT_KIND(em_gw_hashkv(gw, e.v[0], 0, &hash, &compact, &hdr,
		                         &err), err, EM_GW_NOT_SERVED);
		ck_assert_int_eq(err.status, EM_ENOENT);
		ck_assert_ptr_nonnull(strstr(err.msg, e.v[0]));
		ck_assert_ptr_nonnull(strstr(err.msg, "hashkv"));
		em_gw_free(gw);
		return;
	}
	/* Every member's keyspace hash at one revision: the same. */
	put_str(gw, "/gw/hashkv", "1");
	ASSERT_OK(em_gw_hashkv(gw, e.v[0], 0, &hash, &compact, &hdr, &err),
	          err);
	ck_assert_uint_ne(hash, 0);
	ck_assert_uint_ne(hdr.member_id, 0);
	ck_assert_int_gt(hdr.revision, 1);
	for (size_t i = 1; i < e.n; i++) {
		struct em_gw_header h;
		uint32_t other;
		int64_t c;
		int tries = 0;

		/* A follower may not have applied that revision yet. */
		while (em_gw_hashkv(gw, e.v[i], hdr.revision, &other, &c, &h,
		                    &err) != EM_OK && tries++ < 20)
			usleep(50000);
		ck_assert_msg(tries <= 20, "hashkv on %s: %s", e.v[i], err.msg);
		ck_assert_uint_eq(other, hash);
		ck_assert_int_eq(c, compact);
		ck_assert_uint_ne(h.member_id, hdr.member_id);
	}
	/* A revision beyond the newest is etcd's error, typed as other. */
	ck_assert_int_ne(em_gw_hashkv(gw, e.v[0], hdr.revision + 1000, &hash,
	                              &compact, NULL, &err), EM_OK);
	ck_assert_ptr_nonnull(strstr(err.msg, "future revision"));
	em_gw_free(gw);
}
END_TEST

START_TEST(t_range_pages)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_range_req q = { 0 };
	struct em_range r;
	struct em_error err;
	uint8_t next[40];
	char key[32], val[32];
	size_t seen = 0, pages = 0;

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "/gw/page/%02d", i);
		snprintf(val, sizeof(val), "value %d", i);
		put_str(gw, key, val);
	}
	memcpy(next, "/gw/page/", 9);
	q.key = next;
	q.key_len = 9;
	q.range_end = B("/gw/page0");
	q.range_end_len = 9;
	q.limit = 3;
	do {
		ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
		ck_assert_int_eq(r.count, 10 - (int64_t)seen);
		ck_assert_uint_eq(r.n, seen + 3 <= 10 ? 3 : 10 - seen);
		for (size_t i = 0; i < r.n; i++, seen++) {
			snprintf(key, sizeof(key), "/gw/page/%02zu", seen);
			snprintf(val, sizeof(val), "value %zu", seen);
			ck_assert_uint_eq(r.kvs[i].key_len, strlen(key));
			ck_assert_mem_eq(r.kvs[i].key, key, strlen(key));
			ck_assert_str_eq((const char *)r.kvs[i].value, val);
			ck_assert_int_gt(r.kvs[i].mod_revision, 0);
			ck_assert_int_eq(r.kvs[i].version, 1);
		}
		ck_assert(r.more == (seen < 10));
		/* The next page starts just after the last key: key + NUL. */
		ck_assert_uint_lt(r.kvs[r.n - 1].key_len, sizeof(next));
		memcpy(next, r.kvs[r.n - 1].key, r.kvs[r.n - 1].key_len);
		next[r.kvs[r.n - 1].key_len] = 0;
		q.key_len = r.kvs[r.n - 1].key_len + 1;
		pages++;
		em_range_free(&r);
	} while (seen < 10);
	ck_assert_uint_eq(pages, 4);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_range_options)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_range_req q = { 0 };
	struct em_range r;
	struct em_error err;
	const uint8_t bin_key[] = { 'b', 0, 0xff, '\n', 'k' };
	const uint8_t bin_val[] = { 0, 1, 2, 0xfe, 0 };
	struct em_gw_header hdr;

	ASSERT_OK(em_gw_put(gw, bin_key, sizeof(bin_key), bin_val,
	                    sizeof(bin_val), 0, &hdr, &err), err);
	put_str(gw, "/gw/empty", "");
	q.key = bin_key;
	q.key_len = sizeof(bin_key);
	for (size_t i = 0; i < e.n; i++) {
		q.serializable = true;
		ASSERT_OK(em_gw_range(gw, e.v[i], &q, &r, &err), err);
		/* A serializable read may lag a moment on a follower. */
		if (r.n == 0) {
			em_range_free(&r);
			usleep(300000);
			ASSERT_OK(em_gw_range(gw, e.v[i], &q, &r, &err), err);
		}
		ck_assert_uint_eq(r.n, 1);
		ck_assert_uint_eq(r.kvs[0].value_len, sizeof(bin_val));
		ck_assert_mem_eq(r.kvs[0].value, bin_val, sizeof(bin_val));
		ck_assert_mem_eq(r.kvs[0].key, bin_key, sizeof(bin_key));
		em_range_free(&r);
	}
	q.serializable = false;
	q.key = B("/gw/empty");
	q.key_len = 9;
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.kvs[0].value_len, 0);
	ck_assert_ptr_nonnull(r.kvs[0].value);
	em_range_free(&r);
	q.key = B("/gw/page/");
	q.key_len = 9;
	q.range_end = B("/gw/page0");
	q.range_end_len = 9;
	q.keys_only = true;
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 10);
	ck_assert_uint_eq(r.kvs[3].value_len, 0);
	em_range_free(&r);
	q.keys_only = false;
	q.count_only = true;
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_int_eq(r.count, 10);
	em_range_free(&r);
	/* Missing key: no kvs, count 0 (both omitted by the gateway). */
	q.count_only = false;
	q.key = B("/gw/none");
	q.key_len = 8;
	q.range_end = NULL;
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_int_eq(r.count, 0);
	em_range_free(&r);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_answer_limit)
{
	struct eps e;
	struct em_gw *gw;
	struct em_gw_config cfg = { .max_answer_bytes = 4096 };
	struct em_range_req q = { .key = B("/gw/big/"), .key_len = 8,
	                          .range_end = B("/gw/big0"),
	                          .range_end_len = 8 };
	struct em_range r;
	struct em_error err;
	char val[2048], key[16];

	split(env("GW_ENDPOINTS"), &e);
	cfg.endpoints = e.v;
	cfg.n_endpoints = e.n;
	gw = client_cfg(&cfg);
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "/gw/big/%d", i);
		put_str(gw, key, val);
	}
	ASSERT_KIND(em_gw_range(gw, NULL, &q, &r, &err), err,
	            EM_GW_BAD_RESPONSE);
	ck_assert_int_eq(err.status, EM_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "larger than 4096 bytes"));
	/* The handle stays usable after the cut transfer. */
	q.limit = 1;
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 1);
	ck_assert(r.more);
	em_range_free(&r);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_txns)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_kv holder;
	struct em_error err;
	bool created, deleted;
	struct em_range_req q = { .key = B("/gw/lock-a"), .key_len = 10 };
	struct em_range r;

	ASSERT_OK(em_gw_put_if_absent(gw, B("/gw/lock-a"), 10, B("first"), 5,
	                              0, &created, &holder, &err), err);
	ck_assert(created);
	ck_assert_ptr_null(holder.key);
	ASSERT_OK(em_gw_put_if_absent(gw, B("/gw/lock-a"), 10, B("second"), 6,
	                              0, &created, &holder, &err), err);
	ck_assert(!created);
	ck_assert_uint_eq(holder.value_len, 5);
	ck_assert_mem_eq(holder.value, "first", 5);
	ck_assert_mem_eq(holder.key, "/gw/lock-a", 10);
	ck_assert_int_gt(holder.create_revision, 0);
	em_kv_free(&holder);
	ASSERT_OK(em_gw_put_if_absent(gw, B("/gw/lock-a"), 10, B("third"), 5,
	                              0, &created, NULL, &err), err);
	ck_assert(!created);
	ASSERT_OK(em_gw_delete_if_value(gw, B("/gw/lock-a"), 10, B("second"),
	                                6, &deleted, &err), err);
	ck_assert(!deleted);
	ASSERT_OK(em_gw_delete_if_value(gw, B("/gw/lock-a"), 10, B("first"), 5,
	                                &deleted, &err), err);
	ck_assert(deleted);
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 0);
	em_range_free(&r);
	ASSERT_OK(em_gw_delete_if_value(gw, B("/gw/lock-a"), 10, B("first"), 5,
	                                &deleted, &err), err);
	ck_assert(!deleted);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_lease_lock)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_error err;
	struct em_range_req q = { .key = B("/gw/lock-l"), .key_len = 10 };
	struct em_range r;
	int64_t id, ttl;
	bool created;

	ASSERT_OK(em_gw_lease_grant(gw, 10, &id, &err), err);
	ck_assert_int_gt(id, 0);
	ASSERT_OK(em_gw_put_if_absent(gw, B("/gw/lock-l"), 10, B("me"), 2, id,
	                              &created, NULL, &err), err);
	ck_assert(created);
	ASSERT_OK(em_gw_lease_keepalive(gw, id, &ttl, &err), err);
	ck_assert_int_gt(ttl, 0);
	ck_assert_int_le(ttl, 10);
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.kvs[0].lease, id);
	em_range_free(&r);
	/* Keep-alive through each member (followers forward it). */
	for (size_t i = 0; i < e.n; i++) {
		struct em_gw *one = client_of(&e.v[i], 1, 5000);

		ASSERT_OK(em_gw_lease_keepalive(one, id, &ttl, &err), err);
		ck_assert_int_gt(ttl, 0);
		em_gw_free(one);
	}
	ASSERT_OK(em_gw_lease_revoke(gw, id, &err), err);
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 0);
	em_range_free(&r);
	ASSERT_OK(em_gw_lease_keepalive(gw, id, &ttl, &err), err);
	ck_assert_int_eq(ttl, 0);
	ASSERT_KIND(em_gw_lease_revoke(gw, id, &err), err,
	            EM_GW_LEASE_NOT_FOUND);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_lease_expires)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_range_req q = { .key = B("/gw/lock-x"), .key_len = 10 };
	struct em_range r = { 0 };
	struct em_error err;
	int64_t id, ttl;
	bool created;

	/* etcd raises a 1 s TTL to its minimum (2 s here). */
	ASSERT_OK(em_gw_lease_grant(gw, 1, &id, &err), err);
	ASSERT_OK(em_gw_put_if_absent(gw, q.key, q.key_len, B("me"), 2, id,
	                              &created, NULL, &err), err);
	ck_assert(created);
	/* Watch the key go (a range does not renew the lease). */
	for (int i = 0; i < 50; i++) {
		ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
		if (r.n == 0)
			break;
		em_range_free(&r);
		usleep(200000);
	}
	ck_assert_uint_eq(r.n, 0);
	em_range_free(&r);
	ASSERT_OK(em_gw_lease_keepalive(gw, id, &ttl, &err), err);
	ck_assert_int_eq(ttl, 0);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_failover)
{
	struct eps e;
	const char *eps[4];
	struct em_gw *gw;
	struct em_member_list ml;
	struct em_error err;
	FILE *log = capture_log(EM_LOG_JSON);
	char *text;
	double t0;

	split(env("GW_ENDPOINTS"), &e);
	eps[0] = env("GW_DEAD_URL");
	eps[1] = e.v[0];
	eps[2] = e.v[1];
	gw = client_of(eps, 3, 3000);
	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	ck_assert_uint_eq(ml.n, 3);
	em_member_list_free(&ml);
	text = slurp(log);
	ck_assert_msg(strstr(text, "\"msg\":\"gateway: trying the next "
	                     "endpoint\"") != NULL, "%s", text);
	ck_assert_ptr_nonnull(strstr(text, eps[0]));
	free(text);
	/* The endpoint that answered is asked first next time. */
	put_str(gw, "/gw/failover", "x");
	text = slurp(log);
	ck_assert_ptr_null(strstr(strstr(text, "\n") + 1, "trying the next"));
	free(text);
	fclose(log);
	/* An endpoint asked by name gets no failover. */
	ASSERT_KIND(em_gw_member_list(gw, eps[0], &ml, &err), err,
	            EM_GW_TRANSPORT);
	ck_assert_ptr_nonnull(strstr(err.msg, eps[0]));
	em_gw_free(gw);
	/* Nothing but dead endpoints: a transport error, quickly. */
	eps[1] = eps[0];
	gw = client_of(eps, 2, 3000);
	t0 = now_s();
	ASSERT_KIND(em_gw_member_list(gw, NULL, &ml, &err), err,
	            EM_GW_TRANSPORT);
	ck_assert_double_lt(now_s() - t0, 2.0);
	ck_assert_ptr_nonnull(strstr(err.msg, "none of the 2 endpoints"));
	ck_assert_int_eq(err.status, EM_EIO);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_credentials_without_auth)
{
	struct eps e;
	struct em_gw_config cfg = { .username = "root", .password = "x" };
	struct em_gw *gw;
	char slash[EM_GW_URL_MAX + 1];
	struct em_gw_status st;
	struct em_error err;

	/* Credentials set up before auth is turned on do no harm. */
	split(env("GW_ENDPOINTS"), &e);
	cfg.endpoints = e.v;
	cfg.n_endpoints = e.n;
	gw = client_cfg(&cfg);
	put_str(gw, "/gw/cred", "x");
	put_str(gw, "/gw/cred", "y");
	/* A trailing slash on an endpoint is harmless too. */
	snprintf(slash, sizeof(slash), "%s/", e.v[1]);
	ASSERT_OK(em_gw_status(gw, slash, &st, &err), err);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_bad_arguments)
{
	const char *bad[] = { "127.0.0.1:2379" };
	const char *good[] = { "http://127.0.0.1:1/" };
	struct em_gw_config cfg = { .endpoints = bad, .n_endpoints = 1 };
	struct em_gw *gw = NULL;
	struct em_error err;
	struct em_member_list ml;
	struct em_gw_status st;

	ck_assert_int_eq(em_gw_new(&cfg, &gw, &err), EM_EUSAGE);
	ck_assert_ptr_null(gw);
	cfg.n_endpoints = 0;
	ck_assert_int_eq(em_gw_new(&cfg, &gw, &err), EM_EUSAGE);
	gw = client_of(good, 1, 1000);
	ck_assert_int_eq(em_gw_status(gw, "ftp://x", &st, &err), EM_EUSAGE);
	ck_assert_int_eq(err.code, EM_GW_OK);
	ck_assert_int_eq(em_gw_member_add(gw, NULL, 0, true, NULL, &err),
	                 EM_EUSAGE);
	ASSERT_KIND(em_gw_member_list(gw, NULL, &ml, &err), err,
	            EM_GW_TRANSPORT);
	ck_assert(em_gw_retryable(err.code));
	em_gw_free(gw);
}
END_TEST

/* Right after a membership change (or start-up) etcd refuses the next
 * one for about 5 s: "unhealthy cluster". */
static bool unsettled(int kind)
{
	return kind == EM_GW_UNHEALTHY || kind == EM_GW_NOT_ENOUGH_STARTED;
}

/* st = call, again while etcd asks for a pause (up to 15 s). */
#define SETTLE(st, call, err)                                                \
	for (int i_ = 0; ((st) = (call)) != EM_OK && i_ < 60 &&              \
	                 unsettled((err).code); i_++)                        \
		usleep(250000)

START_TEST(t_member_errors)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_member_list ml;
	struct em_gw_status status;
	struct em_error err;
	const char *bad_url[] = { "not a url" };
	const char *taken[1];
	enum em_status st;

	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	taken[0] = ml.members[0].peer_urls[0];
	SETTLE(st, em_gw_member_add(gw, taken, 1, true, NULL, &err), err);
	ASSERT_KIND(st, err, EM_GW_PEER_URL_EXISTS);
	SETTLE(st, em_gw_member_add(gw, bad_url, 1, true, NULL, &err), err);
	ASSERT_KIND(st, err, EM_GW_BAD_URLS);
	SETTLE(st, em_gw_member_remove(gw, 12345, &err), err);
	ASSERT_KIND(st, err, EM_GW_MEMBER_NOT_FOUND);
	ck_assert_int_eq(err.status, EM_ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "member not found"));
	ck_assert_ptr_nonnull(strstr(err.msg, "member remove"));
	ASSERT_OK(em_gw_status(gw, e.v[0], &status, &err), err);
	SETTLE(st, em_gw_member_promote(gw, status.header.member_id, &err),
	       err);
	ASSERT_KIND(st, err, EM_GW_NOT_LEARNER);
	em_member_list_free(&ml);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_learner_add)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	const char *peer[] = { env("GW_LEARNER_PEER_URL") };
	const char *other[] = { "http://127.0.0.1:1" };
	struct em_member added;
	struct em_member_list ml;
	struct em_error err;
	size_t learners = 0;
	enum em_status st;

	SETTLE(st, em_gw_member_add(gw, peer, 1, true, &added, &err), err);
	ASSERT_OK(st, err);
	ck_assert_uint_ne(added.id, 0);
	ck_assert(added.is_learner);
	ck_assert_str_eq(added.peer_urls[0], peer[0]);
	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	ck_assert_uint_eq(ml.n, 4);
	for (size_t i = 0; i < ml.n; i++) {
		if (ml.members[i].id != added.id)
			continue;
		learners++;
		ck_assert(ml.members[i].is_learner);
		ck_assert_str_eq(ml.members[i].name, "");
		ck_assert_uint_eq(ml.members[i].n_client_urls, 0);
	}
	ck_assert_uint_eq(learners, 1);
	em_member_list_free(&ml);
	/* Its etcd has not started: far from in sync. */
	SETTLE(st, em_gw_member_promote(gw, added.id, &err), err);
	ASSERT_KIND(st, err, EM_GW_LEARNER_NOT_READY);
	ck_assert(em_gw_retryable(err.code));
	/* One learner at a time: 3.4 and 3.5 allow no more, 3.6's
	 * --max-learners defaults to 1. */
	SETTLE(st, em_gw_member_add(gw, other, 1, true, NULL, &err), err);
	ASSERT_KIND(st, err, EM_GW_TOO_MANY_LEARNERS);
	ck_assert(!em_gw_retryable(err.code));
	em_gw_free(gw);
}
END_TEST

/* --- learner ---------------------------------------------------------- */

static uint64_t learner_id(struct em_gw *gw)
{
	struct em_member_list ml;
	struct em_error err;
	uint64_t id = 0;

	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	for (size_t i = 0; i < ml.n; i++)
		if (ml.members[i].is_learner)
			id = ml.members[i].id;
	em_member_list_free(&ml);
	return id;
}

START_TEST(t_snapshot_grpc)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct hashing_sink hs;
	struct em_gw_snapshot_info info;
	struct em_error err;

	for (size_t i = 0; i < e.n; i++)
		free(snapshot_ok(gw, e.v[i]));
	/* Unary calls go on over HTTP/1.1 on the same client. */
	put_str(gw, "/gw/after-snapshot", "1");
	/* Nothing listens: an error, not a fall back to the gateway. */
	ASSERT_KIND(snapshot(gw, env("GW_DEAD_URL"), &hs, &info, &err), err,
	            EM_GW_TRANSPORT);
	ck_assert_uint_eq(hs.calls, 0);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_learner_answers)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	const char *lurl = env("GW_LEARNER_URL");
	struct em_gw_status st;
	struct em_member_list ml;
	struct em_range_req q = { .key = B("/gw/failover"), .key_len = 12 };
	struct em_range r;
	struct em_error err;
	struct hashing_sink hs;
	struct em_gw_snapshot_info info;
	uint32_t hash;
	uint64_t id = learner_id(gw);

	ck_assert_uint_ne(id, 0);
	ASSERT_OK(em_gw_status(gw, lurl, &st, &err), err);
	ck_assert(st.is_learner);
	ck_assert_uint_eq(st.header.member_id, id);
	ck_assert_uint_ne(st.leader, 0);
	q.serializable = true;
	ASSERT_OK(em_gw_range(gw, lurl, &q, &r, &err), err);
	em_range_free(&r);
	q.serializable = false;
	ASSERT_KIND(em_gw_range(gw, lurl, &q, &r, &err), err,
	            EM_GW_LEARNER_RPC);
	ASSERT_KIND(em_gw_member_list(gw, lurl, &ml, &err), err,
	            EM_GW_LEARNER_RPC);
	ASSERT_KIND(em_gw_hash(gw, lurl, &hash, NULL, &err), err,
	            EM_GW_LEARNER_RPC);
	ck_assert_ptr_nonnull(strstr(err.msg, "rpc not supported for learner"));
	if (etcd_at_least(3, 5, 10)) {
		int64_t compact;

		ASSERT_KIND(em_gw_hashkv(gw, lurl, 0, &hash, &compact, NULL,
		                         &err), err, EM_GW_LEARNER_RPC);
	}
	if (etcd_at_least(3, 5, 0)) {
		/* From 3.5 a learner serves the one stream it may: Snapshot
		 * (v3rpc's stream interceptor lets it through). */
		free(snapshot_ok(gw, lurl));
		em_gw_free(gw);
		return;
	}
	/* 3.4's gRPC refuses it in the trailers: typed the same way. */
	ASSERT_KIND(snapshot(gw, lurl, &hs, &info, &err), err,
	            EM_GW_LEARNER_RPC);
	ck_assert_ptr_nonnull(strstr(err.msg, "rpc not supported for learner"));
	ck_assert_uint_eq(hs.calls, 0);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_learner_failover)
{
	struct eps e;
	const char *eps[2];
	struct em_gw *gw;
	struct em_error err;
	int64_t lease, ttl;

	split(env("GW_ENDPOINTS"), &e);
	eps[0] = env("GW_LEARNER_URL");
	eps[1] = e.v[1];
	/* Only a learner: its refusal is the answer, also for a stream. */
	gw = client_of(eps, 1, 3000);
	ASSERT_KIND(em_gw_lease_grant(gw, 30, &lease, &err), err,
	            EM_GW_LEARNER_RPC);
	ASSERT_KIND(em_gw_lease_keepalive(gw, 1, &ttl, &err), err,
	            EM_GW_LEARNER_RPC);
	em_gw_free(gw);
	/* Learner first: the voter behind it answers. */
	gw = client_of(eps, 2, 3000);
	put_str(gw, "/gw/via-learner", "x");
	ASSERT_OK(em_gw_lease_grant(gw, 30, &lease, &err), err);
	ASSERT_OK(em_gw_lease_keepalive(gw, lease, &ttl, &err), err);
	ck_assert_int_gt(ttl, 0);
	ASSERT_OK(em_gw_lease_revoke(gw, lease, &err), err);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_promote_remove)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_member_list ml;
	struct em_error err;
	uint64_t id = learner_id(gw);
	enum em_status st;
	int i;

	ck_assert_uint_ne(id, 0);
	for (i = 0; i < 80; i++) {
		st = em_gw_member_promote(gw, id, &err);
		if (st == EM_OK || !em_gw_retryable(err.code))
			break;
		usleep(250000);
	}
	ASSERT_OK(st, err);
	/* A follower forwards the promotion to the leader and answers
	 * before it applied it itself: its member list may lag a moment. */
	for (i = 0; i < 40; i++) {
		bool learner = false;

		ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
		ck_assert_uint_eq(ml.n, 4);
		for (size_t k = 0; k < ml.n; k++)
			learner |= ml.members[k].is_learner;
		em_member_list_free(&ml);
		if (!learner)
			break;
		usleep(100000);
	}
	ck_assert_int_lt(i, 40);
	SETTLE(st, em_gw_member_remove(gw, id, &err), err);
	ASSERT_OK(st, err);
	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	ck_assert_uint_eq(ml.n, 3);
	em_member_list_free(&ml);
	ASSERT_KIND(em_gw_member_remove(gw, id, &err), err,
	            EM_GW_MEMBER_NOT_FOUND);
	em_gw_free(gw);
}
END_TEST

/* --- degraded --------------------------------------------------------- */

/* etcd's answer to a change that would leave the cluster without an active
 * quorum, from any release: typed "unhealthy", retryable, with gRPC's code
 * 14 (Unavailable) and HTTP 503 in the message. */
static void assert_unhealthy(enum em_status st, const struct em_error *err)
{
	ck_assert_msg(st != EM_OK && err->code == EM_GW_UNHEALTHY,
	              "want unhealthy, got status %d [%s] %s", st,
	              em_gw_errkind_name(err->code), err->msg);
	ck_assert(em_gw_retryable(err->code));
	ck_assert_ptr_nonnull(strstr(err->msg, "unhealthy cluster"));
	ck_assert_ptr_nonnull(strstr(err->msg, "gRPC code 14"));
	ck_assert_ptr_nonnull(strstr(err->msg, "HTTP 503"));
}

START_TEST(t_degraded_refusals)
{
	struct eps e;
	struct em_gw *gw = client(&e);
	struct em_gw_status st;
	struct em_member_list ml;
	struct em_error err;
	const char *voter[] = { "http://127.0.0.1:2" };

	/* A voter added now would make 4, of which 2 answer. */
	assert_unhealthy(em_gw_member_add(gw, voter, 1, false, NULL, &err),
	                 &err);
	/* Removing an answering voter would leave 1 of 2. */
	ASSERT_OK(em_gw_status(gw, e.v[1], &st, &err), err);
	assert_unhealthy(em_gw_member_remove(gw, st.header.member_id, &err),
	                 &err);
	/* Nothing changed. */
	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	ck_assert_uint_eq(ml.n, 3);
	em_member_list_free(&ml);
	em_gw_free(gw);
}
END_TEST

/* --- noquorum --------------------------------------------------------- */

#define NQ_TIMEOUT_MS 1500

/* One call that must end in a timeout within its bound. */
static void assert_times_out(enum em_status st, const struct em_error *err,
                             double t0, double bound_s, const char *what)
{
	double took = now_s() - t0;

	ck_assert_msg(st != EM_OK && err->code == EM_GW_TIMEOUT,
	              "%s: want a timeout, got [%s] %s", what,
	              em_gw_errkind_name(err->code), err->msg);
	ck_assert_msg(took >= NQ_TIMEOUT_MS / 1000.0 - 0.1 && took < bound_s,
	              "%s took %.2f s", what, took);
}

START_TEST(t_noquorum_timeouts)
{
	struct eps e;
	struct em_gw *gw;
	struct em_range_req q = { .key = B("/gw/failover"), .key_len = 12 };
	struct em_range r;
	struct em_error err;
	struct em_gw_header hdr;
	int64_t lease;
	double t0;

	split(env("GW_ENDPOINTS"), &e);
	gw = client_of(e.v, 1, NQ_TIMEOUT_MS);
	t0 = now_s();
	assert_times_out(em_gw_put(gw, B("/gw/nq"), 6, B("x"), 1, 0, &hdr,
	                           &err), &err, t0, 2.5, "put");
	ck_assert_ptr_nonnull(strstr(err.msg, e.v[0]));
	t0 = now_s();
	assert_times_out(em_gw_range(gw, NULL, &q, &r, &err), &err, t0, 2.5,
	                 "linearizable range");
	t0 = now_s();
	assert_times_out(em_gw_lease_grant(gw, 10, &lease, &err), &err, t0,
	                 2.5, "lease grant");
	/* A serializable read needs no quorum. */
	q.serializable = true;
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 1);
	em_range_free(&r);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_noquorum_failover)
{
	struct eps e, down;
	const char *eps[3];
	struct em_gw *gw;
	struct em_error err;
	struct em_gw_header hdr;
	double t0;

	split(env("GW_ENDPOINTS"), &e);
	split(env("GW_DOWN"), &down);
	eps[0] = down.v[0];
	eps[1] = e.v[0];
	eps[2] = down.v[1];
	gw = client_of(eps, 3, NQ_TIMEOUT_MS);
	t0 = now_s();
	assert_times_out(em_gw_put(gw, B("/gw/nq"), 6, B("x"), 1, 0, &hdr,
	                           &err), &err, t0, 3.0, "put, 3 endpoints");
	ck_assert_ptr_nonnull(strstr(err.msg, "none of the 3 endpoints"));
	em_gw_free(gw);
}
END_TEST

START_TEST(t_noquorum_status)
{
	struct eps e;
	struct em_gw *gw;
	struct em_gw_status st;
	struct em_member_list ml;
	struct em_error err;

	split(env("GW_ENDPOINTS"), &e);
	gw = client_of(e.v, 1, NQ_TIMEOUT_MS);
	/* The leader steps down once it misses its quorum (CheckQuorum). */
	for (int i = 0; i < 50; i++) {
		ASSERT_OK(em_gw_status(gw, e.v[0], &st, &err), err);
		if (st.leader == 0)
			break;
		usleep(200000);
	}
	ck_assert_uint_eq(st.leader, 0);
	ck_assert_ptr_nonnull(strstr(st.errors, "no leader"));
	/* The member list is answered from the member's own view (a
	 * linearizable one, which 3.5 added, would wait for a leader). */
	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	ck_assert_uint_eq(ml.n, 3);
	em_member_list_free(&ml);
	em_gw_free(gw);
}
END_TEST

/* --- tls -------------------------------------------------------------- */

static struct em_gw *tls_client(bool ca, bool cert, long timeout_ms)
{
	static struct eps e;
	struct em_gw_config cfg = { 0 };

	split(env("GW_ENDPOINTS"), &e);
	cfg.endpoints = e.v;
	cfg.n_endpoints = e.n;
	cfg.ca_file = ca ? env("GW_CA") : NULL;
	cfg.cert_file = cert ? env("GW_CERT") : NULL;
	cfg.key_file = cert ? env("GW_KEY") : NULL;
	cfg.timeout_ms = timeout_ms;
	return client_cfg(&cfg);
}

static const char *tls_endpoint(void)
{
	static struct eps e;

	split(env("GW_ENDPOINTS"), &e);
	return e.v[0];
}

START_TEST(t_tls_ok)
{
	struct em_gw *gw = tls_client(true, true, 5000);
	struct em_gw_status st;
	struct em_range_req q = { .key = B("/gw/tls"), .key_len = 7 };
	struct em_range r;
	struct em_error err;

	ASSERT_OK(em_gw_status(gw, NULL, &st, &err), err);
	ck_assert_uint_ne(st.leader, 0);
	put_str(gw, "/gw/tls", "secret");
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq((const char *)r.kvs[0].value, "secret");
	em_range_free(&r);
	free(snapshot_ok(gw, tls_endpoint()));
	em_gw_free(gw);
}
END_TEST

START_TEST(t_tls_no_ca)
{
	struct em_gw *gw = tls_client(false, true, 5000);
	struct em_gw_status st;
	struct em_error err;
	double t0 = now_s();

	ASSERT_KIND(em_gw_status(gw, NULL, &st, &err), err, EM_GW_TRANSPORT);
	ck_assert_double_lt(now_s() - t0, 3.0);
	ck_assert_ptr_nonnull(strstr(err.msg, "https://"));
	ck_assert_msg(strstr(err.msg, "certificate") != NULL ||
	              strstr(err.msg, "SSL") != NULL, "%s", err.msg);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_tls_no_client_cert)
{
	struct em_gw *gw = tls_client(true, false, 5000);
	struct em_gw_status st;
	struct em_error err;

	ASSERT_KIND(em_gw_status(gw, NULL, &st, &err), err, EM_GW_TRANSPORT);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_tls_plain_http)
{
	struct eps e;
	char url[256];
	struct em_gw *gw;
	struct em_gw_status st;
	struct em_error err;

	/* Plain HTTP to etcd's TLS port: it closes without a word. */
	split(env("GW_ENDPOINTS"), &e);
	snprintf(url, sizeof(url), "http://%s", e.v[0] + strlen("https://"));
	gw = client_of((const char *const[]){ url }, 1, 3000);
	ASSERT_KIND(em_gw_status(gw, NULL, &st, &err), err, EM_GW_TRANSPORT);
	ck_assert_ptr_nonnull(strstr(err.msg, url));
	em_gw_free(gw);
}
END_TEST

/* --- auth ------------------------------------------------------------- */

static struct em_gw *auth_client(const char *user, const char *password)
{
	static struct eps e;
	struct em_gw_config cfg = { 0 };

	split(env("GW_ENDPOINTS"), &e);
	cfg.endpoints = e.v;
	cfg.n_endpoints = e.n;
	cfg.username = user;
	cfg.password = password;
	return client_cfg(&cfg);
}

START_TEST(t_auth_wrong_password)
{
	struct em_gw *gw = auth_client("root", "not-the-password-xyz");
	struct em_member_list ml;
	struct em_error err;
	struct em_gw_header hdr;

	ASSERT_KIND(em_gw_put(gw, B("/gw/a"), 5, B("x"), 1, 0, &hdr, &err),
	            err, EM_GW_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "authenticate"));
	ck_assert_ptr_null(strstr(err.msg, "not-the-password-xyz"));
	/* Bad credentials are an answer: no failover, no retry loop. */
	ck_assert(!em_gw_retryable(err.code));
	ASSERT_KIND(em_gw_member_list(gw, NULL, &ml, &err), err, EM_GW_AUTH);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_auth_no_user)
{
	struct em_gw *gw = auth_client(NULL, NULL);
	struct em_error err;
	struct em_gw_header hdr;

	ASSERT_KIND(em_gw_put(gw, B("/gw/a"), 5, B("x"), 1, 0, &hdr, &err),
	            err, EM_GW_AUTH);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_auth_permission)
{
	struct em_gw *gw = auth_client("app", "app");
	const char *peer[] = { "http://127.0.0.1:2" };
	struct em_error err;
	struct em_gw_header hdr;

	ASSERT_KIND(em_gw_put(gw, B("/gw/a"), 5, B("x"), 1, 0, &hdr, &err),
	            err, EM_GW_PERMISSION);
	ASSERT_KIND(em_gw_member_add(gw, peer, 1, true, NULL, &err), err,
	            EM_GW_PERMISSION);
	em_gw_free(gw);
}
END_TEST

/*
 * What a user without the root role may ask under auth, which the watch of
 * a sidecar configured with such a user relies on: status, alarms and the
 * member list, on every version of the matrix (3.5.28-3.5.31 and
 * 3.6.0-3.6.11 wanted root for status; 3.5.32 and 3.6.12 relaxed it);
 * HashKV (and the snapshot, t_auth_snapshot) want root everywhere.
 */
START_TEST(t_auth_non_admin)
{
	struct em_gw *gw = auth_client("app", "app");
	struct em_gw_status st;
	struct em_gw_alarm *alarms = NULL;
	struct em_member_list ml;
	struct em_error err;
	uint32_t hash;
	int64_t compact;
	size_t n;

	ASSERT_OK(em_gw_status(gw, tls_endpoint(), &st, &err), err);
	ck_assert_uint_ne(st.leader, 0);
	ASSERT_OK(em_gw_alarm_list(gw, &alarms, &n, &err), err);
	free(alarms);
	ASSERT_OK(em_gw_member_list(gw, NULL, &ml, &err), err);
	ck_assert_uint_eq(ml.n, 1);
	em_member_list_free(&ml);
	if (etcd_at_least(3, 5, 10))
		ASSERT_KIND(em_gw_hashkv(gw, tls_endpoint(), 0, &hash, &compact,
		                         NULL, &err), err, EM_GW_PERMISSION);
	em_gw_free(gw);
}
END_TEST

/* A snapshot needs root: the token goes in gRPC's metadata, a refusal
 * comes in its trailers, an expired token is renewed as for the gateway. */
START_TEST(t_auth_snapshot)
{
	const char *password = env("GW_PASSWORD");
	long ttl = strtol(env("GW_TOKEN_TTL"), NULL, 10);
	struct em_gw *gw = auth_client("app", "app");
	struct hashing_sink hs;
	struct em_gw_snapshot_info info;
	struct em_error err;
	char *text;

	ASSERT_KIND(snapshot(gw, tls_endpoint(), &hs, &info, &err), err,
	            EM_GW_PERMISSION);
	ck_assert_uint_eq(hs.calls, 0);
	em_gw_free(gw);
	gw = auth_client(NULL, NULL);
	ASSERT_KIND(snapshot(gw, tls_endpoint(), &hs, &info, &err), err,
	            EM_GW_AUTH);
	em_gw_free(gw);
	gw = auth_client("root", password);
	free(snapshot_ok(gw, tls_endpoint()));
	usleep((useconds_t)(ttl * 1000000 + 1500000));
	text = snapshot_ok(gw, tls_endpoint());
	ck_assert_msg(strstr(text, "authenticating again") != NULL, "%s", text);
	ck_assert_ptr_null(strstr(text, password));
	free(text);
	em_gw_free(gw);
}
END_TEST

START_TEST(t_auth_token_renewal)
{
	const char *password = env("GW_PASSWORD");
	long ttl = strtol(env("GW_TOKEN_TTL"), NULL, 10);
	struct em_gw *gw = auth_client("root", password);
	struct em_range_req q = { .key = B("/gw/renew"), .key_len = 9 };
	struct em_range r;
	struct em_error err;
	/* The debug log shows the renewal, and no secret may be in it. */
	FILE *log = capture_log(EM_LOG_TEXT);
	char *text;

	put_str(gw, "/gw/renew", "1");
	/* Simple tokens die after --auth-token-ttl without use. */
	usleep((useconds_t)(ttl * 1000000 + 1500000));
	put_str(gw, "/gw/renew", "2");
	ASSERT_OK(em_gw_range(gw, NULL, &q, &r, &err), err);
	ck_assert_str_eq((const char *)r.kvs[0].value, "2");
	em_range_free(&r);
	text = slurp(log);
	ck_assert_msg(strstr(text, "authenticating again") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "invalid auth token") != NULL, "%s", text);
	ck_assert_ptr_null(strstr(text, password));
	free(text);
	fclose(log);
	em_gw_free(gw);
}
END_TEST

/* --- main ------------------------------------------------------------- */

static void cluster_phase(TCase *tc)
{
	tcase_add_test(tc, t_member_list);
	tcase_add_test(tc, t_status_each);
	tcase_add_test(tc, t_alarms_hash);
	tcase_add_test(tc, t_range_pages);
	tcase_add_test(tc, t_range_options);
	tcase_add_test(tc, t_answer_limit);
	tcase_add_test(tc, t_txns);
	tcase_add_test(tc, t_lease_lock);
	tcase_add_test(tc, t_lease_expires);
	tcase_add_test(tc, t_failover);
	tcase_add_test(tc, t_credentials_without_auth);
	tcase_add_test(tc, t_bad_arguments);
	tcase_add_test(tc, t_member_errors);
	tcase_add_test(tc, t_snapshot_grpc);
	/* Last: it leaves a learner for the next phase. */
	tcase_add_test(tc, t_learner_add);
}

static void learner_phase(TCase *tc)
{
	tcase_add_test(tc, t_learner_answers);
	tcase_add_test(tc, t_learner_failover);
	tcase_add_test(tc, t_promote_remove);
}

static void degraded_phase(TCase *tc)
{
	tcase_add_test(tc, t_degraded_refusals);
}

static void noquorum_phase(TCase *tc)
{
	tcase_add_test(tc, t_noquorum_status);
	tcase_add_test(tc, t_noquorum_timeouts);
	tcase_add_test(tc, t_noquorum_failover);
}

static void tls_phase(TCase *tc)
{
	tcase_add_test(tc, t_tls_ok);
	tcase_add_test(tc, t_tls_no_ca);
	tcase_add_test(tc, t_tls_no_client_cert);
	tcase_add_test(tc, t_tls_plain_http);
}

static void auth_phase(TCase *tc)
{
	tcase_add_test(tc, t_auth_wrong_password);
	tcase_add_test(tc, t_auth_no_user);
	tcase_add_test(tc, t_auth_permission);
	tcase_add_test(tc, t_auth_non_admin);
	tcase_add_test(tc, t_auth_token_renewal);
	tcase_add_test(tc, t_auth_snapshot);
}

static const struct {
	const char *name;
	void (*add)(TCase *tc);
} phases[] = {
	{ "cluster", cluster_phase },   { "learner", learner_phase },
	{ "degraded", degraded_phase }, { "noquorum", noquorum_phase },
	{ "tls", tls_phase },
	{ "auth", auth_phase },
};

static int run_phase(size_t i)
{
	Suite *s = suite_create("gateway");
	TCase *tc = tcase_create(phases[i].name);
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	phases[i].add(tc);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(void)
{
	const char *name = getenv("GW_PHASE");
	int rc;

	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		if (name == NULL || strcmp(name, phases[i].name) != 0)
			continue;
		/* libcurl's rule, which gateway.h passes on to programs. */
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = run_phase(i);
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "test_gateway: set GW_PHASE to cluster, learner, "
	        "degraded, noquorum, tls or auth\n");
	return 2;
}
