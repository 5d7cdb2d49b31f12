/*
 * base64.c - base64 as etcd's gateway writes it (base64.h), on OpenSSL's
 * EVP_EncodeBlock and EVP_DecodeBlock.
 *
 * Why OpenSSL here when nettle does SHA-256: a snapshot arrives as 32 KiB
 * blobs of base64, and nettle's decoder, a call per character, takes 7x
 * the CPU of EVP_DecodeBlock; on a machine whose cores etcd's gateway
 * already keeps busy while it streams, that made a save 1.28x slower.
 * These two functions need no OpenSSL initialisation, so libcrypto costs
 * only its loading (1.5 MiB resident, README: Memory), not the provider
 * machinery EVP's digests would set up.
 */
#include "etcd-medic/base64.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

bool em_b64_encode(char *dst, const uint8_t *src, size_t n)
{
	if (n > EM_B64_ENCODE_MAX)
		return false;
	EVP_EncodeBlock((unsigned char *)dst, n > 0 ? src : (const uint8_t *)"",
	                (int)n);
	return true;
}

bool em_b64_decode(uint8_t *dst, size_t *len, const char *src, size_t n)
{
	size_t pad = 0;
	int got;

	if (n % 4 != 0 || n > INT_MAX)
		return false;
	if (n == 0) {
		*len = 0;
		return true;
	}
	/* EVP_DecodeBlock takes '=' anywhere for a zero and skips white
	 * space at either end: padding is checked here, and the ends. */
	while (pad < 2 && src[n - 1 - pad] == '=')
		pad++;
	if (memchr(src, '=', n - pad) != NULL || isspace((unsigned char)src[0]) ||
	    isspace((unsigned char)src[n - 1]))
		return false;
	got = EVP_DecodeBlock(dst, (const unsigned char *)src, (int)n);
	/* It counts the zero bytes that the padding stands for. */
	if (got < 0 || (size_t)got < pad)
		return false;
	*len = (size_t)got - pad;
	return true;
}
