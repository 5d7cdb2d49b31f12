/*
 * server.c - the sidecar's HTTP API on libmicrohttpd (see server.h).
 *
 * Handlers are short: they check the method and the parameters, ask the
 * sidecar, and answer.  Nothing here decides anything about the data.
 */
#include "etcd-medic/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "etcd-medic/config.h"
#include "etcd-medic/log.h"
#include "etcd-medic/metrics.h"

#define MAX_CONNECTIONS 64
#define CONNECTION_TIMEOUT_S 15
#define REQUEST_MEMORY (32 * 1024)  /* headers and URL of one request */
#define SECRET_MAX 4096

struct em_server {
	struct MHD_Daemon *d;
	struct em_sidecar *sc;
	char *token;                  /* bearer token, or NULL */
	char *tls_cert, *tls_key;     /* PEM, or NULL */
};

/* ---- answers ------------------------------------------------------------ */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
                              const char *type, const char *body, size_t n)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(n, (void *)body,
	                                    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status,
                            const char *s)
{
	return answer(c, status, "text/plain; charset=utf-8", s, strlen(s));
}

/* A JSON error: {"error": what, "status": code}. */
static enum MHD_Result json_error(struct MHD_Connection *c, unsigned status,
                                  const char *what)
{
	json_object *o = json_object_new_object();
	const char *s;
	enum MHD_Result ret;

	json_object_object_add(o, "error", json_object_new_string(what));
	json_object_object_add(o, "status", json_object_new_int((int)status));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	ret = answer(c, status, "application/json", s, strlen(s));
	json_object_put(o);
	return ret;
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c,
                                          const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *s = "{\"error\":\"method not allowed\",\"status\":405}";

	r = MHD_create_response_from_buffer(strlen(s), (void *)s,
	                                    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Allow", allow);
	ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- handlers ----------------------------------------------------------- */

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* GET is accepted for etcd-wrapper, which starts with a GET. */
static enum MHD_Result init_start(struct em_server *s, struct MHD_Connection *c,
                                  const char *method)
{
	const char *mode = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	                                               "mode");
	enum em_check_mode m;

	if (!is(method, "POST") && !is(method, "GET"))
		return method_not_allowed(c, "GET, POST");
	if (mode == NULL || is(mode, "full"))
		m = EM_CHECK_FULL;
	else if (is(mode, "sanity"))
		m = EM_CHECK_SANITY;
	else
		return json_error(c, MHD_HTTP_BAD_REQUEST,
		                  "mode must be full or sanity");
	if (!em_sidecar_init_start(s->sc, m))
		return json_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "cannot start the initialization");
	return text(c, MHD_HTTP_OK, "OK\n");
}

static bool wants_json(struct MHD_Connection *c)
{
	const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                              "Accept");

	return acc != NULL && strstr(acc, "application/json") != NULL;
}

static enum MHD_Result init_status(struct em_server *s,
                                   struct MHD_Connection *c)
{
	char *j;
	enum MHD_Result ret;

	if (!wants_json(c))
		return text(c, MHD_HTTP_OK, em_init_state_name(
		            em_sidecar_init_state(s->sc, true)));
	j = em_sidecar_status_json(s->sc);
	if (j == NULL)
		return json_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "out of memory");
	ret = answer(c, MHD_HTTP_OK, "application/json", j, strlen(j));
	free(j);
	return ret;
}

static enum MHD_Result config(struct em_server *s, struct MHD_Connection *c)
{
	char why[640];
	char *y = em_sidecar_config(s->sc, why, sizeof(why));
	enum MHD_Result ret;

	if (y == NULL)
		return json_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, why);
	ret = answer(c, MHD_HTTP_OK, "application/yaml", y, strlen(y));
	free(y);
	return ret;
}

static enum MHD_Result readyz(struct em_server *s, struct MHD_Connection *c)
{
	char why[512];

