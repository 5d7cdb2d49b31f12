/*
 * gateway.c - the transport of the etcd v3 JSON gateway client (see
 * gateway.h): one libcurl easy handle per client (its connections are kept
 * alive between calls), endpoint failover, the auth token, and typing
 * etcd's errors from the JSON body.  The calls themselves are in
 * gateway_calls.c.  One call, the snapshot, can also go to etcd's gRPC
 * over HTTP/2 (gw_call.grpc): the gateway's JSON and base64 cost etcd and
 * etcd-medic twice the CPU of the db's bytes themselves.
 */
#include "gateway_priv.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "etcd-medic/log.h"

#define GW_DEFAULT_TIMEOUT_MS 5000L
#define GW_DEFAULT_CONNECT_MS 2000L
/* Above any answer etcd-medic asks for (etcd caps requests at 1.5 MiB and
 * a range page is bounded by its limit); beyond it the answer is refused. */
#define GW_MAX_ANSWER ((size_t)64 << 20)
/* An answer buffer grown beyond this is given back after the call. */
#define GW_KEEP_BUFFER ((size_t)1 << 20)
#define GW_JSON_DEPTH 64
#define GW_URL_BUF (EM_GW_URL_MAX + 64)

struct gw_buf {
	char *p;
	size_t len, cap, max;
	bool too_big;
};

/* What the headers and trailers of a gRPC answer said. */
struct gw_grpc {
	bool on;                 /* a gRPC call is under way */
	bool is_grpc;            /* Content-Type: application/grpc */
	int status;              /* grpc-status; -1 until it comes */
	char message[256];       /* grpc-message, percent-decoded */
};

struct em_gw {
	char **endpoints;
	size_t n_endpoints;
	size_t preferred;        /* the endpoint that answered last */
	char *username, *password;
	char *token;             /* NULL until authenticated */
	bool auth_off;           /* etcd said authentication is not enabled */
	long timeout_ms;
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
	struct gw_buf answer;
	char answered[GW_URL_BUF]; /* the URL of the last answer, for messages */
	struct gw_stream *stream;  /* set during gw_request_stream */
	struct gw_grpc grpc;       /* of the gRPC call under way */
};

static const char *const kind_names[] = {
	[EM_GW_OK] = "ok",
	[EM_GW_TRANSPORT] = "transport",
	[EM_GW_TIMEOUT] = "timeout",
	[EM_GW_AUTH] = "auth",
	[EM_GW_PERMISSION] = "permission",
	[EM_GW_MEMBER_NOT_FOUND] = "member-not-found",
	[EM_GW_MEMBER_EXISTS] = "member-exists",
	[EM_GW_PEER_URL_EXISTS] = "peer-url-exists",
	[EM_GW_BAD_URLS] = "bad-urls",
	[EM_GW_TOO_MANY_LEARNERS] = "too-many-learners",
	[EM_GW_LEARNER_NOT_READY] = "learner-not-ready",
	[EM_GW_NOT_LEARNER] = "not-learner",
	[EM_GW_UNHEALTHY] = "unhealthy",
	[EM_GW_NOT_ENOUGH_STARTED] = "not-enough-started",
	[EM_GW_NOT_LEADER] = "not-leader",
	[EM_GW_NO_LEADER] = "no-leader",
	[EM_GW_LEARNER_RPC] = "learner-rpc",
	[EM_GW_TIMED_OUT_SERVER] = "server-timeout",
	[EM_GW_NOT_SERVED] = "not-served",
	[EM_GW_LEASE_NOT_FOUND] = "lease-not-found",
	[EM_GW_COMPACTED] = "compacted",
	[EM_GW_BAD_RESPONSE] = "bad-response",
	[EM_GW_OTHER] = "other",
};

const char *em_gw_errkind_name(enum em_gw_errkind kind)
{
	if ((unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) &&
	    kind_names[kind] != NULL)
		return kind_names[kind];
	return "unknown";
}

bool em_gw_retryable(enum em_gw_errkind kind)
{
	switch (kind) {
	case EM_GW_TRANSPORT:
	case EM_GW_TIMEOUT:
	case EM_GW_UNHEALTHY:
	case EM_GW_NOT_ENOUGH_STARTED:
	case EM_GW_NOT_LEADER:
	case EM_GW_NO_LEADER:
	case EM_GW_TIMED_OUT_SERVER:
	case EM_GW_LEARNER_NOT_READY:
		return true;
	default:
		return false;
	}
}

