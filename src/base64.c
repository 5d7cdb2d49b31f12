/*
 * base64.c - base64 as etcd's gateway writes it (base64.h), on nettle,
 * which GnuTLS brings into the process anyway.
 *
 * nettle decodes a character per call, 7x the CPU of OpenSSL's
 * EVP_DecodeBlock; that mattered while snapshots came through the
 * gateway as base64 (1.28x slower on two cores shared with etcd), not
 * since they come through gRPC as bytes.  What is left is keys and
 * values, and linking libcrypto for them would cost 1.5 MiB resident.
 */
#include "etcd-medic/base64.h"

#include <nettle/base64.h>

bool em_b64_encode(char *dst, const uint8_t *src, size_t n)
{
	if (n > EM_B64_ENCODE_MAX)
		return false;
	base64_encode_raw(dst, n, src);
	dst[EM_B64_ENCODED_LEN(n)] = '\0';
	return true;
}

bool em_b64_decode(uint8_t *dst, size_t *len, const char *src, size_t n)
{
	struct base64_decode_ctx ctx;

	/* nettle takes a text cut short of its padding until _final, and
	 * skips white space, which etcd never writes; a NUL or any other
	 * character outside the alphabet is an error. */
	if (n % 4 != 0)
		return false;
	*len = EM_B64_DECODED_MAX(n);
	base64_decode_init(&ctx);
	return base64_decode_update(&ctx, len, dst, n, src) == 1 &&
	       base64_decode_final(&ctx) == 1;
}
