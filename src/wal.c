/*
 * wal.c - verification of etcd's write-ahead log (see wal.h).
 *
 * The question answered is the one etcd asks when it starts: can the WAL be
 * read, and is what it holds what was written?  etcd reads it twice at
 * start-up: wal.ValidSnapshotEntries decodes every file from the first to
 * collect the snapshot records, then wal.ReadAll decodes from the file that
 * holds the loaded snapshot on.  Both run one decoder across the files, so
 * the CRC chain must hold from the first file to the last; a record that
 * fails to decode is a torn write (repaired by truncation) only in the last
 * file and only when one of its 512-byte sectors is all zeros.
 *
 * Files are read through a bounded window (pread), never mapped: a WAL file
 * is preallocated to 64 MB and only its logical start holds records, and a
 * read error must be reported, not turned into a SIGBUS.
 */
#include "etcd-medic/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd-medic/crc32c.h"
#include "etcd-medic/protowire.h"

/* walpb.Record types (etcd wal/wal.go). */
enum {
	REC_METADATA = 1,
	REC_ENTRY = 2,
	REC_STATE = 3,
	REC_CRC = 4,
	REC_SNAPSHOT = 5,
};

#define FRAME_BYTES 8
#define SECTOR_BYTES 512
#define LEN_MASK ((UINT64_C(1) << 56) - 1)
/* etcd 3.4's maxWALEntrySizeLimit, which also bounds record + padding. */
#define MAX_RECORD_34 (UINT64_C(10) * 1024 * 1024)
#define WINDOW_BYTES ((size_t)1 << 20)
#define MAX_DEFERRED EM_REPORT_KEEP

/* Where the bytes of the file being walked come from. */
struct src {
	const uint8_t *mem;  /* a whole image in memory, or NULL: read fd */
	int fd;
	uint64_t size;
	uint8_t *buf;        /* window: bytes [win_off, win_off + win_len) */
	size_t cap;
	uint64_t win_off;
	size_t win_len;
};

/*
 * A finding only the snapshot etcd starts from can decide, judged once all
 * snapshot records are known: a jump in entry indexes (harmless when that
 * snapshot covers the missing entries), or a record only wal.ReadAll
 * refuses (harmless when ReadAll starts after its file).
 */
struct deferred {
	size_t file;    /* where it is */
	uint64_t off;
	bool gap;
	uint64_t floor; /* gap: the lowest snapshot index that covers it */
	size_t reach;   /* else: ReadAll fails if it starts at or before */
	char text[160];
};

struct walk {
	struct em_report *rep;
	struct em_wal_info *info;
	const char *dirname;  /* findings name files dirname/file ... */
	const char *bufname;  /* ... or, for a memory image, this */
	bool decode;          /* records and CRC chain (full mode) */
	uint32_t crc;         /* running CRC-32C of the records so far */
	uint8_t *meta;        /* data of the first metadata record */
	size_t meta_len;
	size_t meta_file;     /* last file with that metadata */
	uint64_t base;        /* index of the last entry, to find jumps */
	struct deferred later[MAX_DEFERRED];
	size_t n_later;
	size_t total_later;
	bool unkept_gap;      /* the worst of those not kept */
	uint64_t unkept_floor;
	bool unkept_replay;
	size_t unkept_reach;
	size_t cur;           /* file being walked */
	bool last;            /* it is the newest: a torn tail is possible */
	struct src src;
	char rel[EM_FINDING_FILE_MAX];
};

/* One frame: length word, record and padding. */
struct frame {
	uint64_t off;         /* of the length word */
	uint64_t word;
	uint64_t n;           /* record bytes */
	uint64_t pad;         /* padding bytes, as etcd reads them */
	bool oversized;       /* beyond etcd 3.4's limit, already reported */
	const uint8_t *data;  /* n + pad bytes */
};

/* How the walk of a file goes on after a step. */
enum step {
	STEP_NEXT,  /* another frame follows */
	STEP_END,   /* EOF or a zero length word: the file's records end */
	STEP_TORN,  /* a torn tail etcd repairs */
	STEP_BAD,   /* damage: the file cannot be read further */
};

struct rec {
	uint64_t type;
	uint32_t crc;
	const uint8_t *data;
	size_t len;
};

static const uint8_t no_bytes[1];

/* ---- reading ---------------------------------------------------------- */

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static enum em_status src_fill(struct src *s, uint64_t off, size_t want,
                               struct em_error *err)
{
	size_t got = 0;

