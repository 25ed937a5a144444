/*
 * fuzz_model.c - libFuzzer target: the JSON files of a model directory
 * (model.h): config.json, tokenizer_config.json,
 * sentence_bert_config.json and 1_Pooling/config.json.  A tiny random
 * BERT (randbert.h) is written once into a scratch directory; each input
 * is split at NUL bytes into up to four parts that replace those files in
 * that order (a part left out keeps the generated file; an empty part
 * deletes it), and the directory is loaded with dm_model_load(), which
 * also validates the weights against the fuzzed sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/model.h"
#include "support/randbert.h"
#include "fuzz_util.h"

static const char *const files[4] = {"config.json", "tokenizer_config.json",
                                     "sentence_bert_config.json",
                                     "1_Pooling/config.json"};
static char dir[4096];
static char *orig[4];
static size_t orig_len[4];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dm_randbert_opts_t o;
    char err[512], path[8192];

    (void)argc;
    (void)argv;
    memset(&o, 0, sizeof(o));
    /* the sizes of the seed corpus/model/tiny-bert, so it loads */
    o.hidden = 2;
    o.layers = 1;
    o.heads = 1;
    o.intermediate = 2;
    o.vocab_size = 6;
    o.max_positions = 3;
    o.type_vocab = 2;
    o.max_seq_length = 3;
    o.seed = 1;
    o.dtype = DM_ST_F16;
    o.linear_gain = 1.0f;
    snprintf(dir, sizeof(dir), "%s/model", dm_fuzz_tmpdir());
    if (dm_randbert_write(&o, dir, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "fuzz_model: %s\n", err);
        abort();
    }
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        orig[i] = dm_fuzz_read(path, &orig_len[i]);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    dm_model_t *m = NULL;
    char err[512] = "", path[8192];
    int i = 0;

    for (; i < 4 && p <= end; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);

        if (len == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            (void)unlink(path);
        } else {
            dm_fuzz_write(dir, files[i], p, len);
        }
        if (nul == NULL) {
            i++;
            break;
        }
        p = nul + 1;
    }
    for (; i < 4; i++)
        dm_fuzz_write(dir, files[i], orig[i], orig_len[i]);
    if (dm_model_load(dir, &m, err, sizeof(err)) == DM_OK) {
        if (m == NULL || m->cfg.hidden == 0 || m->cfg.heads == 0 ||
            m->cfg.hidden % m->cfg.heads != 0 || m->max_seq_length < 2 ||
            m->max_seq_length > m->cfg.max_positions)
            abort();
        dm_model_free(m);
    } else if (m != NULL || err[0] == '\0') {
        abort();
    }
    return 0;
}
