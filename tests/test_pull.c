/*
 * test_pull.c - tests of `akidb pull` (ak_pull) against a small Hub stand-in
 * that the test runs on 127.0.0.1 with libmicrohttpd.  It serves a staged
 * tiny model folder through the revision and tree APIs and through
 * /REPO/resolve/REV/FILE with Range support, and has repositories that
 * misbehave on purpose: one cuts the first weights transfer in half, one
 * lists a wrong sha256, one sends a wrong X-Linked-Etag, one has only
 * pytorch_model.bin, one is sharded.
 */
#include "akt.h"
#include "akidb.h"
#include "pull/pull.h"
#include "server/srvtest.h"

#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>

typedef struct blob {
    const char *path;      /* path in the repository */
    char *data;
    size_t len;
    char sha256[65];
    char git[41];
} blob;

static blob g_files[ST_N_MODEL_FILES + 16];
static size_t g_nfiles;
static char *g_stage;
static struct MHD_Daemon *g_hub;
static int g_port;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_weight_gets;           /* resolve requests for *.safetensors */
static int g_other_gets;            /* resolve requests for unwanted files */
static char g_last_range[64];       /* last Range header on a weights request */
static int g_cut_done;

static void hexs(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void hash_blob(blob *b)
{
    unsigned char d[32];
    unsigned int dl;
    EVP_Digest(b->data, b->len, d, &dl, EVP_sha256(), NULL);
    hexs(d, 32, b->sha256);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "blob %zu", b->len);
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    EVP_DigestUpdate(c, hdr, (size_t)hl + 1);
    EVP_DigestUpdate(c, b->data, b->len);
    EVP_DigestFinal_ex(c, d, &dl);
    EVP_MD_CTX_free(c);
    hexs(d, 20, b->git);
}

static blob *add_blob(const char *path, const char *data, size_t len)
{
    blob *b = &g_files[g_nfiles++];
    b->path = path;
    b->data = malloc(len + 1);
    memcpy(b->data, data, len);
    b->len = len;
    hash_blob(b);
    return b;
}

static blob *find_blob(const char *path)
{
    for (size_t i = 0; i < g_nfiles; i++)
        if (strcmp(g_files[i].path, path) == 0)
            return &g_files[i];
    return NULL;
}

static bool is_lfs(const char *p)
{
    return strstr(p, ".safetensors") && !strstr(p, ".json");
}

/* Files only the sentence-transformers repositories with Dense modules
 * ("dense", "densebin") have: every kind of tokenizer file, and their own
 * modules.json ("@dense/modules.json", listed and served as modules.json).
 * The Dense folders are in every repository; the others' modules.json does
 * not name them. */
static bool dense_only(const char *p)
{
    static const char *const tok[] = { "spiece.model", "sentencepiece.bpe.model",
                                        "tokenizer.model", "vocab.json", "merges.txt" };
    if (p[0] == '@')
        return true;
    for (size_t i = 0; i < sizeof tok / sizeof *tok; i++)
        if (strcmp(p, tok[i]) == 0)
            return true;
    return false;
}

static bool dense_repo(const char *repo)
{
    return strncmp(repo, "dense", 5) == 0;
}

/* The blob a repository serves at path. */
static blob *repo_blob(const char *repo, const char *path)
{
    if (dense_repo(repo) && strcmp(path, "modules.json") == 0)
        return find_blob("@dense/modules.json");
    if (!dense_repo(repo) && dense_only(path))
        return NULL;
    if (strcmp(repo, "densebin") == 0 && strcmp(path, "3_Dense/model.safetensors") == 0)
        return NULL;
    return find_blob(path);
}

/* The listing of a repository, as the revision API (siblings) or the tree
 * API (array) gives it. */
