/*
 * test_wal.c - the WAL verifier against hand-built WAL images: a good one,
 * and each kind of damage etcd refuses (bad crc, bad framing, unknown type,
 * a truncated middle file, a gap in the sequence, conflicting metadata, a
 * huge length), next to what etcd accepts or repairs itself (a torn tail,
 * overwritten entries, odd padding), which must stay notes.
 *
 * The images are written by a small encoder below that follows etcd's
 * wal/encoder.go: a walpb.Record per frame, an 8-byte length word with the
 * padding in its top byte, and one CRC-32C chain across records and files.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd-medic/crc32c.h"
#include "etcd-medic/wal.h"

#include "testutil.h"

/* ---- encoder ---------------------------------------------------------- */

struct img {
	uint8_t *p;
	size_t len;
	size_t cap;
	uint32_t *chain; /* running CRC, shared by the files of one WAL */
};

static void put(struct img *im, const void *src, size_t n)
{
	if (im->len + n > im->cap) {
		im->cap = (im->len + n) * 2 + 64;
		im->p = realloc(im->p, im->cap);
		ck_assert_ptr_nonnull(im->p);
	}
	if (n)
		memcpy(im->p + im->len, src, n);
	im->len += n;
}

static size_t varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* A protobuf message under construction (fields appended in order). */
struct msg {
	uint8_t b[4096];
	size_t n;
};

static void m_varint(struct msg *m, unsigned field, uint64_t v)
{
	m->n += varint(m->b + m->n, (uint64_t)field << 3);
	m->n += varint(m->b + m->n, v);
}

static void m_bytes(struct msg *m, unsigned field, const void *p, size_t n)
{
	m->n += varint(m->b + m->n, ((uint64_t)field << 3) | 2);
	m->n += varint(m->b + m->n, n);
	ck_assert_uint_le(m->n + n, sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put_word(struct img *im, uint64_t w)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(w >> (8 * i));
	put(im, b, 8);
}

/* Frames an encoded record; returns the frame's offset. */
static size_t frame(struct img *im, const uint8_t *rec, size_t n)
{
	static const uint8_t zeros[8];
	size_t off = im->len;
	uint64_t pad = (8 - n % 8) % 8;
	uint64_t w = n;

	if (pad)
		w |= (0x80 | pad) << 56;
	put_word(im, w);
	put(im, rec, n);
	put(im, zeros, pad);
	return off;
}

/* walpb.Record{type, crc, data} with the chained crc, as etcd encodes. */
static size_t record(struct img *im, int64_t type, const void *data,
                     size_t len)
{
	struct msg r = { .n = 0 };

	*im->chain = em_crc32c(*im->chain, data, len);
	m_varint(&r, 1, (uint64_t)type);
	m_varint(&r, 2, *im->chain);
	if (data)
		m_bytes(&r, 3, data, len);
	return frame(im, r.b, r.n);
}

static size_t rec_crc(struct img *im)
{
	return record(im, 4, NULL, 0);
}

static size_t rec_meta(struct img *im, uint64_t node, uint64_t cluster)
{
	struct msg m = { .n = 0 };

	m_varint(&m, 1, node);
	m_varint(&m, 2, cluster);
	return record(im, 1, m.b, m.n);
}

static size_t rec_snap(struct img *im, uint64_t index, uint64_t term)
{
	struct msg m = { .n = 0 };

	if (index)
		m_varint(&m, 1, index);
	if (term)
		m_varint(&m, 2, term);
	return record(im, 5, m.b, m.n);
}

static size_t rec_state(struct img *im, uint64_t term, uint64_t vote,
                        uint64_t commit)
{
	struct msg m = { .n = 0 };

	m_varint(&m, 1, term);
	m_varint(&m, 2, vote);
	m_varint(&m, 3, commit);
	return record(im, 3, m.b, m.n);
}

static size_t rec_entry(struct img *im, uint64_t term, uint64_t index,
                        size_t datalen)
{
	struct msg m = { .n = 0 };
	uint8_t data[2048];

	ck_assert_uint_le(datalen, sizeof(data));
	for (size_t i = 0; i < datalen; i++)
		data[i] = (uint8_t)(index * 31 + i * 7 + 1);
	m_varint(&m, 2, term);
	m_varint(&m, 3, index);
	m_varint(&m, 1, 0);
	m_bytes(&m, 4, data, datalen);
	return record(im, 2, m.b, m.n);
}

/* The head etcd writes into a WAL's first file. */
static void first_file(struct img *im, uint32_t *chain)
{
	memset(im, 0, sizeof(*im));
	im->chain = chain;
	*chain = 0;
	rec_crc(im);
	rec_meta(im, 0x1111, 0x2222);
	rec_snap(im, 0, 0);
}

/* The head of a file made by cut: crc(prev), metadata, state. */
static void next_file(struct img *im, uint32_t *chain, uint64_t commit)
{
	memset(im, 0, sizeof(*im));
	im->chain = chain;
	rec_crc(im);
	rec_meta(im, 0x1111, 0x2222);
	rec_state(im, 2, 0x1111, commit);
}

static void entries(struct img *im, uint64_t from, uint64_t to, size_t len)
{
	for (uint64_t i = from; i <= to; i++)
		rec_entry(im, 2, i, len);
}

/* Preallocated space after the records of the newest file. */
static void zeros(struct img *im, size_t n)
{
	uint8_t *z = calloc(1, n);

	put(im, z, n);
	free(z);
}

static void good_wal(struct img *im, uint32_t *chain, uint64_t n,
                     size_t len);

/* Record plus padding bytes of the frame at off, from its length word. */
static size_t span_of(const struct img *im, size_t off)
{
	uint64_t w = 0;

	for (int i = 7; i >= 0; i--)
		w = (w << 8) | im->p[off + (size_t)i];
	return (size_t)((w & ((UINT64_C(1) << 56) - 1)) + ((w >> 63) ?
	                ((w >> 56) & 7) : 0));
}

static unsigned pad_of(const struct img *im, size_t off)
{
	return im->p[off + 7] & 7;
}

/*
 * good_wal plus one more entry whose padding is in [lo, hi] (its size is
 * tried until it is); returns the entry's frame offset.
 */
static size_t wal_with_padded_entry(struct img *im, uint32_t *chain,
                                    unsigned lo, unsigned hi)
{
	for (size_t len = 21; len < 40; len++) {
		size_t off;

		good_wal(im, chain, 5, 21);
		off = rec_entry(im, 2, 6, len);
		if (pad_of(im, off) >= lo && pad_of(im, off) <= hi)
			return off;
		free(im->p);
	}
	ck_abort_msg("no entry size gives the padding wanted");
	return 0;
}

/* ---- checking --------------------------------------------------------- */

struct result {
	struct em_report rep;
	struct em_wal_info info;
	enum em_status st;
};

/* Runs em_wal_check_buf on an exact-size copy (ASan sees overreads). */
static void check_img(const struct img *im, struct result *r)
{
	uint8_t *copy = malloc(im->len ? im->len : 1);
	struct em_error err;

	memcpy(copy, im->p, im->len);
	em_report_init(&r->rep);
	r->st = em_wal_check_buf(copy, im->len,
	                         "member/wal/0000000000000000-0000000000000000"
	                         ".wal", &r->rep, &r->info, &err);
	ck_assert_int_eq(r->st, EM_OK);
	free(copy);
}

static void done(struct result *r)
{
	em_report_free(&r->rep);
	em_wal_info_free(&r->info);
}

static bool has_text(const struct em_finding *f, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(f[i].text, s) != NULL)
			return true;
	return false;
}

