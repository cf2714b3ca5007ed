/*
 * test_fanout.c - the cluster's fanned-out search (src/cluster/fanout.c):
 *
 *   request   the request's JSON read back: floats bit-identical (thirds,
 *             denormals, the largest float), strings with quotes and UTF-8,
 *             the filter, flags; a NULL filter; malformed requests name the
 *             field that is wrong
 *   merge     top_k by score, ties by id bytewise, one hit per id (the
 *             higher score's hit kept, the other freed), examined summed,
 *             the source left empty; everything freed by akidb_points_free
 *   reply     a reply sent by a real HTTP server and read back by
 *             ak_fanout_search: scores and vectors bit-identical, payload
 *             JSON text as the store writes it, NULL text/payload/vector
 *   search    small HTTP servers (libmicrohttpd on loopback) answering
 *             canned replies, checking the method, path, content type and
 *             the caller's header; one answering 500 with an error body,
 *             one 404, one that never answers, a port nobody listens on:
 *             the merged hits of those that answered, the failure flags,
 *             the message naming the node, status and error text, and the
 *             whole call bounded by its time-out
 */
#include "akt.h"
#include "cluster/fanout.h"

#include <arpa/inet.h>
#include <float.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define AUTH "Authorization: Bearer t0ken"

/* ---- points -------------------------------------------------------------------------- */

static void add_point(akidb_points *p, const char *id, float score, const char *text,
                      const char *payload, const float *vec, uint32_t dim)
{
    p->items = ak_realloc(p->items, (p->n + 1) * sizeof *p->items);
    akidb_point *it = &p->items[p->n++];
    memset(it, 0, sizeof *it);
    it->id = ak_strdup(id);
    it->score = score;
    it->text = text ? ak_strdup(text) : NULL;
    it->payload = payload ? ak_strdup(payload) : NULL;
    if (vec) {
        it->vector = ak_malloc(dim * sizeof *vec);
        memcpy(it->vector, vec, dim * sizeof *vec);
        it->dim = dim;
    }
}

static bool same_float(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- request ------------------------------------------------------------------------- */

AKT_TEST(request)
{
    ak_json_init();   /* jansson through ak_malloc, as the module under test */
    float v[7] = { 1.0f / 3.0f, 1e-45f, -FLT_MAX, 0.1f, 123456.789f, -0.0f, 16777217.0f };
    const char *filter = "{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1.5}}]}";
    akidb_search_req req = { .vector = v, .dim = 7, .top_k = 7, .ef = 50,
                             .filter_json = filter, .exact = true, .with = 5 };
    char *js = NULL;
    AKT_OK(ak_fanout_req_json("t\"\xc3\xa9\n", "coll", &req, &js));
    ak_fanout_req r;
    AKT_OK(ak_fanout_req_parse(js, strlen(js), &r));
    AKT_EQ_STR(r.tenant, "t\"\xc3\xa9\n");
    AKT_EQ_STR(r.collection, "coll");
    AKT_EQ_INT(r.req.dim, 7);
    for (int i = 0; i < 7; i++)
        AKT_TRUE(same_float(r.req.vector[i], v[i]));
    AKT_EQ_INT(r.req.top_k, 7);
    AKT_EQ_INT(r.req.ef, 50);
    AKT_TRUE(r.req.exact);
    AKT_EQ_INT(r.req.with, 5);
    json_t *a = json_loads(filter, 0, NULL), *b = json_loads(r.req.filter_json, 0, NULL);
    AKT_TRUE(a && b && json_equal(a, b));
    json_decref(a);
    json_decref(b);
    ak_fanout_req_free(&r);
    ak_free(js);
    /* no filter, no flags */
    req.filter_json = NULL;
    req.exact = false;
    req.with = 0;
    req.ef = 0;
    AKT_OK(ak_fanout_req_json("t", "c", &req, &js));
    AKT_OK(ak_fanout_req_parse(js, strlen(js), &r));
    AKT_TRUE(r.req.filter_json == NULL);
    AKT_FALSE(r.req.exact);
    AKT_EQ_INT(r.req.with, 0);
    ak_fanout_req_free(&r);
    ak_free(js);
    /* a filter that is not JSON, a vector with NaN */
    req.filter_json = "{\"must\":";
    AKT_STATUS(ak_fanout_req_json("t", "c", &req, &js), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "filter");
    req.filter_json = NULL;
    v[2] = NAN;
    AKT_STATUS(ak_fanout_req_json("t", "c", &req, &js), AKIDB_EINVAL);
    /* malformed requests name the field */
    static const struct { const char *body, *field; } bad[] = {
        { "{\"collection\":\"c\",\"vector\":[1],\"top_k\":1}", "tenant" },
        { "{\"tenant\":\"\",\"collection\":\"c\",\"vector\":[1],\"top_k\":1}", "tenant" },
        { "{\"tenant\":\"t\",\"vector\":[1],\"top_k\":1}", "collection" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[],\"top_k\":1}", "vector" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1,\"x\"],\"top_k\":1}", "vector" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1e39],\"top_k\":1}", "vector" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1],\"top_k\":0}", "top_k" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1]}", "top_k" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1],\"top_k\":1,\"ef\":-1}", "ef" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1],\"top_k\":1,\"with\":8}",
          "with" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1],\"top_k\":1,\"exact\":1}",
          "exact" },
        { "{\"tenant\":\"t\",\"collection\":\"c\",\"vector\":[1],\"top_k\":1,\"filter\":\"x\"}",
          "filter" },
        { "[1]", "object" },
        { "{\"tenant\":", "JSON" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        AKT_STATUS(ak_fanout_req_parse(bad[i].body, strlen(bad[i].body), &r), AKIDB_EINVAL);
        AKT_CONTAINS(akidb_last_error(), bad[i].field);
        AKT_TRUE(r.tenant == NULL && r.vector_buf == NULL);
    }
}

