/*
 * main.c - the etcd-medic command line: picks a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "etcd-medic/cli.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "validate", em_cmd_validate,
	  "judge an etcd data dir: healthy, empty, corrupt, in-use, "
	  "unreadable" },
	{ "heal", em_cmd_heal,
	  "replace this member if its data is corrupt; print its etcd "
	  "config" },
	{ "members", em_cmd_members,
	  "the member list: health, leader, learner progress" },
	{ "serve", em_cmd_serve,
	  "the sidecar: HTTP API for the launcher, probes, metrics, watch" },
	{ "snapshot", em_cmd_snapshot,
	  "save, list, verify or restore verified snapshots (file://, s3://)" },
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: etcd-medic COMMAND [OPTIONS]\n"
	        "       etcd-medic --version | --help\n\n"
	        "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name,
		        commands[i].summary);
	fprintf(out, "\nRun 'etcd-medic COMMAND --help' for a command's "
	        "options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("etcd-medic %s\n", EM_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "etcd-medic: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EM_EXIT_USAGE;
}
