/*
 * watch.c - the thread that watches this member while etcd runs (see
 * include/etcd-medic/watch.h); the data comparison is in watch_hash.c.
 *
 * The thread sleeps in poll() on an eventfd (kick and stop) and an inotify
 * descriptor, with the time left to the next round as the timeout, so that
 * a removed member dir is reported at once and a stop is seen at once; a
 * request in flight ends within the gateway client's timeout.  A round
 * builds the new state in the thread's own copy and publishes it under the
 * mutex at the end, so a reader never sees half a round.
 *
 * "The member dir is gone" means: etcd answers, yet its member dir is
 * missing, or the db there is not locked (a running etcd holds bbolt's
 * flock on its db): etcd writes into files that are no longer where its
 * next start will look.  The same move made by the heal engine while etcd
 * is down is no finding, and the flag clears once etcd runs on its member
 * dir again.
 */
#include "etcd-medic/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "etcd-medic/gateway.h"
#include "etcd-medic/heal.h"
#include "etcd-medic/log.h"
#include "etcd-medic/metrics.h"
#include "watch_priv.h"

/* The watch reads small answers only (range pages are halved to fit), so
 * its client refuses big ones: the sidecar's memory stays small. */
#define WATCH_MAX_ANSWER ((size_t)8 << 20)
/* A learner not yet near the leader is still offered for promotion this
 * often, in case the applied index misleads. */
#define PROMOTE_EVERY_MS 60000ull
/* One promotion attempt waits at most this long (heal.promote-timeout is
 * the limit over all attempts): the watch has other work meanwhile. */
#define PROMOTE_WAIT_S 10u

struct em_watch {
	const struct em_config *cfg;
	struct em_gw *gw;
	pthread_t thread;
	int wake_fd;                  /* eventfd: kick and stop */
	atomic_bool stop;
	pthread_mutex_t mu;
	struct em_watch_state pub;    /* what em_watch_get copies, under mu */

	/* The thread's own from here on. */
	struct em_watch_state cur;
	char *member_dir;
	char *db_path;
	int ino_fd, wd_data, wd_member;
	uint64_t next_hash_ms;
	bool learner_skip_counted;    /* a learner's skip counted once */
	struct hash_cursor cursor;
	uint64_t learner_since_ms, next_promote_ms;
	bool overdue_logged, disabled_logged;
	bool lock_known, lock_held;
	char holder[160];             /* the heal lock's holder */
};

/* What one round learnt from etcd. */
struct round {
	bool answers;
	const char *url;              /* this member's URL that answered */
	struct em_gw_status status;
	bool have_list;
	struct em_member_list ml;
	const struct em_member *self; /* this member in ml, if listed */
};

uint64_t watch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool stopping(struct em_watch *w)
{
	return atomic_load(&w->stop);
}

static void publish(struct em_watch *w)
{
	pthread_mutex_lock(&w->mu);
	w->pub = w->cur;
	pthread_mutex_unlock(&w->mu);
}

static char *hex(uint64_t id, char buf[24])
{
	snprintf(buf, 24, "%" PRIx64, id);
	return buf;
}

/* A failed request: counted, kept as the round's error, logged as a
 * warning when it is news (a member down would repeat it every round). */
static void note_error(struct em_watch *w, const char *what,
                       const struct em_error *err)
{
	char msg[sizeof(w->cur.last_error)];

	snprintf(msg, sizeof(msg), "%.40s: %.200s", what, err->msg);
	em_metric_add("etcd_medic_watch_errors_total", NULL, 1);
	em_log(strcmp(msg, w->pub.last_error) ? EM_LOG_WARN : EM_LOG_DEBUG,
	       "watch: request failed", "what", what, "error", err->msg, NULL);
	if (w->cur.last_error[0] == '\0')
		snprintf(w->cur.last_error, sizeof(w->cur.last_error), "%s",
		         msg);
}

/* ---- health and membership --------------------------------------------- */

