/*
 * randbert.h - writes a random-weight BERT model directory in the
 * all-MiniLM-L6-v2 layout (see model.h), of any size, deterministic from
 * a seed.  For tests (odd sizes, F16/BF16 weights, corrupted copies) and
 * for the benchmark (a model of exactly all-MiniLM-L6-v2's shape), since
 * no real weights ship with the project.  Used by tools/make-random-bert,
 * the benchmarks and fuzz_model; test-only code, so it lives in
 * tests/support and not in the core library (randbert_dep).
 *
 * The values of each tensor depend only on the seed, the tensor's name
 * and its shape, so F32, F16 and BF16 files written with one seed hold
 * the same weights up to rounding.
 */
#ifndef DM_SUPPORT_RANDBERT_H
#define DM_SUPPORT_RANDBERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "embed/safetensors.h"

typedef struct dm_randbert_opts {
    size_t hidden, layers, heads, intermediate;
    size_t vocab_size;     /* 0 = the line count of vocab_path */
    size_t max_positions;  /* max_position_embeddings */
    size_t type_vocab;     /* type_vocab_size */
    size_t max_seq_length; /* sentence_bert_config.json */
    uint64_t seed;
    dm_st_dtype_t dtype;    /* DM_ST_F32, DM_ST_F16 or DM_ST_BF16 */
    const char *vocab_path; /* copied to vocab.txt; NULL = generated */
    bool bert_prefix;       /* tensor names start with "bert." */
    float linear_gain;      /* Linear weights ~ N(0, gain^2 / in) */
} dm_randbert_opts_t;

/*
 * Fills o with the shape of sentence-transformers/all-MiniLM-L6-v2
 * (hidden 384, 6 layers, 12 heads, intermediate 1536, vocab 30522, 512
 * positions, 2 token types, max_seq_length 256), F32, seed 1, a generated
 * vocabulary.
 */
void dm_randbert_opts_minilm(dm_randbert_opts_t *o);

/*
 * Writes the model into dir (created if missing; existing files are
 * replaced): config.json, model.safetensors, vocab.txt,
 * tokenizer_config.json, sentence_bert_config.json, modules.json,
 * 1_Pooling/config.json.  Errors: DM_EINVAL (inconsistent sizes, e.g.
 * hidden not divisible by heads, vocab_size smaller than the vocab file)
 * or DM_EIO, with a message.
 */
int dm_randbert_write(const dm_randbert_opts_t *o, const char *dir,
                      char *errbuf, size_t errlen) DM_MUSTCHECK;

/*
 * Removes what dm_randbert_write() wrote into dir, then 1_Pooling and dir
 * themselves if that left them empty.  Missing files are not an error.
 */
void dm_randbert_remove(const char *dir);

#endif
