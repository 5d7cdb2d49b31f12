/*
 * s3.c - a store in an S3-compatible object store (s3://BUCKET[/PREFIX]).
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4); we give it the
 * payload's hash in x-amz-content-sha256 (the SHA-256 of a body held in
 * memory, UNSIGNED-PAYLOAD for a file streamed from disk, which TLS
 * protects in transit) and queries already in SigV4's canonical form
 * (sorted, RFC 3986 escaped), which older libcurl releases sign as they
 * are.  Large files go up in parts (multipart upload), each part read from
 * the file as it is sent: memory does not grow with the file.
 */
#include "store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <nettle/sha2.h>

#include "etcd-medic/log.h"
#include "s3_xml.h"

#define ANSWER_MAX (4u << 20)
#define ATTEMPTS 3
#define MAX_PARTS 10000
#define MIB (1024u * 1024u)

struct s3 {
	CURL *curl;
	char *endpoint;             /* scheme://host[:port] */
	char *bucket;
	char *prefix;               /* "" or "a/b/" */
	bool path_style;
	char sigv4[160];
	char *access_key;
	char *secret;
	char *token;                /* session token, or NULL */
	char *ca_file;
	uint64_t part_size;
	char curl_err[CURL_ERROR_SIZE];
};

/* One request: what goes out, and what came back. */
struct req {
	const char *method;
	const char *key;            /* relative to the prefix; NULL: bucket */
	const char *query;          /* canonical, or NULL */
	const char *body;           /* in memory, or NULL */
	size_t body_len;
	int fd;                     /* a file range, when >= 0 */
	uint64_t off, len, sent;
	bool transfer;              /* bounded by stalls, not call timeout */
	em_store_write_fn sink;     /* a 200 GET's body */
	void *arg;
	bool sink_began;
	struct em_error sink_err;
	bool sink_failed;
	char etag[128];
	char *answer;               /* other bodies, at most ANSWER_MAX */
	size_t answer_len;
	long http;
	CURL *curl;
};

static void free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void s3_free(struct em_store *st)
{
	struct s3 *s = st->impl;

	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s->endpoint);
	free(s->bucket);
	free(s->prefix);
	free(s->access_key);
	free_secret(s->secret);
	free_secret(s->token);
	free(s->ca_file);
	free(s);
	st->impl = NULL;
}

/* ---- URLs ---------------------------------------------------------------- */

/* Each segment escaped as SigV4 wants (unreserved kept), '/' kept. */
static char *escape_path(CURL *c, const char *path)
{
	size_t cap = strlen(path) * 3 + 1, n = 0;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	while (*path != '\0') {
		size_t seg = strcspn(path, "/");
		char *e = curl_easy_escape(c, path, (int)seg);

		if (e == NULL) {
			free(out);
			return NULL;
		}
		n += (size_t)snprintf(out + n, cap - n, "%s%s", e,
		                      path[seg] == '/' ? "/" : "");
		curl_free(e);
		path += seg + (path[seg] == '/');
	}
	return out;
}

static char *request_url(struct s3 *s, const struct req *r)
{
	const char *host = strstr(s->endpoint, "://") + 3;
	char *full = NULL, *path = NULL, *url = NULL;
	int n;

	if (asprintf(&full, "%s%s", s->prefix, r->key ? r->key : "") < 0)
		return NULL;
	path = escape_path(s->curl, full);
	free(full);
	if (path == NULL)
		return NULL;
	if (s->path_style)
		n = asprintf(&url, "%s/%s/%s%s%s", s->endpoint, s->bucket,
		             r->key ? path : "", r->query ? "?" : "",
		             r->query ? r->query : "");
	else
		n = asprintf(&url, "%.*s%s.%s/%s%s%s",
		             (int)(host - s->endpoint), s->endpoint, s->bucket,
		             host, r->key ? path : "", r->query ? "?" : "",
		             r->query ? r->query : "");
	free(path);
	return n < 0 ? NULL : url;
}

