/*
 * routes_tei.h - what the Hugging Face text-embeddings-inference (TEI)
 * family (routes_tei.c) gives the rest of the server: TEI's fields of
 * GET /info.
 */
#ifndef AKIDB_SERVER_ROUTES_TEI_H
#define AKIDB_SERVER_ROUTES_TEI_H

#include "server/internal.h"

/* TEI's /info fields (model_id, model_sha, model_dtype, served_model_name,
 * model_type, max_concurrent_requests, max_input_length, max_batch_tokens,
 * max_batch_requests, max_client_batch_size, auto_truncate,
 * tokenization_workers, version, sha, docker_label) describing the model
 * TEI's /embed serves, as a new object to merge into GET /info's answer;
 * NULL on ENOMEM. */
json_t *ak_tei_info(ak_server *s);

#endif /* AKIDB_SERVER_ROUTES_TEI_H */
