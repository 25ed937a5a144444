/*
 * test_tokenizer.c - the WordPiece tokenizer against the Hugging Face
 * reference ids of ../shared/fixtures/minilm-tiny (every case exact),
 * special tokens in the raw text, invalid UTF-8, truncation, argument and
 * vocabulary errors, the basic tokenizer's canonical reordering, and the
 * `driftmon tokenize` command run as a real process.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/rng.h"
#include "embed/basic_tok.h"
#include "embed/tokenizer.h"
#include "support/testutil.h"

TestSuite(tokenizer, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

#define MAX_CASES 128
#define MAX_IDS   4096

typedef struct tcase {
    char *text;
    size_t len;
    int32_t ids[MAX_IDS];
    size_t n;
} tcase_t;

/* The minilm-tiny fixture directory. */
static const char *model_dir(void)
{
    static char dir[4096];

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    return dir;
}

static char *fixture_path(const char *name)
{
    static char path[4096], rel[256];

    snprintf(rel, sizeof(rel), "minilm-tiny/%s", name);
    tu_fixture_path(path, sizeof(path), rel);
    return path;
}

static dm_tokenizer_t *load_fixture(void)
{
    char err[DM_ERRBUF_SIZE] = "";
    dm_tokenizer_t *tok = NULL;
    int rc = dm_tokenizer_load(fixture_path("vocab.txt"), true, &tok, err,
                               sizeof(err));
    cr_assert_eq(rc, DM_OK, "load: %s", err);
    return tok;
}

/* Reads a cases file; returns the number of cases (heap, free_cases). */
static size_t read_cases(const char *name, tcase_t **out)
{
    FILE *f = fopen(fixture_path(name), "rb");
    tcase_t *cases = calloc(MAX_CASES, sizeof(*cases));
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;

    cr_assert_not_null(f, "cannot open %s", name);
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &jerr);
        json_t *t, *ids;
        cr_assert_not_null(o, "%s:%zu: %s", name, n + 1, jerr.text);
        cr_assert_lt(n, MAX_CASES);
        t = json_object_get(o, "text");
        ids = json_object_get(o, "input_ids");
        cr_assert(json_is_string(t) && json_is_array(ids));
        cases[n].len = json_string_length(t);
        cases[n].text = malloc(cases[n].len + 1);
        memcpy(cases[n].text, json_string_value(t), cases[n].len + 1);
        cr_assert_leq(json_array_size(ids), MAX_IDS);
        cases[n].n = json_array_size(ids);
        for (size_t k = 0; k < cases[n].n; k++)
            cases[n].ids[k] =
                (int32_t)json_integer_value(json_array_get(ids, k));
        json_decref(o);
        n++;
    }
    free(line);
    fclose(f);
    *out = cases;
    return n;
}

static void free_cases(tcase_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cases[i].text);
    free(cases);
}

/* Encodes and compares with want; reports the first difference. */
static int check_ids(const dm_tokenizer_t *tok, const char *what,
                     const char *text, size_t len, size_t max_ids,
                     const int32_t *want, size_t nwant)
{
    static int32_t got[MAX_IDS];
    size_t n = 0;
    int rc = dm_tokenizer_encode(tok, text, len, got, max_ids, &n);

    cr_expect_eq(rc, DM_OK, "%s: rc %d", what, rc);
    for (size_t k = 0; k < n && k < nwant; k++) {
        if (got[k] != want[k]) {
            const char *g = dm_tokenizer_token(tok, got[k]);
            const char *w = dm_tokenizer_token(tok, want[k]);
            cr_expect_eq(got[k], want[k],
                         "%s: first difference at position %zu: got %d (%s), "
                         "expected %d (%s)",
                         what, k, got[k], g ? g : "?", want[k], w ? w : "?");
            return 0;
        }
    }
    cr_expect_eq(n, nwant, "%s: got %zu ids, expected %zu", what, n, nwant);
    return n == nwant;
}

Test(tokenizer, fixture_cases_exact)
{
    dm_tokenizer_t *tok = load_fixture();
    tcase_t *cases;
    size_t n = read_cases("cases.jsonl", &cases);
    size_t ok = 0;

    cr_assert_eq(n, 81, "expected 81 cases, read %zu", n);
    cr_assert_eq(dm_tokenizer_vocab_size(tok), 30522);
    for (size_t i = 0; i < n; i++) {
        char what[128];
        snprintf(what, sizeof(what), "cases.jsonl:%zu \"%.40s\"", i + 1,
                 cases[i].text);
        ok += (size_t)check_ids(tok, what, cases[i].text, cases[i].len, 256,
                                cases[i].ids, cases[i].n);
    }
    cr_expect_eq(ok, n, "%zu of %zu cases exact", ok, n);
    free_cases(cases, n);
    dm_tokenizer_free(tok);
}