	s->win_len = 0;
	while (got < want) {
		ssize_t r = pread(s->fd, s->buf + got, want - got,
		                  (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return em_error_errno(err, EM_EIO, errno,
			                      "read at offset %" PRIu64,
			                      off + got);
		if (r == 0)
			return em_error_set(err, EM_EIO,
			                    "file shrank to %" PRIu64
			                    " bytes while being read",
			                    off + got);
		got += (size_t)r;
	}
	s->win_off = off;
	s->win_len = want;
	return EM_OK;
}

/*
 * Points *out at len bytes at off; the caller has checked that they lie
 * within the file.  The pointer is valid until the next call.
 */
static enum em_status src_view(struct src *s, uint64_t off, uint64_t len,
                               const uint8_t **out, struct em_error *err)
{
	enum em_status st;
	uint64_t want;

	if (len == 0) {
		*out = no_bytes;
		return EM_OK;
	}
	if (s->mem != NULL) {
		*out = s->mem + off;
		return EM_OK;
	}
	if (off >= s->win_off && len <= s->win_len &&
	    off - s->win_off <= s->win_len - len) {
		*out = s->buf + (off - s->win_off);
		return EM_OK;
	}
	want = len > WINDOW_BYTES ? len : WINDOW_BYTES;
	if (want > s->size - off)
		want = s->size - off;
	if (want > SIZE_MAX)
		return em_error_set(err, EM_ENOMEM, "record too large");
	if (want > s->cap) {
		uint8_t *nb = realloc(s->buf, (size_t)want);

		if (nb == NULL)
			return em_error_set(err, EM_ENOMEM,
			                    "out of memory reading %" PRIu64
			                    " bytes", want);
		s->buf = nb;
		s->cap = (size_t)want;
	}
	st = src_fill(s, off, (size_t)want, err);
	if (st != EM_OK)
		return st;
	*out = s->buf + (off - s->win_off);
	return EM_OK;
}

/* Finds the first non-zero byte in [from, size); false if there is none. */
static enum em_status first_nonzero(struct src *s, uint64_t from, bool *found,
                                    uint64_t *at, struct em_error *err)
{
	*found = false;
	while (from < s->size) {
		uint64_t len = s->size - from;
		const uint8_t *p;
		enum em_status st;
		size_t i;

		if (len > WINDOW_BYTES)
			len = WINDOW_BYTES;
		st = src_view(s, from, len, &p, err);
		if (st != EM_OK)
			return st;
		for (i = 0; i < len; i++) {
			if (p[i] != 0) {
				*found = true;
				*at = from + i;
				return EM_OK;
			}
		}
		from += len;
	}
	return EM_OK;
}

/* ---- names ------------------------------------------------------------ */

/* Reads 1 to 16 hex digits, as Go's fmt %016x does when scanning. */
static const char *scan_hex(const char *p, uint64_t *v)
{
	int n = 0;

	*v = 0;
	for (; n < 16; n++, p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		*v = (*v << 4) | (uint64_t)d;
	}
	return n > 0 ? p : NULL;
}

/*
 * Parses a WAL file name as etcd's parseWALName does: the name must end in
 * ".wal" and start with what fmt.Sscanf("%016x-%016x.wal") accepts, which
 * is looser than what etcd writes.  *canonical tells whether it is exactly
 * what etcd writes (16 + 16 lower-case digits).
 */
static bool parse_wal_name(const char *name, uint64_t *seq, uint64_t *index,
                           bool *canonical)
{
	size_t len = strlen(name);
	const char *p;
	char want[40];

	if (len < 4 || strcmp(name + len - 4, ".wal") != 0)
		return false;
	p = scan_hex(name, seq);
	if (p == NULL || *p != '-')
		return false;
	p = scan_hex(p + 1, index);
	if (p == NULL || strncmp(p, ".wal", 4) != 0)
		return false;
	snprintf(want, sizeof(want), "%016" PRIx64 "-%016" PRIx64 ".wal",
	         *seq, *index);
	*canonical = strcmp(want, name) == 0;
	return true;
}

/* "a/b" into buf; a name too long for a finding is cut short. */
static const char *join(char *buf, size_t size, const char *a, const char *b)
{
	if (snprintf(buf, size, "%s/%s", a, b) < 0)
		buf[0] = '\0';
	return buf;
}

/* ---- findings --------------------------------------------------------- */

static const char *rel_of(struct walk *w, size_t file, char *buf, size_t size)
{
	if (w->dirname == NULL)
		return w->bufname;
	return join(buf, size, w->dirname, w->info->files[file].name);
}

static void mark_torn(struct walk *w, uint64_t off, uint64_t after,
                      const char *why)
{
	uint64_t at = 0;
	bool found = false;

	w->info->torn_tail = true;
	w->info->torn_offset = off;
	/* A zeroed sector in the middle of good records looks the same to
	 * etcd; say whether anything it discards follows. */
	if (w->decode && after < w->src.size &&
	    first_nonzero(&w->src, after, &found, &at, NULL) != EM_OK)
		found = false; /* only a detail of the note: a read error here
		                * is not worth failing for */
	em_report_note(w->rep, w->rel, EM_AT_OFFSET, off,
	               "torn write at the tail of the newest WAL file (%s); "
	               "etcd repairs it by truncating the file here%s",
	               why, found ? ", discarding non-zero bytes that follow"
	                            : "");
}

/*
 * A record cut short by the end of the file: io.ErrUnexpectedEOF for etcd,
 * which its repair fixes in the last file only.
 */
__attribute__((format(printf, 3, 4)))
static enum step cut_short(struct walk *w, uint64_t off, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (w->last) {
		mark_torn(w, off, w->src.size, why);
		return STEP_TORN;
	}
	em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, off,
	                  "%s; only the newest WAL file can end in a torn "
	                  "record", why);
	return STEP_BAD;
}

/* etcd's isTornEntry: is any 512-byte sector of the record all zeros? */
static bool is_torn(const uint8_t *data, uint64_t len, uint64_t file_off)
{
	uint64_t i = 0;

	while (i < len) {
		uint64_t chunk = SECTOR_BYTES - file_off % SECTOR_BYTES;
		uint64_t j;

		if (chunk > len - i)
			chunk = len - i;
		for (j = 0; j < chunk && data[i + j] == 0; j++)
			;
		if (j == chunk)
			return true;
		i += chunk;
		file_off += chunk;
	}
	return false;
}

/* A record that does not decode or fails its CRC: torn or damaged. */
__attribute__((format(printf, 3, 4)))
static enum step undecodable(struct walk *w, const struct frame *fr,
                             const char *fmt, ...)
{
	uint64_t len = fr->n + fr->pad;
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* An oversized record is damage already: not a torn write. */
	if (w->last && !fr->oversized &&
	    is_torn(fr->data, len, fr->off + FRAME_BYTES)) {
		mark_torn(w, fr->off, fr->off + FRAME_BYTES + len, why);
		return STEP_TORN;
	}
	em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off, "%s%s", why,
	                  w->last ? " (not a torn write: no 512-byte sector "
	                            "of the record is all zeros)" : "");
	return STEP_BAD;
}

/* ---- framing ---------------------------------------------------------- */

/*
 * etcd ignores the top byte beyond bit 7 and bits 0-2: odd bits are a note.
 * A pad that disagrees with the length is more: etcd reads the next length
 * word that many bytes off, and the usual result is a word whose low 56
 * bits are the zero padding, which etcd takes for the end of the records;
 * everything after it is silently dropped (and zero-filled when etcd opens
 * the WAL for writing).  Harmless only when nothing follows.
 */
