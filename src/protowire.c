/*
 * protowire.c - a bounds-checked protobuf wire-format reader (see
 * protowire.h).
 *
 * The rules follow what gogoproto's generated Unmarshal methods accept,
 * because that is what decides whether etcd can read a record: varints of up
 * to 10 bytes (excess high bits of the 10th byte are dropped), field numbers
 * taken as int32 and required to be positive, lengths checked against the
 * bytes left.  One deliberate difference: groups (wire types 3 and 4), which
 * no etcd message uses, are malformed here instead of skipped.
 */
#include "etcd-medic/protowire.h"

#include <string.h>

void em_pb_init(struct em_pb_reader *r, const uint8_t *buf, size_t len)
{
	r->p = buf;
	r->end = buf ? buf + len : buf;
	r->truncated = false;
}

/*
 * Advances *pp past one varint; false if it is truncated (then *cut is set)
 * or longer than 10 bytes.
 */
static bool read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out,
                        bool *cut)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned shift;

	for (shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (p >= end) {
			*cut = true;
			return false;
		}
		b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80) {
			*pp = p;
			*out = v;
			return true;
		}
	}
	return false;
}

static uint64_t load_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * A length-delimited value.  A length that is negative as a Go int is
 * invalid; one beyond the input, truncated.
 */
static bool read_bytes(const uint8_t **pp, const uint8_t *end,
                       struct em_pb_field *f, bool *cut)
{
	const uint8_t *p = *pp;
	uint64_t n;

	if (!read_varint(&p, end, &n, cut))
		return false;
	if (n > INT64_MAX)
		return false;
	if (n > (size_t)(end - p)) {
		*cut = true;
		return false;
	}
	f->bytes = p;
	f->len = (size_t)n;
	*pp = p + n;
	return true;
}

static bool read_fixed(const uint8_t **pp, const uint8_t *end, unsigned n,
                       struct em_pb_field *f, bool *cut)
{
	if ((size_t)(end - *pp) < n) {
		*cut = true;
		return false;
	}
	f->u64 = load_le(*pp, n);
	*pp += n;
	return true;
}

/* Reads the value of a field of wire type wt starting at *pp. */
static bool read_value(const uint8_t **pp, const uint8_t *end, uint64_t wt,
                       struct em_pb_field *f, bool *cut)
{
	switch (wt) {
	case EM_PB_VARINT:
		return read_varint(pp, end, &f->u64, cut);
	case EM_PB_FIXED64:
		return read_fixed(pp, end, 8, f, cut);
	case EM_PB_FIXED32:
		return read_fixed(pp, end, 4, f, cut);
	case EM_PB_BYTES:
		return read_bytes(pp, end, f, cut);
	default:
		return false; /* groups (3, 4) and the unused types 6, 7 */
	}
}

/*
 * Reads the key of the next field into f (number and type); 0 at the end,
 * -1 if it is malformed.  *p is advanced past it.
 */
static int read_key(struct em_pb_reader *r, const uint8_t **p,
                    struct em_pb_field *f)
{
	uint64_t key;
	uint32_t number;

	memset(f, 0, sizeof(*f));
	r->truncated = false;
	if (*p == NULL || *p >= r->end)
		return 0;
	if (!read_varint(p, r->end, &key, &r->truncated))
		return -1;
	/* gogoproto converts the number to int32 and rejects <= 0. */
	number = (uint32_t)(key >> 3);
	if (number == 0 || number > INT32_MAX)
		return -1;
	f->number = number;
	f->type = (enum em_pb_wiretype)(key & 7);
	return 1;
}

int em_pb_next(struct em_pb_reader *r, struct em_pb_field *f)
{
	const uint8_t *p = r->p;
	int rc = read_key(r, &p, f);

	if (rc <= 0)
		return rc;
	if (!read_value(&p, r->end, f->type, f, &r->truncated))
		return -1;
	r->p = p;
	return 1;
}

bool em_pb_packed_varints_ok(const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf;
	const uint8_t *end;
	uint64_t v;
	bool cut = false;

	if (len == 0)
		return true; /* buf may be NULL: no pointer arithmetic on it */
	end = buf + len;
	while (p < end)
		if (!read_varint(&p, end, &v, &cut))
			return false;
	return true;
}

/*
 * Is a field of this number and wire type acceptable?  gogoproto checks the
 * type of a declared field before it reads the value, so a wrong type is
 * malformed even when the value would also run past the end.
 */
static bool simple_type_ok(const struct em_pb_field *f, uint32_t varints,
                           uint32_t bytes)
{
	uint32_t bit;

	if (f->number >= EM_PB_SIMPLE_MAX)
		return true;
	bit = 1u << f->number;
	if (varints & bit)
		return f->type == EM_PB_VARINT;
	if (bytes & bit)
		return f->type == EM_PB_BYTES;
	return true;
}

static void simple_store(struct em_pb_simple *m, const struct em_pb_field *f,
                         uint32_t varints, uint32_t bytes)
{
	uint32_t bit;

	if (f->number >= EM_PB_SIMPLE_MAX)
		return;
	bit = 1u << f->number;
	if (varints & bit) {
		m->u64[f->number] = f->u64;
	} else if (bytes & bit) {
		m->bytes[f->number] = f->bytes;
		m->len[f->number] = f->len;
	} else {
		return;
	}
	m->seen |= bit;
}

int em_pb_decode_simple(const uint8_t *buf, size_t len, uint32_t varints,
                        uint32_t bytes, struct em_pb_simple *m,
                        size_t *bad_off)
{
	struct em_pb_reader r;
	struct em_pb_field f;
	const uint8_t *p;
	int rc;

	memset(m, 0, sizeof(*m));
	em_pb_init(&r, buf, len);
	for (;;) {
		p = r.p;
		rc = read_key(&r, &p, &f);
		if (rc == 0)
			return 0;
		if (rc < 0 || !simple_type_ok(&f, varints, bytes) ||
		    !read_value(&p, r.end, f.type, &f, &r.truncated))
			break;
		simple_store(m, &f, varints, bytes);
		r.p = p;
	}
	if (bad_off != NULL)
		*bad_off = (size_t)(r.p - buf);
	return r.truncated ? -2 : -1;
}
