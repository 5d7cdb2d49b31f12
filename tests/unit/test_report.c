/*
 * test_report.c - unit tests of the bounded findings report.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/report.h"

#include "testutil.h"

START_TEST(precedence)
{
	struct em_report r;

	em_report_init(&r);
	ck_assert_int_eq(r.verdict, EM_VERDICT_HEALTHY);
	em_report_note(&r, "f", EM_AT_FILE, 0, "just a note");
	ck_assert_int_eq(r.verdict, EM_VERDICT_HEALTHY);
	em_report_raise(&r, EM_VERDICT_EMPTY);
	em_report_corrupt(&r, "f", EM_AT_PAGE, 7, "bad page %d", 7);
	ck_assert_int_eq(r.verdict, EM_VERDICT_CORRUPT);
	/* an unreadable file means we could not judge: never corrupt */
	em_report_block(&r, EM_VERDICT_UNREADABLE, "g", "EIO");
	ck_assert_int_eq(r.verdict, EM_VERDICT_UNREADABLE);
	em_report_block(&r, EM_VERDICT_IN_USE, "db", "locked");
	ck_assert_int_eq(r.verdict, EM_VERDICT_IN_USE);
	em_report_raise(&r, EM_VERDICT_CORRUPT);
	ck_assert_int_eq(r.verdict, EM_VERDICT_IN_USE);
	ck_assert_str_eq(r.evidence[0].text, "bad page 7");
	ck_assert_uint_eq(r.evidence[0].at, 7);
	em_report_free(&r);
}
END_TEST

START_TEST(bounded)
{
	struct em_report r;

	em_report_init(&r);
	for (int i = 0; i < 10000; i++)
		em_report_corrupt(&r, "f", EM_AT_OFFSET, (uint64_t)i, "x%d", i);
	ck_assert_uint_eq(r.n_evidence, EM_REPORT_KEEP);
	ck_assert_uint_eq(r.total_evidence, 10000);
	ck_assert_str_eq(r.evidence[EM_REPORT_KEEP - 1].text, "x63");
	em_report_free(&r);
}
END_TEST

START_TEST(long_text_truncated)
{
	struct em_report r;
	char big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	em_report_init(&r);
	em_report_corrupt(&r, big, EM_AT_FILE, 0, "%s", big);
	ck_assert_uint_eq(strlen(r.evidence[0].text), EM_FINDING_TEXT_MAX - 1);
	ck_assert_uint_eq(strlen(r.evidence[0].file), EM_FINDING_FILE_MAX - 1);
	em_report_free(&r);
}
END_TEST

START_TEST(exit_codes)
{
	ck_assert_int_eq(em_verdict_exit_code(EM_VERDICT_HEALTHY), 0);
	ck_assert_int_eq(em_verdict_exit_code(EM_VERDICT_CORRUPT), 1);
	ck_assert_int_eq(em_verdict_exit_code(EM_VERDICT_EMPTY), 3);
	ck_assert_int_eq(em_verdict_exit_code(EM_VERDICT_IN_USE), 4);
	ck_assert_int_eq(em_verdict_exit_code(EM_VERDICT_UNREADABLE), 5);
	ck_assert_str_eq(em_verdict_name(EM_VERDICT_IN_USE), "in-use");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report");
	TCase *t = tcase_create("core");

	tcase_add_test(t, precedence);
	tcase_add_test(t, bounded);
	tcase_add_test(t, long_text_truncated);
	tcase_add_test(t, exit_codes);
	suite_add_tcase(s, t);
	return tu_run(s);
}
