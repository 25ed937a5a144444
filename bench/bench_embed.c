/*
 * bench_embed.c - throughput of the BERT embedder (tokenizer + native
 * encoder) on a fixed corpus of 2,000 feedback-like texts (~10 to 200
 * tokens, median ~60; see embed_corpus.h) with a model of exactly
 * all-MiniLM-L6-v2's shape (hidden 384, 6 layers, 12 heads, intermediate
 * 1536, vocabulary 30522, 512 positions).  No weights ship with the
 * project, so by default a random-weight model is written to a temporary
 * directory (the arithmetic, hence the speed, does not depend on the
 * values); --model DIR uses an existing one (e.g. the real model fetched
 * by scripts/fetch-model).
 *
 * Prints the token-length distribution, the OpenBLAS kernel in use, and
 * for each thread count: sentences/s, tokens/s, achieved GFLOP/s (best
 * of --runs), then the peak RSS of the process.
 *
 * Usage: bench_embed [--model DIR] [--texts N] [--batch-size N]
 *                    [--threads LIST] [--runs N] [--vocab FILE]
 *                    [--keep-model DIR] [--dump-ids FILE] [--dump-emb FILE]
 *
 * The last three feed the ONNX Runtime peer (bench/peer/ort-peer), which
 * runs the same model on the same token ids: --keep-model writes the
 * random model into DIR and keeps it, --dump-ids writes the corpus's token
 * ids as the encoder receives them and --dump-emb the embeddings of the
 * first thread count's last run, one JSON array per text and line, in
 * corpus order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/error.h"
#include "embed/embed.h"
#include "embed/encoder.h"
#include "embed/model.h"
#include "support/randbert.h"
#include "embed/tokenizer.h"
#include "embed_corpus.h"

#ifndef DM_FIXTURES
#define DM_FIXTURES "../shared/fixtures"
#endif

struct opts {
    const char *model, *vocab;
    const char *keep_model, *dump_ids, *dump_emb; /* for bench/peer/ */
    size_t texts, batch, runs;
    size_t threads[8], n_threads;
    dm_embed_precision_t precision[3];
    size_t n_precision;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t num(const char *s)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v == 0) {
        fprintf(stderr, "bench_embed: bad number '%s'\n", s);
        exit(2);
    }
    return (size_t)v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    o->model = NULL;
    o->keep_model = o->dump_ids = o->dump_emb = NULL;
    o->vocab = DM_FIXTURES "/minilm-tiny/vocab.txt";
    o->texts = 2000;
    o->batch = 32;
    o->runs = 1;
    o->precision[0] = DM_EMBED_PRECISION_FP32;
    o->precision[1] = DM_EMBED_PRECISION_AUTO;
    o->n_precision = 2;
    o->threads[0] = 1;
    o->threads[1] = 2;
    o->n_threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL) {
            fprintf(stderr, "bench_embed: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (strcmp(a, "--model") == 0) {
            o->model = v;
        } else if (strcmp(a, "--keep-model") == 0) {
            o->keep_model = v;
        } else if (strcmp(a, "--dump-ids") == 0) {
            o->dump_ids = v;
        } else if (strcmp(a, "--dump-emb") == 0) {
            o->dump_emb = v;
        } else if (strcmp(a, "--vocab") == 0) {
            o->vocab = v;
        } else if (strcmp(a, "--texts") == 0) {
            o->texts = num(v);
        } else if (strcmp(a, "--batch-size") == 0) {
            o->batch = num(v);
        } else if (strcmp(a, "--precision") == 0) {
            char buf[64], *p = buf, *c;

            snprintf(buf, sizeof(buf), "%s", v);
            o->n_precision = 0;
            while (p && o->n_precision < 3) {
                c = strchr(p, ',');
                if (c)
                    *c = '\0';
                if (strcmp(p, "auto") == 0)
                    o->precision[o->n_precision++] = DM_EMBED_PRECISION_AUTO;
                else if (strcmp(p, "fp32") == 0)
                    o->precision[o->n_precision++] = DM_EMBED_PRECISION_FP32;
                else if (strcmp(p, "bf16") == 0)
                    o->precision[o->n_precision++] = DM_EMBED_PRECISION_BF16;
                else {
                    fprintf(stderr,
                            "bench_embed: --precision: auto, fp32 or "
                            "bf16, not '%s'\n",
                            p);
                    exit(2);
                }
                p = c ? c + 1 : NULL;
            }
        } else if (strcmp(a, "--runs") == 0) {
            o->runs = num(v);
        } else if (strcmp(a, "--threads") == 0) {
            char buf[64], *p = buf, *c;

            snprintf(buf, sizeof(buf), "%s", v);
            o->n_threads = 0;
            while (p && o->n_threads < 8) {
                c = strchr(p, ',');
                if (c)
                    *c = '\0';
                o->threads[o->n_threads++] = num(p);
                p = c ? c + 1 : NULL;
            }
        } else {
            fprintf(stderr, "bench_embed: unknown option %s\n", a);
            exit(2);
        }
    }
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* Token counts of the corpus; returns the total and prints percentiles. */
static size_t token_stats(const char *model_dir, const dm_corpus_t *c,
                          size_t max_seq, size_t *lens, double *gflop,
                          const dm_embedder_t *e)
{
    char path[4096], err[DM_ERRBUF_SIZE];
    dm_tokenizer_t *tok = NULL;
    int32_t *ids = dm_mallocarray(max_seq, sizeof(int32_t));
    size_t *sorted = dm_mallocarray(c->n, sizeof(size_t)), total = 0;
    double t0, t;
    /* MiniLM shape for the FLOP estimate: per token per layer */
    const double H = (double)dm_embedder_dim(e), I = 4 * H, L = 6;

    snprintf(path, sizeof(path), "%s/vocab.txt", model_dir);
    if (dm_tokenizer_load(path, true, &tok, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "bench_embed: %s\n", err);
        exit(1);
    }
    *gflop = 0;
    t0 = now();
    for (size_t i = 0; i < c->n; i++) {
        if (dm_tokenizer_encode(tok, c->texts[i], c->lens[i], ids, max_seq,
                                &lens[i]) != DM_OK)
            exit(1);
        total += lens[i];
    }
    t = now() - t0;
    for (size_t i = 0; i < c->n; i++) {
        double n = (double)lens[i];

        sorted[i] = lens[i];
        /* Q,K,V,O: 8nH^2; FFN: 4nHI; attention: 4n^2 H */
        *gflop += L * (8 * n * H * H + 4 * n * H * I + 4 * n * n * H) * 1e-9;
    }
    qsort(sorted, c->n, sizeof(size_t), cmp_size);
    printf("corpus: %zu texts, %zu tokens (mean %.1f); tokens per text: "
           "min %zu, p10 %zu, p25 %zu, median %zu, p75 %zu, p90 %zu, "
           "max %zu\n",
           c->n, total, (double)total / (double)c->n, sorted[0],
           sorted[c->n / 10], sorted[c->n / 4], sorted[c->n / 2],
           sorted[c->n * 3 / 4], sorted[c->n * 9 / 10], sorted[c->n - 1]);
    printf("tokenizer alone: %.3f s (%.0f texts/s, one thread)\n", t,
           (double)c->n / t);
    printf("work: %.2f TFLOP float32 (MiniLM shape: %.0f hidden)\n",
           *gflop / 1000, H);
    dm_tokenizer_free(tok);
    free(ids);
    free(sorted);
    return total;
}

