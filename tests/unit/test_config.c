/*
 * test_config.c - the sidecar's config file and etcd's own: good files,
 * every kind of error with its file:line, ${VAR} expansion, durations,
 * defaults, rendering etcd's file and reading the result back, and input
 * that is not a config at all (which must fail cleanly, never crash).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd-medic/config.h"

#include "testutil.h"

#define ETCD_MIN "name: m1\ndata-dir: /var/lib/etcd/m1\n"

/* A temp dir with etcd.yaml (etcd_text) and medic.yaml (text). */
struct fx {
	char *dir;
	char path[512];
	char etcd_path[512];
	struct em_config cfg;
	struct em_etcd_config ec;
	struct em_error err;
};

static void fx_init(struct fx *f, const char *etcd_text, const char *text)
{
	memset(f, 0, sizeof(*f));
	f->dir = tu_tmpdir("test_config");
	snprintf(f->path, sizeof(f->path), "%s/medic.yaml", f->dir);
	snprintf(f->etcd_path, sizeof(f->etcd_path), "%s/etcd.yaml", f->dir);
	if (etcd_text != NULL)
		tu_write_file(f->dir, "etcd.yaml", etcd_text, strlen(etcd_text));
	if (text != NULL)
		tu_write_file(f->dir, "medic.yaml", text, strlen(text));
}

static void fx_done(struct fx *f)
{
	em_config_free(&f->cfg);
	em_etcd_config_free(&f->ec);
	tu_rmdir(f->dir);
	free(f->dir);
}

static enum em_status fx_load(struct fx *f)
{
	return em_config_load(f->path, &f->cfg, &f->err);
}

static enum em_status fx_load_etcd(struct fx *f)
{
	return em_etcd_config_load(f->etcd_path, &f->ec, &f->err);
}

/* The message holds want, and "<file>:<line>" followed by a non-digit. */
static void assert_msg_at(const struct fx *f, const char *want,
                          const char *file, unsigned line)
{
	char at[600];
	const char *p;

	ck_assert_msg(strstr(f->err.msg, want) != NULL,
	              "message '%s' lacks '%s'", f->err.msg, want);
	snprintf(at, sizeof(at), "%s:%u", file, line);
	p = strstr(f->err.msg, at);
	ck_assert_msg(p != NULL && (p[strlen(at)] < '0' || p[strlen(at)] > '9'),
	              "message '%s' lacks '%s'", f->err.msg, at);
}

/* A sidecar file whose error is expected at medic.yaml:line. */
static void sidecar_fails(const char *text, enum em_status st,
                          const char *want, unsigned line)
{
	struct fx f;

	fx_init(&f, ETCD_MIN, text);
	ck_assert_int_eq(fx_load(&f), st);
	ck_assert_int_eq(f.err.status, st);
	assert_msg_at(&f, want, f.path, line);
	/* Nothing is left to free on failure. */
	ck_assert_ptr_null(f.cfg.path);
	ck_assert_ptr_null(f.cfg.etcd.doc);
	fx_done(&f);
}

/* An etcd file whose error is expected at etcd.yaml:line. */
static void etcd_fails(const char *text, enum em_status st, const char *want,
                       unsigned line)
{
	struct fx f;

	fx_init(&f, text, NULL);
	ck_assert_int_eq(fx_load_etcd(&f), st);
	assert_msg_at(&f, want, f.etcd_path, line);
	ck_assert_ptr_null(f.ec.doc);
	ck_assert_ptr_null(f.ec.path);
	fx_done(&f);
}

/* ---- good files ------------------------------------------------------- */

static const char full_etcd[] =
	"# etcd's own file\n"
	"name: m1\n"
	"data-dir: /var/lib/etcd/data/\n"
	"wal-dir: /wal\n"
	"initial-cluster: m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380\n"
	"initial-cluster-state: existing\n"
	"initial-cluster-token: tok\n"
	"listen-client-urls: \"https://0.0.0.0:2379, http://127.0.0.1:2379\"\n"
	"advertise-client-urls:\n"
	"  - https://10.0.0.1:2379\n"
	"  - https://[fd00::1]:2379\n"
	"listen-peer-urls: https://0.0.0.0:2380\n"
	"initial-advertise-peer-urls: https://10.0.0.1:2380\n"
	"snapshot-count: 10000\n"
	"heartbeat-interval: 100\n"
	"log-outputs: [stderr]\n"
	"client-transport-security:\n"
	"  cert-file: /tls/server.crt\n"
	"  key-file: /tls/server.key\n"
	"  client-cert-auth: yes\n"
	"  trusted-ca-file: /tls/ca.crt\n"
	"  auto-tls: false\n"
	"  some-future-key: 1\n"
	"peer-transport-security:\n"
	"  auto-tls: true\n"
	"enable-grpc-gateway: false\n";

static const char full_sidecar[] =
	"etcd-config: etcd.yaml\n"
	"endpoints: [https://10.0.0.1:2379, \"https://10.0.0.2:2379\"]\n"
	"listen: 0.0.0.0:9090\n"
	"log:\n"
	"  format: text\n"
	"  level: debug\n"
	"tls:\n"
	"  ca-file: /tls/ca.crt\n"
	"  cert-file: /tls/client.crt\n"
	"  key-file: /tls/client.key\n"
	"auth:\n"
	"  username: root\n"
	"  password-file: %s/pw\n"
	"heal:\n"
	"  enabled: false\n"
	"  quarantine-keep: 5\n"
	"  quarantine-dir: /q\n"
	"  journal: /j/journal\n"
	"  lock-key: /lock\n"
	"  lock-ttl: 2m\n"
	"  call-timeout: 1500ms\n"
	"  retry-timeout: 1h\n"
	"  promote-timeout: 1m30s\n";

