/*
 * report.h - verdicts and the evidence behind them.
 *
 * The checkers (bolt, wal, snap) do not decide what happens to a data dir;
 * they add findings to a report.  A finding is either evidence of damage
 * (which makes the verdict `corrupt`), a reason the dir cannot be judged
 * (`in-use`, `unreadable`) or a note that changes nothing (a torn WAL tail
 * that etcd repairs itself).  The report keeps the first EM_REPORT_KEEP
 * findings of each kind and counts the rest, so a badly damaged file cannot
 * make the report grow without bound.
 */
#ifndef ETCD_MEDIC_REPORT_H
#define ETCD_MEDIC_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/error.h"

/* Ordered by precedence: a higher value wins when findings are combined. */
enum em_verdict {
	EM_VERDICT_HEALTHY = 0,
	EM_VERDICT_EMPTY,
	EM_VERDICT_CORRUPT,
	EM_VERDICT_UNREADABLE,
	EM_VERDICT_IN_USE,
};

/*
 * How thorough a check is.  sanity: structure, both bbolt meta pages and the
 * framing of the newest WAL file; full: every page, record and checksum.
 */
enum em_check_mode {
	EM_CHECK_SANITY = 0,
	EM_CHECK_FULL,
};

const char *em_check_mode_name(enum em_check_mode mode);

/* Where in a file a finding is. */
enum em_locus {
	EM_AT_FILE = 0, /* the file as a whole */
	EM_AT_PAGE,     /* a bbolt page id */
	EM_AT_OFFSET,   /* a byte offset */
};

enum em_finding_kind {
	EM_FINDING_EVIDENCE = 0, /* damage: verdict corrupt */
	EM_FINDING_NOTE,         /* informational */
	EM_FINDING_BLOCKER,      /* cannot judge: verdict in-use or unreadable */
};

#define EM_REPORT_KEEP 64
#define EM_FINDING_FILE_MAX 256
#define EM_FINDING_TEXT_MAX 320

struct em_finding {
	enum em_finding_kind kind;
	char file[EM_FINDING_FILE_MAX]; /* relative to the data dir */
	enum em_locus locus;
	uint64_t at;                     /* page id or byte offset */
	char text[EM_FINDING_TEXT_MAX];  /* what is wrong, or what is noted */
};

struct em_report {
	enum em_verdict verdict;
	struct em_finding *evidence; /* first EM_REPORT_KEEP, in order found */
	size_t n_evidence;           /* kept */
	size_t total_evidence;       /* found, kept or not */
	struct em_finding *notes;
	size_t n_notes;
	size_t total_notes;
	struct em_finding *blockers;
	size_t n_blockers;
	size_t total_blockers;
	bool oom; /* a finding could not be stored: the counts are still right */
};

void em_report_init(struct em_report *rep);
void em_report_free(struct em_report *rep);

/* Evidence of damage: raises the verdict to at least corrupt. */
void em_report_corrupt(struct em_report *rep, const char *file,
                       enum em_locus locus, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A note: does not change the verdict. */
void em_report_note(struct em_report *rep, const char *file,
                    enum em_locus locus, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The file cannot be judged: verdict is EM_VERDICT_UNREADABLE or _IN_USE. */
void em_report_block(struct em_report *rep, enum em_verdict verdict,
                     const char *file, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Raises rep->verdict to v if v has higher precedence. */
void em_report_raise(struct em_report *rep, enum em_verdict v);

/* "healthy", "empty", "corrupt", "in-use", "unreadable". */
const char *em_verdict_name(enum em_verdict v);

/* The exit status of `etcd-medic validate` for a verdict (DESIGN.md). */
int em_verdict_exit_code(enum em_verdict v);

const char *em_locus_name(enum em_locus locus);

#endif
