/*
 * watch_priv.h - what the two halves of the runtime watch share: the round
 * (watch.c) and the comparison of this member's data with a peer's
 * (watch_hash.c).  Not a public interface: include/etcd-medic/watch.h is.
 */
#ifndef ETCD_MEDIC_WATCH_PRIV_H
#define ETCD_MEDIC_WATCH_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/config.h"
#include "etcd-medic/gateway.h"

/* How long one comparison may take, both members together: the watch does
 * nothing else meanwhile. */
#define WATCH_HASH_TIME_LIMIT_MS 60000ull

enum hash_result {
	HASH_EQUAL,
	HASH_DIVERGENT,
	HASH_ERROR,      /* could not compare: counted, never divergence */
	HASH_SKIPPED,    /* nothing to compare with now, or not now */
};

const char *hash_result_name(enum hash_result r);

/*
 * Where the next digest starts: a bounded digest covers the keyspace in
 * turns, one slice of hash-max-keys keys per check, wrapping around.
 * key NULL: from the first key.
 */
struct hash_cursor {
	uint8_t *key;
	size_t len;
};

void hash_cursor_free(struct hash_cursor *c);

/* What the comparison needs to know about this member, from this round. */
struct hash_self {
	const char *url;                   /* its client URL that answered */
	const struct em_gw_status *status;
	const struct em_member_list *members;
	bool is_learner;                   /* as the member list says */
};

/*
 * Compares this member's data with a voting peer's at one revision (the
 * lower of both current revisions): HashKV where the gateway serves it,
 * else a SHA-256 digest of a serializable, paginated range read at that
 * revision from each member, bounded by hash-max-keys and the time limit.
 * detail says how and against whom, or why not.  stop is polled between
 * pages.
 */
enum hash_result watch_hash_check(const struct em_config *cfg,
                                  struct em_gw *gw,
                                  const struct hash_self *self,
                                  struct hash_cursor *cursor,
                                  const atomic_bool *stop,
                                  char *detail, size_t n);

uint64_t watch_now_ms(void);

#endif