static bool evidence(const struct result *r, const char *s)
{
	return has_text(r->rep.evidence, r->rep.n_evidence, s);
}

static bool note(const struct result *r, const char *s)
{
	return has_text(r->rep.notes, r->rep.n_notes, s);
}

static void dump(const struct result *r)
{
	for (size_t i = 0; i < r->rep.n_evidence; i++)
		fprintf(stderr, "  evidence %s @%llu: %s\n",
		        r->rep.evidence[i].file,
		        (unsigned long long)r->rep.evidence[i].at,
		        r->rep.evidence[i].text);
	for (size_t i = 0; i < r->rep.n_notes; i++)
		fprintf(stderr, "  note %s @%llu: %s\n", r->rep.notes[i].file,
		        (unsigned long long)r->rep.notes[i].at,
		        r->rep.notes[i].text);
}

static void expect_healthy(const struct result *r)
{
	if (r->rep.verdict != EM_VERDICT_HEALTHY)
		dump(r);
	ck_assert_int_eq(r->rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_uint_eq(r->rep.total_evidence, 0);
}

static void expect_corrupt_at(const struct result *r, uint64_t off,
                              const char *text)
{
	if (r->rep.n_evidence == 0 || !evidence(r, text))
		dump(r);
	ck_assert_int_eq(r->rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(evidence(r, text));
	ck_assert_int_eq(r->rep.evidence[0].locus, EM_AT_OFFSET);
	ck_assert_uint_eq(r->rep.evidence[0].at, off);
}

/* A typical single-file WAL with n entries of len bytes. */
static void good_wal(struct img *im, uint32_t *chain, uint64_t n, size_t len)
{
	first_file(im, chain);
	rec_state(im, 2, 0x1111, 0);
	entries(im, 1, n, len);
	rec_state(im, 2, 0x1111, n);
}

/* ---- single image ----------------------------------------------------- */

START_TEST(good)
{
	struct img im;
	uint32_t chain;
	struct result r;

	good_wal(&im, &chain, 50, 100);
	rec_snap(&im, 40, 2);
	rec_state(&im, 2, 0x1111, 50);
	zeros(&im, 64 * 1024);
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert_uint_eq(r.rep.total_notes, 0);
	ck_assert(r.info.have_metadata);
	ck_assert_uint_eq(r.info.node_id, 0x1111);
	ck_assert_uint_eq(r.info.cluster_id, 0x2222);
	ck_assert(r.info.have_state);
	ck_assert_uint_eq(r.info.commit, 50);
	ck_assert_uint_eq(r.info.entries, 50);
	ck_assert_uint_eq(r.info.last_index, 50);
	ck_assert_uint_eq(r.info.n_snaps, 2);
	ck_assert_uint_eq(r.info.snaps[1].index, 40);
	ck_assert_uint_eq(r.info.snaps[1].term, 2);
	ck_assert(r.info.decoded_all);
	ck_assert(!r.info.torn_tail);
	ck_assert_uint_eq(r.info.entry_gap_floor, 0);
	ck_assert_uint_eq(r.info.records, 3 + 1 + 50 + 1 + 1 + 1);
	ck_assert(em_wal_can_open_at(&r.info, 0));
	ck_assert(em_wal_can_open_at(&r.info, 40));
	done(&r);
	free(im.p);
}
END_TEST

/* Without preallocated space: EOF ends the records just as well. */
START_TEST(good_no_zeros)
{
	struct img im;
	uint32_t chain;
	struct result r;

	good_wal(&im, &chain, 3, 10);
	check_img(&im, &r);
	expect_healthy(&r);
	done(&r);
	free(im.p);
}
END_TEST

START_TEST(empty_image)
{
	struct result r;
	struct em_error err;

	em_report_init(&r.rep);
	ck_assert_int_eq(em_wal_check_buf(NULL, 0, "w.wal", &r.rep, &r.info,
	                                  &err), EM_OK);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert(note(&r, "no records"));
	done(&r);
}
END_TEST

START_TEST(bad_crc)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 5, 100);
	off = rec_entry(&im, 2, 6, 100);
	entries(&im, 7, 9, 100);
	zeros(&im, 4096);
	im.p[off + 8 + 40] ^= 0x10; /* inside the entry's data */
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "record crc mismatch: stored 0x");
	ck_assert(evidence(&r, "not a torn write"));
	ck_assert(!r.info.torn_tail);
	ck_assert(!r.info.decoded_all);
	done(&r);
	free(im.p);
}
END_TEST

