/*
 * datadir.c - one verdict for an etcd data dir (see datadir.h).
 *
 * The three file checks say whether each file is intact; this module asks
 * what etcd itself would do on start with all of them together: which
 * snapshot it loads, whether the WAL can be opened there, whether the db is
 * behind that snapshot without the .snap.db that would bring it forward.
 * Those are the cases where every file is intact and etcd still fails.
 */
#include "etcd-medic/datadir.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DB_NAME "member/snap/db"
#define WAL_NAME "member/wal"
#define SNAP_NAME "member/snap"

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum em_status join(char *out, size_t outlen, const char *a,
                           const char *b, struct em_error *err)
{
	int n = snprintf(out, outlen, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= outlen)
		return em_error_set(err, EM_EUSAGE, "path too long: %s/%s",
		                    a, b);
	return EM_OK;
}

/* 0: exists, 1: does not exist, -1: cannot tell (errno set). */
static int path_state(const char *path, struct stat *sb)
{
	if (stat(path, sb) == 0)
		return 0;
	return errno == ENOENT ? 1 : -1;
}

/* A data dir that does not exist yet is empty when its parent exists: that
 * is a member's first start.  When the parent is missing too, the path is
 * more likely a mistake than a new member. */
static enum em_status judge_missing(const char *dir,
                                    struct em_datadir_result *res,
                                    struct em_error *err)
{
	char copy[PATH_MAX];
	struct stat sb;

	snprintf(copy, sizeof(copy), "%s", dir);
	if (path_state(dirname(copy), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		em_report_note(&res->report, "", EM_AT_FILE, 0,
		               "data dir %s does not exist yet", dir);
		em_report_raise(&res->report, EM_VERDICT_EMPTY);
		return EM_OK;
	}
	return em_error_set(err, EM_ENOENT, "data dir %s does not exist, "
	                    "nor does its parent directory", dir);
}

/* True if dir holds at least one entry whose name ends in suffix. */
static bool has_suffix_entry(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t sl = strlen(suffix);
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		found = nl > sl && strcmp(de->d_name + nl - sl, suffix) == 0;
	}
	closedir(d);
	return found;
}

/*
 * The snapshot records etcd accepts from the WAL: those not beyond the
 * committed index (as wal.ValidSnapshotEntries filters them).
 */
static size_t valid_walsnaps(const struct em_wal_info *wal,
                             struct em_wal_snapshot *out)
{
	size_t n = 0;

	for (size_t i = 0; i < wal->n_snaps; i++)
		if (wal->snaps[i].index <= wal->commit)
			out[n++] = wal->snaps[i];
	return n;
}

/*
 * Does the etcd that can open this db read .snap files at start?  3.7 and
 * later do not (bootstrap.go recoverSnapshot: the snapshot is the WAL's
 * last valid snapshot record, membership comes from the db), and a db whose
 * storage version is 3.7 or later is refused by every older etcd ("version
 * 3.7.0 is not supported").  Without a storage version (3.5 and earlier
 * never write one; 3.6+ only once the cluster version reached 3.6) a 3.5 or
 * 3.6 may open it, and they load a .snap file: it counts.
 */
static bool etcd_reads_snap_files(const struct em_bolt_info *b)
{
	unsigned major = 0, minor = 0;

	if (sscanf(b->storage_version, "%u.%u", &major, &minor) != 2)
		return true;
	return major < 3 || (major == 3 && minor < 7);
}

/*
 * The snapshot etcd starts from: the .snap it loads (3.6 and earlier) or
 * the newest snapshot record of the WAL (3.7 and later); index 0 if none.
 */
static uint64_t start_index(const struct em_datadir_result *res, bool files,
                            const struct em_wal_snapshot *ws, size_t nws,
                            const char **what, const char **file)
{
	if (files) {
		*what = res->snap.loaded ? "the snapshot it loads," :
		        "no snapshot to load,";
		*file = res->snap.loaded ? res->snap.file : "so from the start";
		return res->snap.loaded ? res->snap.index : 0;
	}
	*what = nws > 0 ? "the WAL's last snapshot record," :
	        "no snapshot record,";
	*file = nws > 0 ? "as etcd 3.7 and later start" : "so from the start";
	return nws > 0 ? ws[nws - 1].index : 0;
}