/* ---- libcurl callbacks ---------------------------------------------------- */

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t want = size * nmemb;
	ssize_t n;

	if (r->fd < 0) {
		if (want > r->body_len - r->sent)
			want = r->body_len - r->sent;
		memcpy(buf, r->body + r->sent, want);
		r->sent += want;
		return want;
	}
	if (want > r->len - r->sent)
		want = (size_t)(r->len - r->sent);
	if (want == 0)
		return 0;
	do
		n = pread(r->fd, buf, want, (off_t)(r->off + r->sent));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return CURL_READFUNC_ABORT;
	r->sent += (uint64_t)n;
	return (size_t)n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb;
	long http = 0;
	char *p;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &http);
	if (r->sink != NULL && http == 200) {
		r->sink_began = true;
		if (r->sink(r->arg, (const uint8_t *)data, n, &r->sink_err) !=
		    EM_OK) {
			r->sink_failed = true;
			return 0;
		}
		return n;
	}
	if (n > ANSWER_MAX - r->answer_len)
		return 0;
	p = realloc(r->answer, r->answer_len + n + 1);
	if (p == NULL)
		return 0;
	memcpy(p + r->answer_len, data, n);
	r->answer = p;
	r->answer_len += n;
	p[r->answer_len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb, v;

	if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
		v = 5 + strspn(data + 5, " \t");
		while (n > v && strchr("\r\n \t", data[n - 1]) != NULL)
			n--;
		snprintf(r->etag, sizeof(r->etag), "%.*s", (int)(n - v),
		         data + v);
	}
	return size * nmemb;
}

/* ---- one request ------------------------------------------------------------ */

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void payload_hash(const struct req *r, char out[65])
{
	struct sha256_ctx c;
	unsigned char d[SHA256_DIGEST_SIZE];

	if (r->fd >= 0) {
		strcpy(out, "UNSIGNED-PAYLOAD");
		return;
	}
	sha256_init(&c);
	sha256_update(&c, r->body_len, (const uint8_t *)r->body);
	sha256_digest(&c, sizeof(d), d);
	hex(d, sizeof(d), out);
}

static struct curl_slist *headers(const struct s3 *s, const struct req *r)
{
	struct curl_slist *h = NULL, *t;
	char line[128], hash[65];
	char *tok = NULL;

	payload_hash(r, hash);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
	if ((h = curl_slist_append(NULL, line)) == NULL)
		return NULL;
	/* No "Expect:" to turn 100-continue off: libcurl would sign a header
	 * it then leaves out. */
	if (strcmp(r->method, "POST") == 0) {
		t = curl_slist_append(h, "Content-Type: application/xml");
		if (t == NULL)
			goto fail;
		h = t;
	}
	if (s->token == NULL)
		return h;
	if (asprintf(&tok, "x-amz-security-token: %s", s->token) < 0)
		goto fail;
	t = curl_slist_append(h, tok);
	free_secret(tok);
	if (t == NULL)
		goto fail;
	return t;
fail:
	curl_slist_free_all(h);
	return NULL;
}

/* The time this request may take: its own limit, within the deadline. */
static long time_left(const struct em_store *st, const struct req *r,
                      bool *expired)
{
	long limit = r->transfer ? 0 : st->call_timeout_ms;
	uint64_t now = store_now_ms();

	*expired = false;
	if (st->deadline_ms == 0)
		return limit;
	if (now >= st->deadline_ms) {
		*expired = true;
		return 1;
	}
	if (limit == 0 || (uint64_t)limit > st->deadline_ms - now)
		limit = (long)(st->deadline_ms - now);
	return limit;
}

static bool set_body(CURL *c, struct req *r)
{
	bool ok = true;
	curl_off_t size = r->fd >= 0 ? (curl_off_t)r->len
	                             : (curl_off_t)r->body_len;

	if (strcmp(r->method, "PUT") == 0) {
		ok &= curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) == CURLE_OK;
		ok &= curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, size) ==
		      CURLE_OK;
	} else if (strcmp(r->method, "POST") == 0) {
		ok &= curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK;
		ok &= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, size) ==
		      CURLE_OK;
	} else {
		ok &= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
		                       r->method) == CURLE_OK;
		ok &= curl_easy_setopt(c, CURLOPT_NOBODY,
		                       strcmp(r->method, "HEAD") == 0 ? 1L
		                                                        : 0L) ==
		      CURLE_OK;
	}
	ok &= curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_READDATA, r) == CURLE_OK;
	return ok;
}

