/*
 * launch.c - etcd-medic-launch, the entrypoint of the etcd container:
 *
 *   etcd-medic-launch [OPTIONS] -- etcd [ARGS...]
 *
 * Before etcd starts, it asks the sidecar (`etcd-medic serve`, on the
 * pod's loopback) to initialize the member: it waits until the sidecar
 * answers, starts initialization with mode=sanity when etcd's previous exit
 * was clean and mode=full otherwise (from a status file it keeps), polls
 * /initialization/status until Successful (starting again after Failed,
 * with a backoff up to 30 s), fetches /config into a file, and runs etcd as
 * its child with `--config-file FILE` appended.  It forwards SIGTERM,
 * SIGINT, SIGHUP and SIGQUIT to etcd, reaps it and every other child that
 * is reparented to it (it is PID 1 of the container, and a child subreaper
 * elsewhere), records how etcd
 * ended in the status file and exits with etcd's status (128+N when a
 * signal N killed it).
 *
 * It is a static binary that needs nothing but the kernel: the official
 * etcd image has no shell and no libraries.  Hence the small hand-written
 * HTTP client (http.c) and the absence of DNS.  The only globals are those
 * of signal handling (sig.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"

#define PROG "etcd-medic-launch"
#define DEFAULT_SIDECAR "http://127.0.0.1:8080"
#define DEFAULT_STATUS_FILE "/var/lib/etcd/etcd-medic-launch.status"
#define DEFAULT_CONFIG_OUT "/var/lib/etcd/etcd-medic.etcd.yaml"
#define DEFAULT_HTTP_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 5000
#define POLL_MS 500                 /* while the sidecar says Progress */
#define DOWN_BACKOFF_MIN_MS 250     /* while the sidecar does not answer */
#define DOWN_BACKOFF_MAX_MS 5000
#define FAILED_BACKOFF_MIN_MS 1000  /* after Failed */
#define FAILED_BACKOFF_MAX_MS 30000
#define MAX_CONFIG (LH_MAX_BODY)

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* The environment variables, in the order of the options. */
static const char *const env_names[] = {
	"ETCD_MEDIC_SIDECAR", "ETCD_MEDIC_STATUS_FILE", "ETCD_MEDIC_CONFIG_OUT",
	"ETCD_MEDIC_WAIT_TIMEOUT", "ETCD_MEDIC_HTTP_TIMEOUT",
	"ETCD_MEDIC_TOKEN_FILE", "ETCD_MEDIC_LOG_FORMAT",
};
enum { O_SIDECAR, O_STATUS_FILE, O_CONFIG_OUT, O_WAIT_TIMEOUT,
       O_HTTP_TIMEOUT, O_TOKEN_FILE, O_LOG_FORMAT, O_COUNT };
static const char *const opt_names[O_COUNT] = {
	"--sidecar", "--status-file", "--config-out", "--wait-timeout",
	"--http-timeout", "--token-file", "--log-format",
};

struct launcher {
	const char *val[O_COUNT];   /* option values (argv or environment) */
	char **cmd;                 /* etcd and its arguments */
	int ncmd;
	bool log_text;
	int64_t wait_timeout_ms;    /* 0: no limit */
	int64_t http_timeout_ms;
	struct lh_target target;
	char *token;                /* bearer token, or NULL */
	pid_t child;                /* etcd, once started, until reaped */
	int child_status;           /* its wait status, once reaped */
	bool child_done;
};

/* --- logging -------------------------------------------------------------- */

enum level { L_INFO, L_WARN, L_ERROR };

static void json_escape(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		} else {
			out[o++] = c < 0x80 ? (char)c : '?';
		}
	}
	out[o] = '\0';
}

/* One line on stderr, JSON like the sidecar's (time, level, msg, logger)
 * or key=value text, written with a single write(2). */
__attribute__((format(printf, 3, 4)))
static void logmsg(const struct launcher *L, enum level lv, const char *fmt,
                   ...)
{
	static const char *const names[] = { "info", "warn", "error" };
	char msg[1024], esc[2048], stamp[40], line[2400];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ",
	         ts.tv_nsec / 1000000);
	json_escape(esc, sizeof(esc), msg);
	if (L != NULL && L->log_text)
		len = snprintf(line, sizeof(line), "time=%s level=%s msg=\"%s\" "
		               "logger=" PROG "\n", stamp, names[lv], esc);
	else
		len = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":"
		               "\"%s\",\"msg\":\"%s\",\"logger\":\"" PROG "\"}\n",
		               stamp, names[lv], esc);
	if (len > 0) {
		if ((size_t)len >= sizeof(line)) {
			len = (int)sizeof(line) - 1;
			line[len - 1] = '\n';
		}
		if (write(STDERR_FILENO, line, (size_t)len) < 0) {
			/* nowhere else to say it */
		}
	}
}