static char *listing(const char *repo, bool tree)
{
    json_t *arr = json_array();
    bool sharded = strcmp(repo, "sharded") == 0, binonly = strcmp(repo, "binonly") == 0;
    for (size_t i = 0; i < g_nfiles; i++) {
        blob *b = &g_files[i];
        if (b->path[0] == '@' || (dense_only(b->path) && !dense_repo(repo)) ||
            (strcmp(repo, "densebin") == 0 && strcmp(b->path, "3_Dense/model.safetensors") == 0))
            continue;
        if (dense_repo(repo) && strcmp(b->path, "modules.json") == 0) {
            blob *v = find_blob("@dense/modules.json");
            static blob alias;
            alias = *v;
            alias.path = "modules.json";
            b = &alias;
        }
        bool shard_file = strncmp(b->path, "model-0000", 10) == 0 ||
                          strcmp(b->path, "model.safetensors.index.json") == 0;
        if (sharded ? strcmp(b->path, "model.safetensors") == 0 : shard_file)
            continue;
        if (binonly && strcmp(b->path, "model.safetensors") == 0)
            continue;
        json_t *e;
        const char *sha = b->sha256;
        if (strcmp(repo, "badsha") == 0 && is_lfs(b->path))
            sha = "00000000000000000000000000000000000000000000000000000000000000ff";
        bool with_lfs = is_lfs(b->path) && strcmp(repo, "etagbad") != 0 &&
                        strcmp(repo, "etag") != 0;
        if (tree) {
            e = json_pack("{s:s,s:s,s:I,s:s}", "type", "file", "path", b->path, "size",
                          (json_int_t)b->len, "oid", b->git);
            if (with_lfs)
                json_object_set_new(e, "lfs", json_pack("{s:s,s:I,s:i}", "oid", sha, "size",
                                                        (json_int_t)b->len, "pointerSize", 134));
        } else {
            e = json_pack("{s:s}", "rfilename", b->path);
            if (with_lfs) {
                json_object_set_new(e, "size", json_integer((json_int_t)b->len));
                json_object_set_new(e, "lfs", json_pack("{s:s,s:I,s:i}", "sha256", sha, "size",
                                                        (json_int_t)b->len, "pointerSize", 134));
            } else if (!is_lfs(b->path)) {
                json_object_set_new(e, "size", json_integer((json_int_t)b->len));
                json_object_set_new(e, "blobId", json_string(b->git));
            }
        }
        json_array_append_new(arr, e);
    }
    json_t *unwanted[] = {json_pack("{s:s,s:i}", "rfilename", "README.md", "size", 5),
                          json_pack("{s:s,s:i}", "rfilename", "pytorch_model.bin", "size", 5),
                          json_pack("{s:s,s:i}", "rfilename",
                                    strcmp(repo, "densebin") == 0 ? "3_Dense/pytorch_model.bin"
                                                                  : "onnx/model.onnx",
                                    "size", 5)};
    for (int i = 0; i < 3; i++) {
        if (tree) {
            json_t *t = json_pack("{s:s,s:s,s:i}", "type", "file", "path",
                                  json_string_value(json_object_get(unwanted[i], "rfilename")), "size", 5);
            json_array_append_new(arr, t);
            json_decref(unwanted[i]);
        } else {
            json_array_append_new(arr, unwanted[i]);
        }
    }
    if (tree)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "type", "directory", "path", "onnx"));
    json_t *root = tree ? arr : json_pack("{s:s,s:o}", "id", repo, "siblings", arr);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