static bool set_options(struct em_store *st, struct s3 *s, struct req *r,
                        const char *url, struct curl_slist *h, long timeout)
{
	CURL *c = s->curl;
	bool ok = true;

	curl_easy_reset(c);
	ok &= curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->curl_err) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, st->stall_s) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, r) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HEADERDATA, r) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_USERAGENT, "etcd-medic/" EM_VERSION)
	      == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") ==
	      CURLE_OK;
	if (s->ca_file != NULL)
		ok &= curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file) ==
		      CURLE_OK;
	return ok && set_body(c, r);
}

static void reset_answer(struct req *r)
{
	free(r->answer);
	r->answer = NULL;
	r->answer_len = 0;
	r->sent = 0;
	r->etag[0] = '\0';
	r->http = 0;
}

/* S3's error answer, or the status alone. */
static enum em_status http_error(struct em_store *st, const struct req *r,
                                 struct em_error *err)
{
	char *code = NULL, *msg = NULL;
	enum em_status rc;

	if (r->answer != NULL) {
		code = s3x_get(r->answer, r->answer_len, "Code");
		msg = s3x_get(r->answer, r->answer_len, "Message");
	}
	rc = em_error_set(err, r->http == 404 ? EM_ENOENT : EM_EIO,
	                  "store %s: %s %s: HTTP %ld%s%s%s%.200s", st->url,
	                  r->method, r->key ? r->key : "(bucket)", r->http,
	                  code ? " " : "", code ? code : "", msg ? ": " : "",
	                  msg ? msg : "");
	free(code);
	free(msg);
	return rc;
}

static enum em_status attempt(struct em_store *st, struct s3 *s,
                              struct req *r, struct em_error *err)
{
	struct curl_slist *h = headers(s, r);
	char *url = request_url(s, r);
	enum em_status rc = EM_OK;
	bool expired;
	long timeout = time_left(st, r, &expired);
	CURLcode cc;

	reset_answer(r);
	r->curl = s->curl;
	s->curl_err[0] = '\0';
	if (h == NULL || url == NULL) {
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
		goto cleanup;
	}
	if (expired) {
		rc = em_error_set(err, EM_EIO, "store %s: %s %s: the snapshot's "
		                  "time limit passed", st->url, r->method,
		                  r->key ? r->key : "(bucket)");
		goto cleanup;
	}
	if (!set_options(st, s, r, url, h, timeout)) {
		rc = em_error_set(err, EM_EIO, "store %s: libcurl refused the "
		                  "options (no SigV4 support?)", st->url);
		goto cleanup;
	}
	cc = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &r->http);
	if (r->sink_failed) {
		*err = r->sink_err;
		rc = err->status;
	} else if (cc != CURLE_OK)
		rc = em_error_set(err, EM_EIO, "store %s: %s %s: %s", st->url,
		                  r->method, r->key ? r->key : "(bucket)",
		                  s->curl_err[0] ? s->curl_err
		                                 : curl_easy_strerror(cc));
	else if (r->http < 200 || r->http > 299)
		rc = http_error(st, r, err);
cleanup:
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	free(url);
	return rc;
}

static bool retryable(const struct req *r, enum em_status rc)
{
	if (rc == EM_OK || r->sink_failed || r->sink_began)
		return false;
	return r->http == 0 || r->http >= 500;
}

/* One request, retried after a 5xx or a transport failure. */
static enum em_status request(struct em_store *st, struct req *r,
                              struct em_error *err)
{
	struct s3 *s = st->impl;
	enum em_status rc = EM_OK;

	for (int i = 0; i < ATTEMPTS; i++) {
		rc = attempt(st, s, r, err);
		if (!retryable(r, rc) || i + 1 == ATTEMPTS ||
		    (st->deadline_ms && store_now_ms() >= st->deadline_ms))
			break;
		em_log(EM_LOG_WARN, "store: retrying", "error", err->msg,
		       NULL);
		usleep(500000u << i);
	}
	return rc;
}

static void req_init(struct req *r, const char *method, const char *key,
                     const char *query)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->key = key;
	r->query = query;
	r->fd = -1;
}

