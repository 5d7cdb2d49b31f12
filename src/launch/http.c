/*
 * http.c - the HTTP/1.1 client of etcd-medic-launch: one request per
 * connection (Connection: close) to the sidecar, by address only (no DNS),
 * plain HTTP (the sidecar listens on the pod's loopback).
 *
 * It is strict and bounded: the status line and header fields are checked
 * character by character (CRLF line ends, no obsolete line folding), the
 * head is at most 16 KiB, the body at most 1 MiB, framed by Content-Length,
 * chunked transfer coding or the end of the connection; a 1xx answer, two
 * different lengths, a length together with chunked coding, any other
 * transfer coding are errors.  Connecting, sending and reading wait with
 * ppoll() (lx_wait) against a deadline, and give up at once when a
 * stopping signal comes.  Whatever the peer sends ends in an error message,
 * never in a crash: the parser is fed byte ranges and keeps its own state,
 * so it needs neither the whole answer nor a NUL terminator.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "launch.h"

__attribute__((format(printf, 3, 4)))
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- URL --------------------------------------------------------------- */

int lh_parse_url(const char *url, struct lh_target *t, char *err,
                 size_t errlen)
{
	const char *p, *hs, *he, *authority;
	char host[64];
	unsigned long port = 80;
	bool v6 = false;

	memset(t, 0, sizeof(*t));
	if (strncasecmp(url, "https://", 8) == 0) {
		seterr(err, errlen, "%s: https is not supported (the sidecar "
		       "is reached on the pod's loopback)", url);
		return -1;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		seterr(err, errlen, "%s: not an http:// URL", url);
		return -1;
	}
	authority = p = url + 7;
	if (*p == '[') {
		hs = p + 1;
		he = strchr(hs, ']');
		if (he == NULL) {
			seterr(err, errlen, "%s: no ']' after the IPv6 "
			       "address", url);
			return -1;
		}
		p = he + 1;
		v6 = true;
	} else {
		hs = p;
		while (*p != '\0' && *p != ':' && *p != '/')
			p++;
		he = p;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host)) {
		seterr(err, errlen, "%s: no address, or too long", url);
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (*p == ':') {
		const char *ds = ++p;

		port = 0;
		while (*p >= '0' && *p <= '9' && p - ds < 5)
			port = port * 10 + (unsigned long)(*p++ - '0');
		if (p == ds || (*p >= '0' && *p <= '9') || port == 0 ||
		    port > 65535) {
			seterr(err, errlen, "%s: bad port", url);
			return -1;
		}
	}
	if ((size_t)(p - authority) >= sizeof(t->host)) {
		seterr(err, errlen, "%s: address too long", url);
		return -1;
	}
	memcpy(t->host, authority, (size_t)(p - authority));
	t->host[p - authority] = '\0';
	if (*p == '/')
		p++;
	if (*p != '\0') {
		seterr(err, errlen, "%s: the URL must be http://ADDRESS[:PORT] "
		       "without a path", url);
		return -1;
	}

	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->addr;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			seterr(err, errlen, "%s: bad IPv6 address", url);
			return -1;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		t->addrlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;

		if (strcasecmp(host, "localhost") == 0) {
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		} else if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			seterr(err, errlen, "%s: '%s' is not an IP address (the "
			       "launcher looks up no names: use 127.0.0.1, "
			       "[::1] or localhost)", url, host);
			return -1;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		t->addrlen = sizeof(*a);
	}
	return 0;
}

/* --- response parser ----------------------------------------------------- */

void lh_parser_init(struct lh_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = LH_P_HEAD;
}

void lh_parser_free(struct lh_parser *p)
{
	free(p->body);
	p->body = NULL;
}

static int fail(struct lh_parser *p, const char *why)
{
	p->state = LH_P_ERROR;
	p->error = why;
	return -1;
}

static int body_add(struct lh_parser *p, const char *d, size_t n)
{
	if (n > LH_MAX_BODY - p->bodylen)
		return fail(p, "response body larger than 1 MiB");
	if (p->bodylen + n + 1 > p->bodycap) {
		size_t cap = p->bodycap != 0 ? p->bodycap : 4096;
		char *b;

		while (cap < p->bodylen + n + 1)
			cap *= 2;
		if (cap > LH_MAX_BODY + 1)
			cap = LH_MAX_BODY + 1;
		b = realloc(p->body, cap);
		if (b == NULL)
			return fail(p, "out of memory");
		p->body = b;
		p->bodycap = cap;
	}
	memcpy(p->body + p->bodylen, d, n);
	p->bodylen += n;
	p->body[p->bodylen] = '\0';
	return 0;
}

