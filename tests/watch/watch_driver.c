/*
 * watch_driver.c - runs the runtime watch (src/watch.c) on one member for
 * test_watch.py, which starts the etcd clusters:
 *
 *   watch_driver CONFIG      (etcd-medic's YAML config of the member)
 *
 * then reads commands on stdin, one a line, and answers on stdout:
 *   get      the watch state, one JSON line
 *   kick     a round at once (no answer)
 *   metrics  the Prometheus exposition, then a line "# END"
 *   stop     stops the watch; answers {"stopped_ms": N} and exits 0
 * End of input stops it too.  Logs go to stderr.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "etcd-medic/config.h"
#include "etcd-medic/log.h"
#include "etcd-medic/metrics.h"
#include "etcd-medic/watch.h"

static void add_bool(json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void print_state(struct em_watch *w)
{
	struct em_watch_state s;
	json_object *o = json_object_new_object();
	char id[24];

	em_watch_get(w, &s);
	add_bool(o, "etcd_answers", s.etcd_answers);
	add_bool(o, "has_leader", s.has_leader);
	add_bool(o, "is_learner", s.is_learner);
	add_bool(o, "is_voter", s.is_voter);
	snprintf(id, sizeof(id), "%" PRIx64, s.member_id);
	add_str(o, "member_id", id);
	snprintf(id, sizeof(id), "%" PRIx64, s.leader);
	add_str(o, "leader", id);
	add_u64(o, "raft_applied_index", s.raft_applied_index);
	add_u64(o, "leader_raft_index", s.leader_raft_index);
	add_str(o, "alarms", s.alarms);
	add_bool(o, "data_dir_gone", s.data_dir_gone);
	json_object_object_add(o, "hash_check", json_object_new_int(s.hash_check));
	add_str(o, "hash_detail", s.hash_detail);
	add_u64(o, "last_run", (uint64_t)s.last_run);
	add_str(o, "last_error", s.last_error);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void print_metrics(void)
{
	char *m = em_metrics_render(NULL);

	fputs(m ? m : "", stdout);
	puts("# END");
	free(m);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void serve(struct em_watch *w)
{
	char line[64];
	struct timespec t0;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "get") == 0)
			print_state(w);
		else if (strcmp(line, "kick") == 0)
			em_watch_kick(w);
		else if (strcmp(line, "metrics") == 0)
			print_metrics();
		else if (strcmp(line, "stop") == 0)
			break;
		else
			fprintf(stderr, "watch_driver: unknown command '%s'\n",
			        line);
		fflush(stdout);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	em_watch_stop(w);
	printf("{\"stopped_ms\": %.1f}\n", ms_since(&t0));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct em_config cfg;
	struct em_watch *w = NULL;
	struct em_error err;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: watch_driver CONFIG\n");
		return 2;
	}
	em_error_clear(&err);
	if (em_config_load(argv[1], &cfg, &err) != EM_OK) {
		fprintf(stderr, "watch_driver: %s\n", err.msg);
		return 2;
	}
	em_log_setup(cfg.log_format, cfg.log_level);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (em_metrics_init(EM_VERSION, &err) != EM_OK ||
	    em_watch_start(&cfg, &w, &err) != EM_OK) {
		fprintf(stderr, "watch_driver: %s\n", err.msg);
		goto cleanup;
	}
	serve(w);
	rc = 0;
cleanup:
	em_metrics_free();
	curl_global_cleanup();
	em_config_free(&cfg);
	return rc;
}
