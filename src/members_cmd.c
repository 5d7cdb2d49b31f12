/*
 * members_cmd.c - `etcd-medic members --endpoints URLS [--json]`: the
 * member list with each member's health, the leader, and how far a learner
 * has caught up.
 *
 * Each member is asked on its own client URL, so "down" means "does not
 * answer from here"; the leader's raft index is the yardstick for every
 * member's applied index.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "etcd-medic/cli.h"
#include "etcd-medic/config.h"
#include "etcd-medic/gateway.h"

struct members_opts {
	char *endpoints[16];
	size_t n;
	struct em_gw_config gc;
	int json;
	char *list;                   /* strdup of --endpoints, split */
	char *password;                /* from --password-file */
};

static void members_usage(FILE *out)
{
	fprintf(out,
	"usage: etcd-medic members --endpoints URL[,URL...] [--json]\n"
	"                          [--cacert FILE --cert FILE --key FILE]\n"
	"                          [--user NAME --password-file FILE]\n"
	"                          [--timeout MS]\n\n"
	"Lists the members of the cluster: ID, name, voter or learner, whether\n"
	"it answers, the leader, its raft applied index against the leader's.\n");
}

static int split_endpoints(struct members_opts *o, const char *arg)
{
	char *save = NULL, *tok;

	free(o->list);
	o->list = strdup(arg);
	if (o->list == NULL)
		return -1;
	o->n = 0;
	for (tok = strtok_r(o->list, ",", &save); tok && o->n < 16;
	     tok = strtok_r(NULL, ",", &save))
		o->endpoints[o->n++] = tok;
	return o->n > 0 ? 0 : -1;
}

static int read_password(struct members_opts *o, const char *path)
{
	struct em_error err;

	if (em_config_set_secret(&o->password, path, 4096, &err) != EM_OK) {
		fprintf(stderr, "etcd-medic: %s\n", err.msg);
		return -1;
	}
	o->gc.password = o->password;
	return 0;
}

static int parse(int argc, char **argv, struct members_opts *o)
{
	static const struct option longopts[] = {
		{ "endpoints", required_argument, NULL, 'e' },
		{ "cacert", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (split_endpoints(o, optarg) != 0)
				goto bad;
			break;
		case 'a': o->gc.ca_file = optarg; break;
		case 'c': o->gc.cert_file = optarg; break;
		case 'k': o->gc.key_file = optarg; break;
		case 'u': o->gc.username = optarg; break;
		case 'p':
			if (read_password(o, optarg) != 0)
				return EM_EXIT_USAGE;
			break;
		case 't': o->gc.timeout_ms = atol(optarg); break;
		case 'j': o->json = 1; break;
		case 'h': members_usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (o->n == 0 || optind < argc)
		goto bad;
	o->gc.endpoints = (const char *const *)o->endpoints;
	o->gc.n_endpoints = o->n;
	return -1;
bad:
	members_usage(stderr);
	return EM_EXIT_USAGE;
}

/* What one member says of itself. */
struct health {
	bool up;
	struct em_gw_status st;
};

static void ask_all(struct em_gw *gw, const struct em_member_list *ml,
                    struct health *h, uint64_t *leader_index)
{
	for (size_t i = 0; i < ml->n; i++) {
		const struct em_member *m = &ml->members[i];
		struct em_error e;

		for (size_t u = 0; u < m->n_client_urls && !h[i].up; u++)
			h[i].up = em_gw_status(gw, m->client_urls[u],
			                       &h[i].st, &e) == EM_OK;
	}
	for (size_t i = 0; i < ml->n; i++)
		if (h[i].up && h[i].st.leader == ml->members[i].id)
			*leader_index = h[i].st.raft_index;
}

static void print_text(const struct em_member_list *ml,
                       const struct health *h, uint64_t leader_index)
{
	printf("%-16s  %-16s  %-7s  %-4s  %-6s  %-12s  %s\n", "ID", "NAME",
	       "ROLE", "UP", "LEADER", "APPLIED", "CLIENT URLS");
	for (size_t i = 0; i < ml->n; i++) {
		const struct em_member *m = &ml->members[i];
		char applied[48] = "-";

		if (h[i].up)
			snprintf(applied, sizeof(applied), "%" PRIu64 "/%" PRIu64,
			         h[i].st.raft_applied_index, leader_index);
		printf("%016" PRIx64 "  %-16s  %-7s  %-4s  %-6s  %-12s  %s\n",
		       m->id, m->name[0] ? m->name : "(unstarted)",
		       m->is_learner ? "learner" : "voter",
		       h[i].up ? "yes" : "no",
		       h[i].up && h[i].st.leader == m->id ? "yes" : "",
		       applied, m->n_client_urls ? m->client_urls[0] : "-");
	}
}

static json_object *urls_json(const char (*urls)[EM_GW_URL_MAX], size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(urls[i]));
	return a;
}

static void print_json(const struct em_member_list *ml,
                       const struct health *h, uint64_t leader_index)
{
	json_object *root = json_object_new_object(), *arr;
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIx64, ml->header.cluster_id);
	json_object_object_add(root, "cluster_id", json_object_new_string(buf));
	arr = json_object_new_array();
	for (size_t i = 0; i < ml->n; i++) {
		const struct em_member *m = &ml->members[i];
		json_object *o = json_object_new_object();

		snprintf(buf, sizeof(buf), "%" PRIx64, m->id);
		json_object_object_add(o, "id", json_object_new_string(buf));
		json_object_object_add(o, "name", json_object_new_string(m->name));
		json_object_object_add(o, "learner",
		                       json_object_new_boolean(m->is_learner));
		json_object_object_add(o, "peer_urls",
		                       urls_json(m->peer_urls, m->n_peer_urls));
		json_object_object_add(o, "client_urls",
		                       urls_json(m->client_urls, m->n_client_urls));
		json_object_object_add(o, "healthy", json_object_new_boolean(h[i].up));
		if (h[i].up) {
			json_object_object_add(o, "leader", json_object_new_boolean(
				h[i].st.leader == m->id));
			json_object_object_add(o, "version",
			        json_object_new_string(h[i].st.version));
			json_object_object_add(o, "raft_applied_index",
			        json_object_new_uint64(h[i].st.raft_applied_index));
			json_object_object_add(o, "leader_raft_index",
			        json_object_new_uint64(leader_index));
			json_object_object_add(o, "db_size",
			        json_object_new_uint64(h[i].st.db_size));
		}
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "members", arr);
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	                                    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

int em_cmd_members(int argc, char **argv)
{
	struct members_opts o;
	struct em_member_list ml;
	struct em_gw *gw = NULL;
	struct health *h = NULL;
	struct em_error err;
	uint64_t leader_index = 0;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = parse(argc, argv, &o);
	if (rc >= 0)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = 1;
	if (em_gw_new(&o.gc, &gw, &err) != EM_OK ||
	    em_gw_member_list(gw, NULL, &ml, &err) != EM_OK) {
		fprintf(stderr, "etcd-medic members: %s\n", err.msg);
		goto cleanup;
	}
	h = calloc(ml.n ? ml.n : 1, sizeof(*h));
	if (h != NULL) {
		ask_all(gw, &ml, h, &leader_index);
		if (o.json)
			print_json(&ml, h, leader_index);
		else
			print_text(&ml, h, leader_index);
		rc = 0;
	}
	free(h);
	em_member_list_free(&ml);
cleanup:
	em_gw_free(gw);
	curl_global_cleanup();
out:
	free(o.list);
	em_config_drop_secret(&o.password);
	return rc;
}
