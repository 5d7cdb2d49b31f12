/*
 * error.h - error codes and the caller-supplied error struct.
 *
 * Every fallible function returns an em_status and, on failure, fills the
 * struct em_error it was given with a message that says what went wrong and
 * where (file, offset, member, URL).  The struct lives on the caller's stack:
 * no allocation is needed to report an error, so even ENOMEM can be reported.
 */
#ifndef ETCD_MEDIC_ERROR_H
#define ETCD_MEDIC_ERROR_H

#include <stddef.h>

enum em_status {
	EM_OK = 0,
	EM_EUSAGE,   /* bad arguments or configuration */
	EM_EIO,      /* the system refused: open, read, stat, ... */
	EM_ENOMEM,   /* allocation failed */
	EM_EBUSY,    /* a resource is held by someone else (a lock) */
	EM_EFORMAT,  /* input is not in the expected format */
	EM_ERANGE,   /* a value is out of its allowed range */
	EM_ENOENT,   /* something that must exist does not */
};

#define EM_ERROR_MSG_MAX 512

struct em_error {
	enum em_status status;
	int code;   /* a module's own kind of error (enum em_gw_errkind, ...);
	             * 0 when it has none; em_error_set resets it */
	char msg[EM_ERROR_MSG_MAX];
};

/* Clears err (status EM_OK, empty message).  err may be NULL. */
void em_error_clear(struct em_error *err);

/*
 * Records status and a printf-style message in err (which may be NULL) and
 * returns status, so that callers can write `return em_error_set(...)`.
 */
enum em_status em_error_set(struct em_error *err, enum em_status status,
                            const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like em_error_set, with strerror(errnum) appended as ": <text>". */
enum em_status em_error_errno(struct em_error *err, enum em_status status,
                              int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A short stable name for status, e.g. "io" or "format". */
const char *em_status_name(enum em_status status);

#endif
