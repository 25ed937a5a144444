/*
 * test_model.c - loading BERT model directories: the fixture's config
 * values and fingerprint; every kind of malformed model (corrupted copies
 * written into a temporary directory) gives a clear error that names the
 * file and the tensor or key, never a crash; F16 and BF16 weights convert
 * to the same values as F32 up to rounding; safetensors edge cases; a
 * loaded model unaffected by later changes to its files, which it reports.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embed/encoder.h"
#include "embed/model.h"
#include "support/randbert.h"
#include "embed/safetensors.h"
#include "support/testutil.h"

TestSuite(model, .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

/* Files of the fixture's directory beyond those dm_randbert_write() writes. */
static const char *const fixture_extra_files[] = {
    "special_tokens_map.json",
    "config_sentence_transformers.json",
    "tokenizer.json",
    "README.md",
    "cases.jsonl",
    "special_tokens_cases.jsonl"};

/* Removes a model directory: a random model or a copy of the fixture. */
static void rm_model_dir(const char *dir)
{
    char p[1200];

    for (size_t i = 0;
         i < sizeof(fixture_extra_files) / sizeof(fixture_extra_files[0]);
         i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, fixture_extra_files[i]);
        unlink(p);
    }
    dm_randbert_remove(dir);
}

/* A small random model (hidden 8, 2 heads, 1 layer) in a temp dir. */
static void small_model(char *dir, size_t n, bool prefix)
{
    dm_randbert_opts_t o;
    char err[DM_ERRBUF_SIZE] = "";

    dm_randbert_opts_minilm(&o);
    o.hidden = 8;
    o.heads = 2;
    o.layers = 1;
    o.intermediate = 16;
    o.vocab_size = 120;
    o.max_positions = 64;
    o.max_seq_length = 32;
    o.bert_prefix = prefix;
    tu_tmpdir_make(dir, n, "test-model");
    cr_assert_eq(dm_randbert_write(&o, dir, err, sizeof(err)), DM_OK, "%s",
                 err);
}

/* Loads dir expecting failure; returns the message (static buffer). */
static const char *load_fails(const char *dir)
{
    static char err[DM_ERRBUF_SIZE];
    dm_model_t *m = NULL;
    int rc;

    err[0] = '\0';
    rc = dm_model_load(dir, &m, err, sizeof(err));
    cr_assert_neq(rc, DM_OK, "loaded a malformed model in %s", dir);
    cr_assert_null(m);
    cr_assert(err[0] != '\0', "no error message");
    return err;
}

static void expect_msg(const char *err, const char *a, const char *b)
{
    cr_expect(strstr(err, a) != NULL, "message '%s' lacks '%s'", err, a);
    if (b)
        cr_expect(strstr(err, b) != NULL, "message '%s' lacks '%s'", err, b);
}

/* Rewrites a JSON side file through an edit callback. */
static void edit_json(const char *dir, const char *rel,
                      void (*edit)(json_t *root))
{
    char p[1200];
    json_error_t jerr;
    json_t *root;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    root = json_load_file(p, 0, &jerr);
    cr_assert_not_null(root, "%s: %s", p, jerr.text);
    edit(root);
    cr_assert_eq(json_dump_file(root, p, JSON_INDENT(2)), 0);
    json_decref(root);
}

/* Rewrites the safetensors header (data kept) through an edit callback. */
static void edit_header(const char *dir, void (*edit)(json_t *hdr))
{
    char p[1200];
    unsigned char *buf, len8[8];
    size_t len, hlen = 0, nlen;
    json_error_t jerr;
    json_t *hdr;
    char *text;
    FILE *f;

    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    buf = (unsigned char *)tu_read_file(p, &len);
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | buf[i];
    hdr = json_loadb((const char *)buf + 8, hlen, 0, &jerr);
    cr_assert_not_null(hdr, "%s", jerr.text);
    edit(hdr);
    text = json_dumps(hdr, JSON_COMPACT);
    nlen = strlen(text);
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)nlen >> (8 * i));
    f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(len8, 1, 8, f), 8);
    cr_assert_eq(fwrite(text, 1, nlen, f), nlen);
    cr_assert_eq(fwrite(buf + 8 + hlen, 1, len - 8 - hlen, f), len - 8 - hlen);
    cr_assert_eq(fclose(f), 0);
    free(text);
    free(buf);
    json_decref(hdr);
}

