/*
 * config.h - the sidecar's configuration: its own YAML file plus etcd's own
 * config file, which it names.
 *
 * Both files are read with libyaml.  `${VAR}` and `${VAR:-default}` are
 * expanded in every scalar of both files from the environment (POD_NAME,
 * POD_NAMESPACE, ... in a pod); an unset variable without a default is an
 * error; `$$` is a literal `$`.  An empty value (or ~, null) leaves a key at
 * its default.  Every error names the file and line: an unknown key, a wrong
 * type, a missing required key, a bad URL or duration.
 *
 * The sidecar's keys (README documents each one):
 *
 *   etcd-config: /etc/etcd/etcd.yaml      required
 *   endpoints: [URL, ...]                 required; a list or "a,b,c"
 *   listen: 127.0.0.1:8080
 *   log: {format: json|text, level: debug|info|warn|error}
 *   tls: {ca-file, cert-file, key-file}   for talking to etcd's client URLs
 *   auth: {username, password-file}
 *   heal: {enabled, quarantine-keep, quarantine-dir, journal, lock-key,
 *          lock-ttl, call-timeout, retry-timeout, promote-timeout}
 *   server: {token-file, cert-file, key-file}
 *   watch: {interval, hash-check, hash-check-interval, hash-max-keys}
 *   backup: {enabled, store, interval, cron, compression, compression-level,
 *            timeout, keep-last, keep-daily-days, restore-on-init, lock-key,
 *            spool-dir, s3: {endpoint, region, credentials-file, profile,
 *            url-style, part-size-mb, ca-file}}
 *
 * etcd's file is kept as a parsed document as well as in typed fields, so
 * that the config etcd must start with can be rendered from it with only
 * what must change overridden.
 */
#ifndef ETCD_MEDIC_CONFIG_H
#define ETCD_MEDIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "etcd-medic/error.h"
#include "etcd-medic/log.h"

/* A list of strings (URLs); owned. */
struct em_strv {
	char **v;
	size_t n;
};

struct em_tls_files {
	char *ca_file;
	char *cert_file;
	char *key_file;
	bool client_cert_auth;
	bool auto_tls;                 /* etcd's file only: self-signed certs */
};

/*
 * etcd's own config file: the keys etcd-medic reads.  A key the file leaves
 * out holds what etcd 3.4 itself uses then (initial-cluster-state "new",
 * initial-cluster-token "etcd-cluster", http://localhost:2379 and :2380 for
 * the URLs), except initial_cluster and wal_dir (NULL: not in the file).
 */
struct em_etcd_config {
	char *path;
	char *name;
	char *data_dir;
	char *wal_dir;                 /* NULL: data_dir/member/wal */
	char *initial_cluster;         /* "n1=https://...,n2=..." */
	char *initial_cluster_state;   /* "new" or "existing" */
	char *initial_cluster_token;
	struct em_strv listen_client_urls;
	struct em_strv advertise_client_urls;
	struct em_strv listen_peer_urls;
	struct em_strv initial_advertise_peer_urls;
	struct em_tls_files client_tls;  /* client-transport-security */
	struct em_tls_files peer_tls;    /* peer-transport-security */
	bool grpc_gateway;             /* enable-grpc-gateway */
	void *doc;                     /* the parsed document (yaml_document_t) */
};

struct em_heal_config {
	bool enabled;                  /* default true */
	unsigned quarantine_keep;      /* default 3 */
	char *quarantine_dir;          /* default: the data dir's parent */
	char *journal;                 /* default: <data-dir>.etcd-medic.journal */
	char *lock_key;                /* default "/etcd-medic/heal-lock" */
	unsigned lock_ttl_s;           /* default 60 */
	unsigned call_timeout_ms;      /* default 5000 */
	unsigned retry_timeout_s;      /* default 120: "unhealthy cluster" etc. */
	unsigned promote_timeout_s;    /* default 900 */
};

/* The sidecar's own HTTP server (serve). */
struct em_server_config {
	char *token_file;              /* bearer token required, if set */
	char *cert_file;               /* TLS, if set (with key_file) */
	char *key_file;
};

