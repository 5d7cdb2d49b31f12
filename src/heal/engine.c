/*
 * engine.c - the member-replacement state machine (include/etcd-medic/heal.h).
 *
 * A run starts from the journal when there is one, else from the verdict of
 * the data dir, and goes step by step: lock, remove, quarantine, add as a
 * learner, hand over to etcd; once etcd runs, catch up and promote, unlock.
 * Each step is recorded before (doing) and after (step) it is taken, and is
 * written so that taking it twice does no harm: a run killed anywhere and
 * started again converges.
 */
#include "heal_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "etcd-medic/datadir.h"
#include "etcd-medic/log.h"

/* Everything one run works with. */
struct run {
	const struct em_config *cfg;
	enum em_check_mode mode;      /* how the data dir is judged first */
	struct em_gw *gw;
	struct em_heal_result *res;
	struct journal j;
	struct em_error *err;
	/* Why the learner's own progress could not be read, if it could
	 * not: with auth on, a learner of 3.5 or later answers nothing (its
	 * Status needs a token, and it serves no Authenticate). */
	char progress_why[EM_ERROR_MSG_MAX];
};

static const char *const outcome_names[] = {
	[EM_HEAL_START] = "start",
	[EM_HEAL_PROMOTED] = "promoted",
	[EM_HEAL_NOTHING] = "nothing-to-do",
	[EM_HEAL_REFUSED] = "refused",
	[EM_HEAL_FAILED] = "failed",
};

const char *em_heal_outcome_name(enum em_heal_outcome o)
{
	return (size_t)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ?
	       outcome_names[o] : "unknown";
}

void em_heal_failpoint(const char *name)
{
	const char *fp = getenv("EM_FAILPOINT");

	if (fp != NULL && strcmp(fp, name) == 0) {
		em_log(EM_LOG_WARN, "failpoint: killing this process", "at",
		       name, NULL);
		raise(SIGKILL);
	}
}

void em_heal_result_free(struct em_heal_result *res)
{
	free(res->etcd_config);
	res->etcd_config = NULL;
}

__attribute__((format(printf, 3, 4)))
static enum em_status outcome(struct run *r, enum em_heal_outcome o,
                              const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->res->reason, sizeof(r->res->reason), fmt, ap);
	va_end(ap);
	r->res->outcome = o;
	r->res->step = r->j.step;
	r->res->old_id = r->j.old_id;
	r->res->new_id = r->j.new_id;
	snprintf(r->res->quarantine, sizeof(r->res->quarantine), "%s",
	         r->j.quarantine);
	return EM_OK;
}

static enum em_status save(struct run *r, enum em_heal_step step,
                           enum em_heal_step doing)
{
	r->j.step = step;
	r->j.doing = doing;
	return journal_save(r->cfg->heal.journal, &r->j, r->err);
}

static char *hex_id(uint64_t id, char buf[20])
{
	snprintf(buf, 20, "%" PRIx64, id);
	return buf;
}

/* ---- rendering the config etcd starts with ------------------------------ */

static enum em_status render(struct run *r, const char *initial,
                             const char *state)
{
	return em_etcd_config_render(&r->cfg->etcd, initial, state,
	                             &r->res->etcd_config, r->err);
}

/* The config for a member the cluster lists: initial-cluster from the live
 * member list, state existing. */
static enum em_status render_existing(struct run *r,
                                      const struct em_member_list *ml)
{
	char *initial = cluster_initial(r->cfg, ml);
	enum em_status st;

	if (initial == NULL)
		return em_error_set(r->err, EM_ENOMEM, "out of memory");
	st = render(r, initial, "existing");
	free(initial);
	return st;
}

/* ---- the membership steps ---------------------------------------------- */

/*
 * Calls fn until it succeeds, fails for good, or heal.retry-timeout passes:
 * right after a membership change etcd answers "unhealthy cluster" for
 * about 5 s, so retries must span tens of seconds.
 */
static enum em_status retrying(struct run *r,
                               enum em_status (*fn)(struct run *r))
{
	uint64_t deadline = now_ms() + r->cfg->heal.retry_timeout_s * 1000ull;
	unsigned backoff = 0;
	enum em_status st;

	while ((st = fn(r)) != EM_OK && em_gw_retryable(r->err->code) &&
	       now_ms() < deadline) {
		em_log(EM_LOG_INFO, "etcd asks to retry", "error", r->err->msg,
		       NULL);
		/* etcd's refusals after a change last about 5 s: retrying
		 * every second at most keeps us close behind them. */
		backoff_sleep(&backoff, 1000);
	}
	return st;
}

static enum em_status remove_old(struct run *r)
{
	enum em_status st = em_gw_member_remove(r->gw, r->j.old_id, r->err);

