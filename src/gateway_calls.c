/*
 * gateway_calls.c - the etcd calls of the gateway client (see gateway.h):
 * each builds its JSON request, sends it with gw_request (gateway.c) and
 * reads the answer into the caller's structs.  Every field of an answer is
 * checked for its type: a wrong answer is EM_GW_BAD_RESPONSE, never a
 * crash or a silent zero.
 */
#include "gateway_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct gw_call
	c_member_list = { "member list", "/v3/cluster/member/list", false },
	c_member_add = { "member add", "/v3/cluster/member/add", false },
	c_member_remove = { "member remove", "/v3/cluster/member/remove",
	                    false },
	c_member_promote = { "member promote", "/v3/cluster/member/promote",
	                     false },
	c_status = { "status", "/v3/maintenance/status", false },
	c_alarm = { "alarm list", "/v3/maintenance/alarm", false },
	c_hash = { "hash", "/v3/maintenance/hash", false },
	c_hashkv = { "hashkv", "/v3/maintenance/hashkv", false },
	c_range = { "range", "/v3/kv/range", false },
	c_put = { "put", "/v3/kv/put", false },
	c_put_if_absent = { "put if absent (txn)", "/v3/kv/txn", false },
	c_delete_if_value = { "delete if value (txn)", "/v3/kv/txn", false },
	c_lease_grant = { "lease grant", "/v3/lease/grant", false },
	c_lease_keepalive = { "lease keepalive", "/v3/lease/keepalive", true },
	c_lease_revoke = { "lease revoke", "/v3/lease/revoke", false };

/* Sends a request that has one 64-bit ID field (or none if key is NULL)
 * and checks the answer's header. */
static enum em_status simple_call(struct em_gw *gw, const char *endpoint,
                                  const struct gw_call *c, const char *key,
                                  uint64_t id, json_object **resp,
                                  struct em_gw_header *hdr,
                                  struct em_error *err)
{
	json_object *req = json_object_new_object();
	enum em_status rc;

	*resp = NULL;
	if (req == NULL || (key != NULL && !gwj_add(req, key, gwj_new_u64(id)))) {
		rc = gw_nomem(c, err);
		goto cleanup;
	}
	rc = gw_request(gw, endpoint, c, req, resp, err);
	if (rc == EM_OK && !gwj_header(*resp, hdr))
		rc = gw_bad_answer(gw, c, err, "malformed header");
cleanup:
	json_object_put(req);
	if (rc != EM_OK) {
		json_object_put(*resp);
		*resp = NULL;
	}
	return rc;
}

/* --- members --------------------------------------------------------- */

static bool read_urls(json_object *m, const char *key,
                      char urls[EM_GW_MAX_URLS][EM_GW_URL_MAX], size_t *n,
                      const char **why)
{
	json_object *a, *u;
	size_t len;

	*n = 0;
	if (!gwj_array(m, key, &a)) {
		*why = "URL list is not an array";
		return false;
	}
	len = a != NULL ? json_object_array_length(a) : 0;
	if (len > EM_GW_MAX_URLS) {
		*why = "more URLs than etcd-medic keeps";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		u = json_object_array_get_idx(a, i);
		if (!json_object_is_type(u, json_type_string) ||
		    (size_t)json_object_get_string_len(u) >= EM_GW_URL_MAX) {
			*why = "a URL is not a string or too long";
			return false;
		}
		memcpy(urls[i], json_object_get_string(u),
		       (size_t)json_object_get_string_len(u) + 1);
		(*n)++;
	}
	return true;
}

static bool read_member(json_object *o, struct em_member *m, const char **why)
{
	const char *name;

	memset(m, 0, sizeof(*m));
	*why = "member field of the wrong type";
	if (!json_object_is_type(o, json_type_object) ||
	    !gwj_u64(o, "ID", &m->id) || !gwj_str(o, "name", &name) ||
	    !gwj_bool(o, "isLearner", &m->is_learner))
		return false;
	if (name != NULL && strlen(name) >= sizeof(m->name)) {
		*why = "member name too long";
		return false;
	}
	snprintf(m->name, sizeof(m->name), "%s", name ? name : "");
	return read_urls(o, "peerURLs", m->peer_urls, &m->n_peer_urls, why) &&
	       read_urls(o, "clientURLs", m->client_urls, &m->n_client_urls,
	                 why);
}

