/*
 * test_http.c - the launcher's HTTP client (src/launch/http.c): the
 * response parser on valid and malformed answers, fed whole and byte by
 * byte, a bounded random mutation run (every outcome an answer or an
 * error, never a crash: run under the sanitizers in CI), the URL parser,
 * and whole requests against canned answers on a loopback socket
 * (timeouts, refusals, an answer cut short).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"

/* Feeds s whole (or byte by byte), then EOF if asked: the final answer
 * (1 complete, 0 incomplete, -1 error); the parser stays for checks. */
static int feed(struct lh_parser *p, const char *s, size_t n, bool bytewise,
                bool eof)
{
	int rc = 0;

	lh_parser_init(p);
	if (bytewise) {
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = lh_parser_feed(p, s + i, 1);
	} else {
		rc = lh_parser_feed(p, s, n);
	}
	if (rc == 0 && eof)
		rc = lh_parser_eof(p);
	return rc;
}

/* Both ways must agree; returns that answer. */
static int parse(const char *s, bool eof, struct lh_parser *p)
{
	size_t n = strlen(s);
	char *body;
	size_t blen;
	int a, b;

	lh_parser_free(p);      /* what the previous parse left */
	a = feed(p, s, n, true, eof);
	body = p->body != NULL ? strdup(p->body) : NULL;
	blen = p->bodylen;
	lh_parser_free(p);
	b = feed(p, s, n, false, eof);
	ck_assert_int_eq(a, b);
	if (b == 1) {
		ck_assert_uint_eq(blen, p->bodylen);
		ck_assert_mem_eq(body, p->body, blen);
	}
	free(body);
	return b;
}

static struct lh_parser *P;

static void setup(void)
{
	P = malloc(sizeof(*P));
	ck_assert_ptr_nonnull(P);
	lh_parser_init(P);
}

static void teardown(void)
{
	lh_parser_free(P);
	free(P);
}

START_TEST(content_length)
{
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	                       "Content-Length: 8\r\n\r\nProgress", false, P), 1);
	ck_assert_int_eq(P->status, 200);
	ck_assert_str_eq(P->body, "Progress");
	/* Bytes after the message are not read. */
	ck_assert_int_eq(parse("HTTP/1.0 503 Service Unavailable\r\n"
	                       "content-length:  2 \r\n\r\n{}garbage", false,
	                       P), 1);
	ck_assert_int_eq(P->status, 503);
	ck_assert_str_eq(P->body, "{}");
	/* Equal duplicates are one length. */
	ck_assert_int_eq(parse("HTTP/1.1 200 \r\nContent-Length: 1\r\n"
	                       "Content-Length: 1\r\n\r\nx", false, P), 1);
	/* No reason phrase at all. */
	ck_assert_int_eq(parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	                       false, P), 1);
	ck_assert_str_eq(P->body, "");
}
END_TEST

START_TEST(chunked)
{
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked"
	                       "\r\n\r\n3\r\nSuc\r\n7;ext=1\r\ncessful\r\n"
	                       "0\r\nX-Trailer: yes\r\n\r\n", false, P), 1);
	ck_assert_str_eq(P->body, "Successful");
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
	                       "\r\n\r\nA \r\n0123456789\r\n0\r\n\r\n", false,
	                       P), 1);
	ck_assert_str_eq(P->body, "0123456789");
}
END_TEST

START_TEST(close_delimited_and_empty)
{
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\n\r\nNew\n", false, P), 0);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\n\r\nNew\n", true, P), 1);
	ck_assert_str_eq(P->body, "New\n");
	ck_assert_int_eq(parse("HTTP/1.1 204 No Content\r\n\r\n", false, P), 1);
	ck_assert_uint_eq(P->bodylen, 0);
	ck_assert_ptr_nonnull(P->body);
}
END_TEST

