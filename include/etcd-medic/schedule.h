/*
 * schedule.h - when the next snapshot is due: a fixed interval or a cron
 * expression, both in UTC.
 *
 * Every sidecar of a cluster must agree on the slots without talking to each
 * other (only one of them takes each slot; the others check that it was
 * taken), so an interval is aligned on the Unix epoch: with 1h, the slots are
 * the full hours, whichever sidecar computes them and whenever it started.
 *
 * Cron: five fields, minute (0-59), hour (0-23), day of month (1-31), month
 * (1-12) and day of week (0-7, 0 and 7 Sunday), each `*`, a number, a range
 * `a-b`, a step `*\/n` or `a-b/n`, or a comma list of those; or one of
 * @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually).  As
 * in Vixie cron, when both day fields are restricted a day matching either
 * one fires.  No names of months or days, no seconds field.
 */
#ifndef ETCD_MEDIC_SCHEDULE_H
#define ETCD_MEDIC_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "etcd-medic/error.h"

struct em_schedule {
	uint64_t interval_s;     /* 0: cron */
	uint64_t minute;         /* bit n: minute n fires */
	uint32_t hour;
	uint32_t mday;           /* bits 1-31 */
	uint16_t month;          /* bits 1-12 */
	uint8_t wday;            /* bits 0-6, Sunday 0 */
	bool mday_any, wday_any;
};

/* A schedule of one slot every interval_s seconds (> 0). */
void em_schedule_interval(struct em_schedule *s, uint64_t interval_s);

/* Parses a cron expression; the message says which field is wrong. */
enum em_status em_schedule_cron(struct em_schedule *s, const char *expr,
                                struct em_error *err);

/*
 * The first slot strictly after t (Unix seconds, UTC); 0 if there is none
 * within eight years (e.g. "0 0 31 2 *").
 */
int64_t em_schedule_next(const struct em_schedule *s, int64_t t);

/* The last slot at or before t, or 0 if none within eight years. */
int64_t em_schedule_prev(const struct em_schedule *s, int64_t t);

#endif
