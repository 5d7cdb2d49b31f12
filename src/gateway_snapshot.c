/*
 * gateway_snapshot.c - the snapshot stream of etcd (see em_gw_snapshot in
 * gateway.h), decoded as it arrives, in one of two framings:
 *
 * - gRPC over HTTP/2, first: each message a 5-byte prefix and a
 *   SnapshotResponse in protobuf (protowire.h), the blob as raw bytes;
 * - the JSON gateway, when the endpoint does not answer gRPC: json-c's
 *   incremental tokener cuts the newline-delimited messages out of
 *   whatever pieces libcurl hands over, base64.h turns each blob back into
 *   bytes.
 *
 * Both feed the same checks, with nettle's SHA-256 following the db to
 * compare with etcd's own digest.  Memory stays at one message (32 KiB of
 * db, 44 KiB as base64) whatever the size of the db.  Why gRPC first: on
 * a 1.5 GiB db the gateway's JSON and base64 cost etcd 17 s of CPU and
 * etcd-medic 7 s; through gRPC the save takes half the time.
 */
#include "gateway_priv.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "etcd-medic/base64.h"
#include "etcd-medic/log.h"
#include "etcd-medic/protowire.h"

/* 32 KiB of db (etcd's snapshotSendBufferSize) as base64, with room. */
#define BLOB_MAX_B64 (64 * 1024)

static const struct gw_call snapshot_call = {
	"snapshot", "/v3/maintenance/snapshot", true, false
};
static const struct gw_call grpc_snapshot_call = {
	"snapshot", "/etcdserverpb.Maintenance/Snapshot", true, true
};

/* A gRPC message prefix: compressed flag, big-endian length. */
#define GRPC_PREFIX 5
/* etcd sends 32 KiB of db a message; gRPC's own default limit is 4 MiB. */
#define GRPC_MESSAGE_MAX ((size_t)4 << 20)

struct snap {
	const char *endpoint;
	const struct em_gw_snapshot_sink *sink;
	struct json_tokener *tok;
	struct sha256_ctx md;
	uint64_t total;               /* announced by the first message */
	uint64_t received;
	bool started;                 /* the first message came */
	bool have_hash;               /* the last message came */
	uint8_t hash[SHA256_DIGEST_SIZE];
	uint8_t piece[BLOB_MAX_B64];  /* one decoded blob */
	/* gRPC: a message cut between two of libcurl's pieces. */
	uint8_t prefix[GRPC_PREFIX];
	size_t prefix_have;
	uint8_t *msg;                 /* when it spans pieces */
	size_t msg_len, msg_have, msg_cap;
	struct em_error err;
	bool failed;
};

__attribute__((format(printf, 3, 4)))
static bool fail(struct snap *s, enum em_gw_errkind kind, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	gw_fail(&s->err, kind, "snapshot on %s: %s", s->endpoint, what);
	s->failed = true;
	return false;
}

/* Decodes the blob of one message into s->piece; *n its length. */
static bool decode_blob(struct snap *s, const char *b64, size_t len,
                        size_t *n)
{
	if (len > BLOB_MAX_B64 * 3 / 4)
		return fail(s, EM_GW_BAD_RESPONSE, "a blob of %zu base64 bytes, "
		            "above the 32 KiB etcd sends", len);
	if (!em_b64_decode(s->piece, n, b64, len))
		return fail(s, EM_GW_BAD_RESPONSE, "a blob is not base64: %zu "
		            "characters (after %" PRIu64 " bytes)", len,
		            s->received);
	return true;
}

/* etcd's error, sent as the last message once the answer has begun:
 * typed as any other answer of etcd's (a learner's refusal, auth). */
static bool stream_error(struct snap *s, const char *msg, long code)
{
	return fail(s, gw_error_kind(msg, code), "etcd ended the stream after "
	            "%" PRIu64 " of %" PRIu64 " bytes: %s (gRPC code %ld)",
	            s->received, s->total, msg, code);
}

static bool take_hash(struct snap *s, const uint8_t *p, size_t n)
{
	uint8_t mine[SHA256_DIGEST_SIZE];

	if (n != SHA256_DIGEST_SIZE)
		return fail(s, EM_GW_BAD_RESPONSE, "the last message holds %zu "
		            "bytes, not a 32-byte SHA-256", n);
	sha256_digest(&s->md, sizeof(mine), mine);
	if (memcmp(mine, p, SHA256_DIGEST_SIZE) != 0)
		return fail(s, EM_GW_BAD_RESPONSE, "the db's SHA-256 differs "
		            "from the one etcd sent: the stream was damaged");
	memcpy(s->hash, p, SHA256_DIGEST_SIZE);
	s->have_hash = true;
	return true;
}