static enum em_status read_members(struct em_gw *gw, const struct gw_call *c,
                                   json_object *resp,
                                   struct em_member_list *out,
                                   struct em_error *err)
{
	json_object *a;
	const char *why;
	size_t n;

	if (!gwj_array(resp, "members", &a))
		return gw_bad_answer(gw, c, err, "members is not an array");
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n == 0)
		return EM_OK;
	out->members = calloc(n, sizeof(*out->members));
	if (out->members == NULL)
		return gw_nomem(c, err);
	for (size_t i = 0; i < n; i++) {
		if (!read_member(json_object_array_get_idx(a, i),
		                 &out->members[i], &why))
			return gw_bad_answer(gw, c, err, "member %zu: %s", i,
			                     why);
		out->n++;
	}
	return EM_OK;
}

void em_member_list_free(struct em_member_list *ml)
{
	if (ml == NULL)
		return;
	free(ml->members);
	memset(ml, 0, sizeof(*ml));
}

enum em_status em_gw_member_list(struct em_gw *gw, const char *endpoint,
                                 struct em_member_list *out,
                                 struct em_error *err)
{
	json_object *resp;
	enum em_status rc;

	memset(out, 0, sizeof(*out));
	rc = simple_call(gw, endpoint, &c_member_list, NULL, 0, &resp,
	                 &out->header, err);
	if (rc == EM_OK)
		rc = read_members(gw, &c_member_list, resp, out, err);
	if (rc != EM_OK)
		em_member_list_free(out);
	json_object_put(resp);
	return rc;
}

static json_object *member_add_request(const char *const *peer_urls,
                                       size_t n, bool learner)
{
	json_object *req = json_object_new_object();
	json_object *urls = json_object_new_array(), *u;
	bool ok = gwj_add(req, "peerURLs", urls);

	for (size_t i = 0; ok && i < n; i++) {
		u = json_object_new_string(peer_urls[i]);
		ok = u != NULL && json_object_array_add(urls, u) == 0;
		if (!ok)
			json_object_put(u);
	}
	if (ok && learner)
		ok = gwj_add(req, "isLearner", json_object_new_boolean(1));
	if (!ok) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

static enum em_status read_added(struct em_gw *gw, json_object *resp,
                                 struct em_member *added,
                                 struct em_error *err)
{
	json_object *m;
	struct em_member tmp;
	const char *why;

	if (!gwj_object(resp, "member", &m) || m == NULL)
		return gw_bad_answer(gw, &c_member_add, err, "no member");
	if (!read_member(m, added ? added : &tmp, &why))
		return gw_bad_answer(gw, &c_member_add, err, "%s", why);
	return EM_OK;
}

enum em_status em_gw_member_add(struct em_gw *gw,
                                const char *const *peer_urls, size_t n,
                                bool learner, struct em_member *added,
                                struct em_error *err)
{
	json_object *req, *resp = NULL;
	enum em_status rc;

	for (size_t i = 0; i < n; i++)
		if (peer_urls[i] == NULL)
			return em_error_set(err, EM_EUSAGE, "member add: peer "
			                    "URL %zu is NULL", i);
	if (n == 0)
		return em_error_set(err, EM_EUSAGE, "member add: no peer URLs");
	req = member_add_request(peer_urls, n, learner);
	if (req == NULL)
		return gw_nomem(&c_member_add, err);
	rc = gw_request(gw, NULL, &c_member_add, req, &resp, err);
	if (rc == EM_OK)
		rc = read_added(gw, resp, added, err);
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

enum em_status em_gw_member_remove(struct em_gw *gw, uint64_t id,
                                   struct em_error *err)
{
	json_object *resp;
	enum em_status rc = simple_call(gw, NULL, &c_member_remove, "ID", id,
	                                &resp, NULL, err);

	json_object_put(resp);
	return rc;
}

enum em_status em_gw_member_promote(struct em_gw *gw, uint64_t id,
                                    struct em_error *err)
{
	json_object *resp;
	enum em_status rc = simple_call(gw, NULL, &c_member_promote, "ID", id,
	                                &resp, NULL, err);

	json_object_put(resp);
	return rc;
}

/* --- maintenance ----------------------------------------------------- */

static bool read_status_errors(json_object *resp, char *out, size_t size)
{
	json_object *a, *e;
	size_t n, used = 0;

	out[0] = '\0';
	if (!gwj_array(resp, "errors", &a))
		return false;
	n = a != NULL ? json_object_array_length(a) : 0;
	for (size_t i = 0; i < n; i++) {
		e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string))
			return false;
		/* A diagnostic: cut short when it does not fit. */
		if (used < size)
			used += (size_t)snprintf(out + used, size - used,
			                         "%s%s", i ? "; " : "",
			                         json_object_get_string(e));
	}
	return true;
}