typedef struct cut_ctx {
    const blob *b;
    size_t limit;
} cut_ctx;

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    cut_ctx *c = cls;
    if (pos >= c->limit)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = c->limit - pos < max ? c->limit - pos : max;
    memcpy(buf, c->b->data + pos, n);
    return (ssize_t)n;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *body,
                             size_t len, const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result hub_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *up,
                                   size_t *up_size, void **con_cls)
{
    (void)cls; (void)method; (void)version; (void)up; (void)up_size;
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    char repo[64], rest[512];
    if (sscanf(url, "/api/models/org/%63[^/]/revision/%511s", repo, rest) == 2) {
        if (strcmp(repo, "missing") == 0)
            return reply(conn, 404, "{\"error\":\"Repository not found\"}", 32, "application/json");
        if (strcmp(repo, "tree") == 0)
            return reply(conn, 200, "{\"id\":\"org/tree\"}", 17, "application/json");
        char *s = listing(repo, false);
        enum MHD_Result r = reply(conn, 200, s, strlen(s), "application/json");
        free(s);
        return r;
    }
    if (sscanf(url, "/api/models/org/%63[^/]/tree/%511s", repo, rest) == 2) {
        char *s = listing(repo, true);
        enum MHD_Result r = reply(conn, 200, s, strlen(s), "application/json");
        free(s);
        return r;
    }
    char rev[64];
    if (sscanf(url, "/org/%63[^/]/resolve/%63[^/]/%511[^\n]", repo, rev, rest) == 3) {
        blob *b = repo_blob(repo, rest);
        pthread_mutex_lock(&g_mu);
        if (b && is_lfs(b->path))
            g_weight_gets++;
        if (!b)
            g_other_gets++;
        const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
        if (b && is_lfs(b->path))
            snprintf(g_last_range, sizeof g_last_range, "%s", range ? range : "");
        bool cut = strcmp(repo, "cut") == 0 && b && strcmp(b->path, "model.safetensors") == 0 &&
                   !range && !g_cut_done;
        if (cut)
            g_cut_done = 1;
        pthread_mutex_unlock(&g_mu);
        if (!b)
            return reply(conn, 404, "Entry not found", 15, "text/plain");
        if (cut) {
            static cut_ctx cc;
            cc.b = b;
            cc.limit = b->len / 2;
            struct MHD_Response *r = MHD_create_response_from_callback(b->len, 32768, cut_reader, &cc, NULL);
            enum MHD_Result ret = MHD_queue_response(conn, 200, r);
            MHD_destroy_response(r);
            return ret;
        }
        size_t from = 0;
        if (range && sscanf(range, "bytes=%zu-", &from) == 1) {
            if (from >= b->len)
                return reply(conn, 416, "", 0, "text/plain");
        }
        struct MHD_Response *r = MHD_create_response_from_buffer(b->len - from, b->data + from,
                                                                 MHD_RESPMEM_MUST_COPY);
        if (is_lfs(b->path)) {
            char et[80];
            snprintf(et, sizeof et, "\"%s\"", strcmp(repo, "etagbad") == 0
                         ? "1111111111111111111111111111111111111111111111111111111111111111"
                         : b->sha256);
            MHD_add_response_header(r, "X-Linked-Etag", et);
        }
        unsigned code = 200;
        if (range) {
            char cr[96];
            snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", from, b->len - 1, b->len);
            MHD_add_response_header(r, "Content-Range", cr);
            code = 206;
        }
        enum MHD_Result ret = MHD_queue_response(conn, code, r);
        MHD_destroy_response(r);
        return ret;
    }
    return reply(conn, 404, "not found", 9, "text/plain");
}

/* A Dense module's F32 safetensors: linear.weight [out x in] (+ linear.bias). */
static void add_dense_weights(const char *path, size_t out, size_t in, bool bias)
{
    char hdr[512];
    size_t wn = out * in, bn = bias ? out : 0;
    size_t hl = (size_t)snprintf(hdr, sizeof hdr,
                                 "{\"linear.weight\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],"
                                 "\"data_offsets\":[0,%zu]}", out, in, wn * 4);
    if (bias)
        hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl,
                               ",\"linear.bias\":{\"dtype\":\"F32\",\"shape\":[%zu],"
                               "\"data_offsets\":[%zu,%zu]}", out, wn * 4, (wn + bn) * 4);
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "}");
    while (hl % 8)
        hdr[hl++] = ' ';
    size_t len = 8 + hl + (wn + bn) * 4;
    char *d = calloc(1, len);
    for (int i = 0; i < 8; i++)
        d[i] = (char)((uint64_t)hl >> (8 * i));
    memcpy(d + 8, hdr, hl);
    for (size_t i = 0; i < wn + bn; i++) {
        float v = (float)((int)(i % 7) - 3) * 0.05f;
        memcpy(d + 8 + hl + 4 * i, &v, 4);
    }
    add_blob(path, d, len);
    free(d);
}