/* Another member may answer what this one could not. */
static bool fails_over(int kind)
{
	return kind == EM_GW_TRANSPORT || kind == EM_GW_TIMEOUT ||
	       kind == EM_GW_NO_LEADER || kind == EM_GW_LEARNER_RPC;
}

static enum em_status kind_status(enum em_gw_errkind kind)
{
	switch (kind) {
	case EM_GW_BAD_RESPONSE:
		return EM_EFORMAT;
	case EM_GW_MEMBER_NOT_FOUND:
	case EM_GW_NOT_SERVED:
	case EM_GW_LEASE_NOT_FOUND:
		return EM_ENOENT;
	default:
		return EM_EIO;
	}
}

static enum em_status vfail(struct em_error *err, enum em_gw_errkind kind,
                            const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static enum em_status vfail(struct em_error *err, enum em_gw_errkind kind,
                            const char *fmt, va_list ap)
{
	char msg[EM_ERROR_MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	em_error_set(err, kind_status(kind), "%s", msg);
	if (err != NULL)
		err->code = (int)kind; /* after em_error_set, which resets it */
	return kind_status(kind);
}

enum em_status gw_fail(struct em_error *err, enum em_gw_errkind kind,
                       const char *fmt, ...)
{
	enum em_status rc;
	va_list ap;

	va_start(ap, fmt);
	rc = vfail(err, kind, fmt, ap);
	va_end(ap);
	return rc;
}

enum em_status gw_bad_answer(const struct em_gw *gw, const struct gw_call *c,
                             struct em_error *err, const char *fmt, ...)
{
	char what[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return gw_fail(err, EM_GW_BAD_RESPONSE, "%s on %s: unexpected answer: %s",
	               c->name, gw->answered, what);
}

enum em_status gw_nomem(const struct gw_call *c, struct em_error *err)
{
	return em_error_set(err, EM_ENOMEM, "%s: out of memory", c->name);
}

/* --- etcd's error messages ------------------------------------------ */

static const struct {
	const char *text;
	enum em_gw_errkind kind;
} known_errors[] = {
	/* Before "can only promote a learner member", which it contains. */
	{ "learner member which is in sync with leader",
	  EM_GW_LEARNER_NOT_READY },
	{ "can only promote a learner member", EM_GW_NOT_LEARNER },
	{ "member not found", EM_GW_MEMBER_NOT_FOUND },
	{ "member ID already exist", EM_GW_MEMBER_EXISTS },
	{ "Peer URLs already exists", EM_GW_PEER_URL_EXISTS },
	{ "given member URLs are invalid", EM_GW_BAD_URLS },
	{ "too many learner members", EM_GW_TOO_MANY_LEARNERS },
	{ "unhealthy cluster", EM_GW_UNHEALTHY },
	{ "not enough started members", EM_GW_NOT_ENOUGH_STARTED },
	{ "etcdserver: not leader", EM_GW_NOT_LEADER },
	{ "etcdserver: no leader", EM_GW_NO_LEADER },
	{ "rpc not supported for learner", EM_GW_LEARNER_RPC },
	{ "request timed out", EM_GW_TIMED_OUT_SERVER },
	{ "permission denied", EM_GW_PERMISSION },
	{ "authentication failed", EM_GW_AUTH },
	{ "invalid auth token", EM_GW_AUTH },
	{ "user name is empty", EM_GW_AUTH },
	{ "revision of auth store is old", EM_GW_AUTH },
	{ "requested lease not found", EM_GW_LEASE_NOT_FOUND },
	{ "required revision has been compacted", EM_GW_COMPACTED },
};

/* gRPC status codes the gateway passes on in "code". */
enum { GRPC_PERMISSION_DENIED = 7, GRPC_UNAUTHENTICATED = 16 };

enum em_gw_errkind gw_error_kind(const char *msg, long grpc_code)
{
	for (size_t i = 0; i < sizeof(known_errors) / sizeof(known_errors[0]);
	     i++)
		if (strstr(msg, known_errors[i].text) != NULL)
			return known_errors[i].kind;
	/* JWT tokens: "auth: ... expired" and relatives. */
	if (grpc_code == GRPC_UNAUTHENTICATED ||
	    (strncmp(msg, "auth: ", 6) == 0 && strstr(msg, "expired") != NULL))
		return EM_GW_AUTH;
	if (grpc_code == GRPC_PERMISSION_DENIED)
		return EM_GW_PERMISSION;
	return EM_GW_OTHER;
}

/* --- the client ------------------------------------------------------ */

static bool valid_url(const char *u)
{
	return u != NULL && strlen(u) < EM_GW_URL_MAX &&
	       (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

/* The URL without trailing slashes, so that paths can be appended. */
static size_t url_base_len(const char *u)
{
	size_t n = strlen(u);

	while (n > 0 && u[n - 1] == '/')
		n--;
	return n;
}

static bool dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL)
		return true;
	*out = strdup(s);
	return *out != NULL;
}

static void free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void em_gw_free(struct em_gw *gw)
{
	if (gw == NULL)
		return;
	for (size_t i = 0; i < gw->n_endpoints; i++)
		free(gw->endpoints[i]);
	free(gw->endpoints);
	free(gw->username);
	free_secret(gw->password);
	free_secret(gw->token);
	if (gw->curl != NULL)
		curl_easy_cleanup(gw->curl);
	free(gw->answer.p);
	free(gw);
}

static enum em_status check_config(const struct em_gw_config *cfg,
                                   struct em_error *err)
{
	if (cfg == NULL || cfg->n_endpoints == 0 || cfg->endpoints == NULL)
		return em_error_set(err, EM_EUSAGE, "gateway: no endpoints");
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		if (!valid_url(cfg->endpoints[i]))
			return em_error_set(err, EM_EUSAGE,
			        "gateway: endpoint '%s' is not an http:// or "
			        "https:// URL shorter than %d bytes",
			        cfg->endpoints[i] ? cfg->endpoints[i] : "(null)",
			        EM_GW_URL_MAX);
	if (cfg->timeout_ms < 0 || cfg->connect_timeout_ms < 0)
		return em_error_set(err, EM_EUSAGE,
		                    "gateway: negative timeout");
	if (cfg->username != NULL && cfg->username[0] == '\0')
		return em_error_set(err, EM_EUSAGE,
		                    "gateway: empty user name");
	return EM_OK;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gw_buf *b = arg;
	size_t n = size * nmemb, cap;
	char *p;

	if (n > b->max - b->len) {
		b->too_big = true;
		return 0; /* libcurl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* A stream's body goes to its consumer once the answer is a 200; an error
 * answer is collected like any other, to be typed. */
static size_t on_stream_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct em_gw *gw = arg;
	long http = 0;

	curl_easy_getinfo(gw->curl, CURLINFO_RESPONSE_CODE, &http);
	if (http != 200 || (gw->grpc.on && !gw->grpc.is_grpc))
		return on_data(data, size, nmemb, &gw->answer);
	if (!gw->stream->on_body(gw->stream->arg, data, size * nmemb)) {
		gw->stream->aborted = true;
		return 0;
	}
	return size * nmemb;
}

static bool stream_began(struct em_gw *gw)
{
	long http = 0;

	curl_easy_getinfo(gw->curl, CURLINFO_RESPONSE_CODE, &http);
	return http == 200;
}

#define STREAM_BUFFER (512L * 1024)

/* The options of a stream for one transfer, or back to a unary call's. */
static bool stream_options(struct em_gw *gw, bool on)
{
	struct gw_stream *s = gw->stream;
	CURL *c = gw->curl;
	bool ok = true;

	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION,
	                       on ? on_stream_data : on_data) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA,
	                       on ? (void *)gw : (void *)&gw->answer) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	                       on ? s->timeout_ms : gw->timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, on ? 1L : 0L) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
	                       on ? s->stall_s : 0L) == CURLE_OK;
	/* A large receive buffer for a stream: fewer wake-ups and callbacks
	 * per GiB; unary answers keep libcurl's default. */
	ok &= curl_easy_setopt(c, CURLOPT_BUFFERSIZE,
	                       on ? STREAM_BUFFER : (long)CURL_MAX_WRITE_SIZE) ==
	      CURLE_OK;
	return ok;
}

