/*
 * model.c - loading and validating a BERT sentence-embedding model
 * directory (see model.h for the layout).
 *
 * The small JSON files are read with a size cap and parsed with jansson;
 * each key is checked for presence, type and bounds from one table.  The
 * weights file is read into memory through safetensors.c (a private
 * copy, never a mapping: see there), every tensor the encoder needs is
 * looked up (with or without the "bert." prefix), checked against the
 * shape config.json implies, and exposed as float32: in place in that
 * copy for aligned F32, converted into owned buffers otherwise (the copy
 * is freed when no tensor is used in place, as with F16 / BF16).  Q, K
 * and V of each layer are copied into one fused matrix so the encoder
 * runs a single GEMM for all three projections.
 *
 * The fingerprint hashes every byte that can change an embedding (config,
 * weights, vocabulary, tokenizer, sentence-transformers and pooling
 * configs), so an embedding cache keyed by it is never stale.
 *
 * DESIGN: files changed under a loaded model.  A loaded model owns
 * everything it computes with, so it keeps matching its fingerprint
 * whatever happens to the files afterwards.  What changed on disk is told
 * by dm_model_files_changed(): the stat() of each file (device, inode,
 * size, modification and status-change times) is taken before any file
 * is read and compared later; taking it first means a change made while
 * loading is reported too, never missed.
 */
#include "embed/model.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/rng.h"
#include "common/time.h"
#include "embed/safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model.c reads little-endian safetensors data in place"
#endif

/* The files a model is loaded from (and its fingerprint hashes). */
static const char *const model_files[] = {"config.json",
                                          "model.safetensors",
                                          "vocab.txt",
                                          "tokenizer_config.json",
                                          "sentence_bert_config.json",
                                          "1_Pooling/config.json"};
#define N_MODEL_FILES (sizeof(model_files) / sizeof(model_files[0]))

/* What stat() said of one model file. */
struct file_sig {
    bool present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

/* JSON side files are a few hundred bytes; anything huge is not ours. */
#define JSON_FILE_MAX (1024 * 1024)
#define FP_CHUNK      (1024 * 1024)

struct dm_model_store {
    dm_st_file_t *st; /* NULL after loading when no tensor is in place */
    float **owned;
    size_t n_owned, cap_owned;
    size_t n_in_place; /* tensors used in place in st's copy */
    struct file_sig sigs[N_MODEL_FILES]; /* as loaded */
};

/* Reads a whole small file into a NUL-terminated buffer (free()). */
static int read_small(const char *path, char **out, size_t *len, char *errbuf,
                      size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t n = 0;
    int rc = DM_OK;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = dm_err_set(errbuf, errlen, errno == ENOENT ? DM_ENOTFOUND : DM_EIO,
                        "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    buf = dm_malloc(JSON_FILE_MAX + 1);
    n = fread(buf, 1, JSON_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: read error", path);
        goto out;
    }
    if (n > JSON_FILE_MAX) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL, "%s: larger than %d bytes",
                        path, JSON_FILE_MAX);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

/* Reads and parses dir/rel as a JSON object.  raw (optional) gets bytes. */
static int load_json(const char *dir, const char *rel, json_t **root,
                     char **raw, size_t *raw_len, char *errbuf, size_t errlen)
{
    char path[4096];
    char *buf = NULL;
    size_t len = 0;
    json_error_t jerr;
    int rc;

    *root = NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    rc = read_small(path, &buf, &len, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*root == NULL) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                        "%s: invalid JSON: %s (line %d)", path, jerr.text,
                        jerr.line);
    } else if (!json_is_object(*root)) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL, "%s: not a JSON object",
                        path);
        json_decref(*root);
        *root = NULL;
    }
    if (rc == DM_OK && raw) {
        *raw = buf;
        *raw_len = len;
        buf = NULL;
    }
    free(buf);
    return rc;
}

/* config.json integer keys: name, field offset, bounds. */
static const struct int_key {
    const char *name;
    size_t offset;
    size_t min, max;
} config_ints[] = {
    {"hidden_size", offsetof(dm_bert_config_t, hidden), 1, 16384},
    {"num_hidden_layers", offsetof(dm_bert_config_t, layers), 1, 256},
    {"num_attention_heads", offsetof(dm_bert_config_t, heads), 1, 1024},
    {"intermediate_size", offsetof(dm_bert_config_t, intermediate), 1, 65536},
    {"vocab_size", offsetof(dm_bert_config_t, vocab), 1, 10000000},
    {"max_position_embeddings", offsetof(dm_bert_config_t, max_positions), 2,
     65536},
    {"type_vocab_size", offsetof(dm_bert_config_t, type_vocab), 1, 1024},
};

