/*
 * protowire.h - a bounds-checked reader of the protobuf wire format.
 *
 * etcd's WAL records and .snap files are protobuf messages (walpb.Record,
 * raftpb.Entry, snappb.Snapshot, ...).  We need a handful of fields from
 * them, so instead of generated code this reads fields one at a time from a
 * byte range and never reads outside it.
 */
#ifndef ETCD_MEDIC_PROTOWIRE_H
#define ETCD_MEDIC_PROTOWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum em_pb_wiretype {
	EM_PB_VARINT = 0,
	EM_PB_FIXED64 = 1,
	EM_PB_BYTES = 2,
	EM_PB_FIXED32 = 5,
};

struct em_pb_reader {
	const uint8_t *p;
	const uint8_t *end;
	/* After em_pb_next returned -1: the input ended inside the field
	 * (what gogoproto reports as io.ErrUnexpectedEOF, which etcd's WAL
	 * decoder takes for a torn write), rather than being invalid. */
	bool truncated;
};

struct em_pb_field {
	uint32_t number;
	enum em_pb_wiretype type;
	uint64_t u64;          /* varint, fixed64, fixed32 */
	const uint8_t *bytes;  /* length-delimited */
	size_t len;
};

void em_pb_init(struct em_pb_reader *r, const uint8_t *buf, size_t len);

/*
 * Reads the next field.  Returns 1 and fills f on success, 0 at the clean
 * end of the buffer, -1 on malformed input (truncated varint or bytes, a
 * field number of 0, a group or unknown wire type).  On -1, r->p is left at
 * the start of the bad field, so that callers can say where it is.
 */
int em_pb_next(struct em_pb_reader *r, struct em_pb_field *f);

/* True when [buf, buf+len) is a whole number of varints (a packed repeated
 * integer field). */
bool em_pb_packed_varints_ok(const uint8_t *buf, size_t len);

#define EM_PB_SIMPLE_MAX 8

/* The fields of a flat message, indexed by field number. */
struct em_pb_simple {
	uint32_t seen;                          /* bit n: field n was present */
	uint64_t u64[EM_PB_SIMPLE_MAX];         /* varint fields */
	const uint8_t *bytes[EM_PB_SIMPLE_MAX]; /* length-delimited fields */
	size_t len[EM_PB_SIMPLE_MAX];
};

/*
 * Decodes a message whose interesting fields all have numbers below
 * EM_PB_SIMPLE_MAX: bit n of `varints` (of `bytes`) declares field n a
 * varint (length-delimited).  As gogoproto's generated code does, the last
 * occurrence of a field wins, undeclared fields are skipped, and a declared
 * field with another wire type is malformed.  Returns 0, or -1 with *bad_off
 * (if not NULL) set to the offset of the offending field in buf; -2 instead
 * of -1 when the input ends inside that field (see em_pb_reader.truncated).
 */
int em_pb_decode_simple(const uint8_t *buf, size_t len, uint32_t varints,
                        uint32_t bytes, struct em_pb_simple *m,
                        size_t *bad_off);

#endif