/* A grpc-status value: a small decimal number, else 2 (UNKNOWN). */
static int grpc_status(const char *p, size_t n)
{
	int v = 0;

	if (n == 0 || n > 4)
		return 2;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 2;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* The headers of a gRPC answer, and its trailers after the body: only
 * the content type and the status matter. */
static size_t on_grpc_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct em_gw *gw = arg;
	size_t n = size * nmemb, name, v;
	char *msg;
	int len;

	for (name = 0; name < n && data[name] != ':'; name++)
		;
	if (name == n)
		return n;     /* the status line, or the blank line */
	for (v = name + 1; v < n && (data[v] == ' ' || data[v] == '\t'); v++)
		;
	while (n > v && (data[n - 1] == '\r' || data[n - 1] == '\n' ||
	                 data[n - 1] == ' '))
		n--;
	len = (int)(n - v < 255 ? n - v : 255);
	if (name == 12 && strncasecmp(data, "content-type", 12) == 0)
		gw->grpc.is_grpc = len >= 16 &&
		                   strncasecmp(data + v, "application/grpc", 16) == 0;
	else if (name == 11 && strncasecmp(data, "grpc-status", 11) == 0)
		gw->grpc.status = grpc_status(data + v, (size_t)len);
	else if (name == 12 && strncasecmp(data, "grpc-message", 12) == 0) {
		/* Percent-encoded, as gRPC's spec wants. */
		msg = curl_easy_unescape(gw->curl, data + v, len, NULL);
		snprintf(gw->grpc.message, sizeof(gw->grpc.message), "%s",
		         msg != NULL ? msg : "(undecodable message)");
		curl_free(msg);
	}
	return size * nmemb;
}

