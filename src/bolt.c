/*
 * bolt.c - an independent consistency check of a bbolt file.
 *
 * etcd keeps its key space in a bbolt B+tree file (member/snap/db).  This
 * module judges such a file from its bytes alone, written from the format
 * (../shared/reference/etcd-formats.md, section C), not from bbolt's code.
 * What it checks, and why:
 *
 *  - both meta pages (magic, version, FNV-1a checksum); the valid one with
 *    the higher txid is used, as bbolt does.  One bad meta page is what a
 *    crash while writing it leaves, and bbolt falls back to the other: that
 *    is a note, not damage.
 *  - every bucket from the root, nested and inline: page ids, flags,
 *    element extents, overflow runs below the high-water mark, keys
 *    strictly ascending and inside the bounds set by the parent branch, no
 *    page reached twice (which also makes cycles harmless).
 *  - the freelist when it is synced (etcd on Linux does not sync it; then
 *    the free pages are the unreachable ones, as in bbolt), and every page
 *    below the high-water mark reachable or free, never both.
 *  - what etcd needs: `meta/consistent_index` and the compaction revisions
 *    well formed, and the `key` bucket present once etcd applied anything.
 *
 * Speed.  A tree walk visits pages in key order, which is random I/O on a
 * cold cache, and touching a large mapping page by page is slow too (a TLB
 * miss and often a fault per page).  So the file is read with pread, in
 * file order, in sweeps: a sweep visits every pending page in ascending
 * page id; a branch adds its children as pending, and children after it
 * are visited in the same sweep, those before it in the next.  A sweep
 * reads runs of nearby pending pages in one call.  The leaves, nearly all
 * of the file, come in one ascending pass; the few sweeps more cover the
 * upper levels that copy-on-write scattered, and a prefetch thread streams
 * the file into the page cache meanwhile so that those cost no seeks.
 *
 * Memory: 9 bytes and 3 bits per page (bounds references, bucket role,
 * bitmaps), the separator keys of the branch pages (about 21 bytes per
 * page for etcd's 17-byte revision keys), and a 1 MiB read window.  The
 * file itself is never held.
 */
#include "etcd-medic/bolt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Page layout (bbolt page.go): a 16-byte header, then 16-byte elements. */
#define PAGE_HDR 16u
#define ELEM_SIZE 16u
#define META_OFF PAGE_HDR
#define META_SIZE 64u           /* magic .. checksum */
#define META_SUMMED 56u         /* magic .. txid, covered by the checksum */
#define BUCKET_HDR 16u          /* struct bucket { root, sequence } */

#define FLAG_BRANCH 0x01u
#define FLAG_LEAF 0x02u
#define FLAG_FREELIST 0x10u
#define LEAF_BUCKET 0x01u

#define BOLT_MAGIC 0xED0CDAEDu
#define BOLT_VERSION 2u
#define NO_FREELIST UINT64_MAX
#define MAX_KEY 32768u
#define MAX_VALUE 0x7FFFFFFEu   /* (1 << 31) - 2 */
#define MIN_PAGE 512u
#define MAX_PAGE (1u << 20)     /* etcd uses the OS page size: 4-64 KiB */

#define WINDOW (1u << 20)       /* read window */
#define GAP (256u << 10)        /* read through gaps up to this size */
#define ARENA_MAX (1ull << 31)  /* separator keys held at most */

/* What a tree is, for the few buckets etcd needs us to look into. */
enum role { ROLE_ROOT, ROLE_META, ROLE_CLUSTER, ROLE_KEY, ROLE_OTHER };

struct meta {
	uint32_t magic, version, page_size, flags;
	uint64_t root, sequence, freelist, pgid, txid, checksum;
};

/* A key: bytes and length; p == NULL means "no bound". */
struct key {
	const uint8_t *p;
	uint32_t len;
};

/* Bounds of a pending page: offsets of its separator keys in the arena
 * (0: unbounded).  lo is inclusive, hi exclusive. */
struct bounds {
	uint32_t lo, hi;
};

/* Where the bytes come from: a file read through a window, or a buffer. */
struct source {
	int fd;                 /* -1: read from buf */
	const uint8_t *buf;
	uint64_t len;
	uint8_t *win;
	uint64_t win_off, win_len;
	int err;                /* first read error, 0 if none */
	uint64_t err_off;
};

struct walk {
	struct source src;
	const char *name;
	enum em_check_mode mode;
	struct em_report *rep;
	struct em_bolt_info *info;
	uint32_t psize;
	uint64_t hwm;           /* meta.pgid: pages [0, hwm) are allocated */
	uint64_t *reached;      /* bitmaps over [0, hwm) */
	uint64_t *pending;
	uint64_t *freed;
	uint64_t n_pending;
	struct bounds *bounds;  /* per page, valid while pending */
	uint8_t *roles;         /* per page, valid while pending */
	uint8_t *arena;         /* separator keys: u32 length, bytes */
	uint64_t arena_len, arena_cap;
	uint8_t *big;           /* elements of a page larger than WINDOW */
	size_t big_cap;
	uint32_t *refs;         /* scratch: arena offsets of a branch's keys */
	uint8_t prev[MAX_KEY];  /* previous key of a big page (keep_prev) */
	size_t evidence_before;  /* rep->total_evidence when the check began */
	bool nomem;
};

/* A page being visited. */
struct view {
	uint64_t id;
	uint64_t off;           /* file offset */
	uint64_t span;          /* bytes, overflow included */
	const uint8_t *whole;   /* the whole page, or NULL for a big one */
	const uint8_t *elems;   /* header and elements */
	uint32_t count;
	struct bounds b;        /* arena offsets: the arena may move */
	enum role role;
};

/* ---- little helpers ---------------------------------------------------- */

/* bbolt writes in native byte order; so do we read. */
static uint16_t ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static bool bit_get(const uint64_t *bm, uint64_t i)
{
	return (bm[i >> 6] >> (i & 63)) & 1u;
}

static void bit_set(uint64_t *bm, uint64_t i)
{
	bm[i >> 6] |= 1ull << (i & 63);
}