	/* Removed already, by us before a crash. */
	if (st != EM_OK && r->err->code == EM_GW_MEMBER_NOT_FOUND)
		return EM_OK;
	return st;
}

/* Forward: rule 2 and the one-learner rule, checked under the lock. */
static bool safe_to_remove(struct run *r, char *why, size_t n);

/* Is the old member still listed?  (A crash may have come after its
 * removal but before the journal said so.) */
static enum em_status still_listed(struct run *r, bool *listed)
{
	struct em_member_list ml;
	enum em_status st;

	st = em_gw_member_list(r->gw, NULL, &ml, r->err);
	if (st != EM_OK)
		return st;
	*listed = cluster_find(&ml, r->j.old_id, NULL) != NULL;
	em_member_list_free(&ml);
	return EM_OK;
}

/*
 * Removes the old member, under the lock, after checking the quorum rule
 * again; then gives the lock up.  The lock does not span the wait for the
 * learner to be accepted: with two members down, etcd refuses any add
 * until the other one's own removal, which needs the lock.
 */
static enum em_status step_remove(struct run *r)
{
	char idb[20], why[512];
	enum em_status st;
	bool listed = false;

	if (r->j.old_id != 0) {
		st = still_listed(r, &listed);
		if (st != EM_OK)
			return st;
	}
	if (listed) {
		if (!safe_to_remove(r, why, sizeof(why)))
			return em_error_set(r->err, EM_EBUSY, "%s", why);
		st = save(r, r->j.step, EM_STEP_REMOVED);
		if (st != EM_OK)
			return st;
		st = retrying(r, remove_old);
		if (st != EM_OK)
			return st;
		em_log(EM_LOG_WARN, "member removed from the cluster",
		       "member", hex_id(r->j.old_id, idb), NULL);
	}
	st = save(r, EM_STEP_REMOVED, EM_STEP_NONE);
	em_heal_failpoint("after-remove");
	if (st == EM_OK)
		st = lock_release(r->cfg, r->gw, &r->j, r->err);
	return st == EM_OK ? save(r, EM_STEP_REMOVED, EM_STEP_NONE) : st;
}

static enum em_status step_quarantine(struct run *r)
{
	enum em_status st;

	if (r->j.verdict == EM_VERDICT_CORRUPT) {
		if (r->j.quarantine[0] == '\0') {
			quarantine_plan(r->cfg, &r->j);
			st = save(r, r->j.step, EM_STEP_QUARANTINED);
			if (st != EM_OK)
				return st;
		}
		st = quarantine_data_dir(r->cfg, &r->j, r->err);
		if (st != EM_OK)
			return st;
	} else if (mkdir(r->cfg->etcd.data_dir, 0700) != 0 &&
	           errno != EEXIST) {
		return em_error_errno(r->err, EM_EIO, errno, "cannot create "
		                      "%s", r->cfg->etcd.data_dir);
	}
	st = save(r, EM_STEP_QUARANTINED, EM_STEP_NONE);
	em_heal_failpoint("after-quarantine");
	return st;
}

/* Finds this member's learner if an earlier add went through. */
static enum em_status find_added(struct run *r, bool *found)
{
	struct em_member_list ml;
	const struct em_member *m;
	enum em_status st;

	*found = false;
	st = em_gw_member_list(r->gw, NULL, &ml, r->err);
	if (st != EM_OK)
		return st;
	m = cluster_find(&ml, 0, &r->cfg->etcd.initial_advertise_peer_urls);
	if (m != NULL && m->id != r->j.old_id) {
		r->j.new_id = m->id;
		*found = true;
	}
	em_member_list_free(&ml);
	return EM_OK;
}

static enum em_status add_learner(struct run *r)
{
	const struct em_strv *urls = &r->cfg->etcd.initial_advertise_peer_urls;
	struct em_member added;
	enum em_status st;
	bool found;

	st = find_added(r, &found);
	if (st != EM_OK || found)
		return st;
	st = em_gw_member_add(r->gw, (const char *const *)urls->v, urls->n,
	                      true, &added, r->err);
	if (st != EM_OK && r->err->code == EM_GW_MEMBER_NOT_FOUND) {
		/*
		 * etcd derives a new member's ID from its peer URLs and the
		 * current second; within the second of an earlier add of the
		 * same URLs it gets that member's ID, which is on the removed
		 * list ("member not found").  The next second gives another.
		 */
		const struct timespec second = { 1, 100 * 1000000L };
		nanosleep(&second, NULL);
		st = em_gw_member_add(r->gw, (const char *const *)urls->v,
		                      urls->n, true, &added, r->err);
	}
	if (st == EM_OK) {
		r->j.new_id = added.id;
		return EM_OK;
	}
	/* The add may have gone through before the answer was lost. */
	if (r->err->code == EM_GW_PEER_URL_EXISTS ||
	    r->err->code == EM_GW_TIMEOUT) {
		struct em_error keep = *r->err;
		if (find_added(r, &found) == EM_OK && found)
			return EM_OK;
		*r->err = keep;
	}
	return st;
}

