/*
 * test_journal.c - unit tests of the heal journal: durable round trips,
 * and a journal that is not ours is refused, never guessed at.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/heal/heal_internal.h"

#include "testutil.h"

static struct journal sample(void)
{
	struct journal j;

	memset(&j, 0, sizeof(j));
	j.step = EM_STEP_QUARANTINED;
	j.doing = EM_STEP_ADDED;
	j.verdict = EM_VERDICT_CORRUPT;
	snprintf(j.member, sizeof(j.member), "etcd-1");
	snprintf(j.peer_url, sizeof(j.peer_url), "https://etcd-1.etcd:2380");
	j.cluster_id = 0xfedcba9876543210ull;
	j.old_id = 0x8e9e05c52164694dull;   /* above 2^53: JSON doubles lose it */
	j.new_id = 0;
	j.lease = 7587862114582291210LL;
	snprintf(j.token, sizeof(j.token), "etcd-1@1700000000");
	snprintf(j.quarantine, sizeof(j.quarantine),
	         "/var/lib/etcd/data.quarantine.20261123T080000Z");
	j.started = 1700000000;
	return j;
}

START_TEST(round_trip)
{
	char *d = tu_tmpdir("test_journal");
	char path[600];
	struct journal j = sample(), k;
	struct em_error err;
	struct stat sb;
	bool found;

	snprintf(path, sizeof(path), "%s/data.etcd-medic.journal", d);
	ck_assert_int_eq(journal_load(path, &k, &found, &err), EM_OK);
	ck_assert(!found);
	ck_assert_int_eq(journal_save(path, &j, &err), EM_OK);
	ck_assert_int_eq(journal_load(path, &k, &found, &err), EM_OK);
	ck_assert(found);
	ck_assert_int_eq(k.step, j.step);
	ck_assert_int_eq(k.doing, j.doing);
	ck_assert_int_eq(k.verdict, j.verdict);
	ck_assert_str_eq(k.member, j.member);
	ck_assert_str_eq(k.peer_url, j.peer_url);
	ck_assert(k.cluster_id == j.cluster_id);
	ck_assert(k.old_id == j.old_id);
	ck_assert(k.lease == j.lease);
	ck_assert_str_eq(k.token, j.token);
	ck_assert_str_eq(k.quarantine, j.quarantine);
	ck_assert_int_eq(k.started, j.started);
	ck_assert_int_ge(k.updated, k.started);
	/* no temp file is left behind, and only the owner reads it */
	snprintf(path + strlen(path), 8, ".tmp");
	ck_assert_int_ne(stat(path, &sb), 0);
	path[strlen(path) - 4] = '\0';
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 077, 0);
	ck_assert_int_eq(journal_remove(path, &err), EM_OK);
	ck_assert_int_eq(journal_load(path, &k, &found, &err), EM_OK);
	ck_assert(!found);
	ck_assert_int_eq(journal_remove(path, &err), EM_OK);
	tu_rmdir(d);
	free(d);
}
END_TEST

START_TEST(foreign_or_damaged)
{
	static const char *bad[] = {
		"", "{", "[]", "{\"version\":2}", "not json at all",
		"{\"version\":1,\"step\":\"flying\",\"doing\":\"none\"}",
	};
	char *d = tu_tmpdir("test_journal");
	struct journal k;
	struct em_error err;
	char path[600];
	bool found;

	snprintf(path, sizeof(path), "%s/j", d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_write_file(d, "j", bad[i], strlen(bad[i]));
		ck_assert_int_eq(journal_load(path, &k, &found, &err),
		                 EM_EFORMAT);
		ck_assert(!found);
		ck_assert_ptr_nonnull(strstr(err.msg, path));
	}
	tu_rmdir(d);
	free(d);
}
END_TEST

START_TEST(step_names)
{
	ck_assert_str_eq(em_heal_step_name(EM_STEP_HANDED_OVER), "handed-over");
	ck_assert_str_eq(em_heal_step_name(EM_STEP_NONE), "none");
	ck_assert_str_eq(em_heal_step_name((enum em_heal_step)99), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal");
	TCase *t = tcase_create("core");

	tcase_add_test(t, round_trip);
	tcase_add_test(t, foreign_or_damaged);
	tcase_add_test(t, step_names);
	suite_add_tcase(s, t);
	return tu_run(s);
}
