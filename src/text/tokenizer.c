/*
 * tokenizer.c - loading a tokenizer: tokenizer.json (the fast tokenizer's full
 * description) is read into its parts - model, normalizers, pre-tokenizers,
 * post-processor, decoders, added tokens - each part found by its "type" in
 * the registry (registry.c).  Sequence containers are flattened here.  Any
 * type the registry does not know is refused by name, so that no model is
 * silently tokenized differently from Hugging Face.
 *
 * Folders without tokenizer.json are converted to the tree that the Hugging
 * Face converters would write and go through the same path (vocab_txt.c,
 * vocab_files.c, spm_model.c).
 */
#include "tok_internal.h"
#include "json_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static akidb_status oom(const char *origin)
{
    return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
}

void akidb_tokenizer_free(akidb_tokenizer *tok)
{
    if (!tok)
        return;
    if (tok->model)
        tok->model->kind->free(tok->model);
    for (size_t i = 0; i < tok->n_norm; i++)
        tok->norm[i]->kind->free(tok->norm[i]);
    for (size_t i = 0; i < tok->n_pre; i++)
        tok->pre[i]->kind->free(tok->pre[i]);
    for (size_t i = 0; i < tok->n_dec; i++)
        tok->dec[i]->kind->free(tok->dec[i]);
    ak_free(tok->norm);
    ak_free(tok->pre);
    ak_free(tok->dec);
    ak_template_free(&tok->tpl);
    ak_free(tok->id_tok);
    ak_free(tok->special);
    ak_free(tok->added_pool);
    ak_free(tok->added_ids);
    ak_matcher_free(&tok->raw);
    ak_matcher_free(&tok->norm_m);
    ak_free(tok);
}

/* ---- parts ------------------------------------------------------------- */

/* Which of the three part lists a walk fills. */
typedef enum part_list { PART_NORM, PART_PRETOK, PART_DEC } part_list;

static const struct {
    const char *field;        /* tokenizer.json key                            */
    const char *seq_key;      /* the list key of its Sequence type             */
} PARTS[3] = {
    {"normalizer", "normalizers"},
    {"pre_tokenizer", "pretokenizers"},
    {"decoder", "decoders"},
};

/* Builds one part of list `which` from j (type already read). */
static akidb_status build_part(akidb_tokenizer *tok, part_list which, const char *type,
                               const json_t *j, const ak_tok_load *ld, void **out)
{
    char names[512];
    const char *what = PARTS[which].field;
    switch (which) {
    case PART_NORM: {
        const ak_norm_kind *k = ak_tok_find_norm(type);
        if (k)
            return k->from_json(j, ld, (ak_normalizer **)out);
        ak_tok_norm_names(names, sizeof names);
        break;
    }
    case PART_PRETOK: {
        const ak_pretok_kind *k = ak_tok_find_pretok(type);
        if (k)
            return k->from_json(j, ld, (ak_pretok **)out);
        ak_tok_pretok_names(names, sizeof names);
        break;
    }
    case PART_DEC: {
        const ak_decoder_kind *k = ak_tok_find_decoder(type);
        if (k)
            return k->from_json(j, ld, (ak_decoder **)out);
        ak_tok_decoder_names(names, sizeof names);
        break;
    }
    }
    (void)tok;
    return ak_fail(AKIDB_EUNSUPPORTED, "%s: %s type '%s' is not supported (supported: %s)",
                   ld->origin, what, type, names);
}

static void free_part(part_list which, void *p)
{
    if (which == PART_NORM)
        ((ak_normalizer *)p)->kind->free(p);
    else if (which == PART_PRETOK)
        ((ak_pretok *)p)->kind->free(p);
    else
        ((ak_decoder *)p)->kind->free(p);
}

/* Appends part p to list `which`. */
static akidb_status append_part(akidb_tokenizer *tok, part_list which, void *p,
                                const char *origin)
{
    void ***list = which == PART_NORM ? (void ***)&tok->norm
                 : which == PART_PRETOK ? (void ***)&tok->pre : (void ***)&tok->dec;
    size_t *n = which == PART_NORM ? &tok->n_norm
              : which == PART_PRETOK ? &tok->n_pre : &tok->n_dec;
    void **nl = ak_realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl)
        return oom(origin);
    nl[(*n)++] = p;
    *list = nl;
    return AKIDB_OK;
}