START_TEST(good_full)
{
	char text[2048];
	struct fx f;

	fx_init(&f, full_etcd, NULL);
	snprintf(text, sizeof(text), full_sidecar, f.dir);
	tu_write_file(f.dir, "medic.yaml", text, strlen(text));
	tu_write_file(f.dir, "pw", "s3cret\n", 7);
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.path, f.path);
	ck_assert_str_eq(f.cfg.etcd_config_path, f.etcd_path);
	ck_assert_uint_eq(f.cfg.endpoints.n, 2);
	ck_assert_str_eq(f.cfg.endpoints.v[1], "https://10.0.0.2:2379");
	ck_assert_str_eq(f.cfg.listen, "0.0.0.0:9090");
	ck_assert_int_eq(f.cfg.log_format, EM_LOG_TEXT);
	ck_assert_int_eq(f.cfg.log_level, EM_LOG_DEBUG);
	ck_assert_str_eq(f.cfg.tls.ca_file, "/tls/ca.crt");
	ck_assert_str_eq(f.cfg.tls.cert_file, "/tls/client.crt");
	ck_assert_str_eq(f.cfg.tls.key_file, "/tls/client.key");
	ck_assert_str_eq(f.cfg.username, "root");
	ck_assert_str_eq(f.cfg.password, "s3cret");
	ck_assert(!f.cfg.heal.enabled);
	ck_assert_uint_eq(f.cfg.heal.quarantine_keep, 5);
	ck_assert_str_eq(f.cfg.heal.quarantine_dir, "/q");
	ck_assert_str_eq(f.cfg.heal.journal, "/j/journal");
	ck_assert_str_eq(f.cfg.heal.lock_key, "/lock");
	ck_assert_uint_eq(f.cfg.heal.lock_ttl_s, 120);
	ck_assert_uint_eq(f.cfg.heal.call_timeout_ms, 1500);
	ck_assert_uint_eq(f.cfg.heal.retry_timeout_s, 3600);
	ck_assert_uint_eq(f.cfg.heal.promote_timeout_s, 90);

	ck_assert_str_eq(f.cfg.etcd.path, f.etcd_path);
	ck_assert_str_eq(f.cfg.etcd.name, "m1");
	ck_assert_str_eq(f.cfg.etcd.data_dir, "/var/lib/etcd/data/");
	ck_assert_str_eq(f.cfg.etcd.wal_dir, "/wal");
	ck_assert_str_eq(f.cfg.etcd.initial_cluster,
	                 "m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380");
	ck_assert_str_eq(f.cfg.etcd.initial_cluster_state, "existing");
	ck_assert_str_eq(f.cfg.etcd.initial_cluster_token, "tok");
	ck_assert_uint_eq(f.cfg.etcd.listen_client_urls.n, 2);
	ck_assert_str_eq(f.cfg.etcd.listen_client_urls.v[0],
	                 "https://0.0.0.0:2379");
	ck_assert_str_eq(f.cfg.etcd.listen_client_urls.v[1],
	                 "http://127.0.0.1:2379");
	ck_assert_uint_eq(f.cfg.etcd.advertise_client_urls.n, 2);
	ck_assert_str_eq(f.cfg.etcd.advertise_client_urls.v[1],
	                 "https://[fd00::1]:2379");
	ck_assert_str_eq(f.cfg.etcd.listen_peer_urls.v[0],
	                 "https://0.0.0.0:2380");
	ck_assert_str_eq(f.cfg.etcd.initial_advertise_peer_urls.v[0],
	                 "https://10.0.0.1:2380");
	ck_assert_str_eq(f.cfg.etcd.client_tls.cert_file, "/tls/server.crt");
	ck_assert_str_eq(f.cfg.etcd.client_tls.key_file, "/tls/server.key");
	ck_assert_str_eq(f.cfg.etcd.client_tls.ca_file, "/tls/ca.crt");
	ck_assert(f.cfg.etcd.client_tls.client_cert_auth);
	ck_assert(!f.cfg.etcd.client_tls.auto_tls);
	ck_assert(f.cfg.etcd.peer_tls.auto_tls);
	ck_assert_ptr_null(f.cfg.etcd.peer_tls.cert_file);
	ck_assert(!f.cfg.etcd.grpc_gateway);
	ck_assert_ptr_nonnull(f.cfg.etcd.doc);
	em_config_free(&f.cfg);
	ck_assert_ptr_null(f.cfg.password);
	em_config_free(&f.cfg);  /* twice is harmless */
	fx_done(&f);
}
END_TEST

START_TEST(defaults)
{
	struct fx f;

	fx_init(&f, ETCD_MIN, "etcd-config: etcd.yaml\n"
	        "endpoints: http://127.0.0.1:2379\n");
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_uint_eq(f.cfg.endpoints.n, 1);
	ck_assert_str_eq(f.cfg.listen, "127.0.0.1:8080");
	ck_assert_int_eq(f.cfg.log_format, EM_LOG_JSON);
	ck_assert_int_eq(f.cfg.log_level, EM_LOG_INFO);
	ck_assert_ptr_null(f.cfg.tls.ca_file);
	ck_assert_ptr_null(f.cfg.tls.cert_file);
	ck_assert_ptr_null(f.cfg.username);
	ck_assert_ptr_null(f.cfg.password);
	ck_assert(f.cfg.heal.enabled);
	ck_assert_uint_eq(f.cfg.heal.quarantine_keep, 3);
	ck_assert_str_eq(f.cfg.heal.quarantine_dir, "/var/lib/etcd");
	ck_assert_str_eq(f.cfg.heal.journal,
	                 "/var/lib/etcd/m1.etcd-medic.journal");
	ck_assert_str_eq(f.cfg.heal.lock_key, "/etcd-medic/heal-lock");
	ck_assert_uint_eq(f.cfg.heal.lock_ttl_s, 60);
	ck_assert_uint_eq(f.cfg.heal.call_timeout_ms, 5000);
	ck_assert_uint_eq(f.cfg.heal.retry_timeout_s, 120);
	ck_assert_uint_eq(f.cfg.heal.promote_timeout_s, 900);
	/* etcd 3.4's own defaults for what its file leaves out. */
	ck_assert_ptr_null(f.cfg.etcd.wal_dir);
	ck_assert_ptr_null(f.cfg.etcd.initial_cluster);
	ck_assert_str_eq(f.cfg.etcd.initial_cluster_state, "new");
	ck_assert_str_eq(f.cfg.etcd.initial_cluster_token, "etcd-cluster");
	ck_assert_str_eq(f.cfg.etcd.listen_client_urls.v[0],
	                 "http://localhost:2379");
	ck_assert_str_eq(f.cfg.etcd.advertise_client_urls.v[0],
	                 "http://localhost:2379");
	ck_assert_str_eq(f.cfg.etcd.listen_peer_urls.v[0],
	                 "http://localhost:2380");
	ck_assert_str_eq(f.cfg.etcd.initial_advertise_peer_urls.v[0],
	                 "http://localhost:2380");
	ck_assert(!f.cfg.etcd.grpc_gateway);
	fx_done(&f);
}
END_TEST

/* Empty values leave keys at their defaults: a template may expand a
 * variable to nothing. */
START_TEST(null_values_are_defaults)
{
	struct fx f;

	fx_init(&f, ETCD_MIN, "etcd-config: etcd.yaml\n"
	        "endpoints: http://a:1\nlisten: ~\nlog:\ntls: null\n"
	        "heal:\n  enabled:\n  lock-ttl: ''\n");
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.listen, "127.0.0.1:8080");
	ck_assert(f.cfg.heal.enabled);
	fx_done(&f);
}
END_TEST

