/*
 * metrics.c - the process-wide metrics registry and its Prometheus text
 * exposition (format 0.0.4), see include/etcd-medic/metrics.h.
 *
 * Every metric etcd-medic exports is declared in the table below, with its
 * type, its label names and its help text: the table is the documentation
 * of /metrics.  An update names a metric and gives "key=value,..." labels;
 * it is kept only if the name is declared and the label keys are exactly
 * the declared ones (a typo would otherwise make an undocumented series),
 * else it is counted in etcd_medic_metrics_dropped_total.  Series are
 * stored with their label block already rendered (escaped, in declared
 * order), which is both the lookup key and what /metrics prints.
 */
#include "etcd-medic/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 256
#define MAX_LABELS 4

struct metric_def {
	const char *name;
	enum em_metric_type type;
	const char *labels;   /* declared label names, "a,b"; NULL: none */
	const char *help;
	/* Series that exist from the start, at 0, so that rate() and
	 * absence alerts work before the first event: "k=v;k=v". */
	const char *initial;
};

#define DROPPED "etcd_medic_metrics_dropped_total"

static const struct metric_def defs[] = {
	{ "etcd_medic_build_info", EM_METRIC_GAUGE, "version",
	  "Always 1; the version label is etcd-medic's version.", NULL },
	{ "etcd_medic_validations_total", EM_METRIC_COUNTER, "mode,verdict",
	  "Data dir validations by mode (full, sanity) and verdict (healthy, "
	  "empty, corrupt, in-use, unreadable).",
	  "mode=full,verdict=healthy;mode=full,verdict=empty;"
	  "mode=full,verdict=corrupt;mode=full,verdict=in-use;"
	  "mode=full,verdict=unreadable;mode=sanity,verdict=healthy;"
	  "mode=sanity,verdict=empty;mode=sanity,verdict=corrupt;"
	  "mode=sanity,verdict=in-use;mode=sanity,verdict=unreadable" },
	{ "etcd_medic_validation_duration_seconds", EM_METRIC_GAUGE, "mode",
	  "How long the last validation of the data dir took, by mode.", NULL },
	{ "etcd_medic_heal_runs_total", EM_METRIC_COUNTER, "outcome",
	  "Heal runs by outcome: start (etcd may start), promoted, "
	  "nothing-to-do, refused (not safe now), failed.",
	  "outcome=start;outcome=promoted;outcome=nothing-to-do;"
	  "outcome=refused;outcome=failed" },
	{ "etcd_medic_heal_step", EM_METRIC_GAUGE, "step",
	  "1 for the step the current or last replacement of this member "
	  "completed, 0 for the other steps.", NULL },
	{ "etcd_medic_learner_applied_index", EM_METRIC_GAUGE, NULL,
	  "Raft applied index of this member while it is a learner catching "
	  "up (compare with etcd_medic_leader_raft_index).", NULL },
	{ "etcd_medic_leader_raft_index", EM_METRIC_GAUGE, NULL,
	  "Raft index of the leader, the yardstick of a learner's catch-up.",
	  NULL },
	{ "etcd_medic_heal_lock_held", EM_METRIC_GAUGE, NULL,
	  "1 while some member holds the cluster-wide heal lock (a "
	  "replacement is in flight), else 0.", NULL },
	{ "etcd_medic_heal_lock_holder_info", EM_METRIC_GAUGE, "holder",
	  "1, labelled with who holds the heal lock (member@unix-time); "
	  "absent when the lock is free.", NULL },
	{ "etcd_medic_member_up", EM_METRIC_GAUGE, NULL,
	  "1 when this member's etcd answers a status request on its "
	  "advertised client URL.", NULL },
	{ "etcd_medic_member_has_leader", EM_METRIC_GAUGE, NULL,
	  "1 when this member's etcd reports a leader.", NULL },
	{ "etcd_medic_member_is_learner", EM_METRIC_GAUGE, NULL,
	  "1 when the cluster lists this member as a learner (not voting).",
	  NULL },
	{ "etcd_medic_alarms", EM_METRIC_GAUGE, "alarm",
	  "Active etcd alarms in the cluster, by type (NOSPACE, CORRUPT).",
	  NULL },
	{ "etcd_medic_data_dir_gone", EM_METRIC_GAUGE, NULL,
	  "1 when the member directory was removed or replaced under the "
	  "running etcd: it writes into files its next start will not find.",
	  NULL },
	{ "etcd_medic_hash_checks_total", EM_METRIC_COUNTER, "result",
	  "Comparisons of this member's data with a peer's at one revision: "
	  "equal, divergent, error (could not compare), skipped (a learner, "
	  "no peer, compaction in between, time limit).",
	  "result=equal;result=divergent;result=error;result=skipped" },
	{ "etcd_medic_hash_divergent", EM_METRIC_GAUGE, NULL,
	  "1 when the last completed comparison found this member's data "
	  "different from a peer's at the same revision: silent corruption.",
	  NULL },
	{ "etcd_medic_watch_errors_total", EM_METRIC_COUNTER, NULL,
	  "Requests of the runtime watch that failed (etcd or a peer did "
	  "not answer, or answered an error).", "" },
	{ "etcd_medic_watch_last_run_timestamp_seconds", EM_METRIC_GAUGE, NULL,
	  "Unix time of the runtime watch's last round.", NULL },
	{ "etcd_medic_init_state", EM_METRIC_GAUGE, "state",
	  "1 for the initialization state the sidecar is in (New, Progress, "
	  "Successful, Failed), 0 for the others.", NULL },
	{ "etcd_medic_backups_total", EM_METRIC_COUNTER, "result",
	  "Snapshots this sidecar took (ok) or failed to take (failed), on "
	  "the schedule or on request.", "result=ok;result=failed" },
	{ "etcd_medic_backup_last_success_timestamp_seconds", EM_METRIC_GAUGE,
	  NULL, "Unix time of the last snapshot this sidecar stored.", NULL },
	{ "etcd_medic_backup_last_duration_seconds", EM_METRIC_GAUGE, NULL,
	  "How long the last stored snapshot took, stream to commit.", NULL },
	{ "etcd_medic_backup_last_size_bytes", EM_METRIC_GAUGE, "kind",
	  "Size of the last stored snapshot: the db (kind=db) and the object "
	  "in the store (kind=stored, compressed).", NULL },
	{ "etcd_medic_backup_last_revision", EM_METRIC_GAUGE, NULL,
	  "etcd revision the last stored snapshot holds.", NULL },
	{ "etcd_medic_backup_retention_deleted_total", EM_METRIC_COUNTER, NULL,
	  "Snapshots removed from the store by retention.", "" },
	{ DROPPED, EM_METRIC_COUNTER, NULL,
	  "Metric updates dropped: over 256 series of one "
	  "metric, an undeclared metric, labels that do not match the "
	  "declaration, a counter set or decreased.", "" },
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

struct series {
	char *labels;         /* rendered: k="v",k="v"; "" for none */
	double value;
};

struct metric {
	struct series *series;   /* MAX_SERIES slots, allocated at init */
	size_t n;
};

/* The registry: the one piece of mutable global state besides the parsed
 * config; everything in it is guarded by mu. */
static struct {
	pthread_mutex_t mu;
	bool ready;
	struct metric m[N_DEFS];
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- a growing string ------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_grow(struct sbuf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->failed || b->len + more < b->cap)
		return;
	while (cap <= b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n + 1);
	if (b->failed)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

/* Appends s with \ and newline escaped, and " too if quotes is set (help
 * texts escape only the first two, label values all three). */
static void sb_escaped(struct sbuf *b, const char *s, size_t n, bool quotes)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			sb_puts(b, "\\\\");
		else if (s[i] == '\n')
			sb_puts(b, "\\n");
		else if (s[i] == '"' && quotes)
			sb_puts(b, "\\\"");
		else
			sb_putn(b, &s[i], 1);
	}
}

