/*
 * log.h - log lines on stderr: one JSON object a line (time, level, msg and
 * fields), which Kubernetes log tooling reads, or `key=value` text for
 * people.  stdout is never used: it carries only what a command is asked
 * for.
 *
 * Fields are pairs of strings after the message, ended by NULL:
 *
 *   em_log(EM_LOG_INFO, "member removed", "member", idhex,
 *          "endpoint", url, NULL);
 *
 * The format and the threshold are part of the parsed configuration, set
 * once at start; logging itself keeps no other state.
 */
#ifndef ETCD_MEDIC_LOG_H
#define ETCD_MEDIC_LOG_H

#include <stdbool.h>

enum em_log_level {
	EM_LOG_DEBUG = 0,
	EM_LOG_INFO,
	EM_LOG_WARN,
	EM_LOG_ERROR,
};

enum em_log_format {
	EM_LOG_JSON = 0,
	EM_LOG_TEXT,
};

void em_log_setup(enum em_log_format format, enum em_log_level threshold);

/* Parses "json"/"text" and "debug"/"info"/"warn"/"error"; false if unknown. */
bool em_log_parse_format(const char *s, enum em_log_format *out);
bool em_log_parse_level(const char *s, enum em_log_level *out);

/* Writes one line: msg and NULL-terminated key, value string pairs. */
void em_log(enum em_log_level level, const char *msg, ...)
	__attribute__((sentinel));

/* The same, with the message formatted printf-style; no fields. */
void em_logf(enum em_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