/* The first line of an answer's body, cut short, for a log line. */
static void excerpt(char *out, size_t size, const char *body, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < size && n < 200; i++) {
		if (body[i] == '\n' || body[i] == '\r')
			break;
		out[n++] = body[i] == '\0' ? ' ' : body[i];
	}
	out[n] = '\0';
}

/* --- options ---------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [OPTIONS] -- etcd [ARGS...]\n"
"       " PROG " --help | --version\n"
"\n"
"The etcd container's entrypoint.  Asks the etcd-medic sidecar to check\n"
"(and if needed heal) this member, fetches the etcd config the sidecar\n"
"renders, then runs etcd as its child with `--config-file FILE` appended,\n"
"forwards SIGTERM, SIGINT, SIGHUP and SIGQUIT to it, reaps every child,\n"
"records how etcd ended and exits with etcd's exit status (128+N when\n"
"signal N killed it).  etcd ignores its other flags and ETCD_* variables\n"
"when it is given --config-file: all of its settings belong in the etcd\n"
"config file the sidecar reads.\n"
"\n"
"Initialization uses mode=sanity when etcd's last exit was clean (exit\n"
"status 0, or killed by the SIGTERM or SIGINT the launcher forwarded), and\n"
"mode=full after anything else or when the status file says nothing.\n"
"\n"
"options (each also settable by the environment variable shown; an option\n"
"wins over its variable):\n"
"  --sidecar URL          ETCD_MEDIC_SIDECAR       default " DEFAULT_SIDECAR "\n"
"      the sidecar: http://ADDRESS[:PORT], ADDRESS an IPv4 address, [IPv6]\n"
"      or localhost (no DNS)\n"
"  --status-file PATH     ETCD_MEDIC_STATUS_FILE\n"
"      how etcd last ended (key=value lines, written atomically);\n"
"      default " DEFAULT_STATUS_FILE "\n"
"  --config-out PATH      ETCD_MEDIC_CONFIG_OUT\n"
"      where the etcd config from the sidecar is written (mode 0600);\n"
"      default " DEFAULT_CONFIG_OUT "\n"
"  --wait-timeout DUR     ETCD_MEDIC_WAIT_TIMEOUT  default 0 (no limit)\n"
"      give up (exit 1) when etcd could not be started within DUR: the\n"
"      sidecar not answering, initialization not successful, no config\n"
"  --http-timeout DUR     ETCD_MEDIC_HTTP_TIMEOUT  default 30s\n"
"      time limit of one request to the sidecar\n"
"  --token-file PATH      ETCD_MEDIC_TOKEN_FILE    default none\n"
"      bearer token for the sidecar (when it requires one)\n"
"  --log-format FORMAT    ETCD_MEDIC_LOG_FORMAT    default json\n"
"      log lines on stderr: json or text\n"
"  --help, --version\n"
"\n"
"DUR: 90 (seconds), 90s, 1m30s, 500ms, 2h.\n"
"\n"
"exit status: etcd's; 1 when etcd could not be started (wait timeout,\n"
"config not writable); 2 for bad usage; 128+N when signal N (SIGTERM,\n"
"SIGINT, SIGHUP, SIGQUIT) came before etcd started.\n");
}

/* "90", "90s", "1m30s", "500ms", "2h" into milliseconds; 0 allowed. */
static int parse_duration(const char *s, int64_t *out)
{
	const char *start = s;
	int64_t total = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		int64_t v = 0, unit;
		const char *d = s;

		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (*s++ - '0');
			if (v > 100000000)
				return -1;
		}
		if (s == d)
			return -1;
		if (strncmp(s, "ms", 2) == 0) {
			unit = 1;
			s += 2;
		} else if (*s == 'h' || *s == 'm' || *s == 's') {
			unit = *s == 'h' ? 3600000 : *s == 'm' ? 60000 : 1000;
			s++;
		} else if (*s == '\0' && d == start) {
			unit = 1000;  /* a bare number: seconds */
		} else {
			return -1;
		}
		total += v * unit;
		if (total > INT64_C(1) << 50)
			return -1;
	}
	*out = total;
	return 0;
}

