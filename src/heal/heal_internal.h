/*
 * heal_internal.h - what the parts of the heal engine (src/heal/) share:
 * the journal, the view of the cluster, the lock, the quarantine.  Not a
 * public interface: include/etcd-medic/heal.h is.
 */
#ifndef ETCD_MEDIC_HEAL_INTERNAL_H
#define ETCD_MEDIC_HEAL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "etcd-medic/config.h"
#include "etcd-medic/error.h"
#include "etcd-medic/gateway.h"
#include "etcd-medic/heal.h"
#include "etcd-medic/report.h"

/* ---- journal.c ---------------------------------------------------------- */

/*
 * The journal of one replacement, next to the data dir.  It is written
 * before a step is taken (intent: `doing`) and after (`step`), so that a
 * resumed run knows both what was done and what may have been half done.
 */
struct journal {
	enum em_heal_step step;       /* last step completed */
	enum em_heal_step doing;      /* the step under way, or NONE */
	enum em_verdict verdict;      /* what started it: corrupt or empty */
	char member[128];             /* this member's name */
	char peer_url[EM_GW_URL_MAX]; /* its first advertised peer URL */
	uint64_t cluster_id;
	uint64_t old_id;              /* the member being replaced (0: none) */
	uint64_t new_id;              /* the learner added (0: not yet) */
	int64_t lease;                /* the lock's lease (0: none) */
	char token[160];              /* the lock's value: who holds it */
	char quarantine[4096];        /* where the data dir was moved */
	int64_t started;              /* unix seconds */
	int64_t updated;
};

/* Loads the journal; *found false (and j zeroed) when there is none. */
enum em_status journal_load(const char *path, struct journal *j, bool *found,
                            struct em_error *err);
/* Writes it durably: temp file, fsync, rename, fsync of the directory. */
enum em_status journal_save(const char *path, struct journal *j,
                            struct em_error *err);
/* Removes it (the replacement is over); durable too. */
enum em_status journal_remove(const char *path, struct em_error *err);

/* ---- cluster.c ---------------------------------------------------------- */

/* The cluster as the other members see it, and this member's place in it. */
struct cluster_view {
	struct em_member_list list;
	const struct em_member *self;  /* this member, by name or peer URL */
	size_t voters;                 /* voting members, this one included */
	size_t voters_up;              /* other voters that answer, with leader */
	size_t learners;
	uint64_t leader;               /* the leader all of them report */
	uint64_t cluster_id;
	bool self_answers;             /* this member's own etcd answers */
	char why[512];                 /* why the quorum rule is not met */
};

enum em_status cluster_view(const struct em_config *cfg, struct em_gw *gw,
                            struct cluster_view *cv, struct em_error *err);
void cluster_view_free(struct cluster_view *cv);

/*
 * Rule 2: the other voters alone hold a strict majority of all voters (this
 * member counted as down), and all report one leader and one cluster ID.
 * On false, cv->why says what is missing.
 */
bool cluster_quorum_without_self(struct cluster_view *cv);

/* The member with this ID, or with one of these peer URLs, or NULL. */
const struct em_member *cluster_find(const struct em_member_list *ml,
                                     uint64_t id, const struct em_strv *urls);

/* This member in ml: by its advertised peer URLs, else by name. */
const struct em_member *cluster_find_self(const struct em_config *cfg,
                                          const struct em_member_list *ml);

/* initial-cluster for this start: every member (name=peerURLs), this one
 * under its configured name.  malloc'ed. */
char *cluster_initial(const struct em_config *cfg,
                      const struct em_member_list *ml);

/* ---- lock.c ------------------------------------------------------------- */

/*
 * Rule 4: at most one replacement in the cluster at a time.  The lock is a
 * key in etcd itself (heal.lock-key) bound to a lease, so a dead holder's
 * lock expires.  acquire waits (with backoff, up to the retry timeout) while
 * another member holds it.
 */
enum em_status lock_acquire(const struct em_config *cfg, struct em_gw *gw,
                            struct journal *j, bool *got,
                            char *why, size_t whylen, struct em_error *err);
/* Keeps the lease alive; re-takes the lock if it expired and is free. */
enum em_status lock_refresh(const struct em_config *cfg, struct em_gw *gw,
                            struct journal *j, struct em_error *err);
enum em_status lock_release(const struct em_config *cfg, struct em_gw *gw,
                            struct journal *j, struct em_error *err);

/* ---- quarantine.c ------------------------------------------------------- */

/*
 * Rule 6: moves the data dir aside (a rename in the same filesystem) to
 * <quarantine-dir>/<name>.quarantine.<UTC time>, recreates it empty (0700),
 * and keeps only the newest heal.quarantine-keep quarantined dirs of this
 * member.  Idempotent with the journal: if the data dir is already gone and
 * the quarantine exists, there is nothing to do.
 */
enum em_status quarantine_data_dir(const struct em_config *cfg,
                                   struct journal *j, struct em_error *err);

/* Picks the quarantine path (<quarantine-dir>/<data dir name>.quarantine.
 * <UTC time>) into j->quarantine; the journal is saved with it before the
 * move, so that a resumed run knows where the data went. */
void quarantine_plan(const struct em_config *cfg, struct journal *j);

/* ---- restore.c ---------------------------------------------------------- */

/* etcd's initial-cluster names this member alone (or nothing). */
bool restore_single_member(const struct em_config *cfg);

/*
 * Rule 8 for a single-member cluster whose data dir is corrupt or empty:
 * the newest verified snapshot of backup.store into the data dir (a
 * corrupt one moved aside first).  *restored false, with why, when there
 * is nothing to restore from; an error when a restore failed.
 */
enum em_status restore_run(const struct em_config *cfg, enum em_verdict v,
                           bool *restored, char *why, size_t n,
                           struct em_error *err);

/* ---- retry -------------------------------------------------------------- */

/* Sleeps for the next backoff step (doubling from 200 ms, at most cap). */
void backoff_sleep(unsigned *step_ms, unsigned cap_ms);

/* Monotonic milliseconds. */
uint64_t now_ms(void);

#endif
