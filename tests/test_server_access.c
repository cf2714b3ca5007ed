/*
 * test_server_access.c - end-to-end tests of who may use the REST server
 * and how many at once (a server started in-process, tests/server/srvrun.h,
 * over real HTTP): the auth matrix of keys, tenants and roles, the
 * configuration checks at start, concurrent clients through the dynamic
 * batcher, draining on stop, and the dispatcher on odd paths and methods.
 * AKIDB_TEST_QUICK=1 shrinks the loops.
 */
#include "server/srvrun.h"

#include <pthread.h>

/* ---- auth ------------------------------------------------------------------------ */

static char *make_key(int port, const char *admin, const char *tenant, const char *role)
{
    char body[256];
    snprintf(body, sizeof body, "{\"tenant\":\"%s\",\"role\":\"%s\",\"label\":\"t\"}", tenant, role);
    st_resp r = REQ(port, "POST", "/api/v1/keys", admin, body);
    char *k = NULL;
    if (r.status == 201 && json_is_string(json_object_get(r.json, "key")))
        k = strdup(json_string_value(json_object_get(r.json, "key")));
    else
        fprintf(stderr, "  make_key: %ld %s\n", r.status, r.body ? r.body : "");
    st_resp_free(&r);
    return k;
}

AKT_TEST(auth_matrix)
{
    srv f;
    srv_init(&f);
    f.cfg.auth = -1;
    f.cfg.admin_key = "ak_test_admin_key_0123456789";
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_auth_on(f.s));
    AKT_TRUE(ak_server_generated_key(f.s) == NULL);
    const char *admin = f.cfg.admin_key;

    /* public routes */
    EXPECT_STATUS(f.port, "GET", "/health", NULL, NULL, 200, NULL);
    /* no key / wrong key / malformed header */
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", NULL, NULL, 401, "unauthorized");
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", "ak_wrong", NULL, 401, NULL);
    EXPECT_STATUS(f.port, "POST", "/v1/embeddings", NULL, "{\"input\":\"x\"}", 401, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", "ak_test_admin_key_012345678", NULL, 401, NULL);

    /* tenants and keys */
    EXPECT_STATUS(f.port, "POST", "/api/v1/tenants", admin, "{\"name\":\"acme\"}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/tenants", admin, "{\"name\":\"acme\"}", 409, NULL);
    st_resp r;
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/tenants", admin, NULL, 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "tenants")), 2);
    st_resp_free(&r);
    char *acme_w = make_key(f.port, admin, "acme", "writer");
    char *acme_r = make_key(f.port, admin, "acme", "reader");
    char *def_w = make_key(f.port, admin, "default", "writer");
    char *acme_a = make_key(f.port, admin, "acme", "admin");
    AKT_TRUE(acme_w && acme_r && def_w && acme_a);
    AKT_EQ_INT(strncmp(acme_w, "ak_", 3), 0);
    AKT_TRUE(strlen(acme_w) >= 40);
    EXPECT_STATUS(f.port, "POST", "/api/v1/keys", admin,
                  "{\"tenant\":\"ghost\",\"role\":\"reader\"}", 404, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/keys", admin, "{\"role\":\"owner\"}", 400, NULL);
    /* the key file holds hashes, never the keys */
    char path[1024];
    snprintf(path, sizeof path, "%s/auth.json", f.data);
    FILE *kf = fopen(path, "rb");
    AKT_TRUE(kf != NULL);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, kf);
    buf[n] = '\0';
    fclose(kf);
    AKT_TRUE(strstr(buf, acme_w + 3) == NULL);
    AKT_TRUE(strstr(buf, admin) == NULL);
    AKT_CONTAINS(buf, "sha256");

    /* writer creates and fills; reader reads but cannot write */
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", acme_w,
                  "{\"name\":\"secret\",\"dimension\":2}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/secret/insert", acme_w,
                  "{\"doc_id\":\"d\",\"vector\":[1,2]}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/secret/insert", acme_r,
                  "{\"doc_id\":\"e\",\"vector\":[1,2]}", 403, "forbidden");
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", acme_r,
                  "{\"name\":\"x\",\"dimension\":2}", 403, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/collections/secret", acme_r, NULL, 403, NULL);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/secret/query", acme_r,
                "{\"query_vector\":[1,2]}", 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "matches")), 1);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", acme_r, "{\"texts\":[\"x\"]}", 200, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", acme_w, NULL, 403, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/tenants", acme_w, "{\"name\":\"evil\"}", 403, NULL);

    /* another tenant sees nothing of acme's */
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections", def_w, NULL, 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "collections")), 0);
    st_resp_free(&r);
    static const char *paths[][3] = {
        {"GET", "/api/v1/collections/secret", NULL},
        {"POST", "/api/v1/collections/secret/query", "{\"query_vector\":[1,2]}"},
        {"GET", "/api/v1/collections/secret/docs/d", NULL},
        {"DELETE", "/api/v1/collections/secret/docs/d", NULL},
        {"DELETE", "/api/v1/collections/secret", NULL},
        {"POST", "/api/v1/collections/secret/insert", "{\"doc_id\":\"z\",\"vector\":[1,2]}"},
        {"POST", "/api/v1/collections/secret/scroll", "{}"},
        {"GET", "/api/v1/collections/..%2Facme%2Fsecret", NULL},
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        r = REQ(f.port, paths[i][0], paths[i][1], def_w, paths[i][2]);
        if (r.status != 404 && r.status != 400)
            fprintf(stderr, "  %s %s -> %ld %s\n", paths[i][0], paths[i][1], r.status, r.body);
        AKT_TRUE(r.status == 404 || r.status == 400);
        st_resp_free(&r);
    }
    /* same name in the other tenant is a different collection */
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", def_w,
                  "{\"name\":\"secret\",\"dimension\":3}", 201, NULL);
    r = REQ(f.port, "GET", "/api/v1/collections/secret", acme_r, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 2);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 1);
    st_resp_free(&r);

    /* key listing and revocation */
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/keys?tenant=acme", admin, NULL, 200, NULL);
    json_t *keys = json_object_get(r.json, "keys");
    AKT_EQ_INT(json_array_size(keys), 3);
    char rid[64] = "";
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        AKT_TRUE(json_object_get(k, "key") == NULL);
        AKT_TRUE(json_object_get(k, "sha256") == NULL);
        if (strcmp(json_string_value(json_object_get(k, "role")), "reader") == 0)
            snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(k, "id")));
    }
    st_resp_free(&r);
    AKT_TRUE(rid[0] != 0);
    snprintf(path, sizeof path, "/api/v1/keys/%s", rid);
    EXPECT_STATUS(f.port, "DELETE", path, admin, NULL, 200, NULL);
    EXPECT_STATUS(f.port, "DELETE", path, admin, NULL, 404, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", acme_r, NULL, 401, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/keys/admin-env", admin, NULL, 403, NULL);
    /* an admin of acme manages keys but its data stays acme's */
    r = REQ(f.port, "GET", "/api/v1/collections/secret", acme_a, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 2);
    st_resp_free(&r);
    /* X-API-Key header works too (raw request through curl) */
    {
        CURL *cu = curl_easy_init();
        char url[256], hdr[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/collections", f.port);
        snprintf(hdr, sizeof hdr, "X-API-Key: %s", acme_w);
        struct curl_slist *h = curl_slist_append(NULL, hdr);
        st_resp rr;
        memset(&rr, 0, sizeof rr);
        curl_easy_setopt(cu, CURLOPT_URL, url);
        curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, st_write_cb);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, &rr);
        curl_easy_perform(cu);
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &rr.status);
        AKT_EQ_INT(rr.status, 200);
        curl_slist_free_all(h);
        curl_easy_cleanup(cu);
        free(rr.body);
    }
    /* deleting the tenant drops its keys */
    EXPECT_RESP(&r, f.port, "DELETE", "/api/v1/tenants/acme", admin, NULL, 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "keys_deleted")), 2);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", acme_w, NULL, 401, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/tenants/default", admin, NULL, 400, NULL);
    AKT_OK(srv_stop(&f));

    /* restart: stored keys still work, the env key only while set */
    f.cfg.admin_key = NULL;
    f.cfg.auth = 1;
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_generated_key(f.s) != NULL);   /* no stored admin key yet */
    char *gen = strdup(ak_server_generated_key(f.s));
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", def_w, NULL, 200, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", admin, NULL, 401, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", gen, NULL, 200, NULL);
    AKT_OK(srv_stop(&f));
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_generated_key(f.s) == NULL);   /* generated only once */
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", gen, NULL, 200, NULL);
    AKT_OK(srv_close(&f));
    free(gen);
    free(acme_w);
    free(acme_r);
    free(def_w);
    free(acme_a);
}

