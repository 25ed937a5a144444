/*
 * terms.c - the words that name a topic: class-based TF-IDF (BERTopic's
 * c-TF-IDF) over the queries of each topic (DESIGN.md section 2.5).
 *
 * All queries of a topic are one document.  A term's weight in topic c
 * is tf(t, c) * log(1 + A / f_t): its count in the topic, times an idf
 * where A is the mean number of words per topic and f_t the count of t
 * over all topics -- a word frequent in one topic and rare elsewhere
 * names it, a word common everywhere ("python" in a Python-only
 * assistant) does not.
 *
 * Words are maximal runs of ASCII letters and digits and of non-ASCII
 * bytes (so UTF-8 words stay whole), ASCII lower-cased; words of one
 * character, longer than DM_STATS_EXPLAIN_TERM_LEN - 1 bytes, all digits
 * or in the built-in English stop list are dropped.
 *
 * DESIGN
 * Two passes over the texts: the first builds the vocabulary (an open
 * addressing hash table whose terms live in one arena), the second counts
 * term ids per topic into a k x V table.  Memory is bounded by the bytes
 * of the texts.  Ties of weight are broken by the term (byte order), so
 * the result does not depend on the hash.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "stats/stats_int.h"

/* English stop words (scikit-learn's list, trimmed), sorted for bsearch. */
static const char *const stop_words[] = {
    "about",   "above",   "after",   "again",   "against", "all",     "also",
    "am",      "an",      "and",     "any",     "are",     "as",      "at",
    "be",      "because", "been",    "before",  "being",   "below",   "best",
    "between", "both",    "but",     "by",      "can",     "cannot",  "could",
    "did",     "do",      "does",    "doing",   "don",     "down",    "during",
    "each",    "either",  "else",    "even",    "ever",    "every",   "few",
    "for",     "from",    "further", "get",     "given",   "had",     "has",
    "have",    "having",  "he",      "help",    "her",     "here",    "hers",
    "him",     "his",     "how",     "however", "if",      "in",      "into",
    "is",      "isn",     "it",      "its",     "itself",  "just",    "let",
    "like",    "ll",      "may",     "me",      "might",   "more",    "most",
    "much",    "must",    "my",      "myself",  "need",    "no",      "nor",
    "not",     "now",     "of",      "off",     "on",      "once",    "one",
    "only",    "or",      "other",   "our",     "ours",    "out",     "over",
    "own",     "please",  "re",      "same",    "she",     "should",  "so",
    "some",    "still",   "such",    "than",    "that",    "the",     "their",
    "them",    "then",    "there",   "these",   "they",    "this",    "those",
    "through", "to",      "too",     "under",   "until",   "up",      "us",
    "use",     "using",   "ve",      "very",    "want",    "was",     "way",
    "we",      "were",    "what",    "when",    "where",   "whether", "which",
    "while",   "who",     "whom",    "why",     "will",    "with",    "without",
    "work",    "would",   "yet",     "you",     "your",    "yours",
};

#define N_STOP (sizeof(stop_words) / sizeof(stop_words[0]))
#define MAXLEN (DM_STATS_EXPLAIN_TERM_LEN - 1)

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_stop(const char *w)
{
    return bsearch(&w, stop_words, N_STOP, sizeof(stop_words[0]), cmp_str) !=
           NULL;
}

static bool word_byte(unsigned char c)
{
    return c >= 0x80 || isalnum(c);
}

/*
 * Next kept word of *p into w (NUL-terminated); false at the end.  *p
 * advances past it.
 */
static bool next_word(const char **p, char *w)
{
    const unsigned char *s = (const unsigned char *)*p;

    for (;;) {
        size_t len = 0;
        bool digits = true;

        while (*s && !word_byte(*s))
            s++;
        if (*s == '\0') {
            *p = (const char *)s;
            return false;
        }
        while (word_byte(*s)) {
            if (len < MAXLEN)
                w[len] = (char)(*s < 0x80 ? tolower(*s) : *s);
            if (!isdigit(*s))
                digits = false;
            len++;
            s++;
        }
        if (len < 2 || len > MAXLEN || digits)
            continue;
        w[len] = '\0';
        if (is_stop(w))
            continue;
        *p = (const char *)s;
        return true;
    }
}