static void bit_clear(uint64_t *bm, uint64_t i)
{
	bm[i >> 6] &= ~(1ull << (i & 63));
}

/* The first set bit at or after i, or n if none below n. */
static uint64_t bit_next(const uint64_t *bm, uint64_t i, uint64_t n)
{
	while (i < n) {
		uint64_t word = bm[i >> 6] >> (i & 63);
		if (word != 0) {
			i += (uint64_t)__builtin_ctzll(word);
			return i < n ? i : n;
		}
		i = (i | 63) + 1;
	}
	return n;
}

static int key_cmp(struct key a, struct key b)
{
	uint32_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	if (c != 0)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

/* A short printable form of a key for evidence messages. */
static const char *key_str(struct key k, char *out, size_t outlen)
{
	size_t o = 0;
	uint32_t i;

	for (i = 0; i < k.len && o + 8 < outlen; i++) {
		uint8_t c = k.p[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	snprintf(out + o, outlen - o, "%s", i < k.len ? "..." : "");
	return out;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define EVIDENCE(w, id, ...) \
	em_report_corrupt((w)->rep, (w)->name, EM_AT_PAGE, (id), __VA_ARGS__)

/* ---- reading ------------------------------------------------------------ */

static bool src_has(const struct source *s, uint64_t off, uint64_t n)
{
	return s->fd < 0 ||
	       (off >= s->win_off && off + n <= s->win_off + s->win_len);
}

/*
 * Returns n bytes at off (the caller has checked off + n <= file size),
 * reading `want` bytes (at least n) into the window if they are not there.
 * The pointer is valid until the next call.  NULL on a read error, which is
 * recorded: a file we cannot read is unreadable, never corrupt.
 */
static const uint8_t *src_get(struct source *s, uint64_t off, uint64_t n,
                              uint64_t want)
{
	uint64_t got = 0;

	if (s->fd < 0)
		return s->buf + off;
	if (src_has(s, off, n))
		return s->win + (off - s->win_off);
	if (s->err || n > WINDOW)
		return NULL;
	if (want < n)
		want = n;
	if (want > WINDOW)
		want = WINDOW;
	if (want > s->len - off)
		want = s->len - off;
	while (got < want) {
		ssize_t r = pread(s->fd, s->win + got, (size_t)(want - got),
		                  (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			s->err = r < 0 ? errno : EIO;
			s->err_off = off + got;
			s->win_len = 0;
			return NULL;
		}
		got += (uint64_t)r;
	}
	s->win_off = off;
	s->win_len = got;
	return s->win;
}

/* Bytes [rel, rel + n) of the page in view. */
static const uint8_t *view_get(struct walk *w, const struct view *v,
                               uint64_t rel, uint64_t n)
{
	if (v->whole != NULL)
		return v->whole + rel;
	return src_get(&w->src, v->off + rel, n, n);
}

/* ---- meta pages --------------------------------------------------------- */

static void meta_read(const uint8_t *page, struct meta *m)
{
	const uint8_t *p = page + META_OFF;

	m->magic = ld32(p);
	m->version = ld32(p + 4);
	m->page_size = ld32(p + 8);
	m->flags = ld32(p + 12);
	m->root = ld64(p + 16);
	m->sequence = ld64(p + 24);
	m->freelist = ld64(p + 32);
	m->pgid = ld64(p + 40);
	m->txid = ld64(p + 48);
	m->checksum = ld64(p + 56);
}

/*
 * Validates a meta page as bbolt does (magic, version, checksum).  bbolt
 * 1.3.6 let a zero checksum through, 1.3.7 does not: a zeroed checksum is
 * damage, never something bbolt writes.  NULL if valid, else why not.
 */
static const char *meta_invalid(const uint8_t *page, const struct meta *m)
{
	if (m->magic != BOLT_MAGIC)
		return "bad magic";
	if (m->version != BOLT_VERSION)
		return "unsupported version";
	if (m->checksum != fnv1a64(page + META_OFF, META_SUMMED))
		return "checksum mismatch";
	return NULL;
}

static bool page_size_ok(uint32_t ps)
{
	return ps >= MIN_PAGE && ps <= MAX_PAGE && (ps & (ps - 1)) == 0;
}

/* Reads the meta page at off into m; returns why it is invalid or NULL. */
static const char *meta_at(struct walk *w, uint64_t off, struct meta *m)
{
	const uint8_t *p;

	if (off + META_OFF + META_SIZE > w->src.len)
		return "beyond the end of the file";
	p = src_get(&w->src, off, META_OFF + META_SIZE, META_OFF + META_SIZE);
	if (p == NULL)
		return "read error";
	meta_read(p, m);
	return meta_invalid(p, m);
}

/*
 * The page size: from meta 0 if it is valid, else by probing for a valid
 * meta 1 at each power of two (as bbolt 1.3.11 does).  0 if none found.
 * bbolt believes any meta 0 that passes its checks, so a valid meta 0 with
 * a page size bbolt cannot work with (it divides by it) is damage, whatever
 * meta 1 says: *bad_meta0 is set.
 */
static uint32_t find_page_size(struct walk *w, bool *bad_meta0)
{
	struct meta m;

	*bad_meta0 = false;
	if (meta_at(w, 0, &m) == NULL) {
		if (page_size_ok(m.page_size))
			return m.page_size;
		*bad_meta0 = true;
		EVIDENCE(w, 0, "meta page 0 passes its checksum but has page "
		         "size %u: bbolt takes the page size from it and "
		         "cannot open the file", m.page_size);
		return 0;
	}
	for (uint32_t ps = MIN_PAGE; ps <= MAX_PAGE; ps <<= 1)
		if (meta_at(w, ps, &m) == NULL && m.page_size == ps)
			return ps;
	return 0;
}

/*
 * Picks the meta page bbolt would use.  Returns its index (0 or 1), or -1
 * when bbolt could not open the file at all (evidence recorded).
 */
static int choose_meta(struct walk *w, struct meta *out)
{
	struct meta m[2];
	const char *why[2];
	bool bad_meta0;
	int pick;

	w->psize = find_page_size(w, &bad_meta0);
	if (w->src.err || bad_meta0)
		return -1;
	if (w->psize == 0) {
		if (w->src.len < META_OFF + META_SIZE)
			EVIDENCE(w, 0, "file of %llu bytes is too short to "
			         "hold a meta page",
			         (unsigned long long)w->src.len);
		else
			EVIDENCE(w, 0, "no valid meta page: neither page 0 "
			         "nor a page 1 at any page size has a valid "
			         "magic, version and checksum");
		return -1;
	}
	if (w->src.len < 2 * (uint64_t)w->psize) {
		EVIDENCE(w, 1, "file of %llu bytes is shorter than two pages "
		         "of %u bytes", (unsigned long long)w->src.len,
		         w->psize);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		why[i] = meta_at(w, (uint64_t)i * w->psize, &m[i]);
		/* bbolt would use such a page with the other's page size:
		 * a checksummed page that disagrees was written wrong, not
		 * torn. */
		if (why[i] == NULL && m[i].page_size != w->psize) {
			EVIDENCE(w, (uint64_t)i, "meta page %d passes its "
			         "checksum but says page size %u, not %u", i,
			         m[i].page_size, w->psize);
			return -1;
		}
	}
	if (w->src.err)
		return -1;
	if (why[0] && why[1]) {
		EVIDENCE(w, 0, "meta page 0 invalid: %s", why[0]);
		EVIDENCE(w, 1, "meta page 1 invalid: %s", why[1]);
		return -1;
	}
	pick = (!why[0] && !why[1]) ? (m[1].txid > m[0].txid) : (why[0] != NULL);
	if (why[pick ^ 1])
		em_report_note(w->rep, w->name, EM_AT_PAGE, (uint64_t)(pick ^ 1),
		               "meta page %d invalid (%s); bbolt uses meta "
		               "page %d (txid %llu), as after a crash during a "
		               "commit", pick ^ 1, why[pick ^ 1], pick,
		               (unsigned long long)m[pick].txid);
	*out = m[pick];
	return pick;
}

/* The fields of the chosen meta that its checksum cannot vouch for (a bug
 * or a bad write before the checksum was computed). */
static bool meta_fields_ok(struct walk *w, int idx, const struct meta *m)
{
	uint64_t file_pages = w->src.len / w->psize;
	bool ok = true;

	if (m->pgid < 3 || m->pgid > file_pages) {
		EVIDENCE(w, (uint64_t)idx, "high-water mark %llu does not fit "
		         "a file of %llu pages (%llu bytes): truncated?",
		         (unsigned long long)m->pgid,
		         (unsigned long long)file_pages,
		         (unsigned long long)w->src.len);
		ok = false;
	}
	if (m->root < 2 || m->root >= m->pgid) {
		EVIDENCE(w, (uint64_t)idx, "root bucket page %llu outside "
		         "[2, %llu)", (unsigned long long)m->root,
		         (unsigned long long)m->pgid);
		ok = false;
	}
	if (m->freelist != NO_FREELIST &&
	    (m->freelist < 2 || m->freelist >= m->pgid)) {
		EVIDENCE(w, (uint64_t)idx, "freelist page %llu outside "
		         "[2, %llu)", (unsigned long long)m->freelist,
		         (unsigned long long)m->pgid);
		ok = false;
	}
	return ok;
}

/* ---- pending pages ------------------------------------------------------ */

/* Appends a key to the arena; returns its offset (never 0), or 0 when out
 * of memory (recorded). */
static uint32_t arena_add(struct walk *w, struct key k)
{
	uint64_t need = w->arena_len + 4 + k.len;
	uint32_t at;

	if (need > w->arena_cap) {
		uint64_t cap = w->arena_cap ? w->arena_cap * 2 : 1u << 16;
		uint8_t *a;
		while (cap < need)
			cap *= 2;
		if (cap > ARENA_MAX || (a = realloc(w->arena, cap)) == NULL) {
			w->nomem = true;
			return 0;
		}
		w->arena = a;
		w->arena_cap = cap;
	}
	at = (uint32_t)w->arena_len;
	memcpy(w->arena + at, &k.len, 4);
	memcpy(w->arena + at + 4, k.p, k.len);
	w->arena_len = need;
	return at;
}

static struct key arena_key(const struct walk *w, uint32_t at)
{
	struct key k = { NULL, 0 };

	if (at != 0) {
		memcpy(&k.len, w->arena + at, 4);
		k.p = w->arena + at + 4;
	}
	return k;
}

/*
 * Makes page id pending: it will be visited by this sweep if it lies ahead,
 * else by the next.  A page reached a second time is damage (two parents,
 * or a cycle) and is not visited again.
 */
static void add_pending(struct walk *w, uint64_t id, uint64_t from,
                        uint32_t elem, struct bounds b, enum role role)
{
	if (id < 2 || id >= w->hwm) {
		EVIDENCE(w, from, "element %u refers to page %llu, outside the "
		         "allocated pages [2, %llu)", elem,
		         (unsigned long long)id, (unsigned long long)w->hwm);
		return;
	}
	if (bit_get(w->reached, id)) {
		EVIDENCE(w, id, "reached twice (again from page %llu element "
		         "%u): shared or cyclic page reference",
		         (unsigned long long)from, elem);
		return;
	}
	bit_set(w->reached, id);
	bit_set(w->pending, id);
	w->n_pending++;
	w->bounds[id] = b;
	w->roles[id] = (uint8_t)role;
}

/* How many bytes from page id on are worth one read: the page and the
 * pending pages after it, as long as the gaps between them are small. */
static uint64_t read_ahead(const struct walk *w, uint64_t id)
{
	uint64_t last = id, limit = id + WINDOW / w->psize;
	uint64_t gap = GAP / w->psize;

	if (limit > w->hwm)
		limit = w->hwm;
	for (;;) {
		uint64_t nx = bit_next(w->pending, last + 1, limit);
		if (nx >= limit || nx - last > gap)
			break;
		last = nx;
	}
	return (last - id + 1) * w->psize;
}

/* ---- visiting pages ----------------------------------------------------- */

/*
 * Checks that the elements and every key (and leaf value) they point to lie
 * inside the page, with sane sizes and flags.  For real pages and the page
 * images of inline buckets alike (for those, id is the containing page).
 */
static bool elements_fit(struct walk *w, uint64_t id, const uint8_t *elems,
                         uint64_t span, uint32_t count, bool leaf)
{
	if (PAGE_HDR + (uint64_t)count * ELEM_SIZE > span) {
		EVIDENCE(w, id, "%u elements do not fit in %llu bytes", count,
		         (unsigned long long)span);
		return false;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t off = PAGE_HDR + (uint64_t)i * ELEM_SIZE;
		const uint8_t *e = elems + off;
		uint64_t pos = leaf ? ld32(e + 4) : ld32(e);
		uint64_t ksz = leaf ? ld32(e + 8) : ld32(e + 4);
		uint64_t vsz = leaf ? ld32(e + 12) : 0;

		if (ksz == 0 || ksz > MAX_KEY) {
			EVIDENCE(w, id, "element %u: key size %llu outside "
			         "[1, %u]", i, (unsigned long long)ksz, MAX_KEY);
			return false;
		}
		if (vsz > MAX_VALUE || off + pos + ksz + vsz > span) {
			EVIDENCE(w, id, "element %u: key and value at +%llu "
			         "(%llu + %llu bytes) run past the page's %llu "
			         "bytes", i, (unsigned long long)(off + pos),
			         (unsigned long long)ksz,
			         (unsigned long long)vsz,
			         (unsigned long long)span);
			return false;
		}
		if (leaf && (ld32(e) & ~LEAF_BUCKET) != 0) {
			EVIDENCE(w, id, "element %u: unknown leaf flags 0x%x", i,
			         ld32(e));
			return false;
		}
	}
	return true;
}

/* Element i's key (and for a leaf, value) position within its page. */
static void elem_pos(const uint8_t *elems, uint32_t i, bool leaf,
                     uint64_t *koff, uint32_t *klen, uint32_t *vlen)
{
	const uint8_t *e = elems + PAGE_HDR + (size_t)i * ELEM_SIZE;

	*koff = PAGE_HDR + (uint64_t)i * ELEM_SIZE +
	        (leaf ? ld32(e + 4) : ld32(e));
	*klen = leaf ? ld32(e + 8) : ld32(e + 4);
	*vlen = leaf ? ld32(e + 12) : 0;
}

/*
 * Checks that key k (element i) lies above the previous key of its page, at
 * or above the parent's separator, below the next separator.
 */
static bool key_in_order(struct walk *w, uint64_t id, uint32_t i,
                         struct key k, struct key prev, struct bounds bd)
{
	struct key lo = arena_key(w, bd.lo), hi = arena_key(w, bd.hi);
	char a[100], b[100];

	if (i > 0 && key_cmp(prev, k) >= 0) {
		EVIDENCE(w, id, "key %u \"%s\" is not above the previous key "
		         "\"%s\"", i, key_str(k, a, sizeof(a)),
		         key_str(prev, b, sizeof(b)));
		return false;
	}
	if (i == 0 && lo.p && key_cmp(k, lo) < 0) {
		EVIDENCE(w, id, "first key \"%s\" is below the parent's "
		         "separator \"%s\"", key_str(k, a, sizeof(a)),
		         key_str(lo, b, sizeof(b)));
		return false;
	}
	if (hi.p && key_cmp(k, hi) >= 0) {
		EVIDENCE(w, id, "key %u \"%s\" is not below the parent's next "
		         "separator \"%s\"", i, key_str(k, a, sizeof(a)),
		         key_str(hi, b, sizeof(b)));
		return false;
	}
	return true;
}

/*
 * Keeps k as the previous key of the page in view.  A key of a whole page
 * stays where it is; a big page's keys come through the read window, which
 * the next key may reuse, so that one is copied.  Inline buckets are always
 * whole, so their walk never touches the copy of an enclosing big page.
 */
static struct key keep_prev(struct walk *w, const struct view *v,
                            struct key k)
{
	struct key prev = k;

	if (v->whole == NULL) {
		memcpy(w->prev, k.p, k.len);
		prev.p = w->prev;
	}
	return prev;
}

static enum role child_role(enum role parent, struct key k)
{
	if (parent != ROLE_ROOT)
		return ROLE_OTHER;
	if (k.len == 4 && memcmp(k.p, "meta", 4) == 0)
		return ROLE_META;
	if (k.len == 7 && memcmp(k.p, "cluster", 7) == 0)
		return ROLE_CLUSTER;
	if (k.len == 3 && memcmp(k.p, "key", 3) == 0)
		return ROLE_KEY;
	return ROLE_OTHER;
}

static bool key_is(struct key k, const char *s)
{
	size_t n = strlen(s);

	return k.len == n && memcmp(k.p, s, n) == 0;
}

/* A short string value, cut to fit, NUL-ended. */
static void copy_str(char *dst, size_t size, const uint8_t *v, uint32_t vlen)
{
	size_t n = vlen < size - 1 ? vlen : size - 1;

	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* What etcd reads at start from the buckets we know: a malformed value
 * there makes etcd panic. */
static void etcd_value(struct walk *w, uint64_t id, enum role role,
                       struct key k, const uint8_t *v, uint32_t vlen)
{
	struct em_bolt_info *info = w->info;

	if (role == ROLE_META) {
		if ((key_is(k, "consistent_index") || key_is(k, "term")) &&
		    vlen != 8) {
			EVIDENCE(w, id, "meta/%.*s is %u bytes, not 8",
			         (int)k.len, (const char *)k.p, vlen);
			return;
		}
		if ((key_is(k, "scheduledCompactRev") ||
		     key_is(k, "finishedCompactRev")) && vlen != 17) {
			EVIDENCE(w, id, "meta/%.*s is %u bytes, not a 17-byte "
			         "revision", (int)k.len, (const char *)k.p,
			         vlen);
			return;
		}
		if (key_is(k, "consistent_index") && info) {
			info->has_consistent_index = true;
			info->consistent_index = be64(v);
		}
		if (key_is(k, "storageVersion") && info)
			copy_str(info->storage_version,
			         sizeof(info->storage_version), v, vlen);
	} else if (role == ROLE_CLUSTER && info &&
	           key_is(k, "clusterVersion")) {
		copy_str(info->cluster_version, sizeof(info->cluster_version),
		         v, vlen);
	}
}

static void leaf_entries(struct walk *w, struct view *v);

/*
 * An inline bucket: a leaf page image inside the value, after the bucket
 * header.  bbolt inlines only a single small leaf without sub-buckets.
 */
static void inline_bucket(struct walk *w, const struct view *parent,
                          uint32_t i, const uint8_t *val, uint32_t vlen,
                          enum role role)
{
	const uint8_t *img = val + BUCKET_HDR;
	struct view v;

	if (vlen < BUCKET_HDR + PAGE_HDR || vlen > BUCKET_HDR + w->psize / 4) {
		EVIDENCE(w, parent->id, "element %u: inline bucket of %u bytes "
		         "(bbolt inlines %u to %u)", i, vlen,
		         BUCKET_HDR + PAGE_HDR, BUCKET_HDR + w->psize / 4);
		return;
	}
	if (ld16(img + 8) != FLAG_LEAF || ld32(img + 12) != 0) {
		EVIDENCE(w, parent->id, "element %u: inline bucket page has "
		         "flags 0x%x, overflow %u", i, ld16(img + 8),
		         ld32(img + 12));
		return;
	}
	memset(&v, 0, sizeof(v));
	v.id = parent->id;
	v.span = vlen - BUCKET_HDR;
	v.whole = img;
	v.elems = img;
	v.count = ld16(img + 10);
	v.role = role;
	if (!elements_fit(w, v.id, img, v.span, v.count, true))
		return;
	for (uint32_t j = 0; j < v.count; j++) {
		if (ld32(img + PAGE_HDR + (size_t)j * ELEM_SIZE) & LEAF_BUCKET) {
			EVIDENCE(w, v.id, "element %u: inline bucket holds a "
			         "bucket, which bbolt never inlines", i);
			return;
		}
	}
	if (w->info)
		w->info->buckets++;
	leaf_entries(w, &v);
}

/* A bucket entry of a leaf: enters the bucket, inline or as a new tree. */
static void sub_bucket(struct walk *w, const struct view *v, uint32_t i,
                       struct key k, const uint8_t *val, uint32_t vlen)
{
	enum role role = child_role(v->role, k);
	struct bounds none = { 0, 0 };
	uint64_t root;

	if (vlen < BUCKET_HDR) {
		EVIDENCE(w, v->id, "element %u: bucket value of %u bytes is "
		         "shorter than a bucket header", i, vlen);
		return;
	}
	if (v->role == ROLE_ROOT && w->info) {
		if (role == ROLE_KEY)
			w->info->has_key_bucket = true;
		if (role == ROLE_META)
			w->info->has_meta_bucket = true;
	}
	root = ld64(val);
	if (root == 0) {
		inline_bucket(w, v, i, val, vlen, role);
		return;
	}
	if (w->info)
		w->info->buckets++;
	/* A sanity check walks only the small trees etcd's verdict needs. */
	if (w->mode == EM_CHECK_SANITY && (role == ROLE_OTHER ||
	                                   role == ROLE_KEY))
		return;
	add_pending(w, root, v->id, i, none, role);
}

/*
 * How much of a value to fetch: values are read only where we look into
 * them (bucket headers and inline buckets, the etcd keys we check), and
 * only as far as a valid one can reach, so a damaged size cannot make us
 * read far.
 */
static uint32_t value_need(const struct walk *w, const struct view *v,
                           bool bucket, uint32_t vlen)
{
	uint32_t cap = 0;

	if (bucket)
		cap = BUCKET_HDR + w->psize / 4;
	else if (v->role == ROLE_META || v->role == ROLE_CLUSTER)
		cap = 64;
	return vlen < cap ? vlen : cap;
}

/* The entries of a leaf page or of an inline bucket's page image. */
static void leaf_entries(struct walk *w, struct view *v)
{
	struct key prev = { NULL, 0 };

	for (uint32_t i = 0; i < v->count; i++) {
		uint64_t koff;
		uint32_t klen, vlen;
		const uint8_t *kv;
		struct key k;
		bool bucket;

		elem_pos(v->elems, i, true, &koff, &klen, &vlen);
		bucket = ld32(v->elems + PAGE_HDR + (size_t)i * ELEM_SIZE) &
		         LEAF_BUCKET;
		kv = view_get(w, v, koff, klen + value_need(w, v, bucket, vlen));
		if (kv == NULL)
			return;
		k.p = kv;
		k.len = klen;
		if (!key_in_order(w, v->id, i, k, prev, v->b))
			return;
		prev = keep_prev(w, v, k);
		if (bucket) {
			sub_bucket(w, v, i, k, kv + klen, vlen);
		} else if (v->role == ROLE_ROOT) {
			char a[100];
			EVIDENCE(w, v->id, "root bucket entry \"%s\" is not a "
			         "bucket", key_str(k, a, sizeof(a)));
		} else {
			if (w->info) {
				w->info->keys++;
				w->info->revisions += v->role == ROLE_KEY;
				/* A key is an 8-byte big-endian main revision
				 * and more: the largest is the db's revision. */
				if (v->role == ROLE_KEY && klen >= 8 &&
				    be64(kv) > w->info->max_revision)
					w->info->max_revision = be64(kv);
			}
			if (v->role == ROLE_META || v->role == ROLE_CLUSTER)
				etcd_value(w, v->id, v->role, k, kv + klen, vlen);
		}
	}
}

/* A branch: checks its keys and makes its children pending, child i with
 * bounds [key i, key i+1), the last one up to the branch's own bound. */
static void branch_entries(struct walk *w, struct view *v)
{
	struct key prev = { NULL, 0 };
	uint32_t i;

	for (i = 0; i < v->count; i++) {
		uint64_t koff;
		uint32_t klen, vlen;
		struct key k;

		elem_pos(v->elems, i, false, &koff, &klen, &vlen);
		k.p = view_get(w, v, koff, klen);
		k.len = klen;
		if (k.p == NULL || !key_in_order(w, v->id, i, k, prev, v->b))
			return;
		prev = keep_prev(w, v, k);
		w->refs[i] = arena_add(w, k);
		if (w->refs[i] == 0)
			return;
	}
	for (i = 0; i < v->count; i++) {
		const uint8_t *e = v->elems + PAGE_HDR + (size_t)i * ELEM_SIZE;
		struct bounds b;

		b.lo = w->refs[i];
		b.hi = i + 1 < v->count ? w->refs[i + 1] : v->b.hi;
		add_pending(w, ld64(e + 8), v->id, i, b, v->role);
	}
}

/* Claims the overflow pages of a page visited at id. */
static bool claim_run(struct walk *w, uint64_t id, uint64_t ovf)
{
	if (ovf >= w->hwm - id) {
		EVIDENCE(w, id, "overflow of %llu pages runs past the "
		         "high-water mark %llu", (unsigned long long)ovf,
		         (unsigned long long)w->hwm);
		return false;
	}
	for (uint64_t i = id + 1; i <= id + ovf; i++) {
		if (bit_get(w->reached, i)) {
			EVIDENCE(w, i, "reached twice: inside the overflow of "
			         "page %llu and referenced on its own",
			         (unsigned long long)id);
			return false;
		}
	}
	for (uint64_t i = id + 1; i <= id + ovf; i++)
		bit_set(w->reached, i);
	if (w->info)
		w->info->pages_reachable += ovf + 1;
	return true;
}

/* Loads header and elements of the page at id into v.  A page larger than
 * the window has its elements copied aside and its keys read on demand. */
static bool load_page(struct walk *w, uint64_t id, struct view *v,
                      uint16_t *flags)
{
	const uint8_t *h;
	uint64_t ehdr;

	memset(v, 0, sizeof(*v));
	v->id = id;
	v->off = id * (uint64_t)w->psize;
	/* Size a read only when the window misses: read_ahead scans. */
	h = src_get(&w->src, v->off, PAGE_HDR, src_has(&w->src, v->off,
	            PAGE_HDR) ? PAGE_HDR : read_ahead(w, id));
	if (h == NULL)
		return false;
	if (ld64(h) != id) {
		EVIDENCE(w, id, "page header says id %llu",
		         (unsigned long long)ld64(h));
		return false;
	}
	*flags = ld16(h + 8);
	v->count = ld16(h + 10);
	if (!claim_run(w, id, ld32(h + 12)))
		return false;
	v->span = ((uint64_t)ld32(h + 12) + 1) * w->psize;
	if (v->span <= WINDOW) {
		v->whole = src_get(&w->src, v->off, v->span, v->span);
		v->elems = v->whole;
		return v->whole != NULL;
	}
	ehdr = PAGE_HDR + (uint64_t)v->count * ELEM_SIZE;
	if (ehdr > v->span)
		ehdr = PAGE_HDR;        /* elements_fit reports it */
	if (ehdr > w->big_cap) {
		uint8_t *b = realloc(w->big, (size_t)ehdr);
		if (b == NULL) {
			w->nomem = true;
			return false;
		}
		w->big = b;
		w->big_cap = (size_t)ehdr;
	}
	h = src_get(&w->src, v->off, ehdr, ehdr);
	if (h == NULL)
		return false;
	memcpy(w->big, h, (size_t)ehdr);
	v->elems = w->big;
	return true;
}

static void visit(struct walk *w, uint64_t id)
{
	struct view v;
	uint16_t flags;

	if (!load_page(w, id, &v, &flags))
		return;
	v.b = w->bounds[id];
	v.role = (enum role)w->roles[id];
	if (flags != FLAG_BRANCH && flags != FLAG_LEAF) {
		EVIDENCE(w, id, "flags 0x%x where a branch or leaf page "
		         "belongs", flags);
		return;
	}
	if (flags == FLAG_BRANCH && v.count == 0) {
		EVIDENCE(w, id, "branch page with no elements");
		return;
	}
	if (!elements_fit(w, id, v.elems, v.span, v.count, flags == FLAG_LEAF))
		return;
	if (flags == FLAG_LEAF)
		leaf_entries(w, &v);
	else
		branch_entries(w, &v);
}

/* Visits pending pages in ascending order, sweep after sweep, until none
 * is left.  Every page is visited at most once, so this ends. */
static void sweep(struct walk *w)
{
	while (w->n_pending > 0 && !w->nomem && !w->src.err) {
		uint64_t id = bit_next(w->pending, 0, w->hwm);

		while (id < w->hwm && !w->nomem && !w->src.err) {
			bit_clear(w->pending, id);
			w->n_pending--;
			visit(w, id);
			id = bit_next(w->pending, id + 1, w->hwm);
		}
	}
}

/* ---- freelist and accounting -------------------------------------------- */

static void read_freelist(struct walk *w, uint64_t id)
{
	const uint8_t *h = src_get(&w->src, id * (uint64_t)w->psize, PAGE_HDR,
	                           WINDOW);
	uint64_t count, first = 0, span, base = id * (uint64_t)w->psize;

	if (h == NULL)
		return;
	if (ld64(h) != id || ld16(h + 8) != FLAG_FREELIST) {
		EVIDENCE(w, id, "freelist page has id %llu, flags 0x%x",
		         (unsigned long long)ld64(h), ld16(h + 8));
		return;
	}
	count = ld16(h + 10);
	bit_set(w->reached, id);
	if (!claim_run(w, id, ld32(h + 12)))
		return;
	span = ((uint64_t)ld32(h + 12) + 1) * w->psize;
	if (count == 0xFFFF) {
		/* The real count is in the first id slot. */
		const uint8_t *c = src_get(&w->src, base + PAGE_HDR, 8, WINDOW);
		if (c == NULL)
			return;
		count = ld64(c);
		first = 1;
	}
	if (count > (span - PAGE_HDR) / 8 - first) {
		EVIDENCE(w, id, "freelist of %llu ids does not fit in %llu "
		         "bytes", (unsigned long long)count,
		         (unsigned long long)span);
		return;
	}
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *p = src_get(&w->src,
		                           base + PAGE_HDR + (first + i) * 8, 8,
		                           WINDOW);
		uint64_t fid;

		if (p == NULL)
			return;
		fid = ld64(p);
		if (fid < 2 || fid >= w->hwm) {
			EVIDENCE(w, id, "freelist entry %llu: page %llu outside "
			         "[2, %llu)", (unsigned long long)i,
			         (unsigned long long)fid,
			         (unsigned long long)w->hwm);
			continue;
		}
		if (bit_get(w->freed, fid))
			EVIDENCE(w, fid, "freed twice in the freelist");
		bit_set(w->freed, fid);
	}
}

/*
 * Every page below the high-water mark must be reachable or free.  With a
 * synced freelist that is a real check; without one, the free pages are by
 * definition the unreachable ones and are only counted.
 */
static void account_pages(struct walk *w, bool synced)
{
	uint64_t lost = 0, first_lost = 0;

	for (uint64_t i = 2; i < w->hwm; i++) {
		bool r = bit_get(w->reached, i);
		bool f = synced && bit_get(w->freed, i);

		if (!r && (f || !synced) && w->info)
			w->info->pages_free++;
		if (r && f)
			EVIDENCE(w, i, "both reachable and in the freelist: "
			         "bbolt would reuse a live page");
		else if (synced && !r && !f && lost++ == 0)
			first_lost = i;
	}
	if (lost)
		EVIDENCE(w, first_lost, "%llu pages from page %llu on are "
		         "neither reachable nor in the freelist",
		         (unsigned long long)lost,
		         (unsigned long long)first_lost);
}

/* etcd's own expectations of the buckets. */
static void etcd_checks(struct walk *w)
{
	const struct em_bolt_info *info = w->info;

	/* With the tree damaged, what is missing may just be unreachable. */
	if (info == NULL || w->rep->total_evidence > w->evidence_before)
		return;
	if (info->has_consistent_index && !info->has_key_bucket)
		em_report_corrupt(w->rep, w->name, EM_AT_FILE, 0,
		                  "bucket \"key\" is missing though "
		                  "meta/consistent_index is %llu: etcd would "
		                  "start with an empty key space",
		                  (unsigned long long)info->consistent_index);
	/* etcd creates both in one commit, and records the index in every
	 * commit that adds a revision: without it etcd re-applies the whole
	 * WAL over the keys it has and silently diverges from its peers. */
	if (info->has_key_bucket && !info->has_meta_bucket)
		em_report_corrupt(w->rep, w->name, EM_AT_FILE, 0,
		                  "bucket \"meta\" is missing beside bucket "
		                  "\"key\": etcd would restart from index 0 and "
		                  "apply the WAL again over its keys");
	else if (info->revisions > 0 && !info->has_consistent_index)
		em_report_corrupt(w->rep, w->name, EM_AT_FILE, 0,
		                  "meta/consistent_index is missing though the "
		                  "key bucket holds %llu revisions: etcd would "
		                  "apply the WAL again over its keys",
		                  (unsigned long long)info->revisions);
	if (!info->has_meta_bucket && !info->has_key_bucket)
		em_report_note(w->rep, w->name, EM_AT_FILE, 0,
		               "no etcd buckets yet: etcd never completed its "
		               "first start with this db");
}

/* ---- entry points ------------------------------------------------------- */

static void fill_meta_info(struct em_bolt_info *info, const struct walk *w,
                           int idx, const struct meta *m)
{
	if (info == NULL)
		return;
	info->page_size = w->psize;
	info->meta_used = idx;
	info->txid = m->txid;
	info->high_water = m->pgid;
	info->root = m->root;
	info->freelist_synced = m->freelist != NO_FREELIST;
}

static bool walk_alloc(struct walk *w)
{
	size_t words = (size_t)(w->hwm / 64 + 1);

	w->reached = calloc(words, 8);
	w->pending = calloc(words, 8);
	w->freed = calloc(words, 8);
	w->bounds = malloc((size_t)w->hwm * sizeof(*w->bounds));
	w->roles = malloc((size_t)w->hwm);
	w->refs = malloc(0x10000 * sizeof(*w->refs));
	w->arena_len = 8;        /* offset 0 means "no key" */
	w->arena_cap = 1u << 16;
	w->arena = malloc(w->arena_cap);
	return w->reached && w->pending && w->freed && w->bounds && w->roles &&
	       w->refs && w->arena;
}

static void walk_free(struct walk *w)
{
	free(w->reached);
	free(w->pending);
	free(w->freed);
	free(w->bounds);
	free(w->roles);
	free(w->refs);
	free(w->arena);
	free(w->big);
}

/* Runs the whole check on a source whose length is known. */
static enum em_status check_source(struct walk *w, struct em_error *err)
{
	struct bounds none = { 0, 0 };
	enum em_status st = EM_OK;
	struct meta m;
	int idx;

	idx = choose_meta(w, &m);
	if (idx < 0)
		goto done;
	fill_meta_info(w->info, w, idx, &m);
	if (!meta_fields_ok(w, idx, &m))
		goto done;
	w->hwm = m.pgid;
	if (!walk_alloc(w)) {
		st = em_error_set(err, EM_ENOMEM, "%s: cannot allocate the page "
		                  "maps for %llu pages", w->name,
		                  (unsigned long long)w->hwm);
		goto done;
	}
	bit_set(w->reached, 0);
	bit_set(w->reached, 1);
	if (w->info)
		w->info->pages_reachable = 2;
	if (m.freelist != NO_FREELIST)
		read_freelist(w, m.freelist);
	add_pending(w, m.root, (uint64_t)idx, 0, none, ROLE_ROOT);
	sweep(w);
	if (w->nomem) {
		st = em_error_set(err, EM_ENOMEM, "%s: out of memory while "
		                  "walking %llu pages", w->name,
		                  (unsigned long long)w->hwm);
		goto done;
	}
	if (!w->src.err && w->mode == EM_CHECK_FULL)
		account_pages(w, m.freelist != NO_FREELIST);
	if (!w->src.err)
		etcd_checks(w);
done:
	if (w->src.err)
		em_report_block(w->rep, EM_VERDICT_UNREADABLE, w->name,
		                "read error at offset %llu: %s",
		                (unsigned long long)w->src.err_off,
		                strerror(w->src.err));
	walk_free(w);
	return st;
}

static void walk_init(struct walk *w, const char *name,
                      enum em_check_mode mode, struct em_report *rep,
                      struct em_bolt_info *info, uint64_t len)
{
	memset(w, 0, sizeof(*w));
	w->src.fd = -1;
	w->src.len = len;
	w->name = name;
	w->mode = mode;
	w->rep = rep;
	w->info = info;
	w->evidence_before = rep->total_evidence;
	if (info) {
		memset(info, 0, sizeof(*info));
		info->file_size = len;
		info->meta_used = -1;
	}
}

enum em_status em_bolt_check_buf(const uint8_t *buf, size_t len,
                                 const char *name, enum em_check_mode mode,
                                 struct em_report *rep,
                                 struct em_bolt_info *info,
                                 struct em_error *err)
{
	struct walk *w = malloc(sizeof(*w));
	enum em_status st;

	if (w == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	walk_init(w, name, mode, rep, info, len);
	w->src.buf = buf;
	st = check_source(w, err);
	free(w);
	return st;
}

/* ---- prefetch ----------------------------------------------------------- */

/*
 * On a cold cache the upper levels of the tree are scattered over the file:
 * visited on their own they cost a disk seek each.  A thread streams the
 * whole file into the page cache in order (readahead, no copy) while the
 * sweeps run, so that the sweeps find their pages there.  Only when the
 * file fits in memory with room to spare, since pages read far ahead and
 * evicted again would be read twice (a pod's memory limit counts the page
 * cache).
 */
#define PREFETCH_STEP (8u << 20)

struct prefetch {
	pthread_t thread;
	int fd;
	uint64_t len;
	atomic_int stop;
	bool running;
};

static void *prefetch_run(void *arg)
{
	struct prefetch *pf = arg;

	for (uint64_t off = 0; off < pf->len; off += PREFETCH_STEP) {
		if (atomic_load(&pf->stop))
			break;
		if (readahead(pf->fd, (off64_t)off, PREFETCH_STEP) != 0)
			break;
	}
	return NULL;
}

/* A number from "key: value" lines of a /proc or /sys file, or 0. */
static uint64_t read_number(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char line[256];
	uint64_t v = 0;
	size_t kl = key ? strlen(key) : 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (key == NULL || strncmp(line, key, kl) == 0) {
			v = strtoull(line + kl, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Bytes of memory the page cache may take for us without evicting. */
static uint64_t memory_to_spare(void)
{
	uint64_t avail = read_number("/proc/meminfo", "MemAvailable:") << 10;
	uint64_t max = read_number("/sys/fs/cgroup/memory.max", NULL);
	uint64_t cur = read_number("/sys/fs/cgroup/memory.current", NULL);

	/* memory.max reads "max" (parsed as 0) when there is no limit. */
	if (max > 0 && max > cur && max - cur < avail)
		avail = max - cur;
	return avail;
}

static void prefetch_start(struct prefetch *pf, int fd, uint64_t len)
{
	memset(pf, 0, sizeof(*pf));
	pf->fd = fd;
	pf->len = len;
	atomic_init(&pf->stop, 0);
	if (len < 2 * PREFETCH_STEP || len > memory_to_spare() / 2)
		return;
	pf->running = pthread_create(&pf->thread, NULL, prefetch_run, pf) == 0;
}

static void prefetch_stop(struct prefetch *pf)
{
	if (!pf->running)
		return;
	atomic_store(&pf->stop, 1);
	pthread_join(pf->thread, NULL);
}

/* ---- entry points for files --------------------------------------------- */

/* Opens path for the check: read-only, under a shared lock taken without
 * waiting.  Returns the fd, or -1 with the reason in the report. */
static int open_locked(const char *path, const char *name,
                       struct em_report *rep, struct stat *sb)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* etcd holds an exclusive flock while it runs: never wait for it. */
	if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			em_report_block(rep, EM_VERDICT_IN_USE, name,
			                "locked by a running process (etcd?)");
		else
			em_report_block(rep, EM_VERDICT_UNREADABLE, name,
			                "cannot lock %s: %s", path,
			                strerror(errno));
		close(fd);
		return -1;
	}
	if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	return fd;
}

enum em_status em_bolt_check_file(const char *path, const char *name,
                                  enum em_check_mode mode,
                                  struct em_report *rep,
                                  struct em_bolt_info *info,
                                  struct em_error *err)
{
	struct walk *w = NULL;
	struct prefetch pf;
	struct stat sb;
	enum em_status st = EM_OK;
	int fd;

	if (info) {
		memset(info, 0, sizeof(*info));
		info->meta_used = -1;
	}
	fd = open_locked(path, name, rep, &sb);
	if (fd < 0)
		return EM_OK;
	if (sb.st_size == 0) {
		/* bbolt initialises a 0-byte file as a new db: the caller
		 * weighs that against the WAL. */
		em_report_note(rep, name, EM_AT_FILE, 0, "0 bytes: bbolt "
		               "would initialise a new, empty db");
		goto cleanup;
	}
	w = malloc(sizeof(*w));
	if (w == NULL) {
		st = em_error_set(err, EM_ENOMEM, "out of memory");
		goto cleanup;
	}
	walk_init(w, name, mode, rep, info, (uint64_t)sb.st_size);
	w->src.fd = fd;
	w->src.win = malloc(WINDOW);
	if (w->src.win == NULL) {
		st = em_error_set(err, EM_ENOMEM, "out of memory");
		goto cleanup;
	}
	prefetch_start(&pf, fd, (uint64_t)sb.st_size);
	st = check_source(w, err);
	prefetch_stop(&pf);
cleanup:
	if (w)
		free(w->src.win);
	free(w);
	close(fd);
	return st;
}
