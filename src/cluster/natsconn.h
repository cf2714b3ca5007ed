/*
 * natsconn.h - the one way the cluster's parts connect to NATS (the write
 * log, jlog.c, and the membership bucket, members.c): a server list split
 * into URLs, reconnecting for ever (the cluster outlives any one server),
 * pending requests failed at once when the connection drops (so they are
 * sent again on the next one), a dead peer found by pings within about 6 s
 * even when no TCP reset tells of it; and the names that become part of
 * NATS stream, subject and key names.
 */
#ifndef AKIDB_CLUSTER_NATSCONN_H
#define AKIDB_CLUSTER_NATSCONN_H

#include "common/common.h"

#include <nats/nats.h>

/* Connects to servers ("u1,u2" or "u1 u2", at most 16 URLs, the library's
 * SetURL does not take a list reliably; SetServers does), each try of the
 * connection waiting up to timeout_ms, the connection named client_name.
 * A bad list: AKIDB_EINVAL with the message set.  No server reachable:
 * AKIDB_EIO with *ns the library's status and no message set (the caller
 * names what it was connecting for). */
akidb_status ak_nats_connect(const char *servers, const char *client_name, int64_t timeout_ms,
                             natsConnection **nc, natsStatus *ns);

/* True when n is 1..max bytes of [A-Za-z0-9_-]: what a log, cluster or
 * node name may hold (it becomes part of stream, subject and key names). */
bool ak_nats_name_ok(const char *n, size_t max);

#endif /* AKIDB_CLUSTER_NATSCONN_H */
