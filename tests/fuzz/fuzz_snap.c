/*
 * fuzz_snap.c - libFuzzer target: the .snap decoder on arbitrary bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct em_snap_meta meta;
	struct em_error err;

	em_snap_decode_buf(data, size, &meta, &err);
	return 0;
}
