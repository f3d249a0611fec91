-- Build hosts (`listci worker`) as the daemon last saw their heartbeats in Redis, and the
-- jobs in each toolchain's build queue. Only the daemon writes them (queue.type: redis),
-- every few seconds; `listci query workers`, /api/workers and /metrics read them, since the
-- web side reads the database and never Redis.
CREATE TABLE workers (
  name           TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  pid            INTEGER NOT NULL,
  state          TEXT NOT NULL,                -- idle, busy, stopping, stopped, gone (heartbeat expired)
  toolchains     TEXT NOT NULL DEFAULT '[]',   -- JSON: the toolchains whose queues it serves
  images         TEXT NOT NULL DEFAULT '{}',   -- JSON: toolchain -> image (or compiler) it found
  missing        TEXT NOT NULL DEFAULT '{}',   -- JSON: toolchain -> why it does not build it
  current_jobs   TEXT NOT NULL DEFAULT '[]',   -- JSON: job ids it is building
  jobs_done      INTEGER NOT NULL DEFAULT 0,   -- since the worker started
  jobs_failed    INTEGER NOT NULL DEFAULT 0,
  concurrency    INTEGER NOT NULL DEFAULT 1,
  listci_version TEXT NOT NULL,
  started_at     TEXT NOT NULL,
  last_heartbeat TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);

CREATE TABLE build_queues (
  toolchain  TEXT PRIMARY KEY,
  waiting    INTEGER NOT NULL,
  active     INTEGER NOT NULL,
  delayed    INTEGER NOT NULL,
  failed     INTEGER NOT NULL,
  completed  INTEGER NOT NULL,
  updated_at TEXT NOT NULL
);
