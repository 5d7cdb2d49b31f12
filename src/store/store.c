/*
 * store.c - the store interface (store.h): picks the kind from the URL and
 * checks keys before either kind sees them.
 */
#include "store_priv.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool store_key_ok(const char *key)
{
	const char *p = key;

	if (key == NULL || *key == '\0' || *key == '/')
		return false;
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
		else
			break;
	}
	return p[-1] != '/';
}

bool store_list_add(struct em_store_list *l, const char *key, size_t klen,
                    uint64_t size)
{
	struct em_store_obj *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (v == NULL)
		return false;
	l->v = v;
	v[l->n].key = strndup(key, klen);
	if (v[l->n].key == NULL)
		return false;
	v[l->n].size = size;
	l->n++;
	return true;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct em_store_obj *)a)->key,
	              ((const struct em_store_obj *)b)->key);
}

void store_list_sort(struct em_store_list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(l->v[0]), by_key);
}

void em_store_list_free(struct em_store_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

enum em_status em_store_open(const char *url, const struct em_store_opts *o,
                             struct em_store **out, struct em_error *err)
{
	struct em_store *st;
	enum em_status rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->url = strdup(url)) == NULL) {
		free(st);
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	}
	st->call_timeout_ms = o && o->call_timeout_ms ? o->call_timeout_ms
	                                              : 30000;
	st->stall_s = o && o->stall_s ? o->stall_s : 60;
	if (strncmp(url, "file://", 7) == 0 && url[7] == '/' && url[8] != '\0')
		rc = store_dir_open(st, url + 7, err);
	else if (strncmp(url, "s3://", 5) == 0 && url[5] != '\0' &&
	         url[5] != '/')
		rc = store_s3_open(st, url + 5, o ? o->s3 : NULL, err);
	else
		rc = em_error_set(err, EM_EUSAGE, "store '%.200s': must be "
		                  "file:///DIR (absolute) or s3://BUCKET[/PREFIX]",
		                  url);
	if (rc != EM_OK) {
		em_store_free(st);
		return rc;
	}
	*out = st;
	return EM_OK;
}

void em_store_free(struct em_store *st)
{
	if (st == NULL)
		return;
	if (st->ops != NULL)
		st->ops->free(st);
	free(st->url);
	free(st->dir);
	free(st);
}

const char *em_store_url(const struct em_store *st)
{
	return st->url;
}

const char *em_store_local_dir(const struct em_store *st)
{
	return st->dir;
}

void em_store_set_deadline(struct em_store *st, uint64_t deadline_ms)
{
	st->deadline_ms = deadline_ms;
}

static enum em_status bad_key(const char *key, struct em_error *err)
{
	return em_error_set(err, EM_EUSAGE, "store: bad key '%.200s'",
	                    key ? key : "(null)");
}

enum em_status em_store_list(struct em_store *st, const char *prefix,
                             struct em_store_list *out, struct em_error *err)
{
	enum em_status rc;

	out->v = NULL;
	out->n = 0;
	rc = st->ops->list(st, prefix ? prefix : "", out, err);
	if (rc != EM_OK)
		em_store_list_free(out);
	else
		store_list_sort(out);
	return rc;
}

enum em_status em_store_put_file(struct em_store *st, const char *key,
                                 const char *path, bool consume,
                                 struct em_error *err)
{
	if (!store_key_ok(key))
		return bad_key(key, err);
	return st->ops->put_file(st, key, path, consume, err);
}

enum em_status em_store_put_buf(struct em_store *st, const char *key,
                                const void *p, size_t n,
                                struct em_error *err)
{
	if (!store_key_ok(key))
		return bad_key(key, err);
	return st->ops->put_buf(st, key, p, n, err);
}

enum em_status em_store_get(struct em_store *st, const char *key,
                            em_store_write_fn write, void *arg,
                            struct em_error *err)
{
	if (!store_key_ok(key))
		return bad_key(key, err);
	return st->ops->get(st, key, write, arg, err);
}

struct membuf {
	char *p;
	size_t n, max;
	const char *key;
};

static enum em_status to_buf(void *arg, const uint8_t *p, size_t n,
                             struct em_error *err)
{
	struct membuf *b = arg;
	char *q;

	if (n > b->max - b->n)
		return em_error_set(err, EM_ERANGE, "store: %s is larger than "
		                    "%zu bytes", b->key, b->max);
	q = realloc(b->p, b->n + n + 1);
	if (q == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	memcpy(q + b->n, p, n);
	b->p = q;
	b->n += n;
	b->p[b->n] = '\0';
	return EM_OK;
}

enum em_status em_store_get_buf(struct em_store *st, const char *key,
                                size_t max, char **p, size_t *n,
                                struct em_error *err)
{
	struct membuf b = { NULL, 0, max, key };
	enum em_status rc;

	*p = NULL;
	*n = 0;
	b.p = calloc(1, 1);
	if (b.p == NULL)
		return em_error_set(err, EM_ENOMEM, "store: out of memory");
	rc = em_store_get(st, key, to_buf, &b, err);
	if (rc != EM_OK) {
		free(b.p);
		return rc;
	}
	*p = b.p;
	*n = b.n;
	return EM_OK;
}

enum em_status em_store_delete(struct em_store *st, const char *key,
                               struct em_error *err)
{
	if (!store_key_ok(key))
		return bad_key(key, err);
	return st->ops->del(st, key, err);
}