/* Options, then the environment, then the defaults.  0 to go on, 1 after
 * --help or --version, -1 on bad usage (said on stderr). */
static int parse_options(struct launcher *L, int argc, char **argv)
{
	const char *from[O_COUNT] = { 0 };
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t nlen;
		int k;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 1;
		}
		if (strcmp(a, "--version") == 0) {
			printf(PROG " %s\n", EM_VERSION);
			return 1;
		}
		eq = strchr(a, '=');
		nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (k = 0; k < O_COUNT; k++)
			if (strlen(opt_names[k]) == nlen &&
			    strncmp(a, opt_names[k], nlen) == 0)
				break;
		if (k == O_COUNT) {
			fprintf(stderr, PROG ": unknown option '%s'\n", a);
			return -1;
		}
		if (eq != NULL) {
			L->val[k] = eq + 1;
		} else if (i + 1 < argc) {
			L->val[k] = argv[++i];
		} else {
			fprintf(stderr, PROG ": %s needs a value\n", a);
			return -1;
		}
		from[k] = opt_names[k];
	}
	L->cmd = argv + i;
	L->ncmd = argc - i;
	if (L->ncmd == 0) {
		fprintf(stderr, PROG ": no etcd command after '--' (see "
		        PROG " --help)\n");
		return -1;
	}

	for (int k = 0; k < O_COUNT; k++) {
		const char *e;

		if (L->val[k] != NULL)
			continue;
		e = getenv(env_names[k]);
		if (e != NULL && *e != '\0') {
			L->val[k] = e;
			from[k] = env_names[k];
		}
	}
	if (L->val[O_SIDECAR] == NULL)
		L->val[O_SIDECAR] = DEFAULT_SIDECAR;
	if (L->val[O_STATUS_FILE] == NULL)
		L->val[O_STATUS_FILE] = DEFAULT_STATUS_FILE;
	if (L->val[O_CONFIG_OUT] == NULL)
		L->val[O_CONFIG_OUT] = DEFAULT_CONFIG_OUT;

	if (L->val[O_LOG_FORMAT] != NULL) {
		if (strcmp(L->val[O_LOG_FORMAT], "text") == 0) {
			L->log_text = true;
		} else if (strcmp(L->val[O_LOG_FORMAT], "json") != 0) {
			fprintf(stderr, PROG ": %s: '%s' is neither json nor "
			        "text\n", from[O_LOG_FORMAT],
			        L->val[O_LOG_FORMAT]);
			return -1;
		}
	}
	L->wait_timeout_ms = 0;
	if (L->val[O_WAIT_TIMEOUT] != NULL &&
	    parse_duration(L->val[O_WAIT_TIMEOUT], &L->wait_timeout_ms) < 0) {
		fprintf(stderr, PROG ": %s: bad duration '%s'\n",
		        from[O_WAIT_TIMEOUT], L->val[O_WAIT_TIMEOUT]);
		return -1;
	}
	L->http_timeout_ms = DEFAULT_HTTP_TIMEOUT_MS;
	if (L->val[O_HTTP_TIMEOUT] != NULL &&
	    (parse_duration(L->val[O_HTTP_TIMEOUT], &L->http_timeout_ms) < 0 ||
	     L->http_timeout_ms == 0)) {
		fprintf(stderr, PROG ": %s: bad duration '%s'\n",
		        from[O_HTTP_TIMEOUT], L->val[O_HTTP_TIMEOUT]);
		return -1;
	}
	{
		char err[LH_ERRLEN];

		if (lh_parse_url(L->val[O_SIDECAR], &L->target, err,
		                 sizeof(err)) < 0) {
			fprintf(stderr, PROG ": %s: %s\n",
			        from[O_SIDECAR] != NULL ? from[O_SIDECAR]
			                                : "--sidecar", err);
			return -1;
		}
	}
	return 0;
}

/* The token file's content without one trailing newline; NULL (logged) if
 * unreadable, empty, larger than 4 KiB or holding control characters. */
