/*
 * sidecar.c - initialization runs, their state and config, and the watch
 * (see sidecar.h).
 *
 * One mutex guards the state the HTTP thread reads and the worker writes.
 * The worker has its own gateway client (clients are not thread-safe) and
 * holds no lock while it talks to etcd or reads the disk.
 */
#include "etcd-medic/sidecar.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "etcd-medic/backup_runner.h"
#include "etcd-medic/cli.h"
#include "etcd-medic/gateway.h"
#include "etcd-medic/heal.h"
#include "etcd-medic/log.h"
#include "etcd-medic/metrics.h"
#include "etcd-medic/watch.h"

struct em_sidecar {
	const struct em_config *cfg;
	pthread_mutex_t mu;
	enum em_init_state state;
	bool running;                 /* a worker thread is under way */
	enum em_check_mode mode;      /* of the current or last run */
	struct em_heal_result last;   /* of the last finished run */
	bool have_last;
	char error[512];              /* why the last run failed */
	time_t started, finished;
	char *config;                 /* of the last successful run */
	struct em_watch *watch;
	struct em_backup_runner *backups;  /* schedule, /snapshot/... */
};

static const char *const state_names[] = {
	[EM_INIT_NEW] = "New",
	[EM_INIT_PROGRESS] = "Progress",
	[EM_INIT_SUCCESSFUL] = "Successful",
	[EM_INIT_FAILED] = "Failed",
};

const char *em_init_state_name(enum em_init_state s)
{
	return (size_t)s < sizeof(state_names) / sizeof(state_names[0]) ?
	       state_names[s] : "New";
}

static void state_metric(enum em_init_state s)
{
	for (int i = EM_INIT_NEW; i <= EM_INIT_FAILED; i++) {
		char label[32];
		snprintf(label, sizeof(label), "state=%s",
		         em_init_state_name((enum em_init_state)i));
		em_metric_set("etcd_medic_init_state", label, i == (int)s);
	}
}

enum em_status em_sidecar_new(const struct em_config *cfg,
                              struct em_sidecar **out, struct em_error *err)
{
	struct em_sidecar *sc = calloc(1, sizeof(*sc));
	enum em_status st;

	*out = NULL;
	if (sc == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	sc->cfg = cfg;
	pthread_mutex_init(&sc->mu, NULL);
	st = em_watch_start(cfg, &sc->watch, err);
	if (st == EM_OK)
		st = em_backup_runner_start(cfg, &sc->backups, err);
	if (st != EM_OK) {
		em_watch_stop(sc->watch);
		pthread_mutex_destroy(&sc->mu);
		free(sc);
		return st;
	}
	state_metric(EM_INIT_NEW);
	*out = sc;
	return EM_OK;
}

bool em_sidecar_free(struct em_sidecar *sc)
{
	bool running;

	if (sc == NULL)
		return true;
	em_watch_stop(sc->watch);
	if (!em_backup_runner_stop(sc->backups))
		return false;   /* a snapshot under way: left to the exit */
	sc->backups = NULL;
	pthread_mutex_lock(&sc->mu);
	running = sc->running;
	pthread_mutex_unlock(&sc->mu);
	if (running)
		return false;
	em_heal_result_free(&sc->last);
	free(sc->config);
	pthread_mutex_destroy(&sc->mu);
	free(sc);
	return true;
}

static void count_run(enum em_check_mode mode, const struct em_heal_result *r,
                      double seconds)
{
	char label[96];

	snprintf(label, sizeof(label), "mode=%s,verdict=%s",
	         em_check_mode_name(mode), em_verdict_name(r->verdict));
	em_metric_add("etcd_medic_validations_total", label, 1);
	snprintf(label, sizeof(label), "mode=%s", em_check_mode_name(mode));
	em_metric_set("etcd_medic_validation_duration_seconds", label, seconds);
	snprintf(label, sizeof(label), "outcome=%s",
	         em_heal_outcome_name(r->outcome));
	em_metric_add("etcd_medic_heal_runs_total", label, 1);
	for (int s = EM_STEP_NONE; s <= EM_STEP_DONE; s++) {
		snprintf(label, sizeof(label), "step=%s",
		         em_heal_step_name((enum em_heal_step)s));
		em_metric_set("etcd_medic_heal_step", label, s == (int)r->step);
	}
}

/* The run itself, on the worker thread: no lock held while it works. */
static void run_once(struct em_sidecar *sc, enum em_check_mode mode,
                     struct em_heal_result *res, char *error, size_t n)
{
	struct em_gw_config gc;
	struct em_gw *gw = NULL;
	struct em_error err;

