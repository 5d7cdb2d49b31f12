/*
 * datadir.h - one verdict for an etcd data dir.
 *
 * Runs the bolt, wal and snap checks and the cross-checks that need all of
 * them (the WAL can be opened at the snapshot etcd loads; the db is not
 * behind that snapshot without the .snap.db etcd would need), then decides:
 * healthy, empty, corrupt, in-use or unreadable (DESIGN.md, "Verdicts").
 */
#ifndef ETCD_MEDIC_DATADIR_H
#define ETCD_MEDIC_DATADIR_H

#include <stdint.h>

#include "etcd-medic/bolt.h"
#include "etcd-medic/error.h"
#include "etcd-medic/report.h"
#include "etcd-medic/snap.h"
#include "etcd-medic/wal.h"

struct em_datadir_result {
	struct em_report report;
	struct em_bolt_info bolt;
	struct em_wal_info wal;
	struct em_snap_info snap;
	enum em_check_mode mode;
	double seconds;        /* wall time of the whole check */
	double db_seconds;     /* of which the db, the WAL, the .snap files */
	double wal_seconds;
	double snap_seconds;
};

/*
 * Judges the data dir `dir` (the etcd --data-dir; the WAL is read from
 * dir/member/wal unless wal_dir is non-NULL).  res is initialised here and
 * must be released with em_datadir_result_free, whatever the return value.
 * Returns EM_OK when a verdict was reached; EM_EUSAGE when dir is not a
 * directory; EM_ENOMEM.
 */
enum em_status em_datadir_check(const char *dir, const char *wal_dir,
                                enum em_check_mode mode,
                                struct em_datadir_result *res,
                                struct em_error *err);

void em_datadir_result_free(struct em_datadir_result *res);

#endif
