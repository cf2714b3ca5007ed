/*
 * dp_cluster_bk.c - a cluster node's copy in the bucket and the bootstrap
 * of a node from another node's copy (dp_cluster_bk.h says what is where
 * and why the order of reads and writes keeps a restore consistent).
 *
 * The uploader is one thread: every UPLOAD_MS it reads the replicas'
 * applied numbers, and when they moved since the last upload, the store's
 * last_lsn right after them; it writes <prefix>/<id>/cluster-applied once
 * the store's backup shipped that far.  A failed upload is logged (once
 * until one succeeds) and tried again on the next round.
 */
#include "server/dp_cluster_bk.h"

#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)

#include "cluster/members.h"
#include "common/fileio.h"
#include "objstore/objstore.h"
#include "store/backup.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define UPLOAD_MS 500
#define APPLIED_KEY "cluster-applied"
#define APPLIED_MAX (1u << 20)

/* "<base>/<id>" or "<id>" (base without trailing '/'). */
static char *prefix_of(const char *base, const char *id)
{
    size_t bl = base ? strlen(base) : 0;
    while (bl && base[bl - 1] == '/')
        bl--;
    size_t cap = bl + strlen(id) + 2;
    char *p = ak_malloc(cap);
    if (p)
        snprintf(p, cap, "%.*s%s%s", (int)bl, bl ? base : "", bl ? "/" : "", id);
    return p;
}

static akidb_status s3_of(const akidb_backup_opts *o, ak_s3 **out)
{
    ak_s3_config c;
    ak_backup_s3_config(o, &c);
    return ak_s3_open(&c, out);
}

/* true when DIR/store has no snapshot or WAL file (or an unfinished
 * restore's marker): the store will be restored from the bucket. */
static bool store_empty(const char *data_dir)
{
    char *dir = ak_path_join(data_dir, "store");
    char *marker = dir ? ak_path_join(dir, "RESTORING") : NULL;
    bool empty = true;
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, "snap-", 5) == 0 || strncmp(e->d_name, "wal-", 4) == 0)
            empty = false;
    if (d)
        closedir(d);
    if (marker && ak_file_exists(marker))
        empty = true;
    ak_free(marker);
    ak_free(dir);
    return empty;
}

/* Downloads <src_prefix>/cluster-applied to DIR/cluster/applied; ENOENT
 * when the bucket has no such object. */
static akidb_status fetch_applied(ak_server *s, const akidb_backup_opts *o,
                                  const char *src_prefix)
{
    ak_s3 *s3 = NULL;
    akidb_status st = s3_of(o, &s3);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "--s3-bucket %s", o->bucket);
    char *key = prefix_of(src_prefix, APPLIED_KEY);
    char *folder = ak_path_join(s->data_dir, "cluster");
    char *path = folder ? ak_path_join(folder, "applied") : NULL;
    void *data = NULL;
    size_t len = 0;
    if (!key || !path)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    if (st == AKIDB_OK)
        st = ak_s3_get(s3, key, APPLIED_MAX, &data, &len);
    if (st == AKIDB_ENOENT)
        ak_fail(AKIDB_ENOENT, "s3://%s/%s does not exist", o->bucket, key);
    else if (st != AKIDB_OK)
        ak_fail_prefix(st, "reading s3://%s/%s", o->bucket, key);
    if (st == AKIDB_OK && (len < 16 || memcmp(data, "akidb-applied 1\n", 16) != 0))
        st = ak_fail(AKIDB_EFORMAT, "s3://%s/%s is not an applied-numbers file", o->bucket, key);
    if (st == AKIDB_OK && mkdir(folder, 0755) != 0 && errno != EEXIST)
        st = ak_fail(ak_io_status(errno), "mkdir %s: %s", folder, strerror(errno));
    if (st == AKIDB_OK)
        st = ak_io_replace_file(path, data, len, 0644, true);
    if (st == AKIDB_OK)
        fprintf(s->log, "akidb serve: cluster: applied numbers from s3://%s/%s:\n%.*s", o->bucket,
                key, (int)len, (const char *)data);
    ak_free(data);
    ak_free(key);
    ak_free(path);
    ak_free(folder);
    ak_s3_close(s3);
    return st;
}

