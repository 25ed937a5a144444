/*
 * store.c - the backend-independent half of the store: opening the
 * backend named by the config, transactions, migrations, feedback
 * inserts, window aggregates, deterministic sampling and the embedding
 * cache, all written once on top of struct dm_store_ops (store_int.h).
 * Checks and triggers are in store_checks.c.
 *
 * DESIGN: SQL that the two dialects share is written once with "$N"
 * placeholders; where they differ (timestamps, booleans, JSON arrays)
 * the SQL is picked per dialect with D().  Sampling hashes row ids in C
 * (dm_hash_bytes), never in SQL, so both backends pick the same rows.
 * The feedback table's name and columns come from the config, already
 * validated as identifiers by the config loader, and are always quoted.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rng.h"
#include "store/store_int.h"

#define D(s, lite, pg) ((s)->dialect == DM_DIALECT_PG ? (pg) : (lite))
/* Rows per multi-row statement batch and ids per IN (...) lookup. */
#define INSERT_BATCH     1000
#define LOOKUP_BATCH     500
#define SQL_MAX          (64 * 1024)
#define SAMPLE_SEED      UINT64_C(0x6472696674736d70) /* "driftsmp" */
#define MIGRATE_LOCK_KEY "4242000001"

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

/* Runs a query expected to give one integer in its first column. */
static int query_int(dm_store_t *s, const char *sql, const dm_sparam_t *p,
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

    return query_int(s, "SELECT 1", NULL, 0, &one, errbuf, errlen);
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

/* ---- migrations ---------------------------------------------------------- */

int dm_store_schema_version(dm_store_t *s, int *version, char *errbuf,
                            size_t errlen)
{
    int64_t exists = 0, v = 0;
    int rc;

    rc = query_int(s,
                   D(s,
                     "SELECT count(*) FROM sqlite_master WHERE type = "
                     "'table' AND name = 'schema_version'",
                     "SELECT (to_regclass('schema_version') IS NOT "
                     "NULL)::int"),
                   NULL, 0, &exists, errbuf, errlen);
    if (rc == DM_OK && exists)
        rc = query_int(s,
                       "SELECT COALESCE(MAX(version), 0) FROM "
                       "schema_version",
                       NULL, 0, &v, errbuf, errlen);
    if (rc == DM_OK)
        *version = (int)v;
    return rc;
}

/*
 * Version 2, statistics v2 (DESIGN.md section 2): the deciding semantic
 * test and its effect, the bias-corrected PSI, the accuracy drop's
 * floor and the quality floor as a condition of its own.  Rows written
 * before it read these as NULL (no semantic test recorded) and 0.
 */
static const char migrate2_sqlite[] =
    "ALTER TABLE drift_metrics ADD COLUMN semantic_test TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN semantic_effect REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN semantic_p_value REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN semantic_threshold REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN semantic_fired INTEGER NOT NULL "
    "DEFAULT 0;\n"
    "ALTER TABLE drift_metrics ADD COLUMN mmd REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN domain_auc REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN witness_auc REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN psi_excess REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN accuracy_min_drop REAL;\n"
    "ALTER TABLE drift_metrics ADD COLUMN quality_below_floor INTEGER NOT NULL "
    "DEFAULT 0;\n"
    "ALTER TABLE drift_metrics ADD COLUMN floor_p_value REAL;\n"
    "INSERT OR IGNORE INTO schema_version (version) VALUES (2);\n";
static const char migrate2_pg[] =
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS semantic_test TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS semantic_effect DOUBLE "
    "PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS semantic_p_value "
    "DOUBLE PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS semantic_threshold "
    "DOUBLE PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS semantic_fired BOOLEAN "
    "NOT NULL DEFAULT FALSE;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS mmd DOUBLE PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS domain_auc DOUBLE "
    "PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS witness_auc DOUBLE "
    "PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS psi_excess DOUBLE "
    "PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS accuracy_min_drop "
    "DOUBLE PRECISION;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS quality_below_floor "
    "BOOLEAN NOT NULL DEFAULT FALSE;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS floor_p_value DOUBLE "
    "PRECISION;\n"
    "INSERT INTO schema_version (version) VALUES (2) ON CONFLICT DO "
    "NOTHING;\n";

/*
 * Version 3: drift_metrics.kind ("live" or "adhoc"; the rows before it
 * were all live checks), and the embedding cache's text_hash (a vector
 * is reused only for the text it was computed from).  Vectors cached
 * before it have no hash to compare, so they are dropped: the next check
 * embeds those rows again.
 */
static const char migrate3_sqlite[] =
    "ALTER TABLE drift_metrics ADD COLUMN kind TEXT NOT NULL DEFAULT 'live'"
    " CHECK (kind IN ('live', 'adhoc'));\n"
    "CREATE INDEX IF NOT EXISTS idx_drift_metrics_kind_timestamp"
    " ON drift_metrics (kind, \"timestamp\");\n"
    "DELETE FROM embedding_cache;\n"
    "ALTER TABLE embedding_cache ADD COLUMN text_hash INTEGER NOT NULL"
    " DEFAULT 0;\n"
    "INSERT OR IGNORE INTO schema_version (version) VALUES (3);\n";
static const char migrate3_pg[] =
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL"
    " DEFAULT 'live' CHECK (kind IN ('live', 'adhoc'));\n"
    "CREATE INDEX IF NOT EXISTS idx_drift_metrics_kind_timestamp"
    " ON drift_metrics (kind, \"timestamp\");\n"
    "DELETE FROM embedding_cache;\n"
    "ALTER TABLE embedding_cache ADD COLUMN IF NOT EXISTS text_hash BIGINT"
    " NOT NULL DEFAULT 0;\n"
    "INSERT INTO schema_version (version) VALUES (3) ON CONFLICT DO "
    "NOTHING;\n";

/*
 * Version 4, one record per check (docs/api.md): the fields a check's
 * JSON always had but the table did not (the failed phase, the window,
 * the embedder and how many rows it embedded), and the fine-tuning
 * trigger's outcome beside the alert's.  Rows before it read them as
 * NULL and 0.
 */
static const char migrate4_sqlite[] =
    "ALTER TABLE drift_metrics ADD COLUMN failed_phase TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN window_days INTEGER;\n"
    "ALTER TABLE drift_metrics ADD COLUMN embedded_now INTEGER;\n"
    "ALTER TABLE drift_metrics ADD COLUMN embedder TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN trigger_status TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN trigger_job_id TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN trigger_error TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN trigger_id INTEGER;\n"
    "INSERT OR IGNORE INTO schema_version (version) VALUES (4);\n";
static const char migrate4_pg[] =
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS failed_phase TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS window_days BIGINT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS embedded_now BIGINT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS embedder TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS trigger_status TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS trigger_job_id TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS trigger_error TEXT;\n"
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS trigger_id BIGINT;\n"
    "INSERT INTO schema_version (version) VALUES (4) ON CONFLICT DO "
    "NOTHING;\n";

/*
 * The DDL that takes a database to each version, in ascending order; a
 * fresh database runs them all (version 1 is the base schema of
 * init-scripts/postgres/init.sql and schema_sqlite.sql).  Each script
 * records its own version.  Version 2 (statistics v2 columns) is added by
 * the lead on main; entries need not be contiguous.
 */
static const struct migration {
    int version;
    const char *sqlite;
    const char *pg;
} migrations[] = {
    {1, dm_store_schema_sqlite, dm_store_schema_pg},
    {2, migrate2_sqlite, migrate2_pg},
    {3, migrate3_sqlite, migrate3_pg},
    {4, migrate4_sqlite, migrate4_pg},
};

int dm_store_migrate(dm_store_t *s, int *version, char *errbuf, size_t errlen)
{
    bool owned = false;
    int v = 0, rc;

    rc = dm_store_schema_version(s, &v, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    if (v > DM_STORE_SCHEMA_VERSION) {
        rc = dm_err_set(errbuf, errlen, DM_ERANGE,
                        "database schema version %d is newer than this "
                        "driftmon's (%d)",
                        v, DM_STORE_SCHEMA_VERSION);
        goto out;
    }
    if (v == DM_STORE_SCHEMA_VERSION)
        goto out;
    rc = dm_store_tx_auto_begin(s, &owned, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    /* Replicas starting together: one migrates, the others wait. */
    if (s->dialect == DM_DIALECT_PG)
        rc = s->ops->exec(s,
                          "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
                          NULL, 0, NULL, errbuf, errlen);
    if (rc == DM_OK)
        rc = dm_store_schema_version(s, &v, errbuf, errlen);
    for (size_t i = 0;
         rc == DM_OK && i < sizeof(migrations) / sizeof(migrations[0]); i++) {
        if (migrations[i].version <= v)
            continue;
        rc = s->ops->exec_script(
            s, D(s, migrations[i].sqlite, migrations[i].pg), errbuf, errlen);
        if (rc == DM_OK)
            v = migrations[i].version;
    }
    rc = dm_store_tx_auto_end(s, owned, rc, errbuf, errlen);
    if (rc != DM_OK)
        dm_err_prefix(errbuf, errlen, rc, "migration failed: ");
out:
    if (rc == DM_OK && version)
        *version = v;
    return rc;
}

/* ---- feedback ---------------------------------------------------------- */

/* A new unique row id: 128 random bits as 32 hex digits. */
static int gen_id(char out[33])
{
    unsigned char raw[16];
    static const char hex[] = "0123456789abcdef";
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t k = getrandom(raw + got, sizeof(raw) - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return DM_EIO;
        }
        got += (size_t)k;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return DM_OK;
}

int dm_store_feedback_insert(dm_store_t *s, const dm_feedback_row_t *rows,
                             size_t n, size_t *inserted, char *errbuf,
                             size_t errlen)
{
    dm_buf_t head, tail;
    dm_sparam_t *p = NULL;
    char(*ids)[33] = NULL;
    bool owned = false;
    int64_t total = 0;
    int rc;

    dm_buf_init(&head, SQL_MAX);
    dm_buf_init(&tail, SQL_MAX);
    if (inserted)
        *inserted = 0;
    for (size_t i = 0; i < n; i++)
        if (!rows[i].query || !rows[i].response)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "feedback row %zu: query and response are "
                              "required",
                              i);
    rc = dm_buf_printf(&head, "INSERT INTO %s (%s, %s, %s, %s, %s, %s)",
                       s->fb.table, s->fb.id, s->fb.query, s->fb.response,
                       s->fb.intent, s->fb.positive, s->fb.ts);
    if (rc == DM_OK)
        rc = dm_buf_printf(&tail, "ON CONFLICT (%s) DO NOTHING", s->fb.id);
    if (rc != DM_OK)
        goto out;
    p = dm_mallocarray(INSERT_BATCH * 6, sizeof(*p));
    ids = dm_mallocarray(INSERT_BATCH, sizeof(*ids));
    rc = dm_store_tx_auto_begin(s, &owned, errbuf, errlen);
    for (size_t done = 0; rc == DM_OK && done < n;) {
        size_t k = n - done < INSERT_BATCH ? n - done : INSERT_BATCH;
        int64_t changes = 0;

        memset(p, 0, k * 6 * sizeof(*p));
        for (size_t j = 0; j < k && rc == DM_OK; j++) {
            const dm_feedback_row_t *row = &rows[done + j];
            dm_sparam_t *q = &p[j * 6];

            if (row->id) {
                q[0].kind = DM_SP_TEXT;
                q[0].s = row->id;
            } else {
                rc = gen_id(ids[j]);
                if (rc != DM_OK) {
                    dm_err_set(errbuf, errlen, rc, "getrandom failed");
                    break;
                }
                q[0].kind = DM_SP_TEXT;
                q[0].s = ids[j];
            }
            q[1].kind = DM_SP_TEXT;
            q[1].s = row->query;
            q[2].kind = DM_SP_TEXT;
            q[2].s = row->response;
            q[3].kind = row->intent ? DM_SP_TEXT : DM_SP_NULL;
            q[3].s = row->intent;
            q[4].kind = DM_SP_BOOL;
            q[4].i = row->positive;
            q[5].kind = DM_SP_TS;
            q[5].i = row->created_at_ms;
        }
        if (rc == DM_OK)
            rc = s->ops->insert_rows(s, dm_buf_str(&head), dm_buf_str(&tail), 6,
                                     p, k, &changes, errbuf, errlen);
        total += changes;
        done += k;
    }
    rc = dm_store_tx_auto_end(s, owned, rc, errbuf, errlen);
    if (rc == DM_OK && inserted)
        *inserted = (size_t)total;
out:
    free(p);
    free(ids);
    dm_buf_cleanup(&head);
    dm_buf_cleanup(&tail);
    return rc;
}

int dm_store_feedback_count(dm_store_t *s, uint64_t *count, char *errbuf,
                            size_t errlen)
{
    dm_buf_t sql;
    int64_t v = 0;
    int rc;

    dm_buf_init(&sql, SQL_MAX);
    rc = dm_buf_printf(&sql, "SELECT count(*) FROM %s", s->fb.table);
    if (rc == DM_OK)
        rc = query_int(s, dm_buf_str(&sql), NULL, 0, &v, errbuf, errlen);
    if (rc == DM_OK)
        *count = (uint64_t)v;
    dm_buf_cleanup(&sql);
    return rc;
}

/* ---- window aggregates ----------------------------------------------------
 */

void dm_store_window_cleanup(dm_store_window_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_intents; i++)
        free(w->intents[i].intent);
    free(w->intents);
    memset(w, 0, sizeof(*w));
}

static int cmp_intent(const void *a, const void *b)
{
    const dm_store_intent_count_t *x = a, *y = b;

    if (!x->intent || !y->intent)
        return (x->intent == NULL) - (y->intent == NULL);
    return strcmp(x->intent, y->intent);
}

int dm_store_window_aggregate(dm_store_t *s, int64_t start_ms, int64_t end_ms,
                              dm_store_window_t *out, char *errbuf,
                              size_t errlen)
{
    dm_sparam_t p[2] = {{.kind = DM_SP_TS, .i = start_ms},
                        {.kind = DM_SP_TS, .i = end_ms}};
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    size_t cap = 0;
    uint64_t bad = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (end_ms < start_ms)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "window end before its start");
    dm_buf_init(&sql, SQL_MAX);
    /* The range predicate on the bare column keeps the timestamp index
     * usable (covering on both dialects for our own table). */
    rc = dm_buf_printf(&sql,
                       "SELECT %s, count(*), COALESCE(SUM(%s), 0), "
                       "COALESCE(SUM(%s), 0) FROM %s WHERE %s >= $1 AND "
                       "%s < $2 GROUP BY %s",
                       s->fb.intent, s->fb.pos_expr, s->fb.bad_expr,
                       s->fb.table, s->fb.ts, s->fb.ts, s->fb.intent);
    if (rc != DM_OK)
        goto out;
    rc = s->ops->query(s, dm_buf_str(&sql), p, 2, &r, errbuf, errlen);
    if (rc != DM_OK) {
        /* PostgreSQL refuses a cast the mapping needs: say which key */
        if (strstr(errbuf, "invalid input syntax") ||
            strstr(errbuf, "cannot cast") ||
            strstr(errbuf, "operator does not exist"))
            dm_err_prefix(errbuf, errlen, rc,
                          "database.feedback.positive_column '%s': its type "
                          "does not fit the configured mapping (boolean; "
                          "positive_threshold for numeric ratings; "
                          "positive_values for text labels): ",
                          s->fb.positive_col);
        goto out;
    }
    while ((rc = s->ops->next(r, errbuf, errlen)) == 1) {
        dm_store_intent_count_t *ic;
        const char *label = s->ops->col_text(r, 0);

        if (out->n_intents == cap) {
            cap = cap ? 2 * cap : 8;
            out->intents =
                dm_reallocarray(out->intents, cap, sizeof(*out->intents));
        }
        ic = &out->intents[out->n_intents++];
        ic->intent = label ? dm_strdup(label) : NULL;
        ic->count = (uint64_t)s->ops->col_int(r, 1);
        ic->positives = (uint64_t)s->ops->col_int(r, 2);
        bad += (uint64_t)s->ops->col_int(r, 3);
        out->total += ic->count;
        out->positives += ic->positives;
    }
    if (rc == 0 && bad > 0) {
        rc = dm_err_set(errbuf, errlen, DM_EINVAL,
                        "database.feedback.positive_column '%s': %" PRIu64
                        " rows of the window hold values that are not %s; "
                        "set database.feedback.%s",
                        s->fb.positive_col, bad,
                        s->fb.pos_numeric ? "numbers"
                                          : "booleans (true/false, "
                                            "1/0, yes/no)",
                        s->fb.pos_numeric
                            ? "positive_values for text labels instead of "
                              "positive_threshold"
                            : "positive_threshold for numeric ratings (e.g. "
                              "4 for 1-5) or positive_values for text labels");
        goto out;
    }
    if (rc == 0) {
        rc = DM_OK;
        if (out->n_intents > 1)
            qsort(out->intents, out->n_intents, sizeof(*out->intents),
                  cmp_intent);
    }
out:
    if (r)
        s->ops->res_free(r);
    dm_buf_cleanup(&sql);
    if (rc != DM_OK)
        dm_store_window_cleanup(out);
    return rc;
}

