/*
 * randbert.c - writer of random-weight BERT model directories.
 *
 * The tensor list is built first (names, shapes, kinds), sorted by name,
 * and laid out back to back in that order after a JSON header padded with
 * spaces to a multiple of 8 bytes (as Hugging Face's writer does), so
 * every tensor is aligned.  Values come from a generator seeded by the
 * seed and a hash of the tensor's name, so they do not depend on which
 * other tensors exist or on the output dtype.  Besides the weights the
 * encoder uses, the file holds what a real checkpoint holds and the
 * loader must skip: the I64 embeddings.position_ids buffer and the
 * pooler.
 */
#include "support/randbert.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/rng.h"

enum kind { K_NORMAL, K_LINEAR, K_GAIN, K_BIAS, K_POSITION_IDS };

struct spec {
    char name[128];
    size_t shape[2], ndim;
    enum kind kind;
    size_t fan_in;
    dm_st_dtype_t dtype;
    size_t begin, end;
};

struct list {
    struct spec *v;
    size_t n, cap;
};

void dm_randbert_opts_minilm(dm_randbert_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->hidden = 384;
    o->layers = 6;
    o->heads = 12;
    o->intermediate = 1536;
    o->vocab_size = 30522;
    o->max_positions = 512;
    o->type_vocab = 2;
    o->max_seq_length = 256;
    o->seed = 1;
    o->dtype = DM_ST_F32;
    o->linear_gain = 1.0f;
}

static void add(struct list *l, const dm_randbert_opts_t *o, const char *prefix,
                const char *name, size_t d0, size_t d1, enum kind kind)
{
    struct spec *s;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = dm_reallocarray(l->v, l->cap, sizeof(*l->v));
    }
    s = &l->v[l->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s%s%s", o->bert_prefix ? "bert." : "",
             prefix, name);
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->ndim = d1 ? 2 : 1;
    s->kind = kind;
    s->fan_in = d1;
    s->dtype = kind == K_POSITION_IDS ? DM_ST_I64 : o->dtype;
}

static void build_list(struct list *l, const dm_randbert_opts_t *o)
{
    const size_t H = o->hidden, I = o->intermediate;
    char p[64];

    add(l, o, "embeddings.", "word_embeddings.weight", o->vocab_size, H,
        K_NORMAL);
    add(l, o, "embeddings.", "position_embeddings.weight", o->max_positions, H,
        K_NORMAL);
    add(l, o, "embeddings.", "token_type_embeddings.weight", o->type_vocab, H,
        K_NORMAL);
    add(l, o, "embeddings.", "LayerNorm.weight", H, 0, K_GAIN);
    add(l, o, "embeddings.", "LayerNorm.bias", H, 0, K_BIAS);
    add(l, o, "embeddings.", "position_ids", 1, o->max_positions,
        K_POSITION_IDS);
    for (size_t i = 0; i < o->layers; i++) {
        snprintf(p, sizeof(p), "encoder.layer.%zu.", i);
        add(l, o, p, "attention.self.query.weight", H, H, K_LINEAR);
        add(l, o, p, "attention.self.query.bias", H, 0, K_BIAS);
        add(l, o, p, "attention.self.key.weight", H, H, K_LINEAR);
        add(l, o, p, "attention.self.key.bias", H, 0, K_BIAS);
        add(l, o, p, "attention.self.value.weight", H, H, K_LINEAR);
        add(l, o, p, "attention.self.value.bias", H, 0, K_BIAS);
        add(l, o, p, "attention.output.dense.weight", H, H, K_LINEAR);
        add(l, o, p, "attention.output.dense.bias", H, 0, K_BIAS);
        add(l, o, p, "attention.output.LayerNorm.weight", H, 0, K_GAIN);
        add(l, o, p, "attention.output.LayerNorm.bias", H, 0, K_BIAS);
        add(l, o, p, "intermediate.dense.weight", I, H, K_LINEAR);
        add(l, o, p, "intermediate.dense.bias", I, 0, K_BIAS);
        add(l, o, p, "output.dense.weight", H, I, K_LINEAR);
        add(l, o, p, "output.dense.bias", H, 0, K_BIAS);
        add(l, o, p, "output.LayerNorm.weight", H, 0, K_GAIN);
        add(l, o, p, "output.LayerNorm.bias", H, 0, K_BIAS);
    }
    add(l, o, "pooler.", "dense.weight", H, H, K_LINEAR);
    add(l, o, "pooler.", "dense.bias", H, 0, K_BIAS);
}

