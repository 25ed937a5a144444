/*
 * test_embed.c - the embedder interface end to end: text -> tokenizer ->
 * encoder -> embedding on every fixture case (minilm-tiny), the hashing
 * embedder through the same interface, names and fingerprints, option
 * and model errors, concurrent callers, an embedder unaffected by later
 * changes to its model files, and `driftmon embed` run as a real binary
 * (DM_BINARY).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "embed/embed.h"
#include "embed/encoder.h"
#include "embed/hashing.h"
#include "embed/model.h"
#include "support/testutil.h"

TestSuite(embed, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

#define MAX_CASES 256

struct cases {
    size_t n, dim;
    char *text[MAX_CASES];
    size_t len[MAX_CASES];
    float *emb[MAX_CASES];
    json_t *ids[MAX_CASES];
};

static void load_cases(struct cases *c, const char *file)
{
    char dir[1024], path[1200], line[1 << 16];
    FILE *f;

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &err), *t, *emb;
        size_t i = c->n;

        cr_assert_not_null(o, "%s: %s", path, err.text);
        cr_assert_lt(i, MAX_CASES);
        t = json_object_get(o, "text");
        emb = json_object_get(o, "embedding");
        c->len[i] = json_string_length(t);
        c->text[i] = malloc(c->len[i] + 1);
        memcpy(c->text[i], json_string_value(t), c->len[i] + 1);
        c->dim = json_array_size(emb);
        c->emb[i] = calloc(c->dim, sizeof(float));
        for (size_t j = 0; j < c->dim; j++)
            c->emb[i][j] = (float)json_number_value(json_array_get(emb, j));
        c->ids[i] = json_incref(json_object_get(o, "input_ids"));
        json_decref(o);
        c->n++;
    }
    fclose(f);
}

static void all_cases(struct cases *c)
{
    memset(c, 0, sizeof(*c));
    load_cases(c, "cases.jsonl");
    load_cases(c, "special_tokens_cases.jsonl");
    cr_assert_gt(c->n, 80);
}

static void free_cases(struct cases *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->text[i]);
        free(c->emb[i]);
        json_decref(c->ids[i]);
    }
}

/*
 * The fixture model in fp32: the fixture's vectors are the fp32 model's,
 * and auto would take bf16 on a CPU that has it (a cosine of ~0.9999 to
 * them, not 1e-5 per value; test_encoder.c holds bf16 to its bounds).
 */
static dm_embedder_t *open_tiny(size_t threads, size_t batch, size_t max_seq)
{
    char dir[1024], err[DM_ERRBUF_SIZE] = "";
    dm_embedder_opts_t o = {.model = "sentence-transformers/all-MiniLM-L6-v2",
                            .model_path = dir,
                            .threads = threads,
                            .batch_size = batch,
                            .max_seq_length = max_seq,
                            .precision = DM_EMBED_PRECISION_FP32};
    dm_embedder_t *e = NULL;

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_OK, "%s", err);
    return e;
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float d = 0.0f;

    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            return INFINITY;
        d = fmaxf(d, fabsf(a[i] - b[i]));
    }
    return d;
}

/* Text in, embedding out, for every case, in one call and one by one. */
Test(embed, every_case_from_text)
{
    struct cases c;
    dm_embedder_t *e = open_tiny(2, 8, 0);
    char err[DM_ERRBUF_SIZE] = "";
    float *out, one[64], worst = 0;
    size_t worst_i = 0;

    all_cases(&c);
    cr_assert_eq(dm_embedder_dim(e), c.dim);
    out = calloc(c.n * c.dim, sizeof(float));
    cr_assert_eq(dm_embedder_embed(e, (const char *const *)c.text, c.len, c.n,
                                   out, err, sizeof(err)),
                 DM_OK, "%s", err);
    for (size_t i = 0; i < c.n; i++) {
        const char *t = c.text[i];
        float d = max_diff(out + i * c.dim, c.emb[i], c.dim);

        cr_expect_leq(d, 1e-5f, "case %zu: max diff %g", i, (double)d);
        if (d > worst) {
            worst = d;
            worst_i = i;
        }
        cr_assert_eq(
            dm_embedder_embed(e, &t, &c.len[i], 1, one, err, sizeof(err)),
            DM_OK, "%s", err);
        d = max_diff(one, out + i * c.dim, c.dim);
        cr_expect_leq(d, 1e-6f, "case %zu: alone vs batched %g", i, (double)d);
    }
    fprintf(stderr,
            "embed: %zu cases from text, worst max diff %.3g (case "
            "%zu)\n",
            c.n, (double)worst, worst_i);
    free(out);
    dm_embedder_free(e);
    free_cases(&c);
}

