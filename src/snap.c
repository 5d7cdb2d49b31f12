/*
 * snap.c - verification of raft snapshot files, the .snap files of
 * member/snap (see snap.h).
 *
 * A .snap is damaged when etcd's snap.Read would refuse it (empty, bad
 * protobuf, crc mismatch); whether that damage matters is decided the way
 * etcd's LoadNewestAvailable picks a snapshot at start-up: newest name first,
 * the first one that loads and whose term and index the WAL holds as a
 * committed snapshot record wins, and a file that fails to load is renamed
 * .broken and skipped.  So a broken file is evidence only when etcd would
 * find no snapshot the WAL refers to.
 *
 * The snapshot etcd loads also carries the v2 store, and etcd 3.6 refuses to
 * start when it holds anything besides membership (em_snap_v2_custom).
 */
#include "etcd-medic/snap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "etcd-medic/crc32c.h"
#include "etcd-medic/protowire.h"

#define BIT(n) (1u << (n))

/* What became of one .snap file. */
enum sf_state {
	SF_UNTRIED = 0, /* not read: etcd stops at the one it loads */
	SF_OK,
	SF_BAD,         /* etcd's snap.Read would fail */
	SF_UNREAD,      /* could not be read here (reported as a blocker) */
};

struct snapfile {
	char *name;
	enum sf_state state;
	struct em_snap_meta meta;
	char *why;      /* SF_BAD: what is wrong */
	char *v2;       /* SF_OK: custom v2 content found, where; else NULL */
};

struct snapdir {
	const char *dir;
	const char *name;             /* how findings name the dir */
	const struct em_wal_snapshot *walsnaps;
	size_t n_walsnaps;
	bool have_wal;
	bool etcd_reads;              /* false: 3.7+, which reads no .snap */
	struct em_report *rep;
	struct snapfile *files;       /* newest first */
	size_t n;
	size_t cap;
};

/* "a/b" into buf; a name too long for a finding is cut short. */
static const char *join(char *buf, size_t size, const char *a, const char *b)
{
	if (snprintf(buf, size, "%s/%s", a, b) < 0)
		buf[0] = '\0';
	return buf;
}

/* ---- decoding --------------------------------------------------------- */

static enum em_status bad_at(struct em_snap_meta *meta, struct em_error *err,
                             size_t off, const char *what)
{
	meta->at_offset = true;
	meta->offset = off;
	return em_error_set(err, EM_EFORMAT,
	                    "malformed %s: bad protobuf field at offset %zu",
	                    what, off);
}

/* raftpb.SnapshotMetadata; occurrences merge, as gogoproto's do. */
static int decode_metadata(const uint8_t *p, size_t len,
                           struct em_snap_meta *meta, size_t *bad)
{
	struct em_pb_simple m;

	if (em_pb_decode_simple(p, len, BIT(2) | BIT(3), BIT(1), &m, bad) != 0)
		return -1;
	if ((m.seen & BIT(1)) && !em_wal_confstate_ok(m.bytes[1], m.len[1])) {
		*bad = (size_t)(m.bytes[1] - p);
		return -1;
	}
	if (m.seen & BIT(2))
		meta->index = m.u64[2];
	if (m.seen & BIT(3))
		meta->term = m.u64[3];
	return 0;
}

/* raftpb.Snapshot{data = 1, metadata = 2}, at offset base of the file.
 * *bad is relative to p. */
static int decode_raft_snapshot(const uint8_t *p, size_t len, size_t base,
                                struct em_snap_meta *meta, size_t *bad)
{
	struct em_pb_reader r;
	struct em_pb_field f;
	const uint8_t *at;
	size_t inner = 0;
	int rc;

	em_pb_init(&r, p, len);
	for (;;) {
		at = r.p;
		rc = em_pb_next(&r, &f);
		if (rc <= 0)
			break;
		if (f.number != 1 && f.number != 2)
			continue;
		if (f.type != EM_PB_BYTES) {
			rc = -1;
			break;
		}
		if (f.number == 1) {
			meta->data_len = f.len;
			meta->data_off = base + (size_t)(f.bytes - p);
		} else if (decode_metadata(f.bytes, f.len, meta, &inner) != 0) {
			*bad = (size_t)(f.bytes - p) + inner;
			return -1;
		}
	}
	if (rc < 0)
		*bad = (size_t)(at - p);
	return rc;
}

