/*
 * store_migrate.c - schema versions: reading the version a database is
 * at, and the migrations that take it to DM_STORE_SCHEMA_VERSION, one
 * DDL script per version and dialect in one ascending table, and
 * dm_store_open_migrated(), the open-then-migrate of one-shot commands
 * (a server's pool, store_pool.c, migrates once).
 *
 * DESIGN: a migration runs in one transaction; on PostgreSQL an advisory
 * transaction lock (MIGRATE_LOCK_KEY) makes replicas that start together
 * wait for the one that migrates, then re-read the version.
 */
#include <stdbool.h>
#include <stddef.h>

#include "store/store_int.h"

#define D(s, lite, pg)   ((s)->dialect == DM_DIALECT_PG ? (pg) : (lite))
#define MIGRATE_LOCK_KEY "4242000001"

int dm_store_schema_version(dm_store_t *s, int *version, char *errbuf,
                            size_t errlen)
{
    int64_t exists = 0, v = 0;
    int rc;

    rc = dm_store_query_int(s,
                            D(s,
                              "SELECT count(*) FROM sqlite_master WHERE type = "
                              "'table' AND name = 'schema_version'",
                              "SELECT (to_regclass('schema_version') IS NOT "
                              "NULL)::int"),
                            NULL, 0, &exists, errbuf, errlen);
    if (rc == DM_OK && exists)
        rc = dm_store_query_int(s,
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
 * Version 5: the precision the embedder computed in ("fp32", "bf16"),
 * beside its fingerprint.  Rows before it read it as NULL.
 */
static const char migrate5_sqlite[] =
    "ALTER TABLE drift_metrics ADD COLUMN embedder_precision TEXT;\n"
    "INSERT OR IGNORE INTO schema_version (version) VALUES (5);\n";
static const char migrate5_pg[] =
    "ALTER TABLE drift_metrics ADD COLUMN IF NOT EXISTS embedder_precision "
    "TEXT;\n"
    "INSERT INTO schema_version (version) VALUES (5) ON CONFLICT DO "
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
    {5, migrate5_sqlite, migrate5_pg},
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

int dm_store_open_migrated(const dm_config_t *cfg, dm_store_t **out,
                           int *version, char *errbuf, size_t errlen)
{
    int rc = dm_store_open(cfg, out, errbuf, errlen);

    if (rc != DM_OK)
        return rc;
    rc = dm_store_migrate(*out, version, errbuf, errlen);
    if (rc != DM_OK) {
        dm_store_free(*out);
        *out = NULL;
    }
    return rc;
}