Test(embed, names_and_fingerprints)
{
    dm_embedder_t *a = open_tiny(1, 0, 0), *b = open_tiny(2, 4, 0);
    dm_embedder_t *c = open_tiny(1, 0, 16);
    dm_embedder_t *d = NULL;
    char dir[1024], fp[64], err[DM_ERRBUF_SIZE] = "";
    dm_embedder_opts_t o = {.model = "minilm-tiny",
                            .model_path = dir,
                            .precision = DM_EMBED_PRECISION_BF16};

    cr_assert_str_eq(dm_embedder_name(a),
                     "sentence-transformers/all-MiniLM-L6-v2");
    cr_assert_eq(strncmp(dm_embedder_fingerprint(a), "minilm:", 7), 0);
    cr_assert_eq(strlen(dm_embedder_fingerprint(a)), 23);
    /* threads and batch size do not change the function */
    cr_assert_str_eq(dm_embedder_fingerprint(a), dm_embedder_fingerprint(b));
    /* a shorter max_seq_length does */
    cr_assert_str_neq(dm_embedder_fingerprint(a), dm_embedder_fingerprint(c));
    cr_assert_str_eq(dm_embedder_precision(a), "fp32");
    /* bf16 is another function: the cache keeps its vectors apart */
    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    if (dm_embedder_open(&o, &d, err, sizeof(err)) == DM_OK) {
        snprintf(fp, sizeof(fp), "%s:bf16", dm_embedder_fingerprint(a));
        cr_assert_str_eq(dm_embedder_fingerprint(d), fp);
        cr_assert_str_eq(dm_embedder_precision(d), "bf16");
        dm_embedder_free(d);
    } else {
        cr_assert(strstr(err, "bf16") != NULL, "bf16 refused unclearly: %s",
                  err);
    }
    dm_embedder_free(a);
    dm_embedder_free(b);
    dm_embedder_free(c);
}

/* max_seq_length 8 = the encoder on the first 7 ids + [SEP]. */
Test(embed, max_seq_length_truncates)
{
    struct cases c;
    dm_embedder_t *e = open_tiny(1, 0, 8);
    char dir[1024], err[DM_ERRBUF_SIZE] = "";
    dm_model_t *m = NULL;
    dm_encoder_t *enc = NULL;
    size_t i = 0, n = 8;
    int32_t ids[8];
    const int32_t *p = ids;
    float a[64], b[64];
    const char *t;

    all_cases(&c);
    while (i < c.n && json_array_size(c.ids[i]) < 20)
        i++;
    cr_assert_lt(i, c.n, "no long case");
    for (size_t k = 0; k < 7; k++)
        ids[k] = (int32_t)json_integer_value(json_array_get(c.ids[i], k));
    ids[7] = 102;
    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    cr_assert_eq(dm_model_load(dir, &m, err, sizeof(err)), DM_OK, "%s", err);
    cr_assert_eq(dm_encoder_new(m, NULL, &enc, err, sizeof(err)), DM_OK);
    cr_assert_eq(dm_encoder_encode(enc, &p, &n, 1, a, err, sizeof(err)), DM_OK);
    t = c.text[i];
    cr_assert_eq(dm_embedder_embed(e, &t, &c.len[i], 1, b, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_leq(max_diff(a, b, 32), 1e-6f);
    dm_encoder_free(enc);
    dm_model_free(m);
    dm_embedder_free(e);
    free_cases(&c);
}

Test(embed, hashing_through_the_interface)
{
    dm_embedder_opts_t o = {.model = "hashing", .dimension = 64};
    dm_embedder_t *e = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    const char *texts[3] = {"the model gave a wrong answer", "", NULL};
    size_t lens[3] = {29, 0, 0};
    float out[3 * 64], direct[64];
    double norm = 0;

    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_OK, "%s", err);
    cr_assert_eq(dm_embedder_dim(e), 64);
    cr_assert_str_eq(dm_embedder_name(e), "hashing-64");
    cr_assert_str_eq(dm_embedder_fingerprint(e), "hashing:v1:64");
    cr_assert_eq(dm_embedder_embed(e, texts, lens, 3, out, err, sizeof(err)),
                 DM_OK, "%s", err);
    dm_hashing_embed(texts[0], lens[0], 64, direct);
    cr_assert_eq(memcmp(out, direct, sizeof(direct)), 0);
    for (size_t j = 0; j < 64; j++)
        norm += (double)out[j] * (double)out[j];
    cr_assert_float_eq(norm, 1.0, 1e-5);
    for (size_t j = 0; j < 64; j++)
        cr_assert_eq(out[64 + j], 0.0f, "empty text gives zeros");
    dm_embedder_free(e);

    o.dimension = 0;
    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_OK);
    cr_assert_eq(dm_embedder_dim(e), 384);
    cr_assert_str_eq(dm_embedder_name(e), "hashing-384");
    dm_embedder_free(e);
    o.dimension = DM_EMBED_MAX_HASHING_DIM + 1;
    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_EINVAL);
    cr_assert_null(e);
}

