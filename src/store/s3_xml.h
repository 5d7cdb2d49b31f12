/*
 * s3_xml.h - values out of S3's XML answers (s3_xml.c).  Private to the
 * store.
 */
#ifndef ETCD_MEDIC_S3_XML_H
#define ETCD_MEDIC_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

bool s3x_find(const char **from, const char *end, const char *name,
              const char **text, size_t *len);
char *s3x_text(const char *text, size_t len);
char *s3x_get(const char *doc, size_t len, const char *name);

#endif