/* The files of the Dense repositories (dense_only): the tiny model (dim 32)
 * then 2_Dense 32 -> 8 (Tanh) and 3_Dense 8 -> 4 (Identity, no bias). */
static void add_dense_blobs(void)
{
    const char *mods =
        "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
        "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
        "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"},"
        "{\"idx\":3,\"name\":\"3\",\"path\":\"3_Dense/\",\"type\":\"sentence_transformers.models.Dense\"},"
        "{\"idx\":4,\"name\":\"4\",\"path\":\"4_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]";
    add_blob("@dense/modules.json", mods, strlen(mods));
    const char *c2 = "{\"in_features\":32,\"out_features\":8,\"bias\":true,"
                     "\"activation_function\":\"torch.nn.modules.activation.Tanh\"}";
    const char *c3 = "{\"in_features\":8,\"out_features\":4,\"bias\":false,"
                     "\"activation_function\":\"torch.nn.modules.linear.Identity\"}";
    add_blob("2_Dense/config.json", c2, strlen(c2));
    add_dense_weights("2_Dense/model.safetensors", 8, 32, true);
    add_blob("3_Dense/config.json", c3, strlen(c3));
    add_dense_weights("3_Dense/model.safetensors", 4, 8, false);
    static const char *const tok[] = { "spiece.model", "sentencepiece.bpe.model",
                                       "tokenizer.model", "vocab.json", "merges.txt" };
    for (size_t i = 0; i < sizeof tok / sizeof *tok; i++)
        add_blob(tok[i], "unused here", 11);
}

static void hub_stop(void)
{
    if (g_hub)
        MHD_stop_daemon(g_hub);
    g_hub = NULL;
    st_rmtree(g_stage);
    g_stage = NULL;
}

static void hub_start(void)
{
    if (g_hub)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_stage = st_tmpdir("hubsrc");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/m", g_stage);
    if (st_stage_model(dir, 0) != 0)
        abort();
    for (size_t i = 0; i < ST_N_MODEL_FILES; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, st_model_files[i]);
        FILE *f = fopen(p, "rb");
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *d = malloc((size_t)n + 1);
        if (fread(d, 1, (size_t)n, f) != (size_t)n)
            abort();
        fclose(f);
        add_blob(st_model_files[i], d, (size_t)n);
        free(d);
    }
    /* Shards for the sharded repository: the weights file cut in two. */
    blob *w = find_blob("model.safetensors");
    add_blob("model-00001-of-00002.safetensors", w->data, w->len / 2);
    add_blob("model-00002-of-00002.safetensors", w->data + w->len / 2, w->len - w->len / 2);
    const char *idx = "{\"metadata\":{\"total_size\":1},\"weight_map\":{"
                      "\"a\":\"model-00001-of-00002.safetensors\","
                      "\"b\":\"model-00002-of-00002.safetensors\"}}";
    add_blob("model.safetensors.index.json", idx, strlen(idx));
    add_dense_blobs();
    g_hub = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                             0, NULL, NULL, hub_handler, NULL,
                             MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    if (!g_hub)
        abort();
    g_port = MHD_get_daemon_info(g_hub, MHD_DAEMON_INFO_BIND_PORT)->port;
    atexit(hub_stop);
}

