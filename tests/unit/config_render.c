/*
 * config_render.c - test helper: loads an etcd config file as etcd-medic
 * does and prints em_etcd_config_render's output, so that a script can
 * start the real etcd with it (config_etcd.sh).
 *
 * usage: config_render ETCD_YAML [INITIAL_CLUSTER|-] [new|existing|-]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/config.h"

static const char *arg(int argc, char **argv, int i)
{
	return i < argc && strcmp(argv[i], "-") != 0 ? argv[i] : NULL;
}

int main(int argc, char **argv)
{
	struct em_etcd_config ec;
	struct em_error err;
	char *out = NULL;
	int rc = 1;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s ETCD_YAML [INITIAL_CLUSTER|-] "
		        "[new|existing|-]\n", argv[0]);
		return 2;
	}
	if (em_etcd_config_load(argv[1], &ec, &err) != EM_OK) {
		fprintf(stderr, "config_render: %s\n", err.msg);
		return 1;
	}
	if (em_etcd_config_render(&ec, arg(argc, argv, 2), arg(argc, argv, 3),
	                          &out, &err) != EM_OK)
		fprintf(stderr, "config_render: %s\n", err.msg);
	else if (fputs(out, stdout) != EOF && fflush(stdout) == 0)
		rc = 0;
	free(out);
	em_etcd_config_free(&ec);
	return rc;
}
