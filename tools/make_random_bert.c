/*
 * make_random_bert.c - the make-random-bert tool: writes a random-weight
 * BERT sentence-embedding model in the all-MiniLM-L6-v2 directory layout,
 * of any size, deterministic from a seed (a thin command line around
 * dm_randbert_write()).  Default shape: all-MiniLM-L6-v2's.
 *
 *   make-random-bert [--hidden N] [--layers N] [--heads N]
 *                    [--intermediate N] [--vocab-size N]
 *                    [--max-positions N] [--type-vocab N]
 *                    [--max-seq-length N] [--seed N] [--dtype F32|F16|BF16]
 *                    [--vocab FILE] [--bert-prefix] [--gain X] OUTDIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "support/randbert.h"

static const char usage_text[] =
    "usage: make-random-bert [options] OUTDIR\n"
    "  --hidden N          hidden size (384)\n"
    "  --layers N          encoder layers (6)\n"
    "  --heads N           attention heads (12)\n"
    "  --intermediate N    feed-forward size (1536)\n"
    "  --vocab-size N      vocabulary size (30522, or the --vocab lines)\n"
    "  --max-positions N   max_position_embeddings (512)\n"
    "  --type-vocab N      type_vocab_size (2)\n"
    "  --max-seq-length N  sentence_bert_config max_seq_length (256)\n"
    "  --seed N            random seed (1)\n"
    "  --dtype T           F32, F16 or BF16 (F32)\n"
    "  --vocab FILE        copy this vocab.txt (default: generate one)\n"
    "  --bert-prefix       name tensors bert.embeddings... \n"
    "  --gain X            Linear weights ~ N(0, X^2/fan_in) (1)\n";

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *flag;
        size_t offset;
    } sizes[] = {
        {"--hidden", offsetof(dm_randbert_opts_t, hidden)},
        {"--layers", offsetof(dm_randbert_opts_t, layers)},
        {"--heads", offsetof(dm_randbert_opts_t, heads)},
        {"--intermediate", offsetof(dm_randbert_opts_t, intermediate)},
        {"--vocab-size", offsetof(dm_randbert_opts_t, vocab_size)},
        {"--max-positions", offsetof(dm_randbert_opts_t, max_positions)},
        {"--type-vocab", offsetof(dm_randbert_opts_t, type_vocab)},
        {"--max-seq-length", offsetof(dm_randbert_opts_t, max_seq_length)},
    };
    dm_randbert_opts_t o;
    char err[DM_ERRBUF_SIZE];
    const char *dir = NULL;
    int vocab_size_set = 0;

    dm_randbert_opts_minilm(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        size_t k, n = sizeof(sizes) / sizeof(sizes[0]);

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--bert-prefix") == 0) {
            o.bert_prefix = true;
            continue;
        }
        if (a[0] != '-') {
            if (dir) {
                fprintf(stderr, "make-random-bert: error: two output "
                                "directories\n");
                return 2;
            }
            dir = a;
            continue;
        }
        if (val == NULL) {
            fprintf(stderr, "make-random-bert: error: %s needs a value\n", a);
            return 2;
        }
        i++;
        for (k = 0; k < n; k++)
            if (strcmp(a, sizes[k].flag) == 0)
                break;
        if (k < n) {
            if (parse_size(val, (size_t *)(void *)((char *)&o +
                                                   sizes[k].offset)) != 0) {
                fprintf(stderr,
                        "make-random-bert: error: %s: bad number "
                        "'%s'\n",
                        a, val);
                return 2;
            }
            if (strcmp(a, "--vocab-size") == 0)
                vocab_size_set = 1;
        } else if (strcmp(a, "--seed") == 0) {
            size_t seed;

            if (parse_size(val, &seed) != 0) {
                fprintf(stderr, "make-random-bert: error: bad seed '%s'\n",
                        val);
                return 2;
            }
            o.seed = seed;
        } else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(val, "F32") == 0)
                o.dtype = DM_ST_F32;
            else if (strcmp(val, "F16") == 0)
                o.dtype = DM_ST_F16;
            else if (strcmp(val, "BF16") == 0)
                o.dtype = DM_ST_BF16;
            else {
                fprintf(stderr, "make-random-bert: error: --dtype must be "
                                "F32, F16 or BF16\n");
                return 2;
            }
        } else if (strcmp(a, "--vocab") == 0) {
            o.vocab_path = val;
        } else if (strcmp(a, "--gain") == 0) {
            char *end;
            double g = strtod(val, &end);

            if (end == val || *end || !(g > 0)) {
                fprintf(stderr, "make-random-bert: error: bad gain '%s'\n",
                        val);
                return 2;
            }
            o.linear_gain = (float)g;
        } else {
            fprintf(stderr, "make-random-bert: error: unknown option %s\n%s", a,
                    usage_text);
            return 2;
        }
    }
    if (dir == NULL) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (o.vocab_path && !vocab_size_set)
        o.vocab_size = 0; /* from the file */
    if (dm_randbert_write(&o, dir, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "make-random-bert: error: %s\n", err);
        return 1;
    }
    return 0;
}
