/*
 * fanout.h - a search answered by several nodes: the request sent to one
 * replica of each shard a node does not hold, in parallel (libcurl multi),
 * and the per-node top-k lists merged into one as a single index would
 * (by score, one hit per point id).
 *
 * The wire format is the cluster's own (POST /cluster/v1/search and
 * /cluster/v1/get, answered by routes_cluster.c from the peer's local store
 * only, never fanned out again), JSON both ways; this file owns both ends:
 *   search   {"tenant":T,"collection":C,"vector":[...],"top_k":K,"ef":E,
 *             "filter":<filter JSON or null>,"exact":bool,"with":mask}
 *   get      {"tenant":T,"collection":C,"ids":["..",..],"with":mask}
 *   reply    {"hits":[{"id":..,"score":..,"text":..,"payload":<JSON>,
 *             "vector":[..]}],"examined":N}
 * Floats are printed with 9 significant digits, so a score or a vector
 * component read back is the same float.
 */
#ifndef AKIDB_CLUSTER_FANOUT_H
#define AKIDB_CLUSTER_FANOUT_H

#include "common/common.h"
#include "akidb_store.h"

#define AK_FANOUT_PATH "/cluster/v1/search"
#define AK_FANOUT_GET_PATH "/cluster/v1/get"
#define AK_FANOUT_GET_MAX 100000   /* ids of one get request */

/* Encodes a search request (malloc'd, NUL-terminated). */
akidb_status ak_fanout_req_json(const char *tenant, const char *collection,
                                const akidb_search_req *req, char **out);

/* A parsed request: req's vector and filter_json point into it. */
typedef struct ak_fanout_req {
    char *tenant, *collection;
    akidb_search_req req;
    float *vector_buf;
    char *filter_buf;
} ak_fanout_req;

/* Parses a request body; AKIDB_EINVAL naming the field that is wrong. */
akidb_status ak_fanout_req_parse(const char *body, size_t len, ak_fanout_req *out);
void ak_fanout_req_free(ak_fanout_req *r);

/* Encodes a get request {"tenant":T,"collection":C,"ids":[..],"with":mask}
 * (malloc'd, NUL-terminated); 1 to AK_FANOUT_GET_MAX ids. */
akidb_status ak_fanout_get_json(const char *tenant, const char *collection,
                                const char *const *ids, size_t n, unsigned with, char **out);
/* A parsed get request. */
typedef struct ak_fanout_get {
    char *tenant, *collection;
    char **ids;
    size_t n;
    unsigned with;
} ak_fanout_get;
/* Parses a get request body; AKIDB_EINVAL naming the field that is wrong. */
akidb_status ak_fanout_get_parse(const char *body, size_t len, ak_fanout_get *out);
void ak_fanout_get_free(ak_fanout_get *g);

/* Encodes a reply (malloc'd, NUL-terminated): the hits of a search, or the
 * points a get found (their scores 0). */
akidb_status ak_fanout_reply_json(const akidb_points *pts, char **out);

/* Sends req_json to every url (base URLs, "http://host:port") at once with
 * the extra headers (NULL-terminated "Name: value" strings, e.g. the
 * caller's Authorization), waits up to timeout_s, and merges every reply's
 * hits into *merged (top_k best, one per id, decreasing score; examined
 * summed; *merged is empty or already holds hits, e.g. this node's own).
 * *failed[i] (failed may be NULL) is 1 for a node that did not answer 200
 * in time.  Returns AKIDB_OK when every node answered; else the
 * first failure's status with a message naming the node and the reason
 * (its HTTP status and error text, or the transport error), *merged still
 * holding what the others answered. */
akidb_status ak_fanout_search(const char *const *urls, size_t n, const char *const *headers,
                              const char *req_json, double timeout_s, size_t top_k,
                              akidb_points *merged, int *failed);

/* As ak_fanout_search, with body POSTed to path (AK_FANOUT_PATH or
 * AK_FANOUT_GET_PATH) of every url: the replies of gets merge the same way
 * (one point per id; give top_k = the number of ids asked for). */
akidb_status ak_fanout_post(const char *path, const char *const *urls, size_t n,
                            const char *const *headers, const char *body, double timeout_s,
                            size_t top_k, akidb_points *merged, int *failed);
/* Merges from into into (top_k best, one per id, decreasing score, ties by
 * id), taking from's items (from is left empty). */
akidb_status ak_fanout_merge(akidb_points *into, akidb_points *from, size_t top_k);

#endif /* AKIDB_CLUSTER_FANOUT_H */