static char *read_token(const struct launcher *L, const char *path)
{
	char buf[4097];
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		logmsg(L, L_ERROR, "token file %s: %s", path, strerror(errno));
		return NULL;
	}
	while (n < sizeof(buf) - 1 &&
	       (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			logmsg(L, L_ERROR, "token file %s: %s", path,
			       strerror(errno));
			close(fd);
			return NULL;
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			n = 0;
	if (n == 0 || n >= sizeof(buf) - 2) {
		logmsg(L, L_ERROR, "token file %s: empty, too long, or not "
		       "one token", path);
		return NULL;
	}
	return strdup(buf);
}

/* --- files -------------------------------------------------------------- */

/* Writes path atomically: a temp file beside it, fsync, rename, fsync of
 * the directory.  -1 with a message in err. */
static int write_atomic(const char *path, const char *data, size_t len,
                        mode_t mode, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	size_t off = 0;
	int fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	             (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* What the status file says about etcd's last exit. */
struct last_exit {
	bool known;
	bool clean;
	char state[16], exit_status[16], signal[16], time[40];
};

static void copy_value(char *dst, size_t size, const char *v, size_t n)
{
	size_t i = 0;

	for (; i < n && i + 1 < size; i++)
		dst[i] = (v[i] >= ' ' && v[i] < 0x7f) ? v[i] : '?';
	dst[i] = '\0';
}

static void read_status_file(const struct launcher *L, struct last_exit *le)
{
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	const char *path = L->val[O_STATUS_FILE];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(le, 0, sizeof(*le));
	if (fd < 0) {
		if (errno != ENOENT)
			logmsg(L, L_WARN, "status file %s: %s", path,
			       strerror(errno));
		return;
	}
	while (n < sizeof(buf) - 1 &&
	       (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			logmsg(L, L_WARN, "status file %s: %s", path,
			       strerror(errno));
			close(fd);
			return;
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	for (char *line = buf, *next; *line != '\0'; line = next) {
		char *eq, *end = strchr(line, '\n');
		size_t vn;

		next = end != NULL ? end + 1 : line + strlen(line);
		if (end == NULL)
			end = line + strlen(line);
		eq = memchr(line, '=', (size_t)(end - line));
		if (line[0] == '#' || eq == NULL)
			continue;
		vn = (size_t)(end - eq - 1);
#define KEY(k) ((size_t)(eq - line) == strlen(k) && \
                strncmp(line, k, strlen(k)) == 0)
		if (KEY("clean")) {
			le->clean = vn == 3 && strncmp(eq + 1, "yes", 3) == 0;
			le->known = le->clean ||
			            (vn == 2 && strncmp(eq + 1, "no", 2) == 0);
		} else if (KEY("state")) {
			copy_value(le->state, sizeof(le->state), eq + 1, vn);
		} else if (KEY("exit-status")) {
			copy_value(le->exit_status, sizeof(le->exit_status),
			           eq + 1, vn);
		} else if (KEY("signal")) {
			copy_value(le->signal, sizeof(le->signal), eq + 1, vn);
		} else if (KEY("time")) {
			copy_value(le->time, sizeof(le->time), eq + 1, vn);
		}
#undef KEY
	}
}

static const char *signame(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	case SIGKILL: return "SIGKILL";
	case SIGABRT: return "SIGABRT";
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGPIPE: return "SIGPIPE";
	case SIGUSR1: return "SIGUSR1";
	case SIGUSR2: return "SIGUSR2";
	default: return NULL;
	}
}

/* Records etcd's state: running (clean=no until it ends), or how it
 * ended.  On failure the old file is removed, so that it cannot claim a
 * clean exit that is no longer the last one. */
static void write_status_file(const struct launcher *L, bool running,
                              int exit_status, int sig, bool clean)
{
	const char *path = L->val[O_STATUS_FILE];
	char buf[512], stamp[40], sigbuf[16], err[PATH_MAX + 64];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (sig == 0)
		snprintf(sigbuf, sizeof(sigbuf), "none");
	else if (signame(sig) != NULL)
		snprintf(sigbuf, sizeof(sigbuf), "%s", signame(sig));
	else
		snprintf(sigbuf, sizeof(sigbuf), "%d", sig);
	if (running)
		n = snprintf(buf, sizeof(buf),
		             "# " PROG ": etcd is running, or the launcher "
		             "ended without seeing it exit\n"
		             "state=running\nexit-status=\nsignal=\n"
		             "time=%s\nclean=no\n", stamp);
	else
		n = snprintf(buf, sizeof(buf),
		             "# " PROG ": how etcd last ended\n"
		             "state=exited\nexit-status=%d\nsignal=%s\n"
		             "time=%s\nclean=%s\n", exit_status, sigbuf, stamp,
		             clean ? "yes" : "no");
	if (write_atomic(path, buf, (size_t)n, 0644, err, sizeof(err)) < 0) {
		logmsg(L, L_WARN, "cannot write the status file: %s", err);
		if (unlink(path) != 0 && errno != ENOENT)
			logmsg(L, L_ERROR, "cannot remove the stale status "
			       "file %s either: %s; the next start may choose "
			       "a sanity check wrongly", path, strerror(errno));
	}
}

/* --- children ---------------------------------------------------------- */

/* Reaps every child that has ended: etcd (remembered) and orphans that
 * were reparented to us. */
static void reap(struct launcher *L)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid <= 0)
			return;
		if (L->child > 0 && pid == L->child) {
			L->child_status = st;
			L->child_done = true;
		}
	}
}