Test(model, loads_fixture)
{
    char dir[1024], err[DM_ERRBUF_SIZE] = "";
    dm_model_t *m = NULL, *m2 = NULL;

    tu_fixture_path(dir, sizeof(dir), "minilm-tiny");
    cr_assert_eq(dm_model_load(dir, &m, err, sizeof(err)), DM_OK, "%s", err);
    cr_assert_eq(m->cfg.hidden, 32);
    cr_assert_eq(m->cfg.layers, 2);
    cr_assert_eq(m->cfg.heads, 4);
    cr_assert_eq(m->cfg.intermediate, 64);
    cr_assert_eq(m->cfg.vocab, 30522);
    cr_assert_eq(m->cfg.max_positions, 512);
    cr_assert_eq(m->cfg.type_vocab, 2);
    cr_assert_float_eq(m->cfg.layer_norm_eps, 1e-12f, 1e-18f);
    cr_assert_eq(m->max_seq_length, 256);
    cr_assert(m->do_lower_case);
    cr_assert_str_eq(strrchr(m->vocab_path, '/'), "/vocab.txt");
    cr_assert_eq(strncmp(m->fingerprint, "minilm:", 7), 0, "%s",
                 m->fingerprint);
    cr_assert_eq(strlen(m->fingerprint), 7 + 16, "%s", m->fingerprint);
    cr_assert_not_null(m->layers[1].qkv_w);
    /* fused Q|K|V: the V block is the value weight, the bias likewise */
    {
        char p[1200];
        dm_st_file_t *f = NULL;
        const dm_st_tensor_t *t;
        const float *v;
        float *owned;

        snprintf(p, sizeof(p), "%s/model.safetensors", dir);
        cr_assert_eq(dm_st_open(p, &f, err, sizeof(err)), DM_OK, "%s", err);
        t = dm_st_find(f, "encoder.layer.1.attention.self.value.weight");
        cr_assert_not_null(t);
        cr_assert_eq(dm_st_tensor_f32(f, t, &v, &owned, err, sizeof(err)),
                     DM_OK);
        cr_assert_eq(memcmp(v, m->layers[1].qkv_w + 2 * 32 * 32,
                            32 * 32 * sizeof(float)),
                     0);
        free(owned);
        t = dm_st_find(f, "encoder.layer.1.attention.self.key.bias");
        cr_assert_eq(dm_st_tensor_f32(f, t, &v, &owned, err, sizeof(err)),
                     DM_OK);
        cr_assert_eq(memcmp(v, m->layers[1].qkv_b + 32, 32 * sizeof(float)), 0);
        free(owned);
        dm_st_close(f);
    }
    cr_assert_eq(dm_model_load(dir, &m2, err, sizeof(err)), DM_OK, "%s", err);
    cr_assert_str_eq(m->fingerprint, m2->fingerprint);
    dm_model_free(m2);
    dm_model_free(m);
}

Test(model, fingerprint_changes_with_weights_and_names_prefix)
{
    char a[256], b[256], err[DM_ERRBUF_SIZE] = "";
    dm_model_t *ma = NULL, *mb = NULL;

    small_model(a, sizeof(a), false);
    small_model(b, sizeof(b), true);
    cr_assert_eq(dm_model_load(a, &ma, err, sizeof(err)), DM_OK, "%s", err);
    cr_assert_eq(dm_model_load(b, &mb, err, sizeof(err)), DM_OK,
                 "bert. prefix: %s", err);
    /* same weights, different file bytes (names) */
    cr_assert_neq(strcmp(ma->fingerprint, mb->fingerprint), 0);
    cr_assert_eq(ma->word_emb[5], mb->word_emb[5]);
    cr_assert_eq(ma->cfg.hidden, 8);
    cr_assert_eq(ma->max_seq_length, 32);
    dm_model_free(ma);
    dm_model_free(mb);
    rm_model_dir(a);
    rm_model_dir(b);
}

Test(model, missing_directory_and_files)
{
    char dir[256], p[512];

    expect_msg(load_fails("/nonexistent/model"), "/nonexistent/model",
               "not found");
    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    unlink(p);
    expect_msg(load_fails(dir), "model.safetensors", "cannot open");
    rm_model_dir(dir);

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/config.json", dir);
    unlink(p);
    expect_msg(load_fails(dir), "config.json", "cannot open");
    rm_model_dir(dir);

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/vocab.txt", dir);
    unlink(p);
    expect_msg(load_fails(dir), "vocab.txt", "missing");
    rm_model_dir(dir);

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/1_Pooling/config.json", dir);
    unlink(p);
    expect_msg(load_fails(dir), "1_Pooling/config.json", NULL);
    rm_model_dir(dir);
}

