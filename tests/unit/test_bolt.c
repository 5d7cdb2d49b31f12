/*
 * test_bolt.c - unit tests of the bbolt checker on hand-built db images.
 *
 * A small image builder lays out meta, branch, leaf and freelist pages the
 * way bbolt does; each test builds a healthy image, damages one thing and
 * checks the verdict and the evidence.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "etcd-medic/bolt.h"

#include "testutil.h"

#define PS 4096u
#define NPAGES 16u

struct img {
	uint8_t *b;
	size_t len;
	uint32_t ps;
};

struct ent {
	const char *k;
	const void *v;
	uint32_t vlen;
	uint32_t flags;      /* 1: bucket */
};

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint8_t *page(struct img *m, uint64_t id) { return m->b + id * m->ps; }

static void hdr(struct img *m, uint64_t id, uint16_t flags, uint16_t count,
                uint32_t ovf)
{
	uint8_t *p = page(m, id);
	put64(p, id);
	put16(p + 8, flags);
	put16(p + 10, count);
	put32(p + 12, ovf);
}

static void meta(struct img *m, int idx, uint64_t root, uint64_t freelist,
                 uint64_t pgid, uint64_t txid)
{
	uint8_t *p = page(m, (uint64_t)idx);
	hdr(m, (uint64_t)idx, 0x04, 0, 0);
	put32(p + 16, 0xED0CDAED);
	put32(p + 20, 2);
	put32(p + 24, m->ps);
	put32(p + 28, 0);
	put64(p + 32, root);
	put64(p + 40, 0);
	put64(p + 48, freelist);
	put64(p + 56, pgid);
	put64(p + 64, txid);
	put64(p + 72, fnv(p + 16, 56));
}

/* Writes leaf elements at dst (a page or an inline image); returns size. */
static size_t leaf_at(uint8_t *dst, const struct ent *e, int n)
{
	size_t data = 16 + (size_t)n * 16;
	for (int i = 0; i < n; i++) {
		uint8_t *el = dst + 16 + i * 16;
		uint32_t kl = (uint32_t)strlen(e[i].k);
		put32(el, e[i].flags);
		put32(el + 4, (uint32_t)(data - (16 + (size_t)i * 16)));
		put32(el + 8, kl);
		put32(el + 12, e[i].vlen);
		memcpy(dst + data, e[i].k, kl);
		memcpy(dst + data + kl, e[i].v, e[i].vlen);
		data += kl + e[i].vlen;
	}
	put16(dst + 8, 0x02);
	put16(dst + 10, (uint16_t)n);
	return data;
}

static void leaf(struct img *m, uint64_t id, const struct ent *e, int n)
{
	leaf_at(page(m, id), e, n);
	put64(page(m, id), id);
}

static void branch(struct img *m, uint64_t id, const char **keys,
                   const uint64_t *kids, int n)
{
	uint8_t *p = page(m, id);
	size_t data = 16 + (size_t)n * 16;
	hdr(m, id, 0x01, (uint16_t)n, 0);
	for (int i = 0; i < n; i++) {
		uint8_t *el = p + 16 + i * 16;
		uint32_t kl = (uint32_t)strlen(keys[i]);
		put32(el, (uint32_t)(data - (16 + (size_t)i * 16)));
		put32(el + 4, kl);
		put64(el + 8, kids[i]);
		memcpy(p + data, keys[i], kl);
		data += kl;
	}
}

/* A bucket value: header {root, seq} and, for an inline one, a page. */
static uint32_t bucket_val(uint8_t *out, uint64_t root, const struct ent *e,
                           int n)
{
	memset(out, 0, 16);
	put64(out, root);
	if (root != 0)
		return 16;
	return (uint32_t)(16 + leaf_at(out + 16, e, n));
}

static uint8_t cindex_be[8] = { 0, 0, 0, 0, 0, 0, 0x01, 0x00 };
static uint8_t v_key[16], v_meta[256], v_members[64];

