/*
 * config.c - the sidecar's YAML file and etcd's own config file (see
 * config.h), read with libyaml's document loader.
 *
 * Both files are loaded into a yaml_document_t, every scalar gets its
 * ${VAR} references expanded in place, and a table of known keys (one per
 * mapping) turns the document into the typed structs.  The sidecar's tables
 * reject unknown keys; etcd's keep them, since etcd has many more keys than
 * etcd-medic needs, and etcd's document is kept so that the config a member
 * must start with can be emitted from it again.
 *
 * Error messages always end the "what" with " at FILE:LINE" (1-based, the
 * line where the offending node starts), so that a person can go there.
 */
#include "etcd-medic/config.h"
#include "etcd-medic/schedule.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* Config files are a few KiB, and nest three levels at most; anything
 * near these limits was never meant to be a config (see prescan). */
#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_DEPTH 64
#define MAX_ANCHORS 1000
/* Longest value or key quoted back in an error message. */
#define QUOTE_MAX 64
#define MAX_TABLE_KEYS 16
#define MAX_VAR_NAME 255

/* ---- growing string buffer ------------------------------------------- */

struct sbuf {
	char *p;
	size_t n, cap;
};

static bool sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->cap - b->n <= n) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap - b->n <= n) {
			if (cap > SIZE_MAX / 2)
				return false;
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (p == NULL)
			return false;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return true;
}

/* ---- error helpers --------------------------------------------------- */

static unsigned node_line(const yaml_node_t *node)
{
	return (unsigned)node->start_mark.line + 1;
}

/* Sets err to "<fmt> at PATH:LINE". */
static enum em_status at_error(struct em_error *err, enum em_status status,
                               const char *path, unsigned line,
                               const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static enum em_status at_error(struct em_error *err, enum em_status status,
                               const char *path, unsigned line,
                               const char *fmt, ...)
{
	char what[EM_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return em_error_set(err, status, "%s at %s:%u", what, path, line);
}

static enum em_status nomem(struct em_error *err)
{
	return em_error_set(err, EM_ENOMEM, "out of memory reading config");
}

static const char *node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

/* ---- reading and parsing a file --------------------------------------- */

static enum em_status read_file(const char *path, size_t max, struct sbuf *out,
                                struct em_error *err)
{
	enum em_status st = EM_OK;
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return em_error_errno(err, errno == ENOENT ? EM_ENOENT : EM_EIO,
		                      errno, "cannot open %s", path);
	if (!sbuf_add(out, "", 0)) {
		st = nomem(err);
		goto cleanup;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->n + n > max) {
			st = em_error_set(err, EM_ERANGE, "%s is larger than "
			                  "%zu bytes", path, max);
			goto cleanup;
		}
		if (!sbuf_add(out, chunk, n)) {
			st = nomem(err);
			goto cleanup;
		}
	}
	if (ferror(f))
		st = em_error_errno(err, EM_EIO, errno, "cannot read %s", path);
cleanup:
	fclose(f);
	return st;
}

static enum em_status parser_error(const yaml_parser_t *p, const char *path,
                                   struct em_error *err)
{
	if (p->error == YAML_MEMORY_ERROR)
		return nomem(err);
	return em_error_set(err, EM_EFORMAT, "YAML error at %s:%zu:%zu: %s%s%s",
	                    path, p->problem_mark.line + 1,
	                    p->problem_mark.column + 1,
	                    p->problem ? p->problem : "malformed input",
	                    p->context ? ", " : "",
	                    p->context ? p->context : "");
}

static int event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return ev->data.scalar.anchor != NULL;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor != NULL;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor != NULL;
	default: return 0;
	}
}

/* One event of the pre-pass: nesting, anchors and documents. */
static enum em_status scan_event(const yaml_event_t *ev, const char *path,
                                 int *depth, size_t *anchors, int *docs,
                                 struct em_error *err)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;

	*anchors += (size_t)event_anchor(ev);
	if (*anchors > MAX_ANCHORS)
		return at_error(err, EM_EFORMAT, path, line,
		                "more than %d anchors", MAX_ANCHORS);
	if (ev->type == YAML_SEQUENCE_START_EVENT ||
	    ev->type == YAML_MAPPING_START_EVENT)
		++*depth;
	if (ev->type == YAML_SEQUENCE_END_EVENT ||
	    ev->type == YAML_MAPPING_END_EVENT)
		--*depth;
	if (*depth > MAX_DEPTH)
		return at_error(err, EM_EFORMAT, path, line,
		                "nesting deeper than %d levels", MAX_DEPTH);
	if (ev->type == YAML_DOCUMENT_START_EVENT && ++*docs > 1)
		return at_error(err, EM_EFORMAT, path, line,
		                "a second YAML document (one config per file)");
	return EM_OK;
}

/*
 * Runs libyaml's event parser over buf before its loader does, to refuse
 * what would make the loader or the emitter misbehave: the scanner spends
 * time in proportion to the nesting depth on every token, the loader looks
 * anchors up one by one, and the emitter recurses once per level.  A
 * second document is refused too: that half of the config would be lost.
 */
static enum em_status prescan(const struct sbuf *buf, const char *path,
                              struct em_error *err)
{
	enum em_status st = EM_OK;
	size_t anchors = 0;
	int depth = 0, docs = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	bool end = false;

	if (!yaml_parser_initialize(&p))
		return nomem(err);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf->p, buf->n);
	while (st == EM_OK && !end) {
		if (!yaml_parser_parse(&p, &ev)) {
			st = parser_error(&p, path, err);
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		st = scan_event(&ev, path, &depth, &anchors, &docs, err);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return st;
}

/* Loads the (only) document of buf into doc. */
static enum em_status parse_document(const struct sbuf *buf, const char *path,
                                     yaml_document_t *doc, bool *have_doc,
                                     struct em_error *err)
{
	enum em_status st = EM_OK;
	yaml_parser_t p;

	if (!yaml_parser_initialize(&p))
		return nomem(err);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf->p, buf->n);
	if (yaml_parser_load(&p, doc))
		*have_doc = true;
	else
		st = parser_error(&p, path, err);
	yaml_parser_delete(&p);
	return st;
}

/* ---- ${VAR} expansion ------------------------------------------------- */

struct where {
	const char *path;
	unsigned line;
};

static size_t var_name_len(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || isdigit((unsigned char)s[0]))
		return 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'))
		i++;
	return i;
}

/* Expands the reference "${...}" at s (n bytes to the end of the scalar)
 * into out; *used is its length. */
static enum em_status expand_ref(const char *s, size_t n, size_t *used,
                                 struct sbuf *out, const struct where *at,
                                 struct em_error *err)
{
	const char *close = memchr(s, '}', n);
	const char *body = s + 2, *val;
	size_t blen, nlen;
	char name[MAX_VAR_NAME + 1];
	bool has_default;

	if (close == NULL)
		return at_error(err, EM_EFORMAT, at->path, at->line,
		                "unterminated '${' (write $$ for a literal $)");
	blen = (size_t)(close - body);
	nlen = var_name_len(body, blen);
	has_default = nlen < blen && blen - nlen >= 2 &&
	              body[nlen] == ':' && body[nlen + 1] == '-';
	if (nlen == 0 || nlen > MAX_VAR_NAME || (nlen < blen && !has_default))
		return at_error(err, EM_EFORMAT, at->path, at->line,
		                "bad reference '%.*s' (use ${NAME} or "
		                "${NAME:-default}; $$ for a literal $)",
		                (int)(blen + 3 > QUOTE_MAX ? QUOTE_MAX : blen + 3),
		                s);
	memcpy(name, body, nlen);
	name[nlen] = '\0';
	*used = blen + 3;
	val = getenv(name);
	/* As in the shell, ":-" also replaces a variable that is set empty. */
	if (val != NULL && (val[0] != '\0' || !has_default))
		return sbuf_add(out, val, strlen(val)) ? EM_OK : nomem(err);
	if (has_default)
		return sbuf_add(out, body + nlen + 2, blen - nlen - 2) ?
		       EM_OK : nomem(err);
	return at_error(err, EM_EUSAGE, at->path, at->line,
	                "environment variable %s is not set (write "
	                "${%s:-default} to give a default)", name, name);
}