/* ---- deterministic sample ------------------------------------------------ */

uint64_t dm_store_sample_hash(const char *id)
{
    return dm_hash_bytes(id, strlen(id), SAMPLE_SEED);
}

void dm_store_sample_cleanup(dm_store_sample_t *smp)
{
    if (!smp)
        return;
    for (size_t i = 0; i < smp->n; i++) {
        free(smp->rows[i].id);
        free(smp->rows[i].query);
        free(smp->rows[i].response);
    }
    free(smp->rows);
    memset(smp, 0, sizeof(*smp));
}

/* Order of the sample: hash, then id. */
static int row_less(const dm_store_sample_row_t *a,
                    const dm_store_sample_row_t *b)
{
    if (a->hash != b->hash)
        return a->hash < b->hash;
    return strcmp(a->id, b->id) < 0;
}

static int cmp_rows(const void *a, const void *b)
{
    const dm_store_sample_row_t *x = a, *y = b;

    return row_less(x, y) ? -1 : row_less(y, x) ? 1 : 0;
}

static int cmp_rows_by_id(const void *a, const void *b)
{
    const dm_store_sample_row_t *x = a, *y = b;

    return strcmp(x->id, y->id);
}

/* Max-heap on (hash, id) of the max_rows smallest rows seen so far. */
static void heap_sift_down(dm_store_sample_row_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && row_less(&h[m], &h[l]))
            m = l;
        if (r < n && row_less(&h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        dm_store_sample_row_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_sift_up(dm_store_sample_row_t *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!row_less(&h[parent], &h[i]))
            return;
        dm_store_sample_row_t t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* Fetches query/response of the chosen rows (sorted by id) in chunks. */
static int sample_fill(dm_store_t *s, dm_store_sample_t *smp, char *errbuf,
                       size_t errlen)
{
    dm_buf_t sql;
    int rc;

    dm_buf_init(&sql, SQL_MAX);
    rc = dm_buf_printf(&sql,
                       D(s,
                         "SELECT CAST(%s AS TEXT), %s, %s, CASE WHEN %s THEN "
                         "1 ELSE 0 END FROM %s WHERE %s IN "
                         "(SELECT value FROM json_each($1))",
                         "SELECT %s::text, %s, %s, COALESCE(%s::int, 0) FROM "
                         "%s WHERE %s::text IN "
                         "(SELECT jsonb_array_elements_text($1::jsonb))"),
                       s->fb.id, s->fb.query, s->fb.response, s->fb.positive,
                       s->fb.table, s->fb.id);
    for (size_t done = 0; rc == DM_OK && done < smp->n;) {
        size_t k = smp->n - done < LOOKUP_BATCH ? smp->n - done : LOOKUP_BATCH;
        json_t *arr = json_array();
        char *js = NULL;
        dm_sres_t *r = NULL;

        for (size_t j = 0; j < k; j++)
            json_array_append_new(arr, json_string(smp->rows[done + j].id));
        js = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!js) {
            rc = dm_err_set(errbuf, errlen, DM_ENOMEM, "out of memory");
            break;
        }
        dm_sparam_t p = {.kind = DM_SP_TEXT, .s = js};
        rc = s->ops->query(s, dm_buf_str(&sql), &p, 1, &r, errbuf, errlen);
        while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
            dm_store_sample_row_t key = {
                .id = (char *)(uintptr_t)s->ops->col_text(r, 0)};
            dm_store_sample_row_t *hit;

            rc = DM_OK;
            if (!key.id)
                continue;
            hit =
                bsearch(&key, smp->rows + done, k, sizeof(key), cmp_rows_by_id);
            if (hit && !hit->query) {
                const char *q = s->ops->col_text(r, 1);
                const char *a = s->ops->col_text(r, 2);
                hit->query = dm_strdup(q ? q : "");
                hit->response = dm_strdup(a ? a : "");
                hit->positive = s->ops->col_int(r, 3) != 0;
            }
        }
        if (rc == 0)
            rc = DM_OK;
        if (r)
            s->ops->res_free(r);
        free(js);
        done += k;
    }
    dm_buf_cleanup(&sql);
    return rc;
}

