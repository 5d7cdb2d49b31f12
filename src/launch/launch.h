/*
 * launch.h - the parts of etcd-medic-launch that launch.c shares with its
 * HTTP client (http.c) and signal handling (sig.c).
 *
 * etcd-medic-launch links nothing beyond libc (it runs in the etcd image,
 * which has no shell and no libraries), so these are hand-written and
 * small.  Signals: the launcher keeps SIGTERM, SIGINT, SIGHUP, SIGQUIT and
 * SIGCHLD blocked at all times except inside lx_wait(), which waits with
 * ppoll() and the original mask.  A handler therefore only ever runs
 * inside lx_wait(); it sets a bit in a volatile sig_atomic_t, the only
 * global that changes after start, and the code outside lx_wait() reads and
 * clears that bit without a race.
 */
#ifndef ETCD_MEDIC_LAUNCH_H
#define ETCD_MEDIC_LAUNCH_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* --- sig.c ------------------------------------------------------------ */

/* Blocks the five signals, installs their handlers, remembers the mask the
 * process started with.  -1 with errno on failure. */
int lx_sig_setup(void);

/* The mask the process started with, less the five: lx_wait() waits with
 * it, and the child gets it before it execs etcd. */
const sigset_t *lx_sig_startmask(void);

/* The signals of mask (a bit set: 1u << signo) received and not yet
 * taken; they are cleared.  lx_sig_peek() returns all, clearing none. */
unsigned lx_sig_take(unsigned mask);
unsigned lx_sig_peek(void);

/* Bits of the four signals that stop the launcher or are forwarded. */
#define LX_SIG_STOP ((1u << SIGTERM) | (1u << SIGINT) | (1u << SIGHUP) | \
                     (1u << SIGQUIT))

/* ppoll(fds, n) for at most timeout_ms (-1: no limit) with the start mask,
 * so that a signal interrupts it: as ppoll(), -1 and errno EINTR when a
 * signal came. */
int lx_wait(struct pollfd *fds, nfds_t n, int64_t timeout_ms);

/* Monotonic clock in milliseconds. */
int64_t lx_now_ms(void);

/* --- http.c ----------------------------------------------------------- */

/* Largest response body accepted; a longer one is an error. */
#define LH_MAX_BODY (1024 * 1024)
#define LH_MAX_HEAD (16 * 1024)
#define LH_ERRLEN 256

/* Where the sidecar is: http://ADDRESS[:PORT][/], ADDRESS an IPv4 literal,
 * a bracketed IPv6 literal or "localhost" (no DNS: a static binary without
 * NSS cannot do it reliably). */
struct lh_target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[128];        /* Host header value */
};

int lh_parse_url(const char *url, struct lh_target *t, char *err,
                 size_t errlen);

struct lh_response {
	int status;            /* 200..599 */
	char *body;            /* NUL-terminated (the body may hold NULs) */
	size_t len;
};

enum {
	LH_OK = 0,
	LH_ERR = -1,           /* no (valid) answer: message in err */
	LH_STOPPED = -2,       /* a signal in LX_SIG_STOP came meanwhile */
};

/* One request (method GET or POST, without a body), Connection: close,
 * within timeout_ms all told (the connection attempt within at most
 * connect_ms of it).  auth: a bearer token or NULL; accept: the Accept
 * header's value or NULL.  On LH_OK, free r with lh_response_free(). */
int lh_request(const struct lh_target *t, const char *method,
               const char *path, const char *accept, const char *auth,
               int64_t connect_ms, int64_t timeout_ms,
               struct lh_response *r, char *err, size_t errlen);
void lh_response_free(struct lh_response *r);

/* The response parser, exposed for its tests: feed it the bytes as they
 * come, then call lh_parser_eof() if the peer closed first. */
enum lh_pstate {
	LH_P_HEAD, LH_P_BODY_LEN, LH_P_BODY_CLOSE, LH_P_CHUNK_SIZE,
	LH_P_CHUNK_DATA, LH_P_CHUNK_END, LH_P_TRAILER, LH_P_DONE, LH_P_ERROR,
};

struct lh_parser {
	enum lh_pstate state;
	int status;
	char head[LH_MAX_HEAD];
	size_t headlen;
	char line[1024];       /* a chunk-size or trailer line */
	size_t linelen;
	size_t trailer_bytes;
	uint64_t remaining;    /* of the body or of the current chunk */
	char *body;
	size_t bodylen, bodycap;
	const char *error;     /* static text once state is LH_P_ERROR */
};

void lh_parser_init(struct lh_parser *p);
/* 1: the message is complete (bytes after it are ignored), 0: more
 * needed, -1: malformed (p->error says why). */
int lh_parser_feed(struct lh_parser *p, const char *data, size_t n);
/* The peer closed: 1 complete, -1 cut short. */
int lh_parser_eof(struct lh_parser *p);
/* Frees the body unless it was taken (set p->body to NULL to take it). */
void lh_parser_free(struct lh_parser *p);

#endif
