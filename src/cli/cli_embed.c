/*
 * cli_embed.c - `driftmon embed`: sentence embeddings of texts, one JSON
 * array of floats per input text on standard output, in input order.
 *
 *     driftmon embed [--model NAME] [--model-path DIR] [--batch-size N]
 *                    [--threads N] [--dimension N] [--max-length N]
 *                    [--precision auto|fp32|bf16] [--jsonl] [FILE|-]
 *
 * Input (FILE, or standard input when absent or "-") is one text per line
 * (an empty line is an empty text), or with --jsonl one JSON object per
 * line whose "text" string is the text (blank lines skipped).  --model
 * hashing needs no files; any other name (default
 * sentence-transformers/all-MiniLM-L6-v2) loads the BERT model in
 * --model-path (default models/all-MiniLM-L6-v2), its products in
 * --precision (as embeddings.precision; default auto), which is logged
 * once with its reason when the model is loaded.  Floats are printed
 * with %.9g, enough to round-trip a float.
 *
 * Input is read and embedded in chunks of a bounded number of texts and
 * bytes, so memory stays bounded on any input size.  Progress goes to
 * standard error only when it is a terminal.  The first bad line stops the run
 * with "driftmon: error: FILE:LINE: reason" and exit code 2; a model
 * that cannot be loaded also exits with 2 and the model's message.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/alloc.h"
#include "common/lines.h"
#include "common/log.h"
#include "embed/embed.h"

#define MAX_LINE        (1u << 20)  /* cap on one input line */
#define CHUNK_PER_BATCH 16          /* texts per chunk: batch size x this */
#define CHUNK_BYTES     (16u << 20) /* or this many bytes of text */

struct options {
    dm_embedder_opts_t eo;
    bool jsonl;
    const char *input;
};

static const char usage_text[] =
    "usage: driftmon embed [--model NAME] [--model-path DIR] "
    "[--batch-size N]\n"
    "                      [--threads N] [--dimension N] [--max-length N]\n"
    "                      [--precision auto|fp32|bf16] [--jsonl] [FILE|-]\n"
    "Prints the embedding of each input text as a JSON array, one per "
    "line.\n"
    "  --model NAME       hashing, or a BERT model name "
    "(default " DM_EMBED_DEFAULT_MODEL ")\n"
    "  --model-path DIR   BERT model directory (default " DM_EMBED_DEFAULT_PATH
    ")\n"
    "  --batch-size N     sentences per batch (default 32)\n"
    "  (--batch-size, --threads and --dimension take the bounds of the\n"
    "  embeddings.* config keys of the same names)\n"
    "  --threads N        encoder threads, 0 = one per core (default 1)\n"
    "  --dimension N      hashing dimension (default 384)\n"
    "  --max-length N     tokens per text, at most the model's "
    "max_seq_length\n"
    "  --precision P      BERT matrix products in auto, fp32 or bf16 (default\n"
    "                     auto: bf16 if the CPU has AVX512-BF16 or AMX)\n"
    "  --jsonl            input lines are JSON objects with a \"text\" "
    "string\n";

/*
 * The bounds of an option that sets what a config key sets: the key's
 * own (one rule for both; 0 threads = one per core in both).
 */
static void key_bounds(dm_cli_opt_t *opts, const char *name, const char *key)
{
    size_t idx;
    double lo, hi;

    while (strcmp(opts->name, name) != 0)
        opts++;
    if (dm_config_key_find(key, &idx) == DM_OK &&
        dm_config_key_bounds(idx, &lo, &hi) == DM_OK) {
        opts->min = (size_t)lo;
        opts->max = (size_t)hi;
    }
}

/*
 * parse callback of --precision into *(dm_embed_precision_t *)opt->dst,
 * by the embedder's own names; a bad value names the option and them.
 */
static bool opt_precision(const dm_cli_cmd_t *cmd, const dm_cli_opt_t *opt,
                          const char *value)
{
    static const dm_embed_precision_t all[] = {DM_EMBED_PRECISION_AUTO,
                                               DM_EMBED_PRECISION_FP32,
                                               DM_EMBED_PRECISION_BF16};
    char what[96];

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(value, dm_embed_precision_name(all[i])) == 0) {
            *(dm_embed_precision_t *)opt->dst = all[i];
            return true;
        }
    snprintf(what, sizeof(what), "%s must be one of %s, %s, %s", opt->name,
             dm_embed_precision_name(all[0]), dm_embed_precision_name(all[1]),
             dm_embed_precision_name(all[2]));
    dm_cli_value_error(cmd, what, value);
    return false;
}

/* Returns DM_CLI_GO_ON, or an exit code. */
static int parse_args(int argc, char **argv, struct options *o)
{
    dm_cli_opt_t opts[] = {
        DM_CLI_FLAG("--jsonl", &o->jsonl),
        DM_CLI_VALUE("--model", &o->eo.model),
        DM_CLI_VALUE("--model-path", &o->eo.model_path),
        DM_CLI_PARSED("--batch-size", &o->eo.batch_size, dm_cli_opt_integer, 1,
                      1),
        DM_CLI_PARSED("--threads", &o->eo.threads, dm_cli_opt_integer, 0, 1),
        DM_CLI_PARSED("--dimension", &o->eo.dimension, dm_cli_opt_integer, 1,
                      1),
        /* at most the model's max_seq_length (checked at open) */
        DM_CLI_PARSED("--max-length", &o->eo.max_seq_length, dm_cli_opt_integer,
                      2, 65536),
        DM_CLI_PARSED("--precision", &o->eo.precision, opt_precision, 0, 0),
        DM_CLI_END,
    };
    const dm_cli_cmd_t cmd = {"embed", usage_text, opts, &o->input,
                              dm_cli_bad_what};

    key_bounds(opts, "--batch-size", "embeddings.batch_size");
    key_bounds(opts, "--threads", "embeddings.threads");
    key_bounds(opts, "--dimension", "embeddings.dimension");
    memset(o, 0, sizeof(*o));
    o->eo.threads = 1;
    o->eo.model = DM_EMBED_DEFAULT_MODEL;
    o->eo.model_path = DM_EMBED_DEFAULT_PATH;
    o->input = "-";
    return dm_cli_parse(&cmd, argc, argv);
}