/* The stored crc itself damaged (a field outside the crc'd data). */
START_TEST(bad_crc_field)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	off = rec_state(&im, 2, 1, 3);
	entries(&im, 4, 5, 20);
	im.p[off + 8 + 3] ^= 0x01; /* a byte of the crc varint */
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "record crc mismatch");
	done(&r);
	free(im.p);
}
END_TEST

START_TEST(crc_record_breaks_chain)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	chain ^= 0x5a5a; /* as if records were lost before it */
	off = rec_crc(&im);
	entries(&im, 4, 5, 20);
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "crc record breaks the chain");
	/* the chain goes on from the crc record: nothing else is blamed */
	ck_assert_uint_eq(r.rep.total_evidence, 1);
	done(&r);
	free(im.p);
}
END_TEST

START_TEST(unknown_type)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	off = record(&im, 9, "xyz", 3);
	entries(&im, 4, 5, 20);
	zeros(&im, 512);
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "unknown record type 9");
	ck_assert_uint_eq(r.rep.total_evidence, 1);
	done(&r);
	free(im.p);
}
END_TEST

START_TEST(conflicting_metadata)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	off = rec_meta(&im, 0x1111, 0x3333);
	entries(&im, 4, 5, 20);
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "conflicting metadata");
	done(&r);
	free(im.p);
}
END_TEST

/* A record that decodes, with a valid crc, but a malformed payload. */
START_TEST(malformed_payload)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;
	static const uint8_t bad[] = { 0x10, 0x02, 0x18 }; /* index cut */

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	off = record(&im, 2, bad, sizeof(bad));
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "entry record with a valid crc does not "
	                  "decode");
	done(&r);
	free(im.p);
}
END_TEST

START_TEST(huge_length)
{
	static const uint64_t words[] = {
		UINT64_C(0x00ffffffffffffff), UINT64_C(0xffffffffffffffff),
		UINT64_C(0x8700000000a00000), UINT64_C(0x0000000000a00000),
	};

	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		struct img im;
		uint32_t chain;
		struct result r;
		size_t off;

		first_file(&im, &chain);
		entries(&im, 1, 3, 20);
		off = im.len;
		put_word(&im, words[k]);
		zeros(&im, 4096);
		check_img(&im, &r);
		expect_corrupt_at(&r, off, "etcd's 10 MiB limit");
		ck_assert(!r.info.torn_tail);
		done(&r);
		free(im.p);
	}
}
END_TEST

/* An entry record with a payload too big for struct msg; returns its
 * frame offset. */
static size_t big_entry(struct img *im, uint64_t index, size_t payload)
{
	struct msg head = { .n = 0 };
	struct img ent = { .chain = im->chain }, rec = { .chain = im->chain };
	uint8_t *data = malloc(payload);
	size_t off;

	memset(data, 0x5a, payload);
	m_varint(&head, 2, 2);
	m_varint(&head, 3, index);
	head.n += varint(head.b + head.n, (4 << 3) | 2);
	head.n += varint(head.b + head.n, payload);
	put(&ent, head.b, head.n);
	put(&ent, data, payload);
	*im->chain = em_crc32c(*im->chain, ent.p, ent.len);
	head.n = 0;
	m_varint(&head, 1, 2);
	m_varint(&head, 2, *im->chain);
	head.n += varint(head.b + head.n, (3 << 3) | 2);
	head.n += varint(head.b + head.n, ent.len);
	put(&rec, head.b, head.n);
	put(&rec, ent.p, ent.len);
	off = frame(im, rec.p, rec.len);
	free(rec.p);
	free(ent.p);
	free(data);
	return off;
}

/*
 * A record of 10 MiB or more that is whole: etcd 3.4 refuses it all the
 * same, so the member cannot start; the records after it are still read.
 */
START_TEST(oversized_record)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	off = big_entry(&im, 4, 10u * 1024 * 1024 + 100);
	entries(&im, 5, 6, 20);
	zeros(&im, 4096);
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "refuse records of 10 MiB or more");
	ck_assert_uint_eq(r.rep.total_evidence, 1);
	ck_assert_uint_eq(r.info.last_index, 6);
	ck_assert(!r.info.torn_tail);
	done(&r);
	/* the same length word over garbage: still not a torn write */
	memset(im.p + off + 8 + 100, 0, 4096);
	check_img(&im, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(!r.info.torn_tail);
	done(&r);
	free(im.p);
}
END_TEST

/* Below 10 MiB, a record running past EOF in the last file is torn. */
START_TEST(short_record_at_eof_is_torn)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	off = rec_entry(&im, 2, 4, 1000);
	im.len = off + 8 + 300;
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(r.info.torn_tail);
	ck_assert_uint_eq(r.info.torn_offset, off);
	ck_assert(note(&r, "torn write"));
	ck_assert_uint_eq(r.info.last_index, 3);
	done(&r);
	free(im.p);
}
END_TEST

