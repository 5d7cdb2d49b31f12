/*
 * s3_xml.c - the few S3 answers the store reads (ListObjectsV2, the
 * multipart upload id, errors), taken from their XML by element name.
 *
 * S3's answers are flat, machine-written documents whose elements of
 * interest hold text only; the store needs a handful of their values, so
 * no XML library is linked for them.  Text is unescaped (the five named
 * entities and numeric references); anything else that is not in the
 * shape expected is an error for the caller.
 */
#include "s3_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text of the first <name>...</name> at or after *from (before end);
 * *from moves past it.  Not unescaped. */
bool s3x_find(const char **from, const char *end, const char *name,
              const char **text, size_t *len)
{
	char open[64], close[64];
	const char *a, *b;
	size_t ol;

	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	ol = strlen(open);
	a = memmem(*from, (size_t)(end - *from), open, ol);
	if (a == NULL)
		return false;
	a += ol;
	b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (b == NULL)
		return false;
	*text = a;
	*len = (size_t)(b - a);
	*from = b + strlen(close);
	return true;
}

static bool entity(const char **p, const char *end, char *out)
{
	static const struct { const char *name; char c; } named[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	unsigned long v;
	char *stop;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t n = strlen(named[i].name);

		if ((size_t)(end - *p) >= n && memcmp(*p, named[i].name, n) == 0) {
			*out = named[i].c;
			*p += n;
			return true;
		}
	}
	/* &#NN; and &#xNN;, ASCII only: S3 escapes control characters so. */
	if ((size_t)(end - *p) < 4 || (*p)[1] != '#')
		return false;
	if ((*p)[2] == 'x')
		v = strtoul(*p + 3, &stop, 16);
	else
		v = strtoul(*p + 2, &stop, 10);
	if (stop >= end || *stop != ';' || v == 0 || v > 0x7f)
		return false;
	*out = (char)v;
	*p = stop + 1;
	return true;
}

/* The unescaped text, malloc'ed; NULL when malformed or out of memory. */
char *s3x_text(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	char *out = malloc(len + 1), *q = out;

	if (out == NULL)
		return NULL;
	while (p < end) {
		if (*p != '&') {
			*q++ = *p++;
			continue;
		}
		if (!entity(&p, end, q++)) {
			free(out);
			return NULL;
		}
	}
	*q = '\0';
	return out;
}

/* The unescaped text of the first <name> in [doc, end), or NULL. */
char *s3x_get(const char *doc, size_t len, const char *name)
{
	const char *from = doc, *t;
	size_t n;

	if (!s3x_find(&from, doc + len, name, &t, &n))
		return NULL;
	return s3x_text(t, n);
}