/*
 * Adds this member back as a learner, holding the lock from then on until
 * it is promoted (one learner at a time).  While etcd refuses the add
 * ("unhealthy cluster" while another dead voter is still listed, "too many
 * learners"), the lock is given up between tries, so that the member that
 * blocks us can take it for its own removal.
 */
static enum em_status step_add(struct run *r)
{
	uint64_t deadline = now_ms() + r->cfg->heal.retry_timeout_s * 1000ull;
	unsigned backoff = 0;
	char idb[20], why[512];
	enum em_status st;
	bool got;

	for (;;) {
		st = lock_acquire(r->cfg, r->gw, &r->j, &got, why, sizeof(why),
		                  r->err);
		if (st == EM_OK && !got)
			return em_error_set(r->err, EM_EBUSY, "%s", why);
		if (st == EM_OK)
			st = save(r, r->j.step, EM_STEP_ADDED);
		if (st == EM_OK)
			st = add_learner(r);
		if (st == EM_OK || !em_gw_retryable(r->err->code) ||
		    now_ms() >= deadline)
			break;
		em_log(EM_LOG_INFO, "etcd refuses the learner for now; letting "
		       "others go first", "error", r->err->msg, NULL);
		if (lock_release(r->cfg, r->gw, &r->j, r->err) != EM_OK)
			em_log(EM_LOG_WARN, "cannot release the heal lock",
			       "error", r->err->msg, NULL);
		backoff_sleep(&backoff, 1000);
	}
	if (st != EM_OK)
		return st;
	em_log(EM_LOG_INFO, "added back as a learner", "member",
	       hex_id(r->j.new_id, idb), NULL);
	st = save(r, EM_STEP_ADDED, EM_STEP_NONE);
	em_heal_failpoint("after-add");
	return st;
}

static enum em_status step_handover(struct run *r)
{
	struct em_member_list ml;
	enum em_status st;

	st = em_gw_member_list(r->gw, NULL, &ml, r->err);
	if (st != EM_OK)
		return st;
	st = render_existing(r, &ml);
	em_member_list_free(&ml);
	if (st == EM_OK)
		st = save(r, EM_STEP_HANDED_OVER, EM_STEP_NONE);
	if (st != EM_OK)
		return st;
	em_heal_failpoint("after-handover");
	return outcome(r, EM_HEAL_START, "member %s added as a learner; "
	               "start etcd with the rendered config, then run heal "
	               "again to promote it", r->cfg->etcd.name);
}

/* ---- catching up and promoting ------------------------------------------ */

/* The learner's applied index and the leader's raft index, as far as they
 * answer. */
/*
 * A learner that is still catching up does not answer client requests, so
 * asking it must not hold up the promotion: its progress is read through a
 * client with a short timeout of its own.
 */
#define PROGRESS_TIMEOUT_MS 400

static void progress(struct run *r, const struct em_member_list *ml)
{
	const struct em_strv *own = &r->cfg->etcd.advertise_client_urls;
	struct em_gw_config gc;
	struct em_gw *quick = NULL;
	struct em_gw_status st;
	const struct em_member *leader;
	struct em_error e;
	bool answered = false;

	em_gw_config_from(r->cfg, &gc);
	gc.timeout_ms = PROGRESS_TIMEOUT_MS;
	gc.connect_timeout_ms = PROGRESS_TIMEOUT_MS;
	if (em_gw_new(&gc, &quick, &e) != EM_OK)
		return;
	for (size_t i = 0; i < own->n && !answered; i++) {
		answered = em_gw_status(quick, own->v[i], &st, &e) == EM_OK;
		if (!answered)
			memcpy(r->progress_why, e.msg, sizeof(r->progress_why));
	}
	if (!answered) {
		em_gw_free(quick);
		return;
	}
	r->progress_why[0] = '\0';
	r->res->learner_applied = st.raft_applied_index;
	leader = st.leader != 0 ? cluster_find(ml, st.leader, NULL) : NULL;
	for (size_t u = 0; leader != NULL && u < leader->n_client_urls; u++)
		if (em_gw_status(r->gw, leader->client_urls[u], &st, &e) ==
		    EM_OK) {
			r->res->leader_index = st.raft_index;
			break;
		}
	em_gw_free(quick);
}

/* etcd promotes a learner whose log reaches 90% of the leader's; the
 * applied index trails the log a little, so ask from there on. */