START_TEST(partial_length_word_is_torn)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 3, 20);
	off = rec_entry(&im, 2, 4, 20);
	im.len = off + 5;
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(r.info.torn_tail);
	ck_assert_uint_eq(r.info.torn_offset, off);
	done(&r);
	free(im.p);
}
END_TEST

/* A torn write: the last record's second sector never reached the disk. */
START_TEST(torn_tail_zero_sector)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off, s;

	first_file(&im, &chain);
	entries(&im, 1, 10, 50);
	off = rec_entry(&im, 2, 11, 1500);
	zeros(&im, 8192);
	s = (off + 8 + 511) / 512 * 512; /* first sector boundary inside */
	memset(im.p + s, 0, 512);
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(r.info.torn_tail);
	ck_assert_uint_eq(r.info.torn_offset, off);
	ck_assert(note(&r, "torn write"));
	ck_assert(r.info.decoded_all);
	ck_assert_uint_eq(r.info.last_index, 10);
	done(&r);
	free(im.p);
}
END_TEST

/* A torn write can leave later sectors of a batch without the earlier. */
START_TEST(torn_tail_then_garbage)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off, s;

	first_file(&im, &chain);
	entries(&im, 1, 10, 50);
	off = rec_entry(&im, 2, 11, 1500);
	entries(&im, 12, 14, 50);
	zeros(&im, 8192);
	s = (off + 8 + 511) / 512 * 512;
	memset(im.p + s, 0, 512);
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(r.info.torn_tail);
	ck_assert(note(&r, "discarding non-zero bytes"));
	done(&r);
	free(im.p);
}
END_TEST

/*
 * The data length shortened by a bit flip: the record then ends inside the
 * next field, which gogoproto reports as an unexpected EOF, and etcd's
 * decoder passes that on as a torn write, sectors or not.
 */
START_TEST(record_field_cut_short_is_torn)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off, i;

	first_file(&im, &chain);
	entries(&im, 1, 10, 50);
	off = rec_entry(&im, 2, 11, 60);
	zeros(&im, 4096);
	/* type, crc, then the data key 0x1a and its 1-byte length */
	for (i = off + 8; im.p[i] != 0x1a; i++)
		;
	ck_assert_uint_lt(im.p[i + 1], 0x80);
	im.p[i + 1] -= 2;
	im.p[i + 1 + im.p[i + 1] + 1] = 0x32; /* field 6, bytes... */
	im.p[i + 1 + im.p[i + 1] + 2] = 0xff; /* ...length cut */
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(r.info.torn_tail);
	ck_assert_uint_eq(r.info.torn_offset, off);
	ck_assert(note(&r, "a field of the record runs past its end"));
	done(&r);
	free(im.p);
}
END_TEST

/*
 * The same cut-short field in the middle of the last file, with records
 * after it: etcd would truncate there and drop them.  Not a torn write.
 */
START_TEST(record_field_cut_short_mid_file)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off, i;

	first_file(&im, &chain);
	entries(&im, 1, 10, 50);
	off = rec_entry(&im, 2, 11, 60);
	entries(&im, 12, 20, 50);
	zeros(&im, 4096);
	for (i = off + 8; im.p[i] != 0x1a; i++)
		;
	im.p[i + 1] -= 2;
	im.p[i + 1 + im.p[i + 1] + 1] = 0x32;
	im.p[i + 1 + im.p[i + 1] + 2] = 0xff;
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "drop the records after it");
	ck_assert(!r.info.torn_tail);
	done(&r);
	free(im.p);
}
END_TEST

/* The same record with no zero sector: real damage. */
START_TEST(garbage_tail_not_torn)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 10, 50);
	off = rec_entry(&im, 2, 11, 1500);
	zeros(&im, 8192);
	im.p[off + 700] ^= 0xff;
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "not a torn write");
	ck_assert(!r.info.torn_tail);
	done(&r);
	free(im.p);
}
END_TEST

/* Non-zero bytes after the zero length word: etcd zero-fills them. */
START_TEST(garbage_after_end)
{
	struct img im;
	uint32_t chain;
	struct result r;

	good_wal(&im, &chain, 5, 20);
	zeros(&im, 4096);
	im.p[im.len - 1000] = 0x42;
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(note(&r, "non-zero bytes after the end of the records"));
	done(&r);
	free(im.p);
}
END_TEST

/* Padding that etcd never writes but reads anyway. */
START_TEST(odd_padding)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	off = wal_with_padded_entry(&im, &chain, 1, 7);
	entries(&im, 7, 8, 21);
	zeros(&im, 512);
	/* unused bits of the top byte set: ignored by etcd */
	im.p[off + 7] |= 0x40;
	/* a non-zero padding byte: not checked by etcd */
	im.p[off + 8 + span_of(&im, off) - 1] = 0x77;
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(note(&r, "etcd ignores the extra bits"));
	ck_assert(note(&r, "padding bytes of the record are not zero"));
	done(&r);
	free(im.p);
}
END_TEST

/*
 * A pad one too large misaligns what follows by a byte: the next length
 * word then takes the previous one's top byte as a length byte.  The word
 * itself is the evidence, since records follow it.
 */
START_TEST(bad_pad)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	off = wal_with_padded_entry(&im, &chain, 1, 6);
	entries(&im, 7, 8, 21);
	zeros(&im, 4096);
	im.p[off + 7] = (uint8_t)(0x80 | (pad_of(&im, off) + 1));
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "loses the records from offset");
	done(&r);
	free(im.p);
}
END_TEST