/* ---- names and labels ------------------------------------------------- */

static bool name_ok(const char *s, size_t n, bool colon)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || (colon && c == ':')))
			return false;
	}
	return true;
}

/* Splits a declared "a,b" list of label names. */
static size_t declared_labels(const struct metric_def *d,
                              const char *names[MAX_LABELS],
                              size_t lens[MAX_LABELS])
{
	const char *s = d->labels;
	size_t n = 0;

	while (s != NULL && *s != '\0' && n < MAX_LABELS) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		names[n] = s;
		lens[n++] = len;
		s = comma ? comma + 1 : NULL;
	}
	return n;
}

/*
 * Renders "k=v,k=v" (any order) into the label block k="v",k="v" in the
 * declared order; false (and nothing kept) unless the keys are exactly
 * the declared ones.
 */
static bool render_labels(const struct metric_def *d, const char *in,
                          struct sbuf *out)
{
	const char *names[MAX_LABELS], *vals[MAX_LABELS] = { NULL };
	size_t lens[MAX_LABELS], vlens[MAX_LABELS] = { 0 };
	size_t n = declared_labels(d, names, lens), got = 0;
	const char *s = in;

	while (s != NULL && *s != '\0') {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		size_t k, klen = eq ? (size_t)(eq - s) : 0;

		for (k = 0; eq != NULL && k < n; k++)
			if (lens[k] == klen && memcmp(names[k], s, klen) == 0)
				break;
		if (eq == NULL || k == n || vals[k] != NULL)
			return false;
		vals[k] = eq + 1;
		vlens[k] = len - klen - 1;
		got++;
		s = comma ? comma + 1 : NULL;
	}
	if (got != n)
		return false;
	sb_puts(out, "");
	for (size_t k = 0; k < n; k++) {
		if (k > 0)
			sb_puts(out, ",");
		sb_putn(out, names[k], lens[k]);
		sb_puts(out, "=\"");
		sb_escaped(out, vals[k], vlens[k], true);
		sb_puts(out, "\"");
	}
	return !out->failed;
}