static enum em_status expand_string(const char *s, size_t n, struct sbuf *out,
                                    const struct where *at,
                                    struct em_error *err)
{
	size_t i = 0, used = 0;
	enum em_status st;

	while (i < n) {
		const char *d = memchr(s + i, '$', n - i);
		size_t lit = d ? (size_t)(d - (s + i)) : n - i;

		if (!sbuf_add(out, s + i, lit))
			return nomem(err);
		i += lit;
		if (i == n)
			break;
		if (i + 1 < n && s[i + 1] == '{') {
			st = expand_ref(s + i, n - i, &used, out, at, err);
			if (st != EM_OK)
				return st;
			i += used;
			continue;
		}
		/* "$$" is one '$'; a '$' before anything else stays as is. */
		if (!sbuf_add(out, "$", 1))
			return nomem(err);
		i += (i + 1 < n && s[i + 1] == '$') ? 2 : 1;
	}
	return EM_OK;
}

/* What libyaml's emitter insists on: a value from the environment may be
 * anything, and is better refused here, with its line, than at render. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, len, k;
	uint32_t cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			len = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			len = 3, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			len = 4, cp = s[i] & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static enum em_status expand_node(yaml_node_t *node, const char *path,
                                  struct em_error *err)
{
	struct where at = { path, node_line(node) };
	struct sbuf out = { NULL, 0, 0 };
	const char *v = (const char *)node->data.scalar.value;
	size_t n = node->data.scalar.length;
	enum em_status st;

	/* Our strings are C strings: a "\0" escape would cut a value short
	 * without anyone noticing. */
	if (memchr(v, '\0', n) != NULL)
		return at_error(err, EM_EFORMAT, path, at.line,
		                "a value holds a NUL character");
	if (memchr(v, '$', n) == NULL)
		return EM_OK;
	if (!sbuf_add(&out, "", 0))
		return nomem(err);
	st = expand_string(v, n, &out, &at, err);
	if (st == EM_OK && !utf8_valid((const unsigned char *)out.p, out.n))
		st = at_error(err, EM_EFORMAT, path, at.line, "a value from "
		              "the environment is not valid UTF-8");
	if (st != EM_OK) {
		free(out.p);
		return st;
	}
	/* libyaml frees node values with free(). */
	free(node->data.scalar.value);
	node->data.scalar.value = (yaml_char_t *)out.p;
	node->data.scalar.length = out.n;
	return EM_OK;
}

/* Every node once, whether reached through an alias or not. */
static enum em_status expand_document(yaml_document_t *doc, const char *path,
                                      struct em_error *err)
{
	yaml_node_t *node;
	enum em_status st;

	for (node = doc->nodes.start; node < doc->nodes.top; node++) {
		if (node->type != YAML_SCALAR_NODE)
			continue;
		st = expand_node(node, path, err);
		if (st != EM_OK)
			return st;
	}
	return EM_OK;
}

/* Reads, parses and expands path into *doc (which the caller deletes when
 * *have_doc is set, also on failure). */
static enum em_status load_document(const char *path, yaml_document_t *doc,
                                    bool *have_doc, struct em_error *err)
{
	struct sbuf buf = { NULL, 0, 0 };
	enum em_status st;

	*have_doc = false;
	st = read_file(path, MAX_FILE_BYTES, &buf, err);
	if (st == EM_OK)
		st = prescan(&buf, path, err);
	if (st == EM_OK)
		st = parse_document(&buf, path, doc, have_doc, err);
	free(buf.p);
	if (st == EM_OK)
		st = expand_document(doc, path, err);
	return st;
}

/* ---- typed values ----------------------------------------------------- */

