/*
 * test_snap.c - the .snap decoder (good, crc mismatch, empty, truncated,
 * malformed) and the choice etcd makes among .snap files at start-up
 * (LoadNewestAvailable): the newest the WAL refers to, an older one when the
 * newest is broken (a note), evidence only when none can be loaded.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd-medic/crc32c.h"
#include "etcd-medic/snap.h"

#include "testutil.h"

/* ---- encoder ---------------------------------------------------------- */

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void b_varint(struct buf *m, uint64_t v)
{
	while (v >= 0x80) {
		m->b[m->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	m->b[m->n++] = (uint8_t)v;
}

static void f_varint(struct buf *m, unsigned field, uint64_t v)
{
	b_varint(m, (uint64_t)field << 3);
	b_varint(m, v);
}

static void f_bytes(struct buf *m, unsigned field, const void *p, size_t n)
{
	b_varint(m, ((uint64_t)field << 3) | 2);
	b_varint(m, n);
	ck_assert_uint_le(m->n + n, sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static const char *v2_store = "{\"Root\":{\"Path\":\"/\"}}";

/* raftpb.Snapshot as etcd marshals it, with v2_store as its data. */
static void raft_snapshot(struct buf *out, uint64_t term, uint64_t index)
{
	const char *store = v2_store;
	struct buf cs = { .n = 0 }, md = { .n = 0 };

	f_varint(&cs, 1, 0x8e9e05c52164694dull);
	f_bytes(&md, 1, cs.b, cs.n);
	f_varint(&md, 2, index);
	f_varint(&md, 3, term);
	out->n = 0;
	f_bytes(out, 1, store, strlen(store));
	f_bytes(out, 2, md.b, md.n);
}

/* snappb.Snapshot{crc, data}. */
static void wrap(struct buf *out, const struct buf *data, uint32_t crc)
{
	out->n = 0;
	f_varint(out, 1, crc);
	f_bytes(out, 2, data->b, data->n);
}

static void snap_file(struct buf *out, uint64_t term, uint64_t index)
{
	struct buf raw;

	raft_snapshot(&raw, term, index);
	wrap(out, &raw, em_crc32c(0, raw.b, raw.n));
}

static enum em_status decode(const uint8_t *p, size_t n,
                             struct em_snap_meta *m, struct em_error *err)
{
	uint8_t *copy = calloc(1, n ? n : 1);
	enum em_status st;

	if (n)
		memcpy(copy, p, n);
	st = em_snap_decode_buf(copy, n, m, err);
	free(copy);
	return st;
}

/* ---- decoding --------------------------------------------------------- */

START_TEST(good)
{
	struct buf f;
	struct em_snap_meta m;
	struct em_error err;

	snap_file(&f, 7, 12345);
	ck_assert_int_eq(decode(f.b, f.n, &m, &err), EM_OK);
	ck_assert_uint_eq(m.term, 7);
	ck_assert_uint_eq(m.index, 12345);
	ck_assert_uint_ne(m.crc, 0);
	ck_assert_uint_eq(m.data_len, strlen("{\"Root\":{\"Path\":\"/\"}}"));
}
END_TEST

START_TEST(crc_mismatch)
{
	struct buf f;
	struct em_snap_meta m;
	struct em_error err;

	snap_file(&f, 7, 12345);
	f.b[f.n - 3] ^= 0x01;
	ck_assert_int_eq(decode(f.b, f.n, &m, &err), EM_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "crc mismatch: stored 0x"));
}
END_TEST

START_TEST(empty)
{
	struct buf raw, f;
	struct em_snap_meta m;
	struct em_error err;

	ck_assert_int_eq(decode(NULL, 0, &m, &err), EM_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty snapshot"));
	raw.n = 0;
	wrap(&f, &raw, 0x1234); /* no data */
	ck_assert_int_eq(decode(f.b, f.n, &m, &err), EM_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty snapshot"));
	raft_snapshot(&raw, 1, 2);
	wrap(&f, &raw, 0); /* crc 0 */
	ck_assert_int_eq(decode(f.b, f.n, &m, &err), EM_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty snapshot"));
}
END_TEST

/* Every truncation fails cleanly; none is taken for a good file. */
START_TEST(truncated)
{
	struct buf f;
	struct em_snap_meta m;
	struct em_error err;

	snap_file(&f, 3, 99);
	for (size_t n = 0; n < f.n; n++)
		ck_assert_int_eq(decode(f.b, n, &m, &err), EM_EFORMAT);
}
END_TEST

/* Valid crc over a malformed raftpb.Snapshot: the offset says where. */
START_TEST(malformed_inner)
{
	static const uint8_t bad[] = { 0x0a, 0x02, '{', '}', 0x12, 0x05,
	                               0x10, 0x01, 0x18 };
	struct buf raw, f;
	struct em_snap_meta m;
	struct em_error err;

	memcpy(raw.b, bad, sizeof(bad));
	raw.n = sizeof(bad);
	wrap(&f, &raw, em_crc32c(0, raw.b, raw.n));
	ck_assert_int_eq(decode(f.b, f.n, &m, &err), EM_EFORMAT);
	ck_assert(m.at_offset);
	/* snappb header: crc field (1 + 5 bytes), data key and length (2) */
	ck_assert_uint_eq(m.offset, f.n - raw.n + 4);
	ck_assert_ptr_nonnull(strstr(err.msg, "raftpb.Snapshot"));
}
END_TEST

START_TEST(malformed_outer)
{
	static const uint8_t bad[] = { 0x08, 0x01, 0x12, 0x7f, 'x' };
	struct em_snap_meta m;
	struct em_error err;

	ck_assert_int_eq(decode(bad, sizeof(bad), &m, &err), EM_EFORMAT);
	ck_assert(m.at_offset);
	ck_assert_uint_eq(m.offset, 2);
}
END_TEST

/* Single-byte changes: never a crash or overread. */
START_TEST(mutations)
{
	struct buf f;
	struct em_snap_meta m;
	struct em_error err;

	snap_file(&f, 3, 99);
	for (size_t i = 0; i < f.n; i++) {
		for (int b = 0; b < 8; b++) {
			f.b[i] ^= (uint8_t)(1u << b);
			(void)decode(f.b, f.n, &m, &err);
			f.b[i] ^= (uint8_t)(1u << b);
		}
	}
	ck_assert_int_eq(decode(f.b, f.n, &m, &err), EM_OK);
}
END_TEST

/* ---- selection -------------------------------------------------------- */

/* A good .snap named term-index; broken: its crc does not match. */
static void put_snap(const char *dir, uint64_t term, uint64_t index,
                     bool broken)
{
	char name[64];
	struct buf f;

	snap_file(&f, term, index);
	if (broken)
		f.b[f.n - 2] ^= 0x40;
	snprintf(name, sizeof(name), "%016llx-%016llx.snap",
	         (unsigned long long)term, (unsigned long long)index);
	tu_write_file(dir, name, f.b, f.n);
}

struct result {
	struct em_report rep;
	struct em_snap_info info;
};

static void check_reads(const char *dir, const struct em_wal_snapshot *ws,
                        size_t n, bool have_wal, bool etcd_reads,
                        enum em_check_mode mode, struct result *r)
{
	struct em_error err;

	em_report_init(&r->rep);
	ck_assert_int_eq(em_snap_check_dir(dir, "member/snap", mode, ws, n,
	                                   have_wal, etcd_reads, &r->rep,
	                                   &r->info, &err), EM_OK);
}

static void check(const char *dir, const struct em_wal_snapshot *ws,
                  size_t n, bool have_wal, enum em_check_mode mode,
                  struct result *r)
{
	check_reads(dir, ws, n, have_wal, true, mode, r);
}

static bool has(const struct em_finding *f, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(f[i].text, s) != NULL)
			return true;
	return false;
}

static const struct em_wal_snapshot walsnaps[] = {
	{ .index = 0, .term = 0 },
	{ .index = 100, .term = 2 },
	{ .index = 200, .term = 2 },
	{ .index = 300, .term = 3 },
};

#define NWS (sizeof(walsnaps) / sizeof(walsnaps[0]))

START_TEST(select_newest)
{
	char *d = tu_tmpdir("test_snap");
	struct result r;

	put_snap(d, 2, 100, false);
	put_snap(d, 2, 200, false);
	put_snap(d, 3, 300, false);
	tu_write_file(d, "db", "x", 1);
	tu_write_file(d, "0000000000000300.snap.db", "x", 1);
	tu_write_file(d, "tmp123", "x", 1);
	for (int mode = 0; mode < 2; mode++) {
		check(d, walsnaps, NWS, true, (enum em_check_mode)mode, &r);
		ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
		ck_assert_uint_eq(r.rep.total_notes, 0);
		ck_assert_uint_eq(r.info.n_files, 3);
		ck_assert(r.info.loaded);
		ck_assert_str_eq(r.info.file,
		                 "0000000000000003-000000000000012c.snap");
		ck_assert_uint_eq(r.info.index, 300);
		ck_assert_uint_eq(r.info.term, 3);
		em_report_free(&r.rep);
	}
	tu_rmdir(d);
	free(d);
}
END_TEST

/* The newest is broken, an older one loads: etcd goes on, a note. */
START_TEST(select_older)
{
	char *d = tu_tmpdir("test_snap");
	struct result r;

	put_snap(d, 2, 200, false);
	put_snap(d, 3, 300, true);
	check(d, walsnaps, NWS, true, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(has(r.rep.notes, r.rep.n_notes, "crc mismatch"));
	ck_assert(has(r.rep.notes, r.rep.n_notes, "renames it .broken"));
	ck_assert_str_eq(r.rep.notes[0].file, "member/snap/"
	                 "0000000000000003-000000000000012c.snap");
	ck_assert(r.info.loaded);
	ck_assert_uint_eq(r.info.index, 200);
	ck_assert_uint_eq(r.info.n_bad, 1);
	em_report_free(&r.rep);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* The same files for etcd 3.7 and later, which reads no .snap at start
 * (it starts from the WAL's snapshot record): notes, nothing loaded. */
START_TEST(unread_by_37)
{
	char *d = tu_tmpdir("test_snap");
	struct result r;

	put_snap(d, 2, 200, true);
	put_snap(d, 3, 300, true);
	for (int mode = 0; mode < 2; mode++) {
		check_reads(d, walsnaps, NWS, true, false,
		            (enum em_check_mode)mode, &r);
		ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
		ck_assert_uint_eq(r.rep.total_evidence, 0);
		ck_assert(has(r.rep.notes, r.rep.n_notes, "reads no .snap"));
		ck_assert(!r.info.loaded);
		em_report_free(&r.rep);
	}
	tu_rmdir(d);
	free(d);
}
END_TEST

/*
 * The v2 store of the snapshot etcd loads: membership only (and v2 auth's
 * empty users and roles, and hidden nodes) is fine; anything else is what
 * etcd 3.6 refuses to start on, a note.
 */
START_TEST(v2_content)
{
	static const struct {
		const char *store;
		const char *note;   /* NULL: none */
	} cases[] = {
		{ "{\"Root\":{\"Path\":\"/\",\"Children\":{\"0\":{\"Children\":"
		  "{\"members\":{\"Children\":{\"1\":{}}}}},\"1\":{\"Children\":"
		  "null},\"2\":{\"Children\":{\"enabled\":{},\"users\":{\"Children\":"
		  "{}},\"roles\":{\"Children\":{}}}}}}}", NULL },
		{ "{\"Root\":{\"Children\":{\"_hidden\":{\"Children\":{\"x\":{}}},"
		  "\"1\":{\"Children\":{\"_y\":{}}}}}}", NULL },
		{ "{\"Root\":{\"Children\":{\"1\":{\"Children\":{\"app\":{}}}}}}",
		  "(/1/app)" },
		{ "{\"Root\":{\"Children\":{\"2\":{\"Children\":{\"users\":"
		  "{\"Children\":{\"bob\":{}}}}}}}}", "(/2/users/bob)" },
		{ "{\"Root\":{\"Children\":{\"1\":{\"Children\":", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = tu_tmpdir("test_snap");
		struct result r;

		v2_store = cases[i].store;
		put_snap(d, 3, 300, false);
		check(d, walsnaps, NWS, true, EM_CHECK_FULL, &r);
		ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
		ck_assert(r.info.loaded);
		ck_assert_msg(r.info.v2_custom == (cases[i].note != NULL),
		              "case %zu", i);
		if (cases[i].note != NULL) {
			ck_assert(has(r.rep.notes, r.rep.n_notes,
			              cases[i].note));
			ck_assert(has(r.rep.notes, r.rep.n_notes,
			              "etcd 3.6 refuses"));
		}
		em_report_free(&r.rep);
		/* 3.7 reads no .snap: nothing to say. */
		check_reads(d, walsnaps, NWS, true, false, EM_CHECK_FULL, &r);
		ck_assert(!r.info.v2_custom);
		em_report_free(&r.rep);
		tu_rmdir(d);
		free(d);
	}
	v2_store = "{\"Root\":{\"Path\":\"/\"}}";
}
END_TEST

/* Every .snap the WAL refers to is broken: etcd has nothing to load. */
START_TEST(select_none)
{
	char *d = tu_tmpdir("test_snap");
	struct result r;

	put_snap(d, 2, 200, true);
	put_snap(d, 3, 300, true);
	for (int mode = 0; mode < 2; mode++) {
		check(d, walsnaps, NWS, true, (enum em_check_mode)mode, &r);
		ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
		ck_assert_uint_eq(r.rep.total_evidence, 2);
		ck_assert(has(r.rep.evidence, r.rep.n_evidence,
		              "crc mismatch"));
		ck_assert(!r.info.loaded);
		ck_assert_uint_eq(r.info.n_bad, 2);
		em_report_free(&r.rep);
	}
	tu_rmdir(d);
	free(d);
}
END_TEST

/* Orphans: a .snap the WAL does not refer to is ignored by etcd. */
START_TEST(select_orphans)
{
	char *d = tu_tmpdir("test_snap");
	struct result r;

	put_snap(d, 2, 200, false);
	put_snap(d, 3, 350, false); /* written, then a crash before the WAL */
	put_snap(d, 3, 360, true);  /* torn by that crash */
	check(d, walsnaps, NWS, true, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(has(r.rep.notes, r.rep.n_notes, "not among the WAL's"));
	ck_assert(r.info.loaded);
	ck_assert_uint_eq(r.info.index, 200);
	em_report_free(&r.rep);
	/* with no matching file at all, etcd loads none: not for us to say */
	check(d, walsnaps, 1, true, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(!r.info.loaded);
	ck_assert(has(r.rep.notes, r.rep.n_notes, "the WAL does not refer"));
	em_report_free(&r.rep);
	tu_rmdir(d);
	free(d);
}
END_TEST

/*
 * Without the WAL only the files' own integrity counts, and then never as
 * evidence: a .snap a crash left before the WAL recorded it looks the same
 * as one etcd needs.
 */
START_TEST(no_wal)
{
	char *d = tu_tmpdir("test_snap");
	struct result r;

	put_snap(d, 3, 350, true);
	put_snap(d, 3, 340, false);
	check(d, NULL, 0, false, EM_CHECK_SANITY, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(r.info.loaded);
	ck_assert_uint_eq(r.info.index, 340);
	em_report_free(&r.rep);
	put_snap(d, 3, 340, true);
	check(d, NULL, 0, false, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(!r.info.loaded);
	ck_assert_uint_eq(r.info.n_bad, 2);
	ck_assert_uint_eq(r.rep.total_notes, 2);
	em_report_free(&r.rep);
	tu_rmdir(d);
	free(d);
}
END_TEST

START_TEST(empty_and_odd_files)
{
	char *d = tu_tmpdir("test_snap");
	char sub[600];
	struct result r;

	tu_write_file(d, "0000000000000003-000000000000012c.snap", "", 0);
	tu_write_file(d, "0000000000000002-00000000000000c8.snap.broken", "x", 1);
	tu_write_file(d, "db.tmp.123", "x", 1);
	snprintf(sub, sizeof(sub), "%s/0000000000000002-0000000000000064.snap",
	         d);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put_snap(d, 2, 50, false);
	check(d, walsnaps, NWS, true, EM_CHECK_FULL, &r);
	/* the empty 300 and the directory 100 match the WAL, nothing loads */
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(has(r.rep.evidence, r.rep.n_evidence, "empty snapshot"));
	ck_assert(has(r.rep.evidence, r.rep.n_evidence, "not a regular file"));
	ck_assert(has(r.rep.notes, r.rep.n_notes, "set aside"));
	ck_assert(has(r.rep.notes, r.rep.n_notes, "not among the WAL's"));
	ck_assert_uint_eq(r.info.n_files, 3);
	em_report_free(&r.rep);
	tu_rmdir(d);
	free(d);
}
END_TEST

START_TEST(missing_dir)
{
	struct result r;

	check("/nonexistent/etcd-medic/snap", walsnaps, NWS, true,
	      EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_uint_eq(r.info.n_files, 0);
	ck_assert(!r.info.loaded);
	em_report_free(&r.rep);
}
END_TEST

START_TEST(unreadable)
{
	char *d = tu_tmpdir("test_snap");
	char path[600];
	struct result r;

	if (geteuid() == 0) { /* root reads mode-000 files */
		tu_rmdir(d);
		free(d);
		return;
	}
	put_snap(d, 3, 300, false);
	snprintf(path, sizeof(path), "%s/%s", d,
	         "0000000000000003-000000000000012c.snap");
	ck_assert_int_eq(chmod(path, 0), 0);
	check(d, walsnaps, NWS, true, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_UNREADABLE);
	em_report_free(&r.rep);
	tu_rmdir(d);
	free(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snap");
	TCase *t = tcase_create("decode");
	TCase *d = tcase_create("select");

	tcase_add_test(t, good);
	tcase_add_test(t, crc_mismatch);
	tcase_add_test(t, empty);
	tcase_add_test(t, truncated);
	tcase_add_test(t, malformed_inner);
	tcase_add_test(t, malformed_outer);
	tcase_add_test(t, mutations);
	tcase_add_test(d, select_newest);
	tcase_add_test(d, select_older);
	tcase_add_test(d, select_none);
	tcase_add_test(d, unread_by_37);
	tcase_add_test(d, v2_content);
	tcase_add_test(d, select_orphans);
	tcase_add_test(d, no_wal);
	tcase_add_test(d, empty_and_odd_files);
	tcase_add_test(d, missing_dir);
	tcase_add_test(d, unreadable);
	suite_add_tcase(s, t);
	suite_add_tcase(s, d);
	return tu_run(s);
}
