/*
 * test_metrics.c - the metrics registry (metrics.c): its exposition is read
 * back by a strict parser of the Prometheus text format 0.0.4 (HELP and TYPE
 * once per metric and before its samples, a metric's samples together, no
 * duplicate series, label syntax and escapes, Go float syntax), and the
 * values it reads are the ones set: escaping, undeclared names and labels
 * ignored and counted, the series limit, updates from threads while
 * another thread renders.
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/metrics.h"
#include "testutil.h"

#define MAX_SAMPLES 4096
#define MAX_FAMILIES 64

struct sample {
	char name[128];
	size_t n;                  /* labels */
	char key[4][64];
	char val[4][256];
	double v;
};

struct family {
	char name[128];
	char type[16];
	bool help, sampled, closed;
};

struct expo {
	struct sample *s;
	size_t n;
	struct family f[MAX_FAMILIES];
	size_t nf;
	char why[256];
};

static bool bad(struct expo *e, const char *why, const char *line)
{
	snprintf(e->why, sizeof(e->why), "%s: %.120s", why, line);
	return false;
}

static bool is_name(const char *s, size_t n, bool colon)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      (colon && s[i] == ':')))
			return false;
	return true;
}

static size_t name_len(const char *s, bool colon)
{
	size_t n = 0;

	while (s[n] != '\0' && is_name(s, n + 1, colon))
		n++;
	return n;
}

static struct family *family(struct expo *e, const char *name, size_t n)
{
	for (size_t i = 0; i < e->nf; i++)
		if (strlen(e->f[i].name) == n && memcmp(e->f[i].name, name, n) == 0)
			return &e->f[i];
	ck_assert_uint_lt(e->nf, MAX_FAMILIES);
	snprintf(e->f[e->nf].name, sizeof(e->f[0].name), "%.*s", (int)n, name);
	return &e->f[e->nf++];
}

/* "# HELP name text" or "# TYPE name type"; other comments are allowed. */
static bool parse_comment(struct expo *e, const char *line)
{
	bool help = strncmp(line, "# HELP ", 7) == 0;
	bool type = strncmp(line, "# TYPE ", 7) == 0;
	const char *p = line + 7;
	size_t n;
	struct family *f;

	if (!help && !type)
		return true;
	n = name_len(p, true);
	if (n == 0 || p[n] != ' ')
		return bad(e, "bad HELP/TYPE name", line);
	f = family(e, p, n);
	if (f->sampled)
		return bad(e, "HELP/TYPE after the samples", line);
	if (help) {
		for (const char *q = p + n + 1; *q; q++) {
			if (*q != '\\')
				continue;
			if (q[1] != '\\' && q[1] != 'n')
				return bad(e, "bad escape in HELP", line);
			q++;
		}
		if (f->help)
			return bad(e, "second HELP", line);
		f->help = true;
		return true;
	}
	if (f->type[0] != '\0')
		return bad(e, "second TYPE", line);
	if (strcmp(p + n + 1, "counter") && strcmp(p + n + 1, "gauge") &&
	    strcmp(p + n + 1, "histogram") && strcmp(p + n + 1, "summary") &&
	    strcmp(p + n + 1, "untyped"))
		return bad(e, "unknown TYPE", line);
	snprintf(f->type, sizeof(f->type), "%s", p + n + 1);
	return true;
}