static akidb_status pull(const char *repo, const char *dir)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", g_port);
    ak_pull_opts o = {ep, repo, NULL, dir, "", stderr, 3};
    return ak_pull(&o);
}

static int same_file(const char *path, const blob *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char *d = malloc(b->len + 1);
    size_t n = fread(d, 1, b->len + 1, f);
    fclose(f);
    int ok = n == b->len && memcmp(d, b->data, n) == 0;
    free(d);
    return ok;
}

static void reset_counters(void)
{
    pthread_mutex_lock(&g_mu);
    g_weight_gets = g_other_gets = 0;
    g_last_range[0] = 0;
    pthread_mutex_unlock(&g_mu);
}

static int exists(const char *dir, const char *f)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, f);
    return access(p, F_OK) == 0;
}

AKT_TEST(pull_model)
{
    hub_start();
    reset_counters();
    char *tmp = st_tmpdir("pull");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny", tmp);
    AKT_OK(pull("org/tiny", dir));
    for (size_t i = 0; i < ST_N_MODEL_FILES; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, st_model_files[i]);
        AKT_TRUE(same_file(p, find_blob(st_model_files[i])));
    }
    AKT_FALSE(exists(dir, "README.md"));
    AKT_FALSE(exists(dir, "pytorch_model.bin"));
    AKT_FALSE(exists(dir, "onnx"));
    AKT_FALSE(exists(dir, "model.safetensors.part"));
    AKT_EQ_INT(g_other_gets, 0);
    AKT_EQ_INT(g_weight_gets, 1);
    /* the pulled folder loads */
    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, NULL, &m));
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.dim, 32);
    akidb_model_free(m);
    /* a second pull downloads nothing */
    reset_counters();
    AKT_OK(pull("org/tiny", dir));
    AKT_EQ_INT(g_weight_gets, 0);
    st_rmtree(tmp);
}

AKT_TEST(pull_resumes_interrupted)
{
    hub_start();
    reset_counters();
    char *tmp = st_tmpdir("pull");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/cut", tmp);
    AKT_OK(pull("org/cut", dir));
    AKT_TRUE(g_cut_done);
    AKT_EQ_INT(g_weight_gets, 2);
    blob *w = find_blob("model.safetensors");
    char want[64];
    snprintf(want, sizeof want, "bytes=%zu-", w->len / 2);
    AKT_EQ_STR(g_last_range, want);
    char p[1200];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    AKT_TRUE(same_file(p, w));
    AKT_FALSE(exists(dir, "model.safetensors.part"));
    st_rmtree(tmp);
}

AKT_TEST(pull_resumes_part_file)
{
    hub_start();
    reset_counters();
    char *tmp = st_tmpdir("pull");
    blob *w = find_blob("model.safetensors");
    char p[1200];
    snprintf(p, sizeof p, "%s/model.safetensors.part", tmp);
    FILE *f = fopen(p, "wb");
    fwrite(w->data, 1, 1000, f);
    fclose(f);
    AKT_OK(pull("org/tiny", tmp));
    AKT_EQ_STR(g_last_range, "bytes=1000-");
    AKT_EQ_INT(g_weight_gets, 1);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    AKT_TRUE(same_file(p, w));
    st_rmtree(tmp);
}

AKT_TEST(pull_sha_mismatch)
{
    hub_start();
    char *tmp = st_tmpdir("pull");
    AKT_STATUS(pull("org/badsha", tmp), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), "sha256 mismatch");
    AKT_CONTAINS(akidb_last_error(), "model.safetensors");
    AKT_FALSE(exists(tmp, "model.safetensors"));
    AKT_FALSE(exists(tmp, "model.safetensors.part"));
    /* a wrong X-Linked-Etag (no sha in the listing) fails the same way */
    AKT_STATUS(pull("org/etagbad", tmp), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), "sha256 mismatch");
    /* and a right one passes */
    AKT_OK(pull("org/etag", tmp));
    st_rmtree(tmp);
}

