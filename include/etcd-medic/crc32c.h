/*
 * crc32c.h - CRC-32C (Castagnoli), as etcd uses it for WAL records and .snap
 * files.  Chained like Go's crc32.Update: em_crc32c(em_crc32c(0, a), b) is the
 * CRC of a followed by b.
 */
#ifndef ETCD_MEDIC_CRC32C_H
#define ETCD_MEDIC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t em_crc32c(uint32_t crc, const void *buf, size_t len);

/* The same with the portable table, whatever the CPU (for tests). */
uint32_t em_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