/* Status on this member's own client URLs: the first that answers. */
static bool own_status(struct em_watch *w, struct round *r, bool quiet)
{
	const struct em_strv *urls = &w->cfg->etcd.advertise_client_urls;
	struct em_error err;

	em_error_clear(&err);
	for (size_t i = 0; i < urls->n; i++) {
		if (em_gw_status(w->gw, urls->v[i], &r->status, &err) == EM_OK) {
			r->url = urls->v[i];
			return true;
		}
	}
	if (!quiet)
		note_error(w, "status of this member", &err);
	return false;
}

static void health(struct em_watch *w, struct round *r)
{
	r->answers = own_status(w, r, false);
	w->cur.etcd_answers = r->answers;
	w->cur.has_leader = r->answers && r->status.leader != 0;
	w->cur.leader = r->answers ? r->status.leader : 0;
	if (r->answers) {
		w->cur.member_id = r->status.header.member_id;
		w->cur.raft_applied_index = r->status.raft_applied_index;
	}
}

static bool has_url(const struct em_strv *urls, const char *url)
{
	for (size_t i = 0; i < urls->n; i++)
		if (strcmp(urls->v[i], url) == 0)
			return true;
	return false;
}

/* This member in the list: by the ID its etcd gave, else (etcd down) by
 * its name or advertised peer URL. */
static const struct em_member *find_self(const struct em_config *cfg,
                                         const struct round *r)
{
	for (size_t i = 0; i < r->ml.n; i++) {
		const struct em_member *m = &r->ml.members[i];

		if (r->answers) {
			if (m->id == r->status.header.member_id)
				return m;
			continue;
		}
		if (m->name[0] != '\0' && strcmp(m->name, cfg->etcd.name) == 0)
			return m;
		for (size_t u = 0; u < m->n_peer_urls; u++)
			if (has_url(&cfg->etcd.initial_advertise_peer_urls,
			            m->peer_urls[u]))
				return m;
	}
	return NULL;
}

static void membership(struct em_watch *w, struct round *r)
{
	struct em_error err;

	em_error_clear(&err);
	if (em_gw_member_list(w->gw, NULL, &r->ml, &err) != EM_OK) {
		note_error(w, "member list", &err);
		/* etcd answers: keep the role last seen rather than flap
		 * readiness on one failed list. */
		if (!r->answers)
			w->cur.is_voter = false;
		return;
	}
	r->have_list = true;
	r->self = find_self(w->cfg, r);
	if (r->self != NULL)
		w->cur.member_id = r->self->id;
	w->cur.is_learner = r->self ? r->self->is_learner :
	                    r->answers && r->status.is_learner;
	w->cur.is_voter = r->answers && r->self != NULL &&
	                  !r->self->is_learner;
}

/* ---- a learner: catch-up and promotion ---------------------------------- */

static void leader_index(struct em_watch *w, struct round *r)
{
	struct em_gw_status st;
	struct em_error err;

	em_error_clear(&err);
	for (size_t i = 0; r->have_list && i < r->ml.n; i++) {
		const struct em_member *m = &r->ml.members[i];

		if (m->id != r->status.leader)
			continue;
		for (size_t u = 0; u < m->n_client_urls; u++) {
			if (em_gw_status(w->gw, m->client_urls[u], &st,
			                 &err) == EM_OK) {
				w->cur.leader_raft_index = st.raft_index;
				return;
			}
		}
	}
	if (err.status != EM_OK)
		note_error(w, "status of the leader", &err);
}

