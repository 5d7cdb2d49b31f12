/*
 * log.c - log lines on stderr, JSON (json-c) or key=value text (see log.h).
 *
 * Each line is built in memory and written with one fwrite under the stdio
 * lock, so that lines from several threads never interleave.
 */
#include "etcd-medic/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

/*
 * The only mutable globals in etcd-medic: set once by em_log_setup at
 * start, before any thread exists, and read-only afterwards.
 */
static enum em_log_format log_format = EM_LOG_JSON;
static enum em_log_level log_threshold = EM_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void em_log_setup(enum em_log_format format, enum em_log_level threshold)
{
	log_format = format;
	log_threshold = threshold;
}

bool em_log_parse_format(const char *s, enum em_log_format *out)
{
	if (s != NULL && strcmp(s, "json") == 0)
		*out = EM_LOG_JSON;
	else if (s != NULL && strcmp(s, "text") == 0)
		*out = EM_LOG_TEXT;
	else
		return false;
	return true;
}

bool em_log_parse_level(const char *s, enum em_log_level *out)
{
	for (size_t i = 0; s != NULL && i < sizeof(level_names) /
	     sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum em_log_level)i;
			return true;
		}
	}
	if (s != NULL && strcmp(s, "warning") == 0) {
		*out = EM_LOG_WARN;
		return true;
	}
	return false;
}

static const char *level_name(enum em_log_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "error";
}

/* RFC 3339, UTC, milliseconds: 2024-05-01T12:00:00.123Z */
static void now_rfc3339(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void write_line(const char *line, size_t len)
{
	flockfile(stderr);
	fwrite(line, 1, len, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* Fallback when memory runs out: the message still reaches stderr. */
static void write_plain(const char *level, const char *msg)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "level=%s msg=\"%s\"", level, msg);

	if (n > 0)
		write_line(line, (size_t)n < sizeof(line) ? (size_t)n
		                                          : sizeof(line) - 1);
}

static bool json_add(json_object *o, const char *key, const char *value)
{
	json_object *v = json_object_new_string(value);

	if (v == NULL)
		return false;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static void log_json(const char *stamp, const char *level, const char *msg,
                     va_list ap)
{
	json_object *o = json_object_new_object();
	const char *key, *value, *line;
	bool ok;

	ok = o != NULL && json_add(o, "time", stamp) &&
	     json_add(o, "level", level) && json_add(o, "msg", msg);
	while (ok && (key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		ok = json_add(o, key, value != NULL ? value : "");
		if (value == NULL)
			break;
	}
	line = ok ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                           JSON_C_TO_STRING_NOSLASHESCAPE)
	          : NULL;
	if (line != NULL)
		write_line(line, strlen(line));
	else
		write_plain(level, msg);
	json_object_put(o);
}

/* Needs quotes when empty or when it holds a space, quote, '=' or control. */
static bool text_needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' ||
		    *s == '\\' || *s == 0x7f)
			return true;
	return false;
}

static void text_value(FILE *f, const char *s)
{
	if (!text_needs_quotes(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < ' ' || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void text_pair(FILE *f, const char *key, const char *value)
{
	fprintf(f, " %s=", key);
	text_value(f, value);
}

static void log_text(const char *stamp, const char *level, const char *msg,
                     va_list ap)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);
	const char *key, *value;

	if (f == NULL) {
		write_plain(level, msg);
		return;
	}
	fprintf(f, "time=%s level=%s", stamp, level);
	text_pair(f, "msg", msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		text_pair(f, key, value != NULL ? value : "");
		if (value == NULL)
			break;
	}
	if (fclose(f) == 0 && line != NULL)
		write_line(line, len);
	else
		write_plain(level, msg);
	free(line);
}

static void vlog(enum em_log_level level, const char *msg, va_list ap)
{
	char stamp[40];

	now_rfc3339(stamp, sizeof(stamp));
	if (log_format == EM_LOG_TEXT)
		log_text(stamp, level_name(level), msg, ap);
	else
		log_json(stamp, level_name(level), msg, ap);
}

void em_log(enum em_log_level level, const char *msg, ...)
{
	va_list ap;

	if (level < log_threshold)
		return;
	va_start(ap, msg);
	vlog(level, msg != NULL ? msg : "", ap);
	va_end(ap);
}

/* vlog reads fields from a va_list; this one ends at once. */
static void log_no_fields(enum em_log_level level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	vlog(level, msg, ap);
	va_end(ap);
}

void em_logf(enum em_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level < log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_no_fields(level, msg, (const char *)NULL);
}