/*
 * The healthy image: pages 0-1 meta, 2 root leaf with buckets key (page 3,
 * a branch over leaves 4 and 5), members (inline, empty), meta (inline,
 * consistent_index = 256); freelist not synced; pages 6..NPAGES-1 free.
 */
static struct img build(void)
{
	struct img m = { calloc(NPAGES, PS), NPAGES * PS, PS };
	struct ent metaent[] = { { "consistent_index", cindex_be, 8, 0 } };
	uint32_t lm = bucket_val(v_meta, 0, metaent, 1);
	uint32_t lk = bucket_val(v_key, 3, NULL, 0);
	/* Its last key sorts after the next root entry: keys of an inline
	 * bucket are not keys of the page that holds it. */
	struct ent memberent[] = { { "zz", "x", 1, 0 } };
	uint32_t lb = bucket_val(v_members, 0, memberent, 1);
	struct ent root[] = {
		{ "key", v_key, lk, 1 },
		{ "members", v_members, lb, 1 },
		{ "meta", v_meta, lm, 1 },
	};
	const char *bk[] = { "a", "m" };
	uint64_t kids[] = { 4, 5 };
	struct ent l4[] = { { "a", "1", 1, 0 }, { "b", "2", 1, 0 } };
	struct ent l5[] = { { "m", "3", 1, 0 }, { "z", "4", 1, 0 } };

	meta(&m, 0, 2, UINT64_MAX, NPAGES, 10);
	meta(&m, 1, 2, UINT64_MAX, NPAGES, 9);
	leaf(&m, 2, root, 3);
	branch(&m, 3, bk, kids, 2);
	leaf(&m, 4, l4, 2);
	leaf(&m, 5, l5, 2);
	return m;
}

struct result {
	struct em_report rep;
	struct em_bolt_info info;
};

static void run(struct img *m, enum em_check_mode mode, struct result *r)
{
	struct em_error err;
	em_report_init(&r->rep);
	ck_assert_int_eq(em_bolt_check_buf(m->b, m->len, "db", mode, &r->rep,
	                                   &r->info, &err), EM_OK);
}

/* True if some evidence (kind 'e') or note ('n') mentions text. */
static bool mentions(const struct em_report *rep, char kind, const char *text)
{
	const struct em_finding *f = kind == 'e' ? rep->evidence : rep->notes;
	size_t n = kind == 'e' ? rep->n_evidence : rep->n_notes;
	for (size_t i = 0; i < n; i++)
		if (strstr(f[i].text, text))
			return true;
	return false;
}

static void expect_corrupt(struct img *m, const char *text)
{
	struct result r;
	run(m, EM_CHECK_FULL, &r);
	ck_assert_msg(r.rep.verdict == EM_VERDICT_CORRUPT, "verdict %s, "
	              "wanted corrupt (%s)", em_verdict_name(r.rep.verdict),
	              text);
	ck_assert_msg(mentions(&r.rep, 'e', text), "no evidence saying '%s'; "
	              "first: %s", text,
	              r.rep.n_evidence ? r.rep.evidence[0].text : "(none)");
	em_report_free(&r.rep);
	free(m->b);
}

