/*
 * test_s3_sig.h - part of test_s3.c: a Signature Version 4 verifier written
 * from AWS's specification with OpenSSL's HMAC (checked against AWS's
 * published S3 examples), a stub HTTP server on loopback that records the
 * requests it gets and answers from a script, and the cases that use them:
 * the signature libcurl computes for our requests, retries, and error
 * answers on the wire.
 */

/* ---- SigV4 verifier ----------------------------------------------------------------- */

static void hmac(const void *key, size_t kn, const char *msg, unsigned char out[32])
{
    unsigned ol = 0;
    HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)msg, strlen(msg), out, &ol);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes %XX then encodes as SigV4 wants (unreserved kept; '/' kept if
 * slash), appending to out. */
static void canon_encode(const char *b, const char *e, bool slash, char *out, size_t cap)
{
    size_t n = strlen(out);
    for (const char *p = b; p < e && n + 4 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%' && p + 2 < e && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            c = (unsigned char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        }
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (slash && c == '/'))
            out[n++] = (char)c;
        else
            n += (size_t)sprintf(out + n, "%%%02X", c);
    }
    out[n] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The value of header name (case-insensitive) in a request head, trimmed,
 * into out; false if absent. */
static bool head_get(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *l = p + 2;
        if (!strncasecmp(l, name, nl) && l[nl] == ':') {
            const char *v = l + nl + 1, *e = strstr(v, "\r\n");
            if (!e)
                e = v + strlen(v);
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            size_t k = 0;
            for (const char *q = v; q < e && k + 1 < cap; q++)   /* collapse runs of spaces */
                if (!(*q == ' ' && k && out[k - 1] == ' '))
                    out[k++] = *q;
            out[k] = '\0';
            return true;
        }
    }
    return false;
}

/* Verifies the Authorization header of a request head (request line and
 * headers, CRLF-separated) with secret; the payload hash is the request's
 * x-amz-content-sha256.  Returns NULL if the signature matches, else why. */
static const char *sigv4_verify(const char *head, const char *secret)
{
    static char why[256];
    char auth[1024], amzdate[64], payload[128], method[16], target[2048];
    if (sscanf(head, "%15s %2047s", method, target) != 2)
        return "no request line";
    if (!head_get(head, "authorization", auth, sizeof auth))
        return "no Authorization header";
    if (!head_get(head, "x-amz-date", amzdate, sizeof amzdate))
        return "no x-amz-date header";
    if (!head_get(head, "x-amz-content-sha256", payload, sizeof payload))
        return "no x-amz-content-sha256 header";
    char akid[128], date[16], region[64], service[32], signed_h[512], sig[80];
    const char *c = strstr(auth, "Credential="), *sh = strstr(auth, "SignedHeaders="),
               *sg = strstr(auth, "Signature=");
    if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) != 0 || !c || !sh || !sg)
        return "Authorization is not AWS4-HMAC-SHA256 with Credential, SignedHeaders, Signature";
    if (sscanf(c + 11, "%127[^/]/%15[^/]/%63[^/]/%31[^/]/aws4_request", akid, date, region,
               service) != 4 ||
        sscanf(sh + 14, "%511[^, ]", signed_h) != 1 || sscanf(sg + 10, "%79[0-9a-f]", sig) != 1)
        return "cannot parse the Authorization fields";
    if (strncmp(amzdate, date, 8) != 0)
        return "credential date differs from x-amz-date";

    /* canonical request */
    static char creq[16384];
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    snprintf(creq, sizeof creq, "%s\n", method);
    canon_encode(target, target + strlen(target), true, creq, sizeof creq);
    strcat(creq, "\n");
    char *params[64];
    size_t np = 0;
    for (char *t = q ? strtok(q, "&") : NULL; t && np < 64; t = strtok(NULL, "&")) {
        char one[2048] = "";
        char *eq = strchr(t, '=');
        canon_encode(t, eq ? eq : t + strlen(t), false, one, sizeof one);
        strcat(one, "=");
        if (eq)
            canon_encode(eq + 1, eq + 1 + strlen(eq + 1), false, one, sizeof one);
        params[np++] = strdup(one);
    }
    qsort(params, np, sizeof params[0], cmp_str);
    for (size_t i = 0; i < np; i++) {
        if (i)
            strcat(creq, "&");
        strcat(creq, params[i]);
        free(params[i]);
    }
    strcat(creq, "\n");
    char names[512];
    snprintf(names, sizeof names, "%s", signed_h);
    for (char *h = strtok(names, ";"); h; h = strtok(NULL, ";")) {
        char v[2048];
        if (!head_get(head, h, v, sizeof v)) {
            snprintf(why, sizeof why, "signed header '%s' was not sent", h);
            return why;
        }
        size_t n = strlen(creq);
        snprintf(creq + n, sizeof creq - n, "%s:%s\n", h, v);
    }
    size_t n = strlen(creq);
    snprintf(creq + n, sizeof creq - n, "\n%s\n%s", signed_h, payload);

    /* string to sign, key derivation, signature */
    char creq_hash[65], sts[512], key0[256], hex[65];
    sha256_hex(creq, strlen(creq), creq_hash);
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amzdate, date,
             region, service, creq_hash);
    unsigned char k1[32], k2[32], k3[32], k4[32], s[32];
    snprintf(key0, sizeof key0, "AWS4%s", secret);
    hmac(key0, strlen(key0), date, k1);
    hmac(k1, 32, region, k2);
    hmac(k2, 32, service, k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts, s);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", s[i]);
    if (strcmp(hex, sig) != 0) {
        snprintf(why, sizeof why, "signature %s, recomputed %s", sig, hex);
        return why;
    }
    return NULL;
}

