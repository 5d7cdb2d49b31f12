/*
 * test_schedule.c - interval and cron slots (schedule.h).
 */
#include <check.h>
#include <stdlib.h>

#include "etcd-medic/schedule.h"

/* 2026-11-23 08:21:07 UTC, a Monday. */
#define T0 1795422067LL

START_TEST(interval_aligned)
{
	struct em_schedule s;

	em_schedule_interval(&s, 3600);
	ck_assert_int_eq(em_schedule_next(&s, T0), 1795424400LL);
	ck_assert_int_eq(em_schedule_prev(&s, T0), 1795420800LL);
	ck_assert_int_eq(em_schedule_next(&s, 1795420800LL), 1795424400LL);
	ck_assert_int_eq(em_schedule_prev(&s, 1795420800LL), 1795420800LL);
}
END_TEST

START_TEST(cron_fields)
{
	struct em_schedule s;
	struct em_error err;

	ck_assert_int_eq(em_schedule_cron(&s, "*/15 * * * *", &err), EM_OK);
	ck_assert_int_eq(em_schedule_next(&s, T0), T0 - 67 + 10 * 60);
	ck_assert_int_eq(em_schedule_prev(&s, T0), T0 - 67 - 5 * 60);
	ck_assert_int_eq(em_schedule_cron(&s, "@daily", &err), EM_OK);
	ck_assert_int_eq(em_schedule_next(&s, T0), 1795478400LL);
	/* Sunday 03:30: 2026-11-29. */
	ck_assert_int_eq(em_schedule_cron(&s, "30 3 * * 7", &err), EM_OK);
	ck_assert_int_eq(em_schedule_next(&s, T0), 1795923000LL);
	/* Either day field matches when both are restricted. */
	ck_assert_int_eq(em_schedule_cron(&s, "0 0 1 * 2", &err), EM_OK);
	ck_assert_int_eq(em_schedule_next(&s, T0), 1795478400LL);
	ck_assert_int_eq(em_schedule_next(&s, 1795478400LL), 1795478400LL + 7 * 86400);
	ck_assert_int_eq(em_schedule_cron(&s, "0 0 31 2 *", &err), EM_OK);
	ck_assert_int_eq(em_schedule_next(&s, T0), 0);
}
END_TEST

START_TEST(cron_errors)
{
	static const char *const bad[] = {
		"* * * *", "* * * * * *", "60 * * * *", "* 24 * * *",
		"* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *",
		"5-1 * * * *", "a * * * *", "1,,2 * * * *", "@often", "",
	};
	struct em_schedule s;
	struct em_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(em_schedule_cron(&s, bad[i], &err) != EM_OK,
		              "'%s' accepted", bad[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("schedule");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, interval_aligned);
	tcase_add_test(tc, cron_fields);
	tcase_add_test(tc, cron_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
