/*
 * test_protowire.c - the bounds-checked protobuf reader: every wire type,
 * gogoproto's edge cases (10-byte varints, int32 field numbers), and that
 * truncated or hostile input is refused without reading past the end.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/protowire.h"

#include "testutil.h"

/* Copies the bytes to a heap block of exactly their size, so that ASan
 * catches any read past the end. */
static uint8_t *exact(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	if (len)
		memcpy(p, src, len);
	return p;
}

static int next_of(const uint8_t *src, size_t len, struct em_pb_field *f)
{
	struct em_pb_reader r;
	uint8_t *p = exact(src, len);
	int rc;

	em_pb_init(&r, p, len);
	rc = em_pb_next(&r, f);
	free(p);
	return rc;
}

START_TEST(all_wire_types)
{
	static const uint8_t msg[] = {
		0x08, 0x96, 0x01,                    /* 1: varint 150 */
		0x11, 1, 2, 3, 4, 5, 6, 7, 8,        /* 2: fixed64 */
		0x1a, 0x03, 'a', 'b', 'c',           /* 3: bytes "abc" */
		0x25, 0x78, 0x56, 0x34, 0x12,        /* 4: fixed32 */
	};
	uint8_t *p = exact(msg, sizeof(msg));
	struct em_pb_reader r;
	struct em_pb_field f;

	em_pb_init(&r, p, sizeof(msg));
	ck_assert_int_eq(em_pb_next(&r, &f), 1);
	ck_assert_uint_eq(f.number, 1);
	ck_assert_int_eq(f.type, EM_PB_VARINT);
	ck_assert_uint_eq(f.u64, 150);
	ck_assert_int_eq(em_pb_next(&r, &f), 1);
	ck_assert_uint_eq(f.number, 2);
	ck_assert_int_eq(f.type, EM_PB_FIXED64);
	ck_assert_uint_eq(f.u64, 0x0807060504030201ull);
	ck_assert_int_eq(em_pb_next(&r, &f), 1);
	ck_assert_uint_eq(f.number, 3);
	ck_assert_int_eq(f.type, EM_PB_BYTES);
	ck_assert_uint_eq(f.len, 3);
	ck_assert_int_eq(memcmp(f.bytes, "abc", 3), 0);
	ck_assert_int_eq(em_pb_next(&r, &f), 1);
	ck_assert_uint_eq(f.number, 4);
	ck_assert_int_eq(f.type, EM_PB_FIXED32);
	ck_assert_uint_eq(f.u64, 0x12345678);
	ck_assert_int_eq(em_pb_next(&r, &f), 0);
	ck_assert_int_eq(em_pb_next(&r, &f), 0);
	free(p);
}
END_TEST

START_TEST(empty)
{
	struct em_pb_reader r;
	struct em_pb_field f;

	em_pb_init(&r, NULL, 0);
	ck_assert_int_eq(em_pb_next(&r, &f), 0);
	ck_assert_int_eq(next_of((const uint8_t *)"", 0, &f), 0);
}
END_TEST