/* For a gRPC call: HTTP/2 (by ALPN over TLS, by prior knowledge in the
 * clear) on a connection of its own, closed after it; back to HTTP/1.1
 * and shared connections after it. */
static bool grpc_options(struct em_gw *gw, const char *url, bool on)
{
	CURL *c = gw->curl;
	long version = strncmp(url, "https://", 8) == 0
	               ? (long)CURL_HTTP_VERSION_2TLS
	               : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
	bool ok = true;

	ok &= curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
	                       on ? version : (long)CURL_HTTP_VERSION_1_1) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, on ? 1L : 0L) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_FORBID_REUSE, on ? 1L : 0L) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION,
	                       on ? on_grpc_header : NULL) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HEADERDATA,
	                       on ? (void *)gw : NULL) == CURLE_OK;
	memset(&gw->grpc, 0, sizeof(gw->grpc));
	gw->grpc.on = on;
	gw->grpc.status = -1;
	return ok;
}

/* Options that stay the same for every request of this client. */
static bool setup_curl(struct em_gw *gw, const struct em_gw_config *cfg)
{
	CURL *c = gw->curl;
	long connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms
	                                          : GW_DEFAULT_CONNECT_MS;
	bool ok = true;

	ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, gw->timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                       connect_ms < gw->timeout_ms ? connect_ms
	                                                   : gw->timeout_ms) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, &gw->answer) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, gw->curl_err) == CURLE_OK;
	/* etcd's client port also speaks gRPC over HTTP/2; the gateway is
	 * plain HTTP/1.1, the simplest to reason about. */
	ok &= curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
	                       (long)CURL_HTTP_VERSION_1_1) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_USERAGENT,
	                       "etcd-medic/" EM_VERSION) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") ==
	      CURLE_OK;
#else
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	                       (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
	      CURLE_OK;
#endif
	if (cfg->ca_file != NULL)
		ok &= curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file) ==
		      CURLE_OK;
	if (cfg->cert_file != NULL)
		ok &= curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->cert_file) ==
		      CURLE_OK;
	if (cfg->key_file != NULL)
		ok &= curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->key_file) ==
		      CURLE_OK;
	return ok;
}

static enum em_status copy_config(struct em_gw *gw,
                                  const struct em_gw_config *cfg)
{
	gw->endpoints = calloc(cfg->n_endpoints, sizeof(*gw->endpoints));
	if (gw->endpoints == NULL)
		return EM_ENOMEM;
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		gw->endpoints[i] = strndup(cfg->endpoints[i],
		                           url_base_len(cfg->endpoints[i]));
		if (gw->endpoints[i] == NULL)
			return EM_ENOMEM;
		gw->n_endpoints++;
	}
	if (!dup_opt(cfg->username, &gw->username) ||
	    !dup_opt(cfg->username ? (cfg->password ? cfg->password : "")
	                           : NULL, &gw->password))
		return EM_ENOMEM;
	gw->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms
	                                 : GW_DEFAULT_TIMEOUT_MS;
	gw->answer.max = cfg->max_answer_bytes ? cfg->max_answer_bytes
	                                       : GW_MAX_ANSWER;
	return EM_OK;
}

enum em_status em_gw_new(const struct em_gw_config *cfg, struct em_gw **out,
                         struct em_error *err)
{
	struct em_gw *gw;
	enum em_status rc;

