/*
 * fuzz_wal.c - libFuzzer target: the WAL decoder on arbitrary bytes, as
 * the newest file of a WAL.
 */
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct em_report rep;
	struct em_wal_info info;
	struct em_error err;

	em_report_init(&rep);
	em_wal_check_buf(data, size, "0000000000000000-0000000000000000.wal",
	                 &rep, &info, &err);
	em_wal_info_free(&info);
	em_report_free(&rep);
	return 0;
}
