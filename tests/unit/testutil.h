/*
 * testutil.h - what the Check unit tests share: running a suite, and the
 * temporary directories and files the directory-level tests build.
 */
#ifndef ETCD_MEDIC_TESTUTIL_H
#define ETCD_MEDIC_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs s, frees it, and returns the process exit status. */
static inline int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* A new directory /tmp/<prefix>.XXXXXX; the caller frees the name. */
static inline char *tu_tmpdir(const char *prefix)
{
	char *d = malloc(strlen(prefix) + 16);

	ck_assert_ptr_nonnull(d);
	sprintf(d, "/tmp/%s.XXXXXX", prefix);
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static inline void tu_rmdir(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes n bytes at p to dir/name. */
static inline void tu_write_file(const char *dir, const char *name,
                                 const void *p, size_t n)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	if (n)
		ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

#endif
