/*
 * test_crc32c.c - CRC-32C against published vectors, a bit-at-a-time
 * reference (which checks the constant table and the SSE4.2 path), and the
 * chaining etcd relies on across WAL records.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/crc32c.h"

#include "testutil.h"

/* The definition: reflected polynomial 0x82F63B78, one bit at a time. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;

	while (len-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

START_TEST(vectors)
{
	uint8_t buf[32];

	ck_assert_uint_eq(em_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(em_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(em_crc32c(0, "", 0), 0);
	ck_assert_uint_eq(em_crc32c(0x1234, NULL, 0), 0x1234);
	/* RFC 3720 (iSCSI) B.4 */
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(em_crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(em_crc32c(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(em_crc32c(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(em_crc32c(0, buf, 32), 0x113FDB5Cu);
}
END_TEST

START_TEST(chaining)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);

	for (size_t cut = 0; cut <= n; cut++) {
		uint32_t a = em_crc32c(em_crc32c(0, s, cut), s + cut, n - cut);

		ck_assert_uint_eq(a, em_crc32c(0, s, n));
	}
	ck_assert_uint_eq(em_crc32c(0, s, n), 0x22620404u);
}
END_TEST

/* Every length and alignment up to 64, then long random buffers. */
START_TEST(against_reference)
{
	uint8_t buf[4096 + 16];
	uint32_t seed = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 64; len++) {
			uint32_t want = crc_bitwise(0xdeadbeef, buf + off, len);

			ck_assert_uint_eq(em_crc32c(0xdeadbeef, buf + off, len),
			                  want);
			ck_assert_uint_eq(em_crc32c_sw(0xdeadbeef, buf + off,
			                               len), want);
		}
	}
	ck_assert_uint_eq(em_crc32c(7, buf + 3, 4096),
	                  crc_bitwise(7, buf + 3, 4096));
	ck_assert_uint_eq(em_crc32c_sw(7, buf + 3, 4096),
	                  crc_bitwise(7, buf + 3, 4096));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *t = tcase_create("core");

	tcase_add_test(t, vectors);
	tcase_add_test(t, chaining);
	tcase_add_test(t, against_reference);
	suite_add_tcase(s, t);
	return tu_run(s);
}