static bool looks_ready(const struct em_heal_result *res)
{
	return res->leader_index > 0 &&
	       res->learner_applied * 10 >= res->leader_index * 9;
}

static void log_progress(uint64_t id, const struct run *r)
{
	const struct em_heal_result *res = r->res;
	char idb[20], a[24], l[24];

	if (r->progress_why[0] != '\0') {
		/* Promotion is still asked for every 500 ms: etcd's answer
		 * is the readiness that counts. */
		em_log(EM_LOG_INFO, "learner catching up; its progress cannot "
		       "be read", "member", hex_id(id, idb), "why",
		       r->progress_why, NULL);
		return;
	}
	snprintf(a, sizeof(a), "%" PRIu64, res->learner_applied);
	snprintf(l, sizeof(l), "%" PRIu64, res->leader_index);
	em_log(EM_LOG_INFO, "learner catching up", "member", hex_id(id, idb),
	       "applied", a, "leader_index", l, NULL);
}

/*
 * Promotes once etcd says the learner is in sync.  Its progress is read
 * every 200 ms and promotion asked for when it looks ready, and every
 * 500 ms regardless, until the promote timeout; the lock is kept alive
 * meanwhile.
 */
static enum em_status promote(struct run *r, uint64_t id, bool *done)
{
	const struct timespec tick = { 0, 200 * 1000000L };
	uint64_t start = now_ms(), next_log = start, next_try = start;
	uint64_t deadline = start + r->cfg->heal.promote_timeout_s * 1000ull;
	uint64_t next_lock = start + 5000;
	char idb[20];

	*done = false;
	for (;;) {
		struct em_member_list ml;
		enum em_status st;

		if (em_gw_member_list(r->gw, NULL, &ml, r->err) == EM_OK) {
			progress(r, &ml);
			em_member_list_free(&ml);
		}
		if (looks_ready(r->res) || now_ms() >= next_try) {
			em_heal_failpoint("before-promote");
			st = em_gw_member_promote(r->gw, id, r->err);
			if (st == EM_OK || r->err->code == EM_GW_NOT_LEARNER) {
				*done = true;
				return EM_OK;
			}
			if (!em_gw_retryable(r->err->code) &&
			    r->err->code != EM_GW_LEARNER_NOT_READY)
				return st;
			/* A refused promotion costs etcd one check: asking
			 * often keeps us close behind etcd's own readiness,
			 * which counts the learner's log, not what it has
			 * applied. */
			next_try = now_ms() + 500;
		}
		if (now_ms() >= next_log) {
			log_progress(id, r);
			next_log = now_ms() + 5000;
		}
		if (now_ms() >= deadline)
			return em_error_set(r->err, EM_EBUSY, "learner %s has "
			                    "not caught up after %u s: applied "
			                    "index %" PRIu64 ", leader's %" PRIu64,
			                    hex_id(id, idb),
			                    r->cfg->heal.promote_timeout_s,
			                    r->res->learner_applied,
			                    r->res->leader_index);
		if (r->j.lease != 0 && now_ms() >= next_lock) {
			if (lock_refresh(r->cfg, r->gw, &r->j, r->err) != EM_OK)
				em_log(EM_LOG_WARN, "cannot keep the heal lock",
				       "error", r->err->msg, NULL);
			next_lock = now_ms() + 5000;
		}
		nanosleep(&tick, NULL);
	}
}

/* The end of a replacement: a voter again, lock released, journal gone. */
static enum em_status finish(struct run *r)
{
	enum em_status st;

	if (r->j.step < EM_STEP_PROMOTED) {
		st = save(r, EM_STEP_PROMOTED, EM_STEP_NONE);
		if (st != EM_OK)
			return st;
		em_heal_failpoint("after-promote");
	}
	if (r->j.lease != 0 || r->j.token[0] != '\0') {
		st = lock_release(r->cfg, r->gw, &r->j, r->err);
		if (st != EM_OK)
			return st;
		em_heal_failpoint("after-unlock");
	}
	r->j.step = EM_STEP_DONE;
	return journal_remove(r->cfg->heal.journal, r->err);
}

/* etcd runs: a learner is promoted once in sync; a voter needs nothing. */
static enum em_status while_running(struct run *r, bool journal)
{
	struct em_member_list ml;
	const struct em_member *self;
	enum em_status st;
	uint64_t id;
	bool learner, done;
	char idb[20];