static enum em_status check_length_word(struct walk *w, const struct frame *fr,
                                        struct em_error *err)
{
	uint64_t want_pad = (8 - fr->n % 8) % 8;
	unsigned top = (unsigned)(fr->word >> 56);
	unsigned want_top = want_pad ? 0x80u | (unsigned)want_pad : 0;
	uint64_t end = fr->off + FRAME_BYTES + fr->n + want_pad, at = 0;
	bool more = false;
	enum em_status st;

	if (top == want_top)
		return EM_OK;
	if (fr->pad == want_pad) {
		em_report_note(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		               "length word 0x%016" PRIx64 " has top byte "
		               "0x%02x where etcd writes 0x%02x; etcd ignores "
		               "the extra bits", fr->word, top, want_top);
		return EM_OK;
	}
	if (end < w->src.size) {
		st = first_nonzero(&w->src, end, &more, &at, err);
		if (st != EM_OK)
			return st;
	}
	if (more)
		em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		                  "length word 0x%016" PRIx64 " gives %" PRIu64
		                  " padding bytes for a %" PRIu64 "-byte record "
		                  "(etcd writes %" PRIu64 "): etcd reads on "
		                  "misaligned and loses the records from offset "
		                  "%" PRIu64 " on", fr->word, fr->pad, fr->n,
		                  want_pad, at);
	else
		em_report_note(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		               "length word 0x%016" PRIx64 " gives %" PRIu64
		               " padding bytes for a %" PRIu64 "-byte record "
		               "(etcd writes %" PRIu64 "); nothing follows it",
		               fr->word, fr->pad, fr->n, want_pad);
	return EM_OK;
}

/*
 * Does the record behind the length word fit in the `left` bytes after it?
 * STEP_NEXT if so.
 */
static enum step check_bounds(struct walk *w, struct frame *fr,
                              uint64_t left)
{
	uint64_t len = fr->n + fr->pad;

	if (len <= left && len >= MAX_RECORD_34) {
		/*
		 * Intact, perhaps, but the etcd this is built for (3.4) and
		 * 3.5.0-3.5.4 refuse it at start-up, so the member cannot
		 * start on this WAL.  Read on: whether the record decodes
		 * and the rest of the file still deserve a check.
		 */
		em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		                  "length word claims a %" PRIu64 "-byte "
		                  "record: etcd 3.4 and 3.5.0-3.5.4 refuse "
		                  "records of 10 MiB or more (\"max entry size "
		                  "limit exceeded\"); 3.5.5+ reads it", fr->n);
		fr->oversized = true;
		return STEP_NEXT;
	}
	if (len <= left)
		return STEP_NEXT;
	if (len >= MAX_RECORD_34) {
		/*
		 * etcd 3.4 stops at "max entry size limit exceeded", 3.5.5+
		 * at an unexpected EOF, which it would repair in the last
		 * file.  It is damage all the same: etcd pads every record
		 * to 8 bytes so that a length word never straddles a sector,
		 * hence a torn write leaves it whole or zero, never garbage.
		 */
		em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		                  "length word 0x%016" PRIx64 " claims a %"
		                  PRIu64 "-byte record: beyond the end of the "
		                  "file (%" PRIu64 " bytes left) and etcd's "
		                  "10 MiB limit", fr->word, fr->n, left);
		return STEP_BAD;
	}
	return cut_short(w, fr->off, "a %" PRIu64 "-byte record runs past "
	                 "the end of the file (%" PRIu64 " bytes left)", len,
	                 left);
}

/*
 * Length word and bounds.  Everything is checked against the bytes left in
 * the file before any of the record is touched, so a garbage length costs
 * nothing.
 */
static enum em_status read_frame(struct walk *w, uint64_t off,
                                 struct frame *fr, enum step *how,
                                 struct em_error *err)
{
	uint64_t left = w->src.size - off;
	const uint8_t *p;
	enum em_status st;

	memset(fr, 0, sizeof(*fr));
	fr->off = off;
	*how = STEP_END;
	if (left == 0)
		return EM_OK;
	if (left < FRAME_BYTES) {
		*how = cut_short(w, off, "the file ends %" PRIu64 " bytes into "
		                 "a length word", left);
		return EM_OK;
	}
	st = src_view(&w->src, off, FRAME_BYTES, &p, err);
	if (st != EM_OK)
		return st;
	fr->word = load_le64(p);
	if (fr->word == 0)
		return EM_OK;
	fr->n = fr->word & LEN_MASK;
	fr->pad = (fr->word >> 63) ? (fr->word >> 56) & 7 : 0;
	st = check_length_word(w, fr, err);
	if (st != EM_OK)
		return st;
	*how = check_bounds(w, fr, left - FRAME_BYTES);
	if (*how != STEP_NEXT)
		return EM_OK;
	return src_view(&w->src, off + FRAME_BYTES, fr->n + fr->pad,
	                &fr->data, err);
}

static void check_padding(struct walk *w, const struct frame *fr)
{
	uint64_t i;

	for (i = fr->n; i < fr->n + fr->pad; i++) {
		if (fr->data[i] != 0) {
			em_report_note(w->rep, w->rel, EM_AT_OFFSET, fr->off,
			               "padding bytes of the record are not "
			               "zero (etcd does not check them)");
			return;
		}
	}
}

/* ---- records ---------------------------------------------------------- */

#define BIT(n) (1u << (n))

/* 0, or em_pb_decode_simple's -1 (malformed) or -2 (cut short). */
static int parse_record(const uint8_t *p, size_t n, struct rec *r,
                        size_t *bad)
{
	struct em_pb_simple m;
	int rc = em_pb_decode_simple(p, n, BIT(1) | BIT(2), BIT(3), &m, bad);

	if (rc != 0)
		return rc;
	r->type = m.u64[1];
	r->crc = (uint32_t)m.u64[2];
	r->data = m.bytes[3] ? m.bytes[3] : no_bytes;
	r->len = m.len[3];
	return 0;
}

