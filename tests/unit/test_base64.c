/*
 * test_base64.c - the base64 of etcd's gateway: RFC 4648's vectors, every
 * length and byte value round trip, and the damage a decoder must refuse
 * (wrong length, bad padding, characters outside the alphabet).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/base64.h"

#include "testutil.h"

static const char *const rfc[][2] = {   /* RFC 4648, section 10 */
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

START_TEST(vectors)
{
	char enc[16];
	uint8_t dec[16];
	size_t n;

	for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		size_t len = strlen(rfc[i][0]);

		memset(enc, 'x', sizeof(enc));
		ck_assert(em_b64_encode(enc, (const uint8_t *)rfc[i][0], len));
		ck_assert_str_eq(enc, rfc[i][1]);
		ck_assert_uint_eq(strlen(enc), EM_B64_ENCODED_LEN(len));
		ck_assert(em_b64_decode(dec, &n, rfc[i][1], strlen(rfc[i][1])));
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(dec, rfc[i][0], len);
	}
	/* The other alphabet positions, 62 and 63, and a NUL byte. */
	ck_assert(em_b64_encode(enc, (const uint8_t *)"\xfb\xff\x00", 3));
	ck_assert_str_eq(enc, "+/8A");
}
END_TEST

START_TEST(round_trip)
{
	uint8_t src[300], dec[300];
	char enc[EM_B64_ENCODED_LEN(300) + 1];
	size_t n;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(src); len++) {
		ck_assert(em_b64_encode(enc, src, len));
		ck_assert(em_b64_decode(dec, &n, enc, strlen(enc)));
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(dec, src, len);
	}
}
END_TEST

START_TEST(refused)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z", "Zm9vY", "Zg===", "Z===", "====", "Zg=a",
		"Zm9=Yg==", "Zm9v!mFy", "Zm9v-mFy", "Zm9v_mFy", "Zm9vYmF\x80",
		"=Zm9", "Z=g=",
	};
	uint8_t dec[16];
	size_t n;

	ck_assert(!em_b64_encode(NULL, NULL, EM_B64_ENCODE_MAX + 1));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!em_b64_decode(dec, &n, bad[i], strlen(bad[i])),
		              "accepted \"%s\"", bad[i]);
	/* A NUL inside is a character like any other, not the end. */
	ck_assert(!em_b64_decode(dec, &n, "Zm9v\0mFy", 8));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("base64");
	TCase *t = tcase_create("core");

	tcase_add_test(t, vectors);
	tcase_add_test(t, round_trip);
	tcase_add_test(t, refused);
	suite_add_tcase(s, t);
	return tu_run(s);
}
