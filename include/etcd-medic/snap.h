/*
 * snap.h - verification of raft snapshot files: the .snap files in
 * member/snap.
 *
 * Each .snap is a snappb.Snapshot: a CRC-32C and a raftpb.Snapshot.  etcd
 * loads the newest .snap whose term and index the WAL records as a snapshot
 * (and which is not beyond the committed index); a .snap that fails to load
 * is renamed .broken and the next older one is tried.  So a broken newest
 * file is damage only when no older usable one exists: this module decides
 * the way etcd does.
 */
#ifndef ETCD_MEDIC_SNAP_H
#define ETCD_MEDIC_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/error.h"
#include "etcd-medic/report.h"
#include "etcd-medic/wal.h"

/* The metadata of one decoded .snap file. */
struct em_snap_meta {
	uint64_t term;
	uint64_t index;
	uint32_t crc;
	uint64_t data_len;   /* bytes of the v2 store image */
	uint64_t data_off;   /* where it starts in the file */
	/* On EM_EFORMAT: where in the file the damage is, if it has a place. */
	bool at_offset;
	uint64_t offset;
};

struct em_snap_info {
	size_t n_files;      /* .snap files found */
	size_t n_bad;        /* of which could not be loaded */
	bool loaded;         /* etcd would load one */
	bool v2_custom;      /* whose v2 store holds more than membership */
	char file[64];       /* that one's name */
	uint64_t term;
	uint64_t index;
};

/*
 * Decodes a .snap image: checks the CRC and reads term and index.  Returns
 * EM_OK, or EM_EFORMAT with a message saying what is wrong and where (empty
 * snapshot, crc mismatch, malformed protobuf at offset N).
 */
enum em_status em_snap_decode_buf(const uint8_t *buf, size_t len,
                                  struct em_snap_meta *meta,
                                  struct em_error *err);

/*
 * True when the v2 store image p[0..n) (a .snap's data: the store's JSON)
 * holds anything besides membership, which etcd 3.6 refuses to start on
 * (membership.IsMetaStoreOnly); what says where (e.g. "/1/app").  False
 * too when the image does not parse.
 */
bool em_snap_v2_custom(const uint8_t *p, size_t n, char *what, size_t size);

/*
 * Initialises *info (nothing to free).
 *
 * Checks the .snap files of the snap directory dir (`name` is how findings
 * name it, e.g. "member/snap").  walsnaps are the snapshot records etcd
 * accepts from the WAL (already limited to the committed index); pass
 * have_wal false when the WAL could not be read, and then only the files'
 * own integrity is judged.  etcd_reads false: the etcd that can open this
 * data dir reads no .snap file at start (3.7 and later start from the WAL's
 * last snapshot record), so a file that cannot be loaded is only a note.
 * Returns EM_OK when the check ran.
 */
enum em_status em_snap_check_dir(const char *dir, const char *name,
                                 enum em_check_mode mode,
                                 const struct em_wal_snapshot *walsnaps,
                                 size_t n_walsnaps, bool have_wal,
                                 bool etcd_reads, struct em_report *rep,
                                 struct em_snap_info *info,
                                 struct em_error *err);

#endif