	*out = NULL;
	rc = check_config(cfg, err);
	if (rc != EM_OK)
		return rc;
	gw = calloc(1, sizeof(*gw));
	if (gw == NULL)
		return em_error_set(err, EM_ENOMEM, "gateway: out of memory");
	if (copy_config(gw, cfg) != EM_OK) {
		rc = em_error_set(err, EM_ENOMEM, "gateway: out of memory");
		goto cleanup;
	}
	gw->curl = curl_easy_init();
	if (gw->curl == NULL || !setup_curl(gw, cfg)) {
		rc = em_error_set(err, EM_EIO, "gateway: cannot set up libcurl "
		                  "(was curl_global_init called? TLS files "
		                  "need a TLS-enabled libcurl)");
		goto cleanup;
	}
	*out = gw;
	return EM_OK;
cleanup:
	em_gw_free(gw);
	return rc;
}

/* --- one request on one endpoint ------------------------------------ */

/* A printable excerpt of a body that is not JSON, for messages. */
static void excerpt(const struct gw_buf *b, char *out, size_t size)
{
	size_t n = b->len < size - 1 ? b->len : size - 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b->p[i];

		out[i] = c >= ' ' && c < 0x7f ? (char)c : ' ';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* Parses the first JSON value of the body; for a unary answer, nothing
 * but white space may follow it. */
static json_object *parse_body(const struct gw_buf *b, bool stream)
{
	struct json_tokener *tok;
	json_object *o = NULL;
	size_t end;

	if (b->len == 0 || b->len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(GW_JSON_DEPTH);
	if (tok == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, b->p, (int)b->len);
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object)) {
		end = json_tokener_get_parse_end(tok);
		while (!stream && end < b->len &&
		       strchr(" \t\r\n", b->p[end]) != NULL)
			end++;
		if (stream || end == b->len) {
			json_tokener_free(tok);
			return o;
		}
	}
	json_object_put(o);
	json_tokener_free(tok);
	return NULL;
}

struct attempt {
	const struct gw_call *call;
	const char *url;        /* endpoint + path */
	const char *endpoint;
	const char *body;
	bool with_token;
};

static enum em_status transport_error(struct em_gw *gw,
                                      const struct attempt *a, CURLcode rc,
                                      struct em_error *err)
{
	const char *why = gw->curl_err[0] ? gw->curl_err
	                                  : curl_easy_strerror(rc);

	if (rc == CURLE_OPERATION_TIMEDOUT)
		return gw_fail(err, EM_GW_TIMEOUT, "%s on %s: timed out: %s",
		               a->call->name, a->endpoint, why);
	if (rc == CURLE_WRITE_ERROR && gw->answer.too_big)
		return gw_fail(err, EM_GW_BAD_RESPONSE, "%s on %s: answer "
		               "larger than %zu bytes, refused", a->call->name,
		               a->endpoint, gw->answer.max);
	return gw_fail(err, EM_GW_TRANSPORT, "%s on %s: %s", a->call->name,
	               a->endpoint, why);
}

static enum em_status typed_error(const struct attempt *a, long http,
                                  const char *msg, long code,
                                  struct em_error *err)
{
	return gw_fail(err, gw_error_kind(msg, code), "%s on %s: etcd: %s (gRPC "
	               "code %ld, HTTP %ld)", a->call->name, a->endpoint, msg,
	               code, http);
}

/* For a stream, the answer is the "result" of its first message.  Takes
 * o's reference; NULL if there is no result. */
static json_object *unwrap_stream(json_object *o)
{
	json_object *r;

	if (!json_object_object_get_ex(o, "result", &r) ||
	    !json_object_is_type(r, json_type_object))
		r = NULL;
	json_object_get(r);
	json_object_put(o);
	return r;
}

static enum em_status judge(struct em_gw *gw, const struct attempt *a,
                            json_object **resp, struct em_error *err)
{
	json_object *o;
	const char *msg;
	long http = 0, code;
	char text[64];

	curl_easy_getinfo(gw->curl, CURLINFO_RESPONSE_CODE, &http);
	o = parse_body(&gw->answer, a->call->stream);
	if (o == NULL) {
		excerpt(&gw->answer, text, sizeof(text));
		if (http == 404)
			return gw_fail(err, EM_GW_NOT_SERVED, "%s on %s: this "
			               "etcd does not serve %s (HTTP 404 '%s')",
			               a->call->name, a->endpoint, a->call->path,
			               text);
		return gw_fail(err, EM_GW_BAD_RESPONSE, "%s on %s: not a JSON "
		               "object (HTTP %ld, %zu bytes: '%s')",
		               a->call->name, a->endpoint, http,
		               gw->answer.len, text);
	}
	if (gwj_error(o, http < 200 || http > 299, &msg, &code)) {
		enum em_status rc = typed_error(a, http, msg, code, err);

		json_object_put(o);
		return rc;
	}
	if (a->call->stream && (o = unwrap_stream(o)) == NULL)
		return gw_fail(err, EM_GW_BAD_RESPONSE, "%s on %s: stream "
		               "message without a result", a->call->name,
		               a->endpoint);
	if (http < 200 || http > 299) {
		json_object_put(o);
		return gw_fail(err, EM_GW_BAD_RESPONSE, "%s on %s: HTTP %ld "
		               "without an error", a->call->name, a->endpoint,
		               http);
	}
	*resp = o;
	return EM_OK;
}

