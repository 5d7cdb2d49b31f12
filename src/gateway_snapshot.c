/*
 * gateway_snapshot.c - the snapshot stream of etcd's gateway (see
 * em_gw_snapshot in gateway.h), decoded as it arrives: json-c's incremental
 * tokener cuts the newline-delimited messages out of whatever pieces
 * libcurl hands over, nettle's base64 turns each blob back into bytes,
 * and nettle's SHA-256 follows the db to check etcd's own digest.
 * Memory stays at one message (about 44 KiB of base64) whatever the size
 * of the db.
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

/* 32 KiB of db (etcd's snapshotSendBufferSize) as base64, with room. */
#define BLOB_MAX_B64 (64 * 1024)

static const struct gw_call snapshot_call = {
	"snapshot", "/v3/maintenance/snapshot", true
};

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

/* etcd's error, sent as the last message once the answer has begun. */
static bool stream_error(struct snap *s, json_object *e)
{
	json_object *m = NULL, *c = NULL;
	const char *msg = "(no message)";

	if (json_object_is_type(e, json_type_object)) {
		json_object_object_get_ex(e, "message", &m);
		json_object_object_get_ex(e, "grpc_code", &c);
	}
	if (m != NULL && json_object_is_type(m, json_type_string))
		msg = json_object_get_string(m);
	return fail(s, EM_GW_OTHER, "etcd ended the stream after %" PRIu64
	            " of %" PRIu64 " bytes: %s (gRPC code %d)", s->received,
	            s->total, msg, c ? json_object_get_int(c) : 0);
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

static bool message(struct snap *s, json_object *o)
{
	json_object *r, *e;
	const char *blob;
	uint64_t remaining = 0;
	size_t n = 0;

	if (json_object_object_get_ex(o, "error", &e))
		return stream_error(s, e);
	if (s->have_hash)
		return fail(s, EM_GW_BAD_RESPONSE, "a message after the "
		            "SHA-256");
	if (!json_object_object_get_ex(o, "result", &r) ||
	    !json_object_is_type(r, json_type_object) ||
	    !gwj_str(r, "blob", &blob) || blob == NULL ||
	    !gwj_u64(r, "remaining_bytes", &remaining))
		return fail(s, EM_GW_BAD_RESPONSE, "a message without a result "
		            "and blob, after %" PRIu64 " bytes", s->received);
	if (!decode_blob(s, blob, strlen(blob), &n))
		return false;
	/* The db is complete: what follows is its digest. */
	if (s->started && s->received == s->total)
		return take_hash(s, s->piece, n);
	return take_data(s, s->piece, n, remaining);
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
	if (s->failed) {
		*err = s->err;
		return err->status;
	}
	if (rc != EM_OK)
		return rc;
	if (!s->have_hash)
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

enum em_status em_gw_snapshot(struct em_gw *gw, const char *endpoint,
                              long timeout_ms, long stall_s,
                              const struct em_gw_snapshot_sink *sink,
                              struct em_gw_snapshot_info *info,
                              struct em_error *err)
{
	struct gw_stream st = { on_body, NULL, timeout_ms, stall_s, false };
	json_object *req = json_object_new_object();
	enum em_status rc;
	struct snap *s;

	memset(info, 0, sizeof(*info));
	s = calloc(1, sizeof(*s));
	if (s == NULL || req == NULL) {
		rc = gw_nomem(&snapshot_call, err);
		goto cleanup;
	}
	s->endpoint = endpoint;
	s->sink = sink;
	s->tok = json_tokener_new_ex(8);
	sha256_init(&s->md);
	if (s->tok == NULL) {
		rc = gw_nomem(&snapshot_call, err);
		goto cleanup;
	}
	st.arg = s;
	rc = gw_request_stream(gw, endpoint, &snapshot_call, req, &st, err);
	rc = finish(s, rc, &st, info, err);
cleanup:
	if (s != NULL) {
		json_tokener_free(s->tok);
		free(s);
	}
	json_object_put(req);
	return rc;
}
