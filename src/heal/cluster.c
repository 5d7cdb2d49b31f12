/*
 * cluster.c - the cluster as the other members see it: the member list,
 * which voters answer and which leader they follow, and whether they hold a
 * quorum without this member (heal rule 2).
 *
 * Each member is asked on its own client URL (Status is answered locally,
 * with or without quorum), so a member that only this one cannot reach
 * counts as down: a member cut off from the majority sees a minority and
 * refuses.
 */
#include "heal_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-medic/log.h"

static bool same_url(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	/* "http://h:1" and "http://h:1/" name the same member. */
	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

const struct em_member *cluster_find(const struct em_member_list *ml,
                                     uint64_t id, const struct em_strv *urls)
{
	for (size_t i = 0; i < ml->n; i++) {
		const struct em_member *m = &ml->members[i];

		if (id != 0 && m->id == id)
			return m;
		for (size_t u = 0; urls && u < urls->n; u++)
			for (size_t k = 0; k < m->n_peer_urls; k++)
				if (same_url(m->peer_urls[k], urls->v[u]))
					return m;
	}
	return NULL;
}

/* This member: by its peer URLs (stable across a replacement), else by
 * name (a member the cluster lists under another URL is still us). */
const struct em_member *cluster_find_self(const struct em_config *cfg,
                                          const struct em_member_list *ml)
{
	const struct em_member *m;

	m = cluster_find(ml, 0, &cfg->etcd.initial_advertise_peer_urls);
	if (m != NULL)
		return m;
	for (size_t i = 0; i < ml->n; i++)
		if (cfg->etcd.name && strcmp(ml->members[i].name,
		                             cfg->etcd.name) == 0)
			return &ml->members[i];
	return NULL;
}

/* Asks a member on each of its client URLs; true if one answered. */
static bool member_status(struct em_gw *gw, const struct em_member *m,
                          struct em_gw_status *st)
{
	for (size_t u = 0; u < m->n_client_urls; u++) {
		struct em_error e;

		em_error_clear(&e);
		if (em_gw_status(gw, m->client_urls[u], st, &e) == EM_OK)
			return true;
		em_log(EM_LOG_DEBUG, "member does not answer", "member",
		       m->name, "url", m->client_urls[u], "error", e.msg, NULL);
	}
	return false;
}

/* Counts the other voters that answer, with one leader and one cluster. */
static void survey(struct em_gw *gw, struct cluster_view *cv)
{
	bool split = false;

	for (size_t i = 0; i < cv->list.n; i++) {
		const struct em_member *m = &cv->list.members[i];
		struct em_gw_status st;

		if (m->is_learner) {
			cv->learners++;
			continue;
		}
		cv->voters++;
		if (m == cv->self || !member_status(gw, m, &st))
			continue;
		if (st.header.cluster_id != cv->cluster_id) {
			snprintf(cv->why, sizeof(cv->why), "member %s answers "
			         "for cluster %" PRIx64 ", not %" PRIx64,
			         m->name, st.header.cluster_id, cv->cluster_id);
			split = true;
			continue;
		}
		if (st.leader == 0)
			continue;
		if (cv->leader != 0 && st.leader != cv->leader)
			split = true;
		cv->leader = st.leader;
		cv->voters_up++;
	}
	if (split && cv->why[0] == '\0')
		snprintf(cv->why, sizeof(cv->why), "the members report "
		         "different leaders");
	if (split)
		cv->leader = 0;
}

enum em_status cluster_view(const struct em_config *cfg, struct em_gw *gw,
                            struct cluster_view *cv, struct em_error *err)
{
	struct em_gw_status st;
	enum em_status s;

	memset(cv, 0, sizeof(*cv));
	s = em_gw_member_list(gw, NULL, &cv->list, err);
	if (s != EM_OK)
		return s;
	cv->cluster_id = cv->list.header.cluster_id;
	cv->self = cluster_find_self(cfg, &cv->list);
	if (cv->self != NULL)
		cv->self_answers = member_status(gw, cv->self, &st) &&
		                   st.header.member_id == cv->self->id;
	survey(gw, cv);
	return EM_OK;
}

void cluster_view_free(struct cluster_view *cv)
{
	em_member_list_free(&cv->list);
	memset(cv, 0, sizeof(*cv));
}

bool cluster_quorum_without_self(struct cluster_view *cv)
{
	size_t quorum = cv->voters / 2 + 1;

	if (cv->why[0] != '\0')
		return false;
	if (cv->voters_up < quorum) {
		snprintf(cv->why, sizeof(cv->why), "only %zu of the other "
		         "voters answer with a leader; removing this member "
		         "needs %zu of %zu voters up without it",
		         cv->voters_up, quorum, cv->voters);
		return false;
	}
	if (cv->leader == 0) {
		snprintf(cv->why, sizeof(cv->why), "the voters report no "
		         "common leader");
		return false;
	}
	return true;
}

/* Appends "name=url" pairs for one member to buf. */
static bool append_member(char **buf, size_t *len, size_t *cap,
                          const char *name, const struct em_member *m)
{
	for (size_t k = 0; k < m->n_peer_urls; k++) {
		size_t need = strlen(name) + strlen(m->peer_urls[k]) + 3;
		if (*len + need > *cap) {
			size_t ncap = (*cap + need) * 2;
			char *n = realloc(*buf, ncap);
			if (n == NULL)
				return false;
			*buf = n;
			*cap = ncap;
		}
		*len += (size_t)sprintf(*buf + *len, "%s%s=%s",
		                        *len ? "," : "", name, m->peer_urls[k]);
	}
	return true;
}

char *cluster_initial(const struct em_config *cfg,
                      const struct em_member_list *ml)
{
	const struct em_member *self = cluster_find_self(cfg, ml);
	char *buf = NULL;
	size_t len = 0, cap = 0;

	for (size_t i = 0; i < ml->n; i++) {
		const struct em_member *m = &ml->members[i];
		const char *name = m == self ? cfg->etcd.name : m->name;

		/* A member never started has no name: etcd needs one in
		 * initial-cluster only for itself. */
		if (name[0] == '\0')
			continue;
		if (!append_member(&buf, &len, &cap, name, m)) {
			free(buf);
			return NULL;
		}
	}
	if (buf == NULL)
		buf = calloc(1, 1);
	return buf;
}