static void promote_result(struct em_watch *w, enum em_status st,
                           const struct em_heal_result *res,
                           const struct em_error *err)
{
	char label[64];
	bool overdue = watch_now_ms() - w->learner_since_ms >
	               w->cfg->heal.promote_timeout_s * 1000ull;

	if (st != EM_OK) {
		note_error(w, "promotion", err);
		return;
	}
	snprintf(label, sizeof(label), "outcome=%s",
	         em_heal_outcome_name(res->outcome));
	em_metric_add("etcd_medic_heal_runs_total", label, 1);
	snprintf(label, sizeof(label), "step=%s", em_heal_step_name(res->step));
	em_metric_set_one("etcd_medic_heal_step", label);
	if (res->outcome == EM_HEAL_PROMOTED) {
		em_log(EM_LOG_INFO, "watch: this learner was promoted to a "
		       "voting member", "reason", res->reason, NULL);
		w->cur.is_learner = false;
		w->cur.is_voter = w->cur.etcd_answers;
		w->learner_since_ms = 0;
	} else if (res->outcome != EM_HEAL_NOTHING) {
		em_log(overdue ? EM_LOG_WARN : EM_LOG_INFO, "watch: learner "
		       "not promoted yet", "outcome",
		       em_heal_outcome_name(res->outcome), "reason",
		       res->reason, NULL);
	}
}

static void promote(struct em_watch *w)
{
	struct em_config c = *w->cfg;   /* shallow: only a limit changes */
	struct em_heal_result res;
	struct em_error err;
	enum em_status st;

	if (c.heal.promote_timeout_s > PROMOTE_WAIT_S)
		c.heal.promote_timeout_s = PROMOTE_WAIT_S;
	em_error_clear(&err);
	st = em_heal_promote(&c, w->gw, &res, &err);
	promote_result(w, st, &res, &err);
	em_heal_result_free(&res);
}

static void overdue(struct em_watch *w, uint64_t now)
{
	char a[24], l[24];

	if (w->overdue_logged || now - w->learner_since_ms <=
	    w->cfg->heal.promote_timeout_s * 1000ull)
		return;
	w->overdue_logged = true;
	snprintf(a, sizeof(a), "%" PRIu64, w->cur.raft_applied_index);
	snprintf(l, sizeof(l), "%" PRIu64, w->cur.leader_raft_index);
	em_log(EM_LOG_ERROR, "watch: this learner has not caught up within "
	       "heal.promote-timeout", "applied", a, "leader_index", l, NULL);
}

/* Offers the learner for promotion when its applied index is near the
 * leader's (etcd wants 90% of the log), else once a minute. */
static void maybe_promote(struct em_watch *w, struct round *r)
{
	uint64_t now = watch_now_ms();
	uint64_t applied = w->cur.raft_applied_index;
	uint64_t lead = w->cur.leader_raft_index;

	if (w->learner_since_ms == 0) {
		w->learner_since_ms = now;
		w->next_promote_ms = now + PROMOTE_EVERY_MS;
		w->overdue_logged = false;
	}
	if (!w->cfg->heal.enabled) {
		if (!w->disabled_logged)
			em_log(EM_LOG_WARN, "watch: this member is a learner, "
			       "but heal.enabled is false: not promoting it",
			       NULL);
		w->disabled_logged = true;
		return;
	}
	overdue(w, now);
	if (!r->answers || (!(lead > 0 && applied * 10 >= lead * 9) &&
	                    now < w->next_promote_ms))
		return;
	w->next_promote_ms = now + PROMOTE_EVERY_MS;
	promote(w);
}

static void learner(struct em_watch *w, struct round *r)
{
	if (!w->cur.is_learner) {
		w->learner_since_ms = 0;
		w->cur.leader_raft_index = 0;
		em_metric_clear("etcd_medic_learner_applied_index");
		em_metric_clear("etcd_medic_leader_raft_index");
		return;
	}
	if (r->answers && r->status.leader != 0)
		leader_index(w, r);
	em_metric_set("etcd_medic_learner_applied_index", NULL,
	              (double)w->cur.raft_applied_index);
	em_metric_set("etcd_medic_leader_raft_index", NULL,
	              (double)w->cur.leader_raft_index);
	maybe_promote(w, r);
}

/* ---- alarms and the heal lock ------------------------------------------- */

