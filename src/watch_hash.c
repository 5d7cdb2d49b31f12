/*
 * watch_hash.c - the runtime watch's search for silent corruption: this
 * member's data compared with a voting peer's at one common revision (see
 * watch_priv.h).
 *
 * Both members are read at the same revision, the lower of their current
 * ones, so that writes going on meanwhile make no difference; a revision
 * compacted away meanwhile makes the check skipped, not failed.  HashKV
 * (etcd 3.5.10 and later serve it through the gateway) hashes the whole
 * keyspace inside etcd.  Elsewhere (etcd 3.4) each member is read with a
 * serializable range, which that member answers from its own data, and the
 * keys, values, revisions and leases are hashed here, page by page: the
 * slice of the keyspace this member yields within hash-max-keys keys and
 * half the time limit, then exactly that slice from the peer.  Successive
 * checks take successive slices, so a large keyspace is covered in turns.
 * A check that cannot compare (a peer of another cluster, an error, the
 * time limit) never reports divergence.
 */
#include "watch_priv.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

/* Keys per range page: a page's answer stays small (the watch's client
 * refuses answers above 8 MiB), and is halved when one is too big. */
#define PAGE_KEYS 100

static const char *const result_names[] = {
	[HASH_EQUAL] = "equal",
	[HASH_DIVERGENT] = "divergent",
	[HASH_ERROR] = "error",
	[HASH_SKIPPED] = "skipped",
};

const char *hash_result_name(enum hash_result r)
{
	return (size_t)r < sizeof(result_names) / sizeof(result_names[0]) ?
	       result_names[r] : "unknown";
}

void hash_cursor_free(struct hash_cursor *c)
{
	free(c->key);
	c->key = NULL;
	c->len = 0;
}

__attribute__((format(printf, 4, 5)))
static enum hash_result say(enum hash_result r, char *detail, size_t n,
                            const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, n, fmt, ap);
	va_end(ap);
	return r;
}

/* A key for a log line: printable ASCII as is, other bytes \xHH, cut. */
static void show_key(const uint8_t *k, size_t len, char *out, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 8 < n; i++) {
		if (o > 40) {
			o += (size_t)snprintf(out + o, n - o, "...");
			break;
		}
		if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\'' && k[i] != '\\')
			out[o++] = (char)k[i];
		else
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", k[i]);
	}
	out[o < n ? o : n - 1] = '\0';
}

/* ---- the peer ---------------------------------------------------------- */

struct peer {
	const struct em_member *m;
	const char *url;
	struct em_gw_status status;
};

/* The first other voter that answers with a leader; false (with the
 * result and detail) when there is none, or it is of another cluster. */
static bool pick_peer(struct em_gw *gw, const struct hash_self *self,
                      struct peer *p, enum hash_result *r, char *detail,
                      size_t n)
{
	const struct em_member_list *ml = self->members;
	uint64_t me = self->status->header.member_id;
	uint64_t cid = self->status->header.cluster_id;
	struct em_error err;

	for (size_t i = 0; i < ml->n; i++) {
		const struct em_member *m = &ml->members[i];

		if (m->id == me || m->is_learner)
			continue;
		for (size_t u = 0; u < m->n_client_urls; u++) {
			em_error_clear(&err);
			if (em_gw_status(gw, m->client_urls[u], &p->status,
			                 &err) != EM_OK || p->status.leader == 0)
				continue;
			p->m = m;
			p->url = m->client_urls[u];
			if (p->status.header.cluster_id == cid)
				return true;
			*r = say(HASH_ERROR, detail, n, "not compared: peer %s "
			         "(%s) is of cluster %" PRIx64 ", this member "
			         "of cluster %" PRIx64 " (the endpoints name "
			         "another cluster?)", m->name, p->url,
			         p->status.header.cluster_id, cid);
			return false;
		}
	}
	*r = say(HASH_SKIPPED, detail, n, "not compared: no other voting "
	         "member answers with a leader");
	return false;
}

/* ---- HashKV (etcd 3.5.10 and later) ------------------------------------ */