static void truncate_file(const char *dir, size_t keep)
{
    char p[512];
    unsigned char *buf;
    size_t len;

    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    buf = (unsigned char *)tu_read_file(p, &len);
    tu_write_bytes(p, buf, keep < len ? keep : len);
    free(buf);
}

Test(model, truncated_safetensors)
{
    char dir[256], p[512];
    unsigned char *buf;
    size_t len;

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    buf = (unsigned char *)tu_read_file(p, &len);
    free(buf);
    truncate_file(dir, len - 100);
    expect_msg(load_fails(dir), "model.safetensors", "outside the data");
    truncate_file(dir, 5);
    expect_msg(load_fails(dir), "model.safetensors", "truncated");
    truncate_file(dir, 0);
    expect_msg(load_fails(dir), "model.safetensors", "truncated");
    rm_model_dir(dir);
}

static void set_header_len(const char *dir, uint64_t v)
{
    char p[512];
    unsigned char *buf;
    size_t len;

    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    buf = (unsigned char *)tu_read_file(p, &len);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(v >> (8 * i));
    tu_write_bytes(p, buf, len);
    free(buf);
}

Test(model, header_length_bounds)
{
    char dir[256];

    small_model(dir, sizeof(dir), false);
    set_header_len(dir, 1u << 30);
    expect_msg(load_fails(dir), "model.safetensors", "exceeds");
    set_header_len(dir, 50u << 20); /* under the limit, past the end */
    expect_msg(load_fails(dir), "model.safetensors", "truncated");
    set_header_len(dir, UINT64_MAX);
    expect_msg(load_fails(dir), "model.safetensors", "exceeds");
    rm_model_dir(dir);
}

Test(model, bad_json_header)
{
    char dir[256], p[512];
    unsigned char *buf;
    size_t len;

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    buf = (unsigned char *)tu_read_file(p, &len);
    memcpy(buf + 8, "{\"a\": [1, 2", 11);
    tu_write_bytes(p, buf, len);
    expect_msg(load_fails(dir), "model.safetensors", "not valid JSON");
    memcpy(buf + 8, "[1, 2      ", 11);
    buf[8 + 10] = ']';
    /* a valid JSON array followed by garbage is still invalid */
    tu_write_bytes(p, buf, len);
    expect_msg(load_fails(dir), "model.safetensors", NULL);
    free(buf);
    rm_model_dir(dir);
}

static void hdr_empty(json_t *h)
{
    json_object_clear(h);
}

static void hdr_wrong_dtype(json_t *h)
{
    json_t *e =
        json_object_get(h, "encoder.layer.0.attention.self.query.weight");

    json_object_set_new(e, "dtype", json_string("I32")); /* same size */
}

static void hdr_unknown_dtype(json_t *h)
{
    json_t *e = json_object_get(h, "encoder.layer.0.output.dense.bias");

    json_object_set_new(e, "dtype", json_string("F7"));
}

static void hdr_wrong_shape(json_t *h)
{
    /* [16, 8] -> [8, 16]: same byte count, transposed */
    json_t *e = json_object_get(h, "encoder.layer.0.intermediate.dense.weight");

    json_object_set_new(e, "shape", json_pack("[ii]", 8, 16));
}

static void hdr_size_mismatch(json_t *h)
{
    json_t *e = json_object_get(h, "encoder.layer.0.attention.self.key.weight");

    json_object_set_new(e, "shape", json_pack("[ii]", 8, 4));
}

static void hdr_missing(json_t *h)
{
    json_object_del(h, "encoder.layer.0.output.dense.bias");
}

static void hdr_outside(json_t *h)
{
    json_t *e = json_object_get(h, "embeddings.LayerNorm.bias");
    json_t *o = json_object_get(e, "data_offsets");
    json_int_t end = json_integer_value(json_array_get(o, 1));
    json_int_t sz = end - json_integer_value(json_array_get(o, 0));

    json_object_set_new(e, "data_offsets",
                        json_pack("[II]", end + 100000, end + 100000 + sz));
}