static const char *const malformed[] = {
	"",                                           /* nothing at all */
	"\r\n\r\n",
	"HTTP/1.1 200OK\r\n\r\n",
	"HTTP/2 200 OK\r\n\r\n",
	"HTTP/1.2 200 OK\r\n\r\n",
	"http/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 20 OK\r\n\r\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/1.1 600 Nope\r\n\r\n",
	"HTTP/1.1 099 Nope\r\n\r\n",
	" HTTP/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\n\n",                        /* bare LF */
	"HTTP/1.1 200 OK\r\nA: b\n\r\n",
	"HTTP/1.1 200 OK\rX\r\n\r\n",                 /* bare CR */
	"HTTP/1.1 200 O\x01K\r\n\r\n",                /* control char */
	"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
	"HTTP/1.1 200 OK\r\nName : v\r\n\r\n",        /* space before ':' */
	"HTTP/1.1 200 OK\r\n: v\r\n\r\n",
	"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", /* obs-fold */
	"HTTP/1.1 200 OK\r\nA: b\x7f\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
	"HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5"
	"\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\r",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	"ffffffffffffffffffff\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\n\r\n",
};

START_TEST(malformed_answers)
{
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		int rc = parse(malformed[i], true, P);

		if (rc != -1)
			ck_abort_msg("case %zu accepted: %s", i, malformed[i]);
		ck_assert_ptr_nonnull(P->error);
		lh_parser_free(P);
	}
}
END_TEST

START_TEST(nul_in_head)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nA: \0b\r\n\r\n";

	lh_parser_init(P);
	ck_assert_int_eq(lh_parser_feed(P, s, sizeof(s) - 1), -1);
}
END_TEST

START_TEST(cut_short)
{
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Len", true, P), -1);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
	                       true, P), -1);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
	                       "\r\n\r\n5\r\nab", true, P), -1);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
	                       "\r\n\r\n0\r\n", true, P), -1);
}
END_TEST

START_TEST(limits)
{
	size_t big = LH_MAX_BODY + 1, head = 64;
	char *s = malloc(head + big + 1);
	int n;

	/* A head just too long. */
	memset(s, 'a', LH_MAX_HEAD + 10);
	memcpy(s, "HTTP/1.1 200 OK\r\nX: ", 20);
	lh_parser_init(P);
	ck_assert_int_eq(lh_parser_feed(P, s, LH_MAX_HEAD + 10), -1);
	lh_parser_free(P);

	/* Exactly 1 MiB is fine; one byte more is not (close-delimited,
	 * chunked in 64 KiB pieces). */
	n = snprintf(s, head, "HTTP/1.1 200 OK\r\n\r\n");
	memset(s + n, 'y', big);
	lh_parser_init(P);
	ck_assert_int_eq(lh_parser_feed(P, s, (size_t)n + big - 1), 0);
	ck_assert_int_eq(lh_parser_eof(P), 1);
	ck_assert_uint_eq(P->bodylen, LH_MAX_BODY);
	lh_parser_free(P);
	lh_parser_init(P);
	ck_assert_int_eq(lh_parser_feed(P, s, (size_t)n + big), -1);
	lh_parser_free(P);

	lh_parser_init(P);
	{
		static const char h[] = "HTTP/1.1 200 OK\r\n"
		                        "Transfer-Encoding: chunked\r\n\r\n";

		ck_assert_int_eq(lh_parser_feed(P, h, sizeof(h) - 1), 0);
	}
	for (int i = 0; i < 17; i++) {
		char hdr[16];
		int rc;

		n = snprintf(hdr, sizeof(hdr), "10000\r\n");
		rc = lh_parser_feed(P, hdr, (size_t)n);
		if (rc == 0)
			rc = lh_parser_feed(P, s + 30, 0x10000);
		if (rc == 0)
			rc = lh_parser_feed(P, "\r\n", 2);
		ck_assert_int_eq(rc, i < 16 ? 0 : -1);
	}
	free(s);
}
END_TEST

/* Random mutations of valid answers, fed in random pieces: whatever
 * comes, an answer or an error, within the bounds. */