/* ---- merge --------------------------------------------------------------------------- */

AKT_TEST(merge)
{
    akidb_points into = { 0 }, from = { 0 };
    add_point(&into, "a", 0.9f, "into-a", NULL, NULL, 0);
    add_point(&into, "b", 0.5f, "into-b", NULL, NULL, 0);
    add_point(&into, "c", 0.5f, NULL, "{\"k\":1}", NULL, 0);
    into.examined = 10;
    float vec[2] = { 1, 2 };
    add_point(&from, "b", 0.7f, "from-b", NULL, vec, 2);
    add_point(&from, "d", 0.5f, NULL, NULL, NULL, 0);
    add_point(&from, "a", 0.1f, "from-a", NULL, NULL, 0);
    add_point(&from, "e", 0.2f, NULL, NULL, NULL, 0);
    from.examined = 5;
    AKT_OK(ak_fanout_merge(&into, &from, 4));
    AKT_EQ_INT(into.n, 4);
    AKT_EQ_STR(into.items[0].id, "a");
    AKT_EQ_STR(into.items[0].text, "into-a");   /* the higher of a's two hits */
    AKT_EQ_STR(into.items[1].id, "b");
    AKT_EQ_STR(into.items[1].text, "from-b");
    AKT_TRUE(into.items[1].vector && into.items[1].vector[1] == 2.0f);
    AKT_EQ_STR(into.items[2].id, "c");   /* c and d tie at 0.5: by id */
    AKT_EQ_STR(into.items[2].payload, "{\"k\":1}");
    AKT_EQ_STR(into.items[3].id, "d");
    AKT_EQ_INT(into.examined, 15);
    AKT_EQ_INT(from.n, 0);
    AKT_TRUE(from.items == NULL);
    AKT_EQ_INT(from.examined, 0);
    /* bytewise ties: "B" (0x42) before "a" (0x61); top_k cuts */
    add_point(&from, "B", 0.9f, NULL, NULL, NULL, 0);
    add_point(&from, "z", 0.95f, NULL, NULL, NULL, 0);
    AKT_OK(ak_fanout_merge(&into, &from, 3));
    AKT_EQ_INT(into.n, 3);
    AKT_EQ_STR(into.items[0].id, "z");
    AKT_EQ_STR(into.items[1].id, "B");
    AKT_EQ_STR(into.items[2].id, "a");
    for (size_t i = 1; i < into.n; i++)
        AKT_TRUE(into.items[i - 1].score >= into.items[i].score);
    /* into an empty list; an empty source */
    akidb_points empty = { 0 };
    AKT_OK(ak_fanout_merge(&empty, &into, 10));
    AKT_EQ_INT(empty.n, 3);
    AKT_EQ_INT(empty.examined, 15);
    AKT_OK(ak_fanout_merge(&empty, &into, 10));
    AKT_EQ_INT(empty.n, 3);
    akidb_points_free(&empty);
    akidb_points_free(&into);
    akidb_points_free(&from);
}

