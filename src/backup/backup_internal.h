/*
 * backup_internal.h - what the parts of the backup module (src/backup/)
 * share.  Not a public interface: include/etcd-medic/backup.h is.
 */
#ifndef ETCD_MEDIC_BACKUP_INTERNAL_H
#define ETCD_MEDIC_BACKUP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "etcd-medic/backup.h"

#define SNAP_DIR "snapshots/"
#define MANIFEST_NAME "manifest.json"
#define MANIFEST_MAX (64 * 1024)
#define HASH_LEN 32

/* manifest.c: the manifest as JSON (malloc'ed) and back. */
char *manifest_json(const struct em_manifest *m);
enum em_status manifest_parse(const char *text, size_t len,
                              struct em_manifest *m, struct em_error *err);

/* "snapshots/<id>/<name>" into buf. */
void snap_key(char *buf, size_t size, const char *id, const char *name);

/* The directory to spool into: a writable directory store's own (first,
 * with prefer_store: a save then commits with a rename), the one given,
 * $TMPDIR, /tmp.  And a file of our own there (a dot name). */
const char *spool_dir_for(const struct em_store *st, const char *given,
                          bool prefer_store);
enum em_status spool_create(const char *dir, const char *suffix, int *fd,
                            char **path, struct em_error *err);

void hex_of(const uint8_t *d, size_t n, char *out);
uint64_t now_ms_mono(void);

/* check.c: the bbolt check of a db file; EM_EFORMAT with the evidence
 * when it is not healthy. */
enum em_status db_check(const char *path, uint64_t *revision,
                        uint64_t *keys, struct em_error *err);

#endif