Test(tokenizer, special_token_cases_exact)
{
    dm_tokenizer_t *tok = load_fixture();
    tcase_t *cases;
    size_t n = read_cases("special_tokens_cases.jsonl", &cases);
    static const int32_t sep_mid[] = {101, 1037, 102, 1038, 102};
    static const int32_t glued[] = {101, 5925, 102, 13366, 100, 101, 102};
    static const int32_t notspecial[] = {101, 1031, 18856, 2015, 1033, 102};

    cr_assert_eq(n, 3, "expected 3 cases, read %zu", n);
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "special_tokens_cases.jsonl:%zu", i + 1);
        check_ids(tok, what, cases[i].text, cases[i].len, 256, cases[i].ids,
                  cases[i].n);
    }
    /* the README's example, and special strings glued to words */
    check_ids(tok, "a [SEP] b", "a [SEP] b", 9, 256, sep_mid, 5);
    check_ids(tok, "abc[SEP]def[UNK][CLS]", "abc[SEP]def[UNK][CLS]", 21, 256,
              glued, 7);
    /* a control character inside breaks the literal match; cleaning then
     * removes it and the brackets are ordinary punctuation */
    check_ids(tok, "[CL\\x01S]", "[CL\x01S]", 7, 256, notspecial, 6);
    cr_expect_eq(dm_tokenizer_token_id(tok, "[MASK]"), 103);
    cr_expect_eq(dm_tokenizer_pad_id(tok), 0);
    cr_expect_str_eq(dm_tokenizer_token(tok, 7592), "hello");
    cr_expect_null(dm_tokenizer_token(tok, 30522));
    cr_expect_null(dm_tokenizer_token(tok, -1));
    free_cases(cases, n);
    dm_tokenizer_free(tok);
}

/* Encodes into a heap buffer of exactly len bytes (so ASan sees any read
 * past the end) and compares with the encoding of a clean equivalent. */
static void check_same(const dm_tokenizer_t *tok, const char *what,
                       const char *bad, size_t badlen, const char *clean)
{
    int32_t want[64];
    size_t nwant = 0;
    char *copy = malloc(badlen ? badlen : 1);

    memcpy(copy, bad, badlen);
    cr_assert_eq(
        dm_tokenizer_encode(tok, clean, strlen(clean), want, 64, &nwant),
        DM_OK);
    check_ids(tok, what, copy, badlen, 64, want, nwant);
    free(copy);
}

Test(tokenizer, invalid_utf8_is_dropped)
{
    dm_tokenizer_t *tok = load_fixture();

    check_same(tok, "0xFF",
               "ab\xff"
               "cd",
               5, "abcd");
    check_same(tok, "0xFE 0xF8",
               "\xfe"
               "ab\xf8",
               4, "ab");
    check_same(tok, "truncated 2-byte at end", "caf\xc3", 4, "caf");
    check_same(tok, "truncated 3-byte", "x\xe2\x82y", 4, "xy");
    check_same(tok, "truncated 4-byte", "x\xf0\x9f\x98 y", 6, "x y");
    check_same(tok, "overlong slash",
               "a\xc0\xaf"
               "b",
               4, "ab");
    check_same(tok, "overlong 3-byte",
               "a\xe0\x80\xaf"
               "b",
               5, "ab");
    check_same(tok, "overlong 4-byte",
               "a\xf0\x80\x80\xaf"
               "b",
               6, "ab");
    check_same(tok, "surrogate",
               "a\xed\xa0\x80"
               "b",
               5, "ab");
    check_same(tok, "above U+10FFFF",
               "a\xf4\x90\x80\x80"
               "b",
               6, "ab");
    check_same(tok, "embedded NUL", "null\0byte", 9, "nullbyte");
    check_same(tok, "lone continuation at the end", "hello\x80", 6, "hello");
    check_same(tok, "lone continuation only", "\x80", 1, "");
    check_same(tok, "lead byte only", "\xe2", 1, "");
    check_same(tok, "valid euro kept",
               "\xe2\x82\xac"
               "5",
               4,
               "\xe2\x82\xac"
               "5");
    /* no special match in the raw bytes; cleaning then gives "[sep]" */
    {
        static const int32_t want[] = {101, 1031, 19802, 1033, 102};
        char *copy = malloc(6);
        memcpy(copy, "[SE\xffP]", 6);
        check_ids(tok, "invalid inside special", copy, 6, 64, want, 5);
        free(copy);
    }
    dm_tokenizer_free(tok);
}