static struct curl_slist *request_headers(const struct em_gw *gw,
                                          bool with_token, bool grpc)
{
	struct curl_slist *h = NULL, *t;
	char *auth;

	if ((t = curl_slist_append(h, grpc ? "Content-Type: application/grpc"
	                                   : "Content-Type: application/json")) ==
	    NULL)
		return NULL;
	h = t;
	if (grpc) {
		if ((t = curl_slist_append(h, "TE: trailers")) == NULL)
			goto fail;
		h = t;
	}
	/* No "Expect: 100-continue" round trip for larger bodies. */
	if ((t = curl_slist_append(h, "Expect:")) == NULL)
		goto fail;
	h = t;
	if (!with_token || gw->token == NULL)
		return h;
	/* etcd wants the token raw, without "Bearer"; its gRPC side reads
	 * it from the "authorization" metadata too. */
	if (asprintf(&auth, "Authorization: %s", gw->token) < 0)
		goto fail;
	t = curl_slist_append(h, auth);
	free_secret(auth);
	if (t == NULL)
		goto fail;
	return t;
fail:
	curl_slist_free_all(h);
	return NULL;
}

/* curl's errors that say the server took the connection, then answered
 * in something else than HTTP/2 or closed it on HTTP/2's preface (an
 * HTTP/1 server answers it with an error and closes while curl may still
 * be sending: a send error).  Seen once more: etcd refusing the call at
 * once (a learner) and resetting the stream before curl read the
 * status; the gateway then gives etcd's refusal in its own words. */
static bool not_h2(CURLcode rc)
{
	return rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM ||
	       rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_RECV_ERROR ||
	       rc == CURLE_SEND_ERROR;
}

/* A gRPC answer: the status in its headers or trailers, which come after
 * a body the consumer took. */
static enum em_status judge_grpc(struct em_gw *gw, const struct attempt *a,
                                 CURLcode rc, struct em_error *err)
{
	long http = 0;
	char text[64];

	curl_easy_getinfo(gw->curl, CURLINFO_RESPONSE_CODE, &http);
	if (http != 200 || !gw->grpc.is_grpc) {
		if (rc != CURLE_OK && http == 0 && !not_h2(rc))
			return transport_error(gw, a, rc, err);
		excerpt(&gw->answer, text, sizeof(text));
		return gw_fail(err, EM_GW_NOT_SERVED, "%s on %s: no gRPC answer "
		               "(HTTP %ld%s%s%s%s)", a->call->name, a->endpoint,
		               http, rc != CURLE_OK ? ", " : "",
		               rc != CURLE_OK ? curl_easy_strerror(rc) : "",
		               text[0] ? ": " : "", text);
	}
	if (gw->grpc.status > 0) {
		/* 12 is UNIMPLEMENTED: an etcd without this method. */
		if (gw->grpc.status == 12)
			return gw_fail(err, EM_GW_NOT_SERVED, "%s on %s: etcd: %s "
			               "(gRPC code 12)", a->call->name,
			               a->endpoint, gw->grpc.message);
		return typed_error(a, http, gw->grpc.message, gw->grpc.status,
		                   err);
	}
	if (rc != CURLE_OK)
		return transport_error(gw, a, rc, err);
	if (gw->grpc.status < 0)
		return gw_fail(err, EM_GW_TRANSPORT, "%s on %s: the gRPC answer "
		               "ended without a status", a->call->name,
		               a->endpoint);
	return EM_OK;
}

/* The body of a request: JSON, or gRPC's empty message (no compression,
 * length 0), which is all the Snapshot request is. */
static bool request_body(struct em_gw *gw, const struct attempt *a)
{
	static const char empty_grpc[5];
	bool g = a->call->grpc;

	return curl_easy_setopt(gw->curl, CURLOPT_POSTFIELDSIZE,
	                        g ? 5L : (long)strlen(a->body)) == CURLE_OK &&
	       curl_easy_setopt(gw->curl, CURLOPT_POSTFIELDS,
	                        g ? empty_grpc : a->body) == CURLE_OK;
}

