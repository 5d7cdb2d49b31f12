/*
 * sidecar.h - what `etcd-medic serve` does between the HTTP API and the
 * heal engine: the initialization runs the launcher asks for, the config
 * they produce, and the watch while etcd runs.
 *
 * An initialization run validates the data dir (in the mode asked for),
 * heals the member if its data is lost or corrupt, and renders the config
 * etcd must start with; it runs on a worker thread, one at a time.  Its
 * state follows what gardener's etcd-wrapper expects of etcd-backup-restore
 * (New, Progress, Successful, Failed; a terminal state is reported once by
 * the plain-text status, then the state is New again), so that the wrapper
 * works unchanged.  Only a `corrupt` verdict can lead to anything
 * destructive, whatever a request asks: the mode only chooses how
 * thoroughly the data dir is read.
 */
#ifndef ETCD_MEDIC_SIDECAR_H
#define ETCD_MEDIC_SIDECAR_H

#include <stdbool.h>
#include <stddef.h>

#include "etcd-medic/backup_runner.h"
#include "etcd-medic/config.h"
#include "etcd-medic/error.h"
#include "etcd-medic/report.h"

enum em_init_state {
	EM_INIT_NEW = 0,
	EM_INIT_PROGRESS,
	EM_INIT_SUCCESSFUL,
	EM_INIT_FAILED,
};

/* "New", "Progress", "Successful", "Failed": the wrapper's words. */
const char *em_init_state_name(enum em_init_state s);

struct em_sidecar;

/* Starts the watch too.  cfg must outlive the sidecar. */
enum em_status em_sidecar_new(const struct em_config *cfg,
                              struct em_sidecar **out, struct em_error *err);
/* Stops the watch and frees the sidecar; true when done.  A run still in
 * progress is left to the process's exit (the heal journal resumes it next
 * time): then nothing is freed, the config it reads included, and the
 * answer is false. */
bool em_sidecar_free(struct em_sidecar *sc);

/* Starts a run in mode unless one runs already; false only when the
 * thread cannot be started. */
bool em_sidecar_init_start(struct em_sidecar *sc, enum em_check_mode mode);

/* The plain-text state; with consume, a terminal state is reported once
 * and the state goes back to New. */
enum em_init_state em_sidecar_init_state(struct em_sidecar *sc, bool consume);

/* The detail as JSON (malloc'ed): state, mode, step, verdict and its
 * evidence, outcome, learner progress, last error, times, watch state. */
char *em_sidecar_status_json(struct em_sidecar *sc);

/* The config of the last successful run (malloc'ed), or NULL with why. */
char *em_sidecar_config(struct em_sidecar *sc, char *why, size_t n);

/* /readyz: this member is a healthy voting member (why not, if not). */
bool em_sidecar_ready(struct em_sidecar *sc, char *why, size_t n);

/* /healthz: the sidecar itself works (its threads are alive). */
bool em_sidecar_healthy(struct em_sidecar *sc);

/* POST /snapshot/full: a snapshot now (backup_runner.h). */
enum em_backup_request em_sidecar_snapshot_now(struct em_sidecar *sc);

/* GET /snapshot/latest: JSON (malloc'ed), NULL when out of memory. */
char *em_sidecar_snapshot_latest(struct em_sidecar *sc);

#endif