static void req_done(struct req *r)
{
	free(r->answer);
	r->answer = NULL;
}

/* ---- the calls ------------------------------------------------------------- */

static char *escape(CURL *c, const char *v)
{
	return curl_easy_escape(c, v, 0);
}

/* One page of a listing: the keys with their sizes, and the token of the
 * next page (NULL at the end). */
static enum em_status list_page(struct em_store *st, struct s3 *s,
                                const struct req *r,
                                struct em_store_list *out, char **next,
                                struct em_error *err)
{
	const char *from = r->answer, *end = r->answer + r->answer_len, *t;
	size_t n, pl = strlen(s->prefix);
	char *truncated;

	*next = NULL;
	while (s3x_find(&from, end, "Contents", &t, &n)) {
		const char *cf = t, *ct, *sz;
		size_t cn, szn;
		char *key;

		if (!s3x_find(&cf, t + n, "Key", &ct, &cn) ||
		    !s3x_find(&cf, t + n, "Size", &sz, &szn) ||
		    (key = s3x_text(ct, cn)) == NULL)
			return em_error_set(err, EM_EFORMAT, "store %s: a "
			                    "listing entry without Key and Size",
			                    st->url);
		if (strncmp(key, s->prefix, pl) == 0 &&
		    !store_list_add(out, key + pl, strlen(key + pl),
		                    strtoull(sz, NULL, 10))) {
			free(key);
			return em_error_set(err, EM_ENOMEM, "store: out of "
			                    "memory");
		}
		free(key);
	}
	truncated = s3x_get(r->answer, r->answer_len, "IsTruncated");
	if (truncated != NULL && strcmp(truncated, "true") == 0)
		*next = s3x_get(r->answer, r->answer_len,
		                "NextContinuationToken");
	free(truncated);
	return EM_OK;
}

static enum em_status s3_list(struct em_store *st, const char *prefix,
                              struct em_store_list *out,
                              struct em_error *err)
{
	struct s3 *s = st->impl;
	char *full = NULL, *ep = NULL, *token = NULL, *query = NULL;
	enum em_status rc = EM_OK;
	struct req r;

	req_init(&r, "GET", NULL, NULL);
	if (asprintf(&full, "%s%s", s->prefix, prefix) < 0 ||
	    (ep = escape(s->curl, full)) == NULL) {
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
		goto cleanup;
	}
	do {
		char *et = token ? escape(s->curl, token) : NULL;
		int n;

		/* Sorted by name: SigV4's canonical query. */
		n = asprintf(&query, "%s%s%slist-type=2&prefix=%s",
		             et ? "continuation-token=" : "", et ? et : "",
		             et ? "&" : "", ep);
		curl_free(et);
		free(token);
		token = NULL;
		if (n < 0) {
			query = NULL;
			rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
			break;
		}
		r.query = query;
		rc = request(st, &r, err);
		if (rc == EM_OK)
			rc = list_page(st, s, &r, out, &token, err);
		free(query);
		query = NULL;
	} while (rc == EM_OK && token != NULL);
cleanup:
	free(token);
	free(full);
	curl_free(ep);
	req_done(&r);
	return rc;
}

static enum em_status s3_put_buf(struct em_store *st, const char *key,
                                 const void *p, size_t n,
                                 struct em_error *err)
{
	struct req r;
	enum em_status rc;

	req_init(&r, "PUT", key, NULL);
	r.body = p;
	r.body_len = n;
	rc = request(st, &r, err);
	req_done(&r);
	return rc;
}

static enum em_status put_range(struct em_store *st, const char *key,
                                const char *query, int fd, uint64_t off,
                                uint64_t len, char *etag, size_t etag_size,
                                struct em_error *err)
{
	struct req r;
	enum em_status rc;

	req_init(&r, "PUT", key, query);
	r.fd = fd;
	r.off = off;
	r.len = len;
	r.transfer = true;
	rc = request(st, &r, err);
	if (rc == EM_OK && etag != NULL) {
		if (r.etag[0] == '\0')
			rc = em_error_set(err, EM_EFORMAT, "store %s: PUT %s: "
			                  "no ETag in the answer", st->url, key);
		snprintf(etag, etag_size, "%s", r.etag);
	}
	req_done(&r);
	return rc;
}