/* A quoted label value with \\, \" and \n escapes; *p after the quote. */
static bool parse_value_str(const char **p, char *out, size_t size)
{
	size_t n = 0;
	const char *q = *p;

	if (*q++ != '"')
		return false;
	for (; *q != '"'; q++) {
		char c = *q;

		if (c == '\0' || c == '\n')
			return false;
		if (c == '\\') {
			q++;
			if (*q == 'n')
				c = '\n';
			else if (*q == '\\' || *q == '"')
				c = *q;
			else
				return false;
		}
		if (n + 1 >= size)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	*p = q + 1;
	return true;
}

static bool parse_labels(struct expo *e, const char **p, struct sample *s,
                         const char *line)
{
	const char *q = *p + 1;

	while (*q != '}') {
		size_t n = name_len(q, false);

		if (n == 0 || q[n] != '=' || s->n == 4)
			return bad(e, "bad label name", line);
		snprintf(s->key[s->n], sizeof(s->key[0]), "%.*s", (int)n, q);
		for (size_t k = 0; k < s->n; k++)
			if (strcmp(s->key[k], s->key[s->n]) == 0)
				return bad(e, "label given twice", line);
		q += n + 1;
		if (!parse_value_str(&q, s->val[s->n], sizeof(s->val[0])))
			return bad(e, "bad label value", line);
		s->n++;
		if (*q == ',')
			q++;
		else if (*q != '}')
			return bad(e, "expected , or }", line);
	}
	*p = q + 1;
	return true;
}

/* Go's ParseFloat: a decimal or exponent number, Inf/+Inf/-Inf, NaN. */
static bool parse_float(const char *s, double *v)
{
	char *end;

	if (!strcmp(s, "+Inf") || !strcmp(s, "Inf")) {
		*v = 1.0 / 0.0;
		return true;
	}
	if (!strcmp(s, "-Inf")) {
		*v = -1.0 / 0.0;
		return true;
	}
	if (!strcmp(s, "NaN")) {
		*v = 0.0 / 0.0;
		return true;
	}
	if (strspn(s, "+-0123456789.eE") != strlen(s) || *s == '\0')
		return false;
	*v = strtod(s, &end);
	return *end == '\0';
}

static bool same_series(const struct sample *a, const struct sample *b)
{
	if (strcmp(a->name, b->name) || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		size_t k;

		for (k = 0; k < b->n; k++)
			if (!strcmp(a->key[i], b->key[k]) &&
			    !strcmp(a->val[i], b->val[k]))
				break;
		if (k == b->n)
			return false;
	}
	return true;
}

static bool parse_sample(struct expo *e, const char *line,
                         struct family **last)
{
	struct sample *s = &e->s[e->n];
	const char *p = line;
	size_t n = name_len(p, true);
	struct family *f;

	memset(s, 0, sizeof(*s));
	if (n == 0 || e->n == MAX_SAMPLES)
		return bad(e, "bad metric name", line);
	snprintf(s->name, sizeof(s->name), "%.*s", (int)n, p);
	p += n;
	if (*p == '{' && !parse_labels(e, &p, s, line))
		return false;
	if (*p != ' ' || strchr(p + 1, ' ') != NULL)  /* no timestamps */
		return bad(e, "expected one space and a value", line);
	if (!parse_float(p + 1, &s->v))
		return bad(e, "bad value", line);
	f = family(e, s->name, strlen(s->name));
	if (f->type[0] == '\0' || !f->help)
		return bad(e, "sample before its HELP and TYPE", line);
	if (f->closed || (f->sampled && *last != f))
		return bad(e, "a metric's samples are not together", line);
	if (*last != NULL && *last != f)
		(*last)->closed = true;
	f->sampled = true;
	*last = f;
	for (size_t i = 0; i < e->n; i++)
		if (same_series(&e->s[i], s))
			return bad(e, "duplicate series", line);
	e->n++;
	return true;
}

static bool parse_expo(struct expo *e, const char *text)
{
	struct family *last = NULL;
	const char *p = text;
	char line[4096];

	memset(e, 0, sizeof(*e));
	e->s = calloc(MAX_SAMPLES, sizeof(*e->s));
	ck_assert_ptr_nonnull(e->s);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n;

		if (nl == NULL)
			return bad(e, "last line without a newline", p);
		n = (size_t)(nl - p);
		ck_assert_uint_lt(n, sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (n == 0)
			continue;
		if (line[0] == '#' ? !parse_comment(e, line) :
		    !parse_sample(e, line, &last))
			return false;
	}
	return true;
}

/* Renders, parses (the test fails on a format error), returns the parse. */
static void scrape(struct expo *e)
{
	size_t len = 0;
	char *text = em_metrics_render(&len);

	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(len, strlen(text));
	if (!parse_expo(e, text))
		ck_abort_msg("exposition does not parse: %s", e->why);
	free(text);
}

/* The sample of name with labels "k=v,k=v" (decoded values), or NULL. */
static const struct sample *find(const struct expo *e, const char *name,
                                 const char *labels)
{
	struct sample want;
	char buf[512], *save = NULL, *tok;

	memset(&want, 0, sizeof(want));
	snprintf(want.name, sizeof(want.name), "%s", name);
	snprintf(buf, sizeof(buf), "%s", labels ? labels : "");
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		*eq = '\0';
		snprintf(want.key[want.n], sizeof(want.key[0]), "%s", tok);
		snprintf(want.val[want.n++], sizeof(want.val[0]), "%s", eq + 1);
	}
	for (size_t i = 0; i < e->n; i++)
		if (same_series(&e->s[i], &want))
			return &e->s[i];
	return NULL;
}