static void malformed(struct walk *w, const struct frame *fr,
                      const char *what, size_t bad)
{
	em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off,
	                  "%s record with a valid crc does not decode: bad "
	                  "protobuf field at byte %zu of its data", what, bad);
}

static void keep_worst(struct walk *w, const struct deferred *d)
{
	if (d->gap && (!w->unkept_gap || d->floor > w->unkept_floor)) {
		w->unkept_gap = true;
		w->unkept_floor = d->floor;
	}
	if (!d->gap && (!w->unkept_replay || d->reach > w->unkept_reach)) {
		w->unkept_replay = true;
		w->unkept_reach = d->reach;
	}
}

/* Defers a finding at the current record; see struct deferred. */
__attribute__((format(printf, 6, 7)))
static void defer(struct walk *w, const struct frame *fr, bool gap,
                  uint64_t floor, size_t reach, const char *fmt, ...)
{
	struct deferred d = { .file = w->cur, .off = fr->off, .gap = gap,
	                      .floor = floor, .reach = reach };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d.text, sizeof(d.text), fmt, ap);
	va_end(ap);
	if (gap && floor > w->info->entry_gap_floor)
		w->info->entry_gap_floor = floor;
	if (!gap && (!w->info->replay_damage ||
	             reach > w->info->replay_damage_file)) {
		w->info->replay_damage = true;
		w->info->replay_damage_file = reach;
	}
	w->total_later++;
	if (w->n_later < MAX_DEFERRED)
		w->later[w->n_later++] = d;
	else
		keep_worst(w, &d);
}

/* Records only ReadAll decodes, in the file being walked. */
#define defer_replay(w, fr, ...) defer(w, fr, false, 0, (w)->cur, __VA_ARGS__)

/*
 * ReadAll, which alone compares metadata records, fails when the files it
 * reads hold two different ones: when it starts at or before the last file
 * whose metadata differs from the final one.
 */
static enum em_status on_metadata(struct walk *w, const struct frame *fr,
                                  const struct rec *r, struct em_error *err)
{
	struct em_wal_info *info = w->info;
	struct em_pb_simple m;
	size_t bad = 0;
	uint8_t *copy;

	if (em_pb_decode_simple(r->data, r->len, BIT(1) | BIT(2), 0, &m,
	                        &bad) != 0)
		defer_replay(w, fr, "metadata record with a valid crc does "
		             "not decode: bad protobuf field at byte %zu of "
		             "its data", bad);
	if (info->have_metadata && r->len == w->meta_len &&
	    (r->len == 0 || memcmp(r->data, w->meta, r->len) == 0)) {
		w->meta_file = w->cur;
		return EM_OK;
	}
	if (info->have_metadata)
		defer(w, fr, false, 0, w->meta_file, "conflicting metadata: "
		      "this record differs from the one before it (etcd: "
		      "\"wal: conflicting metadata found\")");
	copy = malloc(r->len ? r->len : 1);
	if (copy == NULL)
		return em_error_set(err, EM_ENOMEM, "out of memory");
	memcpy(copy, r->data, r->len);
	free(w->meta);
	w->meta = copy;
	w->meta_len = r->len;
	w->meta_file = w->cur;
	if (!info->have_metadata) {
		info->have_metadata = true;
		info->node_id = m.u64[1];
		info->cluster_id = m.u64[2];
	}
	return EM_OK;
}

/*
 * ReadAll keeps an entry whose index is at most one past the last kept one;
 * a lower index overwrites the tail (a new leader's log wins), a higher one
 * fails with "slice bounds out of range" unless the snapshot etcd starts
 * from covers the missing entries.  ReadAll alone decodes entries, too.
 */
static void on_entry(struct walk *w, const struct frame *fr,
                     const struct rec *r)
{
	struct em_pb_simple m;
	size_t bad = 0;
	uint64_t index;

	if (em_pb_decode_simple(r->data, r->len, BIT(1) | BIT(2) | BIT(3),
	                        BIT(4), &m, &bad) != 0) {
		defer_replay(w, fr, "entry record with a valid crc does not "
		             "decode: bad protobuf field at byte %zu of its "
		             "data", bad);
		return;
	}
	index = m.u64[3];
	if (w->base < UINT64_MAX && index > w->base + 1)
		defer(w, fr, true, index - 1, 0, "entry %" PRIu64 " follows "
		      "entry %" PRIu64, index, w->base);
	w->base = index;
	w->info->entries++;
	w->info->last_index = index;
}

static void on_state(struct walk *w, const struct frame *fr,
                     const struct rec *r)
{
	struct em_pb_simple m;
	size_t bad = 0;

	if (em_pb_decode_simple(r->data, r->len, BIT(1) | BIT(2) | BIT(3), 0,
	                        &m, &bad) != 0) {
		malformed(w, fr, "hard state", bad);
		return;
	}
	w->info->have_state = true;
	w->info->term = m.u64[1];
	w->info->vote = m.u64[2];
	w->info->commit = m.u64[3];
}

/* A crc record carries the chain over from the previous file. */
static void on_crc(struct walk *w, const struct frame *fr,
                   const struct rec *r)
{
	/* A fresh decoder (crc 0) accepts any: the first file etcd reads
	 * may follow purged ones. */
	if (w->crc != 0 && r->crc != w->crc)
		em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		                  "crc record breaks the chain: it carries "
		                  "0x%08x, the records before it give 0x%08x%s",
		                  r->crc, w->crc,
		                  fr->off == 0 ? " (the previous WAL file is "
		                  "missing records or is not this file's "
		                  "predecessor)" : "");
	w->crc = r->crc;
}