static void hdr_negative(json_t *h)
{
    json_t *e = json_object_get(h, "embeddings.LayerNorm.bias");

    json_object_set_new(e, "data_offsets", json_pack("[ii]", -32, 0));
}

static void hdr_overlap(json_t *h)
{
    json_t *a = json_object_get(h, "encoder.layer.0.output.dense.bias");
    json_t *b = json_object_get(h, "encoder.layer.0.attention.self.key.bias");

    json_object_set(a, "data_offsets", json_object_get(b, "data_offsets"));
}

static void hdr_partial_overlap(json_t *h)
{
    json_t *a = json_object_get(h, "encoder.layer.0.output.dense.bias");
    json_t *o = json_object_get(
        json_object_get(h, "encoder.layer.0.attention.self.key.bias"),
        "data_offsets");
    json_int_t b0 = json_integer_value(json_array_get(o, 0));

    json_object_set_new(a, "data_offsets", json_pack("[II]", b0 + 4, b0 + 36));
}

static void hdr_bad_entry(json_t *h)
{
    json_object_set_new(h, "embeddings.LayerNorm.bias", json_string("x"));
}

static void hdr_bad_shape_type(json_t *h)
{
    json_t *e = json_object_get(h, "embeddings.LayerNorm.bias");

    json_object_set_new(e, "shape", json_pack("[s]", "8"));
}

static void hdr_bad_metadata(json_t *h)
{
    json_object_set_new(h, "__metadata__", json_integer(3));
}

