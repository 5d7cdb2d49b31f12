/*
 * gateway_config.c - the gateway client settings that etcd-medic's config
 * gives (endpoints, TLS files, credentials, call timeout), for every part
 * that talks to the cluster: the heal command, the sidecar, the watch.
 */
#include <string.h>

#include "etcd-medic/config.h"
#include "etcd-medic/gateway.h"

void em_gw_config_from(const struct em_config *cfg, struct em_gw_config *gc)
{
	memset(gc, 0, sizeof(*gc));
	gc->endpoints = (const char *const *)cfg->endpoints.v;
	gc->n_endpoints = cfg->endpoints.n;
	gc->ca_file = cfg->tls.ca_file;
	gc->cert_file = cfg->tls.cert_file;
	gc->key_file = cfg->tls.key_file;
	gc->username = cfg->username;
	gc->password = cfg->password;
	gc->timeout_ms = (long)cfg->heal.call_timeout_ms;
}
