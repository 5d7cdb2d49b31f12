/*
 * serve_cmd.c - `etcd-medic serve --config FILE`: the sidecar.
 *
 * Loads the config, starts the sidecar (its watch) and the HTTP server,
 * then waits for SIGTERM or SIGINT.  The signals are blocked in every
 * thread and taken with sigwait here, so no handler runs inside a library
 * call of another thread.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "etcd-medic/cli.h"
#include "etcd-medic/config.h"
#include "etcd-medic/log.h"
#include "etcd-medic/metrics.h"
#include "etcd-medic/server.h"
#include "etcd-medic/sidecar.h"

static void serve_usage(FILE *out)
{
	fprintf(out,
	"usage: etcd-medic serve --config FILE [--log-format json|text]\n\n"
	"Runs the sidecar: the HTTP API the launcher in the etcd container\n"
	"asks before each start (validation, healing, the etcd config), the\n"
	"probes and the metrics, and the watch while etcd runs.  Runs until\n"
	"SIGTERM or SIGINT.\n\n"
	"  --config FILE        etcd-medic's YAML config (see README)\n"
	"  --log-format FORMAT  json (default, one object a line) or text;\n"
	"                       overrides log.format\n");
}

static int parse(int argc, char **argv, const char **config,
                 const char **format)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*config = *format = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'c') {
			*config = optarg;
		} else if (c == 'f') {
			*format = optarg;
		} else if (c == 'h') {
			serve_usage(stdout);
			return 0;
		} else {
			serve_usage(stderr);
			return EM_EXIT_USAGE;
		}
	}
	if (*config == NULL || optind < argc) {
		fprintf(stderr, "etcd-medic serve: --config FILE is required\n");
		return EM_EXIT_USAGE;
	}
	return -1;
}

/* Blocks the stop signals before any thread starts, so all inherit it. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int em_cmd_serve(int argc, char **argv)
{
	const char *path, *format;
	struct em_config cfg;
	struct em_sidecar *sc = NULL;
	struct em_server *srv = NULL;
	enum em_log_format fmt;
	struct em_error err;
	sigset_t set;
	int rc = parse(argc, argv, &path, &format), sig = 0;

	if (rc >= 0)
		return rc;
	if (format != NULL && !em_log_parse_format(format, &fmt)) {
		fprintf(stderr, "etcd-medic serve: --log-format must be json "
		        "or text\n");
		return EM_EXIT_USAGE;
	}
	em_error_clear(&err);
	if (em_config_load(path, &cfg, &err) != EM_OK) {
		fprintf(stderr, "etcd-medic serve: %s\n", err.msg);
		return EM_EXIT_USAGE;
	}
	em_log_setup(format ? fmt : cfg.log_format, cfg.log_level);
	block_signals(&set);
	/* A sidecar runs for months beside etcd: every block of 128 KiB or
	 * more (a snapshot's receive buffer, zstd's contexts, the checker's
	 * page maps) goes back to the kernel when freed.  glibc would raise
	 * this threshold after the first such free and keep 7 MiB of a
	 * finished snapshot in its heap for good. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/* Its few threads allocate little and seldom: one heap for all of
	 * them, rather than one each with its own free space kept. */
	mallopt(M_ARENA_MAX, 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = 1;
	if (em_metrics_init(EM_VERSION, &err) != EM_OK ||
	    em_sidecar_new(&cfg, &sc, &err) != EM_OK ||
	    em_server_start(&cfg, sc, &srv, &err) != EM_OK) {
		em_log(EM_LOG_ERROR, err.msg, NULL);
		goto cleanup;
	}
	em_log(EM_LOG_INFO, "etcd-medic serving", "member", cfg.etcd.name,
	       "data_dir", cfg.etcd.data_dir, "version", EM_VERSION, NULL);
	sigwait(&set, &sig);
	em_log(EM_LOG_INFO, "stopping", "signal", strsignal(sig), NULL);
	rc = 0;
cleanup:
	em_server_stop(srv);
	if (!em_sidecar_free(sc))
		return rc;   /* a run still uses cfg: the exit frees it all */
	em_metrics_free();
	curl_global_cleanup();
	em_config_free(&cfg);
	return rc;
}