/* Lowest-numbered stopping signal in bits, 0 if none. */
static int stop_signal(unsigned bits)
{
	static const int order[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (bits & (1u << order[i]))
			return order[i];
	return 0;
}

/* Sleeps ms (less if deadline, >0, comes first).  0, or the stopping
 * signal that came. */
static int pause_ms(struct launcher *L, int64_t ms, int64_t deadline)
{
	int64_t until = lx_now_ms() + ms;

	if (deadline > 0 && until > deadline)
		until = deadline;
	for (;;) {
		int64_t left;

		if (lx_sig_take(1u << SIGCHLD))
			reap(L);
		if (lx_sig_peek() & LX_SIG_STOP)
			return stop_signal(lx_sig_peek());
		left = until - lx_now_ms();
		if (left <= 0)
			return 0;
		lx_wait(NULL, 0, left);
	}
}

/* --- initialization ----------------------------------------------------- */

static int64_t backoff(unsigned attempt, int64_t min, int64_t max)
{
	int64_t d = min;

	while (attempt-- > 1 && d < max)
		d *= 2;
	return d < max ? d : max;
}

/* One request to the sidecar, its time limit cut to the deadline. */
static int ask(struct launcher *L, const char *method, const char *path,
               const char *accept, int64_t deadline, struct lh_response *r,
               char *err, size_t errlen)
{
	int64_t t = L->http_timeout_ms;

	if (deadline > 0 && deadline - lx_now_ms() < t)
		t = deadline - lx_now_ms() > 1 ? deadline - lx_now_ms() : 1;
	return lh_request(&L->target, method, path, accept, L->token,
	                  CONNECT_TIMEOUT_MS, t, r, err, errlen);
}

/* The string value of "key" in the sidecar's JSON status, roughly (for a
 * log line only): escapes are kept as they are.  "" if there is none. */
static void json_string_field(const char *body, const char *key, char *out,
                              size_t size)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(body, pat);
	if (p == NULL)
		return;
	p += strlen(pat);
	p += strspn(p, " \t\r\n");
	if (*p++ != ':')
		return;
	p += strspn(p, " \t\r\n");
	if (*p++ != '"')
		return;
	for (; *p != '\0' && *p != '"' && n + 1 < size; p++) {
		if (*p == '\\' && p[1] != '\0')
			out[n++] = *p++;
		if (n + 1 < size)
			out[n++] = *p;
	}
	out[n] = '\0';
}

/* Why the last run failed, from the JSON status (which, unlike the plain
 * text, does not consume the state). */
static void failure_reason(struct launcher *L, int64_t deadline, char *why,
                           size_t size)
{
	struct lh_response r;
	char err[LH_ERRLEN];

	why[0] = '\0';
	if (ask(L, "GET", "/initialization/status", "application/json",
	        deadline, &r, err, sizeof(err)) != LH_OK)
		return;
	if (r.status == 200)
		json_string_field(r.body, "error", why, size);
	lh_response_free(&r);
}

enum init_state { I_NEW, I_PROGRESS, I_SUCCESSFUL, I_FAILED, I_UNKNOWN };

static enum init_state parse_state(const struct lh_response *r)
{
	size_t n = r->len;