/* ---- canned HTTP servers ------------------------------------------------------------- */

typedef struct tsrv {
    struct MHD_Daemon *d;
    unsigned status;
    char *reply;
    char url[64];
    int requests, bad;
} tsrv;

typedef struct tconn {
    char *body;
    size_t len;
} tconn;

/* Why the request is not what ak_fanout_search sends; NULL when it is. */
static const char *request_fault(struct MHD_Connection *c, const char *method, const char *url,
                                 const tconn *tc)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (strcmp(method, "POST") != 0 || strcmp(url, AK_FANOUT_PATH) != 0)
        return "not a POST to " AK_FANOUT_PATH;
    if (!ct || strcmp(ct, "application/json") != 0)
        return "no JSON content type";
    if (!auth || strcmp(auth, "Bearer t0ken") != 0)
        return "no Authorization header";
    ak_fanout_req r;
    if (ak_fanout_req_parse(tc->body, tc->len, &r) != AKIDB_OK)
        return "the body is no search request";
    bool ok = strcmp(r.tenant, "ten") == 0 && r.req.top_k == 10 && r.req.dim == 2;
    ak_fanout_req_free(&r);
    return ok ? NULL : "not the request sent";
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    tsrv *s = cls;
    tconn *tc = *con_cls;
    if (!tc) {
        *con_cls = tc = calloc(1, sizeof *tc);
        return tc ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        tc->body = realloc(tc->body, tc->len + *upload_size + 1);
        memcpy(tc->body + tc->len, upload, *upload_size);
        tc->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
    const char *fault = request_fault(c, method, url, tc);
    char buf[256];
    const char *body = s->reply;
    unsigned status = s->status;
    if (fault) {
        __atomic_add_fetch(&s->bad, 1, __ATOMIC_SEQ_CST);
        snprintf(buf, sizeof buf, "{\"error\":{\"code\":\"invalid_request\",\"message\":\"%s\"}}",
                 fault);
        body = buf;
        status = 400;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    tconn *tc = *con_cls;
    if (tc) {
        free(tc->body);
        free(tc);
    }
    *con_cls = NULL;
}

/* Starts s on a free loopback port answering status with reply (taken). */
static bool tsrv_start(tsrv *s, unsigned status, char *reply)
{
    memset(s, 0, sizeof *s);
    s->status = status;
    s->reply = reply;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!s->d)
        return false;
    const union MHD_DaemonInfo *in = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u/", in ? (unsigned)in->port : 0);
    return in && in->port;
}

static void tsrv_stop(tsrv *s)
{
    if (s->d)
        MHD_stop_daemon(s->d);
    ak_free(s->reply);
    s->d = NULL;
    s->reply = NULL;
}

/* A loopback port that accepts connections (the kernel does) but whose
 * owner never reads them: a node that hangs. */
static int silent_listen(char *url, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    snprintf(url, cap, "http://127.0.0.1:%d", ntohs(a.sin_port));
    return fd;
}

/* A loopback port nobody listens on. */
static void closed_port(char *url, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    snprintf(url, cap, "http://127.0.0.1:%d", ntohs(a.sin_port));
    close(fd);
}

static char *reply_of(const akidb_points *p)
{
    char *js = NULL;
    return ak_fanout_reply_json(p, &js) == AKIDB_OK ? js : NULL;
}

static char *search_json(void)
{
    static const float q[2] = { 0.5f, -1.25f };
    akidb_search_req req = { .vector = q, .dim = 2, .top_k = 10, .with = 7 };
    char *js = NULL;
    return ak_fanout_req_json("ten", "coll", &req, &js) == AKIDB_OK ? js : NULL;
}

/* ---- reply --------------------------------------------------------------------------- */