	/* The member list alone: a learner still catching up does not
	 * answer its own status yet, and need not. */
	st = em_gw_member_list(r->gw, NULL, &ml, r->err);
	if (st != EM_OK)
		return st;
	self = cluster_find_self(r->cfg, &ml);
	learner = self != NULL && self->is_learner;
	id = self ? self->id : 0;
	em_member_list_free(&ml);
	if (id == 0)
		return outcome(r, EM_HEAL_REFUSED, "etcd runs, but the cluster "
		               "does not list this member (%s)",
		               r->cfg->etcd.name);
	if (learner) {
		st = promote(r, id, &done);
		if (st != EM_OK)
			return outcome(r, EM_HEAL_FAILED, "%s", r->err->msg);
		em_log(EM_LOG_INFO, "learner promoted to voter", "member",
		       hex_id(id, idb), NULL);
	}
	if (journal) {
		st = finish(r);
		if (st != EM_OK)
			return outcome(r, EM_HEAL_FAILED, "%s", r->err->msg);
	}
	return outcome(r, learner ? EM_HEAL_PROMOTED : EM_HEAL_NOTHING,
	               learner ? "member %s promoted to voter" :
	               "member %s runs as a voter", r->cfg->etcd.name);
}

/* ---- the replacement, from the lock to the hand-over -------------------- */

static enum em_status replace_from(struct run *r)
{
	enum em_status st = EM_OK;

	if (r->j.step < EM_STEP_REMOVED)
		st = step_remove(r);
	if (st == EM_OK && r->j.step < EM_STEP_QUARANTINED)
		st = step_quarantine(r);
	if (st == EM_OK && r->j.step < EM_STEP_ADDED)
		st = step_add(r);
	if (st == EM_OK)
		return step_handover(r);
	if (r->j.lease != 0) {
		/* Others may go first meanwhile; the journal resumes ours. */
		struct em_error keep = *r->err;
		lock_release(r->cfg, r->gw, &r->j, r->err);
		journal_save(r->cfg->heal.journal, &r->j, r->err);
		*r->err = keep;
	}
	return outcome(r, EM_HEAL_FAILED, "%s (the journal %s resumes at "
	               "step %s)", r->err->msg, r->cfg->heal.journal,
	               em_heal_step_name(r->j.doing ? r->j.doing :
	                                 r->j.step + 1));
}

/* Rule 2 and the one-learner rule, checked again under the lock. */
static bool safe_to_remove(struct run *r, char *why, size_t n)
{
	struct cluster_view cv;
	bool ok;

	if (cluster_view(r->cfg, r->gw, &cv, r->err) != EM_OK) {
		snprintf(why, n, "cannot read the member list: %.400s", r->err->msg);
		return false;
	}
	ok = r->j.old_id == 0 || cluster_quorum_without_self(&cv);
	if (!ok)
		snprintf(why, n, "%s", cv.why);
	else if (cv.learners > (cv.self && cv.self->is_learner)) {
		/* One replacement at a time: another one's learner has not
		 * been promoted yet (its lock may have expired). */
		snprintf(why, n, "another member is a learner that has not "
		         "been promoted yet; one replacement at a time");
		ok = false;
	}
	else if (cv.self_answers && r->j.old_id != 0) {
		snprintf(why, n, "this member's etcd answers on its client URL "
		         "although its data dir is %s: is the data dir right?",
		         em_verdict_name(r->j.verdict));
		ok = false;
	}
	cluster_view_free(&cv);
	return ok;
}

/* Starts a replacement: journal, lock, checks, then the steps. */
static enum em_status replace(struct run *r, const struct cluster_view *cv,
                              enum em_verdict v)
{
	char why[512];
	enum em_status st;
	bool got;

	/* Refuse at once what the lock could not make safe: the view the
	 * decision was made on already fails the quorum rule. */
	if (cv->self != NULL && !cv->self->is_learner &&
	    !cluster_quorum_without_self((struct cluster_view *)cv))
		return outcome(r, EM_HEAL_REFUSED, "%s; nothing was changed: "
		               "bring the other members back (or restore a "
		               "quorum), then run heal again", cv->why);
	snprintf(r->j.member, sizeof(r->j.member), "%s", r->cfg->etcd.name);
	if (r->cfg->etcd.initial_advertise_peer_urls.n > 0)
		snprintf(r->j.peer_url, sizeof(r->j.peer_url), "%s",
		         r->cfg->etcd.initial_advertise_peer_urls.v[0]);
	r->j.verdict = v;
	r->j.cluster_id = cv->cluster_id;
	r->j.old_id = cv->self ? cv->self->id : 0;
	r->j.started = (int64_t)time(NULL);
	snprintf(r->j.token, sizeof(r->j.token), "%s@%lld", r->j.member,
	         (long long)r->j.started);
	st = save(r, EM_STEP_ASSESSED, EM_STEP_NONE);
	if (st != EM_OK)
		return st;
	em_heal_failpoint("after-assess");
	st = lock_acquire(r->cfg, r->gw, &r->j, &got, why, sizeof(why),
	                  r->err);
	if (st == EM_OK && got && !safe_to_remove(r, why, sizeof(why))) {
		lock_release(r->cfg, r->gw, &r->j, r->err);
		got = false;
	}
	if (st != EM_OK || !got) {
		/* Nothing changed in the cluster: the next run starts over. */
		journal_remove(r->cfg->heal.journal, r->err);
		return outcome(r, EM_HEAL_REFUSED, "%s",
		               st != EM_OK ? r->err->msg : why);
	}
	st = save(r, EM_STEP_LOCKED, EM_STEP_NONE);
	if (st != EM_OK)
		return st;
	em_heal_failpoint("after-lock");
	return replace_from(r);
}

