/*
 * gateway.h - a client of etcd's v3 JSON gateway (`/v3/...`, etcd 3.4, 3.5).
 *
 * libcurl for HTTP and TLS, json-c for JSON; the snapshot stream comes
 * through etcd's gRPC over HTTP/2 when the endpoint answers it (see
 * em_gw_snapshot).  A client holds a list of
 * endpoints (client URLs of the cluster's members, or a Service in front of
 * them): calls that any member can answer go to the first endpoint that
 * answers and fail over to the next on a transport error or timeout; calls
 * about one member (status, hash) go to that member's own URL.  Every call
 * has a timeout: a cluster without quorum can hang a request forever.
 *
 * With a username, the client takes a token from /v3/auth/authenticate,
 * sends it back raw in the Authorization header and takes a new one when
 * etcd says it is invalid or expired.
 *
 * Errors are typed from the gateway's JSON body ({error, code, message}),
 * never from the HTTP status alone (Debian's etcd answers a failed
 * precondition with 412 where upstream answers 400): err->code holds an
 * enum em_gw_errkind, and err->msg names the call, the endpoint URL and
 * etcd's own message.  err->status is EM_EFORMAT for EM_GW_BAD_RESPONSE,
 * EM_ENOENT for the "not found" kinds and EM_EIO for the other kinds;
 * errors that are not etcd's (bad arguments: EM_EUSAGE, out of memory:
 * EM_ENOMEM) leave err->code at EM_GW_OK.
 *
 * The program must call curl_global_init(CURL_GLOBAL_DEFAULT) once at
 * start, before any thread exists and before em_gw_new (libcurl's own rule;
 * the client never calls it).  A client is not thread-safe: use one per
 * thread.  The password and the token are never logged.
 */
#ifndef ETCD_MEDIC_GATEWAY_H
#define ETCD_MEDIC_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/error.h"

/* What went wrong, in etcd's terms; in struct em_error's code field. */
enum em_gw_errkind {
	EM_GW_OK = 0,
	EM_GW_TRANSPORT,          /* connect/TLS/HTTP failure on every endpoint */
	EM_GW_TIMEOUT,            /* no answer within the call's timeout */
	EM_GW_AUTH,               /* bad credentials, invalid/expired token */
	EM_GW_PERMISSION,         /* "etcdserver: permission denied" */
	EM_GW_MEMBER_NOT_FOUND,   /* "etcdserver: member not found" */
	EM_GW_MEMBER_EXISTS,      /* "member ID already exist" */
	EM_GW_PEER_URL_EXISTS,    /* "Peer URLs already exists" */
	EM_GW_BAD_URLS,           /* "given member URLs are invalid" */
	EM_GW_TOO_MANY_LEARNERS,  /* "too many learner members in cluster" */
	EM_GW_LEARNER_NOT_READY,  /* "...learner member which is in sync..." */
	EM_GW_NOT_LEARNER,        /* "can only promote a learner member" */
	EM_GW_UNHEALTHY,          /* "etcdserver: unhealthy cluster" */
	EM_GW_NOT_ENOUGH_STARTED, /* "...not enough started members" */
	EM_GW_NOT_LEADER,         /* "etcdserver: not leader" */
	EM_GW_NO_LEADER,          /* "etcdserver: no leader" */
	EM_GW_LEARNER_RPC,        /* "rpc not supported for learner" */
	EM_GW_TIMED_OUT_SERVER,   /* "etcdserver: request timed out" */
	EM_GW_NOT_SERVED,         /* the path does not exist on this version */
	EM_GW_LEASE_NOT_FOUND,    /* "etcdserver: requested lease not found" */
	EM_GW_COMPACTED,          /* "...required revision has been compacted" */
	EM_GW_BAD_RESPONSE,       /* not the JSON we expected */
	EM_GW_OTHER,              /* any other gateway error */
};

const char *em_gw_errkind_name(enum em_gw_errkind kind);

/* True for answers worth retrying after a pause (membership settling). */
bool em_gw_retryable(enum em_gw_errkind kind);

struct em_gw_config {
	const char *const *endpoints;  /* client URLs, http:// or https:// */
	size_t n_endpoints;
	const char *ca_file;           /* TLS: CA bundle; NULL: system CAs */
	const char *cert_file;         /* TLS client certificate, or NULL */
	const char *key_file;
	const char *username;          /* NULL: no authentication */
	const char *password;
	long timeout_ms;               /* per attempt; 0: 5000 */
	long connect_timeout_ms;       /* 0: 2000 */
	size_t max_answer_bytes;       /* 0: 64 MiB; a larger answer is
	                                * refused: EM_GW_BAD_RESPONSE */
};