bool em_parse_duration_ms(const char *s, unsigned long long *ms)
{
	static const struct { const char *unit; unsigned long long ms; } units[] = {
		{ "ms", 1 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};
	unsigned long long total = 0;

	if (s == NULL || *s == '\0')
		return false;
	while (*s != '\0') {
		unsigned long long n = 0, mul = 0;
		size_t i;

		if (!isdigit((unsigned char)*s))
			return false;
		for (; isdigit((unsigned char)*s); s++) {
			unsigned d = (unsigned)(*s - '0');

			if (n > (ULLONG_MAX - d) / 10)
				return false;
			n = n * 10 + d;
		}
		/* A bare number is seconds, and only alone: "1m30" is a typo. */
		if (*s == '\0' && total == 0)
			mul = 1000;
		for (i = 0; mul == 0 && i < sizeof(units) / sizeof(units[0]); i++) {
			size_t ul = strlen(units[i].unit);

			if (strncmp(s, units[i].unit, ul) == 0) {
				mul = units[i].ms;
				s += ul;
			}
		}
		if (mul == 0 || n > ULLONG_MAX / mul ||
		    n * mul > ULLONG_MAX - total)
			return false;
		total += n * mul;
	}
	*ms = total;
	return true;
}

void em_strv_free(struct em_strv *sv)
{
	size_t i;

	if (sv == NULL)
		return;
	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

static bool strv_add(struct em_strv *sv, const char *s, size_t n)
{
	char **v = realloc(sv->v, (sv->n + 1) * sizeof(*v));

	if (v == NULL)
		return false;
	sv->v = v;
	sv->v[sv->n] = strndup(s, n);
	if (sv->v[sv->n] == NULL)
		return false;
	sv->n++;
	return true;
}

/* Parses "host:port" (host may be "[v6]") and returns the rest, or NULL
 * with *why set. */
static const char *parse_hostport(const char *s, const char **why)
{
	const char *host_end;
	unsigned long port = 0;
	size_t digits = 0;

	if (*s == '[') {
		host_end = strchr(s, ']');
		if (host_end == NULL || host_end == s + 1) {
			*why = "a bracketed IPv6 host needs its closing ']'";
			return NULL;
		}
		host_end++;
	} else {
		host_end = s + strcspn(s, ":/?#@ \t[]");
		if (host_end == s) {
			*why = "no host";
			return NULL;
		}
	}
	if (*host_end != ':') {
		*why = "no port (write host:port)";
		return NULL;
	}
	for (s = host_end + 1; isdigit((unsigned char)*s) && digits < 6; s++) {
		port = port * 10 + (unsigned long)(*s - '0');
		digits++;
	}
	if (digits == 0 || port == 0 || port > 65535) {
		*why = "the port must be a number from 1 to 65535";
		return NULL;
	}
	return s;
}

/* Checks what etcd's types.NewURLs checks: scheme, host:port, no path. */
static bool url_ok(const char *u, const char **why)
{
	const char *rest;

	if (strncmp(u, "http://", 7) == 0)
		u += 7;
	else if (strncmp(u, "https://", 8) == 0)
		u += 8;
	else {
		*why = "a URL must start with http:// or https://";
		return false;
	}
	rest = parse_hostport(u, why);
	if (rest == NULL)
		return false;
	if (*rest != '\0') {
		*why = "nothing may follow host:port (no path, query or space)";
		return false;
	}
	return true;
}

static bool hostport_ok(const char *s, const char **why)
{
	const char *rest = parse_hostport(s, why);

	if (rest == NULL)
		return false;
	if (*rest != '\0') {
		*why = "nothing may follow host:port";
		return false;
	}
	return true;
}

/* YAML 1.1 booleans as etcd's YAML library reads them; the sidecar's file
 * takes only true and false. */
static bool parse_bool(const char *s, bool yaml11, bool *out)
{
	static const char *const yes[] = { "y", "Y", "yes", "Yes", "YES", "on",
	                                   "On", "ON", "True", "TRUE", NULL };
	static const char *const no[] = { "n", "N", "no", "No", "NO", "off",
	                                  "Off", "OFF", "False", "FALSE", NULL };
	size_t i;

	*out = strcmp(s, "true") == 0;
	if (*out || strcmp(s, "false") == 0)
		return true;
	for (i = 0; yaml11 && yes[i] != NULL; i++) {
		if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
			*out = strcmp(s, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

/* The names log.h documents.  Parsed here rather than with log.c's
 * em_log_parse_*: log.c sits in the gateway library (it needs json-c), and
 * the core library must not depend on it. */
static bool parse_log_format(const char *s, enum em_log_format *out)
{
	if (strcmp(s, "json") == 0)
		*out = EM_LOG_JSON;
	else if (strcmp(s, "text") == 0)
		*out = EM_LOG_TEXT;
	else
		return false;
	return true;
}

static bool parse_log_level(const char *s, enum em_log_level *out)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	static const enum em_log_level levels[] = {
		EM_LOG_DEBUG, EM_LOG_INFO, EM_LOG_WARN, EM_LOG_ERROR,
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = levels[i];
			return true;
		}
	}
	return false;
}

static bool parse_uint(const char *s, unsigned *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > UINT_MAX)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

/* ---- tables of known keys ---------------------------------------------- */

enum kind {
	K_STR,          /* char *; empty means not set */
	K_BOOL,         /* bool */
	K_UINT,         /* unsigned, at least key->min */
	K_DUR_MS,       /* unsigned milliseconds, > 0 */
	K_DUR_S,        /* unsigned whole seconds, > 0 */
	K_URLS,         /* struct em_strv: a list or "a,b,c" */
	K_HOSTPORT,     /* char *: "host:port" */
	K_LOG_FORMAT,   /* enum em_log_format */
	K_LOG_LEVEL,    /* enum em_log_level */
	K_SECRET_FILE,  /* char *: the file's content, one newline stripped */
	K_MAP,          /* a nested mapping: key->sub */
};

struct table;

struct key {
	const char *name;
	enum kind kind;
	size_t off;                  /* into the struct the table fills */
	const struct table *sub;     /* K_MAP */
	const char *const *choices;  /* K_STR: allowed values, or NULL */
	unsigned min;                /* K_UINT */
	bool required;
};

struct walk {
	const char *path;
	yaml_document_t *doc;
	bool yaml11_bools;           /* etcd's file */
	struct em_error *err;
};

struct table {
	const struct key *keys;
	size_t n;
	bool keep_unknown;           /* etcd's own file: etcd has many keys */
	/* Checks across keys once the mapping is read, or NULL. */
	enum em_status (*check)(const struct walk *w, const yaml_node_t *map,
	                        void *base);
};

#define FIELD(base, key, type) ((type *)(void *)((char *)(base) + (key)->off))
#define TABLE(keys, keep, check) \
	{ keys, sizeof(keys) / sizeof(keys[0]), keep, check }

static yaml_node_t *doc_node(const struct walk *w, int index)
{
	return yaml_document_get_node(w->doc, index);
}

/* An empty value, or a plain "~" or "null" (YAML's null), leaves a key at
 * its default: a template may expand a variable to nothing. */
static bool is_null(const yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value;

	if (node->type != YAML_SCALAR_NODE)
		return false;
	if (v[0] == '\0')
		return true;
	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static enum em_status want_scalar(const struct walk *w, const yaml_node_t *v,
                                  const char *name, const char *what)
{
	if (v->type == YAML_SCALAR_NODE)
		return EM_OK;
	return at_error(w->err, EM_EFORMAT, w->path, node_line(v),
	                "'%s' must be %s, not %s", name, what, node_kind(v));
}

static enum em_status bad_value(const struct walk *w, const yaml_node_t *v,
                                const char *name, const char *what)
{
	return at_error(w->err, EM_EFORMAT, w->path, node_line(v),
	                "'%s' must be %s, not '%.*s'", name, what, QUOTE_MAX,
	                (const char *)v->data.scalar.value);
}

/* Adds the URLs of one scalar, "a" or "a,b,c", to sv. */
static enum em_status add_urls(const struct walk *w, const yaml_node_t *v,
                               const char *name, struct em_strv *sv)
{
	const char *s = (const char *)v->data.scalar.value, *why;
	char *u;

	for (;;) {
		size_t n = strcspn(s, ",");
		size_t lead = strspn(s, " \t");

		while (n > lead && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n <= lead)
			return at_error(w->err, EM_EFORMAT, w->path, node_line(v),
			                "'%s' has an empty URL in its list", name);
		if (!strv_add(sv, s + lead, n - lead))
			return nomem(w->err);
		u = sv->v[sv->n - 1];
		if (!url_ok(u, &why))
			return at_error(w->err, EM_EFORMAT, w->path, node_line(v),
			                "'%s': bad URL '%.*s': %s", name,
			                QUOTE_MAX, u, why);
		s += strcspn(s, ",");
		if (*s == '\0')
			return EM_OK;
		s++;
	}
}

static enum em_status set_urls(const struct walk *w, const yaml_node_t *v,
                               const char *name, struct em_strv *sv)
{
	const yaml_node_item_t *it;
	enum em_status st;

	em_strv_free(sv);
	if (v->type == YAML_SCALAR_NODE)
		return add_urls(w, v, name, sv);
	if (v->type != YAML_SEQUENCE_NODE)
		return want_scalar(w, v, name, "a list of URLs");
	for (it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		const yaml_node_t *item = doc_node(w, *it);

		st = want_scalar(w, item, name, "a list of URLs");
		if (st == EM_OK)
			st = add_urls(w, item, name, sv);
		if (st != EM_OK)
			return st;
	}
	return EM_OK;
}

static enum em_status set_string(const struct walk *w, const struct key *k,
                                 const yaml_node_t *v, const char *name,
                                 char **out)
{
	const char *s = (const char *)v->data.scalar.value;
	size_t i;

	if (s[0] == '\0')
		return EM_OK;
	for (i = 0; k->choices != NULL && k->choices[i] != NULL; i++)
		if (strcmp(s, k->choices[i]) == 0)
			break;
	if (k->choices != NULL && k->choices[i] == NULL)
		return bad_value(w, v, name, "one of the values documented");
	free(*out);
	*out = strdup(s);
	return *out ? EM_OK : nomem(w->err);
}

static enum em_status set_duration(const struct walk *w, const struct key *k,
                                   const yaml_node_t *v, const char *name,
                                   unsigned *out)
{
	const char *s = (const char *)v->data.scalar.value;
	unsigned long long ms;

	if (!em_parse_duration_ms(s, &ms) || ms == 0)
		return bad_value(w, v, name, "a duration above zero, such as "
		                 "90s, 1m30s, 500ms or 2h (a bare number is "
		                 "seconds)");
	if (k->kind == K_DUR_S && ms % 1000 != 0)
		return bad_value(w, v, name, "a whole number of seconds");
	if (k->kind == K_DUR_S)
		ms /= 1000;
	if (ms > UINT_MAX)
		return at_error(w->err, EM_ERANGE, w->path, node_line(v),
		                "'%s' is too long a duration", name);
	*out = (unsigned)ms;
	return EM_OK;
}

/* Reads a secret (a password) from a file; the secret itself never goes
 * into a message. */
char *em_config_read_secret(const char *path, size_t max,
                            struct em_error *err)
{
	struct sbuf buf = { NULL, 0, 0 };

	if (read_file(path, max, &buf, err) != EM_OK) {
		if (buf.p != NULL)
			explicit_bzero(buf.p, buf.n);
		free(buf.p);
		return NULL;
	}
	if (buf.n > 0 && buf.p[buf.n - 1] == '\n')
		buf.p[--buf.n] = '\0';
	if (buf.n > 0 && buf.p[buf.n - 1] == '\r')
		buf.p[--buf.n] = '\0';
	return buf.p;
}

void em_config_drop_secret(char **slot)
{
	if (*slot != NULL) {
		explicit_bzero(*slot, strlen(*slot));
		free(*slot);
		*slot = NULL;
	}
}

enum em_status em_config_set_secret(char **slot, const char *path,
                                    size_t max, struct em_error *err)
{
	char *secret = em_config_read_secret(path, max, err);

	if (secret == NULL)
		return err->status;
	em_config_drop_secret(slot);
	*slot = secret;
	return EM_OK;
}

static enum em_status set_secret_file(const struct walk *w,
                                      const yaml_node_t *v, const char *name,
                                      char **out)
{
	const char *file = (const char *)v->data.scalar.value;
	struct em_error ferr;

	if (em_config_set_secret(out, file, 64 * 1024, &ferr) != EM_OK)
		return at_error(w->err, ferr.status, w->path, node_line(v),
		                "'%s': %s", name, ferr.msg);
	return EM_OK;
}

static enum em_status set_scalar(const struct walk *w, const struct key *k,
                                 const yaml_node_t *v, const char *name,
                                 void *base)
{
	const char *s = (const char *)v->data.scalar.value, *why;

	switch (k->kind) {
	case K_STR:
		return set_string(w, k, v, name, FIELD(base, k, char *));
	case K_BOOL:
		if (!parse_bool(s, w->yaml11_bools, FIELD(base, k, bool)))
			return bad_value(w, v, name, "true or false");
		return EM_OK;
	case K_UINT:
		if (!parse_uint(s, FIELD(base, k, unsigned)) ||
		    *FIELD(base, k, unsigned) < k->min)
			return at_error(w->err, EM_EFORMAT, w->path,
			                node_line(v), "'%s' must be a whole "
			                "number from %u to %u, not '%.*s'", name,
			                k->min, UINT_MAX, QUOTE_MAX, s);
		return EM_OK;
	case K_DUR_MS:
	case K_DUR_S:
		return set_duration(w, k, v, name, FIELD(base, k, unsigned));
	case K_HOSTPORT:
		if (!hostport_ok(s, &why))
			return at_error(w->err, EM_EFORMAT, w->path,
			                node_line(v), "'%s' must be host:port, "
			                "not '%.*s': %s", name, QUOTE_MAX, s, why);
		return set_string(w, k, v, name, FIELD(base, k, char *));
	case K_LOG_FORMAT:
		if (!parse_log_format(s, FIELD(base, k, enum em_log_format)))
			return bad_value(w, v, name, "json or text");
		return EM_OK;
	case K_LOG_LEVEL:
		if (!parse_log_level(s, FIELD(base, k, enum em_log_level)))
			return bad_value(w, v, name,
			                 "debug, info, warn or error");
		return EM_OK;
	case K_SECRET_FILE:
		return set_secret_file(w, v, name, FIELD(base, k, char *));
	case K_URLS:
	case K_MAP:
		break;
	}
	return EM_OK;
}

static enum em_status walk_mapping(const struct walk *w, const yaml_node_t *map,
                                   const struct table *t, void *base,
                                   const char *prefix);

static enum em_status set_value(const struct walk *w, const struct key *k,
                                const yaml_node_t *v, const char *name,
                                void *base)
{
	enum em_status st;

	if (is_null(v))
		return EM_OK;
	if (k->kind == K_MAP)
		return walk_mapping(w, v, k->sub, FIELD(base, k, char), name);
	if (k->kind == K_URLS)
		return set_urls(w, v, name, FIELD(base, k, struct em_strv));
	st = want_scalar(w, v, name, "a single value");
	if (st != EM_OK)
		return st;
	return set_scalar(w, k, v, name, base);
}

static bool is_set(const struct key *k, void *base)
{
	switch (k->kind) {
	case K_STR:
	case K_HOSTPORT:
	case K_SECRET_FILE:
		return *FIELD(base, k, char *) != NULL;
	case K_URLS:
		return FIELD(base, k, struct em_strv)->n > 0;
	default:
		return true;
	}
}

static enum em_status unknown_key(const struct walk *w, const struct table *t,
                                  const yaml_node_t *key, const char *prefix)
{
	char known[EM_ERROR_MSG_MAX] = "";
	size_t i, len = 0;

	for (i = 0; i < t->n && len < sizeof(known); i++)
		len += (size_t)snprintf(known + len, sizeof(known) - len,
		                        "%s%s", i ? ", " : "", t->keys[i].name);
	return em_error_set(w->err, EM_EUSAGE,
	                    "unknown key '%s%s%.*s' at %s:%u; known keys%s%s: %s",
	                    prefix, *prefix ? "." : "", QUOTE_MAX,
	                    (const char *)key->data.scalar.value, w->path,
	                    node_line(key), *prefix ? " in " : "", prefix,
	                    known);
}

static const struct key *find_key(const struct table *t, const char *name,
                                  size_t *index)
{
	for (*index = 0; *index < t->n; (*index)++)
		if (strcmp(t->keys[*index].name, name) == 0)
			return &t->keys[*index];
	return NULL;
}

static enum em_status check_required(const struct walk *w,
                                     const yaml_node_t *map,
                                     const struct table *t, void *base,
                                     const unsigned *seen, const char *prefix)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (!t->keys[i].required || is_set(&t->keys[i], base))
			continue;
		if (seen[i])
			return at_error(w->err, EM_EUSAGE, w->path, seen[i],
			                "required key '%s%s%s' has no value",
			                prefix, *prefix ? "." : "",
			                t->keys[i].name);
		return at_error(w->err, EM_EUSAGE, w->path, node_line(map),
		                "missing required key '%s%s%s' in the mapping",
		                prefix, *prefix ? "." : "", t->keys[i].name);
	}
	return EM_OK;
}

static enum em_status walk_pair(const struct walk *w, const yaml_node_pair_t *pr,
                                const struct table *t, void *base,
                                const char *prefix, unsigned *seen)
{
	const yaml_node_t *key = doc_node(w, pr->key);
	const yaml_node_t *val = doc_node(w, pr->value);
	const struct key *k;
	char name[128];
	size_t i;

	if (key->type != YAML_SCALAR_NODE)
		return at_error(w->err, EM_EFORMAT, w->path, node_line(key),
		                "a key must be a plain name, not %s",
		                node_kind(key));
	k = find_key(t, (const char *)key->data.scalar.value, &i);
	if (k == NULL)
		return t->keep_unknown ? EM_OK : unknown_key(w, t, key, prefix);
	snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "",
	         k->name);
	if (seen[i])
		return at_error(w->err, EM_EUSAGE, w->path, node_line(key),
		                "duplicate key '%s' (first at line %u)", name,
		                seen[i]);
	seen[i] = node_line(key);
	return set_value(w, k, val, name, base);
}

static enum em_status walk_mapping(const struct walk *w, const yaml_node_t *map,
                                   const struct table *t, void *base,
                                   const char *prefix)
{
	unsigned seen[MAX_TABLE_KEYS] = { 0 };
	const yaml_node_pair_t *pr;
	enum em_status st;

	if (map->type != YAML_MAPPING_NODE && !is_null(map))
		return at_error(w->err, EM_EFORMAT, w->path, node_line(map),
		                "%s%s%s must be a mapping of keys, not %s",
		                *prefix ? "'" : "the top level", prefix,
		                *prefix ? "'" : "", node_kind(map));
	if (map->type == YAML_MAPPING_NODE) {
		for (pr = map->data.mapping.pairs.start;
		     pr < map->data.mapping.pairs.top; pr++) {
			st = walk_pair(w, pr, t, base, prefix, seen);
			if (st != EM_OK)
				return st;
		}
	}
	st = check_required(w, map, t, base, seen, prefix);
	if (st == EM_OK && t->check != NULL)
		st = t->check(w, map, base);
	return st;
}

/* ---- the tables ------------------------------------------------------- */

#define KEY(n, k, type, field) \
	{ .name = (n), .kind = (k), .off = offsetof(type, field) }

static const char *const cluster_states[] = { "new", "existing", NULL };

/* Not checked in pairs here: that is etcd's own business. */
static const struct key etcd_tls_keys[] = {
	KEY("cert-file", K_STR, struct em_tls_files, cert_file),
	KEY("key-file", K_STR, struct em_tls_files, key_file),
	KEY("trusted-ca-file", K_STR, struct em_tls_files, ca_file),
	KEY("client-cert-auth", K_BOOL, struct em_tls_files, client_cert_auth),
	KEY("auto-tls", K_BOOL, struct em_tls_files, auto_tls),
};
static const struct table etcd_tls_table = TABLE(etcd_tls_keys, true, NULL);

static enum em_status check_etcd(const struct walk *w, const yaml_node_t *map,
                                 void *base);

static const struct key etcd_keys[] = {
	{ .name = "name", .kind = K_STR, .required = true,
	  .off = offsetof(struct em_etcd_config, name) },
	{ .name = "data-dir", .kind = K_STR, .required = true,
	  .off = offsetof(struct em_etcd_config, data_dir) },
	KEY("wal-dir", K_STR, struct em_etcd_config, wal_dir),
	KEY("initial-cluster", K_STR, struct em_etcd_config, initial_cluster),
	{ .name = "initial-cluster-state", .kind = K_STR,
	  .choices = cluster_states,
	  .off = offsetof(struct em_etcd_config, initial_cluster_state) },
	KEY("initial-cluster-token", K_STR, struct em_etcd_config,
	    initial_cluster_token),
	KEY("listen-client-urls", K_URLS, struct em_etcd_config,
	    listen_client_urls),
	KEY("advertise-client-urls", K_URLS, struct em_etcd_config,
	    advertise_client_urls),
	KEY("listen-peer-urls", K_URLS, struct em_etcd_config,
	    listen_peer_urls),
	KEY("initial-advertise-peer-urls", K_URLS, struct em_etcd_config,
	    initial_advertise_peer_urls),
	{ .name = "client-transport-security", .kind = K_MAP,
	  .sub = &etcd_tls_table,
	  .off = offsetof(struct em_etcd_config, client_tls) },
	{ .name = "peer-transport-security", .kind = K_MAP,
	  .sub = &etcd_tls_table,
	  .off = offsetof(struct em_etcd_config, peer_tls) },
	KEY("enable-grpc-gateway", K_BOOL, struct em_etcd_config,
	    grpc_gateway),
};
static const struct table etcd_table = TABLE(etcd_keys, true, check_etcd);

static enum em_status check_tls(const struct walk *w, const yaml_node_t *map,
                                void *base);
static enum em_status check_auth(const struct walk *w, const yaml_node_t *map,
                                 void *base);

static const struct key log_keys[] = {
	KEY("format", K_LOG_FORMAT, struct em_config, log_format),
	KEY("level", K_LOG_LEVEL, struct em_config, log_level),
};
static const struct table log_table = TABLE(log_keys, false, NULL);

static const struct key tls_keys[] = {
	KEY("ca-file", K_STR, struct em_tls_files, ca_file),
	KEY("cert-file", K_STR, struct em_tls_files, cert_file),
	KEY("key-file", K_STR, struct em_tls_files, key_file),
};
static const struct table tls_table = TABLE(tls_keys, false, check_tls);

static const struct key auth_keys[] = {
	KEY("username", K_STR, struct em_config, username),
	KEY("password-file", K_SECRET_FILE, struct em_config, password),
};
static const struct table auth_table = TABLE(auth_keys, false, check_auth);

static const struct key heal_keys[] = {
	KEY("enabled", K_BOOL, struct em_heal_config, enabled),
	{ .name = "quarantine-keep", .kind = K_UINT, .min = 1,
	  .off = offsetof(struct em_heal_config, quarantine_keep) },
	KEY("quarantine-dir", K_STR, struct em_heal_config, quarantine_dir),
	KEY("journal", K_STR, struct em_heal_config, journal),
	KEY("lock-key", K_STR, struct em_heal_config, lock_key),
	KEY("lock-ttl", K_DUR_S, struct em_heal_config, lock_ttl_s),
	KEY("call-timeout", K_DUR_MS, struct em_heal_config, call_timeout_ms),
	KEY("retry-timeout", K_DUR_S, struct em_heal_config, retry_timeout_s),
	KEY("promote-timeout", K_DUR_S, struct em_heal_config,
	    promote_timeout_s),
};
static const struct table heal_table = TABLE(heal_keys, false, NULL);

static enum em_status check_server(const struct walk *w, const yaml_node_t *map,
                                   void *base);

static const struct key server_keys[] = {
	KEY("token-file", K_STR, struct em_server_config, token_file),
	KEY("cert-file", K_STR, struct em_server_config, cert_file),
	KEY("key-file", K_STR, struct em_server_config, key_file),
};
static const struct table server_table = TABLE(server_keys, false,
                                                check_server);

static const struct key watch_keys[] = {
	KEY("interval", K_DUR_S, struct em_watch_config, interval_s),
	KEY("hash-check", K_BOOL, struct em_watch_config, hash_check),
	KEY("hash-check-interval", K_DUR_S, struct em_watch_config,
	    hash_check_interval_s),
	{ .name = "hash-max-keys", .kind = K_UINT, .min = 1,
	  .off = offsetof(struct em_watch_config, hash_max_keys) },
};
static const struct table watch_table = TABLE(watch_keys, false, NULL);

static enum em_status check_s3(const struct walk *w, const yaml_node_t *map,
                               void *base);
static enum em_status check_backup(const struct walk *w,
                                   const yaml_node_t *map, void *base);

static const char *const url_styles[] = { "path", "virtual-host", NULL };
static const char *const compressions[] = { "zstd", "none", NULL };

static const struct key s3_keys[] = {
	KEY("endpoint", K_STR, struct em_s3_config, endpoint),
	KEY("region", K_STR, struct em_s3_config, region),
	KEY("credentials-file", K_STR, struct em_s3_config, credentials_file),
	KEY("profile", K_STR, struct em_s3_config, profile),
	{ .name = "url-style", .kind = K_STR, .choices = url_styles,
	  .off = offsetof(struct em_s3_config, url_style) },
	{ .name = "part-size-mb", .kind = K_UINT, .min = 5,
	  .off = offsetof(struct em_s3_config, part_size_mb) },
	KEY("ca-file", K_STR, struct em_s3_config, ca_file),
};
static const struct table s3_table = TABLE(s3_keys, false, check_s3);

static const struct key backup_keys[] = {
	KEY("enabled", K_BOOL, struct em_backup_config, enabled),
	KEY("store", K_STR, struct em_backup_config, store),
	KEY("interval", K_DUR_S, struct em_backup_config, interval_s),
	KEY("cron", K_STR, struct em_backup_config, cron),
	{ .name = "compression", .kind = K_STR, .choices = compressions,
	  .off = offsetof(struct em_backup_config, compression) },
	{ .name = "compression-level", .kind = K_UINT, .min = 1,
	  .off = offsetof(struct em_backup_config, compression_level) },
	KEY("timeout", K_DUR_S, struct em_backup_config, timeout_s),
	{ .name = "keep-last", .kind = K_UINT, .min = 1,
	  .off = offsetof(struct em_backup_config, keep_last) },
	KEY("keep-daily-days", K_UINT, struct em_backup_config,
	    keep_daily_days),
	KEY("restore-on-init", K_BOOL, struct em_backup_config,
	    restore_on_init),
	KEY("lock-key", K_STR, struct em_backup_config, lock_key),
	KEY("spool-dir", K_STR, struct em_backup_config, spool_dir),
	{ .name = "s3", .kind = K_MAP, .sub = &s3_table,
	  .off = offsetof(struct em_backup_config, s3) },
};
static const struct table backup_table = TABLE(backup_keys, false,
                                                check_backup);

static const struct key sidecar_keys[] = {
	{ .name = "etcd-config", .kind = K_STR, .required = true,
	  .off = offsetof(struct em_config, etcd_config_path) },
	{ .name = "endpoints", .kind = K_URLS, .required = true,
	  .off = offsetof(struct em_config, endpoints) },
	KEY("listen", K_HOSTPORT, struct em_config, listen),
	{ .name = "log", .kind = K_MAP, .sub = &log_table, .off = 0 },
	{ .name = "tls", .kind = K_MAP, .sub = &tls_table,
	  .off = offsetof(struct em_config, tls) },
	{ .name = "auth", .kind = K_MAP, .sub = &auth_table, .off = 0 },
	{ .name = "heal", .kind = K_MAP, .sub = &heal_table,
	  .off = offsetof(struct em_config, heal) },
	{ .name = "server", .kind = K_MAP, .sub = &server_table,
	  .off = offsetof(struct em_config, server) },
	{ .name = "watch", .kind = K_MAP, .sub = &watch_table,
	  .off = offsetof(struct em_config, watch) },	{ .name = "backup", .kind = K_MAP, .sub = &backup_table,
	  .off = offsetof(struct em_config, backup) },
};
static const struct table sidecar_table = TABLE(sidecar_keys, false, NULL);

_Static_assert(sizeof(etcd_keys) / sizeof(etcd_keys[0]) <= MAX_TABLE_KEYS,
               "etcd_keys outgrew MAX_TABLE_KEYS");
_Static_assert(sizeof(heal_keys) / sizeof(heal_keys[0]) <= MAX_TABLE_KEYS,
               "heal_keys outgrew MAX_TABLE_KEYS");
_Static_assert(sizeof(backup_keys) / sizeof(backup_keys[0]) <= MAX_TABLE_KEYS,
               "backup_keys outgrew MAX_TABLE_KEYS");

/* The line of key name in map, or the map's own line. */
static unsigned key_line(const struct walk *w, const yaml_node_t *map,
                         const char *name)
{
	const yaml_node_pair_t *pr;

	if (map->type != YAML_MAPPING_NODE)
		return node_line(map);
	for (pr = map->data.mapping.pairs.start;
	     pr < map->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = doc_node(w, pr->key);

		if (k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, name) == 0)
			return node_line(k);
	}
	return node_line(map);
}