static bool take_data(struct snap *s, const uint8_t *p, size_t n,
                      uint64_t remaining)
{
	if (!s->started) {
		s->started = true;
		s->total = remaining + n;
	}
	if (n == 0 || n > s->total - s->received ||
	    remaining != s->total - s->received - n)
		return fail(s, EM_GW_BAD_RESPONSE, "a message of %zu bytes says "
		            "%" PRIu64 " remain, after %" PRIu64 " of %" PRIu64,
		            n, remaining, s->received, s->total);
	sha256_update(&s->md, n, p);
	if (s->sink->write(s->sink->arg, p, n, &s->err) != EM_OK) {
		s->failed = true;
		return false;
	}
	s->received += n;
	return true;
}

/* One message's blob, whichever the framing: a piece of the db, or,
 * once the db is complete, its digest. */
static bool take_blob(struct snap *s, const uint8_t *p, size_t n,
                      uint64_t remaining)
{
	if (s->have_hash)
		return fail(s, EM_GW_BAD_RESPONSE, "a message after the "
		            "SHA-256");
	if (s->started && s->received == s->total)
		return take_hash(s, p, n);
	return take_data(s, p, n, remaining);
}

static bool message(struct snap *s, json_object *o)
{
	json_object *r;
	const char *blob, *msg;
	uint64_t remaining = 0;
	size_t n = 0;
	long code;

	if (gwj_error(o, false, &msg, &code))
		return stream_error(s, msg, code);
	if (!json_object_object_get_ex(o, "result", &r) ||
	    !json_object_is_type(r, json_type_object) ||
	    !gwj_str(r, "blob", &blob) || blob == NULL ||
	    !gwj_u64(r, "remaining_bytes", &remaining))
		return fail(s, EM_GW_BAD_RESPONSE, "a message without a result "
		            "and blob, after %" PRIu64 " bytes", s->received);
	if (!decode_blob(s, blob, strlen(blob), &n))
		return false;
	return take_blob(s, s->piece, n, remaining);
}

/* One SnapshotResponse: header (1) and version (4) are not needed;
 * remaining_bytes (2), blob (3). */
static bool grpc_message(struct snap *s, const uint8_t *p, size_t n)
{
	struct em_pb_simple m;
	size_t bad = 0;

	if (em_pb_decode_simple(p, n, 1u << 2, 1u << 1 | 1u << 3 | 1u << 4,
	                        &m, &bad) != 0)
		return fail(s, EM_GW_BAD_RESPONSE, "a message that is not a "
		            "SnapshotResponse (bad field at its byte %zu, after "
		            "%" PRIu64 " bytes)", bad, s->received);
	return take_blob(s, m.bytes[3], m.len[3], m.u64[2]);
}

/* A message's prefix is whole: its length, and room for it if it will
 * not come in one piece. */
static bool grpc_prefix(struct snap *s)
{
	const uint8_t *h = s->prefix;

	if (h[0] != 0)
		return fail(s, EM_GW_BAD_RESPONSE, "a compressed gRPC message "
		            "(none was asked for), after %" PRIu64 " bytes",
		            s->received);
	s->msg_len = (size_t)h[1] << 24 | (size_t)h[2] << 16 |
	             (size_t)h[3] << 8 | h[4];
	s->msg_have = 0;
	if (s->msg_len > GRPC_MESSAGE_MAX)
		return fail(s, EM_GW_BAD_RESPONSE, "a gRPC message of %zu "
		            "bytes, over %zu, after %" PRIu64 " bytes", s->msg_len,
		            GRPC_MESSAGE_MAX, s->received);
	return true;
}

/* libcurl's pieces of a gRPC body: a message that lies whole in a piece
 * is read where it is; one cut between pieces is gathered first. */
static bool on_grpc_body(void *arg, const char *data, size_t n)
{
	struct snap *s = arg;
	const uint8_t *p = (const uint8_t *)data;

	while (n > 0) {
		size_t take;

		if (s->prefix_have < GRPC_PREFIX) {
			take = GRPC_PREFIX - s->prefix_have;
			take = take < n ? take : n;
			memcpy(s->prefix + s->prefix_have, p, take);
			s->prefix_have += take;
			p += take;
			n -= take;
			if (s->prefix_have < GRPC_PREFIX)
				return true;
			if (!grpc_prefix(s))
				return false;
		}
		if (s->msg_have == 0 && n >= s->msg_len) {
			if (!grpc_message(s, p, s->msg_len))
				return false;
			p += s->msg_len;
			n -= s->msg_len;
			s->prefix_have = 0;
			continue;
		}
		if (s->msg_cap < s->msg_len) {
			uint8_t *m = realloc(s->msg, s->msg_len);

			if (m == NULL)
				return fail(s, EM_GW_OTHER, "out of memory");
			s->msg = m;
			s->msg_cap = s->msg_len;
		}
		take = s->msg_len - s->msg_have;
		take = take < n ? take : n;
		memcpy(s->msg + s->msg_have, p, take);
		s->msg_have += take;
		p += take;
		n -= take;
		if (s->msg_have == s->msg_len) {
			if (!grpc_message(s, s->msg, s->msg_len))
				return false;
			s->prefix_have = 0;
			s->msg_have = 0;
		}
	}
	return true;
}

