/*
 * fuzz_snap.c - libFuzzer target: the .snap decoder on arbitrary bytes, and
 * the v2 store check on the data of what decodes (and on the input itself).
 */
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct em_snap_meta meta;
	struct em_error err;
	char what[200];

	if (em_snap_decode_buf(data, size, &meta, &err) == EM_OK)
		em_snap_v2_custom(data + meta.data_off, meta.data_len, what,
		                  sizeof(what));
	em_snap_v2_custom(data, size, what, sizeof(what));
	return 0;
}