/*
 * With the snapshot etcd would start from, can it open the WAL, and is the
 * db at least as new as the snapshot (or the .snap.db that replaces it)?
 */
static void cross_check(const char *snapdir, bool have_db, bool files,
                        const struct em_wal_snapshot *ws, size_t nws,
                        struct em_datadir_result *res)
{
	const char *what, *file;
	uint64_t at = start_index(res, files, ws, nws, &what, &file);
	uint64_t cindex = res->bolt.consistent_index;
	char path[PATH_MAX + 32];
	char why[256];
	struct stat sb;

	if (!em_wal_check_open_at(&res->wal, at, why, sizeof(why)))
		em_report_corrupt(&res->report, WAL_NAME, EM_AT_FILE, 0,
		                  "etcd cannot replay the WAL from index %llu "
		                  "(%s %s): %s", (unsigned long long)at, what,
		                  file, why);
	if (at == 0 || at <= cindex) {
		if (!have_db || res->bolt.file_size == 0)
			em_report_note(&res->report, DB_NAME, EM_AT_FILE, 0,
			               "no db: etcd starts a new one and "
			               "replays the WAL into it");
		return;
	}
	snprintf(path, sizeof(path), "%s/%016llx.snap.db", snapdir,
	         (unsigned long long)at);
	if (stat(path, &sb) == 0)
		return;
	em_report_corrupt(&res->report, have_db ? DB_NAME : SNAP_NAME,
	                  EM_AT_FILE, 0,
	                  "db consistent_index %llu is behind the snapshot "
	                  "etcd starts from (%s index %llu) and "
	                  "%016llx.snap.db is missing: etcd fails with "
	                  "\"failed to find database snapshot file\"",
	                  (unsigned long long)cindex,
	                  files ? res->snap.file : "the WAL's record,",
	                  (unsigned long long)at, (unsigned long long)at);
}

struct paths {
	char member[PATH_MAX];
	char wal[PATH_MAX];
	char snap[PATH_MAX];
	char db[PATH_MAX];
};

static enum em_status make_paths(const char *dir, const char *wal_dir,
                                 struct paths *p, struct em_error *err)
{
	if (join(p->member, sizeof(p->member), dir, "member", err) ||
	    join(p->snap, sizeof(p->snap), p->member, "snap", err) ||
	    join(p->db, sizeof(p->db), p->snap, "db", err))
		return err ? err->status : EM_EUSAGE;
	if (wal_dir != NULL) {
		if (snprintf(p->wal, sizeof(p->wal), "%s", wal_dir) >=
		    (int)sizeof(p->wal))
			return em_error_set(err, EM_EUSAGE, "path too long: %s",
			                    wal_dir);
		return EM_OK;
	}
	return join(p->wal, sizeof(p->wal), p->member, "wal", err);
}

/*
 * Without a db (or with an empty one, which bbolt initialises) etcd starts
 * from index 0: it rebuilds the db from the WAL only when the WAL still
 * starts at index 0, or moves a .snap.db into place.  The full check decides
 * this from the snapshot etcd loads (cross_check); without the decoded WAL,
 * the file names tell enough.
 */
static void judge_no_db(const struct paths *p, struct em_datadir_result *res)
{
	const struct em_wal_info *wal = &res->wal;

	/* The full check judges this in cross_check, from the snapshot. */
	if (wal->n_files == 0 || wal->decoded_all)
		return;
	if (wal->files[0].index == 0 || has_suffix_entry(p->snap, ".snap.db")) {
		em_report_note(&res->report, DB_NAME, EM_AT_FILE, 0,
		               "no db: etcd starts a new one and replays the "
		               "WAL into it");
		return;
	}
	em_report_corrupt(&res->report, DB_NAME, EM_AT_FILE, 0,
	                  "no db, and the WAL starts at index %llu (%s), "
	                  "not 0: etcd cannot rebuild the db",
	                  (unsigned long long)wal->files[0].index,
	                  wal->files[0].name);
}

/* Runs the file checks and the cross-checks on a dir that has member data. */
static enum em_status check_member(const struct paths *p,
                                   enum em_check_mode mode,
                                   struct em_datadir_result *res,
                                   struct em_error *err)
{
	struct em_wal_snapshot *ws = NULL;
	struct stat sb;
	bool have_wal = has_suffix_entry(p->wal, ".wal");
	bool have_db = path_state(p->db, &sb) == 0;
	enum em_status st;
	size_t nws = 0;
	bool files;
	double t;