START_TEST(mutations)
{
	static const char *const seeds[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nSuccessful",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3;a=b\r\nNew\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 503 x\r\nContent-Type: application/json\r\n\r\n"
		"{\"error\":\"no config\"}",
	};
	unsigned seed = 12345;
	char buf[512];

	for (int iter = 0; iter < 200000; iter++) {
		const char *base = seeds[iter % 3];
		size_t n = strlen(base), off = 0;
		int rc = 0, muts;

		memcpy(buf, base, n);
		muts = 1 + (int)(rand_r(&seed) % 4);
		for (int m = 0; m < muts; m++) {
			size_t at = (size_t)rand_r(&seed) % n;

			switch (rand_r(&seed) % 4) {
			case 0:
				buf[at] = (char)rand_r(&seed);
				break;
			case 1:
				buf[at] = "\r\n:; 0f9"[rand_r(&seed) % 8];
				break;
			case 2:
				if (n > 1) {
					memmove(buf + at, buf + at + 1,
					        n - at - 1);
					n--;
				}
				break;
			default:
				if (n < sizeof(buf) - 1) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = "\r\n\t 1a"[rand_r(&seed) % 6];
					n++;
				}
			}
		}
		lh_parser_init(P);
		while (off < n && rc == 0) {
			size_t take = 1 + (size_t)rand_r(&seed) % 16;

			if (take > n - off)
				take = n - off;
			rc = lh_parser_feed(P, buf + off, take);
			off += take;
		}
		if (rc == 0)
			rc = lh_parser_eof(P);
		ck_assert(rc == 1 || rc == -1);
		if (rc == 1) {
			ck_assert(P->status >= 200 && P->status <= 599);
			ck_assert_ptr_nonnull(P->body);
			ck_assert_uint_le(P->bodylen, n);
		} else {
			ck_assert_ptr_nonnull(P->error);
		}
		lh_parser_free(P);
	}
}
END_TEST

START_TEST(urls)
{
	static const char *const good[] = {
		"http://127.0.0.1:8080", "http://127.0.0.1:8080/",
		"http://localhost:1", "HTTP://10.0.0.1", "http://[::1]:8080",
		"http://[::1]",
	};
	static const char *const bad[] = {
		"https://127.0.0.1:8080", "127.0.0.1:8080", "http://",
		"http://:8080", "http://127.0.0.1:", "http://127.0.0.1:0",
		"http://127.0.0.1:65536", "http://127.0.0.1:123456",
		"http://127.0.0.1:80x", "http://127.0.0.1:8080/x",
		"http://sidecar:8080", "http://1.2.3:80", "http://[::1:80",
		"http://[zz]:80", "http://127.0.0.1:8080?x",
	};
	struct lh_target t;
	char err[LH_ERRLEN];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(lh_parse_url(good[i], &t, err, sizeof(err)) == 0,
		              "%s: %s", good[i], err);
	ck_assert_int_eq(lh_parse_url("http://127.0.0.1:8080/", &t, err,
	                              sizeof(err)), 0);
	ck_assert_str_eq(t.host, "127.0.0.1:8080");
	ck_assert_int_eq(ntohs(((struct sockaddr_in *)&t.addr)->sin_port),
	                 8080);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lh_parse_url(bad[i], &t, err, sizeof(err)) < 0,
		              "%s accepted", bad[i]);
}
END_TEST

/* --- whole requests against a canned server ------------------------------ */

/* A server on a loopback port that, for one connection, reads the request
 * head, then sends answer in pieces of `piece` bytes (0: all at once),
 * then stays silent for `linger_ms` before closing.  Its pid in *pid. */
