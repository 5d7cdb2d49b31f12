/*
 * report.c - collecting findings into a bounded report (see report.h).
 */
#include "etcd-medic/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void em_report_init(struct em_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->verdict = EM_VERDICT_HEALTHY;
}

void em_report_free(struct em_report *rep)
{
	free(rep->evidence);
	free(rep->notes);
	free(rep->blockers);
	em_report_init(rep);
}

void em_report_raise(struct em_report *rep, enum em_verdict v)
{
	if (v > rep->verdict)
		rep->verdict = v;
}

/*
 * Appends a finding to one of the three lists.  The lists are allocated at
 * their full (small) size on first use, so adding never reallocates.
 */
static void add(struct em_report *rep, struct em_finding **list, size_t *n,
                size_t *total, enum em_finding_kind kind, const char *file,
                enum em_locus locus, uint64_t at, const char *fmt, va_list ap)
	__attribute__((format(printf, 9, 0)));

static void add(struct em_report *rep, struct em_finding **list, size_t *n,
                size_t *total, enum em_finding_kind kind, const char *file,
                enum em_locus locus, uint64_t at, const char *fmt, va_list ap)
{
	struct em_finding *f;

	(*total)++;
	if (*n >= EM_REPORT_KEEP)
		return;
	if (*list == NULL) {
		*list = calloc(EM_REPORT_KEEP, sizeof(**list));
		if (*list == NULL) {
			rep->oom = true;
			return;
		}
	}
	f = &(*list)[(*n)++];
	f->kind = kind;
	snprintf(f->file, sizeof(f->file), "%s", file ? file : "");
	f->locus = locus;
	f->at = at;
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
}

void em_report_corrupt(struct em_report *rep, const char *file,
                       enum em_locus locus, uint64_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(rep, &rep->evidence, &rep->n_evidence, &rep->total_evidence,
	    EM_FINDING_EVIDENCE, file, locus, at, fmt, ap);
	va_end(ap);
	em_report_raise(rep, EM_VERDICT_CORRUPT);
}

void em_report_note(struct em_report *rep, const char *file,
                    enum em_locus locus, uint64_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(rep, &rep->notes, &rep->n_notes, &rep->total_notes,
	    EM_FINDING_NOTE, file, locus, at, fmt, ap);
	va_end(ap);
}

void em_report_block(struct em_report *rep, enum em_verdict verdict,
                     const char *file, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(rep, &rep->blockers, &rep->n_blockers, &rep->total_blockers,
	    EM_FINDING_BLOCKER, file, EM_AT_FILE, 0, fmt, ap);
	va_end(ap);
	em_report_raise(rep, verdict);
}

const char *em_verdict_name(enum em_verdict v)
{
	switch (v) {
	case EM_VERDICT_HEALTHY: return "healthy";
	case EM_VERDICT_EMPTY: return "empty";
	case EM_VERDICT_CORRUPT: return "corrupt";
	case EM_VERDICT_UNREADABLE: return "unreadable";
	case EM_VERDICT_IN_USE: return "in-use";
	}
	return "unknown";
}

int em_verdict_exit_code(enum em_verdict v)
{
	switch (v) {
	case EM_VERDICT_HEALTHY: return 0;
	case EM_VERDICT_CORRUPT: return 1;
	case EM_VERDICT_EMPTY: return 3;
	case EM_VERDICT_IN_USE: return 4;
	case EM_VERDICT_UNREADABLE: return 5;
	}
	return 5;
}

const char *em_check_mode_name(enum em_check_mode mode)
{
	return mode == EM_CHECK_FULL ? "full" : "sanity";
}

const char *em_locus_name(enum em_locus locus)
{
	switch (locus) {
	case EM_AT_FILE: return "file";
	case EM_AT_PAGE: return "page";
	case EM_AT_OFFSET: return "offset";
	}
	return "file";
}