/*
 * A pad of 0 where etcd writes 7: etcd reads the next word 7 bytes early,
 * finds the zero padding in its low 56 bits and takes it for the end of the
 * records, silently dropping every record after it.  (The soak found it.)
 */
START_TEST(bad_pad_silent_end)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	off = wal_with_padded_entry(&im, &chain, 1, 6);
	entries(&im, 7, 8, 21);
	zeros(&im, 4096);
	im.p[off + 7] = 0x80;
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "loses the records from offset");
	done(&r);
	free(im.p);
}
END_TEST

/* The same on the very last record: etcd reads on to the zeros, accepts. */
START_TEST(bad_pad_last_record)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	off = wal_with_padded_entry(&im, &chain, 0, 7);
	zeros(&im, 4096);
	im.p[off + 7] = (uint8_t)(0x80 | (pad_of(&im, off) == 1 ? 2 : 1));
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(note(&r, "padding bytes for a"));
	done(&r);
	free(im.p);
}
END_TEST

/* A new leader's entries overwrite the tail: legitimate. */
START_TEST(overwritten_entries)
{
	struct img im;
	uint32_t chain;
	struct result r;

	first_file(&im, &chain);
	entries(&im, 1, 10, 20);
	entries(&im, 7, 12, 20);
	entries(&im, 3, 4, 20);
	entries(&im, 5, 5, 20);
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert_uint_eq(r.rep.total_notes, 0);
	ck_assert_uint_eq(r.info.last_index, 5);
	ck_assert_uint_eq(r.info.entry_gap_floor, 0);
	done(&r);
	free(im.p);
}
END_TEST

START_TEST(entry_gap)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	entries(&im, 1, 10, 20);
	off = rec_entry(&im, 2, 15, 20);
	rec_state(&im, 2, 0x1111, 15);
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "entry 15 follows entry 10");
	ck_assert_uint_eq(r.info.entry_gap_floor, 14);
	done(&r);
	free(im.p);
}
END_TEST

/* The first entry after snapshot{0,0} must be 1. */
START_TEST(first_entry_not_one)
{
	struct img im;
	uint32_t chain;
	struct result r;
	size_t off;

	first_file(&im, &chain);
	off = rec_entry(&im, 2, 3, 20);
	check_img(&im, &r);
	expect_corrupt_at(&r, off, "entry 3 follows entry 0");
	done(&r);
	free(im.p);
}
END_TEST

/* A follower installs the leader's snapshot at 100: the jump is covered
 * (etcd may even save the entries before the snapshot record). */
START_TEST(entry_gap_covered_by_snapshot)
{
	struct img im;
	uint32_t chain;
	struct result r;

	first_file(&im, &chain);
	entries(&im, 1, 10, 20);
	entries(&im, 101, 103, 20);
	rec_snap(&im, 100, 3);
	rec_state(&im, 3, 0x1111, 103);
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert(note(&r, "entry 101 follows entry 10"));
	ck_assert_uint_eq(r.info.entry_gap_floor, 100);
	ck_assert(!em_wal_can_open_at(&r.info, 0));
	ck_assert(em_wal_can_open_at(&r.info, 100));
	done(&r);
	free(im.p);
}
END_TEST

/* ... but not when the snapshot record is beyond the commit index. */
START_TEST(entry_gap_uncommitted_snapshot)
{
	struct img im;
	uint32_t chain;
	struct result r;

	first_file(&im, &chain);
	rec_state(&im, 2, 0x1111, 10);
	entries(&im, 1, 10, 20);
	rec_snap(&im, 100, 3);
	entries(&im, 101, 103, 20);
	check_img(&im, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(evidence(&r, "entry 101 follows entry 10"));
	done(&r);
	free(im.p);
}
END_TEST

/* A 3.5 snapshot record carries conf_state. */
START_TEST(snapshot_with_conf_state)
{
	struct img im;
	uint32_t chain;
	struct result r;
	struct msg cs = { .n = 0 }, s = { .n = 0 };
	uint8_t packed[] = { 0x01, 0x02, 0x03 };

	first_file(&im, &chain);
	entries(&im, 1, 5, 20);
	m_bytes(&cs, 1, packed, sizeof(packed));
	m_varint(&cs, 2, 9);
	m_varint(&cs, 5, 1);
	m_varint(&s, 1, 5);
	m_varint(&s, 2, 2);
	m_bytes(&s, 3, cs.b, cs.n);
	record(&im, 5, s.b, s.n);
	rec_state(&im, 2, 1, 5);
	check_img(&im, &r);
	expect_healthy(&r);
	ck_assert_uint_eq(r.info.n_snaps, 2);
	ck_assert_uint_eq(r.info.snaps[1].index, 5);
	done(&r);
	free(im.p);
}
END_TEST

/* Every single-byte change and truncation of a small WAL: no crash, no
 * overread (ASan), and never both a torn tail and evidence. */
START_TEST(mutations)
{
	struct img im;
	uint32_t chain;

	good_wal(&im, &chain, 4, 30);
	rec_snap(&im, 3, 2);
	zeros(&im, 64);
	for (size_t i = 0; i < im.len; i++) {
		for (int v = 0; v < 256; v += 51) {
			struct result r;
			struct img m = im;
			uint8_t *copy = malloc(im.len);

			memcpy(copy, im.p, im.len);
			copy[i] = (uint8_t)(copy[i] ^ (v | 1));
			m.p = copy;
			check_img(&m, &r);
			ck_assert(!r.info.torn_tail ||
			          r.info.torn_offset < im.len);
			done(&r);
			m.len = i;
			check_img(&m, &r);
			done(&r);
			free(copy);
		}
	}
	free(im.p);
}
END_TEST

/* ---- directories ------------------------------------------------------ */

static char *wal_name(uint64_t seq, uint64_t index)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%016llx-%016llx.wal",
	         (unsigned long long)seq, (unsigned long long)index);
	return buf;
}