static bool read_status(json_object *resp, struct em_gw_status *out)
{
	const char *version;

	if (!gwj_str(resp, "version", &version))
		return false;
	snprintf(out->version, sizeof(out->version), "%s",
	         version ? version : "");
	return gwj_u64(resp, "dbSize", &out->db_size) &&
	       gwj_u64(resp, "dbSizeInUse", &out->db_size_in_use) &&
	       gwj_u64(resp, "leader", &out->leader) &&
	       gwj_u64(resp, "raftIndex", &out->raft_index) &&
	       gwj_u64(resp, "raftTerm", &out->raft_term) &&
	       gwj_u64(resp, "raftAppliedIndex", &out->raft_applied_index) &&
	       gwj_bool(resp, "isLearner", &out->is_learner) &&
	       read_status_errors(resp, out->errors, sizeof(out->errors));
}

enum em_status em_gw_status(struct em_gw *gw, const char *endpoint,
                            struct em_gw_status *out, struct em_error *err)
{
	json_object *resp;
	enum em_status rc;

	memset(out, 0, sizeof(*out));
	rc = simple_call(gw, endpoint, &c_status, NULL, 0, &resp, &out->header,
	                 err);
	if (rc == EM_OK && !read_status(resp, out))
		rc = gw_bad_answer(gw, &c_status, err, "a status field of the "
		                   "wrong type");
	json_object_put(resp);
	return rc;
}

static bool read_alarm(json_object *o, struct em_gw_alarm *al)
{
	json_object *v;

	memset(al, 0, sizeof(*al));
	if (!json_object_is_type(o, json_type_object) ||
	    !gwj_u64(o, "memberID", &al->member_id))
		return false;
	/* An enum: its name; NONE (0) is left out. */
	if (!json_object_object_get_ex(o, "alarm", &v) || v == NULL)
		snprintf(al->alarm, sizeof(al->alarm), "NONE");
	else if (json_object_is_type(v, json_type_string) ||
	         json_object_is_type(v, json_type_int))
		snprintf(al->alarm, sizeof(al->alarm), "%s",
		         json_object_get_string(v));
	else
		return false;
	return true;
}