	while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r' ||
	                 r->body[n - 1] == ' '))
		n--;
#define IS(s) (n == strlen(s) && memcmp(r->body, s, n) == 0)
	if (IS("New"))
		return I_NEW;
	if (IS("Progress"))
		return I_PROGRESS;
	if (IS("Successful"))
		return I_SUCCESSFUL;
	if (IS("Failed"))
		return I_FAILED;
#undef IS
	return I_UNKNOWN;
}

/* Until the etcd config is written: 0, the exit status 128+N of a
 * stopping signal N, or EXIT_FAIL. */
static int initialize(struct launcher *L, const char *mode)
{
	int64_t deadline = L->wait_timeout_ms > 0
	                   ? lx_now_ms() + L->wait_timeout_ms : 0;
	unsigned down = 0, failed = 0, refused = 0;
	bool in_progress_logged = false;
	char path[64], err[LH_ERRLEN], ex[200], why[600];
	int sig = 0;

	snprintf(path, sizeof(path), "/initialization/start?mode=%s", mode);
	for (;;) {
		struct lh_response r;
		int64_t delay = 0;
		int rc;

		if (lx_sig_take(1u << SIGCHLD))
			reap(L);
		sig = stop_signal(lx_sig_peek());
		if (sig != 0)
			break;
		if (deadline > 0 && lx_now_ms() >= deadline) {
			logmsg(L, L_ERROR, "etcd not started after the wait "
			       "timeout (%s); giving up",
			       L->val[O_WAIT_TIMEOUT]);
			return EXIT_FAIL;
		}

		rc = ask(L, "GET", "/initialization/status", "text/plain",
		         deadline, &r, err, sizeof(err));
		if (rc == LH_STOPPED)
			continue;
		if (rc == LH_ERR || r.status != 200) {
			if (rc == LH_OK) {
				excerpt(ex, sizeof(ex), r.body, r.len);
				snprintf(err, sizeof(err), "HTTP %d: %s",
				         r.status, ex);
				lh_response_free(&r);
			}
			delay = backoff(++down, DOWN_BACKOFF_MIN_MS,
			                DOWN_BACKOFF_MAX_MS);
			logmsg(L, L_WARN, "waiting for the sidecar at %s "
			       "(attempt %u: %s); next try in %.2fs",
			       L->val[O_SIDECAR], down, err, (double)delay / 1e3);
			goto wait;
		}
		if (down > 0)
			logmsg(L, L_INFO, "the sidecar at %s answers",
			       L->val[O_SIDECAR]);
		down = 0;

		switch (parse_state(&r)) {
		case I_NEW:
			lh_response_free(&r);
			in_progress_logged = false;
			rc = ask(L, "POST", path, "text/plain", deadline, &r,
			         err, sizeof(err));
			if (rc == LH_STOPPED)
				continue;
			if (rc == LH_OK && r.status == 200) {
				logmsg(L, L_INFO, "initialization started "
				       "(mode=%s)", mode);
				refused = 0;
				delay = POLL_MS;
			} else {
				if (rc == LH_OK) {
					excerpt(ex, sizeof(ex), r.body, r.len);
					snprintf(err, sizeof(err), "HTTP %d: %s",
					         r.status, ex);
				}
				delay = backoff(++refused, DOWN_BACKOFF_MIN_MS,
				                DOWN_BACKOFF_MAX_MS);
				logmsg(L, L_WARN, "starting initialization "
				       "failed (%s); next try in %.2fs", err,
				       (double)delay / 1e3);
			}
			if (rc == LH_OK)
				lh_response_free(&r);
			goto wait;
		case I_PROGRESS:
			lh_response_free(&r);
			if (!in_progress_logged)
				logmsg(L, L_INFO, "initialization in progress; "
				       "polling every %d ms", POLL_MS);
			in_progress_logged = true;
			delay = POLL_MS;
			goto wait;
		case I_FAILED:
			lh_response_free(&r);
			in_progress_logged = false;
			delay = backoff(++failed, FAILED_BACKOFF_MIN_MS,
			                FAILED_BACKOFF_MAX_MS);
			failure_reason(L, deadline, why, sizeof(why));
			logmsg(L, L_WARN, "initialization failed (%u time%s: "
			       "%s); starting it again in %.0fs", failed,
			       failed == 1 ? "" : "s",
			       why[0] != '\0' ? why : "the sidecar's log says why",
			       (double)delay / 1e3);
			goto wait;
		case I_UNKNOWN:
			excerpt(ex, sizeof(ex), r.body, r.len);
			lh_response_free(&r);
			delay = backoff(++down, DOWN_BACKOFF_MIN_MS,
			                DOWN_BACKOFF_MAX_MS);
			logmsg(L, L_WARN, "the sidecar's status '%s' is none of "
			       "New, Progress, Successful, Failed; next try in "
			       "%.2fs", ex, (double)delay / 1e3);
			goto wait;
		case I_SUCCESSFUL:
			lh_response_free(&r);
			break;
		}

		logmsg(L, L_INFO, "initialization successful; fetching the "
		       "etcd config");
		rc = ask(L, "GET", "/config", NULL, deadline, &r, err,
		         sizeof(err));
		if (rc == LH_STOPPED)
			continue;
		if (rc == LH_OK && r.status == 200 && r.len > 0 &&
		    memchr(r.body, '\0', r.len) == NULL) {
			char werr[PATH_MAX + 64];

			rc = write_atomic(L->val[O_CONFIG_OUT], r.body, r.len,
			                  0600, werr, sizeof(werr));
			lh_response_free(&r);
			if (rc < 0) {
				logmsg(L, L_ERROR, "cannot write the etcd "
				       "config: %s", werr);
				return EXIT_FAIL;
			}
			logmsg(L, L_INFO, "etcd config written to %s",
			       L->val[O_CONFIG_OUT]);
			return 0;
		}
		if (rc == LH_OK) {
			excerpt(ex, sizeof(ex), r.body, r.len);
			snprintf(err, sizeof(err), "HTTP %d%s%s", r.status,
			         r.len > 0 ? ": " : ", empty body", ex);
			lh_response_free(&r);
		}
		delay = backoff(++refused, DOWN_BACKOFF_MIN_MS,
		                DOWN_BACKOFF_MAX_MS);
		logmsg(L, L_WARN, "no etcd config from the sidecar (%s); "
		       "initializing again in %.2fs", err,
		       (double)delay / 1e3);
wait:
		sig = pause_ms(L, delay, deadline);
		if (sig != 0)
			break;
	}
	logmsg(L, L_INFO, "%s before etcd started: exiting", signame(sig));
	return 128 + sig;
}

