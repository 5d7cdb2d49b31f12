/*
 * schedule.c - interval and cron slots (see schedule.h).
 *
 * Slots are found day by day (at most eight years of days), then within a
 * day hour by hour and minute by minute from the fields' bit sets: a few
 * thousand steps at worst, no table of future times.
 */
#include "etcd-medic/schedule.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400
#define SEARCH_DAYS (8 * 366)

struct field {
	const char *name;
	unsigned lo, hi;
};

static const struct field fields[5] = {
	{ "minute", 0, 59 }, { "hour", 0, 23 }, { "day of month", 1, 31 },
	{ "month", 1, 12 }, { "day of week", 0, 7 },
};

void em_schedule_interval(struct em_schedule *s, uint64_t interval_s)
{
	memset(s, 0, sizeof(*s));
	s->interval_s = interval_s ? interval_s : 1;
}

static bool number(const char **p, unsigned *out)
{
	unsigned long v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return false;
	while (isdigit((unsigned char)*s) && v < 1000)
		v = v * 10 + (unsigned long)(*s++ - '0');
	*p = s;
	*out = (unsigned)v;
	return true;
}

/* One comma-separated item of a field: *, n, a-b, with an optional /step. */
static bool item(const char **p, const struct field *f, uint64_t *bits)
{
	unsigned a = f->lo, b = f->hi, step = 1;

	if (**p == '*') {
		(*p)++;
	} else {
		if (!number(p, &a))
			return false;
		b = a;
		if (**p == '-' && (++*p, !number(p, &b)))
			return false;
	}
	if (**p == '/' && (++*p, !number(p, &step) || step == 0))
		return false;
	if (a < f->lo || b > f->hi || a > b)
		return false;
	for (unsigned v = a; v <= b; v += step)
		*bits |= 1ull << v;
	return true;
}

static bool parse_field(const char *s, size_t n, const struct field *f,
                        uint64_t *bits, bool *any)
{
	char buf[64];
	const char *p = buf;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*any = strcmp(buf, "*") == 0;
	*bits = 0;
	for (;;) {
		if (!item(&p, f, bits))
			return false;
		if (*p == '\0')
			return true;
		if (*p++ != ',')
			return false;
	}
}

static const char *macro(const char *expr)
{
	static const char *const m[][2] = {
		{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strcmp(expr, m[i][0]) == 0)
			return m[i][1];
	return expr;
}

enum em_status em_schedule_cron(struct em_schedule *s, const char *expr,
                                struct em_error *err)
{
	const char *p = macro(expr);
	uint64_t bits[5];
	bool any[5];

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 5; i++) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == 0)
			return em_error_set(err, EM_EFORMAT, "cron expression "
			                    "'%.64s' has %d fields, not 5 "
			                    "(minute hour day-of-month month "
			                    "day-of-week)", expr, i);
		if (!parse_field(p, n, &fields[i], &bits[i], &any[i]))
			return em_error_set(err, EM_EFORMAT, "cron expression "
			                    "'%.64s': bad %s field '%.*s' (%u-%u, "
			                    "*, a-b, */n, lists with ',')", expr,
			                    fields[i].name, (int)(n > 32 ? 32 : n),
			                    p, fields[i].lo, fields[i].hi);
		p += n;
	}
	if (p[strspn(p, " \t")] != '\0')
		return em_error_set(err, EM_EFORMAT, "cron expression '%.64s' "
		                    "has more than 5 fields", expr);
	s->minute = bits[0];
	s->hour = (uint32_t)bits[1];
	s->mday = (uint32_t)bits[2];
	s->month = (uint16_t)bits[3];
	/* 7 is Sunday too. */
	s->wday = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	s->mday_any = any[2];
	s->wday_any = any[4];
	return EM_OK;
}

static bool day_matches(const struct em_schedule *s, const struct tm *tm)
{
	bool md = (s->mday >> tm->tm_mday) & 1;
	bool wd = (s->wday >> tm->tm_wday) & 1;

	if (!((s->month >> (tm->tm_mon + 1)) & 1))
		return false;
	if (s->mday_any || s->wday_any)
		return (s->mday_any || md) && (s->wday_any || wd);
	return md || wd;
}

/* Seconds into the day of the first (or, backwards, last) firing minute at
 * or after (at or before) `from`; -1 if none. */
static int64_t in_day(const struct em_schedule *s, int64_t from, bool back)
{
	for (int64_t m = from / 60; back ? m >= 0 : m < 24 * 60;
	     m += back ? -1 : 1)
		if (((s->hour >> (m / 60)) & 1) && ((s->minute >> (m % 60)) & 1))
			return m * 60;
	return -1;
}

static int64_t cron_step(const struct em_schedule *s, int64_t t, bool back)
{
	int64_t day = t >= 0 ? t / DAY : (t - DAY + 1) / DAY;
	int64_t from = t - day * DAY;

	for (int i = 0; i < SEARCH_DAYS; i++, day += back ? -1 : 1) {
		time_t at = (time_t)(day * DAY);
		struct tm tm;
		int64_t sec;

		if (gmtime_r(&at, &tm) == NULL || !day_matches(s, &tm)) {
			from = back ? DAY - 1 : 0;
			continue;
		}
		sec = in_day(s, from, back);
		if (sec >= 0)
			return day * DAY + sec;
		from = back ? DAY - 1 : 0;
	}
	return 0;
}

int64_t em_schedule_next(const struct em_schedule *s, int64_t t)
{
	int64_t i = (int64_t)s->interval_s;

	if (i > 0)
		return (t / i + 1) * i;
	/* The next whole minute after t. */
	return cron_step(s, (t / 60 + 1) * 60, false);
}

int64_t em_schedule_prev(const struct em_schedule *s, int64_t t)
{
	int64_t i = (int64_t)s->interval_s;

	if (i > 0)
		return t / i * i;
	return cron_step(s, t, true);
}