AKT_TEST(config_checks)
{
    srv f;
    srv_init(&f);
    ak_server *s = NULL;
    f.cfg.host = "0.0.0.0";
    f.cfg.auth = 0;
    AKT_STATUS(ak_server_start(&f.cfg, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "auth");
    f.cfg.host = "127.0.0.1";
    f.cfg.admin_key = "ak_0123456789abcdef";
    AKT_STATUS(ak_server_start(&f.cfg, &s), AKIDB_EINVAL);
    f.cfg.auth = 1;
    f.cfg.admin_key = "short";
    AKT_STATUS(ak_server_start(&f.cfg, &s), AKIDB_EINVAL);
    f.cfg.admin_key = NULL;
    f.cfg.auth = 0;
    ak_model_spec bad = {"x", "/nonexistent/model"};
    f.cfg.models = &bad;
    f.cfg.n_models = 1;
    AKT_TRUE(ak_server_start(&f.cfg, &s) != AKIDB_OK);
    AKT_CONTAINS(akidb_last_error(), "/nonexistent/model");
    /* auto on a non-loopback address turns auth on */
    base_cfg(&f.cfg, f.data);
    f.cfg.host = "0.0.0.0";
    f.cfg.auth = -1;
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_auth_on(f.s));
    AKT_TRUE(ak_server_generated_key(f.s) != NULL);
    AKT_OK(srv_stop(&f));
    /* models found under <data>/models */
    base_cfg(&f.cfg, f.data);
    char md[1024];
    snprintf(md, sizeof md, "%s/models", f.data);
    mkdir(md, 0755);
    snprintf(md, sizeof md, "%s/models/pulled", f.data);
    AKT_EQ_INT(st_stage_model(md, 0), 0);
    f.cfg.n_models = 0;
    f.cfg.scan_models_dir = 1;
    AKT_TRUE(srv_start(&f));
    st_resp r = REQ(f.port, "GET", "/v1/models", NULL, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "id")), "pulled");
    st_resp_free(&r);
    AKT_OK(srv_close(&f));
}

