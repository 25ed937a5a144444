/*
 * store_pool.c - the store connection pool that one process shares
 * between its users (the HTTP API's request threads, the monitor's
 * scheduler and checks, a CLI command): connections are opened on
 * demand, kept idle for reuse up to a cap, and the schema is migrated
 * once per pool.
 *
 * DESIGN
 *
 * State.  cfg is read-only.  idle[] holds up to max_idle connections
 * nobody uses; a connection handed out by dm_store_pool_get() belongs
 * to its caller alone until dm_store_pool_put() (a dm_store_t is one
 * connection, used by one thread at a time).  A connection put back as
 * broken (a store error happened on it) is closed, so the next get opens
 * a fresh one: after a PostgreSQL outage the pool heals by itself.
 *
 * Migration.  The first get that opens a connection migrates the schema
 * (dm_store_migrate(), idempotent) and sets migrated; later gets skip
 * it.  A failed migration leaves migrated unset and the next get tries
 * again.  mig_mu lets one thread at a time migrate, so a pool migrates
 * once even when its first gets come from several threads together; the
 * connect itself happens outside it.
 *
 * Locks.  mig_mu is held across the migration's I/O (only until the
 * first one succeeds); mu guards idle[], n_idle and the counters, is a
 * leaf and is never held across I/O.  Order: mig_mu before mu.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/log.h"
#include "store/store.h"

struct dm_store_pool {
    const dm_config_t *cfg; /* borrowed */
    size_t max_idle;
    atomic_bool migrated; /* read without a lock on the fast path */
    pthread_mutex_t mig_mu;

    pthread_mutex_t mu; /* guards everything below */
    dm_store_t **idle;  /* max_idle slots */
    size_t n_idle;
    dm_store_pool_stats_t stats;
};

int dm_store_pool_new(const dm_config_t *cfg, size_t max_idle,
                      dm_store_pool_t **out)
{
    dm_store_pool_t *p;

    *out = NULL;
    if (cfg == NULL)
        return DM_EINVAL;
    p = dm_calloc(1, sizeof(*p));
    p->cfg = cfg;
    p->max_idle = max_idle;
    p->idle = max_idle ? dm_calloc(max_idle, sizeof(*p->idle)) : NULL;
    atomic_init(&p->migrated, false);
    pthread_mutex_init(&p->mig_mu, NULL);
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return DM_OK;
}

dm_store_pool_t *dm_store_pool_or_own(const dm_config_t *cfg,
                                      dm_store_pool_t *given,
                                      dm_store_pool_t **own)
{
    *own = NULL;
    if (given)
        return given;
    /* fails only without a cfg (allocation failures abort) */
    if (dm_store_pool_new(cfg, DM_STORE_POOL_IDLE, own) != DM_OK)
        abort();
    return *own;
}

/* Migrates st unless the pool did already; one thread at a time. */
static int migrate_once(dm_store_pool_t *p, dm_store_t *st, char *errbuf,
                        size_t errlen)
{
    int rc = DM_OK;

    if (atomic_load(&p->migrated))
        return DM_OK;
    pthread_mutex_lock(&p->mig_mu);
    if (!atomic_load(&p->migrated)) {
        rc = dm_store_migrate(st, NULL, errbuf, errlen);
        if (rc == DM_OK) {
            pthread_mutex_lock(&p->mu);
            p->stats.migrations++;
            pthread_mutex_unlock(&p->mu);
            atomic_store(&p->migrated, true);
        }
    }
    pthread_mutex_unlock(&p->mig_mu);
    return rc;
}

int dm_store_pool_get(dm_store_pool_t *p, dm_store_t **out, char *errbuf,
                      size_t errlen)
{
    int rc;

    *out = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle > 0) {
        *out = p->idle[--p->n_idle];
        p->stats.out++;
    }
    pthread_mutex_unlock(&p->mu);
    if (*out)
        return DM_OK;
    rc = dm_store_open(p->cfg, out, errbuf, errlen);
    if (rc == DM_OK)
        rc = migrate_once(p, *out, errbuf, errlen);
    if (rc != DM_OK) {
        dm_store_free(*out);
        *out = NULL;
        return rc;
    }
    pthread_mutex_lock(&p->mu);
    p->stats.opened++;
    p->stats.out++;
    pthread_mutex_unlock(&p->mu);
    return DM_OK;
}

void dm_store_pool_put(dm_store_pool_t *p, dm_store_t *st, bool broken)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stats.out--;
    if (!broken && p->n_idle < p->max_idle) {
        p->idle[p->n_idle++] = st;
        st = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    dm_store_free(st); /* a broken one is reopened by the next get */
}

void dm_store_pool_stats(dm_store_pool_t *p, dm_store_pool_stats_t *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    out->idle = p->n_idle;
    pthread_mutex_unlock(&p->mu);
}

void dm_store_pool_free(dm_store_pool_t *p)
{
    if (p == NULL)
        return;
    if (p->stats.out > 0)
        dm_log_warn("store pool freed with %zu connection(s) still in use",
                    p->stats.out);
    for (size_t i = 0; i < p->n_idle; i++)
        dm_store_free(p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->mig_mu);
    free(p);
}