/* AWS's published Signature V4 examples for S3 (the "GET Object" and "PUT
 * Object" examples of the S3 API reference, authenticating requests with the
 * Authorization header), then one changed byte, which must not verify. */
AKT_TEST(sigv4_vectors)
{
    static const char secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    static const char get[] =
        "GET /test.txt HTTP/1.1\r\n"
        "Host: examplebucket.s3.amazonaws.com\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n"
        "Range: bytes=0-9\r\n"
        "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"
        "x-amz-date: 20130524T000000Z\r\n\r\n";
    static const char put[] =
        "PUT /test%24file.text HTTP/1.1\r\n"
        "Host: examplebucket.s3.amazonaws.com\r\n"
        "Date: Fri, 24 May 2013 00:00:00 GMT\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-storage-class,"
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd\r\n"
        "x-amz-date: 20130524T000000Z\r\n"
        "x-amz-storage-class: REDUCED_REDUNDANCY\r\n"
        "x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\n"
        "\r\n";
    const char *why = sigv4_verify(get, secret);
    AKT_TRUE(why == NULL || (fprintf(stderr, "  get: %s\n", why), 0));
    why = sigv4_verify(put, secret);
    AKT_TRUE(why == NULL || (fprintf(stderr, "  put: %s\n", why), 0));
    char bad[sizeof get];
    memcpy(bad, get, sizeof get);
    *strstr(bad, "bytes=0-9") = 'B';
    AKT_TRUE(sigv4_verify(bad, secret) != NULL);
    AKT_TRUE(sigv4_verify(get, "wrong") != NULL);
    /* the payload hash of "Welcome to Amazon S3." as the example gives it */
    char h[65];
    sha256_hex("Welcome to Amazon S3.", 21, h);
    AKT_EQ_STR(h, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

/* ---- stub HTTP server ------------------------------------------------------------------ */

typedef struct stub {
    int fd, port;
    pthread_t th;
    const char *const *answers;    /* one full HTTP answer per connection */
    int n_answers;
    char heads[8][8192];           /* request heads received, in order */
    size_t body_len[8];
    char body_sha[8][65];
    int got;
} stub;

static void *stub_main(void *arg)
{
    stub *st = arg;
    for (int i = 0; i < st->n_answers; i++) {
        int c = accept(st->fd, NULL, NULL);
        if (c < 0)
            break;
        char buf[8192 * 2];
        size_t n = 0;
        char *end = NULL;
        while (!end && n + 1 < sizeof buf) {
            ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
            buf[n] = '\0';
            end = strstr(buf, "\r\n\r\n");
        }
        int slot = i < 8 ? i : 7;
        size_t hl = end ? (size_t)(end + 4 - buf) : n;
        snprintf(st->heads[slot], sizeof st->heads[slot], "%.*s", (int)hl, buf);
        char cl[32] = "0";
        head_get(st->heads[slot], "content-length", cl, sizeof cl);
        size_t want = (size_t)atol(cl), have = n - hl;
        char *body = malloc(want + 1);
        memcpy(body, buf + hl, have < want ? have : want);
        while (have < want) {
            ssize_t k = read(c, body + have, want - have);
            if (k <= 0)
                break;
            have += (size_t)k;
        }
        st->body_len[slot] = have;
        sha256_hex(body, have, st->body_sha[slot]);
        free(body);
        const char *a = st->answers[i];
        if (write(c, a, strlen(a)) < 0)
            perror("stub write");
        close(c);
        st->got = i + 1;
    }
    return NULL;
}

static void stub_start(stub *st, const char *const *answers, int n)
{
    memset(st, 0, sizeof *st);
    st->answers = answers;
    st->n_answers = n;
    st->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    AKT_TRUE(bind(st->fd, (struct sockaddr *)&a, sizeof a) == 0);
    AKT_TRUE(listen(st->fd, 8) == 0);
    AKT_TRUE(getsockname(st->fd, (struct sockaddr *)&a, &al) == 0);
    st->port = ntohs(a.sin_port);
    AKT_TRUE(pthread_create(&st->th, NULL, stub_main, st) == 0);
}

static void stub_stop(stub *st)
{
    shutdown(st->fd, SHUT_RDWR);
    pthread_join(st->th, NULL);
    close(st->fd);
}

static ak_s3 *stub_client(const stub *st, const char *token)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", st->port);
    ak_s3_config c = AK_S3_CONFIG_INIT;
    c.endpoint = ep;
    c.region = "eu-west-1";
    c.bucket = "bkt";
    c.path_style = 1;
    c.access_key = "AKIDEXAMPLE";
    c.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    c.session_token = token;
    c.retry_base_ms = 5;
    ak_s3 *s = NULL;
    AKT_OK(ak_s3_open(&c, &s));
    return s;
}

#define OK_EMPTY "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define OK_ETAG "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

/* What libcurl sends for our put, get and list, as the stub received it,
 * verified with the verifier above: signature, payload hash = SHA-256 of
 * the body received, session token signed. */
AKT_TEST(signing)
{
    static const char *const answers[] = {
        OK_ETAG, OK_EMPTY,
        ("HTTP/1.1 200 OK\r\nContent-Length: 69\r\nConnection: close\r\n\r\n"
         "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"),
        OK_EMPTY,
    };
    static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    stub st;
    stub_start(&st, answers, 4);
    ak_s3 *s = stub_client(&st, "FQoGZXIvYXdzEXAMPLE//token+/=");
    static const char body[] = "segment bytes \x01\x02\x03";
    AKT_OK(ak_s3_put(s, "seg/0001 a+b.bin", body, sizeof body, 0));
    void *data;
    size_t len;
    AKT_OK(ak_s3_get(s, "seg/0001 a+b.bin", 1024, &data, &len));
    AKT_EQ_INT(len, 0);
    ak_free(data);
    ak_s3_list l = {0};
    AKT_OK(ak_s3_list_keys(s, "seg/x=y z", 7, &l));
    AKT_EQ_INT(l.n, 0);
    ak_s3_list_free(&l);
    AKT_OK(ak_s3_delete(s, "seg/0001 a+b.bin"));
    ak_s3_close(s);
    stub_stop(&st);
    AKT_EQ_INT(st.got, 4);

    char want[65], v[256];
    sha256_hex(body, sizeof body, want);
    AKT_EQ_INT(st.body_len[0], sizeof body);
    AKT_EQ_STR(st.body_sha[0], want);
    for (int i = 0; i < 4; i++) {
        const char *why = sigv4_verify(st.heads[i], secret);
        if (why)
            fprintf(stderr, "  request %d: %s\n%s", i, why, st.heads[i]);
        AKT_TRUE(why == NULL);
        AKT_TRUE(head_get(st.heads[i], "x-amz-security-token", v, sizeof v));
        AKT_EQ_STR(v, "FQoGZXIvYXdzEXAMPLE//token+/=");
        AKT_TRUE(head_get(st.heads[i], "authorization", v, sizeof v));
        AKT_CONTAINS(v, "x-amz-security-token");       /* signed, not just sent */
        AKT_CONTAINS(v, "x-amz-content-sha256");
        AKT_CONTAINS(v, "/eu-west-1/s3/aws4_request");
    }
    AKT_TRUE(head_get(st.heads[0], "x-amz-content-sha256", v, sizeof v));
    AKT_EQ_STR(v, want);                                 /* the real payload hash */
    AKT_TRUE(strncmp(st.heads[0], "PUT /bkt/seg/0001%20a%2Bb.bin HTTP/1.1\r\n", 40) == 0);
    AKT_TRUE(head_get(st.heads[1], "x-amz-content-sha256", v, sizeof v));
    AKT_EQ_STR(v, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    AKT_CONTAINS(st.heads[2], "GET /bkt?list-type=2&max-keys=7&prefix=seg%2Fx%3Dy%20z HTTP");
    AKT_TRUE(strncmp(st.heads[3], "DELETE /bkt/seg/0001%20a%2Bb.bin", 32) == 0);
    /* a changed secret does not verify: the check can fail */
    AKT_TRUE(sigv4_verify(st.heads[0], "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") != NULL);
}

static char *xml_answer(const char *status, const char *code, const char *msg)
{
    static char bufs[8][1024];
    static int k;
    char body[512];
    int bl = snprintf(body, sizeof body,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                      "<Message>%s</Message><RequestId>1</RequestId></Error>", code, msg);
    char *b = bufs[k++ % 8];
    snprintf(b, 1024, "HTTP/1.1 %s\r\nContent-Type: application/xml\r\nConnection: close\r\n"
                      "Content-Length: %d\r\n\r\n%s", status, bl, body);
    return b;
}

/* 5xx / 429 retried with backoff up to max_attempts by idempotent calls; a
 * conditional put not; a refused connection an EIO naming curl's error. */
AKT_TEST(retry)
{
    const char *a1[] = {
        xml_answer("503 Slow Down", "SlowDown", "Please reduce your request rate."),
        xml_answer("500 Internal Server Error", "InternalError", "We encountered an error."),
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    };
    stub st;
    stub_start(&st, a1, 3);
    ak_s3 *s = stub_client(&st, NULL);
    void *data;
    size_t len;
    AKT_OK(ak_s3_get(s, "k", 100, &data, &len));
    AKT_EQ_INT(len, 5);
    AKT_TRUE(memcmp(data, "hello", 5) == 0);
    ak_free(data);
    AKT_EQ_INT(ak_s3_last_attempts(s), 3);
    ak_s3_close(s);
    stub_stop(&st);

    /* always 5xx / 429: EIO after max_attempts naming the last code */
    const char *a2[] = {
        xml_answer("500 Internal Server Error", "InternalError", "a"),
        xml_answer("429 Too Many Requests", "TooManyRequests", "b"),
        xml_answer("503 Service Unavailable", "ServiceUnavailable", "Reduce your rate"),
        xml_answer("503 Service Unavailable", "ServiceUnavailable", "Reduce your rate"),
    };
    stub_start(&st, a2, 4);
    s = stub_client(&st, NULL);
    ak_s3_stat hs;
    AKT_STATUS(ak_s3_delete(s, "dir/k"), AKIDB_EIO);
    AKT_CONTAINS(akidb_last_error(), "s3 delete bkt/dir/k: HTTP 503 ServiceUnavailable: "
                                     "Reduce your rate (after 4 attempts)");
    AKT_EQ_INT(ak_s3_last_attempts(s), 4);
    ak_s3_close(s);
    stub_stop(&st);

    /* a conditional put is not idempotent: one attempt */
    const char *a3[] = { xml_answer("500 Internal Server Error", "InternalError", "x") };
    stub_start(&st, a3, 1);
    s = stub_client(&st, NULL);
    AKT_STATUS(ak_s3_put(s, "k", "x", 1, AK_S3_IF_NONE_MATCH), AKIDB_EIO);
    AKT_EQ_INT(ak_s3_last_attempts(s), 1);
    AKT_CONTAINS(akidb_last_error(), "InternalError");
    ak_s3_close(s);
    stub_stop(&st);
    AKT_TRUE(head_get(st.heads[0], "if-none-match", (char[8]){0}, 8));

    /* nothing listens: EIO naming curl's reason and the endpoint */
    stub_start(&st, NULL, 0);
    int port = st.port;
    stub_stop(&st);           /* the port is closed again */
    st.port = port;
    s = stub_client(&st, NULL);
    AKT_STATUS(ak_s3_head(s, "k", &hs), AKIDB_EIO);
    AKT_CONTAINS(akidb_last_error(), "s3 head bkt/k: Couldn't connect to server");
    AKT_CONTAINS(akidb_last_error(), "(after 4 attempts)");
    ak_s3_close(s);
}

/* Error answers on the wire: statuses and messages naming the operation,
 * bucket/key and the S3 Code and Message. */
AKT_TEST(wire_errors)
{
    const char *a[] = {
        xml_answer("404 Not Found", "NoSuchKey", "The specified key does not exist."),
        xml_answer("403 Forbidden", "SignatureDoesNotMatch", "The request signature we "
                   "calculated does not match the signature you provided."),
        xml_answer("403 Forbidden", "AccessDenied", "Access Denied"),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        xml_answer("412 Precondition Failed", "PreconditionFailed", "At least one of the "
                   "pre-conditions you specified did not hold"),
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n0123456789a",
    };
    stub st;
    stub_start(&st, a, 6);
    ak_s3 *s = stub_client(&st, NULL);
    void *data = NULL;
    size_t len;
    ak_s3_stat hs;
    AKT_STATUS(ak_s3_get(s, "seg/1", 100, &data, &len), AKIDB_ENOENT);
    AKT_EQ_STR(akidb_last_error(),
               "s3 get bkt/seg/1: HTTP 404 NoSuchKey: The specified key does not exist.");
    AKT_STATUS(ak_s3_put(s, "seg/1", "x", 1, 0), AKIDB_EPERM);
    AKT_CONTAINS(akidb_last_error(), "s3 put bkt/seg/1: HTTP 403 SignatureDoesNotMatch");
    AKT_STATUS(ak_s3_delete(s, "seg/1"), AKIDB_EPERM);
    AKT_CONTAINS(akidb_last_error(), "s3 delete bkt/seg/1: HTTP 403 AccessDenied: Access Denied");
    AKT_STATUS(ak_s3_head(s, "seg/2", &hs), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "s3 head bkt/seg/2: HTTP 404 NotFound");
    AKT_STATUS(ak_s3_put(s, "seg/1", "x", 1, AK_S3_IF_NONE_MATCH), AKIDB_EEXIST);
    AKT_CONTAINS(akidb_last_error(), "PreconditionFailed");
    AKT_STATUS(ak_s3_get(s, "seg/3", 10, &data, &len), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "s3 get bkt/seg/3: object larger than the limit of 10 bytes");
    AKT_TRUE(data == NULL);
    AKT_STATUS(ak_s3_get(s, "", 10, &data, &len), AKIDB_EINVAL);
    ak_s3_close(s);
    stub_stop(&st);
}
