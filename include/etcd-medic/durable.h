/*
 * durable.h - writing files so that a crash leaves either the old or the
 * new version: every byte written, fsync of files and of the directories
 * whose entries a rename changed.  Shared by the journal, the quarantine,
 * the directory store and snapshot saves.
 */
#ifndef ETCD_MEDIC_DURABLE_H
#define ETCD_MEDIC_DURABLE_H

#include <stddef.h>

#include "etcd-medic/error.h"

/* All n bytes of p to fd (retrying short writes and EINTR); path names
 * the file in the error. */
enum em_status em_write_all(int fd, const void *p, size_t n,
                            const char *path, struct em_error *err);

/* fsync of the file at path, or with O_DIRECTORY in flags of the
 * directory (what makes a rename in it durable). */
enum em_status em_fsync_path(const char *path, int flags,
                             struct em_error *err);

#endif
