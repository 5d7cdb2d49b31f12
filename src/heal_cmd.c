/*
 * heal_cmd.c - `etcd-medic heal --config FILE`: one heal run of the local
 * member, from the command line.
 *
 * Prints on stdout the etcd config YAML this member must start with (and
 * nothing else); logs go to stderr.  Run again once etcd runs, it waits for
 * the learner to catch up and promotes it.  Exit 0 when done or nothing to
 * do, 1 when refused or failed (the journal lets the next run resume), 2 on
 * bad usage.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "etcd-medic/cli.h"
#include "etcd-medic/config.h"
#include "etcd-medic/gateway.h"
#include "etcd-medic/heal.h"
#include "etcd-medic/log.h"

static void heal_usage(FILE *out)
{
	fprintf(out,
	"usage: etcd-medic heal --config FILE [--promote]\n\n"
	"Judges this member's data dir and, if it is corrupt (or empty while\n"
	"the cluster still lists the member), replaces the member through\n"
	"etcd's learner mechanism: quorum check, cluster-wide lock, remove,\n"
	"move the data dir aside, add back as a learner.  Prints the etcd\n"
	"config YAML to start the member with.  Run it again once etcd runs:\n"
	"it waits for the learner to catch up and promotes it.\n\n"
	"  --config FILE   etcd-medic's YAML config (see README)\n"
	"  --promote       only wait for this member, a learner, to catch up\n"
	"                  and promote it (up to heal.promote-timeout), even\n"
	"                  if its etcd does not run yet\n\n"
	"exit status: 0 done or nothing to do, 1 refused or failed (see the\n"
	"log; a journal next to the data dir resumes the next run), 2 usage\n");
}

static int parse(int argc, char **argv, const char **config, int *promote)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "promote", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*config = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'c') {
			*config = optarg;
		} else if (c == 'p') {
			*promote = 1;
		} else if (c == 'h') {
			heal_usage(stdout);
			return 0;
		} else {
			heal_usage(stderr);
			return EM_EXIT_USAGE;
		}
	}
	if (*config == NULL || optind < argc) {
		fprintf(stderr, "etcd-medic heal: --config FILE is required, "
		        "and nothing else\n");
		return EM_EXIT_USAGE;
	}
	return -1;
}

static int report(const struct em_heal_result *res)
{
	const char *step = em_heal_step_name(res->step);
	const char *out = em_heal_outcome_name(res->outcome);

	switch (res->outcome) {
	case EM_HEAL_START:
		fputs(res->etcd_config, stdout);
		em_log(EM_LOG_INFO, res->reason, "outcome", out, "step", step,
		       NULL);
		return 0;
	case EM_HEAL_PROMOTED:
	case EM_HEAL_NOTHING:
		em_log(EM_LOG_INFO, res->reason, "outcome", out, NULL);
		return 0;
	case EM_HEAL_REFUSED:
	case EM_HEAL_FAILED:
		break;
	}
	em_log(EM_LOG_ERROR, res->reason, "outcome", out, "step", step,
	       NULL);
	return 1;
}

int em_cmd_heal(int argc, char **argv)
{
	struct em_config cfg;
	struct em_gw_config gc;
	struct em_gw *gw = NULL;
	struct em_heal_result res;
	struct em_error err;
	const char *path;
	int promote = 0;
	int rc = parse(argc, argv, &path, &promote);

	if (rc >= 0)
		return rc;
	em_error_clear(&err);
	if (em_config_load(path, &cfg, &err) != EM_OK) {
		fprintf(stderr, "etcd-medic heal: %s\n", err.msg);
		return EM_EXIT_USAGE;
	}
	em_log_setup(cfg.log_format, cfg.log_level);
	em_gw_config_from(&cfg, &gc);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (em_gw_new(&gc, &gw, &err) != EM_OK) {
		em_log(EM_LOG_ERROR, err.msg, NULL);
		rc = 1;
		goto cleanup;
	}
	if ((promote ? em_heal_promote(&cfg, gw, &res, &err) :
	     em_heal_run(&cfg, gw, &res, &err)) != EM_OK) {
		em_log(EM_LOG_ERROR, err.msg, NULL);
		rc = 1;
	} else {
		rc = report(&res);
	}
	em_heal_result_free(&res);
cleanup:
	em_gw_free(gw);
	curl_global_cleanup();
	em_config_free(&cfg);
	return rc;
}