Test(model, malformed_headers_name_the_tensor)
{
    static const struct {
        void (*edit)(json_t *);
        const char *a, *b;
    } cases[] = {
        {hdr_empty, "missing tensor", "embeddings.word_embeddings.weight"},
        {hdr_wrong_dtype, "encoder.layer.0.attention.self.query.weight",
         "dtype I32 not supported"},
        {hdr_unknown_dtype, "encoder.layer.0.output.dense.bias",
         "unknown dtype"},
        {hdr_wrong_shape, "encoder.layer.0.intermediate.dense.weight",
         "shape [8, 16], expected [16, 8]"},
        {hdr_size_mismatch, "encoder.layer.0.attention.self.key.weight",
         "need"},
        {hdr_missing, "missing tensor", "encoder.layer.0.output.dense.bias"},
        {hdr_outside, "embeddings.LayerNorm.bias", "outside the data"},
        {hdr_negative, "embeddings.LayerNorm.bias", "data_offsets"},
        {hdr_overlap, "overlap", "encoder.layer.0."},
        {hdr_partial_overlap, "overlap", "encoder.layer.0."},
        {hdr_bad_entry, "embeddings.LayerNorm.bias", "not an object"},
        {hdr_bad_shape_type, "embeddings.LayerNorm.bias", "shape[0]"},
        {hdr_bad_metadata, "__metadata__", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[256];
        const char *err;

        small_model(dir, sizeof(dir), false);
        edit_header(dir, cases[i].edit);
        err = load_fails(dir);
        expect_msg(err, "model.safetensors", NULL);
        expect_msg(err, cases[i].a, cases[i].b);
        rm_model_dir(dir);
    }
}

static void cfg_no_heads(json_t *c)
{
    json_object_del(c, "num_attention_heads");
}

static void cfg_string_hidden(json_t *c)
{
    json_object_set_new(c, "hidden_size", json_string("8"));
}

static void cfg_heads_3(json_t *c)
{
    json_object_set_new(c, "num_attention_heads", json_integer(3));
}

static void cfg_relu(json_t *c)
{
    json_object_set_new(c, "hidden_act", json_string("relu"));
}

static void cfg_gelu_new(json_t *c)
{
    json_object_set_new(c, "hidden_act", json_string("gelu_new"));
}

static void cfg_no_act(json_t *c)
{
    json_object_del(c, "hidden_act");
}

static void cfg_eps_string(json_t *c)
{
    json_object_set_new(c, "layer_norm_eps", json_string("1e-12"));
}

static void cfg_zero_layers(json_t *c)
{
    json_object_set_new(c, "num_hidden_layers", json_integer(0));
}

static void cfg_more_layers(json_t *c)
{
    json_object_set_new(c, "num_hidden_layers", json_integer(2));
}

static void cfg_bigger_vocab(json_t *c)
{
    json_object_set_new(c, "vocab_size", json_integer(121));
}

static void cfg_relative_pos(json_t *c)
{
    json_object_set_new(c, "position_embedding_type",
                        json_string("relative_key"));
}

static void pool_cls(json_t *c)
{
    json_object_set_new(c, "pooling_mode_mean_tokens", json_false());
    json_object_set_new(c, "pooling_mode_cls_token", json_true());
}

static void pool_mean_and_max(json_t *c)
{
    json_object_set_new(c, "pooling_mode_max_tokens", json_true());
}

static void pool_dim(json_t *c)
{
    json_object_set_new(c, "word_embedding_dimension", json_integer(384));
}

static void sbert_too_long(json_t *c)
{
    json_object_set_new(c, "max_seq_length", json_integer(65));
}

static void tok_lower_string(json_t *c)
{
    json_object_set_new(c, "do_lower_case", json_string("yes"));
}

Test(model, malformed_configs_name_the_key)
{
    static const struct {
        const char *file;
        void (*edit)(json_t *);
        const char *a, *b;
    } cases[] = {
        {"config.json", cfg_no_heads, "missing key 'num_attention_heads'",
         NULL},
        {"config.json", cfg_string_hidden, "'hidden_size'",
         "expected an integer"},
        {"config.json", cfg_heads_3, "not divisible", "num_attention_heads"},
        {"config.json", cfg_relu, "hidden_act 'relu' not supported", "gelu"},
        {"config.json", cfg_gelu_new, "hidden_act 'gelu_new'", NULL},
        {"config.json", cfg_no_act, "missing key 'hidden_act'", NULL},
        {"config.json", cfg_eps_string, "'layer_norm_eps'", NULL},
        {"config.json", cfg_zero_layers, "'num_hidden_layers'", "outside"},
        {"config.json", cfg_more_layers, "missing tensor", "encoder.layer.1."},
        {"config.json", cfg_bigger_vocab, "embeddings.word_embeddings.weight",
         "expected [121, 8]"},
        {"config.json", cfg_relative_pos, "position_embedding_type", NULL},
        {"1_Pooling/config.json", pool_cls, "pooling_mode_mean_tokens",
         "mean pooling"},
        {"1_Pooling/config.json", pool_mean_and_max, "pooling_mode_max_tokens",
         NULL},
        {"1_Pooling/config.json", pool_dim, "word_embedding_dimension", NULL},
        {"sentence_bert_config.json", sbert_too_long, "max_seq_length", NULL},
        {"tokenizer_config.json", tok_lower_string, "do_lower_case", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[256];
        const char *err;

        small_model(dir, sizeof(dir), false);
        edit_json(dir, cases[i].file, cases[i].edit);
        err = load_fails(dir);
        expect_msg(err, cases[i].a, cases[i].b);
        if (strcmp(cases[i].file, "config.json") == 0 &&
            strstr(cases[i].a, "tensor") == NULL &&
            strstr(cases[i].a, "embeddings") == NULL)
            expect_msg(err, "config.json", NULL);
        rm_model_dir(dir);
    }
}

Test(model, config_not_json)
{
    char dir[256], p[512];

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/config.json", dir);
    tu_write_bytes(p, "{\"hidden_size\": ", 16);
    expect_msg(load_fails(dir), "config.json", "invalid JSON");
    tu_write_bytes(p, "[1]", 3);
    expect_msg(load_fails(dir), "config.json", "not a JSON object");
    rm_model_dir(dir);
}

/* Writes a model of this shape, dtype and seed into a fresh temp dir. */
static dm_model_t *write_and_load_seed(char *dir, size_t n, dm_st_dtype_t dtype,
                                       uint64_t seed)
{
    dm_randbert_opts_t o;
    char err[DM_ERRBUF_SIZE] = "";
    dm_model_t *m = NULL;

    dm_randbert_opts_minilm(&o);
    o.hidden = 48; /* 3 heads of 16 */
    o.heads = 3;
    o.layers = 2;
    o.intermediate = 96;
    o.vocab_size = 300;
    o.max_positions = 128;
    o.seed = seed;
    o.dtype = dtype;
    tu_tmpdir_make(dir, n, "test-model");
    cr_assert_eq(dm_randbert_write(&o, dir, err, sizeof(err)), DM_OK, "%s",
                 err);
    cr_assert_eq(dm_model_load(dir, &m, err, sizeof(err)), DM_OK, "%s", err);
    return m;
}

static dm_model_t *write_and_load(char *dir, size_t n, dm_st_dtype_t dtype)
{
    return write_and_load_seed(dir, n, dtype, 5);
}

static void compare_weights(const float *f32, const float *half, size_t n,
                            bool bf16, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        float want = bf16 ? dm_st_bf16_to_f32(dm_st_f32_to_bf16(f32[i]))
                          : dm_st_f16_to_f32(dm_st_f32_to_f16(f32[i]));

        cr_assert_eq(half[i], want, "%s[%zu]: %.9g, want %.9g (from %.9g)",
                     what, i, (double)half[i], (double)want, (double)f32[i]);
    }
}

static void encode_some(const dm_model_t *m, float *out)
{
    static const int32_t a[] = {2, 40, 41, 42, 3};
    static const int32_t b[] = {2, 100, 7, 250, 299, 8, 9, 17, 3};
    const int32_t *ids[2] = {a, b};
    size_t lens[2] = {5, 9};
    dm_encoder_t *e = NULL;
    char err[DM_ERRBUF_SIZE] = "";

    cr_assert_eq(dm_encoder_new(m, NULL, &e, err, sizeof(err)), DM_OK);
    cr_assert_eq(dm_encoder_encode(e, ids, lens, 2, out, err, sizeof(err)),
                 DM_OK, "%s", err);
    dm_encoder_free(e);
}

static double cosine(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;

    for (size_t i = 0; i < n; i++) {
        d += (double)a[i] * (double)b[i];
        na += (double)a[i] * (double)a[i];
        nb += (double)b[i] * (double)b[i];
    }
    return d / sqrt(na * nb);
}

Test(model, f16_and_bf16_convert_like_f32)
{
    char d32[256], d16[256], db16[256];
    dm_model_t *m32 = write_and_load(d32, sizeof(d32), DM_ST_F32);
    dm_model_t *m16 = write_and_load(d16, sizeof(d16), DM_ST_F16);
    dm_model_t *mb = write_and_load(db16, sizeof(db16), DM_ST_BF16);
    const size_t H = 48;
    float e32[2 * 48], e16[2 * 48], eb[2 * 48];

    compare_weights(m32->word_emb, m16->word_emb, 300 * H, false, "word F16");
    compare_weights(m32->word_emb, mb->word_emb, 300 * H, true, "word BF16");
    for (size_t l = 0; l < 2; l++) {
        compare_weights(m32->layers[l].qkv_w, m16->layers[l].qkv_w, 3 * H * H,
                        false, "qkv F16");
        compare_weights(m32->layers[l].ffn_out_w, mb->layers[l].ffn_out_w,
                        H * 96, true, "ffn_out BF16");
        compare_weights(m32->layers[l].out_ln_g, m16->layers[l].out_ln_g, H,
                        false, "ln F16");
    }
    cr_assert_neq(strcmp(m32->fingerprint, m16->fingerprint), 0);
    encode_some(m32, e32);
    encode_some(m16, e16);
    encode_some(mb, eb);
    for (size_t s = 0; s < 2; s++) {
        double c16 = cosine(e32 + s * H, e16 + s * H, H);
        double cb = cosine(e32 + s * H, eb + s * H, H);

        fprintf(stderr, "sentence %zu: cosine F32/F16 %.6f, F32/BF16 %.6f\n", s,
                c16, cb);
        cr_expect_gt(c16, 0.99999, "F16 cosine %f", c16);
        cr_expect_gt(cb, 0.9995, "BF16 cosine %f", cb);
    }
    dm_model_free(m32);
    dm_model_free(m16);
    dm_model_free(mb);
    rm_model_dir(d32);
    rm_model_dir(d16);
    rm_model_dir(db16);
}

Test(model, half_float_conversions)
{
    static const struct {
        uint16_t h;
        float f;
    } f16[] = {
        {0x0000, 0.0f},
        {0x3c00, 1.0f},
        {0xc000, -2.0f},
        {0x7bff, 65504.0f},
        {0x0400, 6.103515625e-05f},        /* smallest normal */
        {0x0001, 5.9604644775390625e-08f}, /* smallest subnormal */
        {0x03ff, 6.097555160522461e-05f},  /* largest subnormal */
        {0x3555, 0.333251953125f},
    };

    for (size_t i = 0; i < sizeof(f16) / sizeof(f16[0]); i++) {
        cr_assert_eq(dm_st_f16_to_f32(f16[i].h), f16[i].f, "0x%04x -> %g",
                     f16[i].h, (double)dm_st_f16_to_f32(f16[i].h));
        cr_assert_eq(dm_st_f32_to_f16(f16[i].f), f16[i].h, "%g -> 0x%04x",
                     (double)f16[i].f, dm_st_f32_to_f16(f16[i].f));
    }
    cr_assert(isinf(dm_st_f16_to_f32(0x7c00)));
    cr_assert(isnan(dm_st_f16_to_f32(0x7e00)));
    cr_assert_eq(dm_st_f32_to_f16(1e6f), 0x7c00); /* overflow to inf */
    cr_assert_eq(dm_st_f32_to_f16(1e-9f), 0x0000);
    /* ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    cr_assert_eq(dm_st_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    cr_assert_eq(dm_st_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    cr_assert_eq(dm_st_bf16_to_f32(0x3f80), 1.0f);
    cr_assert_eq(dm_st_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(dm_st_f32_to_bf16(-2.5f), 0xc020);
    cr_assert(isnan(dm_st_bf16_to_f32(dm_st_f32_to_bf16(NAN))));
    /* every half round-trips */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = dm_st_f16_to_f32((uint16_t)h);

        if (!isnan(f))
            cr_assert_eq(dm_st_f32_to_f16(f), h, "0x%04x", h);
    }
}

