/*
 * test_cli.c - the token commands of the akidb binary ($AKIDB_BIN, which
 * ctest sets): `akidb tokenize` (single texts and --pair) and
 * `akidb detokenize` (with and without --skip-special), their output formats
 * and their errors, run as child processes on files.
 *
 * The model folder is the committed tiny BERT (tests/golden/tiny/tiny_f16)
 * with the all-MiniLM-L6-v2 tokenizer of tests/data/minilm linked in.  The
 * expected ids and texts are the Hugging Face tokenizers library's (Rust,
 * through its Node binding "tokenizers" 0.23.2) for that tokenizer.json with
 * truncation at 128: Tokenizer.encode(text, pair) and decode(ids, skip), as
 * tests/ref/cli_ref.mjs prints them (detokenize_nul's too).
 */
#include "akt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- running the binary ------------------------------------------------------ */

static const char *src_dir(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

/* Makes folder tmp/name holding links to tiny_f16's model files and, with
 * tokenizer_json NULL, to the MiniLM tokenizer files; else a tokenizer.json
 * with that text.  Returns the folder (static storage, one per name). */
static const char *make_model(char *dir, size_t cap, const char *name,
                              const char *tokenizer_json)
{
    if (dir[0])
        return dir;
    static const char *const from_tiny[] = {"config.json", "model.safetensors", "modules.json",
                                            "1_Pooling"};
    static const char *const from_minilm[] = {"tokenizer.json", "vocab.txt",
                                              "tokenizer_config.json",
                                              "special_tokens_map.json"};
    char src[PATH_MAX], abs_src[PATH_MAX], from[PATH_MAX * 2], to[PATH_MAX * 2];
    snprintf(dir, cap, "%s/%s", akt_tmpdir("akidb_cli_"), name);
    AKT_TRUE(mkdir(dir, 0700) == 0);
    for (int s = 0; s < (tokenizer_json ? 1 : 2); s++) {
        snprintf(src, sizeof src, "%s/%s", src_dir(),
                 s == 0 ? "tests/golden/tiny/tiny_f16" : "tests/data/minilm");
        AKT_TRUE(realpath(src, abs_src) != NULL);
        for (size_t i = 0; i < 4; i++) {
            const char *file = s == 0 ? from_tiny[i] : from_minilm[i];
            snprintf(from, sizeof from, "%s/%s", abs_src, file);
            snprintf(to, sizeof to, "%s/%s", dir, file);
            if (symlink(from, to) != 0)
                AKT_FAIL_("symlink %s: %s", to, strerror(errno));
        }
    }
    if (tokenizer_json) {
        snprintf(to, sizeof to, "%s/tokenizer.json", dir);
        FILE *f = fopen(to, "wb");
        AKT_TRUE(f != NULL);
        fputs(tokenizer_json, f);
        AKT_EQ_INT(fclose(f), 0);
    }
    return dir;
}

/* The tiny BERT with the all-MiniLM-L6-v2 tokenizer. */
static const char *minilm(void)
{
    static char dir[512];
    return make_model(dir, sizeof dir, "minilm", NULL);
}

typedef struct run_result {
    int rc;             /* exit status; -1 when it did not exit normally */
    char out[8192];     /* stdout (cut to fit)                            */
    char err[4096];     /* stderr (cut to fit)                            */
} run_result;

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    AKT_TRUE(f != NULL);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* Runs `akidb CMD --model MODEL ARGS...` with input as stdin (the arguments
 * end with NULL; at most 6). */
static void run(run_result *r, const char *model, const char *input, const char *cmd, ...)
{
    const char *bin = getenv("AKIDB_BIN");
    if (!bin || !*bin)
        AKT_FAIL_("AKIDB_BIN is not set (run this test through ctest)");
    const char *tmp = akt_tmpdir("akidb_cli_");
    char in_path[300], out_path[300], err_path[300];
    snprintf(in_path, sizeof in_path, "%s/in.txt", tmp);
    snprintf(out_path, sizeof out_path, "%s/out.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/err.txt", tmp);
    FILE *f = fopen(in_path, "wb");
    AKT_TRUE(f != NULL);
    fputs(input, f);
    fclose(f);

    const char *argv[12] = {bin, cmd, "--model", model};
    size_t argc = 4;
    va_list ap;
    va_start(ap, cmd);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 10;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    fflush(NULL);
    pid_t pid = fork();
    AKT_TRUE(pid >= 0);
    if (pid == 0) {
        int in = open(in_path, O_RDONLY), out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    AKT_TRUE(waitpid(pid, &status, 0) == pid);
    r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    slurp(out_path, r->out, sizeof r->out);
    slurp(err_path, r->err, sizeof r->err);
    if (r->err[0])
        fprintf(stderr, "    akidb %s stderr: %s", cmd, r->err);
}

/* ---- tokenize ------------------------------------------------------------------- */

#define T_HELLO "Hello, world! How are you?"
#define T_CAFE "na\xC3\xAFve caf\xC3\xA9 \xE2\x80\x94 \xE6\x9D\xB1\xE4\xBA\xAC"
#define T_QUOTE "say \"hi\" \\ it's back\\slash"
#define T_WORDS "unaffable tokenizers"

#define IDS_HELLO "[101,7592,1010,2088,999,2129,2024,2017,1029,102]"
#define IDS_CAFE "[101,15743,7668,1517,1879,1755,102]"
#define IDS_EMPTY "[101,102]"
#define IDS_QUOTE "[101,2360,1000,7632,1000,1032,2009,1005,1055,2067,1032,18296,102]"
#define IDS_WORDS "[101,14477,20961,3468,19204,17629,2015,102]"

AKT_TEST(tokenize_texts)
{
    run_result r;
    run(&r, minilm(), T_HELLO "\n" T_CAFE "\r\n\n" T_QUOTE "\n" T_WORDS, "tokenize", NULL);
    AKT_EQ_INT(r.rc, 0);
    AKT_EQ_STR(r.out, IDS_HELLO "\n" IDS_CAFE "\n" IDS_EMPTY "\n" IDS_QUOTE "\n" IDS_WORDS "\n");
}

AKT_TEST(tokenize_pairs)
{
    run_result r;
    run(&r, minilm(), "what is akidb?\tA small vector database.\n" T_HELLO "\t\n", "tokenize",
        "--pair", NULL);
    AKT_EQ_INT(r.rc, 0);
    AKT_EQ_STR(r.out, "{\"ids\":[101,2054,2003,17712,3593,2497,1029,102,1037,2235,9207,7809,"
                      "1012,102],\"type_ids\":[0,0,0,0,0,0,0,0,1,1,1,1,1,1]}\n"
                      "{\"ids\":[101,7592,1010,2088,999,2129,2024,2017,1029,102,102],"
                      "\"type_ids\":[0,0,0,0,0,0,0,0,0,0,1]}\n");
    /* a line without a tab stops the run, naming the line */
    run(&r, minilm(), "a\tb\nno tab here\nc\td\n", "tokenize", "--pair", NULL);
    AKT_EQ_INT(r.rc, 1);
    AKT_CONTAINS(r.err, "<stdin>:2");
    AKT_CONTAINS(r.err, "tab");
    AKT_EQ_STR(r.out, "{\"ids\":[101,1037,102,1038,102],\"type_ids\":[0,0,0,1,1]}\n");
}

/* ---- detokenize ------------------------------------------------------------------ */

AKT_TEST(detokenize_texts)
{
    static const char input[] = IDS_HELLO "\n" IDS_CAFE "\n" IDS_EMPTY "\n" IDS_QUOTE "\n"
                                IDS_WORDS "\n[101, 999999, 7592, 100, 102]\n[]\n"
                                "{\"ids\":[101,2054,2003,17712,3593,2497,1029,102,1037,2235,"
                                "9207,7809,1012,102],\"type_ids\":[0,0,0,0,0,0,0,0,1,1,1,1,"
                                "1,1]}\n";
    run_result r;
    run(&r, minilm(), input, "detokenize", NULL);
    AKT_EQ_INT(r.rc, 0);
    AKT_EQ_STR(r.out, "\"[CLS] hello, world! how are you? [SEP]\"\n"
                      "\"[CLS] naive cafe \xE2\x80\x94 \xE6\x9D\xB1 \xE4\xBA\xAC [SEP]\"\n"
                      "\"[CLS] [SEP]\"\n"
                      "\"[CLS] say \\\" hi \\\" \\\\ it ' s back \\\\ slash [SEP]\"\n"
                      "\"[CLS] unaffable tokenizers [SEP]\"\n"
                      "\"[CLS] hello [UNK] [SEP]\"\n"
                      "\"\"\n"
                      "\"[CLS] what is akidb? [SEP] a small vector database. [SEP]\"\n");
    run(&r, minilm(), input, "detokenize", "--skip-special", NULL);
    AKT_EQ_INT(r.rc, 0);
    AKT_EQ_STR(r.out, "\"hello, world! how are you?\"\n"
                      "\"naive cafe \xE2\x80\x94 \xE6\x9D\xB1 \xE4\xBA\xAC\"\n"
                      "\"\"\n"
                      "\"say \\\" hi \\\" \\\\ it ' s back \\\\ slash\"\n"
                      "\"unaffable tokenizers\"\n"
                      "\"hello\"\n"
                      "\"\"\n"
                      "\"what is akidb? a small vector database.\"\n");
}

AKT_TEST(detokenize_bad_input)
{
    static const char *const bad[][2] = {
        {"[101, -1]", "element 1"},
        {"[101, 2.5]", "element 1"},
        {"[4294967296]", "element 0"},
        {"[\"hello\"]", "element 0"},
        {"hello", "not JSON"},
        {"", "not JSON"},
        {"{\"type_ids\":[0]}", "array of token ids"},
        {"[101] [102]", "not JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char input[128];
        snprintf(input, sizeof input, "[7592]\n%s\n[7592]\n", bad[i][0]);
        run_result r;
        run(&r, minilm(), input, "detokenize", NULL);
        AKT_EQ_INT(r.rc, 1);
        AKT_CONTAINS(r.err, "<stdin>:2: ");
        AKT_CONTAINS(r.err, bad[i][1]);
        AKT_EQ_STR(r.out, "\"hello\"\n");   /* the lines before the bad one */
    }
}

/* A decoded U+0000 (here ByteLevel's byte 0, the character U+0100) is part
 * of the text: printed as \u0000, and the text goes on after it. */
AKT_TEST(detokenize_nul)
{
    static char dir[512];
    make_model(dir, sizeof dir, "bytelevel",
               "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
               "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
               "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\","
               "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false},"
               "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
               "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,"
               "\"vocab\":{\"[UNK]\":0,\"a\\u0100b\":1,\"\\u0120x\":2,\"\\\"\\u0109\":3,"
               "\"\\u00c3\":4}}}");
    run_result r;
    run(&r, dir, "[1,2]\n[3,1]\n[4]\n[2,4,1]\n", "detokenize", NULL);
    AKT_EQ_INT(r.rc, 0);
    /* byte 0xC3 alone is not UTF-8: from_utf8_lossy makes it U+FFFD */
    AKT_EQ_STR(r.out, "\"a\\u0000b x\"\n"
                      "\"\\\"\\ta\\u0000b\"\n"
                      "\"\xEF\xBF\xBD\"\n"
                      "\" x\xEF\xBF\xBD" "a\\u0000b\"\n");
}

AKT_TEST(usage_errors)
{
    run_result r;
    run(&r, minilm(), "", "detokenize", "--no-such-option", NULL);
    AKT_EQ_INT(r.rc, 2);
    AKT_CONTAINS(r.err, "usage: akidb detokenize");
    run(&r, minilm(), "", "tokenize", "extra", NULL);
    AKT_EQ_INT(r.rc, 2);
    AKT_CONTAINS(r.err, "usage: akidb tokenize");
    run(&r, minilm(), "", "detokenize", "--help", NULL);
    AKT_EQ_INT(r.rc, 0);
    AKT_CONTAINS(r.out, "--skip-special");
}

AKT_MAIN(AKT_REG(tokenize_texts), AKT_REG(tokenize_pairs), AKT_REG(detokenize_texts),
         AKT_REG(detokenize_bad_input), AKT_REG(detokenize_nul), AKT_REG(usage_errors))
