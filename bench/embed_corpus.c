/*
 * embed_corpus.c - deterministic feedback-like benchmark texts built from
 * a real WordPiece vocabulary (see embed_corpus.h).
 *
 * The usable words are the vocabulary's whole lower-case alphabetic words
 * of two or more letters, in vocabulary order (BERT's vocabulary lists
 * frequent words first), so each maps to exactly one token.  A text is a
 * question opener, question words and a "?", then response sentences of
 * 6-18 words with commas and full stops, sometimes a number or a
 * parenthesis, until the planned token count is reached.
 */
#include "embed_corpus.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rng.h"

#define MAX_WORDS 12000
#define TEXT_MAX  8192

static const char *const openers[] = {
    "how do i",           "why does",
    "can you explain",    "what is the best way to",
    "my code fails when", "please fix",
    "is it possible to",  "write a function that",
    "what does",          "help me understand",
};

struct words {
    char **w;
    size_t n;
};

static int load_words(const char *path, struct words *ws, char *errbuf,
                      size_t errlen)
{
    char line[256];
    FILE *f = fopen(path, "r");

    ws->w = dm_calloc(MAX_WORDS, sizeof(char *));
    ws->n = 0;
    if (f == NULL)
        return dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    while (ws->n < MAX_WORDS && fgets(line, sizeof(line), f)) {
        size_t len = strcspn(line, "\r\n");
        int ok = len >= 2;

        line[len] = '\0';
        for (size_t i = 0; i < len && ok; i++)
            ok = line[i] >= 'a' && line[i] <= 'z';
        if (ok)
            ws->w[ws->n++] = dm_strdup(line);
    }
    fclose(f);
    if (ws->n < 1000)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "%s: only %zu usable words", path, ws->n);
    return DM_OK;
}

/* A word index biased to the front (frequent words): log-uniform. */
static const char *pick(const struct words *ws, dm_rng_t *r)
{
    double u = dm_rng_uniform(r);
    size_t i = (size_t)(exp(u * log((double)ws->n)) - 1.0);

    return ws->w[i < ws->n ? i : ws->n - 1];
}

/* Appends s; the texts are far below the buffer's cap. */
static void app(dm_buf_t *b, const char *s)
{
    if (dm_buf_puts(b, s) != DM_OK)
        abort();
}

/* Appends a space and a word; returns its token count (1). */
static size_t put(dm_buf_t *b, const char *w, int cap)
{
    char tmp[64];

    snprintf(tmp, sizeof(tmp), "%s", w);
    if (cap)
        tmp[0] = (char)toupper((unsigned char)tmp[0]);
    if (b->len)
        app(b, " ");
    app(b, tmp);
    return 1;
}

static char *make_text(const struct words *ws, dm_rng_t *r, size_t *len)
{
    dm_buf_t b;
    double target = exp(log(60.0) + 0.55 * dm_rng_normal(r));
    size_t want, tok = 2; /* [CLS] and [SEP] */
    size_t q;

    if (target < 10)
        target = 10;
    if (target > 200)
        target = 200;
    want = (size_t)target;
    dm_buf_init(&b, TEXT_MAX);
    /* the query: opener, 3-12 words, "?" */
    app(&b, openers[dm_rng_below(r, sizeof(openers) / sizeof(openers[0]))]);
    tok += 3;
    q = 3 + dm_rng_below(r, 10);
    for (size_t i = 0; i < q && tok + 1 < want; i++)
        tok += put(&b, pick(ws, r), 0);
    app(&b, "?");
    tok++;
    /* the response: sentences until the planned length */
    while (tok + 2 < want) {
        size_t words = 6 + dm_rng_below(r, 13);

        for (size_t i = 0; i < words && tok + 2 < want; i++) {
            uint64_t k = dm_rng_below(r, 40);

            if (k == 0) {
                char num[16];

                snprintf(num, sizeof(num), "%u",
                         (unsigned)dm_rng_below(r, 100));
                tok += put(&b, num, 0);
            } else if (k == 1 && tok + 4 < want) {
                app(&b, " (");
                app(&b, pick(ws, r));
                app(&b, ")");
                tok += 3;
            } else {
                tok += put(&b, pick(ws, r), i == 0);
            }
            if (dm_rng_below(r, 12) == 0 && tok + 2 < want) {
                app(&b, ",");
                tok++;
            }
        }
        app(&b, ".");
        tok++;
    }
    *len = b.len;
    return dm_buf_steal(&b);
}

int dm_corpus_make(const char *vocab_path, size_t n, uint64_t seed,
                   dm_corpus_t *out, char *errbuf, size_t errlen)
{
    struct words ws = {0};
    dm_rng_t r;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = load_words(vocab_path, &ws, errbuf, errlen);
    if (rc == DM_OK) {
        dm_rng_seed(&r, seed);
        out->texts = dm_calloc(n, sizeof(char *));
        out->lens = dm_calloc(n, sizeof(size_t));
        out->n = n;
        for (size_t i = 0; i < n; i++)
            out->texts[i] = make_text(&ws, &r, &out->lens[i]);
    }
    for (size_t i = 0; i < ws.n; i++)
        free(ws.w[i]);
    free(ws.w);
    return rc;
}

void dm_corpus_free(dm_corpus_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i]);
    free(c->texts);
    free(c->lens);
    memset(c, 0, sizeof(*c));
}
