-- The first schema: everything the pipeline records, from the raw mail to the reply.
-- Times are ISO-8601 UTC text. JSON columns hold the shapes of src/contract.ts.

-- Every mail exactly as it arrived; one row per Message-ID.
CREATE TABLE messages (
  id            INTEGER PRIMARY KEY,
  message_id    TEXT NOT NULL UNIQUE,       -- without angle brackets; synthetic "listci-<sha256>@synthetic" if absent
  synthetic_id  INTEGER NOT NULL DEFAULT 0,
  raw           BLOB NOT NULL,
  size          INTEGER NOT NULL,
  source        TEXT NOT NULL,              -- "imap:INBOX", "maildir:/path", "mbox:/path"
  received_at   TEXT NOT NULL,
  subject       TEXT,
  from_name     TEXT,
  from_addr     TEXT,
  date          TEXT,                       -- the Date: header, normalised to UTC when parseable
  in_reply_to   TEXT,
  refs          TEXT NOT NULL DEFAULT '[]', -- JSON array, oldest first as in the header
  kind          TEXT NOT NULL DEFAULT 'unclassified',  -- patch | cover | reply | pull | report | other | malformed
  kind_reason   TEXT,
  tags          TEXT NOT NULL DEFAULT '{}', -- JSON: parsed subject tags (version, number, total, prefixes)
  mangled       TEXT,                       -- why the patch looks damaged by the mail client, if it does
  error         TEXT,                       -- why parsing failed, for malformed mail
  own           INTEGER NOT NULL DEFAULT 0  -- sent by listci itself: never processed
);
CREATE INDEX messages_in_reply_to ON messages(in_reply_to);
CREATE INDEX messages_from ON messages(from_addr);
CREATE INDEX messages_kind ON messages(kind);

-- Where each mail source stands, so a restart catches up instead of starting over.
CREATE TABLE mail_sync (
  source        TEXT PRIMARY KEY,           -- "imap:user@host/INBOX"
  uidvalidity   TEXT,
  last_uid      INTEGER NOT NULL DEFAULT 0,
  updated_at    TEXT NOT NULL
);

-- A series is the lineage of versions of one piece of work (same author, same normalised title).
CREATE TABLE series (
  id            INTEGER PRIMARY KEY,
  list          TEXT NOT NULL,
  title         TEXT NOT NULL,              -- normalised: no tags, no "Re:"
  author_name   TEXT,
  author_addr   TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
CREATE INDEX series_author ON series(author_addr);
CREATE INDEX series_title ON series(title);

-- One posting of a series: v1, v2, a RESEND.
CREATE TABLE series_versions (
  id            INTEGER PRIMARY KEY,
  series_id     INTEGER NOT NULL REFERENCES series(id),
  version       INTEGER NOT NULL DEFAULT 1,
  total         INTEGER NOT NULL DEFAULT 1,
  resend        INTEGER NOT NULL DEFAULT 0,
  subject       TEXT NOT NULL,              -- subject of the head mail as sent
  head_message_id TEXT NOT NULL,            -- cover letter, else patch 1
  cover_message_id TEXT,
  tags          TEXT NOT NULL DEFAULT '[]', -- JSON array of prefixes: ["RFC", "for-4.19", "XEN"]
  state         TEXT NOT NULL DEFAULT 'incomplete', -- incomplete | complete | superseded
  missing       TEXT NOT NULL DEFAULT '[]', -- JSON array of patch numbers not seen
  superseded_by INTEGER REFERENCES series_versions(id),
  reuses_version INTEGER REFERENCES series_versions(id), -- a RESEND identical to this one
  first_seen_at TEXT NOT NULL,
  complete_at   TEXT,
  UNIQUE (head_message_id)
);
CREATE INDEX series_versions_series ON series_versions(series_id);
CREATE INDEX series_versions_state ON series_versions(state);

CREATE TABLE patches (
  id            INTEGER PRIMARY KEY,
  version_id    INTEGER NOT NULL REFERENCES series_versions(id),
  message_id    TEXT NOT NULL REFERENCES messages(message_id),
  number        INTEGER NOT NULL,
  total         INTEGER NOT NULL,
  subject       TEXT NOT NULL,
  UNIQUE (version_id, number),
  UNIQUE (message_id)
);

-- One check of one series version against one base (or of a local range, version_id NULL).
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  version_id    INTEGER REFERENCES series_versions(id),
  origin        TEXT NOT NULL DEFAULT 'mail', -- mail | check
  state         TEXT NOT NULL DEFAULT 'queued', -- queued | running | done | cancelled
  verdict       TEXT,                       -- pass | fail | error
  summary       TEXT,
  base_commit   TEXT,
  base_ref      TEXT,
  base_reason   TEXT,
  apply_ok      INTEGER,
  result_json   TEXT,                       -- the CheckResult of src/contract.ts
  mail_received_at   TEXT,                  -- first mail of the series reached listci
  series_complete_at TEXT,
  queued_at     TEXT NOT NULL,
  started_at    TEXT,
  build_started_at   TEXT,
  build_finished_at  TEXT,
  finished_at   TEXT,
  reply_sent_at TEXT
);
CREATE INDEX runs_version ON runs(version_id);
CREATE INDEX runs_state ON runs(state);
CREATE INDEX runs_verdict ON runs(verdict);

