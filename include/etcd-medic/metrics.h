/*
 * metrics.h - the metrics registry and its Prometheus text exposition.
 *
 * One process-wide registry (with the parsed config, the only global state
 * the project allows): modules update counters and gauges by name and
 * labels as things happen; the server renders them on GET /metrics.  Every
 * update takes a mutex: updates come from the worker threads, rendering
 * from the HTTP thread.  Names and help texts are declared once, at start,
 * by em_metrics_init; an update to an undeclared name is ignored, so a typo
 * cannot make a metric appear that no one documented.
 */
#ifndef ETCD_MEDIC_METRICS_H
#define ETCD_MEDIC_METRICS_H

#include <stddef.h>

#include "etcd-medic/error.h"

enum em_metric_type {
	EM_METRIC_COUNTER,
	EM_METRIC_GAUGE,
};

/* Declares every metric etcd-medic exports (see metrics.c for the list);
 * version goes into etcd_medic_build_info.  Call once at start; a second
 * call starts the registry afresh (tests). */
enum em_status em_metrics_init(const char *version, struct em_error *err);
void em_metrics_free(void);

/*
 * labels: NULL, or "key=value,key=value" with exactly the label keys the
 * metric declares, in any order (values without commas; backslashes,
 * quotes and newlines are escaped on output).  An update with other keys
 * is dropped, as is one to an undeclared name, a counter's negative delta
 * and a set on a counter (counters only grow).  A series is created on
 * its first update; at most 256 series per metric are kept, later ones
 * are dropped.  Whatever is dropped is counted in
 * etcd_medic_metrics_dropped_total.
 */
void em_metric_add(const char *name, const char *labels, double delta);
void em_metric_set(const char *name, const char *labels, double value);

/* A state gauge (etcd_medic_heal_step, etcd_medic_init_state): the series
 * labels names is set to 1, every other series of the metric to 0. */
void em_metric_set_one(const char *name, const char *labels);

/* Removes every series of a metric: an info gauge whose label changed or
 * no longer applies (etcd_medic_heal_lock_holder_info). */
void em_metric_clear(const char *name);

/* Renders the exposition (text format 0.0.4) into a malloc'ed string. */
char *em_metrics_render(size_t *len);

#endif
