/*
 * store.c - the backend-independent core of the store: opening the
 * backend named by the config (the backend table), closing, the quoted
 * names of the configured feedback table, transactions, ping, the
 * writable probe and named locks, all on top of struct dm_store_ops
 * (store_int.h).  The rest of the store is one file per concern:
 * store_migrate.c (schema versions), store_feedback.c (inserts and
 * window aggregates), store_sample.c (the deterministic sample),
 * store_cache.c (the embedding cache) and store_checks.c (checks and
 * triggers).
 *
 * DESIGN: SQL that the two dialects share is written once with "$N"
 * placeholders; where they differ (timestamps, booleans, JSON arrays)
 * the SQL is picked per dialect with D().  The feedback table's name and
 * columns come from the config, already validated as identifiers by the
 * config loader, and are always quoted (fb_init below).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "store/store_int.h"

#define D(s, lite, pg) ((s)->dialect == DM_DIALECT_PG ? (pg) : (lite))
#define SQL_MAX        (64 * 1024)

static const struct {
    const char *name;
    const struct dm_store_ops *ops;
} backends[] = {
    {"sqlite", &dm_store_sqlite_ops},
    {"postgres", &dm_store_pg_ops},
};

/* "a.b" -> "\"a\".\"b\"" (identifiers were validated by the config). */
static char *quote_ident(const char *name)
{
    dm_buf_t b;
    int rc = DM_OK;

    dm_buf_init(&b, 1024);
    rc = dm_buf_puts(&b, "\"");
    for (const char *p = name; *p && rc == DM_OK; p++) {
        if (*p == '.')
            rc = dm_buf_puts(&b, "\".\"");
        else if (*p == '"')
            rc = dm_buf_puts(&b, "\"\"");
        else
            rc = dm_buf_append(&b, p, 1);
    }
    if (rc == DM_OK)
        rc = dm_buf_puts(&b, "\"");
    if (rc != DM_OK) {
        dm_buf_cleanup(&b);
        return NULL;
    }
    return dm_buf_steal(&b);
}

static void fb_cleanup(dm_store_fb_t *fb)
{
    free(fb->table);
    free(fb->id);
    free(fb->query);
    free(fb->response);
    free(fb->intent);
    free(fb->positive);
    free(fb->ts);
    free(fb->positive_col);
    free(fb->pos_expr);
    free(fb->bad_expr);
    memset(fb, 0, sizeof(*fb));
}

/* Appends s as an SQL string literal ('' for a quote). */
static int put_literal(dm_buf_t *b, const char *s)
{
    int rc = dm_buf_puts(b, "'");

    for (; *s && rc == DM_OK; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;

        rc = c == '\'' ? dm_buf_puts(b, "''") : dm_buf_append(b, &c, 1);
    }
    return rc == DM_OK ? dm_buf_puts(b, "'") : rc;
}

/*
 * The SQL that reads the positive column (col, quoted) under the
 * configured mapping, as two expressions giving 0 or 1: positive, and
 * unreadable (a value the mapping does not cover, so that a rating or a
 * label read as a boolean is an error, not a wrong accuracy):
 *   boolean (default): lower(text) in true/t/yes/y/1 (positive) or
 *     false/f/no/n/0; anything else but NULL is unreadable;
 *   positive_values: lower(text) in the list; nothing is unreadable;
 *   positive_threshold: number >= threshold; on SQLite a value that is
 *     not stored as a number is unreadable (PostgreSQL refuses the cast
 *     itself, and the error gets a hint).
 * Values are validated labels (config) written as SQL literals.
 */