static double value(const struct expo *e, const char *name, const char *labels)
{
	const struct sample *s = find(e, name, labels);

	if (s == NULL)
		ck_abort_msg("no series %s{%s}", name, labels ? labels : "");
	return s->v;
}

static size_t count(const struct expo *e, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n; i++)
		n += strcmp(e->s[i].name, name) == 0;
	return n;
}

static void init(void)
{
	struct em_error err;

	em_error_clear(&err);
	ck_assert_int_eq(em_metrics_init("0.1.0-test", &err), EM_OK);
}

static void empty_exposition(void)
{
	char *t = em_metrics_render(NULL);

	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, "");
	free(t);
}

static void done(struct expo *e)
{
	free(e->s);
	em_metrics_free();
}

START_TEST(t_declared)
{
	static const char *const names[] = {
		"etcd_medic_build_info", "etcd_medic_validations_total",
		"etcd_medic_validation_duration_seconds",
		"etcd_medic_heal_runs_total", "etcd_medic_heal_step",
		"etcd_medic_learner_applied_index",
		"etcd_medic_leader_raft_index", "etcd_medic_heal_lock_held",
		"etcd_medic_heal_lock_holder_info", "etcd_medic_member_up",
		"etcd_medic_member_has_leader", "etcd_medic_member_is_learner",
		"etcd_medic_alarms", "etcd_medic_data_dir_gone",
		"etcd_medic_hash_checks_total", "etcd_medic_watch_errors_total",
		"etcd_medic_init_state", "etcd_medic_metrics_dropped_total",
	};
	struct expo e;

	init();
	scrape(&e);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct family *f = family(&e, names[i], strlen(names[i]));
		size_t len = strlen(names[i]);
		bool total = len > 6 && !strcmp(names[i] + len - 6, "_total");

		ck_assert_msg(f->help, "%s has no HELP", names[i]);
		ck_assert_str_eq(f->type, total ? "counter" : "gauge");
	}
	for (size_t i = 0; i < e.nf; i++) {
		size_t len = strlen(e.f[i].name);

		if (!strcmp(e.f[i].type, "counter"))
			ck_assert_str_eq(e.f[i].name + len - 6, "_total");
	}
	ck_assert(value(&e, "etcd_medic_build_info", "version=0.1.0-test") == 1);
	/* Counters exist at 0 from the start, so that rate() works. */
	ck_assert(value(&e, "etcd_medic_watch_errors_total", NULL) == 0);
	ck_assert(value(&e, "etcd_medic_metrics_dropped_total", NULL) == 0);
	ck_assert(value(&e, "etcd_medic_hash_checks_total", "result=divergent") == 0);
	ck_assert(value(&e, "etcd_medic_heal_runs_total", "outcome=failed") == 0);
	ck_assert(value(&e, "etcd_medic_validations_total",
	                "mode=sanity,verdict=corrupt") == 0);
	/* A gauge nobody set yet is absent rather than a made-up 0. */
	ck_assert_ptr_null(find(&e, "etcd_medic_member_up", NULL));
	done(&e);
}
END_TEST