static FILE *dump_open(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "bench_embed: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

static void dump_close(FILE *f, const char *path)
{
    int bad = ferror(f);

    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "bench_embed: %s: write failed\n", path);
        exit(1);
    }
}

/*
 * --dump-ids: the token ids of every text exactly as dm_embedder_embed()
 * hands them to the encoder: the model directory's vocabulary, casing and
 * max_seq_length, read as dm_model_load() reads them.
 */
static void dump_ids(const char *model_dir, const dm_corpus_t *c,
                     const char *path)
{
    char vocab[4200], err[DM_ERRBUF_SIZE];
    dm_bert_config_t cfg;
    dm_tokenizer_t *tok = NULL;
    bool lower = true;
    size_t max_seq = 0, n;
    int32_t *ids;
    FILE *f;

    snprintf(vocab, sizeof(vocab), "%s/vocab.txt", model_dir);
    if (dm_model_read_config(model_dir, &cfg, err, sizeof(err)) != DM_OK ||
        dm_model_tokenizer_settings(model_dir, cfg.max_positions, 0, &lower,
                                    &max_seq, err, sizeof(err)) != DM_OK ||
        dm_tokenizer_load(vocab, lower, &tok, err, sizeof(err)) != DM_OK) {
        fprintf(stderr, "bench_embed: %s\n", err);
        exit(1);
    }
    ids = dm_mallocarray(max_seq, sizeof(int32_t));
    f = dump_open(path);
    for (size_t i = 0; i < c->n; i++) {
        if (dm_tokenizer_encode(tok, c->texts[i], c->lens[i], ids, max_seq,
                                &n) != DM_OK)
            exit(1);
        for (size_t t = 0; t < n; t++)
            fprintf(f, "%c%d", t ? ',' : '[', (int)ids[t]);
        fputs("]\n", f);
    }
    dump_close(f, path);
    free(ids);
    dm_tokenizer_free(tok);
    printf("token ids written to %s\n", path);
}

/* --dump-emb: n embeddings of dim floats, exactly (9 significant digits). */
static void dump_emb(const char *path, const float *out, size_t n, size_t dim,
                     size_t threads)
{
    FILE *f = dump_open(path);

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < dim; j++)
            fprintf(f, "%c%.9g", j ? ',' : '[', (double)out[i * dim + j]);
        fputs("]\n", f);
    }
    dump_close(f, path);
    printf("embeddings (threads %zu) written to %s\n", threads, path);
}

