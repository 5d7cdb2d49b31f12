/*
 * backup_runner.h - snapshots on a schedule in `etcd-medic serve`, and on
 * request (POST /snapshot/full).
 *
 * Every sidecar of a cluster runs one; each slot of the schedule (an
 * interval aligned on the epoch, or a cron expression: schedule.h) must
 * give one snapshot, not one per member.  At a slot, the sidecar of the
 * current leader takes it: it creates backup.lock-key bound to a lease it
 * keeps alive while it works (so a dead taker's claim expires), checks
 * that <lock-key>/last does not already name this slot, saves, writes the
 * slot into <lock-key>/last, applies retention and lets the lock go.  The
 * other sidecars check <lock-key>/last a grace period after the slot (a
 * quarter of the interval, between 1 s and 60 s) and again every grace
 * period until the next slot: when the slot is still not taken and the lock
 * is free (the leader's sidecar is down, or its save failed), the first of
 * them to create the lock takes the slot.
 */
#ifndef ETCD_MEDIC_BACKUP_RUNNER_H
#define ETCD_MEDIC_BACKUP_RUNNER_H

#include <stdbool.h>

#include "etcd-medic/config.h"
#include "etcd-medic/error.h"

struct em_backup_runner;

/* Starts the thread (schedule only with backup.enabled; requests whenever
 * backup.store is set).  cfg must outlive the runner. */
enum em_status em_backup_runner_start(const struct em_config *cfg,
                                      struct em_backup_runner **out,
                                      struct em_error *err);

/* Stops the thread; false (and nothing freed) when a snapshot is under
 * way: the process's exit ends it, and its spool is a dot file that the
 * next save's retention removes (a file store) or a temp file. */
bool em_backup_runner_stop(struct em_backup_runner *r);

enum em_backup_request {
	EM_BACKUP_ACCEPTED,           /* a snapshot starts now */
	EM_BACKUP_BUSY,               /* one is under way */
	EM_BACKUP_NO_STORE,           /* backup.store is not set */
};

enum em_backup_request em_backup_runner_take(struct em_backup_runner *r);

/* /snapshot/latest (malloc'ed JSON): the newest snapshot of the store as
 * far as this sidecar knows (read from the store at start, then what it
 * saved), whether one is under way, the next slot, the last error. */
char *em_backup_runner_latest_json(struct em_backup_runner *r);

#endif