/* --- running etcd -------------------------------------------------------- */

/* Removes the launcher's own variables, so that etcd does not see them
 * (etcd warns about ETCD_* variables it does not know). */
static void clean_environment(void)
{
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
}

static int run_etcd(struct launcher *L)
{
	char **argv = calloc((size_t)L->ncmd + 3, sizeof(*argv));
	unsigned forwarded = 0;
	int errpipe[2], code, sig = 0, exec_errno = 0;
	bool clean;
	ssize_t n;
	pid_t pid;

	if (argv == NULL) {
		logmsg(L, L_ERROR, "out of memory");
		return EXIT_FAIL;
	}
	for (int i = 0; i < L->ncmd; i++) {
		argv[i] = L->cmd[i];
		if (strcmp(L->cmd[i], "--config-file") == 0 ||
		    strncmp(L->cmd[i], "--config-file=", 14) == 0)
			logmsg(L, L_WARN, "etcd's arguments already hold "
			       "--config-file; the one appended wins");
	}
	argv[L->ncmd] = "--config-file";
	argv[L->ncmd + 1] = (char *)L->val[O_CONFIG_OUT];
	clean_environment();
	if (pipe2(errpipe, O_CLOEXEC) != 0) {
		logmsg(L, L_ERROR, "pipe: %s", strerror(errno));
		free(argv);
		return EXIT_FAIL;
	}

	/* A stop that came after the last wait: do not start etcd at all. */
	sig = stop_signal(lx_sig_peek());
	if (sig != 0) {
		logmsg(L, L_INFO, "%s before etcd started: exiting",
		       signame(sig));
		close(errpipe[0]);
		close(errpipe[1]);
		free(argv);
		return 128 + sig;
	}
	/* Before the fork: if the launcher dies with etcd (the container
	 * killed), the next start must not believe in a clean exit. */
	write_status_file(L, true, 0, 0, false);
	pid = fork();
	if (pid < 0) {
		logmsg(L, L_ERROR, "fork: %s", strerror(errno));
		close(errpipe[0]);
		close(errpipe[1]);
		free(argv);
		return EXIT_FAIL;
	}
	if (pid == 0) {
		int e;

		close(errpipe[0]);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, lx_sig_startmask(), NULL);
		execvp(argv[0], argv);
		e = errno;
		if (write(errpipe[1], &e, sizeof(e)) < 0) {
			/* the parent sees the exit status anyway */
		}
		_exit(e == ENOENT ? 127 : 126);
	}
	L->child = pid;
	close(errpipe[1]);
	do
		n = read(errpipe[0], &exec_errno, sizeof(exec_errno));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(exec_errno))
		logmsg(L, L_ERROR, "cannot run %s: %s", argv[0],
		       strerror(exec_errno));
	else
		logmsg(L, L_INFO, "etcd started (pid %ld): %s ... --config-file "
		       "%s", (long)pid, argv[0], L->val[O_CONFIG_OUT]);
	free(argv);

	for (;;) {
		unsigned got = lx_sig_take(LX_SIG_STOP | (1u << SIGCHLD));

		if (got & (1u << SIGCHLD))
			reap(L);
		if (L->child_done)
			break;
		for (int s = 1; s < 32; s++) {
			if (!(got & LX_SIG_STOP & (1u << s)))
				continue;
			logmsg(L, L_INFO, "forwarding %s to etcd (pid %ld)",
			       signame(s), (long)pid);
			if (kill(pid, s) == 0)
				forwarded |= 1u << s;
		}
		lx_wait(NULL, 0, -1);
	}

	if (WIFEXITED(L->child_status)) {
		code = WEXITSTATUS(L->child_status);
		clean = code == 0;
	} else if (WIFSIGNALED(L->child_status)) {
		sig = WTERMSIG(L->child_status);
		code = 128 + sig;
		clean = (sig == SIGTERM || sig == SIGINT) &&
		        (forwarded & (1u << sig));
	} else {
		code = EXIT_FAIL;
		clean = false;
	}
	write_status_file(L, false, code, sig, clean);
	if (sig != 0)
		logmsg(L, L_INFO, "etcd (pid %ld) killed by %s%s%d%s; clean "
		       "exit: %s", (long)pid,
		       signame(sig) != NULL ? signame(sig) : "signal ",
		       signame(sig) != NULL ? " (" : "", sig,
		       signame(sig) != NULL ? ")" : "", clean ? "yes" : "no");
	else
		logmsg(L, L_INFO, "etcd (pid %ld) exited with status %d; clean "
		       "exit: %s", (long)pid, code, clean ? "yes" : "no");
	return code;
}

