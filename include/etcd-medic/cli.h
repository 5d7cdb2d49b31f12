/*
 * cli.h - the subcommands of the etcd-medic binary.
 *
 * main() picks a subcommand by name and hands it argc/argv from the
 * subcommand's own name on.  Each returns the process exit status that
 * DESIGN.md's command table promises; only main() calls exit.
 */
#ifndef ETCD_MEDIC_CLI_H
#define ETCD_MEDIC_CLI_H

/* Exit status for bad usage, shared by all subcommands. */
#define EM_EXIT_USAGE 2

/* etcd-medic validate --data-dir DIR [--wal-dir DIR] [--mode full|sanity]
 * [--json] */
int em_cmd_validate(int argc, char **argv);

/* etcd-medic heal --config FILE */
int em_cmd_heal(int argc, char **argv);

/* etcd-medic members --endpoints URLS [--json] [TLS and auth options] */
int em_cmd_members(int argc, char **argv);

/* etcd-medic serve --config FILE [--log-format json|text] */
int em_cmd_serve(int argc, char **argv);

/* etcd-medic snapshot save|list|verify|restore ... */
int em_cmd_snapshot(int argc, char **argv);

#endif