static enum em_status mp_start(struct em_store *st, const char *key,
                               char **upload_id, struct em_error *err)
{
	struct req r;
	enum em_status rc;

	req_init(&r, "POST", key, "uploads=");
	rc = request(st, &r, err);
	if (rc == EM_OK) {
		*upload_id = s3x_get(r.answer, r.answer_len, "UploadId");
		if (*upload_id == NULL)
			rc = em_error_set(err, EM_EFORMAT, "store %s: no UploadId "
			                  "in the answer to starting a multipart "
			                  "upload of %s", st->url, key);
	}
	req_done(&r);
	return rc;
}

static void mp_abort(struct em_store *st, const char *key, const char *qid)
{
	struct em_error ignored;
	char *query = NULL;
	struct req r;

	if (asprintf(&query, "uploadId=%s", qid) < 0)
		return;
	req_init(&r, "DELETE", key, query);
	if (request(st, &r, &ignored) != EM_OK)
		em_log(EM_LOG_WARN, "store: could not abort a multipart upload "
		       "(the store's lifecycle rules will)", "key", key,
		       "error", ignored.msg, NULL);
	req_done(&r);
	free(query);
}

struct parts {
	char *xml;
	size_t len, cap;
};

static bool parts_add(struct parts *p, const char *s)
{
	size_t n = strlen(s);
	char *q;

	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 4096;

		while (cap < p->len + n + 1)
			cap *= 2;
		if ((q = realloc(p->xml, cap)) == NULL)
			return false;
		p->xml = q;
		p->cap = cap;
	}
	memcpy(p->xml + p->len, s, n + 1);
	p->len += n;
	return true;
}

static enum em_status mp_complete(struct em_store *st, const char *key,
                                  const char *qid, const struct parts *p,
                                  struct em_error *err)
{
	char *query = NULL;
	struct req r;
	enum em_status rc;

	if (asprintf(&query, "uploadId=%s", qid) < 0)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	req_init(&r, "POST", key, query);
	r.body = p->xml;
	r.body_len = p->len;
	rc = request(st, &r, err);
	/* S3 may answer 200 and then an error in the body. */
	if (rc == EM_OK && r.answer != NULL &&
	    strstr(r.answer, "<Error>") != NULL)
		rc = http_error(st, &r, err);
	req_done(&r);
	free(query);
	return rc;
}

static enum em_status mp_parts(struct em_store *st, const char *key,
                               const char *qid, int fd, uint64_t size,
                               uint64_t part, struct parts *p,
                               struct em_error *err)
{
	enum em_status rc = EM_OK;
	char etag[128], line[256], *query = NULL;
	unsigned n = 1;

	if (!parts_add(p, "<CompleteMultipartUpload>"))
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	for (uint64_t off = 0; rc == EM_OK && off < size; off += part, n++) {
		uint64_t len = size - off < part ? size - off : part;

		/* partNumber before uploadId: the canonical order. */
		if (asprintf(&query, "partNumber=%u&uploadId=%s", n, qid) < 0)
			return em_error_set(err, EM_ENOMEM, "store: out of "
			                    "memory");
		rc = put_range(st, key, query, fd, off, len, etag,
		               sizeof(etag), err);
		free(query);
		snprintf(line, sizeof(line), "<Part><PartNumber>%u</PartNumber>"
		         "<ETag>%s</ETag></Part>", n, etag);
		if (rc == EM_OK && !parts_add(p, line))
			rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
	}
	if (rc == EM_OK && !parts_add(p, "</CompleteMultipartUpload>"))
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
	return rc;
}

static enum em_status multipart(struct em_store *st, const char *key,
                                int fd, uint64_t size, struct em_error *err)
{
	struct s3 *s = st->impl;
	uint64_t part = s->part_size;
	struct parts p = { NULL, 0, 0 };
	char *id = NULL, *qid = NULL;
	enum em_status rc;

	while (size / part >= MAX_PARTS)
		part *= 2;
	rc = mp_start(st, key, &id, err);
	if (rc != EM_OK)
		return rc;
	qid = escape(s->curl, id);
	if (qid == NULL) {
		free(id);
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	}
	rc = mp_parts(st, key, qid, fd, size, part, &p, err);
	if (rc == EM_OK)
		rc = mp_complete(st, key, qid, &p, err);
	if (rc != EM_OK)
		mp_abort(st, key, qid);
	free(p.xml);
	curl_free(qid);
	free(id);
	return rc;
}

