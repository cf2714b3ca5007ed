/*
 * test_console.c - the web console's routes (src/server/routes_console.c)
 * on a server started in-process, over real HTTP on 127.0.0.1:
 *
 *   root_html    GET / from a browser (Accept prefers text/html) answers the
 *                console's page with a strict Content-Security-Policy,
 *                Cache-Control and Vary: Accept
 *   root_json    GET / from any other client (no Accept, a bare wildcard,
 *                JSON first, text/html;q=0) answers Qdrant's
 *                {"title","version"} JSON
 *   assets       /console/{file} answers each file byte for byte as it is
 *                in src/server/console/, with its Content-Type; an unknown
 *                name or a path trick is a JSON 404
 *   auth_on      with auth on, the page and its files need no key (the page
 *                asks for one), the API behind it still does
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "server/server.h"
#include "server/srvtest.h"

#include <curl/curl.h>

#define ADMIN_KEY "ak_console_test_admin_key_0123456789"

typedef struct srv {
    char *data;
    ak_server *s;
    int port;
} srv;

static bool srv_up(srv *f, int auth)
{
    memset(f, 0, sizeof *f);
    f->data = st_tmpdir("console");
    static FILE *quiet;
    if (!quiet)
        quiet = fopen("/dev/null", "w");
    ak_server_config c;
    ak_server_config_defaults(&c);
    c.data_dir = f->data;
    c.port = 0;
    c.scan_models_dir = 0;
    c.sync_none = 1;
    c.log = quiet;
    c.auth = auth;
    c.admin_key = auth ? ADMIN_KEY : NULL;
    if (ak_server_start(&c, &f->s) != AKIDB_OK) {
        fprintf(stderr, "  server start: %s\n", akidb_last_error());
        return false;
    }
    f->port = ak_server_port(f->s);
    return true;
}

static void srv_down(srv *f)
{
    AKT_OK(ak_server_stop(f->s));
    st_rmtree(f->data);
}

/* One answer with the headers this test reads. */
typedef struct resp {
    long status;
    char *body;
    size_t len;
    char ctype[128], csp[512], cache[64], vary[64];
} resp;

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t add = sz * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, add);
    r->body = b;
    r->len += add;
    b[r->len] = '\0';
    return add;
}

/* Copies the value of header line p (name: value\r\n) into out when it is
 * called name. */
static void header_value(const char *p, size_t len, const char *name, char *out, size_t cap)
{
    size_t k = strlen(name);
    if (len <= k + 1 || strncasecmp(p, name, k) != 0 || p[k] != ':')
        return;
    p += k + 1, len -= k + 1;
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    snprintf(out, cap, "%.*s", (int)len, p);
}

static size_t head_cb(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    header_value(p, len, "Content-Type", r->ctype, sizeof r->ctype);
    header_value(p, len, "Content-Security-Policy", r->csp, sizeof r->csp);
    header_value(p, len, "Cache-Control", r->cache, sizeof r->cache);
    header_value(p, len, "Vary", r->vary, sizeof r->vary);
    return len;
}

