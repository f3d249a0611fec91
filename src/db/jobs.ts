import type { Database } from 'better-sqlite3';
import { backoffDelay } from '../backoff.ts';
import { now } from './open.ts';
import { int, oneOf, raw, text, textOrNull, type Raw } from './row.ts';
import { stmt } from './stmt.ts';

// The daemon's durable job queue. A job is a row; claiming it is one UPDATE in a
// transaction, so two loops (or a restarted daemon) never run the same job twice.
// A check job's run moves with it: the transitions that move both are in runs.ts.

export const JOB_KINDS = ['check'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface Job {
  id: number;
  kind: JobKind;
  ref_id: number;
  state: JobState;
  attempts: number;
  run_after: string;
  locked_at: string | null;
  last_error: string | null;
  created_at: string;
}

export function toJob(row: unknown): Job {
  const r: Raw = raw(row, 'jobs');
  return {
    id: int(r, 'id'),
    kind: oneOf(r, 'kind', JOB_KINDS),
    ref_id: int(r, 'ref_id'),
    state: oneOf(r, 'state', JOB_STATES),
    attempts: int(r, 'attempts'),
    run_after: text(r, 'run_after'),
    locked_at: textOrNull(r, 'locked_at'),
    last_error: textOrNull(r, 'last_error'),
    created_at: text(r, 'created_at'),
  };
}

/** Enqueues once per (kind, ref): a second enqueue of the same work is a no-op. */
export function enqueue(db: Database, kind: JobKind, refId: number, runAfter: Date = new Date()): number {
  stmt(
    db,
    `INSERT INTO jobs (kind, ref_id, state, run_after, created_at) VALUES (?, ?, 'queued', ?, ?)
     ON CONFLICT(kind, ref_id) DO NOTHING`,
  ).run(kind, refId, runAfter.toISOString(), now());
  return int(
    raw(stmt(db, 'SELECT id FROM jobs WHERE kind = ? AND ref_id = ?').get(kind, refId), 'jobs'),
    'id',
  );
}

/** Takes the oldest ready job of the given kinds, or null. */
export function claim(db: Database, kinds: readonly JobKind[], at: Date = new Date()): Job | null {
  const placeholders = kinds.map(() => '?').join(', ');
  return db
    .transaction(() => {
      const row = stmt(
        db,
        `SELECT * FROM jobs WHERE state = 'queued' AND kind IN (${placeholders}) AND run_after <= ?
         ORDER BY run_after, id LIMIT 1`,
      ).get(...kinds, at.toISOString());
      if (row === undefined) return null;
      const job = toJob(row);
      stmt(db, `UPDATE jobs SET state = 'running', locked_at = ?, attempts = attempts + 1 WHERE id = ?`).run(
        now(),
        job.id,
      );
      return { ...job, state: 'running' as const, attempts: job.attempts + 1 };
    })
    .immediate();
}

export function complete(db: Database, id: number): void {
  stmt(db, `UPDATE jobs SET state = 'done', locked_at = NULL WHERE id = ? AND state = 'running'`).run(id);
}

/** The check job of a run, moved by the run's transitions; null for a run without one (`listci check`). */
export function checkJobOf(db: Database, runId: number): Job | null {
  const row = stmt(db, `SELECT * FROM jobs WHERE kind = 'check' AND ref_id = ?`).get(runId);
  return row === undefined ? null : toJob(row);
}

export interface FailOptions {
  maxAttempts?: number;
  baseDelayMs?: number;
}

/**
 * A failed attempt goes back to the queue with exponential backoff until maxAttempts.
 * Returns whether that was the last attempt (the job is failed for good).
 */
export function fail(db: Database, id: number, error: string, opts: FailOptions = {}): boolean {
  const row = stmt(db, 'SELECT attempts FROM jobs WHERE id = ?').get(id);
  if (row === undefined) return false;
  const attempts = int(raw(row, 'jobs'), 'attempts');
  if (attempts >= (opts.maxAttempts ?? 3)) {
    failForGood(db, id, error);
    return true;
  }
  const delay = backoffDelay(attempts, { baseMs: opts.baseDelayMs ?? 30_000, maxMs: Infinity });
  stmt(
    db,
    `UPDATE jobs SET state = 'queued', locked_at = NULL, last_error = ?, run_after = ? WHERE id = ?`,
  ).run(error, new Date(Date.now() + delay).toISOString(), id);
  return false;
}

export function failForGood(db: Database, id: number, error: string): void {
  stmt(db, `UPDATE jobs SET state = 'failed', locked_at = NULL, last_error = ? WHERE id = ?`).run(error, id);
}

/**
 * A job stopped by listci itself (SIGTERM) goes back as it was: the attempt it was on
 * was not the job's fault and does not count towards maxAttempts.
 */
export function requeueUncounted(db: Database, id: number): void {
  stmt(db, `UPDATE jobs SET state = 'queued', locked_at = NULL, attempts = attempts - 1 WHERE id = ?`).run(
    id,
  );
}

/** Pending work for superseded series versions is dropped, not run. */
export function cancel(db: Database, kind: JobKind, refId: number): boolean {
  return (
    stmt(
      db,
      `UPDATE jobs SET state = 'cancelled', locked_at = NULL WHERE kind = ? AND ref_id = ? AND state IN ('queued')`,
    ).run(kind, refId).changes === 1
  );
}

/**
 * At start-up: jobs left 'running' by a crash go back to the queue to be resumed. Their
 * attempt still counts, and one that has had maxAttempts is failed instead: a check that
 * crashes the daemon every time must end, not be retried at every start.
 */
export function recoverInterrupted(
  db: Database,
  opts: { maxAttempts?: number } = {},
): { resumed: number; failed: number } {
  const max = opts.maxAttempts ?? 3;
  return db.transaction(() => {
    const failed = stmt(
      db,
      `UPDATE jobs SET state = 'failed', locked_at = NULL,
           last_error = 'interrupted by a crash ' || attempts || ' times (the daemon stopped during the check each time)'
         WHERE state = 'running' AND attempts >= ?`,
    ).run(max).changes;
    const resumed = stmt(
      db,
      `UPDATE jobs SET state = 'queued', locked_at = NULL, last_error = 'interrupted (daemon stopped)' WHERE state = 'running'`,
    ).run().changes;
    return { resumed, failed };
  })();
}

/**
 * Failed checks whose run was never recorded: recoverInterrupted failed them, and their
 * run is still owed listci's error.
 */
export function failedUnrecorded(db: Database): { runId: number; error: string }[] {
  return stmt(
    db,
    `SELECT j.ref_id AS runId, coalesce(j.last_error, 'the check failed') AS error
         FROM jobs j JOIN runs r ON r.id = j.ref_id
        WHERE j.kind = 'check' AND j.state = 'failed' AND r.state != 'done' ORDER BY j.id`,
  )
    .all()
    .map((row) => {
      const r = raw(row, 'jobs');
      return { runId: int(r, 'runId'), error: text(r, 'error') };
    });
}

export function queueDepth(db: Database): Record<JobKind, number> {
  const out: Record<JobKind, number> = { check: 0 };
  for (const c of depthByState(db)) out[c.kind] += c.n;
  return out;
}

/** Waiting and running jobs per kind and state, for the metrics. */
export function depthByState(db: Database): { kind: JobKind; state: JobState; n: number }[] {
  return stmt(
    db,
    `SELECT kind, state, count(*) AS n FROM jobs WHERE state IN ('queued', 'running') GROUP BY kind, state`,
  )
    .all()
    .map((row) => {
      const r = raw(row, 'jobs');
      return { kind: oneOf(r, 'kind', JOB_KINDS), state: oneOf(r, 'state', JOB_STATES), n: int(r, 'n') };
    });
}

/** A job of this kind could be claimed now: what a warm-up asks before each toolchain. */
export function hasReadyJob(db: Database, kind: JobKind, at: Date = new Date()): boolean {
  return (
    stmt(db, `SELECT 1 FROM jobs WHERE state = 'queued' AND kind = ? AND run_after <= ? LIMIT 1`).get(
      kind,
      at.toISOString(),
    ) !== undefined
  );
}