enum em_status em_snap_decode_buf(const uint8_t *buf, size_t len,
                                  struct em_snap_meta *meta,
                                  struct em_error *err)
{
	struct em_pb_simple m;
	size_t bad = 0;
	uint32_t crc;

	memset(meta, 0, sizeof(*meta));
	em_error_clear(err);
	if (buf == NULL || len == 0)
		return em_error_set(err, EM_EFORMAT,
		                    "empty snapshot: the file is empty");
	if (em_pb_decode_simple(buf, len, BIT(1), BIT(2), &m, &bad) != 0)
		return bad_at(meta, err, bad, "snappb.Snapshot");
	meta->crc = (uint32_t)m.u64[1];
	if (m.len[2] == 0 || meta->crc == 0)
		return em_error_set(err, EM_EFORMAT, "empty snapshot: %s",
		                    m.len[2] == 0 ? "no data" : "crc is 0");
	crc = em_crc32c(0, m.bytes[2], m.len[2]);
	if (crc != meta->crc)
		return em_error_set(err, EM_EFORMAT, "crc mismatch: stored "
		                    "0x%08x, computed 0x%08x", meta->crc, crc);
	if (decode_raft_snapshot(m.bytes[2], m.len[2],
	                         (size_t)(m.bytes[2] - buf), meta, &bad) != 0)
		return bad_at(meta, err, (size_t)(m.bytes[2] - buf) + bad,
		              "raftpb.Snapshot");
	return EM_OK;
}

/* ---- the v2 store ---------------------------------------------------- */

/* A v2 store node's children, without the hidden ones ("_" names), as
 * etcd's Get lists them; n counts them, first is one of them. */
static size_t v2_children(json_object *node, const char **first)
{
	json_object *ch;
	size_t n = 0;

	*first = NULL;
	if (!json_object_object_get_ex(node, "Children", &ch) ||
	    !json_object_is_type(ch, json_type_object))
		return 0;
	json_object_object_foreach(ch, name, child) {
		(void)child;
		if (name[0] == '_')
			continue;
		if (n++ == 0)
			*first = name;
	}
	return n;
}

/*
 * Does the v2 store image (the JSON of a .snap's data) hold anything but
 * membership (snap.h)?  etcd 3.6 refuses to start on it: bootstrap.go recoverSnapshot
 * -> storage.AssertNoV2StoreContent at --v2-deprecation=write-only, the only
 * stage 3.6 allows; 3.5 only warns.  The rule is membership.IsMetaStoreOnly:
 * under the root, /0 (membership) is allowed, /2 (v2 auth) when none of its
 * children has children, any other node only without children.  Says where
 * into what; false too when the image does not parse (no guess).
 */
bool em_snap_v2_custom(const uint8_t *p, size_t n, char *what, size_t size)
{
	json_tokener *tok = json_tokener_new_ex(1024);
	json_object *o = NULL, *root, *ch;
	bool custom = false;

	if (tok == NULL || n > INT32_MAX)
		goto out;
	o = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	if (o == NULL || !json_object_object_get_ex(o, "Root", &root) ||
	    !json_object_object_get_ex(root, "Children", &ch) ||
	    !json_object_is_type(ch, json_type_object))
		goto out;
	json_object_object_foreach(ch, name, node) {
		const char *first;
		size_t k;

		if (name[0] == '_' || strcmp(name, "0") == 0)
			continue;
		if (strcmp(name, "2") == 0) {
			json_object *auth;
			json_object_object_get_ex(node, "Children", &auth);
			if (!json_object_is_type(auth, json_type_object))
				continue;
			json_object_object_foreach(auth, sub, subnode) {
				if (v2_children(subnode, &first) > 0) {
					snprintf(what, size, "/2/%s/%s", sub,
					         first);
					custom = true;
					goto out;
				}
			}
			continue;
		}
		if ((k = v2_children(node, &first)) > 0) {
			snprintf(what, size, "/%s/%s%s", name, first,
			         k > 1 ? " and more" : "");
			custom = true;
			goto out;
		}
	}
out:
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	return custom;
}

/* ---- files ------------------------------------------------------------ */