/* ---- concurrency and batching ------------------------------------------------------ */

typedef struct cl_arg {
    int port;
    int id;
    int iters;
    int failures;
    const float *want;   /* embedding of "concurrent text N" for N = 0..7 */
} cl_arg;

static void *client_main(void *p)
{
    cl_arg *a = p;
    for (int i = 0; i < a->iters; i++) {
        int t = (a->id + i) % 8;
        char body[256];
        snprintf(body, sizeof body, "{\"texts\":[\"concurrent text %d\",\"concurrent text %d\"]}",
                 t, (t + 1) % 8);
        st_resp r = REQ(a->port, "POST", "/api/v1/embed", NULL, body);
        json_t *emb = json_object_get(r.json, "embeddings");
        if (r.status != 200 || json_array_size(emb) != 2 ||
            max_diff_row(json_array_get(emb, 0), a->want + t * 32, 32) > 1e-5 ||
            max_diff_row(json_array_get(emb, 1), a->want + ((t + 1) % 8) * 32, 32) > 1e-5)
            a->failures++;
        st_resp_free(&r);
        if (i % 3 == 0) {
            r = REQ(a->port, "GET", "/health", NULL, NULL);
            if (r.status != 200)
                a->failures++;
            st_resp_free(&r);
        }
    }
    return NULL;
}

