/*
 * fuzz_bolt.c - libFuzzer target: the bbolt checker on arbitrary bytes.
 *
 * Any input must yield a verdict without a crash, an out-of-bounds read, a
 * leak or a hang.  Both modes run: sanity takes other paths (it skips
 * trees) than full.
 */
#include <stddef.h>
#include <stdint.h>

#include "etcd-medic/bolt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum em_check_mode modes[2] = { EM_CHECK_FULL, EM_CHECK_SANITY };

	for (int i = 0; i < 2; i++) {
		struct em_report rep;
		struct em_bolt_info info;
		struct em_error err;

		em_report_init(&rep);
		em_bolt_check_buf(data, size, "db", modes[i], &rep, &info, &err);
		em_report_free(&rep);
	}
	return 0;
}