START_TEST(t_values)
{
	static const double vals[] = { 0.1, 1e-9, 123456.789, 1e20, -2.5,
		                       4294967296.0, 1.0 / 3.0 };
	struct expo e;

	init();
	em_metric_add("etcd_medic_watch_errors_total", NULL, 1);
	em_metric_add("etcd_medic_watch_errors_total", NULL, 2);
	em_metric_add("etcd_medic_validations_total",
	              "verdict=healthy,mode=full", 1);
	em_metric_add("etcd_medic_validations_total",
	              "mode=full,verdict=healthy", 1);
	em_metric_set("etcd_medic_member_up", NULL, 1);
	em_metric_set("etcd_medic_member_up", NULL, 0);
	em_metric_add("etcd_medic_alarms", "alarm=NOSPACE", 2);
	em_metric_add("etcd_medic_alarms", "alarm=NOSPACE", -1);
	scrape(&e);
	ck_assert(value(&e, "etcd_medic_watch_errors_total", NULL) == 3);
	/* Label order in an update does not make another series. */
	ck_assert(value(&e, "etcd_medic_validations_total",
	                "mode=full,verdict=healthy") == 2);
	ck_assert(value(&e, "etcd_medic_member_up", NULL) == 0);
	ck_assert(value(&e, "etcd_medic_alarms", "alarm=NOSPACE") == 1);
	free(e.s);
	/* Values read back exactly (shortest round-trip text). */
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		em_metric_set("etcd_medic_validation_duration_seconds",
		              "mode=full", vals[i]);
		scrape(&e);
		ck_assert(value(&e, "etcd_medic_validation_duration_seconds",
		                "mode=full") == vals[i]);
		free(e.s);
	}
	em_metric_set("etcd_medic_leader_raft_index", NULL, 1.0 / 0.0);
	em_metric_set("etcd_medic_learner_applied_index", NULL, 0.0 / 0.0);
	scrape(&e);
	ck_assert(value(&e, "etcd_medic_leader_raft_index", NULL) > 1e308);
	ck_assert(value(&e, "etcd_medic_learner_applied_index", NULL) !=
	          value(&e, "etcd_medic_learner_applied_index", NULL));
	done(&e);
}
END_TEST

START_TEST(t_escaping)
{
	const char *tricky = "m1@17\"quoted\" back\\slash\nnew line {}=";
	char labels[128];
	size_t len;
	char *text;
	struct expo e;

	init();
	snprintf(labels, sizeof(labels), "holder=%s", tricky);
	em_metric_set("etcd_medic_heal_lock_holder_info", labels, 1);
	text = em_metrics_render(&len);
	ck_assert_ptr_nonnull(strstr(text,
		"etcd_medic_heal_lock_holder_info{holder=\"m1@17\\\"quoted\\\" "
		"back\\\\slash\\nnew line {}=\"} 1\n"));
	free(text);
	scrape(&e);
	ck_assert_uint_eq(count(&e, "etcd_medic_heal_lock_holder_info"), 1);
	for (size_t i = 0; i < e.n; i++)
		if (!strcmp(e.s[i].name, "etcd_medic_heal_lock_holder_info"))
			ck_assert_str_eq(e.s[i].val[0], tricky);
	done(&e);
}
END_TEST

START_TEST(t_ignored)
{
	struct expo e;

	/* Before init: ignored, nothing to render, nothing breaks. */
	em_metric_add("etcd_medic_watch_errors_total", NULL, 1);
	empty_exposition();
	init();
	em_metric_add("etcd_medic_no_such_thing_total", NULL, 1);      /* 1 */
	em_metric_set("etcd_medic_member_up", "member=m1", 1);         /* 2 */
	em_metric_add("etcd_medic_hash_checks_total", "kind=equal", 1);/* 3 */
	em_metric_add("etcd_medic_hash_checks_total", NULL, 1);        /* 4 */
	em_metric_add("etcd_medic_validations_total", "mode=full", 1); /* 5 */
	em_metric_add("etcd_medic_validations_total",
	              "mode=full,verdict=healthy,extra=1", 1);         /* 6 */
	em_metric_add("etcd_medic_validations_total",
	              "mode=full,mode=sanity", 1);                     /* 7 */
	em_metric_add("etcd_medic_watch_errors_total", NULL, -1);      /* 8 */
	em_metric_set("etcd_medic_watch_errors_total", NULL, 5);       /* 9 */
	em_metric_add("etcd_medic_alarms", "alarmNOSPACE", 1);         /* 10 */
	em_metric_set_one("etcd_medic_hash_checks_total", "result=equal"); /* 11 */
	em_metric_add(NULL, NULL, 1);                                  /* 12 */
	scrape(&e);
	ck_assert_ptr_null(find(&e, "etcd_medic_no_such_thing_total", NULL));
	ck_assert_ptr_null(find(&e, "etcd_medic_member_up", "member=m1"));
	ck_assert_ptr_null(find(&e, "etcd_medic_member_up", NULL));
	ck_assert_uint_eq(count(&e, "etcd_medic_hash_checks_total"), 4);
	ck_assert_uint_eq(count(&e, "etcd_medic_validations_total"), 10);
	ck_assert_uint_eq(count(&e, "etcd_medic_alarms"), 0);
	ck_assert(value(&e, "etcd_medic_watch_errors_total", NULL) == 0);
	ck_assert(value(&e, "etcd_medic_metrics_dropped_total", NULL) == 12);
	done(&e);
}
END_TEST