Test(tokenizer, random_bytes_never_crash)
{
    dm_tokenizer_t *tok = load_fixture();
    dm_rng_t rng;
    int32_t ids[64];

    dm_rng_seed(&rng, 42);
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = (size_t)dm_rng_below(&rng, 64);
        size_t max_ids = 2 + (size_t)dm_rng_below(&rng, 63);
        unsigned char *buf = malloc(len ? len : 1);
        size_t n = 0;

        for (size_t k = 0; k < len; k++) {
            /* bias towards UTF-8 lead and continuation bytes */
            uint64_t r = dm_rng_next(&rng);
            buf[k] = (r & 3) == 0   ? (unsigned char)(0x80 | (r >> 8 & 0x3f))
                     : (r & 3) == 1 ? (unsigned char)(0xC0 | (r >> 8 & 0x3f))
                                    : (unsigned char)(r >> 8);
        }
        cr_assert_eq(
            dm_tokenizer_encode(tok, (char *)buf, len, ids, max_ids, &n),
            DM_OK);
        cr_assert(n >= 2 && n <= max_ids, "n %zu max %zu", n, max_ids);
        cr_assert_eq(ids[0], 101);
        cr_assert_eq(ids[n - 1], 102);
        for (size_t k = 0; k < n; k++)
            cr_assert(ids[k] >= 0 && ids[k] < 30522);
        free(buf);
    }
    dm_tokenizer_free(tok);
}

Test(tokenizer, truncation_keeps_prefix)
{
    dm_tokenizer_t *tok = load_fixture();
    tcase_t *cases;
    size_t n = read_cases("cases.jsonl", &cases);
    static const size_t limits[] = {2,   3,   4,   5,   17,  128,  254,
                                    255, 256, 257, 300, 512, 1024, 4096};
    static int32_t full[MAX_IDS], want[MAX_IDS];
    size_t longest = 0;

    for (size_t i = 1; i < n; i++)
        if (cases[i].len > cases[longest].len)
            longest = i;
    for (size_t i = 0; i < n; i++) {
        size_t nfull = 0;
        cr_assert_eq(dm_tokenizer_encode(tok, cases[i].text, cases[i].len, full,
                                         MAX_IDS, &nfull),
                     DM_OK);
        cr_assert_lt(nfull, MAX_IDS);
        /* the fixture is the full tokenisation cut at 256 */
        if (nfull <= 256) {
            check_ids(tok, "untruncated", cases[i].text, cases[i].len, 256,
                      full, nfull);
        }
        for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
            size_t m = limits[l], nw = nfull;
            char what[64];
            if (nfull > m) {
                memcpy(want, full, (m - 1) * sizeof(int32_t));
                want[m - 1] = 102;
                nw = m;
            } else {
                memcpy(want, full, nfull * sizeof(int32_t));
            }
            snprintf(what, sizeof(what), "case %zu max_ids %zu", i + 1, m);
            check_ids(tok, what, cases[i].text, cases[i].len, m, want, nw);
        }
    }
    /* the longest case really is long: 500+ tokens untruncated */
    {
        size_t nfull = 0;
        cr_assert_eq(dm_tokenizer_encode(tok, cases[longest].text,
                                         cases[longest].len, full, MAX_IDS,
                                         &nfull),
                     DM_OK);
        cr_expect_gt(nfull, 500, "longest case gave %zu ids", nfull);
    }
    free_cases(cases, n);
    dm_tokenizer_free(tok);
}

Test(tokenizer, empty_and_bad_arguments)
{
    dm_tokenizer_t *tok = load_fixture();
    static const int32_t empty[] = {101, 102};
    int32_t ids[4] = {-7, -7, -7, -7};
    size_t n = 99;

    check_ids(tok, "empty", "", 0, 256, empty, 2);
    check_ids(tok, "NULL, 0", NULL, 0, 256, empty, 2);
    check_ids(tok, "spaces", "  \t\r\n ", 6, 256, empty, 2);
    check_ids(tok, "max_ids 2", "hello world", 11, 2, empty, 2);
    cr_expect_eq(dm_tokenizer_encode(tok, "hello", 5, ids, 1, &n), DM_EINVAL);
    cr_expect_eq(n, 0);
    cr_expect_eq(dm_tokenizer_encode(tok, "hello", 5, ids, 0, &n), DM_EINVAL);
    cr_expect_eq(ids[0], -7, "nothing written on DM_EINVAL");
    dm_tokenizer_free(tok);
}

