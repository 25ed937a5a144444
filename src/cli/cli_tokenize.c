/*
 * cli_tokenize.c - `driftmon tokenize`: WordPiece ids of texts, one JSON
 * array per input text on standard output, for checking the tokenizer
 * against a reference.
 *
 *     driftmon tokenize [--model-path DIR] [--max-length N] [--jsonl]
 *                       [FILE|-]
 *
 * Input (FILE, or standard input when absent or "-") is one text per line,
 * or with --jsonl one JSON object per line whose "text" string is the text
 * (so texts may hold newlines, tabs and NULs).  The model directory
 * (default models/all-MiniLM-L6-v2) supplies vocab.txt, and when present
 * tokenizer_config.json (do_lower_case, default true) and
 * sentence_bert_config.json (max_seq_length, default 256);
 * --max-length overrides max_seq_length.  Output lines are compact JSON
 * arrays ("[101,7592,102]").  The first bad line stops the run with
 * "driftmon: error: FILE:LINE: reason" and exit code 2; a model directory
 * that cannot be used gives exit code 3.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/lines.h"
#include "embed/model.h"
#include "embed/tokenizer.h"

#define DEFAULT_MODEL_PATH "models/all-MiniLM-L6-v2"
#define DEFAULT_MAX_LENGTH 256
#define MAX_LENGTH         65536      /* cap on --max-length / max_seq_length */
#define MAX_LINE           (1u << 20) /* cap on one input line */
#define PATH_LEN           4096

struct options {
    const char *model_path;
    size_t max_length; /* 0: from the model directory */
    bool jsonl;
    const char *input;
};

static const char usage_text[] =
    "usage: driftmon tokenize [--model-path DIR] [--max-length N] [--jsonl] "
    "[FILE|-]\n"
    "Prints the WordPiece ids of each input text as a JSON array, one per "
    "line.\n"
    "  --model-path DIR  model directory with vocab.txt "
    "(default " DEFAULT_MODEL_PATH ")\n"
    "  --max-length N    ids per text including [CLS] and [SEP], 2.."
    "65536\n"
    "                    (default: max_seq_length of the model, else 256)\n"
    "  --jsonl           input lines are JSON objects with a \"text\" "
    "string\n";

/* Returns DM_CLI_GO_ON, or an exit code. */
static int parse_args(int argc, char **argv, struct options *o)
{
    const dm_cli_opt_t opts[] = {
        DM_CLI_FLAG("--jsonl", &o->jsonl),
        DM_CLI_VALUE("--model-path", &o->model_path),
        DM_CLI_PARSED("--max-length", &o->max_length, dm_cli_opt_integer, 2,
                      MAX_LENGTH),
        DM_CLI_END,
    };
    const dm_cli_cmd_t cmd = {"tokenize", usage_text, opts, &o->input,
                              dm_cli_bad_what};

    o->model_path = DEFAULT_MODEL_PATH;
    o->max_length = 0;
    o->jsonl = false;
    o->input = "-";
    return dm_cli_parse(&cmd, argc, argv);
}

static int print_ids(dm_buf_t *out, const int32_t *ids, size_t n)
{
    dm_buf_reset(out);
    if (dm_buf_puts(out, "[") != DM_OK)
        return DM_ETOOBIG;
    for (size_t k = 0; k < n; k++)
        if (dm_buf_printf(out, k ? ",%d" : "%d", (int)ids[k]) != DM_OK)
            return DM_ETOOBIG;
    if (dm_buf_puts(out, "]\n") != DM_OK)
        return DM_ETOOBIG;
    if (fwrite(out->data, 1, out->len, stdout) != out->len)
        return DM_EIO;
    return DM_OK;
}

/* The tokenizer of the model directory, and the ids a text may take. */
static int load_tokenizer(const struct options *o, dm_tokenizer_t **tok,
                          size_t *max_len, char *err, size_t n)
{
    char vocab[PATH_LEN];
    bool lower;
    int rc = dm_model_tokenizer_settings(
        o->model_path, MAX_LENGTH, DEFAULT_MAX_LENGTH, &lower, max_len, err, n);

    if (rc != DM_OK)
        return rc;
    if (o->max_length > 0)
        *max_len = o->max_length;
    if ((size_t)snprintf(vocab, sizeof(vocab), "%s/vocab.txt", o->model_path) >=
        sizeof(vocab))
        return dm_err_set(err, n, DM_EINVAL, "%s: path too long",
                          o->model_path);
    return dm_tokenizer_load(vocab, lower, tok, err, n);
}

/*
 * Prints the ids of every text of the input.  Returns an exit code: 2
 * for bad input (the first bad line stops), 3 when standard output
 * fails; the message is in err.
 */
static int tokenize_input(const dm_tokenizer_t *tok, size_t max_len,
                          const struct options *o, char *err, size_t n)
{
    int32_t *ids = NULL;
    dm_lines_t lr;
    dm_buf_t out;
    const char *line, *text;
    size_t len, tlen, k = 0;
    json_t *obj;
    int rc, ret = DM_EXIT_USAGE;

    rc = dm_lines_open(&lr, o->input, MAX_LINE, err, n);
    if (rc != DM_OK)
        return DM_EXIT_USAGE;
    ids = dm_mallocarray(max_len, sizeof(int32_t));
    dm_buf_init(&out, (size_t)MAX_LENGTH * 12 + 4);
    while ((rc = dm_lines_next(&lr, &line, &len, err, n)) > 0) {
        rc = dm_cli_text_line(&lr, o->jsonl, line, len, &obj, &text, &tlen, err,
                              n);
        if (rc == 0)
            continue; /* blank line in a JSONL file */
        if (rc > 0)
            rc = dm_tokenizer_encode(tok, text, tlen, ids, max_len, &k);
        json_decref(obj);
        if (rc < 0)
            break;
        rc = print_ids(&out, ids, k);
        if (rc != DM_OK) {
            ret = DM_EXIT_FAILURE;
            dm_err_set(err, n, rc, "writing standard output failed");
            goto out;
        }
    }
    if (rc < 0) {
        if (err[0] == '\0') /* the tokenizer gives a code only */
            dm_err_set(err, n, rc, "%s", dm_strerror(rc));
        goto out;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        ret = DM_EXIT_FAILURE;
        dm_err_set(err, n, DM_EIO, "writing standard output failed");
        goto out;
    }
    ret = DM_EXIT_OK;
out:
    dm_lines_close(&lr);
    dm_free(ids);
    dm_buf_cleanup(&out);
    return ret;
}

int dm_cli_tokenize(int argc, char **argv)
{
    struct options o;
    dm_tokenizer_t *tok = NULL;
    size_t max_len = 0;
    char err[DM_ERRBUF_SIZE] = "";
    int rc, ret;

    if ((ret = parse_args(argc, argv, &o)) != DM_CLI_GO_ON)
        return ret;
    /* a model directory that cannot be used: exit 3 */
    rc = load_tokenizer(&o, &tok, &max_len, err, sizeof(err));
    ret = rc == DM_OK ? tokenize_input(tok, max_len, &o, err, sizeof(err))
                      : DM_EXIT_FAILURE;
    if (ret != DM_EXIT_OK) {
        fflush(stdout);
        fprintf(stderr, "driftmon: error: %s\n",
                err[0] ? err : dm_strerror(rc));
    }
    dm_tokenizer_free(tok);
    return ret;
}
