/*
 * bolt.c - an independent consistency check of a bbolt file.
 *
 * etcd keeps its key space in a bbolt B+tree file (member/snap/db).  This
 * module judges such a file from its bytes alone, written from the format
 * (see ../shared/reference/etcd-formats.md, section C), not from bbolt's
 * code.  What it checks, and why:
 *
 *  - both meta pages (magic, version, FNV-1a checksum); the valid one with
 *    the higher txid is used, as bbolt does.  One bad meta page is what a
 *    crash while writing it leaves, and bbolt falls back to the other: that
 *    is a note, not damage.
 *  - a walk of every bucket from the root, nested and inline: page ids,
 *    flags, element extents, overflow runs inside the file and below the
 *    high-water mark, keys strictly ascending and inside the bounds set by
 *    the parent branch, no page reached twice (which also stops cycles).
 *  - the freelist when it is synced (etcd on Linux does not sync it: then
 *    the free pages are simply the unreachable ones, as in bbolt), every
 *    page below the high-water mark either reachable or free, never both.
 *  - what etcd needs: `meta/consistent_index` well formed, and the `key`
 *    bucket present once etcd has applied anything.
 *
 * Speed: a tree walk touches pages in key order, which on a cold cache is
 * random I/O.  The file is mapped read-only and the kernel is asked up
 * front to read all of it in file order (POSIX_FADV_WILLNEED), so the disk
 * streams sequentially while the walk consumes pages; a page the walk needs
 * before the stream reaches it costs one extra read.  Memory beyond the
 * mapping is two bits per page plus the walk's stack.
 */
#include "etcd-medic/bolt.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Page layout (bbolt page.go): a 16-byte header, then elements. */
#define PAGE_HDR 16u
#define ELEM_SIZE 16u
#define META_OFF PAGE_HDR
#define META_SIZE 64u           /* magic .. checksum */
#define META_SUMMED 56u         /* magic .. txid, covered by the checksum */
#define BUCKET_HDR 16u          /* struct bucket { root, sequence } */

#define FLAG_BRANCH 0x01u
#define FLAG_LEAF 0x02u
#define FLAG_META 0x04u
#define FLAG_FREELIST 0x10u
#define LEAF_BUCKET 0x01u

#define BOLT_MAGIC 0xED0CDAEDu
#define BOLT_VERSION 2u
#define NO_FREELIST UINT64_MAX
#define MAX_KEY 32768u
#define MAX_VALUE 0x7FFFFFFEu   /* (1 << 31) - 2 */
#define MIN_PAGE 512u
#define MAX_PAGE (1u << 24)

/* etcd's meta bucket key holding the index of the last applied entry. */
static const char CINDEX_KEY[] = "consistent_index";

struct meta {
	uint32_t magic, version, page_size, flags;
	uint64_t root, sequence, freelist, pgid, txid, checksum;
};

/* Which bucket a tree belongs to, for the few etcd needs us to look into. */
enum bucket_role { ROLE_ROOT, ROLE_META, ROLE_CLUSTER, ROLE_OTHER };

/* A key range: lo inclusive, hi exclusive; a NULL pointer means unbounded. */
struct keyref {
	const uint8_t *p;
	uint32_t len;
};

/* One page being walked: the DFS keeps these on an explicit stack. */
struct frame {
	uint64_t pgid;
	const uint8_t *page;
	uint32_t count;
	uint32_t next;          /* element to visit next */
	struct keyref lo, hi;   /* bounds from the parent branch */
	struct keyref prev;     /* last key seen on this page */
	enum bucket_role role;
	uint8_t is_branch;
};