START_TEST(healthy_image)
{
	struct img m = build();
	struct result r;
	run(&m, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_uint_eq(r.rep.total_evidence, 0);
	ck_assert_uint_eq(r.info.page_size, PS);
	ck_assert_int_eq(r.info.meta_used, 0);
	ck_assert_uint_eq(r.info.txid, 10);
	ck_assert(r.info.has_consistent_index);
	ck_assert_uint_eq(r.info.consistent_index, 256);
	ck_assert(r.info.has_key_bucket);
	ck_assert_uint_eq(r.info.keys, 6);
	ck_assert_uint_eq(r.info.revisions, 4);
	ck_assert_uint_eq(r.info.pages_reachable, 6);
	ck_assert_uint_eq(r.info.pages_free, NPAGES - 6);
	em_report_free(&r.rep);
	free(m.b);
}
END_TEST

START_TEST(one_bad_meta_is_a_note)
{
	struct img m = build();
	struct result r;
	page(&m, 0)[70] ^= 1;         /* txid byte: checksum now wrong */
	run(&m, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_int_eq(r.info.meta_used, 1);
	ck_assert(mentions(&r.rep, 'n', "checksum mismatch"));
	em_report_free(&r.rep);
	free(m.b);
}
END_TEST

START_TEST(both_metas_bad)
{
	struct img m = build();
	page(&m, 0)[16] ^= 0xff;
	page(&m, 1)[75] ^= 0x10;
	expect_corrupt(&m, "no valid meta page");
}
END_TEST

START_TEST(page_size_zero)
{
	struct img m = build();
	for (int i = 0; i < 2; i++) {
		put32(page(&m, (uint64_t)i) + 24, 0);
		put64(page(&m, (uint64_t)i) + 72, fnv(page(&m, (uint64_t)i) + 16, 56));
	}
	expect_corrupt(&m, "has page size 0");
}
END_TEST

/* bbolt takes the page size from a meta 0 that passes its checksum, and
 * divides by it: a good meta 1 does not save the file. */
START_TEST(meta0_page_size_zero_checksummed)
{
	struct img m = build();
	put32(page(&m, 0) + 24, 0);
	put64(page(&m, 0) + 72, fnv(page(&m, 0) + 16, 56));
	expect_corrupt(&m, "has page size 0");
}
END_TEST

START_TEST(meta1_page_size_differs)
{
	struct img m = build();
	put32(page(&m, 1) + 24, 8192);
	put64(page(&m, 1) + 72, fnv(page(&m, 1) + 16, 56));
	expect_corrupt(&m, "says page size 8192");
}
END_TEST

START_TEST(tiny_files)
{
	static const uint8_t three[3] = { 1, 2, 3 };
	struct em_report rep;
	struct em_error err;

	em_report_init(&rep);
	em_bolt_check_buf(three, 3, "db", EM_CHECK_FULL, &rep, NULL, &err);
	ck_assert_int_eq(rep.verdict, EM_VERDICT_CORRUPT);
	em_report_free(&rep);
	em_bolt_check_buf(three, 0, "db", EM_CHECK_FULL, &rep, NULL, &err);
	ck_assert_int_eq(rep.verdict, EM_VERDICT_CORRUPT);
	em_report_free(&rep);
}
END_TEST

START_TEST(truncated_below_high_water)
{
	struct img m = build();
	m.len = 8 * PS;
	expect_corrupt(&m, "does not fit");
}
END_TEST

START_TEST(cycle)
{
	struct img m = build();
	put64(page(&m, 3) + 16 + 16 + 8, 3);   /* branch's 2nd child: itself */
	expect_corrupt(&m, "reached twice");
}
END_TEST

START_TEST(shared_child)
{
	struct img m = build();
	put64(page(&m, 3) + 16 + 16 + 8, 4);   /* both children page 4 */
	expect_corrupt(&m, "reached twice");
}
END_TEST

START_TEST(page_id_mismatch)
{
	struct img m = build();
	put64(page(&m, 5), 9);
	expect_corrupt(&m, "page header says id 9");
}
END_TEST

START_TEST(leaf_key_order)
{
	struct img m = build();
	struct ent l4[] = { { "b", "1", 1, 0 }, { "a", "2", 1, 0 } };
	leaf(&m, 4, l4, 2);
	expect_corrupt(&m, "not above the previous key");
}
END_TEST

START_TEST(duplicate_key)
{
	struct img m = build();
	struct ent l4[] = { { "a", "1", 1, 0 }, { "a", "2", 1, 0 } };
	leaf(&m, 4, l4, 2);
	expect_corrupt(&m, "not above the previous key");
}
END_TEST

START_TEST(child_outside_separators)
{
	struct img m = build();
	struct ent l5[] = { { "c", "3", 1, 0 }, { "z", "4", 1, 0 } };
	leaf(&m, 5, l5, 2);                   /* "c" < separator "m" */
	expect_corrupt(&m, "below the parent's separator");
}
END_TEST

START_TEST(child_beyond_next_separator)
{
	struct img m = build();
	struct ent l4[] = { { "a", "1", 1, 0 }, { "q", "2", 1, 0 } };
	leaf(&m, 4, l4, 2);                   /* "q" >= next separator "m" */
	expect_corrupt(&m, "not below the parent's next separator");
}
END_TEST

START_TEST(overflow_past_high_water)
{
	struct img m = build();
	put32(page(&m, 5) + 12, 100);
	expect_corrupt(&m, "runs past the high-water mark");
}
END_TEST

START_TEST(element_outside_page)
{
	struct img m = build();
	put32(page(&m, 4) + 16 + 4, 5000);      /* pos of element 0 */
	expect_corrupt(&m, "run past the page");
}
END_TEST

START_TEST(huge_count)
{
	struct img m = build();
	put16(page(&m, 4) + 10, 0xFFFF);
	expect_corrupt(&m, "elements do not fit");
}
END_TEST

START_TEST(wrong_page_type)
{
	struct img m = build();
	put16(page(&m, 4) + 8, 0x10);
	expect_corrupt(&m, "where a branch or leaf page belongs");
}
END_TEST

START_TEST(child_out_of_range)
{
	struct img m = build();
	put64(page(&m, 3) + 16 + 8, 1);         /* a meta page as child */
	expect_corrupt(&m, "outside the allocated pages");
}
END_TEST

START_TEST(root_entry_not_bucket)
{
	struct img m = build();
	put32(page(&m, 2) + 16 + 16, 0);        /* "members" loses its flag */
	expect_corrupt(&m, "is not a bucket");
}
END_TEST

START_TEST(inline_bucket_damage)
{
	struct img m = build();
	/* element 2 ("meta") value: inline page flags at value + 16 + 8 */
	uint8_t *e = page(&m, 2) + 16 + 2 * 16;
	uint32_t pos = 0, kl = 0;
	memcpy(&pos, e + 4, 4);
	memcpy(&kl, e + 8, 4);
	put16(e + pos + kl + 16 + 8, 0x01);
	expect_corrupt(&m, "inline bucket page has flags");
}
END_TEST

START_TEST(consistent_index_size)
{
	struct img m = build();
	uint8_t *e = page(&m, 2) + 16 + 2 * 16;
	uint32_t pos = 0, kl = 0;
	memcpy(&pos, e + 4, 4);
	memcpy(&kl, e + 8, 4);
	/* the inline page's only element: vsize 8 -> 7 */
	put32(e + pos + kl + 16 + 16 + 12, 7);
	expect_corrupt(&m, "consistent_index is 7 bytes");
}
END_TEST

START_TEST(key_bucket_missing)
{
	struct img m = build();
	memcpy(page(&m, 2) + 16 + 3 * 16, "kez", 3);
	/* "kez" still sorts before "members": only the name is wrong */
	expect_corrupt(&m, "bucket \"key\" is missing");
}
END_TEST

START_TEST(meta_bucket_missing)
{
	struct img m = build();
	uint8_t *e = page(&m, 2) + 16 + 2 * 16;
	uint32_t pos = 0;
	memcpy(&pos, e + 4, 4);
	e[pos + 3] = 'b';                       /* "meta" -> "metb" */
	expect_corrupt(&m, "bucket \"meta\" is missing");
}
END_TEST

START_TEST(consistent_index_missing)
{
	struct img m = build();
	uint8_t *e = page(&m, 2) + 16 + 2 * 16;
	uint32_t pos = 0, kl = 0, ipos = 0;
	memcpy(&pos, e + 4, 4);
	memcpy(&kl, e + 8, 4);
	/* the inline page's only element: its key's last byte */
	memcpy(&ipos, e + pos + kl + 16 + 16 + 4, 4);
	e[pos + kl + 16 + 16 + ipos + 15] = 'y';
	expect_corrupt(&m, "consistent_index is missing");
}
END_TEST

/* A synced freelist: page 6 holds it, listing pages 7..15. */
static void synced(struct img *m)
{
	hdr(m, 6, 0x10, (uint16_t)(NPAGES - 7), 0);
	for (uint64_t i = 7; i < NPAGES; i++)
		put64(page(m, 6) + 16 + (i - 7) * 8, i);
	meta(m, 0, 2, 6, NPAGES, 10);
	meta(m, 1, 2, 6, NPAGES, 9);
}

START_TEST(freelist_synced_ok)
{
	struct img m = build();
	struct result r;
	synced(&m);
	run(&m, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(r.info.freelist_synced);
	ck_assert_uint_eq(r.info.pages_free, NPAGES - 7);
	em_report_free(&r.rep);
	free(m.b);
}
END_TEST

START_TEST(freelist_large_form)
{
	struct img m = build();
	struct result r;
	synced(&m);
	/* count 0xFFFF: the real count is the first slot */
	put16(page(&m, 6) + 10, 0xFFFF);
	put64(page(&m, 6) + 16, NPAGES - 7);
	for (uint64_t i = 7; i < NPAGES; i++)
		put64(page(&m, 6) + 16 + (i - 6) * 8, i);
	run(&m, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_uint_eq(r.info.pages_free, NPAGES - 7);
	em_report_free(&r.rep);
	free(m.b);
}
END_TEST

START_TEST(freelist_reachable_freed)
{
	struct img m = build();
	synced(&m);
	put64(page(&m, 6) + 16, 4);             /* frees the live leaf 4 */
	expect_corrupt(&m, "both reachable and in the freelist");
}
END_TEST

START_TEST(freelist_unreachable_unfreed)
{
	struct img m = build();
	synced(&m);
	put16(page(&m, 6) + 10, (uint16_t)(NPAGES - 8));  /* 15 lost */
	expect_corrupt(&m, "neither reachable nor in the freelist");
}
END_TEST

START_TEST(freelist_double_free)
{
	struct img m = build();
	synced(&m);
	put64(page(&m, 6) + 16 + 8, 7);
	expect_corrupt(&m, "freed twice");
}
END_TEST

START_TEST(freelist_count_too_big)
{
	struct img m = build();
	synced(&m);
	put16(page(&m, 6) + 10, 0xFFFF);
	put64(page(&m, 6) + 16, 1ull << 56);
	expect_corrupt(&m, "does not fit");
}
END_TEST

START_TEST(sanity_skips_key_tree)
{
	struct img m = build();
	struct result r;
	put64(page(&m, 5), 9);      /* damage inside the key bucket only */
	run(&m, EM_CHECK_SANITY, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(r.info.has_consistent_index);
	em_report_free(&r.rep);
	run(&m, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	em_report_free(&r.rep);
	free(m.b);
}
END_TEST

/* Writes the image to a temporary file and returns its path. */
static char *to_file(const struct img *m)
{
	static char path[64];
	int fd;
	snprintf(path, sizeof(path), "/tmp/em-test-bolt-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, m->b, m->len), (ssize_t)m->len);
	close(fd);
	return path;
}

START_TEST(file_check_and_lock)
{
	struct img m = build();
	char *path = to_file(&m);
	struct em_report rep;
	struct em_bolt_info info;
	struct em_error err;
	int fd;

	em_report_init(&rep);
	ck_assert_int_eq(em_bolt_check_file(path, "db", EM_CHECK_FULL, &rep,
	                                    &info, &err), EM_OK);
	ck_assert_int_eq(rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_uint_eq(info.keys, 6);
	em_report_free(&rep);

	/* etcd's exclusive lock: in-use, at once */
	fd = open(path, O_RDWR);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	em_bolt_check_file(path, "db", EM_CHECK_FULL, &rep, &info, &err);
	ck_assert_int_eq(rep.verdict, EM_VERDICT_IN_USE);
	em_report_free(&rep);
	close(fd);

	em_bolt_check_file("/nonexistent/db", "db", EM_CHECK_FULL, &rep,
	                   &info, &err);
	ck_assert_int_eq(rep.verdict, EM_VERDICT_UNREADABLE);
	em_report_free(&rep);
	unlink(path);
	free(m.b);
}
END_TEST

/* A leaf larger than the read window: elements are read apart. */
START_TEST(big_overflow_page)
{
	const uint32_t ovf = 300;       /* 1.2 MiB: past the 1 MiB window */
	struct img m = { calloc(NPAGES + ovf + 1, PS), 0, PS };
	struct img small = build();
	struct ent big[] = { { "a", NULL, 0, 0 }, { "b", "x", 1, 0 } };
	char *path;
	struct em_report rep;
	struct em_bolt_info info;
	struct em_error err;
	uint64_t hwm = NPAGES + ovf + 1;

	memcpy(m.b, small.b, small.len);
	m.len = (size_t)hwm * PS;
	big[0].v = calloc(1, (size_t)ovf * PS);
	big[0].vlen = ovf * PS;
	/* key bucket's second leaf moves to page NPAGES, spanning ovf+1 */
	leaf(&m, NPAGES, big, 2);
	put32(page(&m, NPAGES) + 12, ovf);
	put64(page(&m, 3) + 16 + 16 + 8, NPAGES);
	memcpy(page(&m, 3) + 16 + 2 * 16, "0a", 2);  /* separators */
	{
		struct ent l4[] = { { "0", "1", 1, 0 } };
		leaf(&m, 4, l4, 1);
	}
	meta(&m, 0, 2, UINT64_MAX, hwm, 10);
	meta(&m, 1, 2, UINT64_MAX, hwm, 9);
	path = to_file(&m);
	em_report_init(&rep);
	em_bolt_check_file(path, "db", EM_CHECK_FULL, &rep, &info, &err);
	ck_assert_msg(rep.verdict == EM_VERDICT_HEALTHY, "%s",
	              rep.n_evidence ? rep.evidence[0].text : "?");
	ck_assert_uint_eq(info.pages_reachable, 5 + ovf + 1);
	em_report_free(&rep);
	unlink(path);
	free((void *)big[0].v);
	free(m.b);
	free(small.b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bolt");
	TCase *t = tcase_create("core");

	tcase_add_test(t, healthy_image);
	tcase_add_test(t, one_bad_meta_is_a_note);
	tcase_add_test(t, both_metas_bad);
	tcase_add_test(t, page_size_zero);
	tcase_add_test(t, meta0_page_size_zero_checksummed);
	tcase_add_test(t, meta1_page_size_differs);
	tcase_add_test(t, tiny_files);
	tcase_add_test(t, truncated_below_high_water);
	tcase_add_test(t, cycle);
	tcase_add_test(t, shared_child);
	tcase_add_test(t, page_id_mismatch);
	tcase_add_test(t, leaf_key_order);
	tcase_add_test(t, duplicate_key);
	tcase_add_test(t, child_outside_separators);
	tcase_add_test(t, child_beyond_next_separator);
	tcase_add_test(t, overflow_past_high_water);
	tcase_add_test(t, element_outside_page);
	tcase_add_test(t, huge_count);
	tcase_add_test(t, wrong_page_type);
	tcase_add_test(t, child_out_of_range);
	tcase_add_test(t, root_entry_not_bucket);
	tcase_add_test(t, inline_bucket_damage);
	tcase_add_test(t, consistent_index_size);
	tcase_add_test(t, key_bucket_missing);
	tcase_add_test(t, meta_bucket_missing);
	tcase_add_test(t, consistent_index_missing);
	tcase_add_test(t, freelist_synced_ok);
	tcase_add_test(t, freelist_large_form);
	tcase_add_test(t, freelist_reachable_freed);
	tcase_add_test(t, freelist_unreachable_unfreed);
	tcase_add_test(t, freelist_double_free);
	tcase_add_test(t, freelist_count_too_big);
	tcase_add_test(t, sanity_skips_key_tree);
	tcase_add_test(t, file_check_and_lock);
	tcase_add_test(t, big_overflow_page);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
