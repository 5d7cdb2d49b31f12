/*
 * server.h - the HTTP API of `etcd-medic serve` (libmicrohttpd).
 *
 *   /initialization/start?mode=full|sanity  POST (GET for etcd-wrapper)
 *   /initialization/status                  GET: New, Progress, Successful,
 *                                           Failed; JSON with
 *                                           Accept: application/json
 *   /config                                 GET: the etcd config YAML
 *   /healthz, /readyz                       GET: 200 or 503
 *   /metrics                                GET: Prometheus text format
 *
 * It listens on 127.0.0.1:8080 unless told otherwise; anywhere else it
 * insists on a bearer token (server.token-file) or TLS (server.cert-file).
 * Methods are checked (405), unknown paths are 404, bad parameters 400 with
 * a JSON error, requests are bounded in size, connections in number and
 * time.  No request can make anything destructive happen: the sidecar acts
 * on the data dir's verdict only.
 */
#ifndef ETCD_MEDIC_SERVER_H
#define ETCD_MEDIC_SERVER_H

#include "etcd-medic/config.h"
#include "etcd-medic/error.h"
#include "etcd-medic/sidecar.h"

struct em_server;

/* Starts listening on cfg->listen; sc must outlive the server. */
enum em_status em_server_start(const struct em_config *cfg,
                               struct em_sidecar *sc, struct em_server **out,
                               struct em_error *err);
void em_server_stop(struct em_server *srv);

#endif
