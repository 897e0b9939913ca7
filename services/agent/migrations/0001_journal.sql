-- The agent's journal: every operation it holds, from acceptance until the
-- orchestrator forgets it, and its log lines.

CREATE TABLE ops (
    op_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    -- The work item as JSON (never the password).
    work TEXT NOT NULL,
    -- 'running' | 'interrupted' | 'finished'
    state TEXT NOT NULL,
    accepted_at_ms INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    -- How many times the work was started: 1, plus one per continue.
    runs INTEGER NOT NULL,
    -- Progress a continue path reads (JSON, per operation), e.g. the pid a
    -- stop killed and when.
    checkpoint TEXT,
    -- The result as JSON, once finished.
    result TEXT,
    PRIMARY KEY (op_id, attempt)
);

CREATE TABLE op_logs (
    op_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    level TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (op_id, attempt, seq)
);
