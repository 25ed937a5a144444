/*
 * tokenizer.c - the WordPiece vocabulary and BERT encoding: [CLS], the
 * greedy longest-match-first WordPiece pieces of every basic-tokenizer word
 * (basic_tok.c), [SEP], truncated to max_ids.
 *
 * DESIGN
 * The vocabulary is one arena of NUL-terminated tokens and an open-
 * addressing hash table (linear probing, at most half full) of
 * {32 hash bits, id} slots keyed by the full token string, so a "##"
 * continuation is looked up by hashing "##" and the substring in one
 * incremental FNV-1a pass, without copying.  The longest token length is
 * recorded separately for word-initial and continuation tokens; the greedy
 * search starts at that length instead of at the end of the word, which
 * bounds the lookups per word to about 100 x 18.
 *
 * Encoding streams: the basic tokenizer calls back once per word and the
 * run stops as soon as max_ids - 2 pieces exist.  The reference tokenises
 * the whole text and then keeps the first max_ids - 2 pieces, which are
 * exactly these, so the work is bounded by the output, not by the text
 * (apart from a linear scan over text that yields no pieces).
 *
 * The tokenizer is immutable after dm_tokenizer_load(), so it may be
 * shared between threads; every encode keeps its state on the stack.
 */
#include "embed/tokenizer.h"

#include <string.h>

#include "common/alloc.h"
#include "common/lines.h"
#include "common/rng.h"
#include "embed/basic_tok.h"

/* Outside-input caps on vocab.txt. */
#define VOCAB_MAX_TOKENS (1u << 21)
#define VOCAB_MAX_LINE   1024

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME  UINT64_C(0x100000001b3)

enum special_idx { SP_PAD, SP_UNK, SP_CLS, SP_SEP, SP_MASK, SP_COUNT };

static const char *const special_names[SP_COUNT] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
};

typedef struct slot {
    uint32_t hash;
    int32_t id; /* -1: empty */
} slot_t;