static int canned(const char *answer, size_t piece, int linger_ms,
                  pid_t *pid, int *reqfd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), pfd[2];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
	ck_assert_int_eq(pipe(pfd), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		char req[4096];
		size_t got = 0, len = strlen(answer);
		int c = accept(ls, NULL, NULL);

		close(pfd[0]);
		signal(SIGPIPE, SIG_IGN);  /* the caller may not read the pipe */
		while (c >= 0 && got < sizeof(req) - 1) {
			ssize_t r = read(c, req + got, sizeof(req) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		if (write(pfd[1], req, got) < 0) {
			/* nobody reads it: fine */
		}
		close(pfd[1]);
		for (size_t off = 0; c >= 0 && off < len;) {
			size_t n = piece == 0 || piece > len - off ? len - off
			                                           : piece;
			if (write(c, answer + off, n) < 0)
				break;
			off += n;
			if (piece)
				usleep(2000);
		}
		usleep((useconds_t)linger_ms * 1000);
		_exit(0);
	}
	close(ls);
	close(pfd[1]);
	/* The request as the server read it, for the caller to read after
	 * the request is done. */
	if (reqfd != NULL)
		*reqfd = pfd[0];
	else
		close(pfd[0]);
	return ntohs(a.sin_port);
}

static void reap_server(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void target_for(int port, struct lh_target *t)
{
	char url[64], err[LH_ERRLEN];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	ck_assert_int_eq(lh_parse_url(url, t, err, sizeof(err)), 0);
}

START_TEST(request_ok)
{
	struct lh_target t;
	struct lh_response r;
	char err[LH_ERRLEN], req[4096];
	pid_t pid;
	int rfd;
	int port = canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                  "5\r\nSucce\r\n5\r\nssful\r\n0\r\n\r\n", 3, 5000, &pid,
	                  &rfd);
	ssize_t n;

	target_for(port, &t);
	/* The server lingers: the client must stop at the message's end. */
	ck_assert_int_eq(lh_request(&t, "POST", "/initialization/start?mode=full",
	                            "text/plain", "s3cret", 1000, 3000, &r, err,
	                            sizeof(err)), LH_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "Successful");
	lh_response_free(&r);
	n = read(rfd, req, sizeof(req) - 1);
	ck_assert_int_gt(n, 0);
	req[n] = '\0';
	ck_assert_ptr_nonnull(strstr(req, "POST /initialization/start?mode=full "
	                             "HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(req, "\r\nHost: 127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(req, "\r\nConnection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(req, "\r\nAuthorization: Bearer s3cret\r\n"));
	ck_assert_ptr_nonnull(strstr(req, "\r\nContent-Length: 0\r\n"));
	close(rfd);
	reap_server(pid);
}
END_TEST

START_TEST(request_timeout)
{
	struct lh_target t;
	struct lh_response r;
	char err[LH_ERRLEN];
	pid_t pid;
	int port = canned("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nSucc",
	                  0, 5000, &pid, NULL);
	int64_t t0 = lx_now_ms();

	target_for(port, &t);
	ck_assert_int_eq(lh_request(&t, "GET", "/initialization/status", NULL,
	                            NULL, 1000, 300, &r, err, sizeof(err)),
	                 LH_ERR);
	ck_assert_msg(strstr(err, "timed out") != NULL, "%s", err);
	ck_assert_int_lt(lx_now_ms() - t0, 2000);
	reap_server(pid);
}
END_TEST

START_TEST(request_cut_short_and_refused)
{
	struct lh_target t;
	struct lh_response r;
	char err[LH_ERRLEN];
	pid_t pid;
	int port = canned("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nSucc",
	                  0, 0, &pid, NULL);

	target_for(port, &t);
	ck_assert_int_eq(lh_request(&t, "GET", "/config", NULL, NULL, 1000,
	                            3000, &r, err, sizeof(err)), LH_ERR);
	ck_assert_msg(strstr(err, "before the end of the body") != NULL, "%s", err);
	reap_server(pid);

	port = canned("garbage\r\n\r\n", 0, 0, &pid, NULL);
	target_for(port, &t);
	ck_assert_int_eq(lh_request(&t, "GET", "/config", NULL, NULL, 1000,
	                            3000, &r, err, sizeof(err)), LH_ERR);
	ck_assert_ptr_nonnull(strstr(err, "malformed status line"));
	reap_server(pid);

	/* The port is closed now. */
	ck_assert_int_eq(lh_request(&t, "GET", "/config", NULL, NULL, 1000,
	                            3000, &r, err, sizeof(err)), LH_ERR);
	ck_assert_ptr_nonnull(strstr(err, "refused"));
	/* Nothing that could split the request is sent. */
	ck_assert_int_eq(lh_request(&t, "GET", "/x\r\nEvil: 1", NULL, NULL,
	                            1000, 3000, &r, err, sizeof(err)), LH_ERR);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("launch-http");
	TCase *tc = tcase_create("parser");
	TCase *io = tcase_create("requests");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, content_length);
	tcase_add_test(tc, chunked);
	tcase_add_test(tc, close_delimited_and_empty);
	tcase_add_test(tc, malformed_answers);
	tcase_add_test(tc, nul_in_head);
	tcase_add_test(tc, cut_short);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, mutations);
	tcase_add_test(tc, urls);
	suite_add_tcase(s, tc);
	tcase_set_timeout(io, 30);
	tcase_add_test(io, request_ok);
	tcase_add_test(io, request_timeout);
	tcase_add_test(io, request_cut_short_and_refused);
	suite_add_tcase(s, io);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
