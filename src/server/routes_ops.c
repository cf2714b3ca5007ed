/*
 * routes_ops.c - the operations routes: GET /health (liveness), /ready
 * (readiness: 503 with recovery progress while starting, and while the
 * store cannot persist - the disk refuses writes, or its background
 * snapshot fails - with the reason; in a cluster, until the replicas of
 * the held shards applied the write log's backlog), /info (version, the
 * CPU-feature table, the paths the kernels and the index run, and TEI's
 * model fields), /metrics
 * (Prometheus text).  They answer in every start-up phase and need no key.
 */
#include "server/route.h"
#include "common/cpu.h"
#include "index/index.h"
#include "server/routes_tei.h"
#include "server/dataplane.h"

#include <stdio.h>
#include <string.h>

static void route_health(ak_ctx *c)
{
    ak_reply_json(c, 200, json_pack("{s:s,s:s}", "status", "ok", "version",
                                    AKIDB_VERSION_STRING));
}

/* GET /info: the version and the CPU-feature table (common/cpu.h) with the
 * instruction-set paths the kernels and the index run. */
/* GET /info: AkiDB's version, CPU table and paths; once the models are
 * loaded, also TEI's fields for the model its /embed serves (routes_tei.c),
 * since TEI's clients read them here. */
static void route_info(ak_ctx *c)
{
    json_t *j = json_pack("{s:s,s:o,s:s,s:s}", "version", AKIDB_VERSION_STRING, "cpu",
                          ak_cpu_json(), "kernels", akidb_kernels_name(akidb_kernels_active()),
                          "index", akidb_kernels_name(ak_dist_path()));
    json_t *tei = atomic_load(&c->srv->phase) == AK_PHASE_READY ? ak_tei_info(c->srv) : NULL;
    if (j && tei)
        json_object_update_missing(j, tei);   /* AkiDB's "version" stays */
    json_decref(tei);
    ak_reply_json(c, 200, j);
}

/* True after answering 503 because the store's last background snapshot
 * failed (the WAL keeps every acknowledged write, but it grows and a
 * restart replays it all until a snapshot succeeds; the snapshot thread
 * retries after a back-off, on the next write). */
static bool snapshot_failing(ak_ctx *c)
{
#ifdef AK_HAVE_STORE
    akidb_store *st = c->srv->store;
    if (!st)
        return false;
    akidb_store_stats ss;
    akidb_store_get_stats(st, &ss);
    if (ss.snapshot_status == AKIDB_OK)
        return false;
    char msg[512];
    snprintf(msg, sizeof msg,
             "the last background snapshot failed (%s): %s; writes go on into the WAL, which "
             "keeps every acknowledged write; the snapshot is retried on a later write",
             akidb_status_name(ss.snapshot_status), ss.snapshot_error);
    ak_reply_json(c, 503, json_pack("{s:s,s:s,s:I,s:I}", "status", "snapshot_failing", "message",
                                    msg, "snapshots_failed", (json_int_t)ss.snapshots_failed,
                                    "wal_bytes", (json_int_t)ss.wal_bytes));
    c->resp->retry_after = 5;
    return true;
#else
    (void)c;
    return false;
#endif
}

static void route_ready(ak_ctx *c)
{
    ak_server *s = c->srv;
    if (atomic_load(&s->draining)) {
        ak_reply_error(c, 503, "draining", "the server is shutting down");
        return;
    }
    int phase = atomic_load(&s->phase);
    if (phase == AK_PHASE_STORE) {
        uint64_t done = atomic_load(&s->rec_done), total = atomic_load(&s->rec_total);
        ak_reply_json(c, 503, json_pack("{s:s,s:s,s:I,s:I,s:f}", "status", "recovering", "phase",
                                        atomic_load(&s->rec_wal) ? "wal" : "snapshot", "done_bytes",
                                        (json_int_t)done, "total_bytes", (json_int_t)total,
                                        "progress", total ? (double)done / (double)total : 0.0));
        c->resp->retry_after = 1;
        return;
    }
    if (phase == AK_PHASE_READY && atomic_load(&s->disk_full)) {
        ak_reply_json(c, 503, json_pack("{s:s,s:s}", "status", "disk_full", "message",
                                        "the last write failed: no space left on the device; "
                                        "reads are served, writes answer 507"));
        c->resp->retry_after = 5;
        return;
    }
    if (phase == AK_PHASE_READY && snapshot_failing(c))
        return;
#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)
    char why[512];
    int cready = phase == AK_PHASE_READY && s->dp != &ak_dp_local
                     ? ak_dp_cluster_ready(s->dp_ctx, why, sizeof why)
                     : 1;
    if (cready <= 0) {
        ak_reply_json(c, 503, json_pack("{s:s,s:s}", "status",
                                        cready < 0 ? "trimmed" : "catching_up", "message", why));
        c->resp->retry_after = 1;
        return;
    }
#endif
    if (phase == AK_PHASE_MODELS) {
        ak_reply_json(c, 503, json_pack("{s:s}", "status", "loading_models"));
        c->resp->retry_after = 1;
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:s,s:I,s:b,s:b}", "status", "ready", "models",
                                    (json_int_t)ak_models_count(s->models), "store",
                                    s->store != NULL, "auth", s->auth_on));
}

static void route_metrics(ak_ctx *c)
{
    ak_server *s = c->srv;
    ak_tbuf b = {0};
    ak_metrics_render(s->metrics, &b);
    if (atomic_load(&s->phase) == AK_PHASE_READY) {
        ak_models_render(s->models, &b);
        ak_store_metrics(s, &b);
    }
    ak_tbuf_printf(&b, "# HELP akidb_http_in_flight Requests being handled.\n"
                      "# TYPE akidb_http_in_flight gauge\nakidb_http_in_flight %ld\n"
                      "# HELP akidb_uptime_seconds Seconds since the server started.\n"
                      "# TYPE akidb_uptime_seconds gauge\nakidb_uptime_seconds %.3f\n"
                      "# HELP akidb_build_info Version of the running server.\n"
                      "# TYPE akidb_build_info gauge\nakidb_build_info{version=\"%s\"} 1\n",
                  atomic_load(&s->in_flight), ak_now() - s->started, AKIDB_VERSION_STRING);
    if (b.oom) {
        ak_tbuf_free(&b);
        ak_reply_oom(c->resp);
        return;
    }
    ak_reply_raw(c->resp, 200, b.p, b.len, "text/plain; version=0.0.4; charset=utf-8");
}

static const ak_route routes[] = {
    { "GET|HEAD", "/health", AK_ROLE_NONE, route_health, AK_RT_ANY_PHASE },
    { "GET|HEAD", "/ready", AK_ROLE_NONE, route_ready, AK_RT_ANY_PHASE },
    { "GET|HEAD", "/info", AK_ROLE_NONE, route_info, AK_RT_ANY_PHASE },
    { "GET", "/metrics", AK_ROLE_NONE, route_metrics, AK_RT_ANY_PHASE },
};

const ak_route_family ak_routes_ops = { "ops", AK_ROUTES(routes), NULL };