static enum em_status check_tls(const struct walk *w, const yaml_node_t *map,
                                void *base)
{
	const struct em_tls_files *t = base;

	if ((t->cert_file == NULL) == (t->key_file == NULL))
		return EM_OK;
	return at_error(w->err, EM_EUSAGE, w->path, node_line(map),
	                "tls.cert-file and tls.key-file go together: give "
	                "both or neither");
}

static enum em_status check_server(const struct walk *w, const yaml_node_t *map,
                                   void *base)
{
	const struct em_server_config *sv = base;

	if ((sv->cert_file == NULL) == (sv->key_file == NULL))
		return EM_OK;
	return at_error(w->err, EM_EUSAGE, w->path, node_line(map),
	                "server.cert-file and server.key-file go together: "
	                "give both or neither");
}

static enum em_status check_auth(const struct walk *w, const yaml_node_t *map,
                                 void *base)
{
	const struct em_config *cfg = base;

	if ((cfg->username == NULL) == (cfg->password == NULL))
		return EM_OK;
	return at_error(w->err, EM_EUSAGE, w->path, node_line(map),
	                "auth.username and auth.password-file go together: "
	                "give both or neither");
}

static bool has_key(const struct walk *w, const yaml_node_t *map,
                    const char *name)
{
	const yaml_node_pair_t *pr;

	for (pr = map->data.mapping.pairs.start;
	     map->type == YAML_MAPPING_NODE && pr < map->data.mapping.pairs.top;
	     pr++) {
		const yaml_node_t *k = doc_node(w, pr->key);

		if (k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, name) == 0)
			return !is_null(doc_node(w, pr->value));
	}
	return false;
}