Test(model, safetensors_reader_basics)
{
    char dir[256], p[512], err[DM_ERRBUF_SIZE] = "";
    dm_st_file_t *f = NULL;
    const dm_st_tensor_t *t;
    const float *v;
    float *owned;

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    cr_assert_eq(dm_st_open(p, &f, err, sizeof(err)), DM_OK, "%s", err);
    /* 5 embedding tensors + position_ids + 16 per layer + pooler (2) */
    cr_assert_eq(dm_st_count(f), 5 + 1 + 16 + 2);
    t = dm_st_find(f, "embeddings.position_ids");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, DM_ST_I64);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[1], 64);
    cr_assert_eq(dm_st_tensor_f32(f, t, &v, &owned, err, sizeof(err)),
                 DM_EMODEL);
    expect_msg(err, "embeddings.position_ids", "I64");
    t = dm_st_find(f, "embeddings.LayerNorm.weight");
    cr_assert_eq(dm_st_tensor_f32(f, t, &v, &owned, err, sizeof(err)), DM_OK);
    cr_assert_null(owned, "aligned F32 is used in place");
    cr_assert_null(dm_st_find(f, "nope"));
    dm_st_close(f);
    dm_st_close(NULL);
    rm_model_dir(dir);
}

/* Overwrites dir/rel in place (same inode) with n bytes of p. */
static void overwrite_in_place(const char *dir, const char *rel, const void *p,
                               size_t n)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    f = fopen(path, "r+b");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(truncate(path, (off_t)n), 0);
}