int main(int argc, char **argv)
{
    struct opts o;
    char tmp[] = "/tmp/dm-bench-model-XXXXXX", err[DM_ERRBUF_SIZE];
    const char *dir, *mdir, *better = NULL;
    dm_corpus_t corpus;
    dm_embedder_t *e = NULL;
    size_t *lens, total = 0;
    float *out;
    double gflop = 0, t0;
    struct rusage ru;

    /* as driftmon itself does: pick kernels the CPU supports when the
     * installed OpenBLAS does not recognise it (DRIFTMON_BLAS_AUTOTUNE=0
     * measures the generic kernels) */
    dm_encoder_blas_autotune(argv);
    parse(argc, argv, &o);
    dir = o.model;
    if (dir == NULL) {
        dm_randbert_opts_t ro;

        dm_randbert_opts_minilm(&ro);
        ro.vocab_path = o.vocab;
        ro.vocab_size = 0;
        mdir = o.keep_model ? o.keep_model : mkdtemp(tmp);
        if (mdir == NULL) {
            perror("bench_embed: mkdtemp");
            return 1;
        }
        t0 = now();
        if (dm_randbert_write(&ro, mdir, err, sizeof(err)) != DM_OK) {
            fprintf(stderr, "bench_embed: %s\n", err);
            return 1;
        }
        printf("model: random all-MiniLM-L6-v2-shaped BERT written to %s in "
               "%.2f s\n",
               mdir, now() - t0);
        dir = mdir;
    } else {
        printf("model: %s\n", dir);
    }
    if (dm_corpus_make(o.vocab, o.texts, 20261126, &corpus, err, sizeof(err)) !=
        DM_OK) {
        fprintf(stderr, "bench_embed: %s\n", err);
        return 1;
    }
    if (o.dump_ids)
        dump_ids(dir, &corpus, o.dump_ids);
    printf("OpenBLAS core: %s%s", dm_encoder_blas_core(),
           dm_encoder_blas_core_is_generic(&better)
               ? " (generic kernels; OPENBLAS_CORETYPE="
               : "");
    if (better && dm_encoder_blas_core_is_generic(NULL))
        printf("%s would be faster)", better);
    printf(", OPENBLAS_CORETYPE=%s\n", getenv("OPENBLAS_CORETYPE")
                                           ? getenv("OPENBLAS_CORETYPE")
                                           : "(unset)");
    lens = dm_calloc(o.texts, sizeof(size_t));
    out = dm_mallocarray(o.texts, 4096 * sizeof(float));
    for (size_t q = 0; q < o.n_precision; q++)
        for (size_t k = 0; k < o.n_threads; k++) {
            dm_embedder_opts_t eo = {.model = "random-minilm",
                                     .model_path = dir,
                                     .batch_size = o.batch,
                                     .threads = o.threads[k],
                                     .precision = o.precision[q]};
            double best = 1e30;

            t0 = now();
            if (dm_embedder_open(&eo, &e, err, sizeof(err)) != DM_OK) {
                fprintf(stderr, "bench_embed: %s\n", err);
                return 1;
            }
            if (k == 0) {
                printf("precision %s: %s (%s)\n",
                       dm_embed_precision_name(o.precision[q]),
                       dm_embedder_precision(e),
                       dm_embedder_precision_reason(e));
                printf("load: %.3f s, fingerprint %s\n", now() - t0,
                       dm_embedder_fingerprint(e));
            }
            if (k == 0 && q == 0)
                total = token_stats(dir, &corpus, 256, lens, &gflop, e);
            for (size_t r = 0; r < o.runs; r++) {
                double t;

                t0 = now();
                if (dm_embedder_embed(e, (const char *const *)corpus.texts,
                                      corpus.lens, corpus.n, out, err,
                                      sizeof(err)) != DM_OK) {
                    fprintf(stderr, "bench_embed: %s\n", err);
                    return 1;
                }
                t = now() - t0;
                if (t < best)
                    best = t;
            }
            printf("%s, threads %zu, batch %zu: %.2f s, %.1f sentences/s, %.0f "
                   "tokens/s, %.1f GFLOP/s\n",
                   dm_embedder_precision(e), o.threads[k], o.batch, best,
                   (double)corpus.n / best, (double)total / best, gflop / best);
            if (k == 0 && q == 0 && o.dump_emb)
                dump_emb(o.dump_emb, out, corpus.n, dm_embedder_dim(e),
                         o.threads[0]);
            fflush(stdout);
            dm_embedder_free(e);
        }
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    free(out);
    free(lens);
    dm_corpus_free(&corpus);
    if (o.model == NULL && o.keep_model == NULL)
        dm_randbert_remove(tmp);
    return 0;
}