static enum em_status read_all(int fd, uint64_t size, uint8_t **out,
                               size_t *len, struct em_error *err)
{
	uint8_t *buf;
	size_t got = 0;

	if (size > SIZE_MAX - 1)
		return em_error_set(err, EM_ENOMEM, "file too large");
	buf = malloc(size ? (size_t)size : 1);
	if (buf == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory reading "
		                    "%" PRIu64 " bytes", size);
	while (got < size) {
		ssize_t r = pread(fd, buf + got, (size_t)size - got,
		                  (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return em_error_errno(err, EM_EIO, errno, "read");
		}
		if (r == 0)
			break; /* shrank meanwhile: judge what is there */
		got += (size_t)r;
	}
	*out = buf;
	*len = got;
	return EM_OK;
}

static enum em_status set_bad(struct snapfile *f, const char *why,
                              struct em_error *err)
{
	f->state = SF_BAD;
	f->why = strdup(why);
	if (f->why == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	return EM_OK;
}

/* Reads and decodes one file; fills f->state. */
static enum em_status load(struct snapdir *sd, struct snapfile *f,
                           struct em_error *err)
{
	struct em_error derr;
	struct stat sb;
	uint8_t *buf = NULL;
	size_t len = 0;
	enum em_status st;
	int dfd, fd = -1;

	dfd = open(sd->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fd = openat(dfd, f->name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		close(dfd);
	}
	if (fd < 0) {
		st = em_error_errno(err, EM_EIO, errno, "open");
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		st = em_error_errno(err, EM_EIO, errno, "stat");
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		st = set_bad(f, "not a regular file", err);
		goto out;
	}
	st = read_all(fd, (uint64_t)sb.st_size, &buf, &len, err);
	if (st != EM_OK)
		goto out;
	if (em_snap_decode_buf(buf, len, &f->meta, &derr) == EM_OK) {
		char where[200];

		f->state = SF_OK;
		if (sd->etcd_reads &&
		    em_snap_v2_custom(buf + f->meta.data_off,
		                      f->meta.data_len, where, sizeof(where)) &&
		    (f->v2 = strdup(where)) == NULL)
			st = em_error_set(err, EM_ENOMEM, "out of memory");
	} else {
		st = set_bad(f, derr.msg, err);
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return st;
}

/* An I/O failure makes the file unreadable, not broken. */
static enum em_status load_file(struct snapdir *sd, struct snapfile *f,
                                struct em_error *err)
{
	char rel[EM_FINDING_FILE_MAX];
	enum em_status st = load(sd, f, err);

	if (st != EM_EIO)
		return st;
	f->state = SF_UNREAD;
	join(rel, sizeof(rel), sd->name, f->name);
	em_report_block(sd->rep, EM_VERDICT_UNREADABLE, rel, "%s", err->msg);
	em_error_clear(err);
	return EM_OK;
}

/* ---- selection -------------------------------------------------------- */

static bool in_wal(const struct snapdir *sd, uint64_t term, uint64_t index)
{
	size_t i;

	if (!sd->have_wal)
		return true; /* no WAL to go by: any intact file will do */
	for (i = 0; i < sd->n_walsnaps; i++)
		if (sd->walsnaps[i].term == term &&
		    sd->walsnaps[i].index == index)
			return true;
	return false;
}

/* Reads exactly 16 lower-case hex digits, as etcd writes them. */
static bool hex16(const char *p, uint64_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 16; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			*v = (*v << 4) | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v = (*v << 4) | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	return true;
}

/*
 * Does the name say term-index of a snapshot the WAL refers to?  Only the
 * name can tell which snapshot a file that does not load was meant to be.
 */
static bool name_in_wal(const struct snapdir *sd, const char *name)
{
	uint64_t term, index;

	if (!sd->have_wal)
		return true;
	if (strlen(name) != 38 || name[16] != '-' ||
	    strcmp(name + 33, ".snap") != 0 ||
	    !hex16(name, &term) || !hex16(name + 17, &index))
		return false;
	return in_wal(sd, term, index);
}

/* Index of the file etcd loads, or n if none; reads as etcd does. */
static enum em_status select_snap(struct snapdir *sd, bool full,
                                  size_t *sel, struct em_error *err)
{
	size_t i;

	*sel = sd->n;
	for (i = 0; i < sd->n; i++) {
		struct snapfile *f = &sd->files[i];
		enum em_status st;

		if (!full && *sel < sd->n)
			break;
		st = load_file(sd, f, err);
		if (st != EM_OK)
			return st;
		if (*sel == sd->n && f->state == SF_OK &&
		    in_wal(sd, f->meta.term, f->meta.index))
			*sel = i;
	}
	return EM_OK;
}

static void judge_bad(struct snapdir *sd, size_t i, size_t sel,
                      const char *rel)
{
	const struct snapfile *f = &sd->files[i];
	enum em_locus locus = f->meta.at_offset ? EM_AT_OFFSET : EM_AT_FILE;
	uint64_t at = f->meta.at_offset ? f->meta.offset : 0;

	if (!sd->etcd_reads)
		em_report_note(sd->rep, rel, locus, at, "cannot be loaded "
		               "(%s); the db's storage version says etcd 3.7 "
		               "or later, which reads no .snap file at start: "
		               "it does not need it", f->why);
	else if (sel < sd->n)
		em_report_note(sd->rep, rel, locus, at, "cannot be loaded "
		               "(%s); etcd %s", f->why, i < sel ?
		               "renames it .broken and loads an older one" :
		               "loads a newer snapshot and does not need it");
	else if (!sd->have_wal)
		/* Without the WAL's snapshot records (a sanity check) we
		 * cannot tell a needed snapshot from one a crash left before
		 * etcd recorded it: never evidence on a guess.  A full check
		 * decides, and a start that fails makes the next one full. */
		em_report_note(sd->rep, rel, locus, at, "cannot be loaded "
		               "(%s); a full check tells whether etcd needs "
		               "it", f->why);
	else if (name_in_wal(sd, f->name))
		em_report_corrupt(sd->rep, rel, locus, at, "snapshot cannot be "
		                  "loaded (%s), and etcd has no other snapshot "
		                  "the WAL refers to", f->why);
	else
		em_report_note(sd->rep, rel, locus, at, "cannot be loaded "
		               "(%s); the WAL does not refer to it, etcd "
		               "ignores it", f->why);
}

static void judge_ok(struct snapdir *sd, size_t i, const char *rel)
{
	const struct snapfile *f = &sd->files[i];
	char want[64];

	snprintf(want, sizeof(want), "%016" PRIx64 "-%016" PRIx64 ".snap",
	         f->meta.term, f->meta.index);
	if (strcmp(want, f->name) != 0)
		em_report_note(sd->rep, rel, EM_AT_FILE, 0, "holds the "
		               "snapshot at term %" PRIu64 ", index %" PRIu64
		               ", which its name does not say", f->meta.term,
		               f->meta.index);
	if (!in_wal(sd, f->meta.term, f->meta.index))
		em_report_note(sd->rep, rel, EM_AT_FILE, 0, "not among the "
		               "WAL's committed snapshot records; etcd ignores "
		               "it (an old snapshot whose WAL files were purged, "
		               "or one a crash left before the WAL recorded it)");
}

static void judge(struct snapdir *sd, size_t sel, struct em_snap_info *info)
{
	char rel[EM_FINDING_FILE_MAX];
	size_t i;

	for (i = 0; i < sd->n; i++) {
		const struct snapfile *f = &sd->files[i];

		join(rel, sizeof(rel), sd->name, f->name);
		if (f->state == SF_BAD) {
			info->n_bad++;
			judge_bad(sd, i, sel, rel);
		} else if (f->state == SF_OK) {
			judge_ok(sd, i, rel);
		}
	}
	/* 3.7 and later start from the WAL's snapshot record, not a file. */
	if (sel == sd->n || !sd->etcd_reads)
		return;
	info->loaded = true;
	if (sd->files[sel].v2 != NULL) {
		info->v2_custom = true;
		join(rel, sizeof(rel), sd->name, sd->files[sel].name);
		em_report_note(sd->rep, rel, EM_AT_FILE, 0, "its v2 store holds "
		               "data besides membership (%s): etcd 3.6 refuses "
		               "to start on it (\"detected disallowed custom "
		               "content in v2store\"), 3.5 only warns; remove it "
		               "with etcd 3.5 before upgrading",
		               sd->files[sel].v2);
	}
	snprintf(info->file, sizeof(info->file), "%s", sd->files[sel].name);
	info->term = sd->files[sel].meta.term;
	info->index = sd->files[sel].meta.index;
}

/* ---- directory -------------------------------------------------------- */

static enum em_status add_name(struct snapdir *sd, const char *name,
                               struct em_error *err)
{
	if (sd->n == sd->cap) {
		size_t ncap = sd->cap ? sd->cap * 2 : 8;
		struct snapfile *nf = realloc(sd->files, ncap * sizeof(*nf));

		if (nf == NULL)
			return em_error_set(err, EM_ENOMEM, "out of memory");
		sd->files = nf;
		sd->cap = ncap;
	}
	memset(&sd->files[sd->n], 0, sizeof(sd->files[0]));
	sd->files[sd->n].name = strdup(name);
	if (sd->files[sd->n].name == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	sd->n++;
	return EM_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* etcd's snapNames: names ending in .snap, after it deletes db.tmp*. */
static enum em_status list_one(struct snapdir *sd, const char *file,
                               struct em_error *err)
{
	char rel[EM_FINDING_FILE_MAX];

	if (strncmp(file, "db.tmp", 6) == 0)
		return EM_OK;
	if (ends_with(file, ".snap"))
		return add_name(sd, file, err);
	if (ends_with(file, ".broken")) {
		join(rel, sizeof(rel), sd->name, file);
		em_report_note(sd->rep, rel, EM_AT_FILE, 0, "a snapshot file "
		               "etcd could not load earlier and set aside");
	}
	return EM_OK;
}

static int newest_first(const void *a, const void *b)
{
	const struct snapfile *x = a, *y = b;

	return strcmp(y->name, x->name);
}

static enum em_status list_dir(struct snapdir *sd, struct em_error *err)
{
	enum em_status st = EM_OK;
	struct dirent *de;
	DIR *d;

	d = opendir(sd->dir);
	if (d == NULL) {
		if (errno != ENOENT)
			em_report_block(sd->rep, EM_VERDICT_UNREADABLE,
			                sd->name, "cannot open the snap "
			                "directory: %s", strerror(errno));
		return EM_OK;
	}
	for (errno = 0; st == EM_OK && (de = readdir(d)) != NULL; errno = 0)
		st = list_one(sd, de->d_name, err);
	if (st == EM_OK && errno != 0)
		em_report_block(sd->rep, EM_VERDICT_UNREADABLE, sd->name,
		                "cannot read the snap directory: %s",
		                strerror(errno));
	closedir(d);
	if (sd->n > 1)
		qsort(sd->files, sd->n, sizeof(*sd->files), newest_first);
	return st;
}

static void snapdir_free(struct snapdir *sd)
{
	size_t i;

	for (i = 0; i < sd->n; i++) {
		free(sd->files[i].name);
		free(sd->files[i].why);
		free(sd->files[i].v2);
	}
	free(sd->files);
}

enum em_status em_snap_check_dir(const char *dir, const char *name,
                                 enum em_check_mode mode,
                                 const struct em_wal_snapshot *walsnaps,
                                 size_t n_walsnaps, bool have_wal,
                                 bool etcd_reads, struct em_report *rep,
                                 struct em_snap_info *info,
                                 struct em_error *err)
{
	struct em_error local;
	struct snapdir sd;
	enum em_status st;
	size_t sel = 0;

	memset(info, 0, sizeof(*info));
	memset(&sd, 0, sizeof(sd));
	if (err == NULL)
		err = &local; /* read errors are told apart by err->status */
	em_error_clear(err);
	sd.dir = dir;
	sd.name = name;
	sd.walsnaps = walsnaps;
	sd.n_walsnaps = walsnaps ? n_walsnaps : 0;
	sd.have_wal = have_wal;
	sd.etcd_reads = etcd_reads;
	sd.rep = rep;
	st = list_dir(&sd, err);
	if (st == EM_OK)
		st = select_snap(&sd, mode == EM_CHECK_FULL, &sel, err);
	if (st == EM_OK) {
		info->n_files = sd.n;
		judge(&sd, sel, info);
	}
	snapdir_free(&sd);
	return st;
}
