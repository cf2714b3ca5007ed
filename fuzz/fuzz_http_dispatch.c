/*
 * fuzz_http_dispatch.c - libFuzzer target for the REST server's request
 * handling without sockets: the input is "METHOD PATH[?QUERY]\n[KEY\n]BODY"
 * and goes through ak_server_dispatch (path decoding, routing, auth, JSON
 * body parsing, every route's validation, the store).  The server runs with
 * auth on, no models and a store in a temporary folder; any crash, leak or
 * response that is not JSON with a 2xx-5xx status is a finding.
 */
#include "server/server.h"
#include "common/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ak_server *g_srv;
#define ADMIN "ak_fuzz_admin_key_0123456789"

static void setup(void)
{
    char tmpl[] = "/tmp/akidb_fuzz_http_XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        abort();
    static char data[64];
    snprintf(data, sizeof data, "%s", dir);
    ak_server_config c;
    ak_server_config_defaults(&c);
    c.data_dir = data;
    c.listen = 0;
    c.scan_models_dir = 0;
    c.auth = 1;
    c.admin_key = ADMIN;
    c.sync_none = 1;
    c.log = stderr;
    if (ak_server_start(&c, &g_srv) != AKIDB_OK) {
        fprintf(stderr, "fuzz setup: %s\n", akidb_last_error());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_srv)
        setup();
    const char *p = (const char *)data, *end = p + size;
    const char *nl = memchr(p, '\n', size);
    if (!nl)
        return 0;
    char line[1024];
    size_t ll = (size_t)(nl - p);
    if (ll >= sizeof line || memchr(p, '\0', ll))
        return 0;
    memcpy(line, p, ll);
    line[ll] = '\0';
    char *sp = strchr(line, ' ');
    if (!sp)
        return 0;
    *sp = '\0';
    char *path = sp + 1, *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    p = nl + 1;
    /* An optional key line: "K" uses the admin key, "k..." a given one. */
    char key[128] = "";
    const char *authz = NULL;
    if (p < end && (*p == 'K' || *p == 'k')) {
        const char *kn = memchr(p, '\n', (size_t)(end - p));
        if (kn && (size_t)(kn - p) < sizeof key - 8) {
            if (*p == 'K')
                snprintf(key, sizeof key, "Bearer %s", ADMIN);
            else
                snprintf(key, sizeof key, "Bearer %.*s", (int)(kn - p - 1), p + 1);
            authz = key;
            p = kn + 1;
        }
    }
    ak_http_req rq = {line, path, query, authz, NULL, p, (size_t)(end - p), NULL};
    ak_http_resp rs;
    ak_server_dispatch(g_srv, &rq, &rs);
    if (rs.status < 200 || rs.status > 599 || !rs.body)
        abort();
    if (strcmp(path, "/metrics") != 0 || rs.status != 200) {
        json_t *j = json_loadb(rs.body, rs.len, 0, NULL);
        if (!j)
            abort();
        json_decref(j);
    }
    ak_http_resp_clear(&rs);
    return 0;
}