static int get_int(const char *path, const json_t *root, const char *key,
                   size_t min, size_t max, size_t *out, char *errbuf,
                   size_t errlen)
{
    const json_t *v = json_object_get(root, key);
    json_int_t x;

    if (v == NULL)
        return dm_err_set(errbuf, errlen, DM_EMODEL, "%s: missing key '%s'",
                          path, key);
    if (!json_is_integer(v))
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: key '%s': expected an integer", path, key);
    x = json_integer_value(v);
    if (x < (json_int_t)min || (unsigned long long)x > max)
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: key '%s': %lld outside [%zu, %zu]", path, key,
                          (long long)x, min, max);
    *out = (size_t)x;
    return DM_OK;
}

/* An optional boolean key: absent leaves *out unchanged. */
static int get_bool(const char *path, const json_t *root, const char *key,
                    bool *out, char *errbuf, size_t errlen)
{
    const json_t *v = json_object_get(root, key);

    if (v == NULL || json_is_null(v))
        return DM_OK;
    if (!json_is_boolean(v))
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: key '%s': expected true or false", path, key);
    *out = json_is_true(v);
    return DM_OK;
}

/* An optional string key that, when present, must equal want. */
static int want_string(const char *path, const json_t *root, const char *key,
                       const char *want, const char *why, char *errbuf,
                       size_t errlen)
{
    const json_t *v = json_object_get(root, key);

    if (v == NULL)
        return DM_OK;
    if (!json_is_string(v))
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: key '%s': expected a string", path, key);
    if (strcmp(json_string_value(v), want) != 0)
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: %s '%.64s' not supported (%s)", path, key,
                          json_string_value(v), why);
    return DM_OK;
}

static int parse_config(const char *dir, dm_model_t *m, char **raw,
                        size_t *raw_len, char *errbuf, size_t errlen)
{
    char path[4096];
    json_t *root = NULL;
    const json_t *v;
    int rc;

    snprintf(path, sizeof(path), "%s/config.json", dir);
    rc = load_json(dir, "config.json", &root, raw, raw_len, errbuf, errlen);
    if (rc != DM_OK)
        return rc == DM_ENOTFOUND ? DM_EMODEL : rc;
    for (size_t i = 0; i < sizeof(config_ints) / sizeof(config_ints[0]); i++) {
        const struct int_key *k = &config_ints[i];

        rc = get_int(path, root, k->name, k->min, k->max,
                     (size_t *)(void *)((char *)&m->cfg + k->offset), errbuf,
                     errlen);
        if (rc != DM_OK)
            goto out;
    }
    v = json_object_get(root, "layer_norm_eps");
    if (v == NULL) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                        "%s: missing key 'layer_norm_eps'", path);
        goto out;
    }
    if (!json_is_number(v) || !(json_number_value(v) > 0) ||
        !(json_number_value(v) < 1)) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                        "%s: key 'layer_norm_eps': expected a number in "
                        "(0, 1)",
                        path);
        goto out;
    }
    m->cfg.layer_norm_eps = (float)json_number_value(v);
    v = json_object_get(root, "hidden_act");
    if (v == NULL) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                        "%s: missing key 'hidden_act'", path);
        goto out;
    }
    rc = want_string(path, root, "hidden_act", "gelu",
                     "only \"gelu\", the exact erf GELU", errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    rc = want_string(path, root, "position_embedding_type", "absolute",
                     "only \"absolute\"", errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    rc = want_string(path, root, "model_type", "bert", "only \"bert\"", errbuf,
                     errlen);
    if (rc != DM_OK)
        goto out;
    if (m->cfg.hidden % m->cfg.heads != 0) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                        "%s: hidden_size %zu is not divisible by "
                        "num_attention_heads %zu",
                        path, m->cfg.hidden, m->cfg.heads);
        goto out;
    }
out:
    json_decref(root);
    if (rc != DM_OK && raw) {
        free(*raw);
        *raw = NULL;
    }
    return rc;
}