/* ---- deciding, from the verdict and the cluster -------------------------- */

/* Rule 8: a single-member cluster's data comes back from a snapshot. */
static enum em_status restore(struct run *r, enum em_verdict v,
                              const char *refusal)
{
	char why[512];
	bool done;

	if (!r->cfg->heal.enabled)
		return outcome(r, EM_HEAL_REFUSED, "%s (heal.enabled is false: "
		               "judging and reporting only)", refusal);
	if (restore_run(r->cfg, v, &done, why, sizeof(why), r->err) != EM_OK)
		return outcome(r, EM_HEAL_FAILED, "restoring from a snapshot "
		               "failed: %s", r->err->msg);
	if (!done)
		return outcome(r, EM_HEAL_REFUSED, "%s; %s", refusal, why);
	if (render(r, NULL, NULL) != EM_OK)
		return outcome(r, EM_HEAL_FAILED, "%s", r->err->msg);
	return outcome(r, EM_HEAL_START, "%s", why);
}

/* The cluster cannot be asked: a healthy member starts as it is (peers
 * come up later); an empty one only bootstraps a new cluster. */
static enum em_status no_cluster(struct run *r, enum em_verdict v)
{
	const char *state = r->cfg->etcd.initial_cluster_state;

	if (v == EM_VERDICT_HEALTHY) {
		em_log(EM_LOG_WARN, "no member answers; starting on the data "
		       "dir as it is", "error", r->err->msg, NULL);
		if (render(r, NULL, "existing") != EM_OK)
			return outcome(r, EM_HEAL_FAILED, "%s", r->err->msg);
		return outcome(r, EM_HEAL_START, "data dir healthy; the "
		               "cluster does not answer yet");
	}
	if ((v == EM_VERDICT_CORRUPT || v == EM_VERDICT_EMPTY) &&
	    restore_single_member(r->cfg) && r->cfg->backup.store != NULL &&
	    r->cfg->backup.restore_on_init && r->cfg->heal.enabled) {
		char refusal[160];

		snprintf(refusal, sizeof(refusal), "the data dir of this "
		         "single-member cluster is %s", em_verdict_name(v));
		/* An empty data dir of a new single-member cluster with no
		 * snapshot to restore bootstraps, as below. */
		restore(r, v, refusal);
		if (r->res->outcome != EM_HEAL_REFUSED ||
		    v != EM_VERDICT_EMPTY || !state ||
		    strcmp(state, "new") != 0)
			return EM_OK;
	}
	if (v == EM_VERDICT_EMPTY && state && strcmp(state, "new") == 0) {
		if (render(r, NULL, NULL) != EM_OK)
			return outcome(r, EM_HEAL_FAILED, "%s", r->err->msg);
		return outcome(r, EM_HEAL_START, "empty data dir and no "
		               "cluster yet: bootstrapping a new one");
	}
	return outcome(r, EM_HEAL_REFUSED, "the data dir is %s and no member "
	               "of the cluster answers (%s): without a quorum there "
	               "is nothing to heal from; retry when the cluster is "
	               "back, or restore from a snapshot",
	               em_verdict_name(v), r->err->msg);
}

/*
 * Endpoints that lead to another cluster must never start a replacement
 * there (it would add this member to a cluster it never belonged to).  The
 * WAL names the cluster this member belonged to; failing that, at least
 * one member must have a peer URL that etcd's initial-cluster names.
 */
static bool foreign(struct run *r, const struct cluster_view *cv,
                    uint64_t wal_cluster, char *why, size_t n)
{
	const char *ic = r->cfg->etcd.initial_cluster;

	if (wal_cluster != 0 && wal_cluster != cv->cluster_id) {
		snprintf(why, n, "the endpoints answer for cluster %" PRIx64
		         ", but this member's WAL belongs to cluster %" PRIx64,
		         cv->cluster_id, wal_cluster);
		return true;
	}
	for (size_t i = 0; ic && i < cv->list.n; i++)
		for (size_t k = 0; k < cv->list.members[i].n_peer_urls; k++)
			if (strstr(ic, cv->list.members[i].peer_urls[k]))
				return false;
	snprintf(why, n, "no member of cluster %" PRIx64 " at the endpoints "
	         "has a peer URL that initial-cluster names: another "
	         "cluster?", cv->cluster_id);
	return ic != NULL;
}