/* The quarantine dir is the data dir's parent, whatever its form. */
START_TEST(data_dir_forms)
{
	static const struct { const char *dd, *qdir, *journal; } cases[] = {
		{ "/var/lib/etcd", "/var/lib", "/var/lib/etcd.etcd-medic.journal" },
		{ "/var/lib/etcd//", "/var/lib", "/var/lib/etcd.etcd-medic.journal" },
		{ "/etcd", "/", "/etcd.etcd-medic.journal" },
		{ "data", ".", "data.etcd-medic.journal" },
		{ "rel/data", "rel", "rel/data.etcd-medic.journal" },
	};
	char etcd[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx f;

		snprintf(etcd, sizeof(etcd), "name: x\ndata-dir: '%s'\n",
		         cases[i].dd);
		fx_init(&f, etcd, "etcd-config: etcd.yaml\n"
		        "endpoints: http://a:1\n");
		ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
		ck_assert_str_eq(f.cfg.heal.quarantine_dir, cases[i].qdir);
		ck_assert_str_eq(f.cfg.heal.journal, cases[i].journal);
		fx_done(&f);
	}
	etcd_fails("name: x\ndata-dir: //\n", EM_EUSAGE, "root directory", 2);
}
END_TEST

START_TEST(etcd_config_paths)
{
	char text[1024], sub[512];
	struct fx f;

	/* Relative: to the sidecar file's directory, not the cwd. */
	fx_init(&f, NULL, "etcd-config: sub/e.yaml\nendpoints: http://a:1\n");
	snprintf(sub, sizeof(sub), "%s/sub", f.dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	tu_write_file(sub, "e.yaml", ETCD_MIN, strlen(ETCD_MIN));
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	snprintf(text, sizeof(text), "%s/sub/e.yaml", f.dir);
	ck_assert_str_eq(f.cfg.etcd_config_path, text);
	ck_assert_str_eq(f.cfg.etcd.path, text);
	em_config_free(&f.cfg);

	/* Absolute. */
	snprintf(text, sizeof(text), "etcd-config: %s/sub/e.yaml\n"
	         "endpoints: http://a:1\n", f.dir);
	tu_write_file(f.dir, "medic.yaml", text, strlen(text));
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.etcd.name, "m1");
	em_config_free(&f.cfg);

	/* Missing: the error names the file. */
	snprintf(text, sizeof(text), "etcd-config: nope.yaml\n"
	         "endpoints: http://a:1\n");
	tu_write_file(f.dir, "medic.yaml", text, strlen(text));
	ck_assert_int_eq(fx_load(&f), EM_ENOENT);
	ck_assert_ptr_nonnull(strstr(f.err.msg, "nope.yaml"));
	fx_done(&f);
}
END_TEST

START_TEST(etcd_alone)
{
	struct fx f;

	fx_init(&f, full_etcd, NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.ec.name, "m1");
	ck_assert_str_eq(f.ec.path, f.etcd_path);
	em_etcd_config_free(&f.ec);
	em_etcd_config_free(&f.ec);
	fx_done(&f);
}
END_TEST

/* etcd reads booleans as YAML 1.1 does; the sidecar wants true/false. */
START_TEST(etcd_bools)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "Y" };
	static const char *const no[] = { "false", "no", "off", "FALSE", "n" };
	char text[256];
	size_t i;

	for (i = 0; i < 5; i++) {
		struct fx f;

		snprintf(text, sizeof(text), ETCD_MIN "enable-grpc-gateway: "
		         "%s\npeer-transport-security: {auto-tls: %s}\n",
		         yes[i], no[i]);
		fx_init(&f, text, NULL);
		ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
		ck_assert(f.ec.grpc_gateway);
		ck_assert(!f.ec.peer_tls.auto_tls);
		fx_done(&f);
	}
	etcd_fails(ETCD_MIN "enable-grpc-gateway: maybe\n", EM_EFORMAT,
	           "'enable-grpc-gateway' must be true or false", 3);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "heal:\n  enabled: yes\n", EM_EFORMAT,
	              "'heal.enabled' must be true or false, not 'yes'", 4);
}
END_TEST

START_TEST(log_names)
{
	static const struct { const char *text; enum em_log_level level; }
	levels[] = {
		{ "debug", EM_LOG_DEBUG }, { "info", EM_LOG_INFO },
		{ "warn", EM_LOG_WARN }, { "error", EM_LOG_ERROR },
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		struct fx f;

		snprintf(text, sizeof(text), "etcd-config: etcd.yaml\n"
		         "endpoints: http://a:1\nlog: {level: %s, format: %s}\n",
		         levels[i].text, i % 2 ? "json" : "text");
		fx_init(&f, ETCD_MIN, text);
		ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
		ck_assert_int_eq(f.cfg.log_level, levels[i].level);
		ck_assert_int_eq(f.cfg.log_format,
		                 i % 2 ? EM_LOG_JSON : EM_LOG_TEXT);
		fx_done(&f);
	}
}
END_TEST

START_TEST(password_file)
{
	char text[1024];
	struct fx f;

	fx_init(&f, ETCD_MIN, NULL);
	snprintf(text, sizeof(text), "etcd-config: etcd.yaml\n"
	         "endpoints: http://a:1\nauth:\n  username: u\n"
	         "  password-file: %s/pw\n", f.dir);
	tu_write_file(f.dir, "medic.yaml", text, strlen(text));

	/* One trailing newline goes, the rest stays. */
	tu_write_file(f.dir, "pw", "a b\n\n", 5);
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.password, "a b\n");
	em_config_free(&f.cfg);
	tu_write_file(f.dir, "pw", "nonl", 4);
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.password, "nonl");
	em_config_free(&f.cfg);
	tu_write_file(f.dir, "pw", "crlf\r\n", 6);
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.password, "crlf");
	em_config_free(&f.cfg);

	/* Unreadable: an error at the key's line, without the secret. */
	snprintf(text, sizeof(text), "%s/pw", f.dir);
	ck_assert_int_eq(unlink(text), 0);
	ck_assert_int_ne(fx_load(&f), EM_OK);
	assert_msg_at(&f, "'auth.password-file'", f.path, 5);
	ck_assert_ptr_nonnull(strstr(f.err.msg, "/pw"));
	fx_done(&f);

	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "auth:\n  username: u\n", EM_EUSAGE,
	              "auth.username and auth.password-file go together", 4);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "tls:\n  cert-file: /c\n", EM_EUSAGE,
	              "tls.cert-file and tls.key-file go together", 4);
}
END_TEST

/* ---- errors with file:line -------------------------------------------- */

START_TEST(unknown_keys)
{
	struct fx f;

	fx_init(&f, ETCD_MIN, "etcd-config: etcd.yaml\n"
	        "endpoints: http://a:1\n\nhelth: 1\n");
	ck_assert_int_eq(fx_load(&f), EM_EUSAGE);
	{
		char want[1024];

		snprintf(want, sizeof(want), "unknown key 'helth' at %s:4; "
		         "known keys: etcd-config, endpoints, listen, log, tls, "
		         "auth, heal, server, watch, backup", f.path);
		ck_assert_str_eq(f.err.msg, want);
	}
	fx_done(&f);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "heal:\n  lock-ttl: 5s\n  lok-key: /x\n", EM_EUSAGE,
	              "unknown key 'heal.lok-key'", 5);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "log: {format: json, colour: true}\n", EM_EUSAGE,
	              "known keys in log: format, level", 3);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "[a, b]: 1\n", EM_EFORMAT, "a key must be a plain name", 3);
}
END_TEST

/* ---- backup keys ------------------------------------------------------- */

