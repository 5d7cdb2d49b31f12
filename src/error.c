/*
 * error.c - filling the caller-supplied error struct (see error.h).
 */
#include "etcd-medic/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void em_error_clear(struct em_error *err)
{
	if (err == NULL)
		return;
	err->status = EM_OK;
	err->code = 0;
	err->msg[0] = '\0';
}

static void vset(struct em_error *err, enum em_status status, const char *fmt,
                 va_list ap) __attribute__((format(printf, 3, 0)));

static void vset(struct em_error *err, enum em_status status, const char *fmt,
                 va_list ap)
{
	err->status = status;
	err->code = 0;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

enum em_status em_error_set(struct em_error *err, enum em_status status,
                            const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return status;
	va_start(ap, fmt);
	vset(err, status, fmt, ap);
	va_end(ap);
	return status;
}

enum em_status em_error_errno(struct em_error *err, enum em_status status,
                              int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return status;
	va_start(ap, fmt);
	vset(err, status, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
		         strerror(errnum));
	return status;
}

const char *em_status_name(enum em_status status)
{
	switch (status) {
	case EM_OK: return "ok";
	case EM_EUSAGE: return "usage";
	case EM_EIO: return "io";
	case EM_ENOMEM: return "nomem";
	case EM_EBUSY: return "busy";
	case EM_EFORMAT: return "format";
	case EM_ERANGE: return "range";
	case EM_ENOENT: return "noent";
	}
	return "unknown";
}