static int cmp_spec(const void *a, const void *b)
{
    return strcmp(((const struct spec *)a)->name,
                  ((const struct spec *)b)->name);
}

static float draw(const struct spec *s, const dm_randbert_opts_t *o,
                  dm_rng_t *r)
{
    switch (s->kind) {
    case K_LINEAR:
        return (float)(dm_rng_normal(r) * (double)o->linear_gain /
                       sqrt((double)s->fan_in));
    case K_GAIN:
        return (float)(1.0 + 0.1 * dm_rng_normal(r));
    case K_BIAS:
        return (float)(0.05 * dm_rng_normal(r));
    case K_NORMAL:
    default:
        return (float)(0.5 * dm_rng_normal(r));
    }
}

static int write_tensor(FILE *f, const struct spec *s,
                        const dm_randbert_opts_t *o)
{
    unsigned char buf[1 << 16];
    size_t n = s->shape[0] * (s->ndim == 2 ? s->shape[1] : 1);
    size_t esz = dm_st_dtype_size(s->dtype), used = 0;
    /* seeded by the name without the optional prefix: same weights */
    const char *base = o->bert_prefix ? s->name + 5 : s->name;
    dm_rng_t r;

    dm_rng_seed(&r, dm_hash_bytes(base, strlen(base), o->seed));
    for (size_t i = 0; i < n; i++) {
        unsigned char *e = buf + used;

        if (s->kind == K_POSITION_IDS) {
            uint64_t v = i;

            for (int b = 0; b < 8; b++)
                e[b] = (unsigned char)(v >> (8 * b));
        } else {
            float v = draw(s, o, &r);

            if (s->dtype == DM_ST_F32) {
                uint32_t bits;

                memcpy(&bits, &v, sizeof(bits));
                for (int b = 0; b < 4; b++)
                    e[b] = (unsigned char)(bits >> (8 * b));
            } else {
                uint16_t h = s->dtype == DM_ST_F16 ? dm_st_f32_to_f16(v)
                                                   : dm_st_f32_to_bf16(v);

                e[0] = (unsigned char)h;
                e[1] = (unsigned char)(h >> 8);
            }
        }
        used += esz;
        if (used + 8 > sizeof(buf)) {
            if (fwrite(buf, 1, used, f) != used)
                return -1;
            used = 0;
        }
    }
    if (used && fwrite(buf, 1, used, f) != used)
        return -1;
    return 0;
}

static int write_json(const char *dir, const char *rel, json_t *j, char *errbuf,
                      size_t errlen)
{
    char path[4096];
    int rc = DM_OK;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot write", path);
    json_decref(j);
    return rc;
}

static int write_safetensors(const dm_randbert_opts_t *o, const char *dir,
                             char *errbuf, size_t errlen)
{
    struct list l = {0};
    char path[4096];
    json_t *hdr = json_object(), *meta = json_object();
    char *text = NULL;
    FILE *f = NULL;
    size_t off = 0, hlen, pad;
    unsigned char len8[8];
    int rc = DM_OK;

    build_list(&l, o);
    qsort(l.v, l.n, sizeof(*l.v), cmp_spec);
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(hdr, "__metadata__", meta);
    for (size_t i = 0; i < l.n; i++) {
        struct spec *s = &l.v[i];
        json_t *e = json_object(), *shape = json_array();
        size_t n = s->shape[0] * (s->ndim == 2 ? s->shape[1] : 1);

        s->begin = off;
        s->end = off + n * dm_st_dtype_size(s->dtype);
        off = s->end;
        for (size_t d = 0; d < s->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)s->shape[d]));
        json_object_set_new(e, "dtype",
                            json_string(dm_st_dtype_name(s->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(
            e, "data_offsets",
            json_pack("[II]", (json_int_t)s->begin, (json_int_t)s->end));
        json_object_set_new(hdr, s->name, e);
    }
    text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    hlen = strlen(text);
    pad = (8 - (8 + hlen) % 8) % 8;
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    if (f == NULL) {
        rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot create: %s", path,
                        strerror(errno));
        goto out;
    }
    for (int b = 0; b < 8; b++)
        len8[b] = (unsigned char)((uint64_t)(hlen + pad) >> (8 * b));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(text, 1, hlen, f) != hlen)
        goto ioerr;
    for (size_t i = 0; i < pad; i++)
        if (fputc(' ', f) == EOF)
            goto ioerr;
    for (size_t i = 0; i < l.n; i++)
        if (write_tensor(f, &l.v[i], o) != 0)
            goto ioerr;
    if (fclose(f) != 0) {
        f = NULL;
        goto ioerr;
    }
    f = NULL;
    goto out;