/* *served false when either member's gateway has no HashKV route. */
static enum hash_result by_hashkv(struct em_gw *gw,
                                  const struct hash_self *self,
                                  const struct peer *p, int64_t rev,
                                  bool *served, char *detail, size_t n)
{
	uint32_t h[2];
	int64_t compact[2];
	struct em_gw_header hdr;
	struct em_error err;
	const char *urls[2] = { self->url, p->url };

	*served = true;
	for (int i = 0; i < 2; i++) {
		em_error_clear(&err);
		if (em_gw_hashkv(gw, urls[i], rev, &h[i], &compact[i], &hdr,
		                 &err) == EM_OK)
			continue;
		if (err.code == EM_GW_NOT_SERVED) {
			*served = false;
			return HASH_SKIPPED;
		}
		if (err.code == EM_GW_COMPACTED)
			return say(HASH_SKIPPED, detail, n, "not compared: "
			           "revision %" PRId64 " was compacted "
			           "meanwhile", rev);
		return say(HASH_ERROR, detail, n, "not compared: HashKV on "
		           "%s: %s", urls[i], err.msg);
	}
	if (compact[0] != compact[1])
		return say(HASH_SKIPPED, detail, n, "not compared: HashKV at "
		           "revision %" PRId64 " of this member (compacted at "
		           "%" PRId64 ") and peer %s (compacted at %" PRId64
		           ") cover different revisions", rev, compact[0],
		           p->m->name, compact[1]);
	if (h[0] == h[1])
		return say(HASH_EQUAL, detail, n, "equal: HashKV %08" PRIx32
		           " of this member (%s) and of peer %s (%s) at "
		           "revision %" PRId64, h[0], self->url, p->m->name,
		           p->url, rev);
	return say(HASH_DIVERGENT, detail, n, "DIVERGENT: HashKV of this "
	           "member (%s) is %08" PRIx32 ", of peer %s (%s) %08" PRIx32
	           ", at revision %" PRId64 " (compact revision %" PRId64 ")",
	           self->url, h[0], p->m->name, p->url, h[1], rev, compact[0]);
}

/* ---- digest of a range -------------------------------------------------- */

struct digest {
	unsigned char sum[32];
	uint64_t n;             /* keys hashed */
	uint8_t *last;          /* the last key hashed (owned) */
	size_t last_len;
	bool more;              /* stopped before the end of the range */
	bool cut_short;         /* ... by the time limit or a stop */
};