START_TEST(backup_keys)
{
	struct fx f;

	fx_init(&f, ETCD_MIN, "etcd-config: etcd.yaml\n"
	        "endpoints: http://a:1\n");
	ck_assert_int_eq(fx_load(&f), EM_OK);
	ck_assert(!f.cfg.backup.enabled);
	ck_assert_ptr_null(f.cfg.backup.store);
	ck_assert_uint_eq(f.cfg.backup.interval_s, 3600);
	ck_assert_str_eq(f.cfg.backup.compression, "zstd");
	ck_assert_uint_eq(f.cfg.backup.keep_last, 24);
	ck_assert_uint_eq(f.cfg.backup.keep_daily_days, 7);
	ck_assert(f.cfg.backup.restore_on_init);
	ck_assert_str_eq(f.cfg.backup.lock_key, "/etcd-medic/backup-lock");
	ck_assert_str_eq(f.cfg.backup.spool_dir, "/var/lib/etcd");
	ck_assert_uint_eq(f.cfg.backup.s3.part_size_mb, 64);
	fx_done(&f);
	fx_init(&f, ETCD_MIN, "etcd-config: etcd.yaml\n"
	        "endpoints: http://a:1\n"
	        "backup:\n  enabled: true\n  store: s3://bk/etcd/prod\n"
	        "  cron: '*/15 2-4 * * 1,3'\n  compression: none\n"
	        "  keep-last: 3\n  keep-daily-days: 0\n  timeout: 10m\n"
	        "  s3: {endpoint: 'http://127.0.0.1:9000', region: eu-west-1,"
	        " url-style: path, part-size-mb: 5}\n");
	ck_assert_int_eq(fx_load(&f), EM_OK);
	ck_assert(f.cfg.backup.enabled);
	ck_assert_str_eq(f.cfg.backup.store, "s3://bk/etcd/prod");
	ck_assert_str_eq(f.cfg.backup.cron, "*/15 2-4 * * 1,3");
	ck_assert_uint_eq(f.cfg.backup.timeout_s, 600);
	ck_assert_uint_eq(f.cfg.backup.keep_daily_days, 0);
	ck_assert_str_eq(f.cfg.backup.s3.region, "eu-west-1");
	ck_assert_uint_eq(f.cfg.backup.s3.part_size_mb, 5);
	fx_done(&f);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "backup:\n  enabled: true\n", EM_EUSAGE,
	              "'backup.enabled' needs 'backup.store'", 4);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "backup:\n  store: /var/backups\n", EM_EFORMAT,
	              "'backup.store' must be file:///DIR", 4);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "backup:\n  interval: 1h\n  cron: '@daily'\n",
	              EM_EUSAGE, "not both", 5);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "backup:\n  cron: '61 * * * *'\n", EM_EFORMAT,
	              "bad minute field '61'", 4);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "backup:\n  compression: gzip\n", EM_EFORMAT,
	              "'backup.compression' must be one of", 4);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "backup:\n  s3: {part-size-mb: 4}\n", EM_EFORMAT,
	              "from 5 to", 4);
}
END_TEST

START_TEST(type_errors)
{
	static const struct {
		const char *tail;     /* after etcd-config and endpoints */
		const char *want;
		unsigned line;
	} cases[] = {
		{ "heal:\n  quarantine-keep: -1\n",
		  "'heal.quarantine-keep' must be a whole number from 1", 4 },
		{ "heal:\n  quarantine-keep: 0\n", "quarantine-keep", 4 },
		{ "heal:\n  quarantine-keep: 99999999999\n", "quarantine-keep", 4 },
		{ "heal:\n  quarantine-keep: [1]\n",
		  "'heal.quarantine-keep' must be a single value, not a list", 4 },
		{ "heal:\n\n  lock-ttl: 5x\n", "'heal.lock-ttl' must be a duration", 5 },
		{ "heal:\n  lock-ttl: 1500ms\n",
		  "'heal.lock-ttl' must be a whole number of seconds", 4 },
		{ "heal:\n  call-timeout: 0s\n", "above zero", 4 },
		{ "heal:\n  promote-timeout: 99999999999h\n", "too long", 4 },
		{ "heal:\n  promote-timeout: 999999999999999999999h\n",
		  "'heal.promote-timeout' must be a duration", 4 },
		{ "heal:\n  retry-timeout: 5000000000s\n", "too long", 4 },
		{ "heal: 5\n", "'heal' must be a mapping of keys, not a scalar", 3 },
		{ "tls: [a]\n", "'tls' must be a mapping of keys, not a list", 3 },
		{ "listen: localhost\n", "'listen' must be host:port", 3 },
		{ "listen: a:0\n", "1 to 65535", 3 },
		{ "listen: a:65536\n", "1 to 65535", 3 },
		{ "listen: a:80x\n", "nothing may follow", 3 },
		{ "listen: {a: 1}\n", "not a mapping", 3 },
		{ "log:\n  format: xml\n", "'log.format' must be json or text", 4 },
		{ "log:\n  level: loud\n", "'log.level' must be debug", 4 },
		{ "etcd-config: [a]\n", "duplicate key 'etcd-config' (first at line 1)", 3 },
	};
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "etcd-config: etcd.yaml\n"
		         "endpoints: http://a:1\n%s", cases[i].tail);
		sidecar_fails(text, strstr(cases[i].want, "too long") ?
		              EM_ERANGE : strstr(cases[i].want, "duplicate") ?
		              EM_EUSAGE : EM_EFORMAT, cases[i].want,
		              cases[i].line);
	}
	sidecar_fails("etcd-config: [a]\nendpoints: http://a:1\n", EM_EFORMAT,
	              "'etcd-config' must be a single value, not a list", 1);
}
END_TEST

START_TEST(url_errors)
{
	static const struct { const char *value, *want; } cases[] = {
		{ "ftp://a:1", "must start with http:// or https://" },
		{ "a:2379", "must start with http:// or https://" },
		{ "http://a", "no port" },
		{ "http://:2379", "no host" },
		{ "http://a:2379/v3", "nothing may follow host:port" },
		{ "\"http://a:1,\"", "empty URL" },
		{ "\"http://a:1, ,http://b:2\"", "empty URL" },
		{ "http://[::1:2379", "closing ']'" },
		{ "http://a:b", "port must be a number" },
		{ "{a: b}", "'endpoints' must be a list of URLs, not a mapping" },
		{ "[[http://a:1]]", "'endpoints' must be a list of URLs, not a list" },
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "etcd-config: etcd.yaml\n"
		         "endpoints: %s\n", cases[i].value);
		sidecar_fails(text, EM_EFORMAT, cases[i].want, 2);
	}
	/* An item in a block list: its own line. */
	sidecar_fails("etcd-config: etcd.yaml\nendpoints:\n  - http://a:1\n"
	              "  - http://b\n", EM_EFORMAT, "bad URL 'http://b'", 4);
	etcd_fails(ETCD_MIN "listen-peer-urls: http://a:1,unix://x\n",
	           EM_EFORMAT, "'listen-peer-urls': bad URL 'unix://x'", 3);
}
END_TEST

