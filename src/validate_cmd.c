/*
 * validate_cmd.c - `etcd-medic validate`: the verdict of a data dir.
 *
 * stdout carries only the verdict (a line of text, or one JSON object with
 * --json); the exit status is the verdict's (DESIGN.md).  Usage errors go
 * to stderr with status 2.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "etcd-medic/cli.h"
#include "etcd-medic/datadir.h"

struct validate_opts {
	const char *data_dir;
	const char *wal_dir;
	enum em_check_mode mode;
	int json;
};

static void validate_usage(FILE *out)
{
	fprintf(out,
	"usage: etcd-medic validate --data-dir DIR [--wal-dir DIR]\n"
	"                           [--mode full|sanity] [--json]\n\n"
	"Judges an etcd data dir from its files alone: the bbolt db\n"
	"(member/snap/db), the WAL (member/wal) and the raft snapshots\n"
	"(member/snap/*.snap).\n\n"
	"  --data-dir DIR   etcd's --data-dir\n"
	"  --wal-dir DIR    etcd's --wal-dir, if the WAL lives elsewhere\n"
	"  --mode full      check every page, record and checksum (default)\n"
	"  --mode sanity    meta pages, structure, framing of the newest WAL\n"
	"                   file: quick, for a start after a clean stop\n"
	"  --json           print one JSON object instead of text\n\n"
	"exit status: 0 healthy, 1 corrupt, 3 empty, 4 in-use (a running\n"
	"etcd holds the db), 5 unreadable, 2 bad usage\n");
}

static int parse(int argc, char **argv, struct validate_opts *o)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "wal-dir", required_argument, NULL, 'w' },
		{ "mode", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->mode = EM_CHECK_FULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data_dir = optarg; break;
		case 'w': o->wal_dir = optarg; break;
		case 'j': o->json = 1; break;
		case 'h': validate_usage(stdout); return 0;
		case 'm':
			if (strcmp(optarg, "full") == 0) {
				o->mode = EM_CHECK_FULL;
			} else if (strcmp(optarg, "sanity") == 0) {
				o->mode = EM_CHECK_SANITY;
			} else {
				fprintf(stderr, "etcd-medic validate: --mode "
				        "must be full or sanity, not '%s'\n",
				        optarg);
				return EM_EXIT_USAGE;
			}
			break;
		default:
			validate_usage(stderr);
			return EM_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "etcd-medic validate: unexpected argument "
		        "'%s'\n", argv[optind]);
		return EM_EXIT_USAGE;
	}
	if (o->data_dir == NULL || o->data_dir[0] == '\0') {
		fprintf(stderr, "etcd-medic validate: --data-dir is required\n");
		return EM_EXIT_USAGE;
	}
	return -1;
}

static json_object *finding_json(const struct em_finding *f)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "file", json_object_new_string(f->file));
	if (f->locus == EM_AT_PAGE)
		json_object_object_add(o, "page",
		                       json_object_new_uint64(f->at));
	else if (f->locus == EM_AT_OFFSET)
		json_object_object_add(o, "offset",
		                       json_object_new_uint64(f->at));
	json_object_object_add(o, "reason", json_object_new_string(f->text));
	return o;
}

static json_object *findings_json(const struct em_finding *f, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, finding_json(&f[i]));
	return a;
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static json_object *db_json(const struct em_bolt_info *b)
{
	json_object *o = json_object_new_object();

	add_u64(o, "size", b->file_size);
	add_u64(o, "page_size", b->page_size);
	json_object_object_add(o, "meta_page", json_object_new_int(b->meta_used));
	add_u64(o, "txid", b->txid);
	add_u64(o, "high_water_mark", b->high_water);
	json_object_object_add(o, "freelist_synced",
	                       json_object_new_boolean(b->freelist_synced));
	add_u64(o, "pages_reachable", b->pages_reachable);
	add_u64(o, "pages_free", b->pages_free);
	add_u64(o, "buckets", b->buckets);
	add_u64(o, "keys", b->keys);
	if (b->has_consistent_index)
		add_u64(o, "consistent_index", b->consistent_index);
	if (b->cluster_version[0])
		json_object_object_add(o, "cluster_version",
		        json_object_new_string(b->cluster_version));
	if (b->storage_version[0])
		json_object_object_add(o, "storage_version",
		        json_object_new_string(b->storage_version));
	return o;
}

static json_object *wal_json(const struct em_wal_info *w)
{
	json_object *o = json_object_new_object();

	add_u64(o, "files", w->n_files);
	add_u64(o, "records", w->records);
	add_u64(o, "entries", w->entries);
	add_u64(o, "last_index", w->last_index);
	if (w->have_state) {
		add_u64(o, "term", w->term);
		add_u64(o, "commit", w->commit);
	}
	if (w->have_metadata) {
		char id[24];
		snprintf(id, sizeof(id), "%llx", (unsigned long long)w->node_id);
		json_object_object_add(o, "member_id", json_object_new_string(id));
		snprintf(id, sizeof(id), "%llx",
		         (unsigned long long)w->cluster_id);
		json_object_object_add(o, "cluster_id", json_object_new_string(id));
	}
	json_object_object_add(o, "torn_tail",
	                       json_object_new_boolean(w->torn_tail));
	return o;
}

static json_object *snap_json(const struct em_snap_info *s)
{
	json_object *o = json_object_new_object();

	add_u64(o, "files", s->n_files);
	add_u64(o, "unloadable", s->n_bad);
	if (s->loaded) {
		json_object_object_add(o, "loads", json_object_new_string(s->file));
		add_u64(o, "index", s->index);
		add_u64(o, "term", s->term);
	}
	return o;
}

static json_object *timings_json(const struct em_datadir_result *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "db_seconds",
	                       json_object_new_double(r->db_seconds));
	json_object_object_add(o, "wal_seconds",
	                       json_object_new_double(r->wal_seconds));
	json_object_object_add(o, "snap_seconds",
	                       json_object_new_double(r->snap_seconds));
	return o;
}

static void print_json(const struct validate_opts *o,
                       const struct em_datadir_result *r)
{
	const struct em_report *rep = &r->report;
	json_object *j = json_object_new_object();

	json_object_object_add(j, "verdict",
	        json_object_new_string(em_verdict_name(rep->verdict)));
	json_object_object_add(j, "mode",
	        json_object_new_string(em_check_mode_name(r->mode)));
	json_object_object_add(j, "data_dir",
	        json_object_new_string(o->data_dir));
	json_object_object_add(j, "duration_seconds",
	        json_object_new_double(r->seconds));
	json_object_object_add(j, "timings", timings_json(r));
	json_object_object_add(j, "evidence",
	        findings_json(rep->evidence, rep->n_evidence));
	add_u64(j, "evidence_total", rep->total_evidence);
	if (rep->total_blockers)
		json_object_object_add(j, "blockers",
		        findings_json(rep->blockers, rep->n_blockers));
	json_object_object_add(j, "notes",
	        findings_json(rep->notes, rep->n_notes));
	json_object_object_add(j, "db", db_json(&r->bolt));
	json_object_object_add(j, "wal", wal_json(&r->wal));
	json_object_object_add(j, "snap", snap_json(&r->snap));
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
	                                    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

static void print_findings(const char *label, const struct em_finding *f,
                           size_t n, size_t total)
{
	for (size_t i = 0; i < n; i++) {
		printf("  %s: %s", label, f[i].file[0] ? f[i].file : ".");
		if (f[i].locus != EM_AT_FILE)
			printf(" %s %llu", em_locus_name(f[i].locus),
			       (unsigned long long)f[i].at);
		printf(": %s\n", f[i].text);
	}
	if (total > n)
		printf("  ... and %zu more\n", total - n);
}

static void print_text(const struct em_datadir_result *r)
{
	const struct em_report *rep = &r->report;

	printf("%s (%s check, %.3f s)\n", em_verdict_name(rep->verdict),
	       em_check_mode_name(r->mode), r->seconds);
	print_findings("blocked", rep->blockers, rep->n_blockers,
	               rep->total_blockers);
	print_findings("evidence", rep->evidence, rep->n_evidence,
	               rep->total_evidence);
	print_findings("note", rep->notes, rep->n_notes, rep->total_notes);
}

int em_cmd_validate(int argc, char **argv)
{
	struct validate_opts o;
	struct em_datadir_result res;
	struct em_error err;
	enum em_status st;
	int rc = parse(argc, argv, &o);

	if (rc >= 0)
		return rc;
	em_error_clear(&err);
	st = em_datadir_check(o.data_dir, o.wal_dir, o.mode, &res, &err);
	if (st == EM_EUSAGE || st == EM_ENOENT) {
		fprintf(stderr, "etcd-medic validate: %s\n", err.msg);
		rc = EM_EXIT_USAGE;
	} else if (st != EM_OK) {
		/* Could not finish (out of memory): never a verdict. */
		fprintf(stderr, "etcd-medic validate: %s\n", err.msg);
		rc = em_verdict_exit_code(EM_VERDICT_UNREADABLE);
	} else {
		if (o.json)
			print_json(&o, &res);
		else
			print_text(&res);
		rc = em_verdict_exit_code(res.report.verdict);
	}
	em_datadir_result_free(&res);
	return rc;
}