static enum em_status decide(struct run *r, enum em_verdict v,
                             uint64_t wal_cluster)
{
	struct cluster_view cv;
	enum em_status st;
	char why[512];

	if (cluster_view(r->cfg, r->gw, &cv, r->err) != EM_OK)
		return no_cluster(r, v);
	st = EM_OK;
	if (foreign(r, &cv, wal_cluster, why, sizeof(why))) {
		outcome(r, EM_HEAL_REFUSED, "%s", why);
	} else if (v == EM_VERDICT_HEALTHY) {
		if (cv.self == NULL)
			outcome(r, EM_HEAL_REFUSED, "the data dir is healthy but "
			        "the cluster does not list member %s (removed "
			        "by hand?): etcd would exit at once; move the "
			        "data dir away to join as a new member",
			        r->cfg->etcd.name);
		else if ((st = render_existing(r, &cv.list)) == EM_OK)
			outcome(r, EM_HEAL_START, "data dir healthy");
	} else if (v == EM_VERDICT_EMPTY && cv.self != NULL &&
	           cv.self->name[0] == '\0') {
		/* Listed but never started: added for us, to join empty. */
		if ((st = render_existing(r, &cv.list)) == EM_OK)
			outcome(r, EM_HEAL_START, "joining as the member the "
			        "cluster expects");
	} else if (!r->cfg->heal.enabled) {
		outcome(r, EM_HEAL_REFUSED, "the data dir is %s and needs a "
		        "replacement, but heal.enabled is false: judging and "
		        "reporting only", em_verdict_name(v));
	} else if (cv.self != NULL && cv.voters == 1 && !cv.self->is_learner) {
		char refusal[256];

		snprintf(refusal, sizeof(refusal), "the data dir is %s and "
		         "this is the only voting member: there is no peer to "
		         "heal from; restore it from a snapshot",
		         em_verdict_name(v));
		st = restore(r, v, refusal);
	} else {
		st = replace(r, &cv, v);
	}
	cluster_view_free(&cv);
	return st;
}

static enum em_status fresh(struct run *r)
{
	struct em_datadir_result dd;
	enum em_verdict v;
	enum em_status st;

	uint64_t wal_cluster;

	st = em_datadir_check(r->cfg->etcd.data_dir, r->cfg->etcd.wal_dir,
	                      r->mode, &dd, r->err);
	v = dd.report.verdict;
	if (st == EM_OK && r->mode == EM_CHECK_SANITY &&
	    (v == EM_VERDICT_CORRUPT || v == EM_VERDICT_EMPTY)) {
		/* Never act on the quick look: confirm it. */
		em_datadir_result_free(&dd);
		st = em_datadir_check(r->cfg->etcd.data_dir,
		                      r->cfg->etcd.wal_dir, EM_CHECK_FULL, &dd,
		                      r->err);
		v = dd.report.verdict;
	}
	wal_cluster = dd.wal.have_metadata ? dd.wal.cluster_id : 0;
	if (st == EM_OK && v == EM_VERDICT_CORRUPT && dd.report.n_evidence)
		em_log(EM_LOG_WARN, "data dir is corrupt", "file",
		       dd.report.evidence[0].file, "reason",
		       dd.report.evidence[0].text, NULL);
	em_datadir_result_free(&dd);
	if (st != EM_OK)
		return st;
	r->res->verdict = v;
	if (v == EM_VERDICT_IN_USE)
		return while_running(r, false);
	if (v == EM_VERDICT_UNREADABLE)
		return outcome(r, EM_HEAL_REFUSED, "the data dir %s cannot be "
		               "read: an unreadable data dir is never judged "
		               "or moved", r->cfg->etcd.data_dir);
	return decide(r, v, wal_cluster);
}

/*
 * Handed over, and etcd is not running: not started yet, or it stopped.
 * The same config again, unless the new learner's data is corrupt itself
 * (its etcd died while catching up): then replace the learner.
 */
static enum em_status handed_over_again(struct run *r)
{
	struct em_datadir_result dd;
	enum em_verdict v;
	enum em_status st;
	char why[512];
	bool got;