START_TEST(varint_limits)
{
	/* 10 bytes: accepted; the 10th byte's high bits are dropped */
	static const uint8_t ten[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0x7f };
	static const uint8_t eleven[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                  0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t cut[] = { 0x08, 0x96 };
	struct em_pb_field f;

	ck_assert_int_eq(next_of(ten, sizeof(ten), &f), 1);
	ck_assert_uint_eq(f.u64, UINT64_MAX);
	ck_assert_int_eq(next_of(eleven, sizeof(eleven), &f), -1);
	ck_assert_int_eq(next_of(cut, sizeof(cut), &f), -1);
}
END_TEST

START_TEST(bad_keys)
{
	static const uint8_t zero[] = { 0x00, 0x01 };           /* field 0 */
	static const uint8_t group[] = { 0x0b, 0x0c };     /* start group */
	static const uint8_t endgrp[] = { 0x0c };
	static const uint8_t wt6[] = { 0x0e, 0x00 };
	static const uint8_t wt7[] = { 0x0f, 0x00 };
	/* field number 2^31: negative as int32, refused like gogoproto */
	static const uint8_t neg[] = { 0x80, 0x80, 0x80, 0x80, 0x40, 0x00 };
	/* field number 2^32 + 1: int32 truncation gives 1 */
	static const uint8_t wrap[] = { 0x88, 0x80, 0x80, 0x80, 0x80, 0x02,
	                                0x05 };
	struct em_pb_field f;

	ck_assert_int_eq(next_of(zero, sizeof(zero), &f), -1);
	ck_assert_int_eq(next_of(group, sizeof(group), &f), -1);
	ck_assert_int_eq(next_of(endgrp, sizeof(endgrp), &f), -1);
	ck_assert_int_eq(next_of(wt6, sizeof(wt6), &f), -1);
	ck_assert_int_eq(next_of(wt7, sizeof(wt7), &f), -1);
	ck_assert_int_eq(next_of(neg, sizeof(neg), &f), -1);
	ck_assert_int_eq(next_of(wrap, sizeof(wrap), &f), 1);
	ck_assert_uint_eq(f.number, 1);
	ck_assert_uint_eq(f.u64, 5);
}
END_TEST

START_TEST(truncated_values)
{
	static const uint8_t f64[] = { 0x09, 1, 2, 3, 4, 5, 6, 7 };
	static const uint8_t f32[] = { 0x0d, 1, 2, 3 };
	static const uint8_t bytes[] = { 0x0a, 0x05, 'a', 'b' };
	/* a length of 2^63 - 1 must not overflow the bounds check */
	static const uint8_t huge[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                0xff, 0xff, 0xff, 0x7f, 'a' };
	static const uint8_t huge2[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                 0xff, 0xff, 0xff, 0xff, 0x01, 'a' };
	struct em_pb_field f;

	ck_assert_int_eq(next_of(f64, sizeof(f64), &f), -1);
	ck_assert_int_eq(next_of(f32, sizeof(f32), &f), -1);
	ck_assert_int_eq(next_of(bytes, sizeof(bytes), &f), -1);
	ck_assert_int_eq(next_of(huge, sizeof(huge), &f), -1);
	ck_assert_int_eq(next_of(huge2, sizeof(huge2), &f), -1);
}
END_TEST

START_TEST(error_leaves_position)
{
	static const uint8_t msg[] = { 0x08, 0x01, 0x12, 0x09, 'x' };
	struct em_pb_reader r;
	struct em_pb_field f;
	uint8_t *p = exact(msg, sizeof(msg));

	em_pb_init(&r, p, sizeof(msg));
	ck_assert_int_eq(em_pb_next(&r, &f), 1);
	ck_assert_int_eq(em_pb_next(&r, &f), -1);
	ck_assert_ptr_eq(r.p, p + 2);
	free(p);
}
END_TEST

START_TEST(simple_messages)
{
	/* field 1 twice (last wins), an unknown field 9, bytes field 3 */
	static const uint8_t msg[] = { 0x08, 0x01, 0x4a, 0x01, 'z', 0x08, 0x02,
	                               0x1a, 0x02, 'h', 'i' };
	static const uint8_t wrongtype[] = { 0x08, 0x01, 0x1d, 1, 2, 3, 4 };
	struct em_pb_simple m;
	size_t bad = 99;
	uint8_t *p = exact(msg, sizeof(msg));

	ck_assert_int_eq(em_pb_decode_simple(p, sizeof(msg), 1u << 1,
	                                     1u << 3, &m, &bad), 0);
	ck_assert_uint_eq(m.u64[1], 2);
	ck_assert_uint_eq(m.len[3], 2);
	ck_assert_int_eq(memcmp(m.bytes[3], "hi", 2), 0);
	ck_assert_uint_eq(m.seen, (1u << 1) | (1u << 3));
	free(p);
	p = exact(wrongtype, sizeof(wrongtype));
	ck_assert_int_eq(em_pb_decode_simple(p, sizeof(wrongtype), 1u << 1,
	                                     1u << 3, &m, &bad), -1);
	ck_assert_uint_eq(bad, 2);
	/* undeclared, field 3 may have any type */
	ck_assert_int_eq(em_pb_decode_simple(p, sizeof(wrongtype), 1u << 1,
	                                     0, &m, &bad), 0);
	free(p);
	ck_assert_int_eq(em_pb_decode_simple(NULL, 0, 2, 0, &m, &bad), 0);
	ck_assert_uint_eq(m.seen, 0);
}
END_TEST

/* Which failures are the input ending inside a field (gogoproto's
 * io.ErrUnexpectedEOF, a torn write to etcd) and which are invalid. */
START_TEST(truncated_flag)
{
	static const struct {
		uint8_t b[12];
		size_t n;
		bool cut;
	} cases[] = {
		{ { 0x08, 0x96 }, 2, true },                   /* varint */
		{ { 0x09, 1, 2 }, 3, true },                   /* fixed64 */
		{ { 0x0d, 1 }, 2, true },                      /* fixed32 */
		{ { 0x0a, 0x05, 'a' }, 3, true },              /* bytes */
		{ { 0x0a }, 1, true },                         /* no length */
		{ { 0x88 }, 1, true },                         /* key */
		{ { 0x00, 0x01 }, 2, false },                  /* field 0 */
		{ { 0x0b, 0x00 }, 2, false },                  /* group */
		{ { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0x01 }, 12, false },           /* 11 bytes */
		/* a length negative as a Go int */
		{ { 0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		    0x80, 0x01 }, 11, false },
	};
	struct em_pb_simple m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *p = exact(cases[i].b, cases[i].n);
		struct em_pb_reader r;
		struct em_pb_field f;

		em_pb_init(&r, p, cases[i].n);
		ck_assert_int_eq(em_pb_next(&r, &f), -1);
		ck_assert_msg(r.truncated == cases[i].cut, "case %zu", i);
		ck_assert_int_eq(em_pb_decode_simple(p, cases[i].n, 0, 0, &m,
		                                     NULL),
		                 cases[i].cut ? -2 : -1);
		free(p);
	}
}
END_TEST

