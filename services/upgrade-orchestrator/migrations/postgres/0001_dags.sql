-- Integers are BIGINT (booleans 0/1) so that one sqlx Any implementation
-- decodes the same types from PostgreSQL and SQLite.
-- Clusters obup manages. One row today (the configured cluster); the id is
-- on every DAG so that managing several clusters is an extension.
-- `maintenance_dag_id` is obshell's global maintenance lock: set while an
-- upgrade DAG owns the cluster.
CREATE TABLE cluster (
    id                 TEXT PRIMARY KEY,
    maintenance_dag_id BIGINT
);

CREATE TABLE dag (
    id            BIGSERIAL PRIMARY KEY,
    cluster_id    TEXT NOT NULL REFERENCES cluster (id),
    name          TEXT NOT NULL,
    maintenance   BIGINT NOT NULL,
    state         TEXT NOT NULL,
    operator      TEXT NOT NULL,
    stage         BIGINT NOT NULL,
    finished      BIGINT NOT NULL,
    params        TEXT NOT NULL,
    -- Sequence number of the DAG's last event: events are numbered per DAG
    -- under this row's lock, so readers never see a gap close later.
    last_seq      BIGINT NOT NULL,
    start_ms      BIGINT NOT NULL,
    end_ms        BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX dag_unfinished ON dag (finished, id);

CREATE TABLE dag_node (
    id       BIGSERIAL PRIMARY KEY,
    dag_id   BIGINT NOT NULL REFERENCES dag (id),
    stage    BIGINT NOT NULL,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    parallel BIGINT NOT NULL,
    params   TEXT NOT NULL,
    state    TEXT NOT NULL,
    operator TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms   BIGINT NOT NULL
);
CREATE INDEX dag_node_dag ON dag_node (dag_id, stage);

CREATE TABLE sub_task (
    id             BIGSERIAL PRIMARY KEY,
    node_id        BIGINT NOT NULL REFERENCES dag_node (id),
    dag_id         BIGINT NOT NULL REFERENCES dag (id),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    agent          TEXT,
    state          TEXT NOT NULL,
    operator       TEXT NOT NULL,
    execute_times  BIGINT NOT NULL,
    lease_owner    TEXT,
    lease_until_ms BIGINT NOT NULL,
    resume         BIGINT NOT NULL,
    start_ms       BIGINT NOT NULL,
    end_ms         BIGINT NOT NULL
);
CREATE INDEX sub_task_dag ON sub_task (dag_id);
CREATE INDEX sub_task_state ON sub_task (state, id);

CREATE TABLE sub_task_log (
    id            BIGSERIAL PRIMARY KEY,
    sub_task_id   BIGINT NOT NULL REFERENCES sub_task (id),
    execute_times BIGINT NOT NULL,
    content       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX sub_task_log_task ON sub_task_log (sub_task_id, id);

-- Every state change and log line, numbered per DAG: WatchDag's source.
CREATE TABLE dag_event (
    dag_id        BIGINT NOT NULL REFERENCES dag (id),
    seq           BIGINT NOT NULL,
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (dag_id, seq)
);