struct walk {
	const uint8_t *buf;
	size_t len;
	const char *name;
	enum em_check_mode mode;
	struct em_report *rep;
	struct em_bolt_info *info;
	uint32_t psize;
	uint64_t hwm;           /* meta.pgid */
	uint8_t *reached;       /* bitmap over [0, hwm) */
	uint8_t *freed;         /* bitmap over [0, hwm), synced freelist only */
	struct frame *stack;
	size_t depth, cap;
	bool nomem;
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

static bool bit_get(const uint8_t *bm, uint64_t i)
{
	return (bm[i >> 3] >> (i & 7)) & 1u;
}

static void bit_set(uint8_t *bm, uint64_t i)
{
	bm[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int key_cmp(struct keyref a, struct keyref b)
{
	uint32_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	if (c != 0)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

/* A short printable form of a key for evidence messages. */
static const char *key_str(struct keyref k, char *out, size_t outlen)
{
	size_t o = 0;

	for (uint32_t i = 0; i < k.len && o + 5 < outlen; i++) {
		uint8_t c = k.p[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (o + 4 < outlen && (size_t)k.len > o)
		strcpy(out + o, "...");
	else
		out[o] = '\0';
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

#define PAGE_EVIDENCE(w, id, ...) \
	em_report_corrupt((w)->rep, (w)->name, EM_AT_PAGE, (id), __VA_ARGS__)

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
 * Validates a meta page the way bbolt does (magic, version, checksum), plus
 * the checksum-0 case that bbolt 1.3.6 let through and 1.3.7 rejects: a
 * zeroed checksum is damage, never something bbolt writes.  Returns NULL if
 * valid, else why not.
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

/*
 * Finds the page size: from meta 0 if it is valid, else by probing for a
 * valid meta 1 at each power of two (as bbolt 1.3.11 does).
 */
static uint32_t find_page_size(const uint8_t *buf, size_t len)
{
	struct meta m;

	if (len >= META_OFF + META_SIZE) {
		meta_read(buf, &m);
		if (meta_invalid(buf, &m) == NULL && page_size_ok(m.page_size))
			return m.page_size;
	}
	for (uint32_t ps = MIN_PAGE; ps <= MAX_PAGE; ps <<= 1) {
		if ((uint64_t)ps + META_OFF + META_SIZE > len)
			break;
		meta_read(buf + ps, &m);
		if (meta_invalid(buf + ps, &m) == NULL && m.page_size == ps)
			return ps;
	}
	return 0;
}

/*
 * Picks the meta page bbolt would use and checks its fields.  Returns the
 * index (0 or 1) or -1 if the db cannot be opened at all.
 */
static int choose_meta(struct walk *w, struct meta *out)
{
	struct meta m[2];
	const char *why[2];
	bool ok[2];
	int pick;

	w->psize = find_page_size(w->buf, w->len);
	if (w->psize == 0) {
		if (w->len < META_OFF + META_SIZE)
			PAGE_EVIDENCE(w, 0, "file of %zu bytes is too short "
			              "to hold a meta page", w->len);
		else
			PAGE_EVIDENCE(w, 0, "no valid meta page: neither "
			              "page 0 nor a page 1 at any page size "
			              "has a valid magic, version and checksum");
		return -1;
	}
	if (w->len < 2 * (uint64_t)w->psize) {
		PAGE_EVIDENCE(w, 1, "file of %zu bytes is shorter than two "
		              "pages of %u bytes", w->len, w->psize);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		const uint8_t *pg = w->buf + (size_t)i * w->psize;
		meta_read(pg, &m[i]);
		why[i] = meta_invalid(pg, &m[i]);
		if (why[i] == NULL && m[i].page_size != w->psize)
			why[i] = "page size differs from the other meta page";
		ok[i] = why[i] == NULL;
	}
	if (!ok[0] && !ok[1]) {
		PAGE_EVIDENCE(w, 0, "meta page 0 invalid: %s", why[0]);
		PAGE_EVIDENCE(w, 1, "meta page 1 invalid: %s", why[1]);
		return -1;
	}
	pick = (ok[0] && ok[1]) ? (m[1].txid > m[0].txid) : (ok[1] ? 1 : 0);
	if (!ok[pick ^ 1])
		em_report_note(w->rep, w->name, EM_AT_PAGE, (uint64_t)(pick ^ 1),
		               "meta page %d invalid (%s); bbolt uses meta "
		               "page %d (txid %llu), as after a crash during a "
		               "commit", pick ^ 1, why[pick ^ 1], pick,
		               (unsigned long long)m[pick].txid);
	*out = m[pick];
	return pick;
}

/* Checks the fields of the chosen meta that the checksum cannot vouch for
 * (a bug or a bad write before the checksum was computed). */
static bool meta_fields_ok(struct walk *w, int idx, const struct meta *m)
{
	uint64_t file_pages = w->len / w->psize;
	bool ok = true;

	if (m->pgid < 3 || m->pgid > file_pages) {
		PAGE_EVIDENCE(w, (uint64_t)idx, "high-water mark %llu does not "
		              "fit a file of %llu pages (%zu bytes)",
		              (unsigned long long)m->pgid,
		              (unsigned long long)file_pages, w->len);
		ok = false;
	}
	if (m->root < 2 || m->root >= m->pgid) {
		PAGE_EVIDENCE(w, (uint64_t)idx, "root bucket page %llu outside "
		              "[2, %llu)", (unsigned long long)m->root,
		              (unsigned long long)m->pgid);
		ok = false;
	}
	if (m->freelist != NO_FREELIST &&
	    (m->freelist < 2 || m->freelist >= m->pgid)) {
		PAGE_EVIDENCE(w, (uint64_t)idx, "freelist page %llu outside "
		              "[2, %llu)", (unsigned long long)m->freelist,
		              (unsigned long long)m->pgid);
		ok = false;
	}
	return ok;
}

/* ---- pages -------------------------------------------------------------- */

/*
 * Returns the page at id after checking that it lies inside the file and
 * below the high-water mark with its whole overflow run, that its header
 * names it, and that no page of the run was reached before.  Marks the run
 * reached.  NULL if it must not be read further.
 */
static const uint8_t *claim_page(struct walk *w, uint64_t id, uint64_t from)
{
	const uint8_t *p;
	uint64_t ovf, hdr_id;

	if (id < 2 || id >= w->hwm) {
		PAGE_EVIDENCE(w, from, "refers to page %llu, outside the "
		              "allocated pages [2, %llu)",
		              (unsigned long long)id, (unsigned long long)w->hwm);
		return NULL;
	}
	p = w->buf + id * (uint64_t)w->psize;
	hdr_id = ld64(p);
	ovf = ld32(p + 12);
	if (hdr_id != id) {
		PAGE_EVIDENCE(w, id, "page header says id %llu (referenced "
		              "from page %llu)", (unsigned long long)hdr_id,
		              (unsigned long long)from);
		return NULL;
	}
	if (id + ovf >= w->hwm) {
		PAGE_EVIDENCE(w, id, "overflow of %llu pages runs past the "
		              "high-water mark %llu", (unsigned long long)ovf,
		              (unsigned long long)w->hwm);
		return NULL;
	}
	for (uint64_t i = id; i <= id + ovf; i++) {
		if (bit_get(w->reached, i)) {
			PAGE_EVIDENCE(w, i, "reached twice (again from page "
			              "%llu): shared or cyclic page reference",
			              (unsigned long long)from);
			return NULL;
		}
	}
	for (uint64_t i = id; i <= id + ovf; i++)
		bit_set(w->reached, i);
	if (w->info)
		w->info->pages_reachable += ovf + 1;
	return p;
}

/* Bytes a page spans, including its overflow run. */
static uint64_t page_span(const struct walk *w, const uint8_t *p)
{
	return ((uint64_t)ld32(p + 12) + 1) * w->psize;
}

/*
 * Checks that count elements and every key (and leaf value) they point to
 * lie inside `span` bytes of the page.  Works for real pages and for the
 * page images of inline buckets alike.
 */
static bool elements_fit(struct walk *w, uint64_t id, const uint8_t *p,
                         uint64_t span, uint32_t count, bool leaf)
{
	if (PAGE_HDR + (uint64_t)count * ELEM_SIZE > span) {
		PAGE_EVIDENCE(w, id, "%u elements do not fit in %llu bytes",
		              count, (unsigned long long)span);
		return false;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t off = PAGE_HDR + (uint64_t)i * ELEM_SIZE;
		const uint8_t *e = p + off;
		uint64_t pos = leaf ? ld32(e + 4) : ld32(e);
		uint64_t ksz = leaf ? ld32(e + 8) : ld32(e + 4);
		uint64_t vsz = leaf ? ld32(e + 12) : 0;

		if (ksz == 0 || ksz > MAX_KEY) {
			PAGE_EVIDENCE(w, id, "element %u: key size %llu outside "
			              "[1, %u]", i, (unsigned long long)ksz,
			              MAX_KEY);
			return false;
		}
		if (vsz > MAX_VALUE || off + pos + ksz + vsz > span) {
			PAGE_EVIDENCE(w, id, "element %u: key/value at +%llu, "
			              "%llu+%llu bytes, outside the page's %llu "
			              "bytes", i, (unsigned long long)(off + pos),
			              (unsigned long long)ksz,
			              (unsigned long long)vsz,
			              (unsigned long long)span);
			return false;
		}
		if (leaf && (ld32(e) & ~LEAF_BUCKET) != 0) {
			PAGE_EVIDENCE(w, id, "element %u: unknown leaf flags "
			              "0x%x", i, ld32(e));
			return false;
		}
	}
	return true;
}

static struct keyref elem_key(const uint8_t *p, uint32_t i, bool leaf)
{
	const uint8_t *e = p + PAGE_HDR + (size_t)i * ELEM_SIZE;
	struct keyref k;

	k.p = e + (leaf ? ld32(e + 4) : ld32(e));
	k.len = leaf ? ld32(e + 8) : ld32(e + 4);
	return k;
}

/*
 * Checks that key k of element i is above the previous key of the page (or
 * at least the parent's lower bound) and below the parent's upper bound.
 */
static bool key_in_order(struct walk *w, uint64_t id, uint32_t i,
                         struct keyref k, const struct frame *f)
{
	char a[96], b[96];

	if (i > 0 && key_cmp(f->prev, k) >= 0) {
		PAGE_EVIDENCE(w, id, "key %u \"%s\" not above the previous "
		              "key \"%s\"", i, key_str(k, a, sizeof(a)),
		              key_str(f->prev, b, sizeof(b)));
		return false;
	}
	if (i == 0 && f->lo.p && key_cmp(k, f->lo) < 0) {
		PAGE_EVIDENCE(w, id, "first key \"%s\" below the parent's "
		              "separator \"%s\"", key_str(k, a, sizeof(a)),
		              key_str(f->lo, b, sizeof(b)));
		return false;
	}
	if (f->hi.p && key_cmp(k, f->hi) >= 0) {
		PAGE_EVIDENCE(w, id, "key %u \"%s\" not below the parent's "
		              "next separator \"%s\"", i,
		              key_str(k, a, sizeof(a)),
		              key_str(f->hi, b, sizeof(b)));
		return false;
	}
	return true;
}

/* ---- the walk ----------------------------------------------------------- */

static bool push(struct walk *w, const struct frame *f)
{
	if (w->depth == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 32;
		struct frame *s = realloc(w->stack, cap * sizeof(*s));
		if (s == NULL) {
			w->nomem = true;
			return false;
		}
		w->stack = s;
		w->cap = cap;
	}
	w->stack[w->depth++] = *f;
	return true;
}

/*
 * Starts walking the tree rooted at page id: claims and checks the page's
 * header and elements, then pushes it.  Pages whose structure is broken are
 * reported and not descended into.
 */
static void enter_page(struct walk *w, uint64_t id, uint64_t from,
                       struct keyref lo, struct keyref hi,
                       enum bucket_role role)
{
	const uint8_t *p = claim_page(w, id, from);
	struct frame f;
	uint16_t flags;

	if (p == NULL)
		return;
	flags = ld16(p + 8);
	if (flags != FLAG_BRANCH && flags != FLAG_LEAF) {
		PAGE_EVIDENCE(w, id, "flags 0x%x where a branch or leaf page "
		              "belongs (referenced from page %llu)", flags,
		              (unsigned long long)from);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.pgid = id;
	f.page = p;
	f.count = ld16(p + 10);
	f.lo = lo;
	f.hi = hi;
	f.role = role;
	f.is_branch = flags == FLAG_BRANCH;
	if (f.is_branch && f.count == 0) {
		PAGE_EVIDENCE(w, id, "branch page with no elements");
		return;
	}
	if (!elements_fit(w, id, p, page_span(w, p), f.count, !f.is_branch))
		return;
	push(w, &f);
}

static enum bucket_role child_role(enum bucket_role parent, struct keyref k)
{
	if (parent != ROLE_ROOT)
		return ROLE_OTHER;
	if (k.len == 4 && memcmp(k.p, "meta", 4) == 0)
		return ROLE_META;
	if (k.len == 7 && memcmp(k.p, "cluster", 7) == 0)
		return ROLE_CLUSTER;
	return ROLE_OTHER;
}

/* Notes what etcd keeps in a plain key/value pair of the buckets we know. */
static void etcd_value(struct walk *w, uint64_t id, enum bucket_role role,
                       struct keyref k, const uint8_t *v, uint32_t vlen)
{
	struct em_bolt_info *info = w->info;

	if (role == ROLE_META && k.len == sizeof(CINDEX_KEY) - 1 &&
	    memcmp(k.p, CINDEX_KEY, k.len) == 0) {
		if (vlen != 8) {
			PAGE_EVIDENCE(w, id, "meta/consistent_index is %u "
			              "bytes, not 8", vlen);
			return;
		}
		if (info) {
			info->has_consistent_index = true;
			info->consistent_index = (uint64_t)v[0] << 56 |
				(uint64_t)v[1] << 48 | (uint64_t)v[2] << 40 |
				(uint64_t)v[3] << 32 | (uint64_t)v[4] << 24 |
				(uint64_t)v[5] << 16 | (uint64_t)v[6] << 8 | v[7];
		}
	} else if (role == ROLE_CLUSTER && info && k.len == 14 &&
	           memcmp(k.p, "clusterVersion", 14) == 0) {
		size_t n = vlen < sizeof(info->cluster_version) - 1 ?
			vlen : sizeof(info->cluster_version) - 1;
		memcpy(info->cluster_version, v, n);
		info->cluster_version[n] = '\0';
	}
}

static void leaf_entries(struct walk *w, uint64_t id, const uint8_t *p,
                         uint32_t count, enum bucket_role role,
                         struct keyref lo, struct keyref hi);

/*
 * An inline bucket: a leaf page image inside the value, after the bucket
 * header.  bbolt only inlines small leaves without sub-buckets.
 */
static void inline_bucket(struct walk *w, uint64_t id, uint32_t i,
                          const uint8_t *v, uint32_t vlen,
                          enum bucket_role role)
{
	const uint8_t *img = v + BUCKET_HDR;
	uint32_t span = vlen - BUCKET_HDR;
	uint32_t count;
	struct keyref none = { NULL, 0 };

	if (span < PAGE_HDR) {
		PAGE_EVIDENCE(w, id, "element %u: inline bucket value of %u "
		              "bytes has no room for its page", i, vlen);
		return;
	}
	count = ld16(img + 10);
	if (ld16(img + 8) != FLAG_LEAF || ld32(img + 12) != 0) {
		PAGE_EVIDENCE(w, id, "element %u: inline bucket page has "
		              "flags 0x%x, overflow %u", i, ld16(img + 8),
		              ld32(img + 12));
		return;
	}
	if (!elements_fit(w, id, img, span, count, true))
		return;
	for (uint32_t j = 0; j < count; j++) {
		if (ld32(img + PAGE_HDR + (size_t)j * ELEM_SIZE) & LEAF_BUCKET) {
			PAGE_EVIDENCE(w, id, "element %u: inline bucket holds a "
			              "bucket, which bbolt never inlines", i);
			return;
		}
	}
	if (w->info)
		w->info->buckets++;
	leaf_entries(w, id, img, count, role, none, none);
}

/*
 * A bucket entry: checks the bucket header and enters the bucket, inline
 * or as a tree of its own (pushed: walked before this page continues).
 */
static void sub_bucket(struct walk *w, uint64_t id, uint32_t i,
                       struct keyref k, const uint8_t *v, uint32_t vlen,
                       enum bucket_role parent)
{
	enum bucket_role role = child_role(parent, k);
	struct keyref none = { NULL, 0 };
	uint64_t root;

	if (vlen < BUCKET_HDR) {
		PAGE_EVIDENCE(w, id, "element %u: bucket value of %u bytes is "
		              "shorter than a bucket header", i, vlen);
		return;
	}
	if (parent == ROLE_ROOT && w->info) {
		if (k.len == 3 && memcmp(k.p, "key", 3) == 0)
			w->info->has_key_bucket = true;
		if (role == ROLE_META)
			w->info->has_meta_bucket = true;
	}
	root = ld64(v);
	if (root == 0) {
		inline_bucket(w, id, i, v, vlen, role);
		return;
	}
	if (w->info)
		w->info->buckets++;
	/* A sanity check walks only what etcd's verdict needs. */
	if (w->mode == EM_CHECK_SANITY && role == ROLE_OTHER)
		return;
	enter_page(w, root, id, none, none, role);
}

/* Visits the entries of a leaf page (or inline bucket page image) at once:
 * leaves do not need the stack, only their sub-buckets do. */
static void leaf_entries(struct walk *w, uint64_t id, const uint8_t *p,
                         uint32_t count, enum bucket_role role,
                         struct keyref lo, struct keyref hi)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.lo = lo;
	f.hi = hi;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = p + PAGE_HDR + (size_t)i * ELEM_SIZE;
		struct keyref k = elem_key(p, i, true);
		const uint8_t *v = k.p + k.len;
		uint32_t vlen = ld32(e + 12);

		if (!key_in_order(w, id, i, k, &f))
			return;
		f.prev = k;
		if (ld32(e) & LEAF_BUCKET) {
			sub_bucket(w, id, i, k, v, vlen, role);
		} else if (role == ROLE_ROOT) {
			char a[96];
			PAGE_EVIDENCE(w, id, "root bucket entry \"%s\" is not a "
			              "bucket", key_str(k, a, sizeof(a)));
		} else {
			if (w->info)
				w->info->keys++;
			etcd_value(w, id, role, k, v, vlen);
		}
	}
}

/* Takes the next step of a branch frame: the next child, with its bounds. */
static void branch_step(struct walk *w, struct frame *f)
{
	uint32_t i = f->next++;
	struct keyref k = elem_key(f->page, i, false);
	struct keyref hi = f->hi;
	const uint8_t *e = f->page + PAGE_HDR + (size_t)i * ELEM_SIZE;
	struct frame copy;

	if (!key_in_order(w, f->pgid, i, k, f)) {
		f->next = f->count;     /* stop: the rest has no valid bounds */
		return;
	}
	f->prev = k;
	if (i + 1 < f->count)
		hi = elem_key(f->page, i + 1, false);
	/* enter_page may move the stack: work on a copy of what we need. */
	copy = *f;
	enter_page(w, ld64(e + 8), copy.pgid, k, hi, copy.role);
}

static void walk_tree(struct walk *w, uint64_t root)
{
	struct keyref none = { NULL, 0 };

	enter_page(w, root, 0, none, none, ROLE_ROOT);
	while (w->depth > 0 && !w->nomem) {
		struct frame *f = &w->stack[w->depth - 1];

		if (!f->is_branch) {
			struct frame leaf = *f;
			w->depth--;
			leaf_entries(w, leaf.pgid, leaf.page, leaf.count,
			             leaf.role, leaf.lo, leaf.hi);
			continue;
		}
		if (f->next >= f->count) {
			w->depth--;
			continue;
		}
		branch_step(w, f);
	}
}

/* ---- freelist and accounting -------------------------------------------- */

static void read_freelist(struct walk *w, uint64_t id)
{
	const uint8_t *p = claim_page(w, id, 0);
	uint64_t count, first = 0, span;

	if (p == NULL)
		return;
	if (ld16(p + 8) != FLAG_FREELIST) {
		PAGE_EVIDENCE(w, id, "freelist page has flags 0x%x",
		              ld16(p + 8));
		return;
	}
	span = page_span(w, p);
	count = ld16(p + 10);
	if (count == 0xFFFF) {
		/* The real count is the first id slot. */
		if (PAGE_HDR + 8 > span)
			return;
		count = ld64(p + PAGE_HDR);
		first = 1;
	}
	if (count > (span - PAGE_HDR) / 8 - first) {
		PAGE_EVIDENCE(w, id, "freelist of %llu ids does not fit in "
		              "%llu bytes", (unsigned long long)count,
		              (unsigned long long)span);
		return;
	}
	for (uint64_t i = 0; i < count; i++) {
		uint64_t fid = ld64(p + PAGE_HDR + (first + i) * 8);
		if (fid < 2 || fid >= w->hwm) {
			PAGE_EVIDENCE(w, id, "freelist entry %llu: page %llu "
			              "outside [2, %llu)", (unsigned long long)i,
			              (unsigned long long)fid,
			              (unsigned long long)w->hwm);
			continue;
		}
		if (bit_get(w->freed, fid))
			PAGE_EVIDENCE(w, fid, "freed twice in the freelist");
		bit_set(w->freed, fid);
	}
}

/*
 * Every page below the high-water mark must be reachable or free.  With a
 * synced freelist that is a real check; without one, the free pages are by
 * definition the unreachable ones and we only count them.
 */
static void account_pages(struct walk *w, bool synced)
{
	uint64_t reported = 0;

	for (uint64_t i = 2; i < w->hwm; i++) {
		bool r = bit_get(w->reached, i);
		bool f = synced && bit_get(w->freed, i);

		if (!synced) {
			if (!r && w->info)
				w->info->pages_free++;
			continue;
		}
		if (f && w->info)
			w->info->pages_free++;
		if (r && f)
			PAGE_EVIDENCE(w, i, "both reachable and in the freelist: "
			              "bbolt would reuse a live page");
		else if (!r && !f && reported++ < 8)
			PAGE_EVIDENCE(w, i, "neither reachable nor in the "
			              "freelist");
	}
	if (reported > 8)
		PAGE_EVIDENCE(w, 0, "%llu pages in all are neither reachable "
		              "nor free", (unsigned long long)reported);
}

/* etcd's own expectations of the buckets. */
static void etcd_checks(struct walk *w)
{
	const struct em_bolt_info *info = w->info;

	if (info == NULL)
		return;
	if (info->has_consistent_index && !info->has_key_bucket)
		em_report_corrupt(w->rep, w->name, EM_AT_FILE, 0,
		                  "bucket \"key\" is missing though "
		                  "meta/consistent_index is %llu: etcd would "
		                  "start with an empty key space",
		                  (unsigned long long)info->consistent_index);
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

enum em_status em_bolt_check_buf(const uint8_t *buf, size_t len,
                                 const char *name, enum em_check_mode mode,
                                 struct em_report *rep,
                                 struct em_bolt_info *info,
                                 struct em_error *err)
{
	struct walk w;
	struct meta m;
	enum em_status st = EM_OK;
	int idx;

	memset(&w, 0, sizeof(w));
	w.buf = buf;
	w.len = len;
	w.name = name;
	w.mode = mode;
	w.rep = rep;
	w.info = info;
	if (info) {
		memset(info, 0, sizeof(*info));
		info->file_size = len;
		info->meta_used = -1;
	}
	idx = choose_meta(&w, &m);
	if (idx < 0)
		return EM_OK;
	fill_meta_info(info, &w, idx, &m);
	if (!meta_fields_ok(&w, idx, &m))
		return EM_OK;
	w.hwm = m.pgid;
	w.reached = calloc(1, (size_t)(w.hwm / 8 + 1));
	w.freed = calloc(1, (size_t)(w.hwm / 8 + 1));
	if (w.reached == NULL || w.freed == NULL) {
		st = em_error_set(err, EM_ENOMEM, "%s: cannot allocate page "
		                  "maps for %llu pages", name,
		                  (unsigned long long)w.hwm);
		goto cleanup;
	}
	bit_set(w.reached, 0);
	bit_set(w.reached, 1);
	if (m.freelist != NO_FREELIST)
		read_freelist(&w, m.freelist);
	walk_tree(&w, m.root);
	if (w.nomem) {
		st = em_error_set(err, EM_ENOMEM, "%s: out of memory during "
		                  "the tree walk", name);
		goto cleanup;
	}
	if (mode == EM_CHECK_FULL)
		account_pages(&w, m.freelist != NO_FREELIST);
	etcd_checks(&w);
cleanup:
	free(w.reached);
	free(w.freed);
	free(w.stack);
	return st;
}

/*
 * SIGBUS while reading the mapping means the file shrank under us or the
 * disk failed: the file is unreadable, not corrupt.  The jump buffer is
 * per thread so that concurrent checks do not interfere.
 */
static _Thread_local sigjmp_buf *bus_jump;

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_jump != NULL)
		siglongjmp(*bus_jump, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static enum em_status check_mapped(int fd, size_t len, const char *name,
                                   enum em_check_mode mode,
                                   struct em_report *rep,
                                   struct em_bolt_info *info,
                                   struct em_error *err)
{
	struct sigaction sa, old;
	sigjmp_buf jb;
	volatile enum em_status st = EM_OK;
	uint8_t *map;

	map = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "cannot map %zu bytes: %s", len,
		                strerror(errno));
		return EM_OK;
	}
	/* Stream the whole file in file order while the walk runs. */
	(void)posix_fadvise(fd, 0, (off_t)len, POSIX_FADV_WILLNEED);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(jb, 1) == 0) {
		bus_jump = &jb;
		st = em_bolt_check_buf(map, len, name, mode, rep, info, err);
	} else {
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "read error (SIGBUS) while reading the mapped "
		                "file: it shrank during the check or the disk "
		                "failed");
	}
	bus_jump = NULL;
	sigaction(SIGBUS, &old, NULL);
	munmap(map, len);
	return st;
}

enum em_status em_bolt_check_file(const char *path, const char *name,
                                  enum em_check_mode mode,
                                  struct em_report *rep,
                                  struct em_bolt_info *info,
                                  struct em_error *err)
{
	struct stat sb;
	enum em_status st = EM_OK;
	int fd;

	if (info) {
		memset(info, 0, sizeof(*info));
		info->meta_used = -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "cannot open %s: %s", path, strerror(errno));
		return EM_OK;
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
		goto cleanup;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "%s is not a regular file", path);
		goto cleanup;
	}
	if (info)
		info->file_size = (uint64_t)sb.st_size;
	if (sb.st_size == 0) {
		/* bbolt initialises a 0-byte file as a new db: the caller
		 * weighs that against the WAL. */
		em_report_note(rep, name, EM_AT_FILE, 0, "0 bytes: bbolt "
		               "would initialise a new, empty db");
		goto cleanup;
	}
	if ((uint64_t)sb.st_size > SIZE_MAX) {
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "%s is too large to map", path);
		goto cleanup;
	}
	st = check_mapped(fd, (size_t)sb.st_size, name, mode, rep, info, err);
cleanup:
	close(fd);
	return st;
}
