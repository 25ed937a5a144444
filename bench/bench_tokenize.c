/*
 * bench_tokenize.c - throughput of the WordPiece tokenizer on the fixture
 * texts (../shared/fixtures/minilm-tiny/cases.jsonl, 81 texts from a few
 * bytes to ~8 KB), and of the hashing embedder on the same texts.
 *
 *     bench_tokenize [VOCAB_TXT [CASES_JSONL [SECONDS]]]
 *
 * Defaults: the fixture files, 2 seconds per measurement.  Prints texts/s
 * and MB/s for max_ids 256 (what the encoder uses) and for an untruncated
 * run (max_ids 4096), then for dm_hashing_embed() at dim 384.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"
#include "embed/hashing.h"
#include "embed/tokenizer.h"

#ifndef DM_FIXTURES
#define DM_FIXTURES "../shared/fixtures"
#endif

#define MAX_TEXTS 1024

struct text {
    char *s;
    size_t len;
};

static size_t load_texts(const char *path, struct text *t)
{
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;

    if (f == NULL) {
        fprintf(stderr, "bench_tokenize: cannot open %s\n", path);
        exit(1);
    }
    while (n < MAX_TEXTS && (len = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        json_t *o = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &err);
        json_t *s = json_object_get(o, "text");
        if (!json_is_string(s)) {
            fprintf(stderr, "bench_tokenize: %s:%zu: no text\n", path, n + 1);
            exit(1);
        }
        t[n].len = json_string_length(s);
        t[n].s = malloc(t[n].len + 1);
        memcpy(t[n].s, json_string_value(s), t[n].len + 1);
        json_decref(o);
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

typedef void (*work_fn)(const struct text *t, void *ctx);

struct tok_ctx {
    const dm_tokenizer_t *tok;
    size_t max_ids;
    int32_t ids[4096];
    size_t total_ids;
};

static void work_tokenize(const struct text *t, void *arg)
{
    struct tok_ctx *c = arg;
    size_t n = 0;

    if (dm_tokenizer_encode(c->tok, t->s, t->len, c->ids, c->max_ids, &n) !=
        DM_OK)
        abort();
    c->total_ids += n;
}

static void work_hash(const struct text *t, void *arg)
{
    float *v = arg;
    dm_hashing_embed(t->s, t->len, 384, v);
}

static void measure(const char *name, const struct text *t, size_t n,
                    double seconds, work_fn fn, void *ctx)
{
    uint64_t start = dm_time_mono_ns(), now;
    size_t texts = 0, bytes = 0;
    double el;

    do {
        for (size_t i = 0; i < n; i++) {
            fn(&t[i], ctx);
            bytes += t[i].len;
        }
        texts += n;
        now = dm_time_mono_ns();
    } while ((double)(now - start) < seconds * 1e9);
    el = (double)(now - start) / 1e9;
    printf("%-28s %10.0f texts/s %8.1f MB/s  (%zu texts, %.2f s)\n", name,
           (double)texts / el, (double)bytes / el / 1e6, texts, el);
}

int main(int argc, char **argv)
{
    const char *vocab =
        argc > 1 ? argv[1] : DM_FIXTURES "/minilm-tiny/vocab.txt";
    const char *cases =
        argc > 2 ? argv[2] : DM_FIXTURES "/minilm-tiny/cases.jsonl";
    double seconds = argc > 3 ? strtod(argv[3], NULL) : 2.0;
    static struct text texts[MAX_TEXTS];
    static struct tok_ctx ctx;
    static float vec[384];
    char err[DM_ERRBUF_SIZE];
    dm_tokenizer_t *tok = NULL;
    size_t n, bytes = 0;
    uint64_t t0;

    t0 = dm_time_mono_ns();
    if (dm_tokenizer_load(vocab, true, &tok, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "bench_tokenize: %s\n", err);
        return 1;
    }
    printf("vocabulary load: %.2f ms (%zu tokens)\n",
           (double)(dm_time_mono_ns() - t0) / 1e6,
           dm_tokenizer_vocab_size(tok));
    n = load_texts(cases, texts);
    for (size_t i = 0; i < n; i++)
        bytes += texts[i].len;
    printf("%zu texts, %zu bytes, mean %.0f bytes\n", n, bytes,
           (double)bytes / (double)n);

    ctx.tok = tok;
    ctx.max_ids = 256;
    measure("tokenize max_ids=256", texts, n, seconds, work_tokenize, &ctx);
    ctx.max_ids = 4096;
    ctx.total_ids = 0;
    measure("tokenize untruncated", texts, n, seconds, work_tokenize, &ctx);
    measure("hashing embed dim=384", texts, n, seconds, work_hash, vec);

    for (size_t i = 0; i < n; i++)
        free(texts[i].s);
    dm_tokenizer_free(tok);
    return 0;
}