static enum em_status s3_put_file(struct em_store *st, const char *key,
                                  const char *path, bool consume,
                                  struct em_error *err)
{
	struct s3 *s = st->impl;
	enum em_status rc;
	struct stat sb;
	int fd;

	(void)consume;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return em_error_errno(err, EM_EIO, errno, "store: open %s",
		                      path);
	if (fstat(fd, &sb) != 0) {
		rc = em_error_errno(err, EM_EIO, errno, "store: stat %s", path);
	} else if ((uint64_t)sb.st_size <= s->part_size) {
		rc = put_range(st, key, NULL, fd, 0, (uint64_t)sb.st_size,
		               NULL, 0, err);
	} else {
		rc = multipart(st, key, fd, (uint64_t)sb.st_size, err);
	}
	close(fd);
	return rc;
}

static enum em_status s3_get(struct em_store *st, const char *key,
                             em_store_write_fn write, void *arg,
                             struct em_error *err)
{
	struct req r;
	enum em_status rc;

	req_init(&r, "GET", key, NULL);
	r.sink = write;
	r.arg = arg;
	r.transfer = true;
	rc = request(st, &r, err);
	req_done(&r);
	return rc;
}

static enum em_status s3_del(struct em_store *st, const char *key,
                             struct em_error *err)
{
	struct req r;
	enum em_status rc;

	req_init(&r, "DELETE", key, NULL);
	rc = request(st, &r, err);
	if (rc == EM_ENOENT)
		rc = EM_OK;
	req_done(&r);
	return rc;
}

static const struct store_ops s3_ops = {
	s3_list, s3_put_file, s3_put_buf, s3_get, s3_del, s3_free,
};

/* ---- opening: credentials and where the store is -------------------------- */

static char *trimmed(const char *p, size_t n)
{
	while (n > 0 && strchr(" \t", *p) != NULL)
		p++, n--;
	while (n > 0 && strchr(" \t\r\n", p[n - 1]) != NULL)
		n--;
	return strndup(p, n);
}

/* One "key = value" line of the profile's section. */
static bool credential_line(struct s3 *s, const char *line)
{
	const char *eq = strchr(line, '=');
	char *k, *v;
	char **slot = NULL;

	if (eq == NULL)
		return true;
	k = trimmed(line, (size_t)(eq - line));
	v = trimmed(eq + 1, strlen(eq + 1));
	if (k == NULL || v == NULL) {
		free(k);
		free_secret(v);
		return false;
	}
	if (strcmp(k, "aws_access_key_id") == 0)
		slot = &s->access_key;
	else if (strcmp(k, "aws_secret_access_key") == 0)
		slot = &s->secret;
	else if (strcmp(k, "aws_session_token") == 0)
		slot = &s->token;
	free(k);
	if (slot == NULL) {
		free_secret(v);
		return true;
	}
	free_secret(*slot);
	*slot = v;
	return true;
}

static enum em_status read_credentials(struct s3 *s, const char *path,
                                       const char *profile,
                                       struct em_error *err)
{
	char section[256], *line = NULL;
	size_t cap = 0;
	bool in = false, seen = false;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return em_error_errno(err, EM_EIO, errno, "store: cannot read "
		                      "the credentials file %s", path);
	snprintf(section, sizeof(section), "[%s]", profile);
	while (getline(&line, &cap, f) > 0) {
		char *t = trimmed(line, strlen(line));

		if (t != NULL && t[0] == '[') {
			in = strcmp(t, section) == 0;
			seen |= in;
		} else if (t != NULL && in && t[0] != '#' && t[0] != ';' &&
		           !credential_line(s, t)) {
			free(t);
			break;
		}
		free(t);
	}
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	if (!seen)
		return em_error_set(err, EM_EUSAGE, "store: the credentials "
		                    "file %s has no [%s] section", path,
		                    profile);
	return EM_OK;
}