START_TEST(t_series_limit)
{
	char labels[64];
	struct expo e;

	init();
	for (int i = 0; i < 300; i++) {
		snprintf(labels, sizeof(labels), "alarm=A%03d", i);
		em_metric_set("etcd_medic_alarms", labels, i);
	}
	/* Existing series still take updates at the limit. */
	em_metric_set("etcd_medic_alarms", "alarm=A000", 7);
	em_metric_add("etcd_medic_watch_errors_total", NULL, 1);
	scrape(&e);
	ck_assert_uint_eq(count(&e, "etcd_medic_alarms"), 256);
	ck_assert(value(&e, "etcd_medic_alarms", "alarm=A000") == 7);
	ck_assert(value(&e, "etcd_medic_alarms", "alarm=A255") == 255);
	ck_assert_ptr_null(find(&e, "etcd_medic_alarms", "alarm=A256"));
	ck_assert(value(&e, "etcd_medic_metrics_dropped_total", NULL) == 44);
	ck_assert(value(&e, "etcd_medic_watch_errors_total", NULL) == 1);
	done(&e);
}
END_TEST

START_TEST(t_set_one_and_clear)
{
	struct expo e;

	init();
	em_metric_set_one("etcd_medic_heal_step", "step=locked");
	em_metric_set_one("etcd_medic_heal_step", "step=removed");
	em_metric_set_one("etcd_medic_heal_step", "step=added");
	em_metric_set("etcd_medic_heal_lock_holder_info", "holder=m1@1", 1);
	em_metric_clear("etcd_medic_heal_lock_holder_info");
	em_metric_set("etcd_medic_heal_lock_holder_info", "holder=m2@2", 1);
	scrape(&e);
	ck_assert_uint_eq(count(&e, "etcd_medic_heal_step"), 3);
	ck_assert(value(&e, "etcd_medic_heal_step", "step=locked") == 0);
	ck_assert(value(&e, "etcd_medic_heal_step", "step=removed") == 0);
	ck_assert(value(&e, "etcd_medic_heal_step", "step=added") == 1);
	ck_assert_uint_eq(count(&e, "etcd_medic_heal_lock_holder_info"), 1);
	ck_assert(value(&e, "etcd_medic_heal_lock_holder_info",
	                "holder=m2@2") == 1);
	/* The family stays declared (HELP, TYPE) with no series. */
	em_metric_clear("etcd_medic_heal_lock_holder_info");
	free(e.s);
	scrape(&e);
	ck_assert_uint_eq(count(&e, "etcd_medic_heal_lock_holder_info"), 0);
	ck_assert(family(&e, "etcd_medic_heal_lock_holder_info", 32)->help);
	done(&e);
}
END_TEST

#define THREADS 8
#define ROUNDS 20000

static void *writer(void *arg)
{
	static const char *const steps[] = { "step=locked", "step=removed",
		                             "step=added", "step=promoted" };
	int id = (int)(size_t)arg;

	for (int i = 0; i < ROUNDS; i++) {
		em_metric_add("etcd_medic_watch_errors_total", NULL, 1);
		em_metric_add("etcd_medic_hash_checks_total",
		              i % 2 ? "result=equal" : "result=skipped", 1);
		em_metric_set("etcd_medic_leader_raft_index", NULL, id * ROUNDS + i);
		em_metric_set_one("etcd_medic_heal_step", steps[(id + i) % 4]);
	}
	return NULL;
}

struct reader_arg {
	volatile bool stop;   /* set after the writers are joined */
	int scrapes;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	struct expo e;