AKT_TEST(reply)
{
    ak_json_init();
    /* a payload as the store writes it: jansson's compact text */
    json_t *pj = json_loads("{\"a\":1,\"b\":[true,null,\"x\\\"y\"],\"c\":{\"d\":0.1,\"e\":"
                            "-2.5e-300},\"f\":\"\\u00e9\\n\"}", 0, NULL);
    char *payload = json_dumps(pj, JSON_COMPACT);
    json_decref(pj);
    float v1[3] = { 1.0f / 3.0f, 1e-45f, -FLT_MAX }, v2[3] = { 0.1f, -0.0f, 7.0f };
    akidb_points p = { 0 };
    add_point(&p, "p1", 0.987654321f, "text \"quoted\"\n\xc3\xa9", payload, v1, 3);
    add_point(&p, "p2", 1.0f / 7.0f, NULL, NULL, v2, 3);
    add_point(&p, "p\"3", -0.3f, NULL, NULL, NULL, 0);
    p.examined = 123;
    tsrv s;
    AKT_TRUE(tsrv_start(&s, 200, reply_of(&p)));
    char *req = search_json();
    const char *urls[1] = { s.url };
    const char *hdrs[2] = { AUTH, NULL };
    akidb_points got = { 0 };
    int failed[1] = { -1 };
    AKT_OK(ak_fanout_search(urls, 1, hdrs, req, 5, 10, &got, failed));
    AKT_EQ_INT(failed[0], 0);
    AKT_EQ_INT(s.bad, 0);
    AKT_EQ_INT(got.n, 3);
    AKT_EQ_INT(got.examined, 123);
    for (size_t i = 0; i < 3; i++) {
        AKT_EQ_STR(got.items[i].id, p.items[i].id);
        AKT_TRUE(same_float(got.items[i].score, p.items[i].score));
        AKT_EQ_INT(got.items[i].dim, p.items[i].dim);
        for (uint32_t k = 0; k < p.items[i].dim; k++)
            AKT_TRUE(same_float(got.items[i].vector[k], p.items[i].vector[k]));
    }
    AKT_EQ_STR(got.items[0].text, p.items[0].text);
    AKT_EQ_STR(got.items[0].payload, payload);
    AKT_TRUE(got.items[1].text == NULL && got.items[1].payload == NULL);
    AKT_TRUE(got.items[2].vector == NULL && got.items[2].dim == 0);
    akidb_points_free(&got);
    akidb_points_free(&p);
    ak_free(payload);
    ak_free(req);
    tsrv_stop(&s);
}

/* ---- search -------------------------------------------------------------------------- */