static void digest_free(struct digest *d)
{
	free(d->last);
	d->last = NULL;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Everything two members must agree on about a key at one revision. */
static void feed(struct sha256_ctx *c, const struct em_kv *kv)
{
	uint8_t h[48];

	be64(h, kv->key_len);
	be64(h + 8, (uint64_t)kv->create_revision);
	be64(h + 16, (uint64_t)kv->mod_revision);
	be64(h + 24, (uint64_t)kv->version);
	be64(h + 32, (uint64_t)kv->lease);
	be64(h + 40, kv->value_len);
	sha256_update(c, sizeof(h), h);
	sha256_update(c, kv->key_len, kv->key);
	sha256_update(c, kv->value_len, kv->value);
}

/* key + "\0": the first key after key. */
static uint8_t *successor(const uint8_t *key, size_t len)
{
	uint8_t *s = malloc(len + 1);

	if (s != NULL) {
		memcpy(s, key, len);
		s[len] = 0;
	}
	return s;
}

/* What one digest reads: [from, end) of url at rev, at most max keys. */
struct slice {
	struct em_gw *gw;
	const char *url;
	int64_t rev;
	const uint8_t *from, *end;
	size_t from_len, end_len;
	uint64_t max;
	uint64_t deadline;
	const atomic_bool *stop;
};

/* One page into the digest; d->last gets where the next page starts. */
static enum em_status digest_page(const struct slice *s, struct sha256_ctx *c,
                                  struct em_range_req *q, struct digest *d,
                                  struct em_error *err)
{
	struct em_range r;
	enum em_status st;

	for (;;) {
		st = em_gw_range(s->gw, s->url, q, &r, err);
		if (st == EM_OK || err->code != EM_GW_BAD_RESPONSE ||
		    q->limit <= 1)
			break;
		q->limit /= 2;   /* an answer too big: smaller pages */
	}
	if (st != EM_OK)
		return st;
	for (size_t i = 0; i < r.n; i++)
		feed(c, &r.kvs[i]);
	d->n += r.n;
	if (r.n > 0) {
		free(d->last);
		d->last = successor(r.kvs[r.n - 1].key, r.kvs[r.n - 1].key_len);
		d->last_len = r.kvs[r.n - 1].key_len;
		if (d->last == NULL)
			st = em_error_set(err, EM_ENOMEM, "out of memory");
	}
	d->more = r.more;
	em_range_free(&r);
	return st;
}

static enum em_status digest_loop(const struct slice *s, struct sha256_ctx *c,
                                  struct digest *d, struct em_error *err)
{
	struct em_range_req q;
	int64_t page = PAGE_KEYS;
	enum em_status st;

	memset(&q, 0, sizeof(q));
	q.key = s->from;
	q.key_len = s->from_len;
	q.range_end = s->end;
	q.range_end_len = s->end_len;
	q.revision = s->rev;
	q.serializable = true;
	for (;;) {
		uint64_t left = s->max - d->n;

		q.limit = (uint64_t)page < left ? page : (int64_t)left;
		st = digest_page(s, c, &q, d, err);
		if (st != EM_OK || !d->more)
			return st;
		page = q.limit;
		if (d->n >= s->max)
			return EM_OK;
		if (watch_now_ms() >= s->deadline || atomic_load(s->stop)) {
			d->cut_short = true;
			return EM_OK;
		}
		q.key = d->last;      /* last key + "\0" */
		q.key_len = d->last_len + 1;
	}
}

static enum em_status digest_range(const struct slice *s, struct digest *d,
                                   struct em_error *err)
{
	struct sha256_ctx c;
	enum em_status st;

	memset(d, 0, sizeof(*d));
	sha256_init(&c);
	st = digest_loop(s, &c, d, err);
	if (st == EM_OK)
		sha256_digest(&c, sizeof(d->sum), d->sum);
	return st;
}

static void hex8(const unsigned char *sum, char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

/* Which slice was compared: "all keys", "keys up to 'b'", "keys after
 * 'a'", "keys after 'a' up to 'b'" (the cursor is a key + "\0"). */
static void describe(const struct hash_cursor *cur, const struct digest *d,
                     char *out, size_t n)
{
	char a[64] = "", b[64] = "";

	if (cur->key != NULL)
		show_key(cur->key, cur->len - 1, a, sizeof(a));
	if (d->more && d->last != NULL)
		show_key(d->last, d->last_len, b, sizeof(b));
	if (cur->key == NULL && !d->more)
		snprintf(out, n, "all keys");
	else if (cur->key == NULL)
		snprintf(out, n, "keys up to '%s'", b);
	else if (!d->more)
		snprintf(out, n, "keys after '%s'", a);
	else
		snprintf(out, n, "keys after '%s' up to '%s'", a, b);
}

static enum hash_result read_error(const struct em_error *err,
                                   const char *who, const char *url,
                                   int64_t rev, char *detail, size_t n)
{
	if (err->code == EM_GW_COMPACTED)
		return say(HASH_SKIPPED, detail, n, "not compared: revision "
		           "%" PRId64 " was compacted meanwhile", rev);
	return say(HASH_ERROR, detail, n, "not compared: reading %s (%s) at "
	           "revision %" PRId64 ": %s", who, url, rev, err->msg);
}

static enum hash_result judge(const struct hash_self *self,
                              const struct peer *p, int64_t rev,
                              const struct digest *mine,
                              const struct digest *theirs,
                              const char *what, char *detail, size_t n)
{
	char a[17], b[17];

	hex8(mine->sum, a);
	hex8(theirs->sum, b);
	if (mine->n == theirs->n && memcmp(mine->sum, theirs->sum, 32) == 0)
		return say(HASH_EQUAL, detail, n, "equal: %" PRIu64 " keys "
		           "(sha256 %s) of this member (%s) and of peer %s "
		           "(%s) at revision %" PRId64 ", %s (serializable "
		           "range: HashKV not served)", mine->n, a, self->url,
		           p->m->name, p->url, rev, what);
	return say(HASH_DIVERGENT, detail, n, "DIVERGENT: at revision %"
	           PRId64 ", %s: this member (%s) has %" PRIu64 " keys "
	           "(sha256 %s), peer %s (%s) %" PRIu64 "%s (sha256 %s)", rev,
	           what, self->url, mine->n, a, p->m->name, p->url, theirs->n,
	           theirs->n > mine->n ? " or more" : "", b);
}

/* Moves the cursor past the slice just compared (wrapping at the end). */
static void advance(struct hash_cursor *cur, struct digest *mine)
{
	hash_cursor_free(cur);
	if (mine->more) {
		cur->key = mine->last;     /* already last key + "\0" */
		cur->len = mine->last_len + 1;
		mine->last = NULL;
	}
}

static enum hash_result by_digest(const struct em_config *cfg,
                                  struct em_gw *gw,
                                  const struct hash_self *self,
                                  const struct peer *p, int64_t rev,
                                  struct hash_cursor *cur,
                                  const atomic_bool *stop, char *detail,
                                  size_t n)
{
	static const uint8_t zero = 0;
	uint64_t t0 = watch_now_ms();
	struct slice s = {
		.gw = gw, .url = self->url, .rev = rev,
		.from = cur->key ? cur->key : &zero,
		.from_len = cur->key ? cur->len : 1,
		.end = &zero, .end_len = 1,   /* "\0": to the end */
		.max = cfg->watch.hash_max_keys,
		.deadline = t0 + WATCH_HASH_TIME_LIMIT_MS / 2, .stop = stop,
	};
	struct digest mine, theirs;
	struct em_error err;
	enum hash_result r;
	char what[160];

	em_error_clear(&err);
	if (digest_range(&s, &mine, &err) != EM_OK) {
		r = read_error(&err, "this member", self->url, rev, detail, n);
		digest_free(&mine);
		return r;
	}
	/* The peer: exactly the slice this member yielded, and one key more
	 * at most (then it has keys this member lacks). */
	if (mine.more) {
		s.end = mine.last;
		s.end_len = mine.last_len + 1;
	}
	s.url = p->url;
	s.max = mine.n + 1;
	s.deadline = t0 + WATCH_HASH_TIME_LIMIT_MS;
	if (digest_range(&s, &theirs, &err) != EM_OK)
		r = read_error(&err, "peer", p->url, rev, detail, n);
	else if (theirs.cut_short || atomic_load(stop))
		r = say(HASH_SKIPPED, detail, n, "not compared: the time "
		        "limit (%llu s) ran out reading peer %s", (unsigned long
		        long)WATCH_HASH_TIME_LIMIT_MS / 1000, p->m->name);
	else {
		describe(cur, &mine, what, sizeof(what));
		r = judge(self, p, rev, &mine, &theirs, what, detail, n);
	}
	/* A divergent slice is read again next time, to confirm it. */
	if (r == HASH_EQUAL)
		advance(cur, &mine);
	digest_free(&mine);
	digest_free(&theirs);
	return r;
}

enum hash_result watch_hash_check(const struct em_config *cfg,
                                  struct em_gw *gw,
                                  const struct hash_self *self,
                                  struct hash_cursor *cursor,
                                  const atomic_bool *stop,
                                  char *detail, size_t n)
{
	const struct em_gw_status *me = self->status;
	enum hash_result r;
	struct peer p;
	int64_t rev;
	bool served;

	if (self->is_learner)
		return say(HASH_SKIPPED, detail, n, "not compared: this member "
		           "is a learner (it serves only serializable reads and "
		           "may lag)");
	if (self->members->header.cluster_id != me->header.cluster_id)
		return say(HASH_ERROR, detail, n, "not compared: the endpoints "
		           "answer for cluster %" PRIx64 ", this member is of "
		           "cluster %" PRIx64, self->members->header.cluster_id,
		           me->header.cluster_id);
	if (!pick_peer(gw, self, &p, &r, detail, n))
		return r;
	rev = me->header.revision < p.status.header.revision ?
	      me->header.revision : p.status.header.revision;
	r = by_hashkv(gw, self, &p, rev, &served, detail, n);
	if (served)
		return r;
	return by_digest(cfg, gw, self, &p, rev, cursor, stop, detail, n);
}