START_TEST(required_keys)
{
	sidecar_fails("endpoints: http://a:1\n", EM_EUSAGE,
	              "missing required key 'etcd-config'", 1);
	sidecar_fails("\n\netcd-config: etcd.yaml\n", EM_EUSAGE,
	              "missing required key 'endpoints'", 3);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints:\n", EM_EUSAGE,
	              "required key 'endpoints' has no value", 2);
	sidecar_fails("etcd-config: ''\nendpoints: []\n", EM_EUSAGE,
	              "required key 'etcd-config' has no value", 1);
	etcd_fails("data-dir: /d\n", EM_EUSAGE, "missing required key 'name'",
	           1);
	etcd_fails("name: a\n", EM_EUSAGE, "missing required key 'data-dir'",
	           1);
	etcd_fails("name: a\ndata-dir:\n", EM_EUSAGE,
	           "required key 'data-dir' has no value", 2);
}
END_TEST

START_TEST(etcd_errors)
{
	etcd_fails(ETCD_MIN "name: [a]\n", EM_EUSAGE,
	           "duplicate key 'name' (first at line 1)", 3);
	etcd_fails("name: [a]\n", EM_EFORMAT,
	           "'name' must be a single value, not a list", 1);
	etcd_fails(ETCD_MIN "initial-cluster-state: later\n", EM_EFORMAT,
	           "'initial-cluster-state' must be one of", 3);
	etcd_fails(ETCD_MIN "client-transport-security: on\n", EM_EFORMAT,
	           "'client-transport-security' must be a mapping", 3);
	etcd_fails(ETCD_MIN "peer-transport-security:\n  client-cert-auth: 2\n",
	           EM_EFORMAT,
	           "'peer-transport-security.client-cert-auth' must be true", 4);
}
END_TEST

/* Unknown keys in etcd's file are etcd's: kept, in any shape. */
START_TEST(etcd_unknown_kept)
{
	struct fx f;

	fx_init(&f, ETCD_MIN "snapshot-count: 5\nlog-outputs: [a, b]\n"
	        "experimental: {x: [1, {y: z}]}\n[odd]: 1\n", NULL);
	ck_assert_int_eq(fx_load_etcd(&f), EM_EFORMAT);
	assert_msg_at(&f, "a key must be a plain name", f.etcd_path, 6);
	fx_done(&f);
	fx_init(&f, ETCD_MIN "snapshot-count: 5\nlog-outputs: [a, b]\n"
	        "experimental: {x: [1, {y: z}]}\n", NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	fx_done(&f);
}
END_TEST

START_TEST(syntax_errors)
{
	struct fx f;

	fx_init(&f, ETCD_MIN, "etcd-config: etcd.yaml\n"
	        "endpoints: [http://a:1\nlisten: x\n");
	ck_assert_int_eq(fx_load(&f), EM_EFORMAT);
	ck_assert_ptr_nonnull(strstr(f.err.msg, "YAML error at"));
	ck_assert_ptr_nonnull(strstr(f.err.msg, f.path));
	fx_done(&f);
	fx_init(&f, ETCD_MIN, "etcd-config: etcd.yaml\n\tendpoints: x\n");
	ck_assert_int_eq(fx_load(&f), EM_EFORMAT);
	assert_msg_at(&f, "YAML error", f.path, 2);
	fx_done(&f);
	/* A second document would be lost silently: refused. */
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n---\n"
	              "listen: a:1\n", EM_EFORMAT, "a second YAML document", 3);
	/* A NUL inside a value would cut it short unseen. */
	sidecar_fails("etcd-config: \"etcd.yaml\\0x\"\nendpoints: http://a:1\n",
	              EM_EFORMAT, "NUL character", 1);
	fx_init(&f, NULL, NULL);
	ck_assert_int_eq(fx_load(&f), EM_ENOENT);
	ck_assert_ptr_nonnull(strstr(f.err.msg, f.path));
	fx_done(&f);
}
END_TEST

/* ---- ${VAR} expansion ------------------------------------------------- */

START_TEST(env_expansion)
{
	struct fx f;

	setenv("EM_T_POD", "etcd-1", 1);
	setenv("EM_T_NS", "prod", 1);
	setenv("EM_T_EMPTY", "", 1);
	setenv("EM_T_PORT", "2379", 1);
	unsetenv("EM_T_UNSET");
	fx_init(&f, "name: ${EM_T_POD}\n"
	        "data-dir: /var/lib/etcd/${EM_T_POD}\n"
	        "initial-cluster-token: ${EM_T_UNSET:-tok-${EM_T_NS}\n"
	        "advertise-client-urls: https://${EM_T_POD}.etcd.${EM_T_NS}"
	        ".svc:${EM_T_PORT}\n",
	        "etcd-config: etcd.yaml\n"
	        "endpoints: http://${EM_T_POD}:${EM_T_PORT}\n"
	        "heal:\n"
	        "  lock-key: /a/$${EM_T_POD}/$$/$x/$\n"
	        "  journal: '${EM_T_EMPTY:-/d/j}'\n"
	        "  quarantine-dir: \"${EM_T_EMPTY}/q${EM_T_UNSET:-}\"\n"
	        "  lock-ttl: ${EM_T_UNSET:-90}\n"
	        "  enabled: ${EM_T_UNSET:-false}\n");
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.endpoints.v[0], "http://etcd-1:2379");
	ck_assert_str_eq(f.cfg.heal.lock_key, "/a/${EM_T_POD}/$/$x/$");
	ck_assert_str_eq(f.cfg.heal.journal, "/d/j");
	ck_assert_str_eq(f.cfg.heal.quarantine_dir, "/q");
	ck_assert_uint_eq(f.cfg.heal.lock_ttl_s, 90);
	ck_assert(!f.cfg.heal.enabled);
	ck_assert_str_eq(f.cfg.etcd.name, "etcd-1");
	ck_assert_str_eq(f.cfg.etcd.data_dir, "/var/lib/etcd/etcd-1");
	/* A default is literal up to the first '}'. */
	ck_assert_str_eq(f.cfg.etcd.initial_cluster_token, "tok-${EM_T_NS");
	ck_assert_str_eq(f.cfg.etcd.advertise_client_urls.v[0],
	                 "https://etcd-1.etcd.prod.svc:2379");
	fx_done(&f);
}
END_TEST