static enum em_status check_s3(const struct walk *w, const yaml_node_t *map,
                               void *base)
{
	const struct em_s3_config *s3 = base;
	const char *why;

	if (s3->endpoint == NULL || url_ok(s3->endpoint, &why))
		return EM_OK;
	/* An endpoint without a port is fine: the scheme's own. */
	if (strncmp(s3->endpoint, "http://", 7) == 0 ||
	    strncmp(s3->endpoint, "https://", 8) == 0) {
		const char *host = strstr(s3->endpoint, "//") + 2;

		if (*host != '\0' && host[strcspn(host, "/?#@ ")] == '\0')
			return EM_OK;
	}
	return at_error(w->err, EM_EFORMAT, w->path,
	                key_line(w, map, "endpoint"), "'backup.s3.endpoint' "
	                "must be http(s)://HOST[:PORT], not '%.*s'", QUOTE_MAX,
	                s3->endpoint);
}

/* What backup/store.c accepts: file:///ABSOLUTE/DIR or s3://BUCKET[/P]. */
static bool store_url_ok(const char *u)
{
	if (strncmp(u, "file://", 7) == 0)
		return u[7] == '/' && u[8] != '\0';
	if (strncmp(u, "s3://", 5) == 0)
		return u[5] != '\0' && u[5] != '/';
	return false;
}

