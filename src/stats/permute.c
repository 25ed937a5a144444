/*
 * permute.c - the permutation-test machinery shared by the KL and PSI
 * signals: per-permutation seeding, random subsets, the worker pool that
 * runs R permutations, and the summary of a null distribution.
 *
 * DESIGN
 * A permutation test must give the same p-value for the same seed
 * whatever the number of threads.  So no generator is shared or handed
 * from one permutation to the next: permutation i seeds its own
 * xoshiro256** from mix(mix(seed ^ stream) + i), draws its subset, writes
 * its statistic to out[i].  Workers get permutations round-robin
 * (worker w runs w, w + T, w + 2T, ...); each has private scratch, the
 * context is read-only while the job runs, and out[] slots are disjoint,
 * so the only synchronisation is pthread_join.  The summary then reads
 * out[] in index order, which makes floating-point sums reproducible too.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/log.h"
#include "stats/stats_int.h"

/* Relative tolerance under which a null value ties the observed one. */
#define TIE_RTOL 1e-12

void dm_stats_perm_seed(dm_rng_t *r, uint64_t seed, uint64_t stream,
                        uint64_t index)
{
    dm_rng_seed(r, dm_hash_mix64(dm_hash_mix64(seed ^ stream) + index));
}

void dm_stats_subset_draw(dm_rng_t *r, uint8_t *flags, size_t n, size_t m,
                          uint32_t *chosen)
{
    /*
     * Floyd: for j = n-m .. n-1 pick t uniform in 0..j and take t, or j
     * when t is taken already.  Every m-subset is equally likely, and it
     * costs m draws however large n is.
     */
    size_t k = 0;

    for (size_t j = n - m; j < n; j++) {
        size_t t = (size_t)dm_rng_below(r, (uint64_t)j + 1);

        if (flags[t])
            t = j;
        flags[t] = 1;
        if (chosen != NULL)
            chosen[k++] = (uint32_t)t;
    }
}

typedef struct worker {
    const dm_stats_job_t *job;
    unsigned first;
    unsigned step;
    pthread_t tid;
    bool started;
} worker_t;

static void worker_run(worker_t *w)
{
    const dm_stats_job_t *job = w->job;
    void *scratch = job->scratch_new(job->ctx);

    for (unsigned i = w->first; i < job->n; i += w->step)
        job->out[i] = job->item(job->ctx, scratch, i);
    job->scratch_free(scratch);
}

static void *worker_main(void *arg)
{
    dm_log_thread_name("stats-perm");
    worker_run(arg);
    return NULL;
}

void dm_stats_job_run(const dm_stats_job_t *job)
{
    unsigned nw = job->threads == 0 ? 1 : job->threads;
    worker_t *workers = NULL;

    if (job->n == 0)
        return;
    if (nw > job->n)
        nw = job->n;
    if (nw > DM_STATS_MAX_THREADS)
        nw = DM_STATS_MAX_THREADS;

    workers = dm_calloc(nw, sizeof(*workers));
    for (unsigned w = 0; w < nw; w++) {
        workers[w].job = job;
        workers[w].first = w;
        workers[w].step = nw;
    }
    for (unsigned w = 1; w < nw; w++) {
        int rc =
            pthread_create(&workers[w].tid, NULL, worker_main, &workers[w]);

        workers[w].started = rc == 0;
        if (rc != 0)
            dm_log_warn("stats: cannot start permutation worker %u (error "
                        "%d); running its share inline",
                        w, rc);
    }
    worker_run(&workers[0]);
    for (unsigned w = 1; w < nw; w++) {
        if (workers[w].started)
            pthread_join(workers[w].tid, NULL);
        else
            worker_run(&workers[w]);
    }
    free(workers);
}

void dm_stats_null_summarise(const double *null, size_t n, double observed,
                             dm_stats_null_t *out)
{
    double sum = 0.0, ss = 0.0, mean;
    double bar = observed - TIE_RTOL * fabs(observed);
    size_t ge = 0;

    for (size_t i = 0; i < n; i++) {
        sum += null[i];
        if (null[i] >= bar)
            ge++;
    }
    mean = sum / (double)n;
    /* two passes: the spread of a null is small next to its mean */
    for (size_t i = 0; i < n; i++)
        ss += (null[i] - mean) * (null[i] - mean);
    out->mean = mean;
    out->sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    out->p_value = (1.0 + (double)ge) / (1.0 + (double)n);
}