/* The message is complete; the body exists even when empty. */
static int done(struct lh_parser *p)
{
	if (body_add(p, "", 0) < 0)
		return -1;
	p->state = LH_P_DONE;
	return 1;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c != '\0' &&
	       strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Visible characters, space, tab and obs-text: what a reason phrase or a
 * field value may hold. */
static bool is_text(unsigned char c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

static bool all_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_text((unsigned char)s[i]))
			return false;
	return true;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static int parse_status_line(struct lh_parser *p, const char *s, size_t n)
{
	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
	    (s[7] != '0' && s[7] != '1') || s[8] != ' ' ||
	    s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' ||
	    s[11] < '0' || s[11] > '9' || (n > 12 && s[12] != ' ') ||
	    !all_text(s + 12, n - 12))
		return fail(p, "malformed status line");
	p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	return 0;
}

/* A header field "name: value" (no CRLF); the value without surrounding
 * blanks in *v, *vn.  0, or -1 if malformed. */
static int split_field(const char *s, size_t n, size_t *namelen,
                       const char **v, size_t *vn)
{
	size_t i = 0, e;

	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i == n || s[i] != ':')
		return -1;
	*namelen = i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	e = n;
	while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (!all_text(s + i, e - i))
		return -1;
	*v = s + i;
	*vn = e - i;
	return 0;
}

/* The head is complete in p->head (ending in an empty line): status,
 * framing, next state. */
static int parse_head(struct lh_parser *p)
{
	const char *s = p->head, *end = p->head + p->headlen - 2;
	const char *eol = memchr(s, '\r', (size_t)(end - s));
	bool have_cl = false, chunked = false;
	uint64_t cl = 0;

	if (parse_status_line(p, s, (size_t)(eol - s)) < 0)
		return -1;
	for (s = eol + 2; s < end; s = eol + 2) {
		const char *v;
		size_t namelen, vn;

		eol = memchr(s, '\r', (size_t)(end - s));
		if (split_field(s, (size_t)(eol - s), &namelen, &v, &vn) < 0)
			return fail(p, "malformed header field");
		if (name_is(s, namelen, "Content-Length")) {
			uint64_t x = 0;

			if (vn == 0)
				return fail(p, "empty Content-Length");
			for (size_t i = 0; i < vn; i++) {
				if (v[i] < '0' || v[i] > '9')
					return fail(p, "malformed Content-Length");
				x = x * 10 + (uint64_t)(v[i] - '0');
				if (x > LH_MAX_BODY)
					return fail(p, "response body larger "
					            "than 1 MiB");
			}
			if (have_cl && x != cl)
				return fail(p, "conflicting Content-Length");
			have_cl = true;
			cl = x;
		} else if (name_is(s, namelen, "Transfer-Encoding")) {
			if (chunked || !name_is(v, vn, "chunked"))
				return fail(p, "unsupported Transfer-Encoding");
			chunked = true;
		}
	}
	if (p->status < 200)
		return fail(p, "unexpected interim (1xx) response");
	if (chunked && have_cl)
		return fail(p, "both Content-Length and chunked coding");
	if (p->status == 204 || p->status == 304)
		return done(p);
	if (chunked) {
		p->state = LH_P_CHUNK_SIZE;
		p->linelen = 0;
	} else if (have_cl) {
		if (cl == 0)
			return done(p);
		p->remaining = cl;
		p->state = LH_P_BODY_LEN;
	} else {
		p->state = LH_P_BODY_CLOSE;
	}
	return 0;
}

/* Adds c to the current chunk-size or trailer line: 1 when the line is
 * complete (in p->line[0..linelen), without CRLF), 0 for more, -1. */