/*
 * Timeouts: every attempt on one endpoint ends within timeout_ms.  A call
 * that fails over tries each endpoint at most once, and once more after
 * renewing an auth token, so it ends within (n_endpoints + 1) * timeout_ms.
 *
 * Failover moves on after a transport error, a timeout, "no leader" or
 * "rpc not supported for learner"; any other answer of etcd is returned at
 * once.  After a timeout etcd may still apply the request, so a retried
 * member add can meet EM_GW_PEER_URL_EXISTS for its own earlier attempt:
 * callers of non-idempotent calls check the member list before treating
 * that as a conflict.
 */

struct em_gw;
struct em_config;

/* The settings etcd-medic's config gives (its endpoints, tls, auth and
 * heal.call-timeout); the strings stay cfg's. */
void em_gw_config_from(const struct em_config *cfg, struct em_gw_config *gc);

/* Copies what it needs from cfg.  Free with em_gw_free. */
enum em_status em_gw_new(const struct em_gw_config *cfg, struct em_gw **out,
                         struct em_error *err);
void em_gw_free(struct em_gw *gw);

/* The response header every call carries (zero fields are omitted by the
 * gateway and read as 0). */
struct em_gw_header {
	uint64_t cluster_id;
	uint64_t member_id;
	int64_t revision;
	uint64_t raft_term;
};

/* A member with more URLs, or a longer one, makes the answer that lists
 * it EM_GW_BAD_RESPONSE rather than a silently shortened list. */
#define EM_GW_MAX_URLS 8
#define EM_GW_URL_MAX 256

struct em_member {
	uint64_t id;
	char name[128];               /* "" for a member not started yet */
	char peer_urls[EM_GW_MAX_URLS][EM_GW_URL_MAX];
	size_t n_peer_urls;
	char client_urls[EM_GW_MAX_URLS][EM_GW_URL_MAX];
	size_t n_client_urls;
	bool is_learner;
};

struct em_member_list {
	struct em_gw_header header;
	struct em_member *members;    /* owned; em_member_list_free */
	size_t n;
};

void em_member_list_free(struct em_member_list *ml);

/* A member's own view: /v3/maintenance/status on its client URL. */
struct em_gw_status {
	struct em_gw_header header;   /* member_id: who answered */
	char version[32];
	uint64_t db_size;
	uint64_t db_size_in_use;
	uint64_t leader;              /* 0: no leader */
	uint64_t raft_index;
	uint64_t raft_term;
	uint64_t raft_applied_index;
	bool is_learner;
	char errors[256];             /* "; "-joined, "" if none */
};

struct em_gw_alarm {
	uint64_t member_id;
	char alarm[16];               /* "NOSPACE", "CORRUPT" */
};

