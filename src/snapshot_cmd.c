/*
 * snapshot_cmd.c - `etcd-medic snapshot save|list|verify|restore`: verified
 * snapshots into a store, what a store holds, the full re-check, and a new
 * data dir from the newest verified snapshot (or a file).
 *
 * Everything asked for goes to stdout (a manifest, a listing, results);
 * logs go to stderr.  Exit 0 ok, 1 failed (or, for verify, a snapshot that
 * fails its check), 2 bad usage.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "etcd-medic/backup.h"
#include "etcd-medic/cli.h"
#include "etcd-medic/config.h"
#include "etcd-medic/gateway.h"
#include "etcd-medic/log.h"

#define MAX_ENDPOINTS 16

struct snap_opts {
	const char *sub;
	char *endpoints[MAX_ENDPOINTS];
	size_t n;
	char *list;                    /* strdup of --endpoints, split */
	struct em_gw_config gc;
	char *password;                /* from --password-file */
	struct em_s3_config s3;
	struct em_backup_opts bo;
	struct em_restore_opts ro;
	const char *store;             /* --to / --from */
	const char *id;
	unsigned keep_last, keep_days;
	bool retain;
	bool json;
};

static void usage(FILE *out)
{
	fprintf(out,
	"usage: etcd-medic snapshot save --endpoints URLS --to STORE [options]\n"
	"       etcd-medic snapshot list --from STORE [--json]\n"
	"       etcd-medic snapshot verify --from STORE [--id ID] [--json]\n"
	"       etcd-medic snapshot restore --from STORE|FILE --data-dir DIR\n"
	"                  --name NAME --initial-cluster CLUSTER\n"
	"                  --initial-advertise-peer-urls URLS\n"
	"                  [--initial-cluster-token TOKEN] [--id ID]\n\n"
	"STORE is file:///DIR or s3://BUCKET[/PREFIX].\n\n"
	"save:    --compression zstd|none (zstd)  --level N (3)\n"
	"         --timeout DUR (1h)  --keep-last N --keep-daily-days D\n"
	"         (retention after the save)  --json (print the manifest)\n"
	"etcd:    --cacert F --cert F --key F --user NAME --password-file F\n"
	"S3:      --s3-endpoint URL --s3-region R --s3-credentials-file F\n"
	"         --s3-profile P --s3-url-style path|virtual-host\n"
	"         --s3-part-size-mb N --s3-ca-file F (else AWS_* variables)\n"
	"all:     --spool-dir DIR (where snapshots are written and checked;\n"
	"         a file:// store's own directory, else $TMPDIR)\n");
}

enum {
	O_ENDPOINTS = 256, O_TO, O_FROM, O_CACERT, O_CERT, O_KEY, O_USER,
	O_PASSWORD_FILE, O_COMPRESSION, O_LEVEL, O_TIMEOUT, O_KEEP_LAST,
	O_KEEP_DAYS, O_JSON, O_SPOOL, O_ID, O_DATA_DIR, O_NAME, O_CLUSTER,
	O_PEER_URLS, O_TOKEN, O_S3_ENDPOINT, O_S3_REGION, O_S3_CREDS,
	O_S3_PROFILE, O_S3_STYLE, O_S3_PART, O_S3_CA, O_HELP,
};

static const struct option longopts[] = {
	{ "endpoints", required_argument, NULL, O_ENDPOINTS },
	{ "to", required_argument, NULL, O_TO },
	{ "from", required_argument, NULL, O_FROM },
	{ "cacert", required_argument, NULL, O_CACERT },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "user", required_argument, NULL, O_USER },
	{ "password-file", required_argument, NULL, O_PASSWORD_FILE },
	{ "compression", required_argument, NULL, O_COMPRESSION },
	{ "level", required_argument, NULL, O_LEVEL },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "keep-last", required_argument, NULL, O_KEEP_LAST },
	{ "keep-daily-days", required_argument, NULL, O_KEEP_DAYS },
	{ "json", no_argument, NULL, O_JSON },
	{ "spool-dir", required_argument, NULL, O_SPOOL },
	{ "id", required_argument, NULL, O_ID },
	{ "data-dir", required_argument, NULL, O_DATA_DIR },
	{ "name", required_argument, NULL, O_NAME },
	{ "initial-cluster", required_argument, NULL, O_CLUSTER },
	{ "initial-advertise-peer-urls", required_argument, NULL, O_PEER_URLS },
	{ "initial-cluster-token", required_argument, NULL, O_TOKEN },
	{ "s3-endpoint", required_argument, NULL, O_S3_ENDPOINT },
	{ "s3-region", required_argument, NULL, O_S3_REGION },
	{ "s3-credentials-file", required_argument, NULL, O_S3_CREDS },
	{ "s3-profile", required_argument, NULL, O_S3_PROFILE },
	{ "s3-url-style", required_argument, NULL, O_S3_STYLE },
	{ "s3-part-size-mb", required_argument, NULL, O_S3_PART },
	{ "s3-ca-file", required_argument, NULL, O_S3_CA },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static bool split_endpoints(struct snap_opts *o, const char *arg)
{
	char *save = NULL, *tok;

	free(o->list);
	o->list = strdup(arg);
	o->n = 0;
	if (o->list == NULL)
		return false;
	for (tok = strtok_r(o->list, ",", &save); tok && o->n < MAX_ENDPOINTS;
	     tok = strtok_r(NULL, ",", &save))
		o->endpoints[o->n++] = tok;
	return o->n > 0;
}