static int line_byte(struct lh_parser *p, char c)
{
	if (c == '\n') {
		if (p->linelen == 0 || p->line[p->linelen - 1] != '\r')
			return fail(p, "bare LF in the response");
		p->linelen--;
		return 1;
	}
	if (p->linelen > 0 && p->line[p->linelen - 1] == '\r')
		return fail(p, "bare CR in the response");
	if (p->linelen == sizeof(p->line))
		return fail(p, "chunk line too long");
	p->line[p->linelen++] = c;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int chunk_size_line(struct lh_parser *p)
{
	size_t k = 0, n = p->linelen;
	uint64_t v = 0;
	int h;

	while (k < n && (h = hexval(p->line[k])) >= 0) {
		v = v * 16 + (uint64_t)h;
		if (v > LH_MAX_BODY)
			return fail(p, "response body larger than 1 MiB");
		k++;
	}
	if (k == 0)
		return fail(p, "malformed chunk size");
	while (k < n && (p->line[k] == ' ' || p->line[k] == '\t'))
		k++;
	if ((k < n && p->line[k] != ';') || !all_text(p->line + k, n - k))
		return fail(p, "malformed chunk extension");
	p->linelen = 0;
	if (v == 0) {
		p->state = LH_P_TRAILER;
	} else {
		p->remaining = v;
		p->state = LH_P_CHUNK_DATA;
	}
	return 0;
}

static int trailer_line(struct lh_parser *p)
{
	size_t namelen, vn;
	const char *v;

	if (p->linelen == 0)
		return done(p);
	p->trailer_bytes += p->linelen;
	if (p->trailer_bytes > LH_MAX_HEAD)
		return fail(p, "trailer larger than 16 KiB");
	if (split_field(p->line, p->linelen, &namelen, &v, &vn) < 0)
		return fail(p, "malformed trailer field");
	p->linelen = 0;
	return 0;
}

static int head_byte(struct lh_parser *p, char c)
{
	char prev = p->headlen > 0 ? p->head[p->headlen - 1] : '\0';

	if (c == '\n' && prev != '\r')
		return fail(p, "bare LF in the response head");
	if (prev == '\r' && c != '\n')
		return fail(p, "bare CR in the response head");
	if (c != '\r' && c != '\n' && c != '\t' &&
	    ((unsigned char)c < ' ' || c == 0x7f))
		return fail(p, "control character in the response head");
	if (p->headlen == sizeof(p->head))
		return fail(p, "response head larger than 16 KiB");
	p->head[p->headlen++] = c;
	if (p->headlen >= 4 &&
	    memcmp(p->head + p->headlen - 4, "\r\n\r\n", 4) == 0)
		return parse_head(p);
	/* An empty line first is no status line. */
	if (p->headlen == 2 && c == '\n')
		return fail(p, "malformed status line");
	return 0;
}

int lh_parser_feed(struct lh_parser *p, const char *data, size_t n)
{
	size_t i = 0, take;
	int rc;

	while (i < n && p->state != LH_P_DONE && p->state != LH_P_ERROR) {
		switch (p->state) {
		case LH_P_HEAD:
			if (head_byte(p, data[i++]) < 0)
				return -1;
			break;
		case LH_P_BODY_LEN:
		case LH_P_CHUNK_DATA:
			take = n - i;
			if (take > p->remaining)
				take = (size_t)p->remaining;
			if (body_add(p, data + i, take) < 0)
				return -1;
			i += take;
			p->remaining -= take;
			if (p->remaining == 0) {
				if (p->state == LH_P_BODY_LEN)
					return done(p);
				p->state = LH_P_CHUNK_END;
				p->linelen = 0;
			}
			break;
		case LH_P_BODY_CLOSE:
			if (body_add(p, data + i, n - i) < 0)
				return -1;
			i = n;
			break;
		case LH_P_CHUNK_END:
			rc = line_byte(p, data[i++]);
			if (rc < 0)
				return -1;
			if (rc == 1) {
				if (p->linelen != 0)
					return fail(p, "no CRLF after a chunk");
				p->state = LH_P_CHUNK_SIZE;
			} else if (p->linelen > 1) {
				return fail(p, "no CRLF after a chunk");
			}
			break;
		case LH_P_CHUNK_SIZE:
		case LH_P_TRAILER:
			rc = line_byte(p, data[i++]);
			if (rc < 0)
				return -1;
			if (rc == 1 && (p->state == LH_P_CHUNK_SIZE
			                ? chunk_size_line(p)
			                : trailer_line(p)) < 0)
				return -1;
			break;
		case LH_P_DONE:
		case LH_P_ERROR:
			break;
		}
	}
	if (p->state == LH_P_DONE)
		return 1;
	return p->state == LH_P_ERROR ? -1 : 0;
}

int lh_parser_eof(struct lh_parser *p)
{
	switch (p->state) {
	case LH_P_DONE:
		return 1;
	case LH_P_ERROR:
		return -1;
	case LH_P_BODY_CLOSE:
		return done(p);
	case LH_P_HEAD:
		return fail(p, p->headlen == 0
		               ? "connection closed without an answer"
		               : "connection closed in the response head");
	default:
		return fail(p, "connection closed before the end of the body");
	}
}

/* --- the request ------------------------------------------------------- */

/* Waits until fd is ready for events or deadline passes: 1 ready, 0 time
 * is up, LH_STOPPED, or LH_ERR with errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left;
		int rc;

		if (lx_sig_peek() & LX_SIG_STOP)
			return LH_STOPPED;
		left = deadline - lx_now_ms();
		if (left <= 0)
			return 0;
		rc = lx_wait(&pfd, 1, left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return LH_ERR;
	}
}

static bool header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return false;
	return true;
}

static int do_connect(int fd, const struct lh_target *t, int64_t deadline,
                      char *err, size_t errlen)
{
	int rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0)
		return LH_OK;
	if (errno != EINPROGRESS) {
		seterr(err, errlen, "connect to %s: %s", t->host,
		       strerror(errno));
		return LH_ERR;
	}
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc == LH_STOPPED)
		return rc;
	if (rc == 0) {
		seterr(err, errlen, "connect to %s: timed out", t->host);
		return LH_ERR;
	}
	if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		soerr = errno;
	if (soerr != 0) {
		seterr(err, errlen, "connect to %s: %s", t->host,
		       strerror(soerr));
		return LH_ERR;
	}
	return LH_OK;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline,
                    const char *host, char *err, size_t errlen)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		int rc;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			seterr(err, errlen, "send to %s: %s", host,
			       strerror(errno));
			return LH_ERR;
		}
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc == LH_STOPPED)
			return rc;
		if (rc <= 0) {
			seterr(err, errlen, "send to %s: %s", host,
			       rc == 0 ? "timed out" : strerror(errno));
			return LH_ERR;
		}
	}
	return LH_OK;
}

static int receive(int fd, struct lh_parser *p, int64_t deadline,
                   const char *host, char *err, size_t errlen)
{
	char buf[16384];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		int rc;

		if (n > 0) {
			rc = lh_parser_feed(p, buf, (size_t)n);
		} else if (n == 0) {
			rc = lh_parser_eof(p);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK ||
		           errno == EINTR) {
			rc = wait_fd(fd, POLLIN, deadline);
			if (rc == LH_STOPPED)
				return rc;
			if (rc <= 0) {
				seterr(err, errlen, "answer from %s: %s", host,
				       rc == 0 ? "timed out" : strerror(errno));
				return LH_ERR;
			}
			continue;
		} else {
			seterr(err, errlen, "answer from %s: %s", host,
			       strerror(errno));
			return LH_ERR;
		}
		if (rc < 0) {
			seterr(err, errlen, "answer from %s: %s", host,
			       p->error);
			return LH_ERR;
		}
		if (rc == 1)
			return LH_OK;
	}
}

int lh_request(const struct lh_target *t, const char *method,
               const char *path, const char *accept, const char *auth,
               int64_t connect_ms, int64_t timeout_ms,
               struct lh_response *r, char *err, size_t errlen)
{
	int64_t start = lx_now_ms();
	int64_t deadline = start + timeout_ms;
	int64_t cdeadline = start + (connect_ms < timeout_ms ? connect_ms
	                                                     : timeout_ms);
	struct lh_parser *p;
	char req[2048];
	int n, fd, rc;

	memset(r, 0, sizeof(*r));
	if (!header_safe(method) || !header_safe(path) ||
	    (accept != NULL && !header_safe(accept)) ||
	    (auth != NULL && !header_safe(auth))) {
		seterr(err, errlen, "control character in the request");
		return LH_ERR;
	}
	n = snprintf(req, sizeof(req),
	             "%s %s HTTP/1.1\r\nHost: %s\r\n"
	             "User-Agent: etcd-medic-launch/%s\r\n"
	             "Connection: close\r\n%s%s%s%s%s%s%s\r\n",
	             method, path, t->host, EM_VERSION,
	             accept != NULL ? "Accept: " : "",
	             accept != NULL ? accept : "", accept != NULL ? "\r\n" : "",
	             auth != NULL ? "Authorization: Bearer " : "",
	             auth != NULL ? auth : "", auth != NULL ? "\r\n" : "",
	             strcmp(method, "POST") == 0 ? "Content-Length: 0\r\n"
	                                         : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		seterr(err, errlen, "request too long");
		return LH_ERR;
	}

	fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	            SOCK_CLOEXEC, 0);
	if (fd < 0) {
		seterr(err, errlen, "socket: %s", strerror(errno));
		return LH_ERR;
	}
	p = malloc(sizeof(*p));
	if (p == NULL) {
		close(fd);
		seterr(err, errlen, "out of memory");
		return LH_ERR;
	}
	lh_parser_init(p);
	rc = do_connect(fd, t, cdeadline, err, errlen);
	if (rc == LH_OK)
		rc = send_all(fd, req, (size_t)n, deadline, t->host, err,
		              errlen);
	if (rc == LH_OK)
		rc = receive(fd, p, deadline, t->host, err, errlen);
	close(fd);
	if (rc == LH_STOPPED)
		seterr(err, errlen, "interrupted by a signal");
	if (rc == LH_OK) {
		r->status = p->status;
		r->body = p->body;
		r->len = p->bodylen;
		p->body = NULL;
	}
	lh_parser_free(p);
	free(p);
	return rc;
}

void lh_response_free(struct lh_response *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}