void ak_cluster_bk_opts_free(ak_cluster_bk_opts *o)
{
    ak_free(o->prefix);
    ak_free(o->restore_prefix);
    memset(o, 0, sizeof *o);
}

akidb_status ak_cluster_bk_prepare(ak_server *s, ak_cluster_bk_opts *out)
{
    const ak_server_config *cfg = &s->cfg;
    AK_ASSERT(cfg->store_backup);
    memset(out, 0, sizeof *out);
    out->o = *cfg->store_backup;
    char id[AK_MEMBERS_ID_MAX + 1], from[AK_MEMBERS_ID_MAX + 1];
    akidb_status st = ak_dp_cluster_node_id(cfg->node_id, id, sizeof id);
    if (st != AKIDB_OK)
        return st;
    if (cfg->bootstrap_from &&
        (st = ak_dp_cluster_node_id(cfg->bootstrap_from, from, sizeof from)) != AKIDB_OK)
        return ak_fail_prefix(st, "--bootstrap-from");
    const char *base = cfg->store_backup->prefix;
    out->prefix = prefix_of(base, id);
    if (!out->prefix)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    out->o.prefix = out->prefix;
    if (!store_empty(s->data_dir)) {
        if (cfg->bootstrap_from)
            fprintf(s->log, "akidb serve: cluster: the data folder holds a store: "
                            "--bootstrap-from %s is ignored\n",
                    from);
        return AKIDB_OK;
    }
    const char *src = cfg->bootstrap_from ? from : id;
    char *src_prefix = prefix_of(base, src);
    if (!src_prefix)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    st = fetch_applied(s, &out->o, src_prefix);
    if (st == AKIDB_ENOENT && !cfg->bootstrap_from) {
        /* a node's first start, or its copy has no numbers yet: the store
         * (if any) is restored and every shard is read from its start */
        ak_clear_error();
        char *folder = ak_path_join(s->data_dir, "cluster");
        char *path = folder ? ak_path_join(folder, "applied") : NULL;
        if (path && ak_file_exists(path))
            st = ak_io_unlink(path);   /* numbers of a store that is gone */
        else
            st = AKIDB_OK;
        ak_free(path);
        ak_free(folder);
    } else if (st != AKIDB_OK) {
        st = ak_fail_prefix(st, "--bootstrap-from %s: node %s's copy", src, src);
    }
    if (st == AKIDB_OK && cfg->bootstrap_from) {
        out->restore_prefix = src_prefix;
        out->o.restore_prefix = src_prefix;
        fprintf(s->log, "akidb serve: cluster: restoring the store from s3://%s/%s/, backing "
                        "it up under s3://%s/%s/\n",
                out->o.bucket, src_prefix, out->o.bucket, out->prefix);
    } else {
        ak_free(src_prefix);
    }
    return st;
}

/* ---- the uploader ------------------------------------------------------- */

struct ak_cluster_bk {
    ak_server *s;
    ak_replica *rep;
    ak_s3 *s3;
    char *key, *bucket;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, failing;
    size_t n;
    ak_replica_shard_stats *now;
    uint64_t *done, *pend;   /* applied numbers uploaded / waiting for the bucket */
    uint64_t pend_lsn;
    bool have_done, have_pend;
};

static akidb_status upload(ak_cluster_bk *b)
{
    size_t cap = 32 + b->n * 40, len = 0;
    char *text = ak_malloc(cap);
    if (!text)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    len = (size_t)snprintf(text, cap, "akidb-applied 1\n");
    for (size_t i = 0; i < b->n; i++)
        len += (size_t)snprintf(text + len, cap - len, "shard %u %" PRIu64 "\n", b->now[i].shard,
                                b->pend[i]);
    akidb_status st = ak_s3_put(b->s3, b->key, text, len, 0);
    ak_free(text);
    return st;
}

