/**
 * Schema migrations of the SQLite store, applied in order inside one transaction each.
 * Append only: a released migration is never edited.
 */
export const migrations: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'documents, pages, chunks, jobs, bus queue',
    sql: `
      CREATE TABLE teams (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE documents (
        team_id TEXT NOT NULL REFERENCES teams(id),
        id TEXT NOT NULL,
        filename TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        blob_key TEXT NOT NULL,
        status TEXT NOT NULL,
        page_count INTEGER NOT NULL DEFAULT 0,
        chunk_count INTEGER NOT NULL DEFAULT 0,
        classification TEXT,
        type_label TEXT,
        sensitivity_label TEXT,
        fields TEXT NOT NULL DEFAULT '{}',
        model_id TEXT,
        job_id TEXT NOT NULL,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        processed_at INTEGER,
        PRIMARY KEY (team_id, id),
        UNIQUE (team_id, sha256)
      );
      CREATE UNIQUE INDEX documents_id ON documents(id);
      CREATE INDEX documents_team_created ON documents(team_id, created_at DESC, id DESC);
      CREATE INDEX documents_team_status ON documents(team_id, status);
      CREATE TABLE pages (
        team_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        page INTEGER NOT NULL,
        width REAL NOT NULL,
        height REAL NOT NULL,
        text TEXT NOT NULL,
        source TEXT NOT NULL,
        confidence REAL NOT NULL,
        words TEXT NOT NULL,
        PRIMARY KEY (team_id, document_id, page)
      );
      CREATE TABLE chunks (
        team_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        page INTEGER NOT NULL,
        text TEXT NOT NULL,
        start_offset INTEGER NOT NULL,
        end_offset INTEGER NOT NULL,
        boxes TEXT NOT NULL,
        PRIMARY KEY (team_id, document_id, ordinal)
      );
      CREATE TABLE jobs (
        team_id TEXT NOT NULL,
        id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        stage TEXT,
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER NOT NULL DEFAULT 0,
        percent REAL NOT NULL DEFAULT 0,
        eta_ms INTEGER,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER,
        PRIMARY KEY (team_id, id)
      );
      CREATE UNIQUE INDEX jobs_id ON jobs(id);
      CREATE TABLE bus_jobs (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        envelope TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        run_at INTEGER NOT NULL,
        lease_until INTEGER,
        last_error TEXT
      );
      CREATE INDEX bus_jobs_queue_run ON bus_jobs(queue, run_at);
      CREATE TABLE bus_dead_letters (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        envelope TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        dead_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'users, memberships, sessions, invitations, API keys, audit log',
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        email_normalized TEXT NOT NULL UNIQUE,
        name TEXT,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE memberships (
        team_id TEXT NOT NULL REFERENCES teams(id),
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (team_id, user_id)
      );
      CREATE INDEX memberships_user ON memberships(user_id, created_at);
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        rotated_at INTEGER,
        revoked_at INTEGER,
        ip TEXT,
        user_agent TEXT
      );
      CREATE INDEX sessions_family ON sessions(family_id);
      CREATE INDEX sessions_user ON sessions(user_id);
      CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        team_id TEXT NOT NULL REFERENCES teams(id),
        email TEXT,
        role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
        token_hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        accepted_at INTEGER,
        accepted_by TEXT
      );
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        team_id TEXT NOT NULL REFERENCES teams(id),
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at INTEGER
      );
      CREATE INDEX api_keys_team ON api_keys(team_id, created_at);
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        action TEXT NOT NULL,
        team_id TEXT,
        actor_user_id TEXT,
        actor_api_key_id TEXT,
        target_type TEXT,
        target_id TEXT,
        ip TEXT,
        details TEXT
      );
      CREATE INDEX audit_log_team ON audit_log(team_id, id);
      CREATE INDEX audit_log_actor ON audit_log(actor_user_id, id);
    `,
  },
  {
    version: 3,
    name: 'annotations and their per-document operation log',
    sql: `
      CREATE TABLE annotations (
        team_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        anchor TEXT NOT NULL,
        label TEXT,
        comment TEXT,
        replies TEXT NOT NULL,
        resolved INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        created_by TEXT,
        created_at INTEGER NOT NULL,
        updated_by TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (team_id, document_id, id)
      );
      CREATE TABLE annotation_ops (
        team_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        op_id TEXT NOT NULL,
        actor_id TEXT,
        at INTEGER NOT NULL,
        op TEXT NOT NULL,
        annotation TEXT NOT NULL,
        PRIMARY KEY (team_id, document_id, seq),
        UNIQUE (team_id, document_id, op_id)
      );
    `,
  },
  {
    version: 4,
    name: 'labels set by people, document vectors, match rules and matches',
    sql: `
      ALTER TABLE documents ADD COLUMN label_overrides TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE documents ADD COLUMN vector BLOB;
      CREATE TABLE match_rules (
        team_id TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        type_a TEXT NOT NULL,
        type_b TEXT NOT NULL,
        conditions TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (team_id, id)
      );
      CREATE TABLE matches (
        team_id TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        document_a TEXT NOT NULL,
        document_b TEXT NOT NULL,
        rule_id TEXT,
        pair_key TEXT NOT NULL,
        score REAL NOT NULL,
        passages TEXT NOT NULL,
        fields TEXT NOT NULL,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        canonical_document_id TEXT,
        resolved_by TEXT,
        resolved_at INTEGER,
        note TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (team_id, id),
        UNIQUE (team_id, pair_key)
      );
      CREATE INDEX matches_document_a ON matches(team_id, document_a);
      CREATE INDEX matches_document_b ON matches(team_id, document_b);
      CREATE INDEX matches_status ON matches(team_id, status, created_at);
    `,
  },
  {
    version: 5,
    name: 'document list orders and counts: an index per order, ties broken by id; labels with status for counts',
    sql: `
      CREATE INDEX documents_team_name ON documents(team_id, filename COLLATE NOCASE, id);
      CREATE INDEX documents_team_size ON documents(team_id, size, id);
      CREATE INDEX documents_team_type ON documents(team_id, type_label, status);
      CREATE INDEX documents_team_sensitivity ON documents(team_id, sensitivity_label, status);
    `,
  },
  {
    version: 6,
    name: 'dashboard counts: finished jobs, recent annotations and resolved matches by time',
    sql: `
      CREATE INDEX jobs_team_finished ON jobs(team_id, finished_at, status);
      CREATE INDEX annotations_team_created ON annotations(team_id, created_at);
      CREATE INDEX matches_team_resolved ON matches(team_id, resolved_at);
    `,
  },
  {
    version: 7,
    name: 'label sets teams made their own',
    sql: `
      CREATE TABLE team_label_sets (
        team_id TEXT PRIMARY KEY REFERENCES teams(id),
        labels TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
];