Test(tokenizer, cased_pipeline_keeps_case_and_accents)
{
    char err[DM_ERRBUF_SIZE] = "";
    dm_tokenizer_t *tok = NULL;
    int32_t ids[16];
    size_t n = 0;

    cr_assert_eq(dm_tokenizer_load(fixture_path("vocab.txt"), false, &tok, err,
                                   sizeof(err)),
                 DM_OK, "%s", err);
    /* the uncased vocabulary has no "Hello" and no "é": both are split
     * or unknown when neither lower-cased nor stripped */
    cr_assert_eq(
        dm_tokenizer_encode(tok, "hello Hello caf\xc3\xa9", 16, ids, 16, &n),
        DM_OK);
    cr_assert_geq(n, 5);
    cr_expect_eq(ids[1], 7592);
    cr_expect_neq(ids[2], 7592, "Hello must not be lower-cased");
    dm_tokenizer_free(tok);
}

/* --- the basic tokenizer alone ------------------------------------------ */

typedef struct collect {
    char words[8][512];
    size_t nchars[8];
    size_t n;
} collect_t;

static int collect_cb(const dm_basic_word_t *w, void *arg)
{
    collect_t *c = arg;
    if (c->n < 8) {
        size_t len = w->off[w->nstored];
        memcpy(c->words[c->n], w->bytes, len);
        c->words[c->n][len] = '\0';
        c->nchars[c->n] = w->nchars;
    }
    c->n++;
    return 0;
}

Test(tokenizer, basic_canonical_reordering)
{
    collect_t c = {0};
    /* U+1D16D (Mc, ccc 226) before U+1D165 (Mc, ccc 216) after 'x', with a
     * nonspacing mark U+0301 (ccc 230, dropped) in between: NFD puts the
     * ccc-216 mark first */
    const char in[] = "X\xf0\x9d\x85\xad\xcc\x81\xf0\x9d\x85\xa5 y";
    static char big[4 * 300 + 1];

    dm_basic_tok_run(in, sizeof(in) - 1, true, NULL, 0, collect_cb, &c);
    cr_assert_eq(c.n, 2);
    cr_expect_str_eq(c.words[0], "x\xf0\x9d\x85\xa5\xf0\x9d\x85\xad");
    cr_expect_eq(c.nchars[0], 3);
    cr_expect_str_eq(c.words[1], "y");

    /* a run of 300 such marks: counted, bounded storage, no crash */
    memset(&c, 0, sizeof(c));
    big[0] = 'a';
    for (size_t k = 0; k < 299; k++)
        memcpy(big + 1 + 4 * k, "\xf0\x9d\x85\xad", 4);
    dm_basic_tok_run(big, 1 + 4 * 299, true, NULL, 0, collect_cb, &c);
    cr_assert_eq(c.n, 1);
    cr_expect_eq(c.nchars[0], 300);
    cr_expect_eq(strlen(c.words[0]), 1 + 4 * 99);
}