static enum em_status on_snapshot(struct walk *w, const struct frame *fr,
                                  const struct rec *r, struct em_error *err)
{
	struct em_wal_info *info = w->info;
	struct em_pb_simple m;
	size_t bad = 0;

	if (em_pb_decode_simple(r->data, r->len, BIT(1) | BIT(2), BIT(3), &m,
	                        &bad) != 0) {
		malformed(w, fr, "snapshot", bad);
		return EM_OK;
	}
	if ((m.seen & BIT(3)) && !em_wal_confstate_ok(m.bytes[3], m.len[3])) {
		em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		                  "snapshot record has a malformed conf_state");
		return EM_OK;
	}
	if ((info->n_snaps & (info->n_snaps - 1)) == 0) {
		size_t cap = info->n_snaps ? info->n_snaps * 2 : 4;
		struct em_wal_snapshot *ns;

		ns = realloc(info->snaps, cap * sizeof(*ns));
		if (ns == NULL)
			return em_error_set(err, EM_ENOMEM, "out of memory");
		info->snaps = ns;
	}
	info->snaps[info->n_snaps].index = m.u64[1];
	info->snaps[info->n_snaps].term = m.u64[2];
	info->n_snaps++;
	return EM_OK;
}

static enum em_status dispatch(struct walk *w, const struct frame *fr,
                               const struct rec *r, struct em_error *err)
{
	switch (r->type) {
	case REC_METADATA:
		return on_metadata(w, fr, r, err);
	case REC_ENTRY:
		on_entry(w, fr, r);
		return EM_OK;
	case REC_STATE:
		on_state(w, fr, r);
		return EM_OK;
	case REC_CRC:
		on_crc(w, fr, r);
		return EM_OK;
	case REC_SNAPSHOT:
		return on_snapshot(w, fr, r, err);
	default:
		/* ValidSnapshotEntries skips these; ReadAll refuses them. */
		defer_replay(w, fr, "unknown record type %" PRId64 " (etcd: "
		             "\"unexpected block type\")", (int64_t)r->type);
		return EM_OK;
	}
}

/* Decodes one framed record the way etcd's decoder does, then uses it. */
static enum em_status check_record(struct walk *w, const struct frame *fr,
                                   enum step *how, struct em_error *err)
{
	struct rec r;
	size_t bad = 0;
	int rc = parse_record(fr->data, (size_t)fr->n, &r, &bad);

	/*
	 * gogoproto reports a field cut short by the end of the record as
	 * io.ErrUnexpectedEOF, which etcd's decoder passes on as it is: in
	 * the last file etcd truncates the WAL there, whatever the sectors
	 * hold.  A torn write leaves a zeroed sector (undecodable() applies
	 * etcd's own rule to that); without one, this is a torn tail only if
	 * nothing follows, else etcd would silently drop synced records.
	 */
	if (rc == -2 && w->last && !fr->oversized &&
	    !is_torn(fr->data, fr->n + fr->pad, fr->off + FRAME_BYTES)) {
		uint64_t end = fr->off + FRAME_BYTES + fr->n + fr->pad, at = 0;
		bool more = false;
		enum em_status st = first_nonzero(&w->src, end, &more, &at, err);

		if (st != EM_OK)
			return st;
		if (!more) {
			mark_torn(w, fr->off, end, "a field of the record runs "
			          "past its end");
			*how = STEP_TORN;
			return EM_OK;
		}
		em_report_corrupt(w->rep, w->rel, EM_AT_OFFSET, fr->off,
		                  "a field of the record runs past its end, and "
		                  "data follows from offset %" PRIu64 ": etcd "
		                  "would truncate the WAL here and drop the "
		                  "records after it", at);
		*how = STEP_BAD;
		return EM_OK;
	}
	if (rc != 0) {
		*how = undecodable(w, fr, "malformed walpb.Record: bad "
		                   "protobuf field at byte %zu of the record",
		                   bad);
		return EM_OK;
	}
	if (r.type != REC_CRC) {
		uint32_t c = em_crc32c(w->crc, r.data, r.len);

		if (c != r.crc) {
			*how = undecodable(w, fr, "record crc mismatch: stored "
			                   "0x%08x, computed 0x%08x", r.crc, c);
			return EM_OK;
		}
		w->crc = c;
	}
	w->info->records++;
	check_padding(w, fr);
	return dispatch(w, fr, &r, err);
}

/* ---- files ------------------------------------------------------------ */

/* After the last record: what follows, and what etcd makes of it. */
static enum em_status check_end(struct walk *w, uint64_t end,
                                struct em_error *err)
{
	uint64_t at = 0;
	bool found = false;
	enum em_status st;

	if (end == 0)
		em_report_note(w->rep, w->rel, EM_AT_OFFSET, 0,
		               "the file holds no records%s", w->last ?
		               " (etcd reads nothing from it)" : "");
	if (!w->decode || end >= w->src.size)
		return EM_OK;
	st = first_nonzero(&w->src, end, &found, &at, err);
	if (st != EM_OK || !found)
		return st;
	em_report_note(w->rep, w->rel, EM_AT_OFFSET, at,
	               "non-zero bytes after the end of the records at offset "
	               "%" PRIu64 ": etcd stops at the zero length word and "
	               "ignores them%s", end, w->last ?
	               ", and zero-fills them when it opens the WAL (a torn "
	               "write can leave them)" : "");
	return EM_OK;
}

/* Walks the frames of the current file; *how says how it ended. */
static enum em_status walk_frames(struct walk *w, enum step *how,
                                  struct em_error *err)
{
	uint64_t off = 0;
	struct frame fr;
	enum em_status st;

	for (;;) {
		st = read_frame(w, off, &fr, how, err);
		if (st != EM_OK || *how != STEP_NEXT)
			break;
		if (w->decode) {
			st = check_record(w, &fr, how, err);
		} else {
			check_padding(w, &fr);
		}
		if (st != EM_OK || *how != STEP_NEXT)
			break;
		off = fr.off + FRAME_BYTES + fr.n + fr.pad;
	}
	if (st == EM_OK && *how == STEP_END)
		st = check_end(w, off, err);
	return st;
}

/* Gets the walk ready for file i (chain and entries carry over). */
static void begin_file(struct walk *w, size_t i, bool fresh)
{
	struct em_wal_file *f = &w->info->files[i];

	w->cur = i;
	w->last = i + 1 == w->info->n_files;
	rel_of(w, i, w->rel, sizeof(w->rel));
	if (fresh) {
		/* As for a decoder starting here: the crc record is taken as
		 * it is, and the entries are expected from the name's index. */
		w->crc = 0;
		w->base = f->index ? f->index - 1 : 0;
	}
}

