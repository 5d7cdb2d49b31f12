/*
 * store_priv.h - what the two kinds of store (dir.c, s3.c) implement behind
 * store.h, and the few helpers they share (store.c).  Not for other modules.
 */
#ifndef ETCD_MEDIC_STORE_PRIV_H
#define ETCD_MEDIC_STORE_PRIV_H

#include "etcd-medic/store.h"

struct store_ops {
	enum em_status (*list)(struct em_store *st, const char *prefix,
	                       struct em_store_list *out, struct em_error *err);
	enum em_status (*put_file)(struct em_store *st, const char *key,
	                           const char *path, bool consume,
	                           struct em_error *err);
	enum em_status (*put_buf)(struct em_store *st, const char *key,
	                          const void *p, size_t n,
	                          struct em_error *err);
	enum em_status (*get)(struct em_store *st, const char *key,
	                      em_store_write_fn write, void *arg,
	                      struct em_error *err);
	enum em_status (*del)(struct em_store *st, const char *key,
	                      struct em_error *err);
	void (*free)(struct em_store *st);
};

struct em_store {
	const struct store_ops *ops;
	char *url;
	char *dir;                    /* a directory store's root */
	uint64_t deadline_ms;
	long call_timeout_ms;
	long stall_s;
	void *impl;                   /* the kind's own state */
};

enum em_status store_dir_open(struct em_store *st, const char *dir,
                              struct em_error *err);
enum em_status store_s3_open(struct em_store *st, const char *bucket_prefix,
                             const struct em_s3_config *s3,
                             struct em_error *err);

uint64_t store_now_ms(void);

/* Adds (key, size) to a list; false when out of memory. */
bool store_list_add(struct em_store_list *l, const char *key, size_t klen,
                    uint64_t size);
void store_list_sort(struct em_store_list *l);

/* A key must be relative, without "." or ".." parts or empty parts. */
bool store_key_ok(const char *key);

#endif