/* Walks j (a part or a Sequence of parts, nested at most 8 deep). */
static akidb_status walk_parts(akidb_tokenizer *tok, part_list which, const json_t *j,
                               const char *origin, const char *path, int depth)
{
    if (!j || json_is_null(j))
        return AKIDB_OK;
    if (!json_is_object(j))
        return ak_tj_bad_type(origin, path, "an object", j);
    char field[192];
    snprintf(field, sizeof field, "%s.", path);
    const char *type;
    akidb_status st = ak_tj_str(j, "type", NULL, &type, origin, field);
    if (st != AKIDB_OK)
        return st;
    if (!type)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing \"type\"", origin, path);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(j, PARTS[which].seq_key);
        snprintf(field, sizeof field, "%s.%s", path, PARTS[which].seq_key);
        if (!json_is_array(list))
            return ak_tj_bad_type(origin, field, "an array", list);
        if (depth > 8)
            return ak_fail(AKIDB_EUNSUPPORTED, "%s: %s: Sequence nested too deeply", origin,
                           path);
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%zu]", field, i);
            if ((st = walk_parts(tok, which, item, origin, sub, depth + 1)) != AKIDB_OK)
                return st;
        }
        return AKIDB_OK;
    }
    ak_tok_load ld = {.origin = origin, .path = field};
    void *part = NULL;
    if ((st = build_part(tok, which, type, j, &ld, &part)) != AKIDB_OK)
        return st;
    if ((st = append_part(tok, which, part, origin)) != AKIDB_OK)
        free_part(which, part);
    return st;
}

static akidb_status load_model(akidb_tokenizer *tok, const json_t *model, const char *origin,
                               const ak_tok_spans *spans)
{
    if (!json_is_object(model))
        return ak_tj_bad_type(origin, "model", "an object", model);
    const char *type;
    akidb_status st = ak_tj_str(model, "type", NULL, &type, origin, "model.");
    if (st != AKIDB_OK)
        return st;
    if (!type) {
        /* Files written before "type" was stored: the fields tell. */
        if (json_object_get(model, "merges"))
            type = "BPE";
        else if (json_is_array(json_object_get(model, "vocab")))
            type = "Unigram";
        else if (json_object_get(model, "continuing_subword_prefix"))
            type = "WordPiece";
        else
            return ak_fail(AKIDB_EFORMAT, "%s: model: missing \"type\"", origin);
    }
    const ak_tok_model_kind *k = ak_tok_find_model(type);
    if (!k) {
        char names[256];
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: model type '%s' is not supported (supported: %s)",
                       origin, type, ak_tok_model_names(names, sizeof names));
    }
    ak_tok_load ld = {.origin = origin, .path = "model.", .spans = spans};
    return k->from_json(model, &ld, &tok->model);
}

/* ---- added tokens and the id table -------------------------------------- */

static akidb_status parse_added(const json_t *list, size_t bound, const char *origin,
                                ak_added_spec **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!list || json_is_null(list))
        return AKIDB_OK;
    if (!json_is_array(list))
        return ak_tj_bad_type(origin, "added_tokens", "an array", list);
    size_t n = json_array_size(list);
    ak_added_spec *specs = ak_calloc(n ? n : 1, sizeof *specs);
    if (!specs)
        return oom(origin);
    size_t i;
    json_t *item;
    akidb_status st = AKIDB_OK;
    json_array_foreach(list, i, item) {
        char f[64];
        snprintf(f, sizeof f, "added_tokens[%zu].", i);
        ak_added_spec *s = &specs[i];
        long long id;
        if (!json_is_object(item)) {
            st = ak_tj_bad_type(origin, f, "an object", item);
            break;
        }
        if ((st = ak_tj_int(item, "id", -1, 0, (long long)bound - 1, &id, origin, f)) ||
            (st = ak_tj_str(item, "content", NULL, &s->content, origin, f)) ||
            (st = ak_tj_bool(item, "special", false, &s->special, origin, f)) ||
            (st = ak_tj_bool(item, "single_word", false, &s->single_word, origin, f)) ||
            (st = ak_tj_bool(item, "lstrip", false, &s->lstrip, origin, f)) ||
            (st = ak_tj_bool(item, "rstrip", false, &s->rstrip, origin, f)) ||
            (st = ak_tj_bool(item, "normalized", !s->special, &s->normalized, origin, f)))
            break;
        if (!s->content || id < 0) {
            st = ak_fail(AKIDB_EFORMAT, "%s: %s: missing \"%s\"", origin, f,
                         s->content ? "id" : "content");
            break;
        }
        s->id = (int32_t)id;
    }
    if (st != AKIDB_OK) {
        ak_free(specs);
        return st;
    }
    *out = specs;
    *n_out = n;
    return AKIDB_OK;
}