int dm_model_read_config(const char *dir, dm_bert_config_t *cfg, char *errbuf,
                         size_t errlen)
{
    dm_model_t m;
    int rc;

    memset(&m, 0, sizeof(m));
    rc = parse_config(dir, &m, NULL, NULL, errbuf, errlen);
    *cfg = m.cfg;
    return rc;
}

int dm_model_tokenizer_settings(const char *dir, size_t max_len_cap,
                                size_t default_len, bool *do_lower_case,
                                size_t *max_seq_length, char *errbuf,
                                size_t errlen)
{
    char path[4096];
    json_t *root = NULL;
    int rc;

    /* tokenizer_config.json: optional, BERT uncased by default */
    *do_lower_case = true;
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    rc = load_json(dir, "tokenizer_config.json", &root, NULL, NULL, errbuf,
                   errlen);
    if (rc == DM_ENOTFOUND)
        rc = DM_OK;
    else if (rc == DM_OK)
        rc = get_bool(path, root, "do_lower_case", do_lower_case, errbuf,
                      errlen);
    json_decref(root);
    root = NULL;
    if (rc != DM_OK)
        return rc;

    /* its "do_lower_case" is sentence-transformers' own, not the
     * tokenizer's, so only max_seq_length is read here */
    snprintf(path, sizeof(path), "%s/sentence_bert_config.json", dir);
    rc = load_json(dir, "sentence_bert_config.json", &root, NULL, NULL, errbuf,
                   errlen);
    if (rc == DM_ENOTFOUND && default_len > 0) {
        *max_seq_length = default_len;
        return DM_OK;
    }
    if (rc == DM_OK)
        rc = get_int(path, root, "max_seq_length", 2, max_len_cap,
                     max_seq_length, errbuf, errlen);
    json_decref(root);
    return rc;
}

/* tokenizer_config.json, sentence_bert_config.json, 1_Pooling. */
static int parse_side_configs(const char *dir, dm_model_t *m, char *errbuf,
                              size_t errlen)
{
    static const char *const pool_off[] = {
        "pooling_mode_cls_token", "pooling_mode_max_tokens",
        "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
        "pooling_mode_lasttoken"};
    char path[4096];
    json_t *root = NULL;
    size_t dim = 0;
    bool b;
    int rc;

    rc = dm_model_tokenizer_settings(dir, m->cfg.max_positions, 0,
                                     &m->do_lower_case, &m->max_seq_length,
                                     errbuf, errlen);
    if (rc != DM_OK)
        goto out;

    snprintf(path, sizeof(path), "%s/1_Pooling/config.json", dir);
    rc = load_json(dir, "1_Pooling/config.json", &root, NULL, NULL, errbuf,
                   errlen);
    if (rc != DM_OK)
        goto out;
    b = false;
    rc = get_bool(path, root, "pooling_mode_mean_tokens", &b, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    if (!b) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                        "%s: pooling_mode_mean_tokens must be true (only "
                        "mean pooling is supported)",
                        path);
        goto out;
    }
    for (size_t i = 0; i < sizeof(pool_off) / sizeof(pool_off[0]); i++) {
        b = false;
        rc = get_bool(path, root, pool_off[i], &b, errbuf, errlen);
        if (rc != DM_OK)
            goto out;
        if (b) {
            rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                            "%s: %s is true, but only mean pooling is "
                            "supported",
                            path, pool_off[i]);
            goto out;
        }
    }
    if (json_object_get(root, "word_embedding_dimension")) {
        rc = get_int(path, root, "word_embedding_dimension", 1, SIZE_MAX, &dim,
                     errbuf, errlen);
        if (rc != DM_OK)
            goto out;
        if (dim != m->cfg.hidden) {
            rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                            "%s: word_embedding_dimension %zu differs from "
                            "hidden_size %zu",
                            path, dim, m->cfg.hidden);
            goto out;
        }
    }
out:
    json_decref(root);
    if (rc == DM_ENOTFOUND)
        rc = DM_EMODEL;
    return rc;
}

static void store_own(dm_model_store_t *s, float *p)
{
    if (s->n_owned == s->cap_owned) {
        s->cap_owned = s->cap_owned ? 2 * s->cap_owned : 64;
        s->owned = dm_reallocarray(s->owned, s->cap_owned, sizeof(float *));
    }
    s->owned[s->n_owned++] = p;
}