static void alarms(struct em_watch *w, struct round *r)
{
	struct em_gw_alarm *al = NULL;
	struct em_error err;
	size_t n = 0, nospace = 0, corrupt = 0, o = 0;
	char *s = w->cur.alarms, idb[24];

	(void)r;
	em_error_clear(&err);
	if (em_gw_alarm_list(w->gw, &al, &n, &err) != EM_OK) {
		note_error(w, "alarm list", &err);
		return;
	}
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		nospace += strcmp(al[i].alarm, "NOSPACE") == 0;
		corrupt += strcmp(al[i].alarm, "CORRUPT") == 0;
		if (o < sizeof(w->cur.alarms))
			o += (size_t)snprintf(s + o, sizeof(w->cur.alarms) - o,
			                      "%s%s on %s", i ? "; " : "",
			                      al[i].alarm, hex(al[i].member_id,
			                                       idb));
	}
	free(al);
	em_metric_set("etcd_medic_alarms", "alarm=NOSPACE", (double)nospace);
	em_metric_set("etcd_medic_alarms", "alarm=CORRUPT", (double)corrupt);
}

static void lock_changed(struct em_watch *w, bool held, const char *holder)
{
	char label[192];

	w->lock_known = true;
	w->lock_held = held;
	snprintf(w->holder, sizeof(w->holder), "%s", holder);
	em_metric_set("etcd_medic_heal_lock_held", NULL, held);
	em_metric_clear("etcd_medic_heal_lock_holder_info");
	if (!held) {
		em_log(EM_LOG_INFO, "watch: the heal lock is free", NULL);
		return;
	}
	snprintf(label, sizeof(label), "holder=%s", holder);
	em_metric_set("etcd_medic_heal_lock_holder_info", label, 1);
	em_log(EM_LOG_INFO, "watch: a replacement holds the heal lock",
	       "holder", holder, NULL);
}

static void heal_lock(struct em_watch *w, struct round *r)
{
	const char *key = w->cfg->heal.lock_key;
	struct em_range_req q;
	struct em_range rg;
	struct em_error err;
	char holder[160] = "";

	(void)r;
	memset(&q, 0, sizeof(q));
	q.key = (const uint8_t *)key;
	q.key_len = strlen(key);
	em_error_clear(&err);
	if (em_gw_range(w->gw, NULL, &q, &rg, &err) != EM_OK) {
		note_error(w, "heal lock", &err);
		return;
	}
	if (rg.n > 0) {
		size_t len = rg.kvs[0].value_len < sizeof(holder) - 1 ?
		             rg.kvs[0].value_len : sizeof(holder) - 1;

		memcpy(holder, rg.kvs[0].value, len);
		holder[len] = '\0';
		/* A label value cannot hold the separator of labels. */
		for (char *c = holder; *c; c++)
			if (*c == ',')
				*c = ';';
	}
	if (!w->lock_known || (rg.n > 0) != w->lock_held ||
	    strcmp(holder, w->holder) != 0)
		lock_changed(w, rg.n > 0, holder);
	em_range_free(&rg);
}

/* ---- the member dir ---------------------------------------------------- */

/* Does a running process (etcd) hold the lock on the db in the member dir?
 * Unknown (no permission) counts as yes: never a false alarm. */
static bool db_locked(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	bool locked;

	if (fd < 0)
		return errno != ENOENT && errno != ENOTDIR;
	locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);   /* releases our shared lock, if we took it */
	return locked;
}

static void set_gone(struct em_watch *w, bool gone, const char *how)
{
	if (gone == w->cur.data_dir_gone)
		return;
	w->cur.data_dir_gone = gone;
	em_metric_set("etcd_medic_data_dir_gone", NULL, gone);
	if (gone)
		em_log(EM_LOG_ERROR, "the member dir was removed or replaced "
		       "under the running etcd: its writes no longer go where "
		       "its next start reads", "dir", w->member_dir, "how", how,
		       NULL);
	else
		em_log(EM_LOG_INFO, "etcd runs on its member dir again", "dir",
		       w->member_dir, NULL);
}