/* GET path with the given Accept header (NULL: none at all). */
static resp get(int port, const char *path, const char *accept, const char *key)
{
    resp r;
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    char url[512], h1[256], h2[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    struct curl_slist *h = NULL;
    snprintf(h1, sizeof h1, "Accept:%s%s", accept ? " " : "", accept ? accept : "");
    h = curl_slist_append(h, h1);   /* "Accept:" alone removes curl's own */
    if (key) {
        snprintf(h2, sizeof h2, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, h2);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, head_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = calloc(1, 1);
    return r;
}

static void resp_free(resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static const char BROWSER[] =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

/* Checks the headers every console answer carries. */
static void console_headers(const resp *r)
{
    AKT_TRUE(strstr(r->csp, "default-src 'none'") != NULL);
    AKT_TRUE(strstr(r->csp, "script-src 'self'") != NULL);
    AKT_TRUE(strstr(r->csp, "frame-ancestors 'none'") != NULL);
    AKT_TRUE(strstr(r->csp, "unsafe") == NULL);
    AKT_EQ_STR(r->cache, "no-cache");
}

AKT_TEST(root_html)
{
    srv f;
    AKT_TRUE(srv_up(&f, 0));
    static const char *const accepts[] = { BROWSER, "text/html", "application/json;q=0.5, text/html",
                                           "application/xhtml+xml" };
    for (size_t i = 0; i < sizeof accepts / sizeof *accepts; i++) {
        resp r = get(f.port, "/", accepts[i], NULL);
        AKT_EQ_INT(r.status, 200);
        AKT_EQ_STR(r.ctype, "text/html; charset=utf-8");
        AKT_TRUE(strstr(r.body, "<title>AkiDB console</title>") != NULL);
        AKT_TRUE(strstr(r.body, "src=\"/console/console.js\"") != NULL);
        AKT_TRUE(strstr(r.body, "href=\"/console/console.css\"") != NULL);
        AKT_EQ_STR(r.vary, "Accept");
        console_headers(&r);
        resp_free(&r);
    }
    srv_down(&f);
}

AKT_TEST(root_json)
{
    srv f;
    AKT_TRUE(srv_up(&f, 0));
    static const char *const accepts[] = { NULL, "*/*", "application/json",
                                           "application/json, text/html;q=0.9",
                                           "text/html;q=0, */*", "text/plain" };
    for (size_t i = 0; i < sizeof accepts / sizeof *accepts; i++) {
        resp r = get(f.port, "/", accepts[i], NULL);
        AKT_EQ_INT(r.status, 200);
        AKT_TRUE(strncmp(r.ctype, "application/json", 16) == 0);
        AKT_TRUE(strstr(r.body, "<html") == NULL);
        json_t *j = json_loads(r.body, 0, NULL);
        AKT_TRUE(j != NULL);
        AKT_TRUE(json_is_string(json_object_get(j, "title")));
        AKT_TRUE(json_is_string(json_object_get(j, "version")));
        json_decref(j);
        AKT_EQ_STR(r.csp, "");
        AKT_EQ_STR(r.vary, "Accept");
        resp_free(&r);
    }
    srv_down(&f);
}

/* The bytes of src/server/console/name, or NULL. */
static char *read_source(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/src/server/console/%s", st_src_dir(), name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    *len = p && fread(p, 1, (size_t)n, fp) == (size_t)n ? (size_t)n : 0;
    fclose(fp);
    return p;
}

AKT_TEST(assets)
{
    srv f;
    AKT_TRUE(srv_up(&f, 0));
    static const struct {
        const char *name, *ctype;
    } files[] = {
        { "console.js", "text/javascript; charset=utf-8" },
        { "console.css", "text/css; charset=utf-8" },
        { "index.html", "text/html; charset=utf-8" },
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[128];
        snprintf(path, sizeof path, "/console/%s", files[i].name);
        resp r = get(f.port, path, "*/*", NULL);
        AKT_EQ_INT(r.status, 200);
        AKT_EQ_STR(r.ctype, files[i].ctype);
        console_headers(&r);
        size_t n = 0;
        char *src = read_source(files[i].name, &n);
        AKT_TRUE(src != NULL && n > 0);
        AKT_EQ_INT(r.len, n);
        AKT_TRUE(memcmp(r.body, src, n) == 0);
        free(src);
        resp_free(&r);
    }
    static const char *const missing[] = { "/console/nope.js", "/console/..%2Fserver.h",
                                           "/console/%2e%2e", "/console/CONSOLE.JS" };
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        resp r = get(f.port, missing[i], BROWSER, NULL);
        AKT_EQ_INT(r.status, 404);
        AKT_TRUE(strncmp(r.ctype, "application/json", 16) == 0);
        AKT_TRUE(strstr(r.body, "the console has no file") != NULL);
        resp_free(&r);
    }
    resp r = get(f.port, "/console", BROWSER, NULL);   /* no file named */
    AKT_EQ_INT(r.status, 404);
    resp_free(&r);
    srv_down(&f);
}

AKT_TEST(auth_on)
{
    srv f;
    AKT_TRUE(srv_up(&f, 1));
    AKT_TRUE(ak_server_auth_on(f.s));
    resp r = get(f.port, "/", BROWSER, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_TRUE(strstr(r.body, "<title>AkiDB console</title>") != NULL);
    resp_free(&r);
    r = get(f.port, "/console/console.js", "*/*", NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_TRUE(strstr(r.body, "sessionStorage") != NULL);
    resp_free(&r);
    r = get(f.port, "/api/v1/collections", "application/json", NULL);
    AKT_EQ_INT(r.status, 401);
    resp_free(&r);
    r = get(f.port, "/api/v1/collections", "application/json", ADMIN_KEY);
    AKT_EQ_INT(r.status, 200);
    resp_free(&r);
    srv_down(&f);
}

AKT_MAIN(AKT_REG(root_html), AKT_REG(root_json), AKT_REG(assets), AKT_REG(auth_on))
