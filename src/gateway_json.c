/*
 * gateway_json.c - reading and building the gateway's JSON (json-c) and the
 * base64 of keys and values (base64.h).
 *
 * The gateway speaks protobuf's JSON mapping: 64-bit integers are quoted
 * decimal strings, zero values are left out, bytes are padded base64.
 */
#include "gateway_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/base64.h"

/* Looks key up; false when it is missing or null (both mean zero). */
static bool field(json_object *o, const char *key, json_object **v)
{
	*v = NULL;
	return o != NULL && json_object_object_get_ex(o, key, v) && *v != NULL;
}

static bool all_digits(const char *s, size_t from)
{
	if (s[from] == '\0')
		return false;
	for (size_t i = from; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!all_digits(s, 0))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	long long v;
	char *end;

	if (!all_digits(s, s[0] == '-' ? 1 : 0))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

bool gwj_u64(json_object *o, const char *key, uint64_t *out)
{
	json_object *v;
	int64_t s;

	*out = 0;
	if (!field(o, key, &v))
		return true;
	if (json_object_is_type(v, json_type_string))
		return parse_u64(json_object_get_string(v), out);
	if (!json_object_is_type(v, json_type_int))
		return false;
	/* json-c holds a bare integer as int64 or, above INT64_MAX, uint64. */
	s = json_object_get_int64(v);
	if (s < 0)
		return false;
	*out = s == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)s;
	return true;
}

bool gwj_i64(json_object *o, const char *key, int64_t *out)
{
	json_object *v;
	uint64_t u;

	*out = 0;
	if (!field(o, key, &v))
		return true;
	if (json_object_is_type(v, json_type_string))
		return parse_i64(json_object_get_string(v), out);
	if (!json_object_is_type(v, json_type_int))
		return false;
	u = json_object_get_uint64(v);
	*out = json_object_get_int64(v);
	/* An int64 object answers both the same; a uint64 one beyond
	 * INT64_MAX reads as INT64_MAX. */
	return *out != INT64_MAX || u == (uint64_t)INT64_MAX;
}

bool gwj_u32(json_object *o, const char *key, uint32_t *out)
{
	json_object *v;
	uint64_t u;

	*out = 0;
	if (!field(o, key, &v))
		return true;
	if (!gwj_u64(o, key, &u) || u > UINT32_MAX)
		return false;
	*out = (uint32_t)u;
	return true;
}

bool gwj_bool(json_object *o, const char *key, bool *out)
{
	json_object *v;

	*out = false;
	if (!field(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_boolean))
		return false;
	*out = json_object_get_boolean(v) != 0;
	return true;
}

static bool typed(json_object *o, const char *key, json_type type,
                  json_object **out)
{
	if (!field(o, key, out))
		return true;
	if (json_object_is_type(*out, type))
		return true;
	*out = NULL;
	return false;
}

bool gwj_str(json_object *o, const char *key, const char **out)
{
	json_object *v;

	*out = NULL;
	if (!typed(o, key, json_type_string, &v))
		return false;
	if (v != NULL)
		*out = json_object_get_string(v);
	return true;
}

bool gwj_array(json_object *o, const char *key, json_object **out)
{
	return typed(o, key, json_type_array, out);
}

bool gwj_object(json_object *o, const char *key, json_object **out)
{
	return typed(o, key, json_type_object, out);
}

/*
 * etcd's error, in whichever shape its JSON gateway writes it.  A gRPC error
 * reaches the gateway as a status (code, message), and grpc-gateway has
 * written that three ways over etcd's releases:
 *   3.4 (grpc-gateway 1.9), unary:   {"error":M,"code":N,"message":M}
 *   3.5+ (grpc-gateway 1.16), unary: {"code":N,"message":M,"details":[]}
 *   a stream, once its answer began: {"error":{"grpc_code":N,"message":M,
 *                                     "http_code":H,"http_status":S}} (3.4),
 *                                    {"error":{"code":N,"message":M,...}}
 * So the code and the message decide, not the key "error": 3.5 has none, and
 * a LeaseGrantResponse carries an "error" string of its own with no code.
 * An answer with a failing HTTP status is an error if it says anything at
 * all; false means o is not an error (a 2xx answer without a code, or a
 * failing one with neither code nor message: the caller says so).
 */
bool gwj_error(json_object *o, bool http_failed, const char **msg, long *code)
{
	json_object *e = NULL, *s = o, *c = NULL, *m = NULL;
	bool stream;

	if (field(o, "error", &e) && json_object_is_type(e, json_type_object))
		s = e;
	stream = s != o;
	if (!field(s, "code", &c))
		field(s, "grpc_code", &c);
	field(s, "message", &m);
	/* 3.4's unary "error" is the message again. */
	if (m == NULL && !stream && e != NULL &&
	    json_object_is_type(e, json_type_string) && c != NULL)
		m = e;
	*code = c != NULL && json_object_is_type(c, json_type_int)
	                ? (long)json_object_get_int64(c)
	                : 0;
	if (!stream && *code == 0 && !(http_failed && (c != NULL || m != NULL)))
		return false;
	*msg = m != NULL && json_object_is_type(m, json_type_string)
	               ? json_object_get_string(m)
	               : "(no message)";
	return true;
}

/* Decodes padded base64 s of length n into a new NUL-ended buffer. */
static bool b64_decode(const char *s, size_t n, uint8_t **out, size_t *len)
{
	uint8_t *p = malloc(EM_B64_DECODED_MAX(n) + 1);

	if (p == NULL)
		return false;
	if (!em_b64_decode(p, len, s, n)) {
		free(p);
		return false;
	}
	p[*len] = '\0';
	*out = p;
	return true;
}

bool gwj_bytes(json_object *o, const char *key, uint8_t **out, size_t *len)
{
	json_object *v;

	*out = NULL;
	*len = 0;
	if (!typed(o, key, json_type_string, &v))
		return false;
	if (v == NULL)
		return b64_decode("", 0, out, len);
	return b64_decode(json_object_get_string(v),
	                  (size_t)json_object_get_string_len(v), out, len);
}

bool gwj_header(json_object *o, struct em_gw_header *hdr)
{
	json_object *h;
	struct em_gw_header tmp;

	if (hdr == NULL)
		hdr = &tmp;
	memset(hdr, 0, sizeof(*hdr));
	/* 3.4's Alarm answer has no header at all: zeros. */
	return gwj_object(o, "header", &h) &&
	       gwj_u64(h, "cluster_id", &hdr->cluster_id) &&
	       gwj_u64(h, "member_id", &hdr->member_id) &&
	       gwj_i64(h, "revision", &hdr->revision) &&
	       gwj_u64(h, "raft_term", &hdr->raft_term);
}

bool gwj_add(json_object *o, const char *key, json_object *v)
{
	if (v == NULL)
		return false;
	if (o == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

json_object *gwj_new_u64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_object_new_string(buf);
}

json_object *gwj_new_i64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_object_new_string(buf);
}

json_object *gwj_new_b64(const uint8_t *p, size_t n)
{
	json_object *v;
	char *s;

	/* etcd refuses requests over 1.5 MiB anyway. */
	if (n > EM_B64_ENCODE_MAX)
		return NULL;
	s = malloc(EM_B64_ENCODED_LEN(n) + 1);
	if (s == NULL)
		return NULL;
	em_b64_encode(s, p, n);
	v = json_object_new_string(s);
	free(s);
	return v;
}