static enum em_status check_backup(const struct walk *w,
                                   const yaml_node_t *map, void *base)
{
	const struct em_backup_config *b = base;
	struct em_schedule sched;
	struct em_error cerr;

	if (b->store != NULL && !store_url_ok(b->store))
		return at_error(w->err, EM_EFORMAT, w->path,
		                key_line(w, map, "store"), "'backup.store' must "
		                "be file:///DIR (an absolute path) or "
		                "s3://BUCKET[/PREFIX], not '%.*s'", QUOTE_MAX,
		                b->store);
	if (b->enabled && b->store == NULL)
		return at_error(w->err, EM_EUSAGE, w->path,
		                key_line(w, map, "enabled"), "'backup.enabled' "
		                "needs 'backup.store'");
	if (b->compression_level > 19)
		return at_error(w->err, EM_ERANGE, w->path,
		                key_line(w, map, "compression-level"),
		                "'backup.compression-level' must be 1 to 19");
	if (b->cron == NULL)
		return EM_OK;
	if (has_key(w, map, "interval"))
		return at_error(w->err, EM_EUSAGE, w->path,
		                key_line(w, map, "cron"), "give 'backup.cron' "
		                "or 'backup.interval', not both");
	if (em_schedule_cron(&sched, b->cron, &cerr) != EM_OK)
		return at_error(w->err, EM_EFORMAT, w->path,
		                key_line(w, map, "cron"), "'backup.cron': %s",
		                cerr.msg);
	return EM_OK;
}

/* The quarantine dir defaults to the data dir's parent, and "/" has
 * none. */
static enum em_status check_etcd(const struct walk *w, const yaml_node_t *map,
                                 void *base)
{
	const struct em_etcd_config *ec = base;

	if (strspn(ec->data_dir, "/") != strlen(ec->data_dir))
		return EM_OK;
	return at_error(w->err, EM_EUSAGE, w->path,
	                key_line(w, map, "data-dir"),
	                "data-dir must not be the root directory");
}

/* An empty file is an empty mapping (then a required key is missing). */
static enum em_status walk_root(const struct walk *w, const struct table *t,
                                void *base)
{
	const yaml_node_t *root = yaml_document_get_root_node(w->doc);
	yaml_node_t empty;

	if (root == NULL) {
		memset(&empty, 0, sizeof(empty));
		empty.type = YAML_SCALAR_NODE;
		empty.data.scalar.value = (yaml_char_t *)"";
		empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
		root = &empty;
	}
	return walk_mapping(w, root, t, base, "");
}

/* ---- loading ---------------------------------------------------------- */

static enum em_status default_str(char **field, const char *value,
                                  struct em_error *err)
{
	if (*field != NULL)
		return EM_OK;
	*field = strdup(value);
	return *field ? EM_OK : nomem(err);
}

static enum em_status default_urls(struct em_strv *sv, const char *url,
                                   struct em_error *err)
{
	if (sv->n > 0)
		return EM_OK;
	return strv_add(sv, url, strlen(url)) ? EM_OK : nomem(err);
}

/* What etcd 3.4 itself uses when its file leaves these out. */
static enum em_status etcd_defaults(struct em_etcd_config *ec,
                                    struct em_error *err)
{
	enum em_status st;

	st = default_str(&ec->initial_cluster_state, "new", err);
	if (st == EM_OK)
		st = default_str(&ec->initial_cluster_token, "etcd-cluster",
		                 err);
	if (st == EM_OK)
		st = default_urls(&ec->listen_client_urls,
		                  "http://localhost:2379", err);
	if (st == EM_OK)
		st = default_urls(&ec->advertise_client_urls,
		                  "http://localhost:2379", err);
	if (st == EM_OK)
		st = default_urls(&ec->listen_peer_urls,
		                  "http://localhost:2380", err);
	if (st == EM_OK)
		st = default_urls(&ec->initial_advertise_peer_urls,
		                  "http://localhost:2380", err);
	return st;
}

enum em_status em_etcd_config_load(const char *path,
                                   struct em_etcd_config *ec,
                                   struct em_error *err)
{
	struct walk w = { path, NULL, true, err };
	yaml_document_t *doc;
	bool have_doc = false;
	enum em_status st;