/* libcurl's pieces of the body: whole messages are cut out of them by
 * the tokener, which keeps a message cut between two pieces. */
static bool on_body(void *arg, const char *p, size_t n)
{
	struct snap *s = arg;

	while (n > 0) {
		json_object *o;
		size_t used;
		enum json_tokener_error e;

		if (*p == '\n' || *p == '\r' || *p == ' ') {
			p++;
			n--;
			continue;
		}
		o = json_tokener_parse_ex(s->tok, p, (int)(n > INT_MAX ? INT_MAX
		                                                     : n));
		e = json_tokener_get_error(s->tok);
		used = json_tokener_get_parse_end(s->tok);
		if (o == NULL && e == json_tokener_continue)
			return true;
		if (o == NULL || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			return fail(s, EM_GW_BAD_RESPONSE, "not a JSON message "
			            "after %" PRIu64 " bytes: %s", s->received,
			            json_tokener_error_desc(e));
		}
		json_tokener_reset(s->tok);
		if (!message(s, o)) {
			json_object_put(o);
			return false;
		}
		json_object_put(o);
		p += used;
		n -= used;
	}
	return true;
}

static enum em_status finish(struct snap *s, enum em_status rc,
                             struct gw_stream *st,
                             struct em_gw_snapshot_info *info,
                             struct em_error *err)
{
	char why[EM_ERROR_MSG_MAX], head[EM_GW_URL_MAX + 32];

	if (s->failed) {
		*err = s->err;
		return err->status;
	}
	if (rc != EM_OK && s->started && err->code == EM_GW_TRANSPORT) {
		/* The transport's words without its "snapshot on URL: ". */
		snprintf(head, sizeof(head), "snapshot on %s: ", s->endpoint);
		snprintf(why, sizeof(why), "%s", err->msg +
		         (strncmp(err->msg, head, strlen(head)) == 0
		          ? strlen(head) : 0));
		return gw_fail(err, EM_GW_TRANSPORT, "snapshot on %s: the stream "
		               "ended after %" PRIu64 " of %" PRIu64 " bytes: %s",
		               s->endpoint, s->received, s->total, why);
	}
	if (rc != EM_OK)
		return rc;
	if (!s->have_hash || s->prefix_have != 0)
		return gw_fail(err, EM_GW_TRANSPORT, "snapshot on %s: the stream "
		               "ended after %" PRIu64 " of %" PRIu64 " bytes%s",
		               s->endpoint, s->received, s->total,
		               s->received == s->total && s->started
		               ? ", before etcd's SHA-256" : "");
	(void)st;
	info->size = s->total;
	memcpy(info->sha256, s->hash, SHA256_DIGEST_SIZE);
	return EM_OK;
}

/* Through gRPC; when the endpoint does not answer gRPC at all (and only
 * then: nothing has reached the sink), through the JSON gateway. */
static enum em_status stream(struct em_gw *gw, struct snap *s,
                             struct gw_stream *st, struct em_error *err)
{
	json_object *req;
	enum em_status rc;

	st->on_body = on_grpc_body;
	rc = gw_request_stream(gw, s->endpoint, &grpc_snapshot_call, NULL, st,
	                       err);
	if (rc == EM_OK || s->failed || s->started ||
	    err->code != EM_GW_NOT_SERVED)
		return rc;
	em_log(EM_LOG_INFO, "snapshot: no gRPC on this endpoint, through the "
	       "JSON gateway", "endpoint", s->endpoint, "why", err->msg, NULL);
	em_error_clear(err);
	req = json_object_new_object();
	if (req == NULL)
		return gw_nomem(&snapshot_call, err);
	st->on_body = on_body;
	rc = gw_request_stream(gw, s->endpoint, &snapshot_call, req, st, err);
	json_object_put(req);
	return rc;
}

enum em_status em_gw_snapshot(struct em_gw *gw, const char *endpoint,
                              long timeout_ms, long stall_s,
                              const struct em_gw_snapshot_sink *sink,
                              struct em_gw_snapshot_info *info,
                              struct em_error *err)
{
	struct gw_stream st = { NULL, NULL, timeout_ms, stall_s, false };
	enum em_status rc;
	struct snap *s;

	memset(info, 0, sizeof(*info));
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return gw_nomem(&snapshot_call, err);
	s->endpoint = endpoint;
	s->sink = sink;
	s->tok = json_tokener_new_ex(8);
	sha256_init(&s->md);
	if (s->tok == NULL) {
		rc = gw_nomem(&snapshot_call, err);
		goto cleanup;
	}
	st.arg = s;
	rc = stream(gw, s, &st, err);
	rc = finish(s, rc, &st, info, err);
cleanup:
	json_tokener_free(s->tok);
	free(s->msg);
	free(s);
	return rc;
}