static void expect_changed(const dm_model_t *m, const char *a, const char *b)
{
    char what[DM_ERRBUF_SIZE] = "";

    cr_assert(dm_model_files_changed(m, what, sizeof(what)),
              "the change on disk is not seen");
    expect_msg(what, a, b);
}

/*
 * A loaded model owns its weights: truncating model.safetensors,
 * rewriting it in place with other weights or garbage, and deleting it
 * neither crash the encoder (a memory-mapped file raised SIGBUS) nor
 * change a single bit of what it computes (a mapping followed the
 * rewrite), and dm_model_files_changed() reports each change.  F32
 * (weights used in place in the loaded copy) and F16 (all converted; the
 * copy is freed) both.
 */
Test(model, weights_changed_on_disk_after_load)
{
    static const dm_st_dtype_t dtypes[] = {DM_ST_F32, DM_ST_F16};

    for (size_t k = 0; k < 2; k++) {
        char dir[256], other[256], p[512], fp[32], what[DM_ERRBUF_SIZE];
        dm_model_t *m = write_and_load(dir, sizeof(dir), dtypes[k]);
        dm_model_t *o = write_and_load_seed(other, sizeof(other), dtypes[k], 6);
        float before[2 * 48], after[2 * 48];
        unsigned char *buf, *junk;
        size_t len, olen;

        snprintf(fp, sizeof(fp), "%s", m->fingerprint);
        cr_assert_not(dm_model_files_changed(m, what, sizeof(what)),
                      "changed right after loading: %s", what);
        cr_assert_str_eq(what, "");
        encode_some(m, before);

        /* other valid weights of the same shape, written in place */
        snprintf(p, sizeof(p), "%s/model.safetensors", dir);
        buf = (unsigned char *)tu_read_file(p, &len);
        snprintf(p, sizeof(p), "%s/model.safetensors", other);
        junk = (unsigned char *)tu_read_file(p, &olen);
        cr_assert_eq(olen, len, "same shape, same size");
        cr_assert_str_neq(o->fingerprint, fp);
        overwrite_in_place(dir, "model.safetensors", junk, olen);
        expect_changed(m, "model.safetensors", "changed in place");
        encode_some(m, after);
        cr_assert_eq(memcmp(before, after, sizeof(before)), 0,
                     "embeddings changed after an in-place rewrite");

        /* truncated to half */
        truncate_file(dir, len / 2);
        expect_changed(m, "model.safetensors", "bytes");
        encode_some(m, after);
        cr_assert_eq(memcmp(before, after, sizeof(before)), 0,
                     "embeddings changed after truncation");

        /* garbage, then gone */
        memset(junk, 0xff, olen);
        overwrite_in_place(dir, "model.safetensors", junk, 1000);
        encode_some(m, after);
        cr_assert_eq(memcmp(before, after, sizeof(before)), 0);
        snprintf(p, sizeof(p), "%s/model.safetensors", dir);
        cr_assert_eq(unlink(p), 0);
        expect_changed(m, "model.safetensors", "removed");
        encode_some(m, after);
        cr_assert_eq(memcmp(before, after, sizeof(before)), 0);
        cr_assert_str_eq(m->fingerprint, fp);

        /* a new load reads what is on disk now: a clear error */
        tu_write_bytes(p, buf, len / 2);
        expect_msg(load_fails(dir), "model.safetensors", "outside the data");
        free(buf);
        free(junk);
        dm_model_free(m);
        dm_model_free(o);
        rm_model_dir(dir);
        rm_model_dir(other);
    }
}

