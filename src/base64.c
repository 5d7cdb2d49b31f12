/*
 * base64.c - base64 as etcd's gateway writes it (base64.h), on nettle.
 */
#include "etcd-medic/base64.h"

#include <nettle/base64.h>

void em_b64_encode(char *dst, const uint8_t *src, size_t n)
{
	base64_encode_raw(dst, n, src);
	dst[EM_B64_ENCODED_LEN(n)] = '\0';
}

bool em_b64_decode(uint8_t *dst, size_t *len, const char *src, size_t n)
{
	struct base64_decode_ctx ctx;

	/* nettle accepts a text cut short of its padding until _final, and
	 * skips white space (etcd writes none: harmless either way). */
	if (n % 4 != 0)
		return false;
	*len = EM_B64_DECODED_MAX(n);
	base64_decode_init(&ctx);
	return base64_decode_update(&ctx, len, dst, n, src) == 1 &&
	       base64_decode_final(&ctx) == 1;
}