ioerr:
    rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: write error: %s", path,
                    strerror(errno));
out:
    if (f)
        fclose(f);
    free(text);
    json_decref(hdr);
    free(l.v);
    return rc;
}

/* Copies the vocabulary, counting its lines into *lines. */
static int copy_vocab(const char *src, const char *dst, size_t *lines,
                      char *errbuf, size_t errlen)
{
    char buf[65536];
    FILE *in = NULL, *out = NULL;
    size_t n;
    int rc = DM_OK, last = '\n';

    *lines = 0;
    in = fopen(src, "rb");
    if (in == NULL)
        return dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot open: %s", src,
                          strerror(errno));
    out = fopen(dst, "wb");
    if (out == NULL) {
        rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot create: %s", dst,
                        strerror(errno));
        goto out;
    }
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\n')
                (*lines)++;
        last = (unsigned char)buf[n - 1];
        if (fwrite(buf, 1, n, out) != n) {
            rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: write error", dst);
            goto out;
        }
    }
    if (last != '\n')
        (*lines)++;
out:
    if (out && fclose(out) != 0 && rc == DM_OK)
        rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: write error", dst);
    fclose(in);
    return rc;
}

/* A small WordPiece vocabulary with BERT's special tokens. */
static int gen_vocab(const char *dst, size_t size, char *errbuf, size_t errlen)
{
    static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                          "[MASK]"};
    static const char punct[] = ".,!?;:'\"()-/";
    FILE *f = fopen(dst, "wb");
    size_t n = 0;

    if (f == NULL)
        return dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot create: %s", dst,
                          strerror(errno));
    for (size_t i = 0; i < 5 && n < size; i++, n++)
        fprintf(f, "%s\n", special[i]);
    for (size_t i = 0; punct[i] && n < size; i++, n++)
        fprintf(f, "%c\n", punct[i]);
    for (char c = '0'; c <= '9' && n < size; c++, n++)
        fprintf(f, "%c\n", c);
    for (char c = 'a'; c <= 'z' && n < size; c++, n++)
        fprintf(f, "%c\n", c);
    for (char c = 'a'; c <= 'z' && n < size; c++, n++)
        fprintf(f, "##%c\n", c);
    for (size_t i = 0; n < size; i++, n++)
        fprintf(f, "w%zu\n", i);
    if (fclose(f) != 0)
        return dm_err_set(errbuf, errlen, DM_EIO, "%s: write error", dst);
    return DM_OK;
}

static json_t *config_json(const dm_randbert_opts_t *o)
{
    return json_pack(
        "{s:s, s:[s], s:f, s:s, s:f, s:I, s:f, s:I, s:f, s:I, s:s, s:I, "
        "s:I, s:I, s:s, s:I, s:I, s:I}",
        "_name_or_path", "driftmon-random-bert", "architectures", "BertModel",
        "attention_probs_dropout_prob", 0.1, "hidden_act", "gelu",
        "hidden_dropout_prob", 0.1, "hidden_size", (json_int_t)o->hidden,
        "initializer_range", 0.02, "intermediate_size",
        (json_int_t)o->intermediate, "layer_norm_eps", 1e-12,
        "max_position_embeddings", (json_int_t)o->max_positions, "model_type",
        "bert", "num_attention_heads", (json_int_t)o->heads,
        "num_hidden_layers", (json_int_t)o->layers, "pad_token_id",
        (json_int_t)0, "position_embedding_type", "absolute", "type_vocab_size",
        (json_int_t)o->type_vocab, "vocab_size", (json_int_t)o->vocab_size,
        "random_seed", (json_int_t)o->seed);
}

static int check_opts(const dm_randbert_opts_t *o, char *errbuf, size_t errlen)
{
    if (!o->hidden || !o->layers || !o->heads || !o->intermediate ||
        !o->max_positions || !o->type_vocab)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "sizes must all be at least 1");
    if (o->hidden % o->heads != 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "hidden %zu is not divisible by heads %zu", o->hidden,
                          o->heads);
    if (o->hidden > 16384 || o->intermediate > 65536 || o->layers > 256 ||
        o->max_positions > 65536 || o->vocab_size > 10000000)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "sizes too large");
    if (o->dtype != DM_ST_F32 && o->dtype != DM_ST_F16 &&
        o->dtype != DM_ST_BF16)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "dtype must be F32, F16 or BF16");
    return DM_OK;
}