Test(embed, model_errors)
{
    dm_embedder_opts_t o = {.model = "sentence-transformers/all-MiniLM-L6-v2",
                            .model_path = "/nonexistent/minilm"};
    dm_embedder_t *e = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    const char *t = "x";
    size_t n = 1;
    float out[32];

    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_EMODEL);
    cr_assert_null(e);
    cr_assert(strstr(err, "/nonexistent/minilm") != NULL, "%s", err);
    e = open_tiny(1, 0, 0);
    cr_assert_eq(dm_embedder_embed(e, NULL, &n, 1, out, err, sizeof(err)),
                 DM_EINVAL);
    cr_assert_eq(dm_embedder_embed(e, &t, &n, 0, out, err, sizeof(err)), DM_OK);
    dm_embedder_free(e);
    dm_embedder_free(NULL);
}

/* Copies dir/rel of the fixture model to dst/rel. */
static void copy_file(const char *src, const char *dst, const char *rel)
{
    char a[1200], b[1200], buf[65536];
    FILE *in, *out;
    size_t n;

    snprintf(a, sizeof(a), "%s/%s", src, rel);
    snprintf(b, sizeof(b), "%s/%s", dst, rel);
    in = fopen(a, "rb");
    out = fopen(b, "wb");
    cr_assert(in && out, "cannot copy %s to %s", a, b);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

static const char *const tiny_files[] = {"config.json",
                                         "model.safetensors",
                                         "vocab.txt",
                                         "tokenizer_config.json",
                                         "sentence_bert_config.json",
                                         "1_Pooling/config.json"};
#define N_TINY_FILES (sizeof(tiny_files) / sizeof(tiny_files[0]))

/*
 * The service's case: an embedder opened on a copy of minilm-tiny (F32,
 * its weights used in place) gives the same embeddings and fingerprint
 * after model.safetensors is truncated to half (a memory-mapped file
 * raised SIGBUS here) and after it is overwritten in place (a mapping
 * saw the new bytes), and reports the change; hashing never does.
 */
Test(embed, model_file_changed_under_embedder)
{
    struct cases c;
    char src[1024], dir[256], p[1200], fp[64], what[DM_ERRBUF_SIZE];
    char err[DM_ERRBUF_SIZE] = "";
    dm_embedder_opts_t o = {.model = "minilm-tiny", .model_path = dir};
    dm_embedder_t *e = NULL, *h = NULL;
    dm_embedder_opts_t ho = {.model = "hashing"};
    float *before, *after;
    FILE *f;
    long size;

    tu_fixture_path(src, sizeof(src), "minilm-tiny");
    snprintf(dir, sizeof(dir), "/tmp/dm-test-embed-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/1_Pooling", dir);
    cr_assert_eq(mkdir(p, 0755), 0);
    for (size_t i = 0; i < N_TINY_FILES; i++)
        copy_file(src, dir, tiny_files[i]);
    all_cases(&c);
    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_OK, "%s", err);
    snprintf(fp, sizeof(fp), "%s", dm_embedder_fingerprint(e));
    before = calloc(c.n * c.dim, sizeof(float));
    after = calloc(c.n * c.dim, sizeof(float));
    cr_assert_eq(dm_embedder_embed(e, (const char *const *)c.text, c.len, c.n,
                                   before, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_not(dm_embedder_files_changed(e, what, sizeof(what)), "%s", what);

    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    f = fopen(p, "r+b");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(p, size / 2), 0);
    cr_assert_eq(dm_embedder_embed(e, (const char *const *)c.text, c.len, c.n,
                                   after, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(memcmp(before, after, c.n * c.dim * sizeof(float)), 0,
                 "embeddings changed after truncation");
    cr_assert(dm_embedder_files_changed(e, what, sizeof(what)));
    cr_assert(strstr(what, "model.safetensors") != NULL, "%s", what);

    /* the other half of the file zeroed, then all of it back */
    f = fopen(p, "r+b");
    cr_assert_not_null(f);
    for (long i = 0; i < size; i++)
        fputc(0, f);
    fclose(f);
    memset(after, 0, c.n * c.dim * sizeof(float));
    cr_assert_eq(dm_embedder_embed(e, (const char *const *)c.text, c.len, c.n,
                                   after, err, sizeof(err)),
                 DM_OK, "%s", err);
    cr_assert_eq(memcmp(before, after, c.n * c.dim * sizeof(float)), 0,
                 "embeddings changed after an in-place rewrite");
    cr_assert_str_eq(dm_embedder_fingerprint(e), fp);

    cr_assert_eq(dm_embedder_open(&ho, &h, err, sizeof(err)), DM_OK);
    cr_assert_not(dm_embedder_files_changed(h, what, sizeof(what)));
    cr_assert_str_eq(what, "");
    dm_embedder_free(h);
    dm_embedder_free(e);
    free(before);
    free(after);
    free_cases(&c);
    for (size_t i = 0; i < N_TINY_FILES; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, tiny_files[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/1_Pooling", dir);
    rmdir(p);
    rmdir(dir);
}

struct racer {
    dm_embedder_t *e;
    struct cases *c;
    float *out;
    int rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char err[DM_ERRBUF_SIZE];

    r->rc = dm_embedder_embed(r->e, (const char *const *)r->c->text, r->c->len,
                              r->c->n, r->out, err, sizeof(err));
    return NULL;
}

/* Two threads on one embedder: serialised, both right. */
Test(embed, concurrent_callers)
{
    struct cases c;
    dm_embedder_t *e = open_tiny(1, 16, 0);
    struct racer r[2];
    pthread_t t[2];

    all_cases(&c);
    for (int i = 0; i < 2; i++) {
        r[i].e = e;
        r[i].c = &c;
        r[i].out = calloc(c.n * c.dim, sizeof(float));
        cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(r[i].rc, DM_OK);
        for (size_t k = 0; k < c.n; k++)
            cr_expect_leq(max_diff(r[i].out + k * c.dim, c.emb[k], c.dim),
                          1e-5f, "thread %d case %zu", i, k);
        free(r[i].out);
    }
    dm_embedder_free(e);
    free_cases(&c);
}

/* Runs the driftmon binary with args, stdin from in, into out and errf. */
static int run_cli(const char *args, const char *in, const char *out,
                   const char *errf)
{
    const char *bin = getenv("DM_BINARY");
    char cmd[4096];
    int st;

    cr_assert_not_null(bin, "DM_BINARY is not set");
    snprintf(cmd, sizeof(cmd), "'%s' embed %s < '%s' > '%s' 2> '%s'", bin, args,
             in, out, errf);
    st = system(cmd);
    cr_assert(WIFEXITED(st), "%s did not exit", cmd);
    return WEXITSTATUS(st);
}

Test(embed, cli_jsonl_matches_reference)
{
    struct cases c;
    char dir[1024], tmp[] = "/tmp/dm-test-embed-XXXXXX", in[128], out[128],
                    errf[128], args[1200];
    size_t pick[4] = {0, 5, 40, 0};
    FILE *f;
    char *text, *line, *nl;
    size_t k = 0;

    all_cases(&c);
    pick[3] = c.n - 1;
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(in, sizeof(in), "%s/in.jsonl", tmp);
    snprintf(out, sizeof(out), "%s/out.txt", tmp);
    snprintf(errf, sizeof(errf), "%s/err.txt", tmp);
    f = fopen(in, "w");
    for (size_t i = 0; i < 4; i++) {
        json_t *o = json_object();
        char *s;

        json_object_set_new(o, "text",
                            json_stringn(c.text[pick[i]], c.len[pick[i]]));
        json_object_set_new(o, "id", json_integer((json_int_t)i));
        s = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n%s", s, i == 1 ? "\n" : ""); /* a blank line too */
        free(s);
        json_decref(o);
    }
    fclose(f);
    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    snprintf(args, sizeof(args),
             "--jsonl --batch-size 2 --precision fp32 --model-path '%s'", dir);
    cr_assert_eq(run_cli(args, in, out, errf), 0, "stderr: %s",
                 tu_read_file(errf, NULL));
    text = tu_read_file(out, NULL);
    for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1, k++) {
        json_error_t jerr;
        json_t *arr;
        float v[64];

        *nl = '\0';
        cr_assert_not_null(arr = json_loads(line, 0, &jerr),
                           "output line %zu: %s", k, jerr.text);
        cr_assert_lt(k, 4);
        cr_assert_eq(json_array_size(arr), c.dim);
        for (size_t j = 0; j < c.dim; j++)
            v[j] = (float)json_number_value(json_array_get(arr, j));
        cr_expect_leq(max_diff(v, c.emb[pick[k]], c.dim), 1e-5f,
                      "output line %zu", k);
        json_decref(arr);
    }
    cr_assert_eq(k, 4, "%zu output lines", k);
    free(text);

    /* a bad line: FILE:LINE and exit code 2 */
    f = fopen(in, "w");
    fprintf(f, "{\"text\": \"ok\"}\n{\"text\": 3}\n");
    fclose(f);
    cr_assert_eq(run_cli(args, in, out, errf), 2);
    text = tu_read_file(errf, NULL);
    cr_assert(strstr(text, "<stdin>:2:") != NULL, "stderr: %s", text);
    free(text);

    /* a missing model: exit code 2 with the model's message */
    cr_assert_eq(run_cli("--model-path /nonexistent/m", in, out, errf), 2);
    text = tu_read_file(errf, NULL);
    cr_assert(strstr(text, "driftmon: error: /nonexistent/m") != NULL,
              "stderr: %s", text);
    free(text);

    /* hashing, plain lines: one vector per line, empty lines included */
    f = fopen(in, "w");
    fprintf(f, "first text\n\nthird\n");
    fclose(f);
    cr_assert_eq(run_cli("--model hashing --dimension 16", in, out, errf), 0);
    text = tu_read_file(out, NULL);
    k = 0;
    for (char *p = text; *p; p++)
        k += *p == '\n';
    cr_assert_eq(k, 3, "%s", text);
    cr_assert_eq(strncmp(text, "[", 1), 0);
    free(text);
    unlink(in);
    unlink(out);
    unlink(errf);
    rmdir(tmp);
    free_cases(&c);
}

Test(embed, dimension_checked_against_the_model)
{
    char dir[1024], err[DM_ERRBUF_SIZE] = "";
    dm_embedder_opts_t o = {.model = "minilm-tiny",
                            .model_path = dir,
                            .dimension = 384,
                            .check_dimension = true};
    dm_embedder_t *e = NULL;
    size_t dim = 0;

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    cr_assert_eq(dm_embedder_probe_dim(&o, &dim, err, sizeof(err)), DM_OK, "%s",
                 err);
    cr_assert_eq(dim, 32);
    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_EINVAL);
    cr_assert_null(e);
    cr_assert(strstr(err, "dimension 384") && strstr(err, "hidden_size 32"),
              "%s", err);
    o.dimension = 32;
    cr_assert_eq(dm_embedder_open(&o, &e, err, sizeof(err)), DM_OK, "%s", err);
    dm_embedder_free(e);
    o.model = "hashing";
    o.dimension = 0;
    cr_assert_eq(dm_embedder_probe_dim(&o, &dim, err, sizeof(err)), DM_OK);
    cr_assert_eq(dim, 384);
    o.model = "bert";
    o.model_path = "/nonexistent/model";
    cr_assert_neq(dm_embedder_probe_dim(&o, &dim, err, sizeof(err)), DM_OK);
}

/* Runs `driftmon embed --model-path dir ARGS` on input; stdout, stderr. */
static int embed_cli(const char *dir, const char *args, const char *input,
                     char *out, size_t on, char *err, size_t en)
{
    char tmp[] = "/tmp/dm-test-embed-cli-XXXXXX", in[128], o[128], e[128];
    char all[2048];
    char *t;
    FILE *f;
    int rc;

    cr_assert_not_null(mkdtemp(tmp));
    snprintf(in, sizeof(in), "%s/in", tmp);
    snprintf(o, sizeof(o), "%s/out", tmp);
    snprintf(e, sizeof(e), "%s/err", tmp);
    f = fopen(in, "wb");
    cr_assert_not_null(f);
    fputs(input, f);
    fclose(f);
    snprintf(all, sizeof(all), "--model-path '%s' %s", dir, args);
    rc = run_cli(all, in, o, e);
    t = tu_read_file(o, NULL);
    snprintf(out, on, "%s", t);
    free(t);
    t = tu_read_file(e, NULL);
    snprintf(err, en, "%s", t);
    free(t);
    unlink(in);
    unlink(o);
    unlink(e);
    rmdir(tmp);
    return rc;
}

/* The CLI's options and the config keys share the encoder's limits. */
Test(embed, limits_agree_with_the_config_and_the_cli)
{
    static const struct {
        const char *key;
        double max;
    } keys[] = {
        {"embeddings.batch_size", DM_ENCODER_MAX_BATCH},
        {"embeddings.threads", DM_ENCODER_MAX_THREADS},
    };
    char dir[1024], out[8192], err[4096];

    for (size_t i = 0; i < 2; i++) {
        size_t idx;
        double lo, hi;

        cr_assert_eq(dm_config_key_find(keys[i].key, &idx), DM_OK);
        cr_assert_eq(dm_config_key_bounds(idx, &lo, &hi), DM_OK);
        cr_assert(hi == keys[i].max, "%s: config max %g, encoder %g",
                  keys[i].key, hi, keys[i].max);
    }
    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    /* over the model's max_seq_length (256): refused, naming both */
    cr_assert_eq(embed_cli(dir, "--max-length 1000", "hi\n", out, sizeof(out),
                           err, sizeof(err)),
                 2, "%s", err);
    cr_assert(strstr(err, "1000") && strstr(err, "max_seq_length 256"), "%s",
              err);
    cr_assert_eq(embed_cli(dir, "--threads 65", "hi\n", out, sizeof(out), err,
                           sizeof(err)),
                 2, "%s", err);
    cr_assert(strstr(err, "from 0 to 64") != NULL, "%s", err);
    cr_assert_eq(embed_cli(dir, "--batch-size 1024 --threads 0", "hi\n", out,
                           sizeof(out), err, sizeof(err)),
                 0, "%s", err);
    /* invalid UTF-8 is refused as ingest refuses it */
    cr_assert_eq(
        embed_cli(dir, "", "ok\nbad\xff\n", out, sizeof(out), err, sizeof(err)),
        2, "%s", err);
    cr_assert(strstr(err, ":2: text is not valid UTF-8") != NULL, "%s", err);
}

/* Parses `driftmon embed` output (one JSON array per line) into v; rows. */
static size_t parse_vectors(const char *text, float *v, size_t max_rows,
                            size_t dim)
{
    char *copy = strdup(text), *line, *nl;
    size_t rows = 0;

    cr_assert_not_null(copy);
    for (line = copy; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        json_error_t jerr;
        json_t *arr;

        *nl = '\0';
        cr_assert_lt(rows, max_rows);
        cr_assert_not_null(arr = json_loads(line, 0, &jerr), "line %zu: %s",
                           rows, jerr.text);
        cr_assert_eq(json_array_size(arr), dim);
        for (size_t j = 0; j < dim; j++)
            v[rows * dim + j] =
                (float)json_number_value(json_array_get(arr, j));
        json_decref(arr);
        rows++;
    }
    free(copy);
    return rows;
}

/*
 * `embed --precision`: fp32 and bf16 both embed the fixture (bf16 may be
 * refused on a CPU oneDNN cannot run it on, then naming bf16), close to
 * each other; a bad value is exit 2 naming the option and the values;
 * with ONEDNN_MAX_CPU_ISA=AVX512_CORE (read once by oneDNN, so set here
 * for the child processes only) auto takes fp32 and gives the very
 * bytes --precision fp32 gives.
 */
Test(embed, cli_precision)
{
    static const char input[] =
        "hello world\nthe quick brown fox jumps\n\nsome more text here\n";
    static char fp32[1 << 16], bf16[1 << 16], out[1 << 16];
    static float a[4 * 32], b[4 * 32];
    char dir[1024], err[8192];
    const char *m = "--model minilm-tiny --threads 1 ";
    char args[256];
    int rc;

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    snprintf(args, sizeof(args), "%s--precision fp32", m);
    cr_assert_eq(
        embed_cli(dir, args, input, fp32, sizeof(fp32), err, sizeof(err)), 0,
        "%s", err);
    cr_assert(strstr(err, "ready, precision fp32 (set to fp32") != NULL, "%s",
              err);
    cr_assert(strstr(err, ":bf16") == NULL, "fp32 fingerprint: %s", err);
    cr_assert_eq(parse_vectors(fp32, a, 4, 32), 4);

    snprintf(args, sizeof(args), "%s--precision bf16", m);
    rc = embed_cli(dir, args, input, bf16, sizeof(bf16), err, sizeof(err));
    if (rc != 0) {
        /* a CPU without bf16 in oneDNN: a clear refusal, not a crash */
        cr_assert_eq(rc, 2, "%s", err);
        cr_assert(strstr(err, "driftmon: error:") && strstr(err, "bf16"), "%s",
                  err);
    } else {
        cr_assert(strstr(err, ":bf16) ready, precision bf16 (set to bf16") !=
                      NULL,
                  "%s", err);
        cr_assert_eq(parse_vectors(bf16, b, 4, 32), 4);
        for (size_t i = 0; i < 4; i++) {
            double dot = 0;

            for (size_t j = 0; j < 32; j++)
                dot += (double)a[i * 32 + j] * (double)b[i * 32 + j];
            /* both L2-normalised: the dot is the cosine */
            cr_expect_geq(dot, 0.999, "text %zu: cosine bf16/fp32 %.6f", i,
                          dot);
        }
    }

    snprintf(args, sizeof(args), "%s--precision nope", m);
    cr_assert_eq(
        embed_cli(dir, args, input, out, sizeof(out), err, sizeof(err)), 2,
        "%s", err);
    cr_assert(strstr(err, "driftmon: error: embed: --precision must be one "
                          "of auto, fp32, bf16: 'nope'") != NULL,
              "%s", err);
    cr_assert_str_eq(out, "");

    /* hashing has no matrix products: any precision, always fp32 */
    cr_assert_eq(embed_cli(dir, "--model hashing --precision bf16", input, out,
                           sizeof(out), err, sizeof(err)),
                 0, "%s", err);
    cr_assert(strstr(err, "precision fp32 (hashing: no matrix products)") !=
                  NULL,
              "%s", err);

    cr_assert_eq(setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE", 1), 0);
    snprintf(args, sizeof(args), "%s--precision fp32", m);
    cr_assert_eq(
        embed_cli(dir, args, input, fp32, sizeof(fp32), err, sizeof(err)), 0,
        "%s", err);
    snprintf(args, sizeof(args), "%s--precision auto", m);
    cr_assert_eq(
        embed_cli(dir, args, input, out, sizeof(out), err, sizeof(err)), 0,
        "%s", err);
    cr_assert(strstr(err, "ready, precision fp32 (auto: ") != NULL, "%s", err);
    cr_assert(strstr(err, ":bf16") == NULL, "%s", err);
    cr_assert_str_eq(out, fp32, "auto under AVX512_CORE is not fp32's bytes");
    unsetenv("ONEDNN_MAX_CPU_ISA");
}