static bool read_password(struct snap_opts *o, const char *path)
{
	struct em_error err;

	if (em_config_set_secret(&o->password, path, 4096, &err) != EM_OK) {
		fprintf(stderr, "etcd-medic: %s\n", err.msg);
		return false;
	}
	o->gc.password = o->password;
	return true;
}

static bool parse_uint_arg(const char *s, unsigned lo, unsigned hi,
                           unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Options about etcd and the store; false on a bad value. */
static bool option(struct snap_opts *o, int c, const char *arg)
{
	unsigned long long ms;
	unsigned u;

	switch (c) {
	case O_ENDPOINTS: return split_endpoints(o, arg);
	case O_TO: case O_FROM: o->store = arg; return true;
	case O_CACERT: o->gc.ca_file = arg; return true;
	case O_CERT: o->gc.cert_file = arg; return true;
	case O_KEY: o->gc.key_file = arg; return true;
	case O_USER: o->gc.username = arg; return true;
	case O_PASSWORD_FILE: return read_password(o, arg);
	case O_COMPRESSION:
		o->bo.compress = strcmp(arg, "zstd") == 0;
		return o->bo.compress || strcmp(arg, "none") == 0;
	case O_LEVEL:
		if (!parse_uint_arg(arg, 1, 19, &u))
			return false;
		o->bo.level = (int)u;
		return true;
	case O_TIMEOUT:
		if (!em_parse_duration_ms(arg, &ms) || ms < 1000)
			return false;
		o->bo.timeout_s = (unsigned)(ms / 1000);
		return true;
	case O_KEEP_LAST:
		o->retain = true;
		return parse_uint_arg(arg, 1, 1000000, &o->keep_last);
	case O_KEEP_DAYS:
		o->retain = true;
		return parse_uint_arg(arg, 0, 100000, &o->keep_days);
	case O_JSON: o->json = true; return true;
	case O_SPOOL: o->bo.spool_dir = arg; return true;
	case O_ID: o->id = arg; return true;
	case O_DATA_DIR: o->ro.data_dir = arg; return true;
	case O_NAME: o->ro.name = arg; return true;
	case O_CLUSTER: o->ro.initial_cluster = arg; return true;
	case O_PEER_URLS: o->ro.initial_advertise_peer_urls = arg; return true;
	case O_TOKEN: o->ro.initial_cluster_token = arg; return true;
	case O_S3_ENDPOINT: o->s3.endpoint = (char *)arg; return true;
	case O_S3_REGION: o->s3.region = (char *)arg; return true;
	case O_S3_CREDS: o->s3.credentials_file = (char *)arg; return true;
	case O_S3_PROFILE: o->s3.profile = (char *)arg; return true;
	case O_S3_STYLE:
		o->s3.url_style = (char *)arg;
		return strcmp(arg, "path") == 0 ||
		       strcmp(arg, "virtual-host") == 0;
	case O_S3_PART:
		return parse_uint_arg(arg, 5, 5 * 1024, &o->s3.part_size_mb);
	case O_S3_CA: o->s3.ca_file = (char *)arg; return true;
	default: return false;
	}
}

/* -1: go on; else the exit status. */
static int parse(int argc, char **argv, struct snap_opts *o)
{
	int c;

	o->bo.compress = true;
	o->bo.level = 3;
	o->bo.timeout_s = 3600;
	o->keep_last = 24;
	o->keep_days = 7;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == O_HELP) {
			usage(stdout);
			return 0;
		}
		if (!option(o, c, optarg)) {
			fprintf(stderr, "etcd-medic snapshot %s: bad option or "
			        "value (%s)\n", o->sub, optarg ? optarg : "");
			return EM_EXIT_USAGE;
		}
	}
	if (optind < argc || o->store == NULL) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	o->bo.store = o->store;
	o->bo.s3 = &o->s3;
	o->gc.endpoints = (const char *const *)o->endpoints;
	o->gc.n_endpoints = o->n;
	return -1;
}