	do {
		double ones = 0;

		scrape(&e);
		for (size_t i = 0; i < e.n; i++)
			if (!strcmp(e.s[i].name, "etcd_medic_heal_step"))
				ones += e.s[i].v;
		/* set_one is atomic: a render never sees two current steps. */
		ck_assert(ones <= 1);
		free(e.s);
		a->scrapes++;
	} while (!a->stop);
	return NULL;
}

START_TEST(t_concurrency)
{
	pthread_t w[THREADS], r;
	struct reader_arg ra = { false, 0 };
	struct expo e;

	init();
	ck_assert_int_eq(pthread_create(&r, NULL, reader, &ra), 0);
	for (size_t i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&w[i], NULL, writer,
		                                (void *)i), 0);
	for (size_t i = 0; i < THREADS; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&ra.stop, true, __ATOMIC_SEQ_CST);
	pthread_join(r, NULL);
	ck_assert_int_gt(ra.scrapes, 0);
	scrape(&e);
	ck_assert(value(&e, "etcd_medic_watch_errors_total", NULL) ==
	          THREADS * ROUNDS);
	ck_assert(value(&e, "etcd_medic_hash_checks_total", "result=equal") ==
	          THREADS * ROUNDS / 2);
	ck_assert(value(&e, "etcd_medic_hash_checks_total", "result=skipped") ==
	          THREADS * ROUNDS / 2);
	ck_assert(value(&e, "etcd_medic_metrics_dropped_total", NULL) == 0);
	done(&e);
}
END_TEST

START_TEST(t_reinit)
{
	struct expo e;

	init();
	em_metric_add("etcd_medic_watch_errors_total", NULL, 3);
	init();
	scrape(&e);
	ck_assert(value(&e, "etcd_medic_watch_errors_total", NULL) == 0);
	ck_assert_uint_eq(count(&e, "etcd_medic_build_info"), 1);
	done(&e);
	/* After free, updates are ignored and the exposition is empty. */
	em_metric_add("etcd_medic_watch_errors_total", NULL, 1);
	empty_exposition();
}
END_TEST

/* The parser is strict enough to be a test: it refuses what Prometheus
 * refuses. */
#define NOT_TOGETHER "# HELP x h\n# TYPE x gauge\n# HELP y h\n" \
	"# TYPE y gauge\nx{a=\"1\"} 1\ny 1\nx{a=\"2\"} 1\n"

START_TEST(t_parser_refuses)
{
	static const char *const bad_texts[] = {
		"x 1\n",                                  /* no HELP, TYPE */
		"# HELP x h\n# TYPE x gauge\nx 1",        /* no newline */
		"# HELP x h\n# TYPE x gauge\nx 1\nx 2\n", /* duplicate */
		"# HELP x h\n# TYPE x gauge\n# TYPE x gauge\nx 1\n",
		"# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n",
		"# HELP x h\n# TYPE x gauge\nx{a=\"v} 1\n",
		"# HELP x h\n# TYPE x gauge\nx{a=\"v\",a=\"w\"} 1\n",
		"# HELP x h\n# TYPE x gauge\nx one\n",
		NOT_TOGETHER,
		"# HELP x h\n# TYPE x gauge\nx 1\n# HELP x again\n",
		"# HELP x h\n# TYPE x gauges\nx 1\n",
		"# HELP x h\n# TYPE x gauge\n9x 1\n",
	};
	struct expo e;

	for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
		ck_assert_msg(!parse_expo(&e, bad_texts[i]), "accepted #%zu", i);
		free(e.s);
	}
	ck_assert(parse_expo(&e, "# HELP x h \\\\ \\n\n# TYPE x gauge\n"
	                         "x{a=\"\\\"\\n\\\\\",b=\"\"} -Inf\n"));
	ck_assert_str_eq(e.s[0].val[0], "\"\n\\");
	free(e.s);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_parser_refuses);
	tcase_add_test(tc, t_declared);
	tcase_add_test(tc, t_values);
	tcase_add_test(tc, t_escaping);
	tcase_add_test(tc, t_ignored);
	tcase_add_test(tc, t_series_limit);
	tcase_add_test(tc, t_set_one_and_clear);
	tcase_add_test(tc, t_concurrency);
	tcase_add_test(tc, t_reinit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(metrics_suite());
}