static int fb_positive_sql(dm_store_fb_t *fb, dm_store_dialect_t d,
                           const dm_config_feedback_table_t *c)
{
    const char *col = fb->positive;
    dm_buf_t p, x;
    int rc;

    dm_buf_init(&p, SQL_MAX);
    dm_buf_init(&x, SQL_MAX);
    fb->pos_numeric = c->positive_threshold > 0;
    if (c->positive_threshold > 0) {
        if (d == DM_DIALECT_PG) {
            rc = dm_buf_printf(&p,
                               "CASE WHEN CAST(%s AS double precision) >= "
                               "%.17g THEN 1 ELSE 0 END",
                               col, c->positive_threshold);
            if (rc == DM_OK)
                rc = dm_buf_puts(&x, "0");
        } else {
            rc = dm_buf_printf(&p,
                               "CASE WHEN typeof(%s) IN ('integer', 'real') "
                               "AND %s >= %.17g THEN 1 ELSE 0 END",
                               col, col, c->positive_threshold);
            if (rc == DM_OK)
                rc = dm_buf_printf(&x,
                                   "CASE WHEN typeof(%s) IN ('integer', "
                                   "'real', 'null') THEN 0 ELSE 1 END",
                                   col);
        }
    } else if (c->positive_values_count > 0) {
        rc = dm_buf_printf(&p, "CASE WHEN lower(CAST(%s AS TEXT)) IN (", col);
        for (unsigned i = 0; rc == DM_OK && i < c->positive_values_count; i++) {
            if (i > 0)
                rc = dm_buf_puts(&p, ", ");
            if (rc == DM_OK)
                rc = put_literal(&p, c->positive_values[i]);
        }
        if (rc == DM_OK)
            rc = dm_buf_puts(&p, ") THEN 1 ELSE 0 END");
        if (rc == DM_OK)
            rc = dm_buf_puts(&x, "0");
    } else {
        rc = dm_buf_printf(&p,
                           "CASE WHEN lower(CAST(%s AS TEXT)) IN ('true', "
                           "'t', 'yes', 'y', '1') THEN 1 ELSE 0 END",
                           col);
        if (rc == DM_OK)
            rc = dm_buf_printf(&x,
                               "CASE WHEN %s IS NULL OR lower(CAST(%s AS "
                               "TEXT)) IN ('true', 't', 'yes', 'y', '1', "
                               "'false', 'f', 'no', 'n', '0') THEN 0 ELSE 1 "
                               "END",
                               col, col);
    }
    if (rc == DM_OK) {
        fb->pos_expr = dm_buf_steal(&p);
        fb->bad_expr = dm_buf_steal(&x);
    }
    dm_buf_cleanup(&p);
    dm_buf_cleanup(&x);
    return rc;
}

static int fb_init(dm_store_fb_t *fb, const dm_config_feedback_table_t *c)
{
    fb->table = quote_ident(c->table);
    fb->id = quote_ident(c->id_column);
    fb->query = quote_ident(c->query_column);
    fb->response = quote_ident(c->response_column);
    fb->intent = quote_ident(c->intent_column);
    fb->positive = quote_ident(c->positive_column);
    fb->ts = quote_ident(c->timestamp_column);
    if (!fb->table || !fb->id || !fb->query || !fb->response || !fb->intent ||
        !fb->positive || !fb->ts)
        return DM_ETOOBIG;
    return DM_OK;
}

int dm_store_require_existing(const dm_config_t *cfg, char *errbuf,
                              size_t errlen)
{
    const char *p = cfg->database.path;

    if (strcmp(cfg->database.backend, "sqlite") != 0 ||
        strcmp(p, ":memory:") == 0 || strncmp(p, "file:", 5) == 0 ||
        access(p, F_OK) == 0)
        return DM_OK;
    return dm_err_set(errbuf, errlen, DM_ENOTFOUND,
                      "database file '%s' does not exist (database.path; "
                      "`driftmon migrate`, `ingest` or `demo` creates one)",
                      p);
}

int dm_store_open(const dm_config_t *cfg, dm_store_t **out, char *errbuf,
                  size_t errlen)
{
    const struct dm_store_ops *ops = NULL;
    dm_store_t *s = NULL;
    int rc;

    *out = NULL;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(cfg->database.backend, backends[i].name) == 0)
            ops = backends[i].ops;
    if (!ops)
        return dm_err_set(errbuf, errlen, DM_ECONFIG,
                          "database.backend: unknown backend '%s' "
                          "(sqlite or postgres)",
                          cfg->database.backend);
    s = dm_calloc(1, sizeof(*s));
    s->ops = ops;
    s->dialect = ops->dialect;
    rc = fb_init(&s->fb, &cfg->database.feedback);
    if (rc == DM_OK)
        rc = fb_positive_sql(&s->fb, s->dialect, &cfg->database.feedback);
    if (rc == DM_OK)
        s->fb.positive_col = dm_strdup(cfg->database.feedback.positive_column);
    if (rc != DM_OK) {
        dm_err_set(errbuf, errlen, rc, "database.feedback: name too long");
        goto out;
    }
    rc = ops->open(s, cfg, errbuf, errlen);
out:
    if (rc != DM_OK) {
        fb_cleanup(&s->fb);
        free(s);
        return rc;
    }
    *out = s;
    return DM_OK;
}

void dm_store_free(dm_store_t *s)
{
    if (!s)
        return;
    if (s->in_tx)
        dm_store_tx_rollback(s);
    s->ops->close(s);
    fb_cleanup(&s->fb);
    free(s);
}

const char *dm_store_backend(const dm_store_t *s)
{
    return s->ops->name;
}