/* Each kind of change to the model files is told, naming the file. */
Test(model, files_changed_says_what)
{
    char dir[256], p[512], q[512], what[DM_ERRBUF_SIZE];
    dm_model_t *m = NULL;
    unsigned char *buf;
    size_t len;
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};

    small_model(dir, sizeof(dir), false);
    snprintf(p, sizeof(p), "%s/tokenizer_config.json", dir);
    cr_assert_eq(unlink(p), 0); /* optional: absent at load */
    cr_assert_eq(dm_model_load(dir, &m, what, sizeof(what)), DM_OK, "%s", what);
    cr_assert_not(dm_model_files_changed(m, what, sizeof(what)), "%s", what);

    /* an optional file that appears changes the model too */
    tu_write_bytes(p, "{\"do_lower_case\": false}", 24);
    expect_changed(m, "tokenizer_config.json", "appeared");
    cr_assert_eq(unlink(p), 0);
    cr_assert_not(dm_model_files_changed(m, what, sizeof(what)), "%s", what);

    /* replaced through a rename (a new inode), same bytes */
    snprintf(p, sizeof(p), "%s/vocab.txt", dir);
    snprintf(q, sizeof(q), "%s/vocab.txt.new", dir);
    buf = (unsigned char *)tu_read_file(p, &len);
    tu_write_bytes(q, buf, len);
    cr_assert_eq(rename(q, p), 0);
    expect_changed(m, "vocab.txt", "replaced by another file");

    /* only the modification time set back (cp -p, tar): still told */
    snprintf(p, sizeof(p), "%s/config.json", dir);
    cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
    expect_changed(m, "config.json", "and 1 other file");
    dm_model_free(m);

    /* a model loaded as the files are now: nothing to tell */
    cr_assert_eq(dm_model_load(dir, &m, what, sizeof(what)), DM_OK, "%s", what);
    cr_assert_not(dm_model_files_changed(m, what, sizeof(what)), "%s", what);
    dm_model_free(m);
    free(buf);
    rm_model_dir(dir);
}
