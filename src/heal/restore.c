/*
 * restore.c - heal rule 8: a single-member cluster has no peer to heal
 * from, so its lost or corrupt data comes back from the newest verified
 * snapshot of backup.store (backup.h), when there is one.
 *
 * Only a corrupt data dir is moved aside first (quarantine, as for a
 * replacement); an empty one is simply filled.  No journal is needed: a
 * run killed after the quarantine finds an empty data dir next time and
 * restores it then; a restore killed half way leaves only its temporary
 * directory, never a half-restored data dir.
 */
#include "heal_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd-medic/backup.h"
#include "etcd-medic/log.h"

bool restore_single_member(const struct em_config *cfg)
{
	const char *ic = cfg->etcd.initial_cluster;

	return ic == NULL || strchr(ic, ',') == NULL;
}

/* The member's peer URLs as etcd's flag wants them: "a,b". */
static char *peer_urls(const struct em_config *cfg)
{
	const struct em_strv *u = &cfg->etcd.initial_advertise_peer_urls;
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < u->n; i++)
		len += strlen(u->v[i]) + 1;
	s = calloc(1, len);
	for (size_t i = 0; s != NULL && i < u->n; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, u->v[i]);
	}
	return s;
}

static enum em_status restore_from(const struct em_config *cfg,
                                   const char *snapshot,
                                   struct em_error *err)
{
	struct em_restore_opts o = { 0 };
	char *urls = peer_urls(cfg), *initial = NULL;
	enum em_status rc;

	if (urls == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	if (cfg->etcd.initial_cluster != NULL)
		initial = strdup(cfg->etcd.initial_cluster);
	else if (asprintf(&initial, "%s=%s", cfg->etcd.name, urls) < 0)
		initial = NULL;
	if (initial == NULL) {
		free(urls);
		return em_error_set(err, EM_ENOMEM, "out of memory");
	}
	o.snapshot = snapshot;
	o.data_dir = cfg->etcd.data_dir;
	o.name = cfg->etcd.name;
	o.initial_cluster = initial;
	o.initial_advertise_peer_urls = urls;
	o.initial_cluster_token = cfg->etcd.initial_cluster_token;
	rc = em_backup_restore(&o, err);
	free(initial);
	free(urls);
	return rc;
}

/* The newest verified snapshot, fetched into the spool: *path NULL when
 * the store has none. */
static enum em_status fetch(const struct em_config *cfg, char **path,
                            struct em_manifest *m, struct em_error *err)
{
	struct em_store_opts so = { &cfg->backup.s3, 0, 0 };
	struct em_store *st = NULL;
	enum em_status rc;

	*path = NULL;
	rc = em_store_open(cfg->backup.store, &so, &st, err);
	if (rc == EM_OK)
		rc = em_backup_fetch_newest(st, cfg->backup.spool_dir, m, path,
		                            err);
	em_store_free(st);
	return rc;
}

enum em_status restore_run(const struct em_config *cfg, enum em_verdict v,
                           bool *restored, char *why, size_t n,
                           struct em_error *err)
{
	struct em_manifest m;
	struct journal j;
	char *path = NULL;
	enum em_status rc;

	*restored = false;
	if (cfg->backup.store == NULL || !cfg->backup.restore_on_init) {
		snprintf(why, n, "no backup.store to restore from (or "
		         "backup.restore-on-init is false)");
		return EM_OK;
	}
	if (cfg->etcd.wal_dir != NULL) {
		snprintf(why, n, "a separate wal-dir is not restored "
		         "automatically: restore by hand (README)");
		return EM_OK;
	}
	rc = fetch(cfg, &path, &m, err);
	if (rc == EM_ENOENT) {
		snprintf(why, n, "%s", err->msg);
		return EM_OK;
	}
	if (rc != EM_OK)
		return rc;
	em_log(EM_LOG_WARN, "single-member cluster: restoring the data dir "
	       "from the newest verified snapshot", "verdict",
	       em_verdict_name(v), "snapshot", m.id, "store",
	       cfg->backup.store, NULL);
	memset(&j, 0, sizeof(j));
	snprintf(j.member, sizeof(j.member), "%s", cfg->etcd.name);
	if (v == EM_VERDICT_CORRUPT) {
		quarantine_plan(cfg, &j);
		rc = quarantine_data_dir(cfg, &j, err);
	}
	if (rc == EM_OK)
		rc = restore_from(cfg, path, err);
	unlink(path);
	free(path);
	if (rc == EM_OK) {
		*restored = true;
		snprintf(why, n, "restored from snapshot %s (revision %llu)%s%s",
		         m.id, (unsigned long long)m.revision,
		         j.quarantine[0] ? "; the corrupt data dir is at " : "",
		         j.quarantine);
	}
	return rc;
}