START_TEST(env_errors)
{
	struct fx f;

	unsetenv("EM_T_UNSET");
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "listen: ${EM_T_UNSET}:80\n", EM_EUSAGE,
	              "environment variable EM_T_UNSET is not set", 3);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n\n"
	              "listen: ${EM_T_UNSET\n", EM_EFORMAT,
	              "unterminated '${'", 4);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://${1x}:1\n",
	              EM_EFORMAT, "bad reference '${1x}'", 2);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://${}:1\n",
	              EM_EFORMAT, "bad reference", 2);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://${A:?x}:1\n",
	              EM_EFORMAT, "bad reference '${A:?x}'", 2);
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://${A B}:1\n",
	              EM_EFORMAT, "bad reference", 2);
	/* Keys are scalars too. */
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "${EM_T_UNSET}: 1\n", EM_EUSAGE, "EM_T_UNSET", 3);
	etcd_fails("name: a\ndata-dir: /d/${EM_T_UNSET}\n", EM_EUSAGE,
	           "environment variable EM_T_UNSET is not set", 2);
	/* A multi-line value: the line it starts on. */
	etcd_fails(ETCD_MIN "initial-cluster: >\n  a=http://a:1,\n"
	           "  b=${EM_T_UNSET}\n", EM_EUSAGE, "EM_T_UNSET", 3);

	setenv("EM_T_BIN", "\xff\xfe", 1);
	etcd_fails(ETCD_MIN "x: ${EM_T_BIN}\n", EM_EFORMAT, "not valid UTF-8", 3);

	/* A long variable value is fine; a long name is refused. */
	{
		static char big[100000], text[400];

		memset(big, 'v', sizeof(big) - 1);
		setenv("EM_T_BIG", big, 1);
		fx_init(&f, ETCD_MIN "initial-cluster-token: ${EM_T_BIG}\n", NULL);
		ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
		ck_assert_uint_eq(strlen(f.ec.initial_cluster_token),
		                  sizeof(big) - 1);
		fx_done(&f);
		memset(text, 'N', sizeof(text));
		memcpy(text, "name: ${", 8);
		memcpy(text + 300, "}\ndata-dir: /d\n", 16);
		etcd_fails(text, EM_EFORMAT, "bad reference", 1);
	}
}
END_TEST

/* ---- durations -------------------------------------------------------- */

START_TEST(durations)
{
	static const struct { const char *s; unsigned long long ms; } good[] = {
		{ "90", 90000 }, { "90s", 90000 }, { "1m30s", 90000 },
		{ "500ms", 500 }, { "2h", 7200000 }, { "0", 0 },
		{ "1h1m1s1ms", 3661001 }, { "0ms", 0 }, { "007s", 7000 },
		{ "1s500ms", 1500 },
		{ "18446744073709551615ms", 18446744073709551615ull },
	};
	static const char *const bad[] = {
		"", "s", "ms", "1x", "1.5s", "-1s", " 1s", "1s ", "1m30",
		"1 s", "1d", "1sm", "1S", "+5", "18446744073709551616ms",
		"18446744073709551615s", "5124095576030432h",
		"18446744073709551615ms1ms",
	};
	unsigned long long ms;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 12345;
		ck_assert_msg(em_parse_duration_ms(good[i].s, &ms), "%s",
		              good[i].s);
		ck_assert_uint_eq(ms, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		ck_assert_msg(!em_parse_duration_ms(bad[i], &ms), "%s", bad[i]);
		ck_assert_uint_eq(ms, 12345);
	}
	ck_assert(!em_parse_duration_ms(NULL, &ms));
}
END_TEST

/* ---- rendering -------------------------------------------------------- */