enum {
	WITH_SNAP = 1,     /* a committed snapshot record at 45 in file 2 */
	JUNK_IN_0 = 2,     /* a record of unknown type in file 0 */
	OTHER_META_1 = 4,  /* file 1 has other metadata */
};

/*
 * A WAL of three files cut at entries 20 and 40, as etcd leaves it: the
 * older files truncated at their last record, the newest preallocated.
 * off[i] is the offset of a middle entry of file i (or of the odd record
 * flags ask for).
 */
static void three_files_with(struct img f[3], size_t off[3], int flags)
{
	uint32_t chain;

	first_file(&f[0], &chain);
	rec_state(&f[0], 2, 0x1111, 0);
	entries(&f[0], 1, 10, 40);
	off[0] = rec_entry(&f[0], 2, 11, 40);
	if (flags & JUNK_IN_0)
		off[0] = record(&f[0], 9, "junk", 4);
	entries(&f[0], 12, 20, 40);
	rec_state(&f[0], 2, 0x1111, 20);
	next_file(&f[1], &chain, 20);
	if (flags & OTHER_META_1)
		off[1] = rec_meta(&f[1], 0x1111, 0x9999);
	entries(&f[1], 21, 30, 40);
	if (!(flags & OTHER_META_1))
		off[1] = rec_entry(&f[1], 2, 31, 40);
	else
		rec_entry(&f[1], 2, 31, 40);
	entries(&f[1], 32, 40, 40);
	rec_state(&f[1], 2, 0x1111, 40);
	next_file(&f[2], &chain, 40);
	entries(&f[2], 41, 50, 40);
	off[2] = rec_entry(&f[2], 2, 51, 40);
	if (flags & WITH_SNAP)
		rec_snap(&f[2], 45, 2);
	rec_state(&f[2], 2, 0x1111, 51);
	zeros(&f[2], 16384);
}

static void three_files(struct img f[3], size_t off[3])
{
	three_files_with(f, off, 0);
}

static void write_three(const char *dir, struct img f[3], const bool skip[3])
{
	static const uint64_t first[3] = { 0, 21, 41 };

	for (int i = 0; i < 3; i++)
		if (!skip || !skip[i])
			tu_write_file(dir, wal_name((uint64_t)i, first[i]), f[i].p,
			           f[i].len);
}

static void free_three(struct img f[3])
{
	for (int i = 0; i < 3; i++)
		free(f[i].p);
}

static void check_dir(const char *dir, enum em_check_mode mode,
                      struct result *r)
{
	struct em_error err;

	em_report_init(&r->rep);
	r->st = em_wal_check_dir(dir, "member/wal", mode, &r->rep, &r->info,
	                         &err);
	ck_assert_int_eq(r->st, EM_OK);
}

START_TEST(dir_good)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;

	three_files(f, off);
	write_three(d, f, NULL);
	tu_write_file(d, "0.tmp", "", 0);
	check_dir(d, EM_CHECK_FULL, &r);
	expect_healthy(&r);
	ck_assert_uint_eq(r.info.n_files, 3);
	ck_assert_uint_eq(r.info.files[2].seq, 2);
	ck_assert_uint_eq(r.info.files[2].index, 41);
	ck_assert_uint_eq(r.info.files[2].size, f[2].len);
	ck_assert_uint_eq(r.info.last_index, 51);
	ck_assert_uint_eq(r.info.commit, 51);
	ck_assert(r.info.decoded_all);
	ck_assert(note(&r, "etcd ignores it"));
	ck_assert(em_wal_can_open_at(&r.info, 0));
	ck_assert(em_wal_can_open_at(&r.info, 45));
	done(&r);
	check_dir(d, EM_CHECK_SANITY, &r);
	expect_healthy(&r);
	ck_assert(!r.info.decoded_all);
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