int main(int argc, char **argv)
{
	struct launcher L;
	struct last_exit le;
	const char *mode;
	int rc;

	memset(&L, 0, sizeof(L));
	rc = parse_options(&L, argc, argv);
	if (rc != 0)
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	if (lx_sig_setup() != 0) {
		logmsg(&L, L_ERROR, "signal setup: %s", strerror(errno));
		return EXIT_FAIL;
	}
	/* Orphans of etcd's tree become ours (as for PID 1), to be reaped,
	 * also when the launcher is not PID 1. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	/* A log reader gone must not kill the launcher (and orphan etcd);
	 * etcd gets the default back before its exec. */
	signal(SIGPIPE, SIG_IGN);
	if (L.val[O_TOKEN_FILE] != NULL) {
		L.token = read_token(&L, L.val[O_TOKEN_FILE]);
		if (L.token == NULL)
			return EXIT_FAIL;
	}

	read_status_file(&L, &le);
	mode = le.known && le.clean ? "sanity" : "full";
	if (!le.known)
		logmsg(&L, L_INFO, "no record of etcd's last exit in %s: "
		       "mode=full", L.val[O_STATUS_FILE]);
	else
		logmsg(&L, L_INFO, "etcd's last exit (%s: state=%s "
		       "exit-status=%s signal=%s time=%s) was %s: mode=%s",
		       L.val[O_STATUS_FILE], le.state, le.exit_status, le.signal,
		       le.time, le.clean ? "clean" : "not clean", mode);

	rc = initialize(&L, mode);
	if (rc == 0)
		rc = run_etcd(&L);
	free(L.token);
	return rc;
}