static const struct metric_def *find(const char *name, size_t *idx)
{
	for (size_t i = 0; name != NULL && i < N_DEFS; i++) {
		if (strcmp(defs[i].name, name) == 0) {
			*idx = i;
			return &defs[i];
		}
	}
	return NULL;
}

/* ---- series (called with reg.mu held) --------------------------------- */

static void count_dropped(void)
{
	size_t i;

	if (find(DROPPED, &i) != NULL && reg.m[i].n > 0)
		reg.m[i].series[0].value += 1;
}

/* The series of metric i with this rendered label block, created at 0 if
 * there is room; NULL (counted as dropped) if there is not. */
static struct series *series_get(size_t i, char *labels)
{
	struct metric *m = &reg.m[i];

	for (size_t k = 0; k < m->n; k++)
		if (strcmp(m->series[k].labels, labels) == 0) {
			free(labels);
			return &m->series[k];
		}
	if (m->n == MAX_SERIES) {
		free(labels);
		count_dropped();
		return NULL;
	}
	m->series[m->n].labels = labels;
	m->series[m->n].value = 0;
	return &m->series[m->n++];
}

/* Finds the declared metric and the series an update names; NULL if the
 * update is to be ignored.  *def gets the declaration. */
static struct series *lookup(const char *name, const char *labels,
                             const struct metric_def **def)
{
	struct sbuf b = { 0 };
	size_t i;

	*def = find(name, &i);
	if (!reg.ready)
		return NULL;
	if (*def == NULL) {
		count_dropped();
		return NULL;
	}
	if (!render_labels(*def, labels, &b)) {
		free(b.p);
		count_dropped();
		return NULL;
	}
	return series_get(i, b.p);
}

void em_metric_add(const char *name, const char *labels, double delta)
{
	const struct metric_def *d;
	struct series *s;

	pthread_mutex_lock(&reg.mu);
	s = lookup(name, labels, &d);
	if (s != NULL && d->type == EM_METRIC_COUNTER && !(delta >= 0))
		count_dropped();
	else if (s != NULL)
		s->value += delta;
	pthread_mutex_unlock(&reg.mu);
}

void em_metric_set(const char *name, const char *labels, double value)
{
	const struct metric_def *d;
	struct series *s;

	pthread_mutex_lock(&reg.mu);
	s = lookup(name, labels, &d);
	/* A counter only grows: set is for gauges. */
	if (s != NULL && d->type == EM_METRIC_COUNTER)
		count_dropped();
	else if (s != NULL)
		s->value = value;
	pthread_mutex_unlock(&reg.mu);
}

void em_metric_set_one(const char *name, const char *labels)
{
	const struct metric_def *d;
	struct series *s;
	size_t i;

	pthread_mutex_lock(&reg.mu);
	s = lookup(name, labels, &d);
	if (s != NULL && d->type == EM_METRIC_GAUGE && find(name, &i)) {
		for (size_t k = 0; k < reg.m[i].n; k++)
			reg.m[i].series[k].value = 0;
		s->value = 1;
	} else if (s != NULL) {
		count_dropped();
	}
	pthread_mutex_unlock(&reg.mu);
}

void em_metric_clear(const char *name)
{
	size_t i;

	pthread_mutex_lock(&reg.mu);
	if (reg.ready && find(name, &i) != NULL) {
		for (size_t k = 0; k < reg.m[i].n; k++)
			free(reg.m[i].series[k].labels);
		reg.m[i].n = 0;
	}
	pthread_mutex_unlock(&reg.mu);
}

/* ---- declaration ------------------------------------------------------ */

/* The table is code: a malformed entry is a bug, reported at start. */
static enum em_status def_check(const struct metric_def *d,
                                struct em_error *err)
{
	const char *names[MAX_LABELS];
	size_t lens[MAX_LABELS], n = declared_labels(d, names, lens);
	size_t len = strlen(d->name);

	if (!name_ok(d->name, len, true))
		return em_error_set(err, EM_EUSAGE, "metric name '%s' is not "
		                    "a Prometheus name", d->name);
	if (d->type == EM_METRIC_COUNTER &&
	    (len < 6 || strcmp(d->name + len - 6, "_total") != 0))
		return em_error_set(err, EM_EUSAGE, "counter '%s' does not end "
		                    "in _total", d->name);
	for (size_t k = 0; k < n; k++)
		if (!name_ok(names[k], lens[k], false) ||
		    (lens[k] >= 2 && memcmp(names[k], "__", 2) == 0))
			return em_error_set(err, EM_EUSAGE, "metric '%s' has a "
			                    "bad label name", d->name);
	return EM_OK;
}