/* --- vocabulary errors --------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    tu_tmpdir_make(tmpdir, sizeof(tmpdir), "tok");
}

static void rm_tmpdir(void)
{
    tu_tmpdir_remove(tmpdir);
}

static char *write_tmp(const char *name, const char *data, size_t len)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static int load_err(const char *path, char *err)
{
    dm_tokenizer_t *tok = NULL;
    int rc = dm_tokenizer_load(path, true, &tok, err, DM_ERRBUF_SIZE);
    cr_expect_null(tok);
    return rc;
}

Test(tokenizer, vocab_errors, .init = make_tmpdir, .fini = rm_tmpdir)
{
    char err[DM_ERRBUF_SIZE];
    static const char ok[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\n";
    static const char nounk[] = "[PAD]\n[CLS]\n[SEP]\nhello\n";
    static const char dup[] = "[PAD]\n[UNK]\nhello\n[CLS]\n[SEP]\nhello\n";
    static const char blank[] = "[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n";
    static const char crlf[] =
        "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s\r\n";
    static char longline[3000];
    dm_tokenizer_t *tok = NULL;
    int32_t ids[8];
    size_t n = 0;
    int rc;

    rc = load_err("/nonexistent/dir/vocab.txt", err);
    cr_expect_eq(rc, DM_EIO);
    cr_expect(strstr(err, "/nonexistent/dir/vocab.txt") != NULL, "%s", err);

    rc = load_err(write_tmp("nounk.txt", nounk, sizeof(nounk) - 1), err);
    cr_expect_eq(rc, DM_EMODEL);
    cr_expect(strstr(err, "nounk.txt: no [UNK] token") != NULL, "%s", err);

    rc = load_err(write_tmp("dup.txt", dup, sizeof(dup) - 1), err);
    cr_expect_eq(rc, DM_EMODEL);
    cr_expect(strstr(err, "dup.txt:6: duplicate token \"hello\" (first on "
                          "line 3)") != NULL,
              "%s", err);

    rc = load_err(write_tmp("blank.txt", blank, sizeof(blank) - 1), err);
    cr_expect_eq(rc, DM_EMODEL);
    cr_expect(strstr(err, "blank.txt:3: empty token") != NULL, "%s", err);

    rc = load_err(write_tmp("empty.txt", "", 0), err);
    cr_expect_eq(rc, DM_EMODEL);
    cr_expect(strstr(err, "empty vocabulary") != NULL, "%s", err);

    memcpy(longline, ok, sizeof(ok) - 1);
    memset(longline + sizeof(ok) - 1, 'x', 2000);
    rc = load_err(write_tmp("long.txt", longline, sizeof(ok) - 1 + 2000), err);
    cr_expect_eq(rc, DM_EMODEL);
    cr_expect(strstr(err, "long.txt:7: line longer than") != NULL, "%s", err);

    /* a minimal vocabulary with CRLF line ends works ([MASK] optional) */
    rc = dm_tokenizer_load(write_tmp("crlf.txt", crlf, strlen(crlf)), true,
                           &tok, err, sizeof(err));
    cr_assert_eq(rc, DM_OK, "%s", err);
    cr_expect_eq(dm_tokenizer_vocab_size(tok), 6);
    cr_assert_eq(dm_tokenizer_encode(tok, "Hellos [MASK] x", 15, ids, 8, &n),
                 DM_OK);
    cr_assert_eq(n, 8);
    cr_expect_eq(ids[7], 3);
    cr_expect_eq(ids[0], 2);
    cr_expect_eq(ids[1], 4);
    cr_expect_eq(ids[2], 5);
    cr_expect_eq(ids[3], 1, "[ with no [MASK] token is [UNK] here");
    dm_tokenizer_free(tok);
}

/* --- driftmon tokenize --------------------------------------------------- */

