/*
 * bolt.h - an independent consistency check of a bbolt file (member/snap/db).
 *
 * Written from the format, not from bbolt's code: both meta pages, a walk of
 * every bucket from the root, page ids, flags, bounds, key order, the
 * freelist, and the etcd-specific buckets.  It only ever reads; the file is
 * opened read-only under a non-blocking shared lock, so a running etcd (which
 * holds an exclusive lock) yields `in-use` at once.
 */
#ifndef ETCD_MEDIC_BOLT_H
#define ETCD_MEDIC_BOLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/error.h"
#include "etcd-medic/report.h"

/* What the check learnt about the db; filled as far as it got. */
struct em_bolt_info {
	uint64_t file_size;
	uint32_t page_size;
	int meta_used;           /* 0 or 1; -1 if neither meta page is valid */
	uint64_t txid;
	uint64_t high_water;     /* meta.pgid: first page never allocated */
	uint64_t root;           /* root bucket's root page */
	bool freelist_synced;    /* false when meta.freelist is all ones */
	uint64_t pages_reachable;
	uint64_t pages_free;
	uint64_t buckets;        /* including nested and inline ones */
	uint64_t keys;           /* non-bucket entries */
	uint64_t revisions;      /* entries of etcd's key bucket (full mode) */
	uint64_t max_revision;   /* the largest main revision of those keys:
	                          * the revision of the db (full mode) */
	bool has_consistent_index;
	uint64_t consistent_index;
	bool has_key_bucket;
	bool has_meta_bucket;
	char cluster_version[32]; /* cluster/clusterVersion, "" if absent */
	/* meta/storageVersion, "" if absent: etcd 3.6 and later write it
	 * ("3.6.0") once the cluster version reaches 3.6, and refuse a db
	 * whose storage version is newer than they are. */
	char storage_version[32];
};

/*
 * Checks the bbolt file at path.  `name` is how findings refer to the file
 * (e.g. "member/snap/db").  Findings go to rep; info (may be NULL) receives
 * what was learnt.  Returns EM_OK when the check ran to a verdict, whatever
 * that verdict is; an error only when it could not run (out of memory).
 */
enum em_status em_bolt_check_file(const char *path, const char *name,
                                  enum em_check_mode mode,
                                  struct em_report *rep,
                                  struct em_bolt_info *info,
                                  struct em_error *err);

/*
 * The same check on a db image in memory (len bytes at buf): what the file
 * check runs after mapping the file, and what the fuzzer drives.
 */
enum em_status em_bolt_check_buf(const uint8_t *buf, size_t len,
                                 const char *name, enum em_check_mode mode,
                                 struct em_report *rep,
                                 struct em_bolt_info *info,
                                 struct em_error *err);

#endif
