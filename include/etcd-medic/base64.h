/*
 * base64.h - the base64 etcd's JSON gateway writes for bytes (RFC 4648,
 * standard alphabet, padded).  Input must come in whole
 * groups of four characters with the right padding.
 */
#ifndef ETCD_MEDIC_BASE64_H
#define ETCD_MEDIC_BASE64_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters em_b64_encode writes for n bytes, without the NUL. */
#define EM_B64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)
/* Bytes at most in the decoding of n characters. */
#define EM_B64_DECODED_MAX(n) ((n) / 4 * 3)

/* Most bytes em_b64_encode takes in one call (far above what etcd
 * accepts in a request, 1.5 MiB by default). */
#define EM_B64_ENCODE_MAX ((size_t)INT_MAX / 4 * 3)

/* Writes the base64 of src[0..n) and a NUL to dst, which holds
 * EM_B64_ENCODED_LEN(n) + 1 bytes; false when n > EM_B64_ENCODE_MAX. */
bool em_b64_encode(char *dst, const uint8_t *src, size_t n);

/* Decodes src[0..n) into dst, which holds EM_B64_DECODED_MAX(n) bytes;
 * *len is the decoded length.  False when src is not padded base64. */
bool em_b64_decode(uint8_t *dst, size_t *len, const char *src, size_t n);

#endif