AKT_TEST(pull_tree_api_and_shards)
{
    hub_start();
    char *tmp = st_tmpdir("pull");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tree", tmp);
    AKT_OK(pull("org/tree", dir));
    AKT_TRUE(exists(dir, "model.safetensors"));
    AKT_TRUE(exists(dir, "1_Pooling/config.json"));
    AKT_FALSE(exists(dir, "README.md"));
    snprintf(dir, sizeof dir, "%s/sharded", tmp);
    AKT_OK(pull("org/sharded", dir));
    AKT_TRUE(exists(dir, "model.safetensors.index.json"));
    AKT_TRUE(exists(dir, "model-00001-of-00002.safetensors"));
    AKT_TRUE(exists(dir, "model-00002-of-00002.safetensors"));
    AKT_FALSE(exists(dir, "model.safetensors"));
    char p[1200];
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    AKT_TRUE(same_file(p, find_blob("model-00002-of-00002.safetensors")));
    st_rmtree(tmp);
}

AKT_TEST(pull_dense_modules)
{
    hub_start();
    reset_counters();
    char *tmp = st_tmpdir("pull");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/dense", tmp);
    AKT_OK(pull("org/dense", dir));
    static const char *const want[] = { "2_Dense/config.json", "2_Dense/model.safetensors",
                                        "3_Dense/config.json", "3_Dense/model.safetensors",
                                        "spiece.model", "sentencepiece.bpe.model",
                                        "tokenizer.model", "vocab.json", "merges.txt",
                                        "1_Pooling/config.json", "sentence_bert_config.json" };
    char p[1200];
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, want[i]);
        AKT_TRUE(same_file(p, repo_blob("dense", want[i])));
    }
    snprintf(p, sizeof p, "%s/modules.json", dir);
    AKT_TRUE(same_file(p, find_blob("@dense/modules.json")));
    AKT_EQ_INT(g_weight_gets, 3);
    AKT_EQ_INT(g_other_gets, 0);
    /* the pulled folder loads with its Dense chain: 32 -> 8 -> 4 */
    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, NULL, &m));
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.dim, 4);
    akidb_model_free(m);
    /* the plain repository lists the same module folders but does not name
     * them in its modules.json: nothing of them is fetched */
    snprintf(dir, sizeof dir, "%s/plain", tmp);
    reset_counters();
    AKT_OK(pull("org/tiny", dir));
    AKT_FALSE(exists(dir, "2_Dense"));
    AKT_EQ_INT(g_weight_gets, 1);
    /* a Dense module with only pytorch_model.bin is refused, named */
    snprintf(dir, sizeof dir, "%s/densebin", tmp);
    AKT_STATUS(pull("org/densebin", dir), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "3_Dense");
    AKT_CONTAINS(akidb_last_error(), "pytorch_model.bin");
    st_rmtree(tmp);
}

AKT_TEST(pull_errors)
{
    hub_start();
    char *tmp = st_tmpdir("pull");
    AKT_STATUS(pull("org/missing", tmp), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "org/missing");
    AKT_STATUS(pull("org/binonly", tmp), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "pytorch_model.bin");
    AKT_STATUS(pull("../etc", tmp), AKIDB_EINVAL);
    AKT_STATUS(pull("a/b/c", tmp), AKIDB_EINVAL);
    ak_pull_opts o = {"http://127.0.0.1:1", "org/tiny", NULL, tmp, "", NULL, 1};
    AKT_STATUS(ak_pull(&o), AKIDB_EIO);
    st_rmtree(tmp);
}

AKT_MAIN(AKT_REG(pull_model), AKT_REG(pull_resumes_interrupted), AKT_REG(pull_resumes_part_file),
         AKT_REG(pull_sha_mismatch), AKT_REG(pull_tree_api_and_shards),
         AKT_REG(pull_dense_modules), AKT_REG(pull_errors))