/* The vocabulary: terms in an arena, ids by open addressing. */
typedef struct vocab {
    char *arena;
    size_t used, arena_cap;
    size_t *off;    /* per id: offset of the term in the arena */
    uint32_t *slot; /* cap slots: id + 1, 0 = empty */
    size_t cap, n;
} vocab_t;

static uint32_t vocab_id(vocab_t *v, const char *w, bool add)
{
    size_t len = strlen(w);
    size_t h = (size_t)dm_hash_bytes(w, len, 0) & (v->cap - 1);

    for (;; h = (h + 1) & (v->cap - 1)) {
        uint32_t s = v->slot[h];

        if (s == 0)
            break;
        if (strcmp(v->arena + v->off[s - 1], w) == 0)
            return s - 1;
    }
    if (!add)
        return UINT32_MAX;
    /* the arena and table were sized for every word of every text */
    memcpy(v->arena + v->used, w, len + 1);
    v->off[v->n] = v->used;
    v->used += len + 1;
    v->slot[h] = (uint32_t)(++v->n);
    return (uint32_t)(v->n - 1);
}

/* A candidate term of one topic. */
typedef struct cand {
    double w;
    const char *t;
} cand_t;

/* a ranks before b: larger weight, then smaller term */
static bool before(const cand_t *a, const cand_t *b)
{
    if (a->w != b->w)
        return a->w > b->w;
    return strcmp(a->t, b->t) < 0;
}

void dm_stats_ctfidf(const char *const *texts, size_t n, const uint32_t *label,
                     size_t k, dm_stats_topic_t *topics)
{
    vocab_t v = {0};
    size_t bytes = 0, words = 0;
    uint32_t *tf = NULL;
    uint64_t *ft = NULL;
    char w[DM_STATS_EXPLAIN_TERM_LEN];
    double a;

    for (size_t i = 0; i < n; i++)
        bytes += texts[i] ? strlen(texts[i]) + 1 : 0;
    /* a text of b bytes has at most b / 2 words of 2 or more bytes */
    v.cap = 16;
    while (v.cap < bytes + 16)
        v.cap <<= 1;
    v.arena_cap = bytes + 1;
    v.arena = dm_malloc(v.arena_cap);
    v.off = dm_mallocarray(bytes / 2 + 1, sizeof(*v.off));
    v.slot = dm_calloc(v.cap, sizeof(*v.slot));
    for (size_t i = 0; i < n; i++) {
        const char *p = texts[i] ? texts[i] : "";

        while (next_word(&p, w)) {
            (void)vocab_id(&v, w, true);
            words++;
        }
    }
    tf = dm_calloc(k * (v.n ? v.n : 1), sizeof(*tf));
    ft = dm_calloc(v.n ? v.n : 1, sizeof(*ft));
    for (size_t i = 0; i < n; i++) {
        const char *p = texts[i] ? texts[i] : "";

        while (next_word(&p, w)) {
            uint32_t id = vocab_id(&v, w, false);

            tf[(size_t)label[i] * v.n + id]++;
            ft[id]++;
        }
    }
    a = (double)words / (double)k;
    for (size_t c = 0; c < k; c++) {
        cand_t top[DM_STATS_EXPLAIN_TERMS];
        size_t m = 0;

        for (size_t t = 0; t < v.n; t++) {
            uint32_t f = tf[c * v.n + t];
            cand_t x;
            size_t j;

            if (f == 0)
                continue;
            x.w = (double)f * log(1.0 + a / (double)ft[t]);
            x.t = v.arena + v.off[t];
            if (m == DM_STATS_EXPLAIN_TERMS && !before(&x, &top[m - 1]))
                continue;
            j = m < DM_STATS_EXPLAIN_TERMS ? m++ : m - 1;
            while (j > 0 && before(&x, &top[j - 1])) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = x;
        }
        topics[c].n_terms = m;
        for (size_t j = 0; j < m; j++)
            snprintf(topics[c].terms[j], sizeof(topics[c].terms[j]), "%s",
                     top[j].t);
    }
    free(ft);
    free(tf);
    free(v.slot);
    free(v.off);
    free(v.arena);
}
