/*
 * wal.h - verification of etcd's write-ahead log: the .wal files in
 * member/wal.
 *
 * File names and sequence continuity, record framing (length word, padding),
 * record decoding (walpb.Record and the messages inside it), the CRC-32C
 * chain across records and files, and consistent metadata.  The rules follow
 * what etcd itself does when it starts: a torn record at the tail of the
 * newest file is what etcd repairs (a note, verdict stays healthy); damage
 * anywhere else is evidence, with file and byte offset.
 */
#ifndef ETCD_MEDIC_WAL_H
#define ETCD_MEDIC_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/error.h"
#include "etcd-medic/report.h"

/* A walpb.Snapshot record: the raft snapshot a WAL position refers to. */
struct em_wal_snapshot {
	uint64_t index;
	uint64_t term;
};

struct em_wal_file {
	char name[64];   /* e.g. 0000000000000001-0000000000002710.wal */
	uint64_t seq;
	uint64_t index;  /* raft index of the first entry the file expects */
	uint64_t size;
};

/* What the check learnt about the WAL; owned by the caller, freed with
 * em_wal_info_free. */
struct em_wal_info {
	struct em_wal_file *files; /* valid .wal names, sorted by name */
	size_t n_files;
	bool have_metadata;
	uint64_t node_id;
	uint64_t cluster_id;
	bool have_state;           /* a raftpb.HardState record was seen */
	uint64_t term, vote, commit;
	struct em_wal_snapshot *snaps; /* every snapshot record, in WAL order */
	size_t n_snaps;
	uint64_t entries;          /* entry records decoded */
	uint64_t last_index;       /* of the last entry record, 0 if none */
	uint64_t records;          /* records decoded, all types */
	bool decoded_all;          /* every file was decoded (full mode) */
	bool torn_tail;            /* the newest file ends in a torn record */
	uint64_t torn_offset;      /* where etcd would truncate it */
	/*
	 * Entries are missing below this index (a jump in entry indexes, as a
	 * follower's WAL has after it installs a snapshot from the leader):
	 * etcd can replay the WAL only from a snapshot at this index or above.
	 * 0 when the entries have no gap.  em_wal_can_open_at checks it.
	 */
	uint64_t entry_gap_floor;
	/*
	 * Records only wal.ReadAll refuses (unknown type, an entry that does
	 * not decode, conflicting metadata) lie in files[0] to
	 * files[replay_damage_file]: ReadAll reads the files from the one
	 * holding the snapshot etcd starts from, and fails if that is one of
	 * them.  em_wal_can_open_at checks it.
	 */
	bool replay_damage;
	size_t replay_damage_file;
};

void em_wal_info_free(struct em_wal_info *info);

/*
 * em_wal_check_dir and em_wal_check_buf initialise *info (whatever it held
 * before is not freed); release it with em_wal_info_free whatever they
 * return.
 *
 * Checks the WAL directory dir.  `name` is how findings name the directory
 * (e.g. "member/wal"); findings name files as name/<file>.  In sanity mode
 * only the names and the framing of the newest file are checked; in full
 * mode every record of every file is decoded and the CRC chain followed.
 * Returns EM_OK when the check ran (whatever the verdict), an error only when
 * it could not run (out of memory).
 */
enum em_status em_wal_check_dir(const char *dir, const char *name,
                                enum em_check_mode mode,
                                struct em_report *rep,
                                struct em_wal_info *info,
                                struct em_error *err);

/*
 * Decodes one WAL file image as the newest (last) file of a WAL that starts
 * with it: framing, records and the CRC chain from 0.  What the fuzzer and
 * the unit tests drive; em_wal_check_dir uses the same decoder.
 */
enum em_status em_wal_check_buf(const uint8_t *buf, size_t len,
                                const char *name, struct em_report *rep,
                                struct em_wal_info *info,
                                struct em_error *err);

/*
 * True when etcd could open the WAL at snapshot index `index`: there is a
 * file whose first index is <= index, and the files from it on have
 * contiguous sequence numbers (as etcd's isValidSeq judges them), no gap
 * in the entries lies above index (info->entry_gap_floor <= index), no
 * record ReadAll refuses lies in the files from there on, and,
 * when every record was decoded, the last hard state's commit lies between
 * index and the last index of the log (raft refuses to start otherwise).
 */
bool em_wal_can_open_at(const struct em_wal_info *info, uint64_t index);

/*
 * The same, and when the answer is false, why (in etcd's words where it has
 * some) into why[size]; why may be NULL.
 */
bool em_wal_check_open_at(const struct em_wal_info *info, uint64_t index,
                          char *why, size_t size);

/*
 * True when buf is a well-formed raftpb.ConfState (the conf_state of a WAL
 * snapshot record in etcd 3.5, and of a .snap file's metadata).
 */
bool em_wal_confstate_ok(const uint8_t *buf, size_t len);

#endif