/* The texts of one chunk: owned copies, since lines are borrowed. */
struct chunk {
    char **texts;
    size_t *lens;
    size_t n, cap;
    size_t bytes; /* text bytes held */
    float *out;
};

static void chunk_add(struct chunk *c, const char *p, size_t len)
{
    c->texts[c->n] = dm_malloc(len + 1);
    memcpy(c->texts[c->n], p, len);
    c->texts[c->n][len] = '\0';
    c->lens[c->n] = len;
    c->n++;
    c->bytes += len;
}

static void chunk_clear(struct chunk *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i]);
    c->n = 0;
    c->bytes = 0;
}

static int flush(dm_embedder_t *e, struct chunk *c, size_t *done, bool progress,
                 char *err, size_t n)
{
    size_t dim = dm_embedder_dim(e);
    int rc;

    if (c->n == 0)
        return DM_OK;
    rc = dm_embedder_embed(e, (const char *const *)c->texts, c->lens, c->n,
                           c->out, err, n);
    if (rc != DM_OK)
        return rc;
    for (size_t i = 0; i < c->n; i++) {
        const float *v = c->out + i * dim;

        putchar('[');
        for (size_t j = 0; j < dim; j++)
            printf(j ? ",%.9g" : "%.9g", (double)v[j]);
        putchar(']');
        putchar('\n');
    }
    *done += c->n;
    chunk_clear(c);
    if (progress)
        fprintf(stderr, "\rembedded %zu texts", *done);
    if (ferror(stdout))
        return dm_err_set(err, n, DM_EIO, "cannot write to standard output");
    return DM_OK;
}

/*
 * Embeds every text of the input in chunks and prints the vectors.
 * Returns an exit code: 2 for bad input (the first bad line stops), 3
 * when embedding or standard output fails; the message is in err.
 */
static int embed_input(dm_embedder_t *e, const struct options *o, bool progress,
                       size_t *done, char *err, size_t n)
{
    struct chunk c = {0};
    dm_lines_t lr;
    const char *line, *text;
    json_t *holder;
    size_t len, tlen;
    int rc, ret = DM_EXIT_USAGE;

    if (dm_lines_open(&lr, o->input, MAX_LINE, err, n) != DM_OK)
        return DM_EXIT_USAGE;
    c.cap = (o->eo.batch_size ? o->eo.batch_size : 32) * CHUNK_PER_BATCH *
            (o->eo.threads ? o->eo.threads : 1);
    c.texts = dm_calloc(c.cap, sizeof(*c.texts));
    c.lens = dm_calloc(c.cap, sizeof(*c.lens));
    c.out = dm_mallocarray(c.cap, dm_embedder_dim(e) * sizeof(float));
    while ((rc = dm_lines_next(&lr, &line, &len, err, n)) == 1) {
        rc = dm_cli_text_line(&lr, o->jsonl, line, len, &holder, &text, &tlen,
                              err, n);
        if (rc > 0)
            chunk_add(&c, text, tlen);
        json_decref(holder);
        if (rc < 0)
            goto out;
        if ((c.n == c.cap || c.bytes >= CHUNK_BYTES) &&
            flush(e, &c, done, progress, err, n) != DM_OK) {
            ret = DM_EXIT_FAILURE;
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    ret = DM_EXIT_FAILURE;
    if (flush(e, &c, done, progress, err, n) != DM_OK)
        goto out;
    if (fflush(stdout) != 0) {
        dm_err_set(err, n, DM_EIO, "cannot write to standard output");
        goto out;
    }
    ret = DM_EXIT_OK;
out:
    chunk_clear(&c);
    free(c.texts);
    free(c.lens);
    free(c.out);
    dm_lines_close(&lr);
    return ret;
}

int dm_cli_embed(int argc, char **argv)
{
    struct options o;
    dm_embedder_t *e = NULL;
    bool progress = isatty(STDERR_FILENO) != 0;
    char err[DM_ERRBUF_SIZE] = "";
    size_t done = 0;
    int ret;

    if ((ret = parse_args(argc, argv, &o)) != DM_CLI_GO_ON)
        return ret;
    if (o.eo.threads == 0) { /* as embeddings.threads: one per core */
        long nc = sysconf(_SC_NPROCESSORS_ONLN);

        o.eo.threads = nc > 64 ? 64 : nc > 0 ? (size_t)nc : 1;
    }
    /* a model that cannot be loaded is a usage error here (exit 2) */
    if (dm_embedder_open(&o.eo, &e, err, sizeof(err)) == DM_OK) {
        dm_log_info("embedder %s (%s) ready, precision %s (%s)",
                    dm_embedder_name(e), dm_embedder_fingerprint(e),
                    dm_embedder_precision(e), dm_embedder_precision_reason(e));
        ret = embed_input(e, &o, progress, &done, err, sizeof(err));
    } else {
        ret = DM_EXIT_USAGE;
    }
    if (ret != DM_EXIT_OK)
        fprintf(stderr, "driftmon: error: %s\n", err);
    if (progress && done)
        fputc('\n', stderr);
    dm_embedder_free(e);
    return ret;
}