static float *store_alloc(dm_model_store_t *s, size_t n)
{
    float *p = dm_mallocarray(n, sizeof(float));

    store_own(s, p);
    return p;
}

/*
 * Looks up tensor name (or "bert." + name), checks its shape against
 * {d0} (d1 == 0) or {d0, d1} and returns its float32 values.
 */
static int tensor(dm_model_t *m, const char *name, size_t d0, size_t d1,
                  const float **out, char *errbuf, size_t errlen)
{
    const dm_st_file_t *st = m->store->st;
    const dm_st_tensor_t *t = dm_st_find(st, name);
    char alt[256];
    char got[128];
    size_t ndim = d1 ? 2 : 1, gl = 0;
    float *owned = NULL;
    int rc;

    if (t == NULL) {
        snprintf(alt, sizeof(alt), "bert.%s", name);
        t = dm_st_find(st, alt);
    }
    if (t == NULL)
        return dm_err_set(errbuf, errlen, DM_EMODEL, "%s: missing tensor '%s'",
                          dm_st_path(st), name);
    if (t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        got[0] = '\0';
        for (size_t i = 0; i < t->ndim && gl < sizeof(got); i++)
            gl += (size_t)snprintf(got + gl, sizeof(got) - gl, "%s%zu",
                                   i ? ", " : "", t->shape[i]);
        if (d1)
            return dm_err_set(errbuf, errlen, DM_EMODEL,
                              "%s: tensor '%s': shape [%s], expected "
                              "[%zu, %zu]",
                              dm_st_path(st), t->name, got, d0, d1);
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: tensor '%s': shape [%s], expected [%zu]",
                          dm_st_path(st), t->name, got, d0);
    }
    rc = dm_st_tensor_f32(st, t, out, &owned, errbuf, errlen);
    if (owned)
        store_own(m->store, owned);
    else if (rc == DM_OK)
        m->store->n_in_place++;
    return rc;
}

/* A LayerNorm's gain and bias ("weight"/"bias", or old "gamma"/"beta"). */
static int layer_norm(dm_model_t *m, const char *prefix, const float **g,
                      const float **b, char *errbuf, size_t errlen)
{
    char name[256], alt[256];
    int rc;

    snprintf(name, sizeof(name), "%s.weight", prefix);
    snprintf(alt, sizeof(alt), "%s.gamma", prefix);
    if (!dm_st_find(m->store->st, name) && dm_st_find(m->store->st, alt))
        snprintf(name, sizeof(name), "%s", alt);
    rc = tensor(m, name, m->cfg.hidden, 0, g, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    snprintf(name, sizeof(name), "%s.bias", prefix);
    snprintf(alt, sizeof(alt), "%s.beta", prefix);
    if (!dm_st_find(m->store->st, name) && dm_st_find(m->store->st, alt))
        snprintf(name, sizeof(name), "%s", alt);
    return tensor(m, name, m->cfg.hidden, 0, b, errbuf, errlen);
}

static int load_layer(dm_model_t *m, size_t l, char *errbuf, size_t errlen)
{
    static const char *const qkv[3] = {"query", "key", "value"};
    const size_t H = m->cfg.hidden, I = m->cfg.intermediate;
    dm_bert_layer_t *L = &m->layers[l];
    char p[128], name[256];
    float *w, *b;
    const float *src;
    int rc;

    snprintf(p, sizeof(p), "encoder.layer.%zu", l);
    w = store_alloc(m->store, 3 * H * H);
    b = store_alloc(m->store, 3 * H);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "%s.attention.self.%s.weight", p, qkv[i]);
        rc = tensor(m, name, H, H, &src, errbuf, errlen);
        if (rc != DM_OK)
            return rc;
        memcpy(w + (size_t)i * H * H, src, H * H * sizeof(float));
        snprintf(name, sizeof(name), "%s.attention.self.%s.bias", p, qkv[i]);
        rc = tensor(m, name, H, 0, &src, errbuf, errlen);
        if (rc != DM_OK)
            return rc;
        memcpy(b + (size_t)i * H, src, H * sizeof(float));
    }
    L->qkv_w = w;
    L->qkv_b = b;
