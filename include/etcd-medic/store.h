/*
 * store.h - where snapshots live: a local directory (file:///DIR) or an
 * S3-compatible object store (s3://BUCKET[/PREFIX]), behind one set of
 * object calls.
 *
 * Keys are relative to the store's root ("snapshots/ID/manifest.json") and
 * use '/' as separator.  An object is never visible under its key before it
 * is complete and durable: a directory store writes a temporary name
 * beside it, fsyncs, renames and fsyncs the directory; S3 makes an object
 * visible only when its PUT or its multipart upload completes.  Everything
 * is streamed: memory does not grow with an object's size.
 *
 * S3: signed with libcurl's AWS SigV4 (CURLOPT_AWS_SIGV4), path-style or
 * virtual-host URLs, multipart upload above one part, credentials from an
 * AWS shared credentials file or the environment; the secret and the
 * session token never reach a log line or an error message.  Requests that
 * fail with a 5xx or a transport error are retried twice (each is
 * idempotent); the caller's deadline bounds them all.
 *
 * Not thread-safe: one store per thread.  The program calls
 * curl_global_init first (as for the gateway client).
 */
#ifndef ETCD_MEDIC_STORE_H
#define ETCD_MEDIC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/config.h"
#include "etcd-medic/error.h"

struct em_store;

struct em_store_opts {
	const struct em_s3_config *s3; /* NULL: defaults and environment */
	long call_timeout_ms;          /* one small request; 0: 30 s */
	long stall_s;                  /* a transfer moving nothing; 0: 60 s */
};

/* Opens (for a directory: creates) the store at url. */
enum em_status em_store_open(const char *url, const struct em_store_opts *o,
                             struct em_store **out, struct em_error *err);
void em_store_free(struct em_store *st);

/* The URL as given, for messages (it holds no secret). */
const char *em_store_url(const struct em_store *st);

/* A directory store's directory, NULL for S3: a file written there can be
 * committed with a rename instead of a copy. */
const char *em_store_local_dir(const struct em_store *st);

/* Every request from now on ends by this CLOCK_MONOTONIC time in ms (0: no
 * deadline, only the per-request limits). */
void em_store_set_deadline(struct em_store *st, uint64_t deadline_ms);

struct em_store_obj {
	char *key;
	uint64_t size;
};

struct em_store_list {
	struct em_store_obj *v;        /* sorted by key */
	size_t n;
};

void em_store_list_free(struct em_store_list *l);

/* Every object whose key starts with prefix ("" for all). */
enum em_status em_store_list(struct em_store *st, const char *prefix,
                             struct em_store_list *out, struct em_error *err);

/*
 * Stores the local file at path under key.  consume: a directory store may
 * move the file instead of copying it (it is gone from path afterwards,
 * whatever the outcome, unless an error says it was not touched).
 */
enum em_status em_store_put_file(struct em_store *st, const char *key,
                                 const char *path, bool consume,
                                 struct em_error *err);
enum em_status em_store_put_buf(struct em_store *st, const char *key,
                                const void *p, size_t n,
                                struct em_error *err);

/* Reads object key piece by piece into write, in order. */
typedef enum em_status (*em_store_write_fn)(void *arg, const uint8_t *p,
                                            size_t n, struct em_error *err);
enum em_status em_store_get(struct em_store *st, const char *key,
                            em_store_write_fn write, void *arg,
                            struct em_error *err);
/* A small object whole, NUL-terminated; at most max bytes. */
enum em_status em_store_get_buf(struct em_store *st, const char *key,
                                size_t max, char **p, size_t *n,
                                struct em_error *err);

/* Deletes key; a missing key is not an error. */
enum em_status em_store_delete(struct em_store *st, const char *key,
                               struct em_error *err);

#endif