	if (em_sidecar_ready(s->sc, why, sizeof(why)))
		return text(c, MHD_HTTP_OK, "ok\n");
	return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, why);
}

static enum MHD_Result healthz(struct em_server *s, struct MHD_Connection *c)
{
	if (em_sidecar_healthy(s->sc))
		return text(c, MHD_HTTP_OK, "ok\n");
	return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the watch has stalled\n");
}

static enum MHD_Result metrics(struct MHD_Connection *c)
{
	size_t n = 0;
	char *m = em_metrics_render(&n);
	enum MHD_Result ret;

	if (m == NULL)
		return json_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "out of memory");
	ret = answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4", m, n);
	free(m);
	return ret;
}

static enum MHD_Result snapshot_latest(struct em_server *s,
                                       struct MHD_Connection *c)
{
	char *j = em_sidecar_snapshot_latest(s->sc);
	enum MHD_Result ret;

	if (j == NULL)
		return json_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "out of memory");
	ret = answer(c, MHD_HTTP_OK, "application/json", j, strlen(j));
	free(j);
	return ret;
}

static enum MHD_Result snapshot_full(struct em_server *s,
                                     struct MHD_Connection *c)
{
	static const char accepted[] = "{\"accepted\":true}";

	switch (em_sidecar_snapshot_now(s->sc)) {
	case EM_BACKUP_ACCEPTED:
		return answer(c, MHD_HTTP_ACCEPTED, "application/json",
		              accepted, sizeof(accepted) - 1);
	case EM_BACKUP_BUSY:
		return json_error(c, MHD_HTTP_CONFLICT, "a snapshot is under "
		                  "way");
	default:
		return json_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no "
		                  "backup.store is configured");
	}
}

/* Constant time, so that the token cannot be guessed byte by byte. */
static bool token_ok(const struct em_server *s, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                            "Authorization");
	size_t n, m;
	unsigned char diff = 0;

	if (s->token == NULL)
		return true;
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	n = strlen(h);
	m = strlen(s->token);
	for (size_t i = 0; i < m; i++)
		diff |= (unsigned char)(s->token[i] ^ (i < n ? h[i] : 0));
	return diff == 0 && n == m;
}

static enum MHD_Result route(struct em_server *s, struct MHD_Connection *c,
                             const char *url, const char *method)
{
	bool get = is(method, "GET") || is(method, "HEAD");

	/* Probes stay open: the kubelet may not send the token. */
	if (is(url, "/healthz"))
		return get ? healthz(s, c) : method_not_allowed(c, "GET");
	if (is(url, "/readyz"))
		return get ? readyz(s, c) : method_not_allowed(c, "GET");
	if (!token_ok(s, c))
		return json_error(c, MHD_HTTP_UNAUTHORIZED, "a bearer token is "
		                  "required");
	if (is(url, "/initialization/start"))
		return init_start(s, c, method);
	if (is(url, "/initialization/status"))
		return get ? init_status(s, c) : method_not_allowed(c, "GET");
	if (is(url, "/config"))
		return get ? config(s, c) : method_not_allowed(c, "GET");
	if (is(url, "/metrics"))
		return get ? metrics(c) : method_not_allowed(c, "GET");
	if (is(url, "/snapshot/latest"))
		return get ? snapshot_latest(s, c) : method_not_allowed(c, "GET");
	if (is(url, "/snapshot/full"))
		return is(method, "POST") ? snapshot_full(s, c)
		                          : method_not_allowed(c, "POST");
	return json_error(c, MHD_HTTP_NOT_FOUND, "no such path");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct em_server *s = cls;

	(void)version;
	(void)upload;
	/* The first call only announces the request; answering then would
	 * race a body still arriving.  A body is never needed: say so. */
	if (*con_cls == NULL) {
		*con_cls = s;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0;
		return json_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "no request "
		                  "body is accepted");
	}
	return route(s, c, url, method);
}

