/*
 * backup.h - verified snapshots: taken from etcd's snapshot stream, kept in
 * a store (store.h), listed and re-checked, thinned by retention, restored
 * with etcd's own tool.
 *
 * Store layout (keys under the store's root):
 *
 *   snapshots/<ID>/snapshot.db.zst   the snapshot, zstd-compressed
 *   snapshots/<ID>/snapshot.db       ... or as it is (compression: none)
 *   snapshots/<ID>/manifest.json     written last: a snapshot exists, for
 *                                    every reader, once its manifest does
 *
 * ID is the UTC time the snapshot was started, 20261123T082100.123Z, so
 * that keys sort by age.  The snapshot is exactly what `etcdctl snapshot
 * save` writes (the db, then etcd's SHA-256 of it): etcd's own tools read
 * and check it.  The manifest (format 1) holds the revision, sizes and
 * checksums of the db and of the stored object, etcd's version, cluster
 * and member IDs, times and the check's result.  Incremental backups fit
 * later without a change to this: they will be further objects of the
 * same snapshot directory (snapshots/<ID>/incremental/<REV>-<REV>...),
 * each with its own manifest, applied on top of the full snapshot that
 * <ID> names; a reader of format 1 ignores what it does not know, and
 * retention keeps or drops a directory as a whole.
 *
 * A snapshot is verified before it is stored (the stream's SHA-256 and a
 * full bbolt check of the db: bolt.h), and verified again whenever it is
 * read back: the object's SHA-256 and size against the manifest, etcd's
 * SHA-256 against the db, the bbolt check, the revision.
 */
#ifndef ETCD_MEDIC_BACKUP_H
#define ETCD_MEDIC_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/config.h"
#include "etcd-medic/error.h"
#include "etcd-medic/gateway.h"
#include "etcd-medic/store.h"

#define EM_SNAP_ID_MAX 32

struct em_manifest {
	int format;                   /* 1 */
	char id[EM_SNAP_ID_MAX];
	char kind[16];                /* "full" */
	char created[32];             /* RFC 3339, UTC */
	int64_t created_ms;           /* Unix milliseconds */
	uint64_t revision;            /* the db's newest revision */
	uint64_t db_size;             /* bytes of the db, without etcd's hash */
	char db_sha256[65];           /* etcd's SHA-256 of the db, hex */
	char object[32];              /* "snapshot.db.zst" or "snapshot.db" */
	char compression[8];          /* "zstd" or "none" */
	uint64_t object_size;
	char object_sha256[65];
	char etcd_version[32];
	char cluster_id[17];          /* hex */
	char member_id[17];
	char endpoint[256];           /* the member that streamed it */
	uint64_t keys;                /* bbolt keys in the db (all buckets) */
	double duration_s;            /* stream to commit */
};

/* What save, verify and restore need beside the store's URL. */
struct em_backup_opts {
	const char *store;            /* file:///DIR or s3://BUCKET[/PREFIX] */
	const struct em_s3_config *s3;  /* NULL: defaults, environment */
	const char *spool_dir;        /* NULL: a directory store's own
	                               * directory, else $TMPDIR or /tmp */
	bool compress;                /* zstd */
	int level;                    /* zstd level */
	unsigned timeout_s;           /* whole operation; 0: none */
};

/* The options the sidecar's config gives. */
void em_backup_opts_from(const struct em_config *cfg,
                         struct em_backup_opts *o);

/*
 * Takes a snapshot through the gateway from the first of endpoints that
 * streams one whole (each tried from scratch), checks it, stores it and
 * then its manifest.  Nothing is left in the store or the spool on
 * failure, except what a crash leaves: an object without a manifest, which
 * no one takes for a snapshot and retention removes.
 */
enum em_status em_backup_save(struct em_gw *gw, const char *const *endpoints,
                              size_t n_endpoints,
                              const struct em_backup_opts *o,
                              struct em_manifest *out, struct em_error *err);

enum em_snap_state {
	EM_SNAP_OK,                   /* manifest and object agree */
	EM_SNAP_INCOMPLETE,           /* an object without a manifest */
	EM_SNAP_DAMAGED,              /* they disagree, or a bad manifest */
};

const char *em_snap_state_name(enum em_snap_state s);

struct em_snap_entry {
	struct em_manifest m;         /* m.id always set */
	enum em_snap_state state;
	char problem[256];
	uint64_t stored_bytes;        /* every object of the snapshot */
};

struct em_catalog {
	struct em_snap_entry *v;      /* oldest first */
	size_t n;
};

void em_catalog_free(struct em_catalog *c);

/* Every snapshot of the store, each manifest read and checked against the
 * object's presence and size (a quick re-check: nothing downloaded). */
enum em_status em_backup_list(struct em_store *st, struct em_catalog *out,
                              struct em_error *err);

/*
 * The full re-check of one snapshot: downloaded (and decompressed) into the
 * spool, every checksum and the bbolt check.  keep: the snapshot file
 * (the db and etcd's hash, what etcdctl restores) is left at *kept
 * (malloc'ed) instead of being removed.  EM_EFORMAT: the snapshot is bad
 * (err says how); other errors: it could not be checked.
 */
enum em_status em_backup_verify(struct em_store *st, const char *spool_dir,
                                const struct em_manifest *m, bool keep,
                                char **kept, struct em_error *err);

/* The newest snapshot that passes em_backup_verify, kept in the spool for
 * a restore; EM_ENOENT when there is none. */
enum em_status em_backup_fetch_newest(struct em_store *st,
                                      const char *spool_dir,
                                      struct em_manifest *m, char **path,
                                      struct em_error *err);

/*
 * Retention: keeps the newest keep_last snapshots that are OK, and the
 * newest OK one of each of the last keep_days UTC days (counted from now);
 * deletes the rest, and incomplete ones older than an hour (a crash's
 * leftovers; a newer one may be a save in progress).  Never deletes the
 * only OK snapshot, nor a damaged one (left for a person to look at).
 * *deleted (may be NULL) counts snapshots removed.
 */
enum em_status em_backup_retain(struct em_store *st, unsigned keep_last,
                                unsigned keep_days, int64_t now_ms,
                                size_t *deleted, struct em_error *err);

struct em_restore_opts {
	const char *snapshot;         /* a local snapshot file (db + hash) */
	const char *data_dir;         /* must not exist, or be empty */
	const char *name;
	const char *initial_cluster;
	const char *initial_advertise_peer_urls;
	const char *initial_cluster_token;  /* NULL: etcd's default */
	const char *tool;             /* NULL: found on PATH, etcdutl first */
};

/*
 * Builds a data dir from a snapshot file with etcd's own tool (`etcdutl
 * snapshot restore` where installed, 3.5 and later; else `etcdctl snapshot
 * restore`, 3.4) into a temporary directory beside data_dir, fsynced, then
 * renamed into place: data_dir is either untouched or complete.
 */
enum em_status em_backup_restore(const struct em_restore_opts *o,
                                 struct em_error *err);

#endif
