/*
 * test_log.c - the log lines (log.c): JSON that json-c reads back, text
 * with quoting, the threshold, RFC 3339 UTC time with milliseconds.
 */
#include <check.h>
#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd-medic/log.h"
#include "testutil.h"

/* Sends stderr to a temporary file (each test runs in its own process). */
static FILE *capture(void)
{
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
	return f;
}

static char *captured(FILE *f)
{
	long n;
	char *s;

	fflush(stderr);
	n = lseek(fileno(f), 0, SEEK_CUR);
	ck_assert_int_ge(n, 0);
	s = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(pread(fileno(f), s, (size_t)n, 0), n);
	return s;
}

static bool matches(const char *s, const char *re)
{
	regex_t r;
	int rc;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&r, s, 0, NULL, 0);
	regfree(&r);
	return rc == 0;
}

START_TEST(t_json_line)
{
	FILE *f = capture();
	json_object *o, *v;
	char *out;

	em_log_setup(EM_LOG_JSON, EM_LOG_INFO);
	em_log(EM_LOG_WARN, "member \"m1\" removed", "member", "8e9e05c52164694d",
	       "endpoint", "http://127.0.0.1:2379/x", NULL);
	out = captured(f);
	ck_assert_uint_eq(strlen(out) - 1, strcspn(out, "\n"));
	o = json_tokener_parse(out);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "level", &v));
	ck_assert_str_eq(json_object_get_string(v), "warn");
	ck_assert(json_object_object_get_ex(o, "msg", &v));
	ck_assert_str_eq(json_object_get_string(v), "member \"m1\" removed");
	ck_assert(json_object_object_get_ex(o, "endpoint", &v));
	ck_assert_str_eq(json_object_get_string(v), "http://127.0.0.1:2379/x");
	ck_assert(json_object_object_get_ex(o, "time", &v));
	ck_assert(matches(json_object_get_string(v),
	                  "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
	                  "[0-9]{2}\\.[0-9]{3}Z$"));
	/* No escaped slashes: URLs stay greppable. */
	ck_assert_ptr_nonnull(strstr(out, "http://127.0.0.1"));
	json_object_put(o);
	free(out);
}
END_TEST

START_TEST(t_text_line)
{
	FILE *f = capture();
	char *out;

	em_log_setup(EM_LOG_TEXT, EM_LOG_DEBUG);
	em_log(EM_LOG_DEBUG, "gateway: retry", "error", "said \"no\"\nthen",
	       "empty", "", "plain", "x=1", "id", "42", NULL);
	out = captured(f);
	ck_assert_msg(matches(out, "^time=[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z "
	                      "level=debug msg=\"gateway: retry\" "
	                      "error=\"said \\\\\"no\\\\\"\\\\nthen\" "
	                      "empty=\"\" plain=\"x=1\" id=42\n$"), "%s", out);
	free(out);
}
END_TEST

START_TEST(t_threshold)
{
	FILE *f = capture();
	char *out;

	em_log_setup(EM_LOG_JSON, EM_LOG_WARN);
	em_log(EM_LOG_INFO, "hidden", NULL);
	em_logf(EM_LOG_DEBUG, "hidden %d", 1);
	em_logf(EM_LOG_ERROR, "shown %d of %s", 2, "3");
	out = captured(f);
	ck_assert_ptr_null(strstr(out, "hidden"));
	ck_assert_ptr_nonnull(strstr(out, "\"msg\":\"shown 2 of 3\""));
	ck_assert_ptr_nonnull(strstr(out, "\"level\":\"error\""));
	free(out);
}
END_TEST

START_TEST(t_odd_fields)
{
	FILE *f = capture();
	char *out;

	/* A NULL value ends the fields; it logs as "". */
	em_log_setup(EM_LOG_JSON, EM_LOG_DEBUG);
	em_log(EM_LOG_INFO, "m", "k", (const char *)NULL, "never", "x", NULL);
	out = captured(f);
	ck_assert_ptr_nonnull(strstr(out, "\"k\":\"\""));
	ck_assert_ptr_null(strstr(out, "never"));
	free(out);
}
END_TEST

START_TEST(t_parse)
{
	enum em_log_format fmt;
	enum em_log_level lvl;

	ck_assert(em_log_parse_format("text", &fmt) && fmt == EM_LOG_TEXT);
	ck_assert(em_log_parse_format("json", &fmt) && fmt == EM_LOG_JSON);
	ck_assert(!em_log_parse_format("yaml", &fmt));
	ck_assert(!em_log_parse_format(NULL, &fmt));
	ck_assert(em_log_parse_level("debug", &lvl) && lvl == EM_LOG_DEBUG);
	ck_assert(em_log_parse_level("warn", &lvl) && lvl == EM_LOG_WARN);
	ck_assert(em_log_parse_level("error", &lvl) && lvl == EM_LOG_ERROR);
	ck_assert(!em_log_parse_level("loud", &lvl));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, t_json_line);
	tcase_add_test(tc, t_text_line);
	tcase_add_test(tc, t_threshold);
	tcase_add_test(tc, t_odd_fields);
	tcase_add_test(tc, t_parse);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