/*
 * No percent-decoding of the path or the arguments: none of ours needs it,
 * and a decoded %00 would end the C string early, so that "/config%00"
 * would look like "/config".  Left as it is, an escaped path is a 404.
 */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* ---- start and stop ----------------------------------------------------- */

/* Parses "host:port" ("[v6]:port" too) into a socket address. */
static enum em_status resolve(const char *listen, struct sockaddr_storage *ss,
                              socklen_t *len, bool *loopback,
                              struct em_error *err)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints, *ai = NULL;
	int rc;

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
		return em_error_set(err, EM_EUSAGE, "listen address %s is not "
		                    "host:port", listen);
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0)
		return em_error_set(err, EM_EUSAGE, "listen address %s: %s",
		                    listen, gai_strerror(rc));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	if (ss->ss_family == AF_INET)
		*loopback = (ntohl(((struct sockaddr_in *)ss)->sin_addr.s_addr)
		             >> 24) == 127;
	else
		*loopback = IN6_IS_ADDR_LOOPBACK(
			&((struct sockaddr_in6 *)ss)->sin6_addr);
	freeaddrinfo(ai);
	return EM_OK;
}

static enum em_status load_secrets(const struct em_config *cfg,
                                   struct em_server *s, bool loopback,
                                   struct em_error *err)
{
	const struct em_server_config *sv = &cfg->server;

	if (sv->token_file && (s->token = em_config_read_secret(sv->token_file,
	                                               SECRET_MAX, err)) == NULL)
		return err->status;
	if (s->token && s->token[0] == '\0')
		return em_error_set(err, EM_EUSAGE, "%s is empty",
		                    sv->token_file);
	if (sv->cert_file) {
		s->tls_cert = em_config_read_secret(sv->cert_file, SECRET_MAX,
		                                     err);
		if (s->tls_cert == NULL)
			return err->status;
		s->tls_key = em_config_read_secret(sv->key_file, SECRET_MAX,
		                                    err);
		if (s->tls_key == NULL)
			return err->status;
	}
	if (!loopback && s->token == NULL && s->tls_cert == NULL)
		return em_error_set(err, EM_EUSAGE, "refusing to listen on %s "
		                    "without server.token-file or "
		                    "server.cert-file: the launcher's API must "
		                    "not be open to the network", cfg->listen);
	return EM_OK;
}

static void free_server(struct em_server *s)
{
	if (s->token)
		explicit_bzero(s->token, strlen(s->token));
	if (s->tls_key)
		explicit_bzero(s->tls_key, strlen(s->tls_key));
	free(s->token);
	free(s->tls_cert);
	free(s->tls_key);
	free(s);
}

enum em_status em_server_start(const struct em_config *cfg,
                               struct em_sidecar *sc, struct em_server **out,
                               struct em_error *err)
{
	const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:8080";
	struct sockaddr_storage ss;
	struct em_server *s;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	socklen_t len;
	bool loopback = false;
	enum em_status st;

	*out = NULL;
	st = resolve(listen, &ss, &len, &loopback, err);
	if (st != EM_OK)
		return st;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	s->sc = sc;
	st = load_secrets(cfg, s, loopback, err);
	if (st != EM_OK) {
		free_server(s);
		return st;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (s->tls_cert)
		flags |= MHD_USE_TLS;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
		MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
		s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
		s->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key,
		MHD_OPTION_END);
	if (s->d == NULL) {
		free_server(s);
		return em_error_set(err, EM_EIO, "cannot listen on %s (in use? "
		                    "TLS files valid?)", listen);
	}
	em_log(EM_LOG_INFO, "serving", "listen", listen, "tls",
	       s->tls_cert ? "yes" : "no", "token", s->token ? "yes" : "no",
	       NULL);
	*out = s;
	return EM_OK;
}

void em_server_stop(struct em_server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->d);
	free_server(s);
}