/* What a failure to read a file means: it cannot be judged. */
static enum em_status blocked(struct walk *w, struct em_error *err)
{
	if (err->status == EM_ENOMEM)
		return EM_ENOMEM;
	em_report_block(w->rep, EM_VERDICT_UNREADABLE, w->rel, "%s", err->msg);
	em_error_clear(err);
	return EM_OK;
}

static enum em_status open_file(struct walk *w, const char *dir, size_t i,
                                struct em_error *err)
{
	struct em_wal_file *f = &w->info->files[i];
	struct stat sb;
	int dfd;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return em_error_errno(err, EM_EIO, errno, "open %s", dir);
	w->src.fd = openat(dfd, f->name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	close(dfd);
	if (w->src.fd < 0)
		return em_error_errno(err, EM_EIO, errno, "open");
	if (fstat(w->src.fd, &sb) != 0)
		return em_error_errno(err, EM_EIO, errno, "stat");
	f->size = (uint64_t)sb.st_size;
	w->src.size = f->size;
	w->src.win_len = 0;
	return EM_OK;
}

/* Walks file i of dir; *how says how it ended (STEP_BAD when unread). */
static enum em_status walk_file(struct walk *w, const char *dir, size_t i,
                                bool fresh, enum step *how,
                                struct em_error *err)
{
	enum em_status st;

	begin_file(w, i, fresh);
	*how = STEP_BAD;
	w->src.fd = -1;
	st = open_file(w, dir, i, err);
	if (st == EM_OK)
		st = walk_frames(w, how, err);
	if (w->src.fd >= 0)
		close(w->src.fd);
	w->src.fd = -1;
	if (st != EM_OK) {
		*how = STEP_BAD;
		return blocked(w, err);
	}
	return EM_OK;
}

/* ---- the whole WAL ---------------------------------------------------- */

/* The highest snapshot index etcd could start from (ValidSnapshotEntries
 * keeps the snapshot records at or below the last committed index). */
static uint64_t max_committed_snap(const struct em_wal_info *info)
{
	uint64_t commit = info->have_state ? info->commit : 0;
	uint64_t best = 0;
	size_t i;

	for (i = 0; i < info->n_snaps; i++)
		if (info->snaps[i].index <= commit &&
		    info->snaps[i].index > best)
			best = info->snaps[i].index;
	return best;
}

/* The last file whose first index is <= index (searchIndex). */
static bool start_file(const struct em_wal_info *info, uint64_t index,
                       size_t *start)
{
	size_t i;

	for (i = info->n_files; i > 0; i--) {
		if (info->files[i - 1].index <= index) {
			*start = i - 1;
			return true;
		}
	}
	return false;
}

/* Is the deferred finding damage etcd trips over from snapshot `best`? */
static bool fatal_from(const struct em_wal_info *info,
                       const struct deferred *d, uint64_t best)
{
	size_t start;

	if (d->gap)
		return d->floor > best;
	return !start_file(info, best, &start) || d->reach >= start;
}

static void judge_one(struct walk *w, const struct deferred *d, bool fatal)
{
	char rel[EM_FINDING_FILE_MAX];
	const char *file = rel_of(w, d->file, rel, sizeof(rel));

	if (fatal && d->gap)
		em_report_corrupt(w->rep, file, EM_AT_OFFSET, d->off, "%s: "
		                  "entries are missing and no committed "
		                  "snapshot record covers them (etcd fails "
		                  "with \"slice bounds out of range\")",
		                  d->text);
	else if (fatal)
		em_report_corrupt(w->rep, file, EM_AT_OFFSET, d->off, "%s",
		                  d->text);
	else if (d->gap)
		em_report_note(w->rep, file, EM_AT_OFFSET, d->off, "%s: etcd "
		               "can replay the WAL only from a snapshot at "
		               "index %" PRIu64 " or above (as after "
		               "installing a snapshot from the leader)",
		               d->text, d->floor);
	else
		em_report_note(w->rep, file, EM_AT_OFFSET, d->off, "%s; etcd "
		               "replays the WAL from a later file, and reads "
		               "this only if it falls back to an older "
		               "snapshot", d->text);
}

/*
 * The snapshot etcd starts from is at best the newest committed snapshot
 * record; whether it can start from that one is for em_wal_can_open_at
 * (the .snap files decide which one it gets).
 */
static void judge_deferred(struct walk *w)
{
	uint64_t best = max_committed_snap(w->info);
	struct deferred gap = { .gap = true }, replay = { .gap = false };
	size_t i;

	for (i = 0; i < w->n_later; i++)
		judge_one(w, &w->later[i], fatal_from(w->info, &w->later[i],
		                                      best));
	if (w->total_later <= w->n_later)
		return;
	gap.floor = w->unkept_floor;
	replay.reach = w->unkept_reach;
	if ((w->unkept_gap && fatal_from(w->info, &gap, best)) ||
	    (w->unkept_replay && fatal_from(w->info, &replay, best)))
		em_report_corrupt(w->rep, w->dirname ? w->dirname : w->bufname,
		                  EM_AT_FILE, 0, "%zu more entry gaps or "
		                  "records etcd's replay refuses",
		                  w->total_later - w->n_later);
}

static void walk_init(struct walk *w, struct em_report *rep,
                      struct em_wal_info *info, bool decode)
{
	memset(w, 0, sizeof(*w));
	w->rep = rep;
	w->info = info;
	w->decode = decode;
	w->src.fd = -1;
}

static void walk_free(struct walk *w)
{
	free(w->meta);
	free(w->src.buf);
}

/* Full mode: every file from the first, one decoder across them. */
static enum em_status walk_all(struct walk *w, const char *dir,
                               struct em_error *err)
{
	bool fresh = true;
	bool all = true;
	size_t i;