enum em_status em_gw_alarm_list(struct em_gw *gw, struct em_gw_alarm **out,
                                size_t *n, struct em_error *err)
{
	json_object *req = json_object_new_object(), *resp = NULL, *a;
	enum em_status rc;
	size_t len;

	*out = NULL;
	*n = 0;
	if (!gwj_add(req, "action", json_object_new_string("GET"))) {
		rc = gw_nomem(&c_alarm, err);
		goto cleanup;
	}
	rc = gw_request(gw, NULL, &c_alarm, req, &resp, err);
	if (rc != EM_OK)
		goto cleanup;
	if (!gwj_array(resp, "alarms", &a)) {
		rc = gw_bad_answer(gw, &c_alarm, err, "alarms not an array");
		goto cleanup;
	}
	len = a != NULL ? json_object_array_length(a) : 0;
	if (len > 0 && (*out = calloc(len, sizeof(**out))) == NULL) {
		rc = gw_nomem(&c_alarm, err);
		goto cleanup;
	}
	for (size_t i = 0; i < len; i++, (*n)++)
		if (!read_alarm(json_object_array_get_idx(a, i), &(*out)[i])) {
			rc = gw_bad_answer(gw, &c_alarm, err, "alarm %zu "
			                   "malformed", i);
			goto cleanup;
		}
cleanup:
	if (rc != EM_OK) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

enum em_status em_gw_hash(struct em_gw *gw, const char *endpoint,
                          uint32_t *hash, struct em_gw_header *hdr,
                          struct em_error *err)
{
	json_object *resp;
	enum em_status rc;

	*hash = 0;
	rc = simple_call(gw, endpoint, &c_hash, NULL, 0, &resp, hdr, err);
	if (rc == EM_OK && !gwj_u32(resp, "hash", hash))
		rc = gw_bad_answer(gw, &c_hash, err, "hash is not a uint32");
	json_object_put(resp);
	return rc;
}

enum em_status em_gw_hashkv(struct em_gw *gw, const char *endpoint,
                            int64_t rev, uint32_t *hash,
                            int64_t *compact_revision,
                            struct em_gw_header *hdr, struct em_error *err)
{
	json_object *req = json_object_new_object(), *resp = NULL;
	enum em_status rc;

	*hash = 0;
	*compact_revision = 0;
	if (req == NULL ||
	    (rev != 0 && !gwj_add(req, "revision", gwj_new_i64(rev)))) {
		rc = gw_nomem(&c_hashkv, err);
		goto cleanup;
	}
	rc = gw_request(gw, endpoint, &c_hashkv, req, &resp, err);
	if (rc == EM_OK &&
	    (!gwj_header(resp, hdr) || !gwj_u32(resp, "hash", hash) ||
	     !gwj_i64(resp, "compact_revision", compact_revision)))
		rc = gw_bad_answer(gw, &c_hashkv, err, "a field of the wrong "
		                   "type");
cleanup:
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/* --- keys ------------------------------------------------------------ */

void em_kv_free(struct em_kv *kv)
{
	if (kv == NULL)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void em_range_free(struct em_range *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		em_kv_free(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

static bool read_kv(json_object *o, struct em_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	if (json_object_is_type(o, json_type_object) &&
	    gwj_bytes(o, "key", &kv->key, &kv->key_len) &&
	    gwj_bytes(o, "value", &kv->value, &kv->value_len) &&
	    gwj_i64(o, "create_revision", &kv->create_revision) &&
	    gwj_i64(o, "mod_revision", &kv->mod_revision) &&
	    gwj_i64(o, "version", &kv->version) &&
	    gwj_i64(o, "lease", &kv->lease))
		return true;
	em_kv_free(kv);
	return false;
}

static bool read_kvs(json_object *o, struct em_range *r)
{
	json_object *a;
	size_t n;

	if (!gwj_array(o, "kvs", &a))
		return false;
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n == 0)
		return true;
	r->kvs = calloc(n, sizeof(*r->kvs));
	if (r->kvs == NULL)
		return false;
	for (size_t i = 0; i < n; i++, r->n++)
		if (!read_kv(json_object_array_get_idx(a, i), &r->kvs[i]))
			return false;
	return true;
}

static json_object *range_request(const struct em_range_req *q)
{
	json_object *req = json_object_new_object();
	bool ok = gwj_add(req, "key", gwj_new_b64(q->key, q->key_len));

	if (ok && q->range_end != NULL)
		ok = gwj_add(req, "range_end",
		             gwj_new_b64(q->range_end, q->range_end_len));
	if (ok && q->revision != 0)
		ok = gwj_add(req, "revision", gwj_new_i64(q->revision));
	if (ok && q->limit != 0)
		ok = gwj_add(req, "limit", gwj_new_i64(q->limit));
	if (ok && q->serializable)
		ok = gwj_add(req, "serializable", json_object_new_boolean(1));
	if (ok && q->keys_only)
		ok = gwj_add(req, "keys_only", json_object_new_boolean(1));
	if (ok && q->count_only)
		ok = gwj_add(req, "count_only", json_object_new_boolean(1));
	if (!ok) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

enum em_status em_gw_range(struct em_gw *gw, const char *endpoint,
                           const struct em_range_req *q,
                           struct em_range *out, struct em_error *err)
{
	json_object *req, *resp = NULL;
	enum em_status rc;

	memset(out, 0, sizeof(*out));
	if (q->key == NULL && q->key_len > 0)
		return em_error_set(err, EM_EUSAGE, "range: NULL key");
	req = range_request(q);
	if (req == NULL)
		return gw_nomem(&c_range, err);
	rc = gw_request(gw, endpoint, &c_range, req, &resp, err);
	if (rc == EM_OK &&
	    (!gwj_header(resp, &out->header) || !read_kvs(resp, out) ||
	     !gwj_bool(resp, "more", &out->more) ||
	     !gwj_i64(resp, "count", &out->count)))
		rc = gw_bad_answer(gw, &c_range, err, "a field of the wrong "
		                   "type, bad base64 or no memory");
	if (rc != EM_OK)
		em_range_free(out);
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/* The body of a put: {"key","value","lease"}; value and lease left out
 * when zero, as the gateway would. */
static json_object *put_request(const uint8_t *key, size_t klen,
                                const uint8_t *value, size_t vlen,
                                int64_t lease)
{
	json_object *req = json_object_new_object();
	bool ok = gwj_add(req, "key", gwj_new_b64(key, klen));

	if (ok && vlen > 0)
		ok = gwj_add(req, "value", gwj_new_b64(value, vlen));
	if (ok && lease != 0)
		ok = gwj_add(req, "lease", gwj_new_i64(lease));
	if (!ok) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

enum em_status em_gw_put(struct em_gw *gw, const uint8_t *key, size_t klen,
                         const uint8_t *value, size_t vlen, int64_t lease,
                         struct em_gw_header *hdr, struct em_error *err)
{
	json_object *req = put_request(key, klen, value, vlen, lease);
	json_object *resp = NULL;
	enum em_status rc;

	if (req == NULL)
		return gw_nomem(&c_put, err);
	rc = gw_request(gw, NULL, &c_put, req, &resp, err);
	if (rc == EM_OK && !gwj_header(resp, hdr))
		rc = gw_bad_answer(gw, &c_put, err, "malformed header");
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/* [v]; takes v's reference, also on failure. */
static json_object *single(json_object *v)
{
	json_object *a;

	if (v == NULL)
		return NULL;
	a = json_object_new_array();
	if (a == NULL || json_object_array_add(a, v) != 0) {
		json_object_put(a);
		json_object_put(v);
		return NULL;
	}
	return a;
}

/* {kind: body}, a request op of a txn; takes body's reference. */
static json_object *txn_op(const char *kind, json_object *body)
{
	json_object *o = json_object_new_object();

	if (!gwj_add(o, kind, body)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/*
 * {"compare":[cmp],"success":[succ],"failure":[fail]}, without failure
 * when with_failure is false.  Takes every argument's reference: each
 * gwj_add below runs, so that each is added or put.
 */
static json_object *txn_request(json_object *cmp, json_object *succ,
                                bool with_failure, json_object *fail)
{
	json_object *req = json_object_new_object();
	bool ok;

	ok = gwj_add(req, "compare", single(cmp));
	ok = gwj_add(req, "success", single(succ)) && ok;
	if (with_failure)
		ok = gwj_add(req, "failure", single(fail)) && ok;
	if (!ok) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

/* {key, target, result: EQUAL, field: against}; takes against. */
static json_object *compare(const uint8_t *key, size_t klen,
                            const char *target, const char *field,
                            json_object *against)
{
	json_object *c = json_object_new_object();
	bool ok;

	ok = gwj_add(c, field, against);
	ok = gwj_add(c, "key", gwj_new_b64(key, klen)) && ok;
	ok = gwj_add(c, "target", json_object_new_string(target)) && ok;
	ok = gwj_add(c, "result", json_object_new_string("EQUAL")) && ok;
	if (!ok) {
		json_object_put(c);
		return NULL;
	}
	return c;
}

static json_object *key_only(const uint8_t *key, size_t klen)
{
	json_object *o = json_object_new_object();

	if (!gwj_add(o, "key", gwj_new_b64(key, klen))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The first kv of responses[0].response_range, if any. */
static bool read_holder(json_object *resp, struct em_kv *holder)
{
	json_object *a, *r = NULL;
	struct em_range range = { 0 };
	bool ok;

	if (!gwj_array(resp, "responses", &a))
		return false;
	if (a != NULL && json_object_array_length(a) > 0 &&
	    !gwj_object(json_object_array_get_idx(a, 0), "response_range", &r))
		return false;
	ok = read_kvs(r, &range);
	if (ok && range.n > 0) {
		*holder = range.kvs[0];
		memset(&range.kvs[0], 0, sizeof(range.kvs[0]));
	}
	em_range_free(&range);
	return ok;
}

enum em_status em_gw_put_if_absent(struct em_gw *gw, const uint8_t *key,
                                   size_t klen, const uint8_t *value,
                                   size_t vlen, int64_t lease, bool *created,
                                   struct em_kv *holder,
                                   struct em_error *err)
{
	const struct gw_call *c = &c_put_if_absent;
	json_object *req, *resp = NULL;
	enum em_status rc;

	*created = false;
	if (holder != NULL)
		memset(holder, 0, sizeof(*holder));
	/* create_revision 0: the key does not exist. */
	req = txn_request(compare(key, klen, "CREATE", "create_revision",
	                          gwj_new_i64(0)),
	                  txn_op("request_put",
	                         put_request(key, klen, value, vlen, lease)),
	                  true, txn_op("request_range", key_only(key, klen)));
	if (req == NULL)
		return gw_nomem(c, err);
	rc = gw_request(gw, NULL, c, req, &resp, err);
	/* "succeeded" is left out when false. */
	if (rc == EM_OK && !gwj_bool(resp, "succeeded", created))
		rc = gw_bad_answer(gw, c, err, "succeeded is not a bool");
	if (rc == EM_OK && !*created && holder != NULL &&
	    !read_holder(resp, holder))
		rc = gw_bad_answer(gw, c, err, "malformed range response");
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

enum em_status em_gw_delete_if_value(struct em_gw *gw, const uint8_t *key,
                                     size_t klen, const uint8_t *value,
                                     size_t vlen, bool *deleted,
                                     struct em_error *err)
{
	const struct gw_call *c = &c_delete_if_value;
	json_object *req, *resp = NULL;
	enum em_status rc;

	*deleted = false;
	/* The value is sent even when empty: it selects the compare's
	 * target field. */
	req = txn_request(compare(key, klen, "VALUE", "value",
	                          gwj_new_b64(value, vlen)),
	                  txn_op("request_delete_range", key_only(key, klen)),
	                  false, NULL);
	if (req == NULL)
		return gw_nomem(c, err);
	rc = gw_request(gw, NULL, c, req, &resp, err);
	if (rc == EM_OK && !gwj_bool(resp, "succeeded", deleted))
		rc = gw_bad_answer(gw, c, err, "succeeded is not a bool");
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/* --- leases ---------------------------------------------------------- */

enum em_status em_gw_lease_grant(struct em_gw *gw, int64_t ttl_seconds,
                                 int64_t *id, struct em_error *err)
{
	json_object *req = json_object_new_object(), *resp = NULL;
	const char *lease_err = NULL;
	enum em_status rc;

	*id = 0;
	if (!gwj_add(req, "TTL", gwj_new_i64(ttl_seconds))) {
		rc = gw_nomem(&c_lease_grant, err);
		goto cleanup;
	}
	rc = gw_request(gw, NULL, &c_lease_grant, req, &resp, err);
	if (rc != EM_OK)
		goto cleanup;
	if (!gwj_i64(resp, "ID", id) || !gwj_str(resp, "error", &lease_err))
		rc = gw_bad_answer(gw, &c_lease_grant, err, "malformed answer");
	else if (lease_err != NULL && lease_err[0] != '\0')
		rc = gw_fail(err, EM_GW_OTHER, "lease grant: etcd: %s",
		             lease_err);
	else if (*id == 0)
		rc = gw_bad_answer(gw, &c_lease_grant, err, "no lease ID");
cleanup:
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

enum em_status em_gw_lease_keepalive(struct em_gw *gw, int64_t id,
                                     int64_t *ttl, struct em_error *err)
{
	json_object *resp;
	enum em_status rc;

	*ttl = 0;
	if (id <= 0)
		return em_error_set(err, EM_EUSAGE, "lease keepalive: bad "
		                    "lease ID %" PRId64, id);
	rc = simple_call(gw, NULL, &c_lease_keepalive, "ID", (uint64_t)id,
	                 &resp, NULL, err);
	/* A lease that is gone comes back without a TTL (0); a negative TTL
	 * means the same. */
	if (rc == EM_OK && !gwj_i64(resp, "TTL", ttl))
		rc = gw_bad_answer(gw, &c_lease_keepalive, err, "TTL is not "
		                   "an integer");
	if (rc == EM_OK && *ttl < 0)
		*ttl = 0;
	json_object_put(resp);
	return rc;
}

enum em_status em_gw_lease_revoke(struct em_gw *gw, int64_t id,
                                  struct em_error *err)
{
	json_object *resp;
	enum em_status rc;

	if (id <= 0)
		return em_error_set(err, EM_EUSAGE, "lease revoke: bad lease "
		                    "ID %" PRId64, id);
	rc = simple_call(gw, NULL, &c_lease_revoke, "ID", (uint64_t)id, &resp,
	                 NULL, err);
	json_object_put(resp);
	return rc;
}