AKT_TEST(search)
{
    akidb_points r1 = { 0 }, r2 = { 0 };
    add_point(&r1, "p1", 0.9f, NULL, NULL, NULL, 0);
    add_point(&r1, "p2", 0.8f, NULL, NULL, NULL, 0);
    add_point(&r1, "shared", 0.5f, "from s1", NULL, NULL, 0);
    r1.examined = 10;
    add_point(&r2, "p3", 0.85f, NULL, NULL, NULL, 0);
    add_point(&r2, "shared", 0.6f, "from s2", NULL, NULL, 0);
    r2.examined = 7;
    tsrv s1, s2, s500, s404;
    AKT_TRUE(tsrv_start(&s1, 200, reply_of(&r1)));
    AKT_TRUE(tsrv_start(&s2, 200, reply_of(&r2)));
    AKT_TRUE(tsrv_start(&s500, 500, ak_strdup("{\"error\":{\"code\":\"internal\",\"message\":"
                                              "\"EIO: disk on fire\"}}")));
    AKT_TRUE(tsrv_start(&s404, 404, ak_strdup("{\"error\":{\"code\":\"not_found\",\"message\":"
                                              "\"collection 'coll' not found\"}}")));
    akidb_points_free(&r1);
    akidb_points_free(&r2);
    char silent[64], closed[64];
    int sfd = silent_listen(silent, sizeof silent);
    AKT_TRUE(sfd >= 0);
    closed_port(closed, sizeof closed);
    char *req = search_json();
    const char *hdrs[2] = { AUTH, NULL };

    /* two nodes answer: one list, the shared point once at its best score */
    const char *good[2] = { s1.url, s2.url };
    akidb_points m = { 0 };
    int failed[5] = { -1, -1, -1, -1, -1 };
    AKT_OK(ak_fanout_search(good, 2, hdrs, req, 5, 10, &m, failed));
    AKT_TRUE(failed[0] == 0 && failed[1] == 0);
    AKT_EQ_INT(s1.requests, 1);
    AKT_EQ_INT(s2.requests, 1);
    AKT_EQ_INT(s1.bad + s2.bad, 0);
    AKT_EQ_INT(m.n, 4);
    AKT_EQ_STR(m.items[0].id, "p1");
    AKT_EQ_STR(m.items[1].id, "p3");
    AKT_EQ_STR(m.items[2].id, "p2");
    AKT_EQ_STR(m.items[3].id, "shared");
    AKT_EQ_STR(m.items[3].text, "from s2");
    AKT_EQ_INT(m.examined, 17);
    akidb_points_free(&m);
    /* top_k cuts the merged list */
    AKT_OK(ak_fanout_search(good, 2, hdrs, req, 5, 2, &m, NULL));
    AKT_EQ_INT(m.n, 2);
    akidb_points_free(&m);

    /* three of five fail: the first failure (in url order) is reported,
     * the others' hits are kept, the call ends near its time-out */
    const char *mixed[5] = { s1.url, s500.url, silent, closed, s2.url };
    double t0 = ak_now();
    AKT_STATUS(ak_fanout_search(mixed, 5, hdrs, req, 1.0, 10, &m, failed), AKIDB_EIO);
    double took = ak_now() - t0;
    AKT_LE(took, 2.5);
    AKT_GE(took, 0.9);   /* the silent node was waited for */
    AKT_CONTAINS(akidb_last_error(), s500.url);
    AKT_CONTAINS(akidb_last_error(), "HTTP 500");
    AKT_CONTAINS(akidb_last_error(), "disk on fire");
    AKT_CONTAINS(akidb_last_error(), "3 of 5 nodes failed");
    AKT_EQ_INT(failed[0], 0);
    AKT_EQ_INT(failed[1], 1);
    AKT_EQ_INT(failed[2], 1);
    AKT_EQ_INT(failed[3], 1);
    AKT_EQ_INT(failed[4], 0);
    AKT_EQ_INT(m.n, 4);
    AKT_EQ_INT(m.examined, 17);
    akidb_points_free(&m);

    /* each failure on its own says what it was */
    const char *one[1] = { s404.url };
    AKT_STATUS(ak_fanout_search(one, 1, hdrs, req, 2, 10, &m, failed), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "HTTP 404");
    AKT_CONTAINS(akidb_last_error(), "collection 'coll' not found");
    AKT_EQ_INT(failed[0], 1);
    AKT_EQ_INT(m.n, 0);
    one[0] = silent;
    t0 = ak_now();
    AKT_STATUS(ak_fanout_search(one, 1, hdrs, req, 0.5, 10, &m, failed), AKIDB_EIO);
    AKT_LE(ak_now() - t0, 2);
    AKT_CONTAINS(akidb_last_error(), silent);
    AKT_CONTAINS(akidb_last_error(), "imed out");
    one[0] = closed;
    AKT_STATUS(ak_fanout_search(one, 1, hdrs, req, 2, 10, &m, failed), AKIDB_EIO);
    AKT_CONTAINS(akidb_last_error(), closed);
    AKT_CONTAINS(akidb_last_error(), "onnect");
    /* a node whose request is refused (here: without the caller's header) */
    one[0] = s1.url;
    AKT_STATUS(ak_fanout_search(one, 1, NULL, req, 2, 10, &m, failed), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "no Authorization header");
    AKT_EQ_INT(m.n, 0);
    /* no nodes: nothing to do */
    AKT_OK(ak_fanout_search(NULL, 0, hdrs, req, 1, 10, &m, NULL));
    AKT_EQ_INT(m.n, 0);

    close(sfd);
    ak_free(req);
    tsrv_stop(&s1);
    tsrv_stop(&s2);
    tsrv_stop(&s500);
    tsrv_stop(&s404);
}

AKT_MAIN(AKT_REG(request), AKT_REG(merge), AKT_REG(reply), AKT_REG(search))