	for (i = 0; i < w->info->n_files; i++) {
		enum step how;
		enum em_status st = walk_file(w, dir, i, fresh, &how, err);

		if (st != EM_OK)
			return st;
		/* After damage the chain is lost; restart it at the next
		 * file rather than blame every file after it. */
		fresh = how == STEP_BAD;
		if (how == STEP_BAD)
			all = false;
	}
	w->info->decoded_all = all;
	judge_deferred(w);
	return EM_OK;
}

/* ---- directory listing ------------------------------------------------ */

static void note_ignored(struct em_report *rep, const char *name,
                         const char *file)
{
	char rel[EM_FINDING_FILE_MAX];
	size_t len = strlen(file);
	const char *why = "not a WAL file name; etcd ignores it";

	join(rel, sizeof(rel), name, file);
	if (len > 4 && strcmp(file + len - 4, ".tmp") == 0)
		why = "preallocated or temporary file; etcd ignores it";
	else if (len > 11 && strcmp(file + len - 11, ".wal.broken") == 0)
		why = "copy of a torn WAL file, left by etcd's repair";
	em_report_note(rep, rel, EM_AT_FILE, 0, "%s", why);
}

static enum em_status add_file(struct em_wal_info *info, size_t *cap,
                               const char *file, uint64_t seq,
                               uint64_t index, struct em_error *err)
{
	struct em_wal_file *f;

	if (info->n_files == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct em_wal_file *nf;

		nf = realloc(info->files, ncap * sizeof(*nf));
		if (nf == NULL)
			return em_error_set(err, EM_ENOMEM, "out of memory");
		info->files = nf;
		*cap = ncap;
	}
	f = &info->files[info->n_files++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", file);
	f->seq = seq;
	f->index = index;
	return EM_OK;
}

/* Classifies one directory entry: a WAL file, or a note. */
static enum em_status list_one(int dfd, const char *name, const char *file,
                               struct em_report *rep,
                               struct em_wal_info *info, size_t *cap,
                               struct em_error *err)
{
	char rel[EM_FINDING_FILE_MAX];
	uint64_t seq, index;
	bool canonical = false;
	struct stat sb;

	if (strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
		return EM_OK;
	if (!parse_wal_name(file, &seq, &index, &canonical)) {
		note_ignored(rep, name, file);
		return EM_OK;
	}
	join(rel, sizeof(rel), name, file);
	if (strlen(file) >= sizeof(info->files[0].name)) {
		em_report_corrupt(rep, rel, EM_AT_FILE, 0, "etcd reads this "
		                  "as WAL file %" PRIx64 "-%" PRIx64 ", but "
		                  "its name is not one etcd writes", seq,
		                  index);
		return EM_OK;
	}
	if (!canonical)
		em_report_note(rep, rel, EM_AT_FILE, 0, "etcd reads this as "
		               "WAL file %016" PRIx64 "-%016" PRIx64 ".wal, "
		               "but it never writes such a name", seq, index);
	if (fstatat(dfd, file, &sb, 0) == 0 && !S_ISREG(sb.st_mode)) {
		em_report_corrupt(rep, rel, EM_AT_FILE, 0,
		                  "WAL file is not a regular file");
		return EM_OK;
	}
	return add_file(info, cap, file, seq, index, err);
}

static int by_name(const void *a, const void *b)
{
	const struct em_wal_file *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Reads the directory: info->files sorted by name, as etcd sorts them. */
static enum em_status list_dir(const char *dir, const char *name,
                               struct em_report *rep,
                               struct em_wal_info *info, struct em_error *err)
{
	enum em_status st = EM_OK;
	struct dirent *de;
	size_t cap = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return EM_OK; /* the caller judges a missing WAL */
		if (errno == ENOTDIR)
			em_report_corrupt(rep, name, EM_AT_FILE, 0, "the WAL "
			                  "directory is not a directory");
		else
			em_report_block(rep, EM_VERDICT_UNREADABLE, name,
			                "cannot open the WAL directory: %s",
			                strerror(errno));
		return EM_OK;
	}
	for (errno = 0; st == EM_OK && (de = readdir(d)) != NULL; errno = 0)
		st = list_one(dirfd(d), name, de->d_name, rep, info, &cap, err);
	if (st == EM_OK && errno != 0)
		em_report_block(rep, EM_VERDICT_UNREADABLE, name,
		                "cannot read the WAL directory: %s",
		                strerror(errno));
	closedir(d);
	if (info->n_files > 1)
		qsort(info->files, info->n_files, sizeof(*info->files),
		      by_name);
	return st;
}

/*
 * Sequence numbers go up by one from file to file, and so do not the first
 * indexes go down: etcd reads all the files in name order and a missing one
 * means missing records.
 */
static void check_sequence(const struct em_wal_info *info, const char *name,
                           struct em_report *rep)
{
	char rel[EM_FINDING_FILE_MAX];
	size_t i;

	for (i = 1; i < info->n_files; i++) {
		const struct em_wal_file *a = &info->files[i - 1];
		const struct em_wal_file *b = &info->files[i];

		join(rel, sizeof(rel), name, b->name);
		if (a->seq == UINT64_MAX || b->seq != a->seq + 1)
			em_report_corrupt(rep, rel, EM_AT_FILE, 0, "sequence "
			                  "number %" PRIu64 " follows %" PRIu64
			                  " (%s): WAL files are missing or "
			                  "duplicated", b->seq, a->seq,
			                  a->name);
		if (b->index < a->index)
			em_report_corrupt(rep, rel, EM_AT_FILE, 0, "first "
			                  "index %" PRIu64 " is below the "
			                  "previous file's (%" PRIu64 ", %s)",
			                  b->index, a->index, a->name);
	}
}

/* ---- public ----------------------------------------------------------- */

void em_wal_info_free(struct em_wal_info *info)
{
	if (info == NULL)
		return;
	free(info->files);
	free(info->snaps);
	memset(info, 0, sizeof(*info));
}

enum em_status em_wal_check_dir(const char *dir, const char *name,
                                enum em_check_mode mode,
                                struct em_report *rep,
                                struct em_wal_info *info,
                                struct em_error *err)
{
	struct em_error local;
	struct walk w;
	enum em_status st;
	enum step how;

	memset(info, 0, sizeof(*info));
	if (err == NULL)
		err = &local; /* read errors are told apart by err->status */
	em_error_clear(err);
	st = list_dir(dir, name, rep, info, err);
	if (st != EM_OK || info->n_files == 0)
		return st;
	check_sequence(info, name, rep);
	walk_init(&w, rep, info, mode == EM_CHECK_FULL);
	w.dirname = name;
	if (mode == EM_CHECK_FULL)
		st = walk_all(&w, dir, err);
	else
		st = walk_file(&w, dir, info->n_files - 1, true, &how, err);
	walk_free(&w);
	return st;
}

/* The file entry of a memory image, from the last part of its name. */
static enum em_status buf_file(struct em_wal_info *info, const char *name,
                               struct em_error *err)
{
	const char *base = strrchr(name, '/');
	uint64_t seq = 0, index = 0;
	bool canonical;
	size_t cap = 0;

	base = base ? base + 1 : name;
	if (!parse_wal_name(base, &seq, &index, &canonical))
		seq = index = 0;
	return add_file(info, &cap, base, seq, index, err);
}

enum em_status em_wal_check_buf(const uint8_t *buf, size_t len,
                                const char *name, struct em_report *rep,
                                struct em_wal_info *info,
                                struct em_error *err)
{
	struct em_error local;
	struct walk w;
	enum em_status st;
	enum step how = STEP_BAD;

	memset(info, 0, sizeof(*info));
	if (err == NULL)
		err = &local;
	em_error_clear(err);
	if (name == NULL)
		name = "wal";
	st = buf_file(info, name, err);
	if (st != EM_OK)
		return st;
	info->files[0].size = len;
	walk_init(&w, rep, info, true);
	w.bufname = name;
	w.src.mem = buf ? buf : no_bytes;
	w.src.size = buf ? len : 0;
	begin_file(&w, 0, true);
	st = walk_frames(&w, &how, err);
	if (st == EM_OK) {
		info->decoded_all = how != STEP_BAD;
		judge_deferred(&w);
	}
	walk_free(&w);
	return st;
}

/*
 * raft's loadState, once etcd has read the WAL: the last hard state's commit
 * must lie between the snapshot index and the last index of the log (the
 * last entry, or the snapshot when no entry follows it).  Only known when
 * every record was decoded.
 */
static bool commit_in_range(const struct em_wal_info *info, uint64_t index,
                            char *why, size_t size)
{
	uint64_t last = info->last_index > index ? info->last_index : index;

	if (!info->decoded_all || !info->have_state)
		return true;
	if (info->term == 0 && info->vote == 0 && info->commit == 0)
		return true; /* an empty hard state is not loaded */
	if (info->commit >= index && info->commit <= last)
		return true;
	snprintf(why, size, "the hard state's commit %" PRIu64 " is outside "
	         "[%" PRIu64 ", %" PRIu64 "] (raft: \"state.commit is out of "
	         "range\")", info->commit, index, last);
	return false;
}

/*
 * selectWALFiles: the last file whose first index is <= index, then
 * isValidSeq over the files from it on.  isValidSeq skips the comparison
 * while the previous sequence number is 0, so 0 followed by any number
 * passes; that is what etcd does, and the sequence check of the walk
 * reports such a gap as damage anyway.
 */
static bool files_at(const struct em_wal_info *info, uint64_t index,
                     char *why, size_t size)
{
	size_t i, start;
	uint64_t last = 0;

	if (!start_file(info, index, &start)) {
		snprintf(why, size, "no WAL file starts at or below index %"
		         PRIu64 " (etcd: \"wal: file not found\")", index);
		return false;
	}
	for (i = start; i < info->n_files; i++) {
		uint64_t seq = info->files[i].seq;

		if (last != 0 && last != seq - 1) {
			snprintf(why, size, "the WAL files from %s on do not "
			         "have contiguous sequence numbers (etcd: "
			         "\"wal: file not found\")",
			         info->files[start].name);
			return false;
		}
		last = seq;
	}
	if (info->replay_damage && start <= info->replay_damage_file) {
		snprintf(why, size, "the WAL files from %s on hold a record "
		         "etcd's replay (wal.ReadAll) refuses",
		         info->files[start].name);
		return false;
	}
	return true;
}

bool em_wal_check_open_at(const struct em_wal_info *info, uint64_t index,
                          char *why, size_t size)
{
	char spare[8];

	if (why == NULL || size == 0) {
		why = spare;
		size = sizeof(spare);
	}
	why[0] = '\0';
	if (info == NULL || info->n_files == 0) {
		snprintf(why, size, "there is no WAL file");
		return false;
	}
	if (!files_at(info, index, why, size))
		return false;
	if (index < info->entry_gap_floor) {
		snprintf(why, size, "entries below index %" PRIu64 " are "
		         "missing from the WAL, so it cannot be replayed from "
		         "index %" PRIu64 " (etcd: \"slice bounds out of "
		         "range\")", info->entry_gap_floor + 1, index);
		return false;
	}
	return commit_in_range(info, index, why, size);
}

bool em_wal_can_open_at(const struct em_wal_info *info, uint64_t index)
{
	return em_wal_check_open_at(info, index, NULL, 0);
}

bool em_wal_confstate_ok(const uint8_t *buf, size_t len)
{
	struct em_pb_reader r;
	struct em_pb_field f;
	int rc;

	em_pb_init(&r, buf, len);
	while ((rc = em_pb_next(&r, &f)) > 0) {
		if (f.number >= 1 && f.number <= 4) {
			/* repeated uint64: plain or packed */
			if (f.type == EM_PB_BYTES &&
			    !em_pb_packed_varints_ok(f.bytes, f.len))
				return false;
			if (f.type != EM_PB_BYTES && f.type != EM_PB_VARINT)
				return false;
		} else if (f.number == 5 && f.type != EM_PB_VARINT) {
			return false;
		}
	}
	return rc == 0;
}