	memset(res, 0, sizeof(*res));
	res->outcome = EM_HEAL_FAILED;
	em_error_clear(&err);
	em_gw_config_from(sc->cfg, &gc);
	if (em_gw_new(&gc, &gw, &err) != EM_OK ||
	    em_heal_run_mode(sc->cfg, gw, mode, res, &err) != EM_OK) {
		res->outcome = EM_HEAL_FAILED;
		snprintf(res->reason, sizeof(res->reason), "%s", err.msg);
	}
	em_gw_free(gw);
	snprintf(error, n, "%s", res->outcome == EM_HEAL_START ? "" :
	         res->reason);
}

static void *worker(void *arg)
{
	struct em_sidecar *sc = arg;
	struct em_heal_result res;
	enum em_check_mode mode;
	enum em_init_state state;
	char error[512];
	struct timespec t0, t1;

	pthread_mutex_lock(&sc->mu);
	mode = sc->mode;
	pthread_mutex_unlock(&sc->mu);
	em_log(EM_LOG_INFO, "initialization started", "mode",
	       em_check_mode_name(mode), NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_once(sc, mode, &res, error, sizeof(error));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	count_run(mode, &res, (double)(t1.tv_sec - t0.tv_sec) +
	          (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	state = res.outcome == EM_HEAL_START ? EM_INIT_SUCCESSFUL :
	        EM_INIT_FAILED;
	em_log(state == EM_INIT_SUCCESSFUL ? EM_LOG_INFO : EM_LOG_ERROR,
	       res.reason, "initialization", em_init_state_name(state),
	       "outcome", em_heal_outcome_name(res.outcome), "step",
	       em_heal_step_name(res.step), NULL);
	pthread_mutex_lock(&sc->mu);
	if (state == EM_INIT_SUCCESSFUL) {
		free(sc->config);
		sc->config = res.etcd_config;
		res.etcd_config = NULL;
	}
	em_heal_result_free(&sc->last);
	sc->last = res;
	sc->have_last = true;
	snprintf(sc->error, sizeof(sc->error), "%s", error);
	sc->finished = time(NULL);
	sc->state = state;
	sc->running = false;
	state_metric(state);
	pthread_mutex_unlock(&sc->mu);
	em_watch_kick(sc->watch);
	malloc_trim(0);   /* what the run freed, back to the kernel */
	return NULL;
}

bool em_sidecar_init_start(struct em_sidecar *sc, enum em_check_mode mode)
{
	pthread_attr_t attr;
	pthread_t t;
	bool ok = true;

	pthread_mutex_lock(&sc->mu);
	if (!sc->running) {
		sc->running = true;
		sc->mode = mode;
		sc->state = EM_INIT_PROGRESS;
		sc->started = time(NULL);
		sc->error[0] = '\0';
		state_metric(EM_INIT_PROGRESS);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, worker, sc) != 0) {
			sc->running = false;
			sc->state = EM_INIT_FAILED;
			snprintf(sc->error, sizeof(sc->error), "cannot start "
			         "the initialization thread");
			ok = false;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&sc->mu);
	return ok;
}

enum em_init_state em_sidecar_init_state(struct em_sidecar *sc, bool consume)
{
	enum em_init_state s;

	pthread_mutex_lock(&sc->mu);
	s = sc->state;
	if (consume && (s == EM_INIT_SUCCESSFUL || s == EM_INIT_FAILED)) {
		sc->state = EM_INIT_NEW;
		state_metric(EM_INIT_NEW);
	}
	pthread_mutex_unlock(&sc->mu);
	return s;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_time(json_object *o, const char *k, time_t t)
{
	char buf[32];
	struct tm tm;

	if (t == 0)
		return;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	add_str(o, k, buf);
}

static json_object *watch_json(struct em_sidecar *sc)
{
	struct em_watch_state ws;
	json_object *o = json_object_new_object();
	char id[24];

	em_watch_get(sc->watch, &ws);
	json_object_object_add(o, "etcd_answers",
	                       json_object_new_boolean(ws.etcd_answers));
	json_object_object_add(o, "voter", json_object_new_boolean(ws.is_voter));
	json_object_object_add(o, "learner",
	                       json_object_new_boolean(ws.is_learner));
	json_object_object_add(o, "has_leader",
	                       json_object_new_boolean(ws.has_leader));
	snprintf(id, sizeof(id), "%" PRIx64, ws.member_id);
	add_str(o, "member_id", id);
	json_object_object_add(o, "raft_applied_index",
	                       json_object_new_uint64(ws.raft_applied_index));
	json_object_object_add(o, "leader_raft_index",
	                       json_object_new_uint64(ws.leader_raft_index));
	add_str(o, "alarms", ws.alarms);
	json_object_object_add(o, "data_dir_gone",
	                       json_object_new_boolean(ws.data_dir_gone));
	add_str(o, "hash_check", ws.hash_check > 0 ? "equal" :
	        ws.hash_check < 0 ? "divergent" : "not run");
	add_str(o, "hash_detail", ws.hash_detail);
	add_time(o, "last_run", ws.last_run);
	add_str(o, "last_error", ws.last_error);
	return o;
}

char *em_sidecar_status_json(struct em_sidecar *sc)
{
	json_object *o = json_object_new_object(), *w;
	char *out;

	w = watch_json(sc);
	pthread_mutex_lock(&sc->mu);
	add_str(o, "state", em_init_state_name(sc->state));
	add_str(o, "mode", em_check_mode_name(sc->mode));
	add_time(o, "started", sc->started);
	add_time(o, "finished", sc->finished);
	if (sc->have_last) {
		const struct em_heal_result *r = &sc->last;
		char id[24];
		add_str(o, "verdict", em_verdict_name(r->verdict));
		add_str(o, "outcome", em_heal_outcome_name(r->outcome));
		add_str(o, "step", em_heal_step_name(r->step));
		add_str(o, "reason", r->reason);
		if (r->old_id) {
			snprintf(id, sizeof(id), "%" PRIx64, r->old_id);
			add_str(o, "removed_member", id);
		}
		if (r->new_id) {
			snprintf(id, sizeof(id), "%" PRIx64, r->new_id);
			add_str(o, "learner_member", id);
		}
		if (r->quarantine[0])
			add_str(o, "quarantine", r->quarantine);
	}
	add_str(o, "error", sc->error);
	pthread_mutex_unlock(&sc->mu);
	json_object_object_add(o, "watch", w);
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

char *em_sidecar_config(struct em_sidecar *sc, char *why, size_t n)
{
	char *out = NULL;

	pthread_mutex_lock(&sc->mu);
	if (sc->config != NULL)
		out = strdup(sc->config);
	else if (sc->running)
		snprintf(why, n, "initialization in progress");
	else
		snprintf(why, n, "no successful initialization yet%s%s",
		         sc->error[0] ? ": " : "", sc->error);
	pthread_mutex_unlock(&sc->mu);
	return out;
}

bool em_sidecar_ready(struct em_sidecar *sc, char *why, size_t n)
{
	struct em_watch_state ws;

	em_watch_get(sc->watch, &ws);
	if (!ws.etcd_answers)
		snprintf(why, n, "etcd does not answer on its client URL%s%s",
		         ws.last_error[0] ? ": " : "", ws.last_error);
	else if (!ws.has_leader)
		snprintf(why, n, "etcd has no leader");
	else if (!ws.is_voter)
		snprintf(why, n, "this member is not a voting member yet%s",
		         ws.is_learner ? " (a learner catching up)" : "");
	else if (ws.data_dir_gone)
		snprintf(why, n, "the member dir was removed under etcd");
	else
		return true;
	return false;
}

bool em_sidecar_healthy(struct em_sidecar *sc)
{
	struct em_watch_state ws;

	/* The watch thread records each round: a stalled watch for more
	 * than a few intervals means the sidecar does not work. */
	em_watch_get(sc->watch, &ws);
	return ws.last_run == 0 ||
	       time(NULL) - ws.last_run <=
	       (time_t)(sc->cfg->watch.interval_s * 3 +
	                sc->cfg->heal.promote_timeout_s + 30);
}

enum em_backup_request em_sidecar_snapshot_now(struct em_sidecar *sc)
{
	return em_backup_runner_take(sc->backups);
}

char *em_sidecar_snapshot_latest(struct em_sidecar *sc)
{
	if (sc->backups == NULL)
		return NULL;
	return em_backup_runner_latest_json(sc->backups);
}
