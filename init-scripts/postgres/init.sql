-- driftmon schema for PostgreSQL (schema version 1).
--
-- The one source of truth for the PostgreSQL DDL: this file is compiled
-- into driftmon (src/store/meson.build) and applied by `driftmon migrate`
-- and at start, and it can be mounted as a docker-entrypoint-initdb.d
-- script.  Idempotent: every statement is CREATE ... IF NOT EXISTS or an
-- insert that ignores duplicates.  Columns are documented in
-- docs/store.md.  Instants are TIMESTAMPTZ (UTC).

CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The assistant's feedback log (its name and columns are configurable;
-- this is the default table for deployments where driftmon owns it).
CREATE TABLE IF NOT EXISTS feedback (
    id         TEXT PRIMARY KEY,
    query      TEXT NOT NULL,
    response   TEXT NOT NULL,
    intent     TEXT,
    positive   BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- Covering index: window aggregates are index-only scans.
CREATE INDEX IF NOT EXISTS idx_feedback_created_at
    ON feedback (created_at) INCLUDE (intent, positive);

CREATE TABLE IF NOT EXISTS drift_metrics (
    id                BIGSERIAL PRIMARY KEY,
    "timestamp"       TIMESTAMPTZ NOT NULL DEFAULT now(),
    status            TEXT NOT NULL DEFAULT 'ok'
        CHECK (status IN ('ok', 'insufficient_data', 'failed')),
    error             TEXT,
    baseline_start    TIMESTAMPTZ,
    baseline_end      TIMESTAMPTZ,
    current_start     TIMESTAMPTZ,
    current_end       TIMESTAMPTZ,
    baseline_count    BIGINT,
    current_count     BIGINT,
    baseline_sampled  BIGINT,
    current_sampled   BIGINT,
    model_fingerprint TEXT,
    kl_divergence     DOUBLE PRECISION,
    kl_excess         DOUBLE PRECISION,
    kl_p_value        DOUBLE PRECISION,
    kl_max            DOUBLE PRECISION,
    kl_top_dims       TEXT,
    psi               DOUBLE PRECISION,
    psi_p_value       DOUBLE PRECISION,
    psi_method        TEXT,
    baseline_accuracy DOUBLE PRECISION,
    current_accuracy  DOUBLE PRECISION,
    accuracy_delta    DOUBLE PRECISION,
    accuracy_p_value  DOUBLE PRECISION,
    combined_score    DOUBLE PRECISION,
    severity          TEXT NOT NULL DEFAULT 'none'
        CHECK (severity IN ('none', 'info', 'warning', 'critical')),
    drift_detected    BOOLEAN NOT NULL DEFAULT FALSE,
    kl_fired          BOOLEAN NOT NULL DEFAULT FALSE,
    psi_fired         BOOLEAN NOT NULL DEFAULT FALSE,
    accuracy_fired    BOOLEAN NOT NULL DEFAULT FALSE,
    kl_threshold      DOUBLE PRECISION,
    psi_threshold     DOUBLE PRECISION,
    accuracy_min      DOUBLE PRECISION,
    alpha             DOUBLE PRECISION,
    permutations      BIGINT,
    kl_estimator      TEXT,
    alert_status      TEXT,
    alert_error       TEXT,
    details           JSONB
);
CREATE INDEX IF NOT EXISTS idx_drift_metrics_timestamp
    ON drift_metrics ("timestamp");
CREATE INDEX IF NOT EXISTS idx_drift_metrics_severity
    ON drift_metrics (severity);
CREATE INDEX IF NOT EXISTS idx_drift_metrics_drift_detected
    ON drift_metrics (drift_detected);

CREATE TABLE IF NOT EXISTS finetuning_triggers (
    id                BIGSERIAL PRIMARY KEY,
    trigger_timestamp TIMESTAMPTZ NOT NULL DEFAULT now(),
    job_id            TEXT,
    status            TEXT NOT NULL CHECK (status IN ('success', 'failed')),
    error             TEXT,
    drift_metrics     JSONB,
    check_id          BIGINT REFERENCES drift_metrics (id) ON DELETE SET NULL,
    forced            BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS idx_finetuning_triggers_timestamp
    ON finetuning_triggers (trigger_timestamp);
CREATE INDEX IF NOT EXISTS idx_finetuning_triggers_status
    ON finetuning_triggers (status, trigger_timestamp);

-- Embedding cache: one vector per (feedback row, model fingerprint),
-- little-endian float32.
CREATE TABLE IF NOT EXISTS embedding_cache (
    row_id     TEXT NOT NULL,
    model      TEXT NOT NULL,
    dim        INTEGER NOT NULL CHECK (dim > 0),
    vector     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (model, row_id)
);

INSERT INTO schema_version (version) VALUES (1) ON CONFLICT DO NOTHING;
