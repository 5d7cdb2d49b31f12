/*
 * heal.h - replacing this member when its data is lost or corrupt, through
 * etcd's learner mechanism, without ever risking the cluster's quorum.
 *
 * The rules are DESIGN.md's "heal rules".  One run of em_heal_run does what
 * the member needs next and returns:
 *
 *   - before etcd starts (its data dir is not in use): judge the data dir;
 *     if it is healthy, or a new member of a new cluster, there is nothing
 *     to heal: the config etcd starts with is rendered.  If it is corrupt
 *     (or empty while the cluster still lists this member), and the other
 *     voters hold a quorum with one leader and one cluster ID, take the
 *     cluster-wide lock, remove this member, move its data dir aside, add
 *     it back as a learner, and render the config it must start with
 *     (initial-cluster-state: existing).  A member the cluster does not
 *     list, with an empty data dir, joins as a learner without a removal.
 *   - while etcd runs (the db is locked): if this member is a learner, wait
 *     for it to catch up with the leader, promote it, release the lock.
 *
 * Every step is written to a journal (fsync, atomic rename) before and
 * after it is taken, so that a run killed anywhere resumes where it was
 * and converges.  Only a `corrupt` verdict ever moves a data dir.
 */
#ifndef ETCD_MEDIC_HEAL_H
#define ETCD_MEDIC_HEAL_H

#include <stdbool.h>
#include <stdint.h>

#include "etcd-medic/config.h"
#include "etcd-medic/error.h"
#include "etcd-medic/gateway.h"
#include "etcd-medic/report.h"

/* The steps, in order; the journal records the last one completed. */
enum em_heal_step {
	EM_STEP_NONE = 0,
	EM_STEP_ASSESSED,     /* verdict and cluster view taken */
	EM_STEP_LOCKED,       /* the cluster-wide lock is ours */
	EM_STEP_REMOVED,      /* the old member is gone from the cluster */
	EM_STEP_QUARANTINED,  /* the data dir was moved aside */
	EM_STEP_ADDED,        /* this member is back, as a learner */
	EM_STEP_HANDED_OVER,  /* etcd may start, with the rendered config */
	EM_STEP_PROMOTED,     /* a voter again */
	EM_STEP_DONE,         /* lock released, journal closed */
};

const char *em_heal_step_name(enum em_heal_step step);

/* How a run ended. */
enum em_heal_outcome {
	EM_HEAL_START,        /* start etcd with res->etcd_config */
	EM_HEAL_PROMOTED,     /* this member was a learner and is a voter now */
	EM_HEAL_NOTHING,      /* etcd runs as a voter: nothing to do */
	EM_HEAL_REFUSED,      /* not safe now (quorum, lock, in doubt): retry */
	EM_HEAL_FAILED,       /* could not finish a step; the journal resumes */
};

const char *em_heal_outcome_name(enum em_heal_outcome outcome);

/* What a run learnt and did; free with em_heal_result_free. */
struct em_heal_result {
	enum em_heal_outcome outcome;
	enum em_heal_step step;       /* the last step completed */
	enum em_verdict verdict;      /* of the local data dir */
	char reason[512];             /* why refused/failed, or what was done */
	char *etcd_config;            /* for EM_HEAL_START: the YAML */
	uint64_t old_id;              /* the member removed, if any */
	uint64_t new_id;              /* the learner added, if any */
	char quarantine[4096];        /* where the data dir went, if moved */
	/* Catch-up of a learner: its applied index against the leader's. */
	uint64_t learner_applied;
	uint64_t leader_index;
};

void em_heal_result_free(struct em_heal_result *res);

/*
 * One heal run for the member cfg describes, talking to the cluster through
 * gw (which must reach the other members: this member's etcd may be down).
 * Returns EM_OK when the run reached an outcome (refused and failed are
 * outcomes, with res->reason); an error only when it could not run at all.
 */
enum em_status em_heal_run(const struct em_config *cfg, struct em_gw *gw,
                           struct em_heal_result *res, struct em_error *err);

/*
 * The same with the data dir judged in `mode`: sanity for a start after a
 * clean stop (a wrong "healthy" there makes etcd fail, and the launcher's
 * next start asks for a full check), full otherwise.  A replacement is
 * never started on a sanity verdict alone: corrupt or empty is confirmed
 * by a full check first.
 */
enum em_status em_heal_run_mode(const struct em_config *cfg, struct em_gw *gw,
                                enum em_check_mode mode,
                                struct em_heal_result *res,
                                struct em_error *err);

/*
 * The promotion phase alone: waits (up to heal.promote-timeout) for this
 * member, a learner, to catch up, promotes it and closes its replacement,
 * whether or not its etcd runs yet; reports progress in the log and in
 * res.  For `heal --promote`, and for the sidecar once etcd started.
 */
enum em_status em_heal_promote(const struct em_config *cfg, struct em_gw *gw,
                               struct em_heal_result *res,
                               struct em_error *err);

/*
 * Failpoints, for tests: when the environment variable EM_FAILPOINT names a
 * step boundary ("after-assess", "after-lock", "after-remove",
 * "after-quarantine", "after-add", "after-handover", "before-promote",
 * "after-promote", "after-unlock"), the process kills itself with SIGKILL
 * there, as a crash would.
 */
void em_heal_failpoint(const char *name);

#endif