/* One round: takes new applied numbers, uploads pending ones the bucket
 * now covers. */
static void round_once(ak_cluster_bk *b)
{
    akidb_store_stats ss;
    if (!b->have_pend) {
        size_t got = ak_replica_stats(b->rep, b->now, b->n);
        bool moved = !b->have_done;
        for (size_t i = 0; i < b->n && i < got; i++) {
            moved = moved || b->now[i].applied != b->done[i];
            b->pend[i] = b->now[i].applied;
        }
        if (!moved)
            return;
        /* after the numbers: every record they count is in the WAL by now */
        akidb_store_get_stats(b->s->store, &ss);
        b->pend_lsn = ss.last_lsn;
        b->have_pend = true;
    }
    akidb_store_get_stats(b->s->store, &ss);
    if (ss.backup_shipped_lsn < b->pend_lsn)
        return;
    akidb_status st = upload(b);
    if (st == AKIDB_OK) {
        memcpy(b->done, b->pend, b->n * sizeof *b->done);
        b->have_done = true;
        b->have_pend = false;
        b->failing = false;
    } else if (!b->failing) {
        b->failing = true;
        fprintf(b->s->log, "akidb serve: cluster warning: uploading s3://%s/%s: %s (retrying)\n",
                b->bucket, b->key, akidb_last_error());
    }
}

static void *uploader_main(void *arg)
{
    ak_cluster_bk *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        pthread_mutex_unlock(&b->mu);
        round_once(b);
        pthread_mutex_lock(&b->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)UPLOAD_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!b->stop)
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void bk_free(ak_cluster_bk *b)
{
    ak_s3_close(b->s3);
    ak_free(b->key);
    ak_free(b->bucket);
    ak_free(b->now);
    ak_free(b->done);
    ak_free(b->pend);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    ak_free(b);
}

akidb_status ak_cluster_bk_start(ak_server *s, ak_replica *rep, const char *node_id,
                                 ak_cluster_bk **out)
{
    *out = NULL;
    const akidb_backup_opts *o = s->cfg.store_backup;
    AK_ASSERT(o && rep && node_id);
    ak_cluster_bk *b = ak_calloc(1, sizeof *b);
    if (!b)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->s = s;
    b->rep = rep;
    b->n = ak_replica_stats(rep, NULL, 0);
    char *prefix = prefix_of(o->prefix, node_id);
    b->key = prefix ? prefix_of(prefix, APPLIED_KEY) : NULL;
    ak_free(prefix);
    b->bucket = ak_strdup(o->bucket);
    b->now = ak_calloc(b->n ? b->n : 1, sizeof *b->now);
    b->done = ak_calloc(b->n ? b->n : 1, sizeof *b->done);
    b->pend = ak_calloc(b->n ? b->n : 1, sizeof *b->pend);
    akidb_status st = AKIDB_OK;
    if (!b->key || !b->bucket || !b->now || !b->done || !b->pend)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    if (st == AKIDB_OK && (st = s3_of(o, &b->s3)) != AKIDB_OK)
        ak_fail_prefix(st, "--s3-bucket %s", o->bucket);
    if (st == AKIDB_OK && pthread_create(&b->th, NULL, uploader_main, b) != 0)
        st = ak_fail(AKIDB_EIO, "no thread for the uploads of the applied numbers");
    if (st != AKIDB_OK) {
        bk_free(b);
        return st;
    }
    *out = b;
    return AKIDB_OK;
}

void ak_cluster_bk_stop(ak_cluster_bk *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    bk_free(b);
}

#endif /* AK_HAVE_STORE && AKIDB_HAVE_CLUSTER */
