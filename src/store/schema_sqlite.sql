-- driftmon schema for SQLite (schema version 1).
--
-- The one source of truth for the SQLite DDL: compiled into driftmon
-- (src/store/meson.build) and applied by `driftmon migrate` and at start.
-- The same tables as init-scripts/postgres/init.sql; instants are
-- INTEGER milliseconds since the epoch (UTC), booleans INTEGER 0/1.
-- Columns are documented in docs/store.md.

CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
        DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

CREATE TABLE IF NOT EXISTS feedback (
    id         TEXT PRIMARY KEY NOT NULL,
    query      TEXT NOT NULL,
    response   TEXT NOT NULL,
    intent     TEXT,
    positive   INTEGER NOT NULL CHECK (positive IN (0, 1)),
    created_at INTEGER NOT NULL
);
-- Window scans (sampling) by time; the seed's timestamp index.
CREATE INDEX IF NOT EXISTS idx_feedback_created_at
    ON feedback (created_at);
-- Covering index for the window aggregates: with statistics (ANALYZE,
-- run by PRAGMA optimize when a connection closes) SQLite skip-scans it
-- per intent, so GROUP BY intent needs no sort and never reads the table.
CREATE INDEX IF NOT EXISTS idx_feedback_intent_created_at
    ON feedback (intent, created_at, positive);

CREATE TABLE IF NOT EXISTS drift_metrics (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    "timestamp"       INTEGER NOT NULL,
    status            TEXT NOT NULL DEFAULT 'ok'
        CHECK (status IN ('ok', 'insufficient_data', 'failed')),
    error             TEXT,
    baseline_start    INTEGER,
    baseline_end      INTEGER,
    current_start     INTEGER,
    current_end       INTEGER,
    baseline_count    INTEGER,
    current_count     INTEGER,
    baseline_sampled  INTEGER,
    current_sampled   INTEGER,
    model_fingerprint TEXT,
    kl_divergence     REAL,
    kl_excess         REAL,
    kl_p_value        REAL,
    kl_max            REAL,
    kl_top_dims       TEXT,
    psi               REAL,
    psi_p_value       REAL,
    psi_method        TEXT,
    baseline_accuracy REAL,
    current_accuracy  REAL,
    accuracy_delta    REAL,
    accuracy_p_value  REAL,
    combined_score    REAL,
    severity          TEXT NOT NULL DEFAULT 'none'
        CHECK (severity IN ('none', 'info', 'warning', 'critical')),
    drift_detected    INTEGER NOT NULL DEFAULT 0,
    kl_fired          INTEGER NOT NULL DEFAULT 0,
    psi_fired         INTEGER NOT NULL DEFAULT 0,
    accuracy_fired    INTEGER NOT NULL DEFAULT 0,
    kl_threshold      REAL,
    psi_threshold     REAL,
    accuracy_min      REAL,
    alpha             REAL,
    permutations      INTEGER,
    kl_estimator      TEXT,
    alert_status      TEXT,
    alert_error       TEXT,
    details           TEXT CHECK (details IS NULL OR json_valid(details))
);
CREATE INDEX IF NOT EXISTS idx_drift_metrics_timestamp
    ON drift_metrics ("timestamp");
CREATE INDEX IF NOT EXISTS idx_drift_metrics_severity
    ON drift_metrics (severity);
CREATE INDEX IF NOT EXISTS idx_drift_metrics_drift_detected
    ON drift_metrics (drift_detected);

CREATE TABLE IF NOT EXISTS finetuning_triggers (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger_timestamp INTEGER NOT NULL,
    job_id            TEXT,
    status            TEXT NOT NULL CHECK (status IN ('success', 'failed')),
    error             TEXT,
    drift_metrics     TEXT,
    check_id          INTEGER REFERENCES drift_metrics (id) ON DELETE SET NULL,
    forced            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_finetuning_triggers_timestamp
    ON finetuning_triggers (trigger_timestamp);
CREATE INDEX IF NOT EXISTS idx_finetuning_triggers_status
    ON finetuning_triggers (status, trigger_timestamp);

CREATE TABLE IF NOT EXISTS embedding_cache (
    row_id     TEXT NOT NULL,
    model      TEXT NOT NULL,
    dim        INTEGER NOT NULL CHECK (dim > 0),
    vector     BLOB NOT NULL,
    created_at INTEGER NOT NULL
        DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    PRIMARY KEY (model, row_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO schema_version (version) VALUES (1);