	memset(ec, 0, sizeof(*ec));
	ec->path = strdup(path);
	doc = calloc(1, sizeof(*doc));
	if (ec->path == NULL || doc == NULL) {
		free(doc);
		st = nomem(err);
		goto cleanup;
	}
	st = load_document(path, doc, &have_doc, err);
	if (have_doc)
		ec->doc = doc;
	else
		free(doc);
	if (st != EM_OK)
		goto cleanup;
	w.doc = doc;
	st = walk_root(&w, &etcd_table, ec);
	if (st == EM_OK)
		st = etcd_defaults(ec, err);
cleanup:
	if (st != EM_OK)
		em_etcd_config_free(ec);
	return st;
}

static void tls_free(struct em_tls_files *t)
{
	free(t->ca_file);
	free(t->cert_file);
	free(t->key_file);
}

void em_etcd_config_free(struct em_etcd_config *ec)
{
	if (ec == NULL)
		return;
	free(ec->path);
	free(ec->name);
	free(ec->data_dir);
	free(ec->wal_dir);
	free(ec->initial_cluster);
	free(ec->initial_cluster_state);
	free(ec->initial_cluster_token);
	em_strv_free(&ec->listen_client_urls);
	em_strv_free(&ec->advertise_client_urls);
	em_strv_free(&ec->listen_peer_urls);
	em_strv_free(&ec->initial_advertise_peer_urls);
	tls_free(&ec->client_tls);
	tls_free(&ec->peer_tls);
	if (ec->doc != NULL) {
		yaml_document_delete(ec->doc);
		free(ec->doc);
	}
	memset(ec, 0, sizeof(*ec));
}

static void config_defaults(struct em_config *cfg)
{
	cfg->log_format = EM_LOG_JSON;
	cfg->log_level = EM_LOG_INFO;
	cfg->heal.enabled = true;
	cfg->heal.quarantine_keep = 3;
	cfg->heal.lock_ttl_s = 60;
	cfg->heal.call_timeout_ms = 5000;
	cfg->heal.retry_timeout_s = 120;
	cfg->heal.promote_timeout_s = 900;
	cfg->watch.interval_s = 10;
	cfg->watch.hash_check_interval_s = 3600;
	cfg->watch.hash_max_keys = 1000000;
	cfg->backup.interval_s = 3600;
	cfg->backup.compression_level = 3;
	cfg->backup.timeout_s = 3600;
	cfg->backup.keep_last = 24;
	cfg->backup.keep_daily_days = 7;
	cfg->backup.restore_on_init = true;
	cfg->backup.s3.part_size_mb = 64;
}

/* etcd-config is relative to the sidecar file's directory, so that the two
 * files can sit side by side whatever the working directory. */
static enum em_status resolve_etcd_config(struct em_config *cfg,
                                          struct em_error *err)
{
	const char *slash = strrchr(cfg->path, '/');
	size_t dirlen;
	char *full;

	if (cfg->etcd_config_path[0] == '/' || slash == NULL)
		return EM_OK;
	dirlen = (size_t)(slash - cfg->path) + 1;
	full = malloc(dirlen + strlen(cfg->etcd_config_path) + 1);
	if (full == NULL)
		return nomem(err);
	memcpy(full, cfg->path, dirlen);
	strcpy(full + dirlen, cfg->etcd_config_path);
	free(cfg->etcd_config_path);
	cfg->etcd_config_path = full;
	return EM_OK;
}

/* The journal beside the data dir, quarantine in its parent: both on the
 * data dir's filesystem, so that moving a broken data dir aside is a
 * rename and never a copy. */
static enum em_status data_dir_defaults(struct em_config *cfg,
                                        struct em_error *err)
{
	const char *dd = cfg->etcd.data_dir;
	size_t n = strlen(dd);
	const char *slash;

	while (n > 1 && dd[n - 1] == '/')
		n--;
	if (cfg->heal.journal == NULL) {
		cfg->heal.journal = malloc(n + sizeof(".etcd-medic.journal"));
		if (cfg->heal.journal == NULL)
			return nomem(err);
		memcpy(cfg->heal.journal, dd, n);
		strcpy(cfg->heal.journal + n, ".etcd-medic.journal");
	}
	if (cfg->heal.quarantine_dir != NULL)
		return EM_OK;
	slash = memrchr(dd, '/', n);
	if (slash == NULL)
		cfg->heal.quarantine_dir = strdup(".");
	else if (slash == dd)
		cfg->heal.quarantine_dir = strdup("/");
	else
		cfg->heal.quarantine_dir = strndup(dd, (size_t)(slash - dd));
	return cfg->heal.quarantine_dir ? EM_OK : nomem(err);
}

/* The spool (where a snapshot is written and checked before it goes to
 * its store) sits beside the data dir by default, like the quarantine:
 * the data volume is the one sized for a db. */
static enum em_status backup_defaults(struct em_backup_config *b,
                                      const char *data_parent,
                                      struct em_error *err)
{
	enum em_status st;

	st = default_str(&b->compression, "zstd", err);
	if (st == EM_OK)
		st = default_str(&b->lock_key, "/etcd-medic/backup-lock", err);
	if (st == EM_OK)
		st = default_str(&b->spool_dir, data_parent, err);
	if (st == EM_OK)
		st = default_str(&b->s3.profile, "default", err);
	return st;
}

static enum em_status read_sidecar(const char *path, struct em_config *cfg,
                                   struct em_error *err)
{
	struct walk w = { path, NULL, false, err };
	yaml_document_t doc;
	bool have_doc = false;
	enum em_status st;

	st = load_document(path, &doc, &have_doc, err);
	if (st == EM_OK) {
		w.doc = &doc;
		st = walk_root(&w, &sidecar_table, cfg);
	}
	if (have_doc)
		yaml_document_delete(&doc);
	return st;
}

enum em_status em_config_load(const char *path, struct em_config *cfg,
                              struct em_error *err)
{
	enum em_status st;

	memset(cfg, 0, sizeof(*cfg));
	config_defaults(cfg);
	cfg->path = strdup(path);
	if (cfg->path == NULL) {
		st = nomem(err);
		goto cleanup;
	}
	st = read_sidecar(path, cfg, err);
	if (st == EM_OK)
		st = resolve_etcd_config(cfg, err);
	if (st == EM_OK)
		st = em_etcd_config_load(cfg->etcd_config_path, &cfg->etcd, err);
	if (st == EM_OK)
		st = default_str(&cfg->listen, "127.0.0.1:8080", err);
	if (st == EM_OK)
		st = default_str(&cfg->heal.lock_key, "/etcd-medic/heal-lock",
		                 err);
	if (st == EM_OK)
		st = data_dir_defaults(cfg, err);
	if (st == EM_OK)
		st = backup_defaults(&cfg->backup, cfg->heal.quarantine_dir,
		                     err);
cleanup:
	if (st != EM_OK)
		em_config_free(cfg);
	return st;
}

void em_config_free(struct em_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->etcd_config_path);
	em_etcd_config_free(&cfg->etcd);
	em_strv_free(&cfg->endpoints);
	free(cfg->listen);
	tls_free(&cfg->tls);
	free(cfg->username);
	if (cfg->password != NULL) {
		explicit_bzero(cfg->password, strlen(cfg->password));
		free(cfg->password);
	}
	free(cfg->heal.quarantine_dir);
	free(cfg->heal.journal);
	free(cfg->heal.lock_key);
	free(cfg->server.token_file);
	free(cfg->server.cert_file);
	free(cfg->server.key_file);
	free(cfg->backup.store);
	free(cfg->backup.cron);
	free(cfg->backup.compression);
	free(cfg->backup.lock_key);
	free(cfg->backup.spool_dir);
	free(cfg->backup.s3.endpoint);
	free(cfg->backup.s3.region);
	free(cfg->backup.s3.credentials_file);
	free(cfg->backup.s3.profile);
	free(cfg->backup.s3.url_style);
	free(cfg->backup.s3.ca_file);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- rendering etcd's file --------------------------------------------- */

/* etcd reads these as one comma-separated string: a YAML list, which we
 * accept, would make etcd fail to start. */
static const char *const comma_keys[] = {
	"listen-client-urls", "advertise-client-urls", "listen-peer-urls",
	"initial-advertise-peer-urls", "listen-metrics-urls", NULL,
};