/* ---- the subcommands -------------------------------------------------------- */

static void print_manifest(const struct em_manifest *m, bool json)
{
	if (json) {
		printf("{\"id\":\"%s\",\"revision\":%" PRIu64 ",\"db_size\":%"
		       PRIu64 ",\"object\":\"%s\",\"object_size\":%" PRIu64
		       ",\"compression\":\"%s\",\"db_sha256\":\"%s\","
		       "\"object_sha256\":\"%s\",\"etcd_version\":\"%s\","
		       "\"cluster_id\":\"%s\",\"member_id\":\"%s\","
		       "\"created\":\"%s\",\"duration_seconds\":%.3f}\n",
		       m->id, m->revision, m->db_size, m->object,
		       m->object_size, m->compression, m->db_sha256,
		       m->object_sha256, m->etcd_version, m->cluster_id,
		       m->member_id, m->created, m->duration_s);
		return;
	}
	printf("%s revision %" PRIu64 ", db %" PRIu64 " bytes, stored %"
	       PRIu64 " bytes (%s), %.2f s\n", m->id, m->revision, m->db_size,
	       m->object_size, m->compression, m->duration_s);
}

static int cmd_save(struct snap_opts *o)
{
	struct em_manifest m;
	struct em_error err;
	struct em_gw *gw = NULL;
	struct em_store *st = NULL;
	struct timeval tv;
	size_t gone = 0;

	if (o->n == 0) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	if (em_gw_new(&o->gc, &gw, &err) != EM_OK ||
	    em_backup_save(gw, (const char *const *)o->endpoints, o->n, &o->bo,
	                   &m, &err) != EM_OK) {
		em_log(EM_LOG_ERROR, "snapshot save failed", "error", err.msg,
		       NULL);
		em_gw_free(gw);
		return 1;
	}
	em_gw_free(gw);
	em_log(EM_LOG_INFO, "snapshot saved", "snapshot", m.id, "store",
	       o->store, NULL);
	print_manifest(&m, o->json);
	if (!o->retain)
		return 0;
	gettimeofday(&tv, NULL);
	if (em_store_open(o->store, &(struct em_store_opts){ &o->s3, 0, 0 },
	                  &st, &err) != EM_OK ||
	    em_backup_retain(st, o->keep_last, o->keep_days,
	                     (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
	                     &gone, &err) != EM_OK) {
		em_log(EM_LOG_ERROR, "retention failed", "error", err.msg, NULL);
		em_store_free(st);
		return 1;
	}
	em_store_free(st);
	return 0;
}

static void print_entry(const struct em_snap_entry *e, bool json,
                        const char *checked)
{
	if (json) {
		printf("{\"id\":\"%s\",\"state\":\"%s\",\"revision\":%" PRIu64
		       ",\"db_size\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
		       ",\"compression\":\"%s\",\"created\":\"%s\","
		       "\"problem\":\"%s\"%s%s%s}\n", e->m.id,
		       em_snap_state_name(e->state), e->m.revision,
		       e->m.db_size, e->stored_bytes, e->m.compression,
		       e->m.created, e->problem, checked ? ",\"verified\":\""
		       : "", checked ? checked : "", checked ? "\"" : "");
		return;
	}
	printf("%-22s %-10s rev %-10" PRIu64 " db %-12" PRIu64 " stored %-12"
	       PRIu64 " %s%s%s\n", e->m.id, checked ? checked
	       : em_snap_state_name(e->state), e->m.revision, e->m.db_size,
	       e->stored_bytes, e->m.compression, e->problem[0] ? "  " : "",
	       e->problem);
}

static int open_list(struct snap_opts *o, struct em_store **st,
                     struct em_catalog *c)
{
	struct em_store_opts so = { &o->s3, 0, 0 };
	struct em_error err;

	if (em_store_open(o->store, &so, st, &err) != EM_OK ||
	    em_backup_list(*st, c, &err) != EM_OK) {
		em_log(EM_LOG_ERROR, "cannot list the store", "store", o->store,
		       "error", err.msg, NULL);
		em_store_free(*st);
		*st = NULL;
		return 1;
	}
	return 0;
}

static int cmd_list(struct snap_opts *o)
{
	struct em_store *st = NULL;
	struct em_catalog c;

	if (open_list(o, &st, &c) != 0)
		return 1;
	for (size_t i = 0; i < c.n; i++)
		print_entry(&c.v[i], o->json, NULL);
	em_catalog_free(&c);
	em_store_free(st);
	return 0;
}

static int cmd_verify(struct snap_opts *o)
{
	struct em_store *st = NULL;
	struct em_catalog c;
	struct em_error err;
	int bad = 0, seen = 0;

	if (open_list(o, &st, &c) != 0)
		return 1;
	for (size_t i = 0; i < c.n; i++) {
		struct em_snap_entry *e = &c.v[i];

		if (o->id != NULL && strcmp(o->id, e->m.id) != 0)
			continue;
		seen++;
		if (e->state == EM_SNAP_OK &&
		    em_backup_verify(st, o->bo.spool_dir, &e->m, false, NULL,
		                     &err) != EM_OK) {
			e->state = EM_SNAP_DAMAGED;
			snprintf(e->problem, sizeof(e->problem), "%.250s",
			         err.msg);
		}
		bad += e->state == EM_SNAP_DAMAGED;
		print_entry(e, o->json, e->state == EM_SNAP_OK ? "verified"
		            : em_snap_state_name(e->state));
	}
	em_catalog_free(&c);
	em_store_free(st);
	if (o->id != NULL && seen == 0) {
		em_log(EM_LOG_ERROR, "no such snapshot", "id", o->id, NULL);
		return 1;
	}
	return bad ? 1 : 0;
}

/* The existing directory that holds path. */
static bool parent_of(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(out, size, ".");
	else if (slash == path)
		snprintf(out, size, "/");
	else
		snprintf(out, size, "%.*s", (int)(slash - path), path);
	return access(out, W_OK | X_OK) == 0;
}

static bool is_store_url(const char *s)
{
	return strncmp(s, "file://", 7) == 0 || strncmp(s, "s3://", 5) == 0;
}

/* The snapshot to restore: the newest verified one, or --id's. */
static enum em_status fetch(struct snap_opts *o, struct em_store *st,
                            char **path, struct em_error *err)
{
	struct em_manifest m;
	struct em_catalog c;
	enum em_status rc;

	if (o->id == NULL)
		return em_backup_fetch_newest(st, o->bo.spool_dir, &m, path,
		                              err);
	rc = em_backup_list(st, &c, err);
	if (rc != EM_OK)
		return rc;
	rc = em_error_set(err, EM_ENOENT, "no snapshot %s in %s", o->id,
	                  o->store);
	for (size_t i = 0; i < c.n; i++)
		if (strcmp(c.v[i].m.id, o->id) == 0 &&
		    c.v[i].state == EM_SNAP_OK)
			rc = em_backup_verify(st, o->bo.spool_dir, &c.v[i].m,
			                      true, path, err);
	em_catalog_free(&c);
	return rc;
}

static int cmd_restore(struct snap_opts *o)
{
	struct em_store_opts so = { &o->s3, 0, 0 };
	struct em_store *st = NULL;
	struct em_error err;
	char *path = NULL, spool[4096];
	enum em_status rc;

	if (o->ro.data_dir == NULL || o->ro.name == NULL ||
	    o->ro.initial_cluster == NULL ||
	    o->ro.initial_advertise_peer_urls == NULL) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	/* By default the snapshot is fetched beside the data dir: that
	 * volume is the one sized for a db. */
	if (o->bo.spool_dir == NULL && parent_of(o->ro.data_dir, spool,
	                                         sizeof(spool)))
		o->bo.spool_dir = spool;
	if (is_store_url(o->store)) {
		rc = em_store_open(o->store, &so, &st, &err);
		if (rc == EM_OK)
			rc = fetch(o, st, &path, &err);
		o->ro.snapshot = path;
	} else {
		/* A file: etcd's tool checks its appended hash itself. */
		o->ro.snapshot = o->store;
		rc = EM_OK;
	}
	if (rc == EM_OK)
		rc = em_backup_restore(&o->ro, &err);
	if (path != NULL) {
		unlink(path);
		free(path);
	}
	em_store_free(st);
	if (rc != EM_OK) {
		em_log(EM_LOG_ERROR, "snapshot restore failed", "error", err.msg,
		       NULL);
		return 1;
	}
	printf("%s\n", o->ro.data_dir);
	return 0;
}

int em_cmd_snapshot(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct snap_opts *o);
	} subs[] = {
		{ "save", cmd_save }, { "list", cmd_list },
		{ "verify", cmd_verify }, { "restore", cmd_restore },
	};
	struct snap_opts o;
	int rc = EM_EXIT_USAGE;

	memset(&o, 0, sizeof(o));
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	                  strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < sizeof(subs) / sizeof(subs[0]);
	     i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		o.sub = subs[i].name;
		rc = parse(argc - 1, argv + 1, &o);
		if (rc < 0) {
			curl_global_init(CURL_GLOBAL_DEFAULT);
			rc = subs[i].run(&o);
			curl_global_cleanup();
		}
		free(o.list);
		em_config_drop_secret(&o.password);
		return rc;
	}
	usage(stderr);
	return EM_EXIT_USAGE;
}