struct em_kv {
	uint8_t *key;                 /* owned; a NUL follows, not counted */
	size_t key_len;
	uint8_t *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

struct em_range {
	struct em_gw_header header;
	struct em_kv *kvs;            /* owned; em_range_free */
	size_t n;
	bool more;
	int64_t count;
};

void em_range_free(struct em_range *r);

struct em_range_req {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *range_end;     /* NULL: just key */
	size_t range_end_len;
	int64_t revision;             /* 0: latest */
	int64_t limit;                /* 0: no limit */
	bool serializable;            /* answered by the member itself */
	bool keys_only;
	bool count_only;
};

/*
 * Endpoint selection: `endpoint` NULL means "any of the configured
 * endpoints, with failover"; a URL means exactly that member (no failover:
 * its answer, or its error, is what the caller asked for).
 */

/* 3.4 answers from the member's own view, also without quorum (3.5 can be
 * asked for a linearizable list; this client does not ask). */
enum em_status em_gw_member_list(struct em_gw *gw, const char *endpoint,
                                 struct em_member_list *out,
                                 struct em_error *err);

/* Adds a member (a learner if learner is true); *added gets its ID. */
enum em_status em_gw_member_add(struct em_gw *gw,
                                const char *const *peer_urls, size_t n,
                                bool learner, struct em_member *added,
                                struct em_error *err);
enum em_status em_gw_member_remove(struct em_gw *gw, uint64_t id,
                                   struct em_error *err);
enum em_status em_gw_member_promote(struct em_gw *gw, uint64_t id,
                                    struct em_error *err);

enum em_status em_gw_status(struct em_gw *gw, const char *endpoint,
                            struct em_gw_status *out, struct em_error *err);

/* Active alarms; *out is malloc'ed (free it), *n may be 0. */
enum em_status em_gw_alarm_list(struct em_gw *gw, struct em_gw_alarm **out,
                                size_t *n, struct em_error *err);

/* /v3/maintenance/hash of one member: the hash of its whole backend. */
enum em_status em_gw_hash(struct em_gw *gw, const char *endpoint,
                          uint32_t *hash, struct em_gw_header *hdr,
                          struct em_error *err);

/*
 * HashKV at revision rev (0: latest) of one member.  EM_GW_NOT_SERVED when
 * the member's etcd does not route it through the gateway: 3.4 and
 * 3.5.0-3.5.9 register HashKV under Hash's path, where Hash answers first,
 * so /v3/maintenance/hashkv is a 404 there (observed on 3.4.23).
 */
enum em_status em_gw_hashkv(struct em_gw *gw, const char *endpoint,
                            int64_t rev, uint32_t *hash,
                            int64_t *compact_revision,
                            struct em_gw_header *hdr, struct em_error *err);

enum em_status em_gw_range(struct em_gw *gw, const char *endpoint,
                           const struct em_range_req *req,
                           struct em_range *out, struct em_error *err);

enum em_status em_gw_put(struct em_gw *gw, const uint8_t *key, size_t klen,
                         const uint8_t *value, size_t vlen, int64_t lease,
                         struct em_gw_header *hdr, struct em_error *err);

/*
 * The one transaction etcd-medic needs: put key=value with lease if the key
 * does not exist (create_revision == 0), else read it.  *created tells
 * which; on false, *holder (if not NULL) gets the existing pair (free with
 * em_kv_free).
 */
enum em_status em_gw_put_if_absent(struct em_gw *gw, const uint8_t *key,
                                   size_t klen, const uint8_t *value,
                                   size_t vlen, int64_t lease, bool *created,
                                   struct em_kv *holder,
                                   struct em_error *err);

/* Deletes key if its value is exactly value (the lock holder's release). */
enum em_status em_gw_delete_if_value(struct em_gw *gw, const uint8_t *key,
                                     size_t klen, const uint8_t *value,
                                     size_t vlen, bool *deleted,
                                     struct em_error *err);

void em_kv_free(struct em_kv *kv);

enum em_status em_gw_lease_grant(struct em_gw *gw, int64_t ttl_seconds,
                                 int64_t *id, struct em_error *err);
/*
 * One keep-alive round: one message on /v3/lease/keepalive (a gRPC stream,
 * which the gateway answers with {"result":{ID,TTL}} and then closes);
 * *ttl gets the renewed TTL, 0 when the lease is gone (expired, revoked or
 * never granted: etcd then omits the TTL).
 */
enum em_status em_gw_lease_keepalive(struct em_gw *gw, int64_t id,
                                     int64_t *ttl, struct em_error *err);
enum em_status em_gw_lease_revoke(struct em_gw *gw, int64_t id,
                                  struct em_error *err);

/*
 * The snapshot of one member's backend: etcd's Maintenance.Snapshot, read
 * through its gRPC over HTTP/2, or, when the endpoint does not answer gRPC
 * (nothing has reached the sink then), through the JSON gateway's
 * /v3/maintenance/snapshot.  Either is a stream of messages with
 * remaining_bytes and a blob (a piece of the db, at most 32 KiB), then one
 * whose blob is the SHA-256 of the db.  Decoded as it arrives, in constant
 * memory: each piece of the db goes to sink->write in order; the size
 * announced by the first message, the remaining count of every message
 * and etcd's SHA-256 are all checked.  A stream cut or damaged anywhere is
 * an error (sink->write has then seen a part of the db only: the sink must
 * treat what it has as garbage).
 *
 * endpoint is required (no failover in the middle of a transfer).
 * timeout_ms bounds the whole transfer (0: none); a transfer that moves no
 * byte for stall_s seconds ends with EM_GW_TIMEOUT too.
 */
struct em_gw_snapshot_sink {
	enum em_status (*write)(void *arg, const uint8_t *p, size_t n,
	                        struct em_error *err);
	void *arg;
};

struct em_gw_snapshot_info {
	uint64_t size;                /* bytes of the db */
	uint8_t sha256[32];           /* etcd's, equal to the db's */
};

enum em_status em_gw_snapshot(struct em_gw *gw, const char *endpoint,
                              long timeout_ms, long stall_s,
                              const struct em_gw_snapshot_sink *sink,
                              struct em_gw_snapshot_info *info,
                              struct em_error *err);

#endif
