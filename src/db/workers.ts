import type { Database } from 'better-sqlite3';
import { now } from './open.ts';
import { int, oneOf, parseJsonArray, raw, text } from './row.ts';
import { stmt } from './stmt.ts';

// Build hosts as the daemon last saw them. The daemon copies their Redis heartbeats here
// (queue.type: redis); the readers (CLI, API, metrics) never talk to Redis.

export const WORKER_ROW_STATES = ['idle', 'busy', 'stopping', 'stopped', 'gone'] as const;
export type WorkerRowState = (typeof WORKER_ROW_STATES)[number];

export interface WorkerRow {
  name: string;
  host: string;
  pid: number;
  state: WorkerRowState;
  toolchains: string[];
  images: Record<string, string>;
  missing: Record<string, string>;
  currentJobs: string[];
  jobsDone: number;
  jobsFailed: number;
  concurrency: number;
  listciVersion: string;
  startedAt: string;
  lastHeartbeat: string;
  updatedAt: string;
}

/** A heartbeat as the daemon read it. */
export type WorkerSeen = Omit<WorkerRow, 'updatedAt' | 'state'> & {
  state: Exclude<WorkerRowState, 'gone'>;
};

function toWorkerRow(row: unknown): WorkerRow {
  const r = raw(row, 'workers');
  return {
    name: text(r, 'name'),
    host: text(r, 'host'),
    pid: int(r, 'pid'),
    state: oneOf(r, 'state', WORKER_ROW_STATES),
    toolchains: parseJsonArray<string>(text(r, 'toolchains')),
    images: jsonRecord(text(r, 'images')),
    missing: jsonRecord(text(r, 'missing')),
    currentJobs: parseJsonArray<string>(text(r, 'current_jobs')),
    jobsDone: int(r, 'jobs_done'),
    jobsFailed: int(r, 'jobs_failed'),
    concurrency: int(r, 'concurrency'),
    listciVersion: text(r, 'listci_version'),
    startedAt: text(r, 'started_at'),
    lastHeartbeat: text(r, 'last_heartbeat'),
    updatedAt: text(r, 'updated_at'),
  };
}

/**
 * One refresh: the workers whose heartbeat is in Redis, and the names whose heartbeat expired
 * (killed, or cut off from Redis), which are marked gone with their last figures kept.
 */
export function recordWorkers(
  db: Database,
  seen: WorkerSeen[],
  expired: { name: string; lastHeartbeat: string }[],
): void {
  const ts = now();
  db.transaction(() => {
    for (const w of seen)
      stmt(
        db,
        `INSERT INTO workers (name, host, pid, state, toolchains, images, missing, current_jobs, jobs_done,
                              jobs_failed, concurrency, listci_version, started_at, last_heartbeat, updated_at)
           VALUES (@name, @host, @pid, @state, @toolchains, @images, @missing, @currentJobs, @jobsDone,
                   @jobsFailed, @concurrency, @listciVersion, @startedAt, @lastHeartbeat, @ts)
         ON CONFLICT(name) DO UPDATE SET host = excluded.host, pid = excluded.pid, state = excluded.state,
           toolchains = excluded.toolchains, images = excluded.images, missing = excluded.missing,
           current_jobs = excluded.current_jobs, jobs_done = excluded.jobs_done,
           jobs_failed = excluded.jobs_failed, concurrency = excluded.concurrency,
           listci_version = excluded.listci_version, started_at = excluded.started_at,
           last_heartbeat = excluded.last_heartbeat, updated_at = excluded.updated_at`,
      ).run({
        ...w,
        toolchains: JSON.stringify(w.toolchains),
        images: JSON.stringify(w.images),
        missing: JSON.stringify(w.missing),
        currentJobs: JSON.stringify(w.currentJobs),
        ts,
      });
    // A worker that stopped cleanly said so; one that just fell silent is gone.
    for (const e of expired)
      stmt(
        db,
        `UPDATE workers SET state = CASE WHEN state = 'stopped' THEN 'stopped' ELSE 'gone' END,
                current_jobs = '[]', last_heartbeat = max(last_heartbeat, ?), updated_at = ?
          WHERE name = ? AND state != 'gone'`,
      ).run(e.lastHeartbeat, ts, e.name);
  })();
}

/** Every worker ever recorded, the ones heard from most recently first. */
export function listWorkers(db: Database): WorkerRow[] {
  return stmt(db, 'SELECT * FROM workers ORDER BY last_heartbeat DESC, name').all().map(toWorkerRow);
}

function jsonRecord(s: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    return Object.fromEntries(
      Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  } catch {
    return {};
  }
}