/* What serve watches while etcd runs (watch.h). */
struct em_watch_config {
	unsigned interval_s;           /* default 10 */
	bool hash_check;               /* default false */
	unsigned hash_check_interval_s;  /* default 3600 */
	unsigned hash_max_keys;        /* default 1000000 */
};

/* Where backups go in an S3-compatible store (store.h). */
struct em_s3_config {
	char *endpoint;                /* NULL: https://s3.<region>.amazonaws.com */
	char *region;                  /* default: $AWS_REGION, else us-east-1 */
	char *credentials_file;        /* NULL: $AWS_ACCESS_KEY_ID and friends */
	char *profile;                 /* section of that file; "default" */
	char *url_style;               /* "path", "virtual-host"; NULL: path
	                                * with an endpoint, else virtual-host */
	unsigned part_size_mb;         /* multipart part size; default 64 */
	char *ca_file;                 /* CA of a private endpoint */
};

/* Snapshots: the schedule in serve, the store, retention (backup.h). */
struct em_backup_config {
	bool enabled;                  /* default false: no schedule */
	char *store;                   /* file:///DIR or s3://BUCKET[/PREFIX] */
	unsigned interval_s;           /* default 3600 */
	char *cron;                    /* NULL: the interval */
	char *compression;             /* "zstd" (default) or "none" */
	unsigned compression_level;    /* default 3 (1-19) */
	unsigned timeout_s;            /* one snapshot, stream to commit; 3600 */
	unsigned keep_last;            /* default 24 */
	unsigned keep_daily_days;      /* default 7 */
	bool restore_on_init;          /* default true: single-member restore */
	char *lock_key;                /* default "/etcd-medic/backup-lock" */
	char *spool_dir;               /* default: the data dir's parent */
	struct em_s3_config s3;
};

struct em_config {
	char *path;
	char *etcd_config_path;
	struct em_etcd_config etcd;
	struct em_strv endpoints;
	char *listen;                  /* default "127.0.0.1:8080" */
	enum em_log_format log_format; /* default json */
	enum em_log_level log_level;   /* default info */
	struct em_tls_files tls;       /* to etcd's client URLs */
	char *username;                /* NULL: no authentication */
	char *password;                /* read from auth.password-file */
	struct em_heal_config heal;
	struct em_server_config server;
	struct em_watch_config watch;
	struct em_backup_config backup;
};

/*
 * Loads the sidecar's file at path and the etcd config file it names
 * (relative to the sidecar file's directory).  On failure cfg holds
 * nothing to free; em_config_free on it is harmless.
 */
enum em_status em_config_load(const char *path, struct em_config *cfg,
                              struct em_error *err);
void em_config_free(struct em_config *cfg);

/*
 * A secret kept in a file (a password, a bearer token, a PEM key): its
 * content, at most max bytes, without the trailing newline an editor or
 * kubectl adds.  Malloc'd; the caller frees it after explicit_bzero.
 */
char *em_config_read_secret(const char *path, size_t max,
                            struct em_error *err);

/* *slot's secret wiped and freed (NULL then), and replaced with path's. */
void em_config_drop_secret(char **slot);
enum em_status em_config_set_secret(char **slot, const char *path,
                                    size_t max, struct em_error *err);

/* Loads etcd's own config file alone (on failure, nothing to free). */
enum em_status em_etcd_config_load(const char *path,
                                   struct em_etcd_config *ec,
                                   struct em_error *err);
void em_etcd_config_free(struct em_etcd_config *ec);

/*
 * Renders the etcd config this member must start with: etcd's own file
 * (after ${VAR} expansion) with initial-cluster and initial-cluster-state
 * replaced by the given values (NULL: keep) and enable-grpc-gateway set
 * true, as YAML.  URL keys written as YAML lists become the comma-separated
 * strings etcd reads.  *out is malloc'ed.
 */
enum em_status em_etcd_config_render(const struct em_etcd_config *ec,
                                     const char *initial_cluster,
                                     const char *initial_cluster_state,
                                     char **out, struct em_error *err);

/* Parses "90", "90s", "1m30s", "500ms", "2h" into milliseconds (a bare
 * number is seconds); false if malformed or too large. */
bool em_parse_duration_ms(const char *s, unsigned long long *ms);

void em_strv_free(struct em_strv *sv);

#endif
