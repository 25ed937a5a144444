/*
 * model.h - a BERT sentence-embedding model loaded from a directory laid
 * out like the Hugging Face repository sentence-transformers/
 * all-MiniLM-L6-v2:
 *
 *     config.json                 BertConfig (sizes, layer_norm_eps, ...)
 *     model.safetensors           weights: F32, F16 or BF16
 *     vocab.txt                   WordPiece vocabulary (read by tokenizer.h)
 *     tokenizer_config.json       do_lower_case (optional, default true)
 *     sentence_bert_config.json   max_seq_length
 *     1_Pooling/config.json       must be mean pooling
 *
 * Any size of BERT loads, not only MiniLM.  Everything is validated: a
 * malformed or truncated model is DM_EMODEL (or DM_EIO for an unreadable
 * file) with a message naming the file and the key or tensor.
 *
 * Ownership: dm_model_load() returns a model that owns everything it
 * points to: model.safetensors is read into memory once (never mapped),
 * aligned F32 tensors are used in place in that copy, others are
 * converted into owned buffers (and the copy is freed when nothing uses
 * it).  A loaded model is immutable: one model may be shared by several
 * encoders and threads.  It never reads its files again, so truncating,
 * rewriting or replacing them on disk cannot crash it or change what it
 * computes: its fingerprint stays true.  dm_model_files_changed() tells
 * whether the files on disk still are the ones it was loaded from.
 */
#ifndef DM_EMBED_MODEL_H
#define DM_EMBED_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Sizes from config.json. */
typedef struct dm_bert_config {
    size_t hidden;        /* hidden_size */
    size_t layers;        /* num_hidden_layers */
    size_t heads;         /* num_attention_heads; divides hidden */
    size_t intermediate;  /* intermediate_size */
    size_t vocab;         /* vocab_size */
    size_t max_positions; /* max_position_embeddings */
    size_t type_vocab;    /* type_vocab_size */
    float layer_norm_eps; /* layer_norm_eps */
} dm_bert_config_t;

/*
 * Weights of one encoder layer, all float32 row-major.  Linear weights are
 * [out, in] as in PyTorch.  Q, K and V are fused into one [3*hidden,
 * hidden] matrix (rows: Q then K then V) with a [3*hidden] bias.
 */
typedef struct dm_bert_layer {
    const float *qkv_w, *qkv_b;         /* [3H, H], [3H] */
    const float *attn_out_w;            /* [H, H] */
    const float *attn_out_b;            /* [H] */
    const float *attn_ln_g, *attn_ln_b; /* [H] */
    const float *ffn_in_w;              /* [I, H] */
    const float *ffn_in_b;              /* [I] */
    const float *ffn_out_w;             /* [H, I] */
    const float *ffn_out_b;             /* [H] */
    const float *out_ln_g, *out_ln_b;   /* [H] */
} dm_bert_layer_t;

typedef struct dm_model_store dm_model_store_t;

typedef struct dm_model {
    dm_bert_config_t cfg;
    size_t max_seq_length; /* from sentence_bert_config.json */
    bool do_lower_case;    /* from tokenizer_config.json */
    char *dir;             /* the model directory */
    char *vocab_path;      /* dir/vocab.txt */
    /* "minilm:" + 16 hex digits: hash of every file that shapes output */
    char fingerprint[32];
    const float *word_emb;            /* [vocab, H] */
    const float *pos_emb;             /* [max_positions, H] */
    const float *type_emb;            /* [type_vocab, H] */
    const float *emb_ln_g, *emb_ln_b; /* [H] */
    dm_bert_layer_t *layers;          /* [cfg.layers] */
    dm_model_store_t *store;          /* private: weights, owned buffers */
} dm_model_t;

/*
 * Loads and validates the model in directory dir.  On success *out is a
 * new model (free with dm_model_free()).  Errors: DM_EIO (a file cannot
 * be read), DM_EMODEL (anything malformed, unsupported or inconsistent:
 * "DIR/config.json: missing key 'hidden_size'", "DIR/model.safetensors:
 * tensor 'encoder.layer.0.attention.self.query.weight': shape [32, 16],
 * expected [32, 32]", "DIR/config.json: hidden_act 'relu' not supported
 * (only \"gelu\", the exact erf GELU)", ...).  Tensor names are accepted
 * with or without a "bert." prefix; tensors the encoder does not use are
 * ignored.
 */
int dm_model_load(const char *dir, dm_model_t **out, char *errbuf,
                  size_t errlen) DM_MUSTCHECK;

/*
 * Reads and checks DIR/config.json alone (no weights) into *cfg, with the
 * same errors as dm_model_load() gives for it.
 */
int dm_model_read_config(const char *dir, dm_bert_config_t *cfg, char *errbuf,
                         size_t errlen) DM_MUSTCHECK;

/* Frees the model and its weights.  NULL-safe. */
void dm_model_free(dm_model_t *m);

/*
 * Whether the model's files on disk (config.json, model.safetensors,
 * vocab.txt, tokenizer_config.json, sentence_bert_config.json,
 * 1_Pooling/config.json) differ from what they were when dm_model_load()
 * started reading them: device, inode, size, modification or
 * status-change time, or presence.  On true, what (of size len) gets
 * "DIR/model.safetensors: changed in place (90868376 -> 45434188 bytes,
 * modified 2026-11-26T10:00:00.000Z)", "...: replaced by another file
 * (...)", "...: removed or unreadable" or "...: appeared (...)" for the
 * first file that differs, with " and N other files" when more do.  The
 * model itself is unaffected (see above); a new dm_model_load() reads the
 * new files.  One stat() per file, nothing read: cheap enough before
 * every check.  Thread-safe.
 */
bool dm_model_files_changed(const dm_model_t *m, char *what, size_t len);

/*
 * Reads a model directory's tokenizer settings without touching the
 * weights: do_lower_case from tokenizer_config.json (optional; default
 * true) and max_seq_length from sentence_bert_config.json, which must be
 * an integer from 2 to max_len_cap.  When sentence_bert_config.json is
 * missing, default_len is used, or, when default_len is 0, that is an
 * error.  Errors (DM_EMODEL, DM_EIO, DM_ENOTFOUND) name the file and key.
 * dm_model_load() uses the same function.
 */
int dm_model_tokenizer_settings(const char *dir, size_t max_len_cap,
                                size_t default_len, bool *do_lower_case,
                                size_t *max_seq_length, char *errbuf,
                                size_t errlen) DM_MUSTCHECK;

#endif