static enum em_status attempt(struct em_gw *gw, const struct attempt *a,
                              json_object **resp, struct em_error *err)
{
	bool grpc = a->call->grpc;
	/* Not the authentication a stream's call may need first. */
	bool streaming = gw->stream != NULL && a->call->stream;
	struct curl_slist *headers = request_headers(gw, a->with_token, grpc);
	CURLcode rc;
	enum em_status st;

	if (headers == NULL)
		return gw_nomem(a->call, err);
	gw->answer.len = 0;
	gw->answer.too_big = false;
	gw->curl_err[0] = '\0';
	if (curl_easy_setopt(gw->curl, CURLOPT_URL, a->url) != CURLE_OK ||
	    curl_easy_setopt(gw->curl, CURLOPT_HTTPHEADER, headers) !=
	    CURLE_OK || !request_body(gw, a)) {
		st = gw_fail(err, EM_GW_TRANSPORT, "%s on %s: libcurl refused "
		             "the request options", a->call->name, a->endpoint);
		goto cleanup;
	}
	if (grpc && !grpc_options(gw, a->url, true)) {
		/* -Dlibcurl=system, with a libcurl built without nghttp2. */
		st = gw_fail(err, EM_GW_NOT_SERVED, "%s on %s: this libcurl "
		             "speaks no HTTP/2, so no gRPC", a->call->name,
		             a->endpoint);
		goto cleanup;
	}
	if (streaming && !stream_options(gw, true)) {
		st = gw_fail(err, EM_GW_TRANSPORT, "%s on %s: libcurl refused "
		             "the stream options", a->call->name, a->endpoint);
		goto cleanup;
	}
	rc = curl_easy_perform(gw->curl);
	snprintf(gw->answered, sizeof(gw->answered), "%s", a->endpoint);
	if (grpc)
		st = judge_grpc(gw, a, rc, err);
	else if (rc == CURLE_OK && streaming && stream_began(gw))
		st = EM_OK;   /* the body was the stream consumer's */
	else
		st = rc == CURLE_OK ? judge(gw, a, resp, err)
		                    : transport_error(gw, a, rc, err);
	if (streaming)
		stream_options(gw, false);
	if (gw->answer.cap > GW_KEEP_BUFFER) {
		free(gw->answer.p);
		gw->answer.p = NULL;
		gw->answer.cap = 0;
	}
cleanup:
	if (grpc)
		grpc_options(gw, a->url, false);
	/* The handle must not keep pointers to what is freed here. */
	curl_easy_setopt(gw->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(gw->curl, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(headers);
	return st;
}

/* --- authentication -------------------------------------------------- */

static const struct gw_call authenticate_call = {
	"authenticate", "/v3/auth/authenticate", false
};

static void drop_token(struct em_gw *gw)
{
	free_secret(gw->token);
	gw->token = NULL;
	gw->auth_off = false;
}

static enum em_status take_token(struct em_gw *gw, json_object *resp,
                                 struct em_error *err)
{
	const char *token;

	if (!gwj_str(resp, "token", &token) || token == NULL ||
	    token[0] == '\0')
		return gw_bad_answer(gw, &authenticate_call, err, "no token");
	/* A token goes into a header line: no line breaks in it. */
	if (strpbrk(token, "\r\n") != NULL)
		return gw_bad_answer(gw, &authenticate_call, err,
		                     "token with a line break");
	gw->token = strdup(token);
	if (gw->token == NULL)
		return gw_nomem(&authenticate_call, err);
	return EM_OK;
}

static json_object *credentials(const struct em_gw *gw)
{
	json_object *o = json_object_new_object();

	if (o == NULL ||
	    !gwj_add(o, "name", json_object_new_string(gw->username)) ||
	    !gwj_add(o, "password", json_object_new_string(gw->password))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static enum em_status authenticate(struct em_gw *gw, const char *endpoint,
                                   struct em_error *err)
{
	char url[GW_URL_BUF];
	struct attempt a = { &authenticate_call, url, endpoint, NULL, false };
	json_object *req = credentials(gw), *resp = NULL;
	enum em_status rc;

	if (req == NULL)
		return gw_nomem(&authenticate_call, err);
	snprintf(url, sizeof(url), "%.*s%s", (int)url_base_len(endpoint),
	         endpoint, authenticate_call.path);
	a.body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	rc = a.body != NULL ? attempt(gw, &a, &resp, err)
	                    : gw_nomem(&authenticate_call, err);
	if (rc == EM_OK) {
		rc = take_token(gw, resp, err);
		if (rc == EM_OK)
			em_log(EM_LOG_DEBUG, "gateway: authenticated",
			       "endpoint", endpoint, "user", gw->username,
			       NULL);
	} else if (strstr(err->msg, "authentication is not enabled")) {
		/* Credentials configured before auth is turned on: fine. */
		gw->auth_off = true;
		em_error_clear(err);
		rc = EM_OK;
	}
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/*
 * One endpoint, with a token when a user is configured.  A token that etcd
 * rejects (expired, or from before a restart) is renewed once.
 */
static enum em_status call_one(struct em_gw *gw, const char *endpoint,
                               const struct gw_call *call, const char *body,
                               json_object **resp, struct em_error *err)
{
	char url[GW_URL_BUF];
	struct attempt a = { call, url, endpoint, body, true };
	enum em_status rc;

	snprintf(url, sizeof(url), "%.*s%s", (int)url_base_len(endpoint),
	         endpoint, call->path);
	if (gw->username != NULL && gw->token == NULL && !gw->auth_off) {
		rc = authenticate(gw, endpoint, err);
		if (rc != EM_OK)
			return rc;
	}
	rc = attempt(gw, &a, resp, err);
	if (rc == EM_OK || err->code != EM_GW_AUTH || gw->username == NULL)
		return rc;
	em_log(EM_LOG_DEBUG, "gateway: token refused, authenticating again",
	       "call", call->name, "endpoint", endpoint, "error", err->msg,
	       NULL);
	drop_token(gw);
	rc = authenticate(gw, endpoint, err);
	if (rc != EM_OK)
		return rc;
	return attempt(gw, &a, resp, err);
}

/* Which error to report when every endpoint failed: etcd's own answer
 * says more than a timeout, a timeout more than a refused connection. */
static int error_rank(int kind)
{
	if (kind < 0)
		return -1;
	if (kind == EM_GW_TRANSPORT)
		return 0;
	if (kind == EM_GW_TIMEOUT)
		return 1;
	return 2;
}

static enum em_status call_any(struct em_gw *gw, const struct gw_call *call,
                               const char *body, json_object **resp,
                               struct em_error *err)
{
	struct em_error best = { .code = -1 };
	size_t at;
	enum em_status rc;

	for (size_t i = 0; i < gw->n_endpoints; i++) {
		at = (gw->preferred + i) % gw->n_endpoints;
		rc = call_one(gw, gw->endpoints[at], call, body, resp, err);
		if (rc == EM_OK) {
			gw->preferred = at;
			return EM_OK;
		}
		if (!fails_over(err->code))
			return rc;
		em_log(EM_LOG_DEBUG, "gateway: trying the next endpoint",
		       "call", call->name, "endpoint", gw->endpoints[at],
		       "error", err->msg, NULL);
		if (error_rank(err->code) >= error_rank(best.code))
			best = *err;
	}
	if (gw->n_endpoints == 1) {
		*err = best;
		return err->status;
	}
	rc = gw_fail(err, (enum em_gw_errkind)best.code, "%s: none of the %zu "
	             "endpoints answered; %s", call->name, gw->n_endpoints,
	             best.msg);
	return rc;
}

enum em_status gw_request(struct em_gw *gw, const char *endpoint,
                          const struct gw_call *call, json_object *req,
                          json_object **resp, struct em_error *err)
{
	struct em_error local;
	const char *body;

	if (err == NULL)
		err = &local;
	*resp = NULL;
	if (endpoint != NULL && !valid_url(endpoint))
		return em_error_set(err, EM_EUSAGE, "%s: endpoint '%s' is not "
		                    "an http:// or https:// URL shorter than "
		                    "%d bytes", call->name, endpoint,
		                    EM_GW_URL_MAX);
	body = call->grpc ? "" :
	       json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
	                                      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (body == NULL)
		return gw_nomem(call, err);
	if (endpoint != NULL)
		return call_one(gw, endpoint, call, body, resp, err);
	return call_any(gw, call, body, resp, err);
}

enum em_status gw_request_stream(struct em_gw *gw, const char *endpoint,
                                 const struct gw_call *call,
                                 json_object *req, struct gw_stream *s,
                                 struct em_error *err)
{
	json_object *resp = NULL;
	enum em_status rc;

	if (endpoint == NULL)
		return em_error_set(err, EM_EUSAGE, "%s: a stream needs one "
		                    "endpoint", call->name);
	s->aborted = false;
	gw->stream = s;
	rc = gw_request(gw, endpoint, call, req, &resp, err);
	gw->stream = NULL;
	json_object_put(resp);
	return rc;
}