START_TEST(dir_missing_or_empty)
{
	char *d = tu_tmpdir("test_wal");
	char path[600];
	struct result r;

	snprintf(path, sizeof(path), "%s/nope", d);
	check_dir(path, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_uint_eq(r.info.n_files, 0);
	ck_assert(!em_wal_can_open_at(&r.info, 0));
	done(&r);
	check_dir(d, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	ck_assert_uint_eq(r.info.n_files, 0);
	done(&r);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* The middle file cut short: not the last file, so not a torn write. */
START_TEST(dir_truncated_middle)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;

	three_files(f, off);
	f[1].len = off[1] + 20;
	write_three(d, f, NULL);
	check_dir(d, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert_str_eq(r.rep.evidence[0].file, "member/wal/"
	                 "0000000000000001-0000000000000015.wal");
	ck_assert_uint_eq(r.rep.evidence[0].at, off[1]);
	ck_assert(evidence(&r, "runs past the end of the file"));
	/* the missing records also break the chain at the next file */
	ck_assert(evidence(&r, "crc record breaks the chain") ||
	          r.rep.total_evidence == 1);
	ck_assert(!r.info.torn_tail);
	done(&r);
	/* sanity mode reads only the newest file's framing */
	check_dir(d, EM_CHECK_SANITY, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_HEALTHY);
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* A whole middle file missing: a gap in the sequence and a chain break. */
START_TEST(dir_missing_middle)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;
	const bool skip[3] = { false, true, false };

	three_files(f, off);
	write_three(d, f, skip);
	check_dir(d, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(evidence(&r, "sequence number 2 follows 0"));
	ck_assert(evidence(&r, "crc record breaks the chain"));
	done(&r);
	check_dir(d, EM_CHECK_SANITY, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(evidence(&r, "sequence number 2 follows 0"));
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* Older files purged: the first left starts a fresh decoder, fine. */
START_TEST(dir_purged)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;
	const bool skip[3] = { true, false, false };

	three_files(f, off);
	write_three(d, f, skip);
	check_dir(d, EM_CHECK_FULL, &r);
	expect_healthy(&r);
	ck_assert(!em_wal_can_open_at(&r.info, 20));
	ck_assert(em_wal_can_open_at(&r.info, 21));
	ck_assert(em_wal_can_open_at(&r.info, 45));
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* Damage in an older file is evidence even when a zero sector is in it. */
START_TEST(dir_zero_sector_in_older_file)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;

	three_files(f, off);
	memset(f[0].p + off[0] + 8, 0, span_of(&f[0], off[0]));
	write_three(d, f, NULL);
	check_dir(d, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert_uint_eq(r.rep.evidence[0].at, off[0]);
	ck_assert(!r.info.torn_tail);
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* Torn tail of the newest file in a multi-file WAL: a note. */
START_TEST(dir_torn_newest)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;

	three_files(f, off);
	memset(f[2].p + off[2] + 8, 0, span_of(&f[2], off[2]));
	write_three(d, f, NULL);
	check_dir(d, EM_CHECK_FULL, &r);
	expect_healthy(&r);
	ck_assert(r.info.torn_tail);
	ck_assert_uint_eq(r.info.torn_offset, off[2]);
	ck_assert_uint_eq(r.info.last_index, 50);
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

START_TEST(dir_sanity_framing)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;

	three_files(f, off);
	f[2].p[off[2] + 6] = 0x7f; /* a garbage length word */
	write_three(d, f, NULL);
	check_dir(d, EM_CHECK_SANITY, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert_uint_eq(r.rep.evidence[0].at, off[2]);
	ck_assert_str_eq(r.rep.evidence[0].file, "member/wal/"
	                 "0000000000000002-0000000000000029.wal");
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

START_TEST(dir_names)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;
	char sub[600];

	three_files(f, off);
	write_three(d, f, NULL);
	tu_write_file(d, "0000000000000002-0000000000000029.wal.broken", "x", 1);
	tu_write_file(d, "junk", "x", 1);
	/* a directory with a WAL name: etcd cannot read it */
	snprintf(sub, sizeof(sub), "%s/%s", d, wal_name(3, 60));
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	check_dir(d, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(evidence(&r, "not a regular file"));
	ck_assert(note(&r, "left by etcd's repair"));
	ck_assert(note(&r, "not a WAL file name"));
	ck_assert_uint_eq(r.info.n_files, 3);
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* Sequence numbers duplicated and first indexes going down. */
START_TEST(dir_bad_order)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;

	three_files(f, off);
	tu_write_file(d, wal_name(0, 0), f[0].p, f[0].len);
	tu_write_file(d, wal_name(1, 21), f[1].p, f[1].len);
	tu_write_file(d, wal_name(2, 5), f[2].p, f[2].len);
	check_dir(d, EM_CHECK_SANITY, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
	ck_assert(evidence(&r, "is below the previous file's"));
	done(&r);
	tu_rmdir(d);
	free(d);
	d = tu_tmpdir("test_wal");
	tu_write_file(d, wal_name(1, 0), f[0].p, f[0].len);
	tu_write_file(d, wal_name(1, 21), f[1].p, f[1].len);
	tu_write_file(d, wal_name(2, 41), f[2].p, f[2].len);
	check_dir(d, EM_CHECK_SANITY, &r);
	ck_assert(evidence(&r, "sequence number 1 follows 1"));
	ck_assert(!em_wal_can_open_at(&r.info, 0));
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

/*
 * Records only wal.ReadAll refuses, in a file before the one it starts
 * from: etcd never trips over them unless it must fall back to an older
 * snapshot, which em_wal_can_open_at tells.
 */
START_TEST(dir_replay_only_damage)
{
	static const int kinds[] = { JUNK_IN_0, OTHER_META_1 };

	for (size_t k = 0; k < 2; k++) {
		char *d = tu_tmpdir("test_wal");
		struct img f[3];
		size_t off[3];
		struct result r;
		char why[200];

		/* no snapshot: ReadAll reads every file and fails */
		three_files_with(f, off, kinds[k]);
		write_three(d, f, NULL);
		check_dir(d, EM_CHECK_FULL, &r);
		ck_assert_int_eq(r.rep.verdict, EM_VERDICT_CORRUPT);
		ck_assert_uint_eq(r.rep.evidence[0].at, off[k]);
		done(&r);
		free_three(f);
		/* a snapshot at 45: ReadAll starts at file 2 */
		three_files_with(f, off, kinds[k] | WITH_SNAP);
		write_three(d, f, NULL);
		check_dir(d, EM_CHECK_FULL, &r);
		expect_healthy(&r);
		ck_assert(note(&r, "falls back to an older snapshot"));
		ck_assert(r.info.replay_damage);
		ck_assert_uint_eq(r.info.replay_damage_file, k);
		ck_assert(em_wal_can_open_at(&r.info, 45));
		ck_assert(!em_wal_check_open_at(&r.info, 20, why, sizeof(why)));
		ck_assert_ptr_nonnull(strstr(why, "refuses"));
		done(&r);
		free_three(f);
		tu_rmdir(d);
		free(d);
	}
}
END_TEST

START_TEST(dir_unreadable)
{
	char *d = tu_tmpdir("test_wal");
	struct img f[3];
	size_t off[3];
	struct result r;
	char path[600];

	if (geteuid() == 0) {
		/* root reads mode-000 files: nothing to test */
		tu_rmdir(d);
		free(d);
		return;
	}
	three_files(f, off);
	write_three(d, f, NULL);
	snprintf(path, sizeof(path), "%s/%s", d, wal_name(1, 21));
	ck_assert_int_eq(chmod(path, 0), 0);
	check_dir(d, EM_CHECK_FULL, &r);
	ck_assert_int_eq(r.rep.verdict, EM_VERDICT_UNREADABLE);
	done(&r);
	free_three(f);
	tu_rmdir(d);
	free(d);
}
END_TEST

/* can_open_at on its own, as selectWALFiles and isValidSeq decide. */
START_TEST(can_open_at)
{
	struct em_wal_file files[4] = {
		{ .seq = 5, .index = 100 },
		{ .seq = 6, .index = 200 },
		{ .seq = 8, .index = 300 },
		{ .seq = 9, .index = 400 },
	};
	struct em_wal_info info = { .files = files, .n_files = 4 };

	char why[200];

	ck_assert(!em_wal_can_open_at(&info, 99));
	ck_assert(!em_wal_check_open_at(&info, 99, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "wal: file not found"));
	ck_assert(!em_wal_can_open_at(&info, 100)); /* 6 -> 8 ahead */
	ck_assert(!em_wal_check_open_at(&info, 100, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "contiguous"));
	ck_assert(!em_wal_can_open_at(&info, 299));
	ck_assert(em_wal_can_open_at(&info, 300));
	ck_assert(em_wal_can_open_at(&info, 1000));
	info.entry_gap_floor = 350;
	ck_assert(!em_wal_can_open_at(&info, 300));
	ck_assert(!em_wal_check_open_at(&info, 300, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "slice bounds out of range"));
	ck_assert(em_wal_can_open_at(&info, 350));
	/* raft: the commit must lie within [snapshot, last index] */
	info.entry_gap_floor = 0;
	info.decoded_all = true;
	info.have_state = true;
	info.term = 2;
	info.commit = 500;
	info.last_index = 450;
	ck_assert(!em_wal_check_open_at(&info, 400, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "commit 500"));
	ck_assert(em_wal_can_open_at(&info, 500)); /* the snapshot is last */
	info.commit = 450;
	ck_assert(em_wal_can_open_at(&info, 400));
	ck_assert(!em_wal_can_open_at(&info, 460));
	info.decoded_all = false;
	files[0].seq = 0; /* etcd's isValidSeq skips the check after 0 */
	files[1].seq = 7;
	info.entry_gap_floor = 0;
	ck_assert(em_wal_can_open_at(&info, 100));
	ck_assert(!em_wal_can_open_at(NULL, 1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal");
	TCase *t = tcase_create("image");
	TCase *d = tcase_create("dir");

	tcase_add_test(t, good);
	tcase_add_test(t, good_no_zeros);
	tcase_add_test(t, empty_image);
	tcase_add_test(t, bad_crc);
	tcase_add_test(t, bad_crc_field);
	tcase_add_test(t, crc_record_breaks_chain);
	tcase_add_test(t, unknown_type);
	tcase_add_test(t, conflicting_metadata);
	tcase_add_test(t, malformed_payload);
	tcase_add_test(t, huge_length);
	tcase_add_test(t, oversized_record);
	tcase_add_test(t, short_record_at_eof_is_torn);
	tcase_add_test(t, partial_length_word_is_torn);
	tcase_add_test(t, torn_tail_zero_sector);
	tcase_add_test(t, torn_tail_then_garbage);
	tcase_add_test(t, garbage_tail_not_torn);
	tcase_add_test(t, record_field_cut_short_is_torn);
	tcase_add_test(t, record_field_cut_short_mid_file);
	tcase_add_test(t, garbage_after_end);
	tcase_add_test(t, odd_padding);
	tcase_add_test(t, bad_pad);
	tcase_add_test(t, bad_pad_silent_end);
	tcase_add_test(t, bad_pad_last_record);
	tcase_add_test(t, overwritten_entries);
	tcase_add_test(t, entry_gap);
	tcase_add_test(t, first_entry_not_one);
	tcase_add_test(t, entry_gap_covered_by_snapshot);
	tcase_add_test(t, entry_gap_uncommitted_snapshot);
	tcase_add_test(t, snapshot_with_conf_state);
	tcase_add_test(t, mutations);
	tcase_set_timeout(t, 120);
	tcase_add_test(d, dir_good);
	tcase_add_test(d, dir_missing_or_empty);
	tcase_add_test(d, dir_truncated_middle);
	tcase_add_test(d, dir_missing_middle);
	tcase_add_test(d, dir_purged);
	tcase_add_test(d, dir_zero_sector_in_older_file);
	tcase_add_test(d, dir_torn_newest);
	tcase_add_test(d, dir_sanity_framing);
	tcase_add_test(d, dir_names);
	tcase_add_test(d, dir_bad_order);
	tcase_add_test(d, dir_replay_only_damage);
	tcase_add_test(d, dir_unreadable);
	tcase_add_test(d, can_open_at);
	suite_add_tcase(s, t);
	suite_add_tcase(s, d);
	return tu_run(s);
}