static int add_shell(yaml_document_t *dst, const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		if (node->data.scalar.length > INT_MAX)
			return 0;
		return yaml_document_add_scalar(dst, node->tag,
		                                node->data.scalar.value,
		                                (int)node->data.scalar.length,
		                                node->data.scalar.style);
	case YAML_SEQUENCE_NODE:
		return yaml_document_add_sequence(dst, node->tag,
		                                  node->data.sequence.style);
	case YAML_MAPPING_NODE:
		return yaml_document_add_mapping(dst, node->tag,
		                                 node->data.mapping.style);
	default:
		return 0;
	}
}

static bool add_children(yaml_document_t *dst, int index,
                         const yaml_node_t *node)
{
	const yaml_node_item_t *it;
	const yaml_node_pair_t *pr;

	if (node->type == YAML_SEQUENCE_NODE)
		for (it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++)
			if (!yaml_document_append_sequence_item(dst, index, *it))
				return false;
	if (node->type == YAML_MAPPING_NODE)
		for (pr = node->data.mapping.pairs.start;
		     pr < node->data.mapping.pairs.top; pr++)
			if (!yaml_document_append_mapping_pair(dst, index,
			                                       pr->key, pr->value))
				return false;
	return true;
}

/* Copies src node by node, so that every node keeps its index (and the
 * aliases their targets): the emitter consumes what it emits. */
static bool copy_document(const yaml_document_t *src, yaml_document_t *dst)
{
	const yaml_node_t *node;
	int index;

	for (node = src->nodes.start; node < src->nodes.top; node++) {
		index = (int)(node - src->nodes.start) + 1;
		if (add_shell(dst, node) != index)
			return false;
	}
	for (node = src->nodes.start; node < src->nodes.top; node++) {
		index = (int)(node - src->nodes.start) + 1;
		if (!add_children(dst, index, node))
			return false;
	}
	return true;
}

static bool key_is(yaml_document_t *doc, int index, const char *name)
{
	const yaml_node_t *k = yaml_document_get_node(doc, index);

	return k != NULL && k->type == YAML_SCALAR_NODE &&
	       strcmp((const char *)k->data.scalar.value, name) == 0;
}

/* Points top-level key name at a new plain scalar value, adding the key
 * when the file does not have it.  Node 1 is the root mapping. */
static bool set_top(yaml_document_t *doc, const char *name, const char *value)
{
	int v = yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)value,
	                                 -1, YAML_PLAIN_SCALAR_STYLE);
	yaml_node_t *root = yaml_document_get_node(doc, 1);
	yaml_node_pair_t *pr;
	bool found = false;
	int k;

	if (v == 0)
		return false;
	for (pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		if (key_is(doc, pr->key, name)) {
			pr->value = v;
			found = true;
		}
	}
	if (found)
		return true;
	k = yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)name, -1,
	                             YAML_PLAIN_SCALAR_STYLE);
	return k != 0 && yaml_document_append_mapping_pair(doc, 1, k, v);
}

/* "a,b,c" from a list of scalars; NULL if an item is not a scalar. */
static char *join_items(yaml_document_t *doc, const yaml_node_t *seq)
{
	struct sbuf b = { NULL, 0, 0 };
	const yaml_node_item_t *it;

	if (!sbuf_add(&b, "", 0))
		return NULL;
	for (it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		const yaml_node_t *item = yaml_document_get_node(doc, *it);

		if (item->type != YAML_SCALAR_NODE ||
		    (b.n > 0 && !sbuf_add(&b, ",", 1)) ||
		    !sbuf_add(&b, (const char *)item->data.scalar.value,
		              item->data.scalar.length)) {
			free(b.p);
			return NULL;
		}
	}
	return b.p;
}

static bool is_comma_key(yaml_document_t *doc, int index)
{
	size_t i;

	for (i = 0; comma_keys[i] != NULL; i++)
		if (key_is(doc, index, comma_keys[i]))
			return true;
	return false;
}

static bool join_lists(yaml_document_t *doc)
{
	size_t i;

	/* Adding a node may move the nodes array: fetch the root anew. */
	for (i = 0;; i++) {
		yaml_node_t *root = yaml_document_get_node(doc, 1);
		yaml_node_pair_t *pr = root->data.mapping.pairs.start + i;
		const yaml_node_t *val;
		char *joined;
		int v;

		if (pr >= root->data.mapping.pairs.top)
			return true;
		val = yaml_document_get_node(doc, pr->value);
		if (val->type != YAML_SEQUENCE_NODE ||
		    !is_comma_key(doc, pr->key))
			continue;
		joined = join_items(doc, val);
		if (joined == NULL)
			continue;
		v = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)joined,
		                             -1, YAML_PLAIN_SCALAR_STYLE);
		free(joined);
		if (v == 0)
			return false;
		root = yaml_document_get_node(doc, 1);
		root->data.mapping.pairs.start[i].value = v;
	}
}

static int write_out(void *data, unsigned char *buffer, size_t size)
{
	return sbuf_add(data, (const char *)buffer, size);
}

/* Emits doc, which the emitter consumes whatever happens. */
static enum em_status emit(yaml_document_t *doc, const char *path, char **out,
                           struct em_error *err)
{
	struct sbuf b = { NULL, 0, 0 };
	enum em_status st = EM_OK;
	yaml_emitter_t em;

	if (!yaml_emitter_initialize(&em)) {
		yaml_document_delete(doc);
		return nomem(err);
	}
	yaml_emitter_set_output(&em, write_out, &b);
	yaml_emitter_set_unicode(&em, 1);
	/* No folding of long values such as a big initial-cluster. */
	yaml_emitter_set_width(&em, -1);
	if (!yaml_emitter_dump(&em, doc) || !yaml_emitter_close(&em) ||
	    !yaml_emitter_flush(&em))
		st = em_error_set(err, em.error == YAML_MEMORY_ERROR ?
		                  EM_ENOMEM : EM_EFORMAT,
		                  "cannot render the config from %s: %s", path,
		                  em.problem ? em.problem : "emitter error");
	yaml_emitter_delete(&em);
	if (st == EM_OK && b.p == NULL && !sbuf_add(&b, "", 0))
		st = nomem(err);
	if (st != EM_OK)
		free(b.p);
	else
		*out = b.p;
	return st;
}

static enum em_status render_args_ok(const struct em_etcd_config *ec,
                                     const char *state, struct em_error *err)
{
	const yaml_node_t *root;

	if (ec == NULL || ec->doc == NULL)
		return em_error_set(err, EM_EUSAGE,
		                    "no etcd config loaded to render");
	root = yaml_document_get_root_node(ec->doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE)
		return em_error_set(err, EM_EFORMAT, "etcd config %s is not "
		                    "a mapping", ec->path);
	if (state != NULL && strcmp(state, "new") != 0 &&
	    strcmp(state, "existing") != 0)
		return em_error_set(err, EM_EUSAGE, "initial-cluster-state "
		                    "must be new or existing, not '%.*s'",
		                    QUOTE_MAX, state);
	return EM_OK;
}

enum em_status em_etcd_config_render(const struct em_etcd_config *ec,
                                     const char *initial_cluster,
                                     const char *initial_cluster_state,
                                     char **out, struct em_error *err)
{
	yaml_document_t doc;
	enum em_status st;
	bool ok;

	*out = NULL;
	st = render_args_ok(ec, initial_cluster_state, err);
	if (st != EM_OK)
		return st;
	if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1))
		return nomem(err);
	ok = copy_document(ec->doc, &doc) && join_lists(&doc) &&
	     set_top(&doc, "enable-grpc-gateway", "true");
	if (ok && initial_cluster != NULL)
		ok = set_top(&doc, "initial-cluster", initial_cluster);
	if (ok && initial_cluster_state != NULL)
		ok = set_top(&doc, "initial-cluster-state",
		             initial_cluster_state);
	if (!ok) {
		yaml_document_delete(&doc);
		return em_error_set(err, EM_EFORMAT, "cannot render the config "
		                    "from %s: a value is not valid UTF-8, or "
		                    "out of memory", ec->path);
	}
	return emit(&doc, ec->path, out, err);
}