	st = em_datadir_check(r->cfg->etcd.data_dir, r->cfg->etcd.wal_dir,
	                      EM_CHECK_FULL, &dd, r->err);
	v = dd.report.verdict;
	em_datadir_result_free(&dd);
	if (st != EM_OK)
		return st;
	if (v != EM_VERDICT_CORRUPT)
		return step_handover(r);
	em_log(EM_LOG_WARN, "the new learner's data dir is corrupt too; "
	       "replacing the learner", NULL);
	st = lock_acquire(r->cfg, r->gw, &r->j, &got, why, sizeof(why), r->err);
	if (st != EM_OK || !got)
		return outcome(r, EM_HEAL_FAILED, "%s", st != EM_OK ?
		               r->err->msg : why);
	r->j.old_id = r->j.new_id;
	r->j.new_id = 0;
	r->j.verdict = EM_VERDICT_CORRUPT;
	r->j.quarantine[0] = '\0';
	st = save(r, EM_STEP_LOCKED, EM_STEP_NONE);
	return st != EM_OK ? st : replace_from(r);
}

/* A journal exists: pick up where the last run stopped. */
static enum em_status resume(struct run *r)
{
	struct em_datadir_result dd;
	enum em_verdict v;
	enum em_status st;
	char why[512];
	bool got;

	em_log(EM_LOG_INFO, "resuming a replacement", "journal",
	       r->cfg->heal.journal, "step", em_heal_step_name(r->j.step),
	       "doing", em_heal_step_name(r->j.doing), NULL);
	r->res->verdict = r->j.verdict;
	if (r->j.step < EM_STEP_LOCKED) {
		/* Nothing was changed: judge afresh. */
		st = journal_remove(r->cfg->heal.journal, r->err);
		return st != EM_OK ? st : fresh(r);
	}
	if (r->j.step >= EM_STEP_HANDED_OVER) {
		st = em_datadir_check(r->cfg->etcd.data_dir,
		                      r->cfg->etcd.wal_dir, EM_CHECK_SANITY,
		                      &dd, r->err);
		v = dd.report.verdict;
		em_datadir_result_free(&dd);
		if (st != EM_OK)
			return st;
		if (v == EM_VERDICT_IN_USE || r->j.step >= EM_STEP_PROMOTED)
			return while_running(r, true);
		return handed_over_again(r);
	}
	if (r->j.step < EM_STEP_REMOVED) {
		st = lock_acquire(r->cfg, r->gw, &r->j, &got, why, sizeof(why),
		                  r->err);
		if (st != EM_OK || !got)
			return outcome(r, EM_HEAL_FAILED, "%s", st != EM_OK ?
			               r->err->msg : why);
	}
	return replace_from(r);
}

static enum em_status run_init(struct run *r, const struct em_config *cfg,
                               struct em_gw *gw, struct em_heal_result *res,
                               struct em_error *err, bool *found)
{
	memset(res, 0, sizeof(*res));
	memset(r, 0, sizeof(*r));
	r->mode = EM_CHECK_FULL;
	r->cfg = cfg;
	r->gw = gw;
	r->res = res;
	r->err = err;
	res->outcome = EM_HEAL_FAILED;
	return journal_load(cfg->heal.journal, &r->j, found, err);
}

enum em_status em_heal_run(const struct em_config *cfg, struct em_gw *gw,
                           struct em_heal_result *res, struct em_error *err)
{
	return em_heal_run_mode(cfg, gw, EM_CHECK_FULL, res, err);
}

enum em_status em_heal_run_mode(const struct em_config *cfg, struct em_gw *gw,
                                enum em_check_mode mode,
                                struct em_heal_result *res,
                                struct em_error *err)
{
	struct run r;
	enum em_status st;
	bool found;

	st = run_init(&r, cfg, gw, res, err, &found);
	r.mode = mode;
	if (st != EM_OK)
		return outcome(&r, EM_HEAL_REFUSED, "%s", err->msg);
	st = found ? resume(&r) : fresh(&r);
	if (st != EM_OK)
		return outcome(&r, EM_HEAL_FAILED, "%s", err->msg);
	return EM_OK;
}

enum em_status em_heal_promote(const struct em_config *cfg, struct em_gw *gw,
                               struct em_heal_result *res,
                               struct em_error *err)
{
	struct run r;
	enum em_status st;
	bool found;

	st = run_init(&r, cfg, gw, res, err, &found);
	if (st != EM_OK)
		return outcome(&r, EM_HEAL_REFUSED, "%s", err->msg);
	if (found && r.j.step < EM_STEP_HANDED_OVER)
		return outcome(&r, EM_HEAL_REFUSED, "the replacement stopped at "
		               "step %s: run heal without --promote first",
		               em_heal_step_name(r.j.step));
	st = while_running(&r, found);
	if (st != EM_OK)
		return outcome(&r, EM_HEAL_FAILED, "%s", err->msg);
	return EM_OK;
}