int dm_store_window_sample(dm_store_t *s, int64_t start_ms, int64_t end_ms,
                           size_t max_rows, dm_store_sample_t *out,
                           char *errbuf, size_t errlen)
{
    dm_sparam_t p[2] = {{.kind = DM_SP_TS, .i = start_ms},
                        {.kind = DM_SP_TS, .i = end_ms}};
    dm_store_sample_row_t *h = NULL;
    size_t n = 0, cap = 0;
    dm_sres_t *r = NULL;
    dm_buf_t sql;
    int rc;

    memset(out, 0, sizeof(*out));
    if (end_ms < start_ms)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "window end before its start");
    dm_buf_init(&sql, SQL_MAX);
    rc = dm_buf_printf(&sql,
                       D(s,
                         "SELECT CAST(%s AS TEXT) FROM %s WHERE %s >= $1 "
                         "AND %s < $2",
                         "SELECT %s::text FROM %s WHERE %s >= $1 AND %s < "
                         "$2"),
                       s->fb.id, s->fb.table, s->fb.ts, s->fb.ts);
    if (rc == DM_OK)
        rc = s->ops->query(s, dm_buf_str(&sql), p, 2, &r, errbuf, errlen);
    while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
        const char *id = s->ops->col_text(r, 0);
        dm_store_sample_row_t cand;

        rc = DM_OK;
        if (!id)
            continue;
        cand.hash = dm_store_sample_hash(id);
        cand.id = (char *)(uintptr_t)id; /* borrowed until kept */
        cand.query = cand.response = NULL;
        cand.positive = false;
        if (max_rows == 0 || n < max_rows) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                h = dm_reallocarray(h, cap, sizeof(*h));
            }
            cand.id = dm_strdup(id);
            h[n] = cand;
            heap_sift_up(h, n);
            n++;
        } else if (row_less(&cand, &h[0])) {
            free(h[0].id);
            cand.id = dm_strdup(id);
            h[0] = cand;
            heap_sift_down(h, n, 0);
        }
    }
    if (rc == 0)
        rc = DM_OK;
    if (r) {
        s->ops->res_free(r);
        r = NULL;
    }
    out->rows = h;
    out->n = n;
    h = NULL;
    if (rc != DM_OK)
        goto out;
    qsort(out->rows, out->n, sizeof(*out->rows), cmp_rows_by_id);
    rc = sample_fill(s, out, errbuf, errlen);
    if (rc != DM_OK)
        goto out;
    /* A row deleted between the two queries is dropped from the sample. */
    {
        size_t k = 0;
        for (size_t i = 0; i < out->n; i++) {
            if (out->rows[i].query)
                out->rows[k++] = out->rows[i];
            else
                free(out->rows[i].id);
        }
        out->n = k;
    }
    qsort(out->rows, out->n, sizeof(*out->rows), cmp_rows);
