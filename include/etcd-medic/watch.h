/*
 * watch.h - what the sidecar keeps an eye on while etcd runs.
 *
 * A thread that, every watch interval: promotes this member when it is a
 * learner that has caught up (and closes its replacement's journal); reads
 * this member's health (Status on its own client URL: answers, has a
 * leader, is a voter) and the cluster's alarms (NOSPACE, CORRUPT); and, on
 * a longer interval, compares this member's data with a peer's at one
 * common revision (HashKV where the gateway serves it, etcd 3.5.10 and
 * later; otherwise a paginated digest of a serializable range, bounded in
 * keys and time) to find silent corruption no file check can see.  Beside
 * the timer, inotify reports at once when the member directory under a
 * running etcd is removed or replaced.
 *
 * Each finding is a log line and a metric; the last state is readable for
 * /readyz and the status JSON.  The watch never changes anything but a
 * learner's promotion, and not that either when heal.enabled is false.
 * A learner is offered for promotion when its applied index is within 90%
 * of the leader's, else once a minute; each attempt waits at most 10 s
 * (the watch has other work), and an error is logged once the learner has
 * not caught up within heal.promote-timeout.
 */
#ifndef ETCD_MEDIC_WATCH_H
#define ETCD_MEDIC_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "etcd-medic/config.h"
#include "etcd-medic/error.h"

/* What the watch last saw; a snapshot, copied out under its lock. */
struct em_watch_state {
	bool etcd_answers;         /* Status on this member's client URL */
	bool has_leader;
	bool is_learner;
	bool is_voter;             /* listed, answers, not a learner */
	uint64_t member_id;
	uint64_t leader;
	uint64_t raft_applied_index;
	uint64_t leader_raft_index;  /* a learner's yardstick */
	char alarms[128];          /* e.g. "NOSPACE on 8e9e05c52164694d" */
	bool data_dir_gone;        /* etcd answers, but its member dir is
	                            * gone or is not the one etcd holds (its
	                            * db is not locked): reported at once
	                            * (inotify); cleared once etcd runs on its
	                            * member dir again */
	int hash_check;            /* the last check: 1 equal, -1 divergent,
	                            * 0 not run or could not compare */
	char hash_detail[512];     /* how and against whom it compared, or
	                            * why the last check did not compare */
	time_t last_run;           /* 0: never */
	char last_error[256];
};

struct em_watch;

/*
 * Starts the watch thread for the member cfg describes (cfg must outlive
 * the watch); its first round runs at once.  It makes its own gateway
 * client (one per thread: clients are not thread-safe).  Stop and free it
 * with em_watch_stop.
 */
enum em_status em_watch_start(const struct em_config *cfg,
                              struct em_watch **out, struct em_error *err);

/* Stops the thread and frees w (NULL: nothing).  Prompt: a waiting thread
 * wakes at once; a request in flight ends within heal.call-timeout (one
 * that fails over, within that times the endpoints plus one), a promotion
 * attempt within 10 s more. */
void em_watch_stop(struct em_watch *w);

void em_watch_get(struct em_watch *w, struct em_watch_state *out);

/* Runs one round at once (tests, and right after etcd starts). */
void em_watch_kick(struct em_watch *w);

#endif