int dm_randbert_write(const dm_randbert_opts_t *opts, const char *dir,
                      char *errbuf, size_t errlen)
{
    dm_randbert_opts_t o = *opts;
    char path[4096];
    size_t lines = 0;
    int rc;

    if (o.linear_gain <= 0.0f)
        o.linear_gain = 1.0f;
    if (o.max_seq_length == 0 || o.max_seq_length > o.max_positions)
        o.max_seq_length = o.max_positions < 256 ? o.max_positions : 256;
    if (o.vocab_path == NULL && o.vocab_size < 5)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "vocab size must be at least 5");
    rc = check_opts(&o, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    snprintf(path, sizeof(path), "%s/1_Pooling", dir);
    if ((mkdir(dir, 0777) != 0 && errno != EEXIST) ||
        (mkdir(path, 0777) != 0 && errno != EEXIST))
        return dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot create: %s", path,
                          strerror(errno));
    snprintf(path, sizeof(path), "%s/vocab.txt", dir);
    if (o.vocab_path) {
        rc = copy_vocab(o.vocab_path, path, &lines, errbuf, errlen);
        if (rc != DM_OK)
            return rc;
        if (o.vocab_size == 0)
            o.vocab_size = lines;
        if (o.vocab_size < lines)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "vocab size %zu is smaller than the %zu lines "
                              "of %s",
                              o.vocab_size, lines, o.vocab_path);
    } else {
        rc = gen_vocab(path, o.vocab_size, errbuf, errlen);
        if (rc != DM_OK)
            return rc;
    }
    rc = write_json(dir, "config.json", config_json(&o), errbuf, errlen);
    if (rc == DM_OK)
        rc = write_json(
            dir, "tokenizer_config.json",
            json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:s}",
                      "do_lower_case", 1, "unk_token", "[UNK]", "sep_token",
                      "[SEP]", "pad_token", "[PAD]", "cls_token", "[CLS]",
                      "mask_token", "[MASK]", "tokenize_chinese_chars", 1,
                      "model_max_length", (json_int_t)o.max_positions,
                      "tokenizer_class", "BertTokenizer"),
            errbuf, errlen);
    if (rc == DM_OK)
        rc = write_json(dir, "sentence_bert_config.json",
                        json_pack("{s:I, s:b}", "max_seq_length",
                                  (json_int_t)o.max_seq_length, "do_lower_case",
                                  0),
                        errbuf, errlen);
    if (rc == DM_OK)
        rc = write_json(
            dir, "1_Pooling/config.json",
            json_pack("{s:I, s:b, s:b, s:b, s:b}", "word_embedding_dimension",
                      (json_int_t)o.hidden, "pooling_mode_cls_token", 0,
                      "pooling_mode_mean_tokens", 1, "pooling_mode_max_tokens",
                      0, "pooling_mode_mean_sqrt_len_tokens", 0),
            errbuf, errlen);
    if (rc == DM_OK)
        rc = write_json(
            dir, "modules.json",
            json_pack("[{s:I, s:s, s:s, s:s}, {s:I, s:s, s:s, s:s}, "
                      "{s:I, s:s, s:s, s:s}]",
                      "idx", (json_int_t)0, "name", "0", "path", "", "type",
                      "sentence_transformers.models.Transformer", "idx",
                      (json_int_t)1, "name", "1", "path", "1_Pooling", "type",
                      "sentence_transformers.models.Pooling", "idx",
                      (json_int_t)2, "name", "2", "path", "2_Normalize", "type",
                      "sentence_transformers.models.Normalize"),
            errbuf, errlen);
    if (rc == DM_OK)
        rc = write_safetensors(&o, dir, errbuf, errlen);
    return rc;
}

void dm_randbert_remove(const char *dir)
{
    static const char *const files[] = {
        "config.json",           "model.safetensors",         "vocab.txt",
        "tokenizer_config.json", "sentence_bert_config.json", "modules.json",
        "1_Pooling/config.json"};
    char p[4200];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/1_Pooling", dir);
    rmdir(p);
    rmdir(dir);
}