static char *render_file(struct fx *f, const char *ic, const char *state)
{
	char *out = NULL;

	ck_assert_msg(em_etcd_config_render(&f->ec, ic, state, &out, &f->err)
	              == EM_OK, "%s", f->err.msg);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* Loads text as etcd's file in a fresh fixture. */
static void reload(struct fx *g, const char *text)
{
	fx_init(g, text, NULL);
	ck_assert_msg(fx_load_etcd(g) == EM_OK, "%s\n---\n%s", g->err.msg, text);
}

START_TEST(render_round_trip)
{
	static const char ic[] = "m1=https://10.0.0.1:2380,"
	                         "m9=https://10.0.0.9:2380";
	struct fx f, g;
	char *out;

	setenv("EM_T_POD", "m1", 1);
	fx_init(&f, "# etcd's file\nname: ${EM_T_POD}\n"
	        "data-dir: /var/lib/etcd/${EM_T_POD}\n"
	        "initial-cluster: m1=https://10.0.0.1:2380\n"
	        "initial-cluster-state: new\n"
	        "listen-client-urls: [https://0.0.0.0:2379, "
	        "'http://127.0.0.1:2379']\n"
	        "advertise-client-urls: &adv https://10.0.0.1:2379\n"
	        "listen-metrics-urls:\n  - http://0.0.0.0:2381\n"
	        "  - http://127.0.0.1:2381\n"
	        "snapshot-count: 10000\n"
	        "log-outputs: [stderr]\n"
	        "x-alias: *adv\n"
	        "x-quoted: \"yes\"\n"
	        "x-text: |\n  two\n  lines\n"
	        "client-transport-security:\n  client-cert-auth: true\n"
	        "  cert-file: /c\n  key-file: /k\n", NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	out = render_file(&f, ic, "existing");
	reload(&g, out);
	ck_assert_str_eq(g.ec.name, "m1");
	ck_assert_str_eq(g.ec.data_dir, "/var/lib/etcd/m1");
	ck_assert_str_eq(g.ec.initial_cluster, ic);
	ck_assert_str_eq(g.ec.initial_cluster_state, "existing");
	ck_assert(g.ec.grpc_gateway);
	ck_assert_uint_eq(g.ec.listen_client_urls.n, 2);
	ck_assert_str_eq(g.ec.listen_client_urls.v[1], "http://127.0.0.1:2379");
	ck_assert_str_eq(g.ec.advertise_client_urls.v[0],
	                 "https://10.0.0.1:2379");
	ck_assert(g.ec.client_tls.client_cert_auth);
	ck_assert_str_eq(g.ec.client_tls.key_file, "/k");
	/* etcd reads URL keys as one comma-separated string. */
	ck_assert_ptr_nonnull(strstr(out, "listen-client-urls: "
	                      "https://0.0.0.0:2379,http://127.0.0.1:2379\n"));
	ck_assert_ptr_nonnull(strstr(out, "listen-metrics-urls: "
	                      "http://0.0.0.0:2381,http://127.0.0.1:2381\n"));
	/* What etcd-medic does not know is kept as it was. */
	ck_assert_ptr_nonnull(strstr(out, "snapshot-count: 10000\n"));
	ck_assert_ptr_nonnull(strstr(out, "log-outputs: [stderr]\n"));
	ck_assert_ptr_nonnull(strstr(out, "x-quoted: \"yes\"\n"));
	ck_assert(strstr(out, "x-text: |-\n  two\n  lines") != NULL ||
	          strstr(out, "x-text: |\n  two\n  lines") != NULL);
	ck_assert_ptr_nonnull(strstr(out, "*id001"));
	ck_assert_ptr_null(strstr(out, "${"));
	ck_assert_ptr_null(strstr(out, "2380\n---"));
	free(out);
	fx_done(&g);

	/* NULL keeps what the file says; rendering twice is the same. */
	out = render_file(&f, NULL, NULL);
	reload(&g, out);
	ck_assert_str_eq(g.ec.initial_cluster, "m1=https://10.0.0.1:2380");
	ck_assert_str_eq(g.ec.initial_cluster_state, "new");
	ck_assert(g.ec.grpc_gateway);
	{
		char *again = render_file(&g, NULL, NULL);

		ck_assert_str_eq(again, out);
		free(again);
	}
	free(out);
	fx_done(&g);
	fx_done(&f);
}
END_TEST

START_TEST(render_adds_keys)
{
	struct fx f, g;
	char *out;

	fx_init(&f, "{name: m1, data-dir: /d, enable-grpc-gateway: off}", NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	ck_assert(!f.ec.grpc_gateway);
	out = render_file(&f, "m1=http://127.0.0.1:2380", "new");
	reload(&g, out);
	ck_assert_str_eq(g.ec.initial_cluster, "m1=http://127.0.0.1:2380");
	ck_assert_str_eq(g.ec.initial_cluster_state, "new");
	ck_assert(g.ec.grpc_gateway);
	free(out);
	fx_done(&g);

	/* A value that looks like something else is quoted. */
	out = render_file(&f, "a: b # c", NULL);
	reload(&g, out);
	ck_assert_str_eq(g.ec.initial_cluster, "a: b # c");
	free(out);
	fx_done(&g);

	ck_assert_int_eq(em_etcd_config_render(&f.ec, NULL, "old", &out, &f.err),
	                 EM_EUSAGE);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(em_etcd_config_render(&f.ec, "\xff", NULL, &out,
	                                       &f.err), EM_EFORMAT);
	ck_assert_ptr_null(out);
	fx_done(&f);
	{
		struct em_etcd_config none;
		struct em_error err;

		memset(&none, 0, sizeof(none));
		ck_assert_int_eq(em_etcd_config_render(&none, NULL, NULL,
		                                       &out, &err), EM_EUSAGE);
	}
}
END_TEST

/* ---- input that is not a config ---------------------------------------- */

START_TEST(weird_documents)
{
	static const struct { const char *text, *want; } etcd[] = {
		{ "", "missing required key 'name'" },
		{ "\n\n# only a comment\n", "missing required key 'name'" },
		{ "---\n...\n", "missing required key 'name'" },
		{ "~\n", "missing required key 'name'" },
		{ "- name: a\n- data-dir: b\n",
		  "the top level must be a mapping of keys, not a list" },
		{ "just words\n", "the top level must be a mapping of keys, not a scalar" },
		{ "name: *nope\n", "YAML error" },
		{ "a: &x 1\nb: &x 2\n", "YAML error" },
		{ "name: 'unterminated\n", "YAML error" },
		{ "name: a\nname: b\n", "duplicate key" },
		{ "\xef\xbb\xbfname: a\ndata-dir: [\n", "YAML error" },
		{ "name: \x01\n", "YAML error" },
		{ "%YAML 9.9\n---\nname: a\n", "YAML error" },
	};
	size_t i;

	for (i = 0; i < sizeof(etcd) / sizeof(etcd[0]); i++) {
		struct fx f;

		fx_init(&f, etcd[i].text, NULL);
		ck_assert_int_ne(fx_load_etcd(&f), EM_OK);
		ck_assert_msg(strstr(f.err.msg, etcd[i].want) != NULL,
		              "case %zu: '%s' lacks '%s'", i, f.err.msg,
		              etcd[i].want);
		ck_assert_ptr_nonnull(strstr(f.err.msg, f.etcd_path));
		fx_done(&f);
	}
	sidecar_fails("", EM_EUSAGE, "missing required key 'etcd-config'", 1);
	sidecar_fails("[1, 2]\n", EM_EFORMAT, "not a list", 1);
}
END_TEST

/* Anchors and aliases, cycles included, load and render. */
START_TEST(anchors)
{
	struct fx f, g;
	char *out;

	fx_init(&f, ETCD_MIN, "etcd-config: &c etcd.yaml\n"
	        "endpoints: &e [http://a:1, http://b:2]\n"
	        "heal: {journal: *c, lock-key: *c}\n");
	ck_assert_msg(fx_load(&f) == EM_OK, "%s", f.err.msg);
	ck_assert_str_eq(f.cfg.heal.journal, "etcd.yaml");
	ck_assert_str_eq(f.cfg.heal.lock_key, "etcd.yaml");
	fx_done(&f);
	/* An alias as a key, naming a key already there (an alias has its
	 * anchor's line: libyaml's documents share the node). */
	sidecar_fails("etcd-config: etcd.yaml\nendpoints: http://a:1\n"
	              "&k listen: a:1\n*k : b:2\n", EM_EUSAGE,
	              "duplicate key 'listen' (first at line 3)", 3);

	fx_init(&f, ETCD_MIN "cyc: &a [1, *a, {k: *a}]\n"
	        "m: &m {self: *m}\n", NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	out = render_file(&f, "m1=http://a:1", NULL);
	reload(&g, out);
	ck_assert_str_eq(g.ec.initial_cluster, "m1=http://a:1");
	free(out);
	fx_done(&g);
	fx_done(&f);

	/* Billion laughs: aliases are shared, never expanded. */
	fx_init(&f, ETCD_MIN "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	        "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
	        "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n", NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	out = render_file(&f, NULL, NULL);
	ck_assert_uint_lt(strlen(out), 4096);
	free(out);
	fx_done(&f);
}
END_TEST

/* libyaml looks anchors up one by one: their number is capped, so that a
 * file of anchors and aliases cannot keep us busy for minutes. */
START_TEST(many_anchors)
{
	size_t cap = 1024 * 1024, n, i;
	char *text = malloc(cap);
	struct fx f;

	ck_assert_ptr_nonnull(text);
	n = (size_t)sprintf(text, ETCD_MIN "x:\n");
	for (i = 0; i < 1001; i++)
		n += (size_t)sprintf(text + n, "- &a%zu %zu\n", i, i);
	etcd_fails(text, EM_EFORMAT, "more than 1000 anchors", 1004);

	n = (size_t)sprintf(text, ETCD_MIN "x:\n");
	for (i = 0; i < 1000; i++)
		n += (size_t)sprintf(text + n, "- &a%zu %zu\n", i, i);
	n += (size_t)sprintf(text + n, "y: [");
	while (n < cap - 16)
		n += (size_t)sprintf(text + n, "*a999,");
	strcpy(text + n, "*a0]\n");
	fx_init(&f, text, NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	fx_done(&f);
	free(text);
}
END_TEST

START_TEST(huge_input)
{
	size_t big = 900 * 1024, i;
	char *text = malloc(big + 64);
	struct fx f, g;
	char *out;

	/* A huge scalar under an unknown key: kept and rendered. */
	ck_assert_ptr_nonnull(text);
	strcpy(text, ETCD_MIN "blob: ");
	i = strlen(text);
	memset(text + i, 'z', big - i);
	strcpy(text + big, "\n");
	fx_init(&f, text, NULL);
	ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
	out = render_file(&f, NULL, NULL);
	ck_assert_uint_gt(strlen(out), big - 100);
	reload(&g, out);
	free(out);
	fx_done(&g);
	fx_done(&f);

	/* A huge value where a URL belongs: an error, its quote cut short. */
	memcpy(text + i - 6, "\nendpoints: http://", 19);
	fx_init(&f, ETCD_MIN, text + i - 5);
	ck_assert_int_eq(fx_load(&f), EM_EFORMAT);
	ck_assert_uint_lt(strlen(f.err.msg), EM_ERROR_MSG_MAX);
	ck_assert_ptr_nonnull(strstr(f.err.msg, "bad URL"));
	fx_done(&f);
	free(text);

	/* Over the size cap. */
	text = malloc(2 * 1024 * 1024);
	ck_assert_ptr_nonnull(text);
	memset(text, '#', 2 * 1024 * 1024);
	fx_init(&f, NULL, NULL);
	tu_write_file(f.dir, "etcd.yaml", text, 2 * 1024 * 1024);
	ck_assert_int_eq(fx_load_etcd(&f), EM_ERANGE);
	ck_assert_ptr_nonnull(strstr(f.err.msg, "larger than"));
	fx_done(&f);
	free(text);
}
END_TEST

START_TEST(deep_nesting)
{
	enum { DEPTH = 100000 };
	char *text = malloc(2 * DEPTH + 64);
	struct fx f;
	size_t n;

	ck_assert_ptr_nonnull(text);
	n = (size_t)sprintf(text, ETCD_MIN "deep: ");
	memset(text + n, '[', DEPTH);
	memset(text + n + DEPTH, ']', DEPTH);
	strcpy(text + n + 2 * DEPTH, "\n");
	etcd_fails(text, EM_EFORMAT, "nesting deeper than", 3);
	free(text);

	/* Sixty levels is odd but fine. */
	{
		char ok[256];

		n = (size_t)sprintf(ok, ETCD_MIN "deep: ");
		memset(ok + n, '[', 60);
		memset(ok + n + 60, ']', 60);
		strcpy(ok + n + 120, "\n");
		fx_init(&f, ok, NULL);
		ck_assert_msg(fx_load_etcd(&f) == EM_OK, "%s", f.err.msg);
		fx_done(&f);
	}
}
END_TEST

/* xorshift: the same garbage on every run. */
static unsigned long long rnd(unsigned long long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Loads text as etcd's file; when it loads, renders it, and the rendered
 * file must load again with the same name and data dir. */
static void load_render_reload(const char *dir, const char *text, size_t n)
{
	struct em_etcd_config ec, ec2;
	struct em_error err;
	char path[600];
	char *out = NULL;

	snprintf(path, sizeof(path), "%s/e.yaml", dir);
	tu_write_file(dir, "e.yaml", text, n);
	if (em_etcd_config_load(path, &ec, &err) != EM_OK) {
		ck_assert_uint_gt(strlen(err.msg), 0);
		ck_assert_ptr_null(ec.doc);
		return;
	}
	ck_assert_msg(em_etcd_config_render(&ec, "n=http://a:1", "existing",
	                                    &out, &err) == EM_OK, "%s", err.msg);
	tu_write_file(dir, "e.yaml", out, strlen(out));
	ck_assert_msg(em_etcd_config_load(path, &ec2, &err) == EM_OK,
	              "%s\n---\n%.*s\n---\n%s", err.msg, (int)n, text, out);
	ck_assert_str_eq(ec2.name, ec.name);
	ck_assert_str_eq(ec2.data_dir, ec.data_dir);
	ck_assert_str_eq(ec2.initial_cluster, "n=http://a:1");
	em_etcd_config_free(&ec2);
	em_etcd_config_free(&ec);
	free(out);
}

START_TEST(garbage)
{
	static const char base[] = ETCD_MIN
		"initial-cluster: m1=http://a:2380\n"
		"listen-client-urls: [http://a:1, http://b:2]\n"
		"client-transport-security: {cert-file: /c, key-file: /k}\n"
		"x: &x {y: [1, 2, \"q\\tz\", 'r'], z: |\n    text\n  }\n"
		"w: *x\n";
	static const char alphabet[] = "[]{}:,-&*!|>'\"#%@`?\n\t \\$\x01\xff\xc3";
	unsigned long long seed = 0x9e3779b97f4a7c15ull;
	char *dir = tu_tmpdir("test_config_garbage");
	char buf[sizeof(base) + 64];
	int iter;

	load_render_reload(dir, base, sizeof(base) - 1);
	for (iter = 0; iter < 3000; iter++) {
		size_t n = sizeof(base) - 1, k, edits = 1 + rnd(&seed) % 4;

		memcpy(buf, base, n);
		for (k = 0; k < edits; k++) {
			size_t at = rnd(&seed) % n;

			buf[at] = (rnd(&seed) & 1) ?
			          alphabet[rnd(&seed) % (sizeof(alphabet) - 1)] :
			          (char)rnd(&seed);
		}
		load_render_reload(dir, buf, n);
	}
	/* Pure binary garbage. */
	for (iter = 0; iter < 300; iter++) {
		size_t n = rnd(&seed) % sizeof(buf), k;

		for (k = 0; k < n; k++)
			buf[k] = (char)rnd(&seed);
		load_render_reload(dir, buf, n);
	}
	tu_rmdir(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *good = tcase_create("good");
	TCase *bad = tcase_create("errors");
	TCase *env = tcase_create("env");
	TCase *render = tcase_create("render");
	TCase *weird = tcase_create("weird");

	tcase_add_test(good, good_full);
	tcase_add_test(good, defaults);
	tcase_add_test(good, null_values_are_defaults);
	tcase_add_test(good, data_dir_forms);
	tcase_add_test(good, etcd_config_paths);
	tcase_add_test(good, etcd_alone);
	tcase_add_test(good, etcd_bools);
	tcase_add_test(good, log_names);
	tcase_add_test(good, password_file);
	tcase_add_test(good, durations);
	tcase_add_test(bad, unknown_keys);
	tcase_add_test(bad, backup_keys);
	tcase_add_test(bad, type_errors);
	tcase_add_test(bad, url_errors);
	tcase_add_test(bad, required_keys);
	tcase_add_test(bad, etcd_errors);
	tcase_add_test(bad, etcd_unknown_kept);
	tcase_add_test(bad, syntax_errors);
	tcase_add_test(env, env_expansion);
	tcase_add_test(env, env_errors);
	tcase_add_test(render, render_round_trip);
	tcase_add_test(render, render_adds_keys);
	tcase_add_test(weird, weird_documents);
	tcase_add_test(weird, anchors);
	tcase_add_test(weird, many_anchors);
	tcase_add_test(weird, huge_input);
	tcase_add_test(weird, deep_nesting);
	tcase_add_test(weird, garbage);
	tcase_set_timeout(weird, 120);
	suite_add_tcase(s, good);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, env);
	suite_add_tcase(s, render);
	suite_add_tcase(s, weird);
	return tu_run(s);
}
