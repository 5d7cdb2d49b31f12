/*
 * gateway_priv.h - what the gateway client's source files share: one call
 * over the transport (gateway.c) and the JSON and base64 helpers
 * (gateway_json.c) that the calls (gateway_calls.c) build on.  Not
 * installed, not for other modules.
 */
#ifndef ETCD_MEDIC_GATEWAY_PRIV_H
#define ETCD_MEDIC_GATEWAY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "etcd-medic/gateway.h"

struct gw_call {
	const char *name;   /* for messages: "member list" */
	const char *path;   /* "/v3/cluster/member/list" */
	bool stream;        /* a server stream: its first message is the answer */
	/* Not the JSON gateway but etcd's gRPC itself, over HTTP/2 (path
	 * "/etcdserverpb.Maintenance/Snapshot"): the request is an empty
	 * message, the answer's body gRPC's frames, for a stream only.  A
	 * server that does not speak gRPC (an HTTP/1.1 proxy, say) gives
	 * EM_GW_NOT_SERVED. */
	bool grpc;
};

/*
 * POSTs req to call->path on endpoint (NULL: the configured endpoints, with
 * failover), authenticating as needed, and types any error.  On EM_OK,
 * *resp is the answer (for a stream, its first "result"); put it.
 */
enum em_status gw_request(struct em_gw *gw, const char *endpoint,
                          const struct gw_call *call, json_object *req,
                          json_object **resp, struct em_error *err);

/*
 * A streamed call: the body of a 200 answer goes to on_body piece by piece
 * as it arrives, never into memory (a snapshot is as large as the db); an
 * answer of any other status is read and typed as usual.  on_body returns
 * false to end the transfer (its own error is then the caller's to give).
 */
struct gw_stream {
	bool (*on_body)(void *arg, const char *p, size_t n);
	void *arg;
	long timeout_ms;      /* the whole transfer; 0: no limit */
	long stall_s;         /* under 1 byte/s for this long: give up */
	bool aborted;         /* on_body said stop */
};

/* gw_request for a stream on one endpoint (no failover: a transfer cut in
 * the middle cannot go on elsewhere).  EM_OK means the answer was 200 and
 * every piece of its body was taken by on_body (and, for gRPC, its status
 * was OK).  req is NULL for a gRPC call. */
enum em_status gw_request_stream(struct em_gw *gw, const char *endpoint,
                                 const struct gw_call *call,
                                 json_object *req, struct gw_stream *s,
                                 struct em_error *err);

/* An answer of the last successful gw_request that is not what we expected. */
enum em_status gw_bad_answer(const struct em_gw *gw, const struct gw_call *c,
                             struct em_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

enum em_status gw_nomem(const struct gw_call *c, struct em_error *err);

/* Sets err to kind with its em_status; the message is printf-style. */
enum em_status gw_fail(struct em_error *err, enum em_gw_errkind kind,
                       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Readers of answer fields.  A missing field is the zero value (the gateway
 * omits zeros) and reads as success; a field of the wrong type or a number
 * that does not parse returns false.
 */
bool gwj_u64(json_object *o, const char *key, uint64_t *out);
bool gwj_i64(json_object *o, const char *key, int64_t *out);
bool gwj_u32(json_object *o, const char *key, uint32_t *out);
bool gwj_bool(json_object *o, const char *key, bool *out);
/* A string field: *out NULL when missing. */
bool gwj_str(json_object *o, const char *key, const char **out);
/* An array or object field: *out NULL when missing. */
bool gwj_array(json_object *o, const char *key, json_object **out);
bool gwj_object(json_object *o, const char *key, json_object **out);
/* A base64 bytes field, decoded into a new buffer with a NUL after it
 * (never NULL on success, even when empty); free it. */
bool gwj_bytes(json_object *o, const char *key, uint8_t **out, size_t *len);

bool gwj_header(json_object *o, struct em_gw_header *hdr);

/* An error answer of etcd's gateway (unary or stream, any release's shape):
 * its message and gRPC code (0 if none).  http_failed: the answer's HTTP
 * status was not 2xx. */
bool gwj_error(json_object *o, bool http_failed, const char **msg,
               long *code);
/* The kind of etcd's error, by its message first, then by its gRPC code. */
enum em_gw_errkind gw_error_kind(const char *msg, long grpc_code);

/*
 * Builders: each takes the reference of v (also on failure, and v may be
 * NULL after a failed allocation); false means out of memory.
 */
bool gwj_add(json_object *o, const char *key, json_object *v);
json_object *gwj_new_u64(uint64_t v);  /* as a decimal string */
json_object *gwj_new_i64(int64_t v);
json_object *gwj_new_b64(const uint8_t *p, size_t n);

#endif