out:
    dm_buf_cleanup(&sql);
    if (rc != DM_OK)
        dm_store_sample_cleanup(out);
    return rc;
}

/* ---- embedding cache -------------------------------------------------------
 */

/* ids sorted with their positions, to map result rows back. */
struct id_pos {
    const char *id;
    size_t pos;
};

static int cmp_id_pos(const void *a, const void *b)
{
    const struct id_pos *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* First entry of ix (n, sorted) whose id equals id, or n. */
static size_t id_lower_bound(const struct id_pos *ix, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void vec_decode(const unsigned char *b, size_t dim, float *out)
{
    for (size_t j = 0; j < dim; j++) {
        uint32_t u = (uint32_t)b[4 * j] | (uint32_t)b[4 * j + 1] << 8 |
                     (uint32_t)b[4 * j + 2] << 16 |
                     (uint32_t)b[4 * j + 3] << 24;
        memcpy(&out[j], &u, sizeof(u));
    }
}

static void vec_encode(const float *v, size_t dim, unsigned char *b)
{
    for (size_t j = 0; j < dim; j++) {
        uint32_t u;
        memcpy(&u, &v[j], sizeof(u));
        b[4 * j] = (unsigned char)u;
        b[4 * j + 1] = (unsigned char)(u >> 8);
        b[4 * j + 2] = (unsigned char)(u >> 16);
        b[4 * j + 3] = (unsigned char)(u >> 24);
    }
}

int dm_store_embed_get(dm_store_t *s, const char *model, const char *const *ids,
                       const uint64_t *text_hashes, size_t n, size_t dim,
                       float *vecs, bool *found, size_t *n_found, char *errbuf,
                       size_t errlen)
{
    struct id_pos *ix = NULL;
    const char *sql =
        D(s,
          "SELECT row_id, dim, vector, text_hash FROM embedding_cache WHERE "
          "model = $1 AND row_id IN (SELECT value FROM json_each($2))",
          "SELECT row_id, dim, vector, text_hash FROM embedding_cache WHERE "
          "model = $1 AND row_id IN (SELECT "
          "jsonb_array_elements_text($2::jsonb))");
    size_t nf = 0;
    int rc = DM_OK;

    for (size_t i = 0; i < n; i++)
        found[i] = false;
    if (n == 0)
        goto out;
    ix = dm_mallocarray(n, sizeof(*ix));
    for (size_t i = 0; i < n; i++) {
        ix[i].id = ids[i];
        ix[i].pos = i;
    }
    qsort(ix, n, sizeof(*ix), cmp_id_pos);
    for (size_t done = 0; rc == DM_OK && done < n;) {
        size_t k = n - done < LOOKUP_BATCH ? n - done : LOOKUP_BATCH;
        json_t *arr = json_array();
        dm_sres_t *r = NULL;
        char *js;

        for (size_t j = 0; j < k; j++)
            json_array_append_new(arr, json_string(ids[done + j]));
        js = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!js) {
            rc = dm_err_set(errbuf, errlen, DM_ENOMEM, "out of memory");
            break;
        }
        dm_sparam_t p[2] = {{.kind = DM_SP_TEXT, .s = model},
                            {.kind = DM_SP_TEXT, .s = js}};
        rc = s->ops->query(s, sql, p, 2, &r, errbuf, errlen);
        while (rc == DM_OK && (rc = s->ops->next(r, errbuf, errlen)) == 1) {
            const char *id = s->ops->col_text(r, 0);
            int64_t d = s->ops->col_int(r, 1);
            size_t len = 0;
            const void *blob = s->ops->col_blob(r, 2, &len);
            uint64_t h = (uint64_t)s->ops->col_int(r, 3);

            rc = DM_OK;
            if (!id || !blob || d != (int64_t)dim || len != dim * 4)
                continue;
            for (size_t e = id_lower_bound(ix, n, id);
                 e < n && strcmp(ix[e].id, id) == 0; e++) {
                size_t i = ix[e].pos;
                /* the same row with another text (edited, or another
                 * feedback table) must be embedded again */
                if (!found[i] && text_hashes[i] == h) {
                    vec_decode(blob, dim, vecs + i * dim);
                    found[i] = true;
                    nf++;
                }
            }
        }
        if (rc == 0)
            rc = DM_OK;
        if (r)
            s->ops->res_free(r);
        free(js);
        done += k;
    }
    free(ix);
out:
    if (n_found)
        *n_found = nf;
    return rc;
}

int dm_store_embed_put(dm_store_t *s, const char *model, const char *const *ids,
                       const uint64_t *text_hashes, size_t n, size_t dim,
                       const float *vecs, char *errbuf, size_t errlen)
{
    static const char head[] =
        "INSERT INTO embedding_cache (row_id, model, dim, vector, text_hash)";
    static const char tail[] =
        "ON CONFLICT (model, row_id) DO UPDATE SET dim = excluded.dim, "
        "vector = excluded.vector, text_hash = excluded.text_hash";
    dm_sparam_t *p = NULL;
    unsigned char *bytes = NULL;
    bool owned = false;
    int rc;

    if (dim == 0 || dim > (1u << 20))
        return dm_err_set(errbuf, errlen, DM_EINVAL, "bad dimension %zu", dim);
    if (n == 0)
        return DM_OK;
    p = dm_mallocarray(INSERT_BATCH * 5, sizeof(*p));
    bytes = dm_mallocarray(INSERT_BATCH, dim * 4);
    rc = dm_store_tx_auto_begin(s, &owned, errbuf, errlen);
    for (size_t done = 0; rc == DM_OK && done < n;) {
        size_t k = n - done < INSERT_BATCH ? n - done : INSERT_BATCH;
        int64_t changes = 0;

        for (size_t j = 0; j < k; j++) {
            dm_sparam_t *q = &p[j * 5];
            memset(q, 0, 5 * sizeof(*q));
            vec_encode(vecs + (done + j) * dim, dim, bytes + j * dim * 4);
            q[0].kind = DM_SP_TEXT;
            q[0].s = ids[done + j];
            q[1].kind = DM_SP_TEXT;
            q[1].s = model;
            q[2].kind = DM_SP_INT;
            q[2].i = (int64_t)dim;
            q[3].kind = DM_SP_BLOB;
            q[3].blob = bytes + j * dim * 4;
            q[3].len = dim * 4;
            q[4].kind = DM_SP_INT;
            q[4].i = (int64_t)text_hashes[done + j];
        }
        rc = s->ops->insert_rows(s, head, tail, 5, p, k, &changes, errbuf,
                                 errlen);
        done += k;
    }
    rc = dm_store_tx_auto_end(s, owned, rc, errbuf, errlen);
    free(p);
    free(bytes);
    return rc;
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