/* id -> token over the model and the added tokens (an added token's string
 * wins for its id, as in Hugging Face's id_to_token); special flags. */
static akidb_status build_id_table(akidb_tokenizer *tok, const ak_added_spec *specs,
                                   size_t n_specs, const char *origin)
{
    size_t size = tok->model->n_ids, pool = 0;
    for (size_t i = 0; i < n_specs; i++) {
        if ((size_t)specs[i].id + 1 > size)
            size = (size_t)specs[i].id + 1;
        pool += strlen(specs[i].content) + 1;
    }
    tok->vocab_size = size;
    tok->id_tok = ak_calloc(size ? size : 1, sizeof *tok->id_tok);
    tok->special = ak_calloc(size ? size : 1, 1);
    tok->added_pool = ak_malloc(pool ? pool : 1);
    tok->added_ids = ak_malloc((n_specs ? n_specs : 1) * sizeof *tok->added_ids);
    if (!tok->id_tok || !tok->special || !tok->added_pool || !tok->added_ids)
        return oom(origin);
    if (tok->model->n_ids)
        memcpy(tok->id_tok, tok->model->id_tok, tok->model->n_ids * sizeof *tok->id_tok);
    char *p = tok->added_pool;
    for (size_t i = 0; i < n_specs; i++) {
        size_t l = strlen(specs[i].content) + 1;
        memcpy(p, specs[i].content, l);
        tok->id_tok[specs[i].id] = p;
        tok->special[specs[i].id] = specs[i].special;
        tok->added_ids[tok->n_added++] = specs[i].id;
        p += l;
    }
    return AKIDB_OK;
}

/* Text may be cut into chunks at ASCII whitespace before normalising when
 * every normalizer works per character and the pre-tokenizer splits at
 * whitespace anyway (BERT), and no normalised added token can span a cut. */
static bool is_chunkable(const akidb_tokenizer *tok)
{
    extern const ak_pretok_kind ak_pretok_bert;
    if (tok->norm_m.n || tok->n_pre != 1 || tok->pre[0]->kind != &ak_pretok_bert)
        return false;
    for (size_t i = 0; i < tok->n_norm; i++)
        if (!tok->norm[i]->kind->per_char)
            return false;
    return true;
}

static akidb_status from_tree(akidb_tokenizer *tok, const json_t *root, const char *origin,
                              const ak_tok_spans *spans)
{
    akidb_status st;
    if (!json_is_object(root))
        return ak_tj_bad_type(origin, "top level", "an object", root);
    const json_t *trunc = json_object_get(root, "truncation");
    (void)trunc;   /* callers choose truncation per call, as sentence-transformers */
    if ((st = load_model(tok, json_object_get(root, "model"), origin, spans)) ||
        (st = walk_parts(tok, PART_NORM, json_object_get(root, "normalizer"), origin,
                         "normalizer", 0)) ||
        (st = walk_parts(tok, PART_PRETOK, json_object_get(root, "pre_tokenizer"), origin,
                         "pre_tokenizer", 0)) ||
        (st = walk_parts(tok, PART_DEC, json_object_get(root, "decoder"), origin, "decoder",
                         0)))
        return st;
    const json_t *added_list = json_object_get(root, "added_tokens");
    size_t n_added = json_is_array(added_list) ? json_array_size(added_list) : 0;
    size_t bound = (tok->model->n_ids + n_added) * 2 + 4096;
    ak_tok_load ld = {.origin = origin, .path = "post_processor."};
    if ((st = ak_template_from_json(json_object_get(root, "post_processor"), &ld, bound,
                                    &tok->tpl)) != AKIDB_OK)
        return st;
    ak_added_spec *specs;
    size_t n_specs;
    if ((st = parse_added(added_list, bound, origin, &specs, &n_specs)) != AKIDB_OK)
        return st;
    if ((st = ak_added_build(tok, specs, n_specs, origin)) == AKIDB_OK)
        st = build_id_table(tok, specs, n_specs, origin);
    ak_free(specs);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < tok->tpl.n_single; i++)
        for (size_t k = 0; k < tok->tpl.single[i].n_ids; k++)
            if ((size_t)tok->tpl.single[i].ids[k] >= tok->vocab_size)
                return ak_fail(AKIDB_EFORMAT,
                               "%s: post_processor: special token id %d is not in the vocabulary",
                               origin, (int)tok->tpl.single[i].ids[k]);
    tok->chunkable = is_chunkable(tok);
    return AKIDB_OK;
}