static void gone_check(struct em_watch *w, bool answers)
{
	const struct timespec settle = { 0, 300 * 1000000L };
	struct stat sb;

	if (!answers)
		return;   /* nothing runs on it: the next start judges it */
	if (stat(w->member_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		set_gone(w, true, "removed");
		return;
	}
	/* etcd's defrag closes and reopens its db: look twice. */
	if (!db_locked(w->db_path)) {
		nanosleep(&settle, NULL);
		if (!db_locked(w->db_path)) {
			set_gone(w, true, "replaced: etcd does not hold the db "
			         "found there");
			return;
		}
	}
	set_gone(w, false, NULL);
}

static void gone_round(struct em_watch *w, struct round *r)
{
	gone_check(w, r->answers);
}

/* Watches the data dir for `member` leaving, and the member dir itself
 * (moved or deleted); a watch lost with its directory is set up again
 * when the directory is back. */
static void arm(struct em_watch *w)
{
	if (w->ino_fd < 0)
		return;
	if (w->wd_data < 0)
		w->wd_data = inotify_add_watch(w->ino_fd, w->cfg->etcd.data_dir,
		                               IN_DELETE | IN_MOVED_FROM |
		                               IN_CREATE | IN_MOVED_TO |
		                               IN_DELETE_SELF | IN_MOVE_SELF |
		                               IN_ONLYDIR);
	if (w->wd_member < 0)
		w->wd_member = inotify_add_watch(w->ino_fd, w->member_dir,
		                                 IN_DELETE_SELF | IN_MOVE_SELF |
		                                 IN_ONLYDIR);
}

/* One event; true when it is about the member dir leaving. */
static bool on_event(struct em_watch *w, const struct inotify_event *ev)
{
	bool member = ev->len > 0 && strcmp(ev->name, "member") == 0;
	uint32_t self = IN_DELETE_SELF | IN_MOVE_SELF;

	if (ev->mask & IN_Q_OVERFLOW)
		return true;   /* events were lost: look again */
	if (ev->wd == w->wd_member && (ev->mask & (self | IN_IGNORED))) {
		/* A moved dir keeps its watch: drop it. */
		if (ev->mask & IN_MOVE_SELF)
			inotify_rm_watch(w->ino_fd, w->wd_member);
		w->wd_member = -1;
		return (ev->mask & self) != 0;
	}
	if (ev->wd != w->wd_data)
		return false;
	if (ev->mask & (self | IN_IGNORED)) {
		if (ev->mask & IN_MOVE_SELF)
			inotify_rm_watch(w->ino_fd, w->wd_data);
		w->wd_data = -1;
		return (ev->mask & self) != 0;
	}
	if (member && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
		arm(w);
	return member && (ev->mask & (IN_DELETE | IN_MOVED_FROM));
}

static bool read_events(struct em_watch *w)
{
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(w->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			hit |= on_event(w, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

/* Something happened to the member dir: judge now, not at the next
 * round. */
static void member_dir_event(struct em_watch *w)
{
	struct round r;

	memset(&r, 0, sizeof(r));
	em_log(EM_LOG_DEBUG, "watch: the member dir moved or went away",
	       "dir", w->member_dir, NULL);
	gone_check(w, own_status(w, &r, true));
	arm(w);
	publish(w);
}

/* ---- the data comparison ---------------------------------------------- */

static void hash_report(struct em_watch *w, enum hash_result res,
                        const char *detail)
{
	static const enum em_log_level levels[] = {
		[HASH_EQUAL] = EM_LOG_INFO, [HASH_DIVERGENT] = EM_LOG_ERROR,
		[HASH_ERROR] = EM_LOG_WARN, [HASH_SKIPPED] = EM_LOG_INFO,
	};
	char label[32];

	snprintf(label, sizeof(label), "result=%s", hash_result_name(res));
	em_metric_add("etcd_medic_hash_checks_total", label, 1);
	if (res == HASH_EQUAL || res == HASH_DIVERGENT)
		em_metric_set("etcd_medic_hash_divergent", NULL,
		              res == HASH_DIVERGENT);
	w->cur.hash_check = res == HASH_EQUAL ? 1 :
	                    res == HASH_DIVERGENT ? -1 : 0;
	snprintf(w->cur.hash_detail, sizeof(w->cur.hash_detail), "%s", detail);
	em_log(levels[res], res == HASH_DIVERGENT ? "this member's data "
	       "differs from a peer's at the same revision: silent corruption"
	       : "watch: data compared with a peer", "result",
	       hash_result_name(res), "detail", detail, NULL);
}

static void hash(struct em_watch *w, struct round *r)
{
	struct hash_self self = { r->url, &r->status, &r->ml,
		                  w->cur.is_learner };
	char detail[sizeof(w->cur.hash_detail)];
	enum hash_result res;

	if (!w->cfg->watch.hash_check || watch_now_ms() < w->next_hash_ms ||
	    !r->answers || !r->have_list)
		return;
	res = watch_hash_check(w->cfg, w->gw, &self, &w->cursor, &w->stop,
	                       detail, sizeof(detail));
	if (res == HASH_SKIPPED && self.is_learner) {
		/* Compared as soon as it is a voter; counted once till then. */
		if (w->learner_skip_counted)
			return;
		w->learner_skip_counted = true;
	} else {
		w->learner_skip_counted = false;
		w->next_hash_ms = watch_now_ms() +
		                  w->cfg->watch.hash_check_interval_s * 1000ull;
	}
	hash_report(w, res, detail);
}

/* ---- a round ------------------------------------------------------------ */

/* Log lines for what changed since the last round. */
static void report(struct em_watch *w, const struct em_watch_state *prev)
{
	const struct em_watch_state *c = &w->cur;
	char idb[24];

	if (c->etcd_answers != prev->etcd_answers || prev->last_run == 0)
		em_log(c->etcd_answers ? EM_LOG_INFO : EM_LOG_WARN,
		       c->etcd_answers ? "watch: etcd answers" :
		       "watch: etcd does not answer on its client URL",
		       "member", hex(c->member_id, idb), "role",
		       c->is_learner ? "learner" : c->is_voter ? "voter" :
		       "unknown", NULL);
	else if (c->is_learner != prev->is_learner ||
	         c->is_voter != prev->is_voter)
		em_log(EM_LOG_INFO, "watch: this member's role changed", "role",
		       c->is_learner ? "learner" : c->is_voter ? "voter" :
		       "not listed", NULL);
	if (c->etcd_answers && prev->has_leader && !c->has_leader)
		em_log(EM_LOG_WARN, "watch: etcd has no leader", NULL);
	if (strcmp(c->alarms, prev->alarms) != 0)
		em_log(c->alarms[0] ? EM_LOG_ERROR : EM_LOG_INFO,
		       c->alarms[0] ? "etcd alarm active" :
		       "watch: etcd alarms cleared", "alarms", c->alarms, NULL);
	em_metric_set("etcd_medic_member_up", NULL, c->etcd_answers);
	em_metric_set("etcd_medic_member_has_leader", NULL, c->has_leader);
	em_metric_set("etcd_medic_member_is_learner", NULL, c->is_learner);
	em_metric_set("etcd_medic_data_dir_gone", NULL, c->data_dir_gone);
	em_metric_set("etcd_medic_watch_last_run_timestamp_seconds", NULL,
	              (double)c->last_run);
}

typedef void round_step(struct em_watch *w, struct round *r);

static void run_round(struct em_watch *w)
{
	static round_step *const steps[] = {
		health, membership, learner, alarms, heal_lock, gone_round,
		hash,
	};
	struct em_watch_state prev = w->cur;
	struct round r;

	memset(&r, 0, sizeof(r));
	w->cur.last_error[0] = '\0';
	arm(w);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (stopping(w))
			break;
		steps[i](w, &r);
	}
	w->cur.last_run = time(NULL);
	report(w, &prev);
	publish(w);
	if (r.have_list)
		em_member_list_free(&r.ml);
}

/* Sleeps until the next round, a kick, a stop or a member dir event;
 * true when kicked. */
static bool wait_events(struct em_watch *w, uint64_t ms)
{
	struct pollfd p[2] = {
		{ .fd = w->wake_fd, .events = POLLIN },
		{ .fd = w->ino_fd, .events = POLLIN },   /* -1: ignored */
	};
	uint64_t v;
	bool kicked = false;

	if (poll(p, 2, ms > INT_MAX ? INT_MAX : (int)ms) <= 0)
		return false;
	if (p[0].revents & POLLIN)
		kicked = read(w->wake_fd, &v, sizeof(v)) == sizeof(v);
	if ((p[1].revents & POLLIN) && read_events(w) && !stopping(w))
		member_dir_event(w);
	return kicked;
}

static void *watch_main(void *arg)
{
	struct em_watch *w = arg;
	uint64_t next = 0, every = w->cfg->watch.interval_s * 1000ull;

	while (!stopping(w)) {
		uint64_t now = watch_now_ms();

		if (now >= next) {
			run_round(w);
			next = watch_now_ms() + every;
		} else if (wait_events(w, next - now)) {
			next = 0;
		}
	}
	return NULL;
}

/* ---- the interface ------------------------------------------------------ */

static void watch_free(struct em_watch *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->ino_fd >= 0)
		close(w->ino_fd);
	em_gw_free(w->gw);
	hash_cursor_free(&w->cursor);
	free(w->member_dir);
	free(w->db_path);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static enum em_status watch_open(struct em_watch *w, struct em_error *err)
{
	struct em_gw_config gc;

	if (asprintf(&w->member_dir, "%s/member", w->cfg->etcd.data_dir) < 0 ||
	    asprintf(&w->db_path, "%s/snap/db", w->member_dir) < 0) {
		w->member_dir = w->db_path = NULL;
		return em_error_set(err, EM_ENOMEM, "out of memory");
	}
	em_gw_config_from(w->cfg, &gc);
	gc.max_answer_bytes = WATCH_MAX_ANSWER;
	if (em_gw_new(&gc, &w->gw, err) != EM_OK)
		return err->status;
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0)
		return em_error_errno(err, EM_EIO, errno, "eventfd");
	w->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->ino_fd < 0)
		em_log(EM_LOG_WARN, "watch: no inotify; the member dir is "
		       "checked once a round only", "error", strerror(errno),
		       NULL);
	arm(w);
	return EM_OK;
}

enum em_status em_watch_start(const struct em_config *cfg,
                              struct em_watch **out, struct em_error *err)
{
	struct em_watch *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (w == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	w->cfg = cfg;
	w->wake_fd = w->ino_fd = w->wd_data = w->wd_member = -1;
	atomic_init(&w->stop, false);
	pthread_mutex_init(&w->mu, NULL);
	if (watch_open(w, err) != EM_OK) {
		watch_free(w);
		return err->status;
	}
	rc = pthread_create(&w->thread, NULL, watch_main, w);
	if (rc != 0) {
		watch_free(w);
		return em_error_errno(err, EM_EIO, rc, "starting the watch "
		                      "thread");
	}
	*out = w;
	return EM_OK;
}

static void wake(struct em_watch *w)
{
	uint64_t one = 1;

	/* Fails only when the counter is full: then it wakes anyway. */
	if (write(w->wake_fd, &one, sizeof(one)) != sizeof(one))
		return;
}

void em_watch_stop(struct em_watch *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	wake(w);
	pthread_join(w->thread, NULL);
	watch_free(w);
}

void em_watch_kick(struct em_watch *w)
{
	if (w != NULL)
		wake(w);
}

void em_watch_get(struct em_watch *w, struct em_watch_state *out)
{
	if (w == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&w->mu);
	*out = w->pub;
	pthread_mutex_unlock(&w->mu);
}
