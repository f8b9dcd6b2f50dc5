//! Versioned schema migrations. Each entry is applied once, in order, inside one transaction
//! together with the bump of SQLite's `user_version`; a store newer than this binary is refused.

/// The migrations, oldest first. Never edit a released entry: append a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the object model, tokens, decisions and the audit log.
    r#"
CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE TABLE members (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'operator', 'viewer')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'service_account', 'registration', 'agent')),
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    hash        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TEXT,
    consumed_at TEXT,
    revoked_at  TEXT
);
CREATE INDEX tokens_by_subject ON tokens (org_id, kind, subject);
CREATE TABLE resources (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id  TEXT REFERENCES resources(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL CHECK (json_valid(spec)),
    version     INTEGER NOT NULL CHECK (version > 0),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX resources_by_name ON resources (org_id, kind, ifnull(project_id, ''), name);
CREATE INDEX resources_by_project ON resources (project_id);
CREATE TABLE chart_versions (
    chart_id        TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    version         TEXT NOT NULL,
    app_version     TEXT,
    description     TEXT,
    digest          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    archive         BLOB NOT NULL,
    default_values  TEXT NOT NULL CHECK (json_valid(default_values)),
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    PRIMARY KEY (chart_id, version)
);
CREATE TABLE values_overrides (
    workload_id  TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    environment  TEXT NOT NULL DEFAULT '',
    tenant       TEXT NOT NULL DEFAULT '',
    doc          TEXT NOT NULL CHECK (json_valid(doc)),
    version      INTEGER NOT NULL,
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    PRIMARY KEY (workload_id, environment, tenant)
);
CREATE TABLE decisions (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    action      TEXT NOT NULL,
    decision    TEXT NOT NULL,
    effect      TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX decisions_by_org ON decisions (org_id, created_at);
CREATE TABLE audit_log (
    org_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    decision_id TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE audit_heads (
    org_id      TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL
);
"#,
    // 2: releases, their timeline and approvals, the deployed state, break-glass sessions.
    r#"
CREATE TABLE releases (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT,
    state        TEXT NOT NULL CHECK (state IN ('draft', 'pending_approval', 'approved',
                 'deploying', 'deployed', 'rejected', 'cancelled', 'failed')),
    requester_id TEXT NOT NULL,
    requester    TEXT NOT NULL,
    auto_deploy  INTEGER NOT NULL DEFAULT 0,
    changes      TEXT NOT NULL CHECK (json_valid(changes)),
    targets      TEXT NOT NULL CHECK (json_valid(targets)),
    gate         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(gate)),
    rollback     TEXT NOT NULL DEFAULT 'null' CHECK (json_valid(rollback)),
    promotion    TEXT NOT NULL DEFAULT 'null' CHECK (json_valid(promotion)),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deployed_at  TEXT,
    UNIQUE (project_id, number)
);
CREATE INDEX releases_by_state ON releases (org_id, state);
CREATE TABLE release_events (
    release_id   TEXT NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    event        TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT,
    decision_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(decision_ids)),
    note         TEXT,
    PRIMARY KEY (release_id, seq)
);
CREATE TABLE approvals (
    release_id   TEXT NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    comment      TEXT,
    at           TEXT NOT NULL,
    decision_id  TEXT NOT NULL,
    PRIMARY KEY (release_id, user_id)
);
CREATE TABLE deployed_values (
    workload_id  TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    environment  TEXT NOT NULL DEFAULT '',
    tenant       TEXT NOT NULL DEFAULT '',
    doc          TEXT NOT NULL CHECK (json_valid(doc)),
    release_id   TEXT NOT NULL,
    deployed_at  TEXT NOT NULL,
    PRIMARY KEY (workload_id, environment, tenant)
);
CREATE TABLE breakglass_sessions (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    project       TEXT,
    environment   TEXT,
    workload      TEXT,
    justification TEXT NOT NULL,
    severity      TEXT NOT NULL,
    opened_at     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    closed_at     TEXT,
    close_note    TEXT,
    decision_id   TEXT NOT NULL,
    actions       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(actions))
);
CREATE INDEX breakglass_by_user ON breakglass_sessions (org_id, user_id);
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    notification TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    event        TEXT NOT NULL,
    payload      TEXT NOT NULL CHECK (json_valid(payload)),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX deliveries_due ON deliveries (state, next_at);
CREATE TABLE promotions (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    from_env     TEXT NOT NULL,
    to_env       TEXT NOT NULL,
    batches      TEXT NOT NULL CHECK (json_valid(batches)),
    current      INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL CHECK (state IN ('running', 'paused', 'completed')),
    auto_deploy  INTEGER NOT NULL DEFAULT 0,
    requester    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
"#,
    // v3: the hosted repository's commit a deployed release wrote.
    r#"
ALTER TABLE releases ADD COLUMN commit_sha TEXT;
"#,
    // v4: cluster agents (what each reported last) and the commands sent to them.
    r#"
CREATE TABLE agent_state (
    cluster_id         TEXT PRIMARY KEY REFERENCES resources(id) ON DELETE CASCADE,
    org_id             TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_version      TEXT NOT NULL DEFAULT '',
    capabilities       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(capabilities)),
    allowed_namespaces TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_namespaces)),
    registered_at      TEXT,
    agent_started_at   TEXT,
    connected_at       TEXT,
    disconnected_at    TEXT,
    last_seen_at       TEXT,
    inventory          TEXT CHECK (inventory IS NULL OR json_valid(inventory)),
    inventory_at       TEXT,
    applications       TEXT CHECK (applications IS NULL OR json_valid(applications)),
    applications_at    TEXT,
    drift              TEXT CHECK (drift IS NULL OR json_valid(drift)),
    drift_at           TEXT
);
CREATE TABLE cluster_commands (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    cluster_id   TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('sync', 'rollback', 'restart', 'scale')),
    target       TEXT NOT NULL CHECK (json_valid(target)),
    params       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    reason       TEXT,
    requester_id TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'executing', 'completed', 'failed', 'rejected')),
    approved     INTEGER NOT NULL DEFAULT 0,
    decision_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(decision_ids)),
    spec         TEXT,
    spec_sha256  TEXT,
    expires_at   TEXT NOT NULL,
    output       TEXT,
    created_at   TEXT NOT NULL,
    sent_at      TEXT,
    finished_at  TEXT,
    updated_at   TEXT NOT NULL
);
CREATE INDEX cluster_commands_by_cluster ON cluster_commands (org_id, cluster_id, created_at);
CREATE TABLE signing_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    subject      TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE TABLE command_approvals (
    command_id   TEXT NOT NULL REFERENCES cluster_commands(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    comment      TEXT,
    at           TEXT NOT NULL,
    decision_id  TEXT NOT NULL,
    PRIMARY KEY (command_id, user_id)
);
"#,
];