static bool env_dup(char **slot, const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		return true;
	*slot = strdup(v);
	return *slot != NULL;
}

static enum em_status credentials(struct s3 *s, const struct em_s3_config *c,
                                  struct em_error *err)
{
	enum em_status rc = EM_OK;

	if (c != NULL && c->credentials_file != NULL)
		rc = read_credentials(s, c->credentials_file,
		                      c->profile ? c->profile : "default", err);
	else if (!env_dup(&s->access_key, "AWS_ACCESS_KEY_ID") ||
	         !env_dup(&s->secret, "AWS_SECRET_ACCESS_KEY") ||
	         !env_dup(&s->token, "AWS_SESSION_TOKEN"))
		rc = em_error_set(err, EM_ENOMEM, "store: out of memory");
	if (rc != EM_OK)
		return rc;
	if (s->access_key == NULL || s->secret == NULL)
		return em_error_set(err, EM_EUSAGE, "store: no S3 credentials: "
		                    "give backup.s3.credentials-file (or "
		                    "--s3-credentials-file), or set "
		                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
	return EM_OK;
}

static const char *region_of(const struct em_s3_config *c)
{
	const char *r = c != NULL ? c->region : NULL;

	if (r == NULL)
		r = getenv("AWS_REGION");
	if (r == NULL || *r == '\0')
		r = getenv("AWS_DEFAULT_REGION");
	if (r == NULL || *r == '\0')
		r = "us-east-1";
	return r;
}

static enum em_status where(struct s3 *s, const char *bucket_prefix,
                            const struct em_s3_config *c, const char *region,
                            struct em_error *err)
{
	size_t bl = strcspn(bucket_prefix, "/");
	const char *prefix = bucket_prefix + bl + (bucket_prefix[bl] == '/');
	size_t pl = strlen(prefix);
	const char *style = c ? c->url_style : NULL;
	const char *ep = c ? c->endpoint : NULL;

	while (pl > 0 && prefix[pl - 1] == '/')
		pl--;
	s->bucket = strndup(bucket_prefix, bl);
	if (asprintf(&s->prefix, "%.*s%s", (int)pl, prefix, pl ? "/" : "") < 0)
		s->prefix = NULL;
	if (ep == NULL)
		ep = getenv("AWS_ENDPOINT_URL_S3");
	if (ep != NULL && *ep != '\0')
		s->endpoint = strndup(ep, strlen(ep) -
		                      (ep[strlen(ep) - 1] == '/'));
	else if (asprintf(&s->endpoint, "https://s3.%s.amazonaws.com",
	                  region) < 0)
		s->endpoint = NULL;
	if (s->bucket == NULL || s->prefix == NULL || s->endpoint == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	if (strstr(s->endpoint, "://") == NULL)
		return em_error_set(err, EM_EUSAGE, "store: S3 endpoint '%.200s' "
		                    "is not an http(s):// URL", s->endpoint);
	s->path_style = style ? strcmp(style, "path") == 0
	                      : (c && c->endpoint) || (ep && *ep);
	return EM_OK;
}

enum em_status store_s3_open(struct em_store *st, const char *bucket_prefix,
                             const struct em_s3_config *c,
                             struct em_error *err)
{
	const char *region = region_of(c);
	struct s3 *s = calloc(1, sizeof(*s));
	enum em_status rc;

	if (s == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	st->impl = s;
	st->ops = &s3_ops;
	s->part_size = (uint64_t)(c && c->part_size_mb ? c->part_size_mb : 64)
	               * MIB;
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", region);
	if (c != NULL && c->ca_file != NULL &&
	    (s->ca_file = strdup(c->ca_file)) == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	rc = where(s, bucket_prefix, c, region, err);
	if (rc == EM_OK)
		rc = credentials(s, c, err);
	if (rc != EM_OK)
		return rc;
	s->curl = curl_easy_init();
	if (s->curl == NULL)
		return em_error_set(err, EM_EIO, "store: cannot set up libcurl "
		                    "(was curl_global_init called?)");
	return EM_OK;
}