void dm_store_scrub(char *msg)
{
    char *p;

    /* conninfo "password=secret" -> "password=***" */
    while ((p = strstr(msg, "password=")) != NULL) {
        char *v = p + strlen("password="), *e = v;
        while (*e && *e != ' ' && *e != '\n' && *e != '&')
            e++;
        if (e - v == 3 && memcmp(v, "***", 3) == 0)
            break;
        memmove(v + 3, e, strlen(e) + 1);
        memcpy(v, "***", 3);
        if (strstr(v + 3, "password=") == NULL)
            break;
        msg = v + 3;
    }
    /* URL credentials: scheme, then "user:pass@host" -> "***@host" */
    if ((p = strstr(msg, "://")) != NULL) {
        char *cred = p + 3, *at = strchr(cred, '@');
        char *sp = strpbrk(cred, " /\n");
        if (at && (!sp || at < sp)) {
            memmove(cred + 3, at, strlen(at) + 1);
            memcpy(cred, "***", 3);
        }
    }
}

/* ---- transactions ------------------------------------------------------ */

int dm_store_tx_begin(dm_store_t *s, char *errbuf, size_t errlen)
{
    int rc;

    if (s->in_tx)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "a transaction is already active");
    rc = s->ops->exec(s, D(s, "BEGIN IMMEDIATE", "BEGIN"), NULL, 0, NULL,
                      errbuf, errlen);
    if (rc == DM_OK)
        s->in_tx = true;
    return rc;
}

int dm_store_tx_commit(dm_store_t *s, char *errbuf, size_t errlen)
{
    int rc;

    if (!s->in_tx)
        return dm_err_set(errbuf, errlen, DM_EINVAL, "no active transaction");
    rc = s->ops->exec(s, "COMMIT", NULL, 0, NULL, errbuf, errlen);
    if (rc != DM_OK) {
        dm_store_tx_rollback(s);
        return rc;
    }
    s->in_tx = false;
    return DM_OK;
}

void dm_store_tx_rollback(dm_store_t *s)
{
    char eb[DM_ERRBUF_SIZE];

    if (!s->in_tx)
        return;
    (void)s->ops->exec(s, "ROLLBACK", NULL, 0, NULL, eb, sizeof(eb));
    s->in_tx = false;
}

int dm_store_tx_auto_begin(dm_store_t *s, bool *owned, char *eb, size_t el)
{
    int rc;

    *owned = false;
    if (s->in_tx)
        return DM_OK;
    rc = dm_store_tx_begin(s, eb, el);
    if (rc == DM_OK)
        *owned = true;
    return rc;
}

int dm_store_tx_auto_end(dm_store_t *s, bool owned, int rc, char *eb, size_t el)
{
    if (!owned)
        return rc;
    if (rc != DM_OK) {
        dm_store_tx_rollback(s);
        return rc;
    }
    return dm_store_tx_commit(s, eb, el);
}

int dm_store_test_exec(dm_store_t *s, const char *sql, char *eb, size_t el)
{
    return s->ops->exec_script(s, sql, eb, el);
}

/* ---- small query helpers --------------------------------------------- */

int dm_store_query_int(dm_store_t *s, const char *sql, const dm_sparam_t *p,
                       size_t np, int64_t *v, char *eb, size_t el)
{
    dm_sres_t *r = NULL;
    int rc = s->ops->query(s, sql, p, np, &r, eb, el);

    if (rc != DM_OK)
        return rc;
    rc = s->ops->next(r, eb, el);
    if (rc == 1) {
        *v = s->ops->col_int(r, 0);
        rc = DM_OK;
    } else if (rc == 0) {
        rc = dm_err_set(eb, el, DM_ESTORE, "query returned no row");
    }
    s->ops->res_free(r);
    return rc;
}

int dm_store_ping(dm_store_t *s, char *errbuf, size_t errlen)
{
    int64_t one = 0;

    return dm_store_query_int(s, "SELECT 1", NULL, 0, &one, errbuf, errlen);
}

bool dm_store_writable(dm_store_t *s, char *why, size_t n)
{
    char dummy[8];

    if (why == NULL) {
        why = dummy;
        n = sizeof(dummy);
    }
    if (n > 0)
        why[0] = '\0';
    return s->ops->writable == NULL || s->ops->writable(s, why, n);
}

/* ---- named lock ------------------------------------------------------------
 */

static int lock_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.'))
            return 0;
    return 1;
}

int dm_store_lock_try(dm_store_t *s, const char *name, char *errbuf,
                      size_t errlen)
{
    if (!name || !lock_name_ok(name))
        return dm_err_set(errbuf, errlen, DM_EINVAL, "bad lock name");
    return s->ops->lock_try(s, name, errbuf, errlen);
}

int dm_store_lock_release(dm_store_t *s, const char *name, char *errbuf,
                          size_t errlen)
{
    if (!name || !lock_name_ok(name))
        return dm_err_set(errbuf, errlen, DM_EINVAL, "bad lock name");
    return s->ops->lock_release(s, name, errbuf, errlen);
}