/* Creates the series an entry declares as initial ("k=v;k=v", or "" for
 * the one series of an unlabelled metric). */
static enum em_status def_initial(size_t i, struct em_error *err)
{
	const char *s = defs[i].initial;

	while (s != NULL) {
		const char *semi = strchr(s, ';');
		size_t len = semi ? (size_t)(semi - s) : strlen(s);
		char *one = strndup(s, len);
		struct sbuf b = { 0 };
		bool ok = one != NULL && render_labels(&defs[i], one, &b);

		free(one);
		if (!ok || series_get(i, b.p) == NULL) {
			if (!ok)
				free(b.p);
			return em_error_set(err, EM_EUSAGE, "metric '%s': bad "
			                    "initial series '%.*s'", defs[i].name,
			                    (int)len, s);
		}
		s = semi ? semi + 1 : NULL;
	}
	return EM_OK;
}

static void free_locked(void)
{
	for (size_t i = 0; i < N_DEFS; i++) {
		for (size_t k = 0; k < reg.m[i].n; k++)
			free(reg.m[i].series[k].labels);
		free(reg.m[i].series);
		reg.m[i].series = NULL;
		reg.m[i].n = 0;
	}
	reg.ready = false;
}

static enum em_status init_locked(const char *version, struct em_error *err)
{
	char labels[128];
	struct series *s;
	struct sbuf b = { 0 };
	size_t i;

	for (i = 0; i < N_DEFS; i++) {
		if (def_check(&defs[i], err) != EM_OK)
			return err->status;
		reg.m[i].series = calloc(MAX_SERIES, sizeof(struct series));
		if (reg.m[i].series == NULL)
			return em_error_set(err, EM_ENOMEM, "out of memory");
	}
	for (i = 0; i < N_DEFS; i++)
		if (def_initial(i, err) != EM_OK)
			return err->status;
	reg.ready = true;
	snprintf(labels, sizeof(labels), "version=%s", version ? version : "");
	find("etcd_medic_build_info", &i);
	if (!render_labels(&defs[i], labels, &b)) {
		free(b.p);
		return em_error_set(err, EM_EUSAGE, "bad version '%s'", version);
	}
	s = series_get(i, b.p);   /* there is room: build_info is new */
	if (s != NULL)
		s->value = 1;
	return EM_OK;
}

enum em_status em_metrics_init(const char *version, struct em_error *err)
{
	enum em_status st;

	pthread_mutex_lock(&reg.mu);
	free_locked();
	st = init_locked(version, err);
	if (st != EM_OK)
		free_locked();
	pthread_mutex_unlock(&reg.mu);
	return st;
}

void em_metrics_free(void)
{
	pthread_mutex_lock(&reg.mu);
	free_locked();
	pthread_mutex_unlock(&reg.mu);
}

/* ---- exposition ------------------------------------------------------- */

/* The shortest text that reads back as the same double (as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) would print it, roughly). */
static void format_value(double v, char buf[40])
{
	if (isnan(v)) {
		strcpy(buf, "NaN");
	} else if (isinf(v)) {
		strcpy(buf, v > 0 ? "+Inf" : "-Inf");
	} else if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		snprintf(buf, 40, "%.0f", v);
	} else {
		for (int p = 15; p <= 17; p++) {
			snprintf(buf, 40, "%.*g", p, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
}

static void render_metric(struct sbuf *b, size_t i)
{
	const struct metric_def *d = &defs[i];
	char val[40];

	sb_puts(b, "# HELP ");
	sb_puts(b, d->name);
	sb_puts(b, " ");
	sb_escaped(b, d->help, strlen(d->help), false);
	sb_puts(b, "\n# TYPE ");
	sb_puts(b, d->name);
	sb_puts(b, d->type == EM_METRIC_COUNTER ? " counter\n" : " gauge\n");
	for (size_t k = 0; k < reg.m[i].n; k++) {
		const struct series *s = &reg.m[i].series[k];

		sb_puts(b, d->name);
		if (s->labels[0] != '\0') {
			sb_puts(b, "{");
			sb_puts(b, s->labels);
			sb_puts(b, "}");
		}
		format_value(s->value, val);
		sb_puts(b, " ");
		sb_puts(b, val);
		sb_puts(b, "\n");
	}
}

char *em_metrics_render(size_t *len)
{
	struct sbuf b = { 0 };

	sb_puts(&b, "");
	pthread_mutex_lock(&reg.mu);
	for (size_t i = 0; reg.ready && i < N_DEFS; i++)
		render_metric(&b, i);
	pthread_mutex_unlock(&reg.mu);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.p;
}
