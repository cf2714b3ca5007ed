/*
 * natsconn.c - connecting the cluster's parts to NATS (natsconn.h).
 */
#include "cluster/natsconn.h"

#include <string.h>

/* Splits servers into at most 16 URLs in list. */
static akidb_status split_servers(const char *servers, char *list, size_t cap, const char **urls,
                                  int *n_urls)
{
    *n_urls = 0;
    if (strlen(servers) >= cap)
        return ak_fail(AKIDB_EINVAL, "NATS server list of %zu bytes: at most %zu",
                       strlen(servers), cap - 1);
    memcpy(list, servers, strlen(servers) + 1);
    char *save = NULL;
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (*n_urls == 16)
            return ak_fail(AKIDB_EINVAL, "NATS server list '%s': at most 16 servers", servers);
        urls[(*n_urls)++] = t;
    }
    if (*n_urls == 0)
        return ak_fail(AKIDB_EINVAL, "NATS server list '%s' names no server", servers);
    return AKIDB_OK;
}

akidb_status ak_nats_connect(const char *servers, const char *client_name, int64_t timeout_ms,
                             natsConnection **nc, natsStatus *ns)
{
    char list[1024];
    const char *urls[16];
    int n_urls = 0;
    *ns = NATS_OK;
    akidb_status st = split_servers(servers, list, sizeof list, urls, &n_urls);
    if (st != AKIDB_OK)
        return st;
    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK)
        s = natsOptions_SetServers(no, urls, n_urls);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(no, timeout_ms);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(no, 250);
    if (s == NATS_OK)
        s = natsOptions_SetFailRequestsOnDisconnect(no, true);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(no, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(no, 3);
    if (s == NATS_OK)
        s = natsOptions_SetName(no, client_name);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, no);
    natsOptions_Destroy(no);
    *ns = s;
    return s == NATS_OK ? AKIDB_OK : AKIDB_EIO;
}

bool ak_nats_name_ok(const char *n, size_t max)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
              (n[i] >= '0' && n[i] <= '9') || n[i] == '_' || n[i] == '-'))
            return false;
    return true;
}