/* Runs a shell command; returns its exit status, output in *out (heap). */
static int run_cmd(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, len = 0, got;
    int st;

    cr_assert_not_null(p);
    *out = malloc(cap);
    while ((got = fread(*out + len, 1, cap - 1 - len, p)) > 0) {
        len += got;
        if (len == cap - 1) {
            cap *= 2;
            *out = realloc(*out, cap);
        }
    }
    (*out)[len] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *ids_json(const int32_t *ids, size_t n)
{
    static char s[65536];
    size_t at = 0;

    at += (size_t)snprintf(s + at, sizeof(s) - at, "[");
    for (size_t k = 0; k < n; k++)
        at += (size_t)snprintf(s + at, sizeof(s) - at, "%s%d", k ? "," : "",
                               ids[k]);
    snprintf(s + at, sizeof(s) - at, "]");
    return s;
}

Test(tokenizer, cli_tokenize, .init = make_tmpdir, .fini = rm_tmpdir)
{
    const char *bin = getenv("DM_BINARY");
    tcase_t *cases;
    size_t n = read_cases("cases.jsonl", &cases);
    /* tabs/newlines, a NUL and controls, and a truncated long case */
    static const size_t pick[] = {41, 42, 81};
    char cmd[8192], *out = NULL, *in;
    char expect[200000] = "";
    size_t at = 0;
    FILE *f;
    int st;

    cr_assert_not_null(bin, "DM_BINARY is not set");
    snprintf(cmd, sizeof(cmd), "%s/in.jsonl", tmpdir);
    f = fopen(cmd, "wb");
    cr_assert_not_null(f);
    for (size_t k = 0; k < 3; k++) {
        tcase_t *c = &cases[pick[k] - 1];
        json_t *o = json_pack("{s:s%}", "text", c->text, c->len);
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
        json_decref(o);
        at += (size_t)snprintf(expect + at, sizeof(expect) - at, "%s\n",
                               ids_json(c->ids, c->n));
    }
    fclose(f);
    cr_assert(strchr(cases[40].text, '\t') != NULL);
    cr_assert_eq(cases[41].text[4], '\0');
    cr_assert_eq(cases[80].n, 256);

    snprintf(cmd, sizeof(cmd),
             "'%s' tokenize --model-path '%s' "
             "--jsonl '%s/in.jsonl'",
             bin, model_dir(), tmpdir);
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 0);
    cr_expect_str_eq(out, expect);
    free(out);

    /* plain lines from stdin, --max-length */
    snprintf(cmd, sizeof(cmd),
             "printf 'hello world\\n\\nHELLO hello hello\\n' | '%s' tokenize "
             "--model-path '%s' --max-length 4 -",
             bin, model_dir());
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 0);
    cr_expect_str_eq(out, "[101,7592,2088,102]\n[101,102]\n"
                          "[101,7592,7592,102]\n");
    free(out);

    /* a bad line: file and line number, exit 2 */
    in = write_tmp("bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n", 26);
    snprintf(cmd, sizeof(cmd),
             "'%s' tokenize --model-path '%s' --jsonl '%s' 2>&1", bin,
             model_dir(), in);
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 2);
    cr_expect(strstr(out, "[101,7929,102]\n") != NULL, "%s", out);
    cr_expect(strstr(out, "driftmon: error: ") != NULL, "%s", out);
    cr_expect(strstr(out, "bad.jsonl:2: ") != NULL, "%s", out);
    free(out);

    /* a blank line in a JSONL file is no record, for tokenize as for
     * embed; the line numbers after it still count it */
    in = write_tmp("blank.jsonl", "{\"text\": \"ok\"}\n \n{\"text\": 2}\n", 29);
    snprintf(cmd, sizeof(cmd),
             "'%s' tokenize --model-path '%s' --jsonl '%s' 2>&1", bin,
             model_dir(), in);
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 2);
    cr_expect(strncmp(out, "[101,7929,102]\ndriftmon: error: ", 32) == 0, "%s",
              out);
    cr_expect(strstr(out, "blank.jsonl:3: expected an object with a "
                          "\"text\" string") != NULL,
              "%s", out);
    free(out);

    /* a missing model directory */
    snprintf(cmd, sizeof(cmd),
             "'%s' tokenize --model-path /nonexistent/model - </dev/null 2>&1",
             bin);
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 3);
    cr_expect(strstr(out, "/nonexistent/model/vocab.txt") != NULL, "%s", out);
    free(out);

    /* the model directory's tokenizer_config.json (cased) and
     * sentence_bert_config.json (max_seq_length) are honoured */
    snprintf(cmd, sizeof(cmd),
             "mkdir '%s/m' && ln -s '%s/vocab.txt' '%s/m/' && "
             "echo '{\"do_lower_case\": false}' "
             ">'%s/m/tokenizer_config.json' && "
             "echo '{\"max_seq_length\": 5}' "
             ">'%s/m/sentence_bert_config.json' && "
             "echo 'Hello hello hello hello' | '%s' tokenize --model-path "
             "'%s/m'",
             tmpdir, model_dir(), tmpdir, tmpdir, tmpdir, bin, tmpdir);
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 0);
    cr_expect_str_eq(out, "[101,100,7592,7592,102]\n");
    free(out);
    snprintf(cmd, sizeof(cmd),
             "echo '{\"max_seq_length\": \"x\"}' "
             ">'%s/m/sentence_bert_config.json' && "
             "'%s' tokenize --model-path '%s/m' </dev/null 2>&1",
             tmpdir, bin, tmpdir);
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 3);
    cr_expect(strstr(out, "sentence_bert_config.json: key 'max_seq_length': "
                          "expected an integer") != NULL,
              "%s", out);
    free(out);

    /* bad arguments */
    snprintf(cmd, sizeof(cmd),
             "'%s' tokenize --model-path '%s' --max-length 1 "
             "</dev/null 2>&1",
             bin, model_dir());
    st = run_cmd(cmd, &out);
    cr_expect_eq(st, 2);
    cr_expect(strstr(out, "--max-length") != NULL, "%s", out);
    free(out);
    free_cases(cases, n);
}