akidb_status ak_tokenizer_from_tree(const json_t *root, const char *origin,
                                    akidb_tokenizer **out)
{
    AK_ASSERT(root && origin && out);
    *out = NULL;
    akidb_tokenizer *tok = ak_calloc(1, sizeof *tok);
    if (!tok)
        return oom(origin);
    akidb_status st = from_tree(tok, root, origin, NULL);
    if (st != AKIDB_OK) {
        akidb_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return AKIDB_OK;
}

akidb_status ak_tok_parse_json(const char *text, size_t len, const char *origin,
                               json_t **out)
{
    json_error_t err;
    memset(&err, 0, sizeof err);    /* see parse_rest */
    long injected = ak_alloc_injected_failures();
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (*out)
        return AKIDB_OK;
    /* jansson reports running out of memory in its lexer as a syntax error
     * with an empty text (see ak_json_parse) */
    if (json_error_code(&err) == json_error_out_of_memory || err.text[0] == '\0' ||
        ak_alloc_injected_failures() > injected)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory parsing JSON", origin);
    return ak_fail(AKIDB_EFORMAT, "%s: malformed JSON at line %d column %d: %s", origin,
                   err.line, err.column, err.text);
}

/* The parts of tokenizer.json that jansson parses: the text with the spans
 * of model.vocab and model.merges cut out, each replaced by an empty
 * container of its kind ("{}" / "[]"), so that the tree keeps their keys and
 * types and the model reads their entries from the spans. */
typedef struct rest_text {
    char *text;
    size_t len;
    const ak_js_span *cut[2];    /* in text order */
    size_t n_cut;
} rest_text;

static akidb_status cut_spans(const ak_tok_spans *t, const char *origin, rest_text *r)
{
    r->n_cut = 0;
    if (t->vocab.len)
        r->cut[r->n_cut++] = &t->vocab;
    if (t->merges.len)
        r->cut[r->n_cut++] = &t->merges;
    if (r->n_cut == 2 && r->cut[0]->off > r->cut[1]->off) {
        const ak_js_span *x = r->cut[0];
        r->cut[0] = r->cut[1];
        r->cut[1] = x;
    }
    size_t len = t->len;
    for (size_t k = 0; k < r->n_cut; k++)
        len -= r->cut[k]->len - 2;
    if (!(r->text = ak_malloc(len + 1)))
        return oom(origin);
    size_t from = 0, at = 0;
    for (size_t k = 0; k < r->n_cut; k++) {
        const ak_js_span *c = r->cut[k];
        memcpy(r->text + at, t->text + from, c->off - from);
        at += c->off - from;
        r->text[at++] = c->open;
        r->text[at++] = c->open == '{' ? '}' : ']';
        from = c->off + c->len;
    }
    memcpy(r->text + at, t->text + from, t->len - from);
    r->len = len;
    r->text[len] = '\0';
    return AKIDB_OK;
}

/* Byte pos of the cut text as a byte of the whole text. */
static size_t uncut_pos(const rest_text *r, size_t pos)
{
    size_t shift = 0;
    for (size_t k = 0; k < r->n_cut; k++) {
        if (pos < r->cut[k]->off - shift + 2)
            break;
        shift += r->cut[k]->len - 2;
    }
    return pos + shift;
}

/* Parses text (the cut text of r when r has cuts) with jansson. */
static akidb_status parse_rest(const ak_tok_spans *t, const rest_text *r, const char *origin,
                               json_t **out)
{
    /* jansson leaves the error's code byte unset when it fails without
     * setting an error (some of its out-of-memory paths): start from zeros */
    json_error_t err;
    memset(&err, 0, sizeof err);
    long injected = ak_alloc_injected_failures();
    const char *text = r->n_cut ? r->text : t->text;
    *out = json_loadb(text, r->n_cut ? r->len : t->len, JSON_REJECT_DUPLICATES, &err);
    if (*out)
        return AKIDB_OK;
    /* The scanner accepted the text, as jansson does (fuzz_tok_scan checks
     * that they agree), so a failure other than a duplicate key is jansson
     * running out of memory, which it reports as a syntax error when it
     * happens in its lexer. */
    if (json_error_code(&err) != json_error_duplicate_key || err.text[0] == '\0' ||
        ak_alloc_injected_failures() > injected)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory parsing JSON", origin);
    int line, col;
    ak_js_line_col(t->text, t->len, uncut_pos(r, err.position > 0 ? (size_t)err.position : 0),
                   &line, &col);
    return ak_fail(AKIDB_EFORMAT, "%s: malformed JSON at line %d column %d: %s", origin, line,
                   col, err.text);
}

/* tokenizer.json in three steps: the scanner validates the whole text and
 * finds model.vocab and model.merges (json_scan.h); jansson parses the rest;
 * the models read their entries from the spans. */
akidb_status ak_tokenizer_from_json(const char *json, size_t len, const char *origin,
                                    akidb_tokenizer **out)
{
    AK_ASSERT(json && origin && out);
    *out = NULL;
    ak_json_init();
    ak_tok_spans spans;
    rest_text rest = {0};
    json_t *root = NULL;
    akidb_status st = ak_js_scan_tokenizer(json, len, origin, &spans);
    if (st == AKIDB_OK && (spans.vocab.len || spans.merges.len))
        st = cut_spans(&spans, origin, &rest);
    if (st == AKIDB_OK)
        st = parse_rest(&spans, &rest, origin, &root);
    ak_free(rest.text);
    if (st != AKIDB_OK)
        return st;
    akidb_tokenizer *tok = ak_calloc(1, sizeof *tok);
    if (!tok) {
        json_decref(root);
        return oom(origin);
    }
    st = from_tree(tok, root, origin, &spans);
    json_decref(root);
    if (st != AKIDB_OK) {
        akidb_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return AKIDB_OK;
}

/* ---- public -------------------------------------------------------------- */

/* Reads dir/name if it exists: *data NULL when absent. */
akidb_status ak_tok_read_optional(const char *dir, const char *name, char **path,
                                  char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    *path = ak_path_join(dir, name);
    if (!*path)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (!ak_file_exists(*path))
        return AKIDB_OK;
    return ak_read_file(*path, AK_TOK_MAX_FILE, data, len);
}

/* Reads the file path (at most AK_TOK_MAX_FILE bytes) into memory from
 * ak_table_alloc: a large tokenizer.json then lands in huge pages, which
 * spares the page faults of reading it and the page walks of scanning it
 * (together about as costly as building the tokenizer, on virtual
 * machines).  Free *data with ak_table_free. */
static akidb_status read_big(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        akidb_status st = ak_fail(errno == ENOENT ? AKIDB_ENOENT : AKIDB_EIO, "%s: %s", path,
                                  strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    akidb_status st = AKIDB_OK;
    size_t n = (size_t)sb.st_size, got = 0;
    char *buf = NULL;
    if (!S_ISREG(sb.st_mode))
        st = ak_fail(AKIDB_EIO, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > AK_TOK_MAX_FILE)
        st = ak_fail(AKIDB_ETOOLONG, "%s: file of %lld bytes exceeds the limit of %zu", path,
                     (long long)sb.st_size, AK_TOK_MAX_FILE);
    else if (!(buf = ak_table_alloc(n + 1, -1)))
        st = ak_fail(AKIDB_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    while (st == AKIDB_OK && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            st = r < 0 ? ak_fail(AKIDB_EIO, "%s: %s", path, strerror(errno))
                       : ak_fail(AKIDB_EIO, "%s: file shrank while reading", path);
        else
            got += (size_t)r;
    }
    close(fd);
    if (st != AKIDB_OK) {
        ak_table_free(buf);
        return st;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return AKIDB_OK;
}

akidb_status akidb_tokenizer_load(const char *dir, akidb_tokenizer **out)
{
    AK_ASSERT(dir && out);
    *out = NULL;
    char *path = ak_path_join(dir, "tokenizer.json"), *json = NULL;
    size_t n_json;
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    akidb_status st;
    if (!ak_file_exists(path)) {
        st = ak_tokenizer_from_folder(dir, out);
    } else if ((st = read_big(path, &json, &n_json)) == AKIDB_OK) {
        st = ak_tokenizer_from_json(json, n_json, path, out);
        ak_table_free(json);
    }
    ak_free(path);
    return st;
}

size_t akidb_tokenizer_vocab_size(const akidb_tokenizer *tok)
{
    AK_ASSERT(tok);
    return tok->vocab_size;
}

const char *akidb_tokenizer_id_to_token(const akidb_tokenizer *tok, int32_t id)
{
    AK_ASSERT(tok);
    if (id < 0 || (size_t)id >= tok->vocab_size)
        return NULL;
    return tok->id_tok[id];
}

int32_t akidb_tokenizer_token_to_id(const akidb_tokenizer *tok, const char *token)
{
    AK_ASSERT(tok && token);
    /* Added tokens first, as Hugging Face's token_to_id. */
    for (size_t i = 0; i < tok->n_added; i++)
        if (strcmp(tok->id_tok[tok->added_ids[i]], token) == 0)
            return tok->added_ids[i];
    return ak_tok_model_id(tok->model, token, strlen(token));
}
