/*
 * pull.h - downloads a sentence-transformers model folder from the Hugging
 * Face Hub (or any server speaking its API) into a local folder: only the
 * files the engine reads, resumable, with size and sha256 checks.  Used by
 * `akidb pull` (src/cli/cmd_pull.c).
 */
#ifndef AKIDB_PULL_H
#define AKIDB_PULL_H

#include "akidb.h"

#include <stdio.h>

typedef struct ak_pull_opts {
    const char *endpoint;   /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *repo;       /* "org/name" (or a legacy "name")                  */
    const char *revision;   /* NULL: "main"                                     */
    const char *dir;        /* destination folder (created)                     */
    const char *token;      /* NULL: $HF_TOKEN (sent as Bearer), "" for none    */
    FILE *progress;         /* progress lines; NULL: silent                     */
    int attempts;           /* tries per file, resuming each time; 0: 4         */
} ak_pull_opts;

/* Lists the repository at the revision (GET /api/models/REPO/revision/REV,
 * falling back to the tree API), picks config.json, the tokenizer files,
 * model.safetensors (or the index and its shards), modules.json,
 * 1_Pooling/config.json, sentence_bert_config.json and
 * config_sentence_transformers.json, and downloads each one that is missing
 * or differs to DIR/FILE.part, then renames it.  An interrupted transfer
 * resumes from the .part file with a Range request, in this call (up to
 * `attempts` tries) or the next.  Sizes are checked when the Hub lists them,
 * sha256 for LFS files (listing or X-Linked-Etag) and the git blob id for
 * the others.  Fails with ENOENT (repository, revision or file not found),
 * EPERM (401/403: private or gated; set HF_TOKEN), EUNSUPPORTED (no
 * safetensors weights), ECORRUPT (checksum or size mismatch; the .part is
 * removed), EIO (network), EINVAL (bad repo or revision name). */
akidb_status ak_pull(const ak_pull_opts *o);

#endif