#define T2(field, suffix, d0, d1)                                              \
    do {                                                                       \
        snprintf(name, sizeof(name), "%s.%s", p, suffix);                      \
        rc = tensor(m, name, d0, d1, &L->field, errbuf, errlen);               \
        if (rc != DM_OK)                                                       \
            return rc;                                                         \
    } while (0)
    T2(attn_out_w, "attention.output.dense.weight", H, H);
    T2(attn_out_b, "attention.output.dense.bias", H, 0);
    T2(ffn_in_w, "intermediate.dense.weight", I, H);
    T2(ffn_in_b, "intermediate.dense.bias", I, 0);
    T2(ffn_out_w, "output.dense.weight", H, I);
    T2(ffn_out_b, "output.dense.bias", H, 0);
#undef T2
    snprintf(name, sizeof(name), "%s.attention.output.LayerNorm", p);
    rc = layer_norm(m, name, &L->attn_ln_g, &L->attn_ln_b, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    snprintf(name, sizeof(name), "%s.output.LayerNorm", p);
    return layer_norm(m, name, &L->out_ln_g, &L->out_ln_b, errbuf, errlen);
}

static int load_weights(dm_model_t *m, char *errbuf, size_t errlen)
{
    const dm_bert_config_t *c = &m->cfg;
    int rc;

    rc = tensor(m, "embeddings.word_embeddings.weight", c->vocab, c->hidden,
                &m->word_emb, errbuf, errlen);
    if (rc == DM_OK)
        rc = tensor(m, "embeddings.position_embeddings.weight",
                    c->max_positions, c->hidden, &m->pos_emb, errbuf, errlen);
    if (rc == DM_OK)
        rc = tensor(m, "embeddings.token_type_embeddings.weight", c->type_vocab,
                    c->hidden, &m->type_emb, errbuf, errlen);
    if (rc == DM_OK)
        rc = layer_norm(m, "embeddings.LayerNorm", &m->emb_ln_g, &m->emb_ln_b,
                        errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    m->layers = dm_calloc(c->layers, sizeof(*m->layers));
    for (size_t l = 0; l < c->layers; l++) {
        rc = load_layer(m, l, errbuf, errlen);
        if (rc != DM_OK)
            return rc;
    }
    return DM_OK;
}

/* Folds a file's bytes (absent files count as a marker) into *h. */
static void hash_file(const char *dir, const char *rel, uint64_t *h)
{
    char path[4096], chunk[65536];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    *h = dm_hash_bytes(rel, strlen(rel), *h);
    f = fopen(path, "rb");
    if (f == NULL) {
        *h = dm_hash_mix64(*h ^ 0x6e6f6e65u); /* "none" */
        return;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        *h = dm_hash_bytes(chunk, n, *h);
    fclose(f);
}

static void fingerprint(dm_model_t *m, const char *cfg_raw, size_t cfg_len)
{
    static const char *const side[] = {"vocab.txt", "tokenizer_config.json",
                                       "sentence_bert_config.json",
                                       "1_Pooling/config.json"};
    const unsigned char *bytes;
    size_t len;
    uint64_t h = dm_hash_bytes(cfg_raw, cfg_len, 0x6d696e696c6du);

    bytes = dm_st_bytes(m->store->st, &len);
    for (size_t off = 0; off < len; off += FP_CHUNK)
        h = dm_hash_bytes(bytes + off,
                          len - off < FP_CHUNK ? len - off : FP_CHUNK, h);
    for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++)
        hash_file(m->dir, side[i], &h);
    snprintf(m->fingerprint, sizeof(m->fingerprint), "minilm:%016" PRIx64, h);
}

static void sig_take(const char *path, struct file_sig *sig)
{
    struct stat sb;

    memset(sig, 0, sizeof(*sig));
    if (stat(path, &sb) != 0)
        return; /* absent or unreadable: either way not what was loaded */
    sig->present = true;
    sig->dev = sb.st_dev;
    sig->ino = sb.st_ino;
    sig->size = sb.st_size;
    sig->mtime = sb.st_mtim;
    sig->ctime = sb.st_ctim;
}

static bool sig_same(const struct file_sig *a, const struct file_sig *b)
{
    if (a->present != b->present)
        return false;
    return !a->present ||
           (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
            a->mtime.tv_sec == b->mtime.tv_sec &&
            a->mtime.tv_nsec == b->mtime.tv_nsec &&
            a->ctime.tv_sec == b->ctime.tv_sec &&
            a->ctime.tv_nsec == b->ctime.tv_nsec);
}

/* "PATH: <what happened> (...)" for a file whose signature differs. */
static void sig_describe(const char *path, const struct file_sig *was,
                         const struct file_sig *now, char *out, size_t n)
{
    char when[DM_TIME_STRLEN];

    if (!now->present) {
        snprintf(out, n, "%s: removed or unreadable", path);
        return;
    }
    dm_time_format_ms((int64_t)now->mtime.tv_sec * 1000 +
                          now->mtime.tv_nsec / 1000000,
                      when, sizeof(when));
    if (!was->present)
        snprintf(out, n, "%s: appeared (%lld bytes, modified %s)", path,
                 (long long)now->size, when);
    else if (was->dev != now->dev || was->ino != now->ino)
        snprintf(out, n,
                 "%s: replaced by another file (%lld -> %lld bytes, "
                 "modified %s)",
                 path, (long long)was->size, (long long)now->size, when);
    else
        snprintf(out, n,
                 "%s: changed in place (%lld -> %lld bytes, modified %s)", path,
                 (long long)was->size, (long long)now->size, when);
}

bool dm_model_files_changed(const dm_model_t *m, char *what, size_t len)
{
    char path[4096];
    struct file_sig now;
    size_t changed = 0, used;

    if (len > 0)
        what[0] = '\0';
    for (size_t i = 0; i < N_MODEL_FILES; i++) {
        snprintf(path, sizeof(path), "%s/%s", m->dir, model_files[i]);
        sig_take(path, &now);
        if (sig_same(&m->store->sigs[i], &now))
            continue;
        if (changed++ == 0 && len > 0)
            sig_describe(path, &m->store->sigs[i], &now, what, len);
    }
    if (changed > 1 && len > 0) {
        used = strlen(what);
        snprintf(what + used, len - used, " and %zu other file%s", changed - 1,
                 changed > 2 ? "s" : "");
    }
    return changed > 0;
}

int dm_model_load(const char *dir, dm_model_t **out, char *errbuf,
                  size_t errlen)
{
    dm_model_t *m = NULL;
    char path[4096];
    char *cfg_raw = NULL;
    size_t cfg_len = 0;
    struct stat sb;
    int rc;

    *out = NULL;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "%s: model directory not found (run "
                          "scripts/fetch-model, or use the hashing embedder: "
                          "embeddings.model: hashing in the config, --model "
                          "hashing for embed)",
                          dir);
    }
    m = dm_calloc(1, sizeof(*m));
    m->store = dm_calloc(1, sizeof(*m->store));
    m->dir = dm_strdup(dir);
    /* before reading anything: a change from now on is reported later */
    for (size_t i = 0; i < N_MODEL_FILES; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, model_files[i]);
        sig_take(path, &m->store->sigs[i]);
    }
    rc = parse_config(dir, m, &cfg_raw, &cfg_len, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    rc = parse_side_configs(dir, m, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/vocab.txt", dir);
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL, "%s: missing", path);
        goto out;
    }
    m->vocab_path = dm_strdup(path);
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    rc = dm_st_open(path, &m->store->st, errbuf, errlen);
    if (rc != DM_OK) {
        rc = rc == DM_EIO && stat(path, &sb) == 0 ? DM_EIO : DM_EMODEL;
        goto out;
    }
    rc = load_weights(m, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    fingerprint(m, cfg_raw, cfg_len);
    if (m->store->n_in_place == 0) {
        /* every tensor was converted: the file's copy is dead weight */
        dm_st_close(m->store->st);
        m->store->st = NULL;
    }
    *out = m;
    m = NULL;
out:
    free(cfg_raw);
    dm_model_free(m);
    return rc;
}

void dm_model_free(dm_model_t *m)
{
    if (m == NULL)
        return;
    if (m->store) {
        for (size_t i = 0; i < m->store->n_owned; i++)
            free(m->store->owned[i]);
        free(m->store->owned);
        dm_st_close(m->store->st);
        free(m->store);
    }
    free(m->layers);
    free(m->vocab_path);
    free(m->dir);
    free(m);
}