/* A declared field's type is checked before its value is read. */
START_TEST(wrong_type_before_value)
{
	static const uint8_t msg[] = { 0x0a, 0x7f, 'x' }; /* 1 as bytes */
	struct em_pb_simple m;
	size_t bad = 9;

	ck_assert_int_eq(em_pb_decode_simple(msg, sizeof(msg), 1u << 1, 0, &m,
	                                     &bad), -1);
	ck_assert_uint_eq(bad, 0);
	ck_assert_int_eq(em_pb_decode_simple(msg, sizeof(msg), 0, 1u << 1, &m,
	                                     &bad), -2);
}
END_TEST

START_TEST(packed)
{
	static const uint8_t ok[] = { 0x01, 0x96, 0x01, 0x00 };
	static const uint8_t cut[] = { 0x01, 0x96 };

	ck_assert(em_pb_packed_varints_ok(ok, sizeof(ok)));
	ck_assert(!em_pb_packed_varints_ok(cut, sizeof(cut)));
	ck_assert(em_pb_packed_varints_ok(NULL, 0));
}
END_TEST

/* Every prefix of every single-byte mutation: never a crash, never a read
 * out of bounds (ASan), always a definite answer. */
START_TEST(mutations)
{
	static const uint8_t msg[] = { 0x08, 0x96, 0x01, 0x11, 1, 2, 3, 4, 5,
	                               6, 7, 8, 0x1a, 0x03, 'a', 'b', 'c',
	                               0x25, 1, 2, 3, 4 };
	uint8_t m[sizeof(msg)];

	for (size_t i = 0; i < sizeof(msg); i++) {
		for (int v = 0; v < 256; v += 7) {
			memcpy(m, msg, sizeof(msg));
			m[i] = (uint8_t)v;
			for (size_t len = 0; len <= sizeof(m); len++) {
				uint8_t *p = exact(m, len);
				struct em_pb_reader r;
				struct em_pb_field f;
				int rc, n = 0;

				em_pb_init(&r, p, len);
				while ((rc = em_pb_next(&r, &f)) == 1)
					ck_assert_int_lt(++n, 100);
				ck_assert(r.p >= p && r.p <= p + len);
				free(p);
			}
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("protowire");
	TCase *t = tcase_create("core");

	tcase_add_test(t, all_wire_types);
	tcase_add_test(t, empty);
	tcase_add_test(t, varint_limits);
	tcase_add_test(t, bad_keys);
	tcase_add_test(t, truncated_values);
	tcase_add_test(t, error_leaves_position);
	tcase_add_test(t, simple_messages);
	tcase_add_test(t, packed);
	tcase_add_test(t, truncated_flag);
	tcase_add_test(t, wrong_type_before_value);
	tcase_add_test(t, mutations);
	suite_add_tcase(s, t);
	return tu_run(s);
}