AKT_TEST(concurrent_clients)
{
    srv f;
    srv_init(&f);
    f.cfg.max_batch_tokens = 64;   /* small budget: batches split and merge */
    AKT_TRUE(srv_start(&f));
    const char *texts[8];
    char tb[8][64];
    for (int i = 0; i < 8; i++) {
        snprintf(tb[i], sizeof tb[i], "concurrent text %d", i);
        texts[i] = tb[i];
    }
    float *want = direct_embed(g_m1, texts, 8, AKIDB_POOL_DEFAULT, -1);
    AKT_TRUE(want != NULL);
    int nthreads = st_quick() ? 4 : 12, iters = st_quick() ? 5 : 40;
    pthread_t th[12];
    cl_arg args[12];
    for (int i = 0; i < nthreads; i++) {
        args[i] = (cl_arg){f.port, i, iters, 0, want};
        pthread_create(&th[i], NULL, client_main, &args[i]);
    }
    int fails = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        fails += args[i].failures;
    }
    AKT_EQ_INT(fails, 0);
    st_resp r = REQ(f.port, "GET", "/metrics", NULL, NULL);
    const char *p = strstr(r.body, "akidb_embed_texts_total{model=\"tiny\"} ");
    AKT_TRUE(p != NULL);
    long texts_total = atol(p + strlen("akidb_embed_texts_total{model=\"tiny\"} "));
    p = strstr(r.body, "akidb_embed_batches_total{model=\"tiny\"} ");
    AKT_TRUE(p != NULL);
    long batches = atol(p + strlen("akidb_embed_batches_total{model=\"tiny\"} "));
    AKT_EQ_INT(texts_total, 2L * nthreads * iters);
    AKT_LE_INT(batches, texts_total);
    fprintf(stderr, "  %ld texts in %ld batches\n", texts_total, batches);
    st_resp_free(&r);
    free(want);
    AKT_OK(srv_close(&f));
}

/* Stop while clients are busy: in-flight requests finish, nothing crashes. */
typedef struct busy_arg {
    int port;
    volatile int stop;
    int ok, refused, bad;
} busy_arg;

static void *busy_main(void *p)
{
    busy_arg *a = p;
    while (!a->stop) {
        st_resp r = REQ(a->port, "POST", "/api/v1/embed", NULL,
                        "{\"texts\":[\"draining while busy\",\"another text to embed here\"]}");
        if (r.status == 200)
            a->ok++;
        else if (r.status == 0 || r.status == 503)
            a->refused++;
        else
            a->bad++;
        st_resp_free(&r);
    }
    return NULL;
}

AKT_TEST(drain_on_stop)
{
    srv f;
    AKT_TRUE(srv_up(&f));
    busy_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].port = f.port;
        pthread_create(&th[i], NULL, busy_main, &a[i]);
    }
    usleep(300000);
    AKT_OK(srv_stop(&f));
    for (int i = 0; i < 4; i++)
        a[i].stop = 1;
    int ok = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
        bad += a[i].bad;
    }
    AKT_TRUE(ok > 0);
    AKT_EQ_INT(bad, 0);
    srv_close(&f);   /* stopped above: only removes the data folder */
}

/* The dispatcher directly: odd paths and methods never crash. */
AKT_TEST(dispatch_direct)
{
    srv f;
    srv_init(&f);
    f.cfg.listen = 0;
    f.cfg.n_models = 0;
    AKT_TRUE(srv_start(&f));
    static const char *paths[] = {
        "", "/", "//", "/api", "/api/v1", "/api/v1/", "/api/v1/collections/%", "/api/v1/collections/%0",
        "/api/v1/collections/%00x", "/api/v1/collections/a/b/c/d/e/f/g/h/i", "/v1/embeddings",
        "/api/v1/embed", "/api/v1/keys/x/y", "/metrics", "/api/v1/collections/x/points/get",
    };
    static const char *methods[] = {"GET", "POST", "DELETE", "PATCH", "FOO"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            ak_http_req rq = {methods[m], paths[i], "include=a%2", NULL, NULL, "{\"texts\":[\"a\"]}", 15, NULL};
            ak_http_resp rs;
            ak_server_dispatch(f.s, &rq, &rs);
            AKT_TRUE(rs.status >= 200 && rs.status < 600);
            AKT_TRUE(rs.body != NULL);
            ak_http_resp_clear(&rs);
        }
    ak_http_req rq = {"POST", "/api/v1/embed", NULL, NULL, NULL, "{\"texts\":[\"a\"]}", 15, NULL};
    ak_http_resp rs;
    ak_server_dispatch(f.s, &rq, &rs);
    AKT_EQ_INT(rs.status, 404);   /* no model loaded */
    AKT_CONTAINS(rs.body, "model_not_found");
    ak_http_resp_clear(&rs);
    AKT_OK(srv_close(&f));
}

AKT_MAIN(AKT_REG(auth_matrix), AKT_REG(config_checks), AKT_REG(concurrent_clients),
         AKT_REG(drain_on_stop), AKT_REG(dispatch_direct))