struct dm_tokenizer {
    char *arena;       /* all tokens, each NUL-terminated */
    uint32_t *tok_off; /* id -> offset in arena */
    uint32_t *tok_len; /* id -> length in bytes */
    size_t n;          /* vocabulary size */
    slot_t *slots;     /* hash table, mask + 1 slots */
    size_t mask;
    size_t max_word; /* longest word-initial token, bytes */
    size_t max_cont; /* longest continuation token without "##" */
    bool lowercase;
    int32_t special_id[SP_COUNT];          /* -1 when absent ([MASK]) */
    dm_basic_special_t specials[SP_COUNT]; /* the present ones */
    int32_t specials_id[SP_COUNT];
    size_t nspecials;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t key_hash(bool cont, const char *s, size_t n)
{
    uint64_t h = FNV_OFFSET;

    if (cont)
        h = fnv(h, "##", 2);
    return dm_hash_mix64(fnv(h, s, n));
}

/* Id of ("##" if cont) + s[0..n-1], or -1. */
static int32_t vocab_find(const dm_tokenizer_t *tok, bool cont, const char *s,
                          size_t n)
{
    uint64_t h = key_hash(cont, s, n);
    uint32_t h32 = (uint32_t)(h >> 32);
    size_t want = n + (cont ? 2 : 0);

    for (size_t i = (size_t)h & tok->mask;; i = (i + 1) & tok->mask) {
        const slot_t *sl = &tok->slots[i];
        const char *t;

        if (sl->id < 0)
            return -1;
        if (sl->hash != h32 || tok->tok_len[sl->id] != want)
            continue;
        t = tok->arena + tok->tok_off[sl->id];
        if (cont) {
            if (t[0] != '#' || t[1] != '#')
                continue;
            t += 2;
        }
        if (memcmp(t, s, n) == 0)
            return sl->id;
    }
}

/* Inserts id; returns the id already holding the same token, or -1. */
static int32_t vocab_insert(dm_tokenizer_t *tok, int32_t id)
{
    const char *t = tok->arena + tok->tok_off[id];
    size_t len = tok->tok_len[id];
    uint64_t h = key_hash(false, t, len);
    uint32_t h32 = (uint32_t)(h >> 32);
    size_t i;

    for (i = (size_t)h & tok->mask; tok->slots[i].id >= 0;
         i = (i + 1) & tok->mask) {
        const slot_t *sl = &tok->slots[i];
        if (sl->hash == h32 && tok->tok_len[sl->id] == len &&
            memcmp(tok->arena + tok->tok_off[sl->id], t, len) == 0)
            return sl->id;
    }
    tok->slots[i].hash = h32;
    tok->slots[i].id = id;
    return -1;
}

/* Reads every line of the vocabulary into the arena. */
static int vocab_read(dm_tokenizer_t *tok, const char *path, char *errbuf,
                      size_t errlen)
{
    dm_lines_t lr;
    dm_buf_t arena;
    size_t cap = 0;
    const char *line;
    size_t len;
    int rc;

    rc = dm_lines_open(&lr, path, VOCAB_MAX_LINE, errbuf, errlen);
    if (rc != DM_OK)
        return rc;
    /* the arena cap follows from the two caps above */
    dm_buf_init(&arena, (size_t)VOCAB_MAX_TOKENS * (VOCAB_MAX_LINE + 1));
    while ((rc = dm_lines_next(&lr, &line, &len, errbuf, errlen)) == 1) {
        if (tok->n == VOCAB_MAX_TOKENS) {
            rc = dm_err_set(errbuf, errlen, DM_EMODEL,
                            "%s:%zu: more than %u tokens", path, lr.lineno,
                            VOCAB_MAX_TOKENS);
            goto out;
        }
        if (len == 0) {
            rc = dm_err_set(errbuf, errlen, DM_EMODEL, "%s:%zu: empty token",
                            path, lr.lineno);
            goto out;
        }
        if (tok->n == cap) {
            cap = cap ? cap * 2 : 32768;
            tok->tok_off = dm_reallocarray(tok->tok_off, cap, sizeof(uint32_t));
            tok->tok_len = dm_reallocarray(tok->tok_len, cap, sizeof(uint32_t));
        }
        tok->tok_off[tok->n] = (uint32_t)arena.len;
        tok->tok_len[tok->n] = (uint32_t)len;
        /* the caps keep the arena far below its own cap and 4 GiB */
        if (dm_buf_append(&arena, line, len + 1) != DM_OK) {
            rc = dm_err_set(errbuf, errlen, DM_EINTERNAL,
                            "%s:%zu: vocabulary arena full", path, lr.lineno);
            goto out;
        }
        tok->n++;
    }
    if (rc < 0) {
        /* DM_EIO or DM_ETOOBIG, message from the line reader */
        if (rc == DM_ETOOBIG)
            rc = DM_EMODEL;
        goto out;
    }
    rc = DM_OK;
    tok->arena = dm_buf_steal(&arena);
out:
    dm_buf_cleanup(&arena);
    dm_lines_close(&lr);
    return rc;
}

static int vocab_index(dm_tokenizer_t *tok, const char *path, char *errbuf,
                       size_t errlen)
{
    size_t size = 1;

    while (size < tok->n * 2)
        size <<= 1;
    tok->slots = dm_mallocarray(size, sizeof(slot_t));
    for (size_t i = 0; i < size; i++)
        tok->slots[i].id = -1;
    tok->mask = size - 1;
    for (size_t id = 0; id < tok->n; id++) {
        const char *t = tok->arena + tok->tok_off[id];
        size_t len = tok->tok_len[id];
        int32_t prev = vocab_insert(tok, (int32_t)id);

        if (prev >= 0)
            return dm_err_set(errbuf, errlen, DM_EMODEL,
                              "%s:%zu: duplicate token \"%.*s\" (first on "
                              "line %d)",
                              path, id + 1, (int)(len > 64 ? 64 : len), t,
                              prev + 1);
        if (len > 2 && t[0] == '#' && t[1] == '#') {
            if (len - 2 > tok->max_cont)
                tok->max_cont = len - 2;
        } else if (len > tok->max_word) {
            tok->max_word = len;
        }
    }
    return DM_OK;
}

static int vocab_specials(dm_tokenizer_t *tok, const char *path, char *errbuf,
                          size_t errlen)
{
    for (int k = 0; k < SP_COUNT; k++) {
        const char *name = special_names[k];
        int32_t id = vocab_find(tok, false, name, strlen(name));

        tok->special_id[k] = id;
        if (id < 0 && k != SP_MASK)
            return dm_err_set(errbuf, errlen, DM_EMODEL,
                              "%s: no %s token in the vocabulary", path, name);
        if (id >= 0) {
            tok->specials[tok->nspecials].str = name;
            tok->specials[tok->nspecials].len = strlen(name);
            tok->specials_id[tok->nspecials] = id;
            tok->nspecials++;
        }
    }
    return DM_OK;
}

int dm_tokenizer_load(const char *vocab_path, bool lowercase,
                      dm_tokenizer_t **out, char *errbuf, size_t errlen)
{
    dm_tokenizer_t *tok = dm_calloc(1, sizeof(*tok));
    int rc;

    *out = NULL;
    tok->lowercase = lowercase;
    rc = vocab_read(tok, vocab_path, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    if (tok->n == 0) {
        rc = dm_err_set(errbuf, errlen, DM_EMODEL, "%s: empty vocabulary",
                        vocab_path);
        goto out;
    }
    rc = vocab_index(tok, vocab_path, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    rc = vocab_specials(tok, vocab_path, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    *out = tok;
    tok = NULL;
out:
    dm_tokenizer_free(tok);
    return rc;
}

void dm_tokenizer_free(dm_tokenizer_t *tok)
{
    if (tok == NULL)
        return;
    dm_free(tok->arena);
    dm_free(tok->tok_off);
    dm_free(tok->tok_len);
    dm_free(tok->slots);
    dm_free(tok);
}

size_t dm_tokenizer_vocab_size(const dm_tokenizer_t *tok)
{
    return tok->n;
}

const char *dm_tokenizer_token(const dm_tokenizer_t *tok, int32_t id)
{
    if (id < 0 || (size_t)id >= tok->n)
        return NULL;
    return tok->arena + tok->tok_off[id];
}

int32_t dm_tokenizer_token_id(const dm_tokenizer_t *tok, const char *token)
{
    return vocab_find(tok, false, token, strlen(token));
}

int32_t dm_tokenizer_pad_id(const dm_tokenizer_t *tok)
{
    return tok->special_id[SP_PAD];
}

/*
 * Greedy longest-match-first WordPiece of one word (at most
 * DM_BASIC_WORD_MAX_CHARS code points).  Writes the pieces to out and
 * returns their number, or 0 when some position matches nothing.
 */
static size_t wordpiece(const dm_tokenizer_t *tok, const dm_basic_word_t *w,
                        int32_t *out)
{
    size_t n = w->nstored, start = 0, count = 0;

    while (start < n) {
        bool cont = start > 0;
        size_t maxlen = cont ? tok->max_cont : tok->max_word;
        size_t end = start;
        int32_t id = -1;

        while (end < n && (size_t)(w->off[end + 1] - w->off[start]) <= maxlen)
            end++;
        for (; end > start; end--) {
            id = vocab_find(tok, cont, w->bytes + w->off[start],
                            (size_t)(w->off[end] - w->off[start]));
            if (id >= 0)
                break;
        }
        if (id < 0)
            return 0;
        out[count++] = id;
        start = end;
    }
    return count;
}

typedef struct encode_ctx {
    const dm_tokenizer_t *tok;
    int32_t *ids; /* ids[0] is [CLS] */
    size_t n;     /* ids written, including [CLS] */
    size_t limit; /* max_ids - 1: room for [CLS] and the pieces */
} encode_ctx_t;

static int encode_word(const dm_basic_word_t *w, void *arg)
{
    encode_ctx_t *c = arg;
    const dm_tokenizer_t *tok = c->tok;
    int32_t pieces[DM_BASIC_WORD_MAX_CHARS];
    size_t np = 0;

    if (w->special >= 0) {
        c->ids[c->n++] = tok->specials_id[w->special];
    } else {
        if (w->nchars <= DM_BASIC_WORD_MAX_CHARS)
            np = wordpiece(tok, w, pieces);
        if (np == 0) {
            c->ids[c->n++] = tok->special_id[SP_UNK];
        } else {
            for (size_t k = 0; k < np && c->n < c->limit; k++)
                c->ids[c->n++] = pieces[k];
        }
    }
    return c->n == c->limit;
}

int dm_tokenizer_encode(const dm_tokenizer_t *tok, const char *text, size_t len,
                        int32_t *ids, size_t max_ids, size_t *n_out)
{
    encode_ctx_t c;

    *n_out = 0;
    if (max_ids < 2)
        return DM_EINVAL;
    c.tok = tok;
    c.ids = ids;
    c.limit = max_ids - 1;
    ids[0] = tok->special_id[SP_CLS];
    c.n = 1;
    if (c.n < c.limit && len > 0)
        (void)dm_basic_tok_run(text, len, tok->lowercase, tok->specials,
                               tok->nspecials, encode_word, &c);
    ids[c.n++] = tok->special_id[SP_SEP];
    *n_out = c.n;
    return DM_OK;
}