-- One toolchain in one run: the baseline build of the base, or the build with the series.
CREATE TABLE builds (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  toolchain     TEXT NOT NULL,
  phase         TEXT NOT NULL,              -- baseline | series
  status        TEXT NOT NULL,              -- pass | fail | error | timeout | skipped
  cached        INTEGER NOT NULL DEFAULT 0,
  duration_ms   INTEGER,
  bot_error     TEXT,
  log_path      TEXT,
  started_at    TEXT,
  finished_at   TEXT
);
CREATE INDEX builds_run ON builds(run_id);
CREATE INDEX builds_toolchain ON builds(toolchain, status);

-- What a build found: duplicate symbols, file-name collisions, errors; new or pre-existing.
CREATE TABLE findings (
  id            INTEGER PRIMARY KEY,
  build_id      INTEGER NOT NULL REFERENCES builds(id),
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  kind          TEXT NOT NULL,              -- duplicate-symbol | file-collision | compiler-error | compiler-warning | linker | kconfig | make | duplicate-check
  status        TEXT NOT NULL,              -- new | preexisting
  symbol        TEXT,                       -- Xen's key for duplicates
  objects       TEXT NOT NULL DEFAULT '[]', -- JSON array
  file          TEXT,
  line          INTEGER,
  message       TEXT NOT NULL
);
CREATE INDEX findings_symbol ON findings(symbol);
CREATE INDEX findings_run ON findings(run_id);

-- The durable outbox: a reply is recorded before it is sent and marked sent once.
CREATE TABLE replies (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL UNIQUE REFERENCES runs(id),
  message_id    TEXT NOT NULL UNIQUE,
  recipients    TEXT NOT NULL,              -- JSON {to: [], cc: []}
  subject       TEXT NOT NULL,
  raw           BLOB NOT NULL,
  state         TEXT NOT NULL,              -- pending | sent | dry-run | suppressed | failed
  reason        TEXT,                       -- why suppressed (policy, rate limit, opt-out)
  attempts      INTEGER NOT NULL DEFAULT 0,
  last_error    TEXT,
  next_attempt_at TEXT,
  created_at    TEXT NOT NULL,
  sent_at       TEXT
);
CREATE INDEX replies_state ON replies(state);

-- The daemon's durable job queue: a job survives restarts and runs once.
CREATE TABLE jobs (
  id            INTEGER PRIMARY KEY,
  kind          TEXT NOT NULL,              -- check | reply
  ref_id        INTEGER NOT NULL,           -- runs.id or replies.id
  state         TEXT NOT NULL DEFAULT 'queued', -- queued | running | done | failed | cancelled
  attempts      INTEGER NOT NULL DEFAULT 0,
  run_after     TEXT NOT NULL,
  locked_at     TEXT,
  last_error    TEXT,
  created_at    TEXT NOT NULL,
  UNIQUE (kind, ref_id)
);
CREATE INDEX jobs_ready ON jobs(state, run_after);