	if (!have_wal && !have_db && !has_suffix_entry(p->snap, ".snap")) {
		em_report_note(&res->report, "member", EM_AT_FILE, 0,
		               "member dir holds no WAL, db or snapshot");
		em_report_raise(&res->report, EM_VERDICT_EMPTY);
		return EM_OK;
	}
	if (!have_wal)
		em_report_corrupt(&res->report, WAL_NAME, EM_AT_FILE, 0,
		                  "no WAL files: the member's identity and raft "
		                  "log are lost%s", have_db ?
		                  " though its db exists" : "");
	t = now_seconds();
	if (have_db) {
		st = em_bolt_check_file(p->db, DB_NAME, mode, &res->report,
		                        &res->bolt, err);
		if (st != EM_OK)
			return st;
	}
	res->db_seconds = now_seconds() - t;
	if (!have_wal)
		return EM_OK;
	t = now_seconds();
	st = em_wal_check_dir(p->wal, WAL_NAME, mode, &res->report, &res->wal,
	                      err);
	res->wal_seconds = now_seconds() - t;
	if (st != EM_OK)
		return st;
	if (!have_db || res->bolt.file_size == 0)
		judge_no_db(p, res);
	if (res->wal.decoded_all) {
		ws = calloc(res->wal.n_snaps + 1, sizeof(*ws));
		if (ws == NULL)
			return em_error_set(err, EM_ENOMEM, "out of memory");
		nws = valid_walsnaps(&res->wal, ws);
	}
	files = etcd_reads_snap_files(&res->bolt);
	t = now_seconds();
	st = em_snap_check_dir(p->snap, SNAP_NAME, mode, ws, nws,
	                       res->wal.decoded_all, files, &res->report,
	                       &res->snap, err);
	res->snap_seconds = now_seconds() - t;
	if (st == EM_OK && res->wal.decoded_all &&
	    res->report.verdict == EM_VERDICT_HEALTHY)
		cross_check(p->snap, have_db, files, ws, nws, res);
	free(ws);
	return st;
}

enum em_status em_datadir_check(const char *dir, const char *wal_dir,
                                enum em_check_mode mode,
                                struct em_datadir_result *res,
                                struct em_error *err)
{
	struct paths p;
	struct stat sb;
	double t0 = now_seconds();
	enum em_status st;
	int s;

	memset(res, 0, sizeof(*res));
	em_report_init(&res->report);
	res->bolt.meta_used = -1;
	res->mode = mode;
	s = path_state(dir, &sb);
	if (s == 1) {
		st = judge_missing(dir, res, err);
		goto done;
	}
	if (s < 0) {
		em_report_block(&res->report, EM_VERDICT_UNREADABLE, "",
		                "cannot stat data dir %s: %s", dir,
		                strerror(errno));
		st = EM_OK;
		goto done;
	}
	if (!S_ISDIR(sb.st_mode)) {
		st = em_error_set(err, EM_EUSAGE, "%s is not a directory", dir);
		goto done;
	}
	st = make_paths(dir, wal_dir, &p, err);
	if (st != EM_OK)
		goto done;
	s = path_state(p.member, &sb);
	if (s == 0 && !S_ISDIR(sb.st_mode)) {
		em_report_corrupt(&res->report, "member", EM_AT_FILE, 0,
		                  "not a directory: etcd cannot start on it");
	} else if (s == 1) {
		em_report_note(&res->report, "member", EM_AT_FILE, 0,
		               "no member dir: a new member");
		em_report_raise(&res->report, EM_VERDICT_EMPTY);
	} else if (s < 0 || access(p.member, R_OK | X_OK) != 0) {
		em_report_block(&res->report, EM_VERDICT_UNREADABLE, "member",
		                "cannot read %s: %s", p.member,
		                strerror(errno));
	} else {
		st = check_member(&p, mode, res, err);
	}
done:
	res->seconds = now_seconds() - t0;
	return st;
}

void em_datadir_result_free(struct em_datadir_result *res)
{
	em_report_free(&res->report);
	em_wal_info_free(&res->wal);
}
